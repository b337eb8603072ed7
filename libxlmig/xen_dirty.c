/*
 * xen_dirty.c - a domain's dirty rate from Xen's log-dirty mode.
 *
 * Log-dirty is the mode a save runs in: Xen marks each page the guest
 * writes in a bitmap, and XEN_DOMCTL_SHADOW_OP_CLEAN hands the bitmap
 * over and clears it.  Measuring is therefore: switch the mode on, clean
 * once to start from nothing, wait the window, clean again and count,
 * switch it off.  The bitmap is passed in full both times, since Xen
 * clears only the part of it a caller reads.
 */
#include "xen_dirty.h"
#include "xen_err.h"

#include <errno.h>
#include <time.h>

/* Whole pages of bitmap for pfns bits. */
static unsigned long bitmap_pages(unsigned long pfns)
{
	return ((pfns + 7) / 8 + XC_PAGE_SIZE - 1) >> XC_PAGE_SHIFT;
}

static int clean_count(xc_interface *xch, uint32_t domid, xc_hypercall_buffer_t *hbuf,
		       unsigned long pfns, uint64_t *pages)
{
	DECLARE_HYPERCALL_BUFFER_SHADOW(unsigned long, bitmap, hbuf);
	xc_shadow_op_stats_t stats;

	if (xc_logdirty_control(xch, domid, XEN_DOMCTL_SHADOW_OP_CLEAN, HYPERCALL_BUFFER(bitmap),
				pfns, 0, &stats) < 0)
		return xlmig_xen_errno_fail(errno, domid, "xc_logdirty_control(CLEAN)");
	*pages = 0;
	for (unsigned long i = 0; i < (pfns + 63) / 64; i++)
		*pages += (uint64_t)__builtin_popcountl(bitmap[i]);
	return XLMIG_OK;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int xlmig_xen_dirty_rate(const struct xlmig_xen_handles *h, uint32_t domid,
			 unsigned window_ms, uint64_t *bytes_per_s)
{
	DECLARE_HYPERCALL_BUFFER(unsigned long, bitmap);
	xen_pfn_t max_gpfn = 0;
	unsigned long pfns = 0;
	uint64_t pages = 0, t0 = 0, ns;
	bool logging = false;
	int rc;

	if (xc_domain_maximum_gpfn(h->xch, domid, &max_gpfn) < 0) {
		rc = xlmig_xen_errno_fail(errno, domid, "xc_domain_maximum_gpfn");
		goto out;
	}
	pfns = (unsigned long)max_gpfn + 1;
	bitmap = xc_hypercall_buffer_alloc_pages(h->xch, bitmap, bitmap_pages(pfns));
	if (!bitmap) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "no hypercall buffer for domain %u's dirty bitmap", domid);
		goto out;
	}
	/* Fails when the mode is already on: someone else's log, not ours
	 * to clean or to switch off. */
	if (xc_shadow_control(h->xch, domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0) {
		rc = xlmig_fail(XLMIG_E_HV, "domain %u: log-dirty mode cannot be switched on (%s): a save "
				"or the device model's VRAM tracking may be using it; try when no migration "
				"of it runs", domid, strerror(errno));
		goto out;
	}
	logging = true;
	if ((rc = clean_count(h->xch, domid, HYPERCALL_BUFFER(bitmap), pfns, &pages)))
		goto out;
	t0 = xlmig_now_ns();
	sleep_ms(window_ms);
	if ((rc = clean_count(h->xch, domid, HYPERCALL_BUFFER(bitmap), pfns, &pages)))
		goto out;
	ns = xlmig_now_ns() - t0;
	*bytes_per_s = ns ? (uint64_t)((double)pages * XC_PAGE_SIZE * 1e9 / (double)ns) : 0;
out:
	if (logging && xc_shadow_control(h->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0 && !rc)
		rc = xlmig_xen_errno_fail(errno, domid, "xc_shadow_control(OFF)");
	if (bitmap)
		xc_hypercall_buffer_free_pages(h->xch, bitmap, bitmap_pages(pfns));
	return rc;
}
