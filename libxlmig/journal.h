/*
 * journal.h - xlmigd's persistent state: job history and the journal of
 * commit steps, in a tdb database in the state directory.
 *
 * Every migration job (outgoing or incoming) has one record.  Its step is
 * written, and synced to disk, before the job acts on it: a daemon that
 * restarts reads the records that did not reach a final step and finishes
 * or rolls back each one (see xlmig_job_recover() in job.h), so a guest is
 * never lost and never runs twice.  Finished records stay as the history
 * `xlmig jobs` shows, together with the job's final statistics (JSON).
 *
 * The journal is a store: what a record holds (struct xlmig_job_record,
 * the steps and roles) is defined in job_record.h, which the job (job.h)
 * shares.
 */
#ifndef XLMIG_JOURNAL_H
#define XLMIG_JOURNAL_H

#include "common.h"
#include "job_record.h"

struct xlmig_journal;

/* Open (create) DIR/xlmig.tdb; DIR is created 0700 if missing. */
int xlmig_journal_open(const char *dir, struct xlmig_journal **out);
void xlmig_journal_close(struct xlmig_journal *st);

/* A fresh job id, unique over the life of the state file. */
int xlmig_journal_new_id(struct xlmig_journal *st, char id[XLMIG_JOB_ID_MAX]);
/* This host's identity: 32 lowercase hex digits, random, made on first
 * use and kept in the state file, so it survives restarts and no two
 * hosts share it.  A migration job uses it to recognise a source that is
 * this very host (a localhost migration). */
#define XLMIG_HOST_ID_LEN 32
int xlmig_journal_host_id(struct xlmig_journal *st, char id[XLMIG_HOST_ID_LEN + 1]);
/* A figure this host learned and keeps across restarts, by name (a short
 * key such as "window-learned-ns"): get gives XLMIG_E_NOTFOUND when none
 * was kept. */
int xlmig_journal_put_u64(struct xlmig_journal *st, const char *name, uint64_t v);
int xlmig_journal_get_u64(struct xlmig_journal *st, const char *name, uint64_t *v);
/* Write a record durably (a synced tdb transaction); updated is set. */
int xlmig_journal_put(struct xlmig_journal *st, struct xlmig_job_record *rec);
int xlmig_journal_get(struct xlmig_journal *st, const char *id,
		    struct xlmig_job_record *out);
/* Final statistics (a JSON document) kept next to a record. */
int xlmig_journal_put_stats(struct xlmig_journal *st, const char *id, const char *json);
/* *json is malloc'd; NOTFOUND when the job has none. */
int xlmig_journal_get_stats(struct xlmig_journal *st, const char *id, char **json);

/* Every record, oldest id first; *out is malloc'd. */
int xlmig_journal_list(struct xlmig_journal *st, struct xlmig_job_record **out,
		     size_t *n);

/* The record's text form ("key=value" lines), exposed for tests. */
int xlmig_journal_record_encode(const struct xlmig_job_record *rec, struct xlmig_buf *out);
int xlmig_journal_record_decode(const uint8_t *data, size_t len,
				struct xlmig_job_record *out);

#endif
