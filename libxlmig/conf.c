/*
 * conf.c - table-driven settings: defaults, xl.conf-style file parser,
 * getopt arrays and help text (see conf.h).
 *
 * The file parser never indexes the text by hand: a line cursor hands
 * out one bounded line at a time, and each line is read with a second
 * cursor that only moves forward within it.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

/* A bounded reader over text: p[off..len) is what is left. */
struct rd {
	const char *p;
	size_t len, off;
};

static bool rd_eof(const struct rd *r) { return r->off >= r->len; }
static int rd_peek(const struct rd *r) { return rd_eof(r) ? -1 : (unsigned char)r->p[r->off]; }

static void rd_skip_blanks(struct rd *r)
{
	while (rd_peek(r) == ' ' || rd_peek(r) == '\t')
		r->off++;
}

/* The next line (without its '\n', and without a '\r' before it). */
static struct rd rd_line(struct rd *r)
{
	struct rd line = { r->p + r->off, 0, 0 };
	const char *nl = memchr(r->p + r->off, '\n', r->len - r->off);
	size_t n = nl ? (size_t)(nl - (r->p + r->off)) : r->len - r->off;

	r->off += n + (nl ? 1 : 0);
	line.len = n;
	if (n && line.p[n - 1] == '\r')
		line.len--;
	return line;
}

/* Copy at most cap-1 bytes matching accept() into out; returns the count,
 * or -1 if the word does not fit. */
static int rd_word(struct rd *r, char *out, size_t cap, int (*accept)(int c))
{
	size_t n = 0;

	while (!rd_eof(r) && accept(rd_peek(r))) {
		if (n + 1 >= cap)
			return -1;
		out[n++] = (char)rd_peek(r);
		r->off++;
	}
	out[n] = 0;
	return (int)n;
}

static int is_key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_bare_char(int c)
{
	return c > ' ' && c != '#' && c != '"' && c != 0x7f;
}

static char **str_field(const struct xlmig_opt *o, void *cfg) { return (char **)((char *)cfg + o->offset); }
static unsigned *uint_field(const struct xlmig_opt *o, void *cfg) { return (unsigned *)((char *)cfg + o->offset); }
static bool *bool_field(const struct xlmig_opt *o, void *cfg) { return (bool *)((char *)cfg + o->offset); }

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *c = choices; *c;) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);

		if (n && len == n && memcmp(c, v, n) == 0)
			return true;
		c += len + (bar ? 1 : 0);
	}
	return false;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, XLMIG_OK;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, XLMIG_OK;
	}
	return XLMIG_E_INVAL;
}

static int set_string(char **field, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	free(*field);
	*field = copy;
	return XLMIG_OK;
}

int xlmig_conf_set(const struct xlmig_opt *o, void *cfg, const char *value)
{
	unsigned long n;
	char *end;
	bool b;

	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return xlmig_fail(XLMIG_E_INVAL, "%s: control character in the value", o->key);
	switch (o->type) {
	case XLMIG_OPT_STR:
		if (!*value)
			return xlmig_fail(XLMIG_E_INVAL, "%s: empty value (leave the line out for the default)", o->key);
		return set_string(str_field(o, cfg), value);
	case XLMIG_OPT_CHOICE:
		if (!choice_ok(o->choices, value))
			return xlmig_fail(XLMIG_E_INVAL, "%s is one of %s, not '%s'", o->key, o->choices, value);
		return set_string(str_field(o, cfg), value);
	case XLMIG_OPT_UINT:
		errno = 0;
		n = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || errno || *end || n < o->min || n > o->max)
			return xlmig_fail(XLMIG_E_INVAL, "%s wants a whole number from %u to %u, not '%s'",
					  o->key, o->min, o->max, value);
		*uint_field(o, cfg) = (unsigned)n;
		return XLMIG_OK;
	case XLMIG_OPT_BOOL:
		if (parse_bool(value, &b))
			return xlmig_fail(XLMIG_E_INVAL, "%s is yes or no (1/0, true/false, on/off), not '%s'",
					  o->key, value);
		*bool_field(o, cfg) = b;
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_INVAL, "%s: setting of unknown type", o->key);
}

int xlmig_conf_defaults(const struct xlmig_opt *t, size_t n, void *cfg)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct xlmig_opt *o = &t[i];

		if (o->def) {
			if ((rc = xlmig_conf_set(o, cfg, o->def)))
				return xlmig_fail_prefix(rc, "default of %s", o->key);
		} else if (o->type == XLMIG_OPT_STR || o->type == XLMIG_OPT_CHOICE) {
			free(*str_field(o, cfg));
			*str_field(o, cfg) = NULL;
		} else if (o->type == XLMIG_OPT_UINT) {
			*uint_field(o, cfg) = 0;
		} else {
			*bool_field(o, cfg) = false;
		}
	}
	return XLMIG_OK;
}

void xlmig_conf_free(const struct xlmig_opt *t, size_t n, void *cfg)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].type == XLMIG_OPT_STR || t[i].type == XLMIG_OPT_CHOICE) {
			free(*str_field(&t[i], cfg));
			*str_field(&t[i], cfg) = NULL;
		}
	}
}

static const struct xlmig_opt *find_key(const struct xlmig_opt *t, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

/* Split one line into key and value; "" key for a blank or comment line.
 * Messages are for the administrator, without the location. */
static int split_line(struct rd *line, char key[64], char value[XLMIG_CONF_MAX_LINE])
{
	int q;

	key[0] = value[0] = 0;
	rd_skip_blanks(line);
	if (rd_eof(line) || rd_peek(line) == '#')
		return XLMIG_OK;
	if (rd_word(line, key, 64, is_key_char) <= 0)
		return xlmig_fail(XLMIG_E_FORMAT, key[0] || rd_peek(line) > 0 ? "key too long" :
				  "expected 'key = value' (keys are letters, digits and _)");
	rd_skip_blanks(line);
	if (rd_peek(line) != '=')
		return xlmig_fail(XLMIG_E_FORMAT, "expected '=' after %s", key);
	line->off++;
	rd_skip_blanks(line);
	if (rd_peek(line) == '"') {
		size_t n = 0;

		line->off++;
		while (!rd_eof(line) && rd_peek(line) != '"') {
			if (n + 1 >= XLMIG_CONF_MAX_LINE)
				return xlmig_fail(XLMIG_E_LIMIT, "value of %s too long", key);
			value[n++] = (char)rd_peek(line);
			line->off++;
		}
		value[n] = 0;
		if (rd_eof(line))
			return xlmig_fail(XLMIG_E_FORMAT, "value of %s: missing closing '\"'", key);
		line->off++;
	} else if ((q = rd_word(line, value, XLMIG_CONF_MAX_LINE, is_bare_char)) <= 0) {
		return xlmig_fail(XLMIG_E_FORMAT, q < 0 ? "value of %s too long" :
				  "%s has no value (strings with spaces go in double quotes)", key);
	}
	rd_skip_blanks(line);
	if (!rd_eof(line) && rd_peek(line) != '#')
		return xlmig_fail(XLMIG_E_FORMAT, "unexpected text after the value of %s "
				  "(strings with spaces go in double quotes)", key);
	return XLMIG_OK;
}

static int parse_line(const struct xlmig_opt *t, size_t n, void *cfg, struct rd *line,
		      unsigned char *seen)
{
	static __thread char value[XLMIG_CONF_MAX_LINE];
	const struct xlmig_opt *o;
	char key[64];
	int rc;

	if (line->len > XLMIG_CONF_MAX_LINE)
		return xlmig_fail(XLMIG_E_LIMIT, "line longer than %u bytes", XLMIG_CONF_MAX_LINE);
	if ((rc = split_line(line, key, value)) || !key[0])
		return rc;
	o = find_key(t, n, key);
	if (!o)
		return xlmig_fail(XLMIG_E_INVAL, "unknown setting '%s' (see xlmigd.conf(5) for the list)", key);
	if (seen[o - t])
		return xlmig_fail(XLMIG_E_INVAL, "%s is set twice; keep one line", key);
	seen[o - t] = 1;
	return xlmig_conf_set(o, cfg, value);
}

int xlmig_conf_parse(const struct xlmig_opt *t, size_t n, void *cfg,
		     const char *text, size_t len, const char *name, FILE *errs)
{
	struct rd r = { text, len, 0 };
	unsigned char *seen = calloc(n ? n : 1, 1);
	char first[512] = "";
	unsigned lineno = 0, bad = 0;
	int rc, ret = XLMIG_OK;

	if (!seen)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	while (!rd_eof(&r)) {
		struct rd line = rd_line(&r);

		lineno++;
		if (memchr(line.p, 0, line.len))
			rc = xlmig_fail(XLMIG_E_FORMAT, "NUL byte in the line (is this a text file?)");
		else
			rc = parse_line(t, n, cfg, &line, seen);
		if (!rc)
			continue;
		if (errs)
			fprintf(errs, "%s:%u: %s\n", name, lineno, xlmig_errmsg());
		if (!bad++) {
			snprintf(first, sizeof(first), "%s:%u: %s", name, lineno, xlmig_errmsg());
			ret = rc;
		}
	}
	free(seen);
	if (bad)
		return xlmig_fail(ret, "%s%s", first, bad > 1 ? " (and more errors)" : "");
	return XLMIG_OK;
}

int xlmig_conf_load(const struct xlmig_opt *t, size_t n, void *cfg, const char *path, FILE *errs)
{
	struct xlmig_buf text = { 0 };
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? XLMIG_E_NOTFOUND : XLMIG_E_IO;
		rc = xlmig_fail(rc, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	rc = xlmig_read_all(fd, XLMIG_CONF_MAX_FILE, &text);
	close(fd);
	if (rc) {
		rc = xlmig_fail_prefix(rc, "reading %s (at most %u KiB)", path, XLMIG_CONF_MAX_FILE >> 10);
		goto out;
	}
	rc = xlmig_conf_parse(t, n, cfg, (const char *)text.data, text.len, path, errs);
out:
	if (rc && errs && rc != XLMIG_E_FORMAT && rc != XLMIG_E_INVAL && rc != XLMIG_E_LIMIT)
		fprintf(errs, "%s\n", xlmig_errmsg());
	xlmig_buf_free(&text);
	return rc;
}

int xlmig_conf_getopt_init(const struct xlmig_opt *t, size_t n,
			   const struct option *extra, size_t n_extra, const char *extra_short,
			   struct option **longopts, char **shortopts)
{
	struct option *lo = calloc(n + n_extra + 1, sizeof(*lo));
	char *so = malloc(2 * n + strlen(extra_short) + 2);
	size_t k = 0;
	int rc = XLMIG_OK;

	if (!lo || !so) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory");
		goto out;
	}
	strcpy(so, extra_short);
	k = strlen(so);
	for (size_t i = 0; i < n; i++) {
		bool arg = t[i].type != XLMIG_OPT_BOOL;

		lo[i] = (struct option){ t[i].longopt, arg ? required_argument : no_argument, NULL,
					 t[i].shortopt ? t[i].shortopt : 256 + (int)i };
		if (t[i].shortopt) {
			so[k++] = t[i].shortopt;
			if (arg)
				so[k++] = ':';
		}
	}
	so[k] = 0;
	memcpy(lo + n, extra, n_extra * sizeof(*lo));
out:
	if (rc) {
		free(lo);
		free(so);
		lo = NULL;
		so = NULL;
	}
	*longopts = lo;
	*shortopts = so;
	return rc;
}

const struct xlmig_opt *xlmig_conf_getopt_find(const struct xlmig_opt *t, size_t n, int c)
{
	if (c >= 256 && (size_t)(c - 256) < n)
		return &t[c - 256];
	for (size_t i = 0; i < n; i++)
		if (t[i].shortopt && t[i].shortopt == c)
			return &t[i];
	return NULL;
}

void xlmig_conf_usage(const struct xlmig_opt *t, size_t n, FILE *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct xlmig_opt *o = &t[i];
		char flags[64];

		if (o->shortopt)
			snprintf(flags, sizeof(flags), "-%c, --%s %s", o->shortopt, o->longopt,
				 o->type == XLMIG_OPT_BOOL ? "" : o->arg);
		else
			snprintf(flags, sizeof(flags), "    --%s %s", o->longopt,
				 o->type == XLMIG_OPT_BOOL ? "" : o->arg);
		fprintf(out, "  %-28s %s", flags, o->help);
		if (o->def && o->type != XLMIG_OPT_BOOL)
			fprintf(out, " (default %s)", o->def);
		fprintf(out, " [%s]\n", o->key);
	}
}

void xlmig_conf_write_template(const struct xlmig_opt *t, size_t n, const char *title, FILE *out)
{
	fprintf(out, "# %s\n#\n# key = value, as in xl.conf(5); a command-line flag overrides the file.\n"
		"# Every setting is shown at its default: remove the '#' to change one.\n", title);
	for (size_t i = 0; i < n; i++) {
		const struct xlmig_opt *o = &t[i];
		bool quote = o->type == XLMIG_OPT_STR;

		fprintf(out, "\n# %s (--%s)\n", o->help, o->longopt);
		if (o->def)
			fprintf(out, "#%s = %s%s%s\n", o->key, quote ? "\"" : "", o->def, quote ? "\"" : "");
		else
			fprintf(out, "#%s = %s\n", o->key, o->arg);
	}
}
