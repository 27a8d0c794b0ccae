//! Host rings (`netmap:vb^`, `netmap:vb*`): our bridge in line between vb and B's own stack.
//!
//! A (va, 10.77.0.1) and B (vb, 10.77.0.2) are joined by a veth pair with default offloads.
//! In B the bridge binds vb's NIC rings and its host rings, so every frame between the wire and
//! B's stack crosses the bridge; from A, ARP, ICMP and TCP must work as if it were not there,
//! and once it is gone (exit or SIGKILL) B talks to A directly and nothing of it is left.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nmxdp::Port;
use nmxdp_tests::{await_ready, bins, icmp, Netns, VethPair};

const A_IP: &str = "10.77.0.1";
const B_IP: &str = "10.77.0.2";
const TCP_PORT: u16 = 5201;
/// Bytes of each TCP transfer.
const TCP_BYTES: usize = 100 << 20;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pair with addresses on both ends.
fn topo(tag: &str) -> VethPair {
    let p = VethPair::new(tag, 1);
    ip(&[
        "-n",
        &p.a.name,
        "addr",
        "add",
        &format!("{A_IP}/24"),
        "dev",
        "va",
    ]);
    ip(&[
        "-n",
        &p.b.name,
        "addr",
        "add",
        &format!("{B_IP}/24"),
        "dev",
        "vb",
    ]);
    p
}

/// A forwarder to start: program, arguments, environment, and the line (on stdout or stderr)
/// that says it is forwarding.
struct Forwarder {
    program: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ready: &'static str,
}

impl Forwarder {
    /// Our Rust bridge with `args` (after `-w 0`).
    fn rust(args: &[&str]) -> Forwarder {
        let mut a = vec!["-w".to_string(), "0".to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        Forwarder {
            program: bins::bridge(),
            args: a,
            env: Vec::new(),
            ready: "Ready to go",
        }
    }

    /// The C bridge (libnetmap: nmport_open, poll), `nm_bridge-linked` or `nm_bridge-plain`
    /// under LD_PRELOAD.
    fn c(preload: bool, args: &[&str]) -> Forwarder {
        let mut a = vec!["-w".to_string(), "0".to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        let (name, env) = if preload {
            let lib = bins::libnetmap().display().to_string();
            ("nm_bridge-plain", vec![("LD_PRELOAD".to_string(), lib)])
        } else {
            ("nm_bridge-linked", Vec::new())
        };
        Forwarder {
            program: bins::c_app(name, "nm_bridge"),
            args: a,
            env,
            ready: "ready: bridging",
        }
    }

    /// Runs it in `ns`; returns once it printed its ready line, having said it swaps buffers
    /// (zero-copy) between the NIC and the host rings.
    fn start(&self, ns: &Netns) -> Running {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, "env"]);
        for (k, v) in &self.env {
            cmd.arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .arg(&self.program)
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the forwarder");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        for pipe in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
            let tx = tx.clone();
            let ready = self.ready;
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let done = l.starts_with(ready);
                    let _ = tx.send(Some(l));
                    if done {
                        let _ = tx.send(None);
                    }
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Some(l)) => lines.push(l),
                Ok(None) => break,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{:?} {:?}: not ready: {lines:?}", self.program, self.args);
                }
            }
        }
        assert!(
            lines.iter().any(|l| l.contains("zerocopy supported")),
            "no buffer swapping between NIC and host rings: {lines:?}"
        );
        Running(child)
    }
}

/// `n` ICMP echo requests from A to B, one at a time, each waiting up to a second for its
/// reply; the number of replies.
fn ping(p: &VethPair, n: u16) -> u16 {
    p.a.run(|| icmp::ping(B_IP, n, Duration::from_secs(1))) as u16
}

/// Kills the bridge if the test fails while it runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SHA-256 of `data` (sha256sum(1), coreutils).
fn sha256(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut stdin = c.stdin.take().expect("piped");
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("sha256sum");
    w.join().unwrap().expect("write to sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Deterministic pseudo-random bytes (xorshift), so a lost or reordered segment shows.
fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A TCP transfer of `TCP_BYTES` from `from` to a listener in `to` at `to_ip`; asserts the
/// receiver got the same SHA-256 the sender sent.
fn tcp_transfer(from: &Netns, to: &Netns, to_ip: &str, seed: u64) {
    let data = payload(TCP_BYTES, seed);
    let listener = to.run(|| TcpListener::bind((to_ip, TCP_PORT)).expect("listen"));
    listener.set_nonblocking(true).unwrap();
    let received = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            // Never waits forever: a failed sender must not hang the test.
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut c = loop {
                match listener.accept() {
                    Ok((c, _)) => break c,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => return Err(e),
                }
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::with_capacity(TCP_BYTES);
            c.read_to_end(&mut got).map(|_| got)
        });
        from.run(|| {
            let mut c = TcpStream::connect_timeout(
                &format!("{to_ip}:{TCP_PORT}").parse().unwrap(),
                Duration::from_secs(10),
            )
            .expect("connect");
            c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(&data).expect("send the transfer");
        });
        rx.join().unwrap().expect("accept and read the transfer")
    });
    assert_eq!(received.len(), data.len(), "bytes received");
    assert_eq!(sha256(&received), sha256(&data), "SHA-256 of the transfer");
}

/// Waits until `ns` has none of nmxdp's host-path leftovers: no private veth end, no tc
/// program of a host path loaded (tests run one at a time, so any is this test's), no XDP
/// program on vb. Panics naming what is left after 10 s.
fn assert_clean(ns: &Netns) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let links = ip(&["-n", &ns.name, "-o", "link", "show"]);
        let veth_left = links.contains(": nmh");
        let tc = nmxdp::host::loaded_programs();
        let tc_left = !tc.is_empty();
        let xdp_left = ns.xdp_attached("vb");
        if !veth_left && !tc_left && !xdp_left {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: veth {veth_left} tc programs {tc:?} xdp {xdp_left}\n{links}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn in_line_bridge(tag: &str, fwd: Forwarder) {
    let p = topo(tag);
    let mut br = fwd.start(&p.b);
    assert_eq!(ping(&p, 1000), 1000, "ICMP echo replies through the bridge");
    tcp_transfer(&p.a, &p.b, B_IP, 1);
    tcp_transfer(&p.b, &p.a, A_IP, 2);
    // SIGTERM: the bridge exits normally.
    // SAFETY: kill(2) on our child's pid.
    unsafe { libc::kill(br.0.id() as i32, libc::SIGTERM) };
    let st = br.0.wait().expect("wait bridge");
    assert!(st.success(), "bridge exit status {st}");
    assert_clean(&p.b);
    assert_eq!(ping(&p, 20), 20, "B's stack talks to A directly again");
}

#[test]
fn bridge_nic_and_host_rings() {
    in_line_bridge(
        "hb",
        Forwarder::rust(&["-i", "netmap:vb", "-i", "netmap:vb^"]),
    );
}

/// The C bridge through libnetmap (nmport_open of netmap:vb^, poll on its fd), linked.
#[test]
fn c_bridge_linked() {
    in_line_bridge(
        "hc",
        Forwarder::c(false, &["-i", "netmap:vb", "-i", "netmap:vb^"]),
    );
}

/// The same C bridge built without nmxdp, under LD_PRELOAD.
#[test]
fn c_bridge_preloaded() {
    in_line_bridge(
        "hp",
        Forwarder::c(true, &["-i", "netmap:vb", "-i", "netmap:vb^"]),
    );
}

#[test]
fn bridge_one_interface_means_its_host_rings() {
    in_line_bridge("h1", Forwarder::rust(&["-i", "netmap:vb"]));
}

#[test]
fn sigkill_leaves_nothing() {
    let p = topo("hk");
    let mut br = Forwarder::rust(&["-i", "netmap:vb"]).start(&p.b);
    assert_eq!(ping(&p, 50), 50);
    // The host queue's key, as `nmxdp status` names it: "vb^ [netns-ifindex KEY]: ...".
    let status = || {
        let out = Command::new("ip")
            .args(["netns", "exec", &p.b.name])
            .arg(bins::nmxdp())
            .arg("status")
            .output()
            .expect("run nmxdp status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = status();
    let host_key = text
        .lines()
        .find_map(|l| l.strip_prefix("vb^ [netns-ifindex "))
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("no host queue in:\n{text}"))
        .to_string();
    br.0.kill().expect("SIGKILL the bridge");
    let _ = br.0.wait();
    assert_clean(&p.b);
    // What the kernel does not remove (the holder files of vb and of the host queue) goes with
    // the next `nmxdp status`.
    let text = status();
    let b_key = format!("[netns-ifindex {}-", p.b.inode());
    assert!(!text.contains(&b_key), "{text}");
    assert!(!text.contains(&host_key), "{text}");
    assert_eq!(p.b.run_files_settled(&[]), Vec::<String>::new());
    let left: Vec<String> = std::fs::read_dir("/run/nmxdp")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&host_key))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "host queue files left: {left:?}");
    assert_eq!(ping(&p, 20), 20, "B's stack talks to A directly again");
}

#[test]
fn host_ring_names() {
    let p = topo("hn");
    p.b.run(|| {
        let host = Port::open("netmap:vb^").expect("netmap:vb^");
        let r = host.registration();
        assert_eq!((r.nr_host_tx_rings, r.nr_host_rx_rings), (1, 1));
        assert_eq!(
            host.tx_rings(),
            1..2,
            "the host TX ring follows the NIC rings"
        );
        assert_eq!(host.rx_rings(), 1..2);
        drop(host);
        let both = Port::open("netmap:vb*").expect("netmap:vb*");
        assert_eq!(both.tx_rings(), 0..2);
        assert_eq!(both.rx_rings(), 0..2);
        drop(both);
        let one = Port::open("netmap:vb^0").expect("netmap:vb^0");
        assert_eq!(one.rx_rings(), 1..2);
        drop(one);
        let e = Port::open("netmap:vb^1").err().expect("^1 fails");
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
        assert!(e.to_string().contains("1 host ring"), "{e}");
    });
    assert_clean(&p.b);
}

/// Output lines of a finished child, stdout then stderr.
fn finish(c: Child) -> (bool, String) {
    let out = c.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// nm_legacy (netmap_user.h's nm_open, NIOCREGIF with NR_REG_SW) on netmap:vb^ in B.
fn legacy(p: &VethPair, preload: bool, args: &[&str]) -> Child {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &p.b.name, "env"]);
    let prog = if preload {
        cmd.arg(format!("LD_PRELOAD={}", bins::libnetmap().display()));
        bins::c_app("nm_legacy-plain", "nm_legacy")
    } else {
        bins::c_app("nm_legacy-linked", "nm_legacy")
    };
    cmd.arg(prog)
        .args(["-i", "netmap:vb^"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nm_legacy")
}

/// The legacy API on the host rings, under LD_PRELOAD: the host RX ring (ring index 1, after
/// vb's one NIC ring) gets exactly the frames B's stack transmits on vb.
#[test]
fn legacy_host_rx_gets_what_the_stack_sends() {
    let p = topo("hlr");
    resolve_a_in_b(&p);
    let mut rx = legacy(&p, true, &["-f", "rx", "-n", "0", "-W", "1500"]);
    let mut first = String::new();
    BufReader::new(rx.stdout.as_mut().expect("piped"))
        .read_line(&mut first)
        .expect("ready line");
    assert!(first.contains("rings 1..1"), "host RX ring index: {first}");
    const N: u16 = 200;
    p.b.run(|| {
        let sock = icmp::IcmpSocket::open();
        for seq in 0..N {
            sock.send_echo(A_IP, 7, seq);
        }
    });
    let (ok, text) = finish(rx);
    assert!(ok, "nm_legacy: {text}");
    // ICMP frames are not test frames: nm_legacy counts them as "other".
    assert!(text.contains(&format!("other {N} ")), "{text}");
    assert_clean(&p.b);
}

/// The legacy API's host TX ring, linked: frames injected there arrive in B's stack as if
/// received on vb (an AF_PACKET socket on vb sees every one).
#[test]
fn legacy_host_tx_reaches_the_stack_as_if_received() {
    let p = topo("hlt");
    const N: usize = 300;
    let seen = p.b.run(|| {
        // SAFETY: socket(2) takes no pointers.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                i32::from((libc::ETH_P_ALL as u16).to_be()),
            )
        };
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a new fd nothing else owns.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let vb = nmxdp::ifinfo::if_info("vb").expect("vb").ifindex;
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = vb as i32;
        // SAFETY: bind reads `sll`, alive across the call.
        let rc = unsafe {
            libc::bind(
                fd,
                std::ptr::from_ref(&sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        // Room for every frame (the default buffer holds ~256 of them).
        let rcvbuf: i32 = 8 << 20;
        // SAFETY: setsockopt reads an int that lives across the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                std::ptr::from_ref(&rcvbuf).cast(),
                4,
            )
        };
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: setsockopt reads a timeval that lives across the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::from_ref(&tv).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        let tx = legacy(&p, false, &["-f", "tx", "-n", &N.to_string(), "-l", "60"]);
        let (ok, text) = finish(tx);
        assert!(
            ok && text.contains(&format!("sent {N}")),
            "nm_legacy: {text}"
        );
        let mut seen = 0;
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: recv writes at most buf.len() bytes into buf.
            let got = unsafe {
                libc::recv(
                    std::os::fd::AsRawFd::as_raw_fd(&sock),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                )
            };
            if got < 0 {
                break;
            }
            // nm_frame.h's test frames: UDP from and to port 1234.
            if got >= 42 && buf[36..38] == 1234u16.to_be_bytes() {
                seen += 1;
            }
        }
        seen
    });
    assert_eq!(seen, N, "frames B's stack received on vb");
    assert_clean(&p.b);
}

/// A permanent neighbour entry for A in B: ARP would be captured with everything else (and
/// never answered while only the host RX ring listens).
fn resolve_a_in_b(p: &VethPair) {
    let link = ip(&["-n", &p.a.name, "-o", "link", "show", "va"]);
    let mac = link
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("va's MAC")
        .to_string();
    ip(&[
        "-n",
        &p.b.name,
        "neigh",
        "replace",
        A_IP,
        "lladdr",
        &mac,
        "dev",
        "vb",
        "nud",
        "permanent",
    ]);
}

/// A host RX ring nobody empties: the stack never waits for it; what does not fit is dropped
/// and counted, and every frame is either received or counted as dropped.
#[test]
fn full_host_ring_drops_and_counts() {
    let p = topo("hf");
    resolve_a_in_b(&p);
    const N: u16 = 3000;
    p.b.run(|| {
        let mut host = Port::open("netmap:vb^@conf:slots=256").expect("netmap:vb^");
        let sock = icmp::IcmpSocket::open();
        let t0 = Instant::now();
        for seq in 0..N {
            sock.send_echo(A_IP, 9, seq);
        }
        // Never blocked on the ring: 3,000 sends take milliseconds, not the 1 s timeouts.
        assert!(t0.elapsed() < Duration::from_secs(10));
        let mut received = 0u64;
        loop {
            host.sync_rx().unwrap();
            let n = host.rx_ring(1).packets().count() as u64;
            if n == 0 {
                break;
            }
            received += n;
        }
        let s = host.stats();
        eprintln!(
            "received {received} stats {s:?} xdp {:?}",
            host.xdp_statistics()
        );
        assert!(s.host_rx_dropped > 0, "nothing dropped: {s:?}");
        assert_eq!(s.host_rx_packets, received);
        assert_eq!(received + s.host_rx_dropped, u64::from(N), "{s:?}");
        // `nmxdp status` in B shows the same, from outside the process.
        let out = Command::new(bins::nmxdp())
            .arg("status")
            .output()
            .expect("run nmxdp status");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "host rings: stack sent {N} (dropped, host RX ring full: {}), to stack 0",
            s.host_rx_dropped
        );
        assert!(text.contains(&want), "want {want:?} in:\n{text}");
        assert!(text.contains("vb^"), "{text}");
        drop(host);
    });
    assert_clean(&p.b);
}

/// Ports of one process share the host path, as they share NIC queues: `vb^` and `vb*` open
/// side by side; with the first closed, the second still gets what the stack sends; with both
/// closed nothing is left.
#[test]
fn ports_of_one_process_share_the_host_rings() {
    let p = topo("hs");
    resolve_a_in_b(&p);
    p.b.run(|| {
        let first = Port::open("netmap:vb^").expect("netmap:vb^");
        let mut second = Port::open("netmap:vb*").expect("netmap:vb* next to netmap:vb^");
        drop(first);
        let sock = icmp::IcmpSocket::open();
        for seq in 0..10 {
            sock.send_echo(A_IP, 11, seq);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while got < 10 && Instant::now() < deadline {
            second
                .poll(nmxdp::Events::IN, Some(Duration::from_millis(100)))
                .unwrap();
            got += second.rx_ring(1).packets().count();
        }
        assert_eq!(got, 10, "frames on the host RX ring of the remaining port");
    });
    assert_clean(&p.b);
}

/// Another process holding vb's host rings: the open is EBUSY naming the cause; once it exits,
/// the host rings open again.
#[test]
fn host_rings_of_another_process_are_ebusy() {
    let p = topo("he");
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &p.b.name])
        .arg(env!("CARGO_BIN_EXE_nmxdp-hold"))
        .arg("netmap:vb^")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn nmxdp-hold");
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().expect("piped"))
        .read_line(&mut line)
        .expect("holder's first line");
    assert!(line.starts_with("ready"), "nmxdp-hold: {line}");
    let holder = Running(holder);
    p.b.run(|| {
        let e = Port::open("netmap:vb^").err().expect("held elsewhere");
        assert_eq!(e.errno(), libc::EBUSY, "{e}");
        assert!(e.to_string().contains("another process"), "{e}");
    });
    drop(holder);
    p.b.run(|| drop(Port::open("netmap:vb^").expect("free again")));
    assert_clean(&p.b);
}

/// `nmxdp-hold NAME` in B with `NMXDP_XDP_MODE=skb`: its first line ("ready PID" or "error
/// ERRNO ..."), and the process (killed on drop).
fn hold_skb(p: &VethPair, name: &str) -> (String, Running) {
    let mut c = Command::new("ip")
        .args(["netns", "exec", &p.b.name, "env", "NMXDP_XDP_MODE=skb"])
        .arg(env!("CARGO_BIN_EXE_nmxdp-hold"))
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn nmxdp-hold");
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().expect("piped"))
        .read_line(&mut line)
        .expect("holder's first line");
    (line, Running(c))
}

/// With nmxdp's program in generic (skb) mode on vb, the host TX ring's frames would come back
/// on vb's NIC rings: host rings and that mode exclude each other (EOPNOTSUPP naming it).
#[test]
fn generic_xdp_and_host_rings_exclude_each_other() {
    let p = topo("hg");
    let (line, _h) = hold_skb(&p, "netmap:vb*");
    assert!(
        line.starts_with(&format!("error {} ", libc::EOPNOTSUPP)) && line.contains("generic"),
        "netmap:vb* in skb mode: {line}"
    );
    let (line, holder) = hold_skb(&p, "netmap:vb");
    assert!(line.starts_with("ready"), "netmap:vb in skb mode: {line}");
    p.b.run(|| {
        let e = Port::open("netmap:vb^")
            .err()
            .expect("generic program on vb");
        assert_eq!(e.errno(), libc::EOPNOTSUPP, "{e}");
        assert!(e.to_string().contains("native mode"), "{e}");
    });
    drop(holder);
    assert_clean(&p.b);
}

/// Steering and host rings together (issue 15): the bridge on vb with
/// `NMXDP_STEER='udp and dst port 1234'` gets only those frames on the NIC ring and hands them
/// to the stack through vb^; everything else (ARP, ICMP) reaches the stack directly, and the
/// stack's answers go out through the host ring.
#[test]
fn steered_traffic_handed_back_through_the_host_ring() {
    const N: usize = 500;
    let p = topo("hs");
    let mut fwd = Forwarder::rust(&["-i", "netmap:vb"]);
    fwd.env
        .push(("NMXDP_STEER".into(), "udp and dst port 1234".into()));
    let br = fwd.start(&p.b);
    // A UDP socket in B's stack on port 1234: what it gets came through the NIC ring, the
    // bridge and the host TX ring.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let got = std::thread::scope(|s| {
        let b = &p.b;
        let rx = s.spawn(move || {
            b.run(move || {
                let sock = std::net::UdpSocket::bind((B_IP, 1234)).expect("bind 1234 in B");
                sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                ready_tx.send(()).unwrap();
                let mut got = 0;
                let mut buf = [0u8; 2048];
                while let Ok(n) = sock.recv(&mut buf) {
                    assert_eq!(
                        &buf[..n],
                        &payload(64, got as u64 + 7)[..],
                        "datagram {got}"
                    );
                    got += 1;
                    if got == N {
                        break;
                    }
                }
                got
            })
        });
        await_ready(&ready_rx);
        // ICMP is not steered: the stack answers it directly (this also resolves ARP).
        assert_eq!(ping(&p, 20), 20, "ICMP replies with steering on");
        p.a.run(|| {
            let sock = std::net::UdpSocket::bind((A_IP, 0)).expect("bind in A");
            for i in 0..N {
                sock.send_to(&payload(64, i as u64 + 7), (B_IP, 1234))
                    .expect("send");
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        rx.join().unwrap()
    });
    assert_eq!(got, N, "steered datagrams handed to the stack through vb^");
    let rules =
        p.b.run(|| nmxdp::steer::status("vb").expect("steering status of vb"));
    drop(br);
    let q = rules
        .iter()
        .find(|q| q.text == "udp and dst port 1234")
        .expect("the bridge's rule on vb");
    let hits: u64 = q.terms.iter().map(|t| t.hits).sum();
    assert_eq!(hits, N as u64, "frames the rule sent to the NIC ring");
    assert!(q.passed > 0, "ARP and ICMP went to the stack directly");
    assert_clean(&p.b);
}
