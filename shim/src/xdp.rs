//! The XDP program that steers each NIC queue into its AF_XDP socket.
//!
//! The object is built from `bpf/xsk_redirect.c` by clang and committed, so building nmxdp needs
//! no clang. `xdpload.rs` loads it (without the kernel's BTF) and pins it; aya attaches it
//! and writes its XSK map. One program and XSK map
//! per interface, shared by every process that uses the interface (docs/architecture.md, Several
//! processes). Each user process holds a reference to the XDP bpf_link, which is never pinned, so
//! the program leaves the interface when the last user exits, however it exits
//! (docs/architecture.md, XDP attach). Only when the kernel has no XDP bpf_link does aya fall back
//! to a netlink attach, which is detached when the process that made it closes normally.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::error::Error as StdError;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use aya::maps::{Map, MapData, MapError, XskMap};
use aya::programs::links::LinkType;
use aya::programs::xdp::XdpLink;
use aya::programs::{loaded_links, loaded_programs, ProgramError, ProgramInfo, Xdp, XdpMode};

use crate::bpfsys::{self, AttachedXdp, SysError, XdpAttachedMode};
use crate::config::XdpModeChoice;
use crate::error::{Error, Result};
use crate::shared::{bpffs_root, iface_key, lock_iface, Users};
use crate::steer::maps::SteerMaps;
use crate::steer::Rule;

/// The committed, clang-built object (see bpf/README.md).
pub static XDP_OBJECT: &[u8] = include_bytes!("../../bpf/xsk_redirect.o");
/// The attached program (the rule evaluator, [`crate::steer::maps::EVAL_NAME`], is loaded on
/// demand).
pub(crate) const PROG_NAME: &str = "nmxdp_redirect";
const MAP_NAME: &str = "xsks_map";
/// Files pinned per interface under `/sys/fs/bpf/nmxdp/<key>/`: the program, the XSK map and
/// the steering maps (by their names), and once a rule was installed the rule evaluator.
pub const PIN_FILES: &[&str] = &[
    "prog",
    "map",
    crate::steer::maps::SEL_MAP,
    crate::steer::maps::PROGS_MAP,
    crate::steer::maps::EVAL_PIN,
    crate::steer::maps::RULES_MAP,
    crate::steer::maps::STATS_MAP,
];
/// Entries of the XSK map, as declared in the C source.
pub const MAX_QUEUES: u32 = 256;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP).
    Native,
    /// In the generic network stack path (SKB mode).
    Skb,
}

impl AttachMode {
    /// The mode as `nmxdp info` and NMXDP_XDP_MODE spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Skb => "skb",
        }
    }

    fn aya(self) -> XdpMode {
        match self {
            AttachMode::Native => XdpMode::Driver,
            AttachMode::Skb => XdpMode::Skb,
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

/// This process's hold on the program's place on the interface.
#[expect(dead_code, reason = "held only for what dropping it does")]
enum LinkHold {
    /// The attachment this process made: an XDP bpf_link (its fd is closed on drop, and the
    /// kernel detaches the program when no reference is left) or, on kernels without XDP
    /// bpf_link, aya's netlink attachment (detached on drop).
    Created(XdpLink),
    /// A reference to the bpf_link another process created.
    Joined(OwnedFd),
}

/// This process's use of the program on one interface: the XSK map, a link reference and its
/// share of the interface.
pub struct XdpAttachment {
    /// Where the program runs.
    pub mode: AttachMode,
    /// How the program is held on the interface.
    pub method: AttachMethod,
    key: String,
    pin_dir: PathBuf,
    /// The XSK map (checked to be one when the attachment is made).
    map: Map,
    link: Option<LinkHold>,
    users: Option<Users>,
    /// The steering maps; None when the program on the interface was loaded by an nmxdp
    /// without steering (it still redirects every frame, and steering is refused).
    steer: Option<SteerMaps>,
    // Dropped last: the program we loaded (a netlink attachment refers to its fd).
    #[allow(dead_code, reason = "held only for what dropping it does")]
    prog: Option<Xdp>,
}

/// The errno somewhere in an aya error's chain of causes.
fn errno_of(e: &(dyn StdError + 'static)) -> Option<i32> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(n) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
        {
            return Some(n);
        }
        cur = err.source();
    }
    None
}

/// An aya error with its causes, as one line.
fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        cur = err.source();
    }
    text
}

/// The errno of a program error (aya's `IOError` variant is transparent, so its io::Error is not
/// in the chain of causes).
fn program_errno(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::IOError(io) => io.raw_os_error(),
        e => errno_of(e),
    }
}

fn sys_error(what: impl std::fmt::Display, e: &SysError) -> Error {
    Error::new(e.errno(), format!("{what}: {e}"))
}

fn map_error(what: impl std::fmt::Display, e: &MapError) -> Error {
    let errno = match e {
        // What the kernel answers for a key past max_entries.
        MapError::OutOfBounds { .. } => libc::E2BIG,
        e => errno_of(e).unwrap_or(libc::EINVAL),
    };
    Error::new(errno, format!("{what}: {}", describe(e)))
}

/// Program `id`, if it is still loaded.
fn program_info(id: u32) -> Option<ProgramInfo> {
    loaded_programs()
        .filter_map(|p| p.ok())
        .find(|p| p.id() == id)
}

/// The name of program `id` (as the kernel keeps it: at most 15 bytes), if it can be read.
pub fn program_name(id: u32) -> Option<String> {
    program_info(id).map(|p| String::from_utf8_lossy(p.name()).into_owned())
}

/// Ids of the maps program `id` uses, if it is still loaded.
pub(crate) fn program_map_ids(id: u32) -> Option<Vec<u32>> {
    program_info(id)?.map_ids().ok().flatten()
}

/// The XSK map program `prog` uses (ours has exactly one map).
fn xsk_map_of(prog: &ProgramInfo) -> Option<Map> {
    prog.map_ids()
        .ok()
        .flatten()?
        .into_iter()
        .filter_map(|id| MapData::from_id(id).ok())
        .filter_map(|data| Map::from_map_data(data).ok())
        .find(|map| XskMap::try_from(map).is_ok())
}

/// Ids of the XDP bpf_links of program `prog_id`.
fn xdp_link_ids(prog_id: u32) -> impl Iterator<Item = u32> {
    loaded_links()
        .filter_map(|l| l.ok())
        .filter(move |l| l.program_id() == prog_id && l.link_type().ok() == Some(LinkType::Xdp))
        .map(|l| l.id())
}

/// The XDP bpf_link of program `prog_id` on `ifindex`, opened (a new reference).
fn find_xdp_link(prog_id: u32, ifindex: u32) -> Option<OwnedFd> {
    xdp_link_ids(prog_id)
        .filter_map(|id| bpfsys::link_fd_by_id(id).ok())
        .find(|fd| {
            bpfsys::link_info(fd.as_fd()).is_ok_and(|info| info.xdp_ifindex == Some(ifindex))
        })
}

fn mode_of(attached: XdpAttachedMode) -> AttachMode {
    if attached == XdpAttachedMode::Generic {
        AttachMode::Skb
    } else {
        AttachMode::Native
    }
}

/// What to say when another program sits on the interface.
fn foreign_error(ifname: &str, id: u32) -> Error {
    let name = program_name(id)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "?".into());
    Error::new(
        libc::EBUSY,
        format!("{ifname}: another XDP program is attached (id {id}, name {name}) and nmxdp does not replace it silently: detach it (`ip link set dev {ifname} xdp off`) or set NMXDP_XDP_REPLACE=1 to let nmxdp detach it"),
    )
}

/// Removes a foreign program (NMXDP_XDP_REPLACE=1): its bpf_link, or its netlink attachment.
fn detach_foreign(ifname: &str, ifindex: u32, foreign: AttachedXdp) -> Result<()> {
    let id = foreign.prog_id;
    if let Some(link) = find_xdp_link(id, ifindex) {
        return bpfsys::link_detach(link.as_fd()).map_err(|e| {
            sys_error(
                format!("{ifname}: detaching the XDP link of program {id}"),
                &e,
            )
        });
    }
    bpfsys::clear_netlink_xdp(ifindex, foreign.mode).map_err(|e| {
        sys_error(
            format!("{ifname}: detaching XDP program {id} (attached through netlink)"),
            &e,
        )
    })
}

impl XdpAttachment {
    /// Joins the program already shared on the interface (in the calling thread's network
    /// namespace), or loads, attaches and pins it.
    pub fn attach(ifname: &str, ifindex: u32, choice: XdpModeChoice) -> Result<XdpAttachment> {
        let key = iface_key(crate::engine::current_netns(), ifindex);
        let _mutex = lock_iface(&key)?;
        let pin_dir = bpffs_root()?.join(&key);
        let attached = bpfsys::attached_xdp(ifindex)
            .map_err(|e| sys_error(format!("{ifname}: reading its XDP state"), &e))?;
        if let Some(a) = Self::join(ifindex, &key, &pin_dir, attached)? {
            return Ok(a);
        }
        // Pins without their program on the interface are left by a killed last user.
        remove_pins(&pin_dir);
        if let Some(foreign) = attached {
            if std::env::var("NMXDP_XDP_REPLACE").as_deref() == Ok("1") {
                detach_foreign(ifname, ifindex, foreign)?;
            } else {
                return Err(foreign_error(ifname, foreign.prog_id));
            }
        }
        let users = Users::join(&key)?;
        let mut a = Self::create(ifname, ifindex, choice, key, pin_dir)?;
        a.users = Some(users);
        Ok(a)
    }

    /// Shares the program another nmxdp process attached, if that is what is on the interface.
    /// Found through the interface itself (program id → its map), so processes in different
    /// mount namespaces (`ip netns exec` gives each its own /sys) still share it.
    fn join(
        ifindex: u32,
        key: &str,
        pin_dir: &Path,
        attached: Option<AttachedXdp>,
    ) -> Result<Option<XdpAttachment>> {
        let Some(attached) = attached else {
            return Ok(None);
        };
        let Some(prog) = program_info(attached.prog_id) else {
            return Ok(None);
        };
        if prog.name() != PROG_NAME.as_bytes() {
            return Ok(None);
        }
        let Some(map) = xsk_map_of(&prog) else {
            return Ok(None);
        };
        let link = find_xdp_link(attached.prog_id, ifindex);
        let steer = prog
            .map_ids()
            .ok()
            .flatten()
            .and_then(|ids| SteerMaps::of_ids(&ids));
        Ok(Some(XdpAttachment {
            mode: mode_of(attached.mode),
            method: if link.is_some() {
                AttachMethod::BpfLink
            } else {
                AttachMethod::Netlink
            },
            key: key.to_string(),
            pin_dir: pin_dir.to_path_buf(),
            map,
            link: link.map(LinkHold::Joined),
            users: Some(Users::join(key)?),
            steer,
            prog: None,
        }))
    }

    fn create(
        ifname: &str,
        ifindex: u32,
        choice: XdpModeChoice,
        key: String,
        pin_dir: PathBuf,
    ) -> Result<XdpAttachment> {
        // Loaded and pinned first: aya attaches a program it opens from its pin.
        let loaded = crate::xdpload::load(XDP_OBJECT, PROG_NAME, MAP_NAME, ifname)?;
        std::fs::create_dir_all(&pin_dir)
            .map_err(|e| Error::from_io(format!("creating {}", pin_dir.display()), &e))?;
        let pinned = (|| {
            crate::xdpload::pin(&loaded.prog, &pin_dir.join("prog"))?;
            crate::xdpload::pin(&loaded.map, &pin_dir.join("map"))?;
            for (name, fd) in &loaded.others {
                crate::xdpload::pin(fd, &pin_dir.join(name))?;
            }
            let prog = Xdp::from_pin(
                pin_dir.join("prog"),
                aya_obj::programs::XdpAttachType::Interface,
            )
            .map_err(|e| {
                Error::new(
                    program_errno(&e).unwrap_or(libc::EINVAL),
                    format!("{ifname}: opening the pinned XDP program: {}", describe(&e)),
                )
            })?;
            // The evaluator, loaded with the first rule, redirects to the same XSK map.
            let xsks = loaded.map.try_clone().map_err(|e| {
                Error::from_io(format!("{ifname}: duplicating the XSK map's fd"), &e)
            })?;
            let map = MapData::from_fd(loaded.map).map_err(|e| map_error("the XSK map", &e))?;
            Ok::<_, Error>((prog, Map::XskMap(map), xsks))
        })();
        let (mut prog, map, xsks) = match pinned {
            Ok(v) => v,
            Err(e) => {
                remove_pins(&pin_dir);
                return Err(e);
            }
        };
        let mut maps = loaded.others;
        maps.push((MAP_NAME.to_string(), xsks));
        let steer = SteerMaps::from_fds(maps);
        drop(loaded.prog);
        let attached = Self::attach_prog(ifname, ifindex, choice, &mut prog);
        let (mode, link, prog_id) = match attached {
            Ok(v) => v,
            Err(e) => {
                remove_pins(&pin_dir);
                return Err(e);
            }
        };
        // aya hides which of the two it made; the kernel's list of links tells.
        let method = if xdp_link_ids(prog_id).next().is_some() {
            AttachMethod::BpfLink
        } else {
            AttachMethod::Netlink
        };
        Ok(XdpAttachment {
            mode,
            method,
            key,
            pin_dir,
            map,
            link: Some(LinkHold::Created(link)),
            users: None,
            steer,
            prog: Some(prog),
        })
    }

    /// Attaches the loaded program to the interface: native then SKB mode (as `choice` allows),
    /// through a bpf_link where the kernel has one. Returns the mode, the link and the
    /// program's id.
    fn attach_prog(
        ifname: &str,
        ifindex: u32,
        choice: XdpModeChoice,
        prog: &mut Xdp,
    ) -> Result<(AttachMode, XdpLink, u32)> {
        let prog_id = prog
            .info()
            .map_err(|e| {
                Error::new(
                    program_errno(&e).unwrap_or(libc::EINVAL),
                    format!("{ifname}: reading the XDP program's id: {}", describe(&e)),
                )
            })?
            .id();
        let modes: &[AttachMode] = match choice {
            XdpModeChoice::Auto => &[AttachMode::Native, AttachMode::Skb],
            XdpModeChoice::Native => &[AttachMode::Native],
            XdpModeChoice::Skb => &[AttachMode::Skb],
        };
        let mut attached = None;
        let mut last_err = None;
        for &mode in modes {
            // A bpf_link first; aya falls back to netlink only when the kernel answers EINVAL
            // (no XDP bpf_link).
            match prog.attach_to_if_index(ifindex, mode.aya()) {
                Ok(id) => {
                    let link = prog.take_link(id).map_err(|e| {
                        Error::new(
                            libc::EINVAL,
                            format!("{ifname}: taking the XDP link: {}", describe(&e)),
                        )
                    })?;
                    attached = Some((mode, link));
                    break;
                }
                Err(e) => match program_errno(&e) {
                    Some(libc::EEXIST | libc::EBUSY) => {
                        let id = bpfsys::attached_xdp(ifindex)
                            .ok()
                            .flatten()
                            .map_or(0, |a| a.prog_id);
                        return Err(foreign_error(ifname, id));
                    }
                    Some(libc::EPERM) => {
                        let why = "attaching XDP needs CAP_NET_ADMIN and CAP_BPF (run as root)";
                        return Err(Error::new(libc::EPERM, format!("{ifname}: {why}")));
                    }
                    errno => last_err = Some((mode, errno, describe(&e))),
                },
            }
        }
        let Some((mode, link)) = attached else {
            let (mode, errno, err) = last_err.expect("at least one mode was tried");
            return Err(Error::new(
                errno.unwrap_or(libc::EOPNOTSUPP),
                format!(
                    "{ifname}: cannot attach the XDP program in {} mode: {err} (try NMXDP_XDP_MODE=skb)",
                    mode.as_str()
                ),
            ));
        };
        Ok((mode, link, prog_id))
    }

    /// Steers `queue`'s packets to the socket `fd`.
    pub fn insert(&mut self, queue: u32, fd: RawFd) -> Result<()> {
        let what = || format!("adding queue {queue} to the XSK map");
        XskMap::try_from(&mut self.map)
            .and_then(|mut xsks| xsks.set(queue, fd, 0))
            .map_err(|e| map_error(what(), &e))
    }

    /// Sets the rule of `queue` before its socket is inserted: with a rule only the frames it
    /// matches reach the socket, without one (None) every frame does, as in netmap.
    pub fn set_rule(&mut self, ifname: &str, queue: u32, rule: Option<&Rule>) -> Result<()> {
        match (&self.steer, rule) {
            (Some(maps), Some(rule)) => {
                if !maps.has_evaluator() {
                    // The first rule on the interface: the evaluator is loaded now, once.
                    let _mutex = lock_iface(&self.key)?;
                    maps.ensure_evaluator(ifname, Some(&self.pin_dir))?;
                }
                maps.install(queue, rule)
            }
            (Some(maps), None) => {
                maps.clear(queue);
                Ok(())
            }
            (None, None) => Ok(()),
            (None, Some(rule)) => Err(Error::new(
                libc::EOPNOTSUPP,
                format!(
                    "{ifname}: cannot steer '{}': the XDP program on the interface was loaded by an older nmxdp without steering maps; stop the nmxdp programs using {ifname} (`nmxdp status`) so that the next open loads the current program",
                    rule.text
                ),
            )),
        }
    }

    /// Drops the rule of `queue` (after its socket left the XSK map).
    pub fn clear_rule(&mut self, queue: u32) {
        if let Some(maps) = &self.steer {
            maps.clear(queue);
        }
    }

    /// Stops steering `queue` (its packets go back to the kernel stack).
    pub fn remove(&mut self, queue: u32) {
        // An entry that is already gone is what we want.
        let _ = XskMap::try_from(&mut self.map).and_then(|mut xsks| xsks.unset(queue));
    }
}

fn remove_pins(dir: &Path) {
    for f in PIN_FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
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
        // Before the users check, so that the last user sees no link fd of its own left; and
        // before `prog`, whose program fd a netlink attachment refers to.
        self.link = None;
        if let Some(users) = self.users.take() {
            if users.leave() {
                // Last user: the interface returns to how it was (the link fds are all gone).
                remove_pins(&self.pin_dir);
                mutex.remove();
            }
        }
    }
}
