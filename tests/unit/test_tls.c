/*
 * test_tls.c - host identities and TLS channels: setup-tls's files, the
 * checks on loading them, certificate names and peers files, sessions of
 * several channels over TLS, proofs bound to their connection (a relayed
 * or reflected handshake fails), JOINs only from the session's host, and
 * plain channels only when asked for.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "handshake.h"
#include "tls.h"
#include "tls_ca.h"
#include "unit.h"

static const struct xlmig_key psk = { .len = 16, .bytes = "0123456789abcdef" };

static const char *path_of(const char *sub)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", unit_tmpdir(), sub);
	return buf[i];
}

/* A cluster: CA "ca" with hosts a, b (each allowing a and b) and m
 * (allowing every host of the CA); and host x from another CA. */
static int make_cluster(void)
{
	const char *a_names[] = { "127.0.0.1" }, *allow_ab[] = { "a", "b" };
	const char *allow_m[] = { "*" };
	int rc = xlmig_tls_ca_create(path_of("ca"), "test-ca", 2);

	if (rc == XLMIG_OK)
		rc = xlmig_tls_host_issue(path_of("ca"), path_of("a"), "a", a_names, 1,
					  allow_ab, 2, 2);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_host_issue(path_of("ca"), path_of("b"), "b", a_names, 1,
					  allow_ab, 2, 2);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_host_issue(path_of("ca"), path_of("m"), "m", a_names, 1,
					  allow_m, 1, 2);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_ca_create(path_of("other-ca"), "other", 2);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_host_issue(path_of("other-ca"), path_of("x"), "x", a_names, 1,
					  allow_ab, 2, 2);
	return rc;
}

TEST(tls_setup_files_and_checks)
{
	struct xlmig_tls *t = NULL;
	struct stat st;

	CHECK_OK(make_cluster());
	CHECK(stat(path_of("a/host.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(path_of("ca/ca.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(path_of("a"), &st) == 0 && (st.st_mode & 0777) == 0700);
	/* nothing is overwritten */
	CHECK_EQ(xlmig_tls_ca_create(path_of("ca"), "again", 2), XLMIG_E_EXISTS);
	CHECK_EQ(xlmig_tls_host_issue(path_of("ca"), path_of("a"), "a", NULL, 0, NULL, 0, 2),
		 XLMIG_E_EXISTS);
	/* names cannot smuggle further certificate entries */
	CHECK_EQ(xlmig_tls_host_issue(path_of("ca"), path_of("q"), "q", (const char *[]){
		 "q,DNS:evil" }, 1, NULL, 0, 2), XLMIG_E_INVAL);

	CHECK_OK(xlmig_tls_open(path_of("a"), &t));
	CHECK_STR(xlmig_tls_name(t), "a");
	CHECK_EQ(xlmig_tls_peer_count(t), 2);
	CHECK(xlmig_tls_peer_allowed(t, "b"));
	CHECK(!xlmig_tls_peer_allowed(t, "m"));
	xlmig_tls_free(t);

	/* a key others can read is refused, with the fix in the message */
	CHECK(chmod(path_of("a/host.key"), 0640) == 0);
	CHECK_EQ(xlmig_tls_open(path_of("a"), &t), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "chmod 600") != NULL);
	CHECK(chmod(path_of("a/host.key"), 0600) == 0);
	/* a CA file anyone may change is refused */
	CHECK(chmod(path_of("a/ca.crt"), 0666) == 0);
	CHECK_EQ(xlmig_tls_open(path_of("a"), &t), XLMIG_E_AUTH);
	CHECK(chmod(path_of("a/ca.crt"), 0644) == 0);
	/* a certificate its CA did not issue is refused at start */
	CHECK(rename(path_of("x/host.crt"), path_of("a/host.crt")) == 0);
	CHECK(rename(path_of("x/host.key"), path_of("a/host.key")) == 0);
	CHECK_EQ(xlmig_tls_open(path_of("a"), &t), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "does not verify") != NULL);
	/* no peers file: the message says what to write */
	CHECK(unlink(path_of("b/peers")) == 0);
	CHECK_EQ(xlmig_tls_open(path_of("b"), &t), XLMIG_E_NOTFOUND);
	CHECK(strstr(xlmig_errmsg(), "may send migrations here") != NULL);
}

/* ---- one TLS connection over a socketpair ---- */

struct tls_server {
	struct xlmig_tls *t;
	int fd;
	struct xlmig_chan *ch;
	int rc;
	char msg[512];
};

static void *tls_server_main(void *arg)
{
	struct tls_server *s = arg;

	s->rc = xlmig_tls_server(s->t, s->fd, "server", 2000, &s->ch);
	snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	return NULL;
}

/* Connect a client of identity ct dialling host to a server of st. */
static int tls_pair(struct xlmig_tls *ct, const char *host, struct xlmig_tls *st,
		    struct xlmig_chan **c, struct tls_server *s)
{
	pthread_t th;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return XLMIG_E_IO;
	*s = (struct tls_server){ .t = st, .fd = sv[1] };
	pthread_create(&th, NULL, tls_server_main, s);
	rc = xlmig_tls_client(ct, sv[0], host, "client", 2000, c);
	pthread_join(th, NULL);
	if (rc != XLMIG_OK && s->ch) {
		xlmig_chan_free(s->ch);
		s->ch = NULL;
	}
	return rc;
}

struct ids {
	struct xlmig_tls *a, *b, *m, *x;
};

static int open_ids(struct ids *id)
{
	int rc = make_cluster();

	if (rc == XLMIG_OK)
		rc = xlmig_tls_open(path_of("a"), &id->a);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_open(path_of("b"), &id->b);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_open(path_of("m"), &id->m);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_open(path_of("x"), &id->x);
	return rc;
}

static void close_ids(struct ids *id)
{
	xlmig_tls_free(id->a);
	xlmig_tls_free(id->b);
	xlmig_tls_free(id->m);
	xlmig_tls_free(id->x);
}

TEST(tls_names_peers_and_cas)
{
	struct ids id = { 0 };
	struct xlmig_chan *c = NULL;
	struct tls_server s;
	const struct xlmig_chan_binding *cb, *sb;
	uint8_t buf[5];

	CHECK_OK(open_ids(&id));
	/* a dials b by a name b's certificate has */
	CHECK_OK(tls_pair(id.a, "b", id.b, &c, &s));
	CHECK_OK(s.rc);
	cb = xlmig_chan_binding(c);
	sb = xlmig_chan_binding(s.ch);
	CHECK(cb && sb);
	CHECK_STR(cb->peer, "b");
	CHECK_STR(sb->peer, "a");
	CHECK(memcmp(cb->secret, sb->secret, sizeof(cb->secret)) == 0);
	CHECK_OK(xlmig_chan_writev(c, &(struct iovec){ "hello", 5 }, 1, 1000));
	CHECK_OK(xlmig_chan_read_full(s.ch, buf, 5, 1000));
	CHECK(memcmp(buf, "hello", 5) == 0);
	xlmig_chan_free(c);
	xlmig_chan_free(s.ch);
	/* by its address too */
	CHECK_OK(tls_pair(id.a, "127.0.0.1", id.b, &c, &s));
	xlmig_chan_free(c);
	xlmig_chan_free(s.ch);

	/* a name the certificate does not have */
	CHECK_EQ(tls_pair(id.a, "c", id.b, &c, &s), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "certificate") != NULL);
	/* a host of the CA that b's peers file does not list (in TLS 1.3 the
	 * client is done before the server has judged its certificate: the
	 * refusal is the server's, and the client's next read fails) */
	if (tls_pair(id.m, "b", id.b, &c, &s) == XLMIG_OK) {
		CHECK(xlmig_chan_read_full(c, buf, 1, 2000) != XLMIG_OK);
		xlmig_chan_free(c);
	}
	CHECK_EQ(s.rc, XLMIG_E_AUTH);
	CHECK(strstr(s.msg, "'m' may not send migrations here") != NULL);
	/* a host of another CA, either way round */
	if (tls_pair(id.x, "b", id.b, &c, &s) == XLMIG_OK) {
		CHECK(xlmig_chan_read_full(c, buf, 1, 2000) != XLMIG_OK);
		xlmig_chan_free(c);
	}
	CHECK_EQ(s.rc, XLMIG_E_AUTH);
	CHECK(strstr(s.msg, "TLS handshake failed") != NULL);
	CHECK_EQ(tls_pair(id.a, "b", id.x, &c, &s), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "certificate refused") != NULL);
	close_ids(&id);
}

/* ---- sessions ---- */

struct acceptor {
	int lfd;
	struct xlmig_conn_opts o;
	const struct xlmig_key *key;
	struct xlmig_conn *conn;
	int rc;
	char msg[512];
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;

	a->rc = xlmig_conn_listen_accept(a->lfd, &a->o, a->key, &a->conn);
	snprintf(a->msg, sizeof(a->msg), "%s", xlmig_errmsg());
	return NULL;
}

/* A session from src to dst over loopback TCP, keys optional. */
static int session(struct xlmig_tls *src, const struct xlmig_key *skey, struct xlmig_tls *dst,
		   const struct xlmig_key *dkey, unsigned channels, struct xlmig_conn **sc,
		   struct acceptor *a)
{
	struct xlmig_conn_opts o;
	pthread_t th;
	char port[16];
	uint16_t p;
	int rc;

	*a = (struct acceptor){ .key = dkey };
	rc = xlmig_tcp_listen("127.0.0.1", "0", &a->lfd, &p);
	if (rc != XLMIG_OK)
		return rc;
	snprintf(port, sizeof(port), "%u", p);
	xlmig_conn_opts_default(&a->o);
	a->o.tls = dst;
	a->o.timeout_ms = 3000;
	xlmig_conn_opts_default(&o);
	o.tls = src;
	o.channels = channels;
	o.timeout_ms = 3000;
	pthread_create(&th, NULL, accept_main, a);
	rc = xlmig_conn_connect("127.0.0.1", port, &o, skey, sc);
	pthread_join(th, NULL);
	close(a->lfd);
	return rc;
}

struct pump {
	struct xlmig_conn *c;
	unsigned ch;
	int rc;
};

#define PUMP_FRAMES 64
#define PUMP_LEN    (64 * 1024)

static void *pump_send(void *arg)
{
	struct pump *p = arg;
	uint8_t *data = malloc(PUMP_LEN);

	p->rc = data ? XLMIG_OK : XLMIG_E_NOMEM;
	for (unsigned i = 0; i < PUMP_FRAMES && p->rc == XLMIG_OK; i++) {
		memset(data, (int)(i + p->ch), PUMP_LEN);
		p->rc = xlmig_wire_send(xlmig_conn_chan(p->c, p->ch), XLMIG_FRAME_STREAM, 0, i,
					data, PUMP_LEN, 5000);
	}
	free(data);
	return NULL;
}

TEST(tls_session_many_channels)
{
	struct ids id = { 0 };
	struct xlmig_conn *c = NULL;
	struct acceptor a;
	struct pump pumps[4];
	pthread_t th[4];
	uint32_t type;
	struct xlmig_buf msg = { 0 };

	CHECK_OK(open_ids(&id));
	/* TLS alone, then TLS with the key as an additional check */
	for (int keyed = 0; keyed < 2; keyed++) {
		const struct xlmig_key *k = keyed ? &psk : NULL;

		CHECK_OK(session(id.a, k, id.b, k, 4, &c, &a));
		CHECK_OK(a.rc);
		CHECK(xlmig_conn_session(c)->tls);
		CHECK_EQ(xlmig_conn_session(c)->authenticated, keyed);
		CHECK_STR(xlmig_conn_session(a.conn)->peer, "a");
		CHECK_OK(xlmig_conn_wait_channels(a.conn, 2000));
		/* every channel carries data both ways at once */
		for (unsigned i = 0; i < 4; i++) {
			pumps[i] = (struct pump){ .c = c, .ch = i };
			pthread_create(&th[i], NULL, pump_send, &pumps[i]);
		}
		CHECK_OK(xlmig_conn_send_ctrl(a.conn, 5, "ok", 2, 1000));
		for (unsigned i = 1; i < 4; i++)
			for (unsigned f = 0; f < PUMP_FRAMES; f++) {
				struct xlmig_frame fr = { 0 };

				CHECK_OK(xlmig_wire_recv(xlmig_conn_chan(a.conn, i), 1 << 20, 5000,
							 5000, &fr));
				CHECK_EQ(fr.payload.len, PUMP_LEN);
				CHECK_EQ(fr.payload.data[PUMP_LEN - 1], (uint8_t)(f + i));
				xlmig_frame_free(&fr);
			}
		for (unsigned f = 0; f < PUMP_FRAMES; f++) {
			struct xlmig_frame fr = { 0 };

			CHECK_OK(xlmig_wire_recv(xlmig_conn_chan(a.conn, 0), 1 << 20, 5000, 5000,
						 &fr));
			xlmig_frame_free(&fr);
		}
		CHECK_OK(xlmig_conn_recv_ctrl(c, &type, &msg, 2000));
		CHECK_EQ(type, 5);
		for (unsigned i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			CHECK_OK(pumps[i].rc);
		}
		xlmig_conn_close(c);
		xlmig_conn_close(a.conn);
	}
	/* a key on one side only is refused */
	CHECK_EQ(session(id.a, &psk, id.b, NULL, 1, &c, &a), XLMIG_E_AUTH);
	xlmig_buf_free(&msg);
	close_ids(&id);
}

/* Each host lists first the AEAD its CPU seals faster; either end that
 * lists ChaCha20-Poly1305 first gets it, so an end without fast AES
 * never pays for the other's choice. */
TEST(tls_chacha_when_either_end_prefers_it)
{
	static const struct { enum xlmig_tls_aead src, dst; const char *suite; } cases[] = {
		{ XLMIG_TLS_AES_GCM, XLMIG_TLS_AES_GCM, "TLS_AES_128_GCM_SHA256" },
		{ XLMIG_TLS_CHACHA20, XLMIG_TLS_AES_GCM, "TLS_CHACHA20_POLY1305_SHA256" },
		{ XLMIG_TLS_AES_GCM, XLMIG_TLS_CHACHA20, "TLS_CHACHA20_POLY1305_SHA256" },
		{ XLMIG_TLS_CHACHA20, XLMIG_TLS_CHACHA20, "TLS_CHACHA20_POLY1305_SHA256" },
	};
	struct ids id = { 0 };
	struct xlmig_conn *c = NULL;
	struct acceptor a;
	char words[160];

	CHECK_OK(open_ids(&id));
	xlmig_tls_preference(id.a, words, sizeof(words));
	CHECK(strstr(words, " first (this CPU seals ") != NULL);
	CHECK(strstr(words, "MB/s with ChaCha20-Poly1305") != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_OK(xlmig_tls_prefer(id.a, cases[i].src));
		CHECK_OK(xlmig_tls_prefer(id.b, cases[i].dst));
		CHECK_OK(session(id.a, NULL, id.b, NULL, 1, &c, &a));
		CHECK_OK(a.rc);
		CHECK_STR(xlmig_chan_binding(xlmig_conn_chan(c, 0))->cipher, cases[i].suite);
		CHECK_STR(xlmig_chan_binding(xlmig_conn_chan(a.conn, 0))->cipher, cases[i].suite);
		xlmig_conn_close(c);
		xlmig_conn_close(a.conn);
	}
	close_ids(&id);
}

/* m, a host of the cluster, relays a's HELLO to b (or reflects it to a):
 * each leg is valid TLS, but the proofs are bound to the connection they
 * were made on, so both ends refuse. */
struct relay {
	struct xlmig_chan *from, *to;
	int rc;
};

static int forward(struct xlmig_chan *from, struct xlmig_chan *to)
{
	struct xlmig_frame f = { 0 };
	int rc = xlmig_wire_recv(from, 4096, 2000, 2000, &f);

	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(to, f.hdr.type, f.hdr.flags, f.hdr.seq, f.payload.data,
				     f.payload.len, 2000);
	xlmig_frame_free(&f);
	return rc;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;

	r->rc = forward(r->from, r->to);                  /* HELLO */
	if (r->rc == XLMIG_OK)
		r->rc = forward(r->to, r->from);          /* WELCOME */
	if (r->rc == XLMIG_OK)
		r->rc = forward(r->from, r->to);          /* AUTH */
	if (r->rc == XLMIG_OK)
		r->rc = forward(r->to, r->from);          /* the verdict */
	return NULL;
}

struct hs_server {
	struct xlmig_chan *ch;
	const struct xlmig_key *key;
	int rc;
	char msg[512];
};

static void *hs_server_main(void *arg)
{
	struct hs_server *s = arg;
	struct xlmig_handshake_offer limits;
	struct xlmig_handshake_session sess;
	struct xlmig_handshake_first first;

	xlmig_handshake_offer_default(&limits);
	s->rc = xlmig_handshake_read_first(s->ch, 2000, &first);
	if (s->rc == XLMIG_OK)
		s->rc = xlmig_handshake_server(s->ch, s->key, &limits, &first, 2000, &sess);
	snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	return NULL;
}

TEST(tls_relayed_or_reflected_handshake_refused)
{
	struct ids id = { 0 };
	struct xlmig_chan *a_to_m = NULL, *m_to_victim = NULL;
	struct tls_server m_side, victim_side;
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session cs;
	struct hs_server hs;
	struct relay r;
	pthread_t t1, t2;

	CHECK_OK(open_ids(&id));
	xlmig_handshake_offer_default(&offer);
	for (int victim = 0; victim < 2; victim++) {   /* 0: relayed to b, 1: reflected to a */
		struct xlmig_tls *vt = victim ? id.a : id.b;

		/* m allows a (its peers file is rewritten for this) */
		CHECK_OK(tls_pair(id.a, "m", id.m, &a_to_m, &m_side));
		/* ... and dials the victim, which allows m */
		xlmig_tls_free(vt);
		CHECK(unlink(path_of(victim ? "a/peers" : "b/peers")) == 0);
		{
			FILE *f = fopen(path_of(victim ? "a/peers" : "b/peers"), "w");

			CHECK(f != NULL);
			fputs("*\n", f);
			fclose(f);
		}
		CHECK_OK(xlmig_tls_open(path_of(victim ? "a" : "b"), &vt));
		if (victim)
			id.a = vt;
		else
			id.b = vt;
		CHECK_OK(tls_pair(id.m, "127.0.0.1", vt, &m_to_victim, &victim_side));
		hs = (struct hs_server){ .ch = victim_side.ch, .key = &psk };
		r = (struct relay){ .from = m_side.ch, .to = m_to_victim };
		pthread_create(&t1, NULL, hs_server_main, &hs);
		pthread_create(&t2, NULL, relay_main, &r);
		CHECK(xlmig_handshake_client(a_to_m, &psk, &offer, 2000, &cs) != XLMIG_OK);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		CHECK_EQ(hs.rc, XLMIG_E_AUTH);
		CHECK(strstr(hs.msg, "does not match this connection") != NULL);
		xlmig_chan_free(a_to_m);
		xlmig_chan_free(m_side.ch);
		xlmig_chan_free(m_to_victim);
		xlmig_chan_free(victim_side.ch);
	}
	close_ids(&id);
}

/* A JOIN with the right session id but from another host's certificate
 * is refused by the destination. */
struct joiner {
	struct xlmig_chan *ch;
	struct xlmig_handshake_session s;
	int rc;
};

static void *join_main(void *arg)
{
	struct joiner *j = arg;

	j->rc = xlmig_handshake_join_client(j->ch, NULL, &j->s, 1, 2000);
	return NULL;
}

TEST(tls_join_only_from_session_host)
{
	struct ids id = { 0 };
	struct xlmig_conn *c = NULL;
	struct acceptor a;
	struct tls_server js;
	struct xlmig_handshake_first first;
	struct joiner j = { 0 };
	pthread_t th;

	CHECK_OK(open_ids(&id));
	CHECK_OK(session(id.a, NULL, id.b, NULL, 2, &c, &a));
	CHECK_OK(a.rc);
	/* b (allowed by b's peers file) plays the other host; it knows the
	 * session id and makes its own channel look like the session's to
	 * its own side */
	CHECK_OK(tls_pair(id.b, "b", id.b, &j.ch, &js));
	j.s = *xlmig_conn_session(c);
	memcpy(j.s.peer_fp, xlmig_chan_binding(j.ch)->peer_fp, sizeof(j.s.peer_fp));
	pthread_create(&th, NULL, join_main, &j);
	CHECK_OK(xlmig_handshake_read_first(js.ch, 2000, &first));
	CHECK_EQ(xlmig_handshake_join_server(js.ch, NULL, xlmig_conn_session(a.conn), &first,
					     2000), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "not from the host of the session") != NULL);
	pthread_join(th, NULL);
	CHECK(j.rc != XLMIG_OK);
	xlmig_chan_free(j.ch);
	xlmig_chan_free(js.ch);
	xlmig_conn_close(c);
	xlmig_conn_close(a.conn);
	close_ids(&id);
}

TEST(tls_plain_only_when_asked)
{
	struct xlmig_conn_opts o;
	struct xlmig_conn *c = NULL;

	xlmig_conn_opts_default(&o);
	CHECK(!o.insecure && !o.tls);
	/* no identity, no key, not insecure: nothing to connect with */
	CHECK_EQ(xlmig_conn_connect("127.0.0.1", "1", &o, NULL, &c), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "setup-tls") != NULL);
}
