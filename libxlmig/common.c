/*
 * common.c - error messages, logging, clocks, buffers and fd I/O shared by
 * every xlmig module (see common.h).
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

static __thread char errmsg[512];

const char *xlmig_strerror(int err)
{
	switch (err) {
	case XLMIG_OK:            return "success";
	case XLMIG_E_NOMEM:       return "out of memory";
	case XLMIG_E_IO:          return "I/O error";
	case XLMIG_E_FORMAT:      return "malformed input";
	case XLMIG_E_TRUNCATED:   return "input truncated";
	case XLMIG_E_UNSUPPORTED: return "not supported";
	case XLMIG_E_LIMIT:       return "over a limit";
	case XLMIG_E_CANCELLED:   return "cancelled";
	case XLMIG_E_TIMEOUT:     return "timed out";
	case XLMIG_E_HV:          return "hypervisor error";
	case XLMIG_E_INVAL:       return "invalid argument";
	case XLMIG_E_AUTH:        return "authentication failed";
	case XLMIG_E_PEER:        return "peer reported failure";
	case XLMIG_E_NOSPC:       return "no space";
	case XLMIG_E_NOTFOUND:    return "not found";
	case XLMIG_E_EXISTS:      return "already exists";
	case XLMIG_E_CONVERGE:    return "pre-copy did not converge";
	case XLMIG_E_CLOSED:      return "connection closed by peer";
	}
	return "unknown error";
}

int xlmig_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

int xlmig_fail_prefix(int err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(errmsg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errmsg, sizeof(old));
	/* A cut message is still worth logging; mark where it was cut. */
	if (snprintf(errmsg, sizeof(errmsg), "%s: %s", prefix,
		     old[0] ? old : xlmig_strerror(err)) >= (int)sizeof(errmsg))
		memcpy(errmsg + sizeof(errmsg) - 4, "...", 4);
	return err;
}

const char *xlmig_errmsg(void)
{
	return errmsg;
}

void xlmig_errclear(void)
{
	errmsg[0] = '\0';
}

/* ---- logging ---- */

static int log_level = XLMIG_LOG_INFO;
static FILE *log_stream;
static const char *log_tag = "xlmig";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void xlmig_log_set_level(int level) { log_level = level; }
int xlmig_log_get_level(void) { return log_level; }
void xlmig_log_set_stream(FILE *f) { log_stream = f; }
void xlmig_log_set_tag(const char *tag) { log_tag = tag; }

int xlmig_log_level_parse(const char *s)
{
	static const char *names[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

void xlmig_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	FILE *out = log_stream ? log_stream : stderr;
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);

	/* One lock so lines from job threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(out, "%s.%03ld %s %s: ", when, ts.tv_nsec / 1000000, log_tag,
		names[level < 0 ? 0 : level > 3 ? 3 : level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
	pthread_mutex_unlock(&log_lock);
}

/* ---- clocks ---- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t xlmig_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t xlmig_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

uint64_t xlmig_thread_wait_ns(void)
{
	char buf[96];
	unsigned long long run = 0, wait = 0;
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return 0;
	return wait;
}

unsigned xlmig_online_cpus(void)
{
	cpu_set_t set;
	long cpus;

	/* Those this process may run on (a dom0 daemon may be pinned). */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 1 ? 1 : (unsigned)cpus;
}

/* ---- buffers ---- */

int xlmig_buf_reserve(struct xlmig_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return xlmig_fail(XLMIG_E_NOMEM, "buffer size overflow");
	need = b->len + extra;
	if (need <= b->cap)
		return XLMIG_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
	b->data = p;
	b->cap = cap;
	return XLMIG_OK;
}

struct timespec xlmig_deadline_ms(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

uint8_t *xlmig_buf_extend(struct xlmig_buf *b, size_t len)
{
	uint8_t *p;

	if (xlmig_buf_reserve(b, len) != XLMIG_OK)
		return NULL;
	p = b->data + b->len;
	b->len += len;
	return p;
}

int xlmig_buf_append(struct xlmig_buf *b, const void *data, size_t len)
{
	uint8_t *p = xlmig_buf_extend(b, len);

	if (!p)
		return XLMIG_E_NOMEM;
	if (len)
		memcpy(p, data, len);
	return XLMIG_OK;
}

void xlmig_buf_reset(struct xlmig_buf *b) { b->len = 0; }

void xlmig_buf_free(struct xlmig_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int xlmig_sink_buf_write(void *buf, const void *data, size_t len)
{
	return xlmig_buf_append(buf, data, len);
}

int xlmig_sink_fd_write(void *fdp, const void *data, size_t len)
{
	return xlmig_write_full(*(int *)fdp, data, len);
}

/* ---- fd I/O ---- */

int xlmig_write_full(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(errno == ENOSPC ? XLMIG_E_NOSPC :
					  errno == EPIPE ? XLMIG_E_CLOSED : XLMIG_E_IO,
					  "write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return XLMIG_OK;
}

ssize_t xlmig_write_nosigpipe(int fd, const void *data, size_t len)
{
	struct iovec one = { .iov_base = (void *)data, .iov_len = len };

	return xlmig_writev_nosigpipe(fd, &one, 1);
}

ssize_t xlmig_writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old;
	ssize_t n;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = writev(fd, iov, iovcnt);
	err = errno;
	if (n < 0 && err == EPIPE)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return n;
}

void xlmig_sigpipe_block(struct xlmig_sigpipe_guard *g)
{
	sigset_t pipe_only, pending;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
}

void xlmig_sigpipe_restore(struct xlmig_sigpipe_guard *g)
{
	sigset_t pipe_only, pending;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipe_only, NULL, &(struct timespec){ 0 });
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int xlmig_read_full(int fd, void *data, size_t len)
{
	uint8_t *p = data;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(XLMIG_E_IO, "read failed: %s", strerror(errno));
		if (n == 0)
			return got ? xlmig_fail(XLMIG_E_TRUNCATED,
						"end of input after %zu of %zu bytes", got, len)
				   : xlmig_fail(XLMIG_E_CLOSED, "end of input");
		got += (size_t)n;
	}
	return XLMIG_OK;
}

int xlmig_read_all(int fd, size_t limit, struct xlmig_buf *out)
{
	for (;;) {
		uint8_t *p = xlmig_buf_extend(out, 65536);
		ssize_t n;

		if (!p)
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory after %zu bytes", out->len);
		n = read(fd, p, 65536);
		if (n < 0 && errno == EINTR)
			n = 0;
		if (n < 0) {
			out->len -= 65536;
			return xlmig_fail(XLMIG_E_IO, "read failed: %s", strerror(errno));
		}
		out->len -= 65536 - (size_t)n;
		if (out->len > limit)
			return xlmig_fail(XLMIG_E_LIMIT, "input over %zu bytes", limit);
		if (n == 0)
			break;
	}
	if (xlmig_buf_append(out, "", 1))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	out->len--;
	return XLMIG_OK;
}

void xlmig_hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int xlmig_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return xlmig_fail(XLMIG_E_INVAL, "'%s' is not a size (examples: 4096, 64M, 8G)", s);
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return xlmig_fail(XLMIG_E_INVAL, "'%s': unknown unit (use K, M, G or T)", s);
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return xlmig_fail(XLMIG_E_INVAL, "'%s' is not a size (examples: 4096, 64M, 8G)", s);
	*out = (uint64_t)v << shift;
	return XLMIG_OK;
}

/* ---- daemons ---- */

/* Detach, but let the parent exit only once the child is serving (or
 * with its error), so `xlmigd && xlmig list` works in scripts. */
int xlmig_detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe2(p, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return xlmig_fail(XLMIG_E_IO, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	setsid();
	if (chdir("/") != 0)
		xlmig_warn("chdir /: %s", strerror(errno));
	*ready_fd = p[1];
	return XLMIG_OK;
}

void xlmig_detach_ready(int *ready_fd, char status)
{
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &status, 1) != 1)
		xlmig_warn("cannot tell the parent process we started");
	close(*ready_fd);
	*ready_fd = -1;
	if (status == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);  /* 0-2 are dup2 copies */
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
}

bool xlmig_str_is_domid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

bool xlmig_plain_chars(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

bool xlmig_guest_name_ok(const char *s)
{
	return *s && !xlmig_str_is_domid(s) && xlmig_plain_chars(s);
}

void xlmig_verdict_note(struct xlmig_verdict *v, int rc)
{
	const char *msg = xlmig_errmsg();

	if (!rc)
		return;
	if (!v->first)
		v->first = rc;
	if (v->n++)
		xlmig_buf_append(&v->why, "; ", 2);
	xlmig_buf_append(&v->why, msg, strlen(msg));
}

int xlmig_verdict_end(struct xlmig_verdict *v, const char *what)
{
	int rc = XLMIG_OK;

	if (v->n)
		rc = xlmig_fail(v->first, "%u %s: %.*s", v->n, what, (int)v->why.len,
				v->why.len ? (const char *)v->why.data : "");
	xlmig_buf_free(&v->why);
	return rc;
}

bool xlmig_page_is_zero(const void *page)
{
	const uint8_t *p = page;

	for (size_t off = 0; off < XLMIG_PAGE_SIZE; off += 64) {
		uint64_t w[8];

		memcpy(w, p + off, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			return false;
	}
	return true;
}
