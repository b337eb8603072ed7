/*
 * ckpt_zip.c - the compressed checkpoint container (see ckpt_zip.h):
 * packing a save stream as it is written, unpacking it as it is read.
 */
#include "ckpt_zip.h"
#include "codec.h"
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* STREAM blocks are cut at this size (an xl config can be 16 MiB). */
#define STREAM_CHUNK (1u << 20)
#define IO_CHUNK     (1u << 20)
#define END_LEN      40u

/* ---- what both ends keep of the save stream: its length and digest ---- */

struct tally {
	EVP_MD_CTX *md;
	uint64_t bytes;
};

static int tally_init(struct tally *t)
{
	t->bytes = 0;
	t->md = EVP_MD_CTX_new();
	if (!t->md || EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) != 1)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot set up SHA-256");
	return XLMIG_OK;
}

static int tally_add(struct tally *t, const void *data, size_t len)
{
	t->bytes += len;
	if (EVP_DigestUpdate(t->md, data, len) != 1)
		return xlmig_fail(XLMIG_E_NOMEM, "SHA-256 failed");
	return XLMIG_OK;
}

static void tally_free(struct tally *t)
{
	EVP_MD_CTX_free(t->md);
	t->md = NULL;
}

static int tally_end(struct tally *t, uint8_t out[32])
{
	unsigned n = 0;

	if (EVP_DigestFinal_ex(t->md, out, &n) != 1 || n != 32)
		return xlmig_fail(XLMIG_E_NOMEM, "SHA-256 failed");
	return XLMIG_OK;
}

/* The pfns of a PAGE_DATA record's entries with data, as the codec is
 * given them at both ends; returns how many there are. */
static uint32_t data_pfns(const uint8_t *entries, uint32_t count, uint64_t *pfns)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = xlmig_get_le64(entries + 8 * (size_t)i);

		if (xlmig_pfn_type_has_data((unsigned)(e >> XLMIG_PFN_TYPE_SHIFT)))
			pfns[n++] = e & XLMIG_PFN_MASK;
	}
	return n;
}

static void add_codec_stats(struct xlmig_ckz_stats *st, const struct xlmig_codec_stats *cs)
{
	st->pages_zero += cs->pages_zero;
	st->pages_zstd += cs->pages_zstd;
	st->pages_raw += cs->pages_raw;
}

bool xlmig_ckz_is_container(const uint8_t *data, size_t len)
{
	return len >= XLMIG_CKZ_MAGIC_LEN && !memcmp(data, XLMIG_CKZ_MAGIC, XLMIG_CKZ_MAGIC_LEN);
}

/* ---- the writer ---- */

struct xlmig_ckz_writer {
	const struct xlmig_sink *out;
	struct xlmig_parser *parser;
	struct xlmig_codec *codec;
	struct tally tally;
	struct xlmig_buf pending;        /* stream bytes for the next STREAM block */
	struct xlmig_buf block;
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
	struct xlmig_ckz_stats st;
	bool failed;
};

static int put_block(struct xlmig_ckz_writer *w, uint32_t type, const struct xlmig_buf *payload)
{
	uint8_t hdr[XLMIG_CKZ_BLOCK_HDR];
	int rc;

	xlmig_put_le32(hdr, type);
	xlmig_put_le32(hdr + 4, (uint32_t)payload->len);
	rc = xlmig_sink_write(w->out, hdr, sizeof(hdr));
	if (rc == XLMIG_OK)
		rc = xlmig_sink_write(w->out, payload->data, payload->len);
	if (rc == XLMIG_OK) {
		w->st.file_bytes += sizeof(hdr) + payload->len;
		w->st.blocks[type]++;
	}
	return rc;
}

static int flush_stream(struct xlmig_ckz_writer *w)
{
	struct xlmig_buf piece = { 0 };
	int rc = XLMIG_OK;

	for (size_t off = 0; off < w->pending.len && !rc; off += piece.len) {
		piece.data = w->pending.data + off;
		piece.len = XLMIG_MIN(w->pending.len - off, (size_t)STREAM_CHUNK);
		rc = put_block(w, XLMIG_CKZ_STREAM, &piece);
	}
	xlmig_buf_reset(&w->pending);
	return rc;
}

static int pack_pages(struct xlmig_ckz_writer *w, const struct xlmig_item *it)
{
	struct xlmig_codec_stats cs = { 0 };
	uint32_t n = data_pfns(it->u.page.pfns, it->u.page.count, w->pfns);
	uint8_t *head;
	int rc;

	xlmig_buf_reset(&w->block);
	head = xlmig_buf_extend(&w->block, 8);
	if (!head)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory packing a checkpoint");
	xlmig_put_le32(head, it->u.page.count);
	xlmig_put_le32(head + 4, n);
	rc = xlmig_buf_append(&w->block, it->u.page.pfns, 8 * (size_t)it->u.page.count);
	if (rc == XLMIG_OK && n)
		rc = xlmig_codec_encode(w->codec, w->pfns, it->u.page.data, n, &w->block, &cs);
	if (rc == XLMIG_OK)
		rc = put_block(w, XLMIG_CKZ_PAGES, &w->block);
	if (rc == XLMIG_OK)
		add_codec_stats(&w->st, &cs);
	return rc;
}

static int on_stream_item(void *opaque, const struct xlmig_item *it)
{
	struct xlmig_ckz_writer *w = opaque;
	int rc;

	/* A record the stream writer would not give back byte for byte
	 * (reserved bytes set) travels verbatim. */
	if (it->kind != XLMIG_ITEM_LIBXC_RECORD || it->type != XLMIG_REC_PAGE_DATA ||
	    xlmig_get_le32(it->body + 4) != 0) {
		rc = xlmig_buf_append(&w->pending, it->raw, it->raw_len);
		if (rc == XLMIG_OK && w->pending.len >= STREAM_CHUNK)
			rc = flush_stream(w);
		return rc;
	}
	rc = flush_stream(w);
	return rc ? rc : pack_pages(w, it);
}

int xlmig_ckz_writer_new(const struct xlmig_sink *out, int level, struct xlmig_ckz_writer **wp)
{
	struct xlmig_codec_opts co = { .zstd_level = level, .cache_bytes = 0 };
	struct xlmig_ckz_writer *w;
	uint8_t hdr[XLMIG_CKZ_HEADER_LEN] = { 0 };
	int rc;

	*wp = NULL;
	if (level < 1 || level > XLMIG_CKZ_LEVEL_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "a checkpoint's compression level is 1 to %d",
				  XLMIG_CKZ_LEVEL_MAX);
	w = calloc(1, sizeof(*w));
	if (!w)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	w->out = out;
	w->parser = xlmig_parser_new(on_stream_item, w);
	w->codec = xlmig_codec_new(&co);
	rc = w->parser && w->codec ? tally_init(&w->tally)
				   : xlmig_fail(XLMIG_E_NOMEM, "out of memory for a checkpoint's codec");
	memcpy(hdr, XLMIG_CKZ_MAGIC, XLMIG_CKZ_MAGIC_LEN);
	xlmig_put_le32(hdr + 8, XLMIG_CKZ_VERSION);
	if (rc == XLMIG_OK)
		rc = xlmig_sink_write(out, hdr, sizeof(hdr));
	if (rc) {
		xlmig_ckz_writer_free(w);
		return rc;
	}
	w->st.file_bytes = sizeof(hdr);
	*wp = w;
	return XLMIG_OK;
}

int xlmig_ckz_writer_feed(struct xlmig_ckz_writer *w, const void *data, size_t len)
{
	int rc;

	if (w->failed)
		return xlmig_fail(XLMIG_E_INVAL, "the checkpoint's packing failed before");
	rc = tally_add(&w->tally, data, len);
	if (rc == XLMIG_OK)
		rc = xlmig_parser_feed(w->parser, data, len);
	w->failed = rc != XLMIG_OK;
	return rc;
}

int xlmig_ckz_writer_finish(struct xlmig_ckz_writer *w)
{
	struct xlmig_buf end = { 0 };
	uint8_t body[END_LEN];
	int rc = w->failed ? xlmig_fail(XLMIG_E_INVAL, "the checkpoint's packing failed before")
			   : xlmig_parser_finish(w->parser);

	if (rc == XLMIG_OK)
		rc = flush_stream(w);
	if (rc == XLMIG_OK)
		rc = tally_end(&w->tally, body + 8);
	xlmig_put_le64(body, w->tally.bytes);
	end.data = body;
	end.len = sizeof(body);
	if (rc == XLMIG_OK)
		rc = put_block(w, XLMIG_CKZ_END, &end);
	if (rc == XLMIG_OK)
		memcpy(w->st.stream_sha256, body + 8, 32);
	w->st.stream_bytes = w->tally.bytes;
	w->failed = true;   /* nothing may follow the END block */
	return rc;
}

const struct xlmig_ckz_stats *xlmig_ckz_writer_stats(const struct xlmig_ckz_writer *w)
{
	return &w->st;
}

void xlmig_ckz_writer_free(struct xlmig_ckz_writer *w)
{
	if (!w)
		return;
	xlmig_parser_free(w->parser);
	xlmig_codec_free(w->codec);
	tally_free(&w->tally);
	xlmig_buf_free(&w->pending);
	xlmig_buf_free(&w->block);
	free(w);
}

/* ---- the reader ---- */

/* A bounded reader over one block's payload. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (n > r->left)
		return NULL;
	r->p += n;
	r->left -= n;
	return p;
}

static bool rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p = rd_take(r, 4);

	if (p)
		*v = xlmig_get_le32(p);
	return p != NULL;
}

enum rd_state { R_HEADER, R_BLOCK_HDR, R_BLOCK, R_DONE, R_FAILED };

struct xlmig_ckz_reader {
	const struct xlmig_sink *out;
	struct xlmig_codec *codec;
	struct tally tally;
	enum rd_state state;
	uint64_t offset;                 /* container bytes consumed */
	uint64_t block_offset;           /* where the block being read starts */
	uint32_t block_type;
	size_t need;                     /* bytes acc must hold to go on */
	struct xlmig_buf acc;
	uint8_t *pages;                  /* one record's decoded pages */
	uint64_t pfns[XLMIG_MAX_PAGES_PER_RECORD];
	uint64_t entries[XLMIG_MAX_PAGES_PER_RECORD];
	struct xlmig_ckz_stats st;
};

static const char *const block_names[] = { "a", "STREAM", "PAGES", "END" };

static int bad(struct xlmig_ckz_reader *r, int err, const char *why)
{
	const char *what = r->state == R_HEADER ? "header" : "block";
	const char *name = r->state == R_HEADER ? "its" :
			   block_names[r->block_type <= XLMIG_CKZ_END ? r->block_type : 0];

	r->state = R_FAILED;
	return xlmig_fail(err, "compressed checkpoint: %s %s at offset %" PRIu64 ": %s", name, what,
			  r->block_offset, why);
}

static int emit(struct xlmig_ckz_reader *r, const void *data, size_t len)
{
	int rc = tally_add(&r->tally, data, len);

	r->st.stream_bytes += len;
	return rc ? rc : xlmig_sink_write(r->out, data, len);
}

static int emit_sink(void *opaque, const void *data, size_t len)
{
	return emit(opaque, data, len);
}

static int read_pages(struct xlmig_ckz_reader *r, struct rd *b)
{
	struct xlmig_sink s = { emit_sink, r };
	struct xlmig_codec_stats cs = { 0 };
	uint32_t count, with_data;
	const uint8_t *ents;
	int rc;

	if (!rd_u32(b, &count) || !rd_u32(b, &with_data))
		return bad(r, XLMIG_E_FORMAT, "shorter than its counts");
	if (count == 0 || count > XLMIG_MAX_PAGES_PER_RECORD)
		return bad(r, XLMIG_E_FORMAT, "a record holds 1 to 1024 pfn entries");
	ents = rd_take(b, 8 * (size_t)count);
	if (!ents)
		return bad(r, XLMIG_E_FORMAT, "shorter than its pfn entries");
	if (data_pfns(ents, count, r->pfns) != with_data)
		return bad(r, XLMIG_E_FORMAT, "its count of pages with data is not its entries'");
	if (with_data == 0 && b->left)
		return bad(r, XLMIG_E_FORMAT, "a frame for a record without pages with data");
	if (with_data) {
		rc = xlmig_codec_decode(r->codec, b->p, b->left, r->pfns, with_data, r->pages, &cs);
		if (rc)
			return bad(r, rc, xlmig_errmsg());
		add_codec_stats(&r->st, &cs);
	}
	for (uint32_t i = 0; i < count; i++)
		r->entries[i] = xlmig_get_le64(ents + 8 * (size_t)i);
	return xlmig_write_page_data(&s, count, r->entries, r->pages);
}

static int read_end(struct xlmig_ckz_reader *r, struct rd *b)
{
	uint8_t digest[32];
	const uint8_t *p = rd_take(b, END_LEN);
	int rc;

	if (!p || b->left)
		return bad(r, XLMIG_E_FORMAT, "an END block is 40 bytes");
	if (xlmig_get_le64(p) != r->tally.bytes)
		return bad(r, XLMIG_E_FORMAT, "the stream given back is not as long as the one packed (the file is damaged)");
	if ((rc = tally_end(&r->tally, digest)))
		return rc;
	if (memcmp(digest, p + 8, sizeof(digest)))
		return bad(r, XLMIG_E_FORMAT, "the stream given back has not the packed stream's SHA-256 (the file is damaged)");
	memcpy(r->st.stream_sha256, digest, sizeof(digest));
	r->state = R_DONE;
	return XLMIG_OK;
}

static int read_block(struct xlmig_ckz_reader *r)
{
	struct rd b = { r->acc.data + XLMIG_CKZ_BLOCK_HDR, r->acc.len - XLMIG_CKZ_BLOCK_HDR };
	int rc;

	r->st.blocks[r->block_type]++;
	switch (r->block_type) {
	case XLMIG_CKZ_STREAM:
		rc = emit(r, b.p, b.left);
		break;
	case XLMIG_CKZ_PAGES:
		rc = read_pages(r, &b);
		break;
	default:
		rc = read_end(r, &b);
		break;
	}
	return rc;
}

static int read_header(struct xlmig_ckz_reader *r)
{
	struct rd h = { r->acc.data, r->acc.len };
	const uint8_t *magic = rd_take(&h, XLMIG_CKZ_MAGIC_LEN);
	uint32_t version = 0, flags = 0;

	if (!magic || memcmp(magic, XLMIG_CKZ_MAGIC, XLMIG_CKZ_MAGIC_LEN))
		return bad(r, XLMIG_E_FORMAT, "not a compressed checkpoint (no XLMIGCKZ magic)");
	rd_u32(&h, &version);
	rd_u32(&h, &flags);
	if (version != XLMIG_CKZ_VERSION)
		return bad(r, XLMIG_E_UNSUPPORTED, "a container version this xlmig does not read (it reads version 1)");
	if (flags)
		return bad(r, XLMIG_E_UNSUPPORTED, "flags this xlmig does not know");
	return XLMIG_OK;
}

/* acc holds what the state needs: act on it and say what comes next. */
static int step(struct xlmig_ckz_reader *r)
{
	struct rd h = { r->acc.data, r->acc.len };
	uint32_t len = 0;
	int rc = XLMIG_OK;

	switch (r->state) {
	case R_HEADER:
		rc = read_header(r);
		r->state = R_BLOCK_HDR;
		r->need = XLMIG_CKZ_BLOCK_HDR;
		break;
	case R_BLOCK_HDR:
		rd_u32(&h, &r->block_type);
		rd_u32(&h, &len);
		if (r->block_type < XLMIG_CKZ_STREAM || r->block_type > XLMIG_CKZ_END)
			return bad(r, XLMIG_E_FORMAT, "unknown block type");
		if (len > XLMIG_CKZ_BLOCK_MAX)
			return bad(r, XLMIG_E_LIMIT, "its length is over the largest block");
		r->state = R_BLOCK;
		r->need = XLMIG_CKZ_BLOCK_HDR + (size_t)len;
		return XLMIG_OK;   /* acc keeps the header */
	case R_BLOCK:
		rc = read_block(r);
		if (r->state != R_DONE)
			r->state = R_BLOCK_HDR;
		r->need = XLMIG_CKZ_BLOCK_HDR;
		break;
	default:
		break;
	}
	xlmig_buf_reset(&r->acc);
	r->block_offset = r->offset;
	if (rc)
		r->state = R_FAILED;
	return rc;
}

int xlmig_ckz_reader_new(const struct xlmig_sink *out, struct xlmig_ckz_reader **rp)
{
	struct xlmig_codec_opts co = { .cache_bytes = 0 };
	struct xlmig_ckz_reader *r = calloc(1, sizeof(*r));
	int rc;

	*rp = NULL;
	if (!r)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	r->out = out;
	r->state = R_HEADER;
	r->need = XLMIG_CKZ_HEADER_LEN;
	r->codec = xlmig_codec_new(&co);
	r->pages = malloc((size_t)XLMIG_MAX_PAGES_PER_RECORD * XLMIG_PAGE_SIZE);
	rc = r->codec && r->pages ? tally_init(&r->tally)
				  : xlmig_fail(XLMIG_E_NOMEM, "out of memory for a checkpoint's codec");
	if (rc) {
		xlmig_ckz_reader_free(r);
		return rc;
	}
	*rp = r;
	return XLMIG_OK;
}

int xlmig_ckz_reader_feed(struct xlmig_ckz_reader *r, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc = XLMIG_OK;

	if (r->state == R_FAILED)
		return xlmig_fail(XLMIG_E_FORMAT, "compressed checkpoint: refused before");
	while (len && !rc) {
		size_t n;

		if (r->state == R_DONE) {
			r->block_type = 0;
			return bad(r, XLMIG_E_FORMAT, "bytes after the END block");
		}
		n = XLMIG_MIN(len, r->need - r->acc.len);
		if ((rc = xlmig_buf_append(&r->acc, p, n)))
			break;
		p += n;
		len -= n;
		r->offset += n;
		r->st.file_bytes += n;
		if (r->acc.len == r->need)
			rc = step(r);
	}
	return rc;
}

int xlmig_ckz_reader_finish(struct xlmig_ckz_reader *r)
{
	if (r->state == R_DONE)
		return XLMIG_OK;
	if (r->state == R_FAILED)
		return xlmig_fail(XLMIG_E_FORMAT, "compressed checkpoint: refused before");
	r->state = R_FAILED;
	return xlmig_fail(XLMIG_E_TRUNCATED, "compressed checkpoint: it ends at offset %" PRIu64
			  " before its END block (the file is cut short: was its checkpoint finished?)", r->offset);
}

const struct xlmig_ckz_stats *xlmig_ckz_reader_stats(const struct xlmig_ckz_reader *r)
{
	return &r->st;
}

void xlmig_ckz_reader_free(struct xlmig_ckz_reader *r)
{
	if (!r)
		return;
	xlmig_codec_free(r->codec);
	tally_free(&r->tally);
	xlmig_buf_free(&r->acc);
	free(r->pages);
	free(r);
}

/* ---- between file descriptors ---- */

/* Writes into a pipe whose reader may go away first (a failed restore). */
static int pipe_sink_write(void *fdp, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = xlmig_write_nosigpipe(*(int *)fdp, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(errno == EPIPE ? XLMIG_E_CLOSED : XLMIG_E_IO,
					  "writing the unpacked checkpoint: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return XLMIG_OK;
}

typedef int (*feed_fn)(void *obj, const void *data, size_t len);

/* Everything in fd to its end, into feed. */
static int pump(int fd, feed_fn feed, void *obj)
{
	uint8_t *buf = malloc(IO_CHUNK);
	int rc = buf ? XLMIG_OK : xlmig_fail(XLMIG_E_NOMEM, "out of memory");

	while (rc == XLMIG_OK) {
		ssize_t n = read(fd, buf, IO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = xlmig_fail(XLMIG_E_IO, "reading a checkpoint: %s", strerror(errno));
		else if (n == 0)
			break;
		else
			rc = feed(obj, buf, (size_t)n);
	}
	free(buf);
	return rc;
}

static int feed_writer(void *w, const void *data, size_t len)
{
	return xlmig_ckz_writer_feed(w, data, len);
}

static int feed_reader(void *r, const void *data, size_t len)
{
	return xlmig_ckz_reader_feed(r, data, len);
}

int xlmig_ckz_pack_mem(const uint8_t *stream, size_t len, int level, struct xlmig_buf *out)
{
	struct xlmig_sink s = { xlmig_sink_buf_write, out };
	struct xlmig_ckz_writer *w = NULL;
	int rc = xlmig_ckz_writer_new(&s, level, &w);

	if (rc == XLMIG_OK)
		rc = xlmig_ckz_writer_feed(w, stream, len);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_writer_finish(w);
	xlmig_ckz_writer_free(w);
	return rc;
}

int xlmig_ckz_pack_fd(int in, int out, int level, struct xlmig_ckz_stats *st)
{
	struct xlmig_sink s = { xlmig_sink_fd_write, &out };
	struct xlmig_ckz_writer *w = NULL;
	int rc = xlmig_ckz_writer_new(&s, level, &w);

	if (rc == XLMIG_OK)
		rc = pump(in, feed_writer, w);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_writer_finish(w);
	if (w && st)
		*st = w->st;
	xlmig_ckz_writer_free(w);
	return rc;
}

int xlmig_ckz_unpack_fd(int in, int out, struct xlmig_ckz_stats *st)
{
	struct xlmig_sink s = { pipe_sink_write, &out };
	struct xlmig_ckz_reader *r = NULL;
	int rc = xlmig_ckz_reader_new(&s, &r);

	if (rc == XLMIG_OK)
		rc = pump(in, feed_reader, r);
	if (rc == XLMIG_OK)
		rc = xlmig_ckz_reader_finish(r);
	if (r && st)
		*st = r->st;
	xlmig_ckz_reader_free(r);
	return rc;
}
