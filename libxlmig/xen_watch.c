/*
 * xen_watch.c - domain arrival and departure from xenstore (see xen_watch.h).
 */
#include "xen_watch.h"
#include "xen_err.h"

#include <errno.h>
#include <stdlib.h>
#include <xenctrl.h>
#include <xenstore.h>

struct xlmig_xen_watch {
	struct xs_handle *xs;
	xc_interface *xch;
	uint32_t ids[XLMIG_XEN_WATCH_MAX];
	size_t n;
};

/* Domain ids now, ascending (Xen lists them in order). */
static int read_ids(struct xlmig_xen_watch *w, uint32_t *ids, size_t *n)
{
	xc_domaininfo_t info[64];
	uint32_t next = 1;   /* dom0 is not migrated */
	int got;

	*n = 0;
	do {
		got = xc_domain_getinfolist(w->xch, next, 64, info);
		if (got < 0)
			return xlmig_xen_errno_fail(errno, UINT32_MAX, "xc_domain_getinfolist");
		for (int i = 0; i < got && *n < XLMIG_XEN_WATCH_MAX; i++)
			ids[(*n)++] = info[i].domain;
		if (got > 0)
			next = info[got - 1].domain + 1;
	} while (got == 64 && *n < XLMIG_XEN_WATCH_MAX);
	return XLMIG_OK;
}

int xlmig_xen_watch_open(struct xlmig_xen_watch **out)
{
	struct xlmig_xen_watch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return xlmig_fail(XLMIG_E_NOMEM, "domain watch");
	w->xs = xs_open(0);
	w->xch = xc_interface_open(NULL, NULL, 0);
	if (!w->xs || !w->xch) {
		rc = xlmig_xen_errno_fail(errno, UINT32_MAX, w->xs ? "xc_interface_open" : "xs_open");
		goto fail;
	}
	if (!xs_watch(w->xs, "@introduceDomain", "xlmig-dom") ||
	    !xs_watch(w->xs, "@releaseDomain", "xlmig-dom")) {
		rc = xlmig_xen_errno_fail(errno, UINT32_MAX, "xs_watch @introduceDomain/@releaseDomain");
		goto fail;
	}
	rc = read_ids(w, w->ids, &w->n);
	if (rc)
		goto fail;
	*out = w;
	return XLMIG_OK;
fail:
	xlmig_xen_watch_close(w);
	return rc;
}

void xlmig_xen_watch_close(struct xlmig_xen_watch *w)
{
	if (!w)
		return;
	if (w->xs)
		xs_close(w->xs);
	if (w->xch)
		xc_interface_close(w->xch);
	free(w);
}

int xlmig_xen_watch_fd(const struct xlmig_xen_watch *w)
{
	return xs_fileno(w->xs);
}

int xlmig_xen_watch_changes(struct xlmig_xen_watch *w, struct xlmig_dom_change *out,
			    size_t max, size_t *n)
{
	uint32_t now[XLMIG_XEN_WATCH_MAX];
	size_t n_now;
	char **ev;
	int rc;

	while ((ev = xs_check_watch(w->xs)) != NULL)
		free(ev);
	rc = read_ids(w, now, &n_now);
	if (rc)
		return rc;
	*n = xlmig_domlist_diff(w->ids, w->n, now, n_now, out, max);
	memcpy(w->ids, now, n_now * sizeof(now[0]));
	w->n = n_now;
	return XLMIG_OK;
}
