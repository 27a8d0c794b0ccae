/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Layout test of nmxdp's netmap headers: every size, alignment, offset and
 * constant netmap applications depend on (upstream's x86_64 values) is a
 * _Static_assert, so a wrong header fails to compile.  main() then
 * runs a few checks of the ring/region macros on a fake region.
 *
 *   gcc -O2 -Wall -Wextra -Werror -std=c11 -pedantic -I ffi/include \
 *       tests/c/layout.c -o /tmp/layout && /tmp/layout
 */
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>
#include <libnetmap.h>

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libnetmap.h references it (see libnetmap_init()); this test does not link
 * the library, so it provides the variable itself. */
int nmctx_threadsafe;

#define SZ(T, n)      (sizeof(T) == (n))
#define AL(T, n)      (_Alignof(T) == (n))
#define OFF(T, f, n)  (offsetof(T, f) == (n))
#define FSZ(T, f, n)  (sizeof(((T *)0)->f) == (n))
#define EQ(a, b)      ((unsigned long long)(a) == (unsigned long long)(b))

#define CHECKS(X)							\
	/* 1.1 versions */						\
	X(EQ(NETMAP_API, 14))						\
	X(EQ(NETMAP_MIN_API, 14))					\
	X(EQ(NETMAP_MAX_API, 15))					\
	X(EQ(NM_CACHE_ALIGN, 128))					\
	/* 2.1 netmap_slot */						\
	X(SZ(struct netmap_slot, 16))					\
	X(AL(struct netmap_slot, 8))					\
	X(OFF(struct netmap_slot, buf_idx, 0))				\
	X(FSZ(struct netmap_slot, buf_idx, 4))				\
	X(OFF(struct netmap_slot, len, 4))				\
	X(FSZ(struct netmap_slot, len, 2))				\
	X(OFF(struct netmap_slot, flags, 6))				\
	X(FSZ(struct netmap_slot, flags, 2))				\
	X(OFF(struct netmap_slot, ptr, 8))				\
	X(FSZ(struct netmap_slot, ptr, 8))				\
	X(EQ(NS_BUF_CHANGED, 0x0001))					\
	X(EQ(NS_REPORT, 0x0002))					\
	X(EQ(NS_FORWARD, 0x0004))					\
	X(EQ(NS_NO_LEARN, 0x0008))					\
	X(EQ(NS_INDIRECT, 0x0010))					\
	X(EQ(NS_MOREFRAG, 0x0020))					\
	X(EQ(NS_TXMON, 0x0040))						\
	X(EQ(NS_PORT_SHIFT, 8))						\
	X(EQ(NS_PORT_MASK, 0xff00))					\
	X(EQ(NETMAP_MAX_FRAGS, 64))					\
	/* 2.2 netmap_ring */						\
	X(SZ(struct netmap_ring, 256))					\
	X(AL(struct netmap_ring, 128))					\
	X(OFF(struct netmap_ring, buf_ofs, 0))				\
	X(FSZ(struct netmap_ring, buf_ofs, 8))				\
	X(OFF(struct netmap_ring, num_slots, 8))			\
	X(FSZ(struct netmap_ring, num_slots, 4))			\
	X(OFF(struct netmap_ring, nr_buf_size, 12))			\
	X(FSZ(struct netmap_ring, nr_buf_size, 4))			\
	X(OFF(struct netmap_ring, ringid, 16))				\
	X(FSZ(struct netmap_ring, ringid, 2))				\
	X(OFF(struct netmap_ring, dir, 18))				\
	X(FSZ(struct netmap_ring, dir, 2))				\
	X(OFF(struct netmap_ring, head, 20))				\
	X(OFF(struct netmap_ring, cur, 24))				\
	X(OFF(struct netmap_ring, tail, 28))				\
	X(OFF(struct netmap_ring, flags, 32))				\
	X(OFF(struct netmap_ring, ts, 40))				\
	X(FSZ(struct netmap_ring, ts, 16))				\
	X(OFF(struct netmap_ring, offset_mask, 56))			\
	X(FSZ(struct netmap_ring, offset_mask, 8))			\
	X(OFF(struct netmap_ring, buf_align, 64))			\
	X(FSZ(struct netmap_ring, buf_align, 8))			\
	X(OFF(struct netmap_ring, sem, 128))				\
	X(FSZ(struct netmap_ring, sem, 128))				\
	X(OFF(struct netmap_ring, slot, 256))				\
	X(EQ(NR_TIMESTAMP, 0x0002))					\
	X(EQ(NR_FORWARD, 0x0004))					\
	/* 2.3 netmap_if */						\
	X(SZ(struct netmap_if, 56))					\
	X(AL(struct netmap_if, 8))					\
	X(OFF(struct netmap_if, ni_name, 0))				\
	X(FSZ(struct netmap_if, ni_name, 16))				\
	X(OFF(struct netmap_if, ni_version, 16))			\
	X(OFF(struct netmap_if, ni_flags, 20))				\
	X(OFF(struct netmap_if, ni_tx_rings, 24))			\
	X(OFF(struct netmap_if, ni_rx_rings, 28))			\
	X(OFF(struct netmap_if, ni_bufs_head, 32))			\
	X(OFF(struct netmap_if, ni_host_tx_rings, 36))			\
	X(OFF(struct netmap_if, ni_host_rx_rings, 40))			\
	X(OFF(struct netmap_if, ni_spare1, 44))				\
	X(FSZ(struct netmap_if, ni_spare1, 12))				\
	X(OFF(struct netmap_if, ring_ofs, 56))				\
	X(FSZ(struct netmap_if, ring_ofs[0], 8))			\
	X(EQ(NI_PRIV_MEM, 0x1))						\
	/* 4.1 struct nmreq */						\
	X(SZ(struct nmreq, 60))						\
	X(AL(struct nmreq, 4))						\
	X(OFF(struct nmreq, nr_name, 0))				\
	X(FSZ(struct nmreq, nr_name, 16))				\
	X(OFF(struct nmreq, nr_version, 16))				\
	X(OFF(struct nmreq, nr_offset, 20))				\
	X(FSZ(struct nmreq, nr_offset, 4))				\
	X(OFF(struct nmreq, nr_memsize, 24))				\
	X(FSZ(struct nmreq, nr_memsize, 4))				\
	X(OFF(struct nmreq, nr_tx_slots, 28))				\
	X(OFF(struct nmreq, nr_rx_slots, 32))				\
	X(OFF(struct nmreq, nr_tx_rings, 36))				\
	X(FSZ(struct nmreq, nr_tx_rings, 2))				\
	X(OFF(struct nmreq, nr_rx_rings, 38))				\
	X(OFF(struct nmreq, nr_ringid, 40))				\
	X(FSZ(struct nmreq, nr_ringid, 2))				\
	X(OFF(struct nmreq, nr_cmd, 42))				\
	X(OFF(struct nmreq, nr_arg1, 44))				\
	X(OFF(struct nmreq, nr_arg2, 46))				\
	X(FSZ(struct nmreq, nr_arg2, 2))				\
	X(OFF(struct nmreq, nr_arg3, 48))				\
	X(FSZ(struct nmreq, nr_arg3, 4))				\
	X(OFF(struct nmreq, nr_flags, 52))				\
	X(FSZ(struct nmreq, nr_flags, 4))				\
	X(OFF(struct nmreq, spare2, 56))				\
	X(FSZ(struct nmreq, spare2, 4))					\
	X(EQ(NR_REG_MASK, 0xf))						\
	X(EQ(NETMAP_RING_MASK, 0x0fff))					\
	X(EQ(NETMAP_NO_TX_POLL, 0x1000))				\
	X(EQ(NETMAP_SW_RING, 0x2000))					\
	X(EQ(NETMAP_HW_RING, 0x4000))					\
	X(EQ(NETMAP_DO_RX_POLL, 0x8000))				\
	X(EQ(NETMAP_BDG_ATTACH, 1))					\
	X(EQ(NETMAP_BDG_DETACH, 2))					\
	X(EQ(NETMAP_BDG_REGOPS, 3))					\
	X(EQ(NETMAP_BDG_LIST, 4))					\
	X(EQ(NETMAP_BDG_VNET_HDR, 5))					\
	X(EQ(NETMAP_BDG_NEWIF, 6))					\
	X(EQ(NETMAP_BDG_DELIF, 7))					\
	X(EQ(NETMAP_PT_HOST_CREATE, 8))					\
	X(EQ(NETMAP_PT_HOST_DELETE, 9))					\
	X(EQ(NETMAP_BDG_POLLING_ON, 10))				\
	X(EQ(NETMAP_BDG_POLLING_OFF, 11))				\
	X(EQ(NETMAP_VNET_HDR_GET, 12))					\
	X(EQ(NETMAP_POOLS_INFO_GET, 13))				\
	X(EQ(NETMAP_BDG_HOST, 1))					\
	/* API 11 legacy names */					\
	X(EQ(NETMAP_POOLS_CREATE, 14))					\
	X(EQ(NETMAP_BDG_LOOKUP_REG, 3))					\
	X(EQ(NETMAP_BDG_OFFSET, 5))					\
	X(EQ(NR_PTNETMAP_HOST, 0x1000))					\
	X(EQ(NR_PASSTHROUGH_HOST, 0x1000))				\
	X(SZ(struct netmap_pools_info, 48))				\
	X(OFF(struct netmap_pools_info, memsize, 0))			\
	X(OFF(struct netmap_pools_info, memid, 8))			\
	X(OFF(struct netmap_pools_info, if_pool_offset, 12))		\
	X(OFF(struct netmap_pools_info, ring_pool_offset, 24))		\
	X(OFF(struct netmap_pools_info, buf_pool_offset, 36))		\
	X(OFF(struct netmap_pools_info, buf_pool_objsize, 44))		\
	/* 4.2 modes and flags */					\
	X(EQ(NR_REG_DEFAULT, 0))					\
	X(EQ(NR_REG_ALL_NIC, 1))					\
	X(EQ(NR_REG_SW, 2))						\
	X(EQ(NR_REG_NIC_SW, 3))						\
	X(EQ(NR_REG_ONE_NIC, 4))					\
	X(EQ(NR_REG_PIPE_MASTER, 5))					\
	X(EQ(NR_REG_PIPE_SLAVE, 6))					\
	X(EQ(NR_REG_NULL, 7))						\
	X(EQ(NR_REG_ONE_SW, 8))						\
	X(EQ(NR_MONITOR_TX, 0x100))					\
	X(EQ(NR_MONITOR_RX, 0x200))					\
	X(EQ(NR_ZCOPY_MON, 0x400))					\
	X(EQ(NR_EXCLUSIVE, 0x800))					\
	X(EQ(NR_RX_RINGS_ONLY, 0x2000))					\
	X(EQ(NR_TX_RINGS_ONLY, 0x4000))					\
	X(EQ(NR_ACCEPT_VNET_HDR, 0x8000))				\
	X(EQ(NR_DO_RX_POLL, 0x10000))					\
	X(EQ(NR_NO_TX_POLL, 0x20000))					\
	/* 4.3 ioctls */						\
	X(EQ(NIOCGINFO, 0xc03c6991UL))					\
	X(EQ(NIOCREGIF, 0xc03c6992UL))					\
	X(EQ(NIOCTXSYNC, 0x6994UL))					\
	X(EQ(NIOCRXSYNC, 0x6995UL))					\
	X(EQ(NIOCCONFIG, 0xc1106996UL))					\
	X(EQ(NIOCCTRL, 0xc0586997UL))					\
	X(SZ(struct nm_ifreq, 272))					\
	X(OFF(struct nm_ifreq, nifr_name, 0))				\
	X(FSZ(struct nm_ifreq, nifr_name, 16))				\
	X(OFF(struct nm_ifreq, data, 16))				\
	X(FSZ(struct nm_ifreq, data, 256))				\
	/* 5.1 nmreq_header */						\
	X(SZ(struct nmreq_header, 88))					\
	X(AL(struct nmreq_header, 8))					\
	X(OFF(struct nmreq_header, nr_version, 0))			\
	X(FSZ(struct nmreq_header, nr_version, 2))			\
	X(OFF(struct nmreq_header, nr_reqtype, 2))			\
	X(FSZ(struct nmreq_header, nr_reqtype, 2))			\
	X(OFF(struct nmreq_header, nr_reserved, 4))			\
	X(OFF(struct nmreq_header, nr_name, 8))				\
	X(FSZ(struct nmreq_header, nr_name, 64))			\
	X(OFF(struct nmreq_header, nr_options, 72))			\
	X(OFF(struct nmreq_header, nr_body, 80))			\
	X(EQ(NETMAP_REQ_IFNAMSIZ, 64))					\
	X(EQ(NETMAP_REQ_MAXSIZE, 4096))					\
	/* 5.2 request types and body sizes */				\
	X(EQ(NETMAP_REQ_REGISTER, 1))					\
	X(EQ(NETMAP_REQ_PORT_INFO_GET, 2))				\
	X(EQ(NETMAP_REQ_VALE_ATTACH, 3))				\
	X(EQ(NETMAP_REQ_VALE_DETACH, 4))				\
	X(EQ(NETMAP_REQ_VALE_LIST, 5))					\
	X(EQ(NETMAP_REQ_PORT_HDR_SET, 6))				\
	X(EQ(NETMAP_REQ_PORT_HDR_GET, 7))				\
	X(EQ(NETMAP_REQ_VALE_NEWIF, 8))					\
	X(EQ(NETMAP_REQ_VALE_DELIF, 9))					\
	X(EQ(NETMAP_REQ_VALE_POLLING_ENABLE, 10))			\
	X(EQ(NETMAP_REQ_VALE_POLLING_DISABLE, 11))			\
	X(EQ(NETMAP_REQ_POOLS_INFO_GET, 12))				\
	X(EQ(NETMAP_REQ_SYNC_KLOOP_START, 13))				\
	X(EQ(NETMAP_REQ_SYNC_KLOOP_STOP, 14))				\
	X(EQ(NETMAP_REQ_CSB_ENABLE, 15))				\
	X(SZ(struct nmreq_register, 56))				\
	X(SZ(struct nmreq_port_info_get, 32))				\
	X(SZ(struct nmreq_vale_attach, 64))				\
	X(SZ(struct nmreq_vale_detach, 8))				\
	X(SZ(struct nmreq_vale_list, 8))				\
	X(SZ(struct nmreq_port_hdr, 8))					\
	X(SZ(struct nmreq_vale_newif, 16))				\
	X(SZ(struct nmreq_vale_polling, 16))				\
	X(SZ(struct nmreq_pools_info, 64))				\
	X(SZ(struct nmreq_sync_kloop_start, 8))				\
	/* 5.3 nmreq_register */					\
	X(AL(struct nmreq_register, 8))					\
	X(OFF(struct nmreq_register, nr_offset, 0))			\
	X(FSZ(struct nmreq_register, nr_offset, 8))			\
	X(OFF(struct nmreq_register, nr_memsize, 8))			\
	X(FSZ(struct nmreq_register, nr_memsize, 8))			\
	X(OFF(struct nmreq_register, nr_tx_slots, 16))			\
	X(OFF(struct nmreq_register, nr_rx_slots, 20))			\
	X(OFF(struct nmreq_register, nr_tx_rings, 24))			\
	X(FSZ(struct nmreq_register, nr_tx_rings, 2))			\
	X(OFF(struct nmreq_register, nr_rx_rings, 26))			\
	X(OFF(struct nmreq_register, nr_host_tx_rings, 28))		\
	X(OFF(struct nmreq_register, nr_host_rx_rings, 30))		\
	X(OFF(struct nmreq_register, nr_mem_id, 32))			\
	X(FSZ(struct nmreq_register, nr_mem_id, 2))			\
	X(OFF(struct nmreq_register, nr_ringid, 34))			\
	X(FSZ(struct nmreq_register, nr_ringid, 2))			\
	X(OFF(struct nmreq_register, nr_mode, 36))			\
	X(FSZ(struct nmreq_register, nr_mode, 4))			\
	X(OFF(struct nmreq_register, nr_extra_bufs, 40))		\
	X(FSZ(struct nmreq_register, nr_extra_bufs, 4))			\
	X(OFF(struct nmreq_register, nr_flags, 48))			\
	X(FSZ(struct nmreq_register, nr_flags, 8))			\
	/* 5.4 other bodies */						\
	X(OFF(struct nmreq_port_info_get, nr_memsize, 0))		\
	X(OFF(struct nmreq_port_info_get, nr_tx_slots, 8))		\
	X(OFF(struct nmreq_port_info_get, nr_rx_slots, 12))		\
	X(OFF(struct nmreq_port_info_get, nr_tx_rings, 16))		\
	X(OFF(struct nmreq_port_info_get, nr_rx_rings, 18))		\
	X(OFF(struct nmreq_port_info_get, nr_host_tx_rings, 20))	\
	X(OFF(struct nmreq_port_info_get, nr_host_rx_rings, 22))	\
	X(OFF(struct nmreq_port_info_get, nr_mem_id, 24))		\
	X(OFF(struct nmreq_port_info_get, pad, 26))			\
	X(FSZ(struct nmreq_port_info_get, pad, 6))			\
	X(OFF(struct nmreq_vale_attach, reg, 0))			\
	X(OFF(struct nmreq_vale_attach, port_index, 56))		\
	X(OFF(struct nmreq_vale_attach, pad1, 60))			\
	X(OFF(struct nmreq_vale_detach, port_index, 0))			\
	X(OFF(struct nmreq_vale_detach, pad1, 4))			\
	X(OFF(struct nmreq_vale_list, nr_bridge_idx, 0))		\
	X(FSZ(struct nmreq_vale_list, nr_bridge_idx, 2))		\
	X(OFF(struct nmreq_vale_list, pad1, 2))				\
	X(OFF(struct nmreq_vale_list, nr_port_idx, 4))			\
	X(FSZ(struct nmreq_vale_list, nr_port_idx, 4))			\
	X(OFF(struct nmreq_port_hdr, nr_hdr_len, 0))			\
	X(OFF(struct nmreq_port_hdr, pad1, 4))				\
	X(OFF(struct nmreq_vale_newif, nr_tx_slots, 0))			\
	X(OFF(struct nmreq_vale_newif, nr_rx_slots, 4))			\
	X(OFF(struct nmreq_vale_newif, nr_tx_rings, 8))			\
	X(OFF(struct nmreq_vale_newif, nr_rx_rings, 10))		\
	X(OFF(struct nmreq_vale_newif, nr_mem_id, 12))			\
	X(OFF(struct nmreq_vale_newif, pad1, 14))			\
	X(OFF(struct nmreq_vale_polling, nr_mode, 0))			\
	X(OFF(struct nmreq_vale_polling, nr_first_cpu_id, 4))		\
	X(OFF(struct nmreq_vale_polling, nr_num_polling_cpus, 8))	\
	X(OFF(struct nmreq_vale_polling, pad1, 12))			\
	X(EQ(NETMAP_POLLING_MODE_SINGLE_CPU, 1))			\
	X(EQ(NETMAP_POLLING_MODE_MULTI_CPU, 2))				\
	X(OFF(struct nmreq_pools_info, nr_memsize, 0))			\
	X(OFF(struct nmreq_pools_info, nr_mem_id, 8))			\
	X(OFF(struct nmreq_pools_info, pad1, 10))			\
	X(FSZ(struct nmreq_pools_info, pad1, 6))			\
	X(OFF(struct nmreq_pools_info, nr_if_pool_offset, 16))		\
	X(OFF(struct nmreq_pools_info, nr_if_pool_objtotal, 24))	\
	X(OFF(struct nmreq_pools_info, nr_if_pool_objsize, 28))		\
	X(OFF(struct nmreq_pools_info, nr_ring_pool_offset, 32))	\
	X(OFF(struct nmreq_pools_info, nr_ring_pool_objtotal, 40))	\
	X(OFF(struct nmreq_pools_info, nr_ring_pool_objsize, 44))	\
	X(OFF(struct nmreq_pools_info, nr_buf_pool_offset, 48))		\
	X(OFF(struct nmreq_pools_info, nr_buf_pool_objtotal, 56))	\
	X(OFF(struct nmreq_pools_info, nr_buf_pool_objsize, 60))	\
	X(OFF(struct nmreq_sync_kloop_start, sleep_us, 0))		\
	X(OFF(struct nmreq_sync_kloop_start, pad1, 4))			\
	X(SZ(struct nm_csb_atok, 64))					\
	X(OFF(struct nm_csb_atok, head, 0))				\
	X(OFF(struct nm_csb_atok, cur, 4))				\
	X(OFF(struct nm_csb_atok, appl_need_kick, 8))			\
	X(OFF(struct nm_csb_atok, sync_flags, 12))			\
	X(OFF(struct nm_csb_atok, pad, 16))				\
	X(FSZ(struct nm_csb_atok, pad, 48))				\
	X(SZ(struct nm_csb_ktoa, 64))					\
	X(OFF(struct nm_csb_ktoa, hwcur, 0))				\
	X(OFF(struct nm_csb_ktoa, hwtail, 4))				\
	X(OFF(struct nm_csb_ktoa, kern_need_kick, 8))			\
	X(OFF(struct nm_csb_ktoa, pad, 12))				\
	X(FSZ(struct nm_csb_ktoa, pad, 52))				\
	/* 5.5 options */						\
	X(SZ(struct nmreq_option, 24))					\
	X(OFF(struct nmreq_option, nro_next, 0))			\
	X(OFF(struct nmreq_option, nro_reqtype, 8))			\
	X(OFF(struct nmreq_option, nro_status, 12))			\
	X(OFF(struct nmreq_option, nro_size, 16))			\
	X(FSZ(struct nmreq_option, nro_size, 8))			\
	X(EQ(NETMAP_REQ_OPT_EXTMEM, 1))					\
	X(EQ(NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, 2))			\
	X(EQ(NETMAP_REQ_OPT_CSB, 3))					\
	X(EQ(NETMAP_REQ_OPT_SYNC_KLOOP_MODE, 4))			\
	X(EQ(NETMAP_REQ_OPT_OFFSETS, 5))				\
	X(EQ(NETMAP_REQ_OPT_MAX, 6))					\
	X(SZ(struct nmreq_opt_extmem, 96))				\
	X(OFF(struct nmreq_opt_extmem, nro_opt, 0))			\
	X(OFF(struct nmreq_opt_extmem, nro_usrptr, 24))			\
	X(OFF(struct nmreq_opt_extmem, nro_info, 32))			\
	X(SZ(struct nmreq_opt_sync_kloop_eventfds, 24))			\
	X(OFF(struct nmreq_opt_sync_kloop_eventfds, eventfds, 24))	\
	X(FSZ(struct nmreq_opt_sync_kloop_eventfds, eventfds[0], 8))	\
	X(OFF(struct nmreq_opt_sync_kloop_eventfds, eventfds[0].ioeventfd, 24)) \
	X(OFF(struct nmreq_opt_sync_kloop_eventfds, eventfds[0].irqfd, 28)) \
	X(SZ(struct nmreq_opt_csb, 40))					\
	X(OFF(struct nmreq_opt_csb, csb_atok, 24))			\
	X(OFF(struct nmreq_opt_csb, csb_ktoa, 32))			\
	X(SZ(struct nmreq_opt_sync_kloop_mode, 32))			\
	X(OFF(struct nmreq_opt_sync_kloop_mode, mode, 24))		\
	X(EQ(NM_OPT_SYNC_KLOOP_DIRECT_TX, 1))				\
	X(EQ(NM_OPT_SYNC_KLOOP_DIRECT_RX, 2))				\
	X(SZ(struct nmreq_opt_offsets, 56))				\
	X(OFF(struct nmreq_opt_offsets, nro_max_offset, 24))		\
	X(OFF(struct nmreq_opt_offsets, nro_initial_offset, 32))	\
	X(OFF(struct nmreq_opt_offsets, nro_offset_bits, 40))		\
	X(FSZ(struct nmreq_opt_offsets, nro_offset_bits, 4))		\
	X(OFF(struct nmreq_opt_offsets, nro_tx_align, 44))		\
	X(OFF(struct nmreq_opt_offsets, nro_min_gap, 48))		\
	/* 9.2 libnetmap */						\
	X(SZ(struct nmport_d, 216))					\
	X(OFF(struct nmport_d, hdr, 0))					\
	X(OFF(struct nmport_d, reg, 88))				\
	X(OFF(struct nmport_d, mem, 144))				\
	X(OFF(struct nmport_d, ctx, 152))				\
	X(OFF(struct nmport_d, register_done, 160))			\
	X(OFF(struct nmport_d, mmap_done, 164))				\
	X(OFF(struct nmport_d, extmem, 168))				\
	X(OFF(struct nmport_d, fd, 176))				\
	X(OFF(struct nmport_d, nifp, 184))				\
	X(OFF(struct nmport_d, first_tx_ring, 192))			\
	X(OFF(struct nmport_d, last_tx_ring, 194))			\
	X(OFF(struct nmport_d, first_rx_ring, 196))			\
	X(OFF(struct nmport_d, last_rx_ring, 198))			\
	X(OFF(struct nmport_d, cur_tx_ring, 200))			\
	X(OFF(struct nmport_d, cur_rx_ring, 202))			\
	X(OFF(struct nmport_d, clist, 208))				\
	X(SZ(struct nmem_d, 48))					\
	X(OFF(struct nmem_d, mem_id, 0))				\
	X(FSZ(struct nmem_d, mem_id, 2))				\
	X(OFF(struct nmem_d, refcount, 4))				\
	X(OFF(struct nmem_d, mem, 8))					\
	X(OFF(struct nmem_d, size, 16))					\
	X(FSZ(struct nmem_d, size, 8))					\
	X(OFF(struct nmem_d, is_extmem, 24))				\
	X(OFF(struct nmem_d, next, 32))					\
	X(OFF(struct nmem_d, prev, 40))					\
	X(SZ(struct nmctx, 48))						\
	X(OFF(struct nmctx, verbose, 0))				\
	X(OFF(struct nmctx, error, 8))					\
	X(OFF(struct nmctx, malloc, 16))				\
	X(OFF(struct nmctx, free, 24))					\
	X(OFF(struct nmctx, lock, 32))					\
	X(OFF(struct nmctx, mem_descs, 40))				\
	X(EQ(NMREQ_OPTK_ALLOWEMPTY, 1))					\
	X(EQ(NMREQ_OPTK_MUSTSET, 2))					\
	X(EQ(NMREQ_OPTK_DEFAULT, 4))					\
	X(EQ(NMREQ_OPTF_DISABLED, 1))					\
	X(EQ(NMREQ_OPTF_ALLOWEMPTY, 2))					\
	X(EQ(NMREQ_OPT_MAXKEYS, 16))					\
	X(AL(struct nmreq_opt_parser, 16))				\
	X(FSZ(struct nmreq_opt_parser, keys, 16 * sizeof(struct nmreq_opt_key))) \
	X(FSZ(struct nmreq_parse_ctx, keys, 16 * sizeof(const char *)))	\
	/* 9.3 legacy inline library */					\
	X(SZ(struct nm_pkthdr, 56))					\
	X(OFF(struct nm_pkthdr, ts, 0))					\
	X(OFF(struct nm_pkthdr, caplen, 16))				\
	X(OFF(struct nm_pkthdr, len, 20))				\
	X(OFF(struct nm_pkthdr, flags, 24))				\
	X(FSZ(struct nm_pkthdr, flags, 8))				\
	X(OFF(struct nm_pkthdr, d, 32))					\
	X(OFF(struct nm_pkthdr, slot, 40))				\
	X(OFF(struct nm_pkthdr, buf, 48))				\
	X(SZ(struct nm_stat, 12))					\
	X(OFF(struct nm_stat, ps_recv, 0))				\
	X(OFF(struct nm_stat, ps_drop, 4))				\
	X(OFF(struct nm_stat, ps_ifdrop, 8))				\
	X(SZ(struct nm_desc, 760))					\
	X(OFF(struct nm_desc, self, 0))					\
	X(OFF(struct nm_desc, fd, 8))					\
	X(OFF(struct nm_desc, mem, 16))					\
	X(OFF(struct nm_desc, memsize, 24))				\
	X(FSZ(struct nm_desc, memsize, 8))				\
	X(OFF(struct nm_desc, done_mmap, 32))				\
	X(OFF(struct nm_desc, nifp, 40))				\
	X(OFF(struct nm_desc, first_tx_ring, 48))			\
	X(OFF(struct nm_desc, last_tx_ring, 50))			\
	X(OFF(struct nm_desc, cur_tx_ring, 52))				\
	X(OFF(struct nm_desc, first_rx_ring, 54))			\
	X(OFF(struct nm_desc, last_rx_ring, 56))			\
	X(OFF(struct nm_desc, cur_rx_ring, 58))				\
	X(OFF(struct nm_desc, req, 60))					\
	X(OFF(struct nm_desc, hdr, 120))				\
	X(OFF(struct nm_desc, some_ring, 176))				\
	X(OFF(struct nm_desc, buf_start, 184))				\
	X(OFF(struct nm_desc, buf_end, 192))				\
	X(OFF(struct nm_desc, snaplen, 200))				\
	X(OFF(struct nm_desc, promisc, 204))				\
	X(OFF(struct nm_desc, to_ms, 208))				\
	X(OFF(struct nm_desc, errbuf, 216))				\
	X(OFF(struct nm_desc, if_flags, 224))				\
	X(OFF(struct nm_desc, if_reqcap, 228))				\
	X(OFF(struct nm_desc, if_curcap, 232))				\
	X(OFF(struct nm_desc, st, 236))					\
	X(OFF(struct nm_desc, msg, 248))				\
	X(FSZ(struct nm_desc, msg, 512))				\
	X(EQ(NM_ERRBUF_SIZE, 512))					\
	X(EQ(NM_MORE_PKTS, 1))						\
	X(EQ(NM_OPEN_NO_MMAP, 0x040000))				\
	X(EQ(NM_OPEN_IFNAME, 0x080000))					\
	X(EQ(NM_OPEN_ARG1, 0x100000))					\
	X(EQ(NM_OPEN_ARG2, 0x200000))					\
	X(EQ(NM_OPEN_ARG3, 0x400000))					\
	X(EQ(NM_OPEN_RING_CFG, 0x800000))				\
	X(EQ(NM_OPEN_EXTMEM, 0x1000000))				\
	X(EQ(MAXERRMSG, 80))						\
	X(EQ(sizeof(NM_BDG_NAME), 5))

#define AS_STATIC_ASSERT(c)  _Static_assert(c, #c);
CHECKS(AS_STATIC_ASSERT)

#define AS_COUNT(c)  + 1
enum { N_CHECKS = 0 CHECKS(AS_COUNT) };

/* The same conditions at run time: counts the checks that hold. */
#define AS_RUNTIME(c)  + ((c) ? 1 : 0)

static int failures;

#define EXPECT(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "layout: %s:%d: failed: %s\n",		\
		    __FILE__, __LINE__, #c);				\
		failures++;						\
	}								\
} while (0)

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

/*
 * A fake region: netmap_if at 0 with 2 hw TX + 1 host TX, 3 hw RX + 1 host
 * RX rings, rings every 4096 bytes from 4096, buffers of 2048 bytes from
 * BUF_POOL.  Only the RX rings are bound (TX offsets are 0).
 */
enum { NTX = 2, NHTX = 1, NRX = 3, NHRX = 1, NSLOTS = 8, BUFSZ = 2048 };
#define RING_OFF(k)  (4096u * ((k) + 1))
#define BUF_POOL     (4096u * 16)
#define REGION_SIZE  (BUF_POOL + 64u * BUFSZ)

static void
test_macros(void)
{
	unsigned char *mem = (unsigned char *)aligned_alloc(4096, REGION_SIZE);
	struct netmap_if *nifp;
	struct netmap_ring *r;
	struct netmap_slot *slot;
	unsigned int k;
	int i;

	EXPECT(mem != NULL);
	if (mem == NULL)
		return;
	memset(mem, 0, REGION_SIZE);
	memcpy(mem + offsetof(struct netmap_if, ni_name), "fake0", 6);
	put32(mem, offsetof(struct netmap_if, ni_tx_rings), NTX);
	put32(mem, offsetof(struct netmap_if, ni_rx_rings), NRX);
	put32(mem, offsetof(struct netmap_if, ni_host_tx_rings), NHTX);
	put32(mem, offsetof(struct netmap_if, ni_host_rx_rings), NHRX);
	for (k = 0; k < NTX + NHTX + NRX + NHRX; k++) {
		size_t ro = RING_OFF(k);
		/* TX rings not bound: ring_ofs = 0 */
		put64(mem, offsetof(struct netmap_if, ring_ofs) + 8 * k,
		    k < NTX + NHTX ? 0 : ro);
		put64(mem, ro + offsetof(struct netmap_ring, buf_ofs),
		    (uint64_t)BUF_POOL - ro);
		put32(mem, ro + offsetof(struct netmap_ring, num_slots), NSLOTS);
		put32(mem, ro + offsetof(struct netmap_ring, nr_buf_size), BUFSZ);
	}

	nifp = NETMAP_IF(mem, 0);
	EXPECT(strcmp(nifp->ni_name, "fake0") == 0);
	EXPECT((void *)NETMAP_TXRING(nifp, 0) == (void *)nifp);
	for (i = 0; i < NRX + NHRX; i++) {
		r = NETMAP_RXRING(nifp, i);
		EXPECT((unsigned char *)r == mem + RING_OFF(NTX + NHTX + i));
		EXPECT(r->num_slots == NSLOTS);
		/* buffers do not depend on the ring used */
		EXPECT(NETMAP_BUF(r, 5) == (char *)mem + BUF_POOL + 5 * BUFSZ);
		EXPECT(NETMAP_BUF_IDX(r, NETMAP_BUF(r, 7)) == 7);
	}
	r = NETMAP_RXRING(nifp, 0);
	EXPECT((unsigned char *)&r->slot[0] == mem + RING_OFF(NTX + NHTX) + 256);
	/* NETMAP_BUF widens the index before multiplying */
	EXPECT(NETMAP_BUF(r, 3000000u) - NETMAP_BUF(r, 0) == 3000000LL * BUFSZ);

	/* nm_ring_next wraps at num_slots */
	EXPECT(nm_ring_next(r, 0) == 1);
	EXPECT(nm_ring_next(r, NSLOTS - 2) == NSLOTS - 1);
	EXPECT(nm_ring_next(r, NSLOTS - 1) == 0);

	/* nm_ring_space / nm_ring_empty count from head, not cur */
	r->head = 2; r->cur = 5; r->tail = 6;
	EXPECT(nm_ring_space(r) == 4);
	EXPECT(!nm_ring_empty(r));
	r->head = 6; r->cur = 6; r->tail = 2;
	EXPECT(nm_ring_space(r) == NSLOTS - 4);
	r->head = 3; r->cur = 1; r->tail = 3;
	EXPECT(nm_ring_space(r) == 0);
	EXPECT(nm_ring_empty(r));

	/* nm_tx_pending: idle when tail == head - 1 (mod num_slots) */
	r->head = r->cur = 0; r->tail = NSLOTS - 1;
	EXPECT(!nm_tx_pending(r));
	r->head = r->cur = 4; r->tail = 3;
	EXPECT(!nm_tx_pending(r));
	r->head = r->cur = 4; r->tail = 1;
	EXPECT(nm_tx_pending(r));

	/* per-slot offsets */
	slot = &r->slot[1];
	slot->buf_idx = 9;
	slot->ptr = 0xabcd000000000000ULL;
	put64((unsigned char *)r, offsetof(struct netmap_ring, offset_mask), 0xfff);
	EXPECT(NETMAP_ROFFSET(r, slot) == 0);
	NETMAP_WOFFSET(r, slot, 0x1042);  /* only the masked bits are stored */
	EXPECT(slot->ptr == 0xabcd000000000042ULL);
	EXPECT(NETMAP_ROFFSET(r, slot) == 0x42);
	EXPECT(NETMAP_BUF_OFFSET(r, slot) == NETMAP_BUF(r, 9) + 0x42);
	put64((unsigned char *)r, offsetof(struct netmap_ring, offset_mask), 0);
	EXPECT(NETMAP_ROFFSET(r, slot) == 0);

	free(mem);
}

/* nm_pkt_copy copies exactly l bytes: nothing past them is touched. */
static void
test_pkt_copy(void)
{
	static unsigned char src[4096], dst[4096 + 64];
	static const int lens[] = { 0, 1, 60, 63, 64, 65, 127, 128, 192, 960,
	    1023, 1024, 1514, 2048, 4096 };
	size_t n;

	for (n = 0; n < sizeof(src); n++)
		src[n] = (unsigned char)(n * 7 + 1);
	for (n = 0; n < sizeof(lens) / sizeof(lens[0]); n++) {
		int l = lens[n];

		memset(dst, 0xee, sizeof(dst));
		nm_pkt_copy(src, dst, l);
		EXPECT(memcmp(dst, src, (size_t)l) == 0);
		EXPECT(dst[l] == 0xee && dst[l + 63] == 0xee);
	}
}

int
main(void)
{
	int holding = 0 CHECKS(AS_RUNTIME);

	EXPECT(holding == N_CHECKS);
	test_macros();
	test_pkt_copy();
	if (failures) {
		fprintf(stderr, "layout: %d runtime checks failed\n", failures);
		return 1;
	}
	printf("layout: all %d checks passed\n", (int)N_CHECKS);
	return 0;
}
