/*
 * ckpt_base.h - what a partial checkpoint file already holds, so that a
 * checkpoint stopped part-way (held by a migration of its guest) goes on
 * writing the same file, on whichever host the guest runs next, instead
 * of starting over.
 *
 * The file is read through the stream parser, never by offsets of our
 * own: its head (every item before the first PAGE_DATA record, byte for
 * byte), where its last whole PAGE_DATA record of the run that follows
 * ends (anything after it, a record cut short by the stop or a tail, is
 * to be cut off), and for each pfn the file gave content, the SHA-256 of
 * the last content it gave (a page without data, XALLOC, restores as a
 * zero page and has a zero page's digest).
 *
 * A save that continues the file writes its head nowhere (it must be the
 * head that save would write, else the file is not this guest's and the
 * checkpoint starts over), then sends in its first pass only the pages
 * whose content no longer has the recorded digest; its later passes and
 * its tail are those of any save.  Xen's format lets a later PAGE_DATA
 * record for a pfn supersede an earlier one (that is how pre-copy sends
 * a page again), so the result is an ordinary save stream.
 */
#ifndef XLMIG_CKPT_BASE_H
#define XLMIG_CKPT_BASE_H

#include "common.h"

struct xlmig_ckpt_base {
	struct xlmig_buf head;           /* the items before the first PAGE_DATA */
	uint64_t end;                    /* keep the file up to here */
	uint64_t max_pages;              /* the guest's: a pfn beyond is refused */
	uint64_t *known;                 /* bitmap: pfn has a digest */
	uint8_t (*digest)[32];           /* per pfn, valid where known */
	uint64_t pages_known;
	uint64_t page_records;           /* PAGE_DATA records kept */
	uint8_t zero_digest[32];         /* a zero page's */
};

/* Read the partial file on fd (from offset 0) for a guest of max_pages
 * pages.  Fails (XLMIG_E_FORMAT, the reason in the message) when the
 * file is not a save stream this could continue: its head does not
 * parse, or it names a pfn beyond the guest.  A file cut anywhere after
 * its head is fine: *out->end says how much of it to keep. */
int xlmig_ckpt_base_read(int fd, uint64_t max_pages, struct xlmig_ckpt_base **out);
/* The same over bytes in memory (tests, the fuzzer). */
int xlmig_ckpt_base_parse(const uint8_t *data, size_t len, uint64_t max_pages,
			  struct xlmig_ckpt_base **out);
void xlmig_ckpt_base_free(struct xlmig_ckpt_base *b);

/* True when the file's last content for pfn is page (NULL: a zero page,
 * or a hole that reads as one). */
bool xlmig_ckpt_base_same(const struct xlmig_ckpt_base *b, uint64_t pfn, const uint8_t *page);

/* SHA-256 of one page (NULL: a zero page). */
void xlmig_page_digest(const uint8_t *page, uint8_t out[32]);

#endif
