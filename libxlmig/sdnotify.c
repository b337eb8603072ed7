/*
 * sdnotify.c - systemd's notify protocol on $NOTIFY_SOCKET (see sdnotify.h).
 */
#include "sdnotify.h"
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int xlmig_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen, len = strlen(state);
	socklen_t salen;
	ssize_t sent;
	int fd, rc = XLMIG_OK;

	if (!path || !*path)
		return XLMIG_OK;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return xlmig_fail(XLMIG_E_INVAL, "NOTIFY_SOCKET '%s' is neither a path nor an "
				  "abstract socket name", path);
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket for the service manager: %s", strerror(errno));
	do
		sent = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	while (sent < 0 && errno == EINTR);
	if (sent != (ssize_t)len)
		rc = xlmig_fail(XLMIG_E_IO, "telling the service manager (%s) '%.*s': %s", path,
				(int)strcspn(state, "\n"), state, sent < 0 ? strerror(errno) : "short send");
	close(fd);
	return rc;
}
