/*
 * tls.h - TLS 1.3 on the channels between hosts: a host's identity (the
 * cluster CA, its own certificate and key, the hosts it accepts
 * migrations from), and channels over a TLS connection.
 *
 * Every host has its own key and a certificate issued by the cluster's CA
 * (`xlmig setup-tls`, tls_ca.h), kept in one directory:
 *
 *   ca.crt     the cluster CA: the only issuer a peer's certificate may have
 *   host.crt   this host's certificate (its names and addresses as SANs)
 *   host.key   its private key: owned by the daemon's user, mode 0600
 *   peers      the hosts that may send migrations here, one certificate
 *              name a line ('#' comments; '*' for every host of the CA;
 *              read, with certificate names, by tls_peers.h)
 *
 * Both ends present certificates.  The dialling side checks that the
 * destination's certificate names the host it dialled (name or address);
 * the accepting side checks that the source's certificate name is in its
 * peers file.  Each connection then exports a secret (RFC 8446's exporter,
 * unique to that connection and bound to both certificates) that the
 * session handshake mixes into its proofs, so a proof made on one
 * connection is worth nothing on another: that is what binds JOINed
 * channels to their session and defeats a HELLO reflected to its sender.
 *
 * Compression stays above this layer (the page codec), so TLS only
 * encrypts.  Where the kernel offers kernel TLS, OpenSSL hands the record
 * layer to it (the channel's binding says whether it did).
 */
#ifndef XLMIG_TLS_H
#define XLMIG_TLS_H

#include "chan.h"
#include "common.h"

#define XLMIG_TLS_DEFAULT_DIR "/etc/xlmig/tls"

struct xlmig_tls;
struct evp_pkey_st;
struct x509_st;

/* Load a host's identity from dir (the files above).  The key file must be
 * a regular file owned by this process's user and closed to group and
 * others; every file must be owned by this user or root and not writable
 * by others.  Errors name the file and what to do. */
int xlmig_tls_open(const char *dir, struct xlmig_tls **out);
void xlmig_tls_free(struct xlmig_tls *t);
/* This host's certificate name. */
const char *xlmig_tls_name(const struct xlmig_tls *t);
/* How many hosts the peers file allows (0: nobody; UINT_MAX: '*'). */
unsigned xlmig_tls_peer_count(const struct xlmig_tls *t);
/* Whether name is in the peers file. */
bool xlmig_tls_peer_allowed(const struct xlmig_tls *t, const char *name);

/* The AEAD this host lists first.  xlmig_tls_open measures both on this
 * CPU and lists ChaCha20-Poly1305 first only where it is clearly the
 * faster (AES without hardware help); xlmig_tls_prefer changes the order. */
enum xlmig_tls_aead { XLMIG_TLS_AES_GCM, XLMIG_TLS_CHACHA20 };
int xlmig_tls_prefer(struct xlmig_tls *t, enum xlmig_tls_aead first);
/* The order and the rates it came from, in words, for the daemon's log. */
const char *xlmig_tls_preference(const struct xlmig_tls *t, char *buf, size_t len);

/* Read dir/file, checked as xlmig_file_read_checked() does (a secret when
 * key is wanted): a PEM private key into *key, or else a certificate into
 * *cert.  For setup-tls, which reads the CA's files the same way. */
int xlmig_tls_read_pem(const char *dir, const char *file, struct evp_pkey_st **key,
		       struct x509_st **cert);

/* Run the TLS handshake on a connected socket (owned from now on, closed
 * on failure) within timeout_ms and make a channel of it.  As client,
 * host is the name or address dialled, checked against the destination's
 * certificate; as server, the client's certificate name must be allowed
 * by the peers file.  peer names the peer in messages. */
int xlmig_tls_client(struct xlmig_tls *t, int fd, const char *host, const char *chan_name,
		     int timeout_ms, struct xlmig_chan **out);
int xlmig_tls_server(struct xlmig_tls *t, int fd, const char *chan_name, int timeout_ms,
		     struct xlmig_chan **out);
#endif
