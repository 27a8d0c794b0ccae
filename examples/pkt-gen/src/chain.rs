//! Frames that take several slots: netmap's `NS_MOREFRAG` chains (jumbo frames, `-F`, `-M`).
//!
//! The sender cuts each frame as upstream's pkt-gen does: `-F N` fragments of equal size, none
//! larger than `-M` nor than what one buffer carries (then as many fragments as that takes);
//! the last fragment takes the rest. The receivers walk whole frames: a chain is never split
//! between two passes, so a frame is counted, checked and released at once.

use nmxdp::abi::{NS_MOREFRAG, NS_REPORT};
use nmxdp::{RxRing, TxRing};

use crate::dump;

/// How frames are cut into fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// `-F`: fragments asked for (at least 1).
    pub frags: u32,
    /// Largest fragment: `-M` and a buffer's room, whichever is smaller.
    pub cap: usize,
}

impl Cut {
    /// Bytes of every fragment but the last of a `len`-byte frame.
    #[inline]
    pub fn piece(&self, len: usize) -> usize {
        len.div_ceil(self.frags.max(1) as usize)
            .min(self.cap)
            .max(1)
    }

    /// Slots a `len`-byte frame takes.
    #[inline]
    pub fn slots(&self, len: usize) -> u32 {
        len.div_ceil(self.piece(len)).max(1) as u32
    }
}

/// What the chained sender does to each frame besides copying it.
pub struct ChainFill<'a> {
    pub cut: Cut,
    /// The frame being built, as long as the longest frame.
    pub frame: &'a mut [u8],
    /// `-r`: send the buffers as they are (only lengths and flags are set).
    pub copy: bool,
    /// `-X`: dump every fragment.
    pub dump: bool,
}

impl ChainFill<'_> {
    /// Queues up to `limit` frames of `len` bytes on `ring`, each made by `make(k, frame)` (k
    /// from 0) and cut into a chain; a frame is made only when the ring has slots for all of
    /// it. Returns (frames, bytes).
    pub fn fill(
        &mut self,
        ring: &mut TxRing<'_>,
        limit: u32,
        len: usize,
        mut make: impl FnMut(u32, &mut [u8]),
    ) -> (u32, u64) {
        // SAFETY: the pointer is only printed by -X, never dereferenced.
        let ring_addr = unsafe { ring.as_raw() } as usize;
        let mut batch = ring.batch();
        let (piece, need) = (self.cut.piece(len), self.cut.slots(len));
        let mut n = 0u32;
        while n < limit && batch.remaining() >= need {
            make(n, self.frame);
            let mut pieces = self.frame[..len].chunks(piece).peekable();
            while let Some(p) = pieces.next() {
                let mut s = batch.slot().expect("slots counted above");
                let buf = s.buf_mut();
                // A broken buffer is left alone: the sync drops the chain and counts it.
                if self.copy && buf.len() >= p.len() {
                    buf[..p.len()].copy_from_slice(p);
                }
                if self.dump {
                    let (i, idx, flags) = (s.index(), s.buf_idx().unwrap_or(0), s.flags());
                    let b = s.buf_mut();
                    let shown = p.len().min(b.len());
                    dump::print(ring_addr, i, idx, flags, &b[..shown]);
                }
                if pieces.peek().is_some() {
                    s.send_more(p.len());
                } else {
                    if n + 1 == limit {
                        s.set_flags(NS_REPORT);
                    }
                    s.send(p.len());
                }
            }
            n += 1;
        }
        drop(batch);
        if n < limit {
            // Not the whole batch: ask poll() to wake us when more room appears.
            let t = ring.tail();
            ring.set_cur(t);
        }
        (n, n as u64 * len as u64)
    }
}

/// What [`take_frames`] took from a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Took {
    /// Slots to release.
    pub slots: u32,
    /// Frames among them (slots without `NS_MOREFRAG`).
    pub frames: u32,
}

/// Walks whole frames from `head` in `window` slots: `f(slot, len, flags)` for each of their
/// slots in order. A chain the window ends inside is taken to its end (the kernel side shows
/// chains whole), so no frame is split between two passes; the window's slots hold at most
/// `window` frames, the chain's end included. `head` does not move: release [`Took::slots`].
#[inline]
pub fn take_frames(ring: &RxRing<'_>, window: u32, mut f: impl FnMut(u32, u16, u16)) -> Took {
    let mut frames = 0u32;
    // Frames end at slots without NS_MOREFRAG. Only counted here: the receiver's loop stays
    // as short as when every slot was a frame.
    let slots = ring.for_each_slot(window, |i, len, flags| {
        f(i, len, flags);
        frames += u32::from(flags & NS_MOREFRAG == 0);
    });
    let mut t = Took { slots, frames };
    if slots > 0 {
        let last = (ring.head() + slots - 1) % ring.num_slots();
        if ring.slot(last).flags & NS_MOREFRAG != 0 {
            take_rest(ring, &mut t, &mut f);
        }
    }
    t
}

/// The rest of a chain that the window ended inside.
#[cold]
fn take_rest(ring: &RxRing<'_>, t: &mut Took, f: &mut impl FnMut(u32, u16, u16)) {
    let avail = ring.available();
    let mut i = (ring.head() + t.slots) % ring.num_slots();
    while t.slots < avail {
        let s = ring.slot(i);
        f(i, s.len, s.flags);
        t.slots += 1;
        if s.flags & NS_MOREFRAG == 0 {
            t.frames += 1;
            return;
        }
        i = ring.next(i);
    }
}

/// Gathers a frame's fragments for the checks that want it in one piece; frames of one slot
/// are looked at in place.
#[derive(Default)]
pub struct Gather {
    buf: Vec<u8>,
    chained: bool,
}

impl Gather {
    /// Adds one slot's bytes; returns the whole frame when this slot ends it.
    #[inline]
    pub fn push<'a>(&'a mut self, bytes: &'a [u8], flags: u16) -> Option<&'a [u8]> {
        let more = flags & NS_MOREFRAG != 0;
        if !more && !self.chained {
            return Some(bytes);
        }
        if !self.chained {
            self.buf.clear();
            self.chained = true;
        }
        self.buf.extend_from_slice(bytes);
        if more {
            return None;
        }
        self.chained = false;
        Some(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_like_upstream() {
        let c = |frags, cap| Cut { frags, cap };
        // One buffer's room (2048-byte buffers): 9000 bytes take 6 slots, 1792 each but 40.
        assert_eq!((c(1, 1792).piece(9000), c(1, 1792).slots(9000)), (1792, 6));
        // -F 3 of a 100-byte frame: 34 + 34 + 32.
        assert_eq!((c(3, 1792).piece(100), c(3, 1792).slots(100)), (34, 3));
        // -M 64 caps the fragments.
        assert_eq!((c(2, 64).piece(1000), c(2, 64).slots(1000)), (64, 16));
        // A frame that fits stays one slot.
        assert_eq!(c(1, 1792).slots(60), 1);
        // No more fragments than bytes.
        assert_eq!(c(63, 1792).slots(60), 60);
    }

    #[test]
    fn gather_joins_chains_and_passes_single_slots() {
        let mut g = Gather::default();
        assert_eq!(g.push(b"abc", 0), Some(&b"abc"[..]));
        assert_eq!(g.push(b"ab", NS_MOREFRAG), None);
        assert_eq!(g.push(b"cd", NS_MOREFRAG), None);
        assert_eq!(g.push(b"e", 0), Some(&b"abcde"[..]));
        assert_eq!(g.push(b"x", 0), Some(&b"x"[..]));
    }
}
