//! One NIC queue as netmap sees it: a TX and an RX netmap ring backed by one AF_XDP socket, and
//! the txsync/rxsync that move slots between them (docs/architecture.md, "TX path", "RX path").
//!
//! Rings are shared by every port of the process bound to the queue, as netmap shares them
//! between file descriptors. The TX and RX halves have their own locks, taken once per sync and
//! held by a Rust ring view for as long as it lives.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::error::Result;
use crate::region::{Layout, Region};
use crate::shm::SharedRing;
use crate::xsk::{kick_rx, kick_tx, BindMode, RingPeek, XskParts};

#[cfg(test)]
pub(crate) mod model;
mod rxsync;
#[cfg(test)]
mod tests;
mod txsync;

pub(crate) use rxsync::RxState;
pub(crate) use txsync::TxState;

/// Identity of a queue: network namespace (inode), interface index, queue number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueKey {
    /// Inode of the network namespace the interface was looked up in (an ifindex is unique
    /// only within its namespace).
    pub netns: u64,
    /// Interface index within that namespace.
    pub ifindex: u32,
    /// NIC queue number, which is also the netmap ring number.
    pub queue: u32,
}

/// Counters of one queue, readable while traffic flows.
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// Frames handed to the AF_XDP TX ring by txsync (counted when posted, not when completed).
    pub tx_packets: AtomicU64,
    /// Frame bytes (slot `len`) of those frames.
    pub tx_bytes: AtomicU64,
    /// TX slots skipped and never sent: a bad buf_idx or len, or part of a dropped chain.
    pub tx_bad_slots: AtomicU64,
    /// Frames rxsync moved from the AF_XDP RX ring into netmap slots.
    pub rx_packets: AtomicU64,
    /// Frame bytes (descriptor length) of those frames.
    pub rx_bytes: AtomicU64,
    /// Slots those frames filled: one per frame, more for a frame longer than a buffer (the
    /// measure of how dense a stream is, for poll's naps).
    pub rx_slots: AtomicU64,
    /// Released RX slots whose buf_idx was invalid (replaced from the pool, or lost if empty).
    pub rx_bad_slots: AtomicU64,
    /// Bytes nmxdp itself copied (0 on the zero-copy path).
    pub copied_bytes: AtomicU64,
    /// Times a ring was re-initialised because the app broke head/cur.
    pub ring_reinits: AtomicU64,
    /// Kicks (sendto) issued.
    pub tx_kicks: AtomicU64,
    /// Slot chains (`NS_MOREFRAG`) txsync dropped whole: too long for the socket, or with a
    /// bad slot in them.
    pub tx_dropped_chains: AtomicU64,
    /// Received chains rxsync dropped because they were longer than the whole RX ring.
    pub rx_dropped_chains: AtomicU64,
}

/// Adds `n` to a counter that only the holder of its ring half's lock writes (the packet, byte
/// and kick counters): a plain load and store, readable by others at any time, where a locked
/// add would wait for every store before it, fill-ring and descriptor writes to lines the
/// kernel's CPU holds among them.
#[inline(always)]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Snapshot of [`QueueCounters`] (summed over a port's queues by [`crate::Port::stats`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    /// Frames txsync posted to the kernel for transmission (before their completion).
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// TX slots skipped and never sent: length 0 or above a buffer's frame room, a buffer the
    /// application does not own, or a slot of a dropped chain (see `tx_dropped_chains`).
    pub tx_bad_slots: u64,
    /// Frames rxsync delivered into RX slots.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Released RX slots naming a buffer the application does not own, repaired with a fresh
    /// buffer from the pool (or index 0 when the pool was empty).
    pub rx_bad_slots: u64,
    /// Bytes nmxdp copied itself: received frames that an XDP head adjustment moved away from
    /// the start of their buffer. 0 on the normal, zero-copy path.
    pub copied_bytes: u64,
    /// Syncs that found head/cur out of range and re-initialised the ring.
    pub ring_reinits: u64,
    /// `sendto` calls made to get the kernel transmitting, every retry included.
    pub tx_kicks: u64,
    /// Frames given as slot chains that were dropped whole, never sent (their slots counted in
    /// `tx_bad_slots`): more slots than one frame may take (1 on a single-buffer socket), or a
    /// slot of the chain with a bad index or length.
    pub tx_dropped_chains: u64,
    /// Received frames dropped because their chain of buffers was longer than the RX ring.
    pub rx_dropped_chains: u64,
    /// Host RX ring: frames the host stack transmitted that reached the application (included
    /// in `rx_packets` too). 0 for a port without host rings.
    pub host_rx_packets: u64,
    /// Host TX ring: frames the application handed to the host stack (included in
    /// `tx_packets` too).
    pub host_tx_packets: u64,
    /// Frames the host stack transmitted that were dropped because the host RX ring (or its
    /// fill ring) was full: the kernel's XDP statistics of the host queue's socket.
    pub host_rx_dropped: u64,
}

impl std::ops::AddAssign for PortStats {
    fn add_assign(&mut self, o: PortStats) {
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_bad_slots += o.tx_bad_slots;
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.rx_bad_slots += o.rx_bad_slots;
        self.copied_bytes += o.copied_bytes;
        self.ring_reinits += o.ring_reinits;
        self.tx_kicks += o.tx_kicks;
        self.tx_dropped_chains += o.tx_dropped_chains;
        self.rx_dropped_chains += o.rx_dropped_chains;
        self.host_rx_packets += o.host_rx_packets;
        self.host_tx_packets += o.host_tx_packets;
        self.host_rx_dropped += o.host_rx_dropped;
    }
}

impl PortStats {
    /// Adds one queue's current counters to this sum.
    pub(crate) fn add(&mut self, c: &QueueCounters) {
        self.tx_packets += c.tx_packets.load(Relaxed);
        self.tx_bytes += c.tx_bytes.load(Relaxed);
        self.tx_bad_slots += c.tx_bad_slots.load(Relaxed);
        self.rx_packets += c.rx_packets.load(Relaxed);
        self.rx_bytes += c.rx_bytes.load(Relaxed);
        self.rx_bad_slots += c.rx_bad_slots.load(Relaxed);
        self.copied_bytes += c.copied_bytes.load(Relaxed);
        self.ring_reinits += c.ring_reinits.load(Relaxed);
        self.tx_kicks += c.tx_kicks.load(Relaxed);
        self.tx_dropped_chains += c.tx_dropped_chains.load(Relaxed);
        self.rx_dropped_chains += c.rx_dropped_chains.load(Relaxed);
    }
}

/// Outcome of one sync of one ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    /// The ring was synced.
    Ok,
    /// head/cur were out of range: the ring was re-initialised (poll reports POLLERR).
    Reinit,
    /// The device went away or down (poll reports POLLERR).
    DeviceError,
    /// This thread holds a view of the ring through another port: skipped, as netmap skips a
    /// ring another file descriptor is syncing.
    Busy,
}

/// How a sync asks the kernel to act: a zero-length `sendto`/`recvfrom` on the socket, or (in
/// unit tests) a call into the in-memory kernel model.
pub(crate) enum Doorbell {
    /// The queue's AF_XDP socket.
    Socket(RawFd),
    /// The in-memory kernel model the data-path tests run against.
    #[cfg(test)]
    Model(std::sync::Arc<model::Kernel>),
}

impl Doorbell {
    /// Asks the kernel to transmit; returns the errno (0 on success).
    #[inline]
    pub(crate) fn tx(&self) -> i32 {
        match self {
            Doorbell::Socket(fd) => kick_tx(*fd),
            #[cfg(test)]
            Doorbell::Model(k) => k.kick_tx(),
        }
    }

    /// Asks the kernel to refill from the fill ring.
    #[inline]
    pub(crate) fn rx(&self) {
        match self {
            Doorbell::Socket(fd) => kick_rx(*fd),
            #[cfg(test)]
            Doorbell::Model(k) => k.kick_rx(),
        }
    }
}

/// netmap_ring_reinit(): sanitise slots; reset head/cur only when out of range, tail always.
pub(crate) fn reinit(ring: SharedRing, hwcur: u32, hwtail: u32, layout: &Layout) {
    let n = ring.num_slots();
    if ring.head() >= n || ring.cur() >= n || ring.tail() >= n {
        ring.set_head_cur(hwcur);
    }
    ring.set_tail(hwtail);
    for i in 0..n {
        let idx = ring.buf_idx(i);
        if idx < 2 || idx >= layout.buf_num {
            ring.set_buf_idx(i, 0);
            ring.set_len(i, 0);
        } else if ring.len(i) as u32 > layout.buf_size {
            ring.set_len(i, 0);
        }
    }
}

/// One half (TX or RX) of a queue: its state behind a lock, and which thread holds a Rust view
/// of it (so that a sync from the same thread through another port skips the ring instead of
/// deadlocking).
pub(crate) struct Half<T> {
    state: Mutex<T>,
    viewer: AtomicU64,
}

/// An address unique to the calling thread while it lives.
fn thread_token() -> u64 {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as u64)
}

impl<T> Half<T> {
    fn new(state: T) -> Half<T> {
        Half {
            state: Mutex::new(state),
            viewer: AtomicU64::new(0),
        }
    }

    /// The state back out (tests that lend it to a ring view for a while).
    #[cfg(test)]
    pub(crate) fn into_inner(self) -> T {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// The state for a sync; None if this very thread holds a view of the ring.
    pub(crate) fn lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => {
                if self.viewer.load(Relaxed) == thread_token() {
                    None
                } else {
                    Some(self.state.lock().unwrap_or_else(|p| p.into_inner()))
                }
            }
        }
    }

    /// The state for a Rust ring view; None if this thread already holds a view of the ring.
    pub(crate) fn lock_view(&self) -> Option<ViewGuard<'_, T>> {
        let guard = self.lock()?;
        self.viewer.store(thread_token(), Relaxed);
        Some(ViewGuard {
            guard,
            viewer: &self.viewer,
        })
    }
}

/// A held ring half for a Rust view; forgets the viewing thread when dropped.
pub(crate) struct ViewGuard<'a, T> {
    guard: MutexGuard<'a, T>,
    viewer: &'a AtomicU64,
}

impl<T> std::ops::Deref for ViewGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> Drop for ViewGuard<'_, T> {
    fn drop(&mut self) {
        self.viewer.store(0, Relaxed);
    }
}

/// One queue: its socket, its two rings and counters.
pub struct QueueCtx {
    /// Which queue.
    pub key: QueueKey,
    /// How its socket is bound.
    pub mode: BindMode,
    /// Its socket is multi-buffer: frames longer than a buffer travel as slot chains.
    pub multi_buffer: bool,
    /// Its counters.
    pub counters: QueueCounters,
    /// The TX ring's sync state, behind its own lock.
    pub(crate) tx: Half<TxState>,
    /// The RX ring's sync state, behind its own lock.
    pub(crate) rx: Half<RxState>,
    /// The AF_XDP RX ring's indices, readable without that lock (see [`QueueCtx::rx_waiting`]).
    rx_peek: RingPeek,
    /// The netmap RX ring, and its `hwcur` as the last sync left it (see [`QueueCtx::rx_idle`]).
    rx_ring: SharedRing,
    rx_hwcur: std::sync::atomic::AtomicU32,
    /// Region offset of the netmap TX ring object.
    pub(crate) tx_ring_off: u64,
    /// Region offset of the netmap RX ring object.
    pub(crate) rx_ring_off: u64,
    /// Bytes of the TX and RX ring objects, to give their pages back when the queue closes.
    pub(crate) ring_bytes: (u64, u64),
    tx_slots: u32,
    rx_slots: u32,
    fd_raw: RawFd,
    // The rings in tx/rx must be unmapped before the socket closes.
    _fd: OwnedFd,
    // Last: other processes may take the queue once our socket is gone.
    _hold: crate::shared::QueueHold,
}

/// Most buffers one multi-buffer frame may take on transmit: netmap's limit
/// ([`crate::abi::NETMAP_MAX_FRAGS`]), and in copy mode the kernel's, one more than the
/// `net.core.max_skb_frags` sysctl (17 by default; docs/architecture.md, "Jumbo frames").
/// Read once per process.
pub fn max_frags() -> u32 {
    static MAX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let skb = std::fs::read_to_string("/proc/sys/net/core/max_skb_frags")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(17);
        (skb + 1).min(crate::abi::NETMAP_MAX_FRAGS)
    })
}

/// Bytes of a ring object with `slots` slots.
pub(crate) fn ring_bytes(slots: u32) -> u64 {
    256 + 16 * slots as u64
}

/// Buffers one queue takes from the pool: one per TX slot, and twice the RX slots (the RX ring's
/// slots and as many again waiting in the fill ring, so the kernel never starves while the
/// application holds a full ring).
pub const fn queue_buffers(tx_slots: u32, rx_slots: u32) -> u32 {
    tx_slots + 2 * rx_slots
}

/// Initialises a ring object's header and slots, each slot with its own buffer.
fn init_ring(
    region: &Region,
    off: u64,
    slots: u32,
    ringid: u16,
    dir: u16,
    bufs: &[u32],
) -> SharedRing {
    let ring = region
        .ring_at(off, slots)
        .expect("the engine allocates ring objects in the ring pool");
    let l = &region.layout;
    let tail = if dir == 0 { slots - 1 } else { 0 };
    ring.init_header(
        l.buf_pool_offset as i64 - off as i64,
        l.buf_size,
        ringid,
        dir,
        tail,
    );
    for (i, &b) in bufs.iter().enumerate() {
        ring.set_slot(
            i as u32,
            crate::abi::netmap_slot {
                buf_idx: b,
                len: l.buf_size as u16,
                flags: 0,
                ptr: 0,
            },
        );
    }
    ring
}

/// What a new queue needs.
pub(crate) struct QueueSetup {
    /// The queue being created.
    pub key: QueueKey,
    /// Slots of its netmap TX ring.
    pub tx_slots: u32,
    /// Slots of its netmap RX ring.
    pub rx_slots: u32,
    /// Region offset of the TX ring object, allocated by the caller.
    pub tx_ring_off: u64,
    /// Region offset of the RX ring object, allocated by the caller.
    pub rx_ring_off: u64,
    /// `tx_slots` buffers the application owns, one per TX slot.
    pub tx_bufs: Vec<u32>,
    /// `2 * rx_slots` buffers: the first `rx_slots` are placed in the RX slots, and all of them
    /// start in the fill ring.
    pub rx_bufs: Vec<u32>,
}

impl QueueCtx {
    /// Builds the queue over a bound socket; posts every RX buffer to the fill ring.
    pub(crate) fn new(
        region: &'static Region,
        s: QueueSetup,
        parts: XskParts,
        mut hold: crate::shared::QueueHold,
        ifname: &str,
    ) -> Result<QueueCtx> {
        hold.record(parts.fd.as_raw_fd(), ifname);
        let XskParts {
            rx,
            tx,
            fill,
            comp,
            mode,
            multi_buffer,
            fd,
        } = parts;
        let q = s.key.queue as u16;
        let txr = init_ring(region, s.tx_ring_off, s.tx_slots, q, 0, &s.tx_bufs);
        let rxr = init_ring(
            region,
            s.rx_ring_off,
            s.rx_slots,
            q,
            1,
            &s.rx_bufs[..s.rx_slots as usize],
        );
        // The RX side owns 2 * rx_slots buffers, all starting in the fill ring.
        let raw = fd.as_raw_fd();
        let rx_peek = rx.peek(&fill);
        Ok(QueueCtx {
            key: s.key,
            mode,
            multi_buffer,
            counters: QueueCounters::default(),
            tx: Half::new(TxState::new(
                txr,
                tx,
                comp,
                Doorbell::Socket(raw),
                region,
                if multi_buffer { max_frags() } else { 1 },
            )),
            rx: Half::new(RxState::new(
                rxr,
                rx,
                fill,
                Doorbell::Socket(raw),
                region,
                &s.rx_bufs,
                multi_buffer,
            )),
            rx_peek,
            rx_ring: rxr,
            rx_hwcur: std::sync::atomic::AtomicU32::new(0),
            tx_ring_off: s.tx_ring_off,
            rx_ring_off: s.rx_ring_off,
            ring_bytes: (ring_bytes(s.tx_slots), ring_bytes(s.rx_slots)),
            tx_slots: s.tx_slots,
            rx_slots: s.rx_slots,
            fd_raw: raw,
            _fd: fd,
            _hold: hold,
        })
    }

    /// The queue's AF_XDP socket.
    pub fn fd(&self) -> RawFd {
        self.fd_raw
    }

    /// Slots of the TX ring.
    pub fn tx_slots(&self) -> u32 {
        self.tx_slots
    }

    /// Slots of the RX ring.
    pub fn rx_slots(&self) -> u32 {
        self.rx_slots
    }

    /// Pushes descriptors still queued in the kernel TX ring and reaps completions.
    pub fn kick(&self) {
        if let Some(mut t) = self.tx.lock() {
            t.flush(&self.counters);
        }
    }

    /// NIOCTXSYNC for this queue's TX ring.
    pub fn txsync(&self) -> SyncStatus {
        match self.tx.lock() {
            Some(mut t) => t.sync(&self.counters),
            None => SyncStatus::Busy,
        }
    }

    /// NIOCRXSYNC for this queue's RX ring.
    pub fn rxsync(&self) -> SyncStatus {
        match self.rx.lock() {
            Some(mut r) => self.rx_synced(r.sync(&self.counters), &r),
            None => SyncStatus::Busy,
        }
    }

    /// Notes where a sync left the ring, for [`QueueCtx::rx_idle`].
    #[inline]
    fn rx_synced(&self, status: SyncStatus, r: &RxState) -> SyncStatus {
        self.rx_hwcur.store(r.hwcur, Relaxed);
        status
    }

    /// Would an rxsync do nothing at all? True when the application has released nothing
    /// since the last sync (`head == cur == hwcur`) and [`QueueCtx::rx_waiting`] is false.
    /// Read without the lock: a sync by another thread meanwhile only makes it say false.
    #[inline]
    pub fn rx_idle(&self) -> bool {
        let hwcur = self.rx_hwcur.load(Relaxed);
        self.rx_ring.head() == hwcur && self.rx_ring.cur() == hwcur && !self.rx_waiting()
    }

    /// poll()'s TX step under one lock: sync unless `only_if_pending` and there is nothing new
    /// to send or complete; returns the sync status (None if skipped) and `cur != tail`.
    pub fn tx_poll_step(&self, only_if_pending: bool) -> (Option<SyncStatus>, bool) {
        let Some(mut t) = self.tx.lock() else {
            return (Some(SyncStatus::Busy), false);
        };
        let status = (!only_if_pending || t.pending()).then(|| t.sync(&self.counters));
        (status, t.ring.cur() != t.ring.tail())
    }

    /// poll()'s RX step under one lock: rxsync, then `cur != tail`.
    pub fn rx_poll_step(&self) -> (SyncStatus, bool) {
        let Some(mut r) = self.rx.lock() else {
            return (SyncStatus::Busy, false);
        };
        let status = self.rx_synced(r.sync(&self.counters), &r);
        (status, r.ring.cur() != r.ring.tail())
    }

    /// Has the kernel put frames in the AF_XDP RX ring that no rxsync has taken yet, or does it
    /// wait for the wakeup a sync gives? No lock and no syscall: a busy-wait loop's cheap test
    /// before it pays for a sync.
    #[inline]
    pub fn rx_waiting(&self) -> bool {
        // SAFETY: the RX ring's mapping belongs to `self.rx`, which lives as long as `self`.
        unsafe { self.rx_peek.waiting() }
    }

    /// Are TX transmissions still pending completion?
    pub fn tx_inflight(&self) -> bool {
        self.tx.lock().is_some_and(|t| t.inflight())
    }

    /// Returns every buffer this queue holds to the pool when it closes. The socket must
    /// already be out of the XSK map.
    pub(crate) fn reclaim_buffers(&self) {
        if let Some(mut t) = self.tx.lock() {
            t.reclaim(&self.counters);
        }
        if let Some(mut r) = self.rx.lock() {
            r.reclaim();
        }
    }
}
