/*
 * memimage.h - synthetic guest memory with real content, for the codec
 * benchmark, tests and the simulated guests: pages of real files (from
 * /usr/bin and /usr/share by default), zero pages and random pages in
 * given proportions, laid out in extents the way a guest's memory is
 * (a file's pages together, zeroed regions, heaps of high-entropy data).
 *
 * Everything is deterministic for a given seed and file tree: files are
 * listed in sorted order and every choice comes from a seeded generator.
 */
#ifndef XLMIG_MEMIMAGE_H
#define XLMIG_MEMIMAGE_H

#include "common.h"

struct xlmig_memimage_mix {
	unsigned file_pct, zero_pct, random_pct;   /* must add up to 100 */
};

/* What a fill produced. */
struct xlmig_memimage_info {
	uint64_t file_pages, zero_pages, random_pages;
	uint64_t files_read;    /* files whose pages were used */
	bool files_reused;      /* the tree ran out and files were used twice */
};

/* Pages already read as zero (a fresh mapping): zero pages are left
 * alone rather than written, so that on shared memory they stay holes
 * that cost no host memory, as a guest's never-used memory does. */
#define XLMIG_MEMIMAGE_FRESH 0x1u

/* Fill npages pages at pages.  dirs: NULL-terminated directories to draw
 * files from, NULL for /usr/bin and /usr/share.  flags: XLMIG_MEMIMAGE_*.
 * XLMIG_E_NOTFOUND if a file share was asked for and no readable file
 * was found. */
int xlmig_memimage_fill(uint8_t *pages, uint64_t npages,
			const struct xlmig_memimage_mix *mix, uint64_t seed,
			const char *const *dirs, unsigned flags,
			struct xlmig_memimage_info *info);

/* Parse "60/25/15" (file/zero/random percentages). */
int xlmig_memimage_mix_parse(const char *s, struct xlmig_memimage_mix *mix);

/* Change about pct percent of the pages slightly (one to four short runs
 * of random bytes each), as a running guest does between two pre-copy
 * passes.  The changed pfns go to dirty (room for npages) in ascending
 * order; returns how many. */
uint64_t xlmig_memimage_touch(uint8_t *pages, uint64_t npages, unsigned pct,
			      uint64_t seed, uint64_t *dirty);

#endif
