//! `-s` / `-d`: an address and port, or a range of them, as upstream writes them:
//! `IP[:PORT][-IP[:PORT]]` for IPv4 and `[GROUP@][IPV6][:PORT]` (brackets optional without a port)
//! for IPv6, where GROUP (0..7, default 7) is the 16-bit group of the address a range walks.
//! The default port is 1234; a range's ends are sorted.
//!
//! Frames walk a range as upstream's `update_addresses` does, like an odometer: the source port
//! moves fastest, then the source address, then the destination port, then the destination
//! address; `-z` / `-Z` draw the source / destination at random instead.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Default UDP port of both ends.
pub const DEFAULT_PORT: u16 = 1234;

/// One end's addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRange {
    V4 {
        start: u32,
        end: u32,
        port0: u16,
        port1: u16,
    },
    V6 {
        start: Ipv6Addr,
        end: Ipv6Addr,
        /// The 16-bit group the range walks.
        group: usize,
        port0: u16,
        port1: u16,
    },
}

fn port(s: &str, whole: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .map_err(|_| format!("'{whole}': bad UDP port '{s}' (0..65535)"))
}

fn v4_end(s: &str, whole: &str) -> Result<(u32, Option<u16>), String> {
    let (ip, p) = match s.split_once(':') {
        Some((ip, p)) => (ip, Some(port(p, whole)?)),
        None => (s, None),
    };
    let a: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("'{whole}': bad IPv4 address '{ip}'"))?;
    Ok((u32::from(a), p))
}

/// `[GROUP@][ADDR]:PORT`, `[GROUP@][ADDR]` or `[GROUP@]ADDR`.
fn v6_end(s: &str, whole: &str) -> Result<(Ipv6Addr, Option<usize>, Option<u16>), String> {
    let (group, rest) = match s.split_once('@') {
        Some((g, r)) => {
            let g: usize = g
                .parse()
                .map_err(|_| format!("'{whole}': bad group '{g}' (0..7)"))?;
            (Some(g.min(7)), r)
        }
        None => (None, s),
    };
    let (addr, p) = match rest.strip_prefix('[') {
        Some(r) => {
            let (a, after) = r
                .split_once(']')
                .ok_or_else(|| format!("'{whole}': missing ']'"))?;
            let p = match after.strip_prefix(':') {
                Some(p) => Some(port(p, whole)?),
                None if after.is_empty() => None,
                None => return Err(format!("'{whole}': unexpected '{after}' after ']'")),
            };
            (a, p)
        }
        None => (rest, None),
    };
    let a: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("'{whole}': bad IPv6 address '{addr}'"))?;
    Ok((a, group, p))
}

impl IpRange {
    /// Parses `s` for IPv4 (`v6` false) or IPv6.
    pub fn parse(s: &str, v6: bool) -> Result<IpRange, String> {
        // The first '-' splits the range (IPv6 addresses have none).
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let sorted = |x: u16, y: u16| (x.min(y), x.max(y));
        if !v6 {
            let (start, p0) = v4_end(a, s)?;
            let p0 = p0.unwrap_or(DEFAULT_PORT);
            let (end, p1) = match b {
                Some(b) => {
                    let (e, p) = v4_end(b, s)?;
                    (e, p.unwrap_or(p0))
                }
                None => (start, p0),
            };
            let (port0, port1) = sorted(p0, p1);
            return Ok(IpRange::V4 {
                start: start.min(end),
                end: start.max(end),
                port0,
                port1,
            });
        }
        let (start, g0, p0) = v6_end(a, s)?;
        let group = g0.unwrap_or(7);
        let p0 = p0.unwrap_or(DEFAULT_PORT);
        let (end, p1) = match b {
            Some(b) => {
                let (e, _, p) = v6_end(b, s)?;
                (e, p.unwrap_or(p0))
            }
            None => (start, p0),
        };
        let (port0, port1) = sorted(p0, p1);
        Ok(IpRange::V6 {
            start,
            end,
            group,
            port0,
            port1,
        })
    }

    /// More than one address or port: frames must be rewritten one by one.
    pub fn is_range(&self) -> bool {
        match *self {
            IpRange::V4 {
                start,
                end,
                port0,
                port1,
            } => start != end || port0 != port1,
            IpRange::V6 {
                start,
                end,
                port0,
                port1,
                ..
            } => start != end || port0 != port1,
        }
    }

    pub fn first_port(&self) -> u16 {
        match *self {
            IpRange::V4 { port0, .. } | IpRange::V6 { port0, .. } => port0,
        }
    }

    fn ports(&self) -> (u16, u16) {
        match *self {
            IpRange::V4 { port0, port1, .. } | IpRange::V6 { port0, port1, .. } => (port0, port1),
        }
    }

    /// The walked part of the address: (first, last) as numbers.
    fn addrs(&self) -> (u32, u32) {
        match *self {
            IpRange::V4 { start, end, .. } => (start, end),
            IpRange::V6 {
                start, end, group, ..
            } => (
                u32::from(start.segments()[group]),
                u32::from(end.segments()[group]),
            ),
        }
    }

    /// Steps (`addr`, `port`) to the next value of the odometer; true when it wrapped (the next
    /// range moves then).
    pub fn step(&self, addr: &mut u32, port: &mut u16) -> bool {
        let (p0, p1) = self.ports();
        if *port < p1 {
            *port += 1;
            return false;
        }
        *port = p0;
        let (a0, a1) = self.addrs();
        if *addr < a1 {
            *addr += 1;
            return false;
        }
        *addr = a0;
        true
    }
}

/// drand48's generator (48-bit linear congruential), as upstream's `nrand48`: 31 random bits per
/// call.
#[derive(Debug, Clone, Copy)]
pub struct Rand48(u64);

impl Rand48 {
    pub fn new(seed: u64) -> Rand48 {
        Rand48(seed & ((1 << 48) - 1))
    }

    /// Seeded from the clock and `salt` (one stream per thread).
    pub fn from_clock(salt: u64) -> Rand48 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rand48::new(t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    #[inline]
    pub fn next(&mut self) -> u32 {
        self.0 = (self.0.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.0 >> 17) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpRange {
        IpRange::parse(s, false).unwrap()
    }

    #[test]
    fn ipv4_single_and_ranges() {
        let a = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            v4("10.0.0.1"),
            IpRange::V4 {
                start: a("10.0.0.1"),
                end: a("10.0.0.1"),
                port0: 1234,
                port1: 1234
            }
        );
        assert!(!v4("10.0.0.1:99").is_range());
        assert_eq!(v4("10.0.0.1:99").first_port(), 99);
        let r = v4("10.0.0.9:20-10.0.0.1:10");
        assert_eq!(
            r,
            IpRange::V4 {
                start: a("10.0.0.1"),
                end: a("10.0.0.9"),
                port0: 10,
                port1: 20
            }
        );
        assert!(r.is_range());
        // The end without a port keeps the start's.
        assert_eq!(
            v4("10.0.0.1:5-10.0.0.3"),
            IpRange::V4 {
                start: a("10.0.0.1"),
                end: a("10.0.0.3"),
                port0: 5,
                port1: 5
            }
        );
        for bad in [
            "10.0.0",
            "10.0.0.1:x",
            "10.0.0.1-",
            "x-10.0.0.1",
            "10.0.0.1:70000",
        ] {
            assert!(IpRange::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_forms() {
        let r = IpRange::parse("2001:db8::1", true).unwrap();
        assert!(!r.is_range());
        let r = IpRange::parse("[2001:db8::1]:80", true).unwrap();
        assert_eq!(r.first_port(), 80);
        let r = IpRange::parse("3@[2001:db8::1]:80-[2001:db8:0:5::1]:90", true).unwrap();
        match r {
            IpRange::V6 {
                group,
                port0,
                port1,
                ..
            } => assert_eq!((group, port0, port1), (3, 80, 90)),
            _ => panic!(),
        }
        assert_eq!(r.addrs(), (0, 5));
        assert!(IpRange::parse("[2001:db8::1", true).is_err());
        assert!(IpRange::parse("10.0.0.1", true).is_err());
    }

    #[test]
    fn odometer() {
        let r = v4("0.0.0.1:10-0.0.0.2:11");
        let (mut a, mut p) = (1, 10);
        let mut seen = vec![];
        let mut wraps = 0;
        for _ in 0..5 {
            seen.push((a, p));
            wraps += r.step(&mut a, &mut p) as u32;
        }
        assert_eq!(seen, [(1, 10), (1, 11), (2, 10), (2, 11), (1, 10)]);
        assert_eq!(wraps, 1);
        // A single value wraps at every step.
        let s = v4("0.0.0.1");
        let (mut a, mut p) = (1, 1234);
        assert!(s.step(&mut a, &mut p));
        assert_eq!((a, p), (1, 1234));
    }

    #[test]
    fn rand48_matches_the_c_library() {
        // nrand48 with xsubi = {0x330e, 0x1234, 0xabcd} (seed 0xabcd1234330e), first outputs
        // computed from the recurrence x' = (0x5DEECE66D x + 0xB) mod 2^48, out = x' >> 17.
        let mut r = Rand48::new(0xabcd_1234_330e);
        let x1 = 0xabcd_1234_330eu64
            .wrapping_mul(0x5_DEEC_E66D)
            .wrapping_add(0xB)
            & ((1 << 48) - 1);
        assert_eq!(r.next(), (x1 >> 17) as u32);
        assert!(r.next() < 1 << 31);
    }
}
