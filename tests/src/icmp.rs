//! ICMP echo from a raw socket (what ping(8) does), for tests that check that the kernel stack
//! still answers while nmxdp holds an interface.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use pkt_gen::frame::inet_checksum;

/// A raw ICMP socket in the namespace of the thread that opened it.
pub struct IcmpSocket(UdpSocket);

impl IcmpSocket {
    /// Opens one (root only), with short receive timeouts so that waits keep their deadlines.
    pub fn open() -> IcmpSocket {
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        assert!(
            fd >= 0,
            "raw ICMP socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the fd is new and ours; UdpSocket only closes it and sends/receives datagrams.
        let sock = unsafe { <UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        IcmpSocket(sock)
    }

    /// Sends echo request `seq` with identifier `id` to `dst`.
    pub fn send_echo(&self, dst: &str, id: u16, seq: u16) {
        let mut req = vec![8u8, 0, 0, 0];
        req.extend_from_slice(&id.to_be_bytes());
        req.extend_from_slice(&seq.to_be_bytes());
        req.extend_from_slice(&[0x5a; 56]);
        let c = inet_checksum(&req);
        req[2..4].copy_from_slice(&c.to_be_bytes());
        let dst: Ipv4Addr = dst.parse().unwrap();
        let sent = self.0.send_to(&req, (dst, 0)).expect("sendto");
        assert_eq!(sent, req.len());
    }

    /// Waits until `deadline` for the echo reply with `id` and `seq`; other messages are skipped.
    pub fn await_reply(&self, id: u16, seq: u16, deadline: Instant) -> bool {
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.0.recv_from(&mut buf) else {
                continue;
            };
            // IPv4 header, then the ICMP message: an echo reply with our id and sequence.
            let ihl = usize::from(buf[0] & 0xf) * 4;
            let icmp = &buf[ihl.min(n)..n];
            if icmp.len() >= 8
                && icmp[0] == 0
                && icmp[4..6] == id.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
            {
                return true;
            }
        }
        false
    }
}

/// `count` echo requests to `dst` from the calling thread's network namespace, one at a time,
/// each waiting up to `wait` for its reply; returns how many got one (the first request also
/// resolves ARP).
pub fn ping(dst: &str, count: u16, wait: Duration) -> usize {
    let sock = IcmpSocket::open();
    let id = (std::process::id() & 0xffff) as u16;
    (0..count)
        .filter(|&seq| {
            sock.send_echo(dst, id, seq);
            sock.await_reply(id, seq, Instant::now() + wait)
        })
        .count()
}
