//! Latency: one frame in flight between a ping in namespace A and a pong in namespace B, on a
//! 1-queue veth pair of its own that also carries IPv4 addresses (for the UDP row), every row
//! on the same pair:
//!
//! | row                       | ping / pong                                                  |
//! |---------------------------|--------------------------------------------------------------|
//! | nmxdp-rust poll / busy    | `pkt-gen -f ping` / `-f pong` on `netmap:va` / `netmap:vb` (`--busy-wait`) |
//! | nmxdp-c-preload poll / busy | `nm_lib-plain -f ping` / `-f pong` under `LD_PRELOAD` (`-B`) |
//! | xdp-raw poll / spin       | `xdp-pingpong` (`--busy-wait`): AF_XDP on the same rings      |
//! | udp                       | `udp-pingpong`: kernel UDP sockets, blocking `recv`           |
//!
//! Each repetition runs every row once (the busy-wait rows twice), each nmxdp row (and udp)
//! between two runs of the raw AF_XDP row of its waiting mode, the baseline of its targets, the
//! rows of a group rotating from one repetition to the next ([`sandwiched_groups`]); the pong is pinned to the receivers' CPU and the ping to the senders', as in the throughput rows.
//! Every program prints pkt-gen's `latency:` line ([`pkt_gen::latency`]) as its ping finishes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nmxdp_bench::json::Json;
use pkt_gen::latency::{parse_latency, Latency};

use crate::bins::{path_arg, Bins};
use crate::cli::Plan;
use crate::netns::{ip, Topo};
use crate::proc::{cpus, spawn, Exit, Spec};
use crate::reps::{run_order, sandwiched_groups};
use crate::run::tail;
use crate::stopped;

/// Frame length of every ping (the UDP row sends the same 60-byte frames: 18 bytes of payload).
pub const LEN: u32 = 60;
/// The pair's IPv4 addresses (side A, side B), prefix and the UDP row's port. A /30 of its own,
/// away from pkt-gen's 10.0.0.1 -> 10.1.0.1 frames.
pub const ADDR_A: &str = "192.168.77.1";
pub const ADDR_B: &str = "192.168.77.2";
const PREFIX: u8 = 30;
const UDP_PORT: u16 = 7777;

/// Through what the frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    NmxdpRust,
    NmxdpC,
    XdpRaw,
    Udp,
}

impl Via {
    pub fn key(self) -> &'static str {
        match self {
            Via::NmxdpRust => "nmxdp-rust",
            Via::NmxdpC => "nmxdp-c-preload",
            Via::XdpRaw => "xdp-raw",
            Via::Udp => "udp",
        }
    }
}

/// How both sides wait for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Asleep in the kernel: poll(2), or a blocking recv for UDP.
    Poll,
    /// Spinning: NIOCTXSYNC/NIOCRXSYNC for nmxdp, on the RX ring for raw AF_XDP.
    Busy,
}

/// One row of the latency table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatRow {
    pub via: Via,
    pub wait: Wait,
}

pub const LAT_ROWS: [LatRow; 7] = [
    LatRow::new(Via::NmxdpRust, Wait::Poll),
    LatRow::new(Via::NmxdpRust, Wait::Busy),
    LatRow::new(Via::NmxdpC, Wait::Poll),
    LatRow::new(Via::NmxdpC, Wait::Busy),
    LatRow::new(Via::XdpRaw, Wait::Poll),
    LatRow::new(Via::XdpRaw, Wait::Busy),
    LatRow::new(Via::Udp, Wait::Poll),
];

impl LatRow {
    pub const fn new(via: Via, wait: Wait) -> LatRow {
        LatRow { via, wait }
    }

    /// The waiting mode as the table names it.
    pub fn wait_key(self) -> &'static str {
        match (self.via, self.wait) {
            (Via::Udp, _) => "blocking",
            (Via::XdpRaw, Wait::Busy) => "spin",
            (_, Wait::Busy) => "busy",
            (_, Wait::Poll) => "poll",
        }
    }

    /// "nmxdp-rust poll", "xdp-raw spin", "udp", ...
    pub fn name(self) -> String {
        match self.via {
            Via::Udp => self.via.key().to_string(),
            v => format!("{} {}", v.key(), self.wait_key()),
        }
    }
}

impl crate::reps::Stamp for LatRun {
    fn stamp(&mut self, rep: usize, seq: usize) {
        (self.rep, self.seq) = (rep, seq);
    }
}

/// One ping/pong run.
#[derive(Debug, Clone, Default)]
pub struct LatRun {
    /// The repetition it belongs to and its place in the section's run order.
    pub rep: usize,
    pub seq: usize,
    pub error: Option<String>,
    pub lat: Option<Latency>,
    pub ping: Exit,
    pub pong: Exit,
    /// From the pong's start to its exit.
    pub wall_s: f64,
}

impl LatRun {
    /// The run's figures, when it succeeded.
    pub fn ok(&self) -> Option<&Latency> {
        self.lat.as_ref().filter(|_| self.error.is_none())
    }

    pub fn json(&self) -> Json {
        let l = self.lat.as_ref();
        let int = |f: fn(&Latency) -> u64| Json::int(l.map(f));
        Json::obj([
            ("rep", Json::Int(self.rep as i64)),
            ("seq", Json::Int(self.seq as i64)),
            ("ok", Json::Bool(self.error.is_none())),
            ("error", self.error.clone().map_or(Json::Null, Json::Str)),
            ("rtts", int(|l| l.rtts)),
            ("lost", int(|l| l.lost)),
            ("min_ns", int(|l| l.min_ns)),
            ("p50_ns", int(|l| l.p50_ns)),
            ("p99_ns", int(|l| l.p99_ns)),
            ("avg_ns", int(|l| l.avg_ns)),
            ("max_ns", int(|l| l.max_ns)),
            ("rate", Json::num(l.map(|l| l.rate))),
            ("wall_s", Json::num(Some(self.wall_s))),
            ("ping_cpu_user_s", Json::num(Some(self.ping.user_s))),
            ("ping_cpu_sys_s", Json::num(Some(self.ping.sys_s))),
            ("ping_wall_s", Json::num(Some(self.ping.wall_s))),
            ("pong_cpu_user_s", Json::num(Some(self.pong.user_s))),
            ("pong_cpu_sys_s", Json::num(Some(self.pong.sys_s))),
            ("ping_ctxsw_voluntary", Json::int(Some(self.ping.vcsw))),
            ("pong_ctxsw_voluntary", Json::int(Some(self.pong.vcsw))),
        ])
    }
}

/// A row's runs in the order they ran (each knows its repetition).
pub struct LatCell {
    pub row: LatRow,
    pub runs: Vec<LatRun>,
    /// Why the row does not run at all.
    pub skipped: Option<String>,
}

/// What the latency section measured.
pub struct LatencyRuns {
    /// Round trips measured per run.
    pub rtts: u64,
    pub cells: Vec<LatCell>,
}

/// The two programs of one run.
struct Pair {
    ping: Spec,
    pong: Spec,
    /// What the pong prints on stdout once it is ready.
    ready: &'static str,
}

/// Every row `plan.reps` times on a pair of its own; `None` when the section is disabled.
pub fn measure(plan: &Plan) -> Result<Option<LatencyRuns>> {
    let Some(n) = plan.latency_rtts else {
        return Ok(None);
    };
    if stopped() {
        bail!("interrupted");
    }
    let t = Topo::new("lt", 1).context("creating the latency veth pair")?;
    for (ns, ifn, addr) in [(&t.ns_a, t.if_a, ADDR_A), (&t.ns_b, t.if_b, ADDR_B)] {
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/{PREFIX}"),
            "dev",
            ifn,
        ])?;
    }
    let support = Support::probe(&plan.bins);
    let mut cells: Vec<LatCell> = LAT_ROWS
        .iter()
        .map(|&row| LatCell {
            row,
            runs: Vec::new(),
            skipped: pair(&plan.bins, &support, &t, row, n).err(),
        })
        .collect();
    for c in cells.iter().filter(|c| c.skipped.is_some()) {
        eprintln!(
            "bench: latency {}: skipped: {}",
            c.row.name(),
            c.skipped.as_deref().unwrap_or_default()
        );
    }
    let reps = plan.reps;
    // Each nmxdp row runs between two runs of the baseline its target is against (busy-wait
    // rows between raw spins, poll rows and UDP between raw polls), so every ratio pairs runs
    // adjacent in time.
    let at = |via, wait| {
        LAT_ROWS
            .iter()
            .position(|&r| r == LatRow::new(via, wait))
            .expect("a latency row")
    };
    let busy = [at(Via::NmxdpRust, Wait::Busy), at(Via::NmxdpC, Wait::Busy)];
    let busy_rev = [busy[1], busy[0]];
    let poll = [
        at(Via::NmxdpRust, Wait::Poll),
        at(Via::NmxdpC, Wait::Poll),
        at(Via::Udp, Wait::Poll),
    ];
    // The busy-wait rows run twice per repetition (the second time in the other order): their
    // ratios sit a few percent under their target, where the interval's width decides the
    // verdict, while the poll rows are far from theirs (bench/README.md, "Method").
    let spin = at(Via::XdpRaw, Wait::Busy);
    let order = sandwiched_groups(
        &[
            (spin, &busy),
            (at(Via::XdpRaw, Wait::Poll), &poll),
            (spin, &busy_rev),
        ],
        reps as usize,
    );
    let done = run_order(&order, 0, plan.redo_budget(reps as usize), |slot, _| {
        let cell = &cells[slot.row];
        let Ok(p) = pair(&plan.bins, &support, &t, cell.row, n) else {
            return Ok(None);
        };
        let r = run_one(&t, &p, cell.row, n, plan.verbose);
        let us = |f: fn(&Latency) -> u64| {
            r.lat
                .map_or("?".into(), |l| format!("{:.1}", f(&l) as f64 / 1e3))
        };
        eprintln!(
            "bench: latency rep {}/{reps} {:<20}: p50 {} us, p99 {} us, {} round trips/s{}",
            slot.rep + 1,
            cell.row.name(),
            us(|l| l.p50_ns),
            us(|l| l.p99_ns),
            r.lat.map_or("?".into(), |l| format!("{:.0}", l.rate)),
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!("  FAILED: {e}"))
        );
        Ok(Some(r))
    })?;
    for p in done.kept {
        if let (row, Some(r)) = p.into_row_run() {
            cells[row].runs.push(r);
        }
    }
    Ok(Some(LatencyRuns { rtts: n, cells }))
}

/// Which nmxdp programs know `-f ping` / `-f pong` (their help lists it).
struct Support {
    pktgen: bool,
    c_app: bool,
}

impl Support {
    fn probe(bins: &Bins) -> Support {
        let lists_ping = |bin: &Path, flag: &str| {
            Command::new(bin)
                .arg(flag)
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ping"))
        };
        Support {
            pktgen: lists_ping(&bins.pktgen, "--help"),
            c_app: bins
                .c_app
                .as_ref()
                .is_some_and(|(app, _)| lists_ping(app, "-h")),
        }
    }
}

/// The ping (side A) and pong (side B) of `row` for `n` round trips, pinned like the throughput
/// rows' sender and receiver; `Err` with why the row cannot run.
fn pair(bins: &Bins, support: &Support, t: &Topo, row: LatRow, n: u64) -> Result<Pair, String> {
    let (n, l) = (n.to_string(), LEN.to_string());
    let (pa, pb) = (format!("netmap:{}", t.if_a), format!("netmap:{}", t.if_b));
    let busy = row.wait == Wait::Busy;
    let mut p = match row.via {
        Via::NmxdpRust => {
            if !support.pktgen {
                return Err(format!(
                    "{} has no -f ping (its --help does not list it)",
                    bins.pktgen.display()
                ));
            }
            let pg = path_arg(&bins.pktgen);
            // `-w 0`: no wait for the link (it is up), as in the throughput rows.
            let mut ping = vec![&*pg, "-i", &pa, "-f", "ping", "-n", &n, "-l", &l, "-w", "0"];
            let mut pong = vec![&*pg, "-i", &pb, "-f", "pong", "-w", "0"];
            if busy {
                ping.push("--busy-wait");
                pong.push("--busy-wait");
            }
            Pair {
                ping: Spec::new(&ping),
                pong: Spec::new(&pong),
                ready: "Receiving from",
            }
        }
        Via::NmxdpC => {
            let Some((app, lib)) = &bins.c_app else {
                return Err(bins.c_missing.clone().unwrap_or_default());
            };
            if !support.c_app {
                return Err(format!(
                    "{} has no -f ping (its -h does not list it)",
                    app.display()
                ));
            }
            let (app, lib) = (path_arg(app), path_arg(lib));
            let mut ping = vec![&*app, "-i", &pa, "-f", "ping", "-n", &n, "-l", &l];
            let mut pong = vec![&*app, "-i", &pb, "-f", "pong"];
            if busy {
                ping.push("-B");
                pong.push("-B");
            }
            Pair {
                ping: Spec::new(&ping).env("LD_PRELOAD", &lib),
                pong: Spec::new(&pong).env("LD_PRELOAD", &lib),
                ready: "ready:",
            }
        }
        Via::XdpRaw => {
            let bin = path_arg(&bins.xdp_pingpong);
            let mut ping = vec![&*bin, "-i", t.if_a, "-f", "ping", "-n", &n, "-l", &l];
            let mut pong = vec![&*bin, "-i", t.if_b, "-f", "pong"];
            if busy {
                ping.push("--busy-wait");
                pong.push("--busy-wait");
            }
            Pair {
                ping: Spec::new(&ping),
                pong: Spec::new(&pong),
                ready: "ready:",
            }
        }
        Via::Udp => {
            let bin = path_arg(&bins.udp_pingpong);
            let (a, b) = (
                format!("{ADDR_A}:{UDP_PORT}"),
                format!("{ADDR_B}:{UDP_PORT}"),
            );
            Pair {
                ping: Spec::new(&[
                    &*bin, "-f", "ping", "-n", &n, "-l", &l, "--local", &a, "--peer", &b,
                ]),
                pong: Spec::new(&[&*bin, "-f", "pong", "--local", &b]),
                ready: "ready:",
            }
        }
    };
    let c = cpus();
    p.ping.cpu = Some(c.tx);
    p.pong.cpu = Some(c.rx);
    Ok(p)
}

/// Whether an XDP program is attached to `ifname` in namespace `ns` (`ip -d link` shows
/// `prog/xdp`).
fn xdp_attached(ns: &str, ifname: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "-d", "link", "show", "dev", ifname])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp"))
}

/// The UDP row must see the kernel's own path: every other row's programs hold the XDP program
/// through a bpf_link that goes when they exit; wait briefly for that, or say which interface
/// still has one.
fn xdp_gone(t: &Topo) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<&str> = [(&t.ns_a, t.if_a), (&t.ns_b, t.if_b)]
            .into_iter()
            .filter(|(ns, ifn)| xdp_attached(ns, ifn))
            .map(|(_, ifn)| ifn)
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!(
                "an XDP program is still attached to {}",
                left.join(" and ")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the pong in B, waits for its ready line, runs the ping in A, then stops the pong.
fn run_one(t: &Topo, p: &Pair, row: LatRow, n: u64, verbose: bool) -> LatRun {
    let mut run = LatRun::default();
    if verbose {
        eprintln!("  pong: {}\n  ping: {}", p.pong.display(), p.ping.display());
    }
    if row.via == Via::Udp {
        if let Err(e) = xdp_gone(t) {
            run.error = Some(e);
            return run;
        }
    }
    let started = Instant::now();
    let pong = match spawn(&p.pong, t.fd_b()) {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("{e:#}"));
            return run;
        }
    };
    let stop_grace = |started: Instant| started.elapsed() + Duration::from_secs(5);
    if !pong.wait_for_line(p.ready, Duration::from_secs(20)) {
        pong.signal(libc::SIGINT);
        run.pong = pong.wait(stop_grace(started));
        run.error = Some(format!(
            "pong not ready (exit {}): {}",
            run.pong.code,
            tail(&run.pong.stderr, 3)
        ));
        return run;
    }
    // A lost ping costs the resend timeout (100 ms); a run this long has gone wrong.
    let timeout = Duration::from_secs(20) + Duration::from_millis(n);
    match spawn(&p.ping, t.fd_a()) {
        Ok(c) => run.ping = c.wait(timeout),
        Err(e) => run.error = Some(format!("{e:#}")),
    }
    pong.signal(libc::SIGINT);
    run.pong = pong.wait(stop_grace(started));
    run.wall_s = started.elapsed().as_secs_f64();
    if verbose {
        eprint!("{}{}", run.ping.stderr, run.pong.stderr);
    }
    run.lat = parse_latency(&run.ping.stdout);
    if run.error.is_none() {
        run.error = errors(&run);
    }
    run
}

/// Everything wrong with a finished run, or `None`. The pong is stopped with SIGINT: exiting 0
/// or by that signal is how it should end.
fn errors(run: &LatRun) -> Option<String> {
    let mut errs = Vec::new();
    if run.ping.code != 0 || run.ping.timed_out {
        errs.push(format!(
            "ping exit {}{}: {}",
            run.ping.code,
            if run.ping.timed_out {
                " (timed out)"
            } else {
                ""
            },
            tail(&run.ping.stderr, 3)
        ));
    }
    if !matches!(run.pong.code, 0 | 130) || run.pong.timed_out {
        errs.push(format!(
            "pong exit {}{}: {}",
            run.pong.code,
            if run.pong.timed_out {
                " (timed out)"
            } else {
                ""
            },
            tail(&run.pong.stderr, 3)
        ));
    }
    match run.lat {
        None => errs.push("no latency: line from the ping".into()),
        Some(l) if l.rtts == 0 => errs.push("no round trip measured".into()),
        _ => {}
    }
    (!errs.is_empty()).then(|| errs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors() {
        let names: Vec<String> = LAT_ROWS.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "nmxdp-rust poll",
                "nmxdp-rust busy",
                "nmxdp-c-preload poll",
                "nmxdp-c-preload busy",
                "xdp-raw poll",
                "xdp-raw spin",
                "udp"
            ]
        );
        let mut run = LatRun::default();
        run.pong.code = 130;
        assert_eq!(
            errors(&run).as_deref(),
            Some("no latency: line from the ping")
        );
        run.ping.stdout =
            "latency: rtts=5 lost=0 min_ns=1 p50_ns=2 p99_ns=3 avg_ns=2 max_ns=3 rate=1.0\n".into();
        run.lat = parse_latency(&run.ping.stdout);
        assert_eq!(errors(&run), None);
        run.pong.code = 1;
        run.pong.stderr = "boom\n".into();
        assert_eq!(errors(&run).as_deref(), Some("pong exit 1: boom"));
    }
}
