//! Steering cost (issue 15): pkt-gen's receive rate with `NMXDP_STEER` rules of 1, 16 and the
//! maximum number of alternatives, next to no steering at all, in the same run. The frames
//! (pkt-gen's default UDP to port 1234) match the *last* alternative, so every frame is checked
//! against all of them: the per-packet cost is the filter's worst case for that many
//! alternatives. The rows without a rule frame every rule's row ([`sandwiched`] around it), so
//! each ratio to it pairs a run with the runs right before and after it.

use nmxdp::steer::layout::MAX_TERMS;

use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::cpus;
use crate::reps::{run_order, sandwiched};
use crate::rows::pktgen_pair;
use crate::run::{run_pair, Run};

/// Alternatives per rule of the rows; 0 is the row without `NMXDP_STEER`.
pub const TERMS: [usize; 4] = [0, 1, 16, MAX_TERMS];
/// Frames per run (smoke: [`SMOKE_FRAMES`]).
pub const FRAMES: u64 = 200_000;
/// Frames per run with `--smoke`.
pub const SMOKE_FRAMES: u64 = 2_000;
/// Repetitions: 6 runs each (3 without a rule, one per rule), under a second apiece, keep the
/// section near 30 s.
pub const REPS: u32 = 5;

/// The section's runs: for each entry of [`TERMS`], its runs in repetition order.
pub struct SteerRuns {
    pub frames: u64,
    pub reps: u32,
    pub rows: Vec<(usize, Vec<Run>)>,
}

/// A rule of `k` alternatives, `udp and dst port P`, whose last one matches pkt-gen's frames.
pub fn rule(k: usize) -> String {
    (0..k)
        .map(|i| {
            let port = if i + 1 == k { 1234 } else { 2000 + i };
            format!("udp and dst port {port}")
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Runs the section (None when skipped).
pub fn measure(plan: &Plan, t: &Topo) -> Option<SteerRuns> {
    let reps = plan.steer_reps?;
    let frames = if plan.smoke { SMOKE_FRAMES } else { FRAMES };
    eprintln!(
        "bench: steer: {reps} repetition(s) of {} rows of {frames} frames",
        TERMS.len()
    );
    let mut rows: Vec<(usize, Vec<Run>)> = TERMS.iter().map(|&k| (k, Vec::new())).collect();
    let none = TERMS.iter().position(|&k| k == 0).unwrap_or(0);
    let order = sandwiched(TERMS.len(), reps as usize, none);
    let done = run_order(&order, 0, plan.redo_budget(reps as usize), |slot, _| {
        let k = TERMS[slot.row];
        let mut pair = pktgen_pair(&plan.bins, t, frames, 60, None);
        let c = cpus();
        pair.tx.cpu = Some(c.tx);
        pair.rx.cpu = Some(c.rx);
        if k > 0 {
            pair.rx = pair.rx.env("NMXDP_STEER", &rule(k));
        }
        Ok(run_pair(t, &pair, frames, plan.verbose))
    });
    // Interrupted: what ran so far is not kept (the harness exits).
    for p in done.map(|d| d.kept).unwrap_or_default() {
        let (row, r) = p.into_row_run();
        rows[row].1.push(r);
    }
    Some(SteerRuns { frames, reps, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile_to_their_number_of_alternatives() {
        for k in TERMS.into_iter().filter(|&k| k > 0) {
            let r = nmxdp::steer::Rule::parse(&rule(k)).unwrap();
            assert_eq!(r.set.terms.len(), k);
        }
    }
}
