/*
 * migrate_opts.c - the table of `xlmig migrate`'s options (see
 * migrate_opts.h) and the checks every caller shares.
 */
#include "migrate_opts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#define JOB    XLMIG_MOPT_JOB
#define PLAIN  XLMIG_MOPT_PLAIN
#define CLIENT XLMIG_MOPT_CLIENT

/* In the order `xlmig migrate --help` lists them.  The bounds are the
 * ones a job can honour: iterations beyond XLMIG_POLICY_MAX_ITER_LOG
 * would not be logged, a downtime target over ten minutes is not live
 * migration any more (the policy's own time bound is ten minutes). */
const struct xlmig_mopt xlmig_mopts[] = {
	{ XLMIG_MOPT_CHANNELS, 0, "channels", NULL, "channels", XLMIG_MOPT_UINT,
	  0, XLMIG_CHANNELS_MAX, 0, JOB, "N", "parallel TCP channels (default: one per CPU, at most 4)" },
	{ XLMIG_MOPT_NO_COMPRESS, 0, "no-compress", NULL, "compress", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB, NULL, "send pages as they are (zero pages still elided, no delta cache)" },
	{ XLMIG_MOPT_ZSTD_LEVEL, 0, "zstd-level", NULL, "zstd_level", XLMIG_MOPT_UINT,
	  0, 19, 0, JOB, "N", "highest zstd level to use (default: chosen per batch)" },
	{ XLMIG_MOPT_BANDWIDTH, 0, "bandwidth", NULL, "bandwidth", XLMIG_MOPT_RATE,
	  0, UINT64_MAX, 0, JOB, "RATE", "cap on the wire, e.g. 100M (bytes/s)" },
	{ XLMIG_MOPT_DOWNTIME, 0, "downtime", NULL, "downtime_ms", XLMIG_MOPT_UINT,
	  1, 600000, 100, JOB | PLAIN, "MS", "downtime target" },
	{ XLMIG_MOPT_MAX_ITERS, 0, "max-iters", "max-iter", "max_iters", XLMIG_MOPT_UINT,
	  1, XLMIG_POLICY_MAX_ITER_LOG, 30, JOB | PLAIN, "N", "pre-copy iterations at most" },
	{ XLMIG_MOPT_POLICY, 0, "policy", NULL, "policy", XLMIG_MOPT_WORD,
	  0, 0, 0, JOB | PLAIN, "xlmig|xen", "pre-copy policy (default xlmig)" },
	{ XLMIG_MOPT_AUTO_CONVERGE, 0, "auto-converge", NULL, "auto_converge", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "throttle the guest if it dirties memory too fast" },
	{ XLMIG_MOPT_VERIFY, 0, "verify", NULL, "verify", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB, NULL, "(sim) compare memory digests on both hosts" },
	{ XLMIG_MOPT_CHECK, 0, "check", NULL, "check", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB, NULL, "only ask HOST whether it can take DOMAIN (preflight):\n"
	  "                      nothing is moved, exit 0 if it can, 1 if not" },
	{ XLMIG_MOPT_JSON, 0, "json", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, CLIENT, NULL, "print the final statistics as JSON" },
	{ XLMIG_MOPT_WAIT, 0, "wait", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, CLIENT, NULL, "follow the job to its end (the default)" },
	{ XLMIG_MOPT_DETACH, 0, "detach", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, CLIENT, NULL, "print the job's id and return" },
	/* xl migrate's, with xl's meaning */
	{ 'C', 'C', NULL, NULL, "config", XLMIG_MOPT_WORD,
	  0, 0, 0, JOB | PLAIN, "CONFIG", "send this domain config (JSON, or xl format via `xl -N create`)" },
	{ 'p', 'p', NULL, NULL, "pause", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "leave the guest paused on the destination" },
	{ 'D', 'D', NULL, NULL, "preserve_domid", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "keep the domain id on the destination" },
	{ 'd', 'd', "debug", NULL, "debug", XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "send VERIFY data in the stream; debug logging here" },
	{ 'e', 'e', NULL, NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "accepted; xlmig keeps no monitor process" },
	{ 'F', 'F', NULL, NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "accepted; xlmig keeps no monitor process" },
	{ XLMIG_MOPT_LIVE, 0, "live", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, JOB | PLAIN, NULL, "accepted; migration is always live" },
	{ 's', 's', NULL, NULL, NULL, XLMIG_MOPT_WORD,
	  0, 0, 0, PLAIN, "SSHCOMMAND", "xl's transport: run SSHCOMMAND HOST xlmig migrate-receive" },
	{ XLMIG_MOPT_PLAIN_TRANSPORT, 0, "plain", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, PLAIN, NULL, "xl's protocol over ssh instead of an xlmigd job" },
	{ XLMIG_MOPT_XL_RECEIVER, 0, "xl-receiver", NULL, NULL, XLMIG_MOPT_FLAG,
	  0, 0, 0, PLAIN, NULL, "the destination runs stock `xl migrate-receive`" },
};
const size_t xlmig_mopts_count = XLMIG_ARRAY_SIZE(xlmig_mopts);
_Static_assert(XLMIG_ARRAY_SIZE(xlmig_mopts) <= XLMIG_MOPTS_MAX, "raise XLMIG_MOPTS_MAX");

const struct xlmig_mopt *xlmig_mopt_by_id(int id)
{
	for (size_t i = 0; i < xlmig_mopts_count; i++)
		if (xlmig_mopts[i].id == id)
			return &xlmig_mopts[i];
	return NULL;
}

const struct xlmig_mopt *xlmig_mopt_by_json(const char *key)
{
	for (size_t i = 0; i < xlmig_mopts_count; i++)
		if (xlmig_mopts[i].json && !strcmp(xlmig_mopts[i].json, key))
			return &xlmig_mopts[i];
	return NULL;
}

/* How an administrator wrote the option: "--downtime" or "-C". */
static const char *spelling(const struct xlmig_mopt *m, char buf[64])
{
	if (m->name)
		snprintf(buf, 64, "--%s", m->name);
	else
		snprintf(buf, 64, "-%c", m->letter);
	return buf;
}

int xlmig_mopt_check(const struct xlmig_mopt *m, uint64_t v)
{
	char sp[64];

	if (m->type == XLMIG_MOPT_UINT && (v < m->min || v > m->max))
		return xlmig_fail(XLMIG_E_INVAL, "%s wants a number from %" PRIu64 " to %" PRIu64
				  ", not %" PRIu64, spelling(m, sp), m->min, m->max, v);
	return XLMIG_OK;
}

int xlmig_mopt_parse(const struct xlmig_mopt *m, const char *arg, uint64_t *out)
{
	char sp[64], *end;
	unsigned long long v;

	switch (m->type) {
	case XLMIG_MOPT_FLAG:
		*out = 1;
		return XLMIG_OK;
	case XLMIG_MOPT_RATE:
		if (xlmig_parse_rate(arg, out))
			return xlmig_fail(XLMIG_E_INVAL, "%s wants a rate such as 100M (bytes/s), not '%s'",
					  spelling(m, sp), arg);
		return XLMIG_OK;
	case XLMIG_MOPT_UINT:
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || end == arg || *end || arg[0] == '-')
			return xlmig_fail(XLMIG_E_INVAL, "%s wants a number from %" PRIu64 " to %" PRIu64
					  ", not '%s'", spelling(m, sp), m->min, m->max, arg);
		*out = v;
		return xlmig_mopt_check(m, v);
	case XLMIG_MOPT_WORD:
		break;
	}
	return xlmig_fail(XLMIG_E_INVAL, "%s takes a word, not a number", spelling(m, sp));
}

int xlmig_mopt_apply(const struct xlmig_mopt *m, uint64_t v, const char *s,
		     struct xlmig_migrate_opts *o)
{
	char sp[64];
	int rc = xlmig_mopt_check(m, v);

	if (rc)
		return rc;
	switch (m->id) {
	case XLMIG_MOPT_CHANNELS: o->channels = (unsigned)v; break;
	case XLMIG_MOPT_NO_COMPRESS: o->compress = !v; break;
	case XLMIG_MOPT_ZSTD_LEVEL: o->zstd_level = (int)v; break;
	case XLMIG_MOPT_BANDWIDTH: o->bandwidth = v; break;
	case XLMIG_MOPT_DOWNTIME: o->policy.downtime_target_ns = v * 1000000; break;
	case XLMIG_MOPT_MAX_ITERS: o->policy.max_iterations = (unsigned)v; break;
	case XLMIG_MOPT_POLICY:
		if (s && xlmig_policy_kind_parse(s, &o->policy.kind))
			return xlmig_fail(XLMIG_E_INVAL, "unknown policy '%s': use xlmig or xen", s);
		break;
	case XLMIG_MOPT_AUTO_CONVERGE: o->policy.auto_converge = v; break;
	case XLMIG_MOPT_VERIFY: o->verify = v; break;
	case XLMIG_MOPT_CHECK: o->check_only = v; break;
	case 'p': o->pause_after = v; break;
	case 'D': o->preserve_domid = v; break;
	case 'd': o->debug = v; break;
	default:
		return xlmig_fail(XLMIG_E_INVAL, "%s has no setting in a migration job", spelling(m, sp));
	}
	return XLMIG_OK;
}
