/*
 * cmd_evacuate.c - xlmig evacuate: move every guest off this host before
 * maintenance.
 *
 * Three phases, all through xlmigd:
 *   preflight  each guest is checked against the destinations (a migrate
 *              job with "check", which stops at the destination's answer:
 *              memory, CPU, versions); the first destination that can
 *              take it, least loaded first, is its destination;
 *              The check also watches each guest's dirty log for half a
 *              second: how fast it dirties memory;
 *   plan       slow dirtiers first, smallest first among equals, heavy
 *              dirtiers last; printed before anything moves (--dry-run
 *              stops there);
 *   queue      migrations, PARALLEL at a time; a heavy dirtier goes
 *              alone.  xlmigd itself never runs more than its
 *              max_jobs at once.
 * A guest that no destination takes, or whose migration fails, is
 * reported and stays here: a failed migration resumes it on this host
 * (the commit protocol), so nothing is lost.
 *
 * --parallel auto follows bench/evacuate.sh's measurement on the sim
 * hosts (four 128 MiB guests dirtying 0, 2, 8 and 24 MiB/s leave over a
 * 400 Mbit/s tbf-shaped link, all through xlmig evacuate).  With the
 * link the bottleneck (a quiet machine) the known argument holds: one at
 * a time took 11.6 s and 359 MiB on the wire, two at a time 13.2 s and
 * 452 MiB, four at once 15.4 s and 563 MiB with downtimes up to 1.25 s:
 * guests that share the link each send slower and re-send what they
 * dirty meanwhile.  So auto is one at a time, slow dirtiers first.  (On
 * a CPU-bound host, load near 19, two at a time had won: 38 s against
 * 74 s; there, pass --parallel.)  A heavy dirtier (HEAVY_DIRTY_BPS, the
 * heaviest rate of that measurement) always goes last and alone, with
 * the whole link, whatever the parallelism.
 */
#include "cmd_client.h"
#include "commands.h"
#include "common.h"
#include "hv.h"

#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_HOSTS 32
#define POLL_MS 200
#define AUTO_PARALLEL 1      /* from the measurement, see above */
#define HEAVY_DIRTY_BPS (16ull << 20)

enum gstate { G_STAYS, G_PLANNED, G_RUNNING, G_DONE, G_FAILED };

struct guest {
	char name[XLMIG_NAME_MAX];
	uint64_t memory;
	uint64_t dirty_bps;          /* measured by the check; 0 if it could not */
	bool heavy;                  /* dirties at HEAVY_DIRTY_BPS or more */
	enum gstate st;
	const char *dest;
	char job[32];
	char why[512];
	uint64_t total_ms, downtime_ms, wire;
	unsigned stats_wait;
};

struct evac {
	const char *hosts[MAX_HOSTS];
	unsigned load[MAX_HOSTS];      /* guests planned onto each host */
	size_t nhosts;
	struct guest *g;
	size_t n;
	unsigned parallel;
	bool dry_run;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlmig evacuate --to HOST[:PORT] [--to HOST...] [--parallel N|auto] [--dry-run]\n"
		"Moves every guest of this host to the given hosts: each is checked first\n"
		"(preflight), the plan is shown, then they migrate PARALLEL at a time\n"
		"(auto: one at a time, slow dirtiers and small guests first, heavy\n"
		"dirtiers last, as measured).  A guest that cannot\n"
		"move is reported and stays here, running.  Exit 0 when all moved.\n");
}

static int cmp_u64(uint64_t x, uint64_t y)
{
	return x < y ? -1 : x > y;
}

static int cmp_memory(const void *a, const void *b)
{
	const struct guest *x = a, *y = b;

	return cmp_u64(x->memory, y->memory);
}

/* The plan's order: light dirtiers before heavy ones, then slower
 * dirtiers first, then smaller guests first. */
static int cmp_plan(const void *a, const void *b)
{
	const struct guest *x = a, *y = b;

	if (x->heavy != y->heavy)
		return x->heavy ? 1 : -1;
	if (x->dirty_bps != y->dirty_bps)
		return cmp_u64(x->dirty_bps, y->dirty_bps);
	return cmp_u64(x->memory, y->memory);
}

/* This host's guests, smallest first (copies being received or left by
 * an interrupted migration are not guests to move). */
static int list_guests(struct evac *e)
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	const struct xlmig_json *doms, *d;
	int rc;

	xlmig_cli_request(&w, &req, "list");
	if ((rc = xlmig_cli_call_once(&w, &req, &reply)))
		goto out;
	doms = xlmig_json_member(reply, "domains");
	for (d = doms ? doms->child : NULL; d; d = d->next)
		e->n++;
	e->g = calloc(e->n ? e->n : 1, sizeof(*e->g));
	if (!e->g) {
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory");
		goto out;
	}
	e->n = 0;
	for (d = doms ? doms->child : NULL; d; d = d->next) {
		const char *name = "";
		struct guest *g = &e->g[e->n];

		xlmig_json_get_str(d, "name", &name);
		if (strstr(name, XLMIG_INCOMING_SUFFIX) || strstr(name, XLMIG_MIGRATED_SUFFIX) ||
		    !strcmp(name, "Domain-0"))
			continue;
		snprintf(g->name, sizeof(g->name), "%s", name);
		xlmig_json_get_u64(d, "memory", &g->memory);
		e->n++;
	}
	qsort(e->g, e->n, sizeof(*e->g), cmp_memory);
out:
	xlmig_json_free(reply);
	xlmig_buf_free(&req);
	return rc;
}

/* Ask xlmigd to migrate (or only check) one guest; its job id in id. */
static int start_job(const char *domain, const char *host, bool check, char id[32])
{
	struct xlmig_buf req = { 0 };
	struct xlmig_json_writer w;
	struct xlmig_json *reply = NULL;
	const char *job = NULL;
	int rc;

	xlmig_cli_request(&w, &req, "migrate");
	xlmig_json_kv_str(&w, "domain", domain);
	if (check)
		xlmig_json_kv_bool(&w, "check", true);
	if ((rc = xlmig_cli_target(host, &w)) || (rc = xlmig_cli_call_once(&w, &req, &reply)))
		goto out;
	if (xlmig_json_get_str(reply, "job", &job)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "xlmigd did not name the new job: check its log");
		goto out;
	}
	snprintf(id, 32, "%s", job);
out:
	xlmig_json_free(reply);
	xlmig_buf_free(&req);
	return rc;
}

/* The job's state now: final or not, and its step, message and stats
 * copied into g once final. */
static int poll_job(struct xlmig_ctl_client *c, struct guest *g, bool *final, char step[32])
{
	struct xlmig_json *reply = NULL;
	const struct xlmig_json *job = NULL;
	const char *s = "", *msg = "";
	int rc;

	*final = false;
	if ((rc = xlmig_cli_job_status(c, g->job, &reply, &job)))
		return rc;
	xlmig_json_get_bool(job, "final", final);
	xlmig_json_get_str(job, "step", &s);
	snprintf(step, 32, "%s", s);
	/* A finished migration's statistics are written just after its
	 * final step: give them a few polls. */
	if (*final && !strcmp(s, "done") && !xlmig_json_member(job, "stats") && ++g->stats_wait < 10)
		*final = false;
	if (*final) {
		xlmig_json_get_str(job, "message", &msg);
		snprintf(g->why, sizeof(g->why), "%s", msg);
		xlmig_json_get_u64(job, "stats.total_ms", &g->total_ms);
		xlmig_json_get_u64(job, "stats.downtime_ms", &g->downtime_ms);
		xlmig_json_get_u64(job, "stats.bytes_wire", &g->wire);
		if (!strcmp(s, "checked")) {
			xlmig_json_get_u64(job, "stats.dirty_rate_bps", &g->dirty_bps);
			g->heavy = g->dirty_bps >= HEAVY_DIRTY_BPS;
		}
	}
	xlmig_json_free(reply);
	return XLMIG_OK;
}

static int wait_job(struct xlmig_ctl_client *c, struct guest *g, char step[32])
{
	bool final = false;
	int rc;

	while (!(rc = poll_job(c, g, &final, step)) && !final)
		usleep(POLL_MS * 1000);
	return rc;
}

/* Hosts in order of the guests already planned onto them. */
static void hosts_by_load(const struct evac *e, size_t order[MAX_HOSTS])
{
	for (size_t i = 0; i < e->nhosts; i++)
		order[i] = i;
	for (size_t i = 1; i < e->nhosts; i++)
		for (size_t j = i; j > 0 && e->load[order[j]] < e->load[order[j - 1]]; j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

static int preflight(struct evac *e, struct xlmig_ctl_client *c)
{
	size_t order[MAX_HOSTS];
	char step[32];
	int rc = XLMIG_OK;

	for (size_t i = 0; i < e->n && !rc; i++) {
		struct guest *g = &e->g[i];
		char why[sizeof(g->why)] = "";
		size_t used = 0;

		hosts_by_load(e, order);
		g->st = G_STAYS;
		for (size_t k = 0; k < e->nhosts && g->st == G_STAYS; k++) {
			const char *h = e->hosts[order[k]];

			if ((rc = start_job(g->name, h, true, g->job)) || (rc = wait_job(c, g, step)))
				break;
			if (!strcmp(step, "checked")) {
				g->st = G_PLANNED;
				g->dest = h;
				e->load[order[k]]++;
			} else if (used < sizeof(why) - 1) {
				/* every destination's refusal, for the report */
				used += (size_t)snprintf(why + used, sizeof(why) - used, "%s%s: %s",
							 used ? "; " : "", h, g->why);
			}
		}
		snprintf(g->why, sizeof(g->why), "%s", g->st == G_PLANNED ? "" : why);
	}
	if (rc == XLMIG_OK)
		qsort(e->g, e->n, sizeof(*e->g), cmp_plan);
	return rc;
}

static void print_plan(const struct evac *e, FILE *out)
{
	char mem[32], rate[32];
	unsigned k = 0;

	fprintf(out, "plan: %zu guest(s), %u at a time\n", e->n, e->parallel);
	for (size_t i = 0; i < e->n; i++) {
		const struct guest *g = &e->g[i];

		xlmig_cli_bytes((double)g->memory, mem, sizeof(mem));
		xlmig_cli_bytes((double)g->dirty_bps, rate, sizeof(rate));
		if (g->st == G_PLANNED)
			fprintf(out, "  %2u. %-20s %10s  dirties %8s/s  -> %s%s\n", ++k, g->name, mem,
				rate, g->dest, e->parallel > 1 && g->heavy ? " (alone)" : "");
		else
			fprintf(out, "   -  %-20s %10s  stays here: %s\n", g->name, mem, g->why);
	}
}

static void report_end(const struct guest *g, const char *step, FILE *out)
{
	char wire[32];

	if (g->st == G_DONE)
		fprintf(out, "%s -> %s: done in %.1f s, downtime %llu ms, %s on the wire\n", g->name, g->dest,
			g->total_ms / 1000.0, (unsigned long long)g->downtime_ms,
			xlmig_cli_bytes((double)g->wire, wire, sizeof(wire)));
	else
		fprintf(out, "%s -> %s: %s, stays here: %s\n", g->name, g->dest, step, g->why);
}

/* How many migrations may run when g starts, g included. */
static size_t queue_limit(const struct evac *e, const struct guest *g)
{
	return g->heavy ? 1 : e->parallel;
}

/* Migrate the planned guests in the plan's order, e->parallel at a time
 * (a heavy dirtier alone: the heavy ones come last, so none
 * starts beside another). */
static int run_queue(struct evac *e, struct xlmig_ctl_client *c)
{
	size_t next = 0, running = 0;
	char step[32];
	bool final;
	int rc = XLMIG_OK;

	for (;;) {
		while (next < e->n) {
			struct guest *g = &e->g[next];

			if (g->st == G_PLANNED && running >= queue_limit(e, g))
				break;
			next++;
			if (g->st != G_PLANNED)
				continue;
			if (start_job(g->name, g->dest, false, g->job)) {
				g->st = G_FAILED;
				snprintf(g->why, sizeof(g->why), "%s", xlmig_errmsg());
				report_end(g, "not started", stdout);
				continue;
			}
			g->st = G_RUNNING;
			running++;
			printf("%s -> %s: migrating (job %s)\n", g->name, g->dest, g->job);
			fflush(stdout);
		}
		if (!running)
			break;
		usleep(POLL_MS * 1000);
		for (size_t i = 0; i < e->n && !rc; i++) {
			struct guest *g = &e->g[i];

			if (g->st != G_RUNNING || (rc = poll_job(c, g, &final, step)) || !final)
				continue;
			g->st = strcmp(step, "done") ? G_FAILED : G_DONE;
			running--;
			report_end(g, step, stdout);
			fflush(stdout);
		}
		if (rc)
			break;
	}
	return rc;
}

static int summary(const struct evac *e, uint64_t ms)
{
	unsigned moved = 0, stayed = 0, failed = 0;

	for (size_t i = 0; i < e->n; i++) {
		moved += e->g[i].st == G_DONE;
		stayed += e->g[i].st == G_STAYS;
		failed += e->g[i].st == G_FAILED;
	}
	printf("evacuation: %u moved, %u failed (still here), %u not movable (still here), %.1f s\n",
	       moved, failed, stayed, ms / 1000.0);
	return moved == e->n ? 0 : 1;
}

/* N, or 0 for auto. */
static int parse_parallel(const char *s, unsigned *out)
{
	char *end;
	unsigned long n;

	if (!strcmp(s, "auto")) {
		*out = 0;
		return XLMIG_OK;
	}
	n = strtoul(s, &end, 10);
	if (!*s || *end || n == 0 || n > 64)
		return xlmig_fail(XLMIG_E_INVAL, "--parallel is a number from 1 to 64 or auto, not '%s'", s);
	*out = (unsigned)n;
	return XLMIG_OK;
}

int xlmig_cmd_evacuate(int argc, char **argv)
{
	enum { OPT_TO = 256, OPT_PARALLEL, OPT_DRY_RUN };
	static const struct option opts[] = {
		{ "to", required_argument, NULL, OPT_TO },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct evac e = { .parallel = 0 };
	struct xlmig_ctl_client c;
	bool connected = false;
	uint64_t t0 = xlmig_now_ns();
	int ch, rc = XLMIG_OK, status = 1;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_TO && e.nhosts < MAX_HOSTS)
			e.hosts[e.nhosts++] = optarg;
		else if (ch == OPT_TO)
			return fprintf(stderr, "xlmig evacuate: at most %d --to hosts\n", MAX_HOSTS), 2;
		else if (ch == OPT_PARALLEL && parse_parallel(optarg, &e.parallel))
			return fprintf(stderr, "xlmig evacuate: %s\n", xlmig_errmsg()), 2;
		else if (ch == OPT_DRY_RUN)
			e.dry_run = true;
		else if (ch == 'h' || ch == '?') {
			usage(ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (e.parallel == 0)
		e.parallel = AUTO_PARALLEL;
	if (optind != argc || !e.nhosts) {
		fprintf(stderr, "xlmig evacuate: name the destinations with --to HOST (one or more)\n");
		usage(stderr);
		return 2;
	}
	if ((rc = list_guests(&e)) || (rc = xlmig_ctl_connect(xlmig_cli_socket(), &c)))
		goto out;
	connected = true;
	if (!e.n) {
		printf("evacuation: no guests on this host\n");
		status = 0;
		goto out;
	}
	printf("preflight: %zu guest(s) against %zu host(s)...\n", e.n, e.nhosts);
	fflush(stdout);
	if ((rc = preflight(&e, &c)))
		goto out;
	print_plan(&e, stdout);
	if (e.dry_run) {
		status = 0;
		for (size_t i = 0; i < e.n; i++)
			status |= e.g[i].st != G_PLANNED;
		goto out;
	}
	fflush(stdout);
	if ((rc = run_queue(&e, &c)))
		goto out;
	status = summary(&e, (xlmig_now_ns() - t0) / 1000000);
out:
	if (connected)
		xlmig_ctl_disconnect(&c);
	if (rc)
		status = xlmig_cli_error("evacuate");
	free(e.g);
	return status;
}
