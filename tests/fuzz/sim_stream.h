/*
 * sim_stream.h - small, real sim save streams for fuzz seeds.
 *
 * A sim guest of the smallest size is saved by the sim engine itself;
 * the stream is then re-encoded item by item with the zero pages left
 * out of PAGE_DATA records, whether sent as all-zero data or as XALLOC
 * entries (the sim engine's holes; a restore leaves zero pages alone,
 * memory starts zeroed), which brings 64 MiB of idle guest down to a few
 * pages.
 * The result is checked to restore before it is used.
 *
 * Header-only: each harness is built as one translation unit.
 */
#ifndef XLMIG_FUZZ_SIM_STREAM_H
#define XLMIG_FUZZ_SIM_STREAM_H

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sim_engine.h"
#include "sim_hv.h"
#include "stream.h"

struct fuzz_sim_seed {
	unsigned vcpus;
	enum xlmig_sim_pattern pattern;
	bool debug;                  /* VERIFY records, as xl migrate -d */
};

struct fuzz_squeeze {
	const struct xlmig_sink *out;
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
	struct xlmig_buf pages;      /* the kept pages of one record */
};

static inline bool fuzz_page_is_zero(const uint8_t *p)
{
	for (size_t i = 0; i < XLMIG_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/* PAGE_DATA keeps its non-zero pages and its entries without data but
 * for XALLOC's (a zero page). */
static inline int fuzz_squeeze_item(void *opaque, const struct xlmig_item *it)
{
	struct fuzz_squeeze *s = opaque;
	const uint8_t *data = it->u.page.data;
	uint32_t n = 0;
	int rc = XLMIG_OK;

	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA)
		return xlmig_write_item(s->out, it);
	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t ent = xlmig_get_le64(it->u.page.pfns + (size_t)i * 8);

		unsigned type = (unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT);

		if (!xlmig_pfn_type_has_data(type)) {
			if (type != XLMIG_PFINFO_XALLOC)
				s->pfns[n++] = ent;
			continue;
		}
		if (!fuzz_page_is_zero(data)) {
			s->pfns[n++] = ent;
			rc = xlmig_buf_append(&s->pages, data, XLMIG_PAGE_SIZE);
		}
		data += XLMIG_PAGE_SIZE;
	}
	if (!rc && n)
		rc = xlmig_write_page_data(s->out, n, s->pfns, s->pages.data);
	xlmig_buf_reset(&s->pages);
	return rc;
}

static inline void fuzz_run_ms(struct xlmig_sim_guest *g, unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000L };

	xlmig_sim_guest_unpause(g);
	nanosleep(&ts, NULL);
	xlmig_sim_guest_pause(g);
}

/* The stream of an idle guest named "fuzz-guest", squeezed, into out. */
static inline int fuzz_sim_stream(const struct fuzz_sim_seed *seed, struct xlmig_buf *out)
{
	struct xlmig_sink sink = { xlmig_sink_buf_write, out };
	struct fuzz_squeeze sq = { .out = &sink };
	struct xlmig_sim_workload wl;
	struct xlmig_sim_guest *g = NULL, *back = NULL;
	struct xlmig_policy_config cfg;
	struct xlmig_policy policy;
	struct xlmig_save_opts so = { .policy = &policy, .debug = seed->debug };
	struct xlmig_save_result res;
	struct xlmig_parser *p = NULL;
	struct xlmig_buf raw = { 0 };
	char name[XLMIG_NAME_MAX];
	int fd = memfd_create("fuzz-sim-stream", MFD_CLOEXEC), rc;

	xlmig_sim_workload_default(&wl);
	wl.rate = 0;
	wl.pattern = seed->pattern;
	wl.hot_bytes = 1u << 20;
	wl.zero_pct = wl.file_pct = wl.fill_pct = 0;
	xlmig_policy_config_default(&cfg);
	xlmig_policy_init(&policy, &cfg);
	rc = fd < 0 ? XLMIG_E_IO : xlmig_sim_guest_new(XLMIG_SIM_MEM_MIN, seed->vcpus, &wl, true, &g);
	if (rc)
		goto out;
	fuzz_run_ms(g, 3);   /* the counter ticks: pfn 0 is not zero */
	if ((rc = xlmig_sim_save(g, "fuzz-guest", fd, &so, &res)) ||
	    lseek(fd, 0, SEEK_SET) != 0 || (rc = xlmig_read_all(fd, 1u << 30, &raw)))
		goto out;
	p = xlmig_parser_new(fuzz_squeeze_item, &sq);
	if (!p || (rc = xlmig_parser_feed(p, raw.data, raw.len)) || (rc = xlmig_parser_finish(p)))
		goto out;
	/* The squeezed stream must still restore. */
	if (ftruncate(fd, 0) != 0 || pwrite(fd, out->data, out->len, 0) != (ssize_t)out->len || lseek(fd, 0, SEEK_SET) != 0)
		rc = XLMIG_E_IO;
	else
		rc = xlmig_sim_restore(fd, &back, name);
out:
	xlmig_sim_guest_free(back);
	xlmig_sim_guest_free(g);
	xlmig_parser_free(p);
	xlmig_buf_free(&sq.pages);
	xlmig_buf_free(&raw);
	if (fd >= 0)
		close(fd);
	return rc;
}

#endif
