/* test_checkpoint.c - live checkpoints into files on the sim backend:
 * taken while the guest dirties memory and restored with the counter and
 * memory digest of the final pause; cancelled, failing to write, or
 * finding a partial file, the guest runs on and no file is left that
 * could pass for a checkpoint.  Compressed (ckpt_zip.h), the file is the
 * uncompressed one once unpacked, and restores directly. */
#include "unit.h"
#include "checkpoint.h"
#include "ckpt_zip.h"
#include "sim_hv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define RUNS_WITHIN_MS 10000

static int make_guest(struct xlmig_hv *hv, const char *name, uint64_t rate, uint32_t *domid)
{
	struct xlmig_sim_create c = { .name = name, .mem_bytes = 64 * MIB, .vcpus = 1 };

	xlmig_sim_workload_default(&c.wl);
	c.wl.rate = rate;
	c.wl.seed = 7;
	return xlmig_hv_sim_create(hv, &c, domid);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void paths(const char *leaf, char file[PATH_MAX], char partial[PATH_MAX])
{
	snprintf(file, PATH_MAX, "%s/%s", unit_tmpdir(), leaf);
	if (xlmig_checkpoint_partial_name(file, partial, PATH_MAX))
		partial[0] = '\0';
}

static void opts_default(struct xlmig_checkpoint_opts *o)
{
	memset(o, 0, sizeof(*o));
	xlmig_policy_config_default(&o->policy);
	o->verify = true;
}

static bool runs(struct xlmig_hv *hv, uint32_t id)
{
	struct xlmig_domain_info di;
	char s[16];
	uint64_t c;

	snprintf(s, sizeof(s), "%u", id);
	return hv->ops->lookup(hv, s, &di) == XLMIG_OK && di.state == XLMIG_DOM_RUNNING &&
	       xlmig_hv_counter(hv, id, &c) == XLMIG_OK &&
	       xlmig_hv_counter_passes(hv, id, c, RUNS_WITHIN_MS) == XLMIG_OK;
}

/* A guest dirtying memory checkpointed at zstd level (0: Xen's format)
 * and restored: the counter and digest of the final pause. */
static void busy_guest_round_trip(int level)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint32_t id;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	o.compress_level = level;
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 16 * MIB, &id));
	CHECK_OK(xlmig_checkpoint_take(hv, id, file, &o, &res));
	CHECK(exists(file));
	CHECK(!exists(partial));
	CHECK(runs(hv, id));
	CHECK(res.have_counter && res.have_mem_digest);
	CHECK(res.iterations >= 1);
	CHECK(res.pages_sent >= res.pages_total);
	CHECK(res.file_bytes > 0);
	CHECK(level ? res.file_bytes < res.stream_bytes : res.file_bytes == res.stream_bytes);
	CHECK(res.pause_ns > 0 && res.pause_ns <= res.total_ns);

	CHECK_OK(xlmig_checkpoint_restore(hv, file, "vm-restored", true, true, &rs));
	CHECK(rs.have_counter && rs.have_mem_digest);
	CHECK_EQ(rs.counter, res.counter);
	CHECK(!memcmp(rs.mem_digest, res.mem_digest, 32));
	CHECK_OK(hv->ops->unpause(hv, rs.domid));
	CHECK(runs(hv, rs.domid));
	/* The name is taken now: a second restore creates nothing. */
	CHECK_EQ(xlmig_checkpoint_restore(hv, file, "vm-restored", false, false, &rs), XLMIG_E_EXISTS);
	xlmig_hv_close(hv);
}

TEST(checkpoint_of_a_busy_guest_restores_to_its_final_pause)
{
	busy_guest_round_trip(0);
}

TEST(checkpoint_compressed_of_a_busy_guest_restores_to_its_final_pause)
{
	busy_guest_round_trip(1);
}

static void cancel_after_first_pass(void *opaque, const struct xlmig_iteration *it, uint64_t total)
{
	atomic_store((atomic_bool *)opaque, true);
}

TEST(checkpoint_cancelled_keeps_the_guest_running_and_the_old_file)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX], old[8] = { 0 };
	atomic_bool cancel = false;
	uint32_t id;
	int fd;

	paths("vm.ckpt", file, partial);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "older", 5) == 5 && close(fd) == 0);
	opts_default(&o);
	o.cancel = &cancel;
	o.progress = cancel_after_first_pass;
	o.progress_opaque = &cancel;
	/* A guest that dirties faster than a 1 ms target allows keeps the
	 * pre-copy going past its first pass. */
	o.policy.downtime_target_ns = 1000;
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 64 * MIB, &id));
	CHECK_EQ(xlmig_checkpoint_take(hv, id, file, &o, &res), XLMIG_E_CANCELLED);
	CHECK(!exists(partial));
	fd = open(file, O_RDONLY);
	CHECK(fd >= 0 && read(fd, old, sizeof(old)) == 5 && close(fd) == 0);
	CHECK(!strcmp(old, "older"));
	CHECK(runs(hv, id));
	xlmig_hv_close(hv);
}

TEST(checkpoint_that_cannot_write_keeps_the_guest_running_and_leaves_no_file)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct rlimit small = { 1 * MIB, 1 * MIB };
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint32_t id;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 4 * MIB, &id));
	/* Files stop growing at 1 MiB, as on a full disk (EFBIG, not a
	 * signal), long before the 64 MiB guest is written. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHECK(xlmig_checkpoint_take(hv, id, file, &o, &res) != XLMIG_OK);
	CHECK(!exists(file));
	CHECK(!exists(partial));
	CHECK(runs(hv, id));
	xlmig_hv_close(hv);
}

TEST(checkpoint_refuses_a_partial_file_another_writes_and_recover_removes_it)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint32_t id;
	int fd;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 4 * MIB, &id));
	/* Another checkpoint writes it: it holds the lock. */
	fd = open(partial, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
	CHECK_EQ(xlmig_checkpoint_take(hv, id, file, &o, &res), XLMIG_E_EXISTS);
	CHECK(exists(partial));         /* not ours to remove */
	CHECK(runs(hv, id));
	CHECK_EQ(xlmig_checkpoint_recover(hv, "vm", file, false), XLMIG_E_EXISTS);
	CHECK(exists(partial));
	CHECK(close(fd) == 0);
	CHECK_OK(xlmig_checkpoint_recover(hv, "vm", file, true));
	CHECK(exists(partial));         /* held: kept for whoever goes on */
	CHECK_OK(xlmig_checkpoint_recover(hv, "vm", file, false));
	CHECK(!exists(partial));
	CHECK(runs(hv, id));
	/* A guest gone meanwhile is no error. */
	CHECK_OK(xlmig_checkpoint_recover(hv, "gone", file, false));
	CHECK_EQ(xlmig_checkpoint_take(hv, id, "relative.ckpt", &o, &res), XLMIG_E_INVAL);
	xlmig_hv_close(hv);
}

/* Stopped after its first pass as a hold stops it: the partial file
 * stays, whole records only. */
static void hold_after_first_pass(void *opaque, const struct xlmig_iteration *it, uint64_t total)
{
	atomic_store((atomic_bool *)opaque, true);
}

static int take_held(struct xlmig_hv *hv, uint32_t id, const char *file, int level)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	atomic_bool cancel = false, keep = true;

	opts_default(&o);
	o.compress_level = level;
	o.cancel = &cancel;
	o.keep_partial = &keep;
	o.progress = hold_after_first_pass;
	o.progress_opaque = &cancel;
	o.policy.downtime_target_ns = 1000;   /* more than one pass */
	return xlmig_checkpoint_take(hv, id, file, &o, &res);
}

/* A checkpoint taken as by a backend whose save cannot continue a file
 * (Xen's), when filtered: it then continues through its filter
 * (ckpt_filter.h).  Only for the take: creating and counting guests need
 * the sim backend as it is. */
static int take_as(bool filtered, struct xlmig_hv *hv, uint32_t id, const char *file,
		   const struct xlmig_checkpoint_opts *o, struct xlmig_checkpoint_result *res)
{
	const struct xlmig_hv_ops *sim = hv->ops;
	struct xlmig_hv_ops ops = *sim;
	int rc;

	ops.save_continues = false;
	if (filtered)
		hv->ops = &ops;
	rc = xlmig_checkpoint_take(hv, id, file, o, res);
	hv->ops = sim;
	return rc;
}

static void held_then_continued_case(bool filtered)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res, fresh;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX], file2[PATH_MAX], partial2[PATH_MAX];
	struct stat st;
	uint32_t id;

	paths("vm.ckpt", file, partial);
	paths("vm-fresh.ckpt", file2, partial2);
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 4 * MIB, &id));
	CHECK_EQ(take_held(hv, id, file, 0), XLMIG_E_CANCELLED);
	CHECK(stat(partial, &st) == 0 && st.st_size > 0);
	CHECK(!exists(file));
	CHECK(runs(hv, id));
	/* A torn last record, as a writer killed mid-write leaves. */
	CHECK(truncate(partial, st.st_size - 100) == 0);

	o.resuming = true;
	CHECK_OK(take_as(filtered, hv, id, file, &o, &res));
	CHECK(!exists(partial));
	CHECK(res.continued_bytes > 0 && res.continued_bytes < (uint64_t)st.st_size);
	CHECK(res.pages_unchanged > 0);
	CHECK_EQ(res.bytes_written, res.file_bytes - res.continued_bytes);
	CHECK_STR(res.start_note, "");
	CHECK_OK(xlmig_checkpoint_restore(hv, file, "vm-restored", true, true, &rs));
	CHECK_EQ(rs.counter, res.counter);
	CHECK(res.have_mem_digest && !memcmp(rs.mem_digest, res.mem_digest, 32));
	CHECK_OK(hv->ops->destroy(hv, rs.domid));

	/* Started over, the same guest writes every page. */
	CHECK_OK(xlmig_checkpoint_take(hv, id, file2, &o, &fresh));
	CHECK_EQ(fresh.continued_bytes, 0);
	CHECK_EQ(fresh.bytes_written, fresh.file_bytes);
	CHECK(fresh.start_note[0] != '\0');   /* resuming, and no partial file */
	CHECK(res.bytes_written < fresh.bytes_written);
	xlmig_hv_close(hv);
}

TEST(checkpoint_held_then_continued_writes_only_changed_pages_and_restores_exactly)
{
	held_then_continued_case(false);
}

TEST(checkpoint_continued_through_the_filter_writes_only_changed_pages_and_restores_exactly)
{
	held_then_continued_case(true);
}

static void another_guests_file_case(bool filtered)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint32_t vm, other;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 4 * MIB, &vm));
	CHECK_OK(make_guest(hv, "other", 0, &other));
	CHECK_EQ(take_held(hv, vm, file, 0), XLMIG_E_CANCELLED);
	CHECK(exists(partial));
	CHECK_OK(take_as(filtered, hv, other, file, &o, &res));
	CHECK_EQ(res.continued_bytes, 0);
	CHECK(strstr(res.start_note, "started over") != NULL);
	CHECK_OK(xlmig_checkpoint_restore(hv, file, "other-restored", true, true, &rs));
	CHECK(!memcmp(rs.mem_digest, res.mem_digest, 32));
	xlmig_hv_close(hv);
}

TEST(checkpoint_starts_over_on_another_guests_partial_file)
{
	another_guests_file_case(false);
}

TEST(checkpoint_through_the_filter_starts_over_on_another_guests_partial_file)
{
	another_guests_file_case(true);
}

TEST(checkpoint_restore_of_a_damaged_file_leaves_no_domain)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_domain_info *v = NULL;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	struct stat st;
	size_t n = 0;
	uint32_t id;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 0, &id));
	CHECK_OK(xlmig_checkpoint_take(hv, id, file, &o, &res));
	CHECK(stat(file, &st) == 0 && (uint64_t)st.st_size == res.file_bytes);
	/* Cut in half: what a checkpoint interrupted mid-write would be. */
	CHECK(truncate(file, st.st_size / 2) == 0);
	CHECK(xlmig_checkpoint_restore(hv, file, "vm2", false, false, &rs) != XLMIG_OK);
	CHECK_OK(hv->ops->list(hv, &v, &n));
	free(v);
	CHECK_EQ(n, 1);
	xlmig_hv_close(hv);
}

static int decode_text(const char *t, struct xlmig_checkpoint_params *p)
{
	return xlmig_checkpoint_params_decode((const uint8_t *)t, strlen(t), p);
}

TEST(checkpoint_params_round_trip_and_refusals)
{
	struct xlmig_checkpoint_params p = { .file = "/srv/ckpt/web1", .downtime_ms = 50, .max_iters = 7, .verify = true };
	struct xlmig_checkpoint_params q;
	struct xlmig_buf b = { 0 };

	CHECK_OK(xlmig_checkpoint_params_encode(&p, &b));
	CHECK_OK(xlmig_checkpoint_params_decode(b.data, b.len, &q));
	xlmig_buf_free(&b);
	CHECK(!memcmp(&p, &q, sizeof(p)));
	CHECK_OK(decode_text("{\"file\":\"/a\"}", &q));
	CHECK(q.downtime_ms == 0 && q.max_iters == 0 && !q.verify);
	CHECK_EQ(decode_text("{\"file\":\"a\"}", &q), XLMIG_E_INVAL);
	CHECK_EQ(decode_text("{\"file\":\"/a\\u0000b\"}", &q), XLMIG_E_INVAL);
	CHECK_EQ(decode_text("{\"file\":\"/a\",\"downtime_ms\":600001}", &q), XLMIG_E_INVAL);
	CHECK_EQ(decode_text("{\"file\":\"/a\",\"max_iters\":10001}", &q), XLMIG_E_INVAL);
	CHECK_EQ(decode_text("{\"file\":\"/a\",\"verify\":1}", &q), XLMIG_E_INVAL);
	CHECK_EQ(decode_text("[\"/a\"]", &q), XLMIG_E_FORMAT);
	CHECK(decode_text("{\"file\":", &q) != XLMIG_OK);
}

/* The whole of the file at path. */
static int slurp(const char *path, struct xlmig_buf *out)
{
	int fd = open(path, O_RDONLY), rc;

	if (fd < 0)
		return XLMIG_E_IO;
	rc = xlmig_read_all(fd, 1ull << 30, out);
	close(fd);
	return rc;
}

/* path unpacked into back; its stream's SHA-256 into st. */
static int unpack_file(const char *path, const char *back, struct xlmig_ckz_stats *st)
{
	int in = open(path, O_RDONLY), out = open(back, O_RDWR | O_CREAT | O_TRUNC, 0600), rc;

	rc = in < 0 || out < 0 ? XLMIG_E_IO : xlmig_ckz_unpack_fd(in, out, st);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* A compressed checkpoint unpacks to the very stream the backend wrote
 * (its SHA-256, taken as it was written), is smaller than the same
 * guest's uncompressed checkpoint, and restores to its final pause; an
 * uncompressed checkpoint file packed and unpacked is itself again. */
TEST(checkpoint_compressed_unpacks_to_the_saved_stream_and_restores)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result plain, packed;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_ckz_stats st;
	struct xlmig_buf a = { 0 }, b = { 0 };
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX], zfile[PATH_MAX], zpartial[PATH_MAX];
	char back[PATH_MAX], repacked[PATH_MAX];
	int in, out;
	uint32_t id;

	paths("vm.ckpt", file, partial);
	paths("vm.ckpt.z", zfile, zpartial);
	snprintf(back, sizeof(back), "%s/vm.back", unit_tmpdir());
	snprintf(repacked, sizeof(repacked), "%s/vm.repacked", unit_tmpdir());
	opts_default(&o);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 0, &id));
	CHECK_OK(xlmig_checkpoint_take(hv, id, file, &o, &plain));
	CHECK_EQ(plain.stream_bytes, plain.file_bytes);
	o.compress_level = 3;
	CHECK_OK(xlmig_checkpoint_take(hv, id, zfile, &o, &packed));
	CHECK(!exists(zpartial));
	CHECK(runs(hv, id));
	CHECK(packed.file_bytes < packed.stream_bytes * 3 / 4);
	CHECK(packed.file_bytes < plain.file_bytes * 3 / 4);

	CHECK_OK(unpack_file(zfile, back, &st));
	CHECK_EQ(st.stream_bytes, packed.stream_bytes);
	CHECK(!memcmp(st.stream_sha256, packed.stream_sha256, 32));
	CHECK_OK(xlmig_checkpoint_restore(hv, back, "vm-back", true, true, &rs));
	CHECK_EQ(rs.counter, packed.counter);
	CHECK(!memcmp(rs.mem_digest, packed.mem_digest, 32));
	CHECK_OK(hv->ops->destroy(hv, rs.domid));
	CHECK_OK(xlmig_checkpoint_restore(hv, zfile, "vm-restored", true, true, &rs));
	CHECK(rs.have_counter && rs.have_mem_digest);
	CHECK_EQ(rs.counter, packed.counter);
	CHECK(!memcmp(rs.mem_digest, packed.mem_digest, 32));

	in = open(file, O_RDONLY);
	out = open(repacked, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(in >= 0 && out >= 0);
	CHECK_OK(xlmig_ckz_pack_fd(in, out, 3, NULL));
	close(in);
	close(out);
	CHECK_OK(unpack_file(repacked, back, NULL));
	CHECK_OK(slurp(file, &a));
	CHECK_OK(slurp(back, &b));
	CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
	xlmig_buf_free(&a);
	xlmig_buf_free(&b);
	xlmig_hv_close(hv);
}

/* A held compressed checkpoint is not continued: it starts over, says
 * so, and its result restores exactly. */
TEST(checkpoint_compressed_held_starts_over_saying_why)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint32_t id;

	paths("vm.ckpt", file, partial);
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 4 * MIB, &id));
	CHECK_EQ(take_held(hv, id, file, 3), XLMIG_E_CANCELLED);
	CHECK(exists(partial) && !exists(file));
	CHECK(runs(hv, id));

	opts_default(&o);
	o.compress_level = 3;
	o.resuming = true;
	CHECK_OK(xlmig_checkpoint_take(hv, id, file, &o, &res));
	CHECK_EQ(res.continued_bytes, 0);
	CHECK_EQ(res.bytes_written, res.file_bytes);
	CHECK(strstr(res.start_note, "compressed") && strstr(res.start_note, "started over"));
	CHECK_OK(xlmig_checkpoint_restore(hv, file, "vm-restored", true, true, &rs));
	CHECK_EQ(rs.counter, res.counter);
	CHECK(!memcmp(rs.mem_digest, res.mem_digest, 32));
	xlmig_hv_close(hv);
}

/* Damage only the END block's digest finds: the guest the restore made
 * from the stream goes again, and the error says the file is damaged. */
TEST(checkpoint_compressed_restore_of_a_damaged_file_leaves_no_domain)
{
	struct xlmig_checkpoint_opts o;
	struct xlmig_checkpoint_result res;
	struct xlmig_checkpoint_restored rs;
	struct xlmig_domain_info *v = NULL;
	struct xlmig_hv *hv;
	char file[PATH_MAX], partial[PATH_MAX];
	uint8_t last;
	size_t n = 0;
	uint32_t id;
	int fd;

	paths("vm.ckpt", file, partial);
	opts_default(&o);
	o.compress_level = 3;
	CHECK_OK(xlmig_hv_open("sim", &hv));
	CHECK_OK(make_guest(hv, "vm", 0, &id));
	CHECK_OK(xlmig_checkpoint_take(hv, id, file, &o, &res));
	fd = open(file, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &last, 1, (off_t)res.file_bytes - 1) == 1);
	last ^= 1;
	CHECK(pwrite(fd, &last, 1, (off_t)res.file_bytes - 1) == 1);
	close(fd);
	CHECK(xlmig_checkpoint_restore(hv, file, "vm2", false, false, &rs) != XLMIG_OK);
	CHECK(strstr(xlmig_errmsg(), "damaged") != NULL);
	CHECK_OK(hv->ops->list(hv, &v, &n));
	free(v);
	CHECK_EQ(n, 1);
	xlmig_hv_close(hv);
}
