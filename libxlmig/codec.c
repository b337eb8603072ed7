/*
 * codec.c - the page codec (see codec.h): frame layout, encoder, decoder.
 *
 * Frame, version 1, little endian:
 *     0  u16 magic "XC"         8  u32 seq (frames this stream coded before)
 *     2  u8  version (1)       12  u32 delta_len (bytes of delta payloads)
 *     3  u8  flags             16  u32 data_len  (bytes of the DATA section)
 *     4  u16 n (pages)
 *     6  u16 reserved (0)
 *    20  kinds: 2 bits per page, page i in byte i/4 at bit 2*(i%4)
 *        u16 length of each DELTA page's payload, in page order
 *        the DELTA payloads, in page order
 *        the DATA section: the DATA pages in page order, one zstd frame
 *        (flags bit 0) or raw
 *
 * The sequence number catches a lost or reordered frame before it can
 * desynchronise the two delta caches.
 */
#include "codec.h"
#include "pagecache.h"
#include "pfnset.h"
#include "xorrle.h"

#include <stdlib.h>
#include <zstd.h>

#define FRAME_MAGIC      0x4358u   /* "XC" */
#define FRAME_VERSION    1u
#define FRAME_HDR        20u
#define FLAG_DATA_ZSTD   0x01u

/* A delta bigger than half a page is assumed to do no better than the
 * page itself in the batch's zstd frame. */
#define DELTA_MAX        (XLMIG_PAGE_SIZE / 2)
/* Run lists this short are kept without trying zstd on the XOR. */
#define RLE_GOOD         256

enum page_kind {
	KIND_ZERO = 0,
	KIND_DATA = 1,
	KIND_DELTA_RLE = 2,
	KIND_DELTA_ZSTD = 3,
};

enum codec_role { ROLE_NONE, ROLE_ENCODER, ROLE_DECODER };

struct xlmig_codec {
	struct xlmig_codec_opts opts;
	bool raw;                        /* level 0 now: no zstd this frame */
	enum codec_role role;
	uint32_t seq;                    /* frames coded so far */
	struct xlmig_pagecache *cache;   /* NULL: no delta coding */
	struct xlmig_pfnset *sent;       /* cache_resent: pfns sent once */
	uint32_t nnoted;                 /* decoder: pfns noted this frame */
	uint64_t noted[XLMIG_CODEC_MAX_BATCH];   /* for undoing a failed one */
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	struct xlmig_buf delta;  /* encoder: payloads; decoder: zstd XORs */
	struct xlmig_codec_pending *pending;   /* xlmig_codec_encode's */
	struct xlmig_codec_unpacked *unpacked; /* xlmig_codec_decode's */
	uint8_t kind[XLMIG_CODEC_MAX_BATCH];
	uint16_t dlen[XLMIG_CODEC_MAX_BATCH];  /* payload length per page */
	int64_t slot[XLMIG_CODEC_MAX_BATCH];   /* decoder: cache slot or -1 */
	uint8_t xor_page[XLMIG_PAGE_SIZE];
	uint8_t zdelta[DELTA_MAX];
};

/* What a frame holds, once its layout has been checked. */
struct frame {
	uint8_t flags;
	uint32_t ndelta, ndata;
	uint32_t delta_len, data_len;
	const uint8_t *lens, *deltas, *data;
};

/* The most a frame of n pages holds before its payloads: the header, the
 * kinds and a length for each page (every page a delta, at worst). */
static size_t frame_lead(uint32_t n)
{
	return FRAME_HDR + (n + 3) / 4 + 2 * (size_t)n;
}

struct xlmig_codec *xlmig_codec_new(const struct xlmig_codec_opts *opts)
{
	struct xlmig_codec *c = calloc(1, sizeof(*c));

	if (!c) {
		xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a page codec");
		return NULL;
	}
	c->opts = *opts;
	if (!c->opts.zstd_level)
		c->opts.zstd_level = XLMIG_CODEC_DEFAULT_LEVEL;
	if (c->opts.zstd_level < 1 || c->opts.zstd_level > 19) {
		xlmig_fail(XLMIG_E_INVAL, "zstd level %d: use 1 (fastest) to "
			   "19 (smallest)", opts->zstd_level);
		goto fail;
	}
	if (c->opts.cache_bytes &&
	    xlmig_pagecache_new(c->opts.cache_bytes, &c->cache) != XLMIG_OK)
		goto fail;
	if (c->cache && c->opts.cache_resent && xlmig_pfnset_new(&c->sent) != XLMIG_OK)
		goto fail;
	return c;
fail:
	xlmig_codec_free(c);
	return NULL;
}

void xlmig_codec_free(struct xlmig_codec *c)
{
	if (!c)
		return;
	xlmig_pagecache_free(c->cache);
	xlmig_pfnset_free(c->sent);
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	xlmig_codec_pending_free(c->pending);
	xlmig_codec_unpacked_free(c->unpacked);
	xlmig_buf_free(&c->delta);
	free(c);
}

int xlmig_codec_reset(struct xlmig_codec *c)
{
	struct xlmig_pagecache *fresh = NULL;
	struct xlmig_pfnset *sent = NULL;

	if ((c->opts.cache_bytes && xlmig_pagecache_new(c->opts.cache_bytes, &fresh) != XLMIG_OK) ||
	    (c->sent && xlmig_pfnset_new(&sent) != XLMIG_OK)) {
		xlmig_pagecache_free(fresh);
		return xlmig_fail_prefix(XLMIG_E_NOMEM, "resetting a page codec");
	}
	xlmig_pagecache_free(c->cache);
	c->cache = fresh;
	xlmig_pfnset_free(c->sent);
	c->sent = sent;
	c->role = ROLE_NONE;
	c->seq = 0;
	return XLMIG_OK;
}

int xlmig_codec_set_level(struct xlmig_codec *c, int level)
{
	if (level < 0 || level > 19)
		return xlmig_fail(XLMIG_E_INVAL, "zstd level %d: use 0 (raw), 1 (fastest) to "
				  "19 (smallest)", level);
	c->raw = level == 0;
	if (level)
		c->opts.zstd_level = level;
	return XLMIG_OK;
}

/* A codec is an encoder or a decoder for good: the first call decides,
 * since one delta cache cannot follow two streams. */
static int take_role(struct xlmig_codec *c, enum codec_role role, uint32_t n)
{
	if (n == 0 || n > XLMIG_CODEC_MAX_BATCH)
		return xlmig_fail(XLMIG_E_INVAL, "page batch of %u pages: a "
				  "frame holds 1 to %u", n,
				  XLMIG_CODEC_MAX_BATCH);
	if (c->role != ROLE_NONE && c->role != role)
		return xlmig_fail(XLMIG_E_INVAL, "page codec used to %s after "
				  "it %s: use one codec per direction",
				  role == ROLE_ENCODER ? "encode" : "decode",
				  role == ROLE_ENCODER ? "decoded" : "encoded");
	if (role == ROLE_ENCODER && !c->cctx)
		c->cctx = ZSTD_createCCtx();
	if (role == ROLE_DECODER && !c->dctx)
		c->dctx = ZSTD_createDCtx();
	if (role == ROLE_ENCODER ? !c->cctx : !c->dctx)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a "
				  "zstd context");
	c->role = role;
	return XLMIG_OK;
}

static void set_kind(uint8_t *kinds, uint32_t i, enum page_kind k)
{
	kinds[i / 4] |= (uint8_t)(k << (2 * (i % 4)));
}

static enum page_kind get_kind(const uint8_t *kinds, uint32_t i)
{
	return (enum page_kind)(kinds[i / 4] >> (2 * (i % 4)) & 3);
}

static void add_stats(struct xlmig_codec_stats *stats, uint32_t n,
		      const struct frame *f, size_t frame_len, uint64_t cpu_ns)
{
	if (!stats)
		return;
	stats->batches++;
	stats->pages_delta += f->ndelta;
	stats->pages_zero += n - f->ndelta - f->ndata;
	if (f->flags & FLAG_DATA_ZSTD)
		stats->pages_zstd += f->ndata;
	else
		stats->pages_raw += f->ndata;
	stats->bytes_in += (uint64_t)n * XLMIG_PAGE_SIZE;
	stats->data_in += (uint64_t)f->ndata * XLMIG_PAGE_SIZE;
	stats->data_out += f->data_len;
	stats->bytes_out += frame_len;
	stats->cpu_ns += cpu_ns;
}

void xlmig_codec_stats_add(struct xlmig_codec_stats *to, const struct xlmig_codec_stats *from)
{
	to->batches += from->batches;
	to->pages_zero += from->pages_zero;
	to->pages_delta += from->pages_delta;
	to->pages_zstd += from->pages_zstd;
	to->pages_raw += from->pages_raw;
	to->bytes_in += from->bytes_in;
	to->bytes_out += from->bytes_out;
	to->cpu_ns += from->cpu_ns;
	to->data_in += from->data_in;
	to->data_out += from->data_out;
}

/* ---- encoder ---- */

/* Code page against base into dst (DELTA_MAX bytes): the payload length
 * and its kind, or -1 when the page is better sent as DATA. */
static int code_delta(struct xlmig_codec *c, const uint8_t *page,
		      const uint8_t *base, uint8_t *dst, enum page_kind *kind)
{
	int len;
	size_t z;

	xlmig_xorrle_xor(c->xor_page, page, base);
	len = xlmig_xorrle_encode(c->xor_page, dst, DELTA_MAX);
	*kind = KIND_DELTA_RLE;
	if ((len >= 0 && len <= RLE_GOOD) || c->opts.no_zstd || c->raw)
		return len;
	z = ZSTD_compressCCtx(c->cctx, c->zdelta,
			      len < 0 ? DELTA_MAX : (size_t)len - 1,
			      c->xor_page, XLMIG_PAGE_SIZE, c->opts.zstd_level);
	if (ZSTD_isError(z))
		return len;   /* no smaller than the run list (or DELTA_MAX) */
	memcpy(dst, c->zdelta, z);
	*kind = KIND_DELTA_ZSTD;
	return (int)z;
}

/* With cache_resent, is this the first time pfn's content is sent?  Then
 * it is noted, and neither cached nor coded as a delta: most pages of a
 * first pass are never sent again, and caching them only copies them and
 * evicts the ones that will be.  Both ends note the same pfns in the same
 * order.  A pfn the set cannot note (past its bounds, or out of memory)
 * counts as sent before, so it is cached as without cache_resent; should
 * only one end run out of memory, its first delta against that page
 * fails the decode, it cannot go wrong silently. */
static bool first_sight(struct xlmig_codec *c, uint64_t pfn)
{
	if (!c->sent || xlmig_pfnset_may_hold(c->sent, pfn) ||
	    xlmig_pfnset_add(c->sent, pfn) != XLMIG_OK)
		return false;
	if (c->role == ROLE_DECODER)
		c->noted[c->nnoted++] = pfn;
	return true;
}

/* Decide each page's kind (into kinds and c->kind), code the deltas into
 * c->delta and bring the cache up to date.  Cannot fail
 * once the buffers are reserved, so the cache never runs ahead of a
 * frame that was not produced. */
static void classify(struct xlmig_codec *c, const uint64_t *pfns,
		     const uint8_t *pages, uint32_t n, uint8_t *kinds,
		     struct frame *f)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *page = pages + (size_t)i * XLMIG_PAGE_SIZE;
		enum page_kind kind = KIND_DATA;
		uint32_t slot;
		bool hit = false;
		int len = -1;

		if (xlmig_page_is_zero(page)) {
			int64_t s = c->cache ? xlmig_pagecache_find(c->cache, pfns[i]) : -1;

			if (s >= 0)
				memset(xlmig_pagecache_page(c->cache, (uint32_t)s), 0,
				       XLMIG_PAGE_SIZE);
			c->kind[i] = KIND_ZERO;
			continue;   /* KIND_ZERO is 0: kinds start cleared */
		}
		if (c->cache && !first_sight(c, pfns[i])) {
			/* Without a journal a claim cannot fail. */
			xlmig_pagecache_claim(c->cache, pfns[i], &slot, &hit);
			if (hit)
				len = code_delta(c, page,
						 xlmig_pagecache_page(c->cache, slot),
						 c->delta.data + c->delta.len, &kind);
			memcpy(xlmig_pagecache_page(c->cache, slot), page,
			       XLMIG_PAGE_SIZE);
		}
		if (len >= 0) {
			c->dlen[f->ndelta++] = (uint16_t)len;
			c->delta.len += (size_t)len;
		} else {
			kind = KIND_DATA;
			f->ndata++;
		}
		c->kind[i] = (uint8_t)kind;
		set_kind(kinds, i, kind);
	}
}

/* A frame between the two steps of an encode (codec.h). */
struct xlmig_codec_pending {
	struct xlmig_buf head;   /* header, kinds, delta lengths and payloads */
	struct xlmig_buf data;   /* the DATA pages side by side, when copied */
	const uint8_t *src;      /* the DATA pages: data's, or the caller's */
	uint32_t n, ndelta, ndata;
	int level;               /* 0: the DATA section goes raw */
	bool begun;
	uint64_t cpu_ns;         /* what begin cost */
};

struct xlmig_codec_zctx {
	ZSTD_CCtx *cctx;
};

struct xlmig_codec_pending *xlmig_codec_pending_new(void)
{
	struct xlmig_codec_pending *p = calloc(1, sizeof(*p));

	if (!p)
		xlmig_fail(XLMIG_E_NOMEM, "out of memory for a pending page frame");
	return p;
}

void xlmig_codec_pending_free(struct xlmig_codec_pending *p)
{
	if (!p)
		return;
	xlmig_buf_free(&p->head);
	xlmig_buf_free(&p->data);
	free(p);
}

uint64_t xlmig_codec_pending_guest_bytes(const struct xlmig_codec_pending *p)
{
	return (uint64_t)p->n * XLMIG_PAGE_SIZE;
}

size_t xlmig_codec_pending_held(const struct xlmig_codec_pending *p)
{
	return p->head.len + (p->src == p->data.data ? (size_t)p->ndata * XLMIG_PAGE_SIZE : 0);
}

int xlmig_codec_pending_level(const struct xlmig_codec_pending *p)
{
	return p->level;
}

struct xlmig_codec_zctx *xlmig_codec_zctx_new(void)
{
	struct xlmig_codec_zctx *z = calloc(1, sizeof(*z));

	if (z)
		z->cctx = ZSTD_createCCtx();
	if (!z || !z->cctx) {
		xlmig_codec_zctx_free(z);
		xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a zstd context");
		return NULL;
	}
	return z;
}

void xlmig_codec_zctx_free(struct xlmig_codec_zctx *z)
{
	if (z) {
		ZSTD_freeCCtx(z->cctx);
		free(z);
	}
}

/* The DATA pages side by side for the finishing step: the batch itself
 * when the caller keeps it until then and every page is DATA (a first
 * pass, mostly), else copied into p->data (reserved by the caller). */
static void keep_data_pages(struct xlmig_codec *c, const uint8_t *pages,
			    struct xlmig_codec_pending *p, bool borrow)
{
	if (borrow && p->ndata == p->n) {
		p->src = pages;
		return;
	}
	for (uint32_t i = 0, k = 0; i < p->n; i++)
		if (c->kind[i] == KIND_DATA)
			memcpy(p->data.data + (size_t)k++ * XLMIG_PAGE_SIZE,
			       pages + (size_t)i * XLMIG_PAGE_SIZE, XLMIG_PAGE_SIZE);
	p->src = p->data.data;
}

/* The first step.  borrow: pages stay valid until finish (the one-call
 * encode), so a batch of DATA pages only need not be copied. */
static int encode_begin(struct xlmig_codec *c, const uint64_t *pfns, const uint8_t *pages,
			uint32_t n, struct xlmig_codec_pending *p, bool borrow)
{
	uint64_t t0 = xlmig_thread_cpu_ns();
	size_t kbytes = (n + 3) / 4;
	struct frame f = { 0 };
	uint8_t *hdr, *q;
	int rc;

	if (p->begun)
		return xlmig_fail(XLMIG_E_INVAL, "a pending page frame begun twice");
	rc = take_role(c, ROLE_ENCODER, n);
	if (rc)
		return rc;
	xlmig_buf_reset(&c->delta);
	xlmig_buf_reset(&p->head);
	xlmig_buf_reset(&p->data);
	rc = xlmig_buf_reserve(&c->delta, (size_t)n * DELTA_MAX);
	if (!rc)
		rc = xlmig_buf_reserve(&p->head, frame_lead(n) + (size_t)n * DELTA_MAX);
	if (!rc)   /* only touched where pages are copied */
		rc = xlmig_buf_reserve(&p->data, (size_t)n * XLMIG_PAGE_SIZE);
	if (rc)
		return xlmig_fail_prefix(rc, "encoding a batch of %u pages", n);

	hdr = p->head.data;
	memset(hdr, 0, FRAME_HDR + kbytes);
	classify(c, pfns, pages, n, hdr + FRAME_HDR, &f);
	p->n = n;
	p->ndelta = f.ndelta;
	p->ndata = f.ndata;
	p->level = c->opts.no_zstd || c->raw ? 0 : c->opts.zstd_level;
	keep_data_pages(c, pages, p, borrow);

	q = hdr + FRAME_HDR + kbytes;
	for (uint32_t k = 0; k < f.ndelta; k++, q += 2)
		xlmig_put_le16(q, c->dlen[k]);
	memcpy(q, c->delta.data, c->delta.len);
	q += c->delta.len;
	/* Flags and the DATA section's length are the finishing step's. */
	xlmig_put_le16(hdr, FRAME_MAGIC);
	hdr[2] = FRAME_VERSION;
	xlmig_put_le16(hdr + 4, (uint16_t)n);
	xlmig_put_le32(hdr + 8, c->seq++);
	xlmig_put_le32(hdr + 12, (uint32_t)c->delta.len);
	p->head.len = (size_t)(q - hdr);
	p->begun = true;
	p->cpu_ns = xlmig_thread_cpu_ns() - t0;
	return XLMIG_OK;
}

int xlmig_codec_encode_begin(struct xlmig_codec *c, const uint64_t *pfns,
			     const uint8_t *pages, uint32_t n,
			     struct xlmig_codec_pending *p)
{
	return encode_begin(c, pfns, pages, n, p, false);
}

/* The DATA section at dst (room for the raw pages): zstd if smaller. */
static size_t write_data(const struct xlmig_codec_pending *p, ZSTD_CCtx *cctx,
			 uint8_t *dst, uint8_t *flags)
{
	size_t len = (size_t)p->ndata * XLMIG_PAGE_SIZE, z;

	if (!len)
		return 0;
	if (p->level > 0) {
		z = ZSTD_compressCCtx(cctx, dst, len - 1, p->src, len, p->level);
		if (!ZSTD_isError(z)) {
			*flags |= FLAG_DATA_ZSTD;
			return z;
		}
	}
	memcpy(dst, p->src, len);
	return len;
}

int xlmig_codec_encode_finish(struct xlmig_codec_pending *p, struct xlmig_codec_zctx *z,
			      struct xlmig_buf *out, struct xlmig_codec_stats *stats)
{
	uint64_t t0 = xlmig_thread_cpu_ns();
	struct frame f = { .ndelta = p->ndelta, .ndata = p->ndata };
	size_t start = out->len;
	uint8_t *hdr;
	int rc;

	if (!p->begun)
		return xlmig_fail(XLMIG_E_INVAL, "finishing a page frame that was not begun");
	rc = xlmig_buf_reserve(out, p->head.len + (size_t)p->ndata * XLMIG_PAGE_SIZE);
	if (rc)
		return xlmig_fail_prefix(rc, "encoding a batch of %u pages", p->n);
	hdr = out->data + start;
	memcpy(hdr, p->head.data, p->head.len);
	f.data_len = (uint32_t)write_data(p, z->cctx, hdr + p->head.len, &f.flags);
	hdr[3] = f.flags;
	xlmig_put_le32(hdr + 16, f.data_len);
	out->len = start + p->head.len + f.data_len;
	p->begun = false;
	p->src = NULL;
	add_stats(stats, p->n, &f, out->len - start,
		  p->cpu_ns + xlmig_thread_cpu_ns() - t0);
	return XLMIG_OK;
}

size_t xlmig_codec_frame_bound(uint32_t n)
{
	return frame_lead(n) + (size_t)n * XLMIG_PAGE_SIZE;
}

int xlmig_codec_encode(struct xlmig_codec *c, const uint64_t *pfns,
		       const uint8_t *pages, uint32_t n, struct xlmig_buf *out,
		       struct xlmig_codec_stats *stats)
{
	struct xlmig_codec_zctx z;
	int rc;

	/* Room for the worst case first, so that a failure leaves the cache
	 * as it was. */
	rc = xlmig_buf_reserve(out, xlmig_codec_frame_bound(n));
	if (!rc && !c->pending)
		c->pending = xlmig_codec_pending_new();
	if (!rc && !c->pending)
		rc = XLMIG_E_NOMEM;
	if (!rc)
		rc = encode_begin(c, pfns, pages, n, c->pending, true);
	if (rc)
		return xlmig_fail_prefix(rc, "encoding a batch of %u pages", n);
	z.cctx = c->cctx;
	return xlmig_codec_encode_finish(c->pending, &z, out, stats);
}

/* ---- decoder ---- */

/* A frame between the two steps of a decode (codec.h): its layout, and
 * what was compressed in it, decompressed.  Delta run lists and a raw
 * DATA section stay in the caller's frame. */
struct xlmig_codec_unpacked {
	bool unpacked;
	uint32_t n, seq;
	size_t len;                 /* the frame's */
	struct frame f;
	uint8_t kind[XLMIG_CODEC_MAX_BATCH];
	uint16_t dlen[XLMIG_CODEC_MAX_BATCH];  /* payload length per page */
	uint32_t off[XLMIG_CODEC_MAX_BATCH];   /* where its payload or page lies */
	struct xlmig_buf zdeltas;   /* the zstd deltas' XORs, whole pages */
	struct xlmig_buf data;      /* the zstd DATA section, decompressed */
	const uint8_t *pages;       /* the DATA pages side by side */
	uint64_t cpu_ns;            /* what unpacking cost */
};

struct xlmig_codec_dctx {
	ZSTD_DCtx *dctx;
};

struct xlmig_codec_unpacked *xlmig_codec_unpacked_new(void)
{
	struct xlmig_codec_unpacked *u = calloc(1, sizeof(*u));

	if (!u)
		xlmig_fail(XLMIG_E_NOMEM, "out of memory for an unpacked page frame");
	return u;
}

void xlmig_codec_unpacked_free(struct xlmig_codec_unpacked *u)
{
	if (!u)
		return;
	xlmig_buf_free(&u->zdeltas);
	xlmig_buf_free(&u->data);
	free(u);
}

size_t xlmig_codec_unpacked_held(const struct xlmig_codec_unpacked *u)
{
	return sizeof(*u) + u->zdeltas.len + u->data.len;
}

struct xlmig_codec_dctx *xlmig_codec_dctx_new(void)
{
	struct xlmig_codec_dctx *z = calloc(1, sizeof(*z));

	if (z)
		z->dctx = ZSTD_createDCtx();
	if (!z || !z->dctx) {
		xlmig_codec_dctx_free(z);
		xlmig_fail(XLMIG_E_NOMEM, "out of memory creating a zstd context");
		return NULL;
	}
	return z;
}

void xlmig_codec_dctx_free(struct xlmig_codec_dctx *z)
{
	if (z) {
		ZSTD_freeDCtx(z->dctx);
		free(z);
	}
}

static int bad_frame(uint32_t seq, const char *what, uint64_t a, uint64_t b)
{
	return xlmig_fail(XLMIG_E_FORMAT, "page frame %u: %s (%llu vs %llu); "
			  "the stream is corrupt or from an incompatible "
			  "xlmig", seq, what, (unsigned long long)a,
			  (unsigned long long)b);
}

/* Header fields, each checked against what a frame of n pages may hold;
 * its number is the decoder's to check. */
static int parse_header(const uint8_t *fr, size_t len, uint32_t n, struct xlmig_codec_unpacked *u)
{
	uint32_t seq = len >= FRAME_HDR ? xlmig_get_le32(fr + 8) : 0;

	if (len < FRAME_HDR)
		return bad_frame(seq, "shorter than the header", len, FRAME_HDR);
	if (xlmig_get_le16(fr) != FRAME_MAGIC)
		return bad_frame(seq, "bad magic", xlmig_get_le16(fr), FRAME_MAGIC);
	if (fr[2] != FRAME_VERSION)
		return bad_frame(seq, "unknown frame version", fr[2], FRAME_VERSION);
	if (fr[3] & ~FLAG_DATA_ZSTD)
		return bad_frame(seq, "unknown flags", fr[3], FLAG_DATA_ZSTD);
	if (xlmig_get_le16(fr + 4) != n)
		return bad_frame(seq, "page count differs from the batch",
				 xlmig_get_le16(fr + 4), n);
	if (xlmig_get_le16(fr + 6) != 0)
		return bad_frame(seq, "reserved field set", xlmig_get_le16(fr + 6), 0);
	u->n = n;
	u->seq = seq;
	u->f.flags = fr[3];
	u->f.delta_len = xlmig_get_le32(fr + 12);
	u->f.data_len = xlmig_get_le32(fr + 16);
	return XLMIG_OK;
}

/* Kinds, delta lengths and section sizes: every byte of the frame is
 * accounted for exactly. */
static int parse_layout(const uint8_t *fr, size_t len, struct xlmig_codec_unpacked *u)
{
	uint32_t n = u->n;
	size_t kbytes = (n + 3) / 4, pos = FRAME_HDR + kbytes;
	const uint8_t *kinds = fr + FRAME_HDR;
	struct frame *f = &u->f;
	uint64_t sum = 0, total;

	if (len < pos)
		return bad_frame(u->seq, "too short for its page kinds", len, pos);
	if (n % 4 && kinds[kbytes - 1] >> (2 * (n % 4)))
		return bad_frame(u->seq, "kinds set past the last page",
				 kinds[kbytes - 1], 0);
	for (uint32_t i = 0; i < n; i++) {
		u->kind[i] = (uint8_t)get_kind(kinds, i);
		if (u->kind[i] == KIND_DATA)
			u->off[i] = f->ndata++;
		else if (u->kind[i] != KIND_ZERO)
			f->ndelta++;
	}
	f->lens = fr + pos;
	if (len - pos < 2 * (size_t)f->ndelta)
		return bad_frame(u->seq, "too short for its delta lengths", len,
				 pos + 2 * (size_t)f->ndelta);
	for (uint32_t i = 0, k = 0; i < n; i++) {
		if (u->kind[i] < KIND_DELTA_RLE)
			continue;
		u->dlen[i] = xlmig_get_le16(f->lens + 2 * k++);
		u->off[i] = (uint32_t)sum;
		sum += u->dlen[i];
	}
	if (sum != f->delta_len)
		return bad_frame(u->seq, "delta lengths do not add up to the delta "
				 "section", sum, f->delta_len);
	pos += 2 * (size_t)f->ndelta;
	total = (uint64_t)pos + f->delta_len + f->data_len;
	if (total != len)
		return bad_frame(u->seq, "sections do not add up to the frame length",
				 total, len);
	if (!f->ndata && (f->data_len || f->flags))
		return bad_frame(u->seq, "DATA section without DATA pages",
				 f->data_len, 0);
	f->deltas = fr + pos;
	f->data = f->deltas + f->delta_len;
	return XLMIG_OK;
}

/* Decompress one zstd frame of exactly want bytes from src[0..len). */
static int unzstd_exact(ZSTD_DCtx *dctx, uint32_t seq, const uint8_t *src, size_t len,
			uint8_t *dst, size_t want, const char *what)
{
	unsigned long long size = ZSTD_getFrameContentSize(src, len);
	size_t got;

	if (size != want)
		return bad_frame(seq, what, size, want);
	if (ZSTD_findFrameCompressedSize(src, len) != len)
		return bad_frame(seq, "zstd frame does not fill its section",
				 ZSTD_findFrameCompressedSize(src, len), len);
	got = ZSTD_decompressDCtx(dctx, dst, want, src, len);
	if (ZSTD_isError(got))
		return xlmig_fail(XLMIG_E_FORMAT, "page frame %u: %s: %s",
				  seq, what, ZSTD_getErrorName(got));
	if (got != want)
		return bad_frame(seq, what, got, want);
	return XLMIG_OK;
}

/* Check every delta payload and decompress the zstd ones, and the DATA
 * section into data_dst (room for the DATA pages), so that nothing can
 * fail once the cache is touched.  The DATA pages then lie side by side
 * at u->pages: in the frame (raw) or at data_dst. */
static int unpack_payloads(ZSTD_DCtx *dctx, struct xlmig_codec_unpacked *u, uint8_t *data_dst)
{
	const struct frame *f = &u->f;
	uint32_t nz = 0;
	size_t need = (size_t)f->ndata * XLMIG_PAGE_SIZE;
	int rc = XLMIG_OK;

	xlmig_buf_reset(&u->zdeltas);
	for (uint32_t i = 0; i < u->n && !rc; i++) {
		const uint8_t *p = f->deltas + u->off[i];

		if (u->kind[i] == KIND_DELTA_RLE) {
			rc = xlmig_xorrle_check(p, u->dlen[i]);
			if (rc)
				xlmig_fail_prefix(rc, "page frame %u, page %u", u->seq, i);
		} else if (u->kind[i] == KIND_DELTA_ZSTD) {
			uint8_t *dst = xlmig_buf_extend(&u->zdeltas, XLMIG_PAGE_SIZE);

			rc = dst ? unzstd_exact(dctx, u->seq, p, u->dlen[i], dst, XLMIG_PAGE_SIZE,
						"zstd delta of the wrong size")
				 : XLMIG_E_NOMEM;
			u->off[i] = nz++;
		}
	}
	if (rc || !f->ndata)
		return rc;
	if (!(f->flags & FLAG_DATA_ZSTD)) {
		if (f->data_len != need)
			return bad_frame(u->seq, "raw DATA section of the wrong size",
					 f->data_len, need);
		u->pages = f->data;
		return XLMIG_OK;
	}
	u->pages = data_dst;
	return unzstd_exact(dctx, u->seq, f->data, f->data_len, data_dst, need,
			    "zstd DATA section of the wrong size");
}

/* The first step; data_dst NULL: into u->data. */
static int decode_unpack(ZSTD_DCtx *dctx, const uint8_t *frame, size_t len, uint32_t n,
			 struct xlmig_codec_unpacked *u, uint8_t *data_dst)
{
	uint64_t t0 = xlmig_thread_cpu_ns();
	int rc;

	u->unpacked = false;
	u->f = (struct frame){ 0 };
	u->pages = NULL;
	xlmig_buf_reset(&u->data);
	if (n == 0 || n > XLMIG_CODEC_MAX_BATCH)
		return xlmig_fail(XLMIG_E_INVAL, "page batch of %u pages: a frame holds 1 to %u",
				  n, XLMIG_CODEC_MAX_BATCH);
	rc = parse_header(frame, len, n, u);
	if (!rc)
		rc = parse_layout(frame, len, u);
	if (!rc && !data_dst && (u->f.flags & FLAG_DATA_ZSTD)) {
		data_dst = xlmig_buf_extend(&u->data, (size_t)u->f.ndata * XLMIG_PAGE_SIZE);
		if (!data_dst)
			rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u pages", u->f.ndata);
	}
	if (!rc)
		rc = unpack_payloads(dctx, u, data_dst);
	u->unpacked = rc == XLMIG_OK;
	u->len = len;
	u->cpu_ns = xlmig_thread_cpu_ns() - t0;
	return rc;
}

int xlmig_codec_decode_unpack(struct xlmig_codec_dctx *z, const uint8_t *frame, size_t len,
			      uint32_t n, struct xlmig_codec_unpacked *u)
{
	return decode_unpack(z->dctx, frame, len, n, u, NULL);
}

/* DATA page k (k-th in the frame) belongs at its index i >= k.  From
 * elsewhere each is copied; decompressed in place at the front of
 * pages_out, they move back, last first, so none is overwritten before
 * it has moved: a source k is always below every index still to fill. */
static void place_data(const struct xlmig_codec_unpacked *u, uint8_t *pages_out)
{
	bool in_place = u->pages == pages_out;

	for (uint32_t i = u->n; i-- > 0;) {
		size_t k = u->off[i];

		if (u->kind[i] != KIND_DATA || (in_place && k == i))
			continue;
		memcpy(pages_out + (size_t)i * XLMIG_PAGE_SIZE, u->pages + k * XLMIG_PAGE_SIZE,
		       XLMIG_PAGE_SIZE);
	}
}

/* Claim each page's cache slot in stream order, as the encoder did; a
 * delta whose page the cache does not hold undoes every claim. */
static int claim_slots(struct xlmig_codec *c, const struct xlmig_codec_unpacked *u,
		       const uint64_t *pfns)
{
	int rc = XLMIG_OK;

	if (!c->cache)
		return XLMIG_OK;
	xlmig_pagecache_begin(c->cache);
	c->nnoted = 0;
	for (uint32_t i = 0; i < u->n; i++) {
		uint32_t slot;
		bool hit;

		if (u->kind[i] == KIND_ZERO) {
			c->slot[i] = xlmig_pagecache_find(c->cache, pfns[i]);
			continue;
		}
		if (u->kind[i] == KIND_DATA && first_sight(c, pfns[i])) {
			c->slot[i] = -1;
			continue;
		}
		rc = xlmig_pagecache_claim(c->cache, pfns[i], &slot, &hit);
		if (rc)
			goto out;
		if (u->kind[i] != KIND_DATA && !hit) {
			rc = xlmig_fail(XLMIG_E_FORMAT, "page frame %u: page %u "
					"(pfn %#llx) is a delta against a copy the "
					"delta cache does not hold; the two ends' "
					"caches differ", c->seq, i,
					(unsigned long long)pfns[i]);
			goto out;
		}
		c->slot[i] = slot;
	}
out:
	if (rc) {
		xlmig_pagecache_rollback(c->cache);
		for (uint32_t k = 0; k < c->nnoted; k++)
			xlmig_pfnset_remove(c->sent, c->noted[k]);
	} else
		xlmig_pagecache_commit(c->cache);
	return rc;
}

/* Write the other pages out, and all into the cache, in stream order. */
static void place_pages(struct xlmig_codec *c, const struct xlmig_codec_unpacked *u,
			uint8_t *pages_out)
{
	for (uint32_t i = 0; i < u->n; i++) {
		uint8_t *page = pages_out + (size_t)i * XLMIG_PAGE_SIZE;
		uint8_t *cached = c->cache && c->slot[i] >= 0
			? xlmig_pagecache_page(c->cache, (uint32_t)c->slot[i]) : NULL;

		switch ((enum page_kind)u->kind[i]) {
		case KIND_ZERO:
			memset(page, 0, XLMIG_PAGE_SIZE);
			break;
		case KIND_DATA:   /* placed by place_data */
			break;
		case KIND_DELTA_RLE:
			memcpy(page, cached, XLMIG_PAGE_SIZE);
			xlmig_xorrle_apply(page, u->f.deltas + u->off[i], u->dlen[i]);
			break;
		case KIND_DELTA_ZSTD:
			xlmig_xorrle_xor(page, cached, u->zdeltas.data +
					 (size_t)u->off[i] * XLMIG_PAGE_SIZE);
			break;
		}
		if (cached)
			memcpy(cached, page, XLMIG_PAGE_SIZE);
	}
}

int xlmig_codec_decode_apply(struct xlmig_codec *c, struct xlmig_codec_unpacked *u,
			     const uint64_t *pfns, uint32_t n, uint8_t *pages_out,
			     struct xlmig_codec_stats *stats)
{
	uint64_t t0 = xlmig_thread_cpu_ns();
	int rc = take_role(c, ROLE_DECODER, n);

	if (!rc && (!u->unpacked || u->n != n))
		rc = xlmig_fail(XLMIG_E_INVAL, "applying a page frame that was not unpacked "
				"for these %u pages", n);
	if (!rc && u->seq != c->seq)
		rc = bad_frame(u->seq, "out of sequence: frames were lost or reordered",
			       u->seq, c->seq);
	if (!rc && u->f.ndelta && !c->cache)
		rc = bad_frame(u->seq, "delta pages but this decoder has no delta cache "
			       "(cache sizes differ between the ends?)", u->f.ndelta, 0);
	if (!rc)
		rc = claim_slots(c, u, pfns);
	if (rc)
		return rc;
	place_data(u, pages_out);
	place_pages(c, u, pages_out);
	c->seq++;
	u->unpacked = false;
	add_stats(stats, n, &u->f, u->len, u->cpu_ns + xlmig_thread_cpu_ns() - t0);
	return XLMIG_OK;
}

int xlmig_codec_decode(struct xlmig_codec *c, const uint8_t *frame, size_t len,
		       const uint64_t *pfns, uint32_t n, uint8_t *pages_out,
		       struct xlmig_codec_stats *stats)
{
	int rc = take_role(c, ROLE_DECODER, n);

	if (!rc && !c->unpacked && !(c->unpacked = xlmig_codec_unpacked_new()))
		rc = XLMIG_E_NOMEM;
	/* The DATA section straight into pages_out: no copy. */
	if (!rc)
		rc = decode_unpack(c->dctx, frame, len, n, c->unpacked, pages_out);
	if (!rc)
		rc = xlmig_codec_decode_apply(c, c->unpacked, pfns, n, pages_out, stats);
	return rc;
}
