/*
 * cmd_jobs.c - `xlmig jobs`: every migration job this host has run or is
 * running, incoming and outgoing, from the daemon's journal.
 */
#include "cmd_client.h"
#include "commands.h"

#include <time.h>

static void print_job(const struct xlmig_json *j)
{
	const char *id = "?", *role = "?", *dom = "?", *peer = "?", *step = "?", *msg = "";
	int64_t updated = 0;
	char when[32] = "-";
	time_t t;
	struct tm tm;

	xlmig_json_get_str(j, "id", &id);
	xlmig_json_get_str(j, "role", &role);
	xlmig_json_get_str(j, "domain", &dom);
	xlmig_json_get_str(j, "peer", &peer);
	xlmig_json_get_str(j, "step", &step);
	xlmig_json_get_str(j, "message", &msg);
	xlmig_json_get_i64(j, "updated", &updated);
	t = (time_t)updated;
	if (updated && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-6s %-4s %-20s %-22s %-10s %-19s %s\n", id,
	       !strcmp(role, "source") ? "out" : "in", dom, peer, step, when, msg);
}

int xlmig_cmd_jobs(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	int rc;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: xlmig jobs [--json]\n");
		return 2;
	}
	xlmig_cli_request(&w, &req, "jobs");
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("jobs");
	if (json) {
		xlmig_cli_print_json(reply);
	} else {
		const struct xlmig_json *jobs = xlmig_json_member(reply, "jobs");
		printf("%-6s %-4s %-20s %-22s %-10s %-19s %s\n", "JOB", "DIR", "DOMAIN", "PEER",
		       "STEP", "UPDATED", "MESSAGE");
		for (const struct xlmig_json *j = jobs ? jobs->child : NULL; j; j = j->next)
			print_job(j);
	}
	xlmig_json_free(reply);
	return 0;
}
