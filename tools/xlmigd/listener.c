/*
 * listener.c - incoming migrations.  The event loop accepts TCP
 * connections and hands each to a thread, which reads its first message:
 * a HELLO starts a session (handshake, wait for its channels, then the
 * destination job runs in that same thread); a JOIN attaches its channel
 * to the session it names.  It listens where `listen` says, or by default
 * on loopback and the migration network (listen_addrs.h).
 *
 * A migration from this daemon to itself (xlmig migrate NAME localhost)
 * does not go through the network at all: its source job dials itself
 * (xlmigd_listener_dial_self, the job env's dial_self) and gets one end
 * of a socketpair whose other end a thread here serves as any incoming
 * session.
 */
#include "xlmigd.h"
#include "conn.h"
#include "listen_addrs.h"

#include <errno.h>
#include <event2/listener.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHANNELS_TIMEOUT_MS 15000
#define MAX_PENDING 32
#define JOIN_WAIT_MS 3000
#define REFUSE_WAIT_MS 5000
/* Connections not yet authenticated, as sshd's MaxStartups: in all, and
 * from one address (a source opens up to XLMIG_MAX_CHANNELS at once).
 * More are closed at accept, before a thread or a TLS handshake. */
#define MAX_UNAUTH 64
#define MAX_UNAUTH_PER_SOURCE 24
#define ACCEPT_PAUSE_MS 1000

/* Sessions still waiting for their JOINs, found by session id. */
struct pending {
	struct xlmig_conn *conn;
	struct pending *next;
};

struct listener {
	struct xlmigd *d;
	struct evconnlistener *ev[XLMIG_LISTEN_MAX];  /* one per address */
	struct sockaddr_storage bound[XLMIG_LISTEN_MAX]; /* each one's address */
	unsigned nev;
	struct event *resume;           /* re-enables accepting after EMFILE */
	pthread_mutex_t lock;
	struct pending *pending;
	unsigned npending;
	unsigned unauth;                /* connections not yet authenticated */
	atomic_uint incoming;           /* authenticated sessions, up to
					 * cfg.max_incoming */
	struct unauth_source {
		char host[64];
		unsigned n;
	} sources[MAX_UNAUTH];
};

struct accepted {
	struct listener *l;
	int fd;
	bool counted;                   /* still in l->unauth */
	bool self;                      /* this daemon's own socketpair */
	uint64_t accepted_ns;           /* the auth deadline counts from here */
	char host[64];
	char peer[XLMIG_PEER_MAX];
};

/* Count a new unauthenticated connection from host, or refuse it. */
static bool unauth_take(struct listener *l, const char *host)
{
	struct unauth_source *free_slot = NULL, *src = NULL;
	bool ok;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < MAX_UNAUTH && !src; i++) {
		if (l->sources[i].n && !strcmp(l->sources[i].host, host))
			src = &l->sources[i];
		else if (!l->sources[i].n && !free_slot)
			free_slot = &l->sources[i];
	}
	if (!src && free_slot) {
		src = free_slot;
		snprintf(src->host, sizeof(src->host), "%s", host);
	}
	ok = l->unauth < MAX_UNAUTH && src && src->n < MAX_UNAUTH_PER_SOURCE;
	if (ok) {
		l->unauth++;
		src->n++;
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

/* The connection authenticated (or ended): it no longer counts. */
static void unauth_release(struct accepted *a)
{
	struct listener *l = a->l;

	if (!a->counted)
		return;
	a->counted = false;
	pthread_mutex_lock(&l->lock);
	l->unauth--;
	for (unsigned i = 0; i < MAX_UNAUTH; i++)
		if (l->sources[i].n && !strcmp(l->sources[i].host, a->host)) {
			l->sources[i].n--;
			break;
		}
	pthread_mutex_unlock(&l->lock);
}

static int pending_add(struct listener *l, struct xlmig_conn *conn, struct pending *p)
{
	int rc = XLMIG_OK;

	pthread_mutex_lock(&l->lock);
	if (l->npending >= MAX_PENDING) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "too many sessions setting up at once");
	} else {
		p->conn = conn;
		p->next = l->pending;
		l->pending = p;
		l->npending++;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static void pending_del(struct listener *l, struct pending *p)
{
	pthread_mutex_lock(&l->lock);
	for (struct pending **pp = &l->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			l->npending--;
			break;
		}
	pthread_mutex_unlock(&l->lock);
}

static struct xlmig_conn *pending_find(struct listener *l, const uint8_t *id)
{
	for (struct pending *p = l->pending; p; p = p->next)
		if (!memcmp(xlmig_conn_session(p->conn)->id, id, XLMIG_SESSION_ID_LEN))
			return p->conn;
	return NULL;
}

/* Attach a JOIN under the lock, so its session cannot go away meanwhile.
 * The source sends its JOINs as soon as the handshake ends, so one may
 * get here before the session's own thread has registered it: wait a
 * little for it. */
static void join_session(struct listener *l, struct xlmig_incoming *in, const char *peer)
{
	const uint8_t *id = xlmig_incoming_session_id(in);
	struct xlmig_conn *conn = NULL;
	int rc;

	pthread_mutex_lock(&l->lock);
	for (int waited = 0; !(conn = pending_find(l, id)) && waited < JOIN_WAIT_MS; waited += 10) {
		pthread_mutex_unlock(&l->lock);
		usleep(10000);
		pthread_mutex_lock(&l->lock);
	}
	if (conn)
		rc = xlmig_conn_join(conn, in);
	else {
		xlmig_incoming_free(in);
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "JOIN for a session that is not setting up");
	}
	pthread_mutex_unlock(&l->lock);
	if (rc)
		xlmig_warn("refused a channel from %s: %s", peer, xlmig_errmsg());
}

/* How this host takes sessions: TLS with its identity, or plain on
 * loopback when started --insecure. */
static void incoming_opts(const struct xlmigd *d, struct xlmig_conn_opts *co)
{
	xlmig_conn_opts_default(co);
	co->max_channels = XLMIG_CHANNELS_MAX;
	co->tls = d->tls;
	co->insecure = d->cfg.insecure;
}

/* An authenticated session takes one of the cfg.max_incoming slots, or
 * is refused: each holds a thread, channels and a restore. */
static int incoming_take(struct listener *l)
{
	unsigned max = l->d->cfg.max_incoming;

	if (atomic_fetch_add(&l->incoming, 1) < max)
		return XLMIG_OK;
	atomic_fetch_sub(&l->incoming, 1);
	return xlmig_fail(XLMIG_E_LIMIT, "this host already receives %u migrations (max_incoming "
			  "in xlmigd.conf): retry once one ends", max);
}

/* Refuse a whole, authenticated session with this thread's message.
 * Its source sends PREFLIGHT before it reads anything: take that first,
 * so the source reads the refusal instead of failing to send. */
static void refuse_session(struct xlmig_conn *conn, int rc)
{
	char why[512];
	struct xlmig_buf body = { 0 };
	uint32_t type;

	snprintf(why, sizeof(why), "%s", xlmig_errmsg());
	xlmig_conn_recv_ctrl(conn, &type, &body, REFUSE_WAIT_MS);
	xlmig_buf_free(&body);
	xlmig_fail(rc, "%s", why);
	xlmig_conn_report_failure(conn, rc);
	xlmig_conn_close(conn);
}

/* An authenticated session (conn, taken over): its channels, then its
 * job, run in this thread. */
static void serve_session(struct listener *l, struct xlmig_conn *conn, const char *peer)
{
	struct xlmigd *d = l->d;
	struct xlmig_job *job = NULL;
	struct pending p;
	int rc;

	if ((rc = pending_add(l, conn, &p))) {
		xlmig_conn_report_failure(conn, rc);
		xlmig_conn_close(conn);
		return;
	}
	rc = xlmig_conn_wait_channels(conn, CHANNELS_TIMEOUT_MS);
	pending_del(l, &p);
	if (rc) {
		xlmig_warn("migration from %s: %s", peer, xlmig_errmsg());
		xlmig_conn_report_failure(conn, rc);
		xlmig_conn_close(conn);
		return;
	}
	/* Counted once the session is whole, so the source reads the refusal
	 * on channel 0 where it expects its PREFLIGHT answer. */
	if ((rc = incoming_take(l))) {
		xlmig_warn("refused a migration from %s: %s", peer, xlmig_errmsg());
		refuse_session(conn, rc);
		return;
	}
	if ((rc = xlmig_job_accept(&d->env, conn, peer, &job))) {
		xlmig_error("session from %s: %s", peer, xlmig_errmsg());
		goto out;
	}
	if (!job)
		goto out;   /* a FATE query, answered (fate.h) */
	xlmig_info("job %s: incoming migration from %s on %u channel(s)", xlmig_job_id(job), peer,
		   xlmig_conn_channels(conn));
	xlmigd_jobs_post_incoming(d, job);
	if (xlmig_job_run(job))
		xlmig_warn("job %s (incoming) failed: %s", xlmig_job_id(job), xlmig_errmsg());
	else
		xlmig_info("job %s: %s now runs here", xlmig_job_id(job), xlmig_job_domain(job));
	xlmigd_jobs_post_incoming_done(d, job);
out:
	atomic_fetch_sub(&l->incoming, 1);
}

static void run_session(struct accepted *a, struct xlmig_incoming *in, const char *peer)
{
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn = NULL;
	int rc;

	incoming_opts(a->l->d, &co);
	rc = xlmig_conn_accept(in, &co, a->l->d->key, &conn);
	unauth_release(a);
	if (rc) {
		xlmig_warn("refused a migration from %s: %s", peer, xlmig_errmsg());
		return;
	}
	serve_session(a->l, conn, peer);
}

static void run_self_session(struct accepted *a)
{
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn = NULL;

	incoming_opts(a->l->d, &co);
	if (xlmig_conn_with_self(a->fd, true, &co, &conn)) {
		xlmig_warn("migration from this xlmigd itself: %s", xlmig_errmsg());
		return;
	}
	serve_session(a->l, conn, a->peer);
}

static void *connection_main(void *arg)
{
	struct accepted *a = arg;
	struct xlmig_incoming *in = NULL;
	struct xlmig_conn_opts co;
	uint64_t limit_ms = (uint64_t)a->l->d->cfg.auth_timeout * 1000;
	uint64_t spent_ms = (xlmig_now_ns() - a->accepted_ns) / 1000000;
	int rc;

	if (a->self) {
		run_self_session(a);
		free(a);
		return NULL;
	}
	/* One deadline from accept to authenticated, however the peer paces
	 * its bytes (conn.h): a slow or stalled one is dropped at it. */
	incoming_opts(a->l->d, &co);
	rc = xlmig_incoming_read(a->fd, a->peer, &co, (int)(limit_ms - XLMIG_MIN(spent_ms, limit_ms)),
				 &in);
	if (rc == XLMIG_E_TIMEOUT)
		xlmig_warn("connection from %s dropped: not authenticated within %u s of connecting "
			   "(auth_timeout): %s", a->peer, a->l->d->cfg.auth_timeout, xlmig_errmsg());
	else if (rc)
		xlmig_warn("connection from %s: %s", a->peer, xlmig_errmsg());
	else if (xlmig_incoming_is_join(in))
		join_session(a->l, in, a->peer);
	else
		run_session(a, in, a->peer);
	unauth_release(a);
	free(a);
	return NULL;
}

static void describe(const struct sockaddr *sa, char *out, size_t len, char *host_out,
		     size_t host_len)
{
	char host[64] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, len, "%s:%u", host, port);
	snprintf(host_out, host_len, "%s", host);
}

/* Serve a (on its own, detached thread). */
static int start_connection(struct accepted *a)
{
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &attr, connection_main, a);
	pthread_attr_destroy(&attr);
	return err ? xlmig_fail(XLMIG_E_NOMEM, "cannot start a thread: %s", strerror(err)) : XLMIG_OK;
}

static void on_accept(struct evconnlistener *ev, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;
	struct accepted *a = calloc(1, sizeof(*a));

	if (!a || l->d->stopping) {
		free(a);
		close(fd);
		return;
	}
	a->l = l;
	a->fd = fd;
	a->accepted_ns = xlmig_now_ns();
	describe(sa, a->peer, sizeof(a->peer), a->host, sizeof(a->host));
	if (!unauth_take(l, a->host)) {
		xlmig_debug("connection from %s closed: too many unauthenticated connections "
			    "(%u in all, %u from one address at most)", a->peer, MAX_UNAUTH,
			    MAX_UNAUTH_PER_SOURCE);
		free(a);
		close(fd);
		return;
	}
	a->counted = true;
	xlmig_tcp_tune(fd);
	if (start_connection(a) != XLMIG_OK) {
		xlmig_error("cannot start a thread for the connection from %s", a->peer);
		unauth_release(a);
		close(fd);
		free(a);
	}
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	for (unsigned i = 0; i < l->nev && !l->d->stopping; i++)
		evconnlistener_enable(l->ev[i]);
}

/* accept() failed: out of fds, the listener would be woken at once again
 * and spin; pause it for a second instead, so the loop (and the control
 * socket) stays responsive while connections end. */
static void on_accept_error(struct evconnlistener *ev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	xlmig_warn("cannot accept a migration connection: %s; pausing for %d ms",
		   evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
	evconnlistener_disable(ev);
	evtimer_add(l->resume, &(struct timeval){ .tv_sec = ACCEPT_PAUSE_MS / 1000 });
}

/* Listen on one address (NULL: every address) and watch the socket. */
static int listen_on(struct listener *l, const char *addr, const char *port)
{
	struct xlmigd *d = l->d;
	struct evconnlistener *ev;
	uint16_t bound = 0;
	int fd = -1, rc;

	if (l->nev == XLMIG_LISTEN_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "more than %u listen addresses", XLMIG_LISTEN_MAX);
	if ((rc = xlmig_tcp_listen(addr, port, &fd, &bound)))
		return xlmig_fail_prefix(rc, "listening for migrations (use --port or --listen)");
	if (d->cfg.insecure && !xlmig_tcp_local_is_loopback(fd)) {
		close(fd);
		return xlmig_fail(XLMIG_E_INVAL, "--insecure (plain channels) listens on loopback "
				  "only, not on %s: configure TLS with xlmig setup-tls",
				  addr ? addr : "every address");
	}
	/* The loop must never block in accept(). */
	evutil_make_socket_nonblocking(fd);
	/* Accepted sockets are close-on-exec: libxl forks hotplug scripts and
	 * device models from this process. */
	ev = evconnlistener_new(d->base, on_accept, l,
				LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!ev) {
		close(fd);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot watch the migration socket");
	}
	evconnlistener_set_error_cb(ev, on_accept_error);
	socklen_t blen = sizeof(l->bound[l->nev]);
	if (getsockname(fd, (struct sockaddr *)&l->bound[l->nev], &blen) < 0)
		memset(&l->bound[l->nev], 0, sizeof(l->bound[l->nev]));
	l->ev[l->nev++] = ev;
	return XLMIG_OK;
}

/* Where to listen: the configured address, or loopback and the
 * migration network; a host without a default route has no migration
 * network to name, and keeps every address (said in the log). */
static int listen_default(struct listener *l, const char *port)
{
	struct xlmig_listen_addrs la;
	char list[XLMIG_LISTEN_MAX * (INET6_ADDRSTRLEN + 2)] = "";
	int rc = xlmig_listen_addrs_default(&la);

	if (rc)
		return xlmig_fail_prefix(rc, "finding the migration network (set listen in "
					 "xlmigd.conf)");
	if (la.n == 0) {
		xlmig_warn("no default route: listening for migrations on every address; set "
			   "listen in xlmigd.conf to the migration network's address");
		return listen_on(l, NULL, port);
	}
	for (unsigned i = 0; i < la.n && !rc; i++) {
		size_t used = strlen(list);

		snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", la.addr[i]);
		rc = listen_on(l, la.addr[i], port);
	}
	if (!rc)
		xlmig_info("listening for migrations on %s port %s: loopback and %s, which carry "
			   "the default route (listen in xlmigd.conf to choose)", list, port, la.ifaces);
	return rc;
}

int xlmigd_listener_start(struct xlmigd *d)
{
	struct listener *l = calloc(1, sizeof(*l));
	char port[8];
	int rc;

	if (!l)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	l->d = d;
	pthread_mutex_init(&l->lock, NULL);
	d->listener = l;
	snprintf(port, sizeof(port), "%u", d->cfg.port);
	if (!(l->resume = evtimer_new(d->base, on_resume, l)))
		return xlmig_fail(XLMIG_E_NOMEM, "cannot watch the migration socket");
	if (d->cfg.listen_addr)
		rc = listen_on(l, d->cfg.listen_addr, port);
	else
		rc = listen_default(l, port);
	return rc;
}

void xlmigd_listener_stop(struct xlmigd *d)
{
	struct listener *l = d->listener;

	if (!l)
		return;
	for (unsigned i = 0; i < l->nev; i++)
		evconnlistener_free(l->ev[i]);
	l->nev = 0;
	if (l->resume)
		event_free(l->resume);
	l->resume = NULL;
	/* Threads still running hold l: it lives until the process ends. */
}

/* Is sa one of this host's own addresses (loopback included)? */
static bool address_is_ours(const struct sockaddr *sa)
{
	struct ifaddrs *ifs = NULL;
	bool ours = false;

	if (getifaddrs(&ifs) < 0)
		return false;
	for (const struct ifaddrs *i = ifs; i && !ours; i = i->ifa_next)
		ours = i->ifa_addr && xlmig_sockaddr_same_address(i->ifa_addr, sa);
	freeifaddrs(ifs);
	return ours;
}

/* Does a connection to sa at port reach one of this daemon's listeners?
 * Where a listener holds that very address, or the wildcard and the
 * address is this host's own, no other process can be listening there. */
static bool reaches_us(const struct listener *l, const struct sockaddr *sa, unsigned port)
{
	for (unsigned i = 0; i < l->nev; i++) {
		const struct sockaddr *b = (const struct sockaddr *)&l->bound[i];

		if (b->sa_family != sa->sa_family || xlmig_sockaddr_port(b) != port)
			continue;
		if (xlmig_sockaddr_same_address(b, sa) ||
		    (xlmig_sockaddr_is_any(b) && address_is_ours(sa)))
			return true;
	}
	return false;
}

/* Is host:port this daemon?  Every address host names must reach us: a
 * name some of whose addresses are elsewhere is left to TCP. */
static bool is_this_daemon(const struct listener *l, const char *host, unsigned port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	bool all = false;

	if (!port || getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		all = reaches_us(l, ai->ai_addr, port);
		if (!all)
			break;
	}
	freeaddrinfo(res);
	return all;
}

int xlmigd_listener_dial_self(void *opaque, const char *host, unsigned port, int *fd)
{
	struct xlmigd *d = opaque;
	struct listener *l = d->listener;
	struct accepted *a = NULL;
	int sv[2] = { -1, -1 }, rc = XLMIG_OK;

	*fd = -1;
	if (!l || d->stopping || !is_this_daemon(l, host, port))
		return XLMIG_OK;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "socketpair for a migration to this host: %s",
				strerror(errno));
		goto out;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory");
		goto out;
	}
	a->l = l;
	a->fd = sv[1];
	a->self = true;
	a->accepted_ns = xlmig_now_ns();
	snprintf(a->peer, sizeof(a->peer), "this xlmigd");
	snprintf(a->host, sizeof(a->host), "localhost");
	if ((rc = start_connection(a)) != XLMIG_OK)
		goto out;
	*fd = sv[0];
	sv[0] = sv[1] = -1;
	a = NULL;
out:
	free(a);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}
