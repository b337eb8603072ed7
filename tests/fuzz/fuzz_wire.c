/*
 * fuzz_wire.c - libFuzzer harness for frames: the input is what a peer
 * sent on a channel.  Frames are read from it one after another, as the
 * receiver does, and every payload goes through its parser.  Anything may
 * be refused, nothing may crash, read out of bounds or leak.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (one file of valid
 * frames of every type) into DIR and exits.
 */
#include <stdlib.h>

#include "wire.h"

struct mem {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem *m = ctx;
	size_t n = XLMIG_MIN(len, m->len - m->off);

	if (n)
		memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static ssize_t mem_write(void *ctx, const void *buf, size_t len) { return (ssize_t)len; }
static int mem_pollfd(void *ctx, bool for_write) { return -1; }
static bool mem_pending(void *ctx) { return true; }
static void mem_close(void *ctx) { free(ctx); }

static const struct xlmig_chan_ops mem_ops = {
	.read = mem_read, .write = mem_write, .pollfd = mem_pollfd,
	.pending = mem_pending, .close = mem_close,
};

static void parse_payload(const struct xlmig_frame *f)
{
	const uint8_t *p = f->payload.data, *data;
	char text[XLMIG_WIRE_MAX_TEXT + 1];
	struct xlmig_wire_pages wp;
	uint8_t digest[32];
	uint64_t bytes;
	uint32_t type, raw;
	size_t len = f->payload.len;
	int code;

	switch (f->hdr.type) {
	case XLMIG_FRAME_STREAM:
		if (f->hdr.flags & XLMIG_WIRE_F_ZSTD)
			xlmig_wire_zblob_len(p, len, XLMIG_WIRE_MAX_PAYLOAD, &raw);
		break;
	case XLMIG_FRAME_PAGES:
		if (xlmig_wire_pages_parse(&f->hdr, p, &wp) == XLMIG_OK && wp.prefix_zstd)
			xlmig_wire_zblob_len(wp.prefix, wp.prefix_stored_len, wp.prefix_len, &raw);
		break;
	case XLMIG_FRAME_END:
		xlmig_wire_end_parse(p, len, digest, &bytes);
		break;
	case XLMIG_FRAME_SIDE:
	case XLMIG_FRAME_CTRL:
		xlmig_wire_typed_parse(p, len, &type, &data, &len);
		break;
	case XLMIG_FRAME_ERROR:
	case XLMIG_FRAME_ABORT:
		if (xlmig_wire_error_parse(p, len, &code, text) == XLMIG_OK && strlen(text) > XLMIG_WIRE_MAX_TEXT)
			abort();
		break;
	}
}

static void frame(struct xlmig_buf *out, uint8_t type, uint8_t flags, uint64_t seq,
		  const struct xlmig_buf *payload)
{
	struct xlmig_frame_hdr h = { .type = type, .flags = flags, .len = (uint32_t)payload->len,
				     .seq = seq };

	xlmig_wire_hdr_encode(xlmig_buf_extend(out, XLMIG_WIRE_HDR_LEN), &h);
	xlmig_buf_append(out, payload->data, payload->len);
}

static void write_seeds(const char *dir)
{
	struct xlmig_buf all = { 0 }, pl = { 0 };
	uint8_t digest[32] = { 1 };
	char path[4096];
	FILE *fp;

	xlmig_buf_append(&pl, "stream bytes", 12);
	frame(&all, XLMIG_FRAME_STREAM, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_pages_hdr_build(&pl, 24, 24, 1);
	memset(xlmig_buf_extend(&pl, 24 + 8), 7, 24 + 8);
	frame(&all, XLMIG_FRAME_PAGES, 0, 1, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_end_build(&pl, digest, 12);
	frame(&all, XLMIG_FRAME_END, 0, 2, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_typed_build(&pl, 3, "ctrl", 4);
	frame(&all, XLMIG_FRAME_CTRL, 0, 0, &pl);
	frame(&all, XLMIG_FRAME_SIDE, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_error_build(&pl, XLMIG_E_AUTH, "refused");
	frame(&all, XLMIG_FRAME_ERROR, 0, 0, &pl);
	snprintf(path, sizeof(path), "%s/frames", dir);
	fp = fopen(path, "wb");
	if (!fp || fwrite(all.data, 1, all.len, fp) != all.len)
		abort();
	fclose(fp);
	xlmig_buf_free(&all);
	xlmig_buf_free(&pl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("XLMIG_FUZZ_WRITE_SEEDS");

	xlmig_log_set_level(-1);
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct xlmig_frame f = { 0 };
	struct xlmig_chan *ch;

	m->p = data;
	m->len = size;
	if (xlmig_chan_new(&mem_ops, m, "fuzz", &ch) != XLMIG_OK) {
		free(m);
		return 0;
	}
	while (xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 0, 0, &f) == XLMIG_OK) {
		if (f.payload.len != f.hdr.len)
			abort();
		parse_payload(&f);
	}
	xlmig_frame_free(&f);
	xlmig_chan_free(ch);
	return 0;
}
