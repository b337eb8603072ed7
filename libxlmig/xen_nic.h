/*
 * xen_nic.h - a Xen guest's network interfaces as xenstore describes
 * them: the dom0-side vif, the MAC and addresses from the guest's vif
 * configuration, and the feature keys netfront and netback negotiated
 * (Xen's public/io/netif.h).  The xen backend's nics op (hv.h); only
 * with the Xen headers.
 */
#ifndef XLMIG_XEN_NIC_H
#define XLMIG_XEN_NIC_H

#include "hv.h"

int xlmig_xen_nics(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max,
		   size_t *n);

#endif
