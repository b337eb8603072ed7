/*
 * test_xen_save.c - the xen backend's decisions that need no hypervisor:
 * which save path a guest gets, the throttle cap, error mapping.
 */
#include "unit.h"
#include "common.h"

#ifdef XLMIG_HAVE_XEN
#include "precopy.h"
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
#endif
