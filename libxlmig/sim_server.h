/*
 * sim_server.h - serving a sim host (sim_host.h) over its protocol
 * (sim_proto.h): a listening unix socket, one thread per connection,
 * requests answered in order, the memory of a guest passed as memfds,
 * and domain-change events to the connections that asked to WATCH.
 *
 * xlmig-simhost listens on a path; tests, fuzzers and benchmarks that
 * want a sim host inside their own process use xlmig_sim_server_connect(),
 * which serves one end of a socketpair, so they speak the same protocol
 * as xlmigd does to xlmig-simhost.
 */
#ifndef XLMIG_SIM_SERVER_H
#define XLMIG_SIM_SERVER_H

#include "common.h"

struct xlmig_sim_server;

int xlmig_sim_server_new(struct xlmig_sim_server **out);
/* Stops serving: closes every connection, waits for their threads, and
 * destroys the host's guests. */
void xlmig_sim_server_free(struct xlmig_sim_server *s);

/* Bind and listen on path (a stale socket nobody answers on is
 * replaced; a live one is an error: one sim host per path). */
int xlmig_sim_server_listen(struct xlmig_sim_server *s, const char *path);
/* Accept and serve until xlmig_sim_server_stop(). */
int xlmig_sim_server_run(struct xlmig_sim_server *s);
/* Make run() return; safe from a signal handler. */
void xlmig_sim_server_stop(struct xlmig_sim_server *s);

/* A new connection to this server, served by a thread of this process:
 * *fd is the client's end (the caller closes it). */
int xlmig_sim_server_connect(struct xlmig_sim_server *s, int *fd);

#endif
