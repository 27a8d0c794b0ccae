//! The legacy `nm_open()`/`nm_parse()` grammar of `netmap_user.h`: `netmap:IFACE` or
//! `valeSWITCH:PORT`, then one ring or pipe suffix (`-N`, `^`, `*`, `{N`, `}N`), `/FLAGS` and
//! `@N`. No `^N`, no options.

use super::error::ParseError;
use super::pieces::{State, RING_FIX, VALE_FIX};
use super::text::Text;
use super::LegacySpec;
use crate::abi::{
    IFNAMSIZ, NR_REG_ALL_NIC, NR_REG_NIC_SW, NR_REG_ONE_NIC, NR_REG_PIPE_MASTER, NR_REG_PIPE_SLAVE,
    NR_REG_SW,
};

/// Legacy `nm_open()`/`nm_parse()` grammar. Ok(None) = not a netmap name (no `netmap:`/`vale`
/// prefix): nm_open returns NULL with errno 0.
pub fn parse_legacy(spec: &str) -> Result<Option<LegacySpec>, ParseError> {
    let t = Text::new(spec.as_bytes());
    let b = t.b;
    let (name_start, port_start, vale) = if b.starts_with(b"netmap:") {
        (7, 7, false)
    } else if b.starts_with(b"vale") {
        t.check_nul()?;
        let i = t.vale_colon(4)?;
        (0, i + 1, true)
    } else {
        return Ok(None);
    };
    t.check_nul()?;

    // NAME ends at the first of - * ^ { } / @ (pipes are suffixes here, not names).
    let end = t.scan_until(port_start, b"-*^{}/@");
    let name = t.show(name_start, end);
    if end - name_start >= IFNAMSIZ {
        return Err(t.err(
            name_start,
            format!(
                "port name '{name}' is {} bytes long, legacy nm_open() allows at most {}",
                end - name_start,
                IFNAMSIZ - 1
            ),
            "use a shorter name, or nmport_open() which allows 63 bytes",
        ));
    }
    if vale {
        if end == port_start {
            return Err(t.err(port_start, "port name missing", VALE_FIX));
        }
        t.check_port(port_start, end, true, false)?;
    }

    let mut mode = NR_REG_ALL_NIC;
    let mut flags = 0u64;
    let mut ringid = 0u16;
    let mut mem_id = 0u16;
    let mut st = State::Start;
    let mut i = end;
    while i < b.len() {
        let c = b[i];
        match (st, c) {
            (_, b'@') => {
                if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return Err(t.err(
                        i + 1,
                        format!("allocator id expected after '@', {}", t.found(i + 1)),
                        "legacy nm_open() names only take @N (1 <= N <= 65535); \
                         use nmport_open() for @options",
                    ));
                }
                i = t.mem_id(i + 1, &mut mem_id)?;
                st = State::Suffix;
            }
            (State::Start, b'^') => {
                mode = NR_REG_SW;
                i += 1;
                st = State::Suffix;
            }
            (State::Start, b'*') => {
                mode = NR_REG_NIC_SW;
                i += 1;
                st = State::Suffix;
            }
            (State::Start, b'-' | b'{' | b'}') => {
                let (n, next) = t.ring_number(i + 1, c as char)?;
                mode = match c {
                    b'-' => NR_REG_ONE_NIC,
                    b'{' => NR_REG_PIPE_MASTER,
                    _ => NR_REG_PIPE_SLAVE,
                };
                ringid = n;
                i = next;
                st = State::Suffix;
            }
            (State::Start | State::Suffix, b'/') => {
                i += 1;
                st = State::Flags { any: false };
            }
            (State::Flags { .. }, _) => {
                flags |= t.flag(i)?;
                i += 1;
                st = State::Flags { any: true };
            }
            (State::Suffix, _) => {
                let fix = if c.is_ascii_digit() && b[i - 1] == b'^' {
                    "legacy nm_open() names have no ^N; use IFACE^ for all host rings, \
                     or nmport_open() for a single host ring"
                } else {
                    "only /FLAGS or @N (allocator) may follow; use e.g. netmap:eth0-1/x@2"
                };
                return Err(t.err(
                    i,
                    format!("unexpected {} after the ring suffix", t.found(i)),
                    fix,
                ));
            }
            (State::Start, _) => {
                // Not reachable: the name ends at one of - * ^ { } / @.
                return Err(t.err(i, format!("unexpected {}", t.found(i)), RING_FIX));
            }
        }
    }
    t.check_end(b.len(), st)?;
    Ok(Some(LegacySpec {
        name,
        flags: mode | flags as u32,
        ringid,
        mem_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::einval;
    use super::*;

    /// Measured examples of upstream's nm_parse: spec, nr_name, nr_flags, nr_ringid, nr_arg2.
    const LEGACY_EXAMPLES: &[(&str, &str, u32, u16, u16)] = &[
        ("netmap:eth0", "eth0", 0x1, 0, 0),
        ("netmap:eth0-3", "eth0", 0x4, 3, 0),
        ("netmap:eth0*", "eth0", 0x3, 0, 0),
        ("netmap:eth0^", "eth0", 0x2, 0, 0),
        ("netmap:eth0^/x", "eth0", 0x802, 0, 0),
        ("netmap:eth0/T", "eth0", 0x4001, 0, 0),
        ("netmap:eth0/rt", "eth0", 0x301, 0, 0),
        ("netmap:eth0-1/Rx", "eth0", 0x2804, 1, 0),
        ("netmap:eth0@3", "eth0", 0x1, 0, 3),
        ("netmap:eth0{1", "eth0", 0x5, 1, 0),
        ("netmap:eth0}1", "eth0", 0x6, 1, 0),
        ("valeA_1:port2{3", "valeA_1:port2", 0x5, 3, 0),
        ("vale0:p", "vale0:p", 0x1, 0, 0),
        // "Surprisingly accepted".
        ("netmap:", "", 0x1, 0, 0),
        // Further cases.
        ("netmap:eth0-2@3", "eth0", 0x4, 2, 3),
        ("netmap:eth0/x@3", "eth0", 0x801, 0, 3),
        ("netmap:eth0{1/x@2", "eth0", 0x805, 1, 2),
        ("vale:p", "vale:p", 0x1, 0, 0),
        ("netmap:eth0-4094", "eth0", 0x4, 4094, 0),
    ];

    #[test]
    fn legacy_examples() {
        for &(spec, name, flags, ringid, mem_id) in LEGACY_EXAMPLES {
            let s = parse_legacy(spec)
                .unwrap_or_else(|e| panic!("{spec}: {e}"))
                .unwrap_or_else(|| panic!("{spec}: not recognised as a netmap name"));
            assert_eq!(s.name, name, "{spec}: name");
            assert_eq!(s.flags, flags, "{spec}: flags");
            assert_eq!(s.ringid, ringid, "{spec}: ringid");
            assert_eq!(s.mem_id, mem_id, "{spec}: mem_id");
        }
    }

    #[test]
    fn legacy_errors() {
        for spec in [
            "netmap:eth0^2",
            "netmap:eth0{pipe1",
            "netmap:eth0-",
            "netmap:eth0@conf:rings=4",
            "netmap:eth0@0",
            "vale0p",
            // Further cases.
            "netmap:eth0-4095",
            "netmap:eth0-4096",
            "netmap:eth0-x",
            "netmap:eth0{",
            "netmap:eth0}x",
            "netmap:eth0@",
            "netmap:eth0@3@4",
            "netmap:eth0/",
            "netmap:eth0/q",
            "netmap:eth0*1",
            "vale0:",
            "vale0:p.q",
            "vale-0:p",
            "netmap:eth\0",
        ] {
            einval(parse_legacy(spec), spec);
        }
        let e = einval(parse_legacy("netmap:eth0^2"), "netmap:eth0^2");
        assert!(e.to_string().contains("no ^N"), "{}", e.to_string());
    }

    #[test]
    fn legacy_name_length_limit() {
        let ok = format!("netmap:{}", "a".repeat(15));
        assert_eq!(parse_legacy(&ok).unwrap().unwrap().name.len(), 15);
        let long = format!("netmap:{}", "a".repeat(16));
        einval(parse_legacy(&long), &long);
        let long = format!("vale0:{}", "p".repeat(10));
        einval(parse_legacy(&long), &long);
    }

    #[test]
    fn legacy_not_netmap_names() {
        assert_eq!(parse_legacy("eth0"), Ok(None));
        assert_eq!(parse_legacy("pcap:eth0"), Ok(None));
        assert_eq!(parse_legacy(""), Ok(None));
        assert_eq!(parse_legacy("netmap"), Ok(None));
        assert_eq!(parse_legacy("NETMAP:eth0"), Ok(None));
    }
}
