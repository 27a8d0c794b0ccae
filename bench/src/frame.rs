//! The test frame, laid out as pkt-gen's (Ethernet / IPv4 / UDP, sequence number at byte 42,
//! byte pattern after it), so every row of the bench moves the same bytes.

use std::net::Ipv4Addr;

/// Offset of the sequence number (u64 little-endian).
pub const SEQ_OFF: usize = 42;
const SEQ_END: usize = 50;

/// Inet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A `len`-byte frame from `src_mac` to broadcast, 10.0.0.1:1234 -> 10.1.0.1:1234, sequence 0.
/// `len` must be at least 42 (the headers).
pub fn build(src_mac: [u8; 6], len: usize) -> Vec<u8> {
    assert!(
        len >= SEQ_OFF,
        "frame of {len} bytes cannot hold the headers"
    );
    let mut f: Vec<u8> = (0..len.max(SEQ_END)).map(|i| i as u8).collect();
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip.fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((len - 14) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&Ipv4Addr::new(10, 0, 0, 1).octets());
    ip[16..20].copy_from_slice(&Ipv4Addr::new(10, 1, 0, 1).octets());
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    udp[2..4].copy_from_slice(&1234u16.to_be_bytes());
    udp[4..6].copy_from_slice(&((len - 34) as u16).to_be_bytes());
    udp[6..8].fill(0);
    f[SEQ_OFF..SEQ_END].fill(0);
    f.truncate(len);
    f
}

/// Writes sequence number `seq` into a frame buffer (as many bytes of it as fit).
#[inline]
pub fn write_seq(buf: &mut [u8], seq: u64) {
    let b = seq.to_le_bytes();
    if buf.len() >= SEQ_END {
        buf[SEQ_OFF..SEQ_END].copy_from_slice(&b);
    } else if buf.len() > SEQ_OFF {
        let n = buf.len() - SEQ_OFF;
        buf[SEQ_OFF..].copy_from_slice(&b[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let f = build([2, 0, 0, 0, 0, 1], 60);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &[8, 0]);
        assert_eq!(checksum(&f[14..34]), 0, "IPv4 header checksum verifies");
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 26);
        assert_eq!(f[59], 59);
        let mut g = f.clone();
        write_seq(&mut g, 0x0102);
        assert_eq!(&g[42..44], &[2, 1]);
        let mut short = build([0; 6], 45);
        write_seq(&mut short, u64::MAX);
        assert_eq!(&short[42..], &[0xff; 3]);
        assert_eq!(build([0; 6], 1514).len(), 1514);
    }
}
