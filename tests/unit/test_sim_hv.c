/* test_sim_hv.c - the sim backend: domain operations, live save and
 * restore through a pipe, cancel, policy abort, auto-converge, and
 * restore of damaged streams. */
#include "unit.h"
#include "sim_hv.h"
#include "json.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define MS  1000000ull

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A running guest's counter advances within this, however loaded the
 * machine is. */
#define RUNS_WITHIN_MS 10000

static bool counter_passes(struct xlmig_hv *hv, uint32_t domid, uint64_t than)
{
	return xlmig_hv_counter_passes(hv, domid, than, RUNS_WITHIN_MS) == XLMIG_OK;
}

static int make_guest(struct xlmig_hv *hv, const char *name, uint64_t mem,
		      uint64_t rate, enum xlmig_sim_pattern pat, uint64_t hot,
		      unsigned fill_pct, uint32_t *domid)
{
	struct xlmig_sim_create c = { .name = name, .mem_bytes = mem, .vcpus = 2 };

	xlmig_sim_workload_default(&c.wl);
	c.wl.rate = rate;
	c.wl.pattern = pat;
	c.wl.hot_bytes = hot;
	c.wl.fill_pct = fill_pct;
	c.wl.seed = 42;
	return xlmig_hv_sim_create(hv, &c, domid);
}

static int dom_state(struct xlmig_hv *hv, const char *name)
{
	struct xlmig_domain_info info;

	if (hv->ops->lookup(hv, name, &info) != XLMIG_OK)
		return -1;
	return (int)info.state;
}

static size_t dom_count(struct xlmig_hv *hv)
{
	struct xlmig_domain_info *v = NULL;
	size_t n = 0;

	if (hv->ops->list(hv, &v, &n) != XLMIG_OK)
		return (size_t)-1;
	free(v);
	return n;
}

/* ---- a save running in its own thread, writing into a pipe ---- */

struct saver {
	struct xlmig_hv *hv;
	uint32_t domid;
	int fd;
	struct xlmig_save_opts opts;
	struct xlmig_save_result res;
	int rc;
	char err[512];
	pthread_t thread;
};

static void *saver_main(void *arg)
{
	struct saver *s = arg;

	s->rc = s->hv->ops->save_live(s->hv, s->domid, s->fd, &s->opts, &s->res);
	snprintf(s->err, sizeof(s->err), "%s", xlmig_errmsg());
	close(s->fd);
	return NULL;
}

/* Start a save of domid into a new pipe; returns the read end. */
static int start_save(struct saver *s, struct xlmig_hv *hv, uint32_t domid,
		      struct xlmig_policy *policy)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	s->hv = hv;
	s->domid = domid;
	s->fd = p[1];
	s->opts.policy = policy;
	if (pthread_create(&s->thread, NULL, saver_main, s) != 0)
		return -1;
	return p[0];
}

/* ---- known amounts of guest work while a save runs ----
 *
 * How much a workload dirties depends on the CPU it gets; where a test
 * needs a given dirty set, the guest rewrites pfns 1..pages itself:
 * once while the first pass is being read, and after every iteration,
 * fewer as the policy throttles it (a throttled vCPU does less work). */

struct dirtier {
	struct xlmig_hv *hv;
	uint32_t domid;
	uint64_t pages;
	int rc;                      /* first failure, if any */
};

static void dirtier_run(struct dirtier *d, unsigned throttle_pct)
{
	int rc = xlmig_hv_sim_rewrite(d->hv, d->domid, 1, d->pages * (100 - throttle_pct) / 100);

	if (d->rc == XLMIG_OK)
		d->rc = rc;
}

static void dirty_after_iteration(void *opaque, const struct xlmig_iteration *it, uint64_t total)
{
	dirtier_run(opaque, it->throttle_pct);
}

/* ---- a reader that drains a pipe at a limited rate ---- */

/* Far enough into the stream that pre-copy's first pass, which is all of
 * memory that has content (holes travel as XALLOC, without data), is
 * under way: the guests these tests save are filled at boot. */
#define FIRST_PASS_MARK (4 * MIB)

struct reader {
	int fd;
	uint64_t rate;               /* bytes/s, 0 = as fast as possible */
	struct xlmig_buf keep;       /* everything read, if keep_all */
	bool keep_all;
	struct dirtier *dirtier;     /* run once at FIRST_PASS_MARK */
	_Atomic uint64_t bytes;      /* read so far; the test thread polls it */
	pthread_t thread;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t start = xlmig_now_ns();
	static __thread uint8_t chunk[256 << 10];

	for (;;) {
		ssize_t n = read(r->fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (r->keep_all)
			xlmig_buf_append(&r->keep, chunk, (size_t)n);
		if (r->dirtier && r->bytes < FIRST_PASS_MARK && r->bytes + (uint64_t)n >= FIRST_PASS_MARK)
			dirtier_run(r->dirtier, 0);
		atomic_fetch_add(&r->bytes, (uint64_t)n);
		if (r->rate) {
			uint64_t due = start + r->bytes * 1000000000ull / r->rate;
			uint64_t now = xlmig_now_ns();

			if (due > now)
				sleep_ms((unsigned)((due - now) / MS));
		}
	}
	close(r->fd);
	return NULL;
}

/* Wait until the reader has read `bytes`: the save is under way. */
static bool reader_got(struct reader *r, uint64_t bytes)
{
	uint64_t deadline = xlmig_now_ns() + 10000 * MS;

	while (atomic_load(&r->bytes) < bytes) {
		if (xlmig_now_ns() >= deadline)
			return false;
		sleep_ms(1);
	}
	return true;
}

static int start_reader(struct reader *r, int fd, uint64_t rate, bool keep_all,
			struct dirtier *dirtier)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->rate = rate;
	r->keep_all = keep_all;
	r->dirtier = dirtier;
	return pthread_create(&r->thread, NULL, reader_main, r);
}

/* ---- domain operations ---- */

TEST(sim_hv_domain_lifecycle)
{
	struct xlmig_hv *hv;
	struct xlmig_domain_info info, *v = NULL;
	uint32_t a, b, c;
	size_t n;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK(xlmig_hv_is_sim(hv));
	CHECK_STR(hv->ops->name, "sim");
	CHECK_OK(make_guest(hv, "vm1", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &a));
	CHECK_EQ(a, 1);
	CHECK_EQ(make_guest(hv, "vm1", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &b), XLMIG_E_EXISTS);
	CHECK_EQ(make_guest(hv, "123", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &b), XLMIG_E_INVAL);
	CHECK_EQ(make_guest(hv, "vm2", 1 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &b), XLMIG_E_INVAL);
	CHECK_OK(make_guest(hv, "vm2", 96 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &b));
	CHECK_EQ(b, 2);

	CHECK_OK(hv->ops->list(hv, &v, &n));
	CHECK_EQ(n, 2);
	CHECK_STR(v[0].name, "vm1");
	CHECK_EQ(v[1].mem_bytes, 96 * MIB);
	CHECK_EQ(v[1].vcpus, 2);
	CHECK_EQ(v[1].guest_type, XLMIG_GUEST_X86_HVM);
	free(v);
	CHECK_OK(hv->ops->lookup(hv, "2", &info));
	CHECK_STR(info.name, "vm2");
	CHECK_EQ(info.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(hv->ops->lookup(hv, "vm9", &info), XLMIG_E_NOTFOUND);

	CHECK_OK(hv->ops->rename(hv, b, "vm2--migratedaway"));
	CHECK_EQ(hv->ops->rename(hv, b, "vm1"), XLMIG_E_EXISTS);
	CHECK_EQ(dom_state(hv, "vm2"), -1);
	CHECK_EQ(dom_state(hv, "vm2--migratedaway"), XLMIG_DOM_RUNNING);

	CHECK_OK(hv->ops->pause(hv, a));
	CHECK_EQ(dom_state(hv, "vm1"), XLMIG_DOM_PAUSED);
	CHECK_EQ(hv->ops->resume(hv, a), XLMIG_E_INVAL);   /* not suspended */
	CHECK_OK(hv->ops->unpause(hv, a));
	CHECK_EQ(dom_state(hv, "vm1"), XLMIG_DOM_RUNNING);
	CHECK_OK(hv->ops->set_throttle(hv, a, 50));
	CHECK_EQ(hv->ops->set_throttle(hv, a, 100), XLMIG_E_INVAL);

	CHECK_OK(hv->ops->destroy(hv, b));
	CHECK_EQ(hv->ops->destroy(hv, b), XLMIG_E_NOTFOUND);
	CHECK_EQ(hv->ops->pause(hv, b), XLMIG_E_NOTFOUND);
	/* Ids are never reused. */
	CHECK_OK(make_guest(hv, "vm3", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &c));
	CHECK_EQ(c, 3);
	CHECK_EQ(dom_count(hv), 2);
	xlmig_hv_close(hv);
}

TEST(sim_hv_counter_runs_and_digest_needs_a_stopped_guest)
{
	struct xlmig_hv *hv;
	uint64_t c1;
	uint8_t d[32];
	uint32_t id;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 10 * MIB, XLMIG_SIM_UNIFORM, 0, 0, &id));
	CHECK_OK(xlmig_hv_counter(hv, id, &c1));
	CHECK(counter_passes(hv, id, c1));
	CHECK_EQ(xlmig_hv_mem_digest(hv, id, d), XLMIG_E_INVAL);
	CHECK_OK(hv->ops->pause(hv, id));
	CHECK_OK(xlmig_hv_mem_digest(hv, id, d));
	xlmig_hv_close(hv);
}

/* The dirty rate comes from the dirty log: an idle guest writes only its
 * counter page, a busy one about its rate (its workload may get less CPU
 * on a loaded machine, never more), and the guest runs on afterwards,
 * unlogged: a save can start at once. */
TEST(sim_hv_dirty_rate_from_the_dirty_log)
{
	struct xlmig_hv *hv;
	uint64_t idle = 0, busy = 0, c1;
	uint32_t quiet, hot;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "quiet", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &quiet));
	CHECK_OK(make_guest(hv, "hot", 64 * MIB, 32 * MIB, XLMIG_SIM_UNIFORM, 0, 0, &hot));
	CHECK_OK(xlmig_hv_dirty_rate(hv, quiet, 300, &idle));
	CHECK(idle <= 64 * 1024);
	CHECK_OK(xlmig_hv_dirty_rate(hv, hot, 300, &busy));
	CHECK(busy >= 4 * MIB && busy <= 40 * MIB);
	CHECK_EQ(xlmig_hv_dirty_rate(hv, hot, 0, &busy), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_hv_dirty_rate(hv, 99, 100, &busy), XLMIG_E_NOTFOUND);
	CHECK_EQ(dom_state(hv, "hot"), XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_hv_counter(hv, hot, &c1));
	CHECK(counter_passes(hv, hot, c1));
	CHECK_OK(hv->ops->pause(hv, hot));
	CHECK_EQ(xlmig_hv_dirty_rate(hv, hot, 100, &busy), XLMIG_E_INVAL);
	xlmig_hv_close(hv);
}

/* ---- save and restore ---- */

static void default_policy(struct xlmig_policy *p)
{
	struct xlmig_policy_config cfg;

	xlmig_policy_config_default(&cfg);
	xlmig_policy_init(p, &cfg);
}

TEST(sim_hv_live_migration_through_a_pipe)
{
	struct xlmig_hv *src, *dst;
	struct xlmig_restore_opts ropts = { .name = "busy--incoming" };
	struct xlmig_policy policy;
	struct saver s = { 0 };
	struct dirtier dirtier = { 0 };
	uint64_t src_counter, dst_counter, later;
	uint8_t digest[32];
	uint32_t id, newid;
	int rfd, rc;

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "busy", 128 * MIB, 64 * MIB, XLMIG_SIM_HOTSET, 8 * MIB, 100, &id));
	default_policy(&policy);
	/* Pages dirtied after the first pass are sent again, however the
	 * policy decides. */
	dirtier = (struct dirtier){ .hv = src, .domid = id, .pages = 256 };
	s.opts.progress = dirty_after_iteration;
	s.opts.progress_opaque = &dirtier;
	s.opts.mem_digest = true;
	rfd = start_save(&s, src, id, &policy);
	CHECK(rfd >= 0);
	rc = dst->ops->restore(dst, rfd, &ropts, &newid);
	close(rfd);
	pthread_join(s.thread, NULL);
	if (s.rc != XLMIG_OK)
		unit_fail(__FILE__, __LINE__, "save: %s", s.err);
	CHECK_OK(rc);
	CHECK_OK(s.rc);
	CHECK_OK(dirtier.rc);

	/* Source: suspended, stopped at the counter the stream carries. */
	CHECK_EQ(dom_state(src, "busy"), XLMIG_DOM_SUSPENDED);
	CHECK_EQ(dom_state(dst, "busy--incoming"), XLMIG_DOM_PAUSED);
	CHECK(s.res.have_mem_digest);
	CHECK(s.res.iterations >= 2);
	CHECK_EQ(s.res.pages_total, 128 * MIB / XLMIG_PAGE_SIZE);
	CHECK(s.res.pages_sent > s.res.pages_total);
	CHECK(s.res.paused_at_ns > 0);
	CHECK(policy.n_iter >= 1);
	CHECK_OK(xlmig_hv_mem_digest(dst, newid, digest));
	CHECK(memcmp(digest, s.res.mem_digest, 32) == 0);
	CHECK_OK(xlmig_hv_mem_digest(src, id, digest));
	CHECK(memcmp(digest, s.res.mem_digest, 32) == 0);
	CHECK_OK(xlmig_hv_counter(src, id, &src_counter));
	CHECK_OK(xlmig_hv_counter(dst, newid, &dst_counter));
	CHECK_EQ(dst_counter, src_counter);
	sleep_ms(20);
	CHECK_OK(xlmig_hv_counter(dst, newid, &later));
	CHECK_EQ(later, dst_counter);   /* paused until told to run */

	/* The destination continues from exactly there. */
	CHECK_OK(dst->ops->unpause(dst, newid));
	CHECK(counter_passes(dst, newid, dst_counter));
	CHECK_EQ(src->ops->unpause(src, id), XLMIG_E_INVAL);   /* suspended */
	CHECK_OK(src->ops->destroy(src, id));
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}

TEST(sim_hv_resume_after_save_runs_the_same_guest)
{
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	uint64_t at_pause;
	uint8_t digest[32];
	uint32_t id;
	int rfd;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 8 * MIB, XLMIG_SIM_UNIFORM, 0, 30, &id));
	s.opts.mem_digest = true;
	rfd = start_save(&s, hv, id, NULL);
	CHECK(rfd >= 0);
	CHECK_EQ(start_reader(&r, rfd, 0, false, NULL), 0);
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	CHECK_OK(s.rc);
	CHECK(s.res.have_mem_digest);
	CHECK_EQ(dom_state(hv, "vm"), XLMIG_DOM_SUSPENDED);
	CHECK_OK(xlmig_hv_mem_digest(hv, id, digest));
	CHECK(memcmp(digest, s.res.mem_digest, 32) == 0);
	CHECK_OK(xlmig_hv_counter(hv, id, &at_pause));
	/* As after a failed migration: resume in place. */
	CHECK_OK(hv->ops->resume(hv, id));
	CHECK_EQ(dom_state(hv, "vm"), XLMIG_DOM_RUNNING);
	CHECK(counter_passes(hv, id, at_pause));
	xlmig_buf_free(&r.keep);
	xlmig_hv_close(hv);
}

/* Mappings of sim guests' memory in this process (/proc/self/maps). */
static int guest_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "xlmig-sim-memory") != NULL;
	fclose(f);
	return n;
}

/* A saved guest's memory stays mapped until its copy is destroyed or
 * resumed: unmapping it right after the save stalled the transfer's
 * threads inside the downtime window. */
TEST(sim_hv_saved_guest_stays_mapped_until_destroyed_or_resumed)
{
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	uint32_t id;
	int rfd, before;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 10, &id));
	before = guest_mappings();   /* the embedded sim host's own */
	CHECK(before >= 1);
	for (int round = 0; round < 2; round++) {
		memset(&s, 0, sizeof(s));
		rfd = start_save(&s, hv, id, NULL);
		CHECK(rfd >= 0);
		CHECK_EQ(start_reader(&r, rfd, 0, false, NULL), 0);
		pthread_join(s.thread, NULL);
		pthread_join(r.thread, NULL);
		xlmig_buf_free(&r.keep);
		CHECK_OK(s.rc);
		CHECK_EQ(guest_mappings(), before + 1);
		if (round == 0) {
			/* A failed migration: resumed in place, the mapping gone. */
			CHECK_OK(hv->ops->resume(hv, id));
			CHECK_EQ(guest_mappings(), before);
		}
	}
	/* Moved: the source's copy destroyed, with it every mapping. */
	CHECK_OK(hv->ops->destroy(hv, id));
	CHECK_EQ(guest_mappings(), 0);
	xlmig_hv_close(hv);
}

/* ---- stream layout ---- */

struct layout {
	int kinds[64];
	uint32_t types[64];
	unsigned n;
	unsigned page_records, max_pages;
	uint64_t pages;
	bool pfn_order_ok;
	uint64_t last_pfn;
	bool in_iteration;
	char config[1024];
};

static int record_layout(void *opaque, const struct xlmig_item *it)
{
	struct layout *l = opaque;

	if (it->kind == XLMIG_ITEM_LIBXC_RECORD && it->type == XLMIG_REC_PAGE_DATA) {
		uint64_t first = xlmig_get_le64(it->u.page.pfns) & XLMIG_PFN_MASK;

		/* A new iteration starts where the pfns go back down. */
		if (l->in_iteration && first <= l->last_pfn)
			l->in_iteration = false;
		for (uint32_t i = 0; i < it->u.page.count; i++) {
			uint64_t pfn = xlmig_get_le64(it->u.page.pfns + i * 8) & XLMIG_PFN_MASK;

			if (i && pfn <= l->last_pfn)
				l->pfn_order_ok = false;
			l->last_pfn = pfn;
		}
		l->in_iteration = true;
		l->page_records++;
		l->pages += it->u.page.count;
		if (it->u.page.count > l->max_pages)
			l->max_pages = it->u.page.count;
		if (l->n && l->types[l->n - 1] == XLMIG_REC_PAGE_DATA)
			return 0;   /* one entry for a run of PAGE_DATA */
	}
	if (it->kind == XLMIG_ITEM_XL_HEADER)
		snprintf(l->config, sizeof(l->config), "%.*s", (int)it->u.xl.config_len,
			 (const char *)it->u.xl.config);
	if (l->n < 64) {
		l->kinds[l->n] = it->kind;
		l->types[l->n] = it->type;
		l->n++;
	}
	return 0;
}

TEST(sim_hv_stream_has_xens_layout)
{
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	struct layout l = { .pfn_order_ok = true };
	struct xlmig_parser *p;
	struct xlmig_json *cfg = NULL;
	const char *str;
	uint64_t u;
	uint32_t id;
	int rfd;
	static const struct { int kind; uint32_t type; } want[] = {
		{ XLMIG_ITEM_XL_HEADER, 0 },
		{ XLMIG_ITEM_LIBXL_HEADER, 0 },
		{ XLMIG_ITEM_LIBXL_RECORD, XLMIG_LIBXL_LIBXC_CONTEXT },
		{ XLMIG_ITEM_LIBXC_IMAGE_HEADER, 0 },
		{ XLMIG_ITEM_LIBXC_DOMAIN_HEADER, 0 },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_X86_CPUID_POLICY },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_X86_MSR_POLICY },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_STATIC_DATA_END },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_X86_TSC_INFO },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_HVM_CONTEXT },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_HVM_PARAMS },
		{ XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_END },
		{ XLMIG_ITEM_LIBXL_RECORD, XLMIG_LIBXL_END },
	};

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "layout", 64 * MIB, 4 * MIB, XLMIG_SIM_UNIFORM, 0, 50, &id));
	rfd = start_save(&s, hv, id, NULL);
	CHECK(rfd >= 0);
	CHECK_EQ(start_reader(&r, rfd, 0, true, NULL), 0);
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	CHECK_OK(s.rc);

	p = xlmig_parser_new(record_layout, &l);
	CHECK(p != NULL);
	CHECK_OK(xlmig_parser_feed(p, r.keep.data, r.keep.len));
	CHECK_OK(xlmig_parser_finish(p));
	xlmig_parser_free(p);
	CHECK_EQ(l.n, XLMIG_ARRAY_SIZE(want));
	for (unsigned i = 0; i < XLMIG_ARRAY_SIZE(want); i++) {
		CHECK_EQ(l.kinds[i], want[i].kind);
		if (want[i].type)
			CHECK_EQ(l.types[i], want[i].type);
	}
	CHECK(l.pfn_order_ok);
	CHECK_EQ(l.max_pages, 1024);
	CHECK_EQ(l.pages, s.res.pages_sent);

	CHECK_OK(xlmig_json_parse(l.config, strlen(l.config), &cfg));
	CHECK_OK(xlmig_json_get_str(cfg, "c_info.type", &str));
	CHECK_STR(str, "pvh");
	CHECK_OK(xlmig_json_get_str(cfg, "c_info.name", &str));
	CHECK_STR(str, "layout");
	CHECK_OK(xlmig_json_get_u64(cfg, "b_info.max_memkb", &u));
	CHECK_EQ(u, 65536);
	CHECK_OK(xlmig_json_get_u64(cfg, "b_info.max_vcpus", &u));
	CHECK_EQ(u, 2);
	CHECK_OK(xlmig_json_get_u64(cfg, "xlmig_sim.rate", &u));
	CHECK_EQ(u, 4 * MIB);
	xlmig_json_free(cfg);
	xlmig_buf_free(&r.keep);
	xlmig_hv_close(hv);
}

/* ---- cancel, abort, auto-converge ---- */

static void cancel_after_first(void *opaque, const struct xlmig_iteration *it, uint64_t total)
{
	atomic_store((atomic_bool *)opaque, true);
}

TEST(sim_hv_cancel_leaves_the_source_running)
{
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	atomic_bool cancel = false;
	struct xlmig_domain_info info;
	uint64_t c1;
	uint32_t id;
	int rfd;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 32 * MIB, XLMIG_SIM_UNIFORM, 0, 100, &id));
	s.opts.cancel = &cancel;
	s.opts.progress = cancel_after_first;
	s.opts.progress_opaque = (void *)&cancel;
	rfd = start_save(&s, hv, id, NULL);
	CHECK(rfd >= 0);
	CHECK_EQ(start_reader(&r, rfd, 0, false, NULL), 0);
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	CHECK_EQ(s.rc, XLMIG_E_CANCELLED);
	CHECK_OK(hv->ops->lookup(hv, "vm", &info));
	CHECK_EQ(info.domid, id);
	CHECK_EQ(info.state, XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_hv_counter(hv, id, &c1));
	CHECK(counter_passes(hv, id, c1));
	/* Not left claimed: it can be destroyed (or saved again). */
	CHECK_OK(hv->ops->destroy(hv, id));
	xlmig_hv_close(hv);
}

TEST(sim_hv_save_refuses_stopped_and_busy_domains)
{
	struct xlmig_hv *hv;
	struct xlmig_save_result res;
	struct xlmig_save_opts opts = { 0 };
	struct reader r;
	struct saver s = { 0 };
	atomic_bool cancel = false;
	uint32_t id;
	int rfd;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 100, &id));
	CHECK_OK(hv->ops->pause(hv, id));
	CHECK_EQ(hv->ops->save_live(hv, id, -1, &opts, &res), XLMIG_E_INVAL);
	CHECK_EQ(hv->ops->save_live(hv, 99, -1, &opts, &res), XLMIG_E_NOTFOUND);
	CHECK_OK(hv->ops->unpause(hv, id));
	/* A slow reader keeps the save busy while we poke at it. */
	s.opts.cancel = &cancel;
	rfd = start_save(&s, hv, id, NULL);
	CHECK(rfd >= 0);
	CHECK_EQ(start_reader(&r, rfd, 16 * MIB, false, NULL), 0);
	CHECK(reader_got(&r, 1));
	CHECK_EQ(hv->ops->save_live(hv, id, -1, &opts, &res), XLMIG_E_INVAL);
	CHECK_EQ(hv->ops->destroy(hv, id), XLMIG_E_INVAL);
	CHECK_EQ(hv->ops->unpause(hv, id), XLMIG_E_INVAL);
	cancel = 1;
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	CHECK_EQ(s.rc, XLMIG_E_CANCELLED);
	CHECK_OK(hv->ops->destroy(hv, id));
	xlmig_hv_close(hv);
}

/* A guest dirtying a 16 MiB hot set (pfns 1..4095) at up to 200 MB/s
 * over a 32 MB/s link.  Whatever CPU its workload gets, the guest also
 * rewrites the whole hot set during the first pass and after every
 * iteration (fewer pages as it is throttled): unthrottled, 500 ms of
 * pages are dirty after every pass, far over the 150 ms ceiling, and the
 * dirty set never shrinks. */
#define OUTRUN_HOT_PAGES (16 * MIB / XLMIG_PAGE_SIZE - 1)

static void run_outrun(struct saver *s, struct xlmig_policy *policy, bool auto_converge,
		       struct xlmig_hv **hvp, uint32_t *idp, struct dirtier *dirtier)
{
	struct xlmig_policy_config cfg;
	struct reader r;
	int rfd;

	xlmig_policy_config_default(&cfg);
	cfg.auto_converge = auto_converge;
	cfg.throttle_step_pct = 50;
	cfg.downtime_max_ns = 150 * MS;
	xlmig_policy_init(policy, &cfg);
	s->rc = XLMIG_E_INVAL;
	if (xlmig_hv_open("sim", hvp) != XLMIG_OK ||
	    make_guest(*hvp, "hot", 64 * MIB, 200 * MIB, XLMIG_SIM_HOTSET, 16 * MIB, 100, idp) != XLMIG_OK)
		return;
	*dirtier = (struct dirtier){ .hv = *hvp, .domid = *idp, .pages = OUTRUN_HOT_PAGES };
	s->opts.progress = dirty_after_iteration;
	s->opts.progress_opaque = dirtier;
	rfd = start_save(s, *hvp, *idp, policy);
	if (rfd < 0 || start_reader(&r, rfd, 32 * MIB, false, dirtier) != 0)
		return;
	pthread_join(s->thread, NULL);
	pthread_join(r.thread, NULL);
}

TEST(sim_hv_outrun_without_auto_converge_aborts)
{
	struct xlmig_hv *hv = NULL;
	struct xlmig_policy policy;
	struct saver s = { 0 };
	struct dirtier dirtier;
	uint64_t c1;
	uint32_t id = 0;

	run_outrun(&s, &policy, false, &hv, &id, &dirtier);
	CHECK(hv != NULL);
	CHECK_OK(dirtier.rc);
	CHECK_EQ(s.rc, XLMIG_E_CONVERGE);
	CHECK(strstr(s.err, "did not converge") != NULL);
	CHECK_EQ(dom_state(hv, "hot"), XLMIG_DOM_RUNNING);
	CHECK_EQ(policy.throttle_pct, 0);
	CHECK_EQ(policy.iter[policy.n_iter - 1].decision, XLMIG_POLICY_ABORT);
	CHECK_OK(xlmig_hv_counter(hv, id, &c1));
	CHECK(counter_passes(hv, id, c1));
	xlmig_hv_close(hv);
}

TEST(sim_hv_outrun_with_auto_converge_throttles_and_converges)
{
	struct xlmig_hv *hv = NULL;
	struct xlmig_policy policy;
	struct saver s = { 0 };
	struct dirtier dirtier;
	unsigned steps = 0, last = 0;
	uint32_t id = 0;

	run_outrun(&s, &policy, true, &hv, &id, &dirtier);
	CHECK(hv != NULL);
	CHECK_OK(dirtier.rc);
	if (s.rc != XLMIG_OK)
		unit_fail(__FILE__, __LINE__, "save: %s", s.err);
	CHECK_OK(s.rc);
	CHECK_EQ(dom_state(hv, "hot"), XLMIG_DOM_SUSPENDED);
	for (unsigned i = 0; i < policy.n_iter; i++) {
		CHECK(policy.iter[i].throttle_pct >= last);
		steps += policy.iter[i].throttle_pct > last;
		last = policy.iter[i].throttle_pct;
	}
	CHECK(steps >= 1);
	CHECK_EQ(policy.iter[policy.n_iter - 1].decision, XLMIG_POLICY_STOP_AND_COPY);
	/* A resumed guest is no longer throttled: it writes at full rate. */
	CHECK_OK(hv->ops->resume(hv, id));
	xlmig_hv_close(hv);
}

/* ---- restore of damaged streams ---- */

/* A valid stream of an idle 64 MiB guest, kept in memory. */
static int good_stream(struct xlmig_buf *out, bool debug)
{
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	uint32_t id;
	int rfd, rc;

	rc = xlmig_hv_open("sim", &hv);
	if (rc == XLMIG_OK)
		rc = make_guest(hv, "src", 64 * MIB, 1 * MIB, XLMIG_SIM_UNIFORM, 0, 10, &id);
	if (rc != XLMIG_OK)
		return rc;
	s.opts.debug = debug;
	rfd = start_save(&s, hv, id, NULL);
	if (rfd < 0 || start_reader(&r, rfd, 0, true, NULL) != 0)
		return XLMIG_E_IO;
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	*out = r.keep;
	xlmig_hv_close(hv);
	return s.rc;
}

/* Restore from bytes (through a memfd); returns the restore's result and
 * checks that a failed restore left no domain. */
static int restore_bytes(const void *data, size_t len, struct xlmig_hv *dst, uint32_t *id)
{
	struct xlmig_restore_opts ropts = { .name = "dst" };
	int fd = memfd_create("stream", MFD_CLOEXEC), rc;

	if (fd < 0 || xlmig_write_full(fd, data, len) != XLMIG_OK || lseek(fd, 0, SEEK_SET) != 0)
		return XLMIG_E_IO;
	rc = dst->ops->restore(dst, fd, &ropts, id);
	close(fd);
	if (rc != XLMIG_OK && dom_count(dst) != 0)
		return 1000;   /* a partial guest was left behind */
	return rc;
}

/* Rewrite a stream item by item: the xl header with another config if
 * one is given, every other item through edit(), which may change a copy
 * (record bodies are edited as bytes, as they travel). */
struct rewrite {
	struct xlmig_buf out;
	struct xlmig_sink sink;
	const char *config;
	void (*edit)(struct xlmig_item *it, struct xlmig_buf *scratch);
	struct xlmig_buf scratch;
};

static int rewrite_item(void *opaque, const struct xlmig_item *it)
{
	struct rewrite *rw = opaque;
	struct xlmig_item copy = *it;

	if (it->kind == XLMIG_ITEM_XL_HEADER && rw->config)
		return xlmig_write_xl_header(&rw->sink, it->u.xl.mandatory_flags,
					     it->u.xl.optional_flags, rw->config,
					     (uint32_t)strlen(rw->config) + 1);
	xlmig_buf_reset(&rw->scratch);
	if (rw->edit)
		rw->edit(&copy, &rw->scratch);
	return xlmig_write_item(&rw->sink, &copy);
}

static int rewrite(const struct xlmig_buf *in, const char *config,
		   void (*edit)(struct xlmig_item *, struct xlmig_buf *),
		   struct xlmig_buf *out)
{
	struct rewrite rw = { .config = config, .edit = edit };
	struct xlmig_parser *p = xlmig_parser_new(rewrite_item, &rw);
	int rc;

	rw.sink = (struct xlmig_sink){ xlmig_sink_buf_write, &rw.out };
	rc = xlmig_parser_feed(p, in->data, in->len);
	if (rc == XLMIG_OK)
		rc = xlmig_parser_finish(p);
	xlmig_parser_free(p);
	xlmig_buf_free(&rw.scratch);
	*out = rw.out;
	return rc;
}

static const char config_too_big[] = "{\"c_info\":{\"type\":\"pvh\",\"name\":\"x\"},"
	"\"b_info\":{\"max_vcpus\":2,\"max_memkb\":17179869184},"
	"\"xlmig_sim\":{\"rate\":0,\"pattern\":\"uniform\",\"hot_bytes\":0,"
	"\"zero_pct\":0,\"file_pct\":0,\"fill_pct\":0,\"seed\":1}}";
static const char config_not_sim[] = "{\"c_info\":{\"type\":\"pvh\",\"name\":\"x\"},"
	"\"b_info\":{\"max_vcpus\":2,\"max_memkb\":65536}}";
static const char config_not_json[] = "(c_info (name x))";

/* A writable copy of a record body. */
static uint8_t *own_body(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	uint8_t *b = xlmig_buf_extend(scratch, it->body_len);

	memcpy(b, it->body, it->body_len);
	it->body = b;
	return b;
}

static bool is_rec(const struct xlmig_item *it, uint32_t type)
{
	return it->kind == XLMIG_ITEM_LIBXC_RECORD && it->type == type;
}

/* PAGE_DATA body: count, reserved, count pfns, then the pages. */
static void edit_pfn_beyond_memory(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	if (is_rec(it, XLMIG_REC_PAGE_DATA))
		xlmig_put_le64(own_body(it, scratch) + 8, 64 * MIB / XLMIG_PAGE_SIZE);
}

/* A pfn so far out that its page address would wrap the address space
 * (found by fuzz_xl_receive, then fuzz_xlcompat: the address was formed before the check). */
static void edit_pfn_far_beyond_memory(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	if (is_rec(it, XLMIG_REC_PAGE_DATA))
		xlmig_put_le64(own_body(it, scratch) + 8, XLMIG_PFN_MASK);
}

static void edit_vcpu_counter(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	if (is_rec(it, XLMIG_REC_HVM_CONTEXT)) {
		uint8_t *b = own_body(it, scratch);

		xlmig_put_le64(b + 24, xlmig_get_le64(b + 24) + 1);
	}
}

static void edit_drop_vcpu(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	/* Turn HVM_CONTEXT into an optional record a reader may skip. */
	if (is_rec(it, XLMIG_REC_HVM_CONTEXT))
		it->type = XLMIG_REC_OPTIONAL | 0x1234;
}

static void edit_unknown_mandatory(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	if (is_rec(it, XLMIG_REC_X86_TSC_INFO))
		it->type = XLMIG_REC_TOOLSTACK;
}

static void edit_short_tsc(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	if (is_rec(it, XLMIG_REC_X86_TSC_INFO))
		it->body_len = 16;
}

static void edit_verify_mismatch(struct xlmig_item *it, struct xlmig_buf *scratch)
{
	static bool verifying, done;

	if (is_rec(it, XLMIG_REC_VERIFY))
		verifying = true;
	if (verifying && !done && is_rec(it, XLMIG_REC_PAGE_DATA)) {
		uint8_t *b = own_body(it, scratch);

		b[8 + (size_t)xlmig_get_le32(b) * 8 + 100] ^= 0xff;
		done = true;
	}
}

TEST(sim_hv_restore_of_damaged_streams_leaves_nothing)
{
	struct xlmig_hv *dst;
	struct xlmig_buf good = { 0 }, bad = { 0 };
	uint32_t id;
	static const struct {
		const char *config;
		void (*edit)(struct xlmig_item *, struct xlmig_buf *);
		int want;
	} edits[] = {
		{ config_too_big, NULL, XLMIG_E_LIMIT },
		{ config_not_sim, NULL, XLMIG_E_UNSUPPORTED },
		{ config_not_json, NULL, XLMIG_E_FORMAT },
		{ NULL, edit_pfn_beyond_memory, XLMIG_E_FORMAT },
		{ NULL, edit_pfn_far_beyond_memory, XLMIG_E_FORMAT },
		{ NULL, edit_vcpu_counter, XLMIG_E_FORMAT },
		{ NULL, edit_drop_vcpu, XLMIG_E_FORMAT },
		{ NULL, edit_unknown_mandatory, XLMIG_E_UNSUPPORTED },
		{ NULL, edit_short_tsc, XLMIG_E_FORMAT },
	};

	CHECK_OK(good_stream(&good, false));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	/* The stream itself restores, and rewriting it unchanged is exact. */
	CHECK_OK(restore_bytes(good.data, good.len, dst, &id));
	CHECK_OK(dst->ops->destroy(dst, id));
	CHECK_OK(rewrite(&good, NULL, NULL, &bad));
	CHECK_EQ(bad.len, good.len);
	CHECK(memcmp(bad.data, good.data, good.len) == 0);
	xlmig_buf_free(&bad);

	/* Cut short anywhere: truncated, nothing left. */
	size_t cuts[] = { 10, 100, 4096, good.len / 2, good.len - 8, good.len - 1 };
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(cuts); i++) {
		int rc = restore_bytes(good.data, cuts[i], dst, &id);

		if (rc != XLMIG_E_TRUNCATED)
			unit_fail(__FILE__, __LINE__, "cut at %zu: %d (%s)", cuts[i], rc, xlmig_errmsg());
		CHECK_EQ(rc, XLMIG_E_TRUNCATED);
	}
	/* Garbage is refused at once. */
	CHECK_EQ(restore_bytes("not a stream at all, not at all", 32, dst, &id), XLMIG_E_FORMAT);

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(edits); i++) {
		int rc;

		CHECK_OK(rewrite(&good, edits[i].config, edits[i].edit, &bad));
		rc = restore_bytes(bad.data, bad.len, dst, &id);
		if (rc != edits[i].want)
			unit_fail(__FILE__, __LINE__, "edit %zu: %d (%s)", i, rc, xlmig_errmsg());
		CHECK_EQ(rc, edits[i].want);
		xlmig_buf_free(&bad);
	}
	CHECK_EQ(dom_count(dst), 0);
	xlmig_buf_free(&good);
	xlmig_hv_close(dst);
}

TEST(sim_hv_debug_save_sends_verify_pages)
{
	struct xlmig_hv *dst;
	struct xlmig_buf good = { 0 }, bad = { 0 };
	uint32_t id;

	CHECK_OK(good_stream(&good, true));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(restore_bytes(good.data, good.len, dst, &id));
	CHECK_OK(dst->ops->destroy(dst, id));
	CHECK_OK(rewrite(&good, NULL, edit_verify_mismatch, &bad));
	CHECK_EQ(restore_bytes(bad.data, bad.len, dst, &id), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "VERIFY") != NULL);
	CHECK_EQ(dom_count(dst), 0);
	xlmig_buf_free(&good);
	xlmig_buf_free(&bad);
	xlmig_hv_close(dst);
}

TEST(sim_hv_restore_refuses_a_taken_name_before_reading)
{
	struct xlmig_hv *hv;
	struct xlmig_restore_opts ropts = { .name = "taken" };
	uint32_t id, newid;
	int p[2];

	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "taken", 64 * MIB, 0, XLMIG_SIM_UNIFORM, 0, 0, &id));
	CHECK_EQ(pipe(p), 0);
	/* Nothing is ever written: a restore that read would block. */
	CHECK_EQ(hv->ops->restore(hv, p[0], &ropts, &newid), XLMIG_E_EXISTS);
	close(p[0]);
	close(p[1]);
	CHECK_EQ(dom_count(hv), 1);
	xlmig_hv_close(hv);
}

TEST(sim_hv_xen_policy_stops_after_five_iterations)
{
	struct xlmig_policy_config cfg;
	struct xlmig_policy policy;
	struct xlmig_hv *hv;
	struct reader r;
	struct saver s = { 0 };
	struct dirtier dirtier;
	uint32_t id;
	int rfd;

	xlmig_policy_config_default(&cfg);
	cfg.kind = XLMIG_POLICY_KIND_XEN;
	xlmig_policy_init(&policy, &cfg);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	/* Far more than 50 pages are dirty after every pass (the guest
	 * rewrites 256 during the first and after each): only the iteration
	 * count ends it. */
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, 200 * MIB, XLMIG_SIM_HOTSET, 16 * MIB, 100, &id));
	dirtier = (struct dirtier){ .hv = hv, .domid = id, .pages = 256 };
	s.opts.progress = dirty_after_iteration;
	s.opts.progress_opaque = &dirtier;
	rfd = start_save(&s, hv, id, &policy);
	CHECK(rfd >= 0);
	CHECK_EQ(start_reader(&r, rfd, 64 * MIB, false, &dirtier), 0);
	pthread_join(s.thread, NULL);
	pthread_join(r.thread, NULL);
	CHECK_OK(s.rc);
	CHECK_OK(dirtier.rc);
	CHECK_EQ(policy.n_iter, 5);
	CHECK(policy.iter[3].dirty_after >= 50);
	CHECK_EQ(policy.iter[4].decision, XLMIG_POLICY_STOP_AND_COPY);
	CHECK(strstr(policy.reason, "5 iterations") != NULL);
	CHECK_EQ(s.res.iterations, 6);   /* five passes and the final one */
	CHECK_EQ(policy.throttle_pct, 0);
	xlmig_hv_close(hv);
}
