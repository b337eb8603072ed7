/*
 * tls_ca.h - the cluster CA that issues host certificates (what
 * `xlmig setup-tls` runs).
 *
 * A CA directory holds ca.key (mode 0600) and ca.crt: a self-signed
 * ECDSA P-256 certificate allowed to sign host certificates only.  A host
 * certificate is ECDSA P-256 too, named after the host (its common name,
 * the name that peers files list), valid for TLS client and server use,
 * and carries every name and address peers dial it by as subject
 * alternative names.  A host's directory (tls.h) gets host.key, host.crt,
 * a copy of ca.crt and a peers file.  Nothing is ever overwritten: an
 * existing file is an error that says so.
 */
#ifndef XLMIG_TLS_CA_H
#define XLMIG_TLS_CA_H

#include "common.h"

#define XLMIG_TLS_CA_DAYS   3650
#define XLMIG_TLS_HOST_DAYS 825

/* Create dir (mode 0700 if new) with ca.key and ca.crt, subject CN name. */
int xlmig_tls_ca_create(const char *dir, const char *name, unsigned days);

/* Issue a certificate for host name from the CA in ca_dir into out_dir
 * (created 0700 if new): host.key, host.crt, ca.crt, and peers listing
 * peers[] (written only if absent; empty but for a comment when npeers is
 * 0).  sans are further DNS names or IP addresses; name is always one. */
int xlmig_tls_host_issue(const char *ca_dir, const char *out_dir, const char *name,
			 const char *const *sans, size_t nsans, const char *const *peers,
			 size_t npeers, unsigned days);

#endif
