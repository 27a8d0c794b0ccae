//! netmap's user-visible ABI (x86_64 Linux, API 14), written from the documented ABI
//! (docs/netmap-compat.md).
//!
//! Unmodified netmap binaries read and write these structures directly in shared memory and pass
//! them to ioctl(), so every size, alignment and offset is checked at compile time below.
#![allow(non_camel_case_types)]

use core::mem::{align_of, offset_of, size_of};

use libc::{c_char, c_ulong};

use crate::error::{Error, Result};

// ------------------------------------------------------------------------------------------------
// Versions and sizes
// ------------------------------------------------------------------------------------------------

/// API version this library speaks; apps put it in `nr_version`.
pub const NETMAP_API: u32 = 14;
/// Oldest `nr_version` accepted (NIOCCTRL and legacy ioctls alike).
pub const NETMAP_MIN_API: u32 = 14;
/// Newest `nr_version` accepted by NIOCCTRL (legacy ioctls have no upper bound).
pub const NETMAP_MAX_API: u32 = 15;
/// Cache-line alignment netmap uses for ring headers; ring objects must sit on such a boundary.
pub const NM_CACHE_ALIGN: usize = 128;
/// Size of `nmreq_header.nr_name`: the new API allows 63-char port names plus NUL.
pub const NETMAP_REQ_IFNAMSIZ: usize = 64;
/// Upper bound for a request body plus all option bodies (`EMSGSIZE` beyond it).
pub const NETMAP_REQ_MAXSIZE: usize = 4096;
/// Size of legacy `nmreq.nr_name`, `netmap_if.ni_name` and `nm_ifreq.nifr_name` (kernel IFNAMSIZ).
pub const IFNAMSIZ: usize = 16;
/// Longest `NS_MOREFRAG` chain a packet may use.
pub const NETMAP_MAX_FRAGS: u32 = 64;
/// Path apps open; libnetmap and the legacy library hard-code it.
pub const NETMAP_DEVICE_NAME: &str = "/dev/netmap";

const _: () = assert!(IFNAMSIZ == libc::IFNAMSIZ);

// ------------------------------------------------------------------------------------------------
// Slot flags (netmap_slot.flags)
// ------------------------------------------------------------------------------------------------

/// Slot flag: `buf_idx` now names a different buffer. The app sets it after swapping a buffer
/// in, the kernel when it swapped one itself; apps may reuse a buffer's old contents while the
/// flag stays clear.
pub const NS_BUF_CHANGED: u16 = 0x0001;
/// Asks for a TX completion notification; the kernel clears it.
pub const NS_REPORT: u16 = 0x0002;
/// Transparent mode: forward this released RX slot to the peer (needs `NR_FORWARD` on the ring).
pub const NS_FORWARD: u16 = 0x0004;
/// VALE: do not learn the source MAC of this packet.
pub const NS_NO_LEARN: u16 = 0x0008;
/// VALE TX: data lives at user address `slot.ptr`.
pub const NS_INDIRECT: u16 = 0x0010;
/// The packet continues in the next slot (set on all but the last fragment).
pub const NS_MOREFRAG: u16 = 0x0020;
/// Monitor ports: the packet was seen on a monitored TX ring.
pub const NS_TXMON: u16 = 0x0040;
/// The high byte of `flags` carries a VALE port number / remaining-fragment count.
pub const NS_PORT_SHIFT: u16 = 8;
/// Mask of the high byte of `flags` (see [`NS_PORT_SHIFT`]).
pub const NS_PORT_MASK: u16 = 0xff << NS_PORT_SHIFT;

// ------------------------------------------------------------------------------------------------
// Ring and interface flags
// ------------------------------------------------------------------------------------------------

/// `netmap_ring.flags`: keep `ts` updated on every RX sync.
pub const NR_TIMESTAMP: u32 = 0x0002;
/// `netmap_ring.flags`: honour `NS_FORWARD` on this ring.
pub const NR_FORWARD: u32 = 0x0004;
/// `netmap_if.ni_flags`: the port uses a private (non-global) allocator.
pub const NI_PRIV_MEM: u32 = 0x1;

// ------------------------------------------------------------------------------------------------
// Registration modes (legacy nr_flags low nibble, new nr_mode)
// ------------------------------------------------------------------------------------------------

/// Legacy only: derive the mode from the `NETMAP_SW_RING`/`NETMAP_HW_RING` bits of `nr_ringid`.
pub const NR_REG_DEFAULT: u32 = 0;
/// Bind all hardware rings.
pub const NR_REG_ALL_NIC: u32 = 1;
/// Bind all host rings.
pub const NR_REG_SW: u32 = 2;
/// Bind all hardware and host rings.
pub const NR_REG_NIC_SW: u32 = 3;
/// Bind hardware ring pair `nr_ringid`.
pub const NR_REG_ONE_NIC: u32 = 4;
/// Legacy pipe master `{N` (rejected by NIOCCTRL, where pipes are names).
pub const NR_REG_PIPE_MASTER: u32 = 5;
/// Legacy pipe slave `}N` (rejected by NIOCCTRL, where pipes are names).
pub const NR_REG_PIPE_SLAVE: u32 = 6;
/// "Null" port: rings and buffers in an existing allocator, no device.
pub const NR_REG_NULL: u32 = 7;
/// Bind host ring pair `nr_ringid` (API 14).
pub const NR_REG_ONE_SW: u32 = 8;
/// Legacy `nr_flags` keeps the mode in its low nibble.
pub const NR_REG_MASK: u32 = 0xf;

// ------------------------------------------------------------------------------------------------
// Registration flags (new nr_flags, and legacy nr_flags above the mode nibble)
// ------------------------------------------------------------------------------------------------

/// Copy-monitor the TX rings of the named port.
pub const NR_MONITOR_TX: u64 = 0x100;
/// Copy-monitor the RX rings of the named port.
pub const NR_MONITOR_RX: u64 = 0x200;
/// Zero-copy monitor.
pub const NR_ZCOPY_MON: u64 = 0x400;
/// Exclusive access to the selected rings (others get `EBUSY`).
pub const NR_EXCLUSIVE: u64 = 0x800;
/// API 11 only; unused since API 13 and ignored (pkt-gen puts `NETMAP_NO_TX_POLL` here).
pub const NR_PTNETMAP_HOST: u64 = 0x1000;
/// Bind only the RX rings of the selection.
pub const NR_RX_RINGS_ONLY: u64 = 0x2000;
/// Bind only the TX rings of the selection.
pub const NR_TX_RINGS_ONLY: u64 = 0x4000;
/// The app accepts virtio-net headers.
pub const NR_ACCEPT_VNET_HDR: u64 = 0x8000;
/// New-API spelling of `NETMAP_DO_RX_POLL`; accepted, no effect.
pub const NR_DO_RX_POLL: u64 = 0x10000;
/// New-API spelling of `NETMAP_NO_TX_POLL`: poll() without POLLOUT does not flush TX.
pub const NR_NO_TX_POLL: u64 = 0x20000;

// ------------------------------------------------------------------------------------------------
// Legacy nr_ringid bits
// ------------------------------------------------------------------------------------------------

/// Legacy `nr_ringid`: the ring number lives in the low 12 bits.
pub const NETMAP_RING_MASK: u16 = 0x0fff;
/// Legacy `nr_ringid`: poll() does not flush TX unless POLLOUT is requested.
pub const NETMAP_NO_TX_POLL: u16 = 0x1000;
/// Legacy `nr_ringid`: deprecated host-ring mode (used when the mode is `NR_REG_DEFAULT`).
pub const NETMAP_SW_RING: u16 = 0x2000;
/// Legacy `nr_ringid`: deprecated single-ring mode (used when the mode is `NR_REG_DEFAULT`).
pub const NETMAP_HW_RING: u16 = 0x4000;
/// Legacy `nr_ringid`: accepted, no effect.
pub const NETMAP_DO_RX_POLL: u16 = 0x8000;

// ------------------------------------------------------------------------------------------------
// Legacy nr_cmd values (struct nmreq)
// ------------------------------------------------------------------------------------------------

/// Legacy `nr_cmd`: attach a port to a VALE switch.
pub const NETMAP_BDG_ATTACH: u16 = 1;
/// Legacy `nr_cmd`: detach a port from a VALE switch.
pub const NETMAP_BDG_DETACH: u16 = 2;
/// Legacy `nr_cmd`: register VALE lookup operations (kernel modules only).
pub const NETMAP_BDG_REGOPS: u16 = 3;
/// Legacy `nr_cmd`: list VALE switches and ports.
pub const NETMAP_BDG_LIST: u16 = 4;
/// Legacy `nr_cmd`: set the virtio-net header length of a VALE port.
pub const NETMAP_BDG_VNET_HDR: u16 = 5;
/// API 11 alias of [`NETMAP_BDG_VNET_HDR`].
pub const NETMAP_BDG_OFFSET: u16 = NETMAP_BDG_VNET_HDR;
/// Legacy `nr_cmd`: create a persistent VALE port.
pub const NETMAP_BDG_NEWIF: u16 = 6;
/// Legacy `nr_cmd`: delete a persistent VALE port.
pub const NETMAP_BDG_DELIF: u16 = 7;
/// Legacy `nr_cmd`: ptnetmap host create (always fails now).
pub const NETMAP_PT_HOST_CREATE: u16 = 8;
/// Legacy `nr_cmd`: ptnetmap host delete (always fails now).
pub const NETMAP_PT_HOST_DELETE: u16 = 9;
/// Legacy `nr_cmd`: enable VALE polling kthreads.
pub const NETMAP_BDG_POLLING_ON: u16 = 10;
/// Legacy `nr_cmd`: disable VALE polling kthreads.
pub const NETMAP_BDG_POLLING_OFF: u16 = 11;
/// Legacy `nr_cmd`: read the virtio-net header length of a port.
pub const NETMAP_VNET_HDR_GET: u16 = 12;
/// Legacy `nr_cmd` of API 11 only (pool information); not translated by API 14 kernels.
pub const NETMAP_POOLS_INFO_GET: u16 = 13;
/// Legacy `nr_arg1` with `NETMAP_BDG_ATTACH`: also attach the host stack.
pub const NETMAP_BDG_HOST: u16 = 1;

// ------------------------------------------------------------------------------------------------
// NIOCCTRL request types (nmreq_header.nr_reqtype)
// ------------------------------------------------------------------------------------------------

/// Request type: bind the fd to rings of a port (body `nmreq_register`).
pub const NETMAP_REQ_REGISTER: u16 = 1;
/// Request type: ring/slot/allocator info without registering (body `nmreq_port_info_get`).
pub const NETMAP_REQ_PORT_INFO_GET: u16 = 2;
/// Request type: attach a port to a VALE switch (body `nmreq_vale_attach`).
pub const NETMAP_REQ_VALE_ATTACH: u16 = 3;
/// Request type: detach a port from a VALE switch (body `nmreq_vale_detach`).
pub const NETMAP_REQ_VALE_DETACH: u16 = 4;
/// Request type: enumerate VALE ports (body `nmreq_vale_list`).
pub const NETMAP_REQ_VALE_LIST: u16 = 5;
/// Request type: set the virtio-net header length (body `nmreq_port_hdr`).
pub const NETMAP_REQ_PORT_HDR_SET: u16 = 6;
/// Request type: get the virtio-net header length (body `nmreq_port_hdr`).
pub const NETMAP_REQ_PORT_HDR_GET: u16 = 7;
/// Request type: create a persistent VALE port (body `nmreq_vale_newif`).
pub const NETMAP_REQ_VALE_NEWIF: u16 = 8;
/// Request type: delete a persistent VALE port (no body).
pub const NETMAP_REQ_VALE_DELIF: u16 = 9;
/// Request type: start VALE polling kthreads (body `nmreq_vale_polling`).
pub const NETMAP_REQ_VALE_POLLING_ENABLE: u16 = 10;
/// Request type: stop VALE polling kthreads (body `nmreq_vale_polling`).
pub const NETMAP_REQ_VALE_POLLING_DISABLE: u16 = 11;
/// Request type: describe the pools of an allocator (body `nmreq_pools_info`).
pub const NETMAP_REQ_POOLS_INFO_GET: u16 = 12;
/// Request type: run the sync kernel loop (body `nmreq_sync_kloop_start`).
pub const NETMAP_REQ_SYNC_KLOOP_START: u16 = 13;
/// Request type: stop the sync kernel loop (no body).
pub const NETMAP_REQ_SYNC_KLOOP_STOP: u16 = 14;
/// Request type: switch a registered fd to CSB mode (no body, option `NETMAP_REQ_OPT_CSB`).
pub const NETMAP_REQ_CSB_ENABLE: u16 = 15;

// ------------------------------------------------------------------------------------------------
// NIOCCTRL option types (nmreq_option.nro_reqtype)
// ------------------------------------------------------------------------------------------------

/// Option: build the region inside user memory (`nmreq_opt_extmem`).
pub const NETMAP_REQ_OPT_EXTMEM: u32 = 1;
/// Option: eventfds for the sync kernel loop (`nmreq_opt_sync_kloop_eventfds`).
pub const NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS: u32 = 2;
/// Option: shared control blocks instead of ring head/cur/tail (`nmreq_opt_csb`).
pub const NETMAP_REQ_OPT_CSB: u32 = 3;
/// Option: sync kernel loop mode (`nmreq_opt_sync_kloop_mode`).
pub const NETMAP_REQ_OPT_SYNC_KLOOP_MODE: u32 = 4;
/// Option: per-slot data offsets (`nmreq_opt_offsets`).
pub const NETMAP_REQ_OPT_OFFSETS: u32 = 5;
/// First option type the kernel keeps but does not interpret.
pub const NETMAP_REQ_OPT_MAX: u32 = 6;

/// `nmreq_vale_polling.nr_mode`: one kthread polls all rings.
pub const NETMAP_POLLING_MODE_SINGLE_CPU: u32 = 1;
/// `nmreq_vale_polling.nr_mode`: one kthread per ring.
pub const NETMAP_POLLING_MODE_MULTI_CPU: u32 = 2;

/// `nmreq_opt_sync_kloop_mode.mode`: TX processing runs directly in the notifier.
pub const NM_OPT_SYNC_KLOOP_DIRECT_TX: u32 = 1;
/// `nmreq_opt_sync_kloop_mode.mode`: RX processing runs directly in the notifier.
pub const NM_OPT_SYNC_KLOOP_DIRECT_RX: u32 = 2;

// ------------------------------------------------------------------------------------------------
// Legacy nm_open() flags (netmap_user.h with NETMAP_WITH_LIBS)
// ------------------------------------------------------------------------------------------------

/// `nm_open` flag: do not mmap the region.
pub const NM_OPEN_NO_MMAP: u32 = 0x040000;
/// `nm_open` flag: the name is a bare interface name.
pub const NM_OPEN_IFNAME: u32 = 0x080000;
/// `nm_open` flag: take `nr_arg1` from the passed request.
pub const NM_OPEN_ARG1: u32 = 0x100000;
/// `nm_open` flag: take `nr_arg2` from the passed request.
pub const NM_OPEN_ARG2: u32 = 0x200000;
/// `nm_open` flag: take `nr_arg3` from the passed request.
pub const NM_OPEN_ARG3: u32 = 0x400000;
/// `nm_open` flag: take ring and slot counts from the passed request.
pub const NM_OPEN_RING_CFG: u32 = 0x800000;

// ------------------------------------------------------------------------------------------------
// ioctl numbers
// ------------------------------------------------------------------------------------------------

/// Linux `_IOC()`: netmap's ioctl numbers are built this way, so we recompute them as a check.
#[allow(non_snake_case)]
pub const fn _IOC(dir: u32, ty: u8, nr: u8, size: usize) -> c_ulong {
    assert!(dir < 4 && size < (1 << 14));
    ((dir as c_ulong) << 30) | ((size as c_ulong) << 16) | ((ty as c_ulong) << 8) | nr as c_ulong
}

/// Linux `_IOWR()`: argument copied in and out.
#[allow(non_snake_case)]
pub const fn _IOWR(ty: u8, nr: u8, size: usize) -> c_ulong {
    _IOC(3, ty, nr, size)
}

/// Linux `_IO()`: no argument.
#[allow(non_snake_case)]
pub const fn _IO(ty: u8, nr: u8) -> c_ulong {
    _IOC(0, ty, nr, 0)
}

/// Legacy port information (`struct nmreq`).
pub const NIOCGINFO: c_ulong = 0xc03c6991;
/// Legacy registration (`struct nmreq`).
pub const NIOCREGIF: c_ulong = 0xc03c6992;
/// Flush/reclaim the bound TX rings (argument ignored).
pub const NIOCTXSYNC: c_ulong = 0x6994;
/// Return consumed and fetch new slots on the bound RX rings (argument ignored).
pub const NIOCRXSYNC: c_ulong = 0x6995;
/// VALE external-module configuration (`struct nm_ifreq`).
pub const NIOCCONFIG: c_ulong = 0xc1106996;
/// New control path (`struct nmreq_header`).
pub const NIOCCTRL: c_ulong = 0xc0586997;

const _: () = assert!(_IOWR(b'i', 145, size_of::<nmreq>()) == NIOCGINFO);
const _: () = assert!(_IOWR(b'i', 146, size_of::<nmreq>()) == NIOCREGIF);
const _: () = assert!(_IO(b'i', 148) == NIOCTXSYNC);
const _: () = assert!(_IO(b'i', 149) == NIOCRXSYNC);
const _: () = assert!(_IOWR(b'i', 150, size_of::<nm_ifreq>()) == NIOCCONFIG);
const _: () = assert!(_IOWR(b'i', 151, size_of::<nmreq_header>()) == NIOCCTRL);

// ------------------------------------------------------------------------------------------------
// Helpers for fixed-size C name arrays
// ------------------------------------------------------------------------------------------------

/// Reads a NUL-terminated C name array (lossy UTF-8); apps may leave garbage after the NUL.
pub fn c_name(src: &[c_char]) -> String {
    let bytes: Vec<u8> = src
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Writes `name` NUL-terminated and zero-filled; fails with `EINVAL` instead of truncating.
pub fn set_c_name(dst: &mut [c_char], name: &str) -> Result<()> {
    if name.len() >= dst.len() {
        return Err(Error::new(
            libc::EINVAL,
            format!(
                "port name {name:?} is {} bytes long, at most {} fit (use a shorter name)",
                name.len(),
                dst.len().saturating_sub(1)
            ),
        ));
    }
    if name.as_bytes().contains(&0) {
        return Err(Error::new(
            libc::EINVAL,
            format!("port name {name:?} contains a NUL byte (remove it)"),
        ));
    }
    fill_c_name(dst, name.as_bytes());
    Ok(())
}

/// Writes `name` truncated to `dst.len() - 1` bytes plus NUL, as the kernel does for `ni_name`.
pub fn set_c_name_truncated(dst: &mut [c_char], name: &str) {
    let n = name.len().min(dst.len().saturating_sub(1));
    let bytes = &name.as_bytes()[..n];
    let n = bytes.iter().position(|&b| b == 0).unwrap_or(n);
    fill_c_name(dst, &bytes[..n]);
}

fn fill_c_name(dst: &mut [c_char], bytes: &[u8]) {
    dst.fill(0);
    for (d, &b) in dst.iter_mut().zip(bytes) {
        *d = b as c_char;
    }
}

// ------------------------------------------------------------------------------------------------
// Ring index arithmetic (netmap_user.h helpers, on plain values)
// ------------------------------------------------------------------------------------------------

/// `nm_ring_next()`: indices wrap at `num_slots`, which need not be a power of two.
#[inline]
pub const fn nm_ring_next(num_slots: u32, i: u32) -> u32 {
    if i.wrapping_add(1) == num_slots {
        0
    } else {
        i.wrapping_add(1)
    }
}

/// `nm_ring_space()` (API 14 form, from `head`): slots the user owns, `[head, tail)`.
#[inline]
pub const fn nm_ring_space(num_slots: u32, head: u32, tail: u32) -> u32 {
    if tail >= head {
        tail - head
    } else {
        tail.wrapping_sub(head).wrapping_add(num_slots)
    }
}

/// Slots from `from` forward to `to` on a ring of `num_slots` (the same count as
/// [`nm_ring_space`], named for the engine's uses: slots to send, slots released, ...).
#[inline]
pub const fn nm_ring_dist(num_slots: u32, from: u32, to: u32) -> u32 {
    nm_ring_space(num_slots, from, to)
}

/// The slot `k` slots after `i` (`i < num_slots`, `k <= num_slots`), without a division.
#[inline]
pub const fn nm_ring_add(num_slots: u32, i: u32, k: u32) -> u32 {
    let s = i.wrapping_add(k);
    if s >= num_slots {
        s.wrapping_sub(num_slots)
    } else {
        s
    }
}

/// The slot before `i` (the idle TX ring's `tail` is the slot before `head`).
#[inline]
pub const fn nm_ring_prev(num_slots: u32, i: u32) -> u32 {
    if i == 0 {
        num_slots - 1
    } else {
        i - 1
    }
}

/// Is `x` a valid index within the cyclic interval `[lo, hi]`? The sync prologues' rule
/// (docs/netmap-compat.md, "Rings and slots").
#[inline]
pub const fn nm_ring_within(num_slots: u32, lo: u32, x: u32, hi: u32) -> bool {
    x < num_slots && nm_ring_dist(num_slots, lo, x) <= nm_ring_dist(num_slots, lo, hi)
}

/// `nm_ring_empty()` (API 14 form, from `head`): nothing owned by the user.
#[inline]
pub const fn nm_ring_empty(head: u32, tail: u32) -> bool {
    head == tail
}

/// `nm_tx_pending()`: a TX ring is idle exactly when `tail == head - 1 (mod num_slots)`.
#[inline]
pub const fn nm_tx_pending(num_slots: u32, head: u32, tail: u32) -> bool {
    nm_ring_next(num_slots, tail) != head
}

// ------------------------------------------------------------------------------------------------
// Shared-memory structures
// ------------------------------------------------------------------------------------------------

/// One descriptor of a ring; apps swap `buf_idx` between rings for zero-copy forwarding.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct netmap_slot {
    /// Buffer this slot holds, as an index into the region's buffer pool (`NETMAP_BUF()`). The
    /// app may put another buffer it owns here, setting `NS_BUF_CHANGED`.
    pub buf_idx: u32,
    /// Bytes of packet data at the start of the buffer (of this fragment, with `NS_MOREFRAG`):
    /// set by the app on TX, by the kernel on RX.
    pub len: u16,
    /// `NS_*` flags in the low byte; the high byte is VALE port / fragment info (`NS_PORT_MASK`).
    pub flags: u16,
    /// User address of the data for `NS_INDIRECT`; with the OFFSETS option its low bits (see
    /// `netmap_ring::offset_mask`) carry the data offset inside the buffer.
    pub ptr: u64,
}

impl netmap_slot {
    /// `NS_RFRAGS()`: VALE RX reports the remaining fragments (incl. this one) in the high byte.
    #[inline]
    pub const fn rfrags(&self) -> u16 {
        (self.flags & NS_PORT_MASK) >> NS_PORT_SHIFT
    }
}

/// Ring header shared with the app; 128-byte aligned so `sem` and the slots start on cache lines.
#[repr(C, align(128))]
#[derive(Clone, Copy)]
pub struct netmap_ring {
    /// Offset from this ring's own address to buffer 0, so it differs from ring to ring while
    /// `NETMAP_BUF(ring, i)` names the same buffer through any of them.
    pub buf_ofs: i64,
    /// Number of slots in the ring; not necessarily a power of two.
    pub num_slots: u32,
    /// Size in bytes of every buffer (the stride of `NETMAP_BUF()`), the same for all rings.
    pub nr_buf_size: u32,
    /// Index of this ring within its direction; host rings come after the hardware rings.
    pub ringid: u16,
    /// Direction: 0 for TX, 1 for RX.
    pub dir: u16,
    /// First slot owned by the app. The app moves it forward to hand slots over: filled TX
    /// slots to transmit, consumed RX slots to refill.
    pub head: u32,
    /// Wake-up point: poll() reports the ring ready once `tail` differs from it. Normally equal
    /// to `head`; an app may move it further, up to `tail`, to wait for more room or packets.
    pub cur: u32,
    /// First slot owned by the kernel, written only by it: TX slots come back here as their
    /// transmission completes, received packets appear in front of it.
    pub tail: u32,
    /// Ring flags the app may set: `NR_TIMESTAMP`, `NR_FORWARD`.
    pub flags: u32,
    /// Implicit hole in C (timeval alignment).
    pub _pad0: u32,
    /// Time of the last RX sync, written by the kernel (TX syncs leave it alone).
    pub ts: libc::timeval,
    /// Bits of `slot.ptr` that hold the per-slot data offset; 0 unless the OFFSETS option was
    /// negotiated at registration.
    pub offset_mask: u64,
    /// Alignment the start of a TX packet (buffer plus offset) must have when offsets are in
    /// use; 0 for none.
    pub buf_align: u64,
    /// Implicit hole in C (`sem` is 128-byte aligned).
    pub _pad1: [u8; 56],
    /// Opaque kernel area; apps never touch it.
    pub sem: [u8; 128],
    /// Flexible array: `num_slots` slots follow the header; use [`slot_ptr`].
    pub slot: [netmap_slot; 0],
}

impl Default for netmap_ring {
    fn default() -> Self {
        // SAFETY: every field is an integer, an integer array or a timeval; all-zero is valid.
        unsafe { core::mem::zeroed() }
    }
}

impl core::fmt::Debug for netmap_ring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("netmap_ring")
            .field("buf_ofs", &self.buf_ofs)
            .field("num_slots", &self.num_slots)
            .field("nr_buf_size", &self.nr_buf_size)
            .field("ringid", &self.ringid)
            .field("dir", &self.dir)
            .field("head", &self.head)
            .field("cur", &self.cur)
            .field("tail", &self.tail)
            .field("flags", &self.flags)
            .field("ts", &(self.ts.tv_sec, self.ts.tv_usec))
            .field("offset_mask", &self.offset_mask)
            .field("buf_align", &self.buf_align)
            .finish_non_exhaustive()
    }
}

impl netmap_ring {
    /// `nm_ring_next()` for this ring.
    #[inline]
    pub const fn next(&self, i: u32) -> u32 {
        nm_ring_next(self.num_slots, i)
    }

    /// `nm_ring_space()` for this ring (snapshot of head/tail).
    #[inline]
    pub const fn space(&self) -> u32 {
        nm_ring_space(self.num_slots, self.head, self.tail)
    }

    /// `nm_ring_empty()` for this ring (snapshot of head/tail).
    #[inline]
    pub const fn empty(&self) -> bool {
        nm_ring_empty(self.head, self.tail)
    }

    /// `nm_tx_pending()` for this ring (snapshot of head/tail).
    #[inline]
    pub const fn tx_pending(&self) -> bool {
        nm_tx_pending(self.num_slots, self.head, self.tail)
    }

    /// Byte offset of buffer `idx` from this ring's address (`NETMAP_BUF` without the pointer).
    #[inline]
    pub const fn buf_ofs_for(&self, idx: u32) -> i64 {
        self.buf_ofs + idx as i64 * self.nr_buf_size as i64
    }

    /// `NETMAP_ROFFSET()`: per-slot data offset, 0 unless the OFFSETS option was negotiated.
    #[inline]
    pub const fn roffset(&self, slot: &netmap_slot) -> u64 {
        slot.ptr & self.offset_mask
    }

    /// `NETMAP_WOFFSET()`: store a per-slot data offset without touching the other `ptr` bits.
    #[inline]
    pub fn woffset(&self, slot: &mut netmap_slot, off: u64) {
        slot.ptr = (slot.ptr & !self.offset_mask) | (off & self.offset_mask);
    }
}

/// Pointer to slot `i` of a ring: the slot array starts right after the 256-byte header.
///
/// # Safety
/// `ring` must point to a ring object whose slot array has more than `i` entries.
#[inline]
pub unsafe fn slot_ptr(ring: *mut netmap_ring, i: u32) -> *mut netmap_slot {
    // SAFETY: per the contract, the object spans the header and more than `i` slots.
    unsafe {
        ring.cast::<u8>()
            .add(size_of::<netmap_ring>())
            .cast::<netmap_slot>()
            .add(i as usize)
    }
}

/// Per-fd interface descriptor; apps find their rings through `ring_ofs[]`, relative to this struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct netmap_if {
    /// Port name, cut to 15 bytes plus NUL.
    pub ni_name: [c_char; IFNAMSIZ],
    /// Unused, always 0.
    pub ni_version: u32,
    /// Port properties: `NI_PRIV_MEM`.
    pub ni_flags: u32,
    /// Hardware TX rings of the port, all of them, whichever this fd bound.
    pub ni_tx_rings: u32,
    /// Hardware RX rings of the port, all of them, whichever this fd bound.
    pub ni_rx_rings: u32,
    /// First buffer of this fd's extra-buffer chain (0 = empty); the first 4 bytes of each
    /// buffer hold the next index. The app may rework the chain: whatever it points to at close
    /// is freed.
    pub ni_bufs_head: u32,
    /// Host (network stack) TX rings. Never 0, even for ports without host rings, because
    /// `NETMAP_RXRING()` skips this many `ring_ofs[]` entries.
    pub ni_host_tx_rings: u32,
    /// Host (network stack) RX rings; never 0 either.
    pub ni_host_rx_rings: u32,
    /// Reserved, zero.
    pub ni_spare1: [u32; 3],
    /// Flexible array of ring offsets (0 = ring not bound to this fd); use [`ring_ofs_ptr`].
    pub ring_ofs: [isize; 0],
}

impl netmap_if {
    /// Port name as the app sees it in `ni_name`.
    pub fn name(&self) -> String {
        c_name(&self.ni_name)
    }

    /// Sets `ni_name`, truncated to 15 bytes like the kernel does.
    pub fn set_name(&mut self, name: &str) {
        set_c_name_truncated(&mut self.ni_name, name);
    }

    /// `ring_ofs[]` index of TX ring `i` (`NETMAP_TXRING`).
    #[inline]
    pub const fn tx_ring_index(&self, i: u32) -> usize {
        i as usize
    }

    /// `ring_ofs[]` index of RX ring `i` (`NETMAP_RXRING`, API 14 formula with host TX rings).
    #[inline]
    pub const fn rx_ring_index(&self, i: u32) -> usize {
        i as usize + self.ni_tx_rings as usize + self.ni_host_tx_rings as usize
    }

    /// Number of `ring_ofs[]` entries (hardware and host, TX and RX).
    #[inline]
    pub const fn num_ring_ofs(&self) -> usize {
        self.ni_tx_rings as usize
            + self.ni_host_tx_rings as usize
            + self.ni_rx_rings as usize
            + self.ni_host_rx_rings as usize
    }
}

/// Pointer to `ring_ofs[0]`, which follows the 56-byte `netmap_if` header.
///
/// # Safety
/// `nifp` must point to a `netmap_if` object (the result is only valid to dereference for as many
/// entries as that object was allocated with).
#[inline]
pub unsafe fn ring_ofs_ptr(nifp: *mut netmap_if) -> *mut isize {
    // SAFETY: per the contract, the object extends past its header.
    unsafe {
        nifp.cast::<u8>()
            .add(size_of::<netmap_if>())
            .cast::<isize>()
    }
}

// ------------------------------------------------------------------------------------------------
// Legacy control path
// ------------------------------------------------------------------------------------------------

/// Legacy request of NIOCREGIF/NIOCGINFO; still used by every `nm_open()` binary.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq {
    /// (in) Port name without the `netmap:` prefix or a ring suffix: `eth0`, `vale0:p`.
    pub nr_name: [c_char; IFNAMSIZ],
    /// (in) The app's API version; must be at least `NETMAP_MIN_API`. Not written back.
    pub nr_version: u32,
    /// (out) Offset of this fd's `netmap_if` from the start of the region (32 bits only).
    pub nr_offset: u32,
    /// (out) Size of the region to mmap, cut to 32 bits.
    pub nr_memsize: u32,
    /// Slots per TX ring; 0 asks for the default, the kernel writes back the actual count.
    pub nr_tx_slots: u32,
    /// Slots per RX ring; 0 asks for the default, the kernel writes back the actual count.
    pub nr_rx_slots: u32,
    /// Hardware TX rings; 0 asks for the default, the kernel writes back the actual count.
    pub nr_tx_rings: u16,
    /// Hardware RX rings; 0 asks for the default, the kernel writes back the actual count.
    pub nr_rx_rings: u16,
    /// (in) Ring number in the low 12 bits (`NETMAP_RING_MASK`) plus `NETMAP_*` flag bits.
    pub nr_ringid: u16,
    /// (in) 0 to register or query the port; otherwise a `NETMAP_BDG_*` (VALE) sub-command.
    pub nr_cmd: u16,
    /// (in) Argument of `nr_cmd` (e.g. `NETMAP_BDG_HOST`, a vnet header length); ignored when
    /// registering.
    pub nr_arg1: u16,
    /// Memory allocator id: 0 lets the kernel choose, the id in use comes back.
    pub nr_arg2: u16,
    /// Extra buffers wanted; the number actually granted comes back.
    pub nr_arg3: u32,
    /// (in) `NR_REG_*` mode in the low nibble (`NR_REG_MASK`), `NR_*` flags above it.
    pub nr_flags: u32,
    /// Unused.
    pub spare2: [u32; 1],
}

impl nmreq {
    /// Port name in `nr_name`.
    pub fn name(&self) -> String {
        c_name(&self.nr_name)
    }

    /// Sets `nr_name`; `EINVAL` if it does not fit in 15 bytes.
    pub fn set_name(&mut self, name: &str) -> Result<()> {
        set_c_name(&mut self.nr_name, name)
    }
}

/// Argument of NIOCCONFIG (VALE external-module configuration); only its size matters here.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct nm_ifreq {
    /// Name of the port to configure.
    pub nifr_name: [c_char; IFNAMSIZ],
    /// Configuration data, opaque to netmap and passed to the VALE module.
    pub data: [c_char; 256],
}

impl Default for nm_ifreq {
    fn default() -> Self {
        nm_ifreq {
            nifr_name: [0; IFNAMSIZ],
            data: [0; 256],
        }
    }
}

// ------------------------------------------------------------------------------------------------
// New control path (NIOCCTRL)
// ------------------------------------------------------------------------------------------------

/// Header of every NIOCCTRL request; body and options are reached through user pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct nmreq_header {
    /// API version of the request: `NETMAP_MIN_API` to `NETMAP_MAX_API`, else `EINVAL`.
    pub nr_version: u16,
    /// What to do: a `NETMAP_REQ_*` value, which also fixes the body type.
    pub nr_reqtype: u16,
    /// Must be 0 (`EINVAL` otherwise).
    pub nr_reserved: u32,
    /// Port name (`eth0`, `vale0:p`, `eth0{1`), NUL-terminated within 64 bytes.
    pub nr_name: [c_char; NETMAP_REQ_IFNAMSIZ],
    /// User address of the first `nmreq_option`, 0 for none.
    pub nr_options: u64,
    /// User address of the request body; must be 0 for the types that take none.
    pub nr_body: u64,
}

impl Default for nmreq_header {
    fn default() -> Self {
        nmreq_header {
            nr_version: 0,
            nr_reqtype: 0,
            nr_reserved: 0,
            nr_name: [0; NETMAP_REQ_IFNAMSIZ],
            nr_options: 0,
            nr_body: 0,
        }
    }
}

impl nmreq_header {
    /// `nmreq_header_init()`: zeroed header with the current API version, type and body pointer.
    pub fn init(reqtype: u16, body: u64) -> Self {
        nmreq_header {
            nr_version: NETMAP_API as u16,
            nr_reqtype: reqtype,
            nr_body: body,
            ..Default::default()
        }
    }

    /// Port name in `nr_name`.
    pub fn name(&self) -> String {
        c_name(&self.nr_name)
    }

    /// Sets `nr_name`; `EINVAL` if it does not fit in 63 bytes.
    pub fn set_name(&mut self, name: &str) -> Result<()> {
        set_c_name(&mut self.nr_name, name)
    }
}

/// Body of `NETMAP_REQ_REGISTER`; note the 4-byte hole before the 64-bit `nr_flags`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_register {
    /// (out) Offset of this fd's `netmap_if` from the start of the region; may be 0.
    pub nr_offset: u64,
    /// (out) Size of the region to mmap.
    pub nr_memsize: u64,
    /// Slots per TX ring; 0 asks for the default, the kernel writes back what it chose.
    pub nr_tx_slots: u32,
    /// Slots per RX ring; 0 asks for the default, the kernel writes back what it chose.
    pub nr_rx_slots: u32,
    /// Hardware TX rings; 0 asks for the default, the kernel writes back what it chose.
    pub nr_tx_rings: u16,
    /// Hardware RX rings; 0 asks for the default, the kernel writes back what it chose.
    pub nr_rx_rings: u16,
    /// Host TX rings; 0 asks for the default. Comes back as 1 for NIC ports, 0 for VALE
    /// ports and pipes.
    pub nr_host_tx_rings: u16,
    /// Host RX rings; 0 asks for the default. Comes back as 1 for NIC ports, 0 for VALE
    /// ports and pipes.
    pub nr_host_rx_rings: u16,
    /// Memory allocator: 0 lets the kernel choose, 1 is the global one all NICs share. The id
    /// in use comes back; ports with the same id can swap buffers.
    pub nr_mem_id: u16,
    /// (in) Ring index for `NR_REG_ONE_NIC` and `NR_REG_ONE_SW`.
    pub nr_ringid: u16,
    /// (in) Which rings to bind: an `NR_REG_*` value.
    pub nr_mode: u32,
    /// Extra buffers wanted; the number granted comes back (a shortage is not an error).
    pub nr_extra_bufs: u32,
    /// Implicit hole in C.
    pub _pad: u32,
    /// (in) `NR_*` registration flags; unknown bits are ignored, not rejected.
    pub nr_flags: u64,
}

/// Body of `NETMAP_REQ_PORT_INFO_GET`; also how libnetmap resolves `@share=` to a mem id.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_port_info_get {
    /// (out) Size of the port's memory region.
    pub nr_memsize: u64,
    /// (out) Slots per TX ring.
    pub nr_tx_slots: u32,
    /// (out) Slots per RX ring.
    pub nr_rx_slots: u32,
    /// (out) Hardware TX rings.
    pub nr_tx_rings: u16,
    /// (out) Hardware RX rings.
    pub nr_rx_rings: u16,
    /// (out) Host TX rings.
    pub nr_host_tx_rings: u16,
    /// (out) Host RX rings.
    pub nr_host_rx_rings: u16,
    /// Allocator to describe when `nr_name` is empty (0 means 1); on return, the port's
    /// allocator.
    pub nr_mem_id: u16,
    /// Padding, zero.
    pub pad: [u16; 3],
}

/// Common header of every option in the `nr_options` list; `nro_status` reports per-option errors.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_option {
    /// User address of the next option; 0 ends the list.
    pub nro_next: u64,
    /// `NETMAP_REQ_OPT_*` type of this option; 0 is invalid.
    pub nro_reqtype: u32,
    /// (out) 0 if the option was accepted, else an errno (`EOPNOTSUPP` if nothing handled it).
    /// Written back even when the request fails.
    pub nro_status: u32,
    /// Total size of a variable-size option; 0 for fixed-size ones.
    pub nro_size: u64,
}

/// Body of `NETMAP_REQ_PORT_HDR_SET/GET` (virtio-net header length: 0, 10 or 12).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_port_hdr {
    /// virtio-net header length in bytes (0, 10 or 12); GET reports 0 for NIC ports.
    pub nr_hdr_len: u32,
    /// Padding, zero.
    pub pad1: u32,
}

/// Body of `NETMAP_REQ_POOLS_INFO_GET`, and the pool description inside the EXTMEM option.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_pools_info {
    /// Total size of the region (all three pools).
    pub nr_memsize: u64,
    /// Allocator described (in/out).
    pub nr_mem_id: u16,
    /// Padding, zero.
    pub pad1: [u16; 3],
    /// Offset of the `netmap_if` pool in the region (it comes first).
    pub nr_if_pool_offset: u64,
    /// Number of `netmap_if` objects in the pool.
    pub nr_if_pool_objtotal: u32,
    /// Size of one `netmap_if` object.
    pub nr_if_pool_objsize: u32,
    /// Offset of the ring pool in the region.
    pub nr_ring_pool_offset: u64,
    /// Number of ring objects in the pool.
    pub nr_ring_pool_objtotal: u32,
    /// Size of one ring object (header plus slots).
    pub nr_ring_pool_objsize: u32,
    /// Offset of buffer 0 in the region.
    pub nr_buf_pool_offset: u64,
    /// Number of buffers in the pool, counting the reserved buffers 0 and 1.
    pub nr_buf_pool_objtotal: u32,
    /// Size of one buffer (the rings' `nr_buf_size`).
    pub nr_buf_pool_objsize: u32,
}

/// Body of `NETMAP_REQ_VALE_ATTACH`: a registration plus the resulting port index.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_vale_attach {
    /// How to register the port being attached, as for `NETMAP_REQ_REGISTER`.
    pub reg: nmreq_register,
    /// (out) Switch port index the port was attached at.
    pub port_index: u32,
    /// Padding, zero.
    pub pad1: u32,
}

/// Body of `NETMAP_REQ_VALE_DETACH`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_vale_detach {
    /// (out) Switch port index the port had.
    pub port_index: u32,
    /// Padding, zero.
    pub pad1: u32,
}

/// Body of `NETMAP_REQ_VALE_LIST` (iteration cursor in, names out).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_vale_list {
    /// Switch index: where the walk resumes, and the switch of the port returned.
    pub nr_bridge_idx: u16,
    /// Padding, zero.
    pub pad1: u16,
    /// Port index within that switch: where the walk resumes, and the port returned.
    pub nr_port_idx: u32,
}

/// Body of `NETMAP_REQ_VALE_NEWIF`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_vale_newif {
    /// Slots per TX ring of the new port (0 = default).
    pub nr_tx_slots: u32,
    /// Slots per RX ring of the new port (0 = default).
    pub nr_rx_slots: u32,
    /// TX rings of the new port (0 = default).
    pub nr_tx_rings: u16,
    /// RX rings of the new port (0 = default).
    pub nr_rx_rings: u16,
    /// Allocator to build the port in; 0 gives it a private one.
    pub nr_mem_id: u16,
    /// Padding, zero.
    pub pad1: u16,
}

/// Body of `NETMAP_REQ_VALE_POLLING_ENABLE/DISABLE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_vale_polling {
    /// `NETMAP_POLLING_MODE_SINGLE_CPU` or `NETMAP_POLLING_MODE_MULTI_CPU`.
    pub nr_mode: u32,
    /// First CPU a polling kthread runs on.
    pub nr_first_cpu_id: u32,
    /// Number of CPUs (one kthread each) to poll with.
    pub nr_num_polling_cpus: u32,
    /// Padding, zero.
    pub pad1: u32,
}

/// Body of `NETMAP_REQ_SYNC_KLOOP_START`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_sync_kloop_start {
    /// Microseconds the kernel loop sleeps when it finds no work (unless eventfds drive it).
    pub sleep_us: u32,
    /// Padding, zero.
    pub pad1: u32,
}

/// Option `NETMAP_REQ_OPT_EXTMEM`: the region lives in user memory at `nro_usrptr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_extmem {
    /// Common option header.
    pub nro_opt: nmreq_option,
    /// (in) User address of the memory to build the region in; the app then does not mmap the
    /// fd.
    pub nro_usrptr: u64,
    /// (in/out) Size of that memory and the wanted pool geometry (0 = default); the actual
    /// pools on return.
    pub nro_info: nmreq_pools_info,
}

/// One entry of `nmreq_opt_sync_kloop_eventfds` (one per bound ring, CSB order).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_sync_kloop_eventfd {
    /// Eventfd the app signals to wake the kernel loop for this ring; negative makes the loop
    /// sleep-poll instead.
    pub ioeventfd: i32,
    /// Eventfd the kernel loop signals to notify the app about this ring; negative for none.
    pub irqfd: i32,
}

/// Option `NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS`: variable size, `nro_size` covers the entries.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_sync_kloop_eventfds {
    /// Common option header.
    pub nro_opt: nmreq_option,
    /// Flexible array of entries following the header.
    pub eventfds: [nmreq_opt_sync_kloop_eventfd; 0],
}

/// Option `NETMAP_REQ_OPT_CSB`: user pointers to the app→kernel and kernel→app control blocks.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_csb {
    /// Common option header.
    pub nro_opt: nmreq_option,
    /// User address of the `nm_csb_atok` array, one entry per bound ring (TX rings first).
    pub csb_atok: u64,
    /// User address of the `nm_csb_ktoa` array, one entry per bound ring (TX rings first).
    pub csb_ktoa: u64,
}

/// Option `NETMAP_REQ_OPT_SYNC_KLOOP_MODE` (`NM_OPT_SYNC_KLOOP_DIRECT_*`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_sync_kloop_mode {
    /// Common option header.
    pub nro_opt: nmreq_option,
    /// `NM_OPT_SYNC_KLOOP_DIRECT_TX` / `NM_OPT_SYNC_KLOOP_DIRECT_RX` bits.
    pub mode: u32,
}

/// Option `NETMAP_REQ_OPT_OFFSETS`: per-slot data offsets stored in the low bits of `slot.ptr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nmreq_opt_offsets {
    /// Common option header.
    pub nro_opt: nmreq_option,
    /// Largest offset the app will store in a slot (at most the buffer size); the effective,
    /// possibly larger, value comes back.
    pub nro_max_offset: u64,
    /// Offset written into every slot of rings not already in use; at most `nro_max_offset`.
    pub nro_initial_offset: u64,
    /// Low bits of `slot.ptr` that carry the offset (0 = all 64); the effective count comes
    /// back.
    pub nro_offset_bits: u32,
    /// Alignment TX packet starts (buffer plus offset) must have; becomes `ring.buf_align`.
    pub nro_tx_align: u32,
    /// Reserved; must be 0.
    pub nro_min_gap: u64,
}

/// CSB entry written by the app (one per bound ring) in place of ring head/cur.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nm_csb_atok {
    /// The app's `head` of the ring.
    pub head: u32,
    /// The app's `cur` of the ring.
    pub cur: u32,
    /// Set by the app when it wants the kernel to notify it (through the irqfd).
    pub appl_need_kick: u32,
    /// Flags of the app's sync request.
    pub sync_flags: u32,
    /// Padding to 64 bytes.
    pub pad: [u32; 12],
}

/// CSB entry written by the kernel (one per bound ring) in place of ring tail.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nm_csb_ktoa {
    /// First slot the kernel has not yet taken from the app (the kernel's `head`).
    pub hwcur: u32,
    /// The kernel's `tail`: the end of the slots the app may use.
    pub hwtail: u32,
    /// Set by the kernel when it wants the app to kick it (through the ioeventfd).
    pub kern_need_kick: u32,
    /// Padding to 64 bytes.
    pub pad: [u32; 13],
}

// ------------------------------------------------------------------------------------------------
// Compile-time layout checks (every size and offset of upstream's x86_64 ABI)
// ------------------------------------------------------------------------------------------------

/// Size of the field selected by `_f`, usable in const context.
const fn field_size<T, F>(_f: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Asserts a struct's size (and alignment when given) and each field's offset and size.
macro_rules! layout {
    ($t:ident, size = $size:expr $(, align = $align:expr)?; $($field:ident @ $off:expr => $fsize:expr),* $(,)?) => {
        const _: () = assert!(size_of::<$t>() == $size);
        $(const _: () = assert!(align_of::<$t>() == $align);)?
        $(
            const _: () = assert!(offset_of!($t, $field) == $off);
            const _: () = assert!(field_size(|s: &$t| &s.$field) == $fsize);
        )*
    };
}

// §2.1
layout!(netmap_slot, size = 16, align = 8;
    buf_idx @ 0 => 4, len @ 4 => 2, flags @ 6 => 2, ptr @ 8 => 8);

// §2.2 (slot[] is the flexible array: 0 bytes in the header)
layout!(netmap_ring, size = 256, align = 128;
    buf_ofs @ 0 => 8, num_slots @ 8 => 4, nr_buf_size @ 12 => 4, ringid @ 16 => 2, dir @ 18 => 2,
    head @ 20 => 4, cur @ 24 => 4, tail @ 28 => 4, flags @ 32 => 4, _pad0 @ 36 => 4, ts @ 40 => 16,
    offset_mask @ 56 => 8, buf_align @ 64 => 8, _pad1 @ 72 => 56, sem @ 128 => 128, slot @ 256 => 0);
const _: () = assert!(NM_CACHE_ALIGN == align_of::<netmap_ring>());

// §2.3 (ring_ofs[] is the flexible array)
layout!(netmap_if, size = 56, align = 8;
    ni_name @ 0 => 16, ni_version @ 16 => 4, ni_flags @ 20 => 4, ni_tx_rings @ 24 => 4,
    ni_rx_rings @ 28 => 4, ni_bufs_head @ 32 => 4, ni_host_tx_rings @ 36 => 4,
    ni_host_rx_rings @ 40 => 4, ni_spare1 @ 44 => 12, ring_ofs @ 56 => 0);
const _: () = assert!(size_of::<isize>() == 8);

// §4.1
layout!(nmreq, size = 60, align = 4;
    nr_name @ 0 => 16, nr_version @ 16 => 4, nr_offset @ 20 => 4, nr_memsize @ 24 => 4,
    nr_tx_slots @ 28 => 4, nr_rx_slots @ 32 => 4, nr_tx_rings @ 36 => 2, nr_rx_rings @ 38 => 2,
    nr_ringid @ 40 => 2, nr_cmd @ 42 => 2, nr_arg1 @ 44 => 2, nr_arg2 @ 46 => 2, nr_arg3 @ 48 => 4,
    nr_flags @ 52 => 4, spare2 @ 56 => 4);

// §4.3
layout!(nm_ifreq, size = 272; nifr_name @ 0 => 16, data @ 16 => 256);

// §5.1
layout!(nmreq_header, size = 88, align = 8;
    nr_version @ 0 => 2, nr_reqtype @ 2 => 2, nr_reserved @ 4 => 4, nr_name @ 8 => 64,
    nr_options @ 72 => 8, nr_body @ 80 => 8);

// §5.3
layout!(nmreq_register, size = 56, align = 8;
    nr_offset @ 0 => 8, nr_memsize @ 8 => 8, nr_tx_slots @ 16 => 4, nr_rx_slots @ 20 => 4,
    nr_tx_rings @ 24 => 2, nr_rx_rings @ 26 => 2, nr_host_tx_rings @ 28 => 2,
    nr_host_rx_rings @ 30 => 2, nr_mem_id @ 32 => 2, nr_ringid @ 34 => 2, nr_mode @ 36 => 4,
    nr_extra_bufs @ 40 => 4, _pad @ 44 => 4, nr_flags @ 48 => 8);

// §5.4
layout!(nmreq_port_info_get, size = 32;
    nr_memsize @ 0 => 8, nr_tx_slots @ 8 => 4, nr_rx_slots @ 12 => 4, nr_tx_rings @ 16 => 2,
    nr_rx_rings @ 18 => 2, nr_host_tx_rings @ 20 => 2, nr_host_rx_rings @ 22 => 2,
    nr_mem_id @ 24 => 2, pad @ 26 => 6);
layout!(nmreq_vale_attach, size = 64; reg @ 0 => 56, port_index @ 56 => 4, pad1 @ 60 => 4);
layout!(nmreq_vale_detach, size = 8; port_index @ 0 => 4, pad1 @ 4 => 4);
layout!(nmreq_vale_list, size = 8; nr_bridge_idx @ 0 => 2, pad1 @ 2 => 2, nr_port_idx @ 4 => 4);
layout!(nmreq_port_hdr, size = 8; nr_hdr_len @ 0 => 4, pad1 @ 4 => 4);
layout!(nmreq_vale_newif, size = 16;
    nr_tx_slots @ 0 => 4, nr_rx_slots @ 4 => 4, nr_tx_rings @ 8 => 2, nr_rx_rings @ 10 => 2,
    nr_mem_id @ 12 => 2, pad1 @ 14 => 2);
layout!(nmreq_vale_polling, size = 16;
    nr_mode @ 0 => 4, nr_first_cpu_id @ 4 => 4, nr_num_polling_cpus @ 8 => 4, pad1 @ 12 => 4);
layout!(nmreq_pools_info, size = 64;
    nr_memsize @ 0 => 8, nr_mem_id @ 8 => 2, pad1 @ 10 => 6, nr_if_pool_offset @ 16 => 8,
    nr_if_pool_objtotal @ 24 => 4, nr_if_pool_objsize @ 28 => 4, nr_ring_pool_offset @ 32 => 8,
    nr_ring_pool_objtotal @ 40 => 4, nr_ring_pool_objsize @ 44 => 4, nr_buf_pool_offset @ 48 => 8,
    nr_buf_pool_objtotal @ 56 => 4, nr_buf_pool_objsize @ 60 => 4);
layout!(nmreq_sync_kloop_start, size = 8; sleep_us @ 0 => 4, pad1 @ 4 => 4);
layout!(nm_csb_atok, size = 64;
    head @ 0 => 4, cur @ 4 => 4, appl_need_kick @ 8 => 4, sync_flags @ 12 => 4, pad @ 16 => 48);
layout!(nm_csb_ktoa, size = 64;
    hwcur @ 0 => 4, hwtail @ 4 => 4, kern_need_kick @ 8 => 4, pad @ 12 => 52);

// §5.5
layout!(nmreq_option, size = 24;
    nro_next @ 0 => 8, nro_reqtype @ 8 => 4, nro_status @ 12 => 4, nro_size @ 16 => 8);
layout!(nmreq_opt_extmem, size = 96; nro_opt @ 0 => 24, nro_usrptr @ 24 => 8, nro_info @ 32 => 64);
layout!(nmreq_opt_sync_kloop_eventfds, size = 24; nro_opt @ 0 => 24, eventfds @ 24 => 0);
layout!(nmreq_opt_sync_kloop_eventfd, size = 8; ioeventfd @ 0 => 4, irqfd @ 4 => 4);
layout!(nmreq_opt_csb, size = 40; nro_opt @ 0 => 24, csb_atok @ 24 => 8, csb_ktoa @ 32 => 8);
layout!(nmreq_opt_sync_kloop_mode, size = 32; nro_opt @ 0 => 24, mode @ 24 => 4);
layout!(nmreq_opt_offsets, size = 56;
    nro_opt @ 0 => 24, nro_max_offset @ 24 => 8, nro_initial_offset @ 32 => 8,
    nro_offset_bits @ 40 => 4, nro_tx_align @ 44 => 4, nro_min_gap @ 48 => 8);

// §5.2: body sizes per request type
const _: () = assert!(size_of::<nmreq_register>() == 56);
const _: () = assert!(size_of::<nmreq_port_info_get>() == 32);
const _: () = assert!(size_of::<nmreq_vale_attach>() == 64);

// §1.1 and §4.2 value relations
const _: () = assert!(NETMAP_API == 14 && NETMAP_MIN_API == 14 && NETMAP_MAX_API == 15);
const _: () = assert!(NS_PORT_MASK == 0xff00);
const _: () = assert!(NR_REG_ONE_SW & NR_REG_MASK == NR_REG_ONE_SW);
const _: () = assert!(NETMAP_REQ_OPT_MAX == NETMAP_REQ_OPT_OFFSETS + 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_header_is_256_bytes_aligned_128() {
        assert_eq!(size_of::<netmap_ring>(), 256);
        assert_eq!(align_of::<netmap_ring>(), 128);
        assert_eq!(offset_of!(netmap_ring, sem), 128);
    }

    #[test]
    fn runtime_layout_spot_checks() {
        assert_eq!(size_of::<netmap_slot>(), 16);
        assert_eq!(size_of::<netmap_if>(), 56);
        assert_eq!(size_of::<nmreq>(), 60);
        assert_eq!(align_of::<nmreq>(), 4);
        assert_eq!(size_of::<nmreq_header>(), 88);
        assert_eq!(offset_of!(nmreq_register, nr_flags), 48);
        assert_eq!(NIOCCTRL, 0xc0586997);
        assert_eq!(_IOWR(b'i', 151, 88), NIOCCTRL);
    }

    #[test]
    fn ring_arithmetic() {
        assert_eq!(nm_ring_next(4, 2), 3);
        assert_eq!(nm_ring_next(4, 3), 0);
        assert_eq!(nm_ring_next(5, 4), 0);
        assert_eq!(nm_ring_space(8, 6, 2), 4);
        assert_eq!(nm_ring_space(8, 2, 6), 4);
        assert!(nm_ring_empty(3, 3));
        // Idle TX ring: tail == head - 1.
        assert!(!nm_tx_pending(8, 0, 7));
        assert!(nm_tx_pending(8, 3, 7));

        let ring = netmap_ring {
            num_slots: 8,
            head: 0,
            cur: 0,
            tail: 7,
            buf_ofs: 4096,
            nr_buf_size: 2048,
            offset_mask: 0xff,
            ..Default::default()
        };
        assert_eq!(ring.space(), 7);
        assert!(!ring.tx_pending());
        assert_eq!(ring.next(7), 0);
        assert_eq!(ring.buf_ofs_for(3), 4096 + 3 * 2048);
        let mut slot = netmap_slot {
            ptr: 0xabcd_0000,
            ..Default::default()
        };
        ring.woffset(&mut slot, 0x1_42);
        assert_eq!(slot.ptr, 0xabcd_0042);
        assert_eq!(ring.roffset(&slot), 0x42);
    }

    #[test]
    fn raw_accessors() {
        #[repr(C, align(128))]
        struct RingWithSlots {
            hdr: netmap_ring,
            slots: [netmap_slot; 4],
        }
        let mut r = RingWithSlots {
            hdr: netmap_ring::default(),
            slots: [netmap_slot::default(); 4],
        };
        r.slots[2].buf_idx = 77;
        let p = &mut r as *mut RingWithSlots as *mut netmap_ring;
        // SAFETY: the object holds 4 slots after the header.
        let s = unsafe { &*slot_ptr(p, 2) };
        assert_eq!(s.buf_idx, 77);

        #[repr(C)]
        struct IfWithOfs {
            hdr: netmap_if,
            ofs: [isize; 3],
        }
        let mut nif = IfWithOfs {
            hdr: netmap_if {
                ni_tx_rings: 1,
                ni_rx_rings: 1,
                ni_host_tx_rings: 1,
                ..Default::default()
            },
            ofs: [100, 0, 300],
        };
        let rx = nif.hdr.rx_ring_index(0);
        assert_eq!(rx, 2);
        let p = &mut nif as *mut IfWithOfs as *mut netmap_if;
        // SAFETY: the object holds 3 entries after the header.
        let v = unsafe { *ring_ofs_ptr(p).add(rx) };
        assert_eq!(v, 300);
    }

    #[test]
    fn names() {
        let mut h = nmreq_header::init(NETMAP_REQ_REGISTER, 0);
        assert_eq!(h.nr_version, 14);
        h.set_name("vale0:p").unwrap();
        assert_eq!(h.name(), "vale0:p");
        assert!(h.set_name(&"a".repeat(63)).is_ok());
        assert_eq!(
            h.set_name(&"a".repeat(64)).unwrap_err().errno(),
            libc::EINVAL
        );

        let mut r = nmreq::default();
        assert!(r.set_name("0123456789abcde").is_ok());
        assert_eq!(
            r.set_name("0123456789abcdef").unwrap_err().errno(),
            libc::EINVAL
        );

        let mut nif = netmap_if::default();
        nif.set_name("0123456789abcdefXYZ");
        assert_eq!(nif.name(), "0123456789abcde");
    }
}
