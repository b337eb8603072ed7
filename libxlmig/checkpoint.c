/*
 * checkpoint.c - live checkpoints into files and their restore (see
 * checkpoint.h).  The save itself is the backend's, as for a migration;
 * what is here is the file's life (partial name, sync, rename), giving
 * the guest back, running, whatever happens, and for a compressed file
 * (ckpt_zip.h) its packing and unpacking on a thread between the backend
 * and the file.
 */
#include "checkpoint.h"
#include "ckpt_base.h"
#include "ckpt_filter.h"
#include "ckpt_zip.h"
#include "fault.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A token is small: a path and three numbers. */
#define PARAMS_JSON_MAX (XLMIG_CHECKPOINT_PATH_MAX * 6 + 256)

int xlmig_checkpoint_params_encode(const struct xlmig_checkpoint_params *p, struct xlmig_buf *out)
{
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "file", p->file);
	xlmig_json_kv_uint(&w, "downtime_ms", p->downtime_ms);
	xlmig_json_kv_uint(&w, "max_iters", p->max_iters);
	xlmig_json_kv_uint(&w, "compress", p->compress);
	xlmig_json_kv_bool(&w, "verify", p->verify);
	xlmig_json_object_close(&w);
	return xlmig_json_finish(&w);
}

static int opt_u64(const struct xlmig_json *o, const char *key, uint64_t max, uint64_t *out)
{
	int rc = xlmig_json_get_u64(o, key, out);

	if (rc == XLMIG_E_NOTFOUND) {
		*out = 0;
		return XLMIG_OK;
	}
	if (rc || *out > max)
		return xlmig_fail(XLMIG_E_INVAL, "%s is 1 to %" PRIu64 " (0: the default)", key, max);
	return XLMIG_OK;
}

int xlmig_checkpoint_params_from_json(const struct xlmig_json *o, struct xlmig_checkpoint_params *p)
{
	const char *file;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!o || o->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "a checkpoint's parameters are a JSON object");
	if (xlmig_json_get_str(o, "file", &file))
		return xlmig_fail(XLMIG_E_INVAL, "a checkpoint needs 'file', a string");
	if (file[0] != '/' || strlen(file) > XLMIG_CHECKPOINT_PATH_MAX || strlen(file) != xlmig_json_member(o, "file")->text_len)
		return xlmig_fail(XLMIG_E_INVAL, "a checkpoint file is an absolute path of at most %u bytes",
				  XLMIG_CHECKPOINT_PATH_MAX);
	snprintf(p->file, sizeof(p->file), "%s", file);
	if ((rc = opt_u64(o, "downtime_ms", XLMIG_CHECKPOINT_DOWNTIME_MAX_MS, &p->downtime_ms)) ||
	    (rc = opt_u64(o, "max_iters", XLMIG_CHECKPOINT_ITERS_MAX, &p->max_iters)) ||
	    (rc = opt_u64(o, "compress", XLMIG_CKZ_LEVEL_MAX, &p->compress)))
		return rc;
	rc = xlmig_json_get_bool(o, "verify", &p->verify);
	if (rc && rc != XLMIG_E_NOTFOUND)
		return xlmig_fail(XLMIG_E_INVAL, "verify is true or false");
	return XLMIG_OK;
}

int xlmig_checkpoint_params_decode(const uint8_t *token, size_t len, struct xlmig_checkpoint_params *p)
{
	struct xlmig_json *o = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if (len > PARAMS_JSON_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a checkpoint's token is at most %u bytes", PARAMS_JSON_MAX);
	rc = xlmig_json_parse((const char *)token, len, &o);
	if (rc == XLMIG_OK)
		rc = xlmig_checkpoint_params_from_json(o, p);
	xlmig_json_free(o);
	return rc ? xlmig_fail_prefix(rc, "the checkpoint's token") : XLMIG_OK;
}

int xlmig_checkpoint_partial_name(const char *file, char *out, size_t len)
{
	size_t n = strlen(file);

	if (n == 0 || n > XLMIG_CHECKPOINT_PATH_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a checkpoint file name is 1 to %u bytes",
				  XLMIG_CHECKPOINT_PATH_MAX);
	if ((size_t)snprintf(out, len, "%s%s", file, XLMIG_CHECKPOINT_PARTIAL_SUFFIX) >= len)
		return xlmig_fail(XLMIG_E_LIMIT, "checkpoint file name too long: %.60s...", file);
	return XLMIG_OK;
}

/* The rename is durable only once the directory is synced. */
static int sync_dir_of(const char *file)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = XLMIG_OK;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = xlmig_fail(XLMIG_E_IO, "syncing directory %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The guest is suspended after its final pass: read what it shows at
 * that instant, then let it run. */
static int resume_after_save(struct xlmig_hv *hv, uint32_t domid, struct xlmig_checkpoint_result *res)
{
	int rc;

	if (hv->ops->counter)
		res->have_counter = hv->ops->counter(hv, domid, &res->counter) == XLMIG_OK;
	rc = hv->ops->resume(hv, domid);
	if (rc)
		return xlmig_fail_prefix(rc, "the checkpoint was written but domain %u did not resume (it is suspended: 'xlmig list' shows it; resume it with the backend's tools)",
					 domid);
	return XLMIG_OK;
}

/* Synced, then renamed over file: file is whole or the old one. */
static int publish(int fd, const char *partial, const char *file, uint64_t *bytes)
{
	struct stat st;

	if (fsync(fd) < 0 || fstat(fd, &st) < 0)
		return xlmig_fail(XLMIG_E_IO, "writing checkpoint %s: %s", partial, strerror(errno));
	*bytes = (uint64_t)st.st_size;
	if (rename(partial, file) < 0)
		return xlmig_fail(XLMIG_E_IO, "renaming %s to %s: %s", partial, file, strerror(errno));
	return sync_dir_of(file);
}

/* Open FILE's partial file for writing and lock it: the lock is what
 * says a checkpoint writes it.  The lock is checked to be on the file the
 * name still gives (the last writer may have renamed or removed it
 * between our open and our lock). */
static int open_locked(const char *partial, int flags, int *out)
{
	struct stat by_fd, by_name;
	int fd = -1;

	*out = -1;
	for (int tries = 0; tries < 3; tries++) {
		fd = open(partial, flags | O_CLOEXEC, 0600);
		if (fd < 0)
			return xlmig_fail(errno == ENOENT ? XLMIG_E_NOTFOUND : XLMIG_E_IO, "opening %s: %s",
					  partial, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(fd);
			return xlmig_fail(e == EWOULDBLOCK ? XLMIG_E_EXISTS : XLMIG_E_IO, "locking %s: %s%s",
					  partial, strerror(e),
					  e == EWOULDBLOCK ? " (a checkpoint into it runs: 'xlmig backup list' shows it)" : "");
		}
		if (fstat(fd, &by_fd) == 0 && stat(partial, &by_name) == 0 &&
		    by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino) {
			*out = fd;
			return XLMIG_OK;
		}
		close(fd);
	}
	return xlmig_fail(XLMIG_E_EXISTS, "%s keeps changing under us: another checkpoint into it ends and starts; try again",
			  partial);
}

static int cut_at(int fd, uint64_t len, const char *partial)
{
	if (ftruncate(fd, (off_t)len) < 0 || lseek(fd, (off_t)len, SEEK_SET) < 0)
		return xlmig_fail(XLMIG_E_IO, "cutting %s at %llu bytes: %s", partial,
				  (unsigned long long)len, strerror(errno));
	return XLMIG_OK;
}

/* What the locked partial file on fd already holds, if this checkpoint
 * can go on writing it (*base, fd placed at its end); else the file is
 * emptied for a fresh start, with res->start_note saying why. */
static int continue_partial(struct xlmig_hv *hv, uint32_t domid, int fd, const char *partial,
			    const struct xlmig_checkpoint_opts *o, struct xlmig_ckpt_base **base,
			    struct xlmig_checkpoint_result *res)
{
	struct xlmig_domain_info di;
	struct stat st;
	char id[16];
	int rc;

	*base = NULL;
	if (fstat(fd, &st) < 0)
		return xlmig_fail(XLMIG_E_IO, "reading %s: %s", partial, strerror(errno));
	snprintf(id, sizeof(id), "%u", domid);
	if (st.st_size == 0) {
		if (o->resuming)
			snprintf(res->start_note, sizeof(res->start_note),
				 "no partial file to continue here (it is not on storage both hosts see, or nothing was written before the hold): started over");
	} else if (o->compress_level) {
		snprintf(res->start_note, sizeof(res->start_note),
			 "a compressed checkpoint is not continued (its codec frames are one sequence a new writer cannot join): started over");
	} else if ((rc = hv->ops->lookup(hv, id, &di))) {
		return xlmig_fail_prefix(rc, "checkpoint of domain %u", domid);
	} else if (xlmig_ckpt_base_read(fd, di.mem_bytes / XLMIG_PAGE_SIZE, base)) {
		snprintf(res->start_note, sizeof(res->start_note), "the partial file cannot be continued (%.180s): started over",
			 xlmig_errmsg());
	}
	return cut_at(fd, *base ? (*base)->end : 0, partial);
}

/* What a save goes through on its way to the file, on a thread of its
 * own at the far end of a socket pair from the backend: packed
 * (ckpt_zip.h), filtered onto the partial file it continues
 * (ckpt_filter.h), or copied as it comes.  Every save goes through it so
 * that a cancel (a hold) stops the save at once: the stage shuts its
 * socket down and the backend's next write fails.  A backend that looks
 * at the cancel only between passes (Xen's libxenguest) would otherwise
 * write its whole first pass first, longer than a migration waits for a
 * hold. */
struct save_stage {
	int sock[2];                     /* [0] the backend's, [1] the stage's */
	int fd;                          /* the file */
	struct xlmig_sink file;          /* onto fd, for the packer */
	struct xlmig_ckz_writer *zip;    /* pack, or ... */
	struct xlmig_ckpt_filter *filter;/* ... continue the file, or copy */
	const atomic_bool *cancel;
	int rc;
	bool at_end;                     /* rc is the stream's verdict at its end */
	char msg[256];
	pthread_t tid;
};

#define STAGE_CHUNK (1u << 20)
#define STAGE_POLL_MS 50

static int stage_take(struct save_stage *st, const uint8_t *data, size_t len)
{
	if (st->zip)
		return xlmig_ckz_writer_feed(st->zip, data, len);
	if (st->filter)
		return xlmig_ckpt_filter_feed(st->filter, data, len);
	return xlmig_write_full(st->fd, data, len);
}

static int stage_finish(struct save_stage *st)
{
	st->at_end = true;
	if (st->zip)
		return xlmig_ckz_writer_finish(st->zip);
	return st->filter ? xlmig_ckpt_filter_finish(st->filter) : XLMIG_OK;
}

static void *stage_main(void *arg)
{
	struct save_stage *st = arg;
	uint8_t *buf = malloc(STAGE_CHUNK);
	ssize_t n = 1;
	int rc = buf ? XLMIG_OK : xlmig_fail(XLMIG_E_NOMEM, "out of memory for the checkpoint's writer");

	while (rc == XLMIG_OK && n != 0) {
		struct pollfd pfd = { .fd = st->sock[1], .events = POLLIN };

		if (st->cancel && atomic_load(st->cancel)) {
			rc = xlmig_fail(XLMIG_E_CANCELLED, "checkpoint cancelled");
			break;
		}
		if (poll(&pfd, 1, STAGE_POLL_MS) <= 0)
			continue;
		n = read(st->sock[1], buf, STAGE_CHUNK);
		if (n > 0)
			rc = stage_take(st, buf, (size_t)n);
		else if (n < 0 && errno != EINTR && errno != EAGAIN)
			rc = xlmig_fail(XLMIG_E_IO, "reading the save stream: %s", strerror(errno));
	}
	if (rc == XLMIG_OK)
		rc = stage_finish(st);
	if (rc)
		snprintf(st->msg, sizeof(st->msg), "%s", xlmig_errmsg());
	st->rc = rc;
	/* The backend's next write fails instead of waiting for a reader
	 * that is gone. */
	shutdown(st->sock[1], SHUT_RDWR);
	free(buf);
	return NULL;
}

static int stage_start(struct save_stage *st, int fd, int level, const struct xlmig_ckpt_base *base,
		       const atomic_bool *cancel)
{
	int rc = XLMIG_OK, err;

	memset(st, 0, sizeof(*st));
	st->sock[0] = st->sock[1] = -1;
	st->fd = fd;
	st->file = (struct xlmig_sink){ xlmig_sink_fd_write, &st->fd };
	st->cancel = cancel;
	if (level)
		rc = xlmig_ckz_writer_new(&st->file, level, &st->zip);
	else if (base)
		rc = xlmig_ckpt_filter_new(base, fd, &st->filter);
	if (rc == XLMIG_OK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->sock) < 0)
		rc = xlmig_fail(XLMIG_E_IO, "a socket pair for the checkpoint's writer: %s", strerror(errno));
	if (rc == XLMIG_OK && (err = pthread_create(&st->tid, NULL, stage_main, st)))
		rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start a thread: %s", strerror(err));
	if (rc) {
		if (st->sock[0] >= 0) {
			close(st->sock[0]);
			close(st->sock[1]);
		}
		xlmig_ckz_writer_free(st->zip);
		xlmig_ckpt_filter_free(st->filter);
	}
	return rc;
}

/* The backend's save has returned rc: the result of both.  The stage's
 * own failure or cancel explains the backend's broken connection; a
 * stream cut short is what a failed save leaves. */
static int stage_end(struct save_stage *st, int rc, struct xlmig_save_result *sr,
		     struct xlmig_checkpoint_result *res)
{
	const char *over;

	close(st->sock[0]);
	pthread_join(st->tid, NULL);
	close(st->sock[1]);
	if (st->rc && (rc == XLMIG_OK || !st->at_end))
		rc = xlmig_fail(st->rc, "%s", st->msg);
	if (st->zip) {
		const struct xlmig_ckz_stats *z = xlmig_ckz_writer_stats(st->zip);

		res->stream_bytes = z->stream_bytes;
		memcpy(res->stream_sha256, z->stream_sha256, sizeof(res->stream_sha256));
	}
	if (st->filter && rc == XLMIG_OK) {
		sr->pages_unchanged = xlmig_ckpt_filter_unchanged(st->filter);
		over = xlmig_ckpt_filter_started_over(st->filter);
		snprintf(res->start_note, sizeof(res->start_note), "%s", over ? over : "");
	}
	xlmig_ckz_writer_free(st->zip);
	xlmig_ckpt_filter_free(st->filter);
	return rc;
}

static int save_live(struct xlmig_hv *hv, uint32_t domid, int fd, int level,
		     const struct xlmig_ckpt_base *filter_base, struct xlmig_save_opts *so,
		     struct xlmig_save_result *sr, struct xlmig_checkpoint_result *res)
{
	struct xlmig_sigpipe_guard g;
	struct save_stage st;
	int rc = stage_start(&st, fd, level, filter_base, so->cancel);

	if (rc)
		return rc;
	xlmig_sigpipe_block(&g);
	rc = hv->ops->save_live(hv, domid, st.sock[0], so, sr);
	xlmig_sigpipe_restore(&g);
	return stage_end(&st, rc, sr, res);
}

/* The backend's save, continuing *base: by the backend itself where it
 * can, else through the filter (ckpt_filter.h).  A base the backend finds
 * is not this guest's costs nothing and the save starts over; the filter
 * starts over by itself. */
static int save(struct xlmig_hv *hv, uint32_t domid, int fd, const char *partial,
		struct xlmig_save_opts *so, struct xlmig_ckpt_base *base, int level,
		struct xlmig_save_result *sr, struct xlmig_checkpoint_result *res)
{
	int rc;

	if (base && !hv->ops->save_continues) {
		so->base = NULL;
		rc = save_live(hv, domid, fd, level, base, so, sr, res);
		if (rc == XLMIG_OK && res->start_note[0] == '\0')
			res->continued_bytes = base->end;
		return rc;
	}
	so->base = base;
	rc = save_live(hv, domid, fd, level, NULL, so, sr, res);
	if (rc && base && sr->base_refused) {
		snprintf(res->start_note, sizeof(res->start_note), "%.200s: started over", xlmig_errmsg());
		so->base = NULL;
		rc = cut_at(fd, 0, partial);
		if (rc == XLMIG_OK)
			rc = save_live(hv, domid, fd, level, NULL, so, sr, res);
	}
	if (rc == XLMIG_OK && so->base)
		res->continued_bytes = base->end;
	return rc;
}

/* A compressed file's unpacking, on a thread of its own between the file
 * and a pipe into the backend's restore.  It closes its pipe end as soon
 * as it stops, so the backend sees an error instead of blocking on a
 * writer that is gone. */
struct unpacker {
	int in, out;
	int rc;
	char msg[256];
	struct xlmig_ckz_stats st;
	pthread_t tid;
};

static void *unpacker_main(void *arg)
{
	struct unpacker *u = arg;

	u->rc = xlmig_ckz_unpack_fd(u->in, u->out, &u->st);
	if (u->rc)
		snprintf(u->msg, sizeof(u->msg), "%s", xlmig_errmsg());
	close(u->out);
	return NULL;
}

/* Start u from fd; *backend_fd is the pipe's read end, for the restore. */
static int unpacker_start(struct unpacker *u, int fd, int *backend_fd)
{
	int p[2], err;

	memset(u, 0, sizeof(*u));
	if (pipe2(p, O_CLOEXEC) < 0)
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	u->in = fd;
	u->out = p[1];
	*backend_fd = p[0];
	err = pthread_create(&u->tid, NULL, unpacker_main, u);
	if (err) {
		close(p[0]);
		close(p[1]);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start a thread: %s", strerror(err));
	}
	return XLMIG_OK;
}

/* The backend's end is closed and the unpacker joined: the result of
 * both, the backend's rc first unless the unpacker's failure caused it
 * (a damaged file). */
static int unpacker_end(struct unpacker *u, int backend_fd, int rc)
{
	close(backend_fd);
	pthread_join(u->tid, NULL);
	if (u->rc && (rc == XLMIG_OK || (u->rc != XLMIG_E_TRUNCATED && u->rc != XLMIG_E_CLOSED)))
		return xlmig_fail(u->rc, "%s", u->msg);
	return rc;
}

int xlmig_checkpoint_take(struct xlmig_hv *hv, uint32_t domid, const char *file,
			  const struct xlmig_checkpoint_opts *o,
			  struct xlmig_checkpoint_result *res)
{
	struct xlmig_policy policy;
	struct xlmig_save_opts so = {
		.policy = &policy, .progress = o->progress, .progress_opaque = o->progress_opaque,
		.cancel = o->cancel, .mem_digest = o->verify,
	};
	struct xlmig_save_result sr = { 0 };
	struct xlmig_ckpt_base *base = NULL;
	char partial[PATH_MAX], msg[512];
	uint64_t start = xlmig_now_ns();
	bool resumed = false, published = false, keep;
	int fd = -1, rc;

	memset(res, 0, sizeof(*res));
	if (file[0] != '/')
		return xlmig_fail(XLMIG_E_INVAL, "checkpoint file '%.60s' must be an absolute path", file);
	if ((rc = xlmig_checkpoint_partial_name(file, partial, sizeof(partial))) ||
	    (rc = open_locked(partial, O_RDWR | O_CREAT, &fd)))
		return rc;
	xlmig_policy_init(&policy, &o->policy);
	rc = continue_partial(hv, domid, fd, partial, o, &base, res);
	if (rc == XLMIG_OK)
		rc = save(hv, domid, fd, partial, &so, base, o->compress_level, &sr, res);
	if (rc)
		goto out;
	XLMIG_FAULT(XLMIG_FAULT_CKPT_PAUSE, o->cancel);
	rc = resume_after_save(hv, domid, res);
	resumed = rc == XLMIG_OK;
	/* A cancel or a hold that came in the final pause: the guest runs
	 * again, and the file is kept partial or removed, never published
	 * for a job that did not end "done". */
	if (rc == XLMIG_OK && o->cancel && atomic_load(o->cancel))
		rc = xlmig_fail(XLMIG_E_CANCELLED, "cancelled in the checkpoint's final pause: "
				"the guest runs on, the file is not published");
	if (rc)
		goto out;
	res->pause_ns = xlmig_now_ns() - sr.paused_at_ns;
	res->precopy_ns = sr.precopy_ns;
	res->pages_total = sr.pages_total;
	res->pages_sent = sr.pages_sent;
	res->pages_unchanged = sr.pages_unchanged;
	res->iterations = sr.iterations;
	res->have_mem_digest = sr.have_mem_digest;
	memcpy(res->mem_digest, sr.mem_digest, sizeof(res->mem_digest));
	rc = publish(fd, partial, file, &res->file_bytes);
	published = rc == XLMIG_OK;
	if (!o->compress_level)
		res->stream_bytes = res->file_bytes;
	res->bytes_written = res->file_bytes - res->continued_bytes;
	res->total_ns = xlmig_now_ns() - start;
out:
	xlmig_ckpt_base_free(base);
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
		/* A backend that failed its save may still hold the guest
		 * suspended; the checkpoint must not cost the guest its run. */
		if (!resumed && xlmig_hv_resume_if_stopped(hv, domid))
			xlmig_error("checkpoint of domain %u: %s", domid, xlmig_errmsg());
		/* Held: what was written stays, synced, for whoever takes the
		 * checkpoint over (here or on the guest's next host). */
		keep = rc == XLMIG_E_CANCELLED && o->keep_partial && atomic_load(o->keep_partial);
		if (keep && fsync(fd) < 0)
			xlmig_error("checkpoint of domain %u: syncing %s: %s", domid, partial, strerror(errno));
		if (!keep && !published && unlink(partial) < 0 && errno != ENOENT)
			xlmig_error("checkpoint of domain %u: removing %s: %s", domid, partial, strerror(errno));
		rc = xlmig_fail(rc, "%s", msg);
	}
	if (fd >= 0)
		close(fd);      /* and the lock goes with it */
	return rc;
}

int xlmig_checkpoint_discard(const char *file)
{
	char partial[PATH_MAX];
	int fd, rc = xlmig_checkpoint_partial_name(file, partial, sizeof(partial));

	if (rc == XLMIG_OK)
		rc = open_locked(partial, O_RDONLY, &fd);
	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc)
		return rc;
	if (unlink(partial) < 0 && errno != ENOENT)
		rc = xlmig_fail(XLMIG_E_IO, "removing %s: %s", partial, strerror(errno));
	else
		xlmig_info("partial checkpoint %s removed", partial);
	close(fd);
	return rc;
}

int xlmig_checkpoint_recover(struct xlmig_hv *hv, const char *domain, const char *file,
			     bool keep_partial)
{
	struct xlmig_domain_info di;
	int rc = keep_partial ? XLMIG_OK : xlmig_checkpoint_discard(file);

	/* Suspended is what an interrupted save leaves; paused or running
	 * guests are as their administrator or the save's end left them. */
	if (rc == XLMIG_OK && hv->ops->lookup(hv, domain, &di) == XLMIG_OK &&
	    di.state == XLMIG_DOM_SUSPENDED) {
		rc = hv->ops->resume(hv, di.domid);
		if (rc)
			rc = xlmig_fail_prefix(rc, "resuming %s after its interrupted checkpoint", domain);
		else
			xlmig_info("interrupted checkpoint of %s: the guest was suspended and runs again", domain);
	}
	return rc;
}

/* A compressed file is unpacked on the way into the backend's restore. */
static int restore_from(struct xlmig_hv *hv, int fd, const struct xlmig_restore_opts *ro, uint32_t *domid)
{
	uint8_t magic[XLMIG_CKZ_MAGIC_LEN];
	struct unpacker u;
	ssize_t n = pread(fd, magic, sizeof(magic), 0);
	bool created;
	int rc, from = -1;

	if (n < 0 || !xlmig_ckz_is_container(magic, (size_t)n))
		return hv->ops->restore(hv, fd, ro, domid);
	if ((rc = unpacker_start(&u, fd, &from)))
		return rc;
	rc = hv->ops->restore(hv, from, ro, domid);
	created = rc == XLMIG_OK;
	rc = unpacker_end(&u, from, rc);
	/* The backend may have restored a guest before the unpacking found
	 * the file damaged past the stream it gave (its END block): that
	 * guest is not proven to be the file's, and goes. */
	if (rc && created && hv->ops->destroy(hv, *domid))
		xlmig_error("destroying domain %u restored from a damaged file: %s", *domid, xlmig_errmsg());
	return rc;
}

int xlmig_checkpoint_restore(struct xlmig_hv *hv, const char *file, const char *name,
			     bool paused, bool verify, struct xlmig_checkpoint_restored *out)
{
	struct xlmig_restore_opts ro = { .name = name };
	uint64_t start = xlmig_now_ns();
	bool created = false;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "opening checkpoint %s: %s", file, strerror(errno));
	rc = restore_from(hv, fd, &ro, &out->domid);
	close(fd);
	if (rc) {
		rc = xlmig_fail_prefix(rc, "restoring %s", file);
		goto out;
	}
	created = true;
	if (hv->ops->counter)
		out->have_counter = hv->ops->counter(hv, out->domid, &out->counter) == XLMIG_OK;
	if (verify && hv->ops->mem_digest) {
		rc = hv->ops->mem_digest(hv, out->domid, out->mem_digest);
		if (rc)
			goto out;
		out->have_mem_digest = true;
	}
	if (!paused && (rc = hv->ops->unpause(hv, out->domid)))
		rc = xlmig_fail_prefix(rc, "starting domain %u restored from %s", out->domid, file);
	out->restore_ns = xlmig_now_ns() - start;
out:
	if (rc && created) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
		if (hv->ops->destroy(hv, out->domid))
			xlmig_error("destroying domain %u after its failed restore: %s", out->domid, xlmig_errmsg());
		rc = xlmig_fail(rc, "%s", msg);
	}
	return rc;
}
