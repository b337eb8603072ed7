/*
 * watch.c - domains that appear or go away outside xlmig (a guest created
 * with xl, destroyed by hand, or lost with its host): the backend's watch
 * (hv.h's watch ops) in the event loop.  `xlmig list` asks the backend
 * each time, so it is always current; what the watch adds is the log and
 * the queue: a queued migration of a domain that went away is started at
 * once, so it fails now with the backend's own message instead of when
 * its turn comes.  A running job meets the loss in its own next backend
 * call (and a running job's own restores and destroys come through the
 * watch too, so they are not a reason to act on it).
 */
#include "xlmigd.h"

#include <stdlib.h>

#define CHANGES_MAX 64

static void on_vanished(struct xlmigd *d, uint32_t domid)
{
	struct xlmig_domain_info di;

	xlmig_info("domain %u went away outside xlmig", domid);
	for (struct xlmigd_job *dj = d->jobs; dj; dj = dj->next) {
		const char *name = xlmig_job_domain(dj->job);
		int rc;

		if (dj->started || xlmig_job_role(dj->job) != XLMIG_ROLE_SOURCE || !name[0])
			continue;
		pthread_mutex_lock(&d->hv_lock);
		rc = d->hv->ops->lookup(d->hv, name, &di);
		pthread_mutex_unlock(&d->hv_lock);
		if (rc != XLMIG_E_NOTFOUND)
			continue;
		xlmig_warn("job %s: domain %s is no longer on this host: failing its queued migration now",
			   xlmig_job_id(dj->job), name);
		xlmigd_jobs_start_now(d, dj);
	}
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct xlmigd *d = arg;
	struct xlmig_dom_change ch[CHANGES_MAX];
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&d->hv_lock);
	rc = d->hv->ops->watch_changes(d->hv, ch, CHANGES_MAX, &n);
	pthread_mutex_unlock(&d->hv_lock);
	if (rc) {
		xlmig_warn("watching domains: %s", xlmig_errmsg());
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (ch[i].appeared)
			xlmig_info("domain %u appeared", ch[i].domid);
		else
			on_vanished(d, ch[i].domid);
	}
}

int xlmigd_watch_start(struct xlmigd *d)
{
	int fd;

	if (!d->hv->ops->watch_fd) {
		xlmig_info("the %s backend cannot watch domains: 'xlmig list' still shows them as they are",
			   d->hv->ops->name);
		return XLMIG_OK;
	}
	pthread_mutex_lock(&d->hv_lock);
	fd = d->hv->ops->watch_fd(d->hv);
	pthread_mutex_unlock(&d->hv_lock);
	if (fd < 0)
		return XLMIG_OK;   /* the backend said why */
	d->watch_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_watch, d);
	if (!d->watch_ev || event_add(d->watch_ev, NULL) != 0)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot add the domain watch to the event loop");
	return XLMIG_OK;
}

void xlmigd_watch_stop(struct xlmigd *d)
{
	if (d->watch_ev)
		event_free(d->watch_ev);
	d->watch_ev = NULL;
}
