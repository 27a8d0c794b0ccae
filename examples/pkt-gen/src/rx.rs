//! The receiver: waits for the first packet, then counts (and optionally verifies) everything
//! the bound RX rings deliver.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nmxdp::{Events, Port};

use crate::chain::{take_frames, Gather};
use crate::frame::Verifier;
use crate::report::{Counters, Diag, DoneGuard};
use crate::stopped;

const POLL_TIMEOUT: Duration = Duration::from_millis(1000);

/// One receiving thread's job.
pub struct RxJob {
    pub index: u32,
    pub burst: u32,
    /// `-W`: leave when a 1 s poll sees nothing (after traffic started).
    pub exit_on_idle: bool,
    pub verify: bool,
}

/// Packets still to receive over all threads (`-n`); `None` = forever.
pub struct Quota(Option<AtomicU64>);

impl Quota {
    pub fn new(n: u64) -> Quota {
        Quota((n > 0).then(|| AtomicU64::new(n)))
    }

    /// Takes up to `k` packets from the remaining quota; returns how many were granted.
    pub fn claim(&self, k: u32) -> u32 {
        match &self.0 {
            None => k,
            Some(left) => {
                let prev = left
                    .fetch_update(Relaxed, Relaxed, |r| Some(r - r.min(k as u64)))
                    .unwrap_or(0);
                prev.min(k as u64) as u32
            }
        }
    }

    /// Returns packets claimed and not taken (a claim counts slots, a chain of several is one
    /// packet). Meanwhile another thread may have seen the quota exhausted and left: the others
    /// take the rest.
    pub fn give_back(&self, k: u32) {
        if let (Some(left), true) = (&self.0, k > 0) {
            left.fetch_add(k as u64, Relaxed);
        }
    }

    pub fn exhausted(&self) -> bool {
        self.0.as_ref().is_some_and(|l| l.load(Relaxed) == 0)
    }
}

/// Waits, without a time limit, for the first packets (true) or for `finished` (false), saying
/// every [`POLL_TIMEOUT`] that it still waits, as upstream's receivers do.
pub(crate) fn wait_first(port: &mut Port, index: u32, finished: impl Fn() -> bool) -> Result<bool> {
    loop {
        if finished() {
            return Ok(false);
        }
        let rev = port.poll(Events::IN, Some(POLL_TIMEOUT))?;
        if rev.contains(Events::ERR) {
            bail!("thread {index}: poll reported POLLERR on the RX rings");
        }
        if !rev.is_empty() {
            return Ok(true);
        }
        eprintln!(
            "pkt-gen: thread {index}: waiting for initial packets, poll returns {}",
            rev.bits()
        );
    }
}

/// Runs the receiver on `port` until the quota is reached, Ctrl-C, or (with `-W`) silence.
pub fn run(mut port: Port, job: RxJob, quota: &Quota, ctrs: &Counters) -> Result<Diag> {
    let _done = DoneGuard(ctrs);
    let rings = port.rx_rings();
    if rings.is_empty() {
        bail!("thread {}: the port has no RX rings bound", job.index);
    }
    let finished = || stopped() || quota.exhausted();
    if !wait_first(&mut port, job.index, finished)? {
        return Ok(Diag::of(&port));
    }

    let mut verifier = job.verify.then(Verifier::new);
    let mut gather = Gather::default();
    let (mut pkts, mut bytes, mut events) = (0u64, 0u64, 0u64);
    ctrs.set_tic(Instant::now());
    let mut end = None;
    'outer: while !finished() {
        let rev = port.poll(Events::IN, Some(POLL_TIMEOUT))?;
        if rev.contains(Events::ERR) {
            bail!(
                "thread {}: poll reported POLLERR on the RX rings",
                job.index
            );
        }
        if rev.is_empty() {
            if job.exit_on_idle {
                // The last second was silence: do not count it.
                end = Instant::now().checked_sub(POLL_TIMEOUT);
                break;
            }
            continue;
        }
        let mut free_space = 0u64;
        for r in rings.clone() {
            let mut ring = port.rx_ring(r);
            let n = ring.num_slots();
            free_space += ((ring.head() + n - ring.tail()) % n) as u64;
            let avail = ring.available().min(job.burst);
            if avail == 0 {
                continue;
            }
            // Frames, not slots: a chain (NS_MOREFRAG) is one frame, counted at its last slot.
            let k = quota.claim(avail);
            let took = match verifier.as_mut() {
                None => take_frames(&ring, k, |_, len, _| bytes += len as u64),
                Some(v) => take_frames(&ring, k, |i, len, flags| {
                    bytes += len as u64;
                    if let Some(frame) = gather.push(ring.packet(i).unwrap_or(&[]), flags) {
                        let _ = v.check(frame);
                    }
                }),
            };
            pkts += took.frames as u64;
            quota.give_back(k - took.frames);
            ring.advance(took.slots);
            if took.slots > 0 {
                events += 1;
            }
            if quota.exhausted() {
                break 'outer;
            }
        }
        ctrs.min_space.fetch_min(free_space, Relaxed);
        ctrs.publish(pkts, bytes, events);
    }
    ctrs.publish(pkts, bytes, events);
    // Hand the consumed slots back before the port closes.
    port.sync_rx()?;
    ctrs.set_toc(end.unwrap_or_else(Instant::now));
    if let Some(v) = verifier {
        ctrs.verify_ok.store(v.ok, Relaxed);
        ctrs.verify_bad.store(v.bad, Relaxed);
        if v.foreign > 0 {
            eprintln!(
                "pkt-gen: thread {}: verify: {} frame(s) of other traffic (not IPv4/UDP) ignored",
                job.index, v.foreign
            );
        }
        if let Some(b) = v.first_bad {
            eprintln!("pkt-gen: thread {}: first bad frame: {b:?}", job.index);
        }
    }
    Ok(Diag::of(&port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_claims() {
        let q = Quota::new(10);
        assert_eq!(q.claim(4), 4);
        assert_eq!(q.claim(4), 4);
        assert!(!q.exhausted());
        assert_eq!(q.claim(4), 2);
        assert!(q.exhausted());
        assert_eq!(q.claim(4), 0);
        q.give_back(3);
        assert!(!q.exhausted());
        assert_eq!(q.claim(4), 3);
        let f = Quota::new(0);
        assert_eq!(f.claim(512), 512);
        assert!(!f.exhausted());
    }
}
