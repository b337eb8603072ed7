/*
 * hook.c - run-parts style hooks and their queue (hook.h).
 */
#include "hook.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOKS_PER_EVENT_MAX 256
#define KILL_GRACE_MS 1000

/* run-parts' rule: [A-Za-z0-9_-]+, so editor backups and dpkg leftovers
 * (foo~, foo.dpkg-old) never run. */
static bool hook_name_ok(const char *s)
{
	if (!s[0] || strlen(s) >= XLMIG_HOOK_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The hooks of one event, sorted; *n = 0 when the directory is absent. */
static int list_hooks(const char *evdir, char ***out, size_t *n)
{
	DIR *dp = opendir(evdir);
	struct dirent *de;
	char **names = NULL;
	int rc = XLMIG_OK;

	*n = 0;
	*out = NULL;
	if (!dp)
		return errno == ENOENT ? XLMIG_OK
				       : xlmig_fail(XLMIG_E_IO, "cannot read hook directory %s: %s", evdir, strerror(errno));
	if (!(names = calloc(HOOKS_PER_EVENT_MAX, sizeof(*names)))) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory listing hooks");
		goto out;
	}
	while ((de = readdir(dp))) {
		if (!hook_name_ok(de->d_name))
			continue;
		if (*n == HOOKS_PER_EVENT_MAX) {
			xlmig_warn("hook directory %s has more than %u hooks; the rest do not run", evdir,
				   HOOKS_PER_EVENT_MAX);
			break;
		}
		if (!(names[*n] = strdup(de->d_name))) {
			rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory listing hooks");
			goto out;
		}
		(*n)++;
	}
	qsort(names, *n, sizeof(*names), cmp_names);
out:
	closedir(dp);
	if (rc)
		free_names(names, *n);
	else
		*out = names;
	return rc;
}

/* The hook's environment: PATH and the given variables, nothing else. */
static char **make_env(const struct xlmig_hook_var *vars, size_t nvars)
{
	char **env = calloc(nvars + 2, sizeof(*env));
	size_t k = 0;

	if (!env)
		return NULL;
	if (!(env[k++] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")))
		goto fail;
	for (size_t i = 0; i < nvars; i++)
		if (asprintf(&env[k++], "%s=%s", vars[i].name, vars[i].value ? vars[i].value : "") < 0) {
			env[k - 1] = NULL;
			goto fail;
		}
	return env;
fail:
	for (size_t i = 0; i < k; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Output as one log-safe line: printable ASCII kept, newlines as " | ",
 * anything else as \xNN.  Returns whether there was anything else. */
static bool escape_output(const uint8_t *p, size_t len, char *out, size_t size)
{
	bool garbage = false;
	size_t k = 0;

	for (size_t i = 0; i < len && k + 5 < size; i++) {
		uint8_t ch = p[i];
		if (ch == '\n') {
			if (i + 1 < len)
				k += (size_t)snprintf(out + k, size - k, " | ");
		} else if (ch == '\t' || (ch >= 0x20 && ch < 0x7f)) {
			out[k++] = (char)ch;
		} else {
			garbage = true;
			k += (size_t)snprintf(out + k, size - k, "\\x%02x", ch);
		}
	}
	out[k] = 0;
	return garbage;
}

struct child {
	pid_t pid;
	int out_fd;
	uint8_t buf[XLMIG_HOOK_OUTPUT_MAX];
	size_t len;
	size_t dropped;
};

static int spawn_hook(const char *path, char **env, struct child *ch)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = { (char *)path, NULL };
	int pipefd[2], err;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return xlmig_fail(XLMIG_E_IO, "cannot make a pipe for hook %s: %s", path, strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	/* Its own process group, so a timeout stops what it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	{
		sigset_t none, all;
		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &all);
	}
	err = posix_spawn(&ch->pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (err) {
		close(pipefd[0]);
		return xlmig_fail(XLMIG_E_IO, "cannot run hook %s: %s", path, strerror(err));
	}
	ch->out_fd = pipefd[0];
	return XLMIG_OK;
}

/* Read its output until EOF or the deadline; true if it timed out. */
static bool collect(struct child *ch, uint64_t deadline_ns)
{
	uint8_t scratch[1024];

	for (;;) {
		uint64_t now = xlmig_now_ns();
		struct pollfd pfd = { .fd = ch->out_fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (now >= deadline_ns)
			return true;
		r = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000 + 1));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;   /* the deadline check above ends it */
		n = read(ch->out_fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++) {
			if (ch->len < sizeof(ch->buf))
				ch->buf[ch->len++] = scratch[i];
			else
				ch->dropped++;
		}
	}
}

/* Reap it; after a timeout, TERM then KILL its process group. */
static int reap(struct child *ch, bool timed_out)
{
	int status = 0;

	if (timed_out) {
		kill(-ch->pid, SIGTERM);
		for (int i = 0; i < KILL_GRACE_MS / 10; i++) {
			if (waitpid(ch->pid, &status, WNOHANG) == ch->pid)
				goto done;
			usleep(10000);
		}
		kill(-ch->pid, SIGKILL);
	}
	while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR)
		;
done:
	/* Whatever it left in its group goes too: a hook that forked a
	 * daemon and exited still holds the pipe otherwise. */
	kill(-ch->pid, SIGKILL);
	return status;
}

static void log_result(const char *path, const struct child *ch, int status, bool timed_out,
		       struct xlmig_hook_report *rep)
{
	char text[4 * XLMIG_HOOK_OUTPUT_MAX + 8];
	bool garbage = escape_output(ch->buf, ch->len, text, sizeof(text));
	bool failed = !timed_out && !(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	rep->ran++;
	if (timed_out) {
		rep->timed_out++;
		xlmig_warn("hook %s did not finish within its timeout and was killed; output: %s%s", path,
			   text[0] ? text : "(none)", ch->dropped ? " [cut]" : "");
	} else if (failed) {
		rep->failed++;
		if (WIFSIGNALED(status))
			xlmig_warn("hook %s was killed by signal %d; output: %s%s", path, WTERMSIG(status),
				   text[0] ? text : "(none)", ch->dropped ? " [cut]" : "");
		else
			xlmig_warn("hook %s failed with exit status %d; output: %s%s", path, WEXITSTATUS(status),
				   text[0] ? text : "(none)", ch->dropped ? " [cut]" : "");
	} else if (text[0]) {
		xlmig_info("hook %s: %s%s", path, text, ch->dropped ? " [cut]" : "");
	} else {
		xlmig_debug("hook %s ran", path);
	}
	if (garbage) {
		rep->garbage++;
		xlmig_warn("hook %s printed bytes that are not text (shown as \\xNN above)", path);
	}
}

int xlmig_hooks_run(const char *dir, const char *event, const struct xlmig_hook_var *vars,
		    size_t nvars, unsigned timeout_ms, struct xlmig_hook_report *rep)
{
	char evdir[1024], path[1024 + XLMIG_HOOK_NAME_MAX + 2];
	char **names = NULL, **env = NULL;
	struct child *ch = NULL;
	size_t n = 0;
	int rc;

	if ((size_t)snprintf(evdir, sizeof(evdir), "%s/%s", dir, event) >= sizeof(evdir))
		return xlmig_fail(XLMIG_E_LIMIT, "hook directory %s is too long", dir);
	if ((rc = list_hooks(evdir, &names, &n)) || n == 0)
		goto out;
	if (!(env = make_env(vars, nvars)) || !(ch = malloc(sizeof(*ch)))) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory running hooks");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		bool timed_out;
		int status;

		snprintf(path, sizeof(path), "%s/%s", evdir, names[i]);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || access(path, X_OK) != 0)
			continue;
		memset(ch, 0, sizeof(*ch));
		if (spawn_hook(path, env, ch)) {
			xlmig_warn("%s", xlmig_errmsg());
			rep->ran++;
			rep->failed++;
			continue;
		}
		timed_out = collect(ch, xlmig_now_ns() + (uint64_t)timeout_ms * 1000000u);
		close(ch->out_fd);
		status = reap(ch, timed_out);
		log_result(path, ch, status, timed_out, rep);
	}
out:
	free(ch);
	free_env(env);
	free_names(names, n);
	return rc;
}

/* ---- the queue ---- */

struct queued {
	char *event;
	struct xlmig_hook_var vars[XLMIG_HOOK_VARS_MAX];
	size_t nvars;
	struct queued *next;
};

struct xlmig_hook_queue {
	char *dir;
	unsigned timeout_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queued *head, **tail;
	bool busy, stop;
	struct xlmig_hook_report total;
};

static void queued_free(struct queued *e)
{
	for (size_t i = 0; i < e->nvars; i++) {
		free((char *)e->vars[i].name);
		free((char *)e->vars[i].value);
	}
	free(e->event);
	free(e);
}

static void *queue_main(void *arg)
{
	struct xlmig_hook_queue *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct queued *e;
		struct xlmig_hook_report rep = { 0 };

		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stop)
			break;
		e = q->head;
		q->head = e->next;
		if (!q->head)
			q->tail = &q->head;
		q->busy = true;
		pthread_mutex_unlock(&q->lock);
		if (xlmig_hooks_run(q->dir, e->event, e->vars, e->nvars, q->timeout_ms, &rep))
			xlmig_warn("hooks for %s: %s", e->event, xlmig_errmsg());
		queued_free(e);
		pthread_mutex_lock(&q->lock);
		q->total.ran += rep.ran;
		q->total.failed += rep.failed;
		q->total.timed_out += rep.timed_out;
		q->total.garbage += rep.garbage;
		q->busy = false;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int xlmig_hook_queue_new(const char *dir, unsigned timeout_ms, struct xlmig_hook_queue **out)
{
	struct xlmig_hook_queue *q = calloc(1, sizeof(*q));

	if (!q || !(q->dir = strdup(dir))) {
		free(q);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the hook queue");
	}
	q->timeout_ms = timeout_ms;
	q->tail = &q->head;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	if (pthread_create(&q->thread, NULL, queue_main, q) != 0) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
		free(q->dir);
		free(q);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the hook thread");
	}
	*out = q;
	return XLMIG_OK;
}

int xlmig_hook_queue_push(struct xlmig_hook_queue *q, const char *event,
			  const struct xlmig_hook_var *vars, size_t nvars)
{
	struct queued *e = calloc(1, sizeof(*e));

	if (nvars > XLMIG_HOOK_VARS_MAX) {
		free(e);
		return xlmig_fail(XLMIG_E_LIMIT, "a hook event has at most %u variables", XLMIG_HOOK_VARS_MAX);
	}
	if (!e || !(e->event = strdup(event)))
		goto nomem;
	for (size_t i = 0; i < nvars; i++) {
		e->vars[i].name = strdup(vars[i].name);
		e->vars[i].value = strdup(vars[i].value ? vars[i].value : "");
		e->nvars++;
		if (!e->vars[i].name || !e->vars[i].value)
			goto nomem;
	}
	pthread_mutex_lock(&q->lock);
	*q->tail = e;
	q->tail = &e->next;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return XLMIG_OK;
nomem:
	if (e)
		queued_free(e);
	return xlmig_fail(XLMIG_E_NOMEM, "out of memory queueing hooks for %s", event);
}

int xlmig_hook_queue_drain(struct xlmig_hook_queue *q, unsigned timeout_ms)
{
	uint64_t deadline = xlmig_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&q->lock);
	while (q->head || q->busy) {
		struct timespec ts;
		if (xlmig_now_ns() >= deadline) {
			rc = xlmig_fail(XLMIG_E_TIMEOUT, "hooks still running after %u ms", timeout_ms);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void xlmig_hook_queue_report(struct xlmig_hook_queue *q, struct xlmig_hook_report *out)
{
	pthread_mutex_lock(&q->lock);
	*out = q->total;
	pthread_mutex_unlock(&q->lock);
}

void xlmig_hook_queue_free(struct xlmig_hook_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	while (q->head) {
		struct queued *e = q->head;
		q->head = e->next;
		xlmig_warn("hooks for %s not run: xlmigd is stopping", e->event);
		queued_free(e);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->dir);
	free(q);
}
