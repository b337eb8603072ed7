/*
 * xl_config.c - the domain config of an xl-style migration (see
 * xl_config.h; xl's side is create_domain() in tools/xl/xl_vmcontrol.c
 * and the -C handling of tools/xl/xl_migrate.c).
 */
#include "xl_config.h"
#include "json.h"
#include "stream.h"   /* XLMIG_MAX_XL_OPTDATA: a config's bound */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the config in xl's save header ---- */

static int parse_config(const uint8_t *config, uint32_t len, struct xlmig_json **root)
{
	int rc;

	/* xl counts the trailing NUL in the config's length. */
	while (len && config[len - 1] == '\0')
		len--;
	rc = xlmig_json_parse((const char *)config, len, root);
	if (rc)
		return xlmig_fail_prefix(rc, "domain config in the xl save header");
	return XLMIG_OK;
}

int xlmig_xl_config_name(const uint8_t *config, uint32_t len, char name[XLMIG_NAME_MAX])
{
	struct xlmig_json *root = NULL;
	const char *s = NULL;
	size_t n;
	int rc;

	rc = parse_config(config, len, &root);
	if (rc)
		goto out;
	rc = xlmig_json_get_str(root, "c_info.name", &s);
	if (rc) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "domain config in the xl save header has no c_info.name");
		goto out;
	}
	n = strlen(s);
	/* Room for the --incoming / --migratedaway suffixes too. */
	if (n == 0 || n + sizeof(XLMIG_MIGRATED_SUFFIX) > XLMIG_NAME_MAX) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "domain name of %zu bytes in the config (1..%zu allowed)",
				n, XLMIG_NAME_MAX - sizeof(XLMIG_MIGRATED_SUFFIX));
		goto out;
	}
	if (!xlmig_guest_name_ok(s)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "domain name in the config is all digits or has a "
				"character xlmig does not accept (letters, digits, '-', '_', '.')");
		goto out;
	}
	memcpy(name, s, n + 1);
out:
	xlmig_json_free(root);
	return rc;
}

int xlmig_xl_config_domid(const uint8_t *config, uint32_t len, uint32_t *domid)
{
	struct xlmig_json *root = NULL;
	uint64_t v = 0;
	int rc;

	*domid = 0;
	rc = parse_config(config, len, &root);
	if (rc)
		goto out;
	if (!xlmig_json_get(root, "c_info.domid"))
		goto out;
	if (xlmig_json_get_u64(root, "c_info.domid", &v) || v >= XLMIG_DOMID_FIRST_RESERVED) {
		rc = xlmig_fail(XLMIG_E_FORMAT,
				"domain config in the xl save header: c_info.domid is not a domain id");
		goto out;
	}
	*domid = (uint32_t)v;
out:
	xlmig_json_free(root);
	return rc;
}

/* ---- xl migrate -C ---- */

/* All of fd, at most limit bytes, as a malloc'd string. */
static int read_all(int fd, const char *what, size_t limit, char **out)
{
	struct xlmig_buf b = {0};
	int rc = xlmig_read_all(fd, limit, &b);

	if (rc) {
		xlmig_buf_free(&b);
		return xlmig_fail_prefix(rc, "reading %s", what);
	}
	*out = (char *)b.data;
	return XLMIG_OK;
}

static bool looks_like_json(const char *text)
{
	return text[strspn(text, " \t\r\n")] == '{';
}

/* What the receiver will need of it: JSON with a usable c_info.name. */
static int check_json_config(const char *text, const char *what)
{
	char name[XLMIG_NAME_MAX];
	int rc = xlmig_xl_config_name((const uint8_t *)text, (uint32_t)strlen(text), name);

	return rc ? xlmig_fail_prefix(rc, "%s", what) : XLMIG_OK;
}

/* `xl -N create path`: xl's parser, dry run, JSON on its stdout. */
static int xl_convert(const char *path, const char *xl, char **out)
{
	int pfd[2] = { -1, -1 };
	pid_t child;
	int status, rc;

	if (pipe2(pfd, O_CLOEXEC))
		return xlmig_fail(XLMIG_E_IO, "pipe: %s", strerror(errno));
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return xlmig_fail(XLMIG_E_IO, "fork: %s", strerror(errno));
	}
	if (child == 0) {
		dup2(pfd[1], 1);
		execlp(xl, xl, "-N", "create", path, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	rc = read_all(pfd[0], "the output of xl -N create", XLMIG_MAX_XL_OPTDATA - 5, out);
	close(pfd[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		free(*out);
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "`%s -N create %s` %s %d",
				xl, path, WIFEXITED(status) ? "exited with status" : "was killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	return rc;
}

int xlmig_xl_config_load(const char *path, const char *xl, char **out)
{
	char *text = NULL, what[300];
	int fd, rc;

	*out = NULL;
	snprintf(what, sizeof(what), "config file %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_NOTFOUND, "%s: %s", what, strerror(errno));
	rc = read_all(fd, what, XLMIG_MAX_XL_OPTDATA - 5, &text);
	close(fd);
	if (rc)
		return rc;
	if (!looks_like_json(text)) {
		free(text);
		text = NULL;
		xlmig_info("%s is in xl format: converting it with `%s -N create`", path, xl ? xl : "xl");
		rc = xl_convert(path, xl ? xl : "xl", &text);
		if (rc) {
			return xlmig_fail_prefix(rc,
				"%s is in xl format, which xlmig reads through xl's own parser, and "
				"that failed (is xl installed, is the file valid?); convert it on a Xen "
				"host with `xl -N create %s > FILE.json` and pass FILE.json to -C",
				path, path);
		}
		snprintf(what, sizeof(what), "%s as converted by xl", path);
	}
	rc = check_json_config(text, what);
	if (rc) {
		free(text);
		return rc;
	}
	*out = text;
	return XLMIG_OK;
}
