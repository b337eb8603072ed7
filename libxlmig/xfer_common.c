/*
 * xfer_common.c - what the send and receive halves of a stream transfer share:
 * options, the first-failure record, the stream digest, the codec set-up
 * and the per-channel counters.  The halves are xfer_send.c and
 * xfer_recv.c (see xfer.h for both pipelines).
 */
#include "chan.h"
#include "xfer_private.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void xlmig_xfer_opts_default(struct xlmig_xfer_opts *o)
{
	*o = (struct xlmig_xfer_opts){
		.queue_bytes = 8u << 20,
		.reorder_bytes = 32u << 20,
		.stream_chunk = 256u << 10,
	};
}

struct xlmig_xfer_spent {
	void (*free_fn)(void *);
	void *obj;
};

void xlmig_xfer_spend(const struct xlmig_xfer_opts *o, void (*free_fn)(void *), void *obj)
{
	struct xlmig_xfer_spent *sp = o->spent ? malloc(sizeof(*sp)) : NULL;

	if (o->spent)
		*o->spent = sp;
	if (!sp) {
		/* Not asked, or no memory to defer it: free it now. */
		free_fn(obj);
		return;
	}
	sp->free_fn = free_fn;
	sp->obj = obj;
}

unsigned xlmig_xfer_coders(const struct xlmig_xfer_opts *o, unsigned channels)
{
	unsigned want = o->coding_threads ? o->coding_threads
					  : XLMIG_MAX(1u, xlmig_online_cpus() - 1);

	return XLMIG_MIN(want, channels);
}

void xlmig_xfer_spent_free(struct xlmig_xfer_spent *sp)
{
	if (sp) {
		sp->free_fn(sp->obj);
		/* No malloc_trim() here: what it gives back, the next
		 * migration faults in again, and in a PV dom0 each fault is
		 * a hypercall (a local move in the Xen lab took 18 s with it,
		 * 13.8 s without; xl's took 12.3-13 s). */
		free(sp);
	}
}

int xlmig_xfer_failure_init(struct xlmig_xfer_failure *f)
{
	pthread_mutex_init(&f->lock, NULL);
	f->code = XLMIG_OK;
	f->msg[0] = '\0';
	atomic_init(&f->stop, false);
	f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->wake_fd < 0)
		return xlmig_fail(XLMIG_E_IO, "eventfd for the transfer's threads: %s (too many open files?)",
				  strerror(errno));
	return XLMIG_OK;
}

void xlmig_xfer_failure_destroy(struct xlmig_xfer_failure *f)
{
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	f->wake_fd = -1;
	pthread_mutex_destroy(&f->lock);
}

void xlmig_xfer_wake(struct xlmig_xfer_failure *f)
{
	uint64_t one = 1;

	/* Never read back: once woken, every wait returns at once. */
	if (f->wake_fd >= 0 && write(f->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is non-zero already: the wake-up is there. */
	}
}

int xlmig_xfer_wait_readable(struct xlmig_xfer_failure *f, struct xlmig_chan *ch)
{
	return xlmig_chan_wait_readable_or(ch, f->wake_fd, POLL_MS);
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
	xlmig_xfer_wake(f);
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

/* The MAC's key (Poly1305 or GMAC): SHA-256 of a label, the session's transcript (both hosts'
 * nonces) and id, and on TLS channel 0's exporter secret, so that it is
 * new for every session and, on TLS, known to the two hosts alone. */
static int session_digest_key(const struct xlmig_handshake_session *s, uint8_t key[32])
{
	static const char label[] = "xlmig-1 stream digest key";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	bool ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, label, sizeof(label) - 1) == 1 &&
	     EVP_DigestUpdate(md, s->transcript, sizeof(s->transcript)) == 1 &&
	     EVP_DigestUpdate(md, s->id, sizeof(s->id)) == 1 &&
	     (!s->tls || EVP_DigestUpdate(md, s->secret, sizeof(s->secret)) == 1) &&
	     EVP_DigestFinal_ex(md, key, &len) == 1 && len == 32;
	EVP_MD_CTX_free(md);
	return ok ? XLMIG_OK : xlmig_fail(XLMIG_E_IO, "cannot derive the stream digest's key in OpenSSL");
}

int xlmig_xfer_digest_for(const struct xlmig_conn *c, struct xlmig_stream_digest **out,
			  enum xlmig_stream_digest_kind *kind)
{
	const struct xlmig_handshake_session *s = xlmig_conn_session(c);
	uint8_t key[XLMIG_STREAM_DIGEST_KEY_LEN];
	int rc;

	*out = NULL;
	*kind = XLMIG_STREAM_DIGEST_NONE;
	if (xlmig_conn_in_process(c))
		return xlmig_stream_digest_new(*kind, NULL, out);
	*kind = XLMIG_STREAM_DIGEST_SHA256;
	if (!(s->features & (XLMIG_FEAT_POLY1305 | XLMIG_FEAT_GMAC)))
		return xlmig_stream_digest_new(*kind, NULL, out);
	if ((rc = session_digest_key(s, key)) != XLMIG_OK)
		return rc;
	*kind = s->features & XLMIG_FEAT_POLY1305 ? XLMIG_STREAM_DIGEST_POLY1305
						  : XLMIG_STREAM_DIGEST_GMAC;
	rc = xlmig_stream_digest_new(*kind, key, out);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

struct xlmig_codec *xlmig_xfer_codec_for(const struct xlmig_conn *c, int level)
{
	const struct xlmig_handshake_session *s = xlmig_conn_session(c);
	struct xlmig_codec_opts co = {
		.zstd_level = level,
		.cache_bytes = s->cache_bytes,
		.cache_resent = s->features & XLMIG_FEAT_DELTA_RESENT,
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
