/*
 * fuzz_preflight.c - libFuzzer harness for preflight's parsers.
 *
 * First input byte even: the rest is an X86_CPUID_POLICY record body (as
 * a stream or Xen hands it over), read into a featureset, which is then
 * checked against a destination.  First byte odd: the rest is the
 * preflight facts as JSON (the "guest" member of a source's PREFLIGHT
 * message, or `xlmig preflight --check FILE`), read with every check,
 * then run through all of preflight's checks against a fixed host.
 * Facts that read must survive the round trip: written back and read
 * again they are the same facts.  Nothing may crash, leak or read out of
 * bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a CPUID policy of the leaves
 * preflight reads, the facts of an HVM guest with disks and bridges, the
 * facts of a sim guest) into DIR and exits.
 */
#include "harness.h"
#include "preflight.h"

#define LEAF_LEN 24

/* Deterministic stand-ins for the host's disks and bridges: the fuzzer
 * must not look at this machine's filesystem. */
static bool fake_exists(const char *s) { return strlen(s) % 2 == 0; }

static const struct xlmig_preflight_host host = {
	.free_bytes = 8ull << 30, .xen_major = 4, .xen_minor = 17, .have_cpu = true,
	.pv_max = { 0xffffffffu, 0x7ffefbffu, 0xffd3fbffu, 0x0000f5ffu },
	.hvm_max = { 0xffffffffu, 0xfffefbffu, 0xffd3fbffu, 0x0001f5ffu, 0xf, 0xffffffffu },
};

static bool same_items(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool same_guest(const struct xlmig_preflight_guest *a, const struct xlmig_preflight_guest *b)
{
	return !strcmp(a->name, b->name) && a->need_bytes == b->need_bytes &&
	       a->xen_major == b->xen_major && a->xen_minor == b->xen_minor &&
	       a->have_cpu == b->have_cpu && a->hvm == b->hvm &&
	       !memcmp(a->cpu_fs, b->cpu_fs, sizeof(a->cpu_fs)) &&
	       same_items(a->disks, a->n_disks, b->disks, b->n_disks) &&
	       same_items(a->bridges, a->n_bridges, b->bridges, b->n_bridges);
}

static void check_round_trip(const struct xlmig_preflight_guest *g)
{
	struct xlmig_preflight_guest again;
	struct xlmig_json *root = NULL;
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };

	xlmig_json_writer_init(&w, &b);
	xlmig_preflight_guest_write(g, &w);
	if (xlmig_json_finish(&w) != XLMIG_OK ||
	    xlmig_json_parse((const char *)b.data, b.len, &root) != XLMIG_OK ||
	    xlmig_preflight_guest_read(root, &again) != XLMIG_OK || !same_guest(g, &again))
		abort();
	xlmig_preflight_guest_free(&again);
	xlmig_json_free(root);
	xlmig_buf_free(&b);
}

static void facts(const uint8_t *data, size_t size)
{
	struct xlmig_preflight_guest g;
	struct xlmig_json *root = NULL;

	if (xlmig_json_parse((const char *)data, size, &root) != XLMIG_OK)
		return;
	if (xlmig_preflight_guest_read(root, &g) == XLMIG_OK) {
		check_round_trip(&g);
		xlmig_preflight_check(&g, &host, fake_exists, fake_exists);
		xlmig_preflight_guest_free(&g);
	}
	xlmig_json_free(root);
}

static void cpuid_policy(const uint8_t *data, size_t size)
{
	uint32_t fs[XLMIG_FEATURESET_WORDS];

	if (size > UINT32_MAX)
		return;
	if (xlmig_featureset_from_cpuid_policy(data, (uint32_t)size, fs) != XLMIG_OK) {
		if (size % LEAF_LEN == 0)
			abort();   /* whole leaves are always readable */
		return;
	}
	/* MSR-derived words never come from CPUID leaves. */
	if (fs[16] || fs[17])
		abort();
	xlmig_preflight_cpu("fuzz", fs, host.hvm_max);
}

static void put_leaf(struct xlmig_buf *b, uint32_t leaf, uint32_t sub, uint32_t eax,
		     uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	uint8_t *p = xlmig_buf_extend(b, LEAF_LEN);

	if (!p)
		abort();
	xlmig_put_le32(p, leaf);
	xlmig_put_le32(p + 4, sub);
	xlmig_put_le32(p + 8, eax);
	xlmig_put_le32(p + 12, ebx);
	xlmig_put_le32(p + 16, ecx);
	xlmig_put_le32(p + 20, edx);
}

static void facts_seed(const char *dir, const char *name, const struct xlmig_preflight_guest *g)
{
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };

	xlmig_json_writer_init(&w, &b);
	xlmig_preflight_guest_write(g, &w);
	if (xlmig_json_finish(&w) != XLMIG_OK)
		abort();
	fuzz_put_seed(dir, name, 1, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	struct xlmig_preflight_guest g = { .name = "web-1", .need_bytes = 2148532224ull,
					   .xen_major = 4, .xen_minor = 16, .have_cpu = true,
					   .hvm = true,
					   .cpu_fs = { 0x178bfbff, 0xf6d83203, 0x2fd3fbff, 0x75c237ff,
						       0xf, 0x219c95a9, 0x0040068c, 0x00000100 } };
	struct xlmig_preflight_guest sim = { .name = "sim-guest", .need_bytes = 134217728 };
	struct xlmig_buf b = { 0 };

	put_leaf(&b, 0x0, 0xffffffffu, 0xd, 0x68747541, 0x444d4163, 0x69746e65);
	put_leaf(&b, 0x1, 0xffffffffu, 0x00a50f00, 0x00040800, 0xf6d83203, 0x178bfbff);
	put_leaf(&b, 0x7, 0, 0, 0x219c95a9, 0x0040068c, 0x00000010);
	put_leaf(&b, 0x7, 1, 0x00000030, 0, 0, 0);
	put_leaf(&b, 0xd, 1, 0xf, 0, 0, 0);
	put_leaf(&b, 0x80000001, 0xffffffffu, 0x00a50f00, 0, 0x75c237ff, 0x2fd3fbff);
	put_leaf(&b, 0x80000008, 0xffffffffu, 0x3030, 0x1000d205, 0, 0);
	put_leaf(&b, 0x80000021, 0xffffffffu, 0x45, 0, 0, 0);
	fuzz_put_seed(dir, "cpuid-policy", 0, b.data, b.len);
	xlmig_buf_free(&b);
	if (xlmig_preflight_add_disk(&g, "/dev/vg0/web-1") || xlmig_preflight_add_disk(&g, "/srv/img/web-1-data.qcow2") ||
	    xlmig_preflight_add_bridge(&g, "xenbr0") || xlmig_preflight_add_bridge(&g, "br-dmz"))
		abort();
	facts_seed(dir, "facts-hvm", &g);
	facts_seed(dir, "facts-sim", &sim);
	xlmig_preflight_guest_free(&g);
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
	if (data[0] & 1)
		facts(data + 1, size - 1);
	else
		cpuid_policy(data + 1, size - 1);
	return 0;
}
