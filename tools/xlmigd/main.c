/*
 * main.c - xlmigd, the xlmig daemon: options, start-up (state, backend,
 * recovery of unfinished jobs, sockets, readiness to the service
 * manager), the event loop, and a clean shutdown on SIGTERM that cancels
 * running jobs so guests stay on the source, running.
 */
#include "xlmigd.h"
#include "ctl.h"
#include "daemon_conf.h"
#include "sdnotify.h"
#include "tls.h"

#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Actions: command-line only, since they say what this invocation does
 * rather than how the host's daemon is set up.  Their getopt values sit
 * above the settings' (256 + index in the table). */
enum { OPT_CHECK_CONFIG = 1000, OPT_GEN_KEY, OPT_PRINT_CONFIG };

static const struct option actions[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "check-config", optional_argument, NULL, OPT_CHECK_CONFIG },
	{ "gen-key", required_argument, NULL, OPT_GEN_KEY },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
	{ "help", no_argument, NULL, 'h' },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmigd [OPTIONS]\n"
		"Settings (also keys of " XLMIG_DAEMON_CONF_PATH ", shown in [], which the flags override):\n");
	xlmig_conf_usage(xlmig_daemon_opts, xlmig_daemon_nopts, out);
	fprintf(out,
		"Actions:\n"
		"  -c, --config FILE            read settings from FILE (default " XLMIG_DAEMON_CONF_PATH ")\n"
		"      --check-config[=FILE]    check the configuration file, print each error with its line, exit\n"
		"      --gen-key FILE           write a new random key to FILE (mode 0600) and exit\n"
		"      --print-config           print a configuration file with every setting at its default\n");
}

/* The configuration file: the one named, else the default if it exists. */
static int load_config(struct xlmig_daemon_config *cfg, const char *path, bool named)
{
	int rc = xlmig_conf_load(xlmig_daemon_opts, xlmig_daemon_nopts, cfg,
				 path ? path : XLMIG_DAEMON_CONF_PATH, stderr);

	if (rc == XLMIG_E_NOTFOUND && !named)
		return XLMIG_OK;
	if (rc)
		fprintf(stderr, "xlmigd: fix the configuration (xlmigd --check-config checks it)\n");
	return rc;
}

/* Settings come from the table's defaults, then the configuration file,
 * then the command line, so a flag overrides the file.  getopt runs
 * twice: first for the actions and the file's name, then for the
 * settings.  Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct xlmig_daemon_config *cfg)
{
	const struct xlmig_opt *o;
	struct option *longopts = NULL;
	char *shortopts = NULL;
	const char *config = NULL, *check = NULL;
	bool checking = false;
	int c, ret = 2;

	if (xlmig_conf_getopt_init(xlmig_daemon_opts, xlmig_daemon_nopts, actions,
				   XLMIG_ARRAY_SIZE(actions), "c:h", &longopts, &shortopts) ||
	    xlmig_conf_defaults(xlmig_daemon_opts, xlmig_daemon_nopts, cfg)) {
		fprintf(stderr, "xlmigd: %s\n", xlmig_errmsg());
		goto out;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case OPT_CHECK_CONFIG: checking = true; check = optarg; break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		case OPT_PRINT_CONFIG:
			xlmig_conf_write_template(xlmig_daemon_opts, xlmig_daemon_nopts,
						  XLMIG_DAEMON_CONF_PATH " - settings of xlmigd, see xlmigd.conf(5)",
						  stdout);
			ret = 0;
			goto out;
		case OPT_GEN_KEY:
			if (xlmig_key_generate(optarg)) {
				fprintf(stderr, "xlmigd: %s\n", xlmig_errmsg());
				goto out;
			}
			ret = 0;
			goto out;
		}
	}
	if (checking) {
		/* getopt takes an optional argument only as --check-config=FILE;
		 * accept the spaced form the manual shows too. */
		if (!check && optind == argc - 1)
			check = argv[optind];
		else if (optind != argc) {
			fprintf(stderr, "xlmigd: --check-config takes one FILE\n");
			goto out;
		}
		const char *path = check ? check : config ? config : XLMIG_DAEMON_CONF_PATH;

		ret = xlmig_conf_load(xlmig_daemon_opts, xlmig_daemon_nopts, cfg, path, stderr) ? 1 : 0;
		if (!ret)
			printf("%s: OK\n", path);
		goto out;
	}
	if (load_config(cfg, config, config != NULL))
		goto out;
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if ((o = xlmig_conf_getopt_find(xlmig_daemon_opts, xlmig_daemon_nopts, c))) {
			if (xlmig_conf_set(o, cfg, o->type == XLMIG_OPT_BOOL ? "yes" : optarg)) {
				fprintf(stderr, "xlmigd: --%s: %s\n", o->longopt, xlmig_errmsg());
				goto out;
			}
		} else if (c != 'c') {
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xlmigd: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	ret = -1;
out:
	free(longopts);
	free(shortopts);
	return ret;
}

/* The backup coordinator's settings (backup.c), from the daemon's. */
static void backup_config(struct xlmigd *d)
{
	static char agent_socket[256];
	struct xlmig_bk_config *bk = &d->backup_cfg;
	const char *sock = d->cfg.socket_path, *slash = strrchr(sock, '/');

	xlmig_bk_config_default(bk);
	if (d->cfg.host_name)
		snprintf(bk->host, sizeof(bk->host), "%s", d->cfg.host_name);
	else if (gethostname(bk->host, sizeof(bk->host) - 1) != 0)
		snprintf(bk->host, sizeof(bk->host), "localhost");
	bk->lease_secs = d->cfg.backup_lease;
	bk->hold_ack_secs = d->cfg.hold_ack;
	bk->abort_unacked = !strcmp(d->cfg.hold_policy, "abort");
	/* By default next to the control socket's directory, so daemons with
	 * their own control sockets get their own agents' sockets too. */
	if (d->cfg.agent_socket)
		d->agent_socket = strcmp(d->cfg.agent_socket, "none") ? d->cfg.agent_socket : NULL;
	else if (slash && slash != sock &&
		 (size_t)snprintf(agent_socket, sizeof(agent_socket), "%.*s-backup/agent.sock",
				  (int)(slash - sock), sock) < sizeof(agent_socket))
		d->agent_socket = agent_socket;
}

/* Every channel of every migration is an fd: take the most the system
 * lets this process have, so a busy host runs out of patience (the
 * listener's caps) before it runs out of fds. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		xlmig_warn("cannot raise the open file limit: %s", strerror(errno));
}

/* The pre-shared key is an additional check on top of TLS, used when its
 * file exists; one that exists but is unsafe or unreadable stops xlmigd. */
static int load_key(struct xlmigd *d)
{
	struct xlmig_key *key;
	int rc;

	/* Before any key is read, so none is ever in a core dump. */
	if ((rc = xlmig_secure_heap_init()))
		return rc;
	if (!(key = xlmig_key_new()))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the key");
	rc = xlmig_key_load(d->cfg.key_file, key);
	if (rc == XLMIG_OK) {
		d->key = key;
		return XLMIG_OK;
	}
	xlmig_key_free(key);
	if (rc == XLMIG_E_NOTFOUND) {
		xlmig_info("no pre-shared key (%s): TLS alone authenticates the hosts",
			   d->cfg.key_file);
		return XLMIG_OK;
	}
	if (rc == XLMIG_E_IO)
		return xlmig_fail_prefix(rc, "the same key must be on every host (create one with "
					 "'xlmigd --gen-key %s' and copy it)", d->cfg.key_file);
	return rc;
}

/* A host freshly installed has no identity yet: like sshd before its host
 * keys or libvirtd before its certificates, it then serves locally only
 * (listing, backups, the control socket) rather than refusing to start.
 * An identity that is there but broken still stops the start. */
static bool tls_configured(const char *dir)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/host.crt", dir) >= sizeof(path))
		return true;  /* let xlmig_tls_open report the path */
	return access(path, F_OK) == 0 || errno != ENOENT;
}

/* TLS unless explicitly insecure; the identity is checked now, so a
 * misconfigured host fails at start rather than at its first migration.
 * Plain channels listen on loopback only. */
static int load_tls(struct xlmigd *d)
{
	char prefs[160];
	unsigned peers;
	int rc;

	if (d->cfg.insecure) {
		xlmig_warn("--insecure: migration channels are plain TCP, on loopback only");
		if (!d->cfg.listen_addr && !(d->cfg.listen_addr = strdup("127.0.0.1")))
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
		return XLMIG_OK;
	}
	if (!tls_configured(d->cfg.tls_dir)) {
		xlmig_warn("no TLS identity in %s: migrations are neither accepted nor sent from "
			   "this host until one is made (xlmig setup-tls host, with the cluster's CA); "
			   "the control socket serves", d->cfg.tls_dir);
		return XLMIG_OK;
	}
	rc = xlmig_tls_open(d->cfg.tls_dir, &d->tls);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "TLS is on by default (--insecure: plain, loopback only)");
	peers = xlmig_tls_peer_count(d->tls);
	if (peers == 0)
		xlmig_warn("%s/peers lists no host: no migration will be accepted here",
			   d->cfg.tls_dir);
	xlmig_info("TLS 1.3 as '%s', accepting migrations from %s; %s", xlmig_tls_name(d->tls),
		   peers == UINT_MAX ? "every host of the CA" : "the hosts in the peers file",
		   xlmig_tls_preference(d->tls, prefs, sizeof(prefs)));
	return XLMIG_OK;
}

/* What incoming guests may ask of this host (guest_policy.h), checked
 * now so that a bad setting fails at start. */
static int load_policy(struct xlmigd *d)
{
	struct xlmig_guest_policy *p = &d->policy;
	int rc = xlmig_guest_policy_init(p, d->cfg.storage, d->cfg.boot, d->cfg.bridges);

	if (rc)
		return rc;
	p->allow_scripts = d->cfg.allow_scripts;
	p->allow_device_model = d->cfg.allow_device_model;
	p->allow_bootloader = d->cfg.allow_bootloader;
	p->allow_passthrough = d->cfg.allow_passthrough;
	return XLMIG_OK;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct xlmigd *d = arg;

	xlmig_info("signal %d: cancelling running jobs and stopping", (int)sig);
	if (xlmig_sd_notify("STOPPING=1\nSTATUS=cancelling running jobs, guests stay where they run"))
		xlmig_warn("%s", xlmig_errmsg());
	xlmigd_control_stop(d);
	xlmigd_listener_stop(d);
	xlmigd_jobs_shutdown(d);
}

static void on_step(void *opaque, const char *job_id, enum xlmig_job_step step)
{
	xlmig_info("job %s: %s", job_id, xlmig_step_name(step));
	if (step == XLMIG_STEP_UNKNOWN)
		xlmigd_indoubt_poke(opaque);
}

static int open_log(const struct xlmig_daemon_config *cfg)
{
	xlmig_log_set_tag("xlmigd");
	xlmig_log_set_level(xlmig_log_level_parse(cfg->log_level));
	if (!cfg->log_file)
		return XLMIG_OK;
	FILE *f = fopen(cfg->log_file, "ae");  /* not inherited by hotplug scripts */
	if (!f)
		return xlmig_fail(XLMIG_E_IO, "cannot open log file %s: %s", cfg->log_file, strerror(errno));
	setvbuf(f, NULL, _IOLBF, 0);
	xlmig_log_set_stream(f);
	return XLMIG_OK;
}

/* The backend; one whose host is a process of its own (sim) is found on
 * its socket, beside the state by default, and started if none answers,
 * so that two xlmigd with their own state directories have their own. */
static int open_backend(struct xlmigd *d)
{
	char sock[PATH_MAX], log[PATH_MAX];
	struct xlmig_hv_place place = { .host_socket = sock, .host_log = log, .start_host = true };

	if (d->cfg.simhost_socket)
		snprintf(sock, sizeof(sock), "%s", d->cfg.simhost_socket);
	else if ((size_t)snprintf(sock, sizeof(sock), "%s/simhost.sock", d->cfg.state_dir) >= sizeof(sock))
		return xlmig_fail(XLMIG_E_LIMIT, "state directory path too long");
	snprintf(log, sizeof(log), "%s/simhost.log", d->cfg.state_dir);
	return xlmig_hv_open_at(d->cfg.hv_name, &place, &d->hv);
}

/* What the last daemon learned of this host's downtime windows (job.h). */
static void load_learned_window(struct xlmigd *d)
{
	uint64_t learned;

	if (!xlmig_journal_get_u64(d->journal, XLMIG_WINDOW_LEARNED_KEY, &learned))
		atomic_store(&d->window_learned_ns, learned);
}

/* Open everything; recovery runs before any socket is served, so no new
 * job can race with the rollback of an old one. */
static int start(struct xlmigd *d)
{
	unsigned recovered = 0;
	int rc;

	raise_fd_limit();
	if ((rc = load_key(d)) || (rc = load_tls(d)) || (rc = load_policy(d)) ||
	    (rc = xlmig_journal_open(d->cfg.state_dir, &d->journal)) ||
	    (rc = open_backend(d)))
		return rc;
	pthread_mutex_init(&d->hv_lock, NULL);
	d->env = (struct xlmig_job_env){
		.hv = d->hv, .hv_lock = &d->hv_lock, .journal = d->journal,
		.key = d->key, .tls = d->tls, .insecure = d->cfg.insecure,
		.policy = &d->policy, .on_step = on_step, .opaque = d,
		.dial_self = xlmigd_listener_dial_self,
		.window_learned_ns = &d->window_learned_ns,
	};
	load_learned_window(d);
	if ((rc = xlmig_job_recover(&d->env, &recovered)))
		return xlmig_fail_prefix(rc, "recovering unfinished jobs");
	if (recovered)
		xlmig_info("finished or rolled back %u job(s) left by a previous xlmigd", recovered);
	d->base = event_base_new();
	if (!d->base)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot create the event loop");
	if ((rc = xlmigd_backup_start(d)) || (rc = xlmigd_network_start(d)) || (rc = xlmigd_jobs_init(d)) ||
	    (rc = xlmigd_watch_start(d)) || (rc = xlmigd_control_start(d)) ||
	    ((d->tls || d->cfg.insecure) && (rc = xlmigd_listener_start(d))) ||
	    (rc = xlmigd_indoubt_start(d)))
		return rc;
	return XLMIG_OK;
}

static void stop(struct xlmigd *d)
{
	xlmigd_control_stop(d);
	xlmigd_listener_stop(d);
	xlmigd_indoubt_stop(d);
	xlmigd_watch_stop(d);
	xlmigd_jobs_fini(d);
	xlmigd_backup_stop(d);
	xlmigd_network_stop(d);
	if (d->base)
		event_base_free(d->base);
	xlmig_hv_close(d->hv);
	xlmig_journal_close(d->journal);
	xlmig_tls_free(d->tls);
	xlmig_key_free(d->key);
	xlmig_guest_policy_free(&d->policy);
	xlmig_conf_free(xlmig_daemon_opts, xlmig_daemon_nopts, &d->cfg);
}

int main(int argc, char **argv)
{
	struct xlmigd d = { .note_fd = { -1, -1 } };
	struct event *sigterm = NULL, *sigint = NULL;
	int ready_fd = -1, rc;

	rc = parse_options(argc, argv, &d.cfg);
	if (rc >= 0) {
		xlmig_conf_free(xlmig_daemon_opts, xlmig_daemon_nopts, &d.cfg);
		return rc;
	}
	backup_config(&d);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = open_log(&d.cfg)) || evthread_use_pthreads() != 0 ||
	    (!d.cfg.foreground && (rc = xlmig_detach(&ready_fd))) || (rc = start(&d))) {
		xlmig_error("%s", rc ? xlmig_errmsg() : "libevent has no thread support");
		xlmig_detach_ready(&ready_fd, 1);
		stop(&d);
		return 1;
	}
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL)) {
		xlmig_error("cannot install signal handlers");
		xlmig_detach_ready(&ready_fd, 1);
		stop(&d);
		return 1;
	}
	if (d.listener)
		xlmig_info("serving %s, migrations on port %u, backend %s, state in %s",
			   d.cfg.socket_path, d.cfg.port, d.hv->ops->name, d.cfg.state_dir);
	else
		xlmig_info("serving %s locally only, backend %s, state in %s",
			   d.cfg.socket_path, d.hv->ops->name, d.cfg.state_dir);
	xlmig_detach_ready(&ready_fd, 0);
	/* Only now: start() has finished or rolled back every job a previous
	 * xlmigd left, so whatever systemd orders after us finds no guest in
	 * the middle of a recovery. */
	if (xlmig_sd_notify(d.listener ? "READY=1\nSTATUS=serving" :
			    "READY=1\nSTATUS=serving locally only: no TLS identity (xlmig setup-tls)"))
		xlmig_warn("%s", xlmig_errmsg());
	event_base_dispatch(d.base);
	event_free(sigterm);
	event_free(sigint);
	stop(&d);
	xlmig_info("stopped");
	return 0;
}
