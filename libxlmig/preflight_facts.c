/*
 * preflight_facts.c - building the preflight facts (see preflight_facts.h).
 */
#include "preflight_facts.h"

#include <stdlib.h>

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

void xlmig_preflight_guest_free(struct xlmig_preflight_guest *g)
{
	for (size_t i = 0; i < g->n_disks; i++)
		free(g->disks[i]);
	for (size_t i = 0; i < g->n_bridges; i++)
		free(g->bridges[i]);
	for (size_t i = 0; i < g->n_boot; i++)
		free(g->boot[i]);
	memset(g, 0, sizeof(*g));
}

static int add_item(char **items, size_t *n, const char *what, const char *s)
{
	size_t len = strlen(s);

	if (*n >= XLMIG_PREFLIGHT_MAX_ITEMS)
		return xlmig_fail(XLMIG_E_LIMIT, "more than %d %ss", XLMIG_PREFLIGHT_MAX_ITEMS, what);
	if (len == 0 || len >= XLMIG_PREFLIGHT_MAX_PATH)
		return xlmig_fail(XLMIG_E_LIMIT, "%s name of %zu bytes (1..%d allowed)", what, len,
				  XLMIG_PREFLIGHT_MAX_PATH - 1);
	items[*n] = strdup(s);
	if (!items[*n])
		return xlmig_fail(XLMIG_E_NOMEM, "copying a %s name", what);
	(*n)++;
	return XLMIG_OK;
}

int xlmig_preflight_add_disk(struct xlmig_preflight_guest *g, const char *path)
{
	return add_item(g->disks, &g->n_disks, "disk", path);
}

int xlmig_preflight_add_bridge(struct xlmig_preflight_guest *g, const char *bridge)
{
	return add_item(g->bridges, &g->n_bridges, "bridge", bridge);
}

int xlmig_preflight_add_boot(struct xlmig_preflight_guest *g, const char *path)
{
	return add_item(g->boot, &g->n_boot, "boot file", path);
}
