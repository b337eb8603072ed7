/*
 * tls.c - host identities and TLS 1.3 channels (OpenSSL).
 *
 * The sockets stay non-blocking: the channel layer polls them, so a TLS
 * record that wants more bytes is just "try again" (-EAGAIN) to it.  One
 * SSL object is not safe for concurrent calls, and a channel may be read
 * by one thread while another writes, so every call into it holds the
 * connection's lock; the calls never block, the waiting happens outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth.h"
#include "tls.h"
#include "tls_peers.h"

#define CERT_FILE_MAX  (64u * 1024)
#define EXPORTER_LABEL "EXPORTER-xlmig-channel"
/* TLS 1.3 only.  Which AEAD a host lists first is measured when its
 * identity is opened (aead_rates): AES-GCM where the CPU does AES in
 * hardware, ChaCha20-Poly1305 where AES is software, as OpenSSH
 * prefers it.  The accepting side's order decides, except that a client
 * that lists ChaCha20 first gets it (SSL_OP_PRIORITIZE_CHACHA): an end
 * without fast AES never pays for the other's choice. */
#define SUITES_AES_FIRST \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define SUITES_CHACHA_FIRST \
	"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define AEAD_PROBE_BYTES (64u * 1024)
/* ChaCha20 goes first only when it is this much faster.  With AES in
 * hardware the two are within a third of each other (3.5-4.7 GB/s on an
 * AVX-512 CPU, and 32-48 MB/s under the Xen lab's emulator, either
 * ahead depending on the moment), and then AES-GCM, the suite NICs with
 * TLS offload take, stays first; without AES instructions AES-GCM is
 * about 4 times slower (0.31 against 1.29 GB/s on the same CPU with
 * OPENSSL_ia32cap masking AES-NI and carry-less multiply). */
#define CHACHA_MARGIN    1.5
#define AEAD_PROBE_NS    (3 * 1000 * 1000ull)   /* CPU time per cipher */

struct xlmig_tls {
	SSL_CTX *ctx;
	enum xlmig_tls_aead first;
	double aead_bps[2];          /* measured: AES-128-GCM, ChaCha20 */
	char name[XLMIG_CHAN_NAME_MAX];
	struct xlmig_tls_peers peers;
};

/* ---- errors ---- */

/* The oldest queued OpenSSL error, in words (and the queue emptied). */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(buf, len, "no further detail from OpenSSL");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ---- loading ---- */

static int read_trusted(const char *dir, const char *file, bool secret, char *buf,
			size_t size, size_t *len, char *path, size_t path_len)
{
	snprintf(path, path_len, "%s/%s", dir, file);
	return xlmig_file_read_checked(path, secret, buf, size, len);
}

int xlmig_tls_read_pem(const char *dir, const char *file, EVP_PKEY **key, X509 **cert)
{
	char buf[CERT_FILE_MAX], path[512], why[160];
	size_t len = 0;
	BIO *bio = NULL;
	int rc;

	rc = read_trusted(dir, file, key != NULL, buf, sizeof(buf), &len, path, sizeof(path));
	if (rc != XLMIG_OK)
		goto out;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (key)
		*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	else
		*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (key ? !*key : !*cert)
		rc = xlmig_fail(XLMIG_E_FORMAT, "%s is not a PEM %s (%s)", path,
				key ? "private key" : "certificate", ssl_reason(why, sizeof(why)));
out:
	BIO_free(bio);
	OPENSSL_cleanse(buf, sizeof(buf));  /* the key passed through here */
	return rc;
}

static int load_ca(SSL_CTX *ctx, const char *dir)
{
	char why[160];
	X509 *ca = NULL;
	int rc = xlmig_tls_read_pem(dir, "ca.crt", NULL, &ca);

	if (rc == XLMIG_OK && X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1)
		rc = xlmig_fail(XLMIG_E_FORMAT, "%s/ca.crt: %s", dir, ssl_reason(why, sizeof(why)));
	X509_free(ca);
	return rc;
}

static int load_cert(struct xlmig_tls *t, const char *dir)
{
	char why[160];
	X509 *cert = NULL;
	int rc = xlmig_tls_read_pem(dir, "host.crt", NULL, &cert);

	if (rc == XLMIG_OK && SSL_CTX_use_certificate(t->ctx, cert) != 1)
		rc = xlmig_fail(XLMIG_E_FORMAT, "%s/host.crt: %s", dir, ssl_reason(why, sizeof(why)));
	if (rc == XLMIG_OK && (rc = xlmig_tls_cert_name(cert, t->name, sizeof(t->name))) != XLMIG_OK)
		xlmig_fail_prefix(rc, "%s/host.crt", dir);
	X509_free(cert);
	return rc;
}

/* The private key goes straight from a wiped buffer into OpenSSL, whose
 * key material lives in its secure heap when the daemon set one up. */
static int load_key(SSL_CTX *ctx, const char *dir)
{
	char why[160];
	EVP_PKEY *key = NULL;
	int rc = xlmig_tls_read_pem(dir, "host.key", &key, NULL);

	if (rc == XLMIG_OK &&
	    (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1))
		rc = xlmig_fail(XLMIG_E_FORMAT, "%s/host.key is not the private key of host.crt (%s)",
				dir, ssl_reason(why, sizeof(why)));
	EVP_PKEY_free(key);
	return rc;
}

/* A host whose own certificate its CA does not vouch for would be refused
 * by every peer: say so at start-up instead. */
static int check_own_cert(struct xlmig_tls *t, const char *dir)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int ok = vc && X509_STORE_CTX_init(vc, SSL_CTX_get_cert_store(t->ctx),
					   SSL_CTX_get0_certificate(t->ctx), NULL) == 1 &&
		 X509_verify_cert(vc) == 1;
	int err = vc ? X509_STORE_CTX_get_error(vc) : X509_V_ERR_OUT_OF_MEM;

	X509_STORE_CTX_free(vc);
	ERR_clear_error();
	if (!ok)
		return xlmig_fail(XLMIG_E_AUTH, "%s/host.crt does not verify against %s/ca.crt (%s): "
				  "issue it again with xlmig setup-tls host", dir, dir,
				  X509_verify_cert_error_string(err));
	return XLMIG_OK;
}

static int load_peers(struct xlmig_tls *t, const char *dir)
{
	char buf[XLMIG_TLS_PEERS_FILE_MAX], path[512];
	size_t len;
	int rc;

	rc = read_trusted(dir, "peers", false, buf, sizeof(buf), &len, path, sizeof(path));
	if (rc == XLMIG_E_NOTFOUND)
		return xlmig_fail_prefix(rc, "list the hosts that may send migrations here, one "
					 "a line ('*' for every host of the CA)");
	if (rc == XLMIG_OK)
		rc = xlmig_tls_peers_parse(buf, len, &t->peers);
	if (rc != XLMIG_OK)
		xlmig_fail_prefix(rc, "%s", path);
	return rc;
}

/* ---- which AEAD first ---- */

/* Bytes per CPU-second this thread seals with cipher (0 if it cannot). */
static double aead_rate(const EVP_CIPHER *cipher, uint8_t *buf)
{
	static const uint8_t key[32], iv[12];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint64_t start, spent = 0, bytes = 0;
	int len;

	/* One untimed round first: a cipher's first run pays for its code's
	 * first use (under an emulator, its translation), which the
	 * channels will not. */
	if (!ctx || EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, buf, &len, buf, AEAD_PROBE_BYTES) != 1)
		goto out;
	start = xlmig_thread_cpu_ns();
	do {
		if (EVP_EncryptUpdate(ctx, buf, &len, buf, AEAD_PROBE_BYTES) != 1)
			goto out;
		bytes += AEAD_PROBE_BYTES;
		spent = xlmig_thread_cpu_ns() - start;
	} while (spent < AEAD_PROBE_NS);
out:
	EVP_CIPHER_CTX_free(ctx);
	return spent ? (double)bytes * 1e9 / (double)spent : 0;
}

/* Measure both AEADs on this CPU (into t->aead_bps) and say which goes
 * first: ChaCha20 only where AES is clearly the slower (CHACHA_MARGIN). */
static enum xlmig_tls_aead aead_rates(struct xlmig_tls *t)
{
	uint8_t *buf = calloc(1, AEAD_PROBE_BYTES);

	if (buf) {
		t->aead_bps[XLMIG_TLS_AES_GCM] = aead_rate(EVP_aes_128_gcm(), buf);
		t->aead_bps[XLMIG_TLS_CHACHA20] = aead_rate(EVP_chacha20_poly1305(), buf);
	}
	free(buf);
	return t->aead_bps[XLMIG_TLS_CHACHA20] > CHACHA_MARGIN * t->aead_bps[XLMIG_TLS_AES_GCM] ?
	       XLMIG_TLS_CHACHA20 : XLMIG_TLS_AES_GCM;
}

int xlmig_tls_prefer(struct xlmig_tls *t, enum xlmig_tls_aead first)
{
	char why[160];
	const char *suites = first == XLMIG_TLS_CHACHA20 ? SUITES_CHACHA_FIRST : SUITES_AES_FIRST;

	if (SSL_CTX_set_ciphersuites(t->ctx, suites) != 1)
		return xlmig_fail(XLMIG_E_IO, "cannot set the TLS cipher suites: %s",
				  ssl_reason(why, sizeof(why)));
	t->first = first;
	return XLMIG_OK;
}

const char *xlmig_tls_preference(const struct xlmig_tls *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s first (this CPU seals %.0f MB/s with AES-128-GCM, %.0f MB/s "
		 "with ChaCha20-Poly1305)",
		 t->first == XLMIG_TLS_CHACHA20 ? "ChaCha20-Poly1305" : "AES-128-GCM",
		 t->aead_bps[XLMIG_TLS_AES_GCM] / 1e6, t->aead_bps[XLMIG_TLS_CHACHA20] / 1e6);
	return buf;
}

/* ---- the context ---- */

static int make_ctx(struct xlmig_tls *t)
{
	char why[160];

	t->ctx = SSL_CTX_new(TLS_method());
	if (!t->ctx ||
	    SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION) != 1)
		return xlmig_fail(XLMIG_E_IO, "cannot set up TLS: %s", ssl_reason(why, sizeof(why)));
	if (xlmig_tls_prefer(t, aead_rates(t)) != XLMIG_OK)
		return XLMIG_E_IO;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Every channel is a fresh full handshake: nothing to resume. */
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(t->ctx, 0);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
			    SSL_OP_IGNORE_UNEXPECTED_EOF |
			    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA
#ifdef SSL_OP_ENABLE_KTLS
			    | SSL_OP_ENABLE_KTLS
#endif
			    );
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read what the socket has in one call instead of a record header
	 * then its body (bench/tls: about a tenth less CPU per byte).  It
	 * keeps bytes above the fd, so readiness is SSL_has_pending()'s; the
	 * kernel's TLS receive (kTLS) then stays off, its send does not. */
	SSL_CTX_set_read_ahead(t->ctx, 1);
	return XLMIG_OK;
}

int xlmig_tls_open(const char *dir, struct xlmig_tls **out)
{
	struct xlmig_tls *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for TLS");
	rc = make_ctx(t);
	if (rc == XLMIG_OK)
		rc = load_ca(t->ctx, dir);
	if (rc == XLMIG_OK)
		rc = load_cert(t, dir);
	if (rc == XLMIG_OK)
		rc = load_key(t->ctx, dir);
	if (rc == XLMIG_OK)
		rc = check_own_cert(t, dir);
	if (rc == XLMIG_OK)
		rc = load_peers(t, dir);
	if (rc != XLMIG_OK) {
		xlmig_tls_free(t);
		return xlmig_fail_prefix(rc, "TLS identity in %s (create it with xlmig setup-tls)",
					 dir);
	}
	*out = t;
	return XLMIG_OK;
}

void xlmig_tls_free(struct xlmig_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	xlmig_tls_peers_free(&t->peers);
	free(t);
}

const char *xlmig_tls_name(const struct xlmig_tls *t) { return t->name; }

unsigned xlmig_tls_peer_count(const struct xlmig_tls *t)
{
	return t->peers.any ? UINT_MAX : t->peers.n;
}

bool xlmig_tls_peer_allowed(const struct xlmig_tls *t, const char *name)
{
	return xlmig_tls_peers_allow(&t->peers, name);
}

/* ---- the channel transport ---- */

struct tls_conn {
	SSL *ssl;
	int fd;
	pthread_mutex_t lock;
	char why[160];     /* the last TLS failure, for the channel's message */
};

/* Map a failed SSL call to the channel's convention (under the lock). */
static ssize_t tls_result(struct tls_conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno) {
			ERR_clear_error();
			return -errno;
		}
		return 0;
	default:
		ssl_reason(c->why, sizeof(c->why));
		return -EPROTO;
	}
}

static ssize_t tls_read(void *ctx, void *buf, size_t len)
{
	struct tls_conn *c = ctx;
	size_t n = 0;
	ssize_t r;
	int ret;

	pthread_mutex_lock(&c->lock);
	errno = 0;
	ret = SSL_read_ex(c->ssl, buf, len, &n);
	r = ret == 1 ? (ssize_t)n : tls_result(c, ret);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* OpenSSL writes to the socket with write(), which raises SIGPIPE when
 * the peer has gone: each call that may write runs inside a SIGPIPE
 * guard (common.h). */
static ssize_t tls_write(void *ctx, const void *buf, size_t len)
{
	struct tls_conn *c = ctx;
	struct xlmig_sigpipe_guard g;
	size_t n = 0;
	ssize_t r;
	int ret;

	xlmig_sigpipe_block(&g);
	pthread_mutex_lock(&c->lock);
	errno = 0;
	ret = SSL_write_ex(c->ssl, buf, len, &n);
	r = ret == 1 ? (ssize_t)n : tls_result(c, ret);
	if (r == 0)
		r = -EPIPE;  /* a write never ends input */
	pthread_mutex_unlock(&c->lock);
	xlmig_sigpipe_restore(&g);
	return r;
}

static int tls_pollfd(void *ctx, bool for_write) { return ((struct tls_conn *)ctx)->fd; }

static bool tls_pending(void *ctx)
{
	struct tls_conn *c = ctx;
	bool p;

	pthread_mutex_lock(&c->lock);
	p = SSL_has_pending(c->ssl);
	pthread_mutex_unlock(&c->lock);
	return p;
}

static const char *tls_strerror(void *ctx, int err)
{
	struct tls_conn *c = ctx;

	return err == EPROTO && c->why[0] ? c->why : strerror(err);
}

static void tls_close(void *ctx)
{
	struct tls_conn *c = ctx;

	if (c->ssl && SSL_is_init_finished(c->ssl)) {
		struct xlmig_sigpipe_guard g;

		xlmig_sigpipe_block(&g);
		SSL_shutdown(c->ssl);  /* best effort: one non-blocking try */
		xlmig_sigpipe_restore(&g);
	}
	SSL_free(c->ssl);
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct xlmig_chan_ops tls_ops = {
	.read = tls_read, .write = tls_write, .pollfd = tls_pollfd,
	.pending = tls_pending, .close = tls_close, .strerror = tls_strerror,
};

/* ---- handshakes ---- */

/* Run the TLS handshake to its end or the deadline. */
static int drive_handshake(struct tls_conn *c, int timeout_ms)
{
	uint64_t deadline = xlmig_now_ns() + (uint64_t)XLMIG_MAX(timeout_ms, 0) * 1000000;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd };
		struct xlmig_sigpipe_guard g;
		uint64_t now;
		int ret, err;

		xlmig_sigpipe_block(&g);
		errno = 0;
		ret = SSL_do_handshake(c->ssl);
		xlmig_sigpipe_restore(&g);
		if (ret == 1)
			return XLMIG_OK;
		err = SSL_get_error(c->ssl, ret);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			long v = SSL_get_verify_result(c->ssl);

			if (v != X509_V_OK)
				snprintf(c->why, sizeof(c->why), "certificate refused: %s",
					 X509_verify_cert_error_string(v));
			else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
				snprintf(c->why, sizeof(c->why), "%s", errno ? strerror(errno)
					 : "connection closed by the peer (does it refuse this "
					   "host's certificate, or not speak TLS?)");
			else
				ssl_reason(c->why, sizeof(c->why));
			ERR_clear_error();
			return xlmig_fail(XLMIG_E_AUTH, "TLS handshake failed: %s", c->why);
		}
		now = xlmig_now_ns();
		if (now >= deadline)
			return xlmig_fail(XLMIG_E_TIMEOUT, "TLS handshake not done within %d ms",
					  timeout_ms);
		pfd.events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000)) < 0 && errno != EINTR)
			return xlmig_fail(XLMIG_E_IO, "poll: %s", strerror(errno));
	}
}

static int fill_binding(struct xlmig_tls *t, struct tls_conn *c, struct xlmig_chan_binding *b)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	unsigned fplen = 0;
	int rc;

	memset(b, 0, sizeof(*b));
	snprintf(b->local, sizeof(b->local), "%s", t->name);
	if (!peer)
		return xlmig_fail(XLMIG_E_AUTH, "the peer presented no certificate");
	rc = xlmig_tls_cert_name(peer, b->peer, sizeof(b->peer));
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "the peer's certificate");
	if (X509_digest(peer, EVP_sha256(), b->peer_fp, &fplen) != 1 || fplen != 32 ||
	    SSL_export_keying_material(c->ssl, b->secret, sizeof(b->secret), EXPORTER_LABEL,
				       strlen(EXPORTER_LABEL), NULL, 0, 0) != 1)
		return xlmig_fail(XLMIG_E_IO, "cannot derive the channel's secret: %s",
				  ssl_reason(c->why, sizeof(c->why)));
	snprintf(b->cipher, sizeof(b->cipher), "%s",
		 SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
	b->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) > 0;
	b->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(c->ssl)) > 0;
	return XLMIG_OK;
}

static int tls_start(struct xlmig_tls *t, int fd, const char *host, const char *chan_name,
		     int timeout_ms, struct xlmig_chan **out)
{
	struct tls_conn *c = calloc(1, sizeof(*c));
	struct xlmig_chan_binding b;
	struct xlmig_chan *ch = NULL;
	int rc = XLMIG_OK;

	if (!c) {
		close(fd);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a TLS connection");
	}
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	c->ssl = SSL_new(t->ctx);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot make fd %d non-blocking: %s", fd,
				strerror(errno));
		goto out;
	}
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start TLS: %s",
				ssl_reason(c->why, sizeof(c->why)));
		goto out;
	}
	if (host) {
		/* SSL_set1_host takes a name or an address; a name also goes in
		 * SNI.  The dialled text is what the certificate must name. */
		if (SSL_set1_host(c->ssl, host) != 1) {
			rc = xlmig_fail(XLMIG_E_INVAL, "cannot check the certificate of '%s'", host);
			goto out;
		}
		if (!strchr(host, ':') && strspn(host, "0123456789.") != strlen(host))
			SSL_set_tlsext_host_name(c->ssl, host);
		SSL_set_connect_state(c->ssl);
	} else {
		SSL_set_accept_state(c->ssl);
	}
	rc = drive_handshake(c, timeout_ms);
	if (rc == XLMIG_OK)
		rc = fill_binding(t, c, &b);
	if (rc == XLMIG_OK && !host && !xlmig_tls_peer_allowed(t, b.peer))
		rc = xlmig_fail(XLMIG_E_AUTH, "host '%s' may not send migrations here (it is not "
				"in the peers file of this host's TLS directory)", b.peer);
	if (rc == XLMIG_OK)
		rc = xlmig_chan_new(&tls_ops, c, chan_name, &ch);
	if (rc == XLMIG_OK) {
		c = NULL;  /* the channel owns it now */
		rc = xlmig_chan_set_binding(ch, &b);
	}
	OPENSSL_cleanse(&b, sizeof(b));
out:
	if (c)
		tls_close(c);
	if (rc != XLMIG_OK) {
		xlmig_chan_free(ch);
		return xlmig_fail_prefix(rc, "%s", chan_name);
	}
	*out = ch;
	return XLMIG_OK;
}

int xlmig_tls_client(struct xlmig_tls *t, int fd, const char *host, const char *chan_name,
		     int timeout_ms, struct xlmig_chan **out)
{
	return tls_start(t, fd, host, chan_name, timeout_ms, out);
}

int xlmig_tls_server(struct xlmig_tls *t, int fd, const char *chan_name, int timeout_ms,
		     struct xlmig_chan **out)
{
	return tls_start(t, fd, NULL, chan_name, timeout_ms, out);
}
