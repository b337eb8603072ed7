/*
 * ctl.c - the control socket's transport: listen, connect, peer
 * credentials and newline-framed messages (see ctl.h).
 */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return xlmig_fail(XLMIG_E_LIMIT, "control socket path %s is longer than %zu bytes: choose a shorter --socket",
				  path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return XLMIG_OK;
}

/* mkdir -p for the socket's directory; only the last level gets 0700. */
static int make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return XLMIG_OK;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return xlmig_fail(XLMIG_E_IO, "cannot create %s: %s", dir, strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return xlmig_fail(XLMIG_E_IO, "cannot create %s: %s", dir, strerror(errno));
	return XLMIG_OK;
}

/* A socket file nobody answers on was left by a daemon that died. */
static int remove_stale(const char *path, const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = XLMIG_OK;

	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		rc = xlmig_fail(XLMIG_E_EXISTS, "another xlmigd already serves %s: stop it first or use another --socket",
				path);
	else if (errno == ECONNREFUSED)
		unlink(path);
	close(fd);
	return rc;
}

int xlmig_ctl_listen(const char *path, int *fd_out)
{
	struct sockaddr_un sa;
	int fd = -1, rc;

	if ((rc = make_addr(path, &sa)) || (rc = make_parent_dir(path)) ||
	    (rc = remove_stale(path, &sa)))
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
		goto out;
	}
	/* Bind with a umask so there is no moment the socket is open to all. */
	mode_t old = umask(0177);
	int bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (bound != 0 || chmod(path, 0600) != 0 || listen(fd, 64) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot listen on control socket %s: %s", path, strerror(errno));
		goto out;
	}
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int xlmig_ctl_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return xlmig_fail(XLMIG_E_IO, "cannot read the control client's credentials: %s", strerror(errno));
	*uid = cred.uid;
	return XLMIG_OK;
}

int xlmig_ctl_connect(const char *path, struct xlmig_ctl_client *c)
{
	struct sockaddr_un sa;
	int rc = make_addr(path, &sa);

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (rc)
		return rc;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return XLMIG_OK;
	if (errno == EACCES || errno == EPERM)
		rc = xlmig_fail(XLMIG_E_AUTH, "permission denied on %s: run xlmig as root", path);
	else
		rc = xlmig_fail(XLMIG_E_IO, "cannot reach xlmigd at %s (%s): is it running? start it with 'xlmigd' or pass --socket",
				path, strerror(errno));
	close(c->fd);
	c->fd = -1;
	return rc;
}

void xlmig_ctl_disconnect(struct xlmig_ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	xlmig_buf_free(&c->in);
}

int xlmig_ctl_send(int fd, const char *line)
{
	size_t len = strlen(line);
	int rc;

	if (len >= XLMIG_CTL_LINE_MAX || memchr(line, '\n', len))
		return xlmig_fail(XLMIG_E_INVAL, "control message is too long or spans lines");
	if ((rc = xlmig_write_full(fd, line, len)) || (rc = xlmig_write_full(fd, "\n", 1)))
		return xlmig_fail_prefix(rc, "sending to the control socket");
	return XLMIG_OK;
}

/* Move the first complete line out of c->in, if there is one. */
static int take_line(struct xlmig_ctl_client *c, char **line)
{
	uint8_t *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
	size_t n;

	if (!nl)
		return XLMIG_E_TRUNCATED;
	n = (size_t)(nl - c->in.data);
	*line = malloc(n + 1);
	if (!*line)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory reading a control message");
	memcpy(*line, c->in.data, n);
	(*line)[n] = '\0';
	memmove(c->in.data, nl + 1, c->in.len - n - 1);
	c->in.len -= n + 1;
	return XLMIG_OK;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return xlmig_fail(XLMIG_E_IO, "poll on the control socket: %s", strerror(errno));
	if (n == 0)
		return xlmig_fail(XLMIG_E_TIMEOUT, "xlmigd did not answer within %d ms: check its log", timeout_ms);
	return XLMIG_OK;
}

int xlmig_ctl_recv(struct xlmig_ctl_client *c, char **line, int timeout_ms)
{
	int rc;

	while ((rc = take_line(c, line)) == XLMIG_E_TRUNCATED) {
		uint8_t *room;
		ssize_t n;

		if (c->in.len >= XLMIG_CTL_LINE_MAX)
			return xlmig_fail(XLMIG_E_LIMIT, "control message over %u bytes", XLMIG_CTL_LINE_MAX);
		if ((rc = wait_readable(c->fd, timeout_ms)))
			return rc;
		if ((rc = xlmig_buf_reserve(&c->in, 4096)))
			return rc;
		room = c->in.data + c->in.len;
		n = read(c->fd, room, c->in.cap - c->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(XLMIG_E_IO, "reading from xlmigd: %s", strerror(errno));
		if (n == 0)
			return xlmig_fail(XLMIG_E_CLOSED, "xlmigd closed the control connection: check its log");
		c->in.len += (size_t)n;
	}
	return rc;
}

int xlmig_ctl_call(struct xlmig_ctl_client *c, const char *request, char **reply,
		   int timeout_ms)
{
	int rc = xlmig_ctl_send(c->fd, request);

	return rc ? rc : xlmig_ctl_recv(c, reply, timeout_ms);
}
