/*
 * xfer.h - the stream transfer: the source's Xen stream in, frames over
 * the session's channels, the identical stream out at the destination.
 *
 * Sender (xlmig_xfer_send): reads the producer's stream from an fd, parses
 * it incrementally (stream.h) and turns each PAGE_DATA record into a PAGES
 * frame (its header and pfn array verbatim or zstd, its pages through the
 * codec), everything else into STREAM frames of up to stream_chunk bytes.
 * Frames are numbered and striped over the channels (least backlog first,
 * or round robin), one writer thread per channel, all paying the session's
 * token bucket.  The reading thread only begins each batch's coding (the
 * delta cache's part, in stream order); the channel's writer finishes it
 * (the zstd of its DATA pages, the costly part) just before sending, so
 * the channels code side by side on as many CPUs as there are channels.  Each channel's queue is bounded in bytes, so memory stays
 * bounded whatever the speeds of the producer and the links.  The END
 * frame carries the digest (SHA-256, or Poly1305 or GMAC where both hosts have it:
 * stream_digest.h) and length of the stream read.  A thread
 * watches channel 0 for the destination's ERROR/ABORT (and keeps any CTRL
 * message for later), so a failure there stops the sender at once.
 *
 * Receiver (xlmig_xfer_recv): one reader thread per channel puts frames
 * into a reorder buffer; the caller's thread takes them in sequence order
 * (the codec's delta cache needs the sender's order), rebuilds the stream
 * and writes it to an fd (the consumer).  While few frames wait, the
 * readers unpack each PAGES frame's pages (the zstd part of decoding)
 * as they read it, side by side; frames that wait behind a slow restore
 * wait packed and are decoded whole in order.  The buffer is bounded in bytes:
 * once over reorder_bytes, a reader only goes on reading while the last
 * sequence number its channel delivered is below the next one needed.
 * The needed frame can only arrive on such a channel (each channel's
 * frames are in increasing order), so this never deadlocks, and memory
 * stays under reorder_bytes plus one frame per channel.  At END the
 * digest and length of the rebuilt stream must match the source's, else
 * the transfer fails and the commit must not happen.
 *
 * A dropped connection, a truncated or malformed frame, a cancel, or a
 * peer's ERROR ends a transfer with a clear error after every thread has
 * been joined; the peer is told why when the link still works.  A failed
 * transfer leaves the session interrupted: close it.  A successful one
 * leaves it ready for the commit protocol's CTRL messages.
 */
#ifndef XLMIG_XFER_H
#define XLMIG_XFER_H

#include "adapt.h"
#include "codec.h"
#include "common.h"
#include "conn.h"
#include "stream_digest.h"

#include <stdatomic.h>

/* What a finished transfer still holds (its codec's delta cache, buffer
 * pool and queues: tens of MiB), handed to a caller that asked for it
 * (xlmig_xfer_opts.spent) to free later with xlmig_xfer_spent_free().
 * Unmapping it took 10-20 ms on each host (1 GiB guest, loaded host,
 * measured), and a migration's transfer ends inside the downtime
 * window: the job frees it once the window is over.  The transfer's
 * threads are joined and its channels untouched by then. */
struct xlmig_xfer_spent;
void xlmig_xfer_spent_free(struct xlmig_xfer_spent *sp);

struct xlmig_xfer_opts {
	size_t queue_bytes;     /* sender: frame bytes queued per channel (8 MiB) */
	size_t reorder_bytes;   /* receiver: out-of-order bytes held (32 MiB) */
	size_t stream_chunk;    /* sender: STREAM frame size (256 KiB) */
	int zstd_level;         /* sender: 0 = the session's option */
	bool round_robin;       /* sender: stripe in turn, not by backlog */
	bool stop_at_end;       /* sender: return once the stream's END is
				 * sent, leaving the rest of the input (there
				 * should be none) for the caller to check */
	struct xlmig_xfer_spent **spent; /* NULL: freed before returning;
				 * else set (NULL if nothing is left) */
	unsigned coding_threads; /* threads compressing (sender) or
				 * decompressing (receiver) pages side by side,
				 * at most one per channel; 0: the CPUs this
				 * process may run on less one.  Below 2 the
				 * reading (decoding) thread codes everything:
				 * one more thread would only pipeline, which
				 * cost memory (15-20 MiB a side) and saved no
				 * time on 2 CPUs. */
	bool xalloc_zero_pages; /* receiver: a zero page over one the restore
				 * was never given content for goes out as
				 * XALLOC (allocate only), without its 4 KiB;
				 * for a restore into a new guest, whose fresh
				 * pages are zero (Xen scrubs what it hands a
				 * domain, the sim's memory starts as holes).
				 * The stream out then differs from the one
				 * sent; its digest and length are the sent
				 * stream's. */
};
void xlmig_xfer_opts_default(struct xlmig_xfer_opts *o);

/* stream_bytes and wire_bytes grow while the transfer runs, and other
 * threads read them for progress (atomic_load); the rest is filled at
 * the end. */
struct xlmig_xfer_stats {
	_Atomic uint64_t stream_bytes;  /* Xen stream bytes read / written */
	_Atomic uint64_t wire_bytes;    /* frame bytes sent / received */
	uint64_t frames, frames_stream, frames_pages;
	struct xlmig_codec_stats codec;
	struct xlmig_adapt_stats adapt; /* sender: the encodings chosen, why */
	uint64_t elapsed_ns;
	unsigned channels;
	uint64_t chan_bytes[XLMIG_MAX_CHANNELS];
	uint64_t reorder_peak;          /* receiver: most bytes held out of order */
	unsigned coding_threads;        /* sender: channel writers that coded pages */
	_Atomic uint64_t frames_unpacked; /* receiver: PAGES frames whose pages the
				         * channel readers unpacked */
	/* Sender, live (atomic_load while the transfer runs): frame bytes
	 * queued for the channels now, and the link's measured throughput
	 * in bytes/s (0 until measured).  Their quotient is how long what
	 * is queued takes to leave. */
	_Atomic uint64_t backlog_bytes;
	_Atomic uint64_t link_Bps;
	uint8_t digest[32];             /* the stream's digest (stream_digest.h) */
	enum xlmig_stream_digest_kind digest_kind;
};

/* cancel (may be NULL): once true, the transfer stops (XLMIG_E_CANCELLED). */
int xlmig_xfer_send(struct xlmig_conn *c, int stream_fd, const struct xlmig_xfer_opts *o,
		    struct xlmig_xfer_stats *stats, const atomic_bool *cancel);
int xlmig_xfer_recv(struct xlmig_conn *c, int out_fd, const struct xlmig_xfer_opts *o,
		    struct xlmig_xfer_stats *stats, const atomic_bool *cancel);

#endif
