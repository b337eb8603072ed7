/*
 * fuzz_xl_header.c - libFuzzer harness for xl's save header and the JSON
 * domain config it carries, as a sender delivers them to
 * `xlmig migrate-receive`: the input is the start of a stream.
 *
 * The header is parsed from memory (xlmig_xlhdr_parse) and read from an
 * fd (xlmig_xlhdr_read, from a memory file: no thread or socket), which
 * must agree; a header that reads gives its config to the name and
 * domain id readers, whose answers must be usable (a name that leaves
 * room for the migration suffix, a domain id xl could give).  Nothing
 * may crash, hang or leak.  The whole receive behind the header is
 * fuzz_xl_receive's, end to end.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a real sim stream's header, a
 * header with an xl -D domid) into DIR and exits.
 */
#include "harness.h"
#include "sim_stream.h"
#include "xl_config.h"
#include "xl_receive.h"

/* A header whose config asks for a domain id, as xl -D sends it. */
static void domid_seed(const char *dir)
{
	static const char config[] = "{\"c_info\":{\"type\":\"hvm\",\"name\":\"web-1\",\"domid\":42},"
				     "\"b_info\":{\"max_vcpus\":2,\"max_memkb\":1048576}}";
	struct xlmig_buf b = { 0 };
	struct xlmig_sink sink = { xlmig_sink_buf_write, &b };

	if (xlmig_write_xl_header(&sink, XLMIG_XL_FLAG_JSON | XLMIG_XL_FLAG_STREAMV2, 0,
				  config, sizeof(config)) != XLMIG_OK)
		abort();
	fuzz_put_seed(dir, "header-domid", -1, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	const struct fuzz_sim_seed seed = { .vcpus = 2, .pattern = XLMIG_SIM_SEQUENTIAL };
	struct xlmig_buf b = { 0 };
	size_t used;
	struct xlmig_xlhdr h;

	if (fuzz_sim_stream(&seed, &b) != XLMIG_OK ||
	    xlmig_xlhdr_parse(b.data, b.len, &h, &used) != XLMIG_OK) {
		fprintf(stderr, "seed: %s\n", xlmig_errmsg());
		abort();
	}
	fuzz_put_seed(dir, "header-sim", -1, b.data, used);
	xlmig_xlhdr_free(&h);
	xlmig_buf_free(&b);
	domid_seed(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_xlhdr mem, sock;
	char name[XLMIG_NAME_MAX];
	uint32_t domid;
	size_t used = 0;
	int rc_mem, rc_sock;

	rc_mem = xlmig_xlhdr_parse(data, size, &mem, &used);
	rc_sock = xlmig_xlhdr_read(fuzz_input_fd(data, size), &sock);
	if (rc_mem == XLMIG_OK && (used > size || rc_sock != XLMIG_OK ||
				   sock.raw.len != used || memcmp(sock.raw.data, data, used) ||
				   sock.config_len != mem.config_len))
		abort();   /* what parses in memory reads from a socket alike */
	if (rc_mem == XLMIG_OK && mem.config_len) {
		if (mem.config + mem.config_len > mem.raw.data + mem.raw.len)
			abort();
		if (xlmig_xl_config_name(mem.config, mem.config_len, name) == XLMIG_OK &&
		    (!name[0] || strlen(name) + sizeof(XLMIG_MIGRATED_SUFFIX) > XLMIG_NAME_MAX))
			abort();
		if (xlmig_xl_config_domid(mem.config, mem.config_len, &domid) == XLMIG_OK &&
		    domid >= 0x7ff0)
			abort();
	}
	xlmig_xlhdr_free(&mem);
	xlmig_xlhdr_free(&sock);
	return 0;
}
