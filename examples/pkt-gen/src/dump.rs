//! `-X`: upstream's `dump_payload` hex dump of a frame, to stdout.
//!
//! ```text
//! ring 0x7f0a2c001000 cur     3 [buf   1029 flags 0x0000 len    60]
//!     0: ff ff ff ff ff ff 02 00 00 00 00 01 08 00 45 00 ..............E.
//!    48: 00 00 00 00 00 00 00 00 00 00 00 00
//! ```
//!
//! Sixteen bytes a line: the offset, the bytes in hex, then the printable ones (others as '.').
//! As upstream's, a last line shorter than 16 bytes shows the hex part only.

use std::fmt::Write;

/// The header line of one slot.
pub fn header(ring_addr: usize, cur: u32, buf_idx: u32, flags: u16, len: usize) -> String {
    format!("ring {ring_addr:#x} cur {cur:5} [buf {buf_idx:6} flags 0x{flags:04x} len {len:5}]")
}

/// The hex lines of `p`, each ending in '\n'.
pub fn hex_lines(p: &[u8]) -> String {
    let mut out = String::with_capacity(p.len() / 16 * 72 + 72);
    for (k, chunk) in p.chunks(16).enumerate() {
        let _ = write!(out, "{:5}: ", k * 16);
        for b in chunk {
            let _ = write!(out, "{b:02x} ");
        }
        if chunk.len() == 16 {
            out.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            }));
        }
        out.push('\n');
    }
    out
}

/// Prints one slot's dump on stdout (one write, so threads do not interleave lines).
pub fn print(ring_addr: usize, cur: u32, buf_idx: u32, flags: u16, p: &[u8]) {
    use std::io::Write as _;
    let mut s = header(ring_addr, cur, buf_idx, flags, p.len());
    s.push('\n');
    s.push_str(&hex_lines(p));
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_layout() {
        assert_eq!(
            header(0x1000, 3, 1029, 0, 60),
            "ring 0x1000 cur     3 [buf   1029 flags 0x0000 len    60]"
        );
        let p: Vec<u8> = (0x40..0x40 + 20).collect();
        assert_eq!(
            hex_lines(&p),
            "    0: 40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f @ABCDEFGHIJKLMNO\n   \
             16: 50 51 52 53 \n"
        );
        assert_eq!(
            hex_lines(&[0u8, 0x0a, b' ', b'~', 0x7f, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            "    0: 00 0a 20 7e 7f ff 01 02 03 04 05 06 07 08 09 0a .. ~............\n"
        );
        assert_eq!(hex_lines(&[]), "");
    }
}
