//! One NIC queue as netmap sees it: a TX and an RX netmap ring backed by one AF_XDP socket, and
//! the txsync/rxsync that move slots between them (design.md "Data path", netmap-abi.md 7).
//!
//! Rings are shared by every port of the process bound to the queue, as netmap shares them
//! between file descriptors. The TX and RX halves have their own locks, taken once per sync.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use crate::abi::{netmap_ring, netmap_slot, NS_BUF_CHANGED, NS_MOREFRAG, NS_REPORT};
use crate::error::Result;
use crate::region::{Layout, Owner, Region};
use crate::sys::{xdp_desc, XDP_PACKET_HEADROOM};
use crate::xsk::{kick_rx, kick_tx, BindMode, ConsRing, ProdRing, XskParts};

/// Identity of a queue: network namespace (inode), interface index, queue number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueKey {
    pub netns: u64,
    pub ifindex: u32,
    pub queue: u32,
}

/// Counters of one queue, readable while traffic flows.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// TX slots skipped because their buf_idx or len was invalid (never sent).
    pub tx_bad_slots: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    /// Released RX slots whose buf_idx was invalid (replaced from the pool, or lost if empty).
    pub rx_bad_slots: AtomicU64,
    /// Bytes nmxdp itself copied (0 on the zero-copy path).
    pub copied_bytes: AtomicU64,
    /// Times a ring was re-initialised because the app broke head/cur.
    pub ring_reinits: AtomicU64,
    /// Kicks (sendto) issued.
    pub tx_kicks: AtomicU64,
}

/// Snapshot of [`QueueCounters`] (summed over a port's queues by [`crate::Port::stats`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_bad_slots: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_bad_slots: u64,
    pub copied_bytes: u64,
    pub ring_reinits: u64,
    pub tx_kicks: u64,
}

impl PortStats {
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
    }
}

/// Outcome of one sync of one ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    Ok,
    /// head/cur were out of range: the ring was re-initialised (poll reports POLLERR).
    Reinit,
    /// The device went away or down (poll reports POLLERR).
    DeviceError,
}

const NOT_POSTED: u32 = u32::MAX;

#[inline]
fn next(i: u32, n: u32) -> u32 {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

/// Distance from `from` forward to `to` on a ring of `n` slots.
#[inline]
fn dist(from: u32, to: u32, n: u32) -> u32 {
    if to >= from {
        to - from
    } else {
        to + n - from
    }
}

/// Is `x` within the cyclic interval `[lo, hi]`?
#[inline]
fn within(lo: u32, x: u32, hi: u32, n: u32) -> bool {
    x < n && dist(lo, x, n) <= dist(lo, hi, n)
}

/// A netmap ring object in the region, accessed through its raw address.
#[derive(Clone, Copy)]
pub(crate) struct RingPtr(pub *mut netmap_ring);

// SAFETY: the ring object lives in the process-lifetime region; its users serialise access.
unsafe impl Send for RingPtr {}

impl RingPtr {
    #[inline]
    fn slot(self, i: u32) -> *mut netmap_slot {
        // SAFETY: callers pass i < num_slots; slots follow the 256-byte header.
        unsafe { crate::abi::slot_ptr(self.0, i) }
    }
    #[inline]
    fn head(self) -> u32 {
        // SAFETY: the header is in the mapping; the app may write it concurrently, hence volatile.
        unsafe { std::ptr::addr_of!((*self.0).head).read_volatile() }
    }
    #[inline]
    fn cur(self) -> u32 {
        // SAFETY: as for head.
        unsafe { std::ptr::addr_of!((*self.0).cur).read_volatile() }
    }
    #[inline]
    fn tail(self) -> u32 {
        // SAFETY: as for head.
        unsafe { std::ptr::addr_of!((*self.0).tail).read_volatile() }
    }
    #[inline]
    fn set_tail(self, v: u32) {
        // SAFETY: as for head.
        unsafe { std::ptr::addr_of_mut!((*self.0).tail).write_volatile(v) }
    }
    fn set_head_cur(self, v: u32) {
        // SAFETY: as for head.
        unsafe {
            std::ptr::addr_of_mut!((*self.0).head).write_volatile(v);
            std::ptr::addr_of_mut!((*self.0).cur).write_volatile(v);
        }
    }

    /// netmap_ring_reinit(): sanitise slots; reset head/cur/tail only when out of range.
    fn reinit(self, hwcur: u32, hwtail: u32, n: u32, layout: &Layout) {
        if self.head() >= n || self.cur() >= n || self.tail() >= n {
            self.set_head_cur(hwcur);
        }
        self.set_tail(hwtail);
        for i in 0..n {
            // SAFETY: i < n.
            let s = unsafe { &mut *self.slot(i) };
            if s.buf_idx < 2 || s.buf_idx >= layout.buf_num {
                s.buf_idx = 0;
                s.len = 0;
            } else if s.len as u32 > layout.buf_size {
                s.len = 0;
            }
        }
    }
}

/// Kernel-side state of one netmap TX ring.
pub(crate) struct TxState {
    pub ring: RingPtr,
    n: u32,
    /// Next slot to hand to the kernel (netmap's hwcur).
    hwcur: u32,
    /// First slot whose transmission has not completed; the ring's tail is the slot before it.
    done_upto: u32,
    /// Buffer posted for each slot, kept privately so an app rewriting a kernel-owned slot
    /// cannot confuse completion accounting.
    posted: Vec<u32>,
    /// Completions seen per buffer and not yet matched to a slot (completions may come out of
    /// order in copy mode on real NICs).
    completed: Vec<u8>,
    xtx: ProdRing<xdp_desc>,
    comp: ConsRing<u64>,
    layout: Layout,
    region: &'static Region,
}

/// Kernel-side state of one netmap RX ring.
pub(crate) struct RxState {
    pub ring: RingPtr,
    n: u32,
    hwcur: u32,
    hwtail: u32,
    xrx: ConsRing<xdp_desc>,
    fill: ProdRing<u64>,
    layout: Layout,
    region: &'static Region,
}

/// One queue: its socket, its two rings and counters.
pub struct QueueCtx {
    pub key: QueueKey,
    pub mode: BindMode,
    pub counters: QueueCounters,
    pub(crate) tx: Mutex<TxState>,
    pub(crate) rx: Mutex<RxState>,
    pub(crate) tx_ring_off: u64,
    pub(crate) rx_ring_off: u64,
    pub(crate) ring_bytes: (u64, u64),
    fd_raw: RawFd,
    // The rings in tx/rx must be unmapped before the socket closes.
    _fd: OwnedFd,
    // Last: other processes may take the queue once our socket is gone.
    _hold: crate::shared::QueueHold,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bytes of a ring object with `slots` slots.
pub(crate) fn ring_bytes(slots: u32) -> u64 {
    256 + 16 * slots as u64
}

/// Initialises a ring object's header and slots, each slot with its own buffer.
fn init_ring(
    region: &Region,
    off: u64,
    slots: u32,
    ringid: u16,
    dir: u16,
    bufs: &[u32],
) -> RingPtr {
    let ring = region.at(off).cast::<netmap_ring>();
    let l = &region.layout;
    // SAFETY: the ring object was just allocated (zeroed) in the ring pool, with room for `slots`.
    unsafe {
        let r = &mut *ring;
        r.buf_ofs = l.buf_pool_offset as i64 - off as i64;
        r.num_slots = slots;
        r.nr_buf_size = l.buf_size;
        r.ringid = ringid;
        r.dir = dir;
        r.head = 0;
        r.cur = 0;
        r.tail = if dir == 0 { slots - 1 } else { 0 };
        for (i, &b) in bufs.iter().enumerate() {
            let s = &mut *crate::abi::slot_ptr(ring, i as u32);
            s.buf_idx = b;
            s.len = l.buf_size as u16;
            s.flags = 0;
            s.ptr = 0;
        }
    }
    RingPtr(ring)
}

/// What a new queue needs.
pub(crate) struct QueueSetup {
    pub key: QueueKey,
    pub tx_slots: u32,
    pub rx_slots: u32,
    pub tx_ring_off: u64,
    pub rx_ring_off: u64,
    pub tx_bufs: Vec<u32>,
    pub rx_bufs: Vec<u32>,
}

impl QueueCtx {
    /// Builds the queue over a bound socket; posts every RX slot's buffer to the fill ring.
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
            mut fill,
            comp,
            mode,
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
        // The RX side owns 2 * rx_slots buffers, all starting in the fill ring. Slots the kernel
        // owns carry stale indices that rxsync overwrites when a packet lands.
        debug_assert!(fill.free(s.rx_bufs.len() as u32) >= s.rx_bufs.len() as u32);
        for (i, &b) in s.rx_bufs.iter().enumerate() {
            region.transfer(b, Owner::App, Owner::KernelRx);
            fill.write(i as u32, b as u64 * region.layout.buf_size as u64);
        }
        fill.submit(s.rx_bufs.len() as u32);
        let layout = region.layout;
        Ok(QueueCtx {
            key: s.key,
            mode,
            counters: QueueCounters::default(),
            tx: Mutex::new(TxState {
                ring: txr,
                n: s.tx_slots,
                hwcur: 0,
                done_upto: 0,
                posted: vec![NOT_POSTED; s.tx_slots as usize],
                completed: vec![0; layout.buf_num as usize],
                xtx: tx,
                comp,
                layout,
                region,
            }),
            rx: Mutex::new(RxState {
                ring: rxr,
                n: s.rx_slots,
                hwcur: 0,
                hwtail: 0,
                xrx: rx,
                fill,
                layout,
                region,
            }),
            tx_ring_off: s.tx_ring_off,
            rx_ring_off: s.rx_ring_off,
            ring_bytes: (ring_bytes(s.tx_slots), ring_bytes(s.rx_slots)),
            fd_raw: fd.as_raw_fd(),
            _fd: fd,
            _hold: hold,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd_raw
    }

    pub fn tx_slots(&self) -> u32 {
        lock(&self.tx).n
    }

    pub fn rx_slots(&self) -> u32 {
        lock(&self.rx).n
    }

    /// Pushes descriptors still queued in the kernel TX ring and reaps completions.
    pub fn kick(&self) {
        let mut t = lock(&self.tx);
        if t.xtx.outstanding() > 0 {
            t.kick(self.fd_raw, &self.counters);
        }
        t.reap(&self.counters);
    }

    /// NIOCTXSYNC for this queue's TX ring.
    pub fn txsync(&self) -> SyncStatus {
        lock(&self.tx).sync(self.fd_raw, &self.counters)
    }

    /// NIOCRXSYNC for this queue's RX ring.
    pub fn rxsync(&self) -> SyncStatus {
        lock(&self.rx).sync(self.fd_raw, &self.counters)
    }

    /// poll()'s TX step under one lock: sync unless `only_if_pending` and there is nothing new
    /// to send or complete; returns the sync status (None if skipped) and `cur != tail`.
    pub fn tx_poll_step(&self, only_if_pending: bool) -> (Option<SyncStatus>, bool) {
        let mut t = lock(&self.tx);
        let pending = t.ring.head() != t.hwcur || t.done_upto != t.hwcur;
        let status = (!only_if_pending || pending).then(|| t.sync(self.fd_raw, &self.counters));
        (status, t.ring.cur() != t.ring.tail())
    }

    /// poll()'s RX step under one lock: rxsync, then `cur != tail`.
    pub fn rx_poll_step(&self) -> (SyncStatus, bool) {
        let mut r = lock(&self.rx);
        let status = r.sync(self.fd_raw, &self.counters);
        (status, r.ring.cur() != r.ring.tail())
    }

    /// Are TX transmissions still pending completion?
    pub fn tx_inflight(&self) -> bool {
        let t = lock(&self.tx);
        t.done_upto != t.hwcur
    }

    /// Returns every buffer this queue holds to the pool when it closes. The socket must
    /// already be out of the XSK map. Only buffers still owned as expected are freed, so
    /// indices a hostile app left in its slots cannot free someone else's buffer.
    pub(crate) fn reclaim_buffers(&self, region: &Region) {
        {
            let mut t = lock(&self.tx);
            // Let in-flight frames complete (synchronous on veth; bounded on real NICs).
            for _ in 0..100 {
                t.reap(&self.counters);
                if t.done_upto == t.hwcur {
                    break;
                }
                kick_tx(self.fd_raw);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let (n, mut i) = (t.n, t.done_upto);
            let mut inflight = Vec::new();
            while i != t.hwcur {
                inflight.push(t.posted[i as usize]);
                i = next(i, n);
            }
            region.free_bufs_from(inflight, Owner::KernelTx);
            // SAFETY: every i < n.
            region.free_bufs((0..n).map(|i| unsafe { (*t.ring.slot(i)).buf_idx }));
        }
        let mut r = lock(&self.rx);
        let (n, hwcur, hwtail) = (r.n, r.hwcur, r.hwtail);
        let mut user = Vec::new();
        let mut i = hwcur;
        while i != hwtail {
            // SAFETY: i < n.
            user.push(unsafe { (*r.ring.slot(i)).buf_idx });
            i = next(i, n);
        }
        region.free_bufs(user);
        let bs = r.layout.buf_size as u64;
        let mut kernel: Vec<u32> = r
            .fill
            .pending_entries()
            .into_iter()
            .map(|a| (a / bs) as u32)
            .collect();
        let avail = r.xrx.available(u32::MAX);
        for k in 0..avail {
            kernel.push((r.xrx.read(k).addr / bs) as u32);
        }
        r.xrx.release(avail);
        region.free_bufs_from(kernel, Owner::KernelRx);
    }
}

impl TxState {
    fn sync(&mut self, fd: RawFd, c: &QueueCounters) -> SyncStatus {
        let n = self.n;
        let head = self.ring.head();
        let cur = self.ring.cur();
        let hwtail = if self.done_upto == 0 {
            n - 1
        } else {
            self.done_upto - 1
        };
        // netmap's TX prologue: head in [hwcur, tail], cur in [head, tail] (netmap-abi.md 7.3).
        if !within(self.hwcur, head, hwtail, n) || !within(head, cur, hwtail, n) {
            c.ring_reinits.fetch_add(1, Relaxed);
            self.ring.reinit(self.hwcur, hwtail, n, &self.layout);
            return SyncStatus::Reinit;
        }
        let mut status = SyncStatus::Ok;
        let todo = dist(self.hwcur, head, n);
        if todo > 0 {
            self.post(head, todo, c);
        }
        if self.xtx.outstanding() > 0 && self.xtx.needs_wakeup() && !self.kick(fd, c) {
            status = SyncStatus::DeviceError;
        }
        self.reap(c);
        let tail = if self.done_upto == 0 {
            n - 1
        } else {
            self.done_upto - 1
        };
        self.ring.set_tail(tail);
        status
    }

    /// Turns slots [hwcur, head) into TX descriptors, each with the slot's current buffer.
    fn post(&mut self, head: u32, todo: u32, c: &QueueCounters) {
        let n = self.n;
        let max_len = self.layout.max_frame();
        let free = self.xtx.free(todo);
        debug_assert!(free >= todo, "TX ring sized to hold every netmap slot");
        let (mut written, mut bytes, mut bad) = (0u32, 0u64, 0u64);
        let mut i = self.hwcur;
        while i != head {
            // SAFETY: i < n; the slot lies in the ring object.
            let s = unsafe { &mut *self.ring.slot(i) };
            let (idx, len) = (s.buf_idx, s.len as u32);
            let ok = len != 0
                && len <= max_len
                && s.flags & NS_MOREFRAG == 0
                && written < free
                && self.region.transfer(idx, Owner::App, Owner::KernelTx);
            if ok {
                self.xtx.write(
                    written,
                    xdp_desc {
                        addr: self.layout.buf_addr(idx),
                        len,
                        options: 0,
                    },
                );
                written += 1;
                bytes += len as u64;
                self.posted[i as usize] = idx;
            } else {
                bad += 1;
                self.posted[i as usize] = NOT_POSTED;
            }
            s.flags &= !(NS_BUF_CHANGED | NS_REPORT);
            i = next(i, n);
        }
        self.xtx.submit(written);
        self.hwcur = head;
        c.tx_packets.fetch_add(written as u64, Relaxed);
        c.tx_bytes.fetch_add(bytes, Relaxed);
        if bad > 0 {
            c.tx_bad_slots.fetch_add(bad, Relaxed);
        }
    }

    /// sendto until the kernel has taken every descriptor or the budget is spent.
    /// Returns false when the device is gone or down.
    fn kick(&mut self, fd: RawFd, c: &QueueCounters) -> bool {
        for _ in 0..64 {
            c.tx_kicks.fetch_add(1, Relaxed);
            match kick_tx(fd) {
                0 | libc::EBUSY => {}
                libc::EAGAIN | libc::ENOBUFS => self.reap(c),
                libc::ENETDOWN | libc::ENXIO | libc::ENODEV => return false,
                _ => return true,
            }
            if self.xtx.outstanding() == 0 {
                break;
            }
        }
        true
    }

    /// Matches completions to posted slots, in slot order, and advances `done_upto`.
    fn reap(&mut self, _c: &QueueCounters) {
        let got = self.comp.available(u32::MAX);
        let n = self.n;
        let shift = self.layout.buf_size.trailing_zeros();
        for k in 0..got {
            let idx = (self.comp.read(k) >> shift) as u32;
            // Fast path: completions in submission order (zero-copy always, veth in practice)
            // retire the oldest posted slot directly.
            self.skip_unposted();
            if self.done_upto != self.hwcur && self.posted[self.done_upto as usize] == idx {
                self.region.transfer(idx, Owner::KernelTx, Owner::App);
                self.done_upto = next(self.done_upto, n);
            } else if let Some(cnt) = self.completed.get_mut(idx as usize) {
                *cnt = cnt.saturating_add(1);
            }
        }
        if got > 0 {
            self.comp.release(got);
        }
        // Out-of-order completions parked above.
        while self.done_upto != self.hwcur {
            let p = self.posted[self.done_upto as usize];
            if p != NOT_POSTED {
                let cnt = &mut self.completed[p as usize];
                if *cnt == 0 {
                    break;
                }
                *cnt -= 1;
                self.region.transfer(p, Owner::KernelTx, Owner::App);
            }
            self.done_upto = next(self.done_upto, n);
        }
    }

    /// Slots skipped as bad were never posted: they complete at once.
    #[inline]
    fn skip_unposted(&mut self) {
        while self.done_upto != self.hwcur && self.posted[self.done_upto as usize] == NOT_POSTED {
            self.done_upto = next(self.done_upto, self.n);
        }
    }
}

impl RxState {
    fn sync(&mut self, fd: RawFd, c: &QueueCounters) -> SyncStatus {
        let n = self.n;
        let mut status = SyncStatus::Ok;
        let mut head = self.ring.head();
        let cur = self.ring.cur();
        // netmap's RX prologue: head in [hwcur, hwtail], cur in [head, hwtail].
        if !within(self.hwcur, head, self.hwtail, n) || !within(head, cur, self.hwtail, n) {
            c.ring_reinits.fetch_add(1, Relaxed);
            self.ring.reinit(self.hwcur, self.hwtail, n, &self.layout);
            status = SyncStatus::Reinit;
            head = self.ring.head();
            if !within(self.hwcur, head, self.hwtail, n) {
                head = self.hwcur;
            }
        }
        let released = dist(self.hwcur, head, n);
        if released > 0 {
            self.release(head, released, c);
        }
        self.receive(c);
        if self.fill.needs_wakeup() {
            kick_rx(fd);
        }
        status
    }

    /// Gives slots [hwcur, head) back to the kernel through the fill ring, with their current
    /// buffers (the app may have swapped them).
    fn release(&mut self, head: u32, count: u32, c: &QueueCounters) {
        let n = self.n;
        let free = self.fill.free(count);
        let bs = self.layout.buf_size as u64;
        let (mut written, mut bad) = (0u32, 0u64);
        let mut i = self.hwcur;
        while i != head && written < free {
            // SAFETY: i < n.
            let s = unsafe { &mut *self.ring.slot(i) };
            let mut idx = s.buf_idx;
            if !self.region.transfer(idx, Owner::App, Owner::KernelRx) {
                // Not a buffer the app owns (broken index, or one the kernel or another slot
                // has): never hand it to the kernel; keep the queue's count with a fresh one.
                bad += 1;
                idx = self.region.alloc_bufs_upto(1).pop().unwrap_or(0);
                if idx != 0 {
                    self.region.transfer(idx, Owner::App, Owner::KernelRx);
                }
                s.buf_idx = idx;
            }
            if idx != 0 {
                self.fill.write(written, idx as u64 * bs);
                written += 1;
            }
            s.flags &= !NS_BUF_CHANGED;
            i = next(i, n);
        }
        self.fill.submit(written);
        self.hwcur = i;
        if bad > 0 {
            c.rx_bad_slots.fetch_add(bad, Relaxed);
        }
    }

    /// Moves received descriptors into slots at tail (netmap-abi.md 7.2).
    fn receive(&mut self, c: &QueueCounters) {
        let n = self.n;
        let room = dist(
            self.hwtail,
            if self.hwcur == 0 {
                n - 1
            } else {
                self.hwcur - 1
            },
            n,
        );
        let got = self.xrx.available(room);
        if got == 0 {
            self.ring.set_tail(self.hwtail);
            return;
        }
        let bs = self.layout.buf_size as u64;
        let shift = self.layout.buf_size.trailing_zeros();
        let mut bytes = 0u64;
        let mut tail = self.hwtail;
        for k in 0..got {
            let d = self.xrx.read(k);
            let chunk = d.addr & !(bs - 1);
            let idx = (chunk >> shift) as u32;
            let off = d.addr - chunk;
            if off != XDP_PACKET_HEADROOM {
                // Only an XDP head adjustment moves the data; netmap wants it at offset 0.
                let base = self.region.umem();
                // SAFETY: both ranges lie within chunk `idx` of the UMEM (len <= chunk - off).
                unsafe {
                    std::ptr::copy(
                        base.add(d.addr as usize),
                        base.add((chunk + XDP_PACKET_HEADROOM) as usize),
                        d.len as usize,
                    )
                };
                c.copied_bytes.fetch_add(d.len as u64, Relaxed);
            }
            self.region.transfer(idx, Owner::KernelRx, Owner::App);
            // SAFETY: tail < n.
            let s = unsafe { &mut *self.ring.slot(tail) };
            s.flags = if s.buf_idx != idx { NS_BUF_CHANGED } else { 0 };
            s.buf_idx = idx;
            s.len = d.len as u16;
            bytes += d.len as u64;
            tail = next(tail, n);
        }
        self.xrx.release(got);
        self.hwtail = tail;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec (a vDSO call, no syscall).
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        // SAFETY: the header is in the mapping.
        unsafe {
            (*self.ring.0).ts = libc::timeval {
                tv_sec: ts.tv_sec,
                tv_usec: ts.tv_nsec / 1000,
            }
        };
        self.ring.set_tail(tail);
        c.rx_packets.fetch_add(got as u64, Relaxed);
        c.rx_bytes.fetch_add(bytes, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclic_helpers() {
        assert_eq!(dist(5, 2, 8), 5);
        assert!(within(6, 1, 2, 8));
        assert!(!within(6, 3, 2, 8));
        assert!(!within(0, 9, 2, 8));
        assert_eq!(next(7, 8), 0);
    }
}
