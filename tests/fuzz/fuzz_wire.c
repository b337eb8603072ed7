/*
 * fuzz_wire.c - libFuzzer harness for frames: the input is what a peer
 * sent on a channel, read from memory (a channel over the input: no
 * thread, socket or session).
 *
 * Frames are read one after another and every payload goes through its
 * parser: STREAM's compressed-block length, PAGES' layout and its
 * compressed pfn array's length, END, PROGRESS, the typed SIDE and CTRL
 * payloads, ERROR and ABORT.  Anything may be refused; nothing may
 * crash, hang, read out of bounds or leak, and a frame read whole has
 * the payload its header announced.  One channel and one frame buffer
 * serve every input (harness.h fuzz_mem_chan_again; a header may
 * announce 8 MiB, whose allocation cost more than the parse), the
 * REDZONE bytes past a payload poisoned while its parser runs, so a read
 * past the payload is still caught as ASan catches one past an
 * allocation (poisoning all of a large buffer's tail would cost its
 * shadow's memset per frame).  What a receiving transfer makes of
 * frames (reorder, decompression, the PAGES rebuild through the codec,
 * END's digest) is fuzz_xfer_recv's, end to end.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (valid frames of
 * every type) into DIR and exits.
 */
#include <sanitizer/asan_interface.h>
#include <stdlib.h>

#include "harness.h"
#include "wire.h"

#define REDZONE 4096u

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
	case XLMIG_FRAME_PROGRESS:
		xlmig_wire_progress_parse(p, len, &bytes);
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

static void write_seeds(const char *dir)
{
	struct xlmig_buf all = { 0 }, pl = { 0 };
	uint8_t digest[32] = { 1 };

	fuzz_put_frame(&all, XLMIG_FRAME_STREAM, 0, 0, "stream bytes", 12);
	xlmig_wire_pages_hdr_build(&pl, 24, 24, 1);
	memset(xlmig_buf_extend(&pl, 24 + 8), 7, 24 + 8);
	fuzz_put_frame(&all, XLMIG_FRAME_PAGES, 0, 1, pl.data, pl.len);
	xlmig_buf_reset(&pl);
	xlmig_wire_end_build(&pl, digest, 12);
	fuzz_put_frame(&all, XLMIG_FRAME_END, 0, 2, pl.data, pl.len);
	xlmig_buf_reset(&pl);
	xlmig_wire_typed_build(&pl, 3, "ctrl", 4);
	fuzz_put_frame(&all, XLMIG_FRAME_CTRL, 0, 0, pl.data, pl.len);
	fuzz_put_frame(&all, XLMIG_FRAME_SIDE, 0, 0, pl.data, pl.len);
	xlmig_buf_reset(&pl);
	xlmig_wire_error_build(&pl, XLMIG_E_AUTH, "refused");
	fuzz_put_frame(&all, XLMIG_FRAME_ERROR, 0, 0, pl.data, pl.len);
	xlmig_buf_reset(&pl);
	xlmig_wire_progress_build(&pl, 1u << 20);
	fuzz_put_frame(&all, XLMIG_FRAME_PROGRESS, 0, 0, pl.data, pl.len);
	fuzz_put_seed(dir, "frames", -1, all.data, all.len);
	xlmig_buf_free(&all);
	xlmig_buf_free(&pl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xlmig_frame f;
	struct xlmig_chan *ch = fuzz_mem_chan_again(data, size, NULL);

	while (xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 0, 0, &f) == XLMIG_OK) {
		size_t tail = XLMIG_MIN(f.payload.cap - f.payload.len, (size_t)REDZONE);

		if (f.payload.len != f.hdr.len)
			abort();
		ASAN_POISON_MEMORY_REGION(f.payload.data + f.payload.len, tail);
		parse_payload(&f);
		ASAN_UNPOISON_MEMORY_REGION(f.payload.data + f.payload.len, tail);
	}
	return 0;
}
