/*
 * sim_host.h - a simulated host: the table of its guests (sim_guest.h)
 * and everything done to them, one call per sim host request
 * (sim_proto.h).  It is what xlmig-simhost serves (sim_server.h); it
 * knows nothing of sockets.  Thread-safe: each connection is served by
 * its own thread.
 *
 * Domain ids increase from 1 as Xen's do.  A save is claimed by the
 * connection that began it (SAVE_BEGIN): only that one may stop or end
 * it, nothing destroys or unpauses the guest meanwhile, and when the
 * connection goes away (xlmigd killed) its saves end as a failed save
 * would, except that a guest already stopped stays suspended, as on Xen
 * where a domain suspended for a migration waits for the toolstack.
 */
#ifndef XLMIG_SIM_HOST_H
#define XLMIG_SIM_HOST_H

#include "sim_proto.h"

struct xlmig_sim_host;

/* on_change(opaque) is called (outside the host's lock) whenever a
 * domain appears or goes away; may be NULL. */
int xlmig_sim_host_new(void (*on_change)(void *opaque), void *opaque,
		       struct xlmig_sim_host **out);
void xlmig_sim_host_free(struct xlmig_sim_host *h);

/* Answer q for connection conn (an identity for claims): p is filled in
 * (its status and text on failure); ATTACH also gives descriptors in
 * fds[], duplicates the caller closes once it has sent them. */
void xlmig_sim_host_handle(struct xlmig_sim_host *h, const void *conn,
			   const struct xlmig_simp_req *q, struct xlmig_simp_reply *p,
			   int fds[XLMIG_SIMP_MAX_FDS], size_t *nfds);
/* Connection conn is gone: end the saves it claimed. */
void xlmig_sim_host_drop_conn(struct xlmig_sim_host *h, const void *conn);

#endif
