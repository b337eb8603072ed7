/*
 * offload.c - capture and apply an interface's offload state (offload.h).
 */
#include "offload.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

/* The features xlmig carries, by the kernel's names.  soft: the stack
 * does it in software when the device cannot (checksums, segmentation as
 * GSO, GRO in the stack); tx: the work happens on the way out, so the
 * uplink must offload it too for it to stay in hardware; cover: an uplink
 * feature that does this one's work too.  A bridge shows checksumming
 * for every protocol as tx-checksum-ip-generic alone (the kernel folds a
 * port's IPv4 and IPv6 checksum features into it), so a Xen vif's
 * IPv4/IPv6 checksums stay in hardware behind a bridge that shows only
 * the generic one. */
static const struct known {
	const char *name;
	bool soft, tx;
	const char *cover;
} known[] = {
	{ "rx-checksum",             true,  false, NULL },
	{ "tx-checksum-ip-generic",  true,  true,  NULL },
	{ "tx-checksum-ipv4",        true,  true,  "tx-checksum-ip-generic" },
	{ "tx-checksum-ipv6",        true,  true,  "tx-checksum-ip-generic" },
	{ "tx-scatter-gather",       true,  true,  NULL },
	{ "tx-tcp-segmentation",     true,  true,  NULL },
	{ "tx-tcp6-segmentation",    true,  true,  NULL },
	{ "tx-generic-segmentation", true,  false, NULL },
	{ "tx-udp-fragmentation",    true,  true,  NULL },
	{ "tx-udp-segmentation",     true,  true,  NULL },
	{ "rx-gro",                  false, false, NULL },
	{ "rx-gro-hw",               true,  false, NULL },
	{ "rx-lro",                  false, false, NULL },
	{ "rx-gro-list",             false, false, NULL },
};

static const struct known *known_find(const char *name)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(known); i++)
		if (!strcmp(known[i].name, name))
			return &known[i];
	return NULL;
}

const char *xlmig_offload_outcome_name(enum xlmig_offload_outcome o)
{
	switch (o) {
	case XLMIG_OFF_KEPT: return "kept in hardware";
	case XLMIG_OFF_SOFTWARE: return "fell back to software";
	case XLMIG_OFF_UNAVAILABLE: return "not available";
	case XLMIG_OFF_KEPT_OFF: return "off, as on the source";
	case XLMIG_OFF_STUCK_ON: return "on, fixed on this host";
	case XLMIG_OFF_FAILED: return "failed";
	}
	return "?";
}

/* ---- the kernel ---- */

struct ethtool_ctx {
	int fd;
	struct ifreq ifr;
};

static int eth_open(struct ethtool_ctx *c, const char *ifname)
{
	memset(c, 0, sizeof(*c));
	if (strlen(ifname) >= IFNAMSIZ || !*ifname)
		return xlmig_fail(XLMIG_E_INVAL, "'%s' is not an interface name", ifname);
	snprintf(c->ifr.ifr_name, sizeof(c->ifr.ifr_name), "%s", ifname);
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return xlmig_fail(XLMIG_E_IO, "socket for the ethtool interface: %s", strerror(errno));
	return XLMIG_OK;
}

static int eth_ioctl(struct ethtool_ctx *c, void *cmd)
{
	c->ifr.ifr_data = cmd;
	return ioctl(c->fd, SIOCETHTOOL, &c->ifr);
}

/* The device's feature names and, for the ones xlmig carries, their
 * bit index.  idx[i] = bit of known[i], -1 when absent. */
static int eth_feature_bits(struct ethtool_ctx *c, int idx[XLMIG_ARRAY_SIZE(known)], uint32_t *n_bits)
{
	/* The header and the one count it returns for one string set. */
	uint64_t space[(sizeof(struct ethtool_sset_info) + sizeof(uint32_t) + 7) / 8] = { 0 };
	struct ethtool_sset_info *info = (struct ethtool_sset_info *)space;
	struct ethtool_gstrings *gs = NULL;
	uint32_t n;
	int rc = XLMIG_OK;

	for (size_t k = 0; k < XLMIG_ARRAY_SIZE(known); k++)
		idx[k] = -1;
	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ull << ETH_SS_FEATURES;
	if (eth_ioctl(c, info) < 0 || !(info->sset_mask & (1ull << ETH_SS_FEATURES))) {
		rc = xlmig_fail(XLMIG_E_IO, "%s: the kernel does not list its features (ETHTOOL_GSSET_INFO: %s)",
				c->ifr.ifr_name, strerror(errno));
		goto out;
	}
	n = info->data[0];
	/* A kernel has a few hundred; more is not a device we understand. */
	if (n == 0 || n > 4096) {
		rc = xlmig_fail(XLMIG_E_LIMIT, "%s: the kernel reports %u features", c->ifr.ifr_name, n);
		goto out;
	}
	gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	if (!gs) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u feature names", n);
		goto out;
	}
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = n;
	if (eth_ioctl(c, gs) < 0) {
		rc = xlmig_fail(XLMIG_E_IO, "%s: ETHTOOL_GSTRINGS: %s", c->ifr.ifr_name, strerror(errno));
		goto out;
	}
	if (gs->len < n)
		n = gs->len;
	for (uint32_t i = 0; i < n; i++) {
		char name[ETH_GSTRING_LEN + 1];
		memcpy(name, gs->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		name[ETH_GSTRING_LEN] = 0;
		for (size_t k = 0; k < XLMIG_ARRAY_SIZE(known); k++)
			if (!strcmp(known[k].name, name))
				idx[k] = (int)i;
	}
	*n_bits = n;
out:
	free(gs);
	return rc;
}

/* ETHTOOL_GFEATURES for n_bits features; *out is malloc'd. */
static int eth_get_features(struct ethtool_ctx *c, uint32_t n_bits, struct ethtool_gfeatures **out)
{
	uint32_t blocks = (n_bits + 31) / 32;
	struct ethtool_gfeatures *g = calloc(1, sizeof(*g) + blocks * sizeof(g->features[0]));

	if (!g)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u feature blocks", blocks);
	g->cmd = ETHTOOL_GFEATURES;
	g->size = blocks;
	if (eth_ioctl(c, g) < 0) {
		free(g);
		return xlmig_fail(XLMIG_E_IO, "%s: ETHTOOL_GFEATURES: %s", c->ifr.ifr_name, strerror(errno));
	}
	*out = g;
	return XLMIG_OK;
}

enum word { AVAILABLE, REQUESTED, ACTIVE, NEVER_CHANGED };

static bool bit(const struct ethtool_gfeatures *g, int i, enum word which)
{
	const struct ethtool_get_features_block *b = &g->features[i / 32];
	uint32_t w = which == AVAILABLE ? b->available : which == REQUESTED ? b->requested
		   : which == ACTIVE ? b->active : b->never_changed;
	return w & (1u << (i % 32));
}

/* The carried features as the device reports them now.  awaiting_guest:
 * the guest's end of the device has not connected yet, and the driver
 * holds back what needs the guest's consent until it does (netback keeps
 * a vif's TSO, TSO6 and IPv6 checksums off until netfront offers them,
 * then grants what was requested): such a feature counts as on when it
 * is requested and the device can change it.  Only features the guest
 * had on the source are judged by this (xlmig_offload_judge), and the
 * same guest offers them again when it reconnects. */
static int read_caps(struct ethtool_ctx *c, struct xlmig_offload_caps *out, int idx[XLMIG_ARRAY_SIZE(known)],
		     uint32_t *n_bits, bool awaiting_guest)
{
	struct ethtool_gfeatures *g = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = eth_feature_bits(c, idx, n_bits)) || (rc = eth_get_features(c, *n_bits, &g)))
		goto out;
	for (size_t k = 0; k < XLMIG_ARRAY_SIZE(known) && out->n < XLMIG_OFFLOAD_FEATURES_MAX; k++) {
		struct xlmig_offload_feature *f;
		if (idx[k] < 0)
			continue;
		f = &out->f[out->n++];
		snprintf(f->name, sizeof(f->name), "%s", known[k].name);
		f->on = bit(g, idx[k], ACTIVE) ||
			(awaiting_guest && bit(g, idx[k], REQUESTED) && bit(g, idx[k], AVAILABLE));
		/* Fixed: not in what the device lets change, or never to be. */
		f->fixed = !bit(g, idx[k], AVAILABLE) ||
			   bit(g, idx[k], NEVER_CHANGED);
	}
out:
	free(g);
	return rc;
}

int xlmig_offload_caps_read(const char *ifname, struct xlmig_offload_caps *out)
{
	struct ethtool_ctx c;
	int idx[XLMIG_ARRAY_SIZE(known)];
	uint32_t n_bits;
	int rc;

	if ((rc = eth_open(&c, ifname)))
		return rc;
	rc = read_caps(&c, out, idx, &n_bits, false);
	close(c.fd);
	return rc;
}

int xlmig_offload_link_sync(const char *ifname, bool *carrier)
{
	struct ethtool_value v = { .cmd = ETHTOOL_GLINK };
	struct ethtool_ctx c;
	int rc;

	if ((rc = eth_open(&c, ifname)))
		return rc;
	if (eth_ioctl(&c, &v) != 0)
		rc = xlmig_fail(XLMIG_E_IO, "%s: ETHTOOL_GLINK: %s", ifname, strerror(errno));
	else
		*carrier = v.data != 0;
	close(c.fd);
	return rc;
}

void xlmig_offload_uplink(const char *ifname, char out[XLMIG_IFNAME_MAX])
{
	char path[96], target[PATH_MAX];
	ssize_t n;
	const char *slash;

	out[0] = 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", ifname);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = 0;
	slash = strrchr(target, '/');
	slash = slash ? slash + 1 : target;
	if (strlen(slash) < XLMIG_IFNAME_MAX)
		memcpy(out, slash, strlen(slash) + 1);
}

static int read_mtu(struct ethtool_ctx *c, unsigned *mtu)
{
	if (ioctl(c->fd, SIOCGIFMTU, &c->ifr) < 0)
		return xlmig_fail(XLMIG_E_IO, "%s: SIOCGIFMTU: %s", c->ifr.ifr_name, strerror(errno));
	*mtu = (unsigned)c->ifr.ifr_mtu;
	return XLMIG_OK;
}

/* Queue counts; a device without ETHTOOL_GCHANNELS reports none (0). */
static void read_channels(struct ethtool_ctx *c, struct ethtool_channels *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->cmd = ETHTOOL_GCHANNELS;
	if (eth_ioctl(c, ch) < 0)
		memset(ch, 0, sizeof(*ch));
}

int xlmig_offload_capture(const char *ifname, struct xlmig_offload_if *out)
{
	struct xlmig_offload_caps caps;
	struct ethtool_channels ch;
	struct ethtool_ctx c;
	int idx[XLMIG_ARRAY_SIZE(known)];
	uint32_t n_bits;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = eth_open(&c, ifname)))
		return rc;
	snprintf(out->name, sizeof(out->name), "%s", ifname);
	if ((rc = read_caps(&c, &caps, idx, &n_bits, false)) || (rc = read_mtu(&c, &out->mtu)))
		goto out;
	out->n_features = caps.n;
	memcpy(out->f, caps.f, sizeof(caps.f[0]) * caps.n);
	read_channels(&c, &ch);
	out->rx_queues = ch.rx_count;
	out->tx_queues = ch.tx_count;
	out->combined_queues = ch.combined_count;
	xlmig_offload_uplink(ifname, out->uplink);
out:
	close(c.fd);
	return rc ? xlmig_fail_prefix(rc, "capturing the offload state of %s", ifname) : XLMIG_OK;
}

size_t xlmig_offload_capture_nics(const struct xlmig_nic *nics, size_t n, struct xlmig_offload_state *st,
				  const char *what)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n && st->n < XLMIG_OFFLOAD_IFS_MAX; i++) {
		struct xlmig_offload_if *o = &st->ifs[st->n];
		if (xlmig_offload_capture(nics[i].ifname, o)) {
			xlmig_warn("%s: %s (its settings are not carried)", what, xlmig_errmsg());
			continue;
		}
		memcpy(o->mac, nics[i].mac, 6);
		for (size_t k = 0; k < nics[i].n_keys && k < XLMIG_OFFLOAD_XS_MAX; k++) {
			snprintf(o->xs[k].key, sizeof(o->xs[k].key), "%s", nics[i].keys[k].key);
			snprintf(o->xs[k].value, sizeof(o->xs[k].value), "%s", nics[i].keys[k].value);
			o->n_xs++;
		}
		st->n++;
	}
	return st->n;
}

/* ---- apply ---- */

const struct xlmig_offload_feature *xlmig_offload_caps_find(const struct xlmig_offload_caps *c,
							    const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->f[i].name, name))
			return &c->f[i];
	return NULL;
}

enum xlmig_offload_outcome xlmig_offload_judge(const struct xlmig_offload_feature *src,
					       const struct xlmig_offload_caps *dev,
					       const struct xlmig_offload_caps *uplink)
{
	const struct known *k = known_find(src->name);
	const struct xlmig_offload_feature *d = xlmig_offload_caps_find(dev, src->name), *u;
	enum xlmig_offload_outcome without = k && k->soft ? XLMIG_OFF_SOFTWARE : XLMIG_OFF_UNAVAILABLE;

	if (!src->on)
		return d && d->on ? XLMIG_OFF_STUCK_ON : XLMIG_OFF_KEPT_OFF;
	if (!d || !d->on)
		return without;
	/* Kept on the device, but an uplink that cannot do it makes the
	 * stack do it before the frame leaves the host. */
	if (uplink && k && k->tx) {
		u = xlmig_offload_caps_find(uplink, src->name);
		if ((!u || !u->on) && k->cover)
			u = xlmig_offload_caps_find(uplink, k->cover);
		if (!u || !u->on)
			return without;
	}
	return XLMIG_OFF_KEPT;
}

/* Ask for src's features on the device; what the kernel grants is read
 * back by the caller.  A partial grant is not an error. */
static int set_features(struct ethtool_ctx *c, const struct xlmig_offload_if *src,
			const int idx[XLMIG_ARRAY_SIZE(known)], uint32_t n_bits)
{
	uint32_t blocks = (n_bits + 31) / 32;
	struct ethtool_sfeatures *s = calloc(1, sizeof(*s) + blocks * sizeof(s->features[0]));
	int rc = XLMIG_OK;

	if (!s)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for %u feature blocks", blocks);
	s->cmd = ETHTOOL_SFEATURES;
	s->size = blocks;
	for (size_t i = 0; i < src->n_features; i++) {
		for (size_t k = 0; k < XLMIG_ARRAY_SIZE(known); k++) {
			int b = idx[k];
			if (b < 0 || strcmp(known[k].name, src->f[i].name))
				continue;
			s->features[b / 32].valid |= 1u << (b % 32);
			if (src->f[i].on)
				s->features[b / 32].requested |= 1u << (b % 32);
		}
	}
	/* >0 (ETHTOOL_F_*) means some requests were not honoured: the
	 * read-back says which. */
	if (eth_ioctl(c, s) < 0)
		rc = xlmig_fail(XLMIG_E_IO, "%s: ETHTOOL_SFEATURES: %s", c->ifr.ifr_name, strerror(errno));
	free(s);
	return rc;
}

static void apply_mtu(struct ethtool_ctx *c, const struct xlmig_offload_if *src, struct xlmig_offload_result *res)
{
	unsigned now = 0;

	res->mtu = XLMIG_OFF_KEPT;
	if (!src->mtu)
		return;
	c->ifr.ifr_mtu = (int)src->mtu;
	if (ioctl(c->fd, SIOCSIFMTU, &c->ifr) < 0)
		xlmig_warn("%s: cannot set MTU %u: %s", c->ifr.ifr_name, src->mtu, strerror(errno));
	if (read_mtu(c, &now))
		res->mtu = XLMIG_OFF_FAILED;
	else if (now != src->mtu)
		res->mtu = XLMIG_OFF_UNAVAILABLE;
	res->mtu_value = now;
}

static void apply_queues(struct ethtool_ctx *c, const struct xlmig_offload_if *src,
			 struct xlmig_offload_result *res)
{
	struct ethtool_channels ch;

	res->queues = XLMIG_OFF_KEPT;
	res->queues_value = src->combined_queues ? src->combined_queues : src->tx_queues;
	if (!src->rx_queues && !src->tx_queues && !src->combined_queues)
		return;
	read_channels(c, &ch);
	if (ch.rx_count == src->rx_queues && ch.tx_count == src->tx_queues &&
	    ch.combined_count == src->combined_queues)
		return;
	ch.cmd = ETHTOOL_SCHANNELS;
	ch.rx_count = src->rx_queues;
	ch.tx_count = src->tx_queues;
	ch.combined_count = src->combined_queues;
	if (eth_ioctl(c, &ch) < 0)
		xlmig_warn("%s: cannot set %u rx / %u tx / %u combined queues: %s", c->ifr.ifr_name,
			   src->rx_queues, src->tx_queues, src->combined_queues, strerror(errno));
	read_channels(c, &ch);
	if (ch.rx_count != src->rx_queues || ch.tx_count != src->tx_queues ||
	    ch.combined_count != src->combined_queues) {
		/* Fewer queues: the stack spreads the load in software (RPS/XPS). */
		res->queues = XLMIG_OFF_SOFTWARE;
		res->queues_value = ch.combined_count ? ch.combined_count : ch.tx_count;
	}
}

int xlmig_offload_apply(const struct xlmig_offload_if *src, const char *ifname, bool awaiting_guest,
			struct xlmig_offload_result *res)
{
	struct xlmig_offload_caps dev, up;
	char uplink[XLMIG_IFNAME_MAX];
	struct ethtool_ctx c;
	int idx[XLMIG_ARRAY_SIZE(known)];
	uint32_t n_bits;
	bool have_up;
	int rc;

	memset(res, 0, sizeof(*res));
	snprintf(res->name, sizeof(res->name), "%s", ifname);
	snprintf(res->source, sizeof(res->source), "%s", src->name);
	memcpy(res->mac, src->mac, 6);
	if ((rc = eth_open(&c, ifname)))
		return rc;
	if ((rc = eth_feature_bits(&c, idx, &n_bits)))
		goto out;
	if (set_features(&c, src, idx, n_bits))
		xlmig_warn("%s: %s", ifname, xlmig_errmsg());
	apply_mtu(&c, src, res);
	apply_queues(&c, src, res);
	if ((rc = read_caps(&c, &dev, idx, &n_bits, awaiting_guest)))
		goto out;
	xlmig_offload_uplink(ifname, uplink);
	have_up = uplink[0] && xlmig_offload_caps_read(uplink, &up) == XLMIG_OK;
	for (size_t i = 0; i < src->n_features && res->n < XLMIG_OFFLOAD_FEATURES_MAX; i++) {
		snprintf(res->f[res->n].name, sizeof(res->f[res->n].name), "%s", src->f[i].name);
		res->f[res->n++].outcome = xlmig_offload_judge(&src->f[i], &dev, have_up ? &up : NULL);
	}
out:
	close(c.fd);
	return rc ? xlmig_fail_prefix(rc, "applying the offload state of %s to %s", src->name, ifname) : XLMIG_OK;
}

bool xlmig_offload_result_degraded(const struct xlmig_offload_result *r)
{
	if (r->mtu != XLMIG_OFF_KEPT || r->queues != XLMIG_OFF_KEPT || r->n_xs_differ)
		return true;
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].outcome != XLMIG_OFF_KEPT && r->f[i].outcome != XLMIG_OFF_KEPT_OFF)
			return true;
	return false;
}

/* ---- serialised form ---- */

void xlmig_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int xlmig_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return xlmig_fail(XLMIG_E_FORMAT, "'%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return XLMIG_OK;
}

static void write_if(struct xlmig_json_writer *w, const struct xlmig_offload_if *i)
{
	char mac[18];

	xlmig_mac_format(i->mac, mac);
	xlmig_json_object_open(w);
	xlmig_json_kv_str(w, "name", i->name);
	xlmig_json_kv_str(w, "uplink", i->uplink);
	xlmig_json_kv_str(w, "mac", mac);
	xlmig_json_kv_uint(w, "mtu", i->mtu);
	xlmig_json_kv_uint(w, "rx_queues", i->rx_queues);
	xlmig_json_kv_uint(w, "tx_queues", i->tx_queues);
	xlmig_json_kv_uint(w, "combined_queues", i->combined_queues);
	xlmig_json_key(w, "features");
	xlmig_json_array_open(w);
	for (size_t k = 0; k < i->n_features; k++) {
		xlmig_json_object_open(w);
		xlmig_json_kv_str(w, "name", i->f[k].name);
		xlmig_json_kv_bool(w, "on", i->f[k].on);
		xlmig_json_kv_bool(w, "fixed", i->f[k].fixed);
		xlmig_json_object_close(w);
	}
	xlmig_json_array_close(w);
	xlmig_json_key(w, "xenstore");
	xlmig_json_object_open(w);
	for (size_t k = 0; k < i->n_xs; k++)
		xlmig_json_kv_str(w, i->xs[k].key, i->xs[k].value);
	xlmig_json_object_close(w);
	xlmig_json_object_close(w);
}

void xlmig_offload_state_write(const struct xlmig_offload_state *st, struct xlmig_json_writer *w)
{
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "version", 1);
	xlmig_json_key(w, "interfaces");
	xlmig_json_array_open(w);
	for (size_t i = 0; i < st->n; i++)
		write_if(w, &st->ifs[i]);
	xlmig_json_array_close(w);
	xlmig_json_object_close(w);
}

int xlmig_offload_encode(const struct xlmig_offload_state *st, struct xlmig_buf *out)
{
	struct xlmig_json_writer w;

	xlmig_json_writer_init(&w, out);
	xlmig_offload_state_write(st, &w);
	return xlmig_json_finish(&w) ? xlmig_fail(XLMIG_E_NOMEM, "cannot encode the offload state") : XLMIG_OK;
}

static const struct xlmig_json_limits record_limits = {
	.max_bytes = XLMIG_OFFLOAD_RECORD_MAX,
	.max_depth = 5,
	.max_nodes = 2048,
};

/* A string member into dst[size]: present, a string, shorter than size. */
static int get_text(const struct xlmig_json *o, const char *key, char *dst, size_t size)
{
	const char *s;

	if (xlmig_json_get_str(o, key, &s))
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: '%s' missing or not a string", key);
	if (strlen(s) >= size)
		return xlmig_fail(XLMIG_E_LIMIT, "offload record: '%s' longer than %zu bytes", key, size - 1);
	memcpy(dst, s, strlen(s) + 1);
	return XLMIG_OK;
}

static int get_count(const struct xlmig_json *o, const char *key, unsigned max, unsigned *out)
{
	uint64_t v;

	if (xlmig_json_get_u64(o, key, &v) || v > max)
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: '%s' missing or not a number up to %u", key, max);
	*out = (unsigned)v;
	return XLMIG_OK;
}

static int get_list(const struct xlmig_json *o, const char *key, enum xlmig_json_type type, size_t max,
		    const struct xlmig_json **out)
{
	const struct xlmig_json *a = xlmig_json_member(o, key);

	if (!a || a->type != type)
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: '%s' missing or of the wrong kind", key);
	if (a->count > max)
		return xlmig_fail(XLMIG_E_LIMIT, "offload record: '%s' has %zu entries, at most %zu", key,
				  a->count, max);
	*out = a;
	return XLMIG_OK;
}

static int read_feature(const struct xlmig_json *o, struct xlmig_offload_feature *f)
{
	int rc;

	if (o->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: a feature is not an object");
	if ((rc = get_text(o, "name", f->name, sizeof(f->name))))
		return rc;
	if (xlmig_json_get_bool(o, "on", &f->on) || xlmig_json_get_bool(o, "fixed", &f->fixed))
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: feature %s lacks on/fixed", f->name);
	return XLMIG_OK;
}

static int read_xs(const struct xlmig_json *o, struct xlmig_offload_if *i)
{
	const struct xlmig_json *xs, *kv;

	if (get_list(o, "xenstore", XLMIG_JSON_OBJECT, XLMIG_OFFLOAD_XS_MAX, &xs))
		return XLMIG_E_FORMAT;
	for (kv = xs->child; kv; kv = kv->next) {
		struct xlmig_offload_xs *x = &i->xs[i->n_xs];
		if (kv->type != XLMIG_JSON_STRING || strlen(kv->key) >= sizeof(x->key) ||
		    strlen(kv->text) >= sizeof(x->value) || strlen(kv->text) != kv->text_len)
			return xlmig_fail(XLMIG_E_FORMAT, "offload record: a xenstore key is not a short string");
		memcpy(x->key, kv->key, strlen(kv->key) + 1);
		memcpy(x->value, kv->text, kv->text_len + 1);
		i->n_xs++;
	}
	return XLMIG_OK;
}

static int read_if(const struct xlmig_json *o, struct xlmig_offload_if *i)
{
	const struct xlmig_json *fs, *f;
	char mac[18];
	int rc;

	if (o->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: an interface is not an object");
	if ((rc = get_text(o, "name", i->name, sizeof(i->name))) ||
	    (rc = get_text(o, "uplink", i->uplink, sizeof(i->uplink))) ||
	    (rc = get_text(o, "mac", mac, sizeof(mac))) || (rc = xlmig_mac_parse(mac, i->mac)) ||
	    (rc = get_count(o, "mtu", 1u << 20, &i->mtu)) ||
	    (rc = get_count(o, "rx_queues", 4096, &i->rx_queues)) ||
	    (rc = get_count(o, "tx_queues", 4096, &i->tx_queues)) ||
	    (rc = get_count(o, "combined_queues", 4096, &i->combined_queues)) ||
	    (rc = get_list(o, "features", XLMIG_JSON_ARRAY, XLMIG_OFFLOAD_FEATURES_MAX, &fs)) ||
	    (rc = read_xs(o, i)))
		return rc;
	for (f = fs->child; f; f = f->next)
		if ((rc = read_feature(f, &i->f[i->n_features++])))
			return rc;
	return XLMIG_OK;
}

int xlmig_offload_state_read(const struct xlmig_json *root, struct xlmig_offload_state *out)
{
	const struct xlmig_json *ifs, *o;
	unsigned version = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (root->type != XLMIG_JSON_OBJECT)
		return xlmig_fail(XLMIG_E_FORMAT, "offload record: not a JSON object");
	if ((rc = get_count(root, "version", UINT_MAX, &version)))
		return rc;
	if (version != 1)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "offload record version %u (this xlmig reads 1)", version);
	if ((rc = get_list(root, "interfaces", XLMIG_JSON_ARRAY, XLMIG_OFFLOAD_IFS_MAX, &ifs)))
		return rc;
	for (o = ifs->child; o; o = o->next)
		if ((rc = read_if(o, &out->ifs[out->n++])))
			return rc;
	return XLMIG_OK;
}

int xlmig_offload_decode(const uint8_t *data, size_t len, struct xlmig_offload_state *out)
{
	struct xlmig_json *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = xlmig_json_parse_limits((const char *)data, len, &record_limits, &root)))
		rc = xlmig_offload_state_read(root, out);
	xlmig_json_free(root);
	return rc ? xlmig_fail_prefix(rc, "reading the guest's offload state") : XLMIG_OK;
}

/* ---- forecast (--check) ---- */

void xlmig_offload_forecast_if(const struct xlmig_offload_if *src, const struct xlmig_offload_caps *bridge,
			       struct xlmig_offload_forecast *out)
{
	struct xlmig_offload_caps dev = { 0 };

	/* The guest's new interface does not exist yet: it is taken to be
	 * a device of the kind the source had, able to do what it did, so
	 * that only the bridge here decides. */
	for (size_t k = 0; k < src->n_features && dev.n < XLMIG_OFFLOAD_FEATURES_MAX; k++)
		dev.f[dev.n++] = src->f[k];
	for (size_t k = 0; k < src->n_features && out->n < XLMIG_OFFLOAD_FORECAST_MAX; k++) {
		enum xlmig_offload_outcome o = xlmig_offload_judge(&src->f[k], &dev, bridge);
		struct xlmig_offload_forecast_item *it = &out->it[out->n];
		if (o != XLMIG_OFF_SOFTWARE && o != XLMIG_OFF_UNAVAILABLE)
			continue;
		snprintf(it->interface, sizeof(it->interface), "%s", src->name);
		snprintf(it->bridge, sizeof(it->bridge), "%s", src->uplink);
		snprintf(it->feature, sizeof(it->feature), "%s", src->f[k].name);
		it->outcome = o;
		out->n++;
	}
}

void xlmig_offload_forecast_write(const struct xlmig_offload_forecast *f, struct xlmig_json_writer *w)
{
	xlmig_json_array_open(w);
	for (size_t i = 0; i < f->n; i++) {
		xlmig_json_object_open(w);
		xlmig_json_kv_str(w, "interface", f->it[i].interface);
		xlmig_json_kv_str(w, "bridge", f->it[i].bridge);
		xlmig_json_kv_str(w, "feature", f->it[i].feature);
		xlmig_json_kv_str(w, "outcome", xlmig_offload_outcome_name(f->it[i].outcome));
		xlmig_json_object_close(w);
	}
	xlmig_json_array_close(w);
}

static int outcome_parse(const char *s, enum xlmig_offload_outcome *o)
{
	for (int k = XLMIG_OFF_KEPT; k <= XLMIG_OFF_FAILED; k++) {
		if (!strcmp(s, xlmig_offload_outcome_name((enum xlmig_offload_outcome)k))) {
			*o = (enum xlmig_offload_outcome)k;
			return XLMIG_OK;
		}
	}
	return xlmig_fail(XLMIG_E_FORMAT, "offload forecast: '%.40s' is not an outcome", s);
}

int xlmig_offload_forecast_read(const struct xlmig_json *arr, struct xlmig_offload_forecast *out)
{
	const struct xlmig_json *o;
	const char *outcome;
	int rc = XLMIG_OK;

	memset(out, 0, sizeof(*out));
	if (arr->type != XLMIG_JSON_ARRAY)
		return xlmig_fail(XLMIG_E_FORMAT, "offload forecast: not an array");
	if (arr->count > XLMIG_OFFLOAD_FORECAST_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "offload forecast: %zu entries, at most %d", arr->count,
				  XLMIG_OFFLOAD_FORECAST_MAX);
	for (o = arr->child; o && !rc; o = o->next) {
		struct xlmig_offload_forecast_item *it = &out->it[out->n++];
		if (o->type != XLMIG_JSON_OBJECT)
			rc = xlmig_fail(XLMIG_E_FORMAT, "offload forecast: an entry is not an object");
		else if (!(rc = get_text(o, "interface", it->interface, sizeof(it->interface))) &&
			 !(rc = get_text(o, "bridge", it->bridge, sizeof(it->bridge))) &&
			 !(rc = get_text(o, "feature", it->feature, sizeof(it->feature))) &&
			 !(rc = xlmig_json_get_str(o, "outcome", &outcome) ?
				xlmig_fail(XLMIG_E_FORMAT, "offload forecast: an entry has no outcome") : XLMIG_OK))
			rc = outcome_parse(outcome, &it->outcome);
	}
	return rc ? xlmig_fail_prefix(rc, "reading the destination's offload forecast") : XLMIG_OK;
}

/* ---- report ---- */

void xlmig_offload_results_write(const struct xlmig_offload_result *r, size_t n, struct xlmig_json_writer *w)
{
	char mac[18];

	xlmig_json_array_open(w);
	for (size_t i = 0; i < n; i++) {
		xlmig_mac_format(r[i].mac, mac);
		xlmig_json_object_open(w);
		xlmig_json_kv_str(w, "interface", r[i].name);
		xlmig_json_kv_str(w, "source_interface", r[i].source);
		xlmig_json_kv_str(w, "mac", mac);
		xlmig_json_kv_str(w, "mtu", xlmig_offload_outcome_name(r[i].mtu));
		xlmig_json_kv_uint(w, "mtu_value", r[i].mtu_value);
		xlmig_json_kv_str(w, "queues", xlmig_offload_outcome_name(r[i].queues));
		xlmig_json_kv_uint(w, "queues_value", r[i].queues_value);
		xlmig_json_key(w, "features");
		xlmig_json_object_open(w);
		for (size_t k = 0; k < r[i].n; k++)
			xlmig_json_kv_str(w, r[i].f[k].name, xlmig_offload_outcome_name(r[i].f[k].outcome));
		xlmig_json_object_close(w);
		xlmig_json_key(w, "xenstore_differs");
		xlmig_json_array_open(w);
		for (size_t k = 0; k < r[i].n_xs_differ; k++)
			xlmig_json_string(w, r[i].xs_differ[k]);
		xlmig_json_array_close(w);
		xlmig_json_object_close(w);
	}
	xlmig_json_array_close(w);
}
