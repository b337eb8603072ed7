/*
 * stream.h - Xen's save/migration stream, read and written exactly.
 *
 * A stream as `xl save` / `xl migrate` produce it is three nested layers:
 *
 *   xl save header ("Xen saved domain, xl format\n \0 \r", byte order,
 *   flags, optional data = the JSON domain config)            [optional]
 *   libxl stream v2: header "LibxlFmt", then records; the LIBXC_CONTEXT
 *   record (empty body) is followed by a whole libxc stream:
 *     libxc image header (v2 or v3), domain header, records
 *     (PAGE_DATA, X86_PV_*, HVM_CONTEXT, ..., END)
 *   then more libxl records, ending with libxl END.
 *
 * The parser is incremental: feed it bytes in chunks of any size and it
 * calls back once per complete item (header or record) with the item's
 * exact bytes and its decoded fields.  The pointers in an item are valid
 * only during the callback: they point into the caller's chunk when the
 * item lies whole inside it (no copy), else into the parser's buffer for
 * the one item that straddles chunks (so memory stays bounded by the
 * largest record, XLMIG_MAX_RECORD_BODY).  Every field is checked before use;
 * no allocation is sized by an unchecked field.  The writer emits the same
 * items, so that parsing a valid stream and writing each item back gives
 * the identical bytes.  The generator (stream_gen.c) writes valid streams
 * for tests and benches.
 *
 * References: docs/specs/libxc-migration-stream.pandoc and
 * libxl-migration-stream.pandoc in the Xen source; tools/xl/xl_saverestore.c.
 */
#ifndef XLMIG_STREAM_H
#define XLMIG_STREAM_H

#include "common.h"

/* ---- constants of the formats ---- */

#define XLMIG_XL_MAGIC       "Xen saved domain, xl format\n \0 \r"
#define XLMIG_XL_MAGIC_LEN   32
#define XLMIG_XL_BYTEORDER   0x01020304u
#define XLMIG_XL_FLAG_JSON      (1u << 0) /* mandatory flag: config is JSON */
#define XLMIG_XL_FLAG_STREAMV2  (1u << 1) /* mandatory flag: libxl stream v2 */

#define XLMIG_LIBXL_IDENT    0x4c6962786c466d74ull /* "LibxlFmt" */
#define XLMIG_LIBXL_VERSION  2
#define XLMIG_LIBXC_MARKER   0xffffffffffffffffull
#define XLMIG_LIBXC_ID       0x58454e46u /* "XENF" */

/* libxl record types */
enum {
	XLMIG_LIBXL_END = 0,
	XLMIG_LIBXL_LIBXC_CONTEXT = 1,
	XLMIG_LIBXL_EMULATOR_XENSTORE_DATA = 2,
	XLMIG_LIBXL_EMULATOR_CONTEXT = 3,
	XLMIG_LIBXL_CHECKPOINT_END = 4,
	XLMIG_LIBXL_CHECKPOINT_STATE = 5,
};

/* libxc record types (bit 31 set = optional: a reader may skip it) */
enum {
	XLMIG_REC_END = 0x00,
	XLMIG_REC_PAGE_DATA = 0x01,
	XLMIG_REC_X86_PV_INFO = 0x02,
	XLMIG_REC_X86_PV_P2M_FRAMES = 0x03,
	XLMIG_REC_X86_PV_VCPU_BASIC = 0x04,
	XLMIG_REC_X86_PV_VCPU_EXTENDED = 0x05,
	XLMIG_REC_X86_PV_VCPU_XSAVE = 0x06,
	XLMIG_REC_SHARED_INFO = 0x07,
	XLMIG_REC_X86_TSC_INFO = 0x08,
	XLMIG_REC_HVM_CONTEXT = 0x09,
	XLMIG_REC_HVM_PARAMS = 0x0a,
	XLMIG_REC_TOOLSTACK = 0x0b,
	XLMIG_REC_X86_PV_VCPU_MSRS = 0x0c,
	XLMIG_REC_VERIFY = 0x0d,
	XLMIG_REC_CHECKPOINT = 0x0e,
	XLMIG_REC_CHECKPOINT_DIRTY_PFN_LIST = 0x0f,
	XLMIG_REC_STATIC_DATA_END = 0x10,
	XLMIG_REC_X86_CPUID_POLICY = 0x11,
	XLMIG_REC_X86_MSR_POLICY = 0x12,
	XLMIG_REC_TYPE_MAX = 0x12,
};
#define XLMIG_REC_OPTIONAL 0x80000000u

/* libxc domain header guest types */
enum { XLMIG_GUEST_X86_PV = 1, XLMIG_GUEST_X86_HVM = 2 };

/* PAGE_DATA pfn entries: pfn in bits 0-51, type in bits 60-63
 * (XEN_DOMCTL_PFINFO_* shifted down by 28). */
#define XLMIG_PFN_MASK        0x000fffffffffffffull
#define XLMIG_PFN_TYPE_SHIFT  60
enum {
	XLMIG_PFINFO_NOTAB = 0x0,
	XLMIG_PFINFO_L1TAB = 0x1,
	XLMIG_PFINFO_L2TAB = 0x2,
	XLMIG_PFINFO_L3TAB = 0x3,
	XLMIG_PFINFO_L4TAB = 0x4,
	XLMIG_PFINFO_LPINTAB = 0x8, /* bit ORed with the level */
	XLMIG_PFINFO_XTAB = 0xf,    /* invalid page: no data */
	XLMIG_PFINFO_XALLOC = 0xe,  /* allocate only: no data */
	XLMIG_PFINFO_BROKEN = 0xd,  /* broken page: no data */
};
/* Nonzero if a page of this type carries 4096 bytes of data. */
int xlmig_pfn_type_has_data(unsigned type);

/* Limits the parser enforces (the same as libxc's or tighter). */
#define XLMIG_MAX_PAGES_PER_RECORD 1024u              /* MAX_BATCH_SIZE */
#define XLMIG_MAX_RECORD_BODY      (1024u * 4096 + 1024 * 8 + 8) /* largest PAGE_DATA */
#define XLMIG_MAX_XL_OPTDATA       (16u << 20)        /* xl config and friends */

/* Sizes of the fixed parts. */
#define XLMIG_XL_HEADER_LEN        48u /* magic + 4 x u32, before optdata */
#define XLMIG_LIBXL_HEADER_LEN     16u
#define XLMIG_LIBXC_IHDR_LEN       24u
#define XLMIG_LIBXC_DHDR_LEN       16u
#define XLMIG_RECORD_HDR_LEN       8u  /* type, body_length (both layers) */
/* Header, body and padding of a record with this body length. */
static inline uint64_t xlmig_record_len(uint32_t body_len)
{ return XLMIG_RECORD_HDR_LEN + (((uint64_t)body_len + 7) & ~7ull); }

/* ---- parsed items ---- */

enum xlmig_item_kind {
	XLMIG_ITEM_XL_HEADER = 1,   /* header + optional data (config) */
	XLMIG_ITEM_LIBXL_HEADER,
	XLMIG_ITEM_LIBXL_RECORD,
	XLMIG_ITEM_LIBXC_IMAGE_HEADER,
	XLMIG_ITEM_LIBXC_DOMAIN_HEADER,
	XLMIG_ITEM_LIBXC_RECORD,
	XLMIG_ITEM_XL_MESSAGE,      /* after the final END, and only with
				     * xlmig_parser_accept_xl_messages():
				     * one of xl's protocol messages */
};

struct xlmig_item {
	enum xlmig_item_kind kind;
	uint64_t offset;           /* stream offset of the first byte */
	const uint8_t *raw;        /* the item's exact bytes ... */
	size_t raw_len;            /* ... header, body and padding */

	/* LIBXL_RECORD / LIBXC_RECORD */
	uint32_t type;
	const uint8_t *body;
	uint32_t body_len;         /* without padding */

	union {
		struct {           /* XL_HEADER */
			uint32_t mandatory_flags, optional_flags;
			const uint8_t *optdata; /* all optional data, as stored */
			uint32_t optdata_len;
			/* The config inside the optional data: JSON when
			 * mandatory_flags has XLMIG_XL_FLAG_JSON.  xl counts
			 * its terminating NUL in config_len.  NULL / 0 when
			 * the header has no optional data. */
			const uint8_t *config;
			uint32_t config_len;
		} xl;
		struct {           /* LIBXL_HEADER */
			uint32_t version, options;
		} libxl;
		struct {           /* LIBXC_IMAGE_HEADER */
			uint32_t version;
			uint16_t options;
		} image;
		struct {           /* LIBXC_DOMAIN_HEADER */
			uint32_t guest_type;
			uint16_t page_shift;
			uint32_t xen_major, xen_minor;
		} domain;
		struct {           /* XL_MESSAGE (xlproto.h) */
			unsigned msg;            /* enum xlmig_xlproto_msg */
			const char *name;        /* xlmig_xlproto_msg_name() */
			int status;              /* REPORT's status byte, else -1 */
		} xlmsg;
		struct {           /* LIBXC_RECORD of type PAGE_DATA */
			uint32_t count;          /* entries in the pfn array */
			const uint8_t *pfns;     /* count x le64 (type | pfn) */
			uint32_t data_pages;     /* entries that carry data */
			const uint8_t *data;     /* data_pages x 4096 bytes */
		} page;
	} u;
};

/* Called once per item; a nonzero return stops the parser and is returned
 * from xlmig_parser_feed(). */
typedef int (*xlmig_item_fn)(void *opaque, const struct xlmig_item *item);

struct xlmig_parser;

/* Create a parser.  The stream may start with the xl header, the libxl
 * header, or (a bare libxc stream, as xc_domain_save writes) the libxc
 * image header. */
struct xlmig_parser *xlmig_parser_new(xlmig_item_fn fn, void *opaque);
void xlmig_parser_free(struct xlmig_parser *p);
/* After the final END, read what follows as xl's own protocol messages
 * (xlproto.h), each an XLMIG_ITEM_XL_MESSAGE, instead of refusing any
 * byte there: a capture of what `xl migrate` wrote holds the stream and
 * then xl's GO.  Anything else after the END is still refused, and the
 * messages are never part of the stream (xlmig_write_item refuses them). */
void xlmig_parser_accept_xl_messages(struct xlmig_parser *p);
/* Feed the next len bytes.  Returns 0 or the first error (the thread's
 * message names the byte offset and the record).  After an error the
 * parser refuses further input. */
int xlmig_parser_feed(struct xlmig_parser *p, const void *data, size_t len);
/* At end of input: XLMIG_E_TRUNCATED unless the stream ended cleanly
 * (libxl END, or libxc END for a bare libxc stream). */
int xlmig_parser_finish(struct xlmig_parser *p);
/* True once the final END has been parsed. */
bool xlmig_parser_done(const struct xlmig_parser *p);
/* Bytes consumed so far. */
uint64_t xlmig_parser_offset(const struct xlmig_parser *p);

/* Names for messages and inspect ("PAGE_DATA", "LIBXC_CONTEXT", ...). */
const char *xlmig_libxc_rec_name(uint32_t type);
const char *xlmig_libxl_rec_name(uint32_t type);

/* ---- writer ---- */

/* Each writes one item to the sink.  Padding is zeroes. */
/* The xl header with optional data laid out as xl does: le32 config_len,
 * then the config (pass the length including a terminating NUL, as xl). */
int xlmig_write_xl_header(const struct xlmig_sink *s, uint32_t mandatory_flags,
			  uint32_t optional_flags, const void *config, uint32_t config_len);
/* The xl header with the optional data given whole (what write_item uses,
 * so that any valid header, including one without a config, round trips). */
int xlmig_write_xl_header_optdata(const struct xlmig_sink *s, uint32_t mandatory_flags,
				  uint32_t optional_flags, const void *optdata,
				  uint32_t optdata_len);
int xlmig_write_libxl_header(const struct xlmig_sink *s, uint32_t options);

/* ---- xl's save header on its own (a receiver reads it before libxl's
 * stream; the parser above applies the same rules) ---- */

/* Check a header's fixed part: magic, byte order, mandatory flags (a
 * legacy stream without STREAMV2 is refused), the optional data's length,
 * which *optlen gets.  The one place these rules live. */
int xlmig_xl_header_check(const uint8_t b[XLMIG_XL_HEADER_LEN], uint32_t *optlen);
/* The config inside optional data, as xl lays it out (le32 length, then
 * the config; more may follow); NULL / 0 when there is no optional data. */
int xlmig_xl_header_config(const uint8_t *opt, uint32_t optlen, const uint8_t **config,
			   uint32_t *config_len);

struct xlmig_xlhdr {
	uint32_t mandatory_flags;
	uint32_t optional_flags;
	const uint8_t *config;   /* into raw; not NUL-terminated */
	uint32_t config_len;     /* as sent (xl counts the trailing NUL) */
	struct xlmig_buf raw;    /* the header and optional data, as read */
};

/* Read exactly the header and its optional data from fd (never more:
 * the libxl stream follows), every length checked before use.  Free with
 * xlmig_xlhdr_free. */
int xlmig_xlhdr_read(int fd, struct xlmig_xlhdr *h);
/* The same over bytes already in memory (len must cover it exactly or
 * more; *used tells how much was the header). */
int xlmig_xlhdr_parse(const uint8_t *data, size_t len, struct xlmig_xlhdr *h, size_t *used);
void xlmig_xlhdr_free(struct xlmig_xlhdr *h);
int xlmig_write_libxl_record(const struct xlmig_sink *s, uint32_t type,
			     const void *body, uint32_t len);
int xlmig_write_libxc_image_header(const struct xlmig_sink *s, uint32_t version,
				   uint16_t options);
int xlmig_write_libxc_domain_header(const struct xlmig_sink *s, uint32_t guest_type,
				    uint16_t page_shift, uint32_t xen_major,
				    uint32_t xen_minor);
int xlmig_write_libxc_record(const struct xlmig_sink *s, uint32_t type,
			     const void *body, uint32_t len);
/* PAGE_DATA: pfns[i] = type << 60 | pfn; data holds one page for each
 * entry whose type carries data, in order. */
int xlmig_write_page_data(const struct xlmig_sink *s, uint32_t count,
			  const uint64_t *pfns, const void *data);
/* Write a parsed item back out (re-encoded from its fields, not copied
 * from raw: this is what the round-trip tests check). */
int xlmig_write_item(const struct xlmig_sink *s, const struct xlmig_item *item);

#endif
