/*
 * json.h - a small, strict JSON module: a writer that appends compact JSON
 * to a struct xlmig_buf (for --json outputs and the JSON-lines control
 * protocol), and a parser that builds a tree with lookup by dotted path
 * ("c_info.name", "disks.0.vdev") for the domain config carried in xl's
 * save header and for control messages.
 *
 * The parser accepts RFC 8259 JSON only: no comments, no trailing commas,
 * no leading zeros, no NaN, valid UTF-8, paired surrogates, no duplicate
 * object keys, nothing but whitespace after the value.  Its input is never
 * trusted: depth, size and node count are bounded before anything is
 * allocated for them.
 */
#ifndef XLMIG_JSON_H
#define XLMIG_JSON_H

#include "common.h"

/* ---- writer ---- */

#define XLMIG_JSON_MAX_DEPTH 64

/* The writer keeps the first error and ignores calls after it, so output
 * code reads as a plain sequence of calls followed by one check in
 * xlmig_json_finish().  Misuse (a value in an object without a key, a
 * close that doesn't match) is an error too, so the output is always
 * well-formed JSON or nothing. */
struct xlmig_json_writer {
	struct xlmig_buf *out;
	int err;
	unsigned depth;
	bool in_object[XLMIG_JSON_MAX_DEPTH]; /* per level: object or array */
	bool has_items[XLMIG_JSON_MAX_DEPTH]; /* per level: a comma is due */
	bool key_pending;                     /* key written, value due */
	bool done;                            /* a complete top-level value */
};

void xlmig_json_writer_init(struct xlmig_json_writer *w, struct xlmig_buf *out);
/* 0 if one complete value was written, else the first error. */
int xlmig_json_finish(struct xlmig_json_writer *w);

void xlmig_json_object_open(struct xlmig_json_writer *w);
void xlmig_json_object_close(struct xlmig_json_writer *w);
void xlmig_json_array_open(struct xlmig_json_writer *w);
void xlmig_json_array_close(struct xlmig_json_writer *w);
void xlmig_json_key(struct xlmig_json_writer *w, const char *key);
/* Strings are escaped; bytes that are not valid UTF-8 become U+FFFD so
 * the output is valid JSON whatever a guest put in its config. */
void xlmig_json_string(struct xlmig_json_writer *w, const char *s);
void xlmig_json_string_len(struct xlmig_json_writer *w, const char *s, size_t len);
void xlmig_json_int(struct xlmig_json_writer *w, int64_t v);
void xlmig_json_uint(struct xlmig_json_writer *w, uint64_t v);
/* NaN and infinities have no JSON form: they are an error. */
void xlmig_json_double(struct xlmig_json_writer *w, double v);
void xlmig_json_bool(struct xlmig_json_writer *w, bool v);
void xlmig_json_null(struct xlmig_json_writer *w);

/* key + value in one call, for the common case inside objects. */
void xlmig_json_kv_str(struct xlmig_json_writer *w, const char *key, const char *v);
void xlmig_json_kv_int(struct xlmig_json_writer *w, const char *key, int64_t v);
void xlmig_json_kv_uint(struct xlmig_json_writer *w, const char *key, uint64_t v);
void xlmig_json_kv_double(struct xlmig_json_writer *w, const char *key, double v);
void xlmig_json_kv_bool(struct xlmig_json_writer *w, const char *key, bool v);

/* ---- parser ---- */

enum xlmig_json_type {
	XLMIG_JSON_NULL = 1,
	XLMIG_JSON_BOOL,
	XLMIG_JSON_NUMBER,
	XLMIG_JSON_STRING,
	XLMIG_JSON_ARRAY,
	XLMIG_JSON_OBJECT,
};

/* A node.  Children of arrays and objects are a list (child, next);
 * members of an object carry their key.  Read-only for users. */
struct xlmig_json {
	enum xlmig_json_type type;
	char *key;                 /* object member name, NUL-terminated */
	struct xlmig_json *next;   /* next sibling */
	struct xlmig_json *child;  /* first child (array, object) */
	size_t count;              /* number of children */
	bool boolean;              /* BOOL */
	char *text;                /* STRING: decoded, NUL-terminated;
				    * NUMBER: the number as written */
	size_t text_len;           /* STRING may hold \u0000 */
};

struct xlmig_json_limits {
	size_t max_bytes;   /* input length */
	unsigned max_depth; /* nesting of arrays and objects */
	size_t max_nodes;   /* values in the whole document */
};
/* 16 MiB, depth 64, 1M nodes: a domain config is far below all three. */
extern const struct xlmig_json_limits xlmig_json_default_limits;

/* Parse text[0..len) into a tree (*out, free with xlmig_json_free).
 * XLMIG_E_FORMAT for malformed input, XLMIG_E_LIMIT over a limit; the
 * message names the byte offset, line and column. */
int xlmig_json_parse(const char *text, size_t len, struct xlmig_json **out);
int xlmig_json_parse_limits(const char *text, size_t len,
			    const struct xlmig_json_limits *lim,
			    struct xlmig_json **out);
void xlmig_json_free(struct xlmig_json *node);

/* Member of an object by key / element of an array by index; NULL if
 * absent or node is the wrong type. */
const struct xlmig_json *xlmig_json_member(const struct xlmig_json *obj, const char *key);
const struct xlmig_json *xlmig_json_index(const struct xlmig_json *arr, size_t i);
/* Walk a dotted path: each component is an object key, or a decimal
 * index when the node is an array.  NULL if any step is missing. */
const struct xlmig_json *xlmig_json_get(const struct xlmig_json *root, const char *path);

/* Typed values.  XLMIG_E_NOTFOUND if the path is absent, XLMIG_E_FORMAT
 * if the value has another type or does not fit. */
int xlmig_json_get_str(const struct xlmig_json *root, const char *path, const char **out);
int xlmig_json_get_u64(const struct xlmig_json *root, const char *path, uint64_t *out);
int xlmig_json_get_i64(const struct xlmig_json *root, const char *path, int64_t *out);
int xlmig_json_get_bool(const struct xlmig_json *root, const char *path, bool *out);

/* Write a parsed value back out (compact). */
void xlmig_json_value(struct xlmig_json_writer *w, const struct xlmig_json *node);

#endif
