/*
 * fault.c - the fault-injection points of the test build (see fault.h).
 * Without -DXLMIG_FAULT_INJECTION this file is empty.
 *
 * Where each phase's point sits:
 *
 *   phase      source (job.c; * xfer_send.c)       destination (job.c)
 *   handshake  session up, before PREFLIGHT        before reading PREFLIGHT
 *   precopy1   first PAGES frame queued *          -
 *   iteration  iteration 1 reported, 2 begins      -
 *   stopcopy   save done, guest paused, END not    -
 *              yet sent
 *   digest     END about to be queued *            stream received, digest
 *                                                  checked, restore done
 *   ready      READY received and journaled        READY journaled, not sent
 *   go         GO journaled, not sent              GO journaled, name not taken
 *   unpause    -                                   renamed, not unpaused
 *   cleanup    DONE received, own copy not yet     DONE sent, not journaled
 *              destroyed
 *
 * and one outside migrations: checkpoint-pause, in a checkpoint
 * (checkpoint.c) once its final pass is written, the guest still paused.
 */
#ifdef XLMIG_FAULT_INJECTION

#include "fault.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum action { ACT_NONE = 0, ACT_STALL, ACT_KILL, ACT_CORRUPT, ACT_SIGNAL };

static const char *const phase_names[XLMIG_FAULT_NPHASES] = {
	"handshake", "precopy1", "iteration", "stopcopy", "digest",
	"ready", "go", "unpause", "cleanup", "checkpoint-pause",
};

static struct {
	pthread_mutex_t lock;
	bool parsed;
	int phase;
	enum action action;
	long arg;
	bool fired;
	int corrupt_left;   /* writes still to corrupt */
} F = { .lock = PTHREAD_MUTEX_INITIALIZER, .phase = -1 };

const char *xlmig_fault_phase_name(enum xlmig_fault_phase p)
{
	return (unsigned)p < XLMIG_FAULT_NPHASES ? phase_names[p] : NULL;
}

static int phase_parse(const char *s, size_t len)
{
	for (int i = 0; i < XLMIG_FAULT_NPHASES; i++)
		if (strlen(phase_names[i]) == len && !strncmp(s, phase_names[i], len))
			return i;
	return -1;
}

/* PHASE:ACTION[:ARG] into F; the caller holds F.lock. */
static int parse(const char *spec)
{
	const char *c1 = strchr(spec, ':'), *act, *c2;
	size_t alen;
	char *end;

	F.action = ACT_NONE;
	F.phase = -1;
	if (!c1 || (F.phase = phase_parse(spec, (size_t)(c1 - spec))) < 0)
		goto bad;
	act = c1 + 1;
	c2 = strchr(act, ':');
	alen = c2 ? (size_t)(c2 - act) : strlen(act);
	F.arg = 0;
	if (c2) {
		errno = 0;
		F.arg = strtol(c2 + 1, &end, 10);
		if (errno || *end || end == c2 + 1 || F.arg <= 0)
			goto bad;
	}
	if (alen == 5 && !strncmp(act, "stall", 5) && c2)
		F.action = ACT_STALL;
	else if (alen == 4 && !strncmp(act, "kill", 4) && !c2)
		F.action = ACT_KILL;
	else if (alen == 7 && !strncmp(act, "corrupt", 7))
		F.action = ACT_CORRUPT;
	else if (alen == 6 && !strncmp(act, "signal", 6) && !c2 && getenv("XLMIG_FAULT_DIR"))
		F.action = ACT_SIGNAL;
	else
		goto bad;
	return XLMIG_OK;
bad:
	F.phase = -1;
	F.action = ACT_NONE;
	return xlmig_fail(XLMIG_E_INVAL, "XLMIG_FAULT='%s' is not PHASE:stall:MS, PHASE:kill, "
			  "PHASE:corrupt[:N] or PHASE:signal (with XLMIG_FAULT_DIR set)", spec);
}

int xlmig_fault_reset(void)
{
	const char *spec = getenv("XLMIG_FAULT");
	int rc = XLMIG_OK;

	pthread_mutex_lock(&F.lock);
	F.parsed = true;
	F.fired = false;
	F.corrupt_left = 0;
	F.phase = -1;
	F.action = ACT_NONE;
	if (spec && *spec)
		rc = parse(spec);
	pthread_mutex_unlock(&F.lock);
	return rc;
}

/* Is p the armed point, passed for the first time?  A bad spec stops the
 * test build at once: a test that armed nothing must not pass. */
static bool take(enum xlmig_fault_phase p)
{
	bool hit;

	pthread_mutex_lock(&F.lock);
	if (!F.parsed) {
		pthread_mutex_unlock(&F.lock);
		if (xlmig_fault_reset()) {
			xlmig_error("%s", xlmig_errmsg());
			abort();
		}
		pthread_mutex_lock(&F.lock);
	}
	hit = !F.fired && F.phase == (int)p;
	if (hit)
		F.fired = true;
	pthread_mutex_unlock(&F.lock);
	return hit;
}

static void stall(long ms, const atomic_bool *cancel)
{
	for (; ms > 0 && !(cancel && atomic_load(cancel)); ms -= 10)
		usleep(10000);
}

/* Tell the test through a marker file and wait for it to go. */
static void signal_test(enum xlmig_fault_phase p)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.hit", getenv("XLMIG_FAULT_DIR"), phase_names[p]);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		xlmig_error("fault point %s: cannot create %s: %s", phase_names[p], path, strerror(errno));
		abort();
	}
	close(fd);
	while (access(path, F_OK) == 0)
		usleep(10000);
}

void xlmig_fault_point(enum xlmig_fault_phase p, const atomic_bool *cancel)
{
	if (!take(p))
		return;
	xlmig_warn("fault point %s reached: %s", phase_names[p], getenv("XLMIG_FAULT"));
	switch (F.action) {
	case ACT_STALL:
		stall(F.arg, cancel);
		break;
	case ACT_KILL:
		raise(SIGKILL);
		break;
	case ACT_CORRUPT:
		pthread_mutex_lock(&F.lock);
		F.corrupt_left = F.arg > 0 ? (int)F.arg : 1;
		pthread_mutex_unlock(&F.lock);
		break;
	case ACT_SIGNAL:
		signal_test(p);
		break;
	case ACT_NONE:
		break;
	}
}

int xlmig_fault_ms(int ms)
{
	const char *s = getenv("XLMIG_FAULT_TIMEOUT_DIV");
	long div = s ? strtol(s, NULL, 10) : 0;

	return div > 1 ? (int)XLMIG_MAX(ms / div, 1) : ms;
}

void xlmig_fault_wire(const void *buf, size_t len)
{
	bool flip;

	if (!len)
		return;
	pthread_mutex_lock(&F.lock);
	flip = F.corrupt_left > 0;
	if (flip)
		F.corrupt_left--;
	pthread_mutex_unlock(&F.lock);
	/* The middle byte: inside a frame's payload, not its header. */
	if (flip)
		((uint8_t *)buf)[len / 2] ^= 0x01;
}

#endif
