/*
 * job_record.c - the names of a job's steps and roles, as the journal,
 * `xlmig jobs` and the JSON answers spell them (see job_record.h).
 */
#include "job_record.h"

static const char *const step_names[] = {
	[XLMIG_STEP_QUEUED] = "queued",
	[XLMIG_STEP_SETUP] = "setup",
	[XLMIG_STEP_PRECOPY] = "precopy",
	[XLMIG_STEP_READY] = "ready",
	[XLMIG_STEP_GO] = "go",
	[XLMIG_STEP_DONE] = "done",
	[XLMIG_STEP_FAILED] = "failed",
	[XLMIG_STEP_CANCELLED] = "cancelled",
	[XLMIG_STEP_UNKNOWN] = "unknown",
	[XLMIG_STEP_CHECKED] = "checked",
};

const char *xlmig_step_name(enum xlmig_job_step step)
{
	if ((unsigned)step < XLMIG_ARRAY_SIZE(step_names))
		return step_names[step];
	return "invalid";
}

int xlmig_step_parse(const char *s, enum xlmig_job_step *out)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(step_names); i++)
		if (!strcmp(s, step_names[i])) {
			*out = (enum xlmig_job_step)i;
			return XLMIG_OK;
		}
	return xlmig_fail(XLMIG_E_FORMAT, "unknown job step '%s'", s);
}

bool xlmig_step_is_final(enum xlmig_job_step step)
{
	return step >= XLMIG_STEP_DONE;
}

const char *xlmig_role_name(enum xlmig_job_role role)
{
	return role == XLMIG_ROLE_SOURCE ? "source" : "destination";
}

int xlmig_role_parse(const char *s, enum xlmig_job_role *out)
{
	if (!strcmp(s, "source"))
		*out = XLMIG_ROLE_SOURCE;
	else if (!strcmp(s, "destination"))
		*out = XLMIG_ROLE_DEST;
	else
		return xlmig_fail(XLMIG_E_FORMAT, "unknown job role '%s'", s);
	return XLMIG_OK;
}
