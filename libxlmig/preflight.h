/*
 * preflight.h - can this guest run on the destination?  Pure decisions
 * over data read from Xen (or recorded from it): memory, Xen version
 * (older -> newer only), CPU features, disks and bridges.  Each check
 * fails with a message naming what is missing and what to change.
 */
#ifndef XLMIG_PREFLIGHT_H
#define XLMIG_PREFLIGHT_H

#include "common.h"

/* Featureset words as Xen numbers them (cpufeatureset.h): 0..18. */
#define XLMIG_FEATURESET_WORDS 19

/* need_bytes for the guest (with overhead) against free_bytes there. */
int xlmig_preflight_memory(const char *guest, uint64_t need_bytes, uint64_t free_bytes);
/* A stream from Xen src can be read by Xen dst if dst is not older. */
int xlmig_preflight_xen_version(unsigned src_major, unsigned src_minor,
				unsigned dst_major, unsigned dst_minor);
/* The featureset words found in an X86_CPUID_POLICY record body (an
 * array of {leaf, subleaf, eax, ebx, ecx, edx} le32); words whose leaf is
 * absent stay 0.  MSR-derived words (16, 17) are not in this record. */
int xlmig_featureset_from_cpuid_policy(const uint8_t *body, uint32_t len,
				       uint32_t fs[XLMIG_FEATURESET_WORDS]);
/* Every feature the guest sees must be offered by the destination
 * (its max featureset for the guest's type).  On failure the message
 * names the missing features and the cpuid= line that masks them. */
int xlmig_preflight_cpu(const char *guest, const uint32_t guest_fs[XLMIG_FEATURESET_WORDS],
			const uint32_t dst_fs[XLMIG_FEATURESET_WORDS]);
/* Name of a feature ("avx512f"), or NULL if this build has no name. */
const char *xlmig_cpu_feature_name(unsigned word, unsigned bit);
/* Every path / bridge must exist on this host; exists() is the test
 * (NULL = look at the local filesystem, /sys/class/net/NAME/bridge). */
int xlmig_preflight_disks(const char *guest, const char *const *paths, size_t n,
			  bool (*exists)(const char *path));
int xlmig_preflight_bridges(const char *guest, const char *const *bridges, size_t n,
			    bool (*exists)(const char *bridge));

#endif
