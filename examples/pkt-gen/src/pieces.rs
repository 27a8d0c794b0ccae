//! The plain sender's chained frames: one constant frame, cut into fragments, that differ from
//! one frame to the next only in the sequence number.
//!
//! A buffer keeps what it was given while it stays in its TX slot, so, as for frames of one
//! slot, a buffer is written only when its slot needs other bytes than it holds. A slot's
//! fragment changes from one lap of the ring to the next when the ring's size is not a
//! multiple of the slots per frame, but fragments repeat: with pkt-gen's pattern (the byte at
//! frame offset `i` is `i as u8`) and a fragment size that is a multiple of 256, as a buffer's
//! room is, every fragment but the first holds the same bytes. Fragments are sorted into
//! classes of equal bytes; a slot whose buffer holds another class than it needs gets only the
//! bytes where the two classes differ (the 50 bytes of headers and sequence number between the
//! first fragment and the others), the same class nothing but the sequence number.

use std::ops::Range;

use nmxdp::abi::NS_REPORT;
use nmxdp::TxRing;
use pkt_gen::frame::{SEQ_END, SEQ_OFF};

use crate::chain::Cut;

/// No class: the slot's buffer holds nothing known.
const NONE: u16 = u16::MAX;

/// What a slot's buffer holds: (buffer index, class).
pub type Held = (u32, u16);

/// A frame cut into fragments, sorted into classes of equal bytes.
pub struct Pieces {
    len: usize,
    piece: usize,
    slots: u32,
    /// Each fragment: its class, and whether it carries sequence number bytes.
    frags: Vec<Frag>,
    /// Bytes each class's buffers hold (at least as long as any fragment of the class).
    content: Vec<Vec<u8>>,
    /// The sequence number bytes a class carries: (range in the buffer, range in the number).
    seq: Vec<Option<(Range<usize>, Range<usize>)>>,
    /// `diff[a * classes + b]`: the bytes to write into a buffer holding class `a` for class `b`.
    diff: Vec<Range<usize>>,
    /// `near[a * classes + b]`: where a [`NEAR`]-byte window covering `diff` starts in class
    /// `b`, when there is one (copied with a fixed-size move, no call).
    near: Vec<Option<usize>>,
}

/// One fragment of the frame.
#[derive(Clone, Copy)]
struct Frag {
    class: u16,
    numbered: bool,
}

/// Bytes of the fixed-size window a class change is written with when its bytes fit in it.
const NEAR: usize = 64;

impl Pieces {
    /// Cuts `frame` (sequence number 0) as `cut` says.
    pub fn new(frame: &[u8], cut: Cut) -> Pieces {
        let (len, piece) = (frame.len(), cut.piece(frame.len()));
        let seq = SEQ_OFF..SEQ_END.min(len);
        let mut p = Pieces {
            len,
            piece,
            slots: cut.slots(len),
            frags: vec![],
            content: vec![],
            seq: vec![],
            diff: vec![],
            near: vec![],
        };
        for (f, bytes) in frame.chunks(piece).enumerate() {
            let at = f * piece;
            // The sequence number bytes within this fragment.
            let (lo, hi) = (seq.start.max(at), seq.end.min(at + bytes.len()));
            let numbered = (lo < hi).then(|| (lo - at..hi - at, lo - SEQ_OFF..hi - SEQ_OFF));
            // A numbered fragment is a class of its own; the others join one they begin.
            let same = numbered.is_none().then(|| {
                (0..p.content.len())
                    .find(|&c| p.seq[c].is_none() && p.content[c].starts_with(bytes))
            });
            let c = match same.flatten() {
                Some(c) => c,
                None => {
                    p.content.push(bytes.to_vec());
                    p.seq.push(numbered);
                    p.content.len() - 1
                }
            };
            p.frags.push(Frag {
                class: c as u16,
                numbered: p.seq[c].is_some(),
            });
        }
        let k = p.content.len();
        for a in 0..k {
            for b in 0..k {
                let d = p.differ(a, b);
                let lo = d.start.min(p.content[b].len().saturating_sub(NEAR));
                let fits = d.end <= lo + NEAR && lo + NEAR <= p.content[b].len();
                p.near.push(fits.then_some(lo));
                p.diff.push(d);
            }
        }
        p
    }

    /// The bytes of class `b` that a buffer holding class `a` lacks.
    fn differ(&self, a: usize, b: usize) -> Range<usize> {
        let (x, y) = (&self.content[a], &self.content[b]);
        let stale = |i: usize| {
            i >= x.len()
                || x[i] != y[i]
                || self.seq[a].as_ref().is_some_and(|(r, _)| r.contains(&i))
        };
        match (0..y.len()).position(stale) {
            None => 0..0,
            Some(lo) => lo..(lo..y.len()).rev().find(|&i| stale(i)).unwrap_or(lo) + 1,
        }
    }

    /// Number of fragment classes.
    #[cfg(test)]
    fn classes(&self) -> usize {
        self.content.len()
    }

    /// Makes `buf` (buffer `idx`, whose slot state is `held`) hold fragment `f` of the frame
    /// numbered `seq`.
    #[inline]
    fn write(&self, buf: &mut [u8], idx: u32, held: &mut Held, f: Frag, seq: &[u8; 8]) {
        let b = f.class;
        if *held != (idx, b) {
            self.rewrite(buf, idx, held, b);
        }
        if f.numbered {
            self.number(buf, b, seq);
        }
    }

    /// Gives `buf` the bytes of class `b` it lacks: a fixed-size window when the slot's
    /// fragment changed within the same buffer, else (once per buffer and slot) all of it.
    #[inline]
    fn rewrite(&self, buf: &mut [u8], idx: u32, held: &mut Held, b: u16) {
        let want = &self.content[b as usize];
        let ab = held.1 as usize * self.content.len() + b as usize;
        if held.0 == idx && held.1 != NONE {
            if let Some(lo) = self.near[ab] {
                let src: Option<&[u8; NEAR]> =
                    want.get(lo..lo + NEAR).and_then(|w| w.try_into().ok());
                let dst: Option<&mut [u8; NEAR]> =
                    buf.get_mut(lo..lo + NEAR).and_then(|d| d.try_into().ok());
                if let (Some(src), Some(dst)) = (src, dst) {
                    *dst = *src;
                    held.1 = b;
                    return;
                }
            }
        }
        self.rewrite_far(buf, idx, held, b);
    }

    /// [`Pieces::rewrite`] of more than a window (out of line: rare).
    #[cold]
    #[inline(never)]
    fn rewrite_far(&self, buf: &mut [u8], idx: u32, held: &mut Held, b: u16) {
        let want = &self.content[b as usize];
        let r = if held.0 == idx && held.1 != NONE {
            self.diff[held.1 as usize * self.content.len() + b as usize].clone()
        } else {
            0..want.len()
        };
        // A broken buffer is left alone (empty): the sync drops the chain and counts it.
        if let Some(dst) = buf.get_mut(r.clone()) {
            dst.copy_from_slice(&want[r]);
            *held = (idx, b);
        }
    }

    /// Writes the sequence number bytes class `b` carries.
    #[inline]
    fn number(&self, buf: &mut [u8], b: u16, seq: &[u8; 8]) {
        if let Some((at, from)) = &self.seq[b as usize] {
            // The whole number in one fragment (the usual case) is one fixed-size store.
            let whole =
                (from.len() == seq.len()).then(|| buf.get_mut(at.start..at.start + seq.len()));
            if let Some(Some(dst)) = whole {
                dst.copy_from_slice(seq);
            } else if let Some(dst) = buf.get_mut(at.clone()) {
                dst.copy_from_slice(&seq[from.clone()]);
            }
        }
    }

    /// Queues up to `limit` frames on `ring`, numbered `seq(k)` for k from 0, each only when the
    /// ring has slots for all of it; `held` has an entry per slot of the ring. Returns how many.
    pub fn fill(
        &self,
        ring: &mut TxRing<'_>,
        held: &mut [Held],
        limit: u32,
        mut seq: impl FnMut(u32) -> u64,
    ) -> u32 {
        let head = ring.head();
        let mut sq = [0u8; 8];
        let n = ring.send_each_chained(limit, self.len, self.piece, held, |k, p, idx, buf, h| {
            // A frame's first piece comes first: its number serves the pieces after it.
            if p == 0 {
                sq = seq(k).to_le_bytes();
            }
            self.write(buf, idx, h, self.frags[p as usize], &sq);
            0
        });
        if n > 0 {
            // The sync clears NS_REPORT on every slot it sends: only the burst's last slot
            // needs a write.
            let last = (head + n * self.slots - 1) % ring.num_slots();
            ring.set_flags(last, NS_REPORT);
        }
        if n < limit {
            // Not the whole batch: ask poll() to wake us when more room appears.
            let t = ring.tail();
            ring.set_cur(t);
        }
        n
    }
}

/// Per-slot state of a ring that holds nothing yet.
pub fn fresh(slots: u32) -> Vec<Held> {
    vec![(u32::MAX, NONE); slots as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frame` cut as `-F frags` with fragments of at most `cap` bytes.
    fn cut(frame: &[u8], frags: u32, cap: usize) -> Pieces {
        Pieces::new(frame, Cut { frags, cap })
    }
    use pkt_gen::frame::{build, write_seq, FrameSpec};

    fn frame(len: usize) -> Vec<u8> {
        build(&FrameSpec::defaults([2, 0, 0, 0, 0, 1], len))
    }

    /// Writes every fragment of frames into buffers whose slot state starts as `held` and checks
    /// each against the frame with its number.
    fn check(p: &Pieces, frame: &[u8], order: &[usize]) {
        let mut bufs = vec![vec![0u8; p.piece.max(64)]; order.len()];
        let mut held = fresh(order.len() as u32);
        for n in 0..4u64 {
            let sq = 1000u64 + n;
            let mut want = frame.to_vec();
            write_seq(&mut want, sq);
            // Slot s holds fragment order[(s + n) % len]: the frames shift every lap.
            for s in 0..order.len() {
                let f = order[(s + n as usize) % order.len()];
                p.write(
                    &mut bufs[s],
                    7 + s as u32,
                    &mut held[s],
                    p.frags[f],
                    &sq.to_le_bytes(),
                );
                let piece = &want[f * p.piece..((f + 1) * p.piece).min(want.len())];
                assert_eq!(
                    &bufs[s][..piece.len()],
                    piece,
                    "lap {n} slot {s} fragment {f}"
                );
            }
        }
    }

    #[test]
    fn room_sized_fragments_fall_into_two_classes() {
        let f = frame(9000);
        let p = cut(&f, 1, 1792);
        assert_eq!((p.slots, p.classes()), (6, 2));
        // Between the first fragment and the others only headers and number differ.
        assert_eq!(p.diff[1], 0..SEQ_END);
        assert_eq!(p.diff[2], 0..SEQ_END);
        assert_eq!(p.diff[3], 0..0);
        check(&p, &f, &[0, 1, 2, 3, 4, 5, 0]);
        let p = cut(&f, 1, 3840);
        assert_eq!((p.slots, p.classes()), (3, 2));
        check(&p, &f, &[0, 1, 2, 0, 1]);
    }

    #[test]
    fn odd_cuts_and_a_number_across_fragments() {
        let f = frame(9000);
        let p = cut(&f, 8, 1792);
        assert_eq!(p.slots, 8);
        check(&p, &f, &[0, 1, 2, 3, 4, 5, 6, 7, 3, 0, 5]);
        // 60 bytes in fragments of 5: the number spans three of them.
        let f = frame(60);
        let p = cut(&f, 12, 1792);
        assert_eq!(p.slots, 12);
        check(&p, &f, &[8, 9, 10, 0, 1, 8, 9, 10, 11]);
    }

    #[test]
    fn a_new_buffer_gets_its_whole_class() {
        let f = frame(9000);
        let p = cut(&f, 1, 1792);
        let mut buf = vec![0xeeu8; 1792];
        let mut held = (3, 1);
        p.write(&mut buf, 4, &mut held, p.frags[1], &[0; 8]);
        assert_eq!(held, (4, 1));
        assert_eq!(&buf[..], &f[1792..3584]);
    }
}
