/*
 * record.c - a backup job as JSON (record.h).
 */
#include "record.h"

#include <stdlib.h>

static const struct xlmig_json_limits record_limits = {
	.max_bytes = XLMIG_BK_RECORD_MAX,
	.max_depth = 2,
	.max_nodes = 64,
};

void xlmig_bk_token_hex(const struct xlmig_bk_job *job, char out[2 * XLMIG_BK_TOKEN_MAX + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint32_t n = job->token_len <= XLMIG_BK_TOKEN_MAX ? job->token_len : XLMIG_BK_TOKEN_MAX;

	for (uint32_t i = 0; i < n; i++) {
		out[2 * i] = digits[job->token[i] >> 4];
		out[2 * i + 1] = digits[job->token[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int xlmig_bk_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t max, size_t *n)
{
	if (hex_len % 2)
		return xlmig_fail(XLMIG_E_FORMAT, "a token in hex has an even number of digits");
	if (hex_len / 2 > max)
		return xlmig_fail(XLMIG_E_LIMIT, "a token is at most %zu bytes (%zu hex digits)", max, 2 * max);
	for (size_t i = 0; i < hex_len; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return xlmig_fail(XLMIG_E_FORMAT, "a token in hex has a character that is not a hex digit");
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*n = hex_len / 2;
	return XLMIG_OK;
}

void xlmig_bk_job_write(struct xlmig_json_writer *w, const struct xlmig_bk_job *job)
{
	char hex[2 * XLMIG_BK_TOKEN_MAX + 1];

	xlmig_json_kv_str(w, "id", job->id);
	xlmig_json_kv_str(w, "domain", job->domain);
	xlmig_json_kv_str(w, "uuid", job->uuid);
	xlmig_json_kv_str(w, "agent", job->agent);
	xlmig_json_kv_str(w, "kind", xlmig_bk_kind_name(job->kind));
	xlmig_json_kv_str(w, "state", xlmig_bk_state_name(job->state));
	xlmig_json_kv_bool(w, "here", job->here);
	xlmig_json_kv_str(w, "host", job->host);
	xlmig_json_kv_str(w, "origin", job->origin);
	xlmig_json_kv_str(w, "migration", job->mig_job);
	xlmig_json_kv_bool(w, "wait", job->wait);
	xlmig_json_kv_bool(w, "acked", job->acked);
	xlmig_json_kv_uint(w, "lease_secs", job->lease_secs);
	xlmig_json_kv_int(w, "lease_until", job->lease_until);
	xlmig_json_kv_int(w, "hold_deadline", job->hold_deadline);
	xlmig_json_kv_int(w, "created", job->created);
	xlmig_json_kv_int(w, "updated", job->updated);
	xlmig_json_kv_uint(w, "resumes", job->resumes);
	xlmig_bk_token_hex(job, hex);
	xlmig_json_kv_str(w, "token", hex);
	xlmig_json_kv_str(w, "message", job->message);
}

int xlmig_bk_job_encode(const struct xlmig_bk_job *job, struct xlmig_buf *out)
{
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	xlmig_bk_job_write(&w, job);
	xlmig_json_object_close(&w);
	return xlmig_json_finish(&w) ? xlmig_fail(XLMIG_E_NOMEM, "cannot encode backup job %s", job->id) : XLMIG_OK;
}

/* A string field into a fixed buffer: required, shorter than size. */
static int get_text(const struct xlmig_json *o, const char *key, char *dst, size_t size)
{
	const char *s;

	if (xlmig_json_get_str(o, key, &s))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: '%s' missing or not a string", key);
	if (strlen(s) >= size)
		return xlmig_fail(XLMIG_E_LIMIT, "backup job record: '%s' longer than %zu bytes", key, size - 1);
	memcpy(dst, s, strlen(s) + 1);
	return XLMIG_OK;
}

static int get_i64(const struct xlmig_json *o, const char *key, int64_t *out)
{
	if (xlmig_json_get_i64(o, key, out))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: '%s' missing or not an integer", key);
	return XLMIG_OK;
}

static int get_u32(const struct xlmig_json *o, const char *key, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (xlmig_json_get_u64(o, key, &v) || v > max)
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: '%s' missing or not a number up to %u", key, max);
	*out = (uint32_t)v;
	return XLMIG_OK;
}

static int get_bool(const struct xlmig_json *o, const char *key, bool *out)
{
	if (xlmig_json_get_bool(o, key, out))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: '%s' missing or not true/false", key);
	return XLMIG_OK;
}

static int get_enums(const struct xlmig_json *o, struct xlmig_bk_job *j)
{
	const char *s;

	if (xlmig_json_get_str(o, "kind", &s) || xlmig_bk_kind_parse(s, &j->kind))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: unknown kind");
	if (xlmig_json_get_str(o, "state", &s) || xlmig_bk_state_parse(s, &j->state))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: unknown state");
	return XLMIG_OK;
}

static int get_token(const struct xlmig_json *o, struct xlmig_bk_job *j)
{
	const struct xlmig_json *t = xlmig_json_member(o, "token");
	size_t n;
	int rc;

	if (!t || t->type != XLMIG_JSON_STRING)
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: 'token' missing or not a string");
	if ((rc = xlmig_bk_hex_decode(t->text, t->text_len, j->token, XLMIG_BK_TOKEN_MAX, &n)))
		return xlmig_fail_prefix(rc, "backup job record");
	j->token_len = (uint32_t)n;
	return XLMIG_OK;
}

int xlmig_bk_job_from_json(const struct xlmig_json *o, struct xlmig_bk_job *j)
{
	int rc;

	memset(j, 0, sizeof(*j));
	if (!o || o->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "a backup job record is a JSON object");
	if ((rc = get_text(o, "id", j->id, sizeof(j->id))) ||
	    (rc = get_text(o, "domain", j->domain, sizeof(j->domain))) ||
	    (rc = get_text(o, "uuid", j->uuid, sizeof(j->uuid))) ||
	    (rc = get_text(o, "agent", j->agent, sizeof(j->agent))) ||
	    (rc = get_text(o, "host", j->host, sizeof(j->host))) ||
	    (rc = get_text(o, "origin", j->origin, sizeof(j->origin))) ||
	    (rc = get_text(o, "migration", j->mig_job, sizeof(j->mig_job))) ||
	    (rc = get_text(o, "message", j->message, sizeof(j->message))) ||
	    (rc = get_enums(o, j)) ||
	    (rc = get_bool(o, "here", &j->here)) || (rc = get_bool(o, "wait", &j->wait)) ||
	    (rc = get_bool(o, "acked", &j->acked)) ||
	    (rc = get_u32(o, "lease_secs", XLMIG_BK_LEASE_MAX, &j->lease_secs)) ||
	    (rc = get_i64(o, "lease_until", &j->lease_until)) ||
	    (rc = get_i64(o, "hold_deadline", &j->hold_deadline)) ||
	    (rc = get_i64(o, "created", &j->created)) || (rc = get_i64(o, "updated", &j->updated)) ||
	    (rc = get_u32(o, "resumes", UINT32_MAX, &j->resumes)) || (rc = get_token(o, j)))
		return rc;
	if (!xlmig_bk_name_ok(j->id, sizeof(j->id)) || !xlmig_bk_name_ok(j->domain, sizeof(j->domain)) ||
	    !xlmig_bk_name_ok(j->agent, sizeof(j->agent)) ||
	    (j->uuid[0] && !xlmig_bk_name_ok(j->uuid, sizeof(j->uuid))))
		return xlmig_fail(XLMIG_E_FORMAT, "backup job record: id, guest, agent or uuid has characters outside A-Z a-z 0-9 . _ : @ + -");
	return XLMIG_OK;
}

int xlmig_bk_job_decode(const uint8_t *data, size_t len, struct xlmig_bk_job *out)
{
	struct xlmig_json *root = NULL;
	int rc;

	if ((rc = xlmig_json_parse_limits((const char *)data, len, &record_limits, &root)))
		return xlmig_fail_prefix(rc, "backup job record");
	rc = xlmig_bk_job_from_json(root, out);
	xlmig_json_free(root);
	return rc;
}
