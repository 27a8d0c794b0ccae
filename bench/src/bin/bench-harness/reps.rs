//! The repetition loops: every cell on the 1-queue pair, then pkt-gen `-p 1` / `-p 2` on a
//! 2-queue pair. Repetitions are interleaved across cells, so a slow phase of the machine
//! spreads over every row instead of landing on one.

use anyhow::{bail, Context, Result};

use crate::cell::Cell;
use crate::cli::Plan;
use crate::netns::Topo;
use crate::render::f3;
use crate::rows::{pktgen_pair, Row};
use crate::run::{run_pair, Run};
use crate::stopped;

/// The runs of pkt-gen with `-p threads` on the 2-queue pair.
pub struct MqRuns {
    pub threads: u32,
    pub runs: Vec<Run>,
}

/// "  FAILED: ..." for a failed run's progress line.
fn failed_suffix(r: &Run) -> String {
    r.error
        .as_ref()
        .map_or(String::new(), |e| format!("  FAILED: {e}"))
}

/// `plan.reps` runs of every cell that is not skipped, on `topo`.
pub fn run_cells(plan: &Plan, topo: &Topo, cells: &mut [Cell]) -> Result<()> {
    let reps = plan.reps;
    for rep in 0..reps {
        for cell in cells.iter_mut() {
            if stopped() {
                bail!("interrupted");
            }
            if cell.skipped.is_some() {
                continue;
            }
            let n = plan.count_for(cell.len);
            let pair = cell
                .row
                .pair(&plan.bins, topo, n, cell.len)
                .expect("not skipped");
            let r = run_pair(topo, &pair, n, plan.verbose);
            eprintln!(
                "bench: rep {}/{reps} {:<16} {:>4} B: tx {} rx {} Mpps, sent {} received {}{}",
                rep + 1,
                cell.row.name(),
                cell.len,
                f3(r.tx_pps.map(|p| p / 1e6)),
                f3(r.rx_pps.map(|p| p / 1e6)),
                r.sent.map_or("?".into(), |v| v.to_string()),
                r.received.map_or("?".into(), |v| v.to_string()),
                failed_suffix(&r)
            );
            cell.runs.push(r);
        }
    }
    Ok(())
}

/// pkt-gen `-p 1` against `-p 2` (one thread per ring) at 60 B on a 2-queue pair of its own;
/// nothing when disabled or when the pkt-gen row is not part of the plan.
pub fn run_mq(plan: &Plan) -> Result<Vec<MqRuns>> {
    if !plan.mq || !plan.rows.contains(&Row::NmxdpRust) || stopped() {
        return Ok(Vec::new());
    }
    let t2 = Topo::new("mq", 2).context("creating the 2-queue veth pair")?;
    let mut mq: Vec<MqRuns> = [1, 2]
        .map(|threads| MqRuns {
            threads,
            runs: Vec::new(),
        })
        .into();
    let (n, reps) = (plan.n60, plan.reps);
    for rep in 0..reps {
        for m in mq.iter_mut() {
            if stopped() {
                bail!("interrupted");
            }
            let pair = pktgen_pair(&plan.bins, &t2, n, 60, Some(m.threads));
            let r = run_pair(&t2, &pair, n, plan.verbose);
            eprintln!(
                "bench: rep {}/{reps} 2-queue pkt-gen -p {}: tx {} rx {} Mpps{}",
                rep + 1,
                m.threads,
                f3(r.tx_pps.map(|x| x / 1e6)),
                f3(r.rx_pps.map(|x| x / 1e6)),
                failed_suffix(&r)
            );
            m.runs.push(r);
        }
    }
    Ok(mq)
}
