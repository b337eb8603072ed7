/*
 * labclock.c - set one lab dom0's clock to another's, to a few
 * milliseconds, so that a guest moved between the two sees only the time
 * it was really stopped.
 *
 *   labclock serve PORT        answer each byte received with our time
 *   labclock sync HOST PORT    step our clock to HOST's and print the offset
 *
 * Each QEMU host starts with its wall clock read from an emulated RTC that
 * has one-second resolution, so two lab hosts differ by up to a second.
 * dom0 Linux passes a clock it was told to set on to Xen, and Xen to every
 * guest's wall clock, which is what a guest's CLOCK_BOOTTIME follows
 * across a migration.  The sync takes the reply with the shortest round
 * trip and assumes it was symmetric.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 16

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void no_delay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4)) {
		perror("labclock: listen");
		return 1;
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		char c;

		if (fd < 0)
			continue;
		no_delay(fd);
		while (read(fd, &c, 1) == 1) {
			int64_t now = realtime_ns();

			if (write(fd, &now, sizeof(now)) != sizeof(now))
				break;
		}
		close(fd);
	}
}

static int sync_to(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int64_t best_rtt = INT64_MAX, best_offset = 0;
	struct timespec ts;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("labclock: connect");
		return 1;
	}
	no_delay(fd);
	for (int i = 0; i < ROUNDS; i++) {
		int64_t t0 = realtime_ns(), theirs, t1;

		if (write(fd, "?", 1) != 1 || read(fd, &theirs, sizeof(theirs)) != sizeof(theirs)) {
			fprintf(stderr, "labclock: %s stopped answering\n", host);
			return 1;
		}
		t1 = realtime_ns();
		if (t1 - t0 < best_rtt) {
			best_rtt = t1 - t0;
			best_offset = theirs - (t0 + t1) / 2;
		}
	}
	close(fd);
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t target = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + best_offset;
	ts.tv_sec = target / 1000000000;
	ts.tv_nsec = target % 1000000000;
	if (clock_settime(CLOCK_REALTIME, &ts)) {
		perror("labclock: clock_settime");
		return 1;
	}
	printf("offset_ms=%.1f rtt_ms=%.1f\n", best_offset / 1e6, best_rtt / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "sync"))
		return sync_to(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: labclock serve PORT | labclock sync HOST PORT\n");
	return 2;
}
