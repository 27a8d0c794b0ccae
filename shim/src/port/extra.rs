//! netmap's extra buffers as Rust values: a buffer taken from the port's `ni_bufs_head` list is
//! an [`ExtraBuf`], owned by exactly one value, exchanged with a slot's buffer only through a
//! checked swap (docs/netmap-compat.md, "Extra buffers").

use super::Port;
use crate::abi::NS_BUF_CHANGED;
use crate::region::{Owner, Region};
use crate::ring::{Direction, Ring, SwapError};

/// One buffer of the region held by the application outside any slot. Not `Clone`: the value
/// is the only handle on the buffer, so its bytes can be lent mutably. Dropping it gives the
/// buffer back to the pool.
pub struct ExtraBuf {
    idx: u32,
    region: &'static Region,
}

impl std::fmt::Debug for ExtraBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExtraBuf").field(&self.idx).finish()
    }
}

impl ExtraBuf {
    /// The buffer's index (netmap's `buf_idx`).
    pub fn index(&self) -> u32 {
        self.idx
    }

    /// The buffer's bytes (a whole buffer, [`crate::Ring::max_frame`] long).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the buffer is the application's and this value is its only handle; `&mut
        // self` makes the slice exclusive.
        unsafe { self.region.bytes_mut(self.idx) }.unwrap_or(&mut [])
    }
}

impl Drop for ExtraBuf {
    fn drop(&mut self) {
        self.region.free_bufs([self.idx]);
    }
}

impl Port {
    /// Takes the first buffer of this port's extra-buffer list (`ni_bufs_head`, linked through
    /// each buffer's first 4 bytes); None when the list is empty or broken.
    pub fn take_extra_buf(&mut self) -> Option<ExtraBuf> {
        let nifp = self.nifp();
        let head = nifp.bufs_head();
        if head < 2 || self.region.owner(head) != Some(Owner::App) {
            return None;
        }
        nifp.set_bufs_head(self.region.buf_word(head)?);
        Some(ExtraBuf {
            idx: head,
            region: self.region,
        })
    }

    /// Puts a buffer back at the head of this port's extra-buffer list.
    pub fn give_extra_buf(&mut self, b: ExtraBuf) {
        let nifp = self.nifp();
        self.region.set_buf_word(b.idx, nifp.bufs_head());
        nifp.set_bufs_head(b.idx);
        std::mem::forget(b);
    }
}

impl<D: Direction> Ring<'_, D> {
    /// Exchanges the buffer of slot `i` (which must be in `[head, tail)` with a buffer of the
    /// application) with `b`, and marks the slot `NS_BUF_CHANGED`; the slot's length stays.
    pub fn swap_extra(&mut self, i: u32, b: &mut ExtraBuf) -> Result<(), SwapError> {
        if !std::ptr::eq(self.region(), b.region) {
            return Err(SwapError::OtherRegion);
        }
        let old = self.take_owned_buf(i)?;
        let mut s = self.slot(i);
        s.buf_idx = b.idx;
        s.flags |= NS_BUF_CHANGED;
        // SAFETY: the slot is the application's and gets a buffer the application owns and
        // that nothing else refers to (the ExtraBuf gives it up in exchange for the old one).
        unsafe { self.set_slot(i, s) };
        b.idx = old;
        Ok(())
    }
}
