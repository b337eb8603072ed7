/*
 * fate.h - what became of a migration after GO: the question a source in
 * doubt asks the destination, the destination's answer, and what the
 * source may do on it.
 *
 * A source that journaled GO and then lost the session (it was killed,
 * or DONE never came) cannot know whether the destination took the
 * guest: its own copy stays paused as NAME--migratedaway, the job
 * "unknown".  It asks the destination over a new session (the same TLS
 * or loopback machinery as a migration, one channel) whose first CTRL
 * message is a FATE query instead of a PREFLIGHT:
 *
 *   source -> FATE         {"job": "<the source's job id>"}
 *   dest   -> FATE_ANSWER  {"job": "<same>", "fate": F, "message": "..."}
 *
 * The destination journals, in its incoming job's record, the source's
 * job id (sent in PREFLIGHT) and the source's authenticated name (its
 * certificate's), and answers only about that peer's jobs:
 *
 *   committed    its record is "done": the guest ran there; the source
 *                destroys its own copy
 *   rolled-back  its record is final "failed" or "cancelled" AND no copy
 *                exists there (neither NAME, NAME--incoming nor the
 *                journaled domain id): the source renames its copy back
 *                and resumes it
 *   pending      its record is not final yet (waiting for GO, or taking
 *                the guest): ask again later
 *   unknown      no such job for this peer, or in doubt itself
 *
 * Both "committed" and "rolled-back" come from final records that never
 * change, so an answer never goes stale; a destination whose copy still
 * exists never says "rolled-back", so its answer cannot make the guest
 * run twice.  Anything else (no answer, a malformed one, an answer about
 * another job) leaves the source in doubt, its copy paused.
 *
 * The commit messages of a migration (job.c) are CTRL types 1..5; these
 * follow them.
 */
#ifndef XLMIG_FATE_H
#define XLMIG_FATE_H

#include "common.h"
#include "job_record.h"

#include <pthread.h>

#define XLMIG_FATE_CTRL_QUERY  6
#define XLMIG_FATE_CTRL_ANSWER 7

enum xlmig_fate {
	XLMIG_FATE_UNKNOWN = 0,
	XLMIG_FATE_PENDING,
	XLMIG_FATE_COMMITTED,
	XLMIG_FATE_ROLLED_BACK,
};

/* "unknown", "pending", "committed", "rolled-back"; parse fails with
 * XLMIG_E_FORMAT. */
const char *xlmig_fate_name(enum xlmig_fate f);
int xlmig_fate_parse(const char *s, enum xlmig_fate *out);

/* Destination: the answer its record r of the job gives, copy_here
 * saying whether any copy of the guest exists on this host. */
enum xlmig_fate xlmig_fate_of(const struct xlmig_job_record *r, bool copy_here);

/* A job id as it may travel: 1..XLMIG_JOB_ID_MAX-1 characters of
 * [0-9A-Za-z_-]. */
bool xlmig_fate_job_id_ok(const char *id);

#define XLMIG_FATE_MSG_MAX 256

struct xlmig_fate_answer {
	enum xlmig_fate fate;
	char message[XLMIG_FATE_MSG_MAX];  /* the destination's words, cut */
};

/* The messages' bodies, as parsed (exposed for tests and the fuzzer).
 * A query names a valid job id; an answer names the job asked about
 * (want_job) and a known fate.  Anything else is XLMIG_E_FORMAT. */
int xlmig_fate_query_parse(const uint8_t *body, size_t len, char job[XLMIG_JOB_ID_MAX]);
int xlmig_fate_answer_parse(const uint8_t *body, size_t len, const char *want_job,
			    struct xlmig_fate_answer *out);

/* Source: ask the destination at peer ("host:port", as a source record
 * keeps it) about job, everything within about timeout_ms.  tls, key and
 * insecure as for a migration (struct xlmig_job_env). */
struct xlmig_tls;
struct xlmig_key;
int xlmig_fate_ask(const char *peer, struct xlmig_tls *tls, const struct xlmig_key *key,
		   bool insecure, const char *job, int timeout_ms, struct xlmig_fate_answer *out);

/* Destination: answer the query (its body) that opened session conn,
 * from the journal and the backend (hv_lock serialises backend calls,
 * may be NULL). */
struct xlmig_conn;
struct xlmig_journal;
struct xlmig_hv;
int xlmig_fate_serve(struct xlmig_conn *conn, struct xlmig_journal *journal, struct xlmig_hv *hv,
		     pthread_mutex_t *hv_lock, const uint8_t *query, size_t len);

#endif
