/*
 * test_xl_e2e.c - xl migrate / xl migrate-receive end to end, in
 * one process: two sim hosts, the sender and the receiver in their own
 * threads, talking xl's protocol over a socketpair.  The guest must move
 * with its memory and counter intact, and every failure branch must leave
 * exactly one copy of it (or say that nobody can know).
 */
#include "unit.h"
#include "common.h"
#include "sim_engine.h"
#include "sim_hv.h"
#include "stream.h"
#include "xl_receive.h"
#include "xl_send.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ull << 20)
/* A running guest's counter advances within this, however loaded the
 * machine is. */
#define RUNS_WITHIN_MS 10000

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int make_guest(struct xlmig_hv *hv, const char *name, uint32_t *domid)
{
	struct xlmig_sim_create c = { .name = name, .mem_bytes = 64 * MIB, .vcpus = 1 };

	xlmig_sim_workload_default(&c.wl);
	c.wl.rate = 16 * MIB;
	c.wl.pattern = XLMIG_SIM_HOTSET;
	c.wl.hot_bytes = 4 * MIB;
	c.wl.fill_pct = 60;
	c.wl.seed = 7;
	return xlmig_hv_sim_create(hv, &c, domid);
}

static int dom_state(struct xlmig_hv *hv, const char *name)
{
	struct xlmig_domain_info di;

	if (hv->ops->lookup(hv, name, &di))
		return -1;
	return (int)di.state;
}

static size_t dom_count(struct xlmig_hv *hv)
{
	struct xlmig_domain_info *v = NULL;
	size_t n = 0;

	if (hv->ops->list(hv, &v, &n))
		n = (size_t)-1;
	free(v);
	return n;
}

/* The sending side, run in a thread. */
struct sender {
	pthread_t th;
	struct xlmig_hv *hv;
	struct xlmig_xl_send_opts o;
	int fd;
	int rc;
	struct xlmig_xl_send_report rep;
	char msg[512];
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->rc = xlmig_xl_send_fds(s->hv, &s->o, s->fd, s->fd, NULL, &s->rep);
	snprintf(s->msg, sizeof(s->msg), "%s", xlmig_errmsg());
	return NULL;
}

static int start_sender(struct sender *s, struct xlmig_hv *hv, const char *domain, int fd)
{
	if (!s->o.ssh_command)
		xlmig_xl_send_opts_default(&s->o);
	s->o.domain = domain;
	s->o.host = "test";
	s->o.mem_digest = true;    /* compared with the destination's */
	s->hv = hv;
	s->fd = fd;
	return pthread_create(&s->th, NULL, sender_main, s) ? XLMIG_E_IO : XLMIG_OK;
}

static int pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ? XLMIG_E_IO : XLMIG_OK;
}

TEST(xl_e2e_guest_moves_memory_and_counter_intact)
{
	struct xlmig_xl_receive_opts ro = { .pause_after = true };
	struct xlmig_xlrecv_result rres;
	struct xlmig_hv *src, *dst;
	struct xlmig_domain_info di;
	struct sender s = { 0 };
	uint64_t before, at_arrival;
	uint8_t digest[32];
	uint32_t id;
	int sv[2], rc;

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "web1", &id));
	sleep_ms(30);
	CHECK_OK(xlmig_hv_counter(src, id, &before));
	CHECK_OK(pair(sv));
	CHECK_OK(start_sender(&s, src, "web1", sv[0]));
	rc = xlmig_xl_receive(dst, sv[1], sv[1], &ro, &rres);
	pthread_join(s.th, NULL);
	if (s.rc)
		unit_fail(__FILE__, __LINE__, "sender: %s", s.msg);
	CHECK_OK(rc);
	CHECK_OK(s.rc);
	CHECK_EQ(s.rep.proto.outcome, XLMIG_XLSEND_OK);
	CHECK_EQ(s.rep.proto.peer_status, 0);
	CHECK(rres.report_sent && rres.domain_running && !rres.domain_destroyed);

	/* The source has nothing left, under any name. */
	CHECK_EQ(dom_count(src), 0);
	/* The destination holds it under its own name, paused (-p), with
	 * the memory the source had when it stopped. */
	CHECK_OK(dst->ops->lookup(dst, "web1", &di));
	CHECK_EQ(di.state, XLMIG_DOM_PAUSED);
	CHECK_EQ(di.mem_bytes, 64 * MIB);
	CHECK_EQ(dom_state(dst, "web1" XLMIG_INCOMING_SUFFIX), -1);
	CHECK(s.rep.save.have_mem_digest);
	CHECK(s.rep.save.iterations >= 1);
	CHECK_OK(xlmig_hv_mem_digest(dst, di.domid, digest));
	CHECK(memcmp(digest, s.rep.save.mem_digest, 32) == 0);
	/* The counter goes on from where it stood, not from zero. */
	CHECK_OK(xlmig_hv_counter(dst, di.domid, &at_arrival));
	CHECK(at_arrival >= before);
	CHECK_OK(dst->ops->unpause(dst, di.domid));
	CHECK_OK(xlmig_hv_counter_passes(dst, di.domid, at_arrival, RUNS_WITHIN_MS));
	close(sv[0]);
	close(sv[1]);
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}

TEST(xl_e2e_guest_runs_at_once_without_pause_option)
{
	struct xlmig_xl_receive_opts ro = { 0 };
	struct xlmig_hv *src, *dst;
	struct sender s = { 0 };
	uint64_t c1;
	uint32_t id;
	int sv[2];

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "web1", &id));
	CHECK_OK(pair(sv));
	CHECK_OK(start_sender(&s, src, "1", sv[0]));   /* by domid, as xl allows */
	CHECK_OK(xlmig_xl_receive(dst, sv[1], sv[1], &ro, NULL));
	pthread_join(s.th, NULL);
	CHECK_OK(s.rc);
	CHECK_EQ(dom_state(dst, "web1"), XLMIG_DOM_RUNNING);
	CHECK_EQ(dom_count(src), 0);
	CHECK_OK(xlmig_hv_counter(dst, 1, &c1));
	CHECK_OK(xlmig_hv_counter_passes(dst, 1, c1, RUNS_WITHIN_MS));
	close(sv[0]);
	close(sv[1]);
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}

/* The destination cannot create the guest (its incoming name is taken
 * there): the sender must resume its own copy, which runs on. */
TEST(xl_e2e_failed_restore_resumes_the_source)
{
	struct xlmig_xl_receive_opts ro = { 0 };
	struct xlmig_xlrecv_result rres;
	struct xlmig_hv *src, *dst;
	struct sender s = { 0 };
	uint64_t c1;
	uint32_t id, squatter;
	int sv[2], rc;

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "web1", &id));
	CHECK_OK(make_guest(dst, "web1" XLMIG_INCOMING_SUFFIX, &squatter));
	CHECK_OK(pair(sv));
	CHECK_OK(start_sender(&s, src, "web1", sv[0]));
	rc = xlmig_xl_receive(dst, sv[1], sv[1], &ro, &rres);
	/* As xl's receiver: a failed creation ends the process, which closes
	 * the connection under the sender. */
	close(sv[1]);
	pthread_join(s.th, NULL);
	CHECK_EQ(rc, XLMIG_E_EXISTS);
	CHECK_EQ(rres.failed_in, XLMIG_XLRECV_RESTORE);
	CHECK(!rres.domain_running && !rres.report_sent);
	CHECK(s.rc != 0);
	CHECK_EQ(s.rep.proto.outcome, XLMIG_XLSEND_RESUMED);
	CHECK(s.rep.proto.failed_in == XLMIG_XLSEND_SAVE || s.rep.proto.failed_in == XLMIG_XLSEND_READY);
	/* The source runs again under its own name; the destination has
	 * only what it had before. */
	CHECK_EQ(dom_state(src, "web1"), XLMIG_DOM_RUNNING);
	CHECK_EQ(dom_count(src), 1);
	CHECK_EQ(dom_count(dst), 1);
	CHECK_OK(xlmig_hv_counter(src, id, &c1));
	CHECK_OK(xlmig_hv_counter_passes(src, id, c1, RUNS_WITHIN_MS));
	close(sv[0]);
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}

/* A receiver that takes the stream, says READY, hears GO and vanishes:
 * nobody knows whether the guest runs there, so the source keeps its
 * copy stopped and renamed away and says the state is undefined. */
struct vanishing_receiver {
	pthread_t th;
	int fd;
	int rc;
	char msg[512];
};

static void *vanishing_main(void *arg)
{
	struct vanishing_receiver *v = arg;
	struct xlmig_sim_guest *g = NULL;
	char name[XLMIG_NAME_MAX];

	v->rc = xlmig_xlproto_send_msg(v->fd, XLMIG_XLMSG_BANNER);
	if (!v->rc)
		v->rc = xlmig_sim_restore(v->fd, &g, name);
	if (!v->rc)
		v->rc = xlmig_xlproto_send_msg(v->fd, XLMIG_XLMSG_READY);
	if (!v->rc)
		v->rc = xlmig_xlproto_expect_msg(v->fd, XLMIG_XLMSG_GO, NULL);
	snprintf(v->msg, sizeof(v->msg), "%s", xlmig_errmsg());
	if (g)
		xlmig_sim_guest_free(g);
	close(v->fd);
	return NULL;
}

TEST(xl_e2e_eof_after_go_leaves_source_paused_and_renamed)
{
	struct vanishing_receiver v = { 0 };
	struct xlmig_hv *src;
	struct sender s = { 0 };
	uint64_t c1, c2;
	uint32_t id;
	int sv[2];

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(make_guest(src, "web1", &id));
	CHECK_OK(pair(sv));
	v.fd = sv[1];
	CHECK(pthread_create(&v.th, NULL, vanishing_main, &v) == 0);
	CHECK_OK(start_sender(&s, src, "web1", sv[0]));
	pthread_join(v.th, NULL);
	pthread_join(s.th, NULL);
	if (v.rc)
		unit_fail(__FILE__, __LINE__, "receiver: %s", v.msg);
	CHECK_OK(v.rc);
	CHECK(s.rc != 0);
	CHECK_EQ(s.rep.proto.outcome, XLMIG_XLSEND_UNDEFINED);
	CHECK_EQ(s.rep.proto.failed_in, XLMIG_XLSEND_REPORT);
	CHECK(strstr(s.msg, "undefined") != NULL);
	CHECK_EQ(dom_state(src, "web1"), -1);
	CHECK_EQ(dom_state(src, "web1" XLMIG_MIGRATED_SUFFIX), XLMIG_DOM_SUSPENDED);
	CHECK_OK(xlmig_hv_counter(src, id, &c1));
	sleep_ms(30);
	CHECK_OK(xlmig_hv_counter(src, id, &c2));
	CHECK_EQ(c2, c1);   /* it does not run */
	close(sv[0]);
	xlmig_hv_close(src);
}

/* A sender that dies half way through the stream: the receiver must
 * report the truncation and leave no domain behind. */
TEST(xl_e2e_truncated_stream_leaves_nothing_on_the_receiver)
{
	struct xlmig_xl_receive_opts ro = { 0 };
	struct xlmig_xlrecv_result rres;
	struct xlmig_save_opts so = { 0 };
	struct xlmig_save_result sres;
	struct xlmig_policy policy;
	struct xlmig_policy_config pc;
	struct xlmig_hv *src, *dst;
	struct xlmig_buf stream = { 0 };
	char path[512];
	uint32_t id;
	int sv[2], fd, rc, status;
	pid_t child;
	off_t len;

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "web1", &id));
	snprintf(path, sizeof(path), "%s/stream", unit_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	xlmig_policy_config_default(&pc);
	xlmig_policy_init(&policy, &pc);
	so.policy = &policy;
	CHECK_OK(src->ops->save_live(src, id, fd, &so, &sres));
	len = lseek(fd, 0, SEEK_END);
	CHECK(len > 4096);
	CHECK(xlmig_buf_extend(&stream, (size_t)len / 2) != NULL);
	CHECK(pread(fd, stream.data, stream.len, 0) == (ssize_t)stream.len);
	close(fd);

	CHECK_OK(pair(sv));
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		uint8_t banner[XLMIG_XLPROTO_BANNER_LEN];

		close(sv[1]);
		if (xlmig_read_full(sv[0], banner, sizeof(banner)) ||
		    xlmig_write_full(sv[0], stream.data, stream.len))
			_exit(1);
		_exit(0);
	}
	close(sv[0]);
	rc = xlmig_xl_receive(dst, sv[1], sv[1], &ro, &rres);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(rc == XLMIG_E_TRUNCATED || rc == XLMIG_E_CLOSED);
	CHECK_EQ(rres.failed_in, XLMIG_XLRECV_RESTORE);
	CHECK_EQ(dom_count(dst), 0);
	close(sv[1]);
	xlmig_buf_free(&stream);
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}

TEST(xl_e2e_preserve_domid_refused_on_sim_before_anything_happens)
{
	struct xlmig_hv *src;
	struct xlmig_xl_send_report rep;
	struct xlmig_xl_send_opts o;
	uint64_t c1;
	uint32_t id;
	int sv[2];

	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(make_guest(src, "web1", &id));
	CHECK_OK(pair(sv));
	xlmig_xl_send_opts_default(&o);
	o.domain = "web1";
	o.host = "test";
	o.preserve_domid = true;
	CHECK_EQ(xlmig_xl_send_fds(src, &o, sv[0], sv[0], NULL, &rep), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "-D") != NULL);
	CHECK_EQ(rep.proto.outcome, XLMIG_XLSEND_UNTOUCHED);
	CHECK_EQ(dom_state(src, "web1"), XLMIG_DOM_RUNNING);
	CHECK_OK(xlmig_hv_counter(src, id, &c1));
	CHECK_OK(xlmig_hv_counter_passes(src, id, c1, RUNS_WITHIN_MS));
	close(sv[0]);
	close(sv[1]);
	xlmig_hv_close(src);
}

/* -C: the config in the file is what the receiver creates from; here it
 * renames the guest, as an edited config would. */
TEST(xl_e2e_config_file_replaces_the_sent_config)
{
	const char *cfg = "{\"c_info\":{\"type\":\"pvh\",\"name\":\"web2\"},"
			  "\"b_info\":{\"max_vcpus\":1,\"max_memkb\":65536,\"target_memkb\":65536},"
			  "\"xlmig_sim\":{\"rate\":0,\"pattern\":\"uniform\",\"hot_bytes\":0,"
			  "\"zero_pct\":0,\"file_pct\":0,\"fill_pct\":0,\"seed\":1}}";
	struct xlmig_xl_receive_opts ro = { 0 };
	struct xlmig_hv *src, *dst;
	struct sender s = { 0 };
	char path[512];
	uint32_t id;
	int sv[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/web2.json", unit_tmpdir());
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(cfg, f);
	fclose(f);
	CHECK_OK(xlmig_hv_open("sim", &src));
	CHECK_OK(xlmig_hv_open("sim", &dst));
	CHECK_OK(make_guest(src, "web1", &id));
	CHECK_OK(pair(sv));
	xlmig_xl_send_opts_default(&s.o);
	s.o.config_file = path;
	CHECK_OK(start_sender(&s, src, "web1", sv[0]));
	CHECK_OK(xlmig_xl_receive(dst, sv[1], sv[1], &ro, NULL));
	pthread_join(s.th, NULL);
	CHECK_OK(s.rc);
	CHECK_EQ(dom_state(dst, "web2"), XLMIG_DOM_RUNNING);
	CHECK_EQ(dom_state(dst, "web1"), -1);
	CHECK_EQ(dom_count(src), 0);
	close(sv[0]);
	close(sv[1]);
	xlmig_hv_close(src);
	xlmig_hv_close(dst);
}
