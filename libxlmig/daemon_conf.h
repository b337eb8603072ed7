/*
 * daemon_conf.h - xlmigd's settings: the one table that declares them
 * (config key, flags, type, bounds, default, help) and the struct they
 * fill.  xlmigd's option parsing, the /etc/xlmig/xlmigd.conf parser, its
 * --help and --check-config, and the unit test that holds the table
 * against xlmigd(8) and xlmigd.conf(5) all read this table.
 */
#ifndef XLMIG_DAEMON_CONF_H
#define XLMIG_DAEMON_CONF_H

#include "conf.h"

#define XLMIG_DAEMON_CONF_PATH "/etc/xlmig/xlmigd.conf"

struct xlmig_daemon_config {
	char *state_dir;
	char *socket_path;
	char *listen_addr;           /* NULL = all addresses */
	unsigned port;
	char *key_file;
	char *tls_dir;               /* host identity (tls.h) */
	bool insecure;               /* no TLS: plain channels on loopback */
	char *hv_name;
	char *simhost_socket;        /* NULL = STATE_DIR/simhost.sock */
	unsigned max_jobs;           /* outgoing jobs at once */
	unsigned max_incoming;       /* incoming jobs at once */
	unsigned auth_timeout;       /* seconds from accept to authenticated */
	char *log_level;
	char *log_file;              /* NULL = stderr (the journal under systemd) */
	bool foreground;
	/* backup coordination (xlmig-backup(7)) */
	char *agent_socket;          /* NULL = derived from socket, "none" = none */
	char *agent_group;
	char *hooks_dir;
	unsigned hook_timeout;       /* seconds, each hook */
	char *host_name;             /* NULL = the hostname */
	unsigned backup_lease;       /* seconds */
	unsigned hold_ack;           /* seconds */
	char *hold_policy;           /* proceed|abort */
	/* network continuity (announce.h) */
	unsigned announce_rounds;    /* 0: none */
	unsigned announce_initial_ms;
	/* what incoming guests may ask for (guest_policy.h) */
	char *storage;               /* directories, ':'-separated */
	char *boot;                  /* directories, ':'-separated */
	char *bridges;               /* names or prefix*, ','-separated */
	bool allow_scripts;
	bool allow_device_model;
	bool allow_bootloader;
	bool allow_passthrough;
};

extern const struct xlmig_opt xlmig_daemon_opts[];
extern const size_t xlmig_daemon_nopts;

#endif
