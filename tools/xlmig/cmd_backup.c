/*
 * cmd_backup.c - `xlmig backup begin|progress|end|list|show|cancel`: the
 * backup coordinator's verbs for backup agents and administrators (the
 * backup-* requests of the control protocol, see man/xlmig.1).
 *
 * Agents that are not root use the agents' socket: -S PATH or
 * XLMIG_SOCKET, as for every command.
 */
#include "cmd_client.h"
#include "commands.h"

#include <getopt.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WAIT_POLL_MS 250

static const char usage_text[] =
	"usage: xlmig backup begin DOMAIN --agent NAME [--checkpoint] [--wait] [--quiesce]\n"
	"                          [--lease SECONDS] [--uuid UUID] [--json]\n"
	"       xlmig backup progress JOB [--token HEX | --token-text TEXT] [--thawed] [--json]\n"
	"       xlmig backup end JOB [--failed] [--message TEXT] [--json]\n"
	"       xlmig backup cancel JOB [--json]\n"
	"       xlmig backup show JOB [--json]\n"
	"       xlmig backup list [DOMAIN] [--all] [--json]\n";

struct bk_opts {
	const char *agent, *uuid, *token, *token_text, *message;
	bool checkpoint, wait, quiesce, thawed, failed, all, json;
	uint64_t lease;
	bool lease_set;
};

static int parse(int argc, char **argv, struct bk_opts *o)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "checkpoint", no_argument, NULL, 'c' },
		{ "wait", no_argument, NULL, 'w' },
		{ "quiesce", no_argument, NULL, 'q' },
		{ "lease", required_argument, NULL, 'l' },
		{ "token", required_argument, NULL, 't' },
		{ "token-text", required_argument, NULL, 'T' },
		{ "thawed", no_argument, NULL, 'z' },
		{ "failed", no_argument, NULL, 'f' },
		{ "message", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o->agent = optarg; break;
		case 'u': o->uuid = optarg; break;
		case 'c': o->checkpoint = true; break;
		case 'w': o->wait = true; break;
		case 'q': o->quiesce = true; break;
		case 't': o->token = optarg; break;
		case 'T': o->token_text = optarg; break;
		case 'z': o->thawed = true; break;
		case 'f': o->failed = true; break;
		case 'm': o->message = optarg; break;
		case 'A': o->all = true; break;
		case 'j': o->json = true; break;
		case 'l': {
			char *end;
			o->lease = strtoull(optarg, &end, 10);
			if (*end || end == optarg || optarg[0] == '-') {
				fprintf(stderr, "xlmig backup: --lease wants seconds, not '%s'\n", optarg);
				return 2;
			}
			o->lease_set = true;
			break;
		}
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (o->token && o->token_text) {
		fprintf(stderr, "xlmig backup: --token or --token-text, not both\n");
		return 2;
	}
	return 0;
}

static void print_job(const struct xlmig_json *j, bool header)
{
	const char *id = "?", *dom = "?", *agent = "?", *kind = "?", *state = "?", *host = "?", *msg = "";
	bool here = true;

	if (header)
		printf("%-14s %-16s %-14s %-10s %-10s %-16s %s\n", "JOB", "DOMAIN", "AGENT", "KIND",
		       "STATE", "HOST", "MESSAGE");
	xlmig_json_get_str(j, "id", &id);
	xlmig_json_get_str(j, "domain", &dom);
	xlmig_json_get_str(j, "agent", &agent);
	xlmig_json_get_str(j, "kind", &kind);
	xlmig_json_get_str(j, "state", &state);
	xlmig_json_get_str(j, "host", &host);
	xlmig_json_get_str(j, "message", &msg);
	xlmig_json_get_bool(j, "here", &here);
	printf("%-14s %-16s %-14s %-10s %-10s %-16s %s\n", id, dom, agent, kind,
	       here ? state : "moved", host, msg);
}

static int call(const char *verb, struct xlmig_json_writer *w, struct xlmig_buf *req,
		struct xlmig_json **reply)
{
	int rc = xlmig_cli_call_once(w, req, reply);

	xlmig_buf_free(req);
	return rc ? xlmig_cli_error(verb) : 0;
}

static int show(const char *id, struct xlmig_json **reply)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;

	xlmig_cli_request(&w, &req, "backup-show");
	xlmig_json_kv_str(&w, "job", id);
	return call("backup show", &w, &req, reply);
}

/* --wait: poll until the deferred job is granted here, or left with its
 * guest (then the answer names the host it runs on now). */
static int wait_granted(const char *id, struct xlmig_json **reply)
{
	for (;;) {
		const struct xlmig_json *j;
		const char *state = "";
		bool here = true;

		if (show(id, reply))
			return 1;
		j = xlmig_json_member(*reply, "job");
		xlmig_json_get_str(j, "state", &state);
		xlmig_json_get_bool(j, "here", &here);
		/* Requested, then in transit with its guest, then granted
		 * here (running) or moved (not here). */
		if (!here || (strcmp(state, "requested") && strcmp(state, "in-transit")))
			return 0;
		xlmig_json_free(*reply);
		*reply = NULL;
		usleep(WAIT_POLL_MS * 1000);
	}
}

static int cmd_begin(int argc, char **argv, const struct bk_opts *o)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	const struct xlmig_json *j;
	const char *id = "?", *host = "?", *state = "?";
	bool deferred = false, here = true;

	if (argc != 1 || !o->agent) {
		fputs(usage_text, stderr);
		return 2;
	}
	xlmig_cli_request(&w, &req, "backup-begin");
	xlmig_json_kv_str(&w, "domain", argv[0]);
	xlmig_json_kv_str(&w, "agent", o->agent);
	if (o->uuid)
		xlmig_json_kv_str(&w, "uuid", o->uuid);
	xlmig_json_kv_str(&w, "kind", o->checkpoint ? "checkpoint" : "external");
	xlmig_json_kv_bool(&w, "wait", o->wait);
	xlmig_json_kv_bool(&w, "quiesce", o->quiesce);
	if (o->lease_set)
		xlmig_json_kv_uint(&w, "lease", o->lease);
	if (call("backup begin", &w, &req, &reply))
		return 1;
	xlmig_json_get_bool(reply, "deferred", &deferred);
	j = xlmig_json_member(reply, "job");
	xlmig_json_get_str(j, "id", &id);
	if (deferred && o->wait) {
		char idc[64];
		if (!o->json)
			fprintf(stderr, "backup job %s deferred: %s is migrating; waiting\n", id, argv[0]);
		snprintf(idc, sizeof(idc), "%s", id);
		xlmig_json_free(reply);
		reply = NULL;
		if (wait_granted(idc, &reply))
			return 1;
		j = xlmig_json_member(reply, "job");
	}
	if (o->json) {
		xlmig_cli_print_json(j);
	} else {
		xlmig_json_get_str(j, "id", &id);
		xlmig_json_get_str(j, "host", &host);
		xlmig_json_get_str(j, "state", &state);
		xlmig_json_get_bool(j, "here", &here);
		if (!here)
			printf("backup job %s granted on %s (the guest moved there): continue with that host's xlmigd\n",
			       id, host);
		else
			printf("backup job %s %s on %s\n", id, state, host);
	}
	xlmig_json_free(reply);
	return 0;
}

static int cmd_job_verb(const char *verb, int argc, char **argv, const struct bk_opts *o)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	char cmd[32], what[32];

	if (argc != 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "backup-%s", verb);
	snprintf(what, sizeof(what), "backup %s", verb);
	xlmig_cli_request(&w, &req, cmd);
	xlmig_json_kv_str(&w, "job", argv[0]);
	if (o->token)
		xlmig_json_kv_str(&w, "token", o->token);
	if (o->token_text)
		xlmig_json_kv_str(&w, "token_text", o->token_text);
	if (o->thawed)
		xlmig_json_kv_bool(&w, "thawed", true);
	if (o->failed)
		xlmig_json_kv_bool(&w, "failed", true);
	if (o->message)
		xlmig_json_kv_str(&w, "message", o->message);
	if (call(what, &w, &req, &reply))
		return 1;
	if (o->json)
		xlmig_cli_print_json(xlmig_json_member(reply, "job"));
	else
		print_job(xlmig_json_member(reply, "job"), true);
	xlmig_json_free(reply);
	return 0;
}

static int cmd_list(int argc, char **argv, const struct bk_opts *o)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	const struct xlmig_json *jobs;

	if (argc > 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	xlmig_cli_request(&w, &req, "backup-list");
	if (argc == 1)
		xlmig_json_kv_str(&w, "domain", argv[0]);
	xlmig_json_kv_bool(&w, "all", o->all);
	if (call("backup list", &w, &req, &reply))
		return 1;
	jobs = xlmig_json_member(reply, "jobs");
	if (o->json) {
		xlmig_cli_print_json(reply);
	} else {
		bool first = true;
		for (const struct xlmig_json *j = jobs ? jobs->child : NULL; j; j = j->next, first = false)
			print_job(j, first);
	}
	xlmig_json_free(reply);
	return 0;
}

int xlmig_cmd_backup(int argc, char **argv)
{
	struct bk_opts o;
	const char *verb;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	if ((rc = parse(argc - 1, argv + 1, &o)))
		return rc == 1 ? 0 : rc;
	argc -= optind + 1;
	argv += optind + 1;
	if (!strcmp(verb, "begin"))
		return cmd_begin(argc, argv, &o);
	if (!strcmp(verb, "list"))
		return cmd_list(argc, argv, &o);
	if (!strcmp(verb, "progress") || !strcmp(verb, "end") || !strcmp(verb, "cancel") ||
	    !strcmp(verb, "show"))
		return cmd_job_verb(verb, argc, argv, &o);
	fprintf(stderr, "xlmig backup: unknown verb '%s'\n", verb);
	fputs(usage_text, stderr);
	return 2;
}
