//! The bridge example forwards between two veth pairs: A (va) <-> (vb1) B (vb2) <-> (vc) C.
//!
//! Endpoints in A and C send numbered frames and receive the other side's, byte for byte and in
//! order. The bridge runs in B, in-process through the `bridge` library (exact counters), and
//! once as the built `bridge` binary to prove the command line.
//!
//! Each endpoint keeps at most `WINDOW` frames in flight towards its peer (it waits for the
//! peer's receive count), so no ring on the path can overflow and every count is exact.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bridge::forward::Moved;
use bridge::{Bridge, DirStats, Mover, Options, Stats};
use nmxdp::abi::NS_MOREFRAG;
use nmxdp::{Events, Port, PortStats};
use nmxdp_tests::{drain, enter, frame, recv_upto, send_all, seq_of, Netns, VethPair};

/// Frames an endpoint may have sent that its peer has not received yet. With the bridge holding
/// at most a ring (1023 slots) of consumed buffers, the kernel always finds a fill buffer on
/// the bridge's RX queue (2048 buffers for 1024 slots).
const WINDOW: u64 = 768;
/// Frames an endpoint queues at once.
const CHUNK: usize = 500;
/// An endpoint gives up after this long without sending or receiving anything.
const IDLE: Duration = Duration::from_secs(5);
/// Longest wait for ports to open or the bridge to become ready.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip(8): install iproute2");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three namespaces and two single-queue veth pairs: va (A) - vb1 (B), vb2 (B) - vc (C).
struct Topo {
    a: Netns,
    b: Netns,
    c: Netns,
}

impl Topo {
    fn new(tag: &str) -> Topo {
        let t = Topo {
            a: Netns::new(&format!("{tag}a")),
            b: Netns::new(&format!("{tag}b")),
            c: Netns::new(&format!("{tag}c")),
        };
        for (x, xi, y, yi) in [(&t.a, "va", &t.b, "vb1"), (&t.b, "vb2", &t.c, "vc")] {
            ip(&[
                "link",
                "add",
                xi,
                "netns",
                &x.name,
                "numtxqueues",
                "1",
                "numrxqueues",
                "1",
                "type",
                "veth",
                "peer",
                "name",
                yi,
                "netns",
                &y.name,
                "numtxqueues",
                "1",
                "numrxqueues",
                "1",
            ]);
        }
        for (ns, i) in [(&t.a, "va"), (&t.b, "vb1"), (&t.b, "vb2"), (&t.c, "vc")] {
            ip(&["-n", &ns.name, "link", "set", i, "up"]);
        }
        t
    }

    fn assert_no_xdp(&self) {
        for (ns, i) in [
            (&self.a, "va"),
            (&self.b, "vb1"),
            (&self.b, "vb2"),
            (&self.c, "vc"),
        ] {
            assert!(!ns.xdp_attached(i), "an XDP program was left on {i}");
        }
    }
}

/// Start signal for the endpoints: 0 wait, 1 go, 2 abort.
const WAIT: u8 = 0;
const GO: u8 = 1;
const ABORT: u8 = 2;

/// Sets the bridge's stop flag and aborts waiting endpoints when the test unwinds, so scoped
/// threads always finish.
struct Teardown<'a> {
    stop: &'a AtomicBool,
    go: &'a AtomicU8,
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        let _ = self.go.compare_exchange(WAIT, ABORT, Relaxed, Relaxed);
        self.stop.store(true, Relaxed);
    }
}

/// One side (A or C): what it sends and how many frames it expects.
struct Side<'a> {
    ns: &'a Netns,
    ifname: &'static str,
    send: &'a [Vec<u8>],
    expect: usize,
    /// Frames this side received so far (its peer's flow control).
    my_rx: &'a AtomicU64,
    /// Frames the peer received so far.
    peer_rx: &'a AtomicU64,
}

#[derive(Default)]
struct SideResult {
    got: Vec<Vec<u8>>,
    sent: usize,
    stats: PortStats,
    xdp: nmxdp::sys::xdp_statistics,
}

/// Opens `netmap:IF@conf:rx-slots=4096`, reports it open, waits for the go, then sends and
/// receives until done or idle for `IDLE`.
fn endpoint(s: &Side<'_>, opened: &AtomicUsize, go: &AtomicU8) -> SideResult {
    enter(&s.ns.path());
    let name = format!("netmap:{}@conf:rx-slots=4096", s.ifname);
    let mut port = Port::open(&name).unwrap_or_else(|e| panic!("open {name}: {e}"));
    opened.fetch_add(1, Relaxed);
    let t0 = Instant::now();
    loop {
        match go.load(Relaxed) {
            GO => break,
            ABORT => return SideResult::default(),
            _ => {
                assert!(t0.elapsed() < 2 * SETUP_TIMEOUT, "never told to start");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let mut got: Vec<Vec<u8>> = Vec::with_capacity(s.expect);
    let mut sent = 0usize;
    let mut last_progress = Instant::now();
    while sent < s.send.len() || got.len() < s.expect {
        let mut progress = false;
        let allowed = (s.peer_rx.load(Relaxed) + WINDOW).saturating_sub(sent as u64) as usize;
        if sent < s.send.len() && allowed > 0 {
            let mut tx = port.tx_ring(0);
            let k = CHUNK
                .min(s.send.len() - sent)
                .min(tx.available() as usize)
                .min(allowed);
            for f in &s.send[sent..sent + k] {
                assert!(tx.push(f), "TX ring refused a frame with space left");
            }
            sent += k;
            progress |= k > 0;
        }
        port.sync_tx().expect("sync_tx");
        let ev = port
            .poll(Events::IN, Some(Duration::from_millis(1)))
            .expect("poll");
        assert!(!(ev).contains(Events::ERR), "POLLERR on {}", s.ifname);
        let before = got.len();
        for r in port.rx_rings() {
            for p in port.rx_ring(r).packets() {
                got.push(p.to_vec());
            }
        }
        if got.len() > before {
            s.my_rx.store(got.len() as u64, Relaxed);
            progress = true;
        }
        if progress {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > IDLE {
            eprintln!(
                "{}: idle for {IDLE:?}: sent {sent} of {}, received {} of {}",
                s.ifname,
                s.send.len(),
                got.len(),
                s.expect
            );
            break;
        }
    }
    drain(&mut port, 0);
    port.sync_rx().expect("sync_rx");
    SideResult {
        got,
        sent,
        stats: port.stats(),
        xdp: port.xdp_statistics(),
    }
}

/// What the bridge (in-process) reported.
struct BridgeResult {
    stats: Stats,
    nmxdp_copied: u64,
    zerocopy: bool,
    ports: (PortStats, PortStats),
    xdp: (nmxdp::sys::xdp_statistics, nmxdp::sys::xdp_statistics),
    summary: String,
}

/// How the bridge runs in B.
enum Runner {
    InProcess { force_copy: bool },
    Binary,
}

struct Outcome {
    at_a: SideResult,
    at_c: SideResult,
    bridge: Option<BridgeResult>,
    cli_stdout: String,
    cli_stderr: String,
}

/// `n_ac` frames of `len` bytes from A to C and `n_ca` from C to A, at the same time, through a
/// bridge in B. Asserts arrival (exact count, order, bytes) and returns the counters.
fn bridged(tag: &str, len: usize, n_ac: u64, n_ca: u64, runner: Runner) -> Outcome {
    let topo = Topo::new(tag);
    let from_a: Vec<Vec<u8>> = (0..n_ac).map(|s| frame(s, len)).collect();
    let from_c: Vec<Vec<u8>> = (0..n_ca).map(|s| frame(1_000_000 + s, len)).collect();
    let (rx_a, rx_c) = (AtomicU64::new(0), AtomicU64::new(0));
    let side_a = Side {
        ns: &topo.a,
        ifname: "va",
        send: &from_a,
        expect: n_ca as usize,
        my_rx: &rx_a,
        peer_rx: &rx_c,
    };
    let side_c = Side {
        ns: &topo.c,
        ifname: "vc",
        send: &from_c,
        expect: n_ac as usize,
        my_rx: &rx_c,
        peer_rx: &rx_a,
    };
    let opened = AtomicUsize::new(0);
    let go = AtomicU8::new(WAIT);
    let stop = AtomicBool::new(false);
    let ready = AtomicBool::new(false);
    let total = n_ac + n_ca;
    let out = std::thread::scope(|sc| {
        let _teardown = Teardown {
            stop: &stop,
            go: &go,
        };
        let ea = sc.spawn(|| endpoint(&side_a, &opened, &go));
        let ec = sc.spawn(|| endpoint(&side_c, &opened, &go));
        wait_until("the endpoints' ports to open", || {
            opened.load(Relaxed) == 2 || ea.is_finished() || ec.is_finished()
        });
        assert_eq!(
            opened.load(Relaxed),
            2,
            "an endpoint failed to open its port"
        );

        let mut child = None;
        let mut bridge_thread = None;
        let mut stderr_lines = None;
        match runner {
            Runner::InProcess { force_copy } => {
                let (stop, ready, b) = (&stop, &ready, &topo.b);
                let h = sc.spawn(move || {
                    enter(&b.path());
                    let pa = Port::open("netmap:vb1").expect("open vb1");
                    let pb = Port::open("netmap:vb2").expect("open vb2");
                    let mut br = Bridge::new(
                        pa,
                        pb,
                        Options {
                            count: Some(total),
                            force_copy,
                            ..Options::default()
                        },
                    )
                    .expect("bridge");
                    ready.store(true, Relaxed);
                    br.run(stop).expect("bridge run");
                    let (a, b) = br.ports();
                    BridgeResult {
                        stats: br.stats(),
                        nmxdp_copied: br.nmxdp_copied_bytes(),
                        zerocopy: br.zerocopy(),
                        ports: (a.stats(), b.stats()),
                        xdp: (a.xdp_statistics(), b.xdp_statistics()),
                        summary: br.summary(),
                    }
                });
                wait_until("the bridge to open its ports", || {
                    ready.load(Relaxed) || h.is_finished()
                });
                if !ready.load(Relaxed) {
                    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                    panic!("the bridge thread ended before it was ready");
                }
                bridge_thread = Some(h);
            }
            Runner::Binary => {
                let bin = nmxdp_tests::bins::bridge();
                let total = total.to_string();
                let mut c = Reaper(
                    Command::new("ip")
                        .args(["netns", "exec", &topo.b.name])
                        .arg(&bin)
                        .args(["-w", "0", "--count", &total, "-i", "vb1", "-i", "vb2"])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("start the bridge binary"),
                );
                let err = c.0.stderr.take().unwrap();
                let (tx, rx) = mpsc::channel();
                sc.spawn(move || {
                    for l in BufReader::new(err).lines().map_while(Result::ok) {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                });
                let mut lines = Vec::new();
                let t0 = Instant::now();
                loop {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(l) => {
                            let done = l.starts_with("Ready to go");
                            lines.push(l);
                            if done {
                                break;
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            let _ = c.0.wait();
                            panic!("the bridge exited before it was ready: {lines:#?}");
                        }
                    }
                    if t0.elapsed() > SETUP_TIMEOUT {
                        stop_child(&mut c.0);
                        panic!("the bridge was not ready in {SETUP_TIMEOUT:?}: {lines:#?}");
                    }
                }
                stderr_lines = Some((lines, rx));
                child = Some(c);
            }
        }

        go.store(GO, Relaxed);
        let at_a = ea.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        let at_c = ec.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        // Done (or given up): a bridge still waiting for its count stops now.
        stop.store(true, Relaxed);
        let bridge =
            bridge_thread.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        let (mut cli_stdout, mut cli_stderr) = (String::new(), String::new());
        if let Some(mut c) = child {
            let t0 = Instant::now();
            while c.0.try_wait().expect("wait for the bridge").is_none() {
                if t0.elapsed() > Duration::from_secs(2) {
                    stop_child(&mut c.0);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let status = c.0.wait().expect("wait for the bridge");
            c.0.stdout
                .take()
                .unwrap()
                .read_to_string(&mut cli_stdout)
                .unwrap();
            let (lines, rx) = stderr_lines.take().unwrap();
            cli_stderr = lines.join("\n");
            for l in rx.iter() {
                cli_stderr.push('\n');
                cli_stderr.push_str(&l);
            }
            assert!(
                status.success(),
                "bridge exited with {status}\nstdout: {cli_stdout}\nstderr: {cli_stderr}"
            );
        }
        Outcome {
            at_a,
            at_c,
            bridge,
            cli_stdout,
            cli_stderr,
        }
    });
    let diag = diagnostics(&out);
    check_arrival("C", &out.at_c, &from_a, &diag);
    check_arrival("A", &out.at_a, &from_c, &diag);
    assert_eq!(out.at_a.sent as u64, n_ac);
    assert_eq!(out.at_c.sent as u64, n_ca);
    for (who, s) in [("A", &out.at_a.stats), ("C", &out.at_c.stats)] {
        assert_eq!(s.tx_bad_slots, 0, "{who}: bad TX slots");
    }
    topo.assert_no_xdp();
    out
}

/// The bridge process: stopped if the test unwinds while it runs (its stderr reader, a scoped
/// thread, ends only when the process does).
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            stop_child(&mut self.0);
        }
        let _ = self.0.wait();
    }
}

/// SIGTERM to a child we started (the bridge prints its summary and exits 0), then SIGKILL.
fn stop_child(c: &mut std::process::Child) {
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = c.kill();
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < SETUP_TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Counters of every port on the path, for failure messages.
fn diagnostics(out: &Outcome) -> String {
    let x = |s: &nmxdp::sys::xdp_statistics| {
        format!(
            "rx_dropped {} rx_ring_full {} rx_fill_ring_empty {} rx_invalid {} tx_invalid {}",
            s.rx_dropped,
            s.rx_ring_full,
            s.rx_fill_ring_empty_descs,
            s.rx_invalid_descs,
            s.tx_invalid_descs
        )
    };
    let mut d = format!(
        "\nva: {:?}\n    {}\nvc: {:?}\n    {}",
        out.at_a.stats,
        x(&out.at_a.xdp),
        out.at_c.stats,
        x(&out.at_c.xdp)
    );
    if let Some(b) = &out.bridge {
        d += &format!(
            "\nbridge: {}\n  {:?}\nvb1: {:?}\n    {}\nvb2: {:?}\n    {}",
            b.summary,
            b.stats,
            b.ports.0,
            x(&b.xdp.0),
            b.ports.1,
            x(&b.xdp.1)
        );
    }
    if !out.cli_stdout.is_empty() || !out.cli_stderr.is_empty() {
        d += &format!(
            "\nbridge stdout: {}\nbridge stderr: {}",
            out.cli_stdout, out.cli_stderr
        );
    }
    d
}

/// Every frame arrived, in order, byte for byte.
fn check_arrival(at: &str, r: &SideResult, sent: &[Vec<u8>], diag: &str) {
    if r.got.len() != sent.len() {
        let got: std::collections::HashSet<Option<u64>> = r.got.iter().map(|f| seq_of(f)).collect();
        let missing: Vec<u64> = sent
            .iter()
            .filter_map(|f| seq_of(f))
            .filter(|s| !got.contains(&Some(*s)))
            .collect();
        panic!(
            "{at} received {} of {} frames; missing {} (first {:?}, last {:?}){diag}",
            r.got.len(),
            sent.len(),
            missing.len(),
            &missing[..missing.len().min(8)],
            &missing[missing.len().saturating_sub(8)..]
        );
    }
    for (i, (g, s)) in r.got.iter().zip(sent).enumerate() {
        assert_eq!(
            seq_of(g),
            seq_of(s),
            "{at}: frame {i} out of order (got seq {:?})",
            seq_of(g)
        );
        assert_eq!(g, s, "{at}: frame {i} differs{diag}");
    }
}

const N: u64 = 5000;

#[test]
fn zero_copy_both_directions_60_bytes() {
    let out = bridged("bz", 60, N, N, Runner::InProcess { force_copy: false });
    let br = out.bridge.unwrap();
    eprintln!("{}", br.summary);
    assert!(br.zerocopy, "both ports share mem id 1: zero-copy expected");
    assert_eq!(br.stats.a_to_b.packets, N, "forwarded A->B");
    assert_eq!(br.stats.b_to_a.packets, N, "forwarded B->A");
    assert_eq!(br.stats.copied_bytes(), 0, "the bridge copied bytes");
    assert_eq!(br.nmxdp_copied, 0, "nmxdp copied bytes");
    assert_eq!(br.stats.a_to_b.bad_bufs + br.stats.b_to_a.bad_bufs, 0);
    assert_eq!(br.stats.a_to_b.bad_lens + br.stats.b_to_a.bad_lens, 0);
    assert_eq!(br.stats.poll_errors, 0);
    for p in [&br.ports.0, &br.ports.1] {
        assert_eq!((p.tx_packets, p.rx_packets), (N, N));
        assert_eq!(p.tx_bad_slots + p.rx_bad_slots, 0);
    }
}

#[test]
fn copy_mode_both_directions_60_bytes() {
    let out = bridged("bc", 60, N, N, Runner::InProcess { force_copy: true });
    let br = out.bridge.unwrap();
    eprintln!("{}", br.summary);
    assert!(!br.zerocopy, "-c forces copying");
    assert_eq!((br.stats.a_to_b.packets, br.stats.b_to_a.packets), (N, N));
    assert_eq!(br.stats.a_to_b.copied_bytes, N * 60);
    assert_eq!(br.stats.b_to_a.copied_bytes, N * 60);
    assert_eq!(br.stats.copied_bytes(), 2 * N * 60);
    // nmxdp copies only when XDP moved the packet start, which nothing does here.
    assert_eq!(br.nmxdp_copied, 0, "nmxdp copied bytes");
    for p in [&br.ports.0, &br.ports.1] {
        assert_eq!((p.tx_packets, p.rx_packets), (N, N));
        assert_eq!(p.tx_bad_slots + p.rx_bad_slots, 0);
    }
}

#[test]
fn zero_copy_1514_byte_frames_one_direction() {
    let out = bridged("bj", 1514, N, 0, Runner::InProcess { force_copy: false });
    let br = out.bridge.unwrap();
    eprintln!("{}", br.summary);
    assert!(br.zerocopy);
    assert_eq!((br.stats.a_to_b.packets, br.stats.b_to_a.packets), (N, 0));
    assert_eq!((br.stats.copied_bytes(), br.nmxdp_copied), (0, 0));
    assert_eq!(br.ports.1.tx_bytes, N * 1514);
}

#[test]
fn binary_with_count_both_directions() {
    let out = bridged("bx", 60, N, N, Runner::Binary);
    assert!(
        out.cli_stderr.contains("------- zerocopy supported"),
        "stderr: {}",
        out.cli_stderr
    );
    assert!(
        out.cli_stderr.contains("nmxdp: vb1 xdp=") && out.cli_stderr.contains("nmxdp: vb2 xdp="),
        "stderr: {}",
        out.cli_stderr
    );
    assert_eq!(
        out.cli_stdout.trim(),
        format!(
            "forwarded A->B {N} packets, B->A {N} packets, copied 0 bytes (bridge) 0 bytes (nmxdp)"
        )
    );
}

/// One interface alone means it and its host rings (tests/tests/host.rs); the same port twice
/// is refused before anything opens.
#[test]
fn binary_rejects_one_port_twice() {
    let out = Command::new(nmxdp_tests::bins::bridge())
        .args(["-w", "0", "-i", "va", "-i", "netmap:va"])
        .output()
        .expect("run bridge");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("given twice"), "stderr: {err}");
}

/// The move logic on real rings (one port's RX ring to its own TX ring): an RX slot with an
/// invalid buffer is skipped, a TX slot with an invalid buffer is consumed with length 0, an
/// oversized length is zeroed, NS_MOREFRAG is carried over; the rest arrives intact.
#[test]
fn mover_skips_bad_slots_and_zeroes_long_lengths() {
    let pair = VethPair::new("bm", 1);
    let buf_num = nmxdp::region_layout().expect("layout").buf_num;
    std::thread::scope(|sc| {
        sc.spawn(|| {
            enter(&pair.a.path());
            let mut va = Port::open("netmap:va").expect("open va");
            enter(&pair.b.path());
            let mut vb = Port::open("netmap:vb").expect("open vb");
            for (round, zerocopy) in [(0u64, true), (1, false)] {
                let frames: Vec<Vec<u8>> = (0..4).map(|i| frame(round * 10 + i, 60)).collect();
                send_all(&mut va, 0, &frames);
                let t0 = Instant::now();
                while vb.rx_ring(0).available() < 4 {
                    vb.poll(Events::IN, Some(Duration::from_millis(100)))
                        .unwrap();
                    assert!(
                        t0.elapsed() < Duration::from_secs(5),
                        "frames never arrived"
                    );
                }
                let before = vb.stats();
                let mover = Mover { zerocopy, buf_num };
                let mut st = DirStats::default();
                {
                    let (mut tx, mut rx) = vb.tx_rx_rings(0, 0);
                    assert_eq!(rx.available(), 4);
                    let r0 = rx.head();
                    let r1 = rx.next(r0);
                    let r2 = rx.next(r1);
                    let r3 = rx.next(r2);
                    let t0 = tx.head();
                    let saved_rx = rx.slot(r1).buf_idx;
                    let saved_tx = tx.slot(t0).buf_idx;
                    poke(&mut rx, r1, |s| s.buf_idx = 0);
                    poke(&mut rx, r2, |s| s.len = 4000);
                    poke(&mut rx, r3, |s| s.flags |= NS_MOREFRAG);
                    poke(&mut tx, t0, |s| s.buf_idx = 1);
                    let m = mover.move_ring(&mut rx, &mut tx, 10, &mut st);
                    // tx t0 skipped, r0 -> t1, r1 skipped, r2 -> t2 (len 0), r3 -> t3: r3
                    // begins a frame (NS_MOREFRAG) that has not ended, so frames counted are 2.
                    assert_eq!(
                        m,
                        Moved {
                            forwarded: 2,
                            steps: 5
                        },
                        "zerocopy={zerocopy}"
                    );
                    assert_eq!((st.packets, st.bad_bufs, st.bad_lens), (2, 2, 1));
                    assert_eq!(st.copied_bytes, if zerocopy { 0 } else { 120 });
                    assert_eq!((rx.head(), rx.available()), (rx.next(r3), 0));
                    let t1 = tx.next(t0);
                    let t2 = tx.next(t1);
                    let t3 = tx.next(t2);
                    assert_eq!(tx.head(), tx.next(t3));
                    assert_eq!(tx.slot(t0).len, 0);
                    assert_eq!(tx.packet(t1), Some(&frames[0][..]));
                    assert_eq!(tx.slot(t2).len, 0);
                    assert_eq!(tx.packet(t3), Some(&frames[3][..]));
                    assert_eq!(tx.slot(t1).flags & NS_MOREFRAG, 0);
                    assert_ne!(tx.slot(t3).flags & NS_MOREFRAG, 0, "NS_MOREFRAG not copied");
                    // Undo the damage so no buffer leaks; nmxdp does not send fragments.
                    poke(&mut rx, r1, |s| s.buf_idx = saved_rx);
                    poke(&mut tx, t0, |s| s.buf_idx = saved_tx);
                    poke(&mut tx, t3, |s| s.flags &= !NS_MOREFRAG);
                }
                drain(&mut vb, 0);
                vb.sync_rx().unwrap();
                let after = vb.stats();
                assert_eq!(after.tx_packets - before.tx_packets, 2);
                assert_eq!(
                    after.tx_bad_slots - before.tx_bad_slots,
                    2,
                    "the two length-0 slots"
                );
                assert_eq!(after.rx_bad_slots, 0);
                let got = recv_upto(&mut va, 2, Duration::from_secs(2));
                let got: Vec<&Vec<u8>> = got.iter().map(|(_, f)| f).collect();
                assert_eq!(got, vec![&frames[0], &frames[3]], "zerocopy={zerocopy}");
            }
            drop(vb);
            enter(&pair.a.path());
            drop(va);
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
    pair.assert_no_xdp();
}

/// Rewrites slot `i` of `ring` as a careless or hostile app would.
fn poke<D: nmxdp::Direction>(
    ring: &mut nmxdp::Ring<'_, D>,
    i: u32,
    f: impl FnOnce(&mut nmxdp::abi::netmap_slot),
) {
    let mut s = ring.slot(i);
    f(&mut s);
    // SAFETY: the damage is what the test checks; it is undone before the next sync, and
    // buffers are only read through views where the ownership table still agrees.
    unsafe { ring.set_slot(i, s) };
}
