/*
 * fuzz_sim_restore.c - libFuzzer harness for the sim backend's restore:
 * the input is a migration stream as a peer (or a file) delivers it,
 * handed whole to xlmig_sim_restore_mem(): no peer thread, socket or
 * read buffer per input (xlmig_sim_restore() reads an fd into the same
 * parser and engine; its 1 MiB read buffer cost each input an mmap under
 * ASan).
 *
 * This covers what the sim engine checks on top of the stream parser: the
 * JSON domain config (type, name, memory, vCPUs, the xlmig_sim workload
 * section), record order (policies before STATIC_DATA_END, pages after
 * it, END after the vCPU state), PAGE_DATA pfns against the guest's size,
 * HVM_PARAMS, TSC info, VERIFY, and the vCPU blob in HVM_CONTEXT against
 * the config and the counter in memory.  A stream that restores must
 * give a paused guest whose vCPU counter is the one in its memory.
 * Nothing may crash, hang, leak or touch memory outside the guest.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes real sim streams (saved by the sim
 * engine, zero pages squeezed out: see sim_stream.h) into DIR and exits.
 */
#include "harness.h"
#include "sim_stream.h"

static void write_seeds(const char *dir)
{
	static const struct {
		const char *name;
		struct fuzz_sim_seed seed;
	} seeds[] = {
		{ "uniform-1vcpu", { .vcpus = 1, .pattern = XLMIG_SIM_UNIFORM } },
		{ "hotset-4vcpu-verify", { .vcpus = 4, .pattern = XLMIG_SIM_HOTSET, .debug = true } },
	};
	struct xlmig_buf b = { 0 };

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(seeds); i++) {
		xlmig_buf_reset(&b);
		if (fuzz_sim_stream(&seeds[i].seed, &b) != XLMIG_OK) {
			fprintf(stderr, "seed %s: %s\n", seeds[i].name, xlmig_errmsg());
			abort();
		}
		fuzz_put_seed(dir, seeds[i].name, -1, b.data, b.len);
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
	struct xlmig_sim_guest *g = NULL;
	char name[XLMIG_NAME_MAX];
	int rc;

	rc = xlmig_sim_restore_mem(data, size, &g, name);
	if ((rc == XLMIG_OK) != (g != NULL))
		abort();
	if (rc)
		return 0;
	if (!name[0] || !memchr(name, 0, sizeof(name)) || !xlmig_sim_guest_paused(g) ||
	    xlmig_sim_guest_counter(g) != xlmig_sim_guest_mem_counter(g))
		abort();
	xlmig_sim_guest_free(g);
	return 0;
}
