/*
 * cmd_client.c - the control-socket client shared by the subcommands
 * (see cmd_client.h).
 */
#include "cmd_client.h"

#include <stdlib.h>

#define CALL_TIMEOUT_MS 60000

const char *xlmig_cli_socket(void)
{
	const char *s = getenv("XLMIG_SOCKET");

	return s && *s ? s : XLMIG_CTL_DEFAULT_PATH;
}

void xlmig_cli_request(struct xlmig_json_writer *w, struct xlmig_buf *req, const char *cmd)
{
	xlmig_buf_reset(req);
	xlmig_json_writer_init(w, req);
	xlmig_json_object_open(w);
	xlmig_json_kv_str(w, "cmd", cmd);
}

/* The reply's own verdict: ok, or the daemon's error as ours. */
static int check_reply(const struct xlmig_json *reply)
{
	const char *msg = "xlmigd gave no reason";
	int64_t code = XLMIG_E_PEER;
	bool ok = false;

	if (xlmig_json_get_bool(reply, "ok", &ok))
		return xlmig_fail(XLMIG_E_FORMAT, "xlmigd sent a reply without \"ok\": is it the same version as xlmig?");
	if (ok)
		return XLMIG_OK;
	xlmig_json_get_str(reply, "error", &msg);
	xlmig_json_get_i64(reply, "code", &code);
	if (code >= 0 || code < -1000)
		code = XLMIG_E_PEER;
	return xlmig_fail((int)code, "%s", msg);
}

int xlmig_cli_call(struct xlmig_ctl_client *c, struct xlmig_json_writer *w,
		   struct xlmig_buf *req, struct xlmig_json **reply)
{
	struct xlmig_json *r = NULL;
	char *line = NULL;
	int rc;

	xlmig_json_object_close(w);
	if ((rc = xlmig_json_finish(w)) || (rc = xlmig_buf_append(req, "", 1)))
		return xlmig_fail(rc, "cannot build the request");
	if ((rc = xlmig_ctl_call(c, (const char *)req->data, &line, CALL_TIMEOUT_MS)))
		goto out;
	if ((rc = xlmig_json_parse(line, strlen(line), &r))) {
		rc = xlmig_fail_prefix(rc, "xlmigd sent an unreadable reply");
		goto out;
	}
	if ((rc = check_reply(r)))
		goto out;
	*reply = r;
	r = NULL;
out:
	xlmig_json_free(r);
	free(line);
	return rc;
}

int xlmig_cli_call_once(struct xlmig_json_writer *w, struct xlmig_buf *req,
			struct xlmig_json **reply)
{
	struct xlmig_ctl_client c;
	int rc = xlmig_ctl_connect(xlmig_cli_socket(), &c);

	if (!rc)
		rc = xlmig_cli_call(&c, w, req, reply);
	xlmig_ctl_disconnect(&c);
	return rc;
}

int xlmig_cli_one_arg_command(int argc, char **argv, const char *cmd,
			       const char *key, const char *usage)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	bool help = argc == 2 && !strcmp(argv[1], "--help");
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(help ? stdout : stderr, "%s\n", usage);
		return help ? 0 : 2;
	}
	xlmig_cli_request(&w, &req, cmd);
	xlmig_json_kv_str(&w, key, argv[1]);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error(cmd);
	xlmig_json_free(reply);
	return 0;
}

int xlmig_cli_error(const char *cmd)
{
	fprintf(stderr, "xlmig %s: %s\n", cmd, xlmig_errmsg());
	return 1;
}

const char *xlmig_cli_bytes(double bytes, char *out, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (bytes >= 1024 && u + 1 < XLMIG_ARRAY_SIZE(units)) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return out;
}

void xlmig_cli_print_json(const struct xlmig_json *v)
{
	struct xlmig_buf out = { 0 };
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, &out);
	xlmig_json_value(&w, v);
	if (xlmig_json_finish(&w) == XLMIG_OK)
		printf("%.*s\n", (int)out.len, (const char *)out.data);
	xlmig_buf_free(&out);
}
