/*
 * fault.h - deterministic fault injection for the fault matrix
 * (tests/faults/): one named point per phase of a migration, where a test
 * build of xlmigd stalls, kills itself, corrupts the next bytes it sends,
 * or stops and lets the test apply a fault from outside (kill a sim host,
 * drop or stall the link, fill a disk, cancel) at exactly that phase.
 *
 * Only the test build (make faults-build: -DXLMIG_FAULT_INJECTION, into
 * build/faults/) has them.  In every other build the macros below are
 * empty and fault.c compiles to nothing, so a production xlmigd ignores
 * the environment variables whatever they say.
 *
 * A test arms one point per daemon through the environment:
 *
 *   XLMIG_FAULT=PHASE:ACTION[:ARG]
 *     stall:MS     hold the job MS milliseconds (its cancel ends the wait)
 *     kill         SIGKILL this xlmigd
 *     corrupt[:N]  flip one byte in each of the next N (default 1) writes
 *                  to a peer
 *     signal       create $XLMIG_FAULT_DIR/PHASE.hit, then wait until the
 *                  test removes it (the test applies its fault meanwhile)
 *
 *   XLMIG_FAULT_TIMEOUT_DIV=N divides the commit protocol's and the
 *   session's timeouts (those written XLMIG_FAULT_MS(ms)) by N, so that
 *   a test can stall a link past all of them in seconds, not minutes.
 *
 * The point fires the first time a job of this daemon passes it, on the
 * side(s) where the phase exists (see the table in fault.c).
 */
#ifndef XLMIG_FAULT_H
#define XLMIG_FAULT_H

#include <stdatomic.h>
#include <stddef.h>

enum xlmig_fault_phase {
	XLMIG_FAULT_HANDSHAKE = 0, /* session up, before PREFLIGHT */
	XLMIG_FAULT_PRECOPY1,      /* first page batch of the first iteration */
	XLMIG_FAULT_ITERATION,     /* a later pre-copy iteration starts */
	XLMIG_FAULT_STOPCOPY,      /* guest paused on the source, stream tail written */
	XLMIG_FAULT_DIGEST,        /* END (length and digest) about to be sent / checked */
	XLMIG_FAULT_READY,         /* READY journaled */
	XLMIG_FAULT_GO,            /* GO journaled */
	XLMIG_FAULT_UNPAUSE,       /* destination: renamed, not yet unpaused */
	XLMIG_FAULT_CLEANUP,       /* after DONE: source copy about to go */
	XLMIG_FAULT_CKPT_PAUSE,    /* a checkpoint's final pause: its last
				    * pages written, the guest not resumed */
	XLMIG_FAULT_NPHASES
};

#ifdef XLMIG_FAULT_INJECTION
/* "handshake", "precopy1", ...; NULL out of range. */
const char *xlmig_fault_phase_name(enum xlmig_fault_phase p);
/* Pass a point; cancel (may be NULL) is the job's cancel flag. */
void xlmig_fault_point(enum xlmig_fault_phase p, const atomic_bool *cancel);
/* The write path: flip a byte of buf when a corruption is armed.  The
 * buffer is the caller's, about to be sent and discarded. */
void xlmig_fault_wire(const void *buf, size_t len);
/* Re-read XLMIG_FAULT (the unit tests change it); 0 or XLMIG_E_INVAL. */
int xlmig_fault_reset(void);
/* ms divided by XLMIG_FAULT_TIMEOUT_DIV (at least 1 ms). */
int xlmig_fault_ms(int ms);
#define XLMIG_FAULT(phase, cancel) xlmig_fault_point((phase), (cancel))
#define XLMIG_FAULT_WIRE(buf, len) xlmig_fault_wire((buf), (len))
#define XLMIG_FAULT_MS(ms) xlmig_fault_ms(ms)
#else
#define XLMIG_FAULT(phase, cancel) ((void)(cancel))
#define XLMIG_FAULT_WIRE(buf, len) ((void)0)
#define XLMIG_FAULT_MS(ms) (ms)
#endif

#endif
