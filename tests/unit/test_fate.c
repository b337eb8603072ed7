/*
 * test_fate.c - the FATE query's decisions and messages (fate.h): what a
 * destination answers from its record of a job, and the parsing of the
 * query and the answer as they come from the network.  The exchange
 * itself, and what a source does on each answer, are in test_job.c.
 */
#include "fate.h"
#include "unit.h"

static struct xlmig_job_record rec(enum xlmig_job_step step)
{
	struct xlmig_job_record r = { .role = XLMIG_ROLE_DEST, .step = step };

	snprintf(r.id, sizeof(r.id), "3");
	snprintf(r.domain, sizeof(r.domain), "g");
	return r;
}

TEST(fate_of_destination_record)
{
	struct xlmig_job_record r;

	/* Committed: whatever runs now, the guest ran here after GO. */
	r = rec(XLMIG_STEP_DONE);
	CHECK_EQ(xlmig_fate_of(&r, true), XLMIG_FATE_COMMITTED);
	CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_COMMITTED);
	/* Rolled back only when final and nothing of the guest is left. */
	r = rec(XLMIG_STEP_FAILED);
	CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_ROLLED_BACK);
	CHECK_EQ(xlmig_fate_of(&r, true), XLMIG_FATE_UNKNOWN);
	r = rec(XLMIG_STEP_CANCELLED);
	CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_ROLLED_BACK);
	CHECK_EQ(xlmig_fate_of(&r, true), XLMIG_FATE_UNKNOWN);
	/* Not decided yet: ask again, even with no copy yet. */
	for (enum xlmig_job_step s = XLMIG_STEP_QUEUED; s <= XLMIG_STEP_GO; s++) {
		r = rec(s);
		CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_PENDING);
		CHECK_EQ(xlmig_fate_of(&r, true), XLMIG_FATE_PENDING);
	}
	/* In doubt itself, or never a migration. */
	r = rec(XLMIG_STEP_UNKNOWN);
	CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_UNKNOWN);
	r = rec(XLMIG_STEP_CHECKED);
	CHECK_EQ(xlmig_fate_of(&r, false), XLMIG_FATE_UNKNOWN);
}

TEST(fate_names_round_trip)
{
	enum xlmig_fate f;

	for (int i = XLMIG_FATE_UNKNOWN; i <= XLMIG_FATE_ROLLED_BACK; i++) {
		CHECK_OK(xlmig_fate_parse(xlmig_fate_name((enum xlmig_fate)i), &f));
		CHECK_EQ(f, i);
	}
	CHECK_EQ(xlmig_fate_parse("rolled_back", &f), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_fate_parse("", &f), XLMIG_E_FORMAT);
}

TEST(fate_job_ids)
{
	CHECK(xlmig_fate_job_id_ok("17"));
	CHECK(xlmig_fate_job_id_ok("a-B_9"));
	CHECK(!xlmig_fate_job_id_ok(""));
	CHECK(!xlmig_fate_job_id_ok("1 2"));
	CHECK(!xlmig_fate_job_id_ok("../1"));
	CHECK(!xlmig_fate_job_id_ok("1234567890123456789012345678901"
				    "2"));   /* 32: one too long */
	CHECK(xlmig_fate_job_id_ok("1234567890123456789012345678901"));
}

static int query(const char *s, char job[XLMIG_JOB_ID_MAX])
{
	return xlmig_fate_query_parse((const uint8_t *)s, strlen(s), job);
}

TEST(fate_query_parse)
{
	char job[XLMIG_JOB_ID_MAX], big[8192];

	CHECK_OK(query("{\"job\":\"17\"}", job));
	CHECK_STR(job, "17");
	CHECK_EQ(query("{\"job\":17}", job), XLMIG_E_FORMAT);
	CHECK_EQ(query("{}", job), XLMIG_E_FORMAT);
	CHECK_EQ(query("[\"17\"]", job), XLMIG_E_FORMAT);
	CHECK_EQ(query("{\"job\":\"1\\u00002\"}", job), XLMIG_E_FORMAT);
	CHECK_EQ(query("{\"job\":\"17\"", job), XLMIG_E_FORMAT);
	CHECK_EQ(query("{\"job\":\"123456789012345678901234567890123\"}", job), XLMIG_E_FORMAT);
	/* Past the bounded reader's limit: refused unread. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"job\":\"1\"", 10);
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(query(big, job), XLMIG_E_LIMIT);
}

static int answer(const char *s, const char *want, struct xlmig_fate_answer *a)
{
	return xlmig_fate_answer_parse((const uint8_t *)s, strlen(s), want, a);
}

TEST(fate_answer_parse)
{
	struct xlmig_fate_answer a;
	char text[1024];

	CHECK_OK(answer("{\"job\":\"7\",\"fate\":\"committed\",\"message\":\"job 3 here is done\"}", "7", &a));
	CHECK_EQ(a.fate, XLMIG_FATE_COMMITTED);
	CHECK_STR(a.message, "job 3 here is done");
	CHECK_OK(answer("{\"job\":\"7\",\"fate\":\"rolled-back\"}", "7", &a));
	CHECK_EQ(a.fate, XLMIG_FATE_ROLLED_BACK);
	CHECK_STR(a.message, "");
	/* An answer about another job, or with no known fate, says nothing:
	 * the fate is left unknown, so no caller can act on it. */
	CHECK_EQ(answer("{\"job\":\"8\",\"fate\":\"rolled-back\"}", "7", &a), XLMIG_E_FORMAT);
	CHECK_EQ(a.fate, XLMIG_FATE_UNKNOWN);
	CHECK_EQ(answer("{\"job\":\"7\",\"fate\":\"gone\"}", "7", &a), XLMIG_E_FORMAT);
	CHECK_EQ(a.fate, XLMIG_FATE_UNKNOWN);
	CHECK_EQ(answer("{\"job\":\"7\",\"fate\":true}", "7", &a), XLMIG_E_FORMAT);
	CHECK_EQ(answer("{\"job\":\"7\",\"fate\":\"committed\",\"message\":3}", "7", &a), XLMIG_E_FORMAT);
	CHECK_EQ(a.fate, XLMIG_FATE_UNKNOWN);
	/* The peer's words: one line, cut to size. */
	CHECK_OK(answer("{\"job\":\"7\",\"fate\":\"pending\",\"message\":\"a\\nb\\u0001c\"}", "7", &a));
	CHECK_STR(a.message, "a b c");
	snprintf(text, sizeof(text), "{\"job\":\"7\",\"fate\":\"pending\",\"message\":\"%0600d\"}", 0);
	CHECK_OK(answer(text, "7", &a));
	CHECK_EQ(strlen(a.message), XLMIG_FATE_MSG_MAX - 1);
}
