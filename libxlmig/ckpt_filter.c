/*
 * ckpt_filter.c - continue a partial checkpoint behind a backend that
 * cannot (see ckpt_filter.h).  Everything the filter decides, it decides
 * from items the stream parser has checked; what it writes is either an
 * item's own bytes or a PAGE_DATA record rebuilt by the stream writer
 * from the entries it keeps.
 */
#include "ckpt_filter.h"
#include "ckpt_base.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct xlmig_ckpt_filter {
	const struct xlmig_ckpt_base *base;
	int fd;
	struct xlmig_parser *parser;
	bool in_pages;              /* past the head */
	bool whole;                 /* started over: everything is written */
	char started_over[256];
	struct xlmig_buf head;      /* held back until the first page record */
	uint64_t *seen;             /* bitmap over base->max_pages */
	uint64_t unchanged;
	uint64_t *pfns;             /* a rebuilt record's entries ... */
	uint8_t *pages;             /* ... and pages */
};

static int write_out(struct xlmig_ckpt_filter *f, const void *data, size_t len)
{
	int rc = xlmig_write_full(f->fd, data, len);

	return rc == XLMIG_OK ? rc : xlmig_fail_prefix(rc, "writing the checkpoint file");
}

/* The first page record ends the head: continue the file if its head is
 * this stream's, else empty it and write the stream whole. */
static int settle_head(struct xlmig_ckpt_filter *f)
{
	const struct xlmig_buf *want = &f->base->head;

	f->in_pages = true;
	if (want->len == f->head.len && !memcmp(want->data, f->head.data, want->len))
		return XLMIG_OK;
	f->whole = true;
	snprintf(f->started_over, sizeof(f->started_over),
		 "the partial file's head is not what this save writes (the guest's config or static state changed since): started over");
	if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
		return xlmig_fail(XLMIG_E_IO, "emptying the partial checkpoint file: %s", strerror(errno));
	return write_out(f, f->head.data, f->head.len);
}

/* True for a pfn the stream gives for the first time. */
static bool first_sight(struct xlmig_ckpt_filter *f, uint64_t pfn)
{
	uint64_t bit = 1ull << (pfn % 64);
	bool first;

	if (pfn >= f->base->max_pages)
		return false;
	first = !(f->seen[pfn / 64] & bit);
	f->seen[pfn / 64] |= bit;
	return first;
}

/* Whether the record's entry i goes to the file: not when it is a pfn's
 * first sight and the file holds its content (XALLOC: a zero page). */
static bool keep_entry(struct xlmig_ckpt_filter *f, uint64_t ent, const uint8_t *page)
{
	unsigned type = (unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT);

	if (first_sight(f, ent & XLMIG_PFN_MASK) && (page || type == XLMIG_PFINFO_XALLOC) &&
	    xlmig_ckpt_base_same(f->base, ent & XLMIG_PFN_MASK, page)) {
		f->unchanged++;
		return false;
	}
	return true;
}

/* A PAGE_DATA record without the pages the file holds as they are:
 * written as it came when it keeps them all, rebuilt from the entries it
 * keeps when it keeps some. */
static int filter_pages(struct xlmig_ckpt_filter *f, const struct xlmig_item *it)
{
	struct xlmig_sink sink = { xlmig_sink_fd_write, &f->fd };
	bool keep[XLMIG_MAX_PAGES_PER_RECORD];
	const uint8_t *data = it->u.page.data;
	uint32_t kept = 0, kept_data = 0;
	int rc;

	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t ent = xlmig_get_le64(it->u.page.pfns + (size_t)i * 8);
		bool has_data = xlmig_pfn_type_has_data((unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT));

		keep[i] = keep_entry(f, ent, has_data ? data : NULL);
		kept += keep[i];
		data += has_data ? XLMIG_PAGE_SIZE : 0;
	}
	if (kept == it->u.page.count)
		return write_out(f, it->raw, it->raw_len);
	if (kept == 0)
		return XLMIG_OK;
	if (!f->pages && !(f->pages = malloc((size_t)XLMIG_MAX_PAGES_PER_RECORD * XLMIG_PAGE_SIZE)))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the checkpoint's filter");
	data = it->u.page.data;
	kept = 0;
	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t ent = xlmig_get_le64(it->u.page.pfns + (size_t)i * 8);
		bool has_data = xlmig_pfn_type_has_data((unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT));

		if (keep[i]) {
			f->pfns[kept++] = ent;
			if (has_data)
				memcpy(f->pages + (size_t)kept_data++ * XLMIG_PAGE_SIZE, data, XLMIG_PAGE_SIZE);
		}
		data += has_data ? XLMIG_PAGE_SIZE : 0;
	}
	rc = xlmig_write_page_data(&sink, kept, f->pfns, f->pages);
	return rc == XLMIG_OK ? rc : xlmig_fail_prefix(rc, "writing the checkpoint file");
}

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct xlmig_ckpt_filter *f = opaque;
	bool page = it->kind == XLMIG_ITEM_LIBXC_RECORD && it->type == XLMIG_REC_PAGE_DATA;
	int rc;

	if (!f->in_pages && !page)
		return xlmig_buf_append(&f->head, it->raw, it->raw_len);
	if (!f->in_pages && (rc = settle_head(f)))
		return rc;
	if (page && !f->whole)
		return filter_pages(f, it);
	return write_out(f, it->raw, it->raw_len);
}

int xlmig_ckpt_filter_new(const struct xlmig_ckpt_base *base, int fd,
			  struct xlmig_ckpt_filter **out)
{
	struct xlmig_ckpt_filter *f = calloc(1, sizeof(*f));
	size_t words = (size_t)((base->max_pages + 63) / 64);

	*out = NULL;
	if (f) {
		f->base = base;
		f->fd = fd;
		f->parser = xlmig_parser_new(on_item, f);
		f->seen = calloc(words ? words : 1, sizeof(*f->seen));
		f->pfns = malloc(XLMIG_MAX_PAGES_PER_RECORD * sizeof(*f->pfns));
	}
	if (!f || !f->parser || !f->seen || !f->pfns) {
		xlmig_ckpt_filter_free(f);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the checkpoint's filter");
	}
	*out = f;
	return XLMIG_OK;
}

int xlmig_ckpt_filter_feed(struct xlmig_ckpt_filter *f, const void *data, size_t len)
{
	return xlmig_parser_feed(f->parser, data, len);
}

int xlmig_ckpt_filter_finish(struct xlmig_ckpt_filter *f)
{
	int rc = xlmig_parser_finish(f->parser);

	/* A stream without a page: its head is all there is. */
	if (rc == XLMIG_OK && !f->in_pages)
		rc = settle_head(f);
	return rc;
}

uint64_t xlmig_ckpt_filter_unchanged(const struct xlmig_ckpt_filter *f)
{
	return f->unchanged;
}

const char *xlmig_ckpt_filter_started_over(const struct xlmig_ckpt_filter *f)
{
	return f->whole ? f->started_over : NULL;
}

void xlmig_ckpt_filter_free(struct xlmig_ckpt_filter *f)
{
	if (!f)
		return;
	xlmig_parser_free(f->parser);
	xlmig_buf_free(&f->head);
	free(f->seen);
	free(f->pfns);
	free(f->pages);
	free(f);
}
