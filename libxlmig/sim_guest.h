/*
 * sim_guest.h - one simulated guest: a memory image, a vCPU state, a
 * workload thread that really writes pages while the guest runs, and a
 * dirty log kept the way a hypervisor keeps one.
 *
 * The workload writes pages at a configured rate and pattern, with
 * content drawn from a mix of zero, real-file and random pages.  Each
 * page written, and each millisecond of running time, advances the vCPU
 * counter; the counter is also stored in the first 8 bytes of pfn 0
 * (little endian), so a migrated guest can be checked to resume from
 * exactly the value it had when it was paused.  pfn 0 belongs to the
 * counter: the workload never writes anything else there.
 *
 * While log-dirty is on, every page written is marked in an atomic
 * bitmap after its content is complete; xlmig_sim_guest_dirty_clean()
 * reads and clears it like XEN_DOMCTL_SHADOW_OP_CLEAN.  Reading a page
 * after clearing its bit therefore either sees the final content or the
 * page is marked again.
 *
 * The vCPU count is the guest's shape (it travels in the config and the
 * vCPU blob); one workload thread does the guest's work whatever it is.
 *
 * Memory and the dirty log live in two memfds (xlmig_sim_guest_mem_fd(),
 * _state_fd()) that the sim host passes to xlmigd: xlmigd maps them and
 * reads pages and clears the log itself (struct xlmig_sim_shared), with
 * no round trip per page; everything else goes through the sim host.
 *
 * A guest is created paused.  Pause returns once the workload stands at a
 * consistent point (no page half written, counter in memory equal to the
 * vCPU counter).  The vCPU state may only be read or replaced while
 * paused.
 */
#ifndef XLMIG_SIM_GUEST_H
#define XLMIG_SIM_GUEST_H

#include "common.h"

#define XLMIG_SIM_MEM_MIN   (64ull << 20)
#define XLMIG_SIM_MEM_MAX   (8ull << 30)
#define XLMIG_SIM_VCPUS_MAX 128
#define XLMIG_SIM_RATE_MAX  (64ull << 30)   /* bytes/s */

enum xlmig_sim_pattern {
	XLMIG_SIM_UNIFORM = 0,     /* any page, uniformly */
	XLMIG_SIM_HOTSET,          /* the first hot_bytes of memory only */
	XLMIG_SIM_SEQUENTIAL,      /* a sweep over all of memory */
};

struct xlmig_sim_workload {
	uint64_t rate;               /* bytes/s written; 0 = idle */
	enum xlmig_sim_pattern pattern;
	uint64_t hot_bytes;          /* HOTSET: size of the hot set */
	unsigned zero_pct;           /* content mix: zero pages ... */
	unsigned file_pct;           /* ... real-file pages; the rest random */
	unsigned fill_pct;           /* share of memory given content at boot */
	uint64_t seed;               /* content and workload randomness */
};

/* The vCPU state, carried in the stream's HVM_CONTEXT record. */
struct xlmig_sim_vcpu {
	uint64_t counter;            /* ticks: pages written + ms of run time */
	uint64_t rng;                /* workload random state (never 0) */
	uint64_t pos;                /* SEQUENTIAL: next pfn to write */
	uint64_t pages_written;      /* by the workload, since boot */
};

/* The vCPU blob (HVM_CONTEXT body), all fields little endian:
 *   0  8  magic "XLMIGSIM"
 *   8  4  version (1)
 *  12  4  vcpus
 *  16  8  memory size in bytes
 *  24  8  counter
 *  32  8  rng
 *  40  8  pos
 *  48  8  pages_written
 * Restore checks every field against the guest it creates, and the
 * counter against the one in memory. */
#define XLMIG_SIM_VCPU_MAGIC    "XLMIGSIM"
#define XLMIG_SIM_VCPU_VERSION  1
#define XLMIG_SIM_VCPU_BLOB_LEN 56

/* The head of a guest's state memfd, the dirty bitmap after it (bit
 * pfn % 64 of word pfn / 64, set by the guest with an atomic OR once the
 * page's content is complete, read and cleared by the save with an
 * atomic exchange, as XEN_DOMCTL_SHADOW_OP_CLEAN).  Host byte order:
 * both processes run on the same machine. */
#define XLMIG_SIM_SHARED_MAGIC   0x4554415453534c58ull   /* "XLSSTATE" */
#define XLMIG_SIM_SHARED_VERSION 1u

struct xlmig_sim_shared {
	uint64_t magic;
	uint32_t version;
	uint32_t reserved;
	_Atomic uint64_t counter;    /* the vCPU counter as last advanced */
	uint64_t npages;
	uint64_t dirty_words;
	uint64_t pad[3];
	_Atomic uint64_t dirty[];
};

/* Bytes of the state memfd of a guest of npages. */
size_t xlmig_sim_shared_len(uint64_t npages);
/* A mapping of len bytes received from elsewhere: is it the state of a
 * guest of npages, in the layout above? */
int xlmig_sim_shared_check(const struct xlmig_sim_shared *sh, size_t len, uint64_t npages);
/* OR the log into out[], clear it, return how many pages it held. */
uint64_t xlmig_sim_dirty_clean(_Atomic uint64_t *dirty, size_t words, uint64_t *out);

struct xlmig_sim_guest;

void xlmig_sim_workload_default(struct xlmig_sim_workload *wl);
/* Check a workload for a guest of mem_bytes (message says what is wrong). */
int xlmig_sim_workload_check(const struct xlmig_sim_workload *wl, uint64_t mem_bytes);
const char *xlmig_sim_pattern_name(enum xlmig_sim_pattern p);
int xlmig_sim_pattern_parse(const char *s, enum xlmig_sim_pattern *out);

/* A new guest, paused.  boot = true gives memory its initial content
 * (fill_pct of the pages); a guest being restored passes false and gets
 * its memory from the stream. */
int xlmig_sim_guest_new(uint64_t mem_bytes, unsigned vcpus,
			const struct xlmig_sim_workload *wl, bool boot,
			struct xlmig_sim_guest **out);
void xlmig_sim_guest_free(struct xlmig_sim_guest *g);

int xlmig_sim_guest_pause(struct xlmig_sim_guest *g);
void xlmig_sim_guest_unpause(struct xlmig_sim_guest *g);
bool xlmig_sim_guest_paused(struct xlmig_sim_guest *g);
/* Slow the workload down by pct percent (0..99). */
void xlmig_sim_guest_set_throttle(struct xlmig_sim_guest *g, unsigned pct);
unsigned xlmig_sim_guest_throttle(const struct xlmig_sim_guest *g);
/* Have the running workload rewrite pfns first_pfn .. first_pfn+count-1
 * on top of its rate (new content from its mix, dirty-logged, each page
 * a counter tick, as its own writes), and wait until it has.  A known
 * amount of guest work that does not depend on how much CPU the workload
 * thread gets: tests use it to dirty a given set while a save runs.
 * Fails if the guest is paused, or is paused before it is done. */
int xlmig_sim_guest_rewrite(struct xlmig_sim_guest *g, uint64_t first_pfn, uint64_t count);

uint64_t xlmig_sim_guest_mem_bytes(const struct xlmig_sim_guest *g);
uint64_t xlmig_sim_guest_npages(const struct xlmig_sim_guest *g);
unsigned xlmig_sim_guest_vcpus(const struct xlmig_sim_guest *g);
const struct xlmig_sim_workload *xlmig_sim_guest_workload(const struct xlmig_sim_guest *g);
/* The memory image: read it at any time (pages may change under the
 * reader while the guest runs); write it only while paused. */
uint8_t *xlmig_sim_guest_mem(struct xlmig_sim_guest *g);
/* The memfds behind memory and the shared state (owned by the guest). */
int xlmig_sim_guest_mem_fd(const struct xlmig_sim_guest *g);
int xlmig_sim_guest_state_fd(const struct xlmig_sim_guest *g);

/* Dirty log.  The bitmap has xlmig_sim_guest_bitmap_words() words, bit
 * (pfn % 64) of word (pfn / 64). */
void xlmig_sim_guest_logdirty(struct xlmig_sim_guest *g, bool on);
size_t xlmig_sim_guest_bitmap_words(const struct xlmig_sim_guest *g);
/* OR the log into out[], clear the log, return how many pages it held. */
uint64_t xlmig_sim_guest_dirty_clean(struct xlmig_sim_guest *g, uint64_t *out);
/* The log itself (bitmap_words words), for a save that reads it. */
_Atomic uint64_t *xlmig_sim_guest_dirty_log(struct xlmig_sim_guest *g);

/* The counter as the workload last advanced it (any time), and as stored
 * in pfn 0. */
uint64_t xlmig_sim_guest_counter(const struct xlmig_sim_guest *g);
uint64_t xlmig_sim_guest_mem_counter(const struct xlmig_sim_guest *g);
/* vCPU state: only while paused. */
int xlmig_sim_guest_get_vcpu(struct xlmig_sim_guest *g, struct xlmig_sim_vcpu *out);
int xlmig_sim_guest_set_vcpu(struct xlmig_sim_guest *g, const struct xlmig_sim_vcpu *v);
/* The vCPU blob of a paused guest, and applying one to a paused guest
 * after checking it (see the layout above). */
int xlmig_sim_guest_save_vcpu(struct xlmig_sim_guest *g,
			      uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN]);
int xlmig_sim_guest_load_vcpu(struct xlmig_sim_guest *g, const uint8_t *blob, size_t len);

/* Holes: the pages of a guest's memory (mem_fd, npages) that were never
 * written, as the file system knows them (SEEK_HOLE), set in holes[]
 * (bit per pfn, as the dirty log), other bits cleared.  Reading a hole
 * through a shared mapping would allocate it (shared memory has no shared
 * zero page), so whoever only needs its content takes it as zero.  A hole
 * written after the call stops being one; the dirty log says which.
 * Returns how many pages are holes; 0 (nothing set) where the fd cannot
 * tell, which only costs the reads. */
uint64_t xlmig_sim_mem_holes(int mem_fd, uint64_t npages, uint64_t *holes);

/* SHA-256 of all of memory, and of len bytes of guest memory anywhere;
 * mem_fd (or -1) lets holes be hashed as zeroes without reading them. */
int xlmig_sim_guest_digest(struct xlmig_sim_guest *g, uint8_t out[32]);
int xlmig_sim_mem_digest(const uint8_t *mem, uint64_t len, int mem_fd, uint8_t out[32]);

#endif
