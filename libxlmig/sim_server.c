/*
 * sim_server.c - serving a sim host over its protocol (see sim_server.h).
 */
#include "sim_server.h"
#include "sim_host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct conn {
	struct xlmig_sim_server *s;
	int fd;
	pthread_t thread;
	bool watching;             /* gets EVENT frames (under s->lock) */
	bool done;                 /* its thread has finished (under s->lock) */
	struct conn *next;
};

struct xlmig_sim_server {
	struct xlmig_sim_host *host;
	pthread_mutex_t lock;      /* conns and their flags */
	struct conn *conns;
	int listen_fd;
	int stop_pipe[2];
	char path[108];
};

/* ---- events ---- */

/* A domain appeared or went away: tell every watcher.  A watcher whose
 * buffer is full already has an event to read, and one says it all. */
static void on_change(void *opaque)
{
	struct xlmig_sim_server *s = opaque;
	struct xlmig_buf ev = { 0 };

	xlmig_simp_write_event(&ev);
	if (!ev.len)
		return;
	pthread_mutex_lock(&s->lock);
	for (struct conn *c = s->conns; c; c = c->next) {
		ssize_t n;

		if (!c->watching || c->done)
			continue;
		n = send(c->fd, ev.data, ev.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		/* A frame cut short would break the stream: finish it. */
		if (n > 0 && (size_t)n < ev.len)
			xlmig_write_full(c->fd, ev.data + n, ev.len - (size_t)n);
	}
	pthread_mutex_unlock(&s->lock);
	xlmig_buf_free(&ev);
}

/* ---- one connection ---- */

static int send_reply(int fd, const struct xlmig_simp_reply *p, const int *fds, size_t nfds)
{
	struct xlmig_buf out = { 0 };
	int rc = xlmig_simp_write_reply(&out, p);

	if (rc == XLMIG_OK)
		rc = xlmig_simp_send(fd, &out, fds, nfds);
	xlmig_buf_free(&out);
	return rc;
}

/* Answer one request; a frame that does not parse is answered with the
 * reason, and ends the connection (its framing cannot be trusted). */
static int serve_one(struct conn *c, const struct xlmig_buf *frame)
{
	struct xlmig_simp_reply p;
	struct xlmig_simp_req q;
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds = 0;
	int rc = xlmig_simp_parse_req(frame->data, frame->len, &q);

	if (rc != XLMIG_OK) {
		memset(&p, 0, sizeof(p));
		p.type = frame->len >= XLMIG_SIMP_HDR_LEN ? xlmig_get_le16(frame->data + 6) & 0x3fff : 0;
		p.status = rc;
		snprintf(p.text, sizeof(p.text), "%s", xlmig_errmsg());
		xlmig_warn("sim host connection: %s", p.text);
		send_reply(c->fd, &p, NULL, 0);
		return rc;
	}
	if (q.type == XLMIG_SIMP_WATCH) {
		memset(&p, 0, sizeof(p));
		p.type = q.type;
		pthread_mutex_lock(&c->s->lock);
		c->watching = true;
		rc = send_reply(c->fd, &p, NULL, 0);
		pthread_mutex_unlock(&c->s->lock);
		return rc;
	}
	xlmig_sim_host_handle(c->s->host, c, &q, &p, fds, &nfds);
	rc = send_reply(c->fd, &p, fds, nfds);
	while (nfds)
		close(fds[--nfds]);
	xlmig_simp_reply_free(&p);
	return rc;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct xlmig_buf frame = { 0 };
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds;
	int rc;

	while ((rc = xlmig_simp_recv(c->fd, &frame, fds, &nfds)) == XLMIG_OK) {
		/* Clients send no descriptors. */
		while (nfds)
			close(fds[--nfds]);
		if (serve_one(c, &frame) != XLMIG_OK)
			break;
	}
	xlmig_buf_free(&frame);
	xlmig_sim_host_drop_conn(c->s->host, c);
	pthread_mutex_lock(&c->s->lock);
	c->done = true;
	pthread_mutex_unlock(&c->s->lock);
	return NULL;
}

/* Join and free the connections whose threads have finished. */
static void reap(struct xlmig_sim_server *s, bool all)
{
	struct conn **pp = &s->conns, *dead = NULL;

	pthread_mutex_lock(&s->lock);
	while (*pp) {
		struct conn *c = *pp;

		if (all)
			shutdown(c->fd, SHUT_RDWR);
		if (all || c->done) {
			*pp = c->next;
			c->next = dead;
			dead = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
	while (dead) {
		struct conn *c = dead;

		dead = c->next;
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
	}
}

static int add_conn(struct xlmig_sim_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	int err;

	if (!c) {
		close(fd);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim host connection");
	}
	c->s = s;
	c->fd = fd;
	pthread_mutex_lock(&s->lock);
	err = pthread_create(&c->thread, NULL, conn_main, c);
	if (!err) {
		c->next = s->conns;
		s->conns = c;
	}
	pthread_mutex_unlock(&s->lock);
	if (err) {
		close(fd);
		free(c);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start a sim host connection thread: %s",
				  strerror(err));
	}
	return XLMIG_OK;
}

int xlmig_sim_server_connect(struct xlmig_sim_server *s, int *fd)
{
	int sv[2], rc;

	reap(s, false);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return xlmig_fail(XLMIG_E_IO, "socketpair for a sim host connection: %s", strerror(errno));
	rc = add_conn(s, sv[0]);
	if (rc != XLMIG_OK) {
		close(sv[1]);
		return rc;
	}
	*fd = sv[1];
	return XLMIG_OK;
}

/* ---- listening ---- */

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return xlmig_fail(XLMIG_E_LIMIT, "socket path '%s' is longer than %zu bytes: choose a shorter one",
				  path, sizeof(a->sun_path) - 1);
	strcpy(a->sun_path, path);
	return XLMIG_OK;
}

/* Is a sim host answering on path? */
static bool path_answers(const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0;

	if (fd >= 0)
		close(fd);
	return live;
}

int xlmig_sim_server_listen(struct xlmig_sim_server *s, const char *path)
{
	struct sockaddr_un a;
	int fd, rc = unix_addr(path, &a);

	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
	rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	if (rc != 0 && errno == EADDRINUSE) {
		if (path_answers(&a)) {
			close(fd);
			return xlmig_fail(XLMIG_E_EXISTS, "a sim host already serves %s: one sim host per socket", path);
		}
		unlink(path);
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc != 0 || listen(fd, 16) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	s->listen_fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return XLMIG_OK;
}

int xlmig_sim_server_run(struct xlmig_sim_server *s)
{
	for (;;) {
		struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return xlmig_fail(XLMIG_E_IO, "poll: %s", strerror(errno));
		}
		if (p[1].revents)
			return XLMIG_OK;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				xlmig_warn("accepting a sim host connection: %s", strerror(errno));
			continue;
		}
		reap(s, false);
		if (add_conn(s, fd) != XLMIG_OK)
			xlmig_warn("%s", xlmig_errmsg());
	}
}

void xlmig_sim_server_stop(struct xlmig_sim_server *s)
{
	ssize_t n = write(s->stop_pipe[1], "x", 1);

	(void)n;   /* a full pipe already says stop */
}

int xlmig_sim_server_new(struct xlmig_sim_server **out)
{
	struct xlmig_sim_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim host server");
	s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	rc = xlmig_sim_host_new(on_change, s, &s->host);
	if (rc != XLMIG_OK) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	*out = s;
	return XLMIG_OK;
}

void xlmig_sim_server_free(struct xlmig_sim_server *s)
{
	if (!s)
		return;
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path[0])
			unlink(s->path);
	}
	reap(s, true);
	xlmig_sim_host_free(s->host);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
