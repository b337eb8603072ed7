/*
 * record.h - a backup job as JSON: the one form a job takes in the store
 * (store.h), in a migration's side record (side.h) and in replies to
 * agents.  The token, opaque bytes, is written as hex.
 *
 * Decoding trusts nothing: the document goes through the strict JSON
 * parser with small limits (size, depth, node count), every field is
 * type- and length-checked, names are checked by xlmig_bk_name_ok, and
 * an unknown state or kind is an error.
 */
#ifndef XLMIG_BACKUP_RECORD_H
#define XLMIG_BACKUP_RECORD_H

#include "coord.h"
#include "json.h"

/* The largest encoded job: a full token in hex plus the other fields. */
#define XLMIG_BK_RECORD_MAX (2 * XLMIG_BK_TOKEN_MAX + 4096)

/* The job's members, into the object open in w. */
void xlmig_bk_job_write(struct xlmig_json_writer *w, const struct xlmig_bk_job *job);
/* A whole record: one JSON object. */
int xlmig_bk_job_encode(const struct xlmig_bk_job *job, struct xlmig_buf *out);
int xlmig_bk_job_decode(const uint8_t *data, size_t len, struct xlmig_bk_job *out);
/* From an already parsed object. */
int xlmig_bk_job_from_json(const struct xlmig_json *obj, struct xlmig_bk_job *out);

/* The token as text for hooks and agents: hex, NUL-terminated. */
void xlmig_bk_token_hex(const struct xlmig_bk_job *job, char out[2 * XLMIG_BK_TOKEN_MAX + 1]);
/* Parse hex of even length into at most max bytes. */
int xlmig_bk_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t max, size_t *n);

#endif
