/*
 * guest_policy.h - what a source host may ask this host to create.
 *
 * An incoming migration ends in a domain created as root in dom0 from a
 * config the peer sent.  The destination's administrator decides what
 * such a config may touch on this host, in xlmigd.conf:
 *
 *   storage             disks (and 9p shares) only under these
 *                       directories, as canonical absolute paths
 *   boot                kernels, ramdisks, device trees and firmware
 *                       files only under these directories (libxl loads
 *                       them from dom0 into the guest when it boots or
 *                       reboots: a peer naming /etc/shadow as a ramdisk
 *                       would hand it to the guest); an HVM firmware
 *                       override may also be a bare name, which libxl
 *                       looks up in Xen's own firmware directory
 *   bridges             the bridges a NIC may join (a trailing '*' matches
 *                       a prefix: "xenbr*")
 *   allow_scripts       hotplug scripts other than Xen's own (a bare name,
 *                       or a file of /etc/xen/scripts)
 *   allow_device_model  device-model path, user, arguments, stub domain
 *                       and PVH shim overrides
 *   allow_bootloader    a bootloader run in dom0 (pygrub)
 *   allow_passthrough   PCI, device-tree and USB host devices
 *
 * Two checks read the same rules: xlmig_guest_policy_facts() on the
 * PREFLIGHT facts (disks, bridges and boot files), before the destination
 * probes any path or bridge (so a peer learns nothing of a path the policy
 * would refuse; boot files are checked, never probed), and
 * xlmig_guest_policy_config() on the libxl JSON config the stream
 * carries, before the backend parses it.  Every refusal names the item,
 * the rule and the setting that would allow it.
 */
#ifndef XLMIG_GUEST_POLICY_H
#define XLMIG_GUEST_POLICY_H

#include "common.h"
#include "preflight_facts.h"

#define XLMIG_POLICY_MAX_ITEMS 16u
#define XLMIG_POLICY_PATH_MAX  1024u
#define XLMIG_XEN_SCRIPT_DIR   "/etc/xen/scripts"

struct xlmig_guest_policy {
	unsigned n_storage;
	char *storage[XLMIG_POLICY_MAX_ITEMS];  /* canonical, no trailing '/' */
	unsigned n_boot;
	char *boot[XLMIG_POLICY_MAX_ITEMS];     /* the same */
	unsigned n_bridges;
	char *bridges[XLMIG_POLICY_MAX_ITEMS];  /* names or "prefix*" */
	bool allow_scripts;
	bool allow_device_model;
	bool allow_bootloader;
	bool allow_passthrough;
};

/* The defaults, as xlmigd.conf(5) states them. */
#define XLMIG_POLICY_DEFAULT_STORAGE "/var/lib/xen/images"
#define XLMIG_POLICY_DEFAULT_BOOT    "/var/lib/xen/boot:/usr/lib/xen/boot"
#define XLMIG_POLICY_DEFAULT_BRIDGES "xenbr*"

/* storage, boot: directories separated by ':'; bridges: names separated
 * by ',' (any may be empty: nothing of that kind allowed).  Each item is
 * checked (canonical absolute directories, interface names). */
int xlmig_guest_policy_init(struct xlmig_guest_policy *p, const char *storage,
			    const char *boot, const char *bridges);
void xlmig_guest_policy_free(struct xlmig_guest_policy *p);
/* The policy with the defaults above, for callers without a configuration. */
const struct xlmig_guest_policy *xlmig_guest_policy_default(void);

/* A path without '.', '..' or empty components, absolute, printable. */
bool xlmig_path_canonical(const char *path);
/* A network interface name as the kernel takes it, safe in a /sys path. */
bool xlmig_ifname_ok(const char *name);

/* One disk path / bridge against the policy (guest names it in errors). */
int xlmig_guest_policy_disk(const struct xlmig_guest_policy *p, const char *guest,
			    const char *path);
int xlmig_guest_policy_bridge(const struct xlmig_guest_policy *p, const char *guest,
			      const char *bridge);
/* One file libxl loads into the guest (what names it in errors: "kernel",
 * "ramdisk", ...).  A bare name is taken only where bare_ok (an HVM
 * firmware override, which libxl resolves in Xen's firmware directory). */
int xlmig_guest_policy_boot(const struct xlmig_guest_policy *p, const char *guest,
			    const char *what, const char *path, bool bare_ok);
/* Every disk, bridge and boot file of the PREFLIGHT facts. */
int xlmig_guest_policy_facts(const struct xlmig_guest_policy *p,
			     const struct xlmig_preflight_guest *g);
/* The libxl domain config (JSON text) a stream carries.  All refusals in
 * one message; the code is XLMIG_E_AUTH (not allowed) or XLMIG_E_FORMAT
 * (not a config). */
int xlmig_guest_policy_config(const struct xlmig_guest_policy *p, const char *guest,
			      const char *json, size_t len);

#endif
