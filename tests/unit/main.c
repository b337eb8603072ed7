/*
 * main.c - the unit-test runner: runs every registered TEST in its own
 * child process (with a time limit), prints one line per test ("ok",
 * "FAIL" or "skip") and ends with "N passed, N failed, N skipped".
 * Arguments are substrings: only tests whose name or file contains one of
 * them run.
 *
 * A child ends with exit(), not _exit(): LeakSanitizer runs at exit (and
 * valgrind's leak check sees a normal exit), so a test that leaks fails.
 */
#include "unit.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 2048
#define TEST_TIMEOUT_S 300
/* A child's exit status for "skipped" (automake's convention). */
#define SKIP_STATUS 77

struct unit_test {
	const char *name;
	const char *file;
	unit_fn fn;
};

static struct unit_test tests[MAX_TESTS];
static int ntests;
static int failed_flag;
static int skipped_flag;
static char tmpdir[256];
/* Why the last test skipped: shared with the children (see main). */
static char *skip_reason;
#define SKIP_REASON_MAX 256

void unit_register(const char *name, unit_fn fn, const char *file)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "unit: too many tests, raise MAX_TESTS\n");
		abort();
	}
	tests[ntests++] = (struct unit_test){ name, file, fn };
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed_flag = 1;
}

void unit_skip(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char why[SKIP_REASON_MAX];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "    %s:%d: skipped: %s\n", file, line, why);
	if (skip_reason)
		snprintf(skip_reason, SKIP_REASON_MAX, "%s", why);
	skipped_flag = 1;
}

int unit_failed(void) { return failed_flag; }

const char *unit_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

		snprintf(tmpdir, sizeof(tmpdir), "%s/xlmig-unit.XXXXXX", base);
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return tmpdir;
}

static int selected(const struct unit_test *t, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(t->name, argv[i]) || strstr(t->file, argv[i]))
			return 1;
	return 0;
}

enum outcome { PASSED, FAILED, SKIPPED };

/* Run one test in a child. */
static enum outcome run_one(const struct unit_test *t)
{
	pid_t pid;
	int status;

	if (skip_reason)
		skip_reason[0] = '\0';
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return FAILED;
	}
	if (pid == 0) {
		alarm(TEST_TIMEOUT_S);
		t->fn();
		if (tmpdir[0]) {
			char cmd[300];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
			if (system(cmd) != 0)
				fprintf(stderr, "    could not remove %s\n", tmpdir);
		}
		/* exit() runs LeakSanitizer's check: a leak exits non-zero. */
		exit(failed_flag ? 1 : skipped_flag ? SKIP_STATUS : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "    killed by signal %d%s\n", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return FAILED;
	}
	if (!WIFEXITED(status))
		return FAILED;
	switch (WEXITSTATUS(status)) {
	case 0:
		return PASSED;
	case SKIP_STATUS:
		return SKIPPED;
	default:
		if (WEXITSTATUS(status) != 1)
			fprintf(stderr, "    exited with status %d (a sanitizer's report above?)\n",
				WEXITSTATUS(status));
		return FAILED;
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A page the children write their skip reason into. */
	skip_reason = mmap(NULL, SKIP_REASON_MAX, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (skip_reason == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int i = 0; i < ntests; i++) {
		const struct unit_test *t = &tests[i];
		struct timespec a, b;

		if (!selected(t, argc, argv))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &a);
		enum outcome o = run_one(t);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
		switch (o) {
		case PASSED:
			printf("ok   %s (%s, %.0f ms)\n", t->name, t->file, ms);
			passed++;
			break;
		case SKIPPED:
			printf("skip %s (%s): %s\n", t->name, t->file, skip_reason);
			skipped++;
			break;
		default:
			printf("FAIL %s (%s, %.0f ms)\n", t->name, t->file, ms);
			failed++;
			break;
		}
	}
	munmap(skip_reason, SKIP_REASON_MAX);
	skip_reason = NULL;
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
