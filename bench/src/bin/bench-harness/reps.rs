//! The run orders every section uses ([`rotation`], [`sandwiched`]), and the repetition loops of
//! the throughput cells and of the 2-queue runs.
//!
//! Consecutive runs share a fast or slow phase of this machine much more than runs two places
//! apart (bench/README.md, "Method"), so a ratio pairs each run with the other row's runs right
//! next to it ([`nmxdp_bench::stats::paired_ratios`]). Where a section has one baseline that its
//! targets are ratios to (xdp-raw at 60 B), every other row runs between two runs of it
//! ([`sandwiched`]); elsewhere each repetition runs every row once, starting one row later than
//! the repetition before ([`rotation`]), so no row is always first or always after the same row.

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

/// One place in a run order: row `row` (an index into the section's rows) in repetition `rep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub rep: usize,
    pub row: usize,
}

/// `reps` repetitions of rows `0..rows`, each running every row once and starting one row later
/// than the one before: 0 1 2 3, 1 2 3 0, 2 3 0 1, ...
pub fn rotation(rows: usize, reps: usize) -> Vec<Slot> {
    (0..reps)
        .flat_map(|rep| {
            (0..rows).map(move |i| Slot {
                rep,
                row: (i + rep) % rows,
            })
        })
        .collect()
}

/// `reps` repetitions in which every row but `anchor` runs once, each between two runs of
/// `anchor` (the anchor run between two rows serves both): A x A y A z, A y A z A x, ... A.
/// The other rows rotate from one repetition to the next; the order ends with an anchor run,
/// which belongs to the last repetition. With no other row, `anchor` runs once per repetition.
pub fn sandwiched(rows: usize, reps: usize, anchor: usize) -> Vec<Slot> {
    let others: Vec<usize> = (0..rows).filter(|&r| r != anchor).collect();
    if others.is_empty() {
        return rotation(rows, reps);
    }
    let mut order = Vec::with_capacity(reps * 2 * others.len() + 1);
    for rep in 0..reps {
        for i in 0..others.len() {
            order.push(Slot { rep, row: anchor });
            order.push(Slot {
                rep,
                row: others[(i + rep) % others.len()],
            });
        }
    }
    if reps > 0 {
        order.push(Slot {
            rep: reps - 1,
            row: anchor,
        });
    }
    order
}

/// The throughput runs on `topo`, frame size by frame size (all repetitions of one size before
/// the next): at 60 B, where the targets are, [`sandwiched`] around xdp-raw with `plan.reps`
/// repetitions; other sizes (no target) [`rotation`] with `plan.reps_other`. Each run goes into
/// its cell's `runs` with its repetition and place in the order; skipped cells get none.
pub fn run_cells(plan: &Plan, topo: &Topo, cells: &mut [Cell]) -> Result<()> {
    let mut seq = 0;
    let mut start = 0;
    while start < cells.len() {
        let len = cells[start].len;
        let end = start + cells[start..].iter().take_while(|c| c.len == len).count();
        let group: Vec<usize> = (start..end)
            .filter(|&i| cells[i].skipped.is_none())
            .collect();
        let order = block_order(plan, cells, &group, len);
        let reps = order.last().map_or(0, |s| s.rep + 1);
        for slot in order {
            if stopped() {
                bail!("interrupted");
            }
            let cell = &mut cells[group[slot.row]];
            let n = plan.count_for(cell.len);
            let pair = cell
                .row
                .pair(&plan.bins, topo, n, cell.len)
                .expect("not skipped");
            let mut r = run_pair(topo, &pair, n, plan.verbose);
            (r.rep, r.seq) = (slot.rep, seq);
            seq += 1;
            eprintln!(
                "bench: rep {}/{reps} {:<16} {:>4} B: tx {} rx {} Mpps, sent {} received {}{}",
                slot.rep + 1,
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
        start = end;
    }
    Ok(())
}

/// The order of one frame size's cells (`group`: indices into `cells`, the order's rows).
fn block_order(plan: &Plan, cells: &[Cell], group: &[usize], len: u32) -> Vec<Slot> {
    let anchor = group.iter().position(|&i| cells[i].row == Row::XdpRaw);
    match anchor {
        Some(a) if len == crate::cell::TARGET_LEN => sandwiched(group.len(), plan.reps as usize, a),
        _ => rotation(group.len(), plan.reps_for(len) as usize),
    }
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
    let (n, reps) = (plan.n60, plan.reps_other);
    for (seq, slot) in rotation(mq.len(), reps as usize).into_iter().enumerate() {
        let m = &mut mq[slot.row];
        if stopped() {
            bail!("interrupted");
        }
        let pair = pktgen_pair(&plan.bins, &t2, n, 60, Some(m.threads));
        let mut r = run_pair(&t2, &pair, n, plan.verbose);
        (r.rep, r.seq) = (slot.rep, seq);
        eprintln!(
            "bench: rep {}/{reps} 2-queue pkt-gen -p {}: tx {} rx {} Mpps{}",
            slot.rep + 1,
            m.threads,
            f3(r.tx_pps.map(|x| x / 1e6)),
            f3(r.rx_pps.map(|x| x / 1e6)),
            failed_suffix(&r)
        );
        m.runs.push(r);
    }
    Ok(mq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(order: &[Slot]) -> Vec<usize> {
        order.iter().map(|s| s.row).collect()
    }

    #[test]
    fn rotation_order() {
        let o = rotation(4, 3);
        assert_eq!(rows_of(&o), [0, 1, 2, 3, 1, 2, 3, 0, 2, 3, 0, 1]);
        assert_eq!(o[4], Slot { rep: 1, row: 1 });
        // Repetition 4 starts where repetition 0 did.
        assert_eq!(rows_of(&rotation(4, 5)[16..]), [0, 1, 2, 3]);
        assert!(rotation(0, 5).is_empty());
    }

    #[test]
    fn sandwich_order() {
        // Anchor 2 (xdp-raw among nmxdp-rust, nmxdp-c-preload, xdp-raw, af-packet).
        let o = sandwiched(4, 2, 2);
        assert_eq!(rows_of(&o), [2, 0, 2, 1, 2, 3, 2, 1, 2, 3, 2, 0, 2]);
        // Every other row has the anchor right before and right after it.
        for (i, s) in o.iter().enumerate().filter(|(_, s)| s.row != 2) {
            assert_eq!((o[i - 1].row, o[i + 1].row), (2, 2), "at {i}: {s:?}");
        }
        // Each row runs once per repetition; the anchor three times, plus the last one.
        assert_eq!(o.iter().filter(|s| s.row == 0).count(), 2);
        assert_eq!(o.iter().filter(|s| s.row == 2).count(), 7);
        assert_eq!(*o.last().unwrap(), Slot { rep: 1, row: 2 });
        assert_eq!(rows_of(&sandwiched(1, 3, 0)), [0, 0, 0]);
        assert!(sandwiched(4, 0, 2).is_empty());
    }
}
