/*
 * xen_preflight.h - the live facts preflight.h decides on, read from Xen:
 * what a guest needs (its libxl config: memory with Xen's overhead, disk
 * paths, bridges; its CPUID policy as a featureset; this Xen's version)
 * and what this host offers (free memory, version, the PV and HVM max
 * featuresets).  The xen backend's preflight ops (hv.h); only with the
 * Xen headers.
 */
#ifndef XLMIG_XEN_PREFLIGHT_H
#define XLMIG_XEN_PREFLIGHT_H

#include "hv.h"
#include "preflight_facts.h"

int xlmig_xen_preflight_collect(struct xlmig_hv *hv, const char *domain,
				struct xlmig_preflight_guest *g);
int xlmig_xen_preflight_host(struct xlmig_hv *hv, struct xlmig_preflight_host *h);

#endif
