//! Safe, zero-copy views of a port's netmap rings (docs/architecture.md, "Rust API").
//!
//! A view holds its ring for as long as it lives (other ports of the process bound to the same
//! ring skip it in their syncs), and it borrows the [`crate::Port`] mutably, so the port cannot
//! sync while a view exists. Packet and buffer slices borrow the view, so none can outlive the
//! next sync. Slices are only handed out for slots the application owns: between the kernel
//! side's `hwcur` and `hwtail`, whatever the application wrote into `head`, and only for buffers
//! the ownership table gives the application.
//!
//! ```compile_fail
//! # fn f(port: &mut nmxdp::Port) -> nmxdp::Result<()> {
//! let mut rx = port.rx_ring(0);
//! let pkt = rx.packets().next().unwrap();
//! port.sync_rx()?; // the view (and the packet) still borrow the port
//! let _ = pkt.len();
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::abi::{
    netmap_slot, nm_ring_dist, nm_ring_next, nm_tx_pending, NS_BUF_CHANGED, NS_MOREFRAG,
};
use crate::error::Error;
use crate::queue::{RxState, TxState, ViewGuard};
use crate::region::{AppBufs, Owner, Region};
use crate::shm::{SharedRing, SlotRef};

mod sealed {
    pub trait Sealed {}
}

/// A ring direction: [`Tx`] or [`Rx`].
pub trait Direction: sealed::Sealed {
    /// "TX" or "RX", for messages.
    const NAME: &'static str;
}

/// Marker of transmit rings.
#[derive(Debug)]
pub enum Tx {}
/// Marker of receive rings.
#[derive(Debug)]
pub enum Rx {}
impl sealed::Sealed for Tx {}
impl sealed::Sealed for Rx {}
impl Direction for Tx {
    const NAME: &'static str = "TX";
}
impl Direction for Rx {
    const NAME: &'static str = "RX";
}

/// The kernel side of the ring, held while the view lives.
pub(crate) enum Held<'p> {
    Tx(ViewGuard<'p, TxState>),
    Rx(ViewGuard<'p, RxState>),
    /// A pipe end's ring, held against syncs (docs/architecture.md, "Pipes").
    Pipe(crate::pipe::PipeView<'p>),
}

impl Held<'_> {
    /// `[hwcur, hwtail)`: the slots the application owns, whatever `head` says.
    #[inline]
    fn owned(&self) -> (u32, u32) {
        match self {
            Held::Tx(t) => t.app_span(),
            Held::Rx(r) => r.app_span(),
            Held::Pipe(p) => p.app_span(),
        }
    }
}

/// One netmap ring of an open [`crate::Port`]: a [`TxRing`] or an [`RxRing`].
///
/// netmap's vocabulary applies: slots `[head, tail)` are the application's; it moves `head`
/// (and `cur`) forward to hand them back, and the next sync lets the kernel side run.
pub struct Ring<'p, D: Direction> {
    shm: SharedRing,
    region: &'p Region,
    /// `hwcur` and the count of slots from it the application owns: fixed while the view
    /// holds the ring, since only a sync moves them.
    hwcur: u32,
    owned: u32,
    _held: Held<'p>,
    _dir: PhantomData<D>,
}

/// A transmit ring: fill slots `[head, tail)` with frames, then advance `head`.
pub type TxRing<'p> = Ring<'p, Tx>;
/// A receive ring: read packets in `[head, tail)`, then advance `head` to release them.
pub type RxRing<'p> = Ring<'p, Rx>;

/// Why a buffer swap was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    /// The slot is not one the application owns (outside `[head, tail)`).
    #[error("slot {0} is not in [head, tail) of its ring")]
    NotOwned(u32),
    /// The slot's buffer is not the application's (a broken index).
    #[error("slot {0} does not hold a buffer of the application")]
    BadBuffer(u32),
    /// The two rings live in different memory regions: buffers cannot move between them.
    #[error("the rings are in different memory regions")]
    OtherRegion,
}

impl<'p, D: Direction> Ring<'p, D> {
    #[inline]
    pub(crate) fn new(shm: SharedRing, region: &'p Region, held: Held<'p>) -> Self {
        let (hwcur, hwtail) = held.owned();
        Ring {
            shm,
            region,
            hwcur,
            owned: nm_ring_dist(shm.num_slots(), hwcur, hwtail),
            _held: held,
            _dir: PhantomData,
        }
    }

    /// Slots in the ring.
    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.shm.num_slots()
    }
    /// First slot the application owns.
    #[inline]
    pub fn head(&self) -> u32 {
        self.shm.head()
    }
    /// Wake-up point (netmap's `cur`): poll() reports the ring ready when `cur != tail`.
    #[inline]
    pub fn cur(&self) -> u32 {
        self.shm.cur()
    }
    /// First slot the kernel side owns.
    #[inline]
    pub fn tail(&self) -> u32 {
        self.shm.tail()
    }
    /// Ring index among its direction's rings.
    #[inline]
    pub fn ringid(&self) -> u16 {
        self.shm.ringid()
    }
    /// Buffer stride (`nr_buf_size`).
    #[inline]
    pub fn buf_size(&self) -> u32 {
        self.region.layout.buf_size
    }
    /// Longest frame one buffer carries.
    #[inline]
    pub fn max_frame(&self) -> usize {
        self.region.layout.max_frame() as usize
    }
    /// Time of the last RX sync.
    #[inline]
    pub fn timestamp(&self) -> libc::timeval {
        self.shm.ts()
    }

    /// Slots the application owns: `tail - head` (netmap's `nm_ring_space`).
    #[inline]
    pub fn available(&self) -> u32 {
        let n = self.num_slots();
        let (h, t) = (self.head(), self.tail());
        if h >= n || t >= n {
            return 0;
        }
        nm_ring_dist(n, h, t)
    }

    /// Calls `f(slot, len, flags)` for the slots of `[head, tail)` in order, at most `max` of
    /// them, and returns how many: a receiver's counting loop, with the slot indices checked
    /// once per call instead of once per slot. `head` does not move.
    #[inline]
    pub fn for_each_slot(&self, max: u32, mut f: impl FnMut(u32, u16, u16)) -> u32 {
        let n = self.num_slots();
        let (h, t) = (self.head(), self.tail());
        if h >= n || t >= n {
            return 0;
        }
        let k = nm_ring_dist(n, h, t).min(max);
        self.shm
            .for_each_slot(h, k, |i, s| f(i, s.len(), s.flags()));
        k
    }

    /// The slot after `i` (netmap's `nm_ring_next`).
    #[inline]
    pub fn next(&self, i: u32) -> u32 {
        nm_ring_next(self.num_slots(), i)
    }

    /// A copy of slot `i` (index, length, flags), whoever owns it.
    ///
    /// # Panics
    /// If `i` is not below [`Ring::num_slots`].
    #[inline]
    pub fn slot(&self, i: u32) -> netmap_slot {
        self.shm.slot(i)
    }

    /// Sets `head` (values outside the ring are the application's to make: the next sync
    /// re-initialises the ring, as netmap does).
    #[inline]
    pub fn set_head(&mut self, v: u32) {
        self.shm.set_head(v);
    }

    /// Sets `cur`.
    #[inline]
    pub fn set_cur(&mut self, v: u32) {
        self.shm.set_cur(v);
    }

    /// Moves `head` and `cur` forward by `n` slots, at most to `tail`.
    #[inline]
    pub fn advance(&mut self, n: u32) {
        let k = n.min(self.available());
        let v = ((self.head() as u64 + k as u64) % self.num_slots() as u64) as u32;
        self.shm.set_head_cur(v);
    }

    /// Is slot `i` one the application owns now (kernel-side bounds, not `head`)?
    #[inline]
    fn owns(&self, i: u32) -> bool {
        let n = self.num_slots();
        i < n && nm_ring_dist(n, self.hwcur, i) < self.owned
    }

    /// The buffer of an owned slot, if the ownership table agrees it is the application's.
    #[inline]
    fn owned_buf(&self, i: u32) -> Option<u32> {
        if !self.owns(i) {
            return None;
        }
        let idx = self.shm.buf_idx(i);
        (self.region.owner(idx) == Some(Owner::App)).then_some(idx)
    }

    /// The `len` bytes of slot `i`'s buffer; None unless the application owns the slot and
    /// its buffer, and `len` fits a buffer.
    #[inline]
    pub fn packet(&self, i: u32) -> Option<&[u8]> {
        let idx = self.owned_buf(i)?;
        // SAFETY: the application owns slot i and its buffer; the view holds the ring (no other
        // port can sync it) and `&self` keeps `&mut self` methods (swaps, batches) away.
        unsafe { self.region.bytes(idx, self.shm.len(i) as usize) }
    }

    /// Slot `i`'s whole buffer ([`Ring::max_frame`] bytes), to write into; None unless the
    /// application owns the slot and its buffer.
    #[inline]
    pub fn buf_mut(&mut self, i: u32) -> Option<&mut [u8]> {
        let idx = self.owned_buf(i)?;
        // SAFETY: as for `packet`, and `&mut self` makes this the only view of the buffer
        // (safe code cannot make two slots share a buffer).
        unsafe { self.region.bytes_mut(idx) }
    }

    /// Sets slot `i`'s length; false unless the application owns the slot and `len` fits.
    #[inline]
    pub fn set_len(&mut self, i: u32, len: usize) -> bool {
        if !self.owns(i) || len > self.max_frame() {
            return false;
        }
        self.shm.set_len(i, len as u16);
        true
    }

    /// Sets slot `i`'s flags (`NS_*`); false unless the application owns the slot.
    #[inline]
    pub fn set_flags(&mut self, i: u32, flags: u16) -> bool {
        if !self.owns(i) {
            return false;
        }
        self.shm.set_flags(i, flags);
        true
    }

    /// Writes slot `i` whole, whatever it holds.
    ///
    /// # Safety
    /// A buffer index written here must be a buffer the application owns and that no other
    /// slot of any ring refers to, or slot `i` must not be read through [`Ring::packet`],
    /// [`Ring::buf_mut`] or a batch before the next sync (safe views would otherwise alias).
    /// Values nmxdp does not own are refused by the sync and counted, as netmap does.
    pub unsafe fn set_slot(&mut self, i: u32, slot: netmap_slot) {
        self.shm.set_slot(i, slot);
    }

    /// The raw ring object in the region (what C's `NETMAP_TXRING()` returns).
    ///
    /// # Safety
    /// Writes through the pointer are subject to [`Ring::set_slot`]'s contract; the pointer
    /// must not be used after the view is dropped except under the same rules.
    pub unsafe fn as_raw(&self) -> *mut crate::abi::netmap_ring {
        self.shm.as_ptr()
    }
}

/// A received packet: the slots in `[head, tail)` it takes and its bytes, valid until the next
/// sync.
///
/// A frame longer than a buffer (multi-buffer sockets, pipes) takes a chain of slots,
/// `NS_MOREFRAG` on all but the last: [`Packet::fragments`] walks them, [`Packet::frame_len`]
/// is the whole length. Dereferencing a packet gives its first fragment, which is the whole
/// frame unless [`Packet::is_chained`].
#[derive(Debug, Clone, Copy)]
pub struct Packet<'r> {
    /// Index of the packet's first slot.
    pub slot: u32,
    /// Flags (`NS_*`) of its first slot.
    pub flags: u16,
    data: &'r [u8],
    /// Slots the frame takes (1 unless chained).
    slots: u32,
    /// Bytes of the whole frame.
    frame_len: usize,
    ring: SharedRing,
    bufs: AppBufs<'r>,
    max_frame: u32,
}

impl<'r> Packet<'r> {
    /// The bytes of the first fragment: the whole frame unless [`Packet::is_chained`].
    #[inline]
    pub fn data(&self) -> &'r [u8] {
        self.data
    }

    /// Does the frame span several slots (a chain with `NS_MOREFRAG`)?
    #[inline]
    pub fn is_chained(&self) -> bool {
        self.slots > 1
    }

    /// How many slots the frame takes.
    #[inline]
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Bytes of the whole frame (all fragments).
    #[inline]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The frame's fragments in order, one per slot (a single one unless chained).
    pub fn fragments(&self) -> impl Iterator<Item = &'r [u8]> + 'r {
        let (ring, bufs, max_frame) = (self.ring, self.bufs, self.max_frame);
        let n = ring.num_slots();
        let first = self.slot;
        (0..self.slots).map(move |j| {
            let i = (first + j) % n;
            fragment(ring, bufs, max_frame, i)
        })
    }

    /// Appends the whole frame to `out` (one copy, for apps that want it contiguous).
    pub fn copy_frame(&self, out: &mut Vec<u8>) {
        out.reserve(self.frame_len);
        for f in self.fragments() {
            out.extend_from_slice(f);
        }
    }
}

/// The bytes of slot `i` of an RX ring the batch holds; empty (never someone else's bytes)
/// when its buffer is not the application's.
#[inline]
fn fragment<'r>(ring: SharedRing, bufs: AppBufs<'r>, max_frame: u32, i: u32) -> &'r [u8] {
    match bufs.ptr(ring.buf_idx(i)) {
        // SAFETY: the application owns the slot (the batch only walks [head, tail) of a ring
        // it borrows mutably for 'r, so nothing can sync or swap it meanwhile) and its buffer,
        // a whole stride in the mapping; the length is clipped to a buffer's frame room.
        Some(p) => unsafe {
            std::slice::from_raw_parts(p.as_ptr(), (ring.len(i) as u32).min(max_frame) as usize)
        },
        None => &[],
    }
}

impl std::ops::Deref for Packet<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.data
    }
}

/// Received packets from `head`; what was yielded is released (`head = cur` past it) when the
/// iterator is dropped, and the kernel gets the slots back at the next sync.
pub struct RxBatch<'r, 'p> {
    ring: &'r mut RxRing<'p>,
    next: u32,
    left: u32,
    /// Whether a packet was yielded (an untouched batch leaves `head` and `cur` as they were).
    taken: bool,
}

impl<'r> Iterator for RxBatch<'r, '_> {
    type Item = Packet<'r>;

    #[inline]
    fn next(&mut self) -> Option<Packet<'r>> {
        if self.left == 0 {
            return None;
        }
        let i = self.next;
        let n = self.ring.num_slots();
        self.taken = true;
        let ring = self.ring.shm;
        let flags = ring.flags(i);
        let region: &'r Region = self.ring.region;
        let (bufs, max_frame) = (region.app_bufs(), region.layout.max_frame());
        let owns = |i| self.ring.owns(i);
        // A slot the kernel side has not given the application yields an empty packet.
        let data = if owns(i) {
            fragment(ring, bufs, max_frame, i)
        } else {
            &[]
        };
        // A chain's slots are all in [head, tail): the kernel side shows whole frames only.
        let (mut slots, mut frame_len, mut last) = (1, data.len(), i);
        while ring.flags(last) & NS_MOREFRAG != 0
            && slots < self.left
            && owns(nm_ring_next(n, last))
        {
            last = nm_ring_next(n, last);
            slots += 1;
            frame_len += fragment(ring, bufs, max_frame, last).len();
        }
        self.left -= slots;
        self.next = nm_ring_next(n, last);
        Some(Packet {
            slot: i,
            flags,
            data,
            slots,
            frame_len,
            ring,
            bufs,
            max_frame,
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl Drop for RxBatch<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        if self.taken {
            self.ring.shm.set_head_cur(self.next);
        }
    }
}

impl<'p> RxRing<'p> {
    /// Nothing to read (`head == tail`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.available() == 0
    }

    /// The packets in `[head, tail)`, released when the returned iterator is dropped (only
    /// those it yielded).
    #[inline]
    pub fn packets(&mut self) -> RxBatch<'_, 'p> {
        RxBatch {
            next: self.head(),
            left: self.available(),
            taken: false,
            ring: self,
        }
    }

    /// Hands every packet up to `tail` back (all consumed).
    #[inline]
    pub fn release_all(&mut self) {
        let t = self.tail();
        self.shm.set_head_cur(t);
    }

    /// Zero-copy forwarding: swaps the buffers of the packets at this ring's `head`, up to
    /// `max` slots of them, into the free slots at `tx`'s `head`, and advances both. A chain
    /// (`NS_MOREFRAG`) moves whole, its flags with it, or waits for the next call. Returns how
    /// many slots moved.
    #[inline]
    pub fn forward_to(&mut self, tx: &mut TxRing<'_>, max: u32) -> u32 {
        let k = max.min(self.available()).min(tx.available());
        let (mut ri, mut ti) = (self.head(), tx.head());
        let mut done = 0;
        while done < k {
            let more = self.shm.flags(ri) & NS_MOREFRAG;
            if more != 0 {
                let moved = self.forward_chain(ri, tx, ti, k - done);
                if moved == 0 {
                    break;
                }
                let n = self.num_slots();
                (ri, ti) = ((ri + moved) % n, (ti + moved) % tx.num_slots());
                done += moved;
                continue;
            }
            if swap_buffers(self, ri, tx, ti).is_err() {
                break;
            }
            let tf = tx.shm.flags(ti);
            if tf & NS_MOREFRAG != 0 {
                tx.shm.set_flags(ti, tf & !NS_MOREFRAG);
            }
            ri = self.next(ri);
            ti = tx.next(ti);
            done += 1;
        }
        self.shm.set_head_cur(ri);
        tx.shm.set_head_cur(ti);
        done
    }

    /// Forwards the chain starting at slot `ri` into `tx` from `ti` if it takes at most `room`
    /// slots and every buffer of it can move; returns the slots moved (0: none).
    fn forward_chain(&mut self, ri: u32, tx: &mut TxRing<'_>, ti: u32, room: u32) -> u32 {
        let (rn, tn) = (self.num_slots(), tx.num_slots());
        let mut len = 1;
        let mut j = ri;
        while self.shm.flags(j) & NS_MOREFRAG != 0 {
            if len == room {
                return 0;
            }
            j = nm_ring_next(rn, j);
            len += 1;
        }
        for k in 0..len {
            let (a, b) = ((ri + k) % rn, (ti + k) % tn);
            if self.take_owned_buf(a).is_err() || tx.take_owned_buf(b).is_err() {
                return 0;
            }
        }
        for k in 0..len {
            let (a, b) = ((ri + k) % rn, (ti + k) % tn);
            let more = self.shm.flags(a) & NS_MOREFRAG;
            swap_buffers(self, a, tx, b).expect("checked above");
            tx.shm.set_flags(b, (tx.shm.flags(b) & !NS_MOREFRAG) | more);
        }
        len
    }
}

/// Free TX slots from `head`: fill them with [`TxBatch::push`] or [`TxBatch::slot`]; `head`
/// (and `cur`) advance past the filled ones when the batch is dropped, and the next sync sends
/// them.
pub struct TxBatch<'r, 'p> {
    ring: &'r mut TxRing<'p>,
    /// `head` when the batch was made (an untouched batch leaves `head` and `cur` alone).
    start: u32,
    next: u32,
    left: u32,
    max_frame: u32,
    bufs: AppBufs<'r>,
}

/// One free TX slot of a batch: write a frame into its buffer, then [`TxSlot::send`] it.
pub struct TxSlot<'b, 'r, 'p> {
    batch: &'b mut TxBatch<'r, 'p>,
    slot: SlotRef,
    idx: u32,
    /// The slot's buffer, checked once when the slot is lent (None: broken).
    buf: Option<NonNull<u8>>,
}

impl TxSlot<'_, '_, '_> {
    /// Slot index.
    #[inline]
    pub fn index(&self) -> u32 {
        self.batch.next
    }

    /// The slot's buffer index (netmap's `buf_idx`); None if the slot's buffer is broken.
    #[inline]
    pub fn buf_idx(&self) -> Option<u32> {
        self.buf.map(|_| self.idx)
    }

    /// The slot's flags (`NS_*`) as the application left them, e.g. `NS_BUF_CHANGED` after it
    /// put another buffer in the slot.
    #[inline]
    pub fn flags(&self) -> u16 {
        self.slot.flags()
    }

    /// The slot's whole buffer; empty if the slot's buffer is broken (then sending it sends
    /// nothing and the sync counts it as a bad slot).
    #[inline]
    pub fn buf_mut(&mut self) -> &mut [u8] {
        match self.buf {
            // SAFETY: the batch checked that the application owns the slot and its buffer (a
            // whole stride in the mapping, longer than max_frame); the batch (and so the view)
            // is borrowed mutably for as long as the slice lives.
            Some(p) => unsafe {
                std::slice::from_raw_parts_mut(p.as_ptr(), self.batch.max_frame as usize)
            },
            None => &mut [],
        }
    }

    /// Sets the slot's flags (`NS_*`), e.g. `NS_REPORT` on the last slot of a burst.
    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        self.slot.set_flags(flags);
    }

    /// Queues the first `len` bytes of the buffer (at most [`Ring::max_frame`]) as a frame, or
    /// as the last fragment of one begun with [`TxSlot::send_more`] (it clears `NS_MOREFRAG`).
    #[inline]
    pub fn send(self, len: usize) {
        let flags = self.slot.flags();
        if flags & NS_MOREFRAG != 0 {
            self.slot.set_flags(flags & !NS_MOREFRAG);
        }
        self.queue(len);
    }

    /// Queues the first `len` bytes of the buffer as a fragment that the next slot continues
    /// (`NS_MOREFRAG`): a frame longer than a buffer is a chain of these ended by
    /// [`TxSlot::send`]. The sync sends a chain only once its last slot is queued, and drops
    /// it whole if the port cannot carry it (more slots than a frame may take, see
    /// [`crate::Port::max_frame_slots`]).
    #[inline]
    pub fn send_more(self, len: usize) {
        self.slot.set_flags(self.slot.flags() | NS_MOREFRAG);
        self.queue(len);
    }

    #[inline]
    fn queue(self, len: usize) {
        let b = self.batch;
        self.slot.set_len(len.min(b.max_frame as usize) as u16);
        b.next = nm_ring_next(b.ring.num_slots(), b.next);
        b.left -= 1;
    }
}

impl<'r, 'p> TxBatch<'r, 'p> {
    /// Free slots left in the batch.
    #[inline]
    pub fn remaining(&self) -> u32 {
        self.left
    }

    /// The next free slot; None when the ring is full.
    #[inline]
    pub fn slot(&mut self) -> Option<TxSlot<'_, 'r, 'p>> {
        if self.left == 0 {
            return None;
        }
        // The batch lies within the owned span (clipped when it was made): only the buffer
        // needs checking.
        let slot = self.ring.shm.slot_ref(self.next);
        let idx = slot.buf_idx();
        let buf = self.bufs.ptr(idx);
        Some(TxSlot {
            batch: self,
            slot,
            idx,
            buf,
        })
    }

    /// Copies `frame` into the next free slot and queues it; a frame longer than a buffer
    /// goes into as many slots as it needs, chained (`NS_MOREFRAG`). False, and nothing
    /// queued, when the ring lacks the slots or one of their buffers is broken.
    #[inline]
    pub fn push(&mut self, frame: &[u8]) -> bool {
        let room = self.max_frame as usize;
        if frame.len() <= room {
            let Some(mut s) = self.slot() else {
                return false;
            };
            let buf = s.buf_mut();
            if buf.len() < frame.len() {
                return false;
            }
            buf[..frame.len()].copy_from_slice(frame);
            s.send(frame.len());
            return true;
        }
        self.push_chain(frame)
    }

    /// [`TxBatch::push`] of a frame longer than a buffer.
    fn push_chain(&mut self, frame: &[u8]) -> bool {
        let room = self.max_frame as usize;
        let need = frame.len().div_ceil(room);
        if (self.left as usize) < need {
            return false;
        }
        // Check every buffer before queuing any slot, so a frame goes whole or not at all.
        let n = self.ring.num_slots();
        let mut i = self.next;
        for _ in 0..need {
            if self.bufs.ptr(self.ring.shm.buf_idx(i)).is_none() {
                return false;
            }
            i = nm_ring_next(n, i);
        }
        let mut pieces = frame.chunks(room).peekable();
        while let Some(piece) = pieces.next() {
            let mut s = self.slot().expect("counted above");
            s.buf_mut()[..piece.len()].copy_from_slice(piece);
            if pieces.peek().is_some() {
                s.send_more(piece.len());
            } else {
                s.send(piece.len());
            }
        }
        true
    }
}

impl Drop for TxBatch<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        // A batch never spans the whole ring (one slot is always the kernel's), so it moved
        // exactly when `next` did.
        if self.next != self.start {
            self.ring.shm.set_head_cur(self.next);
        }
    }
}

impl<'p> TxRing<'p> {
    /// No free slot (`head == tail`).
    #[inline]
    pub fn is_full(&self) -> bool {
        self.available() == 0
    }

    /// Transmissions not yet completed (netmap's `nm_tx_pending`).
    #[inline]
    pub fn tx_pending(&self) -> bool {
        nm_tx_pending(self.num_slots(), self.head(), self.tail())
    }

    /// Free slots from `head`: only those the kernel side has given the application, whatever
    /// `head` says.
    #[inline]
    fn free_from_head(&self, head: u32) -> u32 {
        if self.owns(head) {
            self.available()
                .min(self.owned - nm_ring_dist(self.num_slots(), self.hwcur, head))
        } else {
            0
        }
    }

    /// The free slots from `head`, queued when the returned batch is dropped.
    #[inline]
    pub fn batch(&mut self) -> TxBatch<'_, 'p> {
        let head = self.head();
        let left = self.free_from_head(head);
        TxBatch {
            start: head,
            next: head,
            left,
            max_frame: self.region.layout.max_frame(),
            bufs: self.region.app_bufs(),
            ring: self,
        }
    }

    /// Copies `frame` into the slot at `head` (or, longer than a buffer, the chain of slots it
    /// needs) and advances; false when the ring lacks the slots.
    #[inline]
    pub fn push(&mut self, frame: &[u8]) -> bool {
        self.batch().push(frame)
    }

    /// Queues frames of `len` bytes in up to `max` free slots from `head`, and returns how many
    /// slots it took (`head` and `cur` move past them): `f(k, buf_idx, frame, state)` writes
    /// the `k`-th frame (from 0) into `frame`, the first `len` bytes of the slot's buffer
    /// `buf_idx`; `state` is the entry of `per_slot` with the slot's index, state the
    /// application keeps per slot (e.g. which buffer already holds a template). A slot whose
    /// buffer is broken goes out empty without `f` (the sync counts it as bad). Nothing is
    /// queued when `len` exceeds [`Ring::max_frame`].
    ///
    /// The sender's loop without a check per slot that [`TxRing::batch`] needs: the slots are
    /// walked in runs that do not wrap.
    ///
    /// # Panics
    /// If `per_slot` has fewer entries than the ring has slots.
    #[inline]
    pub fn send_each<S>(
        &mut self,
        max: u32,
        len: usize,
        per_slot: &mut [S],
        mut f: impl FnMut(u32, u32, &mut [u8], &mut S),
    ) -> u32 {
        let n = self.num_slots();
        assert!(per_slot.len() >= n as usize, "fewer entries than slots");
        let head = self.head();
        let count = self.free_from_head(head).min(max);
        if count == 0 || len > self.max_frame() {
            return 0;
        }
        let bufs = self.region.app_bufs();
        let (mut from, mut k) = (head, 0u32);
        while k < count {
            let r = (count - k).min(n - from);
            let slots = self.shm.run(from, r as usize);
            let state = &mut per_slot[from as usize..(from + r) as usize];
            for (j, st) in state.iter_mut().enumerate() {
                let slot = slots.get(j);
                let idx = slot.buf_idx();
                let sent = match bufs.ptr(idx) {
                    Some(p) => {
                        // SAFETY: the application owns the slot (within the free span) and
                        // its buffer (a whole stride in the mapping, len <= max_frame), and
                        // `&mut self` makes this the only view of it: safe code cannot make
                        // two slots share a buffer.
                        let frame = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) };
                        f(k + j as u32, idx, frame, st);
                        len as u16
                    }
                    None => 0,
                };
                slot.set_len(sent);
                // A slot keeps its flags from lap to lap: one left over from a chain would
                // make this frame continue into the next.
                let fl = slot.flags();
                if fl & NS_MOREFRAG != 0 {
                    slot.set_flags(fl & !NS_MOREFRAG);
                }
            }
            k += r;
            from += r;
            if from == n {
                from = 0;
            }
        }
        self.shm.set_head_cur(from);
        count
    }

    /// [`TxRing::send_each`] for frames cut into slot chains: queues up to `max` frames of
    /// `len` bytes, each over `len.div_ceil(piece)` slots that carry `piece` bytes (the last
    /// one the rest), `NS_MOREFRAG` on all but a frame's last slot, and returns how many
    /// frames it queued. Only whole frames: `head` and `cur` move past their slots.
    ///
    /// `f(k, p, buf_idx, buf, state)` writes piece `p` of the `k`-th frame (both from 0), bytes
    /// `p * piece ..` of the frame, at the start of `buf`, the slot's whole buffer
    /// ([`Ring::max_frame`] bytes); `state` is the entry of `per_slot` with the slot's index,
    /// as for [`TxRing::send_each`]. It returns flags to add to the slot (`NS_REPORT`, or 0).
    /// A slot whose buffer is broken goes out empty without `f`, so the sync drops its frame
    /// whole and counts it. Nothing is queued when `len` is 0, `piece` is 0 or above
    /// [`Ring::max_frame`], or a frame would take as many slots as the ring has. A frame of
    /// more slots than [`crate::Port::max_frame_slots`] is dropped whole by the sync.
    ///
    /// The jumbo sender's loop: one ownership check, one call, a length and a flags store per
    /// slot, none of [`TxRing::batch`]'s per-slot bookkeeping.
    ///
    /// # Panics
    /// If `per_slot` has fewer entries than the ring has slots.
    #[inline]
    pub fn send_each_chained<S>(
        &mut self,
        max: u32,
        len: usize,
        piece: usize,
        per_slot: &mut [S],
        mut f: impl FnMut(u32, u32, u32, &mut [u8], &mut S) -> u16,
    ) -> u32 {
        let n = self.num_slots();
        assert!(per_slot.len() >= n as usize, "fewer entries than slots");
        let room = self.max_frame();
        if len == 0 || piece == 0 || piece > room {
            return 0;
        }
        // At most the ring's slots (then no room below): a huge `len` cannot wrap the count.
        let per = len.div_ceil(piece).min(n as usize) as u32;
        let last_len = (len - (per as usize - 1) * piece) as u16;
        let head = self.head();
        let frames = (self.free_from_head(head) / per).min(max);
        if frames == 0 {
            return 0;
        }
        let count = frames * per;
        let bufs = self.region.app_bufs();
        // Slots done, and the frame and piece of the next slot.
        let (mut from, mut k) = (head, 0u32);
        let (mut frame, mut p) = (0u32, 0u32);
        while k < count {
            let r = (count - k).min(n - from);
            let slots = self.shm.run(from, r as usize);
            let state = &mut per_slot[from as usize..(from + r) as usize];
            for (j, st) in state.iter_mut().enumerate() {
                let slot = slots.get(j);
                let end = p + 1 == per;
                let idx = slot.buf_idx();
                let (sent, add) = match bufs.ptr(idx) {
                    Some(ptr) => {
                        // SAFETY: as in `send_each`: the application owns the slot and its
                        // buffer, a whole stride of at least `room` bytes, and `&mut self`
                        // makes this the only view of it.
                        let buf = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), room) };
                        let add = f(frame, p, idx, buf, st);
                        (if end { last_len } else { piece as u16 }, add)
                    }
                    None => (0, 0),
                };
                slot.set_len(sent);
                let more = if end { 0 } else { NS_MOREFRAG };
                slot.set_flags((slot.flags() & !NS_MOREFRAG) | (add & !NS_MOREFRAG) | more);
                if end {
                    (frame, p) = (frame + 1, 0);
                } else {
                    p += 1;
                }
            }
            k += r;
            from += r;
            if from == n {
                from = 0;
            }
        }
        self.shm.set_head_cur(from);
        frames
    }
}

/// Swaps the buffers (and lengths) of slot `ai` of `a` and slot `bi` of `b`, marking both
/// `NS_BUF_CHANGED`: netmap's zero-copy forwarding. Both slots must be the application's
/// (in `[head, tail)`), with buffers the application owns.
pub fn swap_buffers<A: Direction, B: Direction>(
    a: &mut Ring<'_, A>,
    ai: u32,
    b: &mut Ring<'_, B>,
    bi: u32,
) -> std::result::Result<(), SwapError> {
    if !std::ptr::eq(a.region, b.region) {
        return Err(SwapError::OtherRegion);
    }
    for (r, i) in [(a.in_head_tail(ai), ai), (b.in_head_tail(bi), bi)] {
        if !r {
            return Err(SwapError::NotOwned(i));
        }
    }
    let ia = a.owned_buf(ai).ok_or(SwapError::BadBuffer(ai))?;
    let ib = b.owned_buf(bi).ok_or(SwapError::BadBuffer(bi))?;
    let (la, lb) = (a.shm.len(ai), b.shm.len(bi));
    a.shm.set_buf_idx(ai, ib);
    a.shm.set_len(ai, lb);
    a.shm.set_flags(ai, a.shm.flags(ai) | NS_BUF_CHANGED);
    b.shm.set_buf_idx(bi, ia);
    b.shm.set_len(bi, la);
    b.shm.set_flags(bi, b.shm.flags(bi) | NS_BUF_CHANGED);
    Ok(())
}

impl<D: Direction> Ring<'_, D> {
    /// The region the ring's buffers live in.
    #[inline]
    pub(crate) fn region(&self) -> &Region {
        self.region
    }

    /// The buffer of slot `i`, if the slot is in `[head, tail)` and holds a buffer of the
    /// application (the checks of a swap).
    #[inline]
    pub(crate) fn take_owned_buf(&self, i: u32) -> Result<u32, SwapError> {
        if !self.in_head_tail(i) {
            return Err(SwapError::NotOwned(i));
        }
        self.owned_buf(i).ok_or(SwapError::BadBuffer(i))
    }

    /// Is `i` in `[head, tail)` (and owned by the application on the kernel side too)?
    #[inline]
    fn in_head_tail(&self, i: u32) -> bool {
        let n = self.num_slots();
        let (h, t) = (self.head(), self.tail());
        h < n && i < n && nm_ring_dist(n, h, i) < nm_ring_dist(n, h, t) && self.owns(i)
    }
}

/// The error a ring view gives when this thread already holds the ring through another port.
pub(crate) fn busy(dir: &str, i: u32) -> Error {
    Error::new(
        libc::EBUSY,
        format!("{dir} ring {i} is already held by a view of another port in this thread: drop that view first"),
    )
}
