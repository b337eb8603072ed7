/*
 * json.c - strict JSON writer and parser (see json.h).
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if invalid
 * (overlong forms, surrogates and code points over U+10FFFF included). */
static size_t utf8_seq_len(const uint8_t *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* ---- writer ---- */

void xlmig_json_writer_init(struct xlmig_json_writer *w, struct xlmig_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void put(struct xlmig_json_writer *w, const void *data, size_t len)
{
	if (!w->err && len && xlmig_buf_append(w->out, data, len))
		w->err = xlmig_fail(XLMIG_E_NOMEM, "out of memory writing JSON");
}

static void puts_(struct xlmig_json_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void misuse(struct xlmig_json_writer *w, const char *what)
{
	if (!w->err)
		w->err = xlmig_fail(XLMIG_E_INVAL, "JSON writer: %s", what);
}

/* Called before every value: checks that a value may come here and
 * writes the separating comma. */
static bool begin_value(struct xlmig_json_writer *w)
{
	if (w->err)
		return false;
	if (w->depth == 0) {
		if (w->done)
			misuse(w, "second top-level value");
		w->done = true;
		return !w->err;
	}
	if (w->in_object[w->depth - 1]) {
		if (!w->key_pending)
			misuse(w, "value in an object without a key");
		w->key_pending = false;
		return !w->err;
	}
	if (w->has_items[w->depth - 1])
		put(w, ",", 1);
	w->has_items[w->depth - 1] = true;
	return !w->err;
}

static void open_container(struct xlmig_json_writer *w, bool object)
{
	if (!begin_value(w))
		return;
	if (w->depth == XLMIG_JSON_MAX_DEPTH) {
		misuse(w, "nesting too deep");
		return;
	}
	w->in_object[w->depth] = object;
	w->has_items[w->depth] = false;
	w->depth++;
	put(w, object ? "{" : "[", 1);
}

static void close_container(struct xlmig_json_writer *w, bool object)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->in_object[w->depth - 1] != object || w->key_pending) {
		misuse(w, object ? "unbalanced object close" : "unbalanced array close");
		return;
	}
	w->depth--;
	put(w, object ? "}" : "]", 1);
}

void xlmig_json_object_open(struct xlmig_json_writer *w) { open_container(w, true); }
void xlmig_json_object_close(struct xlmig_json_writer *w) { close_container(w, true); }
void xlmig_json_array_open(struct xlmig_json_writer *w) { open_container(w, false); }
void xlmig_json_array_close(struct xlmig_json_writer *w) { close_container(w, false); }

static void put_escaped(struct xlmig_json_writer *w, const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t run = 0; /* bytes at s[i - run .. i) that need no escaping */

	put(w, "\"", 1);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(s + i, len - i);
		const char *esc = NULL;
		char ubuf[8];

		if (n > 1 || (n == 1 && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')) {
			i += n;
			run += n;
			continue;
		}
		put(w, s + i - run, run);
		run = 0;
		switch (n ? s[i] : 0x100) {
		case '"':  esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case 0x100: esc = "\\ufffd"; break;
		default:
			snprintf(ubuf, sizeof(ubuf), "\\u%04x", s[i]);
			esc = ubuf;
		}
		puts_(w, esc);
		i++;
	}
	put(w, s + len - run, run);
	put(w, "\"", 1);
}

void xlmig_json_key(struct xlmig_json_writer *w, const char *key)
{
	if (w->err)
		return;
	if (w->depth == 0 || !w->in_object[w->depth - 1] || w->key_pending) {
		misuse(w, "key outside an object");
		return;
	}
	if (w->has_items[w->depth - 1])
		put(w, ",", 1);
	w->has_items[w->depth - 1] = true;
	put_escaped(w, key, strlen(key));
	put(w, ":", 1);
	w->key_pending = true;
}

void xlmig_json_string_len(struct xlmig_json_writer *w, const char *s, size_t len)
{
	if (begin_value(w))
		put_escaped(w, s, len);
}

void xlmig_json_string(struct xlmig_json_writer *w, const char *s)
{
	xlmig_json_string_len(w, s, strlen(s));
}

static void put_number(struct xlmig_json_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put_number(struct xlmig_json_writer *w, const char *fmt, ...)
{
	char num[40];
	va_list ap;

	if (!begin_value(w))
		return;
	va_start(ap, fmt);
	vsnprintf(num, sizeof(num), fmt, ap);
	va_end(ap);
	puts_(w, num);
}

void xlmig_json_int(struct xlmig_json_writer *w, int64_t v) { put_number(w, "%" PRId64, v); }
void xlmig_json_uint(struct xlmig_json_writer *w, uint64_t v) { put_number(w, "%" PRIu64, v); }

void xlmig_json_double(struct xlmig_json_writer *w, double v)
{
	if (!isfinite(v)) {
		misuse(w, "NaN or infinity has no JSON form");
		return;
	}
	/* 17 significant digits read back as the same double. */
	put_number(w, "%.17g", v);
}

static void put_literal(struct xlmig_json_writer *w, const char *lit)
{
	if (begin_value(w))
		puts_(w, lit);
}

void xlmig_json_bool(struct xlmig_json_writer *w, bool v) { put_literal(w, v ? "true" : "false"); }
void xlmig_json_null(struct xlmig_json_writer *w) { put_literal(w, "null"); }

void xlmig_json_kv_str(struct xlmig_json_writer *w, const char *key, const char *v)
{ xlmig_json_key(w, key); xlmig_json_string(w, v); }
void xlmig_json_kv_int(struct xlmig_json_writer *w, const char *key, int64_t v)
{ xlmig_json_key(w, key); xlmig_json_int(w, v); }
void xlmig_json_kv_uint(struct xlmig_json_writer *w, const char *key, uint64_t v)
{ xlmig_json_key(w, key); xlmig_json_uint(w, v); }
void xlmig_json_kv_double(struct xlmig_json_writer *w, const char *key, double v)
{ xlmig_json_key(w, key); xlmig_json_double(w, v); }
void xlmig_json_kv_bool(struct xlmig_json_writer *w, const char *key, bool v)
{ xlmig_json_key(w, key); xlmig_json_bool(w, v); }

int xlmig_json_finish(struct xlmig_json_writer *w)
{
	if (!w->err && (w->depth || !w->done))
		misuse(w, "incomplete document");
	return w->err;
}

void xlmig_json_value(struct xlmig_json_writer *w, const struct xlmig_json *node)
{
	switch (node->type) {
	case XLMIG_JSON_NULL:   xlmig_json_null(w); break;
	case XLMIG_JSON_BOOL:   xlmig_json_bool(w, node->boolean); break;
	case XLMIG_JSON_STRING: xlmig_json_string_len(w, node->text, node->text_len); break;
	case XLMIG_JSON_NUMBER:
		/* Already validated by the parser: copy as written, exactly. */
		if (begin_value(w))
			puts_(w, node->text);
		break;
	case XLMIG_JSON_ARRAY:
	case XLMIG_JSON_OBJECT:
		open_container(w, node->type == XLMIG_JSON_OBJECT);
		for (const struct xlmig_json *c = node->child; c; c = c->next) {
			if (node->type == XLMIG_JSON_OBJECT)
				xlmig_json_key(w, c->key);
			xlmig_json_value(w, c);
		}
		close_container(w, node->type == XLMIG_JSON_OBJECT);
		break;
	}
}

/* ---- parser ---- */

const struct xlmig_json_limits xlmig_json_default_limits = {
	.max_bytes = 16u << 20,
	.max_depth = 64,
	.max_nodes = 1u << 20,
};

struct parse {
	const uint8_t *s;
	size_t len, pos;
	const struct xlmig_json_limits *lim;
	size_t nodes;
	struct xlmig_buf scratch; /* decoded string being built */
};

static int parse_value(struct parse *p, unsigned depth, struct xlmig_json **out);

static int syntax(struct parse *p, int err, const char *what)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < p->pos && i < p->len; i++) {
		if (p->s[i] == '\n')
			line++, col = 1;
		else
			col++;
	}
	return xlmig_fail(err, "JSON: %s at byte %zu (line %zu, column %zu)",
			  what, p->pos, line, col);
}

static void skip_ws(struct parse *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int peek(struct parse *p)
{
	return p->pos < p->len ? p->s[p->pos] : -1;
}

static int new_node(struct parse *p, enum xlmig_json_type type, struct xlmig_json **out)
{
	if (++p->nodes > p->lim->max_nodes)
		return syntax(p, XLMIG_E_LIMIT, "too many values");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory parsing JSON");
	(*out)->type = type;
	return XLMIG_OK;
}

void xlmig_json_free(struct xlmig_json *node)
{
	while (node) {
		struct xlmig_json *next = node->next;

		xlmig_json_free(node->child); /* depth bounded by max_depth */
		free(node->key);
		free(node->text);
		free(node);
		node = next;
	}
}

static int hex4(struct parse *p, uint32_t *out)
{
	uint32_t v = 0;

	if (p->len - p->pos < 4)
		return syntax(p, XLMIG_E_FORMAT, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int c = p->s[p->pos++], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return syntax(p, XLMIG_E_FORMAT, "bad hex digit in \\u escape");
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return XLMIG_OK;
}

static int scratch_add(struct parse *p, const void *data, size_t len)
{
	if (len && xlmig_buf_append(&p->scratch, data, len))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory parsing JSON");
	return XLMIG_OK;
}

static int put_utf8(struct parse *p, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80)
		b[0] = (uint8_t)cp, n = 1;
	else if (cp < 0x800)
		b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
		b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
	else
		b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), n = 4;
	return scratch_add(p, b, n);
}

/* \uXXXX, with a surrogate pair decoded to one code point. */
static int unicode_escape(struct parse *p)
{
	uint32_t hi, lo;
	int rc = hex4(p, &hi);

	if (rc)
		return rc;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return syntax(p, XLMIG_E_FORMAT, "unpaired low surrogate");
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return syntax(p, XLMIG_E_FORMAT, "unpaired high surrogate");
		p->pos += 2;
		rc = hex4(p, &lo);
		if (rc)
			return rc;
		if (lo < 0xdc00 || lo > 0xdfff)
			return syntax(p, XLMIG_E_FORMAT, "unpaired high surrogate");
		hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	}
	return put_utf8(p, hi);
}

static int escape(struct parse *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	int c = peek(p);

	if (c < 0)
		return syntax(p, XLMIG_E_FORMAT, "unterminated string");
	p->pos++;
	if (c == 'u')
		return unicode_escape(p);
	hit = c ? strchr(from, c) : NULL;
	if (!hit) {
		p->pos--;
		return syntax(p, XLMIG_E_FORMAT, "unknown escape");
	}
	return scratch_add(p, &to[hit - from], 1);
}

/* A string at p->pos (the opening quote): decoded into a new
 * NUL-terminated allocation. */
static int parse_string(struct parse *p, char **out, size_t *out_len)
{
	int rc = XLMIG_OK;

	xlmig_buf_reset(&p->scratch);
	p->pos++;
	for (;;) {
		size_t start = p->pos, n;

		/* Copy runs of plain characters in one append. */
		while (p->pos < p->len && p->s[p->pos] >= 0x20 && p->s[p->pos] < 0x80 &&
		       p->s[p->pos] != '"' && p->s[p->pos] != '\\')
			p->pos++;
		rc = scratch_add(p, p->s + start, p->pos - start);
		if (rc)
			goto out;
		if (p->pos == p->len) {
			rc = syntax(p, XLMIG_E_FORMAT, "unterminated string");
			goto out;
		}
		if (p->s[p->pos] == '"')
			break;
		if (p->s[p->pos] == '\\') {
			p->pos++;
			rc = escape(p);
		} else if (p->s[p->pos] < 0x20) {
			rc = syntax(p, XLMIG_E_FORMAT, "control character in string");
		} else if (!(n = utf8_seq_len(p->s + p->pos, p->len - p->pos))) {
			rc = syntax(p, XLMIG_E_FORMAT, "invalid UTF-8 in string");
		} else {
			rc = scratch_add(p, p->s + p->pos, n);
			p->pos += n;
		}
		if (rc)
			goto out;
	}
	p->pos++;
	*out = malloc(p->scratch.len + 1);
	if (!*out) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory parsing JSON");
		goto out;
	}
	if (p->scratch.len)
		memcpy(*out, p->scratch.data, p->scratch.len);
	(*out)[p->scratch.len] = '\0';
	*out_len = p->scratch.len;
out:
	return rc;
}

static size_t skip_digits(struct parse *p)
{
	size_t start = p->pos;

	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
	return p->pos - start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parse *p, struct xlmig_json *node)
{
	size_t start = p->pos, digits;

	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0') {
		p->pos++;
		if (peek(p) >= '0' && peek(p) <= '9')
			return syntax(p, XLMIG_E_FORMAT, "leading zero in number");
	} else if (!skip_digits(p)) {
		return syntax(p, XLMIG_E_FORMAT, "expected a digit");
	}
	if (peek(p) == '.') {
		p->pos++;
		if (!skip_digits(p))
			return syntax(p, XLMIG_E_FORMAT, "expected a digit after '.'");
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		digits = skip_digits(p);
		if (!digits)
			return syntax(p, XLMIG_E_FORMAT, "expected a digit in exponent");
	}
	node->text = strndup((const char *)p->s + start, p->pos - start);
	if (!node->text)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory parsing JSON");
	node->text_len = p->pos - start;
	return XLMIG_OK;
}

static int parse_literal(struct parse *p, const char *lit)
{
	size_t n = strlen(lit);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n))
		return syntax(p, XLMIG_E_FORMAT, "unexpected character");
	p->pos += n;
	return XLMIG_OK;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct xlmig_json *x = *(const struct xlmig_json *const *)a;
	const struct xlmig_json *y = *(const struct xlmig_json *const *)b;

	return strcmp(x->key, y->key);
}

/* Duplicate keys make a document mean different things to different
 * readers; refuse them.  Sorting keeps this O(n log n). */
static int check_duplicate_keys(struct parse *p, const struct xlmig_json *obj)
{
	const struct xlmig_json **v;
	size_t i = 0;
	int rc = XLMIG_OK;

	if (obj->count < 2)
		return XLMIG_OK;
	v = malloc(obj->count * sizeof(*v));
	if (!v)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory parsing JSON");
	for (const struct xlmig_json *c = obj->child; c; c = c->next)
		v[i++] = c;
	qsort(v, obj->count, sizeof(*v), cmp_keys);
	for (i = 1; i < obj->count && !rc; i++)
		if (!strcmp(v[i - 1]->key, v[i]->key))
			rc = syntax(p, XLMIG_E_FORMAT, "duplicate key in object");
	free(v);
	return rc;
}

static int parse_member_key(struct parse *p, char **key)
{
	size_t klen;
	int rc;

	if (peek(p) != '"')
		return syntax(p, XLMIG_E_FORMAT, "expected a string key");
	rc = parse_string(p, key, &klen);
	if (rc)
		return rc;
	if (strlen(*key) != klen) {
		free(*key);
		*key = NULL;
		return syntax(p, XLMIG_E_FORMAT, "NUL character in object key");
	}
	skip_ws(p);
	if (peek(p) != ':') {
		free(*key);
		*key = NULL;
		return syntax(p, XLMIG_E_FORMAT, "expected ':'");
	}
	p->pos++;
	return XLMIG_OK;
}

/* Array or object at p->pos (the opening bracket). */
static int parse_container(struct parse *p, unsigned depth, struct xlmig_json *node)
{
	bool object = node->type == XLMIG_JSON_OBJECT;
	char close = object ? '}' : ']';
	struct xlmig_json **tail = &node->child;
	int rc = XLMIG_OK;

	if (depth >= p->lim->max_depth)
		return syntax(p, XLMIG_E_LIMIT, "nesting too deep");
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
		return XLMIG_OK;
	}
	for (;;) {
		char *key = NULL;

		skip_ws(p);
		if (object && (rc = parse_member_key(p, &key)))
			break;
		rc = parse_value(p, depth + 1, tail);
		if (rc) {
			free(key);
			break;
		}
		(*tail)->key = key;
		tail = &(*tail)->next;
		node->count++;
		skip_ws(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == close) {
			p->pos++;
			break;
		}
		rc = syntax(p, XLMIG_E_FORMAT, object ? "expected ',' or '}'" : "expected ',' or ']'");
		break;
	}
	if (!rc && object)
		rc = check_duplicate_keys(p, node);
	return rc;
}

static int parse_value(struct parse *p, unsigned depth, struct xlmig_json **out)
{
	struct xlmig_json *node = NULL;
	enum xlmig_json_type type;
	int c, rc;

	skip_ws(p);
	c = peek(p);
	switch (c) {
	case '{': type = XLMIG_JSON_OBJECT; break;
	case '[': type = XLMIG_JSON_ARRAY; break;
	case '"': type = XLMIG_JSON_STRING; break;
	case 't': case 'f': type = XLMIG_JSON_BOOL; break;
	case 'n': type = XLMIG_JSON_NULL; break;
	case -1:
		return syntax(p, XLMIG_E_FORMAT, "unexpected end of input");
	default:
		if (c != '-' && !(c >= '0' && c <= '9'))
			return syntax(p, XLMIG_E_FORMAT, "unexpected character");
		type = XLMIG_JSON_NUMBER;
	}
	rc = new_node(p, type, &node);
	if (rc)
		goto out;
	switch (type) {
	case XLMIG_JSON_OBJECT:
	case XLMIG_JSON_ARRAY:  rc = parse_container(p, depth, node); break;
	case XLMIG_JSON_STRING: rc = parse_string(p, &node->text, &node->text_len); break;
	case XLMIG_JSON_NUMBER: rc = parse_number(p, node); break;
	case XLMIG_JSON_NULL:   rc = parse_literal(p, "null"); break;
	case XLMIG_JSON_BOOL:
		node->boolean = c == 't';
		rc = parse_literal(p, node->boolean ? "true" : "false");
		break;
	}
out:
	if (rc) {
		xlmig_json_free(node);
		node = NULL;
	}
	*out = node;
	return rc;
}

int xlmig_json_parse_limits(const char *text, size_t len,
			    const struct xlmig_json_limits *lim,
			    struct xlmig_json **out)
{
	struct parse p = { .s = (const uint8_t *)text, .len = len, .lim = lim };
	int rc;

	*out = NULL;
	if (len > lim->max_bytes)
		return xlmig_fail(XLMIG_E_LIMIT, "JSON: document of %zu bytes is over the "
				  "limit of %zu", len, lim->max_bytes);
	rc = parse_value(&p, 0, out);
	if (!rc) {
		skip_ws(&p);
		if (p.pos != p.len)
			rc = syntax(&p, XLMIG_E_FORMAT, "data after the value");
	}
	if (rc) {
		xlmig_json_free(*out);
		*out = NULL;
	}
	xlmig_buf_free(&p.scratch);
	return rc;
}

int xlmig_json_parse(const char *text, size_t len, struct xlmig_json **out)
{
	return xlmig_json_parse_limits(text, len, &xlmig_json_default_limits, out);
}

/* ---- lookup ---- */

const struct xlmig_json *xlmig_json_member(const struct xlmig_json *obj, const char *key)
{
	if (!obj || obj->type != XLMIG_JSON_OBJECT)
		return NULL;
	for (const struct xlmig_json *c = obj->child; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	return NULL;
}

const struct xlmig_json *xlmig_json_index(const struct xlmig_json *arr, size_t i)
{
	const struct xlmig_json *c;

	if (!arr || arr->type != XLMIG_JSON_ARRAY)
		return NULL;
	for (c = arr->child; c && i; c = c->next)
		i--;
	return c;
}

/* One path component as an array index; false if not all digits. */
static bool component_index(const char *s, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

const struct xlmig_json *xlmig_json_get(const struct xlmig_json *root, const char *path)
{
	const struct xlmig_json *node = root;
	char comp[256];

	while (node && *path) {
		size_t n = strcspn(path, "."), idx;

		if (n >= sizeof(comp))
			return NULL;
		memcpy(comp, path, n);
		comp[n] = '\0';
		if (node->type == XLMIG_JSON_ARRAY)
			node = component_index(comp, n, &idx) ? xlmig_json_index(node, idx) : NULL;
		else
			node = xlmig_json_member(node, comp);
		path += n;
		if (*path == '.')
			path++;
	}
	return node;
}

static int typed(const struct xlmig_json *root, const char *path,
		 enum xlmig_json_type type, const struct xlmig_json **out)
{
	*out = xlmig_json_get(root, path);
	if (!*out)
		return xlmig_fail(XLMIG_E_NOTFOUND, "JSON: no value at \"%s\"", path);
	if ((*out)->type != type)
		return xlmig_fail(XLMIG_E_FORMAT, "JSON: \"%s\" has the wrong type", path);
	return XLMIG_OK;
}

int xlmig_json_get_str(const struct xlmig_json *root, const char *path, const char **out)
{
	const struct xlmig_json *n;
	int rc = typed(root, path, XLMIG_JSON_STRING, &n);

	if (!rc)
		*out = n->text;
	return rc;
}

int xlmig_json_get_bool(const struct xlmig_json *root, const char *path, bool *out)
{
	const struct xlmig_json *n;
	int rc = typed(root, path, XLMIG_JSON_BOOL, &n);

	if (!rc)
		*out = n->boolean;
	return rc;
}

/* An integer as written: no fraction, no exponent, in range. */
static int integer_text(const struct xlmig_json *n, const char *path, bool is_signed,
			uint64_t *u, int64_t *s)
{
	char *end;

	if (strpbrk(n->text, ".eE") || (!is_signed && n->text[0] == '-'))
		goto bad;
	errno = 0;
	if (is_signed)
		*s = strtoll(n->text, &end, 10);
	else
		*u = strtoull(n->text, &end, 10);
	if (errno || *end)
		goto bad;
	return XLMIG_OK;
bad:
	return xlmig_fail(XLMIG_E_FORMAT, "JSON: \"%s\" = %s is not a%s 64-bit integer",
			  path, n->text, is_signed ? "" : "n unsigned");
}

int xlmig_json_get_u64(const struct xlmig_json *root, const char *path, uint64_t *out)
{
	const struct xlmig_json *n;
	int64_t unused;
	int rc = typed(root, path, XLMIG_JSON_NUMBER, &n);

	return rc ? rc : integer_text(n, path, false, out, &unused);
}

int xlmig_json_get_i64(const struct xlmig_json *root, const char *path, int64_t *out)
{
	const struct xlmig_json *n;
	uint64_t unused;
	int rc = typed(root, path, XLMIG_JSON_NUMBER, &n);

	return rc ? rc : integer_text(n, path, true, &unused, out);
}
