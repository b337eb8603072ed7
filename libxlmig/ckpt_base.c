/*
 * ckpt_base.c - what a partial checkpoint file already holds (see
 * ckpt_base.h).  The file goes through the stream parser item by item;
 * everything here trusts only what the parser has checked, and sizes
 * nothing by the file: the per-pfn table is the guest's size.
 */
#include "ckpt_base.h"
#include "stream.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)

struct reader {
	struct xlmig_ckpt_base *b;
	bool in_pages;           /* the first PAGE_DATA was seen */
	bool stopped;            /* the run of PAGE_DATA records ended */
	bool foreign;            /* a page beyond the guest: not its file */
};

void xlmig_page_digest(const uint8_t *page, uint8_t out[32])
{
	static const uint8_t zero[XLMIG_PAGE_SIZE];
	unsigned len = 32;

	/* SHA-256 of 4 KiB in memory fails only without memory for a
	 * context: then no digest matches and every page is written. */
	if (EVP_Digest(page ? page : zero, XLMIG_PAGE_SIZE, out, &len, EVP_sha256(), NULL) != 1)
		memset(out, 0xff, 32);
}

static void set_known(struct xlmig_ckpt_base *b, uint64_t pfn, bool known)
{
	uint64_t bit = 1ull << (pfn % 64);
	bool was = (b->known[pfn / 64] & bit) != 0;

	if (known && !was)
		b->pages_known++;
	else if (!known && was)
		b->pages_known--;
	b->known[pfn / 64] = known ? b->known[pfn / 64] | bit : b->known[pfn / 64] & ~bit;
}

/* Each entry's last content: data pages by their digest, XALLOC as a
 * zero page, and XTAB or BROKEN (no page there) as unknown. */
static int take_pages(struct xlmig_ckpt_base *b, const struct xlmig_item *it)
{
	const uint8_t *data = it->u.page.data;

	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t ent = xlmig_get_le64(it->u.page.pfns + (size_t)i * 8);
		uint64_t pfn = ent & XLMIG_PFN_MASK;
		unsigned type = (unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT);

		if (pfn >= b->max_pages)
			return xlmig_fail(XLMIG_E_FORMAT, "PAGE_DATA at offset %llu names pfn %#llx, beyond the guest's %llu pages",
					  (unsigned long long)it->offset, (unsigned long long)pfn,
					  (unsigned long long)b->max_pages);
		if (xlmig_pfn_type_has_data(type)) {
			xlmig_page_digest(data, b->digest[pfn]);
			data += XLMIG_PAGE_SIZE;
			set_known(b, pfn, true);
		} else if (type == XLMIG_PFINFO_XALLOC) {
			memcpy(b->digest[pfn], b->zero_digest, 32);
			set_known(b, pfn, true);
		} else {
			set_known(b, pfn, false);
		}
	}
	b->page_records++;
	b->end = it->offset + it->raw_len;
	return XLMIG_OK;
}

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct reader *r = opaque;
	bool page = it->kind == XLMIG_ITEM_LIBXC_RECORD && it->type == XLMIG_REC_PAGE_DATA;

	if (page) {
		int rc = take_pages(r->b, it);

		r->in_pages = true;
		r->foreign = rc != XLMIG_OK;
		return rc;
	}
	if (r->in_pages) {
		/* A tail (or VERIFY): written by a final pass this save will
		 * write again.  Stop reading; the file is cut here. */
		r->stopped = true;
		return XLMIG_E_CANCELLED;
	}
	r->b->end = it->offset + it->raw_len;
	return xlmig_buf_append(&r->b->head, it->raw, it->raw_len);
}

static int base_new(uint64_t max_pages, struct xlmig_ckpt_base **out)
{
	size_t words = (size_t)((max_pages + 63) / 64);
	struct xlmig_ckpt_base *b;

	*out = NULL;
	if (max_pages == 0 || max_pages > XLMIG_PFN_MASK / 2)
		return xlmig_fail(XLMIG_E_INVAL, "a guest of %llu pages", (unsigned long long)max_pages);
	b = calloc(1, sizeof(*b));
	if (b) {
		b->max_pages = max_pages;
		xlmig_page_digest(NULL, b->zero_digest);
		b->known = calloc(words ? words : 1, sizeof(*b->known));
		b->digest = calloc((size_t)max_pages, sizeof(*b->digest));
	}
	if (!b || !b->known || !b->digest) {
		xlmig_ckpt_base_free(b);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the page digests of a %llu-page guest",
				  (unsigned long long)max_pages);
	}
	*out = b;
	return XLMIG_OK;
}

/* The parser's verdict on what it was fed: an error after the first
 * page record only ends the part of the file that is kept. */
static int settle(struct reader *r, struct xlmig_parser *p, int rc)
{
	if (rc == XLMIG_OK || r->stopped)
		return XLMIG_OK;
	if (r->foreign)
		return rc;
	if (r->in_pages) {
		r->stopped = true;
		xlmig_debug("partial checkpoint: kept up to offset %llu, cut after it: %s",
			    (unsigned long long)r->b->end, xlmig_errmsg());
		return XLMIG_OK;
	}
	return xlmig_fail_prefix(rc, "the partial file does not parse before its first page (offset %llu)",
				 (unsigned long long)xlmig_parser_offset(p));
}

int xlmig_ckpt_base_parse(const uint8_t *data, size_t len, uint64_t max_pages,
			  struct xlmig_ckpt_base **out)
{
	struct reader r = { 0 };
	struct xlmig_parser *p = NULL;
	int rc = base_new(max_pages, &r.b);

	if (rc == XLMIG_OK && !(p = xlmig_parser_new(on_item, &r)))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a stream parser");
	if (rc == XLMIG_OK)
		rc = settle(&r, p, xlmig_parser_feed(p, data, len));
	xlmig_parser_free(p);
	if (rc != XLMIG_OK) {
		xlmig_ckpt_base_free(r.b);
		r.b = NULL;
	}
	*out = r.b;
	return rc;
}

int xlmig_ckpt_base_read(int fd, uint64_t max_pages, struct xlmig_ckpt_base **out)
{
	struct reader r = { 0 };
	struct xlmig_parser *p = NULL;
	uint8_t *chunk = malloc(READ_CHUNK);
	off_t off = 0;
	int rc = base_new(max_pages, &r.b);

	if (rc == XLMIG_OK && (!chunk || !(p = xlmig_parser_new(on_item, &r))))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for reading a partial checkpoint");
	while (rc == XLMIG_OK && !r.stopped) {
		ssize_t n = pread(fd, chunk, READ_CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = xlmig_fail(XLMIG_E_IO, "reading the partial checkpoint: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		off += n;
		rc = settle(&r, p, xlmig_parser_feed(p, chunk, (size_t)n));
	}
	xlmig_parser_free(p);
	free(chunk);
	if (rc != XLMIG_OK) {
		xlmig_ckpt_base_free(r.b);
		r.b = NULL;
	}
	*out = r.b;
	return rc;
}

void xlmig_ckpt_base_free(struct xlmig_ckpt_base *b)
{
	if (!b)
		return;
	xlmig_buf_free(&b->head);
	free(b->known);
	free(b->digest);
	free(b);
}

bool xlmig_ckpt_base_same(const struct xlmig_ckpt_base *b, uint64_t pfn, const uint8_t *page)
{
	uint8_t d[32];

	if (pfn >= b->max_pages || !((b->known[pfn / 64] >> (pfn % 64)) & 1))
		return false;
	if (page)
		xlmig_page_digest(page, d);
	return memcmp(page ? d : b->zero_digest, b->digest[pfn], sizeof(d)) == 0;
}
