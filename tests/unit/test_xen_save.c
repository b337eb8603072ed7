/*
 * test_xen_save.c - the xen backend's decisions that need no hypervisor:
 * which save path a guest gets, the throttle cap, error mapping.
 */
#include "unit.h"
#include "common.h"

#ifdef XLMIG_HAVE_XEN
#include "policy.h"
#include "xen_err.h"
#include "xen_save.h"

#include <errno.h>

TEST(xen_save_path_choice)
{
	struct xlmig_policy p;
	struct xlmig_policy_config cfg;

	xlmig_policy_config_default(&cfg);
	xlmig_policy_init(&p, &cfg);
	CHECK_EQ(xlmig_xen_save_choose(LIBXL_DOMAIN_TYPE_PV, &p), XLMIG_XEN_SAVE_NATIVE);
	CHECK_EQ(xlmig_xen_save_choose(LIBXL_DOMAIN_TYPE_PVH, &p), XLMIG_XEN_SAVE_NATIVE);
	CHECK_EQ(xlmig_xen_save_choose(LIBXL_DOMAIN_TYPE_HVM, &p), XLMIG_XEN_SAVE_LIBXL);
	cfg.kind = XLMIG_POLICY_KIND_XEN;
	xlmig_policy_init(&p, &cfg);
	CHECK_EQ(xlmig_xen_save_choose(LIBXL_DOMAIN_TYPE_PVH, &p), XLMIG_XEN_SAVE_LIBXL);
}

TEST(xen_save_throttle_cap)
{
	CHECK_EQ(xlmig_xen_throttle_cap(0, 4), 0);
	CHECK_EQ(xlmig_xen_throttle_cap(20, 1), 80);
	CHECK_EQ(xlmig_xen_throttle_cap(20, 4), 320);
	CHECK_EQ(xlmig_xen_throttle_cap(99, 2), 2);
	CHECK_EQ(xlmig_xen_throttle_cap(100, 1), 1);   /* never 0: that means no cap */
}

TEST(xen_err_mapping)
{
	CHECK_EQ(xlmig_xen_libxl_code(0), 0);
	CHECK_EQ(xlmig_xen_libxl_code(ERROR_GUEST_TIMEDOUT), XLMIG_E_TIMEOUT);
	CHECK_EQ(xlmig_xen_libxl_code(ERROR_DOMAIN_NOTFOUND), XLMIG_E_NOTFOUND);
	CHECK_EQ(xlmig_xen_libxl_code(-999), XLMIG_E_HV);
	CHECK_EQ(xlmig_xen_libxl_fail(ERROR_NOPARAVIRT, 7, "libxl_domain_suspend"), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "domain 7: libxl_domain_suspend failed") != NULL);
	CHECK(strstr(xlmig_errmsg(), "PV drivers") != NULL);
	CHECK_EQ(xlmig_xen_errno_fail(EPERM, UINT32_MAX, "xc_interface_open"), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "run as root") != NULL);
}
/* The figures libxenguest gave the policy on the lab's 128 MiB PVH
 * guest: a first pass over 0xff000 pfns (1044480, up to the special
 * pages under 4 GiB) of which 32768 hold memory. */
TEST(xen_save_precopy_stats_count_pages_not_pfns)
{
	const unsigned long p2m = 1044480, mem = 32768;
	struct precopy_stats st = { .iteration = 0, .total_written = 0, .dirty_count = (long)p2m };
	struct xlmig_policy_stats s;

	xlmig_xen_precopy_stats(&st, p2m, mem, &s);   /* before anything is sent */
	CHECK_EQ(s.dirty_count, mem);
	CHECK_EQ(s.total_written, 0);
	st = (struct precopy_stats){ .iteration = 1, .total_written = p2m, .dirty_count = -1 };
	xlmig_xen_precopy_stats(&st, p2m, mem, &s);   /* after the first pass */
	CHECK_EQ(s.total_written, mem);
	CHECK_EQ(s.dirty_count, -1);
	st = (struct precopy_stats){ .iteration = 1, .total_written = p2m, .dirty_count = 900 };
	xlmig_xen_precopy_stats(&st, p2m, mem, &s);   /* measured dirty set: as it is */
	CHECK_EQ(s.dirty_count, 900);
	st = (struct precopy_stats){ .iteration = 2, .total_written = p2m + 900, .dirty_count = -1 };
	xlmig_xen_precopy_stats(&st, p2m, mem, &s);
	CHECK_EQ(s.total_written, mem + 900);
	CHECK_EQ(s.iteration, 2);
	/* A PV guest's p2m is its memory: nothing changes. */
	st = (struct precopy_stats){ .iteration = 1, .total_written = mem, .dirty_count = -1 };
	xlmig_xen_precopy_stats(&st, mem, mem, &s);
	CHECK_EQ(s.total_written, mem);
}

#else
/* Built without Xen: say so, rather than compile to no test at all. */
TEST(xen_save_needs_xen)
{
	SKIP("built without the Xen headers and libraries (install libxen-dev, then ./configure)");
}
#endif
