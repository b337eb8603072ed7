/*
 * codec.c - benchmark of the page codec on guest memory with real content.
 *
 * Builds a memory image (pages of files from /usr/bin and /usr/share,
 * zero pages, random pages), sends it through an encoder and a decoder
 * the way a migration does (a first pass over every page, then a
 * pre-copy pass over the pages a workload changed slightly meanwhile),
 * checks that every page comes back exact, and compares with the `zstd
 * -1` command line on the same bytes, measured in the same run.  Speeds
 * are MiB of guest memory per CPU-second (one core).  Prints one JSON
 * line.
 *
 *   codec [--size 256M] [--mix 60/25/15] [--dirty 10] [--level 1]
 *         [--cache 64M] [--seed 1]
 */
#include "codec.h"
#include "json.h"
#include "memimage.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)
#define MAX_THREADS 16   /* encoding threads at most, as channels */

struct bench_opts {
	uint64_t size;
	struct xlmig_memimage_mix mix;
	unsigned dirty_pct;
	int level;
	uint64_t cache;
	uint64_t seed;
};

/* One pass through the codec. */
struct pass {
	uint64_t pages;
	struct xlmig_codec_stats enc, dec;
	double wall_s;
};

/* The zstd command line on the same pages. */
struct baseline {
	uint64_t bytes_in, bytes_out;
	double comp_cpu_s, decomp_cpu_s;
};

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "level", required_argument, NULL, 'l' },
		{ "cache", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = XLMIG_OK;

	*o = (struct bench_opts){ 256u << 20, { 60, 25, 15 }, 10,
				  XLMIG_CODEC_DEFAULT_LEVEL,
				  XLMIG_CODEC_DEFAULT_CACHE, 1 };
	while (!rc && (opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 's')
			rc = xlmig_parse_size(optarg, &o->size);
		else if (opt == 'm')
			rc = xlmig_memimage_mix_parse(optarg, &o->mix);
		else if (opt == 'd')
			o->dirty_pct = (unsigned)atoi(optarg);
		else if (opt == 'l')
			o->level = atoi(optarg);
		else if (opt == 'c')
			rc = xlmig_parse_size(optarg, &o->cache);
		else if (opt == 'r')
			o->seed = strtoull(optarg, NULL, 0);
		else
			rc = xlmig_fail(XLMIG_E_INVAL, "usage: codec [--size 256M] "
					"[--mix 60/25/15] [--dirty 10] [--level 1] "
					"[--cache 64M] [--seed 1]");
	}
	if (!rc && (o->size < XLMIG_PAGE_SIZE || o->dirty_pct > 100))
		rc = xlmig_fail(XLMIG_E_INVAL, "--size must be at least one "
				"page and --dirty a percentage");
	return rc;
}

/* Gather the listed pages in batches, encode, decode, compare. */
static int run_pass(struct xlmig_codec *enc, struct xlmig_codec *dec,
		    const uint8_t *image, const uint64_t *pfns, uint64_t n,
		    struct pass *p)
{
	uint8_t *batch = malloc(XLMIG_CODEC_MAX_BATCH * XLMIG_PAGE_SIZE);
	uint8_t *back = malloc(XLMIG_CODEC_MAX_BATCH * XLMIG_PAGE_SIZE);
	struct xlmig_buf frame = { 0 };
	uint64_t t0 = xlmig_now_ns();
	int rc = batch && back ? XLMIG_OK : XLMIG_E_NOMEM;

	p->pages = n;
	for (uint64_t i = 0; i < n && !rc; i += XLMIG_CODEC_MAX_BATCH) {
		uint32_t cnt = (uint32_t)XLMIG_MIN(n - i, XLMIG_CODEC_MAX_BATCH);
		size_t bytes = (size_t)cnt * XLMIG_PAGE_SIZE;

		for (uint32_t k = 0; k < cnt; k++)
			memcpy(batch + (size_t)k * XLMIG_PAGE_SIZE,
			       image + pfns[i + k] * XLMIG_PAGE_SIZE, XLMIG_PAGE_SIZE);
		xlmig_buf_reset(&frame);
		rc = xlmig_codec_encode(enc, pfns + i, batch, cnt, &frame, &p->enc);
		if (!rc)
			rc = xlmig_codec_decode(dec, frame.data, frame.len, pfns + i,
						cnt, back, &p->dec);
		if (!rc && memcmp(batch, back, bytes))
			rc = xlmig_fail(XLMIG_E_FORMAT, "batch at page %llu did "
					"not decode to its pages",
					(unsigned long long)i);
	}
	p->wall_s = (double)(xlmig_now_ns() - t0) / 1e9;
	xlmig_buf_free(&frame);
	free(batch);
	free(back);
	return rc;
}

/* The encoder as a transfer runs it: batches begun in order on this
 * thread and finished side by side on other threads (a transfer's
 * channel writers), against the one-call encoder on this thread alone.
 * Wall-clock MiB/s of guest memory for a first pass. */
enum slot_state { SLOT_FREE, SLOT_BEGUN, SLOT_FINISHING };

struct finish_pool {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct xlmig_codec_pending *slot[2 * MAX_THREADS];
	enum slot_state state[2 * MAX_THREADS];
	unsigned nslots;
	bool done;
	int rc;
};

/* The slot in state st, or nslots; caller holds the lock. */
static unsigned slot_in(const struct finish_pool *fp, enum slot_state st)
{
	unsigned k = 0;

	while (k < fp->nslots && fp->state[k] != st)
		k++;
	return k;
}

static void *finisher_main(void *arg)
{
	struct finish_pool *fp = arg;
	struct xlmig_codec_zctx *z = xlmig_codec_zctx_new();
	struct xlmig_buf out = { 0 };
	int rc = z ? XLMIG_OK : XLMIG_E_NOMEM;
	unsigned k;

	pthread_mutex_lock(&fp->lock);
	while (!rc && fp->rc == XLMIG_OK) {
		k = slot_in(fp, SLOT_BEGUN);
		if (k == fp->nslots) {
			if (fp->done)
				break;
			pthread_cond_wait(&fp->changed, &fp->lock);
			continue;
		}
		fp->state[k] = SLOT_FINISHING;
		pthread_mutex_unlock(&fp->lock);
		xlmig_buf_reset(&out);
		rc = xlmig_codec_encode_finish(fp->slot[k], z, &out, NULL);
		pthread_mutex_lock(&fp->lock);
		fp->state[k] = SLOT_FREE;
		pthread_cond_broadcast(&fp->changed);
	}
	if (rc && !fp->rc)
		fp->rc = rc;
	pthread_cond_broadcast(&fp->changed);
	pthread_mutex_unlock(&fp->lock);
	xlmig_buf_free(&out);
	xlmig_codec_zctx_free(z);
	return NULL;
}

/* Begin the next batch in a free slot, once there is one. */
static int pool_begin(struct finish_pool *fp, struct xlmig_codec *enc, const uint64_t *pfns,
		      const uint8_t *pages, uint32_t n)
{
	unsigned k;
	int rc;

	pthread_mutex_lock(&fp->lock);
	while ((k = slot_in(fp, SLOT_FREE)) == fp->nslots && !fp->rc)
		pthread_cond_wait(&fp->changed, &fp->lock);
	rc = fp->rc;
	pthread_mutex_unlock(&fp->lock);
	if (!rc)
		rc = xlmig_codec_encode_begin(enc, pfns, pages, n, fp->slot[k]);
	pthread_mutex_lock(&fp->lock);
	if (!rc)
		fp->state[k] = SLOT_BEGUN;
	pthread_cond_broadcast(&fp->changed);
	pthread_mutex_unlock(&fp->lock);
	return rc;
}

/* threads 0: the one-call encoder on this thread. */
static int encode_timed(const struct bench_opts *o, const uint8_t *image, uint64_t npages,
			unsigned threads, double *mib_s)
{
	struct xlmig_codec_opts copts = { .zstd_level = o->level, .cache_bytes = o->cache };
	struct xlmig_codec *enc = xlmig_codec_new(&copts);
	struct finish_pool fp = { .nslots = 2 * threads };
	pthread_t th[MAX_THREADS];
	struct xlmig_buf frame = { 0 };
	uint64_t pfns[XLMIG_CODEC_MAX_BATCH], t0;
	unsigned started = 0;
	int rc = enc ? XLMIG_OK : XLMIG_E_NOMEM;

	pthread_mutex_init(&fp.lock, NULL);
	pthread_cond_init(&fp.changed, NULL);
	for (unsigned k = 0; k < fp.nslots && !rc; k++)
		if (!(fp.slot[k] = xlmig_codec_pending_new()))
			rc = XLMIG_E_NOMEM;
	t0 = xlmig_now_ns();
	for (; started < threads && !rc; started++)
		if (pthread_create(&th[started], NULL, finisher_main, &fp) != 0)
			rc = xlmig_fail(XLMIG_E_NOMEM, "cannot start a thread");
	for (uint64_t i = 0; i < npages && !rc; i += XLMIG_CODEC_MAX_BATCH) {
		uint32_t cnt = (uint32_t)XLMIG_MIN(npages - i, XLMIG_CODEC_MAX_BATCH);
		const uint8_t *pages = image + i * XLMIG_PAGE_SIZE;

		for (uint32_t k = 0; k < cnt; k++)
			pfns[k] = i + k;
		xlmig_buf_reset(&frame);
		rc = threads ? pool_begin(&fp, enc, pfns, pages, cnt)
			     : xlmig_codec_encode(enc, pfns, pages, cnt, &frame, NULL);
	}
	pthread_mutex_lock(&fp.lock);
	fp.done = true;
	if (rc && !fp.rc)
		fp.rc = rc;
	pthread_cond_broadcast(&fp.changed);
	pthread_mutex_unlock(&fp.lock);
	for (unsigned t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	rc = rc ? rc : fp.rc;
	*mib_s = (double)npages * XLMIG_PAGE_SIZE / MIB / ((double)(xlmig_now_ns() - t0) / 1e9);
	for (unsigned k = 0; k < fp.nslots; k++)
		xlmig_codec_pending_free(fp.slot[k]);
	pthread_cond_destroy(&fp.changed);
	pthread_mutex_destroy(&fp.lock);
	xlmig_buf_free(&frame);
	xlmig_codec_free(enc);
	return rc;
}

/* Run argv with stdout to out_path; its CPU time (user + system). */
static int run_timed(char *const argv[], const char *out_path, double *cpu_s)
{
	struct rusage ru;
	int status, fd;
	pid_t pid = fork();

	if (pid < 0)
		return xlmig_fail(XLMIG_E_IO, "fork for %s: %s", argv[0],
				  strerror(errno));
	if (pid == 0) {
		fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return xlmig_fail(XLMIG_E_IO, "`%s %s` failed; is zstd installed?",
				  argv[0], argv[1]);
	*cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return XLMIG_OK;
}

static int write_pages(const char *path, const uint8_t *image,
		       const uint64_t *pfns, uint64_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? xlmig_fail(XLMIG_E_IO, "create %s: %s", path,
				     strerror(errno)) : XLMIG_OK;

	for (uint64_t i = 0; i < n && !rc; i++)
		rc = xlmig_write_full(fd, image + pfns[i] * XLMIG_PAGE_SIZE,
				      XLMIG_PAGE_SIZE);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* `zstd -1` over the pages written out in pass order: compress to
 * /dev/null (timed), compress to a file (for the size), decompress
 * that file to /dev/null (timed). */
static int zstd_baseline(const uint8_t *image, const uint64_t *pfns,
			 uint64_t n, struct baseline *b)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char raw[4096], zst[4200];
	char *comp[] = { "zstd", "-1", "-q", "-c", raw, NULL };
	char *decomp[] = { "zstd", "-d", "-q", "-c", zst, NULL };
	double unused;
	struct stat st;
	int fd, rc;

	snprintf(raw, sizeof(raw), "%s/xlmig-bench-codec.XXXXXX", tmp);
	fd = mkstemp(raw);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "temporary file in %s: %s", tmp,
				  strerror(errno));
	close(fd);
	snprintf(zst, sizeof(zst), "%s.zst", raw);
	b->bytes_in = n * XLMIG_PAGE_SIZE;
	rc = write_pages(raw, image, pfns, n);
	if (!rc)
		rc = run_timed(comp, "/dev/null", &b->comp_cpu_s);
	if (!rc)
		rc = run_timed(comp, zst, &unused);
	if (!rc && stat(zst, &st) != 0)
		rc = xlmig_fail(XLMIG_E_IO, "stat %s: %s", zst, strerror(errno));
	if (!rc) {
		b->bytes_out = (uint64_t)st.st_size;
		rc = run_timed(decomp, "/dev/null", &b->decomp_cpu_s);
	}
	unlink(raw);
	unlink(zst);
	return rc;
}

static double per_cpu_s(uint64_t bytes, double cpu_s)
{
	return cpu_s > 0 ? (double)bytes / MIB / cpu_s : 0;
}

static double ratio(uint64_t in, uint64_t out)
{
	return out ? (double)in / (double)out : 0;
}

static void emit_pass(struct xlmig_json_writer *w, const char *name,
		      const struct pass *p, const struct baseline *b)
{
	double enc_s = (double)p->enc.cpu_ns / 1e9, dec_s = (double)p->dec.cpu_ns / 1e9;
	double codec_rt = per_cpu_s(p->enc.bytes_in, enc_s + dec_s);
	double zstd_rt = per_cpu_s(b->bytes_in, b->comp_cpu_s + b->decomp_cpu_s);
	double codec_ratio = ratio(p->enc.bytes_in, p->enc.bytes_out);
	double zstd_ratio = ratio(b->bytes_in, b->bytes_out);

	xlmig_json_key(w, name);
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "pages", p->pages);
	xlmig_json_kv_uint(w, "pages_zero", p->enc.pages_zero);
	xlmig_json_kv_uint(w, "pages_delta", p->enc.pages_delta);
	xlmig_json_kv_uint(w, "pages_zstd", p->enc.pages_zstd);
	xlmig_json_kv_uint(w, "pages_raw", p->enc.pages_raw);
	xlmig_json_kv_uint(w, "bytes_in", p->enc.bytes_in);
	xlmig_json_kv_uint(w, "bytes_out", p->enc.bytes_out);
	xlmig_json_kv_double(w, "ratio", codec_ratio);
	xlmig_json_kv_double(w, "encode_cpu_s", enc_s);
	xlmig_json_kv_double(w, "decode_cpu_s", dec_s);
	xlmig_json_kv_double(w, "encode_mib_per_cpu_s", per_cpu_s(p->enc.bytes_in, enc_s));
	xlmig_json_kv_double(w, "decode_mib_per_cpu_s", per_cpu_s(p->enc.bytes_in, dec_s));
	xlmig_json_kv_double(w, "roundtrip_mib_per_cpu_s", codec_rt);
	xlmig_json_kv_double(w, "wall_s", p->wall_s);
	xlmig_json_key(w, "zstd_cli_level1");
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "bytes_out", b->bytes_out);
	xlmig_json_kv_double(w, "ratio", zstd_ratio);
	xlmig_json_kv_double(w, "compress_cpu_s", b->comp_cpu_s);
	xlmig_json_kv_double(w, "decompress_cpu_s", b->decomp_cpu_s);
	xlmig_json_kv_double(w, "roundtrip_mib_per_cpu_s", zstd_rt);
	xlmig_json_object_close(w);
	xlmig_json_kv_double(w, "ratio_vs_zstd_cli", zstd_ratio > 0 ? codec_ratio / zstd_ratio : 0);
	xlmig_json_kv_double(w, "speed_vs_zstd_cli", zstd_rt > 0 ? codec_rt / zstd_rt : 0);
	xlmig_json_object_close(w);
}

static void emit_header(struct xlmig_json_writer *w, const struct bench_opts *o,
			const struct xlmig_memimage_info *info)
{
	xlmig_json_object_open(w);
	xlmig_json_kv_str(w, "bench", "codec");
	xlmig_json_key(w, "image");
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "bytes", o->size / XLMIG_PAGE_SIZE * XLMIG_PAGE_SIZE);
	xlmig_json_kv_uint(w, "file_pct", o->mix.file_pct);
	xlmig_json_kv_uint(w, "zero_pct", o->mix.zero_pct);
	xlmig_json_kv_uint(w, "random_pct", o->mix.random_pct);
	xlmig_json_kv_str(w, "file_dirs", "/usr/bin /usr/share");
	xlmig_json_kv_uint(w, "files_read", info->files_read);
	xlmig_json_kv_bool(w, "files_reused", info->files_reused);
	xlmig_json_kv_uint(w, "seed", o->seed);
	xlmig_json_kv_uint(w, "precopy_dirty_pct", o->dirty_pct);
	xlmig_json_object_close(w);
	xlmig_json_kv_int(w, "zstd_level", o->level);
	xlmig_json_kv_uint(w, "cache_bytes", o->cache);
	xlmig_json_kv_str(w, "speed_unit", "MiB of guest memory per CPU-second");
}

static void emit_footer(struct xlmig_json_writer *w)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	xlmig_json_kv_int(w, "peak_rss_kib", self.ru_maxrss);
	xlmig_json_kv_int(w, "zstd_cli_peak_rss_kib", kids.ru_maxrss);
	xlmig_json_object_close(w);
}

static int run(const struct bench_opts *o)
{
	uint64_t npages = o->size / XLMIG_PAGE_SIZE, ndirty = 0;
	uint8_t *image = malloc(npages * XLMIG_PAGE_SIZE);
	uint64_t *pfns = malloc(npages * sizeof(*pfns));
	uint64_t *dirty = malloc(npages * sizeof(*dirty));
	struct xlmig_codec_opts copts = { .zstd_level = o->level, .cache_bytes = o->cache };
	struct xlmig_codec *enc = xlmig_codec_new(&copts), *dec = xlmig_codec_new(&copts);
	struct xlmig_memimage_info info;
	struct pass first = { 0 }, second = { 0 };
	struct baseline zfirst = { 0 }, zsecond = { 0 };
	struct xlmig_buf out = { 0 };
	struct xlmig_json_writer w;
	unsigned threads = XLMIG_MIN(xlmig_online_cpus(), (unsigned)MAX_THREADS);
	double one_mib_s = 0, many_mib_s = 0;
	int rc = image && pfns && dirty ? XLMIG_OK : XLMIG_E_NOMEM;

	if (!rc && (!enc || !dec))
		rc = XLMIG_E_INVAL;
	if (!rc)
		rc = xlmig_memimage_fill(image, npages, &o->mix, o->seed, NULL, 0, &info);
	for (uint64_t i = 0; !rc && i < npages; i++)
		pfns[i] = i;
	if (!rc)
		rc = run_pass(enc, dec, image, pfns, npages, &first);
	if (!rc)
		rc = zstd_baseline(image, pfns, npages, &zfirst);
	if (!rc)
		rc = encode_timed(o, image, npages, 0, &one_mib_s);
	if (!rc)
		rc = encode_timed(o, image, npages, threads, &many_mib_s);
	if (!rc) {
		ndirty = xlmig_memimage_touch(image, npages, o->dirty_pct,
					      o->seed + 1, dirty);
		rc = run_pass(enc, dec, image, dirty, ndirty, &second);
	}
	if (!rc)
		rc = zstd_baseline(image, dirty, ndirty, &zsecond);
	if (!rc) {
		xlmig_json_writer_init(&w, &out);
		emit_header(&w, o, &info);
		emit_pass(&w, "first_pass", &first, &zfirst);
		emit_pass(&w, "precopy_pass", &second, &zsecond);
		xlmig_json_key(&w, "threaded_encode");
		xlmig_json_object_open(&w);
		xlmig_json_kv_uint(&w, "threads", threads);
		xlmig_json_kv_double(&w, "one_call_mib_per_s", one_mib_s);
		xlmig_json_kv_double(&w, "threads_mib_per_s", many_mib_s);
		xlmig_json_kv_double(&w, "speedup", one_mib_s > 0 ? many_mib_s / one_mib_s : 0);
		xlmig_json_object_close(&w);
		emit_footer(&w);
		rc = xlmig_json_finish(&w);
	}
	if (!rc)
		printf("%.*s\n", (int)out.len, (const char *)out.data);
	xlmig_buf_free(&out);
	xlmig_codec_free(enc);
	xlmig_codec_free(dec);
	free(image);
	free(pfns);
	free(dirty);
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int rc = parse_args(argc, argv, &o);

	if (!rc)
		rc = run(&o);
	if (rc) {
		fprintf(stderr, "bench codec: %s\n", xlmig_errmsg());
		return 1;
	}
	return 0;
}
