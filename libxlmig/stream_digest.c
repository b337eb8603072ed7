/*
 * stream_digest.c - SHA-256, or per-session Poly1305 or GMAC, over a
 * stream, through OpenSSL (see stream_digest.h for why each).
 */
#include "stream_digest.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>

#define GMAC_IV_LEN  12u
#define MAC_TAG_LEN  16u             /* GMAC's and Poly1305's */

struct xlmig_stream_digest {
	enum xlmig_stream_digest_kind kind;
	EVP_MD_CTX *md;       /* SHA-256 */
	EVP_MAC_CTX *mac;     /* GMAC, Poly1305 */
};

const char *xlmig_stream_digest_name(enum xlmig_stream_digest_kind kind)
{
	switch (kind) {
	case XLMIG_STREAM_DIGEST_GMAC:
		return "GMAC";
	case XLMIG_STREAM_DIGEST_POLY1305:
		return "Poly1305";
	case XLMIG_STREAM_DIGEST_NONE:
		return "none";
	default:
		return "SHA-256";
	}
}

/* The IV comes from the key (SHA-256 of a label and the key): one key,
 * one stream, so the pair is never reused. */
static int gmac_init(EVP_MAC_CTX *mac, const uint8_t *key)
{
	static const char label[] = "xlmig-1 stream digest iv";
	uint8_t h[32];
	unsigned int hlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	OSSL_PARAM params[3];
	bool ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, label, sizeof(label) - 1) == 1 &&
	     EVP_DigestUpdate(md, key, XLMIG_STREAM_DIGEST_KEY_LEN) == 1 &&
	     EVP_DigestFinal_ex(md, h, &hlen) == 1 && hlen == sizeof(h);
	EVP_MD_CTX_free(md);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-256-GCM", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_IV, h, GMAC_IV_LEN);
	params[2] = OSSL_PARAM_construct_end();
	ok = ok && EVP_MAC_init(mac, key, XLMIG_STREAM_DIGEST_KEY_LEN, params) == 1;
	return ok ? XLMIG_OK : XLMIG_E_IO;
}

/* Poly1305 takes the key alone, one key per stream. */
static int mac_init(EVP_MAC_CTX *mac, bool gmac, const uint8_t *key)
{
	if (gmac)
		return gmac_init(mac, key);
	return EVP_MAC_init(mac, key, XLMIG_STREAM_DIGEST_KEY_LEN, NULL) == 1 ? XLMIG_OK : XLMIG_E_IO;
}

int xlmig_stream_digest_new(enum xlmig_stream_digest_kind kind, const uint8_t *key,
			    struct xlmig_stream_digest **out)
{
	struct xlmig_stream_digest *d = calloc(1, sizeof(*d));
	EVP_MAC *mac = NULL;
	bool gmac = kind == XLMIG_STREAM_DIGEST_GMAC;
	int rc = XLMIG_OK;

	*out = NULL;
	if (!d)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the stream digest");
	d->kind = kind;
	if (kind == XLMIG_STREAM_DIGEST_SHA256) {
		d->md = EVP_MD_CTX_new();
		if (!d->md || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot set up SHA-256 in OpenSSL");
		goto out;
	}
	if (kind == XLMIG_STREAM_DIGEST_NONE)
		goto out;
	if ((!gmac && kind != XLMIG_STREAM_DIGEST_POLY1305) || !key) {
		rc = xlmig_fail(XLMIG_E_INVAL, "stream digest kind %d without its key", (int)kind);
		goto out;
	}
	mac = EVP_MAC_fetch(NULL, gmac ? "GMAC" : "POLY1305", NULL);
	d->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!d->mac || mac_init(d->mac, gmac, key) != XLMIG_OK)
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "cannot set up %s in OpenSSL: check that its "
				"default provider is available", xlmig_stream_digest_name(kind));
out:
	EVP_MAC_free(mac);
	if (rc != XLMIG_OK)
		xlmig_stream_digest_free(d);
	else
		*out = d;
	return rc;
}

int xlmig_stream_digest_add(struct xlmig_stream_digest *d, const void *data, size_t len)
{
	bool ok = true;

	if (d->md)
		ok = EVP_DigestUpdate(d->md, data, len) == 1;
	else if (d->mac)
		ok = EVP_MAC_update(d->mac, data, len) == 1;

	if (!ok)
		return xlmig_fail(XLMIG_E_IO, "%s of the stream failed in OpenSSL",
				  xlmig_stream_digest_name(d->kind));
	return XLMIG_OK;
}

int xlmig_stream_digest_end(struct xlmig_stream_digest *d, uint8_t out[XLMIG_STREAM_DIGEST_LEN])
{
	unsigned int mdlen = 0;
	size_t taglen = 0;
	bool ok;

	memset(out, 0, XLMIG_STREAM_DIGEST_LEN);
	if (d->md)
		ok = EVP_DigestFinal_ex(d->md, out, &mdlen) == 1 && mdlen == XLMIG_STREAM_DIGEST_LEN;
	else if (d->mac)
		ok = EVP_MAC_final(d->mac, out, &taglen, MAC_TAG_LEN) == 1 && taglen == MAC_TAG_LEN;
	else
		ok = true;
	if (!ok)
		return xlmig_fail(XLMIG_E_IO, "%s of the stream failed in OpenSSL",
				  xlmig_stream_digest_name(d->kind));
	return XLMIG_OK;
}

void xlmig_stream_digest_free(struct xlmig_stream_digest *d)
{
	if (d) {
		EVP_MD_CTX_free(d->md);
		EVP_MAC_CTX_free(d->mac);
		free(d);
	}
}
