/*
 * guest_policy.c - what a source host may ask this host to create (see
 * guest_policy.h).
 */
#include "guest_policy.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>

#define IFNAME_MAX 15   /* IFNAMSIZ - 1 */

bool xlmig_path_canonical(const char *path)
{
	size_t len = strlen(path);

	if (path[0] != '/' || len >= XLMIG_POLICY_PATH_MAX)
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	/* Each component after a '/': not empty, not "." or "..". */
	for (const char *c = path + 1; ; ) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (n == 0 && (end || c != path + 1))
			return false;   /* "//" or a trailing '/' */
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			return true;
		c = end + 1;
	}
}

bool xlmig_ifname_ok(const char *name)
{
	size_t len = strlen(name);

	return len && len <= IFNAME_MAX && strcmp(name, ".") && strcmp(name, "..") &&
	       xlmig_plain_chars(name);
}

/* ---- the policy ---- */

static int add_item(char **items, unsigned *n, const char *start, size_t len)
{
	if (*n >= XLMIG_POLICY_MAX_ITEMS)
		return xlmig_fail(XLMIG_E_LIMIT, "more than %u entries", XLMIG_POLICY_MAX_ITEMS);
	items[*n] = strndup(start, len);
	if (!items[*n])
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory");
	(*n)++;
	return XLMIG_OK;
}

static int split(const char *list, char sep, char **items, unsigned *n)
{
	int rc = XLMIG_OK;

	for (const char *p = list; p && *p && !rc; ) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len)
			rc = add_item(items, n, p, len);
		p = end ? end + 1 : NULL;
	}
	return rc;
}

/* A ':'-separated list of directories, each canonical and not / itself
 * (a trailing '/' dropped). */
static int split_dirs(const char *setting, const char *list, char **items, unsigned *n)
{
	int rc = split(list, ':', items, n);

	for (unsigned i = 0; i < *n && !rc; i++) {
		size_t len = strlen(items[i]);

		if (len > 1 && items[i][len - 1] == '/')
			items[i][len - 1] = '\0';
		if (!xlmig_path_canonical(items[i]) || !strcmp(items[i], "/"))
			rc = xlmig_fail(XLMIG_E_INVAL, "%s: '%s' is not an absolute directory "
					"without '.', '..' or '//' (and not / itself)", setting, items[i]);
	}
	return rc;
}

int xlmig_guest_policy_init(struct xlmig_guest_policy *p, const char *storage,
			    const char *boot, const char *bridges)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = split_dirs("storage", storage, p->storage, &p->n_storage)) ||
	    (rc = split_dirs("boot", boot, p->boot, &p->n_boot)))
		goto out;
	if ((rc = split(bridges, ',', p->bridges, &p->n_bridges)))
		goto out;
	for (unsigned i = 0; i < p->n_bridges; i++) {
		char name[IFNAME_MAX + 2];
		size_t len = strlen(p->bridges[i]);

		snprintf(name, sizeof(name), "%s", p->bridges[i]);
		if (len && len < sizeof(name) && name[len - 1] == '*')
			name[len - 1] = len > 1 ? '\0' : 'x';   /* "*" alone: any name */
		if (len >= sizeof(name) || !xlmig_ifname_ok(name)) {
			rc = xlmig_fail(XLMIG_E_INVAL, "bridges: '%s' is not an interface name (letters, "
					"digits, '-', '_', '.', at most 15; a trailing '*' matches a prefix)",
					p->bridges[i]);
			goto out;
		}
	}
out:
	if (rc) {
		xlmig_fail_prefix(rc, "the incoming-guest policy in xlmigd.conf");
		xlmig_guest_policy_free(p);
	}
	return rc;
}

void xlmig_guest_policy_free(struct xlmig_guest_policy *p)
{
	for (unsigned i = 0; i < p->n_storage; i++)
		free(p->storage[i]);
	for (unsigned i = 0; i < p->n_boot; i++)
		free(p->boot[i]);
	for (unsigned i = 0; i < p->n_bridges; i++)
		free(p->bridges[i]);
	memset(p, 0, sizeof(*p));
}

const struct xlmig_guest_policy *xlmig_guest_policy_default(void)
{
	static char storage[] = XLMIG_POLICY_DEFAULT_STORAGE;
	static char boot0[] = "/var/lib/xen/boot", boot1[] = "/usr/lib/xen/boot";
	static char bridges[] = XLMIG_POLICY_DEFAULT_BRIDGES;
	static const struct xlmig_guest_policy def = {
		.n_storage = 1, .storage = { storage },
		.n_boot = 2, .boot = { boot0, boot1 },   /* XLMIG_POLICY_DEFAULT_BOOT */
		.n_bridges = 1, .bridges = { bridges },
	};

	return &def;
}

/* ---- single items ---- */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/' && path[n + 1];
}

static bool under_any(const char *path, char *const *dirs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (under(path, dirs[i]))
			return true;
	return false;
}

int xlmig_guest_policy_disk(const struct xlmig_guest_policy *p, const char *guest,
			    const char *path)
{
	if (!xlmig_path_canonical(path))
		return xlmig_fail(XLMIG_E_AUTH, "%s: disk path '%.200s' is refused: not a canonical "
				  "absolute path", guest, path);
	if (under_any(path, p->storage, p->n_storage))
		return XLMIG_OK;
	return xlmig_fail(XLMIG_E_AUTH, "%s: disk %s is outside the storage this host allows "
			  "incoming guests (storage in xlmigd.conf)", guest, path);
}

int xlmig_guest_policy_boot(const struct xlmig_guest_policy *p, const char *guest,
			    const char *what, const char *path, bool bare_ok)
{
	/* libxl resolves a bare firmware name in its own firmware directory. */
	if (bare_ok && path[0] != '.' && strlen(path) <= 64 && xlmig_plain_chars(path))
		return XLMIG_OK;
	if (!xlmig_path_canonical(path))
		return xlmig_fail(XLMIG_E_AUTH, "%s: %s '%.200s' is refused: not a canonical "
				  "absolute path", guest, what, path);
	if (!under_any(path, p->boot, p->n_boot))
		return xlmig_fail(XLMIG_E_AUTH, "%s: %s %s is outside the directories this host "
				  "loads incoming guests' kernels and firmware from (boot in "
				  "xlmigd.conf)", guest, what, path);
	return XLMIG_OK;
}

static bool bridge_listed(const struct xlmig_guest_policy *p, const char *bridge)
{
	for (unsigned i = 0; i < p->n_bridges; i++) {
		const char *b = p->bridges[i];
		size_t len = strlen(b);

		if (len && b[len - 1] == '*' ? !strncmp(bridge, b, len - 1) : !strcmp(bridge, b))
			return true;
	}
	return false;
}

int xlmig_guest_policy_bridge(const struct xlmig_guest_policy *p, const char *guest,
			      const char *bridge)
{
	if (!xlmig_ifname_ok(bridge))
		return xlmig_fail(XLMIG_E_AUTH, "%s: bridge '%.64s' is refused: not an interface name",
				  guest, bridge);
	if (!bridge_listed(p, bridge))
		return xlmig_fail(XLMIG_E_AUTH, "%s: bridge %s is not one incoming guests may join "
				  "(bridges in xlmigd.conf)", guest, bridge);
	return XLMIG_OK;
}

/* The refusals of one check, all named in one message. */
#define REFUSED "item(s) refused by this host's policy for incoming guests"

int xlmig_guest_policy_facts(const struct xlmig_guest_policy *p,
			     const struct xlmig_preflight_guest *g)
{
	struct xlmig_verdict r = { 0 };

	for (size_t i = 0; i < g->n_disks; i++)
		if (g->disks[i] && g->disks[i][0])
			xlmig_verdict_note(&r, xlmig_guest_policy_disk(p, g->name, g->disks[i]));
	for (size_t i = 0; i < g->n_bridges; i++)
		if (g->bridges[i] && g->bridges[i][0])
			xlmig_verdict_note(&r, xlmig_guest_policy_bridge(p, g->name, g->bridges[i]));
	/* The facts do not say which field a boot file came from: a bare
	 * name is what only a firmware override may be, so it passes here
	 * and the config's own check decides. */
	for (size_t i = 0; i < g->n_boot; i++)
		if (g->boot[i] && g->boot[i][0])
			xlmig_verdict_note(&r, xlmig_guest_policy_boot(p, g->name, "boot file",
								       g->boot[i], true));
	return xlmig_verdict_end(&r, "preflight " REFUSED);
}

/* ---- the libxl config ---- */

/* A string member that is set: present, a string, not empty.  Anything
 * but a string or null where libxl has a string is not a config. */
static int str_member(const struct xlmig_json *obj, const char *key, const char **out)
{
	const struct xlmig_json *v = xlmig_json_member(obj, key);

	*out = NULL;
	if (!v || v->type == XLMIG_JSON_NULL)
		return XLMIG_OK;
	if (v->type != XLMIG_JSON_STRING || strlen(v->text) != v->text_len)
		return xlmig_fail(XLMIG_E_FORMAT, "%s is not a string", key);
	if (v->text_len)
		*out = v->text;
	return XLMIG_OK;
}

/* Xen's own hotplug scripts: a bare name (libxl looks in its script
 * directory) or a file directly in that directory. */
static bool xen_script(const char *s)
{
	const char *name = s;
	size_t dirlen = strlen(XLMIG_XEN_SCRIPT_DIR);

	if (!strncmp(s, XLMIG_XEN_SCRIPT_DIR "/", dirlen + 1))
		name = s + dirlen + 1;
	return name[0] && name[0] != '.' && strlen(name) <= 64 && xlmig_plain_chars(name);
}

struct cfg_check {
	const struct xlmig_guest_policy *p;
	const char *guest;
	struct xlmig_verdict r;
	int bad;                  /* XLMIG_E_FORMAT once the shape is wrong */
};

static const char *cfg_str(struct cfg_check *c, const struct xlmig_json *obj, const char *key)
{
	const char *s;
	int rc = str_member(obj, key, &s);

	if (rc && !c->bad) {
		c->bad = rc;
		xlmig_verdict_note(&c->r, rc);
	}
	return s;
}

static void check_script(struct cfg_check *c, const char *what, unsigned i, const char *s)
{
	if (s && !c->p->allow_scripts && !xen_script(s))
		xlmig_verdict_note(&c->r, xlmig_fail(XLMIG_E_AUTH, "%s %u: hotplug script %.200s is not one of "
					 "Xen's (%s; allow_scripts in xlmigd.conf)", what, i, s,
					 XLMIG_XEN_SCRIPT_DIR));
}

/* Each element of an array member (absent or null: none). */
static const struct xlmig_json *array_member(struct cfg_check *c, const struct xlmig_json *obj,
					     const char *key)
{
	const struct xlmig_json *a = xlmig_json_member(obj, key);

	if (!a || a->type == XLMIG_JSON_NULL)
		return NULL;
	if (a->type != XLMIG_JSON_ARRAY) {
		if (!c->bad)
			xlmig_verdict_note(&c->r, c->bad = xlmig_fail(XLMIG_E_FORMAT, "%s is not a list", key));
		return NULL;
	}
	return a;
}

static void check_disks(struct cfg_check *c, const struct xlmig_json *root)
{
	const struct xlmig_json *a = array_member(c, root, "disks");
	unsigned i = 0;

	for (const struct xlmig_json *d = a ? a->child : NULL; d; d = d->next, i++) {
		const char *path = cfg_str(c, d, "pdev_path");

		if (path)
			xlmig_verdict_note(&c->r, xlmig_guest_policy_disk(c->p, c->guest, path));
		check_script(c, "disk", i, cfg_str(c, d, "script"));
	}
	a = array_member(c, root, "p9s");
	i = 0;
	for (const struct xlmig_json *d = a ? a->child : NULL; d; d = d->next, i++) {
		const char *path = cfg_str(c, d, "path");

		if (path)
			xlmig_verdict_note(&c->r, xlmig_guest_policy_disk(c->p, c->guest, path));
	}
}

static void check_nics(struct cfg_check *c, const struct xlmig_json *root)
{
	const struct xlmig_json *a = array_member(c, root, "nics");
	unsigned i = 0;

	for (const struct xlmig_json *n = a ? a->child : NULL; n; n = n->next, i++) {
		const char *bridge = cfg_str(c, n, "bridge");

		if (bridge)
			xlmig_verdict_note(&c->r, xlmig_guest_policy_bridge(c->p, c->guest, bridge));
		check_script(c, "nic", i, cfg_str(c, n, "script"));
	}
}

static void check_passthrough(struct cfg_check *c, const struct xlmig_json *root)
{
	static const char *const kinds[] = { "pcidevs", "dtdevs", "usbdevs" };

	if (c->p->allow_passthrough)
		return;
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(kinds); i++) {
		const struct xlmig_json *a = array_member(c, root, kinds[i]);

		if (a && a->count)
			xlmig_verdict_note(&c->r, xlmig_fail(XLMIG_E_AUTH, "%zu host device(s) passed through "
						 "(%s; allow_passthrough in xlmigd.conf)", a->count,
						 kinds[i]));
	}
}

/* A member that is set: a non-empty string or list. */
static bool is_set(const struct xlmig_json *obj, const char *key)
{
	const struct xlmig_json *v = obj ? xlmig_json_member(obj, key) : NULL;

	return v && ((v->type == XLMIG_JSON_STRING && v->text_len) ||
		     (v->type == XLMIG_JSON_ARRAY && v->count));
}

/* The files libxl loads from dom0 into the guest (libxl_types.idl's
 * build info): at the top of b_info, or in its type's union. */
static const struct {
	const char *type;   /* NULL: b_info itself */
	const char *key;
	bool bare_ok;       /* a name libxl looks up in Xen's firmware directory */
} boot_files[] = {
	{ NULL, "kernel", false }, { NULL, "ramdisk", false }, { NULL, "device_tree", false },
	{ "pv", "kernel", false }, { "pv", "ramdisk", false },
	{ "hvm", "firmware", true }, { "hvm", "system_firmware", false },
	{ "hvm", "smbios_firmware", false }, { "hvm", "acpi_firmware", false },
};

static void check_boot(struct cfg_check *c, const struct xlmig_json *b)
{
	const struct xlmig_json *type = b ? xlmig_json_member(b, "type") : NULL;

	for (size_t i = 0; b && i < XLMIG_ARRAY_SIZE(boot_files); i++) {
		const struct xlmig_json *obj = b;
		const char *path;
		char what[48];

		if (boot_files[i].type && !(obj = type ? xlmig_json_member(type, boot_files[i].type) : NULL))
			continue;
		if (obj->type != XLMIG_JSON_OBJECT || !(path = cfg_str(c, obj, boot_files[i].key)))
			continue;
		snprintf(what, sizeof(what), "%s%s%s", boot_files[i].type ? boot_files[i].type : "",
			 boot_files[i].type ? " " : "", boot_files[i].key);
		xlmig_verdict_note(&c->r, xlmig_guest_policy_boot(c->p, c->guest, what, path,
								  boot_files[i].bare_ok));
	}
}

static void check_build(struct cfg_check *c, const struct xlmig_json *root)
{
	static const char *const dm[] = {
		"device_model", "device_model_user", "stubdomain_kernel", "stubdomain_ramdisk",
		"stubdomain_cmdline", "extra", "extra_pv", "extra_hvm",
	};
	const struct xlmig_json *b = xlmig_json_member(root, "b_info");
	const struct xlmig_json *type = b ? xlmig_json_member(b, "type") : NULL;
	const struct xlmig_json *pv = type ? xlmig_json_member(type, "pv") : NULL;
	const struct xlmig_json *pvh = type ? xlmig_json_member(type, "pvh") : NULL;

	if (!c->p->allow_device_model) {
		for (size_t i = 0; i < XLMIG_ARRAY_SIZE(dm); i++)
			if (is_set(b, dm[i]))
				xlmig_verdict_note(&c->r, xlmig_fail(XLMIG_E_AUTH, "device-model override %s "
							 "(allow_device_model in xlmigd.conf)", dm[i]));
		if (is_set(pvh, "pvshim_path"))
			xlmig_verdict_note(&c->r, xlmig_fail(XLMIG_E_AUTH, "PVH shim override pvshim_path "
						 "(allow_device_model in xlmigd.conf)"));
	}
	if (!c->p->allow_bootloader && (is_set(b, "bootloader") || is_set(pv, "bootloader")))
		xlmig_verdict_note(&c->r, xlmig_fail(XLMIG_E_AUTH, "a bootloader run in dom0 "
					 "(allow_bootloader in xlmigd.conf)"));
	check_boot(c, b);
}

int xlmig_guest_policy_config(const struct xlmig_guest_policy *p, const char *guest,
			      const char *json, size_t len)
{
	struct cfg_check c = { .p = p ? p : xlmig_guest_policy_default(), .guest = guest };
	struct xlmig_json *root = NULL;
	int rc;

	/* xl counts the trailing NUL in the config's length. */
	while (len && json[len - 1] == '\0')
		len--;
	if ((rc = xlmig_json_parse(json, len, &root)))
		return xlmig_fail_prefix(rc, "%s: the domain config", guest);
	if (root->type != XLMIG_JSON_OBJECT) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "%s: the domain config is not a JSON object", guest);
		goto out;
	}
	check_disks(&c, root);
	check_nics(&c, root);
	check_passthrough(&c, root);
	check_build(&c, root);
	rc = xlmig_verdict_end(&c.r, "domain config " REFUSED);
	if (c.bad)
		rc = xlmig_fail_prefix(XLMIG_E_FORMAT, "%s", guest);
out:
	xlmig_json_free(root);
	return rc;
}
