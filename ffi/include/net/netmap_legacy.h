/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * net/netmap_legacy.h -- the legacy netmap control interface (struct nmreq,
 * NIOCGINFO, NIOCREGIF), API 14.
 *
 * Written for nmxdp from the documented netmap ABI (see docs/netmap-compat.md);
 * it contains no upstream netmap code.  Included by
 * <net/netmap.h>; including it alone pulls <net/netmap.h> in first.
 */
#ifndef _NET_NETMAP_LEGACY_H_
#define _NET_NETMAP_LEGACY_H_

#include <net/netmap.h>

/*
 * The legacy request: 60 bytes, 4-byte aligned.  nr_offset and nr_memsize
 * are 32 bits wide.  For NIOCREGIF (nr_cmd == 0) nr_name is the port name
 * without "netmap:" and without ring suffix, nr_flags holds an NR_REG_*
 * mode in its low nibble (NR_REG_MASK) OR'ed with NR_* flags, nr_arg2 is
 * the allocator id and nr_arg3 the number of extra buffers.
 */
struct nmreq {
	char     nr_name[IFNAMSIZ];
	uint32_t nr_version;   /* (in) NETMAP_API */
	uint32_t nr_offset;    /* (out) netmap_if offset in the region */
	uint32_t nr_memsize;   /* (out) size of the region */
	uint32_t nr_tx_slots;  /* (in/out) */
	uint32_t nr_rx_slots;  /* (in/out) */
	uint16_t nr_tx_rings;  /* (in/out) */
	uint16_t nr_rx_rings;  /* (in/out) */
	uint16_t nr_ringid;    /* (in) ring number and NETMAP_* bits */
	uint16_t nr_cmd;       /* (in) 0 = register, else NETMAP_BDG_* */
	uint16_t nr_arg1;      /* (in) command argument */
	uint16_t nr_arg2;      /* (in/out) allocator id */
	uint32_t nr_arg3;      /* (in/out) extra buffers */
	uint32_t nr_flags;     /* (in) NR_REG_* | NR_* */
	uint32_t spare2[1];
};

/* nr_flags: the NR_REG_* mode is in the low nibble (the NR_REG_* values,
 * NR_REG_DEFAULT and NR_REG_PIPE_MASTER/SLAVE included, are defined in
 * <net/netmap.h>). */
#define NR_REG_MASK  0xf

/* nr_ringid bits */
#define NETMAP_RING_MASK   0x0fff  /* ring number */
#define NETMAP_NO_TX_POLL  0x1000  /* poll() does not flush TX rings */
#define NETMAP_SW_RING     0x2000  /* deprecated: host rings */
#define NETMAP_HW_RING     0x4000  /* deprecated: one hardware ring */
#define NETMAP_DO_RX_POLL  0x8000  /* accepted, no effect */

/* nr_cmd values */
#define NETMAP_BDG_ATTACH      1   /* attach a port to a VALE switch */
#define NETMAP_BDG_DETACH      2   /* detach a port from a VALE switch */
#define NETMAP_BDG_REGOPS      3   /* kernel-only: register lookup ops */
#define NETMAP_BDG_LIST        4   /* list switches and ports */
#define NETMAP_BDG_VNET_HDR    5   /* set the virtio-net header length */
#define NETMAP_BDG_NEWIF       6   /* create a persistent VALE port */
#define NETMAP_BDG_DELIF       7   /* delete a persistent VALE port */
#define NETMAP_PT_HOST_CREATE  8   /* passthrough (unsupported) */
#define NETMAP_PT_HOST_DELETE  9   /* passthrough (unsupported) */
#define NETMAP_BDG_POLLING_ON  10  /* start kernel polling threads */
#define NETMAP_BDG_POLLING_OFF 11  /* stop kernel polling threads */
#define NETMAP_VNET_HDR_GET    12  /* get the virtio-net header length */
#define NETMAP_POOLS_INFO_GET  13  /* API 11 only; rejected by API 14 kernels */
#define NETMAP_POOLS_CREATE    14  /* API 11.4 only: external memory; rejected */

/* API 11 spellings of the same commands */
#define NETMAP_BDG_LOOKUP_REG  NETMAP_BDG_REGOPS
#define NETMAP_BDG_OFFSET      NETMAP_BDG_VNET_HDR

/* nr_arg1 for NETMAP_BDG_ATTACH: attach the host stack too */
#define NETMAP_BDG_HOST  1

/* API 11 nr_flags bit: ptnetmap host mode (passthrough).  The bit is unused
 * since API 13 and ignored, like any unknown flag. */
#define NR_PTNETMAP_HOST     0x1000
#define NR_PASSTHROUGH_HOST  NR_PTNETMAP_HOST

/*
 * Allocator geometry returned by the API 11 NETMAP_POOLS_INFO_GET command
 * (pointer in the request): 48 bytes.  Superseded by struct
 * nmreq_pools_info and NETMAP_REQ_POOLS_INFO_GET.
 */
struct netmap_pools_info {
	uint64_t memsize;              /* region size, as nr_memsize */
	uint32_t memid;                /* allocator id, as nr_arg2 */
	uint32_t if_pool_offset;
	uint32_t if_pool_objtotal;
	uint32_t if_pool_objsize;
	uint32_t ring_pool_offset;
	uint32_t ring_pool_objtotal;
	uint32_t ring_pool_objsize;
	uint32_t buf_pool_offset;
	uint32_t buf_pool_objtotal;
	uint32_t buf_pool_objsize;
};

#define NIOCGINFO  _IOWR('i', 145, struct nmreq)  /* 0xc03c6991 */
#define NIOCREGIF  _IOWR('i', 146, struct nmreq)  /* 0xc03c6992 */

#endif /* _NET_NETMAP_LEGACY_H_ */
