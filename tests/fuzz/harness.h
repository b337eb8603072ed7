/*
 * harness.h - what the fuzz harnesses share: writing seed files, the
 * seed-writing start-up, a channel over a memory buffer, the input as an
 * fd to read (no thread, no socket: for code that only reads and writes
 * its answers to /dev/null) or queued in a socket (for code that must
 * receive from one), and a peer thread that plays fuzzed bytes into one
 * end of a socketpair while the code under test reads the other end as
 * it would a real peer (only for code that must see the peer wait for
 * its answers).
 *
 * Also the bytes a peer sends that several harnesses build their seeds
 * from: a frame, and what a keyless source says first.
 *
 * Header-only: each harness is built as one translation unit.
 */
#ifndef XLMIG_FUZZ_HARNESS_H
#define XLMIG_FUZZ_HARNESS_H

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "common.h"
#include "handshake.h"
#include "wire.h"

/* DIR/NAME holds the mode byte (none if mode < 0), then data. */
static inline void fuzz_put_seed(const char *dir, const char *name, int mode,
				 const void *data, size_t len)
{
	char path[4096];
	uint8_t m = (uint8_t)mode;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp || (mode >= 0 && fwrite(&m, 1, 1, fp) != 1) ||
	    (len && fwrite(data, 1, len, fp) != len) || fclose(fp) != 0)
		abort();
}

/* DIR/PREFIX-0, DIR/PREFIX-1, ...: one text each, no mode byte. */
static inline void fuzz_put_text_seeds(const char *dir, const char *prefix,
				       const char *const *texts, size_t n)
{
	char name[64];

	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%zu", prefix, i);
		fuzz_put_seed(dir, name, -1, texts[i], strlen(texts[i]));
	}
}

/* The start-up of a harness that writes its own seeds: logging is quiet
 * (refusing bad input is the normal case here), and with
 * XLMIG_FUZZ_WRITE_SEEDS=DIR the seeds go into DIR and the process ends
 * there instead of fuzzing. */
static inline void fuzz_init(void (*write_seeds)(const char *dir))
{
	const char *dir = getenv("XLMIG_FUZZ_WRITE_SEEDS");

	xlmig_log_set_level(-1);
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
}

/* A channel that reads the given bytes (then end of input) and never
 * blocks; what is written to it is appended to *record if record is not
 * NULL, else dropped. */
struct fuzz_mem {
	const uint8_t *p;
	size_t len, off;
	struct xlmig_buf *record;
};

static inline ssize_t fuzz_mem_read(void *ctx, void *buf, size_t len)
{
	struct fuzz_mem *m = ctx;
	size_t n = XLMIG_MIN(len, m->len - m->off);

	if (n)
		memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static inline ssize_t fuzz_mem_write(void *ctx, const void *buf, size_t len)
{
	struct fuzz_mem *m = ctx;

	if (m->record && xlmig_buf_append(m->record, buf, len) != XLMIG_OK)
		return -1;
	return (ssize_t)len;
}

static inline int fuzz_mem_pollfd(void *ctx, bool for_write) { return -1; }
static inline bool fuzz_mem_pending(void *ctx) { return true; }
static inline void fuzz_mem_close(void *ctx) { free(ctx); }

static const struct xlmig_chan_ops fuzz_mem_ops = {
	.read = fuzz_mem_read, .write = fuzz_mem_write, .pollfd = fuzz_mem_pollfd,
	.pending = fuzz_mem_pending, .close = fuzz_mem_close,
};

static inline struct xlmig_chan *fuzz_mem_chan(const uint8_t *data, size_t size,
					       struct xlmig_buf *record)
{
	struct fuzz_mem *m = calloc(1, sizeof(*m));
	struct xlmig_chan *ch = NULL;

	if (!m)
		abort();
	*m = (struct fuzz_mem){ .p = data, .len = size, .record = record };
	if (xlmig_chan_new(&fuzz_mem_ops, m, "fuzz", &ch) != XLMIG_OK)
		abort();
	return ch;
}

/* The same, but one channel for every input, its reads restarted at each
 * call: a channel's set-up (an eventfd, opened and closed) cost more than
 * parsing a small input.  Only for code that leaves no state in a channel
 * (no deadline, interruption or binding) and does not free it. */
static inline struct xlmig_chan *fuzz_mem_chan_again(const uint8_t *data, size_t size,
						     struct xlmig_buf *record)
{
	static struct fuzz_mem m;
	static struct xlmig_chan *ch;

	if (!ch && xlmig_chan_new(&fuzz_mem_ops, &m, "fuzz", &ch) != XLMIG_OK)
		abort();
	m = (struct fuzz_mem){ .p = data, .len = size, .record = record };
	return ch;
}

/* A frame (header, then payload) appended to out. */
static inline void fuzz_put_frame(struct xlmig_buf *out, uint8_t type, uint8_t flags,
				  uint64_t seq, const void *payload, size_t len)
{
	struct xlmig_frame_hdr h = { .type = type, .flags = flags, .len = (uint32_t)len,
				     .seq = seq };
	uint8_t *dst = xlmig_buf_extend(out, XLMIG_WIRE_HDR_LEN + len);

	if (!dst)
		abort();
	xlmig_wire_hdr_encode(dst, &h);
	if (len)
		memcpy(dst + XLMIG_WIRE_HDR_LEN, payload, len);
}

/* What a keyless source with this offer says first, appended to out: its
 * HELLO (recorded from the handshake code, which then fails for want of
 * a WELCOME) and an AUTH, whose MAC a keyless session does not check. */
static inline void fuzz_keyless_prologue(struct xlmig_buf *out,
					 const struct xlmig_handshake_offer *offer)
{
	static const uint8_t mac[XLMIG_MAC_LEN];
	struct xlmig_chan *ch = fuzz_mem_chan(NULL, 0, out);
	struct xlmig_handshake_session s;

	xlmig_handshake_client(ch, NULL, offer, 0, &s);
	xlmig_chan_free(ch);
	fuzz_put_frame(out, XLMIG_FRAME_AUTH, 0, 0, mac, sizeof(mac));
}

/* The input as an fd that reads it from the start, then end of input:
 * one memory file made at the first call and refilled for each input, so
 * a reader is driven without a thread or a socket per input.  The fd
 * stays the harness's: the code under test must not close it. */
static inline int fuzz_input_fd(const void *data, size_t len)
{
	static int fd = -1;

	if (fd < 0 && (fd = memfd_create("fuzz-input", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) != 0 || (len && pwrite(fd, data, len, 0) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* Where the code under test's answers go when nobody reads them: a
 * peer that only drains needs no thread when its end is /dev/null. */
static inline int fuzz_devnull(void)
{
	static int fd = -1;

	if (fd < 0 && (fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		abort();
	return fd;
}

/* The input queued in a socket, then end of input, for code that must
 * read a socket (recvmsg): a socketpair whose other end has written the
 * input and is closed, so no thread plays the peer.  The input must fit
 * the socket's buffer (the harness caps its length with -max_len; a
 * larger one is cut there).  The caller closes the fd returned. */
static inline int fuzz_input_sock(const void *data, size_t len)
{
	int sv[2];
	ssize_t n = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (len && (n = send(sv[1], data, len, MSG_DONTWAIT | MSG_NOSIGNAL)) <= 0)
		abort();
	close(sv[1]);
	return sv[0];
}

/* The peer: writes its bytes, shuts down its sending side (so the reader
 * sees end of input), then reads and drops whatever is answered until the
 * other end closes.  A peer that must wait for an answer (a sender waits
 * for READY before GO) holds back its last tail_len bytes until it has
 * read tail_after bytes. */
struct fuzz_peer {
	int fd;          /* the code under test's end */
	int peer_fd;
	const uint8_t *data;
	size_t len;
	size_t tail_len, tail_after;
	pthread_t thread;
};

static inline bool fuzz_peer_send(int fd, const uint8_t *data, size_t len)
{
	size_t off = 0;

	/* No SIGPIPE when the code under test has stopped reading. */
	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* Read and drop up to want bytes (all there is if want is SIZE_MAX). */
static inline void fuzz_peer_drain(int fd, size_t want)
{
	uint8_t sink[4096];
	size_t got = 0;

	while (got < want) {
		ssize_t n = read(fd, sink, XLMIG_MIN(sizeof(sink), want - got));

		if (n <= 0)
			return;
		got += (size_t)n;
	}
}

static void *fuzz_peer_main(void *arg)
{
	struct fuzz_peer *p = arg;
	size_t head = p->len - p->tail_len;

	if (fuzz_peer_send(p->peer_fd, p->data, head) && p->tail_len) {
		fuzz_peer_drain(p->peer_fd, p->tail_after);
		fuzz_peer_send(p->peer_fd, p->data + head, p->tail_len);
	}
	shutdown(p->peer_fd, SHUT_WR);
	fuzz_peer_drain(p->peer_fd, SIZE_MAX);
	return NULL;
}

static inline void fuzz_peer_start_held(struct fuzz_peer *p, const uint8_t *data, size_t len,
					size_t tail_len, size_t tail_after)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	*p = (struct fuzz_peer){ .fd = sv[0], .peer_fd = sv[1], .data = data, .len = len,
				 .tail_len = XLMIG_MIN(tail_len, len), .tail_after = tail_after };
	if (pthread_create(&p->thread, NULL, fuzz_peer_main, p) != 0)
		abort();
}

static inline void fuzz_peer_start(struct fuzz_peer *p, const uint8_t *data, size_t len)
{
	fuzz_peer_start_held(p, data, len, 0, 0);
}

/* Close the code under test's end (the peer's drain ends) and wait. */
static inline void fuzz_peer_finish(struct fuzz_peer *p)
{
	close(p->fd);
	pthread_join(p->thread, NULL);
	close(p->peer_fd);
}

#endif
