/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm_frame.h -- test frames shared by the C example apps of nmxdp.
 *
 * A frame is Ethernet (broadcast destination) / IPv4 / UDP 1234 -> 1234
 * with a 64-bit little-endian sequence number at bytes 42..49 and, after
 * it, byte i of the frame equal to (uint8_t)i.  Senders build one template
 * and only rewrite the sequence number of each packet; receivers check the
 * whole frame.  The sequence number is (thread << 48 | n), n counting from 0
 * in each sending thread, so receivers also notice reordering.
 */
#ifndef NM_FRAME_H
#define NM_FRAME_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define FRAME_SEQ_OFF   42      /* eth 14 + ip 20 + udp 8 */
#define FRAME_MIN_LEN   50      /* headers + sequence number */
#define FRAME_MAX_LEN   1514    /* one netmap buffer, no fragments */
#define FRAME_JUMBO_LEN 65535   /* NS_MOREFRAG chains (nm_lib): IPv4's longest */
#define FRAME_PORT      1234
#define FRAME_THREADS   64      /* senders whose order is tracked */

struct rx_stats {
	uint64_t pkts;          /* UDP frames (good or bad) */
	uint64_t bytes;         /* their bytes */
	uint64_t bad;           /* UDP frames whose content is wrong */
	uint64_t other;         /* frames that are not IPv4/UDP: ignored */
	uint64_t reordered;     /* sequence numbers going backwards */
	uint64_t next[FRAME_THREADS]; /* next sequence number expected per sender thread */
};

static inline void
frame_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline unsigned
frame_get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Internet checksum of an IPv4 header (20 bytes). */
static inline unsigned
frame_ip_csum(const uint8_t *ip)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += frame_get16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static inline void
frame_set_seq(uint8_t *f, uint64_t seq)
{
	/* One unaligned 8-byte store: a byte loop costs ~50 instructions per frame. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	seq = __builtin_bswap64(seq);
#endif
	memcpy(f + FRAME_SEQ_OFF, &seq, sizeof(seq));
}

static inline uint64_t
frame_get_seq(const uint8_t *f)
{
	uint64_t seq;

	memcpy(&seq, f + FRAME_SEQ_OFF, sizeof(seq));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	seq = __builtin_bswap64(seq);
#endif
	return seq;
}

/* Build a frame of len bytes (FRAME_MIN_LEN..FRAME_MAX_LEN), sequence 0. */
static inline void
frame_init(uint8_t *f, unsigned len)
{
	static const uint8_t src_mac[6] = { 0x02, 0x00, 0x6e, 0x6d, 0x78, 0x01 };
	uint8_t *ip = f + 14, *udp = f + 34;

	memset(f, 0xff, 6);                     /* broadcast */
	memcpy(f + 6, src_mac, 6);
	frame_put16(f + 12, 0x0800);
	ip[0] = 0x45;                           /* IPv4, 20-byte header */
	ip[1] = 0;
	frame_put16(ip + 2, len - 14);
	frame_put16(ip + 4, 0);                 /* id */
	frame_put16(ip + 6, 0x4000);            /* DF */
	ip[8] = 64;                             /* ttl */
	ip[9] = 17;                             /* UDP */
	frame_put16(ip + 10, 0);
	memcpy(ip + 12, (const uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(ip + 16, (const uint8_t[]){ 10, 1, 0, 1 }, 4);
	frame_put16(ip + 10, frame_ip_csum(ip));
	frame_put16(udp, FRAME_PORT);
	frame_put16(udp + 2, FRAME_PORT);
	frame_put16(udp + 4, len - 34);
	frame_put16(udp + 6, 0);                /* no UDP checksum */
	frame_set_seq(f, 0);
	for (unsigned i = FRAME_MIN_LEN; i < len; i++)
		f[i] = (uint8_t)i;
}

/* Is this a correct test frame of len bytes? */
static inline int
frame_valid(const uint8_t *f, unsigned len)
{
	const uint8_t *ip = f + 14, *udp = f + 34;
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (len < FRAME_MIN_LEN || memcmp(f, bcast, 6) != 0)
		return 0;
	if (ip[0] != 0x45 || frame_get16(ip + 2) != len - 14 ||
	    frame_ip_csum(ip) != 0)
		return 0;
	if (frame_get16(udp) != FRAME_PORT || frame_get16(udp + 2) != FRAME_PORT ||
	    frame_get16(udp + 4) != len - 34)
		return 0;
	for (unsigned i = FRAME_MIN_LEN; i < len; i++)
		if (f[i] != (uint8_t)i)
			return 0;
	return 1;
}

/*
 * Account one received frame: non-IPv4/UDP frames are only counted in
 * 'other'; UDP frames are counted and checked.  Returns 1 for a UDP frame.
 */
static inline int
frame_account(struct rx_stats *st, const uint8_t *f, unsigned len)
{
	uint64_t seq, thread, n;

	if (len < 34 || frame_get16(f + 12) != 0x0800 || f[14 + 9] != 17) {
		st->other++;
		return 0;
	}
	st->pkts++;
	st->bytes += len;
	if (!frame_valid(f, len)) {
		st->bad++;
		return 1;
	}
	seq = frame_get_seq(f);
	thread = seq >> 48;
	n = seq & ((UINT64_C(1) << 48) - 1);
	if (thread < FRAME_THREADS) {
		if (n < st->next[thread])
			st->reordered++;
		else
			st->next[thread] = n + 1;
	}
	return 1;
}

static inline void
rx_stats_add(struct rx_stats *to, const struct rx_stats *from)
{
	to->pkts += from->pkts;
	to->bytes += from->bytes;
	to->bad += from->bad;
	to->other += from->other;
	to->reordered += from->reordered;
}

/* Milliseconds on a monotonic clock. */
static inline uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* NM_FRAME_H */
