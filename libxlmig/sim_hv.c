/*
 * sim_hv.c - the simulated hypervisor backend (see hv.h and sim_hv.h):
 * a table of sim guests in this process, behind the xlmig_hv_ops
 * interface.  Every operation is safe to call from several threads.
 */
#include "sim_hv.h"
#include "json.h"
#include "preflight_facts.h"
#include "stream.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

struct sim_dom {
	uint32_t domid;
	char name[XLMIG_NAME_MAX];
	enum xlmig_dom_state state;
	bool saving;               /* a save_live is running on it */
	unsigned pins;             /* long calls using g outside the lock */
	struct xlmig_sim_guest *g;
	struct sim_dom *next;
};

struct sim_host {
	pthread_mutex_t lock;      /* the table and every field of sim_dom */
	struct sim_dom *doms;
	uint32_t next_domid;
};

static const struct xlmig_hv_ops sim_ops;

static struct sim_host *host_of(struct xlmig_hv *hv)
{
	return hv->priv;
}

bool xlmig_hv_is_sim(const struct xlmig_hv *hv)
{
	return hv && hv->ops == &sim_ops;
}

/* ---- the table (callers hold the lock) ---- */

static struct sim_dom *find_id(struct sim_host *h, uint32_t domid)
{
	for (struct sim_dom *d = h->doms; d; d = d->next)
		if (d->domid == domid)
			return d;
	return NULL;
}

static struct sim_dom *find_name(struct sim_host *h, const char *name)
{
	for (struct sim_dom *d = h->doms; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int get_dom(struct sim_host *h, uint32_t domid, struct sim_dom **out)
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
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len >= XLMIG_NAME_MAX || all_digits(name))
		return xlmig_fail(XLMIG_E_INVAL, "domain name '%s' must be 1 to %d characters and not a number",
				  name ? name : "", XLMIG_NAME_MAX - 1);
	for (const char *p = name; *p; p++)
		if (!isprint((unsigned char)*p) || *p == '/')
			return xlmig_fail(XLMIG_E_INVAL, "domain name '%s' has a character that is not allowed", name);
	return XLMIG_OK;
}

static int check_name_free(struct sim_host *h, const char *name, uint32_t except)
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

/* Put a guest in the table under name; takes ownership of g. */
static int add_dom(struct sim_host *h, const char *name, struct xlmig_sim_guest *g,
		   enum xlmig_dom_state state, uint32_t *domid)
{
	struct sim_dom *d = NULL;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = check_name_free(h, name, 0);
	if (rc != XLMIG_OK)
		goto out;
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim domain");
		goto out;
	}
	d->domid = h->next_domid++;
	strcpy(d->name, name);
	d->state = state;
	d->g = g;
	d->next = h->doms;
	h->doms = d;
	*domid = d->domid;
out:
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK)
		xlmig_sim_guest_free(g);
	return rc;
}

/* ---- sim-only calls ---- */

int xlmig_hv_sim_create(struct xlmig_hv *hv, const struct xlmig_sim_create *c,
			uint32_t *domid)
{
	struct xlmig_sim_guest *g;
	int rc;

	if (!xlmig_hv_is_sim(hv))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "creating guests needs the sim backend");
	rc = check_name(c->name);
	if (rc == XLMIG_OK)
		rc = xlmig_sim_guest_new(c->mem_bytes, c->vcpus, &c->wl, true, &g);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "creating sim domain '%s'", c->name ? c->name : "");
	if (!c->paused)
		xlmig_sim_guest_unpause(g);
	rc = add_dom(host_of(hv), c->name, g, c->paused ? XLMIG_DOM_PAUSED : XLMIG_DOM_RUNNING, domid);
	if (rc == XLMIG_OK)
		xlmig_info("sim: created domain %u '%s' (%llu MiB, %u vCPUs, workload %s at %llu B/s)",
			   *domid, c->name, (unsigned long long)(c->mem_bytes >> 20), c->vcpus,
			   xlmig_sim_pattern_name(c->wl.pattern), (unsigned long long)c->wl.rate);
	return rc;
}

/* Run fn on a sim domain's guest under the lock. */
static int with_guest(struct xlmig_hv *hv, uint32_t domid,
		      int (*fn)(struct sim_dom *d, void *arg), void *arg)
{
	struct sim_host *h;
	struct sim_dom *d;
	int rc;

	if (!xlmig_hv_is_sim(hv))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "this call needs the sim backend");
	h = host_of(hv);
	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, domid, &d);
	if (rc == XLMIG_OK)
		rc = fn(d, arg);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int read_counter(struct sim_dom *d, void *arg)
{
	*(uint64_t *)arg = xlmig_sim_guest_counter(d->g);
	return XLMIG_OK;
}

static int sim_counter(struct xlmig_hv *hv, uint32_t domid, uint64_t *counter)
{
	return with_guest(hv, domid, read_counter, counter);
}

/* Take a reference on a domain for a long call made outside the lock
 * (a memory digest, a save): destroy waits for nobody and refuses. */
static int pin_dom(struct sim_host *h, uint32_t domid, bool stopped_only,
		   struct sim_dom **out)
{
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, domid, &d);
	if (rc == XLMIG_OK && stopped_only && (d->state == XLMIG_DOM_RUNNING || d->saving))
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is running: pause it before taking a memory digest",
				domid);
	if (rc == XLMIG_OK) {
		d->pins++;
		*out = d;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void unpin_dom(struct sim_host *h, struct sim_dom *d)
{
	pthread_mutex_lock(&h->lock);
	d->pins--;
	pthread_mutex_unlock(&h->lock);
}

static int sim_mem_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32])
{
	struct sim_dom *d;
	int rc = pin_dom(host_of(hv), domid, true, &d);
	if (rc != XLMIG_OK)
		return rc;
	rc = xlmig_sim_guest_digest(d->g, out);
	unpin_dom(host_of(hv), d);
	return rc;
}

int xlmig_hv_sim_rewrite(struct xlmig_hv *hv, uint32_t domid, uint64_t first_pfn,
			 uint64_t count)
{
	struct sim_dom *d;
	int rc;

	if (!xlmig_hv_is_sim(hv))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "this call needs the sim backend");
	/* It waits for the workload thread: not under the host lock. */
	rc = pin_dom(host_of(hv), domid, false, &d);
	if (rc != XLMIG_OK)
		return rc;
	rc = xlmig_sim_guest_rewrite(d->g, first_pfn, count);
	unpin_dom(host_of(hv), d);
	return rc;
}

static int read_workload(struct sim_dom *d, void *arg)
{
	*(struct xlmig_sim_workload *)arg = *xlmig_sim_guest_workload(d->g);
	return XLMIG_OK;
}

int xlmig_hv_sim_workload(struct xlmig_hv *hv, uint32_t domid,
			  struct xlmig_sim_workload *out)
{
	return with_guest(hv, domid, read_workload, out);
}

/* ---- ops ---- */

static int sim_list(struct xlmig_hv *hv, struct xlmig_domain_info **out, size_t *n)
{
	struct sim_host *h = host_of(hv);
	struct xlmig_domain_info *v;
	size_t count = 0, i = 0;

	pthread_mutex_lock(&h->lock);
	for (struct sim_dom *d = h->doms; d; d = d->next)
		count++;
	v = calloc(count ? count : 1, sizeof(*v));
	if (v)
		for (struct sim_dom *d = h->doms; d; d = d->next)
			fill_info(d, &v[count - 1 - i++]);   /* oldest first */
	pthread_mutex_unlock(&h->lock);
	if (!v)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory listing domains");
	*out = v;
	*n = count;
	return XLMIG_OK;
}

static int sim_lookup(struct xlmig_hv *hv, const char *name_or_id,
		      struct xlmig_domain_info *out)
{
	struct sim_host *h = host_of(hv);
	struct sim_dom *d = NULL;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&h->lock);
	if (all_digits(name_or_id)) {
		unsigned long id = strtoul(name_or_id, NULL, 10);

		d = id <= UINT32_MAX ? find_id(h, (uint32_t)id) : NULL;
	} else {
		d = find_name(h, name_or_id);
	}
	if (d)
		fill_info(d, out);
	else
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "no domain '%s' on this sim host", name_or_id);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int do_pause(struct sim_dom *d, void *arg)
{
	int rc = XLMIG_OK;

	if (d->state == XLMIG_DOM_RUNNING) {
		rc = xlmig_sim_guest_pause(d->g);
		if (rc == XLMIG_OK)
			d->state = XLMIG_DOM_PAUSED;
	}
	return rc;
}

static int sim_pause(struct xlmig_hv *hv, uint32_t domid)
{
	return with_guest(hv, domid, do_pause, NULL);
}

static int do_unpause(struct sim_dom *d, void *arg)
{
	/* The save pauses the guest for stop-and-copy; running it then
	 * would change memory behind the final pass. */
	if (d->saving)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is being saved: cancel the migration to run it again",
				  d->domid);
	if (d->state == XLMIG_DOM_SUSPENDED)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is suspended after a save: resume or destroy it",
				  d->domid);
	xlmig_sim_guest_unpause(d->g);
	d->state = XLMIG_DOM_RUNNING;
	return XLMIG_OK;
}

static int sim_unpause(struct xlmig_hv *hv, uint32_t domid)
{
	return with_guest(hv, domid, do_unpause, NULL);
}

static int do_resume(struct sim_dom *d, void *arg)
{
	if (d->state != XLMIG_DOM_SUSPENDED)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is not suspended: nothing to resume", d->domid);
	xlmig_sim_guest_unpause(d->g);
	d->state = XLMIG_DOM_RUNNING;
	return XLMIG_OK;
}

static int sim_resume(struct xlmig_hv *hv, uint32_t domid)
{
	return with_guest(hv, domid, do_resume, NULL);
}

static int do_set_throttle(struct sim_dom *d, void *arg)
{
	xlmig_sim_guest_set_throttle(d->g, *(unsigned *)arg);
	return XLMIG_OK;
}

static int sim_set_throttle(struct xlmig_hv *hv, uint32_t domid, unsigned pct)
{
	if (pct > 99)
		return xlmig_fail(XLMIG_E_INVAL, "throttle %u%% is over 99%%", pct);
	return with_guest(hv, domid, do_set_throttle, &pct);
}

static int sim_rename(struct xlmig_hv *hv, uint32_t domid, const char *new_name)
{
	struct sim_host *h = host_of(hv);
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, domid, &d);
	if (rc == XLMIG_OK)
		rc = check_name_free(h, new_name, domid);
	if (rc == XLMIG_OK)
		strcpy(d->name, new_name);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int sim_destroy(struct xlmig_hv *hv, uint32_t domid)
{
	struct sim_host *h = host_of(hv);
	struct sim_dom **pp, *d = NULL;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->doms; *pp && (*pp)->domid != domid; pp = &(*pp)->next)
		;
	d = *pp;
	if (!d)
		rc = xlmig_fail(XLMIG_E_NOTFOUND, "no sim domain with id %u", domid);
	else if (d->saving || d->pins)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is being saved or read: cancel the migration first", domid);
	else
		*pp = d->next;
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK)
		return rc;
	xlmig_sim_guest_free(d->g);
	free(d);
	return XLMIG_OK;
}

/* Claim a running domain for a save, so nothing destroys it meanwhile. */
static int claim_for_save(struct sim_host *h, uint32_t domid, struct sim_dom **out,
			  char name[XLMIG_NAME_MAX])
{
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = get_dom(h, domid, &d);
	if (rc == XLMIG_OK && d->saving)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is already being saved", domid);
	else if (rc == XLMIG_OK && d->state != XLMIG_DOM_RUNNING)
		rc = xlmig_fail(XLMIG_E_INVAL, "domain %u is not running: only a running domain can be saved live",
				domid);
	if (rc == XLMIG_OK) {
		d->saving = true;
		memcpy(name, d->name, XLMIG_NAME_MAX);
		*out = d;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int sim_save_live(struct xlmig_hv *hv, uint32_t domid, int fd,
			 const struct xlmig_save_opts *opts,
			 struct xlmig_save_result *res)
{
	struct sim_host *h = host_of(hv);
	char name[XLMIG_NAME_MAX];
	struct sim_dom *d;
	int rc;

	rc = claim_for_save(h, domid, &d, name);
	if (rc != XLMIG_OK)
		return rc;
	rc = xlmig_sim_save(d->g, name, fd, opts, res);
	pthread_mutex_lock(&h->lock);
	d->saving = false;
	if (rc == XLMIG_OK)
		d->state = XLMIG_DOM_SUSPENDED;
	pthread_mutex_unlock(&h->lock);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "saving domain %u '%s'", domid, name);
	return XLMIG_OK;
}

static int sim_restore(struct xlmig_hv *hv, int fd, const struct xlmig_restore_opts *opts,
		       uint32_t *domid)
{
	struct sim_host *h = host_of(hv);
	char cfg_name[XLMIG_NAME_MAX];
	struct xlmig_sim_guest *g;
	int rc = XLMIG_OK;

	if (opts->domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "domain id %u was asked for (-D): the sim backend numbers its domains itself",
				  opts->domid);
	/* Refuse a taken name before reading gigabytes; add_dom checks
	 * again in case it was taken meanwhile. */
	if (opts->name) {
		pthread_mutex_lock(&h->lock);
		rc = check_name_free(h, opts->name, 0);
		pthread_mutex_unlock(&h->lock);
	}
	if (rc == XLMIG_OK)
		rc = xlmig_sim_restore(fd, &g, cfg_name);
	if (rc == XLMIG_OK)
		rc = add_dom(h, opts->name ? opts->name : cfg_name, g, XLMIG_DOM_PAUSED, domid);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "restoring a sim domain");
	xlmig_info("sim: restored domain %u '%s' (paused)", *domid,
		   opts->name ? opts->name : cfg_name);
	return XLMIG_OK;
}

/* What the sim knows of a guest: its memory.  A sim guest has no disks,
 * bridges or CPU policy. */
static int sim_preflight_guest(struct xlmig_hv *hv, const char *domain,
			       struct xlmig_preflight_guest *g)
{
	struct xlmig_domain_info di;
	int rc = hv->ops->lookup(hv, domain, &di);

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
	FILE *f = fopen("/proc/meminfo", "r");
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
	int rc = workload_from_params(c->params, c->mem_bytes, &sc.wl);

	return rc ? rc : xlmig_hv_sim_create(hv, &sc, domid);
}

static void sim_close(struct xlmig_hv *hv)
{
	struct sim_host *h = host_of(hv);

	while (h->doms) {
		struct sim_dom *d = h->doms;

		h->doms = d->next;
		xlmig_sim_guest_free(d->g);
		free(d);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
	free(hv);
}

static const struct xlmig_hv_ops sim_ops = {
	.name = "sim",
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
	.create = sim_create_op,
};

int xlmig_hv_sim_open(struct xlmig_hv **out)
{
	struct xlmig_hv *hv = calloc(1, sizeof(*hv));
	struct sim_host *h = calloc(1, sizeof(*h));

	if (!hv || !h) {
		free(hv);
		free(h);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory opening the sim backend");
	}
	pthread_mutex_init(&h->lock, NULL);
	h->next_domid = 1;
	hv->ops = &sim_ops;
	hv->priv = h;
	*out = hv;
	return XLMIG_OK;
}
