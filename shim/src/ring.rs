//! Safe, zero-copy views of a netmap ring for Rust apps: slots, and the buffers they point to,
//! borrowed straight from the shared region.

use std::marker::PhantomData;

use crate::abi::{netmap_ring, netmap_slot, NS_BUF_CHANGED};
use crate::region::Region;

/// One netmap ring (TX or RX) of an open [`crate::Port`], borrowed from it.
///
/// Index arithmetic is netmap's: slots `[head, tail)` belong to the app; move `head` (and `cur`)
/// forward to hand them back; [`crate::Port::sync_tx`] / [`crate::Port::sync_rx`] or
/// [`crate::Port::poll`] let the kernel side run.
pub struct Ring<'a> {
    ring: *mut netmap_ring,
    region: &'a Region,
    _port: PhantomData<&'a mut ()>,
}

impl<'a> Ring<'a> {
    pub(crate) fn new(ring: *mut netmap_ring, region: &'a Region) -> Self {
        Ring {
            ring,
            region,
            _port: PhantomData,
        }
    }

    #[inline]
    fn hdr(&self) -> &netmap_ring {
        // SAFETY: the ring object stays mapped for the region's (process) lifetime.
        unsafe { &*self.ring }
    }

    #[inline]
    fn hdr_mut(&mut self) -> &mut netmap_ring {
        // SAFETY: as above; &mut self makes this the only view through this handle.
        unsafe { &mut *self.ring }
    }

    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.hdr().num_slots
    }
    #[inline]
    pub fn head(&self) -> u32 {
        self.hdr().head
    }
    #[inline]
    pub fn cur(&self) -> u32 {
        self.hdr().cur
    }
    #[inline]
    pub fn tail(&self) -> u32 {
        self.hdr().tail
    }
    /// Ring index among its direction's rings.
    #[inline]
    pub fn ringid(&self) -> u16 {
        self.hdr().ringid
    }
    /// Buffer stride (`nr_buf_size`).
    #[inline]
    pub fn buf_size(&self) -> u32 {
        self.hdr().nr_buf_size
    }
    /// Longest frame one buffer carries.
    #[inline]
    pub fn max_frame(&self) -> usize {
        self.region.layout.max_frame() as usize
    }
    /// Time of the last RX sync.
    #[inline]
    pub fn timestamp(&self) -> libc::timeval {
        self.hdr().ts
    }

    /// Sets `head` (values outside the ring are the app's to make: the next sync reports them).
    #[inline]
    pub fn set_head(&mut self, v: u32) {
        self.hdr_mut().head = v;
    }
    #[inline]
    pub fn set_cur(&mut self, v: u32) {
        self.hdr_mut().cur = v;
    }

    /// The slot after `i`.
    #[inline]
    pub fn next(&self, i: u32) -> u32 {
        if i + 1 == self.num_slots() {
            0
        } else {
            i + 1
        }
    }

    /// Slots the app owns: `tail - head` (netmap's `nm_ring_space`).
    #[inline]
    pub fn space(&self) -> u32 {
        let (h, t, n) = (self.head(), self.tail(), self.num_slots());
        if t >= h {
            t - h
        } else {
            t + n - h
        }
    }

    /// `head == tail` (netmap's `nm_ring_empty`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head() == self.tail()
    }

    /// TX: transmissions not yet completed (netmap's `nm_tx_pending`).
    #[inline]
    pub fn tx_pending(&self) -> bool {
        self.next(self.tail()) != self.head()
    }

    /// Moves `head` and `cur` forward by `n` slots.
    #[inline]
    pub fn advance(&mut self, n: u32) {
        let (h, ns) = (self.head(), self.num_slots());
        let v = ((h as u64 + n as u64) % ns as u64) as u32;
        self.set_head(v);
        self.set_cur(v);
    }

    /// Hands every slot up to `tail` back (RX: all packets consumed).
    #[inline]
    pub fn release_all(&mut self) {
        let t = self.tail();
        self.set_head(t);
        self.set_cur(t);
    }

    #[inline]
    fn slot_ptr(&self, i: u32) -> *mut netmap_slot {
        assert!(i < self.num_slots(), "slot {i} out of range");
        // SAFETY: i < num_slots; slots follow the header.
        unsafe { crate::abi::slot_ptr(self.ring, i) }
    }

    #[inline]
    pub fn slot(&self, i: u32) -> &netmap_slot {
        // SAFETY: slot_ptr checks the index.
        unsafe { &*self.slot_ptr(i) }
    }

    #[inline]
    pub fn slot_mut(&mut self, i: u32) -> &mut netmap_slot {
        // SAFETY: slot_ptr checks the index; &mut self gives exclusivity through this handle.
        unsafe { &mut *self.slot_ptr(i) }
    }

    #[inline]
    pub fn set_len(&mut self, i: u32, len: u16) {
        self.slot_mut(i).len = len;
    }

    #[inline]
    fn buf_ptr(&self, i: u32) -> Option<*mut u8> {
        let idx = self.slot(i).buf_idx;
        (idx < self.region.layout.buf_num).then(|| self.region.buf(idx))
    }

    /// The packet in slot `i`: `len` bytes of its buffer (empty if the slot is broken).
    #[inline]
    pub fn packet(&self, i: u32) -> &[u8] {
        let len = (self.slot(i).len as usize).min(self.region.layout.buf_size as usize);
        match self.buf_ptr(i) {
            // SAFETY: the buffer lies in the region (idx < buf_num) and len <= stride.
            Some(p) => unsafe { std::slice::from_raw_parts(p, len) },
            None => &[],
        }
    }

    /// Slot `i`'s whole buffer, to write a frame into (up to [`Ring::max_frame`] bytes).
    #[inline]
    pub fn buf_mut(&mut self, i: u32) -> &mut [u8] {
        let cap = self.max_frame();
        match self.buf_ptr(i) {
            // SAFETY: as for packet(); &mut self gives exclusivity through this handle.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p, cap) },
            None => &mut [],
        }
    }

    /// Packets in `[head, tail)`, without consuming them.
    #[inline]
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let n = self.space();
        let mut i = self.head();
        (0..n).map(move |_| {
            let p = self.packet(i);
            i = self.next(i);
            p
        })
    }

    /// Copies `frame` into the slot at `head` and advances; false when the ring is full.
    #[inline]
    pub fn push(&mut self, frame: &[u8]) -> bool {
        let i = self.head();
        if i >= self.num_slots() || self.space() == 0 || frame.len() > self.max_frame() {
            return false;
        }
        let buf = self.buf_mut(i);
        if buf.len() < frame.len() {
            return false; // the slot's buf_idx is broken
        }
        buf[..frame.len()].copy_from_slice(frame);
        self.set_len(i, frame.len() as u16);
        self.advance(1);
        true
    }
}

/// Swaps the buffers of two slots (zero-copy forwarding) and marks both `NS_BUF_CHANGED`.
pub fn swap_buffers(a: &mut Ring<'_>, ai: u32, b: &mut Ring<'_>, bi: u32) {
    let sa = a.slot_mut(ai);
    let (ia, la) = (sa.buf_idx, sa.len);
    let sb = b.slot_mut(bi);
    let (ib, lb) = (sb.buf_idx, sb.len);
    sb.buf_idx = ia;
    sb.len = la;
    sb.flags |= NS_BUF_CHANGED;
    let sa = a.slot_mut(ai);
    sa.buf_idx = ib;
    sa.len = lb;
    sa.flags |= NS_BUF_CHANGED;
}
