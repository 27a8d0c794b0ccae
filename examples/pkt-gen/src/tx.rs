//! The sender: fills every bound TX ring in batches, as fast as the rings allow or at `-R` pps.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nmxdp::abi::NS_REPORT;
use nmxdp::{Events, Port};

use crate::chain::Cut;
use crate::frame::{seq, write_seq};
use crate::pieces::{self, Held, Pieces};
use crate::report::{Counters, Diag, DoneGuard};
use crate::stopped;

/// How long the final drain waits for pending transmissions.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// One sending thread's job.
pub struct TxJob {
    /// Thread index (upper 16 bits of the sequence numbers).
    pub index: u32,
    /// Frames to send; 0 = until stopped.
    pub quota: u64,
    pub burst: u32,
    /// This thread's share of `-R` (0 = unlimited).
    pub rate: u64,
    /// The frame (sequence number 0), `-l` bytes.
    pub frame: Vec<u8>,
    /// Frames cut into slot chains (longer than a buffer, `-F`, `-M`); None: one slot each.
    pub cut: Option<Cut>,
    /// `--busy-wait`: NIOCTXSYNC in a loop instead of poll() (upstream's -DBUSYWAIT build).
    pub busy_wait: bool,
}

/// Spaces batches of `burst` frames `burst / rate` seconds apart.
struct Pacer {
    start: Instant,
    rate: u64,
    burst: u64,
    batch: u64,
}

impl Pacer {
    /// A batch size that keeps the period near 1 ms, within `1..=burst`.
    fn new(rate: u64, burst: u32) -> Pacer {
        let b = (rate / 1000).clamp(1, burst.max(1) as u64);
        Pacer {
            start: Instant::now(),
            rate,
            burst: b,
            batch: 0,
        }
    }

    /// Waits for the next batch's start time and returns its size.
    fn next_batch(&mut self) -> u64 {
        let ns = (self.batch as u128 * self.burst as u128 * 1_000_000_000) / self.rate as u128;
        self.batch += 1;
        let at = self.start + Duration::from_nanos(ns.min(u64::MAX as u128) as u64);
        loop {
            let now = Instant::now();
            if now >= at || stopped() {
                break;
            }
            let left = at - now;
            if left > Duration::from_micros(200) {
                std::thread::sleep(left - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
        self.burst
    }
}

/// Runs the sender on `port` until the quota is sent or Ctrl-C. Publishes into `ctrs`.
pub fn run(mut port: Port, job: TxJob, ctrs: &Counters) -> Result<Diag> {
    let _done = DoneGuard(ctrs);
    let rings = port.tx_rings();
    if rings.is_empty() {
        bail!("thread {}: the port has no TX rings bound", job.index);
    }
    let len = job.frame.len();
    let schedule = Schedule {
        index: job.index,
        quota: job.quota,
        burst: job.burst,
        rate: job.rate,
    };
    if let Some(cut) = job.cut {
        return run_chained(port, rings, &job, cut, &schedule, ctrs);
    }
    let max = port.tx_ring(rings.start).max_frame();
    if len > max {
        bail!("frame length {len} exceeds the {max} bytes a netmap buffer carries");
    }
    // Every buffer gets the full frame once; afterwards only its sequence number changes. Per
    // ring and slot: the buffer last given the full frame there (0: none, never a buffer of
    // the application). Buffers stay in their TX slots unless the application swaps them.
    let mut written: Vec<Vec<u32>> = rings
        .clone()
        .map(|r| vec![0; port.tx_ring(r).num_slots() as usize])
        .collect();
    let first = rings.start;
    let step = |ring: &mut nmxdp::TxRing<'_>, r: u32, sent: u64, limit: u32| {
        let w = &mut written[(r - first) as usize];
        let m = fill(ring, &job, w, sent, limit) as u64;
        (m, m * len as u64)
    };
    if job.busy_wait {
        send_waiting::<true>(&mut port, rings, &schedule, ctrs, step)?;
    } else {
        send_waiting::<false>(&mut port, rings, &schedule, ctrs, step)?;
    }
    Ok(Diag::of(&port))
}

/// The sender of frames cut into slot chains: as for frames of one slot, a buffer gets only
/// the bytes its slot's fragment lacks (see [`Pieces`]), the first fragment its sequence number.
fn run_chained(
    mut port: Port,
    rings: std::ops::Range<u32>,
    job: &TxJob,
    cut: Cut,
    schedule: &Schedule,
    ctrs: &Counters,
) -> Result<Diag> {
    let pieces = Pieces::new(&job.frame, cut);
    let len = job.frame.len() as u64;
    let mut held: Vec<Vec<Held>> = rings
        .clone()
        .map(|r| pieces::fresh(port.tx_ring(r).num_slots()))
        .collect();
    let first = rings.start;
    let step = |ring: &mut nmxdp::TxRing<'_>, r: u32, sent: u64, limit: u32| {
        let h = &mut held[(r - first) as usize];
        let m = pieces.fill(ring, h, limit, |k| seq(job.index, sent + k as u64)) as u64;
        (m, m * len)
    };
    if job.busy_wait {
        send_waiting::<true>(&mut port, rings, schedule, ctrs, step)?;
    } else {
        send_waiting::<false>(&mut port, rings, schedule, ctrs, step)?;
    }
    Ok(Diag::of(&port))
}

/// What the sending loop needs of a thread's job.
pub(crate) struct Schedule {
    /// Thread index, for messages.
    pub index: u32,
    /// Frames to send; 0 = until stopped.
    pub quota: u64,
    pub burst: u32,
    /// This thread's share of `-R` (0 = unlimited).
    pub rate: u64,
}

/// The sending loop of every pkt-gen sender (this plain one and `vary`'s per-packet one):
/// batches paced at `-R`, poll() for room, each ring of `rings` given up to the batch's share
/// through `fill(ring, ring number, frames sent so far, limit) -> (frames, bytes)`; then the
/// final drain and the end time.
pub(crate) fn send_loop(
    port: &mut Port,
    rings: std::ops::Range<u32>,
    s: &Schedule,
    ctrs: &Counters,
    fill: impl FnMut(&mut nmxdp::TxRing<'_>, u32, u64, u32) -> (u64, u64),
) -> Result<()> {
    send_waiting::<false>(port, rings, s, ctrs, fill)
}

/// [`send_loop`], waiting for room in poll() or, with `BUSY`, by NIOCTXSYNC in a loop (which
/// also sends what the previous pass queued). A constant, so the poll() loop is compiled as if
/// the busy one did not exist.
fn send_waiting<const BUSY: bool>(
    port: &mut Port,
    rings: std::ops::Range<u32>,
    s: &Schedule,
    ctrs: &Counters,
    mut fill: impl FnMut(&mut nmxdp::TxRing<'_>, u32, u64, u32) -> (u64, u64),
) -> Result<()> {
    let mut pacer = (s.rate > 0).then(|| Pacer::new(s.rate, s.burst));
    let burst = pacer.as_ref().map_or(s.burst as u64, |p| p.burst);
    let mut budget: u64 = 0;
    let (mut sent, mut bytes, mut events) = (0u64, 0u64, 0u64);
    let timeout = Some(Duration::from_millis(2000));
    ctrs.set_tic(Instant::now());
    if let Some(p) = pacer.as_mut() {
        p.start = Instant::now();
    }

    'outer: while !stopped() && (s.quota == 0 || sent < s.quota) {
        if let Some(p) = pacer.as_mut() {
            if budget == 0 {
                budget = p.next_batch();
                if stopped() {
                    break;
                }
            }
        }
        if BUSY {
            port.sync_tx()?;
        } else {
            let rev = port.poll(Events::OUT, timeout)?;
            if rev.contains(Events::ERR) {
                bail!("thread {}: poll reported POLLERR on the TX rings", s.index);
            }
            if rev.is_empty() {
                eprintln!(
                    "pkt-gen: thread {}: poll timeout: no TX room for 2 s",
                    s.index
                );
                continue;
            }
        }
        for r in rings.clone() {
            let mut limit = burst;
            if pacer.is_some() {
                limit = limit.min(budget);
            }
            if s.quota > 0 {
                limit = limit.min(s.quota - sent);
            }
            let mut ring = port.tx_ring(r);
            if ring.is_full() {
                continue;
            }
            let (m, b) = fill(&mut ring, r, sent, limit as u32);
            sent += m;
            bytes += b;
            if m > 0 {
                events += 1;
            }
            ctrs.publish(sent, bytes, events);
            if pacer.is_some() {
                budget -= m;
                if budget == 0 {
                    continue 'outer;
                }
            }
            if s.quota > 0 && sent >= s.quota {
                break 'outer;
            }
        }
    }

    drain(port)?;
    ctrs.set_toc(Instant::now());
    Ok(())
}

/// Fills up to `limit` free slots of `ring` with frames numbered from `first`; returns how many.
/// `written` has, per slot, the buffer that last received the full frame there. Not inlined
/// into the sender's loop, which would leave the per-slot loop short of registers.
#[inline(never)]
fn fill(
    ring: &mut nmxdp::TxRing<'_>,
    job: &TxJob,
    written: &mut [u32],
    first: u64,
    limit: u32,
) -> u32 {
    let frame = &job.frame[..];
    let head = ring.head();
    // Numbers first..first+limit, as one addition per frame unless the 48-bit counter wraps.
    let seq0 = seq(job.index, first);
    let wraps = seq(job.index, first + limit as u64) < seq0;
    let n = ring.send_each(limit, frame.len(), written, |k, idx, buf, w| {
        // Only a buffer that never held the frame in this slot gets all of it (as pkt-gen does
        // on NS_BUF_CHANGED); the others only a new sequence number.
        if *w != idx {
            first_write(buf, frame, w, idx);
        }
        let sq = if wraps {
            seq(job.index, first + k as u64)
        } else {
            seq0 + k as u64
        };
        write_seq(buf, sq);
    });
    if n > 0 {
        // The sync clears NS_REPORT (and NS_BUF_CHANGED) on every slot it sends, and pkt-gen
        // sets no other flag: only the burst's last slot needs a write.
        let last = (head + n - 1) % ring.num_slots();
        ring.set_flags(last, NS_REPORT);
    }
    if n < limit {
        // Not the whole batch: ask poll() to wake us when more room appears.
        let t = ring.tail();
        ring.set_cur(t);
    }
    n
}

/// Copies the whole frame into a buffer that never held it in this slot (once per buffer and
/// slot: out of line).
#[cold]
#[inline(never)]
fn first_write(buf: &mut [u8], frame: &[u8], written: &mut u32, idx: u32) {
    buf.copy_from_slice(frame);
    *written = idx;
}

/// Flushes and waits (up to [`DRAIN_LIMIT`]) until every bound TX ring has nothing pending.
fn drain(port: &mut Port) -> Result<()> {
    port.sync_tx()?;
    let start = Instant::now();
    loop {
        let pending = port.tx_rings().any(|r| port.tx_ring(r).tx_pending());
        if !pending {
            return Ok(());
        }
        if start.elapsed() >= DRAIN_LIMIT {
            let left: u32 = port
                .tx_rings()
                .map(|r| {
                    let ring = port.tx_ring(r);
                    (ring.head() + ring.num_slots() - ring.next(ring.tail())) % ring.num_slots()
                })
                .sum();
            eprintln!(
                "pkt-gen: warning: {left} TX slot(s) still pending after {} s, giving up",
                DRAIN_LIMIT.as_secs()
            );
            return Ok(());
        }
        port.sync_tx()?;
        std::thread::sleep(Duration::from_micros(1));
    }
}
