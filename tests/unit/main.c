/*
 * main.c - the unit-test runner: runs every registered TEST in its own
 * child process (with a time limit), prints one line per test and ends
 * with "N passed, N failed".  Arguments are substrings: only tests whose
 * name or file contains one of them run.
 */
#include "unit.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 2048
#define TEST_TIMEOUT_S 300

struct unit_test {
	const char *name;
	const char *file;
	unit_fn fn;
};

static struct unit_test tests[MAX_TESTS];
static int ntests;
static int failed_flag;
static char tmpdir[256];

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

/* Run one test in a child; 1 if it passed. */
static int run_one(const struct unit_test *t)
{
	pid_t pid = fork();
	int status;

	if (pid < 0) {
		perror("fork");
		return 0;
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
		_exit(failed_flag ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFSIGNALED(status))
		fprintf(stderr, "    killed by signal %d%s\n", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ntests; i++) {
		const struct unit_test *t = &tests[i];
		struct timespec a, b;

		if (!selected(t, argc, argv))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int ok = run_one(t);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
		printf("%s %s (%s, %.0f ms)\n", ok ? "ok  " : "FAIL", t->name, t->file, ms);
		if (ok)
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
