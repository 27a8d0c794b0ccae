//! bridge: netmap's two-port forwarder on nmxdp.
//!
//! ```text
//! bridge [-v] [-c] [-b BURST] [-w WAIT] [--count N] -i IFA -i IFB
//! bridge [-v] [-c] [-w WAIT] IFA IFB [BURST]
//! ```
//!
//! Messages go to stderr as upstream's do (with `-v`, also a rate line per second and, at the
//! end, nmxdp's and the AF_XDP sockets' counters); the final summary goes to stdout:
//! `forwarded A->B N packets, B->A M packets, copied X bytes (bridge) Y bytes (nmxdp)`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bridge::args::{Args, Plan};
use bridge::{modes_line, zerocopy_line, Bridge, Options};
use clap::Parser;
use nmxdp::Port;

/// Set by SIGINT/SIGTERM; the loop checks it every round.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    STOP.store(true, Relaxed);
    // A second signal of the same kind kills the process (only async-signal-safe calls here).
    // SAFETY: signal(2) is async-signal-safe.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

fn install_signals() {
    let h: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic and calls signal(2).
        unsafe { libc::signal(sig, h as libc::sighandler_t) };
    }
}

fn open(name: &str) -> Result<Port> {
    Port::open(name).map_err(|e| anyhow!("cannot open {name}: {e} (errno {})", e.errno()))
}

/// Sleeps `d`, returning early on a signal.
fn sleep_interruptible(d: Duration) {
    let end = Instant::now() + d;
    while !STOP.load(Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

fn run(plan: Plan) -> Result<()> {
    let a = open(&plan.ifa)?;
    let b = open(&plan.ifb)?;
    eprintln!("{}", modes_line(&a));
    eprintln!("{}", modes_line(&b));
    let mut br = Bridge::new(
        a,
        b,
        Options {
            burst: plan.burst,
            force_copy: plan.force_copy,
            count: plan.count,
            verbose: plan.verbose,
        },
    )?;
    eprintln!("{}", zerocopy_line(br.zerocopy()));
    install_signals();
    eprintln!(
        "Wait {} secs for link to come up...",
        plan.wait_link.as_secs()
    );
    sleep_interruptible(plan.wait_link);
    eprintln!("{}", br.ready_line());
    let r = br.run(&STOP).context("forwarding");
    if plan.verbose > 0 {
        let (a, b) = br.ports();
        for (what, p) in [("A", a), ("B", b)] {
            let x = p.xdp_statistics();
            eprintln!(
                "bridge: {what} {}: {:?}; AF_XDP rx_dropped {} rx_ring_full {} \
                 rx_fill_ring_empty_descs {} tx_invalid_descs {}",
                p.if_info().name,
                p.stats(),
                x.rx_dropped,
                x.rx_ring_full,
                x.rx_fill_ring_empty_descs,
                x.tx_invalid_descs
            );
        }
        let s = br.stats();
        eprintln!(
            "bridge: bad buffer indices {}, oversized lengths {}, POLLERR rounds {}",
            s.a_to_b.bad_bufs + s.b_to_a.bad_bufs,
            s.a_to_b.bad_lens + s.b_to_a.bad_lens,
            s.poll_errors
        );
    }
    println!("{}", br.summary());
    r
}

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let plan = match args.resolve() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bridge: {e:#}");
            std::process::exit(1);
        }
    };
    if let Err(e) = run(plan) {
        eprintln!("bridge: {e:#}");
        std::process::exit(1);
    }
}
