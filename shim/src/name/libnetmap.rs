//! libnetmap's port-name grammar (`nmport_prepare`): `PREFIX:NAME`, then the ring suffix,
//! `/FLAGS` and `@N` (the register part), then `@OPTIONS`. The pieces are also parsed alone, for
//! libnetmap's `nmreq_header_decode` and `nmreq_register_decode`.

use super::error::ParseError;
use super::pieces::{State, RING_FIX, VALE_FIX};
use super::port_options::parse_port_options;
use super::text::Text;
use super::{PortSpec, RingConf};
use crate::abi::{
    NETMAP_REQ_IFNAMSIZ, NR_REG_ALL_NIC, NR_REG_NIC_SW, NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_REG_SW,
};

/// The `PREFIX:NAME` part of a port name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `nr_name` as the kernel sees it (`eth0`, `vale0:p`, `eth0{1`).
    pub name: String,
    /// Byte offset where the part ends (the register part or the options begin).
    pub end: usize,
}

/// The register part of a port name: ring suffix, `/FLAGS` and `@N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    /// `NR_REG_*`.
    pub mode: u32,
    /// The ring of a one-ring mode (`-N`, `^N`).
    pub ringid: u16,
    /// `NR_*` flags.
    pub flags: u64,
    /// 0 = not given.
    pub mem_id: u16,
    /// Byte offset where the part ends (the options begin, or the end).
    pub end: usize,
}

/// Parses libnetmap's grammar (`nmport_prepare`) with the `offset` option disabled, as libnetmap
/// does by default.
pub fn parse_port(spec: &str) -> Result<PortSpec, ParseError> {
    parse_port_with(spec, false)
}

/// libnetmap's grammar (`nmport_prepare`). Options that libnetmap disables by default (offset)
/// give `EOPNOTSUPP` unless `enable_offset` is true.
pub fn parse_port_with(spec: &str, enable_offset: bool) -> Result<PortSpec, ParseError> {
    let t = Text::new(spec.as_bytes());
    let h = header(&t)?;
    let (reg, st) = register(&t, h.end)?;
    let mut out = PortSpec {
        name: h.name,
        mode: reg.mode,
        ringid: reg.ringid,
        flags: reg.flags,
        mem_id: reg.mem_id,
        conf: RingConf::default(),
        share: None,
        extmem: None,
        offset: None,
    };
    if reg.end < t.b.len() {
        // The options begin; a '/' right before them may have no flag letters.
        parse_port_options(spec, reg.end, enable_offset, &mut out)?;
    } else {
        t.check_end(reg.end, st)?;
    }
    Ok(out)
}

/// Parses the `PREFIX:NAME` part at the start of `spec` (what `nmreq_header_decode` consumes).
pub fn parse_header(spec: &str) -> Result<Header, ParseError> {
    header(&Text::new(spec.as_bytes()))
}

/// Parses the register part that is all of `part` up to its options, if any (what
/// `nmreq_register_decode` consumes): it must start with a ring suffix, `/` or `@`, and must
/// not stop right after a `/`.
pub fn parse_register(part: &str) -> Result<Register, ParseError> {
    let t = Text::new(part.as_bytes());
    let (reg, st) = register(&t, 0)?;
    t.check_end(reg.end, st)?;
    Ok(reg)
}

/// The allocator id of `@N`, with `at` the byte offset of `N` in `text`; returns it and the
/// offset after its digits.
pub fn parse_mem_id(text: &str, at: usize) -> Result<(u16, usize), ParseError> {
    let mut id = 0;
    let next = Text::new(text.as_bytes()).mem_id(at, &mut id)?;
    Ok((id, next))
}

fn header(t: &Text<'_>) -> Result<Header, ParseError> {
    let b = t.b;
    t.check_nul()?;

    // PREFIX ":" — `netmap:` is stripped, `valeX:` stays in the name.
    let (name_start, port_start, vale) = if b.starts_with(b"netmap") {
        if b.get(6) != Some(&b':') {
            return Err(t.err(
                6,
                "':' expected right after 'netmap'",
                "use netmap:IFACE; the netmap prefix takes no identifier",
            ));
        }
        (7, 7, false)
    } else if b.starts_with(b"vale") {
        let i = t.vale_colon(4)?;
        (0, i + 1, true)
    } else {
        return Err(t.err(
            0,
            "prefix unknown or missing",
            "start the name with netmap:IFACE or valeSWITCH:PORT",
        ));
    };

    // NAME runs until the first of - * ^ / @ ({ and } belong to the name: pipes are names).
    let end = t.scan_until(port_start, b"-*^/@");
    if end == port_start {
        return Err(t.err(
            port_start,
            "port name missing",
            if vale {
                VALE_FIX
            } else {
                "use netmap:IFACE, e.g. netmap:eth0"
            },
        ));
    }
    let name = t.show(name_start, end);
    if end - name_start >= NETMAP_REQ_IFNAMSIZ {
        return Err(t.err(
            name_start,
            format!(
                "port name '{name}' is {} bytes long, the limit is {}",
                end - name_start,
                NETMAP_REQ_IFNAMSIZ - 1
            ),
            "use a shorter name",
        ));
    }
    t.check_port(port_start, end, vale, true)?;
    Ok(Header { name, end })
}

/// The register part from byte `from`, up to the end or to an `@` that starts the options;
/// also returns where the state machine stood there.
fn register(t: &Text<'_>, from: usize) -> Result<(Register, State), ParseError> {
    let b = t.b;
    let mut r = Register {
        mode: NR_REG_ALL_NIC,
        ringid: 0,
        flags: 0,
        mem_id: 0,
        end: b.len(),
    };
    let mut st = State::Start;
    let mut i = from;
    while i < b.len() {
        match (st, b[i]) {
            (_, b'@') => {
                if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    r.end = i;
                    break;
                }
                i = t.mem_id(i + 1, &mut r.mem_id)?;
                st = State::Suffix;
            }
            (State::Start, b'^') => {
                i += 1;
                if b.get(i).is_some_and(u8::is_ascii_digit) {
                    let (n, next) = t.ring_number(i, '^')?;
                    r.mode = NR_REG_ONE_SW;
                    r.ringid = n;
                    i = next;
                } else {
                    r.mode = NR_REG_SW;
                }
                st = State::Suffix;
            }
            (State::Start, b'*') => {
                r.mode = NR_REG_NIC_SW;
                i += 1;
                st = State::Suffix;
            }
            (State::Start, b'-') => {
                let (n, next) = t.ring_number(i + 1, '-')?;
                r.mode = NR_REG_ONE_NIC;
                r.ringid = n;
                i = next;
                st = State::Suffix;
            }
            (State::Start | State::Suffix, b'/') => {
                i += 1;
                st = State::Flags { any: false };
            }
            (State::Flags { .. }, _) => {
                r.flags |= t.flag(i)?;
                i += 1;
                st = State::Flags { any: true };
            }
            (State::Suffix, _) => {
                return Err(t.err(
                    i,
                    format!("unexpected {} after the ring suffix", t.found(i)),
                    "only /FLAGS, @N (allocator) or @OPTION may follow; use e.g. netmap:eth0-1/x@2",
                ))
            }
            (State::Start, _) => {
                // Only when the register part is parsed alone: after a name, one of - * ^ / @
                // always comes first.
                return Err(t.err(
                    i,
                    format!(
                        "unexpected {} where a ring suffix (-N, ^, ^N, *), /FLAGS or @N was \
                         expected",
                        t.found(i)
                    ),
                    RING_FIX,
                ));
            }
        }
    }
    Ok((r, st))
}

#[cfg(test)]
mod tests {
    use super::super::tests::einval;
    use super::super::{ExtmemSpec, OffsetSpec};
    use super::*;
    use crate::abi::NR_EXCLUSIVE;

    /// Measured examples of upstream's parser: spec, nr_name, nr_mode, ringid, nr_flags, mem_id.
    const PORT_EXAMPLES: &[(&str, &str, u32, u16, u64, u16)] = &[
        ("netmap:eth0", "eth0", 1, 0, 0, 0),
        ("netmap:eth0-3", "eth0", 4, 3, 0, 0),
        ("netmap:eth0*", "eth0", 3, 0, 0, 0),
        ("netmap:eth0^", "eth0", 2, 0, 0, 0),
        ("netmap:eth0^2", "eth0", 8, 2, 0, 0),
        ("netmap:eth0^/x", "eth0", 2, 0, 0x800, 0),
        ("netmap:eth0/T", "eth0", 1, 0, 0x4000, 0),
        ("netmap:eth0/R", "eth0", 1, 0, 0x2000, 0),
        ("netmap:eth0/rt", "eth0", 1, 0, 0x300, 0),
        ("netmap:eth0/z", "eth0", 1, 0, 0x400, 0),
        ("netmap:eth0-1/Rx", "eth0", 4, 1, 0x2800, 0),
        ("netmap:eth0@3", "eth0", 1, 0, 0, 3),
        ("netmap:eth0-2@3", "eth0", 4, 2, 0, 3),
        ("netmap:eth0/x@3", "eth0", 1, 0, 0x800, 3),
        ("netmap:eth0{1", "eth0{1", 1, 0, 0, 0),
        ("netmap:eth0}1", "eth0}1", 1, 0, 0, 0),
        ("netmap:eth0{pipe1", "eth0{pipe1", 1, 0, 0, 0),
        ("netmap:eth0{1-0", "eth0{1", 4, 0, 0, 0),
        ("vale0:p", "vale0:p", 1, 0, 0, 0),
        ("vale:p", "vale:p", 1, 0, 0, 0),
        ("valeA_1:port2{3", "valeA_1:port2{3", 1, 0, 0, 0),
        ("vale0:p@conf:rings=4,slots=512", "vale0:p", 1, 0, 0, 0),
        (
            "netmap:eth0@conf:tx-rings=2,rx-rings=3,host-rings=2,slots=256",
            "eth0",
            1,
            0,
            0,
            0,
        ),
        // Further cases upstream's parser gives.
        ("netmap:eth0#", "eth0#", 1, 0, 0, 0),
        ("vale0:p}x", "vale0:p}x", 1, 0, 0, 0),
        ("netmap:eth0-4094", "eth0", 4, 4094, 0, 0),
        ("netmap:eth0^4094", "eth0", 8, 4094, 0, 0),
        ("netmap:eth0/xxtt", "eth0", 1, 0, 0x900, 0),
        ("netmap:eth0@3@3", "eth0", 1, 0, 0, 3),
    ];

    #[test]
    fn port_examples() {
        for &(spec, name, mode, ringid, flags, mem_id) in PORT_EXAMPLES {
            let s = parse_port(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(s.name, name, "{spec}: name");
            assert_eq!(s.mode, mode, "{spec}: mode");
            assert_eq!(s.ringid, ringid, "{spec}: ringid");
            assert_eq!(s.flags, flags, "{spec}: flags");
            assert_eq!(s.mem_id, mem_id, "{spec}: mem_id");
            assert_eq!(s.share, None, "{spec}: share");
            assert_eq!(s.extmem, None, "{spec}: extmem");
            assert_eq!(s.offset, None, "{spec}: offset");
        }
    }

    #[test]
    fn port_example_conf_values() {
        let c = parse_port("vale0:p@conf:rings=4,slots=512").unwrap().conf;
        assert_eq!(
            c,
            RingConf {
                tx_rings: Some(4),
                rx_rings: Some(4),
                host_tx_rings: None,
                host_rx_rings: None,
                tx_slots: Some(512),
                rx_slots: Some(512),
            }
        );
        let c = parse_port("netmap:eth0@conf:tx-rings=2,rx-rings=3,host-rings=2,slots=256")
            .unwrap()
            .conf;
        assert_eq!(
            c,
            RingConf {
                tx_rings: Some(2),
                rx_rings: Some(3),
                host_tx_rings: Some(2),
                host_rx_rings: Some(2),
                tx_slots: Some(256),
                rx_slots: Some(256),
            }
        );
        assert_eq!(parse_port("netmap:eth0").unwrap().conf, RingConf::default());
    }

    #[test]
    fn port_errors() {
        for spec in [
            "netmap:eth0-",
            "netmap:eth0-x",
            "netmap:",
            "eth0",
            "vale0p",
            "netmap:eth0-4096",
            "netmap:eth0@",
            "netmap:eth0^x",
            "netmap:eth0@0",
            "vale0:p@foo",
            "netmap:eth0@conf=4",
            // Further cases upstream's parser rejects.
            "netmap:eth0-4095",
            "netmap:eth0^4095",
            "netmapx:eth0",
            "netmap",
            "",
            "pcap:eth0",
            "netmap:eth0@3@4",
            "netmap:eth0*3",
            "netmap:eth0-1-2",
            "netmap:eth0-1x",
            "netmap:eth0/q",
            "netmap:eth0/",
            "netmap:eth0/x-1",
            "netmap:eth0{",
            "netmap:eth0}",
            "vale0:",
            "vale0:{1",
            "vale0:p.q",
            "vale-0:p",
            "netmap:eth0@conf",
            "netmap:eth0@conf:",
            "netmap:eth0@conf:rings",
            "netmap:eth0@conf:rings=",
            "netmap:eth0@conf:rings=x",
            "netmap:eth0@conf:rings=65536",
            "netmap:eth0@conf:bogus=1",
            "netmap:eth0@conf:rings=1,",
            "netmap:eth0@conf:rings=1@conf:slots=2",
            "netmap:eth0@share",
            "netmap:eth0@share=",
            "netmap:eth0@extmem",
            "netmap:eth0@extmem:if-num=2",
            "netmap:eth0@=3",
            "netmap:eth0@70000",
            "netmap:eth0-99999999999999999999999",
            "netmap:eth\0",
        ] {
            einval(parse_port(spec), spec);
        }
    }

    #[test]
    fn port_error_messages() {
        let e = einval(parse_port("netmap:eth0-x"), "netmap:eth0-x");
        assert_eq!(
            e.to_string(),
            "netmap:eth0-x: ring number expected after '-', found 'x' at character 13 \
             (use netmap:IFACE-N with 0 <= N < 4095)"
        );
        let e = einval(parse_port("netmap:eth0-4096"), "netmap:eth0-4096");
        assert!(
            e.to_string().contains("4096 out of range"),
            "{}",
            e.to_string()
        );
        let e = einval(parse_port("eth0"), "eth0");
        assert!(e.to_string().contains("prefix"), "{}", e.to_string());
        let e = einval(parse_port("vale0:p@foo"), "vale0:p@foo");
        assert!(
            e.to_string().contains("unknown option '@foo'"),
            "{}",
            e.to_string()
        );
        let e = einval(parse_port("netmap:eth0@conf=4"), "netmap:eth0@conf=4");
        assert!(
            e.to_string().contains("no default key"),
            "{}",
            e.to_string()
        );
        let e = parse_port("").unwrap_err();
        assert!(e.to_string().starts_with("\"\": "), "{}", e.to_string());
        // Positions count characters, not bytes.
        let e = einval(parse_port("netmap:é-x"), "netmap:é-x");
        assert!(
            e.to_string().contains("at character 10"),
            "{}",
            e.to_string()
        );
    }

    #[test]
    fn offset_disabled_by_default() {
        for spec in [
            "netmap:eth0@offset=64",
            "netmap:eth0@offset:initial=64,bits=8",
        ] {
            let e = parse_port(spec).unwrap_err();
            assert_eq!(e.errno, libc::EOPNOTSUPP, "{spec}");
            assert!(e.to_string().contains(spec), "{}", e.to_string());
            assert!(
                e.to_string().contains("nmport_enable_option"),
                "{}",
                e.to_string()
            );
        }
    }

    #[test]
    fn offset_enabled() {
        let s = parse_port_with("netmap:eth0@offset=64", true).unwrap();
        assert_eq!(
            s.offset,
            Some(OffsetSpec {
                initial: 64,
                bits: 0
            })
        );
        assert_eq!(s.name, "eth0");
        let s = parse_port_with("netmap:eth0-1@offset:initial=128,bits=10", true).unwrap();
        assert_eq!(
            s.offset,
            Some(OffsetSpec {
                initial: 128,
                bits: 10
            })
        );
        assert_eq!((s.mode, s.ringid), (NR_REG_ONE_NIC, 1));
        for spec in [
            "netmap:eth0@offset",
            "netmap:eth0@offset:bits=8",
            "netmap:eth0@offset:initial=1,bits=65",
            "netmap:eth0@offset:initial=x",
        ] {
            einval(parse_port_with(spec, true), spec);
        }
    }

    #[test]
    fn conf_specific_keys_override_general_ones() {
        let c = parse_port("netmap:eth0@conf:tx-slots=64,slots=512")
            .unwrap()
            .conf;
        assert_eq!((c.tx_slots, c.rx_slots), (Some(64), Some(512)));
        let c = parse_port("netmap:eth0@conf:slots=512,tx-slots=64")
            .unwrap()
            .conf;
        assert_eq!((c.tx_slots, c.rx_slots), (Some(64), Some(512)));
        let c = parse_port("netmap:eth0@conf:rx-rings=1,rings=8,host-tx-rings=3,host-rings=2")
            .unwrap()
            .conf;
        assert_eq!((c.tx_rings, c.rx_rings), (Some(8), Some(1)));
        assert_eq!((c.host_tx_rings, c.host_rx_rings), (Some(3), Some(2)));
        // '-' in keys is turned into '_', so both spellings work.
        let c = parse_port("netmap:eth0@conf:tx_rings=5").unwrap().conf;
        assert_eq!(c.tx_rings, Some(5));
        assert_eq!(c.rx_rings, None);
    }

    #[test]
    fn share_option() {
        let s = parse_port("netmap:eth0@share=eth1").unwrap();
        assert_eq!(s.share.as_deref(), Some("eth1"));
        assert_eq!(s.name, "eth0");
        let s = parse_port("netmap:eth0@share:port=eth1").unwrap();
        assert_eq!(s.share.as_deref(), Some("eth1"));
        let s = parse_port("vale0:a@share=vale0:b@conf:rings=2").unwrap();
        assert_eq!(s.share.as_deref(), Some("vale0:b"));
        assert_eq!(s.conf.tx_rings, Some(2));
        einval(
            parse_port("netmap:eth0@share:peer=eth1"),
            "netmap:eth0@share:peer=eth1",
        );
        einval(
            parse_port("netmap:eth0@share=a@share=b"),
            "netmap:eth0@share=a@share=b",
        );
    }

    #[test]
    fn extmem_option() {
        let s = parse_port("netmap:eth0@extmem=/tmp/mem").unwrap();
        assert_eq!(
            s.extmem,
            Some(ExtmemSpec {
                file: "/tmp/mem".into(),
                if_num: None,
                if_size: None,
                ring_num: None,
                ring_size: None,
                buf_num: None,
                buf_size: None,
            })
        );
        let s = parse_port(
            "netmap:eth0-1/x@2@extmem:file=/dev/hugepages/x,if-num=2,if-size=1024,\
             ring-num=4,ring-size=36864,buf-num=8192,buf-size=2048",
        )
        .unwrap();
        assert_eq!(
            (s.mode, s.ringid, s.flags, s.mem_id),
            (NR_REG_ONE_NIC, 1, NR_EXCLUSIVE, 2)
        );
        assert_eq!(
            s.extmem,
            Some(ExtmemSpec {
                file: "/dev/hugepages/x".into(),
                if_num: Some(2),
                if_size: Some(1024),
                ring_num: Some(4),
                ring_size: Some(36864),
                buf_num: Some(8192),
                buf_size: Some(2048),
            })
        );
        einval(
            parse_port("netmap:eth0@extmem:file=a,buf-num=-1"),
            "netmap:eth0@extmem:file=a,buf-num=-1",
        );
    }

    #[test]
    fn name_length_limit() {
        let ok = format!("netmap:{}", "a".repeat(63));
        assert_eq!(parse_port(&ok).unwrap().name.len(), 63);
        let long = format!("netmap:{}", "a".repeat(64));
        einval(parse_port(&long), &long);
        // For VALE ports the whole valeX:port counts.
        let ok = format!("vale0:{}", "p".repeat(57));
        assert_eq!(parse_port(&ok).unwrap().name.len(), 63);
        let long = format!("vale0:{}", "p".repeat(58));
        einval(parse_port(&long), &long);
    }

    #[test]
    fn pieces_alone() {
        let h = parse_header("netmap:eth0-1/x@2@conf:rings=1").unwrap();
        assert_eq!((h.name.as_str(), h.end), ("eth0", 11));
        let h = parse_header("vale0:p{3").unwrap();
        assert_eq!((h.name.as_str(), h.end), ("vale0:p{3", 9));
        einval(parse_header("eth0"), "eth0");

        let r = parse_register("-1/x@2@conf:rings=1").unwrap();
        assert_eq!(
            (r.mode, r.ringid, r.flags, r.mem_id, r.end),
            (NR_REG_ONE_NIC, 1, NR_EXCLUSIVE, 2, 6)
        );
        assert_eq!(parse_register("").unwrap().end, 0);
        assert_eq!(parse_register("@conf:rings=1").unwrap().end, 0);
        // Positions count from the start of the part given.
        let e = einval(parse_register("-x"), "-x");
        assert_eq!(e.column(), 2);
        let e = einval(parse_register("eth0"), "eth0");
        assert!(e.what.contains("ring suffix"), "{e}");
        // Alone, the part must not stop right after '/'; before options the full grammar lets
        // it (as libnetmap's does).
        einval(parse_register("/"), "/");
        einval(parse_register("/@conf:rings=1"), "/@conf:rings=1");
        assert!(parse_port("netmap:eth0/@conf:rings=1").is_ok());

        assert_eq!(parse_mem_id("@12x", 1), Ok((12, 3)));
        einval(parse_mem_id("@0", 1), "@0");
        einval(parse_mem_id("@70000", 1), "@70000");
    }
}
