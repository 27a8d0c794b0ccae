//! ICMP echo from a raw socket (what ping(8) does), for tests that check that the kernel stack
//! still answers while nmxdp holds an interface.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

/// The internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

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

#[cfg(test)]
mod tests {
    use super::inet_checksum;

    #[test]
    fn checksum_of_known_messages() {
        // An echo request with id 1, seq 1 and no payload: 0800 0000 0001 0001.
        assert_eq!(inet_checksum(&[8, 0, 0, 0, 0, 0x01, 0, 0x01]), 0xf7fd);
        // A message carrying its own checksum sums to zero; an odd length pads with zero.
        let mut m = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 7, 0xab];
        let c = inet_checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(inet_checksum(&m), 0);
    }
}
