/*
 * wire.h - the frames xlmig hosts exchange on their channels: layout,
 * checks, payload builders and parsers, and whole-frame I/O.
 *
 * Frame header, 16 bytes, little-endian:
 *
 *   0  2  magic "XF"
 *   2  1  type (XLMIG_FRAME_*)
 *   3  1  flags (XLMIG_WIRE_F_*; a flag a type does not define is an error)
 *   4  4  payload length (<= the type's limit, <= XLMIG_WIRE_MAX_PAYLOAD)
 *   8  8  sequence number: stream frames (STREAM, PAGES, END) are numbered
 *         0, 1, 2, ... across all channels of a session; all other frames
 *         carry 0
 *
 * Frame types and payloads:
 *
 *   HELLO..JOINED  handshake messages (handshake.h), channel's first bytes
 *   STREAM  raw bytes of the Xen stream (non-page items, cut anywhere);
 *           with F_ZSTD: le32 raw length, then one zstd frame
 *   PAGES   one PAGE_DATA record:
 *             le32 prefix length (record header + page header + pfn array)
 *             le32 stored prefix length
 *             le32 data pages (entries whose type carries a page)
 *             le32 0
 *             stored prefix: verbatim, or with F_ZSTD le32 raw length + zstd
 *             one codec frame (codec.h) of the data pages, absent if none
 *   END     SHA-256 of the original stream (32 bytes), le64 its length
 *   SIDE    le32 side record type, record bytes (opaque here)
 *   CTRL    le32 message type, up to XLMIG_WIRE_MAX_CTRL bytes
 *   PROGRESS  le64 stream bytes the destination has rebuilt and handed
 *           to its restore: destination to source during a transfer, on
 *           channel 0, when the session has XLMIG_FEAT_PROGRESS, so the
 *           source knows what is still between it and the restore
 *   ERROR   le32 xlmig error code (positive), then up to
 *   ABORT   XLMIG_WIRE_MAX_TEXT bytes of text: the peer failed (ERROR) or
 *           was cancelled (ABORT)
 *
 * SIDE, CTRL, PROGRESS, ERROR and ABORT are outside the stream sequence and travel on
 * channel 0 only.  Nothing here trusts a byte: every header and payload is
 * checked before a field is used, and no allocation is sized by a length
 * that has not been checked against the frame limit.
 */
#ifndef XLMIG_WIRE_H
#define XLMIG_WIRE_H

#include "chan.h"
#include "common.h"

#define XLMIG_WIRE_MAGIC0        'X'
#define XLMIG_WIRE_MAGIC1        'F'
#define XLMIG_WIRE_HDR_LEN       16
#define XLMIG_WIRE_MAX_PAYLOAD   (8u << 20)
/* Smallest payload limit a peer may announce: a PAGES frame of a full
 * 1024-page record coded raw, with room for the codec's own headers. */
#define XLMIG_WIRE_MIN_PAYLOAD   (6u << 20)
#define XLMIG_WIRE_MAX_HANDSHAKE 256u
#define XLMIG_WIRE_MAX_CTRL      (64u << 10)
#define XLMIG_WIRE_MAX_TEXT      1024u
#define XLMIG_WIRE_DIGEST_LEN    32u
#define XLMIG_WIRE_PAGES_HDR     16u

enum xlmig_frame_type {
	XLMIG_FRAME_HELLO = 1,
	XLMIG_FRAME_WELCOME = 2,
	XLMIG_FRAME_AUTH = 3,
	XLMIG_FRAME_READY = 4,
	XLMIG_FRAME_JOIN = 5,
	XLMIG_FRAME_JOINED = 6,
	XLMIG_FRAME_STREAM = 16,
	XLMIG_FRAME_PAGES = 17,
	XLMIG_FRAME_END = 18,
	XLMIG_FRAME_SIDE = 32,
	XLMIG_FRAME_CTRL = 33,
	XLMIG_FRAME_ERROR = 34,
	XLMIG_FRAME_ABORT = 35,
	XLMIG_FRAME_PROGRESS = 36,
};

#define XLMIG_WIRE_F_ZSTD 0x01u

struct xlmig_frame_hdr {
	uint8_t type;
	uint8_t flags;
	uint32_t len;
	uint64_t seq;
};

/* A frame read from a channel; payload.data holds hdr.len bytes. */
struct xlmig_frame {
	struct xlmig_frame_hdr hdr;
	struct xlmig_buf payload;
};

const char *xlmig_frame_type_name(unsigned type);
/* True for STREAM, PAGES and END: the frames carrying a sequence number. */
bool xlmig_frame_is_sequenced(unsigned type);

void xlmig_wire_hdr_encode(uint8_t out[XLMIG_WIRE_HDR_LEN], const struct xlmig_frame_hdr *h);
/* Decode and check a header against the type's rules and max_payload. */
int xlmig_wire_hdr_decode(const uint8_t in[XLMIG_WIRE_HDR_LEN], uint32_t max_payload,
			  struct xlmig_frame_hdr *h);

/* ---- payloads ---- */

struct xlmig_wire_pages {
	uint32_t prefix_len;        /* raw prefix length, checked against data_pages */
	uint32_t data_pages;
	bool prefix_zstd;
	const uint8_t *prefix;      /* stored prefix (maybe compressed) */
	uint32_t prefix_stored_len;
	const uint8_t *codec;       /* codec frame, NULL when data_pages == 0 */
	size_t codec_len;
};
/* Append the fixed part of a PAGES payload. */
int xlmig_wire_pages_hdr_build(struct xlmig_buf *out, uint32_t prefix_len,
			       uint32_t prefix_stored_len, uint32_t data_pages);
int xlmig_wire_pages_parse(const struct xlmig_frame_hdr *h, const uint8_t *p,
			   struct xlmig_wire_pages *out);

/* The raw length a compressed blob (STREAM or PAGES prefix) announces:
 * checked to be 1..limit. */
int xlmig_wire_zblob_len(const uint8_t *p, size_t len, uint32_t limit, uint32_t *raw_len);

int xlmig_wire_end_build(struct xlmig_buf *out, const uint8_t digest[32], uint64_t bytes);
int xlmig_wire_end_parse(const uint8_t *p, size_t len, uint8_t digest[32], uint64_t *bytes);
int xlmig_wire_progress_build(struct xlmig_buf *out, uint64_t bytes);
int xlmig_wire_progress_parse(const uint8_t *p, size_t len, uint64_t *bytes);

/* SIDE and CTRL: a le32 type then bytes. */
int xlmig_wire_typed_build(struct xlmig_buf *out, uint32_t type, const void *data, size_t len);
int xlmig_wire_typed_parse(const uint8_t *p, size_t len, uint32_t *type,
			   const uint8_t **data, size_t *data_len);

/* ERROR / ABORT.  code is a negative XLMIG_E_* (or 0 for ABORT); the text
 * is cut to XLMIG_WIRE_MAX_TEXT.  Parsing yields a NUL-terminated text in
 * which any byte that is not printable ASCII became '?'. */
int xlmig_wire_error_build(struct xlmig_buf *out, int code, const char *text);
int xlmig_wire_error_parse(const uint8_t *p, size_t len, int *code,
			   char text[XLMIG_WIRE_MAX_TEXT + 1]);

/* ---- frame I/O ---- */

/* Write one frame (header + payload) within timeout_ms. */
int xlmig_wire_send(struct xlmig_chan *ch, uint8_t type, uint8_t flags, uint64_t seq,
		    const void *payload, size_t len, int timeout_ms);
/* Read one frame: the header within timeout_ms, the payload within
 * payload_timeout_ms after it. */
int xlmig_wire_recv(struct xlmig_chan *ch, uint32_t max_payload, int timeout_ms,
		    int payload_timeout_ms, struct xlmig_frame *f);
void xlmig_frame_free(struct xlmig_frame *f);

/* Send ERROR (code < 0) or ABORT (code == XLMIG_E_CANCELLED), best effort:
 * the connection may be what failed. */
void xlmig_wire_send_failure(struct xlmig_chan *ch, int code, const char *text, int timeout_ms);
/* The error a peer's ERROR/ABORT payload means, with its text as this
 * thread's message ("destination reported: ..."). */
int xlmig_wire_peer_failure(const struct xlmig_frame *f, const char *peer_role);

#endif
