/*
 * indoubt.c - outgoing jobs left in doubt after GO are settled in the
 * background: a thread asks their destinations what became of them
 * (xlmig_job_settle_in_doubt, fate.h) with back-off, while the daemon
 * serves.  Recovery asked once before serving; a job that falls in doubt
 * while xlmigd runs wakes the thread at once.
 */
#include "xlmigd.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define ASK_TIMEOUT_MS  5000
#define FIRST_DELAY_MS  1000
#define MAX_DELAY_MS    (5 * 60 * 1000)

struct indoubt {
	struct xlmigd *d;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool poked;           /* a job fell in doubt: ask now */
	bool waiting;         /* something is left to ask about */
};

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *indoubt_main(void *arg)
{
	struct indoubt *t = arg;
	unsigned delay = FIRST_DELAY_MS;
	struct timespec until;

	pthread_mutex_lock(&t->lock);
	deadline_in(&until, delay);
	while (!t->stop) {
		unsigned left = 0;
		int rc = 0;

		/* Nothing left: sleep until a job falls in doubt. */
		if (!t->poked && !t->waiting)
			rc = pthread_cond_wait(&t->cond, &t->lock);
		else if (!t->poked)
			rc = pthread_cond_timedwait(&t->cond, &t->lock, &until);
		if (t->stop)
			break;
		if (rc != ETIMEDOUT && !t->poked)
			continue;   /* a spurious wake */
		if (t->poked)
			delay = FIRST_DELAY_MS;
		t->poked = false;
		pthread_mutex_unlock(&t->lock);
		if (xlmig_job_settle_in_doubt(&t->d->env, ASK_TIMEOUT_MS, 0, &left))
			xlmig_error("settling jobs in doubt: %s", xlmig_errmsg());
		pthread_mutex_lock(&t->lock);
		t->waiting = left > 0;
		if (left) {
			xlmig_info("%u job(s) still in doubt after GO: asking their destinations again in %u s",
				   left, delay / 1000);
			deadline_in(&until, delay);
			delay = XLMIG_MIN(delay * 2, MAX_DELAY_MS);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int xlmigd_indoubt_start(struct xlmigd *d)
{
	struct indoubt *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	int err;

	if (!t)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	t->d = d;
	/* Recovery may have left jobs in doubt: the first pass comes soon. */
	t->waiting = true;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((err = pthread_create(&t->tid, NULL, indoubt_main, t))) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the thread settling jobs in doubt: %s",
				  strerror(err));
	}
	d->indoubt = t;
	return XLMIG_OK;
}

void xlmigd_indoubt_poke(struct xlmigd *d)
{
	struct indoubt *t = d->indoubt;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->poked = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void xlmigd_indoubt_stop(struct xlmigd *d)
{
	struct indoubt *t = d->indoubt;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	/* At most one question under way, bounded by ASK_TIMEOUT_MS. */
	pthread_join(t->tid, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	d->indoubt = NULL;
}
