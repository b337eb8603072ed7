/*
 * sim_hv.h - the simulated hypervisor backend: what only sim offers
 * (creating guests with a workload, reading a guest's counter and memory
 * digest), and its save/restore engine.
 *
 * The sim host lives in the calling process (xlmigd hosts the guests).
 * Guests are sim_guest.h guests; domids increase from 1 as Xen's do.
 *
 * The engine writes and reads Xen's own stream format, as `xl migrate`
 * sends it for a PVH guest:
 *   xl save header (mandatory flags JSON | STREAMv2) with the JSON config
 *     {"c_info":{"type":"pvh","name":...},
 *      "b_info":{"max_vcpus":...,"max_memkb":...,"target_memkb":...},
 *      "xlmig_sim":{"rate":...,"pattern":...,"hot_bytes":...,"zero_pct":...,
 *                   "file_pct":...,"fill_pct":...,"seed":...}}
 *   libxl header, LIBXC_CONTEXT,
 *   libxc image header v3, domain header (x86 HVM, Xen 4.17),
 *   X86_CPUID_POLICY, X86_MSR_POLICY, STATIC_DATA_END,
 *   PAGE_DATA... (each iteration in pfn order, at most 1024 pages each),
 *   X86_TSC_INFO, HVM_CONTEXT (the sim vCPU blob, see sim_guest.h),
 *   HVM_PARAMS, libxc END, libxl END.
 * The CPU policy records describe the sim's virtual CPU and are checked
 * for shape only on restore: a sim host has no CPU features to match.
 * Such a stream is for a sim destination only: its HVM_CONTEXT is the sim
 * vCPU blob, not Xen's, and a stream without an xlmig_sim config section
 * (one saved by real Xen) is refused by the sim restore.
 */
#ifndef XLMIG_SIM_HV_H
#define XLMIG_SIM_HV_H

#include "hv.h"
#include "sim_guest.h"

struct xlmig_sim_create {
	const char *name;
	uint64_t mem_bytes;
	unsigned vcpus;
	struct xlmig_sim_workload wl;
	bool paused;          /* leave it paused instead of running */
};

/* True if hv is the sim backend (the calls below need one). */
bool xlmig_hv_is_sim(const struct xlmig_hv *hv);
int xlmig_hv_sim_create(struct xlmig_hv *hv, const struct xlmig_sim_create *c,
			uint32_t *domid);
/* Have a running guest rewrite a range of its pages now and wait until
 * it has (xlmig_sim_guest_rewrite()): a known amount of dirtying, even
 * while a save runs. */
int xlmig_hv_sim_rewrite(struct xlmig_hv *hv, uint32_t domid, uint64_t first_pfn,
			 uint64_t count);
int xlmig_hv_sim_workload(struct xlmig_hv *hv, uint32_t domid,
			  struct xlmig_sim_workload *out);
/* ---- the engine (sim_engine.c), used by sim_hv.c ---- */

/* Live-save g to fd.  On success g is paused and res filled in; on any
 * failure g runs on as before, with log-dirty off and no throttle.
 * XLMIG_E_CONVERGE when the policy aborted (the message is its reason). */
int xlmig_sim_save(struct xlmig_sim_guest *g, const char *name, int fd,
		   const struct xlmig_save_opts *opts, struct xlmig_save_result *res);
/* Read a whole stream from fd (up to libxl END) and build a paused guest
 * from it; name gets the config's c_info.name.  The fd must carry the
 * stream alone: it is read in large chunks, and bytes after the final
 * END are an error.  *out is set only on
 * success; on failure nothing is left. */
int xlmig_sim_restore(int fd, struct xlmig_sim_guest **out, char name[XLMIG_NAME_MAX]);

#endif
