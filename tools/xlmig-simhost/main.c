/*
 * xlmig-simhost - a simulated Xen host: it owns sim guests (memory in
 * memfds, workload threads, dirty logs) and serves the sim host protocol
 * (sim_proto.h) on a unix socket to the xlmigd beside it.  It is to
 * xlmigd what Xen is to a dom0 toolstack: xlmigd can be killed and
 * restarted while the guests run on here; killing this process kills
 * its guests, as a hypervisor crash would.
 *
 *   xlmig-simhost --socket PATH [--log-file FILE] [--log-level LEVEL]
 *                 [--foreground]
 */
#include "common.h"
#include "sim_server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

struct options {
	const char *socket_path;
	const char *log_file;
	const char *log_level;
	bool foreground;
};

static struct xlmig_sim_server *server;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmig-simhost --socket PATH [--log-file FILE] [--log-level LEVEL] [--foreground]\n"
		"  --socket PATH      serve the sim host protocol here (xlmigd --simhost-socket)\n"
		"  --log-file FILE    append the log here (default: stderr, none once detached)\n"
		"  --log-level LEVEL  error, warn, info (default) or debug\n"
		"  --foreground       do not detach\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:l:L:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->socket_path = optarg; break;
		case 'l': o->log_file = optarg; break;
		case 'L': o->log_level = optarg; break;
		case 'f': o->foreground = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !o->socket_path) {
		fprintf(stderr, "xlmig-simhost: %s\n", optind != argc ? "unexpected argument" : "--socket PATH is required");
		usage(stderr);
		return 2;
	}
	if (o->log_level && xlmig_log_level_parse(o->log_level) < 0) {
		fprintf(stderr, "xlmig-simhost: unknown log level '%s' (error, warn, info, debug)\n", o->log_level);
		return 2;
	}
	return 0;
}

static int open_log(const struct options *o)
{
	FILE *f;

	xlmig_log_set_tag("xlmig-simhost");
	if (o->log_level)
		xlmig_log_set_level(xlmig_log_level_parse(o->log_level));
	if (!o->log_file)
		return XLMIG_OK;
	f = fopen(o->log_file, "a");
	if (!f)
		return xlmig_fail(XLMIG_E_IO, "cannot open log file %s: %s", o->log_file, strerror(errno));
	setvbuf(f, NULL, _IOLBF, 0);
	xlmig_log_set_stream(f);
	return XLMIG_OK;
}

static void on_signal(int sig)
{
	if (server)
		xlmig_sim_server_stop(server);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int ready_fd = -1, rc;

	rc = parse_options(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((rc = open_log(&o)) || (!o.foreground && (rc = xlmig_detach(&ready_fd))) ||
	    (rc = xlmig_sim_server_new(&server)) ||
	    (rc = xlmig_sim_server_listen(server, o.socket_path))) {
		xlmig_error("%s", xlmig_errmsg());
		xlmig_detach_ready(&ready_fd, 1);
		xlmig_sim_server_free(server);
		return 1;
	}
	xlmig_info("serving the sim host protocol on %s (pid %d)", o.socket_path, (int)getpid());
	xlmig_detach_ready(&ready_fd, 0);
	rc = xlmig_sim_server_run(server);
	if (rc)
		xlmig_error("%s", xlmig_errmsg());
	/* A stopped sim host is a host shut down: its guests end with it. */
	xlmig_info("stopping: the guests of this sim host end with it");
	xlmig_sim_server_free(server);
	return rc ? 1 : 0;
}
