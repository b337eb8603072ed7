/*
 * fuzz_xfer_recv.c - libFuzzer harness for a whole receiving transfer,
 * end to end: the input is the frames a source sends after a (keyless,
 * one-channel) handshake, read by xlmig_xfer_recv over a session as a
 * destination reads them: its reader thread, reorder, decompression, the
 * PAGES rebuild through the codec, the END digest.  Anything may be
 * refused; nothing may crash, hang, read out of bounds or leak.
 *
 * End to end on purpose, so slow: each input pays for a session and a
 * transfer's set-up (reader thread, zstd and codec contexts, digest).
 * The frames' parsers alone are fuzz_wire's, from memory.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (a valid transfer of
 * a STREAM, a PAGES and an END frame, checked to be received) into DIR
 * and exits.
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
	xo.xalloc_zero_pages = true;   /* as a job's restore has it */
	rc = xlmig_conn_over_fds(fd, dup(fuzz_devnull()), true, &o, NULL, &c);
	if (rc == XLMIG_OK) {
		rc = xlmig_xfer_recv(c, fuzz_devnull(), &xo, &st, NULL);
		xlmig_conn_close(c);
	}
	return rc;
}

/* A transfer the receiver accepts: stream bytes, one PAGE_DATA record of
 * two pages (one zero, one patterned), END with the right digest. */
static void write_seeds(const char *dir)
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
	fuzz_put_frame(&all, XLMIG_FRAME_STREAM, 0, 0, "some stream", 11);
	xlmig_wire_pages_hdr_build(&pl, 32, 32, 2);
	xlmig_buf_append(&pl, rec.data, 32);
	if (!codec || xlmig_codec_encode(codec, pfns, pages, 2, &pl, NULL) != XLMIG_OK)
		abort();
	fuzz_put_frame(&all, XLMIG_FRAME_PAGES, 0, 1, pl.data, pl.len);
	xlmig_buf_append(&rec, pages, sizeof(pages));
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "some stream", 11);
	EVP_DigestUpdate(md, rec.data, rec.len);
	EVP_DigestFinal_ex(md, digest, NULL);
	xlmig_buf_reset(&pl);
	xlmig_wire_end_build(&pl, digest, 11 + rec.len);
	fuzz_put_frame(&all, XLMIG_FRAME_END, 0, 2, pl.data, pl.len);
	fuzz_put_seed(dir, "transfer", -1, all.data, all.len);
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct xlmig_handshake_offer offer;

	/* Before the seeds: the transfer seed is checked by receiving it. */
	xlmig_handshake_offer_default(&offer);
	offer.channels = 1;
	offer.cache_bytes = CACHE;
	/* SHA-256, not a MAC: its key comes from the session's nonces, so
	 * no recorded seed could carry a digest the receiver accepts. */
	offer.features &= ~(uint32_t)(XLMIG_FEAT_GMAC | XLMIG_FEAT_POLY1305);
	fuzz_keyless_prologue(&prologue, &offer);
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	receive(data, size);
	return 0;
}
