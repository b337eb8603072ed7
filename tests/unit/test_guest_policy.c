/*
 * test_guest_policy.c - what a source may ask this host to create: paths,
 * bridges, scripts, device-model overrides, bootloaders, passthrough; the
 * PREFLIGHT facts and the libxl config against the same rules; guest
 * names from peers.
 */
#include <string.h>

#include "guest_policy.h"
#include "unit.h"

TEST(guest_policy_canonical_paths)
{
	CHECK(xlmig_path_canonical("/var/lib/xen/images/a.img"));
	CHECK(xlmig_path_canonical("/dev/vg0/guest-disk"));
	CHECK(!xlmig_path_canonical("var/lib/xen/images/a.img"));
	CHECK(!xlmig_path_canonical("/var/lib/xen/images/../../../etc/shadow"));
	CHECK(!xlmig_path_canonical("/var/lib/xen/images/./a.img"));
	CHECK(!xlmig_path_canonical("/var/lib/xen//images/a.img"));
	CHECK(!xlmig_path_canonical("/var/lib/xen/images/"));
	CHECK(!xlmig_path_canonical("/var/lib/xen/images/a\n.img"));
	CHECK(!xlmig_path_canonical(""));
}

TEST(guest_policy_interface_names)
{
	CHECK(xlmig_ifname_ok("xenbr0"));
	CHECK(xlmig_ifname_ok("br-lan.10"));
	CHECK(!xlmig_ifname_ok(".."));
	CHECK(!xlmig_ifname_ok("."));
	CHECK(!xlmig_ifname_ok("../../../etc"));
	CHECK(!xlmig_ifname_ok("eth0/bridge"));
	CHECK(!xlmig_ifname_ok("a-name-of-16-chr"));
	CHECK(!xlmig_ifname_ok(""));
}

TEST(guest_policy_settings_checked)
{
	struct xlmig_guest_policy p;

	CHECK_OK(xlmig_guest_policy_init(&p, "/srv/xen/:/var/lib/xen/images", "/srv/boot/", "xenbr*,br0"));
	CHECK_EQ(p.n_storage, 2u);
	CHECK_STR(p.storage[0], "/srv/xen");
	CHECK_EQ(p.n_boot, 1u);
	CHECK_STR(p.boot[0], "/srv/boot");
	CHECK_EQ(p.n_bridges, 2u);
	xlmig_guest_policy_free(&p);
	CHECK_OK(xlmig_guest_policy_init(&p, "", "", ""));
	CHECK_EQ(p.n_storage, 0u);
	xlmig_guest_policy_free(&p);
	CHECK_EQ(xlmig_guest_policy_init(&p, "/", "", "xenbr0"), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_guest_policy_init(&p, "/srv/../etc", "", "xenbr0"), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_guest_policy_init(&p, "relative", "", "xenbr0"), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_guest_policy_init(&p, "/srv", "", "br/0"), XLMIG_E_INVAL);
	CHECK(strstr(xlmig_errmsg(), "xlmigd.conf"));
	CHECK_EQ(xlmig_guest_policy_init(&p, "/srv", "/boot/../etc", "xenbr0"), XLMIG_E_INVAL);
	CHECK(strstr(xlmig_errmsg(), "boot: '/boot/../etc'"));
}

TEST(guest_policy_disks_and_bridges)
{
	const struct xlmig_guest_policy *p = xlmig_guest_policy_default();

	CHECK_OK(xlmig_guest_policy_disk(p, "g", "/var/lib/xen/images/g.img"));
	CHECK_EQ(xlmig_guest_policy_disk(p, "g", "/var/lib/xen/images"), XLMIG_E_AUTH);
	CHECK_EQ(xlmig_guest_policy_disk(p, "g", "/var/lib/xen/images-other/g.img"), XLMIG_E_AUTH);
	CHECK_EQ(xlmig_guest_policy_disk(p, "g", "/dev/sda"), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "/dev/sda") && strstr(xlmig_errmsg(), "storage in xlmigd.conf"));
	CHECK_EQ(xlmig_guest_policy_disk(p, "g", "/var/lib/xen/images/../../../../etc/shadow"),
		 XLMIG_E_AUTH);
	CHECK_OK(xlmig_guest_policy_bridge(p, "g", "xenbr0"));
	CHECK_EQ(xlmig_guest_policy_bridge(p, "g", "br0"), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "bridges in xlmigd.conf"));
	CHECK_EQ(xlmig_guest_policy_bridge(p, "g", "xenbr0/../../../../etc"), XLMIG_E_AUTH);
}

/* A guest's kernel, ramdisk, device tree and firmware come only from the
 * boot directories: libxl reads them in dom0 and hands them to the guest. */
TEST(guest_policy_boot_files)
{
	const struct xlmig_guest_policy *p = xlmig_guest_policy_default();

	CHECK_OK(xlmig_guest_policy_boot(p, "g", "kernel", "/var/lib/xen/boot/vmlinuz", false));
	CHECK_OK(xlmig_guest_policy_boot(p, "g", "kernel", "/usr/lib/xen/boot/pv-grub-x86_64.gz",
					 false));
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "ramdisk", "/etc/shadow", false), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "ramdisk /etc/shadow") && strstr(xlmig_errmsg(), "boot in xlmigd.conf"));
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "kernel", "/var/lib/xen/boot/../../../etc/shadow",
					 false), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "not a canonical absolute path"));
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "kernel", "/var/lib/xen/boot", false), XLMIG_E_AUTH);
	/* A bare name only where libxl looks it up in its firmware directory. */
	CHECK_OK(xlmig_guest_policy_boot(p, "g", "hvm firmware", "hvmloader", true));
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "kernel", "vmlinuz", false), XLMIG_E_AUTH);
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "hvm firmware", "../../etc/shadow", true),
		 XLMIG_E_AUTH);
	CHECK_EQ(xlmig_guest_policy_boot(p, "g", "hvm firmware", "..", true), XLMIG_E_AUTH);
}

/* The facts are checked before anything is probed, every refusal named. */
TEST(guest_policy_preflight_facts)
{
	struct xlmig_preflight_guest g = { .name = "web" };

	CHECK_OK(xlmig_preflight_add_disk(&g, "/var/lib/xen/images/web.img"));
	CHECK_OK(xlmig_preflight_add_bridge(&g, "xenbr1"));
	CHECK_OK(xlmig_guest_policy_facts(xlmig_guest_policy_default(), &g));
	CHECK_OK(xlmig_preflight_add_disk(&g, "/etc/shadow"));
	CHECK_OK(xlmig_preflight_add_bridge(&g, "../../../../etc"));
	CHECK_EQ(xlmig_guest_policy_facts(xlmig_guest_policy_default(), &g), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "2 preflight item(s)"));
	CHECK(strstr(xlmig_errmsg(), "/etc/shadow"));
	CHECK(strstr(xlmig_errmsg(), "not an interface name"));
	xlmig_preflight_guest_free(&g);

	/* Boot files: checked against the policy, never probed (these do not
	 * exist on this machine, and only the policy's verdict comes back). */
	memcpy(g.name, "web", 4);
	CHECK_OK(xlmig_preflight_add_boot(&g, "/var/lib/xen/boot/no-such-vmlinuz"));
	CHECK_OK(xlmig_preflight_add_boot(&g, "hvmloader"));
	CHECK_OK(xlmig_guest_policy_facts(xlmig_guest_policy_default(), &g));
	CHECK_OK(xlmig_preflight_add_boot(&g, "/etc/shadow"));
	CHECK_EQ(xlmig_guest_policy_facts(xlmig_guest_policy_default(), &g), XLMIG_E_AUTH);
	CHECK(strstr(xlmig_errmsg(), "boot file /etc/shadow is outside"));
	xlmig_preflight_guest_free(&g);
}

#define CFG(body) "{\"c_info\":{\"name\":\"web\"},\"b_info\":{\"max_memkb\":1024}" body "}"

TEST(guest_policy_config_allowed)
{
	static const char ok[] = CFG(
		",\"disks\":[{\"pdev_path\":\"/var/lib/xen/images/web.img\",\"vdev\":\"xvda\"},"
		"{\"pdev_path\":\"\",\"vdev\":\"xvdc\"}],"
		"\"nics\":[{\"bridge\":\"xenbr0\",\"script\":\"/etc/xen/scripts/vif-bridge\"},"
		"{\"bridge\":\"xenbr1\",\"script\":\"vif-bridge\"}]");

	/* xl counts a trailing NUL in the length. */
	CHECK_OK(xlmig_guest_policy_config(NULL, "web", ok, sizeof(ok)));
	CHECK_OK(xlmig_guest_policy_config(NULL, "web", CFG(""), strlen(CFG(""))));
}

static void refused(const struct xlmig_guest_policy *p, const char *cfg, const char *why)
{
	int rc = xlmig_guest_policy_config(p, "web", cfg, strlen(cfg));

	CHECK_EQ(rc, XLMIG_E_AUTH);
	if (!strstr(xlmig_errmsg(), why))
		unit_fail(__FILE__, __LINE__, "refusal '%s' does not name '%s'", xlmig_errmsg(), why);
}

TEST(guest_policy_config_refusals)
{
	static const char all[] =
		"{\"b_info\":{\"bootloader\":\"pygrub\",\"device_model\":\"/usr/bin/qemu\"},"
		"\"pcidevs\":[{}],\"nics\":[{\"bridge\":\"xenbr0\",\"script\":\"/opt/vif\"}]}";
	static const char boot_ok[] = "{\"b_info\":{\"kernel\":\"/var/lib/xen/boot/vmlinuz\","
		"\"type\":{\"hvm\":{\"firmware\":\"hvmloader\","
		"\"system_firmware\":\"/usr/lib/xen/boot/ovmf.bin\"}}}}";
	struct xlmig_guest_policy open = *xlmig_guest_policy_default();

	refused(NULL, CFG(",\"disks\":[{\"pdev_path\":\"/dev/sda\"}]"), "/dev/sda");
	refused(NULL, CFG(",\"disks\":[{\"pdev_path\":\"/var/lib/xen/images/a\",\"script\":\"/tmp/x\"}]"),
		"allow_scripts");
	refused(NULL, CFG(",\"nics\":[{\"bridge\":\"xenbr0\",\"script\":\"../../tmp/x\"}]"),
		"allow_scripts");
	refused(NULL, CFG(",\"nics\":[{\"bridge\":\"eth0\"}]"), "bridges in xlmigd.conf");
	refused(NULL, CFG(",\"p9s\":[{\"path\":\"/root\"}]"), "/root");
	refused(NULL, CFG(",\"pcidevs\":[{\"bus\":1}]"), "allow_passthrough");
	refused(NULL, "{\"b_info\":{\"device_model\":\"/bin/sh\"}}", "device_model");
	refused(NULL, "{\"b_info\":{\"extra\":[\"-monitor\",\"stdio\"]}}", "allow_device_model");
	refused(NULL, "{\"b_info\":{\"type\":{\"pvh\":{\"pvshim_path\":\"/x\"}}}}", "pvshim_path");
	refused(NULL, "{\"b_info\":{\"bootloader\":\"/tmp/evil\"}}", "allow_bootloader");
	refused(NULL, "{\"b_info\":{\"type\":{\"pv\":{\"bootloader\":\"pygrub\"}}}}",
		"allow_bootloader");
	/* Files libxl loads into the guest, wherever the config names them. */
	refused(NULL, "{\"b_info\":{\"kernel\":\"/root/vmlinuz\"}}", "kernel /root/vmlinuz");
	refused(NULL, "{\"b_info\":{\"ramdisk\":\"/etc/shadow\"}}", "ramdisk /etc/shadow");
	refused(NULL, "{\"b_info\":{\"device_tree\":\"/etc/dt\"}}", "device_tree /etc/dt");
	refused(NULL, "{\"b_info\":{\"type\":{\"pv\":{\"kernel\":\"/boot/vmlinuz\"}}}}",
		"pv kernel /boot/vmlinuz");
	refused(NULL, "{\"b_info\":{\"type\":{\"pv\":{\"ramdisk\":\"/etc/ssh/ssh_host_rsa_key\"}}}}",
		"pv ramdisk");
	refused(NULL, "{\"b_info\":{\"type\":{\"hvm\":{\"firmware\":\"/tmp/evil\"}}}}",
		"hvm firmware /tmp/evil");
	refused(NULL, "{\"b_info\":{\"type\":{\"hvm\":{\"system_firmware\":\"ovmf.bin\"}}}}",
		"not a canonical absolute path");
	refused(NULL, "{\"b_info\":{\"type\":{\"hvm\":{\"smbios_firmware\":\"/etc/passwd\","
		"\"acpi_firmware\":\"/etc/group\"}}}}", "2 domain config item(s)");
	CHECK_OK(xlmig_guest_policy_config(NULL, "web", boot_ok, strlen(boot_ok)));
	/* Every refusal at once. */
	refused(NULL, CFG(",\"disks\":[{\"pdev_path\":\"/dev/sda\"}],\"pcidevs\":[{}]"),
		"2 domain config item(s)");
	/* Each is allowed once the setting says so. */
	open.allow_scripts = open.allow_device_model = open.allow_bootloader = true;
	open.allow_passthrough = true;
	refused(NULL, all, "4 domain config item(s)");
	CHECK_OK(xlmig_guest_policy_config(&open, "web", all, strlen(all)));
}

TEST(guest_policy_config_not_a_config)
{
	CHECK_EQ(xlmig_guest_policy_config(NULL, "web", "[1]", 3), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_guest_policy_config(NULL, "web", "{", 1), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_guest_policy_config(NULL, "web", "{\"disks\":{}}", 12), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_guest_policy_config(NULL, "web", "{\"disks\":[{\"pdev_path\":7}]}", 27),
		 XLMIG_E_FORMAT);
}

TEST(guest_policy_guest_names)
{
	CHECK(xlmig_guest_name_ok("web-1.example_a"));
	CHECK(!xlmig_guest_name_ok("12"));
	CHECK(!xlmig_guest_name_ok(""));
	CHECK(!xlmig_guest_name_ok("a/b"));
	CHECK(!xlmig_guest_name_ok("a b"));
	CHECK(!xlmig_guest_name_ok("web\n"));
}
