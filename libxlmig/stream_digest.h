/*
 * stream_digest.h - the end-to-end check of a transferred stream: what
 * the END frame carries, computed by the source over the stream it read
 * and by the destination over the stream it rebuilt.
 *
 * Three kinds, chosen by the handshake (XLMIG_FEAT_POLY1305, then
 * XLMIG_FEAT_GMAC; SHA-256 where the peer has neither):
 *
 *   SHA-256  what every xlmig host speaks; collision resistant against
 *            anyone.  About 1.4 GB/s per core with the CPU's SHA
 *            extensions, 0.4 GB/s without: at 2 GB of stream, 17-28 % of
 *            a migration's CPU on both hosts.
 *   GMAC     AES-256-GCM's authenticator over the stream, keyed per
 *            session from the handshake's transcript (and, on TLS, the
 *            connection's exporter secret), about 5 GB/s per core with
 *            AES-NI and carry-less multiply.  Two different streams of
 *            up to L 16-byte blocks get the same tag with probability at
 *            most L / 2^128 over the key (2^-100 for 4 GiB), whatever made
 *            them differ, as long as that cause does not know the key: the
 *            guest, the codecs and the links never see it.
 *   Poly1305 the one-time authenticator, keyed the same way (a new key
 *            for every session's one stream, as it must be): 13 GB/s a
 *            core against GMAC's 7 on the same CPU, and 740 MB/s against
 *            99 where carry-less multiply is emulated (a Xen host under
 *            QEMU's TCG, where GMAC was a tenth of a move's CPU).  A
 *            forgery of a stream of L 16-byte blocks succeeds with
 *            probability at most 8L / 2^106 (2^-75 for 4 GiB).
 *
 * The digest is 32 bytes in each case; a 16-byte tag (GMAC, Poly1305)
 * is followed by 16 zero bytes.
 *
 * A session of a daemon with itself (xlmig_conn_with_self: a localhost
 * migration within one xlmigd) takes none: 32 zero bytes.  Its bytes
 * cross no link and no other process, so there is nothing between the
 * two ends for a digest to catch, and on a host whose one CPU both ends
 * share GMAC was a sixth of the move's time.  The stream's length is
 * still checked, and `--verify` still compares the guest's memory.
 */
#ifndef XLMIG_STREAM_DIGEST_H
#define XLMIG_STREAM_DIGEST_H

#include "common.h"

#define XLMIG_STREAM_DIGEST_LEN 32u
#define XLMIG_STREAM_DIGEST_KEY_LEN 32u

enum xlmig_stream_digest_kind {
	XLMIG_STREAM_DIGEST_SHA256,
	XLMIG_STREAM_DIGEST_GMAC,
	XLMIG_STREAM_DIGEST_NONE,       /* in-process sessions only */
	XLMIG_STREAM_DIGEST_POLY1305,
};

struct xlmig_stream_digest;

/* key: XLMIG_STREAM_DIGEST_KEY_LEN bytes, GMAC and Poly1305 only (NULL
 * otherwise).
 * One key digests one stream: the IV is derived from it. */
int xlmig_stream_digest_new(enum xlmig_stream_digest_kind kind, const uint8_t *key,
			    struct xlmig_stream_digest **out);
int xlmig_stream_digest_add(struct xlmig_stream_digest *d, const void *data, size_t len);
/* Once: the digest of everything added. */
int xlmig_stream_digest_end(struct xlmig_stream_digest *d, uint8_t out[XLMIG_STREAM_DIGEST_LEN]);
void xlmig_stream_digest_free(struct xlmig_stream_digest *d);
const char *xlmig_stream_digest_name(enum xlmig_stream_digest_kind kind);

#endif
