/*
 * hv.c - choosing and opening a hypervisor backend (see hv.h).
 */
#include "hv.h"

#include <unistd.h>

bool xlmig_hv_is_xen_dom0(void)
{
	/* A dom0 has the privcmd interface and a xenstore to talk to;
	 * /proc/xen alone also exists in PV domUs. */
	if (access("/proc/xen/capabilities", R_OK) != 0)
		return false;
	FILE *f = fopen("/proc/xen/capabilities", "r");
	char caps[64] = "";
	if (f) {
		if (!fgets(caps, sizeof(caps), f))
			caps[0] = '\0';
		fclose(f);
	}
	if (!strstr(caps, "control_d"))
		return false;
	return access("/dev/xen/xenbus", R_OK | W_OK) == 0 ||
	       access("/run/xenstored/socket", R_OK | W_OK) == 0 ||
	       access("/var/run/xenstored/socket", R_OK | W_OK) == 0;
}

int xlmig_hv_open(const char *name, struct xlmig_hv **out)
{
	if (!name || !strcmp(name, "auto"))
		name = xlmig_hv_is_xen_dom0() ? "xen" : "sim";
	if (!strcmp(name, "sim"))
		return xlmig_hv_sim_open(out);
	if (!strcmp(name, "xen")) {
#ifdef XLMIG_HAVE_XEN
		return xlmig_hv_xen_open(out);
#else
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "xlmig was built without the xen backend: install libxen-dev, re-run ./configure and make");
#endif
	}
	return xlmig_fail(XLMIG_E_INVAL, "unknown hypervisor backend '%s' (use sim, xen or auto)", name);
}

void xlmig_hv_close(struct xlmig_hv *hv)
{
	if (hv)
		hv->ops->close(hv);
}
