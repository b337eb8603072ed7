/*
 * test_xlproto.c - xl's migration handshake against recorded byte
 * sequences, through socketpairs, with every failure branch.
 *
 * The expected bytes are spelled out here independently of xlproto.h
 * (as tools/xl/xl.h has them, NULs included), so a changed constant fails.
 */
#include "unit.h"
#include "common.h"
#include "xlproto.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define REC_BANNER "xl migration receiver ready, send binary domain data.\n"
#define REC_READY  "domain received, ready to unpause\0"
#define REC_GO     "domain is yours, you are cleared to unpause\0"
#define REC_REPORT "my copy unpause results are as follows\0"
#define LIT(s) s, sizeof(s) - 1

/* Actions that log what they were asked to do, and fail on request. */
struct fake {
	char log[256];
	int save_rc, rename_away_rc, rename_back_rc, resume_rc, destroy_rc;
	int restore_rc, rename_final_rc, unpause_rc;
	int close_on_save;        /* fd to close when save is called */
	const char *stream;       /* what save writes / restore expects */
};

static void fake_log(struct fake *f, const char *what)
{
	if (f->log[0])
		strcat(f->log, ",");
	strcat(f->log, what);
}

static int fake_fail(int rc, const char *what)
{
	return rc ? xlmig_fail(rc, "%s failed (test)", what) : 0;
}

static int f_save(void *o, int fd)
{
	struct fake *f = o;
	fake_log(f, "save");
	if (f->close_on_save >= 0) {
		close(f->close_on_save);
		f->close_on_save = -1;
	}
	if (!f->save_rc && f->stream)
		return xlmig_write_full(fd, f->stream, strlen(f->stream));
	return fake_fail(f->save_rc, "save");
}
static int f_rename_away(void *o) { struct fake *f = o; fake_log(f, "rename_away"); return fake_fail(f->rename_away_rc, "rename"); }
static int f_rename_back(void *o) { struct fake *f = o; fake_log(f, "rename_back"); return fake_fail(f->rename_back_rc, "rename"); }
static int f_resume(void *o) { struct fake *f = o; fake_log(f, "resume"); return fake_fail(f->resume_rc, "resume"); }
static int f_destroy(void *o) { struct fake *f = o; fake_log(f, "destroy"); return fake_fail(f->destroy_rc, "destroy"); }
static int f_restore(void *o, int fd)
{
	struct fake *f = o;
	char buf[64];
	int rc;

	fake_log(f, "restore");
	if (f->restore_rc)
		return fake_fail(f->restore_rc, "restore");
	rc = xlmig_read_full(fd, buf, strlen(f->stream));
	if (!rc && memcmp(buf, f->stream, strlen(f->stream)))
		rc = xlmig_fail(XLMIG_E_FORMAT, "stream differs");
	return rc;
}
static int f_rename_final(void *o) { struct fake *f = o; fake_log(f, "rename_final"); return fake_fail(f->rename_final_rc, "rename"); }
static int f_unpause(void *o) { struct fake *f = o; fake_log(f, "unpause"); return fake_fail(f->unpause_rc, "unpause"); }

static const struct xlmig_xlsend_ops send_ops = {
	f_save, f_rename_away, f_rename_back, f_resume, f_destroy,
};
static const struct xlmig_xlrecv_ops recv_ops = {
	f_restore, f_rename_final, f_unpause, f_destroy,
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->close_on_save = -1;
	f->stream = "STREAM";
}

/* One direction of a connection: [0] is the side under test. */
struct link { int sv[2]; };

static int link_open(struct link *l)
{
	signal(SIGPIPE, SIG_IGN);
	return socketpair(AF_UNIX, SOCK_STREAM, 0, l->sv);
}

/* Everything the side under test wrote, once it closed its end. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

/* Sender under test: `peer` is what the recorded receiver says
 * (written up front, then EOF); `out` gets what the sender sent. */
static int run_sender(struct fake *f, const char *peer, size_t peer_len,
		      char *out, size_t *out_len, struct xlmig_xlsend_result *res)
{
	struct link to_peer, from_peer;
	int rc;

	if (link_open(&to_peer) || link_open(&from_peer))
		return -100;
	if (peer_len && write(from_peer.sv[1], peer, peer_len) != (ssize_t)peer_len)
		return -101;
	close(from_peer.sv[1]);
	rc = xlmig_xlproto_send(to_peer.sv[0], from_peer.sv[0], "ssh host xlmig migrate-receive",
				&send_ops, f, res);
	close(to_peer.sv[0]);
	close(from_peer.sv[0]);
	*out_len = drain(to_peer.sv[1], out, 1024);
	close(to_peer.sv[1]);
	return rc;
}

static int run_receiver(struct fake *f, const char *peer, size_t peer_len, bool pause_after,
			char *out, size_t *out_len, struct xlmig_xlrecv_result *res)
{
	struct link to_peer, from_peer;
	int rc;

	if (link_open(&to_peer) || link_open(&from_peer))
		return -100;
	if (peer_len && write(from_peer.sv[1], peer, peer_len) != (ssize_t)peer_len)
		return -101;
	close(from_peer.sv[1]);
	rc = xlmig_xlproto_receive(to_peer.sv[0], from_peer.sv[0], pause_after,
				   &recv_ops, f, res);
	close(to_peer.sv[0]);
	close(from_peer.sv[0]);
	*out_len = drain(to_peer.sv[1], out, 1024);
	close(to_peer.sv[1]);
	return rc;
}

static bool bytes_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- sender ---- */

TEST(xlproto_wire_lengths_match_xl)
{
	CHECK_EQ(XLMIG_XLPROTO_BANNER_LEN, sizeof(REC_BANNER) - 1);
	CHECK_EQ(XLMIG_XLPROTO_READY_LEN, sizeof(REC_READY) - 1);
	CHECK_EQ(XLMIG_XLPROTO_GO_LEN, sizeof(REC_GO) - 1);
	CHECK_EQ(XLMIG_XLPROTO_REPORT_LEN, sizeof(REC_REPORT) - 1);
	CHECK_EQ(xlmig_xlproto_status_byte(0), 0);
	CHECK_EQ(xlmig_xlproto_status_byte(XLMIG_E_HV), 9);
	CHECK_EQ(xlmig_xlproto_status_byte(-1000), 1);
}

/* A capture of a whole conversation, message after message, as xl put
 * them on the wire: each is recognised at its start, not before its last
 * byte (REPORT's status byte included), and nothing else is taken. */
TEST(xlproto_recognise_recorded_messages)
{
	static const char conv[] = REC_BANNER REC_READY REC_GO REC_REPORT "\x07";
	static const enum xlmig_xlproto_msg want[] = {
		XLMIG_XLMSG_BANNER, XLMIG_XLMSG_READY, XLMIG_XLMSG_GO, XLMIG_XLMSG_REPORT,
	};
	const uint8_t *b = (const uint8_t *)conv;
	size_t left = sizeof(conv) - 1, used;
	enum xlmig_xlproto_msg msg;
	int status;

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(want); i++) {
		size_t n = 1;

		for (;; n++) {
			CHECK(n <= left);
			CHECK_OK(xlmig_xlproto_recognise(b, n, &msg, &status, &used));
			if (used)
				break;
		}
		CHECK_EQ(msg, want[i]);
		CHECK_EQ(used, n);
		CHECK_EQ(status, i == 3 ? 7 : -1);
		b += used;
		left -= used;
	}
	CHECK_EQ(left, 0);
	CHECK_OK(xlmig_xlproto_recognise(b, 0, &msg, &status, &used));
	CHECK_EQ(used, 0);
	CHECK_EQ(xlmig_xlproto_recognise((const uint8_t *)"domain lost", 11, &msg, &status, &used),
		 XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_xlproto_recognise((const uint8_t *)"\0", 1, &msg, &status, &used),
		 XLMIG_E_FORMAT);
}

TEST(xlproto_send_success)
{
	const char peer[] = REC_BANNER REC_READY REC_REPORT "\0";
	const char want[] = "STREAM" REC_GO;
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_OK(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res));
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK_STR(f.log, "save,rename_away,destroy");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_OK);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_FINISHED);
	CHECK_EQ(res.peer_status, 0);
}

TEST(xlproto_send_wrong_banner)
{
	const char peer[] = "xl migration receiver ready, send binary domain data!\n";
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_FORMAT);
	CHECK_EQ(n, 0);
	CHECK_STR(f.log, "");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNTOUCHED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_BANNER);
	CHECK(strstr(xlmig_errmsg(), "banner") != NULL);
	CHECK(strstr(xlmig_errmsg(), "ssh host xlmig migrate-receive") != NULL);
}

TEST(xlproto_send_eof_before_and_inside_banner)
{
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, "", 0, out, &n, &res), XLMIG_E_CLOSED);
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNTOUCHED);
	fake_init(&f);
	CHECK_EQ(run_sender(&f, LIT("xl migration rec"), out, &n, &res), XLMIG_E_TRUNCATED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_BANNER);
	CHECK_STR(f.log, "");
}

TEST(xlproto_send_suspend_timeout_leaves_guest_running)
{
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.save_rc = XLMIG_E_TIMEOUT;
	CHECK_EQ(run_sender(&f, LIT(REC_BANNER), out, &n, &res), XLMIG_E_TIMEOUT);
	CHECK_STR(f.log, "save");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNTOUCHED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_SAVE);
}

TEST(xlproto_send_save_error_resumes)
{
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.save_rc = XLMIG_E_IO;
	CHECK_EQ(run_sender(&f, LIT(REC_BANNER), out, &n, &res), XLMIG_E_IO);
	CHECK_STR(f.log, "save,resume");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUMED);
	CHECK(strstr(xlmig_errmsg(), "resumed") != NULL);
}

TEST(xlproto_send_eof_before_ready_resumes)
{
	const char peer[] = REC_BANNER "domain received, re";
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_TRUNCATED);
	CHECK_STR(f.log, "save,resume");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUMED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_READY);
	CHECK(bytes_eq(out, n, LIT("STREAM")));
}

TEST(xlproto_send_ready_without_nul_is_wrong)
{
	/* xl sends the NUL: a receiver that leaves it out is not xl. */
	const char peer[] = REC_BANNER "domain received, ready to unpause" "my copy";
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_FORMAT);
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUMED);
}

TEST(xlproto_send_rename_failure_resumes)
{
	const char peer[] = REC_BANNER REC_READY;
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.rename_away_rc = XLMIG_E_HV;
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_HV);
	CHECK_STR(f.log, "save,rename_away,resume");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUMED);
	CHECK(bytes_eq(out, n, LIT("STREAM")));   /* no GO was sent */
}

TEST(xlproto_send_go_write_failure_is_undefined)
{
	const char peer[] = REC_BANNER REC_READY;
	struct link to_peer, from_peer;
	struct xlmig_xlsend_result res;
	struct fake f;

	fake_init(&f);
	f.stream = NULL;
	CHECK(link_open(&to_peer) == 0 && link_open(&from_peer) == 0);
	CHECK(write(from_peer.sv[1], peer, sizeof(peer) - 1) == (ssize_t)sizeof(peer) - 1);
	f.close_on_save = to_peer.sv[1];
	/* EPIPE on the GO write */
	CHECK_EQ(xlmig_xlproto_send(to_peer.sv[0], from_peer.sv[0], NULL, &send_ops, &f, &res),
		 XLMIG_E_CLOSED);
	CHECK_STR(f.log, "save,rename_away");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNDEFINED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_GO);
	CHECK(strstr(xlmig_errmsg(), "undefined") != NULL);
}

TEST(xlproto_send_eof_after_go_is_undefined)
{
	const char peer1[] = REC_BANNER REC_READY;
	const char peer2[] = REC_BANNER REC_READY REC_REPORT;
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer1, sizeof(peer1) - 1, out, &n, &res), XLMIG_E_CLOSED);
	CHECK_STR(f.log, "save,rename_away");  /* neither resumed nor destroyed */
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNDEFINED);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_REPORT);
	/* report there, status byte missing */
	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer2, sizeof(peer2) - 1, out, &n, &res), XLMIG_E_CLOSED);
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNDEFINED);
	CHECK_EQ(res.peer_status, -1);
}

TEST(xlproto_send_peer_failure_resumes_after_go_back)
{
	const char peer[] = REC_BANNER REC_READY REC_REPORT "\3" REC_GO;
	const char want[] = "STREAM" REC_GO;
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_PEER);
	CHECK_STR(f.log, "save,rename_away,rename_back,resume");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUMED);
	CHECK_EQ(res.peer_status, 3);
	CHECK_EQ(res.failed_in, XLMIG_XLSEND_PEER_FAILED);
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK(strstr(xlmig_errmsg(), "status code 3") != NULL);
}

TEST(xlproto_send_peer_failure_without_go_back_is_undefined)
{
	const char peer[] = REC_BANNER REC_READY REC_REPORT "\3";
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_sender(&f, peer, sizeof(peer) - 1, out, &n, &res), XLMIG_E_CLOSED);
	CHECK_STR(f.log, "save,rename_away");
	CHECK_EQ(res.outcome, XLMIG_XLSEND_UNDEFINED);
}

TEST(xlproto_send_resume_failure_reported)
{
	struct xlmig_xlsend_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.save_rc = XLMIG_E_IO;
	f.resume_rc = XLMIG_E_HV;
	CHECK_EQ(run_sender(&f, LIT(REC_BANNER), out, &n, &res), XLMIG_E_IO);
	CHECK_EQ(res.outcome, XLMIG_XLSEND_RESUME_FAILED);
	CHECK(strstr(xlmig_errmsg(), "left suspended") != NULL);
}

/* ---- receiver ---- */

TEST(xlproto_recv_success)
{
	const char peer[] = "STREAM" REC_GO;
	const char want[] = REC_BANNER REC_READY REC_REPORT "\0";
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_OK(run_receiver(&f, peer, sizeof(peer) - 1, false, out, &n, &res));
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK_STR(f.log, "restore,rename_final,unpause");
	CHECK(res.domain_running);
	CHECK(res.report_sent);
	CHECK_EQ(res.status_sent, 0);
	CHECK_EQ(res.failed_in, XLMIG_XLRECV_FINISHED);
}

TEST(xlproto_recv_pause_after_does_not_unpause)
{
	const char peer[] = "STREAM" REC_GO;
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_OK(run_receiver(&f, peer, sizeof(peer) - 1, true, out, &n, &res));
	CHECK_STR(f.log, "restore,rename_final");
}

TEST(xlproto_recv_restore_failure_sends_only_banner)
{
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.restore_rc = XLMIG_E_HV;
	CHECK_EQ(run_receiver(&f, LIT("STREAM"), false, out, &n, &res), XLMIG_E_HV);
	CHECK(bytes_eq(out, n, LIT(REC_BANNER)));
	CHECK_STR(f.log, "restore");
	CHECK_EQ(res.failed_in, XLMIG_XLRECV_RESTORE);
}

TEST(xlproto_recv_eof_instead_of_go_destroys_and_gives_go_back)
{
	const char want[] = REC_BANNER REC_READY REC_REPORT "\x11" REC_GO;
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_receiver(&f, LIT("STREAM"), false, out, &n, &res), XLMIG_E_CLOSED);
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK_STR(f.log, "restore,destroy");
	CHECK(res.domain_destroyed);
	CHECK(!res.domain_running);
	CHECK_EQ(res.status_sent, 17);
	CHECK_EQ(res.failed_in, XLMIG_XLRECV_WAIT_GO);
}

TEST(xlproto_recv_wrong_go)
{
	const char peer[] = "STREAM" "domain is yours, you are cleared to unpausE";
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	CHECK_EQ(run_receiver(&f, peer, sizeof(peer), false, out, &n, &res), XLMIG_E_FORMAT);
	CHECK_STR(f.log, "restore,destroy");
	CHECK_EQ(res.status_sent, 3);
}

TEST(xlproto_recv_unpause_failure_reports_and_cleans_up)
{
	const char peer[] = "STREAM" REC_GO;
	const char want[] = REC_BANNER REC_READY REC_REPORT "\x09" REC_GO;
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.unpause_rc = XLMIG_E_HV;
	CHECK_EQ(run_receiver(&f, peer, sizeof(peer) - 1, false, out, &n, &res), XLMIG_E_HV);
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK_STR(f.log, "restore,rename_final,unpause,destroy");
	CHECK_EQ(res.failed_in, XLMIG_XLRECV_START);
}

TEST(xlproto_recv_destroy_failure_withholds_go)
{
	const char peer[] = "STREAM" REC_GO;
	const char want[] = REC_BANNER REC_READY REC_REPORT "\x09";
	struct xlmig_xlrecv_result res;
	struct fake f;
	char out[1024];
	size_t n;

	fake_init(&f);
	f.rename_final_rc = XLMIG_E_HV;
	f.destroy_rc = XLMIG_E_HV;
	CHECK_EQ(run_receiver(&f, peer, sizeof(peer) - 1, false, out, &n, &res), XLMIG_E_HV);
	CHECK(bytes_eq(out, n, want, sizeof(want) - 1));
	CHECK_STR(f.log, "restore,rename_final,destroy");
	CHECK(!res.domain_destroyed);
}

/* ---- both machines against each other ---- */

struct recv_thread {
	int send_fd, recv_fd;
	struct fake f;
	struct xlmig_xlrecv_result res;
	int rc;
};

static void *recv_main(void *arg)
{
	struct recv_thread *t = arg;
	t->rc = xlmig_xlproto_receive(t->send_fd, t->recv_fd, false, &recv_ops, &t->f, &t->res);
	close(t->send_fd);
	close(t->recv_fd);
	return NULL;
}

static int pair_run(struct fake *sf, struct recv_thread *rt, struct xlmig_xlsend_result *sres)
{
	struct link a, b;   /* a: sender -> receiver, b: receiver -> sender */
	pthread_t th;
	int rc;

	if (link_open(&a) || link_open(&b))
		return -100;
	rt->recv_fd = a.sv[1];
	rt->send_fd = b.sv[1];
	pthread_create(&th, NULL, recv_main, rt);
	rc = xlmig_xlproto_send(a.sv[0], b.sv[0], NULL, &send_ops, sf, sres);
	close(a.sv[0]);
	close(b.sv[0]);
	pthread_join(th, NULL);
	return rc;
}

TEST(xlproto_pair_success)
{
	struct xlmig_xlsend_result sres;
	struct recv_thread rt;
	struct fake sf;

	fake_init(&sf);
	fake_init(&rt.f);
	CHECK_OK(pair_run(&sf, &rt, &sres));
	CHECK_OK(rt.rc);
	CHECK_STR(sf.log, "save,rename_away,destroy");
	CHECK_STR(rt.f.log, "restore,rename_final,unpause");
}

TEST(xlproto_pair_target_failure_gives_guest_back)
{
	struct xlmig_xlsend_result sres;
	struct recv_thread rt;
	struct fake sf;

	fake_init(&sf);
	fake_init(&rt.f);
	rt.f.unpause_rc = XLMIG_E_HV;
	CHECK_EQ(pair_run(&sf, &rt, &sres), XLMIG_E_PEER);
	CHECK_EQ(rt.rc, XLMIG_E_HV);
	CHECK_EQ(sres.outcome, XLMIG_XLSEND_RESUMED);
	CHECK_EQ(sres.peer_status, 9);
	CHECK_STR(sf.log, "save,rename_away,rename_back,resume");
	CHECK_STR(rt.f.log, "restore,rename_final,unpause,destroy");
}
