/*
 * commands.h - the subcommands of the xlmig command line.  Each lives in
 * its own cmd_*.c file and is listed in the table in main.c.
 */
#ifndef XLMIG_COMMANDS_H
#define XLMIG_COMMANDS_H

/* Each returns the process exit status (0 success, 1 failure, 2 usage). */
int xlmig_cmd_create(int argc, char **argv);
int xlmig_cmd_list(int argc, char **argv);
int xlmig_cmd_migrate(int argc, char **argv);
int xlmig_cmd_migrate_plain(int argc, char **argv);   /* xl-style, see cmd_migrate_plain.c */
int xlmig_cmd_migrate_receive(int argc, char **argv);
int xlmig_cmd_preflight(int argc, char **argv);
int xlmig_cmd_status(int argc, char **argv);
int xlmig_cmd_jobs(int argc, char **argv);
int xlmig_cmd_cancel(int argc, char **argv);
int xlmig_cmd_destroy(int argc, char **argv);
int xlmig_cmd_inspect(int argc, char **argv);
int xlmig_cmd_backup(int argc, char **argv);
int xlmig_cmd_snapshot(int argc, char **argv);
int xlmig_cmd_restore(int argc, char **argv);
int xlmig_cmd_evacuate(int argc, char **argv);
int xlmig_cmd_setup_tls(int argc, char **argv);

#endif
