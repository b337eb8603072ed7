/*
 * preflight.c - destination checks before a migration (see preflight.h).
 */
#include "preflight.h"

#include <ctype.h>
#include <unistd.h>

int xlmig_preflight_memory(const char *guest, uint64_t need_bytes, uint64_t free_bytes)
{
	if (need_bytes <= free_bytes)
		return XLMIG_OK;
	return xlmig_fail(XLMIG_E_NOSPC,
			  "%s needs %llu MiB but the destination has %llu MiB free: free memory "
			  "there (balloon dom0 down, stop guests) or pick another host",
			  guest, (unsigned long long)(need_bytes >> 20),
			  (unsigned long long)(free_bytes >> 20));
}

int xlmig_preflight_xen_version(unsigned src_major, unsigned src_minor,
				unsigned dst_major, unsigned dst_minor)
{
	if (dst_major > src_major || (dst_major == src_major && dst_minor >= src_minor))
		return XLMIG_OK;
	return xlmig_fail(XLMIG_E_UNSUPPORTED,
			  "the destination runs Xen %u.%u, older than the source's %u.%u: "
			  "migration goes from older to newer Xen only",
			  dst_major, dst_minor, src_major, src_minor);
}

/* Where each featureset word comes from (cpufeatureset.h). */
struct fs_word_src {
	uint32_t leaf, subleaf;
	unsigned reg;      /* 0 eax, 1 ebx, 2 ecx, 3 edx */
};
#define NO_SUBLEAF 0xffffffffu

static const struct fs_word_src fs_src[XLMIG_FEATURESET_WORDS] = {
	[0] = { 0x1, NO_SUBLEAF, 3 },         [1] = { 0x1, NO_SUBLEAF, 2 },
	[2] = { 0x80000001, NO_SUBLEAF, 3 },  [3] = { 0x80000001, NO_SUBLEAF, 2 },
	[4] = { 0xd, 1, 0 },                  [5] = { 0x7, 0, 1 },
	[6] = { 0x7, 0, 2 },                  [7] = { 0x80000007, NO_SUBLEAF, 3 },
	[8] = { 0x80000008, NO_SUBLEAF, 1 },  [9] = { 0x7, 0, 3 },
	[10] = { 0x7, 1, 0 },                 [11] = { 0x80000021, NO_SUBLEAF, 0 },
	[12] = { 0x7, 1, 1 },                 [13] = { 0x7, 2, 3 },
	[14] = { 0x7, 1, 2 },                 [15] = { 0x7, 1, 3 },
	[16] = { 0, 0, 4 },                   [17] = { 0, 0, 4 },   /* MSR words */
	[18] = { 0x80000021, NO_SUBLEAF, 2 },
};

#define CPUID_LEAF_LEN 24u

int xlmig_featureset_from_cpuid_policy(const uint8_t *body, uint32_t len,
				       uint32_t fs[XLMIG_FEATURESET_WORDS])
{
	memset(fs, 0, XLMIG_FEATURESET_WORDS * sizeof(fs[0]));
	if (len % CPUID_LEAF_LEN)
		return xlmig_fail(XLMIG_E_FORMAT,
				  "X86_CPUID_POLICY record of %u bytes is not a whole number of leaves", len);
	for (uint32_t off = 0; off < len; off += CPUID_LEAF_LEN) {
		uint32_t leaf = xlmig_get_le32(body + off);
		uint32_t sub = xlmig_get_le32(body + off + 4);

		for (unsigned w = 0; w < XLMIG_FEATURESET_WORDS; w++) {
			const struct fs_word_src *s = &fs_src[w];
			if (s->reg > 3 || s->leaf != leaf)
				continue;
			if (s->subleaf != NO_SUBLEAF && s->subleaf != sub)
				continue;
			fs[w] = xlmig_get_le32(body + off + 8 + 4 * s->reg);
		}
	}
	return XLMIG_OK;
}

#if __has_include(<xen/arch-x86/cpufeatureset.h>)
struct feature_name { unsigned value; const char *name; };
#define XEN_CPUFEATURE(name, value) { value, #name },
static const struct feature_name feature_names[] = {
#include <xen/arch-x86/cpufeatureset.h>
};
#undef XEN_CPUFEATURE
#define HAVE_FEATURE_NAMES 1
#endif

const char *xlmig_cpu_feature_name(unsigned word, unsigned bit)
{
#ifdef HAVE_FEATURE_NAMES
	static __thread char lower[32];

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(feature_names); i++)
		if (feature_names[i].value == word * 32 + bit) {
			size_t k = 0;
			for (; feature_names[i].name[k] && k < sizeof(lower) - 1; k++)
				lower[k] = (char)tolower((unsigned char)feature_names[i].name[k]);
			lower[k] = '\0';
			return lower;
		}
#endif
	return NULL;
}

static void append_feature(struct xlmig_buf *names, struct xlmig_buf *mask, unsigned w, unsigned b)
{
	const char *n = xlmig_cpu_feature_name(w, b);
	char tmp[48];

	if (n)
		snprintf(tmp, sizeof(tmp), "%s", n);
	else
		snprintf(tmp, sizeof(tmp), "word%u.bit%u", w, b);
	if (names->len)
		xlmig_buf_append(names, " ", 1);
	xlmig_buf_append(names, tmp, strlen(tmp));
	if (n) {
		xlmig_buf_append(mask, ",", 1);
		xlmig_buf_append(mask, n, strlen(n));
		xlmig_buf_append(mask, "=0", 2);
	}
}

int xlmig_preflight_cpu(const char *guest, const uint32_t guest_fs[XLMIG_FEATURESET_WORDS],
			const uint32_t dst_fs[XLMIG_FEATURESET_WORDS])
{
	struct xlmig_buf names = {0}, mask = {0};
	unsigned missing = 0;
	int rc = XLMIG_OK;

	for (unsigned w = 0; w < XLMIG_FEATURESET_WORDS; w++) {
		uint32_t lack = guest_fs[w] & ~dst_fs[w];
		for (unsigned b = 0; b < 32; b++)
			if (lack & (1u << b)) {
				append_feature(&names, &mask, w, b);
				missing++;
			}
	}
	if (missing)
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED,
				"%s uses %u CPU feature(s) the destination lacks: %.*s; mask them in "
				"the guest config with cpuid = \"host%.*s\" (takes effect at the next "
				"boot of the guest) or pick a host with these features",
				guest, missing, (int)names.len, (const char *)names.data,
				(int)mask.len, mask.len ? (const char *)mask.data : "");
	xlmig_buf_free(&names);
	xlmig_buf_free(&mask);
	return rc;
}

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool bridge_exists(const char *br)
{
	char path[128];

	if ((size_t)snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", br) >= sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

static int check_all(const char *guest, const char *what, const char *fix,
		     const char *const *items, size_t n, bool (*exists)(const char *))
{
	for (size_t i = 0; i < n; i++)
		if (items[i] && items[i][0] && !exists(items[i]))
			return xlmig_fail(XLMIG_E_NOTFOUND, "%s: %s %s does not exist on the destination%s",
					  guest, what, items[i], fix);
	return XLMIG_OK;
}

int xlmig_preflight_disks(const char *guest, const char *const *paths, size_t n,
			  bool (*exists)(const char *path))
{
	return check_all(guest, "disk", " (its storage must be shared, at the same path)",
			 paths, n, exists ? exists : path_exists);
}

int xlmig_preflight_bridges(const char *guest, const char *const *bridges, size_t n,
			    bool (*exists)(const char *bridge))
{
	return check_all(guest, "bridge", ": create it, or the guest's NIC has nowhere to plug in",
			 bridges, n, exists ? exists : bridge_exists);
}
