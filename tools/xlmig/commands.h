/*
 * commands.h - the subcommands of the xlmig command line.  Each lives in
 * its own cmd_*.c file and is listed in the table in main.c.
 */
#ifndef XLMIG_COMMANDS_H
#define XLMIG_COMMANDS_H

/* Each returns the process exit status (0 success, 1 failure, 2 usage). */

#endif
