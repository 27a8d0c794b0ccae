//! Loss at a paced rate (issue 10, "no loss when paced"): pkt-gen sending at half the rate the
//! throughput section measured for nmxdp, to a pkt-gen receiver on a default port (1024-slot
//! rings, as a new user opens it), many runs; every frame must arrive. When the kernel drops,
//! the receiver's `Kernel drops:` line (its sockets' XDP_STATISTICS) says where.

use crate::bins::path_arg;
use crate::cell::{at60, Cell};
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, Spec};
use crate::rows::{Pair, Report, Row};
use crate::run::{run_pair, Run};
use crate::stopped;

/// Frames per run.
pub const FRAMES: u64 = 200_000;
/// Frames per run with `--smoke`.
pub const SMOKE_FRAMES: u64 = 2_000;
/// The rate when the throughput section did not measure one (`--only`, failed rows).
pub const FALLBACK_PPS: u64 = 200_000;

/// What the kernel counted for one run's receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    pub rx_dropped: u64,
    pub fill_empty: u64,
    pub ring_full: u64,
    pub invalid: u64,
}

impl Drops {
    /// From pkt-gen's `Kernel drops: rx_dropped A (fill ring empty B), rx ring full C, invalid
    /// descriptors rx D tx E` line; zero when there is none (nothing dropped).
    pub fn parse(out: &str) -> Drops {
        let Some(l) = out.lines().find_map(|l| l.strip_prefix("Kernel drops:")) else {
            return Drops::default();
        };
        let nums: Vec<u64> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let at = |i: usize| nums.get(i).copied().unwrap_or(0);
        Drops {
            rx_dropped: at(0),
            fill_empty: at(1),
            ring_full: at(2),
            invalid: at(3) + at(4),
        }
    }

    pub fn add(&mut self, o: Drops) {
        self.rx_dropped += o.rx_dropped;
        self.fill_empty += o.fill_empty;
        self.ring_full += o.ring_full;
        self.invalid += o.invalid;
    }
}

/// The paced runs.
pub struct PacedRuns {
    pub pps: u64,
    /// Where the rate came from.
    pub rate_from: String,
    pub frames: u64,
    pub runs: Vec<(Run, Drops)>,
}

impl PacedRuns {
    /// Frames lost in each successful run.
    pub fn lost(&self) -> Vec<u64> {
        self.runs
            .iter()
            .filter(|(r, _)| r.error.is_none())
            .map(|(r, _)| r.sent.unwrap_or(0).saturating_sub(r.received.unwrap_or(0)))
            .collect()
    }
}

/// pkt-gen `-R pps` to a default-sized port.
fn pair(plan: &Plan, t: &Topo, n: u64, pps: u64) -> Pair {
    let pg = path_arg(&plan.bins.pktgen);
    let (n, r) = (n.to_string(), pps.to_string());
    let (txp, rxp) = (format!("netmap:{}", t.if_a), format!("netmap:{}", t.if_b));
    let mut tx = Spec::new(&[
        &*pg, "-i", &txp, "-f", "tx", "-n", &n, "-l", "60", "-R", &r, "-w", "0",
    ]);
    let mut rx = Spec::new(&[&*pg, "-i", &rxp, "-f", "rx", "-n", &n, "-W", "-w", "0"]);
    let c = cpus();
    tx.cpu = Some(c.tx);
    rx.cpu = Some(c.rx);
    Pair {
        tx,
        rx,
        ready: "Receiving from",
        report: Report::Summary,
    }
}

/// Runs the section (None when skipped): half of nmxdp-rust's median 60-byte receive rate.
pub fn measure(plan: &Plan, t: &Topo, cells: &[Cell]) -> Option<PacedRuns> {
    let runs = plan.paced_runs?;
    let measured = at60(cells, Row::NmxdpRust).and_then(Cell::rx);
    let (pps, rate_from) = match measured {
        Some(mpps) => (
            (mpps * 1e6 / 2.0) as u64,
            format!("half of nmxdp-rust's median 60 B receive rate ({mpps:.3} Mpps)"),
        ),
        None => (
            FALLBACK_PPS,
            "no nmxdp-rust 60 B rate measured in this run: a fixed 200 kpps".into(),
        ),
    };
    let frames = if plan.smoke { SMOKE_FRAMES } else { FRAMES };
    eprintln!("bench: paced: {runs} runs of {frames} frames at {pps} pps");
    let mut out = PacedRuns {
        pps,
        rate_from,
        frames,
        runs: Vec::new(),
    };
    for _ in 0..runs {
        if stopped() {
            break;
        }
        let run = run_pair(t, &pair(plan, t, frames, pps), frames, plan.verbose);
        let drops = Drops::parse(&run.rx.stdout);
        out.runs.push((run, drops));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_line() {
        let out = "Speed: 1 Kpps\nKernel drops: rx_dropped 952 (fill ring empty 952), rx ring full 3, invalid descriptors rx 1 tx 2. The receiver fell behind\n";
        assert_eq!(
            Drops::parse(out),
            Drops {
                rx_dropped: 952,
                fill_empty: 952,
                ring_full: 3,
                invalid: 3
            }
        );
        assert_eq!(Drops::parse("Speed: 1 Kpps\n"), Drops::default());
    }
}
