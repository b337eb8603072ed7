/*
 * hook.h - run-parts style hooks: for an event, every executable in
 * DIR/EVENT/ runs in lexical order, each with a timeout, its context in
 * XLMIG_* environment variables, its exit status and output logged.
 *
 * Policy (stated, never silent): hooks tell; they do not decide.  A hook
 * that exits non-zero, is killed by a signal, outlives its timeout (its
 * process group gets SIGTERM, then SIGKILL a second later) or prints
 * bytes that are not printable text is logged as a warning with its name,
 * status and output (cut at XLMIG_HOOK_OUTPUT_MAX, other bytes shown as
 * \xNN), counted in the run's report, and the next hook still runs.  What
 * happened to the backup or migration does not change.  Names that
 * run-parts would skip are skipped too: a leading dot, anything but
 * [A-Za-z0-9_-], directories, files that are not executable.
 *
 * The environment of a hook is only PATH and the variables given: nothing
 * of the daemon's own leaks in.  xlmig_hook_queue runs events one after
 * the other on a thread of its own, so the event loop never waits for a
 * hook and a job's events reach its hooks in the order they happened.
 */
#ifndef XLMIG_BACKUP_HOOK_H
#define XLMIG_BACKUP_HOOK_H

#include "common.h"

#define XLMIG_HOOK_OUTPUT_MAX 4096u   /* bytes of a hook's output kept for the log */
#define XLMIG_HOOK_VARS_MAX 32
#define XLMIG_HOOK_NAME_MAX 256

struct xlmig_hook_var {
	const char *name;    /* XLMIG_... */
	const char *value;
};

struct xlmig_hook_report {
	unsigned ran;
	unsigned failed;     /* non-zero exit or killed by a signal */
	unsigned timed_out;
	unsigned garbage;    /* printed bytes that are not printable text */
};

/* Run DIR/EVENT/'s hooks now, blocking (at most timeout_ms each plus a
 * second to reap).  A missing directory is not an error: no hooks. */
int xlmig_hooks_run(const char *dir, const char *event, const struct xlmig_hook_var *vars,
		    size_t nvars, unsigned timeout_ms, struct xlmig_hook_report *rep);

struct xlmig_hook_queue;

int xlmig_hook_queue_new(const char *dir, unsigned timeout_ms, struct xlmig_hook_queue **out);
/* Queue an event (vars are copied).  Never blocks on a hook. */
int xlmig_hook_queue_push(struct xlmig_hook_queue *q, const char *event,
			  const struct xlmig_hook_var *vars, size_t nvars);
/* Wait up to timeout_ms for the queue to empty; XLMIG_E_TIMEOUT if not. */
int xlmig_hook_queue_drain(struct xlmig_hook_queue *q, unsigned timeout_ms);
/* Totals over every event run so far. */
void xlmig_hook_queue_report(struct xlmig_hook_queue *q, struct xlmig_hook_report *out);
/* Stop after the event running now; what is still queued is logged as
 * not run. */
void xlmig_hook_queue_free(struct xlmig_hook_queue *q);

#endif
