/*
 * fuzz_conf.c - libFuzzer harness for the configuration file parser
 * (xlmig_conf_parse) over xlmigd's settings table.
 *
 * Whatever the input, every value the configuration holds afterwards
 * respects its setting's bounds; a file that parses, written back in
 * canonical form, parses to the same configuration; every string is
 * freed (ASan's leak check).  Nothing may crash or read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes example files (valid, and with each
 * kind of mistake) into DIR.
 */
#include "daemon_conf.h"
#include "harness.h"

#define T xlmig_daemon_opts, xlmig_daemon_nopts

static void write_seeds(const char *dir)
{
	static const char *const seeds[] = {
		"# /etc/xlmig/xlmigd.conf\nhv = \"xen\"\nlisten = 192.0.2.10 # migration net\n"
		"max_jobs = 3\nlog_level = info\n",
		"state_dir=\"/srv/x lmig\"\r\nsocket=/run/x.sock\nport=65535\nkey_file=\"/k#1\"\n"
		"foreground=off\nlog_file=/var/log/xlmigd.log\n",
		"port = 0\ncolour = blue\nhv = kvm\nmax_jobs = 3\nmax_jobs = 4\nlisten 10.0.0.1\n"
		"log_file = \"/tmp/x\nforeground = maybe\nsocket = a b\nstate_dir =\n",
		"\t\n#\n   # only comments\n\n",
	};

	fuzz_put_text_seeds(dir, "conf", seeds, XLMIG_ARRAY_SIZE(seeds));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

static void check_bounds(const struct xlmig_daemon_config *cfg)
{
	for (size_t i = 0; i < xlmig_daemon_nopts; i++) {
		const struct xlmig_opt *o = &xlmig_daemon_opts[i];
		const char *f = (const char *)cfg + o->offset;

		if (o->type == XLMIG_OPT_UINT) {
			unsigned v = *(const unsigned *)f;
			if (v < o->min || v > o->max)
				abort();
		} else if (o->type == XLMIG_OPT_STR || o->type == XLMIG_OPT_CHOICE) {
			const char *s = *(char *const *)f;
			for (; s && *s; s++)
				if ((unsigned char)*s < ' ' || *s == '"')
					abort();
		}
	}
}

/* The configuration as a file: every setting, strings quoted. */
static void write_back(const struct xlmig_daemon_config *cfg, struct xlmig_buf *out)
{
	char line[XLMIG_CONF_MAX_LINE + 128];

	for (size_t i = 0; i < xlmig_daemon_nopts; i++) {
		const struct xlmig_opt *o = &xlmig_daemon_opts[i];
		const char *f = (const char *)cfg + o->offset;
		const char *s;

		if (o->type == XLMIG_OPT_UINT)
			snprintf(line, sizeof(line), "%s = %u\n", o->key, *(const unsigned *)f);
		else if (o->type == XLMIG_OPT_BOOL)
			snprintf(line, sizeof(line), "%s = %s\n", o->key, *(const bool *)f ? "yes" : "no");
		else if ((s = *(char *const *)f))
			snprintf(line, sizeof(line), "%s = \"%s\"\n", o->key, s);
		else
			continue;
		if (xlmig_buf_append(out, line, strlen(line)))
			abort();
	}
}

static bool same(const struct xlmig_daemon_config *a, const struct xlmig_daemon_config *b)
{
	for (size_t i = 0; i < xlmig_daemon_nopts; i++) {
		const struct xlmig_opt *o = &xlmig_daemon_opts[i];
		const char *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;

		if (o->type == XLMIG_OPT_UINT) {
			if (*(const unsigned *)fa != *(const unsigned *)fb)
				return false;
		} else if (o->type == XLMIG_OPT_BOOL) {
			if (*(const bool *)fa != *(const bool *)fb)
				return false;
		} else {
			const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
			if ((sa == NULL) != (sb == NULL) || (sa && strcmp(sa, sb)))
				return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlmig_daemon_config cfg = { 0 }, again = { 0 };
	struct xlmig_buf text = { 0 };
	int rc;

	if (xlmig_conf_defaults(T, &cfg) || xlmig_conf_defaults(T, &again))
		abort();
	rc = xlmig_conf_parse(T, &cfg, (const char *)data, size, "fuzz", NULL);
	check_bounds(&cfg);
	if (rc == XLMIG_OK) {
		write_back(&cfg, &text);
		if (xlmig_conf_parse(T, &again, (const char *)text.data, text.len, "again", NULL) ||
		    !same(&cfg, &again))
			abort();
	}
	xlmig_buf_free(&text);
	xlmig_conf_free(T, &cfg);
	xlmig_conf_free(T, &again);
	return 0;
}
