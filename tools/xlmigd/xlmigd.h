/*
 * xlmigd.h - what the parts of the daemon share: its configuration, the
 * event loop, the job table, and the entry points of each part
 * (control.c serves the control socket, jobs.c runs jobs in threads,
 * listener.c accepts incoming migrations, requests.c answers requests,
 * watch.c follows domains that come and go outside xlmig, backup.c hosts
 * the backup coordinator, backup_snapshot.c runs checkpoints and restores,
 * indoubt.c settles outgoing jobs left in doubt after GO).
 *
 * Threads: the event loop owns the job table.  Job threads never touch it;
 * they post messages (struct xlmigd_note) through a socketpair that the
 * loop reads.  A running job's progress is read under the job's own lock.
 */
#ifndef XLMIGD_H
#define XLMIGD_H

#include "auth.h"
#include "coord.h"
#include "common.h"
#include "daemon_conf.h"
#include "guest_policy.h"
#include "hv.h"
#include "job.h"
#include "journal.h"
#include "side.h"

#include <event2/event.h>
#include <pthread.h>

struct xlmigd_job {
	struct xlmig_job *job;
	bool started;                /* has a thread */
	struct xlmigd_job *next;
};

struct xlmigd {
	struct xlmig_daemon_config cfg;
	struct event_base *base;
	struct xlmig_hv *hv;
	pthread_mutex_t hv_lock;
	struct xlmig_journal *journal;
	struct xlmig_key *key;       /* the pre-shared key, an extra check, in
				      * the secure heap (auth.h); NULL = none */
	struct xlmig_tls *tls;       /* NULL only with --insecure */
	struct xlmig_guest_policy policy; /* what incoming guests may ask for */
	struct xlmig_job_env env;
	_Atomic uint64_t window_learned_ns; /* env.window_learned_ns (job.h) */
	int note_fd[2];              /* [1] written by job threads */
	struct event *note_ev;
	struct xlmigd_job *jobs;     /* live jobs, oldest first */
	unsigned running_out;        /* outgoing jobs with a thread */
	unsigned running_in;
	bool stopping;
	void *control;               /* control.c's state */
	void *listener;              /* listener.c's state */
	struct event *watch_ev;      /* watch.c: the backend's domain watch */
	struct xlmig_bk_config backup_cfg;
	const char *agent_socket;     /* backup agents' socket, NULL = none */
	struct xlmigd_backup *backup; /* backup.c's state */
	struct xlmigd_snapshots *snapshots; /* backup_snapshot.c's state */
	/* The side-record providers every job is given (env.side). */
	const struct xlmig_side_provider *side[4];
	void *indoubt;               /* indoubt.c's state */
};

/* jobs.c */
int xlmigd_jobs_init(struct xlmigd *d);
void xlmigd_jobs_fini(struct xlmigd *d);
/* Queue an outgoing job (it starts when a slot is free). */
int xlmigd_jobs_add_source(struct xlmigd *d, struct xlmig_job *job);
/* From a listener thread: the incoming job it is about to run. */
void xlmigd_jobs_post_incoming(struct xlmigd *d, struct xlmig_job *job);
/* From a listener thread: that incoming job finished (job is freed by the loop). */
void xlmigd_jobs_post_incoming_done(struct xlmigd *d, struct xlmig_job *job);
struct xlmig_job *xlmigd_jobs_find(struct xlmigd *d, const char *id);
/* Start a queued job now, whatever the slots (it is about to fail). */
void xlmigd_jobs_start_now(struct xlmigd *d, struct xlmigd_job *dj);
/* Cancel every job and stop the loop once none runs. */
void xlmigd_jobs_shutdown(struct xlmigd *d);
/* Give every job from now on this side-record provider too (side.h). */
int xlmigd_side_add(struct xlmigd *d, const struct xlmig_side_provider *p);

/* control.c */
int xlmigd_control_start(struct xlmigd *d);
void xlmigd_control_stop(struct xlmigd *d);

/* watch.c */
int xlmigd_watch_start(struct xlmigd *d);
void xlmigd_watch_stop(struct xlmigd *d);

/* indoubt.c: the background thread settling jobs in doubt after GO */
int xlmigd_indoubt_start(struct xlmigd *d);
/* From any thread: a job fell in doubt, ask its destination now. */
void xlmigd_indoubt_poke(struct xlmigd *d);
void xlmigd_indoubt_stop(struct xlmigd *d);

/* listener.c */
int xlmigd_listener_start(struct xlmigd *d);
void xlmigd_listener_stop(struct xlmigd *d);
/* The job env's dial_self (job.h): opaque is the daemon. */
int xlmigd_listener_dial_self(void *opaque, const char *host, unsigned port, int *fd);

/* requests.c: answer one request line; the reply is appended to out.
 * From the backup agents' socket (agent), only the backup verbs. */
void xlmigd_request(struct xlmigd *d, const char *line, struct xlmig_buf *out, bool agent);

/* network.c: offload state carried with guests, applied and reported */
int xlmigd_network_start(struct xlmigd *d);
void xlmigd_network_stop(struct xlmigd *d);

/* backup.c: the backup coordinator (after job recovery, before sockets) */
int xlmigd_backup_start(struct xlmigd *d);
void xlmigd_backup_stop(struct xlmigd *d);
bool xlmigd_backup_handles(const char *cmd);
struct xlmig_json;
struct xlmig_json_writer;
int xlmigd_backup_request(struct xlmigd *d, const char *cmd, const struct xlmig_json *args,
			  struct xlmig_json_writer *w);
/* xlmig's own agent (backup_snapshot.c) as the coordinator sees it: a
 * job begun (not for a guest that is not here), a report (renews the
 * lease, acknowledges a hold, confirms a resume; *state after it), an
 * end. */
int xlmigd_backup_begin_own(struct xlmigd *d, const struct xlmig_bk_begin *bg, struct xlmig_bk_job *out,
			    bool *deferred);
int xlmigd_backup_report(struct xlmigd *d, const char *id, enum xlmig_bk_state *state);
int xlmigd_backup_report_if(struct xlmigd *d, const char *id, bool not_if_held,
			    enum xlmig_bk_state *state);
int xlmigd_backup_finish(struct xlmigd *d, const char *id, bool ok, const char *message);

/* backup_snapshot.c: xlmig snapshot and restore (started by backup.c) */
int xlmigd_snapshot_init(struct xlmigd *d);
/* Cancel the running checkpoints and wait for every task to end. */
void xlmigd_snapshot_stop(struct xlmigd *d);
/* A coordinator event (under its lock): checkpoints start, resume, stop. */
void xlmigd_snapshot_event(struct xlmigd *d, const struct xlmig_bk_event *ev);
/* A migration of domain, its backup jobs held: wait until no checkpoint
 * of it is inside its save (until deadline_ns, xlmig_now_ns()'s clock). */
int xlmigd_snapshot_wait_saves(struct xlmigd *d, const char *domain, uint64_t deadline_ns,
			       const atomic_bool *cancel);
/* At start-up, for a checkpoint job found unfinished: its guest runs
 * again if it was left suspended, its partial file goes. */
int xlmigd_snapshot_recover(struct xlmigd *d, const struct xlmig_bk_job *j);
bool xlmigd_snapshot_handles(const char *cmd);
int xlmigd_snapshot_request(struct xlmigd *d, const char *cmd, const struct xlmig_json *args,
			    struct xlmig_json_writer *w);

#endif
