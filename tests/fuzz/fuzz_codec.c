/*
 * fuzz_codec.c - libFuzzer harness for the page codec.
 *
 * First input byte even: the rest is a frame for a decoder that has
 * already decoded PRIME valid frames (so its delta cache holds pages and
 * deltas can resolve).  Any frame may be accepted or rejected, but a
 * rejection must be XLMIG_E_FORMAT and must leave the decoder able to
 * decode the real next frame exactly.
 *
 * First byte odd: the rest is a program of pages (zero, patterned,
 * slightly changed, random) over a few pfns in several batches, sent
 * through an encoder and a decoder with a tiny delta cache; every page
 * must come back exact.
 *
 * Bit 1 of the first byte picks codecs that cache a page only from its
 * second send (cache_resent), whose decoder also un-notes what a rejected
 * frame noted.
 *
 * One encoder and one decoder of each kind serve every input, reset before each
 * (xlmig_codec_reset: same state as new, no zstd context set up again),
 * so each input is judged alone and costs only its own pages.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (valid frames and a
 * page program) into DIR and exits.
 */
#include "codec.h"

#include <stdlib.h>

#define PS XLMIG_PAGE_SIZE
#define N 8                        /* pages per frame, pfns 0..N-1 */
#define PRIME 2                    /* valid frames before the fuzzed one */
#define CACHE (4 * PS)             /* small: evictions happen */

static uint64_t pfns[N];
static uint8_t want[PRIME + 1][N * PS];
static struct xlmig_buf frames[2][PRIME + 1];    /* [resent] */
static struct xlmig_codec *encs[2], *decs[2];    /* reset for every input */
static struct xlmig_codec *enc, *dec;            /* this input's pair */
static int mode;                                 /* this input's resent */

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	return z ^ (z >> 27);
}

static struct xlmig_codec *new_codec(bool resent)
{
	struct xlmig_codec_opts o = { .cache_bytes = CACHE, .cache_resent = resent };
	struct xlmig_codec *c = xlmig_codec_new(&o);

	if (!c)
		abort();
	return c;
}

/* Frames 0..PRIME of one stream: text, zero and random pages, then
 * small changes each frame so later frames carry deltas. */
static void build_frames(int resent)
{
	struct xlmig_codec *seeder = new_codec(resent);
	uint64_t s = 1;

	for (int i = 0; i < N; i++) {
		uint8_t *p = want[0] + i * PS;

		pfns[i] = (uint64_t)i;
		if (i % 4 == 1)
			continue;   /* zero */
		for (int b = 0; b < (int)PS; b++)
			p[b] = i % 4 == 3 ? (uint8_t)mix(&s) : (uint8_t)("page data "[b % 10] + i);
	}
	for (int f = 0; f <= PRIME; f++) {
		if (f > 0) {
			memcpy(want[f], want[f - 1], sizeof(want[f]));
			for (int k = 0; k < 24; k++)
				want[f][mix(&s) % sizeof(want[f])] ^= (uint8_t)(1 + mix(&s) % 255);
		}
		if (xlmig_codec_encode(seeder, pfns, want[f], N, &frames[resent][f], NULL))
			abort();
	}
	xlmig_codec_free(seeder);
}

static void reset(struct xlmig_codec *c)
{
	if (xlmig_codec_reset(c) != XLMIG_OK)
		abort();
}

static void decode_or_die(int f, uint8_t *out)
{
	if (xlmig_codec_decode(dec, frames[mode][f].data, frames[mode][f].len, pfns, N, out,
			       NULL) ||
	    memcmp(out, want[f], N * PS))
		abort();
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	static uint8_t out[N * PS];
	int rc;

	reset(dec);
	for (int f = 0; f < PRIME; f++)
		decode_or_die(f, out);
	rc = xlmig_codec_decode(dec, data, size, pfns, N, out, NULL);
	if (rc && rc != XLMIG_E_FORMAT)
		abort();
	if (rc)
		decode_or_die(PRIME, out);
}

/* One page of the program from the input at *p. */
static void program_page(uint8_t *page, const uint8_t **p, const uint8_t *end,
			 uint64_t *s)
{
	uint8_t op = *p < end ? *(*p)++ : 0;
	size_t pat = XLMIG_MIN((size_t)(end - *p), (size_t)(op >> 2) + 1);

	switch (op & 3) {
	case 0:
		memset(page, 0, PS);
		break;
	case 1:   /* a pattern from the input, repeated by doubling (a byte
		   * loop here would cost more than the codec it feeds) */
		if (pat) {
			size_t have = XLMIG_MIN(pat, (size_t)PS);

			memcpy(page, *p, have);
			for (; have < PS; have *= 2)
				memcpy(page + have, page, XLMIG_MIN(have, PS - have));
		}
		*p += pat;
		break;
	case 2:   /* a few bytes of the previous copy changed */
		for (size_t k = 0; k < pat; k++)
			page[((size_t)(*p)[k] * 131 + k * 977) % PS] ^= (*p)[k] | 1;
		*p += pat;
		break;
	default:
		for (size_t b = 0; b < PS; b += sizeof(uint64_t)) {
			uint64_t v = mix(s);

			memcpy(page + b, &v, sizeof(v));
		}
	}
}

static void fuzz_identity(const uint8_t *data, size_t size)
{
	static uint8_t mem[12][PS], batch[N * PS], out[N * PS];
	static struct xlmig_buf frame;
	const uint8_t *p = data, *end = data + size;
	uint64_t s = size, bp[N];

	reset(enc);
	reset(dec);
	memset(mem, 0, sizeof(mem));
	for (int b = 0; b < 8 && p < end; b++) {
		uint32_t n = 1 + *p++ % N;

		for (uint32_t i = 0; i < n; i++) {
			bp[i] = p < end ? *p++ % 12 : 0;
			program_page(mem[bp[i]], &p, end, &s);
			memcpy(batch + i * PS, mem[bp[i]], PS);
		}
		xlmig_buf_reset(&frame);
		if (xlmig_codec_encode(enc, bp, batch, n, &frame, NULL) ||
		    xlmig_codec_decode(dec, frame.data, frame.len, bp, n, out, NULL) ||
		    memcmp(out, batch, (size_t)n * PS))
			abort();
	}
}

static void write_seed(const char *dir, const char *name, uint8_t first,
		       const uint8_t *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fputc(first, f) == EOF || fwrite(data, 1, len, f) != len ||
	    fclose(f))
		abort();
}

static void write_seeds(const char *dir)
{
	static const uint8_t program[] = {
		4, 0, 0x05, 'a', 'b', 1, 0x03, 2, 0x02, 0x40,
		3, 0, 0x06, 9, 9, 1, 0x00, 2, 0x0b, 1, 2, 3,
	};

	write_seed(dir, "frame-next", 0, frames[0][PRIME].data, frames[0][PRIME].len);
	write_seed(dir, "frame-first", 0, frames[0][0].data, frames[0][0].len);
	write_seed(dir, "frame-prev", 0, frames[0][PRIME - 1].data, frames[0][PRIME - 1].len);
	write_seed(dir, "resent-frame-next", 2, frames[1][PRIME].data, frames[1][PRIME].len);
	write_seed(dir, "pages-program", 1, program, sizeof(program));
	write_seed(dir, "resent-pages-program", 3, program, sizeof(program));
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int m = 0; m < 2; m++) {
		build_frames(m);
		encs[m] = new_codec(m);
		decs[m] = new_codec(m);
	}
	if (getenv("XLMIG_FUZZ_WRITE_SEEDS"))
		write_seeds(getenv("XLMIG_FUZZ_WRITE_SEEDS"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	mode = data[0] >> 1 & 1;
	enc = encs[mode];
	dec = decs[mode];
	if (data[0] % 2 == 0)
		fuzz_decode(data + 1, size - 1);
	else
		fuzz_identity(data + 1, size - 1);
	return 0;
}
