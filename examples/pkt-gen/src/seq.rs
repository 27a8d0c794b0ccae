//! rxseq's check of txseq's numbers (32-bit, big-endian, first bytes of the UDP payload), as
//! upstream does it per RX ring: the first frame sets the expected number; a frame carrying
//! another number is a "Sequence GAP" when it is ahead (frames were lost) and "Sequence OUT OF
//! ORDER" when it is behind; either way the count resumes after the number found. Upstream
//! prints at most two of these lines a second (stderr); so does this, and it also counts them
//! all for the summary line [`SeqTotals::line`].

use std::time::{Duration, Instant, SystemTime};

use crate::report::timestamp;

/// Where txseq's number sits: after Ethernet, IPv4 or IPv6 (any other ethertype reads as
/// IPv6, as upstream), and UDP headers.
#[inline]
pub fn number(frame: &[u8]) -> Option<u32> {
    let off = if frame.get(12..14)? == [0x08, 0x00] {
        42
    } else {
        62
    };
    let b = frame.get(off..off + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// What a number said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    InOrder,
    Gap {
        exp: u32,
        found: u32,
    },
    OutOfOrder {
        exp: u32,
        found: u32,
    },
    /// Too short to carry a number.
    Short,
}

/// Counts over a run (summed over threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqTotals {
    pub gaps: u64,
    /// Numbers skipped over by the gaps.
    pub missing: u64,
    pub out_of_order: u64,
    pub short: u64,
}

impl SeqTotals {
    pub fn add(&mut self, o: &SeqTotals) {
        self.gaps += o.gaps;
        self.missing += o.missing;
        self.out_of_order += o.out_of_order;
        self.short += o.short;
    }

    /// The summary line after "Received ...".
    pub fn line(&self) -> String {
        let mut l = format!(
            "Sequence: {} gaps ({} frames missing), {} out of order",
            self.gaps, self.missing, self.out_of_order
        );
        if self.short > 0 {
            l.push_str(&format!(", {} too short to carry a number", self.short));
        }
        l
    }
}

/// One thread's checker over its RX rings.
pub struct SeqCheck {
    exp: Vec<Option<u32>>,
    pub totals: SeqTotals,
    window: Instant,
    printed: u32,
}

/// Lines per second, as upstream's `RD(2, ...)`.
const LINES_PER_SEC: u32 = 2;

impl SeqCheck {
    pub fn new(rings: usize) -> SeqCheck {
        SeqCheck {
            exp: vec![None; rings],
            totals: SeqTotals::default(),
            window: Instant::now(),
            printed: 0,
        }
    }

    /// Checks the frame received on ring `ring` (0-based among the thread's rings).
    #[inline]
    pub fn check(&mut self, ring: usize, frame: &[u8]) -> Finding {
        let Some(seq) = number(frame) else {
            self.totals.short += 1;
            return Finding::Short;
        };
        let exp = &mut self.exp[ring];
        let f = match *exp {
            Some(e) if e != seq => {
                let delta = seq.wrapping_sub(e);
                if delta < (u32::MAX >> 1) {
                    self.totals.gaps += 1;
                    self.totals.missing += delta as u64;
                    Finding::Gap { exp: e, found: seq }
                } else {
                    self.totals.out_of_order += 1;
                    Finding::OutOfOrder { exp: e, found: seq }
                }
            }
            _ => Finding::InOrder,
        };
        *exp = Some(seq.wrapping_add(1));
        if !matches!(f, Finding::InOrder) {
            self.report(f);
        }
        f
    }

    #[cold]
    fn report(&mut self, f: Finding) {
        let now = Instant::now();
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.printed = 0;
        }
        if self.printed >= LINES_PER_SEC {
            return;
        }
        self.printed += 1;
        if let Some(l) = finding_line(f) {
            eprintln!("{} rxseq_body {l}", timestamp(SystemTime::now()));
        }
    }
}

/// Upstream's text for a finding.
pub fn finding_line(f: Finding) -> Option<String> {
    match f {
        Finding::Gap { exp, found } => Some(format!("Sequence GAP: exp {exp} found {found}")),
        Finding::OutOfOrder { exp, found } => {
            Some(format!("Sequence OUT OF ORDER: exp {exp} found {found}"))
        }
        Finding::Short => Some("rxseq_body: packet too small".into()),
        Finding::InOrder => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(seq: u32) -> Vec<u8> {
        let mut v = vec![0u8; 60];
        v[12..14].copy_from_slice(&[0x08, 0x00]);
        v[42..46].copy_from_slice(&seq.to_be_bytes());
        v
    }

    #[test]
    fn numbers() {
        assert_eq!(number(&f(0x01020304)), Some(0x01020304));
        let mut v6 = vec![0u8; 70];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[62..66].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(number(&v6), Some(7));
        assert_eq!(number(&f(1)[..45]), None);
    }

    #[test]
    fn clean_run() {
        let mut c = SeqCheck::new(1);
        for s in 100..200 {
            assert_eq!(c.check(0, &f(s)), Finding::InOrder);
        }
        assert_eq!(c.totals, SeqTotals::default());
        assert_eq!(
            c.totals.line(),
            "Sequence: 0 gaps (0 frames missing), 0 out of order"
        );
    }

    #[test]
    fn gap_and_reorder_as_upstream() {
        let mut c = SeqCheck::new(2);
        let mut out = vec![];
        for s in [0, 1, 2, 5, 6, 4, 7] {
            out.push(c.check(0, &f(s)));
        }
        assert_eq!(out[3], Finding::Gap { exp: 3, found: 5 });
        assert_eq!(out[5], Finding::OutOfOrder { exp: 7, found: 4 });
        // Upstream resumes after the number found: 7 after 4 is a gap of 2.
        assert_eq!(out[6], Finding::Gap { exp: 5, found: 7 });
        assert_eq!(
            c.totals,
            SeqTotals {
                gaps: 2,
                missing: 4,
                out_of_order: 1,
                short: 0
            }
        );
        // Rings are independent; the counter wraps.
        assert_eq!(c.check(1, &f(u32::MAX)), Finding::InOrder);
        assert_eq!(c.check(1, &f(0)), Finding::InOrder);
        assert_eq!(
            finding_line(Finding::Gap { exp: 3, found: 5 }).unwrap(),
            "Sequence GAP: exp 3 found 5"
        );
        assert_eq!(
            finding_line(Finding::OutOfOrder { exp: 7, found: 4 }).unwrap(),
            "Sequence OUT OF ORDER: exp 7 found 4"
        );
    }
}
