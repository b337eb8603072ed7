/*
 * xorrle.c - run-length coding of a page's XOR (see xorrle.h).
 */
#include "xorrle.h"

/* Splitting a literal costs a token (two varint bytes at least), so a
 * zero gap shorter than this stays inside the literal. */
#define MIN_ZERO_GAP 3

/* A word at a time: a byte loop costs eight times the bookkeeping
 * wherever the compiler does not vectorise it (-O1, and the fuzzing build,
 * which traces every loop compare). */
void xlmig_xorrle_xor(uint8_t *x, const uint8_t *a, const uint8_t *b)
{
	for (size_t i = 0; i < XLMIG_PAGE_SIZE; i += sizeof(uint64_t)) {
		uint64_t wa, wb;

		memcpy(&wa, a + i, sizeof(wa));
		memcpy(&wb, b + i, sizeof(wb));
		wa ^= wb;
		memcpy(x + i, &wa, sizeof(wa));
	}
}

/* True if some byte of w is zero. */
static bool word_has_zero_byte(uint64_t w)
{
	return ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) != 0;
}

/* First nonzero byte of x at or after pos (XLMIG_PAGE_SIZE if none);
 * whole zero words are skipped at once. */
static size_t next_nonzero(const uint8_t *x, size_t pos)
{
	uint64_t w;

	while (pos + sizeof(w) <= XLMIG_PAGE_SIZE) {
		memcpy(&w, x + pos, sizeof(w));
		if (w)
			break;
		pos += sizeof(w);
	}
	while (pos < XLMIG_PAGE_SIZE && !x[pos])
		pos++;
	return pos;
}

/* End of the literal starting at start: the first zero gap of at least
 * MIN_ZERO_GAP bytes, or the end of the page. */
static size_t literal_end(const uint8_t *x, size_t start)
{
	size_t end = start + 1;

	while (end < XLMIG_PAGE_SIZE) {
		size_t gap_end;

		uint64_t w;

		/* A word with no zero byte holds no gap: the literal goes on. */
		if (end + sizeof(w) <= XLMIG_PAGE_SIZE) {
			memcpy(&w, x + end, sizeof(w));
			if (!word_has_zero_byte(w)) {
				end += sizeof(w);
				continue;
			}
		}
		if (x[end]) {
			end++;
			continue;
		}
		gap_end = next_nonzero(x, end);
		if (gap_end - end >= MIN_ZERO_GAP || gap_end == XLMIG_PAGE_SIZE)
			break;
		end = gap_end;
	}
	return end;
}

static size_t put_varint(uint8_t *out, size_t v)
{
	if (v < 0x80) {
		out[0] = (uint8_t)v;
		return 1;
	}
	out[0] = (uint8_t)(v | 0x80);
	out[1] = (uint8_t)(v >> 7);
	return 2;
}

int xlmig_xorrle_encode(const uint8_t *x, uint8_t *out, size_t cap)
{
	size_t pos = 0, o = 0;

	for (;;) {
		size_t start = next_nonzero(x, pos), end, lits;

		if (start == XLMIG_PAGE_SIZE)
			break;
		end = literal_end(x, start);
		lits = end - start;
		if (o + 4 + lits > cap)
			return -1;
		o += put_varint(out + o, start - pos);
		o += put_varint(out + o, lits);
		memcpy(out + o, x + start, lits);
		o += lits;
		pos = end;
	}
	return (int)o;
}

/* Read a varint at *i; -1 if it runs past len or past two bytes. */
static long get_varint(const uint8_t *p, size_t len, size_t *i)
{
	long v;

	if (*i >= len)
		return -1;
	v = p[*i] & 0x7f;
	if (!(p[(*i)++] & 0x80))
		return v;
	if (*i >= len || p[*i] & 0x80)
		return -1;
	return v | (long)p[(*i)++] << 7;
}

int xlmig_xorrle_check(const uint8_t *p, size_t len)
{
	size_t i = 0, pos = 0;

	while (i < len) {
		long zeros = get_varint(p, len, &i);
		long lits = get_varint(p, len, &i);

		if (zeros < 0 || lits < 0)
			return xlmig_fail(XLMIG_E_FORMAT, "delta run list: "
					  "truncated or overlong length at "
					  "byte %zu", i);
		if (lits == 0 || (size_t)zeros + (size_t)lits > XLMIG_PAGE_SIZE - pos)
			return xlmig_fail(XLMIG_E_FORMAT, "delta run list: run "
					  "of %ld+%ld bytes at page offset %zu "
					  "is empty or leaves the page",
					  zeros, lits, pos);
		if ((size_t)lits > len - i)
			return xlmig_fail(XLMIG_E_FORMAT, "delta run list: "
					  "%ld literal bytes but only %zu left",
					  lits, len - i);
		pos += (size_t)zeros + (size_t)lits;
		i += (size_t)lits;
	}
	return XLMIG_OK;
}

void xlmig_xorrle_apply(uint8_t *page, const uint8_t *p, size_t len)
{
	size_t i = 0, pos = 0;

	while (i < len) {
		long zeros = get_varint(p, len, &i);
		long lits = get_varint(p, len, &i);

		pos += (size_t)zeros;
		for (long k = 0; k < lits; k++)
			page[pos++] ^= p[i++];
	}
}
