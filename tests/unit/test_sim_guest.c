/* test_sim_guest.c - the simulated guest: dirty log, pause, throttle,
 * rate, patterns, vCPU blob, digest, holes (and the engine's care not to
 * fill them). */
#include "unit.h"
#include "policy.h"
#include "sim_engine.h"
#include "sim_guest.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Let a paused guest run, in slices of slice_ms, until its workload has
 * written at least `pages` more pages and its counter has moved by at
 * least `ticks`, then leave it paused.  How long that takes depends on
 * the CPU the machine gives the workload: the deadline is generous. */
static bool run_until(struct xlmig_sim_guest *g, unsigned slice_ms, uint64_t pages, uint64_t ticks)
{
	uint64_t deadline = xlmig_now_ns() + 10000000000ull;
	struct xlmig_sim_vcpu a, b;

	if (xlmig_sim_guest_get_vcpu(g, &a) != XLMIG_OK)
		return false;
	do {
		xlmig_sim_guest_unpause(g);
		sleep_ms(slice_ms);
		if (xlmig_sim_guest_pause(g) != XLMIG_OK || xlmig_sim_guest_get_vcpu(g, &b) != XLMIG_OK)
			return false;
		if (b.pages_written - a.pages_written >= pages && b.counter - a.counter >= ticks)
			return true;
	} while (xlmig_now_ns() < deadline);
	return false;
}

/* A guest whose memory starts as zeroes and whose workload writes only
 * random pages, so "page is not zero" means "page was written". */
static struct xlmig_sim_guest *random_writer(uint64_t rate, enum xlmig_sim_pattern pat,
					     uint64_t hot_bytes)
{
	struct xlmig_sim_workload wl;
	struct xlmig_sim_guest *g = NULL;

	xlmig_sim_workload_default(&wl);
	wl.rate = rate;
	wl.pattern = pat;
	wl.hot_bytes = hot_bytes;
	wl.zero_pct = 0;
	wl.file_pct = 0;
	wl.fill_pct = 0;
	if (xlmig_sim_guest_new(64 * MIB, 1, &wl, true, &g) != XLMIG_OK)
		return NULL;
	return g;
}

static bool page_is_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < XLMIG_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

static bool bit(const uint64_t *bm, uint64_t pfn)
{
	return bm[pfn / 64] >> (pfn % 64) & 1;
}

TEST(sim_guest_dirty_log_marks_exactly_the_written_pages)
{
	struct xlmig_sim_guest *g = random_writer(32 * MIB, XLMIG_SIM_UNIFORM, 0);
	uint64_t npages, *bm, count, nonzero = 0;
	uint8_t *before;

	CHECK(g != NULL);
	npages = xlmig_sim_guest_npages(g);
	bm = calloc(xlmig_sim_guest_bitmap_words(g), sizeof(*bm));
	CHECK(bm != NULL);
	/* Round 1: from all-zero memory, the written pages are the non-zero ones. */
	xlmig_sim_guest_logdirty(g, true);
	CHECK(run_until(g, 20, 200, 0));
	count = xlmig_sim_guest_dirty_clean(g, bm);
	for (uint64_t pfn = 0; pfn < npages; pfn++) {
		bool written = !page_is_zero(xlmig_sim_guest_mem(g) + pfn * XLMIG_PAGE_SIZE);

		nonzero += written;
		if (written != bit(bm, pfn)) {
			CHECK_EQ(pfn, UINT64_MAX);   /* report the first mismatch */
		}
	}
	CHECK_EQ(count, nonzero);
	CHECK(count > 100);   /* 200 writes over 16383 pages: few repeats */
	/* Paused: nothing more is logged. */
	memset(bm, 0, xlmig_sim_guest_bitmap_words(g) * sizeof(*bm));
	CHECK_EQ(xlmig_sim_guest_dirty_clean(g, bm), 0);

	/* Round 2: the pages that changed are exactly the marked ones. */
	before = malloc(npages * XLMIG_PAGE_SIZE);
	CHECK(before != NULL);
	memcpy(before, xlmig_sim_guest_mem(g), npages * XLMIG_PAGE_SIZE);
	CHECK(run_until(g, 20, 64, 0));
	count = xlmig_sim_guest_dirty_clean(g, bm);
	CHECK(count > 10);
	for (uint64_t pfn = 0; pfn < npages; pfn++) {
		bool changed = memcmp(before + pfn * XLMIG_PAGE_SIZE,
				      xlmig_sim_guest_mem(g) + pfn * XLMIG_PAGE_SIZE,
				      XLMIG_PAGE_SIZE) != 0;

		if (changed != bit(bm, pfn)) {
			CHECK_EQ(pfn, UINT64_MAX);
		}
	}
	/* Log-dirty off: writes are not logged. */
	xlmig_sim_guest_logdirty(g, false);
	xlmig_sim_guest_unpause(g);
	sleep_ms(20);
	CHECK_OK(xlmig_sim_guest_pause(g));
	memset(bm, 0, xlmig_sim_guest_bitmap_words(g) * sizeof(*bm));
	CHECK_EQ(xlmig_sim_guest_dirty_clean(g, bm), 0);
	free(before);
	free(bm);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_pause_is_consistent)
{
	struct xlmig_sim_guest *g = random_writer(200 * MIB, XLMIG_SIM_UNIFORM, 0);
	struct xlmig_sim_vcpu v;
	uint64_t last = 0;

	CHECK(g != NULL);
	CHECK(xlmig_sim_guest_paused(g));   /* created paused */
	for (int i = 0; i < 20; i++) {
		CHECK(run_until(g, 5, 0, 1));
		CHECK(xlmig_sim_guest_paused(g));
		CHECK_OK(xlmig_sim_guest_get_vcpu(g, &v));
		CHECK_EQ(v.counter, xlmig_sim_guest_mem_counter(g));
		CHECK_EQ(v.counter, xlmig_sim_guest_counter(g));
		CHECK(v.counter > last);
		last = v.counter;
		sleep_ms(5);   /* a paused guest does nothing */
		CHECK_EQ(xlmig_sim_guest_counter(g), last);
		CHECK_EQ(xlmig_sim_guest_mem_counter(g), last);
	}
	/* The vCPU state is only readable while paused. */
	xlmig_sim_guest_unpause(g);
	CHECK_EQ(xlmig_sim_guest_get_vcpu(g, &v), XLMIG_E_INVAL);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_idle_counter_ticks_with_time)
{
	struct xlmig_sim_guest *g = random_writer(0, XLMIG_SIM_UNIFORM, 0);
	struct xlmig_sim_vcpu v;
	uint64_t t0 = xlmig_now_ns(), ms;

	CHECK(g != NULL);
	CHECK(run_until(g, 20, 0, 20));
	ms = (xlmig_now_ns() - t0) / 1000000;
	CHECK_OK(xlmig_sim_guest_get_vcpu(g, &v));
	CHECK_EQ(v.pages_written, 0);
	CHECK(v.counter >= 20);
	/* At most a tick per ms: an idle guest sleeps a tick at a time. */
	if (v.counter > ms + 2)
		CHECK_EQ(v.counter, ms);
	xlmig_sim_guest_free(g);
}

static uint64_t pages_written_in(struct xlmig_sim_guest *g, unsigned ms)
{
	struct xlmig_sim_vcpu a, b;

	if (xlmig_sim_guest_get_vcpu(g, &a) != XLMIG_OK)
		return UINT64_MAX;
	xlmig_sim_guest_unpause(g);
	sleep_ms(ms);
	xlmig_sim_guest_pause(g);
	if (xlmig_sim_guest_get_vcpu(g, &b) != XLMIG_OK)
		return UINT64_MAX;
	return b.pages_written - a.pages_written;
}

TEST(sim_guest_rate_and_throttle)
{
	struct xlmig_sim_guest *g = random_writer(40 * MIB, XLMIG_SIM_UNIFORM, 0);
	uint64_t full, slow;

	CHECK(g != NULL);
	/* 40 MiB/s = 10240 pages/s: ~3072 in 300 ms, never more; fewer if
	 * the machine starves the workload thread, so the comparison is
	 * made again (up to 20 times) until a run got its CPU. */
	for (int attempt = 0; attempt < 20; attempt++) {
		xlmig_sim_guest_set_throttle(g, 0);
		full = pages_written_in(g, 300);
		CHECK(full < 3072 * 14 / 10);
		xlmig_sim_guest_set_throttle(g, 80);
		CHECK_EQ(xlmig_sim_guest_throttle(g), 80);
		slow = pages_written_in(g, 300);
		CHECK(slow < 3072 * 2 / 10 * 14 / 10 + 256);   /* + a slice's burst */
		if (full > 3072 / 4 && slow < full / 3 && slow > 0)
			break;
	}
	CHECK(full > 3072 / 4);
	CHECK(slow < full / 3);
	CHECK(slow > 0);
	xlmig_sim_guest_set_throttle(g, 150);   /* clamped */
	CHECK_EQ(xlmig_sim_guest_throttle(g), 99);
	xlmig_sim_guest_free(g);
}

/* Dirty pages after the workload wrote at least `pages`. */
static uint64_t dirty_after_run(struct xlmig_sim_guest *g, uint64_t *bm, uint64_t pages)
{
	xlmig_sim_guest_logdirty(g, true);
	if (!run_until(g, 20, pages, 0))
		return 0;
	return xlmig_sim_guest_dirty_clean(g, bm);
}

TEST(sim_guest_hotset_stays_in_the_hot_set)
{
	struct xlmig_sim_guest *g = random_writer(100 * MIB, XLMIG_SIM_HOTSET, 1 * MIB);
	uint64_t *bm;

	CHECK(g != NULL);
	bm = calloc(xlmig_sim_guest_bitmap_words(g), sizeof(*bm));
	CHECK(bm != NULL);
	/* 400 writes over the 255 hot pages touch ~200 of them. */
	CHECK(dirty_after_run(g, bm, 400) > 100);
	for (uint64_t pfn = 256; pfn < xlmig_sim_guest_npages(g); pfn++)
		if (bit(bm, pfn))
			CHECK_EQ(pfn, 0);
	free(bm);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_sequential_sweeps_in_order)
{
	struct xlmig_sim_guest *g = random_writer(20 * MIB, XLMIG_SIM_SEQUENTIAL, 0);
	struct xlmig_sim_vcpu v;
	uint64_t *bm, n;

	CHECK(g != NULL);
	bm = calloc(xlmig_sim_guest_bitmap_words(g), sizeof(*bm));
	CHECK(bm != NULL);
	n = dirty_after_run(g, bm, 100);
	CHECK(n > 100);
	CHECK_OK(xlmig_sim_guest_get_vcpu(g, &v));
	/* pfn 0 (counter) and the pages 1 .. pos-1, nothing else. */
	CHECK_EQ(n, v.pos);
	for (uint64_t pfn = 0; pfn < xlmig_sim_guest_npages(g); pfn++)
		CHECK_EQ(bit(bm, pfn), pfn < v.pos);
	free(bm);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_rewrite_writes_exactly_the_range)
{
	struct xlmig_sim_guest *g = random_writer(0, XLMIG_SIM_UNIFORM, 0);
	struct xlmig_sim_vcpu v;
	uint64_t *bm;

	CHECK(g != NULL);
	bm = calloc(xlmig_sim_guest_bitmap_words(g), sizeof(*bm));
	CHECK(bm != NULL);
	CHECK_EQ(xlmig_sim_guest_rewrite(g, 1, 10), XLMIG_E_INVAL);   /* paused */
	xlmig_sim_guest_logdirty(g, true);
	xlmig_sim_guest_unpause(g);
	CHECK_EQ(xlmig_sim_guest_rewrite(g, 0, 1), XLMIG_E_INVAL);    /* the counter's */
	CHECK_EQ(xlmig_sim_guest_rewrite(g, xlmig_sim_guest_npages(g) - 1, 2), XLMIG_E_INVAL);
	/* An idle workload does it all, at once: more than a slice's worth. */
	CHECK_OK(xlmig_sim_guest_rewrite(g, 100, 1000));
	CHECK_OK(xlmig_sim_guest_pause(g));
	CHECK_OK(xlmig_sim_guest_get_vcpu(g, &v));
	CHECK_EQ(v.pages_written, 1000);
	CHECK_EQ(xlmig_sim_guest_dirty_clean(g, bm), 1001);   /* and pfn 0 */
	for (uint64_t pfn = 0; pfn < xlmig_sim_guest_npages(g); pfn++)
		CHECK_EQ(bit(bm, pfn), pfn == 0 || (pfn >= 100 && pfn < 1100));
	CHECK(!page_is_zero(xlmig_sim_guest_mem(g) + 1099 * XLMIG_PAGE_SIZE));
	free(bm);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_boot_fill_and_content_mix)
{
	struct xlmig_sim_workload wl;
	struct xlmig_sim_guest *g;
	uint64_t npages, filled, zero_first = 0, zero_second = 0;

	xlmig_sim_workload_default(&wl);
	wl.fill_pct = 50;
	wl.zero_pct = 10;
	wl.file_pct = 60;
	CHECK_OK(xlmig_sim_guest_new(64 * MIB, 2, &wl, true, &g));
	npages = xlmig_sim_guest_npages(g);
	filled = (npages - 1) / 2;     /* pfns 1 .. filled */
	for (uint64_t pfn = 1; pfn < npages; pfn++) {
		bool z = page_is_zero(xlmig_sim_guest_mem(g) + pfn * XLMIG_PAGE_SIZE);

		if (pfn <= filled)
			zero_first += z;
		else
			zero_second += z;
	}
	/* The filled half is mostly content, the rest untouched. */
	CHECK(zero_first < filled * 20 / 100);
	CHECK(zero_first > 0);
	CHECK_EQ(zero_second, npages - 1 - filled);
	CHECK_EQ(xlmig_sim_guest_vcpus(g), 2);
	xlmig_sim_guest_free(g);
}

TEST(sim_guest_rejects_bad_shapes_and_workloads)
{
	struct xlmig_sim_workload wl;
	struct xlmig_sim_guest *g = (void *)1;
	enum xlmig_sim_pattern pat;

	xlmig_sim_workload_default(&wl);
	CHECK_EQ(xlmig_sim_guest_new(32 * MIB, 1, &wl, false, &g), XLMIG_E_INVAL);
	CHECK(g == NULL);
	CHECK_EQ(xlmig_sim_guest_new(16ull << 30, 1, &wl, false, &g), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_sim_guest_new(64 * MIB + 1, 1, &wl, false, &g), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_sim_guest_new(64 * MIB, 0, &wl, false, &g), XLMIG_E_INVAL);
	CHECK(strstr(xlmig_errmsg(), "vCPUs") != NULL);
	wl.zero_pct = 60;
	wl.file_pct = 50;
	CHECK_EQ(xlmig_sim_workload_check(&wl, 64 * MIB), XLMIG_E_INVAL);
	xlmig_sim_workload_default(&wl);
	wl.pattern = XLMIG_SIM_HOTSET;
	wl.hot_bytes = 128 * MIB;
	CHECK_EQ(xlmig_sim_workload_check(&wl, 64 * MIB), XLMIG_E_INVAL);
	xlmig_sim_workload_default(&wl);
	wl.rate = XLMIG_SIM_RATE_MAX + 1;
	CHECK_EQ(xlmig_sim_workload_check(&wl, 64 * MIB), XLMIG_E_INVAL);
	xlmig_sim_workload_default(&wl);
	wl.fill_pct = 101;
	CHECK_EQ(xlmig_sim_workload_check(&wl, 64 * MIB), XLMIG_E_INVAL);
	CHECK_OK(xlmig_sim_pattern_parse("hotset", &pat));
	CHECK_EQ(pat, XLMIG_SIM_HOTSET);
	CHECK_STR(xlmig_sim_pattern_name(XLMIG_SIM_SEQUENTIAL), "sequential");
	CHECK_EQ(xlmig_sim_pattern_parse("zigzag", &pat), XLMIG_E_INVAL);
}

TEST(sim_guest_vcpu_blob_round_trip_and_checks)
{
	struct xlmig_sim_guest *a = random_writer(10 * MIB, XLMIG_SIM_SEQUENTIAL, 0);
	struct xlmig_sim_guest *b = random_writer(0, XLMIG_SIM_SEQUENTIAL, 0);
	uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN], bad[XLMIG_SIM_VCPU_BLOB_LEN];
	struct xlmig_sim_vcpu va, vb;

	CHECK(a != NULL && b != NULL);
	xlmig_sim_guest_unpause(a);
	sleep_ms(30);
	CHECK_OK(xlmig_sim_guest_pause(a));
	CHECK_OK(xlmig_sim_guest_save_vcpu(a, blob));
	CHECK(memcmp(blob, "XLMIGSIM", 8) == 0);
	/* The counter in memory must agree: bring pfn 0 over first. */
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, blob, sizeof(blob)), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "counter") != NULL);
	memcpy(xlmig_sim_guest_mem(b), xlmig_sim_guest_mem(a), XLMIG_PAGE_SIZE);
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, blob, sizeof(blob) - 1), XLMIG_E_FORMAT);
	memcpy(bad, blob, sizeof(bad));
	bad[0] = 'Y';
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, bad, sizeof(bad)), XLMIG_E_FORMAT);
	memcpy(bad, blob, sizeof(bad));
	xlmig_put_le32(bad + 8, 2);
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, bad, sizeof(bad)), XLMIG_E_UNSUPPORTED);
	memcpy(bad, blob, sizeof(bad));
	xlmig_put_le64(bad + 16, 128 * MIB);
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, bad, sizeof(bad)), XLMIG_E_FORMAT);
	memcpy(bad, blob, sizeof(bad));
	xlmig_put_le64(bad + 32, 0);     /* rng state 0 */
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, bad, sizeof(bad)), XLMIG_E_FORMAT);
	memcpy(bad, blob, sizeof(bad));
	xlmig_put_le64(bad + 40, 1ull << 40);   /* position beyond memory */
	CHECK_EQ(xlmig_sim_guest_load_vcpu(b, bad, sizeof(bad)), XLMIG_E_FORMAT);
	CHECK_OK(xlmig_sim_guest_load_vcpu(b, blob, sizeof(blob)));
	CHECK_OK(xlmig_sim_guest_get_vcpu(a, &va));
	CHECK_OK(xlmig_sim_guest_get_vcpu(b, &vb));
	CHECK(memcmp(&va, &vb, sizeof(va)) == 0);
	CHECK_EQ(xlmig_sim_guest_counter(b), va.counter);
	xlmig_sim_guest_free(a);
	xlmig_sim_guest_free(b);
}

TEST(sim_guest_digest_follows_memory)
{
	struct xlmig_sim_guest *a = random_writer(0, XLMIG_SIM_UNIFORM, 0);
	struct xlmig_sim_guest *b = random_writer(0, XLMIG_SIM_UNIFORM, 0);
	uint8_t da[32], db[32];

	CHECK(a != NULL && b != NULL);
	CHECK_OK(xlmig_sim_guest_digest(a, da));
	CHECK_OK(xlmig_sim_guest_digest(b, db));
	CHECK(memcmp(da, db, 32) == 0);
	xlmig_sim_guest_mem(b)[12345] = 1;
	CHECK_OK(xlmig_sim_guest_digest(b, db));
	CHECK(memcmp(da, db, 32) != 0);
	xlmig_sim_guest_free(a);
	xlmig_sim_guest_free(b);
}

/* Bytes of host memory behind a guest's memory memfd. */
static uint64_t backed_bytes(const struct xlmig_sim_guest *g)
{
	struct stat st;

	if (fstat(xlmig_sim_guest_mem_fd(g), &st) != 0)
		return UINT64_MAX;
	return (uint64_t)st.st_blocks * 512;
}

static struct xlmig_sim_guest *mixed_guest(void)
{
	struct xlmig_sim_workload wl;
	struct xlmig_sim_guest *g = NULL;

	xlmig_sim_workload_default(&wl);
	wl.fill_pct = 50;
	wl.zero_pct = 40;
	wl.file_pct = 30;
	if (xlmig_sim_guest_new(64 * MIB, 1, &wl, true, &g) != XLMIG_OK)
		return NULL;
	return g;
}

TEST(sim_guest_holes_are_the_pages_never_written)
{
	struct xlmig_sim_guest *g = mixed_guest();
	uint64_t npages, words, holes_n, zero = 0, *holes;
	uint8_t d1[32], d2[32];

	CHECK(g != NULL);
	npages = xlmig_sim_guest_npages(g);
	words = (npages + 63) / 64;
	holes = calloc(words, sizeof(*holes));
	CHECK(holes != NULL);
	holes_n = xlmig_sim_mem_holes(xlmig_sim_guest_mem_fd(g), npages, holes);
	/* Half of memory is never filled, and 40 % of the filled half are
	 * zero pages, which the boot leaves as holes too. */
	CHECK(holes_n >= npages / 2 + npages * 15 / 100);
	CHECK(backed_bytes(g) <= (npages - holes_n) * XLMIG_PAGE_SIZE + MIB);
	/* The digest, which reads no hole, is that of the memory as read. */
	CHECK_OK(xlmig_sim_guest_digest(g, d1));
	CHECK_OK(xlmig_sim_mem_digest(xlmig_sim_guest_mem(g), xlmig_sim_guest_mem_bytes(g), -1, d2));
	CHECK(memcmp(d1, d2, 32) == 0);
	for (uint64_t pfn = 0; pfn < npages; pfn++)
		if (bit(holes, pfn)) {
			zero++;
			CHECK(page_is_zero(xlmig_sim_guest_mem(g) + pfn * XLMIG_PAGE_SIZE));
		}
	CHECK_EQ(zero, holes_n);
	/* Written, a hole is one no more (reading them above allocated the
	 * rest: a fresh look finds none). */
	CHECK_EQ(xlmig_sim_mem_holes(xlmig_sim_guest_mem_fd(g), npages, holes), 0);
	CHECK_EQ(xlmig_sim_mem_holes(-1, npages, holes), 0);
	free(holes);
	xlmig_sim_guest_free(g);
}

/* A save sends the holes without reading them, and the restore writes
 * only the pages with content: on both hosts the zero pages stay holes,
 * and the copy is exact. */
TEST(sim_engine_leaves_zero_pages_unbacked_on_both_sides)
{
	struct xlmig_sim_guest *g = mixed_guest(), *r = NULL;
	struct xlmig_save_opts opts = { 0 };
	struct xlmig_save_result res;
	char name[XLMIG_NAME_MAX];
	uint64_t before, npages;
	uint8_t d1[32], d2[32];
	int fd = memfd_create("stream", MFD_CLOEXEC);

	CHECK(g != NULL && fd >= 0);
	npages = xlmig_sim_guest_npages(g);
	before = backed_bytes(g);
	CHECK_OK(xlmig_sim_save(g, "holes", fd, &opts, &res));
	CHECK(!res.have_mem_digest);   /* taken only when asked for */
	CHECK_EQ(res.pages_sent, npages);
	CHECK_EQ(backed_bytes(g), before);
	/* The stream holds the pages with content, not all of memory. */
	CHECK(lseek(fd, 0, SEEK_END) < (off_t)(npages * XLMIG_PAGE_SIZE / 2));
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_sim_restore(fd, &r, name));
	CHECK_STR(name, "holes");
	CHECK(backed_bytes(r) <= before + MIB);
	CHECK_OK(xlmig_sim_guest_digest(g, d1));
	CHECK_OK(xlmig_sim_guest_digest(r, d2));
	CHECK(memcmp(d1, d2, 32) == 0);
	close(fd);
	xlmig_sim_guest_free(r);
	xlmig_sim_guest_free(g);
}

struct settled {
	struct xlmig_sim_guest *g;
	unsigned calls;
	bool rewrite_failed;
};

static void count_settle(void *opaque)
{
	struct settled *s = opaque;

	s->calls++;
	/* The guest runs on while the save waits here: what it writes
	 * meanwhile is dirty in the next pass, not lost. */
	if (xlmig_sim_guest_rewrite(s->g, 7, 1) != XLMIG_OK)
		s->rewrite_failed = true;
}

/* The save waits for the stream to settle after every pre-copy pass,
 * before it reads the dirty log, and the rate it predicts with counts
 * pages with data only (holes travel free). */
TEST(sim_engine_settles_between_passes)
{
	struct xlmig_sim_guest *g = mixed_guest(), *r = NULL;
	struct xlmig_policy_config cfg;
	struct xlmig_policy policy;
	struct xlmig_save_opts opts = { .policy = &policy };
	struct xlmig_save_result res;
	struct settled s = { 0 };
	char name[XLMIG_NAME_MAX];
	uint8_t d1[32], d2[32];
	int fd = memfd_create("stream", MFD_CLOEXEC);

	CHECK(g != NULL && fd >= 0);
	s.g = g;
	xlmig_policy_config_default(&cfg);
	cfg.kind = XLMIG_POLICY_KIND_XEN;   /* a fixed number of passes */
	xlmig_policy_init(&policy, &cfg);
	policy.settle = count_settle;
	policy.window_opaque = &s;
	xlmig_sim_guest_unpause(g);
	CHECK_OK(xlmig_sim_save(g, "settle", fd, &opts, &res));
	CHECK(s.calls >= 1);
	CHECK_EQ(s.calls, res.iterations - 1);
	CHECK(!s.rewrite_failed);
	CHECK(policy.iter[0].pages_sent < xlmig_sim_guest_npages(g) * 6 / 10);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_sim_restore(fd, &r, name));
	CHECK_OK(xlmig_sim_guest_digest(g, d1));
	CHECK_OK(xlmig_sim_guest_digest(r, d2));
	CHECK(memcmp(d1, d2, 32) == 0);
	close(fd);
	xlmig_sim_guest_free(r);
	xlmig_sim_guest_free(g);
}

/* A stream restored from memory gives the guest its fd gives, and is
 * refused the same way when cut short or followed by stray bytes
 * (nothing is left behind then). */
TEST(sim_restore_mem_matches_fd)
{
	struct xlmig_sim_guest *g = mixed_guest(), *r = NULL;
	struct xlmig_save_opts opts = { 0 };
	struct xlmig_save_result res;
	struct xlmig_buf s = { 0 };
	char name[XLMIG_NAME_MAX];
	uint8_t d1[32], d2[32];
	int fd = memfd_create("stream", MFD_CLOEXEC);

	CHECK(g != NULL && fd >= 0);
	CHECK_OK(xlmig_sim_save(g, "inmem", fd, &opts, &res));
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_read_all(fd, 1u << 30, &s));
	CHECK(s.len > 0);

	CHECK_OK(xlmig_sim_restore_mem(s.data, s.len, &r, name));
	CHECK_STR(name, "inmem");
	CHECK(xlmig_sim_guest_paused(r));
	CHECK_OK(xlmig_sim_guest_digest(g, d1));
	CHECK_OK(xlmig_sim_guest_digest(r, d2));
	CHECK(memcmp(d1, d2, 32) == 0);
	xlmig_sim_guest_free(r);

	r = g;   /* must be cleared by a failure */
	CHECK_EQ(xlmig_sim_restore_mem(s.data, s.len - 1, &r, name), XLMIG_E_TRUNCATED);
	CHECK(r == NULL);
	CHECK(xlmig_buf_append(&s, "x", 1) == XLMIG_OK);
	CHECK(xlmig_sim_restore_mem(s.data, s.len, &r, name) != XLMIG_OK);
	CHECK(r == NULL);
	CHECK(xlmig_sim_restore_mem(NULL, 0, &r, name) != XLMIG_OK);
	CHECK(r == NULL);

	xlmig_buf_free(&s);
	close(fd);
	xlmig_sim_guest_free(g);
}
