//! AF_XDP sockets and their four rings, as thin code over `libc`.
//!
//! One socket per (netns, ifindex, queue); all sockets of a process share one UMEM (the region's
//! buffer pool). Ring indices follow the kernel's protocol: a producer publishes with a
//! store-release of `producer`, a consumer reads it with a load-acquire (docs/architecture.md, "Queues and sockets").

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::sys::*;

/// A shared mapping of one kernel ring, unmapped on drop (the mapping holds a socket reference,
/// so it must go before the socket can be released; docs/architecture.md, "Queues and sockets").
struct RingMap {
    ptr: *mut u8,
    len: usize,
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: ptr/len come from a successful mmap that nothing else unmaps.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// What keeps a ring's memory alive: the kernel's mapping, or (in unit tests) the in-memory
/// kernel model's allocation.
enum RingKeep {
    Mmap(#[allow(dead_code)] RingMap),
    #[cfg(test)]
    Model(#[allow(dead_code)] std::sync::Arc<dyn std::any::Any + Send + Sync>),
}

pub(crate) struct RingPtrs<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut T,
    mask: u32,
    size: u32,
    _keep: RingKeep,
}

// SAFETY: the ring memory is shared with the kernel and lives as long as `_keep`; access is
// serialised by the owners of the ring wrappers (&mut self).
unsafe impl<T> Send for RingPtrs<T> {}
// SAFETY: as above; shared references only read the atomics.
unsafe impl<T> Sync for RingPtrs<T> {}

impl<T> RingPtrs<T> {
    fn map(fd: RawFd, off: &xdp_ring_offset, entries: u32, pgoff: i64) -> Result<Self> {
        let len = off.desc as usize + entries as usize * std::mem::size_of::<T>();
        // SAFETY: mapping a ring of a socket we own; the kernel validates offset and length.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os("mmap of an AF_XDP ring"));
        }
        let base = ptr.cast::<u8>();
        // SAFETY: all offsets come from XDP_MMAP_OFFSETS and lie inside the mapping.
        unsafe {
            Ok(RingPtrs {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                desc: base.add(off.desc as usize).cast(),
                mask: entries - 1,
                size: entries,
                _keep: RingKeep::Mmap(RingMap { ptr: base, len }),
            })
        }
    }

    /// A ring over memory the in-memory kernel model owns (unit tests of the data path).
    ///
    /// # Safety
    /// The four pointers must point into memory that `keep` keeps alive, `desc` to `entries`
    /// (a power of two) descriptors, the indices and flags accessed only atomically by the model.
    #[cfg(test)]
    pub(crate) unsafe fn from_model(
        producer: *const AtomicU32,
        consumer: *const AtomicU32,
        flags: *const AtomicU32,
        desc: *mut T,
        entries: u32,
        keep: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    ) -> Self {
        debug_assert!(entries.is_power_of_two());
        RingPtrs {
            producer,
            consumer,
            flags,
            desc,
            mask: entries - 1,
            size: entries,
            _keep: RingKeep::Model(keep),
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping; the kernel only ever accesses it atomically.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

/// The user-space producer side of a ring (fill and TX rings).
///
/// Entries are written past the producer index with [`write`](Self::write) and reach the
/// kernel only at [`submit`](Self::submit), one store-release of the producer index per batch.
/// [`free`](Self::free) re-reads the kernel's consumer index (load-acquire) only when its cached
/// value shows too little room.
pub struct ProdRing<T> {
    r: RingPtrs<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ProdRing<T> {
    pub(crate) fn new(r: RingPtrs<T>) -> Self {
        let cached_prod = r.producer().load(Ordering::Relaxed);
        let cached_cons = r.consumer().load(Ordering::Acquire);
        ProdRing {
            r,
            cached_prod,
            cached_cons,
        }
    }

    /// Entries that can be written now (re-reading the consumer only when the cached count is
    /// below `wanted`).
    pub fn free(&mut self, wanted: u32) -> u32 {
        let free = self.r.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= wanted {
            return free;
        }
        self.cached_cons = self.r.consumer().load(Ordering::Acquire);
        self.r.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Writes entry `i` (0-based from the current producer position) without publishing it.
    #[inline]
    pub fn write(&mut self, i: u32, v: T) {
        let idx = self.cached_prod.wrapping_add(i) & self.r.mask;
        // SAFETY: idx is masked into the ring; the slot is owned by user space until published.
        unsafe { self.r.desc.add(idx as usize).write(v) };
    }

    /// A cursor writing entries from the current producer position on, with the ring's
    /// address, mask and position in locals (a loop keeps them in registers instead of
    /// reloading them through `self`). Nothing is published until [`submit`](Self::submit).
    #[inline]
    pub(crate) fn writer(&mut self) -> RingCursor<'_, T> {
        RingCursor {
            desc: self.r.desc,
            mask: self.r.mask,
            pos: self.cached_prod,
            _ring: std::marker::PhantomData,
        }
    }

    /// Publishes `n` written entries to the kernel.
    #[inline]
    pub fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.r.producer().store(self.cached_prod, Ordering::Release);
    }

    /// Entries published but not yet taken by the kernel.
    pub fn outstanding(&mut self) -> u32 {
        self.cached_cons = self.r.consumer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Entries still sitting in the ring, oldest first (used to reclaim buffers at close).
    pub fn pending_entries(&mut self) -> Vec<T> {
        let n = self.outstanding();
        (0..n)
            .map(|i| {
                let idx = self.cached_cons.wrapping_add(i) & self.r.mask;
                // SAFETY: idx is masked into the ring.
                unsafe { self.r.desc.add(idx as usize).read() }
            })
            .collect()
    }

    /// Whether the kernel set `XDP_RING_NEED_WAKEUP` on this ring: it will not look at new
    /// entries until a syscall wakes it ([`kick_tx`] for TX, [`kick_rx`] for fill). A copy-mode
    /// TX ring always says so.
    pub fn needs_wakeup(&self) -> bool {
        self.r.needs_wakeup()
    }

    /// Number of entries in the ring (a power of two).
    pub fn size(&self) -> u32 {
        self.r.size
    }
}

/// The user-space consumer side of a ring (RX and completion rings).
///
/// The kernel's producer index is read with a load-acquire, only when the cached one shows too
/// few entries; entries read with [`read`](Self::read) stay valid until
/// [`release`](Self::release) hands them back with a store-release of the consumer index.
pub struct ConsRing<T> {
    r: RingPtrs<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ConsRing<T> {
    pub(crate) fn new(r: RingPtrs<T>) -> Self {
        let cached_cons = r.consumer().load(Ordering::Relaxed);
        ConsRing {
            r,
            cached_prod: cached_cons,
            cached_cons,
        }
    }

    /// Entries ready to be read, up to `max`.
    #[inline]
    pub fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n < max {
            self.cached_prod = self.r.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// Reads entry `i` (0-based from the current consumer position).
    #[inline]
    pub fn read(&self, i: u32) -> T {
        let idx = self.cached_cons.wrapping_add(i) & self.r.mask;
        // SAFETY: idx is masked into the ring and was published by the kernel.
        unsafe { self.r.desc.add(idx as usize).read() }
    }

    /// A cursor reading entries from the current consumer position on (see
    /// [`ProdRing::writer`]); read only entries [`available`](Self::available) counted.
    #[inline]
    pub(crate) fn reader(&self) -> RingCursor<'_, T> {
        RingCursor {
            desc: self.r.desc,
            mask: self.r.mask,
            pos: self.cached_cons,
            _ring: std::marker::PhantomData,
        }
    }

    /// Gives `n` read entries back to the kernel.
    #[inline]
    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.r.consumer().store(self.cached_cons, Ordering::Release);
    }

    /// Number of entries in the ring (a power of two).
    pub fn size(&self) -> u32 {
        self.r.size
    }

    /// A lock-free look at this RX ring and its fill ring (see [`RingPeek`]).
    pub(crate) fn peek(&self, fill: &ProdRing<u64>) -> RingPeek {
        RingPeek {
            producer: self.r.producer,
            consumer: self.r.consumer,
            fill_flags: fill.r.flags,
            desc: self.r.desc as *const u8,
            desc_mask: self.r.mask,
            desc_size: std::mem::size_of::<T>() as u32,
        }
    }
}

/// The indices of an RX ring and the flags of its fill ring, read without the rings' lock: a
/// hint for busy-wait loops ("a sync has something to do"), not a count to read entries by.
pub(crate) struct RingPeek {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    fill_flags: *const AtomicU32,
    /// The RX ring's entries, only ever prefetched through.
    desc: *const u8,
    desc_mask: u32,
    desc_size: u32,
}

// SAFETY: only atomic loads go through the pointers.
unsafe impl Send for RingPeek {}
// SAFETY: as above.
unsafe impl Sync for RingPeek {}

impl RingPeek {
    /// Has the kernel published entries the ring has not released, or does it wait for a
    /// wakeup to take fill buffers (zero-copy drivers; only a sync's `recvfrom` gives it)?
    ///
    /// # Safety
    /// The rings' mappings must still be live (their owner outlives the call).
    #[inline]
    pub(crate) unsafe fn waiting(&self) -> bool {
        // SAFETY: the caller keeps the mappings alive; indices and flags are atomics.
        let (prod, cons) = unsafe {
            (
                (*self.producer).load(Ordering::Acquire),
                (*self.consumer).load(Ordering::Relaxed),
            )
        };
        if prod != cons {
            // The sync that follows reads this descriptor first (docs/architecture.md,
            // "Prefetching").
            let at = (cons & self.desc_mask) as usize * self.desc_size as usize;
            crate::prefetch::prefetch(self.desc.wrapping_add(at));
            return true;
        }
        // SAFETY: as above.
        unsafe { (*self.fill_flags).load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0 }
    }
}

/// Walks a ring's entries one after the other from a position (see [`ProdRing::writer`] and
/// [`ConsRing::reader`]); borrows its ring, so the ring cannot publish or release meanwhile.
/// Writes are only for a producer's cursor, reads only of entries the kernel published.
pub(crate) struct RingCursor<'a, T> {
    desc: *mut T,
    mask: u32,
    pos: u32,
    _ring: std::marker::PhantomData<&'a mut T>,
}

impl<T: Copy> RingCursor<'_, T> {
    /// Entries the cursor moved past since it was made from `start`'s position.
    #[inline]
    pub(crate) fn moved(&self, start: u32) -> u32 {
        self.pos.wrapping_sub(start)
    }

    /// The cursor's position (a ring index, unmasked).
    #[inline]
    pub(crate) fn pos(&self) -> u32 {
        self.pos
    }

    /// The entries from the cursor to the ring's end, at most `max` of them: one contiguous run,
    /// which a loop walks without masking each position. A producer's cursor may ask only for
    /// entries it counted free, a consumer's only for entries the kernel published (the same
    /// contract as [`ProdRing::write`] and [`ConsRing::read`]). The cursor does not move:
    /// [`skip`](Self::skip) past what was used.
    #[inline]
    pub(crate) fn run_mut(&mut self, max: u32) -> &mut [T] {
        let (at, len) = self.span(max);
        // SAFETY: entries at..at+len lie in the ring (see `span`); free entries of a producer
        // are user space's until published, and published entries of a consumer are not
        // written by the kernel until released; the cursor borrows its ring mutably, so
        // nothing else in this process touches them while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(self.desc.add(at), len) }
    }

    /// [`run_mut`](Self::run_mut) for reading (a consumer's published entries).
    #[inline]
    pub(crate) fn run(&self, max: u32) -> &[T] {
        let (at, len) = self.span(max);
        // SAFETY: as for `run_mut`; the entries are only read.
        unsafe { std::slice::from_raw_parts(self.desc.add(at), len) }
    }

    /// Ring position of the cursor and the entries from it to the ring's end, at most `max`
    /// (`at + len` never exceeds the ring's size).
    #[inline]
    fn span(&self, max: u32) -> (usize, usize) {
        let at = self.pos & self.mask;
        (at as usize, max.min(self.mask - at + 1) as usize)
    }

    /// Writes `v` at the cursor and moves it on: for a producer's entries counted free, like
    /// [`run_mut`](Self::run_mut), where a run would not do (a few entries that may wrap).
    #[inline]
    pub(crate) fn put(&mut self, v: T) {
        let at = (self.pos & self.mask) as usize;
        // SAFETY: `at` is masked into the ring; the entry is a free one of the producer (the
        // caller's contract), which the kernel does not read before it is published.
        unsafe { self.desc.add(at).write(v) };
        self.pos = self.pos.wrapping_add(1);
    }

    /// Moves the cursor `k` entries back over entries [`put`](Self::put) wrote and that are
    /// not published: they count as unwritten again.
    #[inline]
    pub(crate) fn unput(&mut self, k: u32) {
        self.pos = self.pos.wrapping_sub(k);
    }

    /// Moves the cursor `k` entries on (past entries a run filled or read).
    #[inline]
    pub(crate) fn skip(&mut self, k: u32) {
        self.pos = self.pos.wrapping_add(k);
    }
}

/// How the socket was bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// The driver moves frames straight between the NIC and the UMEM.
    ZeroCopy,
    /// The kernel copies each frame between an skb and the UMEM; works with every driver.
    Copy,
}

impl BindMode {
    /// The mode's name for messages and status output: `zero-copy` or `copy`.
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        }
    }
}

/// The UMEM every socket of the region registers or shares.
///
/// Registering memory as UMEM lets the kernel write received frames into it at any time, so
/// only [`UmemSpec::new`]'s caller can vouch for the address: the type has no safe constructor.
#[derive(Debug, Clone, Copy)]
pub struct UmemSpec {
    addr: *mut u8,
    len: u64,
    chunk_size: u32,
}

impl UmemSpec {
    /// The UMEM of `len` bytes at `addr`, in chunks of `chunk_size` bytes.
    ///
    /// # Safety
    /// `addr..addr + len` must be a writable mapping that outlives every socket bound with this
    /// spec, and which nothing else in the process reads or writes except by the AF_XDP
    /// ownership protocol (a chunk is the kernel's between being posted and being returned).
    pub unsafe fn new(addr: *mut u8, len: u64, chunk_size: u32) -> UmemSpec {
        UmemSpec {
            addr,
            len,
            chunk_size,
        }
    }
}

/// Ring sizes (entries, powers of two) of one socket.
#[derive(Debug, Clone, Copy)]
pub struct RingSizes {
    /// RX ring entries (received frame descriptors).
    pub rx: u32,
    /// TX ring entries (frame descriptors to send).
    pub tx: u32,
    /// Fill ring entries (empty chunks offered for RX).
    pub fill: u32,
    /// Completion ring entries (chunks whose transmission finished).
    pub comp: u32,
}

/// How to bind: own the UMEM (first socket of a region) or share the owner's.
pub enum BindAs {
    /// Register the UMEM on this socket.
    Owner {
        /// The memory to register.
        umem: UmemSpec,
        /// The mode to force; `None` tries zero-copy and falls back to copy when the driver
        /// refuses it (`EOPNOTSUPP` or `EINVAL`).
        mode: Option<BindMode>,
    },
    /// Use the UMEM of an already bound socket (`XDP_SHARED_UMEM`), on another queue or
    /// interface: this socket still gets its own fill and completion rings, and inherits the
    /// owner's mode.
    Shared {
        /// The bound socket that registered the UMEM.
        owner_fd: RawFd,
    },
}

/// One bound AF_XDP socket with its RX, TX, fill and completion rings.
pub struct XskSocket {
    /// RX ring: the kernel's descriptors of received frames, released back once read.
    pub rx: ConsRing<xdp_desc>,
    /// TX ring: descriptors of frames to send; see [`kick_tx`] when it needs a wakeup.
    pub tx: ProdRing<xdp_desc>,
    /// Fill ring: chunk addresses handed to the kernel to receive into.
    pub fill: ProdRing<u64>,
    /// Completion ring: addresses of frames whose transmission finished, not necessarily in
    /// TX order.
    pub comp: ConsRing<u64>,
    /// The mode the kernel actually bound the socket in (read back with `XDP_OPTIONS`).
    pub mode: BindMode,
    /// Bound with `XDP_USE_SG`: frames may span several chunks (descriptors chained with
    /// `XDP_PKT_CONTD`). Always false for a shared-UMEM socket, which inherits the setting of
    /// the UMEM's owner without being told it: ask the owner's.
    pub multi_buffer: bool,
    // Declared last so the ring mappings above are dropped (unmapped) before the socket closes.
    fd: OwnedFd,
}

fn setsockopt<T>(fd: RawFd, name: i32, val: &T, what: &str) -> Result<()> {
    // SAFETY: val points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::last_os(what));
    }
    Ok(())
}

fn getsockopt<T: Default>(fd: RawFd, name: i32, what: &str) -> Result<T> {
    let mut val = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: val is a writable T and len its size.
    let rc = unsafe { libc::getsockopt(fd, SOL_XDP, name, (&mut val as *mut T).cast(), &mut len) };
    if rc != 0 {
        return Err(Error::last_os(what));
    }
    Ok(val)
}

impl XskSocket {
    /// Creates, maps and binds a socket to (ifindex, queue).
    ///
    /// A socket that owns its UMEM is bound multi-buffer (`XDP_USE_SG`) where the kernel and
    /// driver allow it, so frames longer than a chunk arrive as descriptor chains instead of
    /// being dropped; otherwise without. Each fallback is another `bind` of the same socket
    /// (a refused bind leaves it unbound, UMEM and rings in place), so it costs no new
    /// registration. Order: zero-copy before copy, multi-buffer before not within each mode.
    pub fn open(ifindex: u32, queue: u32, sizes: RingSizes, how: &BindAs) -> Result<XskSocket> {
        match how {
            BindAs::Owner { umem, mode } => {
                // A driver that says it has no zero-copy is not asked (netdev.rs).
                let no_zc = || crate::netdev::xdp_features(ifindex).is_some_and(|f| !f.zero_copy);
                let modes: &[BindMode] = match mode {
                    Some(m) => std::slice::from_ref(m),
                    None if no_zc() => &[BindMode::Copy],
                    None => &[BindMode::ZeroCopy, BindMode::Copy],
                };
                Self::open_once(ifindex, queue, sizes, Some((umem, modes)), None)
            }
            BindAs::Shared { owner_fd } => {
                Self::open_once(ifindex, queue, sizes, None, Some(*owner_fd))
            }
        }
    }

    fn open_once(
        ifindex: u32,
        queue: u32,
        sizes: RingSizes,
        owner: Option<(&UmemSpec, &[BindMode])>,
        shared_fd: Option<RawFd>,
    ) -> Result<XskSocket> {
        // SAFETY: plain socket(2) call.
        let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = Error::last_os("socket(AF_XDP)");
            return Err(if e.errno() == libc::EPERM || e.errno() == libc::EACCES {
                Error::new(
                    libc::EPERM,
                    "cannot create an AF_XDP socket: needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (run as root)",
                )
            } else {
                e
            });
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        if let Some((umem, _)) = owner {
            let reg = xdp_umem_reg {
                addr: umem.addr as u64,
                len: umem.len,
                chunk_size: umem.chunk_size,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(s, XDP_UMEM_REG, &reg, "registering the UMEM (XDP_UMEM_REG)")?;
        }
        setsockopt(
            s,
            XDP_UMEM_FILL_RING,
            &(sizes.fill as i32),
            "XDP_UMEM_FILL_RING",
        )?;
        setsockopt(
            s,
            XDP_UMEM_COMPLETION_RING,
            &(sizes.comp as i32),
            "XDP_UMEM_COMPLETION_RING",
        )?;
        setsockopt(s, XDP_RX_RING, &(sizes.rx as i32), "XDP_RX_RING")?;
        setsockopt(s, XDP_TX_RING, &(sizes.tx as i32), "XDP_TX_RING")?;
        // Copy mode sends at most this many frames per sendto (default 32, EAGAIN after): one kick
        // per batch needs it as large as the ring. Kernels before 6.17 lack it; then we loop.
        let _ = setsockopt(s, XDP_MAX_TX_SKB_BUDGET, &sizes.tx, "XDP_MAX_TX_SKB_BUDGET");

        let off: xdp_mmap_offsets = getsockopt(s, XDP_MMAP_OFFSETS, "XDP_MMAP_OFFSETS")?;
        let rx = ConsRing::new(RingPtrs::map(s, &off.rx, sizes.rx, XDP_PGOFF_RX_RING)?);
        let tx = ProdRing::new(RingPtrs::map(s, &off.tx, sizes.tx, XDP_PGOFF_TX_RING)?);
        let fill = ProdRing::new(RingPtrs::map(
            s,
            &off.fr,
            sizes.fill,
            XDP_UMEM_PGOFF_FILL_RING,
        )?);
        let comp = ConsRing::new(RingPtrs::map(
            s,
            &off.cr,
            sizes.comp,
            XDP_UMEM_PGOFF_COMPLETION_RING,
        )?);

        let mut addr = sockaddr_xdp {
            sxdp_family: AF_XDP as u16,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            ..Default::default()
        };
        let mut multi_buffer = false;
        match (owner, shared_fd) {
            (Some((_, modes)), _) => {
                let mut last = None;
                'modes: for &mode in modes {
                    let base = XDP_USE_NEED_WAKEUP
                        | match mode {
                            BindMode::ZeroCopy => XDP_ZEROCOPY,
                            BindMode::Copy => XDP_COPY,
                        };
                    for sg in [true, false] {
                        addr.sxdp_flags = base | if sg { XDP_USE_SG } else { 0 };
                        match bind_with_retry(s, &addr, ifindex, queue) {
                            Ok(()) => {
                                multi_buffer = sg;
                                last = None;
                                break 'modes;
                            }
                            // A kernel before 6.6 (unknown flag), a driver without zero-copy
                            // or without zero-copy multi-buffer: try the next combination.
                            Err(e)
                                if e.errno() == libc::EOPNOTSUPP || e.errno() == libc::EINVAL =>
                            {
                                last = Some(e)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                if let Some(e) = last {
                    return Err(e);
                }
            }
            (None, Some(owner_fd)) => {
                addr.sxdp_flags = XDP_SHARED_UMEM;
                addr.sxdp_shared_umem_fd = owner_fd as u32;
                bind_with_retry(s, &addr, ifindex, queue)?;
            }
            (None, None) => unreachable!("a socket either owns or shares the UMEM"),
        }
        let opts: xdp_options = getsockopt(s, XDP_OPTIONS, "XDP_OPTIONS")?;
        let mode = if opts.flags & XDP_OPTIONS_ZEROCOPY != 0 {
            BindMode::ZeroCopy
        } else {
            BindMode::Copy
        };
        Ok(XskSocket {
            rx,
            tx,
            fill,
            comp,
            mode,
            multi_buffer,
            fd,
        })
    }

    /// The socket's descriptor: what kicks and poll() use, and the `owner_fd` of sockets that
    /// share this UMEM.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Splits the socket so the TX side and the RX side can be driven independently.
    pub fn into_parts(self) -> XskParts {
        XskParts {
            rx: self.rx,
            tx: self.tx,
            fill: self.fill,
            comp: self.comp,
            mode: self.mode,
            multi_buffer: self.multi_buffer,
            fd: self.fd,
        }
    }

    /// Kernel counters of this socket (XDP_STATISTICS).
    pub fn statistics(&self) -> Result<xdp_statistics> {
        getsockopt(self.fd(), XDP_STATISTICS, "XDP_STATISTICS")
    }
}

/// The pieces of a socket; the owner must drop the rings before `fd`.
pub struct XskParts {
    /// RX ring, as in [`XskSocket::rx`].
    pub rx: ConsRing<xdp_desc>,
    /// TX ring, as in [`XskSocket::tx`].
    pub tx: ProdRing<xdp_desc>,
    /// Fill ring, as in [`XskSocket::fill`].
    pub fill: ProdRing<u64>,
    /// Completion ring, as in [`XskSocket::comp`].
    pub comp: ConsRing<u64>,
    /// The mode the socket was bound in.
    pub mode: BindMode,
    /// Bound multi-buffer, as in [`XskSocket::multi_buffer`].
    pub multi_buffer: bool,
    /// The socket. Each ring mapping holds a reference to it, so closing this does not release
    /// the socket (or its queue) until the rings are dropped too.
    pub fd: OwnedFd,
}

/// Kernel counters of socket `fd` (XDP_STATISTICS).
pub fn statistics(fd: RawFd) -> Result<xdp_statistics> {
    getsockopt(fd, XDP_STATISTICS, "XDP_STATISTICS")
}

/// A released socket on the same queue is torn down by a kernel workqueue, so bind can see EBUSY
/// for some tens of milliseconds after a close (docs/architecture.md, "Queues and sockets"):
/// retry for a bounded time.
fn bind_with_retry(s: RawFd, addr: &sockaddr_xdp, ifindex: u32, queue: u32) -> Result<()> {
    const RETRIES: u32 = 100;
    for attempt in 0..=RETRIES {
        // SAFETY: addr is a valid sockaddr_xdp of the right length.
        let rc = unsafe {
            libc::bind(
                s,
                (addr as *const sockaddr_xdp).cast(),
                std::mem::size_of::<sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        if errno == libc::EBUSY && attempt < RETRIES {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        return Err(match errno {
            libc::EBUSY => Error::new(
                libc::EBUSY,
                format!("queue {queue} of ifindex {ifindex} is already bound by another AF_XDP socket (another netmap/AF_XDP application holds it): stop it or pick another ring"),
            ),
            libc::ENODEV => Error::new(libc::ENXIO, format!("ifindex {ifindex} disappeared while binding")),
            libc::EOPNOTSUPP => Error::new(libc::EOPNOTSUPP, format!("binding queue {queue} of ifindex {ifindex}: {err}")),
            _ => Error::from_io(format!("binding AF_XDP socket to queue {queue} of ifindex {ifindex}"), &err),
        });
    }
    unreachable!()
}

/// Asks the kernel to transmit what the TX ring holds (copy mode sends synchronously here).
/// Returns the errno, 0 on success.
#[inline]
pub fn kick_tx(fd: RawFd) -> i32 {
    // SAFETY: a zero-length sendto with no buffer; MSG_DONTWAIT is mandatory for AF_XDP.
    let rc = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if rc >= 0 {
        0
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }
}

/// Asks the kernel to refill from the fill ring (needed in zero-copy mode when it says so).
#[inline]
pub fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length recvfrom with no buffer, non-blocking.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}
