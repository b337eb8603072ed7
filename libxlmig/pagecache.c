/*
 * pagecache.c - the codec's delta cache (see pagecache.h).
 */
#include "pagecache.h"

#include <stdlib.h>

#define PC_WAYS 8u

struct pc_set {
	uint64_t pfn[PC_WAYS];
	uint8_t valid;  /* bit per way: holds a page */
	uint8_t ref;    /* bit per way: claimed again since last sweep */
	uint8_t hand;   /* CLOCK hand, a way index */
};

struct pc_undo {
	uint32_t set;
	struct pc_set old;
};

struct xlmig_pagecache {
	uint32_t nsets, ways;
	struct pc_set *sets;
	uint8_t *pages;          /* nsets x ways x 4096, touched on first use */
	bool journaling;
	uint32_t njournal;
	struct pc_undo *journal; /* XLMIG_PAGECACHE_JOURNAL entries */
};

int xlmig_pagecache_new(size_t bytes, struct xlmig_pagecache **out)
{
	struct xlmig_pagecache *pc = NULL;
	size_t slots = bytes / XLMIG_PAGE_SIZE;
	int rc = XLMIG_E_NOMEM;

	*out = NULL;
	if (slots == 0 || slots > UINT32_MAX / 2) {
		rc = xlmig_fail(XLMIG_E_INVAL, "delta cache of %zu bytes: give "
				"0 to disable it, or 4 KiB to 8 TiB", bytes);
		goto out;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		goto nomem;
	pc->ways = slots < PC_WAYS ? (uint32_t)slots : PC_WAYS;
	pc->nsets = (uint32_t)(slots / pc->ways);
	pc->sets = calloc(pc->nsets, sizeof(*pc->sets));
	pc->pages = malloc((size_t)pc->nsets * pc->ways * XLMIG_PAGE_SIZE);
	pc->journal = malloc(XLMIG_PAGECACHE_JOURNAL * sizeof(*pc->journal));
	if (!pc->sets || !pc->pages || !pc->journal)
		goto nomem;
	*out = pc;
	pc = NULL;
	rc = XLMIG_OK;
	goto out;
nomem:
	rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory allocating a %zu-byte "
			"delta cache; lower the cache size", bytes);
out:
	xlmig_pagecache_free(pc);
	return rc;
}

void xlmig_pagecache_free(struct xlmig_pagecache *pc)
{
	if (!pc)
		return;
	free(pc->sets);
	free(pc->pages);
	free(pc->journal);
	free(pc);
}

uint32_t xlmig_pagecache_slots(const struct xlmig_pagecache *pc)
{
	return pc->nsets * pc->ways;
}

/* Multiplicative hashing spreads strided pfns (every 8th page, every
 * 2 MiB) over the sets; the multiply-shift maps onto any set count. */
static uint32_t set_of(const struct xlmig_pagecache *pc, uint64_t pfn)
{
	uint64_t h = (pfn * 0x9e3779b97f4a7c15ull) >> 32;

	return (uint32_t)((h * pc->nsets) >> 32);
}

static int way_of(const struct xlmig_pagecache *pc, const struct pc_set *s,
		  uint64_t pfn)
{
	for (uint32_t w = 0; w < pc->ways; w++)
		if ((s->valid >> w & 1) && s->pfn[w] == pfn)
			return (int)w;
	return -1;
}

int64_t xlmig_pagecache_find(const struct xlmig_pagecache *pc, uint64_t pfn)
{
	uint32_t set = set_of(pc, pfn);
	int w = way_of(pc, &pc->sets[set], pfn);

	return w < 0 ? -1 : (int64_t)set * pc->ways + w;
}

/* An empty way if there is one, else the first way the hand reaches
 * with its reference bit clear, clearing bits as it passes. */
static uint32_t victim(const struct xlmig_pagecache *pc, struct pc_set *s)
{
	uint32_t all = (1u << pc->ways) - 1, w;

	if (s->valid != all) {
		for (w = 0; s->valid >> w & 1; w++)
			;
		return w;
	}
	for (;;) {
		w = s->hand;
		s->hand = (uint8_t)((w + 1) % pc->ways);
		if (!(s->ref >> w & 1))
			return w;
		s->ref &= (uint8_t)~(1u << w);
	}
}

int xlmig_pagecache_claim(struct xlmig_pagecache *pc, uint64_t pfn,
			  uint32_t *slot, bool *hit)
{
	uint32_t set = set_of(pc, pfn);
	struct pc_set *s = &pc->sets[set];
	int w;

	if (pc->journaling) {
		if (pc->njournal == XLMIG_PAGECACHE_JOURNAL)
			return xlmig_fail(XLMIG_E_LIMIT, "delta cache journal "
					  "full after %u claims",
					  XLMIG_PAGECACHE_JOURNAL);
		pc->journal[pc->njournal++] = (struct pc_undo){ set, *s };
	}
	w = way_of(pc, s, pfn);
	*hit = w >= 0;
	if (w >= 0) {
		s->ref |= (uint8_t)(1u << w);
	} else {
		w = (int)victim(pc, s);
		s->pfn[w] = pfn;
		s->valid |= (uint8_t)(1u << w);
		s->ref &= (uint8_t)~(1u << w);
	}
	*slot = set * pc->ways + (uint32_t)w;
	return XLMIG_OK;
}

uint8_t *xlmig_pagecache_page(struct xlmig_pagecache *pc, uint32_t slot)
{
	return pc->pages + (size_t)slot * XLMIG_PAGE_SIZE;
}

void xlmig_pagecache_begin(struct xlmig_pagecache *pc)
{
	pc->journaling = true;
	pc->njournal = 0;
}

void xlmig_pagecache_commit(struct xlmig_pagecache *pc)
{
	pc->journaling = false;
	pc->njournal = 0;
}

void xlmig_pagecache_rollback(struct xlmig_pagecache *pc)
{
	while (pc->njournal > 0) {
		struct pc_undo *u = &pc->journal[--pc->njournal];

		pc->sets[u->set] = u->old;
	}
	pc->journaling = false;
}
