//! bench-harness: `make bench` / `make bench-smoke`.
//!
//! Builds two private network namespaces joined by a veth pair (1 queue), then runs, one after
//! the other on that pair, a sender in A and a receiver in B for each row:
//!
//! | row              | sender / receiver                                                    |
//! |------------------|----------------------------------------------------------------------|
//! | nmxdp-rust       | `pkt-gen -f tx` / `pkt-gen -f rx` on `netmap:vb@conf:rx-slots=4096`   |
//! | nmxdp-c-preload  | `nm_lib-plain` under `LD_PRELOAD=libnetmap.so` (same port names)      |
//! | xdp-raw          | AF_XDP without the netmap layer                                      |
//! | af-packet        | TPACKET_V2 TX ring / TPACKET_V3 RX ring                              |
//!
//! for 60- and 1514-byte frames, repeated (at 60 B every other row runs between two xdp-raw runs;
//! at 1514 B each repetition runs each row once, starting one row later than the one before;
//! see [`reps`]), the receiver pinned to one CPU and the sender to another, and reports medians
//! of the sender's and the receiver's own rates, the loss, and user-space instructions per
//! packet of the sender (perf, or valgrind where the machine has no PMU); the ratios between
//! rows are medians of per-pair ratios (each run against its neighbours) with bootstrap 95%
//! intervals, judged against their targets as met, missed or undecided. Then the time to open a
//! port (first open of an interface, and another queue of one already set up) through both APIs,
//! next to a bare AF_XDP socket's; the round-trip latency of one frame in flight through both
//! APIs (poll and busy-wait), raw AF_XDP (poll and spin) and kernel UDP sockets; a 2-queue pair:
//! pkt-gen `-p 1` vs `-p 2`; pkt-gen across a netmap pipe between two processes (busy-wait and
//! poll); lb to two worker processes next to a plain receiver; 9,000-byte frames against raw
//! AF_XDP multi-buffer. And the receivers' peak RSS against nmxdp's region size.
//!
//! Output: a Markdown report on stdout, also written to `<out>/results.md`, and `<out>/results.json`.
//! Exit status 1 if any run failed or received nothing.
//!
//! Modules, in the order a bench goes through them: [`cli`] (options and the plan they resolve
//! to), [`bins`] (where the programs are), [`rows`] (what each row runs), [`netns`] (the veth
//! pair), [`reps`] (the repetitions over the [`cell`]s and the 2-queue runs), [`run`](mod@run) (one
//! sender/receiver run, on top of [`proc`]), [`instr`] (instructions per packet), [`open`](mod@open)
//! (open latency), [`paced`] (loss at half the measured rate), [`steer`] (NMXDP_STEER rule
//! cost), [`pipes`] (pkt-gen over a pipe), [`lb`] (lb's forwarding rate), [`jumbo`] (9,000 B),
//! [`latency`](mod@latency) (the ping-pong rows), [`host`] (host rings: host path rates and RTT
//! through an in-line forwarder), [`render`] (results.md and results.json).

mod bins;
mod busy;
mod cell;
mod cli;
mod host;
mod instr;
mod jumbo;
mod latency;
mod lb;
mod netns;
mod open;
mod paced;
mod pipes;
mod proc;
mod render;
mod reps;
mod rows;
mod run;
mod steer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use cli::{Cli, Plan};
use netns::Topo;
use render::Results;

/// Set by SIGINT/SIGTERM: the harness stops its children, cleans up and exits.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT/SIGTERM arrived.
pub fn stopped() -> bool {
    STOP.load(Relaxed)
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Relaxed);
}

fn install_signals() {
    let h: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores into an atomic.
    unsafe {
        libc::signal(libc::SIGINT, h as libc::sighandler_t);
        libc::signal(libc::SIGTERM, h as libc::sighandler_t);
    }
}

fn main() {
    let cli = Cli::parse();
    install_signals();
    match run(&cli) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench-harness: {e:#}");
            std::process::exit(1);
        }
    }
}

/// The whole bench; `Ok(false)` when a run failed.
fn run(cli: &Cli) -> Result<bool> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root: it creates network namespaces and veth pairs and attaches XDP");
    }
    let plan = Plan::new(cli)?;
    let started = Instant::now();
    let cpus = proc::cpus();
    // The harness's own threads (progress, the 5 ms counter sampler, output readers) mostly
    // sleep; they keep to the receivers' CPU, off the sender's, which is the busier one.
    proc::pin_self(cpus.rx).context("pinning the harness")?;
    eprintln!(
        "bench: {} rows x frames {:?} x {} repetition(s); {} packets at 60 B, {} at 1514 B; receivers and harness on CPU {}, senders on CPU {}",
        plan.rows.len(),
        plan.frames,
        plan.reps,
        plan.n60,
        plan.n1514,
        cpus.rx,
        cpus.tx
    );

    let mut cells = cell::cells(&plan);
    let topo = Topo::new("", 1).context("creating the veth pair")?;
    let begin = busy::Mark::now();
    let redone = reps::run_cells(&plan, &topo, &mut cells)?;
    let after_cells = busy::Mark::now();
    let instr_note = instr::measure(&plan, &topo, &mut cells);
    let open = open::measure(&plan, &topo)?;
    let paced = paced::measure(&plan, &topo, &cells);
    let steer = steer::measure(&plan, &topo);
    let pipes = pipes::measure(&plan, &topo);
    let lb = lb::measure(&plan, &topo);
    drop(topo);
    let jumbo = jumbo::measure(&plan)?;
    let latency = latency::measure(&plan)?;
    let host = host::measure(&plan);
    let mq = reps::run_mq(&plan)?;

    let results = Results {
        cells,
        mq,
        open,
        latency,
        paced,
        steer,
        host,
        pipes,
        lb,
        jumbo,
        instr_note,
        layout: nmxdp::config::Config::from_env()
            .ok()
            .and_then(|c| nmxdp::region::Layout::new(&c).ok()),
        elapsed: started.elapsed().as_secs_f64(),
        others: render::Others {
            throughput: busy::others(&begin, &after_cells),
            total: busy::others(&begin, &busy::Mark::now()),
            redone,
        },
    };
    let (md, json, all_ok) = render::render(&plan, &results);
    print!("{md}");
    write_results(&plan.out_dir, &md, &json.pretty())?;
    Ok(all_ok)
}

/// `results.md` and `results.json` into `dir`.
fn write_results(dir: &Path, md: &str, json: &str) -> Result<()> {
    std::fs::write(dir.join("results.md"), md).context("writing results.md")?;
    std::fs::write(dir.join("results.json"), json).context("writing results.json")?;
    eprintln!(
        "bench: wrote {} and {}",
        dir.join("results.md").display(),
        dir.join("results.json").display()
    );
    Ok(())
}
