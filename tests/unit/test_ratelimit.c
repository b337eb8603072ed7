/*
 * test_ratelimit.c - the shared token bucket: its arithmetic on a fake
 * clock, and its accuracy with real threads and sleeps (about half a
 * second a run).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "ratelimit.h"
#include "unit.h"

#define MS 1000000ull

TEST(ratelimit_arithmetic)
{
	struct xlmig_ratelimit *rl;
	uint64_t t;

	CHECK_OK(xlmig_ratelimit_new(1000000, 100000, &rl));
	t = xlmig_now_ns() + 10 * MS;  /* the bucket starts full at creation */
	/* the burst is free ... */
	CHECK_EQ(xlmig_ratelimit_reserve(rl, 100000, t), 0);
	/* ... then 1 MB at 1 MB/s is a second of debt */
	CHECK_INT(xlmig_ratelimit_reserve(rl, 1000000, t), >=, 999 * MS);
	CHECK_INT(xlmig_ratelimit_reserve(rl, 0, t), <=, 1001 * MS);
	/* half a second later, half of it is paid */
	CHECK_INT(xlmig_ratelimit_reserve(rl, 0, t + 500 * MS), >=, 499 * MS);
	CHECK_INT(xlmig_ratelimit_reserve(rl, 0, t + 500 * MS), <=, 501 * MS);
	/* a long idle time refills only up to the burst */
	CHECK_EQ(xlmig_ratelimit_reserve(rl, 100000, t + 60000 * MS), 0);
	CHECK_INT(xlmig_ratelimit_reserve(rl, 1000, t + 60000 * MS), >=, MS);
	/* no cap: never a wait */
	xlmig_ratelimit_set_rate(rl, 0);
	CHECK_EQ(xlmig_ratelimit_rate(rl), 0);
	CHECK_EQ(xlmig_ratelimit_reserve(rl, 1ull << 40, t + 60001 * MS), 0);
	xlmig_ratelimit_free(rl);
}

struct taker {
	struct xlmig_ratelimit *rl;
	unsigned chunks;
	int rc;
};

static void *take_chunks(void *arg)
{
	struct taker *t = arg;

	for (unsigned i = 0; i < t->chunks && t->rc == XLMIG_OK; i++)
		t->rc = xlmig_ratelimit_take(t->rl, 64 << 10, NULL);
	return NULL;
}

/* Four threads sharing a 16 MiB/s cap move 8 MiB + the burst: the time
 * it took over the time the cap allows. */
static int shared_run(double *ratio)
{
	const uint64_t rate = 16u << 20, burst = 256u << 10;
	struct taker t[4];
	pthread_t th[4];
	struct xlmig_ratelimit *rl;
	uint64_t start, total = 0;
	int rc = xlmig_ratelimit_new(rate, burst, &rl);

	if (rc != XLMIG_OK)
		return rc;
	start = xlmig_now_ns();
	for (int i = 0; i < 4; i++) {
		t[i] = (struct taker){ .rl = rl, .chunks = 33 };
		total += (uint64_t)t[i].chunks << 16;
		pthread_create(&th[i], NULL, take_chunks, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (t[i].rc != XLMIG_OK)
			rc = t[i].rc;
	}
	*ratio = (double)(xlmig_now_ns() - start) / 1e9 /
		 ((double)(total - burst) / (double)rate);
	xlmig_ratelimit_free(rl);
	return rc;
}

/* Never faster than the cap, in every run.  Slower only by scheduling
 * delays (the exact arithmetic is checked above on a fake clock): a loaded
 * machine can stretch any one run, so the runs go on (up to 8) until one
 * got its CPU; a limiter that is always too slow still fails. */
TEST(ratelimit_shared_accuracy)
{
	double ratio = 0, best = 1e9;

	for (int run = 0; run < 8 && best >= 1.5; run++) {
		CHECK_OK(shared_run(&ratio));
		CHECK(ratio > 0.95);
		if (ratio < best)
			best = ratio;
	}
	if (best >= 1.5)
		unit_fail(__FILE__, __LINE__, "every run took at least %.2f times the capped time", best);
}

TEST(ratelimit_stop_is_prompt)
{
	struct xlmig_ratelimit *rl;
	atomic_bool stop = true;
	uint64_t start;

	CHECK_OK(xlmig_ratelimit_new(1000, 0, &rl));
	start = xlmig_now_ns();
	CHECK_EQ(xlmig_ratelimit_take(rl, 1 << 30, &stop), XLMIG_E_CANCELLED);
	/* Without the stop, 1 GiB at 1000 B/s is twelve days: returning at
	 * all shows the stop was seen; ten seconds absorbs any load. */
	CHECK_INT(xlmig_now_ns() - start, <, 10000 * MS);
	xlmig_ratelimit_free(rl);
}
