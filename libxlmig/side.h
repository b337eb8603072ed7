/*
 * side.h - side records: what travels with a migrating guest besides its
 * memory (backup holds, NIC offload state, ...), and the seam through
 * which a provider adds them on the source and consumes them on the
 * destination.
 *
 * A side record is one SIDE frame on channel 0 (wire.h): le32 type, then
 * at most XLMIG_SIDE_MAX bytes that only its provider reads.  Types are
 * registered here and nowhere else.  A provider is a table of callbacks
 * the daemon hands every job (struct xlmig_job_env); the job calls them at
 * fixed points and never knows what they carry:
 *
 *   source                                 destination
 *   source_begin   before the stream       (may wait, or refuse: the
 *                  starts, guest running    migration then fails)
 *   source_collect the stream ended,  ──▶  dest_consume, each record as
 *                  guest suspended: its     it arrives, before READY's
 *                  records are sent         GO can (channel 0 is ordered);
 *                                           an error fails the migration
 *                                          dest_restored, the guest
 *                                           restored and paused, its
 *                                           devices there: a provider acts
 *                                           on them and reports (stats,
 *                                           READY); never fails the move
 *   source_end     moved or not             dest_end   arrived or not
 *
 * Records are sent after the stream and before the source waits for
 * READY, so the destination holds every record before it can be told GO;
 * a failure anywhere before GO ends both sides with moved/arrived false.
 * After GO without an answer (the job's "unknown"), no end is called: a
 * provider settles by where the guest runs once the journal is
 * recovered.  Unknown types are logged and skipped (a newer source may
 * carry more), over-long records refused.
 */
#ifndef XLMIG_SIDE_H
#define XLMIG_SIDE_H

#include "common.h"

#include <stdatomic.h>

struct xlmig_json_writer;

/* The registry of side record types. */
enum xlmig_side_type {
	XLMIG_SIDE_BACKUP_HOLD = 1,     /* a backup job travelling with its guest (backup/) */
	XLMIG_SIDE_OFFLOAD_STATE = 2,   /* the guest's NIC offload state */
};

/* Largest record payload, checked on the way in and out. */
#define XLMIG_SIDE_MAX (64u << 10)
/* Records one provider may add to one migration. */
#define XLMIG_SIDE_RECORDS_MAX 64

/* What a provider is told about the migration. */
struct xlmig_side_ctx {
	const char *job_id;      /* this host's migration job */
	const char *domain;      /* the guest's name */
	const char *peer;        /* the other host, as this side knows it */
	const atomic_bool *cancel;    /* true once the job is cancelled */
};

/* Where source_collect puts its records. */
struct xlmig_side_out {
	uint32_t type;
	size_t n;
	struct xlmig_buf rec[XLMIG_SIDE_RECORDS_MAX];
};
/* Append one record (copied); XLMIG_E_LIMIT past the bounds. */
int xlmig_side_add(struct xlmig_side_out *out, const void *data, size_t len);

struct xlmig_side_provider {
	const char *name;
	uint32_t type;
	void *opaque;
	/* Each may be NULL. */
	int (*source_begin)(void *opaque, const struct xlmig_side_ctx *ctx);
	int (*source_collect)(void *opaque, const struct xlmig_side_ctx *ctx,
			      struct xlmig_side_out *out);
	void (*source_end)(void *opaque, const struct xlmig_side_ctx *ctx, bool moved);
	int (*dest_consume)(void *opaque, const struct xlmig_side_ctx *ctx,
			    const uint8_t *data, size_t len);
	void (*dest_end)(void *opaque, const struct xlmig_side_ctx *ctx, bool arrived);
	/* The guest (domid) is restored, paused: write what became of the
	 * provider's records as one JSON value into w (it goes into the
	 * job's stats under report_key, on both hosts), or nothing. */
	const char *report_key;
	void (*dest_restored)(void *opaque, const struct xlmig_side_ctx *ctx, uint32_t domid,
			      struct xlmig_json_writer *w);
};

/* The providers of a job, in order. */
struct xlmig_side_set {
	const struct xlmig_side_provider *const *p;
	size_t n;
};

/* Calls for the job: each walks the providers in order.  begin stops at
 * the first refusal; end and dest_end call every provider. */
int xlmig_side_source_begin(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx);
/* Collect every provider's records and hand each to send(). */
int xlmig_side_source_send(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			   int (*send)(void *opaque, uint32_t type, const void *data, size_t len),
			   void *opaque);
void xlmig_side_source_end(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			   bool moved);
/* One record received: length checked, handed to its type's provider. */
int xlmig_side_dispatch(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			uint32_t type, const uint8_t *data, size_t len);
/* Every provider's dest_restored, their reports as one JSON object
 * ({report_key: value, ...}) into *out; out->len stays 0 if none wrote. */
int xlmig_side_dest_restored(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			     uint32_t domid, struct xlmig_buf *out);
void xlmig_side_dest_end(const struct xlmig_side_set *s, const struct xlmig_side_ctx *ctx,
			 bool arrived);

#endif
