/*
 * cmd_migrate_plain.c - `xlmig migrate` in xl's own way: the command
 * lines that ask for xl's transport (-s SSHCOMMAND, an ssh:HOST, --plain,
 * --xl-receiver; see migrate_args.h) run here instead of as an xlmigd job.
 * The guest is saved by this process through the xen backend and sent
 * over the rune's stdin, as `xl migrate` does, to `xlmig migrate-receive`
 * or to a stock `xl migrate-receive`.
 *
 * cmd_migrate.c hands such command lines over with:
 *     if (xlmig_migrate_args_wants_plain(argc, argv))
 *             return xlmig_cmd_migrate_plain(argc, argv);
 */
#include "commands.h"
#include "common.h"
#include "hv.h"
#include "migrate_args.h"

int xlmig_cmd_migrate_plain(int argc, char **argv)
{
	struct xlmig_xl_send_opts o;
	struct xlmig_hv *hv = NULL;
	int rc;

	rc = xlmig_migrate_args_xl(argc, argv, &o);
	if (rc) {
		fprintf(stderr, "xlmig migrate: %s\n", xlmig_errmsg());
		return 2;
	}
	if (o.debug)
		xlmig_log_set_level(XLMIG_LOG_DEBUG);
	else if (xlmig_log_get_level() < XLMIG_LOG_INFO)
		xlmig_log_set_level(XLMIG_LOG_INFO);   /* xl narrates a migration too */
	/* A sim guest lives in xlmigd, out of this process's reach. */
	if (!xlmig_hv_is_xen_dom0())
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED,
				"this host is not a Xen dom0: xl-style migration (-s, ssh:, --plain, "
				"--xl-receiver) saves through Xen; between sim hosts use `xlmig migrate "
				"DOMAIN HOST` with xlmigd");
	if (!rc)
		rc = xlmig_hv_open("xen", &hv);
	if (!rc)
		rc = xlmig_xl_send(hv, &o);
	if (rc)
		fprintf(stderr, "xlmig migrate: %s\n", xlmig_errmsg());
	xlmig_hv_close(hv);
	return rc ? 1 : 0;
}
