/*
 * bufpool.h - a few frame buffers kept for reuse between the threads of a
 * transfer.
 *
 * A transfer's frames are megabytes each and live briefly: the encoder
 * fills one and a channel writer frees it once sent, a channel reader
 * fills one and the decoder frees it once used.  Freed and allocated
 * again, each buffer of that size came back from the C library as fresh
 * pages that the kernel zeroed and faulted in one by one, and went back
 * to it (a fifth of the encoder thread's time in the profile).  A pool
 * hands the freed buffer, pages and all, to the next frame instead.
 *
 * The pool is bounded: it keeps at most XLMIG_BUFPOOL_SLOTS buffers and
 * frees any buffer returned beyond that, so it adds at most that many
 * idle buffers to a transfer's memory.  All calls are thread-safe; a NULL
 * pool keeps nothing (get gives an empty buffer, put frees).
 */
#ifndef XLMIG_BUFPOOL_H
#define XLMIG_BUFPOOL_H

#include "common.h"

#include <pthread.h>

#define XLMIG_BUFPOOL_SLOTS 4

struct xlmig_bufpool;

struct xlmig_bufpool *xlmig_bufpool_new(void);
/* Frees the pool and every buffer it keeps. */
void xlmig_bufpool_free(struct xlmig_bufpool *p);
/* A kept buffer, empty (len 0) with its memory, into *b; *b stays
 * { 0 } when none is kept.  *b must hold no memory.  Returns how many of
 * its bytes may still be resident: the most it held (0 for none).  A
 * user bounding its memory counts at least that much for the buffer. */
size_t xlmig_bufpool_get(struct xlmig_bufpool *p, struct xlmig_buf *b);
/* Take *b over (kept or freed) and set it to { 0 }; high is the most
 * bytes it held (b->len counts in any case). */
void xlmig_bufpool_put(struct xlmig_bufpool *p, struct xlmig_buf *b, size_t high);

/* The same for objects of one kind (a transfer's pending or unpacked
 * page frames, which hold megabytes of their own): at most `keep` kept
 * (up to XLMIG_OBJPOOL_MAX), the rest freed with free_fn when put. */
#define XLMIG_OBJPOOL_MAX 17

struct xlmig_objpool {
	pthread_mutex_t lock;
	void *kept[XLMIG_OBJPOOL_MAX];
	unsigned n, keep;
	void (*free_fn)(void *);
};

void xlmig_objpool_init(struct xlmig_objpool *p, unsigned keep, void (*free_fn)(void *));
/* Frees every object kept. */
void xlmig_objpool_destroy(struct xlmig_objpool *p);
/* A kept object, or NULL when none is. */
void *xlmig_objpool_get(struct xlmig_objpool *p);
/* Keep obj (NULL is ignored), or free it when the pool is full. */
void xlmig_objpool_put(struct xlmig_objpool *p, void *obj);

#endif
