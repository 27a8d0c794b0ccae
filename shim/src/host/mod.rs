//! Host rings (`netmap:IFACE^`, `netmap:IFACE*`): the interface's own network stack as one more
//! ring pair of the port (docs/architecture.md, "Host rings").
//!
//! Each host path has a private veth pair: the outer end `nmh<ifindex>` in the interface's
//! namespace, the inner end in a namespace only this process holds ([`netns`]). The inner end
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

/// One port's host path: the private veth pair, its namespace and the tc programs.
pub(crate) struct HostPath {
    /// The tc links; None once the capture was stopped.
    tc: Option<tc::TcLinks>,
    /// The private namespace; closing it destroys the pair if nothing else did.
    netns: OwnedFd,
    /// The host queue, on the inner end.
    pub key: QueueKey,
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

impl HostPath {
    /// Builds the host path of `info` (an interface of the calling thread's namespace) and
    /// acquires its queue in `eng`. All or nothing.
    pub(crate) fn open(
        eng: &mut Engine,
        info: &IfInfo,
        req: &HostRequest,
    ) -> Result<(HostPath, Arc<QueueCtx>)> {
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
        let host_name = format!("{}^", info.name);
        let (ctxs, modes, key) = netns::run_in(ns, || {
            link::ipv6_off(INNER_NAME)?;
            link::set_up(INNER_NAME)?;
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
            };
            let (ctxs, modes) = eng.acquire(&inner, std::slice::from_ref(&r))?;
            Ok((ctxs, modes, key))
        })?;
        let ctx = ctxs.into_iter().next().expect("one queue asked");
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
        Ok((
            HostPath {
                tc: Some(tc),
                netns,
                key,
                modes,
            },
            ctx,
        ))
    }

    /// Detaches the tc programs: the stack transmits on the wire again and nothing reaches the
    /// host TX path's redirect. Call before releasing the host queue.
    pub(crate) fn stop(&mut self) {
        self.tc = None;
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
