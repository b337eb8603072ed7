/*
 * listen_addrs.c - where xlmigd takes migrations by default (see
 * listen_addrs.h).
 */
#include "listen_addrs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/route.h>
#include <stdlib.h>

static bool iface_ok(const char *name)
{
	size_t len = strlen(name);

	return len && len < IF_NAMESIZE && strcmp(name, "lo");
}

static void add_iface(const char *name, bool is_v6, char names[][IF_NAMESIZE], bool *v6,
		      unsigned max, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(names[i], name) && v6[i] == is_v6)
			return;
	if (*n < max) {
		memcpy(names[*n], name, strlen(name) + 1);
		v6[(*n)++] = is_v6;
	}
}

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric
 * Mask ...", addresses in hex; a default route has destination and mask 0. */
static void read_route4(FILE *f, char names[][IF_NAMESIZE], bool *v6, unsigned max, unsigned *n)
{
	char line[512], name[64];
	unsigned dest, gw, flags, refcnt, use, metric, mask;

	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %x %x %x %u %u %u %x", name, &dest, &gw, &flags, &refcnt,
			   &use, &metric, &mask) == 8 &&
		    dest == 0 && mask == 0 && (flags & RTF_UP) && !(flags & RTF_REJECT) &&
		    iface_ok(name))
			add_iface(name, false, names, v6, max, n);
}

/* /proc/net/ipv6_route: "dest plen src splen gateway metric refcnt use
 * flags device", addresses as 32 hex digits; the default is ::/0. */
static void read_route6(FILE *f, char names[][IF_NAMESIZE], bool *v6, unsigned max, unsigned *n)
{
	char line[512], dest[40], src[40], gw[40], name[64];
	unsigned plen, splen, metric, refcnt, use, flags;

	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%39s %x %39s %x %39s %x %x %x %x %63s", dest, &plen, src, &splen,
			   gw, &metric, &refcnt, &use, &flags, name) == 10 &&
		    strspn(dest, "0") == 32 && dest[32] == '\0' && plen == 0 &&
		    (flags & RTF_UP) && !(flags & RTF_REJECT) && iface_ok(name))
			add_iface(name, true, names, v6, max, n);
}

int xlmig_default_route_ifaces(FILE *route4, FILE *route6, char names[][IF_NAMESIZE],
			       bool *v6, unsigned max, unsigned *n)
{
	*n = 0;
	if (route4)
		read_route4(route4, names, v6, max, n);
	if (route6)
		read_route6(route6, names, v6, max, n);
	return XLMIG_OK;
}

static void add_addr(struct xlmig_listen_addrs *out, const char *addr)
{
	for (unsigned i = 0; i < out->n; i++)
		if (!strcmp(out->addr[i], addr))
			return;
	if (out->n < XLMIG_LISTEN_MAX)
		snprintf(out->addr[out->n++], sizeof(out->addr[0]), "%s", addr);
}

/* The addresses of one interface in one family (IPv6: not link-local,
 * which would need a scope on every peer). */
static void add_iface_addrs(struct xlmig_listen_addrs *out, const struct ifaddrs *all,
			    const char *name, bool v6)
{
	for (const struct ifaddrs *a = all; a; a = a->ifa_next) {
		char text[INET6_ADDRSTRLEN];
		const void *raw;

		if (!a->ifa_addr || strcmp(a->ifa_name, name) ||
		    a->ifa_addr->sa_family != (v6 ? AF_INET6 : AF_INET))
			continue;
		if (v6) {
			const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(in6))
				continue;
			raw = in6;
		} else {
			raw = &((const struct sockaddr_in *)a->ifa_addr)->sin_addr;
		}
		if (inet_ntop(v6 ? AF_INET6 : AF_INET, raw, text, sizeof(text)))
			add_addr(out, text);
	}
}

int xlmig_listen_addrs_default(struct xlmig_listen_addrs *out)
{
	char names[XLMIG_LISTEN_MAX][IF_NAMESIZE];
	bool v6[XLMIG_LISTEN_MAX];
	FILE *r4 = fopen("/proc/net/route", "re"), *r6 = fopen("/proc/net/ipv6_route", "re");
	struct ifaddrs *all = NULL;
	unsigned n = 0;
	int rc = XLMIG_OK;

	memset(out, 0, sizeof(*out));
	xlmig_default_route_ifaces(r4, r6, names, v6, XLMIG_LISTEN_MAX, &n);
	if (n == 0)
		goto out;   /* no default route: the caller decides */
	if (getifaddrs(&all) != 0) {
		rc = xlmig_fail(XLMIG_E_IO, "cannot list this host's addresses: %s", strerror(errno));
		goto out;
	}
	/* Loopback, for migrations to localhost: ::1 too where lo has it. */
	add_addr(out, "127.0.0.1");
	add_iface_addrs(out, all, "lo", true);
	for (unsigned i = 0; i < n; i++) {
		size_t used = strlen(out->ifaces);

		snprintf(out->ifaces + used, sizeof(out->ifaces) - used, "%s%s", used ? ", " : "",
			 names[i]);
		add_iface_addrs(out, all, names[i], v6[i]);
	}
out:
	if (all)
		freeifaddrs(all);
	if (r4)
		fclose(r4);
	if (r6)
		fclose(r6);
	return rc;
}
