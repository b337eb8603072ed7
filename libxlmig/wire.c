/*
 * wire.c - frame headers and payloads: build, check, parse, send, receive.
 */
#include <stdlib.h>

#include "wire.h"

struct type_rule {
	uint8_t type;
	const char *name;
	uint8_t flags;      /* flags the type may carry */
	uint32_t min_len;
	uint32_t max_len;   /* further capped by the negotiated limit */
};

static const struct type_rule rules[] = {
	{ XLMIG_FRAME_HELLO, "HELLO", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_WELCOME, "WELCOME", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_AUTH, "AUTH", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_READY, "READY", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_JOIN, "JOIN", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_JOINED, "JOINED", 0, 1, XLMIG_WIRE_MAX_HANDSHAKE },
	{ XLMIG_FRAME_STREAM, "STREAM", XLMIG_WIRE_F_ZSTD, 1, XLMIG_WIRE_MAX_PAYLOAD },
	{ XLMIG_FRAME_PAGES, "PAGES", XLMIG_WIRE_F_ZSTD, XLMIG_WIRE_PAGES_HDR + 1,
	  XLMIG_WIRE_MAX_PAYLOAD },
	{ XLMIG_FRAME_END, "END", 0, XLMIG_WIRE_DIGEST_LEN + 8, XLMIG_WIRE_DIGEST_LEN + 8 },
	{ XLMIG_FRAME_SIDE, "SIDE", 0, 4, XLMIG_WIRE_MAX_PAYLOAD },
	{ XLMIG_FRAME_CTRL, "CTRL", 0, 4, 4 + XLMIG_WIRE_MAX_CTRL },
	{ XLMIG_FRAME_ERROR, "ERROR", 0, 4, 4 + XLMIG_WIRE_MAX_TEXT },
	{ XLMIG_FRAME_ABORT, "ABORT", 0, 4, 4 + XLMIG_WIRE_MAX_TEXT },
	{ XLMIG_FRAME_PROGRESS, "PROGRESS", 0, 8, 8 },
};

static const struct type_rule *rule_for(unsigned type)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(rules); i++)
		if (rules[i].type == type)
			return &rules[i];
	return NULL;
}

const char *xlmig_frame_type_name(unsigned type)
{
	const struct type_rule *r = rule_for(type);

	return r ? r->name : "unknown";
}

bool xlmig_frame_is_sequenced(unsigned type)
{
	return type == XLMIG_FRAME_STREAM || type == XLMIG_FRAME_PAGES ||
	       type == XLMIG_FRAME_END;
}

void xlmig_wire_hdr_encode(uint8_t out[XLMIG_WIRE_HDR_LEN], const struct xlmig_frame_hdr *h)
{
	out[0] = XLMIG_WIRE_MAGIC0;
	out[1] = XLMIG_WIRE_MAGIC1;
	out[2] = h->type;
	out[3] = h->flags;
	xlmig_put_le32(out + 4, h->len);
	xlmig_put_le64(out + 8, h->seq);
}

int xlmig_wire_hdr_decode(const uint8_t in[XLMIG_WIRE_HDR_LEN], uint32_t max_payload,
			  struct xlmig_frame_hdr *h)
{
	const struct type_rule *r;

	if (in[0] != XLMIG_WIRE_MAGIC0 || in[1] != XLMIG_WIRE_MAGIC1)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "not an xlmig frame (bytes %02x %02x): is the peer an xlmig daemon?",
				  in[0], in[1]);
	h->type = in[2];
	h->flags = in[3];
	h->len = xlmig_get_le32(in + 4);
	h->seq = xlmig_get_le64(in + 8);
	r = rule_for(h->type);
	if (!r)
		return xlmig_fail(XLMIG_E_FORMAT, "unknown frame type %u", h->type);
	if (h->flags & ~r->flags)
		return xlmig_fail(XLMIG_E_FORMAT, "%s frame with undefined flags 0x%02x",
				  r->name, h->flags);
	if (h->len < r->min_len || h->len > r->max_len || h->len > max_payload)
		return xlmig_fail(XLMIG_E_FORMAT, "%s frame with payload length %u (allowed %u..%u)",
				  r->name, h->len, r->min_len, XLMIG_MIN(r->max_len, max_payload));
	if (!xlmig_frame_is_sequenced(h->type) && h->seq != 0)
		return xlmig_fail(XLMIG_E_FORMAT, "%s frame with sequence number %llu (must be 0)",
				  r->name, (unsigned long long)h->seq);
	return XLMIG_OK;
}

/* ---- payloads ---- */

int xlmig_wire_pages_hdr_build(struct xlmig_buf *out, uint32_t prefix_len,
			       uint32_t prefix_stored_len, uint32_t data_pages)
{
	uint8_t *p = xlmig_buf_extend(out, XLMIG_WIRE_PAGES_HDR);

	if (!p)
		return XLMIG_E_NOMEM;
	xlmig_put_le32(p, prefix_len);
	xlmig_put_le32(p + 4, prefix_stored_len);
	xlmig_put_le32(p + 8, data_pages);
	xlmig_put_le32(p + 12, 0);
	return XLMIG_OK;
}

int xlmig_wire_pages_parse(const struct xlmig_frame_hdr *h, const uint8_t *p,
			   struct xlmig_wire_pages *out)
{
	size_t rest;

	if (h->len < XLMIG_WIRE_PAGES_HDR)
		return xlmig_fail(XLMIG_E_FORMAT, "PAGES frame of %u bytes is too short", h->len);
	out->prefix_len = xlmig_get_le32(p);
	out->prefix_stored_len = xlmig_get_le32(p + 4);
	out->data_pages = xlmig_get_le32(p + 8);
	out->prefix_zstd = (h->flags & XLMIG_WIRE_F_ZSTD) != 0;
	if (xlmig_get_le32(p + 12) != 0)
		return xlmig_fail(XLMIG_E_FORMAT, "PAGES frame with nonzero reserved field");
	rest = h->len - XLMIG_WIRE_PAGES_HDR;
	if (out->prefix_stored_len == 0 || out->prefix_stored_len > rest)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "PAGES frame: stored pfn array of %u bytes in a %zu-byte payload",
				  out->prefix_stored_len, rest);
	if (!out->prefix_zstd && out->prefix_stored_len != out->prefix_len)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "PAGES frame: uncompressed pfn array of %u bytes announced as %u",
				  out->prefix_stored_len, out->prefix_len);
	out->prefix = p + XLMIG_WIRE_PAGES_HDR;
	out->codec_len = rest - out->prefix_stored_len;
	out->codec = out->codec_len ? out->prefix + out->prefix_stored_len : NULL;
	if ((out->data_pages == 0) != (out->codec_len == 0))
		return xlmig_fail(XLMIG_E_FORMAT,
				  "PAGES frame: %u data pages but a %zu-byte page frame",
				  out->data_pages, out->codec_len);
	return XLMIG_OK;
}

int xlmig_wire_zblob_len(const uint8_t *p, size_t len, uint32_t limit, uint32_t *raw_len)
{
	if (len < 5)
		return xlmig_fail(XLMIG_E_FORMAT, "compressed block of %zu bytes is too short", len);
	*raw_len = xlmig_get_le32(p);
	if (*raw_len == 0 || *raw_len > limit)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "compressed block announces %u bytes (allowed 1..%u)", *raw_len, limit);
	return XLMIG_OK;
}

int xlmig_wire_end_build(struct xlmig_buf *out, const uint8_t digest[32], uint64_t bytes)
{
	uint8_t *p = xlmig_buf_extend(out, XLMIG_WIRE_DIGEST_LEN + 8);

	if (!p)
		return XLMIG_E_NOMEM;
	memcpy(p, digest, XLMIG_WIRE_DIGEST_LEN);
	xlmig_put_le64(p + XLMIG_WIRE_DIGEST_LEN, bytes);
	return XLMIG_OK;
}

int xlmig_wire_progress_build(struct xlmig_buf *out, uint64_t bytes)
{
	uint8_t *p = xlmig_buf_extend(out, 8);

	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	xlmig_put_le64(p, bytes);
	return XLMIG_OK;
}

int xlmig_wire_progress_parse(const uint8_t *p, size_t len, uint64_t *bytes)
{
	if (len != 8)
		return xlmig_fail(XLMIG_E_FORMAT, "PROGRESS payload of %zu bytes (8 expected)", len);
	*bytes = xlmig_get_le64(p);
	return XLMIG_OK;
}

int xlmig_wire_end_parse(const uint8_t *p, size_t len, uint8_t digest[32], uint64_t *bytes)
{
	if (len != XLMIG_WIRE_DIGEST_LEN + 8)
		return xlmig_fail(XLMIG_E_FORMAT, "END frame of %zu bytes (expected %u)", len,
				  XLMIG_WIRE_DIGEST_LEN + 8);
	memcpy(digest, p, XLMIG_WIRE_DIGEST_LEN);
	*bytes = xlmig_get_le64(p + XLMIG_WIRE_DIGEST_LEN);
	return XLMIG_OK;
}

int xlmig_wire_typed_build(struct xlmig_buf *out, uint32_t type, const void *data, size_t len)
{
	uint8_t *p = xlmig_buf_extend(out, 4 + len);

	if (!p)
		return XLMIG_E_NOMEM;
	xlmig_put_le32(p, type);
	if (len)
		memcpy(p + 4, data, len);
	return XLMIG_OK;
}

int xlmig_wire_typed_parse(const uint8_t *p, size_t len, uint32_t *type,
			   const uint8_t **data, size_t *data_len)
{
	if (len < 4)
		return xlmig_fail(XLMIG_E_FORMAT, "typed message of %zu bytes is too short", len);
	*type = xlmig_get_le32(p);
	*data = p + 4;
	*data_len = len - 4;
	return XLMIG_OK;
}

int xlmig_wire_error_build(struct xlmig_buf *out, int code, const char *text)
{
	size_t n = text ? strnlen(text, XLMIG_WIRE_MAX_TEXT) : 0;

	return xlmig_wire_typed_build(out, (uint32_t)(code < 0 ? -code : code), text, n);
}

int xlmig_wire_error_parse(const uint8_t *p, size_t len, int *code,
			   char text[XLMIG_WIRE_MAX_TEXT + 1])
{
	const uint8_t *data = NULL;
	size_t n = 0;
	uint32_t c = 0;
	int rc = xlmig_wire_typed_parse(p, len, &c, &data, &n);

	if (rc != XLMIG_OK)
		return rc;
	if (c > 1000 || n > XLMIG_WIRE_MAX_TEXT)
		return xlmig_fail(XLMIG_E_FORMAT, "failure report with code %u and %zu bytes of text",
				  c, n);
	*code = -(int)c;
	for (size_t i = 0; i < n; i++)
		text[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
	text[n] = '\0';
	return XLMIG_OK;
}

/* ---- frame I/O ---- */

int xlmig_wire_send(struct xlmig_chan *ch, uint8_t type, uint8_t flags, uint64_t seq,
		    const void *payload, size_t len, int timeout_ms)
{
	struct xlmig_frame_hdr h = { .type = type, .flags = flags, .len = (uint32_t)len, .seq = seq };
	uint8_t hdr[XLMIG_WIRE_HDR_LEN];
	struct iovec iov[2];

	if (len > XLMIG_WIRE_MAX_PAYLOAD)
		return xlmig_fail(XLMIG_E_LIMIT, "%s frame of %zu bytes is over the %u-byte limit",
				  xlmig_frame_type_name(type), len, XLMIG_WIRE_MAX_PAYLOAD);
	xlmig_wire_hdr_encode(hdr, &h);
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
	iov[1] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	return xlmig_chan_writev(ch, iov, len ? 2 : 1, timeout_ms);
}

int xlmig_wire_recv(struct xlmig_chan *ch, uint32_t max_payload, int timeout_ms,
		    int payload_timeout_ms, struct xlmig_frame *f)
{
	uint8_t hdr[XLMIG_WIRE_HDR_LEN];
	uint8_t *p;
	int rc;

	xlmig_buf_reset(&f->payload);
	rc = xlmig_chan_read_full(ch, hdr, sizeof(hdr), timeout_ms);
	if (rc == XLMIG_OK)
		rc = xlmig_wire_hdr_decode(hdr, max_payload, &f->hdr);
	if (rc != XLMIG_OK)
		return xlmig_fail_prefix(rc, "%s", xlmig_chan_name(ch));
	p = xlmig_buf_extend(&f->payload, f->hdr.len);
	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a %u-byte frame", f->hdr.len);
	rc = xlmig_chan_read_full(ch, p, f->hdr.len, payload_timeout_ms);
	if (rc == XLMIG_E_CLOSED)
		rc = xlmig_fail(XLMIG_E_TRUNCATED, "%s: connection closed after a %s frame header",
				xlmig_chan_name(ch), xlmig_frame_type_name(f->hdr.type));
	return rc;
}

void xlmig_frame_free(struct xlmig_frame *f)
{
	xlmig_buf_free(&f->payload);
}

void xlmig_wire_send_failure(struct xlmig_chan *ch, int code, const char *text, int timeout_ms)
{
	struct xlmig_buf b = { 0 };
	uint8_t type = code == XLMIG_E_CANCELLED ? XLMIG_FRAME_ABORT : XLMIG_FRAME_ERROR;
	char saved[512];

	/* The report is best effort; keep the message that explains the
	 * failure rather than one about failing to report it. */
	snprintf(saved, sizeof(saved), "%s", xlmig_errmsg());
	if (xlmig_wire_error_build(&b, code, text) == XLMIG_OK)
		xlmig_wire_send(ch, type, 0, 0, b.data, b.len, timeout_ms);
	xlmig_buf_free(&b);
	xlmig_fail(code, "%s", saved);
}

int xlmig_wire_peer_failure(const struct xlmig_frame *f, const char *peer_role)
{
	char text[XLMIG_WIRE_MAX_TEXT + 1];
	int code, rc;

	rc = xlmig_wire_error_parse(f->payload.data, f->payload.len, &code, text);
	if (rc != XLMIG_OK)
		return rc;
	if (f->hdr.type == XLMIG_FRAME_ABORT)
		return xlmig_fail(XLMIG_E_CANCELLED, "the %s cancelled the migration: %s",
				  peer_role, text);
	/* AUTH and UNSUPPORTED mean the same on both ends; anything else is
	 * the peer's own trouble. */
	if (code != XLMIG_E_AUTH && code != XLMIG_E_UNSUPPORTED)
		code = XLMIG_E_PEER;
	return xlmig_fail(code, "the %s reported: %s", peer_role, text);
}
