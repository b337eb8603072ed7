/*
 * hv.c - choosing and opening a hypervisor backend (see hv.h).
 */
#include "hv.h"

#include <time.h>
#include <unistd.h>

bool xlmig_hv_is_xen_dom0(void)
{
	/* A dom0 has the privcmd interface and a xenstore to talk to;
	 * /proc/xen alone also exists in PV domUs. */
	if (access("/proc/xen/capabilities", R_OK) != 0)
		return false;
	FILE *f = fopen("/proc/xen/capabilities", "re");
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
	return xlmig_hv_open_at(name, NULL, out);
}

int xlmig_hv_open_at(const char *name, const struct xlmig_hv_place *place,
		     struct xlmig_hv **out)
{
	if (!name || !strcmp(name, "auto"))
		name = xlmig_hv_is_xen_dom0() ? "xen" : "sim";
	if (!strcmp(name, "sim") && place)
		return xlmig_hv_sim_connect(place->host_socket, place->host_log, place->start_host, out);
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

/* ---- optional ops ---- */

static int unsupported(const struct xlmig_hv *hv, const char *what)
{
	return xlmig_fail(XLMIG_E_UNSUPPORTED, "%s: the %s backend cannot do that", what,
			  hv->ops->name);
}

int xlmig_hv_mem_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32])
{
	if (!hv->ops->mem_digest)
		return unsupported(hv, "a digest of a guest's memory");
	return hv->ops->mem_digest(hv, domid, out);
}

int xlmig_hv_counter(struct xlmig_hv *hv, uint32_t domid, uint64_t *out)
{
	if (!hv->ops->counter)
		return unsupported(hv, "reading a guest's counter");
	return hv->ops->counter(hv, domid, out);
}

int xlmig_hv_dirty_rate(struct xlmig_hv *hv, uint32_t domid, unsigned window_ms,
			uint64_t *bytes_per_s)
{
	if (!hv->ops->dirty_rate)
		return unsupported(hv, "measuring a guest's dirty rate");
	if (window_ms == 0 || window_ms > XLMIG_HV_DIRTY_WINDOW_MAX_MS)
		return xlmig_fail(XLMIG_E_INVAL, "a dirty-rate window is 1 to %u ms, not %u",
				  XLMIG_HV_DIRTY_WINDOW_MAX_MS, window_ms);
	return hv->ops->dirty_rate(hv, domid, window_ms, bytes_per_s);
}

int xlmig_hv_create(struct xlmig_hv *hv, const struct xlmig_hv_create *c, uint32_t *domid)
{
	if (!hv->ops->create)
		return unsupported(hv, "creating guests (use the toolstack's own, e.g. xl create)");
	return hv->ops->create(hv, c, domid);
}

int xlmig_hv_nics(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n)
{
	*n = 0;
	if (!hv->ops->nics)
		return unsupported(hv, "listing a guest's network interfaces");
	return hv->ops->nics(hv, domid, out, max, n);
}

int xlmig_hv_counter_passes(struct xlmig_hv *hv, uint32_t domid, uint64_t than,
			    unsigned timeout_ms)
{
	uint64_t deadline = xlmig_now_ns() + (uint64_t)timeout_ms * 1000000ull, c = 0;
	const struct timespec tick = { .tv_nsec = 1000000 };
	int rc;

	while ((rc = xlmig_hv_counter(hv, domid, &c)) == XLMIG_OK && c <= than) {
		if (xlmig_now_ns() >= deadline)
			return xlmig_fail(XLMIG_E_TIMEOUT, "domain %u's counter stayed at %llu for %u ms: it does not run",
					  domid, (unsigned long long)c, timeout_ms);
		nanosleep(&tick, NULL);
	}
	return rc;
}

int xlmig_hv_resume_if_stopped(struct xlmig_hv *hv, uint32_t domid)
{
	struct xlmig_domain_info now;
	char id[16];
	int rc;

	snprintf(id, sizeof(id), "%u", domid);
	rc = hv->ops->lookup(hv, id, &now);
	if (rc)
		return xlmig_fail_prefix(rc, "looking for domain %u to resume it", domid);
	/* A paused domain was paused by its administrator, not by the save
	 * (which leaves it suspended): it stays as they left it. */
	if (now.state == XLMIG_DOM_RUNNING || now.state == XLMIG_DOM_PAUSED) {
		xlmig_info("domain %u never suspended: nothing to resume", domid);
		return XLMIG_OK;
	}
	return hv->ops->resume(hv, domid);
}

size_t xlmig_domlist_diff(const uint32_t *old_ids, size_t n_old, const uint32_t *new_ids,
			  size_t n_new, struct xlmig_dom_change *out, size_t max)
{
	size_t i = 0, j = 0, k = 0;

	while ((i < n_old || j < n_new) && k < max) {
		if (j == n_new || (i < n_old && old_ids[i] < new_ids[j]))
			out[k++] = (struct xlmig_dom_change){ old_ids[i++], false };
		else if (i == n_old || new_ids[j] < old_ids[i])
			out[k++] = (struct xlmig_dom_change){ new_ids[j++], true };
		else
			i++, j++;
	}
	return k;
}
