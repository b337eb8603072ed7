/*
 * listen_addrs.h - where xlmigd takes migrations by default: the
 * migration network, not every address of the host.
 *
 * Without a configured `listen`, xlmigd listens on loopback (migrations
 * to localhost, as `xl migrate` to localhost does) and on the addresses of
 * the interface(s) that carry the host's default route (IPv4 from
 * /proc/net/route, IPv6 from /proc/net/ipv6_route): a dom0 on a
 * management, storage or guest-facing network it does not route through
 * then accepts no connections there.  A host without a default route
 * has no such network to name: the caller falls back to every address and
 * says so, pointing at `listen` in xlmigd.conf.
 */
#ifndef XLMIG_LISTEN_ADDRS_H
#define XLMIG_LISTEN_ADDRS_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>

#include "common.h"

#define XLMIG_LISTEN_MAX 16u

struct xlmig_listen_addrs {
	unsigned n;                                   /* 0: no default route */
	char addr[XLMIG_LISTEN_MAX][INET6_ADDRSTRLEN]; /* numeric, loopback first */
	char ifaces[128];                             /* for messages: "eth0, br0" */
};

/* The interfaces with a default route that is up, from the text of
 * /proc/net/route (route4) and /proc/net/ipv6_route (route6; either may
 * be NULL).  names[i][0..IF_NAMESIZE); v6[i] says the route was IPv6.
 * Lines that do not parse are skipped (the files are the kernel's). */
int xlmig_default_route_ifaces(FILE *route4, FILE *route6, char names[][IF_NAMESIZE],
			       bool *v6, unsigned max, unsigned *n);

/* The default listen addresses of this host, as above. */
int xlmig_listen_addrs_default(struct xlmig_listen_addrs *out);

#endif
