/*
 * cmd_status.c - `xlmig status [JOB]`: progress of running jobs, or a
 * finished job's result and statistics; also the progress line and the
 * summary that `xlmig migrate` prints.
 */
#include "cmd_client.h"
#include "commands.h"

#include <stdlib.h>

static uint64_t u64(const struct xlmig_json *j, const char *path)
{
	uint64_t v = 0;

	xlmig_json_get_u64(j, path, &v);
	return v;
}

static double dbl(const struct xlmig_json *j, const char *path)
{
	const struct xlmig_json *n = xlmig_json_get(j, path);

	return n && n->type == XLMIG_JSON_NUMBER ? strtod(n->text, NULL) : 0.0;
}

static const char *str(const struct xlmig_json *j, const char *path)
{
	const char *s = "";

	xlmig_json_get_str(j, path, &s);
	return s;
}

void xlmig_cli_print_progress(FILE *out, const struct xlmig_json *job, bool tty)
{
	char rate[32], dirty[32], wire[32];

	fprintf(out, "%s%-8s iter %2llu %5.1f%%  %s/s  dirty %s/s  downtime ~%llu ms  throttle %llu%%  wire %s%s",
		tty ? "\r" : "", str(job, "step"),
		(unsigned long long)u64(job, "progress.iteration"), dbl(job, "progress.percent"),
		xlmig_cli_bytes(dbl(job, "progress.send_rate"), rate, sizeof(rate)),
		xlmig_cli_bytes(dbl(job, "progress.dirty_rate"), dirty, sizeof(dirty)),
		(unsigned long long)u64(job, "progress.expected_downtime_ms"),
		(unsigned long long)u64(job, "progress.throttle_pct"),
		xlmig_cli_bytes((double)u64(job, "progress.bytes_wire"), wire, sizeof(wire)),
		tty ? "\033[K" : "\n");
	fflush(out);
}

static void print_iterations(FILE *out, const struct xlmig_json *iters)
{
	if (!iters || !iters->count)
		return;
	fprintf(out, "  %4s %10s %9s %12s %12s %11s %8s\n", "iter", "pages", "ms",
		"send pg/s", "dirty pg/s", "dirty after", "throttle");
	for (const struct xlmig_json *it = iters->child; it; it = it->next)
		fprintf(out, "  %4llu %10llu %9llu %12.0f %12.0f %11llu %7llu%%\n",
			(unsigned long long)u64(it, "iteration"), (unsigned long long)u64(it, "pages"),
			(unsigned long long)u64(it, "ms"), dbl(it, "send_rate"), dbl(it, "dirty_rate"),
			(unsigned long long)u64(it, "dirty_after"), (unsigned long long)u64(it, "throttle_pct"));
}

static void print_verify(FILE *out, const struct xlmig_json *st)
{
	const char *src = str(st, "digest_source"), *dst = str(st, "digest_dest");

	if (!*src || !*dst)
		return;
	fprintf(out, "  memory digest   %s (%.16s...)\n", strcmp(src, dst) ? "DIFFERS" : "equal on both hosts", src);
	fprintf(out, "  guest counter   %llu at pause, %llu on resume\n",
		(unsigned long long)u64(st, "counter_source"), (unsigned long long)u64(st, "counter_dest"));
}

/* Per guest interface, what became of its offload state here. */
static void print_offload(FILE *out, const struct xlmig_json *ifs)
{
	if (!ifs || ifs->type != XLMIG_JSON_ARRAY)
		return;
	for (const struct xlmig_json *i = ifs->child; i; i = i->next) {
		const struct xlmig_json *fs = xlmig_json_member(i, "features");
		fprintf(out, "  interface       %s (was %s, MAC %s): MTU %llu %s, queues %s\n", str(i, "interface"),
			str(i, "source_interface"), str(i, "mac"), (unsigned long long)u64(i, "mtu_value"),
			str(i, "mtu"), str(i, "queues"));
		for (const struct xlmig_json *f = fs ? fs->child : NULL; f; f = f->next)
			if (f->type == XLMIG_JSON_STRING)
				fprintf(out, "    %-26s %s\n", f->key, f->text);
	}
}

void xlmig_cli_print_summary(FILE *out, const struct xlmig_json *job)
{
	const struct xlmig_json *st = xlmig_json_member(job, "stats");
	const char *step = str(job, "step");
	char mem[32], stream[32], wire[32];

	fprintf(out, "job %s: %s %s %s: %s%s%s\n", str(job, "id"), str(job, "domain"),
		!strcmp(str(job, "role"), "source") ? "to" : "from", str(job, "peer"), step,
		*str(job, "message") ? " - " : "", str(job, "message"));
	if (!st)
		return;
	fprintf(out, "  total time      %.2f s (setup %.0f ms)\n", dbl(st, "total_ms") / 1000, dbl(st, "setup_ms"));
	if (!strcmp(step, "done")) {
		fprintf(out, "  downtime        %llu ms", (unsigned long long)u64(st, "downtime_ms"));
		if (u64(st, "verify_ms"))
			fprintf(out, " (of which %llu ms memory verification, --verify)",
				(unsigned long long)u64(st, "verify_ms"));
		fprintf(out, "\n");
	}
	fprintf(out, "  guest memory    %s\n", xlmig_cli_bytes((double)u64(st, "mem_bytes"), mem, sizeof(mem)));
	fprintf(out, "  stream          %s, on the wire %s (%.2fx of guest memory)\n",
		xlmig_cli_bytes((double)u64(st, "bytes_stream"), stream, sizeof(stream)),
		xlmig_cli_bytes((double)u64(st, "bytes_wire"), wire, sizeof(wire)),
		u64(st, "mem_bytes") ? (double)u64(st, "bytes_wire") / (double)u64(st, "mem_bytes") : 0.0);
	fprintf(out, "  pages           %llu of %llu sent in %llu iterations (%s)\n",
		(unsigned long long)u64(st, "pages_sent"), (unsigned long long)u64(st, "pages_total"),
		(unsigned long long)u64(st, "iterations"), str(st, "policy_reason"));
	print_verify(out, st);
	print_offload(out, xlmig_json_member(st, "offload"));
	print_iterations(out, xlmig_json_member(st, "iters"));
}

int xlmig_cli_job_status(struct xlmig_ctl_client *c, const char *id,
			 struct xlmig_json **reply, const struct xlmig_json **job)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	int rc;

	xlmig_cli_request(&w, &req, "status");
	xlmig_json_kv_str(&w, "job", id);
	rc = xlmig_cli_call(c, &w, &req, reply);
	xlmig_buf_free(&req);
	if (!rc && !(*job = xlmig_json_member(*reply, "job"))) {
		xlmig_json_free(*reply);
		rc = xlmig_fail(XLMIG_E_FORMAT, "xlmigd's status reply has no job");
	}
	return rc;
}

int xlmig_cmd_status(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	const char *id = NULL;
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] != '-' && !id)
			id = argv[i];
		else {
			fprintf(stderr, "usage: xlmig status [JOB] [--json]\n");
			return 2;
		}
	}
	xlmig_cli_request(&w, &req, "status");
	if (id)
		xlmig_json_kv_str(&w, "job", id);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("status");
	if (json) {
		xlmig_cli_print_json(id ? xlmig_json_member(reply, "job") : xlmig_json_member(reply, "jobs"));
	} else if (id) {
		const struct xlmig_json *job = xlmig_json_member(reply, "job");
		bool final = false;
		xlmig_json_get_bool(job, "final", &final);
		if (final)
			xlmig_cli_print_summary(stdout, job);
		else {
			printf("job %s: ", id);
			xlmig_cli_print_progress(stdout, job, false);
		}
	} else {
		const struct xlmig_json *jobs = xlmig_json_member(reply, "jobs");
		if (!jobs || !jobs->count)
			printf("no migration running ('xlmig jobs' shows past ones)\n");
		for (const struct xlmig_json *j = jobs ? jobs->child : NULL; j; j = j->next) {
			printf("job %s %s %s: ", str(j, "id"), str(j, "domain"), str(j, "peer"));
			xlmig_cli_print_progress(stdout, j, false);
		}
	}
	xlmig_json_free(reply);
	return 0;
}
