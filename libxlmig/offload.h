/*
 * offload.h - a guest interface's offload state: what the host side of a
 * guest's NIC (a Xen vif, a sim guest's veth) offloads, captured from the
 * kernel on the source, carried to the destination and applied there to
 * the guest's new interface.
 *
 * The kernel is asked through its own interfaces, never through the
 * ethtool command's output: ETHTOOL_GSSET_INFO and ETHTOOL_GSTRINGS name
 * the device's features, ETHTOOL_GFEATURES / ETHTOOL_SFEATURES read and
 * set them, ETHTOOL_GCHANNELS / ETHTOOL_SCHANNELS the queue counts,
 * SIOCGIFMTU / SIOCSIFMTU the MTU; the uplink is the bridge the interface
 * is a port of (its "master" in sysfs).
 *
 * Applying never fails a migration: each feature ends in one outcome.
 * A feature the destination cannot do in hardware (its device has it
 * fixed off, lacks it, or the uplink lacks it) is left to the kernel's
 * software path where there is one (checksums computed by the stack,
 * segmentation as GSO, ...), and said so; without one it is "not
 * available".
 *
 * Serialised form (a side record, side.h: XLMIG_SIDE_OFFLOAD_STATE): one
 * JSON object, read back through the bounded JSON parser (json.h limits),
 * every string and count checked against the fields below.
 */
#ifndef XLMIG_OFFLOAD_H
#define XLMIG_OFFLOAD_H

#include "common.h"
#include "hv.h"

#define XLMIG_OFFLOAD_NAME_MAX 40     /* a kernel feature name */
#define XLMIG_OFFLOAD_FEATURES_MAX 16
#define XLMIG_OFFLOAD_IFS_MAX 8       /* interfaces of one guest */
#define XLMIG_OFFLOAD_XS_MAX 16       /* xenstore feature keys per interface */
#define XLMIG_OFFLOAD_XS_LEN 64
#define XLMIG_IFNAME_MAX 16           /* IFNAMSIZ */
#define XLMIG_OFFLOAD_RECORD_MAX (32u << 10)

/* What became of one setting on the destination. */
enum xlmig_offload_outcome {
	XLMIG_OFF_KEPT = 0,       /* kept in hardware */
	XLMIG_OFF_SOFTWARE,       /* fell back to software */
	XLMIG_OFF_UNAVAILABLE,    /* not available, no software path */
	XLMIG_OFF_KEPT_OFF,       /* off, as on the source */
	XLMIG_OFF_STUCK_ON,       /* off on the source, fixed on here */
	XLMIG_OFF_FAILED,         /* the kernel refused: see the log */
};
const char *xlmig_offload_outcome_name(enum xlmig_offload_outcome o);

struct xlmig_offload_feature {
	char name[XLMIG_OFFLOAD_NAME_MAX];  /* the kernel's: "tx-tcp-segmentation" */
	bool on;          /* active */
	bool fixed;       /* the device cannot change it */
};

/* A xenstore key of the interface (Xen: feature-sg, multi-queue-*, ...). */
struct xlmig_offload_xs {
	char key[XLMIG_OFFLOAD_XS_LEN];   /* "backend/feature-sg", "frontend/..." */
	char value[XLMIG_OFFLOAD_XS_LEN];
};

/* One interface as captured. */
struct xlmig_offload_if {
	char name[XLMIG_IFNAME_MAX];      /* the host's end */
	char uplink[XLMIG_IFNAME_MAX];    /* its bridge, "" if none */
	uint8_t mac[6];                   /* the guest's MAC: matches the
					   * interface on the destination */
	unsigned mtu;
	unsigned rx_queues, tx_queues, combined_queues;  /* 0: not reported */
	size_t n_features;
	struct xlmig_offload_feature f[XLMIG_OFFLOAD_FEATURES_MAX];
	size_t n_xs;
	struct xlmig_offload_xs xs[XLMIG_OFFLOAD_XS_MAX];
};

/* A guest's interfaces. */
struct xlmig_offload_state {
	size_t n;
	struct xlmig_offload_if ifs[XLMIG_OFFLOAD_IFS_MAX];
};

/* The outcome of applying one interface. */
struct xlmig_offload_result {
	char name[XLMIG_IFNAME_MAX];      /* the destination's interface */
	char source[XLMIG_IFNAME_MAX];    /* the source's */
	uint8_t mac[6];
	enum xlmig_offload_outcome mtu, queues;
	unsigned mtu_value, queues_value;
	size_t n;
	struct {
		char name[XLMIG_OFFLOAD_NAME_MAX];
		enum xlmig_offload_outcome outcome;
	} f[XLMIG_OFFLOAD_FEATURES_MAX];
	size_t n_xs_differ;               /* xenstore keys not as on the source */
	char xs_differ[XLMIG_OFFLOAD_XS_MAX][XLMIG_OFFLOAD_XS_LEN];
};

/* What the kernel says about an interface's features, for the planner:
 * names present on the device, which are active and which fixed. */
struct xlmig_offload_caps {
	size_t n;
	struct xlmig_offload_feature f[XLMIG_OFFLOAD_FEATURES_MAX];
};

/* Capture interface IFNAME (features, MTU, queues, uplink).  The MAC and
 * xenstore keys are the backend's to fill in. */
int xlmig_offload_capture(const char *ifname, struct xlmig_offload_if *out);
/* The features the kernel reports for IFNAME, of those xlmig carries. */
int xlmig_offload_caps_read(const char *ifname, struct xlmig_offload_caps *out);

/* Apply src's settings to IFNAME and say what became of each; only an
 * interface that cannot be read at all is an error.  awaiting_guest: the
 * guest has not connected its end of IFNAME yet (a restored Xen guest's
 * vif before netfront reconnects), so what the driver holds back until
 * then is judged by what was requested (see struct xlmig_nic). */
int xlmig_offload_apply(const struct xlmig_offload_if *src, const char *ifname, bool awaiting_guest,
			struct xlmig_offload_result *res);

/* The outcome of one feature from what the source had and what the
 * destination's device and uplink report after the attempt (uplink NULL:
 * no uplink).  The planner behind apply, and --check's forecast. */
enum xlmig_offload_outcome xlmig_offload_judge(const struct xlmig_offload_feature *src,
					       const struct xlmig_offload_caps *dev,
					       const struct xlmig_offload_caps *uplink);
/* The feature of that name in caps, or NULL. */
const struct xlmig_offload_feature *xlmig_offload_caps_find(const struct xlmig_offload_caps *c,
							    const char *name);

/* Capture each of a guest's interfaces (the backend's nics op), its MAC
 * and xenstore keys with it; one that cannot be read is left out and
 * warned of, prefixed by what.  The number captured. */
size_t xlmig_offload_capture_nics(const struct xlmig_nic *nics, size_t n, struct xlmig_offload_state *st,
				  const char *what);

/* The serialised form. */
int xlmig_offload_encode(const struct xlmig_offload_state *st, struct xlmig_buf *out);
int xlmig_offload_decode(const uint8_t *data, size_t len, struct xlmig_offload_state *out);
/* The same object inside another JSON message (PREFLIGHT), with the
 * same checks. */
struct xlmig_json;
struct xlmig_json_writer;
void xlmig_offload_state_write(const struct xlmig_offload_state *st, struct xlmig_json_writer *w);
int xlmig_offload_state_read(const struct xlmig_json *obj, struct xlmig_offload_state *out);

/* The forecast `xlmig migrate --check` warns with: per interface and
 * feature, what would not stay in hardware on the destination.  The
 * destination judges each interface the source captured against the
 * bridge of that name here (the guest's new interface does not exist
 * yet: it is taken to do what the source's did), and answers the
 * features that would fall back to software or not be available. */
#define XLMIG_OFFLOAD_FORECAST_MAX (XLMIG_OFFLOAD_IFS_MAX * XLMIG_OFFLOAD_FEATURES_MAX)
struct xlmig_offload_forecast_item {
	char interface[XLMIG_IFNAME_MAX];     /* the source's */
	char bridge[XLMIG_IFNAME_MAX];        /* its bridge, here */
	char feature[XLMIG_OFFLOAD_NAME_MAX];
	enum xlmig_offload_outcome outcome;   /* SOFTWARE or UNAVAILABLE */
};
struct xlmig_offload_forecast {
	size_t n;
	struct xlmig_offload_forecast_item it[XLMIG_OFFLOAD_FORECAST_MAX];
};
/* Append src's degraded features against bridge (its caps here). */
void xlmig_offload_forecast_if(const struct xlmig_offload_if *src, const struct xlmig_offload_caps *bridge,
			       struct xlmig_offload_forecast *out);
/* As a JSON array of {interface, bridge, feature, outcome}, and back
 * (every entry checked: strings that fit, a known outcome, at most
 * XLMIG_OFFLOAD_FORECAST_MAX). */
void xlmig_offload_forecast_write(const struct xlmig_offload_forecast *f, struct xlmig_json_writer *w);
int xlmig_offload_forecast_read(const struct xlmig_json *arr, struct xlmig_offload_forecast *out);

/* Results as a JSON array of objects, for the job's stats. */
void xlmig_offload_results_write(const struct xlmig_offload_result *r, size_t n,
				 struct xlmig_json_writer *w);
/* True if any setting of r fell back or is not available. */
bool xlmig_offload_result_degraded(const struct xlmig_offload_result *r);

/* "aa:bb:cc:dd:ee:ff" <-> bytes. */
void xlmig_mac_format(const uint8_t mac[6], char out[18]);
int xlmig_mac_parse(const char *s, uint8_t mac[6]);

/* Whether IFNAME has a carrier, asked as `ethtool IFNAME` does.  The
 * asking matters: since Linux 6.7 the kernel then applies the device's
 * pending link change at once.  A new port (a vif whose frontend just
 * connected, a sim guest's veth) otherwise waits for the kernel's link
 * watch, which handles such devices at most once a second, and its
 * bridge does not forward to it until then.  Older kernels just answer. */
int xlmig_offload_link_sync(const char *ifname, bool *carrier);

/* The bridge IFNAME is a port of, from sysfs; "" when none. */
void xlmig_offload_uplink(const char *ifname, char out[XLMIG_IFNAME_MAX]);

#endif
