//! Loss at a paced rate (issue 10, "no loss when paced"): pkt-gen sending at half the rate the
//! throughput section measured for nmxdp, to a pkt-gen receiver on a default port (1024-slot
//! rings, as a new user opens it), many runs; every frame must arrive. When the kernel drops,
//! the receiver's `Kernel drops:` line (its sockets' XDP_STATISTICS) says where, and its
//! `Receiver gaps:` line (pkt_gen::gaps) whether the receiver ran meanwhile.
//!
//! After each nmxdp run comes a raw AF_XDP receiver's paced run: the same sender and rate,
//! `xdp-raw` with the same 2048 buffers and the same wake-up policy. On this kind of VM a
//! sleeping receiver is now and then woken milliseconds late, which loses frames whatever the
//! program (bench/README.md, "Paced loss"); the raw runs say, in the same run, how often the
//! machine did that to a receiver with no netmap layer.

use pkt_gen::gaps::Gaps;

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
/// The raw receiver's RX and fill ring entries: the buffers of nmxdp's default port's RX side
/// (1024 slots, as many again in the fill ring).
pub const RAW_RX_RING: u32 = 2048;

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
    /// From xdp-raw's `xdp-raw stats: rx_dropped=A rx_ring_full=B rx_fill_ring_empty=C
    /// rx_invalid=D tx_invalid=E ...` line (stderr); zero when there is none.
    pub fn parse_raw(err: &str) -> Drops {
        let Some(l) = err.lines().find_map(|l| l.strip_prefix("xdp-raw stats:")) else {
            return Drops::default();
        };
        let field = |k: &str| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Drops {
            rx_dropped: field("rx_dropped"),
            fill_empty: field("rx_fill_ring_empty"),
            ring_full: field("rx_ring_full"),
            invalid: field("rx_invalid") + field("tx_invalid"),
        }
    }

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

/// One paced run and what its receiver reported.
pub struct PacedRun {
    pub run: Run,
    pub drops: Drops,
    /// The receiver's longest pause between passes (None if it printed none: a failed run).
    pub gaps: Option<Gaps>,
}

/// The paced runs.
pub struct PacedRuns {
    pub pps: u64,
    /// Where the rate came from.
    pub rate_from: String,
    pub frames: u64,
    pub runs: Vec<PacedRun>,
    /// The raw AF_XDP receiver's runs, interleaved with `runs`.
    pub raw: Vec<PacedRun>,
}

impl PacedRun {
    /// Frames lost (None for a failed run).
    pub fn lost(&self) -> Option<u64> {
        let r = &self.run;
        r.error
            .is_none()
            .then(|| r.sent.unwrap_or(0).saturating_sub(r.received.unwrap_or(0)))
    }
}

impl PacedRuns {
    /// Frames lost in each successful run.
    pub fn lost(&self) -> Vec<u64> {
        self.runs.iter().filter_map(|p| p.lost()).collect()
    }
}

/// pkt-gen `-R pps` to a default-sized port, or (`raw`) to the raw AF_XDP receiver.
fn pair(plan: &Plan, t: &Topo, n: u64, pps: u64, raw: bool) -> Pair {
    let pg = path_arg(&plan.bins.pktgen);
    let (n, r) = (n.to_string(), pps.to_string());
    let (txp, rxp) = (format!("netmap:{}", t.if_a), format!("netmap:{}", t.if_b));
    let mut tx = Spec::new(&[
        &*pg, "-i", &txp, "-f", "tx", "-n", &n, "-l", "60", "-R", &r, "-w", "0",
    ]);
    let mut rx = if raw {
        let x = path_arg(&plan.bins.xdp_raw);
        let ring = RAW_RX_RING.to_string();
        Spec::new(&[
            &*x,
            "-i",
            t.if_b,
            "-f",
            "rx",
            "-n",
            &n,
            "--rx-ring",
            &ring,
            "--stats",
        ])
    } else {
        // --stats: the receiver prints its pauses between passes whether or not it lost.
        Spec::new(&[
            &*pg, "-i", &rxp, "-f", "rx", "-n", &n, "-W", "-w", "0", "--stats",
        ])
    };
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
        raw: Vec::new(),
    };
    for _ in 0..runs {
        if stopped() {
            break;
        }
        let run = run_pair(t, &pair(plan, t, frames, pps, false), frames, plan.verbose);
        let drops = Drops::parse(&run.rx.stdout);
        let gaps = Gaps::parse(&run.rx.stdout);
        out.runs.push(PacedRun { run, drops, gaps });
        if !stopped() {
            let run = run_pair(t, &pair(plan, t, frames, pps, true), frames, plan.verbose);
            let drops = Drops::parse_raw(&run.rx.stderr);
            out.raw.push(PacedRun {
                run,
                drops,
                gaps: None,
            });
        }
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
        let err = "xdp-raw stats: rx_dropped=41 rx_ring_full=2 rx_fill_ring_empty=41 rx_invalid=1 tx_invalid=0 tx_ring_empty=7\n";
        assert_eq!(
            Drops::parse_raw(err),
            Drops {
                rx_dropped: 41,
                fill_empty: 41,
                ring_full: 2,
                invalid: 1
            }
        );
        assert_eq!(Drops::parse_raw(""), Drops::default());
    }
}
