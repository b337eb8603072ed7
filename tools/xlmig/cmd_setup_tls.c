/*
 * cmd_setup_tls.c - `xlmig setup-tls`: create the cluster CA, and issue a
 * host its key and certificate (tls_ca.h).
 *
 *   xlmig setup-tls ca DIR [--name NAME] [--days N]
 *   xlmig setup-tls host --ca DIR [--out DIR] [--allow HOST]... [--days N]
 *                   NAME [NAME|ADDRESS]...
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "tls.h"
#include "tls_ca.h"

#define USAGE \
	"usage: xlmig setup-tls ca DIR [--name NAME] [--days N]\n" \
	"       xlmig setup-tls host --ca DIR [--out DIR] [--allow HOST]... [--days N]\n" \
	"                       NAME [NAME|ADDRESS]...\n"

static int parse_days(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '-' || end == s || *end || v == 0 || v > 36500) {
		fprintf(stderr, "xlmig setup-tls: --days wants 1 to 36500, not '%s'\n", s);
		return 2;
	}
	*out = (unsigned)v;
	return 0;
}

static int cmd_ca(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'd' },
		{ 0 }
	};
	const char *name = "xlmig-cluster-ca";
	unsigned days = XLMIG_TLS_CA_DAYS;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c != 'd' || parse_days(optarg, &days))
			return fprintf(stderr, USAGE), 2;
	}
	if (optind + 1 != argc)
		return fprintf(stderr, USAGE), 2;
	if (xlmig_tls_ca_create(argv[optind], name, days)) {
		fprintf(stderr, "xlmig setup-tls: %s\n", xlmig_errmsg());
		return 1;
	}
	printf("CA created in %s: keep ca.key there (only setup-tls host needs it)\n",
	       argv[optind]);
	return 0;
}

static int cmd_host(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "allow", required_argument, NULL, 'a' },
		{ "days", required_argument, NULL, 'd' },
		{ 0 }
	};
	const char *ca = NULL, *out = XLMIG_TLS_DEFAULT_DIR;
	const char **allow = calloc((size_t)argc, sizeof(*allow));
	unsigned days = XLMIG_TLS_HOST_DAYS;
	size_t nallow = 0;
	int c, rc = 2;

	if (!allow)
		return 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': ca = optarg; break;
		case 'o': out = optarg; break;
		case 'a': allow[nallow++] = optarg; break;
		case 'd':
			if (parse_days(optarg, &days))
				goto out;
			break;
		default:
			fprintf(stderr, USAGE);
			goto out;
		}
	}
	if (!ca || optind >= argc) {
		fprintf(stderr, "xlmig setup-tls host: --ca DIR and the host's NAME are needed\n"
			USAGE);
		goto out;
	}
	rc = 1;
	if (xlmig_tls_host_issue(ca, out, argv[optind], (const char *const *)argv + optind + 1,
				 (size_t)(argc - optind - 1), allow, nallow, days)) {
		fprintf(stderr, "xlmig setup-tls: %s\n", xlmig_errmsg());
		goto out;
	}
	printf("%s: host.key, host.crt, ca.crt and peers written to %s%s\n", argv[optind], out,
	       nallow ? "" : " (peers allows nobody yet: add the hosts that may send "
			     "migrations here, or --allow)");
	rc = 0;
out:
	free(allow);
	return rc;
}

int xlmig_cmd_setup_tls(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "ca"))
		return cmd_ca(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "host"))
		return cmd_host(argc - 1, argv + 1);
	fprintf(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr, USAGE);
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
