/*
 * xlcompat.c - xl migrate / xl migrate-receive compatibility (see
 * xlcompat.h; xl's side is tools/xl/xl_migrate.c, xl_saverestore.c and
 * create_domain() in xl_vmcontrol.c).
 */
#include "xlcompat.h"
#include "json.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the config in xl's save header ---- */

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static int parse_config(const uint8_t *config, uint32_t len, struct xlmig_json **root)
{
	int rc;

	/* xl counts the trailing NUL in the config's length. */
	while (len && config[len - 1] == '\0')
		len--;
	rc = xlmig_json_parse((const char *)config, len, root);
	if (rc)
		return xlmig_fail_prefix(rc, "domain config in the xl save header");
	return XLMIG_OK;
}

int xlmig_xl_config_name(const uint8_t *config, uint32_t len, char name[XLMIG_NAME_MAX])
{
	struct xlmig_json *root = NULL;
	const char *s = NULL;
	size_t n;
	int rc;

	rc = parse_config(config, len, &root);
	if (rc)
		goto out;
	rc = xlmig_json_get_str(root, "c_info.name", &s);
	if (rc) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "domain config in the xl save header has no c_info.name");
		goto out;
	}
	n = strlen(s);
	/* Room for the --incoming / --migratedaway suffixes too. */
	if (n == 0 || n + sizeof(XLMIG_MIGRATED_SUFFIX) > XLMIG_NAME_MAX) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "domain name of %zu bytes in the config (1..%zu allowed)",
				n, XLMIG_NAME_MAX - sizeof(XLMIG_MIGRATED_SUFFIX));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(s[i])) {
			rc = xlmig_fail(XLMIG_E_FORMAT,
					"domain name in the config has a character xlmig does not accept (byte %zu)",
					i);
			goto out;
		}
	memcpy(name, s, n + 1);
out:
	xlmig_json_free(root);
	return rc;
}

int xlmig_xl_config_domid(const uint8_t *config, uint32_t len, uint32_t *domid)
{
	struct xlmig_json *root = NULL;
	uint64_t v = 0;
	int rc;

	*domid = 0;
	rc = parse_config(config, len, &root);
	if (rc)
		goto out;
	if (!xlmig_json_get(root, "c_info.domid"))
		goto out;
	if (xlmig_json_get_u64(root, "c_info.domid", &v) || v >= XLMIG_DOMID_FIRST_RESERVED) {
		rc = xlmig_fail(XLMIG_E_FORMAT,
				"domain config in the xl save header: c_info.domid is not a domain id");
		goto out;
	}
	*domid = (uint32_t)v;
out:
	xlmig_json_free(root);
	return rc;
}

/* ---- xl migrate -C ---- */

/* All of fd, at most limit bytes, as a malloc'd string. */
static int read_all(int fd, const char *what, size_t limit, char **out)
{
	struct xlmig_buf b = {0};
	int rc = xlmig_read_all(fd, limit, &b);

	if (rc) {
		xlmig_buf_free(&b);
		return xlmig_fail_prefix(rc, "reading %s", what);
	}
	*out = (char *)b.data;
	return XLMIG_OK;
}

static bool looks_like_json(const char *text)
{
	return text[strspn(text, " \t\r\n")] == '{';
}

/* What the receiver will need of it: JSON with a usable c_info.name. */
static int check_json_config(const char *text, const char *what)
{
	char name[XLMIG_NAME_MAX];
	int rc = xlmig_xl_config_name((const uint8_t *)text, (uint32_t)strlen(text), name);

	return rc ? xlmig_fail_prefix(rc, "%s", what) : XLMIG_OK;
}

/* `xl -N create path`: xl's parser, dry run, JSON on its stdout. */
static int xl_convert(const char *path, const char *xl, char **out)
{
	int pfd[2] = { -1, -1 };
	pid_t child;
	int status, rc;

	if (pipe2(pfd, O_CLOEXEC))
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return xlmig_fail(XLMIG_E_IO, "fork: %s", strerror(errno));
	}
	if (child == 0) {
		dup2(pfd[1], 1);
		execlp(xl, xl, "-N", "create", path, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	rc = read_all(pfd[0], "the output of xl -N create", XLMIG_MAX_XL_OPTDATA - 5, out);
	close(pfd[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		free(*out);
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "`%s -N create %s` %s %d",
				xl, path, WIFEXITED(status) ? "exited with status" : "was killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	return rc;
}

int xlmig_xl_config_load(const char *path, const char *xl, char **out)
{
	char *text = NULL, what[300];
	int fd, rc;

	*out = NULL;
	snprintf(what, sizeof(what), "config file %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_NOTFOUND, "%s: %s", what, strerror(errno));
	rc = read_all(fd, what, XLMIG_MAX_XL_OPTDATA - 5, &text);
	close(fd);
	if (rc)
		return rc;
	if (!looks_like_json(text)) {
		free(text);
		text = NULL;
		xlmig_info("%s is in xl format: converting it with `%s -N create`", path, xl ? xl : "xl");
		rc = xl_convert(path, xl ? xl : "xl", &text);
		if (rc) {
			return xlmig_fail_prefix(rc,
				"%s is in xl format, which xlmig reads through xl's own parser, and "
				"that failed (is xl installed, is the file valid?); convert it on a Xen "
				"host with `xl -N create %s > FILE.json` and pass FILE.json to -C",
				path, path);
		}
		snprintf(what, sizeof(what), "%s as converted by xl", path);
	}
	rc = check_json_config(text, what);
	if (rc) {
		free(text);
		return rc;
	}
	*out = text;
	return XLMIG_OK;
}

/* ---- options ---- */

void xlmig_xl_migrate_opts_default(struct xlmig_xl_migrate_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ssh_command = "ssh";
	o->daemonize = true;
	o->monitor = true;
	xlmig_policy_config_default(&o->policy);
}

int xlmig_xl_rune(const struct xlmig_xl_migrate_opts *o, char **out)
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

int xlmig_xl_migrate_send_fds(struct xlmig_hv *hv, const struct xlmig_xl_migrate_opts *o,
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

int xlmig_xl_migrate_send(struct xlmig_hv *hv, const struct xlmig_xl_migrate_opts *o)
{
	int send_fd = -1, recv_fd = -1;
	char *rune = NULL;
	pid_t child = -1;
	int rc;

	rc = xlmig_xl_rune(o, &rune);
	if (rc)
		goto out;
	rc = spawn_rune(rune, &send_fd, &recv_fd, &child);
	if (rc)
		goto out;
	rc = xlmig_xl_migrate_send_fds(hv, o, send_fd, recv_fd, rune, NULL);
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

/* ---- receiver through a backend ---- */

/*
 * The backend must restore under NAME--incoming, and NAME is only known
 * once the header is read.  So the header is read here, and the backend
 * is fed through a socketpair: the header again, then the rest of the
 * stream, stopping exactly at the final END (the sender sends nothing
 * more until it hears READY, so no handshake byte is taken).
 */
struct pump {
	int in_fd, out_fd;
	int wake[2];                 /* written to stop the pump */
	const struct xlmig_buf *prefix;
	struct xlmig_parser *parser;
	int rc;
	char msg[256];
};

static int pump_item(void *opaque, const struct xlmig_item *item)
{
	return XLMIG_OK;
}

static int pump_write(struct pump *p, const uint8_t *data, size_t len)
{
	int rc = xlmig_parser_feed(p->parser, data, len);

	if (rc)
		return xlmig_fail_prefix(rc, "incoming migration stream");
	while (len) {
		ssize_t n = send(p->out_fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(XLMIG_E_CLOSED, "the restore stopped reading the stream: %s",
					  strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return XLMIG_OK;
}

static int pump_run(struct pump *p)
{
	uint8_t buf[65536];
	struct pollfd pfd[2] = { { p->in_fd, POLLIN, 0 }, { p->wake[0], POLLIN, 0 } };
	int rc;

	rc = pump_write(p, p->prefix->data, p->prefix->len);
	while (!rc && !xlmig_parser_done(p->parser)) {
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = xlmig_fail(XLMIG_E_IO, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents) {
			rc = xlmig_fail(XLMIG_E_CANCELLED, "restore ended before the stream did");
			break;
		}
		n = read(p->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = xlmig_fail(XLMIG_E_IO, "reading the migration stream: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = xlmig_parser_finish(p->parser);
			if (!rc)
				rc = xlmig_fail(XLMIG_E_TRUNCATED, "migration stream ended early");
			break;
		}
		rc = pump_write(p, buf, (size_t)n);
	}
	shutdown(p->out_fd, SHUT_WR);
	return rc;
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;

	p->rc = pump_run(p);
	if (p->rc)
		snprintf(p->msg, sizeof(p->msg), "%s", xlmig_errmsg());
	return NULL;
}

struct recv_ctx {
	struct xlmig_hv *hv;
	const struct xlmig_xl_receive_opts *opts;
	char name[XLMIG_NAME_MAX];
	char incoming[XLMIG_NAME_MAX];
	uint32_t domid_asked;        /* the sender's xl -D, 0 if none */
	uint32_t domid;
};

static int restore_through_pump(struct recv_ctx *c, int fd, const struct xlmig_xlhdr *h)
{
	struct xlmig_restore_opts ro = { .name = c->incoming, .debug = c->opts->debug,
					 .domid = c->domid_asked };
	struct pump p = { .in_fd = fd, .prefix = &h->raw, .wake = { -1, -1 } };
	int sv[2] = { -1, -1 };
	bool started = false;
	pthread_t th;
	int rc;

	p.parser = xlmig_parser_new(pump_item, NULL);
	if (!p.parser || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pipe2(p.wake, O_CLOEXEC)) {
		rc = xlmig_fail(XLMIG_E_IO, "setting up the restore: %s", strerror(errno));
		goto out;
	}
	p.out_fd = sv[1];
	if (pthread_create(&th, NULL, pump_main, &p)) {
		rc = xlmig_fail(XLMIG_E_IO, "starting the stream reader thread");
		goto out;
	}
	started = true;
	rc = c->hv->ops->restore(c->hv, sv[0], &ro, &c->domid);
	/* A restore that gave up early reads no more: the reader may be
	 * blocked sending to it, where the wake-up byte cannot reach it. */
	shutdown(sv[0], SHUT_RDWR);
out:
	if (started) {
		if (write(p.wake[1], "x", 1) < 0)
			xlmig_warn("waking the stream reader: %s", strerror(errno));
		pthread_join(th, NULL);
		if (!rc && p.rc) {
			/* Restored, yet the stream did not end cleanly: keep nothing. */
			c->hv->ops->destroy(c->hv, c->domid);
			rc = xlmig_fail(p.rc, "%s", p.msg);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (p.wake[i] >= 0)
			close(p.wake[i]);
	}
	xlmig_parser_free(p.parser);
	return rc;
}

static int rc_restore(void *o, int fd)
{
	struct recv_ctx *c = o;
	struct xlmig_xlhdr h;
	int rc;

	rc = xlmig_xlhdr_read(fd, &h);
	if (rc)
		goto out;
	if (!h.config_len || !(h.mandatory_flags & XLMIG_XL_FLAG_JSON)) {
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED,
				"the stream carries no JSON domain config (xl-format configs are not "
				"supported by xlmig migrate-receive)");
		goto out;
	}
	if (!(h.mandatory_flags & XLMIG_XL_FLAG_STREAMV2)) {
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "legacy (pre-Xen 4.6) migration stream");
		goto out;
	}
	rc = xlmig_xl_config_name(h.config, h.config_len, c->name);
	if (!rc)
		rc = xlmig_xl_config_domid(h.config, h.config_len, &c->domid_asked);
	if (rc)
		goto out;
	if ((size_t)snprintf(c->incoming, sizeof(c->incoming), "%s%s", c->name,
			     XLMIG_INCOMING_SUFFIX) >= sizeof(c->incoming)) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "domain name '%s' too long", c->name);
		goto out;
	}
	xlmig_info("migration target: receiving domain %s as %s", c->name, c->incoming);
	rc = restore_through_pump(c, fd, &h);
out:
	xlmig_xlhdr_free(&h);
	return rc;
}

static int rc_rename_final(void *o)
{
	struct recv_ctx *c = o;
	return c->hv->ops->rename(c->hv, c->domid, c->name);
}
static int rc_unpause(void *o)
{
	struct recv_ctx *c = o;
	return c->hv->ops->unpause(c->hv, c->domid);
}
static int rc_destroy(void *o)
{
	struct recv_ctx *c = o;
	return c->hv->ops->destroy(c->hv, c->domid);
}

static const struct xlmig_xlrecv_ops hv_recv_ops = {
	rc_restore, rc_rename_final, rc_unpause, rc_destroy,
};

int xlmig_xl_migrate_receive(struct xlmig_hv *hv, int in_fd, int out_fd,
			     const struct xlmig_xl_receive_opts *o,
			     struct xlmig_xlrecv_result *res)
{
	struct xlmig_xlrecv_result local;
	struct recv_ctx c = { .hv = hv, .opts = o };

	if (!res)
		res = &local;
	/* A sender that goes away must show as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	xlmig_info("migration target: Ready to receive domain.");
	return xlmig_xlproto_receive(out_fd, in_fd, o->pause_after, &hv_recv_ops, &c, res);
}
