/*
 * coord.h - the backup coordinator's state machine: per guest, the
 * migration in progress and every backup job, and the rules that keep
 * backups and migrations from colliding.
 *
 * Pure: no I/O, no clock, no locking.  The caller (xlmigd) passes the
 * time in, persists the jobs the coordinator marks dirty (store.h), and
 * acts on the events it queues (hooks, agents).  A job lives with its
 * guest: when the guest moves, the job moves (as a side record of the
 * migration) and the host the guest ends on is the one that resumes or
 * ends it, so each job ends exactly once, on exactly one host.
 *
 *   begin ──▶ requested (guest migrating: deferred; with wait, granted
 *      │                 where the guest runs once the migration ends)
 *      ├──▶ quiescing ──(thawed)──▶ running ──(end)──▶ done | failed
 *      └──────────────────────────▶ running
 *   running ─(migration starts)─▶ held ─(stream ends)─▶ in transit
 *   in transit ─(guest runs here)─▶ resuming ─(progress)─▶ running
 *   lease ran out (quiescing, running, resuming) ──▶ expired
 *
 * A migration that starts while a job quiesces waits for the thaw; one
 * that starts while jobs run holds them first and waits (bounded) for each
 * agent to acknowledge, then proceeds or aborts as configured.  A backup
 * asked for while its guest migrates (pre-copy, stop-and-copy or commit)
 * is deferred.
 */
#ifndef XLMIG_BACKUP_COORD_H
#define XLMIG_BACKUP_COORD_H

#include "common.h"
#include "hv.h"

#define XLMIG_BK_ID_MAX 48
#define XLMIG_BK_AGENT_MAX 64
#define XLMIG_BK_HOST_MAX 128
#define XLMIG_BK_UUID_MAX 40
#define XLMIG_BK_MSG_MAX 256
#define XLMIG_BK_TOKEN_MAX 4096        /* an agent's resume token (its cursor) */
#define XLMIG_BK_JOBS_MAX 1024         /* jobs one coordinator keeps, history included */
#define XLMIG_BK_EVENTS_MAX 256        /* queued events before the caller drains */
#define XLMIG_BK_LEASE_MAX (7 * 86400u)

enum xlmig_bk_kind {
	XLMIG_BK_EXTERNAL = 0,  /* an agent outside xlmig */
	XLMIG_BK_CHECKPOINT,    /* xlmig's own live memory checkpoint */
};

enum xlmig_bk_state {
	XLMIG_BK_REQUESTED = 0, /* deferred: its guest migrates (wait set) */
	XLMIG_BK_QUIESCING,     /* the guest is frozen for the backup */
	XLMIG_BK_RUNNING,
	XLMIG_BK_HELD,          /* paused for a migration of its guest */
	XLMIG_BK_IN_TRANSIT,    /* travelling with its guest */
	XLMIG_BK_RESUMING,      /* its agent was told to resume, not yet heard */
	/* final states */
	XLMIG_BK_DONE,
	XLMIG_BK_FAILED,        /* the agent failed it, or it was cancelled */
	XLMIG_BK_EXPIRED,       /* its lease ran out */
};

/* What the coordinator knows of a migration of a guest on this host. */
enum xlmig_bk_mig {
	XLMIG_BK_MIG_NONE = 0,
	XLMIG_BK_MIG_PRECOPY,   /* holding jobs, pre-copy */
	XLMIG_BK_MIG_COMMIT,    /* stop-and-copy and the commit */
};

struct xlmig_bk_job {
	char id[XLMIG_BK_ID_MAX];        /* unique across hosts: origin host + counter */
	char domain[XLMIG_NAME_MAX];
	char uuid[XLMIG_BK_UUID_MAX];    /* the guest's, "" when unknown */
	char agent[XLMIG_BK_AGENT_MAX];  /* who runs it */
	enum xlmig_bk_kind kind;
	enum xlmig_bk_state state;
	bool here;                       /* false: it left with its guest, or
					  * it stayed with a guest that never
					  * arrived here (history only) */
	char host[XLMIG_BK_HOST_MAX];    /* where it is: this host or, not here, the other */
	char origin[XLMIG_BK_HOST_MAX];  /* where it began */
	char mig_job[XLMIG_BK_ID_MAX];   /* the migration carrying it (in transit) */
	bool wait;                       /* requested: grant when the migration ends */
	bool acked;                      /* held: its agent acknowledged the hold */
	uint32_t lease_secs;             /* each progress call renews this long */
	int64_t lease_until;             /* unix s; 0 while held or in transit */
	int64_t hold_deadline;           /* held: acknowledge before this */
	int64_t created;
	int64_t updated;
	uint32_t resumes;                /* resumes so far, across hosts */
	uint32_t token_len;
	uint8_t token[XLMIG_BK_TOKEN_MAX];
	char message[XLMIG_BK_MSG_MAX];  /* what happened last, for people */
};

enum xlmig_bk_event_type {
	XLMIG_BK_EV_HOLD = 0,    /* pause: a migration of the guest starts */
	XLMIG_BK_EV_RESUME,      /* carry on from the token (here) */
	XLMIG_BK_EV_GRANTED,     /* a deferred request may start (here) */
	XLMIG_BK_EV_EXPIRED,     /* the lease ran out */
	XLMIG_BK_EV_ENDED,       /* done, failed or cancelled */
};

struct xlmig_bk_event {
	enum xlmig_bk_event_type type;
	struct xlmig_bk_job job;         /* the job as it was at the event */
};

struct xlmig_bk_config {
	char host[XLMIG_BK_HOST_MAX];    /* this host's name, as answers show it */
	char id_prefix[24];              /* job ids are PREFIX-N: unique to this host
					  * (xlmigd uses its host id), "" = host */
	uint32_t lease_secs;             /* default lease (an agent may ask for another) */
	uint32_t hold_ack_secs;          /* time an agent has to acknowledge a hold */
	bool abort_unacked;              /* true: a hold not acknowledged in time
					  * aborts the migration; false: it proceeds */
};
void xlmig_bk_config_default(struct xlmig_bk_config *cfg);

/* What a migration asking the coordinator may do now. */
enum xlmig_bk_verdict {
	XLMIG_BK_GO = 0,
	XLMIG_BK_WAIT,     /* ask again later (quiesce, or holds not yet acknowledged) */
	XLMIG_BK_ABORT,    /* the hold policy aborts the migration */
};

struct xlmig_bk_coord;

int xlmig_bk_coord_new(const struct xlmig_bk_config *cfg, struct xlmig_bk_coord **out);
void xlmig_bk_coord_free(struct xlmig_bk_coord *c);
/* Back to what xlmig_bk_coord_new() made (no jobs, migrations, events or
 * removals; ids from 1; the same config), keeping its allocations: for
 * many short runs through one coordinator, as a fuzzer runs them (a new
 * one is over a megabyte to allocate and zero). */
void xlmig_bk_coord_reset(struct xlmig_bk_coord *c);
const struct xlmig_bk_config *xlmig_bk_config(const struct xlmig_bk_coord *c);

/* Put back a job read from the store at start-up (or replace one). */
int xlmig_bk_load(struct xlmig_bk_coord *c, const struct xlmig_bk_job *job);
/* The counter ids are drawn from; the caller persists it (store.h). */
void xlmig_bk_set_next_id(struct xlmig_bk_coord *c, uint64_t next);
uint64_t xlmig_bk_next_id(const struct xlmig_bk_coord *c);

/* ---- agents ---- */

struct xlmig_bk_begin {
	const char *domain;
	const char *uuid;         /* may be NULL */
	const char *agent;
	enum xlmig_bk_kind kind;
	bool wait;                /* deferred: wait instead of refusing */
	bool quiesce;             /* start in quiescing; progress(thawed) ends it */
	uint32_t lease_secs;      /* 0 = the configured default */
	const uint8_t *token;     /* the first resume token (may be NULL): a
				   * deferred job has it before it can report */
	size_t token_len;
};
/* A new job.  *deferred tells a waiting request (state requested) from a
 * granted one.  Refused with XLMIG_E_EXISTS ("deferred") while the guest
 * migrates and wait is false, and while a checkpoint of the guest already
 * runs when the new job is a checkpoint (log-dirty has one owner). */
int xlmig_bk_begin(struct xlmig_bk_coord *c, const struct xlmig_bk_begin *b, int64_t now,
		   struct xlmig_bk_job **job, bool *deferred);
/* The agent reports: renews the lease, keeps token (if not NULL), ends a
 * quiesce (thawed), acknowledges a hold, confirms a resume. */
int xlmig_bk_progress(struct xlmig_bk_coord *c, const char *id, const uint8_t *token,
		      size_t token_len, bool thawed, int64_t now, struct xlmig_bk_job **job);
/* The agent finished: done (ok) or failed; a job not here, or travelling,
 * cannot end here. */
int xlmig_bk_end(struct xlmig_bk_coord *c, const char *id, bool ok, const char *message,
		 int64_t now, struct xlmig_bk_job **job);
/* An administrator cancels: failed, "cancelled". */
int xlmig_bk_cancel(struct xlmig_bk_coord *c, const char *id, int64_t now,
		    struct xlmig_bk_job **job);
/* Leases that ran out expire; returns how many did. */
unsigned xlmig_bk_tick(struct xlmig_bk_coord *c, int64_t now);

struct xlmig_bk_job *xlmig_bk_find(struct xlmig_bk_coord *c, const char *id);
/* Every job, in the order they were added. */
size_t xlmig_bk_count(const struct xlmig_bk_coord *c);
const struct xlmig_bk_job *xlmig_bk_at(const struct xlmig_bk_coord *c, size_t i);
enum xlmig_bk_mig xlmig_bk_mig_state(const struct xlmig_bk_coord *c, const char *domain);

/* ---- a migration of a guest from this host (source) ---- */

/* Ask to start: WAIT while a job of the guest quiesces; otherwise the
 * migration is recorded and every running job of the guest is held (a
 * HOLD event each).  Asking again is harmless. */
enum xlmig_bk_verdict xlmig_bk_mig_begin(struct xlmig_bk_coord *c, const char *domain,
					 const char *mig_job, int64_t now);
/* Whether the holds are settled: GO once every held job acknowledged or
 * the acknowledge time passed with the proceed policy, ABORT when it
 * passed with the abort policy, else WAIT. */
enum xlmig_bk_verdict xlmig_bk_mig_holds(struct xlmig_bk_coord *c, const char *domain,
					 int64_t now);
/* Stop-and-copy and commit begin: new backups are deferred still. */
void xlmig_bk_mig_commit(struct xlmig_bk_coord *c, const char *domain);
/* The jobs that travel: held ones and waiting requests become in transit
 * (tagged with mig_job); copies are written to out[0..max), *n set. */
int xlmig_bk_mig_collect(struct xlmig_bk_coord *c, const char *domain, const char *mig_job,
			 int64_t now, struct xlmig_bk_job *out, size_t max, size_t *n);
/* The migration ended.  moved: its jobs left with the guest for dest
 * (kept as history, not here).  Otherwise they resume here (RESUME
 * events) and waiting requests are granted here (GRANTED). */
void xlmig_bk_mig_end(struct xlmig_bk_coord *c, const char *domain, bool moved,
		      const char *dest, int64_t now);

/* ---- a migration of a guest to this host (destination) ---- */

/* A job that came with an incoming guest: kept in transit until the
 * guest runs here.  A job that already ended here is refused
 * (XLMIG_E_EXISTS): it cannot end twice. */
int xlmig_bk_adopt(struct xlmig_bk_coord *c, const struct xlmig_bk_job *in,
		   const char *mig_job, const char *source, int64_t now);
/* The guest of mig_job runs here now: its jobs resume (or are granted). */
void xlmig_bk_arrived(struct xlmig_bk_coord *c, const char *mig_job, int64_t now);
/* The incoming migration failed: its jobs stay with the guest on the source. */
void xlmig_bk_not_arrived(struct xlmig_bk_coord *c, const char *mig_job, int64_t now);

/* ---- restart ---- */

/* After a restart (and after the migration journal was recovered), jobs
 * caught holding or travelling follow their guest: guest_here(domain)
 * tells whether the guest runs on this host under its own name.  Those
 * whose guest is here resume (or are granted) here, the others are left
 * as history.  Leases that ran out meanwhile expire at the next tick. */
void xlmig_bk_recover(struct xlmig_bk_coord *c, bool (*guest_here)(void *opaque, const char *domain),
		      void *opaque, int64_t now);

/* ---- what the caller acts on ---- */

/* Jobs changed since the last call, for the store; clears the marks. */
size_t xlmig_bk_take_dirty(struct xlmig_bk_coord *c, const struct xlmig_bk_job **out, size_t max);
/* Ids of history jobs forgotten to make room, for the store to delete. */
size_t xlmig_bk_take_removed(struct xlmig_bk_coord *c, char (*out)[XLMIG_BK_ID_MAX], size_t max);
/* The next queued event (false when none); events beyond the queue's
 * bound are dropped and counted (xlmig_bk_events_dropped). */
bool xlmig_bk_next_event(struct xlmig_bk_coord *c, struct xlmig_bk_event *ev);
unsigned xlmig_bk_events_dropped(const struct xlmig_bk_coord *c);

bool xlmig_bk_state_is_final(enum xlmig_bk_state s);
const char *xlmig_bk_state_name(enum xlmig_bk_state s);
int xlmig_bk_state_parse(const char *s, enum xlmig_bk_state *out);
const char *xlmig_bk_kind_name(enum xlmig_bk_kind k);
int xlmig_bk_kind_parse(const char *s, enum xlmig_bk_kind *out);
const char *xlmig_bk_event_name(enum xlmig_bk_event_type t);

/* An agent name, domain name or id is 1..max-1 bytes of [A-Za-z0-9._:@-]:
 * it ends up in hook environments and file names. */
bool xlmig_bk_name_ok(const char *s, size_t max);

#endif
