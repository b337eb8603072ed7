/*
 * preflight_facts.h - the facts a preflight decides on, as a backend
 * gathers them: what a guest needs of a destination and what a host
 * offers.  Backends fill these through their preflight ops (hv.h); the
 * checks over them are in preflight.h.  Kept apart from the checks so
 * that a backend's fact-gathering and the generic checks do not depend
 * on each other.
 */
#ifndef XLMIG_PREFLIGHT_FACTS_H
#define XLMIG_PREFLIGHT_FACTS_H

#include "common.h"
#include "hv.h"

/* Featureset words as Xen numbers them (cpufeatureset.h): 0..18. */
#define XLMIG_FEATURESET_WORDS 19

#define XLMIG_PREFLIGHT_MAX_ITEMS 64     /* disks, bridges */
#define XLMIG_PREFLIGHT_MAX_PATH 4096

/* What the guest needs of a destination, as its source knows it. */
struct xlmig_preflight_guest {
	char name[XLMIG_NAME_MAX];
	uint64_t need_bytes;            /* memory, with Xen's overhead */
	unsigned xen_major, xen_minor;  /* the source's Xen; 0.0 on sim */
	bool have_cpu;                  /* cpu_fs is known */
	bool hvm;                       /* HVM or PVH: checked against hvm_max */
	uint32_t cpu_fs[XLMIG_FEATURESET_WORDS];
	char *disks[XLMIG_PREFLIGHT_MAX_ITEMS];    /* paths, malloc'd */
	size_t n_disks;
	char *bridges[XLMIG_PREFLIGHT_MAX_ITEMS];  /* bridge names, malloc'd */
	size_t n_bridges;
	char *boot[XLMIG_PREFLIGHT_MAX_ITEMS];     /* kernel, ramdisk, firmware... */
	size_t n_boot;
};

/* What a destination offers. */
struct xlmig_preflight_host {
	uint64_t free_bytes;
	unsigned xen_major, xen_minor;  /* 0.0 on sim */
	bool have_cpu;
	uint32_t pv_max[XLMIG_FEATURESET_WORDS];
	uint32_t hvm_max[XLMIG_FEATURESET_WORDS];
};

void xlmig_preflight_guest_free(struct xlmig_preflight_guest *g);
/* Add a disk path / bridge / file libxl loads into the guest (copied);
 * LIMIT past XLMIG_PREFLIGHT_MAX_ITEMS. */
int xlmig_preflight_add_disk(struct xlmig_preflight_guest *g, const char *path);
int xlmig_preflight_add_bridge(struct xlmig_preflight_guest *g, const char *bridge);
int xlmig_preflight_add_boot(struct xlmig_preflight_guest *g, const char *path);

/* The featureset words found in an X86_CPUID_POLICY record body (an
 * array of {leaf, subleaf, eax, ebx, ecx, edx} le32); words whose leaf is
 * absent stay 0.  MSR-derived words (16, 17) are not in this record. */
int xlmig_featureset_from_cpuid_policy(const uint8_t *body, uint32_t len,
				       uint32_t fs[XLMIG_FEATURESET_WORDS]);

#endif
