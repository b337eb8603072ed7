/*
 * backup.c - the backup coordinator in xlmigd: the coordinator
 * (backup/coord.h) under one lock, saved to its store after every change
 * and before any answer, its events turned into hooks and log lines, a
 * one-second tick for leases, the backup-* requests, the calls of xlmig's
 * own checkpoint agent (backup_snapshot.c), and the side-record
 * provider (side.h) through which migrations hold, carry and hand over
 * backup jobs, and run the migration-pre and migration-post hooks.
 *
 * Migration threads call in through the provider; the loop and the
 * request handlers take the same lock, never for long: hooks run on the
 * hook queue's thread, and a migration waiting for a hold to be
 * acknowledged waits on a condition, not holding the lock.
 */
#include "xlmigd.h"
#include "coord.h"
#include "hook.h"
#include "record.h"
#include "store.h"
#include "handover.h"
#include "side.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct xlmigd_backup {
	pthread_mutex_t lock;
	pthread_cond_t changed;          /* any job changed: holds may be settled */
	struct xlmig_bk_coord *coord;
	struct xlmig_bk_store *store;
	struct xlmig_hook_queue *hooks;
	struct event *tick;
};

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- events: hooks and the log ---- */

static void push_hooks(struct xlmigd *d, const char *event, const struct xlmig_bk_job *j,
		       const char *outcome)
{
	struct xlmigd_backup *b = d->backup;
	static char hex[2 * XLMIG_BK_TOKEN_MAX + 1];   /* under b->lock */
	char resumes[16];
	struct xlmig_hook_var vars[] = {
		{ "XLMIG_EVENT", event },
		{ "XLMIG_DOMAIN", j->domain },
		{ "XLMIG_DOMAIN_UUID", j->uuid },
		{ "XLMIG_JOB", j->id },
		{ "XLMIG_AGENT", j->agent },
		{ "XLMIG_KIND", xlmig_bk_kind_name(j->kind) },
		{ "XLMIG_STATE", xlmig_bk_state_name(j->state) },
		{ "XLMIG_TOKEN", hex },
		{ "XLMIG_HOST", d->backup_cfg.host },
		{ "XLMIG_SOURCE_HOST", j->origin },
		{ "XLMIG_DEST_HOST", j->host },
		{ "XLMIG_MIGRATION", j->mig_job },
		{ "XLMIG_RESUMES", resumes },
		{ "XLMIG_OUTCOME", outcome },
		{ "XLMIG_MESSAGE", j->message },
		{ "XLMIG_AGENT_SOCKET", d->agent_socket ? d->agent_socket : "" },
	};

	xlmig_bk_token_hex(j, hex);
	snprintf(resumes, sizeof(resumes), "%" PRIu32, j->resumes);
	if (b->hooks && xlmig_hook_queue_push(b->hooks, event, vars, XLMIG_ARRAY_SIZE(vars)))
		xlmig_warn("backup job %s: hooks for %s not run: %s", j->id, event, xlmig_errmsg());
}

/* Act on queued events and save; b->lock is held.  A failed save is
 * returned: the caller must not answer as if the change were kept. */
static int settle(struct xlmigd *d)
{
	struct xlmigd_backup *b = d->backup;
	struct xlmig_bk_event ev;
	int rc = xlmig_bk_store_save(b->store, b->coord);

	if (rc)
		xlmig_error("backup state not saved: %s", xlmig_errmsg());
	while (xlmig_bk_next_event(b->coord, &ev)) {
		const struct xlmig_bk_job *j = &ev.job;
		const char *outcome = ev.type == XLMIG_BK_EV_ENDED ? xlmig_bk_state_name(j->state) : "";
		xlmig_info("backup job %s (%s of %s by %s): %s: %s", j->id, xlmig_bk_kind_name(j->kind),
			   j->domain, j->agent, xlmig_bk_event_name(ev.type), j->message);
		/* Granted is the resume of a request that never started. */
		push_hooks(d, ev.type == XLMIG_BK_EV_GRANTED ? "backup-resume" : xlmig_bk_event_name(ev.type),
			   j, outcome);
		/* xlmig's own checkpoints are told as an agent's hooks are. */
		xlmigd_snapshot_event(d, &ev);
	}
	if (xlmig_bk_events_dropped(b->coord))
		xlmig_warn("%u backup events were dropped (queue full); 'xlmig backup list' has the current states",
			   xlmig_bk_events_dropped(b->coord));
	pthread_cond_broadcast(&b->changed);
	return rc;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct xlmigd *d = arg;
	struct xlmigd_backup *b = d->backup;

	pthread_mutex_lock(&b->lock);
	xlmig_bk_tick(b->coord, wall_now());
	settle(d);
	pthread_mutex_unlock(&b->lock);
}

/* ---- migrations: the side-record provider ---- */

static void migration_hook(struct xlmigd *d, const char *event, const struct xlmig_side_ctx *ctx,
			   const char *source, const char *dest, const char *outcome)
{
	struct xlmig_hook_var vars[] = {
		{ "XLMIG_EVENT", event },
		{ "XLMIG_DOMAIN", ctx->domain },
		{ "XLMIG_MIGRATION", ctx->job_id },
		{ "XLMIG_HOST", d->backup_cfg.host },
		{ "XLMIG_SOURCE_HOST", source },
		{ "XLMIG_DEST_HOST", dest },
		{ "XLMIG_OUTCOME", outcome },
	};

	if (xlmig_hook_queue_push(d->backup->hooks, event, vars, XLMIG_ARRAY_SIZE(vars)))
		xlmig_warn("migration %s: hooks for %s not run: %s", ctx->job_id, event, xlmig_errmsg());
}

/* Wait (lock held) until something changes or a second passes. */
static void wait_change(struct xlmigd_backup *b)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_cond_timedwait(&b->changed, &b->lock, &ts);
}

/* Before the stream: wait for a quiesce to thaw, hold the running jobs
 * and wait until each agent acknowledged or its time ran out, then until
 * no checkpoint of xlmig's own is still inside its save (its guest may
 * be suspended in the final pause, with no job left to hold). */
static int mig_source_begin(void *opaque, const struct xlmig_side_ctx *ctx)
{
	struct xlmigd *d = opaque;
	struct xlmigd_backup *b = d->backup;
	enum xlmig_bk_verdict v;
	uint64_t deadline;
	int rc = XLMIG_OK;

	migration_hook(d, "migration-pre", ctx, d->backup_cfg.host, ctx->peer, "");
	pthread_mutex_lock(&b->lock);
	while ((v = xlmig_bk_mig_begin(b->coord, ctx->domain, ctx->job_id, wall_now())) == XLMIG_BK_WAIT &&
	       !atomic_load(ctx->cancel))
		wait_change(b);
	/* The holds, and then the saves of xlmig's own checkpoints, get the
	 * hold time between them. */
	deadline = xlmig_now_ns() + (uint64_t)d->backup_cfg.hold_ack_secs * 1000000000ull;
	settle(d);
	while (v == XLMIG_BK_GO && (v = xlmig_bk_mig_holds(b->coord, ctx->domain, wall_now())) == XLMIG_BK_WAIT &&
	       !atomic_load(ctx->cancel)) {
		wait_change(b);
		settle(d);
	}
	settle(d);
	pthread_mutex_unlock(&b->lock);
	if (atomic_load(ctx->cancel))
		rc = xlmig_fail(XLMIG_E_CANCELLED, "cancelled while waiting for backup agents");
	else if (v == XLMIG_BK_ABORT)
		rc = xlmig_fail(XLMIG_E_TIMEOUT, "a backup job of %s did not acknowledge its hold within %us and the hold policy is abort ('xlmig backup list %s' shows it)",
				ctx->domain, d->backup_cfg.hold_ack_secs, ctx->domain);
	else
		rc = xlmigd_snapshot_wait_saves(d, ctx->domain, deadline, ctx->cancel);
	return rc;
}

static int mig_source_collect(void *opaque, const struct xlmig_side_ctx *ctx, struct xlmig_side_out *out)
{
	struct xlmigd *d = opaque;
	struct xlmigd_backup *b = d->backup;
	int rc;

	pthread_mutex_lock(&b->lock);
	xlmig_bk_mig_commit(b->coord, ctx->domain);
	rc = xlmig_bk_handover_collect(b->coord, ctx->domain, ctx->job_id, wall_now(), out);
	/* In transit is on disk before the records leave. */
	if (!rc)
		rc = settle(d);
	pthread_mutex_unlock(&b->lock);
	if (!rc && out->n)
		xlmig_info("migration %s: %zu backup job(s) of %s travel with it", ctx->job_id, out->n, ctx->domain);
	return rc;
}

static void mig_source_end(void *opaque, const struct xlmig_side_ctx *ctx, bool moved)
{
	struct xlmigd *d = opaque;
	struct xlmigd_backup *b = d->backup;

	pthread_mutex_lock(&b->lock);
	xlmig_bk_mig_end(b->coord, ctx->domain, moved, ctx->peer, wall_now());
	settle(d);
	pthread_mutex_unlock(&b->lock);
	migration_hook(d, "migration-post", ctx, d->backup_cfg.host, ctx->peer, moved ? "moved" : "failed");
}

static int mig_dest_consume(void *opaque, const struct xlmig_side_ctx *ctx, const uint8_t *data, size_t len)
{
	struct xlmigd *d = opaque;
	struct xlmigd_backup *b = d->backup;
	char id[XLMIG_BK_ID_MAX];
	int rc;

	pthread_mutex_lock(&b->lock);
	rc = xlmig_bk_handover_consume(b->coord, ctx->job_id, data, len, wall_now(), id);
	/* On disk before GO can come. */
	if (!rc)
		rc = settle(d);
	pthread_mutex_unlock(&b->lock);
	if (!rc)
		xlmig_info("backup job %s arrives with migration %s", id, ctx->job_id);
	return rc;
}

static void mig_dest_end(void *opaque, const struct xlmig_side_ctx *ctx, bool arrived)
{
	struct xlmigd *d = opaque;
	struct xlmigd_backup *b = d->backup;

	pthread_mutex_lock(&b->lock);
	if (arrived)
		xlmig_bk_arrived(b->coord, ctx->job_id, wall_now());
	else
		xlmig_bk_not_arrived(b->coord, ctx->job_id, wall_now());
	settle(d);
	pthread_mutex_unlock(&b->lock);
	migration_hook(d, "migration-post", ctx, ctx->peer, d->backup_cfg.host, arrived ? "arrived" : "failed");
}

static struct xlmig_side_provider provider = {
	.name = "backup coordinator",
	.type = XLMIG_SIDE_BACKUP_HOLD,
	.source_begin = mig_source_begin,
	.source_collect = mig_source_collect,
	.source_end = mig_source_end,
	.dest_consume = mig_dest_consume,
	.dest_end = mig_dest_end,
};

/* ---- start and stop ---- */

static bool guest_here(void *opaque, const char *domain)
{
	struct xlmigd *d = opaque;
	struct xlmig_domain_info di;
	int rc;

	pthread_mutex_lock(&d->hv_lock);
	rc = d->hv->ops->lookup(d->hv, domain, &di);
	pthread_mutex_unlock(&d->hv_lock);
	return rc == XLMIG_OK && di.state != XLMIG_DOM_DYING && !strcmp(di.name, domain);
}

/* ---- xlmig's own agent (backup_snapshot.c) ---- */

int xlmigd_backup_begin_own(struct xlmigd *d, const struct xlmig_bk_begin *bg, struct xlmig_bk_job *out,
			    bool *deferred)
{
	struct xlmigd_backup *b = d->backup;
	struct xlmig_bk_job *j;
	int rc;

	if (!guest_here(d, bg->domain))
		return xlmig_fail(XLMIG_E_NOTFOUND, "no guest %s runs on this host ('xlmig list' shows them)",
				  bg->domain);
	pthread_mutex_lock(&b->lock);
	rc = xlmig_bk_begin(b->coord, bg, wall_now(), &j, deferred);
	if (rc == XLMIG_OK) {
		*out = *j;
		rc = settle(d);
	}
	pthread_mutex_unlock(&b->lock);
	if (rc == XLMIG_OK)
		xlmig_info("backup job %s: %s of %s by %s %s", out->id, xlmig_bk_kind_name(out->kind),
			   out->domain, out->agent, *deferred ? "deferred (guest migrating)" : "granted");
	return rc;
}

int xlmigd_backup_report(struct xlmigd *d, const char *id, enum xlmig_bk_state *state)
{
	return xlmigd_backup_report_if(d, id, false, state);
}

/* A report is an agent's word that it goes on (or, held, that it has
 * stopped: the acknowledgement).  An agent still running when a hold
 * comes learns of it without acknowledging it when not_if_held. */
int xlmigd_backup_report_if(struct xlmigd *d, const char *id, bool not_if_held,
			    enum xlmig_bk_state *state)
{
	struct xlmigd_backup *b = d->backup;
	struct xlmig_bk_job *j;
	int rc;

	pthread_mutex_lock(&b->lock);
	j = not_if_held ? xlmig_bk_find(b->coord, id) : NULL;
	if (j && j->state == XLMIG_BK_HELD) {
		*state = j->state;
		pthread_mutex_unlock(&b->lock);
		return XLMIG_OK;
	}
	rc = xlmig_bk_progress(b->coord, id, NULL, 0, false, wall_now(), &j);
	if (rc == XLMIG_OK) {
		*state = j->state;
		rc = settle(d);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int xlmigd_backup_finish(struct xlmigd *d, const char *id, bool ok, const char *message)
{
	struct xlmigd_backup *b = d->backup;
	struct xlmig_bk_job *j;
	int rc;

	pthread_mutex_lock(&b->lock);
	rc = xlmig_bk_end(b->coord, id, ok, message, wall_now(), &j);
	if (rc == XLMIG_OK)
		rc = settle(d);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* A checkpoint this daemon ran when it stopped has no thread now: its
 * guest runs again if the save left it suspended, its partial file goes,
 * and one that was running ends as failed (a held or travelling one
 * starts again from its token where the guest runs).  b->lock is held. */
static void recover_checkpoints(struct xlmigd *d)
{
	struct xlmigd_backup *b = d->backup;

	for (size_t i = 0; i < xlmig_bk_count(b->coord); i++) {
		const struct xlmig_bk_job *j = xlmig_bk_at(b->coord, i);
		struct xlmig_bk_job *ended;

		if (!j->here || j->kind != XLMIG_BK_CHECKPOINT || xlmig_bk_state_is_final(j->state) ||
		    j->state == XLMIG_BK_REQUESTED)
			continue;
		if (xlmigd_snapshot_recover(d, j))
			xlmig_error("checkpoint %s of %s: %s", j->id, j->domain, xlmig_errmsg());
		if (j->state == XLMIG_BK_RUNNING || j->state == XLMIG_BK_QUIESCING)
			xlmig_bk_end(b->coord, j->id, false,
				     "xlmigd stopped during the checkpoint: the guest runs on and no file was written; take it again",
				     wall_now(), &ended);
	}
}

int xlmigd_backup_start(struct xlmigd *d)
{
	struct xlmigd_backup *b = calloc(1, sizeof(*b));
	struct timeval one = { 1, 0 };
	char host_id[XLMIG_HOST_ID_LEN + 1];
	int rc;

	if (!b)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the backup coordinator");
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->changed, NULL);
	d->backup = b;
	if ((rc = xlmigd_snapshot_init(d)) || (rc = xlmig_journal_host_id(d->journal, host_id)))
		return rc;
	/* Ids travel between hosts: this host's id keeps them apart. */
	snprintf(d->backup_cfg.id_prefix, sizeof(d->backup_cfg.id_prefix), "%.8s", host_id);
	if ((rc = xlmig_bk_coord_new(&d->backup_cfg, &b->coord)) ||
	    (rc = xlmig_bk_store_open(d->cfg.state_dir, &b->store)) ||
	    (rc = xlmig_bk_store_load(b->store, b->coord)) ||
	    (rc = xlmig_hook_queue_new(d->cfg.hooks_dir, d->cfg.hook_timeout * 1000, &b->hooks)))
		return xlmig_fail_prefix(rc, "starting the backup coordinator");
	/* The migration journal was recovered first: every guest is where
	 * it will stay, and jobs caught in a hand-over follow it. */
	pthread_mutex_lock(&b->lock);
	recover_checkpoints(d);
	xlmig_bk_recover(b->coord, guest_here, d, wall_now());
	xlmig_bk_tick(b->coord, wall_now());
	rc = settle(d);
	pthread_mutex_unlock(&b->lock);
	if (rc)
		return rc;
	provider.opaque = d;
	if ((rc = xlmigd_side_add(d, &provider)))
		return rc;
	b->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (!b->tick || event_add(b->tick, &one))
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the backup lease timer");
	return XLMIG_OK;
}

void xlmigd_backup_stop(struct xlmigd *d)
{
	struct xlmigd_backup *b = d->backup;

	if (!b)
		return;
	/* Checkpoints end through the coordinator: stop them first. */
	xlmigd_snapshot_stop(d);
	if (b->tick)
		event_free(b->tick);
	if (b->hooks) {
		/* Let the hooks of the last events run, within reason. */
		if (xlmig_hook_queue_drain(b->hooks, 2 * d->cfg.hook_timeout * 1000 + 1000))
			xlmig_warn("stopping with hooks still running: %s", xlmig_errmsg());
		xlmig_hook_queue_free(b->hooks);
	}
	xlmig_bk_store_close(b->store);
	xlmig_bk_coord_free(b->coord);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
	d->backup = NULL;
}

/* ---- requests ---- */

struct bk_request {
	struct xlmigd *d;
	const struct xlmig_json *args;
	struct xlmig_json_writer *w;
};

static int want_str(const struct bk_request *r, const char *key, bool required, const char **out)
{
	int rc = xlmig_json_get_str(r->args, key, out);

	if (rc == XLMIG_E_NOTFOUND && !required) {
		*out = NULL;
		return XLMIG_OK;
	}
	if (rc)
		return xlmig_fail(XLMIG_E_INVAL, "request field '%s' %s", key,
				  rc == XLMIG_E_NOTFOUND ? "is missing" : "must be a string");
	return XLMIG_OK;
}

static int want_bool(const struct bk_request *r, const char *key, bool *out)
{
	int rc = xlmig_json_get_bool(r->args, key, out);

	if (rc == XLMIG_E_NOTFOUND) {
		*out = false;
		return XLMIG_OK;
	}
	return rc ? xlmig_fail(XLMIG_E_INVAL, "request field '%s' must be true or false", key) : XLMIG_OK;
}

static void write_job(struct xlmig_json_writer *w, const struct xlmig_bk_job *j)
{
	bool text = j->token_len > 0;

	xlmig_json_object_open(w);
	xlmig_bk_job_write(w, j);
	for (uint32_t i = 0; i < j->token_len; i++)
		text = text && j->token[i] >= 0x20 && j->token[i] < 0x7f;
	if (text)
	{
		xlmig_json_key(w, "token_text");
		xlmig_json_string_len(w, (const char *)j->token, j->token_len);
	}
	xlmig_json_object_close(w);
}

/* The token of a request: "token" in hex or "token_text" as is. */
static int want_token(const struct bk_request *r, uint8_t *buf, size_t *len, bool *given)
{
	const struct xlmig_json *hex = xlmig_json_member(r->args, "token");
	const struct xlmig_json *text = xlmig_json_member(r->args, "token_text");

	*given = hex || text;
	if (hex && text)
		return xlmig_fail(XLMIG_E_INVAL, "give 'token' (hex) or 'token_text', not both");
	if (hex) {
		if (hex->type != XLMIG_JSON_STRING)
			return xlmig_fail(XLMIG_E_INVAL, "request field 'token' must be a hex string");
		return xlmig_bk_hex_decode(hex->text, hex->text_len, buf, XLMIG_BK_TOKEN_MAX, len);
	}
	if (text) {
		if (text->type != XLMIG_JSON_STRING)
			return xlmig_fail(XLMIG_E_INVAL, "request field 'token_text' must be a string");
		if (text->text_len > XLMIG_BK_TOKEN_MAX)
			return xlmig_fail(XLMIG_E_LIMIT, "a resume token is at most %u bytes", XLMIG_BK_TOKEN_MAX);
		memcpy(buf, text->text, text->text_len);
		*len = text->text_len;
	}
	return XLMIG_OK;
}

static int req_begin(struct bk_request *r, struct xlmigd_backup *b)
{
	struct xlmig_bk_begin bg = { 0 };
	const char *kind = NULL;
	struct xlmig_bk_job *j;
	uint64_t lease = 0;
	bool deferred;
	int rc;

	if ((rc = want_str(r, "domain", true, &bg.domain)) || (rc = want_str(r, "agent", true, &bg.agent)) ||
	    (rc = want_str(r, "uuid", false, &bg.uuid)) || (rc = want_str(r, "kind", false, &kind)) ||
	    (rc = want_bool(r, "wait", &bg.wait)) || (rc = want_bool(r, "quiesce", &bg.quiesce)))
		return rc;
	if (kind && xlmig_bk_kind_parse(kind, &bg.kind))
		return xlmig_fail(XLMIG_E_INVAL, "kind is 'external' or 'checkpoint'");
	rc = xlmig_json_get_u64(r->args, "lease", &lease);
	if ((rc && rc != XLMIG_E_NOTFOUND) || lease > XLMIG_BK_LEASE_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "lease is a number of seconds up to %u", XLMIG_BK_LEASE_MAX);
	bg.lease_secs = (uint32_t)lease;
	if (!guest_here(r->d, bg.domain))
		return xlmig_fail(XLMIG_E_NOTFOUND, "no guest %s runs on this host ('xlmig list' shows them)",
				  bg.domain);
	if ((rc = xlmig_bk_begin(b->coord, &bg, wall_now(), &j, &deferred)) || (rc = settle(r->d)))
		return rc;
	xlmig_info("backup job %s: %s of %s by %s %s", j->id, xlmig_bk_kind_name(j->kind), j->domain,
		   j->agent, deferred ? "deferred (guest migrating)" : "granted");
	xlmig_json_kv_bool(r->w, "deferred", deferred);
	xlmig_json_key(r->w, "job");
	write_job(r->w, j);
	return XLMIG_OK;
}

static int req_progress(struct bk_request *r, struct xlmigd_backup *b)
{
	static uint8_t token[XLMIG_BK_TOKEN_MAX];     /* under b->lock */
	struct xlmig_bk_job *j;
	const char *id;
	size_t len = 0;
	bool given, thawed;
	int rc;

	if ((rc = want_str(r, "job", true, &id)) || (rc = want_bool(r, "thawed", &thawed)) ||
	    (rc = want_token(r, token, &len, &given)))
		return rc;
	if ((rc = xlmig_bk_progress(b->coord, id, given ? token : NULL, len, thawed, wall_now(), &j)) ||
	    (rc = settle(r->d)))
		return rc;
	/* The hold reaches a polling agent here: state "held" means pause
	 * and report once more (that is the acknowledgement). */
	xlmig_json_kv_bool(r->w, "hold", j->state == XLMIG_BK_HELD);
	xlmig_json_key(r->w, "job");
	write_job(r->w, j);
	return XLMIG_OK;
}

static int req_end(struct bk_request *r, struct xlmigd_backup *b)
{
	struct xlmig_bk_job *j;
	const char *id, *msg;
	bool failed;
	int rc;

	if ((rc = want_str(r, "job", true, &id)) || (rc = want_str(r, "message", false, &msg)) ||
	    (rc = want_bool(r, "failed", &failed)))
		return rc;
	if (msg && strlen(msg) >= XLMIG_BK_MSG_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a message is at most %u bytes", XLMIG_BK_MSG_MAX - 1);
	if ((rc = xlmig_bk_end(b->coord, id, !failed, msg, wall_now(), &j)) || (rc = settle(r->d)))
		return rc;
	xlmig_json_key(r->w, "job");
	write_job(r->w, j);
	return XLMIG_OK;
}

static int req_cancel(struct bk_request *r, struct xlmigd_backup *b)
{
	struct xlmig_bk_job *j;
	const char *id;
	int rc;

	if ((rc = want_str(r, "job", true, &id)))
		return rc;
	if ((rc = xlmig_bk_cancel(b->coord, id, wall_now(), &j)) || (rc = settle(r->d)))
		return rc;
	xlmig_json_key(r->w, "job");
	write_job(r->w, j);
	return XLMIG_OK;
}

static int req_list(struct bk_request *r, struct xlmigd_backup *b)
{
	const char *domain;
	bool all;
	int rc;

	if ((rc = want_str(r, "domain", false, &domain)) || (rc = want_bool(r, "all", &all)))
		return rc;
	xlmig_json_key(r->w, "jobs");
	xlmig_json_array_open(r->w);
	for (size_t i = 0; i < xlmig_bk_count(b->coord); i++) {
		const struct xlmig_bk_job *j = xlmig_bk_at(b->coord, i);
		if (domain && strcmp(domain, j->domain))
			continue;
		/* History (ended, or moved away) only when asked for. */
		if (!all && (!j->here || xlmig_bk_state_is_final(j->state)))
			continue;
		write_job(r->w, j);
	}
	xlmig_json_array_close(r->w);
	return XLMIG_OK;
}

static int req_show(struct bk_request *r, struct xlmigd_backup *b)
{
	const struct xlmig_bk_job *j;
	const char *id;
	int rc;

	if ((rc = want_str(r, "job", true, &id)))
		return rc;
	if (!(j = xlmig_bk_find(b->coord, id)))
		return xlmig_fail(XLMIG_E_NOTFOUND, "no backup job %.60s on this host ('xlmig backup list --all' shows them)", id);
	xlmig_json_key(r->w, "job");
	write_job(r->w, j);
	return XLMIG_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct bk_request *r, struct xlmigd_backup *b);
} verbs[] = {
	{ "backup-begin", req_begin },
	{ "backup-progress", req_progress },
	{ "backup-end", req_end },
	{ "backup-cancel", req_cancel },
	{ "backup-list", req_list },
	{ "backup-show", req_show },
};

bool xlmigd_backup_handles(const char *cmd)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, cmd))
			return true;
	return false;
}

int xlmigd_backup_request(struct xlmigd *d, const char *cmd, const struct xlmig_json *args,
			  struct xlmig_json_writer *w)
{
	struct xlmigd_backup *b = d->backup;
	struct bk_request r = { .d = d, .args = args, .w = w };
	int rc = XLMIG_E_UNSUPPORTED;

	if (!b)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "the backup coordinator is not running");
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, cmd))
			rc = verbs[i].fn(&r, b);
	pthread_mutex_unlock(&b->lock);
	return rc;
}
