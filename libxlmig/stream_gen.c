/*
 * stream_gen.c - valid Xen save streams for tests and benches (see
 * stream_gen.h).  The record order follows xc_domain_save() and libxl's
 * stream writer; record bodies that Xen fills from hypercalls (vCPU
 * context, CPU policy, HVM context) are deterministic filler of the
 * right shape and a realistic size.
 */
#include "stream_gen.h"
#include "json.h"

#include <inttypes.h>
#include <stdlib.h>

/* Sizes of the blobs Xen 4.17 puts in these records on x86-64. */
#define PV_VCPU_BASIC_LEN    5168  /* vcpu_guest_context_x86_64_t */
#define PV_VCPU_EXT_LEN      136
#define PV_VCPU_XSAVE_LEN    1104
#define PV_VCPU_MSRS         4     /* MSR entries of 16 bytes */
#define CPUID_LEAVES         37    /* 24 bytes each */
#define MSR_POLICY_ENTRIES   2     /* 16 bytes each */
#define HVM_CONTEXT_LEN      3416
#define HVM_PARAM_COUNT      13
#define EMULATOR_CONTEXT_LEN 5000
#define P2M_PER_FRAME        (XLMIG_PAGE_SIZE / 8)

struct gen {
	const struct xlmig_gen_params *p;
	const struct xlmig_sink *sink;
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
	uint8_t *pages;            /* batch of page data */
	uint32_t count, data_pages;
	struct xlmig_buf scratch;  /* bodies of the small records */
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t page_key(uint64_t seed, uint64_t pfn, unsigned iteration)
{
	return mix64(seed ^ mix64(pfn ^ mix64(iteration)));
}

static void fill_random(uint64_t key, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		key = mix64(key);
		xlmig_put_le64(out + i, key);
	}
}

static void fill_text(uint64_t key, uint8_t *out, size_t len)
{
	static const char *const words[] = {
		"the", "migration", "of", "a", "guest", "page", "dirty", "log",
		"memory", "kernel:", "INFO", "request", "completed", "in", "ms",
		"user", "session", "opened", "for", "root", "by", "(uid=0)",
		"GET", "/index.html", "HTTP/1.1", "200", "error", "retrying",
	};
	size_t col = 0, i = 0;

	while (i < len) {
		const char *w;
		size_t n;

		key = mix64(key);
		w = words[key % XLMIG_ARRAY_SIZE(words)];
		n = strlen(w);
		for (size_t j = 0; j < n && i < len; j++)
			out[i++] = (uint8_t)w[j];
		col += n + 1;
		if (i < len)
			out[i++] = col > 72 ? '\n' : ' ';
		if (col > 72)
			col = 0;
	}
}

void xlmig_gen_page(enum xlmig_gen_content content, uint64_t seed, uint64_t pfn,
		    unsigned iteration, uint8_t *page)
{
	uint64_t key = page_key(seed, pfn, iteration);

	if (content == XLMIG_GEN_MIXED) {
		/* The kind of page depends on the pfn only, as in a guest
		 * whose zero pages mostly stay zero. */
		unsigned kind = (unsigned)(mix64(seed ^ pfn) % 8);

		content = kind < 3 ? XLMIG_GEN_ZERO : kind < 6 ? XLMIG_GEN_TEXT : XLMIG_GEN_RANDOM;
	}
	if (content == XLMIG_GEN_TEXT)
		fill_text(key, page, XLMIG_PAGE_SIZE);
	else if (content == XLMIG_GEN_RANDOM)
		fill_random(key, page, XLMIG_PAGE_SIZE);
	else
		memset(page, 0, XLMIG_PAGE_SIZE);
}

void xlmig_gen_defaults(struct xlmig_gen_params *p)
{
	memset(p, 0, sizeof(*p));
	p->guest_type = XLMIG_GUEST_X86_PV;
	p->libxc_version = 3;
	p->name = "guest";
	p->pages = 256;
	p->vcpus = 2;
	p->iterations = 2;
	p->dirty_pages = 16;
	p->batch = XLMIG_MAX_PAGES_PER_RECORD;
	p->holes = true;
	p->xl_header = true;
	p->libxl = true;
	p->seed = 1;
	p->content = XLMIG_GEN_MIXED;
}

bool xlmig_gen_is_dirty(const struct xlmig_gen_params *p, uint64_t pfn, unsigned iteration)
{
	return p->pages && mix64(p->seed ^ mix64(pfn * 131 + iteration)) % p->pages < p->dirty_pages;
}

/* ---- records ---- */

static int rec(struct gen *g, uint32_t type, const void *body, uint32_t len)
{
	return xlmig_write_libxc_record(g->sink, type, body, len);
}

/* A record body of len bytes: an 8-byte head (vcpu id etc.) and filler. */
static uint8_t *filler(struct gen *g, uint32_t len, uint64_t key)
{
	uint8_t *b;

	xlmig_buf_reset(&g->scratch);
	b = xlmig_buf_extend(&g->scratch, (len + 7) & ~7u);
	if (b)
		fill_random(mix64(g->p->seed ^ key), b, (len + 7) & ~7u);
	return b;
}

static int filler_rec(struct gen *g, uint32_t type, uint32_t len, uint32_t head)
{
	uint8_t *b = filler(g, len, type * 1000003ull + head);

	if (!b)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory generating a stream");
	if (len >= 8) {
		xlmig_put_le32(b, head);
		xlmig_put_le32(b + 4, 0);
	}
	return rec(g, type, b, len);
}

static int write_config(struct gen *g)
{
	const struct xlmig_gen_params *p = g->p;
	bool hvm = p->guest_type == XLMIG_GUEST_X86_HVM;
	struct xlmig_buf out = { 0 };
	struct xlmig_json_writer w;
	int rc;

	xlmig_json_writer_init(&w, &out);
	xlmig_json_object_open(&w);
	xlmig_json_key(&w, "c_info");
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "type", hvm ? "hvm" : "pv");
	xlmig_json_kv_str(&w, "name", p->name);
	xlmig_json_kv_str(&w, "uuid", "3f0bd4ab-6f8e-4c4b-9a2d-5d7b0f7c1e21");
	xlmig_json_object_close(&w);
	xlmig_json_key(&w, "b_info");
	xlmig_json_object_open(&w);
	xlmig_json_kv_uint(&w, "max_vcpus", p->vcpus);
	xlmig_json_key(&w, "avail_vcpus");
	xlmig_json_array_open(&w);
	for (unsigned i = 0; i < p->vcpus; i++)
		xlmig_json_uint(&w, i);
	xlmig_json_array_close(&w);
	xlmig_json_kv_uint(&w, "max_memkb", p->pages * (XLMIG_PAGE_SIZE / 1024));
	xlmig_json_kv_uint(&w, "target_memkb", p->pages * (XLMIG_PAGE_SIZE / 1024));
	xlmig_json_key(&w, hvm ? "type.hvm" : "type.pv");
	xlmig_json_object_open(&w);
	if (!hvm)
		xlmig_json_kv_str(&w, "bootloader", "pygrub");
	else
		xlmig_json_kv_str(&w, "firmware", "bios");
	xlmig_json_object_close(&w);
	xlmig_json_object_close(&w);
	xlmig_json_key(&w, "disks");
	xlmig_json_array_open(&w);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "pdev_path", "/dev/vg0/guest-disk");
	xlmig_json_kv_str(&w, "vdev", "xvda");
	xlmig_json_object_close(&w);
	xlmig_json_array_close(&w);
	xlmig_json_key(&w, "nics");
	xlmig_json_array_open(&w);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "mac", "00:16:3e:12:34:56");
	xlmig_json_kv_str(&w, "bridge", "xenbr0");
	xlmig_json_object_close(&w);
	xlmig_json_array_close(&w);
	xlmig_json_kv_str(&w, "on_reboot", "restart");
	xlmig_json_object_close(&w);
	rc = xlmig_json_finish(&w);
	if (!rc && xlmig_buf_append(&out, "", 1)) /* xl counts the NUL */
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory generating a config");
	if (!rc)
		rc = xlmig_write_xl_header(g->sink, XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2,
					   0, out.data, (uint32_t)out.len);
	xlmig_buf_free(&out);
	return rc;
}

static int static_data(struct gen *g)
{
	const struct xlmig_gen_params *p = g->p;
	uint8_t pv_info[8] = { 8, 4 }; /* 64-bit guest, 4 levels */
	int rc = XLMIG_OK;

	if (p->guest_type == XLMIG_GUEST_X86_PV)
		rc = rec(g, XLMIG_REC_X86_PV_INFO, pv_info, sizeof(pv_info));
	/* CPU policy records came with v3 (Xen 4.14). */
	if (!rc && p->libxc_version >= 3)
		rc = filler_rec(g, XLMIG_REC_X86_CPUID_POLICY, CPUID_LEAVES * 24, 0);
	if (!rc && p->libxc_version >= 3)
		rc = filler_rec(g, XLMIG_REC_X86_MSR_POLICY, MSR_POLICY_ENTRIES * 16, 0);
	if (!rc && p->optional_records)
		rc = filler_rec(g, XLMIG_REC_OPTIONAL | 0x123, 13, 0);
	if (!rc && p->libxc_version >= 3)
		rc = rec(g, XLMIG_REC_STATIC_DATA_END, NULL, 0);
	return rc;
}

static int p2m_frames(struct gen *g)
{
	uint64_t pages = g->p->pages, frames = (pages + P2M_PER_FRAME - 1) / P2M_PER_FRAME;
	uint8_t *b;

	if (8 + 8 * frames > XLMIG_MAX_RECORD_BODY)
		return xlmig_fail(XLMIG_E_LIMIT, "generator: %" PRIu64 " pages need a p2m "
				  "record over the record limit", pages);
	xlmig_buf_reset(&g->scratch);
	b = xlmig_buf_extend(&g->scratch, 8 + 8 * frames);
	if (!b)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory generating a stream");
	xlmig_put_le32(b, 0);
	xlmig_put_le32(b + 4, (uint32_t)(pages - 1));
	for (uint64_t i = 0; i < frames; i++)
		xlmig_put_le64(b + 8 + 8 * i, pages - frames + i); /* p2m at the top */
	return rec(g, XLMIG_REC_X86_PV_P2M_FRAMES, b, (uint32_t)(8 + 8 * frames));
}

/* ---- pages ---- */

static int flush_batch(struct gen *g)
{
	int rc;

	if (!g->count)
		return XLMIG_OK;
	rc = xlmig_write_page_data(g->sink, g->count, g->pfns, g->pages);
	g->count = g->data_pages = 0;
	return rc;
}

/* The type a pfn is sent with: PV guests have page tables; holes are
 * pfns the guest gave back (XTAB) or that are only to be allocated. */
static unsigned pfn_type(const struct xlmig_gen_params *p, uint64_t pfn, unsigned iteration)
{
	if (p->holes && iteration == 0 && pfn % 251 == 250)
		return XLMIG_PFINFO_XTAB;
	if (p->holes && iteration == 0 && pfn % 509 == 300)
		return XLMIG_PFINFO_XALLOC;
	if (p->guest_type != XLMIG_GUEST_X86_PV)
		return XLMIG_PFINFO_NOTAB;
	if (pfn == 4)
		return XLMIG_PFINFO_L4TAB | XLMIG_PFINFO_LPINTAB;
	if (pfn == 3)
		return XLMIG_PFINFO_L3TAB;
	if (pfn % 1024 == 2)
		return XLMIG_PFINFO_L2TAB;
	if (pfn % 64 == 1)
		return XLMIG_PFINFO_L1TAB;
	return XLMIG_PFINFO_NOTAB;
}

static void page_contents(struct gen *g, uint64_t pfn, unsigned iteration, uint8_t *page)
{
	const struct xlmig_gen_params *p = g->p;

	if (p->page_fn)
		p->page_fn(p->page_opaque, pfn, iteration, page);
	else if (p->memory)
		memcpy(page, p->memory + pfn * XLMIG_PAGE_SIZE, XLMIG_PAGE_SIZE);
	else
		xlmig_gen_page(p->content, p->seed, pfn, iteration, page);
}

static int add_page(struct gen *g, uint64_t pfn, unsigned iteration)
{
	unsigned type = pfn_type(g->p, pfn, iteration);

	g->pfns[g->count++] = (uint64_t)type << XLMIG_PFN_TYPE_SHIFT | pfn;
	if (xlmig_pfn_type_has_data(type))
		page_contents(g, pfn, iteration, g->pages + (size_t)g->data_pages++ * XLMIG_PAGE_SIZE);
	return g->count == g->p->batch ? flush_batch(g) : XLMIG_OK;
}

/* Pass 0 sends every pfn; later passes the pages dirtied meanwhile. */
static int page_pass(struct gen *g, unsigned iteration)
{
	int rc = XLMIG_OK;

	for (uint64_t pfn = 0; pfn < g->p->pages && !rc; pfn++)
		if (iteration == 0 || xlmig_gen_is_dirty(g->p, pfn, iteration))
			rc = add_page(g, pfn, iteration);
	return rc ? rc : flush_batch(g);
}

/* ---- end of a checkpoint: vCPU and platform state ---- */

static int pv_state(struct gen *g)
{
	int rc = filler_rec(g, XLMIG_REC_SHARED_INFO, XLMIG_PAGE_SIZE, 0);

	for (unsigned v = 0; v < g->p->vcpus && !rc; v++) {
		rc = filler_rec(g, XLMIG_REC_X86_PV_VCPU_BASIC, 8 + PV_VCPU_BASIC_LEN, v);
		if (!rc)
			rc = filler_rec(g, XLMIG_REC_X86_PV_VCPU_EXTENDED, 8 + PV_VCPU_EXT_LEN, v);
		if (!rc)
			rc = filler_rec(g, XLMIG_REC_X86_PV_VCPU_XSAVE, 8 + PV_VCPU_XSAVE_LEN, v);
		if (!rc)
			rc = filler_rec(g, XLMIG_REC_X86_PV_VCPU_MSRS, 8 + PV_VCPU_MSRS * 16, v);
	}
	return rc;
}

static int hvm_state(struct gen *g)
{
	uint8_t params[8 + HVM_PARAM_COUNT * 16];
	int rc = filler_rec(g, XLMIG_REC_HVM_CONTEXT, HVM_CONTEXT_LEN, 0);

	memset(params, 0, sizeof(params));
	xlmig_put_le32(params, HVM_PARAM_COUNT);
	for (unsigned i = 0; i < HVM_PARAM_COUNT; i++) {
		xlmig_put_le64(params + 8 + 16 * i, i + 1);              /* index */
		xlmig_put_le64(params + 16 + 16 * i, g->p->pages - 1 - i % g->p->pages); /* a pfn */
	}
	return rc ? rc : rec(g, XLMIG_REC_HVM_PARAMS, params, sizeof(params));
}

static int end_of_checkpoint(struct gen *g)
{
	uint8_t tsc[24] = { 0 };
	int rc;

	xlmig_put_le32(tsc, 0);            /* TSC_MODE_DEFAULT */
	xlmig_put_le32(tsc + 4, 2400000);  /* kHz */
	xlmig_put_le64(tsc + 8, 123456789012ull);
	xlmig_put_le32(tsc + 16, 1);
	rc = rec(g, XLMIG_REC_X86_TSC_INFO, tsc, sizeof(tsc));
	if (!rc)
		rc = g->p->guest_type == XLMIG_GUEST_X86_PV ? pv_state(g) : hvm_state(g);
	return rc;
}

static int emulator_record(struct gen *g, uint32_t type)
{
	static const char xs[] = "physmap/1/start_addr\0f0000000\0physmap/1/size\0800000\0";
	uint8_t *b;
	uint32_t len = type == XLMIG_LIBXL_EMULATOR_CONTEXT ? EMULATOR_CONTEXT_LEN
							    : 8 + sizeof(xs);

	b = filler(g, len, type);
	if (!b)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory generating a stream");
	xlmig_put_le32(b, 2); /* qemu upstream */
	xlmig_put_le32(b + 4, 0);
	if (type == XLMIG_LIBXL_EMULATOR_XENSTORE_DATA)
		memcpy(b + 8, xs, sizeof(xs));
	return xlmig_write_libxl_record(g->sink, type, b, len);
}

/* libxl's part of a checkpoint, between libxc CHECKPOINT and the rest. */
static int libxl_checkpoint(struct gen *g)
{
	int rc = XLMIG_OK;

	if (g->p->guest_type == XLMIG_GUEST_X86_HVM)
		rc = emulator_record(g, XLMIG_LIBXL_EMULATOR_CONTEXT);
	return rc ? rc : xlmig_write_libxl_record(g->sink, XLMIG_LIBXL_CHECKPOINT_END, NULL, 0);
}

/* ---- the streams ---- */

static int libxc_stream(struct gen *g)
{
	const struct xlmig_gen_params *p = g->p;
	unsigned it = 0;
	int rc;

	rc = xlmig_write_libxc_image_header(g->sink, p->libxc_version, 0);
	if (!rc)
		rc = xlmig_write_libxc_domain_header(g->sink, p->guest_type, XLMIG_PAGE_SHIFT, 4,
						     p->libxc_version >= 3 ? 17 : 13);
	if (!rc)
		rc = static_data(g);
	if (!rc && p->guest_type == XLMIG_GUEST_X86_PV)
		rc = p2m_frames(g);
	for (; it <= p->iterations && !rc; it++)
		rc = page_pass(g, it);
	if (!rc)
		rc = end_of_checkpoint(g);
	for (unsigned c = 0; c < p->checkpoints && !rc; c++, it++) {
		rc = rec(g, XLMIG_REC_CHECKPOINT, NULL, 0);
		if (!rc && p->libxl)
			rc = libxl_checkpoint(g);
		if (!rc)
			rc = page_pass(g, it);
		if (!rc)
			rc = end_of_checkpoint(g);
	}
	return rc ? rc : rec(g, XLMIG_REC_END, NULL, 0);
}

static int libxl_tail(struct gen *g)
{
	int rc = XLMIG_OK;

	if (g->p->guest_type == XLMIG_GUEST_X86_HVM) {
		rc = emulator_record(g, XLMIG_LIBXL_EMULATOR_XENSTORE_DATA);
		if (!rc)
			rc = emulator_record(g, XLMIG_LIBXL_EMULATOR_CONTEXT);
	}
	if (!rc && g->p->optional_records)
		rc = xlmig_write_libxl_record(g->sink, XLMIG_REC_OPTIONAL | 0x42, "opt", 3);
	return rc ? rc : xlmig_write_libxl_record(g->sink, XLMIG_LIBXL_END, NULL, 0);
}

static int check_params(const struct xlmig_gen_params *p)
{
	if ((p->guest_type != XLMIG_GUEST_X86_PV && p->guest_type != XLMIG_GUEST_X86_HVM) ||
	    p->libxc_version < 2 || p->libxc_version > 3 || p->pages < 1 ||
	    p->pages > XLMIG_PFN_MASK || p->batch < 1 || p->batch > XLMIG_MAX_PAGES_PER_RECORD ||
	    (p->xl_header && !p->libxl) || !p->name)
		return xlmig_fail(XLMIG_E_INVAL, "generator: inconsistent parameters (guest type "
				  "%u, version %u, %" PRIu64 " pages, batch %u)", p->guest_type,
				  p->libxc_version, p->pages, p->batch);
	return XLMIG_OK;
}

int xlmig_gen_stream(const struct xlmig_gen_params *p, const struct xlmig_sink *sink)
{
	struct gen g = { .p = p, .sink = sink };
	int rc = check_params(p);

	if (rc)
		return rc;
	g.pages = malloc((size_t)p->batch * XLMIG_PAGE_SIZE);
	if (!g.pages) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory generating a stream");
		goto out;
	}
	if (p->xl_header)
		rc = write_config(&g);
	if (!rc && p->libxl)
		rc = xlmig_write_libxl_header(sink, 0);
	if (!rc && p->libxl)
		rc = xlmig_write_libxl_record(sink, XLMIG_LIBXL_LIBXC_CONTEXT, NULL, 0);
	if (!rc)
		rc = libxc_stream(&g);
	if (!rc && p->libxl)
		rc = libxl_tail(&g);
out:
	free(g.pages);
	xlmig_buf_free(&g.scratch);
	return rc;
}
