/*
 * test_xen_watch.c - the domain-list diff behind the xenstore watch.
 */
#include "unit.h"
#include "common.h"

#ifdef XLMIG_HAVE_XEN
#include "xen_watch.h"

TEST(xen_watch_diff)
{
	const uint32_t before[] = { 1, 3, 5, 9 };
	const uint32_t after[] = { 3, 4, 9, 12 };
	struct xlmig_dom_change c[8];
	size_t n = xlmig_domlist_diff(before, 4, after, 4, c, 8);

	CHECK_EQ(n, 4);
	CHECK(c[0].domid == 1 && !c[0].appeared);
	CHECK(c[1].domid == 4 && c[1].appeared);
	CHECK(c[2].domid == 5 && !c[2].appeared);
	CHECK(c[3].domid == 12 && c[3].appeared);
	CHECK_EQ(xlmig_domlist_diff(before, 4, before, 4, c, 8), 0);
	CHECK_EQ(xlmig_domlist_diff(before, 4, after, 4, c, 2), 2);
	CHECK_EQ(xlmig_domlist_diff(NULL, 0, after, 4, c, 8), 4);
}
#endif
