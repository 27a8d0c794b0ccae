//! Host rings (`netmap:IFACE^`, `netmap:IFACE*`): the interface's own network stack as one more
//! ring pair of the port (docs/architecture.md, "Host rings").
//!
//! Each host path has a private veth pair: the outer end `nmh<ifindex>` in the interface's
//! namespace, the inner end in a namespace only this process holds (`netns.rs`). The inner end
//! runs nmxdp's usual XDP program into an AF_XDP socket that shares the process's UMEM, so the
//! host rings are one more queue ([`QueueCtx`]) with every ring semantic, counter and wake-up
//! of the NIC queues, and buffers swap between NIC rings and host rings by index:
//! - host RX (what the stack transmits on IFACE): a tc egress program on IFACE redirects every
//!   frame to the outer end; the veth segments and checksums it (TX offloads off there), the
//!   inner end's XDP program puts it on the host RX ring. Nothing reaches IFACE's wire.
//! - host TX (frames for the stack): the socket transmits on the inner end, the outer end
//!   receives, and a tc ingress program there redirects into IFACE's receive path.
//!
//! A full host RX ring drops in the kernel (counted in the socket's XDP statistics); the stack
//! never waits for the application.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{current_netns, Engine, Modes, QueueRequest};
use crate::error::{Error, Result};
use crate::ifinfo::{if_info, IfInfo};
use crate::queue::{QueueCtx, QueueKey};

mod link;
mod netns;
mod tc;

/// How long an open waits for the veth pair of a previous user to go (its namespace is
/// destroyed asynchronously after that user exits) before answering EBUSY.
const PREVIOUS_USER_PATIENCE: Duration = Duration::from_secs(3);

/// The name of the outer veth end of `ifindex`'s host path.
pub fn outer_name(ifindex: u32) -> String {
    format!("nmh{ifindex}")
}

/// The inner end's name (in the private namespace, so it can never clash with the user's).
const INNER_NAME: &str = "nmxdp-host";

/// What a host path asks of its queue.
pub(crate) struct HostRequest {
    /// The port binds the host TX ring.
    pub tx: bool,
    /// The port binds the host RX ring.
    pub rx: bool,
    /// Slots of the host TX ring.
    pub tx_slots: u32,
    /// Slots of the host RX ring.
    pub rx_slots: u32,
}

/// An interface's host path in this process: the private veth pair, its namespace and the tc
/// programs, shared by every port of the process that binds the interface's host rings (as a
/// NIC queue is), kept in the engine under [`HostKey`].
pub(crate) struct HostPath {
    /// The tc links; None once the capture was stopped.
    tc: Option<tc::TcLinks>,
    /// The private namespace; closing it destroys the pair if nothing else did.
    netns: OwnedFd,
    /// Ports of this process using it.
    users: usize,
}

/// Names an interface's host path within the process: (network namespace inode, ifindex).
pub(crate) type HostKey = (u64, u32);

/// A port's share of a host path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostUse {
    /// The path.
    pub path: HostKey,
    /// Its queue (the last of the port's TX and RX queues).
    pub key: QueueKey,
    /// What the port uses of the queue.
    pub tx: bool,
    pub rx: bool,
    /// How the inner end's program and socket run.
    pub modes: Modes,
}

/// The pieces built so far, undone on drop until the open succeeds.
struct Building {
    netns: Option<OwnedFd>,
}

impl Drop for Building {
    fn drop(&mut self) {
        if let Some(ns) = self.netns.take() {
            let _ = netns::run_in(ns.as_fd(), || link::delete(INNER_NAME));
        }
    }
}

/// Acquires the host queue of `info` (an interface of the calling thread's namespace) for `req`:
/// in the path this process already has for it, or in a new one. All or nothing.
pub(crate) fn acquire(
    eng: &mut Engine,
    info: &IfInfo,
    req: &HostRequest,
) -> Result<(HostUse, Arc<QueueCtx>)> {
    let hk = (current_netns(), info.ifindex);
    refuse_generic_xdp(info)?;
    let ns = match eng.hosts.get(&hk) {
        Some(p) => Some(
            p.netns
                .try_clone()
                .map_err(|e| Error::from_io("host path: duplicating its namespace fd", &e))?,
        ),
        None => None,
    };
    if let Some(ns) = ns {
        let (ctx, key, modes) = acquire_queue(eng, ns.as_fd(), &info.name, req)?;
        eng.hosts.get_mut(&hk).expect("found above").users += 1;
        return Ok((use_of(hk, key, req, modes), ctx));
    }
    let outer = outer_name(info.ifindex);
    let mut b = Building {
        netns: Some(netns::create()?),
    };
    let ns = b.netns.as_ref().expect("set above").as_fd();
    create_pair_waiting(info, &outer, ns)?;
    link::ipv6_off(&outer)?;
    link::tx_csum_off(&outer)?;
    link::set_up(&outer)?;
    let outer_ifindex = if_info(&outer)?.ifindex;
    netns::run_in(ns, || {
        link::ipv6_off(INNER_NAME)?;
        link::set_up(INNER_NAME)
    })?;
    let (ctx, key, modes) = acquire_queue(eng, ns, &info.name, req)?;
    // Capture starts only once the socket is in place, so nothing is lost in between.
    let tc = match tc::TcLinks::attach(&info.name, info.ifindex, &outer, outer_ifindex) {
        Ok(t) => t,
        Err(e) => {
            drop(ctx);
            eng.release(key, req.tx, req.rx);
            return Err(e);
        }
    };
    let netns = b.netns.take().expect("set above");
    eng.hosts.insert(
        hk,
        HostPath {
            tc: Some(tc),
            netns,
            users: 1,
        },
    );
    Ok((use_of(hk, key, req, modes), ctx))
}

/// The frames the host TX ring injects enter X's receive path after the driver: a native XDP
/// program never sees them, a generic (SKB mode) one does, and nmxdp's would put them straight
/// back on X's NIC RX ring, where an in-line forwarder would hand them to the host TX ring
/// again, forever. So host rings and a generic-mode program on X exclude each other.
fn refuse_generic_xdp(info: &IfInfo) -> Result<()> {
    let generic = crate::bpfsys::attached_xdp(info.ifindex)
        .ok()
        .flatten()
        .is_some_and(|a| {
            matches!(
                a.mode,
                crate::bpfsys::XdpAttachedMode::Generic | crate::bpfsys::XdpAttachedMode::Multiple
            )
        });
    if !generic {
        return Ok(());
    }
    Err(generic_xdp_error(&info.name))
}

/// EOPNOTSUPP for host rings next to a generic-mode XDP program on `ifname`.
pub(crate) fn generic_xdp_error(ifname: &str) -> Error {
    Error::new(
        libc::EOPNOTSUPP,
        format!(
            "{ifname}: host rings need the XDP program in native mode, but it runs in generic (skb) mode on {ifname}, which would take the frames given to the host stack back into the NIC rings: use native mode (NMXDP_XDP_MODE=native, on a driver with native XDP), or do not bind the host rings"
        ),
    )
}

/// Whether this process has a host path on `ifindex` of the calling thread's namespace.
pub(crate) fn has_path(eng: &Engine, ifindex: u32) -> bool {
    eng.hosts.contains_key(&(current_netns(), ifindex))
}

fn use_of(path: HostKey, key: QueueKey, req: &HostRequest, modes: Modes) -> HostUse {
    HostUse {
        path,
        key,
        tx: req.tx,
        rx: req.rx,
        modes,
    }
}

/// Acquires the queue of the inner end, from a thread in the path's namespace `ns` (where the
/// engine finds the interface, attaches the XDP program and binds the socket).
fn acquire_queue(
    eng: &mut Engine,
    ns: std::os::fd::BorrowedFd<'_>,
    ifname: &str,
    req: &HostRequest,
) -> Result<(Arc<QueueCtx>, QueueKey, Modes)> {
    let host_name = format!("{ifname}^");
    netns::run_in(ns, || {
        let mut inner = if_info(INNER_NAME)?;
        // The name the holder file and messages show: the user's view of these rings.
        inner.name = host_name;
        let key = QueueKey {
            netns: current_netns(),
            ifindex: inner.ifindex,
            queue: 0,
        };
        let r = QueueRequest {
            key,
            tx: req.tx,
            rx: req.rx,
            tx_slots: req.tx_slots,
            rx_slots: req.rx_slots,
            steered: false,
        };
        let (ctxs, modes) = eng.acquire(&inner, std::slice::from_ref(&r))?;
        let ctx = ctxs.into_iter().next().expect("one queue asked");
        Ok((ctx, key, modes))
    })
}

/// Releases a port's share of a host path. The last user detaches the tc programs first (the
/// stack goes back to the wire before the socket closes), then releases the queue and removes
/// the pair.
pub(crate) fn release(eng: &mut Engine, u: &HostUse) {
    let last = eng.hosts.get(&u.path).is_some_and(|p| p.users <= 1);
    if last {
        if let Some(p) = eng.hosts.get_mut(&u.path) {
            p.tc = None;
        }
    }
    eng.release(u.key, u.tx, u.rx);
    if last {
        eng.hosts.remove(&u.path);
    } else if let Some(p) = eng.hosts.get_mut(&u.path) {
        p.users -= 1;
    }
}

impl Drop for HostPath {
    fn drop(&mut self) {
        self.tc = None;
        // Deleting the inner end deletes the outer one; closing the namespace would too, but
        // only later, from a kernel worker.
        let _ = netns::run_in(self.netns.as_fd(), || link::delete(INNER_NAME));
    }
}

/// Creates the pair; while the outer name exists (another process holds the host rings, or the
/// namespace of one that exited is still being destroyed) retries for a while, then EBUSY.
fn create_pair_waiting(info: &IfInfo, outer: &str, ns: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let deadline = Instant::now() + PREVIOUS_USER_PATIENCE;
    loop {
        match link::create_pair(outer, INNER_NAME, ns, info.mtu) {
            Err(e) if e.errno() == libc::EEXIST && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.errno() == libc::EEXIST => {
                return Err(Error::new(
                    libc::EBUSY,
                    format!(
                        "{}: its host rings are held by another process ({outer} exists): stop it (`nmxdp status`), or bind the NIC rings only (netmap:{})",
                        info.name, info.name
                    ),
                ))
            }
            r => return r,
        }
    }
}

/// Frames the kernel dropped on their way to a host RX ring, from its socket's statistics: no
/// room in the RX ring (`rx_ring_full`), or no free buffer in the fill ring (counted in
/// `rx_dropped`, and also in `rx_fill_ring_empty_descs`, which is left out so that no drop
/// counts twice).
pub fn dropped(x: &crate::sys::xdp_statistics) -> u64 {
    x.rx_dropped + x.rx_ring_full
}

/// What crossed the host path of interface `ifname` (of the calling thread's namespace), from
/// the outer veth end's counters: (frames the stack transmitted on `ifname`, which went to the
/// host RX ring or were dropped there; frames the host TX ring handed to the stack). None when
/// `ifname` has no host path here.
pub fn path_counters(ifname: &str) -> Option<(u64, u64)> {
    let ifindex = crate::ifinfo::if_info(ifname).ok()?.ifindex;
    let outer = outer_name(ifindex);
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").ok()?;
    let line = dev
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{outer}:")))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // rx bytes, rx packets, 6 more rx fields, tx bytes, tx packets, ...
    Some((*f.get(9)?, *f.get(1)?))
}

/// Prefix of the tc programs' names.
pub const PROGRAM_PREFIX: &str = "nmxdp_host";

/// Ids of the host-path tc programs loaded in the kernel (any namespace, any process). They
/// live only as long as their links, so after the last user of every host path exited (and the
/// kernel's deferred release ran) the list is empty.
pub fn loaded_programs() -> Vec<u32> {
    aya::programs::loaded_programs()
        .flatten()
        .filter(|p| p.name().starts_with(PROGRAM_PREFIX.as_bytes()))
        .map(|p| p.id())
        .collect()
}
