/*
 * fuzz_ckpt_zip.c - libFuzzer harness for the compressed checkpoint
 * container's reader (ckpt_zip.h), as `xlmig restore` and `xlmig
 * inspect` meet a file: written by anything, cut or damaged anywhere.
 *
 * Input: the file's bytes, fed in two pieces split at a point the input's
 * last byte chooses (the reader is fed in chunks).  A file the reader
 * accepts gives back a stream whose length it counted; when that stream
 * is a save stream, packing it again and unpacking the result must give
 * it back byte for byte.  Nothing may crash, leak or read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a real sim stream packed (sim_stream.h),
 * a generated PV stream with holes packed, and the first cut short.
 */
#include "ckpt_zip.h"
#include "harness.h"
#include "sim_stream.h"
#include "stream_gen.h"

/* The stream a file gives is kept up to this; beyond, only counted. */
#define KEEP_MAX (16u << 20)

struct kept {
	struct xlmig_buf b;
	uint64_t bytes;
	bool over;
};

static int keep(void *opaque, const void *data, size_t len)
{
	struct kept *k = opaque;

	k->bytes += len;
	if (k->over || k->b.len + len > KEEP_MAX) {
		k->over = true;
		return XLMIG_OK;
	}
	return xlmig_buf_append(&k->b, data, len);
}

static int unpack_buf(const uint8_t *data, size_t len, size_t split, struct kept *k)
{
	struct xlmig_sink s = { keep, k };
	struct xlmig_ckz_reader *r;
	int rc = xlmig_ckz_reader_new(&s, &r);

	if (rc == XLMIG_OK)
		rc = xlmig_ckz_reader_feed(r, data, split);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_reader_feed(r, data + split, len - split);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_reader_finish(r);
	if (rc == XLMIG_OK && xlmig_ckz_reader_stats(r)->stream_bytes != k->bytes)
		abort();
	xlmig_ckz_reader_free(r);
	return rc;
}

static void write_seeds(const char *dir)
{
	struct fuzz_sim_seed seed = { .vcpus = 1, .pattern = XLMIG_SIM_HOTSET };
	struct xlmig_buf stream = { 0 }, packed = { 0 };
	struct xlmig_sink s = { xlmig_sink_buf_write, &stream };
	struct xlmig_gen_params p;

	if (fuzz_sim_stream(&seed, &stream) != XLMIG_OK || xlmig_ckz_pack_mem(stream.data, stream.len, 1, &packed)) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	fuzz_put_seed(dir, "sim", -1, packed.data, packed.len);
	fuzz_put_seed(dir, "sim-cut", -1, packed.data, packed.len * 2 / 3);
	xlmig_buf_reset(&stream);
	xlmig_buf_reset(&packed);
	xlmig_gen_defaults(&p);
	p.pages = 8;    /* packed, under -max_len (64 mixed pages were 137 KiB) */
	p.content = XLMIG_GEN_TEXT;
	p.iterations = 1;
	p.dirty_pages = 2;
	p.batch = 4;
	p.holes = true;
	if (xlmig_gen_stream(&p, &s) || xlmig_ckz_pack_mem(stream.data, stream.len, 1, &packed))
		abort();
	fuzz_put_seed(dir, "gen-pv-holes", -1, packed.data, packed.len);
	xlmig_buf_free(&stream);
	xlmig_buf_free(&packed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kept k = { 0 }, again = { 0 };
	struct xlmig_buf repacked = { 0 };
	size_t split = size ? (size_t)data[size - 1] * size / 256 : 0;

	if (unpack_buf(data, size, split, &k) == XLMIG_OK && !k.over &&
	    xlmig_ckz_pack_mem(k.b.data, k.b.len, 1, &repacked) == XLMIG_OK) {
		if (unpack_buf(repacked.data, repacked.len, repacked.len / 2, &again) != XLMIG_OK ||
		    again.b.len != k.b.len || memcmp(again.b.data, k.b.data, k.b.len))
			abort();
	}
	xlmig_buf_free(&k.b);
	xlmig_buf_free(&again.b);
	xlmig_buf_free(&repacked);
	return 0;
}
