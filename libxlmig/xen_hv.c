/*
 * xen_hv.c - the xen hypervisor backend (hv.h) over libxl, libxenctrl and
 * libxenstore.  Saving is in xen_save.c; restoring mirrors what
 * `xl migrate-receive` does in create_domain(): read xl's header and JSON
 * config, rename, libxl_domain_create_restore, leave the domain paused.
 */
#include "guest_policy.h"
#include "hv.h"
#include "stream.h"
#include "xen_dirty.h"
#include "xen_err.h"
#include "xen_memdigest.h"
#include "xen_nic.h"
#include "xen_preflight.h"
#include "xen_save.h"
#include "xen_watch.h"
#include "stream.h"

#include <errno.h>
#include <libxl_utils.h>
#include <stdlib.h>
#include <xentoollog.h>

#define NO_DOMID ((uint32_t)INVALID_DOMID)

struct xen_priv {
	struct xlmig_xen_handles h;
	xentoollog_logger_stdiostream *logger;
	struct xlmig_xen_watch *watch;   /* opened by the first watch_fd */
};

static struct xen_priv *priv_of(struct xlmig_hv *hv)
{
	return hv->priv;
}

const struct xlmig_xen_handles *xlmig_xen_handles(struct xlmig_hv *hv)
{
	return &priv_of(hv)->h;
}

static enum xlmig_dom_state state_of(const libxl_dominfo *d)
{
	if (d->dying)
		return XLMIG_DOM_DYING;
	if (d->shutdown && d->shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND)
		return XLMIG_DOM_SUSPENDED;
	/* Shut down for any other reason (crashed and kept by
	 * on_crash="preserve", powered off or rebooting before the toolstack
	 * acted): it will never run again as it is, and the toolstack
	 * destroys or restarts it.  Taken for running, it was offered to
	 * migrations and dirty-rate checks (a crashed guest measured 0). */
	if (d->shutdown)
		return XLMIG_DOM_DYING;
	if (d->paused)
		return XLMIG_DOM_PAUSED;
	return XLMIG_DOM_RUNNING;
}

static void fill_info(libxl_ctx *ctx, const libxl_dominfo *d, struct xlmig_domain_info *out)
{
	char *name = libxl_domid_to_name(ctx, d->domid);

	memset(out, 0, sizeof(*out));
	out->domid = d->domid;
	snprintf(out->name, sizeof(out->name), "%s", name ? name : "");
	out->mem_bytes = d->current_memkb * 1024;
	out->vcpus = d->vcpu_online;
	out->guest_type = d->domain_type == LIBXL_DOMAIN_TYPE_PV ? XLMIG_GUEST_X86_PV
								 : XLMIG_GUEST_X86_HVM;
	out->state = state_of(d);
	free(name);
}

static int xen_list(struct xlmig_hv *hv, struct xlmig_domain_info **out, size_t *n)
{
	libxl_ctx *ctx = priv_of(hv)->h.ctx;
	libxl_dominfo *list;
	int nb = 0;
	size_t k = 0;

	list = libxl_list_domain(ctx, &nb);
	if (!list)
		return xlmig_fail(XLMIG_E_HV, "libxl_list_domain failed (is this a Xen dom0, run as root?)");
	*out = calloc((size_t)nb + 1, sizeof(**out));
	if (!*out) {
		libxl_dominfo_list_free(list, nb);
		return xlmig_fail(XLMIG_E_NOMEM, "listing %d domains", nb);
	}
	for (int i = 0; i < nb; i++)
		if (list[i].domid != 0)
			fill_info(ctx, &list[i], &(*out)[k++]);
	*n = k;
	libxl_dominfo_list_free(list, nb);
	return XLMIG_OK;
}

static int parse_domid(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= 0x7ff0)   /* DOMID_FIRST_RESERVED */
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int xen_lookup(struct xlmig_hv *hv, const char *name_or_id, struct xlmig_domain_info *out)
{
	libxl_ctx *ctx = priv_of(hv)->h.ctx;
	libxl_dominfo info;
	uint32_t domid;
	int rc, lrc;

	libxl_dominfo_init(&info);
	if (parse_domid(name_or_id, &domid) != 0 && libxl_name_to_domid(ctx, name_or_id, &domid)) {
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "no domain named '%s' on this host", name_or_id);
		goto out;
	}
	lrc = libxl_domain_info(ctx, &info, domid);
	if (lrc) {
		rc = lrc == ERROR_DOMAIN_NOTFOUND
			? xlmig_fail(XLMIG_E_NOTFOUND, "no domain with id %u on this host", domid)
			: xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_info");
		goto out;
	}
	if (domid == 0) {
		rc = xlmig_fail(XLMIG_E_INVAL, "domain 0 cannot be migrated");
		goto out;
	}
	fill_info(ctx, &info, out);
	rc = XLMIG_OK;
out:
	libxl_dominfo_dispose(&info);
	return rc;
}

static int xen_save_live(struct xlmig_hv *hv, uint32_t domid, int fd,
			 const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	int rc = xlmig_xen_save_live(&priv_of(hv)->h, domid, fd, opts, res), drc;

	/* The domain is suspended now, its memory what the stream holds:
	 * the digest is part of the pause, so only when asked for (the
	 * save refused a PV guest, which the digest does not cover). */
	if (!rc && opts->mem_digest) {
		drc = xlmig_xen_hv_mem_digest(&priv_of(hv)->h, domid, res->mem_digest);
		res->have_mem_digest = drc == XLMIG_OK;
		if (drc != XLMIG_OK && drc != XLMIG_E_UNSUPPORTED)
			rc = drc;
	}
	return rc;
}

/* The config from xl's header, renamed, as create_domain() prepares it.
 * A guest domid in the config (the sender's xl -D) or in domid is asked
 * of Xen, as xl does; otherwise Xen picks. */
static int restore_config(libxl_ctx *ctx, const struct xlmig_xlhdr *hdr, const char *name,
			  uint32_t domid, libxl_domain_config *cfg)
{
	char *json;
	int lrc;

	if (!hdr->config_len || !(hdr->mandatory_flags & XLMIG_XL_FLAG_JSON))
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "the stream carries no JSON domain config; restore it with xl");
	json = strndup((const char *)hdr->config, hdr->config_len);
	if (!json)
		return xlmig_fail(XLMIG_E_NOMEM, "copying the domain config");
	lrc = libxl_domain_config_from_json(ctx, cfg, json);
	free(json);
	if (lrc)
		return xlmig_xen_libxl_fail(lrc, UINT32_MAX, "libxl_domain_config_from_json");
	if (name) {
		free(cfg->c_info.name);
		cfg->c_info.name = strdup(name);
		if (!cfg->c_info.name)
			return xlmig_fail(XLMIG_E_NOMEM, "copying the domain name");
	}
	if (domid)
		cfg->c_info.domid = domid;
	if (!libxl_domid_valid_guest(cfg->c_info.domid))
		cfg->c_info.domid = INVALID_DOMID;   /* let Xen choose, as xl's default policy */
	return XLMIG_OK;
}

/* A failed libxl_domain_create_restore may leave a half-created domain,
 * and it reports a domid even when it made none: with -D, the id asked
 * for, which may be another live domain's (the very guest being migrated,
 * on a localhost migration).  Only a domain under our incoming name is
 * ours to destroy. */
static void remove_half_restored(libxl_ctx *ctx, uint32_t domid, const char *name)
{
	char *now;

	if (domid == NO_DOMID || !name)
		return;
	now = libxl_domid_to_name(ctx, domid);
	if (now && !strcmp(now, name) && libxl_domain_destroy(ctx, domid, NULL))
		xlmig_warn("could not destroy the half-restored domain %u (%s)", domid, name);
	free(now);
}

static int xen_restore(struct xlmig_hv *hv, int fd, const struct xlmig_restore_opts *opts,
		       uint32_t *domid)
{
	libxl_ctx *ctx = priv_of(hv)->h.ctx;
	libxl_domain_restore_params params;
	libxl_domain_config cfg;
	struct xlmig_xlhdr hdr;
	int rc, lrc;

	libxl_domain_config_init(&cfg);
	libxl_domain_restore_params_init(&params);
	rc = xlmig_xlhdr_read(fd, &hdr);   /* refuses a legacy (v1) stream */
	if (rc)
		goto out;
	/* Before libxl reads a byte of it: what the source may ask for. */
	if (opts->policy && hdr.config_len &&
	    (rc = xlmig_guest_policy_config(opts->policy, opts->name ? opts->name : "the guest",
					    (const char *)hdr.config, hdr.config_len)))
		goto out;
	rc = restore_config(ctx, &hdr, opts->name, opts->domid, &cfg);
	if (rc)
		goto out;
	params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
	params.stream_version = 2;
	*domid = NO_DOMID;
	/* libxl leaves the new domain paused; the job unpauses after GO. */
	lrc = libxl_domain_create_restore(ctx, &cfg, domid, fd, -1, &params, NULL, NULL);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, *domid == NO_DOMID ? UINT32_MAX : *domid,
					  "libxl_domain_create_restore");
		xlmig_fail_prefix(rc, "restoring %s", cfg.c_info.name ? cfg.c_info.name : "domain");
		if (libxl_domid_valid_guest(cfg.c_info.domid))
			xlmig_fail_prefix(rc, "domain id %u was asked for (xl -D): it must be free on "
					  "this host", cfg.c_info.domid);
		remove_half_restored(ctx, *domid, cfg.c_info.name);
		/* Whatever was ours is gone now; the id libxl reported may
		 * already name nothing, or another domain: leave the caller
		 * nothing to destroy (0, as no guest is dom0). */
		*domid = 0;
	}
out:
	xlmig_xlhdr_free(&hdr);
	libxl_domain_restore_params_dispose(&params);
	libxl_domain_config_dispose(&cfg);
	return rc;
}

static int xen_pause(struct xlmig_hv *hv, uint32_t domid)
{
	int lrc = libxl_domain_pause(priv_of(hv)->h.ctx, domid, NULL);
	return lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_pause") : 0;
}

static int xen_unpause(struct xlmig_hv *hv, uint32_t domid)
{
	int lrc = libxl_domain_unpause(priv_of(hv)->h.ctx, domid, NULL);
	return lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_unpause") : 0;
}

static int xen_rename(struct xlmig_hv *hv, uint32_t domid, const char *new_name)
{
	int lrc = libxl_domain_rename(priv_of(hv)->h.ctx, domid, NULL, new_name);

	if (lrc)
		return xlmig_fail_prefix(xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_rename"),
					 "renaming to %s", new_name);
	return XLMIG_OK;
}

static int xen_destroy(struct xlmig_hv *hv, uint32_t domid)
{
	int lrc = libxl_domain_destroy(priv_of(hv)->h.ctx, domid, NULL);
	return lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_destroy") : 0;
}

/* Only a domain that suspended is resumed: after an early failure the
 * guest never stopped, and resuming a running guest is not harmless. */
static int xen_resume(struct xlmig_hv *hv, uint32_t domid)
{
	libxl_ctx *ctx = priv_of(hv)->h.ctx;
	libxl_dominfo info;
	int rc, lrc;

	libxl_dominfo_init(&info);
	lrc = libxl_domain_info(ctx, &info, domid);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_info");
		goto out;
	}
	if (state_of(&info) != XLMIG_DOM_SUSPENDED) {
		xlmig_info("domain %u did not suspend; nothing to resume", domid);
		rc = XLMIG_OK;
		goto out;
	}
	lrc = libxl_domain_resume(ctx, domid, 1, NULL);
	rc = lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_resume (suspend_cancel)") : 0;
out:
	libxl_dominfo_dispose(&info);
	return rc;
}

static int xen_set_throttle(struct xlmig_hv *hv, uint32_t domid, unsigned pct)
{
	return xlmig_xen_set_throttle(priv_of(hv)->h.ctx, domid, pct);
}

/* The xenstore watch on @introduceDomain/@releaseDomain (xen_watch.h).
 * Without one the daemon still works; it just learns of domains that
 * come and go behind its back only when it next looks. */
static int xen_watch_fd(struct xlmig_hv *hv)
{
	struct xen_priv *p = priv_of(hv);

	if (!p->watch && xlmig_xen_watch_open(&p->watch) != XLMIG_OK) {
		xlmig_warn("not watching domains come and go: %s", xlmig_errmsg());
		return -1;
	}
	return xlmig_xen_watch_fd(p->watch);
}

static int xen_watch_changes(struct xlmig_hv *hv, struct xlmig_dom_change *out, size_t max,
			     size_t *n)
{
	struct xen_priv *p = priv_of(hv);

	*n = 0;
	return p->watch ? xlmig_xen_watch_changes(p->watch, out, max, n) : XLMIG_OK;
}

static void xen_close(struct xlmig_hv *hv)
{
	struct xen_priv *p = priv_of(hv);

	xlmig_xen_watch_close(p->watch);
	if (p->h.xsh)
		xs_close(p->h.xsh);
	if (p->h.xch)
		xc_interface_close(p->h.xch);
	if (p->h.ctx)
		libxl_ctx_free(p->h.ctx);
	if (p->logger)
		xtl_logger_destroy((xentoollog_logger *)p->logger);
	free(p);
	free(hv);
}

static int xen_dirty_rate(struct xlmig_hv *hv, uint32_t domid, unsigned window_ms,
			  uint64_t *bytes_per_s)
{
	return xlmig_xen_dirty_rate(&priv_of(hv)->h, domid, window_ms, bytes_per_s);
}

static int xen_mem_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32])
{
	return xlmig_xen_hv_mem_digest(&priv_of(hv)->h, domid, out);
}

static const struct xlmig_hv_ops xen_ops = {
	.name = "xen",
	.keeps_domid = true,
	.close = xen_close,
	.list = xen_list,
	.lookup = xen_lookup,
	.save_live = xen_save_live,
	.restore = xen_restore,
	.pause = xen_pause,
	.unpause = xen_unpause,
	.rename = xen_rename,
	.destroy = xen_destroy,
	.resume = xen_resume,
	.set_throttle = xen_set_throttle,
	.dirty_rate = xen_dirty_rate,
	.mem_digest = xen_mem_digest,
	.preflight_guest = xlmig_xen_preflight_collect,
	.preflight_host = xlmig_xen_preflight_host,
	.watch_fd = xen_watch_fd,
	.watch_changes = xen_watch_changes,
	.nics = xlmig_xen_nics,
};

static int open_handles(struct xen_priv *p)
{
	xentoollog_level lvl = xlmig_log_get_level() >= XLMIG_LOG_DEBUG ? XTL_DEBUG : XTL_ERROR;
	int lrc;

	p->logger = xtl_createlogger_stdiostream(stderr, lvl, 0);
	if (!p->logger)
		return xlmig_fail(XLMIG_E_NOMEM, "creating the Xen logger");
	lrc = libxl_ctx_alloc(&p->h.ctx, LIBXL_VERSION, 0, (xentoollog_logger *)p->logger);
	if (lrc)
		return xlmig_xen_libxl_fail(lrc, UINT32_MAX, "libxl_ctx_alloc (run as root in dom0)");
	p->h.xch = xc_interface_open((xentoollog_logger *)p->logger, NULL, 0);
	if (!p->h.xch)
		return xlmig_xen_errno_fail(errno, UINT32_MAX, "xc_interface_open");
	p->h.xsh = xs_open(0);
	if (!p->h.xsh)
		return xlmig_xen_errno_fail(errno, UINT32_MAX, "xs_open (is xenstored running?)");
	return XLMIG_OK;
}

int xlmig_hv_xen_open(struct xlmig_hv **out)
{
	struct xlmig_hv *hv = calloc(1, sizeof(*hv));
	struct xen_priv *p = calloc(1, sizeof(*p));
	int rc;

	if (!hv || !p) {
		free(hv);
		free(p);
		return xlmig_fail(XLMIG_E_NOMEM, "opening the xen backend");
	}
	hv->ops = &xen_ops;
	hv->priv = p;
	rc = open_handles(p);
	if (rc) {
		xen_close(hv);
		return xlmig_fail_prefix(rc, "opening the xen backend");
	}
	*out = hv;
	return XLMIG_OK;
}
