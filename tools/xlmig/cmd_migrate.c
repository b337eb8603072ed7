/*
 * cmd_migrate.c - `xlmig migrate DOMAIN HOST[:PORT]`: ask xlmigd to send a
 * running guest to another host, then follow the job: a live progress
 * line on a terminal, a summary (or --json statistics) at the end.
 * With --check the job stops at the destination's preflight answer.
 */
#include "cmd_client.h"
#include "commands.h"
#include "job.h"
#include "migrate_args.h"
#include "xl_config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define POLL_MS 200

static void usage(FILE *out)
{
	fprintf(out, "usage: xlmig migrate DOMAIN HOST[:PORT] [options]\n");
	xlmig_migrate_args_usage(out);
}

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
int xlmig_cli_target(const char *s, struct xlmig_json_writer *w)
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

/* The destination's offload forecast: a line per interface and feature
 * that would not stay in hardware there. */
static void print_forecast(const struct follow *f, const struct xlmig_json *job)
{
	const struct xlmig_json *stats = xlmig_json_member(job, "stats");
	const struct xlmig_json *fc = stats ? xlmig_json_member(stats, "offload_forecast") : NULL;
	const struct xlmig_json *e;

	for (size_t i = 0; fc && (e = xlmig_json_index(fc, i)); i++) {
		const char *ifname = "?", *bridge = "?", *feature = "?", *outcome = "?";
		xlmig_json_get_str(e, "interface", &ifname);
		xlmig_json_get_str(e, "bridge", &bridge);
		xlmig_json_get_str(e, "feature", &feature);
		xlmig_json_get_str(e, "outcome", &outcome);
		printf("warning: on %s, interface %s (bridge %s): %s %s\n", f->target, ifname, bridge, feature,
		       !strcmp(outcome, "fell back to software") ? "would fall back to software" : "would not be available");
	}
}

/* --check's verdict, one line, then any offload warnings; the refusal
 * names every failed check. */
static void print_verdict(const struct follow *f, const struct xlmig_json *job, const char *step)
{
	const char *domain = "", *message = "";

	xlmig_json_get_str(job, "domain", &domain);
	xlmig_json_get_str(job, "message", &message);
	if (!strcmp(step, "checked")) {
		printf("preflight OK: %s can take %s\n", f->target, domain);
		print_forecast(f, job);
	} else {
		fprintf(stderr, "preflight refused: %s cannot take %s: %s\n", f->target, domain, message);
	}
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

/* One of the table's job options, into the request under its key. */
static int add_option(const struct xlmig_mopt *m, const char *arg, struct xlmig_json_writer *w)
{
	uint64_t v;
	int rc;

	if (m->type == XLMIG_MOPT_WORD) {
		xlmig_json_kv_str(w, m->json, arg);
		return XLMIG_OK;
	}
	if ((rc = xlmig_mopt_parse(m, arg, &v)))
		return rc;
	if (m->type == XLMIG_MOPT_FLAG)
		xlmig_json_kv_bool(w, m->json, m->id != XLMIG_MOPT_NO_COMPRESS);
	else
		xlmig_json_kv_uint(w, m->json, v);
	return XLMIG_OK;
}

/* xl's options for the job.  -e and -F only concern xl's monitor
 * process, which xlmig does not have.  -C's file is read here: the
 * daemon may not be able to open the user's path. */
static int add_xl_options(const struct xlmig_xl_send_opts *xo, struct xlmig_json_writer *w)
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
	struct option opts[XLMIG_MIGRATE_ARGS_LONGS];
	char shortopts[XLMIG_MIGRATE_ARGS_SHORTS + 1] = "h";
	struct xlmig_xl_send_opts xo;
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	struct follow f = { .tty = isatty(2) };
	bool detach = false;
	const char *id = NULL;
	int c, rc = XLMIG_OK, status = 1;

	/* xl's transports (-s, ssh:HOST, --plain, --xl-receiver) run in this
	 * process, as `xl migrate` does, not as an xlmigd job. */
	if (xlmig_migrate_args_wants_plain(argc, argv))
		return xlmig_cmd_migrate_plain(argc, argv);

	xlmig_migrate_args_getopt(XLMIG_MOPT_JOB | XLMIG_MOPT_CLIENT, opts, shortopts + 1);
	xlmig_cli_request(&w, &req, "migrate");
	xlmig_xl_send_opts_default(&xo);
	/* 0, not 1: GNU getopt then forgets the '+' (stop at the first
	 * DOMAIN) that xlmig_migrate_args_wants_plain's parse left behind,
	 * and options may follow DOMAIN HOST again. */
	optind = 0;
	while (!rc && (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		const struct xlmig_mopt *m = xlmig_mopt_by_id(c);


		if (c == 'h' || c == '?') {
			usage(c == 'h' ? stdout : stderr);
			xlmig_buf_free(&req);
			return c == 'h' ? 0 : 2;
		}
		if (xlmig_migrate_args_xl_option(c, optarg, &xo))
			continue;
		if (c == XLMIG_MOPT_JSON)
			f.json = true;
		else if (c == XLMIG_MOPT_CHECK)
			f.check = true;
		else if (c == XLMIG_MOPT_WAIT || c == XLMIG_MOPT_DETACH)
			detach = c == XLMIG_MOPT_DETACH;
		else if (m && m->json)
			rc = add_option(m, optarg, &w);
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
		rc = xlmig_cli_target(f.target, &w);
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
