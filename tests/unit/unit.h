/*
 * unit.h - xlmig's small unit-test framework.
 *
 * A test is a function declared with TEST(name); it registers itself at
 * start-up.  The runner (tests/unit/main.c) runs each test in a child
 * process, so a crash or an abort fails that test and not the suite, and
 * ends with the line "N passed, N failed, N skipped".  CHECK() fails the
 * current test and returns from it; SKIP() reports that the test cannot
 * run here (and why) and returns: a skip is counted as such, never as a
 * pass.  A test child ends with exit(), so LeakSanitizer (in the ASan
 * build) and valgrind see its leaks, and a leak fails the test.
 */
#ifndef XLMIG_UNIT_H
#define XLMIG_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);
void unit_register(const char *name, unit_fn fn, const char *file);
void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void unit_skip(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Nonzero once the running test has failed. */
int unit_failed(void);
/* A scratch directory private to the running test (created on demand). */
const char *unit_tmpdir(void);

#define TEST(name)                                                        \
	static void name(void);                                           \
	__attribute__((constructor)) static void register_##name(void)    \
	{ unit_register(#name, name, __FILE__); }                         \
	static void name(void)

/* The test cannot run on this machine: say why (printf-style) and return. */
#define SKIP(...)                                                         \
	do {                                                              \
		unit_skip(__FILE__, __LINE__, __VA_ARGS__);               \
		return;                                                   \
	} while (0)

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			unit_fail(__FILE__, __LINE__, "%s", #cond);       \
			return;                                           \
		}                                                         \
	} while (0)

#define CHECK_INT(a, op, b)                                               \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (!(a_ op b_)) {                                        \
			unit_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", \
				  #a, #op, #b, a_, b_);                   \
			return;                                           \
		}                                                         \
	} while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

/* Return code check that prints xlmig's error message on failure. */
#define CHECK_OK(expr)                                                    \
	do {                                                              \
		int rc_ = (expr);                                         \
		if (rc_ != 0) {                                           \
			unit_fail(__FILE__, __LINE__, "%s = %d (%s)", #expr, \
				  rc_, xlmig_errmsg());                   \
			return;                                           \
		}                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                   \
	do {                                                              \
		const char *a_ = (a), *b_ = (b);                          \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                  \
			unit_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", \
				  #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
			return;                                           \
		}                                                         \
	} while (0)

#endif
