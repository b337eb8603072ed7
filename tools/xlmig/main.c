/*
 * main.c - the xlmig command line: global options, then dispatch to a
 * subcommand (see commands.h).
 */
#include "commands.h"
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "create", xlmig_cmd_create, "create a simulated guest (sim backend)" },
	{ "list", xlmig_cmd_list, "list the domains on this host" },
	{ "migrate", xlmig_cmd_migrate, "live-migrate a domain to another host" },
	{ "migrate-receive", xlmig_cmd_migrate_receive, "receive a domain over xl's protocol on stdin/stdout (Xen)" },
	{ "preflight", xlmig_cmd_preflight, "what a domain needs of a host (JSON), or --check it here (Xen)" },
	{ "evacuate", xlmig_cmd_evacuate, "move every guest off this host (preflight, plan, queue)" },
	{ "status", xlmig_cmd_status, "progress of running migrations, or one job's result" },
	{ "jobs", xlmig_cmd_jobs, "every migration job of this host" },
	{ "cancel", xlmig_cmd_cancel, "cancel a migration before its point of no return" },
	{ "destroy", xlmig_cmd_destroy, "destroy a domain" },
	{ "inspect", xlmig_cmd_inspect, "show what a save file or migration stream holds" },
	{ "backup", xlmig_cmd_backup, "backup jobs: begin, progress, end, list, show, cancel" },
	{ "snapshot", xlmig_cmd_snapshot, "live checkpoint of a running domain into a file (xl save -c, live)" },
	{ "restore", xlmig_cmd_restore, "create a domain from a checkpoint or save file" },
	{ "setup-tls", xlmig_cmd_setup_tls, "create the cluster CA, or a host's key and certificate" },
	{ "help", NULL, "show this list" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: xlmig [-v|--debug] [-S SOCKET] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'xlmig COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	xlmig_log_set_tag("xlmig");
	xlmig_log_set_level(XLMIG_LOG_WARN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			xlmig_log_set_level(XLMIG_LOG_INFO);
		else if ((!strcmp(argv[i], "-S") || !strcmp(argv[i], "--socket")) && i + 1 < argc)
			setenv("XLMIG_SOCKET", argv[++i], 1);
		else if (!strcmp(argv[i], "--debug"))
			xlmig_log_set_level(XLMIG_LOG_DEBUG);
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "xlmig: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i == argc) {
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < XLMIG_ARRAY_SIZE(commands); c++)
		if (!strcmp(argv[i], commands[c].name)) {
			if (!commands[c].run) {
				usage(stdout);
				return 0;
			}
			return commands[c].run(argc - i, argv + i);
		}
	fprintf(stderr, "xlmig: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
