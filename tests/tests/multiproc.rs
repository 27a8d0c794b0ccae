//! Several processes on one interface, clean restore, crash safety, foreign programs, faults and
//! privileges. Holders are separate processes (`nmxdp-hold`) started in the test's namespaces.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nmxdp::Port;
use nmxdp_tests::{await_ready, enter, frame, recv_upto, send_all, Netns, VethPair};

struct Holder {
    child: Child,
    out: BufReader<ChildStdout>,
    first: String,
}

/// Starts `nmxdp-hold NAME` in `ns`, optionally wrapped (setpriv ...), and reads its first line.
fn hold(ns: &Netns, name: &str, wrap: &[&str]) -> Holder {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .args(wrap)
        .arg(env!("CARGO_BIN_EXE_nmxdp-hold"))
        .arg(name);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn nmxdp-hold");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    Holder {
        child,
        out,
        first: first.trim().to_string(),
    }
}

impl Holder {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Closes stdin (normal exit) and returns the received count.
    fn finish(mut self) -> u64 {
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success());
        line.trim()
            .strip_prefix("received ")
            .unwrap_or_else(|| panic!("bad output {line}"))
            .parse()
            .unwrap()
    }
    fn kill9(mut self) {
        // SAFETY: kill(2) on our child's pid... the child is `ip netns exec`, which execs the holder.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn send(pair: &VethPair, ring: u32, frames: &[Vec<u8>]) {
    pair.a.run(|| {
        let mut port = Port::open(&format!("netmap:va-{ring}/T")).unwrap();
        send_all(&mut port, ring, frames);
    });
}

fn wait_no_xdp(ns: &Netns, ifname: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while ns.xdp_attached(ifname) {
        assert!(
            Instant::now() < deadline,
            "XDP program still on {ifname} after its last user left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No pins are left for `ifname` in `ns` (other tests' interfaces may exist).
fn no_pins(ns: &Netns, ifname: &str) -> bool {
    let ifindex = ns.run(|| nmxdp::ifinfo::if_info(ifname).unwrap().ifindex);
    let key = format!("{}-{ifindex}", ns.inode());
    !std::path::Path::new(&format!("/sys/fs/bpf/nmxdp/{key}")).exists()
}

/// Asserts that `/run/nmxdp` holds no file for the interfaces of `ns`.
fn assert_no_run_files(ns: &Netns) {
    assert_eq!(
        ns.run_files_settled(&[]),
        Vec::<String>::new(),
        "files left behind"
    );
}

#[test]
fn two_processes_share_an_interface_and_a_third_gets_ebusy() {
    let pair = VethPair::new("mp", 2);
    let p0 = hold(&pair.b, "netmap:vb-0", &[]);
    let p1 = hold(&pair.b, "netmap:vb-1", &[]);
    assert!(p0.first.starts_with("ready"), "{}", p0.first);
    assert!(p1.first.starts_with("ready"), "{}", p1.first);
    let frames: Vec<Vec<u8>> = (0..300).map(|s| frame(s, 60)).collect();
    send(&pair, 0, &frames);
    send(&pair, 1, &frames[..200]);

    let p2 = hold(&pair.b, "netmap:vb-1", &[]);
    assert!(
        p2.first.starts_with(&format!("error {}", libc::EBUSY)),
        "{}",
        p2.first
    );
    assert!(
        p2.first.contains(&format!("pid {}", p1.pid())),
        "message names the holder: {}",
        p2.first
    );
    let _ = p2.finish_err();

    // nmxdp status (run in B's namespace) lists both holders with their socket counters.
    let bin = nmxdp_tests::bins::nmxdp();
    {
        let out = Command::new("ip")
            .args(["netns", "exec", &pair.b.name])
            .arg(&bin)
            .arg("status")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("nmxdp_redirect"), "{text}");
        assert!(
            text.contains(&format!("queue 0 pid {}: rx_dropped", p0.pid())),
            "{text}"
        );
        assert!(
            text.contains(&format!("queue 1 pid {}: rx_dropped", p1.pid())),
            "{text}"
        );
    }

    // One leaves by SIGKILL, the other normally: the interface ends as it was.
    std::thread::sleep(Duration::from_millis(200));
    p1.kill9();
    assert!(
        pair.b.xdp_attached("vb"),
        "the program stays while process 0 uses it"
    );
    assert_eq!(
        p0.finish(),
        300,
        "process 0 received everything sent to queue 0"
    );
    wait_no_xdp(&pair.b, "vb");
    // The last user also removed the holder file the killed process left.
    assert_no_run_files(&pair.b);
    assert!(no_pins(&pair.b, "vb"), "pins left behind");
}

impl Holder {
    fn finish_err(mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
    }
}

#[test]
fn after_sigkill_mid_traffic_the_queue_reopens_at_once() {
    let pair = VethPair::new("kill", 1);
    let p = hold(&pair.b, "netmap:vb", &[]);
    assert!(p.first.starts_with("ready"), "{}", p.first);
    let frames: Vec<Vec<u8>> = (0..20_000).map(|s| frame(s, 60)).collect();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            send(&pair, 0, &frames);
            tx.send(()).unwrap();
        });
        std::thread::sleep(Duration::from_millis(5));
        p.kill9();
        rx.recv().unwrap();
    });
    wait_no_xdp(&pair.b, "vb");
    assert!(
        !pair.b.run_files().is_empty(),
        "a killed process leaves its files for the next user"
    );
    // A new process gets the same queue right away (bind retries the kernel's deferred release).
    let p = hold(&pair.b, "netmap:vb", &[]);
    assert!(p.first.starts_with("ready"), "{}", p.first);
    send(&pair, 0, &frames[..1000]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(p.finish(), 1000, "traffic flows after the crash");
    wait_no_xdp(&pair.b, "vb");
    assert_no_run_files(&pair.b);
}

/// Runs `nmxdp status` in `ns` and returns its output.
fn status_in(ns: &Netns) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(nmxdp_tests::bins::nmxdp())
        .arg("status")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inode of `/run/nmxdp/<file>`, None when it does not exist.
fn run_inode(file: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/nmxdp/{file}"))
        .ok()
        .map(|m| m.ino())
}

#[test]
fn files_of_killed_processes_are_removed_by_status() {
    let pair = VethPair::new("sweep", 2);
    let p0 = hold(&pair.b, "netmap:vb-0", &[]);
    let p1 = hold(&pair.b, "netmap:vb-1", &[]);
    assert!(p0.first.starts_with("ready"), "{}", p0.first);
    assert!(p1.first.starts_with("ready"), "{}", p1.first);
    p0.kill9();
    p1.kill9();
    wait_no_xdp(&pair.b, "vb");
    let left = pair.b.run_files();
    assert!(
        left.iter().filter(|f| f.ends_with(".holder")).count() == 2,
        "both holder files stay until someone cleans up: {left:?}"
    );
    let text = status_in(&pair.b);
    let key = format!("netns-ifindex {}-", pair.b.inode());
    assert!(!text.contains(&key), "dead holders listed: {text}");
    assert_no_run_files(&pair.b);
}

/// Sets its flag when dropped, unwinding included.
struct SetOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_live_holders_files_survive_status_and_other_opens() {
    let pair = VethPair::new("live", 2);
    let key = pair.b.run(|| {
        format!(
            "{}-{}",
            pair.b.inode(),
            nmxdp::ifinfo::if_info("vb").unwrap().ifindex
        )
    });
    let p0 = hold(&pair.b, "netmap:vb-0", &[]);
    assert!(p0.first.starts_with("ready"), "{}", p0.first);
    let holder = format!("{key}-q0.holder");
    let users = format!("{key}.users");
    let ino = (run_inode(&holder), run_inode(&users));
    assert!(
        ino.0.is_some() && ino.1.is_some(),
        "{:?}",
        pair.b.run_files()
    );
    let dead = hold(&pair.b, "netmap:vb-1", &[]);
    assert!(dead.first.starts_with("ready"), "{}", dead.first);
    dead.kill9();

    // `nmxdp status` runs over and over while other processes take queue 1 (and leave it
    // normally or by SIGKILL, so that a dead holder's file is being removed as the next one takes
    // the queue) and are refused queue 0: process 0's files are never removed, queue 0 stays its
    // own, and queue 1 is never reported busy.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let statuses = s.spawn(|| {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = status_in(&pair.b);
                assert!(
                    text.contains(&format!("queue 0 pid {}", p0.pid())),
                    "live holder not listed: {text}"
                );
                runs += 1;
            }
            runs
        });
        // Stops the status loop also when an assertion below fails, so the scope can end.
        let done = SetOnDrop(&stop);
        for i in 0..8 {
            let p1 = hold(&pair.b, "netmap:vb-1", &[]);
            assert!(p1.first.starts_with("ready"), "{}", p1.first);
            let busy = hold(&pair.b, "netmap:vb-0", &[]);
            assert!(
                busy.first.starts_with(&format!("error {}", libc::EBUSY))
                    && busy.first.contains(&format!("pid {}", p0.pid())),
                "{}",
                busy.first
            );
            let _ = busy.finish_err();
            if i % 2 == 0 {
                p1.kill9();
            } else {
                p1.finish();
            }
            assert_eq!(
                (run_inode(&holder), run_inode(&users)),
                ino,
                "a live holder's files were removed or replaced"
            );
        }
        drop(done);
        assert!(statuses.join().unwrap() > 0);
    });
    let want = vec![holder, users];
    assert_eq!(pair.b.run_files_settled(&want), want);
    p0.finish();
    wait_no_xdp(&pair.b, "vb");
    assert_no_run_files(&pair.b);
}

/// A 2-instruction XDP program "foreign_xdp" (return XDP_PASS), attached with a bpf_link.
fn attach_foreign(ifindex: u32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let insns: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095]; // r0 = 2; exit
    let license = c"GPL";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&6u32.to_ne_bytes()); // BPF_PROG_TYPE_XDP
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[48..59].copy_from_slice(b"foreign_xdp");
    // SAFETY: BPF_PROG_LOAD (5) with a zero-padded attr pointing at live buffers.
    let prog = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_mut_ptr(), 128u32) };
    assert!(
        prog >= 0,
        "BPF_PROG_LOAD: {}",
        std::io::Error::last_os_error()
    );
    let mut l = [0u8; 64];
    l[0..4].copy_from_slice(&(prog as u32).to_ne_bytes());
    l[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    l[8..12].copy_from_slice(&37u32.to_ne_bytes()); // BPF_XDP
    l[12..16].copy_from_slice(&(1u32 << 2).to_ne_bytes()); // native
                                                           // SAFETY: BPF_LINK_CREATE (28) with a zero-padded attr.
    let link = unsafe { libc::syscall(libc::SYS_bpf, 28, l.as_mut_ptr(), 64u32) };
    assert!(
        link >= 0,
        "BPF_LINK_CREATE: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: closing the program fd we own; the link keeps the program.
    unsafe { libc::close(prog as i32) };
    // SAFETY: a new fd we own.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(link as i32) }
}

#[test]
fn a_foreign_xdp_program_is_refused_and_left_alone() {
    let pair = VethPair::new("foreign", 1);
    pair.b.run(|| {
        let ifindex = nmxdp::ifinfo::if_info("vb").unwrap().ifindex;
        let link = attach_foreign(ifindex);
        let e = Port::open("netmap:vb")
            .err()
            .expect("open must fail over a foreign program");
        assert_eq!(e.errno(), libc::EBUSY, "{e}");
        assert!(
            e.message().contains("foreign_xdp") && e.message().contains("NMXDP_XDP_REPLACE"),
            "{e}"
        );
        let out = Command::new("ip")
            .args(["-d", "link", "show", "vb"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("foreign_xdp"),
            "foreign program untouched"
        );
        // A TX-only port needs no XDP program and still works.
        assert!(Port::open("netmap:vb/T").is_ok());
        drop(link);
    });
    pair.assert_no_xdp();
}

#[test]
fn link_flap_and_interface_deletion() {
    let pair = VethPair::new("flap", 1);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let pb = pair.b.path();
        let rx = s.spawn(move || {
            enter(&pb);
            let mut port = Port::open("netmap:vb").unwrap();
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            recv_upto(&mut port, 100, Duration::from_secs(2)).len()
        });
        await_ready(&ready_rx);
        pair.a.run(|| {
            let mut port = Port::open("netmap:va").unwrap();
            let ip =
                |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success());
            ip(&["link", "set", "va", "down"]);
            {
                let mut tx = port.tx_ring(0);
                assert!(tx.push(&frame(0, 60)));
            }
            let ev = port
                .poll(nmxdp::Events::OUT, Some(Duration::from_millis(200)))
                .unwrap();
            assert!(
                (ev).contains(nmxdp::Events::ERR),
                "link down: poll reports POLLERR"
            );
            ip(&["link", "set", "va", "up"]);
            std::thread::sleep(Duration::from_millis(100));
            let frames: Vec<Vec<u8>> = (1..101).map(|s| frame(s, 60)).collect();
            go_tx.send(()).unwrap();
            send_all(&mut port, 0, &frames);
            // Interface deleted while open: POLLERR, no crash, and close still works.
            ip(&["link", "del", "va"]);
            let ev = port
                .poll(
                    nmxdp::Events::OUT | nmxdp::Events::IN,
                    Some(Duration::from_millis(200)),
                )
                .unwrap();
            {
                let mut tx = port.tx_ring(0);
                let _ = tx.push(&frame(0, 60));
            }
            let ev2 = port
                .poll(nmxdp::Events::OUT, Some(Duration::from_millis(200)))
                .unwrap();
            assert!(
                (ev | ev2).contains(nmxdp::Events::ERR),
                "deleted interface: POLLERR"
            );
        });
        let got = rx.join().unwrap();
        assert!(got >= 100, "traffic resumed after link up: {got}");
    });
}

#[test]
fn without_privileges_open_is_eperm_and_info_still_works() {
    let pair = VethPair::new("priv", 1);
    let drop_caps = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ];
    let h = hold(&pair.b, "netmap:vb", &drop_caps);
    assert!(
        h.first.starts_with(&format!("error {}", libc::EPERM)),
        "{}",
        h.first
    );
    assert!(h.first.contains("CAP_NET_ADMIN"), "{}", h.first);
    let _ = h.finish_err();
    let bin = nmxdp_tests::bins::nmxdp();
    {
        let out = Command::new("ip")
            .args(["netns", "exec", &pair.b.name])
            .args(drop_caps)
            .arg(&bin)
            .args(["info", "vb"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("queues:"), "{text}");
    }
    pair.assert_no_xdp();
    let _ = Write::flush(&mut std::io::stdout());
}
