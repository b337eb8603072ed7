/* test_sdnotify.c - unit tests for sdnotify.c: the datagram systemd
 * reads, on a path and on an abstract socket; nothing without
 * NOTIFY_SOCKET; a clear error for a bad one. */
#include "unit.h"
#include "common.h"
#include "sdnotify.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_dgram(const char *name, bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	memcpy(sa.sun_path + (abstract ? 1 : 0), name, n);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0)))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST(sdnotify_sends_one_datagram_on_a_path)
{
	char path[256], got[128] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/notify", unit_tmpdir());
	fd = listen_dgram(path, false);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_OK(xlmig_sd_notify("READY=1\nSTATUS=serving"));
	CHECK_EQ(recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT), 22);
	CHECK_STR(got, "READY=1\nSTATUS=serving");
	close(fd);
}

TEST(sdnotify_speaks_to_an_abstract_socket)
{
	char name[64], env[80], got[32] = "";
	int fd;

	snprintf(name, sizeof(name), "xlmig-test-notify-%d", (int)getpid());
	fd = listen_dgram(name, true);
	CHECK(fd >= 0);
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	CHECK_OK(xlmig_sd_notify("STOPPING=1"));
	CHECK_EQ(recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT), 10);
	CHECK_STR(got, "STOPPING=1");
	close(fd);
}

TEST(sdnotify_without_a_manager_or_with_a_bad_socket)
{
	char path[256];

	unsetenv("NOTIFY_SOCKET");
	CHECK_OK(xlmig_sd_notify("READY=1"));
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_EQ(xlmig_sd_notify("READY=1"), XLMIG_E_INVAL);
	snprintf(path, sizeof(path), "%s/nobody-listens", unit_tmpdir());
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ(xlmig_sd_notify("READY=1"), XLMIG_E_IO);
	CHECK(strstr(xlmig_errmsg(), "READY=1"));
	unsetenv("NOTIFY_SOCKET");
}
