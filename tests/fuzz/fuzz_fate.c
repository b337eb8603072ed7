/*
 * fuzz_fate.c - libFuzzer harness for the FATE query and its answer as
 * they come from the network (fate.h): the destination parses a query,
 * the source an answer, both through the bounded JSON reader.
 *
 * Input: one mode byte (even: a query, odd: an answer about job "7"),
 * then the message body.  A query that parses names a valid job id; an
 * answer that parses is about job 7, with a known fate and a message of
 * one line that fits its buffer; one that does not leaves the fate
 * unknown, so nobody can act on it.  Nothing may crash, leak or read out
 * of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a query and answers of every fate
 * into DIR and exits.
 */
#include "fate.h"
#include "harness.h"

static void write_seeds(const char *dir)
{
	static const char *const answers[] = {
		"{\"job\":\"7\",\"fate\":\"committed\",\"message\":\"job 3 here is done\"}",
		"{\"job\":\"7\",\"fate\":\"rolled-back\",\"message\":\"job 3 here is failed: GO timed out\"}",
		"{\"job\":\"7\",\"fate\":\"pending\"}",
		"{\"job\":\"7\",\"fate\":\"unknown\",\"message\":\"no incoming job from a for its job 7 here\"}",
	};
	static const char query[] = "{\"job\":\"17\"}";
	char name[32];

	fuzz_put_seed(dir, "query", 0, query, strlen(query));
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(answers); i++) {
		snprintf(name, sizeof(name), "answer-%zu", i);
		fuzz_put_seed(dir, name, 1, answers[i], strlen(answers[i]));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char job[XLMIG_JOB_ID_MAX];
	struct xlmig_fate_answer a;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		if (xlmig_fate_query_parse(data + 1, size - 1, job) == XLMIG_OK &&
		    !xlmig_fate_job_id_ok(job))
			abort();
		return 0;
	}
	if (xlmig_fate_answer_parse(data + 1, size - 1, "7", &a) != XLMIG_OK) {
		if (a.fate != XLMIG_FATE_UNKNOWN)
			abort();
		return 0;
	}
	if ((unsigned)a.fate > XLMIG_FATE_ROLLED_BACK || !memchr(a.message, 0, sizeof(a.message)))
		abort();
	for (const char *p = a.message; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort();
	return 0;
}
