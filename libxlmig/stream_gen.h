/*
 * stream_gen.h - writes valid, complete Xen save streams for tests and
 * benches: xl header with a JSON domain config like libxl's, the libxl
 * stream, and the libxc stream inside it with the records in the order
 * xc_domain_save sends them for x86 PV or HVM guests, including pre-copy
 * iterations that send pages again with new contents, XTAB/XALLOC
 * entries, and STATIC_DATA_END for v3.  The stream goes to a sink as it
 * is made, so a stream of any size needs only one record of memory.
 */
#ifndef XLMIG_STREAM_GEN_H
#define XLMIG_STREAM_GEN_H

#include "stream.h"

/* Built-in page contents: deterministic from (seed, pfn, iteration). */
enum xlmig_gen_content {
	XLMIG_GEN_ZERO = 1,   /* all-zero pages */
	XLMIG_GEN_TEXT,       /* text-like: words and newlines */
	XLMIG_GEN_RANDOM,     /* incompressible */
	XLMIG_GEN_MIXED,      /* a guest-like mix of the three by pfn */
};

/* Fills one page: the contents of pfn as sent in pre-copy iteration
 * `iteration` (0 = the first full pass). */
typedef void (*xlmig_gen_page_fn)(void *opaque, uint64_t pfn, unsigned iteration,
				  uint8_t *page);

struct xlmig_gen_params {
	uint32_t guest_type;      /* XLMIG_GUEST_X86_PV or _HVM */
	uint32_t libxc_version;   /* 2 (Xen 4.6-4.13) or 3 (4.14+) */
	const char *name;         /* domain name in the config */
	uint64_t pages;           /* guest memory: pfns 0 .. pages-1 */
	unsigned vcpus;
	unsigned iterations;      /* pre-copy passes after the first */
	uint64_t dirty_pages;     /* pages sent again per pass */
	unsigned batch;           /* pages per PAGE_DATA, 1 .. 1024 */
	bool holes;               /* some pfns XTAB (invalid) or XALLOC */
	bool xl_header;           /* start with xl's header and config */
	bool libxl;               /* wrap in a libxl stream (else bare libxc) */
	unsigned checkpoints;     /* checkpoints (CHECKPOINT / CHECKPOINT_END) */
	bool optional_records;    /* add optional records to both layers */
	uint64_t seed;
	enum xlmig_gen_content content;
	/* Page contents, in order of precedence: a callback, a memory image
	 * of `pages` pages (same contents in every iteration), or content. */
	xlmig_gen_page_fn page_fn;
	void *page_opaque;
	const uint8_t *memory;
};

/* A small PV guest, v3, xl + libxl, mixed content, 2 pre-copy passes. */
void xlmig_gen_defaults(struct xlmig_gen_params *p);
int xlmig_gen_stream(const struct xlmig_gen_params *p, const struct xlmig_sink *sink);
/* The built-in content of one page. */
void xlmig_gen_page(enum xlmig_gen_content content, uint64_t seed, uint64_t pfn,
		    unsigned iteration, uint8_t *page);
/* The pfns the generator resends in pass `iteration` (>= 1): true if
 * pfn is among them (tests use it to predict what a stream holds). */
bool xlmig_gen_is_dirty(const struct xlmig_gen_params *p, uint64_t pfn, unsigned iteration);

#endif
