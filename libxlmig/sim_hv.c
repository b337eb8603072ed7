/*
 * sim_hv.c - the simulated hypervisor backend (see hv.h and sim_hv.h):
 * a client of a sim host (sim_proto.h).  The guests live in the sim host
 * -- xlmig-simhost, or a server thread of this process for tests -- and
 * survive this process; a save or restore maps a guest's memory and
 * dirty log (memfds passed by the sim host) and runs the engine
 * (sim_engine.h) here, so pages never cross the socket.
 *
 * One connection carries every request, one at a time; a second one,
 * opened by watch_fd, receives the sim host's domain events.  A sim host
 * that went away fails every request with a message that says so; the
 * next request dials again, so a restarted sim host is found.
 */
#include "sim_hv.h"
#include "json.h"
#include "sim_net.h"
#include "preflight_facts.h"
#include "sim_engine.h"
#include "sim_proto.h"
#include "sim_server.h"
#include "stream.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCH_MAX_IDS 4096

struct sim_client {
	pthread_mutex_t lock;      /* fd, rx: one request at a time */
	int fd;                    /* -1: dial on the next request */
	struct xlmig_buf rx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* "" = embedded */
	struct xlmig_sim_server *embedded;
	int watch_fd;              /* the WATCH connection, -1 */
	bool watch_lost;           /* its sim host went away: said once */
	uint32_t ids[WATCH_MAX_IDS];   /* domains at the last look, sorted */
	size_t n_ids;
	pthread_mutex_t kept_lock;
	struct kept_map *kept;     /* saved guests still mapped (see keep_map) */
};

static const struct xlmig_hv_ops sim_ops;

static struct sim_client *client_of(struct xlmig_hv *hv)
{
	return hv->priv;
}

bool xlmig_hv_is_sim(const struct xlmig_hv *hv)
{
	return hv && hv->ops == &sim_ops;
}

/* ---- the connection ---- */

static int dial(struct sim_client *c, int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (c->embedded)
		return xlmig_sim_server_connect(c->embedded, fd);
	memcpy(a.sun_path, c->path, sizeof(c->path));
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket: %s", strerror(errno));
	if (connect(*fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int err = errno;

		close(*fd);
		*fd = -1;
		return xlmig_fail(XLMIG_E_HV, "no sim host answers on %s (%s): start xlmig-simhost --socket %s, or let xlmigd --hv sim start it",
				  c->path, strerror(err), c->path);
	}
	return XLMIG_OK;
}

/* One request and its reply (fds: the descriptors it came with, which
 * the caller closes).  A failed exchange drops the connection. */
static int call_fds(struct sim_client *c, const struct xlmig_simp_req *q,
		    struct xlmig_simp_reply *p, int fds[XLMIG_SIMP_MAX_FDS], size_t *nfds)
{
	struct xlmig_buf out = { 0 };
	int rc;

	*nfds = 0;
	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&c->lock);
	rc = c->fd < 0 ? dial(c, &c->fd) : XLMIG_OK;
	if (rc == XLMIG_OK)
		rc = xlmig_simp_write_req(&out, q);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_send(c->fd, &out, NULL, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_recv(c->fd, &c->rx, fds, nfds);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_parse_reply(c->rx.data, c->rx.len, q->type, p);
	if (rc != XLMIG_OK && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		/* The hypervisor failed, not a peer: HV, so that a job says
		 * this and not what it broke downstream. */
		rc = xlmig_fail_prefix(XLMIG_E_HV, "the sim host %s went away (were it killed, its guests went with it)",
				       c->embedded ? "of this process" : c->path);
	}
	pthread_mutex_unlock(&c->lock);
	xlmig_buf_free(&out);
	if (rc == XLMIG_OK && p->status) {
		rc = xlmig_fail(p->status, "%s", p->text);
		xlmig_simp_reply_free(p);
	}
	if (rc != XLMIG_OK)
		while (*nfds)
			close(fds[--*nfds]);
	return rc;
}

static int call(struct sim_client *c, const struct xlmig_simp_req *q, struct xlmig_simp_reply *p)
{
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds;
	int rc = call_fds(c, q, p, fds, &nfds);

	while (nfds)
		close(fds[--nfds]);
	return rc;
}

/* A request on one domain whose reply carries nothing. */
static int call_simple(struct xlmig_hv *hv, uint16_t type, uint32_t domid)
{
	struct xlmig_simp_req q = { .type = type, .domid = domid };
	struct xlmig_simp_reply p;

	return call(client_of(hv), &q, &p);
}

/* ---- a guest mapped into this process ---- */

struct sim_map {
	struct sim_client *c;
	uint32_t domid;
	uint8_t *mem;
	int mem_fd;                /* kept: holes are found through it */
	struct xlmig_sim_shared *shared;
	size_t state_len;
	struct xlmig_sim_view view;
};

static void unmap_guest(struct sim_map *m)
{
	if (m->mem)
		munmap(m->mem, m->view.mem_bytes);
	if (m->shared)
		munmap(m->shared, m->state_len);
	if (m->mem_fd >= 0)
		close(m->mem_fd);
	m->mem = NULL;
	m->shared = NULL;
	m->mem_fd = -1;
}

/* A saved guest's mapping, kept until its domain is destroyed or
 * resumed.  Unmapping a guest whose pages the save read tears down
 * hundreds of thousands of page table entries under this process's
 * mmap lock: 50-250 ms measured for 1 GiB on a loaded host, during which
 * every thread of xlmigd that maps, unmaps or faults (the transfer's
 * large buffers come from mmap) waits.  Right after a save that is the
 * downtime window; once the source's copy is destroyed it is not. */
struct kept_map {
	struct sim_map m;
	struct kept_map *next;
};

static void keep_map(struct sim_client *c, const struct sim_map *m)
{
	struct kept_map *k = malloc(sizeof(*k));

	if (!k) {
		struct sim_map copy = *m;

		unmap_guest(&copy);   /* no room to defer it: now, then */
		return;
	}
	k->m = *m;
	pthread_mutex_lock(&c->kept_lock);
	k->next = c->kept;
	c->kept = k;
	pthread_mutex_unlock(&c->kept_lock);
}

/* Unmap what a save of domid left mapped (every domain: all). */
static void release_kept(struct sim_client *c, uint32_t domid, bool all)
{
	struct kept_map **pp, *k, *mine = NULL;

	pthread_mutex_lock(&c->kept_lock);
	for (pp = &c->kept; (k = *pp);) {
		if (all || k->m.domid == domid) {
			*pp = k->next;
			k->next = mine;
			mine = k;
		} else {
			pp = &k->next;
		}
	}
	pthread_mutex_unlock(&c->kept_lock);
	while ((k = mine)) {
		mine = k->next;
		unmap_guest(&k->m);
		free(k);
	}
}

static int map_fd(int fd, size_t len, void **out)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < len)
		return xlmig_fail(XLMIG_E_FORMAT, "the sim host passed a guest descriptor smaller than %zu bytes", len);
	*out = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (*out == MAP_FAILED) {
		*out = NULL;
		return xlmig_fail(XLMIG_E_NOSPC, "cannot map %zu bytes of a sim guest: %s", len, strerror(errno));
	}
	return XLMIG_OK;
}

static const struct xlmig_sim_view_ops remote_ops;

/* Map a guest's memory and dirty log, every size checked against what
 * the sim host says the guest is. */
static int map_guest(struct sim_client *c, uint32_t domid, struct sim_map *m)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_ATTACH, .domid = domid };
	struct xlmig_simp_reply p;
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds;
	void *state = NULL;
	int rc = call_fds(c, &q, &p, fds, &nfds);

	memset(m, 0, sizeof(*m));
	m->mem_fd = -1;
	if (rc)
		return rc;
	m->c = c;
	m->domid = domid;
	if (nfds != 2 || p.mem_bytes < XLMIG_SIM_MEM_MIN || p.mem_bytes > XLMIG_SIM_MEM_MAX ||
	    p.mem_bytes % XLMIG_PAGE_SIZE || p.state_len != xlmig_sim_shared_len(p.mem_bytes / XLMIG_PAGE_SIZE)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "the sim host described domain %u's memory inconsistently (%zu descriptors, %" PRIu64 " bytes)",
				domid, nfds, p.mem_bytes);
		goto out;
	}
	m->view = (struct xlmig_sim_view){
		.mem_bytes = p.mem_bytes, .npages = p.mem_bytes / XLMIG_PAGE_SIZE,
		.vcpus = p.vcpus, .wl = p.wl, .ops = &remote_ops, .opaque = m, .mem_fd = -1,
	};
	m->state_len = p.state_len;
	rc = map_fd(fds[0], p.mem_bytes, (void **)&m->mem);
	if (rc == XLMIG_OK)
		rc = map_fd(fds[1], p.state_len, &state);
	m->shared = state;
	if (rc == XLMIG_OK)
		rc = xlmig_sim_shared_check(m->shared, m->state_len, m->view.npages);
	if (rc == XLMIG_OK) {
		m->mem_fd = fds[0];
		fds[0] = -1;
		m->view.mem = m->mem;
		m->view.mem_fd = m->mem_fd;
		m->view.dirty = m->shared->dirty;
		m->view.dirty_words = (size_t)m->shared->dirty_words;
	}
out:
	while (nfds)
		if (fds[--nfds] >= 0)
			close(fds[nfds]);
	if (rc)
		unmap_guest(m);
	return rc;
}

static int remote_throttle(void *o, unsigned pct)
{
	struct sim_map *m = o;
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_THROTTLE, .domid = m->domid, .pct = pct };
	struct xlmig_simp_reply p;

	return call(m->c, &q, &p);
}

static int remote_stop(void *o)
{
	struct sim_map *m = o;
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_SAVE_STOP, .domid = m->domid };
	struct xlmig_simp_reply p;

	return call(m->c, &q, &p);
}

static int remote_get_vcpu(void *o, uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN])
{
	struct sim_map *m = o;
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_GET_VCPU, .domid = m->domid };
	struct xlmig_simp_reply p;
	int rc = call(m->c, &q, &p);

	if (rc == XLMIG_OK)
		memcpy(blob, p.blob, XLMIG_SIM_VCPU_BLOB_LEN);
	return rc;
}

static int remote_set_vcpu(void *o, const uint8_t *blob, size_t len)
{
	struct sim_map *m = o;
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_SET_VCPU, .domid = m->domid };
	struct xlmig_simp_reply p;

	if (len > sizeof(q.blob))
		return xlmig_fail(XLMIG_E_FORMAT, "HVM_CONTEXT is not a sim vCPU state (%zu bytes)", len);
	memcpy(q.blob, blob, len);
	q.blob_len = len;
	return call(m->c, &q, &p);
}

static const struct xlmig_sim_view_ops remote_ops = {
	remote_throttle, remote_stop, remote_get_vcpu, remote_set_vcpu,
};

/* ---- sim-only calls ---- */

static int check_name_len(const char *name)
{
	if (!name || !name[0] || strlen(name) >= XLMIG_NAME_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "domain name '%s' must be 1 to %d characters and not a number",
				  name ? name : "", XLMIG_NAME_MAX - 1);
	return XLMIG_OK;
}

static int create_dom(struct xlmig_hv *hv, const char *name, uint64_t mem_bytes, unsigned vcpus,
		      const struct xlmig_sim_workload *wl, uint8_t flags, uint32_t *domid)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_CREATE, .mem_bytes = mem_bytes,
				    .vcpus = vcpus, .flags = flags, .wl = *wl };
	struct xlmig_simp_reply p;
	int rc = check_name_len(name);

	if (rc == XLMIG_OK) {
		strcpy(q.name, name);
		rc = call(client_of(hv), &q, &p);
	}
	if (rc == XLMIG_OK)
		*domid = p.domid;
	return rc;
}

int xlmig_hv_sim_create(struct xlmig_hv *hv, const struct xlmig_sim_create *c,
			uint32_t *domid)
{
	uint8_t flags = XLMIG_SIMP_CREATE_BOOT | (c->paused ? XLMIG_SIMP_CREATE_PAUSED : 0);
	int rc;

	if (!xlmig_hv_is_sim(hv))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "creating guests needs the sim backend");
	rc = create_dom(hv, c->name, c->mem_bytes, c->vcpus, &c->wl, flags, domid);
	if (rc == XLMIG_OK)
		xlmig_info("sim: created domain %u '%s' (%llu MiB, %u vCPUs, workload %s at %llu B/s)",
			   *domid, c->name, (unsigned long long)(c->mem_bytes >> 20), c->vcpus,
			   xlmig_sim_pattern_name(c->wl.pattern), (unsigned long long)c->wl.rate);
	return rc;
}

int xlmig_hv_sim_rewrite(struct xlmig_hv *hv, uint32_t domid, uint64_t first_pfn,
			 uint64_t count)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_REWRITE, .domid = domid,
				    .first = first_pfn, .count = count };
	struct xlmig_simp_reply p;

	if (!xlmig_hv_is_sim(hv))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "this call needs the sim backend");
	return call(client_of(hv), &q, &p);
}

/* ---- ops ---- */

static int sim_list(struct xlmig_hv *hv, struct xlmig_domain_info **out, size_t *n)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_LIST };
	struct xlmig_simp_reply p;
	int rc = call(client_of(hv), &q, &p);

	if (rc)
		return rc;
	*out = p.doms;
	*n = p.n_doms;
	return XLMIG_OK;
}

static int sim_lookup(struct xlmig_hv *hv, const char *name_or_id, struct xlmig_domain_info *out)
{
	struct xlmig_domain_info *doms;
	bool by_id = xlmig_str_is_domid(name_or_id);
	unsigned long id = by_id ? strtoul(name_or_id, NULL, 10) : 0;
	size_t n;
	int rc = sim_list(hv, &doms, &n);

	if (rc)
		return rc;
	rc = XLMIG_E_NOTFOUND;
	for (size_t i = 0; i < n; i++) {
		if (by_id ? doms[i].domid == id : !strcmp(doms[i].name, name_or_id)) {
			*out = doms[i];
			rc = XLMIG_OK;
			break;
		}
	}
	free(doms);
	/* Only a miss sets the error: a found domain leaves the caller's
	 * last error as it was. */
	if (rc)
		xlmig_fail(rc, "no domain '%s' on this sim host", name_or_id);
	return rc;
}

static int sim_pause(struct xlmig_hv *hv, uint32_t domid)
{
	return call_simple(hv, XLMIG_SIMP_PAUSE, domid);
}

/* The guest's interface (sim_net.h) is up while the guest runs. */
static int sim_unpause(struct xlmig_hv *hv, uint32_t domid)
{
	int rc = call_simple(hv, XLMIG_SIMP_UNPAUSE, domid);

	if (rc == XLMIG_OK)
		xlmig_sim_net_set_up(domid, true);
	return rc;
}

static int sim_resume(struct xlmig_hv *hv, uint32_t domid)
{
	int rc;

	release_kept(client_of(hv), domid, false);
	rc = call_simple(hv, XLMIG_SIMP_RESUME, domid);

	if (rc == XLMIG_OK)
		xlmig_sim_net_set_up(domid, true);
	return rc;
}

static int sim_destroy(struct xlmig_hv *hv, uint32_t domid)
{
	int rc;

	release_kept(client_of(hv), domid, false);
	rc = call_simple(hv, XLMIG_SIMP_DESTROY, domid);

	if (rc == XLMIG_OK)
		xlmig_sim_net_unplug(domid);
	return rc;
}

static int sim_nics(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n)
{
	return xlmig_sim_net_nics(domid, out, max, n);
}

static int sim_set_throttle(struct xlmig_hv *hv, uint32_t domid, unsigned pct)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_THROTTLE, .domid = domid, .pct = pct };
	struct xlmig_simp_reply p;

	return call(client_of(hv), &q, &p);
}

static int sim_rename(struct xlmig_hv *hv, uint32_t domid, const char *new_name)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_RENAME, .domid = domid };
	struct xlmig_simp_reply p;
	int rc = check_name_len(new_name);

	if (rc)
		return rc;
	strcpy(q.name, new_name);
	return call(client_of(hv), &q, &p);
}

static int sim_counter(struct xlmig_hv *hv, uint32_t domid, uint64_t *counter)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_COUNTER, .domid = domid };
	struct xlmig_simp_reply p;
	int rc = call(client_of(hv), &q, &p);

	if (rc == XLMIG_OK)
		*counter = p.value;
	return rc;
}

static int sim_mem_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32])
{
	struct xlmig_domain_info di;
	struct sim_map m;
	char id[16];
	int rc;

	snprintf(id, sizeof(id), "%u", domid);
	rc = sim_lookup(hv, id, &di);
	if (rc == XLMIG_OK && di.state == XLMIG_DOM_RUNNING)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is running: pause it before taking a memory digest",
				domid);
	if (rc == XLMIG_OK)
		rc = map_guest(client_of(hv), domid, &m);
	if (rc)
		return rc;
	rc = xlmig_sim_mem_digest(m.mem, m.view.mem_bytes, m.mem_fd, out);
	unmap_guest(&m);
	return rc;
}

static int end_save(struct sim_client *c, uint32_t domid, bool ok)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_SAVE_END, .domid = domid, .flags = ok };
	struct xlmig_simp_reply p;

	return call(c, &q, &p);
}

static int sim_save_live(struct xlmig_hv *hv, uint32_t domid, int fd,
			 const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	struct sim_client *c = client_of(hv);
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_SAVE_BEGIN, .domid = domid };
	struct xlmig_simp_reply p;
	struct sim_map m;
	int rc, erc;

	memset(res, 0, sizeof(*res));
	rc = call(c, &q, &p);
	if (rc)
		return xlmig_fail_prefix(rc, "saving domain %u", domid);
	/* A mapping an earlier save of this domain left goes now. */
	release_kept(c, domid, false);
	rc = map_guest(c, domid, &m);
	if (rc == XLMIG_OK)
		rc = xlmig_sim_engine_save(&m.view, p.name, fd, opts, res);
	/* Saved, the guest stays suspended for the commit: its mapping goes
	 * when its copy here is destroyed or resumed (keep_map). */
	if (rc == XLMIG_OK)
		keep_map(c, &m);
	else
		unmap_guest(&m);
	/* Whatever happened, the guest must not stay slowed down or logged;
	 * unless the save succeeded it must run on. */
	erc = end_save(c, domid, rc == XLMIG_OK);
	if (rc)
		return xlmig_fail_prefix(rc, "saving domain %u '%s'", domid, p.name);
	if (erc)
		return xlmig_fail_prefix(erc, "ending the save of domain %u '%s'", domid, p.name);
	/* Suspended: its traffic no longer reaches it here. */
	xlmig_sim_net_set_up(domid, false);
	return XLMIG_OK;
}

/* The dirty log belongs to a save, so a measurement is a save that sends
 * nothing and ends failed: the sim host then switches the log off and
 * leaves the guest running, as it found it, and refuses a second save of
 * the same guest meanwhile, as Xen refuses a second log-dirty user. */
static int sim_dirty_rate(struct xlmig_hv *hv, uint32_t domid, unsigned window_ms,
			  uint64_t *bytes_per_s)
{
	struct sim_client *c = client_of(hv);
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_SAVE_BEGIN, .domid = domid };
	struct xlmig_simp_reply p;
	struct sim_map m;
	uint64_t *seen = NULL, pages, t0, ns;
	int rc, erc;

	rc = call(c, &q, &p);
	if (rc)
		return xlmig_fail_prefix(rc, "measuring domain %u's dirty rate", domid);
	rc = map_guest(c, domid, &m);
	if (rc == XLMIG_OK && !(seen = calloc(m.view.dirty_words, sizeof(*seen))))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a dirty bitmap");
	if (rc == XLMIG_OK) {
		xlmig_sim_dirty_clean(m.view.dirty, m.view.dirty_words, seen);  /* from nothing */
		memset(seen, 0, m.view.dirty_words * sizeof(*seen));
		t0 = xlmig_now_ns();
		usleep(window_ms * 1000u);
		pages = xlmig_sim_dirty_clean(m.view.dirty, m.view.dirty_words, seen);
		ns = xlmig_now_ns() - t0;
		*bytes_per_s = (uint64_t)((double)pages * XLMIG_PAGE_SIZE * 1e9 / (double)ns);
	}
	free(seen);
	unmap_guest(&m);
	erc = end_save(c, domid, false);
	if (rc)
		return xlmig_fail_prefix(rc, "measuring domain %u's dirty rate", domid);
	if (erc)
		return xlmig_fail_prefix(erc, "ending the dirty-rate measurement of domain %u", domid);
	return XLMIG_OK;
}

/* The restore's factory: a paused, empty guest in the sim host, mapped. */
struct restore_target {
	struct xlmig_hv *hv;
	const char *name;          /* NULL: the config's */
	uint32_t domid;
	bool created;
	struct sim_map map;
};

static int restore_create(void *o, const char *cfg_name, uint64_t mem_bytes, unsigned vcpus,
			  const struct xlmig_sim_workload *wl, struct xlmig_sim_view *out)
{
	struct restore_target *t = o;
	int rc = create_dom(t->hv, t->name ? t->name : cfg_name, mem_bytes, vcpus, wl,
			    XLMIG_SIMP_CREATE_PAUSED, &t->domid);

	if (rc)
		return rc;
	t->created = true;
	rc = map_guest(client_of(t->hv), t->domid, &t->map);
	if (rc == XLMIG_OK)
		*out = t->map.view;
	return rc;
}

static int sim_restore(struct xlmig_hv *hv, int fd, const struct xlmig_restore_opts *opts,
		       uint32_t *domid)
{
	struct restore_target t = { .hv = hv, .name = opts->name, .map.mem_fd = -1 };
	struct xlmig_sim_factory f = { restore_create, &t };
	struct xlmig_domain_info di;
	char cfg_name[XLMIG_NAME_MAX];
	bool created;
	int rc = XLMIG_OK;

	if (opts->domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "domain id %u was asked for (-D): the sim backend numbers its domains itself",
				  opts->domid);
	/* Refuse a taken name before reading gigabytes; the sim host checks
	 * again when it creates the guest. */
	if (opts->name && sim_lookup(hv, opts->name, &di) == XLMIG_OK)
		rc = xlmig_fail(XLMIG_E_EXISTS, "a domain named '%s' already exists (id %u)", opts->name, di.domid);
	if (rc == XLMIG_OK)
		rc = xlmig_sim_engine_restore(fd, &f, &created, cfg_name);
	unmap_guest(&t.map);
	/* Its new vif, down until it runs, as a restore's hotplug makes it. */
	if (rc == XLMIG_OK)
		rc = xlmig_sim_net_plug(cfg_name, t.domid, false);
	if (rc != XLMIG_OK && t.created)
		sim_destroy(hv, t.domid);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "restoring a sim domain");
	*domid = t.domid;
	xlmig_info("sim: restored domain %u '%s' (paused)", *domid, opts->name ? opts->name : cfg_name);
	return XLMIG_OK;
}

/* What the sim knows of a guest: its memory.  A sim guest has no disks,
 * bridges or CPU policy. */
static int sim_preflight_guest(struct xlmig_hv *hv, const char *domain,
			       struct xlmig_preflight_guest *g)
{
	struct xlmig_domain_info di;
	int rc = sim_lookup(hv, domain, &di);

	if (rc)
		return rc;
	memcpy(g->name, di.name, sizeof(g->name));
	g->need_bytes = di.mem_bytes;
	g->hvm = di.guest_type != XLMIG_GUEST_X86_PV;
	return XLMIG_OK;
}

/* What a sim host offers: the memory this machine has available. */
static int sim_preflight_host(struct xlmig_hv *hv, struct xlmig_preflight_host *h)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;
	bool found = false;

	if (!f)
		return xlmig_fail(XLMIG_E_IO, "reading /proc/meminfo: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
	fclose(f);
	if (!found)
		return xlmig_fail(XLMIG_E_FORMAT, "/proc/meminfo has no MemAvailable line");
	h->free_bytes = (uint64_t)kb * 1024;
	return XLMIG_OK;
}

/* ---- xlmig create: the workload from the request ---- */

static int param_u64(const struct xlmig_json *p, const char *key, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc = p ? xlmig_json_get_u64(p, key, &v) : XLMIG_E_NOTFOUND;

	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc || v > max)
		return xlmig_fail(XLMIG_E_INVAL, "request field '%s' must be a number up to %" PRIu64, key, max);
	*out = v;
	return XLMIG_OK;
}

static int param_pct(const struct xlmig_json *p, const char *key, unsigned *out)
{
	uint64_t v = *out;
	int rc = param_u64(p, key, 100, &v);

	*out = (unsigned)v;
	return rc;
}

static int param_pattern(const struct xlmig_json *p, enum xlmig_sim_pattern *out)
{
	const char *pattern = NULL;
	int rc = p ? xlmig_json_get_str(p, "pattern", &pattern) : XLMIG_E_NOTFOUND;

	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc)
		return xlmig_fail(XLMIG_E_INVAL, "request field 'pattern' must be a string");
	if (xlmig_sim_pattern_parse(pattern, out))
		return xlmig_fail(XLMIG_E_INVAL, "unknown pattern '%s': use uniform, hot:SIZE or seq", pattern);
	return XLMIG_OK;
}

/* The workload fields of a create request (rate, pattern, hot_bytes,
 * zero_pct, file_pct, seed); absent ones keep their defaults. */
static int workload_from_params(const struct xlmig_json *p, uint64_t mem_bytes,
				struct xlmig_sim_workload *wl)
{
	int rc;

	xlmig_sim_workload_default(wl);
	if ((rc = param_u64(p, "rate", XLMIG_SIM_RATE_MAX, &wl->rate)) ||
	    (rc = param_u64(p, "hot_bytes", XLMIG_SIM_MEM_MAX, &wl->hot_bytes)) ||
	    (rc = param_pct(p, "zero_pct", &wl->zero_pct)) ||
	    (rc = param_pct(p, "file_pct", &wl->file_pct)) ||
	    (rc = param_u64(p, "seed", UINT64_MAX, &wl->seed)) ||
	    (rc = param_pattern(p, &wl->pattern)))
		return rc;
	return xlmig_sim_workload_check(wl, mem_bytes);
}

static int sim_create_op(struct xlmig_hv *hv, const struct xlmig_hv_create *c, uint32_t *domid)
{
	struct xlmig_sim_create sc = {
		.name = c->name, .mem_bytes = c->mem_bytes, .vcpus = c->vcpus, .paused = c->paused,
	};
	struct xlmig_sim_nic nic;
	const char *spec = NULL;
	int rc = workload_from_params(c->params, c->mem_bytes, &sc.wl);

	if (!rc && c->params && xlmig_json_get_str(c->params, "nic", &spec) == XLMIG_OK)
		rc = xlmig_sim_nic_parse(spec, c->name, &nic);
	if (rc || (rc = xlmig_hv_sim_create(hv, &sc, domid)) || !spec)
		return rc;
	if ((rc = xlmig_sim_net_create(c->name, &nic)) || (rc = xlmig_sim_net_plug(c->name, *domid, !c->paused))) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
		sim_destroy(hv, *domid);
		return xlmig_fail(rc, "%s", msg);
	}
	return XLMIG_OK;
}

/* ---- the domain watch ---- */

static void remember_ids(struct sim_client *c, const struct xlmig_domain_info *doms, size_t n,
			 uint32_t *ids, size_t *n_ids)
{
	*n_ids = 0;
	for (size_t i = 0; i < n && *n_ids < WATCH_MAX_IDS; i++)
		ids[(*n_ids)++] = doms[i].domid;
	/* The sim host lists oldest first, which is ascending id order. */
	for (size_t i = 1; i < *n_ids; i++)
		for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			uint32_t t = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
}

static int sim_watch_fd(struct xlmig_hv *hv)
{
	struct sim_client *c = client_of(hv);
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_WATCH };
	struct xlmig_simp_reply p;
	struct xlmig_buf b = { 0 };
	struct xlmig_domain_info *doms = NULL;
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t n = 0, nfds = 0;
	int fd = -1, rc;

	if (c->watch_fd >= 0)
		return c->watch_fd;
	rc = dial(c, &fd);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_write_req(&b, &q);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_send(fd, &b, NULL, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_recv(fd, &b, fds, &nfds);
	while (nfds)
		close(fds[--nfds]);
	if (rc == XLMIG_OK)
		rc = xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_WATCH, &p);
	if (rc == XLMIG_OK && p.status)
		rc = xlmig_fail(p.status, "%s", p.text);
	if (rc == XLMIG_OK)
		rc = sim_list(hv, &doms, &n);
	xlmig_buf_free(&b);
	if (rc) {
		xlmig_warn("not watching the sim host's domains: %s", xlmig_errmsg());
		if (fd >= 0)
			close(fd);
		return -1;
	}
	remember_ids(c, doms, n, c->ids, &c->n_ids);
	free(doms);
	c->watch_fd = fd;
	return fd;
}

/* Read the events waiting on the watch connection; false once the sim
 * host has closed it. */
static bool drain_events(struct sim_client *c)
{
	struct xlmig_buf b = { 0 };
	struct pollfd pfd = { c->watch_fd, POLLIN, 0 };
	int fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds;
	bool alive = true;

	while (alive && poll(&pfd, 1, 0) > 0) {
		uint16_t type = 0;

		alive = xlmig_simp_recv(c->watch_fd, &b, fds, &nfds) == XLMIG_OK;
		while (nfds)
			close(fds[--nfds]);
		if (alive)
			type = xlmig_get_le16(b.data + 6);
		alive = alive && type == XLMIG_SIMP_EVENT;
	}
	xlmig_buf_free(&b);
	return alive;
}

static int sim_watch_changes(struct xlmig_hv *hv, struct xlmig_dom_change *out, size_t max,
			     size_t *n)
{
	struct sim_client *c = client_of(hv);
	struct xlmig_domain_info *doms = NULL;
	uint32_t now[WATCH_MAX_IDS];
	size_t n_doms = 0, n_now = 0;
	int rc = XLMIG_OK;

	*n = 0;
	if (c->watch_fd < 0)
		return XLMIG_OK;
	if (c->watch_lost)
		return xlmig_fail(XLMIG_E_CLOSED, "the sim host %s is gone: no more domain events",
				  c->path[0] ? c->path : "of this process");
	if (!drain_events(c)) {
		/* The sim host died, and its guests with it. */
		xlmig_error("the sim host %s went away: every guest it ran is gone; "
			    "restart xlmig-simhost (running jobs fail)", c->path[0] ? c->path : "of this process");
		c->watch_lost = true;
	} else {
		rc = sim_list(hv, &doms, &n_doms);
	}
	if (rc)
		return rc;
	remember_ids(c, doms, n_doms, now, &n_now);
	free(doms);
	*n = xlmig_domlist_diff(c->ids, c->n_ids, now, n_now, out, max);
	memcpy(c->ids, now, n_now * sizeof(now[0]));
	c->n_ids = n_now;
	return XLMIG_OK;
}

static void sim_close(struct xlmig_hv *hv)
{
	struct sim_client *c = client_of(hv);

	if (c->fd >= 0)
		close(c->fd);
	if (c->watch_fd >= 0)
		close(c->watch_fd);
	release_kept(c, 0, true);
	xlmig_sim_server_free(c->embedded);
	xlmig_buf_free(&c->rx);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->kept_lock);
	free(c);
	free(hv);
}

static const struct xlmig_hv_ops sim_ops = {
	.name = "sim",
	.save_continues = true,
	.close = sim_close,
	.list = sim_list,
	.lookup = sim_lookup,
	.save_live = sim_save_live,
	.restore = sim_restore,
	.pause = sim_pause,
	.unpause = sim_unpause,
	.rename = sim_rename,
	.destroy = sim_destroy,
	.resume = sim_resume,
	.set_throttle = sim_set_throttle,
	.preflight_guest = sim_preflight_guest,
	.preflight_host = sim_preflight_host,
	.mem_digest = sim_mem_digest,
	.counter = sim_counter,
	.dirty_rate = sim_dirty_rate,
	.create = sim_create_op,
	.watch_fd = sim_watch_fd,
	.watch_changes = sim_watch_changes,
	.nics = sim_nics,
};

/* ---- opening ---- */

static int new_client(struct xlmig_hv **out, struct sim_client **cp)
{
	struct xlmig_hv *hv = calloc(1, sizeof(*hv));
	struct sim_client *c = calloc(1, sizeof(*c));

	if (!hv || !c) {
		free(hv);
		free(c);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory opening the sim backend");
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->kept_lock, NULL);
	c->fd = c->watch_fd = -1;
	hv->ops = &sim_ops;
	hv->priv = c;
	*out = hv;
	*cp = c;
	return XLMIG_OK;
}

int xlmig_hv_sim_open(struct xlmig_hv **out)
{
	struct sim_client *c;
	int rc = new_client(out, &c);

	if (rc == XLMIG_OK)
		rc = xlmig_sim_server_new(&c->embedded);
	if (rc != XLMIG_OK && *out) {
		sim_close(*out);
		*out = NULL;
	}
	return rc;
}

/* xlmig-simhost beside this program's own executable, else on $PATH. */
static void simhost_program(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(out, len, "xlmig-simhost");
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = '\0';
	if ((size_t)snprintf(out, len, "%s/xlmig-simhost", self) >= len || access(out, X_OK) != 0)
		snprintf(out, len, "xlmig-simhost");
}

/* Start a sim host on path, detached: it outlives this process, as a
 * hypervisor outlives its toolstack.  xlmig-simhost returns once it
 * serves (or with its error). */
static int start_simhost(const char *path, const char *log_file)
{
	char prog[PATH_MAX];
	int status = 0;
	pid_t pid;

	simhost_program(prog, sizeof(prog));
	xlmig_info("no sim host answers on %s: starting %s (log %s)", path, prog,
		   log_file ? log_file : "syslog-less: none");
	pid = fork();
	if (pid < 0)
		return xlmig_fail(XLMIG_E_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (log_file)
			execlp(prog, prog, "--socket", path, "--log-file", log_file, (char *)NULL);
		else
			execlp(prog, prog, "--socket", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return xlmig_fail(XLMIG_E_IO, "%s --socket %s failed (exit status %d)%s", prog, path,
				  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				  WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ": is xlmig-simhost installed?" : "");
	return XLMIG_OK;
}

int xlmig_hv_sim_connect(const char *path, const char *log_file, bool start,
			 struct xlmig_hv **out)
{
	struct sim_client *c;
	int rc;

	if (strlen(path) >= sizeof(c->path))
		return xlmig_fail(XLMIG_E_LIMIT, "sim host socket path '%s' is too long for a unix socket", path);
	rc = new_client(out, &c);
	if (rc)
		return rc;
	strcpy(c->path, path);
	rc = dial(c, &c->fd);
	if (rc == XLMIG_E_HV && start) {
		rc = start_simhost(path, log_file);
		if (rc == XLMIG_OK)
			rc = dial(c, &c->fd);
	}
	if (rc != XLMIG_OK) {
		sim_close(*out);
		*out = NULL;
		return rc;
	}
	xlmig_info("sim backend: using the sim host on %s", path);
	return XLMIG_OK;
}
