/*
 * test_job_record.c - the names of a job's steps and roles: every one
 * reads back as itself, since the journal stores them as text and a
 * restarted daemon parses them to decide what to finish or roll back.
 */
#include "unit.h"
#include "job_record.h"

TEST(job_record_step_names)
{
	CHECK_STR(xlmig_step_name(XLMIG_STEP_GO), "go");
	CHECK_STR(xlmig_step_name(XLMIG_STEP_CHECKED), "checked");
	CHECK_STR(xlmig_step_name((enum xlmig_job_step)99), "invalid");
	CHECK(!xlmig_step_is_final(XLMIG_STEP_GO));
	CHECK(xlmig_step_is_final(XLMIG_STEP_UNKNOWN));
	CHECK(xlmig_step_is_final(XLMIG_STEP_DONE));
	CHECK(xlmig_step_is_final(XLMIG_STEP_CHECKED));
}

TEST(job_record_names_round_trip)
{
	enum xlmig_job_step step;
	enum xlmig_job_role role;

	for (int s = XLMIG_STEP_QUEUED; s <= XLMIG_STEP_CHECKED; s++) {
		CHECK_OK(xlmig_step_parse(xlmig_step_name((enum xlmig_job_step)s), &step));
		CHECK_EQ((int)step, s);
	}
	CHECK_OK(xlmig_role_parse(xlmig_role_name(XLMIG_ROLE_SOURCE), &role));
	CHECK_EQ(role, XLMIG_ROLE_SOURCE);
	CHECK_OK(xlmig_role_parse(xlmig_role_name(XLMIG_ROLE_DEST), &role));
	CHECK_EQ(role, XLMIG_ROLE_DEST);
}

TEST(job_record_bad_names)
{
	enum xlmig_job_step step = XLMIG_STEP_SETUP;
	enum xlmig_job_role role = XLMIG_ROLE_DEST;

	CHECK_EQ(xlmig_step_parse("invalid", &step), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_step_parse("", &step), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_step_parse("GO", &step), XLMIG_E_FORMAT);
	CHECK_EQ(step, XLMIG_STEP_SETUP);
	CHECK_EQ(xlmig_role_parse("dest", &role), XLMIG_E_FORMAT);
	CHECK_EQ(role, XLMIG_ROLE_DEST);
}
