/*
 * fuzz_handshake.c - libFuzzer harness for the handshake messages.
 *
 * First input byte even: the rest is what a would-be source sends to a
 * destination: its first message (HELLO or JOIN) and what follows, read
 * by the destination's side of the handshake (with a key, and a session
 * for JOINs to aim at).  First byte odd: the rest is what a would-be
 * destination answers, read by the source's side.  Every message may be
 * refused; nothing may crash, hang or leak, and nothing unauthenticated
 * may be accepted.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a real HELLO + AUTH, a JOIN, a
 * real WELCOME + READY, recorded from the handshake code) into DIR.
 */
#include <stdlib.h>

#include "handshake.h"
#include "harness.h"

static const struct xlmig_key key = { .len = 16, .bytes = "fuzzing-key-0123" };

/* The session a fuzzed JOIN aims at. */
static void target_session(struct xlmig_handshake_session *s)
{
	memset(s, 0, sizeof(*s));
	s->version = XLMIG_PROTO_MIN;
	s->channels = 4;
	s->authenticated = true;
	memset(s->id, 0x11, sizeof(s->id));
	memset(s->transcript, 0x22, sizeof(s->transcript));
}

/* A JOIN recorded for the fixed target session is a valid JOIN (in real
 * sessions the transcript is fresh), so only a completed session
 * handshake counts as an accepted forgery: *forged. */
static int as_destination(struct xlmig_chan *ch, bool *forged)
{
	struct xlmig_handshake_offer limits;
	struct xlmig_handshake_session s;
	struct xlmig_handshake_first first;
	int rc = xlmig_handshake_read_first(ch, 0, &first);

	xlmig_handshake_offer_default(&limits);
	if (rc == XLMIG_OK && first.is_join) {
		target_session(&s);
		rc = xlmig_handshake_join_server(ch, &key, &s, &first, 0);
	} else if (rc == XLMIG_OK) {
		rc = xlmig_handshake_server(ch, &key, &limits, &first, 0, &s);
		*forged = rc == XLMIG_OK;
	}
	return rc;
}

static int as_source(struct xlmig_chan *ch)
{
	struct xlmig_handshake_offer offer;
	struct xlmig_handshake_session s;

	xlmig_handshake_offer_default(&offer);
	return xlmig_handshake_client(ch, &key, &offer, 0, &s);
}

static void write_seeds(const char *dir)
{
	struct xlmig_buf hello = { 0 }, welcome = { 0 }, join = { 0 };
	struct xlmig_frame_hdr h = { .type = XLMIG_FRAME_AUTH, .len = XLMIG_MAC_LEN };
	struct xlmig_handshake_session s;
	struct xlmig_chan *ch;
	bool forged;

	ch = fuzz_mem_chan(NULL, 0, &hello);
	as_source(ch);                              /* records the HELLO frame */
	xlmig_chan_free(ch);
	xlmig_wire_hdr_encode(xlmig_buf_extend(&hello, XLMIG_WIRE_HDR_LEN), &h);
	memset(xlmig_buf_extend(&hello, XLMIG_MAC_LEN), 0, XLMIG_MAC_LEN);
	fuzz_put_seed(dir, "hello-auth", 0, hello.data, hello.len);
	ch = fuzz_mem_chan(hello.data, hello.len, &welcome);
	as_destination(ch, &forged);                /* WELCOME, refusal */
	xlmig_chan_free(ch);
	fuzz_put_seed(dir, "welcome", 1, welcome.data, welcome.len);
	target_session(&s);
	ch = fuzz_mem_chan(NULL, 0, &join);
	xlmig_handshake_join_client(ch, &key, &s, 1, 0);
	xlmig_chan_free(ch);
	fuzz_put_seed(dir, "join", 0, join.data, join.len);
	xlmig_buf_free(&hello);
	xlmig_buf_free(&welcome);
	xlmig_buf_free(&join);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_handshake_offer o;
	struct xlmig_handshake_session s;
	struct xlmig_chan *ch;
	const uint8_t *nonce;
	bool auth, forged = false;

	if (size < 1)
		return 0;
	/* The message parsers on the raw bytes too. */
	xlmig_handshake_offer_default(&o);
	xlmig_handshake_parse_welcome(data + 1, size - 1, &o, true, &s);
	xlmig_handshake_parse_hello(data + 1, size - 1, &o, &auth, &nonce);
	/* One channel for every input: the handshake leaves no state in it. */
	ch = fuzz_mem_chan_again(data + 1, size - 1, NULL);
	if (data[0] & 1)
		forged = as_source(ch) == XLMIG_OK;
	else
		as_destination(ch, &forged);
	/* Without the key no input can complete a session handshake: the
	 * proofs cover fresh random nonces. */
	if (forged)
		abort();
	return 0;
}
