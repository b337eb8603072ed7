/*
 * test_sim_proto.c - the sim host protocol: every request and reply
 * survives a round trip, every malformed frame is refused with a reason,
 * and descriptors travel with a frame over a socket.
 */
#include "unit.h"
#include "sim_proto.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int req_round_trip(const struct xlmig_simp_req *q, struct xlmig_simp_req *back)
{
	struct xlmig_buf b = { 0 };
	int rc = xlmig_simp_write_req(&b, q);

	if (rc == XLMIG_OK)
		rc = xlmig_simp_parse_req(b.data, b.len, back);
	xlmig_buf_free(&b);
	return rc;
}

static void sample_workload(struct xlmig_sim_workload *wl)
{
	xlmig_sim_workload_default(wl);
	wl->rate = 50u << 20;
	wl->pattern = XLMIG_SIM_HOTSET;
	wl->hot_bytes = 8u << 20;
	wl->seed = 42;
}

TEST(sim_proto_requests_round_trip)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_CREATE, .mem_bytes = 256u << 20, .vcpus = 2,
				    .flags = XLMIG_SIMP_CREATE_BOOT }, back;

	strcpy(q.name, "web1");
	sample_workload(&q.wl);
	CHECK_OK(req_round_trip(&q, &back));
	CHECK_STR(back.name, "web1");
	CHECK(back.mem_bytes == q.mem_bytes && back.vcpus == 2 && back.flags == XLMIG_SIMP_CREATE_BOOT);
	CHECK(memcmp(&back.wl, &q.wl, sizeof(q.wl)) == 0);

	q = (struct xlmig_simp_req){ .type = XLMIG_SIMP_REWRITE, .domid = 7, .first = 1, .count = 99 };
	CHECK_OK(req_round_trip(&q, &back));
	CHECK(back.domid == 7 && back.first == 1 && back.count == 99);

	q = (struct xlmig_simp_req){ .type = XLMIG_SIMP_SET_VCPU, .domid = 3, .blob_len = 56 };
	memset(q.blob, 0xab, sizeof(q.blob));
	CHECK_OK(req_round_trip(&q, &back));
	CHECK(back.blob_len == 56 && back.blob[55] == 0xab);

	for (uint16_t t = XLMIG_SIMP_LIST; t <= XLMIG_SIMP_TYPE_MAX; t++) {
		q = (struct xlmig_simp_req){ .type = t, .domid = 5 };
		strcpy(q.name, "x");
		CHECK_OK(req_round_trip(&q, &back));
		CHECK_EQ(back.type, t);
	}
}

TEST(sim_proto_replies_round_trip)
{
	struct xlmig_domain_info doms[2] = {
		{ .domid = 1, .name = "a", .mem_bytes = 1u << 30, .vcpus = 1, .state = XLMIG_DOM_RUNNING },
		{ .domid = 4, .name = "b--incoming", .mem_bytes = 64u << 20, .vcpus = 2,
		  .state = XLMIG_DOM_SUSPENDED },
	};
	struct xlmig_simp_reply p = { .type = XLMIG_SIMP_LIST, .doms = doms, .n_doms = 2 }, back;
	struct xlmig_buf b = { 0 };

	CHECK_OK(xlmig_simp_write_reply(&b, &p));
	CHECK_OK(xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_LIST, &back));
	CHECK_EQ(back.n_doms, 2);
	CHECK_STR(back.doms[1].name, "b--incoming");
	CHECK(back.doms[1].state == XLMIG_DOM_SUSPENDED && back.doms[1].vcpus == 2);
	xlmig_simp_reply_free(&back);
	/* A reply is only taken for the request it answers. */
	CHECK_EQ(xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_COUNTER, &back), XLMIG_E_FORMAT);

	xlmig_buf_reset(&b);
	p = (struct xlmig_simp_reply){ .type = XLMIG_SIMP_ATTACH, .mem_bytes = 1u << 30, .vcpus = 4,
				       .state_len = 4096 };
	sample_workload(&p.wl);
	CHECK_OK(xlmig_simp_write_reply(&b, &p));
	CHECK_OK(xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_ATTACH, &back));
	CHECK(back.mem_bytes == 1u << 30 && back.vcpus == 4 && back.state_len == 4096);
	CHECK(back.wl.pattern == XLMIG_SIM_HOTSET && back.wl.seed == 42);

	/* A failure carries its code and message. */
	xlmig_buf_reset(&b);
	p = (struct xlmig_simp_reply){ .type = XLMIG_SIMP_DESTROY, .status = XLMIG_E_NOTFOUND };
	strcpy(p.text, "no sim domain with id 9");
	CHECK_OK(xlmig_simp_write_reply(&b, &p));
	CHECK_OK(xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_DESTROY, &back));
	CHECK_EQ(back.status, XLMIG_E_NOTFOUND);
	CHECK_STR(back.text, "no sim domain with id 9");
	xlmig_buf_free(&b);
}

/* A COUNTER request for domain 1, to be broken in each test below. */
static void counter_frame(struct xlmig_buf *b)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_COUNTER, .domid = 1 };

	xlmig_buf_reset(b);
	if (xlmig_simp_write_req(b, &q) != XLMIG_OK)
		abort();
}

TEST(sim_proto_refuses_malformed_frames)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_simp_req q;
	struct xlmig_simp_reply p;

	counter_frame(&b);
	b.data[0] = 'Y';
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "magic") != NULL);

	counter_frame(&b);
	b.data[4] = 2;
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "same release") != NULL);

	counter_frame(&b);   /* the header says more than there is */
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len - 1, &q), XLMIG_E_FORMAT);
	counter_frame(&b);   /* a byte left over */
	xlmig_put_le32(b.data + 8, 5);
	xlmig_buf_append(&b, "", 1);
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "left after") != NULL);
	counter_frame(&b);   /* a field cut short */
	xlmig_put_le32(b.data + 8, 3);
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len - 1, &q), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "inside a field") != NULL);
	counter_frame(&b);   /* over the body limit: refused from the header */
	xlmig_put_le32(b.data + 8, XLMIG_SIMP_MAX_BODY + 1);
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_LIMIT);
	counter_frame(&b);
	xlmig_put_le16(b.data + 6, 99);
	CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_UNSUPPORTED);

	/* A name longer than a name may be. */
	xlmig_buf_reset(&b);
	{
		struct xlmig_simp_req r = { .type = XLMIG_SIMP_RENAME, .domid = 1 };
		char longname[200];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		CHECK_OK(xlmig_simp_write_req(&b, &r));
		/* Rebuild the body by hand with the long string. */
		b.len = XLMIG_SIMP_HDR_LEN + 4;
		uint8_t l[2];
		xlmig_put_le16(l, (uint16_t)strlen(longname));
		xlmig_buf_append(&b, l, 2);
		xlmig_buf_append(&b, longname, strlen(longname));
		xlmig_put_le32(b.data + 8, (uint32_t)(b.len - XLMIG_SIMP_HDR_LEN));
		CHECK_EQ(xlmig_simp_parse_req(b.data, b.len, &q), XLMIG_E_FORMAT);
		CHECK(strstr(xlmig_errmsg(), "longer than its field") != NULL);
	}

	/* A LIST reply claiming more domains than its body holds. */
	xlmig_buf_reset(&b);
	{
		struct xlmig_simp_reply r = { .type = XLMIG_SIMP_LIST };

		CHECK_OK(xlmig_simp_write_reply(&b, &r));
		xlmig_put_le32(b.data + XLMIG_SIMP_HDR_LEN + 4, 1000);
		CHECK_EQ(xlmig_simp_parse_reply(b.data, b.len, XLMIG_SIMP_LIST, &p), XLMIG_E_FORMAT);
		CHECK(strstr(xlmig_errmsg(), "does not fit") != NULL);
	}
	xlmig_buf_free(&b);
}

TEST(sim_proto_frames_carry_descriptors)
{
	struct xlmig_simp_req q = { .type = XLMIG_SIMP_ATTACH, .domid = 2 }, back;
	struct xlmig_buf out = { 0 }, in = { 0 };
	int sv[2], fds[XLMIG_SIMP_MAX_FDS], pass[2];
	size_t nfds;
	char c = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pipe(pass) == 0);
	CHECK_OK(xlmig_simp_write_req(&out, &q));
	CHECK_OK(xlmig_simp_send(sv[0], &out, pass, 2));
	CHECK_OK(xlmig_simp_recv(sv[1], &in, fds, &nfds));
	CHECK_EQ(nfds, 2);
	CHECK_OK(xlmig_simp_parse_req(in.data, in.len, &back));
	CHECK_EQ(back.domid, 2);
	/* The received descriptors are the pipe's ends. */
	CHECK(write(fds[1], "z", 1) == 1 && read(pass[0], &c, 1) == 1 && c == 'z');
	for (int i = 0; i < 2; i++) {
		close(fds[i]);
		close(pass[i]);
	}
	/* The peer closing between frames is CLOSED, inside one TRUNCATED. */
	CHECK(write(sv[0], out.data, 5) == 5);
	close(sv[0]);
	CHECK_EQ(xlmig_simp_recv(sv[1], &in, fds, &nfds), XLMIG_E_TRUNCATED);
	CHECK_EQ(xlmig_simp_recv(sv[1], &in, fds, &nfds), XLMIG_E_CLOSED);
	close(sv[1]);
	xlmig_buf_free(&out);
	xlmig_buf_free(&in);
}
