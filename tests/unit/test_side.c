/*
 * test_side.c - the side-record seam (side.h) and the backup hand-over
 * through it (backup/handover.h): records collected on one coordinator
 * reach another, bounds are enforced, unknown types are skipped.
 */
#include "handover.h"
#include "side.h"
#include "unit.h"

#include <stdlib.h>

struct wire {
	struct xlmig_buf frames[8];
	uint32_t types[8];
	size_t n;
};

static int capture(void *opaque, uint32_t type, const void *data, size_t len)
{
	struct wire *w = opaque;

	if (w->n == 8)
		return XLMIG_E_LIMIT;
	w->types[w->n] = type;
	return xlmig_buf_append(&w->frames[w->n++], data, len);
}

static struct xlmig_bk_coord *coord(const char *host)
{
	struct xlmig_bk_config cfg;
	struct xlmig_bk_coord *c = NULL;

	xlmig_bk_config_default(&cfg);
	snprintf(cfg.host, sizeof(cfg.host), "%s", host);
	xlmig_bk_coord_new(&cfg, &c);
	return c;
}

static int collect(void *opaque, const struct xlmig_side_ctx *ctx, struct xlmig_side_out *out)
{
	return xlmig_bk_handover_collect(opaque, ctx->domain, ctx->job_id, 10, out);
}

static int consume(void *opaque, const struct xlmig_side_ctx *ctx, const uint8_t *data, size_t len)
{
	return xlmig_bk_handover_consume(opaque, ctx->job_id, data, len, 11, NULL);
}

TEST(side_backup_jobs_travel_between_coordinators)
{
	struct xlmig_bk_coord *a = coord("a"), *b = coord("b");
	struct xlmig_bk_begin bg = { .domain = "web1", .agent = "v" };
	struct xlmig_bk_job *j, *jb;
	struct xlmig_side_provider pa = { .name = "backup", .type = XLMIG_SIDE_BACKUP_HOLD, .source_collect = collect };
	struct xlmig_side_provider pb = { .name = "backup", .type = XLMIG_SIDE_BACKUP_HOLD, .dest_consume = consume };
	const struct xlmig_side_provider *const sa[] = { &pa }, *const sb[] = { &pb };
	struct xlmig_side_set set_a = { sa, 1 }, set_b = { sb, 1 };
	static atomic_bool no_cancel;
	struct xlmig_side_ctx ca = { "9", "web1", "b", &no_cancel }, cb = { "4", "web1", "a", &no_cancel };
	struct wire *w = calloc(1, sizeof(*w));
	bool d;

	CHECK(a && b && w);
	pa.opaque = a;
	pb.opaque = b;
	CHECK_OK(xlmig_bk_begin(a, &bg, 1, &j, &d));
	CHECK_OK(xlmig_bk_progress(a, j->id, (const uint8_t *)"off=7", 5, false, 2, &j));
	CHECK_EQ(xlmig_bk_mig_begin(a, "web1", "9", 3), XLMIG_BK_GO);
	CHECK_OK(xlmig_side_source_send(&set_a, &ca, capture, w));
	CHECK_EQ(w->n, 1);
	CHECK_EQ(w->types[0], XLMIG_SIDE_BACKUP_HOLD);
	CHECK_EQ(j->state, XLMIG_BK_IN_TRANSIT);
	/* An unknown type is skipped, an over-long record refused. */
	CHECK_OK(xlmig_side_dispatch(&set_b, &cb, 99, (const uint8_t *)"x", 1));
	CHECK_EQ(xlmig_side_dispatch(&set_b, &cb, XLMIG_SIDE_BACKUP_HOLD, w->frames[0].data, XLMIG_SIDE_MAX + 1),
		 XLMIG_E_LIMIT);
	CHECK_OK(xlmig_side_dispatch(&set_b, &cb, XLMIG_SIDE_BACKUP_HOLD, w->frames[0].data, w->frames[0].len));
	/* The same record twice makes one job (as a migration to the very
	 * host does: its source already has it in transit). */
	CHECK_OK(xlmig_side_dispatch(&set_b, &cb, XLMIG_SIDE_BACKUP_HOLD, w->frames[0].data, w->frames[0].len));
	CHECK_EQ(xlmig_bk_count(b), 1);
	/* Garbage is refused with a format error. */
	CHECK_EQ(xlmig_side_dispatch(&set_b, &cb, XLMIG_SIDE_BACKUP_HOLD, (const uint8_t *)"{}", 2), XLMIG_E_FORMAT);
	xlmig_bk_arrived(b, "4", 12);
	CHECK((jb = xlmig_bk_find(b, j->id)));
	CHECK_EQ(jb->state, XLMIG_BK_RESUMING);
	CHECK_EQ(jb->token_len, 5);
	CHECK(!memcmp(jb->token, "off=7", 5));
	for (size_t i = 0; i < 8; i++)
		xlmig_buf_free(&w->frames[i]);
	free(w);
	xlmig_bk_coord_free(a);
	xlmig_bk_coord_free(b);
}

TEST(side_out_bounds)
{
	struct xlmig_side_out *out = calloc(1, sizeof(*out));
	static uint8_t big[XLMIG_SIDE_MAX + 1];

	CHECK(out);
	out->type = 2;
	CHECK_EQ(xlmig_side_add(out, big, sizeof(big)), XLMIG_E_LIMIT);
	for (int i = 0; i < XLMIG_SIDE_RECORDS_MAX; i++)
		CHECK_OK(xlmig_side_add(out, "r", 1));
	CHECK_EQ(xlmig_side_add(out, "r", 1), XLMIG_E_LIMIT);
	for (int i = 0; i < XLMIG_SIDE_RECORDS_MAX; i++)
		xlmig_buf_free(&out->rec[i]);
	free(out);
}
