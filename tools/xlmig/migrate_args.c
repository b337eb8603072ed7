/*
 * migrate_args.c - `xlmig migrate` and `xlmig migrate-receive` command
 * lines through getopt_long and migrate_opts.h's table (see
 * migrate_args.h).
 */
#include "migrate_args.h"

#include <inttypes.h>
#include <string.h>

/* ---- the table as getopt's arrays and as help ---- */

void xlmig_migrate_args_getopt(unsigned where, struct option *longs, char *shorts)
{
	size_t nl = 0, ns = 0;

	for (size_t i = 0; i < xlmig_mopts_count; i++) {
		const struct xlmig_mopt *m = &xlmig_mopts[i];
		int has_arg = m->type == XLMIG_MOPT_FLAG ? no_argument : required_argument;

		if (!(m->where & where))
			continue;
		if (m->letter) {
			shorts[ns++] = m->letter;
			if (has_arg == required_argument)
				shorts[ns++] = ':';
		}
		if (m->name)
			longs[nl++] = (struct option){ m->name, has_arg, NULL, m->id };
		if (m->alias)
			longs[nl++] = (struct option){ m->alias, has_arg, NULL, m->id };
	}
	longs[nl++] = (struct option){ "help", no_argument, NULL, 'h' };
	longs[nl] = (struct option){ NULL, 0, NULL, 0 };
	shorts[ns] = '\0';
}

void xlmig_migrate_args_usage(FILE *out)
{
	bool xl_heading = false;

	for (size_t i = 0; i < xlmig_mopts_count; i++) {
		const struct xlmig_mopt *m = &xlmig_mopts[i];
		char left[64];

		if (m->where == XLMIG_MOPT_PLAIN)
			continue;   /* xl's transports: see the note below */
		if (m->letter && !xl_heading) {
			fprintf(out, "xl migrate's options, with xl's meaning:\n");
			xl_heading = true;
		}
		if (m->letter && m->name)
			snprintf(left, sizeof(left), "-%c, --%s", m->letter, m->name);
		else if (m->letter)
			snprintf(left, sizeof(left), "-%c%s%s", m->letter, m->arg ? " " : "",
				 m->arg ? m->arg : "");
		else
			snprintf(left, sizeof(left), "--%s%s%s", m->name, m->arg ? " " : "",
				 m->arg ? m->arg : "");
		fprintf(out, "  %-19s %s", left, m->help);
		if (m->type == XLMIG_MOPT_UINT && m->def)
			fprintf(out, " (default %" PRIu64 ")", m->def);
		fputc('\n', out);
	}
	fprintf(out, "xl's transports (-s SSHCOMMAND, ssh:HOST, --plain, --xl-receiver) run in this\n"
		     "process without xlmigd; see xlmig-xl(7).\n");
}

/* ---- xl migrate ---- */

static const char migrate_usage[] =
	"usage: xlmig migrate [-s SSHCOMMAND] [-e] [-C CONFIG] [--debug] [-p] [-F] [--live]\n"
	"                     [--plain] [--xl-receiver] [--policy xlmig|xen] [--downtime MS]\n"
	"                     [--max-iters N] [--auto-converge] DOMAIN HOST";

/* xlmig's own options on xl's path, read through the option table
 * (migrate_opts.h), so their bounds are a job's. */
static int migrate_own_option(int opt, const char *arg, struct xlmig_xl_send_opts *o)
{
	const struct xlmig_mopt *m = xlmig_mopt_by_id(opt);
	struct xlmig_migrate_opts jo = { .policy = o->policy };
	uint64_t v = 0;
	int rc;

	if (!m || !(m->where & XLMIG_MOPT_PLAIN))
		return xlmig_fail(XLMIG_E_INVAL, "%s", migrate_usage);
	if (m->id == XLMIG_MOPT_PLAIN_TRANSPORT || m->id == XLMIG_MOPT_XL_RECEIVER) {
		o->plain = true;
		o->xl_receiver = o->xl_receiver || m->id == XLMIG_MOPT_XL_RECEIVER;
		return XLMIG_OK;
	}
	if (m->type != XLMIG_MOPT_WORD && (rc = xlmig_mopt_parse(m, arg, &v)))
		return rc;
	if ((rc = xlmig_mopt_apply(m, v, arg, &jo)))
		return rc;
	o->policy = jo.policy;
	return XLMIG_OK;
}

bool xlmig_migrate_args_xl_option(int opt, const char *arg, struct xlmig_xl_send_opts *o)
{
	switch (opt) {
	case 'C': o->config_file = arg; break;
	case 's': o->ssh_command = arg; o->ssh_given = true; break;
	case 'F': o->daemonize = false; break;
	case 'e': o->daemonize = false; o->monitor = false; break;
	case 'p': o->pause_after = true; break;
	case 'D': o->preserve_domid = true; break;
	case 'd': o->debug = true; break;
	case XLMIG_MOPT_LIVE: break;   /* xm's option; always live */
	default: return false;
	}
	return true;
}

int xlmig_migrate_args_xl(int argc, char **argv, struct xlmig_xl_send_opts *o)
{
	struct option longs[XLMIG_MIGRATE_ARGS_LONGS];
	char shorts[XLMIG_MIGRATE_ARGS_SHORTS + 2] = "+h";
	int opt, rc = XLMIG_OK;

	xlmig_migrate_args_getopt(XLMIG_MOPT_PLAIN, longs, shorts + 2);
	xlmig_xl_send_opts_default(o);
	optind = 0;   /* GNU: full re-initialisation, so the parser can run twice */
	opterr = 0;
	while (!rc && (opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (xlmig_migrate_args_xl_option(opt, optarg, o))
			continue;
		switch (opt) {
		case '?':
			rc = xlmig_fail(XLMIG_E_INVAL, "unknown or incomplete option '%s'\n%s",
					argv[optind - 1], migrate_usage);
			break;
		case 'h':
			rc = xlmig_fail(XLMIG_E_INVAL, "%s", migrate_usage);
			break;
		default:
			rc = migrate_own_option(opt, optarg, o);
		}
	}
	if (rc)
		return rc;
	if (argc - optind != 2)
		return xlmig_fail(XLMIG_E_INVAL, "expected DOMAIN and HOST\n%s", migrate_usage);
	o->domain = argv[optind];
	o->host = argv[optind + 1];
	if (!strncmp(o->host, "ssh:", 4)) {
		o->host += 4;
		o->ssh_command = "ssh";
		o->plain = true;
	}
	if (!o->host[0])
		return xlmig_fail(XLMIG_E_INVAL, "empty HOST\n%s", migrate_usage);
	return XLMIG_OK;
}

bool xlmig_migrate_args_wants_plain(int argc, char **argv)
{
	struct xlmig_xl_send_opts o;

	if (xlmig_migrate_args_xl(argc, argv, &o))
		return false;
	return o.plain || o.ssh_given;
}

/* ---- xl migrate-receive ---- */

int xlmig_migrate_args_receive(int argc, char **argv, struct xlmig_xl_receive_opts *o)
{
	static const struct option lopts[] = {
		{ "colo", no_argument, NULL, 0x100 },
		{ "coloft-script", required_argument, NULL, 0x200 },
		{ "userspace-colo-proxy", no_argument, NULL, 0x300 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->daemonize = o->monitor = true;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+Fedrph", lopts, NULL)) != -1) {
		switch (opt) {
		case 'F': o->daemonize = false; break;
		case 'e': o->daemonize = false; o->monitor = false; break;
		case 'd': o->debug = true; break;
		case 'p': o->pause_after = true; break;
		case 'r': case 0x100: case 0x200: case 0x300:
			return xlmig_fail(XLMIG_E_UNSUPPORTED,
					  "Remus and COLO streams (%s) are not supported by xlmig migrate-receive",
					  argv[optind - 1]);
		default:
			return xlmig_fail(XLMIG_E_INVAL,
					  "usage: xlmig migrate-receive [-F] [-e] [-d] [-p]");
		}
	}
	if (optind != argc)
		return xlmig_fail(XLMIG_E_INVAL, "usage: xlmig migrate-receive [-F] [-e] [-d] [-p]");
	return XLMIG_OK;
}
