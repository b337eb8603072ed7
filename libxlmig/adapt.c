/*
 * adapt.c - the adaptive page codec's choice (see adapt.h).
 */
#include "adapt.h"
#include "json.h"

#include <stdio.h>

const int xlmig_adapt_levels[XLMIG_ADAPT_CHOICES] = { 0, 1, 3 };

#define EWMA_NEW        0.3          /* weight of a new measurement */
#define MIN_SAMPLE      (64u << 10)  /* coded bytes below this say little */
#define LINK_SAMPLE_NS  20000000ull  /* writers' busy time per link sample */
#define PROBE_FIRST     8u           /* batches between probes, at first */
#define PROBE_MAX       32u    /* memory changes content along the guest */
#define LINK_MOVED      0.3          /* a link change this big re-probes */
#define SWITCH_GAIN     1.05         /* a rival must beat the choice by 5% */

void xlmig_adapt_init(struct xlmig_adapt *a, bool zstd_ok, int max_level)
{
	*a = (struct xlmig_adapt){ .fixed = !zstd_ok, .probe_every = PROBE_FIRST,
				   .encoders = 1, .probe_choice = -1 };
	a->st.encoders = 1;
	pthread_mutex_init(&a->lock, NULL);
	a->max_choice = zstd_ok ? XLMIG_ADAPT_CHOICES - 1 : 0;
	while (max_level > 0 && a->max_choice > 1 &&
	       xlmig_adapt_levels[a->max_choice] > max_level)
		a->max_choice--;
	snprintf(a->st.reason, sizeof(a->st.reason), "%s",
		 zstd_ok ? "no measurement yet" : "compression off: raw with zero pages elided");
}

void xlmig_adapt_set_encoders(struct xlmig_adapt *a, unsigned n)
{
	pthread_mutex_lock(&a->lock);
	a->encoders = n ? n : 1;
	a->st.encoders = a->encoders;
	pthread_mutex_unlock(&a->lock);
}

void xlmig_adapt_destroy(struct xlmig_adapt *a)
{
	pthread_mutex_destroy(&a->lock);
}

static void ewma(double *v, double x)
{
	*v = *v > 0 ? (1 - EWMA_NEW) * *v + EWMA_NEW * x : x;
}

/* The encoders' guest bytes per second with choice i on the CPU each
 * gets now (an unknown share is taken as a whole CPU). */
static double encoder_rate(const struct xlmig_adapt *a, int i)
{
	return a->rate[i] * (a->share > 0 ? a->share : 1.0) * a->encoders;
}

/* Guest bytes per second the pipeline would move with choice i: the
 * slower of the encoder and the link carrying compressed bytes.  An
 * unknown link is taken as no bottleneck. */
static double throughput(const struct xlmig_adapt *a, int i)
{
	double enc = encoder_rate(a, i);
	double link = a->link > 0 ? a->link * a->ratio[i] : enc;

	return enc < link ? enc : link;
}

static const char *level_name(int i, char *buf, size_t len)
{
	if (i == 0)
		return "raw";
	snprintf(buf, len, "zstd-%d", xlmig_adapt_levels[i]);
	return buf;
}

/* Re-decide from the estimates; caller holds the lock. */
static void decide(struct xlmig_adapt *a)
{
	int best = a->choice;
	char n1[16];

	/* First measure every candidate once, cheapest first. */
	for (int i = 0; i <= a->max_choice; i++) {
		if (a->rate[i] <= 0) {
			a->choice = i;
			snprintf(a->st.reason, sizeof(a->st.reason), "measuring %s",
				 level_name(i, n1, sizeof(n1)));
			return;
		}
	}
	for (int i = 0; i <= a->max_choice; i++)
		if (throughput(a, i) > throughput(a, best) * SWITCH_GAIN)
			best = i;
	if (best != a->choice)
		a->st.switches++;
	a->choice = best;
	snprintf(a->st.reason, sizeof(a->st.reason),
		 "%s: %.0f MB/s of pages (encoder %.0f MB/s on %u thread%s at %.0f%% of a CPU, "
		 "ratio %.2f, link %.0f MB/s); %s",
		 level_name(best, n1, sizeof(n1)), throughput(a, best) / 1e6,
		 encoder_rate(a, best) / 1e6, a->encoders, a->encoders > 1 ? "s" : "",
		 (a->share > 0 ? a->share : 1.0) * 100,
		 a->ratio[best], a->link / 1e6,
		 a->link > 0 && encoder_rate(a, best) >= a->link * a->ratio[best] ?
		 "the link is the bottleneck" : "the encoder is the bottleneck");
}

int xlmig_adapt_choose(struct xlmig_adapt *a)
{
	int level;

	if (a->fixed)
		return 0;
	pthread_mutex_lock(&a->lock);
	decide(a);
	if (a->max_choice > 0 && a->probe_choice < 0 && ++a->since_probe >= a->probe_every) {
		/* Probe a neighbour, alternating below and above. */
		int i = a->choice + ((a->probe_turn++ & 1) ? 1 : -1);

		if (i < 0 || i > a->max_choice)
			i = a->choice + (a->choice > 0 ? -1 : 1);
		a->since_probe = 0;
		a->probe_choice = i;
		a->st.probes++;
		level = xlmig_adapt_levels[i];
	} else {
		level = xlmig_adapt_levels[a->choice];
	}
	pthread_mutex_unlock(&a->lock);
	return level;
}

static int index_of(int level)
{
	for (int i = 0; i < XLMIG_ADAPT_CHOICES; i++)
		if (xlmig_adapt_levels[i] == level)
			return i;
	return 0;
}

void xlmig_adapt_batch(struct xlmig_adapt *a, int level, uint64_t data_in,
		       uint64_t data_out, uint64_t ns, uint64_t cpu_ns,
		       uint64_t frame_in, uint64_t frame_out)
{
	int i = index_of(level), before;

	if (!ns)
		ns = 1;
	if (!cpu_ns || cpu_ns > ns)
		cpu_ns = ns;   /* unknown, or clocks read apart: a whole CPU */
	pthread_mutex_lock(&a->lock);
	a->st.batches[i]++;
	a->st.bytes_in[i] += frame_in;
	a->st.bytes_out[i] += frame_out;
	if (!a->fixed && data_in >= MIN_SAMPLE && data_out) {
		/* The share from every batch, whatever its encoding, so each
		 * encoding's cost, measured once, is judged on the CPU now. */
		ewma(&a->share, (double)cpu_ns / (double)ns);
		a->st.cpu_share = a->share;
		ewma(&a->rate[i], (double)data_in * 1e9 / (double)cpu_ns);
		ewma(&a->ratio[i], (double)data_in / (double)data_out);
	}
	if (a->probe_choice == i) {
		/* A probe that leaves the choice as it was may wait longer
		 * next time; one that changes it shows things are moving. */
		before = a->choice;
		decide(a);
		if (a->choice == before && a->probe_every < PROBE_MAX)
			a->probe_every *= 2;
		else if (a->choice != before)
			a->probe_every = PROBE_FIRST;
		a->link_at_probe = a->link;
		a->probe_choice = -1;
	}
	pthread_mutex_unlock(&a->lock);
}

void xlmig_adapt_link_begin(struct xlmig_adapt *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->busy_writers++ == 0)
		a->busy_since = xlmig_now_ns();
	pthread_mutex_unlock(&a->lock);
}

/* Caller holds the lock. */
static void link_sample(struct xlmig_adapt *a, uint64_t bytes, uint64_t ns)
{
	double w;

	a->link_bytes += bytes;
	a->link_ns += ns;
	if (a->link_ns < LINK_SAMPLE_NS)
		return;
	w = (double)a->link_bytes * 1e9 / (double)a->link_ns;
	ewma(&a->link, w);
	a->st.link_bps = a->link;
	a->link_bytes = a->link_ns = 0;
	if (a->link_at_probe > 0 && (a->link > a->link_at_probe * (1 + LINK_MOVED) ||
				     a->link < a->link_at_probe * (1 - LINK_MOVED))) {
		a->probe_every = PROBE_FIRST;
		a->link_at_probe = a->link;
	}
}

void xlmig_adapt_link_sample(struct xlmig_adapt *a, uint64_t bytes, uint64_t ns)
{
	pthread_mutex_lock(&a->lock);
	link_sample(a, bytes, ns);
	pthread_mutex_unlock(&a->lock);
}

/* The link's time is the time at least one writer was busy: writers
 * working side by side share one link.  A writer's wait for a CPU is
 * taken off what it credits. */
void xlmig_adapt_link_end(struct xlmig_adapt *a, uint64_t bytes, uint64_t cpu_wait_ns)
{
	uint64_t now = xlmig_now_ns(), ns = 0;

	pthread_mutex_lock(&a->lock);
	if (a->busy_writers) {
		/* Credit the busy time up to now; any writer still busy goes
		 * on from here, so overlapping writes count once. */
		ns = now - a->busy_since;
		ns -= XLMIG_MIN(ns, cpu_wait_ns);
		a->busy_since = now;
		a->busy_writers--;
	}
	link_sample(a, bytes, ns);
	pthread_mutex_unlock(&a->lock);
}

double xlmig_adapt_ratio(struct xlmig_adapt *a, int level)
{
	double q;

	pthread_mutex_lock(&a->lock);
	q = level > 0 ? a->ratio[index_of(level)] : 0;
	pthread_mutex_unlock(&a->lock);
	return q > 1 ? q : 1;
}

double xlmig_adapt_link_bps(struct xlmig_adapt *a)
{
	double w;

	pthread_mutex_lock(&a->lock);
	w = a->link;
	pthread_mutex_unlock(&a->lock);
	return w;
}

void xlmig_adapt_stats(struct xlmig_adapt *a, struct xlmig_adapt_stats *out)
{
	pthread_mutex_lock(&a->lock);
	*out = a->st;
	pthread_mutex_unlock(&a->lock);
}

void xlmig_adapt_stats_write(const struct xlmig_adapt_stats *st, struct xlmig_json_writer *w)
{
	char name[16];

	xlmig_json_key(w, "codec_choice");
	xlmig_json_object_open(w);
	for (int i = 0; i < XLMIG_ADAPT_CHOICES; i++) {
		xlmig_json_key(w, level_name(i, name, sizeof(name)));
		xlmig_json_object_open(w);
		xlmig_json_kv_uint(w, "batches", st->batches[i]);
		xlmig_json_kv_uint(w, "bytes_in", st->bytes_in[i]);
		xlmig_json_kv_uint(w, "bytes_out", st->bytes_out[i]);
		xlmig_json_object_close(w);
	}
	xlmig_json_kv_uint(w, "probes", st->probes);
	xlmig_json_kv_uint(w, "switches", st->switches);
	xlmig_json_kv_double(w, "link_MBps", st->link_bps / 1e6);
	xlmig_json_kv_double(w, "cpu_share", st->cpu_share);
	xlmig_json_kv_uint(w, "encoders", st->encoders);
	xlmig_json_kv_str(w, "reason", st->reason);
	xlmig_json_object_close(w);
}
