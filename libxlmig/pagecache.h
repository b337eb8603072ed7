/*
 * pagecache.h - the codec's delta cache: a bounded store of the last copy
 * sent of some pages, keyed by pfn, that the two ends of a stream keep
 * identical.
 *
 * It is 8-way set associative (a pfn hashes to one set) with CLOCK
 * replacement inside a set: a page inserted starts with its reference
 * bit clear, a page claimed again (resent) gets it set and so survives
 * one sweep.  Pages that are rewritten during pre-copy therefore stay,
 * pages sent once in the first pass make room.  Every decision depends
 * only on the sequence of calls, never on time or addresses, so two
 * caches given the same calls hold the same pages.
 *
 * A journal makes a run of claims undoable: the decoder claims the
 * slots of a whole frame, and if a reference turns out to be missing it
 * rolls every claim back, leaving the cache as it was before the frame.
 */
#ifndef XLMIG_PAGECACHE_H
#define XLMIG_PAGECACHE_H

#include "common.h"

/* Most claims one journal can undo (one frame's pages). */
#define XLMIG_PAGECACHE_JOURNAL 1024u

struct xlmig_pagecache;

/* A cache holding bytes / 4096 pages (rounded down to whole sets);
 * bytes must hold at least one page. */
int xlmig_pagecache_new(size_t bytes, struct xlmig_pagecache **out);
void xlmig_pagecache_free(struct xlmig_pagecache *pc);
uint32_t xlmig_pagecache_slots(const struct xlmig_pagecache *pc);

/* The slot holding pfn, or -1.  Changes nothing. */
int64_t xlmig_pagecache_find(const struct xlmig_pagecache *pc, uint64_t pfn);

/* The slot for a page about to be (re)sent: pfn's own slot if cached
 * (*hit = true, its content is the previous copy), otherwise a slot
 * taken from the set's CLOCK victim and retagged with pfn (*hit = false,
 * content undefined until the caller writes it).  XLMIG_E_LIMIT if a
 * journal is open and full. */
int xlmig_pagecache_claim(struct xlmig_pagecache *pc, uint64_t pfn,
			  uint32_t *slot, bool *hit);

/* The 4096 bytes of a slot. */
uint8_t *xlmig_pagecache_page(struct xlmig_pagecache *pc, uint32_t slot);

/* Journal: begin records every claim until commit (forget them) or
 * rollback (undo them, newest first).  Contents written meanwhile are
 * not restored: write slots only after the claims are committed. */
void xlmig_pagecache_begin(struct xlmig_pagecache *pc);
void xlmig_pagecache_commit(struct xlmig_pagecache *pc);
void xlmig_pagecache_rollback(struct xlmig_pagecache *pc);

#endif
