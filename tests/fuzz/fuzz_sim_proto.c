/*
 * fuzz_sim_proto.c - libFuzzer harness for the sim host protocol
 * (sim_proto.h): the input is what one end of a sim host connection
 * sends, xlmigd's requests to xlmig-simhost or its replies back.
 *
 * The first byte picks how the rest is read: 0 as requests (as the sim
 * host reads them), 1..17 as replies to that request type (as xlmigd's
 * sim backend reads them).  The bytes arrive queued in a socketpair (it
 * receives with recvmsg; no peer thread per input) and are
 * cut into frames by xlmig_simp_recv(); each frame is parsed, and one
 * that parses must be written back byte for byte the same: the parser
 * accepts nothing the writer would not produce.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (every request type, and the
 * replies with a result) into DIR and exits.
 */
#include "harness.h"
#include "sim_proto.h"

static void check_request(const struct xlmig_buf *frame)
{
	struct xlmig_simp_req q;
	struct xlmig_buf again = { 0 };

	if (xlmig_simp_parse_req(frame->data, frame->len, &q) != XLMIG_OK)
		return;
	if (xlmig_simp_write_req(&again, &q) != XLMIG_OK || again.len != frame->len ||
	    memcmp(again.data, frame->data, frame->len) != 0)
		abort();
	xlmig_buf_free(&again);
}

static void check_reply(const struct xlmig_buf *frame, uint16_t type)
{
	struct xlmig_simp_reply p;
	struct xlmig_buf again = { 0 };

	if (xlmig_simp_parse_reply(frame->data, frame->len, type, &p) != XLMIG_OK)
		return;
	if (xlmig_simp_write_reply(&again, &p) != XLMIG_OK || again.len != frame->len ||
	    memcmp(again.data, frame->data, frame->len) != 0)
		abort();
	xlmig_simp_reply_free(&p);
	xlmig_buf_free(&again);
}

static void write_seeds(const char *dir)
{
	struct xlmig_buf b = { 0 };
	char name[64];

	for (uint16_t t = XLMIG_SIMP_LIST; t <= XLMIG_SIMP_TYPE_MAX; t++) {
		struct xlmig_simp_req q = { .type = t, .domid = t, .mem_bytes = 64u << 20, .vcpus = 1,
					    .pct = 30, .first = 1, .count = 8, .blob_len = 56 };
		struct xlmig_simp_reply p = { .type = t, .domid = 3, .value = 12345, .mem_bytes = 64u << 20,
					      .vcpus = 1, .state_len = 2112 };
		struct xlmig_domain_info d = { .domid = 1, .name = "vm", .mem_bytes = 64u << 20,
					       .vcpus = 1, .state = XLMIG_DOM_PAUSED };

		strcpy(q.name, "vm");
		xlmig_sim_workload_default(&q.wl);
		p.wl = q.wl;
		strcpy(p.name, "vm");
		p.doms = &d;
		p.n_doms = 1;
		xlmig_buf_reset(&b);
		if (xlmig_simp_write_req(&b, &q) != XLMIG_OK)
			abort();
		snprintf(name, sizeof(name), "req-%u", t);
		fuzz_put_seed(dir, name, 0, b.data, b.len);
		xlmig_buf_reset(&b);
		if (xlmig_simp_write_reply(&b, &p) != XLMIG_OK)
			abort();
		snprintf(name, sizeof(name), "reply-%u", t);
		fuzz_put_seed(dir, name, t, b.data, b.len);
	}
	xlmig_buf_reset(&b);
	{
		struct xlmig_simp_reply p = { .type = XLMIG_SIMP_DESTROY, .status = XLMIG_E_NOTFOUND };

		strcpy(p.text, "no sim domain with id 9");
		if (xlmig_simp_write_reply(&b, &p) != XLMIG_OK)
			abort();
		fuzz_put_seed(dir, "reply-error", XLMIG_SIMP_DESTROY, b.data, b.len);
	}
	xlmig_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_buf frame = { 0 };
	int sock, fds[XLMIG_SIMP_MAX_FDS];
	size_t nfds;
	uint16_t mode;

	if (size < 1)
		return 0;
	mode = data[0] % (XLMIG_SIMP_TYPE_MAX + 1);
	sock = fuzz_input_sock(data + 1, size - 1);
	while (xlmig_simp_recv(sock, &frame, fds, &nfds) == XLMIG_OK) {
		if (nfds)
			abort();   /* nobody sent any */
		if (mode == 0)
			check_request(&frame);
		else
			check_reply(&frame, mode);
	}
	close(sock);
	xlmig_buf_free(&frame);
	return 0;
}
