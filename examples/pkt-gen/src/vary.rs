//! The sender of frames that change per packet ([`crate::gen`]) or that must be seen or left
//! alone per packet: `-f txseq`, address ranges, `-z`/`-Z`, random sizes, `-6`, `-P`, `-X`,
//! `-r`/`-I`, `-o` copy options. Its loop is the plain sender's (`tx.rs`), pacing and final
//! drain included; the per-slot work is what the options ask for.

use anyhow::{bail, Result};
use nmxdp::abi::NS_REPORT;
use nmxdp::Port;

use crate::chain::{ChainFill, Cut};
use crate::dump;
use crate::gen::FrameMaker;
use crate::report::{Counters, Diag, DoneGuard};
use crate::tx::{send_loop, Schedule};

/// One thread's job.
pub struct VaryJob {
    pub index: u32,
    /// Frames to send; 0 = until stopped.
    pub quota: u64,
    pub burst: u32,
    /// This thread's share of `-R` (0 = unlimited).
    pub rate: u64,
    pub maker: FrameMaker,
    /// `-X`: dump every frame.
    pub dump: bool,
    /// `-r`: leave the buffers as they are (only the length is set).
    pub rubbish: bool,
    /// txseq: the first bound TX ring only.
    pub first_ring_only: bool,
    /// Frames cut into slot chains (longer than a buffer, `-F`, `-M`); None: one slot each.
    pub cut: Option<Cut>,
}

pub fn run(mut port: Port, mut job: VaryJob, ctrs: &Counters) -> Result<Diag> {
    let _done = DoneGuard(ctrs);
    let mut rings = port.tx_rings();
    if rings.is_empty() {
        bail!("thread {}: the port has no TX rings bound", job.index);
    }
    if job.first_ring_only {
        rings.end = rings.start + 1;
    }
    let max = port.tx_ring(rings.start).max_frame();
    if job.cut.is_none() && job.maker.len() > max {
        bail!(
            "frame length {} exceeds the {max} bytes a netmap buffer carries",
            job.maker.len()
        );
    }
    let schedule = Schedule {
        index: job.index,
        quota: job.quota,
        burst: job.burst,
        rate: job.rate,
    };
    if let Some(cut) = job.cut {
        // Frames are made whole here, then cut into the slots.
        let mut frame = vec![0u8; job.maker.max_len()];
        let mut chains = ChainFill {
            cut,
            frame: &mut frame,
            copy: !job.rubbish,
            dump: job.dump,
        };
        let (maker, rubbish) = (&mut job.maker, job.rubbish);
        send_loop(&mut port, rings, &schedule, ctrs, |ring, _, _, limit| {
            let len = maker.next_batch_len();
            let (m, b) = chains.fill(ring, limit, len, |_, f| {
                if !rubbish {
                    maker.emit(f);
                }
            });
            (m as u64, b)
        })?;
        return Ok(Diag::of(&port));
    }
    send_loop(&mut port, rings, &schedule, ctrs, |ring, _, _, limit| {
        job.maker.next_batch_len();
        let (m, b) = fill(ring, &mut job, limit);
        (m as u64, b)
    })?;
    Ok(Diag::of(&port))
}

/// Fills up to `limit` free slots of `ring`; returns (frames, bytes).
fn fill(ring: &mut nmxdp::TxRing<'_>, job: &mut VaryJob, limit: u32) -> (u32, u64) {
    // SAFETY: the pointer is only printed by -X, never dereferenced.
    let ring_addr = unsafe { ring.as_raw() } as usize;
    let mut batch = ring.batch();
    let n = batch.remaining().min(limit);
    let mut bytes = 0u64;
    for k in 0..n {
        let Some(mut slot) = batch.slot() else { break };
        let len = if job.rubbish {
            job.maker.len()
        } else {
            job.maker.emit(slot.buf_mut())
        };
        if job.dump {
            let (i, idx, flags) = (slot.index(), slot.buf_idx().unwrap_or(0), slot.flags());
            dump::print(ring_addr, i, idx, flags, &slot.buf_mut()[..len]);
        }
        if k + 1 == n {
            slot.set_flags(NS_REPORT);
        }
        slot.send(len);
        bytes += len as u64;
    }
    drop(batch);
    if n < limit {
        let t = ring.tail();
        ring.set_cur(t);
    }
    (n, bytes)
}
