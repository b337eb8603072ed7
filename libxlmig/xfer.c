/*
 * xfer.c - the send and receive pipelines of a stream transfer.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <zstd.h>

#include "stream.h"
#include "xfer.h"

#define POLL_MS          50           /* how often blocked loops look at stop/cancel */
#define READ_CHUNK       (1u << 20)
#define HELD_OVERHEAD    128u         /* bookkeeping counted per held frame */
#define MAX_SEQ_WINDOW   (1ull << 24) /* how far ahead of the next frame a seq may be */
#define DRAIN_MS         1000         /* a stopping writer's time to finish its frame */
#define PREFIX_FIXED     16u          /* record header + PAGE_DATA header */
#define MAX_PREFIX       (PREFIX_FIXED + 8u * XLMIG_MAX_PAGES_PER_RECORD)

void xlmig_xfer_opts_default(struct xlmig_xfer_opts *o)
{
	*o = (struct xlmig_xfer_opts){
		.queue_bytes = 8u << 20,
		.reorder_bytes = 32u << 20,
		.stream_chunk = 256u << 10,
	};
}

/* ---- shared by both directions ---- */

/* The first failure of any thread of a transfer, with its message (the
 * message is per thread, so it is copied here). */
struct failure {
	pthread_mutex_t lock;
	int code;
	char msg[512];
	atomic_bool stop;              /* set with code; read without the lock */
};

static void failure_init(struct failure *f)
{
	pthread_mutex_init(&f->lock, NULL);
	f->code = XLMIG_OK;
	f->msg[0] = '\0';
	atomic_init(&f->stop, false);
}

static void failure_set(struct failure *f, int code)
{
	pthread_mutex_lock(&f->lock);
	if (f->code == XLMIG_OK && code != XLMIG_OK) {
		f->code = code;
		snprintf(f->msg, sizeof(f->msg), "%s", xlmig_errmsg());
	}
	atomic_store(&f->stop, true);
	pthread_mutex_unlock(&f->lock);
}

/* Re-raise the recorded failure in the calling thread. */
static int failure_raise(struct failure *f)
{
	int code;

	pthread_mutex_lock(&f->lock);
	code = f->code;
	if (code != XLMIG_OK)
		xlmig_fail(code, "%s", f->msg);
	pthread_mutex_unlock(&f->lock);
	return code;
}

static bool cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load(cancel);
}

static int digest_new(EVP_MD_CTX **out)
{
	*out = EVP_MD_CTX_new();
	if (!*out || EVP_DigestInit_ex(*out, EVP_sha256(), NULL) != 1)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot set up SHA-256");
	return XLMIG_OK;
}

static int digest_add(EVP_MD_CTX *md, const void *data, size_t len)
{
	if (EVP_DigestUpdate(md, data, len) != 1)
		return xlmig_fail(XLMIG_E_IO, "SHA-256 failed");
	return XLMIG_OK;
}

static int digest_end(EVP_MD_CTX *md, uint8_t out[32])
{
	if (EVP_DigestFinal_ex(md, out, NULL) != 1)
		return xlmig_fail(XLMIG_E_IO, "SHA-256 failed");
	return XLMIG_OK;
}

static struct xlmig_codec *codec_for(const struct xlmig_conn *c, int level)
{
	const struct xlmig_handshake_session *s = xlmig_conn_session(c);
	struct xlmig_codec_opts co = {
		.zstd_level = level,
		.cache_bytes = s->cache_bytes,
		.no_zstd = !(s->features & XLMIG_FEAT_ZSTD),
	};

	return xlmig_codec_new(&co);
}

/* The pfns of the entries of a pfn array that carry a page; their count
 * in *n. */
static void data_pfns(const uint8_t *pfns, uint32_t count, uint64_t *out, uint32_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = xlmig_get_le64(pfns + 8 * i);

		if (xlmig_pfn_type_has_data((unsigned)(e >> XLMIG_PFN_TYPE_SHIFT)))
			out[(*n)++] = e & XLMIG_PFN_MASK;
	}
}

static void fill_chan_stats(struct xlmig_conn *c, struct xlmig_xfer_stats *st, bool sent,
			    const uint64_t *start)
{
	st->channels = xlmig_conn_channels(c);
	for (unsigned i = 0; i < st->channels; i++) {
		struct xlmig_chan *ch = xlmig_conn_chan(c, i);
		uint64_t now = sent ? xlmig_chan_bytes_sent(ch) : xlmig_chan_bytes_received(ch);

		st->chan_bytes[i] = now - start[i];
	}
}

static void chan_counters(struct xlmig_conn *c, bool sent, uint64_t *out)
{
	for (unsigned i = 0; i < xlmig_conn_channels(c); i++) {
		struct xlmig_chan *ch = xlmig_conn_chan(c, i);

		out[i] = sent ? xlmig_chan_bytes_sent(ch) : xlmig_chan_bytes_received(ch);
	}
}

/* ======================= sender ======================= */

struct qframe {
	struct qframe *next;
	uint8_t hdr[XLMIG_WIRE_HDR_LEN];
	uint8_t *payload;
	size_t len;
};

struct sender;

struct writer {
	struct sender *s;
	unsigned idx;
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
	struct failure fail;

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
	struct xlmig_adapt adapt;      /* each batch's encoding */
	ZSTD_CCtx *zc;
	int level;
	bool zstd;
	EVP_MD_CTX *md;
	uint64_t seq;
	struct xlmig_buf pending;      /* STREAM bytes not yet framed */
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
};

static void qframe_free(struct qframe *q)
{
	if (q) {
		free(q->payload);
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

/* Queue a frame (payload taken over); chan < 0 lets the striping choose.
 * Waits while the chosen queue is full. */
static int enqueue(struct sender *s, uint8_t type, uint8_t flags, struct xlmig_buf *payload,
		   int chan)
{
	struct xlmig_frame_hdr h = { .type = type, .flags = flags, .len = (uint32_t)payload->len,
				     .seq = s->seq };
	struct qframe *q = calloc(1, sizeof(*q));
	struct writer *w;
	int rc = XLMIG_OK;

	if (!q)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a frame");
	xlmig_wire_hdr_encode(q->hdr, &h);
	q->payload = payload->data;
	q->len = payload->len;
	*payload = (struct xlmig_buf){ 0 };
	pthread_mutex_lock(&s->lock);
	for (;;) {
		w = &s->w[chan >= 0 ? (unsigned)chan : pick_writer(s)];
		if (atomic_load(&s->fail.stop) || w->queued == 0 || w->queued + q->len <= s->o.queue_bytes)
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
		w->queued += q->len;
		q = NULL;
		s->seq++;
		s->st->frames++;
		pthread_cond_broadcast(&s->changed);
	}
	pthread_mutex_unlock(&s->lock);
	qframe_free(q);
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

static void frame_done(struct sender *s, struct writer *w, size_t len)
{
	pthread_mutex_lock(&s->lock);
	w->queued -= len;
	atomic_fetch_add(&s->st->wire_bytes, XLMIG_WIRE_HDR_LEN + len);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct sender *s = w->s;
	struct xlmig_chan *ch = xlmig_conn_chan(s->c, w->idx);
	struct qframe *q;
	int rc = XLMIG_OK;

	while (rc == XLMIG_OK && (q = next_frame(s, w))) {
		struct iovec iov[2] = {
			{ .iov_base = q->hdr, .iov_len = XLMIG_WIRE_HDR_LEN },
			{ .iov_base = q->payload, .iov_len = q->len },
		};

		xlmig_adapt_link_begin(&s->adapt);
		rc = xlmig_ratelimit_take(xlmig_conn_ratelimit(s->c), XLMIG_WIRE_HDR_LEN + q->len,
					  &s->fail.stop);
		if (rc == XLMIG_OK)
			rc = xlmig_chan_writev(ch, iov, 2, xlmig_conn_opts(s->c)->io_timeout_ms);
		xlmig_adapt_link_end(&s->adapt, rc == XLMIG_OK ? XLMIG_WIRE_HDR_LEN + q->len : 0);
		if (rc == XLMIG_OK)
			frame_done(s, w, q->len);
		qframe_free(q);
	}
	if (rc != XLMIG_OK) {
		failure_set(&s->fail, rc);
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
		rc = xlmig_chan_wait_readable(ch, POLL_MS);
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
		failure_set(&s->fail, rc);
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
	struct xlmig_buf payload = { 0 };
	uint8_t flags = 0;
	int rc;

	if (!s->pending.len)
		return XLMIG_OK;
	if (zblob_compress(s, s->pending.data, s->pending.len, &payload)) {
		flags = XLMIG_WIRE_F_ZSTD;
	} else {
		xlmig_buf_free(&payload);
		payload = s->pending;
		s->pending = (struct xlmig_buf){ 0 };
	}
	xlmig_buf_reset(&s->pending);
	rc = enqueue(s, XLMIG_FRAME_STREAM, flags, &payload, -1);
	xlmig_buf_free(&payload);
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

/* Code n pages with the encoding the measurements favour now, and tell
 * the adaptation what it cost. */
static int encode_batch(struct sender *s, const uint8_t *pages, uint32_t n,
			struct xlmig_buf *payload)
{
	struct xlmig_codec_stats before = s->st->codec;
	size_t mark = payload->len;
	int level = xlmig_adapt_choose(&s->adapt);
	uint64_t t0 = xlmig_now_ns();
	int rc = xlmig_codec_set_level(s->codec, level);

	if (rc == XLMIG_OK)
		rc = xlmig_codec_encode(s->codec, s->pfns, pages, n, payload, &s->st->codec);
	if (rc == XLMIG_OK)
		xlmig_adapt_batch(&s->adapt, level, s->st->codec.data_in - before.data_in,
				  s->st->codec.data_out - before.data_out, xlmig_now_ns() - t0,
				  (uint64_t)n * XLMIG_PAGE_SIZE, payload->len - mark);
	return rc;
}

static int send_pages(struct sender *s, const struct xlmig_item *it, uint32_t prefix_len)
{
	struct xlmig_buf payload = { 0 };
	uint32_t n, stored;
	bool z;
	int rc;

	data_pfns(it->u.page.pfns, it->u.page.count, s->pfns, &n);
	if (n != it->u.page.data_pages)
		return add_stream_bytes(s, it->raw, it->raw_len);
	rc = flush_stream(s);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_pages_hdr_build(&payload, prefix_len, 0, n);
	if (rc != XLMIG_OK)
		goto out;
	z = zblob_compress(s, it->raw, prefix_len, &payload);
	if (!z)
		rc = xlmig_buf_append(&payload, it->raw, prefix_len);
	stored = (uint32_t)(payload.len - XLMIG_WIRE_PAGES_HDR);
	if (rc == XLMIG_OK && n)
		rc = encode_batch(s, it->u.page.data, n, &payload);
	if (rc != XLMIG_OK)
		goto out;
	xlmig_put_le32(payload.data + 4, stored);
	if (payload.len > xlmig_conn_session(s->c)->max_payload) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "a PAGES frame of %zu bytes is over the limit",
				payload.len);
		goto out;
	}
	rc = enqueue(s, XLMIG_FRAME_PAGES, z ? XLMIG_WIRE_F_ZSTD : 0, &payload, -1);
	if (rc == XLMIG_OK)
		s->st->frames_pages++;
out:
	xlmig_buf_free(&payload);
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
		rc = digest_end(s->md, s->st->digest);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_end_build(&payload, s->st->digest, s->st->stream_bytes);
	/* On channel 0, after any side record the caller sent there, so the
	 * destination has them all when it sees END. */
	if (rc == XLMIG_OK)
		rc = enqueue(s, XLMIG_FRAME_END, 0, &payload, 0);
	xlmig_buf_free(&payload);
	return rc;
}

/* Wait for readable input, looking at stop and cancel in between. */
static int wait_input(struct sender *s, int fd)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		if (cancelled(s->cancel))
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

static int pump_stream(struct sender *s, int fd)
{
	uint8_t *buf = malloc(READ_CHUNK);
	int rc = buf ? XLMIG_OK : xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream");

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
		rc = digest_add(s->md, buf, (size_t)n);
		if (rc == XLMIG_OK) {
			atomic_fetch_add(&s->st->stream_bytes, (uint64_t)n);
			rc = xlmig_parser_feed(s->parser, buf, (size_t)n);
		}
	}
	free(buf);
	if (rc == XLMIG_OK)
		rc = send_end(s);
	return rc;
}

static int sender_setup(struct sender *s)
{
	const struct xlmig_conn_opts *co = xlmig_conn_opts(s->c);
	int rc;

	failure_init(&s->fail);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	s->n = xlmig_conn_channels(s->c);
	s->level = s->o.zstd_level ? s->o.zstd_level
		   : co->zstd_level ? co->zstd_level : XLMIG_CODEC_DEFAULT_LEVEL;
	s->zstd = (xlmig_conn_session(s->c)->features & XLMIG_FEAT_ZSTD) != 0;
	s->codec = codec_for(s->c, s->level);
	/* An explicit level caps the adaptation; the default lets it go up
	 * to the highest candidate. */
	xlmig_adapt_init(&s->adapt, s->zstd,
			 s->o.zstd_level ? s->o.zstd_level : co->zstd_level);
	s->zc = ZSTD_createCCtx();
	s->parser = xlmig_parser_new(on_item, s);
	if (!s->codec || !s->zc || !s->parser)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream encoder");
	if (s->o.stream_chunk == 0 || s->o.queue_bytes == 0)
		return xlmig_fail(XLMIG_E_INVAL, "transfer queue and chunk sizes must be positive");
	rc = digest_new(&s->md);
	for (unsigned i = 0; i < s->n && rc == XLMIG_OK; i++) {
		s->w[i].s = s;
		s->w[i].idx = i;
		if (pthread_create(&s->w[i].thread, NULL, writer_main, &s->w[i]) != 0)
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
			   (rc == XLMIG_E_CANCELLED && !cancelled(s->cancel));

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
	if (s->watcher_started)
		pthread_join(s->watcher, NULL);
}

static void sender_free(struct sender *s)
{
	for (unsigned i = 0; i < s->n; i++)
		while (s->w[i].head) {
			struct qframe *q = s->w[i].head;

			s->w[i].head = q->next;
			qframe_free(q);
		}
	xlmig_parser_free(s->parser);
	xlmig_codec_free(s->codec);
	xlmig_adapt_destroy(&s->adapt);
	ZSTD_freeCCtx(s->zc);
	EVP_MD_CTX_free(s->md);
	xlmig_buf_free(&s->pending);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->fail.lock);
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
	chan_counters(c, true, base);
	rc = sender_setup(s);
	if (rc == XLMIG_OK)
		rc = pump_stream(s, stream_fd);
	if (rc != XLMIG_OK)
		failure_set(&s->fail, rc);
	/* A worker's failure comes first: the pump only saw the stop it caused. */
	failed = failure_raise(&s->fail);
	sender_stop(s, failed);
	rc = failure_raise(&s->fail);
	stats->elapsed_ns = xlmig_now_ns() - start;
	fill_chan_stats(c, stats, true, base);
	xlmig_adapt_stats(&s->adapt, &stats->adapt);
	sender_free(s);
	return rc;
}

/* ======================= receiver ======================= */

struct held {
	uint64_t seq;
	struct xlmig_frame f;
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
};

struct receiver {
	struct xlmig_conn *c;
	struct xlmig_xfer_opts o;
	struct xlmig_xfer_stats *st;
	const atomic_bool *cancel;
	struct failure fail;

	pthread_mutex_t lock;
	pthread_cond_t arrived;        /* a frame was held, or a failure */
	pthread_cond_t consumed;       /* next_seq moved */
	struct reader rd[XLMIG_MAX_CHANNELS];
	unsigned n;
	struct held **heap;            /* min-heap by seq */
	size_t heap_len, heap_cap;
	size_t held_bytes;
	uint64_t next_seq;

	int out_fd;
	int out_flags;
	struct xlmig_codec *codec;
	ZSTD_DCtx *zd;
	EVP_MD_CTX *md;
	struct xlmig_buf rec;
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
};

static size_t held_cost(const struct held *h)
{
	return h->f.hdr.len + HELD_OVERHEAD;
}

static void held_free(struct held *h)
{
	if (h) {
		xlmig_frame_free(&h->f);
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
	failure_set(&r->fail, rc);
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

static int read_one(struct receiver *r, struct reader *rd, struct xlmig_chan *ch)
{
	const struct xlmig_handshake_session *sess = xlmig_conn_session(r->c);
	int io_ms = xlmig_conn_opts(r->c)->io_timeout_ms;
	struct held *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a frame");
	rc = xlmig_wire_recv(ch, sess->max_payload, io_ms, io_ms, &h->f);
	if (rc == XLMIG_OK && !xlmig_frame_is_sequenced(h->f.hdr.type)) {
		rc = rd->idx == 0 ? xlmig_conn_dispatch(r->c, &h->f)
				  : xlmig_fail(XLMIG_E_FORMAT, "%s frame on channel %u",
					       xlmig_frame_type_name(h->f.hdr.type), rd->idx);
	} else if (rc == XLMIG_OK) {
		rc = hold(r, rd, h);
		if (rc == XLMIG_OK)
			h = NULL;
	}
	held_free(h);
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
		rc = xlmig_chan_wait_readable(ch, POLL_MS);
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

/* Write to the consumer, giving up promptly on stop or cancel. */
static int write_out(struct receiver *r, const uint8_t *p, size_t len)
{
	int rc = digest_add(r->md, p, len);

	while (rc == XLMIG_OK && len) {
		struct pollfd pfd = { .fd = r->out_fd, .events = POLLOUT };
		ssize_t n = xlmig_write_nosigpipe(r->out_fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			atomic_fetch_add(&r->st->stream_bytes, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return xlmig_fail(XLMIG_E_IO, "writing the stream to the restore: %s",
					  strerror(errno));
		if (cancelled(r->cancel))
			return xlmig_fail(XLMIG_E_CANCELLED, "migration cancelled");
		if (atomic_load(&r->fail.stop))
			return XLMIG_E_CANCELLED;
		poll(&pfd, 1, POLL_MS);
	}
	return rc;
}

static int inflate(struct receiver *r, const uint8_t *p, size_t len, uint32_t limit,
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
	n = ZSTD_decompressDCtx(r->zd, dst, raw, p + 4, len - 4);
	if (ZSTD_isError(n) || n != raw)
		return xlmig_fail(XLMIG_E_FORMAT, "a compressed block does not decompress to "
				  "its announced %u bytes", raw);
	return XLMIG_OK;
}

static int put_stream(struct receiver *r, const struct xlmig_frame *f)
{
	int rc;

	if (!(f->hdr.flags & XLMIG_WIRE_F_ZSTD))
		return write_out(r, f->payload.data, f->payload.len);
	xlmig_buf_reset(&r->rec);
	rc = inflate(r, f->payload.data, f->payload.len, xlmig_conn_session(r->c)->max_payload,
		     &r->rec);
	return rc == XLMIG_OK ? write_out(r, r->rec.data, r->rec.len) : rc;
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

static int put_pages(struct receiver *r, const struct xlmig_frame *f)
{
	struct xlmig_wire_pages wp;
	uint32_t count = 0, n = 0;
	uint8_t *pages;
	int rc = xlmig_wire_pages_parse(&f->hdr, f->payload.data, &wp);

	if (rc == XLMIG_OK && wp.prefix_len > MAX_PREFIX)
		rc = xlmig_fail(XLMIG_E_FORMAT, "PAGES frame with a %u-byte pfn array",
				wp.prefix_len);
	if (rc == XLMIG_OK) {
		xlmig_buf_reset(&r->rec);
		rc = wp.prefix_zstd ? inflate(r, wp.prefix, wp.prefix_stored_len, wp.prefix_len,
					      &r->rec)
				    : xlmig_buf_append(&r->rec, wp.prefix, wp.prefix_len);
	}
	if (rc == XLMIG_OK && r->rec.len != wp.prefix_len)
		rc = xlmig_fail(XLMIG_E_FORMAT, "PAGES frame: pfn array of %zu bytes, announced %u",
				r->rec.len, wp.prefix_len);
	if (rc == XLMIG_OK)
		rc = check_prefix(r->rec.data, wp.prefix_len, wp.data_pages, &count);
	if (rc == XLMIG_OK) {
		data_pfns(r->rec.data + PREFIX_FIXED, count, r->pfns, &n);
		if (n != wp.data_pages)
			rc = xlmig_fail(XLMIG_E_FORMAT,
					"PAGES frame: %u pages announced, pfn array has %u",
					wp.data_pages, n);
	}
	if (rc == XLMIG_OK && n) {
		pages = xlmig_buf_extend(&r->rec, (size_t)n * XLMIG_PAGE_SIZE);
		rc = pages ? xlmig_codec_decode(r->codec, wp.codec, wp.codec_len, r->pfns, n, pages,
						&r->st->codec)
			   : xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u pages", n);
	}
	if (rc == XLMIG_OK)
		rc = write_out(r, r->rec.data, r->rec.len);
	return rc;
}

static int check_end(struct receiver *r, const struct xlmig_frame *f)
{
	uint8_t want[32];
	uint64_t bytes;
	int rc = xlmig_wire_end_parse(f->payload.data, f->payload.len, want, &bytes);

	if (rc == XLMIG_OK)
		rc = digest_end(r->md, r->st->digest);
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
		if (cancelled(r->cancel) || next_frame_lost(r)) {
			*rc = cancelled(r->cancel)
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
			rc = put_pages(r, &h->f);
			break;
		default:
			rc = check_end(r, &h->f);
			end = true;
			break;
		}
		if (rc != XLMIG_OK)
			xlmig_fail_prefix(rc, "frame %llu", (unsigned long long)h->seq);
		held_free(h);
	}
	if (rc == XLMIG_OK && r->heap_len)
		rc = xlmig_fail(XLMIG_E_FORMAT, "the source sent frames after END");
	return rc;
}

static int receiver_setup(struct receiver *r)
{
	int rc = XLMIG_OK;

	failure_init(&r->fail);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->arrived, NULL);
	pthread_cond_init(&r->consumed, NULL);
	r->n = xlmig_conn_channels(r->c);
	r->codec = codec_for(r->c, 0);
	r->zd = ZSTD_createDCtx();
	if (!r->codec || !r->zd)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream decoder");
	r->out_flags = fcntl(r->out_fd, F_GETFL);
	if (r->out_flags < 0 || fcntl(r->out_fd, F_SETFL, r->out_flags | O_NONBLOCK) < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot use fd %d for the stream: %s", r->out_fd,
				  strerror(errno));
	rc = digest_new(&r->md);
	for (unsigned i = 0; i < r->n && rc == XLMIG_OK; i++) {
		r->rd[i].r = r;
		r->rd[i].idx = i;
		if (pthread_create(&r->rd[i].thread, NULL, reader_main, &r->rd[i]) != 0)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start a channel reader thread");
		else
			r->rd[i].started = true;
	}
	return rc;
}

static void receiver_stop(struct receiver *r, int rc)
{
	bool peer_failed = rc == XLMIG_E_PEER || rc == XLMIG_E_AUTH ||
			   (rc == XLMIG_E_CANCELLED && !cancelled(r->cancel));

	pthread_mutex_lock(&r->lock);
	atomic_store(&r->fail.stop, true);
	pthread_cond_broadcast(&r->consumed);
	pthread_mutex_unlock(&r->lock);
	if (rc != XLMIG_OK) {
		if (!peer_failed)
			xlmig_conn_report_failure(r->c, rc);
		xlmig_conn_interrupt(r->c);
	}
	for (unsigned i = 0; i < r->n; i++)
		if (r->rd[i].started)
			pthread_join(r->rd[i].thread, NULL);
}

static void receiver_free(struct receiver *r)
{
	while (r->heap_len)
		held_free(heap_pop(r));
	free(r->heap);
	if (r->out_flags >= 0)
		fcntl(r->out_fd, F_SETFL, r->out_flags);
	xlmig_codec_free(r->codec);
	ZSTD_freeDCtx(r->zd);
	EVP_MD_CTX_free(r->md);
	xlmig_buf_free(&r->rec);
	pthread_cond_destroy(&r->arrived);
	pthread_cond_destroy(&r->consumed);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->fail.lock);
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
	chan_counters(c, false, base);
	rc = receiver_setup(r);
	if (rc == XLMIG_OK)
		rc = decode_all(r);
	if (rc != XLMIG_OK)
		failure_set(&r->fail, rc);
	rc = failure_raise(&r->fail);
	receiver_stop(r, rc);
	rc = failure_raise(&r->fail);
	stats->elapsed_ns = xlmig_now_ns() - start;
	fill_chan_stats(c, stats, false, base);
	receiver_free(r);
	return rc;
}
