//! One direction of a pipe (netmap's twin rings) and its syncs.
//!
//! The writer's TX ring and the reader's RX ring have the same slots: slot `k` of one is slot
//! `k` of the other. A txsync copies the writer's new slots (buffer index, length, flags) into
//! the reader's ring and publishes them; an rxsync copies back the slots the reader released
//! with a buffer it swapped, and gives the slots back to the writer. Buffers never move; their
//! indices do. The state is plain data (integers and atomics, no pointers): it lives in the
//! region's pipe table, shared by the processes of both ends.
//!
//! Ownership: the buffer of slot `k` is the reader's for slots between the reader's hwcur and
//! the writer's hwcur, the writer's elsewhere. When the ends belong to different user slots of
//! the region, a sync hands each buffer it moves to the other side's slot with one
//! compare-and-swap (App of one slot to App of the other), which fails unless the syncing side
//! owns it: a slot naming a buffer its side does not own stops the sync there (the ring is
//! re-initialised from that slot), so no process can pass on a buffer it does not hold.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::abi::{
    netmap_slot, nm_ring_dist, nm_ring_next, nm_ring_prev, nm_ring_within, NS_BUF_CHANGED,
    NS_MOREFRAG,
};
use crate::queue::SyncStatus;
use crate::region::{give_app, AppMoves, Region};
use crate::shm::SharedRing;

/// A try-lock that skips instead of waiting: netmap skips a ring another thread is syncing.
/// One atomic word holding the holder's user slot + 1, so that the holds of a process that died
/// can be broken.
pub(crate) struct Hold<'a>(&'a AtomicU32);

impl<'a> Hold<'a> {
    #[inline]
    pub(crate) fn try_take(w: &'a AtomicU32, mark: u8) -> Option<Hold<'a>> {
        w.compare_exchange(0, mark as u32, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Hold(w))
    }

    /// Waits up to `patience` for the holder (a sync, or another process attaching or leaving
    /// the other end) to let go; None after that (a view this thread holds itself).
    pub(crate) fn take_within(
        w: &'a AtomicU32,
        mark: u8,
        patience: std::time::Duration,
    ) -> Option<Hold<'a>> {
        if let Some(h) = Hold::try_take(w, mark) {
            return Some(h);
        }
        let until = std::time::Instant::now() + patience;
        loop {
            std::thread::yield_now();
            if let Some(h) = Hold::try_take(w, mark) {
                return Some(h);
            }
            if std::time::Instant::now() > until {
                return None;
            }
        }
    }
}

impl Drop for Hold<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// A value alone on its cache line: each side writes its own lines only, and the lines one
/// side reads are written only when something changes, so idle syncs move no line between CPUs.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One side's private state (the writer's or the reader's), written only by its syncs.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Side {
    /// Held during a sync or a ring view of this side: the holder's user slot + 1.
    pub busy: AtomicU32,
    /// netmap's `nr_hwcur`: the writer's next slot to hand over, the reader's first slot not
    /// released.
    pub hwcur: AtomicU32,
    /// The ring's tail as the last sync exposed it.
    pub tail_seen: AtomicU32,
    /// Frames and bytes handed over (writer only).
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
}

/// The writer's lines of a channel.
#[repr(C)]
#[derive(Default)]
pub(crate) struct WriterSide {
    pub own: Line<Side>,
    /// Slots before this one hold complete frames for the reader (netmap's RX `pipe_tail`).
    pub published: Line<AtomicU32>,
    /// The writer sleeps for room: the reader's next release must signal it.
    pub sleeping: Line<AtomicU32>,
}

/// The reader's lines of a channel.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ReaderSide {
    pub own: Line<Side>,
    /// Where the writer's tail may go: the slot before the first unreleased one (netmap's TX
    /// `pipe_tail`).
    pub released: Line<AtomicU32>,
    /// The reader sleeps for frames: the writer's next publication must signal it.
    pub sleeping: Line<AtomicU32>,
}

/// One direction of a pipe. `slots` and the ring offsets are written once when the pipe is
/// created (under the region's mutex) and only read after.
#[repr(C)]
pub(crate) struct Channel {
    /// Slots of both twin rings.
    pub slots: u32,
    /// Region offsets of the writer's TX ring and the reader's RX ring objects.
    pub tx_ring_off: u64,
    pub rx_ring_off: u64,
    pub w: WriterSide,
    pub r: ReaderSide,
}

impl Channel {
    /// A fresh channel of `n` slots: every slot the writer's, nothing published.
    pub(crate) fn new(n: u32, tx_ring_off: u64, rx_ring_off: u64) -> Channel {
        let ch = Channel {
            slots: n,
            tx_ring_off,
            rx_ring_off,
            w: WriterSide::default(),
            r: ReaderSide::default(),
        };
        ch.w.own.tail_seen.store(n - 1, Ordering::Relaxed);
        ch.r.released.store(n - 1, Ordering::Relaxed);
        ch
    }

    /// Is slot `k` the reader's (between the reader's hwcur and the writer's)?
    pub(crate) fn on_reader(&self, k: u32) -> bool {
        let n = self.slots;
        let from = self.r.own.hwcur.load(Ordering::Acquire);
        let upto = self.w.own.hwcur.load(Ordering::Acquire);
        nm_ring_dist(n, from, k) < nm_ring_dist(n, from, upto)
    }

    /// The busy words of both sides (to break the holds of a dead process).
    pub(crate) fn busy_words(&self) -> [&AtomicU32; 2] {
        [&self.w.own.busy, &self.r.own.busy]
    }
}

/// What a sync needs besides the channel: its twin rings, the ownership table, and who is at
/// each end (user slots), for the hand-over of buffers.
pub(crate) struct SyncCtx<'a> {
    pub t: SharedRing,
    pub r: SharedRing,
    pub owners: &'a [AtomicU8],
    /// The syncing process's user slot.
    pub me: u8,
    /// The other end's holder (user slot + 1, 0: closed).
    pub peer: &'a AtomicU8,
    /// The syncing process's region, whose licence to move buffers out of App
    /// ([`AppMoves`]) a sync that hands buffers to another process holds while it does (None
    /// only where no other thread moves buffers: unit tests on a bare control area, whose
    /// hand-overs compare and swap instead).
    pub region: Option<&'a Region>,
}

impl SyncCtx<'_> {
    /// The user slot buffers go to, when it is another process's.
    #[inline]
    fn hand_to(&self) -> Option<u8> {
        let p = self.peer.load(Ordering::Relaxed);
        (p != 0 && p != self.me + 1).then(|| p - 1)
    }

    /// The buffers' destination ([`SyncCtx::hand_to`]) and, when there is one, the licence to
    /// hand them over, held until the sync ends.
    #[inline]
    fn handing(&self) -> (Option<u8>, Option<AppMoves<'_>>) {
        let to = self.hand_to();
        (to, to.and(self.region).map(|r| r.app_moves()))
    }

    /// Hands buffer `b` from this process's application to user `to`'s; false if it was not
    /// this process's application's.
    #[inline]
    fn give(&self, moves: &Option<AppMoves<'_>>, b: u32, to: u8) -> bool {
        match moves {
            Some(m) => m.give(b, to),
            None => give_app(self.owners, b, self.me, to),
        }
    }
}

/// A fresh twin slot: buffer `b`, the whole buffer as length, no flags.
pub(crate) fn fresh_slot(b: u32, buf_size: u32) -> netmap_slot {
    netmap_slot {
        buf_idx: b,
        len: buf_size.min(u16::MAX as u32) as u16,
        flags: 0,
        ptr: 0,
    }
}

/// NIOCTXSYNC of the writer's TX ring: hands `[hwcur, head)` to the reader (slot copies,
/// `NS_BUF_CHANGED` set on the reader's side), publishes complete frames, and exposes the room
/// the reader gave back. `wake` signals the reader. Returns the status and whether
/// `cur != tail` after it.
pub(crate) fn txsync(ch: &Channel, x: &SyncCtx, wake: impl FnOnce()) -> (SyncStatus, bool) {
    let Some(_hold) = Hold::try_take(&ch.w.own.busy, x.me + 1) else {
        return (SyncStatus::Busy, false);
    };
    let (t, r) = (x.t, x.r);
    let n = ch.slots;
    let hwcur = ch.w.own.hwcur.load(Ordering::Relaxed);
    let seen = ch.w.own.tail_seen.load(Ordering::Relaxed);
    let (mut head, cur) = (t.head(), t.cur());
    let mut status = SyncStatus::Ok;
    if !(nm_ring_within(n, hwcur, head, seen) && nm_ring_within(n, head, cur, seen)) {
        // netmap re-initialises a ring whose head/cur left [hwcur, tail].
        t.set_head_cur(hwcur);
        head = hwcur;
        status = SyncStatus::Reinit;
    }
    let m = nm_ring_dist(n, hwcur, head);
    if m > 0 {
        let (to, moves) = x.handing();
        let (mut k, mut complete_upto, mut frames, mut bytes) = (hwcur, None, 0u64, 0u64);
        for _ in 0..m {
            let mut s = t.slot(k);
            if let Some(p) = to {
                if !x.give(&moves, s.buf_idx, p) {
                    // Not the writer's to give: stop here, the slot stays the writer's.
                    t.set_head_cur(k);
                    status = SyncStatus::Reinit;
                    break;
                }
            }
            if s.flags & NS_BUF_CHANGED != 0 {
                t.set_flags(k, s.flags & !NS_BUF_CHANGED);
            }
            bytes += s.len as u64;
            let last = s.flags & NS_MOREFRAG == 0;
            s.flags |= NS_BUF_CHANGED;
            r.set_slot(k, s);
            k = nm_ring_next(n, k);
            if last {
                complete_upto = Some(k);
                frames += 1;
            }
        }
        ch.w.own.hwcur.store(k, Ordering::Release);
        ch.w.own.frames.fetch_add(frames, Ordering::Relaxed);
        ch.w.own.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(p) = complete_upto {
            // Release: the slot copies (and the frames' bytes) before the new tail.
            ch.w.published.store(p, Ordering::Release);
            wake_if_sleeping(&ch.r.sleeping, wake);
        }
    }
    let tail = ch.r.released.load(Ordering::Acquire);
    t.set_tail(tail);
    ch.w.own.tail_seen.store(tail, Ordering::Relaxed);
    (status, t.cur() != tail)
}

/// NIOCRXSYNC of the reader's RX ring: gives `[hwcur, head)` back to the writer (copying back
/// the slots whose buffer the reader swapped) and exposes what the writer published. `wake`
/// signals the writer. Returns the status and whether `cur != tail` after it.
pub(crate) fn rxsync(ch: &Channel, x: &SyncCtx, wake: impl FnOnce()) -> (SyncStatus, bool) {
    let Some(_hold) = Hold::try_take(&ch.r.own.busy, x.me + 1) else {
        return (SyncStatus::Busy, false);
    };
    let (t, r) = (x.t, x.r);
    let n = ch.slots;
    let hwcur = ch.r.own.hwcur.load(Ordering::Relaxed);
    let seen = ch.r.own.tail_seen.load(Ordering::Relaxed);
    let (mut head, cur) = (r.head(), r.cur());
    let mut status = SyncStatus::Ok;
    if !(nm_ring_within(n, hwcur, head, seen) && nm_ring_within(n, head, cur, seen)) {
        r.set_head_cur(hwcur);
        head = hwcur;
        status = SyncStatus::Reinit;
    }
    if head != hwcur {
        let (to, moves) = x.handing();
        let mut k = hwcur;
        while k != head {
            let b = r.buf_idx(k);
            if let Some(p) = to {
                if !x.give(&moves, b, p) {
                    r.set_head_cur(k);
                    status = SyncStatus::Reinit;
                    break;
                }
            }
            // A swapped buffer goes back to the writer's twin slot (with or without
            // NS_BUF_CHANGED: an index that differs is a swap either way).
            if b != t.buf_idx(k) {
                let mut s = r.slot(k);
                s.flags |= NS_BUF_CHANGED;
                t.set_slot(k, s);
            }
            k = nm_ring_next(n, k);
        }
        if k != hwcur {
            ch.r.own.hwcur.store(k, Ordering::Release);
            // Release: the copied-back slots before the room they free.
            ch.r.released.store(nm_ring_prev(n, k), Ordering::Release);
            wake_if_sleeping(&ch.w.sleeping, wake);
        }
    }
    let tail = ch.w.published.load(Ordering::Acquire);
    r.set_tail(tail);
    ch.r.own.tail_seen.store(tail, Ordering::Relaxed);
    (status, r.cur() != tail)
}

/// Signals the other side if it said it sleeps. The fence pairs with the one in
/// `PipeEnd::arm`: either the sleeper sees what was just published, or this sees its flag.
#[inline]
fn wake_if_sleeping(sleeping: &AtomicU32, wake: impl FnOnce()) {
    fence(Ordering::SeqCst);
    if sleeping.load(Ordering::Relaxed) != 0 && sleeping.swap(0, Ordering::AcqRel) != 0 {
        wake();
    }
}
