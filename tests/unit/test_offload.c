/*
 * test_offload.c - offload state: the outcome of each feature, the
 * serialised form and its bounds, and capture/apply against the kernel
 * on a loopback interface in a network namespace of the test's own.
 */
#include "json.h"
#include "offload.h"
#include "unit.h"

#include <sched.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static struct xlmig_offload_feature feat(const char *name, bool on, bool fixed)
{
	struct xlmig_offload_feature f = { .on = on, .fixed = fixed };

	snprintf(f.name, sizeof(f.name), "%s", name);
	return f;
}

TEST(offload_judge_outcomes)
{
	struct xlmig_offload_caps dev = { .n = 4 }, up = { .n = 1 };
	struct xlmig_offload_feature tso = feat("tx-tcp-segmentation", true, false);
	struct xlmig_offload_feature lro = feat("rx-lro", true, false);
	struct xlmig_offload_feature csum = feat("tx-checksum-ip-generic", true, false);
	struct xlmig_offload_feature gro_off = feat("rx-gro", false, false);
	struct xlmig_offload_feature uso = feat("tx-udp-segmentation", true, false);

	dev.f[0] = feat("tx-tcp-segmentation", true, false);
	dev.f[1] = feat("rx-lro", false, true);              /* fixed off */
	dev.f[2] = feat("tx-checksum-ip-generic", false, true);
	dev.f[3] = feat("rx-gro", true, true);               /* fixed on */
	up.f[0] = feat("tx-tcp-segmentation", true, false);

	CHECK_EQ(xlmig_offload_judge(&tso, &dev, NULL), XLMIG_OFF_KEPT);
	CHECK_EQ(xlmig_offload_judge(&tso, &dev, &up), XLMIG_OFF_KEPT);
	/* The uplink cannot segment: the stack does it (GSO). */
	up.f[0].on = false;
	CHECK_EQ(xlmig_offload_judge(&tso, &dev, &up), XLMIG_OFF_SOFTWARE);
	/* LRO has no software path. */
	CHECK_EQ(xlmig_offload_judge(&lro, &dev, NULL), XLMIG_OFF_UNAVAILABLE);
	/* A checksum the device cannot compute, the stack computes. */
	CHECK_EQ(xlmig_offload_judge(&csum, &dev, NULL), XLMIG_OFF_SOFTWARE);
	CHECK_EQ(xlmig_offload_judge(&gro_off, &dev, NULL), XLMIG_OFF_STUCK_ON);
	/* Absent on this device. */
	CHECK_EQ(xlmig_offload_judge(&uso, &dev, NULL), XLMIG_OFF_SOFTWARE);
	dev.f[3].on = false;
	CHECK_EQ(xlmig_offload_judge(&gro_off, &dev, NULL), XLMIG_OFF_KEPT_OFF);
	CHECK_STR(xlmig_offload_outcome_name(XLMIG_OFF_SOFTWARE), "fell back to software");
}

/* A Xen vif offloads IPv4 and IPv6 checksums; the bridge it is a port of
 * shows checksumming for every protocol as the generic feature alone. */
TEST(offload_judge_bridge_checksum)
{
	struct xlmig_offload_caps dev = { .n = 2 }, up = { .n = 3 };
	struct xlmig_offload_feature v4 = feat("tx-checksum-ipv4", true, false);
	struct xlmig_offload_feature v6 = feat("tx-checksum-ipv6", true, false);
	struct xlmig_offload_feature sg = feat("tx-scatter-gather", true, false);

	dev.f[0] = feat("tx-checksum-ipv4", true, false);
	dev.f[1] = feat("tx-checksum-ipv6", true, false);
	up.f[0] = feat("tx-checksum-ipv4", false, true);
	up.f[1] = feat("tx-checksum-ipv6", false, true);
	up.f[2] = feat("tx-checksum-ip-generic", true, false);
	CHECK_EQ(xlmig_offload_judge(&v4, &dev, &up), XLMIG_OFF_KEPT);
	CHECK_EQ(xlmig_offload_judge(&v6, &dev, &up), XLMIG_OFF_KEPT);
	/* An uplink that checksums nothing leaves it to the stack. */
	up.f[2].on = false;
	CHECK_EQ(xlmig_offload_judge(&v4, &dev, &up), XLMIG_OFF_SOFTWARE);
	/* The generic feature covers checksums only. */
	up.f[2].on = true;
	CHECK_EQ(xlmig_offload_judge(&sg, &dev, &up), XLMIG_OFF_SOFTWARE);
}

static void sample(struct xlmig_offload_state *st)
{
	struct xlmig_offload_if *i = &st->ifs[0];

	memset(st, 0, sizeof(*st));
	st->n = 1;
	snprintf(i->name, sizeof(i->name), "vif3.0");
	snprintf(i->uplink, sizeof(i->uplink), "xenbr0");
	memcpy(i->mac, "\x00\x16\x3e\x01\x02\x03", 6);
	i->mtu = 9000;
	i->combined_queues = 4;
	i->n_features = 2;
	i->f[0] = feat("tx-tcp-segmentation", false, false);
	i->f[1] = feat("rx-gro", true, false);
	i->n_xs = 1;
	snprintf(i->xs[0].key, sizeof(i->xs[0].key), "frontend/feature-sg");
	snprintf(i->xs[0].value, sizeof(i->xs[0].value), "1");
}

TEST(offload_record_roundtrip)
{
	struct xlmig_offload_state st, back;
	struct xlmig_buf b = { 0 };

	sample(&st);
	CHECK_OK(xlmig_offload_encode(&st, &b));
	CHECK_OK(xlmig_offload_decode(b.data, b.len, &back));
	CHECK_EQ(back.n, 1);
	CHECK_STR(back.ifs[0].name, "vif3.0");
	CHECK_STR(back.ifs[0].uplink, "xenbr0");
	CHECK(!memcmp(back.ifs[0].mac, st.ifs[0].mac, 6));
	CHECK_EQ(back.ifs[0].mtu, 9000);
	CHECK_EQ(back.ifs[0].combined_queues, 4);
	CHECK_EQ(back.ifs[0].n_features, 2);
	CHECK_STR(back.ifs[0].f[0].name, "tx-tcp-segmentation");
	CHECK(!back.ifs[0].f[0].on && back.ifs[0].f[1].on);
	CHECK_EQ(back.ifs[0].n_xs, 1);
	CHECK_STR(back.ifs[0].xs[0].key, "frontend/feature-sg");
	CHECK_STR(back.ifs[0].xs[0].value, "1");
	xlmig_buf_free(&b);
}

static int decode_text(const char *text)
{
	struct xlmig_offload_state st;

	return xlmig_offload_decode((const uint8_t *)text, strlen(text), &st);
}

TEST(offload_record_refuses_bad_input)
{
	const char *ok_if = "{\"name\":\"v\",\"uplink\":\"\",\"mac\":\"00:16:3e:00:00:01\",\"mtu\":1500,"
			    "\"rx_queues\":0,\"tx_queues\":0,\"combined_queues\":0,\"features\":[],\"xenstore\":{}}";
	char text[4096];
	struct xlmig_buf b = { 0 };

	snprintf(text, sizeof(text), "{\"version\":1,\"interfaces\":[%s]}", ok_if);
	CHECK_OK(decode_text(text));
	snprintf(text, sizeof(text), "{\"version\":2,\"interfaces\":[%s]}", ok_if);
	CHECK_EQ(decode_text(text), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(decode_text("{\"version\":1,\"interfaces\":[{\"name\":\"v\"}]}"), XLMIG_E_FORMAT);
	CHECK_EQ(decode_text("{\"version\":1,\"interfaces\":["), XLMIG_E_FORMAT);
	CHECK_EQ(decode_text("[1]"), XLMIG_E_FORMAT);
	/* An interface name longer than the kernel's IFNAMSIZ. */
	CHECK_EQ(decode_text("{\"version\":1,\"interfaces\":[{\"name\":\"abcdefghijklmnopq\",\"uplink\":\"\","
			     "\"mac\":\"00:16:3e:00:00:01\",\"mtu\":1,\"rx_queues\":0,\"tx_queues\":0,"
			     "\"combined_queues\":0,\"features\":[],\"xenstore\":{}}]}"), XLMIG_E_LIMIT);
	/* A malformed MAC. */
	CHECK_EQ(decode_text("{\"version\":1,\"interfaces\":[{\"name\":\"v\",\"uplink\":\"\","
			     "\"mac\":\"00:16:3e:00:00:0g\",\"mtu\":1,\"rx_queues\":0,\"tx_queues\":0,"
			     "\"combined_queues\":0,\"features\":[],\"xenstore\":{}}]}"), XLMIG_E_FORMAT);
	/* More interfaces than a record may carry. */
	xlmig_buf_append(&b, "{\"version\":1,\"interfaces\":[", 27);
	for (int i = 0; i <= XLMIG_OFFLOAD_IFS_MAX; i++) {
		if (i)
			xlmig_buf_append(&b, ",", 1);
		xlmig_buf_append(&b, ok_if, strlen(ok_if));
	}
	xlmig_buf_append(&b, "]}", 2);
	{
		struct xlmig_offload_state st;
		CHECK_EQ(xlmig_offload_decode(b.data, b.len, &st), XLMIG_E_LIMIT);
	}
	xlmig_buf_free(&b);
}

/* A network namespace of this test's own (the runner forks each test). */
static bool own_netns(void)
{
	return unshare(CLONE_NEWNET) == 0 && system("ip link set lo up 2>/dev/null") == 0;
}

TEST(offload_capture_and_apply_kernel)
{
	struct xlmig_offload_if src, now;
	struct xlmig_offload_result res;
	const struct xlmig_offload_feature *f;
	struct xlmig_offload_caps caps;

	if (!own_netns())
		SKIP("cannot make a network namespace here (needs CAP_SYS_ADMIN and ip)");
	CHECK_OK(xlmig_offload_capture("lo", &src));
	CHECK_STR(src.name, "lo");
	CHECK(src.mtu > 0);
	CHECK(src.n_features > 0);
	CHECK_OK(xlmig_offload_caps_read("lo", &caps));
	f = xlmig_offload_caps_find(&caps, "tx-tcp-segmentation");
	if (!f || f->fixed)
		SKIP("this kernel's loopback cannot change TSO");
	/* The source had TSO off and an MTU of 1500: apply it here. */
	for (size_t i = 0; i < src.n_features; i++) {
		if (!strcmp(src.f[i].name, "tx-tcp-segmentation"))
			src.f[i].on = false;
		/* Loopback's receive checksum is fixed on. */
		if (!strcmp(src.f[i].name, "rx-checksum"))
			src.f[i].on = false;
	}
	src.mtu = 1500;
	memcpy(src.mac, "\x00\x16\x3e\x00\x00\x07", 6);
	CHECK_OK(xlmig_offload_apply(&src, "lo", false, &res));
	CHECK_STR(res.name, "lo");
	CHECK_EQ(res.mtu, XLMIG_OFF_KEPT);
	CHECK_EQ(res.mtu_value, 1500);
	for (size_t i = 0; i < res.n; i++) {
		if (!strcmp(res.f[i].name, "tx-tcp-segmentation"))
			CHECK_EQ(res.f[i].outcome, XLMIG_OFF_KEPT_OFF);
		if (!strcmp(res.f[i].name, "rx-checksum"))
			CHECK_EQ(res.f[i].outcome, XLMIG_OFF_STUCK_ON);
	}
	CHECK(xlmig_offload_result_degraded(&res));
	/* The kernel shows what the report says. */
	CHECK_OK(xlmig_offload_capture("lo", &now));
	CHECK_EQ(now.mtu, 1500);
	for (size_t i = 0; i < now.n_features; i++)
		if (!strcmp(now.f[i].name, "tx-tcp-segmentation"))
			CHECK(!now.f[i].on);
	CHECK_EQ(xlmig_offload_capture("no-such-if0", &now), XLMIG_E_IO);
}

/* A device that holds a requested feature back until its guest
 * connects (a restored Xen vif) is judged by what was requested; one
 * whose guest is there, by what is active.  Here the kernel holds TSO
 * back on a veth because scatter-gather is off. */
TEST(offload_apply_awaiting_guest)
{
	struct xlmig_offload_if src;
	struct xlmig_offload_result res;
	const struct xlmig_offload_feature *f;
	struct xlmig_offload_caps caps;
	enum xlmig_offload_outcome tso[2] = { XLMIG_OFF_FAILED, XLMIG_OFF_FAILED };

	if (!own_netns() || system("ip link add vt0 type veth peer name vt1 2>/dev/null") != 0)
		SKIP("cannot make a veth in a network namespace here (needs CAP_SYS_ADMIN and ip)");
	CHECK_OK(xlmig_offload_caps_read("vt0", &caps));
	f = xlmig_offload_caps_find(&caps, "tx-tcp-segmentation");
	if (!f || f->fixed || !xlmig_offload_caps_find(&caps, "tx-scatter-gather"))
		SKIP("this kernel's veth cannot change TSO and scatter-gather");
	CHECK_OK(xlmig_offload_capture("vt0", &src));
	for (size_t i = 0; i < src.n_features; i++) {
		if (!strcmp(src.f[i].name, "tx-tcp-segmentation"))
			src.f[i].on = true;
		if (!strcmp(src.f[i].name, "tx-scatter-gather"))
			src.f[i].on = false;
	}
	for (int awaiting = 0; awaiting < 2; awaiting++) {
		CHECK_OK(xlmig_offload_apply(&src, "vt0", awaiting, &res));
		for (size_t i = 0; i < res.n; i++)
			if (!strcmp(res.f[i].name, "tx-tcp-segmentation"))
				tso[awaiting] = res.f[i].outcome;
	}
	/* The kernel shows TSO off either way: requested, not granted. */
	CHECK_OK(xlmig_offload_caps_read("vt0", &caps));
	CHECK(!xlmig_offload_caps_find(&caps, "tx-tcp-segmentation")->on);
	CHECK_EQ(tso[0], XLMIG_OFF_SOFTWARE);
	CHECK_EQ(tso[1], XLMIG_OFF_KEPT);
}

/* Linux 6.7 and later apply a pending carrier when asked for it. */
static bool kernel_syncs_carrier_on_query(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	return uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
	       (major > 6 || (major == 6 && minor >= 7));
}

/* A new port whose carrier the kernel has not applied yet: asking for
 * the link applies it at once.  The veth's two ends share an ifindex
 * (each in its own namespace), which makes the kernel's link watch
 * treat it as a plain device, handled at most once a second, as a Xen
 * vif is; the down and up make that second's wait likely. */
TEST(offload_link_sync_applies_the_carrier)
{
	char ns[32], cmd[400], line[512], state[16] = "";
	bool carrier = false;
	int rc;
	FILE *fp;

	if (!kernel_syncs_carrier_on_query())
		SKIP("this kernel (before 6.7) does not apply a pending carrier when asked for it");
	snprintf(ns, sizeof(ns), "xlmig-ut-lw-%ld", (long)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link add lw0 index 77 type veth peer name lw1 index 77 netns %s && "
		 "ip -n %s link set lw1 up && ip link set lw0 up && ip link set lw0 down",
		 ns, ns, ns);
	if (!own_netns() || system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
		(void)!system(cmd);
		SKIP("cannot make a veth across two network namespaces here (needs CAP_SYS_ADMIN and ip)");
	}
	rc = system("ip link set lw0 up");
	/* The state as a dump of every link says it (asking for lw0 alone
	 * would apply the carrier itself). */
	if (rc == 0 && (rc = xlmig_offload_link_sync("lw0", &carrier)) == XLMIG_OK &&
	    (fp = popen("ip -o link show", "r"))) {
		while (fgets(line, sizeof(line), fp))
			if (!strncmp(line + strcspn(line, " ") + 1, "lw0@", 4) && strstr(line, " state UP "))
				snprintf(state, sizeof(state), "up");
		pclose(fp);
	}
	snprintf(cmd, sizeof(cmd), "ip netns del %s", ns);
	(void)!system(cmd);
	CHECK_EQ(rc, XLMIG_OK);
	CHECK(carrier);
	CHECK_STR(state, "up");
	CHECK_EQ(xlmig_offload_link_sync("no-such-if0", &carrier), XLMIG_E_IO);
}

TEST(offload_results_json)
{
	struct xlmig_offload_result r = { .n = 1, .mtu = XLMIG_OFF_KEPT, .queues = XLMIG_OFF_KEPT };
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };
	struct xlmig_json *j = NULL;
	const char *s;

	snprintf(r.name, sizeof(r.name), "vs5.0");
	snprintf(r.f[0].name, sizeof(r.f[0].name), "tx-tcp-segmentation");
	r.f[0].outcome = XLMIG_OFF_SOFTWARE;
	xlmig_json_writer_init(&w, &b);
	xlmig_offload_results_write(&r, 1, &w);
	CHECK_OK(xlmig_json_finish(&w));
	CHECK_OK(xlmig_json_parse((const char *)b.data, b.len, &j));
	CHECK_OK(xlmig_json_get_str(xlmig_json_index(j, 0), "features.tx-tcp-segmentation", &s));
	CHECK_STR(s, "fell back to software");
	xlmig_json_free(j);
	xlmig_buf_free(&b);
}

TEST(offload_forecast_judges_the_bridge)
{
	static struct xlmig_offload_forecast fc;
	struct xlmig_offload_if src = { .n_features = 4 };
	struct xlmig_offload_caps br = { .n = 2 };

	snprintf(src.name, sizeof(src.name), "vif3.0");
	snprintf(src.uplink, sizeof(src.uplink), "xenbr0");
	src.f[0] = feat("tx-tcp-segmentation", true, false);
	src.f[1] = feat("tx-scatter-gather", true, false);
	src.f[2] = feat("rx-gro", true, false);
	src.f[3] = feat("tx-udp-segmentation", false, false);
	/* The bridge here segments nothing; it gathers. */
	br.f[0] = feat("tx-tcp-segmentation", false, true);
	br.f[1] = feat("tx-scatter-gather", true, false);
	xlmig_offload_forecast_if(&src, &br, &fc);
	/* TSO would be done by GSO; SG kept; GRO is a receive feature the
	 * bridge does not decide; UDP segmentation was off anyway. */
	CHECK_EQ(fc.n, 1);
	CHECK_STR(fc.it[0].interface, "vif3.0");
	CHECK_STR(fc.it[0].bridge, "xenbr0");
	CHECK_STR(fc.it[0].feature, "tx-tcp-segmentation");
	CHECK_EQ(fc.it[0].outcome, XLMIG_OFF_SOFTWARE);
	/* A bridge that does everything: nothing to warn of. */
	br.f[0].on = true;
	fc.n = 0;
	xlmig_offload_forecast_if(&src, &br, &fc);
	CHECK_EQ(fc.n, 0);
}

/* A forecast as JSON text, read back. */
static int forecast_from(const char *text, struct xlmig_offload_forecast *fc)
{
	struct xlmig_json *j = NULL;
	int rc = xlmig_json_parse(text, strlen(text), &j);

	if (!rc)
		rc = xlmig_offload_forecast_read(j, fc);
	xlmig_json_free(j);
	return rc;
}

TEST(offload_forecast_roundtrip_and_bounds)
{
	static struct xlmig_offload_forecast fc, back;
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 }, big = { 0 };

	fc.n = 2;
	snprintf(fc.it[0].interface, sizeof(fc.it[0].interface), "vs1.0");
	snprintf(fc.it[0].bridge, sizeof(fc.it[0].bridge), "br0");
	snprintf(fc.it[0].feature, sizeof(fc.it[0].feature), "tx-tcp-segmentation");
	fc.it[0].outcome = XLMIG_OFF_SOFTWARE;
	fc.it[1] = fc.it[0];
	fc.it[1].outcome = XLMIG_OFF_UNAVAILABLE;
	xlmig_json_writer_init(&w, &b);
	xlmig_offload_forecast_write(&fc, &w);
	CHECK_OK(xlmig_json_finish(&w));
	CHECK_OK(xlmig_buf_append(&b, "", 1));
	CHECK_OK(forecast_from((const char *)b.data, &back));
	CHECK_EQ(back.n, 2);
	CHECK_STR(back.it[0].feature, "tx-tcp-segmentation");
	CHECK_EQ(back.it[0].outcome, XLMIG_OFF_SOFTWARE);
	CHECK_EQ(back.it[1].outcome, XLMIG_OFF_UNAVAILABLE);
	CHECK_OK(forecast_from("[]", &back));
	CHECK_EQ(back.n, 0);
	/* Refused: not an array, an unknown outcome, a name too long for an
	 * interface, a missing member, more entries than can be. */
	CHECK_EQ(forecast_from("{}", &back), XLMIG_E_FORMAT);
	CHECK_EQ(forecast_from("[{\"interface\":\"a\",\"bridge\":\"b\",\"feature\":\"f\",\"outcome\":\"teleported\"}]", &back),
		 XLMIG_E_FORMAT);
	CHECK_EQ(forecast_from("[{\"interface\":\"a-name-of-twenty-chars\",\"bridge\":\"b\",\"feature\":\"f\","
			       "\"outcome\":\"not available\"}]", &back), XLMIG_E_LIMIT);
	CHECK_EQ(forecast_from("[{\"interface\":\"a\",\"feature\":\"f\",\"outcome\":\"not available\"}]", &back),
		 XLMIG_E_FORMAT);
	CHECK_OK(xlmig_buf_append(&big, "[", 1));
	for (int i = 0; i <= XLMIG_OFFLOAD_FORECAST_MAX; i++) {
		const char *e = "{\"interface\":\"a\",\"bridge\":\"b\",\"feature\":\"f\",\"outcome\":\"not available\"},";
		CHECK_OK(xlmig_buf_append(&big, e, strlen(e)));
	}
	big.data[big.len - 1] = ']';
	CHECK_OK(xlmig_buf_append(&big, "", 1));
	CHECK_EQ(forecast_from((const char *)big.data, &back), XLMIG_E_LIMIT);
	xlmig_buf_free(&b);
	xlmig_buf_free(&big);
}
