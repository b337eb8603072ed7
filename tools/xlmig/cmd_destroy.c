/*
 * cmd_destroy.c - `xlmig destroy DOMAIN`: destroy a domain on this host
 * (refused while a migration job holds it).
 */
#include "cmd_client.h"
#include "commands.h"

int xlmig_cmd_destroy(int argc, char **argv)
{
	return xlmig_cli_one_arg_command(argc, argv, "destroy", "domain",
					 "usage: xlmig destroy DOMAIN");
}
