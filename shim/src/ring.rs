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

use crate::abi::{netmap_slot, nm_ring_dist, nm_ring_next, nm_tx_pending, NS_BUF_CHANGED};
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
}

impl Held<'_> {
    /// `[hwcur, hwtail)`: the slots the application owns, whatever `head` says.
    #[inline]
    fn owned(&self) -> (u32, u32) {
        match self {
            Held::Tx(t) => t.app_span(),
            Held::Rx(r) => r.app_span(),
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

/// A received packet: a slot in `[head, tail)` and its bytes, valid until the next sync.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'r> {
    /// Slot index.
    pub slot: u32,
    /// Slot flags (`NS_*`).
    pub flags: u16,
    data: &'r [u8],
}

impl<'r> Packet<'r> {
    /// The frame's bytes.
    #[inline]
    pub fn data(&self) -> &'r [u8] {
        self.data
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
        self.left -= 1;
        self.taken = true;
        self.next = nm_ring_next(self.ring.num_slots(), i);
        let flags = self.ring.shm.flags(i);
        let region: &'r Region = self.ring.region;
        // A slot whose buffer is broken yields an empty packet (never someone else's bytes).
        let data = match self.ring.owned_buf(i) {
            // SAFETY: the application owns slot i and its buffer, and the batch borrows the
            // view mutably for 'r: nothing can sync or swap the slot while the slice lives.
            Some(idx) => unsafe { region.bytes(idx, self.ring.shm.len(i) as usize) },
            None => None,
        };
        Some(Packet {
            slot: i,
            flags,
            data: data.unwrap_or(&[]),
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

    /// Zero-copy forwarding: swaps the buffers of up to `max` packets at this ring's `head`
    /// into the free slots at `tx`'s `head`, and advances both. Returns how many moved.
    #[inline]
    pub fn forward_to(&mut self, tx: &mut TxRing<'_>, max: u32) -> u32 {
        let k = max.min(self.available()).min(tx.available());
        let (mut ri, mut ti) = (self.head(), tx.head());
        let mut done = 0;
        while done < k {
            if swap_buffers(self, ri, tx, ti).is_err() {
                break;
            }
            ri = self.next(ri);
            ti = tx.next(ti);
            done += 1;
        }
        self.shm.set_head_cur(ri);
        tx.shm.set_head_cur(ti);
        done
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

    /// Queues the first `len` bytes of the buffer (at most [`Ring::max_frame`]).
    #[inline]
    pub fn send(self, len: usize) {
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

    /// Copies `frame` into the next free slot and queues it; false when the ring is full or the
    /// frame is longer than a buffer.
    #[inline]
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if frame.len() > self.max_frame as usize {
            return false;
        }
        let Some(mut s) = self.slot() else {
            return false;
        };
        let buf = s.buf_mut();
        if buf.len() < frame.len() {
            return false;
        }
        buf[..frame.len()].copy_from_slice(frame);
        s.send(frame.len());
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

    /// Copies `frame` into the slot at `head` and advances; false when the ring is full or the
    /// frame does not fit a buffer.
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
