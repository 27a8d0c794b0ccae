//! netmap port names and option strings: libnetmap's grammar (`nmport_prepare`, and its pieces
//! for `nmreq_header_decode` / `nmreq_register_decode`), libnetmap's option grammar (also for
//! `nmreq_options_decode` with a caller's parser table) and the legacy `nm_open()` grammar.
//! docs/netmap-compat.md describes the grammars.
//!
//! | module | job |
//! |---|---|
//! | `libnetmap` | `PREFIX:NAME`, ring suffix, `/FLAGS`, `@N`, then the options |
//! | `options` | the option grammar, driven by a table of options and keys |
//! | `port_options` | the options of port names: `@share`, `@conf`, `@extmem`, `@offset` |
//! | `legacy` | the `nm_open()` grammar |
//! | `pieces` | what the port grammars share: VALE names, ring numbers, flags, `@N` |
//! | `text` | scanning bytes, numbers, positions |
//! | `error` | [`ParseError`], the one error of all of them |
//!
//! Every error is a [`ParseError`]: `EINVAL` (or `EOPNOTSUPP` for a disabled option), the text,
//! the position and a fix. Arbitrary input, also non-ASCII, never panics.

mod error;
mod legacy;
mod libnetmap;
pub mod options;
mod pieces;
mod port_options;
mod text;

pub use error::ParseError;
pub use legacy::parse_legacy;
pub use libnetmap::{
    parse_header, parse_mem_id, parse_port, parse_port_with, parse_register, Header, Register,
};

/// Values of `@conf:` (libnetmap grammar); None = not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingConf {
    /// `tx-rings` (or `rings`): hardware TX rings.
    pub tx_rings: Option<u16>,
    /// `rx-rings` (or `rings`): hardware RX rings.
    pub rx_rings: Option<u16>,
    /// `host-tx-rings` (or `host-rings`): host TX rings.
    pub host_tx_rings: Option<u16>,
    /// `host-rx-rings` (or `host-rings`): host RX rings.
    pub host_rx_rings: Option<u16>,
    /// `tx-slots` (or `slots`): slots per TX ring.
    pub tx_slots: Option<u32>,
    /// `rx-slots` (or `slots`): slots per RX ring.
    pub rx_slots: Option<u32>,
}

/// Values of `@extmem` (libnetmap grammar): the file to map and optional pool geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtmemSpec {
    /// `file`: the file to map as the region.
    pub file: String,
    /// `if-num`: number of interface objects.
    pub if_num: Option<u32>,
    /// `if-size`: size of an interface object.
    pub if_size: Option<u32>,
    /// `ring-num`: number of rings.
    pub ring_num: Option<u32>,
    /// `ring-size`: size of a ring.
    pub ring_size: Option<u32>,
    /// `buf-num`: number of buffers.
    pub buf_num: Option<u32>,
    /// `buf-size`: size of a buffer.
    pub buf_size: Option<u32>,
}

/// Values of `@offset` (libnetmap grammar); the maximum offset equals `initial`, `bits` 0 = 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpec {
    /// `initial`: the offset every slot starts with (also the maximum).
    pub initial: u64,
    /// `bits`: how many bits of a slot's `ptr` field hold the offset (0 = 64).
    pub bits: u32,
}

/// Result of the libnetmap grammar: what goes into nmreq_header.nr_name and nmreq_register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `nr_name` as the kernel sees it (`eth0`, `vale0:p`, `eth0{1`).
    pub name: String,
    /// `NR_REG_*`.
    pub mode: u32,
    /// The ring of a one-ring mode (`-N`, `^N`).
    pub ringid: u16,
    /// `NR_*` flags.
    pub flags: u64,
    /// 0 = not given.
    pub mem_id: u16,
    /// `@conf` values.
    pub conf: RingConf,
    /// `@share=PORT`: use PORT's allocator (resolved by the opener, which must also reject a
    /// conflict with `mem_id`).
    pub share: Option<String>,
    /// `@extmem` values.
    pub extmem: Option<ExtmemSpec>,
    /// `@offset` values.
    pub offset: Option<OffsetSpec>,
}

/// Legacy nm_open()/nm_parse grammar: what goes into struct nmreq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySpec {
    /// `nr_name` (without `netmap:` and without the ring/pipe suffix).
    pub name: String,
    /// `nr_flags`: `NR_REG_*` mode OR'ed with `NR_*` flags.
    pub flags: u32,
    /// `nr_ringid`: the ring (`-N`) or pipe id (`{N`, `}N`).
    pub ringid: u16,
    /// `nr_arg2` (allocator id, 0 = not given).
    pub mem_id: u16,
}

#[cfg(test)]
mod tests {
    use super::pieces::RING_LIMIT;
    use super::*;

    /// Asserts an `EINVAL` that quotes `spec` and gives a position.
    pub(super) fn einval<T: std::fmt::Debug>(r: Result<T, ParseError>, spec: &str) -> ParseError {
        let e = r.expect_err(spec);
        assert_eq!(e.errno, libc::EINVAL, "{spec}: {e}");
        assert_eq!(e.spec, spec, "{spec}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&spec.escape_debug().to_string()),
            "{spec}: message does not quote the spec: {msg}"
        );
        assert!(msg.contains("at character"), "{msg}");
        assert!(!e.what.is_empty() && !e.fix.is_empty(), "{msg}");
        e
    }

    #[test]
    fn generated_inputs_never_panic() {
        const FRAGS: &[&str] = &[
            "netmap:", "vale", ":", "eth0", "-", "^", "*", "{", "}", "/", "@", "1", "4096", "x",
            "=", ",", "conf:", "rings=2", "é", "0", "offset", "share",
        ];
        let check = |spec: &str| {
            for r in [
                parse_port(spec).map(|_| ()),
                parse_port_with(spec, true).map(|_| ()),
                parse_legacy(spec).map(|_| ()),
                parse_header(spec).map(|_| ()),
                parse_register(spec).map(|_| ()),
            ] {
                if let Err(e) = r {
                    assert!(
                        e.errno == libc::EINVAL || e.errno == libc::EOPNOTSUPP,
                        "{spec}: errno {}",
                        e.errno
                    );
                    assert!(!e.to_string().is_empty(), "{spec}: empty message");
                    assert!(e.pos <= e.spec.len(), "{spec}: {e:?}");
                }
            }
            if let Ok(s) = parse_port(spec) {
                assert!(!s.name.is_empty() && s.name.len() < 64, "{spec}: {s:?}");
                assert!(u64::from(s.ringid) < RING_LIMIT, "{spec}: {s:?}");
            }
            if let Ok(Some(s)) = parse_legacy(spec) {
                assert!(s.name.len() < 16, "{spec}: {s:?}");
            }
        };
        let mut count = 0;
        let mut buf = String::new();
        for a in FRAGS {
            for b in FRAGS {
                for c in FRAGS {
                    buf.clear();
                    buf.push_str(a);
                    buf.push_str(b);
                    buf.push_str(c);
                    check(&buf);
                    count += 1;
                    if *a == "netmap:" || *a == "vale" {
                        for d in FRAGS {
                            let s = format!("{buf}{d}");
                            check(&s);
                            count += 1;
                        }
                    }
                }
            }
        }
        assert!(count > 300);
    }

    #[test]
    fn nmxdp_error_wraps_the_parse_error() {
        let e: crate::Error = parse_port("netmap:eth0-x").unwrap_err().into();
        assert_eq!(e.errno(), libc::EINVAL);
        let p = e.parse_error().expect("structured error kept");
        assert_eq!((p.pos, p.column()), (12, 13));
        assert_eq!(e.message(), p.to_string());
    }
}
