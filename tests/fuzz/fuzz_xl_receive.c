/*
 * fuzz_xl_receive.c - libFuzzer harness for the whole
 * `xlmig migrate-receive` path, end to end: the input is everything an
 * xl sender sends to it (the first byte's bit 0: with -p), received into
 * a sim host by xlmig_xl_receive() through xl's protocol, the header,
 * the stream pump and the sim restore.  A peer thread plays the sender
 * over a socketpair: the stream, then GO, held back until READY as a
 * sender does when the stream is whole.  A failed receive leaves no
 * domain behind; a successful one leaves exactly the named domain,
 * running unless -p.  Nothing may crash, hang or leak.
 *
 * End to end on purpose, so slow: each input pays for a peer thread, a
 * socketpair and a sim restore.  xl's save header and its config alone
 * are fuzz_xl_header's, from memory.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a real sim stream followed by
 * GO, with and without -p) into DIR and exits.
 */
#include "harness.h"
#include "sim_stream.h"
#include "xl_receive.h"

#define F_PAUSED 0x01

static struct xlmig_hv *hv;

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

static void write_seeds(const char *dir)
{
	const struct fuzz_sim_seed seed = { .vcpus = 2, .pattern = XLMIG_SIM_SEQUENTIAL };
	struct xlmig_buf b = { 0 };

	if (fuzz_sim_stream(&seed, &b) != XLMIG_OK ||
	    xlmig_buf_append(&b, XLMIG_XLPROTO_GO, XLMIG_XLPROTO_GO_LEN) != XLMIG_OK) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	fuzz_put_seed(dir, "receive-sim", 0, b.data, b.len);
	fuzz_put_seed(dir, "receive-sim-paused", F_PAUSED, b.data, b.len);
	xlmig_buf_free(&b);
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
	receive(data[0], data + 1, size - 1);
	return 0;
}
