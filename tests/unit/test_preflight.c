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
