/*
 * cmd_snapshot.c - `xlmig snapshot DOMAIN FILE` (a live checkpoint, run
 * by xlmigd as a backup job of kind checkpoint) and `xlmig restore FILE`:
 * the requests snapshot, restore and snapshot-status of the control
 * protocol.  Both wait for the daemon's task and print its figures.
 */
#include "ckpt_zip.h"
#include "cmd_client.h"
#include "commands.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#define POLL_MS 200
#define EXIT_HELD 3       /* snapshot held by a migration: it goes on elsewhere */

static const char snapshot_usage[] =
	"usage: xlmig snapshot DOMAIN FILE [--downtime MS] [--max-iters N] [--verify]\n"
	"                      [--compress[=LEVEL]] [--wait] [--detach] [--json]\n"
	"       xlmig snapshot --status JOB [--json]\n";
static const char restore_usage[] =
	"usage: xlmig restore FILE [--name NAME] [--paused] [--verify] [--json]\n";

struct snap_opts {
	uint64_t downtime_ms, max_iters;
	uint64_t compress;               /* zstd level, 0: Xen's format */
	const char *name;
	const char *status_job;          /* --status: follow a running task */
	bool verify, wait, detach, paused, json;
};

static int number(const char *cmd, const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*end || end == s || s[0] == '-' || v == 0 || v > max) {
		fprintf(stderr, "xlmig %s: %s wants a number from 1 to %llu, not '%s'\n", cmd, opt,
			(unsigned long long)max, s);
		return 2;
	}
	*out = v;
	return 0;
}

static int parse(const char *cmd, const char *usage, int argc, char **argv, struct snap_opts *o)
{
	static const struct option longopts[] = {
		{ "downtime", required_argument, NULL, 'd' },
		{ "max-iters", required_argument, NULL, 'i' },
		{ "compress", optional_argument, NULL, 'z' },
		{ "name", required_argument, NULL, 'n' },
		{ "status", required_argument, NULL, 's' },
		{ "verify", no_argument, NULL, 'v' },
		{ "wait", no_argument, NULL, 'w' },
		{ "detach", no_argument, NULL, 'D' },
		{ "paused", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': rc = number(cmd, "--downtime", optarg, 600000, &o->downtime_ms); break;
		case 'i': rc = number(cmd, "--max-iters", optarg, 10000, &o->max_iters); break;
		case 'z':
			o->compress = XLMIG_CKZ_LEVEL_DEFAULT;
			if (optarg)
				rc = number(cmd, "--compress", optarg, XLMIG_CKZ_LEVEL_MAX, &o->compress);
			break;
		case 'n': o->name = optarg; break;
		case 's': o->status_job = optarg; break;
		case 'v': o->verify = true; break;
		case 'w': o->wait = true; break;
		case 'D': o->detach = true; break;
		case 'p': o->paused = true; break;
		case 'j': o->json = true; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return 2;
		}
	}
	return rc;
}

/* xlmigd runs elsewhere (cwd /): FILE as an absolute path. */
static int absolute(const char *cmd, const char *file, char out[PATH_MAX])
{
	char cwd[PATH_MAX];

	if (file[0] == '/') {
		if (strlen(file) >= PATH_MAX)
			goto long_name;
		snprintf(out, PATH_MAX, "%s", file);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "xlmig %s: cannot tell the current directory: give FILE as an absolute path\n", cmd);
		return 1;
	}
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", cwd, file) >= PATH_MAX)
		goto long_name;
	return 0;
long_name:
	fprintf(stderr, "xlmig %s: file name too long\n", cmd);
	return 2;
}

/* Poll the task until it ends; *reply holds its last status. */
static int wait_task(const char *cmd, const char *id, struct xlmig_json **reply)
{
	for (;;) {
		struct xlmig_buf req = { 0 };
		struct xlmig_json_writer w;
		bool running = true;
		int rc;

		xlmig_cli_request(&w, &req, "snapshot-status");
		xlmig_json_kv_str(&w, "job", id);
		rc = xlmig_cli_call_once(&w, &req, reply);
		xlmig_buf_free(&req);
		if (rc)
			return xlmig_cli_error(cmd);
		xlmig_json_get_bool(*reply, "running", &running);
		if (!running)
			return 0;
		xlmig_json_free(*reply);
		*reply = NULL;
		usleep(POLL_MS * 1000);
	}
}

static int finish(const char *cmd, const char *id, bool json)
{
	struct xlmig_json *reply = NULL;
	const char *msg = "";
	bool ok = false, held = false;
	int status;

	if (wait_task(cmd, id, &reply))
		return 1;
	xlmig_json_get_bool(reply, "succeeded", &ok);
	xlmig_json_get_bool(reply, "held", &held);
	xlmig_json_get_str(reply, "message", &msg);
	status = ok ? 0 : held ? EXIT_HELD : 1;
	if (json)
		xlmig_cli_print_json(reply);
	else
		fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "xlmig: ", msg);
	xlmig_json_free(reply);
	return status;
}

int xlmig_cmd_snapshot(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	struct snap_opts o;
	char file[PATH_MAX], id[64];
	const char *job = "?";
	bool deferred = false;
	int rc = parse("snapshot", snapshot_usage, argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	/* A checkpoint taken over from another host (or detached) is
	 * followed here to its end, with its figures. */
	if (o.status_job && argc == optind)
		return finish("snapshot", o.status_job, o.json);
	if (argc - optind != 2 || o.status_job) {
		fputs(snapshot_usage, stderr);
		return 2;
	}
	if ((rc = absolute("snapshot", argv[optind + 1], file)))
		return rc;
	xlmig_cli_request(&w, &req, "snapshot");
	xlmig_json_kv_str(&w, "domain", argv[optind]);
	xlmig_json_kv_str(&w, "file", file);
	if (o.downtime_ms)
		xlmig_json_kv_uint(&w, "downtime_ms", o.downtime_ms);
	if (o.max_iters)
		xlmig_json_kv_uint(&w, "max_iters", o.max_iters);
	if (o.compress)
		xlmig_json_kv_uint(&w, "compress", o.compress);
	xlmig_json_kv_bool(&w, "verify", o.verify);
	xlmig_json_kv_bool(&w, "wait", o.wait);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("snapshot");
	xlmig_json_get_str(reply, "job", &job);
	xlmig_json_get_bool(reply, "deferred", &deferred);
	snprintf(id, sizeof(id), "%s", job);
	xlmig_json_free(reply);
	if (deferred || o.detach) {
		if (o.json)
			printf("{\"job\":\"%s\",\"deferred\":%s}\n", id, deferred ? "true" : "false");
		else if (deferred)
			printf("checkpoint %s deferred: %s is migrating; it starts where the guest runs once the migration ends ('xlmig backup show %s')\n",
			       id, argv[optind], id);
		else
			printf("checkpoint %s started ('xlmig backup show %s')\n", id, id);
		return 0;
	}
	return finish("snapshot", id, o.json);
}

int xlmig_cmd_restore(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	struct snap_opts o;
	char file[PATH_MAX], id[64];
	const char *job = "?";
	int rc = parse("restore", restore_usage, argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	if (argc - optind != 1 || o.downtime_ms || o.max_iters || o.compress || o.wait || o.detach) {
		fputs(restore_usage, stderr);
		return 2;
	}
	if ((rc = absolute("restore", argv[optind], file)))
		return rc;
	xlmig_cli_request(&w, &req, "restore");
	xlmig_json_kv_str(&w, "file", file);
	if (o.name)
		xlmig_json_kv_str(&w, "name", o.name);
	xlmig_json_kv_bool(&w, "paused", o.paused);
	xlmig_json_kv_bool(&w, "verify", o.verify);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("restore");
	xlmig_json_get_str(reply, "job", &job);
	snprintf(id, sizeof(id), "%s", job);
	xlmig_json_free(reply);
	return finish("restore", id, o.json);
}
