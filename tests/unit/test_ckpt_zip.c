/* test_ckpt_zip.c - the compressed checkpoint container: generated save
 * streams (PV and HVM, holes, optional records, checkpoints) packed and
 * unpacked in chunks of odd sizes give back the same bytes; a file
 * damaged anywhere, cut short, with bytes after its end or from a newer
 * version is refused with a reason, and a stream cut short is not
 * packed. */
#include "unit.h"
#include "ckpt_zip.h"
#include "stream_gen.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int gen(const struct xlmig_gen_params *p, struct xlmig_buf *out)
{
	struct xlmig_sink s = { xlmig_sink_buf_write, out };

	return xlmig_gen_stream(p, &s);
}

/* Feed len bytes to fn in pieces of step bytes. */
static int feed_in_steps(int (*fn)(void *, const void *, size_t), void *obj,
			 const uint8_t *data, size_t len, size_t step)
{
	int rc = XLMIG_OK;

	for (size_t off = 0; off < len && !rc; off += step)
		rc = fn(obj, data + off, XLMIG_MIN(step, len - off));
	return rc;
}

static int writer_feed(void *w, const void *d, size_t n) { return xlmig_ckz_writer_feed(w, d, n); }
static int reader_feed(void *r, const void *d, size_t n) { return xlmig_ckz_reader_feed(r, d, n); }

static int pack(const struct xlmig_buf *stream, size_t step, struct xlmig_buf *out,
		struct xlmig_ckz_stats *st)
{
	struct xlmig_sink s = { xlmig_sink_buf_write, out };
	struct xlmig_ckz_writer *w;
	int rc = xlmig_ckz_writer_new(&s, XLMIG_CKZ_LEVEL_DEFAULT, &w);

	if (rc == XLMIG_OK)
		rc = feed_in_steps(writer_feed, w, stream->data, stream->len, step);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_writer_finish(w);
	if (rc == XLMIG_OK && st)
		*st = *xlmig_ckz_writer_stats(w);
	xlmig_ckz_writer_free(w);
	return rc;
}

static int unpack(const uint8_t *data, size_t len, size_t step, struct xlmig_buf *out)
{
	struct xlmig_sink s = { xlmig_sink_buf_write, out };
	struct xlmig_ckz_reader *r;
	int rc = xlmig_ckz_reader_new(&s, &r);

	if (rc == XLMIG_OK)
		rc = feed_in_steps(reader_feed, r, data, len, step);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_reader_finish(r);
	xlmig_ckz_reader_free(r);
	return rc;
}

static void round_trip(const struct xlmig_gen_params *p)
{
	static const size_t steps[] = { 1 << 20, 4093, 7 };
	struct xlmig_buf stream = { 0 }, packed = { 0 }, back = { 0 };
	struct xlmig_ckz_stats st;

	CHECK_OK(gen(p, &stream));
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(steps); i++) {
		xlmig_buf_reset(&packed);
		xlmig_buf_reset(&back);
		CHECK_OK(pack(&stream, steps[i], &packed, &st));
		CHECK(xlmig_ckz_is_container(packed.data, packed.len));
		CHECK_EQ(st.file_bytes, packed.len);
		CHECK_EQ(st.stream_bytes, stream.len);
		CHECK_OK(unpack(packed.data, packed.len, steps[XLMIG_ARRAY_SIZE(steps) - 1 - i], &back));
		CHECK_EQ(back.len, stream.len);
		CHECK(!memcmp(back.data, stream.data, stream.len));
	}
	xlmig_buf_free(&stream);
	xlmig_buf_free(&packed);
	xlmig_buf_free(&back);
}

TEST(ckz_round_trips_pv_and_hvm_streams_byte_for_byte)
{
	struct xlmig_gen_params p;

	xlmig_gen_defaults(&p);
	p.pages = 3000;
	p.holes = true;
	p.optional_records = true;
	round_trip(&p);
	if (unit_failed())
		return;
	p.guest_type = XLMIG_GUEST_X86_HVM;
	p.libxc_version = 2;
	p.checkpoints = 2;
	p.batch = 1024;
	round_trip(&p);
	if (unit_failed())
		return;
	p.xl_header = false;   /* a bare libxl stream */
	p.batch = 1;
	p.pages = 300;
	round_trip(&p);
}

TEST(ckz_codes_zero_pages_as_flags_and_shrinks_text)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 }, packed = { 0 };
	struct xlmig_ckz_stats st;

	xlmig_gen_defaults(&p);
	p.pages = 4096;
	p.content = XLMIG_GEN_MIXED;
	CHECK_OK(gen(&p, &stream));
	CHECK_OK(pack(&stream, 1 << 20, &packed, &st));
	CHECK(st.pages_zero > 0);
	CHECK(st.pages_zstd > 0);
	CHECK(st.blocks[XLMIG_CKZ_PAGES] > 0 && st.blocks[XLMIG_CKZ_END] == 1);
	CHECK(packed.len < stream.len * 3 / 4);
	xlmig_buf_free(&stream);
	xlmig_buf_free(&packed);
}

/* The packed default stream, and where its blocks lie. */
struct packed {
	struct xlmig_buf stream, file;
	size_t first_pages, last_stream;   /* offsets of those blocks' headers */
};

static int packed_up(struct packed *k)
{
	struct xlmig_gen_params p;
	size_t off = XLMIG_CKZ_HEADER_LEN;
	int rc;

	memset(k, 0, sizeof(*k));
	xlmig_gen_defaults(&p);
	p.pages = 2048;
	rc = gen(&p, &k->stream);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_pack_mem(k->stream.data, k->stream.len, XLMIG_CKZ_LEVEL_DEFAULT, &k->file);
	while (rc == XLMIG_OK && off + XLMIG_CKZ_BLOCK_HDR <= k->file.len) {
		uint32_t type = xlmig_get_le32(k->file.data + off);

		if (type == XLMIG_CKZ_PAGES && !k->first_pages)
			k->first_pages = off;
		if (type == XLMIG_CKZ_STREAM)
			k->last_stream = off;
		off += XLMIG_CKZ_BLOCK_HDR + xlmig_get_le32(k->file.data + off + 4);
	}
	return rc;
}

static void packed_down(struct packed *k)
{
	xlmig_buf_free(&k->stream);
	xlmig_buf_free(&k->file);
}

/* Unpack a copy of k's file with byte at changed to v: the result. */
static int unpack_changed(const struct packed *k, size_t at, uint8_t v)
{
	struct xlmig_buf copy = { 0 }, back = { 0 };
	int rc = xlmig_buf_append(&copy, k->file.data, k->file.len);

	copy.data[at] = v;
	if (rc == XLMIG_OK)
		rc = unpack(copy.data, copy.len, 65536, &back);
	xlmig_buf_free(&copy);
	xlmig_buf_free(&back);
	return rc;
}

TEST(ckz_refuses_damaged_cut_and_unknown_files_saying_why)
{
	struct packed k;
	struct xlmig_buf back = { 0 }, more = { 0 };
	size_t frame;

	CHECK_OK(packed_up(&k));
	CHECK(k.first_pages && k.last_stream > k.first_pages);
	/* A byte of a STREAM block's payload: only the digest sees it. */
	CHECK_EQ(unpack_changed(&k, k.last_stream + XLMIG_CKZ_BLOCK_HDR + 3,
				k.file.data[k.last_stream + XLMIG_CKZ_BLOCK_HDR + 3] ^ 1), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "SHA-256") != NULL);
	/* The codec frame's magic in a PAGES block. */
	frame = k.first_pages + XLMIG_CKZ_BLOCK_HDR + 8 +
		8 * (size_t)xlmig_get_le32(k.file.data + k.first_pages + XLMIG_CKZ_BLOCK_HDR);
	CHECK_EQ(unpack_changed(&k, frame, k.file.data[frame] ^ 0xff), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "PAGES") != NULL);
	/* Its count of pages with data. */
	CHECK_EQ(unpack_changed(&k, k.first_pages + XLMIG_CKZ_BLOCK_HDR + 5, 0x7f), XLMIG_E_FORMAT);
	/* A block type and a length past the largest block. */
	CHECK_EQ(unpack_changed(&k, k.first_pages, 9), XLMIG_E_FORMAT);
	CHECK_EQ(unpack_changed(&k, k.first_pages + 7, 0x7f), XLMIG_E_LIMIT);
	/* Magic, version, flags. */
	CHECK_EQ(unpack_changed(&k, 0, 'x'), XLMIG_E_FORMAT);
	CHECK_EQ(unpack_changed(&k, 8, 2), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(unpack_changed(&k, 12, 1), XLMIG_E_UNSUPPORTED);
	/* Cut short anywhere: before the END block it is not a checkpoint. */
	CHECK_EQ(unpack(k.file.data, k.file.len - 1, 4096, &back), XLMIG_E_TRUNCATED);
	xlmig_buf_reset(&back);
	CHECK_EQ(unpack(k.file.data, k.first_pages + 3, 4096, &back), XLMIG_E_TRUNCATED);
	xlmig_buf_reset(&back);
	/* Bytes after the END block. */
	CHECK_OK(xlmig_buf_append(&more, k.file.data, k.file.len));
	CHECK_OK(xlmig_buf_append(&more, "\0", 1));
	CHECK_EQ(unpack(more.data, more.len, 4096, &back), XLMIG_E_FORMAT);
	xlmig_buf_free(&more);
	xlmig_buf_free(&back);
	packed_down(&k);
}

TEST(ckz_does_not_pack_a_stream_cut_short_or_malformed)
{
	struct packed k;
	struct xlmig_buf cut = { 0 }, out = { 0 };

	CHECK_OK(packed_up(&k));
	CHECK_OK(xlmig_buf_append(&cut, k.stream.data, k.stream.len - 8));
	CHECK_EQ(pack(&cut, 4096, &out, NULL), XLMIG_E_TRUNCATED);
	xlmig_buf_reset(&out);
	cut.data[0] ^= 1;   /* not xl's magic any more */
	CHECK(xlmig_ckz_pack_mem(cut.data, cut.len, 1, &out) != XLMIG_OK);
	xlmig_buf_free(&cut);
	xlmig_buf_free(&out);
	packed_down(&k);
}

TEST(ckz_unpacks_between_file_descriptors)
{
	struct packed k;
	struct xlmig_buf back = { 0 };
	struct xlmig_ckz_stats st;
	char path[512], out[512];
	int in_fd, out_fd;

	CHECK_OK(packed_up(&k));
	snprintf(path, sizeof(path), "%s/ckz", unit_tmpdir());
	snprintf(out, sizeof(out), "%s/stream", unit_tmpdir());
	in_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	out_fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(in_fd >= 0 && out_fd >= 0);
	CHECK_OK(xlmig_write_full(in_fd, k.file.data, k.file.len));
	CHECK(lseek(in_fd, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_ckz_unpack_fd(in_fd, out_fd, &st));
	CHECK_EQ(st.stream_bytes, k.stream.len);
	CHECK(lseek(out_fd, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_read_all(out_fd, k.stream.len + 1, &back));
	CHECK(back.len == k.stream.len && !memcmp(back.data, k.stream.data, back.len));
	close(in_fd);
	close(out_fd);
	xlmig_buf_free(&back);
	packed_down(&k);
}
