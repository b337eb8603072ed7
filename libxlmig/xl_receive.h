/*
 * xl_receive.h - `xl migrate-receive`'s side through any hypervisor
 * backend (hv.h): the guest restored from xl's own protocol (xlproto.h)
 * on a pair of file descriptors, as xl's receiver does.
 *
 * Interoperability this gives (the sending side is xl_send.h):
 *   stock `xl migrate`  ->  `xlmig migrate-receive`        (xl -s / rune)
 *   xlmig (plain mode)  ->  `xlmig migrate-receive`
 *
 * `xlmig migrate-receive` (tools/xlmig/cmd_migrate_receive.c) fills the
 * options from its command line (tools/xlmig/migrate_args.c) and runs
 * xlmig_xl_receive(hv, 0, 1, &opts): stdin from the sender, stdout back
 * to it, exactly as xl's receiver.
 */
#ifndef XLMIG_XL_RECEIVE_H
#define XLMIG_XL_RECEIVE_H

#include "common.h"
#include "hv.h"
#include "xlproto.h"

struct xlmig_xl_receive_opts {
	bool debug;        /* -d */
	bool pause_after;  /* -p */
	bool daemonize;    /* cleared by -F, -e (xlmig keeps no monitor process) */
	bool monitor;      /* cleared by -e */
};

/* Receive one domain from in_fd, answering on out_fd, as xl does:
 * banner, restore as NAME--incoming (paused), READY, wait for GO, rename
 * to NAME, unpause unless -p, report.  res may be NULL. */
int xlmig_xl_receive(struct xlmig_hv *hv, int in_fd, int out_fd,
		     const struct xlmig_xl_receive_opts *o,
		     struct xlmig_xlrecv_result *res);

#endif
