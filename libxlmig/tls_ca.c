/*
 * tls_ca.c - creating the cluster CA and issuing host certificates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "tls.h"
#include "tls_ca.h"

#define SAN_MAX   4096u

static int ossl_fail(const char *what)
{
	char why[160];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return xlmig_fail(XLMIG_E_IO, "%s: %s", what, e ? why : "OpenSSL failed");
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return xlmig_fail(XLMIG_E_IO, "cannot create %s: %s", dir, strerror(errno));
	return XLMIG_OK;
}

/* Write a new file (never replace one); removed again if writing fails. */
static int write_new(const char *dir, const char *file, mode_t mode, const void *data,
		     size_t len)
{
	char path[512];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return xlmig_fail(errno == EEXIST ? XLMIG_E_EXISTS : XLMIG_E_IO,
				  "cannot create %s: %s%s", path, strerror(errno),
				  errno == EEXIST ? " (remove it first to replace it)" : "");
	rc = xlmig_write_full(fd, data, len);
	if (rc == XLMIG_OK && (fchmod(fd, mode) < 0 || fsync(fd) < 0))
		rc = xlmig_fail(XLMIG_E_IO, "cannot write %s: %s", path, strerror(errno));
	close(fd);
	if (rc != XLMIG_OK)
		unlink(path);
	return rc;
}

/* PEM of a key (private) or a certificate, written as a new file. */
static int write_pem(const char *dir, const char *file, EVP_PKEY *key, X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data = NULL;
	long len;
	int rc;

	if (!bio || (key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_bio_X509(bio, cert)) != 1) {
		BIO_free(bio);
		return ossl_fail("cannot encode PEM");
	}
	len = BIO_get_mem_data(bio, &data);
	rc = write_new(dir, file, key ? 0600 : 0644, data, (size_t)len);
	BIO_free(bio);  /* a secure-memory BIO wipes what it held */
	return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? XLMIG_OK : ossl_fail("cannot add a certificate extension");
}

/* A fresh certificate for key, subject CN name, with a random serial. */
static int new_cert(EVP_PKEY *key, const char *name, unsigned days, X509 **out)
{
	X509 *cert = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	bool ok;

	if (xlmig_random(serial, sizeof(serial)) != XLMIG_OK) {
		X509_free(cert);
		return XLMIG_E_IO;
	}
	serial[0] &= 0x7f;  /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = cert && bn && X509_set_version(cert, 2) == 1 &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
	     X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
					(const unsigned char *)name, -1, -1, 0) == 1 &&
	     X509_set_pubkey(cert, key) == 1;
	BN_free(bn);
	if (!ok) {
		X509_free(cert);
		return ossl_fail("cannot build a certificate");
	}
	*out = cert;
	return XLMIG_OK;
}

static int sign(X509 *cert, X509 *issuer, EVP_PKEY *issuer_key)
{
	if (X509_set_issuer_name(cert, X509_get_subject_name(issuer)) != 1 ||
	    X509_sign(cert, issuer_key, EVP_sha256()) <= 0)
		return ossl_fail("cannot sign the certificate");
	return XLMIG_OK;
}

/* Host names and addresses go into an extension's text form: only the
 * characters a name or address can have, so none can add another entry. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 254 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") == n;
}

static bool is_address(const char *s)
{
	uint8_t a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int xlmig_tls_ca_create(const char *dir, const char *name, unsigned days)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc;

	if (!name_ok(name))
		return xlmig_fail(XLMIG_E_INVAL, "CA name '%s': letters, digits, '.-_:' only", name);
	rc = make_dir(dir);
	if (rc == XLMIG_OK && !(key = EVP_EC_gen("P-256")))
		rc = ossl_fail("cannot generate the CA key");
	if (rc == XLMIG_OK)
		rc = new_cert(key, name, days, &cert);
	if (rc == XLMIG_OK)
		rc = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (rc == XLMIG_OK)
		rc = add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (rc == XLMIG_OK)
		rc = add_ext(cert, cert, NID_subject_key_identifier, "hash");
	if (rc == XLMIG_OK)
		rc = sign(cert, cert, key);
	if (rc == XLMIG_OK)
		rc = write_pem(dir, "ca.key", key, NULL);
	if (rc == XLMIG_OK) {
		rc = write_pem(dir, "ca.crt", NULL, cert);
		if (rc != XLMIG_OK) {
			char path[512];

			snprintf(path, sizeof(path), "%s/ca.key", dir);
			unlink(path);
		}
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static int san_list(const char *name, const char *const *sans, size_t nsans, char *out,
		    size_t len)
{
	size_t used = (size_t)snprintf(out, len, "DNS:%s", name);

	for (size_t i = 0; i < nsans; i++) {
		if (!name_ok(sans[i]))
			return xlmig_fail(XLMIG_E_INVAL, "'%s' is neither a host name nor an address",
					  sans[i]);
		used += (size_t)snprintf(out + used, len - XLMIG_MIN(used, len), ",%s:%s",
					 is_address(sans[i]) ? "IP" : "DNS", sans[i]);
	}
	if (used >= len)
		return xlmig_fail(XLMIG_E_LIMIT, "too many names for one certificate");
	return XLMIG_OK;
}

static int write_peers(const char *dir, const char *const *peers, size_t npeers)
{
	struct xlmig_buf b = { 0 };
	const char *head = "# hosts that may send migrations here (certificate names), one a "
			   "line; '*' for every host of the CA\n";
	int rc = xlmig_buf_append(&b, head, strlen(head));

	for (size_t i = 0; rc == XLMIG_OK && i < npeers; i++) {
		if (strcmp(peers[i], "*") && !name_ok(peers[i]))
			rc = xlmig_fail(XLMIG_E_INVAL, "peer '%s' is not a host name", peers[i]);
		if (rc == XLMIG_OK)
			rc = xlmig_buf_append(&b, peers[i], strlen(peers[i]));
		if (rc == XLMIG_OK)
			rc = xlmig_buf_append(&b, "\n", 1);
	}
	if (rc == XLMIG_OK)
		rc = write_new(dir, "peers", 0644, b.data, b.len);
	if (rc == XLMIG_E_EXISTS) {
		xlmig_warn("%s/peers exists: left as it is", dir);
		rc = XLMIG_OK;
	}
	xlmig_buf_free(&b);
	return rc;
}

int xlmig_tls_host_issue(const char *ca_dir, const char *out_dir, const char *name,
			 const char *const *sans, size_t nsans, const char *const *peers,
			 size_t npeers, unsigned days)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char san[SAN_MAX];
	int rc;

	if (!name_ok(name) || is_address(name))
		return xlmig_fail(XLMIG_E_INVAL, "host name '%s': letters, digits, '.-_' only "
				  "(addresses go after it)", name);
	rc = san_list(name, sans, nsans, san, sizeof(san));
	if (rc == XLMIG_OK)
		rc = xlmig_tls_read_pem(ca_dir, "ca.key", &ca_key, NULL);
	if (rc == XLMIG_OK)
		rc = xlmig_tls_read_pem(ca_dir, "ca.crt", NULL, &ca);
	if (rc == XLMIG_OK)
		rc = make_dir(out_dir);
	if (rc == XLMIG_OK && !(key = EVP_EC_gen("P-256")))
		rc = ossl_fail("cannot generate the host key");
	if (rc == XLMIG_OK)
		rc = new_cert(key, name, days, &cert);
	if (rc == XLMIG_OK)
		rc = add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE");
	if (rc == XLMIG_OK)
		rc = add_ext(cert, ca, NID_key_usage, "critical,digitalSignature");
	if (rc == XLMIG_OK)
		rc = add_ext(cert, ca, NID_ext_key_usage, "serverAuth,clientAuth");
	if (rc == XLMIG_OK)
		rc = add_ext(cert, ca, NID_subject_alt_name, san);
	if (rc == XLMIG_OK)
		rc = add_ext(cert, ca, NID_authority_key_identifier, "keyid:always");
	if (rc == XLMIG_OK)
		rc = sign(cert, ca, ca_key);
	if (rc == XLMIG_OK)
		rc = write_pem(out_dir, "host.key", key, NULL);
	if (rc == XLMIG_OK)
		rc = write_pem(out_dir, "host.crt", NULL, cert);
	if (rc == XLMIG_OK && strcmp(ca_dir, out_dir) != 0)
		rc = write_pem(out_dir, "ca.crt", NULL, ca);
	if (rc == XLMIG_OK)
		rc = write_peers(out_dir, peers, npeers);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	if (rc != XLMIG_OK)
		xlmig_fail_prefix(rc, "issuing a certificate for %s", name);
	return rc;
}
