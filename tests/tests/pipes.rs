//! netmap pipes within one process and across processes (docs/architecture.md, "Pipes"). Every
//! test but `nic_buffers_swapped_into_a_pipe` (a veth pair) runs unprivileged: pipes involve no
//! interface and no XDP. The tests share one region of their own (`shared:pipes-PID`), which the
//! pkt-gen processes they start join, so they take turns (pool audits).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nmxdp::abi::{netmap_ring, ring_ofs_ptr, NS_BUF_CHANGED};
use nmxdp::shm::SharedRing;
use nmxdp::{Events, Port};
use nmxdp_tests::pktgen_received;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    let g = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // Before the first port opens: the region this process and its children share.
    std::env::set_var("NMXDP_REGION", region());
    g
}

fn region() -> String {
    format!("shared:pipes-{}", std::process::id())
}

/// A pkt-gen process on a pipe end, killed on drop (also when a test fails).
struct Kid(Child);

impl Kid {
    fn start(args: &[&str]) -> Kid {
        Kid::run(nmxdp_tests::bins::pkt_gen(), args, false)
    }

    /// `bin` with `args`, under `LD_PRELOAD` of nmxdp's libnetmap.so if `preload`.
    fn run(bin: std::path::PathBuf, args: &[&str], preload: bool) -> Kid {
        let mut cmd = Command::new(bin);
        if preload {
            cmd.env("LD_PRELOAD", nmxdp_tests::bins::libnetmap());
        }
        let child = cmd
            .args(args)
            .env("NMXDP_REGION", region())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pkt-gen");
        Kid(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits for it to exit; its stdout and stderr.
    fn finish(mut self, limit: Duration) -> String {
        let t0 = Instant::now();
        while self.0.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < limit,
                "pkt-gen still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until another process holds pipe end `name`; then opening it is EBUSY, naming its pid.
fn wait_held_by(name: &str, pid: u32) {
    let t0 = Instant::now();
    while Port::pipe_end_holder(name).unwrap() != Some(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{name} never opened by {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let e = Port::open(name)
        .err()
        .expect("an end another process holds");
    assert_eq!(e.errno(), libc::EBUSY, "{e}");
    assert!(
        e.to_string().contains(&format!("process {pid}")),
        "EBUSY names the holder {pid}: {e}"
    );
}

/// A port's TX ring 0 and RX ring 0 as C sees them (`NETMAP_TXRING`, `NETMAP_RXRING`).
struct Raw {
    tx: SharedRing,
    rx: SharedRing,
}

fn raw(port: &Port) -> Raw {
    let nifp = port.netmap_if();
    // SAFETY: the netmap_if and its rings stay mapped while the port is open; the offsets are
    // the ones nmxdp wrote.
    unsafe {
        let ofs = ring_ofs_ptr(nifp);
        let base = nifp.cast::<u8>();
        let ring = |i: usize| {
            let p = base.offset(*ofs.add(i)).cast::<netmap_ring>();
            SharedRing::new(p, (*p).num_slots)
        };
        let rx_at = ((*nifp).ni_tx_rings + (*nifp).ni_host_tx_rings) as usize;
        Raw {
            tx: ring(0),
            rx: ring(rx_at),
        }
    }
}

/// `NETMAP_BUF(ring, idx)`: the first 16 bytes, as two u64.
fn buf_words(ring: SharedRing, idx: u32) -> *mut [u64; 2] {
    // SAFETY: reads the ring header's buffer offset and size.
    let (ofs, size) = unsafe { ((*ring.as_ptr()).buf_ofs, (*ring.as_ptr()).nr_buf_size) };
    let p = ring.as_ptr().cast::<u8>();
    p.wrapping_offset(ofs as isize + idx as isize * size as isize)
        .cast()
}

/// Sends frames `seq..seq+n` (sequence number and buffer index in the first 16 bytes).
fn send(port: &mut Port, r: &Raw, seq: &mut u64, n: u64, poll: bool) {
    let end = *seq + n;
    while *seq < end {
        let t = r.tx;
        let (mut h, tail) = (t.head(), t.tail());
        while h != tail && *seq < end {
            let idx = t.buf_idx(h);
            // SAFETY: slot h is the app's, so is its buffer.
            unsafe { buf_words(t, idx).write_unaligned([*seq, idx as u64]) };
            t.set_len(h, 60);
            *seq += 1;
            h = if h + 1 == t.num_slots() { 0 } else { h + 1 };
        }
        t.set_head_cur(h);
        if poll {
            port.poll(Events::OUT, Some(Duration::from_secs(10)))
                .unwrap();
        } else {
            port.sync_tx().unwrap();
        }
    }
    port.sync_tx().unwrap();
}

/// Receives `n` frames, checking order from `seq` and that each slot's buffer is the one the
/// writer filled (zero-copy). Returns how many slots carried NS_BUF_CHANGED.
fn recv(port: &mut Port, r: &Raw, seq: &mut u64, n: u64, poll: bool) -> u64 {
    let end = *seq + n;
    let mut changed = 0;
    while *seq < end {
        if poll {
            let ev = port
                .poll(Events::IN, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(ev.contains(Events::IN), "no frame within 10 s at {}", *seq);
        } else {
            port.sync_rx().unwrap();
        }
        let x = r.rx;
        let (mut h, tail) = (x.head(), x.tail());
        while h != tail {
            let s = x.slot(h);
            // SAFETY: slot h is the app's, so is its buffer.
            let [got, idx] = unsafe { buf_words(x, s.buf_idx).read_unaligned() };
            assert_eq!(got, *seq, "frame out of order");
            assert_eq!(idx, s.buf_idx as u64, "the frame moved to another buffer");
            assert_eq!(s.len, 60);
            changed += (s.flags & NS_BUF_CHANGED != 0) as u64;
            *seq += 1;
            h = if h + 1 == x.num_slots() { 0 } else { h + 1 };
        }
        x.set_head_cur(h);
    }
    port.sync_rx().unwrap();
    changed
}

fn free_buffers() -> usize {
    nmxdp::pool_audit().unwrap().0[0]
}

fn stream(name: &str, frames: u64, poll: bool) {
    let _t = turn();
    let free = free_buffers();
    let mut master = Port::open(&format!("netmap:{name}{{1")).unwrap();
    let mut slave = Port::open(&format!("netmap:{name}}}1")).unwrap();
    let reg = master.registration();
    assert_eq!((reg.nr_tx_rings, reg.nr_rx_rings), (1, 1));
    assert_eq!((reg.nr_host_tx_rings, reg.nr_host_rx_rings), (0, 0));
    assert_eq!(reg.nr_mem_id, 1);
    let changed = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let r = raw(&slave);
            let mut seq = 0;
            recv(&mut slave, &r, &mut seq, frames, poll)
        });
        let r = raw(&master);
        let mut seq = 0;
        send(&mut master, &r, &mut seq, frames, poll);
        h.join().unwrap()
    });
    assert_eq!(changed, frames, "every moved slot carries NS_BUF_CHANGED");
    let st = master.stats();
    assert_eq!(st.tx_packets, frames);
    assert_eq!(slave.stats().rx_packets, frames);
    drop(master);
    drop(slave);
    assert_eq!(free_buffers(), free, "the pipe gave its buffers back");
}

#[test]
fn a_million_frames_in_order_zero_copy_busy_wait() {
    stream("bw", 1_000_000, false);
}

#[test]
fn a_million_frames_in_order_zero_copy_with_poll() {
    stream("pw", 1_000_000, true);
}

#[test]
fn poll_wakes_a_sleeping_slave() {
    let _t = turn();
    let mut master = Port::open("netmap:wk{0").unwrap();
    let mut slave = Port::open("netmap:wk}0").unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            // Nothing is there: this sleeps until the master's txsync signals it.
            let ev = slave
                .poll(Events::IN, Some(Duration::from_secs(30)))
                .unwrap();
            assert!(ev.contains(Events::IN));
            let r = raw(&slave);
            let mut seq = 0;
            recv(&mut slave, &r, &mut seq, 1, false);
        });
        std::thread::sleep(Duration::from_millis(200));
        let r = raw(&master);
        let mut seq = 0;
        send(&mut master, &r, &mut seq, 1, false);
        h.join().unwrap();
    });
    // And the other way round: a master that waits for room wakes when the slave releases.
    let r = raw(&master);
    let mut seq = 0;
    let n = r.tx.num_slots() as u64 - 1;
    send(&mut master, &r, &mut seq, n, false);
    assert_eq!(r.tx.head(), r.tx.tail(), "the ring is full");
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let ev = master
                .poll(Events::OUT, Some(Duration::from_secs(30)))
                .unwrap();
            assert!(ev.contains(Events::OUT));
        });
        std::thread::sleep(Duration::from_millis(200));
        let r = raw(&slave);
        let mut got = 0;
        recv(&mut slave, &r, &mut got, n, false);
        h.join().unwrap();
    });
}

#[test]
fn exclusive_opens_and_ebusy() {
    let _t = turn();
    // netmap's rule: /x on an end in use, or any open of an end held with /x, is EBUSY.
    let a = Port::open("netmap:ex{1/x").unwrap();
    let e = Port::open("netmap:ex{1")
        .err()
        .expect("second open of an /x end");
    assert_eq!(e.errno(), libc::EBUSY, "{e}");
    let e = Port::open("netmap:ex{1/x").err().expect("second /x open");
    assert_eq!(e.errno(), libc::EBUSY);
    // The other end is free.
    let b = Port::open("netmap:ex}1").unwrap();
    let e = Port::open("netmap:ex}1/x")
        .err()
        .expect("/x on an end in use");
    assert_eq!(e.errno(), libc::EBUSY);
    // Without /x, an end may be open twice (netmap shares rings between fds).
    let b2 = Port::open("netmap:ex}1").unwrap();
    drop((a, b, b2));
    // All closed: /x is granted again.
    let _a = Port::open("netmap:ex{1/x").unwrap();
}

#[test]
fn bad_names_and_memory_ids() {
    let _t = turn();
    for (name, errno) in [
        ("netmap:x{1@2", libc::EINVAL),
        ("netmap:x{1-1", libc::EINVAL),
        ("netmap:x{1^", libc::EINVAL),
    ] {
        let e = Port::open(name)
            .err()
            .unwrap_or_else(|| panic!("{name} opened"));
        assert_eq!(e.errno(), errno, "{name}: {e}");
    }
    // @1 is the one region, and -0 is the pipe's only ring.
    let p = Port::open("netmap:x{1-0@1").unwrap();
    assert_eq!(p.registration().nr_mem_id, 1);
    // @conf sizes the rings of the end that creates the pipe; the peer's twins match.
    drop(p);
    let m = Port::open("netmap:cf{2@conf:tx-slots=256,rx-slots=128").unwrap();
    let s = Port::open("netmap:cf}2").unwrap();
    let (mr, sr) = (m.registration(), s.registration());
    assert_eq!((mr.nr_tx_slots, mr.nr_rx_slots), (256, 128));
    assert_eq!((sr.nr_tx_slots, sr.nr_rx_slots), (128, 256));
}

#[test]
fn closing_one_end_while_the_other_reads() {
    let _t = turn();
    let free = free_buffers();
    let mut slave = Port::open("netmap:cl}5").unwrap();
    let mut seq = 0;
    {
        let mut master = Port::open("netmap:cl{5").unwrap();
        let r = raw(&master);
        send(&mut master, &r, &mut seq, 10, false);
    }
    // The frames the master queued before closing are still there, then nothing: no error.
    let r = raw(&slave);
    let mut got = 0;
    recv(&mut slave, &r, &mut got, 10, true);
    let ev = slave
        .poll(Events::IN, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(ev.is_empty(), "{ev:?}");
    slave.sync_rx().unwrap();
    // A master reopening finds the pipe as it was and can send again.
    let mut master = Port::open("netmap:cl{5").unwrap();
    let rm = raw(&master);
    send(&mut master, &rm, &mut seq, 5, false);
    recv(&mut slave, &r, &mut got, 5, true);
    drop(master);
    drop(slave);
    assert_eq!(free_buffers(), free);
}

/// The zero-copy load-balancer pattern: frames received on a NIC port are swapped into a pipe's
/// TX ring (the pipe's buffers go to the NIC's RX ring), read on the other end; afterwards every
/// buffer is back in the pool without the last-close recovery. Needs root (a veth pair).
#[test]
fn nic_buffers_swapped_into_a_pipe() {
    nmxdp_tests::require_root();
    let _t = turn();
    let (audit, recovered) = nmxdp::pool_audit().unwrap();
    let pair = nmxdp_tests::VethPair::new("pipe", 1);
    let n = 2000u64;
    let frames: Vec<Vec<u8>> = (0..n).map(|i| nmxdp_tests::frame(i, 60)).collect();
    let got = pair.a.run(|| {
        let mut nic = Port::open("netmap:va").unwrap();
        let mut master = Port::open("netmap:va{0").unwrap();
        let mut slave = Port::open("netmap:va}0").unwrap();
        let (nr, mr, sr) = (raw(&nic), raw(&master), raw(&slave));
        let mut seqs = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                pair.b.run(|| {
                    let mut p = Port::open("netmap:vb").unwrap();
                    nmxdp_tests::send_all(&mut p, 0, &frames);
                })
            });
            let mut idle = 0;
            while (seqs.len() as u64) < n && idle < 50 {
                let ev = nic
                    .poll(Events::IN, Some(Duration::from_millis(100)))
                    .unwrap();
                idle = if ev.contains(Events::IN) { 0 } else { idle + 1 };
                master.sync_tx().unwrap();
                let (rx, tx) = (nr.rx, mr.tx);
                let (mut i, mut j) = (rx.head(), tx.head());
                while i != rx.tail() && j != tx.tail() {
                    let (a, b) = (rx.slot(i), tx.slot(j));
                    tx.set_buf_idx(j, a.buf_idx);
                    tx.set_len(j, a.len);
                    tx.set_flags(j, NS_BUF_CHANGED);
                    rx.set_buf_idx(i, b.buf_idx);
                    rx.set_flags(i, NS_BUF_CHANGED);
                    i = if i + 1 == rx.num_slots() { 0 } else { i + 1 };
                    j = if j + 1 == tx.num_slots() { 0 } else { j + 1 };
                }
                rx.set_head_cur(i);
                tx.set_head_cur(j);
                master.sync_tx().unwrap();
                slave.sync_rx().unwrap();
                let x = sr.rx;
                let mut h = x.head();
                while h != x.tail() {
                    let s = x.slot(h);
                    let p = buf_words(x, s.buf_idx).cast::<u8>();
                    // SAFETY: slot h is the app's, so is its buffer, of at least len bytes.
                    let f = unsafe { std::slice::from_raw_parts(p, s.len as usize) };
                    seqs.push(nmxdp_tests::seq_of(f).expect("a numbered frame"));
                    h = if h + 1 == x.num_slots() { 0 } else { h + 1 };
                }
                x.set_head_cur(h);
                slave.sync_rx().unwrap();
            }
        });
        drop((nic, master, slave));
        seqs
    });
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "frames lost or reordered");
    let (after, rec) = nmxdp::pool_audit().unwrap();
    assert_eq!(after, audit, "buffers per owner after every port closed");
    assert_eq!(
        rec, recovered,
        "buffers had to be recovered at the last close"
    );
    pair.assert_no_xdp();
}

/// Two processes on the two ends: 200,000 frames from a pkt-gen sender on `{0` to a pkt-gen
/// receiver on `}0`, every one received; the end a process holds is EBUSY for others, naming
/// it; afterwards every buffer is back in the pool.
#[test]
fn two_processes_on_one_pipe() {
    let _t = turn();
    let free = free_buffers();
    let n = 200_000u64;
    let rx = Kid::start(&["-i", "netmap:xp}0", "-f", "rx", "-n", &n.to_string()]);
    wait_held_by("netmap:xp}0", rx.pid());
    let tx = Kid::start(&[
        "-i",
        "netmap:xp{0",
        "-f",
        "tx",
        "-n",
        &n.to_string(),
        "-l",
        "60",
    ]);
    let sent = tx.finish(Duration::from_secs(60));
    let got = rx.finish(Duration::from_secs(60));
    assert_eq!(pktgen_received(&got), n, "{sent}\n{got}");
    assert_eq!(free_buffers(), free, "the pipe gave its buffers back");
}

/// The C APIs across processes under `LD_PRELOAD`: a libnetmap sender (`nmport_*`) on `{3`, a
/// legacy receiver (`nm_open`, `nm_dispatch`) on `}3`, every frame received intact.
#[test]
fn c_programs_on_one_pipe() {
    let _t = turn();
    let free = free_buffers();
    let (c_app, n) = (nmxdp_tests::bins::c_app, 100_000u64);
    let rx = Kid::run(
        c_app("nm_legacy-plain", "nm_legacy"),
        &["-i", "netmap:cp}3", "-f", "rx", "-n", &n.to_string()],
        true,
    );
    wait_held_by("netmap:cp}3", rx.pid());
    let tx = Kid::run(
        c_app("nm_lib-plain", "nm_lib"),
        &[
            "-i",
            "netmap:cp{3",
            "-f",
            "tx",
            "-n",
            &n.to_string(),
            "-l",
            "60",
        ],
        true,
    );
    let got = rx.finish(Duration::from_secs(60));
    // The receiver stops at n without releasing its last slots, so the sender's ring never
    // drains (as in netmap): it only reports that.
    let sent = tx.finish(Duration::from_secs(60));
    assert!(sent.contains(&format!("sent {n}")), "{sent}");
    assert!(
        got.contains(&format!("received {n} bytes {}", n * 60)) && got.contains("bad 0"),
        "{got}"
    );
    assert_eq!(free_buffers(), free);
}

/// A reader SIGKILLed mid-stream: its end is reclaimed (its buffers to the writer's process, the
/// end free), a new process reattaches and reads what the writer sends next; when everything is
/// closed the pool is whole.
#[test]
fn a_killed_reader_is_reclaimed_and_a_new_one_reattaches() {
    let _t = turn();
    let free = free_buffers();
    let mut master = Port::open("netmap:kl{1").unwrap();
    let r = raw(&master);
    let first = Kid::start(&["-i", "netmap:kl}1", "-f", "rx"]);
    wait_held_by("netmap:kl}1", first.pid());
    let mut seq = 0;
    send(&mut master, &r, &mut seq, 20_000, true);
    drop(first);
    // The next open of the end takes it back from the dead process.
    let second = Kid::start(&["-i", "netmap:kl}1", "-f", "rx", "-n", "1000"]);
    wait_held_by("netmap:kl}1", second.pid());
    send(&mut master, &r, &mut seq, 1000, true);
    let out = second.finish(Duration::from_secs(30));
    assert!(pktgen_received(&out) >= 1000, "{out}");
    drop(master);
    assert_eq!(free_buffers(), free, "every buffer back after the kill");
}

/// Pipe throughput between two threads, busy-wait and poll (each frame gets a 16-byte write and
/// its check): prints Mpps, asserts only the counts. Run with
/// `cargo test -p nmxdp-tests --release --test pipes -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n = 20_000_000u64;
    for poll in [false, true] {
        let t0 = std::time::Instant::now();
        stream(if poll { "tp" } else { "tb" }, n, poll);
        let s = t0.elapsed().as_secs_f64();
        println!(
            "pipe throughput ({}): {:.1} Mpps ({n} frames in {s:.2} s)",
            if poll { "poll" } else { "busy-wait" },
            n as f64 / s / 1e6
        );
    }
}
