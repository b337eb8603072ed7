/*
 * cmd_list.c - `xlmig list`: the domains on this host; with a DOMAIN, its
 * sim counter and, with --digest, its memory digest (sim and xen), which
 * is how tests, the demo and the Xen lab prove a guest kept running across
 * a migration or came back whole from a checkpoint.
 */
#include "cmd_client.h"
#include "commands.h"

#include <getopt.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: xlmig list [--json]\n"
		     "       xlmig list DOMAIN [--digest] [--json]   (counter: sim; memory digest: sim, xen)\n");
}

static void print_table(const struct xlmig_json *reply)
{
	const struct xlmig_json *doms = xlmig_json_member(reply, "domains");
	char mem[32];

	printf("%-6s %-32s %10s %5s %s\n", "ID", "NAME", "MEMORY", "VCPUS", "STATE");
	for (const struct xlmig_json *d = doms ? doms->child : NULL; d; d = d->next) {
		const char *name = "?", *state = "?";
		uint64_t id = 0, bytes = 0, vcpus = 0;
		xlmig_json_get_str(d, "name", &name);
		xlmig_json_get_str(d, "state", &state);
		xlmig_json_get_u64(d, "domid", &id);
		xlmig_json_get_u64(d, "memory", &bytes);
		xlmig_json_get_u64(d, "vcpus", &vcpus);
		printf("%-6llu %-32s %10s %5llu %s\n", (unsigned long long)id, name,
		       xlmig_cli_bytes((double)bytes, mem, sizeof(mem)), (unsigned long long)vcpus, state);
	}
}

static void print_info(const struct xlmig_json *reply)
{
	const char *name = "?", *state = "?", *digest = NULL;
	uint64_t counter = 0;

	xlmig_json_get_str(reply, "domain.name", &name);
	xlmig_json_get_str(reply, "domain.state", &state);
	xlmig_json_get_str(reply, "digest", &digest);
	printf("%s %s", name, state);
	if (xlmig_json_get_u64(reply, "counter", &counter) == XLMIG_OK)   /* sim only */
		printf(" counter=%llu", (unsigned long long)counter);
	if (digest)
		printf(" digest=%s", digest);
	printf("\n");
}

int xlmig_cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "digest", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	bool json = false, digest = false;
	const char *domain = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'd': digest = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		domain = argv[optind++];
	if (optind != argc || (digest && !domain)) {
		usage(stderr);
		return 2;
	}
	xlmig_cli_request(&w, &req, domain ? "guest-info" : "list");
	if (domain) {
		xlmig_json_kv_str(&w, "domain", domain);
		xlmig_json_kv_bool(&w, "digest", digest);
	}
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("list");
	if (json)
		xlmig_cli_print_json(reply);
	else if (domain)
		print_info(reply);
	else
		print_table(reply);
	xlmig_json_free(reply);
	return 0;
}
