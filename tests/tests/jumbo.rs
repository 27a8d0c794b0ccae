//! Jumbo frames (docs/architecture.md, "Jumbo frames") on veth pairs with MTU 9000, with 2048-
//! and 4096-byte buffers: 100,000 frames of 9,000 bytes (NS_MOREFRAG chains of 6 or 3 slots)
//! cross byte-compared by pkt-gen's `--verify` receiver, sent by pkt-gen, by the C app nm_lib
//! under LD_PRELOAD, and through the bridge (zero-copy). Senders are paced; whatever the kernel
//! still drops is reported by the receiving sockets, and every frame is accounted for:
//! received + dropped == sent. Then hostile chains in-process: a bad buffer in the middle of a
//! chain and a chain that never ends within the slots a frame may take are dropped whole and
//! counted, the ring keeps working, and the pool audit finds every buffer.
//!
//! The programs are run as built: `target/<profile>/{pkt-gen,bridge,libnetmap.so}` and
//! `target/c/nm_lib-plain` (cargo build --release -p pkt-gen -p bridge -p netmap-ffi;
//! make target/c/nm_lib-plain).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nmxdp::abi::{netmap_slot, NS_MOREFRAG};
use nmxdp::{Events, Port};
use nmxdp_tests::bins::{bridge, c_app, libnetmap, pkt_gen};
use nmxdp_tests::{frame, number_after, seq_of, Netns, VethPair};

const FRAMES: u64 = 100_000;
const LEN: usize = 9000;
/// Frames per second of the senders: what a verifying receiver keeps up with on a shared VM.
const RATE: &str = "50000";
const MTU: u32 = 9000;
const LIMIT: Duration = Duration::from_secs(60);

/// A program started in a namespace, killed (and reaped) if the test leaves early.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    fn start(ns: &str, buf_size: u32, preload: bool, bin: PathBuf, args: &[&str]) -> Running {
        let mut cmd = Command::new("ip");
        // A shared region per buffer size: this test process holds one of the default size.
        cmd.args(["netns", "exec", ns, "env"])
            .arg(format!("NMXDP_BUF_SIZE={buf_size}"))
            .arg(format!(
                "NMXDP_REGION=shared:test-{}-buf{buf_size}",
                std::process::id()
            ));
        if preload {
            cmd.arg(format!("LD_PRELOAD={}", libnetmap().display()));
        }
        let mut child = cmd
            .arg(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Running { child, stdout }
    }

    /// Reads stdout up to a line starting with `prefix` (the program's "ready" line).
    fn wait_line(&mut self, prefix: &str) {
        let mut l = String::new();
        loop {
            l.clear();
            let n = self.stdout.read_line(&mut l).expect("read stdout");
            assert!(n > 0, "exited before printing '{prefix}'");
            if l.starts_with(prefix) {
                return;
            }
        }
    }

    /// SIGINT: the program's own way to stop and print its summary.
    fn interrupt(&self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child (ip netns exec and env exec the program in place).
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0);
    }

    /// Waits for the exit (killing the program past [`LIMIT`]); returns (stdout, stderr).
    fn finish(mut self) -> (String, String) {
        let start = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (mut out, mut err) = (String::new(), String::new());
        let _ = self.stdout.read_to_string(&mut out);
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let st = self.child.wait().expect("wait");
        assert!(st.success(), "exit {st}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sum of the numbers after every occurrence of `key`.
fn sum_after(text: &str, key: &str) -> u64 {
    text.match_indices(key)
        .filter_map(|(i, _)| number_after(&text[i..], key))
        .sum()
}

/// What pkt-gen's verifying receiver reported.
#[derive(Debug)]
struct Received {
    frames: u64,
    bytes: u64,
    ok: u64,
    bad: u64,
    dropped: u64,
}

fn received(out: &str) -> Received {
    Received {
        frames: number_after(out, "Received ").expect("Received line"),
        bytes: number_after(out, " packets ").expect("bytes"),
        ok: number_after(out, "Verify: ").expect("Verify line"),
        bad: number_after(out, " ok, ").expect("bad count"),
        dropped: number_after(out, "rx_dropped ").unwrap_or(0),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    PktGen,
    /// nm_lib-plain under LD_PRELOAD.
    CApp,
}

/// Namespaces `a` (sender, `va`) and `c` (receiver, `vb`): one veth pair, or with `bridged`
/// two pairs and the bridge in `m` between them (`vb1`, `vb2`). MTU 9000 everywhere. The
/// namespaces are deleted on drop.
struct Path3 {
    a: String,
    c: String,
    m: Option<String>,
    _pair: Option<VethPair>,
    _ns: Vec<Netns>,
}

impl Path3 {
    fn new(tag: &str, bridged: bool) -> Path3 {
        if !bridged {
            let pair = VethPair::new(tag, 1);
            pair.a.set_mtu("va", MTU);
            pair.b.set_mtu("vb", MTU);
            return Path3 {
                a: pair.a.name.clone(),
                c: pair.b.name.clone(),
                m: None,
                _pair: Some(pair),
                _ns: Vec::new(),
            };
        }
        let ns = vec![
            Netns::new(&format!("{tag}a")),
            Netns::new(&format!("{tag}m")),
            Netns::new(&format!("{tag}c")),
        ];
        let (a, m, c) = (&ns[0], &ns[1], &ns[2]);
        for (x, xi, y, yi) in [(a, "va", m, "vb1"), (m, "vb2", c, "vb")] {
            run_ip(&[
                "link", "add", xi, "netns", &x.name, "type", "veth", "peer", "name", yi, "netns",
                &y.name,
            ]);
            for (n, i) in [(x, xi), (y, yi)] {
                n.set_mtu(i, MTU);
                run_ip(&["-n", &n.name, "link", "set", i, "up"]);
            }
        }
        Path3 {
            a: a.name.clone(),
            c: c.name.clone(),
            m: Some(m.name.clone()),
            _pair: None,
            _ns: ns,
        }
    }
}

fn run_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 100,000 frames of 9,000 bytes from `a` to `c`, byte-compared; every frame accounted for.
fn cross(tag: &str, buf_size: u32, sender: Sender, bridged: bool) {
    let path = Path3::new(tag, bridged);
    let n = FRAMES.to_string();
    let br = path.m.as_ref().map(|m| {
        let args = ["-w", "0", "-v", "-i", "netmap:vb1", "-i", "netmap:vb2"];
        Running::start(m, buf_size, false, bridge(), &args)
    });
    if br.is_some() {
        // The bridge says it is ready on stderr only: give it time to open its ports.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let rx_args = [
        "-i",
        "netmap:vb",
        "-f",
        "rx",
        "-n",
        &n,
        "--verify",
        "-W",
        "-w",
        "0",
    ];
    let mut rx = Running::start(&path.c, buf_size, false, pkt_gen(), &rx_args);
    rx.wait_line("Receiving from");
    let len = LEN.to_string();
    let tx = match sender {
        Sender::PktGen => {
            let a = [
                "-i",
                "netmap:va",
                "-f",
                "tx",
                "-n",
                &n,
                "-l",
                &len,
                "-w",
                "0",
                "-R",
                RATE,
            ];
            Running::start(&path.a, buf_size, false, pkt_gen(), &a)
        }
        Sender::CApp => {
            let a = [
                "-i",
                "netmap:va",
                "-f",
                "tx",
                "-n",
                &n,
                "-l",
                &len,
                "-R",
                RATE,
            ];
            Running::start(&path.a, buf_size, true, c_app("nm_lib-plain", "nm_lib"), &a)
        }
    };
    let (tx_out, tx_err) = tx.finish();
    let sent = match sender {
        Sender::PktGen => number_after(&tx_out, "Sent "),
        Sender::CApp => number_after(&tx_out, "sent "),
    };
    assert_eq!(sent, Some(FRAMES), "sender:\n{tx_out}\n{tx_err}");
    let (rx_out, rx_err) = rx.finish();
    let r = received(&rx_out);
    let mut bridge_dropped = 0;
    if let Some(b) = br {
        b.interrupt();
        let (b_out, b_err) = b.finish();
        assert!(
            b_out.contains("copied 0 bytes"),
            "the bridge copied:\n{b_out}\n{b_err}"
        );
        bridge_dropped = sum_after(&b_err, "AF_XDP rx_dropped ");
        // The bridge counts frames, not the slots of their chains.
        let fwd = number_after(&b_out, "forwarded A->B ").expect("the bridge's final line");
        assert!(
            (r.frames..=FRAMES).contains(&fwd),
            "the bridge forwarded {fwd} frames, the receiver got {}:\n{b_out}",
            r.frames
        );
    }
    eprintln!("{tag}: {r:?}, dropped at the bridge {bridge_dropped}");
    let diag = format!("receiver:\n{rx_out}\n{rx_err}");
    assert_eq!(r.bad, 0, "corrupted frames: {diag}");
    assert_eq!(r.ok, r.frames, "{diag}");
    assert_eq!(r.bytes, r.frames * LEN as u64, "{diag}");
    assert_eq!(
        r.frames + r.dropped + bridge_dropped,
        FRAMES,
        "frames neither received nor reported dropped: {diag}"
    );
    assert!(
        r.frames >= FRAMES / 2,
        "most frames were dropped, the test hardly tests: {diag}"
    );
}

#[test]
fn rust_to_rust_2048() {
    cross("jr2", 2048, Sender::PktGen, false);
}

#[test]
fn rust_to_rust_4096() {
    cross("jr4", 4096, Sender::PktGen, false);
}

#[test]
fn c_preload_to_rust_2048() {
    cross("jc2", 2048, Sender::CApp, false);
}

#[test]
fn c_preload_to_rust_4096() {
    cross("jc4", 4096, Sender::CApp, false);
}

#[test]
fn through_the_bridge_2048() {
    cross("jb2", 2048, Sender::PktGen, true);
}

#[test]
fn through_the_bridge_4096() {
    cross("jb4", 4096, Sender::PktGen, true);
}

/// Frames after the hostile chains.
const GOOD: u64 = 1000;

/// Writes slot `i` of `tx`: `len` bytes of `fill` (when its buffer is the application's) and
/// `flags`.
fn put(tx: &mut nmxdp::TxRing<'_>, i: u32, len: usize, flags: u16) {
    if let Some(b) = tx.buf_mut(i) {
        b[..len].fill(0xa5);
    }
    assert!(tx.set_len(i, len));
    assert!(tx.set_flags(i, flags));
}

/// Queues the hostile chains on ring 0 of `port` and syncs each: a chain with an out-of-range
/// buffer in its middle, then one of more slots than a frame may take. Returns the port's
/// counters after each.
fn hostile_chains(port: &mut Port, buf_num: u32) -> [nmxdp::PortStats; 2] {
    let max = port.max_frame_slots();
    assert!(max > 1, "veth with MTU 9000 must be multi-buffer");
    // 1. Three slots, the middle one naming a buffer past the pool.
    let saved = {
        let mut tx = port.tx_ring(0);
        let h = tx.head();
        let (s1, s2) = (tx.next(h), tx.next(tx.next(h)));
        let room = tx.max_frame();
        put(&mut tx, h, room, NS_MOREFRAG);
        let saved = tx.slot(s1);
        let bad = netmap_slot {
            buf_idx: buf_num + 7,
            len: room as u16,
            flags: NS_MOREFRAG,
            ptr: 0,
        };
        // SAFETY: the slot names a buffer the application does not own: the sync must refuse
        // it (and the chain); the slot's own buffer is put back below.
        unsafe { tx.set_slot(s1, bad) };
        put(&mut tx, s2, 100, 0);
        tx.advance(3);
        saved
    };
    port.sync_tx().unwrap();
    nmxdp_tests::drain(port, 0);
    let after_bad = port.stats();
    {
        let mut tx = port.tx_ring(0);
        // The slot comes back as it was left: give it its own buffer again.
        let i = (0..tx.num_slots())
            .find(|&i| tx.slot(i).buf_idx == buf_num + 7)
            .expect("the bad slot");
        // SAFETY: `saved` is the slot as the ring gave it, its buffer the application's and in
        // no other slot.
        unsafe { tx.set_slot(i, saved) };
    }
    // 2. max + 1 slots, every one with NS_MOREFRAG, then the slot that would end it.
    {
        let mut tx = port.tx_ring(0);
        let mut i = tx.head();
        for _ in 0..=max {
            put(&mut tx, i, 200, NS_MOREFRAG);
            i = tx.next(i);
        }
        // Longer than a frame may be: dropped at its max-th slot without waiting for an end.
        tx.advance(max + 1);
    }
    port.sync_tx().unwrap();
    {
        // Its end, released later, goes with it.
        let mut tx = port.tx_ring(0);
        let h = tx.head();
        put(&mut tx, h, 60, 0);
        tx.advance(1);
    }
    nmxdp_tests::drain(port, 0);
    [after_bad, port.stats()]
}

#[test]
fn hostile_chains_are_dropped_whole_and_the_ring_goes_on() {
    let pair = VethPair::new("jh", 1);
    pair.a.set_mtu("va", MTU);
    pair.b.set_mtu("vb", MTU);
    let ready = AtomicBool::new(false);
    let (stats, got, buf_num) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            pair.b.run(|| {
                let mut port = Port::open("netmap:vb").expect("open vb");
                ready.store(true, Ordering::Release);
                let mut got: Vec<Vec<u8>> = Vec::new();
                let deadline = Instant::now() + LIMIT;
                while (got.len() as u64) < GOOD + 2 && Instant::now() < deadline {
                    let ev = port.poll(Events::IN, Some(Duration::from_secs(2))).unwrap();
                    if !ev.contains(Events::IN) {
                        break;
                    }
                    for r in port.rx_rings() {
                        for p in port.rx_ring(r).packets() {
                            let mut f = Vec::new();
                            p.copy_frame(&mut f);
                            got.push(f);
                        }
                    }
                }
                got
            })
        });
        while !ready.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let stats = pair.a.run(|| {
            let mut port = Port::open("netmap:va").expect("open va");
            let buf_num = nmxdp::region_layout().unwrap().buf_num;
            let st = hostile_chains(&mut port, buf_num);
            // Then good frames, paced well below what the receiver takes.
            for k in 0..GOOD {
                let f = frame(k, LEN);
                loop {
                    if port.tx_ring(0).push(&f) {
                        break;
                    }
                    port.poll(Events::OUT, Some(Duration::from_millis(100)))
                        .unwrap();
                }
                if k % 50 == 49 {
                    port.sync_tx().unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            nmxdp_tests::drain(&mut port, 0);
            (st, port.stats(), buf_num)
        });
        (stats, rx.join().unwrap(), stats.2)
    });
    let ([bad, long], end, _) = stats;
    eprintln!(
        "hostile chains: after the bad slot {bad:?}\nafter the long chain {long:?}\nend {end:?}"
    );
    assert_eq!(bad.tx_dropped_chains, 1, "the chain with a bad buffer");
    assert_eq!(bad.tx_packets, 0, "nothing of it went out");
    assert_eq!(long.tx_dropped_chains, 2, "the chain too long for a frame");
    assert_eq!(long.tx_packets, 0);
    assert_eq!(end.tx_dropped_chains, 2);
    assert_eq!(end.tx_packets, GOOD);
    // Only the good frames arrive, whole and in order.
    assert_eq!(got.len() as u64, GOOD, "frames received");
    for (k, f) in got.iter().enumerate() {
        assert_eq!(seq_of(f), Some(k as u64));
        assert!(*f == frame(k as u64, LEN), "frame {k} differs");
    }
    // Every buffer is accounted for once the ports are closed.
    let (after, recovered) = nmxdp::pool_audit().unwrap();
    assert_eq!(after[0], buf_num as usize - 2, "free buffers: {after:?}");
    assert_eq!(after[1] + after[2] + after[3], 0);
    assert_eq!(recovered, 0, "the application lost no buffer");
    pair.assert_no_xdp();
}
