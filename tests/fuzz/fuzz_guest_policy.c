/*
 * fuzz_guest_policy.c - libFuzzer harness for the incoming-guest policy
 * (guest_policy.h): the libxl JSON config a source sends, and the disk
 * and bridge names of its PREFLIGHT facts.
 *
 * The input is the config text; its lines are also tried as disk paths,
 * bridge names and boot files (kernel, ramdisk, firmware).  Whatever the
 * input: no crash, no read out of bounds, and a path the policy accepts is
 * canonical and under a storage directory, a boot file under a boot
 * directory (or, as a firmware override only, a bare name without '/'), a
 * bridge a plain interface name, so no peer input can make PREFLIGHT
 * probe outside them or libxl load a file from elsewhere.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes configs as xl saves them (disks,
 * nics with scripts, passthrough, device-model and bootloader overrides)
 * into DIR.
 */
#include "guest_policy.h"
#include "harness.h"

static void write_seeds(const char *dir)
{
	static const char *const seeds[] = {
		("{\"c_info\":{\"type\":\"pv\",\"name\":\"web\"},\"b_info\":{\"max_memkb\":262144,"
		 "\"type\":{\"pv\":{\"kernel\":\"/boot/vmlinuz\"}}},"
		 "\"disks\":[{\"pdev_path\":\"/var/lib/xen/images/web.img\",\"vdev\":\"xvda\","
		 "\"format\":\"raw\",\"readwrite\":1}],"
		 "\"nics\":[{\"devid\":0,\"mac\":\"00:16:3e:00:00:01\",\"bridge\":\"xenbr0\","
		 "\"script\":\"/etc/xen/scripts/vif-bridge\"}]}"),
		("{\"b_info\":{\"device_model\":\"/bin/sh\",\"extra\":[\"-a\"],\"bootloader\":\"pygrub\","
		 "\"type\":{\"pvh\":{\"pvshim_path\":\"/x\"}}},\"pcidevs\":[{\"bus\":1}],"
		 "\"p9s\":[{\"path\":\"/root\"}]}"),
		("{\"disks\":[{\"pdev_path\":\"/var/lib/xen/images/../../../etc/shadow\","
		 "\"script\":\"block-iscsi\"}],\"nics\":[{\"bridge\":\"../../etc\"}]}"),
		("{\"b_info\":{\"kernel\":\"/var/lib/xen/boot/vmlinuz\",\"ramdisk\":\"/etc/shadow\","
		 "\"device_tree\":\"/usr/lib/xen/boot/dt\",\"type\":{\"pv\":{\"kernel\":\"/boot/x\","
		 "\"ramdisk\":\"/var/lib/xen/boot/../../../root/k\"}}}}\n/usr/lib/xen/boot/hvmloader"),
		("{\"b_info\":{\"type\":{\"hvm\":{\"firmware\":\"hvmloader\",\"system_firmware\":"
		 "\"ovmf.bin\",\"smbios_firmware\":\"/var/lib/xen/boot/s\",\"acpi_firmware\":7}}}}"),
	};

	fuzz_put_text_seeds(dir, "guest_policy", seeds, XLMIG_ARRAY_SIZE(seeds));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

static void check_names(const struct xlmig_guest_policy *p, const uint8_t *data, size_t size)
{
	char line[XLMIG_POLICY_PATH_MAX + 1];
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		size_t n = i - start;

		if (i < size && data[i] != '\n')
			continue;
		if (n < sizeof(line)) {
			memcpy(line, data + start, n);
			line[n] = '\0';
			if (xlmig_guest_policy_disk(p, "g", line) == XLMIG_OK &&
			    (!xlmig_path_canonical(line) || strncmp(line, "/var/lib/xen/images/", 20)))
				abort();
			if (xlmig_guest_policy_bridge(p, "g", line) == XLMIG_OK &&
			    (!xlmig_ifname_ok(line) || strncmp(line, "xenbr", 5) || strchr(line, '/')))
				abort();
			if (xlmig_guest_policy_boot(p, "g", "kernel", line, false) == XLMIG_OK &&
			    (!xlmig_path_canonical(line) || (strncmp(line, "/var/lib/xen/boot/", 18) &&
							     strncmp(line, "/usr/lib/xen/boot/", 18))))
				abort();
			if (xlmig_guest_policy_boot(p, "g", "firmware", line, true) == XLMIG_OK &&
			    line[0] != '/' && (strchr(line, '/') || line[0] == '.'))
				abort();
		}
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct xlmig_guest_policy *p = xlmig_guest_policy_default();
	struct xlmig_guest_policy open = *p;
	int rc;

	rc = xlmig_guest_policy_config(p, "g", (const char *)data, size);
	if (rc != XLMIG_OK && rc != XLMIG_E_AUTH && rc != XLMIG_E_FORMAT && rc != XLMIG_E_LIMIT &&
	    rc != XLMIG_E_NOMEM)
		abort();
	/* Allowing more can only refuse less. */
	open.allow_scripts = open.allow_device_model = open.allow_bootloader = true;
	open.allow_passthrough = true;
	if (rc == XLMIG_OK && xlmig_guest_policy_config(&open, "g", (const char *)data, size))
		abort();
	check_names(p, data, size);
	return 0;
}
