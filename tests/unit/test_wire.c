/*
 * test_wire.c - frame headers and payloads: round trips and every
 * malformed case; frame I/O over a socketpair.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "wire.h"

static struct xlmig_frame_hdr hdr(uint8_t type, uint8_t flags, uint32_t len, uint64_t seq)
{
	return (struct xlmig_frame_hdr){ .type = type, .flags = flags, .len = len, .seq = seq };
}

/* Decode what encode made of h; the decoder's verdict. */
static int roundtrip(struct xlmig_frame_hdr h, struct xlmig_frame_hdr *out)
{
	uint8_t b[XLMIG_WIRE_HDR_LEN];

	xlmig_wire_hdr_encode(b, &h);
	return xlmig_wire_hdr_decode(b, XLMIG_WIRE_MAX_PAYLOAD, out);
}

TEST(wire_header_roundtrip)
{
	struct xlmig_frame_hdr out;

	CHECK_OK(roundtrip(hdr(XLMIG_FRAME_PAGES, XLMIG_WIRE_F_ZSTD, 5000, 123456789012ull), &out));
	CHECK_EQ(out.type, XLMIG_FRAME_PAGES);
	CHECK_EQ(out.flags, XLMIG_WIRE_F_ZSTD);
	CHECK_EQ(out.len, 5000);
	CHECK_EQ(out.seq, 123456789012ull);
	CHECK_OK(roundtrip(hdr(XLMIG_FRAME_END, 0, 40, 7), &out));
	CHECK_OK(roundtrip(hdr(XLMIG_FRAME_CTRL, 0, 4, 0), &out));
	CHECK_STR(xlmig_frame_type_name(XLMIG_FRAME_SIDE), "SIDE");
	CHECK(xlmig_frame_is_sequenced(XLMIG_FRAME_STREAM));
	CHECK(!xlmig_frame_is_sequenced(XLMIG_FRAME_ERROR));
}

TEST(wire_header_malformed)
{
	struct xlmig_frame_hdr out;
	uint8_t b[XLMIG_WIRE_HDR_LEN];

	xlmig_wire_hdr_encode(b, &(struct xlmig_frame_hdr){ .type = XLMIG_FRAME_STREAM, .len = 1 });
	b[0] = 'Y';
	CHECK_EQ(xlmig_wire_hdr_decode(b, XLMIG_WIRE_MAX_PAYLOAD, &out), XLMIG_E_FORMAT);
	CHECK_EQ(roundtrip(hdr(99, 0, 1, 0), &out), XLMIG_E_FORMAT);            /* type */
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_END, XLMIG_WIRE_F_ZSTD, 40, 0), &out),
		 XLMIG_E_FORMAT);                                            /* flag */
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_STREAM, 0x80, 1, 0), &out), XLMIG_E_FORMAT);
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_STREAM, 0, XLMIG_WIRE_MAX_PAYLOAD + 1, 0), &out),
		 XLMIG_E_FORMAT);                                            /* too long */
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_STREAM, 0, 0, 0), &out), XLMIG_E_FORMAT);
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_END, 0, 39, 0), &out), XLMIG_E_FORMAT);
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_HELLO, 0, XLMIG_WIRE_MAX_HANDSHAKE + 1, 0), &out),
		 XLMIG_E_FORMAT);
	CHECK_EQ(roundtrip(hdr(XLMIG_FRAME_CTRL, 0, 4, 1), &out), XLMIG_E_FORMAT); /* seq */
	/* the negotiated limit is applied too */
	xlmig_wire_hdr_encode(b, &(struct xlmig_frame_hdr){ .type = XLMIG_FRAME_STREAM, .len = 100 });
	CHECK_EQ(xlmig_wire_hdr_decode(b, 99, &out), XLMIG_E_FORMAT);
	CHECK_OK(xlmig_wire_hdr_decode(b, 100, &out));
}

/* A PAGES payload: header, stored prefix, codec bytes. */
static void pages_payload(struct xlmig_buf *b, uint32_t prefix_len, uint32_t stored,
			  uint32_t pages, size_t codec_len)
{
	xlmig_buf_reset(b);
	xlmig_wire_pages_hdr_build(b, prefix_len, stored, pages);
	memset(xlmig_buf_extend(b, stored + codec_len), 0xab, stored + codec_len);
}

static int parse_pages(struct xlmig_buf *b, uint8_t flags, struct xlmig_wire_pages *wp)
{
	struct xlmig_frame_hdr h = hdr(XLMIG_FRAME_PAGES, flags, (uint32_t)b->len, 0);

	return xlmig_wire_pages_parse(&h, b->data, wp);
}

TEST(wire_pages_payload)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_wire_pages wp;

	pages_payload(&b, 32, 32, 1, 100);
	CHECK_OK(parse_pages(&b, 0, &wp));
	CHECK_EQ(wp.prefix_len, 32);
	CHECK_EQ(wp.data_pages, 1);
	CHECK_EQ(wp.codec_len, 100);
	CHECK(wp.codec == b.data + XLMIG_WIRE_PAGES_HDR + 32);
	pages_payload(&b, 24, 24, 0, 0);   /* only XTAB entries: no codec frame */
	CHECK_OK(parse_pages(&b, 0, &wp));
	CHECK(wp.codec == NULL);
	pages_payload(&b, 4000, 20, 1, 10); /* compressed prefix */
	CHECK_OK(parse_pages(&b, XLMIG_WIRE_F_ZSTD, &wp));
	CHECK(wp.prefix_zstd);

	pages_payload(&b, 4000, 20, 1, 10);
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* raw but sizes differ */
	pages_payload(&b, 32, 0, 1, 10);
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* empty prefix */
	pages_payload(&b, 32, 32, 0, 10);
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* no pages, codec bytes */
	pages_payload(&b, 32, 32, 2, 0);
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* pages, no codec bytes */
	pages_payload(&b, 32, 32, 1, 10);
	xlmig_put_le32(b.data + 4, 40);
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* prefix past the end */
	pages_payload(&b, 32, 32, 1, 10);
	b.data[12] = 1;
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* reserved */
	b.len = 8;
	CHECK_EQ(parse_pages(&b, 0, &wp), XLMIG_E_FORMAT);    /* short */
	xlmig_buf_free(&b);
}

TEST(wire_small_payloads)
{
	struct xlmig_buf b = { 0 };
	uint8_t digest[32], got[32];
	char text[XLMIG_WIRE_MAX_TEXT + 1];
	const uint8_t *data;
	size_t len;
	uint64_t bytes;
	uint32_t type, raw;
	int code;

	memset(digest, 0x5a, sizeof(digest));
	CHECK_OK(xlmig_wire_end_build(&b, digest, 1234567));
	CHECK_OK(xlmig_wire_end_parse(b.data, b.len, got, &bytes));
	CHECK(memcmp(got, digest, 32) == 0);
	CHECK_EQ(bytes, 1234567);
	CHECK_EQ(xlmig_wire_end_parse(b.data, b.len - 1, got, &bytes), XLMIG_E_FORMAT);

	xlmig_buf_reset(&b);
	CHECK_OK(xlmig_wire_progress_build(&b, 0x123456789abcull));
	CHECK_OK(xlmig_wire_progress_parse(b.data, b.len, &bytes));
	CHECK_EQ(bytes, 0x123456789abcull);
	CHECK_EQ(xlmig_wire_progress_parse(b.data, b.len - 1, &bytes), XLMIG_E_FORMAT);

	xlmig_buf_reset(&b);
	CHECK_OK(xlmig_wire_typed_build(&b, 77, "abc", 3));
	CHECK_OK(xlmig_wire_typed_parse(b.data, b.len, &type, &data, &len));
	CHECK_EQ(type, 77);
	CHECK_EQ(len, 3);
	CHECK(memcmp(data, "abc", 3) == 0);
	CHECK_EQ(xlmig_wire_typed_parse(b.data, 3, &type, &data, &len), XLMIG_E_FORMAT);

	xlmig_buf_reset(&b);
	CHECK_OK(xlmig_wire_error_build(&b, XLMIG_E_AUTH, "bad\nkey\x01"));
	CHECK_OK(xlmig_wire_error_parse(b.data, b.len, &code, text));
	CHECK_EQ(code, XLMIG_E_AUTH);
	CHECK_STR(text, "bad?key?");
	xlmig_put_le32(b.data, 5000);
	CHECK_EQ(xlmig_wire_error_parse(b.data, b.len, &code, text), XLMIG_E_FORMAT);

	xlmig_buf_reset(&b);
	xlmig_put_le32(xlmig_buf_extend(&b, 8), 100);
	CHECK_OK(xlmig_wire_zblob_len(b.data, b.len, 100, &raw));
	CHECK_EQ(raw, 100);
	CHECK_EQ(xlmig_wire_zblob_len(b.data, b.len, 99, &raw), XLMIG_E_FORMAT);
	xlmig_put_le32(b.data, 0);
	CHECK_EQ(xlmig_wire_zblob_len(b.data, b.len, 100, &raw), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_wire_zblob_len(b.data, 4, 100, &raw), XLMIG_E_FORMAT);
	xlmig_buf_free(&b);
}

/* A channel on one end of a socketpair; the raw other end in *peer. */
static int chan_pair(struct xlmig_chan **ch, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return XLMIG_E_IO;
	*peer = sv[1];
	return xlmig_chan_from_fds(sv[0], sv[0], "test", ch);
}

TEST(wire_frame_io)
{
	struct xlmig_chan *a, *b;
	struct xlmig_frame f = { 0 };
	int fa;

	CHECK_OK(chan_pair(&a, &fa));
	CHECK_OK(xlmig_chan_from_fds(fa, fa, "other", &b));
	CHECK_OK(xlmig_wire_send(a, XLMIG_FRAME_STREAM, 0, 42, "hello", 5, 1000));
	CHECK_OK(xlmig_wire_recv(b, XLMIG_WIRE_MAX_PAYLOAD, 1000, 1000, &f));
	CHECK_EQ(f.hdr.type, XLMIG_FRAME_STREAM);
	CHECK_EQ(f.hdr.seq, 42);
	CHECK_EQ(f.payload.len, 5);
	CHECK(memcmp(f.payload.data, "hello", 5) == 0);
	CHECK_EQ(xlmig_chan_bytes_sent(a), 21);
	CHECK_EQ(xlmig_chan_bytes_received(b), 21);
	/* nothing sent: timeout; then interrupt */
	CHECK_EQ(xlmig_wire_recv(b, XLMIG_WIRE_MAX_PAYLOAD, 50, 50, &f), XLMIG_E_TIMEOUT);
	xlmig_chan_interrupt(b);
	CHECK_EQ(xlmig_wire_recv(b, XLMIG_WIRE_MAX_PAYLOAD, -1, -1, &f), XLMIG_E_CANCELLED);
	xlmig_chan_free(b);
	/* the peer closed: CLOSED */
	CHECK_EQ(xlmig_wire_recv(a, XLMIG_WIRE_MAX_PAYLOAD, 1000, 1000, &f), XLMIG_E_CLOSED);
	xlmig_chan_free(a);
	xlmig_frame_free(&f);
}

/* A nudge ends a wait for data at once, as a timeout would, and leaves
 * the channel usable (an interrupt is final). */
TEST(wire_chan_wait_ends_when_nudged)
{
	struct xlmig_chan *ch;
	uint64_t one = 1, t0;
	int peer, nudge = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	CHECK(nudge >= 0);
	CHECK_OK(chan_pair(&ch, &peer));
	CHECK_EQ(xlmig_chan_wait_readable_or(ch, nudge, 20), XLMIG_E_TIMEOUT);
	CHECK_EQ(write(nudge, &one, sizeof(one)), (ssize_t)sizeof(one));
	t0 = xlmig_now_ns();
	CHECK_EQ(xlmig_chan_wait_readable_or(ch, nudge, 10000), XLMIG_E_TIMEOUT);
	CHECK(xlmig_now_ns() - t0 < 2000ull * 1000000);
	CHECK(!xlmig_chan_interrupted(ch));
	/* Data still wins: readable is readable, nudged or not. */
	CHECK_EQ(write(peer, "x", 1), 1);
	CHECK_OK(xlmig_chan_wait_readable_or(ch, nudge, 10000));
	CHECK_OK(xlmig_chan_wait_readable_or(ch, -1, 10000));
	xlmig_chan_free(ch);
	close(peer);
	close(nudge);
}

TEST(wire_frame_truncated_and_lying)
{
	struct xlmig_frame_hdr h = hdr(XLMIG_FRAME_STREAM, 0, 100, 0);
	struct xlmig_frame f = { 0 };
	struct xlmig_chan *ch;
	uint8_t b[XLMIG_WIRE_HDR_LEN + 10];
	int peer;

	/* a header announcing 100 bytes, 10 sent, then the connection drops */
	CHECK_OK(chan_pair(&ch, &peer));
	xlmig_wire_hdr_encode(b, &h);
	memset(b + XLMIG_WIRE_HDR_LEN, 1, 10);
	CHECK(write(peer, b, sizeof(b)) == (ssize_t)sizeof(b));
	close(peer);
	CHECK_EQ(xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 1000, 1000, &f), XLMIG_E_TRUNCATED);
	xlmig_chan_free(ch);

	/* half a header */
	CHECK_OK(chan_pair(&ch, &peer));
	CHECK(write(peer, b, 7) == 7);
	close(peer);
	CHECK_EQ(xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 1000, 1000, &f), XLMIG_E_TRUNCATED);
	xlmig_chan_free(ch);

	/* a length over the limit is refused before anything is allocated */
	CHECK_OK(chan_pair(&ch, &peer));
	h.len = 0xffffffffu;
	xlmig_wire_hdr_encode(b, &h);
	CHECK(write(peer, b, XLMIG_WIRE_HDR_LEN) == XLMIG_WIRE_HDR_LEN);
	xlmig_frame_free(&f);
	CHECK_EQ(xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 1000, 1000, &f), XLMIG_E_FORMAT);
	CHECK_EQ(f.payload.cap, 0);
	close(peer);
	xlmig_chan_free(ch);
}
