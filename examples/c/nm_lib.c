/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_lib -- a multi-threaded netmap application in the libnetmap style of
 * pkt-gen: nmport_open() (or nmport_prepare() + nmport_open_desc()), one
 * descriptor per thread obtained with nmport_clone() and bound to one
 * hardware ring pair, pkt-gen's TX loop (buffers rewritten only when the
 * slot says NS_BUF_CHANGED) and RX loop.
 *
 *   nm_lib -i netmap:eth0 -f tx -n 1000 -l 60 -p 2
 *   nm_lib -i netmap:eth0@conf:rx-slots=4096 -f rx -n 1000 -p 2
 *
 * With -p N > 1, thread i works on ring pair i.  Prints "sent N" or
 * "received N" (the sum over the threads); exits 2 if a received test
 * frame was corrupted (see nm_frame.h), 1 on any other error.
 */
#define _GNU_SOURCE
#include <libnetmap.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nm_frame.h"

#define MAX_THREADS  64
#define BURST        512

struct thread {
	pthread_t tid;
	int id;
	struct nmport_d *d;
	uint64_t count;         /* tx: packets to send */
	uint64_t sent;
	struct rx_stats st;
	int started;
	int err;
};

static volatile sig_atomic_t stop;
static unsigned frame_len = 60, idle_ms = 3000;
static uint64_t rx_count;               /* rx: total to receive, 0 = forever */
static atomic_uint_fast64_t rx_total;   /* rx: received by all threads */

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: nm_lib -i PORT -f tx|rx [-n count] [-l len] [-p threads] "
	    "[-W idle_ms]\n");
}

/* pkt-gen's send_packets(): fill up to 'count' slots of one ring. */
static unsigned
send_packets(struct netmap_ring *ring, const uint8_t *frame, unsigned count,
    uint64_t *seq)
{
	unsigned n = nm_ring_space(ring), sent;
	uint32_t head = ring->head;

	if (n > count)
		n = count;
	for (sent = 0; sent < n; sent++) {
		struct netmap_slot *slot = &ring->slot[head];
		uint8_t *buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);

		if (slot->flags & NS_BUF_CHANGED) /* a buffer we never wrote */
			memcpy(buf, frame, frame_len);
		slot->flags = 0;
		frame_set_seq(buf, (*seq)++);
		slot->len = (uint16_t)frame_len;
		if (sent == n - 1)
			slot->flags |= NS_REPORT;
		head = nm_ring_next(ring, head);
	}
	ring->head = ring->cur = head;
	if (n < count)  /* no room for the whole burst: wake me when there is */
		ring->cur = ring->tail;
	return n;
}

static void *
sender(void *arg)
{
	struct thread *t = arg;
	struct nmport_d *d = t->d;
	uint8_t frame[FRAME_MAX_LEN];
	uint64_t seq = (uint64_t)t->id << 48, deadline;

	frame_init(frame, frame_len);
	for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);

		for (uint32_t i = 0; i < ring->num_slots; i++)
			ring->slot[i].flags = NS_BUF_CHANGED;
	}
	while ((t->count == 0 || t->sent < t->count) && !stop) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLOUT };

		if (poll(&pfd, 1, 2000) < 0 && errno != EINTR) {
			perror("nm_lib: poll");
			t->err = 1;
			return NULL;
		}
		if (pfd.revents & POLLERR) {
			fprintf(stderr, "nm_lib: thread %d: POLLERR on the TX rings\n", t->id);
			t->err = 1;
			return NULL;
		}
		for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
			struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);
			uint64_t left = t->count ? t->count - t->sent : BURST;

			if (left == 0)
				break;
			if (nm_ring_empty(ring))
				continue;
			t->sent += send_packets(ring, frame,
			    left < BURST ? (unsigned)left : BURST, &seq);
		}
	}

	/* Flush and wait for every slot to complete, as pkt-gen does. */
	ioctl(d->fd, NIOCTXSYNC, NULL);
	deadline = now_ms() + 5000;
	for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);

		while (nm_tx_pending(ring)) {
			if (now_ms() > deadline) {
				fprintf(stderr, "nm_lib: thread %d: TX ring %u did not drain\n",
				    t->id, r);
				t->err = 1;
				return NULL;
			}
			ioctl(d->fd, NIOCTXSYNC, NULL);
			usleep(1);
		}
	}
	return NULL;
}

static void *
receiver(void *arg)
{
	struct thread *t = arg;
	struct nmport_d *d = t->d;
	uint64_t last = now_ms();

	while (!stop && (rx_count == 0 || atomic_load(&rx_total) < rx_count)) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
		uint64_t got = 0;
		int n = poll(&pfd, 1, 1000);

		if (n < 0 && errno != EINTR) {
			perror("nm_lib: poll");
			t->err = 1;
			break;
		}
		if (n > 0 && (pfd.revents & POLLERR)) {
			fprintf(stderr, "nm_lib: thread %d: POLLERR on the RX rings\n", t->id);
			t->err = 1;
			break;
		}
		for (unsigned r = d->first_rx_ring; r <= d->last_rx_ring; r++) {
			struct netmap_ring *ring = NETMAP_RXRING(d->nifp, r);
			uint32_t head = ring->head;

			for (; head != ring->tail; head = nm_ring_next(ring, head)) {
				struct netmap_slot *slot = &ring->slot[head];

				got += frame_account(&t->st, (const uint8_t *)NETMAP_BUF(ring,
				    slot->buf_idx), slot->len);
			}
			ring->head = ring->cur = head;
		}
		if (got > 0) {
			atomic_fetch_add(&rx_total, got);
			last = now_ms();
		} else if (now_ms() - last >= idle_ms) {
			break;
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *ifname = NULL, *func = "rx";
	struct thread th[MAX_THREADS];
	struct rx_stats tot;
	uint64_t count = 0, sent = 0;
	int c, nthreads = 1, tx, err = 0;

	while ((c = getopt(argc, argv, "i:f:n:l:p:W:h")) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'f': func = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'l': frame_len = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': nthreads = atoi(optarg); break;
		case 'W': idle_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (ifname == NULL || optind != argc || frame_len < FRAME_MIN_LEN ||
	    frame_len > FRAME_MAX_LEN || nthreads < 1 || nthreads > MAX_THREADS ||
	    (strcmp(func, "tx") != 0 && strcmp(func, "rx") != 0)) {
		usage(stderr);
		return 1;
	}
	tx = strcmp(func, "tx") == 0;
	rx_count = count;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Thread 0 uses the main descriptor; with several threads it is bound
	 * to ring pair 0 only, like pkt-gen does. */
	memset(th, 0, sizeof(th));
	if (nthreads == 1) {
		th[0].d = nmport_open(ifname);
	} else {
		th[0].d = nmport_prepare(ifname);
		if (th[0].d != NULL) {
			th[0].d->reg.nr_mode = NR_REG_ONE_NIC;
			th[0].d->reg.nr_ringid = 0;
			if (nmport_open_desc(th[0].d) < 0) {
				int e = errno;

				nmport_undo_prepare(th[0].d);
				th[0].d = NULL;
				errno = e;
			}
		}
	}
	if (th[0].d == NULL) {
		fprintf(stderr, "nm_lib: cannot open %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	if ((unsigned)nthreads > (tx ? th[0].d->reg.nr_tx_rings : th[0].d->reg.nr_rx_rings)) {
		fprintf(stderr, "nm_lib: %s has %u %s rings, fewer than %d threads\n",
		    ifname, tx ? th[0].d->reg.nr_tx_rings : th[0].d->reg.nr_rx_rings,
		    func, nthreads);
		nmport_close(th[0].d);
		return 1;
	}
	for (int i = 1; i < nthreads; i++) {
		th[i].d = nmport_clone(th[0].d);
		if (th[i].d == NULL) {
			fprintf(stderr, "nm_lib: nmport_clone: %s\n", strerror(errno));
			err = 1;
			break;
		}
		th[i].d->reg.nr_mode = NR_REG_ONE_NIC;
		th[i].d->reg.nr_ringid = (uint16_t)i;
		if (nmport_open_desc(th[i].d) < 0) {
			fprintf(stderr, "nm_lib: %s ring %d: %s\n", ifname, i, strerror(errno));
			nmport_undo_prepare(th[i].d);
			th[i].d = NULL;
			err = 1;
			break;
		}
	}
	if (!tx) {
		printf("ready: receiving on %s with %d thread(s), %u slots per ring\n",
		    ifname, nthreads, th[0].d->reg.nr_rx_slots);
		fflush(stdout);
	}

	for (int i = 0; i < nthreads && !err; i++) {
		th[i].id = i;
		th[i].count = count / (uint64_t)nthreads +
		    (i == 0 ? count % (uint64_t)nthreads : 0);
		if (pthread_create(&th[i].tid, NULL, tx ? sender : receiver, &th[i]) != 0) {
			fprintf(stderr, "nm_lib: pthread_create failed\n");
			stop = 1;
			err = 1;
		} else {
			th[i].started = 1;
		}
	}
	memset(&tot, 0, sizeof(tot));
	for (int i = 0; i < nthreads; i++) {
		if (th[i].d == NULL)
			break;
		if (th[i].started) {
			pthread_join(th[i].tid, NULL);
			if (tx)
				fprintf(stderr, "nm_lib: thread %d: sent %" PRIu64 "\n",
				    i, th[i].sent);
			else
				fprintf(stderr, "nm_lib: thread %d: received %" PRIu64 "\n",
				    i, th[i].st.pkts);
		}
		sent += th[i].sent;
		rx_stats_add(&tot, &th[i].st);
		err |= th[i].err;
		nmport_close(th[i].d);
	}
	if (tx) {
		printf("sent %" PRIu64 "\n", sent);
	} else {
		printf("received %" PRIu64 "\n", tot.pkts);
		printf("bytes %" PRIu64 " bad %" PRIu64 " other %" PRIu64
		    " reordered %" PRIu64 "\n", tot.bytes, tot.bad, tot.other,
		    tot.reordered);
	}
	if (err)
		return 1;
	return tot.bad ? 2 : 0;
}
