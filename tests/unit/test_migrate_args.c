/*
 * test_migrate_args.c - the command lines of `xlmig migrate` and `xlmig
 * migrate-receive` (tools/xlmig/migrate_args.h): getopt's arrays made
 * from the option table, xl's options with xl's meaning, the rune xl
 * would run for them, and xlmig's own options under the table's bounds.
 */
#include "unit.h"
#include "common.h"
#include "../../tools/xlmig/migrate_args.h"

#include <stdlib.h>

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

/* The table's names, its alias and xl's letters reach getopt; xl's
 * transport letters only where they mean something. */
TEST(migrate_args_getopt_from_the_table)
{
	const struct xlmig_mopt *it = xlmig_mopt_by_json("max_iters");
	struct option longs[XLMIG_MIGRATE_ARGS_LONGS];
	char shorts[XLMIG_MIGRATE_ARGS_SHORTS];
	bool alias = false, help = false;

	CHECK(it != NULL);
	xlmig_migrate_args_getopt(XLMIG_MOPT_JOB, longs, shorts);
	for (size_t i = 0; longs[i].name; i++) {
		if (!strcmp(longs[i].name, "max-iter"))
			alias = longs[i].val == it->id;
		help = help || (!strcmp(longs[i].name, "help") && longs[i].val == 'h');
	}
	CHECK(alias && help);
	CHECK(strchr(shorts, 'C') && strchr(shorts, 'C')[1] == ':');
	CHECK(strchr(shorts, 's') == NULL);   /* xl's transport only */
	xlmig_migrate_args_getopt(XLMIG_MOPT_PLAIN, longs, shorts);
	CHECK(strchr(shorts, 's') && strchr(shorts, 's')[1] == ':');
}

TEST(migrate_args_parse_xl_options)
{
	struct xlmig_xl_send_opts o;
	char **v = ARGV("migrate", "-s", "ssh -p 2222", "-e", "-C", "/etc/xen/web1.json", "--debug",
			"-p", "--live", "web1", "host2");
	char *rune;

	CHECK_OK(xlmig_migrate_args_xl(11, v, &o));
	CHECK_STR(o.domain, "web1");
	CHECK_STR(o.host, "host2");
	CHECK_STR(o.ssh_command, "ssh -p 2222");
	CHECK_STR(o.config_file, "/etc/xen/web1.json");
	CHECK(o.debug && o.pause_after && !o.daemonize && !o.monitor && o.ssh_given);
	CHECK_OK(xlmig_xl_send_rune(&o, &rune));
	CHECK_STR(rune, "exec ssh -p 2222 host2 xlmig migrate-receive -e -d -p");
	free(rune);
}

TEST(migrate_args_rune_variants)
{
	struct xlmig_xl_send_opts o;
	char *rune;

	CHECK_OK(xlmig_migrate_args_xl(3, ARGV("migrate", "web1", "ssh:host3"), &o));
	CHECK(o.plain);
	CHECK_STR(o.host, "host3");
	CHECK_OK(xlmig_xl_send_rune(&o, &rune));
	CHECK_STR(rune, "exec ssh host3 xlmig migrate-receive");
	free(rune);
	/* -s "": the host is the command (xl's trick for local tests) */
	CHECK_OK(xlmig_migrate_args_xl(5, ARGV("migrate", "-s", "", "web1", "xlmig migrate-receive"), &o));
	CHECK_OK(xlmig_xl_send_rune(&o, &rune));
	CHECK_STR(rune, "xlmig migrate-receive");
	free(rune);
	CHECK_OK(xlmig_migrate_args_xl(5, ARGV("migrate", "--xl-receiver", "-F", "web1", "h"), &o));
	CHECK_OK(xlmig_xl_send_rune(&o, &rune));
	CHECK_STR(rune, "exec ssh h xl migrate-receive -e");
	free(rune);
	CHECK(xlmig_migrate_args_wants_plain(5, ARGV("migrate", "-s", "ssh", "web1", "h")));
	CHECK(!xlmig_migrate_args_wants_plain(3, ARGV("migrate", "web1", "h")));
}

TEST(migrate_args_parse_own_options_and_errors)
{
	struct xlmig_xl_send_opts o;

	CHECK_OK(xlmig_migrate_args_xl(9, ARGV("migrate", "--policy", "xen", "--downtime", "250",
						"--auto-converge", "-D", "web1", "h"), &o));
	CHECK_EQ(o.policy.kind, XLMIG_POLICY_KIND_XEN);
	CHECK_EQ(o.policy.downtime_target_ns, 250000000ull);
	CHECK(o.policy.auto_converge && o.preserve_domid);
	CHECK_EQ(xlmig_migrate_args_xl(2, ARGV("migrate", "web1"), &o), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_migrate_args_xl(4, ARGV("migrate", "-x", "web1", "h"), &o), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_migrate_args_xl(5, ARGV("migrate", "--downtime", "-3", "web1", "h"), &o),
		 XLMIG_E_INVAL);
}

TEST(migrate_args_receive_options)
{
	struct xlmig_xl_receive_opts o;

	CHECK_OK(xlmig_migrate_args_receive(3, ARGV("migrate-receive", "-e", "-p"), &o));
	CHECK(o.pause_after && !o.daemonize && !o.monitor && !o.debug);
	CHECK_EQ(xlmig_migrate_args_receive(2, ARGV("migrate-receive", "-r"), &o), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(xlmig_migrate_args_receive(2, ARGV("migrate-receive", "--colo"), &o), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(xlmig_migrate_args_receive(2, ARGV("migrate-receive", "extra"), &o), XLMIG_E_INVAL);
}

/* The xl-style path takes the same names and the same bounds. */
TEST(migrate_args_xl_path_shares_the_table)
{
	struct xlmig_xl_send_opts o;

	CHECK_OK(xlmig_migrate_args_xl(8, ARGV("migrate", "--plain", "--max-iter", "12",
						"--downtime", "40", "web1", "h"), &o));
	CHECK_EQ(o.policy.max_iterations, 12);
	CHECK(o.policy.downtime_target_ns == 40000000ull);
	CHECK_EQ(xlmig_migrate_args_xl(6, ARGV("migrate", "--plain", "--downtime", "3600000",
						"web1", "h"), &o), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_migrate_args_xl(6, ARGV("migrate", "--plain", "--max-iters", "100",
						"web1", "h"), &o), XLMIG_E_INVAL);
}
