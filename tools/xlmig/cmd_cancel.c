/*
 * cmd_cancel.c - `xlmig cancel JOB`: stop a migration before its point of
 * no return; the guest goes on running on the source.
 */
#include "cmd_client.h"
#include "commands.h"

int xlmig_cmd_cancel(int argc, char **argv)
{
	int status = xlmig_cli_one_arg_command(argc, argv, "cancel", "job",
					       "usage: xlmig cancel JOB    (job ids: 'xlmig jobs')");

	if (status == 0 && argc == 2 && argv[1][0] != '-')
		printf("job %s: cancel requested ('xlmig status %s' shows when it has rolled back)\n",
		       argv[1], argv[1]);
	return status;
}
