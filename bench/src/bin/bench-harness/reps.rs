//! The repetition loops: every cell on the 1-queue pair, then pkt-gen `-p 1` / `-p 2` on a
//! 2-queue pair.
//!
//! Each repetition runs every row once, so the rows a ratio compares ran within seconds of each
//! other and a slow phase of the machine lands on both (the ratios are taken per repetition).
//! And each repetition starts one row later than the one before (A B C D, B C D A, ...): a row
//! is not always the first after a frame-size change nor always right after the same other row.

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

/// The order in which repetition `rep` goes through `lens` (each cell's frame size, cells of one
/// size next to each other): frame sizes in their order, the cells of each size rotated by `rep`.
pub fn rotated(lens: &[u32], rep: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(lens.len());
    let mut start = 0;
    while start < lens.len() {
        let end = start
            + lens[start..]
                .iter()
                .take_while(|&&l| l == lens[start])
                .count();
        let k = end - start;
        order.extend((0..k).map(|i| start + (i + rep) % k));
        start = end;
    }
    order
}

/// `plan.reps` runs of every cell that is not skipped, on `topo`; `cells[i].runs[rep]` is the
/// run of repetition `rep` (failed ones included), which is what pairs the rows' runs.
pub fn run_cells(plan: &Plan, topo: &Topo, cells: &mut [Cell]) -> Result<()> {
    let reps = plan.reps;
    let lens: Vec<u32> = cells.iter().map(|c| c.len).collect();
    for rep in 0..reps {
        for i in rotated(&lens, rep as usize) {
            let cell = &mut cells[i];
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

/// pkt-gen `-p 1` against `-p 2` (one thread per ring) at 60 B on a 2-queue pair of its own,
/// alternating which goes first; nothing when disabled or when the pkt-gen row is not part of the
/// plan. Not pinned: `-p 2` is there to use both CPUs.
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
        for i in rotated(&[60, 60], rep as usize) {
            let m = &mut mq[i];
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

#[cfg(test)]
mod tests {
    use super::rotated;

    #[test]
    fn rotation() {
        let lens = [60, 60, 60, 60, 1514, 1514, 1514, 1514];
        assert_eq!(rotated(&lens, 0), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(rotated(&lens, 1), [1, 2, 3, 0, 5, 6, 7, 4]);
        assert_eq!(rotated(&lens, 3), [3, 0, 1, 2, 7, 4, 5, 6]);
        assert_eq!(rotated(&lens, 4), rotated(&lens, 0));
        assert_eq!(rotated(&[60, 60, 1514], 1), [1, 0, 2]);
        assert_eq!(rotated(&[], 5), Vec::<usize>::new());
    }
}
