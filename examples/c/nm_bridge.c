/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_bridge -- a two-port netmap bridge in the style of netmap's bridge
 * app, written for nmxdp (libnetmap API; no upstream code).
 *
 *   nm_bridge [-v] -i netmap:eth0 -i netmap:eth1 [-b burst] [-w wait] [-c]
 *             [-n count]
 *
 * Every packet received on one port is transmitted on the other.  When both
 * ports live in the same netmap region (libnetmap gives them the same
 * struct nmem_d, i.e. the same nr_mem_id) packets are forwarded without
 * copying by swapping the buffer indices of the RX and TX slots; -c forces
 * copying.
 *
 * The loop follows the netmap bridge: a side whose RX rings hold packets
 * waits for room on the peer (POLLOUT on the peer), otherwise it waits for
 * packets (POLLIN on itself).  Transmission relies on the next poll()
 * flushing the TX rings (netmap's default txpoll): there is no NIOCTXSYNC
 * in the loop.
 *
 * -n count (an extension for tests) stops after forwarding that many
 * packets in total; SIGINT and SIGTERM stop too.  At the end the TX rings
 * are flushed and drained, and stdout gets
 *
 *   forwarded a->b N b->a M copied X bytes
 *
 * X counting only the bytes this program copied itself (0 in zero-copy
 * mode).  Exit status: 0, or 1 on errors (open failure, poll failure, TX
 * rings that do not drain at the end).
 */
#define _GNU_SOURCE
#include <libnetmap.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BURST_DEFAULT  1024
#define BURST_MAX      8192
#define WAIT_DEFAULT   4
#define WAIT_MAX       100
#define POLL_MS        2500
#define DRAIN_MS       3000
#define BAD_WARN_MAX   10      /* bad-slot warnings printed before going quiet */

static volatile sig_atomic_t stop;
static int verbose;
static int zerocopy;
static uint64_t copied_bytes;
static uint64_t bad_slots;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: nm_bridge [-v] -i ifa -i ifb [-b burst] [-w wait] [-c] [-n count]\n"
	    "  -i PORT   the two ports (netmap:IFNAME...)\n"
	    "  -b N      slots moved per ring pass (1..%d, default %d)\n"
	    "  -w S      seconds to wait for the links before forwarding "
	    "(0..%d, default %d)\n"
	    "  -c        always copy (no buffer swapping)\n"
	    "  -n N      exit after forwarding N packets in total (0 = never)\n"
	    "  -v        verbose\n",
	    BURST_MAX, BURST_DEFAULT, WAIT_MAX, WAIT_DEFAULT);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Packets waiting in the RX rings of a port (slots between head and tail). */
static uint32_t
rx_waiting(const struct nmport_d *d)
{
	uint32_t n = 0;

	for (unsigned r = d->first_rx_ring; r <= d->last_rx_ring; r++)
		n += nm_ring_space(NETMAP_RXRING(d->nifp, r));
	return n;
}

static void
warn_bad(const char *what, unsigned ri, uint32_t slot, uint32_t idx)
{
	bad_slots++;
	if (bad_slots <= BAD_WARN_MAX)
		fprintf(stderr, "nm_bridge: %s ring %u slot %" PRIu32
		    " has invalid buf_idx %" PRIu32 "%s\n", what, ri, slot, idx,
		    bad_slots == BAD_WARN_MAX ? " (no more such warnings)" : "");
}

/*
 * Move up to 'limit' slots from one RX ring to one TX ring, starting at the
 * cur of each.  Returns the number of RX slots consumed; *pkts gets the
 * packets completed (slots without NS_MOREFRAG) that were forwarded.
 */
static uint32_t
move_ring(struct netmap_ring *rx, unsigned rxri, struct netmap_ring *tx,
    unsigned txri, uint32_t limit, uint64_t *pkts)
{
	uint32_t j = rx->cur, k = tx->cur, done = 0;
	uint32_t n = nm_ring_space(rx), room = nm_ring_space(tx);

	/* (this program always leaves cur == head, so the space from head is
	 * also the space from cur) */
	if (n > room)
		n = room;
	if (n > limit)
		n = limit;
	if (verbose > 1 && (rx->flags || tx->flags))
		fprintf(stderr, "nm_bridge: ring flags rx %#x tx %#x\n",
		    rx->flags, tx->flags);

	for (; done < n; done++) {
		struct netmap_slot *rs = &rx->slot[j];
		struct netmap_slot *ts = &tx->slot[k];
		uint16_t len = rs->len;

		if (rs->buf_idx < 2) {
			/* Nothing to send: drop the packet. */
			warn_bad("RX", rxri, j, rs->buf_idx);
			j = nm_ring_next(rx, j);
			continue;
		}
		if (ts->buf_idx < 2) {
			/* Cannot use this TX slot: leave both rings here. */
			warn_bad("TX", txri, k, ts->buf_idx);
			break;
		}
		if (len > rx->nr_buf_size) {
			if (verbose)
				fprintf(stderr, "nm_bridge: RX ring %u slot %" PRIu32
				    ": len %u > buffer size %" PRIu32 ", sent empty\n",
				    rxri, j, len, rx->nr_buf_size);
			len = 0;
		}
		if (len > tx->nr_buf_size)   /* regions with different buffer sizes */
			len = (uint16_t)tx->nr_buf_size;

		if (zerocopy) {
			uint32_t idx = ts->buf_idx;

			ts->buf_idx = rs->buf_idx;
			rs->buf_idx = idx;
			ts->flags = NS_BUF_CHANGED;
			rs->flags |= NS_BUF_CHANGED;
		} else {
			nm_pkt_copy(NETMAP_BUF(rx, rs->buf_idx),
			    NETMAP_BUF(tx, ts->buf_idx), len);
			copied_bytes += len;
			ts->flags = 0;
		}
		ts->len = len;
		ts->flags |= rs->flags & NS_MOREFRAG;
		if (!(rs->flags & NS_MOREFRAG))
			(*pkts)++;
		j = nm_ring_next(rx, j);
		k = nm_ring_next(tx, k);
	}
	rx->head = rx->cur = j;
	tx->head = tx->cur = k;
	return done;
}

/*
 * Forward what src has received to dst's TX rings, ring by ring, at most
 * 'limit' slots.  Returns the packets forwarded.
 */
static uint64_t
move(struct nmport_d *src, struct nmport_d *dst, uint32_t limit)
{
	unsigned si = src->first_rx_ring, di = dst->first_tx_ring;
	uint64_t pkts = 0;

	while (si <= src->last_rx_ring && di <= dst->last_tx_ring && limit > 0) {
		struct netmap_ring *rx = NETMAP_RXRING(src->nifp, si);
		struct netmap_ring *tx = NETMAP_TXRING(dst->nifp, di);
		uint32_t m;

		if (nm_ring_empty(rx)) {
			si++;
			continue;
		}
		if (nm_ring_empty(tx)) {
			di++;
			continue;
		}
		m = move_ring(rx, si, tx, di, limit, &pkts);
		if (m == 0)   /* a bad TX slot: try the next TX ring */
			di++;
		limit -= m;
	}
	return pkts;
}

/* Flush the TX rings of d and wait (until deadline) for them to complete. */
static int
drain(struct nmport_d *d, const char *name, uint64_t deadline)
{
	ioctl(d->fd, NIOCTXSYNC, NULL);
	for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);

		while (nm_tx_pending(ring)) {
			if (mono_ms() > deadline) {
				fprintf(stderr, "nm_bridge: %s: TX ring %u did not drain "
				    "(head %" PRIu32 " tail %" PRIu32 ")\n", name, r,
				    ring->head, ring->tail);
				return -1;
			}
			usleep(1000);
			ioctl(d->fd, NIOCTXSYNC, NULL);
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *ifa = NULL, *ifb = NULL;
	struct nmport_d *pa, *pb;
	struct sigaction sa;
	uint64_t count = 0, ab = 0, ba = 0, deadline;
	long burst = BURST_DEFAULT, wait_s = WAIT_DEFAULT;
	int c, copy = 0, err = 0;

	while ((c = getopt(argc, argv, "vi:b:w:cn:h")) != -1) {
		switch (c) {
		case 'v':
			verbose++;
			break;
		case 'i':
			if (ifa == NULL) {
				ifa = optarg;
			} else if (ifb == NULL) {
				ifb = optarg;
			} else {
				fprintf(stderr, "nm_bridge: more than two -i\n");
				usage(stderr);
				return 1;
			}
			break;
		case 'b':
			burst = strtol(optarg, NULL, 0);
			break;
		case 'w':
			wait_s = strtol(optarg, NULL, 0);
			break;
		case 'c':
			copy = 1;
			break;
		case 'n':
			count = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (ifa == NULL || ifb == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (strcmp(ifa, ifb) == 0) {
		fprintf(stderr, "nm_bridge: the two ports must differ\n");
		return 1;
	}
	if (burst < 1 || burst > BURST_MAX) {
		fprintf(stderr, "nm_bridge: burst must be 1..%d\n", BURST_MAX);
		return 1;
	}
	if (wait_s < 0 || wait_s > WAIT_MAX) {
		fprintf(stderr, "nm_bridge: wait must be 0..%d seconds\n", WAIT_MAX);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;   /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	pa = nmport_open(ifa);
	if (pa == NULL) {
		fprintf(stderr, "nm_bridge: cannot open %s: %s\n", ifa, strerror(errno));
		return 1;
	}
	pb = nmport_open(ifb);
	if (pb == NULL) {
		fprintf(stderr, "nm_bridge: cannot open %s: %s\n", ifb, strerror(errno));
		nmport_close(pa);
		return 1;
	}
	zerocopy = !copy && pa->mem == pb->mem;
	printf("------- zerocopy %s\n", zerocopy ? "supported" : "NOT supported");
	if (verbose)
		fprintf(stderr, "nm_bridge: %s: mem id %u, %u/%u rings; "
		    "%s: mem id %u, %u/%u rings; burst %ld\n",
		    ifa, pa->reg.nr_mem_id, pa->reg.nr_tx_rings, pa->reg.nr_rx_rings,
		    ifb, pb->reg.nr_mem_id, pb->reg.nr_tx_rings, pb->reg.nr_rx_rings,
		    burst);
	fflush(stdout);
	if (wait_s > 0) {
		fprintf(stderr, "nm_bridge: waiting %ld s for the links\n", wait_s);
		sleep((unsigned)wait_s);
	}
	printf("ready: bridging %s <-> %s\n", ifa, ifb);
	fflush(stdout);

	while (!stop && (count == 0 || ab + ba < count)) {
		struct pollfd pfd[2];
		uint32_t wa = rx_waiting(pa), wb = rx_waiting(pb);
		uint32_t limit = (uint32_t)burst;
		int n;

		memset(pfd, 0, sizeof(pfd));
		pfd[0].fd = pa->fd;
		pfd[1].fd = pb->fd;
		if (wa)   /* a has packets: wait for room on b */
			pfd[1].events |= POLLOUT;
		else
			pfd[0].events |= POLLIN;
		if (wb)
			pfd[0].events |= POLLOUT;
		else
			pfd[1].events |= POLLIN;

		n = poll(pfd, 2, POLL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("nm_bridge: poll");
			err = 1;
			break;
		}
		if (n == 0) {
			if (verbose)
				fprintf(stderr, "nm_bridge: poll timeout, waiting a %" PRIu32
				    " b %" PRIu32 ", forwarded a->b %" PRIu64 " b->a %" PRIu64
				    "\n", wa, wb, ab, ba);
			continue;
		}
		if ((pfd[0].revents | pfd[1].revents) & POLLERR)
			fprintf(stderr, "nm_bridge: POLLERR on %s\n",
			    (pfd[0].revents & POLLERR) ? ifa : ifb);
		if (count) {
			uint64_t left = count - ab - ba;

			if (left < limit)
				limit = (uint32_t)left;
		}
		if (pfd[0].revents & POLLOUT) {
			uint64_t m = move(pb, pa, limit);

			ba += m;
			if (count && (uint64_t)limit > m)
				limit -= (uint32_t)m;
			else if (count)
				limit = 0;
		}
		if ((pfd[1].revents & POLLOUT) && limit > 0)
			ab += move(pa, pb, limit);
		if (verbose > 1)
			fprintf(stderr, "nm_bridge: a->b %" PRIu64 " b->a %" PRIu64 "\n",
			    ab, ba);
	}

	/* Flush what the last moves left in the TX rings. */
	deadline = mono_ms() + DRAIN_MS;
	if (drain(pa, ifa, deadline) < 0)
		err = 1;
	if (drain(pb, ifb, deadline) < 0)
		err = 1;
	if (bad_slots)
		fprintf(stderr, "nm_bridge: %" PRIu64 " slots with an invalid buffer\n",
		    bad_slots);
	printf("forwarded a->b %" PRIu64 " b->a %" PRIu64 " copied %" PRIu64 " bytes\n",
	    ab, ba, copied_bytes);
	fflush(stdout);
	nmport_close(pb);
	nmport_close(pa);
	return err;
}
