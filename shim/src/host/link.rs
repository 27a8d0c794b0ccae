//! The private veth pair of a host path: created with its inner end in the private namespace,
//! both ends with the interface's MTU, IPv6 off (so neither end ever sends a frame of its own:
//! no addresses, no router solicitations, no DAD), and checksum offload off on the outer end, so
//! that what the stack transmits is segmented and checksummed before the inner end hands it to
//! XDP (see docs/architecture.md, "Host rings").

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::bpfsys::rtnl_message;
use crate::error::{Error, Result};

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 1 << 15;
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
/// `ETHTOOL_STXCSUM` (`linux/ethtool.h`): sets TX checksum offload; TSO goes with it.
const ETHTOOL_STXCSUM: u32 = 0x17;

/// An rtnetlink link message under construction: header, `ifinfomsg`, attributes.
struct LinkMsg {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl LinkMsg {
    fn new(ty: u16, flags: u16) -> LinkMsg {
        let mut m = LinkMsg {
            buf: Vec::with_capacity(256),
            open: Vec::new(),
        };
        m.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `bytes`
        m.buf.extend_from_slice(&ty.to_ne_bytes());
        let flags = libc::NLM_F_REQUEST as u16 | libc::NLM_F_ACK as u16 | flags;
        m.buf.extend_from_slice(&flags.to_ne_bytes());
        m.buf.extend_from_slice(&1u32.to_ne_bytes()); // seq
        m.buf.extend_from_slice(&0u32.to_ne_bytes()); // pid
        m.ifinfo(0, 0, 0);
        m
    }

    /// A `struct ifinfomsg` (family AF_UNSPEC).
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        self.buf
            .extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        self.buf
            .extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    fn name(&mut self, name: &str) -> &mut Self {
        let mut z = name.as_bytes().to_vec();
        z.push(0);
        self.attr(IFLA_IFNAME, &z)
    }

    fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn begin(&mut self, ty: u16) -> &mut Self {
        self.open.push(self.buf.len());
        self.attr(ty, &[])
    }

    fn end(&mut self) -> &mut Self {
        let at = self.open.pop().expect("end() matches a begin()");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn send(&mut self, what: &'static str) -> std::result::Result<(), crate::bpfsys::SysError> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        rtnl_message(what, &self.buf).map(drop)
    }
}

const _: () = assert!(NLMSG_HDRLEN + IFINFOMSG_LEN == 32);

/// Creates veth pair `outer` (in the calling thread's namespace) and `inner` (in namespace
/// `inner_ns`), both down, with MTU `mtu`. EEXIST when `outer` exists.
pub(crate) fn create_pair(
    outer: &str,
    inner: &str,
    inner_ns: BorrowedFd<'_>,
    mtu: u32,
) -> Result<()> {
    let mut m = LinkMsg::new(
        libc::RTM_NEWLINK,
        (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
    );
    m.name(outer).u32(IFLA_MTU, mtu);
    m.begin(IFLA_LINKINFO | NLA_F_NESTED)
        .attr(IFLA_INFO_KIND, b"veth\0")
        .begin(IFLA_INFO_DATA | NLA_F_NESTED)
        .begin(VETH_INFO_PEER);
    m.ifinfo(0, 0, 0);
    m.name(inner)
        .u32(IFLA_MTU, mtu)
        .u32(IFLA_NET_NS_FD, inner_ns.as_raw_fd() as u32);
    m.end().end().end();
    m.send("RTM_NEWLINK veth").map_err(|e| {
        Error::new(
            e.errno(),
            format!("host path: creating the private veth pair {outer}/{inner}: {e}"),
        )
    })
}

/// Deletes interface `name` of the calling thread's namespace (for a veth end: both ends).
/// An interface already gone is not an error.
pub(crate) fn delete(name: &str) -> Result<()> {
    let mut m = LinkMsg::new(libc::RTM_DELLINK, 0);
    m.name(name);
    match m.send("RTM_DELLINK") {
        Ok(()) => Ok(()),
        Err(e) if e.errno() == libc::ENODEV => Ok(()),
        Err(e) => Err(Error::new(
            e.errno(),
            format!("host path: deleting {name}: {e}"),
        )),
    }
}

/// Brings interface `name` of the calling thread's namespace up.
pub(crate) fn set_up(name: &str) -> Result<()> {
    let mut m = LinkMsg::new(libc::RTM_NEWLINK, 0);
    let up = libc::IFF_UP as u32;
    // The ifinfomsg written by `new` is replaced: flags and change say "set IFF_UP".
    m.buf.truncate(NLMSG_HDRLEN);
    m.ifinfo(0, up, up);
    m.name(name);
    m.send("RTM_NEWLINK up")
        .map_err(|e| Error::new(e.errno(), format!("host path: bringing {name} up: {e}")))
}

/// Turns IPv6 off on `name` (calling thread's namespace). A kernel without IPv6 has nothing to
/// turn off.
pub(crate) fn ipv6_off(name: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&path, b"1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::from_io(format!("host path: writing {path}"), &e)),
    }
}

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns TX checksum offload (and with it TSO) off on `name`, as `ethtool -K name tx off`.
pub(crate) fn tx_csum_off(name: &str) -> Result<()> {
    let fail = || Error::last_os(format!("host path: ethtool -K {name} tx off"));
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail());
    }
    // SAFETY: socket(2) returned a new fd that nothing else owns.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut val = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: 0,
    };
    // SAFETY: `ifreq` is plain data (byte arrays, integers, a pointer): all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = std::ptr::from_mut(&mut val).cast();
    // SAFETY: SIOCETHTOOL reads `ifr` and, through `ifru_data`, the 8-byte `ethtool_value` for
    // ETHTOOL_STXCSUM; both live across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) } != 0 {
        return Err(fail());
    }
    Ok(())
}
