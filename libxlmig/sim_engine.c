/*
 * sim_engine.c - the sim backend's save and restore: a sim guest written
 * as, and rebuilt from, a stream in Xen's format (see sim_engine.h; the
 * layout is in sim_hv.h).
 *
 * Save is a log-dirty pre-copy like libxenguest's send_memory_live():
 * the first iteration sends every page, each later one the pages the
 * guest dirtied meanwhile, until the policy says stop-and-copy (pause,
 * send what is left, then the vCPU state) or abort (the guest runs on).
 */
#include "sim_engine.h"
#include "ckpt_base.h"
#include "json.h"
#include "stream.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

/* What the sim reports as its Xen version and TSC. */
#define SIM_XEN_MAJOR 4
#define SIM_XEN_MINOR 17
#define SIM_TSC_KHZ   1000000u

/* Small items are gathered and written together; a large one (page
 * data) goes out in the same writev as what is gathered before it. */
#define OUT_GATHER_MAX   (256u << 10)
#define OUT_DIRECT_MIN   (64u << 10)
#define RESTORE_CHUNK    (1u << 20)

#define BATCH_PAGES XLMIG_MAX_PAGES_PER_RECORD

/* HVM params the sim reports: the xenstore and console rings live in the
 * last two pages of guest memory, as on a PVH guest. */
#define HVM_PARAM_STORE_PFN   1
#define HVM_PARAM_CONSOLE_PFN 17

#define CPUID_LEAF_LEN 24   /* xen_cpuid_leaf_t */
#define MSR_ENTRY_LEN  16   /* xen_msr_entry_t */
#define TSC_INFO_LEN   24
#define MAX_POLICY_LEN (64u << 10)

/* ---- buffered output to the fd ---- */

struct fd_out {
	int fd;
	struct xlmig_buf gather;
	uint64_t bytes;
};

static int writev_full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return xlmig_fail(errno == EPIPE ? XLMIG_E_CLOSED : XLMIG_E_IO,
					  "writing the stream failed: %s", strerror(errno));
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return XLMIG_OK;
}

static int out_flush(struct fd_out *o)
{
	int rc = xlmig_write_full(o->fd, o->gather.data, o->gather.len);

	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "writing the stream");
	o->bytes += o->gather.len;
	xlmig_buf_reset(&o->gather);
	return XLMIG_OK;
}

static int out_write(void *opaque, const void *data, size_t len)
{
	struct fd_out *o = opaque;
	int rc;

	if (len >= OUT_DIRECT_MIN) {
		struct iovec iov[2] = {
			{ o->gather.data, o->gather.len },
			{ (void *)data, len },
		};

		rc = o->gather.len ? writev_full(o->fd, iov, 2) : writev_full(o->fd, iov + 1, 1);
		if (rc == XLMIG_OK) {
			o->bytes += o->gather.len + len;
			xlmig_buf_reset(&o->gather);
		}
		return rc;
	}
	rc = xlmig_buf_append(&o->gather, data, len);
	if (rc == XLMIG_OK && o->gather.len >= OUT_GATHER_MAX)
		rc = out_flush(o);
	return rc;
}

/* ---- save ---- */

struct save_ctx {
	struct xlmig_sim_view *g;
	const struct xlmig_save_opts *opts;
	struct xlmig_policy *policy;
	struct fd_out out;
	struct xlmig_sink sink;
	uint64_t npages;
	uint64_t *bitmap;
	uint64_t *holes;            /* pages never written: sent as XALLOC */
	size_t words;
	uint64_t pfns[BATCH_PAGES]; /* type << 60 | pfn */
	unsigned n;                 /* pages waiting in pfns[] */
	unsigned n_data;            /* how many of them carry data */
	uint8_t *gathered;          /* BATCH_PAGES pages */
	uint64_t pages_sent;
	uint64_t data_sent;         /* of which with data (not holes) */
	uint64_t pages_unchanged;   /* first pass over a base: left as it holds them */
	unsigned iterations;
	bool paused;                /* by the save: undo on failure */
};

static bool cancelled(const struct save_ctx *c)
{
	return c->opts->cancel && atomic_load(c->opts->cancel);
}

/* Write the pages in pfns[] as one PAGE_DATA record, straight from guest
 * memory when they are consecutive and all carry data. */
static int flush_batch(struct save_ctx *c)
{
	const uint8_t *mem = c->g->mem;
	const uint8_t *data = mem + c->pfns[0] * XLMIG_PAGE_SIZE;
	int rc;

	if (c->n == 0)
		return XLMIG_OK;
	if (cancelled(c))
		return xlmig_fail(XLMIG_E_CANCELLED, "save cancelled");
	if (c->n_data < c->n || c->pfns[c->n - 1] - c->pfns[0] != c->n - 1) {
		uint8_t *to = c->gathered;

		for (unsigned i = 0; i < c->n; i++) {
			if (c->pfns[i] >> XLMIG_PFN_TYPE_SHIFT)
				continue;
			memcpy(to, mem + c->pfns[i] * XLMIG_PAGE_SIZE, XLMIG_PAGE_SIZE);
			to += XLMIG_PAGE_SIZE;
		}
		data = c->gathered;
	}
	/* An ordinary HVM page is type NOTAB, 0: the pfn itself.  A hole is
	 * XALLOC, which carries no data: the destination has a zero page
	 * there (Xen populates it zeroed), and this side never reads it. */
	rc = xlmig_write_page_data(&c->sink, c->n, c->pfns, data);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "writing PAGE_DATA");
	c->pages_sent += c->n;
	c->data_sent += c->n_data;
	c->n = c->n_data = 0;
	return XLMIG_OK;
}

static bool is_hole(const struct save_ctx *c, uint64_t pfn)
{
	return (c->holes[pfn / 64] >> (pfn % 64)) & 1;
}

/* Continuing a partial file, the first pass leaves a page out when the
 * file's last copy of it is what the guest holds now.  The dirty log is
 * on already, so a page written after this look is sent again later. */
static bool unchanged(const struct save_ctx *c, uint64_t pfn)
{
	const struct xlmig_ckpt_base *b = c->opts->base;

	if (!b || c->iterations > 0)
		return false;
	return xlmig_ckpt_base_same(b, pfn, is_hole(c, pfn) ? NULL : c->g->mem + pfn * XLMIG_PAGE_SIZE);
}

/* Send every page whose bit is set, in pfn order, clearing the bits. */
static int send_marked(struct save_ctx *c)
{
	int rc = XLMIG_OK;

	for (size_t i = 0; i < c->words && rc == XLMIG_OK; i++) {
		uint64_t w = c->bitmap[i];

		c->bitmap[i] = 0;
		while (w && rc == XLMIG_OK) {
			uint64_t pfn = (uint64_t)i * 64 + (unsigned)__builtin_ctzll(w);

			w &= w - 1;
			if (pfn >= c->npages)
				break;
			if (unchanged(c, pfn)) {
				c->pages_unchanged++;
				continue;
			}
			if (is_hole(c, pfn)) {
				c->pfns[c->n++] = (uint64_t)XLMIG_PFINFO_XALLOC << XLMIG_PFN_TYPE_SHIFT | pfn;
			} else {
				c->pfns[c->n++] = pfn;
				c->n_data++;
			}
			if (c->n == BATCH_PAGES)
				rc = flush_batch(c);
		}
	}
	if (rc == XLMIG_OK)
		rc = flush_batch(c);
	c->iterations++;
	return rc;
}

/* Read and clear the dirty log into the bitmap; a page written since the
 * holes were found is no hole any more. */
static uint64_t collect_dirty(struct save_ctx *c)
{
	uint64_t n = xlmig_sim_dirty_clean(c->g->dirty, c->words, c->bitmap);

	for (size_t i = 0; i < c->words; i++)
		c->holes[i] &= ~c->bitmap[i];
	return n;
}

static void mark_all(struct save_ctx *c)
{
	memset(c->bitmap, 0xff, c->words * sizeof(*c->bitmap));
}

static int write_config_json(struct xlmig_buf *out, const struct xlmig_sim_view *g,
			     const char *name)
{
	const struct xlmig_sim_workload *wl = &g->wl;
	uint64_t kb = g->mem_bytes / 1024;
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	xlmig_json_key(&w, "c_info");
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "type", "pvh");
	xlmig_json_kv_str(&w, "name", name);
	xlmig_json_object_close(&w);
	xlmig_json_key(&w, "b_info");
	xlmig_json_object_open(&w);
	xlmig_json_kv_uint(&w, "max_vcpus", g->vcpus);
	xlmig_json_kv_uint(&w, "max_memkb", kb);
	xlmig_json_kv_uint(&w, "target_memkb", kb);
	xlmig_json_object_close(&w);
	xlmig_json_key(&w, "xlmig_sim");
	xlmig_json_object_open(&w);
	xlmig_json_kv_uint(&w, "rate", wl->rate);
	xlmig_json_kv_str(&w, "pattern", xlmig_sim_pattern_name(wl->pattern));
	xlmig_json_kv_uint(&w, "hot_bytes", wl->hot_bytes);
	xlmig_json_kv_uint(&w, "zero_pct", wl->zero_pct);
	xlmig_json_kv_uint(&w, "file_pct", wl->file_pct);
	xlmig_json_kv_uint(&w, "fill_pct", wl->fill_pct);
	xlmig_json_kv_uint(&w, "seed", wl->seed);
	xlmig_json_object_close(&w);
	xlmig_json_object_close(&w);
	return xlmig_json_finish(&w);
}

/* The config as xl sends it: JSON text with its terminating NUL.  An
 * override (xl -C) is sent as given once it is known to be JSON. */
static int build_config(struct xlmig_buf *cfg, const struct xlmig_sim_view *g,
			const char *name, const char *override)
{
	struct xlmig_json *tree = NULL;
	int rc;

	if (override) {
		rc = xlmig_json_parse(override, strlen(override), &tree);
		if (rc != XLMIG_OK)
			rc = xlmig_fail_prefix(rc, "the replacement domain config is not JSON");
		else
			rc = xlmig_buf_append(cfg, override, strlen(override));
		xlmig_json_free(tree);
	} else {
		rc = write_config_json(cfg, g, name);
	}
	if (rc == XLMIG_OK)
		rc = xlmig_buf_append(cfg, "", 1);
	return rc;
}

static int write_cpu_policy(struct save_ctx *c)
{
	/* Leaf 0 (vendor "XlmigSimCPU!"), leaf 1 (family 6), then two MSRs
	 * (PLATFORM_INFO, ARCH_CAPABILITIES) at zero. */
	static const uint32_t leaves[][6] = {
		{ 0x0, 0xffffffff, 0xd, 0x696d6c58, 0x21555043, 0x6d695367 },
		{ 0x1, 0xffffffff, 0x000606a0, 0, 0x80000000, 0x078bfbff },
	};
	static const uint32_t msrs[] = { 0xce, 0x10a };
	uint8_t cpuid[sizeof(leaves)], msr[XLMIG_ARRAY_SIZE(msrs) * MSR_ENTRY_LEN];
	int rc;

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(leaves); i++)
		for (size_t j = 0; j < 6; j++)
			xlmig_put_le32(cpuid + i * CPUID_LEAF_LEN + j * 4, leaves[i][j]);
	memset(msr, 0, sizeof(msr));
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(msrs); i++)
		xlmig_put_le32(msr + i * MSR_ENTRY_LEN, msrs[i]);
	rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_X86_CPUID_POLICY, cpuid, sizeof(cpuid));
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_X86_MSR_POLICY, msr, sizeof(msr));
	return rc;
}

static int write_head(struct save_ctx *c, const char *name)
{
	struct xlmig_buf cfg = { 0 };
	int rc;

	rc = build_config(&cfg, c->g, name, c->opts->config_override);
	if (rc == XLMIG_OK && cfg.len > XLMIG_MAX_XL_OPTDATA)
		rc = xlmig_fail(XLMIG_E_LIMIT, "domain config of %zu bytes is too big to send", cfg.len);
	if (rc == XLMIG_OK)
		rc = xlmig_write_xl_header(&c->sink, XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2,
					   0, cfg.data, (uint32_t)cfg.len);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxl_header(&c->sink, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxl_record(&c->sink, XLMIG_LIBXL_LIBXC_CONTEXT, NULL, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_image_header(&c->sink, 3, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_domain_header(&c->sink, XLMIG_GUEST_X86_HVM,
						     XLMIG_PAGE_SHIFT, SIM_XEN_MAJOR, SIM_XEN_MINOR);
	if (rc == XLMIG_OK)
		rc = write_cpu_policy(c);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_STATIC_DATA_END, NULL, 0);
	xlmig_buf_free(&cfg);
	return rc;
}

/* Continuing a partial file: its head must be the one this save would
 * write (the same guest, config and format), and nothing is written. */
static int check_head(struct save_ctx *c, const char *name, struct xlmig_save_result *res)
{
	const struct xlmig_buf *want = &c->opts->base->head;
	struct xlmig_sink real = c->sink;
	struct xlmig_buf head = { 0 };
	int rc;

	c->sink = (struct xlmig_sink){ xlmig_sink_buf_write, &head };
	rc = write_head(c, name);
	c->sink = real;
	if (rc == XLMIG_OK && (head.len != want->len || memcmp(head.data, want->data, head.len))) {
		res->base_refused = true;
		rc = xlmig_fail(XLMIG_E_FORMAT, "the partial file was not written by a save of this guest as it is now (another guest's, or its config changed)");
	}
	xlmig_buf_free(&head);
	return rc;
}

static int write_tail(struct save_ctx *c, uint64_t run_ns)
{
	uint8_t tsc[TSC_INFO_LEN] = { 0 }, vcpu[XLMIG_SIM_VCPU_BLOB_LEN], params[8 + 2 * 16];
	int rc;

	xlmig_put_le32(tsc + 4, SIM_TSC_KHZ);
	xlmig_put_le64(tsc + 8, run_ns);
	xlmig_put_le32(params, 2);
	xlmig_put_le32(params + 4, 0);
	xlmig_put_le64(params + 8, HVM_PARAM_STORE_PFN);
	xlmig_put_le64(params + 16, c->npages - 1);
	xlmig_put_le64(params + 24, HVM_PARAM_CONSOLE_PFN);
	xlmig_put_le64(params + 32, c->npages - 2);

	/* libxenguest's x86_hvm_end_of_checkpoint() order. */
	rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_X86_TSC_INFO, tsc, sizeof(tsc));
	if (rc == XLMIG_OK)
		rc = c->g->ops->get_vcpu(c->g->opaque, vcpu);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_HVM_CONTEXT, vcpu, sizeof(vcpu));
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_HVM_PARAMS, params, sizeof(params));
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_END, NULL, 0);
	if (rc == XLMIG_OK)
		rc = xlmig_write_libxl_record(&c->sink, XLMIG_LIBXL_END, NULL, 0);
	if (rc == XLMIG_OK)
		rc = out_flush(&c->out);
	return rc;
}

static void report(struct save_ctx *c)
{
	struct xlmig_policy *p = c->policy;
	const struct xlmig_iteration *it;

	if (!p->n_iter)
		return;
	it = &p->iter[p->n_iter - 1];
	xlmig_debug("sim save: iteration %u sent %llu pages, %ld dirty, predicted downtime %llu ms, throttle %u%%",
		    it->iteration, (unsigned long long)it->pages_sent, it->dirty_after,
		    (unsigned long long)(it->predicted_downtime_ns / 1000000), it->throttle_pct);
	if (c->opts->progress)
		c->opts->progress(c->opts->progress_opaque, it, c->npages);
}

/* Iterate until the policy says stop-and-copy; the last dirty set read
 * is left in the bitmap. */
static int precopy(struct save_ctx *c)
{
	struct xlmig_policy_stats st;
	int decision, rc;

	xlmig_policy_start(c->policy);
	/* Log-dirty is on already: a hole written from now on is logged. */
	xlmig_sim_mem_holes(c->g->mem_fd, c->npages, c->holes);
	mark_all(c);
	for (;;) {
		if (cancelled(c))
			return xlmig_fail(XLMIG_E_CANCELLED, "save cancelled");
		rc = send_marked(c);
		if (rc != XLMIG_OK)
			return rc;
		xlmig_policy_settle(c->policy);
		/* The rate the policy predicts with is of pages that travel:
		 * holes cost nothing, and the last pass has none. */
		st = (struct xlmig_policy_stats){
			.iteration = c->iterations,
			.total_written = c->data_sent,
			.dirty_count = (long)collect_dirty(c),
		};
		decision = xlmig_policy_decide(c->policy, &st);
		report(c);
		if (decision == XLMIG_POLICY_STOP_AND_COPY)
			return XLMIG_OK;
		if (decision == XLMIG_POLICY_ABORT)
			return xlmig_fail(XLMIG_E_CONVERGE, "%s", c->policy->reason ? c->policy->reason :
					  "pre-copy policy aborted");
		rc = c->g->ops->throttle(c->g->opaque, c->policy->throttle_pct);
		if (rc != XLMIG_OK)
			return xlmig_fail_prefix(rc, "throttling the guest");
	}
}

/* xl -d: a VERIFY record, then every page again for the restorer to
 * compare with what it has (libxenguest's verify_frames()). */
static int send_verify(struct save_ctx *c)
{
	int rc = xlmig_write_libxc_record(&c->sink, XLMIG_REC_VERIFY, NULL, 0);

	if (rc != XLMIG_OK)
		return rc;
	mark_all(c);
	rc = send_marked(c);
	c->iterations--;   /* not a pre-copy iteration */
	return rc;
}

static int stop_and_copy(struct save_ctx *c, struct xlmig_save_result *res)
{
	int rc = c->g->ops->stop(c->g->opaque);

	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "stopping the guest for the last pass");
	res->paused_at_ns = xlmig_now_ns();
	collect_dirty(c);
	rc = send_marked(c);
	if (rc == XLMIG_OK && c->opts->debug)
		rc = send_verify(c);
	if (rc == XLMIG_OK)
		rc = write_tail(c, res->paused_at_ns - c->policy->start_ns);
	return rc;
}

static int save_ctx_init(struct save_ctx *c, struct xlmig_sim_view *g, int fd,
			 const struct xlmig_save_opts *opts, struct xlmig_policy *fallback)
{
	struct xlmig_policy_config cfg;

	memset(c, 0, sizeof(*c));
	c->g = g;
	c->opts = opts;
	c->policy = opts->policy;
	if (!c->policy) {
		xlmig_policy_config_default(&cfg);
		xlmig_policy_init(fallback, &cfg);
		c->policy = fallback;
	}
	c->out.fd = fd;
	c->sink = (struct xlmig_sink){ out_write, &c->out };
	c->npages = g->npages;
	c->words = g->dirty_words;
	c->bitmap = calloc(c->words, sizeof(*c->bitmap));
	c->holes = calloc(c->words, sizeof(*c->holes));
	c->gathered = malloc((size_t)BATCH_PAGES * XLMIG_PAGE_SIZE);
	if (!c->bitmap || !c->holes || !c->gathered)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the save of a %llu-page guest",
				  (unsigned long long)c->npages);
	return XLMIG_OK;
}

int xlmig_sim_engine_save(struct xlmig_sim_view *g, const char *name, int fd,
			  const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	struct xlmig_policy fallback;
	struct save_ctx c;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = save_ctx_init(&c, g, fd, opts, &fallback);
	if (rc == XLMIG_OK)
		rc = opts->base ? check_head(&c, name, res) : write_head(&c, name);
	if (rc == XLMIG_OK)
		rc = precopy(&c);
	if (rc == XLMIG_OK)
		rc = stop_and_copy(&c, res);
	if (rc == XLMIG_OK && opts->mem_digest) {
		rc = xlmig_sim_mem_digest(g->mem, g->mem_bytes, g->mem_fd, res->mem_digest);
		res->have_mem_digest = rc == XLMIG_OK;
	}
	res->pages_total = c.npages;
	res->pages_sent = c.pages_sent;
	res->pages_unchanged = c.pages_unchanged;
	res->iterations = c.iterations;
	if (res->paused_at_ns)
		res->precopy_ns = res->paused_at_ns - c.policy->start_ns;
	xlmig_buf_free(&c.out.gather);
	free(c.bitmap);
	free(c.holes);
	free(c.gathered);
	return rc;
}

/* ---- restore ---- */

struct restore_ctx {
	const struct xlmig_sim_factory *f;
	struct xlmig_sim_view view;
	struct xlmig_sim_view *g;        /* &view once created */
	uint64_t *written;               /* pfns given content by this restore */
	char name[XLMIG_NAME_MAX];
	uint32_t image_version;
	bool static_end, verifying, vcpu_loaded, libxc_end, libxl_end;
};

static int get_u32_field(const struct xlmig_json *root, const char *path,
			 uint32_t max, unsigned *out)
{
	uint64_t v;
	int rc = xlmig_json_get_u64(root, path, &v);

	if (rc != XLMIG_OK)
		return xlmig_fail(XLMIG_E_FORMAT, "domain config: %s is missing or not a number", path);
	if (v > max)
		return xlmig_fail(XLMIG_E_LIMIT, "domain config: %s = %llu is over %u",
				  path, (unsigned long long)v, max);
	*out = (unsigned)v;
	return XLMIG_OK;
}

static int get_u64_field(const struct xlmig_json *root, const char *path, uint64_t *out)
{
	if (xlmig_json_get_u64(root, path, out) != XLMIG_OK)
		return xlmig_fail(XLMIG_E_FORMAT, "domain config: %s is missing or not a number", path);
	return XLMIG_OK;
}

static int config_identity(const struct xlmig_json *root, struct restore_ctx *r,
			   uint64_t *mem_bytes, unsigned *vcpus)
{
	const char *type, *name;
	uint64_t kb;
	int rc;

	if (xlmig_json_get_str(root, "c_info.type", &type) != XLMIG_OK ||
	    (strcmp(type, "pvh") && strcmp(type, "hvm")))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "domain config: c_info.type must be pvh or hvm for a sim guest");
	if (xlmig_json_get_str(root, "c_info.name", &name) != XLMIG_OK ||
	    !name[0] || strlen(name) >= sizeof(r->name))
		return xlmig_fail(XLMIG_E_FORMAT, "domain config: c_info.name is missing, empty or longer than %d bytes",
				  XLMIG_NAME_MAX - 1);
	strcpy(r->name, name);
	rc = get_u64_field(root, "b_info.max_memkb", &kb);
	if (rc != XLMIG_OK)
		return rc;
	if (kb > XLMIG_SIM_MEM_MAX / 1024)
		return xlmig_fail(XLMIG_E_LIMIT, "domain config: %llu KiB of memory is over the sim's %llu KiB",
				  (unsigned long long)kb, (unsigned long long)(XLMIG_SIM_MEM_MAX / 1024));
	*mem_bytes = kb * 1024;
	return get_u32_field(root, "b_info.max_vcpus", XLMIG_SIM_VCPUS_MAX, vcpus);
}

static int config_workload(const struct xlmig_json *root, struct xlmig_sim_workload *wl)
{
	const char *pattern;
	int rc;

	if (!xlmig_json_get(root, "xlmig_sim"))
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "domain config has no xlmig_sim section: the stream does not come from a sim host");
	if (xlmig_json_get_str(root, "xlmig_sim.pattern", &pattern) != XLMIG_OK)
		return xlmig_fail(XLMIG_E_FORMAT, "domain config: xlmig_sim.pattern is missing");
	rc = xlmig_sim_pattern_parse(pattern, &wl->pattern);
	if (rc == XLMIG_OK)
		rc = get_u64_field(root, "xlmig_sim.rate", &wl->rate);
	if (rc == XLMIG_OK)
		rc = get_u64_field(root, "xlmig_sim.hot_bytes", &wl->hot_bytes);
	if (rc == XLMIG_OK)
		rc = get_u64_field(root, "xlmig_sim.seed", &wl->seed);
	if (rc == XLMIG_OK)
		rc = get_u32_field(root, "xlmig_sim.zero_pct", 100, &wl->zero_pct);
	if (rc == XLMIG_OK)
		rc = get_u32_field(root, "xlmig_sim.file_pct", 100, &wl->file_pct);
	if (rc == XLMIG_OK)
		rc = get_u32_field(root, "xlmig_sim.fill_pct", 100, &wl->fill_pct);
	return rc;
}

/* The xl header's config describes the guest: create it, paused, with
 * memory still empty. */
static int on_xl_header(struct restore_ctx *r, const struct xlmig_item *it)
{
	uint32_t want = XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2;
	struct xlmig_json *root = NULL;
	struct xlmig_sim_workload wl;
	size_t len = it->u.xl.config_len;
	uint64_t mem_bytes = 0;
	unsigned vcpus = 0;
	int rc;

	if (r->g)
		return xlmig_fail(XLMIG_E_FORMAT, "a second xl header at offset %llu",
				  (unsigned long long)it->offset);
	if (it->u.xl.mandatory_flags != want)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "xl header mandatory flags %#x, the sim restores only JSON|STREAMv2 (%#x)",
				  it->u.xl.mandatory_flags, want);
	if (len && it->u.xl.config[len - 1] == '\0')
		len--;   /* xl sends the NUL that ends the text */
	rc = xlmig_json_parse((const char *)it->u.xl.config, len, &root);
	if (rc != XLMIG_OK) {
		xlmig_fail_prefix(rc, "domain config in the xl header");
		goto out;
	}
	xlmig_sim_workload_default(&wl);
	rc = config_identity(root, r, &mem_bytes, &vcpus);
	if (rc == XLMIG_OK)
		rc = config_workload(root, &wl);
	if (rc == XLMIG_OK)
		rc = xlmig_sim_workload_check(&wl, mem_bytes);
	if (rc == XLMIG_OK)
		rc = r->f->create(r->f->opaque, r->name, mem_bytes, vcpus, &wl, &r->view);
	if (rc == XLMIG_OK)
		r->g = &r->view;
	if (rc == XLMIG_OK && !(r->written = calloc((size_t)((r->view.npages + 63) / 64), sizeof(uint64_t))))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for the restore of a %llu-page guest",
				(unsigned long long)r->view.npages);
out:
	xlmig_json_free(root);
	return rc;
}

/* The new guest's memory is all holes, and reading one would allocate
 * it: a page this restore has not written is known to be zero and is
 * never read.  A zero page (sent as one, or as XALLOC) over such a page
 * is left alone, so memory the guest never used stays unbacked here too. */
static bool was_written(const struct restore_ctx *r, uint64_t pfn)
{
	return (r->written[pfn / 64] >> (pfn % 64)) & 1;
}

/* Pages with content go to memory in runs of consecutive pfns, written
 * through the memfd where there is one: no page fault per page, and no
 * page-table entries here whose teardown, when the restore unmaps the
 * guest, would be inside the downtime window. */
struct run {
	uint64_t pfn, n;
	const uint8_t *data;
};

static int flush_run(struct restore_ctx *r, struct run *run)
{
	uint64_t off = run->pfn * XLMIG_PAGE_SIZE, len = run->n * XLMIG_PAGE_SIZE;
	const uint8_t *p = run->data;

	if (r->g->mem_fd < 0) {
		memcpy(r->g->mem + off, p, len);
		len = 0;
	}
	while (len) {
		ssize_t w = pwrite(r->g->mem_fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return xlmig_fail(XLMIG_E_NOSPC, "writing guest memory at pfn %#llx: %s",
					  (unsigned long long)(off / XLMIG_PAGE_SIZE),
					  w < 0 ? strerror(errno) : "nothing written");
		p += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	for (uint64_t pfn = run->pfn; pfn < run->pfn + run->n; pfn++)
		r->written[pfn / 64] |= 1ull << (pfn % 64);
	run->n = 0;
	return XLMIG_OK;
}

static int put_page(struct restore_ctx *r, struct run *run, uint64_t pfn, const uint8_t *src)
{
	int rc = XLMIG_OK;

	if (src && !xlmig_page_is_zero(src)) {
		if (run->n && (pfn != run->pfn + run->n ||
			       src != run->data + run->n * XLMIG_PAGE_SIZE))
			rc = flush_run(r, run);
		if (run->n == 0) {
			run->pfn = pfn;
			run->data = src;
		}
		run->n++;
		return rc;
	}
	/* A zero page: what is pending goes first, in stream order. */
	if (run->n)
		rc = flush_run(r, run);
	if (rc == XLMIG_OK && was_written(r, pfn))
		memset(r->g->mem + pfn * XLMIG_PAGE_SIZE, 0, XLMIG_PAGE_SIZE);
	return rc;
}

/* xl -d: the page again, to compare with what was restored (NULL: zero). */
static bool page_matches(const struct restore_ctx *r, uint64_t pfn, const uint8_t *src)
{
	const uint8_t *dst = r->g->mem + pfn * XLMIG_PAGE_SIZE;

	if (!was_written(r, pfn))
		return !src || xlmig_page_is_zero(src);
	return src ? memcmp(dst, src, XLMIG_PAGE_SIZE) == 0 : xlmig_page_is_zero(dst);
}

static int apply_pages(struct restore_ctx *r, const struct xlmig_item *it)
{
	uint64_t npages = r->g->npages;
	const uint8_t *data = it->u.page.data;
	struct run run = { 0 };
	int rc = XLMIG_OK;

	if (r->image_version >= 3 && !r->static_end)
		return xlmig_fail(XLMIG_E_FORMAT, "PAGE_DATA at offset %llu comes before STATIC_DATA_END",
				  (unsigned long long)it->offset);
	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t ent = xlmig_get_le64(it->u.page.pfns + (size_t)i * 8);
		uint64_t pfn = ent & XLMIG_PFN_MASK;
		unsigned type = (unsigned)(ent >> XLMIG_PFN_TYPE_SHIFT);
		const uint8_t *src = NULL;

		if (pfn >= npages)
			return xlmig_fail(XLMIG_E_FORMAT, "PAGE_DATA at offset %llu: pfn %#llx is beyond the guest's %llu pages",
					  (unsigned long long)it->offset, (unsigned long long)pfn,
					  (unsigned long long)npages);
		if (xlmig_pfn_type_has_data(type)) {
			if (type != XLMIG_PFINFO_NOTAB)
				return xlmig_fail(XLMIG_E_UNSUPPORTED, "PAGE_DATA at offset %llu: page table type %#x in an HVM stream",
						  (unsigned long long)it->offset, type);
			src = data;
			data += XLMIG_PAGE_SIZE;
		} else if (type != XLMIG_PFINFO_XALLOC) {
			continue;   /* XTAB, BROKEN: no page there */
		}
		if (r->verifying && !page_matches(r, pfn, src))
			return xlmig_fail(XLMIG_E_FORMAT, "VERIFY: pfn %#llx differs from the copy restored earlier",
					  (unsigned long long)pfn);
		if (!r->verifying && (rc = put_page(r, &run, pfn, src)) != XLMIG_OK)
			return rc;
	}
	return run.n ? flush_run(r, &run) : XLMIG_OK;
}

static int check_policy_record(const struct xlmig_item *it, uint32_t entry_len)
{
	if (it->body_len == 0 || it->body_len % entry_len || it->body_len > MAX_POLICY_LEN)
		return xlmig_fail(XLMIG_E_FORMAT, "%s at offset %llu: %u bytes is not a whole number of %u-byte entries",
				  xlmig_libxc_rec_name(it->type), (unsigned long long)it->offset,
				  it->body_len, entry_len);
	return XLMIG_OK;
}

static int check_hvm_params(struct restore_ctx *r, const struct xlmig_item *it)
{
	uint64_t npages = r->g->npages;
	uint32_t count;

	if (it->body_len < 8 || (count = xlmig_get_le32(it->body),
				 (uint64_t)count * 16 != it->body_len - 8))
		return xlmig_fail(XLMIG_E_FORMAT, "HVM_PARAMS at offset %llu: length %u does not match its count",
				  (unsigned long long)it->offset, it->body_len);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t index = xlmig_get_le64(it->body + 8 + (size_t)i * 16);
		uint64_t value = xlmig_get_le64(it->body + 16 + (size_t)i * 16);

		if ((index == HVM_PARAM_STORE_PFN || index == HVM_PARAM_CONSOLE_PFN) &&
		    value >= npages)
			return xlmig_fail(XLMIG_E_FORMAT, "HVM_PARAMS: param %llu points at pfn %#llx, beyond the guest",
					  (unsigned long long)index, (unsigned long long)value);
	}
	return XLMIG_OK;
}

static int on_libxc_record(struct restore_ctx *r, const struct xlmig_item *it)
{
	int rc;

	if (r->libxc_end)
		return xlmig_fail(XLMIG_E_FORMAT, "libxc record after END");
	switch (it->type) {
	case XLMIG_REC_X86_CPUID_POLICY:
		return r->static_end ? xlmig_fail(XLMIG_E_FORMAT, "CPUID policy after STATIC_DATA_END")
				     : check_policy_record(it, CPUID_LEAF_LEN);
	case XLMIG_REC_X86_MSR_POLICY:
		return r->static_end ? xlmig_fail(XLMIG_E_FORMAT, "MSR policy after STATIC_DATA_END")
				     : check_policy_record(it, MSR_ENTRY_LEN);
	case XLMIG_REC_STATIC_DATA_END:
		if (r->static_end)
			return xlmig_fail(XLMIG_E_FORMAT, "second STATIC_DATA_END");
		r->static_end = true;
		return XLMIG_OK;
	case XLMIG_REC_PAGE_DATA:
		return apply_pages(r, it);
	case XLMIG_REC_VERIFY:
		r->verifying = true;
		return XLMIG_OK;
	case XLMIG_REC_X86_TSC_INFO:
		if (it->body_len != TSC_INFO_LEN)
			return xlmig_fail(XLMIG_E_FORMAT, "X86_TSC_INFO of %u bytes (expected %u)",
					  it->body_len, TSC_INFO_LEN);
		return XLMIG_OK;
	case XLMIG_REC_HVM_PARAMS:
		return check_hvm_params(r, it);
	case XLMIG_REC_HVM_CONTEXT:
		rc = r->g->ops->set_vcpu(r->g->opaque, it->body, it->body_len);
		r->vcpu_loaded = rc == XLMIG_OK;
		return rc;
	case XLMIG_REC_END:
		if (!r->vcpu_loaded)
			return xlmig_fail(XLMIG_E_FORMAT, "libxc END without an HVM_CONTEXT record: the stream has no vCPU state");
		r->libxc_end = true;
		return XLMIG_OK;
	}
	if (it->type & XLMIG_REC_OPTIONAL)
		return XLMIG_OK;
	return xlmig_fail(XLMIG_E_UNSUPPORTED, "record %s (%#x) at offset %llu cannot be restored into a sim guest",
			  xlmig_libxc_rec_name(it->type), it->type, (unsigned long long)it->offset);
}

static int on_libxl_record(struct restore_ctx *r, const struct xlmig_item *it)
{
	switch (it->type) {
	case XLMIG_LIBXL_LIBXC_CONTEXT:
		return XLMIG_OK;
	case XLMIG_LIBXL_END:
		if (!r->libxc_end)
			return xlmig_fail(XLMIG_E_FORMAT, "libxl END before the libxc stream ended");
		r->libxl_end = true;
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_UNSUPPORTED, "libxl record %s (%u) cannot be restored into a sim guest",
			  xlmig_libxl_rec_name(it->type), it->type);
}

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct restore_ctx *r = opaque;

	if (it->kind == XLMIG_ITEM_XL_HEADER)
		return on_xl_header(r, it);
	if (!r->g)
		return xlmig_fail(XLMIG_E_FORMAT, "stream has no xl header with a domain config: the sim cannot tell what guest to create");
	switch (it->kind) {
	case XLMIG_ITEM_LIBXL_HEADER:
		return XLMIG_OK;
	case XLMIG_ITEM_LIBXC_IMAGE_HEADER:
		if (it->u.image.version != 2 && it->u.image.version != 3)
			return xlmig_fail(XLMIG_E_UNSUPPORTED, "libxc stream version %u", it->u.image.version);
		r->image_version = it->u.image.version;
		return XLMIG_OK;
	case XLMIG_ITEM_LIBXC_DOMAIN_HEADER:
		if (it->u.domain.guest_type != XLMIG_GUEST_X86_HVM ||
		    it->u.domain.page_shift != XLMIG_PAGE_SHIFT)
			return xlmig_fail(XLMIG_E_UNSUPPORTED, "domain header: guest type %u, page shift %u (the sim restores x86 HVM with 4 KiB pages)",
					  it->u.domain.guest_type, it->u.domain.page_shift);
		return XLMIG_OK;
	case XLMIG_ITEM_LIBXC_RECORD:
		return on_libxc_record(r, it);
	case XLMIG_ITEM_LIBXL_RECORD:
		return on_libxl_record(r, it);
	default:
		return xlmig_fail(XLMIG_E_FORMAT, "unexpected stream item %d", (int)it->kind);
	}
}

/* Where a restore's stream comes from: an fd read in large chunks, or
 * bytes already in memory (the stream as a fuzzer or a test holds it: no
 * chunk buffer, no read per input). */
struct restore_src {
	int fd;
	const uint8_t *data;
	size_t len;
};

static int read_stream(const struct restore_src *src, struct xlmig_parser *p)
{
	uint8_t *chunk = NULL;
	int rc = XLMIG_OK;

	if (src->data) {
		rc = xlmig_parser_feed(p, src->data, src->len);
		goto out;
	}
	chunk = malloc(RESTORE_CHUNK);
	if (!chunk)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the restore buffer");
	while (rc == XLMIG_OK && !xlmig_parser_done(p)) {
		ssize_t n = read(src->fd, chunk, RESTORE_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = xlmig_fail(XLMIG_E_IO, "reading the stream failed: %s", strerror(errno));
		else if (n == 0)
			break;
		else
			rc = xlmig_parser_feed(p, chunk, (size_t)n);
	}
out:
	if (rc == XLMIG_OK)
		rc = xlmig_parser_finish(p);
	free(chunk);
	return rc;
}

static int restore_from(const struct restore_src *src, const struct xlmig_sim_factory *f,
			bool *created, char name[XLMIG_NAME_MAX])
{
	struct restore_ctx r = { .f = f };
	struct xlmig_parser *p = xlmig_parser_new(on_item, &r);
	int rc;

	*created = false;
	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a stream parser");
	rc = read_stream(src, p);
	if (rc == XLMIG_OK && !r.libxl_end)
		rc = xlmig_fail(XLMIG_E_TRUNCATED, "stream ended before libxl END");
	if (rc != XLMIG_OK)
		xlmig_fail_prefix(rc, "restore at stream offset %llu",
				  (unsigned long long)xlmig_parser_offset(p));
	*created = r.g != NULL;
	memcpy(name, r.name, sizeof(r.name));
	free(r.written);
	xlmig_parser_free(p);
	return rc;
}

int xlmig_sim_engine_restore(int fd, const struct xlmig_sim_factory *f, bool *created,
			     char name[XLMIG_NAME_MAX])
{
	struct restore_src src = { .fd = fd };

	return restore_from(&src, f, created, name);
}

/* ---- the engine on a guest of this process ---- */

static int local_throttle(void *o, unsigned pct)
{
	xlmig_sim_guest_set_throttle(o, pct);
	return XLMIG_OK;
}

static int local_stop(void *o)
{
	return xlmig_sim_guest_pause(o);
}

static int local_get_vcpu(void *o, uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN])
{
	return xlmig_sim_guest_save_vcpu(o, blob);
}

static int local_set_vcpu(void *o, const uint8_t *blob, size_t len)
{
	return xlmig_sim_guest_load_vcpu(o, blob, len);
}

static const struct xlmig_sim_view_ops local_ops = {
	local_throttle, local_stop, local_get_vcpu, local_set_vcpu,
};

static void local_view(struct xlmig_sim_guest *g, struct xlmig_sim_view *v)
{
	*v = (struct xlmig_sim_view){
		.mem = xlmig_sim_guest_mem(g),
		.mem_fd = xlmig_sim_guest_mem_fd(g),
		.mem_bytes = xlmig_sim_guest_mem_bytes(g),
		.npages = xlmig_sim_guest_npages(g),
		.vcpus = xlmig_sim_guest_vcpus(g),
		.wl = *xlmig_sim_guest_workload(g),
		.dirty = xlmig_sim_guest_dirty_log(g),
		.dirty_words = xlmig_sim_guest_bitmap_words(g),
		.ops = &local_ops,
		.opaque = g,
	};
}

int xlmig_sim_save(struct xlmig_sim_guest *g, const char *name, int fd,
		   const struct xlmig_save_opts *opts, struct xlmig_save_result *res)
{
	/* A guest its administrator paused stays paused if the save fails. */
	bool was_paused = xlmig_sim_guest_paused(g);
	struct xlmig_sim_view v;
	int rc;

	local_view(g, &v);
	xlmig_sim_guest_logdirty(g, true);
	rc = xlmig_sim_engine_save(&v, name, fd, opts, res);
	xlmig_sim_guest_logdirty(g, false);
	xlmig_sim_guest_set_throttle(g, 0);
	if (rc != XLMIG_OK && !was_paused)
		xlmig_sim_guest_unpause(g);
	return rc;
}

static int local_create(void *o, const char *name, uint64_t mem_bytes, unsigned vcpus,
			const struct xlmig_sim_workload *wl, struct xlmig_sim_view *out)
{
	struct xlmig_sim_guest **g = o;
	int rc = xlmig_sim_guest_new(mem_bytes, vcpus, wl, false, g);

	if (rc == XLMIG_OK)
		local_view(*g, out);
	return rc;
}

static int local_restore(const struct restore_src *src, struct xlmig_sim_guest **out,
			 char name[XLMIG_NAME_MAX])
{
	struct xlmig_sim_guest *g = NULL;
	struct xlmig_sim_factory f = { local_create, &g };
	bool created;
	int rc = restore_from(src, &f, &created, name);

	if (rc != XLMIG_OK) {
		xlmig_sim_guest_free(g);
		g = NULL;
	}
	*out = g;
	return rc;
}

int xlmig_sim_restore(int fd, struct xlmig_sim_guest **out, char name[XLMIG_NAME_MAX])
{
	struct restore_src src = { .fd = fd };

	return local_restore(&src, out, name);
}

int xlmig_sim_restore_mem(const void *data, size_t len, struct xlmig_sim_guest **out,
			  char name[XLMIG_NAME_MAX])
{
	/* A non-NULL pointer marks the source as memory, even when empty. */
	struct restore_src src = { .fd = -1, .data = data ? data : (const void *)"", .len = len };

	return local_restore(&src, out, name);
}
