/*
 * ratelimit.c - the shared token bucket.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ratelimit.h"

#define MIN_BURST (64u << 10)
#define STOP_CHECK_NS 5000000ull

struct xlmig_ratelimit {
	pthread_mutex_t lock;
	uint64_t rate;        /* bytes per second, 0 = none */
	uint64_t burst_set;   /* as configured, 0 = derived from the rate */
	double burst;
	double tokens;        /* may go negative: the queued takers' debt */
	uint64_t last_ns;
};

static double burst_for(uint64_t rate, uint64_t burst)
{
	if (burst)
		return (double)burst;
	return (double)XLMIG_MAX(rate / 10, (uint64_t)MIN_BURST);
}

int xlmig_ratelimit_new(uint64_t rate, uint64_t burst, struct xlmig_ratelimit **out)
{
	struct xlmig_ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the bandwidth limiter");
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst_set = burst;
	rl->burst = burst_for(rate, burst);
	rl->tokens = rl->burst;
	rl->last_ns = xlmig_now_ns();
	*out = rl;
	return XLMIG_OK;
}

void xlmig_ratelimit_free(struct xlmig_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

void xlmig_ratelimit_set_rate(struct xlmig_ratelimit *rl, uint64_t rate)
{
	pthread_mutex_lock(&rl->lock);
	rl->rate = rate;
	rl->burst = burst_for(rate, rl->burst_set);
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	pthread_mutex_unlock(&rl->lock);
}

uint64_t xlmig_ratelimit_rate(struct xlmig_ratelimit *rl)
{
	uint64_t r;

	pthread_mutex_lock(&rl->lock);
	r = rl->rate;
	pthread_mutex_unlock(&rl->lock);
	return r;
}

uint64_t xlmig_ratelimit_reserve(struct xlmig_ratelimit *rl, uint64_t n, uint64_t now_ns)
{
	uint64_t wait = 0;

	pthread_mutex_lock(&rl->lock);
	if (rl->rate) {
		if (now_ns > rl->last_ns)
			rl->tokens += (double)(now_ns - rl->last_ns) * (double)rl->rate / 1e9;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->tokens -= (double)n;
		if (rl->tokens < 0)
			wait = (uint64_t)(-rl->tokens * 1e9 / (double)rl->rate);
	}
	if (now_ns > rl->last_ns)
		rl->last_ns = now_ns;
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

int xlmig_ratelimit_take(struct xlmig_ratelimit *rl, uint64_t n, const atomic_bool *stop)
{
	uint64_t start = xlmig_now_ns();
	uint64_t end = start + xlmig_ratelimit_reserve(rl, n, start);

	for (;;) {
		uint64_t now = xlmig_now_ns(), step;
		struct timespec ts;

		if (stop && atomic_load(stop))
			return xlmig_fail(XLMIG_E_CANCELLED, "transfer stopped");
		if (now >= end)
			return XLMIG_OK;
		step = XLMIG_MIN(end - now, STOP_CHECK_NS);
		ts.tv_sec = (time_t)(step / 1000000000ull);
		ts.tv_nsec = (long)(step % 1000000000ull);
		nanosleep(&ts, NULL);
	}
}
