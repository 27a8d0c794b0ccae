/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_lib -- a multi-threaded netmap application in the libnetmap style of
 * pkt-gen: nmport_open() (or nmport_prepare() + nmport_open_desc()), one
 * descriptor per thread obtained with nmport_clone() and bound to one
 * hardware ring pair, pkt-gen's TX loop (buffers rewritten only when the
 * slot says NS_BUF_CHANGED) and RX loop.
 *
 *   nm_lib -i netmap:eth0 -f tx -n 1000 -l 60 -p 2
 *   nm_lib -i netmap:eth0 -f tx -n 1000 -l 9000 -R 50000
 *   nm_lib -i netmap:eth0@conf:rx-slots=4096 -f rx -n 1000 -p 2
 *   nm_lib -i netmap:eth1 -f pong [-n count] [-B]
 *   nm_lib -i netmap:eth0 -f ping -n count -l 60 [-B]
 *
 * Frames longer than a slot carries (-l up to 65535, e.g. 9000 with MTU 9000)
 * go as NS_MOREFRAG chains of NMXDP_SLOT_ROOM(ring) bytes per slot, as
 * upstream apps cut them by nr_buf_size; the receiver counts and checks a
 * chain as one frame.  -R limits the sending rate (frames per second over
 * all threads).
 *
 * With -p N > 1, thread i works on ring pair i.  Prints "sent N" or
 * "received N" (the sum over the threads); exits 2 if a received test
 * frame was corrupted (see nm_frame.h), 1 on any other error.
 *
 * ping/pong (one thread, one frame in flight): ping sends frame n, waits
 * for its echo and records the round trip; an echo missing after 100 ms is
 * counted lost and the next ping goes out; the first 1% (at least 10) round
 * trips are warm-up, not recorded.  It prints pkt-gen's "RTT over N packets:
 * min X av Y ns" and the bench's line "latency: rtts=N lost=L min_ns=..
 * p50_ns=.. p99_ns=.. avg_ns=.. max_ns=.. rate=R" (nearest-rank percentiles
 * on the exact samples, as examples/pkt-gen/src/latency.rs).  pong echoes
 * every frame received with the Ethernet and IPv4 addresses swapped, and
 * prints "pong: echoed N frames, D dropped".  They wait in poll(), or with
 * -B spin on NIOCTXSYNC/NIOCRXSYNC (pkt-gen's -DBUSYWAIT build).
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
#define RESEND_NS    100000000ULL      /* a ping unanswered this long is lost */
#define PONG_POLL_MS 100               /* pong's poll timeout: prompt exit on a signal */
#define SPINS_PER_CLOCK 1024           /* busy-wait spins between two looks at the clock */

struct thread {
	pthread_t tid;
	int id;
	struct nmport_d *d;
	uint64_t count;         /* tx: packets to send */
	uint64_t rate;          /* tx: frames per second, 0 = no limit */
	uint64_t sent;
	struct rx_stats st;
	uint8_t *chain;         /* rx: the chain being gathered (FRAME_JUMBO_LEN bytes) */
	unsigned chain_len;
	int started;
	int err;
};

static volatile sig_atomic_t stop;
static unsigned frame_len = 60, idle_ms = 3000;
static unsigned burst = BURST;          /* -b: slots per ring and pass */
static uint64_t tx_rate;                /* -R: frames per second, all threads */
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
	    "[-W idle_ms] [-b burst] [-R rate]\n"
	    "       nm_lib -i PORT -f ping -n count [-l len] [-B]\n"
	    "       nm_lib -i PORT -f pong [-n count] [-B]\n");
}

/* Queue one frame longer than a slot as an NS_MOREFRAG chain from 'head';
 * returns the slot after it.  The whole frame is copied: its pieces land in
 * other slots from one frame to the next. */
static uint32_t
send_chain(struct netmap_ring *ring, uint32_t head, const uint8_t *frame,
    unsigned room)
{
	for (unsigned off = 0; off < frame_len; off += room) {
		struct netmap_slot *slot = &ring->slot[head];
		unsigned len = frame_len - off < room ? frame_len - off : room;

		memcpy(NETMAP_BUF(ring, slot->buf_idx), frame + off, len);
		slot->len = (uint16_t)len;
		slot->flags = off + len < frame_len ? NS_MOREFRAG : 0;
		head = nm_ring_next(ring, head);
	}
	return head;
}

/* pkt-gen's send_packets(): queue up to 'count' frames on one ring. */
static unsigned
send_packets(struct netmap_ring *ring, uint8_t *frame, unsigned count,
    uint64_t *seq)
{
	unsigned space = nm_ring_space(ring), sent, room = NMXDP_SLOT_ROOM(ring);
	unsigned per = (frame_len + room - 1) / room;   /* slots per frame */
	uint32_t head = ring->head, last = head;

	for (sent = 0; sent < count && space >= per; sent++, space -= per) {
		struct netmap_slot *slot = &ring->slot[head];

		last = head;
		if (per > 1) {
			frame_set_seq(frame, (*seq)++);
			head = send_chain(ring, head, frame, room);
			last = head == 0 ? ring->num_slots - 1 : head - 1;
			continue;
		}
		uint8_t *buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);

		if (slot->flags & NS_BUF_CHANGED) /* a buffer we never wrote */
			memcpy(buf, frame, frame_len);
		slot->flags = 0;
		frame_set_seq(buf, (*seq)++);
		slot->len = (uint16_t)frame_len;
		head = nm_ring_next(ring, head);
	}
	if (sent > 0)
		ring->slot[last].flags |= NS_REPORT;
	ring->head = ring->cur = head;
	if (sent < count)  /* no room for the whole burst: wake me when there is */
		ring->cur = ring->tail;
	return sent;
}

/* -R: sleeps until frame 'sent' of a thread sending 'rate' frames per second
 * since 'start' (ms) is due. */
static void
pace(uint64_t start, uint64_t sent, uint64_t rate)
{
	uint64_t due = start + sent * 1000 / rate;

	while (!stop) {
		uint64_t now = now_ms();

		if (now >= due)
			return;
		usleep((useconds_t)((due - now) * 1000));
	}
}

static void *
sender(void *arg)
{
	struct thread *t = arg;
	struct nmport_d *d = t->d;
	uint8_t *frame = malloc(frame_len);
	uint64_t seq = (uint64_t)t->id << 48, deadline, start = now_ms();
	unsigned step = burst;

	if (frame == NULL) {
		t->err = 1;
		return NULL;
	}
	if (t->rate > 0 && t->rate / 1000 < step)  /* about a burst per ms */
		step = t->rate / 1000 > 0 ? (unsigned)(t->rate / 1000) : 1;
	frame_init(frame, frame_len);
	for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);

		for (uint32_t i = 0; i < ring->num_slots; i++)
			ring->slot[i].flags = NS_BUF_CHANGED;
	}
	while ((t->count == 0 || t->sent < t->count) && !stop) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLOUT };

		if (t->rate > 0)
			pace(start, t->sent, t->rate);
		if (poll(&pfd, 1, 2000) < 0 && errno != EINTR) {
			perror("nm_lib: poll");
			t->err = 1;
			break;
		}
		if (pfd.revents & POLLERR) {
			fprintf(stderr, "nm_lib: thread %d: POLLERR on the TX rings\n", t->id);
			t->err = 1;
			break;
		}
		for (unsigned r = d->first_tx_ring; r <= d->last_tx_ring; r++) {
			struct netmap_ring *ring = NETMAP_TXRING(d->nifp, r);
			uint64_t left = t->count ? t->count - t->sent : step;

			if (left == 0)
				break;
			if (nm_ring_empty(ring))
				continue;
			t->sent += send_packets(ring, frame,
			    left < step ? (unsigned)left : step, &seq);
		}
	}
	free(frame);
	if (t->err)
		return NULL;

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

/* Account one received slot: a frame of its own, or a fragment of an
 * NS_MOREFRAG chain gathered until its last slot (a pass may end inside a
 * chain: the rest comes with the next).  Returns 1 when a test frame ended. */
static int
take_slot(struct thread *t, const uint8_t *buf, unsigned len, unsigned flags)
{
	int more = (flags & NS_MOREFRAG) != 0;

	if (!more && t->chain_len == 0)
		return frame_account(&t->st, buf, len);
	if (t->chain_len + len > FRAME_JUMBO_LEN) {  /* too long: bad, skipped */
		t->st.pkts += !more;
		t->st.bad += !more;
		t->chain_len = more ? FRAME_JUMBO_LEN + 1 : 0;
		return !more;
	}
	memcpy(t->chain + t->chain_len, buf, len);
	t->chain_len += len;
	if (more)
		return 0;
	len = t->chain_len;
	t->chain_len = 0;
	return frame_account(&t->st, t->chain, len);
}

static void *
receiver(void *arg)
{
	struct thread *t = arg;
	struct nmport_d *d = t->d;
	uint64_t last = now_ms();

	t->chain = malloc(FRAME_JUMBO_LEN);
	if (t->chain == NULL) {
		t->err = 1;
		return NULL;
	}

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
			unsigned k = 0;

			for (; head != ring->tail && k < burst; head = nm_ring_next(ring, head), k++) {
				struct netmap_slot *slot = &ring->slot[head];

				got += take_slot(t, (const uint8_t *)NETMAP_BUF(ring,
				    slot->buf_idx), slot->len, slot->flags);
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

/* Nanoseconds on a monotonic clock (vDSO: no system call). */
static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Is f the echo of ping 'seq' (an IPv4/UDP frame carrying it)? */
static int
is_echo(const uint8_t *f, unsigned len, uint64_t seq)
{
	return len >= FRAME_MIN_LEN && frame_get16(f + 12) == 0x0800 &&
	    f[14 + 9] == 17 && frame_get_seq(f) == seq;
}

/* Swap the Ethernet source and destination, and the IPv4 addresses of an
 * IPv4 frame (its checksum does not change), as pkt-gen's pong. */
static void
swap_addresses(uint8_t *f, unsigned len)
{
	uint8_t t[6];

	if (len < 14)
		return;
	memcpy(t, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, t, 6);
	if (len >= 34 && frame_get16(f + 12) == 0x0800) {
		memcpy(t, f + 26, 4);
		memcpy(f + 26, f + 30, 4);
		memcpy(f + 30, t, 4);
	}
}

/* Wait for the RX rings: poll(), or with -B one NIOCRXSYNC.  Returns 1 if
 * the rings may hold frames, 0 if not, -1 on error. */
static int
wait_rx(struct nmport_d *d, int busy, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
	int n;

	if (busy) {
		if (ioctl(d->fd, NIOCRXSYNC, NULL) < 0) {
			perror("nm_lib: NIOCRXSYNC");
			return -1;
		}
		return 1;
	}
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0 && errno != EINTR) {
		perror("nm_lib: poll");
		return -1;
	}
	if (n > 0 && (pfd.revents & POLLERR)) {
		fprintf(stderr, "nm_lib: POLLERR on the rings\n");
		return -1;
	}
	return n > 0;
}

/* Consume every frame the RX rings hold; 1 if the echo of 'seq' was among
 * them (its arrival time in *t1). */
static int
take_echo(struct nmport_d *d, uint64_t seq, uint64_t *t1)
{
	int seen = 0;

	for (unsigned r = d->first_rx_ring; r <= d->last_rx_ring; r++) {
		struct netmap_ring *ring = NETMAP_RXRING(d->nifp, r);
		uint32_t head = ring->head;

		for (; head != ring->tail; head = nm_ring_next(ring, head)) {
			struct netmap_slot *slot = &ring->slot[head];

			if (!seen && is_echo((const uint8_t *)NETMAP_BUF(ring,
			    slot->buf_idx), slot->len, seq)) {
				*t1 = now_ns();
				seen = 1;
			}
		}
		ring->head = ring->cur = head;
	}
	return seen;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the sample of rank ceil(n * pct / 100) of ascending v. */
static uint64_t
nearest_rank(const uint64_t *v, uint64_t n, unsigned pct)
{
	uint64_t rank;

	if (n == 0)
		return 0;
	rank = (n * pct + 99) / 100;
	return v[(rank < 1 ? 1 : rank) - 1];
}

static int
ping(struct nmport_d *d, uint64_t count, int busy)
{
	struct netmap_ring *tx = NETMAP_TXRING(d->nifp, d->first_tx_ring);
	uint64_t warm = count / 100 > 10 ? count / 100 : 10;
	uint64_t n = 0, answered = 0, lost = 0, next = 0, first = 0, last = 0;
	uint64_t sum = 0;
	uint64_t *samples = malloc(count * sizeof(*samples));
	uint8_t frame[FRAME_MAX_LEN];
	double secs;

	if (samples == NULL) {
		fprintf(stderr, "nm_lib: no memory for %" PRIu64 " samples\n", count);
		return 1;
	}
	frame_init(frame, frame_len);
	while (n < count && !stop) {
		uint64_t seq = next, t0, t1 = 0, deadline;
		int got = 0;

		if (nm_ring_empty(tx)) {        /* completions come back with a sync */
			ioctl(d->fd, NIOCTXSYNC, NULL);
			continue;
		}
		{
			struct netmap_slot *slot = &tx->slot[tx->head];
			uint8_t *buf = (uint8_t *)NETMAP_BUF(tx, slot->buf_idx);

			memcpy(buf, frame, frame_len);
			frame_set_seq(buf, seq);
			slot->len = (uint16_t)frame_len;
			slot->flags = 0;
			tx->head = tx->cur = nm_ring_next(tx, tx->head);
		}
		next++;
		t0 = now_ns();
		deadline = t0 + RESEND_NS;
		/* poll() flushes the queued ping itself, as netmap's does. */
		if (busy && ioctl(d->fd, NIOCTXSYNC, NULL) < 0) {
			perror("nm_lib: NIOCTXSYNC");
			free(samples);
			return 1;
		}
		for (unsigned spins = 0;; spins++) {
			uint64_t now = 0;
			int w;

			/* Busy-waiting, the loop is only NIOCRXSYNC and a look at the
			 * rings, as in pkt-gen's Rust twin: the clock every so often. */
			if (!busy || spins % SPINS_PER_CLOCK == 0) {
				now = now_ns();
				if (now >= deadline)
					break;
			}
			w = wait_rx(d, busy, busy ? 0 :
			    (int)((deadline - now + 999999) / 1000000));
			if (w < 0) {
				free(samples);
				return 1;
			}
			if (w > 0 && take_echo(d, seq, &t1)) {
				got = 1;
				break;
			}
		}
		if (!got) {
			lost++;
			continue;
		}
		if (answered++ < warm)
			continue;
		if (n == 0)
			first = t0;
		last = t1;
		samples[n++] = t1 - t0;
		sum += t1 - t0;
	}

	qsort(samples, n, sizeof(*samples), cmp_u64);
	secs = (double)(last - first) / 1e9;
	if (n > 0)
		printf("RTT over %" PRIu64 " packets: min %" PRIu64 " av %" PRIu64 " ns\n",
		    n, samples[0], sum / n);
	printf("latency: rtts=%" PRIu64 " lost=%" PRIu64 " min_ns=%" PRIu64
	    " p50_ns=%" PRIu64 " p99_ns=%" PRIu64 " avg_ns=%" PRIu64
	    " max_ns=%" PRIu64 " rate=%.1f\n", n, lost, n ? samples[0] : 0,
	    nearest_rank(samples, n, 50), nearest_rank(samples, n, 99),
	    n ? sum / n : 0, n ? samples[n - 1] : 0, secs > 0 ? (double)n / secs : 0.0);
	free(samples);
	return 0;
}

static int
pong(struct nmport_d *d, uint64_t count, int busy)
{
	struct netmap_ring *tx = NETMAP_TXRING(d->nifp, d->first_tx_ring);
	uint64_t echoed = 0, dropped = 0, deadline;

	while ((count == 0 || echoed < count) && !stop) {
		uint32_t txhead, txavail;
		int w = wait_rx(d, busy, PONG_POLL_MS);

		if (w < 0)
			return 1;
		if (w == 0)
			continue;
		txhead = tx->head;
		txavail = nm_ring_space(tx);
		for (unsigned r = d->first_rx_ring; r <= d->last_rx_ring; r++) {
			struct netmap_ring *ring = NETMAP_RXRING(d->nifp, r);
			uint32_t head = ring->head;

			for (; head != ring->tail && (count == 0 || echoed < count);
			    head = nm_ring_next(ring, head)) {
				struct netmap_slot *rs = &ring->slot[head];
				struct netmap_slot *ts = &tx->slot[txhead];
				uint8_t *dst;

				if (txavail == 0 || rs->len > tx->nr_buf_size) {
					dropped++;
					continue;
				}
				dst = (uint8_t *)NETMAP_BUF(tx, ts->buf_idx);
				memcpy(dst, NETMAP_BUF(ring, rs->buf_idx), rs->len);
				swap_addresses(dst, rs->len);
				ts->len = rs->len;
				ts->flags = 0;
				txhead = nm_ring_next(tx, txhead);
				txavail--;
				echoed++;
			}
			ring->head = ring->cur = head;
		}
		if (txhead != tx->head) {
			tx->head = tx->cur = txhead;
			/* With poll() the next call sends them; busy-waiting sends now. */
			if (busy)
				ioctl(d->fd, NIOCTXSYNC, NULL);
		}
	}
	/* Let the last echoes leave before the port closes. */
	deadline = now_ms() + 1000;
	ioctl(d->fd, NIOCTXSYNC, NULL);
	while (nm_tx_pending(tx) && now_ms() < deadline) {
		usleep(10);
		ioctl(d->fd, NIOCTXSYNC, NULL);
	}
	printf("pong: echoed %" PRIu64 " frames, %" PRIu64 " dropped\n", echoed, dropped);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *ifname = NULL, *func = "rx";
	struct thread th[MAX_THREADS];
	struct rx_stats tot;
	uint64_t count = 0, sent = 0;
	int c, nthreads = 1, tx, err = 0, busy = 0, pingpong;

	while ((c = getopt(argc, argv, "i:f:n:l:p:W:b:R:Bh")) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'f': func = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'l': frame_len = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': nthreads = atoi(optarg); break;
		case 'W': idle_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'R': tx_rate = strtoull(optarg, NULL, 0); break;
		case 'B': busy = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (ifname == NULL || optind != argc || frame_len < FRAME_MIN_LEN ||
	    frame_len > FRAME_JUMBO_LEN || nthreads < 1 || nthreads > MAX_THREADS ||
	    burst < 1 ||
	    (strcmp(func, "tx") != 0 && strcmp(func, "rx") != 0 &&
	    strcmp(func, "ping") != 0 && strcmp(func, "pong") != 0)) {
		usage(stderr);
		return 1;
	}
	pingpong = strcmp(func, "ping") == 0 || strcmp(func, "pong") == 0;
	if (pingpong && frame_len > FRAME_MAX_LEN) {
		fprintf(stderr, "nm_lib: ping frames take one slot: -l %d at most\n",
		    FRAME_MAX_LEN);
		return 1;
	}
	if (pingpong && (nthreads != 1 || (func[1] == 'i' && count == 0))) {
		fprintf(stderr, "nm_lib: ping and pong run one thread; ping needs -n count\n");
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
	if (pingpong) {
		if (func[1] == 'o') {
			printf("ready: echoing on %s\n", ifname);
			fflush(stdout);
		}
		err = func[1] == 'i' ? ping(th[0].d, count, busy) : pong(th[0].d, count, busy);
		nmport_close(th[0].d);
		return err;
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
		th[i].rate = tx_rate / (uint64_t)nthreads +
		    (i == 0 ? tx_rate % (uint64_t)nthreads : 0);
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
		free(th[i].chain);
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
