//! Kernel ABI for AF_XDP, written from the 6.18 uapi because Debian 12's `linux/if_xdp.h` predates
//! `XDP_USE_SG`, `XDP_MAX_TX_SKB_BUDGET` and the 32-byte `xdp_umem_reg`.
#![allow(non_camel_case_types)]

use core::mem::{offset_of, size_of};

pub const AF_XDP: i32 = 44;
pub const SOL_XDP: i32 = 283;

pub const XDP_MMAP_OFFSETS: i32 = 1;
pub const XDP_RX_RING: i32 = 2;
pub const XDP_TX_RING: i32 = 3;
pub const XDP_UMEM_REG: i32 = 4;
pub const XDP_UMEM_FILL_RING: i32 = 5;
pub const XDP_UMEM_COMPLETION_RING: i32 = 6;
pub const XDP_STATISTICS: i32 = 7;
pub const XDP_OPTIONS: i32 = 8;
pub const XDP_MAX_TX_SKB_BUDGET: i32 = 9;

pub const XDP_SHARED_UMEM: u16 = 1 << 0;
pub const XDP_COPY: u16 = 1 << 1;
pub const XDP_ZEROCOPY: u16 = 1 << 2;
pub const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;

pub const XDP_RING_NEED_WAKEUP: u32 = 1 << 0;
pub const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;

pub const XDP_PGOFF_RX_RING: i64 = 0;
pub const XDP_PGOFF_TX_RING: i64 = 0x8000_0000;
pub const XDP_UMEM_PGOFF_FILL_RING: i64 = 0x1_0000_0000;
pub const XDP_UMEM_PGOFF_COMPLETION_RING: i64 = 0x1_8000_0000;

/// Where the kernel puts received data inside an aligned chunk (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u64 = 256;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct sockaddr_xdp {
    pub sxdp_family: u16,
    pub sxdp_flags: u16,
    pub sxdp_ifindex: u32,
    pub sxdp_queue_id: u32,
    pub sxdp_shared_umem_fd: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_umem_reg {
    pub addr: u64,
    pub len: u64,
    pub chunk_size: u32,
    pub headroom: u32,
    pub flags: u32,
    pub tx_metadata_len: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_ring_offset {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_mmap_offsets {
    pub rx: xdp_ring_offset,
    pub tx: xdp_ring_offset,
    pub fr: xdp_ring_offset,
    pub cr: xdp_ring_offset,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_desc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_options {
    pub flags: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct xdp_statistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

const _: () = {
    assert!(size_of::<sockaddr_xdp>() == 16);
    assert!(offset_of!(sockaddr_xdp, sxdp_flags) == 2);
    assert!(offset_of!(sockaddr_xdp, sxdp_ifindex) == 4);
    assert!(offset_of!(sockaddr_xdp, sxdp_queue_id) == 8);
    assert!(offset_of!(sockaddr_xdp, sxdp_shared_umem_fd) == 12);
    assert!(size_of::<xdp_umem_reg>() == 32);
    assert!(offset_of!(xdp_umem_reg, chunk_size) == 16);
    assert!(offset_of!(xdp_umem_reg, headroom) == 20);
    assert!(offset_of!(xdp_umem_reg, flags) == 24);
    assert!(offset_of!(xdp_umem_reg, tx_metadata_len) == 28);
    assert!(size_of::<xdp_ring_offset>() == 32);
    assert!(size_of::<xdp_mmap_offsets>() == 128);
    assert!(size_of::<xdp_desc>() == 16);
    assert!(size_of::<xdp_statistics>() == 48);
};
