/*
 * test_tcp.c - whether a TCP peer is this very host: on the loopback
 * network or at the socket's own address (a host dialling one of its own
 * addresses), and never a pipe.
 */
#include "unit.h"

#include "chan.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <unistd.h>

/* Connect to ourselves at addr; the two ends in *cfd and *sfd. */
static int self_pair(const char *addr, int *lfd, int *cfd, int *sfd)
{
	char port[8];
	uint16_t bound;
	int rc;

	rc = xlmig_tcp_listen(addr, "0", lfd, &bound);
	if (rc == XLMIG_OK) {
		snprintf(port, sizeof(port), "%u", bound);
		rc = xlmig_tcp_connect(addr, port, 2000, cfd);
	}
	if (rc == XLMIG_OK)
		rc = xlmig_tcp_accept(*lfd, 2000, sfd, NULL, 0);
	return rc;
}

/* A non-loopback IPv4 address of an interface that is up, if any. */
static bool own_address(char *out, size_t len)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK))
			found = inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
					  out, (socklen_t)len) != NULL;
	freeifaddrs(ifs);
	return found;
}

TEST(tcp_peer_is_this_host)
{
	int lfd = -1, cfd = -1, sfd = -1, p[2];
	char addr[INET_ADDRSTRLEN];

	CHECK_OK(self_pair("127.0.0.1", &lfd, &cfd, &sfd));
	CHECK(xlmig_tcp_peer_is_this_host(cfd));
	CHECK(xlmig_tcp_peer_is_this_host(sfd));
	close(lfd);
	close(cfd);
	close(sfd);
	if (own_address(addr, sizeof(addr))) {
		/* Not loopback, but the same host at both ends. */
		CHECK_OK(self_pair(addr, &lfd, &cfd, &sfd));
		CHECK(!xlmig_tcp_peer_is_loopback(cfd));
		CHECK(xlmig_tcp_peer_is_this_host(cfd));
		CHECK(xlmig_tcp_peer_is_this_host(sfd));
		close(lfd);
		close(cfd);
		close(sfd);
	}
	CHECK(pipe(p) == 0);
	CHECK(!xlmig_tcp_peer_is_this_host(p[0]));
	close(p[0]);
	close(p[1]);
}

/* The address helpers xlmigd's listener uses to know its own addresses. */
TEST(tcp_sockaddr_helpers)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8002) };
	struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_port = htons(8002) };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	CHECK(xlmig_sockaddr_is_any((struct sockaddr *)&a));
	CHECK(xlmig_sockaddr_is_any((struct sockaddr *)&any6));
	CHECK(!xlmig_sockaddr_is_any((struct sockaddr *)&lo6));
	CHECK_EQ(xlmig_sockaddr_port((struct sockaddr *)&a), 8002);
	CHECK_EQ(xlmig_sockaddr_port((struct sockaddr *)&any6), 8002);
	inet_pton(AF_INET, "10.1.2.3", &a.sin_addr);
	inet_pton(AF_INET, "10.1.2.3", &b.sin_addr);
	CHECK(!xlmig_sockaddr_is_any((struct sockaddr *)&a));
	CHECK(xlmig_sockaddr_same_address((struct sockaddr *)&a, (struct sockaddr *)&b));
	inet_pton(AF_INET, "10.1.2.4", &b.sin_addr);
	CHECK(!xlmig_sockaddr_same_address((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK(!xlmig_sockaddr_same_address((struct sockaddr *)&a, (struct sockaddr *)&lo6));
	CHECK(xlmig_sockaddr_same_address((struct sockaddr *)&lo6, (struct sockaddr *)&lo6));
}
