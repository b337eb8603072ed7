/*
 * fuzz_xlproto.c - libFuzzer harness for xl's migration protocol state
 * machines (xlproto.h), driven by a fuzzed peer: the machine reads what
 * the peer sent from a memory file and writes to /dev/null (the peer
 * sends regardless of what it is told, so no thread or socket plays it).
 *
 * The first input byte chooses the side under test and which of its
 * actions fail (fault injection); the rest is what the peer sends.
 *   bit 0   0: the receiver runs (the peer is a sender: a length byte
 *              and that many stream bytes, then GO); 1: the sender runs
 *              (the peer is a receiver: banner, READY, report, status,
 *              GO back after a failure)
 *   bit 1   the stream action (restore / save) fails
 *   bit 2   renaming fails (rename_final / rename_away)
 *   bit 3   unpause / rename_back fails
 *   bit 4   destroy fails
 *   bit 5   resume fails
 *   bit 6   receiver: -p (stay paused); sender: a failing save is a
 *           suspend timeout
 * The machines' promises are checked against what the peer really sent:
 * a guest is never started without GO, never destroyed at the source
 * without the receiver's success report, never both destroyed and
 * resumed, and the result agrees with the actions taken.  Nothing may
 * crash, hang or leak.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a sender's stream and GO, a
 * receiver's whole success, a receiver reporting failure and giving GO
 * back) into DIR and exits.
 */
#include "harness.h"
#include "xlproto.h"

#define F_SENDER      0x01
#define F_STREAM_FAIL 0x02
#define F_RENAME_FAIL 0x04
#define F_SECOND_FAIL 0x08
#define F_DESTROY_FAIL 0x10
#define F_RESUME_FAIL 0x20
#define F_VARIANT     0x40

struct actions {
	uint8_t flags;
	int stream, rename, second, destroy, resume;   /* calls made */
	bool stream_ok, rename_ok;
};

static int act(struct actions *a, int *calls, uint8_t fail_bit, int err)
{
	(*calls)++;
	return (a->flags & fail_bit) ? xlmig_fail(err, "injected failure") : XLMIG_OK;
}

/* ---- receiver under test ---- */

static int r_restore(void *o, int fd)
{
	struct actions *a = o;
	uint8_t len, buf[256];
	int rc;

	a->stream++;
	rc = xlmig_read_full(fd, &len, 1);
	if (!rc && len)
		rc = xlmig_read_full(fd, buf, len);
	if (!rc && (a->flags & F_STREAM_FAIL))
		rc = xlmig_fail(XLMIG_E_FORMAT, "injected restore failure");
	a->stream_ok = rc == XLMIG_OK;
	return rc;
}
static int r_rename(void *o)
{
	struct actions *a = o;
	int rc = act(a, &a->rename, F_RENAME_FAIL, XLMIG_E_EXISTS);

	a->rename_ok = rc == XLMIG_OK;
	return rc;
}
static int r_unpause(void *o)
{
	struct actions *a = o;
	return act(a, &a->second, F_SECOND_FAIL, XLMIG_E_IO);
}
static int r_destroy(void *o)
{
	struct actions *a = o;
	return act(a, &a->destroy, F_DESTROY_FAIL, XLMIG_E_IO);
}

static const struct xlmig_xlrecv_ops recv_ops = { r_restore, r_rename, r_unpause, r_destroy };

static bool has(const uint8_t *d, size_t size, size_t off, const char *msg, size_t len)
{
	return off <= size && size - off >= len && !memcmp(d + off, msg, len);
}

static void receiver(uint8_t flags, const uint8_t *d, size_t size)
{
	struct actions a = { .flags = flags };
	struct xlmig_xlrecv_result res;
	bool paused = flags & F_VARIANT;
	bool go;
	int rc;

	rc = xlmig_xlproto_receive(fuzz_devnull(), fuzz_input_fd(d, size), paused, &recv_ops, &a,
				   &res);
	go = size >= 1 && has(d, size, 1 + (size_t)d[0], XLMIG_XLPROTO_GO, XLMIG_XLPROTO_GO_LEN);
	if ((a.rename && !(a.stream_ok && go)) || (a.second && (!a.rename_ok || paused)))
		abort();   /* started without a restored guest and GO */
	if (a.destroy && (!a.stream_ok || res.domain_running))
		abort();   /* destroyed what was not there, or what runs */
	if (a.destroy > 1 || (res.domain_destroyed && !a.destroy))
		abort();
	if ((rc == XLMIG_OK) != (res.domain_running && res.failed_in == XLMIG_XLRECV_FINISHED))
		abort();
	if (res.report_sent && (res.status_sent == 0) != (rc == XLMIG_OK))
		abort();   /* the sender is told the truth */
	if (rc && a.stream_ok && !res.domain_running && !a.destroy)
		abort();   /* a failed receive leaves no stopped copy behind */
}

/* ---- sender under test ---- */

static int s_save(void *o, int fd)
{
	struct actions *a = o;
	static const uint8_t stream[] = "xl save stream";
	int rc;

	a->stream++;
	if (a->flags & F_STREAM_FAIL)
		return xlmig_fail((a->flags & F_VARIANT) ? XLMIG_E_TIMEOUT : XLMIG_E_IO,
				  "injected save failure");
	rc = xlmig_write_full(fd, stream, sizeof(stream));
	a->stream_ok = rc == XLMIG_OK;
	return rc;
}
static int s_rename_away(void *o)
{
	struct actions *a = o;
	int rc = act(a, &a->rename, F_RENAME_FAIL, XLMIG_E_EXISTS);

	a->rename_ok = rc == XLMIG_OK;
	return rc;
}
static int s_rename_back(void *o)
{
	struct actions *a = o;
	return act(a, &a->second, F_SECOND_FAIL, XLMIG_E_EXISTS);
}
static int s_resume(void *o)
{
	struct actions *a = o;
	return act(a, &a->resume, F_RESUME_FAIL, XLMIG_E_IO);
}
static int s_destroy(void *o)
{
	struct actions *a = o;
	return act(a, &a->destroy, F_DESTROY_FAIL, XLMIG_E_IO);
}

static const struct xlmig_xlsend_ops send_ops = {
	s_save, s_rename_away, s_rename_back, s_resume, s_destroy,
};

static void sender(uint8_t flags, const uint8_t *d, size_t size)
{
	const size_t ready_at = XLMIG_XLPROTO_BANNER_LEN;
	const size_t report_at = ready_at + XLMIG_XLPROTO_READY_LEN;
	const size_t status_at = report_at + XLMIG_XLPROTO_REPORT_LEN;
	struct actions a = { .flags = flags };
	struct xlmig_xlsend_result res;
	bool banner, ready, reported, go_back;
	int rc;

	rc = xlmig_xlproto_send(fuzz_devnull(), fuzz_input_fd(d, size), "fuzz", &send_ops, &a, &res);
	banner = has(d, size, 0, XLMIG_XLPROTO_BANNER, XLMIG_XLPROTO_BANNER_LEN);
	ready = banner && has(d, size, ready_at, XLMIG_XLPROTO_READY, XLMIG_XLPROTO_READY_LEN);
	reported = ready && has(d, size, report_at, XLMIG_XLPROTO_REPORT, XLMIG_XLPROTO_REPORT_LEN) &&
		   size > status_at;
	go_back = reported && has(d, size, status_at + 1, XLMIG_XLPROTO_GO, XLMIG_XLPROTO_GO_LEN);
	if ((a.stream && !banner) || (a.rename && !(ready && a.stream_ok)))
		abort();   /* acted before the receiver said so */
	if (a.destroy && !(reported && d[status_at] == 0 && a.rename_ok))
		abort();   /* our copy destroyed without the receiver's success */
	if (a.destroy && a.resume)
		abort();   /* the guest both given away and taken back */
	if (a.resume && a.rename_ok && !(reported && d[status_at] != 0 && go_back))
		abort();   /* resumed after GO without the receiver's permission */
	if ((rc == XLMIG_OK) != (res.outcome == XLMIG_XLSEND_OK) ||
	    (res.outcome == XLMIG_XLSEND_OK && !a.destroy))
		abort();
	if (res.outcome == XLMIG_XLSEND_RESUMED && (!a.resume || (flags & F_RESUME_FAIL)))
		abort();
	if (reported && a.rename_ok && res.peer_status != d[status_at])
		abort();
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, uint8_t flags, const char *const *parts,
		 const size_t *lens, size_t n)
{
	struct xlmig_buf b = { 0 };

	for (size_t i = 0; i < n; i++)
		if (xlmig_buf_append(&b, parts[i], lens[i]) != XLMIG_OK)
			abort();
	fuzz_put_seed(dir, name, flags, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	const char *stream[] = { "\x0e", "xl save stream", XLMIG_XLPROTO_GO };
	const size_t stream_len[] = { 1, 14, XLMIG_XLPROTO_GO_LEN };
	const char *ok[] = { XLMIG_XLPROTO_BANNER, XLMIG_XLPROTO_READY, XLMIG_XLPROTO_REPORT, "" };
	const size_t ok_len[] = { XLMIG_XLPROTO_BANNER_LEN, XLMIG_XLPROTO_READY_LEN,
				  XLMIG_XLPROTO_REPORT_LEN, 1 };
	const char *failed[] = { XLMIG_XLPROTO_BANNER, XLMIG_XLPROTO_READY, XLMIG_XLPROTO_REPORT,
				 "\x05", XLMIG_XLPROTO_GO };
	const size_t failed_len[] = { XLMIG_XLPROTO_BANNER_LEN, XLMIG_XLPROTO_READY_LEN,
				      XLMIG_XLPROTO_REPORT_LEN, 1, XLMIG_XLPROTO_GO_LEN };

	seed(dir, "to-receiver", 0, stream, stream_len, 3);
	seed(dir, "to-sender-ok", F_SENDER, ok, ok_len, 4);
	seed(dir, "to-sender-failed", F_SENDER, failed, failed_len, 5);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & F_SENDER)
		sender(data[0], data + 1, size - 1);
	else
		receiver(data[0], data + 1, size - 1);
	return 0;
}
