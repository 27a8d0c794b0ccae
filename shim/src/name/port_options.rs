//! The options of port names (`nmport_prepare`): `@share`, `@conf`, `@extmem` and `@offset`,
//! read with the one option grammar ([`super::options`]) and turned into [`PortSpec`] fields.

use super::error::ParseError;
use super::options::{Dialect, KeySpec, OptionFound, OptionSpec, OptionTable, Value};
use super::text::Text;
use super::{ExtmemSpec, OffsetSpec, PortSpec, RingConf};

const OPTION_FIX: &str =
    "options are @share=PORT, @conf:KEY=N,..., @extmem=FILE[,KEY=N...] and @offset=N";
const CONF_FIX: &str = "use @conf:KEY=N,... with keys rings, host-rings, slots, tx-rings, \
                        rx-rings, host-tx-rings, host-rx-rings, tx-slots, rx-slots";
const EXTMEM_FIX: &str = "use @extmem=FILE or @extmem:file=FILE,if-num=N,if-size=N,ring-num=N,\
                          ring-size=N,buf-num=N,buf-size=N";
const SHARE_FIX: &str = "use @share=PORT or @share:port=PORT";
const OFFSET_FIX: &str = "use @offset=N or @offset:initial=N,bits=B";
const OFFSET_DISABLED_FIX: &str = "enable it first with nmport_enable_option(\"offset\")";

/// Which option an `@name` selects (the [`OptionSpec::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Share,
    Conf,
    Extmem,
    Offset,
}

const ALL: [Opt; 4] = [Opt::Share, Opt::Conf, Opt::Extmem, Opt::Offset];

/// A key that needs a non-empty value; `must_set` for the one an option cannot do without.
const fn key(name: &'static [u8], slot: usize, must_set: bool) -> KeySpec<'static> {
    KeySpec {
        name,
        slot,
        allow_empty: false,
        must_set,
    }
}

const SHARE_KEYS: [KeySpec<'static>; 1] = [key(b"port", 0, true)];
const CONF_KEYS: [KeySpec<'static>; 9] = [
    key(b"rings", 0, false),
    key(b"host_rings", 1, false),
    key(b"slots", 2, false),
    key(b"tx_rings", 3, false),
    key(b"rx_rings", 4, false),
    key(b"host_tx_rings", 5, false),
    key(b"host_rx_rings", 6, false),
    key(b"tx_slots", 7, false),
    key(b"rx_slots", 8, false),
];
const EXTMEM_KEYS: [KeySpec<'static>; 7] = [
    key(b"file", 0, true),
    key(b"if_num", 1, false),
    key(b"if_size", 2, false),
    key(b"ring_num", 3, false),
    key(b"ring_size", 4, false),
    key(b"buf_num", 5, false),
    key(b"buf_size", 6, false),
];
const OFFSET_KEYS: [KeySpec<'static>; 2] = [key(b"initial", 0, true), key(b"bits", 1, false)];

impl Opt {
    fn name(self) -> &'static str {
        match self {
            Opt::Share => "share",
            Opt::Conf => "conf",
            Opt::Extmem => "extmem",
            Opt::Offset => "offset",
        }
    }

    fn spec(self, enable_offset: bool) -> OptionSpec<'static> {
        let (keys, default_key, fix): (&[KeySpec<'static>], _, _) = match self {
            Opt::Share => (&SHARE_KEYS, Some(0), SHARE_FIX),
            Opt::Conf => (&CONF_KEYS, None, CONF_FIX),
            Opt::Extmem => (&EXTMEM_KEYS, Some(0), EXTMEM_FIX),
            Opt::Offset => (&OFFSET_KEYS, Some(0), OFFSET_FIX),
        };
        OptionSpec {
            id: self as usize,
            name: self.name().as_bytes(),
            keys: keys.to_vec(),
            default_key,
            allow_bare: false,
            disabled: (self == Opt::Offset && !enable_offset)
                .then(|| OFFSET_DISABLED_FIX.to_string()),
            fix: fix.to_string(),
        }
    }
}

/// The options of port names; `@offset` is disabled unless `enable_offset` (libnetmap's
/// default, changed by `nmport_enable_option`).
struct PortOptions {
    enable_offset: bool,
}

impl OptionTable<'static> for PortOptions {
    fn dialect(&self) -> Dialect {
        Dialect::PortName
    }

    fn find(&self, name: &[u8]) -> Option<OptionSpec<'static>> {
        ALL.iter()
            .find(|o| o.name().as_bytes() == name)
            .map(|o| o.spec(self.enable_offset))
    }

    fn known(&self) -> String {
        OPTION_FIX.to_string()
    }
}

/// Reads the options of `spec` from the `@` at byte `from` into `out`.
pub(crate) fn parse_port_options(
    spec: &str,
    from: usize,
    enable_offset: bool,
    out: &mut PortSpec,
) -> Result<(), ParseError> {
    let t = Text::new(spec.as_bytes());
    let table = PortOptions { enable_offset };
    super::options::parse_options(spec.as_bytes(), from, &table, |opt, found| {
        let values = Values { t, spec, found };
        match ALL[opt.id] {
            Opt::Share => values.share(out),
            Opt::Conf => values.conf(out),
            Opt::Extmem => values.extmem(out),
            Opt::Offset => values.offset(out),
        }
    })
}

/// The values of one option, by key slot.
struct Values<'a> {
    t: Text<'a>,
    spec: &'a str,
    found: &'a OptionFound,
}

impl Values<'_> {
    /// The values with their key slots, in the order given.
    fn each(&self, keys: &[KeySpec<'_>]) -> impl Iterator<Item = (usize, Value)> + '_ {
        let slots: Vec<usize> = keys.iter().map(|k| k.slot).collect();
        self.found.values.iter().map(move |v| (slots[v.key], *v))
    }

    fn text(&self, v: Value) -> String {
        // Values end at ASCII delimiters, so these are char boundaries.
        self.spec.get(v.at..v.end).unwrap_or_default().to_string()
    }

    fn number(&self, v: Value, max: u64, fix: &str) -> Result<u64, ParseError> {
        self.t.number(v.at, v.end, max, fix)
    }

    fn share(&self, out: &mut PortSpec) -> Result<(), ParseError> {
        for (_, v) in self.each(&SHARE_KEYS) {
            out.share = Some(self.text(v));
        }
        Ok(())
    }

    fn conf(&self, out: &mut PortSpec) -> Result<(), ParseError> {
        // General keys fill both directions; specific keys win regardless of order.
        let (mut rings, mut host_rings, mut slots) = (None, None, None);
        let mut c = RingConf::default();
        for (slot, v) in self.each(&CONF_KEYS) {
            let ring_val = || {
                self.number(v, u64::from(u16::MAX), CONF_FIX)
                    .map(|n| n as u16)
            };
            let slot_val = || {
                self.number(v, u64::from(u32::MAX), CONF_FIX)
                    .map(|n| n as u32)
            };
            match slot {
                0 => rings = Some(ring_val()?),
                1 => host_rings = Some(ring_val()?),
                2 => slots = Some(slot_val()?),
                3 => c.tx_rings = Some(ring_val()?),
                4 => c.rx_rings = Some(ring_val()?),
                5 => c.host_tx_rings = Some(ring_val()?),
                6 => c.host_rx_rings = Some(ring_val()?),
                7 => c.tx_slots = Some(slot_val()?),
                _ => c.rx_slots = Some(slot_val()?),
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

    fn extmem(&self, out: &mut PortSpec) -> Result<(), ParseError> {
        let mut e = ExtmemSpec {
            file: String::new(),
            if_num: None,
            if_size: None,
            ring_num: None,
            ring_size: None,
            buf_num: None,
            buf_size: None,
        };
        for (slot, v) in self.each(&EXTMEM_KEYS) {
            if slot == 0 {
                e.file = self.text(v);
                continue;
            }
            let n = Some(self.number(v, u64::from(u32::MAX), EXTMEM_FIX)? as u32);
            match slot {
                1 => e.if_num = n,
                2 => e.if_size = n,
                3 => e.ring_num = n,
                4 => e.ring_size = n,
                5 => e.buf_num = n,
                _ => e.buf_size = n,
            }
        }
        out.extmem = Some(e);
        Ok(())
    }

    fn offset(&self, out: &mut PortSpec) -> Result<(), ParseError> {
        let (mut initial, mut bits) = (0, 0);
        for (slot, v) in self.each(&OFFSET_KEYS) {
            if slot == 0 {
                initial = self.number(v, u64::MAX, OFFSET_FIX)?;
            } else {
                bits = self.number(v, 64, "use bits=B with 0 <= B <= 64 (0 = all 64 bits)")? as u32;
            }
        }
        out.offset = Some(OffsetSpec { initial, bits });
        Ok(())
    }
}
