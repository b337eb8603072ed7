/*
 * preflight.c - destination checks before a migration (see preflight.h).
 */
#include "preflight.h"
#include "guest_policy.h"
#include "stream.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
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

/* On AMD, 0x80000001.edx repeats 18 bits of 0x1.edx (fpu..fxsr), and
 * Xen copies them into an AMD guest's policy; they are not features of
 * word 2 of their own (the max featuresets never set them: Xen gen-cpuid's
 * "common 1d" list), and word 0 already compares them. */
#define E1D_COMMON_WITH_1D 0x0183f3ffu

int xlmig_preflight_cpu(const char *guest, const uint32_t guest_fs[XLMIG_FEATURESET_WORDS],
			const uint32_t dst_fs[XLMIG_FEATURESET_WORDS])
{
	struct xlmig_buf names = {0}, mask = {0};
	unsigned missing = 0;
	int rc = XLMIG_OK;

	for (unsigned w = 0; w < XLMIG_FEATURESET_WORDS; w++) {
		uint32_t lack = guest_fs[w] & ~dst_fs[w];

		if (w == 2)
			lack &= ~E1D_COMMON_WITH_1D;
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

/* Names from a peer reach these only through the incoming-guest policy
 * (guest_policy.h); they refuse a non-canonical one all the same. */
static bool path_exists(const char *path)
{
	return xlmig_path_canonical(path) && access(path, F_OK) == 0;
}

static bool bridge_exists(const char *br)
{
	char path[128];

	if (!xlmig_ifname_ok(br) ||
	    (size_t)snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", br) >= sizeof(path))
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

/* ---- the facts ---- */

static void write_strings(struct xlmig_json_writer *w, const char *key, char *const *v, size_t n)
{
	xlmig_json_key(w, key);
	xlmig_json_array_open(w);
	for (size_t i = 0; i < n; i++)
		xlmig_json_string(w, v[i]);
	xlmig_json_array_close(w);
}

void xlmig_preflight_guest_write(const struct xlmig_preflight_guest *g,
				 struct xlmig_json_writer *w)
{
	xlmig_json_object_open(w);
	xlmig_json_kv_str(w, "name", g->name);
	xlmig_json_kv_uint(w, "need_bytes", g->need_bytes);
	xlmig_json_kv_uint(w, "xen_major", g->xen_major);
	xlmig_json_kv_uint(w, "xen_minor", g->xen_minor);
	xlmig_json_kv_bool(w, "hvm", g->hvm);
	if (g->have_cpu) {
		xlmig_json_key(w, "cpu_featureset");
		xlmig_json_array_open(w);
		for (unsigned i = 0; i < XLMIG_FEATURESET_WORDS; i++)
			xlmig_json_uint(w, g->cpu_fs[i]);
		xlmig_json_array_close(w);
	}
	write_strings(w, "disks", g->disks, g->n_disks);
	write_strings(w, "bridges", g->bridges, g->n_bridges);
	write_strings(w, "boot", g->boot, g->n_boot);
	xlmig_json_object_close(w);
}

static int read_uint(const struct xlmig_json *obj, const char *key, uint64_t max, uint64_t *out)
{
	if (xlmig_json_get_u64(obj, key, out) || *out > max)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight facts: %s missing or over %llu", key,
				  (unsigned long long)max);
	return XLMIG_OK;
}

static int read_featureset(const struct xlmig_json *arr, uint32_t fs[XLMIG_FEATURESET_WORDS])
{
	const struct xlmig_json *el = arr->child;

	if (arr->type != XLMIG_JSON_ARRAY || arr->count != XLMIG_FEATURESET_WORDS)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight facts: cpu_featureset is not %d numbers",
				  XLMIG_FEATURESET_WORDS);
	for (unsigned i = 0; el; el = el->next, i++) {
		uint64_t v;

		if (xlmig_json_get_u64(el, "", &v) || v > UINT32_MAX)
			return xlmig_fail(XLMIG_E_FORMAT, "preflight facts: cpu_featureset word %u is not a 32-bit number", i);
		fs[i] = (uint32_t)v;
	}
	return XLMIG_OK;
}

static int read_strings(const struct xlmig_json *obj, const char *key,
			struct xlmig_preflight_guest *g,
			int (*add)(struct xlmig_preflight_guest *, const char *))
{
	const struct xlmig_json *arr = xlmig_json_member(obj, key);
	int rc = XLMIG_OK;

	if (!arr)
		return XLMIG_OK;
	if (arr->type != XLMIG_JSON_ARRAY || arr->count > XLMIG_PREFLIGHT_MAX_ITEMS)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight facts: %s is not a list of at most %d names",
				  key, XLMIG_PREFLIGHT_MAX_ITEMS);
	for (const struct xlmig_json *el = arr->child; el && !rc; el = el->next) {
		if (el->type != XLMIG_JSON_STRING || strlen(el->text) != el->text_len)
			return xlmig_fail(XLMIG_E_FORMAT, "preflight facts: an entry of %s is not a name", key);
		rc = add(g, el->text);
	}
	return rc ? xlmig_fail_prefix(rc, "preflight facts") : XLMIG_OK;
}

int xlmig_preflight_guest_read(const struct xlmig_json *obj, struct xlmig_preflight_guest *g)
{
	const struct xlmig_json *fs;
	const char *name;
	uint64_t v;
	int rc;

	memset(g, 0, sizeof(*g));
	if (!obj || obj->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "preflight facts are not a JSON object");
	if (xlmig_json_get_str(obj, "name", &name) || !name[0] || strlen(name) >= XLMIG_NAME_MAX) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "preflight facts: no usable guest name");
		goto out;
	}
	memcpy(g->name, name, strlen(name) + 1);
	if ((rc = read_uint(obj, "need_bytes", UINT64_MAX, &g->need_bytes)))
		goto out;
	if ((rc = read_uint(obj, "xen_major", 1000, &v)))
		goto out;
	g->xen_major = (unsigned)v;
	if ((rc = read_uint(obj, "xen_minor", 1000, &v)))
		goto out;
	g->xen_minor = (unsigned)v;
	if (xlmig_json_get_bool(obj, "hvm", &g->hvm)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "preflight facts: hvm is not true or false");
		goto out;
	}
	fs = xlmig_json_member(obj, "cpu_featureset");
	if (fs) {
		rc = read_featureset(fs, g->cpu_fs);
		g->have_cpu = !rc;
	}
	if (!rc)
		rc = read_strings(obj, "disks", g, xlmig_preflight_add_disk);
	if (!rc)
		rc = read_strings(obj, "bridges", g, xlmig_preflight_add_bridge);
	if (!rc)
		rc = read_strings(obj, "boot", g, xlmig_preflight_add_boot);
out:
	if (rc)
		xlmig_preflight_guest_free(g);
	return rc;
}

/* ---- all checks ---- */

int xlmig_preflight_check(const struct xlmig_preflight_guest *g,
			  const struct xlmig_preflight_host *h,
			  bool (*disk_ok)(const char *path),
			  bool (*bridge_ok)(const char *bridge))
{
	struct xlmig_verdict v = { 0 };

	xlmig_verdict_note(&v, xlmig_preflight_memory(g->name, g->need_bytes, h->free_bytes));
	/* A sim side has no Xen version (0.0) and nothing to compare. */
	if (g->xen_major && h->xen_major)
		xlmig_verdict_note(&v, xlmig_preflight_xen_version(g->xen_major, g->xen_minor, h->xen_major,
						     h->xen_minor));
	if (g->have_cpu && h->have_cpu)
		xlmig_verdict_note(&v, xlmig_preflight_cpu(g->name, g->cpu_fs, g->hvm ? h->hvm_max : h->pv_max));
	xlmig_verdict_note(&v, xlmig_preflight_disks(g->name, (const char *const *)g->disks, g->n_disks,
				       disk_ok));
	xlmig_verdict_note(&v, xlmig_preflight_bridges(g->name, (const char *const *)g->bridges, g->n_bridges,
					 bridge_ok));
	return xlmig_verdict_end(&v, "preflight check(s) failed");
}

/* ---- live facts ---- */

/* Each backend knows what it can tell (hv.h's preflight ops): on Xen the
 * guest's config, CPU policy and this Xen; on sim only memory. */
int xlmig_preflight_collect(struct xlmig_hv *hv, const char *domain,
			    struct xlmig_preflight_guest *g)
{
	int rc;

	memset(g, 0, sizeof(*g));
	rc = hv->ops->preflight_guest(hv, domain, g);
	if (rc) {
		xlmig_preflight_guest_free(g);
		return xlmig_fail_prefix(rc, "preflight facts of %s", domain);
	}
	return XLMIG_OK;
}

int xlmig_preflight_host_read(struct xlmig_hv *hv, struct xlmig_preflight_host *h)
{
	memset(h, 0, sizeof(*h));
	return hv->ops->preflight_host(hv, h);
}

int xlmig_preflight_here(struct xlmig_hv *hv, const struct xlmig_preflight_guest *g)
{
	struct xlmig_preflight_host h;
	int rc = xlmig_preflight_host_read(hv, &h);

	if (rc)
		return xlmig_fail_prefix(rc, "reading what this host offers");
	return xlmig_preflight_check(g, &h, NULL, NULL);
}
