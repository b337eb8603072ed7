/*
 * cmd_migrate.c - `xlmig migrate DOMAIN HOST[:PORT]`: ask xlmigd to send a
 * running guest to another host, then follow the job: a live progress
 * line on a terminal, a summary (or --json statistics) at the end.
 * With --check the job stops at the destination's preflight answer.
 */
#include "cmd_client.h"
#include "commands.h"
#include "xlcompat.h"
#include "job.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#define POLL_MS 200

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmig migrate DOMAIN HOST[:PORT] [options]\n"
		"  --channels N        parallel TCP channels (default 4)\n"
		"  --no-compress       send pages as they are\n"
		"  --zstd-level N      highest zstd level (default: chosen per batch)\n"
		"  --bandwidth RATE    cap on the wire, e.g. 100M (bytes/s)\n"
		"  --downtime MS       downtime target (default 100)\n"
		"  --max-iters N       pre-copy iterations at most (default 30)\n"
		"  --policy xlmig|xen  pre-copy policy (default xlmig)\n"
		"  --auto-converge     throttle the guest if it dirties memory too fast\n"
		"  --verify            (sim) compare memory digests on both hosts\n"
		"  --check             only ask HOST whether it can take DOMAIN (preflight);\n"
		"                      nothing is moved, exit 0 if it can, 1 if not\n"
		"  --json              print the final statistics as JSON\n"
		"  --wait | --detach   follow the job to its end (default) or return its id\n"
		"xl migrate's options, with xl's meaning:\n"
		"  -C CONFIG           send this domain config (JSON, or xl format via `xl -N create`)\n"
		"  -p                  leave the guest paused on the destination\n"
		"  -D                  keep the domain id on the destination\n"
		"  -d, --debug         send VERIFY data in the stream; debug logging here\n"
		"  -e, -F, --live      accepted; xlmig keeps no monitor process, migration is live\n"
		"xl's transports (-s SSHCOMMAND, ssh:HOST, --plain, --xl-receiver) run in this\n"
		"process without xlmigd; see xlmig-xl(7).\n");
}

/* Own options have no short form: the letters are xl's. */
enum {
	OPT_CHANNELS = 0x200, OPT_NO_COMPRESS, OPT_ZSTD_LEVEL, OPT_BANDWIDTH, OPT_DOWNTIME,
	OPT_MAX_ITERS, OPT_POLICY, OPT_AUTO_CONVERGE, OPT_VERIFY, OPT_CHECK, OPT_JSON, OPT_WAIT,
	OPT_DETACH,
};

static int parse_num(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || *out > max)
		return xlmig_fail(XLMIG_E_INVAL, "%s wants a number up to %lu, not '%s'", opt, max, s);
	return XLMIG_OK;
}

/* HOST, HOST:PORT, [V6]:PORT */
static int parse_target(const char *s, struct xlmig_json_writer *w)
{
	char host[XLMIG_HOST_MAX];
	const char *colon = strrchr(s, ':');
	unsigned long port = XLMIG_DEFAULT_PORT;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			return xlmig_fail(XLMIG_E_INVAL, "bad host '%s': use [ADDR]:PORT for IPv6", s);
		snprintf(host, sizeof(host), "%.*s", (int)(close - s - 1), s + 1);
		colon = close[1] ? close + 1 : NULL;
	} else if (colon && strchr(s, ':') == colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	} else {
		snprintf(host, sizeof(host), "%s", s);
		colon = NULL;
	}
	if (colon && (parse_num("port", colon + 1, 65535, &port) || port == 0))
		return xlmig_fail(XLMIG_E_INVAL, "bad port in '%s'", s);
	if (!host[0])
		return xlmig_fail(XLMIG_E_INVAL, "no host in '%s'", s);
	xlmig_json_kv_str(w, "host", host);
	xlmig_json_kv_uint(w, "port", port);
	return XLMIG_OK;
}

struct follow {
	bool json, tty;
	bool check;            /* --check: success is "checked", not "done" */
	const char *target;    /* HOST as given, for the verdict */
};

/* --check's verdict, one line; the refusal names every failed check. */
static void print_verdict(const struct follow *f, const struct xlmig_json *job, const char *step)
{
	const char *domain = "", *message = "";

	xlmig_json_get_str(job, "domain", &domain);
	xlmig_json_get_str(job, "message", &message);
	if (!strcmp(step, "checked"))
		printf("preflight OK: %s can take %s\n", f->target, domain);
	else
		fprintf(stderr, "preflight refused: %s cannot take %s: %s\n", f->target, domain, message);
}

/* Poll the job until it reaches a final step; print progress meanwhile. */
static int follow_job(const char *id, const struct follow *f)
{
	struct xlmig_ctl_client c;
	struct xlmig_json *reply = NULL;
	const struct xlmig_json *job = NULL;
	bool final = false;
	const char *step = "";
	unsigned stats_wait = 0;
	int rc = xlmig_ctl_connect(xlmig_cli_socket(), &c);

	while (!rc) {
		if ((rc = xlmig_cli_job_status(&c, id, &reply, &job)))
			break;
		xlmig_json_get_bool(job, "final", &final);
		/* Statistics are written just after the final step. */
		if (final && (xlmig_json_member(job, "stats") || ++stats_wait > 10))
			break;
		if (f->tty)
			xlmig_cli_print_progress(stderr, job, true);
		xlmig_json_free(reply);
		reply = NULL;
		usleep(POLL_MS * 1000);
	}
	xlmig_ctl_disconnect(&c);
	if (rc)
		return xlmig_fail_prefix(rc, "following job %s ('xlmig status %s' shows it)", id, id);
	if (f->tty)
		fprintf(stderr, "\r\033[K");
	xlmig_json_get_str(job, "step", &step);
	if (f->json)
		xlmig_cli_print_json(job);
	else if (f->check)
		print_verdict(f, job, step);
	else
		xlmig_cli_print_summary(stdout, job);
	if (!strcmp(step, "unknown"))
		fprintf(stderr,
			"** Migration failed during the final handshake **\n"
			"The domain's state is now undefined: check both hosts for running instances\n"
			"('xlmig list'), then rename and resume at most one of them.  Two instances\n"
			"running at once would probably cause severe data loss.\n");
	rc = strcmp(step, f->check ? "checked" : "done") ? XLMIG_E_PEER : XLMIG_OK;
	xlmig_json_free(reply);
	return rc;
}

static int add_option(int c, const char *arg, struct xlmig_json_writer *w)
{
	unsigned long n;
	uint64_t v;
	int rc = XLMIG_OK;

	switch (c) {
	case OPT_CHANNELS:
		if (!(rc = parse_num("--channels", arg, XLMIG_CHANNELS_MAX, &n)))
			xlmig_json_kv_uint(w, "channels", n);
		break;
	case OPT_NO_COMPRESS: xlmig_json_kv_bool(w, "compress", false); break;
	case OPT_ZSTD_LEVEL:
		if (!(rc = parse_num("--zstd-level", arg, 19, &n)))
			xlmig_json_kv_uint(w, "zstd_level", n);
		break;
	case OPT_BANDWIDTH:
		if (xlmig_parse_rate(arg, &v))
			return xlmig_fail(XLMIG_E_INVAL, "--bandwidth wants a rate such as 100M (bytes/s), not '%s'", arg);
		xlmig_json_kv_uint(w, "bandwidth", v);
		break;
	case OPT_DOWNTIME:
		if (!(rc = parse_num("--downtime", arg, 600000, &n)))
			xlmig_json_kv_uint(w, "downtime_ms", n);
		break;
	case OPT_MAX_ITERS:
		if (!(rc = parse_num("--max-iters", arg, XLMIG_POLICY_MAX_ITER_LOG, &n)))
			xlmig_json_kv_uint(w, "max_iters", n);
		break;
	case OPT_POLICY: xlmig_json_kv_str(w, "policy", arg); break;
	case OPT_AUTO_CONVERGE: xlmig_json_kv_bool(w, "auto_converge", true); break;
	case OPT_VERIFY: xlmig_json_kv_bool(w, "verify", true); break;
	}
	return rc;
}

/* xl's options for the job.  -e and -F only concern xl's monitor
 * process, which xlmig does not have.  -C's file is read here: the
 * daemon may not be able to open the user's path. */
static int add_xl_options(const struct xlmig_xl_migrate_opts *xo, struct xlmig_json_writer *w)
{
	char *config = NULL;
	int rc;

	if (xo->debug) {
		xlmig_log_set_level(XLMIG_LOG_DEBUG);
		xlmig_json_kv_bool(w, "debug", true);
	}
	if (xo->pause_after)
		xlmig_json_kv_bool(w, "pause", true);
	if (xo->preserve_domid)
		xlmig_json_kv_bool(w, "preserve_domid", true);
	if (!xo->config_file)
		return XLMIG_OK;
	if ((rc = xlmig_xl_config_load(xo->config_file, NULL, &config)))
		return xlmig_fail_prefix(rc, "-C");
	xlmig_debug("-C: sending the %zu-byte config from %s", strlen(config), xo->config_file);
	xlmig_json_kv_str(w, "config", config);
	free(config);
	return XLMIG_OK;
}

int xlmig_cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channels", required_argument, NULL, OPT_CHANNELS },
		{ "no-compress", no_argument, NULL, OPT_NO_COMPRESS },
		{ "zstd-level", required_argument, NULL, OPT_ZSTD_LEVEL },
		{ "bandwidth", required_argument, NULL, OPT_BANDWIDTH },
		{ "downtime", required_argument, NULL, OPT_DOWNTIME },
		{ "max-iters", required_argument, NULL, OPT_MAX_ITERS },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "auto-converge", no_argument, NULL, OPT_AUTO_CONVERGE },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "debug", no_argument, NULL, XLMIG_XL_OPT_DEBUG },
		{ "live", no_argument, NULL, XLMIG_XL_OPT_LIVE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct xlmig_xl_migrate_opts xo;
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	struct follow f = { .tty = isatty(2) };
	bool detach = false;
	const char *id = NULL;
	int c, rc = XLMIG_OK, status = 1;

	/* xl's transports (-s, ssh:HOST, --plain, --xl-receiver) run in this
	 * process, as `xl migrate` does, not as an xlmigd job. */
	if (xlmig_xl_migrate_wants_plain(argc, argv))
		return xlmig_cmd_migrate_plain(argc, argv);

	xlmig_cli_request(&w, &req, "migrate");
	xlmig_xl_migrate_opts_default(&xo);
	/* 0, not 1: GNU getopt then forgets the '+' (stop at the first
	 * DOMAIN) that xlmig_xl_migrate_wants_plain's parse left behind,
	 * and options may follow DOMAIN HOST again. */
	optind = 0;
	while (!rc && (c = getopt_long(argc, argv, "h" XLMIG_XL_MIGRATE_JOB_SHORTOPTS, opts, NULL)) != -1) {
		if (c == 'h' || c == '?') {
			usage(c == 'h' ? stdout : stderr);
			xlmig_buf_free(&req);
			return c == 'h' ? 0 : 2;
		}
		if (xlmig_xl_migrate_option(c, optarg, &xo))
			continue;
		if (c == OPT_JSON)
			f.json = true;
		else if (c == OPT_CHECK)
			f.check = true;
		else if (c == OPT_WAIT || c == OPT_DETACH)
			detach = c == OPT_DETACH;
		else
			rc = add_option(c, optarg, &w);
	}
	if (!rc && optind != argc - 2) {
		usage(stderr);
		xlmig_buf_free(&req);
		return 2;
	}
	if (!rc) {
		xlmig_json_kv_str(&w, "domain", argv[optind]);
		f.target = argv[optind + 1];
		if (f.check)
			xlmig_json_kv_bool(&w, "check", true);
		rc = parse_target(f.target, &w);
	}
	if (!rc)
		rc = add_xl_options(&xo, &w);
	if (!rc)
		rc = xlmig_cli_call_once(&w, &req, &reply);
	if (!rc && xlmig_json_get_str(reply, "job", &id))
		rc = xlmig_fail(XLMIG_E_FORMAT, "xlmigd did not name the new job: check its log");
	if (!rc && detach) {
		printf("%s\n", id);
		status = 0;
	} else if (!rc) {
		rc = follow_job(id, &f);
		status = rc ? 1 : 0;
		rc = rc == XLMIG_E_PEER ? XLMIG_OK : rc;  /* the summary said why */
	}
	if (rc)
		xlmig_cli_error("migrate");
	xlmig_json_free(reply);
	xlmig_buf_free(&req);
	return status;
}
