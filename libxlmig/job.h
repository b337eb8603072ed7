/*
 * job.h - migration jobs: the source side (send a running guest to
 * another host) and the destination side (receive one), and the commit
 * protocol between them that never loses a guest and never runs it twice.
 *
 *   source                                   destination
 *   lookup domain, connect, handshake  ──▶   (session accepted)
 *   PREFLIGHT name, memory, backend,   ──▶   name free? the guest's facts
 *     guest (preflight.h's facts)            checked here (preflight.h)?
 *                                      ◀──   PREFLIGHT_OK | error
 *   (--check ends both jobs here: "checked", nothing moved)
 *   save_live ─pipe─▶ xfer_send  ═══════▶   xfer_recv ─pipe─▶ restore
 *                                            (digest checked at END,
 *                                             guest paused as NAME--incoming)
 *                                      ◀──   READY
 *   rename NAME--migratedaway, journal GO
 *   GO                                 ──▶   journal GO, rename NAME, unpause
 *                                      ◀──   DONE | FAILED (then destroyed)
 *   destroy own copy (DONE) or rename back and resume (FAILED)
 *
 * Before GO any failure or cancel rolls back: the source resumes its guest,
 * the destination destroys its partial one.  After GO with no answer the
 * state is unknown; the source keeps its copy paused and renamed away and
 * says so, as xl does, and asks the destination what became of the job
 * until it can settle it (fate.h: never both copies running).  Each step is journaled (journal.h) before it is
 * acted on (the record is job_record.h's), and xlmig_job_recover() finishes or rolls back what a previous
 * daemon left half done.
 *
 * A job runs in its own thread (xlmig_job_run); progress and cancel may be
 * used from any thread.
 */
#ifndef XLMIG_JOB_H
#define XLMIG_JOB_H

#include "adapt.h"
#include "auth.h"
#include "codec.h"
#include "common.h"
#include "hv.h"
#include "job_record.h"
#include "policy.h"
#include "side.h"

#include <pthread.h>

#define XLMIG_DEFAULT_PORT 8002
#define XLMIG_HOST_MAX 256
#define XLMIG_CHANNELS_MAX 16

/* What `xlmig migrate` asks for. */
struct xlmig_migrate_opts {
	char host[XLMIG_HOST_MAX];
	uint16_t port;
	unsigned channels;            /* 1..XLMIG_CHANNELS_MAX, 0 = one per CPU (at most 4) */
	bool compress;                /* zero/delta/zstd page codecs */
	int zstd_level;
	uint64_t bandwidth;           /* bytes/s on the wire, 0 = no cap */
	struct xlmig_policy_config policy;
	bool debug;                   /* xl -d: VERIFY records */
	bool verify;                  /* compare memory digests at both ends (and
				       * counters where the backend keeps one) */
	bool check_only;              /* --check: stop at the destination's
				       * preflight answer (step "checked"),
				       * the guest untouched, nothing created */
	/* xl migrate's options, with xl's meaning: */
	bool pause_after;             /* -p: the destination leaves the guest
				       * paused after taking its name */
	bool preserve_domid;          /* -D: the destination creates the guest
				       * with the source's domain id */
	const char *config_override;  /* -C: JSON config sent instead of the
				       * stored one; the job keeps its own copy */
};
void xlmig_migrate_opts_default(struct xlmig_migrate_opts *o);

/* What a job shares with its daemon. */
struct xlmig_journal;
#define XLMIG_WINDOW_LEARNED_KEY "window-learned-ns"

struct xlmig_job_env {
	struct xlmig_hv *hv;
	pthread_mutex_t *hv_lock;     /* serialises backend calls across jobs */
	struct xlmig_journal *journal;
	const struct xlmig_key *key;  /* pre-shared key for the channels, or NULL */
	struct xlmig_tls *tls;        /* this host's TLS identity (tls.h), or NULL */
	bool insecure;                /* plain channels allowed (loopback only) */
	/* What an incoming guest may ask of this host (guest_policy.h);
	 * NULL = the defaults. */
	const struct xlmig_guest_policy *policy;
	/* Called from the job's thread at every step change (may be NULL). */
	void (*on_step)(void *opaque, const char *job_id, enum xlmig_job_step step);
	void *opaque;
	/* What travels with the guest besides its memory (side.h). */
	struct xlmig_side_set side;
	/* How long recovery waits on the hypervisor for one job (0 = 60 s). */
	unsigned recover_timeout_ms;
	/* A source job's way to its destination when that is this very
	 * daemon (may be NULL: always by TCP).  Called from the job's thread
	 * with the destination's host and port: XLMIG_OK and *fd an end of a
	 * socketpair whose other end the daemon serves as an incoming
	 * migration (xlmig_conn_with_self), or XLMIG_OK and *fd -1 when
	 * host:port is not this daemon's listener. */
	int (*dial_self)(void *opaque, const char *host, unsigned port, int *fd);
	/* What this host's downtime windows took beyond the pre-copy
	 * policy's prediction, learned from the migrations it sent (may be
	 * NULL: nothing learned); shared by the daemon's jobs.  A source
	 * adds it to every prediction and, after DONE, moves it halfway to
	 * what its own window left unpredicted.  On Xen that is most of the
	 * window: the suspend and the save's last records, the restore's
	 * end (300 ms of a 400 ms window in the emulated lab). */
	_Atomic uint64_t *window_learned_ns;
	/* (journal.h's figure under XLMIG_WINDOW_LEARNED_KEY keeps it across
	 * restarts: the daemon loads it, the job stores what it learned.) */
};

/* A consistent snapshot of a running job, for `xlmig status`. */
struct xlmig_job_progress {
	enum xlmig_job_step step;
	unsigned iteration;
	double percent;               /* of the current iteration's pages */
	double send_rate;             /* bytes/s on the wire, recent */
	double dirty_rate;            /* bytes/s the guest dirties */
	uint64_t expected_downtime_ns;
	unsigned throttle_pct;
	uint64_t bytes_wire;
	uint64_t bytes_stream;        /* uncompressed Xen stream bytes */
	uint64_t mem_bytes;
	uint64_t elapsed_ns;
};

/* Final figures, also written to the journal as JSON. */
/* The stop-and-copy window phase by phase, to hold against the policy's
 * prediction: on the source, when each step ended, in ms after the guest
 * stopped; the destination's steps as how long each took there (clocks of
 * two hosts are not compared), from the figures it sends in READY and
 * DONE.  A phase not reached stays at -1. */
enum xlmig_window_phase {
	/* source, ms after the stop */
	XLMIG_WIN_SAVE_END,      /* the save wrote the stream's last byte */
	XLMIG_WIN_SENT,          /* every frame up to END written to the channels */
	XLMIG_WIN_SIDE_SENT,     /* side records and SIDE_END sent */
	XLMIG_WIN_READY,         /* READY received */
	XLMIG_WIN_SAVE_JOINED,   /* and the save's own end waited for */
	XLMIG_WIN_RENAMED,       /* the source copy renamed aside */
	XLMIG_WIN_GO_SYNCED,     /* GO journaled here */
	XLMIG_WIN_DONE,          /* DONE received: the guest runs there */
	/* destination, ms each */
	XLMIG_WIN_DST_RESTORE,   /* stream received .. its restore returned */
	XLMIG_WIN_DST_SIDE,      /* .. SIDE_END received, providers applied */
	XLMIG_WIN_DST_VERIFY,    /* --verify's memory digest */
	XLMIG_WIN_DST_GO_SYNC,   /* GO journaled there */
	XLMIG_WIN_DST_RENAME,    /* the guest given its name */
	XLMIG_WIN_DST_UNPAUSE,   /* and unpaused */
	XLMIG_WIN_N
};
/* The phase's name in the stats' "window" object ("save_end_ms", ...). */
const char *xlmig_window_phase_name(enum xlmig_window_phase ph);

struct xlmig_job_stats {
	uint64_t total_ns;
	uint64_t setup_ns;            /* start .. first stream byte */
	uint64_t downtime_ns;         /* paused on source .. running on destination
				       * (with -p: .. renamed, still paused, there) */
	uint64_t window_learned_ns;   /* env.window_learned_ns when the job began */
	bool left_paused;             /* -p: the guest waits, paused, on the destination */
	uint64_t bytes_wire;
	uint64_t bytes_stream;
	uint64_t mem_bytes;
	uint64_t pages_total;
	uint64_t pages_sent;
	unsigned iterations;
	unsigned n_iter;
	struct xlmig_iteration iter[XLMIG_POLICY_MAX_ITER_LOG];
	char policy_reason[XLMIG_POLICY_REASON_MAX]; /* why pre-copy stopped */
	const char *stream_digest;    /* the END frame's digest, by name (NULL: none yet) */
	const char *transport;        /* the session's channels (xlmig_conn_transport) */
	double window_ms[XLMIG_WIN_N];/* enum xlmig_window_phase; -1: not reached */
	struct xlmig_codec_stats codec;
	uint64_t delta_cache_bytes;   /* the session's delta cache, each end (0: none) */
	struct xlmig_adapt_stats adapt;   /* source: encodings chosen, why */
	bool dirty_rate_known;        /* --check: the guest's dirty rate was measured */
	uint64_t dirty_rate_bps;
};

struct xlmig_job;

/* An outgoing job for DOMAIN (name or id); journaled as queued. */
int xlmig_job_new_source(const struct xlmig_job_env *env, const char *domain,
			 const struct xlmig_migrate_opts *opts, struct xlmig_job **out);
/* An incoming job on an accepted, authenticated connection (conn.h's
 * struct xlmig_conn, taken over by the job). */
struct xlmig_conn;
int xlmig_job_new_dest(const struct xlmig_job_env *env, struct xlmig_conn *conn,
		       const char *peer, struct xlmig_job **out);
/* An accepted session's first CTRL message says what it is for: a
 * PREFLIGHT starts an incoming job (*out, as xlmig_job_new_dest), a FATE
 * query (fate.h) is answered from the journal and the session closed,
 * with *out NULL and no job made.  conn is taken over either way. */
int xlmig_job_accept(const struct xlmig_job_env *env, struct xlmig_conn *conn,
		     const char *peer, struct xlmig_job **out);
void xlmig_job_free(struct xlmig_job *job);

/* Run the job to a final step; returns its result.  Blocking. */
int xlmig_job_run(struct xlmig_job *job);
/* Ask a job to stop.  Refused (XLMIG_E_INVAL) once the job has started
 * to commit: from then on only finishing is safe. */
int xlmig_job_cancel(struct xlmig_job *job);

const char *xlmig_job_id(const struct xlmig_job *job);
enum xlmig_job_role xlmig_job_role(const struct xlmig_job *job);
const char *xlmig_job_domain(const struct xlmig_job *job);
void xlmig_job_get_progress(struct xlmig_job *job, struct xlmig_job_progress *out);
/* The record as journaled (step, message, error). */
void xlmig_job_get_record(struct xlmig_job *job, struct xlmig_job_record *out);
/* Valid once xlmig_job_run returned. */
const struct xlmig_job_stats *xlmig_job_stats(const struct xlmig_job *job);
/* The stats as members of the JSON object open in w. */
struct xlmig_json_writer;
void xlmig_job_stats_write(const struct xlmig_job_stats *st, struct xlmig_json_writer *w);

/* At daemon start: finish or roll back every job the journal shows as
 * unfinished.  Returns how many were handled in *n (may be NULL).  Each
 * job gets env->recover_timeout_ms: one whose backend calls take longer
 * is journaled as unknown, saying what the administrator should check,
 * and its recovery journals the real outcome if it finishes later. */
int xlmig_job_recover(const struct xlmig_job_env *env, unsigned *n);

/* Outgoing jobs in doubt after GO (step "unknown", this host's copy
 * still paused as NAME--migratedaway under the journaled domain id, and
 * no later job for that guest here): ask each one's destination what
 * became of it (fate.h), within timeout_ms per question and budget_ms
 * in all (0: no limit), and settle it as the answer allows: destroy the
 * copy here (the destination committed: "done") or rename it back and
 * resume it (the destination rolled back and holds no copy: "failed").
 * Any other answer, or none, leaves the job in doubt.  *left (may be
 * NULL): jobs still in doubt that a later try may settle. */
int xlmig_job_settle_in_doubt(const struct xlmig_job_env *env, int timeout_ms, int budget_ms,
			      unsigned *left);

#endif
