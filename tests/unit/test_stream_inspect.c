/* test_stream_inspect.c - `xlmig inspect` on generated save files in the
 * test's scratch directory: the xlmig program built next to this runner
 * is run as an administrator would run it. */
#include "unit.h"
#include "common.h"
#include "json.h"
#include "stream.h"
#include "stream_gen.h"
#include "xlproto.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The xlmig binary of the same build directory as this runner. */
static int xlmig_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return XLMIG_E_IO;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return XLMIG_E_IO;
	*slash = '\0';
	if (strlen(self) + sizeof("/xlmig") > size)
		return XLMIG_E_LIMIT;
	strcpy(out, self);
	strcat(out, "/xlmig");
	if (access(out, X_OK))
		return xlmig_fail(XLMIG_E_NOTFOUND, "%s not found: build xlmig next to the "
				  "unit-test runner", out);
	return XLMIG_OK;
}

static int write_stream(const char *path, const struct xlmig_gen_params *gp)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct xlmig_sink sink = { xlmig_sink_fd_write, &fd };
	int rc;

	if (fd < 0)
		return XLMIG_E_IO;
	rc = xlmig_gen_stream(gp, &sink);
	close(fd);
	return rc;
}

/* Run `xlmig inspect ARGS` with stdout and stderr into out (both). */
static int run_inspect(const char *args, struct xlmig_buf *out, int *status)
{
	char bin[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *f;
	uint8_t chunk[4096];
	size_t n;
	int rc = xlmig_path(bin, sizeof(bin));

	if (rc)
		return rc;
	snprintf(cmd, sizeof(cmd), "%s inspect %s 2>&1", bin, args);
	f = popen(cmd, "r");
	if (!f)
		return XLMIG_E_IO;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (xlmig_buf_append(out, chunk, n))
			break;
	*status = pclose(f);
	*status = WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
	return xlmig_buf_append(out, "", 1);
}

static int files_equal(const char *a, const char *b)
{
	char cmd[2 * PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

TEST(stream_inspect_json_of_a_generated_pv_stream)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf out = { 0 };
	struct xlmig_json *j;
	char path[PATH_MAX], args[PATH_MAX + 16];
	const char *s;
	uint64_t v;
	int status;

	xlmig_gen_defaults(&gp);
	gp.name = "db-7";
	gp.pages = 4096;
	gp.dirty_pages = 100;
	snprintf(path, sizeof(path), "%s/pv.save", unit_tmpdir());
	CHECK_OK(write_stream(path, &gp));
	snprintf(args, sizeof(args), "'%s' --json", path);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 0);
	CHECK_OK(xlmig_json_parse((const char *)out.data, out.len - 1, &j));
	CHECK_OK(xlmig_json_get_str(j, "domain.name", &s));
	CHECK_STR(s, "db-7");
	CHECK_OK(xlmig_json_get_str(j, "domain.type", &s));
	CHECK_STR(s, "pv");
	CHECK_OK(xlmig_json_get_u64(j, "domain.max_memkb", &v));
	CHECK(v == 4096 * 4);
	CHECK_OK(xlmig_json_get_u64(j, "libxc_version", &v));
	CHECK(v == 3);
	CHECK_OK(xlmig_json_get_u64(j, "libxc_records.X86_PV_VCPU_BASIC.count", &v));
	CHECK(v == gp.vcpus);
	CHECK_OK(xlmig_json_get_u64(j, "libxc_records.PAGE_DATA.count", &v));
	CHECK(v >= 4);
	/* Pass 0 sends everything but the holes; passes 1 and 2 the dirty
	 * pages, which count as sent again unless they were holes before. */
	{
		uint64_t distinct = 0, again = 0;

		for (uint64_t pfn = 0; pfn < 4096; pfn++) {
			bool hole = pfn % 251 == 250 || pfn % 509 == 300;
			unsigned sends = !hole + xlmig_gen_is_dirty(&gp, pfn, 1) +
					 xlmig_gen_is_dirty(&gp, pfn, 2);

			distinct += sends > 0;
			again += sends > 1 ? sends - 1 : 0;
		}
		CHECK_OK(xlmig_json_get_u64(j, "pages.distinct", &v));
		CHECK_EQ(v, distinct);
		CHECK_OK(xlmig_json_get_u64(j, "pages.sent_again", &v));
		CHECK_EQ(v, again);
		CHECK(again > 100);
	}
	CHECK_OK(xlmig_json_get_u64(j, "pages.pfn_max", &v));
	CHECK(v == 4095);
	CHECK_OK(xlmig_json_get_str(j, "trailing.0.type", &s));
	CHECK_STR(s, "X86_TSC_INFO");
	xlmig_json_free(j);
	xlmig_buf_free(&out);
}

TEST(stream_inspect_text_and_rewrite_hvm_from_stdin)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf out = { 0 };
	char path[PATH_MAX], copy[PATH_MAX], args[3 * PATH_MAX];
	int status;

	xlmig_gen_defaults(&gp);
	gp.guest_type = XLMIG_GUEST_X86_HVM;
	gp.libxc_version = 2;
	gp.checkpoints = 1;
	gp.optional_records = true;
	snprintf(path, sizeof(path), "%s/hvm.save", unit_tmpdir());
	snprintf(copy, sizeof(copy), "%s/hvm.copy", unit_tmpdir());
	CHECK_OK(write_stream(path, &gp));
	snprintf(args, sizeof(args), "- --rewrite '%s' < '%s'", copy, path);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 0);
	CHECK(strstr((char *)out.data, "name guest, type hvm") != NULL);
	CHECK(strstr((char *)out.data, "version 2, x86 HVM guest, Xen 4.13") != NULL);
	CHECK(strstr((char *)out.data, "EMULATOR_CONTEXT") != NULL);
	CHECK(strstr((char *)out.data, "CHECKPOINT_END") != NULL);
	CHECK(files_equal(path, copy));
	xlmig_buf_free(&out);
}

TEST(stream_inspect_reports_malformed_input)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf out = { 0 };
	char path[PATH_MAX], args[PATH_MAX + 16];
	int status, fd;
	uint8_t len[4], junk = 0x55;

	xlmig_gen_defaults(&gp);
	snprintf(path, sizeof(path), "%s/bad.save", unit_tmpdir());
	CHECK_OK(write_stream(path, &gp));
	/* Corrupt the libxl header, right after the xl header's optional data. */
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, len, 4, 44) == 4);
	CHECK(pwrite(fd, &junk, 1, 48 + xlmig_get_le32(len)) == 1);
	close(fd);
	snprintf(args, sizeof(args), "'%s'", path);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 1);
	CHECK(strstr((char *)out.data, "libxl stream header at offset") != NULL);
	CHECK(strstr((char *)out.data, "ident") != NULL);

	/* Truncated inside the xl header's config, and usage errors. */
	CHECK_OK(write_stream(path, &gp));
	CHECK(truncate(path, 100) == 0);
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 1);
	CHECK(strstr((char *)out.data, "xl save header at offset 0: stream ends inside") != NULL);
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect("--bogus", &out, &status));
	CHECK_EQ(status, 2);
	xlmig_buf_free(&out);
}

/* Append len bytes to the file at path. */
static int append_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	int rc;

	if (fd < 0)
		return XLMIG_E_IO;
	rc = write(fd, data, len) == (ssize_t)len ? XLMIG_OK : XLMIG_E_IO;
	close(fd);
	return rc;
}

/* What an `xl migrate` sender wrote: the stream, then xl's GO.  The GO
 * is named, and --rewrite gives back the stream without it; a capture
 * cut inside the GO, or with other bytes after END, is refused. */
TEST(stream_inspect_names_xl_messages_after_end)
{
	struct xlmig_gen_params gp;
	struct xlmig_buf out = { 0 };
	struct xlmig_json *j = NULL;
	char path[PATH_MAX], cap[PATH_MAX], copy[PATH_MAX], args[3 * PATH_MAX];
	uint64_t v = 0, bytes = 0;
	const char *s;
	int status;

	xlmig_gen_defaults(&gp);
	gp.pages = 512;
	snprintf(path, sizeof(path), "%s/stream.save", unit_tmpdir());
	snprintf(cap, sizeof(cap), "%s/xl-sender.cap", unit_tmpdir());
	snprintf(copy, sizeof(copy), "%s/stream.copy", unit_tmpdir());
	CHECK_OK(write_stream(path, &gp));
	CHECK_OK(write_stream(cap, &gp));
	CHECK_OK(append_bytes(cap, XLMIG_XLPROTO_GO, sizeof(XLMIG_XLPROTO_GO)));

	snprintf(args, sizeof(args), "'%s' --json --rewrite '%s'", cap, copy);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 0);
	CHECK_OK(xlmig_json_parse((const char *)out.data, out.len - 1, &j));
	CHECK_OK(xlmig_json_get_str(j, "xl_messages.0.message", &s));
	CHECK_STR(s, "GO message");
	CHECK_OK(xlmig_json_get_u64(j, "xl_messages.0.offset", &v));
	CHECK_OK(xlmig_json_get_u64(j, "bytes", &bytes));
	CHECK(v == bytes);
	CHECK(xlmig_json_get(j, "xl_messages.1") == NULL);
	xlmig_json_free(j);
	CHECK(files_equal(path, copy));

	snprintf(args, sizeof(args), "'%s'", cap);
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 0);
	CHECK(strstr((char *)out.data, "after END:    xl's GO message at offset") != NULL);

	/* A plain stream has no such line. */
	snprintf(args, sizeof(args), "'%s'", path);
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 0);
	CHECK(strstr((char *)out.data, "after END") == NULL);

	/* Cut inside the GO. */
	CHECK(truncate(cap, (off_t)(bytes + 10)) == 0);
	snprintf(args, sizeof(args), "'%s'", cap);
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 1);
	CHECK(strstr((char *)out.data, "inside one of xl's messages") != NULL);

	/* Bytes that are not xl's. */
	CHECK(truncate(cap, (off_t)bytes) == 0);
	CHECK_OK(append_bytes(cap, "domain was taken", 16));
	xlmig_buf_reset(&out);
	CHECK_OK(run_inspect(args, &out, &status));
	CHECK_EQ(status, 1);
	CHECK(strstr((char *)out.data, "not one of xl's migration messages") != NULL);
	xlmig_buf_free(&out);
}
