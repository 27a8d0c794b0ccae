//! The receiver's pauses between two passes over its rings, and the line pkt-gen prints about
//! them (after a kernel drop, or with `--stats`):
//!
//! ```text
//! Receiver gaps: longest 5001 us (5000 us waiting in poll, 41 slots after it); fullest 1023 slots after 2410 us (2400 us waiting in poll); 3 preemptions
//! ```
//!
//! A stream loses frames when the receiver does not hand buffers back for as long as its
//! buffers last: 2048 on a default port, about 2 ms at veth's full rate, which a paced sender
//! reaches when it catches up after a stall of its own. The *longest* pause says whether the
//! receiver ever stopped for long (few slots after it: the sender had stopped too); the
//! *fullest* pass says how far it fell behind and after what pause: a full ring after a pause
//! spent waiting in poll() (whose naps are 50 µs) means its wake-up came milliseconds late; a
//! pause outside poll() with preemptions means another task held its CPU.
//!
//! pkt-gen prints the line through [`Gaps::line`]; the bench harness reads it with
//! [`Gaps::parse`].

use std::time::{Duration, Instant};

/// One pause: its length, the part spent in the wait that ended it, and the slots the RX
/// rings held when it ended (at most the rings' size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pause {
    pub gap: Duration,
    pub in_wait: Duration,
    pub slots: u64,
}

/// What one or more receiving threads saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gaps {
    /// The longest time between the ends of two consecutive waits that found frames.
    pub longest: Pause,
    /// The pass that found the most slots waiting.
    pub fullest: Pause,
    /// Times the kernel took the CPU from a receiving thread (`getrusage`'s `ru_nivcsw`).
    pub preemptions: u64,
}

impl Gaps {
    /// Several threads: the longest and the fullest of all, preemptions summed.
    pub fn merge(&mut self, o: &Gaps) {
        if o.longest.gap > self.longest.gap {
            self.longest = o.longest;
        }
        if o.fullest.slots > self.fullest.slots {
            self.fullest = o.fullest;
        }
        self.preemptions += o.preemptions;
    }

    /// The line described in the module comment.
    pub fn line(&self) -> String {
        let (l, f) = (&self.longest, &self.fullest);
        format!(
            "Receiver gaps: longest {} us ({} us waiting in poll, {} slots after it); fullest {} slots after {} us ({} us waiting in poll); {} preemptions",
            l.gap.as_micros(),
            l.in_wait.as_micros(),
            l.slots,
            f.slots,
            f.gap.as_micros(),
            f.in_wait.as_micros(),
            self.preemptions
        )
    }

    /// Reads [`Gaps::line`] from a program's output (None when there is none).
    pub fn parse(out: &str) -> Option<Gaps> {
        let l = out.lines().find_map(|l| l.strip_prefix("Receiver gaps:"))?;
        let n: Vec<u64> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let us = Duration::from_micros;
        match n[..] {
            [lg, lw, ls, fs, fg, fw, preemptions] => Some(Gaps {
                longest: Pause {
                    gap: us(lg),
                    in_wait: us(lw),
                    slots: ls,
                },
                fullest: Pause {
                    gap: us(fg),
                    in_wait: us(fw),
                    slots: fs,
                },
                preemptions,
            }),
            _ => None,
        }
    }
}

/// Follows one receiving thread's passes. Two clock reads per pass (vDSO, tens of
/// nanoseconds), against a pass that moves tens of frames in a stream.
#[derive(Debug)]
pub struct GapClock {
    last: Option<Instant>,
    gaps: Gaps,
    preempted_at_start: u64,
}

impl Default for GapClock {
    fn default() -> Self {
        GapClock {
            last: None,
            gaps: Gaps::default(),
            preempted_at_start: thread_preemptions(),
        }
    }
}

impl GapClock {
    /// A wait that began at `waited_from` found frames at `woke`, and the pass after it found
    /// `slots` slots in the rings.
    #[inline]
    pub fn pass(&mut self, waited_from: Instant, woke: Instant, slots: u64) {
        let last = self.last.unwrap_or(woke);
        self.last = Some(woke);
        let p = Pause {
            gap: woke.saturating_duration_since(last),
            in_wait: woke.saturating_duration_since(waited_from.max(last)),
            slots,
        };
        if p.gap > self.gaps.longest.gap {
            self.gaps.longest = p;
        }
        if p.slots > self.gaps.fullest.slots {
            self.gaps.fullest = p;
        }
    }

    /// What the thread saw since [`GapClock::default`]; call on the same thread.
    pub fn finish(&self) -> Gaps {
        Gaps {
            preemptions: thread_preemptions().saturating_sub(self.preempted_at_start),
            ..self.gaps
        }
    }
}

/// Involuntary context switches of the calling thread so far (0 if the kernel does not say).
pub fn thread_preemptions() -> u64 {
    // SAFETY: rusage is plain integers, for which all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a live, writable rusage; RUSAGE_THREAD reads the calling thread's counters.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return 0;
    }
    ru.ru_nivcsw.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips() {
        let us = Duration::from_micros;
        let g = Gaps {
            longest: Pause {
                gap: us(5001),
                in_wait: us(5000),
                slots: 41,
            },
            fullest: Pause {
                gap: us(2410),
                in_wait: us(2400),
                slots: 1023,
            },
            preemptions: 3,
        };
        let out = format!("Speed: 1 Kpps\n{}\n", g.line());
        assert_eq!(Gaps::parse(&out), Some(g));
        assert_eq!(Gaps::parse("Speed: 1 Kpps\n"), None);
    }

    #[test]
    fn longest_and_fullest() {
        let mut c = GapClock::default();
        let t = Instant::now();
        let us = Duration::from_micros;
        c.pass(t, t + us(10), 3);
        c.pass(t + us(20), t + us(70), 30); // gap 60, 50 of it waiting
        c.pass(t + us(75), t + us(90), 90); // gap 20
        let g = c.finish();
        assert_eq!(
            g.longest,
            Pause {
                gap: us(60),
                in_wait: us(50),
                slots: 30
            }
        );
        assert_eq!(
            g.fullest,
            Pause {
                gap: us(20),
                in_wait: us(15),
                slots: 90
            }
        );
        let mut m = Gaps {
            longest: Pause {
                gap: us(30),
                ..Pause::default()
            },
            fullest: Pause {
                slots: 100,
                ..Pause::default()
            },
            preemptions: 1,
        };
        m.merge(&g);
        assert_eq!((m.longest.gap, m.fullest.slots), (us(60), 100));
        assert_eq!(m.preemptions, 1 + g.preemptions);
    }
}
