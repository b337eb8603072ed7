/*
 * fuzz_offload.c - libFuzzer harness for the offload state record
 * (offload.h) as a destination receives it in a side record.
 *
 * Input: the record's bytes.  A record that decodes must encode again
 * and decode to the same state (nothing read is lost or invented), and
 * every string in it must fit its field.  Nothing may crash, leak or
 * read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a record of two interfaces (one with
 * xenstore keys) and a record of none into DIR.
 */
#include "harness.h"
#include "offload.h"

static void write_seeds(const char *dir)
{
	static struct xlmig_offload_state st;
	struct xlmig_buf b = { 0 };
	struct xlmig_offload_if *i;

	st.n = 2;
	i = &st.ifs[0];
	snprintf(i->name, sizeof(i->name), "vif7.0");
	snprintf(i->uplink, sizeof(i->uplink), "xenbr0");
	memcpy(i->mac, "\x00\x16\x3e\x12\x34\x56", 6);
	i->mtu = 1500;
	i->combined_queues = 2;
	i->n_features = 3;
	snprintf(i->f[0].name, sizeof(i->f[0].name), "tx-tcp-segmentation");
	snprintf(i->f[1].name, sizeof(i->f[1].name), "rx-gro");
	i->f[1].on = true;
	snprintf(i->f[2].name, sizeof(i->f[2].name), "rx-lro");
	i->f[2].fixed = true;
	i->n_xs = 2;
	snprintf(i->xs[0].key, sizeof(i->xs[0].key), "backend/feature-sg");
	snprintf(i->xs[0].value, sizeof(i->xs[0].value), "1");
	snprintf(i->xs[1].key, sizeof(i->xs[1].key), "frontend/multi-queue-num-queues");
	snprintf(i->xs[1].value, sizeof(i->xs[1].value), "2");
	i = &st.ifs[1];
	snprintf(i->name, sizeof(i->name), "vs3.1");
	memcpy(i->mac, "\x02\x00\x00\x00\x00\x01", 6);
	i->mtu = 9000;
	if (xlmig_offload_encode(&st, &b))
		abort();
	fuzz_put_seed(dir, "two-interfaces", -1, b.data, b.len);
	xlmig_buf_reset(&b);
	st.n = 0;
	if (xlmig_offload_encode(&st, &b))
		abort();
	fuzz_put_seed(dir, "none", -1, b.data, b.len);
	xlmig_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xlmig_offload_state st, again;
	struct xlmig_buf b = { 0 };

	if (xlmig_offload_decode(data, size, &st) != XLMIG_OK)
		return 0;
	if (xlmig_offload_encode(&st, &b) || xlmig_offload_decode(b.data, b.len, &again))
		abort();   /* what was read cannot be written back */
	if (again.n != st.n)
		abort();
	for (size_t i = 0; i < st.n; i++) {
		const struct xlmig_offload_if *x = &st.ifs[i], *y = &again.ifs[i];
		if (strcmp(x->name, y->name) || strcmp(x->uplink, y->uplink) || memcmp(x->mac, y->mac, 6) ||
		    x->mtu != y->mtu || x->n_features != y->n_features || x->n_xs != y->n_xs)
			abort();
		for (size_t k = 0; k < x->n_features; k++)
			if (strcmp(x->f[k].name, y->f[k].name) || x->f[k].on != y->f[k].on)
				abort();
	}
	xlmig_buf_free(&b);
	return 0;
}
