/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_openclose -- how long a legacy netmap application waits to open a
 * port: nm_open() then nm_close() of one port, -n times, each cycle timed.
 * The open-latency section of `make bench` runs it under LD_PRELOAD of
 * nmxdp's libnetmap.so.
 *
 *   nm_openclose -i netmap:eth0-0 -n 50                    first open
 *   nm_openclose -i netmap:eth0-1 -H netmap:eth0-0 -n 50   another queue
 *
 * With -H, that port is opened before the cycles and stays open, so the
 * cycles find the interface already set up.  -p is the pause between
 * cycles in milliseconds (default 20), so that the kernel's deferred
 * teardown of one close does not land on the next open.
 *
 * Prints one line per cycle, "cycle I MS open MS close MS", then
 * "nm_openclose: N cycles of PORT, median MS ms, p90 MS ms".  Exits 1 on
 * any error.
 */
#define _GNU_SOURCE
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: nm_openclose -i netmap:IFNAME-N [-n cycles] "
	    "[-H netmap:port-to-hold] [-p pause_ms]\n");
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank, as the bench harness computes it: p90 of 50 is the 45th. */
static double
quantile(const double *sorted, unsigned n, unsigned pct)
{
	unsigned rank = (n * pct + 99) / 100;

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static double
median(const double *sorted, unsigned n)
{
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	const char *port = NULL, *hold_name = NULL;
	unsigned long cycles = 50, pause_ms = 20;
	struct nm_desc *hold = NULL;
	double *ms;
	unsigned n = 0;
	int c, rc = 0;

	while ((c = getopt(argc, argv, "i:n:H:p:h")) != -1) {
		switch (c) {
		case 'i':
			port = optarg;
			break;
		case 'n':
			cycles = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			hold_name = optarg;
			break;
		case 'p':
			pause_ms = strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (port == NULL || cycles == 0 || cycles > 100000 || optind != argc) {
		usage(stderr);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ms = calloc(cycles, sizeof(*ms));
	if (ms == NULL) {
		perror("nm_openclose: calloc");
		return 1;
	}
	if (hold_name != NULL) {
		hold = nm_open(hold_name, NULL, 0, NULL);
		if (hold == NULL) {
			fprintf(stderr, "nm_openclose: cannot open %s (-H): %s\n",
			    hold_name, strerror(errno));
			free(ms);
			return 1;
		}
	}
	for (n = 0; n < cycles && !stop; n++) {
		struct nm_desc *d;
		double t0, t1, t2;

		t0 = now_sec();
		d = nm_open(port, NULL, 0, NULL);
		t1 = now_sec();
		if (d == NULL) {
			fprintf(stderr, "nm_openclose: cycle %u: cannot open %s: %s\n",
			    n + 1, port, strerror(errno));
			rc = 1;
			break;
		}
		nm_close(d);
		t2 = now_sec();
		ms[n] = (t2 - t0) * 1e3;
		printf("cycle %u %.3f open %.3f close %.3f\n", n + 1, ms[n],
		    (t1 - t0) * 1e3, (t2 - t1) * 1e3);
		fflush(stdout);
		usleep((useconds_t)(pause_ms * 1000));
	}
	if (hold != NULL)
		nm_close(hold);
	if (stop && n < cycles) {
		fprintf(stderr, "nm_openclose: interrupted\n");
		rc = 1;
	}
	if (rc == 0 && n > 0) {
		qsort(ms, n, sizeof(*ms), cmp_double);
		printf("nm_openclose: %u cycles of %s, median %.3f ms, p90 %.3f ms\n",
		    n, port, median(ms, n), quantile(ms, n, 90));
	}
	free(ms);
	return rc;
}
