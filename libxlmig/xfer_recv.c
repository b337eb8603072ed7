/*
 * xfer_recv.c - the receiving half of a stream transfer: frames from every
 * channel, put back in order, the identical stream out (see xfer.h).
 */
#include "bufpool.h"
#include "pfnset.h"
#include "xfer_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#define HELD_OVERHEAD    128u         /* bookkeeping counted per held frame */
#define MAX_SEQ_WINDOW   (1ull << 24) /* how far ahead of the next frame a seq may be */
#define MAX_PREFIX       (PREFIX_FIXED + 8u * XLMIG_MAX_PAGES_PER_RECORD)

struct held {
	uint64_t seq;
	struct xlmig_frame f;
	size_t high;         /* what its buffer may pin: bufpool.h */
	size_t extra;        /* what rec and u hold */
	/* PAGES, prepared by the reader: the record's header and pfn array
	 * (count entries), its codec frame (in f's payload), and that frame
	 * unpacked (codec.h) when the reader did */
	struct xlmig_buf rec;
	uint32_t count;
	const uint8_t *codec;
	size_t codec_len;
	struct xlmig_codec_unpacked *u;
};

struct receiver;

struct reader {
	struct receiver *r;
	unsigned idx;
	pthread_t thread;
	bool started;
	bool any;
	bool closed;         /* the peer closed this channel between frames */
	uint64_t last_seq;
	ZSTD_DCtx *zd;                 /* for PAGES frames' pfn arrays */
	struct xlmig_codec_dctx *z;    /* for their pages */
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
};

struct receiver {
	struct xlmig_conn *c;
	struct xlmig_xfer_opts o;
	struct xlmig_xfer_stats *st;
	const atomic_bool *cancel;
	struct xlmig_xfer_failure fail;

	pthread_mutex_t lock;
	pthread_cond_t arrived;        /* a frame was held, or a failure */
	pthread_cond_t consumed;       /* next_seq moved */
	struct reader rd[XLMIG_MAX_CHANNELS];
	unsigned n;
	struct held **heap;            /* min-heap by seq */
	size_t heap_len, heap_cap;
	size_t held_bytes;
	uint64_t next_seq;
	uint64_t reported;             /* stream bytes last told the source */
	bool no_progress;              /* a report could not be sent: no more */

	int out_fd;
	int out_flags;
	struct xlmig_codec *codec;
	struct xlmig_bufpool *pool;    /* used frames' buffers, for the readers */
	struct xlmig_objpool spares;   /* applied unpacked frames, for the next */
	bool unpack_in_readers;        /* xlmig_xfer_opts.coding_threads >= 2 */
	ZSTD_DCtx *zd;
	struct xlmig_stream_digest *md;
	struct xlmig_buf rec;
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
	/* o.xalloc_zero_pages: the pages the restore was given content for */
	struct xlmig_pfnset *filled;
	struct iovec iov[1 + XLMIG_MAX_PAGES_PER_RECORD];
};

/* A frame read into a larger buffer reused from the pool pins what that
 * buffer held before, and the bound counts that, and what the reader
 * unpacked from it. */
static size_t held_cost(const struct held *h)
{
	return h->high + h->extra + HELD_OVERHEAD;
}

static struct xlmig_codec_unpacked *unpacked_get(struct receiver *r)
{
	struct xlmig_codec_unpacked *u = xlmig_objpool_get(&r->spares);

	return u ? u : xlmig_codec_unpacked_new();
}

static void unpacked_free(void *u)
{
	xlmig_codec_unpacked_free(u);
}

/* Free a frame, its buffers kept for a reader's next frame. */
static void held_free(struct receiver *r, struct held *h)
{
	if (h) {
		xlmig_bufpool_put(r->pool, &h->f.payload, h->high);
		xlmig_objpool_put(&r->spares, h->u);
		xlmig_buf_free(&h->rec);
		free(h);
	}
}

static void heap_swap(struct held **a, struct held **b)
{
	struct held *t = *a;

	*a = *b;
	*b = t;
}

static int heap_push(struct receiver *r, struct held *h)
{
	size_t i;

	if (r->heap_len == r->heap_cap) {
		size_t cap = r->heap_cap ? 2 * r->heap_cap : 64;
		struct held **nh = realloc(r->heap, cap * sizeof(*nh));

		if (!nh)
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the reorder buffer");
		r->heap = nh;
		r->heap_cap = cap;
	}
	i = r->heap_len++;
	r->heap[i] = h;
	while (i && r->heap[(i - 1) / 2]->seq > r->heap[i]->seq) {
		heap_swap(&r->heap[(i - 1) / 2], &r->heap[i]);
		i = (i - 1) / 2;
	}
	return XLMIG_OK;
}

static struct held *heap_pop(struct receiver *r)
{
	struct held *top = r->heap[0];
	size_t i = 0;

	r->heap[0] = r->heap[--r->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < r->heap_len && r->heap[l]->seq < r->heap[m]->seq)
			m = l;
		if (l + 1 < r->heap_len && r->heap[l + 1]->seq < r->heap[m]->seq)
			m = l + 1;
		if (m == i)
			break;
		heap_swap(&r->heap[i], &r->heap[m]);
		i = m;
	}
	return top;
}

static void receiver_fail(struct receiver *r, int rc)
{
	xlmig_xfer_failure_set(&r->fail, rc);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->arrived);
	pthread_cond_broadcast(&r->consumed);
	pthread_mutex_unlock(&r->lock);
}

/* The bound: over it, read on only if the needed frame may be on this
 * channel. */
static void wait_for_room(struct receiver *r, struct reader *rd)
{
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->fail.stop) && r->held_bytes > r->o.reorder_bytes && rd->any &&
	       rd->last_seq >= r->next_seq)
		pthread_cond_wait(&r->consumed, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static int hold(struct receiver *r, struct reader *rd, struct held *h)
{
	int rc = XLMIG_OK;

	h->seq = h->f.hdr.seq;
	if (rd->any && h->seq <= rd->last_seq)
		return xlmig_fail(XLMIG_E_FORMAT, "channel %u: frame %llu after frame %llu",
				  rd->idx, (unsigned long long)h->seq,
				  (unsigned long long)rd->last_seq);
	pthread_mutex_lock(&r->lock);
	if (h->seq < r->next_seq || h->seq - r->next_seq > MAX_SEQ_WINDOW)
		rc = xlmig_fail(XLMIG_E_FORMAT, "channel %u: frame %llu while expecting %llu",
				rd->idx, (unsigned long long)h->seq,
				(unsigned long long)r->next_seq);
	if (rc == XLMIG_OK)
		rc = heap_push(r, h);
	if (rc == XLMIG_OK) {
		rd->any = true;
		rd->last_seq = h->seq;
		r->held_bytes += held_cost(h);
		r->st->reorder_peak = XLMIG_MAX(r->st->reorder_peak, r->held_bytes);
		atomic_fetch_add(&r->st->wire_bytes, XLMIG_WIRE_HDR_LEN + h->f.hdr.len);
		pthread_cond_broadcast(&r->arrived);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int inflate(ZSTD_DCtx *zd, const uint8_t *p, size_t len, uint32_t limit,
		   struct xlmig_buf *out)
{
	uint32_t raw;
	uint8_t *dst;
	size_t n;
	int rc = xlmig_wire_zblob_len(p, len, limit, &raw);

	if (rc != XLMIG_OK)
		return rc;
	dst = xlmig_buf_extend(out, raw);
	if (!dst)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u stream bytes", raw);
	n = ZSTD_decompressDCtx(zd, dst, raw, p + 4, len - 4);
	if (ZSTD_isError(n) || n != raw)
		return xlmig_fail(XLMIG_E_FORMAT, "a compressed block does not decompress to "
				  "its announced %u bytes", raw);
	return XLMIG_OK;
}

/* Check a rebuilt PAGE_DATA prefix: header, count, and that the record
 * length matches the pages announced. */
static int check_prefix(const uint8_t *p, uint32_t len, uint32_t data_pages, uint32_t *count)
{
	uint32_t body_len;

	if (len < PREFIX_FIXED || xlmig_get_le32(p) != XLMIG_REC_PAGE_DATA)
		return xlmig_fail(XLMIG_E_FORMAT, "PAGES frame without a PAGE_DATA header");
	body_len = xlmig_get_le32(p + 4);
	*count = xlmig_get_le32(p + 8);
	if (*count == 0 || *count > XLMIG_MAX_PAGES_PER_RECORD ||
	    len != PREFIX_FIXED + 8 * *count || data_pages > *count ||
	    body_len != 8 + 8 * *count + (uint64_t)data_pages * XLMIG_PAGE_SIZE)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "PAGES frame: %u entries, %u pages and a %u-byte body do not agree",
				  *count, data_pages, body_len);
	return XLMIG_OK;
}

/* Whether readers unpack what they read: while the frames held ahead
 * of the decoder are few (an eighth of the bound: a batch or so),
 * the decoder keeps up with nothing to spare, and
 * the zstd part of decoding is better done side by side on the channels'
 * threads; with the buffer filling up, the restore or the decoder's own
 * order is what holds things, and frames wait packed, at a third of the
 * memory or less. */
static bool unpack_here(struct receiver *r)
{
	bool few;

	if (!r->unpack_in_readers)
		return false;
	pthread_mutex_lock(&r->lock);
	few = r->held_bytes < r->o.reorder_bytes / 8;
	pthread_mutex_unlock(&r->lock);
	return few;
}

/* On the reader's thread, as soon as a PAGES frame is read: its record's
 * header and pfn array rebuilt and checked, and, while the decoder keeps
 * up (unpack_here), its pages unpacked (the zstd part of decoding), so
 * that the decoding thread, which must take frames in order, is left
 * with the delta cache's part.  Channels unpack side by side. */
static int unpack_pages(struct receiver *r, struct reader *rd, struct held *h)
{
	struct xlmig_wire_pages wp;
	uint32_t n = 0;
	int rc = xlmig_wire_pages_parse(&h->f.hdr, h->f.payload.data, &wp);

	if (rc == XLMIG_OK && wp.prefix_len > MAX_PREFIX)
		rc = xlmig_fail(XLMIG_E_FORMAT, "PAGES frame with a %u-byte pfn array",
				wp.prefix_len);
	if (rc == XLMIG_OK)
		rc = wp.prefix_zstd ? inflate(rd->zd, wp.prefix, wp.prefix_stored_len,
					      wp.prefix_len, &h->rec)
				    : xlmig_buf_append(&h->rec, wp.prefix, wp.prefix_len);
	if (rc == XLMIG_OK && h->rec.len != wp.prefix_len)
		rc = xlmig_fail(XLMIG_E_FORMAT, "PAGES frame: pfn array of %zu bytes, announced %u",
				h->rec.len, wp.prefix_len);
	if (rc == XLMIG_OK)
		rc = check_prefix(h->rec.data, wp.prefix_len, wp.data_pages, &h->count);
	if (rc == XLMIG_OK) {
		xlmig_xfer_data_pfns(h->rec.data + PREFIX_FIXED, h->count, rd->pfns, &n);
		if (n != wp.data_pages)
			rc = xlmig_fail(XLMIG_E_FORMAT,
					"PAGES frame: %u pages announced, pfn array has %u",
					wp.data_pages, n);
	}
	h->codec = wp.codec;
	h->codec_len = wp.codec_len;
	if (rc == XLMIG_OK && n && unpack_here(r)) {
		h->u = unpacked_get(r);
		rc = h->u ? xlmig_codec_decode_unpack(rd->z, wp.codec, wp.codec_len, n, h->u)
			  : XLMIG_E_NOMEM;
		atomic_fetch_add(&r->st->frames_unpacked, 1);
	}
	if (rc == XLMIG_OK)
		h->extra = h->rec.len + (h->u ? xlmig_codec_unpacked_held(h->u) : 0);
	else
		xlmig_fail_prefix(rc, "frame %llu", (unsigned long long)h->f.hdr.seq);
	return rc;
}

static int read_one(struct receiver *r, struct reader *rd, struct xlmig_chan *ch)
{
	const struct xlmig_handshake_session *sess = xlmig_conn_session(r->c);
	int io_ms = xlmig_conn_opts(r->c)->io_timeout_ms;
	struct held *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a frame");
	h->high = xlmig_bufpool_get(r->pool, &h->f.payload);
	rc = xlmig_wire_recv(ch, sess->max_payload, io_ms, io_ms, &h->f);
	if (rc == XLMIG_OK && !xlmig_frame_is_sequenced(h->f.hdr.type)) {
		rc = rd->idx == 0 ? xlmig_conn_dispatch(r->c, &h->f)
				  : xlmig_fail(XLMIG_E_FORMAT, "%s frame on channel %u",
					       xlmig_frame_type_name(h->f.hdr.type), rd->idx);
	} else if (rc == XLMIG_OK) {
		h->high = XLMIG_MAX(h->high, (size_t)h->f.hdr.len);
		if (h->f.hdr.type == XLMIG_FRAME_PAGES)
			rc = unpack_pages(r, rd, h);
		if (rc == XLMIG_OK)
			rc = hold(r, rd, h);
		if (rc == XLMIG_OK)
			h = NULL;
	}
	held_free(r, h);
	return rc;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct receiver *r = rd->r;
	struct xlmig_chan *ch = xlmig_conn_chan(r->c, rd->idx);
	int rc = XLMIG_OK;

	while (rc == XLMIG_OK && !atomic_load(&r->fail.stop)) {
		wait_for_room(r, rd);
		if (atomic_load(&r->fail.stop))
			break;
		rc = xlmig_xfer_wait_readable(&r->fail, ch);
		if (rc == XLMIG_E_TIMEOUT) {
			rc = XLMIG_OK;
			continue;
		}
		if (rc == XLMIG_OK)
			rc = read_one(r, rd, ch);
	}
	/* Closed between frames: fine if the frames it carried were all;
	 * the decoder finds out (next_frame_lost) if not. */
	if (rc == XLMIG_E_CLOSED) {
		pthread_mutex_lock(&r->lock);
		rd->closed = true;
		pthread_cond_broadcast(&r->arrived);
		pthread_mutex_unlock(&r->lock);
		rc = XLMIG_OK;
	}
	if (rc != XLMIG_OK && !atomic_load(&r->fail.stop)) {
		xlmig_fail_prefix(rc, "while receiving");
		receiver_fail(r, rc);
	}
	return NULL;
}

/* Write iov[0..n) to the consumer (iov is used up), giving up promptly
 * on stop or cancel. */
static int write_iov(struct receiver *r, struct iovec *iov, int n)
{
	while (n) {
		struct pollfd pfd = { .fd = r->out_fd, .events = POLLOUT };
		ssize_t w = xlmig_writev_nosigpipe(r->out_fd, iov, XLMIG_MIN(n, IOV_MAX));

		if (w > 0) {
			for (; n && (size_t)w >= iov->iov_len; n--, iov++)
				w -= (ssize_t)iov->iov_len;
			if (n) {
				iov->iov_base = (uint8_t *)iov->iov_base + w;
				iov->iov_len -= (size_t)w;
			}
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return xlmig_fail(XLMIG_E_IO, "writing the stream to the restore: %s",
					  strerror(errno));
		if (xlmig_xfer_cancelled(r->cancel))
			return xlmig_fail(XLMIG_E_CANCELLED, "migration cancelled");
		if (atomic_load(&r->fail.stop))
			return XLMIG_E_CANCELLED;
		poll(&pfd, 1, POLL_MS);
	}
	return XLMIG_OK;
}

/* Stream bytes as sent: into the digest, to the consumer, counted. */
static int write_out(struct receiver *r, const uint8_t *p, size_t len)
{
	struct iovec one = { .iov_base = (void *)p, .iov_len = len };
	int rc = xlmig_stream_digest_add(r->md, p, len);

	if (rc == XLMIG_OK)
		rc = write_iov(r, &one, 1);
	if (rc == XLMIG_OK)
		atomic_fetch_add(&r->st->stream_bytes, len);
	return rc;
}

/* Decide for one data page of a rebuilt record whether the restore needs
 * its bytes: not for a zero page over a page it was never given content
 * for (that one is zero already), which becomes XALLOC in the entry. */
static bool page_needed(struct receiver *r, uint8_t *entry, const uint8_t *page)
{
	uint64_t e = xlmig_get_le64(entry), pfn = e & XLMIG_PFN_MASK;
	unsigned type = (unsigned)(e >> XLMIG_PFN_TYPE_SHIFT);
	bool zero = xlmig_page_is_zero(page);

	if (zero && type == XLMIG_PFINFO_NOTAB && !xlmig_pfnset_may_hold(r->filled, pfn)) {
		xlmig_put_le64(entry, pfn | (uint64_t)XLMIG_PFINFO_XALLOC << XLMIG_PFN_TYPE_SHIFT);
		return false;
	}
	if (zero)
		xlmig_pfnset_remove(r->filled, pfn);
	else
		xlmig_pfnset_add(r->filled, pfn);   /* one it cannot keep: may_hold says so */
	return true;
}

/* A rebuilt PAGE_DATA record (count entries) to the consumer, its zero
 * pages spared where the restore does not need them (xalloc_zero_pages).
 * The digest and the count are the record as sent; what is written has
 * the spared entries as XALLOC, without their data, and its length says
 * so.  The kept pages go out in place, by writev. */
static int write_sparing_zeros(struct receiver *r, uint32_t count)
{
	uint8_t *rec = r->rec.data, *page = rec + PREFIX_FIXED + 8 * (size_t)count;
	size_t sent_len = r->rec.len;
	uint32_t kept = 0;
	int n = 1, rc = xlmig_stream_digest_add(r->md, rec, sent_len);

	r->iov[0] = (struct iovec){ .iov_base = rec, .iov_len = PREFIX_FIXED + 8 * (size_t)count };
	for (uint32_t i = 0; rc == XLMIG_OK && i < count; i++) {
		uint8_t *entry = rec + PREFIX_FIXED + 8 * (size_t)i;

		if (!xlmig_pfn_type_has_data((unsigned)(xlmig_get_le64(entry) >> XLMIG_PFN_TYPE_SHIFT)))
			continue;
		if (page_needed(r, entry, page)) {
			struct iovec *last = &r->iov[n - 1];

			if (n > 1 && (uint8_t *)last->iov_base + last->iov_len == page)
				last->iov_len += XLMIG_PAGE_SIZE;
			else
				r->iov[n++] = (struct iovec){ .iov_base = page, .iov_len = XLMIG_PAGE_SIZE };
			kept++;
		}
		page += XLMIG_PAGE_SIZE;
	}
	xlmig_put_le32(rec + 4, 8 + 8 * count + kept * XLMIG_PAGE_SIZE);
	if (rc == XLMIG_OK)
		rc = write_iov(r, r->iov, n);
	if (rc == XLMIG_OK)
		atomic_fetch_add(&r->st->stream_bytes, sent_len);
	return rc;
}

static int put_stream(struct receiver *r, const struct xlmig_frame *f)
{
	int rc;

	if (!(f->hdr.flags & XLMIG_WIRE_F_ZSTD))
		return write_out(r, f->payload.data, f->payload.len);
	xlmig_buf_reset(&r->rec);
	rc = inflate(r->zd, f->payload.data, f->payload.len, xlmig_conn_session(r->c)->max_payload,
		     &r->rec);
	return rc == XLMIG_OK ? write_out(r, r->rec.data, r->rec.len) : rc;
}

/* The decoding thread's part: the pages through the delta cache, in
 * order (the whole decode for a frame its reader left packed), after the
 * record's prefix. */
static int put_pages(struct receiver *r, struct held *h)
{
	uint32_t n = 0;
	uint8_t *pages;
	int rc;

	xlmig_buf_reset(&r->rec);
	rc = xlmig_buf_append(&r->rec, h->rec.data, h->rec.len);
	if (rc == XLMIG_OK)
		xlmig_xfer_data_pfns(r->rec.data + PREFIX_FIXED, h->count, r->pfns, &n);
	if (rc == XLMIG_OK && n) {
		pages = xlmig_buf_extend(&r->rec, (size_t)n * XLMIG_PAGE_SIZE);
		if (!pages)
			rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u pages", n);
		else if (h->u)
			rc = xlmig_codec_decode_apply(r->codec, h->u, r->pfns, n, pages,
						      &r->st->codec);
		else
			rc = xlmig_codec_decode(r->codec, h->codec, h->codec_len, r->pfns, n,
						pages, &r->st->codec);
	}
	if (rc == XLMIG_OK && r->filled)
		rc = write_sparing_zeros(r, h->count);
	else if (rc == XLMIG_OK)
		rc = write_out(r, r->rec.data, r->rec.len);
	return rc;
}

static int check_end(struct receiver *r, const struct xlmig_frame *f)
{
	uint8_t want[32];
	uint64_t bytes;
	int rc = xlmig_wire_end_parse(f->payload.data, f->payload.len, want, &bytes);

	if (rc == XLMIG_OK)
		rc = xlmig_stream_digest_end(r->md, r->st->digest);
	if (rc != XLMIG_OK)
		return rc;
	if (bytes != r->st->stream_bytes || memcmp(want, r->st->digest, 32) != 0)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "the rebuilt stream differs from the source's (%llu bytes here, "
				  "%llu there, digests %s): not committing",
				  (unsigned long long)r->st->stream_bytes, (unsigned long long)bytes,
				  memcmp(want, r->st->digest, 32) ? "differ" : "equal");
	return XLMIG_OK;
}

/* True when no channel can still deliver the next frame: each channel's
 * frames come in increasing order, and every channel is closed or past it.
 * Without this check a peer that skips a number would leave the readers
 * waiting for room and the decoder waiting for the frame, for ever. */
static bool next_frame_lost(const struct receiver *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!r->rd[i].closed && (!r->rd[i].any || r->rd[i].last_seq < r->next_seq))
			return false;
	return true;
}

/* The next frame in sequence, waiting for it; NULL with the error. */
static struct held *next_in_order(struct receiver *r, int *rc)
{
	struct held *h = NULL;
	struct timespec ts;

	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->fail.stop) && !(r->heap_len && r->heap[0]->seq == r->next_seq)) {
		if (xlmig_xfer_cancelled(r->cancel) || next_frame_lost(r)) {
			*rc = xlmig_xfer_cancelled(r->cancel)
			      ? xlmig_fail(XLMIG_E_CANCELLED, "migration cancelled")
			      : xlmig_fail(XLMIG_E_TRUNCATED,
					   "frame %llu never came: the source skipped it or "
					   "closed the connection", (unsigned long long)r->next_seq);
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
		ts = xlmig_deadline_ms(POLL_MS);
		pthread_cond_timedwait(&r->arrived, &r->lock, &ts);
	}
	if (!atomic_load(&r->fail.stop)) {
		h = heap_pop(r);
		r->held_bytes -= held_cost(h);
		r->next_seq++;
		pthread_cond_broadcast(&r->consumed);
	}
	pthread_mutex_unlock(&r->lock);
	*rc = h ? XLMIG_OK : XLMIG_E_CANCELLED;
	return h;
}

/* How often the source hears how much of the stream the restore has
 * been given (PROGRESS, when the session has it). */
#define PROGRESS_EVERY (1u << 20)

/* Tell the source every PROGRESS_EVERY bytes, and whenever the next frame
 * is not here yet: the source may have ended a pass and be waiting to see
 * all of it taken before it stops the guest.  Advice only: a source that
 * hung up once END was out must not fail the transfer here, so a report
 * that cannot be sent ends the reports, not the stream. */
static void report_progress(struct receiver *r)
{
	uint64_t now = atomic_load(&r->st->stream_bytes);
	bool waiting;

	if (now == r->reported || r->no_progress || !xlmig_conn_has_progress(r->c))
		return;
	pthread_mutex_lock(&r->lock);
	waiting = !(r->heap_len && r->heap[0]->seq == r->next_seq);
	pthread_mutex_unlock(&r->lock);
	if (!waiting && now - r->reported < PROGRESS_EVERY)
		return;
	r->reported = now;
	if (xlmig_conn_send_progress(r->c, now, xlmig_conn_opts(r->c)->io_timeout_ms) != XLMIG_OK) {
		xlmig_debug("no more progress reports to the source: %s", xlmig_errmsg());
		r->no_progress = true;
	}
}

static int decode_all(struct receiver *r)
{
	bool end = false;
	int rc = XLMIG_OK;

	while (rc == XLMIG_OK && !end) {
		struct held *h = next_in_order(r, &rc);

		if (!h)
			break;
		r->st->frames++;
		switch (h->f.hdr.type) {
		case XLMIG_FRAME_STREAM:
			r->st->frames_stream++;
			rc = put_stream(r, &h->f);
			break;
		case XLMIG_FRAME_PAGES:
			r->st->frames_pages++;
			rc = put_pages(r, h);
			break;
		default:
			rc = check_end(r, &h->f);
			end = true;
			break;
		}
		if (rc == XLMIG_OK && !end)
			report_progress(r);
		if (rc != XLMIG_OK)
			xlmig_fail_prefix(rc, "frame %llu", (unsigned long long)h->seq);
		held_free(r, h);
	}
	if (rc == XLMIG_OK && r->heap_len)
		rc = xlmig_fail(XLMIG_E_FORMAT, "the source sent frames after END");
	return rc;
}

static int receiver_setup(struct receiver *r)
{
	int rc = XLMIG_OK;

	r->n = xlmig_conn_channels(r->c);
	rc = xlmig_xfer_failure_init(&r->fail);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->arrived, NULL);
	pthread_cond_init(&r->consumed, NULL);
	/* One spare: their pages stay resident outside the reorder bound's
	 * count. */
	xlmig_objpool_init(&r->spares, 1, unpacked_free);
	r->unpack_in_readers = xlmig_xfer_coders(&r->o, r->n) >= 2;
	if (rc != XLMIG_OK)
		return rc;
	r->codec = xlmig_xfer_codec_for(r->c, 0);
	r->zd = ZSTD_createDCtx();
	r->pool = xlmig_bufpool_new();
	if (!r->codec || !r->zd || !r->pool)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream decoder");
	r->out_flags = fcntl(r->out_fd, F_GETFL);
	if (r->out_flags < 0 || fcntl(r->out_fd, F_SETFL, r->out_flags | O_NONBLOCK) < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot use fd %d for the stream: %s", r->out_fd,
				  strerror(errno));
	rc = xlmig_xfer_digest_for(r->c, &r->md, &r->st->digest_kind);
	if (rc == XLMIG_OK && r->o.xalloc_zero_pages)
		rc = xlmig_pfnset_new(&r->filled);
	for (unsigned i = 0; i < r->n && rc == XLMIG_OK; i++) {
		r->rd[i].r = r;
		r->rd[i].idx = i;
		r->rd[i].zd = ZSTD_createDCtx();
		r->rd[i].z = xlmig_codec_dctx_new();
		if (!r->rd[i].zd || !r->rd[i].z)
			rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a channel's decoder");
		else if (pthread_create(&r->rd[i].thread, NULL, reader_main, &r->rd[i]) != 0)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start a channel reader thread");
		else
			r->rd[i].started = true;
	}
	return rc;
}

static void receiver_stop(struct receiver *r, int rc)
{
	bool peer_failed = rc == XLMIG_E_PEER || rc == XLMIG_E_AUTH ||
			   (rc == XLMIG_E_CANCELLED && !xlmig_xfer_cancelled(r->cancel));

	pthread_mutex_lock(&r->lock);
	atomic_store(&r->fail.stop, true);
	pthread_cond_broadcast(&r->consumed);
	pthread_mutex_unlock(&r->lock);
	xlmig_xfer_wake(&r->fail);
	if (rc != XLMIG_OK) {
		if (!peer_failed)
			xlmig_conn_report_failure(r->c, rc);
		xlmig_conn_interrupt(r->c);
	}
	for (unsigned i = 0; i < r->n; i++)
		if (r->rd[i].started)
			pthread_join(r->rd[i].thread, NULL);
}

static void receiver_free(void *arg)
{
	struct receiver *r = arg;

	while (r->heap_len)
		held_free(r, heap_pop(r));
	free(r->heap);
	for (unsigned i = 0; i < r->n; i++) {
		ZSTD_freeDCtx(r->rd[i].zd);
		xlmig_codec_dctx_free(r->rd[i].z);
	}
	xlmig_objpool_destroy(&r->spares);
	xlmig_codec_free(r->codec);
	ZSTD_freeDCtx(r->zd);
	xlmig_bufpool_free(r->pool);
	xlmig_stream_digest_free(r->md);
	xlmig_pfnset_free(r->filled);
	xlmig_buf_free(&r->rec);
	pthread_cond_destroy(&r->arrived);
	pthread_cond_destroy(&r->consumed);
	pthread_mutex_destroy(&r->lock);
	xlmig_xfer_failure_destroy(&r->fail);
	free(r);
}

int xlmig_xfer_recv(struct xlmig_conn *c, int out_fd, const struct xlmig_xfer_opts *o,
		    struct xlmig_xfer_stats *stats, const atomic_bool *cancel)
{
	struct receiver *r = calloc(1, sizeof(*r));
	uint64_t start = xlmig_now_ns(), base[XLMIG_MAX_CHANNELS] = { 0 };
	int rc;

	if (!r)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the transfer");
	memset(stats, 0, sizeof(*stats));
	r->c = c;
	r->o = *o;
	r->st = stats;
	r->cancel = cancel;
	r->out_fd = out_fd;
	r->out_flags = -1;
	xlmig_xfer_chan_counters(c, false, base);
	rc = receiver_setup(r);
	if (rc == XLMIG_OK)
		rc = decode_all(r);
	if (rc != XLMIG_OK)
		xlmig_xfer_failure_set(&r->fail, rc);
	rc = xlmig_xfer_failure_raise(&r->fail);
	receiver_stop(r, rc);
	rc = xlmig_xfer_failure_raise(&r->fail);
	stats->elapsed_ns = xlmig_now_ns() - start;
	xlmig_xfer_fill_chan_stats(c, stats, false, base);
	/* The output fd is the caller's again before the transfer returns
	 * (it may close it at once); the rest may be freed later. */
	if (r->out_flags >= 0)
		fcntl(r->out_fd, F_SETFL, r->out_flags);
	xlmig_xfer_spend(o, receiver_free, r);
	return rc;
}
