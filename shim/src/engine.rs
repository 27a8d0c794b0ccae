//! Process-wide state: the region (shared with other processes unless private), the queues
//! open on it and the XDP attachments.
//!
//! Only ports opening and closing take this lock; syncs never do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::config::{BindChoice, Config};
use crate::error::{Error, Result};
use crate::ifinfo::IfInfo;
use crate::pipe::PipeTable;
use crate::queue::{ring_bytes, QueueCtx, QueueKey, QueueSetup};
use crate::region::Region;
use crate::shared::{hold_queue, iface_key};
use crate::xdp::{AttachMethod, AttachMode, XdpAttachment};
use crate::xsk::{BindAs, BindMode, RingSizes, XskSocket};

struct QueueEntry {
    ctx: Arc<QueueCtx>,
    tx_users: usize,
    rx_users: usize,
}

struct IfaceEntry {
    xdp: XdpAttachment,
    rx_queues_steered: usize,
}

pub(crate) struct Engine {
    /// Settings read from the `NMXDP_*` variables when the engine was created.
    pub cfg: Config,
    /// The process's region (docs/architecture.md, "Shared region"), leaked so that it
    /// outlives every port and C pointer into it.
    pub region: &'static Region,
    queues: HashMap<QueueKey, QueueEntry>,
    ifaces: HashMap<(u64, u32), IfaceEntry>,
    /// The queue whose socket registered the UMEM; later sockets share it through this one.
    umem_owner: Option<QueueKey>,
    bind_mode: Option<BindMode>,
    /// Ports open in this process.
    ports: usize,
    /// Buffers taken back from apps that lost them (see [`Region::recover_all`]).
    pub recovered_buffers: usize,
    /// The process's netmap pipes (docs/architecture.md, "Pipes").
    pub pipes: PipeTable,
    /// The host paths of the interfaces whose host rings ports of this process bind
    /// (docs/architecture.md, "Host rings").
    pub(crate) hosts: HashMap<crate::host::HostKey, crate::host::HostPath>,
}

static ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
/// Serialises the engine's creation: two threads racing the first open must not both map a
/// region (the loser's would leak, and apps could see two bases).
static CREATING: Mutex<()> = Mutex::new(());
/// A configuration given in code before the engine exists ([`configure`]); None: the
/// `NMXDP_*` variables.
static CONFIGURED: Mutex<Option<Config>> = Mutex::new(None);

/// Sets the configuration the process's region and rings are created with, instead of the
/// `NMXDP_*` variables. It must come before the first port opens: once the region exists, a
/// different configuration is `EBUSY` (the region cannot be resized under mapped apps), the same
/// one is accepted.
pub fn configure(cfg: Config) -> Result<()> {
    cfg.validate()?;
    let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = ENGINE.get() {
        let current = m.lock().unwrap_or_else(|p| p.into_inner()).cfg.clone();
        if current != cfg {
            return Err(Error::new(
                libc::EBUSY,
                format!("the netmap region already exists with {current:?}: call nmxdp::configure before the first port opens"),
            ));
        }
        return Ok(());
    }
    *CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()) = Some(cfg);
    Ok(())
}

/// Regions the engine mapped (one per process, ever).
static REGIONS_CREATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The engine, created with the region on first use. The region is never unmapped: C apps keep
/// pointers into it for as long as they like.
pub(crate) fn engine() -> Result<MutexGuard<'static, Engine>> {
    let m = match ENGINE.get() {
        Some(m) => m,
        None => {
            let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
            match ENGINE.get() {
                Some(m) => m,
                None => {
                    let given = CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()).take();
                    let cfg = match given {
                        Some(c) => c,
                        None => Config::from_env()?,
                    };
                    let region: &'static Region = Box::leak(Box::new(Region::open(&cfg)?));
                    REGIONS_CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = ENGINE.set(Mutex::new(Engine {
                        cfg,
                        region,
                        queues: HashMap::new(),
                        ifaces: HashMap::new(),
                        umem_owner: None,
                        bind_mode: None,
                        ports: 0,
                        recovered_buffers: 0,
                        pipes: PipeTable::default(),
                        hosts: HashMap::new(),
                    }));
                    ENGINE.get().expect("set above, under the creation lock")
                }
            }
        }
    };
    Ok(m.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Inode of the calling thread's network namespace: ifindexes are only unique within one.
pub(crate) fn current_netns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or(0)
}

/// What an open asks of one queue.
pub(crate) struct QueueRequest {
    /// The queue wanted.
    pub key: QueueKey,
    /// The port uses the queue's TX ring.
    pub tx: bool,
    /// The port uses the queue's RX ring (the queue then gets its XSK map entry).
    pub rx: bool,
    /// TX ring slots if the queue has to be created; an open queue keeps its size.
    pub tx_slots: u32,
    /// RX ring slots if the queue has to be created; an open queue keeps its size.
    pub rx_slots: u32,
    /// The process's steering rule (`NMXDP_STEER`) applies: true for NIC queues, false for
    /// the host rings' private interface, where everything the stack sends must reach the ring
    /// (a rule there would hand the stack's own answers back to a namespace nobody reads).
    pub steered: bool,
}

/// The XDP modes in use on an interface, reported by the API and `nmxdp info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    /// Mode nmxdp's XDP program runs in on the interface. None when no queue of the interface
    /// has a receiving port in this process (a TX-only port attaches no program).
    pub xdp: Option<AttachMode>,
    /// How the program is held on the interface (bpf_link, or netlink on kernels without XDP
    /// bpf_link). None exactly when `xdp` is None.
    pub method: Option<AttachMethod>,
    /// Bind mode of the port's sockets. All sockets of a process share one UMEM and so the
    /// first socket's mode; `Copy` for a port that bound no queue.
    pub bind: BindMode,
    /// The port's sockets are multi-buffer (`XDP_USE_SG`, like the bind mode a property of the
    /// process's UMEM): frames longer than a buffer travel as slot chains (`NS_MOREFRAG`).
    /// False for a port that bound no queue.
    pub multi_buffer: bool,
}

fn pow2(n: u32) -> u32 {
    n.next_power_of_two()
}

impl Engine {
    /// Opens (or joins) the queues, attaching the XDP program if a queue receives.
    /// All or nothing: on error, whatever was acquired is released.
    pub fn acquire(
        &mut self,
        info: &IfInfo,
        reqs: &[QueueRequest],
    ) -> Result<(Vec<Arc<QueueCtx>>, Modes)> {
        // A process sharing the region that died since the last open left buffers, rings and
        // netmap_if objects behind: take them back before allocating (docs/architecture.md,
        // "Shared region").
        self.region.reclaim_dead();
        let mut done: Vec<&QueueRequest> = Vec::new();
        let mut out = Vec::new();
        for r in reqs {
            match self.acquire_one(info, r) {
                Ok(ctx) => {
                    out.push(ctx);
                    done.push(r);
                }
                Err(e) => {
                    for d in done {
                        self.release(d.key, d.tx, d.rx);
                    }
                    return Err(e);
                }
            }
        }
        let netns = reqs.first().map(|r| r.key.netns).unwrap_or(0);
        let iface = self.ifaces.get(&(netns, info.ifindex));
        let modes = Modes {
            xdp: iface.map(|i| i.xdp.mode),
            method: iface.map(|i| i.xdp.method),
            bind: out
                .first()
                .map(|c: &Arc<QueueCtx>| c.mode)
                .unwrap_or(BindMode::Copy),
            multi_buffer: out.first().is_some_and(|c| c.multi_buffer),
        };
        Ok((out, modes))
    }

    fn acquire_one(&mut self, info: &IfInfo, r: &QueueRequest) -> Result<Arc<QueueCtx>> {
        if !self.queues.contains_key(&r.key) {
            let ctx = self.create_queue(info, r)?;
            self.queues.insert(
                r.key,
                QueueEntry {
                    ctx: Arc::new(ctx),
                    tx_users: 0,
                    rx_users: 0,
                },
            );
        }
        if r.rx && self.queues[&r.key].rx_users == 0 {
            if let Err(e) = self.steer(info, r.key, r.steered) {
                self.drop_if_unused(r.key);
                return Err(e);
            }
        }
        let e = self.queues.get_mut(&r.key).expect("inserted above");
        e.tx_users += r.tx as usize;
        e.rx_users += r.rx as usize;
        Ok(e.ctx.clone())
    }

    fn steer(&mut self, info: &IfInfo, key: QueueKey, steered: bool) -> Result<()> {
        let ik = (key.netns, key.ifindex);
        if !self.ifaces.contains_key(&ik) {
            let xdp = XdpAttachment::attach(&info.name, info.ifindex, self.cfg.xdp_mode)?;
            self.ifaces.insert(
                ik,
                IfaceEntry {
                    xdp,
                    rx_queues_steered: 0,
                },
            );
        }
        let fd = self.queues[&key].ctx.fd();
        // The rule before the socket: no frame the rule refuses ever reaches the ring.
        let rule = match &self.cfg.steer {
            Some(text) if steered => Some(crate::steer::Rule::parse(text)?),
            _ => None,
        };
        let iface = self.ifaces.get_mut(&ik).expect("inserted above");
        let set = iface.xdp.set_rule(&info.name, key.queue, rule.as_ref());
        if let Err(e) = set.and_then(|()| iface.xdp.insert(key.queue, fd)) {
            iface.xdp.clear_rule(key.queue);
            if iface.rx_queues_steered == 0 {
                self.ifaces.remove(&ik);
            }
            return Err(e);
        }
        iface.rx_queues_steered += 1;
        Ok(())
    }

    fn create_queue(&mut self, info: &IfInfo, r: &QueueRequest) -> Result<QueueCtx> {
        let region = self.region;
        let hold = hold_queue(
            &iface_key(r.key.netns, r.key.ifindex),
            &info.name,
            r.key.queue,
        )?;
        let tx_bytes = ring_bytes(r.tx_slots);
        let rx_bytes = ring_bytes(r.rx_slots);
        let tx_off = region.alloc_ring(tx_bytes)?;
        let rx_off = match region.alloc_ring(rx_bytes) {
            Ok(o) => o,
            Err(e) => {
                region.free_ring(tx_off, tx_bytes);
                return Err(e);
            }
        };
        let what = format!(
            "queue {} (tx {} + rx {} slots)",
            r.key.queue, r.tx_slots, r.rx_slots
        );
        // RX gets twice its slots (see queue_buffers): the AF_XDP RX and fill rings hold them all.
        let bufs_n = crate::queue::queue_buffers(r.tx_slots, r.rx_slots);
        let rx_bufs_n = bufs_n - r.tx_slots;
        let bufs = match region.alloc_bufs(bufs_n as usize, &what) {
            Ok(b) => b,
            Err(e) => {
                region.free_ring(tx_off, tx_bytes);
                region.free_ring(rx_off, rx_bytes);
                return Err(e);
            }
        };
        let sizes = RingSizes {
            rx: pow2(rx_bufs_n),
            tx: pow2(r.tx_slots),
            // Twice the buffers it can ever hold: the cached consumer index then always shows
            // room, so a refill never reads the line the kernel's CPU just wrote
            // (docs/architecture.md, "Queues and sockets").
            fill: 2 * pow2(rx_bufs_n),
            comp: pow2(r.tx_slots),
        };
        let sock = match self.bind_socket(r.key, sizes) {
            Ok(s) => s,
            Err(e) => {
                region.free_ring(tx_off, tx_bytes);
                region.free_ring(rx_off, rx_bytes);
                region.free_bufs(bufs);
                return Err(e);
            }
        };
        if self.umem_owner.is_none() {
            self.umem_owner = Some(r.key);
            self.bind_mode = Some(sock.mode);
        }
        let mut parts = sock.into_parts();
        // A shared-UMEM socket is multi-buffer exactly when the UMEM's owner is.
        if let Some(owner) = self.umem_owner.filter(|k| *k != r.key) {
            parts.multi_buffer = self.queues.get(&owner).is_some_and(|o| o.ctx.multi_buffer);
        }
        let (tx_bufs, rx_bufs) = bufs.split_at(r.tx_slots as usize);
        QueueCtx::new(
            region,
            QueueSetup {
                key: r.key,
                tx_slots: r.tx_slots,
                rx_slots: r.rx_slots,
                tx_ring_off: tx_off,
                rx_ring_off: rx_off,
                tx_bufs: tx_bufs.to_vec(),
                rx_bufs: rx_bufs.to_vec(),
            },
            parts,
            hold,
            &info.name,
        )
    }

    /// A socket for `key` on the process's UMEM: shared through the owner's socket, or
    /// registering the UMEM when there is no owner yet.
    ///
    /// The kernel unbinds a socket whose interface goes away (a veth deleted, its namespace
    /// removed), and sharing through an unbound owner fails with `EBADF`
    /// (docs/architecture.md, "Engine"). The process's other queues need not stop there: the new
    /// socket registers the same memory as a UMEM of its own and owns it from then on. Buffer
    /// indices stay valid across both, since both UMEMs start at the region's buffer pool.
    fn bind_socket(&mut self, key: QueueKey, sizes: RingSizes) -> Result<XskSocket> {
        if let Some(owner) = self.umem_owner.and_then(|k| self.queues.get(&k)) {
            let shared = BindAs::Shared {
                owner_fd: owner.ctx.fd(),
            };
            match XskSocket::open(key.ifindex, key.queue, sizes, &shared) {
                Err(e) if e.errno() == libc::EBADF => self.retire_owner(),
                r => return r,
            }
        }
        let owner = BindAs::Owner {
            umem: self.region.umem_spec(),
            mode: match self.cfg.bind {
                BindChoice::Auto => self.bind_mode,
                BindChoice::ZeroCopy => Some(BindMode::ZeroCopy),
                BindChoice::Copy => Some(BindMode::Copy),
            },
        };
        XskSocket::open(key.ifindex, key.queue, sizes, &owner)
    }

    /// Forgets an owner the kernel unbound; it closes now if no port uses it, else with its
    /// last port. The next socket registers the UMEM afresh and picks its mode afresh.
    fn retire_owner(&mut self) {
        if let Some(old) = self.umem_owner.take() {
            self.bind_mode = None;
            self.drop_if_unused(old);
        }
    }

    /// Counts a newly opened port (see [`Engine::port_closed`]).
    pub fn port_opened(&mut self) {
        self.ports += 1;
    }

    /// The last port closed: every buffer this process held must be back; take back any an app
    /// lost.
    pub fn port_closed(&mut self) {
        self.ports = self.ports.saturating_sub(1);
        if self.ports == 0 && self.queues.is_empty() {
            self.recovered_buffers += self.region.recover_all();
        }
    }

    /// Drops one user of a queue; the last one closes it (unless its socket owns the UMEM that
    /// other queues still share: then it stays, idle, until they are gone).
    pub fn release(&mut self, key: QueueKey, tx: bool, rx: bool) {
        let Some(e) = self.queues.get_mut(&key) else {
            return;
        };
        e.tx_users -= (tx && e.tx_users > 0) as usize;
        if rx && e.rx_users > 0 {
            e.rx_users -= 1;
            if e.rx_users == 0 {
                let ik = (key.netns, key.ifindex);
                if let Some(iface) = self.ifaces.get_mut(&ik) {
                    iface.xdp.remove(key.queue);
                    iface.xdp.clear_rule(key.queue);
                    iface.rx_queues_steered -= 1;
                    if iface.rx_queues_steered == 0 {
                        // Dropping the link detaches the program: the interface is as before.
                        self.ifaces.remove(&ik);
                    }
                }
            }
        }
        self.drop_if_unused(key);
        self.collect_idle();
    }

    fn drop_if_unused(&mut self, key: QueueKey) {
        let unused = self
            .queues
            .get(&key)
            .is_some_and(|e| e.tx_users == 0 && e.rx_users == 0);
        if unused && self.umem_owner != Some(key) {
            self.close_queue(key);
        }
    }

    /// Closes the UMEM owner once it is the only queue left and nobody uses it.
    fn collect_idle(&mut self) {
        if let Some(owner) = self.umem_owner {
            let idle = self
                .queues
                .get(&owner)
                .is_none_or(|e| e.tx_users == 0 && e.rx_users == 0);
            if idle && self.queues.len() <= 1 {
                self.close_queue(owner);
                self.umem_owner = None;
            }
        }
    }

    fn close_queue(&mut self, key: QueueKey) {
        if let Some(e) = self.queues.remove(&key) {
            e.ctx.reclaim_buffers();
            let (tb, rb) = e.ctx.ring_bytes;
            let (to, ro) = (e.ctx.tx_ring_off, e.ctx.rx_ring_off);
            // Ports hold Arcs only while open, so this is the last reference: the socket closes here.
            drop(e);
            self.region.free_ring(to, tb);
            self.region.free_ring(ro, rb);
        }
    }
}

/// Errors for requests nmxdp cannot serve (yet), with netmap's errno.
pub(crate) fn unsupported(what: &str) -> Error {
    Error::new(libc::EOPNOTSUPP, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads racing the first use of the engine share one region.
    #[test]
    fn racing_first_use_maps_one_region() {
        let n = 8;
        let barrier = std::sync::Barrier::new(n);
        let bases: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        engine()
                            .expect("an anonymous region needs no privileges")
                            .region
                            .base() as usize
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            bases.windows(2).all(|w| w[0] == w[1]),
            "threads saw different regions"
        );
        assert_eq!(
            REGIONS_CREATED.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // The region exists now: its own configuration is accepted, another one is EBUSY.
        let cfg = engine().unwrap().cfg.clone();
        assert!(configure(cfg.clone()).is_ok());
        let other = cfg.clone().buf_num(cfg.buf_num + 1024);
        assert_eq!(configure(other).unwrap_err().errno(), libc::EBUSY);
    }
}
