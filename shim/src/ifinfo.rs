//! Facts about a network interface needed to open a netmap port on it: index, MTU, MAC address,
//! state, queue counts, ring sizes and driver.
//!
//! Everything is read with ioctls on a datagram socket created for the call. A socket belongs to
//! the network namespace of the thread that created it, so the answers are those of the calling
//! thread's namespace, even after that thread did `setns()`. sysfs is used only as a fallback for
//! the queue counts, and only when it visibly describes the same interface (matching ifindex),
//! because `/sys/class/net` shows the namespace sysfs was mounted in, not the caller's.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// What nmxdp needs to know about an interface before binding AF_XDP sockets to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfInfo {
    /// Interface name, as given.
    pub name: String,
    /// Interface index in the calling thread's network namespace.
    pub ifindex: u32,
    /// MTU in bytes (without the Ethernet header).
    pub mtu: u32,
    /// Hardware address; all zero for interfaces without one (loopback, tun).
    pub mac: [u8; 6],
    /// `IFF_UP` is set.
    pub is_up: bool,
    /// Number of RX queues in use. AF_XDP bind accepts `queue_id < max(rx_queues, tx_queues)`.
    pub rx_queues: u32,
    /// Number of TX queues in use.
    pub tx_queues: u32,
    /// Current RX ring size (ethtool `rx_pending`), `None` if the driver does not report it.
    pub rx_ring_size: Option<u32>,
    /// Current TX ring size (ethtool `tx_pending`), `None` if the driver does not report it.
    pub tx_ring_size: Option<u32>,
    /// Driver name from ethtool drvinfo (for example `"veth"`), `None` if not reported.
    pub driver: Option<String>,
}

/// `ETHTOOL_GDRVINFO` from `linux/ethtool.h`.
const ETHTOOL_GDRVINFO: u32 = 0x03;
/// `ETHTOOL_GRINGPARAM` from `linux/ethtool.h`.
const ETHTOOL_GRINGPARAM: u32 = 0x10;
/// `ETHTOOL_GCHANNELS` from `linux/ethtool.h`.
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels` (`linux/ethtool.h`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// `struct ethtool_ringparam` (`linux/ethtool.h`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolRingparam {
    cmd: u32,
    rx_max_pending: u32,
    rx_mini_max_pending: u32,
    rx_jumbo_max_pending: u32,
    tx_max_pending: u32,
    rx_pending: u32,
    rx_mini_pending: u32,
    rx_jumbo_pending: u32,
    tx_pending: u32,
}

/// `struct ethtool_drvinfo` (`linux/ethtool.h`), 196 bytes.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

// The kernel copies exactly these sizes in and out; a wrong layout would corrupt memory.
const _: () = assert!(std::mem::size_of::<EthtoolChannels>() == 36);
const _: () = assert!(std::mem::size_of::<EthtoolRingparam>() == 36);
const _: () = assert!(std::mem::size_of::<EthtoolDrvinfo>() == 196);

/// Marker for the ethtool command structs: plain `u32`/byte fields, any bit pattern valid, and
/// the first field is the `u32` command.
trait EthtoolCmd: Default {}
impl EthtoolCmd for EthtoolChannels {}
impl EthtoolCmd for EthtoolRingparam {}
impl EthtoolCmd for EthtoolDrvinfo {}

/// Returns the facts about interface `name` in the calling thread's network namespace.
///
/// Errors: `ENXIO` (what netmap answers) when the name is not a valid interface name or no
/// interface has that name; the errno of the failing ioctl for other failures.
pub fn if_info(name: &str) -> Result<IfInfo> {
    let ifname = IfName::new(name)?;
    let sock = Ctl::open()?;

    let mut ifr = ifname.ifreq();
    sock.ioctl(libc::SIOCGIFINDEX as _, &mut ifr)
        .map_err(|e| not_found_or(name, e, "SIOCGIFINDEX"))?;
    // SAFETY: SIOCGIFINDEX succeeded, so the kernel wrote `ifr_ifindex` in the union.
    let ifindex = unsafe { ifr.ifr_ifru.ifru_ifindex };

    let mut ifr = ifname.ifreq();
    sock.ioctl(libc::SIOCGIFMTU as _, &mut ifr)
        .map_err(|e| not_found_or(name, e, "SIOCGIFMTU"))?;
    // SAFETY: SIOCGIFMTU succeeded, so the kernel wrote `ifr_mtu` in the union.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };

    let mut ifr = ifname.ifreq();
    sock.ioctl(libc::SIOCGIFHWADDR as _, &mut ifr)
        .map_err(|e| not_found_or(name, e, "SIOCGIFHWADDR"))?;
    // SAFETY: SIOCGIFHWADDR succeeded, so the kernel wrote `ifr_hwaddr` (a plain sockaddr,
    // valid for any bit pattern) in the union.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, b) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *m = *b as u8;
    }

    let mut ifr = ifname.ifreq();
    sock.ioctl(libc::SIOCGIFFLAGS as _, &mut ifr)
        .map_err(|e| not_found_or(name, e, "SIOCGIFFLAGS"))?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel wrote `ifr_flags` in the union.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    let is_up = (flags as i32 & libc::IFF_UP) != 0;

    let ifindex = u32::try_from(ifindex).map_err(|_| {
        Error::new(
            libc::EIO,
            format!("{name}: the kernel returned a negative interface index ({ifindex})"),
        )
    })?;

    // GCHANNELS reports the queues in use (veth: real_num_{rx,tx}_queues; NICs: usually
    // combined channels); sysfs only if the driver does not implement it.
    let channels = sock
        .ethtool::<EthtoolChannels>(&ifname, ETHTOOL_GCHANNELS)
        .map(|ch| {
            (
                ch.rx_count.saturating_add(ch.combined_count),
                ch.tx_count.saturating_add(ch.combined_count),
            )
        })
        .filter(|&(rx, tx)| rx > 0 || tx > 0);
    let (rx_queues, tx_queues) = match channels {
        Some((rx, tx)) => (rx.max(1), tx.max(1)),
        None => sysfs_queues(name, ifindex).unwrap_or((1, 1)),
    };

    let (rx_ring_size, tx_ring_size) =
        match sock.ethtool::<EthtoolRingparam>(&ifname, ETHTOOL_GRINGPARAM) {
            Some(r) => (nonzero(r.rx_pending), nonzero(r.tx_pending)),
            None => (None, None),
        };

    let driver = sock
        .ethtool::<EthtoolDrvinfo>(&ifname, ETHTOOL_GDRVINFO)
        .and_then(|d| c_bytes_to_string(&d.driver));

    Ok(IfInfo {
        name: name.to_string(),
        ifindex,
        mtu: u32::try_from(mtu).unwrap_or(0),
        mac,
        is_up,
        rx_queues,
        tx_queues,
        rx_ring_size,
        tx_ring_size,
        driver,
    })
}

/// A name checked the way the kernel checks interface names (`dev_valid_name`), ready to be
/// copied into `ifr_name`.
struct IfName {
    bytes: [libc::c_char; libc::IFNAMSIZ],
}

impl IfName {
    fn new(name: &str) -> Result<IfName> {
        let invalid = |why: &str| {
            Error::new(
                libc::ENXIO,
                format!(
                    "{name:?}: not a valid network interface name: {why} \
                     (check the name with 'ip link')"
                ),
            )
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.len() >= libc::IFNAMSIZ {
            return Err(invalid(&format!(
                "the name is too long ({} bytes; Linux allows at most {})",
                name.len(),
                libc::IFNAMSIZ - 1
            )));
        }
        if name == "." || name == ".." {
            return Err(invalid("\".\" and \"..\" are not allowed"));
        }
        // ':' matters beyond validity: the interface ioctls strip an alias suffix, so "lo:1"
        // would silently answer for "lo".
        if let Some(c) = name
            .chars()
            .find(|&c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
        {
            return Err(invalid(&format!("it contains {c:?}")));
        }
        let mut bytes = [0 as libc::c_char; libc::IFNAMSIZ];
        for (d, s) in bytes.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        Ok(IfName { bytes })
    }

    /// A zeroed `ifreq` carrying this name (NUL-terminated: the name is at most 15 bytes).
    fn ifreq(&self) -> libc::ifreq {
        // SAFETY: `ifreq` is a C struct of a byte array and a union of plain data (integers,
        // sockaddr, byte arrays, a raw pointer); all-zero bytes are a valid value for each.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        ifr.ifr_name = self.bytes;
        ifr
    }
}

/// The control socket the interface ioctls go through.
struct Ctl {
    fd: OwnedFd,
}

impl Ctl {
    /// Opens a datagram socket in the calling thread's network namespace: `AF_INET` if IPv4 is
    /// available, otherwise `AF_UNIX` (the interface ioctls work on any socket family).
    fn open() -> Result<Ctl> {
        let mut last = Error::new(libc::EIO, "no socket family available");
        for family in [libc::AF_INET, libc::AF_UNIX] {
            // SAFETY: plain socket(2) call with constant arguments; no pointers involved.
            let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
            if fd >= 0 {
                // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                return Ok(Ctl { fd });
            }
            last = Error::last_os("socket() for interface ioctls");
        }
        Err(last)
    }

    /// `ioctl(fd, req, ifr)` for the `SIOCGIF*` and `SIOCETHTOOL` requests.
    fn ioctl(&self, req: libc::Ioctl, ifr: &mut libc::ifreq) -> std::io::Result<()> {
        // SAFETY: every request used here reads and writes at most one `struct ifreq`, which
        // `ifr` points to and which lives for the duration of the call; for SIOCETHTOOL the
        // `ifr_data` pointer inside it is valid as documented at the call site.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), req, ifr as *mut libc::ifreq) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Runs ethtool command `cmd` filling a `T`; `None` if the driver does not support it or
    /// the call fails for any other reason (these facts are optional).
    fn ethtool<T: EthtoolCmd>(&self, name: &IfName, cmd: u32) -> Option<T> {
        let mut data = T::default();
        let data_ptr = &mut data as *mut T;
        // SAFETY: every `EthtoolCmd` type is `#[repr(C)]` with a `u32` as its first field
        // (the command), and `data_ptr` points to a live, properly aligned `T`.
        unsafe { data_ptr.cast::<u32>().write(cmd) };
        let mut ifr = name.ifreq();
        ifr.ifr_ifru.ifru_data = data_ptr.cast::<libc::c_char>();
        // `ifru_data` points to `data`, which outlives the call; for the commands used here the
        // kernel writes exactly `size_of::<T>()` bytes there (checked by the size assertions).
        self.ioctl(libc::SIOCETHTOOL as _, &mut ifr).ok()?;
        Some(data)
    }
}

/// ENXIO with a helpful message when the interface does not exist, otherwise the ioctl error.
fn not_found_or(name: &str, err: std::io::Error, what: &str) -> Error {
    if err.raw_os_error() == Some(libc::ENODEV) {
        Error::new(
            libc::ENXIO,
            format!(
                "{name}: no such network interface in this network namespace \
                 (check the name with 'ip link')"
            ),
        )
    } else {
        Error::from_io(format_args!("{name}: {what}"), &err)
    }
}

/// Counts `/sys/class/net/NAME/queues/{rx,tx}-*`, if that directory describes the interface
/// with index `ifindex` (sysfs may show another network namespace than the caller's).
fn sysfs_queues(name: &str, ifindex: u32) -> Option<(u32, u32)> {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let idx: u32 = std::fs::read_to_string(dir.join("ifindex"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if idx != ifindex {
        return None;
    }
    let (mut rx, mut tx) = (0u32, 0u32);
    for entry in std::fs::read_dir(dir.join("queues")).ok()?.flatten() {
        let file_name = entry.file_name();
        let n = file_name.to_string_lossy();
        if n.starts_with("rx-") {
            rx += 1;
        } else if n.starts_with("tx-") {
            tx += 1;
        }
    }
    Some((rx.max(1), tx.max(1)))
}

fn nonzero(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

/// The NUL-terminated string at the start of `b`, `None` if empty or not terminated.
fn c_bytes_to_string(b: &[u8]) -> Option<String> {
    let s = CStr::from_bytes_until_nul(b).ok()?.to_string_lossy();
    (!s.is_empty()).then(|| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        let info = if_info("lo").expect("lo exists in every network namespace");
        assert_eq!(info.name, "lo");
        assert_eq!(info.ifindex, 1);
        assert_eq!(info.mtu, 65536);
        assert!(info.is_up);
        assert_eq!(info.mac, [0; 6]);
        assert!(info.rx_queues >= 1 && info.tx_queues >= 1);
    }

    #[test]
    fn unknown_interface_is_enxio() {
        let err = if_info("nmxdp-nosuch0").unwrap_err();
        assert_eq!(err.errno(), libc::ENXIO);
        assert!(err.message().contains("nmxdp-nosuch0"), "{err}");
        assert!(err.message().contains("no such network interface"), "{err}");
    }

    #[test]
    fn too_long_name_is_enxio() {
        let err = if_info("a-very-long-ifname").unwrap_err();
        assert_eq!(err.errno(), libc::ENXIO);
        assert!(err.message().contains("too long"), "{err}");
        assert!(if_info("exactly-15-byte").unwrap_err().errno() == libc::ENXIO);
    }

    #[test]
    fn invalid_names_are_enxio() {
        for n in ["", ".", "..", "a/b", "lo:1", "a b", "a\0b"] {
            let err = if_info(n).unwrap_err();
            assert_eq!(err.errno(), libc::ENXIO, "{n:?}: {err}");
        }
    }

    #[test]
    fn c_strings() {
        assert_eq!(c_bytes_to_string(b"veth\0\0\0"), Some("veth".to_string()));
        assert_eq!(c_bytes_to_string(b"\0abc"), None);
        assert_eq!(c_bytes_to_string(b"abc"), None);
    }

    /// Run by hand inside a namespace holding a 2-queue veth, for example:
    /// `ip netns add T; ip -n T link add va numrxqueues 2 numtxqueues 2 type veth peer name vb
    /// numrxqueues 2 numtxqueues 2; NMXDP_IFINFO_TEST_IF=va ip netns exec T cargo test -p nmxdp
    /// --lib ifinfo -- --ignored; ip netns del T`.
    #[test]
    #[ignore = "needs a veth with 2 queues named by NMXDP_IFINFO_TEST_IF"]
    fn veth_from_env() {
        let Ok(name) = std::env::var("NMXDP_IFINFO_TEST_IF") else {
            return;
        };
        let info = if_info(&name).expect("NMXDP_IFINFO_TEST_IF names an interface");
        eprintln!("{info:?}");
        if let (Ok(ctl), Ok(n)) = (Ctl::open(), IfName::new(&name)) {
            let ch = ctl.ethtool::<EthtoolChannels>(&n, ETHTOOL_GCHANNELS);
            let ring = ctl.ethtool::<EthtoolRingparam>(&n, ETHTOOL_GRINGPARAM);
            eprintln!("raw channels: {ch:?}\nraw ringparam: {ring:?}");
        }
        assert_eq!(info.rx_queues, 2);
        assert_eq!(info.tx_queues, 2);
        assert_eq!(info.driver.as_deref(), Some("veth"));
        assert_ne!(info.mac, [0; 6]);
    }
}
