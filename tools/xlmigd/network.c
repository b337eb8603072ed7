/*
 * network.c - network continuity in xlmigd: the side-record provider
 * (side.h, XLMIG_SIDE_OFFLOAD_STATE) that captures a migrating guest's
 * interfaces' offload state on the source (offload.h), applies it to the
 * guest's new interfaces on the destination once the guest is restored
 * and still paused, and reports each interface's and feature's outcome
 * into the job's stats.
 *
 * The destination keeps what arrived per job between the record and the
 * restore (a job's records come before its restore ends).  Interfaces
 * are matched by the guest's MAC: names differ between hosts (a Xen
 * vif's carries the domain id).
 */
#include "xlmigd.h"
#include "announce.h"
#include "json.h"
#include "offload.h"
#include "side.h"

#include <stdlib.h>
#include <string.h>

/* What this host keeps for one job between two of its provider calls. */
struct job_entry {
	char job_id[XLMIG_JOB_ID_MAX];
	struct job_entry *next;
};

/* What arrived for one incoming job. */
struct arrival {
	struct job_entry e;            /* first: an entry is its arrival */
	uint32_t restored;             /* the guest restored before its record came */
	struct xlmig_offload_state st;
};

/* An outgoing job's guest's interfaces, found while the guest still ran:
 * looking them up through the hypervisor once it is suspended put that
 * request inside the downtime window, queued behind the save's own end
 * (40-125 ms on the sim backend). */
struct departure {
	struct job_entry e;            /* first */
	size_t n;
	struct xlmig_nic nics[XLMIG_NICS_MAX];
};

static struct {
	pthread_mutex_t lock;
	struct job_entry *arrivals, *departures;
} net = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct job_entry *entry_take(struct job_entry **list, const char *job_id)
{
	struct job_entry **pp, *e = NULL;

	pthread_mutex_lock(&net.lock);
	for (pp = list; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->job_id, job_id)) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	pthread_mutex_unlock(&net.lock);
	return e;
}

static void entry_put(struct job_entry **list, struct job_entry *e, const char *job_id)
{
	snprintf(e->job_id, sizeof(e->job_id), "%s", job_id);
	pthread_mutex_lock(&net.lock);
	e->next = *list;
	*list = e;
	pthread_mutex_unlock(&net.lock);
}

static struct arrival *arrival_take(const char *job_id)
{
	return (struct arrival *)entry_take(&net.arrivals, job_id);
}

static void entries_free(struct job_entry **list)
{
	struct job_entry *e;

	pthread_mutex_lock(&net.lock);
	while ((e = *list)) {
		*list = e->next;
		free(e);
	}
	pthread_mutex_unlock(&net.lock);
}

static void apply_arrival(struct xlmigd *d, const struct xlmig_side_ctx *ctx, const struct arrival *a,
			  uint32_t domid, struct xlmig_json_writer *w);

static int guest_nics(struct xlmigd *d, uint32_t domid, struct xlmig_nic *nics, size_t *n)
{
	int rc;

	pthread_mutex_lock(&d->hv_lock);
	rc = xlmig_hv_nics(d->hv, domid, nics, XLMIG_NICS_MAX, n);
	pthread_mutex_unlock(&d->hv_lock);
	return rc;
}

/* The guest's interfaces, through the hypervisor. */
static int find_nics(struct xlmigd *d, const char *domain, struct xlmig_nic *nics, size_t *n)
{
	struct xlmig_domain_info di;
	int rc;

	pthread_mutex_lock(&d->hv_lock);
	rc = d->hv->ops->lookup(d->hv, domain, &di);
	pthread_mutex_unlock(&d->hv_lock);
	return rc ? rc : guest_nics(d, di.domid, nics, n);
}

/* The guest still runs: find its interfaces now, so that collecting
 * their state in the window reads only the interfaces themselves.
 * Nothing here fails the migration: without them, collect looks again. */
static int net_source_begin(void *opaque, const struct xlmig_side_ctx *ctx)
{
	struct departure *dep = calloc(1, sizeof(*dep));

	if (!dep || find_nics(opaque, ctx->domain, dep->nics, &dep->n)) {
		xlmig_debug("migration %s: interfaces not found before the move (%s); looked up again after the stop",
			    ctx->job_id, dep ? xlmig_errmsg() : "out of memory");
		free(dep);
		return XLMIG_OK;
	}
	entry_put(&net.departures, &dep->e, ctx->job_id);
	return XLMIG_OK;
}

/* The guest is suspended: its interfaces are as it left them, read now
 * through the kernel (a few ioctls each), so a change made during
 * pre-copy is carried.  Nothing here fails the migration; what cannot be
 * read is not carried. */
static int net_source_collect(void *opaque, const struct xlmig_side_ctx *ctx, struct xlmig_side_out *out)
{
	struct departure *dep = (struct departure *)entry_take(&net.departures, ctx->job_id);
	struct xlmig_offload_state *st = calloc(1, sizeof(*st));
	struct xlmig_buf b = { 0 };
	char what[64];
	int rc = XLMIG_OK;

	if (!st || (!dep && !(dep = calloc(1, sizeof(*dep))))) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for the offload state");
		goto out;
	}
	/* A departure found at begin carries its job's id; a fresh one looks now. */
	if (!dep->e.job_id[0] && find_nics(opaque, ctx->domain, dep->nics, &dep->n)) {
		xlmig_info("migration %s: no offload state carried: %s", ctx->job_id, xlmig_errmsg());
		goto out;
	}
	snprintf(what, sizeof(what), "migration %s", ctx->job_id);
	if (!xlmig_offload_capture_nics(dep->nics, dep->n, st, what))
		goto out;
	if ((rc = xlmig_offload_encode(st, &b)) || (rc = xlmig_side_add(out, b.data, b.len)))
		goto out;
	xlmig_info("migration %s: the offload state of %zu interface(s) of %s travels with it",
		   ctx->job_id, st->n, ctx->domain);
out:
	xlmig_buf_free(&b);
	free(dep);
	free(st);
	return rc;
}

/* Collect may not come (a failure before the stream ended). */
static void net_source_end(void *opaque, const struct xlmig_side_ctx *ctx, bool moved)
{
	free(entry_take(&net.departures, ctx->job_id));
}

static int net_dest_consume(void *opaque, const struct xlmig_side_ctx *ctx, const uint8_t *data, size_t len)
{
	struct arrival *a = calloc(1, sizeof(*a)), *old;
	int rc;

	if (!a)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the offload state");
	if ((rc = xlmig_offload_decode(data, len, &a->st))) {
		free(a);
		return rc;
	}
	/* One record per migration: a second replaces the first. */
	old = arrival_take(ctx->job_id);
	if (old && old->restored) {
		/* Restored already: apply now, the guest still paused; the
		 * outcome is in the log only (READY has gone). */
		apply_arrival(opaque, ctx, a, old->restored, NULL);
		free(old);
		free(a);
		return XLMIG_OK;
	}
	free(old);
	entry_put(&net.arrivals, &a->e, ctx->job_id);
	return XLMIG_OK;
}

/* The backend's keys here that differ from the source's (the new
 * backend offers less).  The frontend's are not compared: the guest,
 * still paused, writes them again only when it reconnects. */
static void compare_keys(const struct xlmig_offload_if *src, const struct xlmig_nic *nic,
			 struct xlmig_offload_result *r)
{
	for (size_t i = 0; i < src->n_xs && r->n_xs_differ < XLMIG_OFFLOAD_XS_MAX; i++) {
		const char *now = "";
		if (strncmp(src->xs[i].key, "backend/", 8))
			continue;
		for (size_t k = 0; k < nic->n_keys; k++)
			if (!strcmp(nic->keys[k].key, src->xs[i].key))
				now = nic->keys[k].value;
		if (strcmp(now, src->xs[i].value))
			snprintf(r->xs_differ[r->n_xs_differ++], XLMIG_OFFLOAD_XS_LEN, "%s", src->xs[i].key);
	}
}

static void log_result(const struct xlmig_side_ctx *ctx, const struct xlmig_offload_result *r)
{
	for (size_t k = 0; k < r->n; k++)
		if (r->f[k].outcome == XLMIG_OFF_KEPT || r->f[k].outcome == XLMIG_OFF_KEPT_OFF)
			xlmig_info("migration %s: %s %s: %s", ctx->job_id, r->name, r->f[k].name,
				   xlmig_offload_outcome_name(r->f[k].outcome));
		else
			xlmig_warn("migration %s: %s %s: %s", ctx->job_id, r->name, r->f[k].name,
				   xlmig_offload_outcome_name(r->f[k].outcome));
}

/* The record may come after the restore ended (it follows the stream's
 * END on channel 0, read while this host waits for GO): remember the
 * guest so that it is applied then, still before GO. */
static void remember_restored(const struct xlmig_side_ctx *ctx, uint32_t domid)
{
	struct arrival *a = calloc(1, sizeof(*a));

	if (!a)
		return;
	a->restored = domid;
	entry_put(&net.arrivals, &a->e, ctx->job_id);
}

/* Apply to the restored guest's interfaces and report. */
static void net_dest_restored(void *opaque, const struct xlmig_side_ctx *ctx, uint32_t domid,
			      struct xlmig_json_writer *w)
{
	struct arrival *a = arrival_take(ctx->job_id);

	if (!a) {
		remember_restored(ctx, domid);
		return;
	}
	apply_arrival(opaque, ctx, a, domid, w);
	free(a);
}

static void apply_arrival(struct xlmigd *d, const struct xlmig_side_ctx *ctx, const struct arrival *a,
			  uint32_t domid, struct xlmig_json_writer *w)
{
	struct xlmig_offload_result *res = NULL;
	struct xlmig_nic *nics = NULL;
	size_t n = 0, n_res = 0;

	res = calloc(XLMIG_OFFLOAD_IFS_MAX, sizeof(*res));
	nics = calloc(XLMIG_NICS_MAX, sizeof(*nics));
	if (!res || !nics) {
		xlmig_warn("migration %s: out of memory applying the offload state", ctx->job_id);
		goto out;
	}
	if (guest_nics(d, domid, nics, &n)) {
		xlmig_warn("migration %s: the offload state is not applied: %s", ctx->job_id, xlmig_errmsg());
		goto out;
	}
	for (size_t i = 0; i < a->st.n; i++) {
		const struct xlmig_offload_if *src = &a->st.ifs[i];
		const struct xlmig_nic *nic = NULL;
		char mac[18];
		for (size_t k = 0; k < n && !nic; k++)
			if (!memcmp(nics[k].mac, src->mac, 6))
				nic = &nics[k];
		xlmig_mac_format(src->mac, mac);
		if (!nic) {
			xlmig_warn("migration %s: the guest has no interface with MAC %s here (was %s): its offload state is not applied",
				   ctx->job_id, mac, src->name);
			continue;
		}
		if (xlmig_offload_apply(src, nic->ifname, nic->awaiting_guest, &res[n_res])) {
			xlmig_warn("migration %s: %s", ctx->job_id, xlmig_errmsg());
			continue;
		}
		compare_keys(src, nic, &res[n_res]);
		log_result(ctx, &res[n_res]);
		n_res++;
	}
	if (w)
		xlmig_offload_results_write(res, n_res, w);
	xlmig_info("migration %s: offload state applied to %zu of %zu interface(s)", ctx->job_id, n_res, a->st.n);
out:
	free(nics);
	free(res);
}

/* The guest runs here: tell the network (announce.h). */
static void announce(struct xlmigd *d, const struct xlmig_side_ctx *ctx)
{
	struct xlmig_nic nics[XLMIG_NICS_MAX];
	struct xlmig_announce_opts o;
	char what[96];
	size_t n = 0;

	xlmig_announce_opts_default(&o);
	o.rounds = d->cfg.announce_rounds;
	o.initial_ms = d->cfg.announce_initial_ms;
	if (!o.rounds)
		return;
	if (find_nics(d, ctx->domain, nics, &n)) {
		xlmig_warn("migration %s: %s is not announced: %s", ctx->job_id, ctx->domain, xlmig_errmsg());
		return;
	}
	snprintf(what, sizeof(what), "migration %s: %s", ctx->job_id, ctx->domain);
	if (xlmig_announce_start(nics, n, &o, what))
		xlmig_warn("%s: %s", what, xlmig_errmsg());
}

static void net_dest_end(void *opaque, const struct xlmig_side_ctx *ctx, bool arrived)
{
	/* A migration that failed before its restore ended leaves its record. */
	free(arrival_take(ctx->job_id));
	if (arrived)
		announce(opaque, ctx);
}

static struct xlmig_side_provider provider = {
	.name = "network continuity",
	.type = XLMIG_SIDE_OFFLOAD_STATE,
	.source_begin = net_source_begin,
	.source_collect = net_source_collect,
	.source_end = net_source_end,
	.dest_consume = net_dest_consume,
	.dest_end = net_dest_end,
	.report_key = "offload",
	.dest_restored = net_dest_restored,
};

int xlmigd_network_start(struct xlmigd *d)
{
	provider.opaque = d;
	return xlmigd_side_add(d, &provider);
}

void xlmigd_network_stop(struct xlmigd *d)
{
	entries_free(&net.arrivals);
	entries_free(&net.departures);
}
