/*
 * fuzz_side.c - libFuzzer harness for side records as a destination
 * receives them (side.h): SIDE frame payloads (le32 type, then the
 * record) dispatched to their providers, with the backup coordinator's
 * provider (backup/handover.h) adopting the jobs they carry.
 *
 * Input: a sequence of le32 length + SIDE payload.  Every payload that
 * parses is dispatched; records over XLMIG_SIDE_MAX and unknown types
 * must be handled without harm.  Once the guest "arrives", no adopted job
 * may stay in transit, and none is resumed twice.  Nothing may crash,
 * leak or read out of bounds.  One coordinator serves every input, reset
 * before each (xlmig_bk_coord_reset: a new one is over a megabyte to
 * allocate and zero, which took most of each input's time).
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a stream of two travelling jobs, one
 * with an unknown record type between them, into DIR.
 */
#include "handover.h"
#include "harness.h"
#include "record.h"
#include "side.h"
#include "wire.h"

static int consume(void *opaque, const struct xlmig_side_ctx *ctx, const uint8_t *data, size_t len)
{
	return xlmig_bk_handover_consume(opaque, ctx->job_id, data, len, 100, NULL);
}

static void put_frame(struct xlmig_buf *out, uint32_t type, const void *data, size_t len)
{
	struct xlmig_buf b = { 0 };
	uint8_t le[4];

	if (xlmig_wire_typed_build(&b, type, data, len))
		abort();
	xlmig_put_le32(le, (uint32_t)b.len);
	xlmig_buf_append(out, le, 4);
	xlmig_buf_append(out, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	static struct xlmig_bk_job j;
	struct xlmig_buf rec = { 0 }, out = { 0 };

	snprintf(j.id, sizeof(j.id), "3fa2b1c0-17");
	snprintf(j.domain, sizeof(j.domain), "web1");
	snprintf(j.agent, sizeof(j.agent), "vendor");
	snprintf(j.host, sizeof(j.host), "hostA");
	snprintf(j.origin, sizeof(j.origin), "hostA");
	snprintf(j.mig_job, sizeof(j.mig_job), "9");
	j.state = XLMIG_BK_IN_TRANSIT;
	j.here = true;
	j.lease_secs = 300;
	memcpy(j.token, "offset=65536", 12);
	j.token_len = 12;
	xlmig_bk_job_encode(&j, &rec);
	put_frame(&out, XLMIG_SIDE_BACKUP_HOLD, rec.data, rec.len);
	put_frame(&out, 77, "future", 6);
	snprintf(j.id, sizeof(j.id), "3fa2b1c0-18");
	j.wait = true;
	xlmig_buf_reset(&rec);
	xlmig_bk_job_encode(&j, &rec);
	put_frame(&out, XLMIG_SIDE_BACKUP_HOLD, rec.data, rec.len);
	fuzz_put_seed(dir, "two-jobs", -1, out.data, out.len);
	xlmig_buf_free(&rec);
	xlmig_buf_free(&out);
}

static struct xlmig_bk_coord *c;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct xlmig_bk_config cfg;

	fuzz_init(write_seeds);
	xlmig_bk_config_default(&cfg);
	if (xlmig_bk_coord_new(&cfg, &c))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_side_provider p = { .name = "backup", .type = XLMIG_SIDE_BACKUP_HOLD, .dest_consume = consume };
	const struct xlmig_side_provider *const ps[] = { &p };
	struct xlmig_side_set set = { .p = ps, .n = 1 };
	static atomic_bool no_cancel;
	struct xlmig_side_ctx ctx = { .job_id = "1", .domain = "web1", .peer = "a", .cancel = &no_cancel };
	size_t off = 0;

	xlmig_bk_coord_reset(c);
	p.opaque = c;
	while (size - off >= 4) {
		uint32_t len = xlmig_get_le32(data + off), type;
		const uint8_t *rec;
		size_t rec_len;

		off += 4;
		if (len > size - off)
			break;
		if (xlmig_wire_typed_parse(data + off, len, &type, &rec, &rec_len) == XLMIG_OK)
			xlmig_side_dispatch(&set, &ctx, type, rec, rec_len);
		off += len;
	}
	xlmig_bk_arrived(c, "1", 200);
	for (size_t i = 0; i < xlmig_bk_count(c); i++) {
		const struct xlmig_bk_job *j = xlmig_bk_at(c, i);
		if (j->here && j->state == XLMIG_BK_IN_TRANSIT && !strcmp(j->mig_job, "1"))
			abort();   /* arrived, yet still travelling */
	}
	return 0;
}
