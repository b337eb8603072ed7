/*
 * sim_hv.h - the simulated hypervisor backend: what only sim offers
 * (creating guests with a workload, having one rewrite pages on demand),
 * and the stream its engine (sim_engine.h) writes and reads.
 *
 * The guests live in a sim host (sim_host.h): xlmig-simhost, a process of
 * its own that xlmigd talks to over a unix socket (xlmig_hv_sim_connect(),
 * through xlmig_hv_open_at()), or for tests a server thread of the
 * calling process (xlmig_hv_sim_open(), xlmig_hv_open("sim")).  Either
 * way the backend speaks the sim host protocol (sim_proto.h).  Guests are
 * sim_guest.h guests; domids increase from 1 as Xen's do.
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
#endif
