/*
 * test_backup_hook.c - run-parts style hooks (backup/hook.h): order,
 * environment, and hooks that fail, hang or print garbage.
 */
#include "hook.h"
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_hook(const char *dir, const char *name, mode_t mode, const char *body)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	return chmod(path, mode);
}

static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct xlmig_buf b = { 0 };

	if (fd < 0)
		return strdup("");
	xlmig_read_all(fd, 1 << 20, &b);
	close(fd);
	return b.data ? (char *)b.data : strdup("");
}

/* DIR/backup-hold with a hook of each kind; trace in DIR/trace. */
static int setup(char *root, size_t size, char *trace, size_t tsize)
{
	char ev[1024], body[2048];

	snprintf(root, size, "%s/hooks", unit_tmpdir());
	snprintf(ev, sizeof(ev), "%s/backup-hold", root);
	snprintf(trace, tsize, "%s/trace", unit_tmpdir());
	if (mkdir(root, 0700) || mkdir(ev, 0700))
		return -1;
	snprintf(body, sizeof(body), "echo \"10 $XLMIG_EVENT $XLMIG_JOB $XLMIG_TOKEN HOME=$HOME\" >> %s; echo fine", trace);
	if (write_hook(ev, "10-ok", 0755, body))
		return -1;
	snprintf(body, sizeof(body), "echo 20 >> %s; echo 'no storage' >&2; exit 3", trace);
	if (write_hook(ev, "20-fail", 0755, body))
		return -1;
	snprintf(body, sizeof(body), "echo 30 >> %s; exec sleep 30", trace);
	if (write_hook(ev, "30-hang", 0755, body))
		return -1;
	snprintf(body, sizeof(body), "echo 40 >> %s; printf 'a\\001\\377b\\n'", trace);
	if (write_hook(ev, "40-garbage", 0755, body))
		return -1;
	snprintf(body, sizeof(body), "echo 50 >> %s; kill -9 $$", trace);
	if (write_hook(ev, "50-signal", 0755, body))
		return -1;
	/* Never run: not executable, a dot file, a backup, a dpkg leftover. */
	snprintf(body, sizeof(body), "echo BAD >> %s", trace);
	if (write_hook(ev, "05-notexec", 0644, body) || write_hook(ev, ".hidden", 0755, body) ||
	    write_hook(ev, "60-old~", 0755, body) || write_hook(ev, "70.dpkg-old", 0755, body))
		return -1;
	return 0;
}

TEST(hook_policy_fail_hang_garbage)
{
	char root[512], trace[512], *text;
	struct xlmig_hook_var vars[] = {
		{ "XLMIG_EVENT", "backup-hold" }, { "XLMIG_JOB", "a-1" }, { "XLMIG_TOKEN", "00ff" },
	};
	struct xlmig_hook_report rep = { 0 };
	uint64_t t0;

	CHECK_EQ(setup(root, sizeof(root), trace, sizeof(trace)), 0);
	setenv("HOME", "/leak", 1);
	t0 = xlmig_now_ns();
	CHECK_OK(xlmig_hooks_run(root, "backup-hold", vars, 3, 300, &rep));
	/* The hang cost its timeout (and the TERM), not 30 s. */
	CHECK((xlmig_now_ns() - t0) < 5000000000ull);
	CHECK_EQ(rep.ran, 5);
	CHECK_EQ(rep.failed, 2);      /* exit 3, SIGKILL */
	CHECK_EQ(rep.timed_out, 1);
	CHECK_EQ(rep.garbage, 1);
	text = slurp(trace);
	/* Lexical order, the variables given, none of the daemon's own. */
	CHECK_STR(text, "10 backup-hold a-1 00ff HOME=\n20\n30\n40\n50\n");
	free(text);
}

TEST(hook_missing_directory_is_no_hooks)
{
	struct xlmig_hook_report rep = { 0 };

	CHECK_OK(xlmig_hooks_run(unit_tmpdir(), "migration-post", NULL, 0, 100, &rep));
	CHECK_EQ(rep.ran, 0);
	CHECK_OK(xlmig_hooks_run("/nonexistent/xlmig", "migration-post", NULL, 0, 100, &rep));
	CHECK_EQ(rep.ran, 0);
}

TEST(hook_queue_in_order_without_blocking)
{
	char root[512], ev[1024], trace[512], body[1024], num[16], *text;
	struct xlmig_hook_queue *q;
	struct xlmig_hook_report rep;
	uint64_t t0;

	snprintf(root, sizeof(root), "%s/hooks", unit_tmpdir());
	snprintf(ev, sizeof(ev), "%s/backup-resume", root);
	snprintf(trace, sizeof(trace), "%s/trace", unit_tmpdir());
	CHECK_EQ(mkdir(root, 0700), 0);
	CHECK_EQ(mkdir(ev, 0700), 0);
	snprintf(body, sizeof(body), "sleep 0.1; echo $XLMIG_JOB >> %s", trace);
	CHECK_EQ(write_hook(ev, "10-log", 0755, body), 0);
	CHECK_OK(xlmig_hook_queue_new(root, 5000, &q));
	t0 = xlmig_now_ns();
	for (int i = 0; i < 5; i++) {
		struct xlmig_hook_var v = { "XLMIG_JOB", num };
		snprintf(num, sizeof(num), "%d", i);
		CHECK_OK(xlmig_hook_queue_push(q, "backup-resume", &v, 1));
	}
	/* Pushing five 100 ms hooks took far less than one of them. */
	CHECK((xlmig_now_ns() - t0) < 90000000ull);
	CHECK_OK(xlmig_hook_queue_drain(q, 20000));
	xlmig_hook_queue_report(q, &rep);
	CHECK_EQ(rep.ran, 5);
	CHECK_EQ(rep.failed, 0);
	xlmig_hook_queue_free(q);
	text = slurp(trace);
	CHECK_STR(text, "0\n1\n2\n3\n4\n");
	free(text);
}
