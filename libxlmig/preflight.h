/*
 * preflight.h - can this guest run on the destination?  Decisions over
 * data read from Xen (or recorded from it): memory, Xen version (older ->
 * newer only), CPU features, disks and bridges.  Each check fails with a
 * message naming what is missing and what to change.
 *
 * The facts travel from source to destination as JSON:
 *   source:       xlmig_preflight_collect(hv, domain, &g)      what the guest needs
 *                 xlmig_preflight_guest_write(&g, &w)           into the message
 *   destination:  xlmig_preflight_guest_read(node, &g)          checked on the way in
 *                 xlmig_preflight_here(hv, &g)                  every check, one message
 * How the migration job uses it (job.c's PREFLIGHT message): the source
 * adds a member "guest" holding xlmig_preflight_guest_write()'s object
 * (xlmig_json_key(w, "guest") then the call); the destination, if the
 * member is there, reads it and calls xlmig_preflight_here() in place of
 * its own memory check, answering the failure as for any other.  A source
 * that sends no "guest" member loses nothing but the checks.
 * `xlmig preflight DOMAIN` prints the JSON on a source and `xlmig
 * preflight --check FILE` runs the checks on a destination (cmd_preflight.c).
 * The live facts come from the backend (hv.h preflight ops): on Xen from
 * libxl and libxenguest (xen_preflight.h); on sim there is no CPU,
 * Xen version, disk or bridge to check, only memory.
 */
#ifndef XLMIG_PREFLIGHT_H
#define XLMIG_PREFLIGHT_H

#include "common.h"
#include "hv.h"
#include "json.h"
#include "preflight_facts.h"

/* need_bytes for the guest (with overhead) against free_bytes there. */
int xlmig_preflight_memory(const char *guest, uint64_t need_bytes, uint64_t free_bytes);
/* A stream from Xen src can be read by Xen dst if dst is not older. */
int xlmig_preflight_xen_version(unsigned src_major, unsigned src_minor,
				unsigned dst_major, unsigned dst_minor);
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

/* ---- the facts, and all checks at once ---- */

/* The facts as one JSON object (written at w's current position). */
void xlmig_preflight_guest_write(const struct xlmig_preflight_guest *g,
				 struct xlmig_json_writer *w);
/* And back, every field checked (types, ranges, counts, lengths). */
int xlmig_preflight_guest_read(const struct xlmig_json *obj, struct xlmig_preflight_guest *g);

/* Every check of g against h.  All failures are named in one message;
 * the code is the first failure's.  disk_ok and bridge_ok as
 * for xlmig_preflight_disks/bridges (NULL = this host). */
int xlmig_preflight_check(const struct xlmig_preflight_guest *g,
			  const struct xlmig_preflight_host *h,
			  bool (*disk_ok)(const char *path),
			  bool (*bridge_ok)(const char *bridge));

/* ---- live facts through a backend ---- */

/* The source: the facts of DOMAIN (name or id). */
int xlmig_preflight_collect(struct xlmig_hv *hv, const char *domain,
			    struct xlmig_preflight_guest *g);
/* This host's offer. */
int xlmig_preflight_host_read(struct xlmig_hv *hv, struct xlmig_preflight_host *h);
/* The destination: read this host, then check g against it. */
int xlmig_preflight_here(struct xlmig_hv *hv, const struct xlmig_preflight_guest *g);

#endif
