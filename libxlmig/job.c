/*
 * job.c - source and destination migration jobs and their commit protocol
 * (see job.h for the message sequence and the guarantees).
 *
 * The commit messages are CTRL frames on channel 0 whose body is a JSON
 * object, so either side can add fields without breaking the other.
 */
#include "job.h"
#include "conn.h"
#include "fate.h"
#include "fault.h"
#include "guest_policy.h"
#include "journal.h"
#include "json.h"
#include "offload.h"
#include "preflight.h"
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum ctrl_type {
	CTRL_PREFLIGHT = 1,      /* source: name, memory, vcpus, backend, guest facts */
	CTRL_PREFLIGHT_OK = 2,   /* destination: it can take the guest */
	CTRL_READY = 3,          /* destination: guest restored, paused */
	CTRL_GO = 4,             /* source: the guest is yours */
	CTRL_DONE = 5,           /* destination: {"ok":bool} after unpause */
	/* 6 and 7 are fate.h's query and answer. */
	CTRL_SIDE_END = 8,       /* source: every side record is sent */
};

/* XLMIG_FAULT_MS: only the fault matrix's test build may shorten them. */
#define PREFLIGHT_TIMEOUT_MS XLMIG_FAULT_MS(30000)
#define READY_TIMEOUT_MS     XLMIG_FAULT_MS(120000)   /* the destination's restore */
#define GO_TIMEOUT_MS        XLMIG_FAULT_MS(60000)
#define DONE_TIMEOUT_MS      XLMIG_FAULT_MS(60000)
#define CTRL_TIMEOUT_MS      XLMIG_FAULT_MS(10000)
#define PEER_REASON_MS       1000      /* for a failed peer's ERROR frame */
#define SEND_QUEUE_BYTES     (1u << 20)   /* per channel, see source_transfer */
#define RECV_HOLD_BYTES      (8u << 20)   /* see dest_transfer */
#define CHECK_DIRTY_WINDOW_MS 500u    /* --check: how long the dirty rate is watched */
#define XLMIG_AUTO_CHANNELS  4            /* see auto_channels */

struct xlmig_job {
	struct xlmig_job_env env;
	/* Source: as asked.  Destination: what the source's PREFLIGHT asked
	 * of this side (debug, pause_after, preserve_domid). */
	struct xlmig_migrate_opts opts;
	char *config;                       /* source: -C, opts.config_override */
	uint32_t src_domid;                 /* destination: the id -D keeps */
	/* Destination: the source's domain id when the source is this very
	 * host (a localhost migration), else 0. */
	uint32_t local_src_domid;
	pthread_mutex_t lock;               /* guards everything below */
	struct xlmig_job_record rec;
	struct xlmig_job_progress prog;
	struct xlmig_conn *conn;
	atomic_bool cancel;                 /* the administrator's cancel */
	atomic_bool stop_save;              /* the save must stop (cancel or failure) */
	bool committing;                    /* past the last cancel point */
	bool in_xfer;                       /* the transfer watches cancel itself */
	bool renamed_away;
	bool side_begun;                    /* source: providers were told (side.h) */
	struct xlmig_job_stats stats;
	struct xlmig_xfer_stats xs;         /* grows while the transfer runs */
	uint64_t start_ns;
	/* The latest journal step's synced write: the one nearest the
	 * window.  The slowest so far (what this was) let one stall of a
	 * loaded disk at set-up (0.5-1 s seen) stand for both of the
	 * window's syncs: predicted 1027 ms, measured 235. */
	_Atomic uint64_t sync_ns;
	_Atomic uint64_t hv_call_ns;        /* source: a hypervisor request, measured */
	/* Source: the pipeline's own latency, measured at the latest pass's
	 * settle (settle()); 0 = not measured. */
	_Atomic uint64_t pipe_lat_ns;
	/* Source: when the guest stopped and when the save ended (the
	 * producer's thread sets the latter); 0 = not yet. */
	uint64_t paused_at_ns;
	_Atomic uint64_t save_end_ns;
	uint64_t window_at[XLMIG_WIN_DONE + 1];  /* source: when each phase ended */
	uint64_t window_since;              /* destination: window_took()'s origin */
	_Atomic uint64_t xfer_start_ns;     /* source: the transfer began */
	/* What the transfer still holds when it returns, inside the downtime
	 * window: freed once the job is over (xfer.h). */
	struct xlmig_xfer_spent *xfer_spent;
	uint64_t rate_ns, rate_bytes;       /* last send-rate sample */
	uint64_t iter_stream0, iter_bytes;  /* current iteration: start, expected size */
	/* --verify figures: memory digest and counter at each end */
	char digest_src[65], digest_dst[65];
	uint64_t counter_src, counter_dst, verify_ns;
	/* The guest's preflight facts (source: collected, destination: as
	 * received) and whether the destination accepted them; journaled
	 * with the statistics, which is how --check --json shows them. */
	bool have_facts, preflight_ok;
	struct xlmig_preflight_guest facts;
	/* Source: what the destination foresaw of the guest's offloads
	 * (offload.h; in its PREFLIGHT_OK), or NULL; journaled with the
	 * statistics, which is how --check warns of it. */
	struct xlmig_offload_forecast *forecast;
	/* What the side-record providers reported once the guest was
	 * restored (side.h), a JSON object: made on the destination, sent
	 * in READY, journaled with the stats on both hosts. */
	struct xlmig_buf side_report;
	/* Destination: the session's first CTRL message, read before the
	 * job existed to tell a migration from a FATE query (xlmig_job_accept). */
	bool have_first;
	uint32_t first_type;
	struct xlmig_buf first;
};

/* ---- small helpers ---- */

void xlmig_migrate_opts_default(struct xlmig_migrate_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = XLMIG_DEFAULT_PORT;
	o->channels = 0;     /* one per CPU, at most XLMIG_AUTO_CHANNELS */
	o->compress = true;
	o->zstd_level = 0;   /* no cap: the transfer picks per batch (adapt.h) */
	xlmig_policy_config_default(&o->policy);
}

static void hv_lock(struct xlmig_job *job)
{
	if (job->env.hv_lock)
		pthread_mutex_lock(job->env.hv_lock);
}

static void hv_unlock(struct xlmig_job *job)
{
	if (job->env.hv_lock)
		pthread_mutex_unlock(job->env.hv_lock);
}

static struct xlmig_hv *hv(struct xlmig_job *job)
{
	return job->env.hv;
}

/* ---- the job ---- */

static bool cancelled(struct xlmig_job *job)
{
	return atomic_load(&job->cancel);
}

/* Journal the step (synced) before acting on it. */
static int set_step(struct xlmig_job *job, enum xlmig_job_step step)
{
	struct xlmig_job_record rec;
	uint64_t t0;
	int rc;

	pthread_mutex_lock(&job->lock);
	job->rec.step = step;
	job->prog.step = step;
	if (step == XLMIG_STEP_PRECOPY)
		job->prog.iteration = 1;
	rec = job->rec;
	pthread_mutex_unlock(&job->lock);
	t0 = xlmig_now_ns();
	rc = xlmig_journal_put(job->env.journal, &rec);
	atomic_store(&job->sync_ns, xlmig_now_ns() - t0);
	if (rc)
		xlmig_fail_prefix(rc, "journaling job %s step %s", rec.id, xlmig_step_name(step));
	else if (job->env.on_step)
		job->env.on_step(job->env.opaque, rec.id, step);
	return rc;
}

static void set_message(struct xlmig_job *job, int err, const char *msg)
{
	pthread_mutex_lock(&job->lock);
	job->rec.err = err;
	/* Long messages are cut: the record has a fixed size. */
	snprintf(job->rec.message, sizeof(job->rec.message), "%.*s",
		 (int)sizeof(job->rec.message) - 1, msg);
	pthread_mutex_unlock(&job->lock);
}

static int check_cancel(struct xlmig_job *job)
{
	return cancelled(job) ? xlmig_fail(XLMIG_E_CANCELLED, "cancelled by the administrator") : XLMIG_OK;
}

static int new_job(const struct xlmig_job_env *env, enum xlmig_job_role role,
		   struct xlmig_job **out)
{
	struct xlmig_job *job = calloc(1, sizeof(*job));
	int rc;

	if (!job)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a job");
	job->env = *env;
	pthread_mutex_init(&job->lock, NULL);
	job->rec.role = role;
	job->start_ns = xlmig_now_ns();
	for (unsigned i = 0; i < XLMIG_WIN_N; i++)
		job->stats.window_ms[i] = -1;
	if ((rc = xlmig_journal_new_id(env->journal, job->rec.id))) {
		pthread_mutex_destroy(&job->lock);
		free(job);
		return rc;
	}
	*out = job;
	return XLMIG_OK;
}

/* READY is shown (xlmig status, the log) but not journaled: a daemon
 * restarted in it recovers exactly as in PRECOPY (the source resumes
 * its guest, the destination destroys its copy, and a FATE query gets
 * the same answer), so its synced write bought nothing and cost two of
 * the four syncs inside the downtime window (30-40 ms each on a loaded
 * disk).  GO, which changes what recovery does, is journaled before it
 * is acted on, as every other step. */
static void show_step(struct xlmig_job *job, enum xlmig_job_step step)
{
	char id[XLMIG_JOB_ID_MAX];

	pthread_mutex_lock(&job->lock);
	job->rec.step = step;
	job->prog.step = step;
	snprintf(id, sizeof(id), "%s", job->rec.id);
	pthread_mutex_unlock(&job->lock);
	if (job->env.on_step)
		job->env.on_step(job->env.opaque, id, step);
}

/* ---- CTRL messages: a JSON object body ---- */

static int send_json(struct xlmig_job *job, uint32_t type, struct xlmig_json_writer *w)
{
	int rc;

	xlmig_json_object_close(w);
	if ((rc = xlmig_json_finish(w)))
		return xlmig_fail(rc, "cannot encode a commit message");
	return xlmig_conn_send_ctrl(job->conn, type, w->out->data, w->out->len, CTRL_TIMEOUT_MS);
}

static void begin_json(struct xlmig_json_writer *w, struct xlmig_buf *b)
{
	xlmig_buf_reset(b);
	xlmig_json_writer_init(w, b);
	xlmig_json_object_open(w);
}

/* Wait for CTRL message `want`; anything else is a protocol error. */
static int recv_json(struct xlmig_job *job, uint32_t want, int timeout_ms,
		     struct xlmig_json **out)
{
	struct xlmig_buf body = { 0 };
	uint32_t type = 0;
	int rc = XLMIG_OK;

	if (job->have_first) {
		job->have_first = false;
		type = job->first_type;
		body = job->first;
		job->first = (struct xlmig_buf){ 0 };
	} else if ((rc = xlmig_conn_recv_ctrl(job->conn, &type, &body, timeout_ms))) {
		goto out;
	}
	if (type != want) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "the %s sent commit message %u where %u was due: are both hosts running the same xlmig?",
				xlmig_conn_peer_role(job->conn), type, want);
		goto out;
	}
	rc = xlmig_json_parse(body.len ? (const char *)body.data : "{}", body.len ? body.len : 2, out);
	if (rc)
		xlmig_fail_prefix(rc, "commit message %u from the %s", type, xlmig_conn_peer_role(job->conn));
out:
	xlmig_buf_free(&body);
	return rc;
}

/* ---- progress ---- */

static void on_save_progress(void *opaque, const struct xlmig_iteration *it, uint64_t pages_total)
{
	struct xlmig_job *job = opaque;

	pthread_mutex_lock(&job->lock);
	/* it->iteration counts from 1 (the full pass); show the one under way. */
	job->prog.iteration = it->iteration + 1;
	job->prog.dirty_rate = it->dirty_rate * XLMIG_PAGE_SIZE;
	job->prog.expected_downtime_ns = it->predicted_downtime_ns;
	job->prog.throttle_pct = it->throttle_pct;
	/* The next iteration sends what is dirty now. */
	job->iter_stream0 = atomic_load(&job->xs.stream_bytes);
	job->iter_bytes = it->dirty_after > 0 ? (uint64_t)it->dirty_after * XLMIG_PAGE_SIZE : 0;
	if (job->stats.n_iter < XLMIG_POLICY_MAX_ITER_LOG)
		job->stats.iter[job->stats.n_iter++] = *it;
	pthread_mutex_unlock(&job->lock);
	if (it->decision == XLMIG_POLICY_CONTINUE)
		XLMIG_FAULT(XLMIG_FAULT_ITERATION, &job->cancel);
}

/* The transfer's counters grow in its own threads; read them atomically
 * and derive the send rate from the previous query's sample. */
void xlmig_job_get_progress(struct xlmig_job *job, struct xlmig_job_progress *out)
{
	uint64_t now = xlmig_now_ns();
	uint64_t wire = atomic_load(&job->xs.wire_bytes);
	uint64_t stream = atomic_load(&job->xs.stream_bytes);

	pthread_mutex_lock(&job->lock);
	if (job->rate_ns && now - job->rate_ns >= 100000000ull) {
		job->prog.send_rate = (double)(wire - job->rate_bytes) * 1e9 / (double)(now - job->rate_ns);
		job->rate_ns = 0;
	}
	if (!job->rate_ns) {
		job->rate_ns = now;
		job->rate_bytes = wire;
	}
	job->prog.bytes_wire = wire;
	job->prog.bytes_stream = stream;
	/* How far the current iteration got; the first one sends all of
	 * memory.  Stream bytes include record headers: close enough. */
	if (job->prog.iteration <= 1)
		job->iter_bytes = job->prog.mem_bytes;
	if (job->iter_bytes && stream >= job->iter_stream0)
		job->prog.percent = XLMIG_MIN(100.0, 100.0 * (double)(stream - job->iter_stream0) /
						     (double)job->iter_bytes);
	*out = job->prog;
	out->elapsed_ns = now - job->start_ns;
	pthread_mutex_unlock(&job->lock);
}

void xlmig_job_get_record(struct xlmig_job *job, struct xlmig_job_record *out)
{
	pthread_mutex_lock(&job->lock);
	*out = job->rec;
	pthread_mutex_unlock(&job->lock);
}

const char *xlmig_job_id(const struct xlmig_job *job) { return job->rec.id; }
enum xlmig_job_role xlmig_job_role(const struct xlmig_job *job) { return job->rec.role; }
const char *xlmig_job_domain(const struct xlmig_job *job) { return job->rec.domain; }
const struct xlmig_job_stats *xlmig_job_stats(const struct xlmig_job *job) { return &job->stats; }

int xlmig_job_cancel(struct xlmig_job *job)
{
	int rc = XLMIG_OK;

	pthread_mutex_lock(&job->lock);
	if (job->committing) {
		rc = xlmig_fail(XLMIG_E_INVAL, "job %s is committing (past the point of no return): it can no longer be cancelled",
				job->rec.id);
	} else {
		atomic_store(&job->cancel, true);
		atomic_store(&job->stop_save, true);
		/* The transfer polls the flag and tells the peer why it stops;
		 * anywhere else the job may block on the network: wake it. */
		if (job->conn && !job->in_xfer)
			xlmig_conn_interrupt(job->conn);
	}
	pthread_mutex_unlock(&job->lock);
	return rc;
}

/* The last moment a cancel is honoured: afterwards the job commits. */
static int enter_commit(struct xlmig_job *job)
{
	int rc = XLMIG_OK;

	pthread_mutex_lock(&job->lock);
	if (atomic_load(&job->cancel))
		rc = xlmig_fail(XLMIG_E_CANCELLED, "cancelled by the administrator");
	else
		job->committing = true;
	pthread_mutex_unlock(&job->lock);
	return rc;
}

static void set_in_xfer(struct xlmig_job *job, bool on)
{
	pthread_mutex_lock(&job->lock);
	job->in_xfer = on;
	pthread_mutex_unlock(&job->lock);
	/* A cancel that came as the transfer ended found nothing to wake. */
	if (!on && cancelled(job))
		xlmig_conn_interrupt(job->conn);
}

static void set_conn(struct xlmig_job *job, struct xlmig_conn *conn)
{
	pthread_mutex_lock(&job->lock);
	job->conn = conn;
	pthread_mutex_unlock(&job->lock);
	/* A cancel that came before the connection existed had nothing to
	 * interrupt: do it now. */
	if (conn && cancelled(job))
		xlmig_conn_interrupt(conn);
}

/* ---- statistics ---- */

static const char *const window_names[XLMIG_WIN_N] = {
	[XLMIG_WIN_SAVE_END] = "save_end_ms",
	[XLMIG_WIN_SENT] = "sent_ms",
	[XLMIG_WIN_SIDE_SENT] = "side_sent_ms",
	[XLMIG_WIN_READY] = "ready_ms",
	[XLMIG_WIN_SAVE_JOINED] = "save_joined_ms",
	[XLMIG_WIN_RENAMED] = "renamed_ms",
	[XLMIG_WIN_GO_SYNCED] = "go_synced_ms",
	[XLMIG_WIN_DONE] = "done_ms",
	[XLMIG_WIN_DST_RESTORE] = "dest_restore_ms",
	[XLMIG_WIN_DST_SIDE] = "dest_side_ms",
	[XLMIG_WIN_DST_VERIFY] = "dest_verify_ms",
	[XLMIG_WIN_DST_GO_SYNC] = "dest_go_sync_ms",
	[XLMIG_WIN_DST_RENAME] = "dest_rename_ms",
	[XLMIG_WIN_DST_UNPAUSE] = "dest_unpause_ms",
};

const char *xlmig_window_phase_name(enum xlmig_window_phase ph)
{
	return (unsigned)ph < XLMIG_WIN_N ? window_names[ph] : "?";
}

/* Source: phase ph ended now. */
static void window_mark(struct xlmig_job *job, enum xlmig_window_phase ph)
{
	job->window_at[ph] = xlmig_now_ns();
}

/* Source: the phases as ms after the guest's stop, once the save has
 * said when that was. */
static void window_source_ms(struct xlmig_job *job)
{
	job->window_at[XLMIG_WIN_SAVE_END] = atomic_load(&job->save_end_ns);
	for (unsigned i = 0; i <= XLMIG_WIN_DONE; i++)
		if (job->paused_at_ns && job->window_at[i] >= job->paused_at_ns)
			job->stats.window_ms[i] = (double)(job->window_at[i] - job->paused_at_ns) / 1e6;
}

/* Destination: phase ph took from *since until now; *since moves on. */
static void window_took(struct xlmig_job *job, enum xlmig_window_phase ph, uint64_t *since)
{
	uint64_t now = xlmig_now_ns();

	job->stats.window_ms[ph] = (double)(now - *since) / 1e6;
	*since = now;
}

/* Destination: its phases from first to last as members of the message
 * open in w (READY carries those before it, DONE the rest). */
static void window_send(const struct xlmig_job *job, struct xlmig_json_writer *w,
			enum xlmig_window_phase first, enum xlmig_window_phase last)
{
	for (unsigned i = first; i <= last; i++)
		if (job->stats.window_ms[i] >= 0)
			xlmig_json_kv_double(w, window_names[i], job->stats.window_ms[i]);
}

/* Source: the destination's phases from its READY or DONE. */
static void window_recv(struct xlmig_job *job, const struct xlmig_json *msg)
{
	for (unsigned i = XLMIG_WIN_DST_RESTORE; i < XLMIG_WIN_N; i++) {
		const struct xlmig_json *v = xlmig_json_member(msg, window_names[i]);
		char *end = NULL;
		double ms;

		if (!v || v->type != XLMIG_JSON_NUMBER)
			continue;
		ms = strtod(v->text, &end);
		/* A figure for the stats only: anything odd is left out. */
		if (end && *end == '\0' && ms >= 0 && ms < 1e9)
			job->stats.window_ms[i] = ms;
	}
}

void xlmig_job_stats_write(const struct xlmig_job_stats *st, struct xlmig_json_writer *w)
{
	const struct xlmig_codec_stats *c = &st->codec;

	xlmig_json_kv_uint(w, "total_ms", st->total_ns / 1000000);
	xlmig_json_kv_uint(w, "setup_ms", st->setup_ns / 1000000);
	xlmig_json_kv_uint(w, "downtime_ms", st->downtime_ns / 1000000);
	xlmig_json_kv_uint(w, "window_learned_ms", st->window_learned_ns / 1000000);
	/* What the policy expected when it stopped the guest, to hold
	 * against the measured figure above. */
	xlmig_json_kv_uint(w, "predicted_downtime_ms", st->n_iter ?
			   st->iter[st->n_iter - 1].predicted_downtime_ns / 1000000 : 0);
	xlmig_json_kv_bool(w, "left_paused", st->left_paused);
	xlmig_json_kv_uint(w, "bytes_wire", st->bytes_wire);
	xlmig_json_kv_uint(w, "bytes_stream", st->bytes_stream);
	xlmig_json_kv_uint(w, "mem_bytes", st->mem_bytes);
	xlmig_json_kv_double(w, "wire_ratio", st->bytes_wire ? (double)st->bytes_stream / (double)st->bytes_wire : 0.0);
	xlmig_json_kv_uint(w, "pages_total", st->pages_total);
	xlmig_json_kv_uint(w, "pages_sent", st->pages_sent);
	xlmig_json_kv_uint(w, "iterations", st->iterations);
	xlmig_json_kv_str(w, "policy_reason", st->policy_reason);
	if (st->stream_digest)
		xlmig_json_kv_str(w, "stream_digest", st->stream_digest);
	if (st->transport)
		xlmig_json_kv_str(w, "transport", st->transport);
	if (st->dirty_rate_known)
		xlmig_json_kv_uint(w, "dirty_rate_bps", st->dirty_rate_bps);
	xlmig_json_key(w, "codec");
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "pages_zero", c->pages_zero);
	xlmig_json_kv_uint(w, "pages_delta", c->pages_delta);
	xlmig_json_kv_uint(w, "pages_zstd", c->pages_zstd);
	xlmig_json_kv_uint(w, "pages_raw", c->pages_raw);
	xlmig_json_kv_double(w, "ratio", c->bytes_out ? (double)c->bytes_in / (double)c->bytes_out : 0.0);
	xlmig_json_kv_uint(w, "cpu_ms", c->cpu_ns / 1000000);
	xlmig_json_kv_uint(w, "delta_cache_bytes", st->delta_cache_bytes);
	xlmig_json_object_close(w);
	xlmig_adapt_stats_write(&st->adapt, w);
	xlmig_json_key(w, "window");
	xlmig_json_object_open(w);
	for (unsigned i = 0; i < XLMIG_WIN_N; i++)
		if (st->window_ms[i] >= 0)
			xlmig_json_kv_double(w, window_names[i], st->window_ms[i]);
	xlmig_json_object_close(w);
	xlmig_json_key(w, "iters");
	xlmig_json_array_open(w);
	for (unsigned i = 0; i < st->n_iter; i++) {
		const struct xlmig_iteration *it = &st->iter[i];
		xlmig_json_object_open(w);
		xlmig_json_kv_uint(w, "iteration", it->iteration);
		xlmig_json_kv_uint(w, "pages", it->pages_sent);
		xlmig_json_kv_uint(w, "ms", it->ns / 1000000);
		xlmig_json_kv_double(w, "send_rate", it->send_rate);
		xlmig_json_kv_double(w, "dirty_rate", it->dirty_rate);
		xlmig_json_kv_int(w, "dirty_after", it->dirty_after);
		xlmig_json_kv_uint(w, "predicted_downtime_ms", it->predicted_downtime_ns / 1000000);
		xlmig_json_kv_uint(w, "window_ms", it->window_ns / 1000000);
		xlmig_json_kv_uint(w, "throttle_pct", it->throttle_pct);
		xlmig_json_kv_int(w, "decision", it->decision);
		xlmig_json_object_close(w);
	}
	xlmig_json_array_close(w);
}

/* The providers' report's members as members of the object open in w. */
static void write_side_report(struct xlmig_job *job, struct xlmig_json_writer *w)
{
	struct xlmig_json *rep = NULL;

	if (!job->side_report.len ||
	    xlmig_json_parse((const char *)job->side_report.data, job->side_report.len, &rep))
		return;
	for (const struct xlmig_json *m = rep->child; m; m = m->next) {
		xlmig_json_key(w, m->key);
		xlmig_json_value(w, m);
	}
	xlmig_json_free(rep);
}

/* The stats plus the --verify figures, journaled next to the record. */
static void save_stats(struct xlmig_job *job)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc;

	job->stats.total_ns = xlmig_now_ns() - job->start_ns;
	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_job_stats_write(&job->stats, &w);
	write_side_report(job, &w);
	if (job->forecast) {
		xlmig_json_key(&w, "offload_forecast");
		xlmig_offload_forecast_write(job->forecast, &w);
	}
	if (job->digest_src[0] || job->digest_dst[0]) {
		xlmig_json_kv_str(&w, "digest_source", job->digest_src);
		xlmig_json_kv_str(&w, "digest_dest", job->digest_dst);
		xlmig_json_kv_uint(&w, "counter_source", job->counter_src);
		xlmig_json_kv_uint(&w, "counter_dest", job->counter_dst);
		xlmig_json_kv_uint(&w, "verify_ms", job->verify_ns / 1000000);
	}
	if (job->have_facts) {
		xlmig_json_key(&w, "preflight");
		xlmig_json_object_open(&w);
		xlmig_json_kv_bool(&w, "accepted", job->preflight_ok);
		xlmig_json_key(&w, "guest");
		xlmig_preflight_guest_write(&job->facts, &w);
		xlmig_json_object_close(&w);
	}
	xlmig_json_object_close(&w);
	rc = xlmig_json_finish(&w);
	if (!rc && !(rc = xlmig_buf_append(&b, "", 1)))
		rc = xlmig_journal_put_stats(job->env.journal, job->rec.id, (const char *)b.data);
	if (rc)
		xlmig_warn("job %s: statistics not saved: %s", job->rec.id, xlmig_errmsg());
	xlmig_buf_free(&b);
}

/* ---- source ---- */

int xlmig_job_new_source(const struct xlmig_job_env *env, const char *domain,
			 const struct xlmig_migrate_opts *opts, struct xlmig_job **out)
{
	struct xlmig_job *job;
	int rc;

	if (strlen(domain) >= XLMIG_NAME_MAX || !domain[0])
		return xlmig_fail(XLMIG_E_INVAL, "domain name '%.40s' is empty or too long", domain);
	if ((rc = new_job(env, XLMIG_ROLE_SOURCE, &job)))
		return rc;
	job->opts = *opts;
	if (opts->config_override) {
		/* The caller's string lives as long as its request: keep a copy. */
		if (!(job->config = strdup(opts->config_override))) {
			xlmig_job_free(job);
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory copying the -C config");
		}
		job->opts.config_override = job->config;
	}
	snprintf(job->rec.domain, sizeof(job->rec.domain), "%s", domain);
	snprintf(job->rec.peer, sizeof(job->rec.peer), "%.*s:%u",
		 (int)sizeof(job->rec.peer) - 8, opts->host, opts->port);
	if ((rc = set_step(job, XLMIG_STEP_QUEUED))) {
		xlmig_job_free(job);
		return rc;
	}
	*out = job;
	return XLMIG_OK;
}

void xlmig_job_free(struct xlmig_job *job)
{
	if (!job)
		return;
	if (job->conn)
		xlmig_conn_close(job->conn);
	xlmig_xfer_spent_free(job->xfer_spent);
	pthread_mutex_destroy(&job->lock);
	xlmig_preflight_guest_free(&job->facts);
	free(job->forecast);
	xlmig_buf_free(&job->side_report);
	xlmig_buf_free(&job->first);
	free(job->config);
	free(job);
}

/* Each channel has its own TLS session and threads at both ends: on a
 * host with fewer CPUs than channels they only take turns on the same
 * CPU (a dom0 with one vCPU spent seconds in the extra handshakes). */
static unsigned auto_channels(void)
{
	return XLMIG_MIN(xlmig_online_cpus(), (unsigned)XLMIG_AUTO_CHANNELS);
}

static int source_connect(struct xlmig_job *job)
{
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn = NULL;
	char port[8];
	int self_fd = -1, rc = XLMIG_OK;

	xlmig_conn_opts_default(&co);
	co.channels = job->opts.channels ? job->opts.channels : auto_channels();
	co.compress = job->opts.compress;
	/* --no-compress sends pages as they are: no deltas either.  An
	 * xl-equivalent move (make bench's baseline) kept a 64 MiB delta
	 * cache on both hosts full of pages it never coded against. */
	if (!co.compress)
		co.cache_bytes = 0;
	co.raw_to_this_host = true;
	co.zstd_level = job->opts.zstd_level;
	co.bandwidth = job->opts.bandwidth;
	co.tls = job->env.tls;
	co.insecure = job->env.insecure;
	snprintf(port, sizeof(port), "%u", job->opts.port);
	if (job->env.dial_self)
		rc = job->env.dial_self(job->env.opaque, job->opts.host, job->opts.port, &self_fd);
	if (rc == XLMIG_OK && self_fd >= 0) {
		xlmig_info("job %s: %s:%s is this xlmigd: the guest moves over one in-process "
			   "channel", job->rec.id, job->opts.host, port);
		rc = xlmig_conn_with_self(self_fd, false, &co, &conn);
	} else if (rc == XLMIG_OK) {
		rc = xlmig_conn_connect(job->opts.host, port, &co, job->env.key, &conn);
	}
	if (rc)
		return xlmig_fail_prefix(rc, "connecting to %s:%s (is xlmigd running there, "
					 "with a certificate from the same CA?)",
					 job->opts.host, port);
	set_conn(job, conn);
	XLMIG_FAULT(XLMIG_FAULT_HANDSHAKE, &job->cancel);
	return check_cancel(job);
}

/* The destination echoes the xl options it will honour: one that does
 * not know -p or -D must not silently run or renumber the guest. */
static int check_preflight_ok(struct xlmig_job *job, const struct xlmig_domain_info *di,
			      const struct xlmig_json *reply)
{
	bool pause = false;
	uint64_t domid = 0;

	xlmig_json_get_bool(reply, "pause", &pause);
	xlmig_json_get_u64(reply, "domid", &domid);
	if (job->opts.pause_after && !pause)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "the destination's xlmigd does not know -p "
				  "(leave the guest paused): update xlmig there, or migrate without -p");
	if (job->opts.preserve_domid && domid != di->domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "the destination's xlmigd does not know -D "
				  "(keep domain id %u): update xlmig there, or migrate without -D", di->domid);
	return XLMIG_OK;
}

/* What the guest needs of the destination, for its preflight. */
static int collect_facts(struct xlmig_job *job, const struct xlmig_domain_info *di)
{
	char id[16];
	int rc;

	/* By id: the name could move to another domain meanwhile. */
	snprintf(id, sizeof(id), "%u", di->domid);
	hv_lock(job);
	rc = xlmig_preflight_collect(hv(job), id, &job->facts);
	hv_unlock(job);
	job->have_facts = rc == XLMIG_OK;
	return rc;
}

/* The guest's interfaces' offload state, for the destination's
 * forecast; a guest or backend without interfaces sends none. */
static void offload_member(struct xlmig_job *job, uint32_t domid, struct xlmig_json_writer *w)
{
	struct xlmig_offload_state *st = calloc(1, sizeof(*st));
	struct xlmig_nic *nics = calloc(XLMIG_NICS_MAX, sizeof(*nics));
	char what[64];
	size_t n = 0;
	int rc;

	if (!st || !nics)
		goto out;
	hv_lock(job);
	rc = xlmig_hv_nics(hv(job), domid, nics, XLMIG_NICS_MAX, &n);
	hv_unlock(job);
	snprintf(what, sizeof(what), "job %s", job->rec.id);
	if (rc == XLMIG_OK && xlmig_offload_capture_nics(nics, n, st, what)) {
		xlmig_json_key(w, "offload");
		xlmig_offload_state_write(st, w);
	}
out:
	free(nics);
	free(st);
}

static const char *forecast_words(enum xlmig_offload_outcome o)
{
	return o == XLMIG_OFF_SOFTWARE ? "would fall back to software" : "would not be available";
}

/* The destination's forecast, kept for the stats and told in the log. */
static int read_forecast(struct xlmig_job *job, const struct xlmig_json *reply)
{
	const struct xlmig_json *arr = xlmig_json_member(reply, "offload_forecast");
	struct xlmig_offload_forecast *fc;
	int rc;

	if (!arr)
		return XLMIG_OK;
	if (!(fc = calloc(1, sizeof(*fc))))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the offload forecast");
	if ((rc = xlmig_offload_forecast_read(arr, fc))) {
		free(fc);
		return rc;
	}
	for (size_t i = 0; i < fc->n; i++)
		xlmig_warn("job %s: on %s, %s's %s %s (its bridge %s there cannot do it)", job->rec.id,
			   job->opts.host, fc->it[i].interface, fc->it[i].feature, forecast_words(fc->it[i].outcome),
			   fc->it[i].bridge);
	pthread_mutex_lock(&job->lock);
	free(job->forecast);
	job->forecast = fc;
	pthread_mutex_unlock(&job->lock);
	return XLMIG_OK;
}

static int source_preflight(struct xlmig_job *job, const struct xlmig_domain_info *di)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	char host_id[XLMIG_HOST_ID_LEN + 1];
	int rc = xlmig_journal_host_id(job->env.journal, host_id);

	if (rc)
		return xlmig_fail_prefix(rc, "preflight: reading this host's id");
	if ((rc = collect_facts(job, di)))
		return xlmig_fail_prefix(rc, "preflight");
	begin_json(&w, &b);
	xlmig_json_kv_str(&w, "name", di->name);
	/* Lets a destination that is this same host accept that NAME exists:
	 * it is this guest, renamed away before the new copy takes NAME. */
	xlmig_json_kv_str(&w, "source_host", host_id);
	/* What the destination journals, to answer a FATE query (fate.h). */
	xlmig_json_kv_str(&w, "source_job", job->rec.id);
	xlmig_json_kv_uint(&w, "source_domid", di->domid);
	xlmig_json_kv_uint(&w, "memory", di->mem_bytes);
	xlmig_json_kv_uint(&w, "vcpus", di->vcpus);
	xlmig_json_kv_str(&w, "backend", hv(job)->ops->name);
	xlmig_json_kv_bool(&w, "verify", job->opts.verify);
	xlmig_json_kv_bool(&w, "debug", job->opts.debug);
	/* Only sent when asked for, so a destination that predates them
	 * sees the message it knows (and then fails check_preflight_ok). */
	if (job->opts.pause_after)
		xlmig_json_kv_bool(&w, "pause", true);
	if (job->opts.preserve_domid)
		xlmig_json_kv_uint(&w, "domid", di->domid);
	/* A destination that predates "check" answers the same and then
	 * waits for a stream that never comes: its answer still holds. */
	if (job->opts.check_only)
		xlmig_json_kv_bool(&w, "check", true);
	xlmig_json_key(&w, "guest");
	xlmig_preflight_guest_write(&job->facts, &w);
	offload_member(job, di->domid, &w);
	rc = send_json(job, CTRL_PREFLIGHT, &w);
	if (!rc)
		rc = recv_json(job, CTRL_PREFLIGHT_OK, PREFLIGHT_TIMEOUT_MS, &reply);
	job->preflight_ok = rc == XLMIG_OK;
	if (!rc && !(rc = check_preflight_ok(job, di, reply)))
		rc = read_forecast(job, reply);
	xlmig_json_free(reply);
	xlmig_buf_free(&b);
	return rc ? xlmig_fail_prefix(rc, "preflight") : XLMIG_OK;
}

/* The verify figures of a stopped guest: its memory digest, and its
 * counter where the backend has one (Xen's has not: there the digest
 * alone proves the memory, and the counter stays 0 and is not sent). */
static int verify_figures(struct xlmig_job *job, uint32_t domid, char digest[65], uint64_t *counter)
{
	uint8_t d[32];
	int rc;

	hv_lock(job);
	rc = xlmig_hv_mem_digest(hv(job), domid, d);
	if (!rc && hv(job)->ops->counter)
		rc = xlmig_hv_counter(hv(job), domid, counter);
	hv_unlock(job);
	if (rc)
		rc = xlmig_fail_prefix(rc, "--verify");
	if (!rc)
		xlmig_hex_encode(d, sizeof(d), digest);
	return rc;
}

struct producer {
	struct xlmig_job *job;
	uint32_t domid;
	int fd;                /* the save's end of the pipe */
	int rfd;               /* the transfer's end, -1 once closed */
	pthread_t tid;
	bool running;          /* tid is to be joined */
	struct xlmig_policy policy;
	struct xlmig_save_result res;
	int rc;
	char msg[512];
};

/* A pipe of 1 MiB instead of 64 KiB: the stream crosses it in big
 * pieces, with a sixteenth of the wake-ups.  Best effort: a smaller
 * pipe only costs time. */
static void widen_pipe(int fd)
{
	(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/* A lookup of the guest, and what it cost: what a request to the
 * hypervisor costs here now (window_ns). */
static int timed_lookup(struct xlmig_job *job, struct xlmig_domain_info *di)
{
	uint64_t t0 = xlmig_now_ns();
	int rc;

	hv_lock(job);
	rc = hv(job)->ops->lookup(hv(job), job->rec.domain, di);
	hv_unlock(job);
	atomic_store(&job->hv_call_ns, xlmig_now_ns() - t0);
	return rc;
}

/* Inside the downtime window besides the last dirty pages: the journal
 * step GO on each side (synced; the destination's disk taken to be like
 * ours; READY is not journaled, see show_step), the hypervisor requests
 * (the save's vCPU read, the restore's vCPU load, the source's rename,
 * the destination's rename and unpause: each taken to cost what a lookup
 * here did at the latest settle, or just before pre-copy; the restore's
 * was left out, and the restore's end took 30-54 ms of 55-108 ms windows
 * on a loaded sim host), the messages and the restore's end, and what is
 * queued for the channels, which leaves at the link's measured rate. */
#define WINDOW_SYNCS     2
#define WINDOW_HV_CALLS  5
#define WINDOW_FIXED_NS  (5 * 1000000ull)

/* Bytes the channels' sockets hold that the destination has not yet
 * acknowledged: queued in the kernel or in flight on the link (up to the
 * socket buffers, 4 MiB each by default, plus the link's own queue: at
 * 1 Gbit/s 150-200 ms of stream, which the guest's stop waited for). */
static uint64_t unacked_bytes(struct xlmig_job *job)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < xlmig_conn_channels(job->conn); i++)
		n += xlmig_chan_unacked_bytes(xlmig_conn_chan(job->conn, i));
	return n;
}

/* Stream bytes the save wrote that the transfer has not read yet. */
static uint64_t pipe_unread(const struct producer *p)
{
	int unread = 0;

	if (ioctl(p->fd, FIONREAD, &unread) != 0 || unread < 0)
		return 0;
	return (uint64_t)unread;
}

/* Stream bytes the save wrote that the destination's restore has not
 * been given yet (in the pipe, the encoder, the channels' queues, both
 * hosts' sockets, on the link and in the destination's reorder buffer),
 * from the destination's PROGRESS reports; and the rate at which its
 * restore has been taking the stream.  false: the destination does not
 * report (an older xlmig). */
static bool stream_ahead(const struct producer *p, uint64_t *bytes, double *Bps)
{
	struct xlmig_job *job = p->job;
	uint64_t taken, read, start, now = xlmig_now_ns();

	if (!xlmig_conn_has_progress(job->conn))
		return false;
	taken = xlmig_conn_peer_progress(job->conn);
	read = atomic_load(&job->xs.stream_bytes);
	start = atomic_load(&job->xfer_start_ns);
	*bytes = pipe_unread(p) + (read > taken ? read - taken : 0);
	*Bps = start && now > start ? (double)taken * 1e9 / (double)(now - start) : 0.0;
	return true;
}

static uint64_t window_ns(void *opaque)
{
	const struct producer *p = opaque;
	struct xlmig_job *job = p->job;
	uint64_t ns = WINDOW_FIXED_NS + WINDOW_SYNCS * atomic_load(&job->sync_ns) +
		      WINDOW_HV_CALLS * atomic_load(&job->hv_call_ns) +
		      job->stats.window_learned_ns;
	uint64_t ahead, link;
	double Bps;

	if (stream_ahead(p, &ahead, &Bps)) {
		if (Bps > 0)
			ns += (uint64_t)((double)ahead * 1e9 / Bps);
		return ns;
	}
	/* Without reports: what this host still holds or has not seen
	 * acknowledged, at the link's rate. */
	ahead = pipe_unread(p) + atomic_load(&job->xs.backlog_bytes) + unacked_bytes(job);
	link = atomic_load(&job->xs.link_Bps);
	if (link)
		ns += (uint64_t)((double)ahead * 1e9 / (double)link);
	return ns;
}

/* Longest a save waits for the stream to leave after a pass. */
#define SETTLE_MAX_NS (2000 * 1000000ull)
/* Unacknowledged bytes that count as gone: about a round trip's worth on
 * a fast link, which the next ACK takes care of. */
#define SETTLE_UNACKED_BYTES (64u << 10)
/* Stream bytes not yet at the destination's restore that count as gone:
 * the non-page bytes the encoder may hold back for its next STREAM frame. */
#define SETTLE_AHEAD_BYTES (256u << 10)

/* Between passes, while the guest runs: wait until the destination's
 * restore has taken what the pass sent (its PROGRESS reports; from an
 * older peer, until the pipe is read, the channels' queues are written
 * and the sockets' bytes acknowledged), so that none of it is still
 * ahead of the last pass when the guest stops.  The pipeline drains
 * meanwhile: only the next pass waits.  A destination whose restore
 * falls behind held 10-30 MiB in its sockets and reorder buffer, which
 * the source's own queues never showed (measured at 1 Gbit/s, 2 GiB
 * idle: 150-250 ms of the window). */
static void settle(void *opaque)
{
	const struct producer *p = opaque;
	struct xlmig_job *job = p->job;
	uint64_t deadline = xlmig_now_ns() + SETTLE_MAX_NS;
	struct timespec tick = { 0, 1000000 };
	struct xlmig_domain_info di;

	while (!atomic_load(&job->stop_save) && xlmig_now_ns() < deadline) {
		uint64_t ahead;
		double Bps;

		if (stream_ahead(p, &ahead, &Bps) ? ahead <= SETTLE_AHEAD_BYTES
		    : pipe_unread(p) == 0 && atomic_load(&job->xs.backlog_bytes) == 0 &&
		      unacked_bytes(job) <= SETTLE_UNACKED_BYTES)
			break;
		nanosleep(&tick, NULL);
	}
	/* The stop may follow: what a request to the hypervisor costs now,
	 * not at set-up, is what the window's requests will cost (a sim
	 * host's replies took 1-30 ms on the same loaded machine). */
	(void)timed_lookup(job, &di);
}

/* Runs the backend's live save into the pipe; its end of the pipe is
 * closed when it returns, which ends the transfer's input. */
static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct xlmig_job *job = p->job;
	struct xlmig_save_opts so = {
		.policy = &p->policy, .progress = on_save_progress, .progress_opaque = job,
		.cancel = &job->stop_save, .debug = job->opts.debug,
		.config_override = job->opts.config_override,
		.preserve_domid = job->opts.preserve_domid,
		/* No .mem_digest: the job takes its own when asked
		 * (--verify); the backend's would only lengthen every
		 * downtime. */
	};

	xlmig_policy_init(&p->policy, &job->opts.policy);
	if (job->env.window_learned_ns)
		job->stats.window_learned_ns = atomic_load(job->env.window_learned_ns);
	p->policy.window_ns = window_ns;
	p->policy.settle = settle;
	p->policy.window_opaque = p;
	p->rc = hv(job)->ops->save_live(hv(job), p->domid, p->fd, &so, &p->res);
	atomic_store(&job->save_end_ns, xlmig_now_ns());
	if (!p->rc)
		XLMIG_FAULT(XLMIG_FAULT_STOPCOPY, &job->cancel);
	close(p->fd);
	p->fd = -1;
	/* The guest is stopped now: hash it while the transfer drains. */
	if (!p->rc && job->opts.verify)
		p->rc = verify_figures(job, p->domid, job->digest_src, &job->counter_src);
	if (p->rc)
		snprintf(p->msg, sizeof(p->msg), "%s", xlmig_errmsg());
	return NULL;
}

/* Wait for the save to end (after its stream's END, or stopped because
 * xfer_rc says the transfer failed) and take its figures.  Anything it
 * wrote after END fails the migration, as the parser would have. */
static int source_save_end(struct xlmig_job *job, struct producer *p, int xfer_rc)
{
	uint8_t tail[4096];
	uint64_t extra = 0;
	int rc = xfer_rc;

	if (!p->running)
		return rc;
	if (rc) {
		/* The save may be blocked writing into the pipe: stop it. */
		atomic_store(&job->stop_save, true);
	} else {
		for (;;) {
			ssize_t n = read(p->rfd, tail, sizeof(tail));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			extra += (uint64_t)n;
		}
	}
	close(p->rfd);
	p->rfd = -1;
	pthread_join(p->tid, NULL);
	p->running = false;
	job->paused_at_ns = p->res.paused_at_ns;
	job->stats.bytes_wire = job->xs.wire_bytes;
	job->stats.bytes_stream = job->xs.stream_bytes;
	job->stats.codec = job->xs.codec;
	job->stats.delta_cache_bytes = xlmig_conn_session(job->conn)->cache_bytes;
	job->stats.adapt = job->xs.adapt;
	job->stats.stream_digest = xlmig_stream_digest_name(job->xs.digest_kind);
	job->stats.transport = xlmig_conn_transport(job->conn);
	job->stats.pages_total = p->res.pages_total;
	job->stats.pages_sent = p->res.pages_sent;
	job->stats.iterations = p->res.iterations;
	snprintf(job->stats.policy_reason, sizeof(job->stats.policy_reason), "%s",
		 p->policy.reason ? p->policy.reason : "");
	/* The save failing first (non-convergence, a backend error) cuts the
	 * stream short, and the transfer's complaint about that would hide
	 * the cause.  A save stopped because the transfer failed ends with
	 * CANCELLED or a broken pipe: then the transfer's error is the cause. */
	if (p->rc && (!rc || (p->rc != XLMIG_E_CANCELLED && p->rc != XLMIG_E_IO &&
			      p->rc != XLMIG_E_CLOSED)))
		rc = xlmig_fail(p->rc, "%s", p->msg);
	else if (!rc && extra)
		rc = xlmig_fail(XLMIG_E_FORMAT, "the save wrote %llu bytes after its stream's END: "
				"not committing (a backend bug: report it with the job's log)",
				(unsigned long long)extra);
	/* Whatever broke while a cancel was under way, the cancel is why. */
	if (rc && cancelled(job))
		rc = xlmig_fail(XLMIG_E_CANCELLED, "cancelled by the administrator during pre-copy");
	return rc;
}

/* A send to the destination broke (rc): a destination whose restore
 * failed reports why and hangs up, so its ERROR frame may be waiting in
 * our socket, and its reason tells the administrator more than the
 * broken pipe does.  Nothing else reads channel 0 once the stream is
 * sent. */
static int source_peer_reason(struct xlmig_job *job, int rc)
{
	char msg[XLMIG_JOB_MSG_MAX];
	struct xlmig_json *ready = NULL;
	int peer_rc;

	if (rc != XLMIG_E_IO && rc != XLMIG_E_CLOSED)
		return rc;
	snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
	peer_rc = recv_json(job, CTRL_READY, PEER_REASON_MS, &ready);
	xlmig_json_free(ready);
	if (peer_rc != XLMIG_OK && xlmig_conn_peer_failed(job->conn))
		return peer_rc;
	return xlmig_fail(rc, "%s", msg);
}

/* Stream the live save over the session, up to its END: what the save
 * does after writing it (unmapping the guest, ending log-dirty, telling
 * its hypervisor) overlaps the commit's first round trip instead of
 * delaying the side records and READY (source_save_end() waits for it).
 * On failure the save is ended here. */
static int source_transfer(struct xlmig_job *job, const struct xlmig_domain_info *di,
			   struct producer *p)
{
	struct xlmig_xfer_opts xo;
	int fds[2], rc, err;

	xlmig_xfer_opts_default(&xo);
	/* The save counts a page as sent once it is queued: a deep queue lets
	 * pre-copy run ahead of the link, and all that backlog then drains
	 * while the guest is paused.  A shallow one keeps the policy's view
	 * honest (measured on a 1 GiB guest: downtime 0.5-3 s with 8 MiB per
	 * channel, 130-180 ms with 1 MiB, same total time). */
	xo.queue_bytes = SEND_QUEUE_BYTES;
	xo.stop_at_end = true;
	xo.spent = &job->xfer_spent;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	widen_pipe(fds[0]);
	p->job = job;
	p->domid = di->domid;
	p->fd = fds[1];
	p->rfd = fds[0];
	if ((err = pthread_create(&p->tid, NULL, producer_main, p))) {
		close(fds[0]);
		close(fds[1]);
		p->rfd = -1;
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the save thread: %s", strerror(err));
	}
	p->running = true;
	job->stats.setup_ns = xlmig_now_ns() - job->start_ns;
	atomic_store(&job->xfer_start_ns, xlmig_now_ns());
	set_in_xfer(job, true);
	rc = xlmig_xfer_send(job->conn, p->rfd, &xo, &job->xs, &job->cancel);
	set_in_xfer(job, false);
	window_mark(job, XLMIG_WIN_SENT);
	if (rc)
		rc = source_save_end(job, p, source_peer_reason(job, rc));
	return rc;
}

/* Before GO: give the guest back to the source, running and unchanged. */
static void source_rollback(struct xlmig_job *job, uint32_t domid, int err)
{
	struct xlmig_domain_info di;
	char msg[XLMIG_JOB_MSG_MAX];
	int rc = XLMIG_OK;

	snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
	if (job->conn && err != XLMIG_E_CANCELLED && !cancelled(job))
		xlmig_conn_report_failure(job->conn, err);
	else if (job->conn) {
		xlmig_fail(XLMIG_E_CANCELLED, "cancelled on the source");
		xlmig_conn_report_failure(job->conn, XLMIG_E_CANCELLED);
	}
	hv_lock(job);
	if (job->renamed_away && !(rc = hv(job)->ops->rename(hv(job), domid, job->rec.domain)))
		job->renamed_away = false;
	/* A guest that cannot be found is not said to run on (its host may
	 * have died with it). */
	if (!rc && !(rc = hv(job)->ops->lookup(hv(job), job->rec.domain, &di)))
		rc = xlmig_hv_resume_if_stopped(hv(job), di.domid);
	hv_unlock(job);
	if (rc) {
		char m[XLMIG_JOB_MSG_MAX + 128];
		snprintf(m, sizeof(m), "%s; resuming the guest here failed too: %s (check 'xlmig list')",
			 msg, xlmig_errmsg());
		set_message(job, err, m);
	} else {
		char m[XLMIG_JOB_MSG_MAX + 64];
		snprintf(m, sizeof(m), "%s; the guest runs on here", msg);
		set_message(job, err, m);
	}
	/* Only this host's own cancel makes a job "cancelled"; a peer that
	 * gave up is a failure here. */
	set_step(job, cancelled(job) ? XLMIG_STEP_CANCELLED : XLMIG_STEP_FAILED);
}

static int check_ready(struct xlmig_job *job, const struct xlmig_json *ready)
{
	const char *digest = "";
	int64_t verify_ms = 0;
	bool have_counter;
	const struct xlmig_json *side = xlmig_json_member(ready, "side");

	/* What the destination made of the side records, for our stats. */
	if (side && side->type == XLMIG_JSON_OBJECT) {
		struct xlmig_json_writer sw;
		xlmig_buf_reset(&job->side_report);
		xlmig_json_writer_init(&sw, &job->side_report);
		xlmig_json_value(&sw, side);
		if (xlmig_json_finish(&sw))
			xlmig_buf_reset(&job->side_report);
	}
	if (!job->opts.verify)
		return XLMIG_OK;
	xlmig_json_get_str(ready, "digest", &digest);
	/* Counters are compared where both backends keep one. */
	have_counter = xlmig_json_get_u64(ready, "counter", &job->counter_dst) == XLMIG_OK &&
		       hv(job)->ops->counter;
	xlmig_json_get_i64(ready, "verify_ms", &verify_ms);
	job->verify_ns = (uint64_t)(verify_ms > 0 ? verify_ms : 0) * 1000000;
	snprintf(job->digest_dst, sizeof(job->digest_dst), "%s", digest);
	if (strcmp(job->digest_src, job->digest_dst) ||
	    (have_counter && job->counter_src != job->counter_dst))
		return xlmig_fail(XLMIG_E_PEER, "--verify: the destination's memory digest or counter differs from the source's at pause (counter %" PRIu64 " vs %" PRIu64 "): migration aborted",
				  job->counter_src, job->counter_dst);
	return XLMIG_OK;
}

/* After GO without a trustworthy answer: the guest may run on the
 * destination, so the source copy stays paused aside for the operator. */
static int source_in_doubt(struct xlmig_job *job, int rc, const char *away)
{
	xlmig_fail_prefix(rc, "after GO: the domain's state is unknown; check both hosts for running instances, "
			  "and rename and resume at most one ('%s' is kept paused here)", away);
	set_message(job, rc, xlmig_errmsg());
	set_step(job, XLMIG_STEP_UNKNOWN);
	return rc;
}

/* After a DONE that says the guest runs there: what the window took
 * beyond the prediction (which already counted what was learned before)
 * moves the learned figure halfway to it.  --verify's digests are inside its window and not every move's. */
#define WINDOW_LEARNED_MAX_NS (10 * 1000000000ull)

static void learn_window(struct xlmig_job *job)
{
	const struct xlmig_job_stats *st = &job->stats;
	uint64_t modelled, missed, learned;

	if (!job->env.window_learned_ns || !st->n_iter || job->opts.verify)
		return;
	modelled = st->iter[st->n_iter - 1].predicted_downtime_ns;
	modelled -= XLMIG_MIN(modelled, st->window_learned_ns);
	missed = st->downtime_ns > modelled ? st->downtime_ns - modelled : 0;
	learned = st->window_learned_ns ? (st->window_learned_ns + missed) / 2 : missed;
	learned = XLMIG_MIN(learned, WINDOW_LEARNED_MAX_NS);
	atomic_store(job->env.window_learned_ns, learned);
	/* Kept for the next daemon too: after DONE, outside the window. */
	if (job->env.journal &&
	    xlmig_journal_put_u64(job->env.journal, XLMIG_WINDOW_LEARNED_KEY, learned))
		xlmig_warn("job %s: cannot keep the learned downtime window: %s", job->rec.id,
			   xlmig_errmsg());
}

/* READY received: rename away, journal GO, say GO, wait for DONE. */
static int source_commit(struct xlmig_job *job, uint32_t domid, uint64_t paused_at)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *done = NULL;
	char away[XLMIG_NAME_MAX + sizeof(XLMIG_MIGRATED_SUFFIX)];
	bool ok = false;
	const char *why = "the destination gave no reason";
	int rc;

	snprintf(away, sizeof(away), "%s%s", job->rec.domain, XLMIG_MIGRATED_SUFFIX);
	hv_lock(job);
	rc = hv(job)->ops->rename(hv(job), domid, away);
	hv_unlock(job);
	if (rc)
		return xlmig_fail_prefix(rc, "renaming the source copy to %s", away);
	job->renamed_away = true;
	window_mark(job, XLMIG_WIN_RENAMED);
	if ((rc = set_step(job, XLMIG_STEP_GO)))
		return rc;
	window_mark(job, XLMIG_WIN_GO_SYNCED);
	XLMIG_FAULT(XLMIG_FAULT_GO, &job->cancel);
	/* Point of no return: from here the guest must never run here again
	 * unless the destination says it destroyed its copy. */
	begin_json(&w, &b);
	rc = send_json(job, CTRL_GO, &w);
	if (!rc)
		rc = recv_json(job, CTRL_DONE, DONE_TIMEOUT_MS, &done);
	xlmig_buf_free(&b);
	if (rc && xlmig_conn_peer_failed(job->conn)) {
		/* The destination failed before taking the guest (a GO it could
		 * not read or journal) and destroyed its copy before saying so:
		 * as DONE {"ok":false}, ours may resume. */
		return xlmig_fail_prefix(rc, "after GO, before the destination took the guest");
	}
	/* A DONE without a well-formed "ok" says nothing about the
	 * destination's copy: it may run, so ours must not resume. */
	if (!rc && xlmig_json_get_bool(done, "ok", &ok))
		rc = xlmig_fail(XLMIG_E_FORMAT, "the destination's DONE carries no valid \"ok\"");
	if (rc) {
		xlmig_json_free(done);
		return source_in_doubt(job, rc, away);
	}
	/* With -p the destination answers once the guest has its name and
	 * stays paused: the downtime ends there, not at a resume. */
	job->stats.downtime_ns = xlmig_now_ns() - paused_at;
	window_mark(job, XLMIG_WIN_DONE);
	if (done)
		window_recv(job, done);
	job->stats.left_paused = job->opts.pause_after;
	xlmig_json_get_str(done, "error", &why);
	if (!ok) {
		/* Like xl: the destination destroyed its copy; ours may resume. */
		rc = xlmig_fail(XLMIG_E_PEER, "the destination failed to start the guest: %s", why);
		xlmig_json_free(done);
		return rc;
	}
	xlmig_json_free(done);
	learn_window(job);
	XLMIG_FAULT(XLMIG_FAULT_CLEANUP, &job->cancel);
	hv_lock(job);
	rc = hv(job)->ops->destroy(hv(job), domid);
	hv_unlock(job);
	if (rc)
		xlmig_warn("job %s: the guest runs on the destination but destroying %s here failed: %s (destroy it by hand)",
			   job->rec.id, away, xlmig_errmsg());
	set_message(job, 0, job->opts.pause_after ? "the guest is on the destination, paused as asked (-p)"
		    : "the guest runs on the destination");
	return set_step(job, XLMIG_STEP_DONE);
}

/* --check: the destination said yes.  The guest was never touched, only
 * watched for a moment through the dirty log, so that a plan (evacuate)
 * can order guests by how fast they dirty memory; a backend that cannot
 * measure leaves the figure out. */
static int source_checked(struct xlmig_job *job, const struct xlmig_domain_info *di)
{
	char msg[XLMIG_JOB_MSG_MAX];
	uint64_t rate = 0;
	bool known = false;

	if (di->state == XLMIG_DOM_RUNNING && hv(job)->ops->dirty_rate) {
		known = xlmig_hv_dirty_rate(hv(job), di->domid, CHECK_DIRTY_WINDOW_MS, &rate) == XLMIG_OK;
		if (!known)
			xlmig_warn("job %s: dirty rate of %s not measured: %s", job->rec.id, di->name,
				   xlmig_errmsg());
	}
	pthread_mutex_lock(&job->lock);
	job->stats.dirty_rate_known = known;
	job->stats.dirty_rate_bps = rate;
	pthread_mutex_unlock(&job->lock);
	if (known)
		snprintf(msg, sizeof(msg), "preflight OK: %s can take %s, which dirties %.1f MiB/s%s",
			 job->opts.host, di->name, (double)rate / (1 << 20),
			 job->forecast && job->forecast->n ? "; some offloads would not stay in hardware there" : "");
	else
		snprintf(msg, sizeof(msg), "preflight OK: %s can take %s%s", job->opts.host, di->name,
			 job->forecast && job->forecast->n ? "; some offloads would not stay in hardware there" : "");
	set_message(job, 0, msg);
	return set_step(job, XLMIG_STEP_CHECKED);
}

/* ---- side records (side.h) ---- */

static void side_ctx(struct xlmig_job *job, struct xlmig_side_ctx *ctx)
{
	ctx->job_id = job->rec.id;
	ctx->domain = job->rec.domain;
	ctx->peer = job->rec.role == XLMIG_ROLE_SOURCE ? job->opts.host : job->rec.peer;
	ctx->cancel = &job->cancel;
}

static int side_send(void *opaque, uint32_t type, const void *data, size_t len)
{
	struct xlmig_job *job = opaque;

	return xlmig_conn_send_side(job->conn, type, data, len);
}

static int side_received(void *opaque, uint32_t type, const uint8_t *data, size_t len)
{
	struct xlmig_job *job = opaque;
	struct xlmig_side_ctx ctx;

	side_ctx(job, &ctx);
	return xlmig_side_dispatch(&job->env.side, &ctx, type, data, len);
}

/* The providers are told how the job ended; after GO without an answer
 * nothing is known, and they settle by where the guest runs. */
static void side_end(struct xlmig_job *job)
{
	struct xlmig_side_ctx ctx;

	side_ctx(job, &ctx);
	if (job->rec.step == XLMIG_STEP_UNKNOWN)
		return;
	if (job->rec.role == XLMIG_ROLE_DEST)
		xlmig_side_dest_end(&job->env.side, &ctx, job->rec.step == XLMIG_STEP_DONE);
	else if (job->side_begun)
		xlmig_side_source_end(&job->env.side, &ctx, job->rec.step == XLMIG_STEP_DONE);
}

/* Destination: the guest exists, paused; providers act on its devices
 * (never failing the move) and report. */
static void side_restored(struct xlmig_job *job, uint32_t domid)
{
	struct xlmig_side_ctx ctx;

	side_ctx(job, &ctx);
	if (xlmig_side_dest_restored(&job->env.side, &ctx, domid, &job->side_report))
		xlmig_warn("job %s: %s", job->rec.id, xlmig_errmsg());
}

static int source_side_begin(struct xlmig_job *job)
{
	struct xlmig_side_ctx ctx;

	side_ctx(job, &ctx);
	job->side_begun = true;
	return xlmig_side_source_begin(&job->env.side, &ctx);
}

/* Do the peers exchange side records at all (a handshake feature)? */
static bool side_on(const struct xlmig_job *job)
{
	return xlmig_conn_session(job->conn)->features & XLMIG_FEAT_SIDE;
}

/* After the stream, before READY, then SIDE_END: channel 0 is ordered, so
 * when the destination reads SIDE_END it has dispatched every record, and
 * its providers act on the restored guest with all of them before it
 * answers READY (their report travels in it). */
static int source_side_send(struct xlmig_job *job)
{
	struct xlmig_side_ctx ctx;
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc;

	side_ctx(job, &ctx);
	rc = xlmig_side_source_send(&job->env.side, &ctx, side_send, job);
	if (rc == XLMIG_OK && side_on(job)) {
		begin_json(&w, &b);
		rc = send_json(job, CTRL_SIDE_END, &w);
	}
	xlmig_buf_free(&b);
	return source_peer_reason(job, rc);
}

/* Destination: wait for the source's last side record (see above). */
static int dest_side_wait(struct xlmig_job *job)
{
	struct xlmig_json *end = NULL;
	int rc = XLMIG_OK;

	if (side_on(job))
		rc = recv_json(job, CTRL_SIDE_END, CTRL_TIMEOUT_MS, &end);
	xlmig_json_free(end);
	return rc;
}

/* Once the backup jobs are held: the guest runs or is paused (not left
 * suspended by a save of its own). */
static int still_runs(struct xlmig_job *job, struct xlmig_domain_info *di)
{
	int rc;

	rc = timed_lookup(job, di);
	if (rc == XLMIG_OK && di->state != XLMIG_DOM_RUNNING && di->state != XLMIG_DOM_PAUSED)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %s is not running (%s)", di->name,
				di->state == XLMIG_DOM_SUSPENDED ? "suspended by a save, not ours" : "dying");
	return rc;
}

static int run_source(struct xlmig_job *job)
{
	struct xlmig_domain_info di;
	struct producer *p = calloc(1, sizeof(*p));
	struct xlmig_json *ready = NULL;
	int rc;

	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	if ((rc = check_cancel(job)) || (rc = set_step(job, XLMIG_STEP_SETUP)))
		goto fail_early;
	hv_lock(job);
	rc = hv(job)->ops->lookup(hv(job), job->rec.domain, &di);
	hv_unlock(job);
	if (rc)
		goto fail_early;
	/* Suspended may be a checkpoint's final pause, which the holds of
	 * source_side_begin() end (the guest runs again): checked after. */
	if (di.state != XLMIG_DOM_RUNNING && di.state != XLMIG_DOM_PAUSED &&
	    di.state != XLMIG_DOM_SUSPENDED) {
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %s is not running", di.name);
		goto fail_early;
	}
	pthread_mutex_lock(&job->lock);
	job->rec.domid = di.domid;
	job->prog.mem_bytes = job->stats.mem_bytes = di.mem_bytes;
	pthread_mutex_unlock(&job->lock);
	if ((rc = source_connect(job)) || (rc = source_preflight(job, &di)) ||
	    (rc = check_cancel(job)))
		goto fail;
	if (job->opts.check_only) {
		rc = source_checked(job, &di);
		goto out;
	}
	if ((rc = source_side_begin(job)) || (rc = still_runs(job, &di)) ||
	    (rc = set_step(job, XLMIG_STEP_PRECOPY)))
		goto fail;
	if ((rc = source_transfer(job, &di, p)) || (rc = source_side_send(job)))
		goto fail;
	window_mark(job, XLMIG_WIN_SIDE_SENT);
	if ((rc = recv_json(job, CTRL_READY, READY_TIMEOUT_MS, &ready)))
		goto fail;
	window_mark(job, XLMIG_WIN_READY);
	window_recv(job, ready);
	if ((rc = source_save_end(job, p, XLMIG_OK)) || (rc = check_ready(job, ready)))
		goto fail;
	show_step(job, XLMIG_STEP_READY);
	window_mark(job, XLMIG_WIN_SAVE_JOINED);
	XLMIG_FAULT(XLMIG_FAULT_READY, &job->cancel);
	if ((rc = enter_commit(job)))
		goto fail;
	rc = source_commit(job, di.domid, p->res.paused_at_ns);
	if (rc && job->rec.step == XLMIG_STEP_GO && job->renamed_away) {
		/* DONE said the destination failed and destroyed its copy. */
		source_rollback(job, di.domid, rc);
	}
	goto out;
fail:
	rc = source_save_end(job, p, rc);
	source_rollback(job, di.domid, rc);
	goto out;
fail_early:
	set_message(job, rc, xlmig_errmsg());
	set_step(job, cancelled(job) ? XLMIG_STEP_CANCELLED : XLMIG_STEP_FAILED);
out:
	side_end(job);
	xlmig_json_free(ready);
	free(p);
	return rc;
}

/* ---- destination ---- */

int xlmig_job_new_dest(const struct xlmig_job_env *env, struct xlmig_conn *conn,
		       const char *peer, struct xlmig_job **out)
{
	struct xlmig_job *job;
	int rc = new_job(env, XLMIG_ROLE_DEST, &job);

	if (rc) {
		xlmig_conn_close(conn);
		return rc;
	}
	job->conn = conn;
	snprintf(job->rec.peer, sizeof(job->rec.peer), "%s", peer);
	/* Who may ask about this job later (fate.h): the host whose
	 * certificate opened the session. */
	_Static_assert(sizeof(job->rec.src_host) >= sizeof(xlmig_conn_session(conn)->peer),
		       "a job record holds a certificate's name");
	if (xlmig_conn_session(conn)->tls)
		memcpy(job->rec.src_host, xlmig_conn_session(conn)->peer, sizeof(job->rec.src_host));
	if ((rc = set_step(job, XLMIG_STEP_SETUP))) {
		xlmig_job_free(job);
		return rc;
	}
	*out = job;
	return XLMIG_OK;
}

int xlmig_job_accept(const struct xlmig_job_env *env, struct xlmig_conn *conn,
		     const char *peer, struct xlmig_job **out)
{
	struct xlmig_buf first = { 0 };
	uint32_t type = 0;
	int rc = xlmig_conn_recv_ctrl(conn, &type, &first, PREFLIGHT_TIMEOUT_MS);

	*out = NULL;
	if (rc) {
		xlmig_fail_prefix(rc, "the session from %s sent no first message", peer);
		xlmig_conn_report_failure(conn, rc);
		goto out;
	}
	if (type == XLMIG_FATE_CTRL_QUERY) {
		/* Not a migration: no job, no record. */
		rc = xlmig_fate_serve(conn, env->journal, env->hv, env->hv_lock, first.data, first.len);
		goto out;
	}
	if ((rc = xlmig_job_new_dest(env, conn, peer, out)))
		conn = NULL;   /* new_dest closed it */
	else {
		(*out)->have_first = true;
		(*out)->first_type = type;
		(*out)->first = first;
		first = (struct xlmig_buf){ 0 };
		conn = NULL;   /* the job's now */
	}
out:
	if (conn)
		xlmig_conn_close(conn);
	xlmig_buf_free(&first);
	return rc;
}

/* Enough free memory for a guest: this host's MemAvailable (a sim host
 * keeps guests in its own memory; on Xen the backend checks again). */
static int check_memory(const char *name, uint64_t need)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		return XLMIG_OK;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? xlmig_preflight_memory(name, need, (uint64_t)kb * 1024) : XLMIG_OK;
}

/* The name must be free, unless the domain holding it is the source of
 * this very migration on this same host: the source renames it away
 * (NAME--migratedaway) before GO, and only after GO does the new copy
 * take NAME, as with `xl migrate` to localhost. */
static int name_free(struct xlmig_job *job, const char *name)
{
	struct xlmig_domain_info di;
	int rc;

	hv_lock(job);
	rc = hv(job)->ops->lookup(hv(job), name, &di);
	hv_unlock(job);
	if (rc != XLMIG_OK)
		return XLMIG_OK;
	if (job->local_src_domid && di.domid == job->local_src_domid) {
		xlmig_info("job %s: %s (domid %u) is the source of this localhost migration: it gives up the name before GO",
			   job->rec.id, name, di.domid);
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_EXISTS, "a domain named %s already exists on the destination (domid %u): destroy or rename it first",
			  name, di.domid);
}

/* Is the source this host?  Its host id and domain id are checked like
 * any field from the network; a source that sends none is another host. */
static int preflight_source_identity(struct xlmig_job *job, const struct xlmig_json *pf)
{
	char here[XLMIG_HOST_ID_LEN + 1];
	const char *there = NULL;
	uint64_t domid = 0;
	int rc;

	job->local_src_domid = 0;
	if (xlmig_json_get_str(pf, "source_host", &there) != XLMIG_OK)
		return XLMIG_OK;
	rc = xlmig_json_get_u64(pf, "source_domid", &domid);
	if (rc != XLMIG_OK || domid == 0 || domid >= XLMIG_DOMID_FIRST_RESERVED)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight from the source names its host but not a valid source domain id");
	if ((rc = xlmig_journal_host_id(job->env.journal, here)))
		return xlmig_fail_prefix(rc, "reading this host's id");
	if (!strcmp(there, here))
		job->local_src_domid = (uint32_t)domid;
	return XLMIG_OK;
}

/* The source's id of this job, journaled for its FATE queries (fate.h);
 * a source that predates them sends none and can only learn "unknown". */
static int preflight_source_job(struct xlmig_job *job, const struct xlmig_json *pf)
{
	const struct xlmig_json *n = xlmig_json_member(pf, "source_job");
	const char *id = NULL;
	int rc = xlmig_json_get_str(pf, "source_job", &id);

	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc || strlen(id) != n->text_len || !xlmig_fate_job_id_ok(id))
		return xlmig_fail(XLMIG_E_FORMAT, "preflight from the source has a malformed source_job");
	pthread_mutex_lock(&job->lock);
	snprintf(job->rec.src_job, sizeof(job->rec.src_job), "%s", id);
	pthread_mutex_unlock(&job->lock);
	return XLMIG_OK;
}

/* -D: the id must be free here, and the backend able to choose ids.
 * The restore would refuse too, but only once the stream is flowing. */
static int domid_free(struct xlmig_job *job)
{
	struct xlmig_domain_info di;
	char id[16];
	int rc;

	if (!job->opts.preserve_domid)
		return XLMIG_OK;
	if (!hv(job)->ops->keeps_domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "-D asks for domain id %u, but the %s backend "
				  "numbers its domains itself: migrate without -D", job->src_domid,
				  hv(job)->ops->name);
	snprintf(id, sizeof(id), "%u", job->src_domid);
	hv_lock(job);
	rc = hv(job)->ops->lookup(hv(job), id, &di);
	hv_unlock(job);
	if (rc == XLMIG_OK)
		return xlmig_fail(XLMIG_E_EXISTS, "-D asks for domain id %u, which %s has on the destination: "
				  "migrate without -D, or free that id", job->src_domid, di.name);
	return XLMIG_OK;
}

/* xl's -d, -p and -D as the source's PREFLIGHT asks for them. */
static int preflight_xl_options(struct xlmig_job *job, const struct xlmig_json *pf)
{
	uint64_t domid = 0;
	int rc = xlmig_json_get_u64(pf, "domid", &domid);

	if (rc == XLMIG_OK && (domid == 0 || domid >= XLMIG_DOMID_FIRST_RESERVED))
		return xlmig_fail(XLMIG_E_FORMAT, "preflight from the source asks to keep domain id %" PRIu64
				  " (-D), which is not a guest's id", domid);
	if (rc != XLMIG_OK && rc != XLMIG_E_NOTFOUND)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight from the source has a malformed domid");
	job->opts.preserve_domid = domid != 0;
	job->src_domid = (uint32_t)domid;
	xlmig_json_get_bool(pf, "pause", &job->opts.pause_after);
	xlmig_json_get_bool(pf, "debug", &job->opts.debug);
	return XLMIG_OK;
}

static const struct xlmig_guest_policy *guest_policy(const struct xlmig_job *job)
{
	return job->env.policy ? job->env.policy : xlmig_guest_policy_default();
}

/* The guest's facts against this host: every check preflight.h has,
 * all failures in one message.  A source that sends no facts is
 * checked for memory only, as before it sent them. */
static int check_guest(struct xlmig_job *job, const struct xlmig_json *pf, const char *name,
		       uint64_t mem)
{
	const struct xlmig_json *guest = xlmig_json_member(pf, "guest");
	int rc;

	if (!guest)
		return check_memory(name, mem);
	if ((rc = xlmig_preflight_guest_read(guest, &job->facts)))
		return xlmig_fail_prefix(rc, "preflight from the source");
	job->have_facts = true;
	if (strcmp(job->facts.name, name))
		return xlmig_fail(XLMIG_E_FORMAT, "preflight from the source names the guest %s but its facts %s",
				  name, job->facts.name);
	/* Nothing the policy refuses is probed: the answer must not tell a
	 * peer whether an arbitrary path or interface exists here. */
	if ((rc = xlmig_guest_policy_facts(guest_policy(job), &job->facts)))
		return rc;
	hv_lock(job);
	rc = xlmig_preflight_here(hv(job), &job->facts);
	hv_unlock(job);
	return rc;
}

/* What would become of the source's interfaces' offloads here, into
 * the answer (offload.h's forecast).  Only a bridge the policy lets
 * the guest join is probed: the answer must not tell a peer whether
 * another interface exists here.  An interface not judged is logged. */
static int forecast_offload(struct xlmig_job *job, const struct xlmig_json *pf, const char *guest,
			    struct xlmig_json_writer *w)
{
	const struct xlmig_json *off = xlmig_json_member(pf, "offload");
	struct xlmig_offload_state *st = NULL;
	struct xlmig_offload_forecast *fc = NULL;
	struct xlmig_offload_caps caps;
	size_t judged = 0;
	int rc = XLMIG_OK;

	if (!off)
		return XLMIG_OK;
	st = calloc(1, sizeof(*st));
	fc = calloc(1, sizeof(*fc));
	if (!st || !fc) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for the offload forecast");
		goto out;
	}
	if ((rc = xlmig_offload_state_read(off, st))) {
		xlmig_fail_prefix(rc, "preflight from the source");
		goto out;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct xlmig_offload_if *src = &st->ifs[i];
		if (!src->uplink[0])
			continue;
		if (xlmig_guest_policy_bridge(guest_policy(job), guest, src->uplink) ||
		    xlmig_offload_caps_read(src->uplink, &caps)) {
			xlmig_info("job %s: no offload forecast for %s: %s", job->rec.id, src->name, xlmig_errmsg());
			continue;
		}
		xlmig_offload_forecast_if(src, &caps, fc);
		judged++;
	}
	if (judged) {
		xlmig_json_key(w, "offload_forecast");
		xlmig_offload_forecast_write(fc, w);
	}
out:
	free(fc);
	free(st);
	return rc;
}

/* Check the source's PREFLIGHT and answer it. */
static int dest_preflight(struct xlmig_job *job, bool *verify)
{
	struct xlmig_json *pf = NULL;
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	const char *name, *backend;
	char incoming[XLMIG_NAME_MAX + sizeof(XLMIG_INCOMING_SUFFIX)];
	uint64_t mem = 0;
	int rc;

	XLMIG_FAULT(XLMIG_FAULT_HANDSHAKE, &job->cancel);
	if ((rc = recv_json(job, CTRL_PREFLIGHT, PREFLIGHT_TIMEOUT_MS, &pf)))
		goto out;
	if (xlmig_json_get_str(pf, "name", &name) || xlmig_json_get_u64(pf, "memory", &mem) ||
	    xlmig_json_get_str(pf, "backend", &backend) || !name[0] ||
	    strlen(name) + sizeof(XLMIG_INCOMING_SUFFIX) > XLMIG_NAME_MAX) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "preflight from the source lacks a valid name, memory or backend");
		goto out;
	}
	/* The rules of -C configs: the name becomes a domain here, and one
	 * of digits only would later be read as a domain id. */
	if (!xlmig_guest_name_ok(name)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "preflight from the source names a guest that is all "
				"digits or has characters other than letters, digits, '-', '_' and '.'");
		goto out;
	}
	xlmig_json_get_bool(pf, "verify", verify);
	xlmig_json_get_bool(pf, "check", &job->opts.check_only);
	if ((rc = preflight_xl_options(job, pf)) || (rc = preflight_source_identity(job, pf)) ||
	    (rc = preflight_source_job(job, pf)))
		goto out;
	pthread_mutex_lock(&job->lock);
	snprintf(job->rec.domain, sizeof(job->rec.domain), "%s", name);
	job->prog.mem_bytes = job->stats.mem_bytes = mem;
	pthread_mutex_unlock(&job->lock);
	snprintf(incoming, sizeof(incoming), "%s%s", name, XLMIG_INCOMING_SUFFIX);
	if (strcmp(backend, hv(job)->ops->name))
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "the source runs the %s backend, this host %s: migrate between hosts of the same kind",
				backend, hv(job)->ops->name);
	if (!rc && !(rc = name_free(job, name)) && !(rc = name_free(job, incoming)) &&
	    !(rc = check_guest(job, pf, name, mem)))
		rc = domid_free(job);
	if (rc)
		goto out;
	job->preflight_ok = true;
	begin_json(&w, &b);
	xlmig_json_kv_bool(&w, "pause", job->opts.pause_after);
	if (job->opts.check_only)
		xlmig_json_kv_bool(&w, "check", true);
	if (job->opts.preserve_domid)
		xlmig_json_kv_uint(&w, "domid", job->src_domid);
	if ((rc = forecast_offload(job, pf, name, &w)))
		goto out;
	rc = send_json(job, CTRL_PREFLIGHT_OK, &w);
out:
	if (rc)
		xlmig_conn_report_failure(job->conn, rc);
	xlmig_json_free(pf);
	xlmig_buf_free(&b);
	return rc;
}

struct consumer {
	struct xlmig_job *job;
	int fd;
	char name[XLMIG_NAME_MAX + sizeof(XLMIG_INCOMING_SUFFIX)];
	uint32_t domid;
	int rc;
	atomic_bool finished; /* the restore returned (set before its fd closes) */
	char msg[512];
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct xlmig_job *job = c->job;
	struct xlmig_restore_opts ro = {
		.name = c->name, .debug = job->opts.debug, .domid = job->src_domid,
		.policy = guest_policy(job),
	};

	c->rc = hv(job)->ops->restore(hv(job), c->fd, &ro, &c->domid);
	if (c->rc)
		snprintf(c->msg, sizeof(c->msg), "%s", xlmig_errmsg());
	atomic_store(&c->finished, true);
	close(c->fd);
	return NULL;
}

/* Receive the stream into the backend's restore; the guest ends paused
 * as NAME--incoming. */
static int dest_transfer(struct xlmig_job *job, uint32_t *domid)
{
	struct consumer c = { .job = job, .domid = 0 };
	struct xlmig_xfer_opts xo;
	pthread_t tid;
	bool restore_first;
	int fds[2], rc, err;

	xlmig_xfer_opts_default(&xo);
	/* Frames waiting here for the restore are part of the downtime once
	 * the guest stops, and the source cannot see them: keep them few
	 * (a 2 GiB guest at 1 Gbit/s: 380 ms downtime with 32 MiB held). */
	xo.reorder_bytes = RECV_HOLD_BYTES;
	xo.spent = &job->xfer_spent;
	/* The restore makes a new guest: its pages start zero (xfer.h). */
	xo.xalloc_zero_pages = true;
	snprintf(c.name, sizeof(c.name), "%s%s", job->rec.domain, XLMIG_INCOMING_SUFFIX);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	widen_pipe(fds[0]);
	c.fd = fds[0];
	if ((err = pthread_create(&tid, NULL, consumer_main, &c))) {
		close(fds[0]);
		close(fds[1]);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the restore thread: %s", strerror(err));
	}
	set_in_xfer(job, true);
	rc = xlmig_xfer_recv(job->conn, fds[1], &xo, &job->xs, &job->cancel);
	set_in_xfer(job, false);
	job->window_since = xlmig_now_ns();
	/* A restore that gave up before the stream ended (a refused -D, a
	 * bad record) made the transfer fail writing to it: it is the cause. */
	restore_first = atomic_load(&c.finished);
	close(fds[1]);   /* the restore sees the end of the stream */
	pthread_join(tid, NULL);
	window_took(job, XLMIG_WIN_DST_RESTORE, &job->window_since);
	job->stats.bytes_wire = job->xs.wire_bytes;
	job->stats.bytes_stream = job->xs.stream_bytes;
	job->stats.codec = job->xs.codec;
	job->stats.delta_cache_bytes = xlmig_conn_session(job->conn)->cache_bytes;
	job->stats.stream_digest = xlmig_stream_digest_name(job->xs.digest_kind);
	job->stats.transport = xlmig_conn_transport(job->conn);
	*domid = c.domid;
	if (c.rc && (!rc || restore_first))
		rc = xlmig_fail(c.rc, "restoring the guest: %s", c.msg);
	return rc;
}

/* The providers' report travels to the source in READY. */
static void write_ready_side(struct xlmig_job *job, struct xlmig_json_writer *w)
{
	struct xlmig_json *rep = NULL;

	if (!job->side_report.len ||
	    xlmig_json_parse((const char *)job->side_report.data, job->side_report.len, &rep))
		return;
	xlmig_json_key(w, "side");
	xlmig_json_value(w, rep);
	xlmig_json_free(rep);
}

static int dest_ready(struct xlmig_job *job, uint32_t domid, bool verify)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc = XLMIG_OK;

	/* PREFLIGHT found the name free, but a guest may have taken it here
	 * since (an administrator's xl create during the pre-copy).  Refuse
	 * now, while the source can simply resume: after GO the rename
	 * would fail with the source's copy already renamed aside. */
	if ((rc = name_free(job, job->rec.domain))) {
		xlmig_fail_prefix(rc, "the guest's name was taken here during the migration");
		goto out;
	}
	begin_json(&w, &b);
	if (verify) {
		uint64_t t0 = xlmig_now_ns();
		if ((rc = verify_figures(job, domid, job->digest_dst, &job->counter_dst)))
			goto out;
		job->verify_ns = xlmig_now_ns() - t0;
		window_took(job, XLMIG_WIN_DST_VERIFY, &job->window_since);
		xlmig_json_kv_str(&w, "digest", job->digest_dst);
		if (hv(job)->ops->counter)
			xlmig_json_kv_uint(&w, "counter", job->counter_dst);
		xlmig_json_kv_uint(&w, "verify_ms", job->verify_ns / 1000000);
	}
	write_ready_side(job, &w);
	window_send(job, &w, XLMIG_WIN_DST_RESTORE, XLMIG_WIN_DST_VERIFY);
	show_step(job, XLMIG_STEP_READY);
	XLMIG_FAULT(XLMIG_FAULT_READY, &job->cancel);
	/* Once READY is sent the source decides: a cancel here after it
	 * sent GO would leave it in doubt, its guest paused. */
	if (!(rc = enter_commit(job)))
		rc = send_json(job, CTRL_READY, &w);
out:
	xlmig_buf_free(&b);
	return rc;
}

/* GO received: take the name, run, report. */
static int dest_start_guest(struct xlmig_job *job, uint32_t domid)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc, src;

	hv_lock(job);
	rc = hv(job)->ops->rename(hv(job), domid, job->rec.domain);
	hv_unlock(job);
	window_took(job, XLMIG_WIN_DST_RENAME, &job->window_since);
	XLMIG_FAULT(XLMIG_FAULT_UNPAUSE, &job->cancel);
	hv_lock(job);
	if (!rc && !job->opts.pause_after) {
		rc = hv(job)->ops->unpause(hv(job), domid);
		window_took(job, XLMIG_WIN_DST_UNPAUSE, &job->window_since);
	}
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
		if (hv(job)->ops->destroy(hv(job), domid))
			xlmig_error("job %s: destroying the failed copy of %s failed too: %s",
				    job->rec.id, job->rec.domain, xlmig_errmsg());
		xlmig_fail(rc, "%s", msg);
	}
	hv_unlock(job);
	begin_json(&w, &b);
	xlmig_json_kv_bool(&w, "ok", rc == XLMIG_OK);
	window_send(job, &w, XLMIG_WIN_DST_GO_SYNC, XLMIG_WIN_DST_UNPAUSE);
	if (rc)
		xlmig_json_kv_str(&w, "error", xlmig_errmsg());
	src = send_json(job, CTRL_DONE, &w);
	if (src)
		xlmig_warn("job %s: could not tell the source the outcome: %s", job->rec.id, xlmig_errmsg());
	xlmig_buf_free(&b);
	return rc;
}

/* Before GO: discard whatever this host received. */
static void dest_rollback(struct xlmig_job *job, uint32_t domid, int err)
{
	char msg[XLMIG_JOB_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
	/* Destroy, then report: a source past GO resumes its own copy on
	 * this report (source_commit). */
	if (domid) {
		hv_lock(job);
		if (hv(job)->ops->destroy(hv(job), domid))
			xlmig_error("job %s: destroying the partial guest failed: %s (destroy it by hand)",
				    job->rec.id, xlmig_errmsg());
		hv_unlock(job);
	}
	xlmig_fail(err, "%s", msg);
	if (err != XLMIG_E_PEER && err != XLMIG_E_CLOSED)
		xlmig_conn_report_failure(job->conn, err);
	set_message(job, err, msg);
	set_step(job, cancelled(job) ? XLMIG_STEP_CANCELLED : XLMIG_STEP_FAILED);
}

static int run_dest(struct xlmig_job *job)
{
	struct xlmig_json *go = NULL;
	uint32_t domid = 0;
	bool verify = false;
	int rc;

	xlmig_conn_set_side_handler(job->conn, side_received, job);
	if ((rc = dest_preflight(job, &verify)))
		goto fail;
	if (job->opts.check_only) {
		set_message(job, 0, "preflight OK: this host can take the guest (--check: nothing was created)");
		rc = set_step(job, XLMIG_STEP_CHECKED);
		goto out;
	}
	if ((rc = set_step(job, XLMIG_STEP_PRECOPY)) || (rc = dest_transfer(job, &domid)))
		goto fail;
	pthread_mutex_lock(&job->lock);
	job->rec.domid = domid;
	pthread_mutex_unlock(&job->lock);
	if ((rc = dest_side_wait(job)))
		goto fail;
	side_restored(job, domid);
	window_took(job, XLMIG_WIN_DST_SIDE, &job->window_since);
	XLMIG_FAULT(XLMIG_FAULT_DIGEST, &job->cancel);
	if ((rc = dest_ready(job, domid, verify)) ||
	    (rc = recv_json(job, CTRL_GO, GO_TIMEOUT_MS, &go)))
		goto fail;
	job->window_since = xlmig_now_ns();
	if ((rc = set_step(job, XLMIG_STEP_GO)))
		goto fail;
	window_took(job, XLMIG_WIN_DST_GO_SYNC, &job->window_since);
	XLMIG_FAULT(XLMIG_FAULT_GO, &job->cancel);
	rc = dest_start_guest(job, domid);
	XLMIG_FAULT(XLMIG_FAULT_CLEANUP, &job->cancel);
	set_message(job, rc, rc ? xlmig_errmsg() : job->opts.pause_after
		    ? "the guest is on this host, paused as asked (-p)" : "the guest runs on this host");
	set_step(job, rc ? XLMIG_STEP_FAILED : XLMIG_STEP_DONE);
	goto out;
fail:
	dest_rollback(job, domid, rc);
out:
	side_end(job);
	xlmig_json_free(go);
	return rc;
}

int xlmig_job_run(struct xlmig_job *job)
{
	struct xlmig_conn *conn;
	int rc;

	if (job->rec.role == XLMIG_ROLE_SOURCE) {
		rc = run_source(job);
		window_source_ms(job);
	} else {
		rc = run_dest(job);
	}
	xlmig_xfer_spent_free(job->xfer_spent);
	job->xfer_spent = NULL;
	save_stats(job);
	/* Close now, not when the job is freed: the peer learns at once that
	 * this side is finished (a dropped session is its cue to roll back). */
	pthread_mutex_lock(&job->lock);
	conn = job->conn;
	job->conn = NULL;
	pthread_mutex_unlock(&job->lock);
	if (conn)
		xlmig_conn_close(conn);
	return rc;
}

/* ---- recovery after a restart ---- */

/* Recovery asks the hypervisor where the guest is before xlmigd serves
 * anything.  A toolstack call that never returns (Xen or xenstored
 * wedged by whatever killed the last daemon) must not keep the daemon
 * from serving and from saying so: each job is recovered on a thread of
 * its own, given this long, and what it was doing is kept for the
 * message when it overruns. */
#define RECOVER_TIMEOUT_MS 60000

struct recovery {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct xlmig_job_env env;
	struct xlmig_job_record rec;
	char doing[XLMIG_NAME_MAX + 64];   /* the backend call under way */
	bool done, abandoned;
	unsigned refs;                     /* the thread and the waiter */
};

static void recovery_put(struct recovery *rv)
{
	bool last;

	pthread_mutex_lock(&rv->lock);
	last = --rv->refs == 0;
	pthread_mutex_unlock(&rv->lock);
	if (last) {
		pthread_cond_destroy(&rv->cv);
		pthread_mutex_destroy(&rv->lock);
		free(rv);
	}
}

/* Every backend call of a recovery goes through here: it is named for
 * the administrator, and serialised with the jobs that start once the
 * daemon serves (an overrun recovery may still be running then). */
static void rv_begin(struct recovery *rv, const char *what, const char *arg)
{
	pthread_mutex_lock(&rv->lock);
	snprintf(rv->doing, sizeof(rv->doing), "%s %s", what, arg);
	pthread_mutex_unlock(&rv->lock);
	if (rv->env.hv_lock)
		pthread_mutex_lock(rv->env.hv_lock);
}

static void rv_end(struct recovery *rv)
{
	if (rv->env.hv_lock)
		pthread_mutex_unlock(rv->env.hv_lock);
}

static int rv_lookup(struct recovery *rv, const char *name, struct xlmig_domain_info *di)
{
	int rc;

	rv_begin(rv, "looking up domain", name);
	rc = rv->env.hv->ops->lookup(rv->env.hv, name, di);
	rv_end(rv);
	return rc;
}

static int rv_rename(struct recovery *rv, uint32_t domid, const char *name)
{
	int rc;

	rv_begin(rv, "renaming a domain to", name);
	rc = rv->env.hv->ops->rename(rv->env.hv, domid, name);
	rv_end(rv);
	return rc;
}

static int rv_resume(struct recovery *rv, uint32_t domid, const char *name)
{
	int rc;

	rv_begin(rv, "resuming", name);
	rc = xlmig_hv_resume_if_stopped(rv->env.hv, domid);
	rv_end(rv);
	return rc;
}

static int rv_unpause(struct recovery *rv, uint32_t domid, const char *name)
{
	int rc;

	rv_begin(rv, "unpausing", name);
	rc = rv->env.hv->ops->unpause(rv->env.hv, domid);
	rv_end(rv);
	return rc;
}

static int rv_destroy(struct recovery *rv, uint32_t domid, const char *name)
{
	int rc;

	rv_begin(rv, "destroying", name);
	rc = rv->env.hv->ops->destroy(rv->env.hv, domid);
	rv_end(rv);
	return rc;
}

static void recover_source(struct recovery *rv)
{
	struct xlmig_job_record *r = &rv->rec;
	struct xlmig_domain_info di;
	char away[XLMIG_NAME_MAX + sizeof(XLMIG_MIGRATED_SUFFIX)];
	int rc = XLMIG_OK;

	snprintf(away, sizeof(away), "%s%s", r->domain, XLMIG_MIGRATED_SUFFIX);
	if (r->step >= XLMIG_STEP_GO) {
		r->step = XLMIG_STEP_UNKNOWN;
		snprintf(r->message, sizeof(r->message),
			 "xlmigd restarted after GO: check both hosts, then resume at most one copy ('%s' here)", away);
		xlmig_error("job %s: %s", r->id, r->message);
		return;
	}
	if (rv_lookup(rv, away, &di) == XLMIG_OK)
		rc = rv_rename(rv, di.domid, r->domain);
	if (!rc && rv_lookup(rv, r->domain, &di) == XLMIG_OK) {
		rc = rv_resume(rv, di.domid, r->domain);
		snprintf(r->message, sizeof(r->message), rc ? "rolled back after an xlmigd restart; resuming failed: %s"
			 : "rolled back after an xlmigd restart%s; the guest runs here", rc ? xlmig_errmsg() : "");
	} else if (!rc) {
		snprintf(r->message, sizeof(r->message), "rolled back after an xlmigd restart; domain %s is no longer on this host",
			 r->domain);
	} else {
		snprintf(r->message, sizeof(r->message), "rolled back after an xlmigd restart, but renaming %s back to %s failed: %s "
			 "(rename it with 'xl rename' and resume it with 'xl unpause' if it is paused)",
			 away, r->domain, xlmig_errmsg());
	}
	r->step = XLMIG_STEP_FAILED;
	r->err = XLMIG_E_CANCELLED;
}

static void recover_dest(struct recovery *rv)
{
	struct xlmig_job_record *r = &rv->rec;
	struct xlmig_domain_info di;
	char incoming[XLMIG_NAME_MAX + sizeof(XLMIG_INCOMING_SUFFIX)];
	bool have = false;

	snprintf(incoming, sizeof(incoming), "%s%s", r->domain, XLMIG_INCOMING_SUFFIX);
	have = r->domain[0] && rv_lookup(rv, incoming, &di) == XLMIG_OK;
	if (r->step >= XLMIG_STEP_GO) {
		/* The source committed: finishing is the only safe way.  A
		 * daemon killed between the rename and the unpause left the
		 * copy under its own name: the journaled domid says it is ours. */
		bool named = !have && r->domid && rv_lookup(rv, r->domain, &di) == XLMIG_OK &&
			     di.domid == r->domid;
		int rc = have ? rv_rename(rv, di.domid, r->domain) : XLMIG_OK;

		have = have || named;
		if (have && !rc)
			rc = rv_unpause(rv, di.domid, r->domain);
		r->step = have && !rc ? XLMIG_STEP_DONE : XLMIG_STEP_UNKNOWN;
		snprintf(r->message, sizeof(r->message), "%s",
			 r->step == XLMIG_STEP_DONE ? "finished after an xlmigd restart; the guest runs here"
			 : "xlmigd restarted after GO and the incoming guest is gone: check the source host");
		return;
	}
	if (have && rv_destroy(rv, di.domid, incoming))
		xlmig_error("job %s: destroying %s failed: %s", r->id, incoming, xlmig_errmsg());
	r->step = XLMIG_STEP_FAILED;
	r->err = XLMIG_E_CANCELLED;
	snprintf(r->message, sizeof(r->message), "rolled back after an xlmigd restart; no copy kept here");
}

/* An overrun recovery that finishes after all journals its outcome,
 * which then replaces the "did not finish" record. */
static void *recovery_main(void *arg)
{
	struct recovery *rv = arg;
	bool late;

	if (rv->rec.role == XLMIG_ROLE_SOURCE)
		recover_source(rv);
	else
		recover_dest(rv);
	pthread_mutex_lock(&rv->lock);
	rv->done = true;
	late = rv->abandoned;
	pthread_cond_signal(&rv->cv);
	pthread_mutex_unlock(&rv->lock);
	if (late) {
		xlmig_info("job %s: recovery finished late: %s", rv->rec.id, rv->rec.message);
		if (xlmig_journal_put(rv->env.journal, &rv->rec))
			xlmig_error("job %s: journaling the late recovery failed: %s", rv->rec.id, xlmig_errmsg());
	}
	recovery_put(rv);
	return NULL;
}

/* What to tell the administrator of a job whose recovery overran. */
static void recovery_overrun(struct xlmig_job_record *r, const char *doing, unsigned ms)
{
	const char *suffix = r->role == XLMIG_ROLE_SOURCE ? XLMIG_MIGRATED_SUFFIX : XLMIG_INCOMING_SUFFIX;

	int n;

	r->step = XLMIG_STEP_UNKNOWN;
	n = snprintf(r->message, sizeof(r->message),
		 "recovery after the xlmigd restart did not finish within %u s (the hypervisor did not "
		 "answer while %s): check with 'xl list' that %s runs once, here or on the other host, "
		 "and remove any '%s%s' copy by hand; the outcome is recorded if the hypervisor answers later",
		 ms / 1000, doing, r->domain, r->domain, suffix);
	if (n < 0 || (size_t)n >= sizeof(r->message))
		xlmig_warn("job %s: the message below is cut short", r->id);
	xlmig_error("job %s: %s", r->id, r->message);
}

/* Recover one record and journal it, waiting at most timeout_ms for the
 * hypervisor. */
static int recover_one(const struct xlmig_job_env *env, struct xlmig_job_record *r, unsigned timeout_ms)
{
	struct recovery *rv = calloc(1, sizeof(*rv));
	struct timespec until = xlmig_deadline_ms(timeout_ms);
	pthread_t tid;
	int err = 0, rc;

	if (!rv)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory recovering job %s", r->id);
	pthread_mutex_init(&rv->lock, NULL);
	pthread_cond_init(&rv->cv, NULL);
	rv->env = *env;
	rv->rec = *r;
	rv->refs = 2;
	snprintf(rv->doing, sizeof(rv->doing), "starting");
	if ((err = pthread_create(&tid, NULL, recovery_main, rv))) {
		rv->refs = 1;
		recovery_put(rv);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the recovery of job %s: %s", r->id, strerror(err));
	}
	pthread_detach(tid);
	pthread_mutex_lock(&rv->lock);
	err = 0;
	while (!rv->done && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&rv->cv, &rv->lock, &until);
	if (rv->done)
		*r = rv->rec;
	else {
		rv->abandoned = true;
		recovery_overrun(r, rv->doing, timeout_ms);
	}
	/* Under the lock: a late outcome is journaled after this, never
	 * overwritten by it. */
	rc = xlmig_journal_put(env->journal, r);
	pthread_mutex_unlock(&rv->lock);
	recovery_put(rv);
	return rc;
}

/* ---- settling a source in doubt after GO (fate.h) ---- */

/* Before serving, a restarted xlmigd asks each destination once, briefly;
 * what is left is asked again in the background (xlmigd's indoubt.c). */
#define RECOVER_ASK_MS     3000
#define RECOVER_BUDGET_MS 10000

/* recs[i] is a source job in doubt this host may settle: nothing later
 * in the journal names its guest (a later job means the administrator
 * took over), and it knows its destination and its copy's domain id. */
static bool settleable(const struct xlmig_job_record *recs, size_t n, size_t i)
{
	const struct xlmig_job_record *r = &recs[i];

	if (r->role != XLMIG_ROLE_SOURCE || r->step != XLMIG_STEP_UNKNOWN || !r->domid ||
	    !r->peer[0] || !r->domain[0])
		return false;
	for (size_t j = i + 1; j < n; j++)
		if (!strcmp(recs[j].domain, r->domain))
			return false;
	return true;
}

static void hv_env_lock(const struct xlmig_job_env *env, bool on)
{
	if (env->hv_lock && on)
		pthread_mutex_lock(env->hv_lock);
	else if (env->hv_lock)
		pthread_mutex_unlock(env->hv_lock);
}

/* The job's copy is still aside here, as the job left it. */
static bool copy_aside(const struct xlmig_job_env *env, const struct xlmig_job_record *r)
{
	struct xlmig_domain_info di;
	char away[XLMIG_NAME_MAX + sizeof(XLMIG_MIGRATED_SUFFIX)];
	bool there;

	snprintf(away, sizeof(away), "%s%s", r->domain, XLMIG_MIGRATED_SUFFIX);
	hv_env_lock(env, true);
	there = env->hv->ops->lookup(env->hv, away, &di) == XLMIG_OK && di.domid == r->domid;
	hv_env_lock(env, false);
	return there;
}

/* Act on a definite answer.  The copy must still be the one the job
 * renamed away (same name, same domain id); otherwise someone else
 * handled it and the record stays as it is.  *settled says whether the
 * record (r, to be journaled by the caller) now has a final outcome. */
static int settle_one(const struct xlmig_job_env *env, struct xlmig_job_record *r,
		      const struct xlmig_fate_answer *a, bool *settled)
{
	struct xlmig_hv *h = env->hv;
	struct xlmig_domain_info di, other;
	char away[XLMIG_NAME_MAX + sizeof(XLMIG_MIGRATED_SUFFIX)];
	int rc;

	*settled = false;
	snprintf(away, sizeof(away), "%s%s", r->domain, XLMIG_MIGRATED_SUFFIX);
	hv_env_lock(env, true);
	rc = h->ops->lookup(h, away, &di);
	if (rc || di.domid != r->domid) {
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "%s (domid %u) is no longer here: left as it is",
				away, r->domid);
		goto out;
	}
	if (a->fate == XLMIG_FATE_COMMITTED) {
		if ((rc = h->ops->destroy(h, di.domid)))
			goto out;
		r->step = XLMIG_STEP_DONE;
		r->err = XLMIG_OK;
		snprintf(r->message, sizeof(r->message), "settled after GO: the destination took the guest "
			 "(%.300s); the copy here was destroyed", a->message);
	} else {
		/* The destination holds no copy and never will: ours is the
		 * guest, as if GO had never been said. */
		if (h->ops->lookup(h, r->domain, &other) == XLMIG_OK) {
			rc = xlmig_fail(XLMIG_E_EXISTS, "the destination rolled back, but a domain named %s "
					"(domid %u) exists here: rename and resume %s by hand",
					r->domain, other.domid, away);
			goto out;
		}
		if ((rc = h->ops->rename(h, di.domid, r->domain)) ||
		    (rc = xlmig_hv_resume_if_stopped(h, di.domid)))
			goto out;
		r->step = XLMIG_STEP_FAILED;
		r->err = XLMIG_E_PEER;
		snprintf(r->message, sizeof(r->message), "rolled back: the destination never took the guest "
			 "(%.300s); it runs here again", a->message);
	}
	*settled = true;
out:
	hv_env_lock(env, false);
	return rc;
}

/* Ask about one job in doubt and settle it if the answer allows. */
static int settle_in_doubt(const struct xlmig_job_env *env, struct xlmig_job_record *r,
			   int timeout_ms, bool *settled)
{
	struct xlmig_fate_answer a;
	char msg[XLMIG_JOB_MSG_MAX];
	int rc;

	*settled = false;
	rc = xlmig_fate_ask(r->peer, env->tls, env->key, env->insecure, r->id, timeout_ms, &a);
	if (!rc && (a.fate == XLMIG_FATE_COMMITTED || a.fate == XLMIG_FATE_ROLLED_BACK))
		rc = settle_one(env, r, &a, settled);
	if (*settled) {
		xlmig_info("job %s: %s", r->id, r->message);
		return xlmig_journal_put(env->journal, r);
	}
	if (rc)
		snprintf(msg, sizeof(msg), "in doubt after GO, its copy paused here as %s%s: %s; "
			 "xlmigd asks again", r->domain, XLMIG_MIGRATED_SUFFIX, xlmig_errmsg());
	else
		snprintf(msg, sizeof(msg), "in doubt after GO, its copy paused here as %s%s: the "
			 "destination says %s (%.200s); xlmigd asks again", r->domain,
			 XLMIG_MIGRATED_SUFFIX, xlmig_fate_name(a.fate), a.message);
	xlmig_warn("job %s: %s", r->id, msg);
	/* Journaled only when it changed: a retry is not news. */
	if (strcmp(msg, r->message)) {
		snprintf(r->message, sizeof(r->message), "%s", msg);
		return xlmig_journal_put(env->journal, r);
	}
	return XLMIG_OK;
}

int xlmig_job_settle_in_doubt(const struct xlmig_job_env *env, int timeout_ms, int budget_ms,
			      unsigned *left)
{
	struct xlmig_job_record *recs = NULL;
	uint64_t end = xlmig_now_ns() + (uint64_t)XLMIG_MAX(budget_ms, 0) * 1000000;
	size_t count = 0;
	unsigned still = 0;
	int rc = xlmig_journal_list(env->journal, &recs, &count);

	for (size_t i = 0; !rc && i < count; i++) {
		bool settled = false;

		if (!settleable(recs, count, i) || !copy_aside(env, &recs[i]))
			continue;
		if (budget_ms > 0 && xlmig_now_ns() >= end) {
			still++;
			continue;
		}
		rc = settle_in_doubt(env, &recs[i], timeout_ms, &settled);
		still += !settled;
	}
	free(recs);
	if (left)
		*left = still;
	return rc;
}

int xlmig_job_recover(const struct xlmig_job_env *env, unsigned *n)
{
	struct xlmig_job_record *recs = NULL;
	size_t count = 0;
	unsigned handled = 0;
	unsigned timeout_ms = env->recover_timeout_ms ? env->recover_timeout_ms : RECOVER_TIMEOUT_MS;
	int rc = xlmig_journal_list(env->journal, &recs, &count);

	for (size_t i = 0; !rc && i < count; i++) {
		struct xlmig_job_record *r = &recs[i];
		uint64_t t0 = xlmig_now_ns();

		if (xlmig_step_is_final(r->step))
			continue;
		xlmig_info("job %s (%s %s) was left at step %s: recovering", r->id,
			   xlmig_role_name(r->role), r->domain, xlmig_step_name(r->step));
		rc = recover_one(env, r, timeout_ms);
		if (!rc)
			xlmig_info("job %s: %s: %s (%" PRIu64 " ms)", r->id, xlmig_step_name(r->step),
				   r->message, (xlmig_now_ns() - t0) / 1000000);
		handled++;
	}
	free(recs);
	if (n)
		*n = handled;
	/* Jobs left in doubt after GO, by this recovery or an earlier one:
	 * their destinations may know.  Bounded: serving must not wait on
	 * a host that is down; the rest is asked again in the background. */
	if (!rc)
		rc = xlmig_job_settle_in_doubt(env, RECOVER_ASK_MS, RECOVER_BUDGET_MS, NULL);
	return rc;
}
