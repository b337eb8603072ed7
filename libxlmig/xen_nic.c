/*
 * xen_nic.c - a Xen guest's vifs from xenstore (xen_nic.h).
 *
 * /local/domain/D/device/vif/N is the frontend; its "backend" key names
 * the backend directory (in dom0 or a driver domain), which holds the
 * MAC, the "ip" list from the vif's configuration, an optional
 * "vifname" and netback's feature keys.  The dom0-side interface is
 * vifname, else vifD.N as the hotplug script names it.
 *
 * The backend's "state" says whether the guest's netfront has connected
 * (XenbusStateConnected).  A restored guest, still paused, has not: its
 * vif exists, but netback holds back TSO, TSO6 and IPv6 checksums (and
 * scatter-gather, were it asked) until netfront offers them, so what the
 * kernel shows then is not what the guest will get (struct xlmig_nic's
 * awaiting_guest).
 */
#include "xen_nic.h"
#include "offload.h"
#include "xen_err.h"
#include "xen_save.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>
#include <xen/io/xenbus.h>

/* The keys carried from each side (netif.h); the rest are ring
 * plumbing that a new connection makes afresh. */
static const char *const backend_keys[] = {
	"feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6", "feature-ipv6-csum-offload",
	"feature-rx-copy", "feature-rx-flip", "feature-multicast-control",
	"feature-split-event-channels", "multi-queue-max-queues", "feature-ctrl-ring",
};
static const char *const frontend_keys[] = {
	"feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6", "feature-no-csum-offload",
	"feature-ipv6-csum-offload", "feature-rx-notify", "request-rx-copy",
	"multi-queue-num-queues",
};

/* dir/key, malloc'd, or NULL when absent. */
static char *xs_get(struct xs_handle *xsh, const char *dir, const char *key)
{
	char path[256];
	unsigned len;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) >= sizeof(path))
		return NULL;
	return xs_read(xsh, XBT_NULL, path, &len);
}

static void add_keys(struct xs_handle *xsh, const char *dir, const char *side,
		     const char *const *keys, size_t n_keys, struct xlmig_nic *nic)
{
	for (size_t i = 0; i < n_keys && nic->n_keys < XLMIG_NIC_KEYS_MAX; i++) {
		char *v = xs_get(xsh, dir, keys[i]);
		if (!v)
			continue;
		snprintf(nic->keys[nic->n_keys].key, XLMIG_NIC_KEY_LEN, "%s/%s", side, keys[i]);
		snprintf(nic->keys[nic->n_keys].value, XLMIG_NIC_KEY_LEN, "%s", v);
		nic->n_keys++;
		free(v);
	}
}

/* "ip" holds the vif's addresses separated by spaces (xl.cfg's ip=). */
static void add_addrs(const char *list, struct xlmig_nic *nic)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		if (nic->n_ipv4 < XLMIG_NIC_ADDRS_MAX && inet_pton(AF_INET, tok, nic->ipv4[nic->n_ipv4]) == 1)
			nic->n_ipv4++;
		else if (nic->n_ipv6 < XLMIG_NIC_ADDRS_MAX && inet_pton(AF_INET6, tok, nic->ipv6[nic->n_ipv6]) == 1)
			nic->n_ipv6++;
	}
}

static int read_vif(struct xs_handle *xsh, uint32_t domid, const char *devid, struct xlmig_nic *nic)
{
	char front[128], *back = NULL, *mac = NULL, *ip = NULL, *name = NULL, *state = NULL, *end;
	int rc = XLMIG_OK;

	memset(nic, 0, sizeof(*nic));
	snprintf(front, sizeof(front), "/local/domain/%u/device/vif/%s", domid, devid);
	back = xs_get(xsh, front, "backend");
	if (!back) {
		rc = xlmig_fail(XLMIG_E_HV, "domain %u's vif %s has no backend in xenstore", domid, devid);
		goto out;
	}
	mac = xs_get(xsh, back, "mac");
	if (!mac || xlmig_mac_parse(mac, nic->mac)) {
		rc = xlmig_fail(XLMIG_E_HV, "domain %u's vif %s: %s/mac is missing or not a MAC", domid, devid, back);
		goto out;
	}
	name = xs_get(xsh, back, "vifname");
	if (name && strlen(name) < sizeof(nic->ifname))
		snprintf(nic->ifname, sizeof(nic->ifname), "%s", name);
	else if ((size_t)snprintf(nic->ifname, sizeof(nic->ifname), "vif%u.%s", domid, devid) >= sizeof(nic->ifname)) {
		rc = xlmig_fail(XLMIG_E_HV, "domain %u's vif %s: its interface name is too long", domid, devid);
		goto out;
	}
	if ((ip = xs_get(xsh, back, "ip")))
		add_addrs(ip, nic);
	state = xs_get(xsh, back, "state");
	nic->awaiting_guest = !state || strtol(state, &end, 10) != XenbusStateConnected || *end;
	add_keys(xsh, back, "backend", backend_keys, XLMIG_ARRAY_SIZE(backend_keys), nic);
	add_keys(xsh, front, "frontend", frontend_keys, XLMIG_ARRAY_SIZE(frontend_keys), nic);
out:
	free(back);
	free(mac);
	free(ip);
	free(name);
	free(state);
	return rc;
}

int xlmig_xen_nics(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n)
{
	struct xs_handle *xsh = xlmig_xen_handles(hv)->xsh;
	char dir[64], **ids;
	unsigned n_ids = 0;
	int rc = XLMIG_OK;

	*n = 0;
	snprintf(dir, sizeof(dir), "/local/domain/%u/device/vif", domid);
	ids = xs_directory(xsh, XBT_NULL, dir, &n_ids);
	if (!ids)
		return errno == ENOENT ? XLMIG_OK : xlmig_xen_errno_fail(errno, domid, "xs_directory device/vif");
	for (unsigned i = 0; i < n_ids && *n < max && !rc; i++)
		if (!(rc = read_vif(xsh, domid, ids[i], &out[*n])))
			(*n)++;
	free(ids);
	return rc;
}
