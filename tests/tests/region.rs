//! One region shared by several processes (docs/architecture.md, "Shared region"): the same
//! memory at the same buffer indices, reclaim after SIGKILL, the file gone with its last user,
//! and the error for other sizes, and NIC queues and a pipe of three processes in one region.
//! Every process is this test binary run again in one role (the `child` test, which does nothing
//! unless started so).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use nmxdp::{Events, Port};
use nmxdp_tests::{enter, frame, recv_upto, send_all, Netns, VethPair};

const ROLE: &str = "NMXDP_TEST_REGION_ROLE";
const NETNS: &str = "NMXDP_TEST_REGION_NETNS";
const PATTERN: &str = "written by the other process";

/// A child process in one role; its reports follow "@@ " (the harness may print before it on
/// the same line).
struct Proc {
    child: Child,
    out: BufReader<ChildStdout>,
}

fn start(pair: &VethPair, region: &str, role: &str, env: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(NETNS, format!("/var/run/netns/{}", pair.a.name))
        .env("NMXDP_REGION", format!("shared:{region}"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a child");
    let out = BufReader::new(child.stdout.take().unwrap());
    Proc { child, out }
}

impl Proc {
    /// The next report, without its "@@ ".
    fn report(&mut self) -> String {
        loop {
            let mut l = String::new();
            assert!(self.out.read_line(&mut l).unwrap() > 0, "child ended early");
            if let Some((_, r)) = l.trim_end().split_once("@@ ") {
                return r.to_string();
            }
        }
    }

    /// Closes stdin (the child then exits normally) and waits.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }

    fn kill9(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn path(region: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/nmxdp-region-{region}"))
}

fn region_name(tag: &str) -> String {
    format!("test-{}-{tag}", std::process::id())
}

fn wait_stdin_eof() {
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
}

/// The frames a role sends: numbered 0..n, 60 bytes.
fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n as u64).map(|i| frame(i, 60)).collect()
}

/// Mem id and size of a port, as a report.
fn mem(p: &Port) -> String {
    let reg = p.registration();
    format!("{} {}", reg.nr_mem_id, reg.nr_memsize)
}

/// Frames `ifname` received in namespace `ns` (its /proc/net/dev line).
fn rx_packets(ns: &Netns, ifname: &str) -> u64 {
    let dev = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap());
    dev.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{ifname}:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {ifname} in:\n{dev}"))
}

fn say(s: String) {
    println!("@@ {s}");
    std::io::stdout().flush().unwrap();
}

/// The roles; runs only in a child started by [`start`].
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    enter(&std::env::var(NETNS).unwrap());
    let mut words = role.split_whitespace();
    match words.next().unwrap() {
        // Writes PATTERN into the buffer of its TX ring's head slot and reports its index.
        "write" => {
            let mut port = Port::open("netmap:va-0").unwrap();
            let reg = port.registration();
            let mut tx = port.tx_ring(0);
            let h = tx.head();
            let idx = tx.slot(h).buf_idx;
            tx.buf_mut(h).unwrap()[..PATTERN.len()].copy_from_slice(PATTERN.as_bytes());
            say(format!("{} {} {idx}", reg.nr_mem_id, reg.nr_memsize));
            wait_stdin_eof();
        }
        // Reads buffer IDX of the region (another process's) as text.
        "read" => {
            let idx: usize = words.next().unwrap().parse().unwrap();
            let port = Port::open("netmap:va-1").unwrap();
            let reg = port.registration();
            let l = nmxdp::region_layout().unwrap();
            let base = nmxdp::region_base().unwrap();
            // SAFETY: buffer idx lies in the mapped region; the writer wrote it before reporting
            // and writes nothing more.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    base.add(l.buf_pool_offset as usize + idx * l.buf_size as usize),
                    PATTERN.len(),
                )
            };
            let text = String::from_utf8_lossy(bytes);
            say(format!("{} {} {text}", reg.nr_mem_id, reg.nr_memsize));
        }
        // Sends and receives on queue 1 until killed.
        "traffic" => {
            let mut port = Port::open("netmap:va-1").unwrap();
            let f = frame(1, 60);
            for i in 0u64.. {
                {
                    let mut tx = port.tx_ring(1);
                    while tx.push(&f) {}
                }
                let _ = port.sync_tx();
                let _ = port.sync_rx();
                for r in port.rx_rings() {
                    port.rx_ring(r).release_all();
                }
                if i == 100 {
                    say(format!("{}", std::process::id()));
                }
            }
        }
        // Opens queue 1 (what a killed user held), then reports the region's audit and users.
        "audit" => {
            let _port = Port::open("netmap:va-1").unwrap();
            let (audit, _) = nmxdp::pool_audit().unwrap();
            let l = nmxdp::region_layout().unwrap();
            let region = std::env::var("NMXDP_REGION").unwrap();
            let name = region.strip_prefix("shared:").unwrap();
            let st = nmxdp::status::regions();
            let me = st.iter().find(|s| s.path == path(name)).unwrap();
            let users: Vec<String> = me
                .users
                .iter()
                .map(|u| format!("{}:{}", u.pid, u.buffers.iter().sum::<usize>()))
                .collect();
            say(format!(
                "{} {} {} {} {} {} {}",
                l.buf_num,
                audit[0],
                audit[1],
                audit[2],
                audit[3],
                me.reclaimed.0,
                users.join(",")
            ));
        }
        // Opens queue K, sends N numbered frames on it and reports its memory and "sent N".
        "nic" => {
            let k: u32 = words.next().unwrap().parse().unwrap();
            let n: usize = words.next().unwrap().parse().unwrap();
            let mut port = Port::open(&format!("netmap:va-{k}")).unwrap();
            say(mem(&port));
            send_all(&mut port, k, &frames(n));
            say(format!("sent {n}"));
            wait_stdin_eof();
        }
        // Opens queue 0 and the reading end of pipe NAME (reports both memories), takes N
        // frames from the pipe, checks them and sends them on queue 0: "forwarded N".
        "nicpipe" => {
            let name = words.next().unwrap();
            let n: usize = words.next().unwrap().parse().unwrap();
            let mut nic = Port::open("netmap:va-0").unwrap();
            let mut pipe = Port::open(&format!("netmap:{name}}}0")).unwrap();
            say(format!("{} {}", mem(&nic), mem(&pipe)));
            let got: Vec<Vec<u8>> = recv_upto(&mut pipe, n, Duration::from_secs(10))
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            assert_eq!(got.len(), n, "frames through the pipe");
            assert!(
                got == frames(n),
                "the pipe's frames, in order, byte for byte"
            );
            send_all(&mut nic, 0, &got);
            say(format!("forwarded {n}"));
            wait_stdin_eof();
        }
        // Opens the writing end of pipe NAME, reports its memory, sends N numbered frames.
        "pipewrite" => {
            let name = words.next().unwrap();
            let n: usize = words.next().unwrap().parse().unwrap();
            let mut pipe = Port::open(&format!("netmap:{name}{{0")).unwrap();
            say(mem(&pipe));
            let ring = pipe.tx_rings().start;
            // Not send_all: a pipe's TX tail stays a slot behind what the reader released (as
            // netmap's), so "nothing pending" never comes; the reader counts the frames.
            let all = frames(n);
            let mut next = 0;
            while next < n {
                {
                    let mut tx = pipe.tx_ring(ring);
                    while next < n && tx.push(&all[next]) {
                        next += 1;
                    }
                    if next < n {
                        let t = tx.tail();
                        tx.set_cur(t);
                    }
                }
                let ev = pipe
                    .poll(Events::OUT, Some(Duration::from_secs(10)))
                    .unwrap();
                assert!(!ev.is_empty(), "no room in the pipe for 10 s at {next}");
            }
            pipe.sync_tx().unwrap();
            say(format!("sent {n}"));
            wait_stdin_eof();
        }
        // Opens queue 0 and reports "ok", or the error.
        "open" => match Port::open("netmap:va-0") {
            Ok(_p) => {
                say("ok".to_string());
                wait_stdin_eof();
            }
            Err(e) => say(format!("err {} {}", e.errno(), e.message())),
        },
        r => panic!("unknown role {r}"),
    }
}

#[test]
fn two_processes_see_one_region() {
    let pair = VethPair::new("shr", 2);
    let name = region_name("share");
    let mut w = start(&pair, &name, "write", &[]);
    let wrote = w.report();
    let mut it = wrote.split_whitespace();
    let (mem_id, memsize, idx) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(path(&name).exists(), "the region's file while it is used");
    let mode = std::fs::metadata(path(&name)).unwrap();
    assert_eq!((mode.uid(), mode.mode() & 0o777), (0, 0o600));
    let mut r = start(&pair, &name, &format!("read {idx}"), &[]);
    let read = r.report();
    assert_eq!(
        read,
        format!("{mem_id} {memsize} {PATTERN}"),
        "same mem id and size, and the bytes the writer put in buffer {idx}"
    );
    r.finish();
    w.finish();
    assert!(
        !path(&name).exists(),
        "the last user removed the region's file"
    );
    pair.assert_no_xdp();
}

#[test]
fn a_killed_users_buffers_are_reclaimed() {
    let pair = VethPair::new("rcl", 2);
    let name = region_name("reclaim");
    let mut holder = start(&pair, &name, "open", &[]);
    assert_eq!(holder.report(), "ok");
    let mut t = start(&pair, &name, "traffic", &[]);
    let killed: u32 = t.report().parse().unwrap();
    t.kill9();
    let mut a = start(&pair, &name, "audit", &[]);
    let rep = a.report();
    eprintln!("audit after the kill: {rep}");
    let v: Vec<&str> = rep.split_whitespace().collect();
    let n: Vec<usize> = v[..6].iter().map(|s| s.parse().unwrap()).collect();
    let (buf_num, free, reclaimed) = (n[0], n[1], n[5]);
    let held: Vec<(u32, usize)> = v[6]
        .split(',')
        .map(|u| {
            let (p, b) = u.split_once(':').unwrap();
            (p.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(
        held.len(),
        2,
        "the holder and the auditor, not the killed one: {rep}"
    );
    assert!(held.iter().all(|&(p, _)| p != killed), "{rep}");
    assert_eq!(
        free + held.iter().map(|h| h.1).sum::<usize>(),
        buf_num - 2,
        "every buffer is free or a live user's: {rep}"
    );
    assert_eq!(n[1] + n[2] + n[3] + n[4], buf_num - 2, "{rep}");
    assert!(
        reclaimed >= 1024,
        "the killed process's ring buffers came back: {rep}"
    );
    a.finish();
    holder.finish();
    assert!(!path(&name).exists());

    // The last user killed: the file stays until someone looks, who removes it.
    let mut last = start(&pair, &name, "open", &[]);
    assert_eq!(last.report(), "ok");
    let ino = std::fs::metadata(path(&name)).unwrap().ino();
    last.kill9();
    assert!(path(&name).exists());
    // The next opener replaces it with a fresh region.
    let mut next = start(&pair, &name, "open", &[]);
    assert_eq!(next.report(), "ok");
    assert_ne!(std::fs::metadata(path(&name)).unwrap().ino(), ino);
    next.kill9();
    // `nmxdp status` (the library call behind it) removes a region nobody uses.
    let st = nmxdp::status::regions();
    assert!(st.iter().all(|s| s.path != path(&name)));
    assert!(!path(&name).exists());
    pair.assert_no_xdp();
}

#[test]
fn other_sizes_are_refused_with_the_knob() {
    let pair = VethPair::new("siz", 2);
    let name = region_name("sizes");
    let mut first = start(&pair, &name, "open", &[("NMXDP_BUF_NUM", "8192")]);
    assert_eq!(first.report(), "ok");
    let mut second = start(&pair, &name, "open", &[("NMXDP_BUF_NUM", "16384")]);
    let rep = second.report();
    assert!(
        rep.starts_with(&format!("err {} ", libc::EEXIST)),
        "EEXIST: {rep}"
    );
    for s in [
        "NMXDP_BUF_NUM=8192",
        "NMXDP_BUF_NUM=16384",
        "NMXDP_REGION=private",
    ] {
        assert!(rep.contains(s), "the message names {s}: {rep}");
    }
    second.finish();
    // The same sizes join.
    let mut same = start(&pair, &name, "open", &[("NMXDP_BUF_NUM", "8192")]);
    // Queue 0 is the first's: EBUSY naming its pid proves it got past the region.
    let rep = same.report();
    assert!(rep.starts_with(&format!("err {} ", libc::EBUSY)), "{rep}");
    same.finish();
    first.finish();
    std::thread::sleep(Duration::from_millis(10));
    assert!(!path(&name).exists());
    pair.assert_no_xdp();
}

#[test]
fn nic_queues_and_a_pipe_of_three_processes_share_one_region() {
    let pair = VethPair::new("trio", 2);
    // This process joins the region first (the one Netns::new set for this test process), so
    // that it outlives the three programs and its audit at the end sees what they left.
    let region = std::env::var("NMXDP_REGION").unwrap();
    let name = region.strip_prefix("shared:").unwrap().to_string();
    let (before, _) = nmxdp::pool_audit().unwrap();
    let n = 5_000usize;
    let wire0 = rx_packets(&pair.b, "vb");

    // Queue 0 and the pipe's reading end in one process, queue 1 in a second, the pipe's
    // writing end in a third.
    let mut q0 = start(&pair, &name, &format!("nicpipe trio {n}"), &[]);
    let m0 = q0.report();
    let mut q1 = start(&pair, &name, &format!("nic 1 {n}"), &[]);
    let m1 = q1.report();
    let mut p = start(&pair, &name, &format!("pipewrite trio {n}"), &[]);
    let mp = p.report();
    let v: Vec<&str> = m0.split_whitespace().collect();
    let (nic0, pipe0) = (v[..2].join(" "), v[2..].join(" "));
    eprintln!(
        "mem id and size: queue 0 {nic0}, pipe reader {pipe0}, queue 1 {m1}, pipe writer {mp}"
    );
    for (who, m) in [
        ("the pipe's reader", &pipe0),
        ("queue 1", &m1),
        ("the pipe's writer", &mp),
    ] {
        assert_eq!(*m, nic0, "{who}'s mem id and size are queue 0's");
    }
    assert_eq!(q1.report(), format!("sent {n}"));
    assert_eq!(p.report(), format!("sent {n}"));
    assert_eq!(q0.report(), format!("forwarded {n}"));

    // Both queues' frames crossed the pair (and nothing else of this test did).
    let t0 = std::time::Instant::now();
    while rx_packets(&pair.b, "vb") - wire0 < 2 * n as u64 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "vb received {} of {}",
            rx_packets(&pair.b, "vb") - wire0,
            2 * n
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p.finish();
    q1.finish();
    q0.finish();
    let (after, _) = nmxdp::pool_audit().unwrap();
    assert_eq!(
        after, before,
        "buffers per owner once the three programs exited"
    );
    pair.assert_no_xdp();
}
