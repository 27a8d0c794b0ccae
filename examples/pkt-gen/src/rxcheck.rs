//! The receiver that looks at every frame: `-f rxseq` (txseq's numbers checked, see
//! [`crate::seq`]) and `-f rx -X` (every frame dumped). Its loop is the plain receiver's
//! (`rx.rs`): an unbounded wait for the first packet, then `-b` slots per ring per round until
//! the quota, Ctrl-C or (with `-W`) a second of silence.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nmxdp::abi::NS_MOREFRAG;
use nmxdp::{Events, Port};

use crate::chain::take_frames;
use crate::report::{Counters, Diag, DoneGuard};
use crate::rx::{wait_first, Quota};
use crate::seq::{SeqCheck, SeqTotals};
use crate::{dump, stopped};

const POLL_TIMEOUT: Duration = Duration::from_millis(1000);

pub struct CheckJob {
    pub index: u32,
    pub burst: u32,
    pub exit_on_idle: bool,
    /// `-X`.
    pub dump: bool,
    /// rxseq: check the numbers.
    pub seq: bool,
}

pub fn run(
    mut port: Port,
    job: CheckJob,
    quota: &Quota,
    ctrs: &Counters,
    totals: &Mutex<SeqTotals>,
) -> Result<Diag> {
    let _done = DoneGuard(ctrs);
    let rings = port.rx_rings();
    if rings.is_empty() {
        bail!("thread {}: the port has no RX rings bound", job.index);
    }
    let finished = || stopped() || quota.exhausted();
    if !wait_first(&mut port, job.index, finished)? {
        return Ok(Diag::of(&port));
    }

    let mut check = job.seq.then(|| SeqCheck::new(rings.len()));
    let mut frame_start = true;
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
                end = Instant::now().checked_sub(POLL_TIMEOUT);
                break;
            }
            continue;
        }
        let mut free_space = 0u64;
        for (ri, r) in rings.clone().enumerate() {
            let mut ring = port.rx_ring(r);
            let n = ring.num_slots();
            free_space += ((ring.head() + n - ring.tail()) % n) as u64;
            let avail = ring.available().min(job.burst);
            if avail == 0 {
                continue;
            }
            let k = quota.claim(avail);
            // SAFETY: the pointer is only printed by -X, never dereferenced.
            let ring_addr = unsafe { ring.as_raw() } as usize;
            let took = take_frames(&ring, k, |i, len, flags| {
                bytes += len as u64;
                let p = ring.packet(i).unwrap_or(&[]);
                if job.dump {
                    dump::print(ring_addr, i, ring.slot(i).buf_idx, flags, p);
                }
                // A frame's number is in its first bytes: checked on its first slot.
                if let Some(c) = check.as_mut().filter(|_| frame_start) {
                    c.check(ri, p);
                }
                frame_start = flags & NS_MOREFRAG == 0;
            });
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
    port.sync_rx()?;
    ctrs.set_toc(end.unwrap_or_else(Instant::now));
    if let Some(c) = check {
        totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&c.totals);
    }
    Ok(Diag::of(&port))
}
