/*
 * harness.h - what the fuzz harnesses share: writing seed files, and a
 * peer thread that plays fuzzed bytes into one end of a socketpair while
 * the code under test reads the other end as it would a real peer.
 *
 * Header-only: each harness is built as one translation unit.
 */
#ifndef XLMIG_FUZZ_HARNESS_H
#define XLMIG_FUZZ_HARNESS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

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
