/*
 * test_ctl.c - the control socket transport (ctl.h): socket creation and
 * permissions, stale sockets, peer credentials, line framing and limits.
 */
#include "ctl.h"
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void sock_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/run/%s", unit_tmpdir(), name);
}

TEST(ctl_listen_creates_private_socket)
{
	char path[256];
	struct stat st;
	int fd, fd2;

	sock_path(path, sizeof(path), "a.sock");
	CHECK_OK(xlmig_ctl_listen(path, &fd));
	CHECK(stat(path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	/* A second daemon on the same path is refused while the first answers. */
	CHECK_EQ(xlmig_ctl_listen(path, &fd2), XLMIG_E_EXISTS);
	close(fd);
	/* Now nobody answers: the socket file is stale and gets replaced. */
	CHECK_OK(xlmig_ctl_listen(path, &fd2));
	close(fd2);
}

TEST(ctl_connect_without_daemon_says_what_to_do)
{
	struct xlmig_ctl_client c;
	char path[256];

	sock_path(path, sizeof(path), "none.sock");
	CHECK_EQ(xlmig_ctl_connect(path, &c), XLMIG_E_IO);
	CHECK(strstr(xlmig_errmsg(), "is it running") != NULL);
	xlmig_ctl_disconnect(&c);
}

TEST(ctl_path_too_long_refused)
{
	char path[300];
	int fd;

	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	CHECK_EQ(xlmig_ctl_listen(path, &fd), XLMIG_E_LIMIT);
}

struct server {
	int listen_fd;
	uid_t peer_uid;
	int rc;
	const char *reply;      /* what to send back after reading a line */
};

/* Accept one client, read one line, answer with s->reply in two pieces
 * (framing must not depend on write boundaries), then close. */
static void *serve_one(void *arg)
{
	struct server *s = arg;
	struct xlmig_ctl_client conn = { .fd = -1 };
	char *line = NULL;
	int fd;

	while ((fd = accept(s->listen_fd, NULL, NULL)) < 0)
		usleep(1000);
	conn.fd = fd;
	s->rc = xlmig_ctl_peer_uid(fd, &s->peer_uid);
	if (!s->rc)
		s->rc = xlmig_ctl_recv(&conn, &line, 5000);
	if (!s->rc && s->reply) {
		size_t half = strlen(s->reply) / 2;
		s->rc = xlmig_write_full(fd, s->reply, half);
		usleep(20000);
		if (!s->rc)
			s->rc = xlmig_write_full(fd, s->reply + half, strlen(s->reply) - half);
	}
	free(line);
	xlmig_ctl_disconnect(&conn);
	return NULL;
}

TEST(ctl_call_roundtrip_and_peer_uid)
{
	struct server s = { .reply = "{\"ok\":true}\n{\"second\":1}\n" };
	struct xlmig_ctl_client c;
	char path[256], *reply = NULL;
	pthread_t t;

	sock_path(path, sizeof(path), "b.sock");
	CHECK_OK(xlmig_ctl_listen(path, &s.listen_fd));
	pthread_create(&t, NULL, serve_one, &s);
	CHECK_OK(xlmig_ctl_connect(path, &c));
	CHECK_OK(xlmig_ctl_call(&c, "{\"cmd\":\"list\"}", &reply, 5000));
	CHECK_STR(reply, "{\"ok\":true}");
	free(reply);
	/* The second line arrived in the same read and must not be lost. */
	CHECK_OK(xlmig_ctl_recv(&c, &reply, 5000));
	CHECK_STR(reply, "{\"second\":1}");
	free(reply);
	/* Then the server closed. */
	CHECK_EQ(xlmig_ctl_recv(&c, &reply, 5000), XLMIG_E_CLOSED);
	pthread_join(t, NULL);
	CHECK_OK(s.rc);
	CHECK_EQ(s.peer_uid, getuid());
	xlmig_ctl_disconnect(&c);
	close(s.listen_fd);
}

TEST(ctl_send_refuses_multiline)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ(xlmig_ctl_send(sv[0], "{\"a\":1}\n{\"b\":2}"), XLMIG_E_INVAL);
	CHECK_OK(xlmig_ctl_send(sv[0], "{\"a\":1}"));
	close(sv[0]);
	close(sv[1]);
}

struct writer {
	int fd;
	const char *data;
	size_t len;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;

	xlmig_write_full(w->fd, w->data, w->len);
	return NULL;
}

TEST(ctl_recv_times_out_and_bounds_lines)
{
	struct xlmig_ctl_client c = { .fd = -1 };
	char *line = NULL, *big;
	int sv[2];
	size_t n = XLMIG_CTL_LINE_MAX + 10;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	c.fd = sv[0];
	CHECK_EQ(xlmig_ctl_recv(&c, &line, 50), XLMIG_E_TIMEOUT);
	/* A peer sending an endless line is cut off, not buffered forever. */
	big = malloc(n);
	CHECK(big != NULL);
	memset(big, 'x', n);
	struct writer w = { sv[1], big, n };
	pthread_t t;
	pthread_create(&t, NULL, write_all, &w);
	CHECK_EQ(xlmig_ctl_recv(&c, &line, 5000), XLMIG_E_LIMIT);
	xlmig_ctl_disconnect(&c);   /* the writer sees EPIPE and ends */
	pthread_join(t, NULL);
	close(sv[1]);
	free(big);
}
