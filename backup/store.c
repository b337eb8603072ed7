/*
 * store.c - the backup coordinator's tdb database (store.h).
 */
#include "store.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <tdb.h>

#define KEY_PREFIX "job/"
#define KEY_NEXT "next-id"

struct xlmig_bk_store {
	struct tdb_context *tdb;
	char path[512];
};

static TDB_DATA key_of(const char *s)
{
	TDB_DATA k = { .dptr = (unsigned char *)s, .dsize = strlen(s) };
	return k;
}

static int tdb_failed(struct xlmig_bk_store *st, const char *what)
{
	return xlmig_fail(XLMIG_E_IO, "%s in %s failed: %s (check the disk and the state directory)",
			  what, st->path, tdb_errorstr(st->tdb));
}

int xlmig_bk_store_open(const char *dir, struct xlmig_bk_store **out)
{
	struct xlmig_bk_store *st = calloc(1, sizeof(*st));
	int rc = XLMIG_OK;

	if (!st)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory opening the backup state");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot create state directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((size_t)snprintf(st->path, sizeof(st->path), "%s/backup.tdb", dir) >= sizeof(st->path)) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "state directory path %s is too long", dir);
		goto out;
	}
	st->tdb = tdb_open(st->path, 0, TDB_INCOMPATIBLE_HASH, O_RDWR | O_CREAT, 0600);
	if (!st->tdb)
		rc = xlmig_fail(XLMIG_E_IO, "cannot open backup state %s: %s (check the disk and its permissions)",
				st->path, strerror(errno));
out:
	if (rc)
		free(st);
	else
		*out = st;
	return rc;
}

void xlmig_bk_store_close(struct xlmig_bk_store *st)
{
	if (!st)
		return;
	tdb_close(st->tdb);
	free(st);
}

struct load_ctx {
	struct xlmig_bk_store *st;
	struct xlmig_bk_coord *c;
	struct xlmig_bk_job job;
	int rc;
};

static int load_one(struct tdb_context *tdb, TDB_DATA key, TDB_DATA val, void *opaque)
{
	struct load_ctx *ctx = opaque;
	int rc;

	if (key.dsize < sizeof(KEY_PREFIX) - 1 || memcmp(key.dptr, KEY_PREFIX, sizeof(KEY_PREFIX) - 1))
		return 0;
	if (xlmig_bk_job_decode(val.dptr, val.dsize, &ctx->job)) {
		xlmig_warn("backup state %s: skipping damaged record %.*s: %s", ctx->st->path,
			   (int)(key.dsize < 80 ? key.dsize : 80), (const char *)key.dptr, xlmig_errmsg());
		return 0;
	}
	if ((rc = xlmig_bk_load(ctx->c, &ctx->job))) {
		ctx->rc = rc;
		return -1;
	}
	return 0;
}

int xlmig_bk_store_load(struct xlmig_bk_store *st, struct xlmig_bk_coord *c)
{
	struct load_ctx *ctx = calloc(1, sizeof(*ctx));
	TDB_DATA v;
	int rc;

	if (!ctx)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory loading the backup state");
	ctx->st = st;
	ctx->c = c;
	if (tdb_traverse_read(st->tdb, load_one, ctx) < 0 && !ctx->rc)
		ctx->rc = tdb_failed(st, "reading backup jobs");
	rc = ctx->rc;
	free(ctx);
	if (rc)
		return rc;
	v = tdb_fetch(st->tdb, key_of(KEY_NEXT));
	if (v.dptr) {
		char text[24] = "";
		char *end;
		unsigned long long n;
		memcpy(text, v.dptr, v.dsize < sizeof(text) - 1 ? v.dsize : sizeof(text) - 1);
		free(v.dptr);
		n = strtoull(text, &end, 10);
		if (*end || end == text)
			return xlmig_fail(XLMIG_E_FORMAT, "backup state %s: the id counter is damaged (move the file aside to start afresh)",
					  st->path);
		xlmig_bk_set_next_id(c, n);
	}
	return XLMIG_OK;
}

static int put(struct xlmig_bk_store *st, const char *key, const void *data, size_t len)
{
	TDB_DATA v = { .dptr = (unsigned char *)data, .dsize = len };

	return tdb_store(st->tdb, key_of(key), v, TDB_REPLACE) ? tdb_failed(st, "writing") : XLMIG_OK;
}

static int save_dirty(struct xlmig_bk_store *st, struct xlmig_bk_coord *c)
{
	const struct xlmig_bk_job *dirty[64];
	char removed[16][XLMIG_BK_ID_MAX];
	char key[1024];
	struct xlmig_buf rec = { 0 };
	size_t n;
	int rc = XLMIG_OK;

	while (!rc && (n = xlmig_bk_take_dirty(c, dirty, XLMIG_ARRAY_SIZE(dirty)))) {
		for (size_t i = 0; i < n && !rc; i++) {
			xlmig_buf_reset(&rec);
			snprintf(key, sizeof(key), KEY_PREFIX "%s", dirty[i]->id);
			if (!(rc = xlmig_bk_job_encode(dirty[i], &rec)))
				rc = put(st, key, rec.data, rec.len);
		}
	}
	while (!rc && (n = xlmig_bk_take_removed(c, removed, XLMIG_ARRAY_SIZE(removed)))) {
		for (size_t i = 0; i < n; i++) {
			snprintf(key, sizeof(key), KEY_PREFIX "%s", removed[i]);
			tdb_delete(st->tdb, key_of(key));   /* absent is fine */
		}
	}
	xlmig_buf_free(&rec);
	return rc;
}

int xlmig_bk_store_save(struct xlmig_bk_store *st, struct xlmig_bk_coord *c)
{
	char next[24];
	int rc;

	if (tdb_transaction_start(st->tdb) != 0)
		return tdb_failed(st, "starting a transaction");
	snprintf(next, sizeof(next), "%" PRIu64, xlmig_bk_next_id(c));
	if ((rc = save_dirty(st, c)) || (rc = put(st, KEY_NEXT, next, strlen(next)))) {
		tdb_transaction_cancel(st->tdb);
		return rc;
	}
	if (tdb_transaction_commit(st->tdb) != 0)
		return tdb_failed(st, "committing");
	return XLMIG_OK;
}
