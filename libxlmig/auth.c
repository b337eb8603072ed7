/*
 * auth.c - key files and HMAC-SHA256 proofs (OpenSSL).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

#define KEY_FILE_MAX 4096

void xlmig_key_wipe(struct xlmig_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

/* 64 KiB: the keys of one host and OpenSSL's copies of its TLS key, with
 * room to spare; locked memory of that size is within the default limit. */
#define SECURE_HEAP_BYTES (64u << 10)
#define SECURE_HEAP_MIN   32u

int xlmig_secure_heap_init(void)
{
	int rc;

	if (CRYPTO_secure_malloc_initialized())
		return XLMIG_OK;
	rc = CRYPTO_secure_malloc_init(SECURE_HEAP_BYTES, SECURE_HEAP_MIN);
	if (rc == 0)
		return xlmig_fail(XLMIG_E_NOMEM, "cannot set up the secure heap for keys (OpenSSL's "
				  "CRYPTO_secure_malloc_init)");
	/* 2: not locked (RLIMIT_MEMLOCK) but still left out of core dumps. */
	if (rc == 2)
		xlmig_warn("keys are left out of core dumps but not locked in memory: raise "
			   "the locked-memory limit (LimitMEMLOCK) to keep them out of swap");
	return XLMIG_OK;
}

struct xlmig_key *xlmig_key_new(void)
{
	return OPENSSL_secure_zalloc(sizeof(struct xlmig_key));
}

void xlmig_key_free(struct xlmig_key *key)
{
	if (key)
		OPENSSL_secure_clear_free(key, sizeof(*key));
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int xlmig_key_parse(const char *text, size_t len, struct xlmig_key *key)
{
	int hi = -1;
	bool comment = false;

	key->len = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)text[i], v;

		if (comment || c == '#') {
			comment = c != '\n';
			continue;
		}
		if (isspace(c))
			continue;
		v = hex_value(c);
		if (v < 0 || (hi < 0 && key->len == XLMIG_KEY_MAX)) {
			xlmig_key_wipe(key);
			return xlmig_fail(XLMIG_E_FORMAT, v < 0 ? "the key is not hexadecimal"
							 : "the key is longer than %u bytes",
					  XLMIG_KEY_MAX);
		}
		if (hi < 0) {
			hi = v;
		} else {
			key->bytes[key->len++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || key->len < XLMIG_KEY_MIN) {
		xlmig_key_wipe(key);
		return xlmig_fail(XLMIG_E_FORMAT,
				  "the key must be %u to %u bytes written as an even number of hex digits",
				  XLMIG_KEY_MIN, XLMIG_KEY_MAX);
	}
	return XLMIG_OK;
}

/* A secret: a regular file of this process's user, closed to everyone
 * else.  Trusted configuration: owned by this user or root, and nobody
 * else may change it. */
static int check_file(int fd, const char *path, bool secret, size_t size)
{
	struct stat st;
	mode_t bad = secret ? 077 : 022;

	if (fstat(fd, &st) < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return xlmig_fail(XLMIG_E_AUTH, "%s is not a regular file", path);
	if (st.st_uid != geteuid() && (secret || st.st_uid != 0))
		return xlmig_fail(XLMIG_E_AUTH, "%s belongs to user %u, not to the user xlmig runs "
				  "as (%u): run: chown %u %s", path, (unsigned)st.st_uid,
				  (unsigned)geteuid(), (unsigned)geteuid(), path);
	if (st.st_mode & bad)
		return xlmig_fail(XLMIG_E_AUTH, "%s is %s by other users (mode %04o): run: chmod %s %s",
				  path, secret ? "readable or writable" : "writable",
				  (unsigned)(st.st_mode & 07777), secret ? "600" : "go-w", path);
	if ((uint64_t)st.st_size >= size)
		return xlmig_fail(XLMIG_E_LIMIT, "%s is %lld bytes, larger than such a file can be",
				  path, (long long)st.st_size);
	return XLMIG_OK;
}

int xlmig_file_read_checked(const char *path, bool secret, char *buf, size_t size,
			    size_t *len)
{
	ssize_t n = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return xlmig_fail(errno == ENOENT ? XLMIG_E_NOTFOUND : XLMIG_E_IO,
				  "cannot open %s: %s", path, strerror(errno));
	rc = check_file(fd, path, secret, size);
	if (rc == XLMIG_OK) {
		n = read(fd, buf, size - 1);
		if (n < 0)
			rc = xlmig_fail(XLMIG_E_IO, "cannot read %s: %s", path, strerror(errno));
	}
	if (rc == XLMIG_OK) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	close(fd);
	return rc;
}

int xlmig_key_load(const char *path, struct xlmig_key *key)
{
	char text[KEY_FILE_MAX];
	size_t n = 0;
	int rc;

	rc = xlmig_file_read_checked(path, true, text, sizeof(text), &n);
	if (rc == XLMIG_OK) {
		rc = xlmig_key_parse(text, n, key);
		if (rc != XLMIG_OK)
			xlmig_fail_prefix(rc, "key file %s", path);
	} else if (rc == XLMIG_E_NOTFOUND) {
		xlmig_fail_prefix(rc, "create a key with xlmigd --gen-key FILE");
	}
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

int xlmig_random(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1)
		return xlmig_fail(XLMIG_E_IO, "the system's random number generator failed");
	return XLMIG_OK;
}

int xlmig_key_generate(const char *path)
{
	uint8_t key[XLMIG_KEY_GEN_LEN];
	char hex[2 * XLMIG_KEY_GEN_LEN + 2];
	int fd = -1, rc;

	rc = xlmig_random(key, sizeof(key));
	if (rc != XLMIG_OK)
		goto out;
	xlmig_hex_encode(key, sizeof(key), hex);
	hex[2 * XLMIG_KEY_GEN_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = xlmig_fail(errno == EEXIST ? XLMIG_E_EXISTS : XLMIG_E_IO,
				"cannot create key file %s: %s", path, strerror(errno));
		goto out;
	}
	rc = xlmig_write_full(fd, hex, 2 * XLMIG_KEY_GEN_LEN + 1);
	if (rc == XLMIG_OK && fsync(fd) < 0)
		rc = xlmig_fail(XLMIG_E_IO, "cannot sync key file %s: %s", path, strerror(errno));
	if (rc != XLMIG_OK) {
		xlmig_fail_prefix(rc, "key file %s", path);
		unlink(path);
	}
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

int xlmig_auth_mac(const struct xlmig_key *key, const char *label,
		   const struct xlmig_bytes *parts, size_t n, uint8_t out[XLMIG_MAC_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outl = 0;
	bool ok;

	ok = ctx && EVP_MAC_init(ctx, key->bytes, key->len, params) == 1 &&
	     EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label) + 1) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len) == 1;
	ok = ok && EVP_MAC_final(ctx, out, &outl, XLMIG_MAC_LEN) == 1 && outl == XLMIG_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (!ok)
		return xlmig_fail(XLMIG_E_IO, "HMAC-SHA256 failed in OpenSSL");
	return XLMIG_OK;
}

bool xlmig_auth_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
