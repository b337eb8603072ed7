/*
 * test_adapt.c - the adaptive codec's choice, driven with made-up
 * measurements: raw on a fast link, zstd on a slow one, the level that
 * pays, probes that back off, caps, and link time counted once for
 * writers working side by side.
 */
#include "unit.h"

#include "adapt.h"

#include <time.h>

#define MB 1000000.0

/* A made-up encoder: MB/s on a whole CPU and ratio per candidate, and
 * the share of a CPU it gets (0 = a whole one). */
struct model {
	double rate[XLMIG_ADAPT_CHOICES];
	double ratio[XLMIG_ADAPT_CHOICES];
	double share;
};

static const struct model cpu_ok = { { 2000, 400, 150 }, { 1.3, 2.0, 2.2 }, 0 };

static int idx(int level)
{
	for (int i = 0; i < XLMIG_ADAPT_CHOICES; i++)
		if (xlmig_adapt_levels[i] == level)
			return i;
	return -1;
}

/* Code one 4 MiB batch at the level chosen; the link moves link_mbps. */
static int step(struct xlmig_adapt *a, const struct model *m, double link_mbps)
{
	uint64_t in = 4u << 20;
	int level = xlmig_adapt_choose(a), i = idx(level);
	uint64_t out = (uint64_t)((double)in / m->ratio[i]);
	uint64_t cpu_ns = (uint64_t)((double)in / (m->rate[i] * MB) * 1e9);
	uint64_t ns = (uint64_t)((double)cpu_ns / (m->share > 0 ? m->share : 1.0));

	xlmig_adapt_batch(a, level, in, out, ns, cpu_ns, in, out);
	xlmig_adapt_link_sample(a, (uint64_t)(link_mbps * MB / 10), 100000000ull);
	return level;
}

/* The level chosen most in n batches. */
static int settle(struct xlmig_adapt *a, const struct model *m, double link_mbps, unsigned n)
{
	unsigned count[XLMIG_ADAPT_CHOICES] = { 0 };
	int best = 0;

	for (unsigned k = 0; k < n; k++)
		count[idx(step(a, m, link_mbps))]++;
	for (int i = 1; i < XLMIG_ADAPT_CHOICES; i++)
		if (count[i] > count[best])
			best = i;
	return xlmig_adapt_levels[best];
}

TEST(adapt_raw_when_the_link_outruns_compression)
{
	struct xlmig_adapt a;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(settle(&a, &cpu_ok, 3000, 100), 0);
	xlmig_adapt_destroy(&a);
}

TEST(adapt_zstd1_on_a_gigabit_link)
{
	struct xlmig_adapt a;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(settle(&a, &cpu_ok, 125, 100), 1);
	xlmig_adapt_stats(&a, &st);
	CHECK(strstr(st.reason, "zstd-1") != NULL);
	CHECK(strstr(st.reason, "link is the bottleneck") != NULL);
	CHECK(st.batches[idx(1)] > st.batches[idx(0)] + st.batches[idx(3)]);
	xlmig_adapt_destroy(&a);
}

TEST(adapt_higher_level_on_a_slow_link)
{
	struct xlmig_adapt a;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(settle(&a, &cpu_ok, 10, 100), 3);
	xlmig_adapt_destroy(&a);
}

/* The same link, but the encoder gets a tenth of the CPU: raw. */
TEST(adapt_raw_when_the_cpu_is_busy)
{
	static const struct model busy = { { 2000, 400, 150 }, { 1.3, 2.0, 2.2 }, 0.1 };
	struct xlmig_adapt a;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(settle(&a, &busy, 125, 100), 0);
	xlmig_adapt_stats(&a, &st);
	CHECK(st.cpu_share > 0.09 && st.cpu_share < 0.11);
	CHECK(strstr(st.reason, "10% of a CPU") != NULL);
	xlmig_adapt_destroy(&a);
}

/* Raw measured first while its thread waited for the CPU (5 % of it),
 * then the CPU freer (50 %) for the others, on a fast local link: the
 * first choice after measuring is raw.  Judged by wall-clock rates, raw
 * (100 MB/s then) lost to zstd-1 (200 MB/s), and from zstd-3 the probes
 * never went back to raw. */
TEST(adapt_raw_measured_while_starved_is_not_kept_out)
{
	static const struct model starved = { { 2000, 400, 150 }, { 1.3, 2.0, 2.2 }, 0.05 };
	static const struct model freer = { { 2000, 400, 150 }, { 1.3, 2.0, 2.2 }, 0.5 };
	struct xlmig_adapt a;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(step(&a, &starved, 200), 0);
	CHECK_EQ(step(&a, &freer, 200), 1);
	CHECK_EQ(step(&a, &freer, 200), 3);
	CHECK_EQ(xlmig_adapt_choose(&a), 0);
	xlmig_adapt_destroy(&a);
}

/* Conditions change mid-transfer: the choice follows. */
TEST(adapt_follows_a_changing_link)
{
	struct xlmig_adapt a;

	xlmig_adapt_init(&a, true, 0);
	CHECK_EQ(settle(&a, &cpu_ok, 3000, 100), 0);
	CHECK_EQ(settle(&a, &cpu_ok, 125, 100), 1);
	CHECK_EQ(settle(&a, &cpu_ok, 3000, 100), 0);
	xlmig_adapt_destroy(&a);
}

TEST(adapt_probes_back_off_while_they_confirm)
{
	struct xlmig_adapt a;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, true, 0);
	settle(&a, &cpu_ok, 125, 2000);
	xlmig_adapt_stats(&a, &st);
	/* 8, 16, then 32 apart: about one in 32, not one in 8. */
	CHECK(st.probes >= 2000 / 32 - 3);
	CHECK(st.probes <= 2000 / 32 + 3);
	xlmig_adapt_destroy(&a);
}

TEST(adapt_fixed_and_capped)
{
	struct xlmig_adapt a;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, false, 0);
	CHECK_EQ(settle(&a, &cpu_ok, 10, 50), 0);
	xlmig_adapt_stats(&a, &st);
	CHECK_EQ(st.batches[0], 50);
	CHECK_EQ(st.probes, 0);
	xlmig_adapt_destroy(&a);

	/* A cap of 1 never gives 3, even where 3 would pay. */
	xlmig_adapt_init(&a, true, 1);
	for (int k = 0; k < 300; k++)
		CHECK(step(&a, &cpu_ok, 10) != 3);
	xlmig_adapt_destroy(&a);
}

/* Four writers busy over the same intervals: the link moved all their
 * frames in that time, not in four times as long. */
TEST(adapt_overlapping_writers_count_once)
{
	struct xlmig_adapt a;
	struct timespec d = { 0, 5000000 };
	uint64_t t0, t1, bytes = 1u << 20;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, true, 0);
	t0 = xlmig_now_ns();
	for (int round = 0; round < 12; round++) {
		for (int w = 0; w < 4; w++)
			xlmig_adapt_link_begin(&a);
		nanosleep(&d, NULL);
		for (int w = 0; w < 4; w++)
			xlmig_adapt_link_end(&a, bytes, 0);
	}
	t1 = xlmig_now_ns();
	xlmig_adapt_stats(&a, &st);
	/* Summing each writer's time would give a quarter of this. */
	CHECK(st.link_bps >= 0.7 * 48.0 * (double)bytes * 1e9 / (double)(t1 - t0));
	xlmig_adapt_destroy(&a);
}

/* A writer that spent most of its write waiting for a CPU (behind the
 * encoder on a host with one) credits only the rest to the link. */
TEST(adapt_cpu_wait_is_not_link_time)
{
	struct xlmig_adapt a;
	struct timespec d = { 0, 2000000 };
	uint64_t bytes = 1u << 20;
	struct xlmig_adapt_stats st;

	xlmig_adapt_init(&a, true, 0);
	for (int round = 0; round < 100; round++) {
		uint64_t t0 = xlmig_now_ns();

		xlmig_adapt_link_begin(&a);
		nanosleep(&d, NULL);
		/* all but half a millisecond of the round spent waiting */
		xlmig_adapt_link_end(&a, bytes, xlmig_now_ns() - t0 - 500000);
	}
	xlmig_adapt_stats(&a, &st);
	/* 1 MiB in about half a millisecond of link time, not in 2 */
	CHECK(st.link_bps >= 2.0 * (double)bytes * 1e9 / 2e6);
	xlmig_adapt_destroy(&a);
}
