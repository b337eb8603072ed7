/*
 * backup_snapshot.c - xlmig's own backup agent in xlmigd: `xlmig
 * snapshot`, a live checkpoint (checkpoint.h) run as a backup job of
 * kind checkpoint, and `xlmig restore`.
 *
 * A checkpoint is an agent like any other to the coordinator: it begins
 * a job whose resume token holds its parameters (the file, the downtime
 * target), reports after every pre-copy pass (which renews its lease),
 * and ends the job with its figures.  So the coordinator's rules apply
 * to it unchanged: asked for while its guest migrates it is deferred
 * (and with wait granted wherever the guest then runs); when a migration
 * of its guest starts it is held: the save stops (the guest runs on, the
 * partial file goes, the dirty log is free for the migration), the hold
 * is acknowledged, and the job travels with the guest; where it is
 * resumed (destination, or source after a failed migration) it runs
 * again from its token and continues the partial file the hold kept
 * (checkpoint.h: only pages changed since they were written are written
 * again), or starts over, saying why, where it cannot.  A cancel or an
 * expired lease stops the save and the partial file goes.
 *
 * Each checkpoint and restore runs on a thread of its own (a task); the
 * coordinator's events reach the tasks through xlmigd_snapshot_event(),
 * called under the coordinator's lock, which therefore only flags tasks
 * and starts threads, never calls back into the coordinator.
 */
#include "xlmigd.h"
#include "checkpoint.h"
#include "json.h"

#include <inttypes.h>
#include <stdlib.h>

#define SNAP_AGENT        "xlmig-snapshot"
#define TASKS_KEPT        64       /* finished tasks kept for status */

enum task_kind { TASK_CHECKPOINT, TASK_RESTORE };

struct task {
	struct xlmigd *d;
	enum task_kind kind;
	char id[XLMIG_BK_ID_MAX];        /* the backup job's, or restore-N */
	char domain[XLMIG_NAME_MAX];     /* checkpoint: its guest; restore: the name asked */
	char token_error[160];           /* checkpoint: its token did not parse */
	struct xlmig_checkpoint_params p;
	bool paused;                     /* restore: leave it paused */
	atomic_bool cancel;
	atomic_bool keep_partial;        /* set with held: the partial file stays */
	bool resuming;                   /* a held job taken over */
	/* under the tasks' lock */
	bool running;
	bool saving;                     /* checkpoint: inside its save, the
					  * guest's log-dirty mode (and maybe
					  * the guest, suspended) its own */
	bool held;                       /* the save stops for a hold */
	bool again;                      /* resumed while still stopping */
	bool stopped_for_hold;           /* its last attempt ended for a hold */
	int rc;
	char msg[XLMIG_CHECKPOINT_PATH_MAX + 768];
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored restored;
	struct task *next;
};

struct xlmigd_snapshots {
	pthread_mutex_t lock;
	pthread_cond_t idle;             /* a task finished or left its save */
	struct task *tasks;              /* newest first */
	unsigned running;
	uint64_t next_restore;
};

/* ---- tasks ---- */

static struct task *find_task(struct xlmigd_snapshots *s, const char *id)
{
	for (struct task *t = s->tasks; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

/* Forget the oldest finished tasks beyond what status needs. */
static void trim_tasks(struct xlmigd_snapshots *s)
{
	struct task **pp = &s->tasks;
	unsigned kept = 0;

	while (*pp) {
		struct task *t = *pp;
		if (!t->running && ++kept > TASKS_KEPT) {
			*pp = t->next;
			free(t);
			continue;
		}
		pp = &t->next;
	}
}

static void task_done(struct task *t)
{
	struct xlmigd_snapshots *s = t->d->snapshots;

	pthread_mutex_lock(&s->lock);
	t->running = false;
	s->running--;
	trim_tasks(s);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static int find_domid(struct xlmigd *d, const char *domain, uint32_t *domid)
{
	struct xlmig_domain_info di;
	int rc;

	pthread_mutex_lock(&d->hv_lock);
	rc = d->hv->ops->lookup(d->hv, domain, &di);
	pthread_mutex_unlock(&d->hv_lock);
	if (rc == XLMIG_OK && di.state != XLMIG_DOM_RUNNING)
		rc = xlmig_fail(XLMIG_E_INVAL, "%s is not running: a live checkpoint needs a running guest", domain);
	*domid = di.domid;
	return rc;
}

/* After each pre-copy pass: report (lease), and stop for a hold.  The
 * save still runs here (its guest may be stopped next), so this report
 * never acknowledges a hold: the one after the save stopped does. */
static void on_pass(void *opaque, const struct xlmig_iteration *it, uint64_t pages_total)
{
	struct task *t = opaque;
	enum xlmig_bk_state st;

	if (xlmigd_backup_report_if(t->d, t->id, true, &st) == XLMIG_OK && st == XLMIG_BK_HELD) {
		pthread_mutex_lock(&t->d->snapshots->lock);
		t->held = true;
		atomic_store(&t->keep_partial, true);
		atomic_store(&t->cancel, true);
		pthread_mutex_unlock(&t->d->snapshots->lock);
	}
}

static void describe(struct task *t)
{
	const struct xlmig_checkpoint_result *r = &t->res;
	char how[320];

	if (r->continued_bytes)
		snprintf(how, sizeof(how), "continued its partial file of %" PRIu64 " bytes, %" PRIu64
			 " pages there unchanged and not written again", r->continued_bytes, r->pages_unchanged);
	else
		snprintf(how, sizeof(how), "%s", r->start_note[0] ? r->start_note : "written whole");
	snprintf(t->msg, sizeof(t->msg),
		 "checkpoint of %s into %s: %" PRIu64 " bytes%s, %" PRIu64 " written here (%s), %u passes, %"
		 PRIu64 " of %" PRIu64 " pages written, guest paused %.1f ms, %.2f s in all",
		 t->domain, t->p.file, r->file_bytes, t->p.compress ? " compressed" : "", r->bytes_written, how,
		 r->iterations, r->pages_sent, r->pages_total, r->pause_ns / 1e6, r->total_ns / 1e9);
}

static void set_saving(struct task *t, bool saving)
{
	struct xlmigd_snapshots *s = t->d->snapshots;

	pthread_mutex_lock(&s->lock);
	t->saving = saving;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* One attempt: returns true when the job was held (not ended). */
static bool run_checkpoint(struct task *t)
{
	struct xlmigd *d = t->d;
	struct xlmig_checkpoint_opts o = {
		.cancel = &t->cancel, .progress = on_pass, .progress_opaque = t,
		.keep_partial = &t->keep_partial, .resuming = t->resuming,
	};
	struct xlmig_checkpoint_result res;
	enum xlmig_bk_state st = XLMIG_BK_RUNNING;
	uint32_t domid = 0;
	bool held;
	int rc;

	xlmig_policy_config_default(&o.policy);
	if (t->p.downtime_ms)
		o.policy.downtime_target_ns = t->p.downtime_ms * 1000000ull;
	if (t->p.max_iters)
		o.policy.max_iterations = (unsigned)t->p.max_iters;
	o.verify = t->p.verify;
	o.compress_level = (int)t->p.compress;
	/* Reporting first confirms a resume, and says if a hold came
	 * before the save could start. */
	rc = t->token_error[0] ? xlmig_fail(XLMIG_E_FORMAT, "%s", t->token_error)
			       : xlmigd_backup_report(d, t->id, &st);
	if (rc == XLMIG_OK && st == XLMIG_BK_HELD) {
		pthread_mutex_lock(&d->snapshots->lock);
		t->stopped_for_hold = true;
		t->rc = XLMIG_E_CANCELLED;
		snprintf(t->msg, sizeof(t->msg), "held before it started: a migration of %s began", t->domain);
		pthread_mutex_unlock(&d->snapshots->lock);
		return true;
	}
	/* From here until the save has stopped (and its guest runs again)
	 * a migration of the guest waits: xlmigd_snapshot_wait_saves(). */
	set_saving(t, rc == XLMIG_OK);
	if (rc == XLMIG_OK)
		rc = find_domid(d, t->domain, &domid);
	if (rc == XLMIG_OK) {
		xlmig_info("checkpoint %s of %s into %s: starting", t->id, t->domain, t->p.file);
		rc = xlmig_checkpoint_take(d->hv, domid, t->p.file, &o, &res);
	}
	set_saving(t, false);
	pthread_mutex_lock(&d->snapshots->lock);
	held = t->held;
	t->rc = rc;
	t->stopped_for_hold = rc != XLMIG_OK && held;
	if (rc == XLMIG_OK) {
		t->res = res;
		describe(t);
	} else if (held) {
		snprintf(t->msg, sizeof(t->msg), "held: a migration of %s began; the checkpoint goes on where the guest runs next, continuing %s%s ('xlmig backup show %s')",
			 t->domain, t->p.file, XLMIG_CHECKPOINT_PARTIAL_SUFFIX, t->id);
	} else {
		snprintf(t->msg, sizeof(t->msg), "checkpoint of %s failed: %s", t->domain, xlmig_errmsg());
	}
	pthread_mutex_unlock(&d->snapshots->lock);
	if (rc != XLMIG_OK && held) {
		/* Stopped for a migration: reporting now, paused, is the
		 * acknowledgement; the job travels with its guest. */
		xlmig_info("checkpoint %s of %s: stopped for a migration of its guest; it goes on where the guest runs next, from its partial file",
			   t->id, t->domain);
		xlmigd_backup_report(d, t->id, &st);
		return true;
	}
	xlmig_log(rc ? XLMIG_LOG_WARN : XLMIG_LOG_INFO, "checkpoint %s: %s", t->id, t->msg);
	if (xlmigd_backup_finish(d, t->id, rc == XLMIG_OK, t->msg))
		xlmig_info("checkpoint %s: not ended here: %s", t->id, xlmig_errmsg());
	return false;
}

static void *checkpoint_main(void *arg)
{
	struct task *t = arg;
	struct xlmigd_snapshots *s = t->d->snapshots;

	for (;;) {
		bool held = run_checkpoint(t), again;

		pthread_mutex_lock(&s->lock);
		again = held && t->again;
		t->again = false;
		t->held = false;
		t->resuming = again;
		atomic_store(&t->keep_partial, false);
		atomic_store(&t->cancel, false);
		pthread_mutex_unlock(&s->lock);
		if (!again)
			break;
	}
	task_done(t);
	return NULL;
}

static void *restore_main(void *arg)
{
	struct task *t = arg;
	struct xlmigd *d = t->d;
	struct xlmig_checkpoint_restored out;
	int rc;

	xlmig_info("restore %s: from %s", t->id, t->p.file);
	rc = xlmig_checkpoint_restore(d->hv, t->p.file, t->domain[0] ? t->domain : NULL, t->paused,
				      t->p.verify, &out);
	pthread_mutex_lock(&d->snapshots->lock);
	t->rc = rc;
	t->restored = out;
	if (rc)
		snprintf(t->msg, sizeof(t->msg), "restore from %s failed: %s", t->p.file, xlmig_errmsg());
	else
		snprintf(t->msg, sizeof(t->msg), "restored %s as domain %u in %.2f s%s", t->p.file,
			 out.domid, out.restore_ns / 1e9, t->paused ? " (paused)" : "");
	pthread_mutex_unlock(&d->snapshots->lock);
	xlmig_log(rc ? XLMIG_LOG_WARN : XLMIG_LOG_INFO, "restore %s: %s", t->id, t->msg);
	task_done(t);
	return NULL;
}

/* Start t's thread and list it; the tasks' lock is held. */
static int task_start(struct xlmigd_snapshots *s, struct task *t)
{
	pthread_attr_t a;
	pthread_t tid;
	int err;

	t->running = true;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &a, t->kind == TASK_CHECKPOINT ? checkpoint_main : restore_main, t);
	pthread_attr_destroy(&a);
	if (err) {
		free(t);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start a thread: %s", strerror(err));
	}
	s->running++;
	t->next = s->tasks;
	s->tasks = t;
	return XLMIG_OK;
}

static int start_checkpoint(struct xlmigd *d, const struct xlmig_bk_job *j, bool resuming)
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a checkpoint");
	t->d = d;
	t->kind = TASK_CHECKPOINT;
	t->resuming = resuming;
	snprintf(t->id, sizeof(t->id), "%s", j->id);
	snprintf(t->domain, sizeof(t->domain), "%s", j->domain);
	/* A token that does not parse fails the job from its thread: this
	 * caller holds the coordinator's lock. */
	if (xlmig_checkpoint_params_decode(j->token, j->token_len, &t->p))
		snprintf(t->token_error, sizeof(t->token_error), "%s", xlmig_errmsg());
	return task_start(d->snapshots, t);
}

static const struct task *saving_task(const struct xlmigd_snapshots *s, const char *domain)
{
	for (const struct task *t = s->tasks; t; t = t->next)
		if (t->kind == TASK_CHECKPOINT && t->running && t->saving && !strcmp(t->domain, domain))
			return t;
	return NULL;
}

/* The acknowledgement of a hold is not enough for a migration: a job that
 * ended (cancelled, its lease run out) while its save still stops is not
 * held at all, and the save may be in its final pause with the guest
 * suspended.  So the migration also waits for the save itself. */
int xlmigd_snapshot_wait_saves(struct xlmigd *d, const char *domain, uint64_t deadline_ns,
			       const atomic_bool *cancel)
{
	struct xlmigd_snapshots *s = d->snapshots;
	const struct task *t;
	bool told = false;
	int rc = XLMIG_OK;

	if (!s)
		return XLMIG_OK;
	pthread_mutex_lock(&s->lock);
	while ((t = saving_task(s, domain))) {
		struct timespec ts;

		if (cancel && atomic_load(cancel)) {
			rc = xlmig_fail(XLMIG_E_CANCELLED, "cancelled while checkpoint %s of %s stopped its save",
					t->id, domain);
			break;
		}
		if (xlmig_now_ns() >= deadline_ns) {
			rc = xlmig_fail(XLMIG_E_TIMEOUT, "checkpoint %s of %s has not stopped its save within the hold time (hold_ack), and the save owns the guest's log-dirty mode: migrate again once 'xlmig backup show %s' says held or ended",
					t->id, domain, t->id);
			break;
		}
		if (!told)
			xlmig_info("checkpoint %s of %s: the migration waits for its save to stop", t->id, domain);
		told = true;
		/* Woken when a save ends; the cancel is looked at each 100 ms. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->idle, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == XLMIG_OK && told)
		xlmig_info("the checkpoints of %s have stopped their saves: the migration goes on", domain);
	return rc;
}

/* A held checkpoint that ends where no task writes it leaves its partial
 * file to nobody: it goes (unless some host's checkpoint writes it). */
static void discard_partial(const struct xlmig_bk_job *j)
{
	struct xlmig_checkpoint_params p;

	if (xlmig_checkpoint_params_decode(j->token, j->token_len, &p) == XLMIG_OK &&
	    xlmig_checkpoint_discard(p.file))
		xlmig_warn("checkpoint %s ended: %s", j->id, xlmig_errmsg());
}

void xlmigd_snapshot_event(struct xlmigd *d, const struct xlmig_bk_event *ev)
{
	struct xlmigd_snapshots *s = d->snapshots;
	const struct xlmig_bk_job *j = &ev->job;
	struct task *t;

	if (!s || j->kind != XLMIG_BK_CHECKPOINT)
		return;
	pthread_mutex_lock(&s->lock);
	t = find_task(s, j->id);
	if (t && !t->running)
		t = NULL;
	switch (ev->type) {
	case XLMIG_BK_EV_HOLD:
		if (t) {
			t->held = true;
			atomic_store(&t->keep_partial, true);
			atomic_store(&t->cancel, true);
		}
		break;
	case XLMIG_BK_EV_RESUME:
	case XLMIG_BK_EV_GRANTED:
		if (t)
			t->again = true;    /* still stopping for the hold */
		else if (j->here && start_checkpoint(d, j, ev->type == XLMIG_BK_EV_RESUME))
			xlmig_error("checkpoint %s not resumed: %s; its lease will expire it", j->id, xlmig_errmsg());
		break;
	case XLMIG_BK_EV_EXPIRED:
	case XLMIG_BK_EV_ENDED:
		if (t) {
			t->held = false;
			t->again = false;
			atomic_store(&t->keep_partial, false);
			atomic_store(&t->cancel, true);
		} else if (j->here) {
			discard_partial(j);  /* held, then ended without a writer */
		}
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

int xlmigd_snapshot_recover(struct xlmigd *d, const struct xlmig_bk_job *j)
{
	struct xlmig_checkpoint_params p;
	int rc = xlmig_checkpoint_params_decode(j->token, j->token_len, &p);

	/* Held or travelling, it goes on from its partial file where it is
	 * taken over; one that was writing when xlmigd stopped ends. */
	if (rc == XLMIG_OK)
		rc = xlmig_checkpoint_recover(d->hv, j->domain, p.file,
					      j->state != XLMIG_BK_RUNNING && j->state != XLMIG_BK_QUIESCING);
	return rc;
}

int xlmigd_snapshot_init(struct xlmigd *d)
{
	struct xlmigd_snapshots *s = calloc(1, sizeof(*s));

	if (!s)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for checkpoints");
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	d->snapshots = s;
	return XLMIG_OK;
}

void xlmigd_snapshot_stop(struct xlmigd *d)
{
	struct xlmigd_snapshots *s = d->snapshots;

	if (!s)
		return;
	/* Stopped checkpoints leave their guests running and no file;
	 * their jobs end as failed, or stay held for the restarted daemon. */
	pthread_mutex_lock(&s->lock);
	for (struct task *t = s->tasks; t; t = t->next)
		if (t->running && t->kind == TASK_CHECKPOINT)
			atomic_store(&t->cancel, true);
	while (s->running)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	while (s->tasks) {
		struct task *t = s->tasks;
		s->tasks = t->next;
		free(t);
	}
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
	d->snapshots = NULL;
}

/* ---- requests ---- */

static int want_bool(const struct xlmig_json *args, const char *key, bool *out)
{
	int rc = xlmig_json_get_bool(args, key, out);

	if (rc == XLMIG_E_NOTFOUND) {
		*out = false;
		return XLMIG_OK;
	}
	return rc ? xlmig_fail(XLMIG_E_INVAL, "request field '%s' must be true or false", key) : XLMIG_OK;
}

static int req_snapshot(struct xlmigd *d, const struct xlmig_json *args, struct xlmig_json_writer *w)
{
	struct xlmig_bk_begin bg = { .agent = SNAP_AGENT, .kind = XLMIG_BK_CHECKPOINT };
	struct xlmig_buf token = { 0 };
	struct xlmig_bk_job job;
	struct xlmig_checkpoint_params p;
	bool deferred;
	int rc;

	if (xlmig_json_get_str(args, "domain", &bg.domain))
		return xlmig_fail(XLMIG_E_INVAL, "request field 'domain' is missing or not a string");
	if ((rc = xlmig_checkpoint_params_from_json(args, &p)) || (rc = want_bool(args, "wait", &bg.wait)) ||
	    (rc = xlmig_checkpoint_params_encode(&p, &token)))
		goto out;
	bg.token = token.data;
	bg.token_len = token.len;
	/* Granted now, its task starts here; deferred, the grant's event
	 * starts it where the guest runs then. */
	rc = xlmigd_backup_begin_own(d, &bg, &job, &deferred);
	if (rc == XLMIG_OK && !deferred) {
		pthread_mutex_lock(&d->snapshots->lock);
		rc = start_checkpoint(d, &job, false);
		pthread_mutex_unlock(&d->snapshots->lock);
		if (rc) {
			char msg[256];

			snprintf(msg, sizeof(msg), "not started: %s", xlmig_errmsg());
			xlmigd_backup_finish(d, job.id, false, msg);
			rc = xlmig_fail(rc, "%s", msg);
		}
	}
	if (rc == XLMIG_OK) {
		xlmig_json_kv_str(w, "job", job.id);
		xlmig_json_kv_bool(w, "deferred", deferred);
	}
out:
	xlmig_buf_free(&token);
	return rc;
}

static int req_restore(struct xlmigd *d, const struct xlmig_json *args, struct xlmig_json_writer *w)
{
	struct xlmigd_snapshots *s = d->snapshots;
	struct task *t = calloc(1, sizeof(*t));
	const char *name = NULL;
	int rc;

	if (!t)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a restore");
	t->d = d;
	t->kind = TASK_RESTORE;
	rc = xlmig_checkpoint_params_from_json(args, &t->p);
	if (rc == XLMIG_OK)
		rc = want_bool(args, "paused", &t->paused);
	if (rc == XLMIG_OK && xlmig_json_get_str(args, "name", &name) == XLMIG_OK &&
	    (strlen(name) == 0 || strlen(name) >= sizeof(t->domain)))
		rc = xlmig_fail(XLMIG_E_INVAL, "a domain name is 1 to %zu bytes", sizeof(t->domain) - 1);
	if (rc) {
		free(t);
		return rc;
	}
	snprintf(t->domain, sizeof(t->domain), "%s", name ? name : "");
	pthread_mutex_lock(&s->lock);
	snprintf(t->id, sizeof(t->id), "restore-%" PRIu64, ++s->next_restore);
	xlmig_json_kv_str(w, "job", t->id);
	rc = task_start(s, t);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void write_digest(struct xlmig_json_writer *w, const char *key, const uint8_t digest[32])
{
	char hex[65];

	xlmig_hex_encode(digest, 32, hex);
	xlmig_json_kv_str(w, key, hex);
}

static void write_task(struct xlmig_json_writer *w, const struct task *t)
{
	xlmig_json_kv_str(w, "job", t->id);
	xlmig_json_kv_str(w, "kind", t->kind == TASK_CHECKPOINT ? "checkpoint" : "restore");
	xlmig_json_kv_str(w, "file", t->p.file);
	xlmig_json_kv_bool(w, "running", t->running);
	if (t->running)
		return;
	xlmig_json_kv_bool(w, "succeeded", t->rc == XLMIG_OK);
	/* Held: not failed, it travels with its guest ('xlmig backup show'). */
	xlmig_json_kv_bool(w, "held", t->stopped_for_hold);
	xlmig_json_kv_str(w, "message", t->msg);
	if (t->rc)
		return;
	if (t->kind == TASK_RESTORE) {
		xlmig_json_kv_uint(w, "domid", t->restored.domid);
		xlmig_json_kv_double(w, "restore_ms", t->restored.restore_ns / 1e6);
		if (t->restored.have_counter)
			xlmig_json_kv_uint(w, "counter", t->restored.counter);
		if (t->restored.have_mem_digest)
			write_digest(w, "mem_digest", t->restored.mem_digest);
		return;
	}
	xlmig_json_kv_str(w, "domain", t->domain);
	xlmig_json_kv_uint(w, "file_bytes", t->res.file_bytes);
	xlmig_json_kv_uint(w, "stream_bytes", t->res.stream_bytes);
	xlmig_json_kv_uint(w, "compress", t->p.compress);
	if (t->p.compress)
		write_digest(w, "stream_sha256", t->res.stream_sha256);
	xlmig_json_kv_uint(w, "bytes_written", t->res.bytes_written);
	xlmig_json_kv_uint(w, "continued_bytes", t->res.continued_bytes);
	xlmig_json_kv_uint(w, "pages_unchanged", t->res.pages_unchanged);
	if (t->res.start_note[0])
		xlmig_json_kv_str(w, "start_note", t->res.start_note);
	xlmig_json_kv_uint(w, "iterations", t->res.iterations);
	xlmig_json_kv_uint(w, "pages_total", t->res.pages_total);
	xlmig_json_kv_uint(w, "pages_sent", t->res.pages_sent);
	xlmig_json_kv_double(w, "precopy_ms", t->res.precopy_ns / 1e6);
	xlmig_json_kv_double(w, "pause_ms", t->res.pause_ns / 1e6);
	xlmig_json_kv_double(w, "total_ms", t->res.total_ns / 1e6);
	if (t->res.have_counter)
		xlmig_json_kv_uint(w, "counter", t->res.counter);
	if (t->res.have_mem_digest)
		write_digest(w, "mem_digest", t->res.mem_digest);
}

static int req_status(struct xlmigd *d, const struct xlmig_json *args, struct xlmig_json_writer *w)
{
	struct xlmigd_snapshots *s = d->snapshots;
	const struct task *t;
	const char *id;
	int rc = XLMIG_OK;

	if (xlmig_json_get_str(args, "job", &id))
		return xlmig_fail(XLMIG_E_INVAL, "request field 'job' is missing or not a string");
	pthread_mutex_lock(&s->lock);
	if ((t = find_task(s, id)))
		write_task(w, t);
	else
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "no checkpoint or restore %.60s ran here since xlmigd started ('xlmig backup show' keeps a checkpoint's outcome)",
				id);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(struct xlmigd *d, const struct xlmig_json *args, struct xlmig_json_writer *w);
} verbs[] = {
	{ "snapshot", req_snapshot },
	{ "restore", req_restore },
	{ "snapshot-status", req_status },
};

bool xlmigd_snapshot_handles(const char *cmd)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, cmd))
			return true;
	return false;
}

int xlmigd_snapshot_request(struct xlmigd *d, const char *cmd, const struct xlmig_json *args,
			    struct xlmig_json_writer *w)
{
	if (!d->snapshots)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "the backup coordinator is not running");
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, cmd))
			return verbs[i].fn(d, args, w);
	return xlmig_fail(XLMIG_E_UNSUPPORTED, "unknown command '%.40s'", cmd);
}
