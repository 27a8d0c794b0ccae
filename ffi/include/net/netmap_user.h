/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * net/netmap_user.h -- user-space helpers for netmap, API 14.
 *
 * Written for nmxdp from the documented netmap ABI (see docs/netmap-compat.md);
 * it contains no upstream netmap code.
 *
 * Macros to reach the interface descriptor, the rings and the buffers of a
 * mapped region, ring index helpers, a packet copy routine and debug
 * printing.  With NETMAP_WITH_LIBS defined before inclusion it also
 * provides the legacy pcap-like library (nm_open(), nm_close(), nm_mmap(),
 * nm_inject(), nm_dispatch(), nm_nextpkt()), built on NIOCREGIF and
 * struct nmreq.  Every function is static inline: it is compiled into the
 * application, which then reaches /dev/netmap through open/ioctl/mmap.
 */
#ifndef _NET_NETMAP_USER_H_
#define _NET_NETMAP_USER_H_

/*
 * Upstream's header makes these system headers available to the application
 * (with or without NETMAP_WITH_LIBS), and applications rely on them, e.g.
 * for isalnum(), poll(), mmap() or signal(): all are included here.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <net/if.h>

#include <net/netmap.h>

#define NETMAP_DEVICE_NAME "/dev/netmap"

/* ------------------------------------------------------------------ */
/* Region navigation                                                   */
/* ------------------------------------------------------------------ */

#define _NETMAP_OFFSET(type, ptr, offset) \
	((type)(void *)((char *)(ptr) + (offset)))

/* The netmap_if of a registration: region base + nr_offset. */
#define NETMAP_IF(_base, _ofs) _NETMAP_OFFSET(struct netmap_if *, _base, _ofs)

/* TX ring i (hardware rings first, then host rings). */
#define NETMAP_TXRING(nifp, index) \
	_NETMAP_OFFSET(struct netmap_ring *, nifp, (nifp)->ring_ofs[index])

/* RX ring i: the RX entries follow every TX entry, host ones included. */
#define NETMAP_RXRING(nifp, index) \
	_NETMAP_OFFSET(struct netmap_ring *, nifp, \
		(nifp)->ring_ofs[(index) + (nifp)->ni_tx_rings + \
			(nifp)->ni_host_tx_rings])

/* Address of buffer 'index'; buf_ofs is relative to the ring itself. */
#define NETMAP_BUF(ring, index) \
	((char *)(ring) + (ring)->buf_ofs + \
		((size_t)(index) * (ring)->nr_buf_size))

/*
 * nmxdp: the bytes one slot carries.  The first 256 bytes of each buffer are
 * the kernel's receive headroom (XDP_PACKET_HEADROOM), so a slot holds
 * nr_buf_size - 256 (docs/netmap-compat.md, "A buffer holds less than
 * nr_buf_size"); a frame longer than that is an NS_MOREFRAG chain.
 */
#define NMXDP_BUF_HEADROOM 256
#define NMXDP_SLOT_ROOM(ring) ((ring)->nr_buf_size - NMXDP_BUF_HEADROOM)

/* Index of the buffer at address 'buf'. */
#define NETMAP_BUF_IDX(ring, buf) \
	(((char *)(buf) - ((char *)(ring) + (ring)->buf_ofs)) / \
		(ring)->nr_buf_size)

/* Per-slot data offsets (NETMAP_REQ_OPT_OFFSETS). */
#define NETMAP_ROFFSET(ring, slot) \
	((slot)->ptr & (ring)->offset_mask)

#define NETMAP_WOFFSET(ring, slot, offset) \
	((slot)->ptr = ((slot)->ptr & ~(ring)->offset_mask) | \
		((uint64_t)(offset) & (ring)->offset_mask))

#define NETMAP_BUF_OFFSET(ring, slot) \
	(NETMAP_BUF(ring, (slot)->buf_idx) + NETMAP_ROFFSET(ring, slot))

/* ------------------------------------------------------------------ */
/* Ring helpers                                                        */
/* ------------------------------------------------------------------ */

/* Index after i, wrapping at num_slots. */
static inline uint32_t
nm_ring_next(const struct netmap_ring *r, uint32_t i)
{
	return (i + 1 == r->num_slots) ? 0 : i + 1;
}

/* TX: some slots given to the kernel are not completed yet. */
static inline int
nm_tx_pending(const struct netmap_ring *r)
{
	return nm_ring_next(r, r->tail) != r->head;
}

/* Slots owned by the user: from head to tail. */
static inline uint32_t
nm_ring_space(const struct netmap_ring *r)
{
	uint32_t space = r->tail - r->head;

	if (r->tail < r->head)
		space += r->num_slots;
	return space;
}

/*
 * Copy exactly l bytes (nothing is read or written past them).  Small
 * multiples of 64 bytes, the common frame sizes of packet generators, are
 * copied in whole 64-byte blocks.
 */
static inline void
nm_pkt_copy(const void *src, void *dst, int l)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned char *d = (unsigned char *)dst;

	if (l <= 0)
		return;
	if (l >= 1024 || (l & 63) != 0) {
		memcpy(d, s, (size_t)l);
		return;
	}
	for (; l > 0; l -= 64, s += 64, d += 64)
		memcpy(d, s, 64);
}

/* ------------------------------------------------------------------ */
/* Debugging                                                           */
/* ------------------------------------------------------------------ */

#ifndef likely
#if defined(__GNUC__) || defined(__clang__)
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#else
#define likely(x)   (x)
#define unlikely(x) (x)
#endif
#endif

/*
 * One line on stderr: "SSS.UUUUUU function [line] message", SSS being the
 * seconds modulo 1000.  The line is written with a single call so that
 * threads do not interleave inside it.
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((__format__(__printf__, 3, 4)))
#endif
static inline void
nmxdp_debug_print(const char *func, int line, const char *fmt, ...)
{
	char buf[1024];
	struct timeval tv;
	va_list ap;
	int pre, n;

	gettimeofday(&tv, NULL);
	pre = snprintf(buf, sizeof(buf), "%03d.%06d %s [%d] ",
	    (int)(tv.tv_sec % 1000), (int)tv.tv_usec, func, line);
	if (pre < 0 || (size_t)pre >= sizeof(buf) - 2)
		pre = 0;
	va_start(ap, fmt);
	n = vsnprintf(buf + pre, sizeof(buf) - (size_t)pre - 1, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(buf) - (size_t)pre - 1) {
		buf[pre + n] = '\n';
		buf[pre + n + 1] = '\0';
		fputs(buf, stderr);
	} else { /* too long for the buffer: print it in pieces */
		buf[pre] = '\0';
		fputs(buf, stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

#ifndef D
#define D(...) nmxdp_debug_print(__func__, __LINE__, __VA_ARGS__)
#endif

/* Like D(), at most lps lines per second from this call site. */
#ifndef RD
#define RD(lps, ...) do {						\
	static time_t nmxdp_rd_sec_;					\
	static int nmxdp_rd_cnt_;					\
	struct timeval nmxdp_rd_tv_;					\
	gettimeofday(&nmxdp_rd_tv_, NULL);				\
	if (nmxdp_rd_sec_ != nmxdp_rd_tv_.tv_sec) {			\
		nmxdp_rd_sec_ = nmxdp_rd_tv_.tv_sec;			\
		nmxdp_rd_cnt_ = 0;					\
	}								\
	if (nmxdp_rd_cnt_++ < (lps))					\
		D(__VA_ARGS__);						\
} while (0)
#endif

/* Disabled debug print. */
#ifndef ND
#define ND(...) do {} while (0)
#endif

/* ------------------------------------------------------------------ */
/* Legacy library                                                      */
/* ------------------------------------------------------------------ */

#ifdef NETMAP_WITH_LIBS
#define HAVE_NETMAP_WITH_LIBS

struct nm_desc;

/* Packet header handed to nm_dispatch() callbacks and nm_nextpkt(): 56 bytes. */
struct nm_pkthdr {
	struct timeval      ts;      /* ring->ts at reception */
	uint32_t            caplen;  /* bytes contiguous at buf */
	uint32_t            len;     /* packet length */
	uint64_t            flags;   /* NM_MORE_PKTS */
	struct nm_desc     *d;
	struct netmap_slot *slot;    /* first slot of the packet */
	uint8_t            *buf;
};

#define NM_MORE_PKTS  1  /* more packets follow in this nm_dispatch() */

/* pcap-like counters: 12 bytes. */
struct nm_stat {
	unsigned int ps_recv;
	unsigned int ps_drop;
	unsigned int ps_ifdrop;
};

#define NM_ERRBUF_SIZE  512

/* Descriptor returned by nm_open(): 760 bytes. */
struct nm_desc {
	struct nm_desc *self;            /* == itself when valid */
	int fd;
	void *mem;                       /* mapped region */
	size_t memsize;
	int done_mmap;                   /* mem was mapped by this descriptor */
	struct netmap_if * const nifp;
	uint16_t first_tx_ring, last_tx_ring, cur_tx_ring;
	uint16_t first_rx_ring, last_rx_ring, cur_rx_ring;
	struct nmreq req;                /* the NIOCREGIF request */
	struct nm_pkthdr hdr;            /* used by nm_dispatch() */

	struct netmap_ring * const some_ring;  /* any bound ring */
	void * const buf_start;          /* buffer 0 */
	void * const buf_end;            /* end of the region */
	/* pcap compatibility */
	int snaplen;
	int promisc;
	int to_ms;
	char *errbuf;

	uint32_t if_flags;
	uint32_t if_reqcap;
	uint32_t if_curcap;

	struct nm_stat st;
	char msg[NM_ERRBUF_SIZE];        /* last error of nm_parse()/nm_open() */
};

/* Callback of nm_dispatch(): (arg, header, packet data). */
typedef void (*nm_cb_t)(unsigned char *, const struct nm_pkthdr *,
    const unsigned char *d);

#define P2NMD(p)           ((struct nm_desc *)(p))
#define IS_NETMAP_DESC(d) \
	((d) && ((const struct nm_desc *)(d))->self == \
		(const struct nm_desc *)(d))
#define NETMAP_FD(d)       (P2NMD(d)->fd)

/* nm_open() flags; the low 16 bits may carry NETMAP_NO_TX_POLL and
 * NETMAP_DO_RX_POLL, which are OR'ed into nr_ringid. */
#define NM_OPEN_NO_MMAP   0x040000  /* do not mmap (reuse the parent's region) */
#define NM_OPEN_IFNAME    0x080000  /* take nr_name, nr_ringid, nr_flags from parent */
#define NM_OPEN_ARG1      0x100000  /* take nr_arg1 from parent */
#define NM_OPEN_ARG2      0x200000  /* take nr_arg2 (allocator) from parent */
#define NM_OPEN_ARG3      0x400000  /* take nr_arg3 (extra buffers) from parent */
#define NM_OPEN_RING_CFG  0x800000  /* take ring and slot counts from parent */
/* API 11-13: share the parent's external memory (NETMAP_POOLS_CREATE).  A
 * parent here never has any (nm_parse() sets no external memory), so the
 * flag changes nothing. */
#define NM_OPEN_EXTMEM    0x1000000

/* Size of the err buffer nm_parse() writes, message and NUL included. */
#define MAXERRMSG  80

/* Writes a member declared const (set once, by the library only). */
#define NMXDP_SET_CONST_(type, member, value) \
	(*(type *)(uintptr_t)&(member) = (value))

/* Is [s, e) made of letters, digits and '_' only (empty included)? */
static inline int
nm_is_identifier(const char *s, const char *e)
{
	for (; s < e; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* "netmap:..." or "vale..." */
static inline int
nmxdp_is_netmap_name_(const char *name)
{
	return strncmp(name, "netmap:", 7) == 0 || strncmp(name, "vale", 4) == 0;
}

/* Is c a character that ends the port name in the legacy grammar? */
static inline int
nmxdp_name_end_(char c)
{
	return c == '\0' || c == '-' || c == '*' || c == '^' || c == '{' ||
	    c == '}' || c == '/' || c == '@';
}

/*
 * Parse *p as a decimal number: at least one digit, value <= max.
 * Returns the value and advances *p, or -1.
 */
static inline long
nmxdp_parse_num_(const char **p, long max)
{
	const char *s = *p;
	long v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*p = s;
	return v;
}

/*
 * Parse a legacy port name into d->req:
 *
 *   netmap:NAME[SUFFIX][/FLAGS][@MEMID]   NAME kept as is ("netmap:" removed)
 *   valeX:PORT[SUFFIX][/FLAGS][@MEMID]    X and PORT identifiers, kept whole
 *
 * NAME/PORT end at the first of - * ^ { } / @.  SUFFIX: ^ (NR_REG_SW),
 * * (NR_REG_NIC_SW), -N (NR_REG_ONE_NIC), {N (NR_REG_PIPE_MASTER),
 * }N (NR_REG_PIPE_SLAVE), none (NR_REG_ALL_NIC); N is decimal, goes to
 * nr_ringid and must be < NETMAP_RING_MASK.  FLAGS: any of x z t r R T
 * (NR_EXCLUSIVE, NR_ZCOPY_MON, NR_MONITOR_TX, NR_MONITOR_RX,
 * NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY).  @MEMID: decimal > 0, to nr_arg2
 * (nr_arg2 is left alone without it).
 *
 * Sets nr_name, nr_ringid, the mode nibble and flags of nr_flags (other
 * nr_flags bits already in d->req are kept).  Returns 0, or -1 with errno
 * set (EINVAL; 0 if the name has neither prefix, i.e. is not a netmap
 * name) and a message in err (MAXERRMSG bytes, may be NULL).
 */
static inline int
nm_parse(const char *ifname, struct nm_desc *d, char *err)
{
	const char *name, *p, *end;
	uint32_t mode = NR_REG_ALL_NIC, flags = 0;
	long ringid = 0, memid = -1;
	size_t namelen;
	const char *why = "invalid port name";

	if (ifname == NULL || !nmxdp_is_netmap_name_(ifname)) {
		if (err != NULL)
			snprintf(err, MAXERRMSG, "%s: not a netmap port name",
			    ifname ? ifname : "(null)");
		errno = 0;
		return -1;
	}
	if (ifname[0] == 'n') { /* netmap:NAME */
		name = ifname + 7;
		for (end = name; !nmxdp_name_end_(*end); end++)
			;
	} else { /* valeX:PORT */
		const char *colon = strchr(ifname, ':');

		name = ifname;
		if (colon == NULL) {
			why = "missing ':' in VALE name";
			goto fail;
		}
		if (!nm_is_identifier(ifname + 4, colon)) {
			why = "invalid VALE switch name";
			goto fail;
		}
		for (end = colon + 1; !nmxdp_name_end_(*end); end++)
			;
		if (!nm_is_identifier(colon + 1, end)) {
			why = "invalid VALE port name";
			goto fail;
		}
	}
	namelen = (size_t)(end - name);
	if (namelen >= sizeof(d->req.nr_name)) {
		why = "port name too long";
		goto fail;
	}

	p = end;
	switch (*p) {
	case '^':
		mode = NR_REG_SW;
		p++;
		break;
	case '*':
		mode = NR_REG_NIC_SW;
		p++;
		break;
	case '-':
	case '{':
	case '}':
		mode = *p == '-' ? NR_REG_ONE_NIC :
		    *p == '{' ? NR_REG_PIPE_MASTER : NR_REG_PIPE_SLAVE;
		p++;
		ringid = nmxdp_parse_num_(&p, NETMAP_RING_MASK - 1);
		if (ringid < 0) {
			why = "invalid ring number";
			goto fail;
		}
		break;
	default: /* '\0', '/', '@' */
		break;
	}
	if (*p == '/') {
		for (p++; *p != '\0' && *p != '@'; p++) {
			switch (*p) {
			case 'x': flags |= NR_EXCLUSIVE; break;
			case 'z': flags |= NR_ZCOPY_MON; break;
			case 't': flags |= NR_MONITOR_TX; break;
			case 'r': flags |= NR_MONITOR_RX; break;
			case 'R': flags |= NR_RX_RINGS_ONLY; break;
			case 'T': flags |= NR_TX_RINGS_ONLY; break;
			default:
				why = "unknown flag after '/'";
				goto fail;
			}
		}
	}
	if (*p == '@') {
		p++;
		memid = nmxdp_parse_num_(&p, UINT16_MAX);
		if (memid <= 0) {
			why = "invalid memory id after '@'";
			goto fail;
		}
	}
	if (*p != '\0') {
		why = "unexpected characters after the port name";
		goto fail;
	}

	memset(d->req.nr_name, 0, sizeof(d->req.nr_name));
	memcpy(d->req.nr_name, name, namelen);
	d->req.nr_ringid = (uint16_t)ringid;
	d->req.nr_flags = (d->req.nr_flags & ~(uint32_t)NR_REG_MASK) |
	    mode | flags;
	if (memid > 0)
		d->req.nr_arg2 = (uint16_t)memid;
	return 0;

fail:
	if (err != NULL)
		snprintf(err, MAXERRMSG, "%s: %s", ifname, why);
	errno = EINVAL;
	return -1;
}

static inline int
nm_close(struct nm_desc *d)
{
	if (d == NULL || d->self != d)
		return EINVAL;
	if (d->done_mmap && d->mem != NULL)
		munmap(d->mem, d->memsize);
	if (d->fd >= 0)
		close(d->fd);
	memset((void *)d, 0, sizeof(*d));
	free(d);
	return 0;
}

/*
 * Map the region of a registered descriptor, or share the parent's mapping
 * when both use the same allocator (same nr_arg2).  Fills nifp, some_ring,
 * buf_start and buf_end.  Returns 0, or an errno value (errno set too).
 */
static inline int
nm_mmap(struct nm_desc *d, const struct nm_desc *parent)
{
	struct netmap_if *nifp;
	struct netmap_ring *r;

	if (d->mem != NULL)
		return 0;
	if (IS_NETMAP_DESC(parent) && parent->mem != NULL &&
	    parent->req.nr_arg2 == d->req.nr_arg2) {
		d->mem = parent->mem;    /* borrowed: not unmapped by nm_close() */
		d->memsize = parent->memsize;
	} else {
		void *mem;

		d->memsize = d->req.nr_memsize;
		mem = mmap(NULL, d->memsize, PROT_READ | PROT_WRITE,
		    MAP_SHARED, d->fd, 0);
		if (mem == MAP_FAILED) {
			int e = errno ? errno : EINVAL;

			snprintf(d->msg, sizeof(d->msg), "mmap failed: %s",
			    strerror(e));
			errno = e;
			return e;
		}
		d->mem = mem;
		d->done_mmap = 1;
	}

	nifp = NETMAP_IF(d->mem, d->req.nr_offset);
	r = NETMAP_RXRING(nifp, d->first_rx_ring);
	if ((void *)r == (void *)nifp) /* RX rings not bound: TX only */
		r = NETMAP_TXRING(nifp, d->first_tx_ring);
	NMXDP_SET_CONST_(struct netmap_if *, d->nifp, nifp);
	NMXDP_SET_CONST_(struct netmap_ring *, d->some_ring, r);
	NMXDP_SET_CONST_(void *, d->buf_start, NETMAP_BUF(r, 0));
	NMXDP_SET_CONST_(void *, d->buf_end, (char *)d->mem + d->memsize);
	return 0;
}

/*
 * Open and register a port (legacy NIOCREGIF), then map its region.
 *
 * ifname  "netmap:..." or "vale...:..." (see nm_parse()); any other name
 *         returns NULL with errno 0, so that callers can fall back to
 *         something else.
 * req     initial value of the request (NULL = zeroes), before parsing.
 * flags   NM_OPEN_* and NETMAP_NO_TX_POLL / NETMAP_DO_RX_POLL.
 * parent  with non-zero flags, the NM_OPEN_IFNAME / ARG1 / ARG2 / ARG3 /
 *         RING_CFG fields are copied from parent->req (nr_arg1 otherwise
 *         defaults to 4, nr_arg3 to 0); its mapping is shared when it uses
 *         the same allocator.  NM_OPEN_NO_MMAP without a parent leaves the
 *         mapping to a later nm_mmap().
 *
 * Returns the descriptor, or NULL with errno set and a message on stderr.
 */
static inline struct nm_desc *
nm_open(const char *ifname, const struct nmreq *req, uint64_t flags,
    const struct nm_desc *parent)
{
	struct nm_desc *d;
	uint32_t mode;
	int e;

	if (ifname == NULL || !nmxdp_is_netmap_name_(ifname)) {
		errno = 0;
		return NULL;
	}
	d = (struct nm_desc *)calloc(1, sizeof(*d));
	if (d == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	d->self = d;
	d->fd = -1;
	if (req != NULL)
		d->req = *req;

	if (!(flags & NM_OPEN_IFNAME)) {
		if (nm_parse(ifname, d, d->msg) < 0)
			goto fail;
	}
	d->req.nr_version = NETMAP_API;
	d->req.nr_ringid &= NETMAP_RING_MASK;

	if (IS_NETMAP_DESC(parent) && flags != 0) {
		d->req.nr_arg1 = (flags & NM_OPEN_ARG1) ?
		    parent->req.nr_arg1 : 4;
		if (flags & NM_OPEN_ARG2)
			d->req.nr_arg2 = parent->req.nr_arg2;
		d->req.nr_arg3 = (flags & NM_OPEN_ARG3) ?
		    parent->req.nr_arg3 : 0;
		if (flags & NM_OPEN_RING_CFG) {
			d->req.nr_tx_slots = parent->req.nr_tx_slots;
			d->req.nr_rx_slots = parent->req.nr_rx_slots;
			d->req.nr_tx_rings = parent->req.nr_tx_rings;
			d->req.nr_rx_rings = parent->req.nr_rx_rings;
		}
		if (flags & NM_OPEN_IFNAME) {
			memcpy(d->req.nr_name, parent->req.nr_name,
			    sizeof(d->req.nr_name));
			d->req.nr_ringid = parent->req.nr_ringid;
			d->req.nr_flags = parent->req.nr_flags;
		}
	}
	d->req.nr_ringid |= (uint16_t)(flags &
	    (NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL));

	d->fd = open(NETMAP_DEVICE_NAME, O_RDWR);
	if (d->fd < 0) {
		snprintf(d->msg, sizeof(d->msg), "%s: cannot open %s: %s",
		    ifname, NETMAP_DEVICE_NAME, strerror(errno));
		goto fail;
	}
	if (ioctl(d->fd, NIOCREGIF, &d->req) < 0) {
		snprintf(d->msg, sizeof(d->msg), "%s: NIOCREGIF failed: %s",
		    ifname, strerror(errno));
		goto fail;
	}

	/* Rings this descriptor works on. */
	mode = d->req.nr_flags & NR_REG_MASK;
	if (mode == NR_REG_SW) {          /* the host ring pair */
		d->first_tx_ring = d->last_tx_ring = d->req.nr_tx_rings;
		d->first_rx_ring = d->last_rx_ring = d->req.nr_rx_rings;
	} else if (mode == NR_REG_ALL_NIC) {
		d->first_tx_ring = 0;
		d->first_rx_ring = 0;
		d->last_tx_ring = (uint16_t)(d->req.nr_tx_rings - 1);
		d->last_rx_ring = (uint16_t)(d->req.nr_rx_rings - 1);
	} else if (mode == NR_REG_NIC_SW) {  /* hardware + one host ring */
		d->first_tx_ring = 0;
		d->first_rx_ring = 0;
		d->last_tx_ring = d->req.nr_tx_rings;
		d->last_rx_ring = d->req.nr_rx_rings;
	} else if (mode == NR_REG_ONE_NIC) {
		d->first_tx_ring = d->last_tx_ring =
		    d->first_rx_ring = d->last_rx_ring =
		    d->req.nr_ringid & NETMAP_RING_MASK;
	} else {                          /* pipes and the rest */
		d->first_tx_ring = d->last_tx_ring = 0;
		d->first_rx_ring = d->last_rx_ring = 0;
	}
	d->cur_tx_ring = d->first_tx_ring;
	d->cur_rx_ring = d->first_rx_ring;

	if (!(flags & NM_OPEN_NO_MMAP) || IS_NETMAP_DESC(parent)) {
		if (nm_mmap(d, parent) != 0)
			goto fail;
	}
	return d;

fail:
	e = errno != 0 ? errno : EINVAL;
	if (d->msg[0] != '\0')
		D("%s", d->msg);
	nm_close(d);
	errno = e;
	return NULL;
}

/*
 * Queue one packet on the first TX ring (round robin from cur_tx_ring)
 * with room for it, from ring->cur on; a packet longer than a slot carries
 * (NMXDP_SLOT_ROOM) takes several slots chained with NS_MOREFRAG.  Advances head and cur; does not
 * sync.  Returns size, or 0 if no ring had room.
 */
static inline int
nm_inject(struct nm_desc *d, const void *buf, size_t size)
{
	int n = d->last_tx_ring - d->first_tx_ring + 1;
	unsigned int ri = d->cur_tx_ring;
	int c;

	for (c = 0; c < n; c++, ri++) {
		struct netmap_ring *ring;
		const char *src = (const char *)buf;
		size_t bufsz, need, space, rem;
		uint32_t i;

		if (ri > d->last_tx_ring || ri < d->first_tx_ring)
			ri = d->first_tx_ring;
		ring = NETMAP_TXRING(d->nifp, ri);
		if (ring->nr_buf_size <= NMXDP_BUF_HEADROOM)
			continue;
		bufsz = NMXDP_SLOT_ROOM(ring);
		need = size == 0 ? 1 : (size + bufsz - 1) / bufsz;
		space = ring->tail >= ring->cur ? ring->tail - ring->cur :
		    ring->tail + ring->num_slots - ring->cur;
		if (need > space)
			continue;

		i = ring->cur;
		rem = size;
		for (;;) {
			struct netmap_slot *slot = &ring->slot[i];
			size_t len = rem < bufsz ? rem : bufsz;

			nm_pkt_copy(src, NETMAP_BUF(ring, slot->buf_idx), (int)len);
			slot->len = (uint16_t)len;
			src += len;
			rem -= len;
			if (rem == 0) {
				slot->flags = 0;
				break;
			}
			slot->flags = NS_MOREFRAG;
			i = nm_ring_next(ring, i);
		}
		ring->head = ring->cur = nm_ring_next(ring, i);
		d->cur_tx_ring = (uint16_t)ri;
		return (int)size;
	}
	return 0;
}

/*
 * Slot index of the last fragment of the packet starting at slot i, or
 * ring->tail if the packet is not complete in [i, tail).
 */
static inline uint32_t
nmxdp_pkt_end_(const struct netmap_ring *ring, uint32_t i)
{
	while (ring->slot[i].flags & NS_MOREFRAG) {
		i = nm_ring_next(ring, i);
		if (i == ring->tail)
			break;
	}
	return i;
}

/*
 * Deliver up to cnt received packets (cnt <= 0: all of them) to cb, going
 * round robin over the RX rings from cur_rx_ring.  NS_MOREFRAG chains are
 * one packet: len counts every fragment, caplen only the bytes contiguous
 * at buf.  Each callback runs once the next packet has been found, with
 * NM_MORE_PKTS in hdr->flags for all but the last.  Slots are released
 * (head = cur = next) before their callback; there is no sync.  Returns
 * the number of packets delivered.
 */
static inline int
nm_dispatch(struct nm_desc *d, int cnt, nm_cb_t cb, unsigned char *arg)
{
	int n = d->last_rx_ring - d->first_rx_ring + 1;
	unsigned int ri = d->cur_rx_ring;
	int c, got = 0, pending = 0;

	d->hdr.d = d;
	d->hdr.buf = NULL;
	d->hdr.flags = NM_MORE_PKTS;
	for (c = 0; c < n && (cnt <= 0 || got < cnt); c++, ri++) {
		struct netmap_ring *ring;

		if (ri > d->last_rx_ring || ri < d->first_rx_ring)
			ri = d->first_rx_ring;
		ring = NETMAP_RXRING(d->nifp, ri);
		while (ring->cur != ring->tail && (cnt <= 0 || got < cnt)) {
			uint32_t i = ring->cur;
			uint32_t last = nmxdp_pkt_end_(ring, i);
			struct netmap_slot *slot = &ring->slot[i];
			unsigned char *contig;

			if (last == ring->tail)  /* incomplete packet */
				break;
			if (pending)
				cb(arg, &d->hdr, d->hdr.buf);
			d->cur_rx_ring = (uint16_t)ri;
			d->hdr.slot = slot;
			d->hdr.buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);
			d->hdr.len = d->hdr.caplen = slot->len;
			contig = d->hdr.buf;
			while (i != last) {
				uint32_t prevlen = ring->slot[i].len;
				unsigned char *nb;

				i = nm_ring_next(ring, i);
				slot = &ring->slot[i];
				nb = (unsigned char *)NETMAP_BUF(ring, slot->buf_idx);
				d->hdr.len += slot->len;
				if (contig != NULL && prevlen == ring->nr_buf_size &&
				    nb == contig + ring->nr_buf_size) {
					d->hdr.caplen += slot->len;
					contig = nb;
				} else {
					contig = NULL;
				}
			}
			d->hdr.ts = ring->ts;
			ring->head = ring->cur = nm_ring_next(ring, last);
			pending = 1;
			got++;
		}
	}
	if (pending) {
		d->hdr.flags = 0;
		cb(arg, &d->hdr, d->hdr.buf);
	}
	return got;
}

/*
 * Return the next received packet (one slot), going round robin over the
 * RX rings from cur_rx_ring, and release its slot (head = cur = next; the
 * buffer stays valid until the next sync).  Fills hdr (ts from ring->ts,
 * len = caplen = slot len).  NULL when every ring is empty.
 */
static inline unsigned char *
nm_nextpkt(struct nm_desc *d, struct nm_pkthdr *hdr)
{
	int n = d->last_rx_ring - d->first_rx_ring + 1;
	unsigned int ri = d->cur_rx_ring;
	int c;

	for (c = 0; c < n; c++, ri++) {
		struct netmap_ring *ring;
		struct netmap_slot *slot;
		unsigned char *buf;

		if (ri > d->last_rx_ring || ri < d->first_rx_ring)
			ri = d->first_rx_ring;
		ring = NETMAP_RXRING(d->nifp, ri);
		if (ring->cur == ring->tail)
			continue;
		slot = &ring->slot[ring->cur];
		buf = (unsigned char *)NETMAP_BUF(ring, slot->buf_idx);
		hdr->ts = ring->ts;
		hdr->len = hdr->caplen = slot->len;
		hdr->flags = 0;
		hdr->d = d;
		hdr->slot = slot;
		hdr->buf = buf;
		ring->head = ring->cur = nm_ring_next(ring, ring->cur);
		d->cur_rx_ring = (uint16_t)ri;
		return buf;
	}
	return NULL;
}

#endif /* NETMAP_WITH_LIBS */

#endif /* _NET_NETMAP_USER_H_ */
