/*
 * policy.h - the pre-copy policy: after each pre-copy iteration, decide
 * whether to go on, stop and copy, or abort.
 *
 * The shape is libxenguest's precopy_policy_t (struct precopy_stats in,
 * XGS_POLICY_* out), so one policy drives the sim engine and, through
 * xc_domain_save's callback, real Xen.  Like that callback, the policy is
 * only told the iteration number, pages written so far and pages dirty
 * now; it measures time itself, and from that derives send rate, dirty
 * rate and the downtime stop-and-copy would cost right now.
 *
 * Two policies:
 *   XLMIG  stop when predicted downtime <= target; stop early when the
 *          dirty set stops shrinking; bound iterations and total time;
 *          optionally throttle the guest (auto-converge) when it dirties
 *          faster than the link sends, or abort if not allowed to.
 *   XEN    libxenguest's default: 5 iterations or fewer than 50 dirty pages.
 *
 * Calls come in two kinds, as from xc_domain_save's send_memory_live():
 * with dirty_count >= 0 (the dirty bitmap was just read: a measurement is
 * taken and logged in iter[]) and with dirty_count == -1 (pages were just
 * sent, nothing new is known: only the hard bounds are applied).  The sim
 * engine makes only the first kind of call, once per iteration.
 */
#ifndef XLMIG_POLICY_H
#define XLMIG_POLICY_H

#include "common.h"

/* Same values as XGS_POLICY_* in xenguest.h. */
enum {
	XLMIG_POLICY_ABORT = -1,
	XLMIG_POLICY_CONTINUE = 0,
	XLMIG_POLICY_STOP_AND_COPY = 1,
};

/* Same fields as struct precopy_stats in xenguest.h. */
struct xlmig_policy_stats {
	unsigned int iteration;     /* passes sent so far (1 = the full first pass) */
	unsigned long total_written;/* pages sent so far */
	long dirty_count;           /* pages dirty now, -1 if unknown */
};

enum xlmig_policy_kind {
	XLMIG_POLICY_KIND_XLMIG = 0,
	XLMIG_POLICY_KIND_XEN,
};

struct xlmig_policy_config {
	enum xlmig_policy_kind kind;
	uint64_t downtime_target_ns;   /* default 100 ms */
	unsigned max_iterations;       /* default 30 */
	uint64_t max_total_ns;         /* default 10 min; 0 = none */
	bool auto_converge;            /* throttle instead of aborting */
	unsigned throttle_step_pct;    /* default 20 */
	unsigned throttle_max_pct;     /* default 99 */
	unsigned stall_iterations;     /* default 3: measured iterations in a
					* row without the dirty set shrinking
					* by 5% before giving up on pre-copy */
	uint64_t downtime_max_ns;      /* default 1 s: when pre-copy has to
					* end early (stalled, out of iterations
					* or time), stop-and-copy if predicted
					* downtime is at most this, else abort */
};

/* What the policy saw and decided at one iteration (for progress, stats
 * and the --json summary). */
struct xlmig_iteration {
	unsigned iteration;
	uint64_t pages_sent;         /* in this iteration */
	uint64_t ns;                 /* wall time of this iteration */
	double send_rate;            /* pages/s over this iteration */
	double dirty_rate;           /* pages/s dirtied during it */
	long dirty_after;            /* pages dirty at its end */
	uint64_t predicted_downtime_ns;
	uint64_t window_ns;          /* of which: the rest of the window */
	unsigned throttle_pct;       /* guest throttle in force after it */
	int decision;                /* XLMIG_POLICY_* */
};

#define XLMIG_POLICY_MAX_ITER_LOG 64
#define XLMIG_POLICY_REASON_MAX   192   /* bytes of a reason, with its NUL */

struct xlmig_policy {
	struct xlmig_policy_config cfg;
	bool started;
	uint64_t start_ns, last_ns;
	unsigned long last_written;
	long last_dirty;
	unsigned non_shrinking;      /* iterations in a row with no progress */
	unsigned idle_floor;         /* iterations in a row that left an idle
				      * guest's few pages, not halved */
	double bandwidth;            /* pages/s over the pre-copy so far, as of
				      * the latest measurement; 0 = none yet */
	bool settled;                /* the latest pass was settled (or the
				      * save does not settle at all) */
	uint64_t settled_window_ns;  /* window_ns after the latest settled pass */
	unsigned polished;           /* passes taken past the target met */
	unsigned throttle_pct;       /* current throttle the guest should get */
	const char *reason;          /* why it stopped or aborted (NULL while
				      * it continues); points into reason_buf */
	char reason_buf[XLMIG_POLICY_REASON_MAX];
	unsigned n_iter;             /* entries in iter[] (the latest ones) */
	struct xlmig_iteration iter[XLMIG_POLICY_MAX_ITER_LOG];
	/* What else falls inside the downtime window besides sending the
	 * dirty pages: draining what is already queued ahead of them, the
	 * journal syncs of the commit, the destination's restore and
	 * unpause.  Added to every prediction; NULL = nothing. */
	uint64_t (*window_ns)(void *opaque);
	/* Called by a save between writing an iteration's pages and reading
	 * the dirty log (xlmig_policy_settle()), when the next decision may
	 * be a stop: waits until what is queued downstream has left, while
	 * the guest still runs, so that a stop decided next finds nothing
	 * ahead of the last pass in the window.  Shares window_opaque; NULL
	 * = no wait. */
	void (*settle)(void *opaque);
	void *window_opaque;
	/* The clock; NULL = xlmig_now_ns.  Tests put a fake clock here. */
	uint64_t (*now_fn)(void);
};

void xlmig_policy_config_default(struct xlmig_policy_config *cfg);
/* Parse "xlmig" or "xen". */
int xlmig_policy_kind_parse(const char *s, enum xlmig_policy_kind *out);
void xlmig_policy_init(struct xlmig_policy *p, const struct xlmig_policy_config *cfg);
/* A save calls this after each iteration's pages are written, before it
 * reads the dirty log (see settle above; the xlmig policy settles only
 * a pass after which it may stop, Xen's every pass). */
void xlmig_policy_settle(struct xlmig_policy *p);
/* Call once when pre-copy starts (before iteration 0 is sent). */
void xlmig_policy_start(struct xlmig_policy *p);
/* The decision after an iteration; p->throttle_pct says how hard the
 * backend should throttle the guest from now on. */
int xlmig_policy_decide(struct xlmig_policy *p, const struct xlmig_policy_stats *st);

#endif
