/* test_json.c - unit tests for json.c: writer escaping and misuse, strict
 * parsing, limits, path lookup, write-back. */
#include "unit.h"
#include "common.h"
#include "json.h"

#include <stdlib.h>

static int parse_str(const char *s, struct xlmig_json **out)
{
	return xlmig_json_parse(s, strlen(s), out);
}

/* Writes a parsed document back compactly into a NUL-terminated buffer. */
static char *reserialize(const struct xlmig_json *root)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, &b);
	xlmig_json_value(&w, root);
	if (xlmig_json_finish(&w) || xlmig_buf_append(&b, "", 1)) {
		xlmig_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

TEST(json_writer_object_array_and_escaping)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "name", "a\"b\\c\n\x01\xff");
	xlmig_json_kv_uint(&w, "mem", 18446744073709551615ull);
	xlmig_json_kv_int(&w, "neg", -5);
	xlmig_json_kv_bool(&w, "ok", true);
	xlmig_json_key(&w, "list");
	xlmig_json_array_open(&w);
	xlmig_json_int(&w, 1);
	xlmig_json_null(&w);
	xlmig_json_double(&w, 0.5);
	xlmig_json_string(&w, "\xc3\xa9");
	xlmig_json_array_close(&w);
	xlmig_json_object_close(&w);
	CHECK_OK(xlmig_json_finish(&w));
	CHECK_OK(xlmig_buf_append(&b, "", 1));
	CHECK_STR((char *)b.data,
		  "{\"name\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\",\"mem\":18446744073709551615,"
		  "\"neg\":-5,\"ok\":true,\"list\":[1,null,0.5,\"\xc3\xa9\"]}");
	xlmig_buf_free(&b);
}

TEST(json_writer_refuses_misuse)
{
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_int(&w, 1); /* no key */
	CHECK_EQ(xlmig_json_finish(&w), XLMIG_E_INVAL);

	xlmig_json_writer_init(&w, &b);
	xlmig_json_array_open(&w);
	xlmig_json_object_close(&w);
	CHECK_EQ(xlmig_json_finish(&w), XLMIG_E_INVAL);

	xlmig_json_writer_init(&w, &b);
	xlmig_json_array_open(&w);
	CHECK_EQ(xlmig_json_finish(&w), XLMIG_E_INVAL); /* unclosed */

	xlmig_json_writer_init(&w, &b);
	xlmig_json_double(&w, 0.0 / 0.0);
	CHECK_EQ(xlmig_json_finish(&w), XLMIG_E_INVAL);

	xlmig_json_writer_init(&w, &b);
	xlmig_json_int(&w, 1);
	xlmig_json_int(&w, 2);
	CHECK_EQ(xlmig_json_finish(&w), XLMIG_E_INVAL);
	xlmig_buf_free(&b);
}

TEST(json_parse_domain_config_paths)
{
	const char *cfg =
		"{\n  \"c_info\": {\"type\": \"pv\", \"name\": \"guest-1\", \"uuid\": \"x\"},\n"
		"  \"b_info\": {\"max_memkb\": 1048576, \"target_memkb\": -1, \"acpi\": false},\n"
		"  \"disks\": [{\"vdev\": \"xvda\"}, {\"vdev\": \"xvdb\"}]\n}\n";
	struct xlmig_json *root;
	const char *s;
	uint64_t u;
	int64_t i;
	bool b;

	CHECK_OK(parse_str(cfg, &root));
	CHECK_OK(xlmig_json_get_str(root, "c_info.name", &s));
	CHECK_STR(s, "guest-1");
	CHECK_OK(xlmig_json_get_str(root, "c_info.type", &s));
	CHECK_STR(s, "pv");
	CHECK_OK(xlmig_json_get_u64(root, "b_info.max_memkb", &u));
	CHECK(u == 1048576);
	CHECK_OK(xlmig_json_get_i64(root, "b_info.target_memkb", &i));
	CHECK_EQ(i, -1);
	CHECK_EQ(xlmig_json_get_u64(root, "b_info.target_memkb", &u), XLMIG_E_FORMAT);
	CHECK_OK(xlmig_json_get_bool(root, "b_info.acpi", &b));
	CHECK(!b);
	CHECK_OK(xlmig_json_get_str(root, "disks.1.vdev", &s));
	CHECK_STR(s, "xvdb");
	CHECK(xlmig_json_get(root, "disks.2") == NULL);
	CHECK_EQ(xlmig_json_get_str(root, "c_info.nope", &s), XLMIG_E_NOTFOUND);
	CHECK_EQ(xlmig_json_get_str(root, "b_info.max_memkb", &s), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_json_get(root, "disks")->count, 2);
	xlmig_json_free(root);
}

TEST(json_parse_strings_and_numbers_exactly)
{
	struct xlmig_json *root;
	char *out;

	CHECK_OK(parse_str(" [\"\\u00e9\\ud83d\\ude00\\/\\t\", -0, 1.5e+10, 18446744073709551615, "
			   "\"\xe2\x82\xac\", true, null, {}] ", &root));
	CHECK_STR(xlmig_json_index(root, 0)->text, "\xc3\xa9\xf0\x9f\x98\x80/\t");
	out = reserialize(root);
	CHECK(out != NULL);
	CHECK_STR(out, "[\"\xc3\xa9\xf0\x9f\x98\x80/\\t\",-0,1.5e+10,18446744073709551615,"
		       "\"\xe2\x82\xac\",true,null,{}]");
	free(out);
	xlmig_json_free(root);

	CHECK_OK(parse_str("\"a\\u0000b\"", &root));
	CHECK_EQ(root->text_len, 3);
	xlmig_json_free(root);
}

TEST(json_parse_rejects_malformed)
{
	static const char *const bad[] = {
		"", " ", "{", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[1e]", "[-]",
		"NaN", "[Infinity]", "'a'", "{a:1}", "[1] x", "[1]]", "\"abc", "\"\\x\"",
		"\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
		"\"a\tb\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "// c\n1",
		"{\"a\":1,\"a\":2}", "{\"a\\u0000\":1}", "tru", "nul", "[1 2]", "{\"a\" 1}",
		"\xef\xbb\xbf{}",
	};
	struct xlmig_json *root = (struct xlmig_json *)1;

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(bad); i++) {
		int rc = parse_str(bad[i], &root);

		if (rc != XLMIG_E_FORMAT)
			unit_fail(__FILE__, __LINE__, "accepted or wrong code %d: %s", rc, bad[i]);
		CHECK(root == NULL);
	}
}

TEST(json_error_names_position)
{
	struct xlmig_json *root;

	CHECK_EQ(parse_str("{\n  \"a\": [1,,2]\n}", &root), XLMIG_E_FORMAT);
	CHECK(strstr(xlmig_errmsg(), "byte 12") != NULL);
	CHECK(strstr(xlmig_errmsg(), "line 2, column 11") != NULL);
}

TEST(json_parse_limits)
{
	struct xlmig_json_limits lim = { .max_bytes = 64, .max_depth = 3, .max_nodes = 4 };
	struct xlmig_json *root;
	char deep[2 * 10000 + 1];

	CHECK_OK(xlmig_json_parse_limits("[[[1]]]", 7, &lim, &root));
	xlmig_json_free(root);
	CHECK_EQ(xlmig_json_parse_limits("[[[[1]]]]", 9, &lim, &root), XLMIG_E_LIMIT);
	CHECK_EQ(xlmig_json_parse_limits("[1,2,3,4]", 9, &lim, &root), XLMIG_E_LIMIT);
	lim.max_nodes = 100;
	memset(deep, ' ', 65);
	deep[0] = '1';
	CHECK_EQ(xlmig_json_parse_limits(deep, 65, &lim, &root), XLMIG_E_LIMIT);
	CHECK_OK(xlmig_json_parse_limits(deep, 64, &lim, &root));
	xlmig_json_free(root);

	/* The default depth limit stops deep nesting long before the stack. */
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	CHECK_EQ(parse_str(deep, &root), XLMIG_E_LIMIT);
	CHECK(root == NULL);
}

TEST(json_reserialize_is_stable)
{
	const char *doc = "{\"k\":[\"\\\"q\\\"\",{\"x\":-1.25e-3}],\"e\":\"\\u001f\"}";
	struct xlmig_json *root, *again;
	char *out, *out2;

	CHECK_OK(parse_str(doc, &root));
	out = reserialize(root);
	CHECK(out != NULL);
	CHECK_STR(out, doc);
	CHECK_OK(parse_str(out, &again));
	out2 = reserialize(again);
	CHECK_STR(out2, out);
	free(out);
	free(out2);
	xlmig_json_free(root);
	xlmig_json_free(again);
}
