/*
 * fuzz_job.c - libFuzzer harness for a destination migration job: the
 * input is everything a would-be source sends after connecting, read by
 * a whole incoming job (xlmig_job_new_dest + xlmig_job_run) over a
 * keyless one-channel session into a sim host.
 *
 * Past the handshake that covers the commit messages (PREFLIGHT with the
 * guest's name, memory and backend; GO), the transfer into the sim
 * restore, and the job's rollback on every failure.  The promises
 * checked: a job that fails leaves no domain behind, one that succeeds
 * leaves exactly the named guest running and its record at DONE.
 * Nothing may crash, hang or leak.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a whole migration as a source sends
 * it (HELLO and AUTH recorded from the handshake code, PREFLIGHT, a real
 * sim stream in STREAM frames, END with its digest, GO) and the same cut
 * after PREFLIGHT into DIR and exits.
 */
#include <fcntl.h>
#include <openssl/evp.h>

#include "conn.h"
#include "harness.h"
#include "job.h"
#include "journal.h"
#include "sim_stream.h"
#include "wire.h"

/* job.c's commit message types (CTRL frames). */
#define CTRL_PREFLIGHT 1
#define CTRL_GO        4

static struct xlmig_hv *hv;
static char state_dir[256];

static void destroy_all(struct xlmig_domain_info *doms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hv->ops->destroy(hv, doms[i].domid);
	free(doms);
}

static void check_outcome(int rc, const struct xlmig_job_record *rec)
{
	struct xlmig_domain_info *doms = NULL;
	size_t n = 0;

	if (hv->ops->list(hv, &doms, &n) != XLMIG_OK)
		abort();
	if (rc != XLMIG_OK && n != 0)
		abort();   /* a failed incoming job leaves nothing behind */
	if (rc == XLMIG_OK &&
	    (n != 1 || strcmp(doms[0].name, rec->domain) || doms[0].state != XLMIG_DOM_RUNNING ||
	     rec->step != XLMIG_STEP_DONE))
		abort();   /* a finished one leaves the guest running, named */
	destroy_all(doms, n);
}

static void run_job(int fd)
{
	struct xlmig_job_env env = { .hv = hv };
	struct xlmig_conn_opts o;
	struct xlmig_job_record rec;
	struct xlmig_conn *c = NULL;
	struct xlmig_job *job = NULL;
	char path[300];
	int rc;

	/* A fresh state file each time: records would pile up otherwise. */
	if (xlmig_journal_open(state_dir, &env.journal) != XLMIG_OK)
		abort();
	xlmig_conn_opts_default(&o);
	o.insecure = true;
	o.timeout_ms = o.io_timeout_ms = 2000;
	if (xlmig_conn_over_fds(fd, fd, true, &o, NULL, &c) == XLMIG_OK &&
	    xlmig_job_new_dest(&env, c, "fuzz-peer", &job) == XLMIG_OK) {
		rc = xlmig_job_run(job);
		xlmig_job_get_record(job, &rec);
		check_outcome(rc, &rec);
		xlmig_job_free(job);
	}
	xlmig_journal_close(env.journal);
	snprintf(path, sizeof(path), "%s/xlmig.tdb", state_dir);
	unlink(path);
}

/* ---- seeds ---- */

static void ctrl(struct xlmig_buf *out, uint32_t type, const char *json)
{
	struct xlmig_buf pl = { 0 };

	if (xlmig_wire_typed_build(&pl, type, json, strlen(json)) != XLMIG_OK)
		abort();
	fuzz_put_frame(out, XLMIG_FRAME_CTRL, 0, 0, pl.data, pl.len);
	xlmig_buf_free(&pl);
}

static void write_seeds(const char *dir)
{
	const struct fuzz_sim_seed seed = { .vcpus = 1, .pattern = XLMIG_SIM_UNIFORM };
	struct xlmig_buf all = { 0 }, stream = { 0 }, end = { 0 };
	const size_t chunk = 2048;
	struct xlmig_handshake_offer offer;
	uint8_t digest[32];
	uint64_t seq = 0;
	char pf[160];

	if (fuzz_sim_stream(&seed, &stream) != XLMIG_OK) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	xlmig_handshake_offer_default(&offer);
	offer.channels = 1;
	fuzz_keyless_prologue(&all, &offer);
	snprintf(pf, sizeof(pf), "{\"name\":\"fuzz-guest\",\"memory\":%llu,\"backend\":\"sim\"}",
		 (unsigned long long)XLMIG_SIM_MEM_MIN);
	ctrl(&all, CTRL_PREFLIGHT, pf);
	fuzz_put_seed(dir, "preflight", -1, all.data, all.len);
	for (size_t off = 0; off < stream.len; off += chunk)
		fuzz_put_frame(&all, XLMIG_FRAME_STREAM, 0, seq++, stream.data + off,
			       XLMIG_MIN(chunk, stream.len - off));
	if (!EVP_Digest(stream.data, stream.len, digest, NULL, EVP_sha256(), NULL) ||
	    xlmig_wire_end_build(&end, digest, stream.len) != XLMIG_OK)
		abort();
	fuzz_put_frame(&all, XLMIG_FRAME_END, 0, seq, end.data, end.len);
	ctrl(&all, CTRL_GO, "{}");
	fuzz_put_seed(dir, "migration", -1, all.data, all.len);
	xlmig_buf_free(&all);
	xlmig_buf_free(&stream);
	xlmig_buf_free(&end);
}

static void remove_state_dir(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/xlmigd.lock", state_dir);
	unlink(path);
	rmdir(state_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	fuzz_init(write_seeds);
	snprintf(state_dir, sizeof(state_dir), "%s/xlmig-fuzz-job.XXXXXX", tmp);
	if (!mkdtemp(state_dir) || xlmig_hv_sim_open(&hv) != XLMIG_OK)
		abort();
	atexit(remove_state_dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_peer peer;
	int fd;

	fuzz_peer_start(&peer, data, size);
	fd = dup(peer.fd);   /* the session owns and closes its copy */
	if (fd < 0)
		abort();
	run_job(fd);
	fuzz_peer_finish(&peer);
	return 0;
}
