/*
 * xfer_common.c - what the send and receive halves of a stream transfer share:
 * options, the first-failure record, the stream digest, the codec set-up
 * and the per-channel counters.  The halves are xfer_send.c and
 * xfer_recv.c (see xfer.h for both pipelines).
 */
#include "xfer_private.h"

#include <stdio.h>

void xlmig_xfer_opts_default(struct xlmig_xfer_opts *o)
{
	*o = (struct xlmig_xfer_opts){
		.queue_bytes = 8u << 20,
		.reorder_bytes = 32u << 20,
		.stream_chunk = 256u << 10,
	};
}

void xlmig_xfer_failure_init(struct xlmig_xfer_failure *f)
{
	pthread_mutex_init(&f->lock, NULL);
	f->code = XLMIG_OK;
	f->msg[0] = '\0';
	atomic_init(&f->stop, false);
}

void xlmig_xfer_failure_set(struct xlmig_xfer_failure *f, int code)
{
	pthread_mutex_lock(&f->lock);
	if (f->code == XLMIG_OK && code != XLMIG_OK) {
		f->code = code;
		snprintf(f->msg, sizeof(f->msg), "%s", xlmig_errmsg());
	}
	atomic_store(&f->stop, true);
	pthread_mutex_unlock(&f->lock);
}

int xlmig_xfer_failure_raise(struct xlmig_xfer_failure *f)
{
	int code;

	pthread_mutex_lock(&f->lock);
	code = f->code;
	if (code != XLMIG_OK)
		xlmig_fail(code, "%s", f->msg);
	pthread_mutex_unlock(&f->lock);
	return code;
}

bool xlmig_xfer_cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load(cancel);
}

int xlmig_xfer_digest_new(EVP_MD_CTX **out)
{
	*out = EVP_MD_CTX_new();
	if (!*out || EVP_DigestInit_ex(*out, EVP_sha256(), NULL) != 1)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot set up SHA-256");
	return XLMIG_OK;
}

int xlmig_xfer_digest_add(EVP_MD_CTX *md, const void *data, size_t len)
{
	if (EVP_DigestUpdate(md, data, len) != 1)
		return xlmig_fail(XLMIG_E_IO, "SHA-256 failed");
	return XLMIG_OK;
}

int xlmig_xfer_digest_end(EVP_MD_CTX *md, uint8_t out[32])
{
	if (EVP_DigestFinal_ex(md, out, NULL) != 1)
		return xlmig_fail(XLMIG_E_IO, "SHA-256 failed");
	return XLMIG_OK;
}

struct xlmig_codec *xlmig_xfer_codec_for(const struct xlmig_conn *c, int level)
{
	const struct xlmig_handshake_session *s = xlmig_conn_session(c);
	struct xlmig_codec_opts co = {
		.zstd_level = level,
		.cache_bytes = s->cache_bytes,
		.no_zstd = !(s->features & XLMIG_FEAT_ZSTD),
	};

	return xlmig_codec_new(&co);
}

void xlmig_xfer_data_pfns(const uint8_t *pfns, uint32_t count, uint64_t *out, uint32_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = xlmig_get_le64(pfns + 8 * i);

		if (xlmig_pfn_type_has_data((unsigned)(e >> XLMIG_PFN_TYPE_SHIFT)))
			out[(*n)++] = e & XLMIG_PFN_MASK;
	}
}

void xlmig_xfer_fill_chan_stats(struct xlmig_conn *c, struct xlmig_xfer_stats *st, bool sent,
				const uint64_t *start)
{
	st->channels = xlmig_conn_channels(c);
	for (unsigned i = 0; i < st->channels; i++) {
		struct xlmig_chan *ch = xlmig_conn_chan(c, i);
		uint64_t now = sent ? xlmig_chan_bytes_sent(ch) : xlmig_chan_bytes_received(ch);

		st->chan_bytes[i] = now - start[i];
	}
}

void xlmig_xfer_chan_counters(struct xlmig_conn *c, bool sent, uint64_t *out)
{
	for (unsigned i = 0; i < xlmig_conn_channels(c); i++) {
		struct xlmig_chan *ch = xlmig_conn_chan(c, i);

		out[i] = sent ? xlmig_chan_bytes_sent(ch) : xlmig_chan_bytes_received(ch);
	}
}
