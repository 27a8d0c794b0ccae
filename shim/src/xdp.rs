//! The XDP program that steers each NIC queue into its AF_XDP socket, attached with aya.
//!
//! The object is built from `bpf/xsk_redirect.c` by clang and committed, so building nmxdp needs
//! no clang. We create the bpf_link ourselves (not through aya's `attach`) so that we always hold
//! the link fd: closing it, or the process dying, detaches the program (afxdp-facts.md 4.2).
//! Only when the kernel has no XDP bpf_link do we fall back to aya's netlink attach.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use aya::maps::{MapData, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;

use crate::config::XdpModeChoice;
use crate::error::{Error, Result};

/// The committed, clang-built object (see bpf/README.md).
pub static XDP_OBJECT: &[u8] = include_bytes!("../../bpf/xsk_redirect.o");
const PROG_NAME: &str = "nmxdp_redirect";
const MAP_NAME: &str = "xsks_map";
/// Entries of the XSK map, as declared in the C source.
pub const MAX_QUEUES: u32 = 256;

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP).
    Native,
    /// In the generic network stack path (SKB mode).
    Skb,
}

impl AttachMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Skb => "skb",
        }
    }
}

/// How the program is held on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMethod {
    /// A bpf_link: detached automatically when the last holder exits.
    BpfLink,
    /// Netlink (kernels without XDP bpf_link): detached when nmxdp closes the port.
    Netlink,
}

/// The program attached to one interface, its XSK map and its link.
pub struct XdpAttachment {
    pub mode: AttachMode,
    pub method: AttachMethod,
    map: XskMap<MapData>,
    _link: Option<OwnedFd>,
    // Dropped last: owns the program (and a netlink attachment, which it detaches on drop).
    _ebpf: Ebpf,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u64; 6],
}

fn bpf_link_create(prog_fd: RawFd, ifindex: u32, flags: u32) -> std::io::Result<OwnedFd> {
    let attr = LinkCreateAttr {
        prog_fd: prog_fd as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
        ..Default::default()
    };
    // SAFETY: bpf(BPF_LINK_CREATE) with a zero-padded attr of the size we pass.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_CREATE,
            &attr as *const LinkCreateAttr,
            std::mem::size_of::<LinkCreateAttr>() as u32,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

fn load(ifname: &str) -> Result<Ebpf> {
    let mut ebpf = Ebpf::load(XDP_OBJECT).map_err(|e| {
        Error::new(
            libc::EPERM,
            format!("{ifname}: loading the XDP program failed ({e}): needs CAP_BPF and CAP_NET_ADMIN (run as root) and a kernel with BPF and BTF"),
        )
    })?;
    let prog: &mut Xdp = ebpf
        .program_mut(PROG_NAME)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| {
            Error::new(
                libc::EINVAL,
                "bpf/xsk_redirect.o has no XDP program nmxdp_redirect: rebuild it with `make bpf`",
            )
        })?;
    prog.load().map_err(|e| {
        Error::new(
            libc::EPERM,
            format!("{ifname}: the kernel refused the XDP program ({e}): needs CAP_BPF and CAP_NET_ADMIN (run as root)"),
        )
    })?;
    Ok(ebpf)
}

fn busy_error(ifname: &str, err: &std::io::Error) -> Error {
    Error::new(
        libc::EBUSY,
        format!("{ifname}: another XDP program is already attached ({err}); nmxdp does not replace it: detach it first (`ip link set dev {ifname} xdp off`)"),
    )
}

impl XdpAttachment {
    /// Loads the program and attaches it to `ifindex`, native mode first unless told otherwise.
    pub fn attach(ifname: &str, ifindex: u32, choice: XdpModeChoice) -> Result<XdpAttachment> {
        let mut ebpf = load(ifname)?;
        let map_data = ebpf.take_map(MAP_NAME).ok_or_else(|| {
            Error::new(
                libc::EINVAL,
                "bpf/xsk_redirect.o has no map xsks_map: rebuild it with `make bpf`",
            )
        })?;
        let map = XskMap::try_from(map_data)
            .map_err(|e| Error::new(libc::EINVAL, format!("xsks_map is not an XSK map: {e}")))?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROG_NAME)
            .and_then(|p| p.try_into().ok())
            .expect("checked in load()");
        let prog_fd = prog
            .fd()
            .map_err(|e| Error::new(libc::EINVAL, format!("XDP program has no fd: {e}")))?
            .as_fd()
            .as_raw_fd();
        let modes: &[AttachMode] = match choice {
            XdpModeChoice::Auto => &[AttachMode::Native, AttachMode::Skb],
            XdpModeChoice::Native => &[AttachMode::Native],
            XdpModeChoice::Skb => &[AttachMode::Skb],
        };
        let mut last_err = None;
        for &mode in modes {
            let flags = match mode {
                AttachMode::Native => XDP_FLAGS_DRV_MODE,
                AttachMode::Skb => XDP_FLAGS_SKB_MODE,
            };
            match bpf_link_create(prog_fd, ifindex, flags) {
                Ok(link) => {
                    return Ok(XdpAttachment {
                        mode,
                        method: AttachMethod::BpfLink,
                        map,
                        _link: Some(link),
                        _ebpf: ebpf,
                    })
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::EBUSY)) => {
                    return Err(busy_error(ifname, &e))
                }
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    return Err(Error::new(
                        libc::EPERM,
                        format!(
                            "{ifname}: attaching XDP needs CAP_NET_ADMIN and CAP_BPF (run as root)"
                        ),
                    ))
                }
                Err(e) => last_err = Some((mode, e)),
            }
        }
        let (mode, err) = last_err.expect("at least one mode was tried");
        if err.raw_os_error() == Some(libc::EINVAL) {
            // No XDP bpf_link in this kernel: netlink, which aya detaches when `ebpf` drops.
            let aya_mode = match mode {
                AttachMode::Native => XdpMode::Driver,
                AttachMode::Skb => XdpMode::Skb,
            };
            let prog: &mut Xdp = ebpf
                .program_mut(PROG_NAME)
                .and_then(|p| p.try_into().ok())
                .expect("checked in load()");
            if prog.attach_to_if_index(ifindex, aya_mode).is_ok() {
                return Ok(XdpAttachment {
                    mode,
                    method: AttachMethod::Netlink,
                    map,
                    _link: None,
                    _ebpf: ebpf,
                });
            }
        }
        Err(Error::new(
            err.raw_os_error().unwrap_or(libc::EOPNOTSUPP),
            format!(
                "{ifname}: cannot attach the XDP program in {} mode: {err} (try NMXDP_XDP_MODE=skb)",
                mode.as_str()
            ),
        ))
    }

    /// Steers `queue`'s packets to the socket `fd`.
    pub fn insert(&mut self, queue: u32, fd: RawFd) -> Result<()> {
        // SAFETY: fd is a live AF_XDP socket for the duration of this call; the map takes its own reference.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        self.map.set(queue, bfd, 0).map_err(|e| {
            Error::new(
                libc::EINVAL,
                format!("adding queue {queue} to the XSK map: {e}"),
            )
        })
    }

    /// Stops steering `queue` (its packets go back to the kernel stack).
    pub fn remove(&mut self, queue: u32) {
        let _ = self.map.unset(queue);
    }
}
