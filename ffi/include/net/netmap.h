/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * net/netmap.h -- netmap user-space ABI, API 14.
 *
 * Written for nmxdp from the documented netmap ABI (see docs/netmap-compat.md);
 * it contains no upstream netmap code.  Sizes and
 * offsets match upstream's headers on x86_64 Linux (checked by
 * tests/c/layout.c).
 *
 * Shared-memory objects (netmap_if, netmap_ring, netmap_slot), the control
 * requests of the NIOCCTRL interface (struct nmreq_header and its bodies and
 * options) and the ioctl numbers.  The legacy struct nmreq interface lives in
 * <net/netmap_legacy.h>, included at the end.
 */
#ifndef _NET_NETMAP_H_
#define _NET_NETMAP_H_

#include <stdint.h>
#include <sys/types.h>   /* ssize_t */
#include <sys/time.h>    /* struct timeval */
#include <sys/ioctl.h>   /* _IO, _IOWR */
#include <net/if.h>      /* IFNAMSIZ */

#ifndef IFNAMSIZ         /* <net/if.h> hides it in strict ISO modes */
#define IFNAMSIZ IF_NAMESIZE
#endif

/*
 * Flexible array members are standard C but a GNU extension in C++; marking
 * them keeps the headers clean under g++ -pedantic.
 */
#if defined(__cplusplus) && (defined(__GNUC__) || defined(__clang__))
#define NMXDP_FLEX_ __extension__
#else
#define NMXDP_FLEX_
#endif

/* ------------------------------------------------------------------ */
/* Versions                                                            */
/* ------------------------------------------------------------------ */

#define NETMAP_API      14  /* version written by this header */
#define NETMAP_MIN_API  14  /* oldest version the kernel accepts */
#define NETMAP_MAX_API  15  /* newest version the kernel accepts */

#define NM_CACHE_ALIGN  128

/* ------------------------------------------------------------------ */
/* Slots                                                               */
/* ------------------------------------------------------------------ */

/* One slot of a ring: 16 bytes. */
struct netmap_slot {
	uint32_t buf_idx;  /* buffer index in the region's buffer pool */
	uint16_t len;      /* bytes in this buffer (one fragment) */
	uint16_t flags;    /* NS_* (low byte) and port/fragment info (high byte) */
	uint64_t ptr;      /* NS_INDIRECT user address, or data offset bits */
};

#define NS_BUF_CHANGED  0x0001  /* buf_idx was changed (by user or kernel) */
#define NS_REPORT       0x0002  /* ask for a TX completion notification */
#define NS_FORWARD      0x0004  /* forward the released RX slot to the peer */
#define NS_NO_LEARN     0x0008  /* VALE: do not learn the source MAC */
#define NS_INDIRECT     0x0010  /* VALE TX: data at user address 'ptr' */
#define NS_MOREFRAG     0x0020  /* the packet continues in the next slot */
#define NS_TXMON        0x0040  /* monitor: packet seen on a TX ring */

#define NS_PORT_SHIFT   8
#define NS_PORT_MASK    (0xff << NS_PORT_SHIFT)
/* VALE RX: fragments left in this packet, this one included */
#define NS_RFRAGS(_slot)  (((_slot)->flags >> 8) & 0xff)

/* Longest NS_MOREFRAG chain. */
#define NETMAP_MAX_FRAGS  64

/* ------------------------------------------------------------------ */
/* Rings                                                               */
/* ------------------------------------------------------------------ */

/*
 * Ring header: 256 bytes, 128-byte aligned; slot[] follows at byte 256.
 * (k) = written by the kernel, (u) = written by the user.
 */
struct netmap_ring {
	const int64_t   buf_ofs;      /* (k) ring address -> buffer pool */
	const uint32_t  num_slots;    /* (k) slots in this ring */
	const uint32_t  nr_buf_size;  /* (k) size of each buffer */
	const uint16_t  ringid;       /* (k) index of the ring in its direction */
	const uint16_t  dir;          /* (k) 0 = TX, 1 = RX */

	uint32_t        head;         /* (u) first slot owned by the user */
	uint32_t        cur;          /* (u) wakeup point */
	uint32_t        tail;         /* (k) first slot owned by the kernel */

	uint32_t        flags;        /* (u) NR_TIMESTAMP, NR_FORWARD */

	struct timeval  ts;           /* (k) time of the last rxsync */

	const uint64_t  offset_mask;  /* (k) bits of slot.ptr holding an offset */
	const uint64_t  buf_align;    /* (k) TX start alignment with offsets */

	/* opaque, starts a new cache line at byte 128 */
	uint8_t         sem[128] __attribute__((__aligned__(NM_CACHE_ALIGN)));

	NMXDP_FLEX_ struct netmap_slot slot[];  /* num_slots entries, at byte 256 */
};

/* netmap_ring.flags */
#define NR_TIMESTAMP  0x0002  /* always update ts on rxsync */
#define NR_FORWARD    0x0004  /* honour NS_FORWARD on this ring */

/* A ring is empty when the user owns no slot. */
static inline int
nm_ring_empty(const struct netmap_ring *ring)
{
	return ring->head == ring->tail;
}

/* ------------------------------------------------------------------ */
/* Interface descriptor                                                */
/* ------------------------------------------------------------------ */

/*
 * One per registered file descriptor: 56 bytes, then ring_ofs[] with the
 * offset of every ring relative to this structure (0 = ring not bound):
 * ni_tx_rings hardware TX, ni_host_tx_rings host TX, ni_rx_rings hardware
 * RX, ni_host_rx_rings host RX.
 */
struct netmap_if {
	char            ni_name[IFNAMSIZ];  /* port name */
	const uint32_t  ni_version;         /* unused (0) */
	const uint32_t  ni_flags;           /* NI_PRIV_MEM */
	const uint32_t  ni_tx_rings;        /* hardware TX rings */
	const uint32_t  ni_rx_rings;        /* hardware RX rings */
	uint32_t        ni_bufs_head;       /* head of the extra buffer list */
	const uint32_t  ni_host_tx_rings;   /* host TX rings (never 0) */
	const uint32_t  ni_host_rx_rings;   /* host RX rings (never 0) */
	uint32_t        ni_spare1[3];
	NMXDP_FLEX_ const ssize_t ring_ofs[];
};

/* netmap_if.ni_flags */
#define NI_PRIV_MEM  0x1  /* the port has a private allocator */

/* ------------------------------------------------------------------ */
/* Registration modes and flags                                        */
/* ------------------------------------------------------------------ */

/* nmreq_register.nr_mode, and the low nibble of the legacy nmreq.nr_flags */
enum {
	NR_REG_DEFAULT     = 0,  /* legacy only: derive from nr_ringid bits */
	NR_REG_ALL_NIC     = 1,  /* all hardware rings */
	NR_REG_SW          = 2,  /* all host rings */
	NR_REG_NIC_SW      = 3,  /* all hardware and host rings */
	NR_REG_ONE_NIC     = 4,  /* hardware ring pair nr_ringid */
	NR_REG_PIPE_MASTER = 5,  /* legacy only: pipe {nr_ringid */
	NR_REG_PIPE_SLAVE  = 6,  /* legacy only: pipe }nr_ringid */
	NR_REG_NULL        = 7,  /* rings in an existing allocator, no device */
	NR_REG_ONE_SW      = 8   /* host ring pair nr_ringid */
};

/* nmreq_register.nr_flags (and legacy nmreq.nr_flags above the mode nibble) */
#define NR_MONITOR_TX       0x100    /* copy monitor of TX rings */
#define NR_MONITOR_RX       0x200    /* copy monitor of RX rings */
#define NR_ZCOPY_MON        0x400    /* zero-copy monitor */
#define NR_EXCLUSIVE        0x800    /* exclusive access to the rings */
/* 0x1000 unused since API 13 */
#define NR_RX_RINGS_ONLY    0x2000   /* bind only RX rings */
#define NR_TX_RINGS_ONLY    0x4000   /* bind only TX rings */
#define NR_ACCEPT_VNET_HDR  0x8000   /* the application handles virtio-net headers */
#define NR_DO_RX_POLL       0x10000  /* accepted, no effect */
#define NR_NO_TX_POLL       0x20000  /* poll() does not flush TX rings */

/* ------------------------------------------------------------------ */
/* NIOCCTRL requests                                                   */
/* ------------------------------------------------------------------ */

#define NETMAP_REQ_IFNAMSIZ  64
#define NETMAP_REQ_MAXSIZE   4096  /* body + option bodies, at most */

/* Common header of every NIOCCTRL request: 88 bytes. */
struct nmreq_header {
	uint16_t nr_version;                    /* NETMAP_API */
	uint16_t nr_reqtype;                    /* NETMAP_REQ_* */
	uint32_t nr_reserved;                   /* must be 0 */
	char     nr_name[NETMAP_REQ_IFNAMSIZ];  /* port name */
	uint64_t nr_options;                    /* (struct nmreq_option *), 0 = none */
	uint64_t nr_body;                       /* pointer to the request body */
};

enum {
	NETMAP_REQ_REGISTER             = 1,   /* struct nmreq_register */
	NETMAP_REQ_PORT_INFO_GET        = 2,   /* struct nmreq_port_info_get */
	NETMAP_REQ_VALE_ATTACH          = 3,   /* struct nmreq_vale_attach */
	NETMAP_REQ_VALE_DETACH          = 4,   /* struct nmreq_vale_detach */
	NETMAP_REQ_VALE_LIST            = 5,   /* struct nmreq_vale_list */
	NETMAP_REQ_PORT_HDR_SET         = 6,   /* struct nmreq_port_hdr */
	NETMAP_REQ_PORT_HDR_GET         = 7,   /* struct nmreq_port_hdr */
	NETMAP_REQ_VALE_NEWIF           = 8,   /* struct nmreq_vale_newif */
	NETMAP_REQ_VALE_DELIF           = 9,   /* no body */
	NETMAP_REQ_VALE_POLLING_ENABLE  = 10,  /* struct nmreq_vale_polling */
	NETMAP_REQ_VALE_POLLING_DISABLE = 11,  /* struct nmreq_vale_polling */
	NETMAP_REQ_POOLS_INFO_GET       = 12,  /* struct nmreq_pools_info */
	NETMAP_REQ_SYNC_KLOOP_START     = 13,  /* struct nmreq_sync_kloop_start */
	NETMAP_REQ_SYNC_KLOOP_STOP      = 14,  /* no body */
	NETMAP_REQ_CSB_ENABLE           = 15   /* no body, NETMAP_REQ_OPT_CSB */
};

enum {
	NETMAP_REQ_OPT_EXTMEM              = 1,  /* struct nmreq_opt_extmem */
	NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS = 2,  /* struct nmreq_opt_sync_kloop_eventfds */
	NETMAP_REQ_OPT_CSB                 = 3,  /* struct nmreq_opt_csb */
	NETMAP_REQ_OPT_SYNC_KLOOP_MODE     = 4,  /* struct nmreq_opt_sync_kloop_mode */
	NETMAP_REQ_OPT_OFFSETS             = 5,  /* struct nmreq_opt_offsets */
	NETMAP_REQ_OPT_MAX                 = 6   /* end marker */
};

/* NETMAP_REQ_REGISTER: 56 bytes, hole at 44..47. */
struct nmreq_register {
	uint64_t nr_offset;         /* (out) netmap_if offset in the region */
	uint64_t nr_memsize;        /* (out) size of the region */
	uint32_t nr_tx_slots;       /* (in/out) */
	uint32_t nr_rx_slots;       /* (in/out) */
	uint16_t nr_tx_rings;       /* (in/out) hardware TX rings */
	uint16_t nr_rx_rings;       /* (in/out) hardware RX rings */
	uint16_t nr_host_tx_rings;  /* (in/out) */
	uint16_t nr_host_rx_rings;  /* (in/out) */
	uint16_t nr_mem_id;         /* (in/out) allocator, 0 = kernel's choice */
	uint16_t nr_ringid;         /* (in) ring for ONE_NIC / ONE_SW */
	uint32_t nr_mode;           /* (in) NR_REG_* */
	uint32_t nr_extra_bufs;     /* (in/out) extra buffers wanted / obtained */
	uint64_t nr_flags;          /* (in) NR_* */
};

/* NETMAP_REQ_PORT_INFO_GET: 32 bytes. */
struct nmreq_port_info_get {
	uint64_t nr_memsize;        /* (out) */
	uint32_t nr_tx_slots;       /* (out) */
	uint32_t nr_rx_slots;       /* (out) */
	uint16_t nr_tx_rings;       /* (out) */
	uint16_t nr_rx_rings;       /* (out) */
	uint16_t nr_host_tx_rings;  /* (out) */
	uint16_t nr_host_rx_rings;  /* (out) */
	uint16_t nr_mem_id;         /* (in/out) */
	uint16_t pad[3];
};

/* NETMAP_REQ_VALE_ATTACH: 64 bytes. */
struct nmreq_vale_attach {
	struct nmreq_register reg;
	uint32_t port_index;        /* (out) */
	uint32_t pad1;
};

/* NETMAP_REQ_VALE_DETACH: 8 bytes. */
struct nmreq_vale_detach {
	uint32_t port_index;        /* (out) */
	uint32_t pad1;
};

/* NETMAP_REQ_VALE_LIST: 8 bytes. */
struct nmreq_vale_list {
	uint16_t nr_bridge_idx;     /* (in/out) */
	uint16_t pad1;
	uint32_t nr_port_idx;       /* (in/out) */
};

/* NETMAP_REQ_PORT_HDR_SET / _GET: 8 bytes. */
struct nmreq_port_hdr {
	uint32_t nr_hdr_len;        /* 0, 10 or 12 */
	uint32_t pad1;
};

/* NETMAP_REQ_VALE_NEWIF: 16 bytes. */
struct nmreq_vale_newif {
	uint32_t nr_tx_slots;
	uint32_t nr_rx_slots;
	uint16_t nr_tx_rings;
	uint16_t nr_rx_rings;
	uint16_t nr_mem_id;
	uint16_t pad1;
};

/* NETMAP_REQ_VALE_POLLING_ENABLE / _DISABLE: 16 bytes. */
struct nmreq_vale_polling {
	uint32_t nr_mode;               /* NETMAP_POLLING_MODE_* */
	uint32_t nr_first_cpu_id;
	uint32_t nr_num_polling_cpus;
	uint32_t pad1;
};

/* Prefix of VALE port names ("vale0:p"). */
#define NM_BDG_NAME  "vale"

#define NETMAP_POLLING_MODE_SINGLE_CPU  1
#define NETMAP_POLLING_MODE_MULTI_CPU   2

/* NETMAP_REQ_POOLS_INFO_GET, and the body of NETMAP_REQ_OPT_EXTMEM: 64 bytes. */
struct nmreq_pools_info {
	uint64_t nr_memsize;
	uint16_t nr_mem_id;
	uint16_t pad1[3];
	uint64_t nr_if_pool_offset;
	uint32_t nr_if_pool_objtotal;
	uint32_t nr_if_pool_objsize;
	uint64_t nr_ring_pool_offset;
	uint32_t nr_ring_pool_objtotal;
	uint32_t nr_ring_pool_objsize;
	uint64_t nr_buf_pool_offset;
	uint32_t nr_buf_pool_objtotal;
	uint32_t nr_buf_pool_objsize;
};

/* NETMAP_REQ_SYNC_KLOOP_START: 8 bytes. */
struct nmreq_sync_kloop_start {
	uint32_t sleep_us;
	uint32_t pad1;
};

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/* Header of every option: 24 bytes. */
struct nmreq_option {
	uint64_t nro_next;     /* (struct nmreq_option *) next, 0 = end */
	uint32_t nro_reqtype;  /* NETMAP_REQ_OPT_* */
	uint32_t nro_status;   /* (out) 0 = accepted, else an errno */
	uint64_t nro_size;     /* size of variable-size options, else 0 */
};

/* NETMAP_REQ_OPT_EXTMEM: 96 bytes. */
struct nmreq_opt_extmem {
	struct nmreq_option     nro_opt;
	uint64_t                nro_usrptr;  /* user memory holding the region */
	struct nmreq_pools_info nro_info;    /* (in/out) pool geometry */
};

/* NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS: 24 bytes + 8 per ring. */
struct nmreq_opt_sync_kloop_eventfds {
	struct nmreq_option nro_opt;  /* nro_size = total size */
	NMXDP_FLEX_ struct {
		int32_t ioeventfd;    /* application -> kernel loop, < 0 = none */
		int32_t irqfd;        /* kernel loop -> application, < 0 = none */
	} eventfds[];
};

/* NETMAP_REQ_OPT_SYNC_KLOOP_MODE: 32 bytes. */
struct nmreq_opt_sync_kloop_mode {
	struct nmreq_option nro_opt;
	uint32_t            mode;     /* NM_OPT_SYNC_KLOOP_* */
};

#define NM_OPT_SYNC_KLOOP_DIRECT_TX  1
#define NM_OPT_SYNC_KLOOP_DIRECT_RX  2

/* NETMAP_REQ_OPT_CSB: 40 bytes. */
struct nmreq_opt_csb {
	struct nmreq_option nro_opt;
	uint64_t            csb_atok;  /* (struct nm_csb_atok *), one per bound ring */
	uint64_t            csb_ktoa;  /* (struct nm_csb_ktoa *), one per bound ring */
};

/* NETMAP_REQ_OPT_OFFSETS: 56 bytes. */
struct nmreq_opt_offsets {
	struct nmreq_option nro_opt;
	uint64_t            nro_max_offset;
	uint64_t            nro_initial_offset;
	uint32_t            nro_offset_bits;  /* 0 = the whole slot.ptr */
	uint32_t            nro_tx_align;
	uint64_t            nro_min_gap;
};

/* CSB entry written by the application: 64 bytes. */
struct nm_csb_atok {
	uint32_t head;
	uint32_t cur;
	uint32_t appl_need_kick;
	uint32_t sync_flags;
	uint32_t pad[12];
};

/* CSB entry written by the kernel: 64 bytes. */
struct nm_csb_ktoa {
	uint32_t hwcur;
	uint32_t hwtail;
	uint32_t kern_need_kick;
	uint32_t pad[13];
};

/*
 * Application side of CSB mode (sync kloop).  The kernel reads head after
 * cur, so cur is published first: it may then see a cur newer than head,
 * which is valid, but never a head newer than cur.  Symmetrically hwcur is
 * read after hwtail.
 */
static inline void
nm_stst_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);  /* store-store (and load-store) */
}

static inline void
nm_ldld_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);  /* load-load (and load-store) */
}

static inline void
nm_sync_kloop_appl_write(struct nm_csb_atok *atok, uint32_t cur, uint32_t head)
{
	nm_stst_barrier();  /* ring and slot updates before the new indices */
	atok->cur = cur;
	nm_stst_barrier();
	atok->head = head;
}

static inline void
nm_sync_kloop_appl_read(struct nm_csb_ktoa *ktoa, uint32_t *hwtail,
    uint32_t *hwcur)
{
	*hwtail = ktoa->hwtail;
	nm_ldld_barrier();
	*hwcur = ktoa->hwcur;
	nm_ldld_barrier();  /* the indices before any ring or slot read */
}

/* ------------------------------------------------------------------ */
/* ioctls                                                              */
/* ------------------------------------------------------------------ */

#define NM_IFRDATA_LEN  256

/* Argument of NIOCCONFIG: 272 bytes. */
struct nm_ifreq {
	char nifr_name[IFNAMSIZ];
	char data[NM_IFRDATA_LEN];
};

#define NIOCTXSYNC  _IO('i', 148)                             /* 0x6994 */
#define NIOCRXSYNC  _IO('i', 149)                             /* 0x6995 */
#define NIOCCONFIG  _IOWR('i', 150, struct nm_ifreq)          /* 0xc1106996 */
#define NIOCCTRL    _IOWR('i', 151, struct nmreq_header)      /* 0xc0586997 */

#include <net/netmap_legacy.h>

#endif /* _NET_NETMAP_H_ */
