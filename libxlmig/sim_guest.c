/*
 * sim_guest.c - a simulated guest: memory, vCPU state, workload thread
 * and dirty log (see sim_guest.h).
 */
#include "sim_guest.h"
#include "memimage.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Pages written between two looks at the pause flag: bounds how long
 * pause waits (a few hundred microseconds). */
#define SLICE_PAGES 256
/* Idle sleep, and the time tick of the counter. */
#define TICK_NS 1000000ull
/* Rate debt allowed to build up, in ticks: no burst after a hiccup. */
#define MAX_DEBT_TICKS 10
/* Real-file pages the workload copies from (1 MiB per guest). */
#define FILE_POOL_PAGES 256

struct xlmig_sim_guest {
	uint8_t *mem;                   /* mem_fd, shared */
	int mem_fd, state_fd;           /* memfds others may map */
	struct xlmig_sim_shared *shared;   /* state_fd: counter, dirty log */
	size_t state_len;
	uint64_t mem_bytes, npages;
	unsigned vcpus;
	struct xlmig_sim_workload wl;
	uint8_t *file_pool;             /* FILE_POOL_PAGES pages of files */

	_Atomic uint64_t *dirty;        /* shared->dirty */
	size_t dirty_words;
	atomic_bool logdirty;
	atomic_uint throttle;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started;
	bool pause_req, parked, stop;   /* under lock */
	/* Pages asked for by xlmig_sim_guest_rewrite() and not yet written
	 * (under lock; the workload thread advances rw_next). */
	uint64_t rw_next, rw_end;

	/* Owned by the workload thread while it runs, by whoever paused
	 * the guest while it is parked. */
	struct xlmig_sim_vcpu vcpu;
	double page_debt;               /* pages due but not yet written */
	uint64_t last_ns;
};

/* ---- workload parameters ---- */

void xlmig_sim_workload_default(struct xlmig_sim_workload *wl)
{
	*wl = (struct xlmig_sim_workload){
		.rate = 0,
		.pattern = XLMIG_SIM_UNIFORM,
		.hot_bytes = 16ull << 20,
		.zero_pct = 30,
		.file_pct = 50,
		.fill_pct = 100,
		.seed = 1,
	};
}

static const char *const pattern_names[] = {
	[XLMIG_SIM_UNIFORM] = "uniform",
	[XLMIG_SIM_HOTSET] = "hotset",
	[XLMIG_SIM_SEQUENTIAL] = "sequential",
};

const char *xlmig_sim_pattern_name(enum xlmig_sim_pattern p)
{
	return (unsigned)p < XLMIG_ARRAY_SIZE(pattern_names) ? pattern_names[p] : "?";
}

int xlmig_sim_pattern_parse(const char *s, enum xlmig_sim_pattern *out)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(pattern_names); i++) {
		if (!strcmp(s, pattern_names[i])) {
			*out = (enum xlmig_sim_pattern)i;
			return XLMIG_OK;
		}
	}
	return xlmig_fail(XLMIG_E_INVAL, "unknown workload pattern '%s' (use uniform, hotset or sequential)", s);
}

int xlmig_sim_workload_check(const struct xlmig_sim_workload *wl, uint64_t mem_bytes)
{
	if (wl->rate > XLMIG_SIM_RATE_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "workload rate %llu B/s is over the %llu B/s limit",
				  (unsigned long long)wl->rate, (unsigned long long)XLMIG_SIM_RATE_MAX);
	if ((unsigned)wl->pattern >= XLMIG_ARRAY_SIZE(pattern_names))
		return xlmig_fail(XLMIG_E_INVAL, "unknown workload pattern %u", (unsigned)wl->pattern);
	if (wl->pattern == XLMIG_SIM_HOTSET &&
	    (wl->hot_bytes < XLMIG_PAGE_SIZE || wl->hot_bytes > mem_bytes))
		return xlmig_fail(XLMIG_E_INVAL, "hot set of %llu bytes does not fit a guest of %llu bytes",
				  (unsigned long long)wl->hot_bytes, (unsigned long long)mem_bytes);
	if (wl->zero_pct > 100 || wl->file_pct > 100 - wl->zero_pct)
		return xlmig_fail(XLMIG_E_INVAL, "content mix zero %u%% + file %u%% is over 100%%",
				  wl->zero_pct, wl->file_pct);
	if (wl->fill_pct > 100)
		return xlmig_fail(XLMIG_E_INVAL, "fill %u%% is over 100%%", wl->fill_pct);
	return XLMIG_OK;
}

/* ---- randomness and content ---- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fast, and its whole state fits the vCPU blob. */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_seed(uint64_t seed, uint64_t stream)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull ^ (stream + 1) * 0xbf58476d1ce4e5b9ull;

	return s ? s : 1;
}

static void fill_random(uint8_t *page, uint64_t *rng)
{
	for (unsigned i = 0; i < XLMIG_PAGE_SIZE; i += 8)
		xlmig_put_le64(page + i, rng_next(rng));
}

/* Give a page new content drawn from the workload's mix: zero, a page
 * of a real file (from the guest's pool), or random bytes. */
static void fill_content(const struct xlmig_sim_guest *g, uint8_t *page, uint64_t *rng)
{
	unsigned pick = (unsigned)(rng_next(rng) % 100);

	if (pick < g->wl.zero_pct)
		memset(page, 0, XLMIG_PAGE_SIZE);
	else if (pick < g->wl.zero_pct + g->wl.file_pct)
		memcpy(page, g->file_pool + (rng_next(rng) % FILE_POOL_PAGES) * XLMIG_PAGE_SIZE,
		       XLMIG_PAGE_SIZE);
	else
		fill_random(page, rng);
}

static struct xlmig_memimage_mix memimage_mix(const struct xlmig_sim_workload *wl)
{
	return (struct xlmig_memimage_mix){
		.file_pct = wl->file_pct,
		.zero_pct = wl->zero_pct,
		.random_pct = 100 - wl->file_pct - wl->zero_pct,
	};
}

/* ---- dirty log ---- */

static void mark_dirty(struct xlmig_sim_guest *g, uint64_t pfn)
{
	if (atomic_load_explicit(&g->logdirty, memory_order_acquire))
		atomic_fetch_or_explicit(&g->dirty[pfn / 64], 1ull << (pfn % 64),
					 memory_order_release);
}

void xlmig_sim_guest_logdirty(struct xlmig_sim_guest *g, bool on)
{
	atomic_store_explicit(&g->logdirty, on, memory_order_release);
	if (!on)
		for (size_t i = 0; i < g->dirty_words; i++)
			atomic_store_explicit(&g->dirty[i], 0, memory_order_relaxed);
}

size_t xlmig_sim_guest_bitmap_words(const struct xlmig_sim_guest *g)
{
	return g->dirty_words;
}

uint64_t xlmig_sim_dirty_clean(_Atomic uint64_t *dirty, size_t words, uint64_t *out)
{
	uint64_t count = 0;

	for (size_t i = 0; i < words; i++) {
		uint64_t w;

		if (!atomic_load_explicit(&dirty[i], memory_order_relaxed))
			continue;
		w = atomic_exchange_explicit(&dirty[i], 0, memory_order_acquire);
		out[i] |= w;
		count += (uint64_t)__builtin_popcountll(w);
	}
	return count;
}

_Atomic uint64_t *xlmig_sim_guest_dirty_log(struct xlmig_sim_guest *g)
{
	return g->dirty;
}

uint64_t xlmig_sim_guest_dirty_clean(struct xlmig_sim_guest *g, uint64_t *out)
{
	return xlmig_sim_dirty_clean(g->dirty, g->dirty_words, out);
}

/* ---- the workload ---- */

static void store_counter(struct xlmig_sim_guest *g)
{
	xlmig_put_le64(g->mem, g->vcpu.counter);
	mark_dirty(g, 0);
	atomic_store_explicit(&g->shared->counter, g->vcpu.counter, memory_order_release);
}

static uint64_t next_pfn(struct xlmig_sim_guest *g)
{
	uint64_t span;

	switch (g->wl.pattern) {
	case XLMIG_SIM_SEQUENTIAL:
		if (g->vcpu.pos == 0 || g->vcpu.pos >= g->npages)
			g->vcpu.pos = 1;
		return g->vcpu.pos++;
	case XLMIG_SIM_HOTSET:
		span = XLMIG_MAX(g->wl.hot_bytes / XLMIG_PAGE_SIZE, 2) - 1;
		break;
	default:
		span = g->npages - 1;
		break;
	}
	return 1 + rng_next(&g->vcpu.rng) % XLMIG_MIN(span, g->npages - 1);
}

static void write_page(struct xlmig_sim_guest *g, uint64_t pfn)
{
	fill_content(g, g->mem + pfn * XLMIG_PAGE_SIZE, &g->vcpu.rng);
	mark_dirty(g, pfn);
	g->vcpu.pages_written++;
	g->vcpu.counter++;
	store_counter(g);
}

static void write_one_page(struct xlmig_sim_guest *g)
{
	write_page(g, next_pfn(g));
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run for up to one tick: write the n pages of a rewrite from first on,
 * then the pages the rate says are due. */
static void run_slice(struct xlmig_sim_guest *g, uint64_t first, unsigned n_rewrite)
{
	uint64_t now = xlmig_now_ns();
	unsigned throttle = atomic_load_explicit(&g->throttle, memory_order_relaxed);
	double per_ns = (double)g->wl.rate / XLMIG_PAGE_SIZE / 1e9 * (100 - throttle) / 100.0;
	unsigned n;

	g->page_debt += per_ns * (double)(now - g->last_ns);
	g->page_debt = XLMIG_MIN(g->page_debt, XLMIG_MAX(per_ns * MAX_DEBT_TICKS * TICK_NS, SLICE_PAGES));
	g->last_ns = now;
	for (n = 0; n < n_rewrite; n++)
		write_page(g, first + n);
	for (n = 0; n < SLICE_PAGES && g->page_debt >= 1.0; n++, g->page_debt -= 1.0)
		write_one_page(g);
	g->vcpu.counter++;   /* the time tick */
	store_counter(g);
	if (g->page_debt < 1.0 && n_rewrite == 0) {
		uint64_t until_next = per_ns > 0 ? (uint64_t)((1.0 - g->page_debt) / per_ns) : TICK_NS;

		sleep_ns(XLMIG_MIN(until_next, TICK_NS));
	}
}

static void *workload_main(void *arg)
{
	struct xlmig_sim_guest *g = arg;
	uint64_t first;
	unsigned n;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		if (g->pause_req) {
			g->parked = true;
			pthread_cond_broadcast(&g->cond);
			while (g->pause_req && !g->stop)
				pthread_cond_wait(&g->cond, &g->lock);
			g->parked = false;
			/* Paused time is not run time: nothing falls due. */
			g->last_ns = xlmig_now_ns();
			continue;
		}
		first = g->rw_next;
		n = (unsigned)XLMIG_MIN(g->rw_end - g->rw_next, (uint64_t)SLICE_PAGES);
		pthread_mutex_unlock(&g->lock);
		run_slice(g, first, n);
		pthread_mutex_lock(&g->lock);
		g->rw_next += n;
		if (n && g->rw_next == g->rw_end)
			pthread_cond_broadcast(&g->cond);
	}
	g->parked = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int xlmig_sim_guest_pause(struct xlmig_sim_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->pause_req = true;
	while (!g->parked)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return XLMIG_OK;
}

void xlmig_sim_guest_unpause(struct xlmig_sim_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->pause_req = false;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Under lock: a pause was asked for, but the workload may still be in
 * the middle of a slice. */
static bool parked_for_pause(const struct xlmig_sim_guest *g)
{
	return g->pause_req && g->parked;
}

static int rewrite_range_check(const struct xlmig_sim_guest *g, uint64_t first_pfn,
			       uint64_t count)
{
	if (first_pfn == 0 || first_pfn >= g->npages || count > g->npages - first_pfn)
		return xlmig_fail(XLMIG_E_INVAL,
				  "cannot rewrite %llu pages from pfn %llu: the workload owns pfns 1 to %llu (pfn 0 is the counter)",
				  (unsigned long long)count, (unsigned long long)first_pfn,
				  (unsigned long long)(g->npages - 1));
	return XLMIG_OK;
}

int xlmig_sim_guest_rewrite(struct xlmig_sim_guest *g, uint64_t first_pfn, uint64_t count)
{
	int rc = rewrite_range_check(g, first_pfn, count);

	if (rc != XLMIG_OK)
		return rc;
	pthread_mutex_lock(&g->lock);
	/* One rewrite at a time: wait for another caller's to finish. */
	while (g->rw_next != g->rw_end && !g->pause_req)
		pthread_cond_wait(&g->cond, &g->lock);
	if (g->pause_req) {
		rc = xlmig_fail(XLMIG_E_INVAL, "a paused guest does not rewrite its pages");
		goto out;
	}
	g->rw_next = first_pfn;
	g->rw_end = first_pfn + count;
	while (g->rw_next != g->rw_end && !parked_for_pause(g))
		pthread_cond_wait(&g->cond, &g->lock);
	if (g->rw_next != g->rw_end) {
		/* Parked: the workload thread holds no part of the range. */
		rc = xlmig_fail(XLMIG_E_INVAL, "the guest was paused after rewriting %llu of %llu pages",
				(unsigned long long)(g->rw_next - first_pfn), (unsigned long long)count);
		g->rw_next = g->rw_end;
	}
out:
	pthread_mutex_unlock(&g->lock);
	return rc;
}

bool xlmig_sim_guest_paused(struct xlmig_sim_guest *g)
{
	bool paused;

	pthread_mutex_lock(&g->lock);
	paused = parked_for_pause(g);
	pthread_mutex_unlock(&g->lock);
	return paused;
}

void xlmig_sim_guest_set_throttle(struct xlmig_sim_guest *g, unsigned pct)
{
	atomic_store_explicit(&g->throttle, XLMIG_MIN(pct, 99u), memory_order_relaxed);
}

unsigned xlmig_sim_guest_throttle(const struct xlmig_sim_guest *g)
{
	return atomic_load_explicit(&g->throttle, memory_order_relaxed);
}

/* ---- creation ---- */

/* A fresh boot: the first fill_pct of memory (after the counter page)
 * gets the workload's content mix laid out as in a used guest; its zero
 * pages and the rest stay untouched holes that cost no host memory. */
static int boot_fill(struct xlmig_sim_guest *g)
{
	struct xlmig_memimage_mix mix = memimage_mix(&g->wl);
	struct xlmig_memimage_info info;
	uint64_t n = (g->npages - 1) * g->wl.fill_pct / 100;
	int rc = XLMIG_OK;

	if (n)
		rc = xlmig_memimage_fill(g->mem + XLMIG_PAGE_SIZE, n, &mix, g->wl.seed, NULL,
					 XLMIG_MEMIMAGE_FRESH, &info);
	return rc != XLMIG_OK ? xlmig_fail_prefix(rc, "filling guest memory") : XLMIG_OK;
}

static int make_file_pool(struct xlmig_sim_guest *g)
{
	static const struct xlmig_memimage_mix files_only = { .file_pct = 100 };
	struct xlmig_memimage_info info;
	int rc;

	if (g->wl.file_pct == 0)
		return XLMIG_OK;
	g->file_pool = malloc((size_t)FILE_POOL_PAGES * XLMIG_PAGE_SIZE);
	if (!g->file_pool)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a workload's file pages");
	rc = xlmig_memimage_fill(g->file_pool, FILE_POOL_PAGES, &files_only,
				 g->wl.seed ^ 0x5eed, NULL, 0, &info);
	return rc != XLMIG_OK ? xlmig_fail_prefix(rc, "reading file pages for the workload") : XLMIG_OK;
}

static int check_shape(uint64_t mem_bytes, unsigned vcpus)
{
	if (mem_bytes < XLMIG_SIM_MEM_MIN || mem_bytes > XLMIG_SIM_MEM_MAX ||
	    mem_bytes % XLMIG_PAGE_SIZE)
		return xlmig_fail(XLMIG_E_INVAL,
				  "guest memory of %llu bytes: sim guests have 64 MiB to 8 GiB in whole pages",
				  (unsigned long long)mem_bytes);
	if (vcpus < 1 || vcpus > XLMIG_SIM_VCPUS_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "%u vCPUs: sim guests have 1 to %u",
				  vcpus, XLMIG_SIM_VCPUS_MAX);
	return XLMIG_OK;
}

/* A memfd of len bytes mapped shared: others (xlmigd) map the same pages
 * through the fd.  Pages never written cost no memory. */
static int map_memfd(const char *name, size_t len, int *fd, void **out)
{
	*fd = memfd_create(name, MFD_CLOEXEC);
	if (*fd < 0)
		return xlmig_fail(XLMIG_E_NOSPC, "memfd_create for %s: %s", name, strerror(errno));
	if (ftruncate(*fd, (off_t)len) != 0)
		return xlmig_fail(XLMIG_E_NOSPC, "cannot size %s to %zu bytes: %s", name, len,
				  strerror(errno));
	*out = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, *fd, 0);
	if (*out == MAP_FAILED) {
		*out = NULL;
		return xlmig_fail(XLMIG_E_NOSPC, "cannot map %zu bytes of %s: %s", len, name,
				  strerror(errno));
	}
	return XLMIG_OK;
}

static int alloc_memory(struct xlmig_sim_guest *g)
{
	void *state = NULL;
	int rc;

	g->dirty_words = (size_t)((g->npages + 63) / 64);
	g->state_len = xlmig_sim_shared_len(g->npages);
	rc = map_memfd("xlmig-sim-memory", g->mem_bytes, &g->mem_fd, (void **)&g->mem);
	if (rc == XLMIG_OK)
		rc = map_memfd("xlmig-sim-state", g->state_len, &g->state_fd, &state);
	if (rc != XLMIG_OK)
		return rc;
	g->shared = state;
	g->shared->magic = XLMIG_SIM_SHARED_MAGIC;
	g->shared->version = XLMIG_SIM_SHARED_VERSION;
	g->shared->npages = g->npages;
	g->shared->dirty_words = g->dirty_words;
	g->dirty = g->shared->dirty;
	return XLMIG_OK;
}

size_t xlmig_sim_shared_len(uint64_t npages)
{
	return sizeof(struct xlmig_sim_shared) + (size_t)((npages + 63) / 64) * sizeof(uint64_t);
}

int xlmig_sim_shared_check(const struct xlmig_sim_shared *sh, size_t len, uint64_t npages)
{
	if (len < sizeof(*sh) || sh->magic != XLMIG_SIM_SHARED_MAGIC ||
	    sh->version != XLMIG_SIM_SHARED_VERSION)
		return xlmig_fail(XLMIG_E_FORMAT, "a sim guest's shared state is not one this xlmig knows (version %u)",
				  len >= sizeof(*sh) ? sh->version : 0);
	if (sh->npages != npages || sh->dirty_words != (npages + 63) / 64 ||
	    len < xlmig_sim_shared_len(npages))
		return xlmig_fail(XLMIG_E_FORMAT, "a sim guest's shared state of %zu bytes does not fit its %llu pages",
				  len, (unsigned long long)npages);
	return XLMIG_OK;
}

int xlmig_sim_guest_new(uint64_t mem_bytes, unsigned vcpus,
			const struct xlmig_sim_workload *wl, bool boot,
			struct xlmig_sim_guest **out)
{
	struct xlmig_sim_guest *g = NULL;
	int rc;

	rc = check_shape(mem_bytes, vcpus);
	if (rc == XLMIG_OK)
		rc = xlmig_sim_workload_check(wl, mem_bytes);
	if (rc != XLMIG_OK)
		goto out;
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim guest");
		goto out;
	}
	g->mem_bytes = mem_bytes;
	g->npages = mem_bytes / XLMIG_PAGE_SIZE;
	g->vcpus = vcpus;
	g->wl = *wl;
	g->vcpu = (struct xlmig_sim_vcpu){ .rng = rng_seed(wl->seed, 0), .pos = 1 };
	g->pause_req = true;
	g->mem_fd = g->state_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	rc = alloc_memory(g);
	if (rc == XLMIG_OK)
		rc = make_file_pool(g);
	if (rc == XLMIG_OK && boot)
		rc = boot_fill(g);
	if (rc != XLMIG_OK)
		goto out;
	if (pthread_create(&g->thread, NULL, workload_main, g) != 0) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start the workload thread of a sim guest");
		goto out;
	}
	g->thread_started = true;
	rc = xlmig_sim_guest_pause(g);   /* wait until it is parked */
out:
	if (rc != XLMIG_OK) {
		xlmig_sim_guest_free(g);
		g = NULL;
	}
	*out = g;
	return rc;
}

void xlmig_sim_guest_free(struct xlmig_sim_guest *g)
{
	if (!g)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->lock);
		g->stop = true;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	if (g->mem)
		munmap(g->mem, g->mem_bytes);
	if (g->shared)
		munmap(g->shared, g->state_len);
	if (g->mem_fd >= 0)
		close(g->mem_fd);
	if (g->state_fd >= 0)
		close(g->state_fd);
	free(g->file_pool);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

/* ---- accessors ---- */

uint64_t xlmig_sim_guest_mem_bytes(const struct xlmig_sim_guest *g) { return g->mem_bytes; }
uint64_t xlmig_sim_guest_npages(const struct xlmig_sim_guest *g) { return g->npages; }
unsigned xlmig_sim_guest_vcpus(const struct xlmig_sim_guest *g) { return g->vcpus; }
uint8_t *xlmig_sim_guest_mem(struct xlmig_sim_guest *g) { return g->mem; }
int xlmig_sim_guest_mem_fd(const struct xlmig_sim_guest *g) { return g->mem_fd; }
int xlmig_sim_guest_state_fd(const struct xlmig_sim_guest *g) { return g->state_fd; }

const struct xlmig_sim_workload *xlmig_sim_guest_workload(const struct xlmig_sim_guest *g)
{
	return &g->wl;
}

uint64_t xlmig_sim_guest_counter(const struct xlmig_sim_guest *g)
{
	return atomic_load_explicit(&g->shared->counter, memory_order_acquire);
}

uint64_t xlmig_sim_guest_mem_counter(const struct xlmig_sim_guest *g)
{
	return xlmig_get_le64(g->mem);
}

static int require_paused(struct xlmig_sim_guest *g, const char *what)
{
	if (!xlmig_sim_guest_paused(g))
		return xlmig_fail(XLMIG_E_INVAL, "%s needs a paused guest", what);
	return XLMIG_OK;
}

int xlmig_sim_guest_get_vcpu(struct xlmig_sim_guest *g, struct xlmig_sim_vcpu *out)
{
	int rc = require_paused(g, "reading the vCPU state");

	if (rc == XLMIG_OK)
		*out = g->vcpu;
	return rc;
}

int xlmig_sim_guest_set_vcpu(struct xlmig_sim_guest *g, const struct xlmig_sim_vcpu *v)
{
	int rc = require_paused(g, "setting the vCPU state");

	if (rc != XLMIG_OK)
		return rc;
	if (v->rng == 0 || v->pos >= g->npages)
		return xlmig_fail(XLMIG_E_FORMAT, "vCPU state is invalid (random state %s, position %llu of %llu pages)",
				  v->rng ? "set" : "zero", (unsigned long long)v->pos,
				  (unsigned long long)g->npages);
	g->vcpu = *v;
	atomic_store_explicit(&g->shared->counter, v->counter, memory_order_release);
	return XLMIG_OK;
}

/* ---- the vCPU blob ---- */

int xlmig_sim_guest_save_vcpu(struct xlmig_sim_guest *g,
			      uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN])
{
	struct xlmig_sim_vcpu v;
	int rc = xlmig_sim_guest_get_vcpu(g, &v);

	if (rc != XLMIG_OK)
		return rc;
	memcpy(blob, XLMIG_SIM_VCPU_MAGIC, 8);
	xlmig_put_le32(blob + 8, XLMIG_SIM_VCPU_VERSION);
	xlmig_put_le32(blob + 12, g->vcpus);
	xlmig_put_le64(blob + 16, g->mem_bytes);
	xlmig_put_le64(blob + 24, v.counter);
	xlmig_put_le64(blob + 32, v.rng);
	xlmig_put_le64(blob + 40, v.pos);
	xlmig_put_le64(blob + 48, v.pages_written);
	return XLMIG_OK;
}

int xlmig_sim_guest_load_vcpu(struct xlmig_sim_guest *g, const uint8_t *blob, size_t len)
{
	struct xlmig_sim_vcpu v;
	int rc = XLMIG_E_FORMAT;

	if (len != XLMIG_SIM_VCPU_BLOB_LEN || memcmp(blob, XLMIG_SIM_VCPU_MAGIC, 8) != 0) {
		xlmig_fail(rc, "HVM_CONTEXT is not a sim vCPU state (%zu bytes)", len);
		goto out;
	}
	if (xlmig_get_le32(blob + 8) != XLMIG_SIM_VCPU_VERSION) {
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "sim vCPU state version %u (this xlmig reads %u)",
				xlmig_get_le32(blob + 8), XLMIG_SIM_VCPU_VERSION);
		goto out;
	}
	if (xlmig_get_le32(blob + 12) != g->vcpus || xlmig_get_le64(blob + 16) != g->mem_bytes) {
		xlmig_fail(rc, "sim vCPU state is for %u vCPUs and %llu bytes, the config says %u and %llu",
			   xlmig_get_le32(blob + 12), (unsigned long long)xlmig_get_le64(blob + 16),
			   g->vcpus, (unsigned long long)g->mem_bytes);
		goto out;
	}
	v = (struct xlmig_sim_vcpu){
		.counter = xlmig_get_le64(blob + 24),
		.rng = xlmig_get_le64(blob + 32),
		.pos = xlmig_get_le64(blob + 40),
		.pages_written = xlmig_get_le64(blob + 48),
	};
	if (v.counter != xlmig_sim_guest_mem_counter(g)) {
		xlmig_fail(rc, "sim vCPU counter %llu disagrees with the counter in memory (%llu): the memory image is not the one paused with this state",
			   (unsigned long long)v.counter,
			   (unsigned long long)xlmig_sim_guest_mem_counter(g));
		goto out;
	}
	rc = xlmig_sim_guest_set_vcpu(g, &v);
out:
	return rc;
}

/* ---- holes and digest ---- */

static void set_bits(uint64_t *bits, uint64_t first, uint64_t end)
{
	for (uint64_t pfn = first; pfn < end; pfn++)
		bits[pfn / 64] |= 1ull << (pfn % 64);
}

uint64_t xlmig_sim_mem_holes(int mem_fd, uint64_t npages, uint64_t *holes)
{
	off_t size = (off_t)(npages * XLMIG_PAGE_SIZE), pos = 0;
	uint64_t count = 0;

	memset(holes, 0, (size_t)((npages + 63) / 64) * sizeof(*holes));
	while (mem_fd >= 0 && pos < size) {
		off_t hole = lseek(mem_fd, pos, SEEK_HOLE), data;
		uint64_t first, end;

		if (hole < 0 || hole >= size)
			break;
		data = lseek(mem_fd, hole, SEEK_DATA);
		if (data < 0 || data > size)
			data = size;   /* ENXIO: a hole up to the end */
		/* Whole pages only: a hole is page-aligned on shared memory,
		 * but a page partly data is data. */
		first = ((uint64_t)hole + XLMIG_PAGE_SIZE - 1) / XLMIG_PAGE_SIZE;
		end = (uint64_t)data / XLMIG_PAGE_SIZE;
		if (end > first) {
			set_bits(holes, first, end);
			count += end - first;
		}
		pos = data;
	}
	return count;
}

/* Hash [from, to) of memory, the holes in it as zeroes from zero[]. */
static int digest_range(EVP_MD_CTX *ctx, const uint8_t *mem, const uint64_t *holes,
			uint64_t from, uint64_t to, const uint8_t *zero)
{
	uint64_t pfn = from;

	while (pfn < to) {
		bool hole = holes && (holes[pfn / 64] >> (pfn % 64)) & 1;
		uint64_t run = pfn + 1;

		while (run < to && run - pfn < 256 &&
		       (holes && (holes[run / 64] >> (run % 64)) & 1) == hole)
			run++;
		if (EVP_DigestUpdate(ctx, hole ? zero : mem + pfn * XLMIG_PAGE_SIZE,
				     (run - pfn) * XLMIG_PAGE_SIZE) != 1)
			return XLMIG_E_NOMEM;
		pfn = run;
	}
	return XLMIG_OK;
}

int xlmig_sim_mem_digest(const uint8_t *mem, uint64_t len, int mem_fd, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t npages = len / XLMIG_PAGE_SIZE;
	uint64_t *holes = NULL;
	uint8_t *zero = calloc(256, XLMIG_PAGE_SIZE);
	unsigned dlen = 0;
	int rc = XLMIG_OK;

	if (mem_fd >= 0 && len % XLMIG_PAGE_SIZE == 0) {
		holes = malloc((size_t)((npages + 63) / 64) * sizeof(*holes));
		if (holes && !xlmig_sim_mem_holes(mem_fd, npages, holes)) {
			free(holes);
			holes = NULL;
		}
	}
	if (!ctx || !zero || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    digest_range(ctx, mem, holes, 0, npages, zero) != XLMIG_OK ||
	    EVP_DigestUpdate(ctx, mem + npages * XLMIG_PAGE_SIZE, len % XLMIG_PAGE_SIZE) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &dlen) != 1 || dlen != 32)
		rc = xlmig_fail(XLMIG_E_NOMEM, "SHA-256 of guest memory failed (OpenSSL)");
	EVP_MD_CTX_free(ctx);
	free(holes);
	free(zero);
	return rc;
}

int xlmig_sim_guest_digest(struct xlmig_sim_guest *g, uint8_t out[32])
{
	return xlmig_sim_mem_digest(g->mem, g->mem_bytes, g->mem_fd, out);
}
