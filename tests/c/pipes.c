/* netmap pipes from C, within one process: a writer on "netmap:x{1" and a reader thread on
 * "netmap:x}1" sleeping in poll(), N frames (argv[1], default 1000000) with sequence numbers
 * that must arrive in order. Built twice by tests/scripts/c_pipes.sh: with the legacy API
 * (nm_open, NIOCREGIF) and with -DLIBNETMAP (nmport_open, NIOCCTRL, and /x on the master). */
#ifdef LIBNETMAP
#include <libnetmap.h>
#define PORT struct nmport_d
#define OPEN(name, x) nmport_open(x ? name "/x" : name)
#define CLOSE nmport_close
#else
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>
#define PORT struct nm_desc
#define OPEN(name, x) nm_open(name, NULL, 0, NULL)
#define CLOSE nm_close
#endif
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static unsigned long N = 1000000;
static PORT *m, *s;

static void *reader(void *arg)
{
	unsigned long seq = 0;
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	struct netmap_ring *r = NETMAP_RXRING(s->nifp, 0);
	(void)arg;
	while (seq < N) {
		if (poll(&p, 1, 5000) <= 0) {
			fprintf(stderr, "reader: poll timed out at %lu\n", seq);
			exit(1);
		}
		while (!nm_ring_empty(r)) {
			struct netmap_slot *sl = &r->slot[r->head];
			unsigned long v;
			memcpy(&v, NETMAP_BUF(r, sl->buf_idx), 8);
			if (v != seq || sl->len != 60) {
				fprintf(stderr, "reader: got %lu (len %u), want %lu\n", v, sl->len, seq);
				exit(1);
			}
			seq++;
			r->head = r->cur = nm_ring_next(r, r->head);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	unsigned long seq = 0;
	if (argc > 1)
		N = strtoul(argv[1], NULL, 0);
	m = OPEN("netmap:x{1", 1);
	s = OPEN("netmap:x}1", 0);
	if (!m || !s) {
		perror("nm_open");
		return 1;
	}
	pthread_create(&t, NULL, reader, NULL);
	struct pollfd p = { .fd = m->fd, .events = POLLOUT };
	struct netmap_ring *w = NETMAP_TXRING(m->nifp, 0);
	while (seq < N) {
		if (poll(&p, 1, 5000) <= 0) {
			fprintf(stderr, "writer: poll timed out at %lu\n", seq);
			return 1;
		}
		while (seq < N && !nm_ring_empty(w)) {
			struct netmap_slot *sl = &w->slot[w->head];
			memcpy(NETMAP_BUF(w, sl->buf_idx), &seq, 8);
			sl->len = 60;
			seq++;
			w->head = w->cur = nm_ring_next(w, w->head);
		}
		ioctl(m->fd, NIOCTXSYNC, NULL);
	}
	pthread_join(t, NULL);
	CLOSE(s);
	CLOSE(m);
	printf("pipes: PASS %lu frames in order\n", N);
	return 0;
}
