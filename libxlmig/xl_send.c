/*
 * xl_send.c - xl migrate's sending side through a backend (see
 * xl_send.h; xl's side is migrate_domain() in tools/xl/xl_migrate.c).
 */
#include "xl_send.h"
#include "xl_config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- options and the rune ---- */

void xlmig_xl_send_opts_default(struct xlmig_xl_send_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ssh_command = "ssh";
	o->daemonize = true;
	o->monitor = true;
	xlmig_policy_config_default(&o->policy);
}

int xlmig_xl_send_rune(const struct xlmig_xl_send_opts *o, char **out)
{
	const char *receiver = o->xl_receiver ? "xl" : "xlmig";
	int n;

	if (!o->ssh_command[0])
		n = asprintf(out, "%s", o->host);
	else
		n = asprintf(out, "exec %s %s %s migrate-receive%s%s%s", o->ssh_command, o->host,
			     receiver, o->daemonize ? "" : " -e", o->debug ? " -d" : "",
			     o->pause_after ? " -p" : "");
	if (n < 0) {
		*out = NULL;
		return xlmig_fail(XLMIG_E_NOMEM, "building the migration command");
	}
	return XLMIG_OK;
}

/* ---- sender through a backend ---- */

struct send_ctx {
	struct xlmig_hv *hv;
	struct xlmig_domain_info dom;
	char away[XLMIG_NAME_MAX];
	struct xlmig_save_opts save;
	struct xlmig_save_result res;
};

static int sc_save(void *o, int fd)
{
	struct send_ctx *c = o;
	return c->hv->ops->save_live(c->hv, c->dom.domid, fd, &c->save, &c->res);
}
static int sc_rename_away(void *o)
{
	struct send_ctx *c = o;
	return c->hv->ops->rename(c->hv, c->dom.domid, c->away);
}
static int sc_rename_back(void *o)
{
	struct send_ctx *c = o;
	return c->hv->ops->rename(c->hv, c->dom.domid, c->dom.name);
}
/* A save that fails before the guest stops leaves it running (the sim
 * engine guarantees it; libxl may or may not have suspended it), and a
 * running guest has nothing to resume: asking the backend would fail. */
static int sc_resume(void *o)
{
	struct send_ctx *c = o;
	return xlmig_hv_resume_if_stopped(c->hv, c->dom.domid);
}
static int sc_destroy(void *o)
{
	struct send_ctx *c = o;
	return c->hv->ops->destroy(c->hv, c->dom.domid);
}

static const struct xlmig_xlsend_ops hv_send_ops = {
	sc_save, sc_rename_away, sc_rename_back, sc_resume, sc_destroy,
};

int xlmig_xl_send_fds(struct xlmig_hv *hv, const struct xlmig_xl_send_opts *o,
		      int send_fd, int recv_fd, const char *rune,
		      struct xlmig_xl_send_report *rep)
{
	struct xlmig_xl_send_report local;
	struct xlmig_policy policy;
	struct send_ctx c;
	char *config = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	rep->proto.failed_in = XLMIG_XLSEND_BANNER;
	rep->proto.outcome = XLMIG_XLSEND_UNTOUCHED;
	rep->proto.peer_status = -1;
	/* xl -D travels as c_info.domid in the config, which only a backend
	 * that can keep domain ids writes from the domain's own. */
	if (o->preserve_domid && !hv->ops->keeps_domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "-D (keep the domain id) needs a backend that keeps domain ids; the %s "
				  "backend numbers its domains itself: migrate without -D", hv->ops->name);
	rc = hv->ops->lookup(hv, o->domain, &c.dom);
	if (rc)
		return xlmig_fail_prefix(rc, "migrate %s", o->domain);
	if ((size_t)snprintf(c.away, sizeof(c.away), "%s%s", c.dom.name, XLMIG_MIGRATED_SUFFIX) >=
	    sizeof(c.away))
		return xlmig_fail(XLMIG_E_LIMIT, "domain name '%s' too long to rename it away",
				  c.dom.name);
	xlmig_policy_init(&policy, &o->policy);
	c.hv = hv;
	c.save.policy = &policy;
	c.save.debug = o->debug;
	c.save.preserve_domid = o->preserve_domid;
	c.save.mem_digest = o->mem_digest;
	if (o->config_file) {
		rc = xlmig_xl_config_load(o->config_file, NULL, &config);
		if (rc)
			return xlmig_fail_prefix(rc, "-C");
		c.save.config_override = config;
	}
	rc = xlmig_xlproto_send(send_fd, recv_fd, rune, &hv_send_ops, &c, &rep->proto);
	rep->save = c.res;
	free(config);
	if (rc)
		return xlmig_fail_prefix(rc, "migrating domain %s (%u)", c.dom.name, c.dom.domid);
	/* libxl's own save (Xen's policy) reports no figures. */
	if (c.res.iterations)
		xlmig_info("Migration of %s successful: %u iterations, %llu pages sent.", c.dom.name,
			   c.res.iterations, (unsigned long long)c.res.pages_sent);
	else
		xlmig_info("Migration of %s successful.", c.dom.name);
	return XLMIG_OK;
}

/* The transport: `sh -c RUNE` with its stdin and stdout ours, as xl. */
static int spawn_rune(const char *rune, int *send_fd, int *recv_fd, pid_t *child)
{
	int to[2] = { -1, -1 }, from[2] = { -1, -1 };
	int rc = XLMIG_OK;

	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC)) {
		rc = xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
		goto out;
	}
	*child = fork();
	if (*child < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "fork for the migration transport: %s", strerror(errno));
		goto out;
	}
	if (*child == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execlp("sh", "sh", "-c", rune, (char *)NULL);
		_exit(127);
	}
	/* A dead receiver then shows as an error, not as a signal. */
	signal(SIGPIPE, SIG_IGN);
	*send_fd = to[1];
	*recv_fd = from[0];
	to[1] = from[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (to[i] >= 0)
			close(to[i]);
		if (from[i] >= 0)
			close(from[i]);
	}
	return rc;
}

/* Like xl's migration_child_report: wait up to 2 s, say how it ended. */
static void reap_rune(pid_t child, const char *rune)
{
	uint64_t deadline = xlmig_now_ns() + 2000000000ull;
	int status;

	for (;;) {
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child) {
			if (WIFEXITED(status) && WEXITSTATUS(status))
				xlmig_warn("migration transport (%s) exited with status %d", rune,
					   WEXITSTATUS(status));
			else if (WIFSIGNALED(status))
				xlmig_warn("migration transport (%s) killed by signal %d", rune,
					   WTERMSIG(status));
			return;
		}
		if (r < 0 || xlmig_now_ns() > deadline) {
			xlmig_warn("migration transport [%ld] not exiting, no longer waiting", (long)child);
			return;
		}
		usleep(1000);
	}
}

int xlmig_xl_send(struct xlmig_hv *hv, const struct xlmig_xl_send_opts *o)
{
	int send_fd = -1, recv_fd = -1;
	char *rune = NULL;
	pid_t child = -1;
	int rc;

	rc = xlmig_xl_send_rune(o, &rune);
	if (rc)
		goto out;
	rc = spawn_rune(rune, &send_fd, &recv_fd, &child);
	if (rc)
		goto out;
	rc = xlmig_xl_send_fds(hv, o, send_fd, recv_fd, rune, NULL);
out:
	if (send_fd >= 0)
		close(send_fd);
	if (child > 0)
		reap_rune(child, rune);
	if (recv_fd >= 0)
		close(recv_fd);
	free(rune);
	return rc;
}
