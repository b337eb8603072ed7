/*
 * side.c - side records and their providers (side.h).
 */
#include "side.h"
#include "json.h"

#include <stdlib.h>

int xlmig_side_add(struct xlmig_side_out *out, const void *data, size_t len)
{
	struct xlmig_buf *b;

	if (len > XLMIG_SIDE_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a side record of type %u has %zu bytes, more than %u",
				  out->type, len, XLMIG_SIDE_MAX);
	if (out->n == XLMIG_SIDE_RECORDS_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "more than %u side records of type %u for one migration",
				  XLMIG_SIDE_RECORDS_MAX, out->type);
	b = &out->rec[out->n];
	xlmig_buf_reset(b);
	if (xlmig_buf_append(b, data, len))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a side record");
	out->n++;
	return XLMIG_OK;
}

int xlmig_side_source_begin(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct xlmig_side_provider *p = s->p[i];
		int rc;
		if (p->source_begin && (rc = p->source_begin(p->opaque, ctx)))
			return xlmig_fail_prefix(rc, "%s", p->name);
	}
	return XLMIG_OK;
}

static void out_free(struct xlmig_side_out *out)
{
	for (size_t i = 0; i < XLMIG_SIDE_RECORDS_MAX; i++)
		xlmig_buf_free(&out->rec[i]);
}

int xlmig_side_source_send(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			   int (*send)(void *opaque, uint32_t type, const void *data, size_t len),
			   void *opaque)
{
	struct xlmig_side_out *out = calloc(1, sizeof(*out));
	int rc = XLMIG_OK;

	if (!out)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for side records");
	for (size_t i = 0; s && i < s->n && !rc; i++) {
		const struct xlmig_side_provider *p = s->p[i];
		if (!p->source_collect)
			continue;
		out->type = p->type;
		out->n = 0;
		if ((rc = p->source_collect(p->opaque, ctx, out))) {
			xlmig_fail_prefix(rc, "%s", p->name);
			break;
		}
		for (size_t k = 0; k < out->n && !rc; k++)
			rc = send(opaque, p->type, out->rec[k].data, out->rec[k].len);
	}
	out_free(out);
	free(out);
	return rc;
}

void xlmig_side_source_end(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			   bool moved)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->p[i]->source_end)
			s->p[i]->source_end(s->p[i]->opaque, ctx, moved);
}

int xlmig_side_dispatch(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			uint32_t type, const uint8_t *data, size_t len)
{
	if (len > XLMIG_SIDE_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "the source sent a side record of type %u with %zu bytes, more than %u",
				  type, len, XLMIG_SIDE_MAX);
	for (size_t i = 0; s && i < s->n; i++) {
		const struct xlmig_side_provider *p = s->p[i];
		int rc;
		if (p->type != type)
			continue;
		if (!p->dest_consume)
			break;
		if ((rc = p->dest_consume(p->opaque, ctx, data, len)))
			return xlmig_fail_prefix(rc, "side record of type %u (%s)", type, p->name);
		return XLMIG_OK;
	}
	xlmig_warn("migration %s: skipping a side record of type %u that this host does not know (%zu bytes)",
		   ctx->job_id, type, len);
	return XLMIG_OK;
}

void xlmig_side_dest_end(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			 bool arrived)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->p[i]->dest_end)
			s->p[i]->dest_end(s->p[i]->opaque, ctx, arrived);
}

int xlmig_side_dest_restored(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			     uint32_t domid, struct xlmig_buf *out)
{
	struct xlmig_json_writer w;
	bool any = false;

	xlmig_buf_reset(out);
	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	for (size_t i = 0; s && i < s->n; i++) {
		const struct xlmig_side_provider *p = s->p[i];
		size_t before = out->len;
		if (!p->dest_restored || !p->report_key)
			continue;
		xlmig_json_key(&w, p->report_key);
		p->dest_restored(p->opaque, ctx, domid, &w);
		/* A provider with nothing to say wrote no value: write null
		 * rather than leave a key without one. */
		if (w.key_pending)
			xlmig_json_null(&w);
		any |= out->len > before;
	}
	xlmig_json_object_close(&w);
	if (xlmig_json_finish(&w))
		return xlmig_fail(XLMIG_E_NOMEM, "cannot write the side records' report");
	if (!any)
		xlmig_buf_reset(out);
	return XLMIG_OK;
}
