/*
 * xen_err.c - libxl / libxenctrl errors as xlmig errors (see xen_err.h).
 */
#include "xen_err.h"

#include <errno.h>
#include <libxl.h>

struct libxl_err_info {
	int rc;
	int code;
	const char *meaning;
};

static const struct libxl_err_info libxl_errs[] = {
	{ ERROR_NONSPECIFIC, XLMIG_E_HV, "unspecified libxl failure (see the libxl log above)" },
	{ ERROR_VERSION, XLMIG_E_UNSUPPORTED, "libxl version mismatch" },
	{ ERROR_FAIL, XLMIG_E_HV, "the operation failed (see the libxl log above)" },
	{ ERROR_NI, XLMIG_E_UNSUPPORTED, "not implemented by this libxl" },
	{ ERROR_NOMEM, XLMIG_E_NOMEM, "out of memory" },
	{ ERROR_INVAL, XLMIG_E_INVAL, "invalid argument or configuration" },
	{ ERROR_BADFAIL, XLMIG_E_HV, "failed badly: the domain may be left half done" },
	{ ERROR_GUEST_TIMEDOUT, XLMIG_E_TIMEOUT,
	  "the guest did not respond in time (no PV suspend support, or hung)" },
	{ ERROR_TIMEDOUT, XLMIG_E_TIMEOUT, "timed out" },
	{ ERROR_NOPARAVIRT, XLMIG_E_UNSUPPORTED,
	  "the guest has no PV drivers, so it cannot be asked to suspend" },
	{ ERROR_NOT_READY, XLMIG_E_HV, "not ready" },
	{ ERROR_OSEVENT_REG_FAIL, XLMIG_E_HV, "event registration failed" },
	{ ERROR_BUFFERFULL, XLMIG_E_LIMIT, "buffer full" },
	{ ERROR_UNKNOWN_CHILD, XLMIG_E_HV, "unknown child process" },
	{ ERROR_LOCK_FAIL, XLMIG_E_HV, "could not take the libxl lock" },
	{ ERROR_JSON_CONFIG_EMPTY, XLMIG_E_NOTFOUND,
	  "no stored configuration for the domain (was it created by xl or libxl?)" },
	{ ERROR_DEVICE_EXISTS, XLMIG_E_EXISTS, "the device exists already" },
	{ ERROR_CHECKPOINT_DEVOPS_DOES_NOT_MATCH, XLMIG_E_UNSUPPORTED, "checkpoint device ops mismatch" },
	{ ERROR_CHECKPOINT_DEVICE_NOT_SUPPORTED, XLMIG_E_UNSUPPORTED, "checkpoint device not supported" },
	{ ERROR_VNUMA_CONFIG_INVALID, XLMIG_E_INVAL, "invalid vNUMA configuration" },
	{ ERROR_DOMAIN_NOTFOUND, XLMIG_E_NOTFOUND, "no such domain" },
	{ ERROR_ABORTED, XLMIG_E_CANCELLED, "aborted: the domain may exist half created" },
	{ ERROR_NOTFOUND, XLMIG_E_NOTFOUND, "not found" },
	{ ERROR_DOMAIN_DESTROYED, XLMIG_E_NOTFOUND, "the domain was destroyed meanwhile" },
	{ ERROR_FEATURE_REMOVED, XLMIG_E_UNSUPPORTED, "feature removed from this Xen" },
	{ ERROR_PROTOCOL_ERROR_QMP, XLMIG_E_HV, "QMP protocol error talking to the device model" },
	{ ERROR_UNKNOWN_QMP_ERROR, XLMIG_E_HV, "unknown QMP error from the device model" },
	{ ERROR_QMP_GENERIC_ERROR, XLMIG_E_HV, "the device model reported an error" },
	{ ERROR_QMP_COMMAND_NOT_FOUND, XLMIG_E_UNSUPPORTED, "the device model lacks a QMP command" },
	{ ERROR_QMP_DEVICE_NOT_ACTIVE, XLMIG_E_HV, "device not active in the device model" },
	{ ERROR_QMP_DEVICE_NOT_FOUND, XLMIG_E_NOTFOUND, "device not found in the device model" },
	{ ERROR_QEMU_API, XLMIG_E_UNSUPPORTED, "unsupported QEMU API" },
};

static const struct libxl_err_info *find(int rc)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(libxl_errs); i++)
		if (libxl_errs[i].rc == rc)
			return &libxl_errs[i];
	return NULL;
}

int xlmig_xen_libxl_code(int libxl_rc)
{
	const struct libxl_err_info *e;

	if (libxl_rc == 0)
		return XLMIG_OK;
	e = find(libxl_rc);
	return e ? e->code : XLMIG_E_HV;
}

const char *xlmig_xen_libxl_meaning(int libxl_rc)
{
	const struct libxl_err_info *e = find(libxl_rc);

	if (libxl_rc == 0)
		return "success";
	return e ? e->meaning : "unknown libxl error";
}

int xlmig_xen_libxl_fail(int libxl_rc, uint32_t domid, const char *call)
{
	int code = xlmig_xen_libxl_code(libxl_rc);

	if (domid == UINT32_MAX)
		return xlmig_fail(code, "%s failed: %s (libxl error %d)", call,
				  xlmig_xen_libxl_meaning(libxl_rc), libxl_rc);
	return xlmig_fail(code, "domain %u: %s failed: %s (libxl error %d)", domid, call,
			  xlmig_xen_libxl_meaning(libxl_rc), libxl_rc);
}

int xlmig_xen_errno_fail(int errnum, uint32_t domid, const char *call)
{
	int code = errnum == ENOMEM ? XLMIG_E_NOMEM :
		   errnum == ESRCH ? XLMIG_E_NOTFOUND :
		   errnum == ETIMEDOUT ? XLMIG_E_TIMEOUT :
		   errnum == EACCES || errnum == EPERM ? XLMIG_E_AUTH : XLMIG_E_HV;
	const char *hint = errnum == EACCES || errnum == EPERM ?
		" (run as root in dom0)" : "";

	if (domid == UINT32_MAX)
		return xlmig_fail(code, "%s failed: %s%s", call, strerror(errnum), hint);
	return xlmig_fail(code, "domain %u: %s failed: %s%s", domid, call, strerror(errnum), hint);
}
