/*
 * stream_parse.c - the incremental parser of Xen's save/migration stream
 * (see stream.h).
 *
 * Each item (header or record) is handled in two steps: as soon as its
 * fixed header is available, item_size() checks the header and says how
 * long the whole item is; once all of it is available, process() checks
 * the body, applies the layout rules and calls back.  Items that lie
 * whole inside the caller's chunk are processed in place; only an item
 * that straddles chunks is gathered in p->pend, so the parser never holds
 * more than one record.
 */
#include "stream.h"
#include "xlproto.h"

#include <stdarg.h>
#include <stdlib.h>

enum state {
	ST_START,          /* sniff which layer the stream starts with */
	ST_XL_HEADER,
	ST_LIBXL_HEADER,
	ST_LIBXL_RECORD,
	ST_LIBXC_IHDR,
	ST_LIBXC_DHDR,
	ST_LIBXC_RECORD,
	ST_DONE,
};

struct xlmig_parser {
	xlmig_item_fn fn;
	void *opaque;
	enum state state;
	int err;                 /* sticky: the first error */
	uint64_t offset;         /* stream offset of the current item */
	struct xlmig_buf pend;   /* the current item, when it straddles chunks */
	uint64_t pend_need;      /* its full size, once its header is in */
	bool xl_messages;        /* xl's messages may follow the final END */

	/* What the layout rules need to know. */
	bool libxl;              /* libxc is wrapped in a libxl stream */
	bool libxc_seen;         /* LIBXC_CONTEXT already came */
	bool libxl_checkpoint;   /* libxl records between CHECKPOINT and CHECKPOINT_END */
	uint32_t libxc_version;
	uint32_t guest_type;
	bool static_end;         /* STATIC_DATA_END seen (v3) or inferred (v2) */
	bool pv_info, p2m_frames;
};

/* ---- names and small tables ---- */

const char *xlmig_libxc_rec_name(uint32_t type)
{
	static const char *const names[] = {
		"END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES",
		"X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE",
		"SHARED_INFO", "X86_TSC_INFO", "HVM_CONTEXT", "HVM_PARAMS",
		"TOOLSTACK", "X86_PV_VCPU_MSRS", "VERIFY", "CHECKPOINT",
		"CHECKPOINT_DIRTY_PFN_LIST", "STATIC_DATA_END", "X86_CPUID_POLICY",
		"X86_MSR_POLICY",
	};

	if (type < XLMIG_ARRAY_SIZE(names))
		return names[type];
	return type & XLMIG_REC_OPTIONAL ? "optional" : "unknown";
}

const char *xlmig_libxl_rec_name(uint32_t type)
{
	static const char *const names[] = {
		"END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA",
		"EMULATOR_CONTEXT", "CHECKPOINT_END", "CHECKPOINT_STATE",
	};

	if (type < XLMIG_ARRAY_SIZE(names))
		return names[type];
	return type & XLMIG_REC_OPTIONAL ? "optional" : "unknown";
}

int xlmig_pfn_type_has_data(unsigned type)
{
	return type <= XLMIG_PFINFO_L4TAB ||
	       (type > XLMIG_PFINFO_LPINTAB && type <= (XLMIG_PFINFO_LPINTAB | XLMIG_PFINFO_L4TAB));
}

static bool pfn_type_known(unsigned type)
{
	return xlmig_pfn_type_has_data(type) || type == XLMIG_PFINFO_BROKEN ||
	       type == XLMIG_PFINFO_XALLOC || type == XLMIG_PFINFO_XTAB;
}

/* ---- errors ---- */

static const char *state_what(enum state st)
{
	switch (st) {
	case ST_START:        return "stream start";
	case ST_XL_HEADER:    return "xl save header";
	case ST_LIBXL_HEADER: return "libxl stream header";
	case ST_LIBXL_RECORD: return "libxl record";
	case ST_LIBXC_IHDR:   return "libxc image header";
	case ST_LIBXC_DHDR:   return "libxc domain header";
	case ST_LIBXC_RECORD: return "libxc record";
	case ST_DONE:         return "end of stream";
	}
	return "?";
}

/* Fail the current item: "<what> at offset N: <message>". */
static int bad(struct xlmig_parser *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct xlmig_parser *p, int err, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->err = xlmig_fail(err, "%s at offset %llu: %s", state_what(p->state),
			    (unsigned long long)p->offset, msg);
	return p->err;
}

/* Same, naming the record: "libxc record PAGE_DATA (0x1) at offset N: ...". */
static int bad_rec(struct xlmig_parser *p, int err, uint32_t type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad_rec(struct xlmig_parser *p, int err, uint32_t type, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	bool libxc = p->state == ST_LIBXC_RECORD;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->err = xlmig_fail(err, "%s %s (%#x) at offset %llu: %s",
			    libxc ? "libxc record" : "libxl record",
			    libxc ? xlmig_libxc_rec_name(type) : xlmig_libxl_rec_name(type),
			    type, (unsigned long long)p->offset, msg);
	return p->err;
}

/* ---- step 1: header checks and item size ---- */

static size_t header_size(enum state st)
{
	switch (st) {
	case ST_START:        return 8;
	case ST_XL_HEADER:    return XLMIG_XL_HEADER_LEN;
	case ST_LIBXL_HEADER: return XLMIG_LIBXL_HEADER_LEN;
	case ST_LIBXC_IHDR:   return XLMIG_LIBXC_IHDR_LEN;
	case ST_LIBXC_DHDR:   return XLMIG_LIBXC_DHDR_LEN;
	case ST_LIBXL_RECORD:
	case ST_LIBXC_RECORD: return XLMIG_RECORD_HDR_LEN;
	case ST_DONE:         return 0;
	}
	return 0;
}

static int sniff(struct xlmig_parser *p, const uint8_t *b)
{
	if (!memcmp(b, XLMIG_XL_MAGIC, 8))
		p->state = ST_XL_HEADER;
	else if (xlmig_get_be64(b) == XLMIG_LIBXL_IDENT)
		p->state = ST_LIBXL_HEADER;
	else if (xlmig_get_be64(b) == XLMIG_LIBXC_MARKER)
		p->state = ST_LIBXC_IHDR;
	else
		return bad(p, XLMIG_E_FORMAT, "not a Xen save stream: expected the xl magic, "
			   "\"LibxlFmt\" or the libxc marker");
	return XLMIG_OK;
}

/* ---- xl's save header: one set of rules for every reader ---- */

int xlmig_xl_header_check(const uint8_t b[XLMIG_XL_HEADER_LEN], uint32_t *optlen)
{
	uint32_t order = xlmig_get_le32(b + 32), mand = xlmig_get_le32(b + 36);
	uint32_t unknown = mand & ~(XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2);

	*optlen = xlmig_get_le32(b + 44);
	if (memcmp(b, XLMIG_XL_MAGIC, XLMIG_XL_MAGIC_LEN))
		return xlmig_fail(XLMIG_E_FORMAT, "wrong magic: not an xl save file "
				  "(corrupt, or from another tool?)");
	/* xl writes its header in the host's byte order; x86 is little. */
	if (order == __builtin_bswap32(XLMIG_XL_BYTEORDER))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "big-endian save file");
	if (order != XLMIG_XL_BYTEORDER)
		return xlmig_fail(XLMIG_E_FORMAT, "byte order word %#x is not %#x", order,
				  XLMIG_XL_BYTEORDER);
	if (unknown)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "unknown mandatory flags %#x", unknown);
	/* xl would hand a v1 stream to libxl's legacy converter; xlmig has
	 * none, so every reader refuses it here, before anything is created. */
	if (!(mand & XLMIG_XL_FLAG_STREAMV2))
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "legacy (pre-Xen 4.6) libxl stream: "
				  "xlmig restores libxl stream v2 only (Xen 4.6 and later)");
	if (*optlen > XLMIG_MAX_XL_OPTDATA)
		return xlmig_fail(XLMIG_E_LIMIT, "optional data of %u bytes is over the limit of %u",
				  *optlen, XLMIG_MAX_XL_OPTDATA);
	return XLMIG_OK;
}

int xlmig_xl_header_config(const uint8_t *opt, uint32_t optlen, const uint8_t **config,
			   uint32_t *config_len)
{
	uint32_t cfglen;

	*config = NULL;
	*config_len = 0;
	if (!optlen)
		return XLMIG_OK;
	/* As xl reads it: le32 length, then the config; more may follow. */
	if (optlen < 4)
		return xlmig_fail(XLMIG_E_FORMAT, "optional data of %u bytes is too short "
				  "for the config length", optlen);
	cfglen = xlmig_get_le32(opt);
	if (cfglen > optlen - 4)
		return xlmig_fail(XLMIG_E_FORMAT, "config length %u is over the %u bytes of "
				  "optional data", cfglen, optlen - 4);
	*config = opt + 4;
	*config_len = cfglen;
	return XLMIG_OK;
}

int xlmig_xlhdr_parse(const uint8_t *data, size_t len, struct xlmig_xlhdr *h, size_t *used)
{
	const uint8_t *config;
	uint32_t optlen;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len < XLMIG_XL_HEADER_LEN)
		return xlmig_fail(XLMIG_E_TRUNCATED, "xl save header: %zu of %u bytes", len,
				  XLMIG_XL_HEADER_LEN);
	if ((rc = xlmig_xl_header_check(data, &optlen)))
		return xlmig_fail_prefix(rc, "xl save header");
	if (len - XLMIG_XL_HEADER_LEN < optlen)
		return xlmig_fail(XLMIG_E_TRUNCATED, "xl save header: optional data truncated");
	if ((rc = xlmig_xl_header_config(data + XLMIG_XL_HEADER_LEN, optlen, &config,
					 &h->config_len)))
		return xlmig_fail_prefix(rc, "xl save header");
	h->mandatory_flags = xlmig_get_le32(data + 36);
	h->optional_flags = xlmig_get_le32(data + 40);
	if (xlmig_buf_append(&h->raw, data, XLMIG_XL_HEADER_LEN + (size_t)optlen))
		return xlmig_fail(XLMIG_E_NOMEM, "xl save header: out of memory");
	if (config)
		h->config = h->raw.data + (config - data);
	if (used)
		*used = XLMIG_XL_HEADER_LEN + (size_t)optlen;
	return XLMIG_OK;
}

#define XLHDR_READ_CHUNK (64u << 10)

int xlmig_xlhdr_read(int fd, struct xlmig_xlhdr *h)
{
	struct xlmig_buf b = { 0 };
	uint8_t *p;
	uint32_t optlen;
	int rc;

	memset(h, 0, sizeof(*h));
	p = xlmig_buf_extend(&b, XLMIG_XL_HEADER_LEN);
	if (!p) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "xl save header: out of memory");
		goto out;
	}
	rc = xlmig_read_full(fd, p, XLMIG_XL_HEADER_LEN);
	if (rc) {
		xlmig_fail_prefix(rc, "reading the xl save header");
		goto out;
	}
	/* Checked before the optional data is read: its length is bounded. */
	if ((rc = xlmig_xl_header_check(p, &optlen))) {
		xlmig_fail_prefix(rc, "xl save header");
		goto out;
	}
	/* In chunks as they come: a sender that announces 16 MiB and sends
	 * nothing more costs one chunk, not 16 MiB. */
	for (uint32_t got = 0, n; got < optlen; got += n) {
		n = XLMIG_MIN(optlen - got, XLHDR_READ_CHUNK);
		p = xlmig_buf_extend(&b, n);
		if (!p) {
			rc = xlmig_fail(XLMIG_E_NOMEM, "xl save header: out of memory for %u bytes",
					optlen);
			goto out;
		}
		rc = xlmig_read_full(fd, p, n);
		if (rc) {
			xlmig_fail_prefix(rc, "reading the xl save header's optional data");
			goto out;
		}
	}
	rc = xlmig_xlhdr_parse(b.data, b.len, h, NULL);
out:
	xlmig_buf_free(&b);
	return rc;
}

void xlmig_xlhdr_free(struct xlmig_xlhdr *h)
{
	xlmig_buf_free(&h->raw);
	memset(h, 0, sizeof(*h));
}

static int xl_header_size(struct xlmig_parser *p, const uint8_t *b, uint64_t *size)
{
	uint32_t optlen;
	int rc = xlmig_xl_header_check(b, &optlen);

	if (rc)
		return bad(p, rc, "%s", xlmig_errmsg());
	*size = XLMIG_XL_HEADER_LEN + (uint64_t)optlen;
	return XLMIG_OK;
}

static bool libxc_type_known(uint32_t type)
{
	return type <= XLMIG_REC_TYPE_MAX;
}

static bool libxl_type_known(uint32_t type)
{
	return type <= XLMIG_LIBXL_CHECKPOINT_STATE;
}

static int record_size(struct xlmig_parser *p, const uint8_t *b, uint64_t *size)
{
	uint32_t type = xlmig_get_le32(b), len = xlmig_get_le32(b + 4);
	bool libxc = p->state == ST_LIBXC_RECORD;
	bool known = libxc ? libxc_type_known(type) : libxl_type_known(type);

	if (!known && !(type & XLMIG_REC_OPTIONAL))
		return bad_rec(p, XLMIG_E_UNSUPPORTED, type,
			       "unknown mandatory record type (from a newer Xen?)");
	if (len > XLMIG_MAX_RECORD_BODY)
		return bad_rec(p, XLMIG_E_LIMIT, type, "body of %u bytes is over the limit of %u",
			       len, XLMIG_MAX_RECORD_BODY);
	*size = xlmig_record_len(len);
	return XLMIG_OK;
}

/* Size of the whole item whose fixed header is at b; 0 = size known
 * without consuming (ST_START only switches state). */
static int item_size(struct xlmig_parser *p, const uint8_t *b, uint64_t *size)
{
	switch (p->state) {
	case ST_START:
		*size = 0;
		return sniff(p, b);
	case ST_XL_HEADER:
		return xl_header_size(p, b, size);
	case ST_LIBXL_RECORD:
	case ST_LIBXC_RECORD:
		return record_size(p, b, size);
	default:
		*size = header_size(p->state);
		return XLMIG_OK;
	}
}

/* ---- step 2: bodies and layout rules ---- */

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int process_xl_header(struct xlmig_parser *p, struct xlmig_item *it)
{
	const uint8_t *opt = it->raw + XLMIG_XL_HEADER_LEN;
	uint32_t optlen = (uint32_t)(it->raw_len - XLMIG_XL_HEADER_LEN);
	int rc;

	it->kind = XLMIG_ITEM_XL_HEADER;
	it->u.xl.mandatory_flags = xlmig_get_le32(it->raw + 36);
	it->u.xl.optional_flags = xlmig_get_le32(it->raw + 40);
	it->u.xl.optdata = opt;
	it->u.xl.optdata_len = optlen;
	rc = xlmig_xl_header_config(opt, optlen, &it->u.xl.config, &it->u.xl.config_len);
	if (rc)
		return bad(p, rc, "%s", xlmig_errmsg());
	p->state = ST_LIBXL_HEADER;
	return XLMIG_OK;
}

static int process_libxl_header(struct xlmig_parser *p, struct xlmig_item *it)
{
	const uint8_t *b = it->raw;

	it->kind = XLMIG_ITEM_LIBXL_HEADER;
	it->u.libxl.version = xlmig_get_be32(b + 8);
	it->u.libxl.options = xlmig_get_be32(b + 12);
	if (xlmig_get_be64(b) != XLMIG_LIBXL_IDENT)
		return bad(p, XLMIG_E_FORMAT, "wrong ident: expected \"LibxlFmt\"");
	if (it->u.libxl.version != XLMIG_LIBXL_VERSION)
		return bad(p, XLMIG_E_UNSUPPORTED, "libxl stream version %u (only %u is known)",
			   it->u.libxl.version, XLMIG_LIBXL_VERSION);
	if (it->u.libxl.options & 1)
		return bad(p, XLMIG_E_UNSUPPORTED, "big-endian libxl stream");
	if (it->u.libxl.options & ~3u)
		return bad(p, XLMIG_E_UNSUPPORTED, "unknown libxl options %#x",
			   it->u.libxl.options & ~3u);
	p->libxl = true;
	p->state = ST_LIBXL_RECORD;
	return XLMIG_OK;
}

static int process_image_header(struct xlmig_parser *p, struct xlmig_item *it)
{
	const uint8_t *b = it->raw;

	it->kind = XLMIG_ITEM_LIBXC_IMAGE_HEADER;
	it->u.image.version = xlmig_get_be32(b + 12);
	it->u.image.options = xlmig_get_be16(b + 16);
	if (xlmig_get_be64(b) != XLMIG_LIBXC_MARKER)
		return bad(p, XLMIG_E_FORMAT, "wrong marker: not a libxc stream (or a legacy one)");
	if (xlmig_get_be32(b + 8) != XLMIG_LIBXC_ID)
		return bad(p, XLMIG_E_FORMAT, "wrong id %#x: expected \"XENF\"", xlmig_get_be32(b + 8));
	if (it->u.image.version < 2 || it->u.image.version > 3)
		return bad(p, XLMIG_E_UNSUPPORTED, "libxc stream version %u (2 and 3 are known)",
			   it->u.image.version);
	if (it->u.image.options & 1)
		return bad(p, XLMIG_E_UNSUPPORTED, "big-endian libxc stream");
	if (it->u.image.options & ~1u)
		return bad(p, XLMIG_E_UNSUPPORTED, "unknown libxc options %#x", it->u.image.options);
	if (!all_zero(b + 18, 6))
		return bad(p, XLMIG_E_FORMAT, "reserved bytes are not zero");
	p->libxc_version = it->u.image.version;
	p->state = ST_LIBXC_DHDR;
	return XLMIG_OK;
}

static int process_domain_header(struct xlmig_parser *p, struct xlmig_item *it)
{
	const uint8_t *b = it->raw;

	it->kind = XLMIG_ITEM_LIBXC_DOMAIN_HEADER;
	it->u.domain.guest_type = xlmig_get_le32(b);
	it->u.domain.page_shift = xlmig_get_le16(b + 4);
	it->u.domain.xen_major = xlmig_get_le32(b + 8);
	it->u.domain.xen_minor = xlmig_get_le32(b + 12);
	if (it->u.domain.guest_type != XLMIG_GUEST_X86_PV &&
	    it->u.domain.guest_type != XLMIG_GUEST_X86_HVM)
		return bad(p, XLMIG_E_UNSUPPORTED, "guest type %u (only x86 PV and HVM are known)",
			   it->u.domain.guest_type);
	if (it->u.domain.page_shift != XLMIG_PAGE_SHIFT)
		return bad(p, XLMIG_E_UNSUPPORTED, "page shift %u (only %u is supported)",
			   it->u.domain.page_shift, XLMIG_PAGE_SHIFT);
	if (xlmig_get_le16(b + 6))
		return bad(p, XLMIG_E_FORMAT, "reserved bytes are not zero");
	p->guest_type = it->u.domain.guest_type;
	p->state = ST_LIBXC_RECORD;
	return XLMIG_OK;
}

static int process_page_data(struct xlmig_parser *p, struct xlmig_item *it)
{
	uint32_t count, data_pages = 0;
	uint64_t expect;

	if (it->body_len < 8)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "body of %u bytes has no count",
			       it->body_len);
	count = xlmig_get_le32(it->body);
	if (count == 0)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "count is 0");
	if (count > XLMIG_MAX_PAGES_PER_RECORD)
		return bad_rec(p, XLMIG_E_LIMIT, it->type, "count %u is over the limit of %u",
			       count, XLMIG_MAX_PAGES_PER_RECORD);
	if (it->body_len < 8 + 8ull * count)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "body of %u bytes is too short for "
			       "%u pfns", it->body_len, count);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = xlmig_get_le64(it->body + 8 + 8 * i);
		unsigned type = (unsigned)(e >> XLMIG_PFN_TYPE_SHIFT);

		if (!pfn_type_known(type))
			return bad_rec(p, XLMIG_E_FORMAT, it->type, "unknown type %#x for pfn %#llx "
				       "(entry %u)", type,
				       (unsigned long long)(e & XLMIG_PFN_MASK), i);
		data_pages += xlmig_pfn_type_has_data(type) ? 1 : 0;
	}
	expect = 8 + 8ull * count + (uint64_t)XLMIG_PAGE_SIZE * data_pages;
	if (it->body_len < expect)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "page data missing: %u of %u pfns "
			       "carry data, %llu bytes expected, body has %u", data_pages, count,
			       (unsigned long long)expect, it->body_len);
	if (it->body_len != expect)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "body of %u bytes does not match %u "
			       "pfns and %u data pages (%llu bytes)", it->body_len, count,
			       data_pages, (unsigned long long)expect);
	it->u.page.count = count;
	it->u.page.pfns = it->body + 8;
	it->u.page.data_pages = data_pages;
	it->u.page.data = it->body + 8 + 8 * (size_t)count;
	return XLMIG_OK;
}

/* Body length rules for records of fixed or structured size. */
static int check_libxc_body(struct xlmig_parser *p, const struct xlmig_item *it)
{
	uint32_t n = it->body_len;
	const char *why = NULL;

	switch (it->type) {
	case XLMIG_REC_END:
	case XLMIG_REC_VERIFY:
	case XLMIG_REC_CHECKPOINT:
	case XLMIG_REC_STATIC_DATA_END:
		why = n ? "body must be empty" : NULL;
		break;
	case XLMIG_REC_X86_PV_INFO:
		if (n != 8)
			why = "body must be 8 bytes";
		else if (!((it->body[0] == 4 && it->body[1] == 3) ||
			   (it->body[0] == 8 && it->body[1] == 4)))
			why = "guest width / page-table levels must be 4/3 or 8/4";
		break;
	case XLMIG_REC_X86_PV_P2M_FRAMES:
		if (n < 8 || n % 8)
			why = "body must be 8 bytes plus whole 64-bit frames";
		else if (xlmig_get_le32(it->body) > xlmig_get_le32(it->body + 4))
			why = "start pfn is after end pfn";
		break;
	case XLMIG_REC_X86_PV_VCPU_BASIC:
	case XLMIG_REC_X86_PV_VCPU_EXTENDED:
	case XLMIG_REC_X86_PV_VCPU_XSAVE:
	case XLMIG_REC_X86_PV_VCPU_MSRS:
		why = n < 8 ? "body too short for the vcpu id" : NULL;
		break;
	case XLMIG_REC_SHARED_INFO:
		why = n != XLMIG_PAGE_SIZE ? "body must be one page" : NULL;
		break;
	case XLMIG_REC_X86_TSC_INFO:
		why = n != 24 ? "body must be 24 bytes" : NULL;
		break;
	case XLMIG_REC_HVM_CONTEXT:
		why = n == 0 ? "body is empty" : NULL;
		break;
	case XLMIG_REC_HVM_PARAMS:
		if (n < 8 || (n - 8) % 16 || (n - 8) / 16 != xlmig_get_le32(it->body))
			why = "body must be 8 bytes plus count x 16";
		break;
	case XLMIG_REC_CHECKPOINT_DIRTY_PFN_LIST:
		why = n % 8 ? "body must be whole 64-bit pfns" : NULL;
		break;
	case XLMIG_REC_X86_CPUID_POLICY:
		why = n == 0 || n % 24 ? "body must be whole 24-byte CPUID leaves" : NULL;
		break;
	case XLMIG_REC_X86_MSR_POLICY:
		why = n == 0 || n % 16 ? "body must be whole 16-byte MSR entries" : NULL;
		break;
	}
	return why ? bad_rec(p, XLMIG_E_FORMAT, it->type, "%s (body is %u bytes)", why, n) : 0;
}

enum rec_class { RC_ANY, RC_STATIC, RC_DYNAMIC };

/* Which guest type a record belongs to (0 = both) and whether it is
 * static data (before STATIC_DATA_END) or guest state (after it). */
static void libxc_rec_rules(uint32_t type, uint32_t *guest, enum rec_class *cls)
{
	*guest = 0;
	*cls = RC_ANY;
	switch (type) {
	case XLMIG_REC_X86_PV_INFO:
		*guest = XLMIG_GUEST_X86_PV;
		*cls = RC_STATIC;
		break;
	case XLMIG_REC_X86_CPUID_POLICY:
	case XLMIG_REC_X86_MSR_POLICY:
		*cls = RC_STATIC;
		break;
	case XLMIG_REC_X86_PV_P2M_FRAMES:
	case XLMIG_REC_X86_PV_VCPU_BASIC:
	case XLMIG_REC_X86_PV_VCPU_EXTENDED:
	case XLMIG_REC_X86_PV_VCPU_XSAVE:
	case XLMIG_REC_X86_PV_VCPU_MSRS:
	case XLMIG_REC_SHARED_INFO:
		*guest = XLMIG_GUEST_X86_PV;
		*cls = RC_DYNAMIC;
		break;
	case XLMIG_REC_HVM_CONTEXT:
	case XLMIG_REC_HVM_PARAMS:
		*guest = XLMIG_GUEST_X86_HVM;
		*cls = RC_DYNAMIC;
		break;
	case XLMIG_REC_PAGE_DATA:
	case XLMIG_REC_X86_TSC_INFO:
		*cls = RC_DYNAMIC;
		break;
	}
}

/* The layout rules of the spec: records of the other guest type are
 * refused; v3 needs STATIC_DATA_END before guest state, v2 infers it; a
 * PV guest's PV_INFO, P2M_FRAMES and pages come in that order. */
static int check_libxc_layout(struct xlmig_parser *p, uint32_t type)
{
	uint32_t guest;
	enum rec_class cls;

	libxc_rec_rules(type, &guest, &cls);
	if (guest && guest != p->guest_type)
		return bad_rec(p, XLMIG_E_FORMAT, type, "record is not valid for a%s guest",
			       p->guest_type == XLMIG_GUEST_X86_PV ? " PV" : "n HVM");
	if (type == XLMIG_REC_STATIC_DATA_END && p->static_end)
		return bad_rec(p, XLMIG_E_FORMAT, type, "second STATIC_DATA_END%s",
			       p->libxc_version < 3 ? " (already implied by guest state)" : "");
	if (cls == RC_STATIC && p->static_end)
		return bad_rec(p, XLMIG_E_FORMAT, type, "static data after STATIC_DATA_END");
	if (cls == RC_DYNAMIC && !p->static_end) {
		if (p->libxc_version >= 3)
			return bad_rec(p, XLMIG_E_FORMAT, type, "guest state before STATIC_DATA_END "
				       "(required in a v3 stream)");
		p->static_end = true;
	}
	if (type == XLMIG_REC_X86_PV_INFO && p->pv_info)
		return bad_rec(p, XLMIG_E_FORMAT, type, "second X86_PV_INFO");
	if (type == XLMIG_REC_X86_PV_P2M_FRAMES && !p->pv_info)
		return bad_rec(p, XLMIG_E_FORMAT, type, "X86_PV_P2M_FRAMES before X86_PV_INFO");
	if (p->guest_type == XLMIG_GUEST_X86_PV && !p->p2m_frames && guest == XLMIG_GUEST_X86_PV &&
	    cls == RC_DYNAMIC && type != XLMIG_REC_X86_PV_P2M_FRAMES)
		return bad_rec(p, XLMIG_E_FORMAT, type, "PV guest state before X86_PV_P2M_FRAMES");
	if (p->guest_type == XLMIG_GUEST_X86_PV && !p->p2m_frames && type == XLMIG_REC_PAGE_DATA)
		return bad_rec(p, XLMIG_E_FORMAT, type, "PV page data before X86_PV_P2M_FRAMES");
	return XLMIG_OK;
}

static int process_libxc_record(struct xlmig_parser *p, struct xlmig_item *it)
{
	int rc;

	it->kind = XLMIG_ITEM_LIBXC_RECORD;
	if (it->type & XLMIG_REC_OPTIONAL)
		return XLMIG_OK; /* opaque by definition: yielded, not interpreted */
	rc = check_libxc_body(p, it);
	if (!rc)
		rc = check_libxc_layout(p, it->type);
	if (!rc && it->type == XLMIG_REC_PAGE_DATA)
		rc = process_page_data(p, it);
	if (rc)
		return rc;
	switch (it->type) {
	case XLMIG_REC_X86_PV_INFO:
		p->pv_info = true;
		break;
	case XLMIG_REC_X86_PV_P2M_FRAMES:
		p->p2m_frames = true;
		break;
	case XLMIG_REC_STATIC_DATA_END:
		p->static_end = true;
		break;
	case XLMIG_REC_CHECKPOINT:
		/* Inside libxl, libxl records follow up to CHECKPOINT_END. */
		if (p->libxl) {
			p->libxl_checkpoint = true;
			p->state = ST_LIBXL_RECORD;
		}
		break;
	case XLMIG_REC_END:
		p->state = p->libxl ? ST_LIBXL_RECORD : ST_DONE;
		break;
	}
	return XLMIG_OK;
}

static int check_libxl_record(struct xlmig_parser *p, const struct xlmig_item *it)
{
	uint32_t n = it->body_len;

	switch (it->type) {
	case XLMIG_LIBXL_END:
	case XLMIG_LIBXL_LIBXC_CONTEXT:
	case XLMIG_LIBXL_CHECKPOINT_END:
		if (n)
			return bad_rec(p, XLMIG_E_FORMAT, it->type, "body must be empty (is %u bytes)", n);
		break;
	case XLMIG_LIBXL_EMULATOR_XENSTORE_DATA:
	case XLMIG_LIBXL_EMULATOR_CONTEXT:
		if (n < 8)
			return bad_rec(p, XLMIG_E_FORMAT, it->type, "body of %u bytes is too short "
				       "for the emulator header", n);
		if (p->guest_type != XLMIG_GUEST_X86_HVM)
			return bad_rec(p, XLMIG_E_FORMAT, it->type, "emulator record without an "
				       "HVM libxc stream before it");
		break;
	case XLMIG_LIBXL_CHECKPOINT_STATE:
		if (n != 4)
			return bad_rec(p, XLMIG_E_FORMAT, it->type, "body must be 4 bytes (is %u)", n);
		break;
	}
	if (p->libxl_checkpoint && (it->type == XLMIG_LIBXL_END ||
				    it->type == XLMIG_LIBXL_LIBXC_CONTEXT))
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "inside a checkpoint (CHECKPOINT_END "
			       "expected first)");
	if (it->type == XLMIG_LIBXL_LIBXC_CONTEXT && p->libxc_seen)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "second libxc stream");
	if (it->type == XLMIG_LIBXL_END && !p->libxc_seen)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "stream ends without a libxc stream");
	if (it->type == XLMIG_LIBXL_CHECKPOINT_END && !p->libxl_checkpoint)
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "CHECKPOINT_END without a libxc CHECKPOINT");
	return XLMIG_OK;
}

static int process_libxl_record(struct xlmig_parser *p, struct xlmig_item *it)
{
	int rc;

	it->kind = XLMIG_ITEM_LIBXL_RECORD;
	if (it->type & XLMIG_REC_OPTIONAL)
		return XLMIG_OK;
	rc = check_libxl_record(p, it);
	if (rc)
		return rc;
	switch (it->type) {
	case XLMIG_LIBXL_LIBXC_CONTEXT:
		p->libxc_seen = true;
		p->state = ST_LIBXC_IHDR;
		break;
	case XLMIG_LIBXL_CHECKPOINT_END:
		p->libxl_checkpoint = false;
		p->state = ST_LIBXC_RECORD;
		break;
	case XLMIG_LIBXL_END:
		p->state = ST_DONE;
		break;
	}
	return XLMIG_OK;
}

static int split_record(struct xlmig_parser *p, struct xlmig_item *it)
{
	uint64_t padded = it->raw_len - XLMIG_RECORD_HDR_LEN;

	it->type = xlmig_get_le32(it->raw);
	it->body_len = xlmig_get_le32(it->raw + 4);
	it->body = it->raw + XLMIG_RECORD_HDR_LEN;
	if (!all_zero(it->body + it->body_len, padded - it->body_len))
		return bad_rec(p, XLMIG_E_FORMAT, it->type, "padding is not zero");
	return XLMIG_OK;
}

/* One whole item at b[0..len): check, decode, call back. */
static int process(struct xlmig_parser *p, const uint8_t *b, size_t len)
{
	struct xlmig_item it = { .offset = p->offset, .raw = b, .raw_len = len };
	int rc;

	switch (p->state) {
	case ST_XL_HEADER:    rc = process_xl_header(p, &it); break;
	case ST_LIBXL_HEADER: rc = process_libxl_header(p, &it); break;
	case ST_LIBXC_IHDR:   rc = process_image_header(p, &it); break;
	case ST_LIBXC_DHDR:   rc = process_domain_header(p, &it); break;
	case ST_LIBXL_RECORD:
		rc = split_record(p, &it);
		if (!rc)
			rc = process_libxl_record(p, &it);
		break;
	case ST_LIBXC_RECORD:
		rc = split_record(p, &it);
		if (!rc)
			rc = process_libxc_record(p, &it);
		break;
	default:
		rc = bad(p, XLMIG_E_INVAL, "internal: no item expected");
	}
	if (rc)
		return rc;
	p->offset += len;
	rc = p->fn(p->opaque, &it);
	if (rc)
		p->err = rc;
	return rc;
}

/* ---- feeding ---- */

struct xlmig_parser *xlmig_parser_new(xlmig_item_fn fn, void *opaque)
{
	struct xlmig_parser *p = calloc(1, sizeof(*p));

	if (!p) {
		xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a stream parser");
		return NULL;
	}
	p->fn = fn;
	p->opaque = opaque;
	return p;
}

void xlmig_parser_free(struct xlmig_parser *p)
{
	if (!p)
		return;
	xlmig_buf_free(&p->pend);
	free(p);
}

/* Move up to want - pend.len bytes of input into pend. */
static int gather(struct xlmig_parser *p, const uint8_t **data, size_t *len, uint64_t want)
{
	size_t n = (size_t)XLMIG_MIN((uint64_t)*len, want - p->pend.len);

	if (n && xlmig_buf_append(&p->pend, *data, n))
		return p->err = xlmig_fail(XLMIG_E_NOMEM, "out of memory buffering a %llu-byte "
					   "item", (unsigned long long)want);
	*data += n;
	*len -= n;
	return XLMIG_OK;
}

/* Input arrives while an item is partly buffered: complete it first. */
static int feed_pending(struct xlmig_parser *p, const uint8_t **data, size_t *len)
{
	size_t hdr = header_size(p->state);
	int rc;

	if (p->pend.len < hdr) {
		rc = gather(p, data, len, hdr);
		if (rc || p->pend.len < hdr)
			return rc;
	}
	if (!p->pend_need) {
		rc = item_size(p, p->pend.data, &p->pend_need);
		if (rc || !p->pend_need)
			return rc; /* error, or ST_START switched state */
	}
	rc = gather(p, data, len, p->pend_need);
	if (rc || p->pend.len < p->pend_need)
		return rc;
	rc = process(p, p->pend.data, p->pend.len);
	xlmig_buf_reset(&p->pend);
	p->pend_need = 0;
	return rc;
}

void xlmig_parser_accept_xl_messages(struct xlmig_parser *p)
{
	p->xl_messages = true;
}

/* After the final END: xl's messages, a byte at a time into pend (they
 * are a few dozen bytes, and a byte that starts none of them ends it). */
static int feed_xl_messages(struct xlmig_parser *p, const uint8_t **data, size_t *len)
{
	struct xlmig_item it = { .kind = XLMIG_ITEM_XL_MESSAGE };
	enum xlmig_xlproto_msg msg;
	size_t used;
	int status, rc;

	if (!p->xl_messages)
		return bad(p, XLMIG_E_FORMAT, "%zu bytes of data after the final END", *len);
	while (*len) {
		rc = gather(p, data, len, p->pend.len + 1);
		if (rc)
			return rc;
		if (xlmig_xlproto_recognise(p->pend.data, p->pend.len, &msg, &status, &used))
			return bad(p, XLMIG_E_FORMAT, "data after the final END that is not one of "
				   "xl's migration messages");
		if (!used)
			continue;
		it.offset = p->offset;
		it.raw = p->pend.data;
		it.raw_len = used;
		it.u.xlmsg.msg = msg;
		it.u.xlmsg.name = xlmig_xlproto_msg_name(msg);
		it.u.xlmsg.status = status;
		p->offset += used;
		rc = p->fn(p->opaque, &it);
		xlmig_buf_reset(&p->pend);
		if (rc)
			return p->err = rc;
	}
	return XLMIG_OK;
}

int xlmig_parser_feed(struct xlmig_parser *p, const void *buf, size_t len)
{
	const uint8_t *data = buf;
	int rc = XLMIG_OK;

	if (p->err)
		return p->err;
	while (len && !rc) {
		size_t hdr = header_size(p->state);
		uint64_t size;

		if (p->state == ST_DONE) {
			rc = feed_xl_messages(p, &data, &len);
			continue;
		}
		if (p->pend.len || len < hdr) {
			rc = feed_pending(p, &data, &len);
			continue;
		}
		/* Fast path: the item's header is in the chunk. */
		rc = item_size(p, data, &size);
		if (rc || !size)
			continue;
		if (size > len) {
			p->pend_need = size;
			rc = gather(p, &data, &len, size);
			continue;
		}
		rc = process(p, data, (size_t)size);
		data += size;
		len -= (size_t)size;
	}
	return rc;
}

int xlmig_parser_finish(struct xlmig_parser *p)
{
	if (p->err)
		return p->err;
	if (p->state == ST_DONE && p->pend.len)
		return bad(p, XLMIG_E_TRUNCATED, "capture ends inside one of xl's messages (%zu "
			   "bytes of it)", p->pend.len);
	if (p->state == ST_DONE)
		return XLMIG_OK;
	if (p->pend.len)
		return bad(p, XLMIG_E_TRUNCATED, "stream ends inside the item (%zu of %llu bytes)",
			   p->pend.len, (unsigned long long)(p->pend_need ? p->pend_need
							      : header_size(p->state)));
	return bad(p, XLMIG_E_TRUNCATED, "stream ends where this item should start%s",
		   p->state == ST_LIBXC_RECORD || p->state == ST_LIBXL_RECORD ?
		   " (no END record)" : "");
}

bool xlmig_parser_done(const struct xlmig_parser *p)
{
	return p->state == ST_DONE;
}

uint64_t xlmig_parser_offset(const struct xlmig_parser *p)
{
	return p->offset + p->pend.len;
}
