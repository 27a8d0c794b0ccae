//! `lb` (examples/lb) between a veth port and worker processes on its pipes: every frame
//! reaches exactly one worker, each flow always the same one, by buffer index (zero-copy); a
//! worker SIGKILLed mid-traffic is replaced while lb keeps running; afterwards the shared
//! region's pool is whole. Root tier: a veth pair in two namespaces.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nmxdp::Port;
use nmxdp_tests::bins::{fresh, pkt_gen, profile_dir, repo_root};
use nmxdp_tests::{pktgen_received, VethPair};

fn lb() -> PathBuf {
    fresh(
        profile_dir().join("lb"),
        &[repo_root().join("examples/lb/src")],
        "cargo build --release -p lb, or make test",
    )
}

/// A program in a namespace, its output collected as it comes; killed on drop.
struct Proc {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Proc {
    fn start(ns: &str, bin: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "env"]);
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a program");
        let out = Arc::new(Mutex::new(String::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Proc { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until the output has `what` (failing if the program exits first).
    fn wait_for(&mut self, what: &str) {
        let t0 = Instant::now();
        while !self.output().contains(what) {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("exited ({st}) before '{what}':\n{}", self.output());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no '{what}' in:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGINT (`ip netns exec` and `env` exec the program in place), then its whole output.
    fn stop(self) -> String {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.finish()
    }

    fn finish(mut self) -> String {
        let t0 = Instant::now();
        while self.alive() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "still running:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The readers see the end of the pipes once the program is gone.
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker: pkt-gen receiving on pipe end `}k`, once it has the end open.
fn worker(ns: &str, k: u32) -> Proc {
    let name = format!("netmap:va}}{k}");
    let mut w = Proc::start(ns, pkt_gen(), &["-i", &name, "-f", "rx", "-w", "0"], &[]);
    w.wait_for(&format!("Receiving from {name}"));
    w
}

/// pkt-gen in the peer namespace (a region of its own): `n` frames of the 8 flows
/// 10.0.0.1:1000-1007 -> 10.1.0.1:2000 at `rate` frames per second.
fn send(ns: &str, n: u64, rate: u64) -> Proc {
    let region = format!("shared:test-{}-peer", std::process::id());
    Proc::start(
        ns,
        pkt_gen(),
        &[
            "-i",
            "netmap:vb",
            "-f",
            "tx",
            "-n",
            &n.to_string(),
            "-l",
            "60",
            "-R",
            &rate.to_string(),
            "-s",
            "10.0.0.1:1000-10.0.0.1:1007",
            "-d",
            "10.1.0.1:2000",
            "-w",
            "0",
        ],
        &[("NMXDP_REGION", &region)],
    )
}

/// The source port of a frame sent by [`send`] (IPv4 without options, UDP).
fn src_port(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[34], f[35]])
}

#[test]
fn lb_hashes_flows_to_worker_processes_zero_copy() {
    nmxdp_tests::require_root();
    // This process joins the test region first, so that it outlives the programs and the audit
    // at the end sees what they left.
    let (before, _) = nmxdp::pool_audit().unwrap();
    let pair = VethPair::new("lb", 1);
    let (a, b) = (pair.a.name.clone(), pair.b.name.clone());
    let slots = [("NMXDP_SLOTS", "2048")];
    let mut lb = Proc::start(
        &a,
        lb(),
        &["-i", "netmap:va", "-p", "2", "-B", "1000", "-w", "0"],
        &slots,
    );
    lb.wait_for("successfully opened pipe #2");
    assert!(lb.output().contains("zerocopy enabled"), "{}", lb.output());

    // 200,000 paced frames: the two workers together get every one.
    let (w0, w1) = (worker(&a, 0), worker(&a, 1));
    let n = 200_000u64;
    let tx = send(&b, n, 25_000).finish();
    assert!(tx.contains(&format!("Sent {n} packets")), "{tx}");
    std::thread::sleep(Duration::from_secs(1));
    let (r0, r1) = (pktgen_received(&w0.stop()), pktgen_received(&w1.stop()));
    eprintln!("workers received {r0} + {r1}");
    assert_eq!(r0 + r1, n, "worker 0 got {r0}, worker 1 got {r1}");
    assert!(
        r0 > 0 && r1 > 0,
        "the 8 flows spread over both pipes: {r0} {r1}"
    );

    // A worker SIGKILLed mid-traffic: lb keeps running, a new worker takes its pipe end back.
    let (w0, mut w1) = (worker(&a, 0), worker(&a, 1));
    let tx = send(&b, 50_000, 25_000);
    std::thread::sleep(Duration::from_millis(500));
    w1.child.kill().unwrap();
    w1.child.wait().unwrap();
    let w1 = worker(&a, 1);
    let tx = tx.finish();
    assert!(tx.contains("Sent 50000 packets"), "{tx}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(lb.alive(), "lb exited:\n{}", lb.output());
    let r1 = pktgen_received(&w1.stop());
    eprintln!("the new worker received {r1}");
    assert!(r1 > 0, "the new worker on }}1 received nothing");
    pktgen_received(&w0.stop());

    // Flow affinity: this process reads both pipes; every flow shows up on one of them only.
    let mut ports: Vec<Port> = (0..2)
        .map(|k| Port::open(&format!("netmap:va}}{k}")).unwrap())
        .collect();
    let tx = send(&b, 4_000, 20_000);
    let mut seen: [Vec<u16>; 2] = [Vec::new(), Vec::new()];
    let mut got = 0;
    let t0 = Instant::now();
    while got < 4_000 && t0.elapsed() < Duration::from_secs(30) {
        for (k, p) in ports.iter_mut().enumerate() {
            p.sync_rx().unwrap();
            for r in p.rx_rings() {
                for f in p.rx_ring(r).packets() {
                    seen[k].push(src_port(&f));
                    got += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tx.finish();
    assert_eq!(got, 4_000, "frames read by this process");
    for port in 1000..1008u16 {
        let on: Vec<usize> = (0..2).filter(|&k| seen[k].contains(&port)).collect();
        assert_eq!(on.len(), 1, "flow from port {port} went to pipes {on:?}");
    }
    drop(ports);

    let out = lb.stop();
    eprintln!("{out}");
    assert!(
        out.contains("0 bytes copied"),
        "lb reports zero-copy forwarding:\n{out}"
    );
    let fwd: u64 = out
        .lines()
        .find_map(|l| l.split_once(" packets forwarded."))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(fwd >= n + 4_000, "{out}");
    let (after, _) = nmxdp::pool_audit().unwrap();
    assert_eq!(after, before, "buffers per owner once every program exited");
    pair.assert_no_xdp();
}

/// Two groups (`-p 2 -p w:1`): every frame goes to one pipe of the first group, and each frame
/// its workers released goes on to the second group's pipe, except the one each worker released
/// last (it waits one slot behind the ring's tail, as in netmap).
#[test]
fn every_group_sees_every_frame() {
    nmxdp_tests::require_root();
    let pair = VethPair::new("lbg", 1);
    let (a, b) = (pair.a.name.clone(), pair.b.name.clone());
    let mut lb = Proc::start(
        &a,
        lb(),
        &["-i", "netmap:va", "-p", "2", "-p", "w:1", "-w", "0"],
        &[("NMXDP_SLOTS", "2048")],
    );
    lb.wait_for("successfully opened pipe #1 netmap:w{0");
    let (w0, w1) = (worker(&a, 0), worker(&a, 1));
    let mut g1 = Proc::start(
        &a,
        pkt_gen(),
        &["-i", "netmap:w}0", "-f", "rx", "-w", "0"],
        &[],
    );
    g1.wait_for("Receiving from netmap:w}0");
    let n = 20_000u64;
    let tx = send(&b, n, 20_000).finish();
    assert!(tx.contains(&format!("Sent {n} packets")), "{tx}");
    std::thread::sleep(Duration::from_secs(1));
    let (r0, r1) = (pktgen_received(&w0.stop()), pktgen_received(&w1.stop()));
    let second = pktgen_received(&g1.stop());
    assert_eq!(r0 + r1, n);
    let lagging = [r0, r1].iter().filter(|&&r| r > 0).count() as u64;
    assert_eq!(second, n - lagging, "first group {r0} + {r1}");
    let out = lb.stop();
    assert!(out.contains("0 packets dropped"), "{out}");
    pair.assert_no_xdp();
}
