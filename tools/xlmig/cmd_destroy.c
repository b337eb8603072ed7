/*
 * cmd_destroy.c - `xlmig destroy DOMAIN`: destroy a domain on this host
 * (refused while a migration job holds it).
 */
#include "cmd_client.h"
#include "commands.h"

int xlmig_cmd_destroy(int argc, char **argv)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: xlmig destroy DOMAIN\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	xlmig_cli_request(&w, &req, "destroy");
	xlmig_json_kv_str(&w, "domain", argv[1]);
	rc = xlmig_cli_call_once(&w, &req, &reply);
	xlmig_buf_free(&req);
	if (rc)
		return xlmig_cli_error("destroy");
	xlmig_json_free(reply);
	return 0;
}
