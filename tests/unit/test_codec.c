/* test_codec.c - unit tests for the page codec, its delta cache, the XOR
 * run lists and the memory-image builder. */
#include "unit.h"
#include "codec.h"
#include "memimage.h"
#include "pagecache.h"
#include "xorrle.h"

#include <pthread.h>
#include <stdlib.h>

#define PS XLMIG_PAGE_SIZE
#define HDR_KINDS 20   /* offset of the kinds in a version 1 frame */

static uint64_t rnd_state = 1;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* Compressible, like text: words from a small vocabulary. */
static void fill_text(uint8_t *p)
{
	static const char *const words[] = { "page ", "frame ", "domain ",
		"migrate ", "xen ", "dirty ", "bitmap ", "\n", "0x1000 " };
	size_t i = 0;

	while (i < PS) {
		const char *w = words[rnd() % XLMIG_ARRAY_SIZE(words)];
		size_t l = XLMIG_MIN(strlen(w), PS - i);

		memcpy(p + i, w, l);
		i += l;
	}
}

/* A few bytes changed at a random place. */
static void nudge(uint8_t *p)
{
	size_t off = rnd() % (PS - 8);

	for (int i = 0; i < 8; i++)
		p[off + i] ^= (uint8_t)(1 + rnd() % 255);
}

static struct xlmig_codec *codec(size_t cache, bool no_zstd)
{
	struct xlmig_codec_opts o = { .cache_bytes = cache, .no_zstd = no_zstd };

	return xlmig_codec_new(&o);
}

/* Encode a batch with enc, decode it with dec, compare. */
static int roundtrip(struct xlmig_codec *enc, struct xlmig_codec *dec,
		     const uint64_t *pfns, const uint8_t *pages, uint32_t n,
		     struct xlmig_codec_stats *st)
{
	struct xlmig_buf frame = { 0 };
	uint8_t *out = malloc((size_t)n * PS);
	int rc = out ? XLMIG_OK : XLMIG_E_NOMEM;

	if (!rc)
		rc = xlmig_codec_encode(enc, pfns, pages, n, &frame, st);
	if (!rc)
		rc = xlmig_codec_decode(dec, frame.data, frame.len, pfns, n, out, NULL);
	for (uint32_t i = 0; !rc && i < n; i++)
		if (memcmp(out + (size_t)i * PS, pages + (size_t)i * PS, PS))
			rc = xlmig_fail(XLMIG_E_FORMAT, "page %u (pfn %llu) "
					"decoded wrong", i, (unsigned long long)pfns[i]);
	free(out);
	xlmig_buf_free(&frame);
	return rc;
}

static void seq_pfns(uint64_t *pfns, uint32_t n, uint64_t first)
{
	for (uint32_t i = 0; i < n; i++)
		pfns[i] = first + i;
}

static int kind_of(const uint8_t *frame, uint32_t i)
{
	return frame[HDR_KINDS + i / 4] >> (2 * (i % 4)) & 3;
}

TEST(codec_roundtrip_each_kind)
{
	enum { N = 64 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec(XLMIG_CODEC_DEFAULT_CACHE, false);
	struct xlmig_codec *dec = codec(XLMIG_CODEC_DEFAULT_CACHE, false);
	struct xlmig_codec_stats st = { 0 };

	CHECK(enc && dec);
	seq_pfns(pfns, N, 1000);
	memset(pages, 0, sizeof(pages));
	for (int i = 0; i < N; i++)
		if (i % 3 == 1)
			fill_text(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_zero, 43);
	CHECK_EQ(st.pages_zstd, 21);
	CHECK_EQ(st.pages_raw, 0);

	/* random pages do not compress: sent raw */
	seq_pfns(pfns, N, 5000);
	fill_random(pages, sizeof(pages));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_raw, N);

	/* the same pfns again, slightly changed: deltas */
	for (int i = 0; i < N; i++)
		nudge(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_delta, N);
	CHECK_EQ(st.batches, 3);
	CHECK_EQ(st.bytes_in, 3 * N * PS);
	CHECK(st.bytes_out < 3 * N * PS);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

TEST(codec_delta_forms)
{
	enum { N = 4 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N] = { 7, 8, 9, 10 };
	struct xlmig_codec *enc = codec(1 << 20, false), *dec = codec(1 << 20, false);
	struct xlmig_buf f = { 0 };
	static uint8_t out[N * PS];

	CHECK(enc && dec);
	fill_random(pages, sizeof(pages));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, NULL));
	nudge(pages);                               /* few bytes: run list */
	for (int i = 0; i < 1500; i++)              /* long regular change: zstd */
		pages[PS + 1000 + i] ^= (uint8_t)(i % 5 + 1);
	/* pages[2] unchanged: an empty delta */
	fill_random(pages + 3 * PS, PS);            /* rewritten: DATA */
	CHECK_OK(xlmig_codec_encode(enc, pfns, pages, N, &f, NULL));
	CHECK_EQ(kind_of(f.data, 0), 2);
	CHECK_EQ(kind_of(f.data, 1), 3);
	CHECK_EQ(kind_of(f.data, 2), 2);
	CHECK_EQ(kind_of(f.data, 3), 1);
	CHECK_INT(f.len, <, PS + 600);
	CHECK_OK(xlmig_codec_decode(dec, f.data, f.len, pfns, N, out, NULL));
	CHECK(memcmp(out, pages, sizeof(pages)) == 0);
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

TEST(codec_duplicate_pfn_in_one_batch)
{
	enum { N = 6 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N] = { 3, 4, 3, 3, 4, 3 };
	struct xlmig_codec *enc = codec(1 << 20, false), *dec = codec(1 << 20, false);
	struct xlmig_codec_stats st = { 0 };

	CHECK(enc && dec);
	fill_text(pages);
	fill_random(pages + PS, PS);
	memcpy(pages + 2 * PS, pages, PS);
	nudge(pages + 2 * PS);
	memset(pages + 3 * PS, 0, PS);
	memcpy(pages + 4 * PS, pages + PS, PS);
	fill_text(pages + 5 * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_zero, 1);
	CHECK_INT(st.pages_delta, >=, 2);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* Many batches over more pages than a tiny cache holds: the caches
 * evict all the time and must stay in step. */
TEST(codec_delta_sync_under_eviction)
{
	enum { NPFN = 512, N = 96, ROUNDS = 300 };
	uint8_t *mem = malloc(NPFN * PS), *batch = malloc(N * PS);
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec(64 * PS + 3 * PS, false);
	struct xlmig_codec *dec = codec(64 * PS + 3 * PS, false);
	struct xlmig_codec_stats st = { 0 };

	CHECK(mem && batch && enc && dec);
	for (int p = 0; p < NPFN; p++)
		p % 2 ? fill_text(mem + p * PS) : fill_random(mem + p * PS, PS);
	for (int r = 0; r < ROUNDS; r++) {
		/* a hot set of 48 pages plus a cold tail, as pre-copy sees */
		for (int i = 0; i < N; i++) {
			uint64_t pfn = i < N / 2 ? rnd() % 48 : rnd() % NPFN;

			if (rnd() % 4)
				nudge(mem + pfn * PS);
			if (rnd() % 50 == 0)
				memset(mem + pfn * PS, 0, PS);
			pfns[i] = pfn;
			memcpy(batch + i * PS, mem + pfn * PS, PS);
		}
		CHECK_OK(roundtrip(enc, dec, pfns, batch, N, &st));
	}
	CHECK_INT(st.pages_delta, >, ROUNDS * N / 4);
	CHECK_INT(st.pages_zstd + st.pages_raw, >, ROUNDS * N / 10);
	free(mem);
	free(batch);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* Batch f of a pre-copy over npfn pages of mem: the first `full` batches
 * in pfn order (a first pass), then pfns at random, each changed a
 * little first (a guest writing between passes); pfns and pages out. */
static void precopy_batch(uint8_t *mem, uint64_t npfn, int f, int full, int n,
			  uint64_t *pfns, uint8_t *pages)
{
	for (int i = 0; i < n; i++) {
		uint64_t pfn = f < full ? (uint64_t)(f * n + i) : rnd() % npfn;

		if (f >= full)
			nudge(mem + pfn * PS);
		pfns[i] = pfn;
		memcpy(pages + (size_t)i * PS, mem + pfn * PS, PS);
	}
}

/* One finishing step on its own thread, as a transfer's channel writer
 * runs it. */
struct finisher {
	struct xlmig_codec_pending *p;
	struct xlmig_buf out;
	struct xlmig_codec_stats st;
	int rc;
};

static void *finish_main(void *arg)
{
	struct finisher *f = arg;
	struct xlmig_codec_zctx *z = xlmig_codec_zctx_new();

	f->rc = z ? xlmig_codec_encode_finish(f->p, z, &f->out, &f->st) : XLMIG_E_NOMEM;
	xlmig_codec_zctx_free(z);
	return NULL;
}

/* Frames begun in stream order and finished concurrently, in any order,
 * are the frames the one-call encoder makes (byte for byte, so the
 * decoder cannot tell), and decode in begin order, deltas and all; the
 * begun frames own their pages (the caller's batch is overwritten before
 * they finish). */
TEST(codec_two_step_encode_matches_one_call)
{
	enum { NPFN = 256, N = 64, FRAMES = 12 };
	uint8_t *mem = malloc(NPFN * PS), *batch = malloc(N * PS), *got = malloc(N * PS);
	uint8_t *sent = malloc((size_t)FRAMES * N * PS);
	uint64_t pfns[FRAMES][N];
	struct xlmig_codec *one = codec(1 << 20, false), *two = codec(1 << 20, false);
	struct xlmig_codec *dec = codec(1 << 20, false);
	struct finisher fin[FRAMES] = { { 0 } };
	pthread_t th[FRAMES];
	struct xlmig_codec_stats st_one = { 0 }, st_two = { 0 };

	CHECK(mem && batch && got && sent && one && two && dec);
	for (int p = 0; p < NPFN; p++)
		p % 3 == 0 ? fill_random(mem + p * PS, PS) : p % 3 == 1 ? fill_text(mem + p * PS)
							 : (void)memset(mem + p * PS, 0, PS);
	for (int f = 0; f < FRAMES; f++) {
		precopy_batch(mem, NPFN, f, 4, N, pfns[f], batch);
		memcpy(sent + (size_t)f * N * PS, batch, N * PS);
		CHECK_OK(xlmig_codec_set_level(two, f % 3 == 2 ? 0 : 1 + f % 3));
		CHECK_OK(xlmig_codec_set_level(one, f % 3 == 2 ? 0 : 1 + f % 3));
		fin[f].p = xlmig_codec_pending_new();
		CHECK(fin[f].p);
		CHECK_OK(xlmig_codec_encode_begin(two, pfns[f], batch, N, fin[f].p));
		CHECK_EQ(xlmig_codec_pending_guest_bytes(fin[f].p), N * PS);
		memset(batch, 0xa5, N * PS);
	}
	for (int f = FRAMES; f-- > 0;)   /* started last first */
		CHECK_EQ(pthread_create(&th[f], NULL, finish_main, &fin[f]), 0);
	for (int f = 0; f < FRAMES; f++)
		CHECK_EQ(pthread_join(th[f], NULL), 0);
	for (int f = 0; f < FRAMES; f++) {
		struct xlmig_buf ref = { 0 };

		CHECK_OK(fin[f].rc);
		CHECK_OK(xlmig_codec_set_level(one, f % 3 == 2 ? 0 : 1 + f % 3));
		CHECK_OK(xlmig_codec_encode(one, pfns[f], sent + (size_t)f * N * PS, N, &ref,
					    &st_one));
		CHECK_EQ(ref.len, fin[f].out.len);
		CHECK(memcmp(ref.data, fin[f].out.data, ref.len) == 0);
		CHECK_OK(xlmig_codec_decode(dec, fin[f].out.data, fin[f].out.len, pfns[f], N,
					    got, NULL));
		CHECK(memcmp(got, sent + (size_t)f * N * PS, N * PS) == 0);
		st_two.pages_delta += fin[f].st.pages_delta;
		st_two.bytes_out += fin[f].st.bytes_out;
		xlmig_buf_free(&ref);
	}
	CHECK_EQ(st_two.pages_delta, st_one.pages_delta);
	CHECK_INT(st_one.pages_delta, >, 0);
	CHECK_EQ(st_two.bytes_out, st_one.bytes_out);
	for (int f = 0; f < FRAMES; f++) {
		/* finished: free for another begin, and not twice */
		CHECK(xlmig_codec_encode_finish(fin[f].p, NULL, &fin[f].out, NULL) ==
		      XLMIG_E_INVAL);
		xlmig_codec_pending_free(fin[f].p);
		xlmig_buf_free(&fin[f].out);
	}
	free(mem);
	free(batch);
	free(got);
	free(sent);
	xlmig_codec_free(one);
	xlmig_codec_free(two);
	xlmig_codec_free(dec);
}

/* Frames unpacked ahead, out of order and each with its own context,
 * then applied in order, decode exactly (deltas resolve against the
 * cache at apply time); an unpacked frame applied out of its turn is
 * refused and changes nothing, and cannot be applied twice. */
TEST(codec_two_step_decode)
{
	enum { NPFN = 64, N = 32, FRAMES = 6 };
	uint8_t *mem = malloc(NPFN * PS), *got = malloc(N * PS);
	uint8_t *sent = malloc((size_t)FRAMES * N * PS);
	uint64_t pfns[FRAMES][N];
	struct xlmig_buf frame[FRAMES] = { { 0 } };
	struct xlmig_codec_unpacked *u[FRAMES];
	struct xlmig_codec *enc = codec(1 << 20, false), *dec = codec(1 << 20, false);
	struct xlmig_codec_dctx *z = xlmig_codec_dctx_new();
	struct xlmig_codec_stats st = { 0 };

	CHECK(mem && got && sent && enc && dec && z);
	for (int p = 0; p < NPFN; p++)
		p % 2 ? fill_text(mem + p * PS) : fill_random(mem + p * PS, PS);
	for (int f = 0; f < FRAMES; f++) {
		precopy_batch(mem, NPFN, f, 2, N, pfns[f], sent + (size_t)f * N * PS);
		CHECK_OK(xlmig_codec_set_level(enc, f % 2 ? 0 : 1));
		CHECK_OK(xlmig_codec_encode(enc, pfns[f], sent + (size_t)f * N * PS, N,
					    &frame[f], NULL));
	}
	for (int f = FRAMES; f-- > 0;) {
		u[f] = xlmig_codec_unpacked_new();
		CHECK(u[f]);
		CHECK_OK(xlmig_codec_decode_unpack(z, frame[f].data, frame[f].len, N, u[f]));
	}
	/* frame 1 before frame 0: refused, nothing changed */
	CHECK(xlmig_codec_decode_apply(dec, u[1], pfns[1], N, got, NULL) == XLMIG_E_FORMAT);
	for (int f = 0; f < FRAMES; f++) {
		CHECK_OK(xlmig_codec_decode_apply(dec, u[f], pfns[f], N, got, &st));
		CHECK(memcmp(got, sent + (size_t)f * N * PS, N * PS) == 0);
	}
	CHECK_INT(st.pages_delta, >, 0);
	CHECK(xlmig_codec_decode_apply(dec, u[0], pfns[0], N, got, NULL) == XLMIG_E_INVAL);
	/* a malformed frame fails to unpack */
	frame[0].data[0] ^= 1;
	CHECK(xlmig_codec_decode_unpack(z, frame[0].data, frame[0].len, N, u[0]) ==
	      XLMIG_E_FORMAT);
	for (int f = 0; f < FRAMES; f++) {
		xlmig_codec_unpacked_free(u[f]);
		xlmig_buf_free(&frame[f]);
	}
	xlmig_codec_dctx_free(z);
	free(mem);
	free(got);
	free(sent);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* A reset codec is as new: sequence 0, nothing cached (a decoder reset
 * alone refuses the encoder's next frame, which refers to its cache);
 * both reset, a new stream round-trips. */
TEST(codec_reset_is_as_new)
{
	struct xlmig_codec *enc = codec(64 * PS, false), *dec = codec(64 * PS, false);
	static uint8_t pages[4 * PS], out[4 * PS];
	struct xlmig_buf frame = { 0 };
	uint64_t pfns[4];

	CHECK(enc && dec);
	seq_pfns(pfns, 4, 100);
	for (int i = 0; i < 4; i++)
		fill_text(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, 4, NULL));
	for (int i = 0; i < 4; i++)
		nudge(pages + i * PS);
	CHECK_OK(xlmig_codec_encode(enc, pfns, pages, 4, &frame, NULL));   /* deltas, seq 1 */
	CHECK_OK(xlmig_codec_reset(dec));
	CHECK_EQ(xlmig_codec_decode(dec, frame.data, frame.len, pfns, 4, out, NULL), XLMIG_E_FORMAT);
	CHECK_OK(xlmig_codec_reset(enc));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, 4, NULL));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, 4, NULL));
	xlmig_buf_free(&frame);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

TEST(codec_cache_disabled)
{
	enum { N = 16 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec(0, false), *dec = codec(0, false);
	struct xlmig_codec *enc2 = codec(1 << 20, false);
	struct xlmig_codec_stats st = { 0 };
	struct xlmig_buf f = { 0 };

	CHECK(enc && dec && enc2);
	seq_pfns(pfns, N, 0);
	for (int i = 0; i < N; i++)
		fill_text(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	nudge(pages);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_delta, 0);
	CHECK_EQ(st.pages_zstd, 2 * N);

	/* a decoder without a cache refuses delta pages */
	xlmig_codec_free(dec);
	dec = codec(0, false);
	CHECK_OK(xlmig_codec_encode(enc2, pfns, pages, N, &f, NULL));
	CHECK_OK(xlmig_codec_decode(dec, f.data, f.len, pfns, N, pages, NULL));
	xlmig_buf_reset(&f);
	CHECK_OK(xlmig_codec_encode(enc2, pfns, pages, N, &f, NULL));
	CHECK_EQ(xlmig_codec_decode(dec, f.data, f.len, pfns, N, pages, NULL),
		 XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "no delta cache"));
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
	xlmig_codec_free(enc2);
	xlmig_codec_free(dec);
}

TEST(codec_no_zstd)
{
	enum { N = 32 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec(1 << 20, true), *dec = codec(1 << 20, false);
	struct xlmig_codec_stats st = { 0 };
	struct xlmig_buf f = { 0 };

	CHECK(enc && dec);
	seq_pfns(pfns, N, 77);
	for (int i = 0; i < N; i++)
		i % 4 ? fill_text(pages + i * PS) : memset(pages + i * PS, 0, PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
	CHECK_EQ(st.pages_zstd, 0);
	CHECK_EQ(st.pages_raw, 24);
	CHECK_EQ(st.pages_zero, 8);
	for (int i = 0; i < N; i++)
		for (int k = 0; k < 200; k++)   /* too big for a run list */
			pages[i * PS + k * 20] ^= 0x55;
	CHECK_OK(xlmig_codec_encode(enc, pfns, pages, N, &f, NULL));
	for (int i = 0; i < N; i++)
		CHECK(kind_of(f.data, (uint32_t)i) != 3);
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* The level changes from frame to frame (the adaptive codec's choice):
 * raw, zstd-1 and zstd-3 frames mix in one stream, deltas stay in step,
 * and a raw frame's DATA pages are raw and its deltas run lists. */
TEST(codec_level_per_frame)
{
	enum { N = 64 };
	static uint8_t pages[N * PS];
	static const int levels[] = { 0, 1, 3, 0, 3, 1, 0 };
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec(1 << 20, false), *dec = codec(1 << 20, false);
	struct xlmig_codec_stats st = { 0 };

	CHECK(enc && dec);
	seq_pfns(pfns, N, 9);
	for (int i = 0; i < N; i++)
		i % 3 ? fill_text(pages + i * PS) : fill_random(pages + i * PS, PS);
	for (size_t r = 0; r < XLMIG_ARRAY_SIZE(levels); r++) {
		struct xlmig_codec_stats before = st;

		CHECK_OK(xlmig_codec_set_level(enc, levels[r]));
		CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
		if (levels[r] == 0)
			CHECK_EQ(st.pages_zstd, before.pages_zstd);
		else if (r == 0)
			CHECK(st.pages_zstd > before.pages_zstd);
		for (int i = 0; i < N; i += 2)   /* resent: deltas next time */
			nudge(pages + i * PS);
		for (int i = 1; i < N; i += 8)   /* and a few new pages */
			fill_text(pages + i * PS);
	}
	CHECK(st.pages_delta > 0);
	CHECK(st.data_in > 0 && st.data_out > 0);
	CHECK_EQ(xlmig_codec_set_level(enc, 20), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_codec_set_level(enc, -1), XLMIG_E_INVAL);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* A frame holding every kind, decodable after one priming frame; the
 * priming frame is already decoded into dec. */
struct fixture {
	struct xlmig_codec *enc, *dec;
	uint64_t pfns[12];
	uint8_t pages[12 * PS];
	struct xlmig_buf frame;
};

static int make_fixture(struct fixture *fx)
{
	struct xlmig_codec_stats st = { 0 };
	int rc;

	memset(fx, 0, sizeof(*fx));
	fx->enc = codec(1 << 20, false);
	fx->dec = codec(1 << 20, false);
	if (!fx->enc || !fx->dec)
		return XLMIG_E_NOMEM;
	seq_pfns(fx->pfns, 12, 40);
	for (int i = 0; i < 12; i++)
		fill_text(fx->pages + i * PS);
	rc = roundtrip(fx->enc, fx->dec, fx->pfns, fx->pages, 12, NULL);
	for (int i = 100; i < 108; i++)                     /* 0: run list */
		fx->pages[i] ^= 0x5a;
	for (int i = 0; i < 1500; i++)                      /* 1: zstd delta */
		fx->pages[PS + 1000 + i] ^= (uint8_t)(i % 5 + 1);
	memset(fx->pages + 2 * PS, 0, PS);                  /* 2: zero */
	for (int i = 3; i < 12; i++) {                      /* 3..: new, data */
		fx->pfns[i] = 100 + (uint64_t)i;
		fill_text(fx->pages + i * PS);
	}
	if (!rc)
		rc = xlmig_codec_encode(fx->enc, fx->pfns, fx->pages, 12,
					&fx->frame, &st);
	if (!rc && (st.pages_delta != 2 || st.pages_zero != 1 || st.pages_zstd != 9))
		rc = xlmig_fail(XLMIG_E_FORMAT, "fixture kinds %llu/%llu/%llu",
				(unsigned long long)st.pages_delta,
				(unsigned long long)st.pages_zero,
				(unsigned long long)st.pages_zstd);
	return rc;
}

static void free_fixture(struct fixture *fx)
{
	xlmig_codec_free(fx->enc);
	xlmig_codec_free(fx->dec);
	xlmig_buf_free(&fx->frame);
}

static int decode_fixture(struct fixture *fx, const uint8_t *frame, size_t len)
{
	static uint8_t out[12 * PS];
	int rc = xlmig_codec_decode(fx->dec, frame, len, fx->pfns, 12, out, NULL);

	if (!rc && memcmp(out, fx->pages, sizeof(out)))
		rc = xlmig_fail(XLMIG_E_INVAL, "fixture decoded wrong");
	return rc;
}

TEST(codec_rejects_corrupt_fields)
{
	static struct fixture fx;
	/* byte of the frame, bits to flip.  The fixture's layout: kinds at
	 * 20..22, two delta lengths at 23..26, the run list {100, 8, 8
	 * bytes} at 27, the zstd delta after it, then the DATA section */
	struct { const char *what; size_t off; uint8_t flip; } cases[] = {
		{ "magic", 0, 1 }, { "version", 2, 3 }, { "flags", 3, 0x80 },
		{ "page count", 4, 1 }, { "reserved", 6, 1 }, { "seq", 8, 1 },
		{ "delta_len", 12, 0xff }, { "data_len", 16, 0x01 },
		{ "data_len high", 19, 0x80 }, { "kind of page 1", 20, 0x0c },
		{ "kind of page 8", 22, 0x03 }, { "delta length", 23, 0x01 },
		{ "empty literal", 28, 0x08 }, { "long literal", 28, 0x77 },
		{ "zero run varint", 27, 0xe4 },
	};
	uint8_t *copy;
	size_t len, zdelta, data;

	CHECK_OK(make_fixture(&fx));
	len = fx.frame.len;
	copy = malloc(len + 1);
	CHECK(copy);
	zdelta = 27 + xlmig_get_le16(fx.frame.data + 23);
	data = zdelta + xlmig_get_le16(fx.frame.data + 25);
	for (size_t k = 0; k < XLMIG_ARRAY_SIZE(cases); k++) {
		memcpy(copy, fx.frame.data, len);
		copy[cases[k].off] ^= cases[k].flip;
		if (decode_fixture(&fx, copy, len) != XLMIG_E_FORMAT) {
			unit_fail(__FILE__, __LINE__, "corrupt %s accepted",
				  cases[k].what);
			return;
		}
	}
	/* the zstd payloads: delta and DATA section */
	memcpy(copy, fx.frame.data, len);
	copy[zdelta] ^= 0xff;
	CHECK_EQ(decode_fixture(&fx, copy, len), XLMIG_E_FORMAT);
	memcpy(copy, fx.frame.data, len);
	copy[data] ^= 0xff;       /* zstd magic of the DATA section */
	CHECK_EQ(decode_fixture(&fx, copy, len), XLMIG_E_FORMAT);
	memcpy(copy, fx.frame.data, len);
	copy[len] = 0;            /* one byte too many */
	CHECK_EQ(decode_fixture(&fx, copy, len + 1), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "page frame 1"));
	/* nothing above changed the decoder */
	CHECK_OK(decode_fixture(&fx, fx.frame.data, len));
	free(copy);
	free_fixture(&fx);
}

TEST(codec_rejects_every_truncation)
{
	static struct fixture fx;

	CHECK_OK(make_fixture(&fx));
	for (size_t l = 0; l < fx.frame.len; l++)
		CHECK_EQ(decode_fixture(&fx, fx.frame.data, l), XLMIG_E_FORMAT);
	CHECK_OK(decode_fixture(&fx, fx.frame.data, fx.frame.len));
	free_fixture(&fx);
}

TEST(codec_rejects_out_of_sequence)
{
	static struct fixture fx;
	struct xlmig_buf f2 = { 0 };

	CHECK_OK(make_fixture(&fx));
	CHECK_OK(xlmig_codec_encode(fx.enc, fx.pfns, fx.pages, 12, &f2, NULL));
	CHECK_EQ(decode_fixture(&fx, f2.data, f2.len), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "out of sequence"));
	CHECK_OK(decode_fixture(&fx, fx.frame.data, fx.frame.len));
	CHECK_OK(decode_fixture(&fx, f2.data, f2.len));
	xlmig_buf_free(&f2);
	free_fixture(&fx);
}

/* A delta whose page an earlier claim of the same frame evicted: the
 * decoder rejects the frame and must undo that eviction, or its CLOCK
 * state drifts from the encoder's and a later frame fails. */
TEST(codec_failed_decode_leaves_cache_unchanged)
{
	enum { W = 8 };
	static uint8_t pages[W * PS], out[W * PS];
	uint64_t pfns[W], bad[W];
	struct xlmig_codec *enc = codec(W * PS, false), *dec = codec(W * PS, false);
	struct xlmig_buf f = { 0 };

	CHECK(enc && dec);
	seq_pfns(pfns, W, 0);
	fill_random(pages, sizeof(pages));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, W, NULL));
	/* frame: pfn 50 new (evicts pfn 0), pfns 1..7 deltas */
	pfns[0] = 50;
	for (int i = 0; i < W; i++)
		nudge(pages + i * PS);
	CHECK_OK(xlmig_codec_encode(enc, pfns, pages, W, &f, NULL));
	memcpy(bad, pfns, sizeof(bad));
	bad[W - 1] = 0;   /* a delta for pfn 0, evicted by page 0 */
	CHECK_EQ(xlmig_codec_decode(dec, f.data, f.len, bad, W, out, NULL),
		 XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "does not hold"));
	CHECK_OK(xlmig_codec_decode(dec, f.data, f.len, pfns, W, out, NULL));
	CHECK(memcmp(out, pages, sizeof(out)) == 0);
	/* pfn 60 new, then pfn 1 again: right only if CLOCK stayed in step */
	pfns[0] = 60;
	nudge(pages + PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, 2, NULL));
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

static struct xlmig_codec *codec_resent(size_t cache)
{
	struct xlmig_codec_opts o = { .cache_bytes = cache, .cache_resent = true };

	return xlmig_codec_new(&o);
}

/* With cache_resent a pfn's first page is not cached, its second is, its
 * third goes as a delta; zero pages note nothing; a reset forgets. */
TEST(codec_cache_resent_from_second_send)
{
	enum { N = 32 };
	static uint8_t pages[N * PS];
	uint64_t pfns[N];
	struct xlmig_codec *enc = codec_resent(XLMIG_CODEC_DEFAULT_CACHE);
	struct xlmig_codec *dec = codec_resent(XLMIG_CODEC_DEFAULT_CACHE);
	struct xlmig_codec_stats st;

	CHECK(enc && dec);
	seq_pfns(pfns, N, 7000);
	memset(pages, 0, sizeof(pages));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, N, NULL));   /* zero: noted nowhere */
	fill_random(pages, sizeof(pages));
	for (int send = 1; send <= 3; send++) {
		for (int i = 0; i < N; i++)
			nudge(pages + i * PS);
		st = (struct xlmig_codec_stats){ 0 };
		CHECK_OK(roundtrip(enc, dec, pfns, pages, N, &st));
		CHECK_EQ(st.pages_delta, send == 3 ? N : 0);
	}
	/* a reset forgets what was sent: the next two sends are a first
	 * and a second again, neither a delta */
	CHECK_OK(xlmig_codec_reset(enc));
	CHECK_OK(xlmig_codec_reset(dec));
	for (int send = 1; send <= 2; send++) {
		nudge(pages);
		st = (struct xlmig_codec_stats){ 0 };
		CHECK_OK(roundtrip(enc, dec, pfns, pages, 1, &st));
		CHECK_EQ(st.pages_delta, 0);   /* reset: first and second send again */
	}
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

/* A decode that fails un-notes the pfns it noted: the retried right
 * frame notes them again, and the two ends stay in step. */
TEST(codec_cache_resent_failed_decode_notes_nothing)
{
	enum { W = 8 };
	static uint8_t pages[W * PS], out[W * PS];
	uint64_t pfns[W], bad[W];
	struct xlmig_codec *enc = codec_resent(W * PS), *dec = codec_resent(W * PS);
	struct xlmig_buf f = { 0 };
	struct xlmig_codec_stats st = { 0 };

	CHECK(enc && dec);
	seq_pfns(pfns, W, 100);
	fill_random(pages, sizeof(pages));
	CHECK_OK(roundtrip(enc, dec, pfns, pages, W, NULL));   /* noted */
	for (int i = 0; i < W; i++)
		nudge(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, pfns, pages, W, NULL));   /* cached */
	/* pfns 200..203 first seen, 104..107 deltas */
	for (int i = 0; i < W / 2; i++)
		pfns[i] = 200 + (uint64_t)i;
	for (int i = 0; i < W; i++)
		nudge(pages + i * PS);
	CHECK_OK(xlmig_codec_encode(enc, pfns, pages, W, &f, NULL));
	memcpy(bad, pfns, sizeof(bad));
	bad[W - 1] = 300;   /* a delta against a page never sent */
	CHECK_EQ(xlmig_codec_decode(dec, f.data, f.len, bad, W, out, NULL), XLMIG_E_FORMAT);
	CHECK_OK(xlmig_codec_decode(dec, f.data, f.len, pfns, W, out, NULL));
	CHECK(memcmp(out, pages, sizeof(out)) == 0);
	/* Had the failed frame left 200..203 noted, the retry would have
	 * cached them on this end only, evicting pfns the encoder still
	 * holds: 100..103, whose deltas come next. */
	seq_pfns(bad, W / 2, 100);
	for (int i = 0; i < W / 2; i++)
		nudge(pages + i * PS);
	CHECK_OK(roundtrip(enc, dec, bad, pages, W / 2, &st));
	CHECK_EQ(st.pages_delta, W / 2);
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

TEST(codec_bad_arguments)
{
	struct xlmig_codec_opts o = { .zstd_level = 25 };
	struct xlmig_codec *enc = codec(1 << 20, false);
	struct xlmig_buf f = { 0 };
	static uint8_t page[PS];
	uint64_t pfn = 1;

	CHECK(xlmig_codec_new(&o) == NULL);
	o = (struct xlmig_codec_opts){ .cache_bytes = 100 };
	CHECK(xlmig_codec_new(&o) == NULL);
	CHECK(enc);
	CHECK_EQ(xlmig_codec_encode(enc, &pfn, page, 0, &f, NULL), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_codec_encode(enc, &pfn, page, XLMIG_CODEC_MAX_BATCH + 1,
				    &f, NULL), XLMIG_E_INVAL);
	CHECK_OK(xlmig_codec_encode(enc, &pfn, page, 1, &f, NULL));
	CHECK_EQ(xlmig_codec_decode(enc, f.data, f.len, &pfn, 1, page, NULL),
		 XLMIG_E_INVAL);
	xlmig_buf_free(&f);
	xlmig_codec_free(enc);
}

/* A 256 MiB guest with real content sent whole, then three pre-copy
 * passes over the pages a workload touched; the destination's copy must
 * end up identical. */
TEST(codec_large_precopy)
{
	const uint64_t npages = (256u << 20) / PS;
	struct xlmig_memimage_mix mix = { 60, 25, 15 };
	struct xlmig_memimage_info info;
	uint8_t *src = malloc(npages * PS), *dst = malloc(npages * PS);
	uint64_t *dirty = malloc(npages * sizeof(*dirty)), pfns[XLMIG_CODEC_MAX_BATCH];
	uint8_t *batch = malloc(XLMIG_CODEC_MAX_BATCH * PS);
	struct xlmig_codec *enc = codec(XLMIG_CODEC_DEFAULT_CACHE, false);
	struct xlmig_codec *dec = codec(XLMIG_CODEC_DEFAULT_CACHE, false);
	struct xlmig_codec_stats st = { 0 };
	struct xlmig_buf f = { 0 };
	uint64_t nd;

	CHECK(src && dst && dirty && batch && enc && dec);
	CHECK_OK(xlmig_memimage_fill(src, npages, &mix, 42, NULL, 0, &info));
	for (uint64_t p = 0; p < npages; p++)
		dirty[p] = p;
	nd = npages;
	for (int pass = 0; pass < 4; pass++) {
		if (pass > 0)
			nd = xlmig_memimage_touch(src, npages, 10, 100 + pass, dirty);
		for (uint64_t i = 0; i < nd; i += XLMIG_CODEC_MAX_BATCH) {
			uint32_t n = (uint32_t)XLMIG_MIN(nd - i, XLMIG_CODEC_MAX_BATCH);

			for (uint32_t k = 0; k < n; k++) {
				pfns[k] = dirty[i + k];
				memcpy(batch + k * PS, src + pfns[k] * PS, PS);
			}
			xlmig_buf_reset(&f);
			CHECK_OK(xlmig_codec_encode(enc, pfns, batch, n, &f, &st));
			CHECK_OK(xlmig_codec_decode(dec, f.data, f.len, pfns, n,
						    batch, NULL));
			for (uint32_t k = 0; k < n; k++)
				memcpy(dst + pfns[k] * PS, batch + k * PS, PS);
		}
	}
	CHECK(memcmp(src, dst, npages * PS) == 0);
	CHECK_INT(st.pages_delta, >, npages / 20);
	CHECK_INT(st.bytes_out, <, st.bytes_in / 2);
	xlmig_buf_free(&f);
	free(src);
	free(dst);
	free(dirty);
	free(batch);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
}

TEST(codec_pagecache_clock_second_chance)
{
	struct xlmig_pagecache *pc;
	uint32_t slot;
	bool hit;

	CHECK_OK(xlmig_pagecache_new(8 * PS, &pc));
	CHECK_EQ(xlmig_pagecache_slots(pc), 8);
	for (uint64_t p = 0; p < 8; p++) {
		CHECK_OK(xlmig_pagecache_claim(pc, p, &slot, &hit));
		CHECK(!hit);
	}
	CHECK_OK(xlmig_pagecache_claim(pc, 0, &slot, &hit));
	CHECK(hit);
	CHECK_OK(xlmig_pagecache_claim(pc, 8, &slot, &hit));
	CHECK(!hit);
	CHECK(xlmig_pagecache_find(pc, 0) >= 0);   /* resent: kept */
	CHECK_EQ(xlmig_pagecache_find(pc, 1), -1); /* sent once: evicted */

	xlmig_pagecache_begin(pc);
	CHECK_OK(xlmig_pagecache_claim(pc, 9, &slot, &hit));
	CHECK_OK(xlmig_pagecache_claim(pc, 10, &slot, &hit));
	xlmig_pagecache_rollback(pc);
	CHECK_EQ(xlmig_pagecache_find(pc, 9), -1);
	CHECK(xlmig_pagecache_find(pc, 2) >= 0);
	CHECK(xlmig_pagecache_find(pc, 3) >= 0);
	xlmig_pagecache_free(pc);
	CHECK_EQ(xlmig_pagecache_new(PS - 1, &pc), XLMIG_E_INVAL);
}

TEST(codec_pagecache_same_calls_same_contents)
{
	struct xlmig_pagecache *a, *b;

	CHECK_OK(xlmig_pagecache_new(100 * PS, &a));
	CHECK_OK(xlmig_pagecache_new(100 * PS, &b));
	CHECK_EQ(xlmig_pagecache_slots(a), 96);
	for (int i = 0; i < 20000; i++) {
		uint64_t pfn = rnd() % 400;
		uint32_t sa, sb;
		bool ha, hb;

		CHECK_OK(xlmig_pagecache_claim(a, pfn, &sa, &ha));
		CHECK_OK(xlmig_pagecache_claim(b, pfn, &sb, &hb));
		CHECK(sa == sb && ha == hb);
	}
	for (uint64_t p = 0; p < 400; p++)
		CHECK_EQ(xlmig_pagecache_find(a, p), xlmig_pagecache_find(b, p));
	xlmig_pagecache_free(a);
	xlmig_pagecache_free(b);
}

TEST(codec_xorrle_roundtrip_and_checks)
{
	static uint8_t a[PS], b[PS], x[PS], enc[PS + 64];
	static const uint8_t bad[][4] = {
		{ 0x00, 0x00 },             /* empty literal */
		{ 0x80, 0x40, 0x01, 0 },    /* run past the page */
		{ 0x00, 0x05, 0x01 },       /* literal truncated */
		{ 0x81, 0x81, 0x01 },       /* three-byte varint */
	};
	static const size_t bad_len[] = { 2, 4, 3, 3 };

	for (int t = 0; t < 200; t++) {
		unsigned changes = (unsigned)(rnd() % 40);
		int len;

		fill_random(a, PS);
		memcpy(b, a, PS);
		for (unsigned k = 0; k < changes; k++)
			b[rnd() % PS] ^= (uint8_t)(1 + rnd() % 255);
		xlmig_xorrle_xor(x, a, b);
		len = xlmig_xorrle_encode(x, enc, sizeof(enc));
		CHECK_INT(len, >=, 0);
		CHECK_OK(xlmig_xorrle_check(enc, (size_t)len));
		xlmig_xorrle_apply(a, enc, (size_t)len);
		CHECK(memcmp(a, b, PS) == 0);
	}
	fill_random(x, PS);
	CHECK_EQ(xlmig_xorrle_encode(x, enc, 2048), -1);
	for (size_t k = 0; k < XLMIG_ARRAY_SIZE(bad); k++)
		CHECK_EQ(xlmig_xorrle_check(bad[k], bad_len[k]), XLMIG_E_FORMAT);
}

/* The run list by its definition, a byte at a time: a literal ends at
 * the first run of at least 3 zero bytes, or of zeros up to the page's end. */
static size_t xorrle_by_definition(const uint8_t *x, uint8_t *out)
{
	size_t pos = 0, o = 0;

	for (;;) {
		size_t start = pos, end, n[2];

		while (start < PS && !x[start])
			start++;
		if (start == PS)
			return o;
		end = start + 1;
		while (end < PS) {
			size_t z = end;

			while (z < PS && !x[z])
				z++;
			if (z == PS || z - end >= 3)
				break;
			end = z == end ? end + 1 : z;
		}
		n[0] = start - pos;
		n[1] = end - start;
		for (int k = 0; k < 2; k++) {
			if (n[k] < 0x80) {
				out[o++] = (uint8_t)n[k];
			} else {
				out[o++] = (uint8_t)(n[k] | 0x80);
				out[o++] = (uint8_t)(n[k] >> 7);
			}
		}
		memcpy(out + o, x + start, end - start);
		o += end - start;
		pos = end;
	}
}

TEST(codec_xorrle_encodes_by_definition)
{
	static uint8_t x[PS], enc[PS + 64], ref[3 * PS];
	static const unsigned zero_percent[] = { 0, 10, 50, 70, 90, 99 };

	for (size_t d = 0; d < XLMIG_ARRAY_SIZE(zero_percent); d++) {
		for (int t = 0; t < 50; t++) {
			int len;
			size_t rlen;

			for (size_t i = 0; i < PS; i++)
				x[i] = (rnd() % 100 < zero_percent[d]) ? 0 : (uint8_t)(1 + rnd() % 255);
			len = xlmig_xorrle_encode(x, enc, sizeof(enc));
			rlen = xorrle_by_definition(x, ref);
			if (rlen > sizeof(enc)) {
				CHECK_EQ(len, -1);
				continue;
			}
			CHECK_EQ((size_t)len, rlen);
			CHECK(memcmp(enc, ref, rlen) == 0);
		}
	}
}

TEST(codec_memimage_deterministic_mix)
{
	enum { NP = 4096 };
	struct xlmig_memimage_mix mix;
	struct xlmig_memimage_info info;
	uint8_t *a = malloc(NP * PS), *b = malloc(NP * PS);
	uint64_t *dirty = malloc(NP * sizeof(*dirty)), zero = 0, nd;
	const char *none[] = { "/nonexistent-xlmig", NULL };

	CHECK(a && b && dirty);
	CHECK_OK(xlmig_memimage_mix_parse("60/25/15", &mix));
	CHECK_EQ(xlmig_memimage_mix_parse("60/25/16", &mix), XLMIG_E_INVAL);
	CHECK_OK(xlmig_memimage_fill(a, NP, &mix, 7, NULL, 0, &info));
	CHECK_EQ(info.file_pages, NP * 60 / 100);
	CHECK_EQ(info.zero_pages, NP * 25 / 100);
	CHECK_EQ(info.file_pages + info.zero_pages + info.random_pages, NP);
	CHECK_INT(info.files_read, >, 0);
	CHECK_OK(xlmig_memimage_fill(b, NP, &mix, 7, NULL, 0, &info));
	CHECK(memcmp(a, b, NP * PS) == 0);
	CHECK_OK(xlmig_memimage_fill(b, NP, &mix, 8, NULL, 0, &info));
	CHECK(memcmp(a, b, NP * PS) != 0);
	for (int p = 0; p < NP; p++) {
		static const uint8_t z[PS];

		zero += memcmp(a + p * PS, z, PS) == 0;
	}
	CHECK_INT(zero, >=, info.zero_pages);
	memcpy(b, a, NP * PS);
	nd = xlmig_memimage_touch(b, NP, 10, 1, dirty);
	CHECK_INT(nd, >, NP / 20);
	CHECK_INT(nd, <, NP / 5);
	for (uint64_t i = 1; i < nd; i++)
		CHECK(dirty[i] > dirty[i - 1]);
	CHECK_EQ(xlmig_memimage_fill(b, NP, &mix, 7, none, 0, &info), XLMIG_E_NOTFOUND);
	free(a);
	free(b);
	free(dirty);
}
