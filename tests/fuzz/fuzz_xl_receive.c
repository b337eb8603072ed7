/*
 * fuzz_xl_receive.c - libFuzzer harness for xl compatibility's readers of
 * what a sender delivers: xl's save header and the JSON domain config it
 * carries, and the whole `xlmig migrate-receive` path.
 *
 * First input byte even: the rest is the start of a stream.  The header
 * is parsed from memory (xlmig_xlhdr_parse) and read from an fd
 * (xlmig_xlhdr_read, from a memory file: no thread or socket), which must
 * agree; a header that reads gives its
 * config to the name and domain id readers.  First byte odd: the rest is
 * everything an xl sender sends to xlmig migrate-receive (bit 1: with
 * -p): the stream, then GO (held back until READY, as a sender
 * does, when the stream is whole); it is received into a sim host by
 * xlmig_xl_receive(), through xl's protocol, the header, the
 * stream pump and the sim restore.  A failed receive leaves no domain
 * behind; a successful one leaves exactly the named domain, running
 * unless -p.  Nothing may crash, hang or leak.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a real sim stream's header, a
 * header with an xl -D domid, the same stream followed by GO for the
 * receiver) into DIR and exits.
 */
#include "harness.h"
#include "sim_stream.h"
#include "xl_config.h"
#include "xl_receive.h"

#define F_RECEIVE 0x01
#define F_PAUSED  0x02

static struct xlmig_hv *hv;

static void header(const uint8_t *data, size_t size)
{
	struct xlmig_xlhdr mem, sock;
	char name[XLMIG_NAME_MAX];
	uint32_t domid;
	size_t used = 0;
	int rc_mem, rc_sock;

	rc_mem = xlmig_xlhdr_parse(data, size, &mem, &used);
	rc_sock = xlmig_xlhdr_read(fuzz_input_fd(data, size), &sock);
	if (rc_mem == XLMIG_OK && (used > size || rc_sock != XLMIG_OK ||
				   sock.raw.len != used || memcmp(sock.raw.data, data, used) ||
				   sock.config_len != mem.config_len))
		abort();   /* what parses in memory reads from a socket alike */
	if (rc_mem == XLMIG_OK && mem.config_len) {
		if (mem.config + mem.config_len > mem.raw.data + mem.raw.len)
			abort();
		if (xlmig_xl_config_name(mem.config, mem.config_len, name) == XLMIG_OK &&
		    (!name[0] || strlen(name) + sizeof(XLMIG_MIGRATED_SUFFIX) > XLMIG_NAME_MAX))
			abort();
		if (xlmig_xl_config_domid(mem.config, mem.config_len, &domid) == XLMIG_OK &&
		    domid >= 0x7ff0)
			abort();
	}
	xlmig_xlhdr_free(&mem);
	xlmig_xlhdr_free(&sock);
}

static int no_item(void *opaque, const struct xlmig_item *it) { return XLMIG_OK; }

/* Whether data is one whole stream, ending at its final END. */
static bool whole_stream(const uint8_t *data, size_t size)
{
	struct xlmig_parser *p = xlmig_parser_new(no_item, NULL);
	bool whole;

	if (!p)
		abort();
	whole = xlmig_parser_feed(p, data, size) == XLMIG_OK && xlmig_parser_done(p);
	xlmig_parser_free(p);
	return whole;
}

static void receive(uint8_t flags, const uint8_t *data, size_t size)
{
	struct xlmig_xl_receive_opts o = { .pause_after = flags & F_PAUSED };
	struct xlmig_xlrecv_result res;
	struct xlmig_domain_info *doms = NULL;
	struct fuzz_peer peer;
	size_t n = 0, go_at = size - XLMIG_MIN(size, XLMIG_XLPROTO_GO_LEN);
	int rc;

	/* As xl's sender: a whole stream, then the last bytes (GO) once
	 * READY has come.  Any other input is sent at once: a sender that
	 * stalled mid-stream would hang the receiver, as it hangs xl's. */
	fuzz_peer_start_held(&peer, data, size, whole_stream(data, go_at) ? size - go_at : 0,
			     XLMIG_XLPROTO_BANNER_LEN + XLMIG_XLPROTO_READY_LEN);
	rc = xlmig_xl_receive(hv, peer.fd, peer.fd, &o, &res);
	fuzz_peer_finish(&peer);
	if (hv->ops->list(hv, &doms, &n) != XLMIG_OK)
		abort();
	if (rc != XLMIG_OK && n != 0)
		abort();   /* a failed receive leaves nothing behind */
	if (rc == XLMIG_OK &&
	    (n != 1 || strstr(doms[0].name, XLMIG_INCOMING_SUFFIX) || !res.domain_running ||
	     (doms[0].state == XLMIG_DOM_RUNNING) == o.pause_after))
		abort();   /* a received guest has its name and runs unless -p */
	for (size_t i = 0; i < n; i++)
		hv->ops->destroy(hv, doms[i].domid);
	free(doms);
}

/* A header whose config asks for a domain id, as xl -D sends it. */
static void domid_seed(const char *dir)
{
	static const char config[] = "{\"c_info\":{\"type\":\"hvm\",\"name\":\"web-1\",\"domid\":42},"
				     "\"b_info\":{\"max_vcpus\":2,\"max_memkb\":1048576}}";
	struct xlmig_buf b = { 0 };
	struct xlmig_sink sink = { xlmig_sink_buf_write, &b };

	if (xlmig_write_xl_header(&sink, XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2, 0,
				  config, sizeof(config)) != XLMIG_OK)
		abort();
	fuzz_put_seed(dir, "header-domid", 0, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	const struct fuzz_sim_seed seed = { .vcpus = 2, .pattern = XLMIG_SIM_SEQUENTIAL };
	struct xlmig_buf b = { 0 };
	size_t used;
	struct xlmig_xlhdr h;

	if (fuzz_sim_stream(&seed, &b) != XLMIG_OK ||
	    xlmig_xlhdr_parse(b.data, b.len, &h, &used) != XLMIG_OK) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	fuzz_put_seed(dir, "header-sim", 0, b.data, used);
	xlmig_xlhdr_free(&h);
	if (xlmig_buf_append(&b, XLMIG_XLPROTO_GO, XLMIG_XLPROTO_GO_LEN) != XLMIG_OK)
		abort();
	fuzz_put_seed(dir, "receive-sim", F_RECEIVE, b.data, b.len);
	fuzz_put_seed(dir, "receive-sim-paused", F_RECEIVE | F_PAUSED, b.data, b.len);
	xlmig_buf_free(&b);
	domid_seed(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	if (xlmig_hv_sim_open(&hv) != XLMIG_OK)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & F_RECEIVE)
		receive(data[0], data + 1, size - 1);
	else
		header(data + 1, size - 1);
	return 0;
}
