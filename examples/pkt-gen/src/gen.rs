//! Frames that change from one packet to the next: address and port ranges (`-s`/`-d`),
//! random ends (`-z`/`-Z`), random sizes (`-l` twice), IPv6 (`-6`), txseq's numbers, a pcap
//! file's packet (`-P`). The constant IPv4 frame of plain `-f tx` never comes here: the sender
//! in `tx.rs` writes it once per buffer.
//!
//! [`FrameMaker`] keeps the current frame, as upstream keeps its `struct pkt`: each
//! [`FrameMaker::emit`] stamps the number, copies the frame into a slot's buffer and moves the
//! addresses on.

use std::net::{Ipv4Addr, Ipv6Addr};

use pkt_gen::frame::{self, inet_checksum, FrameSpec};

use crate::addr::{IpRange, Rand48};

const ETH: usize = 14;
const IP4: usize = 20;
const IP6: usize = 40;
const UDP: usize = 8;

/// The network layer of the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    V4,
    V6,
    /// A pcap file's packet: sent as it is.
    Raw,
}

/// What number each frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    None,
    /// pkt-gen tx's `thread << 48 | n`, little-endian at byte 42 (see [`pkt_gen::frame`]).
    Thread(u32),
    /// txseq's 32-bit big-endian counter, first bytes of the UDP payload.
    Txseq,
}

/// How the frames are made.
#[derive(Debug, Clone)]
pub struct MakerSpec {
    pub l3: L3,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpRange,
    pub dst: IpRange,
    pub random_src: bool,
    pub random_dst: bool,
    /// `-l` (largest size) and the second `-l` (smallest random size).
    pub len: usize,
    pub min_len: Option<usize>,
    pub numbering: Numbering,
    /// The pcap packet for [`L3::Raw`].
    pub raw: Option<Vec<u8>>,
}

/// The frame generator of one sending thread.
pub struct FrameMaker {
    l3: L3,
    cur: Vec<u8>,
    len: usize,
    min_len: Option<usize>,
    max_len: usize,
    src: IpRange,
    dst: IpRange,
    random_src: bool,
    random_dst: bool,
    walk: bool,
    state: [(u32, u16); 2],
    numbering: Numbering,
    n: u64,
    rng: Rand48,
}

fn v6_frame(spec: &MakerSpec, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let len = spec.len.max(ETH + IP6 + UDP);
    let mut f: Vec<u8> = (0..len).map(frame::pattern_byte).collect();
    f[0..6].copy_from_slice(&spec.dst_mac);
    f[6..12].copy_from_slice(&spec.src_mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[ETH..ETH + IP6];
    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[6] = 17;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let u = ETH + IP6;
    f[u..u + 2].copy_from_slice(&spec.src.first_port().to_be_bytes());
    f[u + 2..u + 4].copy_from_slice(&spec.dst.first_port().to_be_bytes());
    f
}

impl FrameMaker {
    pub fn new(spec: &MakerSpec, salt: u64) -> FrameMaker {
        let start = |r: &IpRange| match *r {
            IpRange::V4 { start, port0, .. } => (start, port0),
            IpRange::V6 {
                start,
                group,
                port0,
                ..
            } => (u32::from(start.segments()[group]), port0),
        };
        let cur = match spec.l3 {
            L3::Raw => spec.raw.clone().unwrap_or_default(),
            L3::V4 => {
                let (s, d) = (start(&spec.src).0, start(&spec.dst).0);
                frame::build(&FrameSpec {
                    src_mac: spec.src_mac,
                    dst_mac: spec.dst_mac,
                    src_ip: s.into(),
                    dst_ip: d.into(),
                    src_port: spec.src.first_port(),
                    dst_port: spec.dst.first_port(),
                    len: spec.len,
                })
            }
            L3::V6 => {
                let a = |r: &IpRange| match *r {
                    IpRange::V6 { start, .. } => start,
                    IpRange::V4 { start, .. } => Ipv4Addr::from(start).to_ipv6_mapped(),
                };
                v6_frame(spec, a(&spec.src), a(&spec.dst))
            }
        };
        let len = cur.len();
        let raw = spec.l3 == L3::Raw;
        let mut m = FrameMaker {
            l3: spec.l3,
            max_len: len,
            len,
            min_len: if raw { None } else { spec.min_len },
            src: spec.src,
            dst: spec.dst,
            random_src: spec.random_src && !raw,
            random_dst: spec.random_dst && !raw,
            walk: !raw
                && (spec.src.is_range()
                    || spec.dst.is_range()
                    || spec.random_src
                    || spec.random_dst),
            state: [start(&spec.src), start(&spec.dst)],
            numbering: if raw { Numbering::None } else { spec.numbering },
            n: 0,
            rng: Rand48::from_clock(salt),
            cur,
        };
        m.set_len(len);
        m
    }

    /// The size of the frames [`FrameMaker::emit`] writes now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The largest size [`FrameMaker::emit`] may write.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// With `-l` given twice, draws the size of the next batch in `[min, max)` (upstream picks
    /// one per batch); returns it.
    pub fn next_batch_len(&mut self) -> usize {
        if let Some(min) = self.min_len {
            if min < self.max_len {
                let l = min + self.rng.next() as usize % (self.max_len - min);
                self.set_len(l);
            }
        }
        self.len
    }

    fn body(&self) -> usize {
        match self.l3 {
            L3::V4 => ETH + IP4 + UDP,
            L3::V6 => ETH + IP6 + UDP,
            L3::Raw => 0,
        }
    }

    /// Sets the frame size and the headers' length fields (and checksums) to match.
    fn set_len(&mut self, len: usize) {
        self.len = len;
        let f = &mut self.cur;
        match self.l3 {
            L3::V4 => {
                f[16..18].copy_from_slice(&((len - ETH) as u16).to_be_bytes());
                if len >= ETH + IP4 + UDP {
                    f[38..40].copy_from_slice(&((len - ETH - IP4) as u16).to_be_bytes());
                }
                self.ip4_checksum();
            }
            L3::V6 => {
                let plen = len.saturating_sub(ETH + IP6) as u16;
                f[18..20].copy_from_slice(&plen.to_be_bytes());
                f[ETH + IP6 + 4..ETH + IP6 + 6].copy_from_slice(&plen.to_be_bytes());
            }
            L3::Raw => {}
        }
    }

    fn ip4_checksum(&mut self) {
        let ip = &mut self.cur[ETH..ETH + IP4];
        ip[10..12].copy_from_slice(&[0, 0]);
        let ck = inet_checksum(ip);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
    }

    /// IPv6's mandatory UDP checksum over the pseudo header and the datagram of the current size.
    fn udp6_checksum(&mut self) {
        let u = ETH + IP6;
        let end = self.len.max(u + UDP);
        let f = &mut self.cur;
        f[u + 6..u + 8].copy_from_slice(&[0, 0]);
        let mut pseudo = [0u8; 40];
        pseudo[..32].copy_from_slice(&f[22..54]);
        pseudo[32..36].copy_from_slice(&((end - u) as u32).to_be_bytes());
        pseudo[39] = 17;
        let mut sum: u32 = !inet_checksum(&pseudo) as u32;
        sum += !inet_checksum(&f[u..end]) as u32;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let ck = match !(sum as u16) {
            0 => 0xffff,
            c => c,
        };
        f[u + 6..u + 8].copy_from_slice(&ck.to_be_bytes());
    }

    /// Writes the next frame into `buf` (at least [`FrameMaker::len`] bytes) and returns its
    /// length.
    #[inline]
    pub fn emit(&mut self, buf: &mut [u8]) -> usize {
        let len = self.len;
        match self.numbering {
            Numbering::None => {}
            Numbering::Thread(t) => frame::write_seq(&mut self.cur[..len], frame::seq(t, self.n)),
            Numbering::Txseq => {
                let o = self.body();
                if len >= o + 4 {
                    self.cur[o..o + 4].copy_from_slice(&(self.n as u32).to_be_bytes());
                }
            }
        }
        self.n += 1;
        if self.l3 == L3::V6 && (self.numbering != Numbering::None || self.walk) {
            self.udp6_checksum();
        }
        buf[..len].copy_from_slice(&self.cur[..len]);
        if self.walk {
            self.advance();
        }
        len
    }

    /// The next source and destination (upstream's `update_addresses`).
    fn advance(&mut self) {
        let next_dst = if self.random_src {
            self.state[0] = (self.rng.next(), self.rng.next() as u16);
            true
        } else {
            let (mut a, mut p) = self.state[0];
            let w = self.src.step(&mut a, &mut p);
            self.state[0] = (a, p);
            w
        };
        if next_dst {
            if self.random_dst {
                self.state[1] = (self.rng.next(), self.rng.next() as u16);
            } else {
                let (mut a, mut p) = self.state[1];
                self.dst.step(&mut a, &mut p);
                self.state[1] = (a, p);
            }
        }
        self.write_ends();
    }

    fn write_ends(&mut self) {
        let f = &mut self.cur;
        let [(sa, sp), (da, dp)] = self.state;
        match self.l3 {
            L3::V4 => {
                f[26..30].copy_from_slice(&sa.to_be_bytes());
                f[30..34].copy_from_slice(&da.to_be_bytes());
                f[34..36].copy_from_slice(&sp.to_be_bytes());
                f[36..38].copy_from_slice(&dp.to_be_bytes());
                self.ip4_checksum();
            }
            L3::V6 => {
                let group = |r: &IpRange| match *r {
                    IpRange::V6 { group, .. } => group,
                    IpRange::V4 { .. } => 7,
                };
                let (gs, gd) = (group(&self.src), group(&self.dst));
                f[22 + 2 * gs..24 + 2 * gs].copy_from_slice(&(sa as u16).to_be_bytes());
                f[38 + 2 * gd..40 + 2 * gd].copy_from_slice(&(da as u16).to_be_bytes());
                f[54..56].copy_from_slice(&sp.to_be_bytes());
                f[56..58].copy_from_slice(&dp.to_be_bytes());
            }
            L3::Raw => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkt_gen::frame::Verifier;

    fn spec(src: &str, dst: &str, v6: bool) -> MakerSpec {
        MakerSpec {
            l3: if v6 { L3::V6 } else { L3::V4 },
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [0xff; 6],
            src: IpRange::parse(src, v6).unwrap(),
            dst: IpRange::parse(dst, v6).unwrap(),
            random_src: false,
            random_dst: false,
            len: 60,
            min_len: None,
            numbering: Numbering::Thread(0),
            raw: None,
        }
    }

    #[test]
    fn ranges_walk_like_an_odometer_and_frames_verify() {
        let mut m = FrameMaker::new(
            &spec("10.0.0.1:1-10.0.0.2:2", "10.1.0.1-10.1.0.2", false),
            1,
        );
        let mut v = Verifier::new();
        let mut seen = vec![];
        let mut buf = [0u8; 2048];
        for _ in 0..9 {
            let n = m.emit(&mut buf);
            assert_eq!(n, 60);
            assert!(v.check(&buf[..n]).is_ok(), "{:?}", v.first_bad);
            seen.push((buf[29], u16::from_be_bytes([buf[34], buf[35]]), buf[33]));
        }
        assert_eq!(
            seen,
            [
                (1, 1, 1),
                (1, 2, 1),
                (2, 1, 1),
                (2, 2, 1),
                (1, 1, 2),
                (1, 2, 2),
                (2, 1, 2),
                (2, 2, 2),
                (1, 1, 1)
            ]
        );
    }

    #[test]
    fn random_sizes_stay_within_bounds() {
        let mut s = spec("10.0.0.1", "10.1.0.1", false);
        s.len = 200;
        s.min_len = Some(64);
        let mut m = FrameMaker::new(&s, 7);
        let mut v = Verifier::new();
        let mut buf = [0u8; 2048];
        let mut lens = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let l = m.next_batch_len();
            assert!((64..200).contains(&l), "{l}");
            let n = m.emit(&mut buf);
            assert_eq!(n, l);
            assert!(v.check(&buf[..n]).is_ok(), "{:?}", v.first_bad);
            lens.insert(l);
        }
        assert!(lens.len() > 50, "sizes hardly vary: {lens:?}");
    }

    #[test]
    fn txseq_numbers_big_endian() {
        let mut s = spec("10.0.0.1", "10.1.0.1", false);
        s.numbering = Numbering::Txseq;
        let mut m = FrameMaker::new(&s, 0);
        let mut buf = [0u8; 128];
        for want in 0u32..3 {
            m.emit(&mut buf);
            assert_eq!(&buf[42..46], &want.to_be_bytes());
        }
    }

    /// Sum of the pseudo header and the UDP datagram: 0xffff when the checksum is right.
    fn udp6_ok(f: &[u8]) -> bool {
        let mut p = f[22..54].to_vec();
        p.extend_from_slice(&((f.len() - 54) as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 17]);
        p.extend_from_slice(&f[54..]);
        inet_checksum(&p) == 0
    }

    #[test]
    fn ipv6_frames() {
        let mut s = spec("2001:db8::1", "[2001:db8::2]:80-[2001:db8::3]:80", true);
        s.len = 100;
        s.numbering = Numbering::Txseq;
        let mut m = FrameMaker::new(&s, 0);
        let mut buf = [0u8; 256];
        for k in 0u32..3 {
            let n = m.emit(&mut buf);
            let f = &buf[..n];
            assert_eq!(n, 100);
            assert_eq!(&f[12..14], &[0x86, 0xdd]);
            assert_eq!(f[14] >> 4, 6);
            assert_eq!(u16::from_be_bytes([f[18], f[19]]), 46);
            assert_eq!(f[20], 17);
            assert_eq!(u16::from_be_bytes([f[56], f[57]]), 80);
            assert_eq!(f[53], 2 + (k % 2) as u8, "destination walks group 7");
            assert_eq!(&f[62..66], &k.to_be_bytes());
            assert!(udp6_ok(f), "UDP checksum of frame {k}");
        }
    }

    #[test]
    fn raw_frames_are_sent_as_they_are() {
        let mut s = spec("10.0.0.1", "10.1.0.1", false);
        s.l3 = L3::Raw;
        s.raw = Some((0..77).collect());
        s.random_src = true;
        let mut m = FrameMaker::new(&s, 0);
        let mut buf = [0u8; 128];
        for _ in 0..2 {
            assert_eq!(m.emit(&mut buf), 77);
            assert!(buf[..77].iter().enumerate().all(|(i, b)| *b == i as u8));
        }
    }

    #[test]
    fn random_ends_change_and_keep_the_checksum() {
        let mut s = spec("10.0.0.1", "10.1.0.1", false);
        s.random_src = true;
        s.random_dst = true;
        let mut m = FrameMaker::new(&s, 3);
        let mut buf = [0u8; 128];
        let mut srcs = std::collections::HashSet::new();
        for _ in 0..50 {
            m.emit(&mut buf);
            assert_eq!(inet_checksum(&buf[14..34]), 0);
            srcs.insert(buf[26..30].to_vec());
        }
        assert!(srcs.len() > 40);
    }
}
