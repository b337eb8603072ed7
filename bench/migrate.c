/*
 * migrate.c - end-to-end live-migration benchmark on two sim hosts.
 *
 * Both hosts live in this process, each its own sim backend instance with
 * its own journal.  Between them runs the real transport over loopback
 * TCP: the handshake with a key generated for the run, N channels, the
 * page codec and the bandwidth cap, driven by the migration jobs of job.h
 * (source: live save into xfer_send; destination: xfer_recv into restore;
 * the commit protocol around both).  The guest is a sim guest with a
 * workload that really writes memory while pre-copy runs.
 *
 * Each scenario (guest size, workload, link) is migrated first the way
 * stock `xl migrate` would do it -- Xen's default pre-copy policy (5
 * iterations or fewer than 50 dirty pages), one channel, no zstd -- and
 * then with xlmig's policy, channels and codec.  Every migration prints
 * one JSON line; the others carry their ratios to the baseline of the same
 * scenario, because absolute times on a shared machine are noisy.  The
 * baseline still goes through xlmig's transport, whose codec sends zero
 * pages as a flag and resent pages as deltas (stock xl sends every page
 * whole): it is a stronger baseline than stock xl, so the ratios are
 * conservative.  Its "xl_stream_bytes" is what xl itself would carry.
 *
 * The default plan: for the first size, an idle guest and a hot set (an
 * eighth of memory at --hot-rate) on an unlimited link, the hot set on a
 * --bandwidth link with 1 and 4 channels, zstd off and on, and uniform
 * writes at --busy-rate on that link with and without auto-converge; for
 * the other sizes, the hot set on the capped link.  --full runs every
 * variant on every workload and link for every size.
 *
 * "converged" uses one yardstick for both policies: pre-copy ended with a
 * final pass predicted to fit xlmig's default downtime target; it is held
 * against the measured "downtime_ms" with "predicted_downtime_ms".
 * "iters" is the policy's log, one [pages sent, ms, pages dirty after,
 * throttle %] per measured iteration.  The guest's workload thread shares
 * the CPUs with both ends of the transfer: when CPU is short it writes
 * less than its configured rate, and the log shows what it really did.
 *
 * Correctness: when the source job reaches READY (its copy suspended
 * since the pause, the destination's restored and paused until GO), a
 * hook takes the memory digest and vCPU counter of both copies.  They
 * must be equal, and afterwards exactly one copy must run, on the
 * destination; otherwise the bench fails.  The hook runs inside the
 * downtime window, so its time is measured and taken off downtime and
 * total time.
 *
 * The key and both hosts' journals go in a new directory under $TMPDIR
 * (default /tmp).  Each journal step is a synced write and four of them
 * (READY and GO on each side) fall inside the downtime window, so the
 * disk under $TMPDIR shows in the downtime; TMPDIR=/dev/shm takes it out
 * ("journal_on_tmpfs").
 *
 * Peak RSS is that of the whole process (both hosts, both copies of the
 * guest, both ends of the transfer), reset before each migration.
 *
 *   migrate [--sizes 256M,1G] [--hot-rate 50M] [--busy-rate 200M]
 *           [--bandwidth 200M] [--full] [--only TEXT] [--seed 1] [--repeat 1]
 *           [--verbose]
 * --only runs the scenarios whose name contains TEXT ("256M-hot-capped");
 * --repeat runs the whole plan that many rounds.
 */
#include "conn.h"
#include "sim_hv.h"
#include "job.h"
#include "journal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <linux/magic.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#define GUEST_NAME  "benchvm"
#define MAX_SIZES   4
#define SETTLE_MS   100      /* the workload runs this long before a save */
#define MSG_LEN     512

/* ---- what is measured ---- */

enum load { LOAD_IDLE, LOAD_HOT, LOAD_BUSY };

static const char *const load_names[] = { "idle", "hot", "busy" };

struct scenario {
	char name[64];
	uint64_t mem;
	enum load load;
	struct xlmig_sim_workload wl;
	uint64_t bandwidth;      /* bytes/s, 0 = none */
	unsigned round;          /* of --repeat */
};

/* Sets of xlmig variants a scenario runs after its baseline. */
enum {
	V_XLMIG    = 1 << 0,     /* xlmig's defaults: 4 channels, zstd */
	V_AUTOCONV = 1 << 1,
	V_SWEEP    = 1 << 2,     /* 1 vs 4 channels, zstd on vs off */
};

/* How a scenario is migrated. */
struct variant {
	const char *name;
	enum xlmig_policy_kind policy;
	unsigned channels;
	bool compress;
	bool auto_converge;
	unsigned sets;           /* V_* it belongs to */
};

static const struct variant baseline_variant = {
	"xl-default", XLMIG_POLICY_KIND_XEN, 1, false, false, 0 };
static const struct variant xlmig_variants[] = {
	{ "xlmig-1ch-raw", XLMIG_POLICY_KIND_XLMIG, 1, false, false, V_SWEEP },
	{ "xlmig-1ch-zstd", XLMIG_POLICY_KIND_XLMIG, 1, true, false, V_SWEEP },
	{ "xlmig-4ch-raw", XLMIG_POLICY_KIND_XLMIG, 4, false, false, V_SWEEP },
	{ "xlmig", XLMIG_POLICY_KIND_XLMIG, 4, true, false, V_XLMIG | V_SWEEP },
	{ "xlmig-autoconverge", XLMIG_POLICY_KIND_XLMIG, 4, true, true, V_AUTOCONV },
};

/* One row of the default plan: a workload on a link, and the variants
 * run for the first guest size and for the others (bigger guests cost
 * more time, so they get fewer). */
struct plan_row {
	enum load load;
	bool capped;
	unsigned first_size, other_sizes;
};

static const struct plan_row default_plan[] = {
	{ LOAD_IDLE, false, V_XLMIG, 0 },
	{ LOAD_HOT, false, V_XLMIG, 0 },
	{ LOAD_HOT, true, V_SWEEP, V_XLMIG },
	{ LOAD_BUSY, true, V_XLMIG | V_AUTOCONV, 0 },
};

struct bench_opts {
	uint64_t sizes[MAX_SIZES];
	unsigned n_sizes;
	uint64_t hot_rate, busy_rate, bandwidth, seed;
	unsigned repeat;
	bool full, verbose;
	const char *only;
};

/* The guest on one host, stopped: its memory digest and vCPU counter. */
struct snapshot {
	struct xlmig_hv *hv;
	const char *dom_name;    /* the guest's name there at READY */
	int rc;
	char msg[MSG_LEN];
	uint8_t digest[32];
	uint64_t counter;
	uint64_t cpu_ns;         /* CPU time the snapshot took */
};

/* Both ends' snapshots, taken when the source job reaches READY: the
 * source's copy is suspended since its pause, the destination's restored
 * and paused until GO. */
struct check {
	struct snapshot src, dst;
	bool taken;
	uint64_t ns;             /* inside downtime and total time */
};

struct host {
	struct xlmig_hv *hv;
	struct xlmig_journal *journal;
	struct xlmig_job_env env;
};

struct world {
	char dir[256];           /* key and both journals */
	bool dir_on_tmpfs;       /* journal syncs cost nothing there */
	struct xlmig_key key;
	struct host src, dst;
	struct check check;
	int listen_fd;
	uint16_t port;
};

struct outcome {
	int rc;                  /* the source job's result */
	char msg[MSG_LEN];
	int dest_rc;
	char dest_msg[MSG_LEN];
	struct xlmig_job_stats st;
	uint64_t check_ns;       /* the check at READY, inside downtime and total */
	double cpu_s;            /* process CPU time (all threads), less the check's */
	long rss_before_kib, peak_rss_kib;
	bool peak_reset;         /* VmHWM was reset for this migration */
	bool journal_on_tmpfs;
};

/* ---- options ---- */

static int parse_sizes(char *list, struct bench_opts *o)
{
	char *save = NULL;
	int rc = XLMIG_OK;

	o->n_sizes = 0;
	for (char *s = strtok_r(list, ",", &save); s && !rc; s = strtok_r(NULL, ",", &save)) {
		if (o->n_sizes == MAX_SIZES)
			rc = xlmig_fail(XLMIG_E_INVAL, "--sizes takes at most %d sizes", MAX_SIZES);
		else
			rc = xlmig_parse_size(s, &o->sizes[o->n_sizes++]);
	}
	return rc;
}

static int check_opts(const struct bench_opts *o)
{
	for (unsigned i = 0; i < o->n_sizes; i++)
		if (o->sizes[i] < XLMIG_SIM_MEM_MIN || o->sizes[i] > XLMIG_SIM_MEM_MAX)
			return xlmig_fail(XLMIG_E_INVAL, "guest size %llu MiB is outside the sim's %llu MiB .. %llu GiB",
					  (unsigned long long)(o->sizes[i] >> 20),
					  XLMIG_SIM_MEM_MIN >> 20, XLMIG_SIM_MEM_MAX >> 30);
	if (!o->n_sizes || !o->hot_rate || !o->busy_rate || !o->bandwidth || !o->repeat)
		return xlmig_fail(XLMIG_E_INVAL, "--sizes needs a size; the rates, bandwidth and --repeat must not be 0");
	return XLMIG_OK;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "hot-rate", required_argument, NULL, 'h' },
		{ "busy-rate", required_argument, NULL, 'b' },
		{ "bandwidth", required_argument, NULL, 'w' },
		{ "full", no_argument, NULL, 'f' },
		{ "only", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = XLMIG_OK;

	*o = (struct bench_opts){ .sizes = { 256ull << 20, 1ull << 30 }, .n_sizes = 2,
				  .hot_rate = 50ull << 20, .busy_rate = 200ull << 20,
				  .bandwidth = 200ull << 20, .seed = 1, .repeat = 1 };
	while (!rc && (opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 's')
			rc = parse_sizes(optarg, o);
		else if (opt == 'h')
			rc = xlmig_parse_rate(optarg, &o->hot_rate);
		else if (opt == 'b')
			rc = xlmig_parse_rate(optarg, &o->busy_rate);
		else if (opt == 'w')
			rc = xlmig_parse_rate(optarg, &o->bandwidth);
		else if (opt == 'f')
			o->full = true;
		else if (opt == 'o')
			o->only = optarg;
		else if (opt == 'r')
			o->seed = strtoull(optarg, NULL, 0);
		else if (opt == 'n')
			o->repeat = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'v')
			o->verbose = true;
		else
			rc = xlmig_fail(XLMIG_E_INVAL, "usage: migrate [--sizes 256M,1G] [--hot-rate 50M] "
					"[--busy-rate 200M] [--bandwidth 200M] [--full] [--only TEXT] "
					"[--seed 1] [--repeat 1] [--verbose]");
	}
	return rc ? rc : check_opts(o);
}

/* ---- process memory ---- */

/* Writing 5 to clear_refs resets VmHWM (Linux 4.0 and later). */
static bool reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, "5", 1) == 1;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* A "Vm...:  N kB" field of /proc/self/status, -1 if absent. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t flen = strlen(field);
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':')
			kib = strtol(line + flen + 1, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static double process_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- the two hosts ---- */

static void take_snapshot(struct snapshot *s)
{
	struct xlmig_domain_info di;
	uint64_t cpu0 = xlmig_thread_cpu_ns();

	s->rc = s->hv->ops->lookup(s->hv, s->dom_name, &di);
	if (!s->rc)
		s->rc = xlmig_hv_mem_digest(s->hv, di.domid, s->digest);
	if (!s->rc)
		s->rc = xlmig_hv_counter(s->hv, di.domid, &s->counter);
	if (s->rc)
		snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	s->cpu_ns = xlmig_thread_cpu_ns() - cpu0;
}

static void *snapshot_main(void *arg)
{
	take_snapshot(arg);
	return NULL;
}

/* The source job's step hook.  The two digests are independent passes
 * over memory: take them at the same time, to keep the window short. */
static void on_source_step(void *opaque, const char *job_id, enum xlmig_job_step step)
{
	struct check *c = opaque;
	uint64_t t0 = xlmig_now_ns();
	pthread_t tid;
	bool threaded;

	if (step != XLMIG_STEP_READY)
		return;
	threaded = pthread_create(&tid, NULL, snapshot_main, &c->dst) == 0;
	if (!threaded)
		take_snapshot(&c->dst);
	take_snapshot(&c->src);
	if (threaded)
		pthread_join(tid, NULL);
	c->taken = true;
	c->ns = xlmig_now_ns() - t0;
}

static int host_open(struct host *h, const char *dir, const char *sub,
		     const struct xlmig_key *key)
{
	char path[320];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	rc = xlmig_hv_sim_open(&h->hv);
	if (!rc)
		rc = xlmig_journal_open(path, &h->journal);
	if (rc)
		return xlmig_fail_prefix(rc, "opening the %s host", sub);
	h->env = (struct xlmig_job_env){ .hv = h->hv, .journal = h->journal, .key = key,
					 .insecure = true };
	return XLMIG_OK;
}

static void host_close(struct host *h)
{
	if (h->journal)
		xlmig_journal_close(h->journal);
	if (h->hv)
		xlmig_hv_close(h->hv);
}

static int world_open(struct world *w)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char keyfile[320];
	struct statfs fs;
	int rc;

	memset(w, 0, sizeof(*w));
	w->listen_fd = -1;
	snprintf(w->dir, sizeof(w->dir), "%s/xlmig-bench-migrate.XXXXXX", tmp);
	if (!mkdtemp(w->dir)) {
		w->dir[0] = '\0';   /* nothing for world_close() to remove */
		return xlmig_fail(XLMIG_E_IO, "temporary directory in %s: %s", tmp, strerror(errno));
	}
	w->dir_on_tmpfs = statfs(w->dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
	snprintf(keyfile, sizeof(keyfile), "%s/key", w->dir);
	rc = xlmig_key_generate(keyfile);
	if (!rc)
		rc = xlmig_key_load(keyfile, &w->key);
	if (!rc)
		rc = host_open(&w->src, w->dir, "source", &w->key);
	if (!rc)
		rc = host_open(&w->dst, w->dir, "destination", &w->key);
	w->check.src = (struct snapshot){ .hv = w->src.hv, .dom_name = GUEST_NAME };
	w->check.dst = (struct snapshot){ .hv = w->dst.hv, .dom_name = GUEST_NAME XLMIG_INCOMING_SUFFIX };
	w->src.env.on_step = on_source_step;
	w->src.env.opaque = &w->check;
	if (!rc)
		rc = xlmig_tcp_listen("127.0.0.1", "0", &w->listen_fd, &w->port);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void world_close(struct world *w)
{
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	host_close(&w->src);
	host_close(&w->dst);
	xlmig_key_wipe(&w->key);
	if (w->dir[0] && nftw(w->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		xlmig_warn("could not remove %s: %s", w->dir, strerror(errno));
}

/* Destroy every domain on a host, so each migration starts clean. */
static int host_clear(struct host *h)
{
	struct xlmig_domain_info *doms = NULL;
	size_t n = 0;
	int rc = h->hv->ops->list(h->hv, &doms, &n);

	for (size_t i = 0; !rc && i < n; i++)
		rc = h->hv->ops->destroy(h->hv, doms[i].domid);
	free(doms);
	return rc;
}

/* ---- one migration ---- */

struct dest_run {
	struct world *w;
	int rc;
	char msg[MSG_LEN];
};

static void *dest_main(void *arg)
{
	struct dest_run *d = arg;
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn = NULL;
	struct xlmig_job *job = NULL;

	xlmig_conn_opts_default(&co);
	co.insecure = true;
	d->rc = xlmig_conn_listen_accept(d->w->listen_fd, &co, &d->w->key, &conn);
	if (!d->rc)
		d->rc = xlmig_job_new_dest(&d->w->dst.env, conn, "127.0.0.1", &job);
	if (!d->rc)
		d->rc = xlmig_job_run(job);
	if (d->rc)
		snprintf(d->msg, sizeof(d->msg), "%s", xlmig_errmsg());
	xlmig_job_free(job);
	return NULL;
}

static void migrate_opts(const struct world *w, const struct scenario *sc,
			 const struct variant *v, struct xlmig_migrate_opts *o)
{
	xlmig_migrate_opts_default(o);
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->port = w->port;
	o->channels = v->channels;
	o->compress = v->compress;
	o->bandwidth = sc->bandwidth;
	o->policy.kind = v->policy;
	o->policy.auto_converge = v->auto_converge;
}

/* Run the source job here and the destination job in a thread (which,
 * should the source job fail before connecting, gives up after the
 * session's accept timeout). */
static int run_jobs(struct world *w, const struct xlmig_migrate_opts *o, struct outcome *out)
{
	struct dest_run d = { .w = w };
	struct xlmig_job *job = NULL;
	pthread_t tid;
	int err = pthread_create(&tid, NULL, dest_main, &d);

	if (err)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the destination thread: %s", strerror(err));
	out->rc = xlmig_job_new_source(&w->src.env, GUEST_NAME, o, &job);
	if (!out->rc)
		out->rc = xlmig_job_run(job);
	if (out->rc)
		snprintf(out->msg, sizeof(out->msg), "%s", xlmig_errmsg());
	if (job)
		out->st = *xlmig_job_stats(job);
	xlmig_job_free(job);
	pthread_join(tid, NULL);
	out->dest_rc = d.rc;
	snprintf(out->dest_msg, sizeof(out->dest_msg), "%s", d.msg);
	return XLMIG_OK;
}

static int create_guest(struct world *w, const struct scenario *sc)
{
	struct xlmig_sim_create c = { .name = GUEST_NAME, .mem_bytes = sc->mem, .vcpus = 2,
				      .wl = sc->wl };
	uint32_t domid;
	int rc = xlmig_hv_sim_create(w->src.hv, &c, &domid);

	if (!rc)
		usleep(SETTLE_MS * 1000);
	return rc;
}

/* Is GUEST_NAME running on h, under its own name, and alone? */
static bool runs_alone_on(struct host *h)
{
	struct xlmig_domain_info *doms = NULL;
	size_t n = 0;
	bool ok = h->hv->ops->list(h->hv, &doms, &n) == XLMIG_OK && n == 1 &&
		  !strcmp(doms[0].name, GUEST_NAME) && doms[0].state == XLMIG_DOM_RUNNING;

	free(doms);
	return ok;
}

static bool is_empty(struct host *h)
{
	struct xlmig_domain_info *doms = NULL;
	size_t n = 1;
	bool empty = h->hv->ops->list(h->hv, &doms, &n) == XLMIG_OK && n == 0;

	free(doms);
	return empty;
}

/* After a migration: one copy runs, on the destination if it committed
 * (with the memory and counter the source had at pause), else on the
 * source. */
static int check_outcome(struct world *w, const struct outcome *out)
{
	const struct snapshot *s = &w->check.src, *d = &w->check.dst;

	if (out->rc && out->rc != XLMIG_E_CONVERGE)
		return xlmig_fail(out->rc, "migration failed: %s (destination: %s)", out->msg,
				  out->dest_msg);
	if (out->rc)
		return runs_alone_on(&w->src) && is_empty(&w->dst) ? XLMIG_OK :
		       xlmig_fail(XLMIG_E_HV, "pre-copy gave up but the guest does not run alone on the source");
	if (!w->check.taken || s->rc || d->rc)
		return xlmig_fail(XLMIG_E_HV, "the guest was not checked at READY: %s %s", s->msg, d->msg);
	if (memcmp(s->digest, d->digest, 32) || s->counter != d->counter)
		return xlmig_fail(XLMIG_E_FORMAT, "the destination's memory or counter (%llu) differs from the source's at pause (%llu)",
				  (unsigned long long)d->counter, (unsigned long long)s->counter);
	return runs_alone_on(&w->dst) && is_empty(&w->src) ? XLMIG_OK :
	       xlmig_fail(XLMIG_E_HV, "after the commit the guest does not run alone on the destination");
}

static int migrate(struct world *w, const struct scenario *sc, const struct variant *v,
		   struct outcome *out)
{
	struct xlmig_migrate_opts o;
	double cpu0;
	int rc;

	memset(out, 0, sizeof(*out));
	w->check.taken = false;
	out->journal_on_tmpfs = w->dir_on_tmpfs;
	migrate_opts(w, sc, v, &o);
	out->peak_reset = reset_peak_rss();
	rc = create_guest(w, sc);
	if (rc)
		goto out;
	out->rss_before_kib = status_kib("VmRSS");
	cpu0 = process_cpu_s();
	rc = run_jobs(w, &o, out);
	out->cpu_s = process_cpu_s() - cpu0;
	if (w->check.taken)
		out->cpu_s -= (double)(w->check.src.cpu_ns + w->check.dst.cpu_ns) / 1e9;
	out->peak_rss_kib = status_kib("VmHWM");
	out->check_ns = w->check.taken ? w->check.ns : 0;
	if (!rc)
		rc = check_outcome(w, out);
out:
	if (rc)
		xlmig_fail_prefix(rc, "%s, %s", sc->name, v->name);
	/* A failed check must not hide that clearing failed too: keep rc. */
	if (host_clear(&w->src) || host_clear(&w->dst))
		rc = rc ? rc : xlmig_fail(XLMIG_E_HV, "clearing the hosts after %s: %s", sc->name,
					  xlmig_errmsg());
	return rc;
}

/* ---- output ---- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double less_check(uint64_t ns, uint64_t check_ns)
{
	return ms(ns > check_ns ? ns - check_ns : 0);
}

static double quotient(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void emit_config(struct xlmig_json_writer *w, const struct scenario *sc,
			const struct variant *v)
{
	xlmig_json_key(w, "guest");
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "mem_bytes", sc->mem);
	xlmig_json_kv_str(w, "load", load_names[sc->load]);
	xlmig_json_kv_str(w, "pattern", xlmig_sim_pattern_name(sc->wl.pattern));
	xlmig_json_kv_uint(w, "dirty_rate", sc->wl.rate);
	if (sc->wl.pattern == XLMIG_SIM_HOTSET)
		xlmig_json_kv_uint(w, "hot_bytes", sc->wl.hot_bytes);
	xlmig_json_kv_uint(w, "zero_pct", sc->wl.zero_pct);
	xlmig_json_kv_uint(w, "file_pct", sc->wl.file_pct);
	xlmig_json_object_close(w);
	xlmig_json_kv_uint(w, "bandwidth", sc->bandwidth);
	xlmig_json_key(w, "config");
	xlmig_json_object_open(w);
	xlmig_json_kv_str(w, "policy", v->policy == XLMIG_POLICY_KIND_XEN ? "xen" : "xlmig");
	xlmig_json_kv_uint(w, "channels", v->channels);
	xlmig_json_kv_bool(w, "zstd", v->compress);
	xlmig_json_kv_bool(w, "auto_converge", v->auto_converge);
	xlmig_json_object_close(w);
}

/* The last pre-copy measurement: what stop-and-copy was left with. */
static const struct xlmig_iteration *last_iteration(const struct outcome *out)
{
	return out->st.n_iter ? &out->st.iter[out->st.n_iter - 1] : NULL;
}

/* One yardstick for both policies: pre-copy ended with a final pass
 * predicted to fit xlmig's default downtime target (Xen's own rule, fewer
 * than 50 dirty pages, is met or forced after 5 iterations). */
static bool converged(const struct outcome *out)
{
	const struct xlmig_iteration *it = last_iteration(out);
	struct xlmig_policy_config cfg;

	xlmig_policy_config_default(&cfg);
	return !out->rc && it && it->predicted_downtime_ns <= cfg.downtime_target_ns;
}

/* What the policy expected of stop-and-copy, to hold against downtime_ms. */
static void emit_prediction(struct xlmig_json_writer *w, const struct outcome *out)
{
	const struct xlmig_iteration *it = last_iteration(out);

	if (!it)
		return;
	xlmig_json_kv_double(w, "predicted_downtime_ms", it->predicted_downtime_ns == UINT64_MAX ?
			     -1.0 : ms(it->predicted_downtime_ns));
	xlmig_json_kv_int(w, "final_dirty_pages", it->dirty_after);
}

static void emit_figures(struct xlmig_json_writer *w, const struct outcome *out)
{
	const struct xlmig_job_stats *st = &out->st;
	const struct xlmig_codec_stats *c = &st->codec;

	xlmig_json_kv_double(w, "total_ms", less_check(st->total_ns, out->check_ns));
	xlmig_json_key(w, "downtime_ms");
	if (out->rc)
		xlmig_json_null(w);   /* never paused: pre-copy gave up */
	else
		xlmig_json_double(w, less_check(st->downtime_ns, out->check_ns));
	xlmig_json_kv_double(w, "setup_ms", ms(st->setup_ns));
	xlmig_json_kv_double(w, "check_ms", ms(out->check_ns));
	emit_prediction(w, out);
	xlmig_json_kv_bool(w, "journal_on_tmpfs", out->journal_on_tmpfs);
	xlmig_json_kv_uint(w, "iterations", st->iterations);
	xlmig_json_kv_uint(w, "pages_total", st->pages_total);
	xlmig_json_kv_uint(w, "pages_sent", st->pages_sent);
	xlmig_json_kv_uint(w, "bytes_wire", st->bytes_wire);
	xlmig_json_kv_uint(w, "xl_stream_bytes", st->bytes_stream);
	xlmig_json_kv_double(w, "wire_per_guest_byte", quotient((double)st->bytes_wire, (double)st->mem_bytes));
	xlmig_json_key(w, "codec");
	xlmig_json_object_open(w);
	xlmig_json_kv_double(w, "ratio", quotient((double)c->bytes_in, (double)c->bytes_out));
	xlmig_json_kv_uint(w, "pages_zero", c->pages_zero);
	xlmig_json_kv_uint(w, "pages_delta", c->pages_delta);
	xlmig_json_kv_uint(w, "pages_zstd", c->pages_zstd);
	xlmig_json_kv_uint(w, "pages_raw", c->pages_raw);
	xlmig_json_kv_double(w, "cpu_s", (double)c->cpu_ns / 1e9);
	xlmig_json_object_close(w);
	xlmig_adapt_stats_write(&st->adapt, w);
	/* Both hosts, guest workloads included, the check excluded. */
	xlmig_json_kv_double(w, "process_cpu_s", out->cpu_s);
	xlmig_json_kv_int(w, "rss_before_kib", out->rss_before_kib);
	xlmig_json_kv_int(w, "peak_rss_kib", out->peak_rss_kib);
	xlmig_json_kv_str(w, "peak_rss_scope", out->peak_reset ?
			  "whole process (both hosts, both guest copies, both transfer ends), this migration" :
			  "whole process, since it started (VmHWM could not be reset)");
}

static void emit_iterations(struct xlmig_json_writer *w, const struct xlmig_job_stats *st)
{
	xlmig_json_key(w, "iters");
	xlmig_json_array_open(w);
	for (unsigned i = 0; i < st->n_iter; i++) {
		xlmig_json_array_open(w);
		xlmig_json_uint(w, st->iter[i].pages_sent);
		xlmig_json_uint(w, st->iter[i].ns / 1000000);
		xlmig_json_int(w, st->iter[i].dirty_after);
		xlmig_json_uint(w, st->iter[i].throttle_pct);
		xlmig_json_array_close(w);
	}
	xlmig_json_array_close(w);
}

/* Ratios this / baseline; only when both committed. */
struct ratios {
	bool valid;
	double downtime, total, wire;
};

static void compare(const struct outcome *out, const struct outcome *base, struct ratios *r)
{
	r->valid = !out->rc && !base->rc;
	if (!r->valid)
		return;
	r->downtime = quotient(less_check(out->st.downtime_ns, out->check_ns),
			       less_check(base->st.downtime_ns, base->check_ns));
	r->total = quotient(less_check(out->st.total_ns, out->check_ns),
			    less_check(base->st.total_ns, base->check_ns));
	r->wire = quotient((double)out->st.bytes_wire, (double)base->st.bytes_wire);
}

static int emit_line(const struct scenario *sc, const struct variant *v,
		     const struct outcome *out, const struct ratios *r)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc;

	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "bench", "migrate");
	xlmig_json_kv_str(&w, "scenario", sc->name);
	xlmig_json_kv_str(&w, "variant", v->name);
	xlmig_json_kv_uint(&w, "round", sc->round);
	emit_config(&w, sc, v);
	xlmig_json_kv_bool(&w, "committed", out->rc == XLMIG_OK);
	xlmig_json_kv_bool(&w, "converged", converged(out));
	/* Checked by check_outcome(), which fails the bench otherwise. */
	xlmig_json_kv_str(&w, "runs_on", out->rc ? "source" : "destination");
	if (!out->rc)
		xlmig_json_kv_bool(&w, "digest_match", true);
	xlmig_json_kv_str(&w, "policy_reason", out->rc ? out->msg : out->st.policy_reason);
	emit_figures(&w, out);
	emit_iterations(&w, &out->st);
	if (r) {
		xlmig_json_key(&w, "vs_baseline");
		if (r->valid) {
			xlmig_json_object_open(&w);
			xlmig_json_kv_double(&w, "downtime", r->downtime);
			xlmig_json_kv_double(&w, "total", r->total);
			xlmig_json_kv_double(&w, "wire_bytes", r->wire);
			xlmig_json_object_close(&w);
		} else {
			xlmig_json_null(&w);
		}
	}
	xlmig_json_object_close(&w);
	rc = xlmig_json_finish(&w);
	if (!rc) {
		printf("%.*s\n", (int)b.len, (const char *)b.data);
		fflush(stdout);
	}
	xlmig_buf_free(&b);
	return rc;
}

/* Geometric means of the "xlmig" variant's ratios over the scenarios. */
struct summary {
	unsigned round;          /* of --repeat, from 1 */
	unsigned migrations, committed, converged, compared;
	double log_downtime, log_total, log_wire;
	uint64_t start_ns;
};

static void tally(struct summary *s, const struct variant *v, const struct outcome *out,
		  const struct ratios *r)
{
	s->migrations++;
	s->committed += out->rc == XLMIG_OK;
	s->converged += converged(out);
	if (r && r->valid && !strcmp(v->name, "xlmig") && r->downtime > 0 && r->total > 0 && r->wire > 0) {
		s->compared++;
		s->log_downtime += log(r->downtime);
		s->log_total += log(r->total);
		s->log_wire += log(r->wire);
	}
}

static int emit_summary(const struct summary *s)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	int rc;

	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "bench", "migrate");
	xlmig_json_kv_str(&w, "scenario", "summary");
	xlmig_json_kv_uint(&w, "migrations", s->migrations);
	xlmig_json_kv_uint(&w, "committed", s->committed);
	xlmig_json_kv_uint(&w, "converged", s->converged);
	xlmig_json_kv_uint(&w, "scenarios_compared", s->compared);
	xlmig_json_key(&w, "xlmig_vs_baseline_geomean");
	if (s->compared) {
		xlmig_json_object_open(&w);
		xlmig_json_kv_double(&w, "downtime", exp(s->log_downtime / s->compared));
		xlmig_json_kv_double(&w, "total", exp(s->log_total / s->compared));
		xlmig_json_kv_double(&w, "wire_bytes", exp(s->log_wire / s->compared));
		xlmig_json_object_close(&w);
	} else {
		xlmig_json_null(&w);
	}
	xlmig_json_kv_double(&w, "wall_s", (double)(xlmig_now_ns() - s->start_ns) / 1e9);
	xlmig_json_object_close(&w);
	rc = xlmig_json_finish(&w);
	if (!rc)
		printf("%.*s\n", (int)b.len, (const char *)b.data);
	xlmig_buf_free(&b);
	return rc;
}

/* ---- the plan ---- */

static void make_scenario(const struct bench_opts *o, uint64_t mem, enum load load, bool capped,
			  struct scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->mem = mem;
	sc->load = load;
	sc->bandwidth = capped ? o->bandwidth : 0;
	xlmig_sim_workload_default(&sc->wl);
	sc->wl.seed = o->seed;
	if (load == LOAD_HOT) {
		sc->wl.pattern = XLMIG_SIM_HOTSET;
		sc->wl.rate = o->hot_rate;
		sc->wl.hot_bytes = mem / 8;   /* a working set an eighth of memory */
	} else if (load == LOAD_BUSY) {
		sc->wl.pattern = XLMIG_SIM_UNIFORM;
		sc->wl.rate = o->busy_rate;
	}
	snprintf(sc->name, sizeof(sc->name), "%lluM-%s-%s", (unsigned long long)(mem >> 20),
		 load_names[load], capped ? "capped" : "unlimited");
}

/* The baseline, then each chosen xlmig variant with its ratios. */
static int run_scenario(struct world *w, const struct scenario *sc, unsigned variants,
			struct summary *sum)
{
	struct outcome base, out;
	struct ratios r;
	int rc = migrate(w, sc, &baseline_variant, &base);

	if (!rc)
		rc = emit_line(sc, &baseline_variant, &base, NULL);
	if (!rc)
		tally(sum, &baseline_variant, &base, NULL);
	for (size_t i = 0; !rc && i < XLMIG_ARRAY_SIZE(xlmig_variants); i++) {
		const struct variant *v = &xlmig_variants[i];

		if (!(variants & v->sets))
			continue;
		rc = migrate(w, sc, v, &out);
		if (!rc) {
			compare(&out, &base, &r);
			rc = emit_line(sc, v, &out, &r);
			tally(sum, v, &out, &r);
		}
	}
	return rc;
}

static int run_row(struct world *w, const struct bench_opts *o, uint64_t mem, enum load load,
		   bool capped, unsigned variants, struct summary *sum)
{
	struct scenario sc;

	make_scenario(o, mem, load, capped, &sc);
	sc.round = sum->round;
	if (o->only && !strstr(sc.name, o->only))
		return XLMIG_OK;
	return run_scenario(w, &sc, variants, sum);
}

static int run_size(struct world *w, const struct bench_opts *o, unsigned s,
		    struct summary *sum)
{
	const unsigned all = V_XLMIG | V_AUTOCONV | V_SWEEP;
	int rc = XLMIG_OK;

	if (o->full) {
		for (int l = LOAD_IDLE; !rc && l <= LOAD_BUSY; l++)
			for (int capped = 0; !rc && capped <= 1; capped++)
				rc = run_row(w, o, o->sizes[s], (enum load)l, capped, all, sum);
		return rc;
	}
	for (size_t i = 0; !rc && i < XLMIG_ARRAY_SIZE(default_plan); i++) {
		const struct plan_row *p = &default_plan[i];
		unsigned variants = s == 0 ? p->first_size : p->other_sizes;

		if (variants)
			rc = run_row(w, o, o->sizes[s], p->load, p->capped, variants, sum);
	}
	return rc;
}

static int run_plan(struct world *w, const struct bench_opts *o, struct summary *sum)
{
	int rc = XLMIG_OK;

	for (sum->round = 1; !rc && sum->round <= o->repeat; sum->round++)
		for (unsigned s = 0; !rc && s < o->n_sizes; s++)
			rc = run_size(w, o, s, sum);
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct world w = { .listen_fd = -1 };
	struct summary sum = { .start_ns = xlmig_now_ns() };
	int rc = parse_args(argc, argv, &o);

	if (!rc) {
		xlmig_log_set_level(o.verbose ? XLMIG_LOG_INFO : XLMIG_LOG_ERROR);
		rc = world_open(&w);
	}
	if (!rc)
		rc = run_plan(&w, &o, &sum);
	if (!rc)
		rc = emit_summary(&sum);
	if (rc)
		fprintf(stderr, "bench migrate: %s\n", xlmig_errmsg());
	world_close(&w);
	return rc ? 1 : 0;
}
