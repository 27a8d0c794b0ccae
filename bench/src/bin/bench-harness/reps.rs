//! The run orders every section uses ([`rotation`], [`sandwiched`], [`sandwiched_groups`]), and the repetition loops of
//! the throughput cells and of the 2-queue runs.
//!
//! Consecutive runs share a fast or slow phase of this machine much more than runs two places
//! apart (bench/README.md, "Method"), so a ratio pairs each run with the other row's runs right
//! next to it ([`nmxdp_bench::stats::paired_ratios`]). Where a section has one baseline that its
//! targets are ratios to (xdp-raw at 60 B), every other row runs between two runs of it
//! ([`sandwiched`]), and where rows have different baselines (latency: busy-wait rows against
//! the raw spin, poll rows against the raw poll), each group runs that way around its own
//! ([`sandwiched_groups`]); elsewhere each repetition runs every row once, starting one row later than
//! the repetition before ([`rotation`]), so no row is always first or always after the same row.

use anyhow::{bail, Context, Result};

use crate::busy;
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
/// A run's rates and counts for the progress lines: "tx X rx Y Mpps, sent S received R" and
/// [`failed_suffix`].
pub fn progress(r: &Run) -> String {
    format!(
        "tx {} rx {} Mpps, sent {} received {}{}",
        f3(r.tx_pps.map(|p| p / 1e6)),
        f3(r.rx_pps.map(|p| p / 1e6)),
        r.sent.map_or("?".into(), |v| v.to_string()),
        r.received.map_or("?".into(), |v| v.to_string()),
        failed_suffix(r)
    )
}

pub fn failed_suffix(r: &Run) -> String {
    r.error
        .as_ref()
        .map_or(String::new(), |e| format!("  FAILED: {e}"))
}

/// Other processes' user-space CPU ([`busy::others`], in CPUs) over a repetition above which
/// it is run again: an idle machine shows a few hundredths, a build next to the bench 1 or more,
/// and a build halves the rates and stretches their spread.
pub const DISTURBED_CPUS: f64 = 0.10;

/// A run and where it sat.
pub struct Placed<R> {
    pub slot: Slot,
    pub seq: usize,
    pub run: R,
}

/// A run result that records its repetition and its place in its section's run order (what
/// pairing neighbours in time needs).
pub trait Stamp {
    fn stamp(&mut self, rep: usize, seq: usize);
}

impl<R: Stamp> Stamp for Option<R> {
    fn stamp(&mut self, rep: usize, seq: usize) {
        if let Some(r) = self {
            r.stamp(rep, seq);
        }
    }
}

impl<R: Stamp> Placed<R> {
    /// The row of the order the run belongs to, and the run stamped with where it sat.
    pub fn into_row_run(self) -> (usize, R) {
        let mut r = self.run;
        r.stamp(self.slot.rep, self.seq);
        (self.slot.row, r)
    }
}

/// A repetition that was run again, and how busy other processes were during it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Redone {
    pub rep: usize,
    pub others_cpus: f64,
}

/// What [`run_order`] ran: the runs kept, in order, the repetitions it ran again, and the
/// `seq` after its last run.
pub struct Ordered<R> {
    pub kept: Vec<Placed<R>>,
    pub redone: Vec<Redone>,
    pub next_seq: usize,
}

/// Runs `order` (its slots grouped by repetition) with `run(slot, seq)`, `seq` counting every
/// run from `first_seq`. A repetition during which other processes used more than
/// [`DISTURBED_CPUS`] is run again and its runs dropped, at most `budget` times over the whole
/// order (then the runs are kept as they are, and the report says how busy the machine was).
pub fn run_order<R>(
    order: &[Slot],
    first_seq: usize,
    budget: usize,
    run: impl FnMut(Slot, usize) -> Result<R>,
) -> Result<Ordered<R>> {
    run_order_gauged(order, first_seq, budget, run, busy::Mark::now, busy::others)
}

/// [`run_order`] with how busy other processes were between two marks given by `others`.
fn run_order_gauged<R, M>(
    order: &[Slot],
    first_seq: usize,
    budget: usize,
    mut run: impl FnMut(Slot, usize) -> Result<R>,
    mark: impl Fn() -> M,
    others: impl Fn(&M, &M) -> Option<f64>,
) -> Result<Ordered<R>> {
    let mut out = Ordered {
        kept: Vec::with_capacity(order.len()),
        redone: Vec::new(),
        next_seq: first_seq,
    };
    let mut seq = first_seq;
    let mut left = budget;
    let mut start = 0;
    while start < order.len() {
        let rep = order[start].rep;
        let end = start + order[start..].iter().take_while(|s| s.rep == rep).count();
        loop {
            let before = mark();
            let mut runs = Vec::with_capacity(end - start);
            for &slot in &order[start..end] {
                if stopped() {
                    bail!("interrupted");
                }
                runs.push(Placed {
                    slot,
                    seq,
                    run: run(slot, seq)?,
                });
                seq += 1;
            }
            let others = others(&before, &mark()).unwrap_or(0.0);
            if others > DISTURBED_CPUS && left > 0 {
                left -= 1;
                out.redone.push(Redone {
                    rep,
                    others_cpus: others,
                });
                eprintln!(
                    "bench: repetition {} again: other processes used {others:.2} CPU during it",
                    rep + 1
                );
                continue;
            }
            out.kept.extend(runs);
            break;
        }
        start = end;
    }
    out.next_seq = seq;
    Ok(out)
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

/// `reps` repetitions of several [`sandwiched`] groups, one after the other: each group is an
/// anchor (a baseline) and the rows compared with it, each of which runs once per repetition
/// between two runs of its anchor: A x A y A, B u B v B w B, then A y A x A, ... The rows of a
/// group rotate from one repetition to the next. Every row should belong to exactly one group,
/// as a row or as an anchor.
pub fn sandwiched_groups(groups: &[(usize, &[usize])], reps: usize) -> Vec<Slot> {
    let mut order = Vec::new();
    for rep in 0..reps {
        for &(anchor, rows) in groups {
            for i in 0..rows.len() {
                order.push(Slot { rep, row: anchor });
                order.push(Slot {
                    rep,
                    row: rows[(i + rep) % rows.len()],
                });
            }
            order.push(Slot { rep, row: anchor });
        }
    }
    order
}

/// The throughput runs on `topo`, frame size by frame size (all repetitions of one size before
/// the next): at 60 B, where the targets are, [`sandwiched`] around xdp-raw with `plan.reps`
/// repetitions; other sizes (no target) [`rotation`] with `plan.reps_other`. Each run goes into
/// its cell's `runs` with its repetition and place in the order; skipped cells get none.
/// Returns the repetitions run again, with their frame size.
pub fn run_cells(plan: &Plan, topo: &Topo, cells: &mut [Cell]) -> Result<Vec<(u32, Redone)>> {
    let mut seq = 0;
    let mut redone = Vec::new();
    let mut start = 0;
    while start < cells.len() {
        let len = cells[start].len;
        let end = start + cells[start..].iter().take_while(|c| c.len == len).count();
        let group: Vec<usize> = (start..end)
            .filter(|&i| cells[i].skipped.is_none())
            .collect();
        let order = block_order(plan, cells, &group, len);
        let reps = order.last().map_or(0, |s| s.rep + 1);
        let done = run_order(&order, seq, plan.redo_budget(reps), |slot, _| {
            let cell = &cells[group[slot.row]];
            let n = plan.count_for(cell.len);
            let pair = cell
                .row
                .pair(&plan.bins, topo, n, cell.len)
                .expect("not skipped");
            let r = run_pair(topo, &pair, n, plan.verbose);
            eprintln!(
                "bench: rep {}/{reps} {:<16} {:>4} B: {}",
                slot.rep + 1,
                cell.row.name(),
                cell.len,
                progress(&r)
            );
            Ok(r)
        })?;
        seq = done.next_seq;
        for p in done.kept {
            let (row, r) = p.into_row_run();
            cells[group[row]].runs.push(r);
        }
        redone.extend(done.redone.into_iter().map(|r| (len, r)));
        start = end;
    }
    Ok(redone)
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
    let order = rotation(mq.len(), reps as usize);
    let done = run_order(&order, 0, plan.redo_budget(reps as usize), |slot, _| {
        let threads = mq[slot.row].threads;
        let pair = pktgen_pair(&plan.bins, &t2, n, 60, Some(threads));
        let r = run_pair(&t2, &pair, n, plan.verbose);
        eprintln!(
            "bench: rep {}/{reps} 2-queue pkt-gen -p {threads}: {}",
            slot.rep + 1,
            progress(&r)
        );
        Ok(r)
    })?;
    for p in done.kept {
        let (row, r) = p.into_row_run();
        mq[row].runs.push(r);
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
    fn disturbed_repetitions_run_again() {
        use std::cell::Cell as C;
        // The "other processes" gauge reads a counter the runs bump: repetition 1's first try
        // and both tries of repetition 2 look busy; the budget is 2.
        let busy = C::new(0.0);
        let tries = C::new(0);
        let order = rotation(2, 3);
        let done = run_order_gauged(
            &order,
            10,
            2,
            |slot, seq| {
                let t = tries.get();
                tries.set(t + 1);
                // Tries: rep 0 = runs 0-1, rep 1 = 2-3 (busy) and 4-5, rep 2 = 6-7 (busy), 8-9.
                busy.set(if matches!(t, 2 | 6 | 8) { 1.0 } else { 0.0 } + busy.get());
                Ok((slot, seq))
            },
            || busy.get(),
            |a, b| Some(b - a),
        )
        .unwrap();
        assert_eq!(
            done.redone,
            [
                Redone {
                    rep: 1,
                    others_cpus: 1.0
                },
                Redone {
                    rep: 2,
                    others_cpus: 1.0
                }
            ]
        );
        // Budget spent: repetition 2's second try is kept although busy.
        assert_eq!(tries.get(), 10);
        let seqs: Vec<usize> = done.kept.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [10, 11, 14, 15, 18, 19]);
        assert_eq!(done.next_seq, 20);
        assert!(done.kept.iter().all(|p| p.run == (p.slot, p.seq)));
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

    #[test]
    fn grouped_sandwich_order() {
        // Anchor 5 with rows 1 and 3, anchor 4 with rows 0, 2 and 6.
        let o = sandwiched_groups(&[(5, &[1, 3]), (4, &[0, 2, 6])], 2);
        let rep0 = [5, 1, 5, 3, 5, 4, 0, 4, 2, 4, 6, 4];
        let rep1 = [5, 3, 5, 1, 5, 4, 2, 4, 6, 4, 0, 4];
        assert_eq!(rows_of(&o), [&rep0[..], &rep1[..]].concat());
        // Every compared row has its own anchor right before and right after it.
        for (i, s) in o.iter().enumerate() {
            let anchor = match s.row {
                1 | 3 => 5,
                0 | 2 | 6 => 4,
                _ => continue,
            };
            assert_eq!(
                (o[i - 1].row, o[i + 1].row),
                (anchor, anchor),
                "at {i}: {s:?}"
            );
        }
        assert!(o[..12].iter().all(|s| s.rep == 0) && o[12..].iter().all(|s| s.rep == 1));
        assert!(sandwiched_groups(&[(0, &[1])], 0).is_empty());
    }
}
