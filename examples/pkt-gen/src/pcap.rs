//! `-P FILE`: the first packet of a pcap capture file (the classic format, either byte order,
//! microsecond or nanosecond timestamps), which pkt-gen then sends as it is.

use std::path::Path;

use anyhow::{bail, Context, Result};

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const GLOBAL_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// The captured bytes of the first packet of the pcap file at `path`.
pub fn first_packet(path: &Path) -> Result<Vec<u8>> {
    let data = std::fs::read(path)
        .with_context(|| format!("failed to open pcap file {}", path.display()))?;
    parse_first(&data).with_context(|| format!("failed to read packet from {}", path.display()))
}

/// The first packet of a pcap file's bytes.
pub fn parse_first(data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < GLOBAL_HEADER {
        bail!(
            "not a pcap file: {} bytes, shorter than its header",
            data.len()
        );
    }
    let word = |b: &[u8], big: bool| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let big = match (word(data, false), word(data, true)) {
        (MAGIC_US | MAGIC_NS, _) => false,
        (_, MAGIC_US | MAGIC_NS) => true,
        _ => bail!(
            "not a pcap file (magic {:02x?}; pcapng is not read)",
            &data[..4]
        ),
    };
    let link = word(&data[20..], big) & 0x0fff_ffff;
    if link != 1 {
        bail!("link type {link}, not Ethernet (1)");
    }
    let rec = &data[GLOBAL_HEADER..];
    if rec.len() < RECORD_HEADER {
        bail!("no packet in the file");
    }
    let caplen = word(&rec[8..], big) as usize;
    let body = &rec[RECORD_HEADER..];
    if caplen > body.len() {
        bail!(
            "first packet truncated: {caplen} bytes announced, {} present",
            body.len()
        );
    }
    if !(16..=65536).contains(&caplen) {
        bail!("first packet is {caplen} bytes: pkt-gen sends 16..65536");
    }
    Ok(body[..caplen].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(big: bool, magic: u32, pkts: &[&[u8]]) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let h = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = vec![];
        f.extend(w(magic));
        f.extend(h(2));
        f.extend(h(4));
        f.extend(w(0));
        f.extend(w(0));
        f.extend(w(65535));
        f.extend(w(1));
        for p in pkts {
            f.extend(w(1));
            f.extend(w(2));
            f.extend(w(p.len() as u32));
            f.extend(w(p.len() as u32));
            f.extend_from_slice(p);
        }
        f
    }

    #[test]
    fn first_packet_either_order() {
        let a: Vec<u8> = (0..60).collect();
        let b = [9u8; 70];
        for big in [false, true] {
            for magic in [MAGIC_US, MAGIC_NS] {
                assert_eq!(parse_first(&file(big, magic, &[&a, &b])).unwrap(), a);
            }
        }
    }

    #[test]
    fn refuses_garbage() {
        let a = [1u8; 60];
        assert!(parse_first(&[0; 10]).is_err());
        assert!(parse_first(&file(false, 0x0a0d_0d0a, &[&a])).is_err());
        assert!(parse_first(&file(false, MAGIC_US, &[])).is_err());
        let mut t = file(false, MAGIC_US, &[&a]);
        t.truncate(t.len() - 1);
        assert!(parse_first(&t).is_err());
        assert!(parse_first(&file(false, MAGIC_US, &[&[1u8; 8]])).is_err());
    }
}
