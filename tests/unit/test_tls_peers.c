/*
 * test_tls_peers.c - unit tests for tls_peers.c: peers files (comments,
 * blanks, '*', one name a line, the limits, no NUL) and the name read
 * from a certificate (its common name, refused when unusable).
 */
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"
#include "tls_peers.h"
#include "unit.h"

static int parse(const char *text, struct xlmig_tls_peers *p)
{
	return xlmig_tls_peers_parse(text, strlen(text), p);
}

TEST(tls_peers_file)
{
	struct xlmig_tls_peers p;

	CHECK_OK(parse("# hosts that may send migrations here\n\n  host1 \t\r\nHost2# trailing\n"
		       "host3", &p));
	CHECK_EQ(p.n, 3u);
	CHECK(!p.any);
	CHECK_STR(p.names[0], "host1");
	CHECK_STR(p.names[1], "Host2");
	CHECK(xlmig_tls_peers_allow(&p, "HOST1"));
	CHECK(xlmig_tls_peers_allow(&p, "host2"));
	CHECK(xlmig_tls_peers_allow(&p, "host3"));
	CHECK(!xlmig_tls_peers_allow(&p, "host"));
	CHECK(!xlmig_tls_peers_allow(&p, "host10"));
	CHECK(!xlmig_tls_peers_allow(&p, ""));
	xlmig_tls_peers_free(&p);

	CHECK_OK(parse("*\n", &p));
	CHECK(p.any && p.n == 0 && xlmig_tls_peers_allow(&p, "anyone"));
	xlmig_tls_peers_free(&p);
	CHECK_OK(parse("", &p));
	CHECK(p.n == 0 && !xlmig_tls_peers_allow(&p, "a"));

	/* Refused, naming the line: two names on one, a NUL, too long. */
	CHECK_EQ(parse("a\nb c\n", &p), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "line 2: one host name a line, not 'b c'"));
	CHECK(p.n == 0 && !p.names);
	CHECK_EQ(xlmig_tls_peers_parse("a\0b\n", 4, &p), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "NUL"));
	CHECK_EQ(xlmig_tls_peers_parse("a", XLMIG_TLS_PEERS_FILE_MAX + 1, &p), XLMIG_E_LIMIT);
}

TEST(tls_peers_too_many)
{
	struct xlmig_tls_peers p;
	struct xlmig_buf b = { 0 };
	char line[32];

	for (unsigned i = 0; i <= XLMIG_TLS_PEERS_MAX; i++) {
		int n = snprintf(line, sizeof(line), "h%u\n", i);
		CHECK_OK(xlmig_buf_append(&b, line, (size_t)n));
	}
	CHECK_EQ(xlmig_tls_peers_parse((const char *)b.data, b.len, &p), XLMIG_E_LIMIT);
	CHECK(strstr(xlmig_errmsg(), "more than 1024 hosts"));
	xlmig_buf_free(&b);
}

/* A certificate with the given subject, self-signed (only its name is read). */
static X509 *cert_with(const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (cn)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	else
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"org", -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_set_issuer_name(c, n);
	X509_set_pubkey(c, key);
	X509_sign(c, key, EVP_sha256());
	X509_NAME_free(n);
	EVP_PKEY_free(key);
	return c;
}

TEST(tls_peers_certificate_names)
{
	char name[XLMIG_CHAN_NAME_MAX];
	X509 *c;

	c = cert_with("host-1.example");
	CHECK_OK(xlmig_tls_cert_name(c, name, sizeof(name)));
	CHECK_STR(name, "host-1.example");
	CHECK_EQ(xlmig_tls_cert_name(c, name, 8), XLMIG_E_AUTH);   /* does not fit */
	X509_free(c);
	c = cert_with("two words");
	CHECK_EQ(xlmig_tls_cert_name(c, name, sizeof(name)), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "unprintable"));
	X509_free(c);
	c = cert_with("h#comment");
	CHECK_EQ(xlmig_tls_cert_name(c, name, sizeof(name)), XLMIG_E_AUTH);
	X509_free(c);
	c = cert_with("h\xc3\xa9");   /* UTF-8 beyond ASCII */
	CHECK_EQ(xlmig_tls_cert_name(c, name, sizeof(name)), XLMIG_E_AUTH);
	X509_free(c);
	c = cert_with(NULL);
	CHECK_EQ(xlmig_tls_cert_name(c, name, sizeof(name)), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "without a usable common name"));
	X509_free(c);
}
