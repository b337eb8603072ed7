/*
 * xen_watch.h - domains appearing and disappearing, for the daemon: a
 * xenstore watch on @introduceDomain and @releaseDomain whose fd goes into
 * the event loop, and a diff of the domain list on each event.
 */
#ifndef XLMIG_XEN_WATCH_H
#define XLMIG_XEN_WATCH_H

#include "hv.h"

#define XLMIG_XEN_WATCH_MAX 1024   /* domains tracked */

struct xlmig_xen_watch;

int xlmig_xen_watch_open(struct xlmig_xen_watch **out);
void xlmig_xen_watch_close(struct xlmig_xen_watch *w);
/* Readable when xenstore has events: add it to the event loop. */
int xlmig_xen_watch_fd(const struct xlmig_xen_watch *w);
/* After the fd was readable: drain the events, re-read the domain list,
 * and return what changed since the last call (at most max). */
int xlmig_xen_watch_changes(struct xlmig_xen_watch *w, struct xlmig_dom_change *out,
			    size_t max, size_t *n);

#endif
