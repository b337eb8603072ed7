/*
 * job_record.h - what is kept of a migration job: its role, the commit
 * step it has reached, and the record the journal (journal.h) stores
 * step by step and `xlmig jobs` shows.
 *
 * This is the vocabulary the job (job.h), which writes the record before
 * it acts on each step, and the journal, which only stores it, share; it
 * lives apart from both so that neither includes the other.
 */
#ifndef XLMIG_JOB_RECORD_H
#define XLMIG_JOB_RECORD_H

#include "common.h"
#include "hv.h"          /* XLMIG_NAME_MAX: a record names its guest */

enum xlmig_job_role {
	XLMIG_ROLE_SOURCE = 0,  /* outgoing: this host sends the guest */
	XLMIG_ROLE_DEST,        /* incoming: this host receives it */
};

/* The commit steps, in the order a job passes them. */
enum xlmig_job_step {
	XLMIG_STEP_QUEUED = 0,  /* waiting for a free job slot */
	XLMIG_STEP_SETUP,       /* connect, handshake, preflight */
	XLMIG_STEP_PRECOPY,     /* the stream is flowing */
	XLMIG_STEP_READY,       /* destination holds the guest paused */
	XLMIG_STEP_GO,          /* point of no return passed */
	/* final steps */
	XLMIG_STEP_DONE,        /* guest runs on the destination only */
	XLMIG_STEP_FAILED,      /* rolled back: guest runs on the source */
	XLMIG_STEP_CANCELLED,   /* cancelled, rolled back likewise */
	XLMIG_STEP_UNKNOWN,     /* lost contact after GO: admin must check */
	XLMIG_STEP_CHECKED,     /* --check: the destination's preflight said
				 * yes; nothing was moved or created */
};

bool xlmig_step_is_final(enum xlmig_job_step step);
/* Names as the journal, `xlmig jobs` and the JSON answers spell them
 * ("precopy", "destination"); parse fails with XLMIG_E_FORMAT. */
const char *xlmig_step_name(enum xlmig_job_step step);
int xlmig_step_parse(const char *s, enum xlmig_job_step *out);
const char *xlmig_role_name(enum xlmig_job_role role);
int xlmig_role_parse(const char *s, enum xlmig_job_role *out);

#define XLMIG_JOB_ID_MAX 32
#define XLMIG_PEER_MAX 128
#define XLMIG_JOB_MSG_MAX 512
#define XLMIG_SRC_HOST_MAX 256   /* a certificate's name (chan.h's XLMIG_CHAN_NAME_MAX) */

/* A job as the journal (journal.h) keeps it, step by step. */
struct xlmig_job_record {
	char id[XLMIG_JOB_ID_MAX];       /* "17" on this host */
	enum xlmig_job_role role;
	enum xlmig_job_step step;
	char domain[XLMIG_NAME_MAX];     /* the guest's name (without suffix) */
	uint32_t domid;                  /* on this host, 0 = none yet */
	char peer[XLMIG_PEER_MAX];       /* host:port of the other side */
	/* Destination: the source's own id of this job and the source's
	 * authenticated name (its certificate's; "" without TLS), so that
	 * a source in doubt after GO can ask what became of it (fate.h). */
	char src_job[XLMIG_JOB_ID_MAX];
	char src_host[XLMIG_SRC_HOST_MAX];
	int64_t created;                 /* unix seconds */
	int64_t updated;
	int err;                         /* XLMIG_E_* of a failed job */
	char message[XLMIG_JOB_MSG_MAX]; /* what happened, for the admin */
};

#endif
