/*
 * conf.h - settings declared once in a table, read from a key=value file
 * in xl.conf's style and from the command line.
 *
 * A program describes each setting once (struct xlmig_opt: config key,
 * long and short flag, type, bounds, default, help) and this module
 * derives everything else from that table: the defaults, the parser of
 * the configuration file, getopt_long's option arrays, and the --help
 * text.  The unit tests compare the same table with the manual pages, so
 * a setting cannot be added without its documentation.
 *
 * File syntax (as xl.conf(5)): one `key = value` per line; a value is a
 * bare word, a number, or a string in double quotes; `#` starts a comment
 * outside quotes; blank lines are ignored.  Unknown keys, a key given
 * twice and values out of bounds are errors, each reported with its file
 * name and line number.
 *
 * Every string a configuration holds is owned by it (copied), so
 * xlmig_conf_free() releases all of them whatever set them.
 */
#ifndef XLMIG_CONF_H
#define XLMIG_CONF_H

#include "common.h"

#include <getopt.h>

enum xlmig_opt_type {
	XLMIG_OPT_STR,     /* char *: any text without control characters */
	XLMIG_OPT_CHOICE,  /* char *: one word of opt->choices ("a|b|c") */
	XLMIG_OPT_UINT,    /* unsigned: decimal, opt->min..opt->max */
	XLMIG_OPT_BOOL,    /* bool: 1/0, yes/no, true/false, on/off */
};

struct xlmig_opt {
	const char *key;        /* in the file: "state_dir" */
	const char *longopt;    /* on the command line: "state-dir" */
	char shortopt;          /* 's', or 0 for none */
	enum xlmig_opt_type type;
	size_t offset;          /* of the field in the configuration struct */
	unsigned min, max;      /* XLMIG_OPT_UINT only */
	const char *choices;    /* XLMIG_OPT_CHOICE only: "sim|xen|auto" */
	const char *def;        /* default as text; NULL = unset (NULL string) */
	const char *arg;        /* name of the value in help: "DIR" */
	const char *help;
};

/* Longest line and largest file the parser accepts. */
#define XLMIG_CONF_MAX_LINE 4096
#define XLMIG_CONF_MAX_FILE (256u << 10)

/* Set every field of cfg to its default (cfg must be zeroed or hold
 * values set by this module, which are freed). */
int xlmig_conf_defaults(const struct xlmig_opt *t, size_t n, void *cfg);

/* Parse value for one setting and store it; on error the message (without
 * a location) is in xlmig_errmsg() and the field is unchanged. */
int xlmig_conf_set(const struct xlmig_opt *o, void *cfg, const char *value);

/* Parse a whole file's text (len bytes, need not be NUL-terminated).
 * Every error is printed to errs (if not NULL) as "NAME:LINE: message";
 * the first is also xlmig_errmsg().  Settings on lines without errors are
 * applied even when other lines have errors. */
int xlmig_conf_parse(const struct xlmig_opt *t, size_t n, void *cfg,
		     const char *text, size_t len, const char *name, FILE *errs);

/* Read path (at most XLMIG_CONF_MAX_FILE bytes) and parse it.  A file
 * that does not exist is XLMIG_E_NOTFOUND, so callers can treat a missing
 * default file as empty. */
int xlmig_conf_load(const struct xlmig_opt *t, size_t n, void *cfg,
		    const char *path, FILE *errs);

/* Free every string field of cfg and set it to NULL. */
void xlmig_conf_free(const struct xlmig_opt *t, size_t n, void *cfg);

/* getopt_long's arrays for the table plus the caller's extra options
 * (actions such as --help; their val must be below 256 or above 256 + n).
 * A table entry's val is its short letter, else 256 + its index.  Free
 * both with free(). */
int xlmig_conf_getopt_init(const struct xlmig_opt *t, size_t n,
			   const struct option *extra, size_t n_extra,
			   const char *extra_short,
			   struct option **longopts, char **shortopts);
/* The table entry getopt's return value c stands for, or NULL. */
const struct xlmig_opt *xlmig_conf_getopt_find(const struct xlmig_opt *t, size_t n, int c);

/* A configuration file with every setting commented out at its default,
 * each under its help text: what a package installs for the
 * administrator to edit. */
void xlmig_conf_write_template(const struct xlmig_opt *t, size_t n, const char *title, FILE *out);

/* One help line per setting: "  -s, --state-dir DIR  help (default X)". */
void xlmig_conf_usage(const struct xlmig_opt *t, size_t n, FILE *out);

#endif
