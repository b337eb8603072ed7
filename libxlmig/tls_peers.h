/*
 * tls_peers.h - who may send migrations here: the peers file of a host's
 * TLS directory (tls.h), and the certificate name it is matched against.
 *
 * The peers file lists one certificate name a line ('#' starts a
 * comment, blank lines and surrounding blanks are ignored; '*' alone
 * allows every host of the CA).  A host's name is its certificate's
 * subject common name, printable ASCII without blanks or '#' (what a
 * peers file and a log line can carry); names match regardless of case,
 * as host names do.  Both readers take input from outside (a file an
 * administrator wrote, a certificate a peer presented) and are fuzzed
 * together (tests/fuzz/fuzz_tls_peers.c).
 */
#ifndef XLMIG_TLS_PEERS_H
#define XLMIG_TLS_PEERS_H

#include "common.h"

#define XLMIG_TLS_PEERS_MAX      1024u
#define XLMIG_TLS_PEERS_FILE_MAX (64u * 1024)

struct x509_st;

struct xlmig_tls_peers {
	char **names;
	unsigned n;
	bool any;                 /* '*': every host of the CA */
};

/* Parse a peers file's text (len bytes, no NUL inside).  On error *out is
 * empty and the message names the offending line. */
int xlmig_tls_peers_parse(const char *text, size_t len, struct xlmig_tls_peers *out);
void xlmig_tls_peers_free(struct xlmig_tls_peers *p);
/* Whether name is allowed by p. */
bool xlmig_tls_peers_allow(const struct xlmig_tls_peers *p, const char *name);

/* A certificate's name (its subject's common name) into out[len], or
 * XLMIG_E_AUTH when it has none usable. */
int xlmig_tls_cert_name(struct x509_st *cert, char *out, size_t len);

#endif
