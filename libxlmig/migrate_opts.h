/*
 * migrate_opts.h - the options of `xlmig migrate`, declared once.
 *
 * One table says, for every option: its long name (and an alias still
 * accepted for scripts), xl's letter where it has one, the key it travels
 * under in xlmigd's "migrate" request, its type and bounds, its default
 * and its help text.  The command line, for xlmigd's jobs and for xl's
 * own transport alike (getopt's arrays and the usage text are made from
 * it in tools/xlmig/migrate_args.c), and xlmigd's request handler
 * (tools/xlmigd/requests.c) read their options through it, so a bound or
 * a name cannot drift between them, and a unit test holds man/xlmig.1 to
 * it.  The library parses no command line: it takes the filled structs.
 */
#ifndef XLMIG_MIGRATE_OPTS_H
#define XLMIG_MIGRATE_OPTS_H

#include "common.h"
#include "job.h"

enum xlmig_mopt_type {
	XLMIG_MOPT_FLAG,   /* no argument */
	XLMIG_MOPT_UINT,   /* a decimal number in [min, max] */
	XLMIG_MOPT_RATE,   /* a rate such as 100M (bytes/s) */
	XLMIG_MOPT_WORD,   /* a string (a policy name, a file, a command) */
};

/* Where an option means something (bits). */
#define XLMIG_MOPT_JOB    1u   /* an xlmigd job: sent in the migrate request */
#define XLMIG_MOPT_PLAIN  2u   /* xl's own transport, run by the xlmig process */
#define XLMIG_MOPT_CLIENT 4u   /* how the xlmig command itself behaves */

/* Option ids: the letters are xl's, the long-only options count from
 * 0x100 (as getopt_long returns them). */
enum {
	XLMIG_MOPT_CHANNELS = 0x100, XLMIG_MOPT_NO_COMPRESS, XLMIG_MOPT_ZSTD_LEVEL,
	XLMIG_MOPT_BANDWIDTH, XLMIG_MOPT_DOWNTIME, XLMIG_MOPT_MAX_ITERS, XLMIG_MOPT_POLICY,
	XLMIG_MOPT_AUTO_CONVERGE, XLMIG_MOPT_VERIFY, XLMIG_MOPT_CHECK, XLMIG_MOPT_JSON,
	XLMIG_MOPT_WAIT, XLMIG_MOPT_DETACH, XLMIG_MOPT_LIVE, XLMIG_MOPT_PLAIN_TRANSPORT,
	XLMIG_MOPT_XL_RECEIVER,
};

struct xlmig_mopt {
	int id;               /* the letter, or XLMIG_MOPT_* */
	char letter;          /* xl's short option, 0 if none */
	const char *name;     /* long option without "--", NULL if none */
	const char *alias;    /* another long name accepted (not documented) */
	const char *json;     /* key in xlmigd's migrate request, NULL if none */
	enum xlmig_mopt_type type;
	uint64_t min, max;    /* XLMIG_MOPT_UINT */
	uint64_t def;         /* the default of a number, documented in help */
	unsigned where;       /* XLMIG_MOPT_JOB | ... */
	const char *arg;      /* the argument's name in help and man page */
	const char *help;
};

#define XLMIG_MOPTS_MAX 40   /* entries the table may have (sizes buffers) */
extern const struct xlmig_mopt xlmig_mopts[];
extern const size_t xlmig_mopts_count;

const struct xlmig_mopt *xlmig_mopt_by_id(int id);
const struct xlmig_mopt *xlmig_mopt_by_json(const char *key);

/* Parse an option's argument as the table says (numbers and rates; for
 * flags *out is 1), with one message for every caller on a bad value. */
int xlmig_mopt_parse(const struct xlmig_mopt *m, const char *arg, uint64_t *out);
/* Check a number already parsed (a JSON request's) against the bounds. */
int xlmig_mopt_check(const struct xlmig_mopt *m, uint64_t v);
/* Put a checked value into a job's options: numbers and flags (a flag's
 * value is whether it was given; --no-compress clears compress); WORD
 * options are the caller's (s may be NULL then).  XLMIG_E_INVAL for an
 * option that has no field there. */
int xlmig_mopt_apply(const struct xlmig_mopt *m, uint64_t v, const char *s,
		     struct xlmig_migrate_opts *o);
#endif
