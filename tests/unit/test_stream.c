/* test_stream.c - unit tests for the stream parser, writer and generator:
 * byte-identical round trips under any chunking, decoded fields, one test
 * per malformed case with its exact error code, every truncation point. */
#include "unit.h"
#include "common.h"
#include "json.h"
#include "stream.h"
#include "stream_gen.h"
#include "xlproto.h"

#include <stdlib.h>

/* What a parse saw: the rewritten stream and where each item was. */
struct seen {
	struct xlmig_buf out;
	struct xlmig_sink sink;
	unsigned items, page_records, kinds[8];
	uint64_t offsets[4096];
	uint32_t types[4096];
	enum xlmig_item_kind item_kinds[4096];
	char name[64];
	uint64_t max_memkb;
};

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct seen *s = opaque;

	if (s->items < XLMIG_ARRAY_SIZE(s->offsets)) {
		s->offsets[s->items] = it->offset;
		s->types[s->items] = it->type;
		s->item_kinds[s->items] = it->kind;
	}
	s->items++;
	s->kinds[it->kind]++;
	if (it->kind == XLMIG_ITEM_LIBXC_RECORD && it->type == XLMIG_REC_PAGE_DATA)
		s->page_records++;
	if (it->kind == XLMIG_ITEM_XL_HEADER && it->u.xl.config_len) {
		struct xlmig_json *cfg;
		const char *name;
		/* xl counts the config's NUL */
		int rc = xlmig_json_parse((const char *)it->u.xl.config, it->u.xl.config_len - 1, &cfg);

		if (rc)
			return rc;
		if (!xlmig_json_get_str(cfg, "c_info.name", &name))
			snprintf(s->name, sizeof(s->name), "%s", name);
		rc = xlmig_json_get_u64(cfg, "b_info.max_memkb", &s->max_memkb);
		xlmig_json_free(cfg);
		if (rc)
			return rc;
	}
	return xlmig_write_item(&s->sink, it);
}

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->sink.write = xlmig_sink_buf_write;
	s->sink.opaque = &s->out;
}

static int generate(const struct xlmig_gen_params *p, struct xlmig_buf *out)
{
	struct xlmig_sink sink = { xlmig_sink_buf_write, out };

	return xlmig_gen_stream(p, &sink);
}

/* Parse b[0..len) in chunks: chunk = 0 random sizes, else fixed size. */
static int parse_chunked(const uint8_t *b, size_t len, size_t chunk, uint64_t seed,
			 struct seen *s)
{
	struct xlmig_parser *p = xlmig_parser_new(on_item, s);
	size_t off = 0;
	int rc = XLMIG_OK;

	if (!p)
		return XLMIG_E_NOMEM;
	while (off < len && !rc) {
		size_t n = chunk;

		if (!chunk) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* mostly small, sometimes large: both paths get used */
			n = (seed >> 33) % 8 == 0 ? (size_t)(seed >> 40) % (3u << 20)
						  : (size_t)(seed >> 40) % 9000 + 1;
		}
		n = XLMIG_MIN(n, len - off);
		rc = xlmig_parser_feed(p, b + off, n);
		off += n;
	}
	if (!rc)
		rc = xlmig_parser_finish(p);
	xlmig_parser_free(p);
	return rc;
}

static int parse_all(const uint8_t *b, size_t len, struct seen *s)
{
	return parse_chunked(b, len, len ? len : 1, 0, s);
}

static void check_roundtrip(uint32_t guest, uint32_t version, bool xl, bool libxl,
			    unsigned checkpoints)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf in = { 0 };
	struct seen *s = malloc(sizeof(*s));

	CHECK(s != NULL);
	xlmig_gen_defaults(&gp);
	gp.guest_type = guest;
	gp.libxc_version = version;
	gp.xl_header = xl;
	gp.libxl = libxl;
	gp.checkpoints = checkpoints;
	gp.optional_records = true;
	gp.pages = 3000;
	gp.dirty_pages = 700;
	gp.name = "web-01";
	CHECK_OK(generate(&gp, &in));
	for (uint64_t seed = 1; seed <= 4; seed++) {
		seen_init(s);
		CHECK_OK(parse_chunked(in.data, in.len, 0, seed, s));
		CHECK_EQ(s->out.len, in.len);
		CHECK(memcmp(s->out.data, in.data, in.len) == 0);
		CHECK(s->page_records >= 3);
		CHECK_EQ(s->kinds[XLMIG_ITEM_XL_HEADER], xl ? 1 : 0);
		CHECK_EQ(s->kinds[XLMIG_ITEM_LIBXL_HEADER], libxl ? 1 : 0);
		CHECK_EQ(s->kinds[XLMIG_ITEM_LIBXC_IMAGE_HEADER], 1);
		if (xl) {
			CHECK_STR(s->name, "web-01");
			CHECK(s->max_memkb == 3000 * 4);
		}
		xlmig_buf_free(&s->out);
	}
	xlmig_buf_free(&in);
	free(s);
}

TEST(stream_roundtrip_pv_v3) { check_roundtrip(XLMIG_GUEST_X86_PV, 3, true, true, 0); }
TEST(stream_roundtrip_pv_v2) { check_roundtrip(XLMIG_GUEST_X86_PV, 2, true, true, 0); }
TEST(stream_roundtrip_hvm_v3) { check_roundtrip(XLMIG_GUEST_X86_HVM, 3, true, true, 0); }
TEST(stream_roundtrip_hvm_v2) { check_roundtrip(XLMIG_GUEST_X86_HVM, 2, true, true, 0); }
TEST(stream_roundtrip_libxl_without_xl_header) { check_roundtrip(XLMIG_GUEST_X86_HVM, 3, false, true, 0); }
TEST(stream_roundtrip_bare_libxc) { check_roundtrip(XLMIG_GUEST_X86_PV, 3, false, false, 0); }
TEST(stream_roundtrip_checkpoints_pv) { check_roundtrip(XLMIG_GUEST_X86_PV, 3, true, true, 2); }
TEST(stream_roundtrip_checkpoints_hvm) { check_roundtrip(XLMIG_GUEST_X86_HVM, 2, true, true, 2); }
TEST(stream_roundtrip_checkpoints_bare) { check_roundtrip(XLMIG_GUEST_X86_HVM, 3, false, false, 1); }

static void small_params(struct xlmig_gen_params *gp)
{
	xlmig_gen_defaults(gp);
	gp->pages = 16;
	gp->vcpus = 1;
	gp->iterations = 1;
	gp->dirty_pages = 4;
	gp->batch = 4;
	gp->optional_records = true;
}

TEST(stream_roundtrip_one_byte_chunks)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf in = { 0 };
	struct seen *s = malloc(sizeof(*s));

	CHECK(s != NULL);
	small_params(&gp);
	gp.guest_type = XLMIG_GUEST_X86_HVM;
	CHECK_OK(generate(&gp, &in));
	seen_init(s);
	CHECK_OK(parse_chunked(in.data, in.len, 1, 0, s));
	CHECK_EQ(s->out.len, in.len);
	CHECK(memcmp(s->out.data, in.data, in.len) == 0);
	xlmig_buf_free(&s->out);
	xlmig_buf_free(&in);
	free(s);
}

/* The decoded PAGE_DATA fields point at the right pfns and contents. */
struct page_check {
	struct xlmig_gen_params gp;
	unsigned pass;          /* 0 until the first page is seen again */
	uint64_t last_pfn, pages_seen, xtab, xalloc, bad;
	bool first_pass_done;
};

static int check_pages(void *opaque, const struct xlmig_item *it)
{
	struct page_check *c = opaque;
	uint8_t expect[XLMIG_PAGE_SIZE];
	uint32_t d = 0;

	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA)
		return 0;
	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t e = xlmig_get_le64(it->u.page.pfns + 8 * i), pfn = e & XLMIG_PFN_MASK;
		unsigned type = (unsigned)(e >> XLMIG_PFN_TYPE_SHIFT);

		if (c->pages_seen && pfn <= c->last_pfn)
			c->pass++;
		c->last_pfn = pfn;
		c->pages_seen++;
		c->xtab += type == XLMIG_PFINFO_XTAB;
		c->xalloc += type == XLMIG_PFINFO_XALLOC;
		if (!xlmig_pfn_type_has_data(type))
			continue;
		xlmig_gen_page(c->gp.content, c->gp.seed, pfn, c->pass, expect);
		if (memcmp(expect, it->u.page.data + (size_t)d++ * XLMIG_PAGE_SIZE, XLMIG_PAGE_SIZE))
			c->bad++;
		if (c->pass > 0 && !xlmig_gen_is_dirty(&c->gp, pfn, c->pass))
			c->bad++;
	}
	if (d != it->u.page.data_pages)
		c->bad++;
	return 0;
}

TEST(stream_page_data_fields_decoded)
{
	struct page_check c = { 0 };
	struct xlmig_buf in = { 0 };
	struct xlmig_parser *p;

	xlmig_gen_defaults(&c.gp);
	c.gp.pages = 2048;
	c.gp.dirty_pages = 300;
	c.gp.content = XLMIG_GEN_RANDOM;
	CHECK_OK(generate(&c.gp, &in));
	p = xlmig_parser_new(check_pages, &c);
	CHECK(p != NULL);
	CHECK_OK(xlmig_parser_feed(p, in.data, in.len));
	CHECK_OK(xlmig_parser_finish(p));
	CHECK(xlmig_parser_done(p));
	CHECK(xlmig_parser_offset(p) == in.len);
	xlmig_parser_free(p);
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(c.pass, 2);
	CHECK_EQ(c.xtab, 2048 / 251);
	CHECK(c.xalloc >= 3);
	CHECK(c.pages_seen > 2048 + 300);
	xlmig_buf_free(&in);
}

/* ---- a 256 MiB stream, generated into the parser as it is written ---- */

struct pipe_check {
	struct xlmig_parser *parser;
	uint64_t in_hash, out_hash, in_len, out_len;
	struct xlmig_sink out;
};

static uint64_t fnv(uint64_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int hash_out(void *opaque, const void *data, size_t len)
{
	struct pipe_check *c = opaque;

	c->out_hash = fnv(c->out_hash, data, len);
	c->out_len += len;
	return 0;
}

static int rewrite_item(void *opaque, const struct xlmig_item *it)
{
	struct pipe_check *c = opaque;

	return xlmig_write_item(&c->out, it);
}

static int into_parser(void *opaque, const void *data, size_t len)
{
	struct pipe_check *c = opaque;

	c->in_hash = fnv(c->in_hash, data, len);
	c->in_len += len;
	return xlmig_parser_feed(c->parser, data, len);
}

TEST(stream_roundtrip_256mib_streamed)
{
	struct pipe_check c = { .in_hash = 0xcbf29ce484222325ull, .out_hash = 0xcbf29ce484222325ull };
	struct xlmig_sink gen_sink = { into_parser, &c };
	struct xlmig_gen_params gp;

	c.out.write = hash_out;
	c.out.opaque = &c;
	c.parser = xlmig_parser_new(rewrite_item, &c);
	CHECK(c.parser != NULL);
	xlmig_gen_defaults(&gp);
	gp.guest_type = XLMIG_GUEST_X86_HVM;
	gp.pages = 256u << 8; /* 256 MiB */
	gp.iterations = 1;
	gp.dirty_pages = 1024;
	CHECK_OK(xlmig_gen_stream(&gp, &gen_sink));
	CHECK_OK(xlmig_parser_finish(c.parser));
	xlmig_parser_free(c.parser);
	CHECK(c.in_len > (256ull << 20));
	CHECK(c.in_len == c.out_len);
	CHECK(c.in_hash == c.out_hash);
}

static int count_only(void *opaque, const struct xlmig_item *it)
{
	(*(uint64_t *)opaque) += it->raw_len;
	return 0;
}

/* Parse speed over a stream in memory, in chunks as a socket or a file
 * delivers them and in one piece (the figures are printed). */
TEST(stream_parse_throughput)
{
	static const size_t chunks[] = { 64u << 10, 1u << 20, SIZE_MAX };
	struct xlmig_gen_params gp;
	struct xlmig_buf in = { 0 };
	struct xlmig_parser *p;
	uint64_t seen, t0, t1;

	xlmig_gen_defaults(&gp);
	gp.pages = 128u << 8; /* 128 MiB */
	gp.iterations = 0;
	gp.content = XLMIG_GEN_ZERO;
	CHECK_OK(generate(&gp, &in));
	for (size_t c = 0; c < XLMIG_ARRAY_SIZE(chunks); c++) {
		size_t chunk = XLMIG_MIN(chunks[c], in.len);

		seen = 0;
		p = xlmig_parser_new(count_only, &seen);
		CHECK(p != NULL);
		t0 = xlmig_now_ns();
		for (size_t off = 0; off < in.len; off += chunk)
			CHECK_OK(xlmig_parser_feed(p, in.data + off, XLMIG_MIN(chunk, in.len - off)));
		CHECK_OK(xlmig_parser_finish(p));
		t1 = xlmig_now_ns();
		xlmig_parser_free(p);
		CHECK(seen == in.len);
		fprintf(stderr, "    parse %.0f MB in %zu-byte chunks: %.0f MB/s\n",
			(double)in.len / 1e6, chunk, (double)in.len / 1e6 / ((double)(t1 - t0 + 1) / 1e9));
	}
	xlmig_buf_free(&in);
}

/* ---- malformed streams ---- */

/* A small valid stream and where its items are. */
struct sample {
	struct xlmig_buf b;
	struct seen *s;
};

static int sample_make(struct sample *sm, uint32_t guest, bool xl, bool libxl)
{
	struct xlmig_gen_params gp;
	int rc;

	small_params(&gp);
	gp.guest_type = guest;
	gp.xl_header = xl;
	gp.libxl = libxl;
	memset(sm, 0, sizeof(*sm));
	sm->s = malloc(sizeof(*sm->s));
	if (!sm->s)
		return XLMIG_E_NOMEM;
	rc = generate(&gp, &sm->b);
	seen_init(sm->s);
	return rc ? rc : parse_all(sm->b.data, sm->b.len, sm->s);
}

static void sample_free(struct sample *sm)
{
	xlmig_buf_free(&sm->b);
	xlmig_buf_free(&sm->s->out);
	free(sm->s);
}

/* Offset of the n-th (0-based) item of this kind and type. */
static uint64_t find(const struct sample *sm, enum xlmig_item_kind kind, uint32_t type, unsigned n)
{
	for (unsigned i = 0; i < sm->s->items; i++)
		if (sm->s->item_kinds[i] == kind && (kind < XLMIG_ITEM_LIBXL_RECORD ||
						     kind == XLMIG_ITEM_LIBXC_IMAGE_HEADER ||
						     kind == XLMIG_ITEM_LIBXC_DOMAIN_HEADER ||
						     sm->s->types[i] == type) && n-- == 0)
			return sm->s->offsets[i];
	return UINT64_MAX;
}

/* Parse a mutated copy; return the error and check the message. */
static int parse_bytes(const uint8_t *b, size_t len)
{
	struct seen *s = malloc(sizeof(*s));
	int rc;

	if (!s)
		return XLMIG_E_NOMEM;
	seen_init(s);
	rc = parse_chunked(b, len, 0, 7, s);
	xlmig_buf_free(&s->out);
	free(s);
	return rc;
}

#define MUTATE_CHECK(sm, at, code, msgpart, ...)                               \
	do {                                                                   \
		uint8_t *m_ = malloc((sm)->b.len);                             \
		uint64_t at_ = (at);                                           \
		int rc_;                                                       \
		CHECK(m_ != NULL && at_ < (sm)->b.len);                        \
		memcpy(m_, (sm)->b.data, (sm)->b.len);                         \
		{ uint8_t *b = m_ + at_; __VA_ARGS__; }                        \
		rc_ = parse_bytes(m_, (sm)->b.len);                            \
		free(m_);                                                      \
		if (rc_ != (code))                                             \
			unit_fail(__FILE__, __LINE__, "got %d (%s), expected %d", \
				  rc_, xlmig_errmsg(), (code));                \
		CHECK(rc_ == (code));                                          \
		CHECK(strstr(xlmig_errmsg(), msgpart) != NULL);                \
	} while (0)

TEST(stream_bad_xl_magic)
{
	struct sample sm;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	MUTATE_CHECK(&sm, 20, XLMIG_E_FORMAT, "offset 0", b[0] ^= 1);
	MUTATE_CHECK(&sm, 0, XLMIG_E_FORMAT, "not a Xen save stream", b[0] = 'x');
	sample_free(&sm);
}

TEST(stream_bad_xl_byte_order_and_flags)
{
	struct sample sm;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	MUTATE_CHECK(&sm, 32, XLMIG_E_UNSUPPORTED, "big-endian", xlmig_put_be32(b, XLMIG_XL_BYTEORDER));
	MUTATE_CHECK(&sm, 32, XLMIG_E_FORMAT, "byte order", xlmig_put_le32(b, 0x01020305));
	MUTATE_CHECK(&sm, 36, XLMIG_E_UNSUPPORTED, "mandatory flags", b[0] |= 4);
	MUTATE_CHECK(&sm, 36, XLMIG_E_UNSUPPORTED, "legacy", b[0] &= (uint8_t)~2);
	MUTATE_CHECK(&sm, 44, XLMIG_E_LIMIT, "optional data", xlmig_put_le32(b, 17u << 20));
	MUTATE_CHECK(&sm, 48, XLMIG_E_FORMAT, "config length", xlmig_put_le32(b, 1u << 20));
	sample_free(&sm);
}

TEST(stream_bad_libxl_header)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	at = find(&sm, XLMIG_ITEM_LIBXL_HEADER, 0, 0);
	MUTATE_CHECK(&sm, at, XLMIG_E_FORMAT, "ident", b[1] = 'X');
	MUTATE_CHECK(&sm, at + 8, XLMIG_E_UNSUPPORTED, "version 3", xlmig_put_be32(b, 3));
	MUTATE_CHECK(&sm, at + 12, XLMIG_E_UNSUPPORTED, "big-endian", xlmig_put_be32(b, 1));
	sample_free(&sm);
}

TEST(stream_bad_libxc_headers)
{
	struct sample sm;
	uint64_t ih, dh;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_HVM, true, true));
	ih = find(&sm, XLMIG_ITEM_LIBXC_IMAGE_HEADER, 0, 0);
	dh = find(&sm, XLMIG_ITEM_LIBXC_DOMAIN_HEADER, 0, 0);
	MUTATE_CHECK(&sm, ih, XLMIG_E_FORMAT, "marker", b[3] = 0);
	MUTATE_CHECK(&sm, ih + 8, XLMIG_E_FORMAT, "wrong id", b[0] = 'Y');
	MUTATE_CHECK(&sm, ih + 12, XLMIG_E_UNSUPPORTED, "version 4", xlmig_put_be32(b, 4));
	MUTATE_CHECK(&sm, ih + 12, XLMIG_E_UNSUPPORTED, "version 1", xlmig_put_be32(b, 1));
	MUTATE_CHECK(&sm, ih + 16, XLMIG_E_UNSUPPORTED, "big-endian", xlmig_put_be16(b, 1));
	MUTATE_CHECK(&sm, ih + 20, XLMIG_E_FORMAT, "reserved", b[0] = 1);
	MUTATE_CHECK(&sm, dh, XLMIG_E_UNSUPPORTED, "guest type 3", xlmig_put_le32(b, 3));
	MUTATE_CHECK(&sm, dh + 4, XLMIG_E_UNSUPPORTED, "page shift", xlmig_put_le16(b, 16));
	sample_free(&sm);
}

TEST(stream_unknown_mandatory_record)
{
	struct sample sm;
	uint64_t at;
	char where[64];

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_X86_TSC_INFO, 0);
	snprintf(where, sizeof(where), "offset %llu", (unsigned long long)at);
	MUTATE_CHECK(&sm, at, XLMIG_E_UNSUPPORTED, where, xlmig_put_le32(b, 0x13));
	/* The same record marked optional is skipped (and still yielded). */
	{
		uint8_t *m = malloc(sm.b.len);

		CHECK(m != NULL);
		memcpy(m, sm.b.data, sm.b.len);
		xlmig_put_le32(m + at, XLMIG_REC_OPTIONAL | 0x13);
		CHECK_OK(parse_bytes(m, sm.b.len));
		free(m);
	}
	at = find(&sm, XLMIG_ITEM_LIBXL_RECORD, XLMIG_LIBXL_END, 0);
	MUTATE_CHECK(&sm, at, XLMIG_E_UNSUPPORTED, "libxl record", xlmig_put_le32(b, 6));
	sample_free(&sm);
}

TEST(stream_body_over_limit)
{
	struct sample sm;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	MUTATE_CHECK(&sm, find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA, 1) + 4,
		     XLMIG_E_LIMIT, "PAGE_DATA", xlmig_put_le32(b, XLMIG_MAX_RECORD_BODY + 1));
	MUTATE_CHECK(&sm, find(&sm, XLMIG_ITEM_LIBXL_RECORD, XLMIG_LIBXL_LIBXC_CONTEXT, 0) + 4,
		     XLMIG_E_LIMIT, "LIBXC_CONTEXT", xlmig_put_le32(b, 0xffffffffu));
	MUTATE_CHECK(&sm, find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_X86_TSC_INFO, 0) + 4,
		     XLMIG_E_FORMAT, "24 bytes", xlmig_put_le32(b, 16));
	sample_free(&sm);
}

TEST(stream_page_data_count)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA, 0);
	MUTATE_CHECK(&sm, at + 8, XLMIG_E_FORMAT, "count is 0", xlmig_put_le32(b, 0));
	MUTATE_CHECK(&sm, at + 8, XLMIG_E_LIMIT, "over the limit of 1024", xlmig_put_le32(b, 1025));
	/* One pfn more than the body holds: the lengths no longer match. */
	MUTATE_CHECK(&sm, at + 8, XLMIG_E_FORMAT, "PAGE_DATA", xlmig_put_le32(b, 5));
	sample_free(&sm);
}

TEST(stream_page_data_length_mismatch)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA, 0);
	/* Claim 3 pfns: the body then has one page too many. */
	MUTATE_CHECK(&sm, at + 8, XLMIG_E_FORMAT, "does not match", xlmig_put_le32(b, 3));
	sample_free(&sm);
}

TEST(stream_page_data_missing_pages)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	/* Four pfns that carry data, but a body one page short. */
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA, 0);
	MUTATE_CHECK(&sm, at + 4, XLMIG_E_FORMAT, "page data missing",
		     xlmig_put_le32(b, xlmig_get_le32(b) - XLMIG_PAGE_SIZE));
	sample_free(&sm);
}

TEST(stream_page_data_unknown_pfn_type)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_PAGE_DATA, 0);
	MUTATE_CHECK(&sm, at + 16 + 8 + 7, XLMIG_E_FORMAT, "unknown type 0x5", b[0] = 0x50);
	MUTATE_CHECK(&sm, at + 16 + 8 + 7, XLMIG_E_FORMAT, "unknown type 0x8", b[0] = 0x80);
	sample_free(&sm);
}

TEST(stream_nonzero_padding)
{
	struct sample sm;
	uint64_t at;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	/* The generator's optional record has a 13-byte body: 3 bytes of padding. */
	at = find(&sm, XLMIG_ITEM_LIBXC_RECORD, XLMIG_REC_OPTIONAL | 0x123, 0);
	CHECK(at != UINT64_MAX);
	MUTATE_CHECK(&sm, at + 8 + 13, XLMIG_E_FORMAT, "padding", b[2] = 1);
	sample_free(&sm);
}

TEST(stream_data_after_end)
{
	struct sample sm;
	uint8_t *m;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_PV, true, true));
	m = malloc(sm.b.len + 8);
	CHECK(m != NULL);
	memcpy(m, sm.b.data, sm.b.len);
	memset(m + sm.b.len, 0, 8);
	CHECK_EQ(parse_bytes(m, sm.b.len + 8), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "after the final END") != NULL);
	CHECK_EQ(parse_bytes(m, sm.b.len + 1), XLMIG_E_FORMAT);
	free(m);
	sample_free(&sm);
}

/* xl's messages after the final END, for a parser told to expect them. */
struct xl_msgs_seen {
	unsigned n;
	enum xlmig_xlproto_msg msg[4];
	int status[4];
	uint64_t offset[4];
};

static int on_xl_msg(void *opaque, const struct xlmig_item *it)
{
	struct xl_msgs_seen *m = opaque;

	if (it->kind != XLMIG_ITEM_XL_MESSAGE)
		return XLMIG_OK;
	if (m->n == 4)
		return XLMIG_E_LIMIT;
	m->msg[m->n] = (enum xlmig_xlproto_msg)it->u.xlmsg.msg;
	m->status[m->n] = it->u.xlmsg.status;
	m->offset[m->n++] = it->offset;
	return XLMIG_OK;
}

/* Feed b in chunks of chunk bytes to a parser that accepts xl's messages. */
static int parse_capture(const uint8_t *b, size_t len, size_t chunk, struct xl_msgs_seen *m)
{
	struct xlmig_parser *p = xlmig_parser_new(on_xl_msg, m);
	int rc = p ? XLMIG_OK : XLMIG_E_NOMEM;

	memset(m, 0, sizeof(*m));
	if (p)
		xlmig_parser_accept_xl_messages(p);
	for (size_t at = 0; !rc && at < len; at += chunk)
		rc = xlmig_parser_feed(p, b + at, XLMIG_MIN(chunk, len - at));
	if (!rc)
		rc = xlmig_parser_finish(p);
	xlmig_parser_free(p);
	return rc;
}

TEST(stream_xl_messages_after_end)
{
	static const char tail[] = XLMIG_XLPROTO_GO "\0" XLMIG_XLPROTO_REPORT "\0\x03";
	size_t tail_len = sizeof(tail) - 1;
	struct xl_msgs_seen m;
	struct sample sm;
	uint8_t *b;

	CHECK_OK(sample_make(&sm, XLMIG_GUEST_X86_HVM, true, true));
	b = malloc(sm.b.len + tail_len + 8);
	CHECK(b != NULL);
	memcpy(b, sm.b.data, sm.b.len);
	memcpy(b + sm.b.len, tail, tail_len);
	/* In one piece and a byte at a time: GO, then REPORT with status 3. */
	for (size_t chunk = 1; chunk <= sm.b.len + tail_len; chunk = chunk == 1 ? 4096 : SIZE_MAX) {
		CHECK_OK(parse_capture(b, sm.b.len + tail_len, chunk, &m));
		CHECK_EQ(m.n, 2);
		CHECK_EQ(m.msg[0], XLMIG_XLMSG_GO);
		CHECK_EQ(m.status[0], -1);
		CHECK(m.offset[0] == sm.b.len);
		CHECK_EQ(m.msg[1], XLMIG_XLMSG_REPORT);
		CHECK_EQ(m.status[1], 3);
		CHECK(m.offset[1] == sm.b.len + XLMIG_XLPROTO_GO_LEN);
	}
	/* Cut inside a message; a byte that starts none; and without the
	 * parser's consent, the GO is data after END as before. */
	CHECK_EQ(parse_capture(b, sm.b.len + 5, 4096, &m), XLMIG_E_TRUNCATED);
	CHECK(strstr(xlmig_errmsg(), "inside one of xl's messages") != NULL);
	CHECK_EQ(parse_capture(b, sm.b.len + tail_len - 1, 4096, &m), XLMIG_E_TRUNCATED);
	b[sm.b.len + XLMIG_XLPROTO_GO_LEN] = 'M';
	CHECK_EQ(parse_capture(b, sm.b.len + tail_len, 4096, &m), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "not one of xl's migration messages") != NULL);
	CHECK_EQ(m.n, 1);
	CHECK_EQ(parse_bytes(b, sm.b.len + XLMIG_XLPROTO_GO_LEN), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "after the final END") != NULL);
	free(b);
	sample_free(&sm);
}

/* Every proper prefix of a valid stream is accepted by feed and refused
 * by finish as truncated, whatever layer it stops in. */
static void check_truncations(uint32_t guest, bool xl, bool libxl)
{
	struct sample sm;
	struct xlmig_parser *p;
	uint64_t n = 0;

	CHECK_OK(sample_make(&sm, guest, xl, libxl));
	for (size_t len = 0; len < sm.b.len; len++) {
		p = xlmig_parser_new(count_only, &n);
		CHECK(p != NULL);
		CHECK_OK(xlmig_parser_feed(p, sm.b.data, len / 2));
		CHECK_OK(xlmig_parser_feed(p, sm.b.data + len / 2, len - len / 2));
		CHECK_EQ(xlmig_parser_finish(p), XLMIG_E_TRUNCATED);
		CHECK(!xlmig_parser_done(p));
		xlmig_parser_free(p);
	}
	/* The last prefix cuts the final END short. */
	CHECK(strstr(xlmig_errmsg(), "inside the item (7 of 8 bytes)") != NULL);
	sample_free(&sm);
}

TEST(stream_truncated_everywhere_xl) { check_truncations(XLMIG_GUEST_X86_PV, true, true); }
TEST(stream_truncated_everywhere_bare) { check_truncations(XLMIG_GUEST_X86_HVM, false, false); }

/* ---- layout rules, on streams built record by record ---- */

struct built {
	struct xlmig_buf b;
	struct xlmig_sink s;
};

static void built_start(struct built *w, uint32_t version, uint32_t guest)
{
	memset(w, 0, sizeof(*w));
	w->s.write = xlmig_sink_buf_write;
	w->s.opaque = &w->b;
	xlmig_write_libxc_image_header(&w->s, version, 0);
	xlmig_write_libxc_domain_header(&w->s, guest, 12, 4, 17);
}

static int built_page(struct built *w)
{
	static const uint8_t page[XLMIG_PAGE_SIZE];
	uint64_t pfn = 7;

	return xlmig_write_page_data(&w->s, 1, &pfn, page);
}

static int built_finish(struct built *w)
{
	int rc = xlmig_write_libxc_record(&w->s, XLMIG_REC_END, NULL, 0);

	if (!rc)
		rc = parse_bytes(w->b.data, w->b.len);
	xlmig_buf_free(&w->b);
	return rc;
}

TEST(stream_v3_needs_static_data_end)
{
	struct built w;

	built_start(&w, 3, XLMIG_GUEST_X86_HVM);
	CHECK_OK(built_page(&w));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "before STATIC_DATA_END") != NULL);

	built_start(&w, 3, XLMIG_GUEST_X86_HVM);
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_STATIC_DATA_END, NULL, 0));
	CHECK_OK(built_page(&w));
	CHECK_OK(built_finish(&w));

	/* v2: inferred at the first page; an explicit one later is a second. */
	built_start(&w, 2, XLMIG_GUEST_X86_HVM);
	CHECK_OK(built_page(&w));
	CHECK_OK(built_finish(&w));
	built_start(&w, 2, XLMIG_GUEST_X86_HVM);
	CHECK_OK(built_page(&w));
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_STATIC_DATA_END, NULL, 0));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "second STATIC_DATA_END") != NULL);

	/* Static data after STATIC_DATA_END. */
	built_start(&w, 3, XLMIG_GUEST_X86_HVM);
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_STATIC_DATA_END, NULL, 0));
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_X86_CPUID_POLICY, (uint8_t[24]){ 0 }, 24));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);
}

TEST(stream_records_of_the_other_guest_type)
{
	struct built w;
	uint8_t info[8] = { 8, 4 }, ctx[16] = { 1 };

	built_start(&w, 3, XLMIG_GUEST_X86_HVM);
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_X86_PV_INFO, info, sizeof(info)));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "X86_PV_INFO") != NULL);

	built_start(&w, 3, XLMIG_GUEST_X86_PV);
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_STATIC_DATA_END, NULL, 0));
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_HVM_CONTEXT, ctx, sizeof(ctx)));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);

	/* PV: pages need the p2m frames, which need PV_INFO. */
	built_start(&w, 3, XLMIG_GUEST_X86_PV);
	CHECK_OK(xlmig_write_libxc_record(&w.s, XLMIG_REC_STATIC_DATA_END, NULL, 0));
	CHECK_OK(built_page(&w));
	CHECK_EQ(built_finish(&w), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "before X86_PV_P2M_FRAMES") != NULL);
}

TEST(stream_libxl_checkpoint_rules)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_sink s = { xlmig_sink_buf_write, &b };

	/* CHECKPOINT_END with no libxc CHECKPOINT before it. */
	CHECK_OK(xlmig_write_libxl_header(&s, 0));
	CHECK_OK(xlmig_write_libxl_record(&s, XLMIG_LIBXL_CHECKPOINT_END, NULL, 0));
	CHECK_EQ(parse_bytes(b.data, b.len), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "CHECKPOINT_END") != NULL);
	CHECK(strstr(xlmig_errmsg(), "offset 16") != NULL);
	xlmig_buf_reset(&b);
	/* libxl END without any libxc stream. */
	CHECK_OK(xlmig_write_libxl_header(&s, 0));
	CHECK_OK(xlmig_write_libxl_record(&s, XLMIG_LIBXL_END, NULL, 0));
	CHECK_EQ(parse_bytes(b.data, b.len), XLMIG_E_FORMAT);
	xlmig_buf_free(&b);
}

TEST(stream_parser_refuses_input_after_error)
{
	struct seen *s = malloc(sizeof(*s));
	struct xlmig_parser *p;
	static const uint8_t junk[16] = "not a stream....";

	CHECK(s != NULL);
	seen_init(s);
	p = xlmig_parser_new(on_item, s);
	CHECK(p != NULL);
	CHECK_EQ(xlmig_parser_feed(p, junk, sizeof(junk)), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_parser_feed(p, junk, sizeof(junk)), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_parser_finish(p), XLMIG_E_FORMAT);
	CHECK_EQ(s->items, 0);
	xlmig_parser_free(p);
	free(s);
}
