/*
 * cmd_client.h - what the xlmig subcommands share: talking to xlmigd
 * over the control socket, option helpers, and number formatting.
 */
#ifndef XLMIG_CMD_CLIENT_H
#define XLMIG_CMD_CLIENT_H

#include "ctl.h"
#include "json.h"

/* The control socket: $XLMIG_SOCKET, else the default path. */
const char *xlmig_cli_socket(void);

/* Send the request being built in w (an open top-level object, closed
 * here) and parse the reply.  On {"ok":false} the daemon's message is
 * printed and XLMIG_E_PEER (or its code) returned; *reply is set only on
 * success and is freed with xlmig_json_free. */
int xlmig_cli_call(struct xlmig_ctl_client *c, struct xlmig_json_writer *w,
		   struct xlmig_buf *req, struct xlmig_json **reply);
/* Connect, call once, disconnect. */
int xlmig_cli_call_once(struct xlmig_json_writer *w, struct xlmig_buf *req,
			struct xlmig_json **reply);
/* Start a request object {"cmd":cmd, ...}. */
void xlmig_cli_request(struct xlmig_json_writer *w, struct xlmig_buf *req, const char *cmd);

/* The commands that take one argument and expect no data back (cancel
 * JOB, destroy DOMAIN): check usage, send {"cmd":cmd, key:argv[1]} and
 * return the exit status (0 done, 1 failed, 2 usage). */
int xlmig_cli_one_arg_command(int argc, char **argv, const char *cmd,
			       const char *key, const char *usage);

/* cmd_migrate.c: HOST, HOST:PORT or [ADDR]:PORT as "host" and "port"
 * members of the request being built. */
int xlmig_cli_target(const char *s, struct xlmig_json_writer *w);
/* Print the last error as "xlmig CMD: message" and return 1. */
int xlmig_cli_error(const char *cmd);

/* "1.5 GiB", "230 MiB/s"... into out. */
const char *xlmig_cli_bytes(double bytes, char *out, size_t len);

/* Print a JSON value (compact) followed by a newline. */
void xlmig_cli_print_json(const struct xlmig_json *v);

/* cmd_status.c: a job's one-line progress, and its final summary. */
void xlmig_cli_print_progress(FILE *out, const struct xlmig_json *job, bool tty);
void xlmig_cli_print_summary(FILE *out, const struct xlmig_json *job);
/* Ask for one job's status; *job points into *reply. */
int xlmig_cli_job_status(struct xlmig_ctl_client *c, const char *id,
			 struct xlmig_json **reply, const struct xlmig_json **job);

#endif
