//! Pipe throughput between two processes (issue 12): `pkt-gen -f tx` on `netmap:pp{0` and
//! `pkt-gen -f rx` on `netmap:pp}0`, 60 B, with `--busy-wait` (NIOCTXSYNC/NIOCRXSYNC in a loop)
//! and with poll(). No kernel is in this path (buffer indices move through shared memory), so
//! the target is a rate: busy-wait at least [`TARGET_MPPS`], judged on the 95% interval of the
//! median over the repetitions. Both programs join a region of the bench's own
//! (`NMXDP_REGION=shared:bench-<pid>-pipes`), so they never meet another user's pipe of that
//! name. Each repetition runs both rows, starting one row later than the one before
//! ([`rotation`]); the busy/poll ratio pairs each run with the other row's runs next to it.

use crate::bins::path_arg;
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, Spec};
use crate::render::f3;
use crate::reps::{failed_suffix, rotation, run_order};
use crate::rows::{Pair, Report};
use crate::run::{run_pair, Run};

/// The busy-wait row's target, in Mpps.
pub const TARGET_MPPS: f64 = 10.0;
/// Frames per run: about a third of a second at 10-15 Mpps, well past the programs' start-up
/// (which the rate, measured from the first frame to the last, leaves out anyway).
pub const FRAMES: u64 = 4_000_000;
/// Frames per run with `--smoke`.
pub const SMOKE_FRAMES: u64 = 2_000;

/// The rows: busy-wait first (the one with the target).
pub const BUSY: [bool; 2] = [true, false];

/// The section's runs.
pub struct PipeRuns {
    pub frames: u64,
    pub reps: u32,
    pub region: String,
    /// `(busy-wait, runs)`, in [`BUSY`]'s order.
    pub rows: Vec<(bool, Vec<Run>)>,
}

/// The pkt-gen pair of one row: the reader on `}0` (receivers' CPU), the writer on `{0`.
fn pair(plan: &Plan, frames: u64, busy: bool, region: &str) -> Pair {
    let pg = path_arg(&plan.bins.pktgen);
    let n = frames.to_string();
    let mut tx = vec![
        &*pg,
        "-i",
        "netmap:pp{0",
        "-f",
        "tx",
        "-n",
        &n,
        "-l",
        "60",
        "-w",
        "0",
    ];
    let mut rx = vec![
        &*pg,
        "-i",
        "netmap:pp}0",
        "-f",
        "rx",
        "-n",
        &n,
        "-W",
        "-w",
        "0",
    ];
    if busy {
        tx.push("--busy-wait");
        rx.push("--busy-wait");
    }
    let c = cpus();
    Pair {
        tx: Spec::new(&tx).env("NMXDP_REGION", region).on_cpu(c.tx),
        rx: Spec::new(&rx).env("NMXDP_REGION", region).on_cpu(c.rx),
        ready: "Receiving from",
        report: Report::Summary,
    }
}

/// Runs the section (None when skipped). The programs run in the pair's namespaces (a pipe
/// needs no interface; the namespaces only keep them with the other rows).
pub fn measure(plan: &Plan, t: &Topo) -> Option<PipeRuns> {
    let reps = plan.pipe_reps?;
    let frames = if plan.smoke { SMOKE_FRAMES } else { FRAMES };
    let region = format!("shared:bench-{}-pipes", std::process::id());
    eprintln!("bench: pipes: {reps} repetition(s) of busy-wait and poll, {frames} frames each");
    let mut rows: Vec<(bool, Vec<Run>)> = BUSY.iter().map(|&b| (b, Vec::new())).collect();
    let order = rotation(BUSY.len(), reps as usize);
    let done = run_order(&order, 0, plan.redo_budget(reps as usize), |slot, _| {
        let busy = BUSY[slot.row];
        let r = run_pair(t, &pair(plan, frames, busy, &region), frames, plan.verbose);
        eprintln!(
            "bench: rep {}/{reps} pipe {:<9}: rx {} Mpps{}",
            slot.rep + 1,
            if busy { "busy-wait" } else { "poll" },
            f3(r.rx_pps.map(|p| p / 1e6)),
            failed_suffix(&r)
        );
        Ok(r)
    });
    // Interrupted: what ran so far is not kept (the harness exits).
    for p in done.map(|d| d.kept).unwrap_or_default() {
        let (row, r) = p.into_row_run();
        rows[row].1.push(r);
    }
    Some(PipeRuns {
        frames,
        reps,
        region,
        rows,
    })
}
