/*
 * xen_memdigest.c - SHA-256 of a stopped Xen domain's memory, by the rule
 * in xen_memdigest.h: the pages a save would send with data, in pfn order,
 * less the pages the HVM params name as dom0's.
 *
 * The walk is the save's own: page-frame types for a batch of pfns, then
 * one foreign mapping of the batch's pages with data.
 */
#include "xen_memdigest.h"
#include "xen_err.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <xen/domctl.h>
#include <xen/hvm/params.h>
#include <xenforeignmemory.h>

/* libxenctrl exports it (libxenguest's save calls it for every batch)
 * but declares it only in its private header. */
int xc_get_pfn_type_batch(xc_interface *xch, uint32_t dom, unsigned int num, xen_pfn_t *arr);

/* XEN_DOMCTL_getpageframeinfo3 takes at most 1024 pfns a call. */
#define BATCH 1024u

bool xlmig_xen_digest_type_counts(uint64_t type)
{
	switch (type) {
	case XEN_DOMCTL_PFINFO_NOTAB:
	case XEN_DOMCTL_PFINFO_L1TAB:
	case XEN_DOMCTL_PFINFO_L1TAB | XEN_DOMCTL_PFINFO_LPINTAB:
	case XEN_DOMCTL_PFINFO_L2TAB:
	case XEN_DOMCTL_PFINFO_L2TAB | XEN_DOMCTL_PFINFO_LPINTAB:
	case XEN_DOMCTL_PFINFO_L3TAB:
	case XEN_DOMCTL_PFINFO_L3TAB | XEN_DOMCTL_PFINFO_LPINTAB:
	case XEN_DOMCTL_PFINFO_L4TAB:
	case XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB:
		return true;
	default:                       /* XTAB, XALLOC, BROKEN, unknown */
		return false;
	}
}

const uint32_t xlmig_xen_digest_params[] = {
	HVM_PARAM_STORE_PFN, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_IOREQ_PFN,
	HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_PAGING_RING_PFN, HVM_PARAM_MONITOR_RING_PFN,
	HVM_PARAM_SHARING_RING_PFN, HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES,
};
const size_t xlmig_xen_digest_nparams =
	sizeof(xlmig_xen_digest_params) / sizeof(xlmig_xen_digest_params[0]);

static void skip_add(struct xlmig_xen_digest_skip *s, uint32_t param, uint64_t first, uint64_t count)
{
	if (!first || !count || s->n == XLMIG_XEN_DIGEST_SKIP_MAX)
		return;
	s->r[s->n].first = first;
	s->r[s->n].count = count;
	s->r[s->n].param = param;
	s->n++;
}

void xlmig_xen_digest_skip_from(const struct xlmig_xen_hvm_param *p, size_t n,
				struct xlmig_xen_digest_skip *out)
{
	uint64_t server_first = 0, server_pages = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		switch (p[i].index) {
		case HVM_PARAM_STORE_PFN:
		case HVM_PARAM_CONSOLE_PFN:
		case HVM_PARAM_IOREQ_PFN:
		case HVM_PARAM_BUFIOREQ_PFN:
		case HVM_PARAM_PAGING_RING_PFN:
		case HVM_PARAM_MONITOR_RING_PFN:
		case HVM_PARAM_SHARING_RING_PFN:
			skip_add(out, p[i].index, p[i].value, 1);
			break;
		case HVM_PARAM_IOREQ_SERVER_PFN:
			server_first = p[i].value;
			break;
		case HVM_PARAM_NR_IOREQ_SERVER_PAGES:
			server_pages = p[i].value;
			break;
		}
	}
	skip_add(out, HVM_PARAM_IOREQ_SERVER_PFN, server_first, server_pages);
}

bool xlmig_xen_digest_skips(const struct xlmig_xen_digest_skip *s, uint64_t pfn, uint32_t *param)
{
	for (size_t i = 0; i < s->n; i++)
		if (pfn >= s->r[i].first && pfn - s->r[i].first < s->r[i].count) {
			if (param)
				*param = s->r[i].param;
			return true;
		}
	return false;
}

/* An HVM/PVH domain that does not run: paused, or shut down for suspend. */
static int check_stopped(xc_interface *xch, uint32_t domid)
{
	xc_dominfo_t info;

	if (xc_domain_getinfo(xch, domid, 1, &info) != 1 || info.domid != domid)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no domain with id %u on this host", domid);
	if (!info.hvm)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "domain %u is PV: its memory digest is not "
				  "defined (its page tables hold machine frames, which a restore "
				  "changes); only HVM and PVH guests have one", domid);
	if (!info.paused && !info.shutdown)
		return xlmig_fail(XLMIG_E_INVAL, "domain %u is running: its memory digest is taken "
				  "only while it is paused or suspended (xl pause it first)", domid);
	return XLMIG_OK;
}

static int read_skip(xc_interface *xch, uint32_t domid, struct xlmig_xen_digest_skip *s)
{
	struct xlmig_xen_hvm_param p[16];
	size_t n = 0;

	for (size_t i = 0; i < xlmig_xen_digest_nparams && n < 16; i++) {
		p[n].index = xlmig_xen_digest_params[i];
		if (xc_hvm_param_get(xch, domid, p[n].index, &p[n].value) < 0)
			return xlmig_xen_errno_fail(errno, domid, "xc_hvm_param_get (digest rule)");
		n++;
	}
	xlmig_xen_digest_skip_from(p, n, s);
	return XLMIG_OK;
}

/* The state one walk carries from batch to batch. */
struct walk {
	const struct xlmig_xen_handles *h;
	uint32_t domid;
	EVP_MD_CTX *md;
	FILE *dump;
	const struct xlmig_xen_digest_skip *skip;
	struct xlmig_xen_digest_stats *st;
	xen_pfn_t types[BATCH], gfns[BATCH];
	uint32_t skipped_by[BATCH];    /* of gfns[]: 0, or the param (dump only) */
	int errs[BATCH];
};

/* "DOMID PFN SHA256" and, for a page the rule leaves out, " skip:PARAM". */
static void dump_page(struct walk *w, uint64_t pfn, const void *page, uint32_t skipped_by)
{
	uint8_t d[32];
	char hex[65];

	EVP_Digest(page, XC_PAGE_SIZE, d, NULL, EVP_sha256(), NULL);
	xlmig_hex_encode(d, sizeof(d), hex);
	if (skipped_by)
		fprintf(w->dump, "%u %#" PRIx64 " %s skip:param%u\n", w->domid, pfn, hex, skipped_by);
	else
		fprintf(w->dump, "%u %#" PRIx64 " %s\n", w->domid, pfn, hex);
}

/* A page's record in the hash: its header, then its bytes unless they
 * are all zero (the header says which, so records never run together). */
static int hash_page(EVP_MD_CTX *md, uint64_t pfn, const uint8_t *page)
{
	bool zero = xlmig_page_is_zero(page);
	uint64_t head = pfn | (zero ? XLMIG_XEN_DIGEST_ZERO : 0);
	uint8_t le[8];

	for (int b = 0; b < 8; b++)
		le[b] = (uint8_t)(head >> (8 * b));
	if (EVP_DigestUpdate(md, le, sizeof(le)) != 1 ||
	    (!zero && EVP_DigestUpdate(md, page, XC_PAGE_SIZE) != 1))
		return xlmig_fail(XLMIG_E_NOMEM, "SHA-256 of guest memory failed (OpenSSL)");
	return XLMIG_OK;
}

/* The pages of [base, base + n) with data, hashed in pfn order. */
static int walk_batch(struct walk *w, uint64_t base, unsigned n)
{
	xenforeignmemory_handle *fmem = xc_interface_fmem_handle(w->h->xch);
	unsigned nmap = 0;
	uint8_t *map = NULL;
	uint64_t t0 = xlmig_now_ns();
	uint32_t param;
	int rc = XLMIG_OK;

	for (unsigned i = 0; i < n; i++)
		w->types[i] = base + i;
	if (xc_get_pfn_type_batch(w->h->xch, w->domid, n, w->types) < 0)
		return xlmig_xen_errno_fail(errno, w->domid, "xc_get_pfn_type_batch");
	w->st->types_ns += xlmig_now_ns() - t0;
	for (unsigned i = 0; i < n; i++) {
		if (!xlmig_xen_digest_type_counts(w->types[i])) {
			w->st->no_data++;
			continue;
		}
		param = 0;
		if (xlmig_xen_digest_skips(w->skip, base + i, &param)) {
			w->st->skipped++;
			if (!w->dump)      /* the dump shows what the rule left out */
				continue;
		}
		w->skipped_by[nmap] = param;
		w->gfns[nmap++] = base + i;
	}
	if (!nmap)
		return XLMIG_OK;
	map = xenforeignmemory_map(fmem, w->domid, PROT_READ, nmap, w->gfns, w->errs);
	if (!map)
		return xlmig_xen_errno_fail(errno, w->domid, "xenforeignmemory_map (memory digest)");
	for (unsigned i = 0; i < nmap && !rc; i++) {
		const uint8_t *page = map + (size_t)i * XC_PAGE_SIZE;

		if (w->errs[i]) {
			rc = xlmig_fail(XLMIG_E_HV, "domain %u: pfn %#" PRIx64 " has data but cannot be "
					"mapped (error %d): the domain changed during its digest", w->domid,
					(uint64_t)w->gfns[i], w->errs[i]);
			break;
		}
		if (w->dump)
			dump_page(w, w->gfns[i], page, w->skipped_by[i]);
		if (w->skipped_by[i])
			continue;
		rc = hash_page(w->md, w->gfns[i], page);
		w->st->pages++;
	}
	xenforeignmemory_unmap(fmem, map, nmap);
	return rc;
}

int xlmig_xen_mem_digest(const struct xlmig_xen_handles *h, uint32_t domid, uint8_t out[32],
			 FILE *dump, struct xlmig_xen_digest_stats *st)
{
	struct xlmig_xen_digest_skip skip;
	struct walk *w = NULL;
	xen_pfn_t max_gpfn = 0;
	uint64_t t0 = xlmig_now_ns();
	unsigned dlen = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = check_stopped(h->xch, domid)) || (rc = read_skip(h->xch, domid, &skip)))
		return rc;
	if (xc_domain_maximum_gpfn(h->xch, domid, &max_gpfn) < 0)
		return xlmig_xen_errno_fail(errno, domid, "xc_domain_maximum_gpfn");
	w = calloc(1, sizeof(*w));
	if (!w || !(w->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "domain %u: no memory for its memory digest", domid);
		goto out;
	}
	w->h = h;
	w->domid = domid;
	w->dump = dump;
	w->skip = &skip;
	w->st = st;
	st->pfns = (uint64_t)max_gpfn + 1;
	for (uint64_t base = 0; base < st->pfns && !rc; base += BATCH)
		rc = walk_batch(w, base, (unsigned)(st->pfns - base < BATCH ? st->pfns - base : BATCH));
	if (!rc && (EVP_DigestFinal_ex(w->md, out, &dlen) != 1 || dlen != 32))
		rc = xlmig_fail(XLMIG_E_NOMEM, "SHA-256 of guest memory failed (OpenSSL)");
	st->ns = xlmig_now_ns() - t0;
out:
	if (w)
		EVP_MD_CTX_free(w->md);
	free(w);
	return rc;
}

int xlmig_xen_hv_mem_digest(const struct xlmig_xen_handles *h, uint32_t domid, uint8_t out[32])
{
	const char *path = getenv("XLMIG_MEM_DIGEST_DUMP");
	struct xlmig_xen_digest_stats st;
	FILE *dump = NULL;
	int rc;

	if (path && *path && !(dump = fopen(path, "ae")))
		xlmig_warn("not dumping domain %u's page digests to %s: %s", domid, path, strerror(errno));
	rc = xlmig_xen_mem_digest(h, domid, out, dump, &st);
	if (dump && fclose(dump) != 0)
		xlmig_warn("dumping domain %u's page digests to %s: %s", domid, path, strerror(errno));
	if (rc)
		return xlmig_fail_prefix(rc, "memory digest of domain %u", domid);
	xlmig_info("domain %u: memory digest of %" PRIu64 " pages in %" PRIu64 " ms (%" PRIu64
		   " ms of it asking Xen the types of %" PRIu64 " pfns: %" PRIu64 " without data, %"
		   PRIu64 " dom0's by the HVM params)%s", domid, st.pages, st.ns / 1000000,
		   st.types_ns / 1000000, st.pfns, st.no_data, st.skipped, dump ? ", pages dumped" : "");
	return XLMIG_OK;
}
