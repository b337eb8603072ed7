/*
 * fuzz_tls_peers.c - libFuzzer harness for who may send migrations here
 * (tls_peers.h): a peers file and a peer's certificate, the name read
 * from it and matched against the file.
 *
 * Input: le16 length N, N bytes of peers file, then a DER certificate.
 * Whatever the input: no crash, no read out of bounds, no leak; a parsed
 * file's names are non-empty, without blanks or '#'; a certificate name
 * is printable ASCII without blanks or '#' and fits its buffer; a name is
 * allowed only by '*' or a line that equals it (regardless of case).
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes peers files as setup-tls writes them
 * and hand-edited ones, each with a certificate a cluster CA issued.
 */
#include <ftw.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"
#include "tls.h"
#include "tls_ca.h"
#include "tls_peers.h"

/* A host certificate from a CA made by tls_ca.c, as DER. */
static size_t issue_der(const char *tmp, const char *host, uint8_t *der, size_t max)
{
	char ca[512], out[512];
	const char *sans[] = { "10.0.0.2", "host.example" };
	X509 *cert = NULL;
	uint8_t *p = der;
	int n = 0;

	snprintf(ca, sizeof(ca), "%s/ca-%s", tmp, host);
	snprintf(out, sizeof(out), "%s/host-%s", tmp, host);
	if (xlmig_tls_ca_create(ca, "seed-ca", 2) || xlmig_tls_host_issue(ca, out, host, sans, 2,
									 NULL, 0, 2) ||
	    xlmig_tls_read_pem(out, "host.crt", NULL, &cert))
		return 0;
	if (i2d_X509(cert, NULL) <= (int)max)
		n = i2d_X509(cert, &p);
	X509_free(cert);
	return n > 0 ? (size_t)n : 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void write_seeds(const char *dir)
{
	static const struct { const char *peers, *host; } seeds[] = {
		{ "# hosts that may send migrations to this one\nhost1\nhost2\n", "host2" },
		{ "*\n", "any-host.example" },
		{ "  Host1\t# the old name\n\n# none\nhost-3.example \r\n", "HOST1" },
		{ "a b\n", "a" },
	};
	char tmp[] = "/tmp/xlmig-fuzz-seeds.XXXXXX";
	uint8_t in[8192];

	if (!mkdtemp(tmp))
		return;
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(seeds); i++) {
		size_t n = strlen(seeds[i].peers), der;
		char name[32];

		xlmig_put_le16(in, (uint16_t)n);
		memcpy(in + 2, seeds[i].peers, n);
		der = issue_der(tmp, seeds[i].host, in + 2 + n, sizeof(in) - 2 - n);
		snprintf(name, sizeof(name), "tls_peers-%zu", i);
		if (der)
			fuzz_put_seed(dir, name, -1, in, 2 + n + der);
	}
	nftw(tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

static bool name_chars_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '#')
			return false;
	return true;
}

static bool listed(const struct xlmig_tls_peers *p, const char *name)
{
	for (unsigned i = 0; i < p->n; i++)
		if (!strcasecmp(p->names[i], name))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_tls_peers peers;
	char name[XLMIG_CHAN_NAME_MAX];
	const uint8_t *der;
	size_t n;
	X509 *cert;
	int rc;

	if (size < 2)
		return 0;
	n = XLMIG_MIN((size_t)xlmig_get_le16(data), size - 2);
	rc = xlmig_tls_peers_parse((const char *)data + 2, n, &peers);
	if (rc != XLMIG_OK && (peers.n || peers.names || peers.any))
		abort();   /* a refused file leaves nothing */
	for (unsigned i = 0; i < peers.n; i++)
		if (strpbrk(peers.names[i], " \t\r\n#") || !peers.names[i][0])
			abort();
	der = data + 2 + n;
	cert = d2i_X509(NULL, &der, (long)(size - 2 - n));
	if (cert && xlmig_tls_cert_name(cert, name, sizeof(name)) == XLMIG_OK) {
		if (!name_chars_ok(name) || strlen(name) >= sizeof(name))
			abort();
		if (xlmig_tls_peers_allow(&peers, name) != (peers.any || listed(&peers, name)))
			abort();
	}
	X509_free(cert);
	xlmig_tls_peers_free(&peers);
	return 0;
}
