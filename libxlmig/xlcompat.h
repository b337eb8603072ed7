/*
 * xlcompat.h - xl-compatible migration: `xl migrate`'s options with xl's
 * meaning, the sender and receiver sides of xl's own protocol (xlproto.h)
 * driven through any hypervisor backend (hv.h), and the domain config in
 * xl's save header (the header itself is read by the stream layer, stream.h).
 *
 * Interoperability this gives:
 *   xlmig (plain mode)  ->  stock `xl migrate-receive`     (--xl-receiver)
 *   stock `xl migrate`  ->  `xlmig migrate-receive`        (xl -s / rune)
 *   xlmig (plain mode)  ->  `xlmig migrate-receive`        (default rune)
 * The transport is whatever command the rune runs (ssh by default, as xl):
 *   -s SSHCOMMAND  rune = "exec SSHCOMMAND HOST xlmig migrate-receive [-e] [-d] [-p]"
 *   -s ""          rune = HOST, run as a shell command (xl's trick)
 *   HOST given as "ssh:HOST" is the same as -s ssh HOST.
 *
 * The command lines are read in tools/xlmig/migrate_args.c, which fills
 * the option structs below:
 * `xlmig migrate` with xl's transport (cmd_migrate_plain.c) opens the xen
 *   backend and runs xlmig_xl_migrate_send();
 * `xlmig migrate-receive` runs xlmig_xl_migrate_receive(hv, 0, 1, &opts):
 *   stdin from the sender, stdout back to it, exactly as xl's receiver.
 */
#ifndef XLMIG_XLCOMPAT_H
#define XLMIG_XLCOMPAT_H

#include "common.h"
#include "hv.h"
#include "policy.h"
#include "stream.h"
#include "xlproto.h"

/* ---- the domain config in xl's save header (stream.h reads the header) ---- */

/* c_info.name from a JSON config, checked to be a usable domain name. */
int xlmig_xl_config_name(const uint8_t *config, uint32_t len, char name[XLMIG_NAME_MAX]);
/* c_info.domid from a JSON config: the id the sender's xl -D asks for;
 * 0 when absent or 0 (the receiver picks).  Not a guest id: FORMAT. */
int xlmig_xl_config_domid(const uint8_t *config, uint32_t len, uint32_t *domid);

/* ---- xl migrate -C ---- */

/* The config file -C names, as the JSON text xlmig sends (*out malloc'd,
 * NUL-terminated).  A JSON file is taken as it is, once checked to parse.
 * An xl-format file is converted by xl's own parser, as `xl migrate -C`
 * does: xlmig runs `XL -N create FILE` (XL is "xl" unless given), whose
 * dry run prints the libxl config as JSON.  xlmig has no xl-format parser
 * of its own: libxlutil only tokenises, the mapping to libxl's config is
 * xl's parse_config_data.  So an xl-format -C needs xl on this host, and
 * the message says how to convert by hand where it is missing. */
int xlmig_xl_config_load(const char *path, const char *xl, char **out);

/* ---- xl migrate ---- */

struct xlmig_xl_migrate_opts {
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
	struct xlmig_policy_config policy;  /* --policy, --downtime, --max-iters,
					     * --auto-converge */
};

void xlmig_xl_migrate_opts_default(struct xlmig_xl_migrate_opts *o);
/* The transport command, malloc'd (xl's rune). */
int xlmig_xl_rune(const struct xlmig_xl_migrate_opts *o, char **out);
/* Whole xl migrate: run the rune, speak xl's protocol over its stdin and
 * stdout, save through hv. */
int xlmig_xl_migrate_send(struct xlmig_hv *hv, const struct xlmig_xl_migrate_opts *o);
/* What became of a send: the protocol's outcome and the save's figures
 * (the save's are zero when it never ran). */
struct xlmig_xl_send_report {
	struct xlmig_xlsend_result proto;
	struct xlmig_save_result save;
};
/* Only the protocol, over given fds (in-process tests, other transports).
 * rune may be NULL; rep may be NULL. */
int xlmig_xl_migrate_send_fds(struct xlmig_hv *hv, const struct xlmig_xl_migrate_opts *o,
			      int send_fd, int recv_fd, const char *rune,
			      struct xlmig_xl_send_report *rep);

/* ---- xl migrate-receive ---- */

struct xlmig_xl_receive_opts {
	bool debug;        /* -d */
	bool pause_after;  /* -p */
	bool daemonize;    /* cleared by -F, -e (xlmig keeps no monitor process) */
	bool monitor;      /* cleared by -e */
};

/* Receive one domain from in_fd, answering on out_fd, as xl does:
 * banner, restore as NAME--incoming (paused), READY, wait for GO, rename
 * to NAME, unpause unless -p, report.  res may be NULL. */
int xlmig_xl_migrate_receive(struct xlmig_hv *hv, int in_fd, int out_fd,
			     const struct xlmig_xl_receive_opts *o,
			     struct xlmig_xlrecv_result *res);

#endif
