/*
 * ctl.h - xlmigd's local control protocol: one JSON object per line over
 * a unix stream socket, request then reply, used by the xlmig command
 * line and by backup software.
 *
 * A request is {"cmd":"NAME", ...arguments}; the reply is
 * {"ok":true, ...results} or {"ok":false,"error":"what to do","code":N}
 * with code an XLMIG_E_* value.  The socket is created mode 0600 and the
 * daemon also checks the peer's uid (SO_PEERCRED): only root may talk.
 */
#ifndef XLMIG_CTL_H
#define XLMIG_CTL_H

#include "common.h"

#include <sys/types.h>

#define XLMIG_CTL_DEFAULT_PATH "/run/xlmig/xlmigd.sock"
#define XLMIG_CTL_LINE_MAX (1u << 20)   /* longest request or reply */

/* Server side: create the socket (and its directory, 0700), removing a
 * stale socket left by a daemon that died, refusing if one answers. */
int xlmig_ctl_listen(const char *path, int *fd_out);
/* The uid of the process at the other end of a connected socket. */
int xlmig_ctl_peer_uid(int fd, uid_t *uid);

/* Client side: a connection with its own receive buffer. */
struct xlmig_ctl_client {
	int fd;
	struct xlmig_buf in;
};
int xlmig_ctl_connect(const char *path, struct xlmig_ctl_client *c);
void xlmig_ctl_disconnect(struct xlmig_ctl_client *c);
/* Send one line (the newline is added; the text must not contain one). */
int xlmig_ctl_send(int fd, const char *line);
/* Receive one line without its newline; *line is malloc'd.  timeout_ms
 * < 0 waits for ever. */
int xlmig_ctl_recv(struct xlmig_ctl_client *c, char **line, int timeout_ms);
/* send + recv. */
int xlmig_ctl_call(struct xlmig_ctl_client *c, const char *request, char **reply,
		   int timeout_ms);

#endif
