/*
 * chan.h - one migration channel: a byte pipe to the peer with timeouts,
 * an interrupt, and byte counters; plus the TCP helpers that make one.
 *
 * A channel moves bytes through a small table of operations (read, write,
 * which fd to poll, close), so that a transport other than a plain fd pair
 * (TLS, or an in-memory pipe in the fuzzers) slots in without touching the
 * frame and session code above it.  The default operations work on an fd
 * pair: one socket for TCP (rfd == wfd), or the two ends of an ssh
 * command's pipes.
 *
 * Every blocking call waits in poll() on the channel's fd and on an
 * eventfd, so xlmig_chan_interrupt() from any thread makes all current and
 * future calls on the channel return XLMIG_E_CANCELLED at once; that is how
 * a cancel or a peer's failure stops threads blocked on the network.  The
 * interrupt is final: an interrupted channel is only good for freeing.
 *
 * Writes are whole (header and payload in one call) under the channel's
 * write lock, so several threads may write frames on one channel.
 */
#ifndef XLMIG_CHAN_H
#define XLMIG_CHAN_H

#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

/* Transport operations.  read/write move up to len bytes and return the
 * count, 0 for end of input (read), or -errno; -EAGAIN means "poll and try
 * again".  pollfd() names the fd to poll for a direction, or -1 when the
 * transport never returns -EAGAIN; pending() says data is already
 * buffered above the fd (TLS records), so a read will not block. */
struct xlmig_chan_ops {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	int (*pollfd)(void *ctx, bool for_write);
	bool (*pending)(void *ctx);
	void (*close)(void *ctx);
	/* Optional: what a negative read/write result means, when the
	 * transport has more to say than strerror (a TLS alert). */
	const char *(*strerror)(void *ctx, int err);
};

#define XLMIG_CHAN_NAME_MAX   256u
#define XLMIG_CHAN_SECRET_LEN 32u

/* What a secure transport (TLS) proved about a channel: who is at each
 * end, and a secret unique to this connection that proofs above it mix in
 * so they are worth nothing on another connection. */
struct xlmig_chan_binding {
	char local[XLMIG_CHAN_NAME_MAX];  /* this host's certificate name */
	char peer[XLMIG_CHAN_NAME_MAX];   /* the peer's certificate name */
	uint8_t peer_fp[32];              /* SHA-256 of the peer's certificate */
	uint8_t secret[XLMIG_CHAN_SECRET_LEN]; /* the connection's exporter value */
	char cipher[40];                  /* the TLS cipher suite's standard name */
	bool ktls_tx, ktls_rx;            /* records sent / received by the kernel */
};

struct xlmig_chan;

/* Wrap a transport; the channel owns ctx and calls ops->close on free.
 * name describes the peer in messages ("10.0.0.2:8002 channel 1"). */
int xlmig_chan_new(const struct xlmig_chan_ops *ops, void *ctx, const char *name,
		   struct xlmig_chan **out);
/* A channel over an fd pair (rfd may equal wfd).  The channel owns the fds:
 * it makes them non-blocking and closes them on free. */
int xlmig_chan_from_fds(int rfd, int wfd, const char *name, struct xlmig_chan **out);
void xlmig_chan_free(struct xlmig_chan *ch);

/* timeout_ms < 0 waits for ever (until interrupted). */
int xlmig_chan_read_full(struct xlmig_chan *ch, void *buf, size_t len, int timeout_ms);
/* 0 when a read would not block (data or end of input is there). */
int xlmig_chan_wait_readable(struct xlmig_chan *ch, int timeout_ms);
/* The same, but nudge_fd becoming readable (an eventfd its owner writes
 * when the waiting thread should look at its flags) ends the wait at
 * once, as the timeout does: XLMIG_E_TIMEOUT.  Unlike an interrupt, a
 * nudge leaves the channel usable. */
int xlmig_chan_wait_readable_or(struct xlmig_chan *ch, int nudge_fd, int timeout_ms);
/* All bytes of all iov entries, atomically with respect to other writers. */
int xlmig_chan_writev(struct xlmig_chan *ch, const struct iovec *iov, int iovcnt,
		      int timeout_ms);
/* No blocking call on ch waits past deadline_ns (xlmig_now_ns() time),
 * whatever its own timeout; 0 lifts the limit.  The destination sets one
 * from accept to authenticated, so a peer that stalls or dribbles bytes
 * through the handshake is dropped then.  Thread-safe. */
void xlmig_chan_set_deadline(struct xlmig_chan *ch, uint64_t deadline_ns);
/* Make every blocking call on ch return XLMIG_E_CANCELLED; thread-safe. */
void xlmig_chan_interrupt(struct xlmig_chan *ch);
bool xlmig_chan_interrupted(const struct xlmig_chan *ch);

const char *xlmig_chan_name(const struct xlmig_chan *ch);
/* The binding of a secure channel (NULL for a plain one); the transport
 * sets it once, before the channel is used. */
const struct xlmig_chan_binding *xlmig_chan_binding(const struct xlmig_chan *ch);
int xlmig_chan_set_binding(struct xlmig_chan *ch, const struct xlmig_chan_binding *b);
uint64_t xlmig_chan_bytes_sent(const struct xlmig_chan *ch);
uint64_t xlmig_chan_bytes_received(const struct xlmig_chan *ch);
/* Bytes written that the peer has not acknowledged yet: still in the
 * socket's send queue or in flight on the link (TCP's SIOCOUTQ), 0 where
 * the transport cannot tell (a pipe).  What a last write still waits for. */
uint64_t xlmig_chan_unacked_bytes(const struct xlmig_chan *ch);

/* ---- TCP ---- */

/* Connect to host:port (name or address, v4 or v6), trying each address
 * until one answers within timeout_ms.  The socket is tuned (below). */
int xlmig_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd);
/* Listen on host:port (host NULL = every address; port "0" = any free
 * port, reported in *bound_port). */
int xlmig_tcp_listen(const char *host, const char *port, int *fd, uint16_t *bound_port);
/* Accept one connection within timeout_ms; peer (may be NULL) gets
 * "address:port". */
int xlmig_tcp_accept(int listen_fd, int timeout_ms, int *fd, char *peer, size_t peer_len);
/* TCP_NODELAY (frames are written whole, Nagle only adds latency) and
 * keepalive probing after 10 s idle, so a vanished peer is noticed in
 * about 25 s rather than hours. */
int xlmig_tcp_tune(int fd);
/* Whether the socket's peer (or its own address) is on the loopback
 * network (127/8, ::1, an IPv4-mapped 127/8, or a unix socket). */
bool xlmig_tcp_peer_is_loopback(int fd);
bool xlmig_tcp_local_is_loopback(int fd);
/* Whether the socket's peer is this very host (its network namespace):
 * on the loopback network, or at the socket's own address. */
bool xlmig_tcp_peer_is_this_host(int fd);
/* Socket addresses: the same IPv4 or IPv6 address (ports aside); the
 * wildcard address (INADDR_ANY, ::); the port (0 for other families). */
struct sockaddr;
bool xlmig_sockaddr_same_address(const struct sockaddr *a, const struct sockaddr *b);
bool xlmig_sockaddr_is_any(const struct sockaddr *sa);
unsigned xlmig_sockaddr_port(const struct sockaddr *sa);

#endif
