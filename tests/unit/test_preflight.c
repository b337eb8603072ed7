/*
 * test_preflight.c - destination checks, decided from recorded data.
 *
 * The CPU policy below was recorded from an AMD EPYC host (leaves as
 * {leaf, subleaf, eax, ebx, ecx, edx}), serialised as an X86_CPUID_POLICY
 * record body; the "older host" lacks AVX-512 (7:0.ebx bits 16, 17, 30,
 * 31, 21, 28) and VAES/VPCLMULQDQ (7:0.ecx bits 9, 10).
 */
#include "unit.h"
#include "common.h"
#include "preflight.h"

static const uint32_t epyc_leaves[][6] = {
	{ 0x1, 0, 0x00b00f21, 0x00020800, 0xfffa3203, 0x178bfbff },
	{ 0x7, 0, 0x00000001, 0xf1bf07ab, 0x00405fc6, 0x00000110 },
	{ 0x7, 1, 0x00000030, 0x00000000, 0x00000000, 0x00000000 },
	{ 0xd, 1, 0x0000000f, 0x000009a8, 0x00001800, 0x00000000 },
	{ 0x80000001, 0, 0x00b00f21, 0x40000000, 0x004003f3, 0x2fd3fbff },
	{ 0x80000008, 0, 0x00303030, 0x50020005, 0x00007001, 0x00000000 },
};

static uint32_t record(uint8_t *out, const uint32_t (*leaves)[6], size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 6; k++)
			xlmig_put_le32(out + i * 24 + k * 4, leaves[i][k]);
	return (uint32_t)(n * 24);
}

TEST(preflight_featureset_from_recorded_policy)
{
	uint8_t body[6 * 24];
	uint32_t fs[XLMIG_FEATURESET_WORDS];
	uint32_t len = record(body, epyc_leaves, 6);

	CHECK_OK(xlmig_featureset_from_cpuid_policy(body, len, fs));
	CHECK_EQ(fs[0], 0x178bfbff);   /* 1.edx */
	CHECK_EQ(fs[1], 0xfffa3203);   /* 1.ecx */
	CHECK_EQ(fs[2], 0x2fd3fbff);   /* e1.edx */
	CHECK_EQ(fs[4], 0x0000000f);   /* d:1.eax */
	CHECK_EQ(fs[5], 0xf1bf07ab);   /* 7:0.ebx */
	CHECK_EQ(fs[6], 0x00405fc6);   /* 7:0.ecx */
	CHECK_EQ(fs[10], 0x00000030);  /* 7:1.eax */
	CHECK_EQ(fs[8], 0x50020005);   /* e8.ebx */
	CHECK_EQ(fs[7], 0);            /* leaf absent */
	CHECK_EQ(xlmig_featureset_from_cpuid_policy(body, len - 1, fs), XLMIG_E_FORMAT);
}

TEST(preflight_cpu_same_host_passes_older_host_refused)
{
	uint8_t body[6 * 24];
	uint32_t guest[XLMIG_FEATURESET_WORDS], dst[XLMIG_FEATURESET_WORDS];

	CHECK_OK(xlmig_featureset_from_cpuid_policy(body, record(body, epyc_leaves, 6), guest));
	memcpy(dst, guest, sizeof(dst));
	CHECK_OK(xlmig_preflight_cpu("web1", guest, dst));
	dst[5] &= ~((1u << 16) | (1u << 17));   /* no avx512f, avx512dq */
	dst[6] &= ~(1u << 9);                   /* no vaes */
	CHECK_EQ(xlmig_preflight_cpu("web1", guest, dst), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "web1 uses 3 CPU feature") != NULL);
	CHECK(strstr(xlmig_errmsg(), "avx512f") != NULL);
	CHECK(strstr(xlmig_errmsg(), "vaes") != NULL);
	CHECK(strstr(xlmig_errmsg(), "cpuid = \"host,avx512f=0,avx512dq=0,vaes=0\"") != NULL);
	/* features only the destination has are fine */
	guest[5] &= ~((1u << 16) | (1u << 17));
	guest[6] &= ~(1u << 9);
	dst[0] |= 0xffffffffu;
	CHECK_OK(xlmig_preflight_cpu("web1", guest, dst));
}

TEST(preflight_feature_names)
{
	CHECK_STR(xlmig_cpu_feature_name(5, 16), "avx512f");
	CHECK_STR(xlmig_cpu_feature_name(1, 20), "sse4_2");
	CHECK_STR(xlmig_cpu_feature_name(0, 0), "fpu");
}

TEST(preflight_memory_and_version)
{
	CHECK_OK(xlmig_preflight_memory("g", 1024ull << 20, 1024ull << 20));
	CHECK_EQ(xlmig_preflight_memory("g", 2048ull << 20, 1024ull << 20), XLMIG_E_NOSPC);
	CHECK(strstr(xlmig_errmsg(), "needs 2048 MiB") != NULL);
	CHECK_OK(xlmig_preflight_xen_version(4, 17, 4, 17));
	CHECK_OK(xlmig_preflight_xen_version(4, 16, 4, 17));
	CHECK_OK(xlmig_preflight_xen_version(4, 17, 5, 0));
	CHECK_EQ(xlmig_preflight_xen_version(4, 17, 4, 16), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(xlmig_preflight_xen_version(5, 0, 4, 19), XLMIG_E_UNSUPPORTED);
}

static bool only_shared(const char *p)
{
	return !strncmp(p, "/shared/", 8) || !strcmp(p, "xenbr0");
}

TEST(preflight_disks_and_bridges)
{
	const char *disks[] = { "/shared/web1.img", "/var/lib/xen/local.img" };
	const char *brs[] = { "xenbr0", "xenbr1" };

	CHECK_OK(xlmig_preflight_disks("web1", disks, 1, only_shared));
	CHECK_EQ(xlmig_preflight_disks("web1", disks, 2, only_shared), XLMIG_E_NOTFOUND);
	CHECK(strstr(xlmig_errmsg(), "/var/lib/xen/local.img") != NULL);
	CHECK_OK(xlmig_preflight_bridges("web1", brs, 1, only_shared));
	CHECK_EQ(xlmig_preflight_bridges("web1", brs, 2, only_shared), XLMIG_E_NOTFOUND);
	CHECK(strstr(xlmig_errmsg(), "xenbr1") != NULL);
	/* the real filesystem check */
	CHECK_OK(xlmig_preflight_disks("web1", (const char *[]){ "/dev/null" }, 1, NULL));
	CHECK_EQ(xlmig_preflight_bridges("web1", (const char *[]){ "xlmig-no-such-br" }, 1, NULL),
		 XLMIG_E_NOTFOUND);
}

#include "sim_hv.h"
#include "json.h"

#include <stdlib.h>

static struct xlmig_json *facts_json(const struct xlmig_preflight_guest *g, struct xlmig_buf *b)
{
	struct xlmig_json_writer w;
	struct xlmig_json *root = NULL;

	xlmig_json_writer_init(&w, b);
	xlmig_preflight_guest_write(g, &w);
	if (xlmig_json_finish(&w) || xlmig_json_parse((const char *)b->data, b->len, &root))
		return NULL;
	return root;
}

static void epyc_guest(struct xlmig_preflight_guest *g)
{
	uint8_t body[6 * 24];

	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "web1");
	g->need_bytes = 1040ull << 20;
	g->xen_major = 4;
	g->xen_minor = 17;
	g->hvm = true;
	g->have_cpu = !xlmig_featureset_from_cpuid_policy(body, record(body, epyc_leaves, 6), g->cpu_fs);
	xlmig_preflight_add_disk(g, "/shared/web1.img");
	xlmig_preflight_add_bridge(g, "xenbr0");
}

TEST(preflight_facts_survive_json_both_ways)
{
	struct xlmig_preflight_guest g, back;
	struct xlmig_buf b = { 0 };
	struct xlmig_json *root;

	epyc_guest(&g);
	CHECK(g.have_cpu);
	root = facts_json(&g, &b);
	CHECK(root != NULL);
	CHECK_OK(xlmig_preflight_guest_read(root, &back));
	CHECK_STR(back.name, "web1");
	CHECK_EQ(back.need_bytes, 1040ull << 20);
	CHECK(back.xen_major == 4 && back.xen_minor == 17 && back.hvm && back.have_cpu);
	CHECK(memcmp(back.cpu_fs, g.cpu_fs, sizeof(g.cpu_fs)) == 0);
	CHECK_EQ(back.n_disks, 1);
	CHECK_STR(back.disks[0], "/shared/web1.img");
	CHECK_EQ(back.n_bridges, 1);
	CHECK_STR(back.bridges[0], "xenbr0");
	xlmig_preflight_guest_free(&back);
	xlmig_json_free(root);
	/* a sim guest: no CPU words at all, which is not the same as zeros */
	g.have_cpu = false;
	xlmig_buf_reset(&b);
	root = facts_json(&g, &b);
	CHECK(root != NULL);
	CHECK_OK(xlmig_preflight_guest_read(root, &back));
	CHECK(!back.have_cpu);
	xlmig_preflight_guest_free(&back);
	xlmig_json_free(root);
	xlmig_preflight_guest_free(&g);
	xlmig_buf_free(&b);
}

static int read_text(const char *text, struct xlmig_preflight_guest *g)
{
	struct xlmig_json *root = NULL;
	int rc = xlmig_json_parse(text, strlen(text), &root);

	if (!rc)
		rc = xlmig_preflight_guest_read(root, g);
	xlmig_json_free(root);
	return rc;
}

TEST(preflight_facts_from_the_wire_are_checked)
{
	struct xlmig_preflight_guest g;
	struct xlmig_buf many = { 0 };
	const char *base = "{\"name\":\"web1\",\"need_bytes\":1,\"xen_major\":4,\"xen_minor\":17,\"hvm\":true";
	char text[1024];

	snprintf(text, sizeof(text), "%s}", base);
	CHECK_OK(read_text(text, &g));
	xlmig_preflight_guest_free(&g);
	CHECK_EQ(read_text("[]", &g), XLMIG_E_FORMAT);
	CHECK_EQ(read_text("{\"need_bytes\":1}", &g), XLMIG_E_FORMAT);
	snprintf(text, sizeof(text), "%s,\"cpu_featureset\":[1,2,3]}", base);
	CHECK_EQ(read_text(text, &g), XLMIG_E_FORMAT);
	snprintf(text, sizeof(text), "%s,\"cpu_featureset\":[4294967296%s]}", base,
		 ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
	CHECK_EQ(read_text(text, &g), XLMIG_E_FORMAT);
	snprintf(text, sizeof(text), "%s,\"disks\":[\"/a\",7]}", base);
	CHECK_EQ(read_text(text, &g), XLMIG_E_FORMAT);
	snprintf(text, sizeof(text), "%s,\"bridges\":[\"\"]}", base);
	CHECK_EQ(read_text(text, &g), XLMIG_E_LIMIT);
	snprintf(text, sizeof(text), "%s,\"xen_major\":4}", base);   /* duplicate key */
	CHECK(read_text(text, &g) != 0);
	/* more disks than any guest has: refused before copying them */
	xlmig_buf_append(&many, base, strlen(base));
	xlmig_buf_append(&many, ",\"disks\":[", 10);
	for (int i = 0; i <= XLMIG_PREFLIGHT_MAX_ITEMS; i++)
		xlmig_buf_append(&many, i ? ",\"/d\"" : "\"/d\"", i ? 5 : 4);
	xlmig_buf_append(&many, "]}", 3);
	CHECK_EQ(read_text((const char *)many.data, &g), XLMIG_E_FORMAT);
	CHECK_EQ(g.n_disks, 0);
	xlmig_buf_free(&many);
}

TEST(preflight_check_names_every_failure_at_once)
{
	struct xlmig_preflight_guest g;
	struct xlmig_preflight_host h = { .free_bytes = 4096ull << 20, .xen_major = 4,
					  .xen_minor = 17, .have_cpu = true };
	const char *msg;

	epyc_guest(&g);
	memcpy(h.hvm_max, g.cpu_fs, sizeof(h.hvm_max));
	CHECK_OK(xlmig_preflight_check(&g, &h, only_shared, only_shared));
	/* The PV max featureset is not the one an HVM guest is held to. */
	memset(h.pv_max, 0, sizeof(h.pv_max));
	CHECK_OK(xlmig_preflight_check(&g, &h, only_shared, only_shared));
	h.free_bytes = 512ull << 20;
	h.xen_minor = 16;
	h.hvm_max[5] &= ~(1u << 16);
	xlmig_preflight_add_bridge(&g, "xenbr1");
	CHECK_EQ(xlmig_preflight_check(&g, &h, only_shared, only_shared), XLMIG_E_NOSPC);
	msg = xlmig_errmsg();
	CHECK(strstr(msg, "4 preflight check(s) failed") != NULL);
	CHECK(strstr(msg, "needs 1040 MiB") != NULL);
	CHECK(strstr(msg, "Xen 4.16") != NULL);
	CHECK(strstr(msg, "avx512f") != NULL);
	CHECK(strstr(msg, "xenbr1") != NULL);
	/* Without CPU facts on either side the CPU is not judged. */
	h.free_bytes = 4096ull << 20;
	h.xen_minor = 17;
	h.have_cpu = false;
	CHECK_EQ(xlmig_preflight_check(&g, &h, only_shared, only_shared), XLMIG_E_NOTFOUND);
	CHECK(strstr(xlmig_errmsg(), "1 preflight check(s) failed") != NULL);
	xlmig_preflight_guest_free(&g);
}

TEST(preflight_live_on_a_sim_host)
{
	struct xlmig_sim_create c = { .name = "web1", .mem_bytes = 64ull << 20, .vcpus = 1 };
	struct xlmig_preflight_guest g;
	struct xlmig_preflight_host h;
	struct xlmig_hv *hv;
	uint32_t id;

	CHECK_OK(xlmig_hv_open("sim", &hv));
	xlmig_sim_workload_default(&c.wl);
	CHECK_OK(xlmig_hv_sim_create(hv, &c, &id));
	CHECK_OK(xlmig_preflight_collect(hv, "web1", &g));
	CHECK_STR(g.name, "web1");
	CHECK_EQ(g.need_bytes, 64ull << 20);
	CHECK(!g.have_cpu && g.n_disks == 0 && g.n_bridges == 0 && g.xen_major == 0);
	CHECK_OK(xlmig_preflight_host_read(hv, &h));
	CHECK(h.free_bytes > 0 && !h.have_cpu);
	CHECK_OK(xlmig_preflight_here(hv, &g));
	g.need_bytes = 1ull << 60;   /* no machine has an exbibyte free */
	CHECK_EQ(xlmig_preflight_here(hv, &g), XLMIG_E_NOSPC);
	CHECK_EQ(xlmig_preflight_collect(hv, "nosuch", &g), XLMIG_E_NOTFOUND);
	xlmig_hv_close(hv);
}

/* Recorded in the Xen lab (Xen 4.17 under QEMU, AMD CPU model): an HVM
 * guest's featureset read by xlmig preflight, and its host's HVM max
 * featureset as Xen reports the e1d word: without the bits AMD repeats
 * from 1.edx (fpu..fxsr), which Xen copies into the guest's policy. */
TEST(preflight_cpu_amd_e1d_copies_of_1d_are_not_missing_features)
{
	const uint32_t lab_guest[XLMIG_FEATURESET_WORDS] = {
		533462013, 3338150403, 3990092797, 113, 5, 25691016, 12, 0, 1048576, 0, 0, 4,
	};
	uint32_t host[XLMIG_FEATURESET_WORDS];

	memcpy(host, lab_guest, sizeof(host));
	host[2] &= ~0x0183f3ffu;
	CHECK_OK(xlmig_preflight_cpu("g1", lab_guest, host));
	/* A real word-2 feature (rdtscp, bit 27) is still judged. */
	CHECK(lab_guest[2] & (1u << 27));
	host[2] &= ~(1u << 27);
	CHECK_EQ(xlmig_preflight_cpu("g1", lab_guest, host), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "1 CPU feature") != NULL);
	CHECK(strstr(xlmig_errmsg(), "rdtscp") != NULL);
}
