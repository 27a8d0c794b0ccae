//! Host rings (issue 11): the host path's rate in both directions next to the same traffic
//! through the kernel with no nmxdp in the path, and the ICMP round trip through an in-line
//! forwarder (vb <-> vb^) next to the direct one. In-process, on a pair of its own with
//! addresses (A 10.78.0.1 on va, B 10.78.0.2 on vb):
//!
//! - stack -> host RX ring: B's UDP socket sends N datagrams to A. nmxdp: a port on
//!   `netmap:vb^` in B receives them. Kernel: they go out on vb and A's UDP socket receives them.
//! - host TX ring -> stack: N UDP frames for B. nmxdp: a port on `netmap:vb^` hands them to B's
//!   stack. Kernel: an AF_PACKET socket on va sends them across the pair. Either way B's UDP
//!   socket receives them.
//! - RTT: A sends ICMP echo requests one at a time on a raw socket. Through a busy-waiting
//!   forwarder between `netmap:vb` and `netmap:vb^` in B (what `bridge -i netmap:vb` does), and
//!   directly.
//!
//! Rates are frames received over the time from the first send to the last receive, medians of
//! the repetitions. No CPU pinning: the stack's share of the work runs where the kernel puts it.

use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nmxdp::{Events, Port};
use pkt_gen::frame::inet_checksum;

use crate::cli::Plan;
use crate::netns::{ip, Topo};
use crate::reps::rotation;
use crate::stopped;

const A_IP: [u8; 4] = [10, 78, 0, 1];
const B_IP: [u8; 4] = [10, 78, 0, 2];
const PORT: u16 = 9;
/// Frame lengths of the rows (Ethernet header included): minimum and MTU-sized.
pub const LENS: [usize; 2] = [60, 1514];
/// Frames per run (smoke: [`SMOKE_FRAMES`]).
pub const FRAMES: u64 = 100_000;
pub const SMOKE_FRAMES: u64 = 2_000;
/// Repetitions of each rate row: pairs enough for an interval of the nmxdp / kernel ratio.
pub const REPS: u32 = 5;
/// Echo requests per RTT measurement (smoke: 50).
pub const RTTS: u32 = 2_000;
/// A receiver stops after this long without a frame.
const IDLE: Duration = Duration::from_millis(300);

/// Which way the frames cross the host path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// What the stack transmits, into the host RX ring.
    StackToApp,
    /// What the application hands to the stack through the host TX ring.
    AppToStack,
}

impl Dir {
    pub fn label(self) -> &'static str {
        match self {
            Dir::StackToApp => "stack -> host RX ring",
            Dir::AppToStack => "host TX ring -> stack",
        }
    }
}

/// One run: frames sent and received, and the rate (None when nothing arrived or it failed),
/// with its repetition and place in the section's run order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub rep: usize,
    pub seq: usize,
    pub sent: u64,
    pub received: u64,
    pub pps: Option<f64>,
}

pub struct HostRow {
    pub dir: Dir,
    pub len: usize,
    pub nmxdp: Vec<Rate>,
    pub kernel: Vec<Rate>,
}

/// Round-trip times in µs of the replies that came back, and the requests sent.
#[derive(Default)]
pub struct Rtts {
    pub sent: u32,
    pub us: Vec<f64>,
}

pub struct HostRuns {
    pub frames: u64,
    pub reps: u32,
    pub rows: Vec<HostRow>,
    pub bridge: Rtts,
    pub direct: Rtts,
    pub errors: Vec<String>,
}

/// Runs `f` on a thread in the namespace `ns` (an fd of /run/netns/NAME).
fn in_ns<T: Send>(ns: RawFd, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on a namespace fd the topology keeps open; this thread only.
            let rc = unsafe { libc::setns(ns, libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

fn mac_of(ns: &str, ifname: &str) -> Result<[u8; 6]> {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", ifname])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| anyhow!("no MAC for {ifname} in {ns}"))?;
    let mut mac = [0u8; 6];
    for (m, h) in mac.iter_mut().zip(hex.split(':')) {
        *m = u8::from_str_radix(h, 16)?;
    }
    Ok(mac)
}

fn ip_str(a: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// A UDP frame of `len` bytes from A to B's port [`PORT`] (UDP checksum 0: none).
fn udp_frame(len: usize, dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((len - 14) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&A_IP);
    ip[16..20].copy_from_slice(&B_IP);
    let c = inet_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&PORT.to_be_bytes());
    f[36..38].copy_from_slice(&PORT.to_be_bytes());
    f[38..40].copy_from_slice(&((len - 34) as u16).to_be_bytes());
    f
}

fn rate(sent: u64, received: u64, t0: Instant, last: Option<Instant>) -> Rate {
    let pps = last
        .filter(|_| received > 0)
        .map(|l| received as f64 / l.duration_since(t0).as_secs_f64().max(1e-9));
    Rate {
        sent,
        received,
        pps,
        ..Rate::default()
    }
}

/// Counts datagrams on `sock` until [`IDLE`] passes without one (after `started` is set).
fn count_udp(sock: &UdpSocket, started: &AtomicBool) -> (u64, Option<Instant>) {
    sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
    let mut buf = [0u8; 2048];
    let (mut n, mut last) = (0u64, None);
    let mut quiet_since = Instant::now();
    loop {
        match sock.recv(&mut buf) {
            Ok(_) => {
                n += 1;
                last = Some(Instant::now());
                quiet_since = Instant::now();
            }
            Err(_) if !started.load(Relaxed) => quiet_since = Instant::now(),
            Err(_) if quiet_since.elapsed() >= IDLE => return (n, last),
            Err(_) => {}
        }
    }
}

fn big_rcvbuf(sock: &UdpSocket) {
    let v: i32 = 32 << 20;
    // SAFETY: setsockopt reads an int that lives across the call.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&v).cast(),
            4,
        )
    };
}

/// B's stack sends `n` datagrams of `len`-byte frames to A; received on `vb^` (nmxdp) or by A.
fn stack_to_app(t: &Topo, len: usize, n: u64, nmxdp: bool) -> Result<Rate> {
    let started = AtomicBool::new(false);
    let payload = vec![0x5au8; len - 42];
    let a_sock = in_ns(t.fd_a(), || UdpSocket::bind((ip_str(A_IP), PORT)))?;
    big_rcvbuf(&a_sock);
    let port = if nmxdp {
        Some(in_ns(t.fd_b(), || {
            Port::open("netmap:vb^@conf:slots=4096")
        })?)
    } else {
        None
    };
    let t0 = std::thread::scope(|s| -> Result<(Instant, (u64, Option<Instant>))> {
        let rx = s.spawn(|| match port {
            Some(mut p) => {
                let (mut got, mut last) = (0u64, None);
                let mut quiet = Instant::now();
                loop {
                    let _ = p.poll(Events::IN, Some(Duration::from_millis(20)));
                    let k = p.rx_ring(1).packets().count() as u64;
                    if k > 0 {
                        got += k;
                        last = Some(Instant::now());
                        quiet = Instant::now();
                    } else if !started.load(Relaxed) {
                        quiet = Instant::now();
                    } else if quiet.elapsed() >= IDLE {
                        return (got, last);
                    }
                }
            }
            None => count_udp(&a_sock, &started),
        });
        let t0 = in_ns(t.fd_b(), || -> Result<Instant> {
            let s = UdpSocket::bind((ip_str(B_IP), 0))?;
            s.connect((ip_str(A_IP), PORT))?;
            let t0 = Instant::now();
            started.store(true, Relaxed);
            for _ in 0..n {
                // A full socket buffer (ENOBUFS) is a frame not sent: it still counts as sent.
                let _ = s.send(&payload);
            }
            Ok(t0)
        });
        started.store(true, Relaxed);
        let r = rx.join().map_err(|_| anyhow!("receiver panicked"))?;
        Ok((t0?, r))
    })?;
    let (t0, (got, last)) = t0;
    Ok(rate(n, got, t0, last))
}

/// `n` UDP frames for B's stack: from `vb^`'s host TX ring (nmxdp) or from an AF_PACKET socket
/// on va; B's UDP socket counts them.
fn app_to_stack(t: &Topo, len: usize, n: u64, nmxdp: bool) -> Result<Rate> {
    let frame = udp_frame(len, mac_of(&t.ns_b, t.if_b)?, mac_of(&t.ns_a, t.if_a)?);
    let started = AtomicBool::new(false);
    let b_sock = in_ns(t.fd_b(), || UdpSocket::bind((ip_str(B_IP), PORT)))?;
    big_rcvbuf(&b_sock);
    let (t0, (got, last)) = std::thread::scope(|s| -> Result<_> {
        let rx = s.spawn(|| count_udp(&b_sock, &started));
        let t0 = if nmxdp {
            in_ns(t.fd_b(), || -> Result<Instant> {
                let mut p = Port::open("netmap:vb^@conf:slots=4096")?;
                let t0 = Instant::now();
                started.store(true, Relaxed);
                let mut sent = 0;
                while sent < n {
                    p.poll(Events::OUT, Some(Duration::from_millis(100)))?;
                    let mut tx = p.tx_ring(1);
                    let mut b = tx.batch();
                    while sent < n && b.push(&frame) {
                        sent += 1;
                    }
                }
                p.sync_tx()?;
                // Let the last frames leave before the port (and the path) closes.
                std::thread::sleep(Duration::from_millis(100));
                Ok(t0)
            })
        } else {
            in_ns(t.fd_a(), || -> Result<Instant> {
                let sock = packet_socket(t.if_a)?;
                let t0 = Instant::now();
                started.store(true, Relaxed);
                for _ in 0..n {
                    // SAFETY: send reads `frame`, alive across the call.
                    unsafe { libc::send(sock.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
                }
                Ok(t0)
            })
        };
        started.store(true, Relaxed);
        let r = rx.join().map_err(|_| anyhow!("receiver panicked"))?;
        Ok((t0?, r))
    })?;
    Ok(rate(n, got, t0, last))
}

/// An AF_PACKET socket bound to `ifname` (calling thread's namespace), for sending.
fn packet_socket(ifname: &str) -> Result<OwnedFd> {
    let ifindex = nmxdp::ifinfo::if_info(ifname)?.ifindex;
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
    }
    // SAFETY: a new fd nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: bind reads `sll`, alive across the call.
    let rc = unsafe {
        libc::bind(
            fd,
            std::ptr::from_ref(&sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("binding the AF_PACKET socket");
    }
    Ok(sock)
}

/// `n` ICMP echo requests from A to B, one at a time; the RTT of each reply.
fn ping(t: &Topo, n: u32) -> Result<Rtts> {
    in_ns(t.fd_a(), || -> Result<Rtts> {
        // SAFETY: socket(2) takes no pointers.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("raw ICMP socket");
        }
        // SAFETY: a new fd nothing else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let udp = std::mem::ManuallyDrop::new(
            // SAFETY: borrowed view of `sock` for its timeout setter; never closed through it.
            unsafe { UdpSocket::from_raw_fd(sock.as_raw_fd()) },
        );
        udp.set_read_timeout(Some(Duration::from_millis(500)))?;
        let mut dst: libc::sockaddr_in = {
            // SAFETY: sockaddr_in is plain data.
            unsafe { std::mem::zeroed() }
        };
        dst.sin_family = libc::AF_INET as u16;
        dst.sin_addr.s_addr = u32::from_ne_bytes(B_IP);
        let mut out = Rtts::default();
        let mut buf = [0u8; 1500];
        for seq in 0..n as u16 {
            let mut req = vec![8u8, 0, 0, 0, 0x4e, 0x4d];
            req.extend_from_slice(&seq.to_be_bytes());
            req.extend_from_slice(&[0u8; 56]);
            let c = inet_checksum(&req);
            req[2..4].copy_from_slice(&c.to_be_bytes());
            let t0 = Instant::now();
            // SAFETY: sendto reads `req` and `dst`, both alive across the call.
            unsafe {
                libc::sendto(
                    fd,
                    req.as_ptr().cast(),
                    req.len(),
                    0,
                    std::ptr::from_ref(&dst).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            out.sent += 1;
            while let Ok(k) = udp.recv(&mut buf) {
                let icmp = &buf[usize::from(buf[0] & 0xf) * 4..k];
                if icmp.len() >= 8 && icmp[0] == 0 && icmp[6..8] == seq.to_be_bytes() {
                    out.us.push(t0.elapsed().as_secs_f64() * 1e6);
                    break;
                }
            }
        }
        Ok(out)
    })
}

/// A busy-waiting forwarder between `netmap:vb` and `netmap:vb^` until `stop`; sets `ready`
/// once both ports are open.
fn forward(t: &Topo, stop: &AtomicBool, ready: &AtomicBool) -> Result<()> {
    in_ns(t.fd_b(), || -> Result<()> {
        let mut nic = Port::open("netmap:vb")?;
        let mut host = Port::open("netmap:vb^")?;
        ready.store(true, Relaxed);
        while !stop.load(Relaxed) {
            nic.sync_rx()?;
            host.sync_rx()?;
            let a = nic.rx_ring(0).forward_to(&mut host.tx_ring(1), 512);
            let b = host.rx_ring(1).forward_to(&mut nic.tx_ring(0), 512);
            if a > 0 {
                host.sync_tx()?;
            }
            if b > 0 {
                nic.sync_tx()?;
            }
        }
        Ok(())
    })
}

/// Runs the section (None when skipped).
pub fn measure(plan: &Plan) -> Option<HostRuns> {
    let reps = plan.host_reps?;
    let frames = if plan.smoke { SMOKE_FRAMES } else { FRAMES };
    let rtts = if plan.smoke { 50 } else { RTTS };
    eprintln!("bench: host rings: {reps} repetition(s) of 8 runs of {frames} frames, {rtts} echo requests twice");
    let mut out = HostRuns {
        frames,
        reps,
        rows: Vec::new(),
        bridge: Rtts::default(),
        direct: Rtts::default(),
        errors: Vec::new(),
    };
    let t = match setup() {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(format!("host section setup: {e:#}"));
            return Some(out);
        }
    };
    for dir in [Dir::StackToApp, Dir::AppToStack] {
        for len in LENS {
            let mut row = HostRow {
                dir,
                len,
                nmxdp: Vec::new(),
                kernel: Vec::new(),
            };
            // nmxdp and kernel alternate which goes first, so each run has the other's right
            // before or after it (both orders over two repetitions).
            for (seq, slot) in rotation(2, reps as usize).into_iter().enumerate() {
                if stopped() {
                    break;
                }
                let nm = slot.row == 0;
                let r = match dir {
                    Dir::StackToApp => stack_to_app(&t, len, frames, nm),
                    Dir::AppToStack => app_to_stack(&t, len, frames, nm),
                };
                let r = r.unwrap_or_else(|e| {
                    out.errors.push(format!("{} {len} B: {e:#}", dir.label()));
                    Rate::default()
                });
                let r = Rate {
                    rep: slot.rep,
                    seq,
                    ..r
                };
                if nm {
                    row.nmxdp.push(r);
                } else {
                    row.kernel.push(r);
                }
            }
            out.rows.push(row);
        }
    }
    match ping(&t, rtts) {
        Ok(r) => out.direct = r,
        Err(e) => out.errors.push(format!("direct ping: {e:#}")),
    }
    let (stop, ready) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        let fwd = s.spawn(|| forward(&t, &stop, &ready));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.load(Relaxed) && !fwd.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if ready.load(Relaxed) {
            match ping(&t, rtts) {
                Ok(r) => out.bridge = r,
                Err(e) => out
                    .errors
                    .push(format!("ping through the forwarder: {e:#}")),
            }
        }
        stop.store(true, Relaxed);
        match fwd.join() {
            Ok(Err(e)) => out.errors.push(format!("forwarder: {e:#}")),
            Err(_) => out.errors.push("forwarder panicked".into()),
            Ok(Ok(())) => {}
        }
    });
    Some(out)
}

/// The section's pair, with addresses and A resolved in B for good (ARP from B would be
/// captured by the host RX ring like any other frame).
fn setup() -> Result<Topo> {
    let t = Topo::new("host", 1)?;
    let (a, b) = (ip_str(A_IP), ip_str(B_IP));
    ip(&[
        "-n",
        &t.ns_a,
        "addr",
        "add",
        &format!("{a}/24"),
        "dev",
        t.if_a,
    ])?;
    ip(&[
        "-n",
        &t.ns_b,
        "addr",
        "add",
        &format!("{b}/24"),
        "dev",
        t.if_b,
    ])?;
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let (ma, mb) = (mac_of(&t.ns_a, t.if_a)?, mac_of(&t.ns_b, t.if_b)?);
    ip(&[
        "-n",
        &t.ns_b,
        "neigh",
        "replace",
        &a,
        "lladdr",
        &mac(ma),
        "dev",
        t.if_b,
        "nud",
        "permanent",
    ])?;
    ip(&[
        "-n",
        &t.ns_a,
        "neigh",
        "replace",
        &b,
        "lladdr",
        &mac(mb),
        "dev",
        t.if_a,
        "nud",
        "permanent",
    ])?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_a_valid_ip_header_and_their_length() {
        for len in LENS {
            let f = udp_frame(len, [1; 6], [2; 6]);
            assert_eq!(f.len(), len);
            assert_eq!(inet_checksum(&f[14..34]), 0);
            assert_eq!(u16::from_be_bytes([f[38], f[39]]) as usize, len - 34);
        }
    }
}
