/*
 * cmd_preflight.c - `xlmig preflight DOMAIN` prints what DOMAIN needs of
 * a destination (preflight.h's facts, JSON); `xlmig preflight --check
 * FILE|-` checks such facts against this host and says what is missing.
 * Together, before an `xl migrate`-style move:
 *     xlmig preflight web1 | ssh host2 xlmig preflight --check -
 * Both read the hypervisor in this process, so both need a Xen dom0: a
 * sim host's guests live in xlmigd, whose jobs run the same checks.
 */
#include "commands.h"
#include "common.h"
#include "hv.h"
#include "json.h"
#include "preflight.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static const char usage[] = "usage: xlmig preflight DOMAIN | xlmig preflight --check FILE|-";

static int open_xen(struct xlmig_hv **hv)
{
	if (!xlmig_hv_is_xen_dom0())
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "this host is not a Xen dom0: preflight reads Xen; between sim hosts "
				  "xlmigd's jobs run the same checks");
	return xlmig_hv_open("xen", hv);
}

static int print_facts(struct xlmig_hv *hv, const char *domain)
{
	struct xlmig_preflight_guest g;
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };
	int rc = xlmig_preflight_collect(hv, domain, &g);

	if (rc)
		return rc;
	xlmig_json_writer_init(&w, &b);
	xlmig_preflight_guest_write(&g, &w);
	rc = xlmig_json_finish(&w);
	if (rc)
		rc = xlmig_fail(rc, "writing the facts of %s as JSON", domain);
	else if (!g.have_cpu)
		xlmig_warn("the CPU policy of %s could not be read: its CPU features will not be checked",
			   domain);
	if (!rc && (fwrite(b.data, 1, b.len, stdout) != b.len || puts("") == EOF || fflush(stdout)))
		rc = xlmig_fail(XLMIG_E_IO, "writing to stdout: %s", strerror(errno));
	xlmig_buf_free(&b);
	xlmig_preflight_guest_free(&g);
	return rc;
}

/* The facts from FILE or stdin ("-"), bounded like any config. */
static int read_facts(const char *path, struct xlmig_preflight_guest *g)
{
	struct xlmig_json *root = NULL;
	struct xlmig_buf b = { 0 };
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	int rc;

	if (fd < 0)
		return xlmig_fail(XLMIG_E_NOTFOUND, "%s: %s", path, strerror(errno));
	rc = xlmig_read_all(fd, XLMIG_MAX_XL_OPTDATA, &b);
	if (fd != STDIN_FILENO)
		close(fd);
	if (!rc)
		rc = xlmig_json_parse((const char *)b.data, b.len, &root);
	if (!rc)
		rc = xlmig_preflight_guest_read(root, g);
	xlmig_json_free(root);
	xlmig_buf_free(&b);
	return rc ? xlmig_fail_prefix(rc, "%s", path) : XLMIG_OK;
}

static int check_facts(struct xlmig_hv *hv, const char *path)
{
	struct xlmig_preflight_guest g;
	int rc = read_facts(path, &g);

	if (rc)
		return rc;
	rc = xlmig_preflight_here(hv, &g);
	if (!rc)
		printf("%s can run on this host: memory, Xen version, %s%zu disk(s) and %zu bridge(s) "
		       "checked\n", g.name, g.have_cpu ? "CPU features, " : "", g.n_disks, g.n_bridges);
	xlmig_preflight_guest_free(&g);
	return rc;
}

int xlmig_cmd_preflight(int argc, char **argv)
{
	struct xlmig_hv *hv = NULL;
	bool check;
	int rc;

	check = argc == 3 && !strcmp(argv[1], "--check");
	if (!check && (argc != 2 || argv[1][0] == '-')) {
		fprintf(stderr, "%s\n", usage);
		return 2;
	}
	rc = open_xen(&hv);
	if (!rc)
		rc = check ? check_facts(hv, argv[2]) : print_facts(hv, argv[1]);
	if (rc)
		fprintf(stderr, "xlmig preflight: %s\n", xlmig_errmsg());
	xlmig_hv_close(hv);
	return rc ? 1 : 0;
}
