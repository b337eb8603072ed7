/*
 * handshake.h - how two xlmig hosts agree to talk: protocol version,
 * features, channel count and limits, and mutual authentication.
 *
 * First connection (the client is the source host):
 *
 *   client -> HELLO    format, min..max protocol version, auth flag,
 *                      features wanted, channels wanted, delta cache
 *                      size, largest payload accepted, client nonce
 *   server -> WELCOME  chosen version, its own min..max, chosen features,
 *                      granted channels, cache size, payload limit,
 *                      session id, server nonce
 *          or ERROR    UNSUPPORTED ("peer speaks xlmig protocol 2..3, this
 *                      host 1..1; upgrade the destination") or AUTH
 *   client -> AUTH     HMAC(key, "xlmig-1 client" || HELLO || WELCOME)
 *   server -> READY    HMAC(key, "xlmig-1 server" || HELLO || WELCOME)
 *          or ERROR    AUTH: wrong proof, nothing else happens
 *
 * The client proves first, so a peer without the key learns nothing but a
 * nonce and the refusal; the client then checks the server's proof and, if
 * wrong, sends ERROR AUTH before sending anything else.  Both proofs cover
 * both nonces and every negotiated field, so a proof replayed from another
 * session or altered parameters fail.
 *
 * Further channels connect to the same address:
 *
 *   client -> JOIN     session id, channel index, join nonce,
 *                      HMAC(key, "xlmig-1 join" || T || id || index || nonce)
 *   server -> JOINED   HMAC(key, "xlmig-1 joined" || T || id || index || nonce)
 *
 * where T is the SHA-256 of the first connection's HELLO and WELCOME, so a
 * JOIN is only good for its own session.  The server reads the first frame
 * of every accepted connection (xlmig_handshake_read_first) and tells a new
 * session from a JOIN; the caller finds the session by its id.
 *
 * On TLS (tls.h) the proofs also cover both hosts' certificate names and
 * the connection's exporter secret, and a JOIN's proof the joining
 * connection's own secret; the MAC key is the pre-shared key when both
 * hosts have one (an additional check), else channel 0's secret.  A proof
 * is then good on one connection only: a HELLO reflected to its own host
 * or relayed to another fails, and a JOIN is accepted only from the host
 * whose certificate opened the session.
 *
 * Without TLS or a key ("insecure": loopback, or transports that
 * authenticate themselves, e.g. an ssh pipe) proofs are all zero and
 * unchecked.  Both ends must agree on the key; a mismatch is refused as
 * AUTH.  Every read has a timeout.
 */
#ifndef XLMIG_HANDSHAKE_H
#define XLMIG_HANDSHAKE_H

#include "auth.h"
#include "chan.h"
#include "common.h"
#include "wire.h"

#define XLMIG_PROTO_MIN 1
#define XLMIG_PROTO_MAX 1

enum {
	XLMIG_FEAT_ZSTD = 1u << 0,      /* zstd on stream bytes and pages */
	XLMIG_FEAT_DELTA = 1u << 1,     /* delta cache in the page codec */
	XLMIG_FEAT_MULTICHAN = 1u << 2, /* more than one channel */
	XLMIG_FEAT_SIDE = 1u << 3,      /* side records */
	XLMIG_FEAT_GMAC = 1u << 4,      /* END's stream digest is GMAC, not SHA-256
					 * (stream_digest.h); a host without it
					 * drops the bit, and both keep SHA-256 */
	XLMIG_FEAT_PROGRESS = 1u << 5,  /* the destination reports in PROGRESS
					 * frames how much of the stream it took */
	XLMIG_FEAT_POLY1305 = 1u << 6,  /* END's stream digest is Poly1305, which
					 * goes before GMAC where both have it */
	XLMIG_FEAT_DELTA_RESENT = 1u << 7,   /* the delta cache keeps pages from
					      * their second send on (codec.h) */
	XLMIG_FEAT_ALL = 0xffu,
};

#define XLMIG_MAX_CHANNELS    16u
#define XLMIG_SESSION_ID_LEN  16u
#define XLMIG_HANDSHAKE_HELLO_LEN    72u
#define XLMIG_HANDSHAKE_WELCOME_LEN  80u
#define XLMIG_HANDSHAKE_JOIN_LEN     88u

/* What a client asks for, or the most a server allows. */
struct xlmig_handshake_offer {
	uint16_t min_version, max_version;
	uint32_t features;
	uint32_t channels;
	uint64_t cache_bytes;
	uint32_t max_payload;
};
/* This build's versions, every feature, 4 channels, the codec's default
 * cache, XLMIG_WIRE_MAX_PAYLOAD. */
void xlmig_handshake_offer_default(struct xlmig_handshake_offer *o);

/* What both ends agreed. */
struct xlmig_handshake_session {
	uint16_t version;
	uint32_t features;
	uint32_t channels;
	uint64_t cache_bytes;
	uint32_t max_payload;
	uint8_t id[XLMIG_SESSION_ID_LEN];
	uint8_t transcript[32];   /* SHA-256 of HELLO and WELCOME */
	bool authenticated;       /* by the pre-shared key */
	/* TLS: what channel 0's connection proved (tls.h) */
	bool tls;
	uint8_t secret[XLMIG_CHAN_SECRET_LEN]; /* channel 0's exporter value */
	uint8_t peer_fp[32];      /* the peer's certificate */
	char peer[XLMIG_CHAN_NAME_MAX]; /* its name */
};

/* The first message on an accepted connection. */
struct xlmig_handshake_first {
	bool is_join;
	uint8_t msg[XLMIG_WIRE_MAX_HANDSHAKE];
	size_t len;
	/* JOIN only */
	uint8_t id[XLMIG_SESSION_ID_LEN];
	uint32_t index;
};

int xlmig_handshake_read_first(struct xlmig_chan *ch, int timeout_ms,
			       struct xlmig_handshake_first *first);

/* key NULL = insecure. */
int xlmig_handshake_client(struct xlmig_chan *ch, const struct xlmig_key *key,
		    const struct xlmig_handshake_offer *offer, int timeout_ms,
		    struct xlmig_handshake_session *out);
int xlmig_handshake_server(struct xlmig_chan *ch, const struct xlmig_key *key,
		    const struct xlmig_handshake_offer *limits, const struct xlmig_handshake_first *first,
		    int timeout_ms, struct xlmig_handshake_session *out);

int xlmig_handshake_join_client(struct xlmig_chan *ch, const struct xlmig_key *key,
			 const struct xlmig_handshake_session *s, uint32_t index, int timeout_ms);
/* Check a JOIN against session s (id, index range, proof) and answer it
 * (JOINED, or ERROR).  Whether the index is still free is the caller's. */
int xlmig_handshake_join_server(struct xlmig_chan *ch, const struct xlmig_key *key,
			 const struct xlmig_handshake_session *s, const struct xlmig_handshake_first *first,
			 int timeout_ms);

/* Parsers, exposed for the fuzzers: each checks a message completely. */
int xlmig_handshake_parse_hello(const uint8_t *p, size_t len, struct xlmig_handshake_offer *o,
			 bool *auth, const uint8_t **nonce);
int xlmig_handshake_parse_welcome(const uint8_t *p, size_t len,
				  const struct xlmig_handshake_offer *asked,
			   bool auth, struct xlmig_handshake_session *s);

#endif
