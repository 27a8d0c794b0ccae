//! Selective steering (NMXDP_STEER) on a veth pair with IPv4 addresses on both ends: the
//! application gets the frames its rule matches, the kernel stack keeps everything else.
//!
//! The netmap side is our pkt-gen (target/<profile>/pkt-gen, built by `make test` or
//! `cargo build --release -p pkt-gen`), so the rule reaches nmxdp the way it reaches any
//! unmodified program: through the environment.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nmxdp_tests::bins::{c_app, nmxdp, pkt_gen as pkt_gen_bin};
use nmxdp_tests::{icmp, Netns, VethPair};

const A_ADDR: &str = "10.77.0.1";
const B_ADDR: &str = "10.77.0.2";

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status().unwrap().success();
    assert!(ok, "ip {}", args.join(" "));
}

/// A pair with 10.77.0.1/24 on va and 10.77.0.2/24 on vb.
fn addressed_pair(tag: &str, queues: u32) -> VethPair {
    let pair = VethPair::new(tag, queues);
    ip(&[
        "-n",
        &pair.a.name,
        "addr",
        "add",
        &format!("{A_ADDR}/24"),
        "dev",
        "va",
    ]);
    ip(&[
        "-n",
        &pair.b.name,
        "addr",
        "add",
        &format!("{B_ADDR}/24"),
        "dev",
        "vb",
    ]);
    pair
}

fn mac_of(ns: &Netns, dev: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "-br", "link", "show", "dev", dev])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .expect("ip -br link prints the MAC third")
        .to_string()
}

/// pkt-gen in `ns` with `NMXDP_STEER=rule` (when given).
fn pkt_gen(ns: &Netns, rule: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns.name, "env"]);
    if let Some(r) = rule {
        c.arg(format!("NMXDP_STEER={r}"));
    }
    c.arg(pkt_gen_bin()).args(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Kills a child if the test fails before waiting for it.
struct Reap(Option<Child>);

impl Reap {
    fn spawn(mut c: Command) -> Reap {
        Reap(Some(c.spawn().expect("spawn")))
    }

    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits at most `limit`, then kills it; returns its output.
    fn finish(mut self, limit: Duration) -> Output {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait_with_output().unwrap()
    }

    /// SIGINT (pkt-gen prints its summary), then [`Reap::finish`].
    fn interrupt(self) -> Output {
        // SAFETY: kill(2) on our own child's pid (ip netns exec execs pkt-gen in place).
        unsafe { libc::kill(self.pid() as i32, libc::SIGINT) };
        self.finish(Duration::from_secs(10))
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits until queue `queue` of `dev` in `ns` has rule `rule` in force.
fn wait_rule(ns: &Netns, dev: &str, queue: u32, rule: &str) -> nmxdp::steer::QueueRules {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = ns.run(|| nmxdp::steer::status(dev).unwrap_or_default());
        if let Some(q) = found
            .into_iter()
            .find(|q| q.queue == queue && q.text == rule)
        {
            return q;
        }
        assert!(
            Instant::now() < deadline,
            "rule '{rule}' never showed on {dev} queue {queue}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A byte stream derived from its offset, and its 64-bit FNV-1a checksum.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// ICMP echo requests to `dst` from the calling thread's namespace, each waiting up to 2 s.
fn ping(dst: &str, count: u16) -> usize {
    icmp::ping(dst, count, Duration::from_secs(2))
}

#[test]
fn steered_udp_reaches_the_ring_while_ping_and_tcp_reach_the_stack() {
    let pair = addressed_pair("st", 1);
    let rule = "udp and dst port 1234";
    let rx = Reap::spawn(pkt_gen(&pair.b, Some(rule), &["-i", "vb", "-f", "rx"]));
    wait_rule(&pair.b, "vb", 0, rule);

    // TCP: a listener in b, a client in a, 4 MiB and its checksum back.
    let listener = pair.b.run(|| TcpListener::bind((B_ADDR, 5001)).unwrap());
    let data = pattern(4 << 20);
    let want = fnv(&data);
    let tcp = std::thread::scope(|s| {
        let server = s.spawn(|| {
            let (mut c, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            (got.len(), fnv(&got))
        });
        let tx = Reap::spawn(pkt_gen(
            &pair.a,
            None,
            &["-i", "va", "-f", "tx", "-n", "100000", "-R", "50000"],
        ));
        let ping = pair.a.run(|| ping(B_ADDR, 20));
        pair.a.run(|| {
            let mut c = TcpStream::connect((B_ADDR, 5001)).unwrap();
            c.write_all(&data).unwrap();
        });
        let tx = tx.finish(Duration::from_secs(60));
        assert!(tx.status.success(), "pkt-gen tx: {}", text(&tx));
        (server.join().unwrap(), ping)
    });
    let ((len, sum), ping) = tcp;
    assert_eq!((len, sum), (data.len(), want), "TCP transfer damaged");
    assert_eq!(ping, 20, "ping lost replies");
    // The rule's counter (summed over the CPUs) counts exactly the steered frames; what the
    // stack got (ICMP, TCP, ARP) is counted as passed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let q = loop {
        let q = wait_rule(&pair.b, "vb", 0, rule);
        if q.terms[0].hits >= 100_000 || Instant::now() > deadline {
            break q;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(q.terms.len(), 1, "{q:?}");
    assert_eq!(q.terms[0].hits, 100_000, "{q:?}");
    assert!(q.passed >= 40, "{q:?}");
    let rx = rx.interrupt();
    let out = text(&rx);
    assert!(out.contains("Received 100000 packets"), "{out}");
    pair.assert_no_xdp();
}

#[test]
fn a_rule_that_matches_nothing_receives_nothing_and_the_stack_sees_everything() {
    let pair = addressed_pair("sn", 1);
    let rule = "udp and dst port 9";
    let rx = Reap::spawn(pkt_gen(&pair.b, Some(rule), &["-i", "vb", "-f", "rx"]));
    wait_rule(&pair.b, "vb", 0, rule);
    let sock = pair.b.run(|| UdpSocket::bind((B_ADDR, 7777)).unwrap());
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = 1000;
    let dst_mac = mac_of(&pair.b, "vb");
    let tx = Reap::spawn(pkt_gen(
        &pair.a,
        None,
        &[
            "-i",
            "va",
            "-f",
            "tx",
            "-n",
            &n.to_string(),
            "-R",
            "5000",
            "-s",
            &format!("{A_ADDR}:4000"),
            "-d",
            &format!("{B_ADDR}:7777"),
            "-D",
            &dst_mac,
        ],
    ));
    // Read while they arrive: the socket buffer holds only a few hundred.
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while got < n && sock.recv(&mut buf).is_ok() {
        got += 1;
    }
    let tx = tx.finish(Duration::from_secs(30));
    assert!(tx.status.success(), "pkt-gen tx: {}", text(&tx));
    assert_eq!(got, n, "the stack missed datagrams the rule did not match");
    let q = wait_rule(&pair.b, "vb", 0, rule);
    assert!(q.terms.iter().all(|t| t.hits == 0), "{q:?}");
    assert!(q.passed >= n as u64, "{q:?}");
    // `nmxdp steer` shows the rule and the same counters.
    let cli = Command::new("ip")
        .args(["netns", "exec", &pair.b.name])
        .arg(nmxdp())
        .args(["steer", "vb"])
        .output()
        .unwrap();
    let shown = text(&cli);
    assert!(cli.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("queue 0 (pid {}): {rule}", rx.pid())),
        "{shown}"
    );
    assert!(shown.contains("dport 9: 0 frames"), "{shown}");
    let passed: u64 = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("to the stack: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'to the stack' line: {shown}"));
    assert!(passed >= n as u64, "{shown}");
    let out = text(&rx.interrupt());
    assert!(out.contains("Received nothing."), "{out}");
}

#[test]
fn bad_rules_fail_with_einval_and_the_column() {
    let pair = VethPair::new("sb", 1);
    let out = pkt_gen(
        &pair.b,
        Some("udp and dst prot 4789"),
        &["-i", "vb", "-f", "rx", "-n", "1"],
    )
    .output()
    .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("at column 13"), "{t}");
    assert!(
        t.contains("Invalid argument") || t.contains("EINVAL") || t.contains("errno 22"),
        "{t}"
    );
    // A C program under LD_PRELOAD gets the same.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.b.name,
            "env",
            "NMXDP_STEER=udp and dst prot 4789",
        ])
        .arg(nmxdp())
        .args(["exec", "--"])
        .arg(c_app("nm_lib-plain", "nm_lib"))
        .args(["-i", "netmap:vb", "-f", "rx", "-n", "1"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("Invalid argument") && t.contains("at column 13"),
        "{t}"
    );
    pair.assert_no_xdp();
    // The API refuses it the same way, before anything is set up.
    let e = nmxdp::configure(nmxdp::Config::default().steer(Some("tcp or"))).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
    assert!(e.to_string().contains("at column 7"), "{e}");
    let too_many: Vec<String> = (1..=33).map(|p| format!("udp and dst port {p}")).collect();
    let e = nmxdp::steer::Rule::parse(&too_many.join(" or ")).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
    assert!(e.to_string().contains("the bound is 32"), "{e}");
}

#[test]
fn rules_go_when_their_user_exits_sigkill_included() {
    let pair = addressed_pair("sk", 2);
    // Two processes, two queues, two rules: each gets its own.
    let keep = Reap::spawn(pkt_gen(
        &pair.b,
        Some("icmp"),
        &["-i", "netmap:vb-1", "-f", "rx"],
    ));
    let victim = Reap::spawn(pkt_gen(
        &pair.b,
        Some("udp"),
        &["-i", "netmap:vb-0", "-f", "rx"],
    ));
    let k = wait_rule(&pair.b, "vb", 1, "icmp");
    let v = wait_rule(&pair.b, "vb", 0, "udp");
    assert_ne!(k.pid, v.pid);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(victim.pid() as i32, libc::SIGKILL) };
    let _ = victim.finish(Duration::from_secs(10));
    // The program stays (queue 1 still has its user); queue 0's rule is swept.
    let left = pair.b.run(|| nmxdp::steer::status("vb").unwrap());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((left[0].queue, left[0].text.as_str()), (1, "icmp"));
    // SIGKILL of the last user: the program and its maps go with it.
    // SAFETY: as above.
    unsafe { libc::kill(keep.pid() as i32, libc::SIGKILL) };
    let _ = keep.finish(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while pair.b.xdp_attached("vb") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    pair.assert_no_xdp();
    assert!(pair
        .b
        .run(|| nmxdp::steer::status("vb").unwrap())
        .is_empty());
    // A new user without a rule gets every frame again (netmap semantics).
    let plain = Reap::spawn(pkt_gen(&pair.b, None, &["-i", "netmap:vb-0", "-f", "rx"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pair.b.xdp_attached("vb") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pair
        .b
        .run(|| nmxdp::steer::status("vb").unwrap())
        .is_empty());
    drop(plain);
}
