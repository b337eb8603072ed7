/*
 * xfer_private.h - what the two halves of a stream transfer share
 * (xfer_send.c, xfer_recv.c; xfer_common.c holds the shared code).  Not for use
 * outside xfer*.c: xfer.h is the transfer's interface.
 */
#ifndef XLMIG_XFER_PRIVATE_H
#define XLMIG_XFER_PRIVATE_H

#include "stream.h"
#include "stream_digest.h"
#include "xfer.h"

#include <pthread.h>
#include <stdatomic.h>

#define POLL_MS          50           /* how often blocked loops look at stop/cancel */
#define PREFIX_FIXED     16u          /* record header + PAGE_DATA header */

/* The first failure of any thread of a transfer, with its message (the
 * message is per thread, so it is copied here); and the transfer's
 * wake-up: threads waiting for a channel to be readable also wait on
 * wake_fd, so a stop or the transfer's end reaches them at once instead
 * of at their next POLL_MS look (inside the downtime window, each such
 * look cost up to 50 ms). */
struct xlmig_xfer_failure {
	pthread_mutex_t lock;
	int code;
	char msg[512];
	atomic_bool stop;              /* set with code; read without the lock */
	int wake_fd;                   /* eventfd, readable once woken */
};

int xlmig_xfer_failure_init(struct xlmig_xfer_failure *f);
void xlmig_xfer_failure_destroy(struct xlmig_xfer_failure *f);
/* Record code (the first one wins, with this thread's message) and stop
 * every thread of the transfer. */
void xlmig_xfer_failure_set(struct xlmig_xfer_failure *f, int code);
/* Wake every thread waiting on a channel now (they look at their flags);
 * final, like stop. */
void xlmig_xfer_wake(struct xlmig_xfer_failure *f);
/* A transfer thread's wait for channel ch to be readable: XLMIG_OK when
 * it is, XLMIG_E_TIMEOUT after POLL_MS or once woken. */
int xlmig_xfer_wait_readable(struct xlmig_xfer_failure *f, struct xlmig_chan *ch);
/* Re-raise the recorded failure in the calling thread. */
int xlmig_xfer_failure_raise(struct xlmig_xfer_failure *f);

bool xlmig_xfer_cancelled(const atomic_bool *cancel);

/* How many threads code pages side by side (xlmig_xfer_opts.coding_threads)
 * over this many channels. */
unsigned xlmig_xfer_coders(const struct xlmig_xfer_opts *o, unsigned channels);

/* The stream digest the END frame carries, of the kind the session
 * negotiated (Poly1305 or GMAC keyed from the session, else SHA-256); its kind in
 * *kind. */
int xlmig_xfer_digest_for(const struct xlmig_conn *c, struct xlmig_stream_digest **out,
			  enum xlmig_stream_digest_kind *kind);

/* The page codec for the session's negotiated features. */
struct xlmig_codec *xlmig_xfer_codec_for(const struct xlmig_conn *c, int level);
/* The pfns of the entries of a pfn array that carry a page; their count
 * in *n. */
void xlmig_xfer_data_pfns(const uint8_t *pfns, uint32_t count, uint64_t *out, uint32_t *n);

/* Free obj with its free_fn now, or leave both for the caller where
 * o asks for that (xlmig_xfer_spent). */
void xlmig_xfer_spend(const struct xlmig_xfer_opts *o, void (*free_fn)(void *), void *obj);

/* Per-channel byte counters: read at the start, turned into the
 * transfer's per-channel figures at the end. */
void xlmig_xfer_chan_counters(struct xlmig_conn *c, bool sent, uint64_t *out);
void xlmig_xfer_fill_chan_stats(struct xlmig_conn *c, struct xlmig_xfer_stats *st, bool sent,
				const uint64_t *start);

#endif
