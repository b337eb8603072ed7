/*
 * xen_err.h - turning libxl and libxenctrl failures into xlmig errors
 * whose message names the domain, the call that failed and what the
 * code means, so an administrator can act on it without the Xen source.
 */
#ifndef XLMIG_XEN_ERR_H
#define XLMIG_XEN_ERR_H

#include "common.h"

/* The xlmig code for a libxl ERROR_* value (0 stays 0). */
int xlmig_xen_libxl_code(int libxl_rc);
/* What a libxl ERROR_* value means, in words ("guest did not respond"). */
const char *xlmig_xen_libxl_meaning(int libxl_rc);
/* Record "domain D: CALL failed: MEANING (libxl error N)" and return the
 * mapped code.  domid UINT32_MAX means no domain is concerned. */
int xlmig_xen_libxl_fail(int libxl_rc, uint32_t domid, const char *call);
/* The same for a libxenctrl/libxenstore call that set errno. */
int xlmig_xen_errno_fail(int errnum, uint32_t domid, const char *call);

#endif
