//! Process-wide settings, read once from the environment (documented in the README).

use crate::error::{Error, Result};

/// Which XDP attach mode to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpModeChoice {
    /// Native (driver) first, generic (SKB) as fallback.
    Auto,
    /// Native (driver) mode only (`NMXDP_XDP_MODE=native` or `drv`): the open fails with the
    /// driver's error if it cannot run XDP itself.
    Native,
    /// Generic (SKB) mode only (`NMXDP_XDP_MODE=skb` or `generic`): works on every interface,
    /// but the program runs after the kernel has built an skb, which is slower.
    Skb,
}

/// Which AF_XDP bind mode to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindChoice {
    /// Zero-copy first, copy as fallback.
    Auto,
    /// Zero-copy only (`NMXDP_BIND=zc` or `zerocopy`): the bind fails on drivers without
    /// AF_XDP zero-copy support, veth among them.
    ZeroCopy,
    /// Copy mode only (`NMXDP_BIND=copy`): the kernel copies every frame between the driver and
    /// the UMEM; works with every driver.
    Copy,
}

/// Which region the process uses (`NMXDP_REGION`; docs/architecture.md, "Shared region").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionChoice {
    /// The global shared region (`shared:1`) for a process that can open ports (CAP_NET_RAW),
    /// else a private one: an unprivileged process (pipes, unit tests) could not share the
    /// region's file with them.
    Auto,
    /// A region of this process alone, in anonymous memory (`NMXDP_REGION=private`).
    Private,
    /// The shared region of this name (`NMXDP_REGION=shared` is `shared:1`, the global one;
    /// `shared:NAME` another), in `/dev/shm/nmxdp-region-NAME`.
    Shared(String),
}

/// Name of the global shared region (mem id 1).
pub const GLOBAL_REGION: &str = "1";

impl RegionChoice {
    fn parse(v: &str) -> Result<RegionChoice> {
        let bad = || {
            Error::new(
                libc::EINVAL,
                format!("NMXDP_REGION={v}: expected private, shared, shared:NAME (NAME of letters, digits, '-', '_' and '.') or auto"),
            )
        };
        match v.trim() {
            "" | "auto" => Ok(RegionChoice::Auto),
            "private" => Ok(RegionChoice::Private),
            "shared" => Ok(RegionChoice::Shared(GLOBAL_REGION.to_string())),
            s => match s.strip_prefix("shared:") {
                Some(n) if crate::region::valid_region_name(n) => {
                    Ok(RegionChoice::Shared(n.to_string()))
                }
                _ => Err(bad()),
            },
        }
    }
}

/// Settings of the region and of newly created rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Buffer stride and UMEM chunk size (2048 or 4096).
    pub buf_size: u32,
    /// Buffers in the pool, including the reserved buffers 0 and 1.
    pub buf_num: u32,
    /// `netmap_if` objects (one per open port).
    pub if_num: u32,
    /// Bytes of one `netmap_if` object.
    pub if_size: u32,
    /// Ring objects of `ring_size` bytes the ring pool can hold.
    pub ring_num: u32,
    /// Bytes per ring object budgeted in the ring pool.
    pub ring_size: u32,
    /// Default slots per ring when a port does not say (`@conf:slots=`).
    pub slots: u32,
    /// XDP attach mode used when this process attaches the program to an interface
    /// (`NMXDP_XDP_MODE`). An interface that already runs nmxdp's program is joined in whatever
    /// mode it has.
    pub xdp_mode: XdpModeChoice,
    /// AF_XDP bind mode of the socket that registers the UMEM (`NMXDP_BIND`). Every later socket
    /// of the process shares that UMEM and therefore its mode (docs/netmap-compat.md, "Queues,
    /// processes and the host stack").
    pub bind: BindChoice,
    /// RX wakeup mitigation: in a stream (see `port_poll::DENSE_SLOTS`), poll() naps this long
    /// instead of sleeping on the socket, so the sending side has no sleeper to wake per packet
    /// burst (0 = always sleep on the socket).
    pub rx_nap_us: u32,
    /// Sparse traffic: before poll() sleeps on the sockets, it looks again for this long
    /// (`NMXDP_RX_SPIN_US`), so an answer that comes within it costs no sleep and no wake-up
    /// (0 = sleep at once). Only when traffic is sparse (no nap planned): a stream never spins.
    pub rx_spin_us: u32,
    /// Selective steering (`NMXDP_STEER`): a rule in the tcpdump vocabulary (see
    /// [`crate::steer`]); the queues this process receives on get only the frames it matches,
    /// the others go to the kernel stack. None: every frame, as in netmap.
    pub steer: Option<String>,
    /// Which region: shared by every process or private (`NMXDP_REGION`).
    pub region: RegionChoice,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            buf_size: 2048,
            buf_num: 32768,
            if_num: 128,
            if_size: 1024,
            ring_num: 128,
            ring_size: 36864,
            slots: 1024,
            xdp_mode: XdpModeChoice::Auto,
            bind: BindChoice::Auto,
            rx_nap_us: 50,
            rx_spin_us: 20,
            steer: None,
            region: RegionChoice::Auto,
        }
    }
}

/// Largest slot count of a ring: larger `@conf:` sizes are clamped to it, a larger `NMXDP_SLOTS`
/// is `EINVAL` (docs/netmap-compat.md, "Rings and slots").
pub const MAX_SLOTS: u32 = 4096;
/// Smallest ring we create: AF_XDP needs room for at least a burst.
pub const MIN_SLOTS: u32 = 64;

fn env_u32(name: &str, default: u32, min: u32, max: u32) -> Result<u32> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(Error::new(
                libc::EINVAL,
                format!("{name}={v}: expected a number from {min} to {max}"),
            )),
        },
    }
}

impl Config {
    /// Reads `NMXDP_*` variables over the defaults.
    pub fn from_env() -> Result<Config> {
        let d = Config::default();
        let buf_size = env_u32("NMXDP_BUF_SIZE", d.buf_size, 2048, 4096)?;
        if buf_size != 2048 && buf_size != 4096 {
            return Err(Error::new(
                libc::EINVAL,
                format!("NMXDP_BUF_SIZE={buf_size}: AF_XDP chunks must be 2048 or 4096 bytes"),
            ));
        }
        let xdp_mode = match std::env::var("NMXDP_XDP_MODE").as_deref() {
            Err(_) | Ok("") | Ok("auto") => XdpModeChoice::Auto,
            Ok("native") | Ok("drv") => XdpModeChoice::Native,
            Ok("skb") | Ok("generic") => XdpModeChoice::Skb,
            Ok(v) => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("NMXDP_XDP_MODE={v}: expected native, skb or auto"),
                ))
            }
        };
        let bind = match std::env::var("NMXDP_BIND").as_deref() {
            Err(_) | Ok("") | Ok("auto") => BindChoice::Auto,
            Ok("zc") | Ok("zerocopy") => BindChoice::ZeroCopy,
            Ok("copy") => BindChoice::Copy,
            Ok(v) => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("NMXDP_BIND={v}: expected zc, copy or auto"),
                ))
            }
        };
        Ok(Config {
            buf_size,
            buf_num: env_u32("NMXDP_BUF_NUM", d.buf_num, 1024, 1 << 20)?,
            if_num: env_u32("NMXDP_IF_NUM", d.if_num, 4, 4096)?,
            if_size: d.if_size,
            ring_num: env_u32("NMXDP_RING_NUM", d.ring_num, 4, 4096)?,
            ring_size: d.ring_size,
            slots: env_u32("NMXDP_SLOTS", d.slots, MIN_SLOTS, MAX_SLOTS)?,
            xdp_mode,
            bind,
            rx_nap_us: env_u32("NMXDP_RX_NAP_US", d.rx_nap_us, 0, 10_000)?,
            rx_spin_us: env_u32("NMXDP_RX_SPIN_US", d.rx_spin_us, 0, 10_000)?,
            steer: steer_from_env()?,
            region: RegionChoice::parse(&std::env::var("NMXDP_REGION").unwrap_or_default())?,
        })
    }
}

/// Does this process have CAP_NET_RAW (`CapEff` in /proc/self/status), which AF_XDP sockets
/// need?
fn has_net_raw() -> bool {
    crate::caps::effective() & crate::caps::NET_RAW != 0
}

/// `NMXDP_STEER`, checked (an empty value is no rule): EINVAL with the column of what is wrong.
fn steer_from_env() -> Result<Option<String>> {
    match std::env::var("NMXDP_STEER") {
        Ok(v) if !v.trim().is_empty() => {
            crate::steer::Rule::parse(&v)
                .map_err(|e| Error::new(e.errno(), format!("NMXDP_STEER: {e}")))?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

/// Setters for building a configuration in code (`Config::from_env()?.buf_num(65536)`), and
/// the checks the `NMXDP_*` variables get; pass the result to [`crate::configure`].
impl Config {
    /// Buffer stride and UMEM chunk size: 2048 or 4096.
    pub fn buf_size(mut self, v: u32) -> Self {
        self.buf_size = v;
        self
    }

    /// Buffers in the pool (1024 to 2^20).
    pub fn buf_num(mut self, v: u32) -> Self {
        self.buf_num = v;
        self
    }

    /// Default slots per ring ([`MIN_SLOTS`] to [`MAX_SLOTS`]).
    pub fn slots(mut self, v: u32) -> Self {
        self.slots = v;
        self
    }

    /// `netmap_if` objects, one per open port (4 to 4096).
    pub fn if_num(mut self, v: u32) -> Self {
        self.if_num = v;
        self
    }

    /// Ring objects the ring pool holds (4 to 4096).
    pub fn ring_num(mut self, v: u32) -> Self {
        self.ring_num = v;
        self
    }

    /// XDP attach mode.
    pub fn xdp_mode(mut self, v: XdpModeChoice) -> Self {
        self.xdp_mode = v;
        self
    }

    /// AF_XDP bind mode.
    pub fn bind(mut self, v: BindChoice) -> Self {
        self.bind = v;
        self
    }

    /// RX wake-up mitigation nap in microseconds (0 = off).
    pub fn rx_nap_us(mut self, v: u32) -> Self {
        self.rx_nap_us = v;
        self
    }

    /// Look-again time before sleeping on sparse traffic, in microseconds (0 = off).
    pub fn rx_spin_us(mut self, v: u32) -> Self {
        self.rx_spin_us = v;
        self
    }

    /// Selective steering rule (None: every frame to the rings).
    pub fn steer(mut self, rule: Option<&str>) -> Self {
        self.steer = rule.map(str::to_string);
        self
    }

    /// Which region to use.
    pub fn region(mut self, v: RegionChoice) -> Self {
        self.region = v;
        self
    }

    /// The shared region this configuration asks for, by name; None for a private one.
    /// Unit tests never share implicitly.
    pub fn region_name(&self) -> Option<String> {
        match &self.region {
            RegionChoice::Private => None,
            RegionChoice::Shared(n) => Some(n.clone()),
            RegionChoice::Auto if !cfg!(test) && has_net_raw() => Some(GLOBAL_REGION.to_string()),
            RegionChoice::Auto => None,
        }
    }

    /// The ranges the `NMXDP_*` variables are held to, for a configuration built in code.
    pub fn validate(&self) -> Result<()> {
        let range = |name: &str, v: u32, min: u32, max: u32| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(Error::new(
                    libc::EINVAL,
                    format!("{name} {v}: expected a number from {min} to {max}"),
                ))
            }
        };
        if self.buf_size != 2048 && self.buf_size != 4096 {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "buf_size {}: AF_XDP chunks must be 2048 or 4096 bytes",
                    self.buf_size
                ),
            ));
        }
        range("buf_num", self.buf_num, 1024, 1 << 20)?;
        range("if_num", self.if_num, 4, 4096)?;
        range("ring_num", self.ring_num, 4, 4096)?;
        range("slots", self.slots, MIN_SLOTS, MAX_SLOTS)?;
        if let Some(rule) = &self.steer {
            crate::steer::Rule::parse(rule)?;
        }
        if let RegionChoice::Shared(n) = &self.region {
            if !crate::region::valid_region_name(n) {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("region name {n:?}: letters, digits, '-', '_' and '.' only"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    #[test]
    fn setters_and_ranges() {
        let c = Config::default().buf_num(4096).slots(256).rx_nap_us(0);
        assert_eq!((c.buf_num, c.slots, c.rx_nap_us), (4096, 256, 0));
        assert!(c.validate().is_ok());
        let e = Config::default().buf_size(3000).validate().unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL);
        assert!(Config::default().slots(MAX_SLOTS + 1).validate().is_err());
        assert!(Config::default().buf_num(10).validate().is_err());
        let bad = Config::default().region(RegionChoice::Shared("../x".into()));
        assert_eq!(bad.validate().unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn region_choices() {
        assert_eq!(RegionChoice::parse("").unwrap(), RegionChoice::Auto);
        assert_eq!(
            RegionChoice::parse("private").unwrap(),
            RegionChoice::Private
        );
        assert_eq!(
            RegionChoice::parse("shared").unwrap(),
            RegionChoice::Shared(GLOBAL_REGION.into())
        );
        assert_eq!(
            RegionChoice::parse("shared:lb-2").unwrap(),
            RegionChoice::Shared("lb-2".into())
        );
        for bad in ["shared:", "shared:a/b", "shared:.x", "public"] {
            let e = RegionChoice::parse(bad).unwrap_err();
            assert_eq!(e.errno(), libc::EINVAL);
            assert!(e.message().contains("NMXDP_REGION"), "{e}");
        }
        assert_eq!(
            Config::default().region_name(),
            None,
            "unit tests stay private"
        );
    }
}
