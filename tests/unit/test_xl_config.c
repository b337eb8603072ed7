/*
 * test_xl_config.c - xl's save header read from recorded bytes, the
 * domain config in it, and the config file `xl migrate -C` names.
 */
#include "unit.h"
#include "common.h"
#include "stream.h"
#include "xl_config.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>


/* A header as xl writes it: magic, byte order 0x01020304, mandatory
 * flags JSON|STREAMv2 = 3, optional flags 0, optional data length, then
 * le32 config length (NUL included) and the config. */
static size_t recorded_header(uint8_t *out, const char *json)
{
	static const char magic[32] = "Xen saved domain, xl format\n \0 \r";
	uint32_t clen = (uint32_t)strlen(json) + 1;

	memcpy(out, magic, 32);
	memcpy(out + 32, "\x04\x03\x02\x01" "\x03\x00\x00\x00" "\x00\x00\x00\x00", 12);
	xlmig_put_le32(out + 44, clen + 4);
	xlmig_put_le32(out + 48, clen);
	memcpy(out + 52, json, clen);
	return 52 + clen;
}

TEST(xl_config_header_from_recorded_bytes)
{
	const char json[] = "{\"c_info\":{\"type\":\"pvh\",\"name\":\"web1\"},\"b_info\":{}}";
	uint8_t buf[256];
	struct xlmig_xlhdr h;
	char name[XLMIG_NAME_MAX];
	size_t len = recorded_header(buf, json), used;
	int p[2];

	CHECK_OK(xlmig_xlhdr_parse(buf, len + 10, &h, &used));
	CHECK_EQ(used, len);
	CHECK_EQ(h.mandatory_flags, 3);
	CHECK_EQ(h.config_len, sizeof(json));
	CHECK_OK(xlmig_xl_config_name(h.config, h.config_len, name));
	CHECK_STR(name, "web1");
	xlmig_xlhdr_free(&h);
	/* from an fd, leaving what follows the header unread */
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], buf, len) == (ssize_t)len && write(p[1], "LibxlFmt", 8) == 8);
	CHECK_OK(xlmig_xlhdr_read(p[0], &h));
	CHECK_EQ(h.raw.len, len);
	CHECK(read(p[0], buf, 8) == 8 && !memcmp(buf, "LibxlFmt", 8));
	xlmig_xlhdr_free(&h);
	close(p[0]);
	close(p[1]);
}

/* Read from an fd, optional data longer than the reader's chunk comes
 * back whole, as from memory; one announced but not sent is refused. */
TEST(xl_config_header_read_in_chunks)
{
	const size_t big = 200u << 10;
	uint8_t *buf = malloc(52 + big + 1);
	char *json = malloc(big);
	struct xlmig_xlhdr h, m;
	FILE *f = tmpfile();
	size_t len;

	CHECK(buf && json && f);
	/* A config with a long run of blanks: valid JSON, 200 KiB. */
	memset(json, ' ', big - 1);
	json[big - 1] = 0;
	json[0] = '{';
	json[big - 2] = '}';
	len = recorded_header(buf, json);
	CHECK(fwrite(buf, 1, len, f) == len && fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0);
	CHECK_OK(xlmig_xlhdr_read(fileno(f), &h));
	CHECK_OK(xlmig_xlhdr_parse(buf, len, &m, NULL));
	CHECK_EQ(h.raw.len, len);
	CHECK(!memcmp(h.raw.data, buf, len));
	CHECK_EQ(h.config_len, m.config_len);
	xlmig_xlhdr_free(&h);
	xlmig_xlhdr_free(&m);
	/* 16 MiB announced, 100 bytes sent. */
	xlmig_put_le32(buf + 44, XLMIG_MAX_XL_OPTDATA);
	CHECK(ftruncate(fileno(f), 0) == 0 && fseek(f, 0, SEEK_SET) == 0);
	CHECK(fwrite(buf, 1, 152, f) == 152 && fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0);
	CHECK(xlmig_xlhdr_read(fileno(f), &h) != XLMIG_OK);
	CHECK(strstr(xlmig_errmsg(), "optional data") != NULL);
	CHECK_EQ(h.raw.len, 0);
	fclose(f);
	free(json);
	free(buf);
}

TEST(xl_config_header_rejects_bad_input)
{
	const char json[] = "{\"c_info\":{\"name\":\"a b\"}}";
	uint8_t buf[256];
	struct xlmig_xlhdr h;
	char name[XLMIG_NAME_MAX];
	size_t len = recorded_header(buf, json);

	CHECK_EQ(xlmig_xlhdr_parse(buf, len - 1, &h, NULL), XLMIG_E_TRUNCATED);
	buf[0] ^= 1;
	CHECK_EQ(xlmig_xlhdr_parse(buf, len, &h, NULL), XLMIG_E_FORMAT);
	buf[0] ^= 1;
	buf[36] |= 0x80;   /* unknown mandatory flag */
	CHECK_EQ(xlmig_xlhdr_parse(buf, len, &h, NULL), XLMIG_E_UNSUPPORTED);
	buf[36] &= 0x7f;
	buf[36] &= (uint8_t)~2;   /* no STREAMV2: refused as the stream parser refuses it */
	CHECK_EQ(xlmig_xlhdr_parse(buf, len, &h, NULL), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "legacy") != NULL);
	buf[36] |= 2;
	xlmig_put_le32(buf + 48, 1000);   /* config longer than the optional data */
	CHECK_EQ(xlmig_xlhdr_parse(buf, len, &h, NULL), XLMIG_E_FORMAT);
	xlmig_put_le32(buf + 44, 0x7fffffff);
	CHECK_EQ(xlmig_xlhdr_parse(buf, len, &h, NULL), XLMIG_E_LIMIT);
	/* a name with a space is refused */
	CHECK_EQ(xlmig_xl_config_name((const uint8_t *)json, sizeof(json), name), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_xl_config_name((const uint8_t *)"{}", 3, name), XLMIG_E_FORMAT);
}

static const uint8_t *u8(const char *s)
{
	return (const uint8_t *)s;
}

TEST(xl_config_config_domid_is_the_senders_preserve_request)
{
	const char *none = "{\"c_info\":{\"name\":\"web1\"}}";
	const char *zero = "{\"c_info\":{\"name\":\"web1\",\"domid\":0}}";
	const char *seven = "{\"c_info\":{\"name\":\"web1\",\"domid\":7}}";
	const char *reserved = "{\"c_info\":{\"name\":\"web1\",\"domid\":32752}}";
	const char *text = "{\"c_info\":{\"name\":\"web1\",\"domid\":\"7\"}}";
	uint32_t d = 99;

	CHECK_OK(xlmig_xl_config_domid(u8(none), (uint32_t)strlen(none) + 1, &d));
	CHECK_EQ(d, 0);
	CHECK_OK(xlmig_xl_config_domid(u8(zero), (uint32_t)strlen(zero), &d));
	CHECK_EQ(d, 0);
	CHECK_OK(xlmig_xl_config_domid(u8(seven), (uint32_t)strlen(seven) + 1, &d));
	CHECK_EQ(d, 7);
	CHECK_EQ(xlmig_xl_config_domid(u8(reserved), (uint32_t)strlen(reserved), &d), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_xl_config_domid(u8(text), (uint32_t)strlen(text), &d), XLMIG_E_FORMAT);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
}

TEST(xl_config_config_load_takes_json_as_it_is)
{
	char path[512], *text = NULL;
	const char *json = " {\"c_info\":{\"type\":\"pvh\",\"name\":\"web1\"}}\n";

	snprintf(path, sizeof(path), "%s/web1.json", unit_tmpdir());
	write_file(path, json, 0600);
	/* xl is never run for JSON: a program that does not exist proves it */
	CHECK_OK(xlmig_xl_config_load(path, "/nonexistent/xl", &text));
	CHECK_STR(text, json);
	free(text);
	write_file(path, "{\"c_info\":{}}", 0600);
	CHECK_EQ(xlmig_xl_config_load(path, "/nonexistent/xl", &text), XLMIG_E_FORMAT);
	write_file(path, "{\"c_info\":", 0600);
	CHECK(xlmig_xl_config_load(path, "/nonexistent/xl", &text) != 0);
	snprintf(path, sizeof(path), "%s/missing.json", unit_tmpdir());
	CHECK_EQ(xlmig_xl_config_load(path, NULL, &text), XLMIG_E_NOTFOUND);
	CHECK(text == NULL);
}

TEST(xl_config_config_load_converts_xl_format_through_xl)
{
	char cfg[512], xl[512], *text = NULL;

	snprintf(cfg, sizeof(cfg), "%s/web1.cfg", unit_tmpdir());
	write_file(cfg, "name = \"web1\"\ntype = \"pvh\"\nmemory = 128\n", 0600);
	/* An xl that checks it was asked for a dry run of this very file. */
	snprintf(xl, sizeof(xl), "%s/xl", unit_tmpdir());
	write_file(xl,
		   "#!/bin/sh\n"
		   "[ \"$1\" = -N ] && [ \"$2\" = create ] && grep -q 'name = \"web1\"' \"$3\" || exit 3\n"
		   "echo '{\"c_info\":{\"type\":\"pvh\",\"name\":\"web1\"},\"b_info\":{\"max_memkb\":131072}}'\n",
		   0700);
	CHECK_OK(xlmig_xl_config_load(cfg, xl, &text));
	CHECK(strstr(text, "\"max_memkb\":131072") != NULL);
	free(text);
	text = NULL;
	/* xl refuses the file: the message says how to convert by hand */
	write_file(cfg, "name = web1 nonsense\n", 0600);
	CHECK_EQ(xlmig_xl_config_load(cfg, xl, &text), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "status 3") != NULL);
	CHECK(strstr(xlmig_errmsg(), "xl -N create") != NULL);
	CHECK(text == NULL);
	/* no xl on this host */
	CHECK_EQ(xlmig_xl_config_load(cfg, "/nonexistent/xl", &text), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "status 127") != NULL);
	/* xl printing something that is not a config */
	write_file(cfg, "name = \"web1\"\n", 0600);
	write_file(xl, "#!/bin/sh\necho 'Parsing config from x'\n", 0700);
	CHECK(xlmig_xl_config_load(cfg, xl, &text) != 0);
	CHECK(text == NULL);
}
