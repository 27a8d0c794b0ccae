//! pkt-gen's functions and options end to end, on veth pairs in private namespaces: txseq to
//! rxseq clean and with one frame dropped on the way (a tc rule in a middle namespace), the
//! double SIGINT of `timeout -s INT`, random sizes (`-l` twice) seen through rx's `-X` dump, and
//! the system's error text when another process holds the queue.
//!
//! pkt-gen is run as built: `target/<profile>/pkt-gen` (cargo build --release -p pkt-gen, or
//! make test).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nmxdp_tests::bins::pkt_gen;
use nmxdp_tests::{number_after, Netns, VethPair};

const LIMIT: Duration = Duration::from_secs(30);

/// A pkt-gen started in a namespace, killed (and reaped) if the test leaves early.
struct Running {
    child: Option<Child>,
    stdout: Option<BufReader<ChildStdout>>,
}

/// What a finished pkt-gen left.
struct Done {
    code: Option<i32>,
    out: String,
    err: String,
}

impl Running {
    fn start(ns: &str, args: &[&str]) -> Running {
        let mut c = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(pkt_gen())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pkt-gen");
        let stdout = c.stdout.take().map(BufReader::new);
        Running {
            child: Some(c),
            stdout,
        }
    }

    /// Reads the banner line: once printed, the port is open.
    fn banner(&mut self) -> String {
        let mut l = String::new();
        self.stdout
            .as_mut()
            .expect("stdout")
            .read_line(&mut l)
            .expect("read banner");
        l
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("child").id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid (ip netns exec execs pkt-gen in place).
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn finish(mut self) -> Done {
        let mut c = self.child.take().expect("child");
        let mut so = self.stdout.take();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = so.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let mut se = c.stderr.take();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = se.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("pkt-gen did not finish within {} s", LIMIT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Done {
            code: status.code(),
            out: out.join().expect("stdout"),
            err: err.join().expect("stderr"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(ns: &str, args: &[&str]) -> Done {
    Running::start(ns, args).finish()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tc(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "tc"])
        .args(args)
        .output()
        .expect("tc(8): install iproute2");
    assert!(
        out.status.success(),
        "tc {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// txseq in `tx_ns` on `tx_if` to rxseq in `rx_ns` on `rx_if`: `n` frames, paced so that the
/// receiver never falls behind. Returns rxseq's output.
fn txseq_to_rxseq(tx_ns: &str, tx_if: &str, rx_ns: &str, rx_if: &str, n: u64) -> Done {
    let rx_name = format!("netmap:{rx_if}");
    let mut rx = Running::start(rx_ns, &["-i", &rx_name, "-f", "rxseq", "-w", "0", "-W"]);
    let b = rx.banner();
    assert!(
        b.starts_with("Receiving from"),
        "rxseq did not start: {b:?}"
    );
    let count = n.to_string();
    let tx_name = format!("netmap:{tx_if}");
    let tx = run(
        tx_ns,
        &[
            "-i", &tx_name, "-f", "txseq", "-n", &count, "-R", "20000", "-w", "0",
        ],
    );
    assert_eq!(tx.code, Some(0), "txseq failed:\n{}\n{}", tx.out, tx.err);
    assert_eq!(number_after(&tx.out, "Sent "), Some(n), "{}", tx.out);
    let rx = rx.finish();
    assert_eq!(rx.code, Some(0), "rxseq failed:\n{}\n{}", rx.out, rx.err);
    eprintln!("{}{}", rx.out, rx.err);
    rx
}

#[test]
fn txseq_to_rxseq_clean() {
    let pair = VethPair::new("sq", 1);
    let n = 3000;
    let rx = txseq_to_rxseq(&pair.a.name, "va", &pair.b.name, "vb", n);
    assert_eq!(number_after(&rx.out, "Received "), Some(n), "{}", rx.out);
    assert!(
        rx.out
            .contains("Sequence: 0 gaps (0 frames missing), 0 out of order"),
        "{}",
        rx.out
    );
    assert!(!rx.err.contains("Sequence GAP"), "{}", rx.err);
}

/// va (a) -- vb (m) | tc on vb's ingress: frame 500 to vx (a dead end: vy, its peer, has no
/// listener), the rest to vc | vc (m) -- vd (b). Only u32 and mirred are needed (kernels
/// without the gact drop action or matchall).
#[test]
fn txseq_to_rxseq_reports_a_dropped_frame() {
    let a = Netns::new("dra");
    let m = Netns::new("drm");
    let b = Netns::new("drb");
    let veth = |x: &str, nx: &Netns, y: &str, ny: &Netns| {
        ip(&[
            "link", "add", x, "netns", &nx.name, "type", "veth", "peer", "name", y, "netns",
            &ny.name,
        ])
    };
    veth("va", &a, "vb", &m);
    veth("vc", &m, "vd", &b);
    veth("vx", &m, "vy", &m);
    for (ns, dev) in [
        (&a, "va"),
        (&m, "vb"),
        (&m, "vc"),
        (&b, "vd"),
        (&m, "vx"),
        (&m, "vy"),
    ] {
        ip(&["-n", &ns.name, "link", "set", dev, "up"]);
    }
    tc(&m.name, &["qdisc", "add", "dev", "vb", "ingress"]);
    // u32 offsets count from the IPv4 header: 20 + 8 bytes of headers, then txseq's number.
    tc(
        &m.name,
        &[
            "filter",
            "add",
            "dev",
            "vb",
            "ingress",
            "prio",
            "1",
            "protocol",
            "ip",
            "u32",
            "match",
            "u32",
            "500",
            "0xffffffff",
            "at",
            "28",
            "action",
            "mirred",
            "egress",
            "redirect",
            "dev",
            "vx",
        ],
    );
    tc(
        &m.name,
        &[
            "filter", "add", "dev", "vb", "ingress", "prio", "2", "protocol", "all", "u32",
            "match", "u32", "0", "0", "at", "0", "action", "mirred", "egress", "redirect", "dev",
            "vc",
        ],
    );
    let n = 3000;
    let rx = txseq_to_rxseq(&a.name, "va", &b.name, "vd", n);
    assert_eq!(
        number_after(&rx.out, "Received "),
        Some(n - 1),
        "{}",
        rx.out
    );
    assert!(
        rx.out
            .contains("Sequence: 1 gaps (1 frames missing), 0 out of order"),
        "{}",
        rx.out
    );
    assert!(
        rx.err
            .contains("rxseq_body Sequence GAP: exp 500 found 501"),
        "upstream's line: {}",
        rx.err
    );
}

/// `timeout -s INT` sends SIGINT twice in quick succession: the summary still comes, exit 0.
#[test]
fn double_sigint_prints_the_summary() {
    let pair = VethPair::new("si", 1);
    let mut rx = Running::start(&pair.b.name, &["-i", "netmap:vb", "-f", "rx", "-w", "0"]);
    rx.banner();
    let mut tx = Running::start(
        &pair.a.name,
        &["-i", "netmap:va", "-f", "tx", "-R", "10000", "-w", "0"],
    );
    tx.banner();
    std::thread::sleep(Duration::from_millis(500));
    for r in [&tx, &rx] {
        r.signal(libc::SIGINT);
        r.signal(libc::SIGINT);
    }
    let tx = tx.finish();
    let rx = rx.finish();
    for (what, d, word) in [("tx", &tx, "Sent "), ("rx", &rx, "Received ")] {
        assert_eq!(d.code, Some(0), "{what}:\n{}\n{}", d.out, d.err);
        let n = number_after(&d.out, word);
        assert!(n.is_some_and(|n| n > 0), "{what} summary: {}", d.out);
        assert!(d.out.contains("Speed: "), "{what}: {}", d.out);
    }
}

/// rx `--stats` prints `Receiver gaps:` (pkt_gen::gaps): a 300 ms pause of the sender between
/// two bursts is the receiver's longest pause, spent waiting in poll(), and the pass after it
/// finds the second burst's frames.
#[test]
fn rx_stats_report_the_receivers_longest_pause() {
    let pair = VethPair::new("gp", 1);
    let mut rx = Running::start(
        &pair.b.name,
        &[
            "-i",
            "netmap:vb",
            "-f",
            "rx",
            "-n",
            "400",
            "-w",
            "0",
            "--stats",
        ],
    );
    let b = rx.banner();
    assert!(b.starts_with("Receiving from"), "rx did not start: {b:?}");
    for burst in 0..2 {
        if burst > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let tx = run(
            &pair.a.name,
            &["-i", "netmap:va", "-f", "tx", "-n", "200", "-w", "0"],
        );
        assert_eq!(tx.code, Some(0), "tx failed:\n{}\n{}", tx.out, tx.err);
    }
    let rx = rx.finish();
    assert_eq!(rx.code, Some(0), "rx failed:\n{}\n{}", rx.out, rx.err);
    assert_eq!(number_after(&rx.out, "Received "), Some(400), "{}", rx.out);
    let g = pkt_gen::gaps::Gaps::parse(&rx.out)
        .unwrap_or_else(|| panic!("no Receiver gaps line:\n{}", rx.out));
    let ms = Duration::from_millis;
    assert!(
        g.longest.gap >= ms(300) && g.longest.gap < ms(20_000),
        "{g:?}"
    );
    // The whole pause but the pass before it was spent waiting in poll().
    assert!(g.longest.in_wait >= ms(290), "{g:?}");
    assert!((1..=200).contains(&g.longest.slots), "{g:?}");
    assert!((1..=1023).contains(&g.fullest.slots), "{g:?}");
}

/// `-l 200 -l 64`: every frame is 64..199 bytes, and sizes vary; rx `-X` dumps each frame.
#[test]
fn random_sizes_within_bounds_and_dump() {
    let pair = VethPair::new("rs", 1);
    let mut rx = Running::start(
        &pair.b.name,
        &[
            "-i",
            "netmap:vb",
            "-f",
            "rx",
            "-w",
            "0",
            "-W",
            "-X",
            "-n",
            "300",
        ],
    );
    rx.banner();
    let tx = run(
        &pair.a.name,
        &[
            "-i",
            "netmap:va",
            "-f",
            "tx",
            "-n",
            "300",
            "-l",
            "200",
            "-l",
            "64",
            "-b",
            "4",
            "-R",
            "20000",
            "-w",
            "0",
            "-S",
            "02:00:00:00:00:01",
        ],
    );
    assert_eq!(tx.code, Some(0), "{}\n{}", tx.out, tx.err);
    let rx = rx.finish();
    assert_eq!(rx.code, Some(0), "{}\n{}", rx.out, rx.err);
    let lens: Vec<usize> = rx
        .out
        .lines()
        .filter(|l| l.starts_with("ring "))
        .map(|l| {
            let i = l.rfind("len").expect("len") + 3;
            l[i..].trim_end_matches(']').trim().parse().expect("len")
        })
        .collect();
    assert_eq!(lens.len(), 300, "one dump per frame");
    assert!(lens.iter().all(|l| (64..200).contains(l)), "{lens:?}");
    let distinct: std::collections::BTreeSet<_> = lens.iter().collect();
    assert!(distinct.len() > 10, "sizes hardly vary: {distinct:?}");
    // The dump shows the frame: broadcast destination, our source MAC, IPv4.
    assert!(
        rx.out
            .contains("    0: ff ff ff ff ff ff 02 00 00 00 00 01 08 00 45 00 "),
        "{}",
        &rx.out[..rx.out.len().min(600)]
    );
    assert_eq!(number_after(&rx.out, "Received "), Some(300));
}

/// A queue held by another process: upstream's `NAME: strerror` text, then nmxdp's hint.
#[test]
fn busy_queue_shows_the_system_text() {
    let pair = VethPair::new("eb", 1);
    let mut holder = Running::start(&pair.b.name, &["-i", "netmap:vb", "-f", "rx", "-w", "0"]);
    holder.banner();
    let second = run(&pair.b.name, &["-i", "netmap:vb", "-f", "rx", "-w", "0"]);
    assert_eq!(second.code, Some(1), "{}\n{}", second.out, second.err);
    assert!(
        second
            .err
            .contains("netmap:vb: Device or resource busy [errno 16]: "),
        "{}",
        second.err
    );
    assert!(
        second.err.contains("held by another nmxdp process"),
        "{}",
        second.err
    );
    holder.signal(libc::SIGINT);
    let h = holder.finish();
    assert_eq!(h.code, Some(0), "{}\n{}", h.out, h.err);
    assert!(h.out.contains("Received nothing."), "{}", h.out);
}
