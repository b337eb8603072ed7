/*
 * journal.c - job records and the commit journal in tdb (see journal.h).
 *
 * Keys: "job/<id>" holds a record as "key=value" lines, "stats/<id>" the
 * final statistics, "next-id" the id counter, "host-id" this host's
 * identity (see xlmig_journal_host_id()).  Records are written inside
 * tdb transactions, which tdb syncs to disk on commit: once put returns,
 * a crash cannot lose the step.
 *
 * tdb is not thread-safe (its locks are per process), and every job
 * thread journals its own steps: one mutex serialises all access.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tdb.h>
#include <time.h>

#define STATE_FILE "xlmig.tdb"
#define RECORD_MAX 4096   /* a record is small; anything larger is corrupt */
#define STATS_MAX (1u << 20)

struct xlmig_journal {
	struct tdb_context *tdb;
	pthread_mutex_t lock;
	int lock_fd;                 /* flock: one daemon per state directory */
	char path[512];
};

/* ---- text form ---- */

static int put_field(struct xlmig_buf *out, const char *key, const char *value)
{
	char line[XLMIG_JOB_MSG_MAX + 64];
	int n = snprintf(line, sizeof(line), "%s=%s\n", key, value);

	if (n < 0 || (size_t)n >= sizeof(line))
		return xlmig_fail(XLMIG_E_LIMIT, "job record field %s is too long", key);
	/* A value never spans lines: the message may quote a peer's text. */
	for (char *p = line + strlen(key) + 1; p < line + n - 1; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return xlmig_buf_append(out, line, (size_t)n);
}

static int put_num(struct xlmig_buf *out, const char *key, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return put_field(out, key, num);
}

int xlmig_journal_record_encode(const struct xlmig_job_record *rec, struct xlmig_buf *out)
{
	int rc;

	if ((rc = put_field(out, "id", rec->id)) ||
	    (rc = put_field(out, "role", xlmig_role_name(rec->role))) ||
	    (rc = put_field(out, "step", xlmig_step_name(rec->step))) ||
	    (rc = put_field(out, "domain", rec->domain)) ||
	    (rc = put_num(out, "domid", rec->domid)) ||
	    (rc = put_field(out, "peer", rec->peer)) ||
	    (rc = put_num(out, "created", rec->created)) ||
	    (rc = put_num(out, "updated", rec->updated)) ||
	    (rc = put_num(out, "err", rec->err)) ||
	    (rc = put_field(out, "message", rec->message)))
		return rc;
	/* A destination's only (job_record.h); absent from older records. */
	if ((rec->src_job[0] && (rc = put_field(out, "src_job", rec->src_job))) ||
	    (rec->src_host[0] && (rc = put_field(out, "src_host", rec->src_host))))
		return rc;
	return XLMIG_OK;
}

static int copy_str(char *dst, size_t cap, const char *key, const char *v)
{
	size_t len = strlen(v);

	if (len >= cap)
		return xlmig_fail(XLMIG_E_LIMIT, "job record field %s is %zu bytes long (at most %zu)",
				  key, len, cap - 1);
	memcpy(dst, v, len + 1);
	return XLMIG_OK;
}

static int parse_ll(const char *key, const char *v, long long lo, long long hi,
		    long long *out)
{
	char *end;

	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return xlmig_fail(XLMIG_E_FORMAT, "job record field %s='%s' is not a number in range", key, v);
	*out = n;
	return XLMIG_OK;
}

static int decode_field(struct xlmig_job_record *r, const char *key, const char *v)
{
	long long n;
	int rc = XLMIG_OK;

	if (!strcmp(key, "id"))
		rc = copy_str(r->id, sizeof(r->id), key, v);
	else if (!strcmp(key, "role"))
		rc = xlmig_role_parse(v, &r->role);
	else if (!strcmp(key, "step"))
		rc = xlmig_step_parse(v, &r->step);
	else if (!strcmp(key, "domain"))
		rc = copy_str(r->domain, sizeof(r->domain), key, v);
	else if (!strcmp(key, "peer"))
		rc = copy_str(r->peer, sizeof(r->peer), key, v);
	else if (!strcmp(key, "src_job"))
		rc = copy_str(r->src_job, sizeof(r->src_job), key, v);
	else if (!strcmp(key, "src_host"))
		rc = copy_str(r->src_host, sizeof(r->src_host), key, v);
	else if (!strcmp(key, "message"))
		rc = copy_str(r->message, sizeof(r->message), key, v);
	else if (!strcmp(key, "domid")) {
		if (!(rc = parse_ll(key, v, 0, UINT32_MAX, &n)))
			r->domid = (uint32_t)n;
	} else if (!strcmp(key, "created") || !strcmp(key, "updated")) {
		if (!(rc = parse_ll(key, v, 0, INT64_MAX, &n)))
			*(key[0] == 'c' ? &r->created : &r->updated) = n;
	} else if (!strcmp(key, "err")) {
		if (!(rc = parse_ll(key, v, -1000, 0, &n)))
			r->err = (int)n;
	}
	/* Unknown keys are skipped: a newer xlmigd may add fields. */
	return rc;
}

int xlmig_journal_record_decode(const uint8_t *data, size_t len,
			    struct xlmig_job_record *out)
{
	char text[RECORD_MAX + 1];
	char *line, *save = NULL;
	int rc = XLMIG_OK;

	if (len > RECORD_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "job record of %zu bytes (at most %d): the state file is damaged",
				  len, RECORD_MAX);
	memcpy(text, data, len);
	text[len] = '\0';
	if (strlen(text) != len)
		return xlmig_fail(XLMIG_E_FORMAT, "job record contains a NUL byte: the state file is damaged");
	memset(out, 0, sizeof(*out));
	for (line = strtok_r(text, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq) {
			rc = xlmig_fail(XLMIG_E_FORMAT, "job record line without '=': the state file is damaged");
			break;
		}
		*eq = '\0';
		rc = decode_field(out, line, eq + 1);
	}
	if (!rc && !out->id[0])
		rc = xlmig_fail(XLMIG_E_FORMAT, "job record without an id: the state file is damaged");
	return rc;
}

/* ---- the database ---- */

static TDB_DATA key_of(const char *s)
{
	TDB_DATA k = { .dptr = (unsigned char *)s, .dsize = strlen(s) };
	return k;
}

static int tdb_failed(struct xlmig_journal *st, const char *what)
{
	return xlmig_fail(XLMIG_E_IO, "%s in %s failed: %s (check the disk and the state directory)",
			  what, st->path, tdb_errorstr(st->tdb));
}

/* A second daemon on the same state would "recover" the first one's
 * running jobs: refuse it. */
static int lock_dir(struct xlmig_journal *st, const char *dir)
{
	char path[512];

	if ((size_t)snprintf(path, sizeof(path), "%s/xlmigd.lock", dir) >= sizeof(path))
		return xlmig_fail(XLMIG_E_LIMIT, "state directory path %s is too long", dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0)
		return xlmig_fail(XLMIG_E_IO, "cannot create %s: %s", path, strerror(errno));
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return xlmig_fail(XLMIG_E_EXISTS, "another xlmigd uses the state directory %s: stop it or pass another --state-dir",
				  dir);
	return XLMIG_OK;
}

int xlmig_journal_open(const char *dir, struct xlmig_journal **out)
{
	struct xlmig_journal *st = calloc(1, sizeof(*st));
	int rc = XLMIG_OK;

	if (!st)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory opening the state");
	st->lock_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot create state directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((size_t)snprintf(st->path, sizeof(st->path), "%s/%s", dir, STATE_FILE) >= sizeof(st->path)) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "state directory path %s is too long", dir);
		goto out;
	}
	if ((rc = lock_dir(st, dir)))
		goto out;
	st->tdb = tdb_open(st->path, 0, TDB_INCOMPATIBLE_HASH, O_RDWR | O_CREAT, 0600);
	if (!st->tdb)
		rc = xlmig_fail(XLMIG_E_IO, "cannot open state database %s: %s (check the disk and its permissions)",
				st->path, strerror(errno));
out:
	if (rc) {
		if (st->lock_fd >= 0)
			close(st->lock_fd);
		pthread_mutex_destroy(&st->lock);
		free(st);
	} else {
		*out = st;
	}
	return rc;
}

void xlmig_journal_close(struct xlmig_journal *st)
{
	if (!st)
		return;
	tdb_close(st->tdb);
	close(st->lock_fd);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* Store one key inside its own synced transaction; st->lock is held. */
static int store_locked(struct xlmig_journal *st, const char *key,
			const void *data, size_t len)
{
	TDB_DATA v = { .dptr = (unsigned char *)data, .dsize = len };

	if (tdb_transaction_start(st->tdb) != 0)
		return tdb_failed(st, "starting a transaction");
	if (tdb_store(st->tdb, key_of(key), v, TDB_REPLACE) != 0) {
		int rc = tdb_failed(st, "writing");
		tdb_transaction_cancel(st->tdb);
		return rc;
	}
	if (tdb_transaction_commit(st->tdb) != 0)
		return tdb_failed(st, "committing");
	return XLMIG_OK;
}

static int store_synced(struct xlmig_journal *st, const char *key,
			const void *data, size_t len)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = store_locked(st, key, data, len);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static TDB_DATA fetch(struct xlmig_journal *st, const char *key)
{
	TDB_DATA v;

	pthread_mutex_lock(&st->lock);
	v = tdb_fetch(st->tdb, key_of(key));
	pthread_mutex_unlock(&st->lock);
	return v;
}

int xlmig_journal_new_id(struct xlmig_journal *st, char id[XLMIG_JOB_ID_MAX])
{
	TDB_DATA v;
	uint8_t num[8];
	uint64_t next = 1;
	int rc;

	pthread_mutex_lock(&st->lock);
	v = tdb_fetch(st->tdb, key_of("next-id"));
	if (v.dptr && v.dsize == sizeof(num))
		next = xlmig_get_le64(v.dptr);
	free(v.dptr);
	xlmig_put_le64(num, next + 1);
	rc = store_locked(st, "next-id", num, sizeof(num));
	pthread_mutex_unlock(&st->lock);
	if (!rc)
		snprintf(id, XLMIG_JOB_ID_MAX, "%" PRIu64, next);
	return rc;
}

static bool host_id_valid(const uint8_t *p, size_t len)
{
	if (len != XLMIG_HOST_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", p[i]) || !p[i])
			return false;
	return true;
}

static int new_host_id(char id[XLMIG_HOST_ID_LEN + 1])
{
	uint8_t raw[XLMIG_HOST_ID_LEN / 2];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return xlmig_fail(XLMIG_E_IO, "no random bytes for this host's id: %s", strerror(errno));
	xlmig_hex_encode(raw, sizeof(raw), id);
	return XLMIG_OK;
}

int xlmig_journal_host_id(struct xlmig_journal *st, char id[XLMIG_HOST_ID_LEN + 1])
{
	TDB_DATA v;
	int rc = XLMIG_OK;

	pthread_mutex_lock(&st->lock);
	v = tdb_fetch(st->tdb, key_of("host-id"));
	if (v.dptr && host_id_valid(v.dptr, v.dsize)) {
		memcpy(id, v.dptr, XLMIG_HOST_ID_LEN);
		id[XLMIG_HOST_ID_LEN] = 0;
	} else if (!(rc = new_host_id(id))) {
		/* Missing, or damaged: a new identity is safe, it only has to
		 * differ from every other host's and stay put from now on. */
		rc = store_locked(st, "host-id", id, XLMIG_HOST_ID_LEN);
	}
	free(v.dptr);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int job_key(char *key, size_t cap, const char *prefix, const char *id)
{
	if ((size_t)snprintf(key, cap, "%s/%s", prefix, id) >= cap)
		return xlmig_fail(XLMIG_E_LIMIT, "job id '%.40s...' is too long", id);
	return XLMIG_OK;
}

int xlmig_journal_put_u64(struct xlmig_journal *st, const char *name, uint64_t v)
{
	uint8_t num[8];
	char key[64];
	int rc = job_key(key, sizeof(key), "fact", name);

	xlmig_put_le64(num, v);
	return rc ? rc : store_synced(st, key, num, sizeof(num));
}

int xlmig_journal_get_u64(struct xlmig_journal *st, const char *name, uint64_t *v)
{
	char key[64];
	TDB_DATA d;
	int rc = job_key(key, sizeof(key), "fact", name);

	if (rc)
		return rc;
	d = fetch(st, key);
	rc = d.dptr && d.dsize == 8 ? XLMIG_OK : XLMIG_E_NOTFOUND;
	if (rc == XLMIG_OK)
		*v = xlmig_get_le64(d.dptr);
	free(d.dptr);
	return rc;
}

int xlmig_journal_put(struct xlmig_journal *st, struct xlmig_job_record *rec)
{
	struct xlmig_buf text = { 0 };
	char key[64];
	int rc;

	rec->updated = (int64_t)time(NULL);
	if (!rec->created)
		rec->created = rec->updated;
	if ((rc = job_key(key, sizeof(key), "job", rec->id)) ||
	    (rc = xlmig_journal_record_encode(rec, &text)))
		goto out;
	rc = store_synced(st, key, text.data, text.len);
out:
	xlmig_buf_free(&text);
	return rc;
}

int xlmig_journal_get(struct xlmig_journal *st, const char *id,
		    struct xlmig_job_record *out)
{
	char key[64];
	TDB_DATA v;
	int rc = job_key(key, sizeof(key), "job", id);

	if (rc)
		return rc;
	v = fetch(st, key);
	if (!v.dptr)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no job %s on this host ('xlmig jobs' lists them)", id);
	rc = xlmig_journal_record_decode(v.dptr, v.dsize, out);
	free(v.dptr);
	return rc;
}

int xlmig_journal_put_stats(struct xlmig_journal *st, const char *id, const char *json)
{
	char key[64];
	int rc = job_key(key, sizeof(key), "stats", id);

	return rc ? rc : store_synced(st, key, json, strlen(json));
}

int xlmig_journal_get_stats(struct xlmig_journal *st, const char *id, char **json)
{
	char key[64];
	TDB_DATA v;
	int rc = job_key(key, sizeof(key), "stats", id);

	if (rc)
		return rc;
	v = fetch(st, key);
	if (!v.dptr)
		return xlmig_fail(XLMIG_E_NOTFOUND, "job %s has no statistics", id);
	if (v.dsize > STATS_MAX || memchr(v.dptr, '\0', v.dsize)) {
		free(v.dptr);
		return xlmig_fail(XLMIG_E_FORMAT, "statistics of job %s are damaged", id);
	}
	*json = malloc(v.dsize + 1);
	if (*json) {
		memcpy(*json, v.dptr, v.dsize);
		(*json)[v.dsize] = '\0';
	}
	free(v.dptr);
	return *json ? XLMIG_OK : xlmig_fail(XLMIG_E_NOMEM, "out of memory reading statistics");
}

struct list_ctx {
	struct xlmig_job_record *recs;
	size_t n, cap;
	int rc;
};

static int list_one(struct tdb_context *tdb, TDB_DATA key, TDB_DATA val, void *opaque)
{
	struct list_ctx *ctx = opaque;

	if (key.dsize < 4 || memcmp(key.dptr, "job/", 4) != 0)
		return 0;
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 16;
		struct xlmig_job_record *r = realloc(ctx->recs, cap * sizeof(*r));
		if (!r) {
			ctx->rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory listing jobs");
			return -1;
		}
		ctx->recs = r;
		ctx->cap = cap;
	}
	/* A damaged record is skipped, not fatal: the others still matter. */
	if (xlmig_journal_record_decode(val.dptr, val.dsize, &ctx->recs[ctx->n]) == XLMIG_OK)
		ctx->n++;
	else
		xlmig_warn("skipping a damaged job record: %s", xlmig_errmsg());
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct xlmig_job_record *x = a, *y = b;
	unsigned long long ix = strtoull(x->id, NULL, 10), iy = strtoull(y->id, NULL, 10);

	return ix < iy ? -1 : ix > iy;
}

int xlmig_journal_list(struct xlmig_journal *st, struct xlmig_job_record **out,
		     size_t *n)
{
	struct list_ctx ctx = { 0 };

	pthread_mutex_lock(&st->lock);
	if (tdb_traverse_read(st->tdb, list_one, &ctx) < 0 && !ctx.rc)
		ctx.rc = tdb_failed(st, "listing jobs");
	pthread_mutex_unlock(&st->lock);
	if (ctx.rc) {
		free(ctx.recs);
		return ctx.rc;
	}
	if (ctx.n)
		qsort(ctx.recs, ctx.n, sizeof(*ctx.recs), by_id);
	*out = ctx.recs;
	*n = ctx.n;
	return XLMIG_OK;
}
