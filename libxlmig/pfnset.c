/*
 * pfnset.c - a sparse, bounded set of pfns: a bitmap per 1 GiB region of
 * guest memory, found through a table allocated on first use.
 */
#include "pfnset.h"

#include <stdlib.h>

#define REGION_PAGES  (1ull << XLMIG_PFNSET_REGION_SHIFT)
#define REGION_WORDS  (REGION_PAGES / 64)
#define REGIONS       (XLMIG_PFNSET_PFN_LIMIT >> XLMIG_PFNSET_REGION_SHIFT)

struct xlmig_pfnset {
	uint64_t **region;      /* REGIONS pointers; calloc'd, so only the
				 * table pages touched become resident */
	unsigned nregions;      /* bitmaps allocated */
	bool dropped;           /* an add could not be kept: regions with
				 * no bitmap are no longer known empty */
};

int xlmig_pfnset_new(struct xlmig_pfnset **out)
{
	struct xlmig_pfnset *s = calloc(1, sizeof(*s));

	if (s)
		s->region = calloc(REGIONS, sizeof(*s->region));
	if (!s || !s->region) {
		free(s);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a page set");
	}
	*out = s;
	return XLMIG_OK;
}

void xlmig_pfnset_free(struct xlmig_pfnset *s)
{
	if (!s)
		return;
	for (uint64_t i = 0; s->nregions && i < REGIONS; i++)
		if (s->region[i]) {
			free(s->region[i]);
			s->nregions--;
		}
	free(s->region);
	free(s);
}

int xlmig_pfnset_add(struct xlmig_pfnset *s, uint64_t pfn)
{
	uint64_t r = pfn >> XLMIG_PFNSET_REGION_SHIFT, bit = pfn & (REGION_PAGES - 1);

	if (pfn >= XLMIG_PFNSET_PFN_LIMIT) {
		s->dropped = true;
		return XLMIG_E_LIMIT;
	}
	if (!s->region[r]) {
		if (s->nregions == XLMIG_PFNSET_MAX_REGIONS) {
			s->dropped = true;
			return XLMIG_E_LIMIT;
		}
		if (!(s->region[r] = calloc(REGION_WORDS, sizeof(uint64_t)))) {
			s->dropped = true;
			return XLMIG_E_NOMEM;
		}
		s->nregions++;
	}
	s->region[r][bit / 64] |= 1ull << (bit % 64);
	return XLMIG_OK;
}

void xlmig_pfnset_remove(struct xlmig_pfnset *s, uint64_t pfn)
{
	uint64_t r = pfn >> XLMIG_PFNSET_REGION_SHIFT, bit = pfn & (REGION_PAGES - 1);

	if (pfn < XLMIG_PFNSET_PFN_LIMIT && s->region[r])
		s->region[r][bit / 64] &= ~(1ull << (bit % 64));
}

bool xlmig_pfnset_may_hold(const struct xlmig_pfnset *s, uint64_t pfn)
{
	uint64_t r = pfn >> XLMIG_PFNSET_REGION_SHIFT, bit = pfn & (REGION_PAGES - 1);

	if (pfn >= XLMIG_PFNSET_PFN_LIMIT)
		return true;
	if (!s->region[r])
		return s->dropped;
	return (s->region[r][bit / 64] >> (bit % 64)) & 1;
}
