/*
 * test_pfnset.c - the receiver's set of pages given content: members,
 * removal, and its bounds answering "may hold" rather than "no".
 */
#include "pfnset.h"
#include "unit.h"

TEST(pfnset_members_and_removal)
{
	struct xlmig_pfnset *s;

	CHECK_OK(xlmig_pfnset_new(&s));
	CHECK(!xlmig_pfnset_may_hold(s, 0));
	CHECK(!xlmig_pfnset_may_hold(s, 123456789));
	CHECK_OK(xlmig_pfnset_add(s, 0));
	CHECK_OK(xlmig_pfnset_add(s, 63));
	CHECK_OK(xlmig_pfnset_add(s, 64));
	CHECK_OK(xlmig_pfnset_add(s, (1ull << XLMIG_PFNSET_REGION_SHIFT) + 5));
	CHECK(xlmig_pfnset_may_hold(s, 0) && xlmig_pfnset_may_hold(s, 63) &&
	      xlmig_pfnset_may_hold(s, 64));
	CHECK(!xlmig_pfnset_may_hold(s, 1) && !xlmig_pfnset_may_hold(s, 65));
	CHECK(xlmig_pfnset_may_hold(s, (1ull << XLMIG_PFNSET_REGION_SHIFT) + 5));
	CHECK(!xlmig_pfnset_may_hold(s, (1ull << XLMIG_PFNSET_REGION_SHIFT) + 4));
	xlmig_pfnset_remove(s, 63);
	xlmig_pfnset_remove(s, 999999);      /* never added: nothing */
	CHECK(!xlmig_pfnset_may_hold(s, 63) && xlmig_pfnset_may_hold(s, 64));
	xlmig_pfnset_free(s);
}

/* A peer's pfns cannot make the set grow without bound: past the pfn
 * limit or the region bound an add fails, and from then on what the set
 * could not keep reads as "may hold" (the safe answer: send the page). */
TEST(pfnset_bounded_and_safe_beyond)
{
	struct xlmig_pfnset *s;
	uint64_t region = 1ull << XLMIG_PFNSET_REGION_SHIFT;

	CHECK_OK(xlmig_pfnset_new(&s));
	CHECK_EQ(xlmig_pfnset_add(s, XLMIG_PFNSET_PFN_LIMIT), XLMIG_E_LIMIT);
	CHECK(xlmig_pfnset_may_hold(s, XLMIG_PFNSET_PFN_LIMIT + 7));
	for (unsigned i = 0; i < XLMIG_PFNSET_MAX_REGIONS; i++)
		CHECK_OK(xlmig_pfnset_add(s, i * region));
	CHECK_EQ(xlmig_pfnset_add(s, XLMIG_PFNSET_MAX_REGIONS * region), XLMIG_E_LIMIT);
	CHECK(xlmig_pfnset_may_hold(s, XLMIG_PFNSET_MAX_REGIONS * region + 1));
	/* regions it keeps stay exact */
	CHECK(!xlmig_pfnset_may_hold(s, 1));
	CHECK(xlmig_pfnset_may_hold(s, region));
	xlmig_pfnset_free(s);
}
