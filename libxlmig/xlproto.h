/*
 * xlproto.h - xl's own migration handshake, byte for byte, as two state
 * machines over file descriptors (sender and receiver).
 *
 * This is what `xl migrate` and `xl migrate-receive` say to each other
 * around the stream (tools/xl/xl_migrate.c):
 *
 *   receiver -> sender  BANNER  "xl migration receiver ready, send binary
 *                                domain data.\n"       (no NUL)
 *   sender -> receiver  the stream: xl save header + JSON config, libxl
 *                       stream (written by the sender's save action)
 *   receiver -> sender  READY   "domain received, ready to unpause\0"
 *   sender renames its copy NAME--migratedaway
 *   sender -> receiver  GO      "domain is yours, you are cleared to unpause\0"
 *   receiver renames NAME--incoming to NAME, unpauses (unless -p)
 *   receiver -> sender  REPORT  "my copy unpause results are as follows\0"
 *                       then one status byte: 0 = running, else failure
 *   on failure the receiver destroys its copy, then
 *   receiver -> sender  GO      (permission for the sender to resume)
 *
 * The machines do the talking and call the caller's actions (save,
 * restore, rename, unpause, resume, destroy) at the points xl does, so the
 * same code runs against libxl, the sim backend, or test doubles.  Every
 * failure branch of xl is kept, with its outcome reported to the caller.
 */
#ifndef XLMIG_XLPROTO_H
#define XLMIG_XLPROTO_H

#include "common.h"

/* The messages; *_LEN is what goes on the wire (xl sends the banner
 * without its NUL and the three others with it). */
#define XLMIG_XLPROTO_BANNER "xl migration receiver ready, send binary domain data.\n"
#define XLMIG_XLPROTO_BANNER_LEN (sizeof(XLMIG_XLPROTO_BANNER) - 1)
#define XLMIG_XLPROTO_READY "domain received, ready to unpause"
#define XLMIG_XLPROTO_READY_LEN sizeof(XLMIG_XLPROTO_READY)
#define XLMIG_XLPROTO_GO "domain is yours, you are cleared to unpause"
#define XLMIG_XLPROTO_GO_LEN sizeof(XLMIG_XLPROTO_GO)
#define XLMIG_XLPROTO_REPORT "my copy unpause results are as follows"
#define XLMIG_XLPROTO_REPORT_LEN sizeof(XLMIG_XLPROTO_REPORT)

enum xlmig_xlproto_msg {
	XLMIG_XLMSG_BANNER = 0,
	XLMIG_XLMSG_READY,
	XLMIG_XLMSG_GO,
	XLMIG_XLMSG_REPORT,
};

/* Write one fixed message. */
int xlmig_xlproto_send_msg(int fd, enum xlmig_xlproto_msg msg);
/* Read exactly one fixed message (migrate_read_fixedmessage): EOF, a
 * short read or different bytes fail with a message naming what was
 * expected; rune, if not NULL, is the transport command, named too. */
int xlmig_xlproto_expect_msg(int fd, enum xlmig_xlproto_msg msg, const char *rune);
const char *xlmig_xlproto_msg_name(enum xlmig_xlproto_msg msg);

/* Which message b starts with, as a capture of a conversation holds
 * them back to back: *used is its length on the wire (REPORT's with its
 * status byte, given in *status, which is -1 for the others) once the
 * whole message is in b, 0 while b is only the start of one (give more
 * bytes).  XLMIG_E_FORMAT when b starts none of them. */
int xlmig_xlproto_recognise(const uint8_t *b, size_t len, enum xlmig_xlproto_msg *msg,
			    int *status, size_t *used);

/* The status byte for an xlmig error code: 0 for success, otherwise a
 * nonzero byte (xl sends -rc of a libxl error; any nonzero is failure). */
uint8_t xlmig_xlproto_status_byte(int err);

/* ---- sender ---- */

struct xlmig_xlsend_ops {
	/* Write the whole stream (xl header, config, libxl stream) to fd.
	 * XLMIG_E_TIMEOUT means the guest never suspended and still runs
	 * (xl's failed_suspend: no resume); any other error, resume. */
	int (*save)(void *opaque, int fd);
	int (*rename_away)(void *opaque);  /* NAME -> NAME--migratedaway */
	int (*rename_back)(void *opaque);  /* and back */
	int (*resume)(void *opaque);       /* suspend_cancel resume */
	int (*destroy)(void *opaque);
};

enum xlmig_xlsend_state {
	XLMIG_XLSEND_BANNER = 0,   /* waiting for the receiver's banner */
	XLMIG_XLSEND_SAVE,         /* sending the stream */
	XLMIG_XLSEND_READY,        /* waiting for "ready to unpause" */
	XLMIG_XLSEND_RENAME,       /* renaming our copy away */
	XLMIG_XLSEND_GO,           /* point of no return: sending GO */
	XLMIG_XLSEND_REPORT,       /* waiting for the report and status */
	XLMIG_XLSEND_PEER_FAILED,  /* receiver failed: waiting for its GO back */
	XLMIG_XLSEND_FINISHED,
};

enum xlmig_xlsend_outcome {
	XLMIG_XLSEND_OK = 0,            /* guest runs on the receiver, ours destroyed */
	XLMIG_XLSEND_UNTOUCHED,         /* failed before the guest was suspended */
	XLMIG_XLSEND_RESUMED,           /* failed, guest resumed here */
	XLMIG_XLSEND_RESUME_FAILED,     /* failed, and resuming here failed too */
	XLMIG_XLSEND_UNDEFINED,         /* failed in the final handshake: check both ends */
};

struct xlmig_xlsend_result {
	enum xlmig_xlsend_state failed_in;  /* state where it failed (FINISHED if ok) */
	enum xlmig_xlsend_outcome outcome;
	int peer_status;                    /* receiver's status byte, -1 if none */
};

/* Run xl's sender side.  send_fd carries the stream and GO, recv_fd the
 * receiver's messages.  rune names the transport in messages (may be
 * NULL).  Returns 0 when the guest runs on the receiver, else the error
 * with res->outcome saying what became of the guest. */
int xlmig_xlproto_send(int send_fd, int recv_fd, const char *rune,
		       const struct xlmig_xlsend_ops *ops, void *opaque,
		       struct xlmig_xlsend_result *res);

/* ---- receiver ---- */

struct xlmig_xlrecv_ops {
	/* Read the whole stream from fd and create the guest paused under
	 * its incoming name; on error nothing is left behind. */
	int (*restore)(void *opaque, int fd);
	int (*rename_final)(void *opaque);   /* NAME--incoming -> NAME */
	int (*unpause)(void *opaque);
	int (*destroy)(void *opaque);
};

enum xlmig_xlrecv_state {
	XLMIG_XLRECV_BANNER = 0,   /* sending the banner */
	XLMIG_XLRECV_RESTORE,      /* receiving the stream */
	XLMIG_XLRECV_READY,        /* sending "ready to unpause" */
	XLMIG_XLRECV_WAIT_GO,      /* waiting for GO */
	XLMIG_XLRECV_START,        /* renaming and unpausing */
	XLMIG_XLRECV_REPORT,       /* sending the report and status */
	XLMIG_XLRECV_CLEANUP,      /* destroying our copy, giving GO back */
	XLMIG_XLRECV_FINISHED,
};

struct xlmig_xlrecv_result {
	enum xlmig_xlrecv_state failed_in;  /* FINISHED if ok */
	bool domain_running;                /* our copy runs (or is paused by -p) */
	bool domain_destroyed;              /* our copy was created and destroyed */
	uint8_t status_sent;                /* status byte sent, if a report was */
	bool report_sent;
};

/* Run xl's receiver side: send_fd goes to the sender, recv_fd comes
 * from it.  pause_after: xl migrate-receive -p (leave the guest paused
 * after the rename). */
int xlmig_xlproto_receive(int send_fd, int recv_fd, bool pause_after,
			  const struct xlmig_xlrecv_ops *ops, void *opaque,
			  struct xlmig_xlrecv_result *res);

const char *xlmig_xlsend_state_name(enum xlmig_xlsend_state s);
const char *xlmig_xlrecv_state_name(enum xlmig_xlrecv_state s);

#endif
