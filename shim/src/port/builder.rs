//! Opening a port from typed settings instead of a name string: the register mode, the
//! registration flags, ring sizes and extra buffers (docs/netmap-compat.md, "Register modes and
//! flags"). `Port::open("netmap:eth0-1/T@conf:slots=512")` and
//! `Port::builder("eth0").mode(RegMode::OneNic(1)).flags(RegFlags::TX_RINGS_ONLY).slots(512)`
//! open the same port.

use super::Port;
use crate::abi::{
    NR_EXCLUSIVE, NR_MONITOR_RX, NR_MONITOR_TX, NR_NO_TX_POLL, NR_REG_ALL_NIC, NR_REG_NIC_SW,
    NR_REG_NULL, NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_REG_PIPE_MASTER, NR_REG_PIPE_SLAVE, NR_REG_SW,
    NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, NR_ZCOPY_MON,
};
use crate::error::{Error, Result};
use crate::name::{parse_port, PortSpec};

/// Which rings of the interface a port binds (netmap's `NR_REG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegMode {
    /// Every hardware ring pair (`netmap:eth0`).
    AllNic,
    /// One hardware ring pair (`netmap:eth0-N`).
    OneNic(u16),
    /// The host rings only (`netmap:eth0^`).
    Sw,
    /// The hardware and the host rings (`netmap:eth0*`).
    NicSw,
    /// One host ring pair (`netmap:eth0^N`).
    OneSw(u16),
    /// The master end of pipe N (`netmap:eth0{N`).
    PipeMaster(u16),
    /// The slave end of pipe N (`netmap:eth0}N`).
    PipeSlave(u16),
    /// No rings (`NR_REG_NULL`).
    Null,
}

impl RegMode {
    /// netmap's `(nr_mode, nr_ringid)` pair.
    pub fn raw(self) -> (u32, u16) {
        match self {
            RegMode::AllNic => (NR_REG_ALL_NIC, 0),
            RegMode::OneNic(i) => (NR_REG_ONE_NIC, i),
            RegMode::Sw => (NR_REG_SW, 0),
            RegMode::NicSw => (NR_REG_NIC_SW, 0),
            RegMode::OneSw(i) => (NR_REG_ONE_SW, i),
            RegMode::PipeMaster(i) => (NR_REG_PIPE_MASTER, i),
            RegMode::PipeSlave(i) => (NR_REG_PIPE_SLAVE, i),
            RegMode::Null => (NR_REG_NULL, 0),
        }
    }

    /// The mode of a raw `(nr_mode, nr_ringid)` pair; None for an unknown mode.
    pub fn from_raw(mode: u32, ringid: u16) -> Option<RegMode> {
        Some(match mode {
            NR_REG_ALL_NIC => RegMode::AllNic,
            NR_REG_ONE_NIC => RegMode::OneNic(ringid),
            NR_REG_SW => RegMode::Sw,
            NR_REG_NIC_SW => RegMode::NicSw,
            NR_REG_ONE_SW => RegMode::OneSw(ringid),
            NR_REG_PIPE_MASTER => RegMode::PipeMaster(ringid),
            NR_REG_PIPE_SLAVE => RegMode::PipeSlave(ringid),
            NR_REG_NULL => RegMode::Null,
            _ => return None,
        })
    }
}

bitflags::bitflags! {
    /// Registration flags (netmap's `NR_*` bits of `nr_flags`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RegFlags: u64 {
        /// Bind the TX rings only (`/T`).
        const TX_RINGS_ONLY = NR_TX_RINGS_ONLY;
        /// Bind the RX rings only (`/R`).
        const RX_RINGS_ONLY = NR_RX_RINGS_ONLY;
        /// poll() does not flush TX unless POLLOUT is asked.
        const NO_TX_POLL = NR_NO_TX_POLL;
        /// No other port may bind these rings (`/x`).
        const EXCLUSIVE = NR_EXCLUSIVE;
        /// Monitor the TX rings (`/t`).
        const MONITOR_TX = NR_MONITOR_TX;
        /// Monitor the RX rings (`/r`).
        const MONITOR_RX = NR_MONITOR_RX;
        /// Zero-copy monitor (`/z`).
        const ZCOPY_MON = NR_ZCOPY_MON;
    }
}

/// Settings of a port to open; see [`Port::builder`].
#[derive(Debug, Clone)]
pub struct PortBuilder {
    spec: Result<PortSpec>,
    extra_bufs: u32,
}

impl Port {
    /// A port on interface `ifname` (no `netmap:` prefix), binding every hardware ring until
    /// told otherwise. A full netmap name is accepted too and gives the starting settings.
    ///
    /// ```no_run
    /// use nmxdp::{Port, RegFlags, RegMode};
    /// let port = Port::builder("eth0")
    ///     .mode(RegMode::OneNic(1))
    ///     .flags(RegFlags::TX_RINGS_ONLY)
    ///     .slots(512)
    ///     .open()?;
    /// # Ok::<(), nmxdp::Error>(())
    /// ```
    pub fn builder(ifname: &str) -> PortBuilder {
        let name = if ifname.contains(':') {
            ifname.to_string()
        } else {
            format!("netmap:{ifname}")
        };
        PortBuilder {
            spec: parse_port(&name).map_err(Error::from),
            extra_bufs: 0,
        }
    }
}

impl PortBuilder {
    fn with(mut self, f: impl FnOnce(&mut PortSpec)) -> Self {
        if let Ok(s) = self.spec.as_mut() {
            f(s);
        }
        self
    }

    /// Which rings to bind. A pipe end becomes part of the name (`eth0` with
    /// `RegMode::PipeMaster(1)` opens `eth0{1`), as netmap translates the legacy pipe modes.
    pub fn mode(self, mode: RegMode) -> Self {
        self.with(|s| match mode {
            RegMode::PipeMaster(i) | RegMode::PipeSlave(i) => {
                let brace = if matches!(mode, RegMode::PipeMaster(_)) {
                    '{'
                } else {
                    '}'
                };
                s.name = format!("{}{brace}{i}", s.name);
                (s.mode, s.ringid) = (NR_REG_ALL_NIC, 0);
            }
            _ => (s.mode, s.ringid) = mode.raw(),
        })
    }

    /// Registration flags (replacing those the name gave).
    pub fn flags(self, flags: RegFlags) -> Self {
        self.with(|s| s.flags = flags.bits())
    }

    /// Slots of every ring (`@conf:slots=N`); nmxdp clamps it to what it supports.
    pub fn slots(self, n: u32) -> Self {
        self.with(|s| {
            s.conf.tx_slots = Some(n);
            s.conf.rx_slots = Some(n);
        })
    }

    /// Slots of the TX rings (`@conf:tx-slots=N`).
    pub fn tx_slots(self, n: u32) -> Self {
        self.with(|s| s.conf.tx_slots = Some(n))
    }

    /// Slots of the RX rings (`@conf:rx-slots=N`).
    pub fn rx_slots(self, n: u32) -> Self {
        self.with(|s| s.conf.rx_slots = Some(n))
    }

    /// Extra buffers to link from `ni_bufs_head` (netmap's `nr_extra_bufs`; fewer may be given).
    pub fn extra_bufs(mut self, n: u32) -> Self {
        self.extra_bufs = n;
        self
    }

    /// The settings as a parsed port name.
    pub fn spec(&self) -> Result<&PortSpec> {
        self.spec.as_ref().map_err(Clone::clone)
    }

    /// Opens the port.
    pub fn open(self) -> Result<Port> {
        let spec = self.spec?;
        if RegMode::from_raw(spec.mode, spec.ringid).is_none() {
            return Err(Error::new(
                libc::EINVAL,
                format!("{}: invalid register mode {}", spec.name, spec.mode),
            ));
        }
        Port::open_spec(spec, self.extra_bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_name_give_the_same_spec() {
        let b = Port::builder("eth0")
            .mode(RegMode::OneNic(1))
            .flags(RegFlags::TX_RINGS_ONLY)
            .slots(512);
        let n = parse_port("netmap:eth0-1/T@conf:slots=512").unwrap();
        let s = b.spec().unwrap();
        assert_eq!((s.mode, s.ringid, s.flags), (n.mode, n.ringid, n.flags));
        assert_eq!(s.conf.tx_slots, n.conf.tx_slots);
        assert_eq!(s.conf.rx_slots, n.conf.rx_slots);
    }

    #[test]
    fn modes_round_trip() {
        for m in [
            RegMode::AllNic,
            RegMode::OneNic(3),
            RegMode::Sw,
            RegMode::NicSw,
            RegMode::OneSw(1),
            RegMode::PipeMaster(2),
            RegMode::PipeSlave(2),
            RegMode::Null,
        ] {
            let (mode, ring) = m.raw();
            assert_eq!(RegMode::from_raw(mode, ring), Some(m));
        }
        assert_eq!(RegMode::from_raw(99, 0), None);
    }

    #[test]
    fn pipe_modes_become_names() {
        let s = Port::builder("x").mode(RegMode::PipeSlave(3));
        let s = s.spec().unwrap();
        assert_eq!(
            (s.name.as_str(), s.mode, s.ringid),
            ("x}3", NR_REG_ALL_NIC, 0)
        );
    }

    #[test]
    fn a_bad_name_is_reported_at_open() {
        let e = Port::builder("netmap:eth0-x")
            .slots(64)
            .open()
            .err()
            .expect("a bad name fails");
        assert_eq!(e.errno(), libc::EINVAL);
    }
}
