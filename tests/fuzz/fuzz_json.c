/*
 * fuzz_json.c - libFuzzer harness for the JSON parser: its input is what
 * a local client writes on the control socket, the config in an xl save
 * header, a commit message from a peer, a preflight file.
 *
 * Every input is parsed with the default limits and with tight ones.  A
 * document that parses must survive the round trip: written back it is
 * valid JSON that parses again and writes back to the very same bytes.
 * Every node is looked up again by its dotted path (where its keys allow
 * one) and read through every typed getter.  Nothing may crash, leak or
 * read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes seeds (a domain config, a control
 * request, escapes and numbers of every shape) into DIR and exits.
 */
#include "harness.h"
#include "json.h"

static void write_back(const struct xlmig_json *root, struct xlmig_buf *out)
{
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, out);
	xlmig_json_value(&w, root);
	if (xlmig_json_finish(&w) != XLMIG_OK)
		abort();   /* a parsed document always has a JSON form */
}

static void read_typed(const struct xlmig_json *root, const char *path,
		       const struct xlmig_json *node)
{
	const char *s;
	uint64_t u;
	int64_t i;
	bool b;

	if (xlmig_json_get_str(root, path, &s) == XLMIG_OK &&
	    (node->type != XLMIG_JSON_STRING || s != node->text))
		abort();
	if (xlmig_json_get_bool(root, path, &b) == XLMIG_OK && node->type != XLMIG_JSON_BOOL)
		abort();
	if (xlmig_json_get_u64(root, path, &u) == XLMIG_OK && node->type != XLMIG_JSON_NUMBER)
		abort();
	if (xlmig_json_get_i64(root, path, &i) == XLMIG_OK && node->type != XLMIG_JSON_NUMBER)
		abort();
}

/* Visit every node, and look up again those a dotted path can name:
 * keys that are not empty, hold no '.' and fit a path component. */
static void walk(const struct xlmig_json *root, const struct xlmig_json *node,
		 char *path, size_t len, size_t cap)
{
	size_t i = 0;

	read_typed(root, len ? path : "", node);
	if (len && xlmig_json_get(root, path) != node)
		abort();
	for (const struct xlmig_json *c = node->child; c; c = c->next, i++) {
		size_t n;
		int w;

		if (node->type == XLMIG_JSON_OBJECT) {
			if (!c->key || strchr(c->key, '.') || !c->key[0] ||
			    strlen(c->key) >= 256 || xlmig_json_member(node, c->key) != c)
				continue;
			w = snprintf(path + len, cap - len, "%s%s", len ? "." : "", c->key);
		} else {
			if (xlmig_json_index(node, i) != c)
				abort();
			w = snprintf(path + len, cap - len, "%s%zu", len ? "." : "", i);
		}
		n = (size_t)w;
		if (w < 0 || len + n >= cap)
			continue;
		walk(root, c, path, len + n, cap);
		path[len] = '\0';
	}
}

static void check_round_trip(const struct xlmig_json *root)
{
	struct xlmig_buf once = { 0 }, twice = { 0 };
	struct xlmig_json *again = NULL;

	write_back(root, &once);
	if (xlmig_json_parse((const char *)once.data, once.len, &again) != XLMIG_OK)
		abort();
	write_back(again, &twice);
	if (once.len != twice.len || memcmp(once.data, twice.data, once.len))
		abort();
	xlmig_json_free(again);
	xlmig_buf_free(&once);
	xlmig_buf_free(&twice);
}

static void write_seeds(const char *dir)
{
	static const struct {
		const char *name, *text;
	} seeds[] = {
		{ "config", "{\"c_info\":{\"type\":\"pvh\",\"name\":\"guest-1\",\"domid\":7},"
			    "\"b_info\":{\"max_vcpus\":2,\"max_memkb\":131072,\"target_memkb\":131072},"
			    "\"disks\":[{\"vdev\":\"xvda\",\"pdev_path\":\"/dev/vg/g1\"}],"
			    "\"nics\":[{\"bridge\":\"xenbr0\",\"mac\":\"00:16:3e:00:00:01\"}]}" },
		{ "request", "{\"cmd\":\"migrate\",\"domain\":\"g1\",\"host\":\"10.0.0.2\",\"port\":8002,"
			     "\"channels\":4,\"compress\":true,\"downtime_ms\":300,\"policy\":\"xen\"}" },
		{ "strings", "[\"\",\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\",\"\\u0000\\u00e9\\u20ac\","
			     "\"\\ud83d\\ude00\",\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]" },
		{ "numbers", " [0, -0, 1, -1, 18446744073709551615, 18446744073709551616,"
			     " -9223372036854775808, 1.5, -2.25e-3, 1E+400, 0.0e0, true, false, null]\n" },
		{ "nested", "{\"a\":[[[{\"b\":{\"c\":[1,{\"d\":[]}]}}]]],\"e\":{},\"f.g\":1,\"0\":2}" },
	};

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(seeds); i++)
		fuzz_put_seed(dir, seeds[i].name, -1, seeds[i].text, strlen(seeds[i].text));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xlmig_json_limits tight = { .max_bytes = 4096, .max_depth = 3,
							 .max_nodes = 16 };
	struct xlmig_json *root = NULL;
	char path[1024] = "";
	int rc;

	rc = xlmig_json_parse((const char *)data, size, &root);
	if ((rc == XLMIG_OK) != (root != NULL))
		abort();
	if (root) {
		check_round_trip(root);
		walk(root, root, path, 0, sizeof(path));
		xlmig_json_free(root);
	}
	rc = xlmig_json_parse_limits((const char *)data, size, &tight, &root);
	if ((rc == XLMIG_OK) != (root != NULL))
		abort();
	xlmig_json_free(root);
	return 0;
}
