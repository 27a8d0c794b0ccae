//! The flow hash: IPv4 and IPv6 5-tuples (addresses, protocol, TCP/UDP/SCTP ports), symmetric
//! like upstream's (both directions of a flow hash alike, so one worker sees a whole
//! conversation). Frames that are not IP hash to None; lb sends them to the first pipe of each
//! group, as upstream does with its hash 0.

const ETH_HLEN: usize = 14;

/// The flow hash of an Ethernet frame; None when it carries no IP packet.
pub fn flow_hash(frame: &[u8]) -> Option<u32> {
    let mut off = 12;
    let mut ethertype = be16(frame, off)?;
    // At most two VLAN tags (802.1Q, 802.1ad).
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        off += 4;
        ethertype = be16(frame, off)?;
    }
    let l3 = off + 2;
    debug_assert!(l3 >= ETH_HLEN);
    match ethertype {
        0x0800 => ipv4(frame, l3),
        0x86dd => ipv6(frame, l3),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

fn ipv4(b: &[u8], l3: usize) -> Option<u32> {
    let h = b.get(l3..l3 + 20)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let ihl = (h[0] & 0x0f) as usize * 4;
    let proto = h[9];
    let (src, dst) = (&h[12..16], &h[16..20]);
    // Fragments carry no ports past the first: hash every fragment on addresses alone.
    let fragmented = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    let ports = if has_ports(proto) && !fragmented && ihl >= 20 {
        ports(b, l3 + ihl)
    } else {
        None
    };
    Some(symmetric(src, dst, proto, ports))
}

fn ipv6(b: &[u8], l3: usize) -> Option<u32> {
    let h = b.get(l3..l3 + 40)?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let proto = h[6];
    let ports = if has_ports(proto) {
        ports(b, l3 + 40)
    } else {
        None
    };
    Some(symmetric(&h[8..24], &h[24..40], proto, ports))
}

fn ports(b: &[u8], l4: usize) -> Option<(u16, u16)> {
    Some((be16(b, l4)?, be16(b, l4 + 2)?))
}

/// Hashes the endpoints in a fixed order (the smaller address/port pair first), so that
/// swapping source and destination gives the same value.
fn symmetric(a: &[u8], b: &[u8], proto: u8, ports: Option<(u16, u16)>) -> u32 {
    let (pa, pb) = ports.unwrap_or((0, 0));
    let (first, second) = if (a, pa) <= (b, pb) {
        ((a, pa), (b, pb))
    } else {
        ((b, pb), (a, pa))
    };
    let mut h = Fnv::new();
    h.bytes(first.0);
    h.bytes(&first.1.to_be_bytes());
    h.bytes(second.0);
    h.bytes(&second.1.to_be_bytes());
    h.bytes(&[proto]);
    h.finish()
}

/// FNV-1a, 32 bits, with a final avalanche so that `hash % npipes` spreads for small counts.
struct Fnv(u32);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0x811c_9dc5)
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ x as u32).wrapping_mul(0x0100_0193);
        }
    }

    fn finish(self) -> u32 {
        let mut x = self.0;
        x ^= x >> 16;
        x = x.wrapping_mul(0x7feb_352d);
        x ^= x >> 15;
        x = x.wrapping_mul(0x846c_a68b);
        x ^ (x >> 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f
    }

    fn tcp6(src: u8, dst: u8, sp: u16, dp: u16, vlan: bool) -> Vec<u8> {
        let mut f = vec![0u8; 80];
        let mut o = 12;
        if vlan {
            f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            o += 4;
        }
        f[o..o + 2].copy_from_slice(&0x86ddu16.to_be_bytes());
        let l3 = o + 2;
        f[l3] = 0x60;
        f[l3 + 6] = 6;
        f[l3 + 23] = src;
        f[l3 + 39] = dst;
        f[l3 + 40..l3 + 42].copy_from_slice(&sp.to_be_bytes());
        f[l3 + 42..l3 + 44].copy_from_slice(&dp.to_be_bytes());
        f
    }

    #[test]
    fn one_flow_one_hash_both_ways() {
        let a = udp4([10, 0, 0, 1], [10, 1, 0, 1], 1234, 80);
        let b = udp4([10, 1, 0, 1], [10, 0, 0, 1], 80, 1234);
        assert_eq!(flow_hash(&a), flow_hash(&b), "symmetric");
        assert_eq!(flow_hash(&a), flow_hash(&a.clone()), "stable");
        let c = udp4([10, 0, 0, 1], [10, 1, 0, 1], 1235, 80);
        assert_ne!(flow_hash(&a), flow_hash(&c), "the ports count");
        let x = tcp6(1, 2, 5000, 22, false);
        let y = tcp6(2, 1, 22, 5000, true);
        assert_eq!(
            flow_hash(&x),
            flow_hash(&y),
            "IPv6, with or without a VLAN tag"
        );
        assert!(flow_hash(&x).is_some());
        let mut arp = a.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(flow_hash(&arp), None);
        assert_eq!(flow_hash(&a[..20]), None, "truncated");
    }

    #[test]
    fn flows_spread_over_pipes() {
        let mut per = [0u32; 4];
        for sp in 0..4000u16 {
            let h = flow_hash(&udp4([10, 0, 0, 1], [10, 1, 0, 1], 1024 + sp, 9)).unwrap();
            per[(h % 4) as usize] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }
}
