/*
 * jobs.c - the daemon's job table: outgoing jobs queue for a free slot
 * (--max-jobs) and run in threads; incoming jobs run in the listener's
 * threads.  Threads report to the loop through a socketpair, so only the
 * loop ever changes the table.
 */
#include "xlmigd.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

enum note_kind {
	NOTE_OUT_DONE = 1,     /* an outgoing job's thread finished */
	NOTE_IN_START,         /* an incoming job began */
	NOTE_IN_DONE,          /* an incoming job finished */
};

struct xlmigd_note {
	enum note_kind kind;
	struct xlmig_job *job;
};

static void post(struct xlmigd *d, enum note_kind kind, struct xlmig_job *job)
{
	struct xlmigd_note n = { .kind = kind, .job = job };

	/* A datagram-like write of a few bytes on a blocking socketpair does
	 * not fail short; losing it would leak a slot, so insist. */
	if (xlmig_write_full(d->note_fd[1], &n, sizeof(n)) != XLMIG_OK)
		xlmig_error("cannot notify the event loop: %s", xlmig_errmsg());
}

static void append(struct xlmigd *d, struct xlmigd_job *dj)
{
	struct xlmigd_job **p = &d->jobs;

	while (*p)
		p = &(*p)->next;
	*p = dj;
}

static struct xlmigd_job *unlink_job(struct xlmigd *d, struct xlmig_job *job)
{
	for (struct xlmigd_job **p = &d->jobs; *p; p = &(*p)->next)
		if ((*p)->job == job) {
			struct xlmigd_job *dj = *p;
			*p = dj->next;
			return dj;
		}
	return NULL;
}

struct xlmig_job *xlmigd_jobs_find(struct xlmigd *d, const char *id)
{
	for (struct xlmigd_job *dj = d->jobs; dj; dj = dj->next)
		if (!strcmp(xlmig_job_id(dj->job), id))
			return dj->job;
	return NULL;
}

struct out_thread {
	struct xlmigd *d;
	struct xlmig_job *job;
};

static void *run_outgoing(void *arg)
{
	struct out_thread *t = arg;
	int rc = xlmig_job_run(t->job);

	if (rc)
		xlmig_warn("job %s failed: %s", xlmig_job_id(t->job), xlmig_errmsg());
	post(t->d, NOTE_OUT_DONE, t->job);
	free(t);
	return NULL;
}

static int start_thread(struct xlmigd *d, struct xlmigd_job *dj)
{
	struct out_thread *t = malloc(sizeof(*t));
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	if (!t)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory starting a job");
	*t = (struct out_thread){ .d = d, .job = dj->job };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &attr, run_outgoing, t);
	pthread_attr_destroy(&attr);
	if (err) {
		free(t);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start a job thread: %s", strerror(err));
	}
	dj->started = true;
	d->running_out++;
	return XLMIG_OK;
}

/* Start queued outgoing jobs while slots are free. */
static void start_queued(struct xlmigd *d)
{
	for (struct xlmigd_job *dj = d->jobs; dj && !d->stopping; dj = dj->next) {
		if (d->running_out >= d->cfg.max_jobs)
			break;
		if (dj->started || xlmig_job_role(dj->job) != XLMIG_ROLE_SOURCE)
			continue;
		if (start_thread(d, dj))
			xlmig_error("job %s: %s", xlmig_job_id(dj->job), xlmig_errmsg());
	}
}

void xlmigd_jobs_start_now(struct xlmigd *d, struct xlmigd_job *dj)
{
	if (!dj->started && !d->stopping && start_thread(d, dj))
		xlmig_error("job %s: %s", xlmig_job_id(dj->job), xlmig_errmsg());
}

static void finish(struct xlmigd *d, struct xlmig_job *job)
{
	struct xlmigd_job *dj = unlink_job(d, job);

	xlmig_job_free(job);
	free(dj);
}

/* A job that never started still has a queued record: close it. */
static void drop_queued(struct xlmigd *d)
{
	struct xlmigd_job **p = &d->jobs;

	while (*p) {
		struct xlmigd_job *dj = *p;
		if (dj->started || xlmig_job_role(dj->job) != XLMIG_ROLE_SOURCE) {
			p = &dj->next;
			continue;
		}
		*p = dj->next;
		xlmig_job_cancel(dj->job);
		/* Running a cancelled job only journals it as cancelled. */
		xlmig_job_run(dj->job);
		xlmig_job_free(dj->job);
		free(dj);
	}
}

static void maybe_exit(struct xlmigd *d)
{
	if (d->stopping && d->running_out == 0 && d->running_in == 0)
		event_base_loopexit(d->base, NULL);
}

static void on_note(evutil_socket_t fd, short what, void *arg)
{
	struct xlmigd *d = arg;
	struct xlmigd_note n;
	ssize_t got = read(fd, &n, sizeof(n));

	if (got != (ssize_t)sizeof(n))
		return;
	switch (n.kind) {
	case NOTE_OUT_DONE:
		d->running_out--;
		finish(d, n.job);
		start_queued(d);
		break;
	case NOTE_IN_START: {
		struct xlmigd_job *dj = calloc(1, sizeof(*dj));
		d->running_in++;
		if (!dj) {
			xlmig_error("out of memory tracking incoming job %s", xlmig_job_id(n.job));
			break;
		}
		dj->job = n.job;
		dj->started = true;
		append(d, dj);
		if (d->stopping)
			xlmig_job_cancel(n.job);
		break;
	}
	case NOTE_IN_DONE:
		d->running_in--;
		finish(d, n.job);
		break;
	}
	maybe_exit(d);
}

int xlmigd_side_add(struct xlmigd *d, const struct xlmig_side_provider *p)
{
	if (d->env.side.n == XLMIG_ARRAY_SIZE(d->side))
		return xlmig_fail(XLMIG_E_LIMIT, "more than %zu side-record providers", XLMIG_ARRAY_SIZE(d->side));
	d->side[d->env.side.n++] = p;
	d->env.side.p = d->side;
	return XLMIG_OK;
}

int xlmigd_jobs_init(struct xlmigd *d)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d->note_fd) != 0)
		return xlmig_fail(XLMIG_E_IO, "socketpair: %s", strerror(errno));
	d->note_ev = event_new(d->base, d->note_fd[0], EV_READ | EV_PERSIST, on_note, d);
	if (!d->note_ev || event_add(d->note_ev, NULL) != 0)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot watch the job notification socket");
	return XLMIG_OK;
}

void xlmigd_jobs_fini(struct xlmigd *d)
{
	drop_queued(d);
	if (d->note_ev)
		event_free(d->note_ev);
	for (int i = 0; i < 2; i++)
		if (d->note_fd[i] >= 0)
			close(d->note_fd[i]);
}

int xlmigd_jobs_add_source(struct xlmigd *d, struct xlmig_job *job)
{
	struct xlmigd_job *dj = calloc(1, sizeof(*dj));

	if (!dj)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory queueing a job");
	if (d->stopping) {
		free(dj);
		return xlmig_fail(XLMIG_E_CANCELLED, "xlmigd is shutting down: retry once it is restarted");
	}
	dj->job = job;
	append(d, dj);
	start_queued(d);
	return XLMIG_OK;
}

void xlmigd_jobs_post_incoming(struct xlmigd *d, struct xlmig_job *job)
{
	post(d, NOTE_IN_START, job);
}

void xlmigd_jobs_post_incoming_done(struct xlmigd *d, struct xlmig_job *job)
{
	post(d, NOTE_IN_DONE, job);
}

void xlmigd_jobs_shutdown(struct xlmigd *d)
{
	d->stopping = true;
	drop_queued(d);
	for (struct xlmigd_job *dj = d->jobs; dj; dj = dj->next)
		xlmig_job_cancel(dj->job);
	maybe_exit(d);
}
