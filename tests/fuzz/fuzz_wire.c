/*
 * fuzz_wire.c - libFuzzer harness for frames: the input is what a peer
 * sent on a channel.
 *
 * First byte even: frames are read from the rest one after another and
 * every payload goes through its parser.  First byte odd: the rest
 * follows a (keyless) handshake into a whole receiving transfer
 * (xlmig_xfer_recv): reorder, decompression, PAGES rebuild through the
 * codec, END digest.  Anything may be refused; nothing may crash, hang,
 * read out of bounds or leak.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (valid frames of
 * every type; a valid transfer of a STREAM, a PAGES and an END frame)
 * into DIR and exits.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "stream.h"
#include "xfer.h"

#define CACHE (64u << 10)  /* the delta cache the recorded HELLO asks for: small,
			    * as a large one costs each input its allocation */

static struct xlmig_buf prologue;   /* HELLO + AUTH of a keyless source */
static int devnull = -1;

static void parse_payload(const struct xlmig_frame *f)
{
	const uint8_t *p = f->payload.data, *data;
	char text[XLMIG_WIRE_MAX_TEXT + 1];
	struct xlmig_wire_pages wp;
	uint8_t digest[32];
	uint64_t bytes;
	uint32_t type, raw;
	size_t len = f->payload.len;
	int code;

	switch (f->hdr.type) {
	case XLMIG_FRAME_STREAM:
		if (f->hdr.flags & XLMIG_WIRE_F_ZSTD)
			xlmig_wire_zblob_len(p, len, XLMIG_WIRE_MAX_PAYLOAD, &raw);
		break;
	case XLMIG_FRAME_PAGES:
		if (xlmig_wire_pages_parse(&f->hdr, p, &wp) == XLMIG_OK && wp.prefix_zstd)
			xlmig_wire_zblob_len(wp.prefix, wp.prefix_stored_len, wp.prefix_len, &raw);
		break;
	case XLMIG_FRAME_END:
		xlmig_wire_end_parse(p, len, digest, &bytes);
		break;
	case XLMIG_FRAME_PROGRESS:
		xlmig_wire_progress_parse(p, len, &bytes);
		break;
	case XLMIG_FRAME_SIDE:
	case XLMIG_FRAME_CTRL:
		xlmig_wire_typed_parse(p, len, &type, &data, &len);
		break;
	case XLMIG_FRAME_ERROR:
	case XLMIG_FRAME_ABORT:
		if (xlmig_wire_error_parse(p, len, &code, text) == XLMIG_OK && strlen(text) > XLMIG_WIRE_MAX_TEXT)
			abort();
		break;
	}
}

static void frame(struct xlmig_buf *out, uint8_t type, uint8_t flags, uint64_t seq,
		  const struct xlmig_buf *payload)
{
	struct xlmig_frame_hdr h = { .type = type, .flags = flags, .len = (uint32_t)payload->len,
				     .seq = seq };

	xlmig_wire_hdr_encode(xlmig_buf_extend(out, XLMIG_WIRE_HDR_LEN), &h);
	xlmig_buf_append(out, payload->data, payload->len);
}

static int receive(const uint8_t *data, size_t size);

static void frames_seed(const char *dir)
{
	struct xlmig_buf all = { 0 }, pl = { 0 };
	uint8_t digest[32] = { 1 };

	xlmig_buf_append(&pl, "stream bytes", 12);
	frame(&all, XLMIG_FRAME_STREAM, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_pages_hdr_build(&pl, 24, 24, 1);
	memset(xlmig_buf_extend(&pl, 24 + 8), 7, 24 + 8);
	frame(&all, XLMIG_FRAME_PAGES, 0, 1, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_end_build(&pl, digest, 12);
	frame(&all, XLMIG_FRAME_END, 0, 2, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_typed_build(&pl, 3, "ctrl", 4);
	frame(&all, XLMIG_FRAME_CTRL, 0, 0, &pl);
	frame(&all, XLMIG_FRAME_SIDE, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_error_build(&pl, XLMIG_E_AUTH, "refused");
	frame(&all, XLMIG_FRAME_ERROR, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_progress_build(&pl, 1u << 20);
	frame(&all, XLMIG_FRAME_PROGRESS, 0, 0, &pl);
	fuzz_put_seed(dir, "frames", 0, all.data, all.len);
	xlmig_buf_free(&all);
	xlmig_buf_free(&pl);
}

/* A transfer the receiver accepts: stream bytes, one PAGE_DATA record of
 * two pages (one zero, one patterned), END with the right digest. */
static void transfer_seed(const char *dir)
{
	struct xlmig_codec_opts co = { .cache_bytes = CACHE };
	struct xlmig_codec *codec = xlmig_codec_new(&co);
	struct xlmig_buf all = { 0 }, pl = { 0 }, rec = { 0 };
	uint64_t pfns[2] = { 5, 9 };
	uint8_t pages[2 * XLMIG_PAGE_SIZE] = { 0 }, digest[32];
	uint8_t *p;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	for (size_t i = 0; i < XLMIG_PAGE_SIZE; i++)
		pages[XLMIG_PAGE_SIZE + i] = (uint8_t)(i * 7);
	p = xlmig_buf_extend(&rec, 16 + 16);
	xlmig_put_le32(p, XLMIG_REC_PAGE_DATA);
	xlmig_put_le32(p + 4, 8 + 16 + 2 * XLMIG_PAGE_SIZE);
	xlmig_put_le32(p + 8, 2);
	xlmig_put_le32(p + 12, 0);
	xlmig_put_le64(p + 16, pfns[0]);
	xlmig_put_le64(p + 24, pfns[1]);
	xlmig_buf_append(&pl, "some stream", 11);
	frame(&all, XLMIG_FRAME_STREAM, 0, 0, &pl);
	xlmig_buf_reset(&pl);
	xlmig_wire_pages_hdr_build(&pl, 32, 32, 2);
	xlmig_buf_append(&pl, rec.data, 32);
	if (!codec || xlmig_codec_encode(codec, pfns, pages, 2, &pl, NULL) != XLMIG_OK)
		abort();
	frame(&all, XLMIG_FRAME_PAGES, 0, 1, &pl);
	xlmig_buf_append(&rec, pages, sizeof(pages));
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "some stream", 11);
	EVP_DigestUpdate(md, rec.data, rec.len);
	EVP_DigestFinal_ex(md, digest, NULL);
	xlmig_buf_reset(&pl);
	xlmig_wire_end_build(&pl, digest, 11 + rec.len);
	frame(&all, XLMIG_FRAME_END, 0, 2, &pl);
	fuzz_put_seed(dir, "transfer", 1, all.data, all.len);
	if (receive(all.data, all.len) != XLMIG_OK) {
		fprintf(stderr, "the transfer seed is refused: %s\n", xlmig_errmsg());
		abort();
	}
	EVP_MD_CTX_free(md);
	xlmig_codec_free(codec);
	xlmig_buf_free(&all);
	xlmig_buf_free(&pl);
	xlmig_buf_free(&rec);
}

/* Record what a keyless one-channel source sends first, plus its AUTH. */
static void record_prologue(void)
{
	struct xlmig_frame_hdr h = { .type = XLMIG_FRAME_AUTH, .len = XLMIG_MAC_LEN };
	struct xlmig_chan *ch = fuzz_mem_chan(NULL, 0, &prologue);
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session s;

	xlmig_handshake_offer_default(&offer);
	offer.channels = 1;
	offer.cache_bytes = CACHE;
	/* SHA-256, not GMAC: GMAC's key comes from the session's nonces, so
	 * no recorded seed could carry a digest the receiver accepts. */
	offer.features &= ~(uint32_t)XLMIG_FEAT_GMAC;
	xlmig_handshake_client(ch, NULL, &offer, 0, &s);  /* fails at the missing WELCOME */
	xlmig_chan_free(ch);
	xlmig_wire_hdr_encode(xlmig_buf_extend(&prologue, XLMIG_WIRE_HDR_LEN), &h);
	memset(xlmig_buf_extend(&prologue, XLMIG_MAC_LEN), 0, XLMIG_MAC_LEN);
}

static void write_seeds(const char *dir)
{
	frames_seed(dir);
	transfer_seed(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The transfer seed is checked by receiving it, which needs both. */
	record_prologue();
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	fuzz_init(write_seeds);
	return 0;
}

static void parse_frames(const uint8_t *data, size_t size)
{
	struct xlmig_chan *ch = fuzz_mem_chan(data, size, NULL);
	struct xlmig_frame f = { 0 };

	while (xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, 0, 0, &f) == XLMIG_OK) {
		if (f.payload.len != f.hdr.len)
			abort();
		parse_payload(&f);
	}
	xlmig_frame_free(&f);
	xlmig_chan_free(ch);
}

/* The source's bytes (the recorded handshake, then the fuzzed frames,
 * then end of input) read from a memory file, the answers written to
 * /dev/null: a whole receiving transfer without a peer thread or a
 * socket per input (the keyless handshake needs nothing the answers
 * say). */
static int receive(const uint8_t *data, size_t size)
{
	static struct xlmig_buf in;
	struct xlmig_conn_opts o;
	struct xlmig_xfer_opts xo;
	struct xlmig_xfer_stats st;
	struct xlmig_conn *c = NULL;
	int fd, rc;

	xlmig_buf_reset(&in);
	if (xlmig_buf_append(&in, prologue.data, prologue.len) != XLMIG_OK ||
	    xlmig_buf_append(&in, data, size) != XLMIG_OK)
		abort();
	/* The session owns the fds it is given: a copy of the memory file's. */
	fd = dup(fuzz_input_fd(in.data, in.len));
	if (fd < 0)
		abort();
	xlmig_conn_opts_default(&o);
	o.insecure = true;
	o.cache_bytes = CACHE;
	o.timeout_ms = o.io_timeout_ms = 2000;
	xlmig_xfer_opts_default(&xo);
	xo.reorder_bytes = 64u << 10;
	rc = xlmig_conn_over_fds(fd, dup(devnull), true, &o, NULL, &c);
	if (rc == XLMIG_OK) {
		rc = xlmig_xfer_recv(c, devnull, &xo, &st, NULL);
		xlmig_conn_close(c);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		receive(data + 1, size - 1);
	else
		parse_frames(data + 1, size - 1);
	return 0;
}
