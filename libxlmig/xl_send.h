/*
 * xl_send.h - `xl migrate`'s sending side through any hypervisor backend
 * (hv.h): the guest saved into xl's own protocol (xlproto.h), over the
 * stdin and stdout of a transport command, as xl does.
 *
 * Interoperability this gives (the receiving side is xl_receive.h):
 *   xlmig (plain mode)  ->  stock `xl migrate-receive`     (--xl-receiver)
 *   xlmig (plain mode)  ->  `xlmig migrate-receive`        (default rune)
 * The transport is whatever command the rune runs (ssh by default, as xl):
 *   -s SSHCOMMAND  rune = "exec SSHCOMMAND HOST xlmig migrate-receive [-e] [-d] [-p]"
 *   -s ""          rune = HOST, run as a shell command (xl's trick)
 *   HOST given as "ssh:HOST" is the same as -s ssh HOST.
 *
 * `xlmig migrate` with xl's transport (tools/xlmig/cmd_migrate_plain.c)
 * fills the options from its command line (tools/xlmig/migrate_args.c),
 * opens the xen backend and runs xlmig_xl_send().
 */
#ifndef XLMIG_XL_SEND_H
#define XLMIG_XL_SEND_H

#include "common.h"
#include "hv.h"
#include "policy.h"
#include "xlproto.h"

struct xlmig_xl_send_opts {
	const char *domain;        /* name or id */
	const char *host;
	const char *ssh_command;   /* -s; default "ssh"; "" = host is the command */
	bool ssh_given;            /* -s was on the command line */
	const char *config_file;   /* -C: config sent instead of the stored one */
	bool debug;                /* --debug (xl's -d for migrate) */
	bool pause_after;          /* -p: leave the guest paused on the target */
	bool preserve_domid;       /* -D */
	bool daemonize;            /* cleared by -F and -e */
	bool monitor;              /* cleared by -e */
	/* xlmig's own */
	bool plain;                /* --plain: xl's protocol instead of xlmig jobs */
	bool xl_receiver;          /* --xl-receiver: target runs stock xl */
	bool mem_digest;           /* the memory digest at the pause, in the
				    * report (tests): a pass over memory while
				    * the guest is stopped, so off by default */
	struct xlmig_policy_config policy;  /* --policy, --downtime, --max-iters,
					     * --auto-converge */
};

void xlmig_xl_send_opts_default(struct xlmig_xl_send_opts *o);
/* The transport command, malloc'd (xl's rune). */
int xlmig_xl_send_rune(const struct xlmig_xl_send_opts *o, char **out);
/* Whole xl migrate: run the rune, speak xl's protocol over its stdin and
 * stdout, save through hv. */
int xlmig_xl_send(struct xlmig_hv *hv, const struct xlmig_xl_send_opts *o);
/* What became of a send: the protocol's outcome and the save's figures
 * (the save's are zero when it never ran). */
struct xlmig_xl_send_report {
	struct xlmig_xlsend_result proto;
	struct xlmig_save_result save;
};
/* Only the protocol, over given fds (in-process tests, other transports).
 * rune may be NULL; rep may be NULL. */
int xlmig_xl_send_fds(struct xlmig_hv *hv, const struct xlmig_xl_send_opts *o,
		      int send_fd, int recv_fd, const char *rune,
		      struct xlmig_xl_send_report *rep);

#endif
