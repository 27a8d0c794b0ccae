/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test of the legacy inline library of nmxdp's <net/netmap_user.h>
 * (NETMAP_WITH_LIBS) that needs no kernel and no /dev/netmap:
 *
 *  - nm_parse() on every row and error case of the legacy name grammar
 *    (docs/netmap-compat.md, "Ports and names"),
 *    plus edge cases;
 *  - nm_open() on names that are not netmap names (NULL, errno 0) and on
 *    malformed ones (NULL, EINVAL);
 *  - nm_mmap() sharing a parent's mapping, nm_inject(), nm_dispatch() and
 *    nm_nextpkt() on a fake region in ordinary memory.
 *
 *   gcc -O2 -Wall -Wextra -Werror -std=c11 -pedantic -I ffi/include \
 *       tests/c/legacy_parse.c -o /tmp/lp && /tmp/lp
 */
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checks, failures;

#define EXPECT(c) do {							\
	checks++;							\
	if (!(c)) {							\
		fprintf(stderr, "legacy_parse: %s:%d: failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		failures++;						\
	}								\
} while (0)

/* ------------------------------------------------------------------ */
/* nm_parse                                                            */
/* ------------------------------------------------------------------ */

struct parse_case {
	const char *spec;
	int err;             /* expected errno on failure, -1 = success */
	const char *name;
	uint32_t flags;
	uint16_t ringid;
	uint16_t arg2;
};

#define OK(spec, name, flags, ringid, arg2) \
	{ spec, -1, name, flags, ringid, arg2 }
#define BAD(spec, err) \
	{ spec, err, NULL, 0, 0, 0 }

static const struct parse_case parse_cases[] = {
	/* section 8.2 table */
	OK("netmap:eth0",        "eth0", 0x1,    0, 0),
	OK("netmap:eth0-3",      "eth0", 0x4,    3, 0),
	OK("netmap:eth0*",       "eth0", 0x3,    0, 0),
	OK("netmap:eth0^",       "eth0", 0x2,    0, 0),
	OK("netmap:eth0^/x",     "eth0", 0x802,  0, 0),
	OK("netmap:eth0/T",      "eth0", 0x4001, 0, 0),
	OK("netmap:eth0/rt",     "eth0", 0x301,  0, 0),
	OK("netmap:eth0-1/Rx",   "eth0", 0x2804, 1, 0),
	OK("netmap:eth0@3",      "eth0", 0x1,    0, 3),
	OK("netmap:eth0{1",      "eth0", 0x5,    1, 0),
	OK("netmap:eth0}1",      "eth0", 0x6,    1, 0),
	OK("valeA_1:port2{3",    "valeA_1:port2", 0x5, 3, 0),
	OK("vale0:p",            "vale0:p", 0x1, 0, 0),
	OK("netmap:",            "",     0x1,    0, 0),  /* surprisingly accepted */
	BAD("netmap:eth0^2",          EINVAL),
	BAD("netmap:eth0{pipe1",      EINVAL),
	BAD("netmap:eth0-",           EINVAL),
	BAD("netmap:eth0@conf:rings=4", EINVAL),
	BAD("netmap:eth0@0",          EINVAL),
	BAD("vale0p",                 EINVAL),
	/* not netmap names: errno 0 */
	BAD("eth0",                   0),
	BAD("",                       0),
	BAD("pcap:eth0",              0),
	BAD("netmap",                 0),
	BAD("val:p",                  0),
	/* more of the grammar */
	OK("netmap:eth0/z",      "eth0", 0x401,  0, 0),
	OK("netmap:eth0/",       "eth0", 0x1,    0, 0),
	OK("netmap:eth0/xzrtRT", "eth0", 0x6f01, 0, 0),
	OK("netmap:eth0*/Tx@7",  "eth0", 0x4803, 0, 7),
	OK("netmap:eth0-2@65535", "eth0", 0x4,   2, 65535),
	OK("netmap:eth0-4094",   "eth0", 0x4, 4094, 0),
	OK("netmap:eth0-007",    "eth0", 0x4,    7, 0),
	OK("netmap:vale0:p",     "vale0:p", 0x1, 0, 0),
	OK("netmap:eth0.100",    "eth0.100", 0x1, 0, 0),
	OK("netmap:abcdefghijklmno", "abcdefghijklmno", 0x1, 0, 0), /* 15 chars */
	OK("vale:p",             "vale:p", 0x1,  0, 0),
	OK("vale0:p}12/R",       "vale0:p", 0x2006, 12, 0),
	OK("vale0:p^",           "vale0:p", 0x2, 0, 0),
	BAD("netmap:abcdefghijklmnop", EINVAL),  /* 16 chars: no room for NUL */
	BAD("netmap:eth0-4095",       EINVAL),
	BAD("netmap:eth0-99999999999999999999", EINVAL),
	BAD("netmap:eth0-x",          EINVAL),
	BAD("netmap:eth0-1x",         EINVAL),
	BAD("netmap:eth0*3",          EINVAL),
	BAD("netmap:eth0^-1",         EINVAL),
	BAD("netmap:eth0{",           EINVAL),
	BAD("netmap:eth0}",           EINVAL),
	BAD("netmap:eth0/q",          EINVAL),
	BAD("netmap:eth0/x-1",        EINVAL),
	BAD("netmap:eth0@",           EINVAL),
	BAD("netmap:eth0@3x",         EINVAL),
	BAD("netmap:eth0@3/x",        EINVAL),
	BAD("netmap:eth0@65536",      EINVAL),
	BAD("netmap:eth0@share=eth1", EINVAL),
	BAD("vale",                   EINVAL),
	BAD("valeA",                  EINVAL),
	BAD("vale#:p",                EINVAL),
	BAD("vale0:p#",               EINVAL),
	BAD("vale0:p.q",              EINVAL),
	BAD("vale-1:p",               EINVAL),
};

static void
test_parse(void)
{
	size_t k;

	for (k = 0; k < sizeof(parse_cases) / sizeof(parse_cases[0]); k++) {
		const struct parse_case *t = &parse_cases[k];
		struct nm_desc *d = (struct nm_desc *)calloc(1, sizeof(*d));
		char err[NM_ERRBUF_SIZE] = "";
		int rc, e;

		if (d == NULL)
			abort();
		errno = 12345;
		rc = nm_parse(t->spec, d, err);
		e = errno;
		if (t->err < 0) {
			int ok = rc == 0 &&
			    strncmp(d->req.nr_name, t->name, sizeof(d->req.nr_name)) == 0 &&
			    d->req.nr_flags == t->flags &&
			    d->req.nr_ringid == t->ringid &&
			    d->req.nr_arg2 == t->arg2;
			EXPECT(ok);
			if (!ok)
				fprintf(stderr, "  \"%s\": rc %d (%s) name \"%.16s\" "
				    "flags 0x%x ringid %u arg2 %u, want \"%s\" "
				    "0x%x %u %u\n", t->spec, rc, err,
				    d->req.nr_name, (unsigned)d->req.nr_flags,
				    (unsigned)d->req.nr_ringid,
				    (unsigned)d->req.nr_arg2, t->name,
				    (unsigned)t->flags, (unsigned)t->ringid,
				    (unsigned)t->arg2);
		} else {
			int ok = rc == -1 && e == t->err && err[0] != '\0';

			EXPECT(ok);
			if (!ok)
				fprintf(stderr, "  \"%s\": rc %d errno %d, want -1 "
				    "errno %d; name \"%.16s\" flags 0x%x\n",
				    t->spec, rc, e, t->err, d->req.nr_name,
				    (unsigned)d->req.nr_flags);
		}
		free(d);
	}

	/* NULL name, NULL message buffer */
	{
		struct nm_desc d0;

		memset(&d0, 0, sizeof(d0));
		errno = 1;
		EXPECT(nm_parse(NULL, &d0, NULL) == -1 && errno == 0);
		EXPECT(nm_parse("netmap:eth0-x", &d0, NULL) == -1 && errno == EINVAL);
	}

	/* Parsing starts from the caller's request: non-mode bits of nr_flags
	 * and nr_arg2 survive unless the name sets them; the mode and
	 * nr_ringid are replaced. */
	{
		struct nm_desc *d = (struct nm_desc *)calloc(1, sizeof(*d));

		if (d == NULL)
			abort();
		d->req.nr_flags = NR_ACCEPT_VNET_HDR | NR_REG_NIC_SW;
		d->req.nr_ringid = 9 | NETMAP_NO_TX_POLL;
		d->req.nr_arg2 = 5;
		EXPECT(nm_parse("netmap:eth1-2", d, NULL) == 0);
		EXPECT(strcmp(d->req.nr_name, "eth1") == 0);
		EXPECT(d->req.nr_flags == (NR_ACCEPT_VNET_HDR | NR_REG_ONE_NIC));
		EXPECT(d->req.nr_ringid == 2);
		EXPECT(d->req.nr_arg2 == 5);
		EXPECT(nm_parse("netmap:eth1@4", d, NULL) == 0);
		EXPECT(d->req.nr_arg2 == 4);
		EXPECT(d->req.nr_ringid == 0);
		/* a longer previous name is fully cleared */
		EXPECT(nm_parse("netmap:abcdefghijklmno", d, NULL) == 0);
		EXPECT(nm_parse("netmap:e", d, NULL) == 0);
		EXPECT(memcmp(d->req.nr_name, "e\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
		free(d);
	}
}

/* ------------------------------------------------------------------ */
/* nm_open without a kernel                                            */
/* ------------------------------------------------------------------ */

static void
test_open(void)
{
	struct nm_desc *d;

	errno = EBUSY;
	d = nm_open("eth0", NULL, 0, NULL);
	EXPECT(d == NULL && errno == 0);

	errno = EBUSY;
	d = nm_open("pcap:eth0", NULL, 0, NULL);
	EXPECT(d == NULL && errno == 0);

	errno = EBUSY;
	d = nm_open(NULL, NULL, 0, NULL);
	EXPECT(d == NULL && errno == 0);

	/* malformed: rejected before /dev/netmap is opened */
	fprintf(stderr, "legacy_parse: (two nm_open error messages expected)\n");
	errno = 0;
	d = nm_open("netmap:eth0-x", NULL, 0, NULL);
	EXPECT(d == NULL && errno == EINVAL);
	errno = 0;
	d = nm_open("vale0p", NULL, 0, NULL);
	EXPECT(d == NULL && errno == EINVAL);

	/* well formed, no /dev/netmap on this machine: open() fails */
	if (access(NETMAP_DEVICE_NAME, F_OK) != 0) {
		fprintf(stderr, "legacy_parse: (one more expected, no %s)\n",
		    NETMAP_DEVICE_NAME);
		errno = 0;
		d = nm_open("netmap:eth0", NULL, 0, NULL);
		EXPECT(d == NULL && errno == ENOENT);
	}

	EXPECT(nm_close(NULL) == EINVAL);
}

/* ------------------------------------------------------------------ */
/* Datapath on a fake region                                           */
/* ------------------------------------------------------------------ */

/*
 * Region: netmap_if at NIF_OFF with NTX hw + 1 host TX and NRX hw + 1 host
 * RX rings, all bound; ring k at RING_OFF(k); NBUFS buffers of BUFSZ bytes
 * at BUF_POOL.  Ring slots start with buffer index 2 + 8 * k + slot.
 */
enum { NTX = 2, NRX = 2, NSLOTS = 8, BUFSZ = 2048, NBUFS = 64 };
#define NIF_OFF      512u
#define RING_OFF(k)  (4096u * ((k) + 1))
#define BUF_POOL     (4096u * 8)
#define REGION_SIZE  (BUF_POOL + NBUFS * BUFSZ)

static void
put32(unsigned char *base, size_t off, uint32_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static void
put64(unsigned char *base, size_t off, uint64_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static unsigned char region[REGION_SIZE] __attribute__((__aligned__(4096)));

static unsigned char *
fake_region(void)
{
	unsigned char *mem = region;
	unsigned char *nif;
	unsigned int k, s;

	memset(mem, 0, REGION_SIZE);
	nif = mem + NIF_OFF;
	put32(nif, offsetof(struct netmap_if, ni_tx_rings), NTX);
	put32(nif, offsetof(struct netmap_if, ni_rx_rings), NRX);
	put32(nif, offsetof(struct netmap_if, ni_host_tx_rings), 1);
	put32(nif, offsetof(struct netmap_if, ni_host_rx_rings), 1);
	for (k = 0; k < NTX + 1 + NRX + 1; k++) {
		unsigned char *r = mem + RING_OFF(k);

		put64(nif, offsetof(struct netmap_if, ring_ofs) + 8 * k,
		    (uint64_t)(RING_OFF(k) - NIF_OFF));
		put64(r, offsetof(struct netmap_ring, buf_ofs),
		    (uint64_t)BUF_POOL - RING_OFF(k));
		put32(r, offsetof(struct netmap_ring, num_slots), NSLOTS);
		put32(r, offsetof(struct netmap_ring, nr_buf_size), BUFSZ);
		for (s = 0; s < NSLOTS; s++) {
			struct netmap_slot *slot = &((struct netmap_ring *)(void *)r)->slot[s];

			slot->buf_idx = 2 + 8 * k + s;
			slot->len = BUFSZ;
		}
	}
	return mem;
}

/* A descriptor on the fake region, as nm_open() + nm_mmap() leave it. */
static struct nm_desc *
fake_desc(unsigned char *mem)
{
	struct nm_desc *parent = (struct nm_desc *)calloc(1, sizeof(*parent));
	struct nm_desc *d = (struct nm_desc *)calloc(1, sizeof(*d));

	if (parent == NULL || d == NULL)
		abort();
	/* a parent on allocator 1 that owns the mapping */
	parent->self = parent;
	parent->fd = -1;
	parent->mem = mem;
	parent->memsize = REGION_SIZE;
	parent->req.nr_arg2 = 1;

	d->self = d;
	d->fd = -1;
	d->req.nr_arg2 = 1;
	d->req.nr_offset = NIF_OFF;
	d->req.nr_memsize = 0xdead;  /* must not be used: no new mapping */
	d->req.nr_tx_rings = NTX;
	d->req.nr_rx_rings = NRX;
	d->first_tx_ring = 0;
	d->last_tx_ring = NTX - 1;
	d->first_rx_ring = 0;
	d->last_rx_ring = NRX - 1;
	EXPECT(nm_mmap(d, parent) == 0);
	EXPECT(d->mem == mem && d->memsize == REGION_SIZE && !d->done_mmap);
	EXPECT((unsigned char *)d->nifp == mem + NIF_OFF);
	EXPECT((const void *)d->some_ring ==
	    (const void *)NETMAP_RXRING(d->nifp, 0));
	EXPECT((const unsigned char *)d->buf_start == mem + BUF_POOL);
	EXPECT((const unsigned char *)d->buf_end == mem + REGION_SIZE);
	EXPECT(nm_mmap(d, parent) == 0);  /* already mapped: no-op */
	EXPECT(nm_close(parent) == 0);    /* done_mmap 0: nothing unmapped */
	return d;
}

static void
test_mmap_tx_only(unsigned char *mem)
{
	struct nm_desc *parent = (struct nm_desc *)calloc(1, sizeof(*parent));
	struct nm_desc *d = (struct nm_desc *)calloc(1, sizeof(*d));
	unsigned char *nif = mem + NIF_OFF;
	uint64_t saved[NRX + 1];
	unsigned int k;

	if (parent == NULL || d == NULL)
		abort();
	/* unbind the RX rings: some_ring must then be a TX ring */
	for (k = 0; k < NRX + 1; k++) {
		size_t o = offsetof(struct netmap_if, ring_ofs) + 8 * (NTX + 1 + k);

		memcpy(&saved[k], nif + o, 8);
		put64(nif, o, 0);
	}
	parent->self = parent;
	parent->mem = mem;
	parent->memsize = REGION_SIZE;
	d->self = d;
	d->fd = -1;
	d->req.nr_offset = NIF_OFF;
	d->first_tx_ring = 1;
	d->last_tx_ring = 1;
	EXPECT(nm_mmap(d, parent) == 0);
	EXPECT((const void *)d->some_ring == (const void *)(mem + RING_OFF(1)));
	for (k = 0; k < NRX + 1; k++)
		put64(nif, offsetof(struct netmap_if, ring_ofs) + 8 * (NTX + 1 + k),
		    saved[k]);
	free(parent);
	EXPECT(nm_close(d) == 0);
}

static void
set_ring(struct netmap_ring *r, uint32_t head, uint32_t cur, uint32_t tail)
{
	r->head = head;
	r->cur = cur;
	r->tail = tail;
}

/* A slot carries a buffer less the kernel's headroom: nm_inject cuts by that. */
#define ROOM (BUFSZ - NMXDP_BUF_HEADROOM)

static void
test_inject(struct nm_desc *d)
{
	static unsigned char pkt[5000];
	struct netmap_ring *t0 = NETMAP_TXRING(d->nifp, 0);
	struct netmap_ring *t1 = NETMAP_TXRING(d->nifp, 1);
	size_t k;

	for (k = 0; k < sizeof(pkt); k++)
		pkt[k] = (unsigned char)(k * 13 + 5);

	/* ring 0 has 2 free slots, ring 1 has 7 (from cur = 0) */
	set_ring(t0, 0, 0, 2);
	set_ring(t1, 0, 0, NSLOTS - 1);
	d->cur_tx_ring = 0;
	EXPECT(nm_inject(d, pkt, 5000) == 5000);  /* 3 slots: ring 1 */
	EXPECT(d->cur_tx_ring == 1);
	EXPECT(t0->head == 0 && t0->cur == 0);
	EXPECT(t1->head == 3 && t1->cur == 3);
	EXPECT(t1->slot[0].len == ROOM && t1->slot[0].flags == NS_MOREFRAG);
	EXPECT(t1->slot[1].len == ROOM && t1->slot[1].flags == NS_MOREFRAG);
	EXPECT(t1->slot[2].len == 5000 - 2 * ROOM && t1->slot[2].flags == 0);
	EXPECT(memcmp(NETMAP_BUF(t1, t1->slot[0].buf_idx), pkt, ROOM) == 0);
	EXPECT(memcmp(NETMAP_BUF(t1, t1->slot[1].buf_idx), pkt + ROOM, ROOM) == 0);
	EXPECT(memcmp(NETMAP_BUF(t1, t1->slot[2].buf_idx), pkt + 2 * ROOM,
	    5000 - 2 * ROOM) == 0);

	/* next packet continues on the current ring */
	EXPECT(nm_inject(d, pkt, 60) == 60);
	EXPECT(t1->head == 4 && t1->slot[3].len == 60 && t1->slot[3].flags == 0);
	/* exactly one buffer: one slot */
	EXPECT(nm_inject(d, pkt, ROOM) == ROOM);
	EXPECT(t1->head == 5 && t1->slot[4].len == ROOM && t1->slot[4].flags == 0);

	/* writing starts at cur, even when cur is ahead of head */
	set_ring(t1, 5, 6, NSLOTS - 1);
	EXPECT(nm_inject(d, pkt, 10) == 10);
	EXPECT(t1->head == 7 && t1->cur == 7 && t1->slot[6].len == 10);

	/* ring 1 full (cur == tail): wraps to ring 0, which has 2 slots */
	EXPECT(nm_inject(d, pkt, 3000) == 3000);
	EXPECT(d->cur_tx_ring == 0 && t0->head == 2 && t0->cur == 2);
	EXPECT(t0->slot[0].flags == NS_MOREFRAG && t0->slot[1].len == 3000 - ROOM);

	/* no room anywhere: 0, nothing moves */
	EXPECT(nm_inject(d, pkt, 1) == 0);
	EXPECT(t0->head == 2 && t1->head == 7);

	/* slot index wraps around the end of the ring */
	set_ring(t0, NSLOTS - 1, NSLOTS - 1, 3);
	d->cur_tx_ring = 0;
	EXPECT(nm_inject(d, pkt, 2 * ROOM + 1) == 2 * ROOM + 1);  /* 3 slots: 7, 0, 1 */
	EXPECT(t0->head == 2 && t0->slot[7].flags == NS_MOREFRAG &&
	    t0->slot[0].flags == NS_MOREFRAG && t0->slot[1].len == 1);

	/* empty packet: one slot of length 0 */
	set_ring(t0, 0, 0, 1);
	EXPECT(nm_inject(d, pkt, 0) == 0 && t0->head == 1 && t0->slot[0].len == 0);
}

struct seen {
	int n;
	uint32_t len[8], caplen[8];
	uint64_t flags[8];
	const unsigned char *buf[8];
	long ts_sec[8];
};

static void
record(unsigned char *arg, const struct nm_pkthdr *h, const unsigned char *buf)
{
	struct seen *s = (struct seen *)(void *)arg;

	if (s->n < 8) {
		s->len[s->n] = h->len;
		s->caplen[s->n] = h->caplen;
		s->flags[s->n] = h->flags;
		s->buf[s->n] = buf;
		s->ts_sec[s->n] = (long)h->ts.tv_sec;
	}
	s->n++;
}

/* Fill RX rings 0 and 1 with: ring 0 = a 60-byte packet, then a 3-slot
 * packet in contiguous buffers; ring 1 = a 2-slot packet in
 * non-contiguous buffers. */
static void
fill_rx(struct nm_desc *d)
{
	struct netmap_ring *r0 = NETMAP_RXRING(d->nifp, 0);
	struct netmap_ring *r1 = NETMAP_RXRING(d->nifp, 1);

	set_ring(r0, 0, 0, 4);
	r0->slot[0].buf_idx = 40; r0->slot[0].len = 60;    r0->slot[0].flags = 0;
	r0->slot[1].buf_idx = 41; r0->slot[1].len = BUFSZ; r0->slot[1].flags = NS_MOREFRAG;
	r0->slot[2].buf_idx = 42; r0->slot[2].len = BUFSZ; r0->slot[2].flags = NS_MOREFRAG;
	r0->slot[3].buf_idx = 43; r0->slot[3].len = 100;   r0->slot[3].flags = 0;
	r0->ts.tv_sec = 111;
	set_ring(r1, 6, 6, 0);  /* wraps */
	r1->slot[6].buf_idx = 50; r1->slot[6].len = BUFSZ; r1->slot[6].flags = NS_MOREFRAG;
	r1->slot[7].buf_idx = 60; r1->slot[7].len = 10;    r1->slot[7].flags = 0;
	r1->ts.tv_sec = 222;
}

static void
test_dispatch(struct nm_desc *d)
{
	struct netmap_ring *r0 = NETMAP_RXRING(d->nifp, 0);
	struct netmap_ring *r1 = NETMAP_RXRING(d->nifp, 1);
	struct seen s;

	/* everything */
	fill_rx(d);
	memset(&s, 0, sizeof(s));
	d->cur_rx_ring = 0;
	EXPECT(nm_dispatch(d, -1, record, (unsigned char *)&s) == 3);
	EXPECT(s.n == 3);
	EXPECT(s.len[0] == 60 && s.caplen[0] == 60 && s.flags[0] == NM_MORE_PKTS);
	EXPECT(s.buf[0] == (unsigned char *)NETMAP_BUF(r0, 40));
	EXPECT(s.ts_sec[0] == 111);
	EXPECT(s.len[1] == 2 * BUFSZ + 100 && s.caplen[1] == 2 * BUFSZ + 100);
	EXPECT(s.flags[1] == NM_MORE_PKTS);
	EXPECT(s.buf[1] == (unsigned char *)NETMAP_BUF(r0, 41));
	EXPECT(s.len[2] == BUFSZ + 10 && s.caplen[2] == BUFSZ);
	EXPECT(s.flags[2] == 0 && s.ts_sec[2] == 222);
	EXPECT(r0->head == 4 && r0->cur == 4 && r1->head == 0 && r1->cur == 0);
	EXPECT(d->cur_rx_ring == 1);
	/* nothing left */
	memset(&s, 0, sizeof(s));
	EXPECT(nm_dispatch(d, 0, record, (unsigned char *)&s) == 0 && s.n == 0);

	/* cnt limits the count; the last delivered packet has flags 0 */
	fill_rx(d);
	memset(&s, 0, sizeof(s));
	d->cur_rx_ring = 0;
	EXPECT(nm_dispatch(d, 1, record, (unsigned char *)&s) == 1);
	EXPECT(s.n == 1 && s.len[0] == 60 && s.flags[0] == 0);
	EXPECT(r0->head == 1 && r0->cur == 1 && r1->head == 6);
	memset(&s, 0, sizeof(s));
	EXPECT(nm_dispatch(d, 2, record, (unsigned char *)&s) == 2);
	EXPECT(s.n == 2 && s.len[1] == BUFSZ + 10 && s.flags[0] == NM_MORE_PKTS &&
	    s.flags[1] == 0);

	/* a chain not complete before tail is left in the ring */
	fill_rx(d);
	set_ring(r0, 0, 0, 3);   /* slot 2 has NS_MOREFRAG, slot 3 not yet ours */
	set_ring(r1, 0, 0, 0);
	memset(&s, 0, sizeof(s));
	d->cur_rx_ring = 0;
	EXPECT(nm_dispatch(d, 0, record, (unsigned char *)&s) == 1);
	EXPECT(s.n == 1 && r0->head == 1 && r0->cur == 1);
}

static void
test_nextpkt(struct nm_desc *d)
{
	struct netmap_ring *r0 = NETMAP_RXRING(d->nifp, 0);
	struct netmap_ring *r1 = NETMAP_RXRING(d->nifp, 1);
	struct nm_pkthdr h;
	unsigned char *buf;

	fill_rx(d);
	set_ring(r0, 0, 0, 1);   /* only the 60-byte packet */
	d->cur_rx_ring = 1;      /* round robin starts from ring 1 */
	memset(&h, 0, sizeof(h));
	buf = nm_nextpkt(d, &h);
	EXPECT(buf == (unsigned char *)NETMAP_BUF(r1, 50));
	EXPECT(h.len == BUFSZ && h.caplen == BUFSZ && h.ts.tv_sec == 222);
	EXPECT(r1->head == 7 && r1->cur == 7 && d->cur_rx_ring == 1);
	buf = nm_nextpkt(d, &h);
	EXPECT(buf == (unsigned char *)NETMAP_BUF(r1, 60) && h.len == 10);
	EXPECT(r1->head == 0 && r1->cur == 0);
	buf = nm_nextpkt(d, &h);  /* ring 1 empty: wraps to ring 0 */
	EXPECT(buf == (unsigned char *)NETMAP_BUF(r0, 40) && h.len == 60 &&
	    h.ts.tv_sec == 111);
	EXPECT(d->cur_rx_ring == 0 && r0->head == 1 && r0->cur == 1);
	EXPECT(nm_nextpkt(d, &h) == NULL);
}

int
main(void)
{
	unsigned char *mem;
	struct nm_desc *d;

	test_parse();
	test_open();

	mem = fake_region();
	d = fake_desc(mem);
	test_inject(d);
	test_dispatch(d);
	test_nextpkt(d);
	EXPECT(nm_close(d) == 0);
	test_mmap_tx_only(mem);

	if (failures) {
		fprintf(stderr, "legacy_parse: %d of %d checks failed\n",
		    failures, checks);
		return 1;
	}
	printf("legacy_parse: all %d checks passed (%zu name cases)\n", checks,
	    sizeof(parse_cases) / sizeof(parse_cases[0]));
	return 0;
}
