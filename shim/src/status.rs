//! What `nmxdp status` reports: per interface, the program nmxdp attached and its mode, which
//! queues are held by which process, and each socket's kernel counters.

use std::os::fd::{FromRawFd, OwnedFd};

pub use crate::region::{RegionUser, SharedStatus};

use crate::bpfsys::{self, XdpAttachedMode};
use crate::shared::{holders, Holder};
use crate::sys::xdp_statistics;

/// One held queue with its socket counters (None when the holder's socket can't be reached).
#[derive(Debug, Clone)]
pub struct QueueStatus {
    /// The process holding the queue, from its holder file in `/run/nmxdp`.
    pub holder: Holder,
    /// The holder socket's `XDP_STATISTICS`, read through a duplicate of its fd (`pidfd_getfd`,
    /// which needs ptrace rights over the holder). None without those rights, when the holder
    /// has not recorded a socket yet, or when the process is gone.
    pub stats: Option<xdp_statistics>,
    /// For a host queue (the holder names `IFACE^`): what crossed the host path.
    pub host: Option<HostCounters>,
}

/// The host path of an interface whose host rings a process holds (docs/architecture.md,
/// "Host rings").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCounters {
    /// Frames the host stack transmitted on the interface: into the host RX ring, or dropped.
    /// None when the interface is not in this namespace.
    pub stack_sent: Option<u64>,
    /// Frames the application handed to the host stack through the host TX ring (None: as
    /// above).
    pub to_stack: Option<u64>,
    /// Frames dropped for a full host RX ring (None without the socket's counters).
    pub dropped: Option<u64>,
}

fn host_counters(h: &Holder, stats: Option<xdp_statistics>) -> Option<HostCounters> {
    let iface = h.ifname.strip_suffix('^')?;
    let path = crate::host::path_counters(iface);
    Some(HostCounters {
        stack_sent: path.map(|p| p.0),
        to_stack: path.map(|p| p.1),
        dropped: stats.map(|s| crate::host::dropped(&s)),
    })
}

/// One interface nmxdp uses.
#[derive(Debug, Clone)]
pub struct IfaceStatus {
    /// Interface name, as recorded by the holder of its lowest held queue.
    pub ifname: String,
    /// `<netns inode>-<ifindex>`: identifies the interface across network namespaces.
    pub key: String,
    /// Program id, name and mode (`native`/`skb`), when the interface is in our namespace.
    pub program: Option<(u32, String, &'static str)>,
    /// The held queues of this interface, in queue order.
    pub queues: Vec<QueueStatus>,
}

/// Borrows a socket of another process (pidfd_getfd, needs ptrace rights: root) to read its
/// XDP_STATISTICS.
fn socket_stats(pid: u32, fd: i32) -> Option<xdp_statistics> {
    if fd < 0 {
        return None;
    }
    // SAFETY: pidfd_open(2) on a pid; returns a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as i32, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: the fd is new and ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd(2) duplicates the target's fd into this process.
    let sock = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            fd,
            0,
        )
    };
    if sock < 0 {
        return None;
    }
    // SAFETY: as above.
    let sock = unsafe { OwnedFd::from_raw_fd(sock as i32) };
    crate::xsk::statistics(std::os::fd::AsRawFd::as_raw_fd(&sock)).ok()
}

/// Clears the steering rules dead holders left on the interfaces of our namespace.
fn sweep_steering(netns: u64, all: &[Holder]) {
    let mut keys: Vec<&str> = all.iter().map(|h| h.key.as_str()).collect();
    keys.dedup();
    for key in keys {
        let ifindex = key
            .split_once('-')
            .filter(|(ns, _)| ns.parse::<u64>().ok() == Some(netns))
            .and_then(|(_, ifi)| ifi.parse::<u32>().ok());
        if let Some(ifindex) = ifindex {
            crate::steer::sweep(ifindex, key, all);
        }
    }
}

/// Every shared region in use, with its users and pool audit, after taking back what users
/// that died (SIGKILL included) held; a region whose users all died is removed (docs/
/// architecture.md, "Shared region").
pub fn regions() -> Vec<SharedStatus> {
    crate::region::shared_status()
}

/// Every interface with a queue held by a live nmxdp process. Also removes the files in
/// `/run/nmxdp` that processes which died left behind (see [`holders`]), the steering rules of
/// their queues ([`crate::steer::sweep`]), and the bpffs pins of interfaces nobody uses any more
/// ([`crate::shared::sweep_pins`]).
pub fn status() -> Vec<IfaceStatus> {
    crate::shared::sweep_pins();
    let netns = crate::engine::current_netns();
    let mut out: Vec<IfaceStatus> = Vec::new();
    let all = holders();
    sweep_steering(netns, &all);
    for h in all {
        let stats = socket_stats(h.pid, h.sock_fd);
        let host = host_counters(&h, stats);
        if let Some(i) = out.iter_mut().find(|i| i.key == h.key) {
            i.queues.push(QueueStatus {
                holder: h,
                stats,
                host,
            });
            continue;
        }
        let program = h
            .key
            .split_once('-')
            .filter(|(ns, _)| ns.parse::<u64>().ok() == Some(netns))
            .and_then(|(_, ifi)| ifi.parse::<u32>().ok())
            .and_then(|ifi| bpfsys::attached_xdp(ifi).ok().flatten())
            .map(|a| {
                let name = crate::xdp::program_name(a.prog_id).unwrap_or_default();
                let mode = if a.mode == XdpAttachedMode::Generic {
                    "skb"
                } else {
                    "native"
                };
                (a.prog_id, name, mode)
            });
        out.push(IfaceStatus {
            ifname: h.ifname.clone(),
            key: h.key.clone(),
            program,
            queues: vec![QueueStatus {
                holder: h,
                stats,
                host,
            }],
        });
    }
    out
}
