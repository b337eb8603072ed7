/*
 * fuzz_ckpt_base.c - libFuzzer harness for reading a partial checkpoint
 * file (ckpt_base.h), as a checkpoint taken over from another host finds
 * it on shared storage: written by anything, cut anywhere.
 *
 * Input: the file's bytes.  What reads must keep a prefix of the input
 * (end within it, the head its first bytes), know no more pages than the
 * guest has, and answer for every pfn without reading out of bounds.
 * Nothing may crash, leak or read out of bounds.  The same input then
 * goes through the filter that continues a file over that base
 * (ckpt_filter.h) into /dev/null: it may leave out each pfn once at
 * most.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a real sim stream (sim_stream.h),
 * whole and cut inside its pages and inside its head, into DIR.
 */
#include "ckpt_base.h"
#include "ckpt_filter.h"
#include "harness.h"
#include "sim_stream.h"

#include <fcntl.h>

/* A 4 MiB guest: the seeds' pages are at its start, and the per-pfn
 * table a guest of the sim's smallest size asks for (16 Ki pfns, 512 KiB
 * allocated and zeroed) took more of each input's time than its parse. */
#define GUEST_PAGES 1024u

static void write_seeds(const char *dir)
{
	struct fuzz_sim_seed seed = { .vcpus = 1, .pattern = XLMIG_SIM_HOTSET };
	struct xlmig_buf b = { 0 };

	if (fuzz_sim_stream(&seed, &b) != XLMIG_OK) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	fuzz_put_seed(dir, "whole", -1, b.data, b.len);
	fuzz_put_seed(dir, "cut-in-pages", -1, b.data, b.len * 2 / 3);
	fuzz_put_seed(dir, "cut-in-head", -1, b.data, 100);
	xlmig_buf_free(&b);
}

static int null_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return null_fd < 0;
}

static void filter_through(const struct xlmig_ckpt_base *b, const uint8_t *data, size_t size)
{
	struct xlmig_ckpt_filter *f;

	if (xlmig_ckpt_filter_new(b, null_fd, &f) != XLMIG_OK)
		return;
	if (xlmig_ckpt_filter_feed(f, data, size) == XLMIG_OK)
		(void)xlmig_ckpt_filter_finish(f);
	if (xlmig_ckpt_filter_unchanged(f) > GUEST_PAGES)
		abort();
	xlmig_ckpt_filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t edges[] = { 0, 1, GUEST_PAGES - 1, GUEST_PAGES, GUEST_PAGES + 1,
					  UINT64_MAX };
	struct xlmig_ckpt_base *b;
	uint64_t known = 0, answered = 0;

	if (xlmig_ckpt_base_parse(data, size, GUEST_PAGES, &b) != XLMIG_OK)
		return 0;
	if (b->end > size || b->head.len > b->end || (b->head.len && memcmp(b->head.data, data, b->head.len)) ||
	    b->pages_known > GUEST_PAGES)
		abort();
	/* Every pfn the bitmap knows is asked about, and the edges: asking
	 * every pfn of the guest cost each input more than its parse. */
	for (uint64_t w = 0; w < (GUEST_PAGES + 63) / 64; w++) {
		known += (uint64_t)__builtin_popcountll(b->known[w]);
		for (uint64_t bits = b->known[w]; bits; bits &= bits - 1)
			answered += xlmig_ckpt_base_same(b, w * 64 + (uint64_t)__builtin_ctzll(bits), NULL);
	}
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(edges); i++)
		if (xlmig_ckpt_base_same(b, edges[i], NULL) && edges[i] >= GUEST_PAGES)
			abort();   /* a pfn beyond the guest has no content */
	if (known != b->pages_known || answered > known)
		abort();
	filter_through(b, data, size);
	xlmig_ckpt_base_free(b);
	return 0;
}
