//! Ping-pong through nmxdp, one frame in flight: pkt-gen `-f ping` against pkt-gen `-f pong`
//! (poll() and busy-wait), and the C app `nm_lib-plain -f ping` under LD_PRELOAD against
//! pkt-gen's pong. Every ping is answered (`lost=0`), exactly the requested round trips are
//! measured, and pong echoes exactly those plus the warm-up.
//!
//! The programs are run as built: `target/<profile>/pkt-gen` and `libnetmap.so` (cargo build
//! --release -p pkt-gen -p netmap-ffi) and `target/c/nm_lib-plain` (make target/c/nm_lib-plain);
//! `make test` builds them all first.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nmxdp_tests::bins::{c_app, libnetmap, pkt_gen};
use nmxdp_tests::VethPair;
use pkt_gen::latency::{parse_latency, warmup, Latency};

/// Round trips measured per run.
const N: u64 = 2000;
/// Longest a run may take (a lost ping costs 100 ms; 2000 of them would be 200 s).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A child process killed (and reaped) if the test leaves early.
struct Running(Option<Child>);

impl Running {
    /// Waits at most `limit` for the exit; returns (success, stdout, stderr). The pipes are
    /// read while it runs, so a chatty child never blocks on a full pipe.
    fn finish(mut self, what: &str, limit: Duration) -> (bool, String, String) {
        let c = self.0.as_mut().expect("child");
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_string(&mut s);
                }
                s
            })
        };
        let out = drain(c.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>));
        let err = drain(c.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>));
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break s;
            }
            // Dropping self kills and reaps the child.
            assert!(
                Instant::now() < deadline,
                "{what} did not finish within {} s",
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.0 = None;
        (
            status.success(),
            out.join().expect("stdout reader"),
            err.join().expect("stderr reader"),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `cmd args` in network namespace `ns` (with `preload` as LD_PRELOAD of that program only).
fn in_ns(ns: &str, preload: Option<&Path>, cmd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    if let Some(lib) = preload {
        c.arg("env").arg(format!("LD_PRELOAD={}", lib.display()));
    }
    c.arg(cmd).args(args);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// How pong is told to stop.
#[derive(Clone, Copy)]
enum PongEnd {
    /// `-n N + warm-up`: it leaves after echoing that many.
    Count,
    /// No `-n`: SIGTERM once ping is done (it prints its count and exits 0).
    Sigterm,
}

/// What one ping-pong run printed.
struct Outcome {
    latency: Latency,
    echoed: u64,
    ping_out: String,
}

/// Runs pkt-gen's pong on `vb` and `ping` (a command for namespace A) against it.
fn run(tag: &str, busy: bool, end: PongEnd, ping: impl FnOnce(&str) -> Command) -> Outcome {
    let pair = VethPair::new(tag, 1);
    let total = (N + warmup(N)).to_string();
    let mut args = vec!["-i", "netmap:vb", "-f", "pong", "-w", "0"];
    if let PongEnd::Count = end {
        args.extend(["-n", total.as_str()]);
    }
    if busy {
        args.push("--busy-wait");
    }
    let mut child = in_ns(&pair.b.name, None, &pkt_gen(), &args)
        .spawn()
        .expect("start pong");
    // The banner comes once the port is open: from then on frames wait in its RX ring.
    let mut stdout = BufReader::new(child.stdout.take().expect("pong stdout"));
    let pong_pid = child.id();
    let pong = Running(Some(child));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("read pong banner");
    assert!(
        banner.starts_with("Receiving from netmap:vb"),
        "pong did not start: {banner:?}"
    );

    let (ok, ping_out, ping_err) =
        Running(Some(ping(&pair.a.name).spawn().expect("start ping"))).finish("ping", RUN_LIMIT);
    assert!(ok, "ping failed:\n{ping_out}\n{ping_err}");

    if let PongEnd::Sigterm = end {
        // SAFETY: kill(2) on the pid of our own child (ip netns exec execs pong in place).
        assert_eq!(unsafe { libc::kill(pong_pid as i32, libc::SIGTERM) }, 0);
    }
    let (pong_ok, _, pong_err) = pong.finish("pong", Duration::from_secs(10));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("pong stdout");
    assert!(pong_ok, "pong failed:\n{rest}\n{pong_err}");
    let echoed = rest
        .lines()
        .find_map(|l| l.strip_prefix("pong: echoed "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'pong: echoed N frames' line in {rest:?}"));
    let latency = parse_latency(&ping_out)
        .unwrap_or_else(|| panic!("no latency: line in ping's output:\n{ping_out}"));
    drop(pair);
    Outcome {
        latency,
        echoed,
        ping_out,
    }
}

/// Every ping answered, exactly N measured, pong echoed N + warm-up, statistics consistent.
fn check(o: &Outcome) {
    let l = &o.latency;
    eprintln!("{}", o.ping_out.trim());
    assert_eq!(l.rtts, N, "round trips measured");
    assert_eq!(l.lost, 0, "pings without an echo");
    assert_eq!(o.echoed, N + warmup(N), "frames pong echoed");
    assert!(
        l.min_ns > 0
            && l.min_ns <= l.p50_ns
            && l.p50_ns <= l.p99_ns
            && l.p99_ns <= l.max_ns
            && (l.min_ns..=l.max_ns).contains(&l.avg_ns),
        "inconsistent statistics: {l:?}"
    );
    assert!(l.rate > 0.0, "no rate: {l:?}");
}

fn rust_ping(busy: bool) -> impl FnOnce(&str) -> Command {
    move |ns| {
        let n = N.to_string();
        let mut args = vec![
            "-i",
            "netmap:va",
            "-f",
            "ping",
            "-n",
            &n,
            "-l",
            "60",
            "-w",
            "0",
        ];
        if busy {
            args.push("--busy-wait");
        }
        in_ns(ns, None, &pkt_gen(), &args)
    }
}

fn c_ping(busy: bool) -> impl FnOnce(&str) -> Command {
    move |ns| {
        let n = N.to_string();
        let mut args = vec!["-i", "netmap:va", "-f", "ping", "-n", &n, "-l", "60"];
        if busy {
            args.push("-B");
        }
        in_ns(
            ns,
            Some(&libnetmap()),
            &c_app("nm_lib-plain", "nm_lib"),
            &args,
        )
    }
}

#[test]
fn rust_ping_rust_pong_poll() {
    let o = run("ppp", false, PongEnd::Count, rust_ping(false));
    check(&o);
    assert!(
        o.ping_out.contains(&format!("RTT over {N} packets: min ")),
        "upstream's final line: {}",
        o.ping_out
    );
}

#[test]
fn rust_ping_rust_pong_busy_wait() {
    let o = run("ppb", true, PongEnd::Sigterm, rust_ping(true));
    check(&o);
}

#[test]
fn c_ping_preloaded_rust_pong_poll() {
    let o = run("ppc", false, PongEnd::Count, c_ping(false));
    check(&o);
    assert!(
        o.ping_out.contains(&format!("RTT over {N} packets: min ")),
        "upstream's final line: {}",
        o.ping_out
    );
}

#[test]
fn c_ping_preloaded_rust_pong_busy_wait() {
    let o = run("ppd", true, PongEnd::Sigterm, c_ping(true));
    check(&o);
}
