/*
 * test_handshake.c - negotiation, mutual authentication and joins; key
 * files; sessions over TCP with control messages and side records.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "handshake.h"
#include "unit.h"

/* Every wait that is not itself under test: long enough for a loaded
 * machine or valgrind (which makes the key derivations seconds long). */
#define IO_MS 30000

static const struct xlmig_key key_a = { .len = 16, .bytes = "0123456789abcdef" };
static const struct xlmig_key key_b = { .len = 16, .bytes = "0123456789abcdeF" };

/* The destination side of one handshake, run in a thread. */
struct server {
	struct xlmig_chan *ch;
	const struct xlmig_key *key;
	struct xlmig_handshake_offer limits;
	struct xlmig_handshake_session sess;
	int rc;
	char msg[512];
	pthread_t thread;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct xlmig_handshake_first first;

	s->rc = xlmig_handshake_read_first(s->ch, IO_MS, &first);
	if (s->rc == XLMIG_OK)
		s->rc = xlmig_handshake_server(s->ch, s->key, &s->limits, &first, IO_MS, &s->sess);
	snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	return NULL;
}

static int chan_pair(struct xlmig_chan **a, struct xlmig_chan **b)
{
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return XLMIG_E_IO;
	rc = xlmig_chan_from_fds(sv[0], sv[0], "client end", a);
	if (rc == XLMIG_OK)
		rc = xlmig_chan_from_fds(sv[1], sv[1], "server end", b);
	return rc;
}

/* Run a client handshake against a server thread; both results. */
static int run_pair(const struct xlmig_key *ckey, const struct xlmig_handshake_offer *offer,
		    struct server *s, struct xlmig_handshake_session *cs, struct xlmig_chan **keep)
{
	struct xlmig_chan *c;
	int rc = chan_pair(&c, &s->ch);

	if (rc != XLMIG_OK)
		return rc;
	pthread_create(&s->thread, NULL, server_main, s);
	rc = xlmig_handshake_client(c, ckey, offer, IO_MS, cs);
	pthread_join(s->thread, NULL);
	if (keep && rc == XLMIG_OK && s->rc == XLMIG_OK) {
		*keep = c;
		return rc;
	}
	xlmig_chan_free(c);
	xlmig_chan_free(s->ch);
	s->ch = NULL;
	return rc;
}

TEST(handshake_agrees)
{
	struct server s = { .key = &key_a };
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;
	struct xlmig_chan *c = NULL;

	xlmig_handshake_offer_default(&s.limits);
	s.limits.channels = 3;
	s.limits.features &= ~(uint32_t)XLMIG_FEAT_SIDE;
	xlmig_handshake_offer_default(&offer);
	offer.channels = 8;
	offer.cache_bytes = 1 << 20;
	CHECK_OK(run_pair(&key_a, &offer, &s, &cs, &c));
	CHECK_OK(s.rc);
	CHECK_EQ(cs.version, XLMIG_PROTO_MAX);
	CHECK_EQ(cs.channels, 3);
	CHECK_EQ(s.sess.channels, 3);
	CHECK_EQ(cs.cache_bytes, 1 << 20);
	CHECK_EQ(cs.features, XLMIG_FEAT_ALL & ~(uint32_t)XLMIG_FEAT_SIDE);
	CHECK(cs.authenticated && s.sess.authenticated);
	CHECK(memcmp(cs.id, s.sess.id, sizeof(cs.id)) == 0);
	CHECK(memcmp(cs.transcript, s.sess.transcript, sizeof(cs.transcript)) == 0);
	xlmig_chan_free(c);
	xlmig_chan_free(s.ch);
}

TEST(handshake_version_refused)
{
	struct server s = { .key = &key_a };
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;

	xlmig_handshake_offer_default(&s.limits);
	xlmig_handshake_offer_default(&offer);
	offer.min_version = XLMIG_PROTO_MAX + 1;
	offer.max_version = XLMIG_PROTO_MAX + 2;
	CHECK_EQ(run_pair(&key_a, &offer, &s, &cs, NULL), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "upgrade the destination") != NULL);
	CHECK(strstr(xlmig_errmsg(), "protocol 2..3") != NULL);
	CHECK_EQ(s.rc, XLMIG_E_UNSUPPORTED);
	/* an older source is told to upgrade itself */
	s.limits.min_version = 2;
	s.limits.max_version = 4;
	xlmig_handshake_offer_default(&offer);
	CHECK_EQ(run_pair(&key_a, &offer, &s, &cs, NULL), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "upgrade the source") != NULL);
}

TEST(handshake_wrong_key_refused_both_sides)
{
	struct server s = { .key = &key_b };
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;

	xlmig_handshake_offer_default(&s.limits);
	xlmig_handshake_offer_default(&offer);
	CHECK_EQ(run_pair(&key_a, &offer, &s, &cs, NULL), XLMIG_E_AUTH);
	CHECK_EQ(s.rc, XLMIG_E_AUTH);
	CHECK(strstr(s.msg, "key") != NULL);
	/* a source without a key gets nowhere with a keyed destination */
	s.key = &key_a;
	CHECK_EQ(run_pair(NULL, &offer, &s, &cs, NULL), XLMIG_E_AUTH);
	CHECK_EQ(s.rc, XLMIG_E_AUTH);
	/* nor a keyed source with an unkeyed destination */
	s.key = NULL;
	CHECK_EQ(run_pair(&key_a, &offer, &s, &cs, NULL), XLMIG_E_AUTH);
	/* both explicitly without a key: agreed, unauthenticated */
	CHECK_OK(run_pair(NULL, &offer, &s, &cs, NULL));
	CHECK(!cs.authenticated);
}

/* A destination that answers with a valid WELCOME but a forged READY:
 * the source must refuse it and say so. */
struct forger {
	struct xlmig_chan *ch;
	int got_error;
};

static void *forger_main(void *arg)
{
	struct forger *fg = arg;
	struct xlmig_frame f = { 0 };
	uint8_t welcome[XLMIG_HANDSHAKE_WELCOME_LEN] = { 0 }, proof[XLMIG_MAC_LEN];

	xlmig_wire_recv(fg->ch, 4096, IO_MS, IO_MS, &f);                 /* HELLO */
	xlmig_put_le16(welcome, XLMIG_PROTO_MIN);
	xlmig_put_le16(welcome + 2, XLMIG_PROTO_MIN);
	xlmig_put_le16(welcome + 4, XLMIG_PROTO_MAX);
	xlmig_put_le16(welcome + 6, 1);                                /* auth */
	xlmig_put_le32(welcome + 12, 1);                               /* channels */
	xlmig_put_le32(welcome + 24, XLMIG_WIRE_MAX_PAYLOAD);
	xlmig_wire_send(fg->ch, XLMIG_FRAME_WELCOME, 0, 0, welcome, sizeof(welcome), IO_MS);
	xlmig_wire_recv(fg->ch, 4096, IO_MS, IO_MS, &f);                 /* AUTH */
	memset(proof, 0x42, sizeof(proof));
	xlmig_wire_send(fg->ch, XLMIG_FRAME_READY, 0, 0, proof, sizeof(proof), IO_MS);
	fg->got_error = xlmig_wire_recv(fg->ch, 4096, IO_MS, IO_MS, &f) == XLMIG_OK &&
			f.hdr.type == XLMIG_FRAME_ERROR;
	xlmig_frame_free(&f);
	return NULL;
}

TEST(handshake_source_refuses_forged_destination)
{
	struct forger fg = { 0 };
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;
	struct xlmig_chan *c;
	pthread_t t;

	CHECK_OK(chan_pair(&c, &fg.ch));
	xlmig_handshake_offer_default(&offer);
	pthread_create(&t, NULL, forger_main, &fg);
	CHECK_EQ(xlmig_handshake_client(c, &key_a, &offer, IO_MS, &cs), XLMIG_E_AUTH);
	pthread_join(t, NULL);
	CHECK(fg.got_error);
	xlmig_chan_free(c);
	xlmig_chan_free(fg.ch);
}

TEST(handshake_timeout)
{
	struct xlmig_chan *a, *b;
	struct xlmig_handshake_first first;
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;
	uint64_t start = xlmig_now_ns();

	CHECK_OK(chan_pair(&a, &b));
	CHECK_EQ(xlmig_handshake_read_first(b, 100, &first), XLMIG_E_TIMEOUT);
	xlmig_handshake_offer_default(&offer);
	CHECK_EQ(xlmig_handshake_client(a, &key_a, &offer, 100, &cs), XLMIG_E_TIMEOUT);
	/* Both gave up by their 100 ms timeouts: at least that long, and
	 * nowhere near forever (the bound only absorbs a loaded machine). */
	CHECK_INT(xlmig_now_ns() - start, >=, 200000000ull);
	CHECK_INT(xlmig_now_ns() - start, <, 20000000000ull);
	xlmig_chan_free(a);
	xlmig_chan_free(b);
}

/* A session between a client and server, then a JOIN with this client's
 * idea of the session and key; both results. */
struct joiner {
	struct xlmig_chan *ch;
	const struct xlmig_key *key;
	struct xlmig_handshake_session sess;
	uint32_t index;
	int rc;
};

static void *join_main(void *arg)
{
	struct joiner *j = arg;

	j->rc = xlmig_handshake_join_client(j->ch, j->key, &j->sess, j->index, IO_MS);
	return NULL;
}

static int try_join(const struct xlmig_handshake_session *server_sess, struct joiner *j)
{
	struct xlmig_chan *srv;
	struct xlmig_handshake_first first;
	pthread_t t;
	int rc = chan_pair(&j->ch, &srv);

	if (rc != XLMIG_OK)
		return rc;
	pthread_create(&t, NULL, join_main, j);
	rc = xlmig_handshake_read_first(srv, IO_MS, &first);
	if (rc == XLMIG_OK)
		rc = xlmig_handshake_join_server(srv, &key_a, server_sess, &first, IO_MS);
	pthread_join(t, NULL);
	xlmig_chan_free(srv);
	xlmig_chan_free(j->ch);
	return rc;
}

TEST(handshake_join_checks)
{
	struct server s = { .key = &key_a };
	struct xlmig_handshake_offer offer;
	struct joiner j = { .key = &key_a, .index = 1 };

	xlmig_handshake_offer_default(&s.limits);
	xlmig_handshake_offer_default(&offer);
	CHECK_OK(run_pair(&key_a, &offer, &s, &j.sess, NULL));
	CHECK_EQ(j.sess.channels, 4);
	CHECK_OK(try_join(&s.sess, &j));
	CHECK_OK(j.rc);
	/* wrong key */
	j.key = &key_b;
	CHECK_EQ(try_join(&s.sess, &j), XLMIG_E_AUTH);
	CHECK_EQ(j.rc, XLMIG_E_AUTH);
	/* another session */
	j.key = &key_a;
	j.sess.id[0] ^= 1;
	CHECK_EQ(try_join(&s.sess, &j), XLMIG_E_AUTH);
	CHECK_EQ(j.rc, XLMIG_E_AUTH);
	/* same id, another transcript: the proof is wrong */
	j.sess.id[0] ^= 1;
	j.sess.transcript[5] ^= 1;
	CHECK_EQ(try_join(&s.sess, &j), XLMIG_E_AUTH);
	/* channel index out of range, and 0 (taken by the first connection) */
	j.sess.transcript[5] ^= 1;
	j.index = 4;
	CHECK_EQ(try_join(&s.sess, &j), XLMIG_E_AUTH);
	j.index = 0;
	CHECK_EQ(try_join(&s.sess, &j), XLMIG_E_AUTH);
}

TEST(handshake_key_files)
{
	const char *text = "# comment\n0011 2233 4455 6677\n8899aabbccddeeff\n";
	char path[512];
	struct xlmig_key k;

	snprintf(path, sizeof(path), "%s/key", unit_tmpdir());
	CHECK_OK(xlmig_key_generate(path));
	CHECK_EQ(xlmig_key_generate(path), XLMIG_E_EXISTS);
	CHECK_OK(xlmig_key_load(path, &k));
	CHECK_EQ(k.len, XLMIG_KEY_GEN_LEN);
	CHECK(chmod(path, 0644) == 0);
	CHECK_EQ(xlmig_key_load(path, &k), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "chmod 600") != NULL);
	/* group-readable is refused too: the key is a host's secret */
	CHECK(chmod(path, 0640) == 0);
	CHECK_EQ(xlmig_key_load(path, &k), XLMIG_E_AUTH);
	CHECK(chmod(path, 0600) == 0);
	CHECK_OK(xlmig_key_load(path, &k));
	/* a key file of another user is refused (only root can make one) */
	if (geteuid() == 0) {
		CHECK(chown(path, 1, 1) == 0);
		CHECK_EQ(xlmig_key_load(path, &k), XLMIG_E_AUTH);
		CHECK(strstr(xlmig_errmsg(), "chown") != NULL);
		CHECK(chown(path, 0, 0) == 0);
	}
	CHECK_OK(xlmig_key_parse(text, strlen(text), &k));
	CHECK_EQ(k.len, 16);
	CHECK_EQ(k.bytes[15], 0xff);
	CHECK_EQ(xlmig_key_parse("0011", 4, &k), XLMIG_E_FORMAT);           /* short */
	CHECK_EQ(xlmig_key_parse("00112233445566778899aabbccddeefg", 32, &k), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_key_parse("00112233445566778899aabbccddeef", 31, &k), XLMIG_E_FORMAT);
}

/* ---- sessions over TCP ---- */

struct acceptor {
	int lfd;
	struct xlmig_conn_opts o;
	const struct xlmig_key *key;
	struct xlmig_conn *conn;
	int rc;
	pthread_t thread;
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;

	a->rc = xlmig_conn_listen_accept(a->lfd, &a->o, a->key, &a->conn);
	return NULL;
}

static int side_seen;

static int on_side(void *opaque, uint32_t type, const uint8_t *data, size_t len)
{
	side_seen = type == 9 && len == 4 && memcmp(data, "conf", 4) == 0;
	return XLMIG_OK;
}

TEST(handshake_session_tcp_ctrl_side)
{
	struct acceptor a = { .key = &key_a };
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;
	struct xlmig_buf msg = { 0 };
	char port[16];
	uint16_t p;
	uint32_t type;

	CHECK_OK(xlmig_tcp_listen("127.0.0.1", "0", &a.lfd, &p));
	snprintf(port, sizeof(port), "%u", p);
	xlmig_conn_opts_default(&a.o);
	xlmig_conn_opts_default(&o);
	a.o.insecure = o.insecure = true;  /* plain, on loopback: the key's own test */
	o.channels = 4;
	pthread_create(&a.thread, NULL, accept_main, &a);
	CHECK_OK(xlmig_conn_connect("127.0.0.1", port, &o, &key_a, &c));
	pthread_join(a.thread, NULL);
	CHECK_OK(a.rc);
	CHECK_EQ(xlmig_conn_channels(c), 4);
	CHECK_EQ(xlmig_conn_channels(a.conn), 4);
	CHECK(memcmp(xlmig_conn_session(c)->id, xlmig_conn_session(a.conn)->id,
		     XLMIG_SESSION_ID_LEN) == 0);
	CHECK(xlmig_conn_session(c)->features & XLMIG_FEAT_ZSTD);
	CHECK(xlmig_conn_session(c)->features & XLMIG_FEAT_DELTA_RESENT);

	xlmig_conn_set_side_handler(a.conn, on_side, NULL);
	CHECK_OK(xlmig_conn_send_side(c, 9, "conf", 4));
	CHECK_OK(xlmig_conn_send_ctrl(c, 7, "go", 2, IO_MS));
	CHECK_OK(xlmig_conn_recv_ctrl(a.conn, &type, &msg, IO_MS));
	CHECK(side_seen);
	CHECK_EQ(type, 7);
	CHECK_EQ(msg.len, 2);
	CHECK_EQ(xlmig_conn_recv_ctrl(a.conn, &type, &msg, 50), XLMIG_E_TIMEOUT);
	/* a failure report ends the other side's wait with the peer's words */
	xlmig_fail(XLMIG_E_NOSPC, "no memory for the guest");
	xlmig_conn_report_failure(a.conn, XLMIG_E_NOSPC);
	CHECK_EQ(xlmig_conn_recv_ctrl(c, &type, &msg, IO_MS), XLMIG_E_PEER);
	CHECK(strstr(xlmig_errmsg(), "no memory for the guest") != NULL);
	xlmig_buf_free(&msg);
	xlmig_conn_close(c);
	xlmig_conn_close(a.conn);
	/* Asked not to compress for a peer on this very host (a job's
	 * localhost migration): no byte crosses a wire, so no zstd and no
	 * delta cache on either end. */
	o.raw_to_this_host = true;
	a.conn = NULL;
	pthread_create(&a.thread, NULL, accept_main, &a);
	CHECK_OK(xlmig_conn_connect("127.0.0.1", port, &o, &key_a, &c));
	pthread_join(a.thread, NULL);
	CHECK_OK(a.rc);
	CHECK(!(xlmig_conn_session(c)->features & (XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA)));
	CHECK(!(xlmig_conn_session(a.conn)->features & (XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA)));
	CHECK_EQ(xlmig_conn_session(c)->cache_bytes, 0);
	CHECK_EQ(xlmig_conn_session(a.conn)->cache_bytes, 0);
	CHECK_EQ(xlmig_conn_channels(c), 4);
	xlmig_conn_close(c);
	xlmig_conn_close(a.conn);
	close(a.lfd);
}

static void *join_again(void *arg)
{
	struct joiner *j = arg;

	j->rc = xlmig_handshake_join_client(j->ch, &key_a, &j->sess, j->index, IO_MS);
	xlmig_chan_free(j->ch);
	return NULL;
}

/* A second JOIN for a channel already attached is refused. */
TEST(handshake_session_refuses_taken_channel)
{
	struct acceptor a = { .key = &key_a };
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;
	struct xlmig_incoming *in;
	struct joiner j = { .index = 1 };
	char port[16];
	uint16_t p;
	pthread_t t;
	int sv[2];

	CHECK_OK(xlmig_tcp_listen("127.0.0.1", "0", &a.lfd, &p));
	snprintf(port, sizeof(port), "%u", p);
	xlmig_conn_opts_default(&a.o);
	xlmig_conn_opts_default(&o);
	a.o.insecure = o.insecure = true;
	o.channels = 2;
	pthread_create(&a.thread, NULL, accept_main, &a);
	CHECK_OK(xlmig_conn_connect("127.0.0.1", port, &o, &key_a, &c));
	pthread_join(a.thread, NULL);
	CHECK_OK(a.rc);
	CHECK_OK(xlmig_conn_wait_channels(a.conn, 100));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_OK(xlmig_chan_from_fds(sv[0], sv[0], "again", &j.ch));
	j.sess = *xlmig_conn_session(c);
	pthread_create(&t, NULL, join_again, &j);
	CHECK_OK(xlmig_incoming_read(sv[1], "again", &a.o, IO_MS, &in));
	CHECK(xlmig_incoming_is_join(in));
	CHECK(memcmp(xlmig_incoming_session_id(in), j.sess.id, XLMIG_SESSION_ID_LEN) == 0);
	CHECK_EQ(xlmig_conn_join(a.conn, in), XLMIG_E_AUTH);
	pthread_join(t, NULL);
	CHECK_EQ(j.rc, XLMIG_E_AUTH);
	xlmig_conn_close(c);
	xlmig_conn_close(a.conn);
	close(a.lfd);
}

TEST(handshake_session_refuses_without_key)
{
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;

	xlmig_conn_opts_default(&o);
	CHECK(!o.insecure);
	CHECK_EQ(xlmig_conn_connect("127.0.0.1", "1", &o, NULL, &c), XLMIG_E_AUTH);
}

struct pipe_end {
	int rfd, wfd;
	struct xlmig_conn_opts o;
	struct xlmig_conn *conn;
	int rc;
};

static void *pipe_server_main(void *arg)
{
	struct pipe_end *e = arg;

	e->rc = xlmig_conn_over_fds(e->rfd, e->wfd, true, &e->o, NULL, &e->conn);
	return NULL;
}

TEST(handshake_session_over_pipes)
{
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;
	struct pipe_end srv;
	struct xlmig_buf msg = { 0 };
	uint32_t type;
	pthread_t t;
	int ab[2], ba[2];

	CHECK(pipe(ab) == 0 && pipe(ba) == 0);
	xlmig_conn_opts_default(&o);
	o.insecure = true;
	srv = (struct pipe_end){ .rfd = ab[0], .wfd = ba[1], .o = o };
	pthread_create(&t, NULL, pipe_server_main, &srv);
	CHECK_OK(xlmig_conn_over_fds(ba[0], ab[1], false, &o, NULL, &c));
	pthread_join(t, NULL);
	CHECK_OK(srv.rc);
	CHECK_EQ(xlmig_conn_channels(c), 1);
	CHECK(!xlmig_conn_session(c)->authenticated);
	CHECK_OK(xlmig_conn_send_ctrl(srv.conn, 3, "ready", 5, IO_MS));
	CHECK_OK(xlmig_conn_recv_ctrl(c, &type, &msg, IO_MS));
	CHECK_EQ(type, 3);
	/* the other end gone: an error, not a SIGPIPE death */
	xlmig_conn_close(srv.conn);
	CHECK_EQ(xlmig_conn_send_ctrl(c, 4, "x", 1, IO_MS), XLMIG_E_CLOSED);
	CHECK_EQ(xlmig_conn_recv_ctrl(c, &type, &msg, IO_MS), XLMIG_E_CLOSED);
	xlmig_buf_free(&msg);
	xlmig_conn_close(c);
}

static void *self_server_main(void *arg)
{
	struct pipe_end *e = arg;

	e->rc = xlmig_conn_with_self(e->rfd, true, &e->o, &e->conn);
	return NULL;
}

/* A daemon's session with itself: plain whatever the options say (no
 * TLS identity or key is needed or used), one channel, no zstd offered
 * for a localhost move, and its transport named in-process. */
TEST(handshake_session_with_self)
{
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;
	struct pipe_end srv;
	struct xlmig_buf msg = { 0 };
	uint32_t type;
	pthread_t t;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	xlmig_conn_opts_default(&o);
	o.channels = 4;
	o.raw_to_this_host = true;
	CHECK(!o.insecure && !o.tls);
	srv = (struct pipe_end){ .rfd = sv[1], .o = o };
	pthread_create(&t, NULL, self_server_main, &srv);
	CHECK_OK(xlmig_conn_with_self(sv[0], false, &o, &c));
	pthread_join(t, NULL);
	CHECK_OK(srv.rc);
	CHECK_EQ(xlmig_conn_channels(c), 1);
	CHECK(!(xlmig_conn_session(c)->features & (XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA)));
	CHECK(!(xlmig_conn_session(srv.conn)->features & XLMIG_FEAT_DELTA));
	CHECK_EQ(xlmig_conn_session(srv.conn)->cache_bytes, 0);
	CHECK(xlmig_conn_session(c)->features & XLMIG_FEAT_GMAC);
	CHECK_STR(xlmig_conn_transport(c), "in-process");
	CHECK_STR(xlmig_conn_transport(srv.conn), "in-process");
	CHECK(xlmig_conn_in_process(c) && xlmig_conn_in_process(srv.conn));
	CHECK_OK(xlmig_conn_send_ctrl(srv.conn, 3, "ready", 5, IO_MS));
	CHECK_OK(xlmig_conn_recv_ctrl(c, &type, &msg, IO_MS));
	CHECK_EQ(type, 3);
	xlmig_buf_free(&msg);
	xlmig_conn_close(srv.conn);
	xlmig_conn_close(c);
}

/* A peer that sends one byte every 20 ms never trips a read's own
 * timeout; the channel's deadline (set from accept to authenticated)
 * stops it anyway, and lifting the deadline lets reads wait again. */
struct dribbler {
	int fd;
	atomic_int bytes;
};

static void *dribble_main(void *arg)
{
	struct dribbler *d = arg;

	for (int i = 0; i < atomic_load(&d->bytes); i++) {
		if (write(d->fd, "x", 1) != 1)
			break;
		usleep(20000);
	}
	return NULL;
}

TEST(handshake_channel_deadline_stops_a_dribbling_peer)
{
	struct dribbler d = { .bytes = 200 };
	struct xlmig_chan *ch;
	uint8_t buf[8];
	uint64_t start;
	pthread_t t;
	int sv[2], rc = XLMIG_OK, reads = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_OK(xlmig_chan_from_fds(sv[0], sv[0], "dribbler", &ch));
	d.fd = sv[1];
	pthread_create(&t, NULL, dribble_main, &d);
	start = xlmig_now_ns();
	xlmig_chan_set_deadline(ch, start + 300 * 1000000ull);
	while (rc == XLMIG_OK && reads < 1000) {
		rc = xlmig_chan_read_full(ch, buf, sizeof(buf), IO_MS);
		reads++;
	}
	CHECK_EQ(rc, XLMIG_E_TIMEOUT);
	CHECK_INT(reads, >, 0);
	CHECK_INT(xlmig_now_ns() - start, >=, 290000000ull);
	CHECK_INT(xlmig_now_ns() - start, <, 3000000000ull);   /* 4 s of dribble left */
	/* Lifted: the next read waits for its own timeout and gets bytes. */
	xlmig_chan_set_deadline(ch, 0);
	CHECK_OK(xlmig_chan_read_full(ch, buf, 1, IO_MS));
	atomic_store(&d.bytes, 0);
	pthread_join(t, NULL);
	xlmig_chan_free(ch);
	close(sv[1]);
}

/* The VmFlags of the mapping holding addr, from /proc/self/smaps. */
static bool mapping_flags(const void *addr, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false, found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, len, "%s", line + 8);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* A daemon's keys are in memory that core dumps leave out. */
TEST(handshake_keys_left_out_of_core_dumps)
{
	struct xlmig_key *k;
	char flags[512];

	CHECK_OK(xlmig_secure_heap_init());
	CHECK_OK(xlmig_secure_heap_init());   /* once is enough, twice is harmless */
	k = xlmig_key_new();
	CHECK(k != NULL);
	CHECK_EQ(k->len, 0u);
	*k = key_a;
	if (!mapping_flags(k, flags, sizeof(flags)))
		unit_fail(__FILE__, __LINE__, "the key's mapping is not in /proc/self/smaps");
	else if (!strstr(flags, " dd"))
		unit_fail(__FILE__, __LINE__, "the key's mapping would be dumped (VmFlags:%s)", flags);
	xlmig_key_free(k);
}

/* The features a client offering `asked` and a server allowing
 * `allowed` agree on, as each end sees them; -1 when they do not agree. */
static long long agreed_features(uint32_t asked, uint32_t allowed)
{
	struct server s = { .key = &key_a };
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;
	struct xlmig_chan *c = NULL;
	long long got = -1;

	xlmig_handshake_offer_default(&s.limits);
	xlmig_handshake_offer_default(&offer);
	s.limits.features = allowed;
	offer.features = asked;
	if (run_pair(&key_a, &offer, &s, &cs, &c) == XLMIG_OK && s.rc == XLMIG_OK &&
	    cs.features == s.sess.features)
		got = cs.features;
	xlmig_chan_free(c);
	xlmig_chan_free(s.ch);
	return got;
}

/* A host from before GMAC (features 0xf) and a new one keep SHA-256 for
 * the stream digest, whichever of them dials; two new ones use GMAC. */
TEST(handshake_gmac_only_when_both_have_it)
{
	const uint32_t old_features = XLMIG_FEAT_ZSTD | XLMIG_FEAT_DELTA | XLMIG_FEAT_MULTICHAN |
				      XLMIG_FEAT_SIDE;

	CHECK_EQ(agreed_features(old_features, XLMIG_FEAT_ALL), old_features);
	CHECK_EQ(agreed_features(XLMIG_FEAT_ALL, old_features), old_features);
	CHECK_EQ(agreed_features(XLMIG_FEAT_ALL, XLMIG_FEAT_ALL), XLMIG_FEAT_ALL);
	CHECK(XLMIG_FEAT_ALL & XLMIG_FEAT_GMAC);
}

/* A host from before Poly1305 (features 0x3f) and a new one agree on
 * GMAC, whichever dials; two new ones on Poly1305 (xfer_common.c). */
TEST(handshake_poly1305_only_when_both_have_it)
{
	const uint32_t before = 0x3f;

	CHECK_EQ(agreed_features(before, XLMIG_FEAT_ALL), before);
	CHECK_EQ(agreed_features(XLMIG_FEAT_ALL, before), before);
	CHECK(before & XLMIG_FEAT_GMAC);
	CHECK(!(before & XLMIG_FEAT_POLY1305));
	CHECK(agreed_features(XLMIG_FEAT_ALL, XLMIG_FEAT_ALL) & XLMIG_FEAT_POLY1305);
}

/* A host from before the resent-only delta cache (features 0x7f) and a
 * new one keep caching every page, whichever dials (both ends' caches
 * must follow the same rule); two new ones cache pages from their second
 * send, and a transfer's codecs follow what was agreed. */
TEST(handshake_delta_resent_only_when_both_have_it)
{
	const uint32_t before = 0x7f;

	CHECK_EQ(agreed_features(before, XLMIG_FEAT_ALL), before);
	CHECK_EQ(agreed_features(XLMIG_FEAT_ALL, before), before);
	CHECK(!(before & XLMIG_FEAT_DELTA_RESENT));
	CHECK(agreed_features(XLMIG_FEAT_ALL, XLMIG_FEAT_ALL) & XLMIG_FEAT_DELTA_RESENT);
}
