/*
 * announce.h - telling the network where a guest now is: once a migrated
 * guest runs on the destination, frames sent in its name make switches
 * learn its MAC on the destination's port at once, instead of when the
 * guest next speaks or the old entry ages out.
 *
 * Per interface: a gratuitous ARP for each IPv4 address, an unsolicited
 * neighbour advertisement (override set) for each IPv6 address, and a
 * RARP when no address is known (as QEMU's announce-self); 802.1Q tagged
 * where the interface is.  They are sent from the host's side of the
 * interface's bridge (its uplink), on a raw AF_PACKET socket, in rounds
 * whose gaps grow, since a switch or a link may miss the first.  That
 * bridge itself learns nothing from frames it sends, so its forwarding
 * entry for the guest's MAC is pointed at the guest's port (netlink).
 */
#ifndef XLMIG_ANNOUNCE_H
#define XLMIG_ANNOUNCE_H

#include "hv.h"

#define XLMIG_ANNOUNCE_FRAME_MAX 96
#define XLMIG_ANNOUNCE_FRAMES_MAX (XLMIG_NIC_ADDRS_MAX * 2 + 1)

struct xlmig_announce_frames {
	size_t n;
	size_t len[XLMIG_ANNOUNCE_FRAMES_MAX];
	uint8_t f[XLMIG_ANNOUNCE_FRAMES_MAX][XLMIG_ANNOUNCE_FRAME_MAX];
};

/* The frames that announce nic. */
void xlmig_announce_build(const struct xlmig_nic *nic, struct xlmig_announce_frames *out);

/* One frame each (buf holds XLMIG_ANNOUNCE_FRAME_MAX); the length. */
size_t xlmig_announce_garp(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[4], uint16_t vlan);
size_t xlmig_announce_na(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[16], uint16_t vlan);
size_t xlmig_announce_rarp(uint8_t *buf, const uint8_t mac[6], uint16_t vlan);

struct xlmig_announce_opts {
	unsigned rounds;       /* 0: no announce */
	unsigned initial_ms;   /* gap after the first round, +step each */
	unsigned step_ms;
	unsigned max_ms;       /* no gap longer */
};
void xlmig_announce_opts_default(struct xlmig_announce_opts *o);

/* Send the frames once on ifname. */
int xlmig_announce_send(const char *ifname, const struct xlmig_announce_frames *fr);

/* Point the bridge that port is a port of at it for mac (tagged vlan,
 * or 0): a dynamic forwarding entry, replacing what it had learned. */
int xlmig_announce_fdb(const char *port, const uint8_t mac[6], uint16_t vlan);

/* Announce each of a guest's interfaces, in rounds, from a thread of its
 * own (the caller does not wait); on each interface's uplink, or the
 * interface itself when it has none. */
int xlmig_announce_start(const struct xlmig_nic *nics, size_t n, const struct xlmig_announce_opts *o,
			 const char *what);

#endif
