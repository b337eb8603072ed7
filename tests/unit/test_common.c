/* test_common.c - unit tests for common.c: errors, byte order, buffers, sizes. */
#include "unit.h"
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

TEST(common_byte_order)
{
	uint8_t b[8];

	xlmig_put_be32(b, 0x01020304);
	CHECK(b[0] == 1 && b[3] == 4);
	CHECK_EQ(xlmig_get_be32(b), 0x01020304);
	xlmig_put_le64(b, 0x1122334455667788ull);
	CHECK(b[0] == 0x88 && b[7] == 0x11);
	CHECK(xlmig_get_le64(b) == 0x1122334455667788ull);
	xlmig_put_be64(b, 0x4c6962786c466d74ull);
	CHECK(memcmp(b, "LibxlFmt", 8) == 0);
	CHECK(xlmig_get_be64(b) == 0x4c6962786c466d74ull);
	xlmig_put_le16(b, 0xabcd);
	CHECK_EQ(xlmig_get_le16(b), 0xabcd);
}

TEST(common_buf_grows_and_keeps_bytes)
{
	struct xlmig_buf b = { 0 };

	for (int i = 0; i < 100000; i++) {
		uint8_t c = (uint8_t)i;
		CHECK_OK(xlmig_buf_append(&b, &c, 1));
	}
	CHECK_EQ(b.len, 100000);
	for (int i = 0; i < 100000; i++)
		CHECK_EQ(b.data[i], (uint8_t)i);
	xlmig_buf_reset(&b);
	CHECK_EQ(b.len, 0);
	xlmig_buf_free(&b);
	CHECK(b.data == NULL);
}

TEST(common_error_message_and_prefix)
{
	int rc = xlmig_fail(XLMIG_E_FORMAT, "bad record at offset %d", 42);

	CHECK_EQ(rc, XLMIG_E_FORMAT);
	CHECK_STR(xlmig_errmsg(), "bad record at offset 42");
	xlmig_fail_prefix(rc, "inspect %s", "f.save");
	CHECK_STR(xlmig_errmsg(), "inspect f.save: bad record at offset 42");
	CHECK_STR(xlmig_strerror(XLMIG_E_TRUNCATED), "input truncated");
}

TEST(common_error_prefix_too_long_is_cut_and_marked)
{
	char longmsg[2000];

	memset(longmsg, 'a', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	xlmig_fail(XLMIG_E_FORMAT, "%s", longmsg);
	xlmig_fail_prefix(XLMIG_E_FORMAT, "inspect %s", "f.save");
	const char *m = xlmig_errmsg();
	size_t n = strlen(m);
	CHECK(strncmp(m, "inspect f.save: aaa", 19) == 0);
	CHECK(n > 19);
	CHECK_STR(m + n - 3, "...");
	xlmig_errclear();
}

TEST(common_hex_encode)
{
	static const uint8_t bytes[] = { 0x00, 0x09, 0xa0, 0xff, 0x5c };
	char out[2 * sizeof(bytes) + 1];

	memset(out, 'x', sizeof(out));
	xlmig_hex_encode(bytes, sizeof(bytes), out);
	CHECK(strcmp(out, "0009a0ff5c") == 0);
	xlmig_hex_encode(bytes, 0, out);
	CHECK(out[0] == '\0');
}

/* The deadline is on the wall clock and ms away: within a generous
 * window of it (the machine may be loaded), nanoseconds normalised. */
TEST(common_deadline_ms)
{
	const unsigned waits[] = { 0, 1, 999, 1000, 1500, 61001 };

	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(waits); i++) {
		struct timespec now, d = xlmig_deadline_ms(waits[i]);
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t diff_ms = ((int64_t)d.tv_sec - now.tv_sec) * 1000 +
				  (d.tv_nsec - now.tv_nsec) / 1000000;
		CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
		CHECK_INT(diff_ms, <=, (int64_t)waits[i]);
		CHECK_INT(diff_ms, >=, (int64_t)waits[i] - 1000);
	}
}

TEST(common_parse_size)
{
	uint64_t v;

	CHECK_OK(xlmig_parse_size("4096", &v));
	CHECK_EQ(v, 4096);
	CHECK_OK(xlmig_parse_size("64M", &v));
	CHECK_EQ(v, 64ull << 20);
	CHECK_OK(xlmig_parse_size("8GiB", &v));
	CHECK(v == 8ull << 30);
	CHECK(xlmig_parse_size("12X", &v) == XLMIG_E_INVAL);
	CHECK(xlmig_parse_size("", &v) == XLMIG_E_INVAL);
	CHECK(xlmig_parse_size("-1", &v) == XLMIG_E_INVAL);
	CHECK(xlmig_parse_size("99999999999999T", &v) == XLMIG_E_INVAL);
}

TEST(common_read_full_reports_truncation)
{
	int p[2];
	char buf[8];

	CHECK(pipe(p) == 0);
	CHECK_OK(xlmig_write_full(p[1], "abc", 3));
	close(p[1]);
	CHECK_EQ(xlmig_read_full(p[0], buf, 8), XLMIG_E_TRUNCATED);
	close(p[0]);
	CHECK(pipe(p) == 0);
	close(p[1]);
	CHECK_EQ(xlmig_read_full(p[0], buf, 8), XLMIG_E_CLOSED);
	close(p[0]);
}

/* A byte anywhere, in the first word or the last, makes a page non-zero. */
TEST(common_page_is_zero)
{
	static uint8_t page[XLMIG_PAGE_SIZE];

	memset(page, 0, sizeof(page));
	CHECK(xlmig_page_is_zero(page));
	for (unsigned at = 0; at < XLMIG_PAGE_SIZE; at += 511) {
		page[at] = 1;
		CHECK(!xlmig_page_is_zero(page));
		page[at] = 0;
	}
	page[XLMIG_PAGE_SIZE - 1] = 0x80;
	CHECK(!xlmig_page_is_zero(page));
}

static void spin_ms(unsigned ms)
{
	uint64_t end = xlmig_now_ns() + ms * 1000000ull;

	while (xlmig_now_ns() < end)
		;
}

static void *spinner_main(void *arg)
{
	spin_ms(*(unsigned *)arg);
	return NULL;
}

/* Two threads spinning on one CPU: each waits for it about half the time,
 * and the kernel's count of that wait is what xlmig_thread_wait_ns reads. */
TEST(common_thread_wait_counts_time_without_a_cpu)
{
	cpu_set_t one, old;
	unsigned ms = 200;
	uint64_t w0, w1;
	pthread_t t;

	if (access("/proc/thread-self/schedstat", R_OK) != 0)
		SKIP("this kernel has no /proc/thread-self/schedstat");
	CHECK(sched_getaffinity(0, sizeof(old), &old) == 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	w0 = xlmig_thread_wait_ns();
	CHECK(pthread_create(&t, NULL, spinner_main, &ms) == 0);   /* inherits the CPU */
	spin_ms(ms);
	pthread_join(t, NULL);
	w1 = xlmig_thread_wait_ns();
	sched_setaffinity(0, sizeof(old), &old);
	CHECK(w1 >= w0 + 20000000ull);   /* at least 20 of the ~100 ms */
}
