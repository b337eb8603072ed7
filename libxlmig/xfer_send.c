/*
 * xfer_send.c - the sending half of a stream transfer: the producer's
 * stream in, numbered frames striped over the channels (see xfer.h).
 */
#include "bufpool.h"
#include "fault.h"
#include "xfer_private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <zstd.h>

#define READ_CHUNK       (1u << 20)
#define DRAIN_MS         1000         /* a stopping writer's time to finish its frame */

/* A queued frame.  A PAGES frame's pages may still be pending: the
 * channel's writer finishes their coding (codec.h) before it sends. */
struct qframe {
	struct qframe *next;
	struct xlmig_frame_hdr h;      /* len set once the payload is whole */
	struct xlmig_buf payload;      /* back to the pool once sent */
	size_t high;                   /* what its buffers may pin: bufpool.h */
	struct xlmig_codec_pending *pend;   /* pages to code and append */
	uint64_t counted;              /* what backlog_bytes counts for it */
};

struct sender;

struct writer {
	struct sender *s;
	unsigned idx;
	struct xlmig_codec_zctx *z;    /* for the pages it finishes */
	uint64_t batches;              /* pages frames it finished */
	pthread_t thread;
	bool started, joined;
	struct qframe *head, *tail;
	size_t queued;
};

struct sender {
	struct xlmig_conn *c;
	struct xlmig_xfer_opts o;
	struct xlmig_xfer_stats *st;
	const atomic_bool *cancel;
	struct xlmig_xfer_failure fail;

	pthread_mutex_t lock;          /* queues */
	pthread_cond_t changed;
	struct writer w[XLMIG_MAX_CHANNELS];
	unsigned n;
	bool closing;                  /* no more frames will be queued */
	unsigned rr;

	pthread_t watcher;
	bool watcher_started;
	atomic_bool watch_done;

	struct xlmig_parser *parser;
	struct xlmig_codec *codec;
	struct xlmig_bufpool *pool;    /* sent frames' buffers, for the next */
	struct xlmig_objpool spares;   /* finished pending frames, for the next */
	unsigned pending_live, pending_max;   /* in use (under lock), and the most */
	struct xlmig_adapt adapt;      /* each batch's encoding */
	bool code_in_writers;          /* compressed batches finished by writers */
	ZSTD_CCtx *zc;
	int level;
	bool zstd;
	struct xlmig_stream_digest *md;
	uint64_t seq;
	struct xlmig_buf pending;      /* STREAM bytes not yet framed */
	size_t pending_high;           /* what its buffer may pin */
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
};

/* A pending frame for the next batch (a spare one, pages and all),
 * once fewer than pending_max are in use: each holds a batch's pages,
 * and more than the encoders can work on at once only held memory
 * (15-20 MiB more of the source's in make bench's dirty runs).  NULL
 * when the transfer stops meanwhile. */
static struct xlmig_codec_pending *pending_get(struct sender *s)
{
	struct xlmig_codec_pending *p;

	pthread_mutex_lock(&s->lock);
	while (s->pending_live >= s->pending_max && !atomic_load(&s->fail.stop))
		pthread_cond_wait(&s->changed, &s->lock);
	if (atomic_load(&s->fail.stop)) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	s->pending_live++;
	pthread_mutex_unlock(&s->lock);
	p = xlmig_objpool_get(&s->spares);
	if (!p)
		p = xlmig_codec_pending_new();
	if (!p) {
		pthread_mutex_lock(&s->lock);
		s->pending_live--;
		pthread_mutex_unlock(&s->lock);
	}
	return p;
}

static void pending_put(struct sender *s, struct xlmig_codec_pending *p)
{
	if (!p)
		return;
	xlmig_objpool_put(&s->spares, p);
	pthread_mutex_lock(&s->lock);
	s->pending_live--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void pending_free(void *p)
{
	xlmig_codec_pending_free(p);
}

static void qframe_free(struct sender *s, struct qframe *q)
{
	if (q) {
		xlmig_bufpool_put(s->pool, &q->payload, q->high);
		pending_put(s, q->pend);
		free(q);
	}
}

/* The channel with the least queued, scanning from the one after the last
 * choice so that ties (idle links) rotate over every channel. */
static unsigned pick_writer(struct sender *s)
{
	unsigned best = s->rr % s->n;

	for (unsigned k = 1; k < s->n && !s->o.round_robin; k++) {
		unsigned i = (s->rr + k) % s->n;

		if (s->w[i].queued < s->w[best].queued)
			best = i;
	}
	s->rr = best + 1;
	return best;
}

/* What a pending frame's pages will likely take on the wire, for the
 * backlog: their bytes now at the ratio the adaptation last saw. */
static uint64_t pending_estimate(struct sender *s, const struct xlmig_codec_pending *p)
{
	double q = xlmig_adapt_ratio(&s->adapt, xlmig_codec_pending_level(p));

	return (uint64_t)((double)xlmig_codec_pending_held(p) / (q >= 1 ? q : 1));
}

/* Queue a frame (payload and pend, which may be NULL, taken over; high
 * as bufpool.h says); chan < 0 lets the striping choose.  Waits while
 * the chosen queue is full: the queue's bound counts what each buffer
 * may pin, at least its frame. */
static int enqueue(struct sender *s, uint8_t type, uint8_t flags, struct xlmig_buf *payload,
		   size_t high, struct xlmig_codec_pending **pend, int chan)
{
	struct qframe *q = calloc(1, sizeof(*q));
	struct writer *w;
	int rc = XLMIG_OK;

	if (!q) {
		if (pend)
			pending_put(s, *pend), *pend = NULL;
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a frame");
	}
	q->h = (struct xlmig_frame_hdr){ .type = type, .flags = flags,
					 .len = (uint32_t)payload->len, .seq = s->seq };
	q->payload = *payload;
	q->high = XLMIG_MAX(high, payload->len);
	q->counted = payload->len;
	*payload = (struct xlmig_buf){ 0 };
	if (pend && *pend) {
		q->pend = *pend;
		*pend = NULL;
		q->high += xlmig_codec_pending_held(q->pend);
		q->counted += pending_estimate(s, q->pend);
	}
	pthread_mutex_lock(&s->lock);
	for (;;) {
		w = &s->w[chan >= 0 ? (unsigned)chan : pick_writer(s)];
		if (atomic_load(&s->fail.stop) || w->queued == 0 ||
		    w->queued + q->high <= s->o.queue_bytes)
			break;
		pthread_cond_wait(&s->changed, &s->lock);
	}
	if (atomic_load(&s->fail.stop)) {
		rc = XLMIG_E_CANCELLED;
	} else {
		if (w->tail)
			w->tail->next = q;
		else
			w->head = q;
		w->tail = q;
		w->queued += q->high;
		atomic_fetch_add(&s->st->backlog_bytes, q->counted);
		q = NULL;
		s->seq++;
		s->st->frames++;
		pthread_cond_broadcast(&s->changed);
	}
	pthread_mutex_unlock(&s->lock);
	qframe_free(s, q);
	return rc;
}

static struct qframe *next_frame(struct sender *s, struct writer *w)
{
	struct qframe *q = NULL;

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->fail.stop) && !w->head && !s->closing)
		pthread_cond_wait(&s->changed, &s->lock);
	if (!atomic_load(&s->fail.stop) && w->head) {
		q = w->head;
		w->head = q->next;
		if (!w->head)
			w->tail = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return q;
}

static void frame_done(struct sender *s, struct writer *w, const struct qframe *q)
{
	pthread_mutex_lock(&s->lock);
	w->queued -= q->high;
	atomic_fetch_sub(&s->st->backlog_bytes, q->counted);
	atomic_fetch_add(&s->st->wire_bytes, XLMIG_WIRE_HDR_LEN + q->payload.len);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* What a coded batch cost, to the adaptation and the stats. */
static void account_batch(struct sender *s, int level, const struct xlmig_codec_stats *cs,
			  uint64_t wall_ns)
{
	xlmig_adapt_batch(&s->adapt, level, cs->data_in, cs->data_out, wall_ns, cs->cpu_ns,
			  cs->bytes_in, cs->bytes_out);
	pthread_mutex_lock(&s->lock);
	xlmig_codec_stats_add(&s->st->codec, cs);
	pthread_mutex_unlock(&s->lock);
}

/* a - b, or 0 where b is the larger (two clocks read apart). */
static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* A PAGES frame the session's limit lets through, whichever thread
 * finished coding it. */
static int check_pages_frame(const struct sender *s, size_t len)
{
	if (len > xlmig_conn_session(s->c)->max_payload)
		return xlmig_fail(XLMIG_E_LIMIT, "a PAGES frame of %zu bytes is over the limit",
				  len);
	return XLMIG_OK;
}

/* Code a frame's pending pages onto its payload, on this writer's
 * thread (so channels code side by side), and tell the adaptation what
 * it cost.  The frame's backlog figure becomes its real size. */
static int finish_pages(struct sender *s, struct writer *w, struct qframe *q)
{
	struct xlmig_codec_stats cs = { 0 };
	int level = xlmig_codec_pending_level(q->pend);
	uint64_t t0 = xlmig_now_ns(), cpu0 = xlmig_thread_cpu_ns(), counted = q->counted;
	uint64_t wall, begun_cpu;
	int rc;

	rc = xlmig_codec_encode_finish(q->pend, w->z, &q->payload, &cs);
	if (rc == XLMIG_OK)
		rc = check_pages_frame(s, q->payload.len);
	if (rc != XLMIG_OK)
		return rc;
	/* The batch's time: this step's, and the first step's CPU time (on
	 * the reading thread, taken as its wall-clock time too). */
	wall = xlmig_now_ns() - t0;
	begun_cpu = sat_sub(cs.cpu_ns, xlmig_thread_cpu_ns() - cpu0);
	account_batch(s, level, &cs, wall + begun_cpu);
	q->h.len = (uint32_t)q->payload.len;
	q->counted = q->payload.len;
	atomic_fetch_add(&s->st->backlog_bytes, q->counted);
	atomic_fetch_sub(&s->st->backlog_bytes, counted);
	pending_put(s, q->pend);
	q->pend = NULL;
	w->batches++;
	return XLMIG_OK;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct sender *s = w->s;
	struct xlmig_chan *ch = xlmig_conn_chan(s->c, w->idx);
	struct qframe *q;
	uint64_t waited;
	int rc = XLMIG_OK;

	while (rc == XLMIG_OK && (q = next_frame(s, w))) {
		uint8_t hdr[XLMIG_WIRE_HDR_LEN];
		struct iovec iov[2] = {
			{ .iov_base = hdr, .iov_len = XLMIG_WIRE_HDR_LEN },
			{ 0 },
		};

		if (q->pend)
			rc = finish_pages(s, w, q);
		if (rc != XLMIG_OK) {
			qframe_free(s, q);
			break;
		}
		xlmig_wire_hdr_encode(hdr, &q->h);
		iov[1] = (struct iovec){ .iov_base = q->payload.data, .iov_len = q->payload.len };
		waited = xlmig_thread_wait_ns();
		xlmig_adapt_link_begin(&s->adapt);
		rc = xlmig_ratelimit_take(xlmig_conn_ratelimit(s->c),
					  XLMIG_WIRE_HDR_LEN + q->payload.len, &s->fail.stop);
		if (rc == XLMIG_OK)
			rc = xlmig_chan_writev(ch, iov, 2, xlmig_conn_opts(s->c)->io_timeout_ms);
		xlmig_adapt_link_end(&s->adapt,
				     rc == XLMIG_OK ? XLMIG_WIRE_HDR_LEN + q->payload.len : 0,
				     sat_sub(xlmig_thread_wait_ns(), waited));
		atomic_store(&s->st->link_Bps, (uint64_t)xlmig_adapt_link_bps(&s->adapt));
		if (rc == XLMIG_OK)
			frame_done(s, w, q);
		qframe_free(s, q);
	}
	if (rc != XLMIG_OK) {
		xlmig_xfer_failure_set(&s->fail, rc);
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Channel 0's incoming side while sending: the destination's ERROR/ABORT
 * stops the transfer; CTRL and SIDE go to the session. */
static void *watcher_main(void *arg)
{
	struct sender *s = arg;
	struct xlmig_chan *ch = xlmig_conn_chan(s->c, 0);
	const struct xlmig_handshake_session *sess = xlmig_conn_session(s->c);
	int io_ms = xlmig_conn_opts(s->c)->io_timeout_ms;
	struct xlmig_frame f = { 0 };
	int rc = XLMIG_OK;

	while (rc == XLMIG_OK && !atomic_load(&s->watch_done) && !atomic_load(&s->fail.stop)) {
		rc = xlmig_xfer_wait_readable(&s->fail, ch);
		if (rc == XLMIG_E_TIMEOUT) {
			rc = XLMIG_OK;
			continue;
		}
		if (rc == XLMIG_OK)
			rc = xlmig_wire_recv(ch, sess->max_payload, io_ms, io_ms, &f);
		if (rc == XLMIG_OK)
			rc = xlmig_conn_dispatch(s->c, &f);
	}
	/* A closed connection is not a failure by itself: all may have been
	 * sent, and if not, the writers find out. */
	if (rc != XLMIG_OK && rc != XLMIG_E_CLOSED && !atomic_load(&s->fail.stop)) {
		xlmig_fail_prefix(rc, "while sending");
		xlmig_xfer_failure_set(&s->fail, rc);
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
	}
	xlmig_frame_free(&f);
	return NULL;
}

/* Compress src into out as le32 raw length + zstd frame; false (out
 * unchanged) when that would not be smaller. */
static bool zblob_compress(struct sender *s, const uint8_t *src, size_t len, struct xlmig_buf *out)
{
	size_t bound = ZSTD_compressBound(len), n;
	size_t mark = out->len;
	uint8_t *p;

	if (!s->zstd || len < 64)
		return false;
	p = xlmig_buf_extend(out, 4 + bound);
	if (!p)
		return false;
	n = ZSTD_compressCCtx(s->zc, p + 4, bound, src, len, s->level);
	if (ZSTD_isError(n) || 4 + n >= len) {
		out->len = mark;
		return false;
	}
	xlmig_put_le32(p, (uint32_t)len);
	out->len = mark + 4 + n;
	return true;
}

static int flush_stream(struct sender *s)
{
	struct xlmig_buf payload;
	size_t high;
	uint8_t flags = 0;
	int rc;

	if (!s->pending.len)
		return XLMIG_OK;
	high = xlmig_bufpool_get(s->pool, &payload);
	if (zblob_compress(s, s->pending.data, s->pending.len, &payload)) {
		flags = XLMIG_WIRE_F_ZSTD;
	} else {
		/* The bytes go as they are: pending's buffer becomes the
		 * frame and the pool's collects the next chunk. */
		struct xlmig_buf spare = payload;
		size_t spare_high = high;

		payload = s->pending;
		high = XLMIG_MAX(s->pending_high, payload.len);
		s->pending = spare;
		s->pending_high = spare_high;
	}
	xlmig_buf_reset(&s->pending);
	rc = enqueue(s, XLMIG_FRAME_STREAM, flags, &payload, high, NULL, -1);
	xlmig_bufpool_put(s->pool, &payload, high);
	if (rc == XLMIG_OK)
		s->st->frames_stream++;
	return rc;
}

static int add_stream_bytes(struct sender *s, const uint8_t *p, size_t len)
{
	size_t chunk = XLMIG_MIN(s->o.stream_chunk, (size_t)xlmig_conn_session(s->c)->max_payload - 4);
	int rc = XLMIG_OK;

	while (len && rc == XLMIG_OK) {
		size_t take = XLMIG_MIN(len, chunk - s->pending.len);

		rc = xlmig_buf_append(&s->pending, p, take);
		p += take;
		len -= take;
		if (rc == XLMIG_OK && s->pending.len >= chunk)
			rc = flush_stream(s);
	}
	return rc;
}

/* A PAGE_DATA record laid out exactly as header, pfn array, pages, so
 * that prefix + decoded pages gives its bytes back; anything else travels
 * as plain stream bytes. */
static bool pages_layout_ok(const struct xlmig_item *it, uint32_t *prefix_len)
{
	uint32_t count = it->u.page.count, pages = it->u.page.data_pages;

	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA ||
	    count == 0 || count > XLMIG_MAX_PAGES_PER_RECORD || pages > count ||
	    it->raw_len < PREFIX_FIXED)
		return false;
	*prefix_len = PREFIX_FIXED + 8 * count;
	return it->raw_len == *prefix_len + (size_t)pages * XLMIG_PAGE_SIZE &&
	       xlmig_get_le32(it->raw + 4) == it->raw_len - XLMIG_RECORD_HDR_LEN &&
	       it->u.page.pfns == it->raw + PREFIX_FIXED &&
	       (pages == 0 || it->u.page.data == it->raw + *prefix_len);
}

/* Begin coding n pages with the encoding the measurements favour now;
 * a channel's writer finishes them (finish_pages). */
static int begin_batch(struct sender *s, const uint8_t *pages, uint32_t n,
		       struct xlmig_buf *payload, struct xlmig_codec_pending **pend)
{
	int level = xlmig_adapt_choose(&s->adapt);
	int rc = xlmig_codec_set_level(s->codec, level);

	/* Raw pages are coded at once: a copy either way, and leaving it to
	 * the writer would add one (the pending frame's own copy).  So are
	 * all when one thread codes (xlmig_xfer_opts.coding_threads). */
	if (rc == XLMIG_OK && (level == 0 || !s->code_in_writers)) {
		struct xlmig_codec_stats cs = { 0 };
		uint64_t t0 = xlmig_now_ns();

		rc = xlmig_codec_encode(s->codec, s->pfns, pages, n, payload, &cs);
		if (rc == XLMIG_OK)
			account_batch(s, level, &cs, xlmig_now_ns() - t0);
		return rc;
	}
	*pend = rc == XLMIG_OK ? pending_get(s) : NULL;
	if (rc == XLMIG_OK && !*pend)
		rc = atomic_load(&s->fail.stop) ? XLMIG_E_CANCELLED : XLMIG_E_NOMEM;
	if (rc == XLMIG_OK)
		rc = xlmig_codec_encode_begin(s->codec, s->pfns, pages, n, *pend);
	if (rc != XLMIG_OK) {
		pending_put(s, *pend);
		*pend = NULL;
	}
	return rc;
}

static int send_pages(struct sender *s, const struct xlmig_item *it, uint32_t prefix_len)
{
	struct xlmig_codec_pending *pend = NULL;
	struct xlmig_buf payload;
	size_t high;
	uint32_t n, stored;
	bool z;
	int rc;

	XLMIG_FAULT(XLMIG_FAULT_PRECOPY1, s->cancel);
	xlmig_xfer_data_pfns(it->u.page.pfns, it->u.page.count, s->pfns, &n);
	if (n != it->u.page.data_pages)
		return add_stream_bytes(s, it->raw, it->raw_len);
	high = xlmig_bufpool_get(s->pool, &payload);
	rc = flush_stream(s);
	/* The whole frame's room now, on this thread: a writer that grew the
	 * buffer would take the memory from its own malloc arena, and each
	 * writer's arena kept what it freed (the source's private memory
	 * grew by 30-40 MiB over a few migrations). */
	if (rc == XLMIG_OK && n)
		rc = xlmig_buf_reserve(&payload, XLMIG_WIRE_PAGES_HDR + prefix_len +
				       xlmig_codec_frame_bound(n));
	if (rc == XLMIG_OK)
		rc = xlmig_wire_pages_hdr_build(&payload, prefix_len, 0, n);
	if (rc != XLMIG_OK)
		goto out;
	z = zblob_compress(s, it->raw, prefix_len, &payload);
	if (!z)
		rc = xlmig_buf_append(&payload, it->raw, prefix_len);
	stored = (uint32_t)(payload.len - XLMIG_WIRE_PAGES_HDR);
	if (rc == XLMIG_OK && n)
		rc = begin_batch(s, it->u.page.data, n, &payload, &pend);
	if (rc != XLMIG_OK)
		goto out;
	xlmig_put_le32(payload.data + 4, stored);
	rc = check_pages_frame(s, payload.len);
	if (rc == XLMIG_OK)
		rc = enqueue(s, XLMIG_FRAME_PAGES, z ? XLMIG_WIRE_F_ZSTD : 0, &payload, high, &pend, -1);
	if (rc == XLMIG_OK)
		s->st->frames_pages++;
out:
	pending_put(s, pend);   /* NULL once enqueue took it */
	xlmig_bufpool_put(s->pool, &payload, high);
	return rc;
}

static int on_item(void *opaque, const struct xlmig_item *it)
{
	struct sender *s = opaque;
	uint32_t prefix_len;

	if (pages_layout_ok(it, &prefix_len))
		return send_pages(s, it, prefix_len);
	return add_stream_bytes(s, it->raw, it->raw_len);
}

static int send_end(struct sender *s)
{
	struct xlmig_buf payload = { 0 };
	int rc = flush_stream(s);

	if (rc == XLMIG_OK)
		rc = xlmig_stream_digest_end(s->md, s->st->digest);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_end_build(&payload, s->st->digest, s->st->stream_bytes);
	XLMIG_FAULT(XLMIG_FAULT_DIGEST, s->cancel);
	/* On channel 0, after any side record the caller sent there, so the
	 * destination has them all when it sees END. */
	if (rc == XLMIG_OK)
		rc = enqueue(s, XLMIG_FRAME_END, 0, &payload, 0, NULL, 0);
	xlmig_buf_free(&payload);
	return rc;
}

/* Wait for readable input, looking at stop and cancel in between. */
static int wait_input(struct sender *s, int fd)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		if (xlmig_xfer_cancelled(s->cancel))
			return xlmig_fail(XLMIG_E_CANCELLED, "migration cancelled");
		if (atomic_load(&s->fail.stop))
			return XLMIG_E_CANCELLED;
		n = poll(&pfd, 1, POLL_MS);
		if (n > 0)
			return XLMIG_OK;
		if (n < 0 && errno != EINTR)
			return xlmig_fail(XLMIG_E_IO, "poll on the stream: %s", strerror(errno));
	}
}

/* The END frame goes out as soon as the stream's final END is parsed,
 * not at end of input: what the producer does after writing it (a save
 * unmapping guest memory, telling its hypervisor the save is over) is
 * inside the downtime window otherwise.  Input is still read to its end,
 * and bytes after END fail the transfer (the parser refuses them) before
 * anything commits; with stop_at_end the caller reads that end itself. */
static int pump_stream(struct sender *s, int fd)
{
	uint8_t *buf = malloc(READ_CHUNK);
	int rc = buf ? XLMIG_OK : xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream");
	bool ended = false;

	while (rc == XLMIG_OK) {
		ssize_t n;

		rc = wait_input(s, fd);
		if (rc != XLMIG_OK)
			break;
		n = read(fd, buf, READ_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = xlmig_fail(XLMIG_E_IO, "reading the stream: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = xlmig_parser_finish(s->parser);
			if (rc != XLMIG_OK)
				xlmig_fail_prefix(rc, "the stream from the hypervisor ended early");
			break;
		}
		rc = xlmig_stream_digest_add(s->md, buf, (size_t)n);
		if (rc == XLMIG_OK) {
			atomic_fetch_add(&s->st->stream_bytes, (uint64_t)n);
			rc = xlmig_parser_feed(s->parser, buf, (size_t)n);
		}
		if (rc == XLMIG_OK && !ended && xlmig_parser_done(s->parser)) {
			ended = true;
			rc = send_end(s);
			/* The caller reads what follows (and fails on it). */
			if (s->o.stop_at_end)
				break;
		}
	}
	free(buf);
	if (rc == XLMIG_OK && !ended)
		rc = send_end(s);
	return rc;
}

static int sender_setup(struct sender *s)
{
	const struct xlmig_conn_opts *co = xlmig_conn_opts(s->c);
	unsigned encoders;
	int rc;

	s->n = xlmig_conn_channels(s->c);
	rc = xlmig_xfer_failure_init(&s->fail);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	/* One spare: each holds megabytes, and the queues already bound
	 * how many are in use (more spares kept the source's private
	 * memory 15-20 MiB higher in make bench's dirty runs). */
	xlmig_objpool_init(&s->spares, 1, pending_free);
	if (rc != XLMIG_OK)
		return rc;
	s->level = s->o.zstd_level ? s->o.zstd_level
		   : co->zstd_level ? co->zstd_level : XLMIG_CODEC_DEFAULT_LEVEL;
	s->zstd = (xlmig_conn_session(s->c)->features & XLMIG_FEAT_ZSTD) != 0;
	s->codec = xlmig_xfer_codec_for(s->c, s->level);
	/* An explicit level caps the adaptation; the default lets it go up
	 * to the highest candidate. */
	xlmig_adapt_init(&s->adapt, s->zstd,
			 s->o.zstd_level ? s->o.zstd_level : co->zstd_level);
	/* Channels' writers code side by side on the CPUs the reading
	 * thread leaves; one batch more than they code at once waits. */
	encoders = xlmig_xfer_coders(&s->o, s->n);
	s->code_in_writers = encoders >= 2;
	xlmig_adapt_set_encoders(&s->adapt, encoders);
	s->pending_max = encoders + 1;
	s->zc = ZSTD_createCCtx();
	s->parser = xlmig_parser_new(on_item, s);
	s->pool = xlmig_bufpool_new();
	if (!s->codec || !s->zc || !s->parser || !s->pool)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream encoder");
	if (s->o.stream_chunk == 0 || s->o.queue_bytes == 0)
		return xlmig_fail(XLMIG_E_INVAL, "transfer queue and chunk sizes must be positive");
	rc = xlmig_xfer_digest_for(s->c, &s->md, &s->st->digest_kind);
	for (unsigned i = 0; i < s->n && rc == XLMIG_OK; i++) {
		s->w[i].s = s;
		s->w[i].idx = i;
		s->w[i].z = xlmig_codec_zctx_new();
		if (!s->w[i].z)
			rc = XLMIG_E_NOMEM;
		else if (pthread_create(&s->w[i].thread, NULL, writer_main, &s->w[i]) != 0)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start a channel writer thread");
		else
			s->w[i].started = true;
	}
	if (rc == XLMIG_OK) {
		if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start the channel watcher thread");
		else
			s->watcher_started = true;
	}
	return rc;
}

/* Let the writers finish what they are writing (frames are whole on the
 * wire) for a moment, so the destination can be told why we stop. */
static bool writers_drained(struct sender *s, int ms)
{
	struct timespec ts = xlmig_deadline_ms(ms);
	bool all = true;

	for (unsigned i = 0; i < s->n; i++) {
		struct writer *w = &s->w[i];

		if (w->started && !w->joined && pthread_timedjoin_np(w->thread, NULL, &ts) == 0)
			w->joined = true;
		all = all && (!w->started || w->joined);
	}
	return all;
}

static void sender_stop(struct sender *s, int rc)
{
	bool peer_failed = rc == XLMIG_E_PEER || rc == XLMIG_E_AUTH ||
			   (rc == XLMIG_E_CANCELLED && !xlmig_xfer_cancelled(s->cancel));

	pthread_mutex_lock(&s->lock);
	if (rc == XLMIG_OK)
		s->closing = true;
	else
		atomic_store(&s->fail.stop, true);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	if (rc != XLMIG_OK) {
		if (writers_drained(s, DRAIN_MS) && !peer_failed)
			xlmig_conn_report_failure(s->c, rc);
		xlmig_conn_interrupt(s->c);
	}
	for (unsigned i = 0; i < s->n; i++)
		if (s->w[i].started && !s->w[i].joined)
			pthread_join(s->w[i].thread, NULL);
	atomic_store(&s->watch_done, true);
	xlmig_xfer_wake(&s->fail);
	if (s->watcher_started)
		pthread_join(s->watcher, NULL);
}

static void sender_free(void *arg)
{
	struct sender *s = arg;

	for (unsigned i = 0; i < s->n; i++) {
		while (s->w[i].head) {
			struct qframe *q = s->w[i].head;

			s->w[i].head = q->next;
			qframe_free(s, q);
		}
		xlmig_codec_zctx_free(s->w[i].z);
	}
	xlmig_objpool_destroy(&s->spares);
	xlmig_parser_free(s->parser);
	xlmig_codec_free(s->codec);
	xlmig_adapt_destroy(&s->adapt);
	ZSTD_freeCCtx(s->zc);
	xlmig_stream_digest_free(s->md);
	xlmig_buf_free(&s->pending);
	xlmig_bufpool_free(s->pool);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	xlmig_xfer_failure_destroy(&s->fail);
	free(s);
}

int xlmig_xfer_send(struct xlmig_conn *c, int stream_fd, const struct xlmig_xfer_opts *o,
		    struct xlmig_xfer_stats *stats, const atomic_bool *cancel)
{
	struct sender *s = calloc(1, sizeof(*s));
	uint64_t start = xlmig_now_ns(), base[XLMIG_MAX_CHANNELS] = { 0 };
	int rc, failed;

	if (!s)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the transfer");
	memset(stats, 0, sizeof(*stats));
	s->c = c;
	s->o = *o;
	s->st = stats;
	s->cancel = cancel;
	xlmig_xfer_chan_counters(c, true, base);
	rc = sender_setup(s);
	if (rc == XLMIG_OK)
		rc = pump_stream(s, stream_fd);
	if (rc != XLMIG_OK)
		xlmig_xfer_failure_set(&s->fail, rc);
	/* A worker's failure comes first: the pump only saw the stop it caused. */
	failed = xlmig_xfer_failure_raise(&s->fail);
	sender_stop(s, failed);
	rc = xlmig_xfer_failure_raise(&s->fail);
	stats->elapsed_ns = xlmig_now_ns() - start;
	xlmig_xfer_fill_chan_stats(c, stats, true, base);
	xlmig_adapt_stats(&s->adapt, &stats->adapt);
	for (unsigned i = 0; i < s->n; i++)
		stats->coding_threads += s->w[i].batches > 0;
	xlmig_xfer_spend(o, sender_free, s);
	return rc;
}
