/*
 * handover.h - backup jobs in a migration's side records (side.h): the
 * source turns the jobs that travel into records, the destination turns
 * each record back into a job it adopts.
 *
 * One record (type XLMIG_SIDE_BACKUP_HOLD) carries one job as record.h
 * encodes it.  The destination trusts nothing in it: the record is
 * decoded through the bounded JSON reader and checked field by field,
 * and a job that already ended on this host is refused.
 */
#ifndef XLMIG_BACKUP_HANDOVER_H
#define XLMIG_BACKUP_HANDOVER_H

#include "coord.h"
#include "side.h"

/* Source: the guest's held and waiting jobs become in transit with
 * migration mig_job, one record each in out. */
int xlmig_bk_handover_collect(struct xlmig_bk_coord *c, const char *domain, const char *mig_job,
			      int64_t now, struct xlmig_side_out *out);
/* Destination: one record of migration mig_job; the adopted job's id is
 * copied to id (may be NULL). */
int xlmig_bk_handover_consume(struct xlmig_bk_coord *c, const char *mig_job, const uint8_t *data,
			      size_t len, int64_t now, char id[XLMIG_BK_ID_MAX]);

#endif
