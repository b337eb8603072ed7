/*
 * sim_net.h - a sim guest's network interface, made as a Xen toolstack's
 * vif hotplug makes one, so that offload state, announces and the
 * switchover run against real kernel devices.
 *
 * The guest's side is a network namespace of its own, xlmig-g-NAME
 * (NAME the guest's name at creation), holding a bridge "eth0" with the
 * guest's MAC and addresses: the guest's NIC.  Each host the guest runs
 * on plugs a veth into it: the host's end, vsDOMID.0, a port of the
 * host's bridge (as vifDOMID.0 is of xenbr0), the far end a port of the
 * guest's eth0.  At restore the destination plugs its own veth (the
 * guest's new vif), down until the guest runs; the source's goes down
 * when its copy is suspended and away when it is destroyed; so the
 * guest's namespace moves from the source's bridge to the destination's
 * as a Xen guest's traffic moves from one vif to the other.
 *
 * The guest's description (bridge, MAC, addresses) is kept beside the
 * namespace, /run/xlmig-simnet/NAME, and on the host's end as its
 * interface alias, so the backend's nics op reads it from sysfs.
 * Devices are made with ip(8) from iproute2; everything needs
 * CAP_NET_ADMIN.
 */
#ifndef XLMIG_SIM_NET_H
#define XLMIG_SIM_NET_H

#include "hv.h"

/* A vif spec as xl's: "bridge=BR,mac=MAC,ip=ADDR/PREFIX" (mac and ip
 * optional: the MAC is then 02:xx derived from the name). */
struct xlmig_sim_nic {
	char bridge[16];
	uint8_t mac[6];
	char ip[48];      /* "10.9.0.5/24", or "" */
};
int xlmig_sim_nic_parse(const char *spec, const char *guest, struct xlmig_sim_nic *out);

/* A new guest's namespace and NIC (refused if the namespace exists). */
int xlmig_sim_net_create(const char *guest, const struct xlmig_sim_nic *nic);
/* Plug this host's end for domid into guest's namespace, up or down.
 * A guest without a namespace has no network: nothing is done. */
int xlmig_sim_net_plug(const char *guest, uint32_t domid, bool up);
/* This host's end up (the guest runs) or down (suspended). */
void xlmig_sim_net_set_up(uint32_t domid, bool up);
/* Remove this host's end; the namespace goes with the guest's last end. */
void xlmig_sim_net_unplug(uint32_t domid);
/* The guest's interfaces on this host (hv.h's nics op). */
int xlmig_sim_net_nics(uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n);

#endif
