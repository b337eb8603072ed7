/*
 * test_migrate_opts.c - the table of `xlmig migrate`'s options: its
 * defaults are a job's, its bounds hold for every caller, the alias
 * parses as the documented name, and man/xlmig.1 documents exactly it.
 */
#include "unit.h"
#include "common.h"
#include "migrate_opts.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>


/* Applying the table's defaults changes nothing in a default job. */
TEST(migrate_opts_defaults_are_the_jobs)
{
	struct xlmig_migrate_opts want, got;

	xlmig_migrate_opts_default(&want);
	got = want;
	for (size_t i = 0; i < xlmig_mopts_count; i++) {
		const struct xlmig_mopt *m = &xlmig_mopts[i];

		if ((m->where & XLMIG_MOPT_JOB) &&
		    (m->type == XLMIG_MOPT_UINT || m->type == XLMIG_MOPT_RATE))
			CHECK_OK(xlmig_mopt_apply(m, m->def, NULL, &got));
	}
	CHECK(memcmp(&want, &got, sizeof(want)) == 0);
}

TEST(migrate_opts_bounds)
{
	const struct xlmig_mopt *dt = xlmig_mopt_by_json("downtime_ms");
	const struct xlmig_mopt *it = xlmig_mopt_by_json("max_iters");
	uint64_t v;

	CHECK(dt && it);
	CHECK_OK(xlmig_mopt_parse(dt, "600000", &v));
	CHECK_EQ(xlmig_mopt_parse(dt, "600001", &v), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_mopt_parse(dt, "0", &v), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_mopt_parse(dt, "-3", &v), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_mopt_parse(it, "65", &v), XLMIG_E_INVAL);
	CHECK(strstr(xlmig_errmsg(), "--max-iters") != NULL);
	CHECK_EQ(xlmig_mopt_check(it, 0), XLMIG_E_INVAL);
}

static char *read_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct xlmig_buf b = { 0 };

	if (fd < 0)
		return NULL;
	if (xlmig_read_all(fd, 1 << 20, &b)) {
		xlmig_buf_free(&b);
		b.data = NULL;
	}
	close(fd);
	return (char *)b.data;
}

/* The option named at p (after "\fB\-"): a letter, or a long name with
 * roff's "\-" for '-'. */
static void roff_option(const char *p, char *out, size_t cap)
{
	size_t k = 0;

	if (!strncmp(p, "\\-", 2)) {
		for (p += 2; *p && k + 1 < cap; ) {
			if (!strncmp(p, "\\-", 2)) {
				out[k++] = '-';
				p += 2;
			} else if (islower((unsigned char)*p)) {
				out[k++] = *p++;
			} else {
				break;
			}
		}
	} else if (isalpha((unsigned char)*p)) {
		out[k++] = *p;
	}
	out[k] = '\0';
}

static const struct xlmig_mopt *by_spelling(const char *s)
{
	for (size_t i = 0; i < xlmig_mopts_count; i++) {
		const struct xlmig_mopt *m = &xlmig_mopts[i];

		if ((s[1] == '\0' && m->letter == s[0]) || (m->name && !strcmp(m->name, s)) ||
		    (m->alias && !strcmp(m->alias, s)))
			return m;
	}
	return NULL;
}

/* man/xlmig.1's entry for migrate names every option of the table and no
 * other (run from the source tree, as tests/run.sh does). */
TEST(migrate_opts_match_the_manual)
{
	char *man = read_text("man/xlmig.1");
	char *start, *end, opt[64];
	bool seen[XLMIG_MOPTS_MAX] = { false };

	if (!man) {
		unit_fail(__FILE__, __LINE__, "man/xlmig.1 missing (run from the source tree)");
		return;
	}
	start = strstr(man, "\\fBmigrate\\fR \\fIDOMAIN\\fR");
	end = start ? strstr(start, "\n.TP\n\\fBstatus\\fR") : NULL;
	if (!start || !end) {
		unit_fail(__FILE__, __LINE__, "man/xlmig.1 has no migrate entry before status");
		goto out;
	}
	*end = '\0';
	for (const char *p = start; (p = strstr(p, "\\fB\\-")); p += 5) {
		const struct xlmig_mopt *m;

		roff_option(p + 5, opt, sizeof(opt));
		m = by_spelling(opt);
		if (!m)
			unit_fail(__FILE__, __LINE__, "xlmig(1) documents -%s%s, which xlmig migrate does not have",
				  opt[1] ? "-" : "", opt);
		else
			seen[m - xlmig_mopts] = true;
	}
	for (size_t i = 0; i < xlmig_mopts_count; i++)
		if (!seen[i])
			unit_fail(__FILE__, __LINE__, "xlmig(1) does not document %s%s",
				  xlmig_mopts[i].name ? "--" : "-",
				  xlmig_mopts[i].name ? xlmig_mopts[i].name : (char[]){ xlmig_mopts[i].letter, 0 });
out:
	free(man);
}
