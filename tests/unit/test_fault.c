/*
 * test_fault.c - the fault-injection points (fault.h).  In the normal
 * build they must do nothing whatever the environment says; in the test
 * build (build/faults/unit) each action must do what it says, once.
 */
#include "unit.h"
#include "common.h"
#include "fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef XLMIG_FAULT_INJECTION

/* A production build has no points: an armed kill is ignored. */
TEST(fault_inert_without_test_build)
{
	uint8_t buf[8] = { 0 };
	atomic_bool cancel = false;

	setenv("XLMIG_FAULT", "go:kill", 1);
	XLMIG_FAULT(XLMIG_FAULT_GO, &cancel);
	setenv("XLMIG_FAULT", "handshake:corrupt", 1);
	XLMIG_FAULT(XLMIG_FAULT_HANDSHAKE, &cancel);
	XLMIG_FAULT_WIRE(buf, sizeof(buf));
	unsetenv("XLMIG_FAULT");
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0);
	setenv("XLMIG_FAULT_TIMEOUT_DIV", "10", 1);
	CHECK_EQ(XLMIG_FAULT_MS(60000), 60000);
	unsetenv("XLMIG_FAULT_TIMEOUT_DIV");
}

#else

static int arm(const char *spec)
{
	setenv("XLMIG_FAULT", spec, 1);
	return xlmig_fault_reset();
}

TEST(fault_spec_parse)
{
	static const char *const good[] = {
		"handshake:kill", "precopy1:stall:10", "cleanup:corrupt", "digest:corrupt:3",
	};
	static const char *const bad[] = {
		"go", "go:", "nowhere:kill", "go:kill:1", "go:stall", "go:stall:0",
		"go:stall:-5", "go:stall:1x", "go:explode", "ready:signal",
	};

	unsetenv("XLMIG_FAULT_DIR");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_OK(arm(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(arm(bad[i]), XLMIG_E_INVAL);
	setenv("XLMIG_FAULT_DIR", unit_tmpdir(), 1);
	CHECK_OK(arm("ready:signal"));
	unsetenv("XLMIG_FAULT");
	CHECK_OK(xlmig_fault_reset());
	CHECK_STR(xlmig_fault_phase_name(XLMIG_FAULT_UNPAUSE), "unpause");
	CHECK(xlmig_fault_phase_name(XLMIG_FAULT_NPHASES) == NULL);
}

/* Only the armed point fires, and only once; the others pass. */
TEST(fault_corrupt_once_at_its_point)
{
	uint8_t buf[16] = { 0 };

	CHECK_OK(arm("digest:corrupt:2"));
	XLMIG_FAULT(XLMIG_FAULT_READY, NULL);
	XLMIG_FAULT_WIRE(buf, sizeof(buf));
	CHECK_EQ(buf[8], 0);
	XLMIG_FAULT(XLMIG_FAULT_DIGEST, NULL);
	XLMIG_FAULT_WIRE(buf, 0);              /* an empty write is not counted */
	XLMIG_FAULT_WIRE(buf, sizeof(buf));
	CHECK_EQ(buf[8], 1);
	XLMIG_FAULT_WIRE(buf + 4, 4);
	CHECK_EQ(buf[6], 1);
	XLMIG_FAULT_WIRE(buf, sizeof(buf));    /* two writes only */
	CHECK_EQ(buf[8], 1);
	XLMIG_FAULT(XLMIG_FAULT_DIGEST, NULL); /* fired already */
	XLMIG_FAULT_WIRE(buf, sizeof(buf));
	CHECK_EQ(buf[8], 1);
}

/* A stall lasts its time, and the job's cancel ends it early. */
TEST(fault_stall_and_cancel)
{
	atomic_bool cancel = false;
	uint64_t t0;

	CHECK_OK(arm("go:stall:200"));
	t0 = xlmig_now_ns();
	XLMIG_FAULT(XLMIG_FAULT_GO, &cancel);
	CHECK(xlmig_now_ns() - t0 >= 190000000ull);
	CHECK_OK(arm("go:stall:600000"));
	atomic_store(&cancel, true);
	t0 = xlmig_now_ns();
	XLMIG_FAULT(XLMIG_FAULT_GO, &cancel);
	CHECK(xlmig_now_ns() - t0 < 60000000000ull);
}

static void *remove_marker(void *arg)
{
	const char *path = arg;

	while (access(path, F_OK) != 0)
		usleep(1000);
	unlink(path);
	return NULL;
}

/* signal: the marker appears, and the point waits until it is gone. */
TEST(fault_signal_waits_for_the_test)
{
	char path[512];
	pthread_t t;

	setenv("XLMIG_FAULT_DIR", unit_tmpdir(), 1);
	snprintf(path, sizeof(path), "%s/unpause.hit", unit_tmpdir());
	CHECK_OK(arm("unpause:signal"));
	CHECK_EQ(pthread_create(&t, NULL, remove_marker, path), 0);
	XLMIG_FAULT(XLMIG_FAULT_UNPAUSE, NULL);
	pthread_join(t, NULL);
	CHECK(access(path, F_OK) != 0);
}

TEST(fault_timeout_div)
{
	unsetenv("XLMIG_FAULT_TIMEOUT_DIV");
	CHECK_EQ(XLMIG_FAULT_MS(60000), 60000);
	setenv("XLMIG_FAULT_TIMEOUT_DIV", "10", 1);
	CHECK_EQ(XLMIG_FAULT_MS(60000), 6000);
	CHECK_EQ(XLMIG_FAULT_MS(5), 1);
	setenv("XLMIG_FAULT_TIMEOUT_DIV", "junk", 1);
	CHECK_EQ(XLMIG_FAULT_MS(60000), 60000);
	unsetenv("XLMIG_FAULT_TIMEOUT_DIV");
}

TEST(fault_kill_kills)
{
	int status = 0;
	pid_t pid;

	CHECK_OK(arm("stopcopy:kill"));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		XLMIG_FAULT(XLMIG_FAULT_STOPCOPY, NULL);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

#endif
