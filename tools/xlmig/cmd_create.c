/*
 * cmd_create.c - `xlmig create NAME --memory SIZE ...`: start a guest on
 * the sim backend, with a workload that writes memory while it runs.
 */
#include "cmd_client.h"
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmig create NAME --memory SIZE [--vcpus N] [--rate RATE]\n"
		"                         [--pattern uniform|hot:SIZE|seq]\n"
		"                         [--mix zero=25,file=60,random=15] [--seed N] [--paused]\n"
		"                         [--nic bridge=BR[,mac=MAC][,ip=ADDR/PREFIX]]\n"
		"Creates a simulated guest (xlmigd --hv sim) whose workload writes RATE\n"
		"bytes/s of memory (default idle) while it runs; with --nic, a network\n"
		"interface on bridge BR of this host (a namespace of the guest's own).\n");
}

/* "hot:64M" -> the hot set pattern with a 64 MiB hot set; "uniform", "seq".
 * The sim backend calls them uniform, hotset and sequential. */
static int parse_pattern(const char *s, struct xlmig_json_writer *w)
{
	const char *colon = strchr(s, ':');
	char name[32];
	uint64_t hot = 0;

	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	if (!strcmp(name, "hot") != !!colon || (colon && xlmig_parse_size(colon + 1, &hot)) ||
	    (strcmp(name, "hot") && strcmp(name, "uniform") && strcmp(name, "seq")))
		return xlmig_fail(XLMIG_E_INVAL, "--pattern is uniform, hot:SIZE (e.g. hot:64M) or seq, not '%s'", s);
	xlmig_json_kv_str(w, "pattern", !strcmp(name, "hot") ? "hotset" : !strcmp(name, "seq") ? "sequential" : name);
	if (hot)
		xlmig_json_kv_uint(w, "hot_bytes", hot);
	return XLMIG_OK;
}

/* "zero=25,file=60,random=15": the three must add up to 100. */
static int parse_mix(const char *s, struct xlmig_json_writer *w)
{
	unsigned long pct[3] = { 0, 0, 0 };
	static const char *const names[3] = { "zero", "file", "random" };
	char copy[128], *tok, *save = NULL;

	snprintf(copy, sizeof(copy), "%s", s);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		size_t i;
		if (!eq)
			goto bad;
		*eq = '\0';
		for (i = 0; i < 3 && strcmp(tok, names[i]); i++)
			;
		errno = 0;
		if (i == 3 || (pct[i] = strtoul(eq + 1, &end, 10), errno || *end || pct[i] > 100))
			goto bad;
	}
	if (pct[0] + pct[1] + pct[2] != 100)
		goto bad;
	xlmig_json_kv_uint(w, "zero_pct", pct[0]);
	xlmig_json_kv_uint(w, "file_pct", pct[1]);
	return XLMIG_OK;
bad:
	return xlmig_fail(XLMIG_E_INVAL, "--mix is zero=N,file=N,random=N adding up to 100, not '%s'", s);
}

static int parse_u64_opt(const char *opt, const char *s, bool size, uint64_t *out)
{
	char *end;

	if (size)
		return xlmig_parse_size(s, out) ? xlmig_fail(XLMIG_E_INVAL, "%s wants a size such as 512M or 1G, not '%s'", opt, s) : 0;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return xlmig_fail(XLMIG_E_INVAL, "%s wants a number, not '%s'", opt, s);
	return XLMIG_OK;
}

int xlmig_cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "mix", required_argument, NULL, 'x' },
		{ "seed", required_argument, NULL, 's' },
		{ "paused", no_argument, NULL, 'P' },
		{ "nic", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	uint64_t v, domid = 0;
	bool have_mem = false;
	int c, rc = XLMIG_OK;

	xlmig_cli_request(&w, &req, "create");
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "m:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!(rc = parse_u64_opt("--memory", optarg, true, &v)))
				xlmig_json_kv_uint(&w, "memory", v);
			have_mem = true;
			break;
		case 'c':
			if (!(rc = parse_u64_opt("--vcpus", optarg, false, &v)))
				xlmig_json_kv_uint(&w, "vcpus", v);
			break;
		case 'r':
			if (!(rc = parse_u64_opt("--rate", optarg, true, &v)))
				xlmig_json_kv_uint(&w, "rate", v);
			break;
		case 's':
			if (!(rc = parse_u64_opt("--seed", optarg, false, &v)))
				xlmig_json_kv_uint(&w, "seed", v);
			break;
		case 'p': rc = parse_pattern(optarg, &w); break;
		case 'x': rc = parse_mix(optarg, &w); break;
		case 'P': xlmig_json_kv_bool(&w, "paused", true); break;
		case 'n': xlmig_json_kv_str(&w, "nic", optarg); break;
		case 'h': usage(stdout); xlmig_buf_free(&req); return 0;
		default: usage(stderr); xlmig_buf_free(&req); return 2;
		}
	}
	if (!rc && (optind != argc - 1 || !have_mem)) {
		usage(stderr);
		xlmig_buf_free(&req);
		return 2;
	}
	if (!rc) {
		xlmig_json_kv_str(&w, "name", argv[optind]);
		rc = xlmig_cli_call_once(&w, &req, &reply);
	}
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("create");
	xlmig_json_get_u64(reply, "domid", &domid);
	printf("created %s (domid %llu)\n", argv[optind], (unsigned long long)domid);
	xlmig_json_free(reply);
	return 0;
}
