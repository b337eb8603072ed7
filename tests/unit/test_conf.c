/* test_conf.c - unit tests for conf.c (table-driven settings) and for
 * xlmigd's table in daemon_conf.c, including its agreement with the
 * manual pages xlmigd.conf(5) and xlmigd(8). */
#include "unit.h"
#include "common.h"
#include "daemon_conf.h"

#include <getopt.h>
#include <stdlib.h>

#define T xlmig_daemon_opts, xlmig_daemon_nopts

/* Parse text into a fresh default configuration; errors go to *errs. */
static int parse(const char *text, struct xlmig_daemon_config *cfg, char **errs)
{
	size_t len = 0;
	FILE *f = open_memstream(errs, &len);
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!f || xlmig_conf_defaults(T, cfg))
		return -100;
	rc = xlmig_conf_parse(T, cfg, text, strlen(text), "x.conf", f);
	fclose(f);
	return rc;
}

TEST(conf_defaults_come_from_the_table)
{
	struct xlmig_daemon_config cfg = { 0 };

	CHECK_OK(xlmig_conf_defaults(T, &cfg));
	CHECK_STR(cfg.state_dir, "/var/lib/xlmig");
	CHECK_EQ(cfg.port, 8002);
	CHECK_EQ(cfg.max_jobs, 2);
	CHECK_STR(cfg.hv_name, "auto");
	CHECK_STR(cfg.log_level, "info");
	CHECK(cfg.listen_addr == NULL && cfg.log_file == NULL && !cfg.foreground);
	xlmig_conf_free(T, &cfg);
	CHECK(cfg.state_dir == NULL);
}

TEST(conf_parses_xl_conf_style)
{
	struct xlmig_daemon_config cfg;
	char *errs = NULL;
	int rc = parse("# xlmigd.conf\n"
		       "\n"
		       "hv=\"xen\"\n"
		       "  port = 9000   # comment\r\n"
		       "log_file = \"/var/log/x lmig.log\"\n"
		       "key_file=\"/etc/k#1\"# quoted hash is not a comment\n"
		       "foreground = on\n"
		       "\tmax_jobs\t=\t7", &cfg, &errs);

	CHECK_OK(rc);
	CHECK_STR(errs, "");
	CHECK_STR(cfg.hv_name, "xen");
	CHECK_EQ(cfg.port, 9000);
	CHECK_STR(cfg.log_file, "/var/log/x lmig.log");
	CHECK_STR(cfg.key_file, "/etc/k#1");
	CHECK(cfg.foreground);
	CHECK_EQ(cfg.max_jobs, 7);
	CHECK_STR(cfg.state_dir, "/var/lib/xlmig");   /* untouched default */
	xlmig_conf_free(T, &cfg);
	free(errs);
}

TEST(conf_reports_every_error_with_its_line)
{
	struct xlmig_daemon_config cfg;
	char *errs = NULL;
	int rc = parse("port = 0\n"
		       "colour = blue\n"
		       "max_jobs = 3\n"
		       "hv = kvm\n"
		       "max_jobs = 4\n"
		       "listen 10.0.0.1\n"
		       "log_file = \"/tmp/unterminated\n"
		       "foreground = maybe\n"
		       "socket = a b\n"
		       "state_dir =\n"
		       "port = 65536\n", &cfg, &errs);

	CHECK_EQ(rc, XLMIG_E_INVAL);
	CHECK(strstr(xlmig_errmsg(), "x.conf:1: port wants a whole number from 1 to 65535"));
	CHECK(strstr(errs, "x.conf:1: port"));
	CHECK(strstr(errs, "x.conf:2: unknown setting 'colour'"));
	CHECK(!strstr(errs, "x.conf:3:"));
	CHECK(strstr(errs, "x.conf:4: hv is one of auto|sim|xen, not 'kvm'"));
	CHECK(strstr(errs, "x.conf:5: max_jobs is set twice"));
	CHECK(strstr(errs, "x.conf:6: expected '=' after listen"));
	CHECK(strstr(errs, "x.conf:7: value of log_file: missing closing"));
	CHECK(strstr(errs, "x.conf:8: foreground is yes or no"));
	CHECK(strstr(errs, "x.conf:9: unexpected text after the value of socket"));
	CHECK(strstr(errs, "x.conf:10: state_dir has no value"));
	CHECK(strstr(errs, "x.conf:11: port is set twice"));
	/* good lines still applied, bad ones left the defaults */
	CHECK_EQ(cfg.max_jobs, 3);
	CHECK_EQ(cfg.port, 8002);
	CHECK_STR(cfg.hv_name, "auto");
	xlmig_conf_free(T, &cfg);
	free(errs);
}

TEST(conf_refuses_binary_and_oversized_input)
{
	struct xlmig_daemon_config cfg = { 0 };
	char big[XLMIG_CONF_MAX_LINE + 40];
	const char nul[] = "port = 1\0 23\n";

	CHECK_OK(xlmig_conf_defaults(T, &cfg));
	CHECK(xlmig_conf_parse(T, &cfg, nul, sizeof(nul) - 1, "n", NULL) != XLMIG_OK);
	CHECK(strstr(xlmig_errmsg(), "n:1: NUL byte"));
	CHECK_EQ(cfg.port, 8002);
	memset(big, 'a', sizeof(big));
	memcpy(big, "socket = ", 9);
	CHECK_EQ(xlmig_conf_parse(T, &cfg, big, sizeof(big), "b", NULL), XLMIG_E_LIMIT);
	CHECK(xlmig_conf_parse(T, &cfg, "port = \"8\x01\"", 11, "c", NULL) != XLMIG_OK);
	CHECK(strstr(xlmig_errmsg(), "control character"));
	xlmig_conf_free(T, &cfg);
}

TEST(conf_load_reads_a_file_and_says_when_it_is_missing)
{
	struct xlmig_daemon_config cfg = { 0 };
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/xlmigd.conf", unit_tmpdir());
	CHECK_OK(xlmig_conf_defaults(T, &cfg));
	CHECK_EQ(xlmig_conf_load(T, &cfg, path, NULL), XLMIG_E_NOTFOUND);
	f = fopen(path, "w");
	CHECK(f);
	fputs("state_dir = /srv/xlmig\n", f);
	fclose(f);
	CHECK_OK(xlmig_conf_load(T, &cfg, path, NULL));
	CHECK_STR(cfg.state_dir, "/srv/xlmig");
	xlmig_conf_free(T, &cfg);
}

/* The same getopt arrays xlmigd builds: a flag overrides the file. */
TEST(conf_command_line_overrides_the_file)
{
	static const struct option extra[] = { { "help", no_argument, NULL, 'h' } };
	struct xlmig_daemon_config cfg;
	char *argv[] = { "xlmigd", "-p", "7000", "--hv", "sim", "--foreground", "--max-jobs=5", NULL };
	struct option *lo;
	char *so, *errs = NULL;
	const struct xlmig_opt *o;
	int c;

	CHECK_OK(parse("port = 9000\nhv = xen\nlog_level = debug\n", &cfg, &errs));
	CHECK_OK(xlmig_conf_getopt_init(T, extra, 1, "h", &lo, &so));
	optind = 0;
	while ((c = getopt_long(7, argv, so, lo, NULL)) != -1) {
		o = xlmig_conf_getopt_find(T, c);
		CHECK(o);
		CHECK_OK(xlmig_conf_set(o, &cfg, o->type == XLMIG_OPT_BOOL ? "yes" : optarg));
	}
	CHECK_EQ(cfg.port, 7000);
	CHECK_STR(cfg.hv_name, "sim");
	CHECK_STR(cfg.log_level, "debug");    /* only in the file */
	CHECK_EQ(cfg.max_jobs, 5);
	CHECK(cfg.foreground);
	CHECK(xlmig_conf_getopt_find(T, 'h') == NULL);
	free(lo);
	free(so);
	free(errs);
	xlmig_conf_free(T, &cfg);
}

TEST(conf_table_is_consistent)
{
	for (size_t i = 0; i < xlmig_daemon_nopts; i++) {
		const struct xlmig_opt *a = &xlmig_daemon_opts[i];

		CHECK(a->key && a->longopt && a->help && a->arg);
		CHECK(a->shortopt != 'c' && a->shortopt != 'h');
		CHECK(a->type != XLMIG_OPT_CHOICE || (a->choices && a->def));
		for (size_t j = i + 1; j < xlmig_daemon_nopts; j++) {
			const struct xlmig_opt *b = &xlmig_daemon_opts[j];

			CHECK(strcmp(a->key, b->key) != 0);
			CHECK(strcmp(a->longopt, b->longopt) != 0);
			CHECK(!a->shortopt || a->shortopt != b->shortopt);
		}
	}
}

static char *read_man(const char *path)
{
	struct xlmig_buf b = { 0 };
	FILE *f = fopen(path, "r");
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		xlmig_buf_append(&b, chunk, n);
	fclose(f);
	xlmig_buf_append(&b, "", 1);
	return (char *)b.data;
}

/* "--state-dir" as roff writes it: "\-\-state\-dir". */
static void roff_flag(const char *longopt, char *out, size_t cap)
{
	size_t k = 0;

	for (const char *p = "--"; *p && k + 3 < cap; p++, k += 2)
		memcpy(out + k, "\\-", 2);
	for (const char *p = longopt; *p && k + 3 < cap; p++) {
		if (*p == '-') {
			memcpy(out + k, "\\-", 2);
			k += 2;
		} else {
			out[k++] = *p;
		}
	}
	out[k] = 0;
}

/* Each setting has an entry "\fBkey\fR = ..." after a .TP in
 * xlmigd.conf(5) naming its flag, and its flag is an item in xlmigd(8);
 * each entry in xlmigd.conf(5) is a setting of the table.  Run from the
 * source tree (tests/run.sh does). */
TEST(conf_table_matches_the_manual)
{
	char *conf5 = read_man("man/xlmigd.conf.5"), *man8 = read_man("man/xlmigd.8");
	char want[256], flag[128];
	unsigned entries = 0;

	if (!conf5 || !man8) {
		unit_fail(__FILE__, __LINE__, "man/xlmigd.conf.5 or man/xlmigd.8 missing (run from the source tree)");
		goto out;
	}
	for (size_t i = 0; i < xlmig_daemon_nopts; i++) {
		const struct xlmig_opt *o = &xlmig_daemon_opts[i];

		snprintf(want, sizeof(want), ".TP\n\\fB%s\\fR = ", o->key);
		roff_flag(o->longopt, flag, sizeof(flag));
		if (!strstr(conf5, want))
			unit_fail(__FILE__, __LINE__, "xlmigd.conf(5) has no entry for %s", o->key);
		if (!strstr(conf5, flag))
			unit_fail(__FILE__, __LINE__, "xlmigd.conf(5) does not name %s", flag);
		snprintf(want, sizeof(want), "\\fB%s\\fR", flag);
		if (!strstr(man8, want))
			unit_fail(__FILE__, __LINE__, "xlmigd(8) does not document %s", flag);
		snprintf(want, sizeof(want), "key %s)", o->key);
		if (!strstr(man8, want) && !strstr(man8, (snprintf(flag, sizeof(flag), "key %s;", o->key), flag)))
			unit_fail(__FILE__, __LINE__, "xlmigd(8) does not name the key %s", o->key);
	}
	for (const char *p = conf5; (p = strstr(p, ".TP\n\\fB")); p += 4) {
		const char *k = p + 7, *e = strstr(k, "\\fR = ");
		size_t len = e ? (size_t)(e - k) : 0;
		bool known = false;

		for (size_t i = 0; i < xlmig_daemon_nopts; i++)
			known |= strlen(xlmig_daemon_opts[i].key) == len &&
				 memcmp(xlmig_daemon_opts[i].key, k, len) == 0;
		if (!known)
			unit_fail(__FILE__, __LINE__, "xlmigd.conf(5) documents '%.*s', which xlmigd does not know",
				  (int)(len ? len : 20), k);
		entries++;
	}
	if (entries != xlmig_daemon_nopts)
		unit_fail(__FILE__, __LINE__, "xlmigd.conf(5) has %u entries, the table %zu", entries, xlmig_daemon_nopts);
out:
	free(conf5);
	free(man8);
}

/* The packaged file (xlmigd --print-config) parses, and with every line
 * uncommented gives exactly the defaults. */
TEST(conf_template_parses_to_the_defaults)
{
	struct xlmig_daemon_config cfg = { 0 }, def = { 0 };
	char *text = NULL, *errs = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f);
	xlmig_conf_write_template(T, "test", f);
	fclose(f);
	CHECK_OK(xlmig_conf_defaults(T, &def));
	CHECK_OK(parse(text, &cfg, &errs));
	/* uncomment "#key = value" lines, not those showing a placeholder
	 * ("#listen = ADDR") for settings without a default */
	for (char *p = text; (p = strstr(p, "\n#")); p++) {
		char *eq = strstr(p, " = ");

		if (p[2] >= 'a' && p[2] <= 'z' && eq && eq < strchr(p + 1, '\n') &&
		    !(eq[3] >= 'A' && eq[3] <= 'Z'))
			p[1] = ' ';
	}
	xlmig_conf_free(T, &cfg);
	free(errs);
	errs = NULL;
	CHECK_OK(parse(text, &cfg, &errs));
	CHECK_STR(cfg.state_dir, def.state_dir);
	CHECK_STR(cfg.socket_path, def.socket_path);
	CHECK_EQ(cfg.port, def.port);
	CHECK_EQ(cfg.max_jobs, def.max_jobs);
	CHECK_STR(cfg.hv_name, def.hv_name);
	CHECK(cfg.listen_addr == NULL && cfg.log_file == NULL);
	CHECK(strstr(text, "\n max_jobs = 2\n"));
	xlmig_conf_free(T, &cfg);
	xlmig_conf_free(T, &def);
	free(text);
	free(errs);
}
