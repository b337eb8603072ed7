/*
 * conn.c - sessions: connecting, accepting and joining channels; control
 * messages and side records on channel 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec.h"
#include "conn.h"
#include "fault.h"
#include "tls.h"

#define INBOX_MAX 32u

struct ctrl_msg {
	uint32_t type;
	struct xlmig_buf data;
};

struct xlmig_conn {
	struct xlmig_handshake_session sess;
	struct xlmig_conn_opts opts;
	struct xlmig_key *key;    /* a copy, in the secure heap (auth.h) */
	bool server;
	bool in_process;                /* xlmig_conn_with_self() */
	const char *transport;          /* xlmig_conn_transport() */
	char peer[80];

	pthread_mutex_t lock;           /* channels and inbox */
	pthread_cond_t joined;
	struct xlmig_chan *ch[XLMIG_MAX_CHANNELS];
	unsigned attached;
	uint32_t reserved;              /* bit i: channel i taken or joining */

	struct xlmig_ratelimit *rl;
	struct ctrl_msg inbox[INBOX_MAX];
	unsigned inbox_head, inbox_count;
	xlmig_side_fn side_fn;
	void *side_opaque;
	int peer_failed;                /* an ERROR/ABORT frame came (atomic) */
	uint64_t peer_progress;         /* the latest PROGRESS (atomic) */
};

struct xlmig_incoming {
	struct xlmig_chan *ch;
	struct xlmig_handshake_first first;
	char peer[80];
};

void xlmig_conn_opts_default(struct xlmig_conn_opts *o)
{
	*o = (struct xlmig_conn_opts){
		.channels = 4,
		.max_channels = 8,
		.compress = true,
		.cache_bytes = XLMIG_CODEC_DEFAULT_CACHE,
		.timeout_ms = XLMIG_FAULT_MS(10000),
		.io_timeout_ms = XLMIG_FAULT_MS(60000),
		.min_version = XLMIG_PROTO_MIN,
		.max_version = XLMIG_PROTO_MAX,
	};
}

static void offer_from_opts(const struct xlmig_conn_opts *o, bool server,
			    struct xlmig_handshake_offer *offer)
{
	xlmig_handshake_offer_default(offer);
	offer->min_version = o->min_version;
	offer->max_version = o->max_version;
	offer->channels = XLMIG_MIN(XLMIG_MAX(server ? o->max_channels : o->channels, 1u),
				    XLMIG_MAX_CHANNELS);
	offer->cache_bytes = o->cache_bytes;
	if (!o->compress)
		offer->features &= ~(uint32_t)XLMIG_FEAT_ZSTD;
	if (!o->cache_bytes)
		offer->features &= ~(uint32_t)(XLMIG_FEAT_DELTA | XLMIG_FEAT_DELTA_RESENT);
	if (offer->channels == 1)
		offer->features &= ~(uint32_t)XLMIG_FEAT_MULTICHAN;
}

/* The pre-shared key this side also proves with: optional where TLS
 * authenticates the hosts, required on a plain transport unless it is
 * explicitly insecure. */
static int pick_key(const struct xlmig_conn_opts *o, const struct xlmig_key *key,
		    const struct xlmig_key **out)
{
	*out = key;
	if (key || o->tls || o->insecure)
		return XLMIG_OK;
	return xlmig_fail(XLMIG_E_AUTH,
			  "no host certificate and no migration key configured: create them with "
			  "xlmig setup-tls (or xlmigd --gen-key FILE on both hosts)");
}

/* A plain TCP channel is only for the loopback network, and only when
 * asked for: nothing else would protect what crosses it. */
static int check_plain(const struct xlmig_conn_opts *o, int fd, const char *peer)
{
	if (!o->insecure)
		return xlmig_fail(XLMIG_E_AUTH, "%s: no TLS identity on this host: create one with "
				  "xlmig setup-tls (plain channels need --insecure, on loopback only)",
				  peer);
	if (!xlmig_tcp_peer_is_loopback(fd))
		return xlmig_fail(XLMIG_E_AUTH, "%s: plain (--insecure) channels are refused "
				  "beyond the loopback network: configure TLS (xlmig setup-tls)", peer);
	return XLMIG_OK;
}

/* Make a channel of a connected socket (owned from now on): TLS when this
 * host has an identity, else plain where that is allowed.  host is the
 * name dialled (client) or NULL (server). */
static int secure_channel(const struct xlmig_conn_opts *o, int fd, const char *host,
			  const char *name, struct xlmig_chan **out)
{
	int rc;

	if (o->tls && host)
		return xlmig_tls_client(o->tls, fd, host, name, o->timeout_ms, out);
	if (o->tls)
		return xlmig_tls_server(o->tls, fd, name, o->timeout_ms, out);
	rc = check_plain(o, fd, name);
	if (rc == XLMIG_OK)
		rc = xlmig_chan_from_fds(fd, fd, name, out);
	if (rc != XLMIG_OK)
		close(fd);
	return rc;
}

static int conn_new(const struct xlmig_conn_opts *o, const struct xlmig_key *key,
		    bool server, const char *peer, struct xlmig_conn **out)
{
	struct xlmig_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a session");
	c->opts = *o;
	c->server = server;
	if (key) {
		c->key = xlmig_key_new();
		if (!c->key) {
			free(c);
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a session");
		}
		*c->key = *key;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->transport = o->tls ? "tls" : "plain";
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->joined, NULL);
	rc = xlmig_ratelimit_new(o->bandwidth, 0, &c->rl);
	if (rc != XLMIG_OK) {
		xlmig_conn_close(c);
		return rc;
	}
	*out = c;
	return XLMIG_OK;
}

static const struct xlmig_key *conn_key(const struct xlmig_conn *c)
{
	return c->key;
}

/* An authenticated channel joins the session: the deadline it had from
 * accept (xlmig_incoming_read) no longer applies. */
static void attach(struct xlmig_conn *c, unsigned index, struct xlmig_chan *ch)
{
	xlmig_chan_set_deadline(ch, 0);
	pthread_mutex_lock(&c->lock);
	c->ch[index] = ch;
	c->reserved |= 1u << index;
	c->attached++;
	pthread_cond_broadcast(&c->joined);
	pthread_mutex_unlock(&c->lock);
}

void xlmig_conn_close(struct xlmig_conn *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < XLMIG_MAX_CHANNELS; i++)
		xlmig_chan_free(c->ch[i]);
	for (unsigned i = 0; i < INBOX_MAX; i++)
		xlmig_buf_free(&c->inbox[i].data);
	xlmig_ratelimit_free(c->rl);
	xlmig_key_free(c->key);
	pthread_cond_destroy(&c->joined);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- source ---- */

/* Dial one channel; same_host (may be NULL) tells whether the peer is
 * this very host. */
static int dial_channel(const char *host, const char *port, const struct xlmig_conn_opts *o,
			unsigned index, struct xlmig_chan **out, bool *same_host)
{
	char name[96];
	int fd, rc;

	snprintf(name, sizeof(name), "%s port %s channel %u", host, port, index);
	rc = xlmig_tcp_connect(host, port, o->timeout_ms, &fd);
	if (rc != XLMIG_OK)
		return rc;
	if (same_host)
		*same_host = xlmig_tcp_peer_is_this_host(fd);
	return secure_channel(o, fd, host, name, out);
}

/* A migration to this very host (localhost) moves pages from one part of
 * its memory to another: no byte crosses a wire, and compressing them or
 * coding deltas would only spend, on both ends, the CPU the two share.
 * Pages go raw, zero pages still elided (a localhost move of a 128 MiB
 * guest on a one-vCPU Xen host spent 9 % of its time in zstd, and 5-7 %
 * in the two delta caches: each page copied into both, each fresh page
 * of them a fault, a hypercall in a PV dom0). */
static void offer_for_this_host(const char *host, struct xlmig_handshake_offer *offer)
{
	if (!(offer->features & (XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA)))
		return;
	offer->features &= ~(uint32_t)(XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA |
				       XLMIG_FEAT_DELTA_RESENT);
	offer->cache_bytes = 0;
	xlmig_info("%s is this host: pages go uncompressed, without delta coding", host);
}

int xlmig_conn_connect(const char *host, const char *port, const struct xlmig_conn_opts *o,
		       const struct xlmig_key *key, struct xlmig_conn **out)
{
	struct xlmig_conn *c = NULL;
	struct xlmig_handshake_offer offer;
	struct xlmig_chan *ch = NULL;
	const struct xlmig_key *k = NULL;
	bool same_host = false;
	int rc;

	rc = pick_key(o, key, &k);
	if (rc == XLMIG_OK)
		rc = conn_new(o, k, false, host, &c);
	if (rc != XLMIG_OK)
		return rc;
	offer_from_opts(o, false, &offer);
	rc = dial_channel(host, port, o, 0, &ch, &same_host);
	if (rc == XLMIG_OK && same_host && o->raw_to_this_host)
		offer_for_this_host(host, &offer);
	if (rc == XLMIG_OK)
		rc = xlmig_handshake_client(ch, k, &offer, o->timeout_ms, &c->sess);
	if (rc != XLMIG_OK)
		goto out;
	attach(c, 0, ch);
	ch = NULL;
	for (unsigned i = 1; i < c->sess.channels && rc == XLMIG_OK; i++) {
		rc = dial_channel(host, port, o, i, &ch, NULL);
		if (rc == XLMIG_OK)
			rc = xlmig_handshake_join_client(ch, k, &c->sess, i, o->timeout_ms);
		if (rc == XLMIG_OK) {
			attach(c, i, ch);
			ch = NULL;
		}
	}
out:
	xlmig_chan_free(ch);
	if (rc != XLMIG_OK) {
		xlmig_conn_close(c);
		return xlmig_fail_prefix(rc, "migration session with %s", host);
	}
	*out = c;
	return XLMIG_OK;
}

#define SELF_SOCKBUF (4 << 20)

/* One channel over rfd/wfd (owned from now on), named name; this_host:
 * the source offers what a peer on this very host should get. */
static int session_over_fds(int rfd, int wfd, bool server, const struct xlmig_conn_opts *o,
			    const struct xlmig_key *key, const char *name, bool this_host,
			    struct xlmig_conn **out)
{
	struct xlmig_conn_opts one = *o;
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_first first = { 0 };
	struct xlmig_conn *c = NULL;
	struct xlmig_chan *ch = NULL;
	const struct xlmig_key *k = NULL;
	int rc;

	one.channels = one.max_channels = 1;
	rc = xlmig_chan_from_fds(rfd, wfd, name, &ch);
	if (rc != XLMIG_OK) {
		close(rfd);
		if (wfd != rfd)
			close(wfd);
		return rc;
	}
	rc = pick_key(&one, key, &k);
	if (rc == XLMIG_OK)
		rc = conn_new(&one, k, server, name, &c);
	if (rc != XLMIG_OK)
		goto out;
	c->in_process = this_host;
	c->transport = this_host ? "in-process" : "fds";
	offer_from_opts(&one, server, &offer);
	if (this_host && !server && one.raw_to_this_host)
		offer_for_this_host(name, &offer);
	if (server) {
		rc = xlmig_handshake_read_first(ch, one.timeout_ms, &first);
		if (rc == XLMIG_OK)
			rc = xlmig_handshake_server(ch, k, &offer, &first, one.timeout_ms, &c->sess);
	} else {
		rc = xlmig_handshake_client(ch, k, &offer, one.timeout_ms, &c->sess);
	}
	if (rc == XLMIG_OK) {
		attach(c, 0, ch);
		ch = NULL;
	}
out:
	xlmig_chan_free(ch);
	if (rc != XLMIG_OK) {
		xlmig_conn_close(c);
		return rc;
	}
	*out = c;
	return XLMIG_OK;
}

int xlmig_conn_over_fds(int rfd, int wfd, bool server, const struct xlmig_conn_opts *o,
			const struct xlmig_key *key, struct xlmig_conn **out)
{
	return session_over_fds(rfd, wfd, server, o, key, "pipe", false, out);
}

/* The kernel joined the two ends of the socketpair: no one but this
 * process holds the other, so there is no one to authenticate or to hide
 * the bytes from.  TLS and a key would only spend the CPU both ends share
 * (on a one-vCPU Xen host, TLS was a sixth of a localhost move's time). */
int xlmig_conn_with_self(int fd, bool server, const struct xlmig_conn_opts *o,
			 struct xlmig_conn **out)
{
	struct xlmig_conn_opts self = *o;
	int buf = SELF_SOCKBUF;

	self.tls = NULL;
	self.insecure = true;
	/* Larger than the default, as TCP's would grow: fewer wake-ups per
	 * frame on a host whose CPU both ends share. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	return session_over_fds(fd, fd, server, &self, NULL, "localhost", true, out);
}

/* ---- destination ---- */

int xlmig_incoming_read(int fd, const char *peer, const struct xlmig_conn_opts *o,
			int timeout_ms, struct xlmig_incoming **out)
{
	struct xlmig_incoming *in = calloc(1, sizeof(*in));
	uint64_t deadline = xlmig_now_ns() + (uint64_t)XLMIG_MAX(timeout_ms, 0) * 1000000;
	struct xlmig_conn_opts one;
	int rc;

	if (!in) {
		close(fd);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a connection");
	}
	snprintf(in->peer, sizeof(in->peer), "%s", peer ? peer : "peer");
	one = *o;
	one.timeout_ms = timeout_ms;
	rc = secure_channel(&one, fd, NULL, in->peer, &in->ch);
	if (rc != XLMIG_OK) {
		free(in);
		return rc;
	}
	/* One deadline from here to authenticated: the rest of the handshake
	 * (xlmig_conn_accept, xlmig_conn_join) cannot outlast it either. */
	xlmig_chan_set_deadline(in->ch, deadline);
	rc = xlmig_handshake_read_first(in->ch, timeout_ms, &in->first);
	if (rc != XLMIG_OK) {
		xlmig_incoming_free(in);
		return rc;
	}
	*out = in;
	return XLMIG_OK;
}

bool xlmig_incoming_is_join(const struct xlmig_incoming *in) { return in->first.is_join; }

const uint8_t *xlmig_incoming_session_id(const struct xlmig_incoming *in)
{
	return in->first.is_join ? in->first.id : NULL;
}

void xlmig_incoming_free(struct xlmig_incoming *in)
{
	if (!in)
		return;
	xlmig_chan_free(in->ch);
	free(in);
}

int xlmig_conn_accept(struct xlmig_incoming *in, const struct xlmig_conn_opts *o,
		      const struct xlmig_key *key, struct xlmig_conn **out)
{
	struct xlmig_conn *c = NULL;
	struct xlmig_handshake_offer limits;
	const struct xlmig_key *k = NULL;
	int rc;

	rc = pick_key(o, key, &k);
	if (rc == XLMIG_OK)
		rc = conn_new(o, k, true, in->peer, &c);
	if (rc == XLMIG_OK) {
		offer_from_opts(o, true, &limits);
		rc = xlmig_handshake_server(in->ch, k, &limits, &in->first, o->timeout_ms, &c->sess);
	}
	if (rc == XLMIG_OK) {
		attach(c, 0, in->ch);
		in->ch = NULL;
		*out = c;
	} else {
		xlmig_conn_close(c);
		xlmig_fail_prefix(rc, "migration from %s", in->peer);
	}
	xlmig_incoming_free(in);
	return rc;
}

/* Claim a channel slot for a JOIN so two JOINs cannot take the same one. */
static bool reserve_slot(struct xlmig_conn *c, uint32_t index)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = index < c->sess.channels && !(c->reserved & (1u << index));
	if (ok)
		c->reserved |= 1u << index;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static void release_slot(struct xlmig_conn *c, uint32_t index)
{
	pthread_mutex_lock(&c->lock);
	c->reserved &= ~(1u << index);
	pthread_mutex_unlock(&c->lock);
}

int xlmig_conn_join(struct xlmig_conn *c, struct xlmig_incoming *in)
{
	uint32_t index = in->first.index;
	int rc;

	if (!in->first.is_join || !reserve_slot(c, index)) {
		rc = xlmig_fail(XLMIG_E_AUTH, "%s: JOIN for channel %u, which is not free",
				in->peer, index);
		xlmig_wire_send_failure(in->ch, rc, xlmig_errmsg(), c->opts.timeout_ms);
		goto out;
	}
	rc = xlmig_handshake_join_server(in->ch, conn_key(c), &c->sess, &in->first, c->opts.timeout_ms);
	if (rc != XLMIG_OK) {
		release_slot(c, index);
		xlmig_fail_prefix(rc, "%s", in->peer);
		goto out;
	}
	attach(c, index, in->ch);
	in->ch = NULL;
out:
	xlmig_incoming_free(in);
	return rc;
}

int xlmig_conn_wait_channels(struct xlmig_conn *c, int timeout_ms)
{
	uint64_t deadline = xlmig_now_ns() + (uint64_t)XLMIG_MAX(timeout_ms, 0) * 1000000;
	struct timespec ts = xlmig_deadline_ms((unsigned)XLMIG_MAX(timeout_ms, 0));
	int rc = XLMIG_OK;

	pthread_mutex_lock(&c->lock);
	while (c->attached < c->sess.channels && rc == XLMIG_OK)
		if (pthread_cond_timedwait(&c->joined, &c->lock, &ts) == ETIMEDOUT &&
		    xlmig_now_ns() >= deadline)
			rc = xlmig_fail(XLMIG_E_TIMEOUT,
					"%s: only %u of %u channels joined within %d ms",
					c->peer, c->attached, c->sess.channels, timeout_ms);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static bool same_session(const struct xlmig_conn *c, const struct xlmig_incoming *in)
{
	return in->first.is_join &&
	       memcmp(in->first.id, c->sess.id, XLMIG_SESSION_ID_LEN) == 0;
}

int xlmig_conn_listen_accept(int listen_fd, const struct xlmig_conn_opts *o,
			     const struct xlmig_key *key, struct xlmig_conn **out)
{
	struct xlmig_incoming *in = NULL;
	struct xlmig_conn *c = NULL;
	char peer[80];
	int fd, rc;

	rc = xlmig_tcp_accept(listen_fd, o->timeout_ms, &fd, peer, sizeof(peer));
	if (rc == XLMIG_OK)
		rc = xlmig_incoming_read(fd, peer, o, o->timeout_ms, &in);
	if (rc == XLMIG_OK)
		rc = xlmig_conn_accept(in, o, key, &c);
	while (rc == XLMIG_OK && c->attached < c->sess.channels) {
		rc = xlmig_tcp_accept(listen_fd, o->timeout_ms, &fd, peer, sizeof(peer));
		if (rc != XLMIG_OK)
			break;
		if (xlmig_incoming_read(fd, peer, o, o->timeout_ms, &in) != XLMIG_OK)
			continue;  /* a stray connection does not end the session */
		if (same_session(c, in)) {
			rc = xlmig_conn_join(c, in);
		} else {
			xlmig_wire_send_failure(in->ch, XLMIG_E_AUTH, "not the session being joined",
						o->timeout_ms);
			xlmig_incoming_free(in);
		}
	}
	if (rc != XLMIG_OK) {
		xlmig_conn_close(c);
		return rc;
	}
	*out = c;
	return XLMIG_OK;
}

/* ---- both ---- */

const struct xlmig_handshake_session *xlmig_conn_session(const struct xlmig_conn *c)
{
	return &c->sess;
}
const char *xlmig_conn_transport(const struct xlmig_conn *c) { return c->transport; }
bool xlmig_conn_in_process(const struct xlmig_conn *c) { return c->in_process; }

const struct xlmig_conn_opts *xlmig_conn_opts(const struct xlmig_conn *c) { return &c->opts; }
unsigned xlmig_conn_channels(const struct xlmig_conn *c) { return c->sess.channels; }
bool xlmig_conn_is_server(const struct xlmig_conn *c) { return c->server; }
const char *xlmig_conn_peer_role(const struct xlmig_conn *c)
{
	return c->server ? "source" : "destination";
}
struct xlmig_ratelimit *xlmig_conn_ratelimit(struct xlmig_conn *c) { return c->rl; }

struct xlmig_chan *xlmig_conn_chan(struct xlmig_conn *c, unsigned i)
{
	return i < XLMIG_MAX_CHANNELS ? c->ch[i] : NULL;
}

uint64_t xlmig_conn_wire_bytes(const struct xlmig_conn *c)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < c->sess.channels; i++)
		if (c->ch[i])
			sum += xlmig_chan_bytes_sent(c->ch[i]) + xlmig_chan_bytes_received(c->ch[i]);
	return sum;
}

void xlmig_conn_set_bandwidth(struct xlmig_conn *c, uint64_t bytes_per_sec)
{
	xlmig_ratelimit_set_rate(c->rl, bytes_per_sec);
}

void xlmig_conn_set_side_handler(struct xlmig_conn *c, xlmig_side_fn fn, void *opaque)
{
	c->side_fn = fn;
	c->side_opaque = opaque;
}

void xlmig_conn_interrupt(struct xlmig_conn *c)
{
	for (unsigned i = 0; i < XLMIG_MAX_CHANNELS; i++)
		if (c->ch[i])
			xlmig_chan_interrupt(c->ch[i]);
}

int xlmig_conn_send_progress(struct xlmig_conn *c, uint64_t stream_bytes, int timeout_ms)
{
	struct xlmig_buf b = { 0 };
	int rc;

	if (!xlmig_conn_has_progress(c))
		return XLMIG_OK;
	rc = xlmig_wire_progress_build(&b, stream_bytes);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(c->ch[0], XLMIG_FRAME_PROGRESS, 0, 0, b.data, b.len, timeout_ms);
	xlmig_buf_free(&b);
	return rc;
}

uint64_t xlmig_conn_peer_progress(const struct xlmig_conn *c)
{
	return __atomic_load_n(&c->peer_progress, __ATOMIC_ACQUIRE);
}

bool xlmig_conn_has_progress(const struct xlmig_conn *c)
{
	return (c->sess.features & XLMIG_FEAT_PROGRESS) != 0;
}

bool xlmig_conn_peer_failed(const struct xlmig_conn *c)
{
	return __atomic_load_n(&c->peer_failed, __ATOMIC_ACQUIRE) != 0;
}

void xlmig_conn_report_failure(struct xlmig_conn *c, int code)
{
	if (c->ch[0] && !xlmig_chan_interrupted(c->ch[0]))
		xlmig_wire_send_failure(c->ch[0], code, xlmig_errmsg(), 1000);
}

int xlmig_conn_send_ctrl(struct xlmig_conn *c, uint32_t type, const void *data, size_t len,
			 int timeout_ms)
{
	struct xlmig_buf b = { 0 };
	int rc;

	if (len > XLMIG_WIRE_MAX_CTRL)
		return xlmig_fail(XLMIG_E_LIMIT, "control message of %zu bytes (at most %u)", len,
				  XLMIG_WIRE_MAX_CTRL);
	rc = xlmig_wire_typed_build(&b, type, data, len);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(c->ch[0], XLMIG_FRAME_CTRL, 0, 0, b.data, b.len, timeout_ms);
	xlmig_buf_free(&b);
	return rc;
}

int xlmig_conn_send_side(struct xlmig_conn *c, uint32_t type, const void *data, size_t len)
{
	struct xlmig_buf b = { 0 };
	int rc;

	if (!(c->sess.features & XLMIG_FEAT_SIDE))
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "the destination does not take side records (older xlmig?)");
	if (len > c->sess.max_payload - 4)
		return xlmig_fail(XLMIG_E_LIMIT, "side record of %zu bytes (at most %u)", len,
				  c->sess.max_payload - 4);
	rc = xlmig_wire_typed_build(&b, type, data, len);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(c->ch[0], XLMIG_FRAME_SIDE, 0, 0, b.data, b.len,
				     c->opts.io_timeout_ms);
	xlmig_buf_free(&b);
	return rc;
}

static int inbox_push(struct xlmig_conn *c, uint32_t type, const uint8_t *data, size_t len)
{
	struct ctrl_msg *m;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&c->lock);
	if (c->inbox_count == INBOX_MAX) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "the %s sent more than %u control messages unread",
				xlmig_conn_peer_role(c), INBOX_MAX);
		goto out;
	}
	m = &c->inbox[(c->inbox_head + c->inbox_count) % INBOX_MAX];
	xlmig_buf_reset(&m->data);
	rc = xlmig_buf_append(&m->data, data, len);
	if (rc == XLMIG_OK) {
		m->type = type;
		c->inbox_count++;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* 1 and the message if there was one queued, 0 if none. */
static int inbox_pop(struct xlmig_conn *c, uint32_t *type, struct xlmig_buf *data)
{
	struct ctrl_msg *m;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->inbox_count) {
		m = &c->inbox[c->inbox_head];
		xlmig_buf_reset(data);
		rc = xlmig_buf_append(data, m->data.data, m->data.len);
		if (rc == XLMIG_OK) {
			*type = m->type;
			c->inbox_head = (c->inbox_head + 1) % INBOX_MAX;
			c->inbox_count--;
			rc = 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int xlmig_conn_dispatch(struct xlmig_conn *c, const struct xlmig_frame *f)
{
	const uint8_t *data;
	size_t len;
	uint32_t type;
	int rc;

	switch (f->hdr.type) {
	case XLMIG_FRAME_ERROR:
	case XLMIG_FRAME_ABORT:
		__atomic_store_n(&c->peer_failed, 1, __ATOMIC_RELEASE);
		return xlmig_wire_peer_failure(f, xlmig_conn_peer_role(c));
	case XLMIG_FRAME_CTRL:
	case XLMIG_FRAME_SIDE:
		rc = xlmig_wire_typed_parse(f->payload.data, f->payload.len, &type, &data, &len);
		if (rc != XLMIG_OK)
			return rc;
		if (f->hdr.type == XLMIG_FRAME_CTRL)
			return inbox_push(c, type, data, len);
		if (!c->side_fn)
			return xlmig_fail(XLMIG_E_FORMAT,
					  "the %s sent a side record (type %u) nobody here handles",
					  xlmig_conn_peer_role(c), type);
		return c->side_fn(c->side_opaque, type, data, len);
	case XLMIG_FRAME_PROGRESS: {
		uint64_t bytes;

		/* Only the destination reports, and only when both agreed. */
		if (c->server || !xlmig_conn_has_progress(c))
			return xlmig_fail(XLMIG_E_FORMAT, "the %s sent a PROGRESS frame it was not asked for",
					  xlmig_conn_peer_role(c));
		rc = xlmig_wire_progress_parse(f->payload.data, f->payload.len, &bytes);
		if (rc == XLMIG_OK)
			__atomic_store_n(&c->peer_progress, bytes, __ATOMIC_RELEASE);
		return rc;
	}
	default:
		return xlmig_fail(XLMIG_E_FORMAT, "unexpected %s frame on channel 0",
				  xlmig_frame_type_name(f->hdr.type));
	}
}

int xlmig_conn_recv_ctrl(struct xlmig_conn *c, uint32_t *type, struct xlmig_buf *data,
			 int timeout_ms)
{
	uint64_t deadline = xlmig_now_ns() + (uint64_t)XLMIG_MAX(timeout_ms, 0) * 1000000;
	struct xlmig_frame f = { 0 };
	int rc;

	for (;;) {
		int left = (int)((deadline - XLMIG_MIN(deadline, xlmig_now_ns())) / 1000000);

		rc = inbox_pop(c, type, data);
		if (rc != 0)
			break;
		rc = xlmig_wire_recv(c->ch[0], c->sess.max_payload, timeout_ms < 0 ? -1 : left,
				     c->opts.io_timeout_ms, &f);
		if (rc == XLMIG_OK)
			rc = xlmig_conn_dispatch(c, &f);
		if (rc != XLMIG_OK)
			break;
	}
	xlmig_frame_free(&f);
	return rc > 0 ? XLMIG_OK : rc;
}
