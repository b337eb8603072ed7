/*
 * fuzz_journal.c - libFuzzer harness for job records as read back from
 * the state file (xlmig_journal_record_decode): a damaged or hand-edited
 * xlmig.tdb must be refused, never trusted.
 *
 * A record that decodes must have an id and in-range fields, and must
 * survive the round trip: encoded, it decodes again, and encoding that
 * gives the very same bytes.  Nothing may crash, leak or read out of
 * bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes records as xlmigd encodes them (a
 * finished source job, a destination job that failed with a message, a
 * queued job) into DIR and exits.
 */
#include "harness.h"
#include "journal.h"

static void encode(const struct xlmig_job_record *rec, struct xlmig_buf *out)
{
	if (xlmig_journal_record_encode(rec, out) != XLMIG_OK)
		abort();   /* a decoded record always has a text form */
}

static void check_fields(const struct xlmig_job_record *rec)
{
	if (!rec->id[0] || memchr(rec->id, 0, sizeof(rec->id)) == NULL ||
	    memchr(rec->domain, 0, sizeof(rec->domain)) == NULL ||
	    memchr(rec->peer, 0, sizeof(rec->peer)) == NULL ||
	    memchr(rec->message, 0, sizeof(rec->message)) == NULL ||
	    memchr(rec->src_job, 0, sizeof(rec->src_job)) == NULL ||
	    memchr(rec->src_host, 0, sizeof(rec->src_host)) == NULL ||
	    (rec->role != XLMIG_ROLE_SOURCE && rec->role != XLMIG_ROLE_DEST) ||
	    (unsigned)rec->step > XLMIG_STEP_CHECKED || rec->err > 0 ||
	    rec->created < 0 || rec->updated < 0)
		abort();
}

static void write_seeds(const char *dir)
{
	struct xlmig_job_record recs[] = {
		{ .id = "17", .role = XLMIG_ROLE_SOURCE, .step = XLMIG_STEP_DONE, .domain = "web-1",
		  .domid = 12, .peer = "10.0.0.2:8002", .created = 1700000000, .updated = 1700000042,
		  .message = "migrated in 41.8 s, 212 ms downtime" },
		{ .id = "18", .role = XLMIG_ROLE_DEST, .step = XLMIG_STEP_FAILED, .domain = "db-2",
		  .peer = "[fd00::1]:40312", .created = 1700000100, .updated = 1700000101,
		  .err = XLMIG_E_NOSPC, .message = "restore: not enough memory = 2 GiB needed",
		  .src_job = "41", .src_host = "host-a.example" },
		{ .id = "19", .role = XLMIG_ROLE_SOURCE, .step = XLMIG_STEP_QUEUED, .domain = "7" },
	};
	struct xlmig_buf b = { 0 };
	char name[16];

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(recs); i++) {
		xlmig_buf_reset(&b);
		encode(&recs[i], &b);
		snprintf(name, sizeof(name), "record-%s", recs[i].id);
		fuzz_put_seed(dir, name, -1, b.data, b.len);
	}
	xlmig_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_job_record rec, again;
	struct xlmig_buf once = { 0 }, twice = { 0 };

	if (xlmig_journal_record_decode(data, size, &rec) != XLMIG_OK)
		return 0;
	check_fields(&rec);
	encode(&rec, &once);
	if (xlmig_journal_record_decode(once.data, once.len, &again) != XLMIG_OK)
		abort();
	check_fields(&again);
	encode(&again, &twice);
	if (once.len != twice.len || memcmp(once.data, twice.data, once.len))
		abort();
	xlmig_buf_free(&once);
	xlmig_buf_free(&twice);
	return 0;
}
