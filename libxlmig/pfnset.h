/*
 * pfnset.h - a set of guest page frame numbers, sparse and bounded.
 *
 * A receiving host keeps one to remember which of the guest's pages it
 * has handed content to the restore for (xfer_recv.c): those pages may
 * hold data there, and a zero page over one must be sent as zeros, while
 * a zero page over any other may go as XALLOC (allocate only).
 *
 * Pfns come from the network, so the set's memory is bounded: it keeps a
 * bitmap for each 1 GiB region of guest memory (2^18 pages) that holds a
 * member, at most XLMIG_PFNSET_MAX_REGIONS of them, and pfns below 2^36.
 * An insert it cannot keep fails (the caller then treats the page as one
 * it knows nothing of); a lookup outside what it keeps answers "member",
 * the safe answer for that caller.
 */
#ifndef XLMIG_PFNSET_H
#define XLMIG_PFNSET_H

#include "common.h"

#define XLMIG_PFNSET_REGION_SHIFT 18u
#define XLMIG_PFNSET_PFN_LIMIT    (1ull << 36)
#define XLMIG_PFNSET_MAX_REGIONS  256u    /* 8 MiB of bitmaps at most */

struct xlmig_pfnset;

int xlmig_pfnset_new(struct xlmig_pfnset **out);
void xlmig_pfnset_free(struct xlmig_pfnset *s);
/* Add pfn; XLMIG_E_LIMIT when it cannot be kept (past the pfn limit or
 * the region bound), XLMIG_E_NOMEM. */
int xlmig_pfnset_add(struct xlmig_pfnset *s, uint64_t pfn);
/* Remove pfn (nothing to do when it was never added). */
void xlmig_pfnset_remove(struct xlmig_pfnset *s, uint64_t pfn);
/* Is pfn a member?  True also where the set could not have kept it: a
 * pfn past the limit, or in a region beyond the bound. */
bool xlmig_pfnset_may_hold(const struct xlmig_pfnset *s, uint64_t pfn);

#endif
