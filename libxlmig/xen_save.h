/*
 * xen_save.h - live save of a Xen domain into xl's migration format:
 * xl header + JSON config, then either libxl_domain_suspend (Xen's own
 * pre-copy policy) or xlmig's native path, which drives xc_domain_save
 * with xlmig's pre-copy policy and its own suspend callback and wraps the
 * libxc stream in the libxl records libxl itself writes for PV and PVH
 * guests, so stock libxl_domain_create_restore reads it.
 */
#ifndef XLMIG_XEN_SAVE_H
#define XLMIG_XEN_SAVE_H

#include "hv.h"

#include <libxl.h>
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>

/* The handles a save needs, owned by the xen backend. */
struct xlmig_xen_handles {
	libxl_ctx *ctx;
	xc_interface *xch;
	struct xs_handle *xsh;
};
/* The handles of an open xen backend (hv->ops->name is "xen"). */
const struct xlmig_xen_handles *xlmig_xen_handles(struct xlmig_hv *hv);

/* Which producer a save uses. */
enum xlmig_xen_save_path {
	XLMIG_XEN_SAVE_LIBXL = 0,   /* libxl_domain_suspend */
	XLMIG_XEN_SAVE_NATIVE,      /* xc_domain_save + xlmig's policy */
};

/* The choice, pure: native for PV/PVH when xlmig's policy is asked for. */
enum xlmig_xen_save_path xlmig_xen_save_choose(libxl_domain_type type,
					       const struct xlmig_policy *policy);

/* libxenguest's pre-copy figures as pages really sent.  Its first pass
 * walks the whole p2m (p2m_pages pfns, holes included: 4 GiB of pfns for
 * a small PVH guest) and counts every pfn as written, which would make
 * the link look many times faster than it is; only mem_pages of them
 * carry data.  Later passes count real dirty pages. */
void xlmig_xen_precopy_stats(const struct precopy_stats *st, unsigned long p2m_pages,
			     unsigned long mem_pages, struct xlmig_policy_stats *out);

/* hv->save_live for the xen backend. */
int xlmig_xen_save_live(const struct xlmig_xen_handles *h, uint32_t domid, int fd,
			const struct xlmig_save_opts *opts, struct xlmig_save_result *res);

/* The credit/credit2 cap for a throttle of pct percent over n vCPUs
 * (0 = no cap); shared with set_throttle. */
int xlmig_xen_throttle_cap(unsigned pct, unsigned vcpus);
int xlmig_xen_set_throttle(libxl_ctx *ctx, uint32_t domid, unsigned pct);

#endif
