/*
 * policy.c - the pre-copy policies (see policy.h).
 */
#include "policy.h"

#include <limits.h>
#include <stdarg.h>

/* libxenguest's simple_precopy_policy() constants. */
#define XEN_MAX_ITERATIONS   5
#define XEN_TARGET_DIRTY    50

/* A dirty set this small is what an idle guest writes between two passes
 * (timers, consoles, the kernel's own bookkeeping): pre-copy cannot make
 * it smaller, so its downtime is the host's speed, not the guest's
 * doing, and refusing would only leave the guest where Xen's own policy
 * moves it (on the emulated lab hosts, 1-2 s for a few hundred pages). */
#define IDLE_DIRTY_PAGES 1024

/* An idle guest's dirty set is at its floor when this many passes in a
 * row left at most IDLE_DIRTY_PAGES without halving them.  On the lab's
 * emulated hosts such a floor of about 60 pages came back pass after
 * pass, each pass shrinking or growing it by more than SHRINK_PCT, so
 * the stall count kept restarting: 28 passes of 20-450 ms where two
 * would have shown that pre-copy was done. */
#define IDLE_FLOOR_PASSES 2

/* The dirty set "shrinks" when it is at least this much smaller than at
 * the previous measurement; smaller changes are noise around a plateau. */
#define SHRINK_PCT 5

/* Passes past the target met: at most this many, each only when the
 * last one at least halved the dirty set and the next is expected to
 * halve the downtime again. */
#define POLISH_PASSES 3

#define NS_PER_S  1000000000.0
#define NS_PER_MS 1000000ull

void xlmig_policy_config_default(struct xlmig_policy_config *cfg)
{
	*cfg = (struct xlmig_policy_config){
		.kind = XLMIG_POLICY_KIND_XLMIG,
		.downtime_target_ns = 100 * NS_PER_MS,
		.max_iterations = 30,
		.max_total_ns = 600 * 1000 * NS_PER_MS,
		.auto_converge = false,
		.throttle_step_pct = 20,
		.throttle_max_pct = 99,
		.stall_iterations = 3,
		.downtime_max_ns = 1000 * NS_PER_MS,
	};
}

int xlmig_policy_kind_parse(const char *s, enum xlmig_policy_kind *out)
{
	if (!strcmp(s, "xlmig"))
		*out = XLMIG_POLICY_KIND_XLMIG;
	else if (!strcmp(s, "xen"))
		*out = XLMIG_POLICY_KIND_XEN;
	else
		return xlmig_fail(XLMIG_E_INVAL, "unknown pre-copy policy '%s' (use xlmig or xen)", s);
	return XLMIG_OK;
}

void xlmig_policy_init(struct xlmig_policy *p, const struct xlmig_policy_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	if (p->cfg.downtime_max_ns < p->cfg.downtime_target_ns)
		p->cfg.downtime_max_ns = p->cfg.downtime_target_ns;
	if (p->cfg.throttle_max_pct > 99)
		p->cfg.throttle_max_pct = 99;
	if (p->cfg.stall_iterations == 0)
		p->cfg.stall_iterations = 1;
	p->last_dirty = LONG_MAX;
}

static uint64_t policy_now(const struct xlmig_policy *p)
{
	return p->now_fn ? p->now_fn() : xlmig_now_ns();
}

/* The downtime expected after one more pass: that pass sends what was
 * dirty at the measurement it, and what the guest dirties meanwhile is
 * what the next measurement finds, sent after a settled window. */
static double next_pass_downtime_ns(const struct xlmig_policy *p,
				    const struct xlmig_iteration *it, double bandwidth)
{
	double pass_s = (double)it->dirty_after / bandwidth;

	return (double)p->settled_window_ns + it->dirty_rate * pass_s / bandwidth * NS_PER_S;
}

/* Settling drains the pipeline after a pass: the link idles while the
 * pass's last bytes cross both hosts and the destination's report comes
 * back (10-50 ms measured on loaded sim hosts), and a guest dirtying
 * fast dirties that much more before the next pass: a floor under its
 * dirty set (100 and 150 MiB/s at 1 Gbit/s did not converge).  Only the
 * pass that ends pre-copy needs it, so a pass settles when the next
 * decision may be a stop: after the first pass (an idle guest's only
 * one), when the pages dirtied while this pass is sent are expected to
 * fit the target with room to spare, and when the next decision is
 * bound to end pre-copy anyway (a stall, the iteration limit). */
static bool stop_may_follow(const struct xlmig_policy *p)
{
	const struct xlmig_iteration *last;

	if (p->cfg.kind != XLMIG_POLICY_KIND_XLMIG || p->n_iter == 0 || p->bandwidth <= 0)
		return true;
	last = &p->iter[p->n_iter - 1];
	if (last->dirty_after <= 0 || p->non_shrinking + 1 >= p->cfg.stall_iterations ||
	    p->idle_floor + 1 >= IDLE_FLOOR_PASSES ||
	    last->iteration + 1 >= p->cfg.max_iterations)
		return true;
	return next_pass_downtime_ns(p, last, p->bandwidth) <= 2.0 * (double)p->cfg.downtime_target_ns;
}

void xlmig_policy_settle(struct xlmig_policy *p)
{
	p->settled = stop_may_follow(p);
	if (p->settle && p->settled)
		p->settle(p->window_opaque);
}

void xlmig_policy_start(struct xlmig_policy *p)
{
	p->started = true;
	p->start_ns = p->last_ns = policy_now(p);
	p->last_written = 0;
	p->last_dirty = LONG_MAX;
	p->non_shrinking = 0;
	p->idle_floor = 0;
	p->n_iter = 0;
	p->bandwidth = 0;
	p->settled = true;
	p->settled_window_ns = 0;
	p->polished = 0;
	p->reason = NULL;
}

static int set_reason(struct xlmig_policy *p, int decision, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_reason(struct xlmig_policy *p, int decision, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->reason_buf, sizeof(p->reason_buf), fmt, ap);
	va_end(ap);
	p->reason = p->reason_buf;
	return decision;
}

/* Append to iter[], keeping the latest entries when it is full. */
static struct xlmig_iteration *log_slot(struct xlmig_policy *p)
{
	if (p->n_iter == XLMIG_POLICY_MAX_ITER_LOG) {
		memmove(&p->iter[0], &p->iter[1],
			sizeof(p->iter[0]) * (XLMIG_POLICY_MAX_ITER_LOG - 1));
		p->n_iter--;
	}
	return &p->iter[p->n_iter++];
}

/* Take a measurement: the interval since the previous one covers sending
 * the pages written since then, and the pages dirtied meanwhile. */
static struct xlmig_iteration *measure(struct xlmig_policy *p,
				       const struct xlmig_policy_stats *st,
				       uint64_t now, double *bandwidth)
{
	struct xlmig_iteration *it = log_slot(p);
	uint64_t dt = now > p->last_ns ? now - p->last_ns : 1;
	uint64_t total_dt = now > p->start_ns ? now - p->start_ns : 1;
	unsigned long sent = st->total_written >= p->last_written ?
			     st->total_written - p->last_written : 0;

	*it = (struct xlmig_iteration){
		.iteration = st->iteration,
		.pages_sent = sent,
		.ns = dt,
		.send_rate = (double)sent * NS_PER_S / (double)dt,
		.dirty_rate = (double)st->dirty_count * NS_PER_S / (double)dt,
		.dirty_after = st->dirty_count,
	};
	/* Predict with the average over the whole pre-copy: the last
	 * iteration alone may be a handful of pages whose rate is mostly
	 * per-record latency, not link bandwidth. */
	*bandwidth = (double)st->total_written * NS_PER_S / (double)total_dt;
	p->bandwidth = *bandwidth;
	it->window_ns = p->window_ns ? p->window_ns(p->window_opaque) : 0;
	/* A settled pipeline holds nothing of the pass: its window is the
	 * part no pre-copy can shrink. */
	if (p->settled)
		p->settled_window_ns = it->window_ns;
	if (st->dirty_count == 0)
		it->predicted_downtime_ns = it->window_ns;
	else if (*bandwidth <= 0)
		it->predicted_downtime_ns = UINT64_MAX;
	else
		it->predicted_downtime_ns = it->window_ns +
			(uint64_t)((double)st->dirty_count / *bandwidth * NS_PER_S);

	if (p->last_dirty != LONG_MAX &&
	    st->dirty_count * 100 > p->last_dirty * (100 - SHRINK_PCT))
		p->non_shrinking++;
	else
		p->non_shrinking = 0;
	if (p->last_dirty != LONG_MAX && st->dirty_count > 0 &&
	    st->dirty_count <= IDLE_DIRTY_PAGES && st->dirty_count * 2 > p->last_dirty)
		p->idle_floor++;
	else
		p->idle_floor = 0;
	p->last_ns = now;
	p->last_written = st->total_written;
	p->last_dirty = st->dirty_count;
	return it;
}

static int decide_xen(struct xlmig_policy *p, const struct xlmig_policy_stats *st)
{
	if (st->dirty_count >= 0 && st->dirty_count < XEN_TARGET_DIRTY)
		return set_reason(p, XLMIG_POLICY_STOP_AND_COPY,
				  "%ld dirty pages left (fewer than %d)",
				  st->dirty_count, XEN_TARGET_DIRTY);
	if (st->iteration >= XEN_MAX_ITERATIONS)
		return set_reason(p, XLMIG_POLICY_STOP_AND_COPY,
				  "%d iterations done", XEN_MAX_ITERATIONS);
	return XLMIG_POLICY_CONTINUE;
}

/* Pre-copy has to end before the target is met: accept the downtime if
 * it is tolerable or the guest is idle, otherwise give up and leave the
 * guest running. */
static int end_early(struct xlmig_policy *p, const struct xlmig_iteration *it,
		     const char *why)
{
	unsigned long long ms = it->predicted_downtime_ns == UINT64_MAX ?
				ULLONG_MAX : it->predicted_downtime_ns / NS_PER_MS;

	if (it->dirty_after >= 0 && it->dirty_after <= IDLE_DIRTY_PAGES &&
	    it->predicted_downtime_ns > p->cfg.downtime_max_ns)
		return set_reason(p, XLMIG_POLICY_STOP_AND_COPY,
				  "%s; predicted downtime %llu ms is over the %llu ms limit, but the %ld "
				  "pages left are an idle guest's (at most %d): more pre-copy cannot shrink them",
				  why, ms, (unsigned long long)(p->cfg.downtime_max_ns / NS_PER_MS),
				  it->dirty_after, IDLE_DIRTY_PAGES);
	if (it->predicted_downtime_ns <= p->cfg.downtime_max_ns)
		return set_reason(p, XLMIG_POLICY_STOP_AND_COPY,
				  "%s; predicted downtime %llu ms is within the %llu ms limit",
				  why, ms, (unsigned long long)(p->cfg.downtime_max_ns / NS_PER_MS));
	return set_reason(p, XLMIG_POLICY_ABORT,
			  "did not converge: %s; predicted downtime %llu ms is over the %llu ms limit (%s)",
			  why, ms, (unsigned long long)(p->cfg.downtime_max_ns / NS_PER_MS),
			  p->cfg.auto_converge ? "guest already throttled to the maximum" :
			  "enable auto-converge or raise the bandwidth");
}

static bool can_throttle(const struct xlmig_policy *p)
{
	return p->cfg.auto_converge && p->throttle_pct < p->cfg.throttle_max_pct;
}

static void raise_throttle(struct xlmig_policy *p)
{
	p->throttle_pct = XLMIG_MIN(p->throttle_pct + p->cfg.throttle_step_pct,
				    p->cfg.throttle_max_pct);
	/* Give the slower guest a fresh chance to shrink its dirty set. */
	p->non_shrinking = 0;
}

/* The downtime met the target, but pre-copy may still be converging
 * fast: a hot set dirtied at 25 MiB/s met 100 ms at 77 ms predicted (72
 * measured), and one more pass of those 77 ms would have left a quarter
 * of the pages.  That pass costs about the predicted downtime in total
 * time, which the target bounds, so it is worth taking while the dirty
 * set is still halving from pass to pass (not a floor of pages an idle
 * guest writes whatever the pass length) and the pass is expected to
 * halve the downtime, unless auto-converge is holding the guest back.  Xen's own policy goes on to 5 passes or 50 pages
 * whatever the figures say. */
static bool polish_pays(const struct xlmig_policy *p, const struct xlmig_policy_stats *st,
			const struct xlmig_iteration *it, double bandwidth)
{
	const struct xlmig_iteration *prev;

	/* A throttled guest pays for every pass in lost CPU: end it now. */
	if (p->polished >= POLISH_PASSES || p->throttle_pct || p->n_iter < 2 || it->dirty_after <= 0 ||
	    bandwidth <= 0 || st->iteration + 1 >= p->cfg.max_iterations)
		return false;
	prev = &p->iter[p->n_iter - 2];
	if (prev->dirty_after <= 0 || it->dirty_after * 2 > prev->dirty_after)
		return false;
	return next_pass_downtime_ns(p, it, bandwidth) * 2 <= (double)it->predicted_downtime_ns;
}

/* The dirty pages' part of a prediction: what more passes could shrink,
 * the rest being the window (UINT64_MAX while no rate is known). */
static uint64_t pages_part_ns(const struct xlmig_iteration *it)
{
	if (it->predicted_downtime_ns == UINT64_MAX)
		return UINT64_MAX;
	return it->predicted_downtime_ns - it->window_ns;
}

/* An idle guest's floor of dirty pages (see IDLE_FLOOR_PASSES) whose part
 * of the predicted downtime is at most half the target: more passes
 * cannot take it below the floor, and stopping now gives up at most
 * that part; the rest of the window no pass shrinks. */
static bool at_idle_floor(const struct xlmig_policy *p, const struct xlmig_iteration *it)
{
	return p->idle_floor >= IDLE_FLOOR_PASSES &&
	       pages_part_ns(it) <= p->cfg.downtime_target_ns / 2;
}

static int decide_xlmig(struct xlmig_policy *p, const struct xlmig_policy_stats *st,
			struct xlmig_iteration *it, double bandwidth)
{
	uint64_t elapsed = p->last_ns - p->start_ns;
	bool outrun = it->dirty_rate >= bandwidth;
	bool stalled = p->non_shrinking >= p->cfg.stall_iterations;

	/* Xen asks once before anything is sent: no rate is known yet. */
	if (bandwidth <= 0 && st->dirty_count > 0)
		return XLMIG_POLICY_CONTINUE;

	if (it->predicted_downtime_ns <= p->cfg.downtime_target_ns && polish_pays(p, st, it, bandwidth)) {
		p->polished++;
		return XLMIG_POLICY_CONTINUE;
	}
	if (it->predicted_downtime_ns <= p->cfg.downtime_target_ns)
		return set_reason(p, XLMIG_POLICY_STOP_AND_COPY,
				  "predicted downtime %llu ms meets the %llu ms target",
				  (unsigned long long)(it->predicted_downtime_ns / NS_PER_MS),
				  (unsigned long long)(p->cfg.downtime_target_ns / NS_PER_MS));
	/* The part pre-copy can shrink is already small and the rest of the
	 * window alone misses the target: more iterations cannot help.  (A
	 * pass not settled counts what is still on its way in the window,
	 * which the next, settled, pass does not.) */
	if (p->settled && it->window_ns >= p->cfg.downtime_target_ns &&
	    pages_part_ns(it) <= p->cfg.downtime_target_ns / 10) {
		char why[96];

		snprintf(why, sizeof(why), "the rest of the downtime window alone (%llu ms) "
			 "is over the target", (unsigned long long)(it->window_ns / NS_PER_MS));
		return end_early(p, it, why);
	}
	if (at_idle_floor(p, it)) {
		char why[128];

		snprintf(why, sizeof(why), "the %ld pages left are an idle guest's floor (not halved "
			 "in %u passes, %llu ms of the downtime)", it->dirty_after, p->idle_floor,
			 (unsigned long long)(pages_part_ns(it) / NS_PER_MS));
		return end_early(p, it, why);
	}
	if (st->iteration >= p->cfg.max_iterations)
		return end_early(p, it, "iteration limit reached");
	if (p->cfg.max_total_ns && elapsed >= p->cfg.max_total_ns)
		return end_early(p, it, "time limit reached");
	if ((outrun || stalled) && can_throttle(p)) {
		raise_throttle(p);
		return XLMIG_POLICY_CONTINUE;
	}
	if (stalled)
		return end_early(p, it, "dirty set stopped shrinking");
	return XLMIG_POLICY_CONTINUE;
}

/* Xen's post-send call (dirty_count == -1): Xen's rule looks at the
 * iteration count; xlmig's waits for the next measured call. */
static int decide_unmeasured(struct xlmig_policy *p, const struct xlmig_policy_stats *st)
{
	if (p->cfg.kind == XLMIG_POLICY_KIND_XEN)
		return decide_xen(p, st);
	return XLMIG_POLICY_CONTINUE;
}

int xlmig_policy_decide(struct xlmig_policy *p, const struct xlmig_policy_stats *st)
{
	uint64_t now = policy_now(p);
	struct xlmig_iteration *it;
	double bandwidth;
	int decision;

	if (!p->started)
		xlmig_policy_start(p);
	if (st->dirty_count < 0)
		return decide_unmeasured(p, st);

	it = measure(p, st, now, &bandwidth);
	if (p->cfg.kind == XLMIG_POLICY_KIND_XEN)
		decision = decide_xen(p, st);
	else
		decision = decide_xlmig(p, st, it, bandwidth);
	it->throttle_pct = p->throttle_pct;
	it->decision = decision;
	return decision;
}
