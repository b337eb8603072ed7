/*
 * common.h - what every xlmig module shares: error codes and the
 * per-thread error message, logging, byte-order helpers, a monotonic
 * clock, a growable byte buffer, and full read/write on file descriptors.
 *
 * Error convention: functions return 0 (XLMIG_OK) or a negative XLMIG_E_*
 * code.  The function that detects a problem calls xlmig_fail() with a
 * message for the administrator (what failed, where, what to do); callers
 * pass the code up and may add context with xlmig_fail_prefix().
 */
#ifndef XLMIG_COMMON_H
#define XLMIG_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum xlmig_err {
	XLMIG_OK = 0,
	XLMIG_E_NOMEM = -1,       /* allocation failed */
	XLMIG_E_IO = -2,          /* read/write/socket error */
	XLMIG_E_FORMAT = -3,      /* malformed input (stream, frame, message) */
	XLMIG_E_TRUNCATED = -4,   /* input ended early */
	XLMIG_E_UNSUPPORTED = -5, /* valid but not supported (version, feature) */
	XLMIG_E_LIMIT = -6,       /* a length/count over a sane bound */
	XLMIG_E_CANCELLED = -7,   /* cancelled by the administrator */
	XLMIG_E_TIMEOUT = -8,
	XLMIG_E_HV = -9,          /* the hypervisor backend failed */
	XLMIG_E_INVAL = -10,      /* bad argument or configuration */
	XLMIG_E_AUTH = -11,       /* peer not authenticated */
	XLMIG_E_PEER = -12,       /* the peer reported a failure */
	XLMIG_E_NOSPC = -13,      /* no space (disk, memory on a host) */
	XLMIG_E_NOTFOUND = -14,
	XLMIG_E_EXISTS = -15,
	XLMIG_E_CONVERGE = -16,   /* pre-copy did not converge, policy aborted */
	XLMIG_E_CLOSED = -17,     /* the peer closed the connection */
};

/* Short name of an error code ("malformed input"). */
const char *xlmig_strerror(int err);

/* Record a message for this thread and return err, so callers can write
 * `return xlmig_fail(XLMIG_E_FORMAT, "record at offset %llu ...", ...)`. */
int xlmig_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Put "prefix: " in front of this thread's message; returns err. */
int xlmig_fail_prefix(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* This thread's last message ("" if none). */
const char *xlmig_errmsg(void);
void xlmig_errclear(void);

/* Logging: one line per call, to stderr by default. */
enum xlmig_log_level {
	XLMIG_LOG_ERROR = 0,
	XLMIG_LOG_WARN,
	XLMIG_LOG_INFO,
	XLMIG_LOG_DEBUG,
};
void xlmig_log_set_level(int level);
int xlmig_log_get_level(void);
void xlmig_log_set_stream(FILE *f);  /* NULL = stderr */
void xlmig_log_set_tag(const char *tag); /* e.g. "xlmigd" */
int xlmig_log_level_parse(const char *s); /* "debug" -> level, -1 bad */
void xlmig_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define xlmig_error(...) xlmig_log(XLMIG_LOG_ERROR, __VA_ARGS__)
#define xlmig_warn(...)  xlmig_log(XLMIG_LOG_WARN, __VA_ARGS__)
#define xlmig_info(...)  xlmig_log(XLMIG_LOG_INFO, __VA_ARGS__)
#define xlmig_debug(...) xlmig_log(XLMIG_LOG_DEBUG, __VA_ARGS__)

/* Monotonic clock and this thread's CPU time, in nanoseconds. */
uint64_t xlmig_now_ns(void);
uint64_t xlmig_thread_cpu_ns(void);
/* How long this thread has waited, runnable, for a CPU (the kernel's
 * /proc/thread-self/schedstat); 0 where the kernel does not say. */
uint64_t xlmig_thread_wait_ns(void);
/* CPUs this process may run on now (at least 1). */
unsigned xlmig_online_cpus(void);
/* The wall-clock time ms milliseconds from now, as the absolute deadline
 * pthread_cond_timedwait and pthread_timedjoin_np take (CLOCK_REALTIME:
 * measure elapsed time with xlmig_now_ns, which a clock step cannot move). */
struct timespec xlmig_deadline_ms(unsigned ms);

/* Byte order.  Unaligned-safe: every field read from a stream goes
 * through these, never through a cast pointer. */
static inline uint16_t xlmig_get_le16(const void *p)
{ const uint8_t *b = p; return (uint16_t)(b[0] | b[1] << 8); }
static inline uint32_t xlmig_get_le32(const void *p)
{ const uint8_t *b = p; return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static inline uint64_t xlmig_get_le64(const void *p)
{ const uint8_t *b = p; return (uint64_t)xlmig_get_le32(b) | (uint64_t)xlmig_get_le32(b + 4) << 32; }
static inline uint16_t xlmig_get_be16(const void *p)
{ const uint8_t *b = p; return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t xlmig_get_be32(const void *p)
{ const uint8_t *b = p; return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3]; }
static inline uint64_t xlmig_get_be64(const void *p)
{ const uint8_t *b = p; return (uint64_t)xlmig_get_be32(b) << 32 | xlmig_get_be32(b + 4); }
static inline void xlmig_put_le16(void *p, uint16_t v)
{ uint8_t *b = p; b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static inline void xlmig_put_le32(void *p, uint32_t v)
{ uint8_t *b = p; for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }
static inline void xlmig_put_le64(void *p, uint64_t v)
{ uint8_t *b = p; for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i)); }
static inline void xlmig_put_be16(void *p, uint16_t v)
{ uint8_t *b = p; b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }
static inline void xlmig_put_be32(void *p, uint32_t v)
{ uint8_t *b = p; for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (24 - 8 * i)); }
static inline void xlmig_put_be64(void *p, uint64_t v)
{ uint8_t *b = p; for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (56 - 8 * i)); }

/* A growable byte buffer.  Zero-initialise ({0}) before first use. */
struct xlmig_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
int xlmig_buf_reserve(struct xlmig_buf *b, size_t extra);
int xlmig_buf_append(struct xlmig_buf *b, const void *data, size_t len);
/* Append len bytes and return a pointer to them (NULL on ENOMEM). */
uint8_t *xlmig_buf_extend(struct xlmig_buf *b, size_t len);
void xlmig_buf_reset(struct xlmig_buf *b);  /* len = 0, keeps memory */
void xlmig_buf_free(struct xlmig_buf *b);

/* Where a producer writes bytes: a callback, so the same writer can fill
 * a buffer, a file descriptor or the encoder. */
struct xlmig_sink {
	int (*write)(void *opaque, const void *data, size_t len);
	void *opaque;
};
static inline int xlmig_sink_write(const struct xlmig_sink *s,
				   const void *data, size_t len)
{ return len ? s->write(s->opaque, data, len) : XLMIG_OK; }
/* Ready-made sinks: into a struct xlmig_buf, or onto an fd (int *). */
int xlmig_sink_buf_write(void *buf, const void *data, size_t len);
int xlmig_sink_fd_write(void *fdp, const void *data, size_t len);

/* Whole-buffer I/O, retrying on EINTR and short counts.  read_full
 * returns XLMIG_E_CLOSED on EOF before the first byte and
 * XLMIG_E_TRUNCATED on EOF part way through. */
int xlmig_write_full(int fd, const void *data, size_t len);
int xlmig_read_full(int fd, void *data, size_t len);
/* One write(2) that gives EPIPE instead of raising SIGPIPE when fd is a
 * pipe whose reader has gone (which would kill the process): the signal
 * is blocked in the calling thread for the write and taken back. */
ssize_t xlmig_write_nosigpipe(int fd, const void *data, size_t len);
/* The same for writev(2). */
struct iovec;
ssize_t xlmig_writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt);
/* Code that writes to a pipe or socket by write() (OpenSSL, a backend's
 * save) raises SIGPIPE when the reader has gone; a library must not kill
 * its process for that.  Around such a call the signal is blocked in this
 * thread, and one the call raised is taken back before the mask is
 * restored: the call sees EPIPE. */
struct xlmig_sigpipe_guard {
	sigset_t old;
	bool was_pending;
};
void xlmig_sigpipe_block(struct xlmig_sigpipe_guard *g);
void xlmig_sigpipe_restore(struct xlmig_sigpipe_guard *g);
/* Append everything up to EOF to out (XLMIG_E_LIMIT past limit bytes in
 * all), and keep a NUL after it that out->len does not count, so text
 * can be used as a string. */
int xlmig_read_all(int fd, size_t limit, struct xlmig_buf *out);

/* Several failures reported as one: each noted failure's message (this
 * thread's, when noted) joins a "; "-separated list and the first
 * failure's code is kept.  xlmig_verdict_end() returns 0 if none was
 * noted, else fails with "N <what>: <list>"; it frees the list. */
struct xlmig_verdict {
	int first;
	unsigned n;
	struct xlmig_buf why;
};
void xlmig_verdict_note(struct xlmig_verdict *v, int rc);
int xlmig_verdict_end(struct xlmig_verdict *v, const char *what);

/* Bytes as lowercase hex digits: out holds 2 * len + 1 characters and
 * is NUL-terminated. */
void xlmig_hex_encode(const void *data, size_t len, char *out);
/* True if s is a non-empty string of decimal digits: how xl tells a
 * domain id from a domain name. */
bool xlmig_str_is_domid(const char *s);
/* A guest name that comes from outside this host (an xl -C config, a
 * peer's PREFLIGHT): letters, digits, '-', '_' and '.' only, and not all
 * digits (a name like "12" would later be read as a domain id).  Length
 * is the caller's to check. */
bool xlmig_guest_name_ok(const char *s);
/* Only letters, digits, '-', '_' and '.' (true for ""). */
bool xlmig_plain_chars(const char *s);

/* Parse a size such as "512", "64M", "8G" (binary units) into bytes. */
int xlmig_parse_size(const char *s, uint64_t *out);
/* Parse a rate such as "100M" (bytes/s) or "1G"; same units. */
#define xlmig_parse_rate xlmig_parse_size

#define XLMIG_PAGE_SHIFT 12
#define XLMIG_PAGE_SIZE  4096u
/* Is the page all zero bytes?  Stops at the first 64 bytes that are not. */
bool xlmig_page_is_zero(const void *page);
#define XLMIG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define XLMIG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XLMIG_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Daemons (xlmigd, xlmig-simhost): detach from the terminal, but let the
 * parent exit only once the child is serving, with the child's status, so
 * that `xlmigd && xlmig list` works in scripts.  The child calls
 * xlmig_detach_ready() with 0 once it serves (its stdio then goes to
 * /dev/null) or 1 when it failed. */
int xlmig_detach(int *ready_fd);
void xlmig_detach_ready(int *ready_fd, char status);

#endif
