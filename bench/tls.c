/*
 * tls.c - what TLS costs a migration's channels: the same transfer over
 * loopback TCP, TLS 1.3 and plain (--insecure), in the same run.
 *
 * Both ends live in this process and talk through the real session code
 * (conn.h): the TLS handshake with certificates of a CA made for the run,
 * the channels, the frames and the bandwidth cap.  Each sender thread
 * writes PAGES-sized frames of incompressible bytes (what the codec's
 * zstd output looks like: compression happens before encryption) on its
 * channel; the receiver reads and checks every frame.  A run moves
 * --bytes over --channels channels, unlimited and capped at 1 Gbit/s, each
 * once plain and once with TLS, alternating, --repeat times.
 *
 * One JSON line per run (mode, link, seconds, MB/s, CPU seconds of the
 * process), then per link the median TLS / plain ratios of wall time and
 * CPU time, "tls_cost_pct": the time TLS adds, as a percentage of the
 * plain run's, and "tls_cores_at_1gbit": the CPU TLS adds (both ends,
 * encryption and decryption), in cores busy while 1 Gbit/s flows.  The
 * target is 10 % or less of the time at 1 Gbit/s: there the link, not the
 * CPU, should bound a migration.  On a shared machine the time figures
 * follow the load (printed as "loadavg"): a run that waits for CPU waits
 * longer for TLS's share of it; the CPU figures do not.
 *
 *   tls [--bytes 512M] [--channels 4] [--repeat 3]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conn.h"
#include "tls.h"
#include "tls_ca.h"
#include "wire.h"

#define FRAME_BYTES (4u << 20)
#define GBIT_BYTES  (1000000000ull / 8)
#define IO_MS       60000

struct bench_opts {
	uint64_t bytes;
	unsigned channels;
	unsigned repeat;
};

/* One end's identity (TLS) or none (plain). */
struct side {
	struct xlmig_tls *tls;
	struct xlmig_conn_opts o;
};

struct acceptor {
	int lfd;
	struct side *s;
	struct xlmig_conn *conn;
	int rc;
};

struct worker {
	struct xlmig_conn *c;
	unsigned index;
	uint64_t bytes;
	const uint8_t *data;
	bool send;
	int rc;
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;

	a->rc = xlmig_conn_listen_accept(a->lfd, &a->s->o, NULL, &a->conn);
	return NULL;
}

/* Send or receive this channel's share, in whole frames. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct xlmig_chan *ch = xlmig_conn_chan(w->c, w->index);
	struct xlmig_ratelimit *rl = xlmig_conn_ratelimit(w->c);
	uint64_t seq = w->index;

	for (uint64_t done = 0; done < w->bytes && !w->rc; done += FRAME_BYTES, seq += 64) {
		struct xlmig_frame f = { 0 };

		if (w->send) {
			w->rc = xlmig_ratelimit_take(rl, FRAME_BYTES + XLMIG_WIRE_HDR_LEN, NULL);
			if (!w->rc)
				w->rc = xlmig_wire_send(ch, XLMIG_FRAME_STREAM, 0, seq, w->data,
							FRAME_BYTES, IO_MS);
			continue;
		}
		w->rc = xlmig_wire_recv(ch, XLMIG_WIRE_MAX_PAYLOAD, IO_MS, IO_MS, &f);
		if (!w->rc && (f.hdr.len != FRAME_BYTES || memcmp(f.payload.data, w->data, 64)))
			w->rc = xlmig_fail(XLMIG_E_FORMAT, "channel %u: frame damaged", w->index);
		xlmig_frame_free(&f);
	}
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct result {
	double wall_s, cpu_s;
};

/* One transfer: a session from src to dst, then every channel's share
 * sent and received at once.  The handshake is outside the timing. */
static int transfer(const struct bench_opts *bo, struct side *src, struct side *dst,
		    uint64_t rate, const uint8_t *data, struct result *res)
{
	struct acceptor a = { .s = dst };
	struct worker w[2 * XLMIG_MAX_CHANNELS];
	pthread_t t[2 * XLMIG_MAX_CHANNELS], at;
	struct xlmig_conn *c = NULL;
	uint64_t start;
	double cpu;
	char port[8];
	uint16_t p;
	unsigned n = bo->channels;
	int rc;

	if ((rc = xlmig_tcp_listen("127.0.0.1", "0", &a.lfd, &p)))
		return rc;
	snprintf(port, sizeof(port), "%u", p);
	src->o.bandwidth = rate;
	pthread_create(&at, NULL, accept_main, &a);
	rc = xlmig_conn_connect("127.0.0.1", port, &src->o, NULL, &c);
	pthread_join(at, NULL);
	close(a.lfd);
	if (!rc && (rc = a.rc) == XLMIG_OK)
		rc = xlmig_conn_wait_channels(a.conn, IO_MS);
	if (!rc && xlmig_conn_channels(c) != n)
		rc = xlmig_fail(XLMIG_E_LIMIT, "%u channels granted of %u", xlmig_conn_channels(c), n);
	if (rc)
		goto out;
	start = xlmig_now_ns();
	cpu = cpu_seconds();
	for (unsigned i = 0; i < 2 * n; i++) {
		w[i] = (struct worker){ .c = i < n ? c : a.conn, .index = i % n, .data = data,
					.bytes = bo->bytes / n, .send = i < n };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (unsigned i = 0; i < 2 * n; i++) {
		pthread_join(t[i], NULL);
		if (!rc && w[i].rc)
			rc = w[i].rc;
	}
	res->wall_s = (xlmig_now_ns() - start) / 1e9;
	res->cpu_s = cpu_seconds() - cpu;
out:
	xlmig_conn_close(c);
	xlmig_conn_close(a.conn);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Certificates for hosts "src" and "dst" from a CA made for the run. */
static int identities(const char *dir, struct side *tls_src, struct side *tls_dst)
{
	const char *const local[] = { "127.0.0.1" };
	const char *const peers[] = { "src" };
	char ca[512], s[512], d[512];
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca", dir);
	snprintf(s, sizeof(s), "%s/src", dir);
	snprintf(d, sizeof(d), "%s/dst", dir);
	if ((rc = xlmig_tls_ca_create(ca, "bench-ca", 1)) ||
	    (rc = xlmig_tls_host_issue(ca, s, "src", local, 1, NULL, 0, 1)) ||
	    (rc = xlmig_tls_host_issue(ca, d, "dst", local, 1, peers, 1, 1)) ||
	    (rc = xlmig_tls_open(s, &tls_src->tls)) || (rc = xlmig_tls_open(d, &tls_dst->tls)))
		return xlmig_fail_prefix(rc, "making the run's certificates in %s", dir);
	return XLMIG_OK;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "channels", required_argument, NULL, 'c' },
		{ "repeat", required_argument, NULL, 'r' },
		{ 0 },
	};
	int opt;

	*o = (struct bench_opts){ .bytes = 512u << 20, .channels = 4, .repeat = 3 };
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (opt == 'b' && !xlmig_parse_size(optarg, &o->bytes) && o->bytes >= FRAME_BYTES)
			continue;
		if (opt == 'c' || opt == 'r')
			v = strtoul(optarg, &end, 10);
		if (opt == 'c' && end && !*end && v >= 1 && v <= XLMIG_MAX_CHANNELS) {
			o->channels = (unsigned)v;
			continue;
		}
		if (opt == 'r' && end && !*end && v >= 1 && v <= 100) {
			o->repeat = (unsigned)v;
			continue;
		}
		return xlmig_fail(XLMIG_E_INVAL, "usage: tls [--bytes SIZE (>= 4M)] [--channels 1..%u] "
				  "[--repeat 1..100]", XLMIG_MAX_CHANNELS);
	}
	o->bytes -= o->bytes % ((uint64_t)FRAME_BYTES * o->channels);
	if (!o->bytes)
		o->bytes = (uint64_t)FRAME_BYTES * o->channels;
	return XLMIG_OK;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; uint64_t rate; } links[] = {
		{ "unlimited", 0 }, { "1gbit", GBIT_BYTES },
	};
	struct side plain_src, plain_dst, tls_src = { 0 }, tls_dst = { 0 };
	struct bench_opts bo;
	char dir[] = "/tmp/xlmig-bench-tls.XXXXXX", cmd[64];
	uint8_t *data = NULL;
	int rc;

	xlmig_log_set_tag("bench-tls");
	if ((rc = parse_args(argc, argv, &bo)))
		goto out;
	if (!mkdtemp(dir)) {
		rc = xlmig_fail(XLMIG_E_IO, "mkdtemp: %s", strerror(errno));
		goto out;
	}
	data = malloc(FRAME_BYTES);
	if (!data || (rc = xlmig_random(data, FRAME_BYTES)) ||
	    (rc = identities(dir, &tls_src, &tls_dst)))
		goto cleanup;
	xlmig_conn_opts_default(&plain_src.o);
	plain_src.o.channels = bo.channels;
	plain_src.o.insecure = true;
	plain_dst.o = plain_src.o;
	plain_dst.o.max_channels = XLMIG_MAX_CHANNELS;
	tls_src.o = plain_src.o;
	tls_src.o.insecure = false;
	tls_src.o.tls = tls_src.tls;
	tls_dst.o = plain_dst.o;
	tls_dst.o.insecure = false;
	tls_dst.o.tls = tls_dst.tls;
	for (size_t l = 0; l < XLMIG_ARRAY_SIZE(links) && !rc; l++) {
		double wall[2][100], cpu[2][100];

		for (unsigned r = 0; r < bo.repeat && !rc; r++)
			for (int mode = 0; mode < 2 && !rc; mode++) {
				struct result res;

				rc = transfer(&bo, mode ? &tls_src : &plain_src, mode ? &tls_dst : &plain_dst,
					      links[l].rate, data, &res);
				if (rc)
					break;
				wall[mode][r] = res.wall_s;
				cpu[mode][r] = res.cpu_s;
				printf("{\"bench\":\"tls\",\"mode\":\"%s\",\"link\":\"%s\",\"round\":%u,"
				       "\"bytes\":%llu,\"channels\":%u,\"seconds\":%.3f,\"mb_s\":%.1f,"
				       "\"cpu_s\":%.3f}\n", mode ? "tls" : "plain", links[l].name, r,
				       (unsigned long long)bo.bytes, bo.channels, res.wall_s,
				       bo.bytes / res.wall_s / 1e6, res.cpu_s);
				fflush(stdout);
			}
		if (rc)
			break;
		double wp = median(wall[0], bo.repeat), wt = median(wall[1], bo.repeat);
		double cp = median(cpu[0], bo.repeat), ct = median(cpu[1], bo.repeat);
		double load[1] = { -1 };

		getloadavg(load, 1);
		printf("{\"bench\":\"tls\",\"summary\":true,\"link\":\"%s\",\"rounds\":%u,"
		       "\"plain_s\":%.3f,\"tls_s\":%.3f,\"time_ratio\":%.3f,\"cpu_ratio\":%.3f,"
		       "\"tls_cost_pct\":%.1f,\"tls_cores_at_1gbit\":%.3f,\"loadavg\":%.1f}\n",
		       links[l].name, bo.repeat, wp, wt, wt / wp, cp > 0 ? ct / cp : 0,
		       (wt - wp) / wp * 100, (ct - cp) / (double)bo.bytes * GBIT_BYTES, load[0]);
		fflush(stdout);
	}
cleanup:
	xlmig_tls_free(tls_src.tls);
	xlmig_tls_free(tls_dst.tls);
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		xlmig_warn("could not remove %s", dir);
out:
	if (rc)
		fprintf(stderr, "bench tls: %s\n", xlmig_errmsg());
	return rc ? 1 : 0;
}
