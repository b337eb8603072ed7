/*
 * hv.h - the hypervisor backend interface.
 *
 * Everything above this interface (jobs, commit protocol, daemon, command
 * line) is the same for both backends:
 *   sim  the simulated host (hv_sim.c): guests are memory images with a
 *        running workload and a dirty log, living in this process
 *   xen  libxl / libxenctrl / libxenguest / libxenstore (xen_*.c)
 *
 * A save writes the whole stream (xl save header with the JSON config,
 * then the libxl stream wrapping the libxc stream) to a file descriptor;
 * a restore reads one from a file descriptor.  The migration job moves
 * the bytes in between.
 */
#ifndef XLMIG_HV_H
#define XLMIG_HV_H

#include "common.h"
#include "precopy.h"

#define XLMIG_NAME_MAX 64
#define XLMIG_INCOMING_SUFFIX "--incoming"      /* as xl migrate-receive */
#define XLMIG_MIGRATED_SUFFIX "--migratedaway"  /* as xl migrate */
/* Xen's DOMID_FIRST_RESERVED: ids from here on are not guests'. */
#define XLMIG_DOMID_FIRST_RESERVED 0x7ff0u

enum xlmig_dom_state {
	XLMIG_DOM_RUNNING = 0,
	XLMIG_DOM_PAUSED,
	XLMIG_DOM_SUSPENDED,   /* saved, waiting for resume or destroy */
	XLMIG_DOM_DYING,
};

struct xlmig_domain_info {
	uint32_t domid;
	char name[XLMIG_NAME_MAX];
	uint64_t mem_bytes;
	unsigned vcpus;
	int guest_type;        /* XLMIG_GUEST_X86_PV / _HVM (PVH is HVM) */
	enum xlmig_dom_state state;
};

/* Progress of a running save, called after every iteration. */
typedef void (*xlmig_save_progress_fn)(void *opaque, const struct xlmig_iteration *it,
				       uint64_t pages_total);

struct xlmig_save_opts {
	struct xlmig_policy *policy;     /* decides each iteration */
	xlmig_save_progress_fn progress; /* may be NULL */
	void *progress_opaque;
	volatile int *cancel;            /* nonzero: stop, return CANCELLED */
	bool debug;                      /* xl -d: also send VERIFY data */
	const char *config_override;     /* xl -C: the JSON config to send */
	bool preserve_domid;             /* xl -D: the config asks the receiver
					  * for this domain id (xen only) */
};

struct xlmig_save_result {
	uint64_t pages_total;            /* guest pages */
	uint64_t pages_sent;             /* including re-sends */
	unsigned iterations;
	uint64_t precopy_ns;
	uint64_t paused_at_ns;           /* xlmig_now_ns() when the guest stopped */
	uint8_t mem_digest[32];          /* sim only: SHA-256 of memory at pause */
	bool have_mem_digest;
};

struct xlmig_restore_opts {
	const char *name;                /* create under this name, paused */
	bool debug;
	uint32_t domid;                  /* xl -D: create with this id, which
					  * must be free; 0 = the backend picks */
};

struct xlmig_hv;

struct xlmig_hv_ops {
	const char *name;   /* "sim" or "xen" */
	void (*close)(struct xlmig_hv *hv);
	/* All domains except dom0.  *out is malloc'd. */
	int (*list)(struct xlmig_hv *hv, struct xlmig_domain_info **out, size_t *n);
	/* By name or numeric id. */
	int (*lookup)(struct xlmig_hv *hv, const char *name_or_id,
		      struct xlmig_domain_info *out);
	/* Live save to fd; on success the domain is suspended (not running). */
	int (*save_live)(struct xlmig_hv *hv, uint32_t domid, int fd,
			 const struct xlmig_save_opts *opts,
			 struct xlmig_save_result *res);
	/* Restore from fd; the new domain is paused; *domid set. */
	int (*restore)(struct xlmig_hv *hv, int fd,
		       const struct xlmig_restore_opts *opts, uint32_t *domid);
	int (*pause)(struct xlmig_hv *hv, uint32_t domid);
	int (*unpause)(struct xlmig_hv *hv, uint32_t domid);
	int (*rename)(struct xlmig_hv *hv, uint32_t domid, const char *new_name);
	int (*destroy)(struct xlmig_hv *hv, uint32_t domid);
	/* After a failed or cancelled migration: resume the suspended source
	 * domain in place (libxl_domain_resume with suspend_cancel=1). */
	int (*resume)(struct xlmig_hv *hv, uint32_t domid);
	/* Auto-converge: slow the guest down by pct percent (0 = full speed). */
	int (*set_throttle)(struct xlmig_hv *hv, uint32_t domid, unsigned pct);
};

struct xlmig_hv {
	const struct xlmig_hv_ops *ops;
	void *priv;
};

/* Open a backend by name ("sim", "xen") or "auto": xen when this host is
 * a Xen dom0 (/proc/xen and xenstore reachable), sim otherwise. */
int xlmig_hv_open(const char *name, struct xlmig_hv **out);
void xlmig_hv_close(struct xlmig_hv *hv);
/* True if this machine looks like a Xen dom0. */
bool xlmig_hv_is_xen_dom0(void);

/* The backends' constructors (hv_sim.c, xen_hv.c). */
int xlmig_hv_sim_open(struct xlmig_hv **out);
#ifdef XLMIG_HAVE_XEN
int xlmig_hv_xen_open(struct xlmig_hv **out);
#endif

#endif
