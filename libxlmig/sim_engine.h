/*
 * sim_engine.h - the sim backend's save and restore: a sim guest written
 * as, and rebuilt from, a stream in Xen's format (the layout is in
 * sim_hv.h).
 *
 * The engine works on a view of a guest: its memory and dirty log mapped
 * into this process (read and written directly, page by page, as
 * libxenguest maps a domain's memory), and the few things only the
 * guest's host can do (throttle it, stop it, read and set its vCPU
 * state) as ops.  In xlmigd the view is of a guest in the sim host
 * (sim_hv.c, through the sim host's protocol); xlmig_sim_save() and
 * xlmig_sim_restore() below give the engine a guest of this process
 * (sim_guest.h), as tests and fuzzers use it.
 */
#ifndef XLMIG_SIM_ENGINE_H
#define XLMIG_SIM_ENGINE_H

#include "hv.h"
#include "sim_guest.h"

struct xlmig_sim_view_ops {
	int (*throttle)(void *opaque, unsigned pct);
	/* Stop-and-copy: pause the guest for good (it is suspended now). */
	int (*stop)(void *opaque);
	int (*get_vcpu)(void *opaque, uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN]);
	/* Check a vCPU blob against the paused guest and load it. */
	int (*set_vcpu)(void *opaque, const uint8_t *blob, size_t len);
};

struct xlmig_sim_view {
	uint8_t *mem;                    /* mem_bytes, mapped */
	int mem_fd;                      /* behind mem, to find holes; -1 */
	uint64_t mem_bytes, npages;
	unsigned vcpus;
	struct xlmig_sim_workload wl;
	_Atomic uint64_t *dirty;         /* the guest's dirty log */
	size_t dirty_words;
	const struct xlmig_sim_view_ops *ops;
	void *opaque;
};

/* Restore creates the guest the stream's config describes through this:
 * paused, its memory empty, under name (the config's c_info.name). */
struct xlmig_sim_factory {
	int (*create)(void *opaque, const char *name, uint64_t mem_bytes, unsigned vcpus,
		      const struct xlmig_sim_workload *wl, struct xlmig_sim_view *out);
	void *opaque;
};

/* Live-save the guest to fd.  Log-dirty must be on (the caller begins
 * the save); the caller also ends it, whatever the outcome: log-dirty
 * off, no throttle, and after a failure the guest running again if the
 * engine stopped it.  On success the guest is stopped and res filled in
 * (with the memory digest if opts->mem_digest).
 * XLMIG_E_CONVERGE when the policy aborted (the message is its reason). */
int xlmig_sim_engine_save(struct xlmig_sim_view *v, const char *name, int fd,
			  const struct xlmig_save_opts *opts, struct xlmig_save_result *res);
/* Read a whole stream from fd (up to libxl END) into a guest made by f.
 * The fd must carry the stream alone: it is read in large chunks, and
 * bytes after the final END are an error.  *created tells whether f made
 * a guest (the caller removes it if the restore fails); name gets the
 * config's c_info.name. */
int xlmig_sim_engine_restore(int fd, const struct xlmig_sim_factory *f, bool *created,
			     char name[XLMIG_NAME_MAX]);

/* ---- the engine on a guest of this process ---- */

/* Live-save g to fd.  On success g is paused and res filled in; on any
 * failure g runs on as before, with log-dirty off and no throttle. */
int xlmig_sim_save(struct xlmig_sim_guest *g, const char *name, int fd,
		   const struct xlmig_save_opts *opts, struct xlmig_save_result *res);
/* Restore a stream from fd into a new paused guest; *out is set only on
 * success; on failure nothing is left. */
int xlmig_sim_restore(int fd, struct xlmig_sim_guest **out, char name[XLMIG_NAME_MAX]);
/* The same from a whole stream in memory (len bytes at data), with the
 * fd's checks: what follows the final END is an error. */
int xlmig_sim_restore_mem(const void *data, size_t len, struct xlmig_sim_guest **out,
			  char name[XLMIG_NAME_MAX]);

#endif
