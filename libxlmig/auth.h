/*
 * auth.h - the pre-shared key that authenticates migration peers, and the
 * HMAC-SHA256 proofs built from it.
 *
 * Both hosts hold the same secret key in a file (hex, 16 to 64 bytes;
 * xlmig_key_generate() writes a fresh 32-byte one).  A key file that
 * every user may read is refused: whoever reads it can pose as either
 * host.  In the handshake each side proves it holds the key by an HMAC
 * over a label naming its role and the messages exchanged (which carry a
 * fresh random nonce from each side), so a proof is neither replayable
 * nor reflectable to the other role.
 */
#ifndef XLMIG_AUTH_H
#define XLMIG_AUTH_H

#include "common.h"

#define XLMIG_KEY_MIN     16u
#define XLMIG_KEY_MAX     64u
#define XLMIG_KEY_GEN_LEN 32u
#define XLMIG_MAC_LEN     32u
#define XLMIG_NONCE_LEN   32u

struct xlmig_key {
	size_t len;
	uint8_t bytes[XLMIG_KEY_MAX];
};

/* Load a key file: a regular file of this process's user, closed to
 * group and others, holding the key in hex ('#' comment lines and
 * whitespace allowed). */
int xlmig_key_load(const char *path, struct xlmig_key *key);
/* Parse hex text (the key file's contents). */
int xlmig_key_parse(const char *text, size_t len, struct xlmig_key *key);
/* Write a new random key to path (mode 0600; refuses to replace a file). */
int xlmig_key_generate(const char *path);
void xlmig_key_wipe(struct xlmig_key *key);

/* Secrets kept out of core dumps and swap: once the secure heap exists
 * (OpenSSL's: locked in memory, MADV_DONTDUMP), keys allocated here live
 * in it, and so do the private keys OpenSSL loads (a certificate's EC
 * key).  A daemon calls xlmig_secure_heap_init() before it loads any;
 * without it, xlmig_key_new() falls back to the ordinary heap. */
int xlmig_secure_heap_init(void);
/* A zeroed key (NULL when out of memory); xlmig_key_free wipes it. */
struct xlmig_key *xlmig_key_new(void);
void xlmig_key_free(struct xlmig_key *key);

/* Read a whole file that xlmig trusts into buf (NUL-terminated, at most
 * size - 1 bytes), refusing one that others could read (secret) or change:
 * a secret must belong to this process's user and be closed to group and
 * others; any other such file must belong to this user or root and be
 * writable by nobody else.  Errors say which command fixes the file. */
int xlmig_file_read_checked(const char *path, bool secret, char *buf, size_t size,
			    size_t *len);

/* Cryptographically random bytes. */
int xlmig_random(void *buf, size_t len);

/* One piece of a MAC's input. */
struct xlmig_bytes {
	const void *data;
	size_t len;
};
/* out = HMAC-SHA256(key, label || parts[0] || ... || parts[n-1]). */
int xlmig_auth_mac(const struct xlmig_key *key, const char *label,
		   const struct xlmig_bytes *parts, size_t n, uint8_t out[XLMIG_MAC_LEN]);
/* Compare in constant time (no timing hint of where a forged proof differs). */
bool xlmig_auth_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
