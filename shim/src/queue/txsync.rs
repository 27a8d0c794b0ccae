//! netmap's txsync over an AF_XDP TX ring and its completion ring (docs/architecture.md,
//! "TX path").

use std::sync::atomic::Ordering::Relaxed;

use crate::abi::{nm_ring_add, nm_ring_dist, nm_ring_next, nm_ring_prev, nm_ring_within};
use crate::abi::{NS_BUF_CHANGED, NS_MOREFRAG, NS_REPORT};
use crate::region::{Layout, Mover, Owner, Region};
use crate::shm::{SharedRing, SlotRun};
use crate::sys::{xdp_desc, XDP_PACKET_HEADROOM, XDP_PKT_CONTD};
use crate::xsk::{ConsRing, ProdRing, RingCursor};

use super::{bump, reinit, Doorbell, QueueCounters, SyncStatus};

/// A slot whose buffer was not handed to the kernel (bad index or length).
const NOT_POSTED: u32 = u32::MAX;

/// Slots and chains a post found bad.
#[derive(Default)]
struct Bad {
    slots: u64,
    chains: u64,
}

/// What became of a chain of slots.
enum Chain {
    /// Its last slot is not released yet (or the TX ring cannot take it whole yet): it waits.
    Wait,
    /// Posted as one frame of `len` bytes over `slots` descriptors.
    Sent { slots: u32, len: u64 },
    /// Dropped: too long, or with a slot whose index or length is bad. Its `slots` complete
    /// at once; `unfinished`: its end was not released yet, and the slots up to it are
    /// dropped as they come.
    Dropped { slots: u32, unfinished: bool },
}

/// Drops the slots from `from` (at most `left`) that continue a frame already dropped as too
/// long, up to and including its last slot; returns how many, and whether its end is still
/// to come.
#[cold]
#[inline(never)]
fn drop_rest(ring: SharedRing, posted: &mut [u32], from: u32, left: u32) -> (u32, bool) {
    let n = ring.num_slots();
    for k in 0..left {
        let i = nm_ring_add(n, from, k);
        posted[i as usize] = NOT_POSTED;
        if ring.flags(i) & NS_MOREFRAG == 0 {
            return (k + 1, false);
        }
    }
    (left, true)
}

/// What posting a chain needs of a TX ring (borrowed apart from its TX cursor).
struct Chains<'a> {
    ring: SharedRing,
    posted: &'a mut [u32],
    c: RunChain<'a>,
}

impl Chains<'_> {
    /// Posts the chain starting at slot `from`, of which `left` slots may be used, in one pass:
    /// each slot's buffer moves to the kernel and its descriptor is written as the slot is
    /// read. Nothing is published before the caller submits, so a chain that turns out bad,
    /// too long or unfinished is undone (buffers given back, descriptors unwritten): a frame
    /// goes out complete or not at all.
    #[cold]
    #[inline(never)]
    fn post(self, xtx: &mut RingCursor<'_, xdp_desc>, from: u32, left: u32) -> Chain {
        let n = self.ring.num_slots();
        let owners = self.c.moves.owners();
        let limit = left.min(self.c.max_frags);
        let (mut k, mut i, mut bytes) = (0, from, 0u64);
        let mut ended = false;
        let mut bad = false;
        while k < limit {
            let slot = self.ring.slot_ref(i);
            let (idx, len, flags) = (slot.buf_idx(), slot.len() as u32, slot.flags());
            let more = flags & NS_MOREFRAG != 0;
            if !self.c.take(idx, len) {
                bad = true;
                break;
            }
            if flags & (NS_BUF_CHANGED | NS_REPORT) != 0 {
                slot.set_flags(flags & !(NS_BUF_CHANGED | NS_REPORT));
            }
            self.posted[i as usize] = idx;
            xtx.put(self.c.desc(idx, len, more));
            bytes += len as u64;
            k += 1;
            i = if i + 1 == n { 0 } else { i + 1 };
            if !more {
                ended = true;
                break;
            }
        }
        if ended {
            return Chain::Sent {
                slots: k,
                len: bytes,
            };
        }
        // Undo: the buffers taken go back to the application, the descriptors are unwritten.
        for j in 0..k {
            let idx = self.posted[nm_ring_add(n, from, j) as usize];
            owners.transfer(idx, Owner::KernelTx, Owner::App);
        }
        xtx.unput(k);
        if !bad && k < self.c.max_frags {
            // The end is not released yet (or the TX ring is short of room): wait for it.
            return Chain::Wait;
        }
        // Dropped whole: find its end (within what is released and what a frame may take).
        let mut slots = k;
        if bad {
            // From the bad slot (the k-th, at i) on.
            let mut j = i;
            loop {
                slots += 1;
                if self.ring.flags(j) & NS_MOREFRAG == 0 {
                    ended = true;
                    break;
                }
                if slots >= limit {
                    break;
                }
                j = nm_ring_next(n, j);
            }
        }
        for j in 0..slots {
            self.posted[nm_ring_add(n, from, j) as usize] = NOT_POSTED;
        }
        Chain::Dropped {
            slots,
            unfinished: !ended,
        }
    }
}

/// What posting slots needs: the licence for the buffers' moves, the limits of a frame, and
/// where buffers lie.
#[derive(Clone, Copy)]
struct RunChain<'a> {
    moves: Mover<'a>,
    max_len: u32,
    max_frags: u32,
    shift: u32,
}

impl RunChain<'_> {
    /// Takes buffer `idx` for the kernel if the slot's length is 1..=max_len and the
    /// application owns the buffer; false (and nothing taken) if not.
    #[inline(always)]
    fn take(self, idx: u32, len: u32) -> bool {
        len.wrapping_sub(1) < self.max_len && self.moves.take(idx, Owner::KernelTx)
    }

    /// The descriptor of `len` bytes in buffer `idx` (buffer i lies at i * buf_size, a power
    /// of two, its data after the headroom); `more`: the frame goes on in the next one.
    #[inline(always)]
    fn desc(self, idx: u32, len: u32, more: bool) -> xdp_desc {
        xdp_desc {
            addr: ((idx as u64) << self.shift) + XDP_PACKET_HEADROOM,
            len,
            options: if more { XDP_PKT_CONTD } else { 0 },
        }
    }
}

/// How far txsync's pass over a run got: its first `m` slots posted, of which `continued`
/// continue a frame, `bytes` in all; `chain`: it stopped at a chain for [`Chains::post`].
#[derive(Debug, Clone, Copy, Default)]
struct RunPos {
    m: usize,
    continued: usize,
    bytes: u64,
    chain: bool,
}

/// The rest of a run from a chain at `p.m` on, chains and frames of one slot alike, in one
/// walk: each slot is taken and its descriptor written as it is read (`XDP_PKT_CONTD` where
/// the slot has `NS_MOREFRAG`), and a frame counts once its last slot is in. The walk stops
/// at the run's end, at a slot it cannot post, or at a frame longer than the kernel takes;
/// the frame it stops in (unfinished within the run, bad, or too long) gives its buffers back
/// and goes through [`Chains::post`], which knows how to wait for it or drop it, unless it is
/// a bad frame of one slot, which the caller drops.
///
/// Out of line, so that the loop frames of one slot go through carries no chain code (inline,
/// it cost 60-byte frames three instructions more each); a jumbo sender's run is one call.
#[inline(never)]
fn post_run_chained(
    slots: SlotRun,
    posted: &mut [u32],
    descs: &mut [xdp_desc],
    c: RunChain<'_>,
    p: &mut RunPos,
) {
    // Every slice's length bounds the walk, so the loop indexes them unchecked.
    let r = descs.len().min(posted.len()).min(slots.len());
    let max_frags = c.max_frags as usize;
    let first = p.m;
    // `m`: the first slot of the frame being walked; `cap`: the slot it may not reach.
    let (mut m, mut j, mut cap) = (first, first, first + max_frags);
    let (mut frames, mut bytes, mut frame_bytes) = (0usize, 0u64, 0u64);
    let mut chain = true;
    while j < r {
        let slot = slots.get(j);
        let (idx, len, flags) = (slot.buf_idx(), slot.len() as u32, slot.flags());
        if !c.take(idx, len) {
            // A bad frame of one slot is the caller's to drop; a bad chain, Chains::post's.
            chain = j > m || flags & NS_MOREFRAG != 0;
            break;
        }
        if flags & (NS_BUF_CHANGED | NS_REPORT) != 0 {
            slot.set_flags(flags & !(NS_BUF_CHANGED | NS_REPORT));
        }
        let more = flags & NS_MOREFRAG != 0;
        posted[j] = idx;
        descs[j] = c.desc(idx, len, more);
        frame_bytes += len as u64;
        j += 1;
        if !more {
            (m, cap, frames) = (j, j + max_frags, frames + 1);
            bytes += frame_bytes;
            frame_bytes = 0;
        } else if j == cap {
            break;
        }
    }
    if j > m {
        undo_chain(c, &posted[m..j]);
    } else if j == r {
        chain = false;
    }
    p.continued += m - first - frames;
    p.bytes += bytes;
    (p.m, p.chain) = (m, chain);
}

/// Gives back to the application the buffers [`post_run_chained`] took for the frame it stops
/// in, which [`Chains::post`] (or the caller) deals with.
#[cold]
fn undo_chain(c: RunChain<'_>, taken: &[u32]) {
    let owners = c.moves.owners();
    for &b in taken {
        owners.transfer(b, Owner::KernelTx, Owner::App);
    }
}

/// Kernel-side state of one netmap TX ring.
pub(crate) struct TxState {
    pub(crate) ring: SharedRing,
    pub(super) n: u32,
    /// Next slot to hand to the kernel (netmap's hwcur).
    pub(super) hwcur: u32,
    /// First slot whose transmission has not completed; the ring's tail is the slot before it.
    pub(super) done_upto: u32,
    /// Buffer posted for each slot, kept privately so an app rewriting a kernel-owned slot
    /// cannot confuse completion accounting.
    pub(super) posted: Vec<u32>,
    /// Completions seen per buffer and not yet matched to a slot (completions may come out of
    /// order in copy mode on real NICs).
    completed: Vec<u8>,
    xtx: ProdRing<xdp_desc>,
    comp: ConsRing<u64>,
    bell: Doorbell,
    layout: Layout,
    region: &'static Region,
    /// Most slots one frame may take: 1 on a single-buffer socket, else what the kernel
    /// accepts in one multi-buffer frame (and less than the ring).
    max_frags: u32,
    /// The slots at hwcur continue a frame dropped as too long: they are dropped up to its end.
    pub(super) dropping: bool,
}

impl TxState {
    /// State of a freshly initialised ring (every slot the app's, nothing in flight).
    pub(crate) fn new(
        ring: SharedRing,
        xtx: ProdRing<xdp_desc>,
        comp: ConsRing<u64>,
        bell: Doorbell,
        region: &'static Region,
        max_frags: u32,
    ) -> TxState {
        let n = ring.num_slots();
        TxState {
            ring,
            n,
            hwcur: 0,
            done_upto: 0,
            posted: vec![NOT_POSTED; n as usize],
            completed: vec![0; region.layout.buf_num as usize],
            xtx,
            comp,
            bell,
            layout: region.layout,
            region,
            max_frags: max_frags.clamp(1, n - 1),
            dropping: false,
        }
    }

    /// The ring's tail as the kernel side sees it: the slot before the oldest in flight.
    #[inline]
    fn hwtail(&self) -> u32 {
        nm_ring_prev(self.n, self.done_upto)
    }

    /// `[hwcur, hwtail)`: the slots the application owns (none is in flight).
    #[inline]
    pub(crate) fn app_span(&self) -> (u32, u32) {
        (self.hwcur, self.hwtail())
    }

    /// Are transmissions still waiting for completion?
    #[inline]
    pub(crate) fn inflight(&self) -> bool {
        self.done_upto != self.hwcur
    }

    /// Is there something a sync would do: new slots to send or completions to reap?
    #[inline]
    pub(crate) fn pending(&self) -> bool {
        self.ring.head() != self.hwcur || self.inflight()
    }

    /// NIOCTXSYNC: send `[hwcur, head)`, kick, reap completions, advance `tail`.
    pub(crate) fn sync(&mut self, c: &QueueCounters) -> SyncStatus {
        let n = self.n;
        let head = self.ring.head();
        let cur = self.ring.cur();
        let hwtail = self.hwtail();
        // netmap's TX prologue: head in [hwcur, tail], cur in [head, tail].
        if !nm_ring_within(n, self.hwcur, head, hwtail) || !nm_ring_within(n, head, cur, hwtail) {
            c.ring_reinits.fetch_add(1, Relaxed);
            reinit(self.ring, self.hwcur, hwtail, &self.layout);
            return SyncStatus::Reinit;
        }
        let mut status = SyncStatus::Ok;
        let todo = nm_ring_dist(n, self.hwcur, head);
        if todo > 0 {
            self.post(todo, c);
        }
        if self.xtx.outstanding() > 0 && self.xtx.needs_wakeup() && !self.kick(c) {
            status = SyncStatus::DeviceError;
        }
        self.reap();
        self.ring.set_tail(self.hwtail());
        status
    }

    /// Turns slots [hwcur, head) into TX descriptors, each with the slot's current buffer; a
    /// chain of slots (`NS_MOREFRAG` on all but the last) becomes one chained frame. Never more
    /// than the kernel TX ring has room for (it is sized to hold every slot); any slots left,
    /// and a chain whose last slot is not released yet, wait for the next sync.
    fn post(&mut self, todo: u32, c: &QueueCounters) {
        let todo = todo.min(self.xtx.free(todo));
        let n = self.n;
        // One licence for the whole post: each buffer's move is then a plain load and store.
        let licence = self.region.app_moves();
        let rc = RunChain {
            moves: licence.mover(),
            max_len: self.layout.max_frame(),
            max_frags: self.max_frags,
            shift: self.layout.buf_size.trailing_zeros(),
        };
        let mut bytes = 0u64;
        let mut frames = 0u64;
        let mut bad = Bad::default();
        let (mut from, mut left) = (self.hwcur, todo);
        if self.dropping {
            let k;
            (k, self.dropping) = drop_rest(self.ring, &mut self.posted, from, left);
            (from, left) = (nm_ring_add(n, from, k), left - k);
            bad.slots += k as u64;
        }
        let mut xtx = self.xtx.writer();
        let start = xtx.pos();
        while left > 0 {
            // A run in which neither the slots nor the TX ring wrap: slot j, its `posted`
            // entry and descriptor j go together, all reached from their run's start.
            let descs = xtx.run_mut(left.min(n - from));
            let r = descs.len();
            let slots = self.ring.run(from, r);
            let posted = &mut self.posted[from as usize..from as usize + r];
            let mut m = 0;
            // Slots of the run that continue a frame (every chain's slots but its first).
            let mut continued = 0;
            let mut chain = false;
            while m < r {
                let slot = slots.get(m);
                let (idx, len, flags) = (slot.buf_idx(), slot.len() as u32, slot.flags());
                if flags != 0 {
                    if flags & NS_MOREFRAG != 0 {
                        let mut pos = RunPos {
                            m,
                            ..RunPos::default()
                        };
                        post_run_chained(slots, posted, descs, rc, &mut pos);
                        (m, continued, chain) = (pos.m, pos.continued, pos.chain);
                        bytes += pos.bytes;
                        break;
                    }
                    slot.set_flags(flags & !(NS_BUF_CHANGED | NS_REPORT));
                }
                if !rc.take(idx, len) {
                    break;
                }
                posted[m] = idx;
                descs[m] = rc.desc(idx, len, false);
                bytes += len as u64;
                m += 1;
            }
            xtx.skip(m as u32);
            frames += (m - continued) as u64;
            from = nm_ring_add(n, from, m as u32);
            left -= m as u32;
            if m == r {
                continue;
            }
            let used = if chain {
                let chains = Chains {
                    ring: self.ring,
                    posted: &mut self.posted,
                    c: rc,
                };
                match chains.post(&mut xtx, from, left) {
                    Chain::Wait => break,
                    Chain::Sent { slots, len } => {
                        frames += 1;
                        bytes += len;
                        slots
                    }
                    Chain::Dropped { slots, unfinished } => {
                        bad.slots += slots as u64;
                        bad.chains += 1;
                        if unfinished {
                            // The slots after it that continue the frame go too.
                            let at = nm_ring_add(n, from, slots);
                            let (k, still) =
                                drop_rest(self.ring, &mut self.posted, at, left - slots);
                            self.dropping = still;
                            bad.slots += k as u64;
                            slots + k
                        } else {
                            slots
                        }
                    }
                }
            } else {
                // This slot is bad: it takes no descriptor and completes at once.
                self.posted[from as usize] = NOT_POSTED;
                bad.slots += 1;
                1
            };
            from = nm_ring_add(n, from, used);
            left -= used;
        }
        let written = xtx.moved(start);
        self.xtx.submit(written);
        self.hwcur = from;
        bump(&c.tx_packets, frames);
        bump(&c.tx_bytes, bytes);
        if bad.slots > 0 {
            c.tx_bad_slots.fetch_add(bad.slots, Relaxed);
        }
        if bad.chains > 0 {
            c.tx_dropped_chains.fetch_add(bad.chains, Relaxed);
        }
    }

    /// sendto until the kernel has taken every descriptor or the budget is spent.
    /// Returns false when the device is gone or down.
    pub(crate) fn kick(&mut self, c: &QueueCounters) -> bool {
        for _ in 0..64 {
            bump(&c.tx_kicks, 1);
            match self.bell.tx() {
                0 | libc::EBUSY => {}
                libc::EAGAIN | libc::ENOBUFS => self.reap(),
                libc::ENETDOWN | libc::ENXIO | libc::ENODEV => return false,
                _ => return true,
            }
            if self.xtx.outstanding() == 0 {
                break;
            }
        }
        true
    }

    /// Kicks if descriptors are still queued for the kernel, then reaps completions.
    pub(crate) fn flush(&mut self, c: &QueueCounters) {
        if self.xtx.outstanding() > 0 {
            self.kick(c);
        }
        self.reap();
    }

    /// Matches completions to posted slots, in slot order, and advances `done_upto`.
    pub(super) fn reap(&mut self) {
        let got = self.comp.available(u32::MAX);
        let n = self.n;
        let shift = self.layout.buf_size.trailing_zeros();
        // Fast path: completions in submission order (zero-copy always, veth in practice)
        // retire the oldest posted slots directly, one contiguous run of `posted` at a time.
        let mut k = 0;
        let mut left = got.min(nm_ring_dist(n, self.done_upto, self.hwcur));
        let owners = self.region.owners();
        let mut comp = self.comp.reader();
        while left > 0 {
            // A run in which neither `posted` nor the completion ring wraps.
            let du = self.done_upto;
            let addrs = comp.run(left.min(n - du));
            let r = addrs.len();
            let posted = &self.posted[du as usize..du as usize + r];
            let mut m = 0;
            while m < r {
                let idx = (addrs[m] >> shift) as u32;
                if posted[m] != idx {
                    break;
                }
                // This ring's own posted buffer, which its completion hands back.
                owners.kernel_to_app(idx);
                m += 1;
            }
            comp.skip(m as u32);
            self.done_upto = nm_ring_add(n, du, m as u32);
            k += m as u32;
            left -= m as u32;
            if m < r {
                break;
            }
        }
        // The rest: slots skipped as bad, and completions out of order (parked).
        for k in k..got {
            let idx = (self.comp.read(k) >> shift) as u32;
            self.skip_unposted();
            if self.inflight() && self.posted[self.done_upto as usize] == idx {
                self.region.transfer(idx, Owner::KernelTx, Owner::App);
                self.done_upto = nm_ring_next(n, self.done_upto);
            } else if let Some(cnt) = self.completed.get_mut(idx as usize) {
                *cnt = cnt.saturating_add(1);
            }
        }
        if got > 0 {
            self.comp.release(got);
        }
        // Out-of-order completions parked above.
        while self.inflight() {
            let p = self.posted[self.done_upto as usize];
            if p != NOT_POSTED {
                let cnt = &mut self.completed[p as usize];
                if *cnt == 0 {
                    break;
                }
                *cnt -= 1;
                self.region.transfer(p, Owner::KernelTx, Owner::App);
            }
            self.done_upto = nm_ring_next(n, self.done_upto);
        }
    }

    /// Slots skipped as bad were never posted: they complete at once.
    #[inline]
    fn skip_unposted(&mut self) {
        while self.inflight() && self.posted[self.done_upto as usize] == NOT_POSTED {
            self.done_upto = nm_ring_next(self.n, self.done_upto);
        }
    }

    /// Returns every buffer this ring holds to the pool when its queue closes. The socket must
    /// already be out of the XSK map. Only buffers still owned as expected are freed, so
    /// indices a hostile app left in its slots cannot free someone else's buffer.
    pub(super) fn reclaim(&mut self, c: &QueueCounters) {
        // Let in-flight frames complete (synchronous on veth; bounded on real NICs).
        for _ in 0..100 {
            self.reap();
            if !self.inflight() {
                break;
            }
            self.kick(c);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut inflight = Vec::new();
        let mut i = self.done_upto;
        while i != self.hwcur {
            inflight.push(self.posted[i as usize]);
            i = nm_ring_next(self.n, i);
        }
        self.region.free_bufs_from(inflight, Owner::KernelTx);
        let ring = self.ring;
        self.region.free_bufs((0..self.n).map(|i| ring.buf_idx(i)));
    }
}
