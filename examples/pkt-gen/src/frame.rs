//! The frames pkt-gen sends, and their verification on the receiving side.
//!
//! A frame of `len` bytes (`-l`, without CRC) is Ethernet II / IPv4 / UDP:
//!
//! | bytes    | content                                                                 |
//! |----------|-------------------------------------------------------------------------|
//! | 0..6     | destination MAC (`-D`)                                                  |
//! | 6..12    | source MAC (`-S`)                                                       |
//! | 12..14   | ethertype 0x0800                                                        |
//! | 14..34   | IPv4 header: 0x45, TOS 0, total length `len - 14`, id 0, DF, TTL 64,    |
//! |          | protocol 17 (UDP), correct header checksum, source and destination IP   |
//! | 34..42   | UDP header: source and destination port, length `len - 34`, checksum 0  |
//! |          | (no checksum, allowed over IPv4)                                        |
//! | 42..50   | **sequence number**, u64 little-endian (see [`seq`])                    |
//! | 50..len  | pattern: the byte at frame offset `i` is `i as u8`                      |
//!
//! Each sending thread numbers its frames `thread_index << 48 | n`, n = 0, 1, 2, ...
//! All multi-byte header fields are big-endian (network order); only the sequence number is
//! little-endian. Frames shorter than 50 bytes carry the first `len - 42` bytes of the sequence
//! number (none below 43 bytes), frames shorter than 42 bytes are a truncated header.

use std::net::Ipv4Addr;

/// Offset of the sequence number in every frame.
pub const SEQ_OFF: usize = 42;
/// End of the sequence number; the pattern starts here.
pub const SEQ_END: usize = 50;
/// Bits of the per-thread packet counter in a sequence number; the thread index is above.
pub const SEQ_THREAD_SHIFT: u32 = 48;
/// Length of Ethernet + IPv4 + UDP headers.
pub const HEADERS: usize = 42;
/// Largest frame the pattern table covers (IPv4 total length is 16 bits).
pub const MAX_FRAME: usize = 65536;

const ETH_HLEN: usize = 14;
const IP_HLEN: usize = 20;

/// What goes into a frame's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Frame length without CRC.
    pub len: usize,
}

impl FrameSpec {
    /// pkt-gen's default headers for a `len`-byte frame from `src_mac`: to broadcast
    /// (`-D ff:ff:ff:ff:ff:ff`), 10.0.0.1:1234 -> 10.1.0.1:1234 (`-s` / `-d`).
    pub fn defaults(src_mac: [u8; 6], len: usize) -> FrameSpec {
        FrameSpec {
            src_mac,
            dst_mac: [0xff; 6],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 1, 0, 1),
            src_port: 1234,
            dst_port: 1234,
            len,
        }
    }
}

/// Sequence number of the `n`-th frame of sending thread `thread`.
#[inline]
pub fn seq(thread: u32, n: u64) -> u64 {
    ((thread as u64) << SEQ_THREAD_SHIFT) | (n & ((1u64 << SEQ_THREAD_SHIFT) - 1))
}

/// The pattern byte at frame offset `i`.
#[inline]
pub fn pattern_byte(i: usize) -> u8 {
    i as u8
}

/// RFC 1071 Internet checksum of `data` (even length expected for headers).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u32) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds the frame with sequence number 0 (`spec.len` bytes).
pub fn build(spec: &FrameSpec) -> Vec<u8> {
    let full = spec.len.max(SEQ_END);
    let mut f = vec![0u8; full];
    f[0..6].copy_from_slice(&spec.dst_mac);
    f[6..12].copy_from_slice(&spec.src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = spec.len.saturating_sub(ETH_HLEN) as u16;
    let udp_len = spec.len.saturating_sub(ETH_HLEN + IP_HLEN) as u16;
    {
        let ip = &mut f[ETH_HLEN..ETH_HLEN + IP_HLEN];
        ip[0] = 0x45;
        ip[1] = 0;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[4..6].copy_from_slice(&0u16.to_be_bytes());
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&spec.src_ip.octets());
        ip[16..20].copy_from_slice(&spec.dst_ip.octets());
        let ck = inet_checksum(ip);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
    }
    {
        let udp = &mut f[ETH_HLEN + IP_HLEN..HEADERS];
        udp[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[6..8].copy_from_slice(&0u16.to_be_bytes());
    }
    for (i, b) in f.iter_mut().enumerate().skip(SEQ_END) {
        *b = pattern_byte(i);
    }
    f.truncate(spec.len);
    f
}

/// Writes `seq` at [`SEQ_OFF`] into `frame` (a frame of its final length; truncated if short).
#[inline]
pub fn write_seq(frame: &mut [u8], seq: u64) {
    let b = seq.to_le_bytes();
    match frame.get_mut(SEQ_OFF..SEQ_END) {
        // The sender's per-frame work: one 8-byte store.
        Some(dst) => dst.copy_from_slice(&b),
        None => write_seq_short(frame, b),
    }
}

/// The sequence number's first bytes into a frame too short for all of it. Out of line, so
/// that the compiler does not merge it with the common case into a variable-length memcpy.
#[cold]
#[inline(never)]
fn write_seq_short(frame: &mut [u8], b: [u8; 8]) {
    if let Some(dst) = frame.get_mut(SEQ_OFF..) {
        let n = dst.len();
        dst.copy_from_slice(&b[..n]);
    }
}

/// Why a received frame is not one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Shorter than the headers.
    Short,
    /// Not IPv4 (other traffic, counted as foreign).
    NotIpv4,
    /// IPv4 but not UDP (other traffic, counted as foreign).
    NotUdp,
    /// IPv4 checksum wrong.
    IpChecksum,
    /// IPv4 total length or UDP length do not match the frame.
    Length,
    /// A pattern byte differs (at this frame offset).
    Pattern(usize),
    /// The sequence number did not increase for its sending thread.
    Order,
}

/// Checks received frames: headers, the byte pattern and per-sender sequence order.
///
/// Trailing bytes past the IPv4 total length (Ethernet padding) are ignored. Frames shorter than
/// [`SEQ_END`] bytes have no complete sequence number and only get their headers checked.
/// Frames that are not IPv4/UDP at all (IPv6 neighbour discovery, ARP, ... that the kernel sends
/// when a link comes up) are other traffic: counted in `foreign`, neither ok nor bad.
pub struct Verifier {
    pattern: Vec<u8>,
    /// Last counter seen per sending thread (index = `seq >> 48`); `u64::MAX` = none yet.
    last: Vec<u64>,
    pub ok: u64,
    pub bad: u64,
    pub foreign: u64,
    pub first_bad: Option<Bad>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            pattern: (0..MAX_FRAME).map(pattern_byte).collect(),
            last: vec![u64::MAX; 1 << (64 - SEQ_THREAD_SHIFT)],
            ok: 0,
            bad: 0,
            foreign: 0,
            first_bad: None,
        }
    }

    /// Checks one frame and counts it as ok, bad or foreign.
    #[inline]
    pub fn check(&mut self, frame: &[u8]) -> Result<Option<u64>, Bad> {
        let r = self.check_inner(frame);
        match r {
            Ok(_) => self.ok += 1,
            Err(Bad::NotIpv4 | Bad::NotUdp) => self.foreign += 1,
            Err(e) => {
                self.bad += 1;
                self.first_bad.get_or_insert(e);
            }
        }
        r
    }

    fn check_inner(&mut self, frame: &[u8]) -> Result<Option<u64>, Bad> {
        let seq = check_frame(frame, &self.pattern)?;
        if let Some(s) = seq {
            let t = (s >> SEQ_THREAD_SHIFT) as usize;
            let n = s & ((1u64 << SEQ_THREAD_SHIFT) - 1);
            let last = &mut self.last[t];
            if *last != u64::MAX && n <= *last {
                return Err(Bad::Order);
            }
            *last = n;
        }
        Ok(seq)
    }
}

/// Stateless part of the check; `pattern[i]` must be `pattern_byte(i)` for the frame's length.
fn check_frame(frame: &[u8], pattern: &[u8]) -> Result<Option<u64>, Bad> {
    if frame.len() < ETH_HLEN + IP_HLEN {
        return Err(Bad::Short);
    }
    if frame[12..14] != [0x08, 0x00] || frame[ETH_HLEN] != 0x45 {
        return Err(Bad::NotIpv4);
    }
    let ip = &frame[ETH_HLEN..ETH_HLEN + IP_HLEN];
    if ip[9] != 17 {
        return Err(Bad::NotUdp);
    }
    if inet_checksum(ip) != 0 {
        return Err(Bad::IpChecksum);
    }
    let end = ETH_HLEN + u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if end > frame.len() || end < ETH_HLEN + IP_HLEN {
        return Err(Bad::Length);
    }
    if end < HEADERS {
        return Ok(None);
    }
    let udp_len = u16::from_be_bytes([frame[38], frame[39]]) as usize;
    if udp_len != end - ETH_HLEN - IP_HLEN {
        return Err(Bad::Length);
    }
    if end < SEQ_END {
        return Ok(None);
    }
    let body = &frame[SEQ_END..end];
    if body != &pattern[SEQ_END..end] {
        let at = body
            .iter()
            .zip(&pattern[SEQ_END..end])
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(Bad::Pattern(SEQ_END + at));
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&frame[SEQ_OFF..SEQ_END]);
    Ok(Some(u64::from_le_bytes(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(len: usize) -> FrameSpec {
        FrameSpec {
            src_mac: [0x02, 0, 0, 0, 0, 1],
            dst_mac: [0xff; 6],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 1, 0, 1),
            src_port: 1234,
            dst_port: 1234,
            len,
        }
    }

    #[test]
    fn defaults_are_pktgen_defaults() {
        assert_eq!(FrameSpec::defaults([0x02, 0, 0, 0, 0, 1], 60), spec(60));
        // Every length the bench's programs accept keeps its length.
        assert_eq!(build(&FrameSpec::defaults([0; 6], 42)).len(), 42);
        assert_eq!(build(&FrameSpec::defaults([0; 6], 1514)).len(), 1514);
    }

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 section 3 example: the sum is ddf2, the checksum its complement.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(inet_checksum(&d), !0xddf2);
        // A header that contains its own checksum sums to zero.
        let f = build(&spec(60));
        assert_eq!(inet_checksum(&f[14..34]), 0);
    }

    #[test]
    fn frame_layout_60() {
        let f = build(&spec(60));
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(f[14], 0x45);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46);
        assert_eq!(f[22], 64);
        assert_eq!(f[23], 17);
        assert_eq!(&f[26..30], &[10, 0, 0, 1]);
        assert_eq!(&f[30..34], &[10, 1, 0, 1]);
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 1234);
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 1234);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 26);
        assert_eq!(&f[40..42], &[0, 0]);
        assert_eq!(&f[42..50], &[0; 8]);
        for (i, b) in f.iter().enumerate().skip(50) {
            assert_eq!(*b, i as u8);
        }
        // A known IPv4 checksum for these fields (computed independently).
        assert_eq!(u16::from_be_bytes([f[24], f[25]]), 0x26bd);
    }

    #[test]
    fn seq_is_little_endian_with_thread_in_high_bits() {
        let mut f = build(&spec(64));
        let s = seq(3, 0x0102_0304_0506);
        assert_eq!(s, 0x0003_0102_0304_0506);
        write_seq(&mut f, s);
        assert_eq!(
            &f[42..50],
            &[0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x03, 0x00]
        );
    }

    #[test]
    fn short_frames_are_truncated() {
        let f = build(&spec(16));
        assert_eq!(f.len(), 16);
        let mut f = build(&spec(45));
        write_seq(&mut f, 0x0a0b0c);
        assert_eq!(&f[42..45], &[0x0c, 0x0b, 0x0a]);
        let mut v = Verifier::new();
        assert_eq!(v.check(&f), Ok(None));
    }

    #[test]
    fn verifier_accepts_ours_and_orders() {
        let mut v = Verifier::new();
        for len in [50, 60, 61, 1514] {
            let mut f = build(&spec(len));
            for n in [0u64, 1, 5] {
                write_seq(&mut f, seq(len as u32 % 7, n));
                assert_eq!(
                    v.check(&f),
                    Ok(Some(seq(len as u32 % 7, n))),
                    "len {len} n {n}"
                );
            }
        }
        let mut f = build(&spec(60));
        write_seq(&mut f, seq(1, 10));
        assert!(v.check(&f).is_ok());
        // Same or lower counter of the same thread: out of order.
        assert_eq!(v.check(&f), Err(Bad::Order));
        write_seq(&mut f, seq(1, 9));
        assert_eq!(v.check(&f), Err(Bad::Order));
        // Another thread has its own order.
        write_seq(&mut f, seq(6, 0));
        assert!(v.check(&f).is_ok());
        assert_eq!(v.bad, 2);
        assert_eq!(v.first_bad, Some(Bad::Order));
    }

    #[test]
    fn verifier_rejects_damage() {
        let mut v = Verifier::new();
        let good = build(&spec(100));
        let mut f = good.clone();
        f[77] ^= 1;
        assert_eq!(v.check(&f), Err(Bad::Pattern(77)));
        let mut f = good.clone();
        f[23] = 6;
        assert_eq!(v.check(&f), Err(Bad::NotUdp));
        let mut f = good.clone();
        f[26] ^= 0x10;
        assert_eq!(v.check(&f), Err(Bad::IpChecksum));
        assert_eq!(v.check(&good[..99]), Err(Bad::Length));
        assert_eq!(v.check(&good[..20]), Err(Bad::Short));
        let mut f = good.clone();
        f[12] = 0x86;
        assert_eq!(v.check(&f), Err(Bad::NotIpv4));
        assert_eq!(v.foreign, 2);
        // Ethernet padding after the IPv4 datagram is ignored.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 4]);
        assert!(v.check(&padded).is_ok());
        assert_eq!(v.bad, 4);
    }
}
