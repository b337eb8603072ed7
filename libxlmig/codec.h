/*
 * codec.h - the page codec: a batch of (pfn, 4 KiB page) in, one compact
 * frame out, and back again exactly.
 *
 * Each page of a batch is coded as one of:
 *   ZERO   all zero bytes: a flag, no payload
 *   DELTA  the page was sent before and both ends remember that copy (the
 *          delta cache): XOR against it, then run-length or zstd of the XOR
 *   DATA   everything else: the batch's DATA pages go through one zstd
 *          frame (level configurable), or raw when that is not smaller
 *
 * The delta cache is bounded (XLMIG_CODEC_DEFAULT_CACHE) and kept
 * identical on both ends: insertion and eviction depend only on the order
 * of batches, so the decoder must see batches in the order the encoder
 * produced them (frames carry a sequence number that the decoder checks).
 * Every nonzero page sent is cached, replacing the pfn's older copy; a
 * page sent as ZERO zeroes the pfn's cached copy if there is one (see
 * pagecache.h for placement and eviction).  With cache_resent (both ends
 * must agree: it is negotiated), a page is cached only from its second
 * send on, so a first pass does not fill the cache with pages that are
 * never sent again: each pfn's first nonzero page goes as DATA, uncached,
 * its second as DATA into the cache, its third as a delta if it pays.  A decoder never trusts a
 * frame: every count, length and reference is checked, and a frame that
 * refers to a page the cache does not hold is an error, not a guess.
 *
 * A codec object is an encoder or a decoder, fixed by its first call.
 * A frame that fails to decode changes nothing: the cache and the
 * expected sequence number stay as they were, and the decoder stays
 * usable for the right next frame.  An encoder that fails leaves no
 * frame in out and its cache unchanged.  Frame layout: codec.c.
 */
#ifndef XLMIG_CODEC_H
#define XLMIG_CODEC_H

#include "common.h"

#define XLMIG_CODEC_DEFAULT_CACHE (64u << 20)  /* bytes of page copies */
#define XLMIG_CODEC_DEFAULT_LEVEL 1            /* zstd level */
#define XLMIG_CODEC_MAX_BATCH     1024u        /* pages per frame */

struct xlmig_codec_opts {
	int zstd_level;       /* 1..19; 0 = XLMIG_CODEC_DEFAULT_LEVEL */
	size_t cache_bytes;   /* delta cache size; 0 = no delta coding */
	bool cache_resent;    /* cache a pfn's page only from its second send */
	bool no_zstd;         /* code DATA pages raw (zero/delta still apply) */
};

/* Per-batch statistics, added into by each successful encode/decode. */
struct xlmig_codec_stats {
	uint64_t batches;
	uint64_t pages_zero, pages_delta, pages_zstd, pages_raw;
	uint64_t bytes_in;    /* guest bytes (pages x 4096) */
	uint64_t bytes_out;   /* frame bytes */
	uint64_t cpu_ns;      /* thread CPU time spent in the codec */
	uint64_t data_in;     /* bytes of DATA pages (not zero, not delta) */
	uint64_t data_out;    /* their DATA section bytes (zstd or raw) */
};

/* to += from, field by field. */
void xlmig_codec_stats_add(struct xlmig_codec_stats *to, const struct xlmig_codec_stats *from);

struct xlmig_codec;

/* The encoder and the decoder of one stream must be created with the
 * same cache_bytes (it is negotiated in the handshake). */
struct xlmig_codec *xlmig_codec_new(const struct xlmig_codec_opts *opts);
void xlmig_codec_free(struct xlmig_codec *c);
/* Back to what xlmig_codec_new() made (no role yet, sequence 0, an empty
 * delta cache, the same options), keeping the zstd contexts and buffers:
 * for many short streams through one codec, as a fuzzer runs them. */
int xlmig_codec_reset(struct xlmig_codec *c);

/* The zstd level for the DATA pages of the next frames: 1..19, or 0 to
 * send them raw (and code deltas as run lists only).  The decoder needs
 * no such call: each frame says how it was coded.  No effect on an
 * encoder created with no_zstd. */
int xlmig_codec_set_level(struct xlmig_codec *c, int level);

/* The most bytes a frame of n pages can take (every page DATA, raw). */
size_t xlmig_codec_frame_bound(uint32_t n);

/* Encode n pages (pages = n x 4096 bytes, pfns[i] the page's frame
 * number) and append one frame to out.  1 <= n <= XLMIG_CODEC_MAX_BATCH. */
int xlmig_codec_encode(struct xlmig_codec *c, const uint64_t *pfns,
		       const uint8_t *pages, uint32_t n, struct xlmig_buf *out,
		       struct xlmig_codec_stats *stats);

/* Encoding in two steps, so that the costly part, compressing a batch's
 * DATA pages, can run on other threads than the one that keeps the
 * stream's order.  xlmig_codec_encode_begin() runs on the encoder, in
 * stream order: it decides each page's kind, codes the deltas, brings
 * the delta cache up to date, numbers the frame and copies the DATA
 * pages into a pending frame.  xlmig_codec_encode_finish() may then run
 * on any thread, with a compression context of its own, and appends the
 * finished frame.  Pending frames may be finished concurrently and in
 * any order; the decoder still needs the frames in the order they were
 * begun.  xlmig_codec_encode() is both in one, without the copy.
 *
 * begin fails (memory) before it touches the cache.  finish fails only
 * when out cannot grow; the encoder's cache has then moved past a frame
 * nobody will see, so the stream cannot go on. */
struct xlmig_codec_pending;
struct xlmig_codec_zctx;

struct xlmig_codec_pending *xlmig_codec_pending_new(void);
void xlmig_codec_pending_free(struct xlmig_codec_pending *p);
/* Guest bytes a begun frame carries (n x 4096) and bytes it holds now
 * (what a caller bounding its memory counts while it is queued). */
uint64_t xlmig_codec_pending_guest_bytes(const struct xlmig_codec_pending *p);
size_t xlmig_codec_pending_held(const struct xlmig_codec_pending *p);
/* The zstd level begin recorded for it (0: raw). */
int xlmig_codec_pending_level(const struct xlmig_codec_pending *p);

struct xlmig_codec_zctx *xlmig_codec_zctx_new(void);
void xlmig_codec_zctx_free(struct xlmig_codec_zctx *z);

/* p must not be pending (new, or finished).  Same rules as encode. */
int xlmig_codec_encode_begin(struct xlmig_codec *c, const uint64_t *pfns,
			     const uint8_t *pages, uint32_t n,
			     struct xlmig_codec_pending *p);
/* Append p's frame to out; p is then free for another begin.  stats
 * (may be NULL) gets the whole frame's figures, CPU time of both steps. */
int xlmig_codec_encode_finish(struct xlmig_codec_pending *p, struct xlmig_codec_zctx *z,
			      struct xlmig_buf *out, struct xlmig_codec_stats *stats);

/* Decoding in two steps, as encoding: xlmig_codec_decode_unpack() may run
 * on any thread, with a context of its own: it checks the frame's layout
 * (all but its number) and decompresses what is compressed in it into
 * an unpacked frame, which still points into the frame (keep the frame
 * until applied).  xlmig_codec_decode_apply() runs on the decoder, in
 * frame order: it checks the number, applies the deltas against the
 * cache and writes the pages.  xlmig_codec_decode() is both in one, the
 * DATA section decompressed straight into pages_out.  A failed apply
 * changes nothing, as a failed decode. */
struct xlmig_codec_unpacked;
struct xlmig_codec_dctx;

struct xlmig_codec_unpacked *xlmig_codec_unpacked_new(void);
void xlmig_codec_unpacked_free(struct xlmig_codec_unpacked *u);
/* Bytes it holds besides the frame (for a caller bounding its memory). */
size_t xlmig_codec_unpacked_held(const struct xlmig_codec_unpacked *u);
struct xlmig_codec_dctx *xlmig_codec_dctx_new(void);
void xlmig_codec_dctx_free(struct xlmig_codec_dctx *z);

int xlmig_codec_decode_unpack(struct xlmig_codec_dctx *z, const uint8_t *frame, size_t len,
			      uint32_t n, struct xlmig_codec_unpacked *u);
/* stats (may be NULL) gets the frame's figures, CPU time of both steps. */
int xlmig_codec_decode_apply(struct xlmig_codec *c, struct xlmig_codec_unpacked *u,
			     const uint64_t *pfns, uint32_t n, uint8_t *pages_out,
			     struct xlmig_codec_stats *stats);

/* Decode one frame of n pages into pages_out (n x 4096 bytes).  pfns
 * must be the same array the encoder saw for this frame.  A malformed
 * frame returns XLMIG_E_FORMAT; pages_out then holds no useful data. */
int xlmig_codec_decode(struct xlmig_codec *c, const uint8_t *frame, size_t len,
		       const uint64_t *pfns, uint32_t n, uint8_t *pages_out,
		       struct xlmig_codec_stats *stats);

#endif
