//! Kernel ABI for AF_XDP, written from the 6.18 uapi because Debian 12's `linux/if_xdp.h` predates
//! `XDP_USE_SG`, `XDP_MAX_TX_SKB_BUDGET` and the 32-byte `xdp_umem_reg`.
#![allow(non_camel_case_types)]

use core::mem::{offset_of, size_of};

/// Address family of AF_XDP sockets: `socket(AF_XDP, SOCK_RAW, 0)`, and `sxdp_family`.
pub const AF_XDP: i32 = 44;
/// Socket-option level of all the `XDP_*` socket options below.
pub const SOL_XDP: i32 = 283;

/// getsockopt: where each ring's indices, flags and descriptors lie in its mapping
/// (`xdp_mmap_offsets`).
pub const XDP_MMAP_OFFSETS: i32 = 1;
/// setsockopt (int): create the RX ring with this many entries (a power of two, before bind).
pub const XDP_RX_RING: i32 = 2;
/// setsockopt (int): create the TX ring with this many entries (a power of two, before bind).
pub const XDP_TX_RING: i32 = 3;
/// setsockopt (`xdp_umem_reg`): register the UMEM; the kernel pins its pages. Once per socket.
pub const XDP_UMEM_REG: i32 = 4;
/// setsockopt (int): create the fill ring, through which user space gives the kernel empty
/// chunks to receive into.
pub const XDP_UMEM_FILL_RING: i32 = 5;
/// setsockopt (int): create the completion ring, through which the kernel hands back chunks
/// whose transmission is over.
pub const XDP_UMEM_COMPLETION_RING: i32 = 6;
/// getsockopt: the socket's drop and error counters (`xdp_statistics`); works before bind too.
pub const XDP_STATISTICS: i32 = 7;
/// getsockopt: how the bound socket actually works (`xdp_options`).
pub const XDP_OPTIONS: i32 = 8;
/// setsockopt (u32, Linux 6.17+): most descriptors one copy-mode `sendto` transmits (default
/// 32, accepted range 32 to the TX ring size); set after the TX ring exists.
pub const XDP_MAX_TX_SKB_BUDGET: i32 = 9;

/// Bind flag: use the UMEM of the socket in `sxdp_shared_umem_fd` instead of registering one.
/// No other flag may come with it; the owner's mode and need_wakeup setting are inherited.
pub const XDP_SHARED_UMEM: u16 = 1 << 0;
/// Bind flag: force copy mode (the kernel copies frames between skbs and the UMEM).
pub const XDP_COPY: u16 = 1 << 1;
/// Bind flag: force zero-copy mode (the driver DMAs straight to and from the UMEM); bind fails
/// if the driver cannot. With neither this nor `XDP_COPY` the kernel tries zero-copy first.
pub const XDP_ZEROCOPY: u16 = 1 << 2;
/// Bind flag: the kernel may stop servicing the fill and TX rings and says so through
/// `XDP_RING_NEED_WAKEUP`, so user space only kicks it then (without the flag, every TX batch
/// needs a `sendto`).
pub const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// Bind flag (Linux 6.6+): multi-buffer. A frame longer than one chunk is received as several
/// descriptors chained with [`XDP_PKT_CONTD`], and TX takes such chains. Needs an XDP program
/// loaded with `BPF_F_XDP_HAS_FRAGS`; a shared-UMEM socket inherits it from the UMEM's owner.
pub const XDP_USE_SG: u16 = 1 << 4;
/// `xdp_desc.options` bit: the frame continues in the next descriptor (multi-buffer).
pub const XDP_PKT_CONTD: u32 = 1 << 0;

/// Bit of the fill or TX ring's flags word: the kernel will not look at that ring again until
/// a syscall wakes it (`recvfrom`/`poll` for fill, `sendto`/`poll` for TX).
pub const XDP_RING_NEED_WAKEUP: u32 = 1 << 0;
/// `xdp_options.flags` bit: the socket is bound in zero-copy mode (clear: copy mode).
pub const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;

/// mmap offset that selects the socket's RX ring.
pub const XDP_PGOFF_RX_RING: i64 = 0;
/// mmap offset that selects the socket's TX ring.
pub const XDP_PGOFF_TX_RING: i64 = 0x8000_0000;
/// mmap offset that selects the socket's fill ring.
pub const XDP_UMEM_PGOFF_FILL_RING: i64 = 0x1_0000_0000;
/// mmap offset that selects the socket's completion ring.
pub const XDP_UMEM_PGOFF_COMPLETION_RING: i64 = 0x1_8000_0000;

/// Where the kernel puts received data inside an aligned chunk (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u64 = 256;

/// Address given to `bind()`: the interface queue the socket attaches to, and how.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct sockaddr_xdp {
    /// Always `AF_XDP`.
    pub sxdp_family: u16,
    /// Bind flags: `XDP_SHARED_UMEM`, `XDP_COPY`, `XDP_ZEROCOPY`, `XDP_USE_NEED_WAKEUP`.
    pub sxdp_flags: u16,
    /// Interface index of the device (`ENODEV` if there is none).
    pub sxdp_ifindex: u32,
    /// Queue of that device; must be below its queue count. Another UMEM on it gives `EBUSY`.
    pub sxdp_queue_id: u32,
    /// With `XDP_SHARED_UMEM`: the already bound socket whose UMEM to use; 0 otherwise.
    pub sxdp_shared_umem_fd: u32,
}

/// Argument of `XDP_UMEM_REG`: the memory the kernel receives into and transmits from.
///
/// This is the full 32-byte layout; given fewer bytes, the kernel silently ignores `flags`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_umem_reg {
    /// Start of the UMEM in the calling process; must be page aligned.
    pub addr: u64,
    /// Size of the UMEM in bytes; in aligned mode a multiple of `chunk_size`.
    pub len: u64,
    /// Size of one frame buffer: 2048 up to the page size, a power of two in aligned mode.
    pub chunk_size: u32,
    /// Bytes the kernel keeps free at the start of each chunk before received data, on top of
    /// `XDP_PACKET_HEADROOM`.
    pub headroom: u32,
    /// `XDP_UMEM_*` flags (unaligned chunks, TX checksum, TX metadata); unknown bits give
    /// `EINVAL`.
    pub flags: u32,
    /// Bytes of TX metadata in front of each TX frame; only honoured with the
    /// `XDP_UMEM_TX_METADATA_LEN` flag.
    pub tx_metadata_len: u32,
}

/// Byte offsets of the parts of one ring inside its mapping. They depend on the CPU's cache
/// line size, so always take them from `XDP_MMAP_OFFSETS`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_ring_offset {
    /// The producer index (u32, free-running), advanced by the side that fills the ring.
    pub producer: u64,
    /// The consumer index (u32, free-running), advanced by the side that empties the ring.
    pub consumer: u64,
    /// The entry array: `xdp_desc` for RX and TX, u64 UMEM addresses for fill and completion.
    pub desc: u64,
    /// The ring's flags word (`XDP_RING_NEED_WAKEUP`).
    pub flags: u64,
}

/// Result of `XDP_MMAP_OFFSETS`: the layout of each of the socket's four rings.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_mmap_offsets {
    /// RX ring: the kernel produces descriptors of received frames.
    pub rx: xdp_ring_offset,
    /// TX ring: user space produces descriptors of frames to send.
    pub tx: xdp_ring_offset,
    /// Fill ring: user space produces empty chunks for the kernel to receive into.
    pub fr: xdp_ring_offset,
    /// Completion ring: the kernel produces the addresses of frames it has finished sending.
    pub cr: xdp_ring_offset,
}

/// One RX or TX ring entry: a frame (or one fragment of it) in the UMEM.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_desc {
    /// UMEM offset of the first data byte. On RX in aligned mode it is normally the chunk plus
    /// `XDP_PACKET_HEADROOM` (plus the UMEM headroom); a TX frame may start anywhere in a chunk
    /// as long as it does not cross the chunk's end.
    pub addr: u64,
    /// Length of the data in bytes; 0 makes a TX descriptor invalid.
    pub len: u32,
    /// Descriptor flags; 0 for a single-buffer frame. Other bits mark multi-buffer fragments or
    /// TX metadata, and unknown ones make a TX descriptor invalid.
    pub options: u32,
}

/// Result of `XDP_OPTIONS`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct xdp_options {
    /// `XDP_OPTIONS_ZEROCOPY` if the socket was bound in zero-copy mode.
    pub flags: u32,
}

/// Result of `XDP_STATISTICS`: the socket's cumulative drop and error counters.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct xdp_statistics {
    /// Received frames dropped for other reasons, e.g. too long for a chunk without
    /// multi-buffer support.
    pub rx_dropped: u64,
    /// Received frames dropped because of an invalid descriptor.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel rejected (bad address, length or options) and skipped.
    pub tx_invalid_descs: u64,
    /// Received frames dropped because the RX ring was full: user space is not keeping up.
    pub rx_ring_full: u64,
    /// Times the kernel needed a buffer for a received frame and found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel looked for frames to send and found the TX ring empty.
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

impl std::ops::AddAssign for xdp_statistics {
    fn add_assign(&mut self, o: xdp_statistics) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty_descs += o.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += o.tx_ring_empty_descs;
    }
}
