/*
 * test_job.c - the migration jobs and their commit protocol (job.h),
 * end to end over a loopback session between two in-process "hosts",
 * each with a scripted hypervisor backend that can be told to fail at
 * any step, and the recovery of half-done jobs from the journal.
 */
#include "conn.h"
#include "job.h"
#include "journal.h"
#include "json.h"
#include "preflight_facts.h"
#include "stream_gen.h"
#include "unit.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a scripted backend: domains are names and states ---- */

#define FAKE_MAX 8

struct fake_dom {
	bool used;
	uint32_t domid;
	char name[XLMIG_NAME_MAX];
	enum xlmig_dom_state state;
	uint64_t mem;
};

struct fake_hv {
	struct xlmig_hv hv;
	struct fake_dom doms[FAKE_MAX];
	uint32_t next_domid;
	bool fail_save, fail_restore, fail_unpause, fail_rename;
	bool hold_save;     /* save waits (in pre-copy) until cancelled */
	bool policy_pass;   /* save asks the policy once, as a real one does */
	atomic_bool hold_lookup;  /* lookups wait while set (a wedged toolstack) */
	bool refuse_domid;  /* restore refuses -D at once, as the sim backend */
	unsigned resumes;
	/* What the source's facts add: a disk path and a bridge. */
	const char *fact_disk, *fact_bridge;
	/* --verify: the memory digest (every domain's) and counter this
	 * backend reports; the counter op exists only with has_counter. */
	uint8_t digest[32];
	uint64_t counter;
	/* What the job asked of the backend (xl's -d, -C, -D). */
	bool save_debug, save_preserve_domid, restore_debug;
	char save_config[128];
	uint32_t restore_domid;
};

static struct fake_dom *find(struct fake_hv *f, const char *name_or_id)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (f->doms[i].used && (!strcmp(f->doms[i].name, name_or_id) ||
					(unsigned)atoi(name_or_id) == f->doms[i].domid))
			return &f->doms[i];
	return NULL;
}

static struct fake_dom *by_id(struct fake_hv *f, uint32_t domid)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (f->doms[i].used && f->doms[i].domid == domid)
			return &f->doms[i];
	return NULL;
}

static struct fake_dom *add(struct fake_hv *f, const char *name, enum xlmig_dom_state st)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (!f->doms[i].used) {
			struct fake_dom *d = &f->doms[i];
			*d = (struct fake_dom){ .used = true, .domid = f->next_domid++, .state = st,
						.mem = 4 << 20 };
			snprintf(d->name, sizeof(d->name), "%s", name);
			return d;
		}
	return NULL;
}

static struct fake_hv *F(struct xlmig_hv *hv) { return (struct fake_hv *)hv; }

static void f_close(struct xlmig_hv *hv) { (void)hv; }

static int f_list(struct xlmig_hv *hv, struct xlmig_domain_info **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return XLMIG_OK;
}

static int f_lookup(struct xlmig_hv *hv, const char *name, struct xlmig_domain_info *out)
{
	struct fake_dom *d;

	while (atomic_load(&F(hv)->hold_lookup))
		usleep(5000);
	d = find(F(hv), name);

	if (!d)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no domain %s", name);
	memset(out, 0, sizeof(*out));
	out->domid = d->domid;
	snprintf(out->name, sizeof(out->name), "%s", d->name);
	out->mem_bytes = d->mem;
	out->vcpus = 1;
	out->state = d->state;
	return XLMIG_OK;
}

static int f_save(struct xlmig_hv *hv, uint32_t domid, int fd, const struct xlmig_save_opts *o,
		  struct xlmig_save_result *res)
{
	struct xlmig_gen_params p;
	struct xlmig_sink sink = { .write = xlmig_sink_fd_write, .opaque = &fd };
	struct fake_dom *d = by_id(F(hv), domid);
	int rc;

	if (o->cancel && *o->cancel)
		return xlmig_fail(XLMIG_E_CANCELLED, "save cancelled");
	F(hv)->save_debug = o->debug;
	F(hv)->save_preserve_domid = o->preserve_domid;
	snprintf(F(hv)->save_config, sizeof(F(hv)->save_config), "%s",
		 o->config_override ? o->config_override : "");
	if (F(hv)->fail_save)
		return xlmig_fail(XLMIG_E_HV, "scripted save failure");
	/* Held until the test cancels (a minute at most: a loaded machine
	 * can take long to get the job to its cancel). */
	for (int i = 0; F(hv)->hold_save && i < 6000; i++) {
		if (*o->cancel)
			return xlmig_fail(XLMIG_E_CANCELLED, "save cancelled");
		usleep(10000);
	}
	xlmig_gen_defaults(&p);
	p.pages = 256;
	if (F(hv)->policy_pass && o->policy) {
		struct xlmig_policy_stats ps = { .iteration = 1, .total_written = 256,
						 .dirty_count = 0 };

		xlmig_policy_start(o->policy);
		xlmig_policy_decide(o->policy, &ps);
		if (o->progress && o->policy->n_iter)
			o->progress(o->progress_opaque, &o->policy->iter[o->policy->n_iter - 1],
				    p.pages);
	}
	d->state = XLMIG_DOM_SUSPENDED;
	memset(res, 0, sizeof(*res));
	res->paused_at_ns = xlmig_now_ns();
	res->pages_total = p.pages;
	rc = xlmig_gen_stream(&p, &sink);
	if (rc)
		d->state = XLMIG_DOM_RUNNING;  /* as a backend must on failure */
	return rc;
}

static int f_restore(struct xlmig_hv *hv, int fd, const struct xlmig_restore_opts *o,
		     uint32_t *domid)
{
	char buf[65536];
	ssize_t n;

	F(hv)->restore_debug = o->debug;
	F(hv)->restore_domid = o->domid;
	if (F(hv)->refuse_domid && o->domid)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "scripted refusal of domain id %u", o->domid);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (F(hv)->fail_restore)
		return xlmig_fail(XLMIG_E_HV, "scripted restore failure");
	*domid = add(F(hv), o->name, XLMIG_DOM_PAUSED)->domid;
	return XLMIG_OK;
}

static int f_pause(struct xlmig_hv *hv, uint32_t domid)
{
	by_id(F(hv), domid)->state = XLMIG_DOM_PAUSED;
	return XLMIG_OK;
}

static int f_unpause(struct xlmig_hv *hv, uint32_t domid)
{
	if (F(hv)->fail_unpause)
		return xlmig_fail(XLMIG_E_HV, "scripted unpause failure");
	by_id(F(hv), domid)->state = XLMIG_DOM_RUNNING;
	return XLMIG_OK;
}

static int f_rename(struct xlmig_hv *hv, uint32_t domid, const char *name)
{
	if (F(hv)->fail_rename)
		return xlmig_fail(XLMIG_E_HV, "scripted rename failure");
	snprintf(by_id(F(hv), domid)->name, XLMIG_NAME_MAX, "%s", name);
	return XLMIG_OK;
}

static int f_destroy(struct xlmig_hv *hv, uint32_t domid)
{
	by_id(F(hv), domid)->used = false;
	return XLMIG_OK;
}

static int f_resume(struct xlmig_hv *hv, uint32_t domid)
{
	by_id(F(hv), domid)->state = XLMIG_DOM_RUNNING;
	F(hv)->resumes++;
	return XLMIG_OK;
}

static int f_throttle(struct xlmig_hv *hv, uint32_t domid, unsigned pct) { return XLMIG_OK; }

/* A guest needs its memory; the fake host has 1 TiB free. */
static int f_preflight_guest(struct xlmig_hv *hv, const char *domain, struct xlmig_preflight_guest *g)
{
	struct xlmig_domain_info di;
	int rc = f_lookup(hv, domain, &di);

	if (!rc) {
		memcpy(g->name, di.name, sizeof(g->name));
		g->need_bytes = di.mem_bytes;
	}
	if (!rc && F(hv)->fact_disk)
		rc = xlmig_preflight_add_disk(g, F(hv)->fact_disk);
	if (!rc && F(hv)->fact_bridge)
		rc = xlmig_preflight_add_bridge(g, F(hv)->fact_bridge);
	return rc;
}

static int f_preflight_host(struct xlmig_hv *hv, struct xlmig_preflight_host *h)
{
	h->free_bytes = 1ull << 40;
	return XLMIG_OK;
}

/* Every fake's ops; the variants below add optional ones. */
#define FAKE_OPS                                                                          \
	.keeps_domid = true, .preflight_guest = f_preflight_guest,                        \
	.preflight_host = f_preflight_host, .close = f_close, .list = f_list, .lookup = f_lookup, \
	.save_live = f_save, .restore = f_restore, .pause = f_pause, .unpause = f_unpause, \
	.rename = f_rename, .destroy = f_destroy, .resume = f_resume, .set_throttle = f_throttle

static const struct xlmig_hv_ops fake_ops = { .name = "fake", FAKE_OPS };

static int f_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32])
{
	memcpy(out, F(hv)->digest, 32);
	return XLMIG_OK;
}

static int f_counter(struct xlmig_hv *hv, uint32_t domid, uint64_t *out)
{
	*out = F(hv)->counter;
	return XLMIG_OK;
}

/* The fake with a memory digest, with or without a counter (xen has no
 * counter, the sim both). */
static const struct xlmig_hv_ops fake_digest_ops = {
	.name = "fake-digest", FAKE_OPS, .mem_digest = f_digest,
};
static const struct xlmig_hv_ops fake_digest_counter_ops = {
	.name = "fake-digest-counter", FAKE_OPS, .mem_digest = f_digest, .counter = f_counter,
};

/* ---- two hosts ---- */

struct host {
	struct fake_hv fake;
	struct xlmig_journal *journal;
	struct xlmig_job_env env;
};

struct world {
	struct host src, dst;
	pthread_mutex_t hv_lock;
	struct xlmig_key key;
	int listen_fd;
	uint16_t port;
};

static int host_init(struct host *h, const char *dir)
{
	memset(h, 0, sizeof(*h));
	h->fake.hv.ops = &fake_ops;
	h->fake.next_domid = 1;
	h->env.hv = &h->fake.hv;
	if (mkdir(dir, 0700) != 0)
		return XLMIG_E_IO;
	return xlmig_journal_open(dir, &h->journal);
}

static int world_init(struct world *w)
{
	char a[512], b[512];
	int rc;

	memset(w, 0, sizeof(*w));
	snprintf(a, sizeof(a), "%s/a", unit_tmpdir());
	snprintf(b, sizeof(b), "%s/b", unit_tmpdir());
	if ((rc = host_init(&w->src, a)) || (rc = host_init(&w->dst, b)))
		return rc;
	w->key.len = 32;
	memset(w->key.bytes, 0x5a, 32);
	w->src.env.journal = w->src.journal;
	w->dst.env.journal = w->dst.journal;
	w->src.env.key = w->dst.env.key = &w->key;
	w->src.env.insecure = w->dst.env.insecure = true;
	add(&w->src.fake, "vm", XLMIG_DOM_RUNNING);
	return xlmig_tcp_listen("127.0.0.1", "0", &w->listen_fd, &w->port);
}

/* One host migrating to itself, as one xlmigd does: both jobs share the
 * backend, its lock and the journal (and so the host id). */
static int world_init_local(struct world *w)
{
	int rc = world_init(w);

	pthread_mutex_init(&w->hv_lock, NULL);
	w->src.env.hv_lock = &w->hv_lock;
	w->dst.env = w->src.env;
	return rc;
}

static void world_fini(struct world *w)
{
	close(w->listen_fd);
	xlmig_journal_close(w->src.journal);
	xlmig_journal_close(w->dst.journal);
}

struct dest_run {
	struct world *w;
	int rc;
	struct xlmig_job_record rec;
	struct xlmig_job *job;          /* while it runs (atomic) */
};

static void *dest_main(void *arg)
{
	struct dest_run *d = arg;
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn;
	struct xlmig_job *job;

	xlmig_conn_opts_default(&co);
	co.insecure = true;  /* plain on loopback */
	d->rc = xlmig_conn_listen_accept(d->w->listen_fd, &co, &d->w->key, &conn);
	if (d->rc)
		return NULL;
	d->rc = xlmig_job_new_dest(&d->w->dst.env, conn, "test", &job);
	if (d->rc)
		return NULL;
	__atomic_store_n(&d->job, job, __ATOMIC_RELEASE);
	d->rc = xlmig_job_run(job);
	__atomic_store_n(&d->job, NULL, __ATOMIC_RELEASE);
	xlmig_job_get_record(job, &d->rec);
	xlmig_job_free(job);
	return NULL;
}

struct src_run {
	struct xlmig_job *job;
	int rc;
};

static void *src_main(void *arg)
{
	struct src_run *r = arg;

	r->rc = xlmig_job_run(r->job);
	return NULL;
}

static void test_opts(struct world *w, struct xlmig_migrate_opts *o)
{
	xlmig_migrate_opts_default(o);
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->port = w->port;
	o->channels = 2;
}

/* Migrate "vm" from src to dst with o; returns the source job's result
 * and, if st is not NULL, its statistics. */
static int migrate_with(struct world *w, const struct xlmig_migrate_opts *o,
			struct xlmig_job_record *src_rec, struct dest_run *d,
			bool cancel_first, struct xlmig_job_stats *st)
{
	struct xlmig_job *job;
	pthread_t tid;
	int rc;

	*d = (struct dest_run){ .w = w };
	if (!cancel_first)
		pthread_create(&tid, NULL, dest_main, d);
	rc = xlmig_job_new_source(&w->src.env, "vm", o, &job);
	if (!rc) {
		if (cancel_first)
			xlmig_job_cancel(job);
		rc = xlmig_job_run(job);
		xlmig_job_get_record(job, src_rec);
		if (st)
			*st = *xlmig_job_stats(job);
		xlmig_job_free(job);
	}
	if (!cancel_first)
		pthread_join(tid, NULL);
	return rc;
}

static int migrate(struct world *w, struct xlmig_job_record *src_rec, struct dest_run *d,
		   bool cancel_first)
{
	struct xlmig_migrate_opts o;

	test_opts(w, &o);
	return migrate_with(w, &o, src_rec, d, cancel_first, NULL);
}

static int count_domains(struct fake_hv *f)
{
	int n = 0;

	for (int i = 0; i < FAKE_MAX; i++)
		n += f->doms[i].used;
	return n;
}

/* A source adds what its host's windows took beyond the prediction to
 * every prediction, and after DONE moves that figure halfway to what its
 * own window left unpredicted. */
TEST(job_learns_what_the_window_takes_beyond_the_prediction)
{
	struct world w;
	struct xlmig_job_record src;
	struct xlmig_job_stats st;
	struct xlmig_migrate_opts o;
	struct dest_run d;
	_Atomic uint64_t learned = 250 * 1000000ull;
	uint64_t predicted, modelled, missed;

	CHECK_OK(world_init(&w));
	w.src.fake.policy_pass = true;
	w.src.env.window_learned_ns = &learned;
	test_opts(&w, &o);
	CHECK_OK(migrate_with(&w, &o, &src, &d, false, &st));
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK_EQ(st.window_learned_ns, 250 * 1000000ull);
	CHECK_INT(st.n_iter, >=, 1);
	predicted = st.iter[st.n_iter - 1].predicted_downtime_ns;
	CHECK_INT(predicted, >=, 250 * 1000000ull);   /* counted in the prediction */
	modelled = predicted - 250 * 1000000ull;
	missed = st.downtime_ns > modelled ? st.downtime_ns - modelled : 0;
	CHECK_EQ(atomic_load(&learned), (250 * 1000000ull + missed) / 2);
	/* and kept for the next daemon */
	uint64_t kept = 0;
	CHECK_OK(xlmig_journal_get_u64(w.src.journal, XLMIG_WINDOW_LEARNED_KEY, &kept));
	CHECK_EQ(kept, atomic_load(&learned));
	world_fini(&w);
}

TEST(job_migrate_commits)
{
	struct world w;
	struct xlmig_job_record src, stored;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	CHECK_OK(migrate(&w, &src, &d, false));
	CHECK_OK(d.rc);
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK_EQ(d.rec.step, XLMIG_STEP_DONE);
	/* Exactly one copy, running, under its own name, on the destination. */
	CHECK_EQ(count_domains(&w.src.fake), 0);
	CHECK_EQ(count_domains(&w.dst.fake), 1);
	CHECK_OK(f_lookup(&w.dst.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_journal_get(w.src.journal, src.id, &stored));
	CHECK_EQ(stored.step, XLMIG_STEP_DONE);
	CHECK_OK(xlmig_journal_get(w.dst.journal, d.rec.id, &stored));
	CHECK_EQ(stored.step, XLMIG_STEP_DONE);
	CHECK_STR(stored.domain, "vm");
	world_fini(&w);
}

/* migrate --verify between fakes with ops, each end reporting its digest
 * (32 bytes of dsrc, of ddst) and counter; the result, and the guest is
 * in exactly one place: running on the destination, or on the source. */
static int migrate_verified(const struct xlmig_hv_ops *ops, uint8_t dsrc, uint8_t ddst,
			    uint64_t csrc, uint64_t cdst)
{
	struct world w;
	struct dest_run d;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct xlmig_domain_info di;
	int rc;

	if ((rc = world_init(&w)))
		return rc;
	w.src.fake.hv.ops = w.dst.fake.hv.ops = ops;
	memset(w.src.fake.digest, dsrc, 32);
	memset(w.dst.fake.digest, ddst, 32);
	w.src.fake.counter = csrc;
	w.dst.fake.counter = cdst;
	test_opts(&w, &o);
	o.verify = true;
	rc = migrate_with(&w, &o, &src, &d, false, NULL);
	if (f_lookup(rc ? &w.src.fake.hv : &w.dst.fake.hv, "vm", &di) ||
	    di.state != XLMIG_DOM_RUNNING || count_domains(rc ? &w.dst.fake : &w.src.fake))
		unit_fail(__FILE__, __LINE__, "the guest is not in exactly one place, running");
	world_fini(&w);
	return rc;
}

/* Xen's backend digests memory but keeps no counter: --verify rests on
 * the digest alone there (counters that would differ are never read). */
TEST(job_verify_without_a_counter_uses_the_digest)
{
	CHECK_OK(migrate_verified(&fake_digest_ops, 0xab, 0xab, 1, 2));
}

TEST(job_verify_without_a_counter_refuses_other_digests)
{
	CHECK_EQ(migrate_verified(&fake_digest_ops, 0xab, 0xcd, 0, 0), XLMIG_E_PEER);
	CHECK(strstr(xlmig_errmsg(), "memory digest") != NULL);
}

/* Where both ends keep a counter (sim), it must agree as well. */
TEST(job_verify_with_counters_uses_both)
{
	CHECK_OK(migrate_verified(&fake_digest_counter_ops, 0xab, 0xab, 7, 7));
}

TEST(job_verify_with_counters_refuses_other_counters)
{
	CHECK_EQ(migrate_verified(&fake_digest_counter_ops, 0xab, 0xab, 7, 8), XLMIG_E_PEER);
	CHECK(strstr(xlmig_errmsg(), "counter 7 vs 8") != NULL);
}

static void check_source_kept(struct world *w)
{
	struct xlmig_domain_info di;

	CHECK_OK(f_lookup(&w->src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(count_domains(&w->dst.fake), 0);
}

TEST(job_restore_failure_rolls_back)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	w.dst.fake.fail_restore = true;
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	CHECK_EQ(w.src.fake.resumes, 1);
	check_source_kept(&w);
	if (unit_failed())
		return;
	CHECK(strstr(src.message, "scripted restore failure") != NULL);
	world_fini(&w);
}

TEST(job_start_failure_after_go_gives_guest_back)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	_Atomic uint64_t learned = 250 * 1000000ull;
	uint64_t kept;

	CHECK_OK(world_init(&w));
	w.dst.fake.fail_unpause = true;
	w.src.fake.policy_pass = true;
	w.src.env.window_learned_ns = &learned;
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	/* As xl: the destination destroyed its copy, the source resumed. */
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	check_source_kept(&w);
	/* A window that did not end with the guest running teaches nothing. */
	CHECK_EQ(atomic_load(&learned), 250 * 1000000ull);
	CHECK_EQ(xlmig_journal_get_u64(w.src.journal, XLMIG_WINDOW_LEARNED_KEY, &kept),
		 XLMIG_E_NOTFOUND);
	world_fini(&w);
}

TEST(job_preflight_refuses_name_in_use)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	add(&w.dst.fake, "vm", XLMIG_DOM_RUNNING);
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK(strstr(src.message, "already exists") != NULL);
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	/* The save never started: nothing to resume. */
	CHECK_EQ(w.src.fake.resumes, 0);
	CHECK_EQ(count_domains(&w.dst.fake), 1);
	world_fini(&w);
}

TEST(job_localhost_migration_commits)
{
	struct world w;
	struct xlmig_job_record src, stored;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init_local(&w));
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.domid, 1);
	CHECK_OK(migrate(&w, &src, &d, false));
	CHECK_OK(d.rc);
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK_EQ(d.rec.step, XLMIG_STEP_DONE);
	/* One copy, the new one, running under the name; the old one is gone. */
	CHECK_EQ(count_domains(&w.src.fake), 1);
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK(di.domid != 1);
	CHECK_EQ(di.domid, d.rec.domid);
	CHECK_EQ(w.src.fake.resumes, 0);
	/* Two records in one journal, one per side, both finished. */
	CHECK(strcmp(src.id, d.rec.id) != 0);
	CHECK_OK(xlmig_journal_get(w.src.journal, src.id, &stored));
	CHECK_EQ(stored.role, XLMIG_ROLE_SOURCE);
	CHECK_EQ(stored.step, XLMIG_STEP_DONE);
	CHECK_OK(xlmig_journal_get(w.src.journal, d.rec.id, &stored));
	CHECK_EQ(stored.role, XLMIG_ROLE_DEST);
	CHECK_EQ(stored.step, XLMIG_STEP_DONE);
	world_fini(&w);
}

TEST(job_same_host_refuses_a_name_held_by_another_domain)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;
	struct xlmig_domain_info di;

	/* Same host id, but the destination's "vm" is not the source's
	 * domain (another id): the name is taken. */
	CHECK_OK(world_init(&w));
	w.dst.env.journal = w.src.journal;
	add(&w.dst.fake, "other", XLMIG_DOM_RUNNING);
	add(&w.dst.fake, "vm", XLMIG_DOM_RUNNING);
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK(strstr(src.message, "already exists") != NULL);
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(count_domains(&w.dst.fake), 2);
	world_fini(&w);
}

TEST(job_host_id_is_stable_and_per_host)
{
	struct world w;
	char a[XLMIG_HOST_ID_LEN + 1], again[XLMIG_HOST_ID_LEN + 1], b[XLMIG_HOST_ID_LEN + 1];
	char dir[512];

	CHECK_OK(world_init(&w));
	CHECK_OK(xlmig_journal_host_id(w.src.journal, a));
	CHECK_EQ(strlen(a), XLMIG_HOST_ID_LEN);
	CHECK_EQ(strspn(a, "0123456789abcdef"), XLMIG_HOST_ID_LEN);
	CHECK_OK(xlmig_journal_host_id(w.dst.journal, b));
	CHECK(strcmp(a, b) != 0);
	/* Kept in the state file: the same after a restart. */
	xlmig_journal_close(w.src.journal);
	snprintf(dir, sizeof(dir), "%s/a", unit_tmpdir());
	CHECK_OK(xlmig_journal_open(dir, &w.src.journal));
	CHECK_OK(xlmig_journal_host_id(w.src.journal, again));
	CHECK_STR(again, a);
	world_fini(&w);
}

static void put_local(struct host *h, const char *id, enum xlmig_job_role role,
		      enum xlmig_job_step step, const char *domain)
{
	struct xlmig_job_record r = { .role = role, .step = step };

	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.domain, sizeof(r.domain), "%s", domain);
	xlmig_journal_put(h->journal, &r);
}

TEST(job_recover_localhost_pairs_in_one_journal)
{
	struct host h;
	struct xlmig_job_record r;
	struct xlmig_domain_info di;
	char dir[512];
	unsigned n = 0;

	snprintf(dir, sizeof(dir), "%s/h", unit_tmpdir());
	CHECK_OK(host_init(&h, dir));
	h.env.journal = h.journal;
	/* Before GO: the source's copy comes back, the new one goes. */
	add(&h.fake, "a--migratedaway", XLMIG_DOM_SUSPENDED);
	add(&h.fake, "a--incoming", XLMIG_DOM_PAUSED);
	put_local(&h, "1", XLMIG_ROLE_SOURCE, XLMIG_STEP_READY, "a");
	put_local(&h, "2", XLMIG_ROLE_DEST, XLMIG_STEP_READY, "a");
	/* After GO: the new copy takes the name and runs; the old one is
	 * left stopped under its away name for the administrator. */
	add(&h.fake, "b--migratedaway", XLMIG_DOM_SUSPENDED);
	add(&h.fake, "b--incoming", XLMIG_DOM_PAUSED);
	put_local(&h, "3", XLMIG_ROLE_SOURCE, XLMIG_STEP_GO, "b");
	put_local(&h, "4", XLMIG_ROLE_DEST, XLMIG_STEP_GO, "b");

	CHECK_OK(xlmig_job_recover(&h.env, &n));
	CHECK_EQ(n, 4);
	CHECK_OK(f_lookup(&h.fake.hv, "a", &di));
	CHECK_EQ(di.domid, 1);
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK(find(&h.fake, "a--incoming") == NULL);
	CHECK_OK(f_lookup(&h.fake.hv, "b", &di));
	CHECK_EQ(di.domid, 4);
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_OK(f_lookup(&h.fake.hv, "b--migratedaway", &di));
	CHECK_EQ(di.state, XLMIG_DOM_SUSPENDED);
	CHECK_EQ(count_domains(&h.fake), 3);
	CHECK_OK(xlmig_journal_get(h.journal, "3", &r));
	CHECK_EQ(r.step, XLMIG_STEP_UNKNOWN);
	CHECK_OK(xlmig_journal_get(h.journal, "4", &r));
	CHECK_EQ(r.step, XLMIG_STEP_DONE);
	xlmig_journal_close(h.journal);
}

TEST(job_save_failure_leaves_guest_running)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	w.src.fake.fail_save = true;
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK(d.rec.step == XLMIG_STEP_FAILED || d.rec.step == XLMIG_STEP_CANCELLED);
	check_source_kept(&w);
	world_fini(&w);
}

TEST(job_cancel_before_start)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	CHECK_EQ(migrate(&w, &src, &d, true), XLMIG_E_CANCELLED);
	CHECK_EQ(src.step, XLMIG_STEP_CANCELLED);
	check_source_kept(&w);
	world_fini(&w);
}

static void put(struct host *h, const char *id, enum xlmig_job_role role,
		enum xlmig_job_step step)
{
	struct xlmig_job_record r = { .role = role, .step = step };

	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.domain, sizeof(r.domain), "vm%s", id);
	xlmig_journal_put(h->journal, &r);
}

TEST(job_recover_rolls_back_or_finishes)
{
	struct host h;
	struct xlmig_job_record r;
	struct xlmig_domain_info di;
	char dir[512];
	unsigned n = 0;

	snprintf(dir, sizeof(dir), "%s/h", unit_tmpdir());
	CHECK_OK(host_init(&h, dir));
	h.env.journal = h.journal;
	/* 1: source suspended and renamed away before GO -> back, running */
	add(&h.fake, "vm1--migratedaway", XLMIG_DOM_SUSPENDED);
	put(&h, "1", XLMIG_ROLE_SOURCE, XLMIG_STEP_READY);
	/* 2: destination holding a paused copy before GO -> destroyed */
	add(&h.fake, "vm2--incoming", XLMIG_DOM_PAUSED);
	put(&h, "2", XLMIG_ROLE_DEST, XLMIG_STEP_READY);
	/* 3: destination after GO -> takes the name and runs */
	add(&h.fake, "vm3--incoming", XLMIG_DOM_PAUSED);
	put(&h, "3", XLMIG_ROLE_DEST, XLMIG_STEP_GO);
	/* 4: source after GO -> unknown, copy left alone */
	add(&h.fake, "vm4--migratedaway", XLMIG_DOM_SUSPENDED);
	put(&h, "4", XLMIG_ROLE_SOURCE, XLMIG_STEP_GO);
	/* 5: finished long ago -> untouched */
	put(&h, "5", XLMIG_ROLE_SOURCE, XLMIG_STEP_DONE);

	CHECK_OK(xlmig_job_recover(&h.env, &n));
	CHECK_EQ(n, 4);
	CHECK_OK(f_lookup(&h.fake.hv, "vm1", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_journal_get(h.journal, "1", &r));
	CHECK_EQ(r.step, XLMIG_STEP_FAILED);
	CHECK(find(&h.fake, "vm2--incoming") == NULL);
	CHECK_OK(xlmig_journal_get(h.journal, "2", &r));
	CHECK_EQ(r.step, XLMIG_STEP_FAILED);
	CHECK_OK(f_lookup(&h.fake.hv, "vm3", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_journal_get(h.journal, "3", &r));
	CHECK_EQ(r.step, XLMIG_STEP_DONE);
	CHECK_OK(f_lookup(&h.fake.hv, "vm4--migratedaway", &di));
	CHECK_EQ(di.state, XLMIG_DOM_SUSPENDED);
	CHECK_OK(xlmig_journal_get(h.journal, "4", &r));
	CHECK_EQ(r.step, XLMIG_STEP_UNKNOWN);
	/* A second start has nothing left to do. */
	CHECK_OK(xlmig_job_recover(&h.env, &n));
	CHECK_EQ(n, 0);
	xlmig_journal_close(h.journal);
}

/* A hypervisor that does not answer cannot keep xlmigd from serving:
 * recovery gives up on the job after its time, says what to check, and
 * journals the real outcome once the hypervisor answers after all. */
TEST(job_recover_is_bounded_when_the_hypervisor_hangs)
{
	struct host h;
	struct xlmig_job_record r;
	struct xlmig_domain_info di;
	char dir[512];
	unsigned n = 0;
	uint64_t t0;

	snprintf(dir, sizeof(dir), "%s/h", unit_tmpdir());
	CHECK_OK(host_init(&h, dir));
	h.env.journal = h.journal;
	h.env.recover_timeout_ms = 300;
	add(&h.fake, "vm1--migratedaway", XLMIG_DOM_SUSPENDED);
	put(&h, "1", XLMIG_ROLE_SOURCE, XLMIG_STEP_PRECOPY);
	atomic_store(&h.fake.hold_lookup, true);

	t0 = xlmig_now_ns();
	CHECK_OK(xlmig_job_recover(&h.env, &n));
	CHECK_EQ(n, 1);
	CHECK((xlmig_now_ns() - t0) / 1000000 < 5000);
	CHECK_OK(xlmig_journal_get(h.journal, "1", &r));
	CHECK_EQ(r.step, XLMIG_STEP_UNKNOWN);
	CHECK(strstr(r.message, "did not finish") != NULL);
	CHECK(strstr(r.message, "looking up domain vm1--migratedaway") != NULL);
	CHECK(strstr(r.message, "xl list") != NULL);

	/* The hypervisor answers at last: the rollback completes and its
	 * outcome replaces the record. */
	atomic_store(&h.fake.hold_lookup, false);
	for (int i = 0; i < 1000; i++) {
		CHECK_OK(xlmig_journal_get(h.journal, "1", &r));
		if (r.step != XLMIG_STEP_UNKNOWN)
			break;
		usleep(10000);
	}
	CHECK_EQ(r.step, XLMIG_STEP_FAILED);
	CHECK(strstr(r.message, "rolled back") != NULL);
	CHECK_OK(f_lookup(&h.fake.hv, "vm1", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	xlmig_journal_close(h.journal);
}

/* A destination that sent READY has left the decision to the source: a
 * cancel there once GO may be on its way would roll back a copy the
 * source already gave up (found by the fault matrix, ready x
 * peer-cancel: the guest ended paused on the source, running nowhere). */
struct cancel_dest {
	struct dest_run *d;
	int rc;
};

static void cancel_dest_at_ready(void *opaque, const char *id, enum xlmig_job_step step)
{
	struct cancel_dest *c = opaque;
	struct xlmig_job *job = __atomic_load_n(&c->d->job, __ATOMIC_ACQUIRE);

	if (step == XLMIG_STEP_READY)
		c->rc = job ? xlmig_job_cancel(job) : XLMIG_E_NOTFOUND;
}

TEST(job_destination_cancel_refused_once_ready)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;
	struct cancel_dest c = { .d = &d, .rc = 1 };
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	w.src.env.on_step = cancel_dest_at_ready;   /* the source saw READY */
	w.src.env.opaque = &c;
	CHECK_OK(migrate(&w, &src, &d, false));
	CHECK_EQ(c.rc, XLMIG_E_INVAL);
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK_EQ(d.rec.step, XLMIG_STEP_DONE);
	CHECK_EQ(count_domains(&w.src.fake), 0);
	CHECK_OK(f_lookup(&w.dst.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	world_fini(&w);
}

/* A destination killed after it renamed the guest but before it
 * unpaused it finishes on restart (the fault matrix's unpause point). */
TEST(job_recover_finishes_a_renamed_paused_copy)
{
	struct host h;
	struct xlmig_job_record r = { .role = XLMIG_ROLE_DEST, .step = XLMIG_STEP_GO };
	struct xlmig_domain_info di;
	char dir[512];
	unsigned n = 0;

	snprintf(dir, sizeof(dir), "%s/h", unit_tmpdir());
	CHECK_OK(host_init(&h, dir));
	h.env.journal = h.journal;
	snprintf(r.id, sizeof(r.id), "1");
	snprintf(r.domain, sizeof(r.domain), "vm");
	r.domid = add(&h.fake, "vm", XLMIG_DOM_PAUSED)->domid;
	CHECK_OK(xlmig_journal_put(h.journal, &r));
	/* Another job's guest of the same name, not ours: left alone. */
	snprintf(r.id, sizeof(r.id), "2");
	snprintf(r.domain, sizeof(r.domain), "other");
	add(&h.fake, "other", XLMIG_DOM_PAUSED);
	r.domid = 99;
	CHECK_OK(xlmig_journal_put(h.journal, &r));

	CHECK_OK(xlmig_job_recover(&h.env, &n));
	CHECK_EQ(n, 2);
	CHECK_OK(f_lookup(&h.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_journal_get(h.journal, "1", &r));
	CHECK_EQ(r.step, XLMIG_STEP_DONE);
	CHECK_OK(f_lookup(&h.fake.hv, "other", &di));
	CHECK_EQ(di.state, XLMIG_DOM_PAUSED);
	CHECK_OK(xlmig_journal_get(h.journal, "2", &r));
	CHECK_EQ(r.step, XLMIG_STEP_UNKNOWN);
	xlmig_journal_close(h.journal);
}

TEST(job_cancel_during_precopy_rolls_back)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record rec;
	struct dest_run d;
	struct src_run r = { 0 };
	pthread_t dtid, stid;

	CHECK_OK(world_init(&w));
	w.src.fake.hold_save = true;
	d = (struct dest_run){ .w = &w };
	pthread_create(&dtid, NULL, dest_main, &d);
	xlmig_migrate_opts_default(&o);
	snprintf(o.host, sizeof(o.host), "127.0.0.1");
	o.port = w.port;
	CHECK_OK(xlmig_job_new_source(&w.src.env, "vm", &o, &r.job));
	pthread_create(&stid, NULL, src_main, &r);
	for (int i = 0; i < 6000; i++) {   /* a minute at most */
		xlmig_job_get_record(r.job, &rec);
		if (rec.step == XLMIG_STEP_PRECOPY)
			break;
		usleep(10000);
	}
	CHECK_EQ(rec.step, XLMIG_STEP_PRECOPY);
	CHECK_OK(xlmig_job_cancel(r.job));
	pthread_join(stid, NULL);
	pthread_join(dtid, NULL);
	CHECK_EQ(r.rc, XLMIG_E_CANCELLED);
	xlmig_job_get_record(r.job, &rec);
	xlmig_job_free(r.job);
	CHECK_EQ(rec.step, XLMIG_STEP_CANCELLED);
	CHECK(d.rec.step == XLMIG_STEP_CANCELLED || d.rec.step == XLMIG_STEP_FAILED);
	check_source_kept(&w);
	world_fini(&w);
}

TEST(job_pause_after_leaves_guest_paused)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct xlmig_job_stats st;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	test_opts(&w, &o);
	o.pause_after = true;
	CHECK_OK(migrate_with(&w, &o, &src, &d, false, &st));
	CHECK_OK(d.rc);
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK_EQ(d.rec.step, XLMIG_STEP_DONE);
	/* Committed like any migration: the source copy is gone... */
	CHECK_EQ(count_domains(&w.src.fake), 0);
	CHECK_EQ(w.src.fake.resumes, 0);
	/* ...and the destination's has its name but was never unpaused. */
	CHECK_EQ(count_domains(&w.dst.fake), 1);
	CHECK_OK(f_lookup(&w.dst.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_PAUSED);
	CHECK(st.left_paused);
	CHECK(st.downtime_ns > 0);
	CHECK(strstr(src.message, "paused") != NULL);
	CHECK(strstr(d.rec.message, "paused") != NULL);
	world_fini(&w);
}

TEST(job_xl_options_reach_the_backends)
{
	static const char config[] = "{\"c_info\":{\"name\":\"vm\"}}";
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct dest_run d;
	struct xlmig_domain_info di;
	char caller_copy[sizeof(config)];
	uint32_t src_domid;

	CHECK_OK(world_init(&w));
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	src_domid = di.domid;
	w.dst.fake.next_domid = 40;   /* so a kept id is told from a fresh one */
	test_opts(&w, &o);
	o.debug = true;
	o.preserve_domid = true;
	memcpy(caller_copy, config, sizeof(config));
	o.config_override = caller_copy;
	CHECK_OK(migrate_with(&w, &o, &src, &d, false, NULL));
	CHECK_EQ(src.step, XLMIG_STEP_DONE);
	CHECK(w.src.fake.save_debug);
	CHECK(w.src.fake.save_preserve_domid);
	CHECK_STR(w.src.fake.save_config, config);
	CHECK(w.dst.fake.restore_debug);
	CHECK_EQ(w.dst.fake.restore_domid, src_domid);
	world_fini(&w);
}

TEST(job_xl_options_default_off)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	CHECK_OK(migrate(&w, &src, &d, false));
	CHECK(!w.src.fake.save_debug);
	CHECK(!w.src.fake.save_preserve_domid);
	CHECK_STR(w.src.fake.save_config, "");
	CHECK(!w.dst.fake.restore_debug);
	CHECK_EQ(w.dst.fake.restore_domid, 0);
	CHECK_OK(f_lookup(&w.dst.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	world_fini(&w);
}

TEST(job_refused_domid_is_the_destinations_reported_cause)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct dest_run d;

	/* As in xlmigd: the fake save goes on writing into the pipe the
	 * failed transfer closed, which must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	CHECK_OK(world_init(&w));
	w.dst.fake.refuse_domid = true;
	test_opts(&w, &o);
	o.preserve_domid = true;
	CHECK(migrate_with(&w, &o, &src, &d, false, NULL) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	check_source_kept(&w);
	CHECK(strstr(d.rec.message, "scripted refusal of domain id") != NULL);
	world_fini(&w);
}

TEST(job_preflight_refuses_a_domid_in_use)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	add(&w.dst.fake, "other", XLMIG_DOM_RUNNING);   /* takes id 1, as "vm" has */
	test_opts(&w, &o);
	o.preserve_domid = true;
	CHECK(migrate_with(&w, &o, &src, &d, false, NULL) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK(strstr(src.message, "domain id 1") != NULL);
	/* Refused before the save: nothing was suspended, nothing to resume. */
	CHECK_EQ(w.src.fake.resumes, 0);
	CHECK_EQ(w.dst.fake.restore_domid, 0);
	world_fini(&w);
}

/* Far more than any test machine has free: the destination's memory
 * check refuses it, while the fake backend never allocates it. */
#define HUGE_GUEST (1ull << 60)

TEST(job_preflight_refuses_facts_the_destination_cannot_meet)
{
	struct world w;
	struct xlmig_job_record src, stored;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	find(&w.src.fake, "vm")->mem = HUGE_GUEST;
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	/* The combined message names the check and what to do about it. */
	CHECK(strstr(d.rec.message, "preflight check(s) failed") != NULL);
	CHECK(strstr(src.message, "vm needs 1099511627776 MiB") != NULL);
	CHECK(strstr(src.message, "free memory there") != NULL);
	/* Refused before the save: the guest was never touched, nothing
	 * was restored. */
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(w.src.fake.resumes, 0);
	CHECK_EQ(count_domains(&w.dst.fake), 0);
	CHECK_OK(xlmig_journal_get(w.dst.journal, d.rec.id, &stored));
	CHECK_EQ(stored.step, XLMIG_STEP_FAILED);
	world_fini(&w);
}

/* A disk outside the destination's storage and a bridge name that is a
 * path: refused by the incoming-guest policy, named, and never probed
 * (/etc/passwd exists: a probe would have passed it). */
TEST(job_preflight_policy_refuses_what_it_does_not_allow)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	w.src.fake.fact_disk = "/etc/passwd";
	w.src.fake.fact_bridge = "../../../../etc";
	CHECK(migrate(&w, &src, &d, false) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	CHECK(strstr(d.rec.message, "2 preflight item(s) refused") != NULL);
	CHECK(strstr(src.message, "/etc/passwd is outside the storage") != NULL);
	CHECK(strstr(src.message, "not an interface name") != NULL);
	CHECK(strstr(src.message, "does not exist") == NULL);
	CHECK_EQ(count_domains(&w.dst.fake), 0);
	world_fini(&w);
}

/* The facts the source sent, as journaled with its statistics. */
static void check_stored_facts(struct host *h, const char *id, bool accepted)
{
	struct xlmig_json *st = NULL;
	const struct xlmig_json *pf, *guest;
	const char *name = "";
	char *text = NULL;
	uint64_t need = 0;
	bool acc = !accepted;

	CHECK_OK(xlmig_journal_get_stats(h->journal, id, &text));
	if (unit_failed())
		return;
	CHECK_OK(xlmig_json_parse(text, strlen(text), &st));
	free(text);
	if (unit_failed())
		return;
	pf = xlmig_json_member(st, "preflight");
	guest = pf ? xlmig_json_member(pf, "guest") : NULL;
	CHECK(guest != NULL);
	if (guest) {
		CHECK_OK(xlmig_json_get_bool(pf, "accepted", &acc));
		CHECK_EQ(acc, accepted);
		CHECK_OK(xlmig_json_get_str(guest, "name", &name));
		CHECK_STR(name, "vm");
		CHECK_OK(xlmig_json_get_u64(guest, "need_bytes", &need));
		CHECK_EQ(need, 4u << 20);
	}
	xlmig_json_free(st);
}

TEST(job_check_stops_after_preflight)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src, stored;
	struct xlmig_job_stats st;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	test_opts(&w, &o);
	o.check_only = true;
	CHECK_OK(migrate_with(&w, &o, &src, &d, false, &st));
	CHECK_OK(d.rc);
	CHECK_EQ(src.step, XLMIG_STEP_CHECKED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_CHECKED);
	CHECK(strstr(src.message, "preflight OK: 127.0.0.1 can take vm") != NULL);
	/* Not a byte of memory moved; the guest runs on, untouched, on the
	 * source, and the destination created nothing. */
	CHECK_EQ(st.bytes_stream, 0);
	CHECK_EQ(st.bytes_wire, 0);
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(w.src.fake.resumes, 0);
	CHECK_EQ(count_domains(&w.src.fake), 1);
	CHECK_EQ(count_domains(&w.dst.fake), 0);
	CHECK_OK(xlmig_journal_get(w.src.journal, src.id, &stored));
	CHECK_EQ(stored.step, XLMIG_STEP_CHECKED);
	CHECK(xlmig_step_is_final(stored.step));
	CHECK_STR(xlmig_step_name(stored.step), "checked");
	check_stored_facts(&w.src, src.id, true);
	check_stored_facts(&w.dst, d.rec.id, true);
	world_fini(&w);
}

TEST(job_check_reports_the_refusal)
{
	struct world w;
	struct xlmig_migrate_opts o;
	struct xlmig_job_record src;
	struct dest_run d;
	struct xlmig_domain_info di;

	CHECK_OK(world_init(&w));
	find(&w.src.fake, "vm")->mem = HUGE_GUEST;
	test_opts(&w, &o);
	o.check_only = true;
	CHECK(migrate_with(&w, &o, &src, &d, false, NULL) != XLMIG_OK);
	CHECK_EQ(src.step, XLMIG_STEP_FAILED);
	CHECK_EQ(d.rec.step, XLMIG_STEP_FAILED);
	CHECK(strstr(src.message, "preflight check(s) failed") != NULL);
	CHECK_OK(f_lookup(&w.src.fake.hv, "vm", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK_EQ(w.src.fake.resumes, 0);
	CHECK_EQ(count_domains(&w.dst.fake), 0);
	world_fini(&w);
}

/* ---- after GO: a source in doubt asks the destination (fate.h) ---- */

/* The destination's listener: one session, through xlmig_job_accept. */
static void *fate_dest_main(void *arg)
{
	struct dest_run *d = arg;
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn;
	struct xlmig_job *job = NULL;

	xlmig_conn_opts_default(&co);
	co.insecure = true;
	d->rc = xlmig_conn_listen_accept(d->w->listen_fd, &co, &d->w->key, &conn);
	if (!d->rc)
		d->rc = xlmig_job_accept(&d->w->dst.env, conn, "test", &job);
	if (job) {
		/* A FATE query never makes a job. */
		d->rc = XLMIG_E_INVAL;
		xlmig_job_free(job);
	}
	return NULL;
}

/* Source job 7 in doubt, its copy of "g" paused aside; the destination's
 * job 3 for it at dst_step, from source src_host ("" = plain session). */
static void in_doubt(struct world *w, enum xlmig_job_step dst_step, const char *src_host)
{
	struct fake_dom *away = add(&w->src.fake, "g--migratedaway", XLMIG_DOM_SUSPENDED);
	struct xlmig_job_record s = { .id = "7", .role = XLMIG_ROLE_SOURCE,
				      .step = XLMIG_STEP_UNKNOWN, .domain = "g" };
	struct xlmig_job_record d = { .id = "3", .role = XLMIG_ROLE_DEST, .step = dst_step,
				      .domain = "g", .domid = 9, .src_job = "7" };

	s.domid = away->domid;
	snprintf(s.peer, sizeof(s.peer), "127.0.0.1:%u", w->port);
	snprintf(d.src_host, sizeof(d.src_host), "%s", src_host);
	xlmig_journal_put(w->src.journal, &s);
	xlmig_journal_put(w->dst.journal, &d);
}

/* One round of asking, the destination serving it. */
static int settle(struct world *w, unsigned *left)
{
	struct dest_run d = { .w = w };
	pthread_t tid;
	int rc;

	pthread_create(&tid, NULL, fate_dest_main, &d);
	rc = xlmig_job_settle_in_doubt(&w->src.env, 5000, 0, left);
	pthread_join(tid, NULL);
	return rc ? rc : d.rc;
}

static enum xlmig_job_step step_of(struct host *h, const char *id)
{
	struct xlmig_job_record r;

	return xlmig_journal_get(h->journal, id, &r) == XLMIG_OK ? r.step : XLMIG_STEP_QUEUED;
}

/* Still in doubt: the copy stays paused aside, the record unknown. */
static void check_still_in_doubt(struct world *w)
{
	struct xlmig_domain_info di;

	CHECK_OK(f_lookup(&w->src.fake.hv, "g--migratedaway", &di));
	CHECK_EQ(di.state, XLMIG_DOM_SUSPENDED);
	CHECK(find(&w->src.fake, "g") == NULL);
	CHECK_EQ(step_of(&w->src, "7"), XLMIG_STEP_UNKNOWN);
}

TEST(job_in_doubt_destination_committed)
{
	struct world w;
	unsigned left = 9;

	CHECK_OK(world_init(&w));
	add(&w.dst.fake, "g", XLMIG_DOM_RUNNING);
	in_doubt(&w, XLMIG_STEP_DONE, "");
	CHECK_OK(settle(&w, &left));
	CHECK_EQ(left, 0);
	CHECK(find(&w.src.fake, "g--migratedaway") == NULL);
	CHECK(find(&w.src.fake, "g") == NULL);
	CHECK_EQ(step_of(&w.src, "7"), XLMIG_STEP_DONE);
	world_fini(&w);
}

TEST(job_in_doubt_destination_rolled_back)
{
	struct world w;
	struct xlmig_domain_info di;
	struct xlmig_job_record r;
	unsigned left = 9;

	CHECK_OK(world_init(&w));
	in_doubt(&w, XLMIG_STEP_FAILED, "");
	CHECK_OK(settle(&w, &left));
	CHECK_EQ(left, 0);
	CHECK_OK(f_lookup(&w.src.fake.hv, "g", &di));
	CHECK_EQ(di.state, XLMIG_DOM_RUNNING);
	CHECK(find(&w.src.fake, "g--migratedaway") == NULL);
	CHECK_OK(xlmig_journal_get(w.src.journal, "7", &r));
	CHECK_EQ(r.step, XLMIG_STEP_FAILED);
	CHECK(strstr(r.message, "rolled back") != NULL);
	/* Settled: nothing is asked again. */
	CHECK_OK(xlmig_job_settle_in_doubt(&w.src.env, 500, 0, &left));
	CHECK_EQ(left, 0);
	world_fini(&w);
}

/* The destination's job at dst_step, from src_host, with dst_dom (if
 * not NULL) on the destination: the answer settles nothing. */
static void check_unsettled(enum xlmig_job_step dst_step, const char *src_host, const char *dst_dom)
{
	struct world w;
	unsigned left = 0;

	CHECK_OK(world_init(&w));
	if (dst_dom)
		add(&w.dst.fake, dst_dom, XLMIG_DOM_PAUSED);
	in_doubt(&w, dst_step, src_host);
	CHECK_OK(settle(&w, &left));
	CHECK_EQ(left, 1);
	check_still_in_doubt(&w);
	if (!unit_failed())
		world_fini(&w);
}

/* A failed record whose copy is still there (a destroy that failed, or
 * a peer whose journal says one thing and whose backend another) is not
 * a roll-back: resuming here could run the guest twice. */
TEST(job_in_doubt_destination_copy_remains)
{
	check_unsettled(XLMIG_STEP_FAILED, "", "g--incoming");
}

TEST(job_in_doubt_destination_cancelled_but_named_copy_remains)
{
	check_unsettled(XLMIG_STEP_CANCELLED, "", "g");
}

TEST(job_in_doubt_destination_pending)
{
	check_unsettled(XLMIG_STEP_READY, "", "g--incoming");
}

TEST(job_in_doubt_destination_taking_the_guest)
{
	check_unsettled(XLMIG_STEP_GO, "", NULL);
}

/* The destination answers only about the jobs of the host that asks. */
TEST(job_in_doubt_other_source_gets_no_answer)
{
	check_unsettled(XLMIG_STEP_FAILED, "another-host", NULL);
}

TEST(job_in_doubt_destination_unreachable)
{
	struct world w;
	unsigned left = 0;

	CHECK_OK(world_init(&w));
	in_doubt(&w, XLMIG_STEP_FAILED, "");
	close(w.listen_fd);
	w.listen_fd = -1;
	CHECK_OK(xlmig_job_settle_in_doubt(&w.src.env, 1000, 0, &left));
	CHECK_EQ(left, 1);
	check_still_in_doubt(&w);
	if (unit_failed())
		return;
	world_fini(&w);
}

/* A later job for the same guest means an administrator took over: the
 * old record is not settled behind their back (nothing is asked). */
TEST(job_in_doubt_superseded_is_left_alone)
{
	struct world w;
	struct xlmig_job_record later = { .id = "8", .role = XLMIG_ROLE_SOURCE,
					  .step = XLMIG_STEP_DONE, .domain = "g" };
	unsigned left = 9;

	CHECK_OK(world_init(&w));
	in_doubt(&w, XLMIG_STEP_FAILED, "");
	xlmig_journal_put(w.src.journal, &later);
	CHECK_OK(xlmig_job_settle_in_doubt(&w.src.env, 500, 0, &left));
	CHECK_EQ(left, 0);
	check_still_in_doubt(&w);
	if (unit_failed())
		return;
	world_fini(&w);
}

/* A migration journals on the destination what a FATE query needs. */
TEST(job_destination_journals_the_source_job)
{
	struct world w;
	struct xlmig_job_record src;
	struct dest_run d;

	CHECK_OK(world_init(&w));
	CHECK_OK(migrate(&w, &src, &d, false));
	CHECK_EQ(d.rec.step, XLMIG_STEP_DONE);
	CHECK_STR(d.rec.src_job, src.id);
	world_fini(&w);
}
