/*
 * fuzz_stream.c - libFuzzer harness for the stream parser and writer.
 *
 * The first input byte's low 7 bits choose how the rest is cut into
 * chunks (one chunk, single bytes, or sizes drawn from a generator seeded
 * by that byte), so every input also exercises the straddling-record
 * path; its top bit lets xl's messages follow the final END (a capture of
 * what `xl migrate` wrote, xlmig_parser_accept_xl_messages()).  Any input
 * may be refused, but:
 *   - the error must be one of the parser's documented codes;
 *   - what xlmig_write_item() wrote back for the items accepted so far
 *     must be exactly the input's first bytes, and all of it when the
 *     stream is accepted whole, but for xl's messages after END, which
 *     are never written back and must then make up the rest exactly.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (small generated
 * streams of each layout) into DIR and exits.
 */
#include "stream.h"
#include "stream_gen.h"
#include "xlproto.h"

#include <stdlib.h>

struct out {
	struct xlmig_buf buf;
	struct xlmig_sink sink;
	size_t xl_msg_bytes;     /* of xl's messages after END */
};

static int rewrite(void *opaque, const struct xlmig_item *it)
{
	struct out *o = opaque;

	if (it->kind == XLMIG_ITEM_XL_MESSAGE) {
		/* Only after the stream, and only whole messages. */
		if (it->offset != o->buf.len + o->xl_msg_bytes || !it->raw_len ||
		    xlmig_write_item(&o->sink, it) != XLMIG_E_INVAL)
			abort();
		o->xl_msg_bytes += it->raw_len;
		return XLMIG_OK;
	}
	if (o->xl_msg_bytes)
		abort();
	return xlmig_write_item(&o->sink, it);
}

static size_t next_chunk(uint8_t mode, uint64_t *state, size_t left)
{
	if (mode == 0)
		return left;
	if (mode == 1)
		return 1;
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return XLMIG_MIN(left, (size_t)(*state >> 33) % (mode * 64u) + 1);
}

static bool expected_error(int rc)
{
	return rc == XLMIG_E_FORMAT || rc == XLMIG_E_TRUNCATED ||
	       rc == XLMIG_E_UNSUPPORTED || rc == XLMIG_E_LIMIT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out o = { .sink = { xlmig_sink_buf_write, &o.buf } };
	struct xlmig_parser *p;
	uint64_t state;
	uint8_t mode;
	size_t off = 1;
	int rc = XLMIG_OK;

	if (size < 1)
		return 0;
	mode = data[0] & 0x7f;
	state = mode;
	p = xlmig_parser_new(rewrite, &o);
	if (!p)
		abort();
	if (data[0] & 0x80)
		xlmig_parser_accept_xl_messages(p);
	while (off < size && !rc) {
		size_t n = next_chunk(mode, &state, size - off);

		rc = xlmig_parser_feed(p, data + off, n);
		off += n;
	}
	if (!rc)
		rc = xlmig_parser_finish(p);
	if (rc && !expected_error(rc))
		abort();
	/* Written back: a prefix of the input, all of it if accepted. */
	if (o.buf.len > size - 1 || (o.buf.len && memcmp(o.buf.data, data + 1, o.buf.len)))
		abort();
	if (!rc && (o.buf.len + o.xl_msg_bytes != size - 1 || !xlmig_parser_done(p)))
		abort();
	xlmig_parser_free(p);
	xlmig_buf_free(&o.buf);
	return 0;
}

/* ---- seed corpus ---- */

/* A seed: the mode byte, the generated stream, then tail (may be NULL). */
static void write_seed_tail(const char *dir, const char *name, uint8_t mode,
			    const struct xlmig_gen_params *gp, const void *tail, size_t tail_len)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_sink sink = { xlmig_sink_buf_write, &b };
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (xlmig_buf_append(&b, &mode, 1) || xlmig_gen_stream(gp, &sink) ||
	    (tail_len && xlmig_buf_append(&b, tail, tail_len)))
		abort();
	f = fopen(path, "wb");
	if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f))
		abort();
	xlmig_buf_free(&b);
}

static void write_seed(const char *dir, const char *name, uint8_t mode,
		       const struct xlmig_gen_params *gp)
{
	write_seed_tail(dir, name, mode, gp, NULL, 0);
}

static void small(struct xlmig_gen_params *gp, uint32_t guest, uint32_t version)
{
	xlmig_gen_defaults(gp);
	gp->guest_type = guest;
	gp->libxc_version = version;
	gp->pages = 2;
	gp->vcpus = 1;
	gp->iterations = 1;
	gp->dirty_pages = 1;
	gp->content = XLMIG_GEN_TEXT;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("XLMIG_FUZZ_WRITE_SEEDS");
	struct xlmig_gen_params gp;

	if (!dir)
		return 0;
	small(&gp, XLMIG_GUEST_X86_PV, 3);
	write_seed(dir, "pv-v3-xl", 0, &gp);
	small(&gp, XLMIG_GUEST_X86_HVM, 2);
	gp.checkpoints = 1;
	write_seed(dir, "hvm-v2-checkpoint", 3, &gp);
	small(&gp, XLMIG_GUEST_X86_HVM, 3);
	gp.xl_header = gp.libxl = false;
	gp.pages = 1;
	write_seed(dir, "hvm-v3-bare", 1, &gp);
	small(&gp, XLMIG_GUEST_X86_PV, 2);
	gp.xl_header = false;
	gp.optional_records = true;
	gp.holes = true;
	write_seed(dir, "pv-v2-libxl-optional", 7, &gp);
	/* What an xl sender wrote: the stream, then its GO. */
	small(&gp, XLMIG_GUEST_X86_HVM, 3);
	write_seed_tail(dir, "hvm-v3-xl-capture", 0x80 | 5, &gp, XLMIG_XLPROTO_GO,
			XLMIG_XLPROTO_GO_LEN);
	exit(0);
}
