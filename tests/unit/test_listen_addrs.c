/* test_listen_addrs.c - unit tests for listen_addrs.c: the interfaces of
 * the default routes read from the kernel's route tables (routes that are
 * down, rejecting, not default or on loopback ignored), and this host's
 * default listen addresses (loopback first, never the wildcard). */
#include "unit.h"
#include "listen_addrs.h"

#include <arpa/inet.h>

static FILE *text(const char *s)
{
	return fmemopen((void *)s, strlen(s), "r");
}

TEST(listen_addrs_default_routes_from_the_route_tables)
{
	static const char r4[] =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
		"eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"   /* a subnet */
		"br0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"    /* the default */
		"eth9\t00000000\t0102000A\t0002\t0\t0\t100\t00000000\t0\t0\t0\n" /* down */
		"eth8\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0\n"   /* reject */
		"garbage\n";
	static const char r6[] =
		"fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth1\n";
	char names[4][IF_NAMESIZE];
	bool v6[4];
	unsigned n = 9;
	FILE *f4 = text(r4), *f6 = text(r6);

	CHECK(f4 && f6);
	CHECK_OK(xlmig_default_route_ifaces(f4, f6, names, v6, 4, &n));
	CHECK_EQ(n, 2u);
	CHECK_STR(names[0], "br0");
	CHECK(!v6[0]);
	CHECK_STR(names[1], "eth1");
	CHECK(v6[1]);
	fclose(f4);
	fclose(f6);
	/* No default route at all: none. */
	f4 = text("Iface\tDestination\tGateway\n");
	CHECK_OK(xlmig_default_route_ifaces(f4, NULL, names, v6, 4, &n));
	CHECK_EQ(n, 0u);
	fclose(f4);
}

/* On this host: loopback first, then numeric addresses of the default
 * route's interfaces, never the wildcard (or nothing: no default route). */
TEST(listen_addrs_default_on_this_host)
{
	struct xlmig_listen_addrs la;

	CHECK_OK(xlmig_listen_addrs_default(&la));
	if (la.n == 0)
		return;
	CHECK_STR(la.addr[0], "127.0.0.1");
	CHECK(la.ifaces[0]);
	for (unsigned i = 0; i < la.n; i++) {
		unsigned char raw[16];

		CHECK(strcmp(la.addr[i], "0.0.0.0") && strcmp(la.addr[i], "::"));
		CHECK(inet_pton(strchr(la.addr[i], ':') ? AF_INET6 : AF_INET, la.addr[i], raw) == 1);
	}
}
