/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_raw -- a netmap application written against the bare kernel
 * interface: open("/dev/netmap"), ioctl(NIOCREGIF) with the legacy struct
 * nmreq, mmap() of the region, poll() and NIOCTXSYNC, and only the macros
 * of <net/netmap_user.h> to find the interface, rings and buffers.  No
 * library function is called.
 *
 *   nm_raw -i netmap:eth0 -f tx -n 1000 -l 60
 *   nm_raw -i netmap:eth0 -f rx -n 1000
 *
 * Prints "sent N" or "received N bytes B"; exits 2 if a received test
 * frame was corrupted (see nm_frame.h), 1 on any other error.
 */
#define _GNU_SOURCE
#include <net/netmap.h>
#include <net/netmap_user.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
	fprintf(f, "usage: nm_raw -i [netmap:]IFNAME -f tx|rx [-n count] [-l len] "
	    "[-W idle_ms]\n");
}

static int
do_tx(int fd, struct netmap_if *nifp, unsigned nrings, uint64_t count,
    unsigned len)
{
	uint8_t frame[FRAME_MAX_LEN];
	uint64_t sent = 0, deadline;

	frame_init(frame, len);
	while ((count == 0 || sent < count) && !stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (poll(&pfd, 1, 2000) < 0 && errno != EINTR) {
			perror("nm_raw: poll");
			return 1;
		}
		if (pfd.revents & POLLERR) {
			fprintf(stderr, "nm_raw: poll: POLLERR on the TX rings\n");
			return 1;
		}
		for (unsigned r = 0; r < nrings; r++) {
			struct netmap_ring *ring = NETMAP_TXRING(nifp, r);
			uint32_t head = ring->head;

			while (head != ring->tail && (count == 0 || sent < count)) {
				struct netmap_slot *slot = &ring->slot[head];
				uint8_t *buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);

				frame_set_seq(frame, sent++);
				memcpy(buf, frame, len);
				slot->len = (uint16_t)len;
				slot->flags = 0;
				head = nm_ring_next(ring, head);
			}
			ring->head = ring->cur = head;
		}
	}

	/* Flush, then wait until every slot has been transmitted. */
	deadline = now_ms() + 5000;
	ioctl(fd, NIOCTXSYNC, NULL);
	for (unsigned r = 0; r < nrings; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(nifp, r);

		while (nm_tx_pending(ring)) {
			if (now_ms() > deadline) {
				fprintf(stderr, "nm_raw: TX ring %u did not drain\n", r);
				return 1;
			}
			ioctl(fd, NIOCTXSYNC, NULL);
			usleep(1);
		}
	}
	printf("sent %" PRIu64 "\n", sent);
	return 0;
}

static int
do_rx(int fd, struct netmap_if *nifp, unsigned nrings, uint64_t count,
    unsigned idle_ms)
{
	struct rx_stats st;
	uint64_t last = now_ms();

	memset(&st, 0, sizeof(st));
	printf("ready: receiving on %u rings of %u slots\n", nrings,
	    NETMAP_RXRING(nifp, 0)->num_slots);
	fflush(stdout);
	while ((count == 0 || st.pkts < count) && !stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t before = st.pkts + st.other;
		int n = poll(&pfd, 1, 100);

		if (n < 0 && errno != EINTR) {
			perror("nm_raw: poll");
			return 1;
		}
		if (n > 0 && (pfd.revents & POLLERR)) {
			fprintf(stderr, "nm_raw: poll: POLLERR on the RX rings\n");
			return 1;
		}
		for (unsigned r = 0; r < nrings; r++) {
			struct netmap_ring *ring = NETMAP_RXRING(nifp, r);
			uint32_t head = ring->head;

			while (head != ring->tail && (count == 0 || st.pkts < count)) {
				struct netmap_slot *slot = &ring->slot[head];

				frame_account(&st, (const uint8_t *)NETMAP_BUF(ring,
				    slot->buf_idx), slot->len);
				head = nm_ring_next(ring, head);
			}
			ring->head = ring->cur = head;
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
	struct nmreq req;
	struct netmap_if *nifp;
	void *mem;
	int c, fd, ret;

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
	    strcmp(func, "rx") != 0)) {
		usage(stderr);
		return 1;
	}
	if (strncmp(ifname, "netmap:", 7) == 0)
		ifname += 7;
	if (ifname[0] == '\0' || strlen(ifname) >= sizeof(req.nr_name) ||
	    strpbrk(ifname, "-*^{}/@:") != NULL) {
		fprintf(stderr, "nm_raw: %s: only plain interface names "
		    "(all hardware rings) are supported\n", ifname);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	fd = open("/dev/netmap", O_RDWR);
	if (fd < 0) {
		perror("nm_raw: /dev/netmap");
		return 1;
	}
	memset(&req, 0, sizeof(req));
	strncpy(req.nr_name, ifname, sizeof(req.nr_name) - 1);
	req.nr_version = NETMAP_API;
	req.nr_flags = NR_REG_ALL_NIC;
	if (ioctl(fd, NIOCREGIF, &req) < 0) {
		fprintf(stderr, "nm_raw: NIOCREGIF %s: %s\n", ifname, strerror(errno));
		close(fd);
		return 1;
	}
	mem = mmap(NULL, req.nr_memsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("nm_raw: mmap");
		close(fd);
		return 1;
	}
	nifp = NETMAP_IF(mem, req.nr_offset);

	if (strcmp(func, "tx") == 0)
		ret = do_tx(fd, nifp, req.nr_tx_rings, count, len);
	else
		ret = do_rx(fd, nifp, req.nr_rx_rings, count, idle_ms);
	munmap(mem, req.nr_memsize);
	close(fd);
	return ret;
}
