/*
 * handover.c - backup jobs in side records (handover.h).
 */
#include "handover.h"
#include "record.h"

#include <stdlib.h>

int xlmig_bk_handover_collect(struct xlmig_bk_coord *c, const char *domain, const char *mig_job,
			      int64_t now, struct xlmig_side_out *out)
{
	struct xlmig_bk_job *jobs = calloc(XLMIG_SIDE_RECORDS_MAX, sizeof(*jobs));
	struct xlmig_buf rec = { 0 };
	size_t n = 0;
	int rc;

	if (!jobs)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for travelling backup jobs");
	rc = xlmig_bk_mig_collect(c, domain, mig_job, now, jobs, XLMIG_SIDE_RECORDS_MAX, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		xlmig_buf_reset(&rec);
		if (!(rc = xlmig_bk_job_encode(&jobs[i], &rec)))
			rc = xlmig_side_add(out, rec.data, rec.len);
	}
	xlmig_buf_free(&rec);
	free(jobs);
	return rc;
}

int xlmig_bk_handover_consume(struct xlmig_bk_coord *c, const char *mig_job, const uint8_t *data,
			      size_t len, int64_t now, char id[XLMIG_BK_ID_MAX])
{
	struct xlmig_bk_job *job = malloc(sizeof(*job));
	int rc;

	if (!job)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for an arriving backup job");
	if (len > XLMIG_BK_RECORD_MAX)
		rc = xlmig_fail(XLMIG_E_LIMIT, "a backup job record of %zu bytes (at most %u)", len,
				XLMIG_BK_RECORD_MAX);
	else if ((rc = xlmig_bk_job_decode(data, len, job)) == XLMIG_OK)
		rc = xlmig_bk_adopt(c, job, mig_job, job->origin, now);
	if (!rc && id)
		snprintf(id, XLMIG_BK_ID_MAX, "%s", job->id);
	free(job);
	return rc;
}
