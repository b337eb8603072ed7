/*
 * xl_receive.c - xl migrate-receive's side through a backend (see
 * xl_receive.h; xl's side is migrate_receive() in tools/xl/xl_migrate.c
 * and xl_saverestore.c).
 */
#include "xl_receive.h"
#include "xl_config.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

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

int xlmig_xl_receive(struct xlmig_hv *hv, int in_fd, int out_fd,
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
