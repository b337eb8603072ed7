/*
 * fuzz_backup_record.c - libFuzzer harness for a backup job record
 * (backup/record.h): what a migration's side record carries from another
 * host, and what the backup store reads back at start-up.
 *
 * A record that decodes must survive the round trip (encoded again it
 * decodes to the very same job, byte for byte) and is offered to a
 * coordinator as an arriving job, which takes it or refuses it cleanly.
 * Nothing may crash, leak or read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes records of a running, a held, a
 * travelling and a finished job (with and without tokens) into DIR.
 */
#include "harness.h"
#include "record.h"

static void put_job(const char *dir, const char *name, const struct xlmig_bk_job *j)
{
	struct xlmig_buf b = { 0 };

	if (xlmig_bk_job_encode(j, &b))
		abort();
	fuzz_put_seed(dir, name, -1, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	static struct xlmig_bk_job j;

	snprintf(j.id, sizeof(j.id), "3fa2b1c0-17");
	snprintf(j.domain, sizeof(j.domain), "web1");
	snprintf(j.agent, sizeof(j.agent), "vendor");
	snprintf(j.host, sizeof(j.host), "hostA");
	snprintf(j.origin, sizeof(j.origin), "hostA");
	snprintf(j.message, sizeof(j.message), "granted on hostA");
	j.state = XLMIG_BK_RUNNING;
	j.here = true;
	j.lease_secs = 300;
	j.lease_until = 1700000300;
	j.created = j.updated = 1700000000;
	put_job(dir, "running", &j);
	j.state = XLMIG_BK_IN_TRANSIT;
	j.kind = XLMIG_BK_CHECKPOINT;
	snprintf(j.mig_job, sizeof(j.mig_job), "42");
	memcpy(j.token, "cursor=1234\0\xff", 13);
	j.token_len = 13;
	j.resumes = 2;
	put_job(dir, "transit", &j);
	j.state = XLMIG_BK_HELD;
	j.acked = true;
	j.hold_deadline = 1700000030;
	put_job(dir, "held", &j);
	j.state = XLMIG_BK_DONE;
	j.here = false;
	j.token_len = XLMIG_BK_TOKEN_MAX;
	put_job(dir, "done-bigtoken", &j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xlmig_bk_job job, again;
	struct xlmig_bk_config cfg;
	struct xlmig_bk_coord *c;
	struct xlmig_buf b = { 0 };

	if (xlmig_bk_job_decode(data, size, &job) != XLMIG_OK)
		return 0;
	if (xlmig_bk_job_encode(&job, &b) || xlmig_bk_job_decode(b.data, b.len, &again) ||
	    memcmp(&job, &again, sizeof(job)))
		abort();
	xlmig_buf_free(&b);
	xlmig_bk_config_default(&cfg);
	if (xlmig_bk_coord_new(&cfg, &c))
		abort();
	if (xlmig_bk_adopt(c, &job, "1", "peer", 1) == XLMIG_OK) {
		xlmig_bk_arrived(c, "1", 2);
		if (job.state == XLMIG_BK_IN_TRANSIT && !xlmig_bk_find(c, job.id))
			abort();
	}
	xlmig_bk_coord_free(c);
	return 0;
}
