/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_legacy -- a netmap application in the legacy style: the inline
 * library of <net/netmap_user.h> (NETMAP_WITH_LIBS), i.e. nm_open() with
 * NIOCREGIF, nm_inject(), nm_dispatch(), nm_nextpkt() and nm_close().
 *
 *   nm_legacy -i netmap:eth0 -f tx -n 1000 -l 60
 *   nm_legacy -i netmap:eth0 -f rx -n 1000          (nm_dispatch)
 *   nm_legacy -i netmap:eth0 -f rx-next -n 1000     (nm_nextpkt)
 *
 * Prints "sent N" or "received N bytes B"; exits 2 if a received test
 * frame was corrupted (see nm_frame.h), 1 on any other error.
 */
#define _GNU_SOURCE
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nm_frame.h"

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
	fprintf(f, "usage: nm_legacy -i netmap:IFNAME -f tx|rx|rx-next [-n count] "
	    "[-l len] [-W idle_ms]\n");
}

/* How many packets to ask nm_dispatch() for (0 = all it has). */
static int
batch(uint64_t count, uint64_t done)
{
	if (count == 0)
		return 0;
	return count - done > 1024 ? 1024 : (int)(count - done);
}

/* nm_dispatch() callback. */
static void
rx_cb(unsigned char *arg, const struct nm_pkthdr *h, const unsigned char *buf)
{
	frame_account((struct rx_stats *)(void *)arg, buf, h->len);
}

/* Wait (bounded) until no TX ring has packets in flight. */
static int
tx_drain(struct nm_desc *d)
{
	uint64_t deadline = now_ms() + 5000;

	ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
	for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);

		while (nm_tx_pending(ring)) {
			if (now_ms() > deadline) {
				fprintf(stderr, "nm_legacy: TX ring %u did not drain\n", r);
				return -1;
			}
			ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
			usleep(1);
		}
	}
	return 0;
}

static int
do_tx(struct nm_desc *d, uint64_t count, unsigned len)
{
	uint8_t frame[FRAME_MAX_LEN];
	uint64_t sent = 0;

	frame_init(frame, len);
	while ((count == 0 || sent < count) && !stop) {
		frame_set_seq(frame, sent);
		if (nm_inject(d, frame, len) > 0) {
			if ((++sent & 255) == 0)
				ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
			continue;
		}
		/* Every ring is full: push them out and wait for room. */
		struct pollfd pfd = { .fd = NETMAP_FD(d), .events = POLLOUT };

		ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
		if (poll(&pfd, 1, 2000) < 0 && errno != EINTR) {
			perror("nm_legacy: poll");
			return 1;
		}
		if (pfd.revents & POLLERR) {
			fprintf(stderr, "nm_legacy: poll: POLLERR on the TX rings\n");
			return 1;
		}
	}
	if (tx_drain(d) < 0)
		return 1;
	printf("sent %" PRIu64 "\n", sent);
	return 0;
}

static int
do_rx(struct nm_desc *d, uint64_t count, int use_next, unsigned idle_ms)
{
	struct rx_stats st;
	uint64_t last = now_ms();

	memset(&st, 0, sizeof(st));
	printf("ready: receiving on rings %u..%u, %u slots\n", d->first_rx_ring,
	    d->last_rx_ring, d->req.nr_rx_slots);
	fflush(stdout);
	while ((count == 0 || st.pkts < count) && !stop) {
		struct pollfd pfd = { .fd = NETMAP_FD(d), .events = POLLIN };
		uint64_t before = st.pkts + st.other;
		int r = poll(&pfd, 1, 100);

		if (r < 0 && errno != EINTR) {
			perror("nm_legacy: poll");
			return 1;
		}
		if (r > 0 && (pfd.revents & POLLERR)) {
			fprintf(stderr, "nm_legacy: poll: POLLERR on the RX rings\n");
			return 1;
		}
		if (use_next) {
			struct nm_pkthdr h;
			unsigned char *buf;

			while ((count == 0 || st.pkts < count) &&
			    (buf = nm_nextpkt(d, &h)) != NULL)
				frame_account(&st, buf, h.len);
		} else {
			while ((count == 0 || st.pkts < count) &&
			    nm_dispatch(d, batch(count, st.pkts), rx_cb,
			    (unsigned char *)&st) > 0)
				;
		}
		if (st.pkts + st.other != before)
			last = now_ms();
		else if (now_ms() - last >= idle_ms)
			break;
	}
	printf("received %" PRIu64 " bytes %" PRIu64 "\n", st.pkts, st.bytes);
	printf("bad %" PRIu64 " other %" PRIu64 " reordered %" PRIu64 "\n",
	    st.bad, st.other, st.reordered);
	return st.bad ? 2 : 0;
}

int
main(int argc, char **argv)
{
	const char *ifname = NULL, *func = "rx";
	uint64_t count = 0;
	unsigned len = 60, idle_ms = 3000;
	struct nm_desc *d;
	int c, ret;

	while ((c = getopt(argc, argv, "i:f:n:l:W:h")) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'f': func = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'l': len = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'W': idle_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (ifname == NULL || optind != argc || len < FRAME_MIN_LEN ||
	    len > FRAME_MAX_LEN || (strcmp(func, "tx") != 0 &&
	    strcmp(func, "rx") != 0 && strcmp(func, "rx-next") != 0)) {
		usage(stderr);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	d = nm_open(ifname, NULL, 0, NULL);
	if (d == NULL) {
		fprintf(stderr, "nm_legacy: nm_open(%s): %s\n", ifname,
		    errno ? strerror(errno) : "not a netmap port name");
		return 1;
	}
	if (strcmp(func, "tx") == 0)
		ret = do_tx(d, count, len);
	else
		ret = do_rx(d, count, strcmp(func, "rx-next") == 0, idle_ms);
	nm_close(d);
	return ret;
}
