/*
 * adapt.h - the adaptive page codec's choice: which encoding each batch
 * gets, decided from measurements, again and again while a transfer runs.
 *
 * The sender's pipeline moves at the speed of its slowest stage: the
 * encoder (bounded by the CPU it actually gets) or the link (bounded by
 * its bandwidth or the cap).  For each candidate encoding L (raw, which
 * still elides zero pages and codes deltas, or zstd at a few levels) the
 * module keeps a moving estimate of
 *     r_L  the encoder's throughput per second of the CPU time it used
 *          (what the encoding costs),
 *     q_L  the compression ratio on the pages that were really coded,
 * of the share s of a CPU each encoding thread gets (its CPU time over
 * the wall-clock time of each batch, whatever the encoding: a CPU shared
 * with a busy guest, the save, the other end of a local migration or
 * other work shows as a small s),
 * and of the link's throughput W, measured by the channel writers as
 * bytes per second of the time they were blocked writing or waiting for
 * tokens, counting time when several write at once only once (a fast
 * link blocks them little, so W comes out high), less the time a writer
 * waited for a CPU meanwhile: on a host short of CPUs a writer ready to
 * send waits behind the encoder and the save, and counting that wait as
 * link time made the link look slow and compression win where raw was
 * faster (make bench's unshaped runs, both ends on two cores).  The
 * pipeline then moves min(e x s x r_L, W x q_L) guest bytes per second
 * with L and e threads encoding side by side,
 * and the module picks the L with the most.  Raw wins when the link is
 * faster than compression or the CPU is short; zstd wins when the link
 * is the bottleneck, at the level whose extra ratio still pays.  r_L is
 * in CPU time and s is measured on every batch because a wall-clock rate
 * is only as good as the moment it was taken: raw, measured once in a
 * starved moment and rarely probed again, kept a loopback migration on
 * zstd at 19 MB/s of pages while raw would have done several times that.
 *
 * Estimates of encodings not in use go stale, so now and then one batch
 * is coded with a neighbour of the current choice (a probe).  Probes back
 * off while they keep confirming the choice (every 8, 16, 32
 * batches) and come back often when the link estimate moves.
 *
 * Everything is deterministic given the measurements, so the unit tests
 * drive it with made-up figures.  The decoder needs nothing from here:
 * every encoding is already one the frame format describes.  Calls from
 * the thread that chooses, the threads that encode and report batches
 * and the writer threads (link) may run concurrently, and a batch may be
 * reported after later ones were chosen; a mutex keeps the estimates
 * consistent.
 */
#ifndef XLMIG_ADAPT_H
#define XLMIG_ADAPT_H

#include <pthread.h>

#include "common.h"

/* The candidate encodings, cheapest first.  Index 0 is raw. */
#define XLMIG_ADAPT_CHOICES 3
extern const int xlmig_adapt_levels[XLMIG_ADAPT_CHOICES];   /* 0 = raw */

/* What the adaptation did, for the stats. */
struct xlmig_adapt_stats {
	uint64_t batches[XLMIG_ADAPT_CHOICES];
	uint64_t bytes_in[XLMIG_ADAPT_CHOICES];    /* guest bytes coded */
	uint64_t bytes_out[XLMIG_ADAPT_CHOICES];   /* frame bytes */
	uint64_t probes;                           /* batches spent probing */
	uint64_t switches;                         /* changes of choice */
	double link_bps;                           /* last link estimate */
	double cpu_share;                          /* last estimate of s */
	unsigned encoders;                         /* threads coding side by side */
	char reason[160];                          /* why the last choice */
};

struct xlmig_adapt {
	pthread_mutex_t lock;
	bool fixed;               /* one encoding only (no zstd negotiated) */
	int max_choice;           /* highest index allowed */
	int choice;               /* current index */
	double rate[XLMIG_ADAPT_CHOICES];   /* r_L, bytes per CPU-second; 0 = unknown */
	double share;             /* s, 0..1; 0 = unknown */
	double ratio[XLMIG_ADAPT_CHOICES];  /* q_L; 0 = unknown */
	double link;              /* W, bytes/s; 0 = unknown */
	double link_at_probe;     /* W when the last probe backoff was set */
	uint64_t link_bytes, link_ns;       /* writers' sample being gathered */
	unsigned busy_writers;    /* writers inside begin/end now */
	uint64_t busy_since;      /* when the first of them began */
	unsigned since_probe, probe_every, probe_turn;
	int probe_choice;         /* the probe's choice until its batch is
				   * reported (batches may be reported later
				   * than other batches are chosen), else -1 */
	unsigned encoders;        /* threads encoding side by side */
	struct xlmig_adapt_stats st;
};

/* zstd_ok false: every batch raw, nothing adapts (the peer has no zstd,
 * or the user asked for no compression).  max_level caps the zstd level
 * (0 = no cap). */
void xlmig_adapt_init(struct xlmig_adapt *a, bool zstd_ok, int max_level);
void xlmig_adapt_destroy(struct xlmig_adapt *a);
/* How many threads encode batches side by side (1 by default): together
 * they move n times what one does on the share of a CPU each gets. */
void xlmig_adapt_set_encoders(struct xlmig_adapt *a, unsigned n);

/* The zstd level for the next batch (0 = raw DATA pages). */
int xlmig_adapt_choose(struct xlmig_adapt *a);

/* After coding a batch with the level choose() gave: data_in guest bytes
 * of pages that were really coded (zero pages and deltas do not count:
 * their cost does not depend on the level), data_out the bytes they took,
 * ns the wall-clock time of the whole encode and cpu_ns the CPU time the
 * coding thread spent in it (0: not known, taken as ns), frame_in and
 * frame_out the batch's guest bytes and frame bytes for the stats. */
void xlmig_adapt_batch(struct xlmig_adapt *a, int level, uint64_t data_in,
		       uint64_t data_out, uint64_t ns, uint64_t cpu_ns,
		       uint64_t frame_in, uint64_t frame_out);

/* Around a writer's frame: begin before it waits for tokens and writes,
 * end with the bytes it put on the link and how long meanwhile it waited,
 * runnable, for a CPU (xlmig_thread_wait_ns), which is not link time. */
void xlmig_adapt_link_begin(struct xlmig_adapt *a);
void xlmig_adapt_link_end(struct xlmig_adapt *a, uint64_t bytes, uint64_t cpu_wait_ns);
/* A link measurement taken otherwise: bytes moved in ns of link time. */
void xlmig_adapt_link_sample(struct xlmig_adapt *a, uint64_t bytes, uint64_t ns);

/* The ratio q_L last seen for a level (1 while unknown, and for raw). */
double xlmig_adapt_ratio(struct xlmig_adapt *a, int level);

/* The link estimate W in bytes/s, 0 while unknown. */
double xlmig_adapt_link_bps(struct xlmig_adapt *a);

/* A copy of the stats so far. */
void xlmig_adapt_stats(struct xlmig_adapt *a, struct xlmig_adapt_stats *out);

/* The stats as the JSON member "codec_choice": per encoding ("raw",
 * "zstd-1", ...) batches, bytes in and out; probes, switches, the last
 * link and CPU share estimates and the reason for the last choice. */
struct xlmig_json_writer;
void xlmig_adapt_stats_write(const struct xlmig_adapt_stats *st, struct xlmig_json_writer *w);

#endif
