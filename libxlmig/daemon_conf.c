/*
 * daemon_conf.c - the table of xlmigd's settings (see daemon_conf.h).
 *
 * To add a setting: add a field to struct xlmig_daemon_config, one row
 * here, and an entry in man/xlmigd.conf.5 and man/xlmigd.8 (the unit test
 * conf_table_matches_the_manual fails until both pages have it).  Nothing
 * else: the command line, the file parser, --help and --check-config
 * follow the table.  Short flags are optional; the letters c and h are
 * taken by --config and --help.
 */
#include "daemon_conf.h"
#include "ctl.h"
#include "guest_policy.h"
#include "job.h"

#include <stddef.h>

#define F(field) offsetof(struct xlmig_daemon_config, field)
#define STR(x) #x
#define XSTR(x) STR(x)

const struct xlmig_opt xlmig_daemon_opts[] = {
	{ "state_dir", "state-dir", 's', XLMIG_OPT_STR, F(state_dir), 0, 0, NULL,
	  "/var/lib/xlmig", "DIR", "job history and journal" },
	{ "socket", "socket", 'S', XLMIG_OPT_STR, F(socket_path), 0, 0, NULL,
	  XLMIG_CTL_DEFAULT_PATH, "PATH", "control socket" },
	{ "listen", "listen", 'l', XLMIG_OPT_STR, F(listen_addr), 0, 0, NULL,
	  NULL, "ADDR", "address for incoming migrations (default: loopback and the default route's interface)" },
	{ "port", "port", 'p', XLMIG_OPT_UINT, F(port), 1, 65535, NULL,
	  XSTR(XLMIG_DEFAULT_PORT), "N", "port for incoming migrations" },
	{ "key_file", "key", 'k', XLMIG_OPT_STR, F(key_file), 0, 0, NULL,
	  "/etc/xlmig/xlmig.key", "FILE", "pre-shared key, an additional check, used if it exists" },
	{ "tls_dir", "tls-dir", 0, XLMIG_OPT_STR, F(tls_dir), 0, 0, NULL,
	  "/etc/xlmig/tls", "DIR", "this host's CA, certificate, key and peers (xlmig setup-tls)" },
	{ "insecure", "insecure", 0, XLMIG_OPT_BOOL, F(insecure), 0, 0, NULL,
	  "no", "", "no TLS: plain channels, on loopback only" },
	{ "hv", "hv", 0, XLMIG_OPT_CHOICE, F(hv_name), 0, 0, "auto|sim|xen",
	  "auto", "NAME", "hypervisor backend: sim, xen or auto" },
	{ "simhost_socket", "simhost-socket", 0, XLMIG_OPT_STR, F(simhost_socket), 0, 0, NULL,
	  NULL, "PATH", "the sim host's socket (default STATE_DIR/simhost.sock)" },
	{ "max_jobs", "max-jobs", 'j', XLMIG_OPT_UINT, F(max_jobs), 1, 64, NULL,
	  "2", "N", "outgoing migrations at once, the rest queued" },
	{ "max_incoming", "max-incoming", 0, XLMIG_OPT_UINT, F(max_incoming), 1, 64, NULL,
	  "4", "N", "incoming migrations at once, more refused" },
	{ "auth_timeout", "auth-timeout", 0, XLMIG_OPT_UINT, F(auth_timeout), 1, 300, NULL,
	  "10", "S", "seconds a peer has from connecting to authenticated" },
	{ "log_level", "log-level", 0, XLMIG_OPT_CHOICE, F(log_level), 0, 0, "error|warn|info|debug",
	  "info", "LEVEL", "error, warn, info or debug" },
	{ "log_file", "log-file", 0, XLMIG_OPT_STR, F(log_file), 0, 0, NULL,
	  NULL, "FILE", "log here instead of stderr" },
	{ "foreground", "foreground", 'f', XLMIG_OPT_BOOL, F(foreground), 0, 0, NULL,
	  "no", "", "do not detach" },
	{ "agent_socket", "agent-socket", 0, XLMIG_OPT_STR, F(agent_socket), 0, 0, NULL,
	  NULL, "PATH", "backup agents' socket, or none (default: SOCKETDIR-backup/agent.sock)" },
	{ "agent_group", "agent-group", 0, XLMIG_OPT_STR, F(agent_group), 0, 0, NULL,
	  "xlmig-backup", "NAME", "group that may use the agents' socket besides root" },
	{ "hooks_dir", "hooks-dir", 0, XLMIG_OPT_STR, F(hooks_dir), 0, 0, NULL,
	  "/etc/xlmig/hooks", "DIR", "hooks, DIR/EVENT/*" },
	{ "hook_timeout", "hook-timeout", 0, XLMIG_OPT_UINT, F(hook_timeout), 1, 3600, NULL,
	  "30", "S", "seconds each hook may run" },
	{ "host_name", "host-name", 0, XLMIG_OPT_STR, F(host_name), 0, 0, NULL,
	  NULL, "NAME", "this host's name in backup answers and hooks (default: hostname)" },
	{ "backup_lease", "backup-lease", 0, XLMIG_OPT_UINT, F(backup_lease), 1, 604800, NULL,
	  "300", "S", "default lease of a backup job" },
	{ "hold_ack", "hold-ack", 0, XLMIG_OPT_UINT, F(hold_ack), 0, 86400, NULL,
	  "30", "S", "seconds a backup agent has to acknowledge a hold" },
	{ "hold_policy", "hold-policy", 0, XLMIG_OPT_CHOICE, F(hold_policy), 0, 0, "proceed|abort",
	  "proceed", "P", "a hold not acknowledged in time: the migration proceeds or aborts" },
	{ "announce_rounds", "announce-rounds", 0, XLMIG_OPT_UINT, F(announce_rounds), 0, 100, NULL,
	  "5", "N", "rounds of gratuitous ARP/NA/RARP for an arrived guest (0: none)" },
	{ "announce_initial_ms", "announce-initial-ms", 0, XLMIG_OPT_UINT, F(announce_initial_ms), 1, 10000, NULL,
	  "50", "MS", "gap after the first round; each next one 100 ms longer, at most 550" },
	{ "storage", "storage", 0, XLMIG_OPT_STR, F(storage), 0, 0, NULL,
	  XLMIG_POLICY_DEFAULT_STORAGE, "DIRS", "incoming guests' disks only under these (':'-separated)" },
	{ "boot", "boot", 0, XLMIG_OPT_STR, F(boot), 0, 0, NULL,
	  XLMIG_POLICY_DEFAULT_BOOT, "DIRS", "incoming guests' kernels, ramdisks, firmware only from these" },
	{ "bridges", "bridges", 0, XLMIG_OPT_STR, F(bridges), 0, 0, NULL,
	  XLMIG_POLICY_DEFAULT_BRIDGES, "NAMES", "bridges incoming guests may join (','-separated, br* ok)" },
	{ "allow_scripts", "allow-scripts", 0, XLMIG_OPT_BOOL, F(allow_scripts), 0, 0, NULL,
	  "no", "", "incoming guests may name hotplug scripts other than Xen's" },
	{ "allow_device_model", "allow-device-model", 0, XLMIG_OPT_BOOL, F(allow_device_model),
	  0, 0, NULL, "no", "", "incoming guests may override the device model" },
	{ "allow_bootloader", "allow-bootloader", 0, XLMIG_OPT_BOOL, F(allow_bootloader), 0, 0, NULL,
	  "no", "", "incoming guests may have a bootloader run in dom0" },
	{ "allow_passthrough", "allow-passthrough", 0, XLMIG_OPT_BOOL, F(allow_passthrough), 0, 0,
	  NULL, "no", "", "incoming guests may have host PCI/USB/DT devices" },
};

const size_t xlmig_daemon_nopts = XLMIG_ARRAY_SIZE(xlmig_daemon_opts);
