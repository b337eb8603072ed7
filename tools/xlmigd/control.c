/*
 * control.c - the control sockets in the event loop: the control socket
 * for root clients, and the backup agents' socket for root and one
 * configured group, which answers only the backup verbs; read request
 * lines, answer each with one reply line.
 */
#include "xlmigd.h"
#include "ctl.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <unistd.h>

struct client;

struct server {
	struct xlmigd *d;
	struct evconnlistener *listener;
	char *path;
	bool agent;                  /* the backup agents' socket */
	gid_t gid;                   /* agent: the group that may connect */
	bool have_gid;
};

/* The servers and every connected client: a client's callbacks point at
 * its server, so stopping closes the clients before the servers go. */
struct control {
	struct server root, agent;
	struct client *clients;
};

struct client {
	struct client *next, **pprev;
	struct server *srv;
	struct bufferevent *bev;
};

static void client_close(struct client *cl)
{
	if (cl->next)
		cl->next->pprev = cl->pprev;
	*cl->pprev = cl->next;
	bufferevent_free(cl->bev);
	free(cl);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct xlmigd *d = cl->srv->d;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		struct xlmig_buf reply = { 0 };

		xlmigd_request(d, line, &reply, cl->srv->agent);
		if (xlmig_buf_append(&reply, "\n", 1) == XLMIG_OK)
			bufferevent_write(bev, reply.data, reply.len);
		xlmig_buf_free(&reply);
		free(line);
	}
	if (evbuffer_get_length(in) > XLMIG_CTL_LINE_MAX) {
		xlmig_warn("control client sent a request over %u bytes; disconnecting it", XLMIG_CTL_LINE_MAX);
		client_close(cl);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_close(arg);
}

/* Whether uid (or its primary group gid) is in the agents' group. */
static bool in_group(uid_t uid, gid_t gid, gid_t group)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = XLMIG_ARRAY_SIZE(groups);

	if (gid == group)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == group)
			return true;
	return false;
}

static bool peer_allowed(const struct server *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	if (cred.uid == 0)
		return true;
	if (srv->agent && srv->have_gid && in_group(cred.uid, cred.gid, srv->gid))
		return true;
	xlmig_warn("refusing a connection to %s from uid %ld: %s", srv->path, (long)cred.uid,
		   srv->agent ? "only root and the backup agents' group may use it (--agent-group)"
			      : "only root may control xlmigd");
	return false;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;
	struct control *c = srv->d->control;
	struct client *cl;

	if (!peer_allowed(srv, fd) || !(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->bev = bufferevent_socket_new(srv->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		free(cl);
		close(fd);
		return;
	}
	cl->srv = srv;
	cl->next = c->clients;
	if (cl->next)
		cl->next->pprev = &cl->next;
	cl->pprev = &c->clients;
	c->clients = cl;
	bufferevent_setcb(cl->bev, on_read, NULL, on_event, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

/* The agents' socket and its directory belong to root and the group. */
static int open_to_group(struct server *srv, const char *group)
{
	struct group gr, *grp = NULL;
	char buf[4096], dir[512], *slash;

	if (!group || getgrnam_r(group, &gr, buf, sizeof(buf), &grp) != 0 || !grp) {
		xlmig_warn("backup agents' group '%s' does not exist: %s serves root only (create the group or pass --agent-group)",
			   group ? group : "", srv->path);
		return XLMIG_OK;
	}
	srv->gid = grp->gr_gid;
	srv->have_gid = true;
	snprintf(dir, sizeof(dir), "%s", srv->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (chown(dir, 0, srv->gid) != 0 || chmod(dir, 0750) != 0)
			return xlmig_fail(XLMIG_E_IO, "cannot give %s to group %s: %s", dir, group, strerror(errno));
	}
	if (chown(srv->path, 0, srv->gid) != 0 || chmod(srv->path, 0660) != 0)
		return xlmig_fail(XLMIG_E_IO, "cannot give %s to group %s: %s", srv->path, group, strerror(errno));
	return XLMIG_OK;
}

static int serve(struct xlmigd *d, struct server *srv, const char *path, bool agent)
{
	int fd = -1, rc;

	srv->d = d;
	srv->agent = agent;
	if (!(srv->path = strdup(path)))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	if ((rc = xlmig_ctl_listen(path, &fd)))
		return rc;
	if (agent && (rc = open_to_group(srv, d->cfg.agent_group))) {
		close(fd);
		unlink(path);
		return rc;
	}
	srv->listener = evconnlistener_new(d->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!srv->listener) {
		close(fd);
		unlink(path);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot serve %s", path);
	}
	return XLMIG_OK;
}

int xlmigd_control_start(struct xlmigd *d)
{
	struct control *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	d->control = c;
	if ((rc = serve(d, &c->root, d->cfg.socket_path, false)))
		return rc;
	if (d->agent_socket && d->agent_socket[0] &&
	    (rc = serve(d, &c->agent, d->agent_socket, true)))
		return xlmig_fail_prefix(rc, "backup agents' socket");
	return XLMIG_OK;
}

static void unserve(struct server *srv)
{
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		unlink(srv->path);
	}
	free(srv->path);
}

void xlmigd_control_stop(struct xlmigd *d)
{
	struct control *c = d->control;

	if (!c)
		return;
	while (c->clients)
		client_close(c->clients);
	unserve(&c->root);
	unserve(&c->agent);
	free(c);
	d->control = NULL;
}
