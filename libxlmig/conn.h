/*
 * conn.h - a migration session between two hosts: N authenticated
 * channels, the shared bandwidth cap, control messages and side records.
 *
 * The source connects (xlmig_conn_connect): the first TCP connection runs
 * the handshake (handshake.h), then one connection per further granted
 * channel JOINs the session.  The destination reads the first message of
 * every accepted connection (xlmig_incoming_read) and either starts a new
 * session with it (xlmig_conn_accept) or, for a JOIN, finds the session by
 * xlmig_incoming_session_id() and attaches the channel (xlmig_conn_join);
 * xlmig_conn_listen_accept() does all of that for a single session on a
 * listening socket.  xlmig_conn_over_fds() makes a one-channel session
 * over an existing fd pair (the `-s SSHCOMMAND` transport), and
 * xlmig_conn_with_self() one over a socketpair within one process (a
 * daemon migrating a guest to itself).
 *
 * Channel 0 also carries what is outside the page stream: CTRL messages of
 * the commit protocol (both directions), SIDE records (source to
 * destination, handed to the side handler as they arrive), and ERROR /
 * ABORT.  CTRL messages that arrive while a transfer owns channel 0 are
 * kept, in order, for the next xlmig_conn_recv_ctrl().  Only one thread
 * reads a session at a time: the transfer while it runs, the caller of
 * xlmig_conn_recv_ctrl() otherwise.  Sending is thread-safe.
 *
 * Channels over TCP are TLS 1.3 (opts.tls), the hosts authenticated by
 * their certificates; a pre-shared key is an additional check bound to
 * the TLS connections (handshake.h).  A plain session exists only when
 * asked for explicitly (opts.insecure): over TCP on loopback only, or on
 * transports that authenticate the peer themselves (ssh).
 */
#ifndef XLMIG_CONN_H
#define XLMIG_CONN_H

#include "auth.h"
#include "chan.h"
#include "common.h"
#include "handshake.h"
#include "ratelimit.h"
#include "wire.h"

struct xlmig_tls;

struct xlmig_conn_opts {
	unsigned channels;          /* wanted (source), default 4 */
	unsigned max_channels;      /* most granted (destination), default 8 */
	bool compress;              /* zstd on stream and pages, default on */
	bool raw_to_this_host;      /* but no zstd or deltas when the peer is this very
				     * host (a localhost migration's pages
				     * cross no wire); default off */
	int zstd_level;             /* 0 = codec default */
	uint64_t cache_bytes;       /* delta cache wanted / most granted */
	uint64_t bandwidth;         /* bytes/s over all channels, 0 = no cap */
	int timeout_ms;             /* connect and each handshake read, 10 s */
	int io_timeout_ms;          /* a stalled frame or send, 60 s */
	struct xlmig_tls *tls;      /* this host's identity: TCP channels are
				     * TLS 1.3 (tls.h); NULL = none */
	bool insecure;              /* without TLS: plain TCP channels, on
				     * loopback only, and no key needed; for
				     * self-authenticating transports (ssh)
				     * and tests; never the default */
	uint16_t min_version, max_version; /* protocol range, default this build's */
};
void xlmig_conn_opts_default(struct xlmig_conn_opts *o);

/* Side record handler (destination); nonzero return fails the transfer.
 * It runs on the thread reading channel 0: the transfer's reader thread
 * while a transfer runs, the caller of xlmig_conn_recv_ctrl() otherwise. */
typedef int (*xlmig_side_fn)(void *opaque, uint32_t type, const uint8_t *data, size_t len);

struct xlmig_conn;
struct xlmig_incoming;

/* ---- source ---- */

/* key (the pre-shared key, an additional check) may be NULL with
 * opts->tls or opts->insecure. */
int xlmig_conn_connect(const char *host, const char *port, const struct xlmig_conn_opts *o,
		       const struct xlmig_key *key, struct xlmig_conn **out);
/* One channel over rfd/wfd (owned from now on); server picks the role. */
int xlmig_conn_over_fds(int rfd, int wfd, bool server, const struct xlmig_conn_opts *o,
			const struct xlmig_key *key, struct xlmig_conn **out);

/* A session of this process with itself (a localhost migration within
 * one xlmigd): one channel over fd, an end of a socketpair (owned from
 * now on), whose other end the destination serves (server true).  Plain:
 * the kernel joined the ends, so the peer is this process; no TLS, no
 * key, and the source offers no zstd or deltas when o->raw_to_this_host. */
int xlmig_conn_with_self(int fd, bool server, const struct xlmig_conn_opts *o,
			 struct xlmig_conn **out);

/* ---- destination ---- */

/* Take fd (an accepted connection, owned from now on), run TLS on it (or
 * check that a plain one is allowed, o->insecure) and read its first
 * message, all within timeout_ms.  The channel keeps that deadline until
 * it is authenticated (xlmig_conn_accept or xlmig_conn_join): a peer
 * that stalls or dribbles bytes anywhere in the handshake is dropped
 * timeout_ms after the call, however each read's own timeout runs. */
int xlmig_incoming_read(int fd, const char *peer, const struct xlmig_conn_opts *o,
			int timeout_ms, struct xlmig_incoming **out);
bool xlmig_incoming_is_join(const struct xlmig_incoming *in);
const uint8_t *xlmig_incoming_session_id(const struct xlmig_incoming *in);
void xlmig_incoming_free(struct xlmig_incoming *in);
/* A new session from a HELLO; consumes in (success or not). */
int xlmig_conn_accept(struct xlmig_incoming *in, const struct xlmig_conn_opts *o,
		      const struct xlmig_key *key, struct xlmig_conn **out);
/* Attach a JOIN to c; consumes in.  Refused (AUTH) for another session,
 * a wrong proof, or a channel already attached. */
int xlmig_conn_join(struct xlmig_conn *c, struct xlmig_incoming *in);
/* Wait until every granted channel has joined. */
int xlmig_conn_wait_channels(struct xlmig_conn *c, int timeout_ms);
/* Accept one whole session on a listening socket: the HELLO connection,
 * then its JOINs (other connections meanwhile are refused). */
int xlmig_conn_listen_accept(int listen_fd, const struct xlmig_conn_opts *o,
			     const struct xlmig_key *key, struct xlmig_conn **out);

/* ---- both ---- */

void xlmig_conn_close(struct xlmig_conn *c);
const struct xlmig_handshake_session *xlmig_conn_session(const struct xlmig_conn *c);
/* How the channels go: "tls", "plain" (insecure TCP), "fds" (an fd
 * pair: ssh, a pipe) or "in-process" (xlmig_conn_with_self). */
const char *xlmig_conn_transport(const struct xlmig_conn *c);
/* Made by xlmig_conn_with_self: both ends are this process. */
bool xlmig_conn_in_process(const struct xlmig_conn *c);
const struct xlmig_conn_opts *xlmig_conn_opts(const struct xlmig_conn *c);
unsigned xlmig_conn_channels(const struct xlmig_conn *c);
bool xlmig_conn_is_server(const struct xlmig_conn *c);
/* "source" or "destination": what the other end is, for messages. */
const char *xlmig_conn_peer_role(const struct xlmig_conn *c);
/* Bytes sent and received on all channels so far (live). */
uint64_t xlmig_conn_wire_bytes(const struct xlmig_conn *c);
void xlmig_conn_set_bandwidth(struct xlmig_conn *c, uint64_t bytes_per_sec);

int xlmig_conn_send_ctrl(struct xlmig_conn *c, uint32_t type, const void *data, size_t len,
			 int timeout_ms);
/* Next CTRL message (its bytes replace data's); SIDE records arriving
 * meanwhile go to the side handler; a peer's ERROR/ABORT is returned as
 * an error. */
int xlmig_conn_recv_ctrl(struct xlmig_conn *c, uint32_t *type, struct xlmig_buf *data,
			 int timeout_ms);
int xlmig_conn_send_side(struct xlmig_conn *c, uint32_t type, const void *data, size_t len);
void xlmig_conn_set_side_handler(struct xlmig_conn *c, xlmig_side_fn fn, void *opaque);
/* Tell the peer this side failed (code < 0) or was cancelled
 * (XLMIG_E_CANCELLED), best effort, with this thread's message. */
void xlmig_conn_report_failure(struct xlmig_conn *c, int code);
/* The peer said it failed or cancelled (an ERROR/ABORT frame), as
 * opposed to the session breaking or timing out. */
bool xlmig_conn_peer_failed(const struct xlmig_conn *c);
/* Destination: tell the source how much of the stream the restore has
 * taken (a PROGRESS frame; nothing when the session lacks
 * XLMIG_FEAT_PROGRESS).  Source: the latest such figure, and whether the
 * destination reports at all. */
int xlmig_conn_send_progress(struct xlmig_conn *c, uint64_t stream_bytes, int timeout_ms);
uint64_t xlmig_conn_peer_progress(const struct xlmig_conn *c);
bool xlmig_conn_has_progress(const struct xlmig_conn *c);
/* Wake every thread blocked on the session; the session is then dead. */
void xlmig_conn_interrupt(struct xlmig_conn *c);

/* ---- for the transfer (xfer.h) ---- */

struct xlmig_chan *xlmig_conn_chan(struct xlmig_conn *c, unsigned i);
struct xlmig_ratelimit *xlmig_conn_ratelimit(struct xlmig_conn *c);
/* Handle a frame outside the stream read on channel 0 (SIDE, CTRL,
 * ERROR, ABORT); anything else is a protocol error. */
int xlmig_conn_dispatch(struct xlmig_conn *c, const struct xlmig_frame *f);

#endif
