/*
 * test_stream_digest.c - the END frame's digest: SHA-256 as before, GMAC
 * keyed per session, and a difference anywhere in a stream seen by both.
 */
#include "stream_digest.h"
#include "unit.h"

#include <stdlib.h>

static int digest_of(enum xlmig_stream_digest_kind kind, const uint8_t *key, const uint8_t *p,
		     size_t len, size_t piece, uint8_t out[XLMIG_STREAM_DIGEST_LEN])
{
	struct xlmig_stream_digest *d;
	int rc = xlmig_stream_digest_new(kind, key, &d);

	for (size_t off = 0; rc == XLMIG_OK && off < len; off += piece)
		rc = xlmig_stream_digest_add(d, p + off, len - off < piece ? len - off : piece);
	if (rc == XLMIG_OK)
		rc = xlmig_stream_digest_end(d, out);
	xlmig_stream_digest_free(d);
	return rc;
}

TEST(stream_digest_sha256_is_sha256)
{
	/* FIPS 180-2's "abc": what older peers compute must not change. */
	static const uint8_t want[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
		0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
		0xf2, 0x00, 0x15, 0xad };
	uint8_t out[32];

	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_SHA256, NULL, (const uint8_t *)"abc", 3, 1, out));
	CHECK(memcmp(out, want, 32) == 0);
}

TEST(stream_digest_gmac_keyed_and_position_sensitive)
{
	enum { LEN = 3 * 4096 + 17 };
	uint8_t *buf = malloc(LEN), key[32], key2[32], a[32], b[32], zero[16] = { 0 };

	CHECK(buf);
	for (size_t i = 0; i < LEN; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)i;
		key2[i] = (uint8_t)(i ^ 0x80);
	}
	/* However the stream is cut into pieces, one digest. */
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key, buf, LEN, LEN, a));
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key, buf, LEN, 1000, b));
	CHECK(memcmp(a, b, 32) == 0);
	/* A 16-byte tag, then zeroes; not the SHA-256 of the same bytes. */
	CHECK(memcmp(a + 16, zero, 16) == 0);
	CHECK(memcmp(a, zero, 16) != 0);
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_SHA256, NULL, buf, LEN, LEN, b));
	CHECK(memcmp(a, b, 16) != 0);
	/* Another session's key, another tag. */
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key2, buf, LEN, LEN, b));
	CHECK(memcmp(a, b, 16) != 0);
	/* One bit flipped, two blocks swapped, one byte missing: each seen. */
	buf[4096 + 5] ^= 0x10;
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key, buf, LEN, LEN, b));
	CHECK(memcmp(a, b, 16) != 0);
	buf[4096 + 5] ^= 0x10;
	for (size_t i = 0; i < 16; i++) {
		uint8_t t = buf[i];
		buf[i] = buf[16 + i];
		buf[16 + i] = t;
	}
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key, buf, LEN, LEN, b));
	CHECK(memcmp(a, b, 16) != 0);
	for (size_t i = 0; i < 16; i++) {
		uint8_t t = buf[i];
		buf[i] = buf[16 + i];
		buf[16 + i] = t;
	}
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_GMAC, key, buf, LEN - 1, LEN, b));
	CHECK(memcmp(a, b, 16) != 0);
	free(buf);
}

TEST(stream_digest_gmac_needs_a_key)
{
	struct xlmig_stream_digest *d = (struct xlmig_stream_digest *)1;

	CHECK_EQ(xlmig_stream_digest_new(XLMIG_STREAM_DIGEST_GMAC, NULL, &d), XLMIG_E_INVAL);
	CHECK(d == NULL);
	CHECK(strstr(xlmig_errmsg(), "key") != NULL);
}

/* An in-process session's "none": zeros whatever was added, and named
 * so in the job's statistics. */
TEST(stream_digest_none_is_zeros)
{
	uint8_t out[32], zero[32] = { 0 };

	memset(out, 0xa5, sizeof(out));
	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_NONE, NULL, (const uint8_t *)"abcdef", 6, 2, out));
	CHECK(memcmp(out, zero, 32) == 0);
	CHECK_STR(xlmig_stream_digest_name(XLMIG_STREAM_DIGEST_NONE), "none");
}

/* RFC 8439, 2.5.2: what a peer of another build computes must agree. */
TEST(stream_digest_poly1305_is_poly1305)
{
	static const uint8_t key[32] = {
		0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5,
		0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf,
		0x41, 0x49, 0xf5, 0x1b };
	static const uint8_t tag[16] = {
		0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01,
		0x27, 0xa9 };
	static const char msg[] = "Cryptographic Forum Research Group";
	uint8_t out[32], zero[16] = { 0 };
	struct xlmig_stream_digest *d;

	CHECK_OK(digest_of(XLMIG_STREAM_DIGEST_POLY1305, key, (const uint8_t *)msg,
			   sizeof(msg) - 1, 5, out));
	CHECK(memcmp(out, tag, 16) == 0);
	CHECK(memcmp(out + 16, zero, 16) == 0);
	CHECK_STR(xlmig_stream_digest_name(XLMIG_STREAM_DIGEST_POLY1305), "Poly1305");
	CHECK_EQ(xlmig_stream_digest_new(XLMIG_STREAM_DIGEST_POLY1305, NULL, &d), XLMIG_E_INVAL);
}
