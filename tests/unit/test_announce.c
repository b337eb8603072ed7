/*
 * test_announce.c - the frames that announce a migrated guest: ARP,
 * RARP and neighbour advertisement bytes, 802.1Q tags, the ICMPv6
 * checksum, the choice of frames per interface, and a round sent on a
 * veth in a namespace of the test's own and read back at its far end.
 */
#include "announce.h"
#include "unit.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c };

TEST(announce_garp_frame)
{
	uint8_t f[XLMIG_ANNOUNCE_FRAME_MAX], ip[4] = { 10, 9, 0, 5 };
	size_t n = xlmig_announce_garp(f, mac, ip, 0);

	CHECK_EQ(n, 60);
	CHECK(!memcmp(f, "\xff\xff\xff\xff\xff\xff", 6));
	CHECK(!memcmp(f + 6, mac, 6));
	CHECK_EQ(xlmig_get_be16(f + 12), 0x0806);
	CHECK_EQ(xlmig_get_be16(f + 14), 1);       /* Ethernet */
	CHECK_EQ(xlmig_get_be16(f + 16), 0x0800);
	CHECK_EQ(xlmig_get_be16(f + 20), 1);       /* request */
	CHECK(!memcmp(f + 22, mac, 6));            /* sender MAC */
	CHECK(!memcmp(f + 28, ip, 4));             /* sender IP */
	CHECK(!memcmp(f + 38, ip, 4));             /* target IP: the same */
	/* Tagged: the tag after the addresses, the rest shifted. */
	n = xlmig_announce_garp(f, mac, ip, 42);
	CHECK_EQ(n, 60);
	CHECK_EQ(xlmig_get_be16(f + 12), 0x8100);
	CHECK_EQ(xlmig_get_be16(f + 14), 42);
	CHECK_EQ(xlmig_get_be16(f + 16), 0x0806);
	CHECK(!memcmp(f + 42, ip, 4));
}

TEST(announce_rarp_frame)
{
	uint8_t f[XLMIG_ANNOUNCE_FRAME_MAX];
	size_t n = xlmig_announce_rarp(f, mac, 0);

	CHECK_EQ(n, 60);
	CHECK_EQ(xlmig_get_be16(f + 12), 0x8035);
	CHECK_EQ(xlmig_get_be16(f + 20), 3);       /* reverse request */
	CHECK(!memcmp(f + 22, mac, 6));
	CHECK(!memcmp(f + 32, mac, 6));            /* target MAC */
}

TEST(announce_na_frame_and_checksum)
{
	uint8_t f[XLMIG_ANNOUNCE_FRAME_MAX], ip[16];
	uint32_t sum = 0;
	size_t n;

	CHECK_EQ(inet_pton(AF_INET6, "fd00::5", ip), 1);
	n = xlmig_announce_na(f, mac, ip, 0);
	CHECK_EQ(n, 14 + 40 + 32);
	CHECK(!memcmp(f, "\x33\x33\x00\x00\x00\x01", 6));
	CHECK_EQ(xlmig_get_be16(f + 12), 0x86dd);
	CHECK_EQ(f[14] >> 4, 6);
	CHECK_EQ(f[14 + 6], 58);                   /* ICMPv6 */
	CHECK_EQ(f[14 + 7], 255);                  /* hop limit */
	CHECK(!memcmp(f + 14 + 8, ip, 16));
	CHECK_EQ(f[54], 136);                      /* NA */
	CHECK_EQ(f[58] & 0x20, 0x20);              /* override */
	CHECK(!memcmp(f + 62, ip, 16));            /* target */
	CHECK_EQ(f[78], 2);                        /* target link-layer option */
	CHECK(!memcmp(f + 80, mac, 6));
	/* The checksum verifies: pseudo-header + message sum to 0xffff. */
	for (int i = 0; i < 32; i += 2)
		sum += xlmig_get_be16(f + 22 + i);
	sum += 32 + 58;
	for (int i = 0; i < 32; i += 2)
		sum += xlmig_get_be16(f + 54 + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	CHECK_EQ(sum, 0xffff);
}

TEST(announce_frames_per_interface)
{
	struct xlmig_nic nic = { .n_ipv4 = 2, .n_ipv6 = 1 };
	struct xlmig_announce_frames fr;

	memcpy(nic.mac, mac, 6);
	memcpy(nic.ipv4[0], "\x0a\x00\x00\x01", 4);
	memcpy(nic.ipv4[1], "\x0a\x00\x00\x02", 4);
	CHECK_EQ(inet_pton(AF_INET6, "fd00::1", nic.ipv6[0]), 1);
	xlmig_announce_build(&nic, &fr);
	CHECK_EQ(fr.n, 3);
	CHECK_EQ(xlmig_get_be16(fr.f[0] + 12), 0x0806);
	CHECK_EQ(xlmig_get_be16(fr.f[1] + 12), 0x0806);
	CHECK_EQ(xlmig_get_be16(fr.f[2] + 12), 0x86dd);
	/* Nothing known of its addresses: RARP, as QEMU's announce-self. */
	nic.n_ipv4 = nic.n_ipv6 = 0;
	xlmig_announce_build(&nic, &fr);
	CHECK_EQ(fr.n, 1);
	CHECK_EQ(xlmig_get_be16(fr.f[0] + 12), 0x8035);
}

TEST(announce_sent_on_the_wire)
{
	struct xlmig_nic nic = { .n_ipv4 = 1 };
	struct xlmig_announce_frames fr;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(0x0806) };
	uint8_t got[128];
	struct pollfd pfd;
	int fd;
	ssize_t n;

	if (unshare(CLONE_NEWNET) != 0 ||
	    system("ip link add an0 type veth peer name an1 && ip link set an0 up && ip link set an1 up") != 0)
		SKIP("cannot make a network namespace with a veth here (needs CAP_SYS_ADMIN and ip)");
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0806));
	CHECK(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex("an1");
	CHECK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	memcpy(nic.mac, mac, 6);
	memcpy(nic.ipv4[0], "\x0a\x09\x00\x05", 4);
	xlmig_announce_build(&nic, &fr);
	CHECK_OK(xlmig_announce_send("an0", &fr));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 2000), 1);
	n = recv(fd, got, sizeof(got), 0);
	CHECK_EQ(n, 60);
	CHECK(!memcmp(got, fr.f[0], 60));
	CHECK_EQ(xlmig_announce_send("no-such-if9", &fr), XLMIG_E_NOTFOUND);
	close(fd);
}

/* ab0's forwarding entry for mac_text, as `bridge fdb show` prints it
 * ("" when it has none). */
static void fdb_line(const char *mac_text, char *out, size_t len)
{
	char line[256];
	FILE *p = popen("bridge fdb show br ab0 2>/dev/null", "r");

	out[0] = 0;
	if (!p)
		return;
	while (fgets(line, sizeof(line), p))
		if (!strncmp(line, mac_text, strlen(mac_text)) && strstr(line, " master ab0"))
			snprintf(out, len, "%s", line);
	pclose(p);
}

TEST(announce_points_the_bridge_at_the_port)
{
	char e[256];

	/* ab0 has learned the guest's MAC on its uplink (ap0); the guest
	 * now sits behind ap1. */
	if (unshare(CLONE_NEWNET) != 0 ||
	    system("ip link add ab0 type bridge && ip link set ab0 up && "
		   "ip link add ap0 type veth peer name aq0 && ip link add ap1 type veth peer name aq1 && "
		   "ip link set ap0 master ab0 up && ip link set aq0 up && "
		   "bridge fdb add 00:16:3e:0a:0b:0c dev ap0 master dynamic") != 0)
		SKIP("cannot make a network namespace with a bridge here (needs CAP_SYS_ADMIN, ip and bridge)");
	fdb_line("00:16:3e:0a:0b:0c", e, sizeof(e));
	CHECK(strstr(e, "dev ap0 ") != NULL);
	CHECK_EQ(system("ip link set ap1 master ab0"), 0);
	/* A port that does not forward yet (its link down): refused, and
	 * the old entry stays. */
	CHECK_EQ(xlmig_announce_fdb("ap1", mac, 0), XLMIG_E_IO);
	fdb_line("00:16:3e:0a:0b:0c", e, sizeof(e));
	CHECK(strstr(e, "dev ap0 ") != NULL);
	/* Once it forwards (the link watch may take a while), replaced. */
	CHECK_EQ(system("ip link set ap1 up && ip link set aq1 up"), 0);
	for (int i = 0; i < 300 && xlmig_announce_fdb("ap1", mac, 0) != XLMIG_OK; i++)
		usleep(10000);
	fdb_line("00:16:3e:0a:0b:0c", e, sizeof(e));
	CHECK(strstr(e, "dev ap1 ") != NULL);
	/* Dynamic: it ages and moves as a learned entry does. */
	CHECK(!strstr(e, "permanent") && !strstr(e, "static"));
	CHECK_EQ(xlmig_announce_fdb("no-such-if9", mac, 0), XLMIG_E_NOTFOUND);
	/* Not a bridge port: the kernel says no. */
	CHECK(xlmig_announce_fdb("aq0", mac, 0) != XLMIG_OK);
}
