//! lb's forwarding rate (issue 12): `lb -i netmap:vb -p 2` handing each frame by buffer index to
//! one of two worker processes (`pkt-gen -f rx` on `netmap:vb}0` and `}1`), next to a plain
//! `pkt-gen -f rx` on `netmap:vb` receiving the same traffic, paired run by run. No target: the
//! ratio says what the hop through lb and a pipe costs on this machine.
//!
//! The sender (namespace A, senders' CPU) is pkt-gen with 8 UDP flows (source ports 1000-1007),
//! so lb's hash spreads them over both pipes; the plain receiver gets the same frames. lb, its
//! workers and the plain receiver share the receivers' CPU and a region of the bench's own
//! (`NMXDP_REGION=shared:bench-<pid>-lb`); the sender has another (`...-peer`), so neither
//! meets another user's buffers or pipes.

use std::time::Duration;

use pkt_gen::summary::{parse_summary, Dir};

use crate::bins::path_arg;
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, spawn, Exit, Spec};
use crate::reps::{progress, rotation, run_order};
use crate::rows::{Pair, Report};
use crate::run::{run_pair, tail, Run};

/// Frames per run, 60 B.
pub const FRAMES: u64 = 300_000;
/// Extra buffers for lb's overflow queues (`-B`).
pub const EXTRA_BUFS: &str = "2048";
/// The rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbRow {
    /// pkt-gen -f rx on the NIC port.
    Nic,
    /// lb -p 2 and two pkt-gen workers on its pipes.
    Lb,
}

pub const ROWS: [LbRow; 2] = [LbRow::Nic, LbRow::Lb];

impl LbRow {
    pub fn name(self) -> &'static str {
        match self {
            LbRow::Nic => "nic-rx",
            LbRow::Lb => "lb-2-workers",
        }
    }
}

/// The section's runs: for the lb row, `received` is the workers' sum and `rx_pps` their
/// frames over the longer of their two receiving times.
pub struct LbRuns {
    pub frames: u64,
    pub reps: u32,
    pub rows: Vec<(LbRow, Vec<Run>)>,
    /// lb's last summary line (`N packets forwarded ...`), for the report.
    pub lb_summary: Option<String>,
}

/// The section's regions: one for the receiving side, one for the sender.
struct Regions {
    rx: String,
    tx: String,
}

/// The sender: 8 flows, 60 B.
fn sender(plan: &Plan, t: &Topo, n: u64, r: &Regions) -> Spec {
    let pg = path_arg(&plan.bins.pktgen);
    let (n, txp) = (n.to_string(), format!("netmap:{}", t.if_a));
    Spec::new(&[
        &*pg,
        "-i",
        &txp,
        "-f",
        "tx",
        "-n",
        &n,
        "-l",
        "60",
        "-s",
        "10.0.0.1:1000-10.0.0.1:1007",
        "-d",
        "10.1.0.1:2000",
        "-w",
        "0",
    ])
    .env("NMXDP_REGION", &r.tx)
    .on_cpu(cpus().tx)
}

/// pkt-gen -f rx on `port` (leaves 1 s after the traffic stopped), on the receivers' CPU.
fn receiver(plan: &Plan, port: &str, n: Option<u64>, r: &Regions) -> Spec {
    let pg = path_arg(&plan.bins.pktgen);
    let mut argv = vec![
        pg,
        "-i".into(),
        port.into(),
        "-f".into(),
        "rx".into(),
        "-W".into(),
        "-w".into(),
        "0".into(),
    ];
    if let Some(n) = n {
        argv.extend(["-n".into(), n.to_string()]);
    }
    Spec::new(&argv)
        .env("NMXDP_REGION", &r.rx)
        .on_cpu(cpus().rx)
}

/// Runs the section (None when skipped).
pub fn measure(plan: &Plan, t: &Topo) -> Option<LbRuns> {
    let reps = plan.lb_reps?;
    let pid = std::process::id();
    let regions = Regions {
        rx: format!("shared:bench-{pid}-lb"),
        tx: format!("shared:bench-{pid}-peer"),
    };
    let frames = FRAMES;
    eprintln!(
        "bench: lb: {reps} repetition(s) of lb -p 2 and a plain receiver, {frames} frames each"
    );
    let mut rows: Vec<(LbRow, Vec<Run>)> = ROWS.iter().map(|&r| (r, Vec::new())).collect();
    let mut lb_summary = None;
    let order = rotation(ROWS.len(), reps as usize);
    let done = run_order(&order, 0, plan.redo_budget(reps as usize), |slot, _| {
        let row = ROWS[slot.row];
        let r = match row {
            LbRow::Nic => {
                let port = format!("netmap:{}", t.if_b);
                let pair = Pair {
                    tx: sender(plan, t, frames, &regions),
                    rx: receiver(plan, &port, Some(frames), &regions),
                    ready: "Receiving from",
                    report: Report::Summary,
                };
                run_pair(t, &pair, frames, plan.verbose)
            }
            LbRow::Lb => {
                let (r, summary) = lb_run(plan, t, frames, &regions);
                lb_summary = summary.or(lb_summary.take());
                r
            }
        };
        eprintln!(
            "bench: rep {}/{reps} {:<12}: {}",
            slot.rep + 1,
            row.name(),
            progress(&r)
        );
        Ok(r)
    });
    for p in done.map(|d| d.kept).unwrap_or_default() {
        let (row, r) = p.into_row_run();
        rows[row].1.push(r);
    }
    Some(LbRuns {
        frames,
        reps,
        rows,
        lb_summary,
    })
}

/// How long a program may take to get ready.
const READY: Duration = Duration::from_secs(20);

/// One lb run: lb, then its two workers once its pipes are open, then the sender; the workers
/// leave 1 s after the traffic, then lb is stopped (SIGINT) for its summary. Returns the run
/// and lb's summary line.
fn lb_run(plan: &Plan, t: &Topo, n: u64, r: &Regions) -> (Run, Option<String>) {
    let mut run = Run::default();
    let lb_spec = Spec::new(&[
        path_arg(&plan.bins.lb),
        "-i".into(),
        format!("netmap:{}", t.if_b),
        "-p".into(),
        "2".into(),
        "-B".into(),
        EXTRA_BUFS.into(),
        "-w".into(),
        "0".into(),
    ])
    .env("NMXDP_REGION", &r.rx)
    .on_cpu(cpus().rx);
    let specs: Vec<Spec> = (0..2)
        .map(|k| receiver(plan, &format!("netmap:{}}}{k}", t.if_b), None, r))
        .collect();
    let tx = sender(plan, t, n, r);
    if plan.verbose {
        eprintln!("  lb: {}", lb_spec.display());
        for s in &specs {
            eprintln!("  worker: {}", s.display());
        }
        eprintln!("  tx: {}", tx.display());
    }
    let lb = match spawn(&lb_spec, t.fd_b()) {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("lb: {e:#}"));
            return (run, None);
        }
    };
    if !lb.wait_for_stderr("successfully opened pipe #2", READY) {
        lb.signal(libc::SIGINT);
        let e = lb.wait(Duration::ZERO);
        run.error = Some(format!(
            "lb not ready (exit {}): {}",
            e.code,
            tail(&e.stderr, 3)
        ));
        return (run, None);
    }
    let mut workers = Vec::new();
    let mut error = None;
    for s in &specs {
        match spawn(s, t.fd_b()) {
            Ok(c) if c.wait_for_line("Receiving from", READY) => workers.push(c),
            Ok(c) => {
                c.signal(libc::SIGINT);
                let e = c.wait(Duration::ZERO);
                error = Some(format!(
                    "worker not ready (exit {}): {}",
                    e.code,
                    tail(&e.stderr, 3)
                ));
                break;
            }
            Err(e) => {
                error = Some(format!("worker: {e:#}"));
                break;
            }
        }
    }
    if error.is_none() {
        std::thread::sleep(Duration::from_millis(50));
        let limit = Duration::from_secs(30 + n / 20_000);
        run.tx = match spawn(&tx, t.fd_a()) {
            Ok(c) => c.wait(limit),
            Err(e) => {
                error = Some(format!("sender: {e:#}"));
                Exit::default()
            }
        };
    }
    if error.is_some() {
        // No traffic is coming: a worker waits for its first frame without a time limit.
        for w in &workers {
            w.signal(libc::SIGINT);
        }
    }
    // The workers leave after a second without frames (-W); lb on SIGINT.
    let exits: Vec<Exit> = workers
        .into_iter()
        .map(|w| w.wait(Duration::from_secs(45 + n / 20_000)))
        .collect();
    lb.signal(libc::SIGINT);
    let lb_exit = lb.wait(Duration::from_secs(5));
    let summary = lb_exit
        .stdout
        .lines()
        .chain(lb_exit.stderr.lines())
        .find(|l| l.contains("packets forwarded"))
        .map(str::to_string);
    run.error = error.or_else(|| errors(&run.tx, &exits, &lb_exit));
    read(&mut run, &exits);
    if run.error.is_none() && run.received.unwrap_or(0) == 0 {
        run.error = Some("the workers received nothing".into());
    }
    // The receiving side's CPU time and peak RSS: lb's.
    run.rx = lb_exit;
    (run, summary)
}

/// Sent from the sender's summary; received and the rate from the workers'.
fn read(run: &mut Run, workers: &[Exit]) {
    if let Some(sm) = parse_summary(&run.tx.stdout, Dir::Sent) {
        run.sent = Some(sm.packets);
        run.tx_pps = (sm.packets > 0).then_some(sm.pps);
    }
    let got: Vec<(u64, f64)> = workers
        .iter()
        .filter_map(|w| parse_summary(&w.stdout, Dir::Received))
        .map(|s| (s.packets, s.pps))
        .collect();
    if got.len() != workers.len() {
        return;
    }
    let total: u64 = got.iter().map(|g| g.0).sum();
    // Both workers receive while the sender sends (its flows interleave): all frames over the
    // longer of their receiving times.
    let secs = got
        .iter()
        .filter(|g| g.0 > 0 && g.1 > 0.0)
        .map(|g| g.0 as f64 / g.1)
        .fold(0.0, f64::max);
    run.received = Some(total);
    run.rx_pps = (secs > 0.0).then(|| total as f64 / secs);
}

/// What went wrong with the programs of an lb run, or `None`.
fn errors(tx: &Exit, workers: &[Exit], lb: &Exit) -> Option<String> {
    let mut errs = Vec::new();
    let mut check = |who: &str, e: &Exit| {
        if e.code != 0 || e.timed_out {
            errs.push(format!(
                "{who} exit {}{}: {}",
                e.code,
                if e.timed_out { " (timed out)" } else { "" },
                tail(&e.stderr, 3)
            ));
        }
    };
    check("sender", tx);
    for (k, w) in workers.iter().enumerate() {
        check(&format!("worker {k}"), w);
    }
    // lb leaves on SIGINT with its summary; 130 would be a default SIGINT death.
    check("lb", lb);
    (!errs.is_empty()).then(|| errs.join("; "))
}
