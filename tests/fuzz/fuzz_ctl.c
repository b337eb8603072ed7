/*
 * fuzz_ctl.c - libFuzzer harness for the control protocol's library part:
 * the input is what the other end of a control socket sends (a local
 * client to xlmigd, or xlmigd's replies to the xlmig command line).
 *
 * The bytes are read from a memory file and cut into lines by
 * xlmig_ctl_recv(), as the command line reads replies (no peer thread
 * or socket per input: the replies go to /dev/null); each line is read
 * as a request the way xlmigd decodes one (a JSON object with a "cmd"
 * string, then typed arguments), answered with xlmig_ctl_send(), and
 * read as a reply too.  Lines must come out whole and in order: their
 * concatenation with the newlines put back is a prefix of the input.
 * (xlmigd's per-command handlers live in the daemon, tools/xlmigd/
 * requests.c, and need a running daemon: they are not built into the
 * library this harness links.)
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (requests of every command the
 * command line sends, replies as xlmigd writes them) into DIR and exits.
 */
#include "ctl.h"
#include "harness.h"
#include "json.h"

/* The argument names and types of xlmigd's commands. */
static const char *const str_args[] = { "cmd", "name", "domain", "host", "job", "pattern",
					"policy", "error", "digest" };
static const char *const num_args[] = { "memory", "vcpus", "rate", "hot_bytes", "zero_pct",
					"file_pct", "seed", "port", "channels", "zstd_level",
					"bandwidth", "downtime_ms", "max_iters", "code", "domid" };
static const char *const bool_args[] = { "paused", "compress", "auto_converge", "verify", "ok" };

static void decode_request(const char *line, struct xlmig_buf *reply)
{
	struct xlmig_json *req = NULL;
	struct xlmig_json_writer w;
	const char *s;
	uint64_t u;
	int64_t i;
	bool b;
	int rc;

	rc = xlmig_json_parse(line, strlen(line), &req);
	xlmig_json_writer_init(&w, reply);
	xlmig_json_object_open(&w);
	xlmig_json_kv_bool(&w, "ok", rc == XLMIG_OK);
	if (rc == XLMIG_OK) {
		for (size_t k = 0; k < XLMIG_ARRAY_SIZE(str_args); k++)
			if (xlmig_json_get_str(req, str_args[k], &s) == XLMIG_OK)
				xlmig_json_kv_str(&w, str_args[k], s);
		for (size_t k = 0; k < XLMIG_ARRAY_SIZE(num_args); k++) {
			if (xlmig_json_get_u64(req, num_args[k], &u) == XLMIG_OK)
				xlmig_json_kv_uint(&w, num_args[k], u);
			else if (xlmig_json_get_i64(req, num_args[k], &i) == XLMIG_OK)
				xlmig_json_kv_int(&w, num_args[k], i);
		}
		for (size_t k = 0; k < XLMIG_ARRAY_SIZE(bool_args); k++)
			if (xlmig_json_get_bool(req, bool_args[k], &b) == XLMIG_OK)
				xlmig_json_kv_bool(&w, bool_args[k], b);
		/* Replies: the job list and a job's progress. */
		for (size_t k = 0; xlmig_json_get(req, "jobs") && k < 4; k++) {
			char path[64];

			snprintf(path, sizeof(path), "jobs.%zu.id", k);
			if (xlmig_json_get_str(req, path, &s) == XLMIG_OK)
				xlmig_json_kv_str(&w, "id", s);
		}
	} else {
		xlmig_json_kv_str(&w, "error", xlmig_errmsg());
	}
	xlmig_json_object_close(&w);
	if (xlmig_json_finish(&w) != XLMIG_OK)
		abort();   /* any reply built from checked values is writable */
	xlmig_json_free(req);
}

static void write_seeds(const char *dir)
{
	static const char *const seeds[] = {
		("{\"cmd\":\"create\",\"name\":\"g1\",\"memory\":134217728,\"vcpus\":2,\"rate\":1048576,"
		"\"pattern\":\"hotset\",\"hot_bytes\":8388608,\"zero_pct\":20,\"file_pct\":30,"
		"\"seed\":7,\"paused\":false}\n{\"cmd\":\"list\"}\n"),
		("{\"cmd\":\"migrate\",\"domain\":\"g1\",\"host\":\"10.0.0.2\",\"port\":8002,"
		"\"channels\":4,\"compress\":true,\"zstd_level\":3,\"bandwidth\":0,\"downtime_ms\":300,"
		"\"max_iters\":30,\"auto_converge\":true,\"verify\":false,\"policy\":\"xlmig\"}\n"
		"{\"cmd\":\"status\",\"job\":\"3\"}\n{\"cmd\":\"cancel\",\"job\":\"3\"}\n"),
		("{\"ok\":true,\"jobs\":[{\"id\":\"1\",\"role\":\"source\",\"step\":\"done\"},"
		"{\"id\":\"2\",\"role\":\"destination\",\"step\":\"failed\"}]}\n"
		"{\"ok\":false,\"code\":-5,\"error\":\"no job 9 on this host\"}\n"),
		("{\"cmd\":\"guest-info\",\"domain\":\"7\"}\n{\"cmd\":\"destroy\",\"domain\":\"g1\"}\n"
		"not json\n\n{\"cmd\":\"jobs\"}"),
	};

	fuzz_put_text_seeds(dir, "lines", seeds, XLMIG_ARRAY_SIZE(seeds));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_ctl_client c = { .fd = -1 };
	size_t off = 0;
	char *line;

	c.fd = fuzz_input_fd(data, size);
	while (xlmig_ctl_recv(&c, &line, 5000) == XLMIG_OK) {
		const uint8_t *nl = off < size ? memchr(data + off, '\n', size - off) : NULL;
		struct xlmig_buf reply = { 0 };
		size_t n = strlen(line), len;

		/* The line is the next bytes of the input, up to a newline (a
		 * NUL in it ends the C string early). */
		if (!nl)
			abort();
		len = (size_t)(nl - (data + off));
		if (n > len || memcmp(line, data + off, n) || (n < len && data[off + n] != 0))
			abort();
		off += len + 1;
		decode_request(line, &reply);
		if (xlmig_buf_append(&reply, "", 1) == XLMIG_OK &&
		    xlmig_ctl_send(fuzz_devnull(), (const char *)reply.data) != XLMIG_OK)
			abort();   /* sending a reply works */
		xlmig_buf_free(&reply);
		free(line);
	}
	xlmig_buf_free(&c.in);
	return 0;
}
