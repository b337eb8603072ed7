/*
 * cmd_migrate_receive.c - `xlmig migrate-receive [-F] [-e] [-d] [-p]`:
 * the receiving end of xl's migration protocol on stdin and stdout, so
 * stock `xl migrate` and `xlmig migrate --plain` can send to this host.
 * The domain is restored in this process through the xen backend.
 *
 * Only xen: a sim guest lives inside the process that hosts it (xlmigd),
 * so one restored here would vanish when this command exits, after the
 * sender had destroyed its copy.  Sim hosts migrate through xlmigd.
 */
#include "commands.h"
#include "common.h"
#include "hv.h"
#include "migrate_args.h"

#include <unistd.h>

static int open_xen(struct xlmig_hv **hv)
{
	if (!xlmig_hv_is_xen_dom0())
		return xlmig_fail(XLMIG_E_UNSUPPORTED,
				  "this host is not a Xen dom0 (no control_d in /proc/xen/capabilities or no "
				  "xenstore): migrate-receive restores through Xen; between sim hosts use "
				  "`xlmig migrate` with xlmigd");
	return xlmig_hv_open("xen", hv);
}

int xlmig_cmd_migrate_receive(int argc, char **argv)
{
	struct xlmig_xl_receive_opts o;
	struct xlmig_hv *hv = NULL;
	int rc;

	rc = xlmig_migrate_args_receive(argc, argv, &o);
	if (rc) {
		fprintf(stderr, "xlmig migrate-receive: %s\n", xlmig_errmsg());
		return rc == XLMIG_E_INVAL ? 2 : 1;
	}
	/* stdout belongs to the protocol: every word for people goes to
	 * stderr, which the sender's ssh passes back to its terminal. */
	if (o.debug)
		xlmig_log_set_level(XLMIG_LOG_DEBUG);
	else if (xlmig_log_get_level() < XLMIG_LOG_INFO)
		xlmig_log_set_level(XLMIG_LOG_INFO);   /* xl's receiver narrates too */
	rc = open_xen(&hv);
	if (!rc)
		rc = xlmig_xl_receive(hv, STDIN_FILENO, STDOUT_FILENO, &o, NULL);
	if (rc)
		fprintf(stderr, "xlmig migrate-receive: %s\n", xlmig_errmsg());
	xlmig_hv_close(hv);
	return rc ? 1 : 0;
}
