/*
 * xen_save.c - live save of a Xen domain (see xen_save.h).
 *
 * The native path reproduces what libxl_domain_suspend does for a PV or
 * PVH guest (libxl_dom_save.c, libxl_stream_write.c, libxl_dom_suspend.c):
 *   libxl header, LIBXC_CONTEXT record, the libxc stream written by
 *   xc_domain_save, END record.  libxl writes EMULATOR_XENSTORE_DATA and
 *   EMULATOR_CONTEXT only for LIBXL_DOMAIN_TYPE_HVM, so a PV or PVH guest
 *   gets none, and its logdirty switch for qemu is a no-op.
 * The guest is asked to suspend through its suspend event channel when it
 * advertises one, else through control/shutdown in xenstore, with libxl's
 * timeouts and its cancel-on-timeout transaction.
 */
#include "xen_save.h"
#include "xen_err.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <xenevtchn.h>
#include <xenguest.h>

#define GUEST_ACK_TIMEOUT_NS (60ull * 1000000000)  /* as libxl */
#define GUEST_SUSPEND_TIMEOUT_NS (60ull * 1000000000)

enum xlmig_xen_save_path xlmig_xen_save_choose(libxl_domain_type type,
					       const struct xlmig_policy *policy)
{
	if (type != LIBXL_DOMAIN_TYPE_PV && type != LIBXL_DOMAIN_TYPE_PVH)
		return XLMIG_XEN_SAVE_LIBXL;   /* HVM: qemu's state needs libxl */
	if (policy && policy->cfg.kind == XLMIG_POLICY_KIND_XEN)
		return XLMIG_XEN_SAVE_LIBXL;
	return XLMIG_XEN_SAVE_NATIVE;
}

int xlmig_xen_throttle_cap(unsigned pct, unsigned vcpus)
{
	int cap;

	if (pct == 0)
		return 0;
	if (vcpus == 0)
		vcpus = 1;
	cap = (int)((100 - XLMIG_MIN(pct, 99u)) * vcpus);
	return XLMIG_MAX(cap, 1);
}

int xlmig_xen_set_throttle(libxl_ctx *ctx, uint32_t domid, unsigned pct)
{
	libxl_domain_sched_params p;
	libxl_dominfo info;
	int rc, lrc;

	libxl_domain_sched_params_init(&p);
	libxl_dominfo_init(&info);
	lrc = libxl_domain_info(ctx, &info, domid);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_info");
		goto out;
	}
	lrc = libxl_domain_sched_params_get(ctx, domid, &p);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_sched_params_get");
		goto out;
	}
	if (p.sched != LIBXL_SCHEDULER_CREDIT && p.sched != LIBXL_SCHEDULER_CREDIT2) {
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED,
				"domain %u: throttling needs the credit or credit2 scheduler (it runs under %s)",
				domid, libxl_scheduler_to_string(p.sched));
		goto out;
	}
	p.cap = xlmig_xen_throttle_cap(pct, info.vcpu_online);
	lrc = libxl_domain_sched_params_set(ctx, domid, &p);
	rc = lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_sched_params_set (cap)") : 0;
out:
	libxl_domain_sched_params_dispose(&p);
	libxl_dominfo_dispose(&info);
	return rc;
}

/* ---- the config xl puts in its header ---- */

/* The domain's config as JSON, as save_domain_core_begin makes it: the
 * stored config (or -C's JSON text), with the domid cleared so the target
 * picks its own, unless -D asks to keep ours (xl ignores -D with -C,
 * xlmig applies it to both).  *json is malloc'd. */
static int config_json(libxl_ctx *ctx, uint32_t domid, const char *override,
		       bool preserve_domid, char **json)
{
	libxl_domain_config cfg;
	int rc = XLMIG_OK, lrc;

	libxl_domain_config_init(&cfg);
	if (override) {
		lrc = libxl_domain_config_from_json(ctx, &cfg, override);
		if (lrc) {
			rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_config_from_json (-C)");
			goto out;
		}
	} else {
		lrc = libxl_retrieve_domain_configuration(ctx, domid, &cfg, NULL);
		if (lrc) {
			rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_retrieve_domain_configuration");
			goto out;
		}
	}
	cfg.c_info.domid = preserve_domid ? domid : 0;
	*json = libxl_domain_config_to_json(ctx, &cfg);
	if (!*json)
		rc = xlmig_fail(XLMIG_E_HV, "domain %u: libxl_domain_config_to_json failed", domid);
out:
	libxl_domain_config_dispose(&cfg);
	return rc;
}

/* libxl_dominfo cannot tell PVH from HVM (it only sees Xen's
 * hvm_guest flag): the type is the stored config's. */
static int domain_type(libxl_ctx *ctx, uint32_t domid, libxl_domain_type *type)
{
	libxl_domain_config cfg;
	int lrc;

	libxl_domain_config_init(&cfg);
	lrc = libxl_retrieve_domain_configuration(ctx, domid, &cfg, NULL);
	*type = cfg.c_info.type;
	libxl_domain_config_dispose(&cfg);
	return lrc ? xlmig_xen_libxl_fail(lrc, domid, "libxl_retrieve_domain_configuration") : 0;
}

static int write_xl_header(int fd, uint32_t domid, const char *json)
{
	struct xlmig_sink sink = { xlmig_sink_fd_write, &fd };
	size_t len = strlen(json) + 1;   /* xl counts the NUL */
	int rc;

	if (len > XLMIG_MAX_XL_OPTDATA - 4)
		return xlmig_fail(XLMIG_E_LIMIT, "domain %u: config of %zu bytes is too big", domid, len);
	rc = xlmig_write_xl_header(&sink, XLMIG_XL_FLAG_STREAMV2 | XLMIG_XL_FLAG_JSON, 0, json,
				   (uint32_t)len);
	return rc ? xlmig_fail_prefix(rc, "domain %u: writing the xl save header", domid) : 0;
}

/* ---- domain state ---- */

/* 1 if the domain has shut down for suspend, 0 if it still runs, an
 * error if it is gone or shut down for another reason. */
static int domain_suspended(xc_interface *xch, uint32_t domid)
{
	xc_domaininfo_t info;
	unsigned reason;
	int n = xc_domain_getinfolist(xch, domid, 1, &info);

	if (n < 0)
		return xlmig_xen_errno_fail(errno, domid, "xc_domain_getinfolist");
	if (n != 1 || info.domain != domid)
		return xlmig_fail(XLMIG_E_NOTFOUND, "domain %u was destroyed while being suspended", domid);
	if (!(info.flags & XEN_DOMINF_shutdown))
		return 0;
	reason = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
	if (reason != SHUTDOWN_suspend)
		return xlmig_fail(XLMIG_E_HV, "domain %u shut down (reason %u) instead of suspending",
				  domid, reason);
	return 1;
}

/* ---- the native save ---- */

struct native {
	const struct xlmig_xen_handles *h;
	uint32_t domid;
	const struct xlmig_save_opts *opts;
	struct xlmig_save_result *res;
	struct xs_handle *xs;           /* our own: its watches stay ours */
	const char *ack_path;           /* control/shutdown while waiting */
	xenevtchn_handle *xce;
	int evtchn_port, lockfd;
	unsigned throttle_now;
	unsigned long p2m_pages;        /* pfns the first pass walks */
	unsigned long mem_pages;        /* pages the guest has */
	bool first_call, cancelled, aborted, guest_no_ack;
	uint64_t start_ns;
	int suspend_rc;
	char suspend_msg[256];
};

/* Wait on fd until cond(n) is nonzero or the deadline passes; drain is
 * called when fd is readable.  Returns cond's value, or TIMEOUT. */
static int wait_on_fd(struct native *n, int fd, uint64_t deadline,
		      void (*drain)(struct native *), int (*cond)(struct native *))
{
	for (;;) {
		int c = cond(n);
		if (c)
			return c;
		uint64_t now = xlmig_now_ns();
		if (now >= deadline)
			return XLMIG_E_TIMEOUT;
		struct pollfd pfd = { fd, POLLIN, 0 };
		int wait_ms = (int)XLMIG_MIN((deadline - now) / 1000000 + 1, 100u);
		if (poll(&pfd, 1, wait_ms) > 0)
			drain(n);
	}
}

static void drain_xs(struct native *n)
{
	char **ev;

	while ((ev = xs_check_watch(n->xs)) != NULL)
		free(ev);
}

static void drain_evtchn(struct native *n)
{
	xenevtchn_port_or_error_t p = xenevtchn_pending(n->xce);

	if (p >= 0)
		xenevtchn_unmask(n->xce, (evtchn_port_t)p);
}

static int cond_suspended(struct native *n)
{
	return domain_suspended(n->h->xch, n->domid);
}

static char *shutdown_path(struct native *n)
{
	char *dom = xs_get_domain_path(n->xs, n->domid);
	char *path = NULL;

	if (dom && asprintf(&path, "%s/control/shutdown", dom) < 0)
		path = NULL;
	free(dom);
	return path;
}

static int cond_acked(struct native *n)
{
	unsigned len;
	char *v = xs_read(n->xs, XBT_NULL, n->ack_path, &len);
	int acked = !v || strcmp(v, "suspend") != 0;

	free(v);
	return acked;
}

/* libxl's cancel: clear the request unless the guest took it at the
 * last moment.  Returns 1 if it did. */
static int cancel_suspend_request(struct native *n, const char *path)
{
	for (int tries = 0; tries < 10; tries++) {
		xs_transaction_t t = xs_transaction_start(n->xs);
		unsigned len;
		char *v;
		bool acked;

		if (t == XBT_NULL)
			return 0;
		v = xs_read(n->xs, t, path, &len);
		acked = !v || strcmp(v, "suspend") != 0;
		free(v);
		if (acked) {
			xs_transaction_end(n->xs, t, true);
			return 1;
		}
		xs_write(n->xs, t, path, "", 0);
		if (xs_transaction_end(n->xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return 0;
	}
	return 0;
}

static int suspend_by_xenstore(struct native *n)
{
	char *path = shutdown_path(n);
	int rc;

	if (!path)
		return xlmig_xen_errno_fail(errno, n->domid, "xs_get_domain_path");
	if (!xs_write(n->xs, XBT_NULL, path, "suspend", 7)) {
		rc = xlmig_xen_errno_fail(errno, n->domid, "writing control/shutdown in xenstore");
		goto out;
	}
	if (!xs_watch(n->xs, path, "xlmig-ack")) {
		rc = xlmig_xen_errno_fail(errno, n->domid, "xs_watch control/shutdown");
		goto out;
	}
	n->ack_path = path;
	rc = wait_on_fd(n, xs_fileno(n->xs), xlmig_now_ns() + GUEST_ACK_TIMEOUT_NS, drain_xs,
			cond_acked);
	xs_unwatch(n->xs, path, "xlmig-ack");
	if (rc == XLMIG_E_TIMEOUT && !cancel_suspend_request(n, path)) {
		n->guest_no_ack = true;
		rc = xlmig_fail(XLMIG_E_TIMEOUT,
				"domain %u did not acknowledge the suspend request within 60 s "
				"(request cancelled; does the guest have PV suspend support?)", n->domid);
		goto out;
	}
	if (!xs_watch(n->xs, "@releaseDomain", "xlmig-suspend")) {
		rc = xlmig_xen_errno_fail(errno, n->domid, "xs_watch @releaseDomain");
		goto out;
	}
	rc = wait_on_fd(n, xs_fileno(n->xs), xlmig_now_ns() + GUEST_SUSPEND_TIMEOUT_NS, drain_xs,
			cond_suspended);
	xs_unwatch(n->xs, "@releaseDomain", "xlmig-suspend");
	if (rc == XLMIG_E_TIMEOUT)
		rc = xlmig_fail(XLMIG_E_HV, "domain %u acknowledged the suspend request but did not "
				"suspend within 60 s", n->domid);
out:
	free(path);
	return rc < 0 ? rc : 0;
}

static int suspend_by_evtchn(struct native *n)
{
	int rc;

	if (xenevtchn_notify(n->xce, (evtchn_port_t)n->evtchn_port) < 0)
		return xlmig_xen_errno_fail(errno, n->domid, "xenevtchn_notify (suspend event channel)");
	rc = wait_on_fd(n, xenevtchn_fd(n->xce), xlmig_now_ns() + GUEST_SUSPEND_TIMEOUT_NS,
			drain_evtchn, cond_suspended);
	if (rc == XLMIG_E_TIMEOUT) {
		n->guest_no_ack = true;
		rc = xlmig_fail(XLMIG_E_TIMEOUT, "domain %u did not suspend within 60 s of the "
				"suspend event", n->domid);
	}
	return rc < 0 ? rc : 0;
}

/* Auto-converge's cap on the guest, changed only when it differs. */
static void throttle_to(struct native *n, unsigned pct)
{
	if (pct == n->throttle_now)
		return;
	if (xlmig_xen_set_throttle(n->h->ctx, n->domid, pct))
		xlmig_warn("auto-converge: throttling to %u %%: %s", pct, xlmig_errmsg());
	else
		n->throttle_now = pct;
}

/* xc_domain_save's suspend callback: nonzero means suspended. */
static int native_suspend(void *data)
{
	struct native *n = data;
	uint64_t asked_ns;
	int rc;

	/* A PV or PVH guest suspends itself: under auto-converge's cap its
	 * kernel froze its tasks and devices at the throttled speed (the
	 * suspend took 1.4 s of a 1.85 s window at 80 % in the lab; stock
	 * xl, unthrottled, took 1 s in all).  The cap goes before the request. */
	throttle_to(n, 0);
	/* The guest stops doing useful work as soon as it is asked to
	 * suspend (it freezes its tasks and devices first), so downtime, as
	 * the guest sees it, starts at the request, not at the acknowledgement. */
	asked_ns = xlmig_now_ns();
	rc = n->xce ? suspend_by_evtchn(n) : suspend_by_xenstore(n);
	if (rc) {
		n->suspend_rc = rc;
		snprintf(n->suspend_msg, sizeof(n->suspend_msg), "%s", xlmig_errmsg());
		return 0;
	}
	n->res->paused_at_ns = asked_ns;
	n->res->precopy_ns = n->res->paused_at_ns - n->start_ns;
	return 1;
}

void xlmig_xen_precopy_stats(const struct precopy_stats *st, unsigned long p2m_pages,
			     unsigned long mem_pages, struct xlmig_policy_stats *out)
{
	unsigned long real = XLMIG_MIN(mem_pages, p2m_pages);

	out->iteration = st->iteration;
	out->dirty_count = st->dirty_count;
	out->total_written = st->total_written;
	if (st->iteration == 0 && st->dirty_count >= 0 && (unsigned long)st->dirty_count == p2m_pages)
		out->dirty_count = (long)real;
	if (st->total_written >= p2m_pages)
		out->total_written = st->total_written - p2m_pages + real;
}

/* xc_domain_save's precopy_policy callback. */
static int native_precopy(struct precopy_stats st, void *data)
{
	struct native *n = data;
	struct xlmig_policy *p = n->opts->policy;
	struct xlmig_policy_stats s;
	int d;

	if (n->opts->cancel && atomic_load(n->opts->cancel)) {
		n->cancelled = true;
		return XGS_POLICY_ABORT;
	}
	/* The first call sees the whole p2m as dirty. */
	if (n->first_call) {
		n->first_call = false;
		n->p2m_pages = st.dirty_count > 0 ? (unsigned long)st.dirty_count : 0;
		n->res->pages_total = XLMIG_MIN(n->mem_pages, n->p2m_pages);
	}
	xlmig_xen_precopy_stats(&st, n->p2m_pages, n->mem_pages, &s);
	d = xlmig_policy_decide(p, &s);
	throttle_to(n, p->throttle_pct);
	n->res->iterations = st.iteration;
	n->res->pages_sent = s.total_written;
	if (st.dirty_count >= 0 && n->opts->progress && p->n_iter)
		n->opts->progress(n->opts->progress_opaque, &p->iter[p->n_iter - 1],
				  n->res->pages_total);
	if (d == XLMIG_POLICY_ABORT)
		n->aborted = true;
	return d;
}

/* PVH has no qemu to switch; PV never asks. */
static int native_switch_logdirty(uint32_t domid, unsigned enable, void *data)
{
	return 0;
}

static int refuse_vnuma(xc_interface *xch, uint32_t domid)
{
	unsigned nodes = 0, ranges = 0, vcpus = 0;

	if (xc_domain_getvnuma(xch, domid, &nodes, &ranges, &vcpus, NULL, NULL, NULL) != -1 ||
	    errno != EOPNOTSUPP)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "domain %u has vNUMA configured, which the migration stream cannot carry",
				  domid);
	return XLMIG_OK;
}

static int guest_pages(xc_interface *xch, uint32_t domid, unsigned long *out)
{
	xc_domaininfo_t info;
	int n = xc_domain_getinfolist(xch, domid, 1, &info);

	if (n < 0)
		return xlmig_xen_errno_fail(errno, domid, "xc_domain_getinfolist");
	if (n != 1 || info.domain != domid)
		return xlmig_fail(XLMIG_E_NOTFOUND, "domain %u is gone", domid);
	*out = (unsigned long)info.tot_pages;
	return XLMIG_OK;
}

static int open_suspend_channel(struct native *n)
{
	int port = xs_suspend_evtchn_port((int)n->domid);

	n->evtchn_port = -1;
	n->lockfd = -1;
	if (port < 0)
		return XLMIG_OK;   /* not advertised: use xenstore */
	n->xce = xenevtchn_open(NULL, 0);
	if (!n->xce)
		return xlmig_xen_errno_fail(errno, n->domid, "xenevtchn_open");
	n->evtchn_port = xc_suspend_evtchn_init_exclusive(n->h->xch, n->xce, n->domid, port,
							  &n->lockfd);
	if (n->evtchn_port < 0) {
		xenevtchn_close(n->xce);
		n->xce = NULL;
		return xlmig_fail(XLMIG_E_HV, "domain %u: suspend event channel %d could not be bound",
				  n->domid, port);
	}
	return XLMIG_OK;
}

static void close_suspend_channel(struct native *n)
{
	if (!n->xce)
		return;
	xc_suspend_evtchn_release(n->h->xch, n->xce, n->domid, n->evtchn_port, &n->lockfd);
	xenevtchn_close(n->xce);
	n->xce = NULL;
}

static int native_result(struct native *n, int xrc, int err)
{
	if (n->cancelled)
		return xlmig_fail(XLMIG_E_CANCELLED, "domain %u: migration cancelled during pre-copy",
				  n->domid);
	if (n->aborted)
		return xlmig_fail(XLMIG_E_CONVERGE, "domain %u: pre-copy aborted: %s", n->domid,
				  n->opts->policy->reason ? n->opts->policy->reason : "policy");
	if (n->suspend_rc)
		return xlmig_fail(n->guest_no_ack ? XLMIG_E_TIMEOUT : n->suspend_rc, "%s",
				  n->suspend_msg);
	return xlmig_xen_errno_fail(err, n->domid, "xc_domain_save");
}

static int save_native(const struct xlmig_xen_handles *h, uint32_t domid, int fd,
		       const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	struct xlmig_sink sink = { xlmig_sink_fd_write, &fd };
	struct native n = {
		.h = h, .domid = domid, .opts = opts, .res = res, .first_call = true,
	};
	struct save_callbacks cb = {
		.suspend = native_suspend,
		.precopy_policy = native_precopy,
		.switch_qemu_logdirty = native_switch_logdirty,
		.data = &n,
	};
	uint32_t flags = XCFLAGS_LIVE | (opts->debug ? XCFLAGS_DEBUG : 0);
	int rc, xrc;

	rc = refuse_vnuma(h->xch, domid);
	if (!rc)
		rc = guest_pages(h->xch, domid, &n.mem_pages);
	if (rc)
		return rc;
	n.xs = xs_open(0);
	if (!n.xs)
		return xlmig_xen_errno_fail(errno, domid, "xs_open");
	rc = open_suspend_channel(&n);
	if (rc)
		goto out;
	rc = xlmig_write_libxl_header(&sink, 0);
	if (!rc)
		rc = xlmig_write_libxl_record(&sink, XLMIG_LIBXL_LIBXC_CONTEXT, NULL, 0);
	if (rc) {
		xlmig_fail_prefix(rc, "domain %u: writing the libxl stream header", domid);
		goto out;
	}
	xlmig_policy_start(opts->policy);
	n.start_ns = xlmig_now_ns();
	xrc = xc_domain_save(h->xch, fd, domid, flags, &cb, XC_STREAM_PLAIN, -1);
	if (xrc) {
		rc = native_result(&n, xrc, errno);
		goto out;
	}
	rc = xlmig_write_libxl_record(&sink, XLMIG_LIBXL_END, NULL, 0);
	if (rc)
		xlmig_fail_prefix(rc, "domain %u: writing the libxl END record", domid);
out:
	throttle_to(&n, 0);
	close_suspend_channel(&n);
	xs_close(n.xs);
	return rc;
}

static int save_libxl(const struct xlmig_xen_handles *h, uint32_t domid, int fd,
		      const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	int flags = LIBXL_SUSPEND_LIVE | (opts->debug ? LIBXL_SUSPEND_DEBUG : 0);
	uint64_t start = xlmig_now_ns();
	int lrc;

	/* libxenguest runs its own policy here; progress and cancel are not
	 * reachable until it returns. */
	lrc = libxl_domain_suspend(h->ctx, domid, fd, flags, NULL);
	if (lrc)
		return xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_suspend");
	res->paused_at_ns = xlmig_now_ns();   /* upper bound: libxl does not say */
	res->precopy_ns = res->paused_at_ns - start;
	return XLMIG_OK;
}

int xlmig_xen_save_live(const struct xlmig_xen_handles *h, uint32_t domid, int fd,
			const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	libxl_domain_type type = LIBXL_DOMAIN_TYPE_INVALID;
	libxl_dominfo info;
	char *json = NULL;
	int rc, lrc;

	memset(res, 0, sizeof(*res));
	libxl_dominfo_init(&info);
	if (opts->cancel && atomic_load(opts->cancel)) {
		rc = xlmig_fail(XLMIG_E_CANCELLED, "domain %u: migration cancelled", domid);
		goto out;
	}
	lrc = libxl_domain_info(h->ctx, &info, domid);
	if (lrc) {
		rc = xlmig_xen_libxl_fail(lrc, domid, "libxl_domain_info");
		goto out;
	}
	rc = domain_type(h->ctx, domid, &type);
	/* Asked for a digest at the pause (the backend's save op takes it),
	 * refuse before a byte is written where there can be none: a PV
	 * guest's (xen_memdigest.h). */
	if (!rc && opts->mem_digest && type == LIBXL_DOMAIN_TYPE_PV)
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "domain %u is PV: it has no memory digest to verify "
				"the save by (its page tables hold machine frames, which a restore "
				"changes); save it without --verify", domid);
	if (!rc)
		rc = config_json(h->ctx, domid, opts->config_override, opts->preserve_domid, &json);
	if (!rc)
		rc = write_xl_header(fd, domid, json);
	if (rc)
		goto out;
	if (xlmig_xen_save_choose(type, opts->policy) == XLMIG_XEN_SAVE_NATIVE) {
		xlmig_info("domain %u: native save with xlmig's pre-copy policy", domid);
		rc = save_native(h, domid, fd, opts, res);
	} else {
		xlmig_info("domain %u: save through libxl_domain_suspend (Xen's pre-copy policy)", domid);
		rc = save_libxl(h, domid, fd, opts, res);
	}
out:
	free(json);
	libxl_dominfo_dispose(&info);
	return rc;
}
