/*
 * xorrle.h - run-length coding of the XOR between a page and its previous
 * copy, the codec's cheap DELTA form.  A page rewritten in a few places
 * XORs to long zero runs with a few short literals between them.
 *
 * Format: a sequence of tokens, each
 *     varint zeros   bytes of XOR that are zero
 *     varint lits    (>= 1) bytes of XOR given literally
 *     lits bytes
 * where a varint is LEB128 of at most two bytes.  The XOR bytes after the
 * last token are zero, so an empty payload means "unchanged".
 */
#ifndef XLMIG_XORRLE_H
#define XLMIG_XORRLE_H

#include "common.h"

/* x[i] = a[i] ^ b[i] for one page. */
void xlmig_xorrle_xor(uint8_t *x, const uint8_t *a, const uint8_t *b);

/* Code the XOR page x into out; the length, or -1 if it needs more than
 * cap bytes. */
int xlmig_xorrle_encode(const uint8_t *x, uint8_t *out, size_t cap);

/* XLMIG_OK if p[0..len) is a well-formed run list for one page, else
 * XLMIG_E_FORMAT with a message. */
int xlmig_xorrle_check(const uint8_t *p, size_t len);

/* page ^= the XOR p describes; p must have passed xlmig_xorrle_check. */
void xlmig_xorrle_apply(uint8_t *page, const uint8_t *p, size_t len);

#endif
