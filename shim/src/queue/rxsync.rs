//! netmap's rxsync over an AF_XDP RX ring and its fill ring (docs/architecture.md, "RX path").

use std::sync::atomic::Ordering::Relaxed;

use crate::abi::{
    nm_ring_add, nm_ring_dist, nm_ring_next, nm_ring_prev, nm_ring_within, NS_BUF_CHANGED,
    NS_MOREFRAG,
};
use crate::region::{Layout, Mover, Owner, Region};
use crate::shm::{SharedRing, SlotRef};
use crate::sys::{xdp_desc, XDP_PACKET_HEADROOM, XDP_PKT_CONTD};
use crate::xsk::{ConsRing, ProdRing};

use super::{bump, reinit, Doorbell, QueueCounters, SyncStatus};

/// Frames of a sync whose first data line is prefetched for the application
/// (docs/architecture.md, "Prefetching").
const PREFETCH_FRAMES: u32 = 4;

/// Kernel-side state of one netmap RX ring.
pub(crate) struct RxState {
    pub(crate) ring: SharedRing,
    pub(super) n: u32,
    /// First slot the app has not released yet.
    pub(super) hwcur: u32,
    /// Next slot a received frame goes to.
    pub(super) hwtail: u32,
    xrx: ConsRing<xdp_desc>,
    fill: ProdRing<u64>,
    bell: Doorbell,
    layout: Layout,
    region: &'static Region,
    /// The socket is multi-buffer: a frame may arrive as a chain of descriptors, which becomes
    /// a chain of slots (`NS_MOREFRAG` on all but the last).
    chains: bool,
}

impl RxState {
    /// State of a freshly initialised ring; `bufs` (the app's, at least `num_slots`) all go to
    /// the fill ring. Slots the kernel owns carry stale indices that a receive overwrites.
    pub(crate) fn new(
        ring: SharedRing,
        xrx: ConsRing<xdp_desc>,
        mut fill: ProdRing<u64>,
        bell: Doorbell,
        region: &'static Region,
        bufs: &[u32],
        chains: bool,
    ) -> RxState {
        let count = bufs.len() as u32;
        let room = fill.free(count).min(count);
        let bs = region.layout.buf_size as u64;
        let mut posted = 0;
        let mut left = Vec::new();
        let moves = region.app_moves();
        for &b in bufs {
            if posted < room && moves.take(b, Owner::KernelRx) {
                fill.write(posted, b as u64 * bs);
                posted += 1;
            } else {
                left.push(b);
            }
        }
        fill.submit(posted);
        drop(moves);
        region.free_bufs(left);
        RxState {
            ring,
            n: ring.num_slots(),
            hwcur: 0,
            hwtail: 0,
            xrx,
            fill,
            bell,
            layout: region.layout,
            region,
            chains,
        }
    }

    /// `[hwcur, hwtail)`: the slots the application owns (received, not yet given back).
    #[inline]
    pub(crate) fn app_span(&self) -> (u32, u32) {
        (self.hwcur, self.hwtail)
    }

    /// NIOCRXSYNC: give `[hwcur, head)` back through the fill ring, then receive at `tail`.
    pub(crate) fn sync(&mut self, c: &QueueCounters) -> SyncStatus {
        let n = self.n;
        let mut status = SyncStatus::Ok;
        let mut head = self.ring.head();
        let cur = self.ring.cur();
        // netmap's RX prologue: head in [hwcur, hwtail], cur in [head, hwtail].
        if !nm_ring_within(n, self.hwcur, head, self.hwtail)
            || !nm_ring_within(n, head, cur, self.hwtail)
        {
            c.ring_reinits.fetch_add(1, Relaxed);
            reinit(self.ring, self.hwcur, self.hwtail, &self.layout);
            status = SyncStatus::Reinit;
            head = self.ring.head();
            if !nm_ring_within(n, self.hwcur, head, self.hwtail) {
                head = self.hwcur;
            }
        }
        let released = nm_ring_dist(n, self.hwcur, head);
        if released > 0 {
            self.release(released, c);
        }
        self.receive(c);
        if self.fill.needs_wakeup() {
            self.bell.rx();
        }
        status
    }

    /// Gives slots [hwcur, head) back to the kernel through the fill ring, with their current
    /// buffers (the app may have swapped them). Never more than the fill ring has room for (it
    /// holds every buffer of the queue); any slots left go back at the next sync.
    fn release(&mut self, count: u32, c: &QueueCounters) {
        let count = count.min(self.fill.free(count));
        let (n, region) = (self.n, self.region);
        // One licence for the whole release: each buffer's move is then a plain load and store.
        let licence = region.app_moves();
        let moves = licence.mover();
        let shift = self.layout.buf_size.trailing_zeros();
        let mut bad = 0u64;
        let mut fill = self.fill.writer();
        let start = fill.pos();
        let (mut from, mut left) = (self.hwcur, count);
        while left > 0 {
            // A run in which neither the slots nor the fill ring wrap: slot j and fill entry j
            // go together. Flags are left alone: the receive that fills the slot again rewrites
            // them whole.
            let entries = fill.run_mut(left.min(n - from));
            let r = entries.len();
            let slots = self.ring.run(from, r);
            let mut m = 0;
            while m < r {
                let idx = slots.get(m).buf_idx();
                if !moves.take(idx, Owner::KernelRx) {
                    break;
                }
                entries[m] = (idx as u64) << shift;
                m += 1;
            }
            let mut used = m as u32;
            if m < r {
                // Slot m of the run is bad: it goes back with a fresh buffer, if any.
                let slot = slots.get(m);
                let idx = replace_bad(region, moves, slot);
                bad += 1;
                if idx != 0 {
                    entries[m] = (idx as u64) << shift;
                    m += 1;
                }
                used += 1;
            }
            fill.skip(m as u32);
            from = nm_ring_add(n, from, used);
            left -= used;
        }
        let written = fill.moved(start);
        self.fill.submit(written);
        self.hwcur = from;
        if bad > 0 {
            c.rx_bad_slots.fetch_add(bad, Relaxed);
        }
    }

    /// Moves received descriptors into slots at tail.
    fn receive(&mut self, c: &QueueCounters) {
        let n = self.n;
        let room = nm_ring_dist(n, self.hwtail, nm_ring_prev(n, self.hwcur));
        let mut got = self.xrx.available(room);
        if self.chains && got > 0 {
            got = self.whole_frames(got, room, c);
        }
        if got == 0 {
            self.ring.set_tail(self.hwtail);
            return;
        }
        let (bytes, frames) = if self.chains {
            self.move_descs::<true>(got, c)
        } else {
            self.move_descs::<false>(got, c)
        };
        self.xrx.release(got);
        self.hwtail = nm_ring_add(n, self.hwtail, got);
        self.ring.set_ts(now());
        self.ring.set_tail(self.hwtail);
        bump(&c.rx_packets, frames);
        bump(&c.rx_bytes, bytes);
        bump(&c.rx_slots, got as u64);
    }

    /// Moves `got` descriptors into the slots from `hwtail`; returns their bytes and the frames
    /// they complete. `CHAINS`: descriptors may carry `XDP_PKT_CONTD`, turned into
    /// `NS_MOREFRAG` (a separate instance, so that single-buffer sockets pay nothing for it).
    #[inline(always)]
    fn move_descs<const CHAINS: bool>(&mut self, got: u32, c: &QueueCounters) -> (u64, u64) {
        let n = self.n;
        let shift = self.layout.buf_size.trailing_zeros();
        let offset_mask = (1u64 << shift) - 1;
        let mut bytes = 0u64;
        let mut continued = 0u64;
        let region = self.region;
        let owners = region.owners();
        // The first frames' data, which the application reads next; a loop of its own, so the
        // descriptor loop below pays nothing for it per frame.
        let umem = region.umem() as *const u8;
        for i in 0..got.min(PREFETCH_FRAMES) {
            crate::prefetch::prefetch(umem.wrapping_add(self.xrx.read(i).addr as usize));
        }
        let mut rx = self.xrx.reader();
        let (mut at, mut left) = (self.hwtail, got);
        while left > 0 {
            // A run in which neither the RX ring nor the slots wrap: descriptor j fills slot j.
            let descs = rx.run(left.min(n - at));
            let r = descs.len();
            let slots = self.ring.run(at, r);
            // One index for both runs (of the same length): the slot run's check folds away.
            #[allow(clippy::needless_range_loop)]
            for j in 0..r {
                let (d, slot) = (descs[j], slots.get(j));
                let idx = (d.addr >> shift) as u32;
                // Only an XDP head adjustment moves the data; netmap wants it at offset 0.
                if d.addr & offset_mask != XDP_PACKET_HEADROOM {
                    pull(region, d, c);
                }
                // A fill buffer of this ring, which the descriptor hands back.
                owners.kernel_to_app(idx);
                let changed = slot.buf_idx() != idx;
                slot.set_buf_idx(idx);
                slot.set_len(d.len as u16);
                let mut flags = if changed { NS_BUF_CHANGED } else { 0 };
                if CHAINS {
                    let more = d.options & XDP_PKT_CONTD;
                    continued += more as u64;
                    flags |= (more as u16) * NS_MOREFRAG;
                }
                slot.set_flags(flags);
                bytes += d.len as u64;
            }
            rx.skip(r as u32);
            at = nm_ring_add(n, at, r as u32);
            left -= r as u32;
        }
        (bytes, got as u64 - continued)
    }

    /// Of the `got` descriptors available (at most `room`), how many end with a whole frame:
    /// a chain the slots cannot take whole yet waits for the app to release slots, so the app
    /// never sees part of a frame. A chain longer than the whole ring can never be taken: it
    /// is dropped (its buffers go back to the fill ring) and counted, and the ring goes on.
    fn whole_frames(&mut self, got: u32, room: u32, c: &QueueCounters) -> u32 {
        if self.xrx.read(got - 1).options & XDP_PKT_CONTD == 0 {
            return got;
        }
        let mut whole = got - 1;
        while whole > 0 && self.xrx.read(whole - 1).options & XDP_PKT_CONTD != 0 {
            whole -= 1;
        }
        if whole == 0 && room == self.n - 1 {
            self.drop_chain(c);
        }
        whole
    }

    /// Drops the chain at the head of the RX ring, longer than the netmap ring can hold,
    /// handing its buffers straight back to the kernel. Only the kernel's part of the chain is
    /// there when its end has not been published: the rest is dropped by the next sync.
    #[cold]
    #[inline(never)]
    fn drop_chain(&mut self, c: &QueueCounters) {
        let avail = self.xrx.available(u32::MAX);
        let mut k = 0;
        while k < avail {
            let d = self.xrx.read(k);
            k += 1;
            if d.options & XDP_PKT_CONTD == 0 {
                break;
            }
        }
        // The fill ring holds every buffer of the queue, so it has room for these.
        let room = self.fill.free(k).min(k);
        let mask = !((1u64 << self.layout.buf_size.trailing_zeros()) - 1);
        for j in 0..room {
            let chunk = self.xrx.read(j).addr & mask;
            self.fill.write(j, chunk);
        }
        self.fill.submit(room);
        self.xrx.release(k);
        c.rx_dropped_chains.fetch_add(1, Relaxed);
    }

    /// Returns every buffer this ring holds to the pool when its queue closes (the socket is
    /// out of the XSK map): the app's slots, and what sits in the fill and RX rings.
    pub(super) fn reclaim(&mut self) {
        let mut user = Vec::new();
        let mut i = self.hwcur;
        while i != self.hwtail {
            user.push(self.ring.buf_idx(i));
            i = nm_ring_next(self.n, i);
        }
        self.region.free_bufs(user);
        let bs = self.layout.buf_size as u64;
        let mut kernel: Vec<u32> = self
            .fill
            .pending_entries()
            .into_iter()
            .map(|a| (a / bs) as u32)
            .collect();
        let avail = self.xrx.available(u32::MAX);
        for k in 0..avail {
            kernel.push((self.xrx.read(k).addr / bs) as u32);
        }
        self.xrx.release(avail);
        self.region.free_bufs_from(kernel, Owner::KernelRx);
    }
}

/// A released slot whose buffer the app does not own (broken index, or one the kernel or
/// another slot has): it never goes to the kernel; the queue keeps its count with a fresh buffer
/// from the pool, put in the slot and returned (0 when the pool is empty). Out of line, off the
/// loop's path.
#[cold]
#[inline(never)]
fn replace_bad(region: &Region, moves: Mover<'_>, slot: SlotRef) -> u32 {
    let idx = region.alloc_bufs_upto(1).pop().unwrap_or(0);
    if idx != 0 {
        moves.take(idx, Owner::KernelRx);
    }
    slot.set_buf_idx(idx);
    idx
}

/// Moves a frame an XDP program moved off the buffer's start back to it, counting the copy.
#[cold]
#[inline(never)]
fn pull(region: &Region, d: xdp_desc, c: &QueueCounters) {
    if region.pull_to_buf_start(d.addr, d.len) {
        c.copied_bytes.fetch_add(d.len as u64, Relaxed);
    }
}

/// Wall-clock time of a receive, for the ring's `ts` (a vDSO call, no syscall).
fn now() -> libc::timeval {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    libc::timeval {
        tv_sec: ts.tv_sec,
        tv_usec: ts.tv_nsec / 1000,
    }
}
