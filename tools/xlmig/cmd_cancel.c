/*
 * cmd_cancel.c - `xlmig cancel JOB`: stop a migration before its point of
 * no return; the guest goes on running on the source.
 */
#include "cmd_client.h"
#include "commands.h"

int xlmig_cmd_cancel(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: xlmig cancel JOB    (job ids: 'xlmig jobs')\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	xlmig_cli_request(&w, &req, "cancel");
	xlmig_json_kv_str(&w, "job", argv[1]);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("cancel");
	printf("job %s: cancel requested ('xlmig status %s' shows when it has rolled back)\n",
	       argv[1], argv[1]);
	xlmig_json_free(reply);
	return 0;
}
