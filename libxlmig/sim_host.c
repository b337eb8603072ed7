/*
 * sim_host.c - a simulated host's guests and what is done to them (see
 * sim_host.h).
 */
#include "sim_host.h"
#include "stream.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct sim_dom {
	uint32_t domid;
	char name[XLMIG_NAME_MAX];
	enum xlmig_dom_state state;
	const void *saver;         /* the connection whose save runs on it */
	bool stopped_by_save;      /* SAVE_STOP paused a running guest */
	unsigned pins;             /* long calls using g outside the lock */
	struct xlmig_sim_guest *g;
	struct sim_dom *next;
};

struct xlmig_sim_host {
	pthread_mutex_t lock;      /* the table and every field of sim_dom */
	struct sim_dom *doms;
	uint32_t next_domid;
	void (*on_change)(void *opaque);
	void *opaque;
};

/* ---- the table (callers hold the lock) ---- */

static struct sim_dom *find_id(struct xlmig_sim_host *h, uint32_t domid)
{
	for (struct sim_dom *d = h->doms; d; d = d->next)
		if (d->domid == domid)
			return d;
	return NULL;
}

static struct sim_dom *find_name(struct xlmig_sim_host *h, const char *name)
{
	for (struct sim_dom *d = h->doms; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

static int get_dom(struct xlmig_sim_host *h, uint32_t domid, struct sim_dom **out)
{
	*out = find_id(h, domid);
	if (!*out)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no sim domain with id %u", domid);
	return XLMIG_OK;
}

/* Names as xl accepts them, minus what would confuse lookups: not empty,
 * not all digits (that is an id), printable, no '/'. */
static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= XLMIG_NAME_MAX || xlmig_str_is_domid(name))
		return xlmig_fail(XLMIG_E_INVAL, "domain name '%s' must be 1 to %d characters and not a number",
				  name, XLMIG_NAME_MAX - 1);
	for (const char *p = name; *p; p++)
		if (!isprint((unsigned char)*p) || *p == '/')
			return xlmig_fail(XLMIG_E_INVAL, "domain name '%s' has a character that is not allowed", name);
	return XLMIG_OK;
}

static int check_name_free(struct xlmig_sim_host *h, const char *name, uint32_t except)
{
	struct sim_dom *d;
	int rc = check_name(name);

	if (rc != XLMIG_OK)
		return rc;
	d = find_name(h, name);
	if (d && d->domid != except)
		return xlmig_fail(XLMIG_E_EXISTS, "a domain named '%s' already exists (id %u)", name, d->domid);
	return XLMIG_OK;
}

static void fill_info(const struct sim_dom *d, struct xlmig_domain_info *out)
{
	memset(out, 0, sizeof(*out));
	out->domid = d->domid;
	memcpy(out->name, d->name, sizeof(out->name));
	out->mem_bytes = xlmig_sim_guest_mem_bytes(d->g);
	out->vcpus = xlmig_sim_guest_vcpus(d->g);
	out->guest_type = XLMIG_GUEST_X86_HVM;
	out->state = d->state;
}

static void changed(struct xlmig_sim_host *h)
{
	if (h->on_change)
		h->on_change(h->opaque);
}

/* ---- requests ---- */

static int do_list(struct xlmig_sim_host *h, struct xlmig_simp_reply *p)
{
	size_t count = 0, i = 0;

	pthread_mutex_lock(&h->lock);
	for (struct sim_dom *d = h->doms; d; d = d->next)
		count++;
	p->doms = calloc(count ? count : 1, sizeof(*p->doms));
	if (p->doms)
		for (struct sim_dom *d = h->doms; d; d = d->next)
			fill_info(d, &p->doms[count - 1 - i++]);   /* oldest first */
	pthread_mutex_unlock(&h->lock);
	if (!p->doms)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory listing domains");
	p->n_doms = count;
	if (count > XLMIG_SIMP_MAX_DOMS)
		return xlmig_fail(XLMIG_E_LIMIT, "%zu domains: more than a list can carry (%u)",
				  count, XLMIG_SIMP_MAX_DOMS);
	return XLMIG_OK;
}

static int do_create(struct xlmig_sim_host *h, const struct xlmig_simp_req *q,
		     struct xlmig_simp_reply *p)
{
	bool paused = q->flags & XLMIG_SIMP_CREATE_PAUSED;
	struct xlmig_sim_guest *g = NULL;
	struct sim_dom *d = NULL;
	int rc = check_name(q->name);

	if (rc == XLMIG_OK)
		rc = xlmig_sim_guest_new(q->mem_bytes, q->vcpus, &q->wl,
					 q->flags & XLMIG_SIMP_CREATE_BOOT, &g);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "creating sim domain '%s'", q->name);
	pthread_mutex_lock(&h->lock);
	rc = check_name_free(h, q->name, 0);
	if (rc == XLMIG_OK && !(d = calloc(1, sizeof(*d))))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim domain");
	if (rc == XLMIG_OK) {
		*d = (struct sim_dom){ .domid = h->next_domid++, .g = g, .next = h->doms,
				       .state = paused ? XLMIG_DOM_PAUSED : XLMIG_DOM_RUNNING };
		strcpy(d->name, q->name);
		h->doms = d;
		p->domid = d->domid;
		if (!paused)
			xlmig_sim_guest_unpause(g);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK) {
		xlmig_sim_guest_free(g);
		return rc;
	}
	xlmig_info("created domain %u '%s' (%llu MiB, %u vCPUs, workload %s at %llu B/s)%s",
		   p->domid, q->name, (unsigned long long)(q->mem_bytes >> 20), q->vcpus,
		   xlmig_sim_pattern_name(q->wl.pattern), (unsigned long long)q->wl.rate,
		   paused ? ", paused" : "");
	changed(h);
	return XLMIG_OK;
}

static int dup_fd(int fd, int *out)
{
	*out = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (*out < 0)
		return xlmig_fail(XLMIG_E_IO, "duplicating a guest's memory descriptor: %s", strerror(errno));
	return XLMIG_OK;
}

static int do_attach(struct sim_dom *d, struct xlmig_simp_reply *p, int fds[], size_t *nfds)
{
	uint64_t npages = xlmig_sim_guest_npages(d->g);
	int rc = dup_fd(xlmig_sim_guest_mem_fd(d->g), &fds[0]);

	if (rc)
		return rc;
	rc = dup_fd(xlmig_sim_guest_state_fd(d->g), &fds[1]);
	if (rc) {
		close(fds[0]);
		return rc;
	}
	*nfds = 2;
	p->mem_bytes = xlmig_sim_guest_mem_bytes(d->g);
	p->vcpus = xlmig_sim_guest_vcpus(d->g);
	p->wl = *xlmig_sim_guest_workload(d->g);
	p->state_len = xlmig_sim_shared_len(npages);
	return XLMIG_OK;
}

static int not_while_saving(const struct sim_dom *d, const char *what)
{
	if (d->saver)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is being saved: cancel the migration before you %s it",
				  d->domid, what);
	return XLMIG_OK;
}

static int do_pause(struct sim_dom *d)
{
	int rc = XLMIG_OK;

	if (d->state == XLMIG_DOM_RUNNING) {
		rc = xlmig_sim_guest_pause(d->g);
		if (rc == XLMIG_OK)
			d->state = XLMIG_DOM_PAUSED;
	}
	return rc;
}

static int do_unpause(struct sim_dom *d)
{
	/* The save pauses the guest for stop-and-copy; running it then
	 * would change memory behind the final pass. */
	int rc = not_while_saving(d, "unpause");

	if (rc)
		return rc;
	if (d->state == XLMIG_DOM_SUSPENDED)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is suspended after a save: resume or destroy it",
				  d->domid);
	xlmig_sim_guest_unpause(d->g);
	d->state = XLMIG_DOM_RUNNING;
	return XLMIG_OK;
}

static int do_resume(struct sim_dom *d)
{
	int rc = not_while_saving(d, "resume");

	if (rc)
		return rc;
	if (d->state != XLMIG_DOM_SUSPENDED)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is not suspended: nothing to resume", d->domid);
	xlmig_sim_guest_unpause(d->g);
	d->state = XLMIG_DOM_RUNNING;
	return XLMIG_OK;
}

static int do_throttle(struct sim_dom *d, unsigned pct)
{
	if (pct > 99)
		return xlmig_fail(XLMIG_E_INVAL, "throttle %u%% is over 99%%", pct);
	xlmig_sim_guest_set_throttle(d->g, pct);
	return XLMIG_OK;
}

static int do_save_begin(struct sim_dom *d, const void *conn, struct xlmig_simp_reply *p)
{
	if (d->saver)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is already being saved", d->domid);
	if (d->state != XLMIG_DOM_RUNNING)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is not running: only a running domain can be saved live",
				  d->domid);
	d->saver = conn;
	d->stopped_by_save = false;
	xlmig_sim_guest_logdirty(d->g, true);
	memcpy(p->name, d->name, sizeof(p->name));
	return XLMIG_OK;
}

static int claimed(const struct sim_dom *d, const void *conn)
{
	if (d->saver != conn)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is not being saved by this connection", d->domid);
	return XLMIG_OK;
}

static int do_save_stop(struct sim_dom *d, const void *conn)
{
	int rc = claimed(d, conn);

	if (rc == XLMIG_OK && d->state == XLMIG_DOM_RUNNING) {
		rc = xlmig_sim_guest_pause(d->g);
		d->stopped_by_save = rc == XLMIG_OK;
	}
	if (rc == XLMIG_OK)
		d->state = XLMIG_DOM_SUSPENDED;
	return rc;
}

/* The end of a save, however it ended.  ok: the guest stays suspended.
 * Failed: the guest runs again if the save stopped it -- unless the
 * saver vanished (keep_stopped), when a stopped guest waits for the
 * toolstack's recovery as a suspended domain does on Xen. */
static void end_save(struct sim_dom *d, bool ok, bool keep_stopped)
{
	xlmig_sim_guest_logdirty(d->g, false);
	xlmig_sim_guest_set_throttle(d->g, 0);
	if (!ok && !keep_stopped && d->state == XLMIG_DOM_SUSPENDED) {
		if (d->stopped_by_save) {
			xlmig_sim_guest_unpause(d->g);
			d->state = XLMIG_DOM_RUNNING;
		} else {
			d->state = XLMIG_DOM_PAUSED;
		}
	}
	d->saver = NULL;
	d->stopped_by_save = false;
}

static int do_save_end(struct sim_dom *d, const void *conn, bool ok)
{
	int rc = claimed(d, conn);

	if (rc == XLMIG_OK)
		end_save(d, ok, false);
	return rc;
}

static int do_rename(struct xlmig_sim_host *h, struct sim_dom *d, const char *name)
{
	int rc = check_name_free(h, name, d->domid);

	if (rc == XLMIG_OK)
		strcpy(d->name, name);
	return rc;
}

static int require_stopped(const struct sim_dom *d, const char *what)
{
	if (d->state == XLMIG_DOM_RUNNING)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is running: pause it before %s", d->domid, what);
	return XLMIG_OK;
}

/* Requests on one domain that are quick: answered under the lock. */
static int on_domain(struct xlmig_sim_host *h, const void *conn, struct sim_dom *d,
		     const struct xlmig_simp_req *q, struct xlmig_simp_reply *p,
		     int fds[], size_t *nfds)
{
	int rc;

	switch (q->type) {
	case XLMIG_SIMP_ATTACH:
		return do_attach(d, p, fds, nfds);
	case XLMIG_SIMP_PAUSE:
		return do_pause(d);
	case XLMIG_SIMP_UNPAUSE:
		return do_unpause(d);
	case XLMIG_SIMP_RESUME:
		return do_resume(d);
	case XLMIG_SIMP_RENAME:
		return do_rename(h, d, q->name);
	case XLMIG_SIMP_THROTTLE:
		return do_throttle(d, q->pct);
	case XLMIG_SIMP_SAVE_BEGIN:
		return do_save_begin(d, conn, p);
	case XLMIG_SIMP_SAVE_STOP:
		return do_save_stop(d, conn);
	case XLMIG_SIMP_SAVE_END:
		return do_save_end(d, conn, q->flags & 1);
	case XLMIG_SIMP_GET_VCPU:
		rc = require_stopped(d, "reading its vCPU state");
		return rc ? rc : xlmig_sim_guest_save_vcpu(d->g, p->blob);
	case XLMIG_SIMP_SET_VCPU:
		rc = require_stopped(d, "setting its vCPU state");
		return rc ? rc : xlmig_sim_guest_load_vcpu(d->g, q->blob, q->blob_len);
	case XLMIG_SIMP_COUNTER:
		p->value = xlmig_sim_guest_counter(d->g);
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_UNSUPPORTED, "sim host request %s is not for a domain",
			  xlmig_simp_type_name(q->type));
}

static int do_destroy(struct xlmig_sim_host *h, uint32_t domid)
{
	struct sim_dom **pp, *d;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->doms; *pp && (*pp)->domid != domid; pp = &(*pp)->next)
		;
	d = *pp;
	if (!d)
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "no sim domain with id %u", domid);
	else if (d->saver || d->pins)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is being saved or read: cancel the migration first", domid);
	else
		*pp = d->next;
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK)
		return rc;
	xlmig_sim_guest_free(d->g);
	free(d);
	xlmig_info("destroyed domain %u", domid);
	changed(h);
	return XLMIG_OK;
}

/* A rewrite waits for the workload thread: not under the host lock, with
 * a pin so that nothing destroys the guest meanwhile. */
static int do_rewrite(struct xlmig_sim_host *h, const struct xlmig_simp_req *q)
{
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, q->domid, &d);
	if (rc == XLMIG_OK)
		d->pins++;
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK)
		return rc;
	rc = xlmig_sim_guest_rewrite(d->g, q->first, q->count);
	pthread_mutex_lock(&h->lock);
	d->pins--;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int dispatch(struct xlmig_sim_host *h, const void *conn, const struct xlmig_simp_req *q,
		    struct xlmig_simp_reply *p, int fds[], size_t *nfds)
{
	struct sim_dom *d;
	int rc;

	switch (q->type) {
	case XLMIG_SIMP_LIST:
		return do_list(h, p);
	case XLMIG_SIMP_CREATE:
		return do_create(h, q, p);
	case XLMIG_SIMP_DESTROY:
		return do_destroy(h, q->domid);
	case XLMIG_SIMP_REWRITE:
		return do_rewrite(h, q);
	case XLMIG_SIMP_WATCH:
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "WATCH is the server's, not the host's");
	}
	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, q->domid, &d);
	if (rc == XLMIG_OK)
		rc = on_domain(h, conn, d, q, p, fds, nfds);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void xlmig_sim_host_handle(struct xlmig_sim_host *h, const void *conn,
			   const struct xlmig_simp_req *q, struct xlmig_simp_reply *p,
			   int fds[XLMIG_SIMP_MAX_FDS], size_t *nfds)
{
	int rc;

	memset(p, 0, sizeof(*p));
	*nfds = 0;
	p->type = q->type;
	rc = dispatch(h, conn, q, p, fds, nfds);
	if (rc != XLMIG_OK) {
		xlmig_simp_reply_free(p);
		p->status = rc;
		snprintf(p->text, sizeof(p->text), "%s", xlmig_errmsg());
	}
}

void xlmig_sim_host_drop_conn(struct xlmig_sim_host *h, const void *conn)
{
	pthread_mutex_lock(&h->lock);
	for (struct sim_dom *d = h->doms; d; d = d->next) {
		if (d->saver != conn)
			continue;
		xlmig_warn("domain %u '%s': its save ended with the connection that ran it%s",
			   d->domid, d->name,
			   d->state == XLMIG_DOM_SUSPENDED ? "; it stays suspended for the toolstack to resume"
							   : "; it runs on");
		end_save(d, false, true);
	}
	pthread_mutex_unlock(&h->lock);
}

int xlmig_sim_host_new(void (*on_change)(void *opaque), void *opaque,
		       struct xlmig_sim_host **out)
{
	struct xlmig_sim_host *h = calloc(1, sizeof(*h));

	if (!h)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim host");
	pthread_mutex_init(&h->lock, NULL);
	h->next_domid = 1;
	h->on_change = on_change;
	h->opaque = opaque;
	*out = h;
	return XLMIG_OK;
}

void xlmig_sim_host_free(struct xlmig_sim_host *h)
{
	if (!h)
		return;
	while (h->doms) {
		struct sim_dom *d = h->doms;

		h->doms = d->next;
		xlmig_sim_guest_free(d->g);
		free(d);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}
