//! A netmap port: what one `/dev/netmap` file descriptor registers (docs/netmap-compat.md,
//! "Ports and names", "Register modes and flags").

use std::sync::Arc;
use std::time::Duration;

use crate::abi::{
    netmap_if, NR_EXCLUSIVE, NR_MONITOR_RX, NR_MONITOR_TX, NR_NO_TX_POLL, NR_REG_ALL_NIC,
    NR_REG_NIC_SW, NR_REG_NULL, NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_REG_SW, NR_RX_RINGS_ONLY,
    NR_TX_RINGS_ONLY, NR_ZCOPY_MON,
};
use crate::engine::{current_netns, engine, unsupported, Modes, QueueRequest};
use crate::error::{Error, Result};
use crate::host::{HostRequest, HostUse};
use crate::ifinfo::{if_info, IfInfo};
use crate::name::{parse_port, PortSpec};
use crate::pipe::{parse_pipe_name, PipeEnd, PipeName, PipeRequest};
use crate::queue::{PortStats, QueueCtx, QueueKey, SyncStatus};
use crate::region::{Region, GLOBAL_MEM_ID};
use crate::ring::{busy, Held, Ring, RxRing, TxRing};

mod builder;
mod extra;
pub mod poll;
pub use builder::{PortBuilder, RegFlags, RegMode};
pub use extra::ExtraBuf;
pub use poll::{Events, WaitPlan};

/// An open netmap port over AF_XDP.
///
/// ```no_run
/// use nmxdp::{Events, Port};
/// # fn main() -> nmxdp::Result<()> {
/// let mut port = Port::open("netmap:veth0")?;
/// // Send one frame on the first TX ring.
/// port.tx_ring(0).push(&[0xffu8; 60]);
/// port.sync_tx()?;
/// // Receive whatever arrives within a second.
/// port.poll(Events::IN, Some(std::time::Duration::from_secs(1)))?;
/// for pkt in port.rx_ring(0).packets() {
///     println!("{} bytes in slot {}", pkt.len(), pkt.slot);
/// }
/// # Ok(()) }
/// ```
pub struct Port {
    spec: PortSpec,
    info: IfInfo,
    region: &'static Region,
    nifp_off: u64,
    tx: Vec<Arc<QueueCtx>>,
    rx: Vec<Arc<QueueCtx>>,
    first_tx: u32,
    first_rx: u32,
    modes: Modes,
    extra_bufs: u32,
    tx_slots: u32,
    rx_slots: u32,
    ntx: u32,
    nrx: u32,
    no_tx_poll: bool,
    /// pollfds of the RX sockets, built once so that waiting never allocates.
    rx_pollfds: Vec<libc::pollfd>,
    /// RX slots filled as of the previous wait (poll naps only in a stream, see `wait_plan`).
    rx_slots_seen: u64,
    rx_nap: Duration,
    /// Look-again time before a sleep on sparse traffic (see `Config::rx_spin_us`).
    rx_spin: Duration,
    /// Looks-again in a row that found nothing, and waits since the last try while that
    /// stopped them (see `poll::SPIN_MISSES`).
    spin_misses: u8,
    spin_retry: u16,
    /// The next wait for TX room (see `poll::TX_WAIT_FIRST`).
    tx_wait: Duration,
    /// The pipe end of a pipe port (`NAME{ID`, `NAME}ID`); `tx` and `rx` are then empty.
    pipe: Option<PipeEnd>,
    /// The port's share of its interface's host path (`^`, `*`); its queue is the last of `tx`
    /// and of `rx`, ring index `ntx` / `nrx` as in netmap.
    host: Option<HostUse>,
}

/// What a port registered, as `nmreq_register` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registration {
    /// Region offset of the port's `netmap_if`; 0 from [`port_info`], which registers nothing.
    pub nr_offset: u64,
    /// Size of the region in bytes, what `mmap` of the fd must cover; below 4 GiB.
    pub nr_memsize: u64,
    /// Slots per TX ring. A queue already open in the process keeps the size its first opener
    /// chose, which may differ from the one asked for.
    pub nr_tx_slots: u32,
    /// Slots per RX ring (same rule as `nr_tx_slots`).
    pub nr_rx_slots: u32,
    /// TX queues of the interface, whichever of them the port bound.
    pub nr_tx_rings: u16,
    /// RX queues of the interface, whichever of them the port bound.
    pub nr_rx_rings: u16,
    /// Host TX rings: 1 for a NIC port (the host ring pair, bound with `^` or `*`), 0 for a
    /// pipe end, as netmap reports.
    pub nr_host_tx_rings: u16,
    /// Host RX rings (same rule as `nr_host_tx_rings`).
    pub nr_host_rx_rings: u16,
    /// Memory allocator id: always 1, the one region of the process.
    pub nr_mem_id: u16,
    /// Extra buffers granted, chained from `ni_bufs_head`: as many as were free, up to the
    /// number asked; 0 from [`port_info`].
    pub nr_extra_bufs: u32,
}

impl Port {
    /// Opens a port by netmap name, e.g. `netmap:eth0`, `netmap:eth0-1`, `netmap:eth0/T`.
    pub fn open(name: &str) -> Result<Port> {
        let spec = parse_port(name)?;
        Self::open_spec(spec, 0)
    }

    /// Opens a parsed port, asking for `extra_bufs` extra buffers (netmap's `nr_extra_bufs`).
    pub fn open_spec(spec: PortSpec, extra_bufs: u32) -> Result<Port> {
        check_supported(&spec)?;
        if let Some(name) = parse_pipe_name(&spec.name) {
            return Self::open_pipe(spec, name?, extra_bufs);
        }
        // A name that cannot work is reported before missing privileges, as netmap reports
        // ENXIO to anyone allowed to open /dev/netmap.
        let info = if_info(&spec.name)?;
        check_privileges()?;
        check_mode(&spec)?;
        let mut eng = engine()?;
        let cfg = eng.cfg.clone();
        let region = eng.region;
        let nq = info.rx_queues.max(info.tx_queues);
        let (ntx, nrx) = (info.tx_queues, info.rx_queues);
        let (mut txq, mut rxq) = bound_queues(&spec, &info)?;
        if spec.flags & NR_TX_RINGS_ONLY != 0 {
            rxq.clear();
        }
        if spec.flags & NR_RX_RINGS_ONLY != 0 {
            txq.clear();
        }
        let netns = current_netns();
        let slots = |v: Option<u32>| {
            v.unwrap_or(cfg.slots)
                .clamp(crate::config::MIN_SLOTS, crate::config::MAX_SLOTS)
        };
        let (tx_slots, rx_slots) = (slots(spec.conf.tx_slots), slots(spec.conf.rx_slots));
        let mut reqs: Vec<QueueRequest> = Vec::new();
        for q in 0..nq {
            let (t, r) = (txq.contains(&q), rxq.contains(&q));
            if t || r {
                reqs.push(QueueRequest {
                    key: QueueKey {
                        netns,
                        ifindex: info.ifindex,
                        queue: q,
                    },
                    tx: t,
                    rx: r,
                    tx_slots,
                    rx_slots,
                    steered: true,
                });
            }
        }
        let (ctxs, mut modes) = eng.acquire(&info, &reqs)?;
        // A generic-mode program would loop the host TX ring's frames (host::generic_xdp_error).
        let host_wanted = host_request(&spec, 0, 0).is_some();
        let refused = if modes.xdp == Some(crate::xdp::AttachMode::Skb)
            && (host_wanted || crate::host::has_path(&eng, info.ifindex))
        {
            Err(crate::host::generic_xdp_error(&info.name))
        } else {
            // Known only now: whether the sockets could be bound multi-buffer.
            check_mtu(
                &spec,
                &info,
                &region.layout,
                modes.multi_buffer && !reqs.is_empty(),
            )
        };
        if let Err(e) = refused {
            drop(ctxs);
            for r in &reqs {
                eng.release(r.key, r.tx, r.rx);
            }
            return Err(e);
        }
        let mut tx = Vec::new();
        let mut rx = Vec::new();
        for (r, c) in reqs.iter().zip(ctxs) {
            if r.tx {
                tx.push(c.clone());
            }
            if r.rx {
                rx.push(c);
            }
        }
        let host_req = host_request(&spec, tx_slots, rx_slots);
        let host = match &host_req {
            None => None,
            Some(h) => match crate::host::acquire(&mut eng, &info, h) {
                Ok((u, ctx)) => {
                    if h.tx {
                        tx.push(ctx.clone());
                    }
                    if h.rx {
                        rx.push(ctx);
                    }
                    if reqs.is_empty() {
                        modes = u.modes;
                    }
                    Some(u)
                }
                Err(e) => {
                    drop((tx, rx));
                    for r in &reqs {
                        eng.release(r.key, r.tx, r.rx);
                    }
                    return Err(e);
                }
            },
        };
        let nifp_off = match region.alloc_if() {
            Ok(o) => o,
            Err(e) => {
                drop((tx, rx));
                if let Some(u) = &host {
                    crate::host::release(&mut eng, u);
                }
                for r in &reqs {
                    eng.release(r.key, r.tx, r.rx);
                }
                return Err(e);
            }
        };
        eng.port_opened();
        drop(eng);
        let mut port = Port {
            first_tx: txq.first().copied().unwrap_or(ntx),
            first_rx: rxq.first().copied().unwrap_or(nrx),
            tx_slots: tx.first().map(|c| c.tx_slots()).unwrap_or(tx_slots),
            rx_slots: rx.first().map(|c| c.rx_slots()).unwrap_or(rx_slots),
            no_tx_poll: spec.flags & NR_NO_TX_POLL != 0,
            spec,
            info,
            region,
            nifp_off,
            tx,
            rx,
            modes,
            extra_bufs: 0,
            ntx,
            nrx,
            rx_pollfds: Vec::new(),
            rx_slots_seen: 0,
            rx_nap: Duration::from_micros(cfg.rx_nap_us as u64),
            rx_spin: Duration::from_micros(cfg.rx_spin_us as u64),
            spin_misses: 0,
            spin_retry: 0,
            tx_wait: poll::TX_WAIT_FIRST,
            pipe: None,
            host,
        };
        port.rx_pollfds = port
            .rx
            .iter()
            .map(|c| libc::pollfd {
                fd: c.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        port.rx_slots_seen = port.rx_slots();
        port.write_nifp();
        port.extra_bufs = port.give_extra_bufs(extra_bufs);
        Ok(port)
    }

    /// Opens an end of a pipe (docs/architecture.md, "Pipes"). Any NAME works: netmap too serves
    /// a pipe on a name that is no interface (it creates a VALE port for it). No privileges are
    /// needed, as no kernel object is involved.
    fn open_pipe(spec: PortSpec, name: PipeName, extra_bufs: u32) -> Result<Port> {
        check_pipe_mode(&spec)?;
        let mut eng = engine()?;
        let region = eng.region;
        let cfg = eng.cfg.clone();
        let req = PipeRequest {
            name,
            tx: spec.flags & NR_RX_RINGS_ONLY == 0,
            rx: spec.flags & NR_TX_RINGS_ONLY == 0,
            exclusive: spec.flags & NR_EXCLUSIVE != 0,
            tx_slots: spec.conf.tx_slots,
            rx_slots: spec.conf.rx_slots,
        };
        let end = eng.pipes.open(region, cfg.slots, req)?;
        let nifp_off = match region.alloc_if() {
            Ok(o) => o,
            Err(e) => {
                eng.pipes.close(end);
                return Err(e);
            }
        };
        eng.port_opened();
        drop(eng);
        let (tx_slots, rx_slots) = end.slots();
        let info = IfInfo {
            name: spec.name.clone(),
            ifindex: 0,
            mtu: region.layout.max_frame().saturating_sub(14),
            mac: [0; 6],
            is_up: true,
            rx_queues: 1,
            tx_queues: 1,
            rx_ring_size: Some(rx_slots),
            tx_ring_size: Some(tx_slots),
            driver: Some("pipe".to_string()),
        };
        let mut port = Port {
            first_tx: if end.tx { 0 } else { 1 },
            first_rx: if end.rx { 0 } else { 1 },
            tx_slots,
            rx_slots,
            no_tx_poll: spec.flags & NR_NO_TX_POLL != 0,
            spec,
            info,
            region,
            nifp_off,
            tx: Vec::new(),
            rx: Vec::new(),
            modes: Modes {
                xdp: None,
                method: None,
                bind: crate::xsk::BindMode::Copy,
                multi_buffer: false,
            },
            extra_bufs: 0,
            ntx: 1,
            nrx: 1,
            rx_pollfds: Vec::new(),
            rx_slots_seen: 0,
            rx_nap: Duration::ZERO,
            rx_spin: Duration::ZERO,
            spin_misses: 0,
            spin_retry: 0,
            tx_wait: poll::TX_WAIT_FIRST,
            pipe: None,
            host: None,
        };
        port.rx_pollfds = end
            .wake_fds()
            .into_iter()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        port.pipe = Some(end);
        port.write_nifp();
        port.extra_bufs = port.give_extra_bufs(extra_bufs);
        Ok(port)
    }

    /// The pid of the process that holds pipe end `name` (`netmap:NAME{ID` or `NAME}ID`), None
    /// when the pipe does not exist or that end is closed. Opens nothing (unlike a probing
    /// open, which would hold the end for a moment).
    pub fn pipe_end_holder(name: &str) -> Result<Option<u32>> {
        let spec = parse_port(name)?;
        let Some(pn) = parse_pipe_name(&spec.name) else {
            return Err(Error::new(
                libc::EINVAL,
                format!("{name}: not a pipe end (NAME{{ID or NAME}}ID)"),
            ));
        };
        let pn = pn?;
        let eng = engine()?;
        Ok(crate::pipe::PipeTable::holder(eng.region, &pn))
    }

    /// Fills this port's `netmap_if`: unbound rings have offset 0 (docs/netmap-compat.md,
    /// "Register modes and flags").
    fn write_nifp(&mut self) {
        if let Some(end) = &self.pipe {
            // A pipe end has one ring per direction and no host rings. The RX ring's offset is
            // also written one entry further, where API 11-13 binaries look for it (they skip
            // one host TX ring whatever ni_host_tx_rings says).
            let (t, r) = end.ring_offsets();
            let rel = |on: bool, off: u64| {
                if on {
                    (off - self.nifp_off) as isize
                } else {
                    0
                }
            };
            let (t, r) = (rel(end.tx, t), rel(end.rx, r));
            let mut hdr = netmap_if {
                ni_tx_rings: 1,
                ni_rx_rings: 1,
                ..Default::default()
            };
            hdr.set_name(&self.info.name);
            self.nifp().write(hdr, &[t, r, r, 0]);
            return;
        }
        let nifp = self.nifp();
        let rx_base = (self.ntx + 1) as usize;
        let mut ofs = vec![0isize; rx_base + self.nrx as usize + 1];
        // Bound rings are contiguous from first_tx/first_rx, the host ring (index ntx/nrx) last.
        for (k, c) in self.tx.iter().enumerate() {
            ofs[self.first_tx as usize + k] = (c.tx_ring_off - self.nifp_off) as isize;
        }
        for (k, c) in self.rx.iter().enumerate() {
            ofs[rx_base + self.first_rx as usize + k] = (c.rx_ring_off - self.nifp_off) as isize;
        }
        let mut hdr = netmap_if {
            ni_tx_rings: self.ntx,
            ni_rx_rings: self.nrx,
            ni_host_tx_rings: 1,
            ni_host_rx_rings: 1,
            ..Default::default()
        };
        hdr.set_name(&self.info.name);
        nifp.write(hdr, &ofs);
    }

    /// Links up to `n` extra buffers from `ni_bufs_head` through their first 4 bytes.
    fn give_extra_bufs(&mut self, n: u32) -> u32 {
        let bufs = self.region.alloc_bufs_upto(n as usize);
        let mut head = 0u32;
        for &b in &bufs {
            self.region.set_buf_word(b, head);
            head = b;
        }
        self.nifp().set_bufs_head(head);
        bufs.len() as u32
    }

    /// Frees the chain `ni_bufs_head` points to now (the app may have rearranged it).
    fn free_extra_bufs(&mut self) {
        let mut b = self.nifp().bufs_head();
        let mut chain = Vec::new();
        let limit = self.region.layout.buf_num;
        while b >= 2 && b < limit && chain.len() < limit as usize {
            chain.push(b);
            b = self.region.buf_word(b).unwrap_or(0);
        }
        self.region.free_bufs(chain);
    }

    fn nifp(&self) -> crate::shm::SharedIf {
        let ring_ofs = (self.ntx + self.nrx + 2) as usize;
        self.region
            .nifp_at(self.nifp_off, ring_ofs)
            .expect("the region sizes netmap_if objects for every queue of an interface")
    }

    /// The parsed name this port was opened with.
    pub fn spec(&self) -> &PortSpec {
        &self.spec
    }

    /// Interface facts (index, MTU, MAC, queue counts).
    pub fn if_info(&self) -> &IfInfo {
        &self.info
    }

    /// XDP attach mode and AF_XDP bind mode in use.
    pub fn modes(&self) -> Modes {
        self.modes
    }

    /// Most slots one frame may take on this port's NIC rings: 1 unless its sockets are
    /// multi-buffer ([`Modes::multi_buffer`]), else the kernel's limit (docs/architecture.md,
    /// "Jumbo frames"). A longer chain is dropped whole by the sync and counted
    /// (`tx_dropped_chains`).
    pub fn max_frame_slots(&self) -> u32 {
        if self.modes.multi_buffer {
            crate::queue::max_frags()
        } else {
            1
        }
    }

    /// Registration results, as NIOCCTRL/REGISTER writes them back.
    pub fn registration(&self) -> Registration {
        let host = if self.pipe.is_some() { 0 } else { 1 };
        Registration {
            nr_offset: self.nifp_off,
            nr_memsize: self.region.layout.memsize,
            nr_tx_slots: self.tx_slots,
            nr_rx_slots: self.rx_slots,
            nr_tx_rings: self.ntx as u16,
            nr_rx_rings: self.nrx as u16,
            nr_host_tx_rings: host,
            nr_host_rx_rings: host,
            nr_mem_id: GLOBAL_MEM_ID,
            nr_extra_bufs: self.extra_bufs,
        }
    }

    /// Base address of the shared region this port lives in (what mmap of the fd returns).
    pub fn region_base(&self) -> *mut u8 {
        self.region.base()
    }

    /// Address of this port's `netmap_if`.
    pub fn netmap_if(&self) -> *mut netmap_if {
        self.nifp().as_ptr()
    }

    /// Netmap indices of the bound TX rings (first..=last); empty when none.
    pub fn tx_rings(&self) -> std::ops::Range<u32> {
        let n = match &self.pipe {
            Some(end) => end.tx as u32,
            None => self.tx.len() as u32,
        };
        self.first_tx..self.first_tx + n
    }

    /// Netmap indices of the bound RX rings (first..=last); empty when none.
    pub fn rx_rings(&self) -> std::ops::Range<u32> {
        let n = match &self.pipe {
            Some(end) => end.rx as u32,
            None => self.rx.len() as u32,
        };
        self.first_rx..self.first_rx + n
    }

    /// A view of TX ring `i` (a netmap ring index in [`Port::tx_rings`]).
    ///
    /// # Panics
    /// If ring `i` is not bound to this port, or this thread holds it through another port
    /// (see [`Port::try_tx_ring`]).
    pub fn tx_ring(&mut self, i: u32) -> TxRing<'_> {
        self.try_tx_ring(i).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A view of RX ring `i` (a netmap ring index in [`Port::rx_rings`]).
    ///
    /// # Panics
    /// As [`Port::tx_ring`].
    pub fn rx_ring(&mut self, i: u32) -> RxRing<'_> {
        self.try_rx_ring(i).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A view of TX ring `i`: EINVAL if it is not bound to this port, EBUSY if this thread
    /// already holds it through a view of another port.
    pub fn try_tx_ring(&mut self, i: u32) -> Result<TxRing<'_>> {
        if let Some(end) = &self.pipe {
            return pipe_view(end, true, i, self.tx_rings(), self.region);
        }
        let c = self.tx_ctx(i)?;
        tx_view(c, self.region).ok_or_else(|| busy("TX", i))
    }

    /// A view of RX ring `i` (errors as [`Port::try_tx_ring`]).
    pub fn try_rx_ring(&mut self, i: u32) -> Result<RxRing<'_>> {
        if let Some(end) = &self.pipe {
            return pipe_view(end, false, i, self.rx_rings(), self.region);
        }
        let c = self.rx_ctx(i)?;
        rx_view(c, self.region).ok_or_else(|| busy("RX", i))
    }

    /// TX ring `t` and RX ring `r` at once, e.g. to swap buffers between them.
    ///
    /// # Panics
    /// As [`Port::tx_ring`].
    pub fn tx_rx_rings(&mut self, t: u32, r: u32) -> (TxRing<'_>, RxRing<'_>) {
        let region = self.region;
        if let Some(end) = &self.pipe {
            let tx = pipe_view(end, true, t, self.tx_rings(), region);
            let rx = pipe_view(end, false, r, self.rx_rings(), region);
            return (
                tx.unwrap_or_else(|e| panic!("{e}")),
                rx.unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let tc = self.tx_ctx(t).unwrap_or_else(|e| panic!("{e}"));
        let rc = self.rx_ctx(r).unwrap_or_else(|e| panic!("{e}"));
        let tx = tx_view(tc, region).unwrap_or_else(|| panic!("{}", busy("TX", t)));
        let rx = rx_view(rc, region).unwrap_or_else(|| panic!("{}", busy("RX", r)));
        (tx, rx)
    }

    /// Views of every bound ring at once: the TX rings, then the RX rings, in ring order.
    ///
    /// # Panics
    /// As [`Port::tx_ring`], when a view is taken.
    pub fn rings_mut(
        &mut self,
    ) -> (
        impl Iterator<Item = TxRing<'_>>,
        impl Iterator<Item = RxRing<'_>>,
    ) {
        let region = self.region;
        let (ft, fr) = (self.first_tx, self.first_rx);
        // A pipe end has at most one ring per direction, taken here; NIC rings as iterated.
        let (pt, pr) = match &self.pipe {
            Some(end) => (
                end.tx.then(|| {
                    pipe_view(end, true, ft, self.tx_rings(), region)
                        .unwrap_or_else(|e| panic!("{e}"))
                }),
                end.rx.then(|| {
                    pipe_view(end, false, fr, self.rx_rings(), region)
                        .unwrap_or_else(|e| panic!("{e}"))
                }),
            ),
            None => (None, None),
        };
        (
            self.tx
                .iter()
                .enumerate()
                .map(move |(k, c)| {
                    tx_view(c, region).unwrap_or_else(|| panic!("{}", busy("TX", ft + k as u32)))
                })
                .chain(pt),
            self.rx
                .iter()
                .enumerate()
                .map(move |(k, c)| {
                    rx_view(c, region).unwrap_or_else(|| panic!("{}", busy("RX", fr + k as u32)))
                })
                .chain(pr),
        )
    }

    fn tx_ctx(&self, i: u32) -> Result<&Arc<QueueCtx>> {
        i.checked_sub(self.first_tx)
            .and_then(|k| self.tx.get(k as usize))
            .ok_or_else(|| not_bound("TX", i, self.tx_rings()))
    }

    fn rx_ctx(&self, i: u32) -> Result<&Arc<QueueCtx>> {
        i.checked_sub(self.first_rx)
            .and_then(|k| self.rx.get(k as usize))
            .ok_or_else(|| not_bound("RX", i, self.rx_rings()))
    }

    /// NIOCTXSYNC: transmit `[hwcur, head)` of every bound TX ring and reclaim completed slots.
    /// Like netmap, a ring with bad head/cur is re-initialised and the call still succeeds;
    /// a device that went away or down is an error (EIO).
    pub fn sync_tx(&mut self) -> Result<()> {
        if let Some(end) = &self.pipe {
            end.txsync();
            return Ok(());
        }
        let mut down = false;
        for c in &self.tx {
            down |= c.txsync() == SyncStatus::DeviceError;
        }
        self.device_result(down)
    }

    /// NIOCRXSYNC: return released slots to the kernel and pick up received packets.
    pub fn sync_rx(&mut self) -> Result<()> {
        if let Some(end) = &self.pipe {
            end.rxsync();
            return Ok(());
        }
        let mut down = false;
        for c in &self.rx {
            down |= c.rxsync() == SyncStatus::DeviceError;
        }
        self.device_result(down)
    }

    /// Might a [`Port::sync_rx`] bring new frames? False only when the kernel has delivered
    /// nothing to this port's AF_XDP RX rings since their last sync and waits for no wakeup:
    /// read without locks or syscalls, so a busy-wait loop can spin on it and sync only when it says yes (as a raw
    /// AF_XDP loop spins on its RX ring). Always true for a pipe end.
    #[inline]
    pub fn rx_waiting(&self) -> bool {
        self.pipe.is_some() || self.rx.iter().any(|c| c.rx_waiting())
    }

    /// Would [`Port::sync_rx`] do nothing at all (see [`QueueCtx::rx_idle`])? False for a
    /// pipe end. NIOCRXSYNC in a busy-wait loop answers from this without taking a lock.
    #[inline]
    pub fn rx_idle(&self) -> bool {
        self.pipe.is_none() && self.rx.iter().all(|c| c.rx_idle())
    }

    fn device_result(&self, down: bool) -> Result<()> {
        if !down {
            return Ok(());
        }
        // netmap answers EIO for a sync on a stopped ring (docs/netmap-compat.md, "Errors").
        Err(Error::new(
            libc::EIO,
            format!(
                "{}: the interface went away or down while syncing: bring it up (ip link set dev {} up) and reopen the port",
                self.info.name, self.info.name
            ),
        ))
    }

    /// Counters summed over this port's queues.
    pub fn stats(&self) -> PortStats {
        let mut s = PortStats::default();
        if let Some(end) = &self.pipe {
            let [tp, tb, rp, rb] = end.counts();
            s.tx_packets = tp;
            s.tx_bytes = tb;
            s.rx_packets = rp;
            s.rx_bytes = rb;
            return s;
        }
        for c in self.queues() {
            s.add(&c.counters);
        }
        if let Some(h) = &self.host {
            if let Some(c) = self.queues().into_iter().find(|c| c.key == h.key) {
                let mut one = PortStats::default();
                one.add(&c.counters);
                s.host_rx_packets = one.rx_packets;
                s.host_tx_packets = one.tx_packets;
                s.host_rx_dropped = crate::xsk::statistics(c.fd())
                    .map(|x| crate::host::dropped(&x))
                    .unwrap_or(0);
            }
        }
        s
    }

    /// Each queue of the port once (a queue bound in both directions appears in both lists).
    fn queues(&self) -> Vec<&Arc<QueueCtx>> {
        unique_by_key(self.tx.iter().chain(self.rx.iter()), |c| c.key)
    }

    /// Kernel counters (XDP_STATISTICS) summed over this port's sockets: RX drops for lack of
    /// fill buffers or ring room, invalid descriptors.
    pub fn xdp_statistics(&self) -> crate::sys::xdp_statistics {
        let mut sum = crate::sys::xdp_statistics::default();
        for fd in self.socket_fds() {
            if let Ok(s) = crate::xsk::statistics(fd) {
                sum += s;
            }
        }
        sum
    }

    /// The fds a sleeper on this port waits on, for callers that build their own event loops:
    /// the AF_XDP sockets (one per queue) of a NIC port; the eventfds of a pipe end, which the
    /// peer signals when it publishes frames or gives room back to an end that said it sleeps
    /// ([`Port::wait_plan`] says so).
    pub fn socket_fds(&self) -> Vec<i32> {
        if let Some(end) = &self.pipe {
            return end.wake_fds();
        }
        self.queues().into_iter().map(|c| c.fd()).collect()
    }
}

/// The items of `items` whose key was not seen before, in order.
fn unique_by_key<T, K: PartialEq>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for it in items {
        let k = key(&it);
        if !out.iter().any(|o| key(o) == k) {
            out.push(it);
        }
    }
    out
}

fn tx_view<'a>(c: &'a QueueCtx, region: &'a Region) -> Option<TxRing<'a>> {
    let g = c.tx.lock_view()?;
    let shm = g.ring;
    Some(Ring::new(shm, region, Held::Tx(g)))
}

fn rx_view<'a>(c: &'a QueueCtx, region: &'a Region) -> Option<RxRing<'a>> {
    let g = c.rx.lock_view()?;
    let shm = g.ring;
    Some(Ring::new(shm, region, Held::Rx(g)))
}

/// A view of a pipe end's TX (`tx`) or RX ring `i`: EINVAL unless `i` is in `bound`, EBUSY
/// while a sync (of any thread or process sharing the end) or another view holds the ring.
fn pipe_view<'a, D: crate::ring::Direction>(
    end: &'a PipeEnd,
    tx: bool,
    i: u32,
    bound: std::ops::Range<u32>,
    region: &'a Region,
) -> Result<Ring<'a, D>> {
    let dir = if tx { "TX" } else { "RX" };
    if !bound.contains(&i) {
        return Err(not_bound(dir, i, bound));
    }
    let v = end.view(tx).ok_or_else(|| {
        Error::new(
            libc::EBUSY,
            format!("{dir} ring {i} of pipe end {} is being synced or viewed through another port: drop that view first", end.pipe.end_name(end.role)),
        )
    })?;
    let shm = v.ring;
    Ok(Ring::new(shm, region, Held::Pipe(v)))
}

fn not_bound(dir: &str, i: u32, bound: std::ops::Range<u32>) -> Error {
    Error::new(
        libc::EINVAL,
        format!("{dir} ring {i} is not bound to this port (bound: {bound:?}): pick a ring in that range or open the port with it"),
    )
}

impl Drop for Port {
    fn drop(&mut self) {
        self.free_extra_bufs();
        let host = self.host.take();
        let host_key = host.map(|u| u.key);
        let keys: Vec<(QueueKey, bool, bool)> = {
            let mut v: Vec<(QueueKey, bool, bool)> = Vec::new();
            // The host queue is released with the host path, below.
            for c in self.tx.iter().filter(|c| Some(c.key) != host_key) {
                v.push((c.key, true, false));
            }
            for c in self.rx.iter().filter(|c| Some(c.key) != host_key) {
                if let Some(e) = v.iter_mut().find(|e| e.0 == c.key) {
                    e.2 = true;
                } else {
                    v.push((c.key, false, true));
                }
            }
            v
        };
        self.tx.clear();
        self.rx.clear();
        let pipe = self.pipe.take();
        if let Ok(mut eng) = engine() {
            if let Some(u) = &host {
                crate::host::release(&mut eng, u);
            }
            for (k, t, r) in keys {
                eng.release(k, t, r);
            }
            if let Some(end) = pipe {
                eng.pipes.close(end);
            }
            eng.region.free_if(self.nifp_off);
            eng.port_closed();
        }
    }
}

/// What PORT_INFO_GET reports for `spec` without registering it (rings, slots, memory).
pub fn port_info(spec: &PortSpec) -> Result<Registration> {
    check_supported(spec)?;
    if let Some(name) = parse_pipe_name(&spec.name) {
        return pipe_registration(spec, &name?);
    }
    let info = if_info(&spec.name)?;
    check_mode(spec)?;
    let eng = engine()?;
    Ok(registration_for(spec, &info, &eng.cfg, &eng.region.layout))
}

/// The checks of the request itself that registering `spec` makes (name, mode, ring; the
/// same functions [`Port::open_spec`] calls), and what it would report: the C library's dry run
/// of a request that fails later for another reason gives the errno a registration would.
pub fn check_registration(spec: &PortSpec) -> Result<Registration> {
    check_supported(spec)?;
    if let Some(name) = parse_pipe_name(&spec.name) {
        return pipe_registration(spec, &name?);
    }
    let info = if_info(&spec.name)?;
    check_mode(spec)?;
    let eng = engine()?;
    bound_queues(spec, &info)?;
    Ok(registration_for(spec, &info, &eng.cfg, &eng.region.layout))
}

/// What registering pipe end `name` would report (its checks, and the slots the pipe has or
/// would get), without creating it.
fn pipe_registration(spec: &PortSpec, name: &PipeName) -> Result<Registration> {
    check_pipe_mode(spec)?;
    let eng = engine()?;
    let (tx, rx) = eng.pipes.slots_for(
        eng.region,
        name,
        eng.cfg.slots,
        spec.conf.tx_slots,
        spec.conf.rx_slots,
    );
    Ok(Registration {
        nr_offset: 0,
        nr_memsize: eng.region.layout.memsize,
        nr_tx_slots: tx,
        nr_rx_slots: rx,
        nr_tx_rings: 1,
        nr_rx_rings: 1,
        nr_host_tx_rings: 0,
        nr_host_rx_rings: 0,
        nr_mem_id: GLOBAL_MEM_ID,
        nr_extra_bufs: 0,
    })
}

/// netmap serves pipes in the modes that name hardware rings only; a pipe end has one ring pair,
/// ring 0.
fn check_pipe_mode(spec: &PortSpec) -> Result<()> {
    match (spec.mode, spec.ringid) {
        (NR_REG_ALL_NIC, _) | (NR_REG_ONE_NIC, 0) => Ok(()),
        (NR_REG_ONE_NIC, r) => Err(Error::new(
            libc::EINVAL,
            format!("{}: ring {r} does not exist, a pipe end has one ring pair: use -0 or no ring suffix", spec.name),
        )),
        (m, _) => Err(Error::new(
            libc::EINVAL,
            format!("{}: register mode {m} is not valid for a pipe, netmap accepts the hardware-ring modes only (NAME{{ID or NAME{{ID-0)", spec.name),
        )),
    }
}

fn registration_for(
    spec: &PortSpec,
    info: &IfInfo,
    cfg: &crate::config::Config,
    layout: &crate::region::Layout,
) -> Registration {
    let slots = |v: Option<u32>| {
        v.unwrap_or(cfg.slots)
            .clamp(crate::config::MIN_SLOTS, crate::config::MAX_SLOTS)
    };
    Registration {
        nr_offset: 0,
        nr_memsize: layout.memsize,
        nr_tx_slots: slots(spec.conf.tx_slots),
        nr_rx_slots: slots(spec.conf.rx_slots),
        nr_tx_rings: info.tx_queues as u16,
        nr_rx_rings: info.rx_queues as u16,
        nr_host_tx_rings: 1,
        nr_host_rx_rings: 1,
        nr_mem_id: GLOBAL_MEM_ID,
        nr_extra_bufs: 0,
    }
}

/// A frame of the interface's MTU must fit one buffer, or, on multi-buffer sockets, a chain of
/// as many buffers as a frame may take (docs/architecture.md, "Jumbo frames").
fn check_mtu(
    spec: &PortSpec,
    info: &IfInfo,
    layout: &crate::region::Layout,
    multi_buffer: bool,
) -> Result<()> {
    let (max_frame, frame) = (layout.max_frame(), info.mtu + 14);
    if frame <= max_frame {
        return Ok(());
    }
    let chain = crate::queue::max_frags() * max_frame;
    if multi_buffer && frame <= chain {
        return Ok(());
    }
    let why = if multi_buffer {
        format!(
            "a chain of {} buffers carries {chain}",
            crate::queue::max_frags()
        )
    } else {
        format!(
            "one netmap buffer carries {max_frame} and the AF_XDP socket could not be bound multi-buffer (Linux 6.6+ with XDP_USE_SG; a zero-copy driver may lack it: try NMXDP_BIND=copy)"
        )
    };
    Err(Error::new(
        libc::EINVAL,
        format!(
            "{}: MTU {} needs frames of {frame} bytes but {why}: lower the MTU (ip link set dev {} mtu {}) or set NMXDP_BUF_SIZE=4096",
            spec.name,
            info.mtu,
            spec.name,
            max_frame - 14
        ),
    ))
}

/// The TX and RX queues `spec` binds (before `/T` and `/R`); EINVAL for a ring that does not
/// exist.
fn bound_queues(spec: &PortSpec, info: &IfInfo) -> Result<(Vec<u32>, Vec<u32>)> {
    let nq = info.rx_queues.max(info.tx_queues);
    let (ntx, nrx) = (info.tx_queues, info.rx_queues);
    match spec.mode {
        NR_REG_ALL_NIC => Ok(((0..ntx).collect(), (0..nrx).collect())),
        NR_REG_SW | NR_REG_ONE_SW => Ok((vec![], vec![])),
        NR_REG_NIC_SW => Ok(((0..ntx).collect(), (0..nrx).collect())),
        NR_REG_ONE_NIC => {
            let q = spec.ringid as u32;
            if q >= nq {
                return Err(Error::new(
                    libc::EINVAL,
                    format!(
                        "{}: ring {q} does not exist, the interface has {nq} queue(s): use -0 .. -{}",
                        spec.name,
                        nq - 1
                    ),
                ));
            }
            Ok((
                if q < ntx { vec![q] } else { vec![] },
                if q < nrx { vec![q] } else { vec![] },
            ))
        }
        m => Err(Error::new(
            libc::EINVAL,
            format!("{}: invalid register mode {m}", spec.name),
        )),
    }
}

/// What `spec` asks of the host path; None when it binds no host ring.
fn host_request(spec: &PortSpec, tx_slots: u32, rx_slots: u32) -> Option<HostRequest> {
    if !matches!(spec.mode, NR_REG_SW | NR_REG_NIC_SW | NR_REG_ONE_SW) {
        return None;
    }
    Some(HostRequest {
        tx: spec.flags & NR_RX_RINGS_ONLY == 0,
        rx: spec.flags & NR_TX_RINGS_ONLY == 0,
        tx_slots,
        rx_slots,
    })
}

/// The pool audit: buffers per owner (free, app, kernel RX, kernel TX), which always add up to
/// the pool, and how many buffers apps lost and nmxdp took back once no port was open.
pub fn pool_audit() -> Result<([usize; 4], usize)> {
    let eng = engine()?;
    Ok((eng.region.audit(), eng.recovered_buffers))
}

/// Layout of the process's region (POOLS_INFO_GET), creating it if needed.
pub fn region_layout() -> Result<crate::region::Layout> {
    Ok(engine()?.region.layout)
}

/// Base address of the process's region (what mmap of a netmap fd returns).
pub fn region_base() -> Result<*mut u8> {
    Ok(engine()?.region.base())
}

/// AF_XDP and XDP need CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN): say so up
/// front rather than failing half-way through with a bare EPERM.
fn check_privileges() -> Result<()> {
    use crate::caps::{BPF, NET_ADMIN, NET_RAW, SYS_ADMIN};
    let caps = crate::caps::effective();
    let missing: Vec<&str> = [
        (caps & NET_ADMIN == 0, "CAP_NET_ADMIN"),
        (caps & NET_RAW == 0, "CAP_NET_RAW"),
        (caps & (BPF | SYS_ADMIN) == 0, "CAP_BPF"),
    ]
    .iter()
    .filter(|(m, _)| *m)
    .map(|(_, n)| *n)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        libc::EPERM,
        format!(
            "opening a netmap port over AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF; missing {}: run as root (or grant them with setcap/capsh)",
            missing.join(", ")
        ),
    ))
}

fn check_supported(spec: &PortSpec) -> Result<()> {
    // A pipe on a VALE port needs no switch: the pipe is all there is (see Port::open_pipe).
    let pipe = parse_pipe_name(&spec.name).is_some();
    if !pipe && spec.name.starts_with("vale") && spec.name.contains(':') {
        return Err(unsupported(&format!(
            "{}: VALE switch ports need the netmap kernel module; nmxdp serves NIC ports only (use netmap:IFACE)",
            spec.name
        )));
    }
    if spec.flags & (NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON) != 0 {
        return Err(unsupported(&format!(
            "{}: monitor ports (/t /r /z) are not available in nmxdp yet",
            spec.name
        )));
    }
    if spec.extmem.is_some() {
        return Err(unsupported(&format!(
            "{}: @extmem is not available in nmxdp (the region must be the AF_XDP UMEM nmxdp registers)",
            spec.name
        )));
    }
    if spec.mem_id > GLOBAL_MEM_ID {
        return Err(Error::new(
            libc::EINVAL,
            format!(
                "{}: memory allocator {} does not exist: nmxdp has one region, mem id 1 (drop @{})",
                spec.name, spec.mem_id, spec.mem_id
            ),
        ));
    }
    Ok(())
}

/// Register modes nmxdp serves, checked after the interface is found (netmap answers ENXIO for
/// a missing interface before it looks at the mode).
fn check_mode(spec: &PortSpec) -> Result<()> {
    match spec.mode {
        NR_REG_ALL_NIC | NR_REG_ONE_NIC | NR_REG_SW | NR_REG_NIC_SW => Ok(()),
        NR_REG_ONE_SW if spec.ringid == 0 => Ok(()),
        NR_REG_ONE_SW => Err(Error::new(
            libc::EINVAL,
            format!(
                "{}: host ring {} does not exist, the interface has 1 host ring pair: use ^0 or ^",
                spec.name, spec.ringid
            ),
        )),
        NR_REG_NULL => Err(unsupported(&format!(
            "{}: null ports are not available in nmxdp",
            spec.name
        ))),
        m => Err(Error::new(
            libc::EINVAL,
            format!("{}: invalid register mode {m}", spec.name),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::unique_by_key;

    #[test]
    fn a_queue_in_both_directions_counts_once() {
        // TX queues 0 and 1, then RX queues 0 and 1: each socket once, in order.
        let fds = [10, 11, 10, 11];
        assert_eq!(unique_by_key(fds.iter(), |f| **f), vec![&10, &11]);
    }
}
