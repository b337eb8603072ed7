/*
 * xen_dirty.h - how fast a Xen domain dirties its memory, measured with
 * the hypervisor's log-dirty mode (hv->dirty_rate for the xen backend).
 */
#ifndef XLMIG_XEN_DIRTY_H
#define XLMIG_XEN_DIRTY_H

#include "xen_save.h"

/* Pages the running domain wrote in window_ms, as bytes a second.  Refused
 * (XLMIG_E_BUSY) when log-dirty is already on: a save, or QEMU's VRAM
 * tracking, owns the log, and turning it off under them would lose pages. */
int xlmig_xen_dirty_rate(const struct xlmig_xen_handles *h, uint32_t domid,
			 unsigned window_ms, uint64_t *bytes_per_s);

#endif
