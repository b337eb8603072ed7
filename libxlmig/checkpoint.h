/*
 * checkpoint.h - a live checkpoint of a running guest into a file, and
 * its restore: what `xl save -c` does, but live.
 *
 * The backend's live save (log-dirty pre-copy under the pre-copy
 * policy) writes Xen's own save format into FILE.xlmig-partial while
 * the guest runs; the guest is paused only for the last dirty pages and
 * resumed (as after a cancelled suspend) as soon as the save returns,
 * before the file is synced.  Only a complete, synced file is renamed to
 * FILE, so FILE is either the previous checkpoint or the new one, never
 * half of one.  Whatever goes wrong (cancel, a full disk, a failed save)
 * the guest runs on as it was and the partial file is removed; a process
 * killed mid-way leaves the partial file and perhaps a suspended guest,
 * which xlmig_checkpoint_recover() settles.
 *
 * A checkpoint stopped for a hold (a migration of its guest) keeps its
 * partial file instead, and the next checkpoint into FILE, here or on
 * the host the guest moved to when FILE is on storage both see, goes on
 * writing it (ckpt_base.h): pages the file holds as the guest holds them
 * now are not written again.  A partial file it cannot continue (none
 * there, another guest's, a backend that cannot) is started over, and
 * the result says why.  A compressed checkpoint (the container of
 * ckpt_zip.h) is never continued: its codec frames are one sequence
 * that a new writer cannot join without reading and decoding it all, so
 * a held compressed checkpoint starts over where it is taken over, and
 * says so.  The writer of a partial file holds an exclusive
 * flock on it for as long as it writes, so two checkpoints never write
 * one file, on one host or on two.
 */
#ifndef XLMIG_CHECKPOINT_H
#define XLMIG_CHECKPOINT_H

#include "hv.h"

#define XLMIG_CHECKPOINT_PARTIAL_SUFFIX ".xlmig-partial"
/* The longest FILE accepted (its partial name must fit PATH_MAX). */
#define XLMIG_CHECKPOINT_PATH_MAX 1024

struct xlmig_checkpoint_opts {
	struct xlmig_policy_config policy;
	const atomic_bool *cancel;       /* true: stop, the guest runs on */
	xlmig_save_progress_fn progress; /* may be NULL */
	void *progress_opaque;
	bool verify;                     /* take the memory digest at the
					  * pause where the backend can (costs
					  * a pass over memory while paused) */
	/* Read when the save is cancelled: true keeps the partial file for
	 * a later checkpoint to continue (a hold), else it goes. */
	const atomic_bool *keep_partial;
	bool resuming;                   /* a held checkpoint taken over: a
					  * missing partial file is worth saying */
	int compress_level;              /* 0: Xen's own format; 1..19: the
					  * compressed container (ckpt_zip.h)
					  * at that zstd level */
};

struct xlmig_checkpoint_result {
	uint64_t pages_total;
	uint64_t pages_sent;             /* including re-sends */
	unsigned iterations;
	uint64_t file_bytes;
	uint64_t stream_bytes;           /* of the save stream (file_bytes
					  * unless compressed) */
	uint8_t stream_sha256[32];       /* compressed: of the save stream as
					  * the backend wrote it, which
					  * unpacking must give back */
	uint64_t precopy_ns;             /* guest running, pages being written */
	uint64_t pause_ns;               /* guest stopped: final pass to resume */
	uint64_t total_ns;               /* to the rename of the synced file */
	uint64_t counter;                /* the guest's counter at the pause */
	bool have_counter;
	uint8_t mem_digest[32];          /* memory at the pause (verify) */
	bool have_mem_digest;
	uint64_t continued_bytes;        /* of a partial file kept and continued */
	uint64_t pages_unchanged;        /* pages it held that were not written again */
	uint64_t bytes_written;          /* by this checkpoint: file_bytes less
					  * continued_bytes */
	char start_note[256];            /* why a partial file there was not
					  * continued (""), for the job's log */
};

/* What a checkpoint is asked for: the resume token of its backup job,
 * so that whichever host takes the job over can run it.  The token comes
 * from a peer's side record: decoding trusts nothing in it. */
struct xlmig_checkpoint_params {
	char file[XLMIG_CHECKPOINT_PATH_MAX + 1];  /* absolute */
	uint64_t downtime_ms;            /* 0 = the policy's default */
	uint64_t max_iters;              /* 0 = the policy's default */
	uint64_t compress;               /* 0 = Xen's format, else a zstd level */
	bool verify;
};
#define XLMIG_CHECKPOINT_DOWNTIME_MAX_MS 600000u
#define XLMIG_CHECKPOINT_ITERS_MAX       10000u

int xlmig_checkpoint_params_encode(const struct xlmig_checkpoint_params *p, struct xlmig_buf *out);
int xlmig_checkpoint_params_decode(const uint8_t *token, size_t len, struct xlmig_checkpoint_params *p);
/* From an already parsed object (a request carries the same fields). */
struct xlmig_json;
int xlmig_checkpoint_params_from_json(const struct xlmig_json *obj, struct xlmig_checkpoint_params *p);

/* FILE's partial name into out (XLMIG_E_LIMIT if FILE is too long). */
int xlmig_checkpoint_partial_name(const char *file, char *out, size_t len);

/* Checkpoint running domain domid into file (an absolute path).  On
 * success the guest runs and file holds the checkpoint; on failure the
 * guest runs as before and file is untouched. */
int xlmig_checkpoint_take(struct xlmig_hv *hv, uint32_t domid, const char *file,
			  const struct xlmig_checkpoint_opts *o,
			  struct xlmig_checkpoint_result *res);

/* After a process taking a checkpoint of domain (name or id) into file
 * died: the guest runs again if the save left it suspended, and the
 * partial file goes unless keep_partial (a held checkpoint, continued
 * where it is taken over) or another process writes it.  A guest that is
 * gone, or running, is left alone. */
int xlmig_checkpoint_recover(struct xlmig_hv *hv, const char *domain, const char *file,
			     bool keep_partial);
/* Remove file's partial file unless a checkpoint writes it (a held
 * checkpoint that ended without being taken over). */
int xlmig_checkpoint_discard(const char *file);

struct xlmig_checkpoint_restored {
	uint32_t domid;
	uint64_t counter;                /* before it ran (where known) */
	bool have_counter;
	uint8_t mem_digest[32];          /* before it ran (verify) */
	bool have_mem_digest;
	uint64_t restore_ns;
};

/* Create a guest from checkpoint file, in Xen's format or compressed
 * (unpacked on the way), under name (NULL: the saved one),
 * read its counter and (verify) its memory digest while still paused,
 * then unpause it unless paused.  A failed restore leaves no domain. */
int xlmig_checkpoint_restore(struct xlmig_hv *hv, const char *file, const char *name,
			     bool paused, bool verify, struct xlmig_checkpoint_restored *out);

#endif
