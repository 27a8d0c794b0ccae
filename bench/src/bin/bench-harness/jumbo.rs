//! 9,000-byte frames (issue 13): nmxdp (pkt-gen, frames as NS_MOREFRAG slot chains over AF_XDP
//! multi-buffer) against the raw AF_XDP loop with multi-buffer descriptors (xdp-raw), on a veth
//! pair of its own with MTU 9000 on both ends, for each buffer size of [`BUF_SIZES`]: Mpps and
//! Gbit/s, and nmxdp / raw against the target [`TARGET`]. Every nmxdp run sits between two raw
//! runs of the same buffer size ([`sandwiched`]), as the 60 B rows sit between xdp-raw runs.
//! The nmxdp programs of one buffer size share a region of the bench's own
//! (`NMXDP_REGION=shared:bench-<pid>-bufN`, `NMXDP_BUF_SIZE=N`): a region's buffer size is fixed
//! when it is created.

use anyhow::{Context, Result};

use crate::bins::path_arg;
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, Spec};
use crate::reps::{progress, run_order, sandwiched};
use crate::rows::{Pair, Report};
use crate::run::{run_pair, Run};

/// The frame length, bytes without CRC.
pub const LEN: u32 = 9000;
/// The buffer (UMEM chunk) sizes, each a block of runs of its own.
pub const BUF_SIZES: [u32; 2] = [2048, 4096];
/// nmxdp's rate at least this fraction of raw AF_XDP's (receiver and sender).
pub const TARGET: f64 = 0.95;
/// Frames per run: 0.15-0.25 s at the 120-200 kpps this pair carries, as long again as the
/// programs' start; a run's rate is set for the whole run (bench/README.md, "Method"), so longer
/// runs would buy little: the section (2 x 31 runs by default) takes about 20 s.
pub const FRAMES: u64 = 30_000;

/// The rows of a block: nmxdp first, the raw baseline second (the order's anchor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumboRow {
    Nmxdp,
    Raw,
}

pub const ROWS: [JumboRow; 2] = [JumboRow::Nmxdp, JumboRow::Raw];

impl JumboRow {
    pub fn name(self) -> &'static str {
        match self {
            JumboRow::Nmxdp => "nmxdp-rust",
            JumboRow::Raw => "xdp-raw",
        }
    }
}

/// One buffer size's runs, in [`ROWS`]'s order.
pub struct JumboBlock {
    pub buf_size: u32,
    pub reps: u32,
    pub rows: Vec<(JumboRow, Vec<Run>)>,
}

pub struct JumboRuns {
    pub frames: u64,
    pub blocks: Vec<JumboBlock>,
}

/// The sender and receiver of `row` with `buf` -byte buffers.
fn pair(plan: &Plan, t: &Topo, row: JumboRow, buf: u32, n: u64) -> Pair {
    let (n, l, b) = (n.to_string(), LEN.to_string(), buf.to_string());
    let c = cpus();
    let (tx, rx) = match row {
        JumboRow::Nmxdp => {
            let pg = path_arg(&plan.bins.pktgen);
            let (txp, rxp) = (
                format!("netmap:{}", t.if_a),
                format!("netmap:{}@conf:rx-slots=4096", t.if_b),
            );
            let region = format!("shared:bench-{}-buf{buf}", std::process::id());
            let tx = Spec::new(&[&*pg, "-i", &txp, "-f", "tx", "-n", &n, "-l", &l, "-w", "0"]);
            let rx = Spec::new(&[&*pg, "-i", &rxp, "-f", "rx", "-n", &n, "-W", "-w", "0"]);
            let env = |s: Spec| s.env("NMXDP_REGION", &region).env("NMXDP_BUF_SIZE", &b);
            (env(tx), env(rx))
        }
        JumboRow::Raw => {
            let x = path_arg(&plan.bins.xdp_raw);
            (
                Spec::new(&[
                    &*x, "-i", t.if_a, "-f", "tx", "-n", &n, "-l", &l, "--chunk", &b,
                ]),
                Spec::new(&[&*x, "-i", t.if_b, "-f", "rx", "-n", &n, "--chunk", &b]),
            )
        }
    };
    Pair {
        tx: tx.on_cpu(c.tx),
        rx: rx.on_cpu(c.rx),
        ready: "Receiving from",
        report: Report::Summary,
    }
}

/// Runs the section (None when skipped): a 1-queue pair with MTU 9000, then each buffer size's
/// block.
pub fn measure(plan: &Plan) -> Result<Option<JumboRuns>> {
    let Some(reps) = plan.jumbo_reps else {
        return Ok(None);
    };
    let t = Topo::new("j", 1).context("creating the MTU-9000 veth pair")?;
    t.set_mtu(LEN).context("MTU 9000 on the jumbo pair")?;
    let frames = FRAMES;
    eprintln!(
        "bench: jumbo: {LEN} B, buffers {BUF_SIZES:?}, {reps} repetition(s) of {frames} frames"
    );
    let raw = ROWS.iter().position(|&r| r == JumboRow::Raw).unwrap_or(0);
    let mut blocks = Vec::new();
    let mut seq = 0;
    for buf in BUF_SIZES {
        let mut rows: Vec<(JumboRow, Vec<Run>)> = ROWS.iter().map(|&r| (r, Vec::new())).collect();
        let order = sandwiched(ROWS.len(), reps as usize, raw);
        let done = run_order(&order, seq, plan.redo_budget(reps as usize), |slot, _| {
            let row = ROWS[slot.row];
            let r = run_pair(&t, &pair(plan, &t, row, buf, frames), frames, plan.verbose);
            eprintln!(
                "bench: rep {}/{reps} {LEN} B, {buf}-byte buffers, {:<10}: {}",
                slot.rep + 1,
                row.name(),
                progress(&r)
            );
            Ok(r)
        })?;
        seq = done.next_seq;
        for p in done.kept {
            let (row, r) = p.into_row_run();
            rows[row].1.push(r);
        }
        blocks.push(JumboBlock {
            buf_size: buf,
            reps,
            rows,
        });
    }
    Ok(Some(JumboRuns { frames, blocks }))
}
