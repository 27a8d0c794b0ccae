//! Open latency: how long opening a port takes, through the Rust API (`open-close`), through the
//! C API under `LD_PRELOAD` (`nm_openclose`), and what the kernel alone charges for an AF_XDP
//! socket (`open-close --raw`), each as a number of open+close cycles in one process:
//!
//! * first open: one port on the 1-queue pair, nothing attached before each cycle (XDP program
//!   load and attach, socket, UMEM registration, rings);
//! * another queue: queue 1 of a 2-queue pair while a port on queue 0 stays open (program
//!   attached, UMEM registered), so a cycle only adds a socket that shares the UMEM.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use nmxdp_bench::parse::{parse_cycles, CycleMs};

use crate::bins::{path_arg, Bins};
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, spawn, Spec};
use crate::run::tail;
use crate::stopped;

/// Pause between cycles, passed to the programs: the kernel's deferred teardown of one close
/// then does not land on the next open.
pub const PAUSE_MS: u64 = 20;

/// What is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The first port on an interface.
    First,
    /// Another queue of an interface a port already set up.
    OtherQueue,
}

impl Case {
    pub fn key(self) -> &'static str {
        match self {
            Case::First => "first_open",
            Case::OtherQueue => "other_queue",
        }
    }

    /// The goal for the median, in milliseconds.
    pub fn target_ms(self) -> f64 {
        match self {
            Case::First => 5.0,
            Case::OtherQueue => 1.0,
        }
    }
}

/// Through what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Rust,
    C,
    /// A bare AF_XDP socket: the baseline, without a target.
    Raw,
}

impl Api {
    pub fn key(self) -> &'static str {
        match self {
            Api::Rust => "nmxdp-rust",
            Api::C => "nmxdp-c-preload",
            Api::Raw => "xdp-raw",
        }
    }
}

/// One program's cycles.
pub struct OpenRun {
    pub case: Case,
    pub api: Api,
    /// What each cycle opens.
    pub what: String,
    pub cycles: Vec<CycleMs>,
    pub error: Option<String>,
    /// Why it did not run.
    pub skipped: Option<String>,
}

/// Every open-latency run of the plan: on `t1` (the 1-queue pair), then on a 2-queue pair of
/// its own. Nothing when the section is disabled.
pub fn measure(plan: &Plan, t1: &Topo) -> Result<Vec<OpenRun>> {
    let Some(n) = plan.open_cycles else {
        return Ok(Vec::new());
    };
    let mut runs = Vec::new();
    for api in [Api::Raw, Api::Rust, Api::C] {
        runs.push(one(plan, t1, Case::First, api, n)?);
    }
    let t2 = Topo::new("oq", 2).context("creating the 2-queue veth pair")?;
    for api in [Api::Raw, Api::Rust, Api::C] {
        runs.push(one(plan, &t2, Case::OtherQueue, api, n)?);
    }
    Ok(runs)
}

/// The command of one run on `t`'s side A, and what it opens; `Err` with why it cannot run.
fn spec(bins: &Bins, t: &Topo, case: Case, api: Api, n: u32) -> Result<(Spec, String), String> {
    let (ifn, n, pause) = (t.if_a, n.to_string(), PAUSE_MS.to_string());
    let (q, hold) = match case {
        Case::First => (0, None),
        Case::OtherQueue => (1, Some(0)),
    };
    let port = format!("netmap:{ifn}-{q}");
    let held = hold.map(|h| format!("netmap:{ifn}-{h}"));
    let oc = path_arg(&bins.open_close);
    Ok(match api {
        Api::Raw => {
            let qs = q.to_string();
            let mut argv = vec![&*oc, "--raw", "-i", ifn, "-q", &qs, "-n", &n];
            argv.extend(["--pause-ms", &pause]);
            let hq = hold.map(|h: u32| h.to_string());
            if let Some(h) = &hq {
                argv.extend(["--hold-queue", h]);
            }
            let what = match hold {
                None => format!("AF_XDP socket on {ifn} queue {q}"),
                Some(h) => {
                    format!("AF_XDP socket on {ifn} queue {q} sharing the UMEM of queue {h}'s")
                }
            };
            (Spec::new(&argv), what)
        }
        Api::Rust => {
            let mut argv = vec![&*oc, "-i", &port, "-n", &n, "--pause-ms", &pause];
            if let Some(h) = &held {
                argv.extend(["--hold", h]);
            }
            (Spec::new(&argv), port.clone())
        }
        Api::C => {
            let Some((app, lib)) = &bins.c_openclose else {
                return Err(bins.c_openclose_missing.clone().unwrap_or_default());
            };
            let app = path_arg(app);
            let mut argv = vec![&*app, "-i", &port, "-n", &n, "-p", &pause];
            if let Some(h) = &held {
                argv.extend(["-H", h]);
            }
            (
                Spec::new(&argv).env("LD_PRELOAD", &path_arg(lib)),
                port.clone(),
            )
        }
    })
}

/// Runs one program and reads its cycles.
fn one(plan: &Plan, t: &Topo, case: Case, api: Api, n: u32) -> Result<OpenRun> {
    if stopped() {
        bail!("interrupted");
    }
    let mut run = OpenRun {
        case,
        api,
        what: String::new(),
        cycles: Vec::new(),
        error: None,
        skipped: None,
    };
    let spec = match spec(&plan.bins, t, case, api, n) {
        // On the senders' CPU, away from the harness (which keeps to the receivers').
        Ok((s, what)) => {
            run.what = what;
            s.on_cpu(cpus().tx)
        }
        Err(why) => {
            eprintln!(
                "bench: open latency {} {}: skipped: {why}",
                case.key(),
                api.key()
            );
            run.skipped = Some(why);
            return Ok(run);
        }
    };
    if plan.verbose {
        eprintln!("  {}", spec.display());
    }
    // Seconds per cycle at worst, with room for a slow first one.
    let timeout = Duration::from_secs(30 + 2 * n as u64);
    let exit = match spawn(&spec, t.fd_a()) {
        Ok(c) => c.wait(timeout),
        Err(e) => {
            run.error = Some(format!("{e:#}"));
            return Ok(run);
        }
    };
    if plan.verbose {
        eprint!("{}", exit.stderr);
    }
    run.cycles = parse_cycles(&exit.stdout);
    if exit.code != 0 || exit.timed_out {
        run.error = Some(format!(
            "exit {}{}: {}",
            exit.code,
            if exit.timed_out { " (timed out)" } else { "" },
            tail(&exit.stderr, 3)
        ));
    } else if run.cycles.len() != n as usize {
        run.error = Some(format!("{} of {n} cycles reported", run.cycles.len()));
    }
    let med =
        |v: Vec<f64>| nmxdp_bench::stats::median(&v).map_or("n/a".into(), |m| format!("{m:.3}"));
    eprintln!(
        "bench: open latency {:<11} {:<15}: open+close {} ms, open {} ms (medians of {}){}",
        case.key(),
        api.key(),
        med(run.cycles.iter().map(|c| c.total).collect()),
        med(run.cycles.iter().filter_map(|c| c.open).collect()),
        run.cycles.len(),
        run.error
            .as_ref()
            .map_or(String::new(), |e| format!("  FAILED: {e}"))
    );
    Ok(run)
}
