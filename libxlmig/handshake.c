/*
 * handshake.c - version and feature negotiation, mutual authentication,
 * and channel joins.
 *
 * HELLO (72 bytes, extra bytes from later formats are ignored but MACed):
 *   0 "xlmig-hi"  8 le16 format  10 le16 min  12 le16 max  14 le16 flags
 *   16 le32 features  20 le32 channels  24 le64 cache  32 le32 max payload
 *   36 le32 0  40 nonce[32]
 * WELCOME (80 bytes):
 *   0 le16 version  2 le16 min  4 le16 max  6 le16 flags  8 le32 features
 *   12 le32 channels  16 le64 cache  24 le32 max payload  28 le32 0
 *   32 session id[16]  48 nonce[32]
 * JOIN (88 bytes): id[16], le32 index, le32 0, nonce[32], proof[32]
 * AUTH, READY, JOINED: proof[32]
 */
#include <openssl/evp.h>

#include "codec.h"
#include "handshake.h"

#define HELLO_MAGIC     "xlmig-hi"
#define HELLO_FORMAT    1
#define FLAG_AUTH       0x0001u
#define MAX_CACHE_BYTES (1ull << 40)
#define FAILURE_MAX     (4 + XLMIG_WIRE_MAX_TEXT)

#define LABEL_CLIENT "xlmig-1 client"
#define LABEL_SERVER "xlmig-1 server"
#define LABEL_JOIN   "xlmig-1 join"
#define LABEL_JOINED "xlmig-1 joined"

void xlmig_handshake_offer_default(struct xlmig_handshake_offer *o)
{
	*o = (struct xlmig_handshake_offer){
		.min_version = XLMIG_PROTO_MIN,
		.max_version = XLMIG_PROTO_MAX,
		.features = XLMIG_FEAT_ALL,
		.channels = 4,
		.cache_bytes = XLMIG_CODEC_DEFAULT_CACHE,
		.max_payload = XLMIG_WIRE_MAX_PAYLOAD,
	};
}

/* ---- messages ---- */

static void build_hello(const struct xlmig_handshake_offer *o, bool auth,
			const uint8_t nonce[XLMIG_NONCE_LEN], uint8_t out[XLMIG_HANDSHAKE_HELLO_LEN])
{
	memset(out, 0, XLMIG_HANDSHAKE_HELLO_LEN);
	memcpy(out, HELLO_MAGIC, 8);
	xlmig_put_le16(out + 8, HELLO_FORMAT);
	xlmig_put_le16(out + 10, o->min_version);
	xlmig_put_le16(out + 12, o->max_version);
	xlmig_put_le16(out + 14, auth ? FLAG_AUTH : 0);
	xlmig_put_le32(out + 16, o->features);
	xlmig_put_le32(out + 20, o->channels);
	xlmig_put_le64(out + 24, o->cache_bytes);
	xlmig_put_le32(out + 32, o->max_payload);
	memcpy(out + 40, nonce, XLMIG_NONCE_LEN);
}

int xlmig_handshake_parse_hello(const uint8_t *p, size_t len, struct xlmig_handshake_offer *o,
			 bool *auth, const uint8_t **nonce)
{
	if (len < XLMIG_HANDSHAKE_HELLO_LEN || memcmp(p, HELLO_MAGIC, 8) != 0 ||
	    xlmig_get_le16(p + 8) < HELLO_FORMAT)
		return xlmig_fail(XLMIG_E_FORMAT, "malformed HELLO (%zu bytes): not an xlmig source?",
				  len);
	o->min_version = xlmig_get_le16(p + 10);
	o->max_version = xlmig_get_le16(p + 12);
	*auth = (xlmig_get_le16(p + 14) & FLAG_AUTH) != 0;
	o->features = xlmig_get_le32(p + 16) & XLMIG_FEAT_ALL;
	o->channels = xlmig_get_le32(p + 20);
	o->cache_bytes = xlmig_get_le64(p + 24);
	o->max_payload = xlmig_get_le32(p + 32);
	*nonce = p + 40;
	if (o->min_version == 0 || o->min_version > o->max_version)
		return xlmig_fail(XLMIG_E_FORMAT, "HELLO with protocol versions %u..%u",
				  o->min_version, o->max_version);
	if (o->channels == 0 || o->channels > XLMIG_MAX_CHANNELS ||
	    o->cache_bytes > MAX_CACHE_BYTES || o->max_payload < XLMIG_WIRE_MIN_PAYLOAD)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "HELLO asks for %u channels, a %llu-byte cache, %u-byte frames",
				  o->channels, (unsigned long long)o->cache_bytes, o->max_payload);
	return XLMIG_OK;
}

static void build_welcome(const struct xlmig_handshake_session *s,
			  const struct xlmig_handshake_offer *limits,
			  const uint8_t nonce[XLMIG_NONCE_LEN], uint8_t out[XLMIG_HANDSHAKE_WELCOME_LEN])
{
	memset(out, 0, XLMIG_HANDSHAKE_WELCOME_LEN);
	xlmig_put_le16(out, s->version);
	xlmig_put_le16(out + 2, limits->min_version);
	xlmig_put_le16(out + 4, limits->max_version);
	xlmig_put_le16(out + 6, s->authenticated ? FLAG_AUTH : 0);
	xlmig_put_le32(out + 8, s->features);
	xlmig_put_le32(out + 12, s->channels);
	xlmig_put_le64(out + 16, s->cache_bytes);
	xlmig_put_le32(out + 24, s->max_payload);
	memcpy(out + 32, s->id, XLMIG_SESSION_ID_LEN);
	memcpy(out + 48, nonce, XLMIG_NONCE_LEN);
}

int xlmig_handshake_parse_welcome(const uint8_t *p, size_t len,
				  const struct xlmig_handshake_offer *asked,
			   bool auth, struct xlmig_handshake_session *s)
{
	if (len != XLMIG_HANDSHAKE_WELCOME_LEN)
		return xlmig_fail(XLMIG_E_FORMAT, "WELCOME of %zu bytes (expected %u)", len,
				  XLMIG_HANDSHAKE_WELCOME_LEN);
	s->version = xlmig_get_le16(p);
	s->authenticated = (xlmig_get_le16(p + 6) & FLAG_AUTH) != 0;
	s->features = xlmig_get_le32(p + 8);
	s->channels = xlmig_get_le32(p + 12);
	s->cache_bytes = xlmig_get_le64(p + 16);
	s->max_payload = xlmig_get_le32(p + 24);
	memcpy(s->id, p + 32, XLMIG_SESSION_ID_LEN);
	if (s->version < asked->min_version || s->version > asked->max_version)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "destination chose xlmig protocol %u, this host speaks %u..%u",
				  s->version, asked->min_version, asked->max_version);
	if (s->authenticated != auth)
		return xlmig_fail(XLMIG_E_AUTH, "destination %s authentication, this host %s",
				  s->authenticated ? "uses" : "skips", auth ? "requires it" : "skips it");
	if ((s->features & ~asked->features) || s->channels == 0 ||
	    s->channels > asked->channels ||
	    (!(s->features & XLMIG_FEAT_MULTICHAN) && s->channels != 1) ||
	    s->cache_bytes > asked->cache_bytes ||
	    (!(s->features & XLMIG_FEAT_DELTA) && s->cache_bytes != 0) ||
	    s->max_payload < XLMIG_WIRE_MIN_PAYLOAD || s->max_payload > asked->max_payload)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "destination granted what was not asked: features 0x%x, %u channels, "
				  "%llu-byte cache, %u-byte frames", s->features, s->channels,
				  (unsigned long long)s->cache_bytes, s->max_payload);
	return XLMIG_OK;
}

/* ---- helpers ---- */

static int transcript_hash(const uint8_t *hello, size_t hello_len, const uint8_t *welcome,
			   uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(md, hello, hello_len) == 1 &&
		  EVP_DigestUpdate(md, welcome, XLMIG_HANDSHAKE_WELCOME_LEN) == 1 &&
		  EVP_DigestFinal_ex(md, out, NULL) == 1;

	EVP_MD_CTX_free(md);
	return ok ? XLMIG_OK : xlmig_fail(XLMIG_E_IO, "SHA-256 failed in OpenSSL");
}

/* The key proofs are made with: the shared key when there is one, else
 * the TLS connection's own secret (both ends saw this very connection),
 * else none (an insecure session: proofs are all zero). */
static const struct xlmig_key *proof_key(const struct xlmig_key *key, const uint8_t *secret,
					 struct xlmig_key *tmp)
{
	if (key)
		return key;
	if (!secret)
		return NULL;
	tmp->len = XLMIG_CHAN_SECRET_LEN;
	memcpy(tmp->bytes, secret, XLMIG_CHAN_SECRET_LEN);
	return tmp;
}

static int mac_or_zero(const struct xlmig_key *k, const char *label,
		       const struct xlmig_bytes *parts, size_t n, uint8_t out[XLMIG_MAC_LEN])
{
	if (!k) {
		memset(out, 0, XLMIG_MAC_LEN);
		return XLMIG_OK;
	}
	return xlmig_auth_mac(k, label, parts, n, out);
}

/* The proof of one role over the session's first two messages and, on
 * TLS, over both hosts' certificate names and the connection's secret:
 * a proof is only good on the connection it was made for, so a HELLO
 * reflected to its own host, or relayed between two connections, fails. */
static int session_proof(const struct xlmig_key *key, const char *label,
			 const uint8_t *hello, size_t hello_len, const uint8_t *welcome,
			 const struct xlmig_chan_binding *b, bool client,
			 uint8_t out[XLMIG_MAC_LEN])
{
	const char *cn = b ? (client ? b->local : b->peer) : "";
	const char *sn = b ? (client ? b->peer : b->local) : "";
	struct xlmig_key tmp;
	struct xlmig_bytes parts[] = {
		{ hello, hello_len }, { welcome, XLMIG_HANDSHAKE_WELCOME_LEN },
		{ cn, strlen(cn) + 1 }, { sn, strlen(sn) + 1 },
		{ b ? b->secret : NULL, b ? XLMIG_CHAN_SECRET_LEN : 0 },
	};
	int rc = mac_or_zero(proof_key(key, b ? b->secret : NULL, &tmp), label, parts,
			     XLMIG_ARRAY_SIZE(parts), out);

	xlmig_key_wipe(&tmp);
	return rc;
}

/* A JOIN's proof: keyed like the session's, over its transcript, and on
 * TLS over the joining connection's own secret, so a JOIN is good for one
 * session and one connection. */
static int join_proof(const struct xlmig_key *key, const char *label,
		      const struct xlmig_handshake_session *s, uint32_t index,
		      const uint8_t nonce[XLMIG_NONCE_LEN], const struct xlmig_chan_binding *jb,
		      uint8_t out[XLMIG_MAC_LEN])
{
	uint8_t idx[4];
	struct xlmig_key tmp;
	struct xlmig_bytes parts[] = {
		{ s->transcript, sizeof(s->transcript) }, { s->id, XLMIG_SESSION_ID_LEN },
		{ idx, sizeof(idx) }, { nonce, XLMIG_NONCE_LEN },
		{ jb ? jb->secret : NULL, jb ? XLMIG_CHAN_SECRET_LEN : 0 },
	};
	int rc;

	xlmig_put_le32(idx, index);
	rc = mac_or_zero(proof_key(key, s->tls ? s->secret : NULL, &tmp), label, parts,
			 XLMIG_ARRAY_SIZE(parts), out);
	xlmig_key_wipe(&tmp);
	return rc;
}

static bool proof_ok(bool checked, const uint8_t *want, const uint8_t *got)
{
	return !checked || xlmig_auth_equal(want, got, XLMIG_MAC_LEN);
}

/* Record what TLS proved about channel 0 in the session. */
static void bind_session(struct xlmig_handshake_session *s, const struct xlmig_chan_binding *b)
{
	s->tls = b != NULL;
	if (!b)
		return;
	memcpy(s->secret, b->secret, sizeof(s->secret));
	memcpy(s->peer_fp, b->peer_fp, sizeof(s->peer_fp));
	snprintf(s->peer, sizeof(s->peer), "%s", b->peer);
}

/* Read the one message expected next; a peer's ERROR becomes its error. */
static int recv_msg(struct xlmig_chan *ch, uint8_t want, size_t want_len, int timeout_ms,
		    const char *peer_role, struct xlmig_frame *f)
{
	int rc = xlmig_wire_recv(ch, FAILURE_MAX, timeout_ms, timeout_ms, f);

	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "handshake with the %s", peer_role);
	if (f->hdr.type == XLMIG_FRAME_ERROR || f->hdr.type == XLMIG_FRAME_ABORT)
		return xlmig_wire_peer_failure(f, peer_role);
	if (f->hdr.type != want)
		return xlmig_fail(XLMIG_E_FORMAT, "handshake: the %s sent %s where %s was due",
				  peer_role, xlmig_frame_type_name(f->hdr.type),
				  xlmig_frame_type_name(want));
	if (want_len && f->payload.len != want_len)
		return xlmig_fail(XLMIG_E_FORMAT, "handshake: %s of %zu bytes (expected %zu)",
				  xlmig_frame_type_name(want), f->payload.len, want_len);
	return XLMIG_OK;
}

/* Tell the peer why it is refused (the message is this thread's) and
 * return code. */
static int refuse(struct xlmig_chan *ch, int code, int timeout_ms)
{
	xlmig_wire_send_failure(ch, code, xlmig_errmsg(), timeout_ms);
	return code;
}

/* ---- first connection ---- */

int xlmig_handshake_client(struct xlmig_chan *ch, const struct xlmig_key *key,
		    const struct xlmig_handshake_offer *offer, int timeout_ms,
		    struct xlmig_handshake_session *out)
{
	uint8_t hello[XLMIG_HANDSHAKE_HELLO_LEN], nonce[XLMIG_NONCE_LEN];
	uint8_t mine[XLMIG_MAC_LEN], theirs[XLMIG_MAC_LEN];
	const struct xlmig_chan_binding *b = xlmig_chan_binding(ch);
	struct xlmig_frame f = { 0 };
	const uint8_t *welcome;
	int rc;

	rc = xlmig_random(nonce, sizeof(nonce));
	if (rc != XLMIG_OK)
		goto out;
	build_hello(offer, key != NULL, nonce, hello);
	rc = xlmig_wire_send(ch, XLMIG_FRAME_HELLO, 0, 0, hello, sizeof(hello), timeout_ms);
	if (rc == XLMIG_OK)
		rc = recv_msg(ch, XLMIG_FRAME_WELCOME, 0, timeout_ms, "destination", &f);
	if (rc != XLMIG_OK)
		goto out;
	welcome = f.payload.data;
	rc = xlmig_handshake_parse_welcome(welcome, f.payload.len, offer, key != NULL, out);
	if (rc == XLMIG_OK)
		rc = transcript_hash(hello, sizeof(hello), welcome, out->transcript);
	if (rc == XLMIG_OK)
		rc = session_proof(key, LABEL_CLIENT, hello, sizeof(hello), welcome, b, true, mine);
	if (rc == XLMIG_OK)
		rc = session_proof(key, LABEL_SERVER, hello, sizeof(hello), welcome, b, true,
				   theirs);
	bind_session(out, b);
	if (rc != XLMIG_OK) {
		refuse(ch, rc, timeout_ms);
		goto out;
	}
	rc = xlmig_wire_send(ch, XLMIG_FRAME_AUTH, 0, 0, mine, sizeof(mine), timeout_ms);
	if (rc == XLMIG_OK)
		rc = recv_msg(ch, XLMIG_FRAME_READY, XLMIG_MAC_LEN, timeout_ms, "destination", &f);
	if (rc == XLMIG_OK && !proof_ok(key || b, theirs, f.payload.data))
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH,
					   "the destination does not hold this host's migration key "
					   "(or someone is in between): check the key file on both hosts"),
			    timeout_ms);
out:
	xlmig_frame_free(&f);
	return rc;
}

/* Fill s with what the server grants, or fail with the reason. */
static int negotiate(const struct xlmig_handshake_offer *c, bool client_auth,
		     const struct xlmig_handshake_offer *limits, const struct xlmig_key *key,
		     struct xlmig_handshake_session *s)
{
	uint16_t lo = XLMIG_MAX(c->min_version, limits->min_version);
	uint16_t hi = XLMIG_MIN(c->max_version, limits->max_version);

	if (lo > hi)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "peer speaks xlmig protocol %u..%u, this host %u..%u; upgrade the %s",
				  c->min_version, c->max_version, limits->min_version,
				  limits->max_version,
				  c->min_version > limits->max_version ? "destination" : "source");
	if (client_auth != (key != NULL))
		return xlmig_fail(XLMIG_E_AUTH, "%s",
				  key ? "the source offers no key but this host requires one: "
					"configure the same migration key on both hosts"
				      : "the source authenticates with a key but this host has none "
					"configured");
	s->version = hi;
	s->authenticated = key != NULL;
	s->features = c->features & limits->features;
	s->channels = s->features & XLMIG_FEAT_MULTICHAN
		      ? XLMIG_MAX(1u, XLMIG_MIN(c->channels, limits->channels)) : 1;
	s->cache_bytes = s->features & XLMIG_FEAT_DELTA
			 ? XLMIG_MIN(c->cache_bytes, limits->cache_bytes) : 0;
	s->max_payload = XLMIG_MIN(c->max_payload, limits->max_payload);
	return xlmig_random(s->id, sizeof(s->id));
}

int xlmig_handshake_server(struct xlmig_chan *ch, const struct xlmig_key *key,
		    const struct xlmig_handshake_offer *limits, const struct xlmig_handshake_first *first,
		    int timeout_ms, struct xlmig_handshake_session *out)
{
	uint8_t welcome[XLMIG_HANDSHAKE_WELCOME_LEN], nonce[XLMIG_NONCE_LEN];
	uint8_t mine[XLMIG_MAC_LEN], theirs[XLMIG_MAC_LEN];
	struct xlmig_handshake_offer c;
	const struct xlmig_chan_binding *b = xlmig_chan_binding(ch);
	struct xlmig_frame f = { 0 };
	const uint8_t *client_nonce;
	bool client_auth;
	int rc;

	if (first->is_join)
		return xlmig_fail(XLMIG_E_INVAL, "a JOIN does not start a session");
	rc = xlmig_handshake_parse_hello(first->msg, first->len, &c, &client_auth, &client_nonce);
	if (rc == XLMIG_OK)
		rc = negotiate(&c, client_auth, limits, key, out);
	if (rc == XLMIG_OK)
		rc = xlmig_random(nonce, sizeof(nonce));
	if (rc != XLMIG_OK) {
		refuse(ch, rc, timeout_ms);
		goto out;
	}
	build_welcome(out, limits, nonce, welcome);
	rc = transcript_hash(first->msg, first->len, welcome, out->transcript);
	if (rc == XLMIG_OK)
		rc = session_proof(key, LABEL_CLIENT, first->msg, first->len, welcome, b, false,
				   theirs);
	if (rc == XLMIG_OK)
		rc = session_proof(key, LABEL_SERVER, first->msg, first->len, welcome, b, false,
				   mine);
	bind_session(out, b);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(ch, XLMIG_FRAME_WELCOME, 0, 0, welcome, sizeof(welcome),
				     timeout_ms);
	if (rc == XLMIG_OK)
		rc = recv_msg(ch, XLMIG_FRAME_AUTH, XLMIG_MAC_LEN, timeout_ms, "source", &f);
	if (rc != XLMIG_OK)
		goto out;
	if (!proof_ok(key || b, theirs, f.payload.data)) {
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH,
					   "the source's proof does not match this connection (a wrong "
					   "migration key, or a handshake relayed from another "
					   "connection): refused"), timeout_ms);
		goto out;
	}
	rc = xlmig_wire_send(ch, XLMIG_FRAME_READY, 0, 0, mine, sizeof(mine), timeout_ms);
out:
	xlmig_frame_free(&f);
	return rc;
}

/* ---- joins ---- */

int xlmig_handshake_read_first(struct xlmig_chan *ch, int timeout_ms,
			       struct xlmig_handshake_first *first)
{
	struct xlmig_frame f = { 0 };
	int rc = xlmig_wire_recv(ch, XLMIG_WIRE_MAX_HANDSHAKE, timeout_ms, timeout_ms, &f);

	if (rc != XLMIG_OK)
		goto out;
	if (f.hdr.type != XLMIG_FRAME_HELLO && f.hdr.type != XLMIG_FRAME_JOIN) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "a connection must start with HELLO or JOIN, not %s",
				xlmig_frame_type_name(f.hdr.type));
		goto out;
	}
	first->is_join = f.hdr.type == XLMIG_FRAME_JOIN;
	first->len = f.payload.len;
	memcpy(first->msg, f.payload.data, f.payload.len);
	if (first->is_join) {
		if (f.payload.len != XLMIG_HANDSHAKE_JOIN_LEN) {
			rc = xlmig_fail(XLMIG_E_FORMAT, "JOIN of %zu bytes (expected %u)",
					f.payload.len, XLMIG_HANDSHAKE_JOIN_LEN);
			goto out;
		}
		memcpy(first->id, first->msg, XLMIG_SESSION_ID_LEN);
		first->index = xlmig_get_le32(first->msg + XLMIG_SESSION_ID_LEN);
	}
out:
	xlmig_frame_free(&f);
	if (rc != XLMIG_OK)
		xlmig_fail_prefix(rc, "%s", xlmig_chan_name(ch));
	return rc;
}

int xlmig_handshake_join_client(struct xlmig_chan *ch, const struct xlmig_key *key,
			 const struct xlmig_handshake_session *s, uint32_t index, int timeout_ms)
{
	uint8_t join[XLMIG_HANDSHAKE_JOIN_LEN] = { 0 }, want[XLMIG_MAC_LEN];
	uint8_t *nonce = join + XLMIG_SESSION_ID_LEN + 8;
	const struct xlmig_chan_binding *jb = xlmig_chan_binding(ch);
	struct xlmig_frame f = { 0 };
	int rc = XLMIG_OK;

	memcpy(join, s->id, XLMIG_SESSION_ID_LEN);
	xlmig_put_le32(join + XLMIG_SESSION_ID_LEN, index);
	if (s->tls != (jb != NULL) ||
	    (jb && !xlmig_auth_equal(jb->peer_fp, s->peer_fp, sizeof(s->peer_fp))))
		rc = xlmig_fail(XLMIG_E_AUTH, "channel %u does not reach the host that the session "
				"did (%s)", index, s->tls ? s->peer : "plain");
	if (rc == XLMIG_OK)
		rc = xlmig_random(nonce, XLMIG_NONCE_LEN);
	if (rc == XLMIG_OK)
		rc = join_proof(key, LABEL_JOIN, s, index, nonce, jb, nonce + XLMIG_NONCE_LEN);
	if (rc == XLMIG_OK)
		rc = join_proof(key, LABEL_JOINED, s, index, nonce, jb, want);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(ch, XLMIG_FRAME_JOIN, 0, 0, join, sizeof(join), timeout_ms);
	if (rc == XLMIG_OK)
		rc = recv_msg(ch, XLMIG_FRAME_JOINED, XLMIG_MAC_LEN, timeout_ms, "destination", &f);
	if (rc == XLMIG_OK && !proof_ok(key || jb, want, f.payload.data))
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH,
					   "channel %u: the destination does not hold this host's "
					   "migration key", index), timeout_ms);
	xlmig_frame_free(&f);
	return rc;
}

int xlmig_handshake_join_server(struct xlmig_chan *ch, const struct xlmig_key *key,
			 const struct xlmig_handshake_session *s, const struct xlmig_handshake_first *first,
			 int timeout_ms)
{
	const uint8_t *nonce = first->msg + XLMIG_SESSION_ID_LEN + 8;
	const struct xlmig_chan_binding *jb = xlmig_chan_binding(ch);
	uint8_t want[XLMIG_MAC_LEN], mine[XLMIG_MAC_LEN];
	int rc = XLMIG_OK;

	if (!first->is_join || first->len != XLMIG_HANDSHAKE_JOIN_LEN)
		return xlmig_fail(XLMIG_E_INVAL, "not a JOIN");
	if (!xlmig_auth_equal(first->id, s->id, XLMIG_SESSION_ID_LEN) ||
	    first->index == 0 || first->index >= s->channels)
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH, "JOIN for channel %u of an unknown session",
					   first->index), timeout_ms);
	/* A channel joins only from the host whose certificate opened the
	 * session, and only the way the session came (TLS or plain). */
	if (rc == XLMIG_OK && (s->tls != (jb != NULL) ||
			       (jb && !xlmig_auth_equal(jb->peer_fp, s->peer_fp,
							sizeof(s->peer_fp)))))
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH, "JOIN for channel %u from %s, not from "
					   "the host of the session (%s): refused", first->index,
					   jb ? jb->peer : "a plain connection",
					   s->tls ? s->peer : "plain"), timeout_ms);
	if (rc == XLMIG_OK)
		rc = join_proof(key, LABEL_JOIN, s, first->index, nonce, jb, want);
	if (rc == XLMIG_OK)
		rc = join_proof(key, LABEL_JOINED, s, first->index, nonce, jb, mine);
	if (rc == XLMIG_OK && !proof_ok(key || jb, want, nonce + XLMIG_NONCE_LEN))
		rc = refuse(ch, xlmig_fail(XLMIG_E_AUTH,
					   "JOIN for channel %u with a wrong proof: connection refused",
					   first->index), timeout_ms);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_send(ch, XLMIG_FRAME_JOINED, 0, 0, mine, sizeof(mine), timeout_ms);
	return rc;
}
