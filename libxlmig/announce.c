/*
 * announce.c - gratuitous ARP, unsolicited NA and RARP for a migrated
 * guest (announce.h).
 */
#include "announce.h"
#include "offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ETH_P_RARP_ 0x8035
#define ETH_P_8021Q_ 0x8100
#define ETH_MIN_FRAME 60      /* without the FCS */

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Destination, source, optional 802.1Q tag, ethertype; the header length. */
static size_t eth_header(uint8_t *b, const uint8_t dst[6], const uint8_t src[6], uint16_t vlan, uint16_t type)
{
	size_t o = 12;

	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	if (vlan) {
		xlmig_put_be16(b + o, ETH_P_8021Q_);
		xlmig_put_be16(b + o + 2, vlan & 0x0fff);
		o += 4;
	}
	xlmig_put_be16(b + o, type);
	return o + 2;
}

/* ARP and RARP share one body (RFC 826, RFC 903). */
static size_t arp_frame(uint8_t *b, uint16_t ethertype, uint16_t op, const uint8_t mac[6],
			const uint8_t spa[4], const uint8_t tha[6], const uint8_t tpa[4], uint16_t vlan)
{
	size_t o = eth_header(b, bcast, mac, vlan, ethertype);

	xlmig_put_be16(b + o, 1);          /* Ethernet */
	xlmig_put_be16(b + o + 2, 0x0800); /* IPv4 */
	b[o + 4] = 6;
	b[o + 5] = 4;
	xlmig_put_be16(b + o + 6, op);
	memcpy(b + o + 8, mac, 6);
	memcpy(b + o + 14, spa, 4);
	memcpy(b + o + 18, tha, 6);
	memcpy(b + o + 24, tpa, 4);
	o += 28;
	if (o < ETH_MIN_FRAME) {
		memset(b + o, 0, ETH_MIN_FRAME - o);
		o = ETH_MIN_FRAME;
	}
	return o;
}

size_t xlmig_announce_garp(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[4], uint16_t vlan)
{
	static const uint8_t zero[6];

	/* A request for its own address, sender and target the same: every
	 * host updates its cache, every switch learns the port. */
	return arp_frame(buf, 0x0806, 1, mac, ip, zero, ip, vlan);
}

size_t xlmig_announce_rarp(uint8_t *buf, const uint8_t mac[6], uint16_t vlan)
{
	static const uint8_t zero[4];

	/* "Reverse request", as QEMU's announce-self: only its source
	 * address matters, to the switches. */
	return arp_frame(buf, ETH_P_RARP_, 3, mac, zero, mac, zero, vlan);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += xlmig_get_be16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

size_t xlmig_announce_na(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[16], uint16_t vlan)
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	size_t o = eth_header(buf, all_nodes_mac, mac, vlan, 0x86dd), ip6 = o;
	uint8_t *icmp = buf + o + 40, pseudo[40];
	const size_t icmp_len = 32;   /* NA (24) + target link-layer option (8) */

	/* IPv6 header: version 6, payload icmp_len, next ICMPv6, hop limit
	 * 255 (RFC 4861 drops anything else). */
	memset(buf + ip6, 0, 40);
	buf[ip6] = 0x60;
	xlmig_put_be16(buf + ip6 + 4, icmp_len);
	buf[ip6 + 6] = 58;
	buf[ip6 + 7] = 255;
	memcpy(buf + ip6 + 8, ip, 16);
	memcpy(buf + ip6 + 24, all_nodes, 16);
	memset(icmp, 0, icmp_len);
	icmp[0] = 136;              /* neighbour advertisement */
	icmp[4] = 0x20;             /* override: replace cached link-layer addresses */
	memcpy(icmp + 8, ip, 16);
	icmp[24] = 2;               /* target link-layer address */
	icmp[25] = 1;               /* in units of 8 bytes */
	memcpy(icmp + 26, mac, 6);
	/* Checksum over the pseudo-header (RFC 8200 8.1) and the message. */
	memcpy(pseudo, buf + ip6 + 8, 32);
	memset(pseudo + 32, 0, 8);
	xlmig_put_be32(pseudo + 32, icmp_len);
	pseudo[39] = 58;
	xlmig_put_be16(icmp + 2, csum_fold(csum_add(csum_add(0, pseudo, 40), icmp, icmp_len)));
	return o + 40 + icmp_len;
}

void xlmig_announce_build(const struct xlmig_nic *nic, struct xlmig_announce_frames *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nic->n_ipv4 && i < XLMIG_NIC_ADDRS_MAX; i++, out->n++)
		out->len[out->n] = xlmig_announce_garp(out->f[out->n], nic->mac, nic->ipv4[i], nic->vlan);
	for (size_t i = 0; i < nic->n_ipv6 && i < XLMIG_NIC_ADDRS_MAX; i++, out->n++)
		out->len[out->n] = xlmig_announce_na(out->f[out->n], nic->mac, nic->ipv6[i], nic->vlan);
	if (!out->n) {
		out->len[0] = xlmig_announce_rarp(out->f[0], nic->mac, nic->vlan);
		out->n = 1;
	}
}

void xlmig_announce_opts_default(struct xlmig_announce_opts *o)
{
	/* QEMU's announce defaults: 5 rounds, 50 ms, +100 ms, at most 550. */
	*o = (struct xlmig_announce_opts){ .rounds = 5, .initial_ms = 50, .step_ms = 100, .max_ms = 550 };
}

int xlmig_announce_send(const char *ifname, const struct xlmig_announce_frames *fr)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
	int fd, rc = XLMIG_OK;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no interface %s to announce on: %s", ifname, strerror(errno));
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "a raw socket to announce on %s: %s (needs CAP_NET_RAW)", ifname,
				  strerror(errno));
	for (size_t i = 0; i < fr->n && !rc; i++) {
		memcpy(sll.sll_addr, fr->f[i], 6);
		if (sendto(fd, fr->f[i], fr->len[i], 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			rc = xlmig_fail(XLMIG_E_IO, "announcing on %s: %s", ifname, strerror(errno));
	}
	close(fd);
	return rc;
}

/* Append one attribute to a netlink request of room bytes. */
static void nl_attr(struct nlmsghdr *n, size_t room, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((uint8_t *)n + NLMSG_ALIGN(n->nlmsg_len));

	if (NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len) > room)
		return;
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len));
}

int xlmig_announce_fdb(const char *port, const uint8_t mac[6], uint16_t vlan)
{
	struct {
		struct nlmsghdr n;
		struct ndmsg ndm;
		uint8_t attrs[64];
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr n;
		uint8_t b[512];
	} ack;
	struct nlmsgerr *e;
	ssize_t got;
	int fd, rc = XLMIG_OK;
	unsigned idx = if_nametoindex(port);

	if (!idx)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no interface %s to point the bridge at: %s", port, strerror(errno));
	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.n.nlmsg_type = RTM_NEWNEIGH;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	req.n.nlmsg_seq = 1;
	/* As `bridge fdb replace MAC dev PORT master dynamic`: an entry
	 * that ages and moves like a learned one. */
	req.ndm.ndm_family = AF_BRIDGE;
	req.ndm.ndm_ifindex = (int)idx;
	req.ndm.ndm_state = NUD_REACHABLE;
	req.ndm.ndm_flags = NTF_MASTER;
	nl_attr(&req.n, sizeof(req), NDA_LLADDR, mac, 6);
	if (vlan)
		nl_attr(&req.n, sizeof(req), NDA_VLAN, &vlan, sizeof(vlan));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return xlmig_fail(XLMIG_E_IO, "a netlink socket for %s's bridge: %s", port, strerror(errno));
	if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "pointing the bridge of %s at it: %s", port, strerror(errno));
		goto out;
	}
	got = recv(fd, &ack, sizeof(ack), 0);
	if (got < (ssize_t)NLMSG_LENGTH(sizeof(*e)) || ack.n.nlmsg_type != NLMSG_ERROR ||
	    ack.n.nlmsg_len > (size_t)got) {
		rc = xlmig_fail(XLMIG_E_IO, "pointing the bridge of %s at it: no answer from the kernel", port);
		goto out;
	}
	e = NLMSG_DATA(&ack.n);
	if (e->error)
		rc = xlmig_fail(XLMIG_E_IO, "pointing the bridge of %s at it: %s (a port of a Linux bridge?)", port,
				strerror(-e->error));
out:
	close(fd);
	return rc;
}

/* ---- rounds, on a thread of their own ---- */

/* The bridge's entry is a local netlink call, so it is retried on this
 * tick until the port forwards rather than at the frames' next round
 * (up to half a second away), and given up after FDB_WAIT_MS. */
#define FDB_TICK_MS 10
#define FDB_WAIT_MS 3000

struct announce_job {
	struct xlmig_announce_opts o;
	char what[96];
	uint64_t start_ns;
	bool waiting;                              /* a bridge not pointed yet */
	size_t n;
	char ifname[XLMIG_NICS_MAX][IFNAMSIZ];     /* where the frames go out */
	struct xlmig_announce_frames fr[XLMIG_NICS_MAX];
	/* The guest's port on its bridge, until that bridge points at it
	 * for the guest's MAC ("" once it does, or when there is none). */
	char port[XLMIG_NICS_MAX][IFNAMSIZ];
	uint8_t mac[XLMIG_NICS_MAX][6];
	uint16_t vlan[XLMIG_NICS_MAX];
};

/* Where frames in the guest's name enter the network: the bridge the
 * host's side of its interface is a port of, or that side itself. */
static void uplink_of(const char *ifname, char out[XLMIG_IFNAME_MAX])
{
	xlmig_offload_uplink(ifname, out);
	if (!out[0])
		snprintf(out, XLMIG_IFNAME_MAX, "%s", ifname);
}

static unsigned job_ms(const struct announce_job *j)
{
	return (unsigned)((xlmig_now_ns() - j->start_ns) / 1000000u);
}

/* Point each bridge still waiting at its guest's port.  The bridge here
 * does not learn from the frames it sends itself, and may have learned
 * the guest's MAC on its uplink (a broadcast of the guest's, or the
 * announce of its last move, flooded to this host): it would send the
 * guest's traffic back there until that entry aged out.  The kernel
 * refuses the entry until the port forwards: until it has a carrier (a
 * vif's comes when the guest's frontend connects) and the kernel has
 * applied it.  A failure is told once give_up.  True while some bridge
 * still waits. */
static bool point_bridges(struct announce_job *j, bool give_up)
{
	bool waiting = false;

	for (size_t i = 0; i < j->n; i++) {
		bool carrier = false;

		if (!j->port[i][0])
			continue;
		/* Without this, up to a second of lost traffic (offload.h). */
		if (xlmig_offload_link_sync(j->port[i], &carrier) == XLMIG_OK && !carrier && !give_up) {
			waiting = true;
			continue;
		}
		if (xlmig_announce_fdb(j->port[i], j->mac[i], j->vlan[i]) == XLMIG_OK) {
			xlmig_info("%s: %s's bridge points at it after %u ms", j->what, j->port[i], job_ms(j));
			j->port[i][0] = 0;
		} else if (give_up) {
			xlmig_warn("%s: %s", j->what, xlmig_errmsg());
			j->port[i][0] = 0;
		} else {
			waiting = true;
		}
	}
	return waiting;
}

/* One round of every interface's frames. */
static void send_frames(struct announce_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (xlmig_announce_send(j->ifname[i], &j->fr[i]))
			xlmig_warn("%s: %s", j->what, xlmig_errmsg());
}

/* The rounds after the first (sent before the thread started), and the
 * bridges' entries on their own tick until they are in. */
static void *announce_main(void *arg)
{
	struct announce_job *j = arg;
	unsigned gap = j->o.initial_ms, next = gap, r = 1;
	bool waiting = j->waiting;

	while (r < j->o.rounds || waiting) {
		unsigned now = job_ms(j), until = r < j->o.rounds ? next : FDB_WAIT_MS;

		if (waiting && until > now + FDB_TICK_MS)
			until = now + FDB_TICK_MS;
		if (until > now)
			usleep((until - now) * 1000u);
		if (waiting)
			waiting = point_bridges(j, job_ms(j) >= FDB_WAIT_MS);
		if (r < j->o.rounds && job_ms(j) >= next) {
			send_frames(j);
			gap = gap + j->o.step_ms < j->o.max_ms ? gap + j->o.step_ms : j->o.max_ms;
			next += gap;
			r++;
		}
	}
	xlmig_info("%s: announced %zu interface(s) in %u round(s)", j->what, j->n, j->o.rounds);
	free(j);
	return NULL;
}

int xlmig_announce_start(const struct xlmig_nic *nics, size_t n, const struct xlmig_announce_opts *o,
			 const char *what)
{
	struct announce_job *j;
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	if (!o->rounds || !n)
		return XLMIG_OK;
	if (!(j = calloc(1, sizeof(*j))))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for an announce");
	j->o = *o;
	snprintf(j->what, sizeof(j->what), "%s", what);
	for (size_t i = 0; i < n && i < XLMIG_NICS_MAX; i++, j->n++) {
		uplink_of(nics[i].ifname, j->ifname[i]);
		xlmig_announce_build(&nics[i], &j->fr[i]);
		if (strcmp(j->ifname[i], nics[i].ifname))
			snprintf(j->port[i], IFNAMSIZ, "%s", nics[i].ifname);
		memcpy(j->mac[i], nics[i].mac, 6);
		j->vlan[i] = nics[i].vlan;
	}
	/* The first round at once, in this thread: the sooner the better. */
	j->start_ns = xlmig_now_ns();
	j->waiting = point_bridges(j, false);
	send_frames(j);
	if (j->o.rounds == 1 && !j->waiting) {
		free(j);
		return XLMIG_OK;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &attr, announce_main, j);
	pthread_attr_destroy(&attr);
	if (err) {
		free(j);
		return xlmig_fail(XLMIG_E_NOMEM, "cannot start the announce thread: %s", strerror(err));
	}
	return XLMIG_OK;
}
