/*
 * workload.c - the lab guest's workload: a counter the host can follow
 * across a migration, a gauge of the pauses the guest lived through, and
 * an optional memory dirtier.
 *
 * It runs as the guest's only program, on its console (hvc0), and prints:
 *   XLG start boot=ID tick=MS                 once, at start
 *   XLG n=N boot=ID bt=MS dirty=R wrote=P     once a second (N from 1)
 *   XLG gap n=N boot=ID ms=MS                 after a pause longer than
 *                                             GAP_REPORT_MS
 * bt is CLOCK_BOOTTIME, which goes on across a suspend (Linux adds the
 * time the Xen wall clock says passed), so the gap between two ticks is
 * the time the guest was stopped, as the guest itself saw it.  R is the
 * dirtying rate asked for (MiB/s), P the pages it wrote since the last
 * line: what it achieved, less than asked when it cannot keep up (under
 * the emulator, a write the hypervisor's dirty log traps costs a lot).
 * The ID comes from the kernel's boot_id: a guest that was rebooted
 * instead of migrated shows a new one.
 *
 * Commands arrive on stdin, one per line:
 *   dirty RATE WSS   dirty RATE MiB/s spread over a WSS MiB buffer
 *   idle             stop dirtying, free the buffer
 *   crash            exit, so that the guest's kernel panics
 * The environment variables xlg_dirty and xlg_wss (from the guest kernel
 * command line) set the dirtying at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 10
#define GAP_REPORT_MS 100
#define PAGE 4096u
#define MIB (1024u * 1024u)

struct dirtier {
	unsigned char *buf;
	size_t pages;
	size_t next;            /* next page to write */
	unsigned rate_mib;      /* MiB per second */
	double owed;            /* pages owed to the rate, fractional */
	uint64_t written;       /* pages written since the last report */
	uint64_t seed;
};

static uint64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void dirtier_stop(struct dirtier *d)
{
	free(d->buf);
	d->buf = NULL;
	d->pages = 0;
	d->rate_mib = 0;
	d->owed = 0;
}

static int dirtier_start(struct dirtier *d, unsigned rate_mib, unsigned wss_mib)
{
	dirtier_stop(d);
	if (!rate_mib || !wss_mib)
		return 0;
	d->buf = malloc((size_t)wss_mib * MIB);
	if (!d->buf)
		return -1;
	/* Touch every page so the whole set is guest memory from now on. */
	memset(d->buf, 0x5a, (size_t)wss_mib * MIB);
	d->pages = (size_t)wss_mib * MIB / PAGE;
	d->next = 0;
	d->rate_mib = rate_mib;
	return 0;
}

/* Write 64 fresh random bytes into each page due, so that neither zero
 * elision nor a delta against an old copy makes the page free to send. */
static void dirtier_run(struct dirtier *d, uint64_t elapsed_ms)
{
	size_t n;

	if (!d->buf)
		return;
	d->owed += (double)d->rate_mib * MIB / PAGE * (double)elapsed_ms / 1000.0;
	for (n = (size_t)d->owed; n > 0; n--) {
		uint64_t *p = (uint64_t *)(d->buf + d->next * PAGE +
					   (next_random(&d->seed) % (PAGE / 64)) * 64);
		for (int i = 0; i < 8; i++)
			p[i] = next_random(&d->seed);
		d->next = (d->next + 1) % d->pages;
		d->written++;
	}
	d->owed -= (double)(size_t)d->owed;
}

static void read_boot_id(char *out, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	snprintf(out, len, "unknown");
	if (f) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "-\n")] = '\0';
		fclose(f);
	}
}

static void handle_command(struct dirtier *d, char *line)
{
	unsigned rate, wss;

	if (sscanf(line, "dirty %u %u", &rate, &wss) == 2) {
		if (dirtier_start(d, rate, wss) < 0)
			printf("XLG error no memory for %u MiB\n", wss);
		else
			printf("XLG dirtying rate=%u wss=%u\n", rate, wss);
	} else if (!strncmp(line, "idle", 4)) {
		dirtier_stop(d);
		printf("XLG idle\n");
	} else if (!strncmp(line, "crash", 5)) {
		/* The workload is init: its exit panics the kernel, and Xen
		 * keeps the crashed domain (on_crash="preserve"). */
		printf("XLG crashing\n");
		exit(1);
	}
}

/* Collect stdin into lines; a line longer than the buffer is dropped. */
static void read_commands(struct dirtier *d, char *acc, size_t *used, size_t cap)
{
	ssize_t r = read(0, acc + *used, cap - 1 - *used);
	char *nl;

	if (r <= 0)
		return;
	*used += (size_t)r;
	acc[*used] = '\0';
	while ((nl = strchr(acc, '\n')) || (nl = strchr(acc, '\r'))) {
		*nl = '\0';
		handle_command(d, acc);
		*used -= (size_t)(nl + 1 - acc);
		memmove(acc, nl + 1, *used + 1);
	}
	if (*used == cap - 1)
		*used = 0;
}

static unsigned env_unsigned(const char *name)
{
	const char *v = getenv(name);

	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

int main(void)
{
	struct dirtier d = { .seed = 0x9e3779b97f4a7c15ull };
	char boot[40], acc[256];
	size_t used = 0;
	uint64_t n = 0, ticks = 0, last_bt, last_mono, start_mono, next_print;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	read_boot_id(boot, sizeof(boot));
	d.seed ^= (uint64_t)now_ms(CLOCK_REALTIME);
	printf("XLG start boot=%s tick=%d\n", boot, TICK_MS);
	if (dirtier_start(&d, env_unsigned("xlg_dirty"), env_unsigned("xlg_wss")) < 0)
		printf("XLG error no memory for the initial dirty set\n");
	start_mono = last_mono = now_ms(CLOCK_MONOTONIC);
	next_print = start_mono + 1000;
	last_bt = now_ms(CLOCK_BOOTTIME);
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		uint64_t deadline = start_mono + (ticks + 1) * TICK_MS;
		uint64_t mono = now_ms(CLOCK_MONOTONIC), bt;
		int wait = deadline > mono ? (int)(deadline - mono) : 0;

		if (poll(&pfd, 1, wait) > 0)
			read_commands(&d, acc, &used, sizeof(acc));
		mono = now_ms(CLOCK_MONOTONIC);
		if (mono < deadline)
			continue;
		/* After a long stop, count from now instead of catching up. */
		ticks = (mono - start_mono) / TICK_MS;
		bt = now_ms(CLOCK_BOOTTIME);
		if (bt - last_bt > GAP_REPORT_MS + TICK_MS)
			printf("XLG gap n=%" PRIu64 " boot=%s ms=%" PRIu64 "\n", n, boot,
			       bt - last_bt - TICK_MS);
		dirtier_run(&d, mono - last_mono);
		if (mono >= next_print) {
			next_print = mono + 1000 - (mono - next_print) % 1000;
			printf("XLG n=%" PRIu64 " boot=%s bt=%" PRIu64 " dirty=%u wrote=%" PRIu64 "\n",
			       ++n, boot, bt, d.rate_mib, d.written);
			d.written = 0;
		}
		last_bt = bt;
		last_mono = mono;
	}
}
