/*
 * migrate_args.h - the command lines of `xlmig migrate` and `xlmig
 * migrate-receive`, read with getopt_long.
 *
 * Every option of `xlmig migrate` is declared once, in migrate_opts.h's
 * table (name, alias, xl's letter, request key, bounds, help); this file
 * turns that table into getopt's arrays and its usage text, and reads
 * xl's command lines into the option structs the library takes
 * (xl_send.h, xl_receive.h).  The library itself parses no command line.
 *
 * How `xlmig migrate` (cmd_migrate.c) uses this:
 *   if xlmig_migrate_args_wants_plain() says the command line asks for
 *   xl's transport (-s, an ssh: host, --plain or --xl-receiver), it hands
 *   over to xlmig_cmd_migrate_plain() (cmd_migrate_plain.c), which reads
 *   it with xlmig_migrate_args_xl() and runs the xl-protocol sender.
 *   Otherwise it asks xlmigd for a job, and takes xl's options (-C, -p,
 *   --debug, -e, -F, --live) through xlmig_migrate_args_xl_option().
 * `xlmig migrate-receive` reads its line with xlmig_migrate_args_receive().
 */
#ifndef XLMIG_MIGRATE_ARGS_H
#define XLMIG_MIGRATE_ARGS_H

#include "migrate_opts.h"
#include "xl_receive.h"
#include "xl_send.h"

#include <getopt.h>
#include <stdio.h>

/* getopt_long's arrays for the table's options that mean something
 * WHERE (migrate_opts.h's XLMIG_MOPT_JOB | ...): longs has room for
 * XLMIG_MIGRATE_ARGS_LONGS entries (names, aliases, "help" as 'h', the
 * terminator), shorts for XLMIG_MIGRATE_ARGS_SHORTS characters (xl's
 * letters, ':' after those that take an argument, the NUL). */
#define XLMIG_MIGRATE_ARGS_LONGS  (2 * XLMIG_MOPTS_MAX + 2)
#define XLMIG_MIGRATE_ARGS_SHORTS (2 * XLMIG_MOPTS_MAX + 1)
void xlmig_migrate_args_getopt(unsigned where, struct option *longs, char *shorts);
/* The usage text of `xlmig migrate`'s options, from the table. */
void xlmig_migrate_args_usage(FILE *out);

/* Apply one of xl migrate's own options, as getopt returned it with the
 * table's values; false if it is not one of xl's. */
bool xlmig_migrate_args_xl_option(int opt, const char *arg, struct xlmig_xl_send_opts *o);
/* Read xl migrate's command line: argv[0] is "migrate", then options,
 * DOMAIN, HOST.  Strings point into argv.  XLMIG_E_INVAL with a usage
 * message on error. */
int xlmig_migrate_args_xl(int argc, char **argv, struct xlmig_xl_send_opts *o);
/* True if this command line asks for xl's transport (see above). */
bool xlmig_migrate_args_wants_plain(int argc, char **argv);
/* argv[0] is "migrate-receive".  -r and --colo are refused
 * (XLMIG_E_UNSUPPORTED), anything else unknown is XLMIG_E_INVAL. */
int xlmig_migrate_args_receive(int argc, char **argv, struct xlmig_xl_receive_opts *o);

#endif
