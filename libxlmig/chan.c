/*
 * chan.c - migration channels over a transport, and TCP helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "fault.h"

struct xlmig_chan {
	const struct xlmig_chan_ops *ops;
	void *ctx;
	int wake_fd;                 /* eventfd, readable once interrupted */
	atomic_int interrupted;
	pthread_mutex_t wlock;       /* one frame at a time per channel */
	atomic_uint_fast64_t sent, received;
	atomic_uint_fast64_t limit_ns;  /* xlmig_chan_set_deadline(), 0 = none */
	struct xlmig_chan_binding *binding;  /* secure transports only */
	char name[96];
};

/* ---- the fd-pair transport ---- */

struct fd_pair {
	int rfd, wfd;
};

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	ssize_t n = read(((struct fd_pair *)ctx)->rfd, buf, len);

	return n < 0 ? -errno : n;
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
	/* send() on sockets, so a reset peer gives EPIPE, not SIGPIPE. */
	int fd = ((struct fd_pair *)ctx)->wfd;
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	if (n < 0 && errno == ENOTSOCK)
		n = xlmig_write_nosigpipe(fd, buf, len);
	return n < 0 ? -errno : n;
}

static int fd_pollfd(void *ctx, bool for_write)
{
	struct fd_pair *p = ctx;

	return for_write ? p->wfd : p->rfd;
}

static bool fd_pending(void *ctx) { return false; }

static void fd_close(void *ctx)
{
	struct fd_pair *p = ctx;

	if (p->rfd >= 0)
		close(p->rfd);
	if (p->wfd >= 0 && p->wfd != p->rfd)
		close(p->wfd);
	free(p);
}

static const struct xlmig_chan_ops fd_ops = {
	.read = fd_read, .write = fd_write, .pollfd = fd_pollfd,
	.pending = fd_pending, .close = fd_close,
};

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot make fd %d non-blocking: %s",
				  fd, strerror(errno));
	return XLMIG_OK;
}

/* ---- channel ---- */

int xlmig_chan_new(const struct xlmig_chan_ops *ops, void *ctx, const char *name,
		   struct xlmig_chan **out)
{
	struct xlmig_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a channel");
	ch->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->wake_fd < 0) {
		free(ch);
		return xlmig_fail(XLMIG_E_IO, "eventfd: %s", strerror(errno));
	}
	ch->ops = ops;
	ch->ctx = ctx;
	pthread_mutex_init(&ch->wlock, NULL);
	snprintf(ch->name, sizeof(ch->name), "%s", name ? name : "peer");
	*out = ch;
	return XLMIG_OK;
}

int xlmig_chan_from_fds(int rfd, int wfd, const char *name, struct xlmig_chan **out)
{
	struct fd_pair *p;
	int rc;

	rc = set_nonblocking(rfd);
	if (rc == XLMIG_OK && wfd != rfd)
		rc = set_nonblocking(wfd);
	if (rc != XLMIG_OK)
		return rc;
	p = malloc(sizeof(*p));
	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a channel");
	p->rfd = rfd;
	p->wfd = wfd;
	rc = xlmig_chan_new(&fd_ops, p, name, out);
	if (rc != XLMIG_OK)
		free(p);
	return rc;
}

void xlmig_chan_free(struct xlmig_chan *ch)
{
	if (!ch)
		return;
	ch->ops->close(ch->ctx);
	if (ch->binding) {
		OPENSSL_cleanse(ch->binding, sizeof(*ch->binding));
		free(ch->binding);
	}
	close(ch->wake_fd);
	pthread_mutex_destroy(&ch->wlock);
	free(ch);
}

void xlmig_chan_interrupt(struct xlmig_chan *ch)
{
	uint64_t one = 1;

	atomic_store(&ch->interrupted, 1);
	if (write(ch->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the wake-up is pending. */
	}
}

bool xlmig_chan_interrupted(const struct xlmig_chan *ch)
{
	return atomic_load(&ch->interrupted) != 0;
}

const char *xlmig_chan_name(const struct xlmig_chan *ch) { return ch->name; }
uint64_t xlmig_chan_bytes_sent(const struct xlmig_chan *ch) { return atomic_load(&ch->sent); }
uint64_t xlmig_chan_bytes_received(const struct xlmig_chan *ch)
{
	return atomic_load(&ch->received);
}

uint64_t xlmig_chan_unacked_bytes(const struct xlmig_chan *ch)
{
	int fd = ch->ops->pollfd ? ch->ops->pollfd(ch->ctx, true) : -1;
	int n = 0;

	/* Only a TCP socket answers; anything else has nothing to say. */
	if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0)
		return 0;
	return (uint64_t)n;
}

const struct xlmig_chan_binding *xlmig_chan_binding(const struct xlmig_chan *ch)
{
	return ch->binding;
}

int xlmig_chan_set_binding(struct xlmig_chan *ch, const struct xlmig_chan_binding *b)
{
	if (ch->binding)
		return xlmig_fail(XLMIG_E_INVAL, "%s: channel already bound", ch->name);
	ch->binding = malloc(sizeof(*ch->binding));
	if (!ch->binding)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a channel");
	*ch->binding = *b;
	return XLMIG_OK;
}

/* What a failed read or write means, in the transport's words if it has any. */
static const char *chan_strerror(const struct xlmig_chan *ch, ssize_t n)
{
	if (ch->ops->strerror)
		return ch->ops->strerror(ch->ctx, (int)-n);
	return strerror((int)-n);
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = xlmig_now_ns();

	if (deadline_ns == UINT64_MAX)
		return -1;
	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

void xlmig_chan_set_deadline(struct xlmig_chan *ch, uint64_t deadline_ns)
{
	atomic_store(&ch->limit_ns, deadline_ns);
}

/* A call's own deadline, or the channel's if that comes first. */
static uint64_t deadline_after(const struct xlmig_chan *ch, int timeout_ms)
{
	uint64_t own = timeout_ms < 0 ? UINT64_MAX : xlmig_now_ns() + (uint64_t)timeout_ms * 1000000;
	uint64_t limit = atomic_load(&ch->limit_ns);

	return limit && limit < own ? limit : own;
}

/* Wait until the transport is ready for a direction, the deadline passes,
 * or the channel is interrupted; or, when nudge_fd >= 0, until that fd is
 * readable, which ends the wait as the deadline would (the caller's own
 * flags say why). */
static int wait_ready(struct xlmig_chan *ch, bool for_write, uint64_t deadline_ns, int nudge_fd)
{
	int fd = ch->ops->pollfd(ch->ctx, for_write);

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = fd, .events = for_write ? POLLOUT : POLLIN },
			{ .fd = ch->wake_fd, .events = POLLIN },
			{ .fd = nudge_fd, .events = POLLIN },   /* poll skips fd -1 */
		};
		int n;

		if (xlmig_chan_interrupted(ch))
			return xlmig_fail(XLMIG_E_CANCELLED, "%s: channel stopped", ch->name);
		if (fd < 0 || (!for_write && ch->ops->pending(ch->ctx)))
			return XLMIG_OK;
		n = poll(pfd, 3, remaining_ms(deadline_ns));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(XLMIG_E_IO, "%s: poll: %s", ch->name, strerror(errno));
		if (pfd[1].revents)
			continue;  /* re-checks the interrupt flag */
		if (pfd[0].revents)
			return XLMIG_OK;
		return xlmig_fail(XLMIG_E_TIMEOUT, "%s: no %s within the time limit",
				  ch->name, for_write ? "room to send" : "data from the peer");
	}
}

int xlmig_chan_wait_readable(struct xlmig_chan *ch, int timeout_ms)
{
	return wait_ready(ch, false, deadline_after(ch, timeout_ms), -1);
}

int xlmig_chan_wait_readable_or(struct xlmig_chan *ch, int nudge_fd, int timeout_ms)
{
	return wait_ready(ch, false, deadline_after(ch, timeout_ms), nudge_fd);
}

int xlmig_chan_read_full(struct xlmig_chan *ch, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = deadline_after(ch, timeout_ms);
	uint8_t *p = buf;
	size_t got = 0;
	int rc = XLMIG_OK;

	while (got < len) {
		ssize_t n = ch->ops->read(ch->ctx, p + got, len - got);

		if (n == -EAGAIN || n == -EINTR) {
			rc = wait_ready(ch, false, deadline, -1);
			if (rc != XLMIG_OK)
				goto out;
			continue;
		}
		if (n < 0) {
			rc = xlmig_fail(XLMIG_E_IO, "%s: receive failed: %s", ch->name,
					chan_strerror(ch, n));
			goto out;
		}
		if (n == 0) {
			rc = got ? xlmig_fail(XLMIG_E_TRUNCATED,
					      "%s: connection closed in the middle of a frame (%zu of %zu bytes)",
					      ch->name, got, len)
				 : xlmig_fail(XLMIG_E_CLOSED, "%s: connection closed by the peer",
					      ch->name);
			goto out;
		}
		got += (size_t)n;
	}
out:
	atomic_fetch_add(&ch->received, got);
	return rc;
}

static int write_all(struct xlmig_chan *ch, const uint8_t *p, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = ch->ops->write(ch->ctx, p, len);

		if (n == -EAGAIN || n == -EINTR) {
			int rc = wait_ready(ch, true, deadline, -1);

			if (rc != XLMIG_OK)
				return rc;
			continue;
		}
		if (n <= 0)
			return xlmig_fail(n == -EPIPE || n == -ECONNRESET ? XLMIG_E_CLOSED : XLMIG_E_IO,
					  "%s: send failed: %s", ch->name,
					  n ? chan_strerror(ch, n) : "no progress");
		atomic_fetch_add(&ch->sent, (uint64_t)n);
		p += n;
		len -= (size_t)n;
	}
	return XLMIG_OK;
}

int xlmig_chan_writev(struct xlmig_chan *ch, const struct iovec *iov, int iovcnt,
		      int timeout_ms)
{
	uint64_t deadline = deadline_after(ch, timeout_ms);
	int rc = XLMIG_OK;

	if (iovcnt > 0)
		XLMIG_FAULT_WIRE(iov[iovcnt - 1].iov_base, iov[iovcnt - 1].iov_len);
	pthread_mutex_lock(&ch->wlock);
	for (int i = 0; i < iovcnt && rc == XLMIG_OK; i++)
		rc = write_all(ch, iov[i].iov_base, iov[i].iov_len, deadline);
	pthread_mutex_unlock(&ch->wlock);
	return rc;
}

/* ---- TCP ---- */

int xlmig_tcp_tune(int fd)
{
	int one = 1, idle = 10, intvl = 5, cnt = 3;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot set TCP options: %s", strerror(errno));
	return XLMIG_OK;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *out)
{
	struct pollfd pfd;
	int fd, err = 0, rc = XLMIG_OK;
	socklen_t elen = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		rc = xlmig_fail(XLMIG_E_IO, "%s", strerror(errno));
		goto out;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, timeout_ms) == 0) {
		rc = xlmig_fail(XLMIG_E_TIMEOUT, "no answer within %d ms", timeout_ms);
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		rc = xlmig_fail(XLMIG_E_IO, "%s", strerror(err ? err : errno));
		goto out;
	}
	rc = xlmig_tcp_tune(fd);
out:
	if (rc == XLMIG_OK)
		*out = fd;
	else
		close(fd);
	return rc;
}

int xlmig_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai, rc = XLMIG_E_IO;

	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return xlmig_fail(XLMIG_E_IO, "cannot resolve %s port %s: %s", host, port,
				  gai_strerror(gai));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, timeout_ms, fd);
		if (rc == XLMIG_OK)
			break;
	}
	freeaddrinfo(res);
	if (rc != XLMIG_OK)
		xlmig_fail_prefix(rc, "cannot connect to %s port %s (is xlmigd running there?)",
				  host, port);
	return rc;
}

int xlmig_tcp_listen(const char *host, const char *port, int *fd, uint16_t *bound_port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int s = -1, one = 1, gai, rc = XLMIG_OK;

	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return xlmig_fail(XLMIG_E_IO, "cannot resolve listen address %s port %s: %s",
				  host ? host : "*", port, gai_strerror(gai));
	s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, res->ai_addr, res->ai_addrlen) < 0 || listen(s, 64) < 0 ||
	    getsockname(s, (struct sockaddr *)&ss, &sl) < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot listen on %s port %s: %s",
				host ? host : "*", port, strerror(errno));
		goto out;
	}
	if (bound_port)
		*bound_port = ntohs(ss.ss_family == AF_INET6
				    ? ((struct sockaddr_in6 *)&ss)->sin6_port
				    : ((struct sockaddr_in *)&ss)->sin_port);
	*fd = s;
	s = -1;
out:
	if (s >= 0)
		close(s);
	freeaddrinfo(res);
	return rc;
}

static void format_peer(const struct sockaddr_storage *ss, char *peer, size_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host),
			serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(peer, len, "unknown peer");
	else
		snprintf(peer, len, "%s:%s", host, serv);
}

int xlmig_tcp_accept(int listen_fd, int timeout_ms, int *fd, char *peer, size_t peer_len)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int n, s, rc;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return xlmig_fail(XLMIG_E_TIMEOUT, "no connection within %d ms", timeout_ms);
	s = n < 0 ? -1 : accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (s < 0)
		return xlmig_fail(XLMIG_E_IO, "accept: %s", strerror(errno));
	rc = xlmig_tcp_tune(s);
	if (rc != XLMIG_OK) {
		close(s);
		return rc;
	}
	if (peer && peer_len)
		format_peer(&ss, peer, peer_len);
	*fd = s;
	return XLMIG_OK;
}

/* A unix socket never leaves the host, so it counts as loopback. */
static bool sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_UNIX)
		return true;
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

bool xlmig_tcp_peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && sockaddr_is_loopback(&ss);
}

bool xlmig_sockaddr_same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
					  &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr);
	return false;
}

bool xlmig_sockaddr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return false;
}

unsigned xlmig_sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

bool xlmig_tcp_peer_is_this_host(int fd)
{
	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&self, &sl) != 0)
		return false;
	return sockaddr_is_loopback(&peer) ||
	       xlmig_sockaddr_same_address((struct sockaddr *)&peer, (struct sockaddr *)&self);
}

bool xlmig_tcp_local_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && sockaddr_is_loopback(&ss);
}
