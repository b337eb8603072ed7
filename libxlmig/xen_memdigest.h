/*
 * xen_memdigest.h - SHA-256 of a stopped Xen domain's memory (hv->mem_digest
 * for the xen backend), defined so that the guest memory a save stream
 * carries gives the same digest in the saved domain and in the domain
 * restored from that stream, before it runs.
 *
 * The digest covers exactly the pages a save sends with data, less the
 * pages dom0 writes:
 *
 *  - The pfns 0 .. xc_domain_maximum_gpfn, in order, as libxenguest's save
 *    walks them (p2m_size in xg_sr_save_x86_hvm.c).
 *  - A pfn counts only if Xen's page-frame info (XEN_DOMCTL_getpageframeinfo3,
 *    the query the save makes for every batch) gives it a type that has
 *    stream data (xg_sr_common.h's page_type_has_stream_data).  XTAB
 *    covers holes, unpopulated pfns and Xen's own pages in the guest's
 *    physmap (is_special_page(): the shared-info page and the grant-table
 *    frames the guest mapped): the save sends no data for those and the
 *    restore leaves them unpopulated, so on both sides they are skipped,
 *    whatever their state.  XALLOC and BROKEN are skipped the same way.
 *  - Less the pages the HVM params name as shared with dom0, the
 *    pfn-valued params of the HVM_PARAMS record a save writes: STORE_PFN
 *    and CONSOLE_PFN (xenstored's and xenconsoled's rings: they write them
 *    after the guest stops, and the restore zeroes both,
 *    xg_sr_restore_x86_hvm.c's handle_hvm_params), IOREQ_PFN and
 *    BUFIOREQ_PFN (the device model's, zeroed by the restore too),
 *    PAGING_, MONITOR_ and SHARING_RING_PFN (rings of dom0's paging,
 *    monitor and sharing agents) and IOREQ_SERVER_PFN with its
 *    NR_IOREQ_SERVER_PAGES (pages Xen hands to ioreq servers).  A param
 *    of 0 names no page.  The guest's own structures the params locate
 *    (IDENT_PT, the VM86 TSS, the VM generation id) stay in.
 *
 * Each counted page enters the hash as a header of 8 bytes, little-endian:
 * its pfn, with XLMIG_XEN_DIGEST_ZERO set when the page is all zeros;
 * then, unless it is, its 4096 bytes.  (Half of a small idle guest is
 * zeros, and hashing under emulation costs most of a digest's time.)  PV guests are refused: their pages are not in pfn
 * order without the p2m, and their page tables hold machine frames, which
 * a restore changes.
 */
#ifndef XLMIG_XEN_MEMDIGEST_H
#define XLMIG_XEN_MEMDIGEST_H

#include "xen_save.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* In a page's header: the page is all zeros (no pfn reaches bit 63). */
#define XLMIG_XEN_DIGEST_ZERO (1ull << 63)

/* Whether a page of this getpageframeinfo3 type is in the digest (as in
 * a save's stream): XTAB, XALLOC, BROKEN and unknown types are not. */
bool xlmig_xen_digest_type_counts(uint64_t type);

/* An HVM param as Xen reports it. */
struct xlmig_xen_hvm_param {
	uint32_t index;          /* HVM_PARAM_* */
	uint64_t value;
};

/* The pfns the rule leaves out, as ranges. */
#define XLMIG_XEN_DIGEST_SKIP_MAX 16
struct xlmig_xen_digest_skip {
	size_t n;
	struct {
		uint64_t first, count;
		uint32_t param;      /* the HVM param that names it */
	} r[XLMIG_XEN_DIGEST_SKIP_MAX];
};

/* The HVM params the rule reads (xc_hvm_param_get each). */
extern const uint32_t xlmig_xen_digest_params[];
extern const size_t xlmig_xen_digest_nparams;

/* The rule, pure: the pfns the params p[0..n) name as shared with dom0.
 * Params the rule does not know, and 0 values, name none; a count of
 * ioreq server pages without its first pfn names none either. */
void xlmig_xen_digest_skip_from(const struct xlmig_xen_hvm_param *p, size_t n,
				struct xlmig_xen_digest_skip *out);
/* True if the rule leaves pfn out (and *param, if not NULL, says why). */
bool xlmig_xen_digest_skips(const struct xlmig_xen_digest_skip *s, uint64_t pfn,
			    uint32_t *param);

/* What a digest covered, for the log and the lab. */
struct xlmig_xen_digest_stats {
	uint64_t pfns;           /* 0 .. max gpfn */
	uint64_t pages;          /* hashed */
	uint64_t no_data;        /* XTAB, XALLOC, BROKEN */
	uint64_t skipped;        /* left out by the params' rule */
	uint64_t ns;
	uint64_t types_ns;       /* of ns: Xen's page-frame types */
};

/* SHA-256 of the stopped (paused or suspended) HVM/PVH domain's memory by
 * the rule above.  dump (may be NULL) gets one line per pfn with data:
 * "DOMID PFN SHA256-of-the-page", with " skip:PARAM" after a page the
 * rule left out, for finding the pages two digests disagree on. */
int xlmig_xen_mem_digest(const struct xlmig_xen_handles *h, uint32_t domid, uint8_t out[32],
			 FILE *dump, struct xlmig_xen_digest_stats *st);
/* The same, logged (what it covered, how long it took), with the dump
 * going to the file XLMIG_MEM_DIGEST_DUMP names when it is set: the xen
 * backend's mem_digest and the digest a save takes at its pause. */
int xlmig_xen_hv_mem_digest(const struct xlmig_xen_handles *h, uint32_t domid, uint8_t out[32]);

#endif
