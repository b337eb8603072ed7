/*
 * hv.h - the hypervisor backend interface.
 *
 * Everything above this interface (jobs, commit protocol, daemon, command
 * line) is the same for both backends:
 *   sim  the simulated host (sim_*.c): guests are memory images with a
 *        running workload and a dirty log
 *   xen  libxl / libxenctrl / libxenguest / libxenstore (xen_*.c)
 * Nothing outside those files names a backend: what differs between them
 * is an op here, and an op a backend cannot offer is NULL (the wrappers
 * below then fail with UNSUPPORTED, naming the backend).
 *
 * A save writes the whole stream (xl save header with the JSON config,
 * then the libxl stream wrapping the libxc stream) to a file descriptor;
 * a restore reads one from a file descriptor.  The migration job moves
 * the bytes in between.
 */
#ifndef XLMIG_HV_H
#define XLMIG_HV_H

#include "common.h"
#include "policy.h"

#include <stdatomic.h>

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
	const atomic_bool *cancel;       /* true: stop, return CANCELLED */
	bool debug;                      /* xl -d: also send VERIFY data */
	const char *config_override;     /* xl -C: the JSON config to send */
	bool preserve_domid;             /* xl -D: the config asks the receiver
					  * for this domain id (ops->keeps_domid) */
	bool mem_digest;                 /* take the digest at pause (a checkpoint's
					  * --verify): it costs a pass over memory
					  * while the guest is stopped */
	/* Continue a partial checkpoint file (ckpt_base.h), the fd placed
	 * at its end: the head is not written again (it must be the head
	 * this save would write) and the first pass skips the pages the
	 * file holds as they are now.  Only where ops->save_continues. */
	const struct xlmig_ckpt_base *base;
};

struct xlmig_save_result {
	uint64_t pages_total;            /* guest pages */
	uint64_t pages_sent;             /* including re-sends */
	unsigned iterations;
	uint64_t precopy_ns;
	uint64_t paused_at_ns;           /* xlmig_now_ns() when the guest stopped */
	uint8_t mem_digest[32];          /* SHA-256 of memory at pause, where */
	bool have_mem_digest;            /* the backend can take one (sim; xen
					  * for HVM/PVH guests) */
	uint64_t pages_unchanged;        /* opts->base: left as the file holds them */
	bool base_refused;               /* opts->base is not this guest's save:
					  * nothing was written, start over */
};

struct xlmig_restore_opts {
	const char *name;                /* create under this name, paused */
	bool debug;
	uint32_t domid;                  /* xl -D: create with this id, which
					  * must be free; 0 = the backend picks */
	/* What the config the stream carries may ask for (guest_policy.h);
	 * NULL = anything (a local restore the administrator asked for). */
	const struct xlmig_guest_policy *policy;
};

/* What xlmig create asks of a backend that can create guests. */
struct xlmig_hv_create {
	const char *name;
	uint64_t mem_bytes;
	unsigned vcpus;
	bool paused;                     /* leave it paused instead of running */
	const struct xlmig_json *params; /* the request: the backend's own
					  * parameters (sim: the workload) */
};

/* A domain that appeared or went away (ops->watch_changes). */
struct xlmig_dom_change {
	uint32_t domid;
	bool appeared;   /* else disappeared */
};

/* A guest's network interface as its host sees it (ops->nics). */
#define XLMIG_NICS_MAX 8
#define XLMIG_NIC_ADDRS_MAX 4
#define XLMIG_NIC_KEYS_MAX 16
#define XLMIG_NIC_KEY_LEN 64
struct xlmig_nic {
	char ifname[16];            /* the host's end: a Xen vif, a sim veth */
	uint8_t mac[6];             /* the guest's MAC */
	uint16_t vlan;              /* 802.1Q tag on the way out, 0: none */
	/* The guest has not connected its end yet (Xen: the vif's backend
	 * is not Connected, as on a restored guest before it runs): the
	 * kernel grants the features that need the guest's consent only
	 * once it has. */
	bool awaiting_guest;
	size_t n_ipv4, n_ipv6;      /* the guest's addresses, where known */
	uint8_t ipv4[XLMIG_NIC_ADDRS_MAX][4];
	uint8_t ipv6[XLMIG_NIC_ADDRS_MAX][16];
	/* What the backend negotiates with the guest (Xen: xenstore's
	 * frontend/ and backend/ feature-* and multi-queue-* keys). */
	size_t n_keys;
	struct {
		char key[XLMIG_NIC_KEY_LEN];
		char value[XLMIG_NIC_KEY_LEN];
	} keys[XLMIG_NIC_KEYS_MAX];
};

struct xlmig_hv;
struct xlmig_ckpt_base;
struct xlmig_guest_policy;
struct xlmig_json;
struct xlmig_preflight_guest;
struct xlmig_preflight_host;

struct xlmig_hv_ops {
	const char *name;   /* "sim" or "xen": for messages and the PREFLIGHT
			     * message, never to choose code paths */
	/* The restore can create a domain with a given id (xl -D). */
	bool keeps_domid;
	/* save_live can continue a partial checkpoint (opts->base). */
	bool save_continues;
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
	/* Preflight facts (preflight_facts.h): what DOMAIN needs of a
	 * destination (g zeroed by the caller), and what this host offers. */
	int (*preflight_guest)(struct xlmig_hv *hv, const char *domain,
			       struct xlmig_preflight_guest *g);
	int (*preflight_host)(struct xlmig_hv *hv, struct xlmig_preflight_host *h);

	/* ---- optional: NULL where the backend cannot ---- */
	/* SHA-256 of a stopped (paused or suspended) domain's memory: the
	 * same for a saved guest and for the guest restored from its save
	 * (xen: by the rule in xen_memdigest.h). */
	int (*mem_digest)(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32]);
	/* The guest's own progress counter (a running guest's grows). */
	int (*counter)(struct xlmig_hv *hv, uint32_t domid, uint64_t *out);
	/* How fast a running guest dirties its memory: pages it wrote at
	 * least once in window_ms, as bytes a second, found with the
	 * hypervisor's own dirty log.  Refused while anything else (a save)
	 * logs the guest, since the log has one reader. */
	int (*dirty_rate)(struct xlmig_hv *hv, uint32_t domid, unsigned window_ms,
			  uint64_t *bytes_per_s);
	/* Create a guest (xlmig create). */
	int (*create)(struct xlmig_hv *hv, const struct xlmig_hv_create *c, uint32_t *domid);
	/* Domains appearing and vanishing outside xlmig: watch_fd is
	 * readable when something may have changed (-1: nothing to watch);
	 * watch_changes then drains it and says what changed since the
	 * last call (at most max). */
	int (*watch_fd)(struct xlmig_hv *hv);
	int (*watch_changes)(struct xlmig_hv *hv, struct xlmig_dom_change *out,
			     size_t max, size_t *n);
	/* The guest's network interfaces (at most max) as they are now:
	 * on a restored, paused guest they exist already. */
	int (*nics)(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max,
		    size_t *n);
};

struct xlmig_hv {
	const struct xlmig_hv_ops *ops;
	void *priv;
};

/* Where to find a backend whose host runs as a process of its own (sim:
 * xlmig-simhost).  Ignored by backends that have none (xen). */
struct xlmig_hv_place {
	const char *host_socket;     /* its socket */
	const char *host_log;        /* the log of one started here (may be NULL) */
	bool start_host;             /* start one, detached, if none answers */
};

/* Open a backend by name ("sim", "xen") or "auto": xen when this host is
 * a Xen dom0 (/proc/xen and xenstore reachable), sim otherwise.  Without
 * a place (NULL) the sim host is a thread of this process (tests). */
int xlmig_hv_open_at(const char *name, const struct xlmig_hv_place *place,
		     struct xlmig_hv **out);
int xlmig_hv_open(const char *name, struct xlmig_hv **out);
void xlmig_hv_close(struct xlmig_hv *hv);
/* True if this machine looks like a Xen dom0. */
bool xlmig_hv_is_xen_dom0(void);

/* The optional ops, failing with UNSUPPORTED (naming the backend and
 * what was asked) where the backend has none. */
int xlmig_hv_mem_digest(struct xlmig_hv *hv, uint32_t domid, uint8_t out[32]);
int xlmig_hv_counter(struct xlmig_hv *hv, uint32_t domid, uint64_t *out);
/* The guest's dirty rate over window_ms (up to XLMIG_HV_DIRTY_WINDOW_MAX_MS). */
#define XLMIG_HV_DIRTY_WINDOW_MAX_MS 10000u
int xlmig_hv_dirty_rate(struct xlmig_hv *hv, uint32_t domid, unsigned window_ms,
			uint64_t *bytes_per_s);
int xlmig_hv_create(struct xlmig_hv *hv, const struct xlmig_hv_create *c, uint32_t *domid);
int xlmig_hv_nics(struct xlmig_hv *hv, uint32_t domid, struct xlmig_nic *out, size_t max, size_t *n);
/* Wait up to timeout_ms for the counter to pass `than`: the guest runs,
 * however little CPU a loaded host gives it.  XLMIG_E_TIMEOUT if not. */
int xlmig_hv_counter_passes(struct xlmig_hv *hv, uint32_t domid, uint64_t than,
			    unsigned timeout_ms);
/* After a failed or cancelled migration: give the source its guest back.
 * Only a suspended domain is resumed; one that runs, or that its
 * administrator paused, is left as it is (resuming a running guest is
 * not harmless). */
int xlmig_hv_resume_if_stopped(struct xlmig_hv *hv, uint32_t domid);
/* What changed between two sorted domid lists (at most max changes):
 * the diff behind each backend's watch_changes. */
size_t xlmig_domlist_diff(const uint32_t *old_ids, size_t n_old, const uint32_t *new_ids,
			  size_t n_new, struct xlmig_dom_change *out, size_t max);

/* The backends' constructors (sim_hv.c, xen_hv.c): a sim host in this
 * process, or the one on path (started if none answers and start). */
int xlmig_hv_sim_open(struct xlmig_hv **out);
int xlmig_hv_sim_connect(const char *path, const char *log_file, bool start,
			 struct xlmig_hv **out);
#ifdef XLMIG_HAVE_XEN
int xlmig_hv_xen_open(struct xlmig_hv **out);
#endif

#endif
