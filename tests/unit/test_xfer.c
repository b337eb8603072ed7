/*
 * test_xfer.c - end-to-end transfers over loopback TCP: the rebuilt stream
 * is byte-identical with 1 and 4 channels, with and without compression;
 * the reorder bound holds with a slow channel; corruption, a dropped
 * connection, a truncated stream and cancel on either side end both
 * sides with an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream_gen.h"
#include "unit.h"
#include "xfer.h"

static const struct xlmig_key test_key = { .len = 16, .bytes = "xfer-test-key-01" };

/* ---- a TCP proxy that can slow, corrupt or cut the links ---- */

struct proxy;

struct relay {
	struct proxy *px;
	int a, b;            /* source side, destination side */
	unsigned index;      /* order of acceptance = channel index */
	pthread_t thread;
};

struct proxy {
	int lfd;
	char port[16];
	char dst_port[16];
	int slow_index;      /* this channel crawls (-1: none) */
	uint64_t cut_after;  /* drop every link after this many bytes (0: never) */
	int64_t flip_at;     /* corrupt this byte of channel 0 (-1: never) */
	atomic_uint_fast64_t total;
	atomic_bool cut;     /* cut_after reached: every relay drops its link */
	atomic_bool stop;
	pthread_t thread;
	struct relay r[XLMIG_MAX_CHANNELS];
	unsigned n;
};

/* The relay's sockets may be non-blocking (xlmig_tcp_connect's are): a
 * full one is waited for, not taken for a dropped link (that had cut the
 * link under a receiver that was only slow, now and then). */
static int write_all(int fd, const uint8_t *p, size_t len, const atomic_bool *stop)
{
	while (len && !atomic_load(stop)) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, 50);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return len ? -1 : 0;
}

/* Move one chunk from one side to the other; -1 when the link is over. */
static int relay_chunk(struct relay *r, int from, int to, bool forward, uint64_t *pos)
{
	struct proxy *px = r->px;
	uint8_t buf[16384];
	ssize_t n = recv(from, buf, sizeof(buf), 0);

	if (n <= 0)
		return -1;
	if (forward && r->index == 0 && px->flip_at >= 0 && (uint64_t)px->flip_at >= *pos &&
	    (uint64_t)px->flip_at < *pos + (uint64_t)n)
		buf[px->flip_at - (int64_t)*pos] ^= 0x5a;
	if (forward)
		*pos += (uint64_t)n;
	if (px->cut_after && atomic_fetch_add(&px->total, (uint64_t)n) > px->cut_after) {
		atomic_store(&px->cut, true);
		return -1;
	}
	if (forward && (int)r->index == px->slow_index)
		usleep(5000);
	return write_all(to, buf, (size_t)n, &px->stop);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	uint64_t pos = 0;

	/* A cut drops every channel's link, not only the one whose bytes
	 * crossed the mark: a channel idle at that moment (its sender
	 * already failed on another) would otherwise stay up for ever. */
	while (!atomic_load(&r->px->stop) && !atomic_load(&r->px->cut)) {
		struct pollfd pfd[2] = { { .fd = r->a, .events = POLLIN },
					 { .fd = r->b, .events = POLLIN } };

		if (poll(pfd, 2, 50) <= 0)
			continue;
		if (pfd[0].revents && relay_chunk(r, r->a, r->b, true, &pos) < 0)
			break;
		if (pfd[1].revents && relay_chunk(r, r->b, r->a, false, &pos) < 0)
			break;
	}
	shutdown(r->a, SHUT_RDWR);
	shutdown(r->b, SHUT_RDWR);
	return NULL;
}

static void *proxy_main(void *arg)
{
	struct proxy *px = arg;

	while (!atomic_load(&px->stop) && px->n < XLMIG_MAX_CHANNELS) {
		struct relay *r = &px->r[px->n];

		if (xlmig_tcp_accept(px->lfd, 50, &r->a, NULL, 0) != XLMIG_OK)
			continue;
		if (xlmig_tcp_connect("127.0.0.1", px->dst_port, 1000, &r->b) != XLMIG_OK) {
			close(r->a);
			continue;
		}
		r->px = px;
		r->index = px->n++;
		pthread_create(&r->thread, NULL, relay_main, r);
	}
	return NULL;
}

static int proxy_start(struct proxy *px, uint16_t dst_port)
{
	uint16_t p;
	int rc = xlmig_tcp_listen("127.0.0.1", "0", &px->lfd, &p);

	snprintf(px->port, sizeof(px->port), "%u", p);
	snprintf(px->dst_port, sizeof(px->dst_port), "%u", dst_port);
	if (rc == XLMIG_OK)
		pthread_create(&px->thread, NULL, proxy_main, px);
	return rc;
}

static void proxy_stop(struct proxy *px)
{
	atomic_store(&px->stop, true);
	pthread_join(px->thread, NULL);
	for (unsigned i = 0; i < px->n; i++) {
		pthread_join(px->r[i].thread, NULL);
		close(px->r[i].a);
		close(px->r[i].b);
	}
	close(px->lfd);
}

/* ---- sessions and transfers ---- */

struct acceptor {
	int lfd;
	struct xlmig_conn_opts o;
	struct xlmig_conn *conn;
	int rc;
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;

	a->rc = xlmig_conn_listen_accept(a->lfd, &a->o, &test_key, &a->conn);
	return NULL;
}

struct setup {
	unsigned channels;
	bool compress;
	uint64_t bandwidth;
	int io_timeout_ms;  /* 0: 5 s */
	struct proxy *px;   /* optional, set up to the listener's port */
};

/* A session of s->channels channels: *src on the source, *dst on the
 * destination. */
static int session(const struct setup *s, struct xlmig_conn **src, struct xlmig_conn **dst)
{
	struct acceptor a = { 0 };
	struct xlmig_conn_opts o;
	pthread_t t;
	char port[16];
	uint16_t p;
	int rc = xlmig_tcp_listen("127.0.0.1", "0", &a.lfd, &p);

	if (rc != XLMIG_OK)
		return rc;
	snprintf(port, sizeof(port), "%u", p);
	if (s->px && (rc = proxy_start(s->px, p)) != XLMIG_OK)
		return rc;
	xlmig_conn_opts_default(&o);
	o.channels = s->channels;
	o.compress = s->compress;
	o.cache_bytes = s->compress ? XLMIG_CODEC_DEFAULT_CACHE : 0;
	o.bandwidth = s->bandwidth;
	o.io_timeout_ms = s->io_timeout_ms ? s->io_timeout_ms : 5000;
	o.insecure = true;  /* plain on loopback; test_tls runs sessions over TLS */
	a.o = o;
	pthread_create(&t, NULL, accept_main, &a);
	rc = xlmig_conn_connect("127.0.0.1", s->px ? s->px->port : port, &o, &test_key, src);
	pthread_join(t, NULL);
	close(a.lfd);
	if (rc == XLMIG_OK && a.rc != XLMIG_OK) {
		xlmig_conn_close(*src);
		rc = a.rc;
	} else if (rc != XLMIG_OK && a.rc == XLMIG_OK) {
		xlmig_conn_close(a.conn);
	}
	*dst = a.conn;
	return rc;
}

struct sending {
	struct xlmig_conn *conn;
	int fd;
	struct xlmig_xfer_opts o;
	struct xlmig_xfer_stats st;
	atomic_bool cancel;
	int rc;
	char msg[512];
};

static void *send_main(void *arg)
{
	struct sending *s = arg;

	s->rc = xlmig_xfer_send(s->conn, s->fd, &s->o, &s->st, &s->cancel);
	snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	return NULL;
}

/* A file in the test's directory holding data; an fd open on it. */
static int file_with(const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && len && xlmig_write_full(fd, data, len) != XLMIG_OK) {
		close(fd);
		return -1;
	}
	if (fd >= 0)
		lseek(fd, 0, SEEK_SET);
	return fd;
}

static bool file_equals(int fd, const struct xlmig_buf *want)
{
	struct xlmig_buf got = { 0 };
	uint8_t *p;
	bool same;

	if (lseek(fd, 0, SEEK_END) != (off_t)want->len || lseek(fd, 0, SEEK_SET) != 0)
		return false;
	p = xlmig_buf_extend(&got, want->len);
	same = p && xlmig_read_full(fd, p, want->len) == XLMIG_OK &&
	       memcmp(p, want->data, want->len) == 0;
	xlmig_buf_free(&got);
	return same;
}

static int make_stream(const struct xlmig_gen_params *p, struct xlmig_buf *out)
{
	struct xlmig_sink sink = { .write = xlmig_sink_buf_write, .opaque = out };

	return xlmig_gen_stream(p, &sink);
}

/* Wait (30 s at most) until the receiver has written into fd: the stream
 * flows, so a cancel now interrupts a transfer under way. */
static bool wait_stream_flowing(int fd)
{
	uint64_t end = xlmig_now_ns() + 30000000000ull;
	struct stat st;

	while (xlmig_now_ns() < end) {
		if (fstat(fd, &st) == 0 && st.st_size > 0)
			return true;
		usleep(2000);
	}
	return false;
}

/* One transfer of stream over a fresh session; results in *snd and the
 * receiver's rc and stats. */
struct run {
	struct setup setup;
	struct xlmig_xfer_opts so, ro;
	struct sending snd;
	struct xlmig_xfer_stats rst;
	int rrc;
	int out_fd;
	atomic_bool rcancel;
	bool cancel_receiver;     /* once the stream flows */
	bool flowed;              /* it did, before the cancel */
	uint64_t progress;        /* the destination's last PROGRESS, as the source saw it */
};

static void *cancel_when_flowing(void *arg)
{
	struct run *r = arg;

	r->flowed = wait_stream_flowing(r->out_fd);
	atomic_store(&r->rcancel, true);
	return NULL;
}

static int run_transfer(struct run *r, const struct xlmig_buf *stream)
{
	struct xlmig_conn *src, *dst;
	pthread_t t, canceller;
	int rc = session(&r->setup, &src, &dst);

	if (rc != XLMIG_OK)
		return rc;
	r->snd.conn = src;
	r->snd.fd = file_with("in", stream->data, stream->len);
	r->snd.o = r->so;
	r->out_fd = file_with("out", NULL, 0);
	pthread_create(&t, NULL, send_main, &r->snd);
	if (r->cancel_receiver)
		pthread_create(&canceller, NULL, cancel_when_flowing, r);
	r->rrc = xlmig_xfer_recv(dst, r->out_fd, &r->ro, &r->rst, &r->rcancel);
	pthread_join(t, NULL);
	if (r->cancel_receiver)
		pthread_join(canceller, NULL);
	/* PROGRESS frames sent after the sender finished are read with the
	 * next CTRL message: wait briefly for one that never comes. */
	if (r->rrc == XLMIG_OK) {
		struct xlmig_buf body = { 0 };
		uint32_t type;

		(void)xlmig_conn_recv_ctrl(src, &type, &body, 200);
		xlmig_buf_free(&body);
	}
	r->progress = xlmig_conn_peer_progress(src);
	xlmig_conn_close(src);
	xlmig_conn_close(dst);
	close(r->snd.fd);
	if (r->setup.px)
		proxy_stop(r->setup.px);
	return XLMIG_OK;
}

static void run_init(struct run *r, unsigned channels, bool compress)
{
	memset(r, 0, sizeof(*r));
	r->setup.channels = channels;
	r->setup.compress = compress;
	xlmig_xfer_opts_default(&r->so);
	xlmig_xfer_opts_default(&r->ro);
}

/* Transfer a stream and check identity, digest and stats; smaller: the
 * wire must carry fewer bytes than the stream (compressible content;
 * random bytes in small batches may not pay for the frames' headers, and
 * an encoder short of CPU rightly sends raw). */
static void identity_case(unsigned channels, bool compress, bool smaller,
			  const struct xlmig_gen_params *p)
{
	struct xlmig_buf stream = { 0 };
	uint64_t chan_sum = 0;
	struct run r;

	CHECK_OK(make_stream(p, &stream));
	run_init(&r, channels, compress);
	CHECK_OK(run_transfer(&r, &stream));
	if (r.snd.rc != XLMIG_OK)
		unit_fail(__FILE__, __LINE__, "sender: %s", r.snd.msg);
	CHECK_OK(r.rrc);
	CHECK_OK(r.snd.rc);
	CHECK(file_equals(r.out_fd, &stream));
	CHECK_EQ(r.snd.st.stream_bytes, stream.len);
	CHECK_EQ(r.rst.stream_bytes, stream.len);
	CHECK(memcmp(r.snd.st.digest, r.rst.digest, 32) == 0);
	/* The destination told the source how far its restore got. */
	CHECK_INT(r.progress, <=, stream.len);
	if (stream.len >= 2u << 20)
		CHECK_INT(r.progress, >=, 1u << 20);
	/* Both ends of this build: the cheaper digest. */
	CHECK_EQ(r.snd.st.digest_kind, XLMIG_STREAM_DIGEST_POLY1305);
	CHECK_EQ(r.rst.digest_kind, XLMIG_STREAM_DIGEST_POLY1305);
	CHECK_EQ(r.snd.st.frames, r.rst.frames);
	CHECK_EQ(r.snd.st.channels, channels);
	CHECK_INT(r.snd.st.frames_pages, >, 0);
	CHECK_EQ(r.snd.st.codec.pages_zero + r.snd.st.codec.pages_delta +
		 r.snd.st.codec.pages_zstd + r.snd.st.codec.pages_raw,
		 r.rst.codec.pages_zero + r.rst.codec.pages_delta + r.rst.codec.pages_zstd +
		 r.rst.codec.pages_raw);
	if (smaller)
		CHECK_INT(r.snd.st.wire_bytes, <, stream.len);
	/* the adaptation heard of every batch, at the level it was coded */
	CHECK_EQ(r.snd.st.adapt.batches[0] + r.snd.st.adapt.batches[1] +
		 r.snd.st.adapt.batches[2], r.snd.st.codec.batches);
	if (r.snd.st.codec.pages_zstd)
		CHECK_INT(r.snd.st.adapt.batches[1] + r.snd.st.adapt.batches[2], >, 0);
	for (unsigned i = 0; i < channels; i++) {
		chan_sum += r.snd.st.chan_bytes[i];
		if (r.snd.st.frames >= 4 * channels)
			CHECK_INT(r.snd.st.chan_bytes[i], >, 0);
	}
	CHECK_EQ(chan_sum, r.snd.st.wire_bytes);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

TEST(xfer_identity_one_channel_compressed)
{
	struct xlmig_gen_params p;

	xlmig_gen_defaults(&p);
	p.pages = 2048;
	identity_case(1, true, true, &p);
}

TEST(xfer_identity_four_channels_compressed)
{
	struct xlmig_gen_params p;

	xlmig_gen_defaults(&p);
	p.pages = 4096;
	p.batch = 256;
	p.dirty_pages = 512;
	identity_case(4, true, true, &p);
}

/* Pages of text that a pass changes in a few bytes: deltas from the
 * second pass on. */
static void nudged_page(void *opaque, uint64_t pfn, unsigned iteration, uint8_t *page)
{
	for (size_t i = 0; i < XLMIG_PAGE_SIZE; i++)
		page[i] = (uint8_t)("pfn page frame delta "[(i + pfn) % 21]);
	memcpy(page + 64 * (pfn % 32), &iteration, sizeof(iteration));
	(void)opaque;
}

/* Each channel's writer compresses the pages it sends: with many more
 * batches than channels, (nearly) all four code, side by side, and the
 * stream still arrives byte for byte, deltas and all. */
TEST(xfer_pages_coded_on_every_channel)
{
	struct xlmig_buf stream = { 0 };
	struct xlmig_gen_params p;
	struct run r;

	xlmig_gen_defaults(&p);
	p.pages = 4096;
	p.batch = 128;
	p.dirty_pages = 1024;
	p.page_fn = nudged_page;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 4, true);
	/* a link slower than zstd, so that the batches are compressed (raw
	 * ones are coded at once, on the reading thread) */
	r.setup.bandwidth = 48u << 20;
	r.so.coding_threads = 4;
	r.ro.coding_threads = 4;
	CHECK_OK(run_transfer(&r, &stream));
	CHECK_OK(r.rrc);
	CHECK_OK(r.snd.rc);
	CHECK(file_equals(r.out_fd, &stream));
	CHECK_INT(r.snd.st.coding_threads, >=, 3);
	/* the decoder kept up: the readers unpacked (most of) the pages */
	CHECK_INT(r.rst.frames_unpacked, >, 0);
	CHECK_EQ(r.snd.st.adapt.encoders, 4);
	CHECK_INT(r.snd.st.codec.pages_delta, >, 0);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

TEST(xfer_identity_four_channels_plain)
{
	struct xlmig_gen_params p;

	xlmig_gen_defaults(&p);
	p.pages = 2048;
	p.batch = 100;
	identity_case(4, false, false, &p);
}

TEST(xfer_identity_random_streams)
{
	uint64_t seed = xlmig_now_ns();

	srand((unsigned)seed);
	for (int i = 0; i < 4 && !unit_failed(); i++) {
		struct xlmig_gen_params p;

		xlmig_gen_defaults(&p);
		p.seed = (uint64_t)rand();
		p.pages = 1 + (uint64_t)(rand() % 3000);
		p.batch = 1 + (unsigned)(rand() % XLMIG_MAX_PAGES_PER_RECORD);
		p.iterations = (unsigned)(rand() % 3);
		p.dirty_pages = (uint64_t)rand() % (p.pages + 1);
		p.holes = rand() % 2;
		p.guest_type = rand() % 2 ? XLMIG_GUEST_X86_PV : XLMIG_GUEST_X86_HVM;
		p.libxc_version = 2 + (uint32_t)(rand() % 2);
		p.xl_header = rand() % 2;
		p.libxl = p.xl_header || rand() % 2;
		p.content = (enum xlmig_gen_content)(1 + rand() % 4);
		identity_case(1 + (unsigned)(rand() % 4), rand() % 2, false, &p);
		if (unit_failed())
			unit_fail(__FILE__, __LINE__, "seed %llu, case %d", (unsigned long long)seed, i);
	}
}

TEST(xfer_reorder_bound_with_slow_channel)
{
	struct proxy px = { .slow_index = 1, .flip_at = -1 };
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct run r;
	const uint64_t frame_max = 64 * XLMIG_PAGE_SIZE + 4096;

	xlmig_gen_defaults(&p);
	p.pages = 3000;
	p.batch = 64;
	p.content = XLMIG_GEN_RANDOM;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 4, true);
	r.ro.coding_threads = 4;   /* readers unpack while few frames wait */
	r.setup.px = &px;
	r.so.round_robin = true;
	r.ro.reorder_bytes = 512u << 10;
	CHECK_OK(run_transfer(&r, &stream));
	CHECK_OK(r.rrc);
	CHECK_OK(r.snd.rc);
	CHECK(file_equals(r.out_fd, &stream));
	/* the slow channel made frames wait, but never more than the bound
	 * plus one frame per channel */
	CHECK_INT(r.rst.reorder_peak, >, r.ro.reorder_bytes / 2);
	/* frames waiting past an eighth of the bound wait packed */
	CHECK_INT(r.rst.frames_unpacked, <, r.rst.frames_pages);
	CHECK_INT(r.rst.reorder_peak, <=, r.ro.reorder_bytes + 4 * (frame_max + 128));
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

TEST(xfer_corruption_in_flight_fails)
{
	struct proxy px = { .slow_index = -1, .flip_at = 300000 };
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct run r;

	xlmig_gen_defaults(&p);
	p.pages = 2048;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 1, false);
	r.setup.px = &px;
	/* A frame held up by a loaded machine (sanitizers, valgrind) is not
	 * what this test is about: only the corruption may fail it. */
	r.setup.io_timeout_ms = 60000;
	CHECK_OK(run_transfer(&r, &stream));
	CHECK(r.rrc != XLMIG_OK);
	CHECK(r.snd.rc != XLMIG_OK || r.rrc == XLMIG_E_FORMAT);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

TEST(xfer_dropped_connection_fails_both_sides)
{
	struct proxy px = { .slow_index = -1, .flip_at = -1, .cut_after = 2u << 20 };
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct run r;
	uint64_t start;

	xlmig_gen_defaults(&p);
	p.pages = 8192;
	p.content = XLMIG_GEN_RANDOM;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 4, true);
	r.setup.px = &px;
	/* Both sides notice the drop itself, long before their I/O timeout
	 * would (a minute here, so a loaded machine cannot blur the two). */
	r.setup.io_timeout_ms = 60000;
	start = xlmig_now_ns();
	CHECK_OK(run_transfer(&r, &stream));
	CHECK(r.rrc != XLMIG_OK);
	CHECK(r.snd.rc != XLMIG_OK);
	CHECK_INT(xlmig_now_ns() - start, <, 30000000000ull);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

struct source_canceller {
	struct sending *snd;
	int out_fd;
	bool flowed;
};

static void *cancel_sender_when_flowing(void *arg)
{
	struct source_canceller *c = arg;

	c->flowed = wait_stream_flowing(c->out_fd);
	atomic_store(&c->snd->cancel, true);
	return NULL;
}

TEST(xfer_cancel_on_source)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	/* 32 MiB at 2 MiB/s: 16 s to send it all, so the cancel is what ends it. */
	struct setup s = { .channels = 2, .compress = false, .bandwidth = 2u << 20 };
	struct sending snd = { 0 };
	struct source_canceller sc = { .snd = &snd };
	pthread_t t, c;
	int out, rrc;

	xlmig_gen_defaults(&p);
	p.pages = 8192;
	p.content = XLMIG_GEN_RANDOM;
	CHECK_OK(make_stream(&p, &stream));
	CHECK_OK(session(&s, &src, &dst));
	snd.conn = src;
	snd.fd = file_with("in", stream.data, stream.len);
	xlmig_xfer_opts_default(&snd.o);
	xlmig_xfer_opts_default(&ro);
	out = file_with("out", NULL, 0);
	sc.out_fd = out;
	pthread_create(&t, NULL, send_main, &snd);
	pthread_create(&c, NULL, cancel_sender_when_flowing, &sc);
	rrc = xlmig_xfer_recv(dst, out, &ro, &rst, NULL);
	pthread_join(t, NULL);
	pthread_join(c, NULL);
	CHECK(sc.flowed);
	CHECK_EQ(snd.rc, XLMIG_E_CANCELLED);
	CHECK_EQ(rrc, XLMIG_E_CANCELLED);
	CHECK(strstr(xlmig_errmsg(), "source cancelled") != NULL);
	/* Ended by the cancel, not by running out of stream. */
	CHECK_INT(lseek(out, 0, SEEK_END), <, (off_t)stream.len);
	xlmig_conn_close(src);
	xlmig_conn_close(dst);
	close(snd.fd);
	close(out);
	xlmig_buf_free(&stream);
}

TEST(xfer_cancel_on_destination)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct run r;

	xlmig_gen_defaults(&p);
	p.pages = 8192;
	p.content = XLMIG_GEN_RANDOM;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 3, true);
	r.setup.bandwidth = 2u << 20;
	r.cancel_receiver = true;
	CHECK_OK(run_transfer(&r, &stream));
	CHECK(r.flowed);
	CHECK_EQ(r.rrc, XLMIG_E_CANCELLED);
	CHECK_EQ(r.snd.rc, XLMIG_E_CANCELLED);
	CHECK(strstr(r.snd.msg, "destination cancelled") != NULL);
	CHECK_INT(lseek(r.out_fd, 0, SEEK_END), <, (off_t)stream.len);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

TEST(xfer_truncated_source_stream)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct run r;

	xlmig_gen_defaults(&p);
	CHECK_OK(make_stream(&p, &stream));
	stream.len -= 100;
	run_init(&r, 2, true);
	CHECK_OK(run_transfer(&r, &stream));
	CHECK_EQ(r.snd.rc, XLMIG_E_TRUNCATED);
	CHECK_EQ(r.rrc, XLMIG_E_PEER);
	CHECK(strstr(xlmig_errmsg(), "source reported") != NULL);
	close(r.out_fd);
	xlmig_buf_free(&stream);
}

/* The producer writes into a pipe while the sender reads it, as the
 * hypervisor backend does. */
struct producer {
	int fd;
	const struct xlmig_buf *stream;
};

static void *produce(void *arg)
{
	struct producer *pr = arg;

	for (size_t off = 0; off < pr->stream->len; off += 10000)
		if (xlmig_write_full(pr->fd, pr->stream->data + off,
				     XLMIG_MIN((size_t)10000, pr->stream->len - off)) != XLMIG_OK)
			break;
	close(pr->fd);
	return NULL;
}

/* A 1024-page stream from a pipe over 2 compressed channels; with spent,
 * each side leaves what it still holds to the caller. */
static void from_a_pipe(bool spent)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	struct setup s = { .channels = 2, .compress = true };
	struct sending snd = { 0 };
	struct producer pr;
	struct xlmig_xfer_spent *send_spent = NULL, *recv_spent = NULL;
	pthread_t t, pt;
	int pfd[2], out, flags;

	xlmig_gen_defaults(&p);
	p.pages = 1024;
	CHECK_OK(make_stream(&p, &stream));
	CHECK(pipe(pfd) == 0);
	pr = (struct producer){ .fd = pfd[1], .stream = &stream };
	CHECK_OK(session(&s, &src, &dst));
	snd.conn = src;
	snd.fd = pfd[0];
	xlmig_xfer_opts_default(&snd.o);
	xlmig_xfer_opts_default(&ro);
	if (spent) {
		snd.o.spent = &send_spent;
		ro.spent = &recv_spent;
	}
	out = file_with("out", NULL, 0);
	flags = fcntl(out, F_GETFL);
	pthread_create(&pt, NULL, produce, &pr);
	pthread_create(&t, NULL, send_main, &snd);
	CHECK_OK(xlmig_xfer_recv(dst, out, &ro, &rst, NULL));
	pthread_join(t, NULL);
	pthread_join(pt, NULL);
	CHECK_OK(snd.rc);
	CHECK(file_equals(out, &stream));
	/* The output fd is the caller's again, whatever is left to free. */
	CHECK_EQ(fcntl(out, F_GETFL), flags);
	CHECK_EQ(send_spent != NULL, spent);
	CHECK_EQ(recv_spent != NULL, spent);
	/* Freed after the sessions, as a job does once its window is over
	 * (under ASan, anything not freed or freed twice fails the test). */
	xlmig_conn_close(src);
	xlmig_conn_close(dst);
	close(pfd[0]);
	close(out);
	xlmig_buf_free(&stream);
	xlmig_xfer_spent_free(send_spent);
	xlmig_xfer_spent_free(recv_spent);
}

TEST(xfer_from_a_pipe)
{
	from_a_pipe(false);
}

/* A migration's transfer ends inside the downtime window: what it still
 * holds (delta caches, pools) is the caller's to free afterwards. */
TEST(xfer_leaves_its_leftovers_to_the_caller)
{
	from_a_pipe(true);

}

/* A one-channel keyless session over pipes: *src and *dst. */
struct pipe_dst {
	int rfd, wfd;
	struct xlmig_conn *conn;
	int rc;
};

static void *pipe_dst_main(void *arg)
{
	struct pipe_dst *d = arg;
	struct xlmig_conn_opts o;

	xlmig_conn_opts_default(&o);
	o.insecure = true;
	o.io_timeout_ms = 5000;
	d->rc = xlmig_conn_over_fds(d->rfd, d->wfd, true, &o, NULL, &d->conn);
	return NULL;
}

static int pipe_session(struct xlmig_conn **src, struct xlmig_conn **dst)
{
	struct xlmig_conn_opts o;
	struct pipe_dst d;
	pthread_t t;
	int ab[2], ba[2], rc;

	if (pipe(ab) < 0 || pipe(ba) < 0 || fcntl(ab[1], F_SETPIPE_SZ, 1 << 20) < 0)
		return XLMIG_E_IO;
	d = (struct pipe_dst){ .rfd = ab[0], .wfd = ba[1] };
	xlmig_conn_opts_default(&o);
	o.insecure = true;
	o.io_timeout_ms = 5000;
	pthread_create(&t, NULL, pipe_dst_main, &d);
	rc = xlmig_conn_over_fds(ba[0], ab[1], false, &o, NULL, src);
	pthread_join(t, NULL);
	*dst = d.conn;
	return rc != XLMIG_OK ? rc : d.rc;
}

TEST(xfer_skipped_frame_is_an_error)
{
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	int out = file_with("out", NULL, 0);

	CHECK_OK(pipe_session(&src, &dst));
	CHECK_OK(xlmig_wire_send(xlmig_conn_chan(src, 0), XLMIG_FRAME_STREAM, 0, 1, "abc", 3, 1000));
	xlmig_xfer_opts_default(&ro);
	CHECK_EQ(xlmig_xfer_recv(dst, out, &ro, &rst, NULL), XLMIG_E_TRUNCATED);
	CHECK(strstr(xlmig_errmsg(), "frame 0 never came") != NULL);
	xlmig_conn_close(src);
	xlmig_conn_close(dst);
	close(out);
}

/* The source may hang up as soon as END is out: the transfer still
 * completes on the destination. */
TEST(xfer_source_hangs_up_after_end)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	struct sending snd = { 0 };
	int out = file_with("out", NULL, 0);

	xlmig_gen_defaults(&p);
	p.pages = 64;
	CHECK_OK(make_stream(&p, &stream));
	CHECK_OK(pipe_session(&src, &dst));
	snd.conn = src;
	snd.fd = file_with("in", stream.data, stream.len);
	xlmig_xfer_opts_default(&snd.o);
	/* the whole stream fits the pipe and the channel buffers: send it
	 * all and close before the destination reads a byte */
	send_main(&snd);
	CHECK_OK(snd.rc);
	xlmig_conn_close(src);
	xlmig_xfer_opts_default(&ro);
	CHECK_OK(xlmig_xfer_recv(dst, out, &ro, &rst, NULL));
	CHECK(file_equals(out, &stream));
	xlmig_conn_close(dst);
	close(snd.fd);
	close(out);
	xlmig_buf_free(&stream);
}

/* A restore that stops reading (it refused the stream) closes its end of
 * the pipe: the receiver's next write must fail with an error, not kill
 * the process with SIGPIPE (found by fuzz_job). */
TEST(xfer_restore_gone_is_an_error_not_sigpipe)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	struct sending snd = { 0 };
	int out[2], rc;

	xlmig_gen_defaults(&p);
	p.pages = 64;
	CHECK_OK(make_stream(&p, &stream));
	CHECK(pipe(out) == 0);
	close(out[0]);
	CHECK_OK(pipe_session(&src, &dst));
	snd.conn = src;
	snd.fd = file_with("in", stream.data, stream.len);
	xlmig_xfer_opts_default(&snd.o);
	send_main(&snd);
	CHECK_OK(snd.rc);
	xlmig_conn_close(src);
	xlmig_xfer_opts_default(&ro);
	rc = xlmig_xfer_recv(dst, out[1], &ro, &rst, NULL);
	CHECK(rc != XLMIG_OK);
	CHECK(strstr(xlmig_errmsg(), "writing the stream to the restore") != NULL);
	xlmig_conn_close(dst);
	close(snd.fd);
	close(out[1]);
	xlmig_buf_free(&stream);
}

/* The producer keeps its end of the stream open after writing the final
 * END (a save still tidying up): the destination gets the whole stream,
 * digest and all, before that end closes, and the sender then returns
 * clean.  With stop_at_end the sender returns before the producer closes too,
 * leaving the rest of the input (a save still tearing down) to its
 * caller. */
static void open_producer_case(bool stop_at_end)
{
	struct setup su = { .channels = 2 };
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct xlmig_conn *src, *dst;
	struct xlmig_xfer_opts ro;
	struct xlmig_xfer_stats rst;
	struct sending snd = { 0 };
	struct timespec until;
	pthread_t t;
	int fds[2], out, joined = 0;

	xlmig_gen_defaults(&p);
	p.pages = 8;
	p.iterations = 0;
	CHECK_OK(make_stream(&p, &stream));
	CHECK(stream.len < 65536);   /* fits the pipe: written at once */
	CHECK_OK(session(&su, &src, &dst));
	CHECK(pipe(fds) == 0);
	CHECK_OK(xlmig_write_full(fds[1], stream.data, stream.len));
	snd.conn = src;
	snd.fd = fds[0];
	xlmig_xfer_opts_default(&snd.o);
	snd.o.stop_at_end = stop_at_end;
	xlmig_xfer_opts_default(&ro);
	out = file_with("out", NULL, 0);
	pthread_create(&t, NULL, send_main, &snd);
	CHECK_OK(xlmig_xfer_recv(dst, out, &ro, &rst, NULL));
	CHECK(file_equals(out, &stream));
	if (stop_at_end) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20;
		joined = pthread_timedjoin_np(t, NULL, &until);
	}
	close(fds[1]);
	if (!stop_at_end || joined != 0)
		pthread_join(t, NULL);
	CHECK_EQ(joined, 0);
	CHECK_OK(snd.rc);
	CHECK_EQ(snd.st.stream_bytes, stream.len);
	xlmig_conn_close(src);
	xlmig_conn_close(dst);
	close(fds[0]);
	close(out);
	xlmig_buf_free(&stream);
}

TEST(xfer_end_goes_out_before_the_producer_closes)
{
	open_producer_case(false);
}

TEST(xfer_stop_at_end_returns_before_the_producer_closes)
{
	open_producer_case(true);
}

/* Pages by pfn % 3: always zero; content first, then zero; zero first,
 * then content.  A zero page over one never given content may be spared,
 * one over a page that had content must not. */
static void shifting_page(void *opaque, uint64_t pfn, unsigned iteration, uint8_t *page)
{
	bool content = (pfn % 3 == 1 && iteration == 0) || (pfn % 3 == 2 && iteration > 0);

	memset(page, 0, XLMIG_PAGE_SIZE);
	if (content)
		snprintf((char *)page, XLMIG_PAGE_SIZE, "pfn %llu pass %u",
			 (unsigned long long)pfn, iteration);
}

/* What a restore ends with: each pfn's last page, XALLOC populating a
 * pfn not yet present with zeros (and leaving a present one alone). */
struct image {
	uint64_t pages;
	uint8_t *mem;
	bool *present;
	unsigned xalloc;
};

static int image_item(void *opaque, const struct xlmig_item *it)
{
	struct image *im = opaque;
	const uint8_t *data;

	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA)
		return 0;
	data = it->u.page.data;
	for (uint32_t i = 0; i < it->u.page.count; i++) {
		uint64_t e = xlmig_get_le64(it->u.page.pfns + 8 * i), pfn = e & XLMIG_PFN_MASK;
		unsigned type = (unsigned)(e >> XLMIG_PFN_TYPE_SHIFT);

		if (pfn >= im->pages)
			return XLMIG_E_FORMAT;
		if (xlmig_pfn_type_has_data(type)) {
			memcpy(im->mem + pfn * XLMIG_PAGE_SIZE, data, XLMIG_PAGE_SIZE);
			im->present[pfn] = true;
			data += XLMIG_PAGE_SIZE;
		} else if (type == XLMIG_PFINFO_XALLOC) {
			im->xalloc++;
			if (!im->present[pfn])
				memset(im->mem + pfn * XLMIG_PAGE_SIZE, 0, XLMIG_PAGE_SIZE);
			im->present[pfn] = true;
		}
	}
	return 0;
}

static int image_of(int fd, struct image *im)
{
	struct xlmig_parser *p = xlmig_parser_new(image_item, im);
	uint8_t buf[65536];
	ssize_t n;
	int rc = p ? XLMIG_OK : XLMIG_E_NOMEM;

	lseek(fd, 0, SEEK_SET);
	while (rc == XLMIG_OK && (n = read(fd, buf, sizeof(buf))) > 0)
		rc = xlmig_parser_feed(p, buf, (size_t)n);
	if (rc == XLMIG_OK)
		rc = xlmig_parser_finish(p);
	xlmig_parser_free(p);
	return rc;
}

/* xalloc_zero_pages: the stream out is shorter, restores to the same
 * memory, and its digest and length checks are the sent stream's. */
TEST(xfer_zero_pages_spared_as_xalloc)
{
	struct xlmig_gen_params p;
	struct xlmig_buf stream = { 0 };
	struct image sent = { 0 }, out = { 0 };
	struct run r;
	int in_fd;

	xlmig_gen_defaults(&p);
	p.guest_type = XLMIG_GUEST_X86_HVM;
	p.pages = 3000;
	p.batch = 333;
	p.iterations = 2;
	p.dirty_pages = 3000;
	p.holes = false;
	p.page_fn = shifting_page;
	CHECK_OK(make_stream(&p, &stream));
	run_init(&r, 2, true);
	r.ro.xalloc_zero_pages = true;
	CHECK_OK(run_transfer(&r, &stream));
	CHECK_OK(r.rrc);
	CHECK_OK(r.snd.rc);
	CHECK_EQ(r.rst.stream_bytes, stream.len);
	CHECK(memcmp(r.snd.st.digest, r.rst.digest, 32) == 0);
	CHECK_INT(lseek(r.out_fd, 0, SEEK_END), <, (off_t)stream.len);
	sent.pages = out.pages = p.pages;
	sent.mem = calloc(p.pages, XLMIG_PAGE_SIZE);
	out.mem = calloc(p.pages, XLMIG_PAGE_SIZE);
	sent.present = calloc(p.pages, sizeof(bool));
	out.present = calloc(p.pages, sizeof(bool));
	CHECK((in_fd = file_with("sent", stream.data, stream.len)) >= 0);
	CHECK_OK(image_of(in_fd, &sent));
	CHECK_OK(image_of(r.out_fd, &out));
	CHECK(memcmp(sent.mem, out.mem, p.pages * XLMIG_PAGE_SIZE) == 0);
	CHECK(memcmp(sent.present, out.present, p.pages * sizeof(bool)) == 0);
	/* Spared: the first pass's 2000 zero pages; in each later pass the
	 * 1000 never given content (pfn % 3 == 0); and in the third, the
	 * pfn % 3 == 1 pages again, which the second pass zeroed there. */
	CHECK_EQ(sent.xalloc, 0);
	CHECK_EQ(out.xalloc, 2000 + 1000 * p.iterations + 1000);
	close(in_fd);
	close(r.out_fd);
	free(sent.mem);
	free(out.mem);
	free(sent.present);
	free(out.present);
	xlmig_buf_free(&stream);
}
