/*
 * main.c - xlmigd, the xlmig daemon: options, start-up (state, backend,
 * recovery of unfinished jobs, sockets), the event loop, and a clean
 * shutdown on SIGTERM that cancels running jobs so guests stay on the
 * source, running.
 */
#include "xlmigd.h"
#include "ctl.h"
#include "hv_sim.h"

#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_STATE_DIR "/var/lib/xlmig"
#define DEFAULT_KEY_FILE "/etc/xlmig/xlmig.key"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmigd [OPTIONS]\n"
		"  -s, --state-dir DIR    job history and journal (default " DEFAULT_STATE_DIR ")\n"
		"  -S, --socket PATH      control socket (default " XLMIG_CTL_DEFAULT_PATH ")\n"
		"  -l, --listen ADDR      address for incoming migrations (default: all)\n"
		"  -p, --port N           port for incoming migrations (default %d)\n"
		"  -k, --key FILE         pre-shared key of the hosts (default " DEFAULT_KEY_FILE ")\n"
		"      --hv NAME          hypervisor backend: sim, xen or auto (default auto)\n"
		"  -j, --max-jobs N       outgoing migrations at once, the rest queued (default 2)\n"
		"      --log-level L      error, warn, info or debug (default info)\n"
		"      --log-file FILE    log here instead of stderr\n"
		"  -f, --foreground       do not detach\n"
		"      --gen-key FILE     write a new random key to FILE (mode 0600) and exit\n",
		XLMIG_DEFAULT_PORT);
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *out > max || s[0] == '-') {
		fprintf(stderr, "xlmigd: %s wants a number up to %lu, not '%s'\n", opt, max, s);
		return XLMIG_E_INVAL;
	}
	return XLMIG_OK;
}

static int parse_options(int argc, char **argv, struct xlmigd_config *cfg)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "hv", required_argument, NULL, 'H' },
		{ "max-jobs", required_argument, NULL, 'j' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "log-file", required_argument, NULL, 'F' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "gen-key", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long n;
	int c;

	*cfg = (struct xlmigd_config){
		.state_dir = DEFAULT_STATE_DIR, .socket_path = XLMIG_CTL_DEFAULT_PATH,
		.port = XLMIG_DEFAULT_PORT, .key_file = DEFAULT_KEY_FILE,
		.hv_name = "auto", .max_jobs = 2, .log_level = XLMIG_LOG_INFO,
	};
	while ((c = getopt_long(argc, argv, "s:S:l:p:k:j:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': cfg->state_dir = optarg; break;
		case 'S': cfg->socket_path = optarg; break;
		case 'l': cfg->listen_addr = optarg; break;
		case 'k': cfg->key_file = optarg; break;
		case 'H': cfg->hv_name = optarg; break;
		case 'F': cfg->log_file = optarg; break;
		case 'f': cfg->foreground = true; break;
		case 'p':
			if (parse_uint("--port", optarg, 65535, &n))
				return 2;
			cfg->port = (uint16_t)n;
			break;
		case 'j':
			if (parse_uint("--max-jobs", optarg, 64, &n) || n == 0)
				return 2;
			cfg->max_jobs = (unsigned)n;
			break;
		case 'L':
			cfg->log_level = xlmig_log_level_parse(optarg);
			if (cfg->log_level < 0) {
				fprintf(stderr, "xlmigd: --log-level is error, warn, info or debug\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'G':
			if (xlmig_key_generate(optarg)) {
				fprintf(stderr, "xlmigd: %s\n", xlmig_errmsg());
				return 2;
			}
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xlmigd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

static int load_key(struct xlmigd *d)
{
	int rc = xlmig_key_load(d->cfg.key_file, &d->key);

	if (rc == XLMIG_E_NOTFOUND || rc == XLMIG_E_IO)
		return xlmig_fail_prefix(rc, "the same key must be on every host (create one with "
					 "'xlmigd --gen-key %s' and copy it), or pass --key", d->cfg.key_file);
	return rc;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct xlmigd *d = arg;

	xlmig_info("signal %d: cancelling running jobs and stopping", (int)sig);
	xlmigd_control_stop(d);
	xlmigd_listener_stop(d);
	xlmigd_jobs_shutdown(d);
}

static void on_step(void *opaque, const char *job_id, enum xlmig_job_step step)
{
	xlmig_info("job %s: %s", job_id, xlmig_step_name(step));
}

static int open_log(const struct xlmigd_config *cfg)
{
	xlmig_log_set_tag("xlmigd");
	xlmig_log_set_level(cfg->log_level);
	if (!cfg->log_file)
		return XLMIG_OK;
	FILE *f = fopen(cfg->log_file, "a");
	if (!f)
		return xlmig_fail(XLMIG_E_IO, "cannot open log file %s: %s", cfg->log_file, strerror(errno));
	setvbuf(f, NULL, _IOLBF, 0);
	xlmig_log_set_stream(f);
	return XLMIG_OK;
}

/* Open everything; recovery runs before any socket is served, so no new
 * job can race with the rollback of an old one. */
static int start(struct xlmigd *d)
{
	unsigned recovered = 0;
	int rc;

	if ((rc = load_key(d)) || (rc = xlmig_journal_open(d->cfg.state_dir, &d->journal)) ||
	    (rc = xlmig_hv_open(d->cfg.hv_name, &d->hv)))
		return rc;
	pthread_mutex_init(&d->hv_lock, NULL);
	/* Jobs take their own digests when asked (--verify); the backend's
	 * would only lengthen every downtime. */
	if (xlmig_hv_is_sim(d->hv))
		xlmig_hv_sim_set_save_digest(d->hv, false);
	d->env = (struct xlmig_job_env){
		.hv = d->hv, .hv_lock = &d->hv_lock, .journal = d->journal,
		.key = &d->key, .on_step = on_step, .opaque = d,
	};
	if ((rc = xlmig_job_recover(&d->env, &recovered)))
		return xlmig_fail_prefix(rc, "recovering unfinished jobs");
	if (recovered)
		xlmig_info("finished or rolled back %u job(s) left by a previous xlmigd", recovered);
	d->base = event_base_new();
	if (!d->base)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot create the event loop");
	if ((rc = xlmigd_jobs_init(d)) || (rc = xlmigd_control_start(d)) ||
	    (rc = xlmigd_listener_start(d)))
		return rc;
	return XLMIG_OK;
}

static void stop(struct xlmigd *d)
{
	xlmigd_control_stop(d);
	xlmigd_listener_stop(d);
	xlmigd_jobs_fini(d);
	if (d->base)
		event_base_free(d->base);
	xlmig_hv_close(d->hv);
	xlmig_journal_close(d->journal);
}

/* Detach, but let the parent exit only once the child is serving (or
 * with its error), so `xlmigd && xlmig list` works in scripts. */
static int detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe2(p, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return xlmig_fail(XLMIG_E_IO, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	setsid();
	if (chdir("/") != 0)
		xlmig_warn("chdir /: %s", strerror(errno));
	*ready_fd = p[1];
	return XLMIG_OK;
}

static void report_ready(int *ready_fd, char status)
{
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &status, 1) != 1)
		xlmig_warn("cannot tell the parent process we started");
	close(*ready_fd);
	*ready_fd = -1;
	if (status == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
}

int main(int argc, char **argv)
{
	struct xlmigd d = { .note_fd = { -1, -1 } };
	struct event *sigterm = NULL, *sigint = NULL;
	int ready_fd = -1, rc;

	rc = parse_options(argc, argv, &d.cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	if ((rc = open_log(&d.cfg)) || evthread_use_pthreads() != 0 ||
	    (!d.cfg.foreground && (rc = detach(&ready_fd))) || (rc = start(&d))) {
		xlmig_error("%s", rc ? xlmig_errmsg() : "libevent has no thread support");
		report_ready(&ready_fd, 1);
		stop(&d);
		return 1;
	}
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL)) {
		xlmig_error("cannot install signal handlers");
		report_ready(&ready_fd, 1);
		stop(&d);
		return 1;
	}
	xlmig_info("serving %s, migrations on port %u, backend %s, state in %s",
		   d.cfg.socket_path, d.cfg.port, d.hv->ops->name, d.cfg.state_dir);
	report_ready(&ready_fd, 0);
	event_base_dispatch(d.base);
	event_free(sigterm);
	event_free(sigint);
	stop(&d);
	xlmig_info("stopped");
	return 0;
}
