/*
 * xen_preflight.c - preflight facts read live from Xen (see
 * xen_preflight.h): libxl for configs, memory and version, libxenguest
 * for CPU policies and featuresets.
 */
#include "xen_preflight.h"
#include "stream.h"
#include "xen_err.h"
#include "xen_save.h"

#include <errno.h>
#include <stdlib.h>
#include <xenguest.h>

/* The guest's CPUID policy as Xen enforces it, as featureset words: the
 * leaves are put in X86_CPUID_POLICY's record layout so that the one
 * decoder (preflight.c) reads both these and a recorded stream's. */
static int guest_featureset(xc_interface *xch, uint32_t domid,
			    uint32_t fs[XLMIG_FEATURESET_WORDS])
{
	xc_cpu_policy_t *policy = xc_cpu_policy_init();
	xen_cpuid_leaf_t *leaves = NULL;
	uint32_t nr_leaves = 0, nr_msrs = 0;
	uint8_t *body = NULL;
	int rc;

	if (!policy) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "allocating a CPU policy");
		goto out;
	}
	if (xc_cpu_policy_get_size(xch, &nr_leaves, &nr_msrs)) {
		rc = xlmig_xen_errno_fail(errno, UINT32_MAX, "xc_cpu_policy_get_size");
		goto out;
	}
	leaves = calloc(nr_leaves ? nr_leaves : 1, sizeof(*leaves));
	body = calloc(nr_leaves ? nr_leaves : 1, 24);
	if (!leaves || !body) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "%u CPUID leaves", nr_leaves);
		goto out;
	}
	if (xc_cpu_policy_get_domain(xch, domid, policy)) {
		rc = xlmig_xen_errno_fail(errno, domid, "xc_cpu_policy_get_domain");
		goto out;
	}
	if (xc_cpu_policy_serialise(xch, policy, leaves, &nr_leaves, NULL, NULL)) {
		rc = xlmig_xen_errno_fail(errno, domid, "xc_cpu_policy_serialise");
		goto out;
	}
	for (uint32_t i = 0; i < nr_leaves; i++) {
		const uint32_t v[6] = { leaves[i].leaf, leaves[i].subleaf, leaves[i].a,
					leaves[i].b, leaves[i].c, leaves[i].d };
		for (int k = 0; k < 6; k++)
			xlmig_put_le32(body + i * 24 + k * 4, v[k]);
	}
	rc = xlmig_featureset_from_cpuid_policy(body, nr_leaves * 24, fs);
out:
	free(body);
	free(leaves);
	if (policy)
		xc_cpu_policy_destroy(policy);
	return rc;
}

/* Paths a destination can check: files and block devices.  Anything else
 * (an empty CD-ROM, a target string for a block script such as iSCSI or
 * DRBD) names storage this host reaches some other way. */
static int add_disks(struct xlmig_preflight_guest *g, const libxl_domain_config *cfg)
{
	int rc = XLMIG_OK;

	for (int i = 0; i < cfg->num_disks && !rc; i++) {
		const libxl_device_disk *d = &cfg->disks[i];

		if (d->pdev_path && d->pdev_path[0] == '/' && !d->script)
			rc = xlmig_preflight_add_disk(g, d->pdev_path);
	}
	return rc;
}

static bool listed(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static int add_bridges(struct xlmig_preflight_guest *g, const libxl_domain_config *cfg)
{
	int rc = XLMIG_OK;

	for (int i = 0; i < cfg->num_nics && !rc; i++) {
		const char *br = cfg->nics[i].bridge;

		if (br && br[0] && !listed(g->bridges, g->n_bridges, br))
			rc = xlmig_preflight_add_bridge(g, br);
	}
	return rc;
}

/* The files libxl loads from dom0 into the guest at boot, which the
 * destination's policy must allow (guest_policy.h). */
static int add_boot(struct xlmig_preflight_guest *g, const libxl_domain_config *cfg)
{
	const libxl_domain_build_info *b = &cfg->b_info;
	const char *files[9] = { b->kernel, b->ramdisk, b->device_tree };
	int rc = XLMIG_OK;

	if (b->type == LIBXL_DOMAIN_TYPE_PV) {
		files[3] = b->u.pv.kernel;
		files[4] = b->u.pv.ramdisk;
	} else if (b->type == LIBXL_DOMAIN_TYPE_HVM) {
		files[5] = b->u.hvm.firmware;
		files[6] = b->u.hvm.system_firmware;
		files[7] = b->u.hvm.smbios_firmware;
		files[8] = b->u.hvm.acpi_firmware;
	}
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(files) && !rc; i++)
		if (files[i] && files[i][0] && !listed(g->boot, g->n_boot, files[i]))
			rc = xlmig_preflight_add_boot(g, files[i]);
	return rc;
}

static void xen_version(libxl_ctx *ctx, unsigned *major, unsigned *minor)
{
	const libxl_version_info *v = libxl_get_version_info(ctx);

	*major = v && v->xen_version_major > 0 ? (unsigned)v->xen_version_major : 0;
	*minor = v && v->xen_version_minor > 0 ? (unsigned)v->xen_version_minor : 0;
}

int xlmig_xen_preflight_collect(struct xlmig_hv *hv, const char *domain,
				struct xlmig_preflight_guest *g)
{
	const struct xlmig_xen_handles *h = xlmig_xen_handles(hv);
	struct xlmig_domain_info di;
	libxl_domain_config cfg;
	uint64_t need_kb = 0;
	int rc, lrc;

	libxl_domain_config_init(&cfg);
	rc = hv->ops->lookup(hv, domain, &di);
	if (rc)
		goto out;
	memcpy(g->name, di.name, sizeof(g->name));
	g->hvm = di.guest_type != XLMIG_GUEST_X86_PV;
	xen_version(h->ctx, &g->xen_major, &g->xen_minor);
	lrc = libxl_retrieve_domain_configuration(h->ctx, di.domid, &cfg, NULL);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, di.domid, "libxl_retrieve_domain_configuration");
		goto out;
	}
	if ((rc = add_disks(g, &cfg)) || (rc = add_bridges(g, &cfg)) || (rc = add_boot(g, &cfg)))
		goto out;
	/* The config's own figure includes the overheads Xen adds (shadow,
	 * video RAM, page tables), as xl's freemem() asks for. */
	lrc = libxl_domain_need_memory(h->ctx, &cfg, di.domid, &need_kb);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, di.domid, "libxl_domain_need_memory");
		goto out;
	}
	g->need_bytes = need_kb * 1024;
	rc = guest_featureset(h->xch, di.domid, g->cpu_fs);
	g->have_cpu = !rc;
out:
	libxl_domain_config_dispose(&cfg);
	return rc;
}

static int max_featureset(xc_interface *xch, uint32_t index, const char *what,
			  uint32_t fs[XLMIG_FEATURESET_WORDS])
{
	uint32_t nr = xc_get_cpu_featureset_size();
	uint32_t *words = calloc(XLMIG_MAX(nr, XLMIG_FEATURESET_WORDS), sizeof(*words));
	int rc = XLMIG_OK;

	if (!words)
		return xlmig_fail(XLMIG_E_NOMEM, "%u featureset words", nr);
	if (xc_get_cpu_featureset(xch, index, &nr, words))
		rc = xlmig_xen_errno_fail(errno, UINT32_MAX, what);
	else
		memcpy(fs, words, XLMIG_FEATURESET_WORDS * sizeof(*fs));
	free(words);
	return rc;
}

int xlmig_xen_preflight_host(struct xlmig_hv *hv, struct xlmig_preflight_host *out)
{
	const struct xlmig_xen_handles *h = xlmig_xen_handles(hv);
	uint64_t free_kb = 0;
	int lrc;

	lrc = libxl_get_free_memory(h->ctx, &free_kb);
	if (lrc)
		return xlmig_xen_libxl_fail(lrc, UINT32_MAX, "libxl_get_free_memory");
	out->free_bytes = free_kb * 1024;
	xen_version(h->ctx, &out->xen_major, &out->xen_minor);
	/* A Xen built without PV (or HVM) support has no such featureset:
	 * the CPU check is then left out, and said so. */
	out->have_cpu =
		!max_featureset(h->xch, XEN_SYSCTL_cpu_featureset_pv_max, "xc_get_cpu_featureset (PV max)",
				out->pv_max) &&
		!max_featureset(h->xch, XEN_SYSCTL_cpu_featureset_hvm_max, "xc_get_cpu_featureset (HVM max)",
				out->hvm_max);
	if (!out->have_cpu)
		xlmig_warn("CPU features not checked: %s", xlmig_errmsg());
	return XLMIG_OK;
}
