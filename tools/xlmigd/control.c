/*
 * control.c - the control socket in the event loop: accept root clients
 * only, read request lines, answer each with one reply line.
 */
#include "xlmigd.h"
#include "ctl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <unistd.h>

struct control {
	struct evconnlistener *listener;
	char *path;
};

static void client_close(struct bufferevent *bev)
{
	bufferevent_free(bev);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct xlmigd *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		struct xlmig_buf reply = { 0 };

		xlmigd_request(d, line, &reply);
		if (xlmig_buf_append(&reply, "\n", 1) == XLMIG_OK)
			bufferevent_write(bev, reply.data, reply.len);
		xlmig_buf_free(&reply);
		free(line);
	}
	if (evbuffer_get_length(in) > XLMIG_CTL_LINE_MAX) {
		xlmig_warn("control client sent a request over %u bytes; disconnecting it", XLMIG_CTL_LINE_MAX);
		client_close(bev);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_close(bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct xlmigd *d = arg;
	struct bufferevent *bev;
	uid_t uid;

	if (xlmig_ctl_peer_uid(fd, &uid) != XLMIG_OK || uid != 0) {
		xlmig_warn("refusing a control connection from uid %ld: only root may control xlmigd",
			   (long)uid);
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, on_read, NULL, on_event, d);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int xlmigd_control_start(struct xlmigd *d)
{
	struct control *c = calloc(1, sizeof(*c));
	int fd = -1, rc;

	if (!c)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	d->control = c;
	c->path = strdup(d->cfg.socket_path);
	if (!c->path)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	if ((rc = xlmig_ctl_listen(d->cfg.socket_path, &fd)))
		return rc;
	c->listener = evconnlistener_new(d->base, on_accept, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!c->listener) {
		close(fd);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot serve the control socket");
	}
	return XLMIG_OK;
}

void xlmigd_control_stop(struct xlmigd *d)
{
	struct control *c = d->control;

	if (!c)
		return;
	if (c->listener) {
		evconnlistener_free(c->listener);
		unlink(c->path);
	}
	free(c->path);
	free(c);
	d->control = NULL;
}
