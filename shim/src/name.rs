//! netmap port names: libnetmap's grammar (`nmport_prepare`) and the legacy `nm_open()` grammar.
//!
//! Both parsers follow netmap-abi.md §8.1 / §8.2. They work on bytes and only cut the input at ASCII
//! delimiters, so arbitrary (also non-ASCII) input never panics. Every error carries `EINVAL`
//! (or `EOPNOTSUPP` for a disabled option) and a message quoting the spec, the position and a fix.

use crate::abi::{
    IFNAMSIZ, NETMAP_REQ_IFNAMSIZ, NR_EXCLUSIVE, NR_MONITOR_RX, NR_MONITOR_TX, NR_REG_ALL_NIC,
    NR_REG_NIC_SW, NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_REG_PIPE_MASTER, NR_REG_PIPE_SLAVE, NR_REG_SW,
    NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, NR_ZCOPY_MON,
};
use crate::error::{Error, Result};

/// Values of `@conf:` (libnetmap grammar); None = not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingConf {
    pub tx_rings: Option<u16>,
    pub rx_rings: Option<u16>,
    pub host_tx_rings: Option<u16>,
    pub host_rx_rings: Option<u16>,
    pub tx_slots: Option<u32>,
    pub rx_slots: Option<u32>,
}

/// Values of `@extmem` (libnetmap grammar): the file to map and optional pool geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtmemSpec {
    pub file: String,
    pub if_num: Option<u32>,
    pub if_size: Option<u32>,
    pub ring_num: Option<u32>,
    pub ring_size: Option<u32>,
    pub buf_num: Option<u32>,
    pub buf_size: Option<u32>,
}

/// Values of `@offset` (libnetmap grammar); the maximum offset equals `initial`, `bits` 0 = 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpec {
    pub initial: u64,
    pub bits: u32,
}

/// Result of the libnetmap grammar: what goes into nmreq_header.nr_name and nmreq_register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `nr_name` as the kernel sees it (`eth0`, `vale0:p`, `eth0{1`).
    pub name: String,
    /// `NR_REG_*`.
    pub mode: u32,
    pub ringid: u16,
    /// `NR_*` flags.
    pub flags: u64,
    /// 0 = not given.
    pub mem_id: u16,
    pub conf: RingConf,
    /// `@share=PORT`: use PORT's allocator (resolved by the opener, which must also reject a
    /// conflict with `mem_id`).
    pub share: Option<String>,
    pub extmem: Option<ExtmemSpec>,
    pub offset: Option<OffsetSpec>,
}

/// Legacy nm_open()/nm_parse grammar: what goes into struct nmreq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySpec {
    /// `nr_name` (without `netmap:` and without the ring/pipe suffix).
    pub name: String,
    /// `nr_flags`: `NR_REG_*` mode OR'ed with `NR_*` flags.
    pub flags: u32,
    pub ringid: u16,
    /// `nr_arg2` (allocator id, 0 = not given).
    pub mem_id: u16,
}

/// Ring numbers must stay below `NETMAP_RING_MASK` (4095).
const RING_LIMIT: u64 = 4095;

const RING_FIX: &str = "use netmap:IFACE-N with 0 <= N < 4095";
const FLAG_FIX: &str = "flags are x (exclusive), z (zero-copy monitor), t (monitor TX), \
                        r (monitor RX), R (RX rings only), T (TX rings only)";
const MEMID_FIX: &str = "use @N with 1 <= N <= 65535 to select an allocator";
const OPTION_FIX: &str =
    "options are @share=PORT, @conf:KEY=N,..., @extmem=FILE[,KEY=N...] and @offset=N";
const CONF_FIX: &str = "use @conf:KEY=N,... with keys rings, host-rings, slots, tx-rings, \
                        rx-rings, host-tx-rings, host-rx-rings, tx-slots, rx-slots";
const EXTMEM_FIX: &str = "use @extmem=FILE or @extmem:file=FILE,if-num=N,if-size=N,ring-num=N,\
                          ring-size=N,buf-num=N,buf-size=N";
const SHARE_FIX: &str = "use @share=PORT or @share:port=PORT";
const OFFSET_FIX: &str = "use @offset=N or @offset:initial=N,bits=B";

/// Parses libnetmap's grammar (`nmport_prepare`) with the `offset` option disabled, as libnetmap does by default.
pub fn parse_port(spec: &str) -> Result<PortSpec> {
    parse_port_with(spec, false)
}

/// libnetmap's grammar (nmport_prepare). Options that libnetmap disables by default (offset) give
/// EOPNOTSUPP unless `enable_offset` is true.
pub fn parse_port_with(spec: &str, enable_offset: bool) -> Result<PortSpec> {
    let p = Src::new(spec);
    let b = p.b;
    p.check_nul()?;

    // PREFIX ":" — `netmap:` is stripped, `valeX:` stays in the name.
    let (name_start, port_start, vale) = if b.starts_with(b"netmap") {
        if b.get(6) != Some(&b':') {
            return Err(p.err(
                6,
                "':' expected right after 'netmap'",
                "use netmap:IFACE; the netmap prefix takes no identifier",
            ));
        }
        (7, 7, false)
    } else if b.starts_with(b"vale") {
        let i = p.vale_colon(4)?;
        (0, i + 1, true)
    } else {
        return Err(p.err(
            0,
            "prefix unknown or missing",
            "start the name with netmap:IFACE or valeSWITCH:PORT",
        ));
    };

    // VPNAME runs until the first of - * ^ / @ ({ and } belong to the name: pipes are names).
    let end = p.scan_until(port_start, b"-*^/@");
    if end == port_start {
        return Err(p.err(
            port_start,
            "port name missing",
            if vale {
                "use valeSWITCH:PORT, e.g. vale0:p"
            } else {
                "use netmap:IFACE, e.g. netmap:eth0"
            },
        ));
    }
    let name = &spec[name_start..end];
    if name.len() >= NETMAP_REQ_IFNAMSIZ {
        return Err(p.err(
            name_start,
            format!(
                "port name '{name}' is {} bytes long, the limit is {}",
                name.len(),
                NETMAP_REQ_IFNAMSIZ - 1
            ),
            "use a shorter name",
        ));
    }
    p.check_port(port_start, end, vale, true)?;

    let mut out = PortSpec {
        name: name.to_string(),
        mode: NR_REG_ALL_NIC,
        ringid: 0,
        flags: 0,
        mem_id: 0,
        conf: RingConf::default(),
        share: None,
        extmem: None,
        offset: None,
    };

    // MODE / FLAGS / @N state machine.
    let mut st = State::Start;
    let mut i = end;
    while i < b.len() {
        let c = b[i];
        match (st, c) {
            (_, b'@') => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i = p.mem_id(i + 1, &mut out.mem_id)?;
                    st = State::Suffix;
                } else {
                    return parse_options(&p, i, enable_offset, out);
                }
            }
            (State::Start, b'^') => {
                i += 1;
                if b.get(i).is_some_and(u8::is_ascii_digit) {
                    let (n, next) = p.ring_number(i, '^')?;
                    out.mode = NR_REG_ONE_SW;
                    out.ringid = n;
                    i = next;
                } else {
                    out.mode = NR_REG_SW;
                }
                st = State::Suffix;
            }
            (State::Start, b'*') => {
                out.mode = NR_REG_NIC_SW;
                i += 1;
                st = State::Suffix;
            }
            (State::Start, b'-') => {
                let (n, next) = p.ring_number(i + 1, '-')?;
                out.mode = NR_REG_ONE_NIC;
                out.ringid = n;
                i = next;
                st = State::Suffix;
            }
            (State::Start | State::Suffix, b'/') => {
                i += 1;
                st = State::Flags { any: false };
            }
            (State::Flags { .. }, _) => {
                out.flags |= p.flag(i)?;
                i += 1;
                st = State::Flags { any: true };
            }
            (State::Suffix, _) => {
                return Err(p.err(
                    i,
                    format!("unexpected {} after the ring suffix", p.found(i)),
                    "only /FLAGS, @N (allocator) or @OPTION may follow; use e.g. netmap:eth0-1/x@2",
                ))
            }
            (State::Start, _) => {
                // Not reachable: the name ends at one of - * ^ / @.
                return Err(p.err(i, format!("unexpected {}", p.found(i)), RING_FIX));
            }
        }
    }
    p.check_end(st)?;
    Ok(out)
}

/// Legacy nm_open()/nm_parse grammar. Ok(None) = not a netmap name (no `netmap:`/`vale` prefix):
/// nm_open returns NULL with errno 0.
pub fn parse_legacy(spec: &str) -> Result<Option<LegacySpec>> {
    let p = Src::new(spec);
    let b = p.b;
    let (name_start, port_start, vale) = if b.starts_with(b"netmap:") {
        (7, 7, false)
    } else if b.starts_with(b"vale") {
        p.check_nul()?;
        let i = p.vale_colon(4)?;
        (0, i + 1, true)
    } else {
        return Ok(None);
    };
    p.check_nul()?;

    // VPNAME ends at the first of - * ^ { } / @ (pipes are suffixes here, not names).
    let end = p.scan_until(port_start, b"-*^{}/@");
    let name = &spec[name_start..end];
    if name.len() >= IFNAMSIZ {
        return Err(p.err(
            name_start,
            format!(
                "port name '{name}' is {} bytes long, legacy nm_open() allows at most {}",
                name.len(),
                IFNAMSIZ - 1
            ),
            "use a shorter name, or nmport_open() which allows 63 bytes",
        ));
    }
    if vale {
        if end == port_start {
            return Err(p.err(
                port_start,
                "port name missing",
                "use valeSWITCH:PORT, e.g. vale0:p",
            ));
        }
        p.check_port(port_start, end, true, false)?;
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
                    return Err(p.err(
                        i + 1,
                        format!("allocator id expected after '@', {}", p.found(i + 1)),
                        "legacy nm_open() names only take @N (1 <= N <= 65535); \
                         use nmport_open() for @options",
                    ));
                }
                i = p.mem_id(i + 1, &mut mem_id)?;
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
                let (n, next) = p.ring_number(i + 1, c as char)?;
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
                flags |= p.flag(i)?;
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
                return Err(p.err(
                    i,
                    format!("unexpected {} after the ring suffix", p.found(i)),
                    fix,
                ));
            }
            (State::Start, _) => {
                // Not reachable: the name ends at one of - * ^ { } / @.
                return Err(p.err(i, format!("unexpected {}", p.found(i)), RING_FIX));
            }
        }
    }
    p.check_end(st)?;
    Ok(Some(LegacySpec {
        name: name.to_string(),
        flags: mode | flags as u32,
        ringid,
        mem_id,
    }))
}

/// Where the mode/flags state machine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Right after the name: any suffix, `/` or `@` may come.
    Start,
    /// After a ring suffix or `@N`: only `/` or `@`.
    Suffix,
    /// After `/`; `any` once at least one flag letter was seen.
    Flags { any: bool },
}

/// Which option an `@name` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Share,
    Conf,
    Extmem,
    Offset,
}

impl Opt {
    fn from_name(name: &str) -> Option<Opt> {
        match name {
            "share" => Some(Opt::Share),
            "conf" => Some(Opt::Conf),
            "extmem" => Some(Opt::Extmem),
            "offset" => Some(Opt::Offset),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Opt::Share => "share",
            Opt::Conf => "conf",
            Opt::Extmem => "extmem",
            Opt::Offset => "offset",
        }
    }

    fn default_key(self) -> Option<&'static str> {
        match self {
            Opt::Share => Some("port"),
            Opt::Conf => None,
            Opt::Extmem => Some("file"),
            Opt::Offset => Some("initial"),
        }
    }

    fn fix(self) -> &'static str {
        match self {
            Opt::Share => SHARE_FIX,
            Opt::Conf => CONF_FIX,
            Opt::Extmem => EXTMEM_FIX,
            Opt::Offset => OFFSET_FIX,
        }
    }
}

/// One `key=value` of an option, with positions for messages.
struct KeyVal<'a> {
    /// Key with `-` turned into `_`.
    key: String,
    key_at: usize,
    value: &'a str,
    value_at: usize,
}

/// Parses `@name[=value | :k=v,...]` options starting at the `@` at byte `i`.
fn parse_options(
    p: &Src<'_>,
    mut i: usize,
    enable_offset: bool,
    mut out: PortSpec,
) -> Result<PortSpec> {
    let b = p.b;
    let mut seen: Vec<Opt> = Vec::new();
    while i < b.len() {
        // b[i] == b'@'
        let name_at = i + 1;
        let j = p.scan_until(name_at, b"=:@");
        let oname = &p.spec[name_at..j];
        if oname.is_empty() {
            return Err(p.err(
                name_at,
                format!("option name expected after '@', {}", p.found(name_at)),
                OPTION_FIX,
            ));
        }
        let Some(opt) = Opt::from_name(oname) else {
            return Err(p.err(name_at, format!("unknown option '@{oname}'"), OPTION_FIX));
        };
        if opt == Opt::Offset && !enable_offset {
            return Err(p.err_code(
                libc::EOPNOTSUPP,
                name_at,
                "option '@offset' is disabled",
                "enable it first with nmport_enable_option(\"offset\")",
            ));
        }
        if seen.contains(&opt) {
            return Err(p.err(
                name_at,
                format!("option '@{oname}' given twice"),
                "give each option once, with all its keys",
            ));
        }
        seen.push(opt);

        let mut kvs: Vec<KeyVal<'_>> = Vec::new();
        if b.get(j) == Some(&b'=') {
            let Some(key) = opt.default_key() else {
                return Err(p.err(j, format!("option '@{oname}' has no default key"), CONF_FIX));
            };
            let value_at = j + 1;
            let k = p.scan_until(value_at, b"@");
            kvs.push(KeyVal {
                key: key.to_string(),
                key_at: j,
                value: &p.spec[value_at..k],
                value_at,
            });
            i = k;
        } else if b.get(j) == Some(&b':') {
            let mut k = j + 1;
            loop {
                let key_at = k;
                k = p.scan_until(key_at, b"=,@");
                let key = &p.spec[key_at..k];
                if key.is_empty() {
                    return Err(p.err(
                        key_at,
                        format!("key expected for option '@{oname}', {}", p.found(key_at)),
                        opt.fix(),
                    ));
                }
                if b.get(k) != Some(&b'=') {
                    return Err(p.err(
                        k,
                        format!("'=' and a value expected after key '{key}'"),
                        opt.fix(),
                    ));
                }
                let value_at = k + 1;
                k = p.scan_until(value_at, b",@");
                let norm = key.replace('-', "_");
                if kvs.iter().any(|kv| kv.key == norm) {
                    return Err(p.err(
                        key_at,
                        format!("key '{key}' of option '@{oname}' given twice"),
                        "give each key once",
                    ));
                }
                kvs.push(KeyVal {
                    key: norm,
                    key_at,
                    value: &p.spec[value_at..k],
                    value_at,
                });
                if b.get(k) == Some(&b',') {
                    k += 1;
                } else {
                    break;
                }
            }
            i = k;
        } else {
            i = j;
        }

        for kv in &kvs {
            if kv.value.is_empty() {
                return Err(p.err(
                    kv.value_at,
                    format!(
                        "value expected for key '{}' of option '@{oname}'",
                        kv.key.replace('_', "-")
                    ),
                    opt.fix(),
                ));
            }
        }
        match opt {
            Opt::Share => apply_share(p, name_at, &kvs, &mut out)?,
            Opt::Conf => apply_conf(p, name_at, &kvs, &mut out)?,
            Opt::Extmem => apply_extmem(p, name_at, &kvs, &mut out)?,
            Opt::Offset => apply_offset(p, name_at, &kvs, &mut out)?,
        }
    }
    Ok(out)
}

fn unknown_key(p: &Src<'_>, opt: Opt, kv: &KeyVal<'_>) -> Error {
    p.err(
        kv.key_at,
        format!(
            "unknown key '{}' for option '@{}'",
            kv.key.replace('_', "-"),
            opt.name()
        ),
        opt.fix(),
    )
}

fn apply_share(p: &Src<'_>, at: usize, kvs: &[KeyVal<'_>], out: &mut PortSpec) -> Result<()> {
    for kv in kvs {
        match kv.key.as_str() {
            "port" => out.share = Some(kv.value.to_string()),
            _ => return Err(unknown_key(p, Opt::Share, kv)),
        }
    }
    if out.share.is_none() {
        return Err(p.err(
            at,
            "option '@share' needs the port whose allocator to use",
            SHARE_FIX,
        ));
    }
    Ok(())
}

fn apply_conf(p: &Src<'_>, at: usize, kvs: &[KeyVal<'_>], out: &mut PortSpec) -> Result<()> {
    if kvs.is_empty() {
        return Err(p.err(at, "option '@conf' needs at least one key", CONF_FIX));
    }
    // General keys fill both directions; specific keys win regardless of order.
    let (mut rings, mut host_rings, mut slots) = (None, None, None);
    let mut c = RingConf::default();
    for kv in kvs {
        let ring_val = || {
            p.number(kv.value, kv.value_at, u16::MAX as u64, CONF_FIX)
                .map(|n| n as u16)
        };
        let slot_val = || {
            p.number(kv.value, kv.value_at, u32::MAX as u64, CONF_FIX)
                .map(|n| n as u32)
        };
        match kv.key.as_str() {
            "rings" => rings = Some(ring_val()?),
            "host_rings" => host_rings = Some(ring_val()?),
            "slots" => slots = Some(slot_val()?),
            "tx_rings" => c.tx_rings = Some(ring_val()?),
            "rx_rings" => c.rx_rings = Some(ring_val()?),
            "host_tx_rings" => c.host_tx_rings = Some(ring_val()?),
            "host_rx_rings" => c.host_rx_rings = Some(ring_val()?),
            "tx_slots" => c.tx_slots = Some(slot_val()?),
            "rx_slots" => c.rx_slots = Some(slot_val()?),
            _ => return Err(unknown_key(p, Opt::Conf, kv)),
        }
    }
    out.conf = RingConf {
        tx_rings: c.tx_rings.or(rings),
        rx_rings: c.rx_rings.or(rings),
        host_tx_rings: c.host_tx_rings.or(host_rings),
        host_rx_rings: c.host_rx_rings.or(host_rings),
        tx_slots: c.tx_slots.or(slots),
        rx_slots: c.rx_slots.or(slots),
    };
    Ok(())
}

fn apply_extmem(p: &Src<'_>, at: usize, kvs: &[KeyVal<'_>], out: &mut PortSpec) -> Result<()> {
    let mut e = ExtmemSpec {
        file: String::new(),
        if_num: None,
        if_size: None,
        ring_num: None,
        ring_size: None,
        buf_num: None,
        buf_size: None,
    };
    let mut file = None;
    for kv in kvs {
        let val = || {
            p.number(kv.value, kv.value_at, u32::MAX as u64, EXTMEM_FIX)
                .map(|n| n as u32)
        };
        match kv.key.as_str() {
            "file" => file = Some(kv.value.to_string()),
            "if_num" => e.if_num = Some(val()?),
            "if_size" => e.if_size = Some(val()?),
            "ring_num" => e.ring_num = Some(val()?),
            "ring_size" => e.ring_size = Some(val()?),
            "buf_num" => e.buf_num = Some(val()?),
            "buf_size" => e.buf_size = Some(val()?),
            _ => return Err(unknown_key(p, Opt::Extmem, kv)),
        }
    }
    let Some(file) = file else {
        return Err(p.err(at, "option '@extmem' needs a file", EXTMEM_FIX));
    };
    e.file = file;
    out.extmem = Some(e);
    Ok(())
}

fn apply_offset(p: &Src<'_>, at: usize, kvs: &[KeyVal<'_>], out: &mut PortSpec) -> Result<()> {
    let (mut initial, mut bits) = (None, 0u32);
    for kv in kvs {
        match kv.key.as_str() {
            "initial" => initial = Some(p.number(kv.value, kv.value_at, u64::MAX, OFFSET_FIX)?),
            "bits" => {
                bits = p.number(
                    kv.value,
                    kv.value_at,
                    64,
                    "use bits=B with 0 <= B <= 64 (0 = all 64 bits)",
                )? as u32
            }
            _ => return Err(unknown_key(p, Opt::Offset, kv)),
        }
    }
    let Some(initial) = initial else {
        return Err(p.err(at, "option '@offset' needs the initial offset", OFFSET_FIX));
    };
    out.offset = Some(OffsetSpec { initial, bits });
    Ok(())
}

/// The spec being parsed, with helpers for positions and messages.
struct Src<'a> {
    spec: &'a str,
    b: &'a [u8],
}

impl<'a> Src<'a> {
    fn new(spec: &'a str) -> Self {
        Src {
            spec,
            b: spec.as_bytes(),
        }
    }

    /// 1-based character position of byte offset `at` (counts UTF-8 sequences, never slices).
    fn column(&self, at: usize) -> usize {
        let at = at.min(self.b.len());
        self.b[..at].iter().filter(|&&c| c & 0xc0 != 0x80).count() + 1
    }

    /// "found 'c'" or "but the name ends there", for byte offset `at`.
    fn found(&self, at: usize) -> String {
        match self.spec.get(at..).and_then(|s| s.chars().next()) {
            Some(c) => format!("found '{}'", c.escape_debug()),
            None if at >= self.b.len() => "but the name ends there".to_string(),
            None => "found a broken character".to_string(),
        }
    }

    fn err_code(&self, errno: i32, at: usize, what: impl AsRef<str>, fix: &str) -> Error {
        let shown = if self.spec.is_empty() {
            "\"\"".to_string()
        } else {
            self.spec.escape_debug().to_string()
        };
        Error::new(
            errno,
            format!(
                "{shown}: {} at character {} ({fix})",
                what.as_ref(),
                self.column(at)
            ),
        )
    }

    fn err(&self, at: usize, what: impl AsRef<str>, fix: &str) -> Error {
        self.err_code(libc::EINVAL, at, what, fix)
    }

    fn check_nul(&self) -> Result<()> {
        match self.b.iter().position(|&c| c == 0) {
            Some(i) => Err(self.err(i, "NUL byte inside the port name", "remove it")),
            None => Ok(()),
        }
    }

    /// First byte offset ≥ `from` holding one of `stops`, or the end.
    fn scan_until(&self, from: usize, stops: &[u8]) -> usize {
        let from = from.min(self.b.len());
        self.b[from..]
            .iter()
            .position(|c| stops.contains(c))
            .map_or(self.b.len(), |k| from + k)
    }

    /// Checks `valeSWITCH:` from byte `i` (after "vale"); returns the offset of the ':'.
    fn vale_colon(&self, mut i: usize) -> Result<usize> {
        while self.b.get(i).is_some_and(|&c| is_ident(c)) {
            i += 1;
        }
        match self.b.get(i) {
            Some(b':') => Ok(i),
            None => Err(self.err(
                i,
                "':' missing after the VALE switch name",
                "use valeSWITCH:PORT, e.g. vale0:p",
            )),
            Some(_) => Err(self.err(
                i,
                format!(
                    "VALE switch names may only contain letters, digits and '_', {}",
                    self.found(i)
                ),
                "use valeSWITCH:PORT, e.g. vale0:p",
            )),
        }
    }

    /// Checks the port part `[from, end)`: VALE ports are identifiers; with `pipes`, whatever
    /// follows the first `{`/`}` must be a non-empty identifier.
    fn check_port(&self, from: usize, end: usize, vale: bool, pipes: bool) -> Result<()> {
        let port = &self.b[from..end];
        let pipe = if pipes {
            port.iter().position(|&c| c == b'{' || c == b'}')
        } else {
            None
        };
        let base_len = pipe.unwrap_or(port.len());
        if vale {
            if base_len == 0 {
                return Err(self.err(
                    from,
                    "VALE port name missing",
                    "use valeSWITCH:PORT, e.g. vale0:p",
                ));
            }
            if let Some(k) = port[..base_len].iter().position(|&c| !is_ident(c)) {
                return Err(self.err(
                    from + k,
                    format!(
                        "VALE port names may only contain letters, digits and '_', {}",
                        self.found(from + k)
                    ),
                    "use valeSWITCH:PORT, e.g. vale0:p or vale0:p{1 for a pipe",
                ));
            }
        }
        if let Some(k) = pipe {
            let id_from = from + k + 1;
            let brace = port[k] as char;
            let id = &self.b[id_from..end];
            if id.is_empty() {
                return Err(self.err(
                    id_from,
                    format!("pipe id missing after '{brace}'"),
                    "use PORT{ID (master) or PORT}ID (slave), ID made of letters, digits and '_'",
                ));
            }
            if let Some(k) = id.iter().position(|&c| !is_ident(c)) {
                return Err(self.err(
                    id_from + k,
                    format!(
                        "pipe ids may only contain letters, digits and '_', {}",
                        self.found(id_from + k)
                    ),
                    "use PORT{ID (master) or PORT}ID (slave), ID made of letters, digits and '_'",
                ));
            }
        }
        Ok(())
    }

    /// Parses the digit run at `at` as a ring (or legacy pipe) number after `after`.
    fn ring_number(&self, at: usize, after: char) -> Result<(u16, usize)> {
        let what = if after == '{' || after == '}' {
            "pipe"
        } else {
            "ring"
        };
        let fix = match after {
            '^' => "use netmap:IFACE^N with 0 <= N < 4095",
            '{' => "use netmap:IFACE{N with 0 <= N < 4095",
            '}' => "use netmap:IFACE}N with 0 <= N < 4095",
            _ => RING_FIX,
        };
        let (digits, next) = self.digits(at);
        if digits.is_empty() {
            return Err(self.err(
                at,
                format!("{what} number expected after '{after}', {}", self.found(at)),
                fix,
            ));
        }
        match parse_decimal(digits) {
            Some(n) if n < RING_LIMIT => Ok((n as u16, next)),
            _ => Err(self.err(
                at,
                format!(
                    "{what} number {} out of range",
                    String::from_utf8_lossy(digits)
                ),
                fix,
            )),
        }
    }

    /// Parses `N` of `@N` at `at` into `mem_id`; returns the offset after the digits.
    fn mem_id(&self, at: usize, mem_id: &mut u16) -> Result<usize> {
        let (digits, next) = self.digits(at);
        let text = String::from_utf8_lossy(digits);
        let n = match parse_decimal(digits) {
            Some(n) if (1..=u16::MAX as u64).contains(&n) => n as u16,
            Some(0) => {
                return Err(self.err(at, "allocator id 0 is not valid", MEMID_FIX));
            }
            _ => {
                return Err(self.err(at, format!("allocator id {text} out of range"), MEMID_FIX));
            }
        };
        if *mem_id != 0 && *mem_id != n {
            return Err(self.err(
                at,
                format!("allocator id {n} conflicts with @{} given before", *mem_id),
                "give @N only once",
            ));
        }
        *mem_id = n;
        Ok(next)
    }

    /// The `NR_*` flag for the letter at `at`.
    fn flag(&self, at: usize) -> Result<u64> {
        match self.b[at] {
            b'x' => Ok(NR_EXCLUSIVE),
            b'z' => Ok(NR_ZCOPY_MON),
            b't' => Ok(NR_MONITOR_TX),
            b'r' => Ok(NR_MONITOR_RX),
            b'R' => Ok(NR_RX_RINGS_ONLY),
            b'T' => Ok(NR_TX_RINGS_ONLY),
            _ => Err(self.err(at, format!("unknown flag, {}", self.found(at)), FLAG_FIX)),
        }
    }

    fn check_end(&self, st: State) -> Result<()> {
        if st == (State::Flags { any: false }) {
            return Err(self.err(
                self.b.len(),
                "flag letters expected after '/', but the name ends there",
                FLAG_FIX,
            ));
        }
        Ok(())
    }

    /// The run of ASCII digits at `at`, and the offset after it.
    fn digits(&self, at: usize) -> (&'a [u8], usize) {
        let at = at.min(self.b.len());
        let len = self.b[at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (&self.b[at..at + len], at + len)
    }

    /// An option value that must be a decimal number ≤ `max`.
    fn number(&self, value: &str, at: usize, max: u64, fix: &str) -> Result<u64> {
        let bytes = value.as_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(self.err(
                at,
                format!("decimal number expected, found '{}'", value.escape_debug()),
                fix,
            ));
        }
        match parse_decimal(bytes) {
            Some(n) if n <= max => Ok(n),
            _ => Err(self.err(
                at,
                format!("number {value} out of range (at most {max})"),
                fix,
            )),
        }
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Decimal digits to u64; None on overflow (the caller guarantees digits only).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn einval(r: Result<impl std::fmt::Debug>, spec: &str) -> Error {
        let e = r.expect_err(spec);
        assert_eq!(e.errno(), libc::EINVAL, "{spec}: {}", e.message());
        assert!(
            e.message().contains(&spec.escape_debug().to_string()),
            "{spec}: message does not quote the spec: {}",
            e.message()
        );
        assert!(e.message().contains("at character"), "{}", e.message());
        e
    }

    /// §8.1 measured examples: spec, nr_name, nr_mode, ringid, nr_flags, mem_id.
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
        // Not in the table, but stated in §8.1.
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
            let s = parse_port(spec).unwrap_or_else(|e| panic!("{spec}: {}", e.message()));
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
            // Further cases stated in §8.1.
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
            e.message(),
            "netmap:eth0-x: ring number expected after '-', found 'x' at character 13 \
             (use netmap:IFACE-N with 0 <= N < 4095)"
        );
        let e = einval(parse_port("netmap:eth0-4096"), "netmap:eth0-4096");
        assert!(e.message().contains("4096 out of range"), "{}", e.message());
        let e = einval(parse_port("eth0"), "eth0");
        assert!(e.message().contains("prefix"), "{}", e.message());
        let e = einval(parse_port("vale0:p@foo"), "vale0:p@foo");
        assert!(
            e.message().contains("unknown option '@foo'"),
            "{}",
            e.message()
        );
        let e = einval(parse_port("netmap:eth0@conf=4"), "netmap:eth0@conf=4");
        assert!(e.message().contains("no default key"), "{}", e.message());
        let e = parse_port("").unwrap_err();
        assert!(e.message().starts_with("\"\": "), "{}", e.message());
        // Positions count characters, not bytes.
        let e = einval(parse_port("netmap:é-x"), "netmap:é-x");
        assert!(e.message().contains("at character 10"), "{}", e.message());
    }

    #[test]
    fn offset_disabled_by_default() {
        for spec in [
            "netmap:eth0@offset=64",
            "netmap:eth0@offset:initial=64,bits=8",
        ] {
            let e = parse_port(spec).unwrap_err();
            assert_eq!(e.errno(), libc::EOPNOTSUPP, "{spec}");
            assert!(e.message().contains(spec), "{}", e.message());
            assert!(
                e.message().contains("nmport_enable_option"),
                "{}",
                e.message()
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

    /// §8.2 measured examples: spec, nr_name, nr_flags, nr_ringid, nr_arg2.
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
        // Further cases stated in §8.2.
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
                .unwrap_or_else(|e| panic!("{spec}: {}", e.message()))
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
        assert!(e.message().contains("no ^N"), "{}", e.message());
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
            ] {
                if let Err(e) = r {
                    assert!(
                        e.errno() == libc::EINVAL || e.errno() == libc::EOPNOTSUPP,
                        "{spec}: errno {}",
                        e.errno()
                    );
                    assert!(!e.message().is_empty(), "{spec}: empty message");
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
}
