//! The receiver: waits for the first packet, then counts (and optionally verifies) everything
//! the bound RX rings deliver.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nmxdp::{Events, Port};
use pkt_gen::gaps::GapClock;

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
    /// `--busy-wait`: once traffic started, NIOCRXSYNC in a loop instead of poll() (upstream's
    /// -DBUSYWAIT build).
    pub busy_wait: bool,
}

/// Passes of a busy-waiting receiver that found nothing between two looks at the clock (for
/// `-W`): a clock read per empty pass would cost more than the pass.
const SPINS_PER_CLOCK: u32 = 1024;

/// How a receiver waits for frames once traffic started: the poll() of every pkt-gen, or
/// (`BUSY`) a sync in a loop. A constant parameter, so the poll() loop is compiled as if the busy
/// one did not exist.
struct Waiter<const BUSY: bool> {
    /// Empty passes since the last frame (busy-waiting).
    spins: u32,
    /// When the busy-waiting receiver first saw a long run of empty passes.
    idle_since: Option<Instant>,
    /// The last pass left frames in a ring (more than a burst had arrived).
    left: bool,
}

/// What [`Waiter::wait`] found.
enum Waited {
    /// The rings may hold frames.
    Frames,
    /// Nothing yet: wait again.
    Nothing,
    /// Silence since this time, for a whole [`POLL_TIMEOUT`].
    Idle(Option<Instant>),
}

impl<const BUSY: bool> Waiter<BUSY> {
    fn new() -> Self {
        Waiter {
            spins: 0,
            idle_since: None,
            left: false,
        }
    }

    /// Waits (poll) or looks (busy) for frames on `port`'s RX rings.
    #[inline(always)]
    fn wait(&mut self, port: &mut Port, index: u32) -> Result<Waited> {
        if BUSY {
            // A NIC port says without a syscall whether the kernel delivered anything since the
            // last sync (a pipe end always says yes: its sync is a look at shared memory).
            if !self.left && !port.rx_waiting() {
                return Ok(self.empty());
            }
            port.sync_rx()?;
            return Ok(Waited::Frames);
        }
        let rev = port.poll(Events::IN, Some(POLL_TIMEOUT))?;
        if rev.contains(Events::ERR) {
            bail!("thread {index}: poll reported POLLERR on the RX rings");
        }
        if rev.is_empty() {
            // The last second was silence: do not count it.
            return Ok(Waited::Idle(Instant::now().checked_sub(POLL_TIMEOUT)));
        }
        Ok(Waited::Frames)
    }

    /// A pass that found nothing (busy-waiting): [`Waited::Idle`] once the passes since the
    /// last frame have lasted [`POLL_TIMEOUT`], the clock read every [`SPINS_PER_CLOCK`] passes.
    #[cold]
    fn empty(&mut self) -> Waited {
        self.spins = self.spins.wrapping_add(1);
        if !self.spins.is_multiple_of(SPINS_PER_CLOCK) {
            std::hint::spin_loop();
            return Waited::Nothing;
        }
        let now = Instant::now();
        match self.idle_since {
            None => self.idle_since = Some(now),
            Some(t) if now - t >= POLL_TIMEOUT => return Waited::Idle(Some(t)),
            Some(_) => {}
        }
        Waited::Nothing
    }

    /// After a pass over the rings that took `slots` slots and `left` frames in them.
    #[inline(always)]
    fn took(&mut self, slots: u32, left: bool) -> Waited {
        if BUSY {
            self.left = left;
            if slots > 0 {
                self.spins = 0;
                self.idle_since = None;
            } else {
                return self.empty();
            }
        }
        Waited::Frames
    }
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
    if job.busy_wait {
        receive(port, &job, Waiter::<true>::new(), quota, ctrs)
    } else {
        receive(port, &job, Waiter::<false>::new(), quota, ctrs)
    }
}

/// The receiving loop, from the first frame on: counts (and verifies) frames until the quota is
/// reached, Ctrl-C, or (with `-W`) a second of silence.
fn receive<const BUSY: bool>(
    mut port: Port,
    job: &RxJob,
    mut waiter: Waiter<BUSY>,
    quota: &Quota,
    ctrs: &Counters,
) -> Result<Diag> {
    let rings = port.rx_rings();
    let finished = || stopped() || quota.exhausted();

    let mut verifier = job.verify.then(Verifier::new);
    let mut gather = Gather::default();
    let (mut pkts, mut bytes, mut events) = (0u64, 0u64, 0u64);
    ctrs.set_tic(Instant::now());
    let mut end = None;
    let mut gaps = GapClock::default();
    while !finished() {
        // A busy receiver's waits are its own spins: only poll()'s are timed.
        let waited_from = (!BUSY).then(Instant::now);
        match waiter.wait(&mut port, job.index)? {
            Waited::Frames => {}
            Waited::Nothing => continue,
            Waited::Idle(since) => {
                if job.exit_on_idle {
                    end = since;
                    break;
                }
                continue;
            }
        }
        let woke = Instant::now();
        let mut free_space = 0u64;
        let (mut slots, mut left, mut found, mut quota_reached) = (0u32, false, 0u64, false);
        for r in rings.clone() {
            let mut ring = port.rx_ring(r);
            let n = ring.num_slots();
            free_space += ((ring.head() + n - ring.tail()) % n) as u64;
            found += ring.available() as u64;
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
            slots += took.slots;
            if BUSY {
                // poll() would see these at once; a busy pass must not wait for the kernel.
                left |= ring.available() > 0;
            }
            if took.slots > 0 {
                events += 1;
            }
            if quota.exhausted() {
                quota_reached = true;
                break;
            }
        }
        gaps.pass(waited_from.unwrap_or(woke), woke, found);
        if quota_reached {
            break;
        }
        ctrs.min_space.fetch_min(free_space, Relaxed);
        ctrs.publish(pkts, bytes, events);
        if let Waited::Idle(since) = waiter.took(slots, left) {
            if job.exit_on_idle {
                end = since;
                break;
            }
        }
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
    let mut diag = Diag::of(&port);
    diag.gaps = Some(gaps.finish());
    Ok(diag)
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
