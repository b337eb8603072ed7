/*
 * cmd_inspect.c - `xlmig inspect FILE|- [--json] [--rewrite OUT]`: what a
 * save file or migration stream holds, for administrators (headers, the
 * domain config, records by type, pages sent and resent), or as JSON; the
 * stream is read in chunks, never whole.  --rewrite writes it back through
 * the stream writer, which gives the identical bytes for a valid stream.
 * A capture of what `xl migrate` wrote carries xl's own messages after
 * the stream's final END (its GO): they are named, and left out of
 * --rewrite, which gives back the stream alone.  A compressed checkpoint
 * (ckpt_zip.h, `xlmig snapshot --compress`) is recognised by its magic
 * and unpacked on the way in: what is shown is the stream it holds, with
 * a line on the container, and --rewrite gives back that stream in Xen's
 * own format.
 */
#include "ckpt_zip.h"
#include "commands.h"
#include "common.h"
#include "json.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define READ_CHUNK     (1u << 20)
#define NTYPES         (XLMIG_REC_TYPE_MAX + 1)
#define NLIBXL_TYPES   (XLMIG_LIBXL_CHECKPOINT_STATE + 1)
#define MAX_TRAILING   32
#define MAX_XL_MSGS    8
/* The resend bitmap covers pfns below this (a 4 TiB guest, 128 MiB of
 * bitmap); pages above it are counted but not tracked. */
#define BITMAP_MAX_PFN (1ull << 30)

struct rec_count {
	uint64_t count, bytes;
};

struct inspect {
	/* headers */
	bool has_xl, has_libxl, has_libxc;
	uint32_t xl_mandatory, xl_optional, xl_config_len;
	char name[128], type[16];
	uint64_t max_memkb;
	bool have_config;
	uint32_t libxl_version, libxl_options, libxc_version, guest_type, page_shift;
	uint32_t xen_major, xen_minor;
	/* records */
	struct rec_count libxc[NTYPES], libxc_optional, libxl[NLIBXL_TYPES], libxl_optional;
	/* pages */
	uint64_t pfn_entries, data_pages, no_data_entries, distinct, resent, untracked;
	uint64_t pfn_min, pfn_max;
	uint8_t *bitmap;
	uint64_t bitmap_bits;
	/* records after the last PAGE_DATA, in order */
	struct { const char *layer, *name; } trailing[MAX_TRAILING];
	unsigned ntrailing, trailing_dropped;
	uint64_t total_bytes;     /* of the stream, without xl's messages */
	/* xl's messages after the final END, in order */
	struct { const char *name; int status; uint64_t offset; } xl_msgs[MAX_XL_MSGS];
	unsigned n_xl_msgs, xl_msgs_dropped;
	const struct xlmig_sink *rewrite;
	/* a compressed checkpoint, unpacked into the parser */
	struct xlmig_ckz_reader *ckz;
	struct xlmig_ckz_stats ckz_st;
};

/* ---- a buffered file sink for --rewrite ---- */

struct out_file {
	int fd;
	struct xlmig_buf buf;
};

static int out_flush(struct out_file *o)
{
	int rc = xlmig_write_full(o->fd, o->buf.data, o->buf.len);

	xlmig_buf_reset(&o->buf);
	return rc;
}

static int out_write(void *opaque, const void *data, size_t len)
{
	struct out_file *o = opaque;
	int rc = XLMIG_OK;

	if (o->buf.len + len > READ_CHUNK)
		rc = out_flush(o);
	if (!rc && len >= READ_CHUNK)
		return xlmig_write_full(o->fd, data, len);
	return rc ? rc : xlmig_buf_append(&o->buf, data, len);
}

/* ---- collecting ---- */

static int track_pfn(struct inspect *in, uint64_t pfn)
{
	uint64_t need;
	uint8_t *nb;

	if (pfn >= BITMAP_MAX_PFN) {
		in->untracked++;
		return XLMIG_OK;
	}
	if (pfn >= in->bitmap_bits) {
		/* Grow by doubling: the bitmap follows the highest pfn seen. */
		need = XLMIG_MAX(in->bitmap_bits * 2, XLMIG_MAX(pfn + 1, 1u << 15));
		need = XLMIG_MIN((need + 7) & ~7ull, BITMAP_MAX_PFN);
		nb = realloc(in->bitmap, need / 8);
		if (!nb)
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory tracking pfns");
		memset(nb + in->bitmap_bits / 8, 0, (need - in->bitmap_bits) / 8);
		in->bitmap = nb;
		in->bitmap_bits = need;
	}
	if (in->bitmap[pfn / 8] & (1u << (pfn % 8))) {
		in->resent++;
	} else {
		in->bitmap[pfn / 8] |= (uint8_t)(1u << (pfn % 8));
		in->distinct++;
	}
	return XLMIG_OK;
}

static int count_pages(struct inspect *in, const struct xlmig_item *it)
{
	int rc = XLMIG_OK;

	for (uint32_t i = 0; i < it->u.page.count && !rc; i++) {
		uint64_t e = xlmig_get_le64(it->u.page.pfns + 8 * (size_t)i);
		uint64_t pfn = e & XLMIG_PFN_MASK;

		in->pfn_min = in->pfn_entries ? XLMIG_MIN(in->pfn_min, pfn) : pfn;
		in->pfn_max = in->pfn_entries ? XLMIG_MAX(in->pfn_max, pfn) : pfn;
		in->pfn_entries++;
		if (!xlmig_pfn_type_has_data((unsigned)(e >> XLMIG_PFN_TYPE_SHIFT)))
			in->no_data_entries++;
		else
			rc = track_pfn(in, pfn);
	}
	in->data_pages += it->u.page.data_pages;
	in->ntrailing = in->trailing_dropped = 0;
	return rc;
}

static void note_trailing(struct inspect *in, const char *layer, const char *name)
{
	if (in->ntrailing < MAX_TRAILING) {
		in->trailing[in->ntrailing].layer = layer;
		in->trailing[in->ntrailing++].name = name;
	} else
		in->trailing_dropped++;
}

static void read_config(struct inspect *in, const struct xlmig_item *it)
{
	struct xlmig_json *cfg;
	const char *s;
	uint32_t len = it->u.xl.config_len;

	in->xl_config_len = len;
	if (!(it->u.xl.mandatory_flags & XLMIG_XL_FLAG_JSON) || !len)
		return;
	if (it->u.xl.config[len - 1] == '\0') /* xl stores the NUL */
		len--;
	if (xlmig_json_parse((const char *)it->u.xl.config, len, &cfg)) {
		/* The stream itself is fine: say so and go on without it. */
		xlmig_warn("inspect: domain config is not valid JSON: %s", xlmig_errmsg());
		return;
	}
	in->have_config = true;
	if (!xlmig_json_get_str(cfg, "c_info.name", &s))
		snprintf(in->name, sizeof(in->name), "%s", s);
	if (!xlmig_json_get_str(cfg, "c_info.type", &s))
		snprintf(in->type, sizeof(in->type), "%s", s);
	if (xlmig_json_get_u64(cfg, "b_info.max_memkb", &in->max_memkb))
		in->max_memkb = 0;
	xlmig_json_free(cfg);
}

static int count_record(struct inspect *in, const struct xlmig_item *it)
{
	bool libxc = it->kind == XLMIG_ITEM_LIBXC_RECORD;
	struct rec_count *c;

	if (it->type & XLMIG_REC_OPTIONAL)
		c = libxc ? &in->libxc_optional : &in->libxl_optional;
	else
		c = libxc ? &in->libxc[it->type] : &in->libxl[it->type];
	c->count++;
	c->bytes += it->raw_len;
	if (libxc && it->type == XLMIG_REC_PAGE_DATA)
		return count_pages(in, it);
	if (libxc)
		note_trailing(in, "libxc", xlmig_libxc_rec_name(it->type));
	else
		note_trailing(in, "libxl", xlmig_libxl_rec_name(it->type));
	return XLMIG_OK;
}

/* One of xl's messages after the stream: named, never rewritten. */
static void note_xl_message(struct inspect *in, const struct xlmig_item *it)
{
	if (in->n_xl_msgs == MAX_XL_MSGS) {
		in->xl_msgs_dropped++;
		return;
	}
	in->xl_msgs[in->n_xl_msgs].name = it->u.xlmsg.name;
	in->xl_msgs[in->n_xl_msgs].status = it->u.xlmsg.status;
	in->xl_msgs[in->n_xl_msgs++].offset = it->offset;
}

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct inspect *in = opaque;
	int rc = XLMIG_OK;

	if (it->kind == XLMIG_ITEM_XL_MESSAGE) {
		note_xl_message(in, it);
		return XLMIG_OK;
	}
	in->total_bytes += it->raw_len;
	switch (it->kind) {
	case XLMIG_ITEM_XL_HEADER:
		in->has_xl = true;
		in->xl_mandatory = it->u.xl.mandatory_flags;
		in->xl_optional = it->u.xl.optional_flags;
		read_config(in, it);
		break;
	case XLMIG_ITEM_LIBXL_HEADER:
		in->has_libxl = true;
		in->libxl_version = it->u.libxl.version;
		in->libxl_options = it->u.libxl.options;
		break;
	case XLMIG_ITEM_LIBXC_IMAGE_HEADER:
		in->has_libxc = true;
		in->libxc_version = it->u.image.version;
		break;
	case XLMIG_ITEM_LIBXC_DOMAIN_HEADER:
		in->guest_type = it->u.domain.guest_type;
		in->page_shift = it->u.domain.page_shift;
		in->xen_major = it->u.domain.xen_major;
		in->xen_minor = it->u.domain.xen_minor;
		break;
	case XLMIG_ITEM_LIBXL_RECORD:
	case XLMIG_ITEM_LIBXC_RECORD:
		rc = count_record(in, it);
		break;
	case XLMIG_ITEM_XL_MESSAGE:
		break;   /* taken above */
	}
	if (!rc && in->rewrite)
		rc = xlmig_write_item(in->rewrite, it);
	return rc;
}

/* ---- reading ---- */

static int parser_sink(void *p, const void *data, size_t len)
{
	return xlmig_parser_feed(p, data, len);
}

/* The next bytes of the file: a compressed checkpoint's go through its
 * reader, whose output is the stream. */
static int feed(struct inspect *in, struct xlmig_parser *p, const uint8_t *data, size_t len)
{
	return in->ckz ? xlmig_ckz_reader_feed(in->ckz, data, len) : xlmig_parser_feed(p, data, len);
}

static int finish(struct inspect *in, struct xlmig_parser *p)
{
	int rc = in->ckz ? xlmig_ckz_reader_finish(in->ckz) : XLMIG_OK;

	if (in->ckz)
		in->ckz_st = *xlmig_ckz_reader_stats(in->ckz);
	return rc ? rc : xlmig_parser_finish(p);
}

/* What the file's first bytes say it is: a compressed checkpoint gets a
 * reader feeding the parser. */
static int recognise(struct inspect *in, struct xlmig_parser *p, const uint8_t *head, size_t len,
		     struct xlmig_sink *into_parser)
{
	into_parser->write = parser_sink;
	into_parser->opaque = p;
	if (!xlmig_ckz_is_container(head, len))
		return XLMIG_OK;
	return xlmig_ckz_reader_new(into_parser, &in->ckz);
}

static int read_stream(int fd, struct inspect *in, struct xlmig_parser *p)
{
	struct xlmig_sink into_parser;
	uint8_t *buf = malloc(READ_CHUNK);
	uint64_t offset = 0;
	int rc = XLMIG_OK;

	if (!buf)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf, offset ? READ_CHUNK : XLMIG_CKZ_MAGIC_LEN);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = xlmig_fail(XLMIG_E_IO, "read failed at offset %" PRIu64 ": %s", offset,
					strerror(errno));
			break;
		}
		if (n == 0) {
			rc = finish(in, p);
			break;
		}
		/* A pipe may give fewer than the magic's bytes first: such a
		 * short start is never a container. */
		if (offset == 0)
			rc = recognise(in, p, buf, (size_t)n, &into_parser);
		offset += (uint64_t)n;
		if (rc || (rc = feed(in, p, buf, (size_t)n)))
			break;
	}
	free(buf);
	return rc;
}

/* ---- output ---- */

static const char *guest_name(uint32_t type)
{
	return type == XLMIG_GUEST_X86_PV ? "x86 PV" : type == XLMIG_GUEST_X86_HVM ? "x86 HVM" : "?";
}

static void print_counts(const char *layer, const struct rec_count *c, unsigned n,
			 const char *(*name)(uint32_t), const struct rec_count *opt)
{
	for (unsigned t = 0; t < n; t++)
		if (c[t].count)
			printf("  %-6s %-26s %10" PRIu64 " %14" PRIu64 "\n", layer, name(t),
			       c[t].count, c[t].bytes);
	if (opt->count)
		printf("  %-6s %-26s %10" PRIu64 " %14" PRIu64 "\n", layer, "(optional)",
		       opt->count, opt->bytes);
}

static void print_text(const struct inspect *in, const char *file)
{
	const struct xlmig_ckz_stats *z = &in->ckz_st;

	if (in->ckz)
		printf("container:    xlmig compressed checkpoint (XLMIGCKZ version %u), %" PRIu64
		       " bytes, %.1f%% of its stream; %" PRIu64 " PAGES blocks: %" PRIu64 " zero, %" PRIu64
		       " zstd, %" PRIu64 " raw pages\n", XLMIG_CKZ_VERSION, z->file_bytes,
		       in->total_bytes ? 100.0 * (double)z->file_bytes / (double)in->total_bytes : 0.0,
		       z->blocks[XLMIG_CKZ_PAGES], z->pages_zero, z->pages_zstd, z->pages_raw);
	printf("stream:       %s (%" PRIu64 " bytes)\n", file, in->total_bytes);
	if (in->has_xl) {
		printf("xl header:    mandatory flags %#x (%s%s), optional flags %#x, config %u bytes\n",
		       in->xl_mandatory, in->xl_mandatory & XLMIG_XL_FLAG_JSON ? "json " : "",
		       in->xl_mandatory & XLMIG_XL_FLAG_STREAMV2 ? "streamv2" : "",
		       in->xl_optional, in->xl_config_len);
		if (in->have_config)
			printf("domain:       name %s, type %s, max memory %" PRIu64 " KiB\n",
			       in->name[0] ? in->name : "?", in->type[0] ? in->type : "?",
			       in->max_memkb);
	}
	if (in->has_libxl)
		printf("libxl stream: version %u, options %#x\n", in->libxl_version, in->libxl_options);
	if (in->has_libxc)
		printf("libxc stream: version %u, %s guest, Xen %u.%u, page size %u\n",
		       in->libxc_version, guest_name(in->guest_type), in->xen_major,
		       in->xen_minor, 1u << in->page_shift);
	printf("records:      %-6s %-26s %10s %14s\n", "layer", "type", "count", "bytes");
	print_counts("libxl", in->libxl, NLIBXL_TYPES, xlmig_libxl_rec_name, &in->libxl_optional);
	print_counts("libxc", in->libxc, NTYPES, xlmig_libxc_rec_name, &in->libxc_optional);
	printf("pages:        %" PRIu64 " sent (%" PRIu64 " distinct pfns, %" PRIu64
	       " sent again), %" PRIu64 " entries without data\n", in->data_pages, in->distinct,
	       in->resent, in->no_data_entries);
	if (in->untracked)
		printf("              %" PRIu64 " pages above pfn %#llx not tracked for resends\n",
		       in->untracked, BITMAP_MAX_PFN);
	if (in->pfn_entries)
		printf("pfn range:    %#" PRIx64 " - %#" PRIx64 "\n", in->pfn_min, in->pfn_max);
	printf("trailing:     ");
	for (unsigned i = 0; i < in->ntrailing; i++)
		printf("%s%s:%s", i ? " " : "", in->trailing[i].layer, in->trailing[i].name);
	if (in->trailing_dropped)
		printf(" (+%u more)", in->trailing_dropped);
	printf("\n");
	if (!in->n_xl_msgs)
		return;
	printf("after END:    xl's");
	for (unsigned i = 0; i < in->n_xl_msgs; i++) {
		printf("%s %s at offset %" PRIu64, i ? "," : "", in->xl_msgs[i].name,
		       in->xl_msgs[i].offset);
		if (in->xl_msgs[i].status >= 0)
			printf(" (status %d)", in->xl_msgs[i].status);
	}
	if (in->xl_msgs_dropped)
		printf(" (+%u more)", in->xl_msgs_dropped);
	printf(" (not part of the stream)\n");
}

static void json_counts(struct xlmig_json_writer *w, const char *key, const struct rec_count *c,
			unsigned n, const char *(*name)(uint32_t), const struct rec_count *opt)
{
	xlmig_json_key(w, key);
	xlmig_json_object_open(w);
	for (unsigned t = 0; t < n + 1; t++) {
		const struct rec_count *rc = t < n ? &c[t] : opt;

		if (!rc->count)
			continue;
		xlmig_json_key(w, t < n ? name(t) : "optional");
		xlmig_json_object_open(w);
		xlmig_json_kv_uint(w, "count", rc->count);
		xlmig_json_kv_uint(w, "bytes", rc->bytes);
		xlmig_json_object_close(w);
	}
	xlmig_json_object_close(w);
}

static int print_json(const struct inspect *in)
{
	struct xlmig_buf out = { 0 };
	struct xlmig_json_writer w;
	int rc;

	xlmig_json_writer_init(&w, &out);
	xlmig_json_object_open(&w);
	xlmig_json_kv_uint(&w, "bytes", in->total_bytes);
	if (in->ckz) {
		xlmig_json_key(&w, "container");
		xlmig_json_object_open(&w);
		xlmig_json_kv_str(&w, "format", "XLMIGCKZ");
		xlmig_json_kv_uint(&w, "version", XLMIG_CKZ_VERSION);
		xlmig_json_kv_uint(&w, "bytes", in->ckz_st.file_bytes);
		xlmig_json_kv_uint(&w, "page_blocks", in->ckz_st.blocks[XLMIG_CKZ_PAGES]);
		xlmig_json_kv_uint(&w, "pages_zero", in->ckz_st.pages_zero);
		xlmig_json_kv_uint(&w, "pages_zstd", in->ckz_st.pages_zstd);
		xlmig_json_kv_uint(&w, "pages_raw", in->ckz_st.pages_raw);
		xlmig_json_object_close(&w);
	}
	if (in->has_xl) {
		xlmig_json_key(&w, "xl");
		xlmig_json_object_open(&w);
		xlmig_json_kv_uint(&w, "mandatory_flags", in->xl_mandatory);
		xlmig_json_kv_uint(&w, "optional_flags", in->xl_optional);
		xlmig_json_kv_uint(&w, "config_bytes", in->xl_config_len);
		xlmig_json_object_close(&w);
	}
	if (in->have_config) {
		xlmig_json_key(&w, "domain");
		xlmig_json_object_open(&w);
		xlmig_json_kv_str(&w, "name", in->name);
		xlmig_json_kv_str(&w, "type", in->type);
		xlmig_json_kv_uint(&w, "max_memkb", in->max_memkb);
		xlmig_json_object_close(&w);
	}
	if (in->has_libxl)
		xlmig_json_kv_uint(&w, "libxl_version", in->libxl_version);
	if (in->has_libxc) {
		xlmig_json_kv_uint(&w, "libxc_version", in->libxc_version);
		xlmig_json_kv_str(&w, "guest_type", in->guest_type == XLMIG_GUEST_X86_PV ? "pv" : "hvm");
		xlmig_json_kv_uint(&w, "xen_major", in->xen_major);
		xlmig_json_kv_uint(&w, "xen_minor", in->xen_minor);
		xlmig_json_kv_uint(&w, "page_size", 1u << in->page_shift);
	}
	json_counts(&w, "libxl_records", in->libxl, NLIBXL_TYPES, xlmig_libxl_rec_name,
		    &in->libxl_optional);
	json_counts(&w, "libxc_records", in->libxc, NTYPES, xlmig_libxc_rec_name,
		    &in->libxc_optional);
	xlmig_json_key(&w, "pages");
	xlmig_json_object_open(&w);
	xlmig_json_kv_uint(&w, "sent", in->data_pages);
	xlmig_json_kv_uint(&w, "distinct", in->distinct);
	xlmig_json_kv_uint(&w, "sent_again", in->resent);
	xlmig_json_kv_uint(&w, "without_data", in->no_data_entries);
	xlmig_json_kv_uint(&w, "untracked", in->untracked);
	if (in->pfn_entries) {
		xlmig_json_kv_uint(&w, "pfn_min", in->pfn_min);
		xlmig_json_kv_uint(&w, "pfn_max", in->pfn_max);
	}
	xlmig_json_object_close(&w);
	xlmig_json_key(&w, "trailing");
	xlmig_json_array_open(&w);
	for (unsigned i = 0; i < in->ntrailing; i++) {
		xlmig_json_object_open(&w);
		xlmig_json_kv_str(&w, "layer", in->trailing[i].layer);
		xlmig_json_kv_str(&w, "type", in->trailing[i].name);
		xlmig_json_object_close(&w);
	}
	xlmig_json_array_close(&w);
	xlmig_json_key(&w, "xl_messages");
	xlmig_json_array_open(&w);
	for (unsigned i = 0; i < in->n_xl_msgs; i++) {
		xlmig_json_object_open(&w);
		xlmig_json_kv_str(&w, "message", in->xl_msgs[i].name);
		xlmig_json_kv_uint(&w, "offset", in->xl_msgs[i].offset);
		if (in->xl_msgs[i].status >= 0)
			xlmig_json_kv_uint(&w, "status", (uint64_t)in->xl_msgs[i].status);
		xlmig_json_object_close(&w);
	}
	xlmig_json_array_close(&w);
	xlmig_json_object_close(&w);
	rc = xlmig_json_finish(&w);
	if (!rc) {
		fwrite(out.data, 1, out.len, stdout);
		putchar('\n');
	}
	xlmig_buf_free(&out);
	return rc;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: xlmig inspect FILE|- [--json] [--rewrite OUT]\n"
		   "  Show what a Xen save file or migration stream holds; '-' reads stdin.\n"
		   "  xl's messages after the stream (a capture of xl migrate) are named.\n"
		   "  A compressed checkpoint (xlmig snapshot --compress) is unpacked.\n"
		   "  --json         machine-readable output\n"
		   "  --rewrite OUT  write the stream back out through xlmig's writer\n"
		   "                 (in Xen's own format, a compressed checkpoint too)\n");
}

static int open_input(const char *file, int *fd)
{
	if (!strcmp(file, "-")) {
		*fd = STDIN_FILENO;
		return XLMIG_OK;
	}
	*fd = open(file, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot open: %s", strerror(errno));
	return XLMIG_OK;
}

static int inspect(const char *file, bool json, const char *rewrite)
{
	struct inspect *in = calloc(1, sizeof(*in));
	struct out_file out = { .fd = -1 };
	struct xlmig_sink sink = { out_write, &out };
	struct xlmig_parser *p = NULL;
	int fd = -1, rc;

	if (!in)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	rc = open_input(file, &fd);
	if (!rc && rewrite) {
		out.fd = open(rewrite, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out.fd < 0)
			rc = xlmig_fail(XLMIG_E_IO, "cannot create %s: %s", rewrite, strerror(errno));
		in->rewrite = &sink;
	}
	if (!rc) {
		p = xlmig_parser_new(on_item, in);
		if (p)
			xlmig_parser_accept_xl_messages(p);
		rc = p ? read_stream(fd, in, p) : XLMIG_E_NOMEM;
	}
	if (!rc && rewrite)
		rc = out_flush(&out);
	if (!rc && out.fd >= 0 && close(out.fd))
		rc = xlmig_fail(XLMIG_E_IO, "writing %s: %s", rewrite, strerror(errno));
	else if (out.fd >= 0 && rc)
		close(out.fd);
	if (!rc && json)
		rc = print_json(in);
	else if (!rc)
		print_text(in, file);
	if (fd > STDIN_FILENO)
		close(fd);
	xlmig_parser_free(p);
	xlmig_ckz_reader_free(in->ckz);
	xlmig_buf_free(&out.buf);
	free(in->bitmap);
	free(in);
	return rc;
}

int xlmig_cmd_inspect(int argc, char **argv)
{
	const char *file = NULL, *rewrite = NULL;
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--rewrite") && i + 1 < argc)
			rewrite = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
			file = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!file) {
		usage(stderr);
		return 2;
	}
	rc = inspect(file, json, rewrite);
	if (rc) {
		fprintf(stderr, "xlmig inspect: %s: %s\n", file, xlmig_errmsg()[0] ?
			xlmig_errmsg() : xlmig_strerror(rc));
		return 1;
	}
	return 0;
}
