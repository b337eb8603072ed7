/*
 * tls_peers.c - the peers file and certificate names (see tls_peers.h).
 */
#include "tls_peers.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <strings.h>

static int add_peer(struct xlmig_tls_peers *p, const char *name, size_t len)
{
	char **grown;

	if (len == 1 && name[0] == '*') {
		p->any = true;
		return XLMIG_OK;
	}
	if (p->n == XLMIG_TLS_PEERS_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "more than %u hosts", XLMIG_TLS_PEERS_MAX);
	grown = realloc(p->names, (p->n + 1) * sizeof(*p->names));
	if (!grown)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	p->names = grown;
	if (!(p->names[p->n] = strndup(name, len)))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	p->n++;
	return XLMIG_OK;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line [start, end): its one name, if any, added to p. */
static int parse_line(struct xlmig_tls_peers *p, const char *start, const char *end, unsigned no)
{
	const char *hash = memchr(start, '#', (size_t)(end - start));
	const char *name, *stop;

	if (hash)
		end = hash;
	while (start < end && blank(*start))
		start++;
	while (end > start && blank(end[-1]))
		end--;
	if (start == end)
		return XLMIG_OK;
	for (name = start, stop = start; stop < end && !blank(*stop); stop++)
		;
	if (stop != end)
		return xlmig_fail(XLMIG_E_FORMAT, "line %u: one host name a line, not '%.*s'", no,
				  (int)XLMIG_MIN((size_t)(end - start), 80), start);
	return add_peer(p, name, (size_t)(stop - name));
}

int xlmig_tls_peers_parse(const char *text, size_t len, struct xlmig_tls_peers *out)
{
	const char *end = text + len;
	unsigned no = 1;
	int rc = XLMIG_OK;

	memset(out, 0, sizeof(*out));
	if (len > XLMIG_TLS_PEERS_FILE_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "over %u bytes", XLMIG_TLS_PEERS_FILE_MAX);
	if (memchr(text, '\0', len))
		return xlmig_fail(XLMIG_E_FORMAT, "a NUL byte: not a text file");
	for (const char *line = text; line < end && !rc; no++) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;

		rc = parse_line(out, line, stop, no);
		line = stop + 1;
	}
	if (rc)
		xlmig_tls_peers_free(out);
	return rc;
}

void xlmig_tls_peers_free(struct xlmig_tls_peers *p)
{
	for (unsigned i = 0; i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	memset(p, 0, sizeof(*p));
}

bool xlmig_tls_peers_allow(const struct xlmig_tls_peers *p, const char *name)
{
	if (p->any)
		return true;
	for (unsigned i = 0; i < p->n; i++)
		if (!strcasecmp(p->names[i], name))
			return true;
	return false;
}

int xlmig_tls_cert_name(X509 *cert, char *out, size_t len)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	ASN1_STRING *data = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)) : NULL;
	unsigned char *utf8 = NULL;
	int n = data ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
	int rc = XLMIG_OK;

	if (n <= 0 || (size_t)n >= len) {
		rc = xlmig_fail(XLMIG_E_AUTH, "certificate without a usable common name");
		goto out;
	}
	for (int k = 0; k < n; k++)
		if (utf8[k] <= ' ' || utf8[k] >= 0x7f || utf8[k] == '#') {
			rc = xlmig_fail(XLMIG_E_AUTH, "certificate name with unprintable characters");
			goto out;
		}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
out:
	OPENSSL_free(utf8);
	return rc;
}
