/*
 * sdnotify.h - tell the service manager about the daemon's state
 * (systemd's notify protocol: "READY=1", "STOPPING=1", "STATUS=...").
 *
 * The protocol is one datagram of newline-separated assignments sent to
 * the unix socket named by $NOTIFY_SOCKET (a path, or '@' for Linux's
 * abstract namespace); it is small enough to speak directly rather than
 * link libsystemd.  Without $NOTIFY_SOCKET nothing is sent.
 */
#ifndef XLMIG_SDNOTIFY_H
#define XLMIG_SDNOTIFY_H

/* Send state; XLMIG_OK also when no service manager listens. */
int xlmig_sd_notify(const char *state);

#endif
