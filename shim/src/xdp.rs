//! The XDP program that steers each NIC queue into its AF_XDP socket.
//!
//! The object is built from `bpf/xsk_redirect.c` by clang and committed, so building nmxdp needs
//! no clang; aya loads it. One program and XSK map per interface, shared by every process that
//! uses the interface (see [`crate::shared`]). We create the bpf_link ourselves so that each user
//! process holds a link fd: the program leaves the interface when the last user exits, however it
//! exits (afxdp-facts.md 4.2). Only when the kernel has no XDP bpf_link do we fall back to aya's
//! netlink attach, which nmxdp detaches when the last user closes normally.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;

use crate::bpfsys;
use crate::config::XdpModeChoice;
use crate::error::{Error, Result};
use crate::shared::{bpffs_root, iface_key, lock_iface, Users};

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

/// This process's use of the program on one interface: the XSK map, a link reference and its
/// share of the interface.
pub struct XdpAttachment {
    pub mode: AttachMode,
    pub method: AttachMethod,
    key: String,
    pin_dir: PathBuf,
    map: OwnedFd,
    link: Option<OwnedFd>,
    users: Option<Users>,
    // Dropped last: owns the program we loaded (and a netlink attachment, detached on drop).
    ebpf: Option<Ebpf>,
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

fn prog_fd(ebpf: &mut Ebpf) -> Result<RawFd> {
    let prog: &mut Xdp = ebpf
        .program_mut(PROG_NAME)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| Error::new(libc::EINVAL, "no XDP program in bpf/xsk_redirect.o"))?;
    Ok(prog
        .fd()
        .map_err(|e| Error::new(libc::EINVAL, format!("XDP program has no fd: {e}")))?
        .as_fd()
        .as_raw_fd())
}

fn mode_of(attached: u8) -> AttachMode {
    if attached == 2 {
        AttachMode::Skb
    } else {
        AttachMode::Native
    }
}

/// What to say when another program sits on the interface.
fn foreign_error(ifname: &str, id: u32) -> Error {
    let name = bpfsys::prog_info_by_id(id)
        .map(|p| p.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "?".into());
    Error::new(
        libc::EBUSY,
        format!("{ifname}: another XDP program is attached (id {id}, name {name}) and nmxdp does not replace it silently: detach it (`ip link set dev {ifname} xdp off`) or set NMXDP_XDP_REPLACE=1 to let nmxdp detach it"),
    )
}

/// Removes a foreign program (NMXDP_XDP_REPLACE=1): its bpf_link, or its netlink attachment.
fn detach_foreign(ifname: &str, ifindex: u32, id: u32) -> Result<()> {
    if let Some(link) = bpfsys::find_xdp_link(id, ifindex) {
        return bpfsys::link_detach(link.as_raw_fd()).map_err(|e| {
            Error::from_io(format!("{ifname}: detaching XDP link of program {id}"), &e)
        });
    }
    // Netlink-attached: attaching "no program" in each mode clears it.
    let mut ebpf = load(ifname)?;
    let prog: &mut Xdp = ebpf
        .program_mut(PROG_NAME)
        .and_then(|p| p.try_into().ok())
        .expect("checked in load()");
    for mode in [XdpMode::Driver, XdpMode::Skb] {
        if let Ok(link) = prog.attach_to_if_index(ifindex, mode) {
            let _ = prog.detach(link);
        }
    }
    Ok(())
}

impl XdpAttachment {
    /// Joins the program already shared on the interface (in the calling thread's network
    /// namespace), or loads, attaches and pins it.
    pub fn attach(ifname: &str, ifindex: u32, choice: XdpModeChoice) -> Result<XdpAttachment> {
        let key = iface_key(crate::engine::current_netns(), ifindex);
        let _mutex = lock_iface(&key)?;
        let pin_dir = bpffs_root()?.join(&key);
        let attached = bpfsys::attached_xdp_prog(ifindex)
            .map_err(|e| Error::from_io(format!("{ifname}: reading its XDP state"), &e))?;
        if let Some(a) = Self::join(ifindex, &key, &pin_dir, attached)? {
            return Ok(a);
        }
        // Pins without their program on the interface are left by a killed last user.
        remove_pins(&pin_dir);
        if let Some((id, _)) = attached {
            if std::env::var("NMXDP_XDP_REPLACE").as_deref() == Ok("1") {
                detach_foreign(ifname, ifindex, id)?;
            } else {
                return Err(foreign_error(ifname, id));
            }
        }
        let users = Users::join(&key)?;
        let mut a = Self::create(ifname, ifindex, choice, key, pin_dir)?;
        a.users = Some(users);
        a.pin()?;
        Ok(a)
    }

    /// Shares the program another nmxdp process attached, if that is what is on the interface.
    /// Found through the interface itself (program id → its map), so processes in different
    /// mount namespaces (`ip netns exec` gives each its own /sys) still share it.
    fn join(
        ifindex: u32,
        key: &str,
        pin_dir: &std::path::Path,
        attached: Option<(u32, u8)>,
    ) -> Result<Option<XdpAttachment>> {
        let Some((id, how)) = attached else {
            return Ok(None);
        };
        let Ok((_prog, info, map)) = bpfsys::prog_and_map_by_id(id) else {
            return Ok(None);
        };
        if info.name != PROG_NAME {
            return Ok(None);
        }
        let link = bpfsys::find_xdp_link(id, ifindex);
        Ok(Some(XdpAttachment {
            mode: mode_of(how),
            method: if link.is_some() {
                AttachMethod::BpfLink
            } else {
                AttachMethod::Netlink
            },
            key: key.to_string(),
            pin_dir: pin_dir.to_path_buf(),
            map,
            link,
            users: Some(Users::join(key)?),
            ebpf: None,
        }))
    }

    fn create(
        ifname: &str,
        ifindex: u32,
        choice: XdpModeChoice,
        key: String,
        pin_dir: PathBuf,
    ) -> Result<XdpAttachment> {
        let mut ebpf = load(ifname)?;
        let map_data = ebpf.map(MAP_NAME).ok_or_else(|| {
            Error::new(
                libc::EINVAL,
                "bpf/xsk_redirect.o has no map xsks_map: rebuild it with `make bpf`",
            )
        })?;
        let map = match map_data {
            aya::maps::Map::XskMap(m) => m.fd().as_fd().try_clone_to_owned(),
            _ => {
                return Err(Error::new(
                    libc::EINVAL,
                    "xsks_map is not an XSK map: rebuild with `make bpf`",
                ))
            }
        }
        .map_err(|e| Error::from_io("duplicating the XSK map fd", &e))?;
        let pfd = prog_fd(&mut ebpf)?;
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
            match bpf_link_create(pfd, ifindex, flags) {
                Ok(link) => {
                    return Ok(XdpAttachment {
                        mode,
                        method: AttachMethod::BpfLink,
                        key,
                        pin_dir,
                        map,
                        link: Some(link),
                        users: None,
                        ebpf: Some(ebpf),
                    })
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::EBUSY)) => {
                    let id = bpfsys::attached_xdp_prog(ifindex)
                        .ok()
                        .flatten()
                        .map(|a| a.0)
                        .unwrap_or(0);
                    return Err(foreign_error(ifname, id));
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
                    key,
                    pin_dir,
                    map,
                    link: None,
                    users: None,
                    ebpf: Some(ebpf),
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

    fn pin(&mut self) -> Result<()> {
        let ebpf = self.ebpf.as_mut().expect("creator pins");
        let pfd = prog_fd(ebpf)?;
        std::fs::create_dir_all(&self.pin_dir)
            .map_err(|e| Error::from_io(format!("creating {}", self.pin_dir.display()), &e))?;
        for (name, fd) in [("prog", pfd), ("map", self.map.as_raw_fd())] {
            let path = self.pin_dir.join(name);
            bpfsys::obj_pin(fd, &path.to_string_lossy())
                .map_err(|e| Error::from_io(format!("pinning {}", path.display()), &e))?;
        }
        Ok(())
    }

    /// Steers `queue`'s packets to the socket `fd`.
    pub fn insert(&mut self, queue: u32, fd: RawFd) -> Result<()> {
        bpfsys::xskmap_set(self.map.as_raw_fd(), queue, fd)
            .map_err(|e| Error::from_io(format!("adding queue {queue} to the XSK map"), &e))
    }

    /// Stops steering `queue` (its packets go back to the kernel stack).
    pub fn remove(&mut self, queue: u32) {
        bpfsys::xskmap_delete(self.map.as_raw_fd(), queue);
    }
}

fn remove_pins(dir: &std::path::Path) {
    let _ = std::fs::remove_file(dir.join("prog"));
    let _ = std::fs::remove_file(dir.join("map"));
    let _ = std::fs::remove_dir(dir);
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

impl Drop for XdpAttachment {
    fn drop(&mut self) {
        let Ok(mutex) = lock_iface(&self.key) else {
            return;
        };
        self.link = None;
        if let Some(users) = self.users.take() {
            if users.leave() {
                // Last user: the interface returns to how it was (the link fds are all gone).
                remove_pins(&self.pin_dir);
                mutex.remove();
            }
        }
        // A netlink attachment is removed by aya when `ebpf` drops, after this.
    }
}
