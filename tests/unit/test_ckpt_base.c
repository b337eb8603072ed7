/* test_ckpt_base.c - reading what a partial checkpoint file holds: a
 * whole sim save stream and the same stream cut anywhere give the head,
 * a cut at a PAGE_DATA boundary and each pfn's last content; a stream of
 * a bigger guest, or garbage before the first page, is refused.  And the
 * filter that continues such a file behind a backend that cannot
 * (ckpt_filter.h): over the file's own stream it writes little more
 * than the tail, and the file restores to that stream's memory; over
 * another head it starts the file over with the whole stream. */
#include "unit.h"
#include "ckpt_base.h"
#include "ckpt_filter.h"
#include "sim_engine.h"
#include "stream.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define GUEST_MIB 64

/* Where each PAGE_DATA record of a stream ends, and where the first
 * begins. */
struct bounds {
	uint64_t first_page, ends[4096];
	size_t n;
};

static int note_item(void *opaque, const struct xlmig_item *it)
{
	struct bounds *b = opaque;

	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA)
		return XLMIG_OK;
	if (b->n == 0)
		b->first_page = it->offset;
	if (b->n < XLMIG_ARRAY_SIZE(b->ends))
		b->ends[b->n++] = it->offset + it->raw_len;
	return XLMIG_OK;
}

/* A paused sim guest of the smallest size saved whole into memory. */
static int saved_stream(struct xlmig_sim_guest **g, struct xlmig_buf *out)
{
	struct xlmig_sim_workload wl;
	struct xlmig_save_opts so = { 0 };
	struct xlmig_save_result sr;
	char path[256];
	int fd, rc;

	xlmig_sim_workload_default(&wl);
	wl.rate = 0;
	snprintf(path, sizeof(path), "%s/stream", unit_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return XLMIG_E_IO;
	rc = xlmig_sim_guest_new(GUEST_MIB * MIB, 1, &wl, true, g);
	if (rc == XLMIG_OK) {
		xlmig_sim_guest_unpause(*g);
		rc = xlmig_sim_save(*g, "vm", fd, &so, &sr);
	}
	if (rc == XLMIG_OK && lseek(fd, 0, SEEK_SET) == 0)
		rc = xlmig_read_all(fd, 2 * GUEST_MIB * MIB, out);
	close(fd);
	return rc;
}

/* Each test's saved guest and its stream. */
struct fixture {
	struct xlmig_sim_guest *g;
	struct xlmig_buf s;
	uint64_t npages;
};

static void fixture_up(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->npages = GUEST_MIB * MIB / XLMIG_PAGE_SIZE;
	CHECK_OK(saved_stream(&f->g, &f->s));
}

static void fixture_down(struct fixture *f)
{
	xlmig_sim_guest_free(f->g);
	xlmig_buf_free(&f->s);
}

static void bounds_of(const struct xlmig_buf *s, struct bounds *b)
{
	struct xlmig_parser *p = xlmig_parser_new(note_item, b);

	memset(b, 0, sizeof(*b));
	CHECK(p != NULL);
	CHECK_OK(xlmig_parser_feed(p, s->data, s->len));
	xlmig_parser_free(p);
}

TEST(ckpt_base_of_a_whole_stream_knows_every_page_and_cuts_its_tail)
{
	struct fixture f;
	struct xlmig_ckpt_base *b;
	struct bounds bd;
	uint8_t *mem, page[XLMIG_PAGE_SIZE];
	uint64_t npages;

	fixture_up(&f);
	npages = f.npages;
	bounds_of(&f.s, &bd);
	CHECK(bd.n > 0);
	CHECK_OK(xlmig_ckpt_base_parse(f.s.data, f.s.len, npages, &b));
	CHECK_EQ(b->head.len, bd.first_page);
	CHECK(!memcmp(b->head.data, f.s.data, b->head.len));
	CHECK_EQ(b->end, bd.ends[bd.n - 1]);     /* the tail goes */
	CHECK(b->end < f.s.len);
	CHECK_EQ(b->page_records, bd.n);
	CHECK_EQ(b->pages_known, npages);
	/* The guest is paused after its save: what the file holds is it. */
	mem = xlmig_sim_guest_mem(f.g);
	for (uint64_t pfn = 0; pfn < npages; pfn++)
		if (!xlmig_ckpt_base_same(b, pfn, mem + pfn * XLMIG_PAGE_SIZE))
			CHECK(!"a page differs from the file's");
	memcpy(page, mem + 5 * XLMIG_PAGE_SIZE, sizeof(page));
	page[100] ^= 1;
	CHECK(!xlmig_ckpt_base_same(b, 5, page));
	CHECK(!xlmig_ckpt_base_same(b, npages, mem));
	xlmig_ckpt_base_free(b);
	fixture_down(&f);
}

TEST(ckpt_base_of_a_cut_stream_keeps_its_whole_page_records)
{
	struct fixture f;
	struct xlmig_ckpt_base *b;
	struct bounds bd;
	const uint8_t *s;
	uint64_t npages;

	fixture_up(&f);
	s = f.s.data;
	npages = f.npages;
	bounds_of(&f.s, &bd);
	CHECK(bd.n >= 2);
	/* Cut inside the second record, exactly after the first, and
	 * inside the head. */
	CHECK_OK(xlmig_ckpt_base_parse(s, bd.ends[1] - 7, npages, &b));
	CHECK_EQ(b->end, bd.ends[0]);
	CHECK_EQ(b->page_records, 1);
	CHECK(b->pages_known > 0 && b->pages_known < npages);
	xlmig_ckpt_base_free(b);
	CHECK_OK(xlmig_ckpt_base_parse(s, bd.ends[0], npages, &b));
	CHECK_EQ(b->end, bd.ends[0]);
	xlmig_ckpt_base_free(b);
	CHECK_OK(xlmig_ckpt_base_parse(s, bd.first_page / 2, npages, &b));
	CHECK(b->end <= bd.first_page / 2 && b->pages_known == 0);
	xlmig_ckpt_base_free(b);
	CHECK_OK(xlmig_ckpt_base_parse(s, 0, npages, &b));
	CHECK(b->end == 0 && b->head.len == 0);
	xlmig_ckpt_base_free(b);
	fixture_down(&f);
}

TEST(ckpt_base_refuses_another_guests_file_and_garbage)
{
	struct fixture f;
	struct xlmig_buf *s = &f.s;
	struct xlmig_ckpt_base *b = (void *)1;
	uint64_t npages;
	char path[256];
	int fd;

	fixture_up(&f);
	npages = f.npages;
	/* A smaller guest cannot hold these pfns. */
	CHECK_EQ(xlmig_ckpt_base_parse(s->data, s->len, npages / 2, &b), XLMIG_E_FORMAT);
	CHECK(b == NULL);
	s->data[3] ^= 0xff;              /* the xl magic */
	CHECK(xlmig_ckpt_base_parse(s->data, s->len, npages, &b) != XLMIG_OK);
	CHECK(b == NULL);
	s->data[3] ^= 0xff;
	CHECK_EQ(xlmig_ckpt_base_parse(s->data, s->len, 0, &b), XLMIG_E_INVAL);
	/* From a file, as a checkpoint reads it. */
	snprintf(path, sizeof(path), "%s/partial", unit_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && xlmig_write_full(fd, s->data, s->len) == XLMIG_OK);
	CHECK_OK(xlmig_ckpt_base_read(fd, npages, &b));
	CHECK_EQ(b->pages_known, npages);
	xlmig_ckpt_base_free(b);
	close(fd);
	fixture_down(&f);
}

/* The file a filter over base writes when fed stream whole (prefilled
 * with what base keeps of it, as a checkpoint leaves the partial file),
 * read back into *file. */
static int filtered(const struct xlmig_ckpt_base *b, const struct xlmig_buf *kept,
		    const struct xlmig_buf *stream, size_t feed_len, struct xlmig_buf *file,
		    uint64_t *unchanged, bool *started_over)
{
	struct xlmig_ckpt_filter *f = NULL;
	char path[256];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/partial", unit_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return XLMIG_E_IO;
	rc = xlmig_write_full(fd, kept->data, kept->len);
	if (rc == XLMIG_OK)
		rc = xlmig_ckpt_filter_new(b, fd, &f);
	/* In uneven chunks: items straddle them. */
	for (size_t off = 0; rc == XLMIG_OK && off < feed_len; off += 100003)
		rc = xlmig_ckpt_filter_feed(f, stream->data + off,
					    feed_len - off < 100003 ? feed_len - off : 100003);
	if (rc == XLMIG_OK)
		rc = xlmig_ckpt_filter_finish(f);
	if (f) {
		*unchanged = xlmig_ckpt_filter_unchanged(f);
		*started_over = xlmig_ckpt_filter_started_over(f) != NULL;
	}
	if (rc == XLMIG_OK && lseek(fd, 0, SEEK_SET) == 0)
		rc = xlmig_read_all(fd, 4 * GUEST_MIB * MIB, file);
	xlmig_ckpt_filter_free(f);
	close(fd);
	return rc;
}

/* Two whole streams restore to the same memory: each pfn's last
 * content is the same. */
static bool same_memory(const struct xlmig_buf *a, const struct xlmig_buf *b, uint64_t npages)
{
	struct xlmig_ckpt_base *x = NULL, *y = NULL;
	bool same = xlmig_ckpt_base_parse(a->data, a->len, npages, &x) == XLMIG_OK &&
		    xlmig_ckpt_base_parse(b->data, b->len, npages, &y) == XLMIG_OK &&
		    x->pages_known == npages && y->pages_known == npages &&
		    !memcmp(x->digest, y->digest, (size_t)npages * 32);

	xlmig_ckpt_base_free(x);
	xlmig_ckpt_base_free(y);
	return same;
}

TEST(ckpt_filter_over_the_files_own_stream_writes_only_its_tail)
{
	struct fixture f;
	struct xlmig_ckpt_base *b;
	struct xlmig_buf kept = { 0 }, file = { 0 };
	uint64_t unchanged = 0;
	bool over = true;

	fixture_up(&f);
	CHECK_OK(xlmig_ckpt_base_parse(f.s.data, f.s.len, f.npages, &b));
	CHECK_OK(xlmig_buf_append(&kept, f.s.data, b->end));
	CHECK_OK(filtered(b, &kept, &f.s, f.s.len, &file, &unchanged, &over));
	CHECK(!over);
	/* A page the save sent twice (its final pass) goes again; every
	 * other one is left as the file holds it. */
	CHECK_INT(unchanged, >, f.npages - f.npages / 100);
	CHECK_INT(file.len - kept.len, <, (f.s.len - b->end) + 64 * (XLMIG_PAGE_SIZE + 64));
	CHECK(!memcmp(file.data, kept.data, kept.len));
	CHECK(same_memory(&file, &f.s, f.npages));
	/* Cut short, as a save that failed leaves it: said so. */
	CHECK_EQ(filtered(b, &kept, &f.s, f.s.len - 5, &file, &unchanged, &over),
		 XLMIG_E_TRUNCATED);
	xlmig_ckpt_base_free(b);
	xlmig_buf_free(&kept);
	xlmig_buf_free(&file);
	fixture_down(&f);
}

TEST(ckpt_filter_over_another_head_starts_the_file_over_whole)
{
	struct fixture f;
	struct xlmig_ckpt_base *b;
	struct xlmig_buf other = { 0 }, kept = { 0 }, file = { 0 };
	struct bounds bd;
	uint64_t unchanged = 1;
	bool over = false;

	fixture_up(&f);
	bounds_of(&f.s, &bd);
	/* The same file but for one byte of its head's config: another
	 * guest's, or this one's before its config changed. */
	CHECK_OK(xlmig_buf_append(&other, f.s.data, f.s.len));
	CHECK(bd.first_page > 100);
	other.data[60] ^= 0x01;
	CHECK_OK(xlmig_ckpt_base_parse(other.data, other.len, f.npages, &b));
	CHECK_OK(xlmig_buf_append(&kept, other.data, b->end));
	CHECK_OK(filtered(b, &kept, &f.s, f.s.len, &file, &unchanged, &over));
	CHECK(over);
	CHECK_EQ(unchanged, 0);
	CHECK_EQ(file.len, f.s.len);
	CHECK(!memcmp(file.data, f.s.data, f.s.len));
	xlmig_ckpt_base_free(b);
	xlmig_buf_free(&other);
	xlmig_buf_free(&kept);
	xlmig_buf_free(&file);
	fixture_down(&f);
}
