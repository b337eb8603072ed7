/*
 * fuzz_checkpoint_params.c - libFuzzer harness for a checkpoint's
 * parameters (checkpoint.h) as they arrive in the resume token of a
 * backup job that travelled from another host.
 *
 * Input: the token's bytes.  What decodes must name an absolute path
 * within the bound and numbers within theirs, and survive the round trip
 * (encoded and decoded again, the same parameters).  Nothing may crash,
 * leak or read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes tokens of every shape into DIR.
 */
#include "checkpoint.h"
#include "harness.h"

static void write_seeds(const char *dir)
{
	static const char *const texts[] = {
		"{\"file\":\"/srv/ckpt/web1\",\"downtime_ms\":100,\"max_iters\":30,\"verify\":true}",
		"{\"file\":\"/a\"}",
		"{\"file\":\"relative\",\"verify\":false}",
		"{\"file\":\"/x\\u0000y\",\"downtime_ms\":600001}",
		"{\"file\":\"/x\",\"max_iters\":-1,\"verify\":1}",
		"[\"/x\"]",
	};

	fuzz_put_text_seeds(dir, "token", texts, XLMIG_ARRAY_SIZE(texts));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_checkpoint_params p, q;
	struct xlmig_buf b = { 0 };

	if (xlmig_checkpoint_params_decode(data, size, &p) != XLMIG_OK)
		return 0;
	if (p.file[0] != '/' || strlen(p.file) > XLMIG_CHECKPOINT_PATH_MAX ||
	    p.downtime_ms > XLMIG_CHECKPOINT_DOWNTIME_MAX_MS || p.max_iters > XLMIG_CHECKPOINT_ITERS_MAX)
		abort();
	if (xlmig_checkpoint_params_encode(&p, &b) != XLMIG_OK ||
	    xlmig_checkpoint_params_decode(b.data, b.len, &q) != XLMIG_OK || memcmp(&p, &q, sizeof(p)))
		abort();
	xlmig_buf_free(&b);
	return 0;
}
