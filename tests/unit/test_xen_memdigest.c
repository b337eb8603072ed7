/*
 * test_xen_memdigest.c - the Xen memory digest's rule, which needs no
 * hypervisor: which page types count, and which pfns the HVM params
 * leave out (xen_memdigest.h).
 */
#include "unit.h"
#include "common.h"

#ifdef XLMIG_HAVE_XEN
#include "xen_memdigest.h"

#include <xen/domctl.h>
#include <xen/hvm/params.h>

/* As a save's stream: data for ordinary pages and page tables, pinned or
 * not; none for holes, Xen's own pages, allocate-only or broken ones. */
TEST(xen_memdigest_types_as_the_save_sends_them)
{
	CHECK(xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_NOTAB));
	CHECK(xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_L1TAB));
	CHECK(xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB));
	CHECK(!xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_XTAB));
	CHECK(!xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_XALLOC));
	CHECK(!xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_BROKEN));
	/* Pinned without a table type, and unknown types: not in a stream. */
	CHECK(!xlmig_xen_digest_type_counts(XEN_DOMCTL_PFINFO_LPINTAB));
	CHECK(!xlmig_xen_digest_type_counts(0x7U << 28));
}

/* The params of the lab's PVH guest (xenstore and console rings under
 * the special region, nothing else set), and of an HVM guest with a
 * device model and an ioreq server's pages. */
TEST(xen_memdigest_params_name_dom0s_pages)
{
	const struct xlmig_xen_hvm_param pvh[] = {
		{ HVM_PARAM_STORE_PFN, 0xfeffc }, { HVM_PARAM_CONSOLE_PFN, 0xfefff },
		{ HVM_PARAM_IOREQ_PFN, 0 }, { HVM_PARAM_BUFIOREQ_PFN, 0 },
		{ HVM_PARAM_IOREQ_SERVER_PFN, 0 }, { HVM_PARAM_NR_IOREQ_SERVER_PAGES, 0 },
	};
	const struct xlmig_xen_hvm_param hvm[] = {
		{ HVM_PARAM_NR_IOREQ_SERVER_PAGES, 8 }, { HVM_PARAM_IOREQ_SERVER_PFN, 0xfeff0 },
		{ HVM_PARAM_IOREQ_PFN, 0xfeffd }, { HVM_PARAM_BUFIOREQ_PFN, 0xfeffe },
		{ HVM_PARAM_PAGING_RING_PFN, 0xfeff8 }, { HVM_PARAM_MONITOR_RING_PFN, 0xfeff9 },
		{ HVM_PARAM_SHARING_RING_PFN, 0xfeffa },
		/* The guest's own structures the params locate stay in. */
		{ HVM_PARAM_IDENT_PT, 0xfeffb000 }, { HVM_PARAM_VM_GENERATION_ID_ADDR, 0x1000 },
	};
	struct xlmig_xen_digest_skip s;
	uint32_t why = 0;

	xlmig_xen_digest_skip_from(pvh, sizeof(pvh) / sizeof(pvh[0]), &s);
	CHECK_EQ(s.n, 2);
	CHECK(xlmig_xen_digest_skips(&s, 0xfeffc, &why));
	CHECK_EQ(why, HVM_PARAM_STORE_PFN);
	CHECK(xlmig_xen_digest_skips(&s, 0xfefff, &why));
	CHECK_EQ(why, HVM_PARAM_CONSOLE_PFN);
	/* A 0 param names no page: pfn 0 is the guest's. */
	CHECK(!xlmig_xen_digest_skips(&s, 0, NULL));
	CHECK(!xlmig_xen_digest_skips(&s, 0xfeffd, NULL));
	CHECK(!xlmig_xen_digest_skips(&s, 0xfeffe, NULL));

	xlmig_xen_digest_skip_from(hvm, sizeof(hvm) / sizeof(hvm[0]), &s);
	CHECK_EQ(s.n, 6);
	/* The ioreq server's pages, as a range, whichever param came first. */
	CHECK(!xlmig_xen_digest_skips(&s, 0xfefef, NULL));
	CHECK(xlmig_xen_digest_skips(&s, 0xfeff0, &why));
	CHECK_EQ(why, HVM_PARAM_IOREQ_SERVER_PFN);
	CHECK(xlmig_xen_digest_skips(&s, 0xfeff7, NULL));
	for (uint64_t pfn = 0xfeff8; pfn <= 0xfeffa; pfn++)
		CHECK(xlmig_xen_digest_skips(&s, pfn, NULL));
	CHECK(xlmig_xen_digest_skips(&s, 0xfeffd, NULL));
	CHECK(xlmig_xen_digest_skips(&s, 0xfeffe, NULL));
	CHECK(!xlmig_xen_digest_skips(&s, 0xfeffb, NULL));   /* IDENT_PT's page */
	CHECK(!xlmig_xen_digest_skips(&s, 0x1, NULL));       /* the generation id's */
	CHECK(!xlmig_xen_digest_skips(&s, 0xfefff, NULL));
}

/* A count of server pages without a first pfn, or a first pfn with no
 * pages, names nothing; every param the rule reads is one it knows. */
TEST(xen_memdigest_ioreq_server_range_needs_both)
{
	const struct xlmig_xen_hvm_param only_count[] = { { HVM_PARAM_NR_IOREQ_SERVER_PAGES, 4 } };
	const struct xlmig_xen_hvm_param only_first[] = { { HVM_PARAM_IOREQ_SERVER_PFN, 0x100 } };
	struct xlmig_xen_digest_skip s;

	xlmig_xen_digest_skip_from(only_count, 1, &s);
	CHECK_EQ(s.n, 0);
	CHECK(!xlmig_xen_digest_skips(&s, 0, NULL));
	xlmig_xen_digest_skip_from(only_first, 1, &s);
	CHECK_EQ(s.n, 0);
	CHECK(!xlmig_xen_digest_skips(&s, 0x100, NULL));
	CHECK_EQ(xlmig_xen_digest_nparams, 9);
	for (size_t i = 0; i < xlmig_xen_digest_nparams; i++) {
		struct xlmig_xen_hvm_param p[2] = {
			{ xlmig_xen_digest_params[i], 0x42 }, { HVM_PARAM_NR_IOREQ_SERVER_PAGES, 1 },
		};
		bool count_only = xlmig_xen_digest_params[i] == HVM_PARAM_NR_IOREQ_SERVER_PAGES;

		xlmig_xen_digest_skip_from(p, 2, &s);
		CHECK_EQ(s.n, count_only ? 0 : 1);
		CHECK(count_only || xlmig_xen_digest_skips(&s, 0x42, NULL));
	}
}
#endif
