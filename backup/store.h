/*
 * store.h - the backup coordinator's persistent state: every job (and
 * the id counter) in DIR/backup.tdb, written in synced tdb transactions.
 *
 * The caller saves what the coordinator marked dirty in one transaction
 * after each change, before it answers or acts, so a daemon killed at
 * any point restarts knowing every job and hold as of its last answer;
 * xlmig_bk_recover() (coord.h) then settles what was in the middle of a
 * hand-over.  The database is the daemon's own: the state directory's
 * lock (journal.h) keeps a second daemon away.
 */
#ifndef XLMIG_BACKUP_STORE_H
#define XLMIG_BACKUP_STORE_H

#include "coord.h"

struct xlmig_bk_store;

int xlmig_bk_store_open(const char *dir, struct xlmig_bk_store **out);
void xlmig_bk_store_close(struct xlmig_bk_store *st);

/* Every stored job into c, and the id counter.  A damaged record is
 * skipped with a warning naming it (one bad record must not cost the
 * others). */
int xlmig_bk_store_load(struct xlmig_bk_store *st, struct xlmig_bk_coord *c);
/* Write the coordinator's dirty jobs, forgotten ones and the id counter
 * in one synced transaction. */
int xlmig_bk_store_save(struct xlmig_bk_store *st, struct xlmig_bk_coord *c);

#endif
