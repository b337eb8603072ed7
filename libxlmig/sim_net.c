/*
 * sim_net.c - a sim guest's network interface (sim_net.h).
 */
#include "sim_net.h"
#include "offload.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#define CONF_DIR "/run/xlmig-simnet"
#define NS_PREFIX "xlmig-g-"   /* the host end's alias names its guest */

extern char **environ;

/* Run argv (NULL-terminated: ip(8), or a program that runs it); its
 * output, up to out_len-1 bytes, into out when out is not NULL.  Its
 * error text is the message. */
static int run_ip(const char *const *argv, char *out, size_t out_len)
{
	posix_spawn_file_actions_t fa;
	char text[512];
	size_t got = 0;
	int pipefd[2], status, rc = XLMIG_OK;
	pid_t pid;
	ssize_t r;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if ((errno = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ)) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot run %s: %s", argv[0], strerror(errno));
		close(pipefd[1]);
		goto out;
	}
	close(pipefd[1]);
	while ((r = read(pipefd[0], text + got, sizeof(text) - 1 - got)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			got += (size_t)r;
	text[got] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		text[strcspn(text, "\n")] = 0;
		rc = xlmig_fail(XLMIG_E_HV, "%s %s %s %s: %s", argv[0], argv[1], argv[2] ? argv[2] : "",
				argv[2] && argv[3] ? argv[3] : "", got ? text : "failed");
	} else if (out && out_len) {
		size_t n = got < out_len - 1 ? got : out_len - 1;
		memcpy(out, text, n);
		out[n] = 0;
	}
out:
	close(pipefd[0]);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

#define IP(...) run_ip((const char *const[]){ "ip", __VA_ARGS__, NULL }, NULL, 0)
/* ip(8) inside the guest's namespace (ns: "--net=/proc/PID/ns/net"). */
#define GIP(ns, ...) run_ip((const char *const[]){ "nsenter", ns, "ip", __VA_ARGS__, NULL }, NULL, 0)

static void host_end(uint32_t domid, char out[16])
{
	snprintf(out, 16, "vs%u.0", domid);
}

int xlmig_sim_nic_parse(const char *spec, const char *guest, struct xlmig_sim_nic *out)
{
	char buf[256], *save = NULL, *tok;
	uint32_t h = 2166136261u;

	memset(out, 0, sizeof(*out));
	/* Locally administered, derived from the name: stable across hosts. */
	for (const char *p = guest; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	memcpy(out->mac, (uint8_t[]){ 0x02, 0x58, (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h }, 6);
	if (strlen(spec) >= sizeof(buf))
		return xlmig_fail(XLMIG_E_INVAL, "the nic spec '%.32s...' is too long", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *v = strchr(tok, '=');
		size_t klen = v ? (size_t)(v - tok) : strlen(tok);
		char addr[48], *slash;
		if (!v)
			return xlmig_fail(XLMIG_E_INVAL, "nic spec: '%s' is not KEY=VALUE (bridge=, mac=, ip=)", tok);
		v++;
		if (klen == 6 && !strncmp(tok, "bridge", 6) && *v && strlen(v) < sizeof(out->bridge)) {
			snprintf(out->bridge, sizeof(out->bridge), "%s", v);
		} else if (klen == 3 && !strncmp(tok, "mac", 3)) {
			if (xlmig_mac_parse(v, out->mac))
				return xlmig_fail(XLMIG_E_INVAL, "nic spec: mac=%s is not a MAC address", v);
		} else if (klen == 2 && !strncmp(tok, "ip", 2) && strlen(v) < sizeof(addr)) {
			uint8_t a[4];
			snprintf(addr, sizeof(addr), "%s", v);
			if ((slash = strchr(addr, '/')))
				*slash = 0;
			if (inet_pton(AF_INET, addr, a) != 1 || (slash && (atoi(slash + 1) < 1 || atoi(slash + 1) > 32)))
				return xlmig_fail(XLMIG_E_INVAL, "nic spec: ip=%s is not an IPv4 address/prefix", v);
			snprintf(out->ip, sizeof(out->ip), "%s", v);
		} else {
			return xlmig_fail(XLMIG_E_INVAL, "nic spec: '%s' is not bridge=NAME, mac=MAC or ip=ADDR/PREFIX", tok);
		}
	}
	if (!out->bridge[0])
		return xlmig_fail(XLMIG_E_INVAL, "nic spec '%s' names no bridge (bridge=NAME)", spec);
	return XLMIG_OK;
}

static int conf_path(const char *guest, char *path, size_t len)
{
	if ((size_t)snprintf(path, len, CONF_DIR "/%s", guest) >= len || strchr(guest, '/'))
		return xlmig_fail(XLMIG_E_INVAL, "guest name '%s' cannot name a network namespace", guest);
	return XLMIG_OK;
}

static void nic_format(const struct xlmig_sim_nic *nic, char *out, size_t len)
{
	char mac[18];

	xlmig_mac_format(nic->mac, mac);
	snprintf(out, len, "bridge=%s,mac=%s%s%s", nic->bridge, mac, nic->ip[0] ? ",ip=" : "", nic->ip);
}

/* The guest's namespace is held by a process of its own (its "kernel"),
 * so any host's processes reach it as /proc/PID/ns/net whatever their
 * mount namespace: named namespaces (/run/netns) are mounts, and those
 * made inside one host's `ip netns exec` are not seen by another's. */
static int start_holder(pid_t *pid)
{
	char out[32];
	long v;
	int rc;

	rc = run_ip((const char *const[]){ "sh", "-c",
		"unshare --net sleep infinity </dev/null >/dev/null 2>&1 & echo $!", NULL }, out, sizeof(out));
	if (rc)
		return xlmig_fail_prefix(rc, "starting a network namespace (unshare, util-linux)");
	v = strtol(out, NULL, 10);
	if (v <= 1)
		return xlmig_fail(XLMIG_E_HV, "starting a network namespace: no process id ('%s')", out);
	*pid = (pid_t)v;
	/* unshare has made the namespace once it runs sleep. */
	for (int i = 0; i < 200; i++) {
		char path[64], exe[64];
		ssize_t n;
		snprintf(path, sizeof(path), "/proc/%ld/exe", v);
		n = readlink(path, exe, sizeof(exe) - 1);
		if (n > 0 && (exe[n] = 0, strstr(exe, "sleep")))
			return XLMIG_OK;
		usleep(5000);
	}
	kill(*pid, SIGKILL);
	return xlmig_fail(XLMIG_E_TIMEOUT, "the network namespace holder %ld did not start", v);
}

static void ns_arg(pid_t pid, char out[48])
{
	snprintf(out, 48, "--net=/proc/%ld/ns/net", (long)pid);
}

int xlmig_sim_net_create(const char *guest, const struct xlmig_sim_nic *nic)
{
	char ns[48], path[160], spec[128], mac[18];
	pid_t pid = 0;
	FILE *fp;
	int rc;

	if ((rc = conf_path(guest, path, sizeof(path))))
		return rc;
	mkdir(CONF_DIR, 0700);
	if (access(path, F_OK) == 0)
		return xlmig_fail(XLMIG_E_EXISTS, "guest %s already has a network (%s names its namespace's holder): end that process and remove the file",
				  guest, path);
	xlmig_mac_format(nic->mac, mac);
	if ((rc = start_holder(&pid)))
		return xlmig_fail_prefix(rc, "the network of guest %s", guest);
	ns_arg(pid, ns);
	/* The guest is IPv4 only and quiet: no router solicitations or
	 * duplicate address probes of its own when its link comes back
	 * (the kernel copies "all" into "default", so the ports each host
	 * plugs in later have IPv6 off too). */
	if ((rc = GIP(ns, "link", "set", "lo", "up")) ||
	    (rc = run_ip((const char *const[]){ "nsenter", ns, "sysctl", "-q", "-w",
						"net.ipv6.conf.all.disable_ipv6=1", NULL }, NULL, 0)) ||
	    /* Not a multicast router: no IGMP report for its group. */
	    (rc = GIP(ns, "link", "add", "eth0", "type", "bridge", "mcast_snooping", "0")) ||
	    (rc = GIP(ns, "link", "set", "eth0", "address", mac)) ||
	    (rc = GIP(ns, "link", "set", "eth0", "up")) ||
	    (nic->ip[0] && (rc = GIP(ns, "addr", "add", nic->ip, "dev", "eth0"))))
		goto fail;
	nic_format(nic, spec, sizeof(spec));
	fp = fopen(path, "w");
	if (!fp || fprintf(fp, "%s\n%ld\n", spec, (long)pid) < 0 || fclose(fp) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	return XLMIG_OK;
fail:
	kill(pid, SIGKILL);
	return rc;
}

/* The guest's description and its namespace's holder; *have false when
 * the guest has no network. */
static int read_conf(const char *guest, struct xlmig_sim_nic *nic, pid_t *pid, bool *have)
{
	char path[160], line[256], num[32];
	FILE *fp;
	int rc;

	*have = false;
	if ((rc = conf_path(guest, path, sizeof(path))))
		return rc;
	if (!(fp = fopen(path, "r")))
		return errno == ENOENT ? XLMIG_OK : xlmig_fail(XLMIG_E_IO, "%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), fp))
		line[0] = 0;
	if (!fgets(num, sizeof(num), fp))
		num[0] = 0;
	fclose(fp);
	line[strcspn(line, "\n")] = 0;
	*pid = (pid_t)strtol(num, NULL, 10);
	if ((rc = xlmig_sim_nic_parse(line, guest, nic)))
		return xlmig_fail_prefix(rc, "%s", path);
	if (*pid <= 1)
		return xlmig_fail(XLMIG_E_FORMAT, "%s names no namespace holder", path);
	*have = true;
	return XLMIG_OK;
}

/* This host's end of a guest's port carries no IPv6 of its own: with it
 * on, the end's duplicate address probe and MLD report (from ::, with the
 * end's own MAC) crossed the guest's bridge to the other host's port
 * while both were plugged, so the guest looked as if it spoke. */
static void host_end_ipv6_off(const char *host)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", host);
	f = fopen(path, "w");
	if (!f) {
		if (errno != ENOENT)   /* no IPv6 in this kernel: nothing to turn off */
			xlmig_warn("sim: %s: %s", path, strerror(errno));
		return;
	}
	bool failed = fputs("1\n", f) < 0;

	if (fclose(f) != 0 || failed)
		xlmig_warn("sim: cannot turn IPv6 off on %s", host);
}

int xlmig_sim_net_plug(const char *guest, uint32_t domid, bool up)
{
	struct xlmig_sim_nic nic;
	char ns[48], pidarg[16], host[16], peer[16], alias[240], spec[128];
	pid_t pid;
	bool have;
	int rc;

	if ((rc = read_conf(guest, &nic, &pid, &have)) || !have)
		return rc;
	ns_arg(pid, ns);
	snprintf(pidarg, sizeof(pidarg), "%ld", (long)pid);
	host_end(domid, host);
	/* The far end's name is unique in the guest's namespace, where the
	 * other host's end may still be. */
	snprintf(peer, sizeof(peer), "vp%08x", (unsigned)(xlmig_now_ns() ^ ((uint64_t)getpid() << 20) ^ domid));
	nic_format(&nic, spec, sizeof(spec));
	snprintf(alias, sizeof(alias), NS_PREFIX "%.63s %s", guest, spec);
	/* A stale end of an earlier domain with this id (a crashed host). */
	run_ip((const char *const[]){ "ip", "link", "del", host, NULL }, NULL, 0);
	if ((rc = IP("link", "add", host, "type", "veth", "peer", "name", peer, "netns", pidarg)))
		return xlmig_fail_prefix(rc, "plugging guest %s into this host", guest);
	host_end_ipv6_off(host);
	if ((rc = GIP(ns, "link", "set", peer, "master", "eth0", "up")) ||
	    (rc = IP("link", "set", host, "alias", alias)))
		goto fail;
	if ((rc = IP("link", "set", host, "master", nic.bridge))) {
		xlmig_fail_prefix(rc, "guest %s needs bridge %s on this host", guest, nic.bridge);
		goto fail;
	}
	if (up && (rc = IP("link", "set", host, "up")))
		goto fail;
	return XLMIG_OK;
fail:
	run_ip((const char *const[]){ "ip", "link", "del", host, NULL }, NULL, 0);
	return rc;
}

void xlmig_sim_net_set_up(uint32_t domid, bool up)
{
	char host[16], path[64];

	host_end(domid, host);
	snprintf(path, sizeof(path), "/sys/class/net/%s", host);
	if (access(path, F_OK) != 0)
		return;
	if (IP("link", "set", host, up ? "up" : "down"))
		xlmig_warn("sim: %s", xlmig_errmsg());
}

/* Read the host end's alias: "xlmig-g-NAME bridge=..,mac=..,ip=..";
 * guest gets NAME. */
static int read_alias(const char *ifname, char guest[XLMIG_NAME_MAX], struct xlmig_sim_nic *nic)
{
	char path[64], line[256], *sp;
	FILE *fp;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", ifname);
	if (!(fp = fopen(path, "r")))
		return xlmig_fail(XLMIG_E_NOTFOUND, "%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), fp))
		line[0] = 0;
	fclose(fp);
	line[strcspn(line, "\n")] = 0;
	sp = strchr(line, ' ');
	if (strncmp(line, NS_PREFIX, strlen(NS_PREFIX)) || !sp || (size_t)(sp - line) - strlen(NS_PREFIX) >= XLMIG_NAME_MAX)
		return xlmig_fail(XLMIG_E_FORMAT, "%s is not a sim guest's interface (alias '%s')", ifname, line);
	*sp = 0;
	memcpy(guest, line + strlen(NS_PREFIX), strlen(line + strlen(NS_PREFIX)) + 1);
	return xlmig_sim_nic_parse(sp + 1, guest, nic);
}

/* The holder is ours if it still runs sleep (its pid not reused). */
static void end_holder(pid_t pid)
{
	char path[64], exe[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0 && (exe[n] = 0, strstr(exe, "sleep")))
		kill(pid, SIGKILL);
}

void xlmig_sim_net_unplug(uint32_t domid)
{
	struct xlmig_sim_nic nic;
	char host[16], guest[XLMIG_NAME_MAX], ns[48], ports[256], path[160];
	pid_t pid;
	bool have;

	host_end(domid, host);
	/* A guest without a network: nothing to do, and no message to
	 * leave behind (a failed restore's must survive its clean-up). */
	snprintf(path, sizeof(path), "/sys/class/net/%s", host);
	if (access(path, F_OK) != 0 || read_alias(host, guest, &nic))
		return;
	if (IP("link", "del", host)) {
		xlmig_warn("sim: %s", xlmig_errmsg());
		return;
	}
	if (read_conf(guest, &nic, &pid, &have) || !have)
		return;
	/* The guest's last host gone: its namespace goes too. */
	ns_arg(pid, ns);
	if (run_ip((const char *const[]){ "nsenter", ns, "ip", "-o", "link", "show", "master", "eth0", NULL },
		   ports, sizeof(ports)) || ports[0])
		return;
	end_holder(pid);
	if (!conf_path(guest, path, sizeof(path)))
		unlink(path);
}

int xlmig_sim_net_nics(uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n)
{
	char prefix[24], guest[XLMIG_NAME_MAX];
	struct dirent *e;
	DIR *dir;

	*n = 0;
	snprintf(prefix, sizeof(prefix), "vs%u.", domid);
	if (!(dir = opendir("/sys/class/net")))
		return xlmig_fail(XLMIG_E_IO, "/sys/class/net: %s", strerror(errno));
	while ((e = readdir(dir)) && *n < max) {
		struct xlmig_sim_nic nic;
		struct xlmig_nic *o = &out[*n];
		char addr[48];
		if (strncmp(e->d_name, prefix, strlen(prefix)) || strlen(e->d_name) >= sizeof(o->ifname) ||
		    read_alias(e->d_name, guest, &nic))
			continue;
		memset(o, 0, sizeof(*o));
		memcpy(o->ifname, e->d_name, strlen(e->d_name) + 1);
		memcpy(o->mac, nic.mac, 6);
		snprintf(addr, sizeof(addr), "%s", nic.ip);
		addr[strcspn(addr, "/")] = 0;
		if (addr[0] && inet_pton(AF_INET, addr, o->ipv4[0]) == 1)
			o->n_ipv4 = 1;
		(*n)++;
	}
	closedir(dir);
	return XLMIG_OK;
}
