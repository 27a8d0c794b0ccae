//! A netmap port: what one `/dev/netmap` file descriptor registers (netmap-abi.md 5.3, 6, 7).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::{
    netmap_if, NR_MONITOR_RX, NR_MONITOR_TX, NR_NO_TX_POLL, NR_REG_ALL_NIC, NR_REG_NIC_SW,
    NR_REG_NULL, NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_REG_SW, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY,
    NR_ZCOPY_MON,
};
use crate::engine::{current_netns, engine, unsupported, Modes, QueueRequest};
use crate::error::{Error, Result};
use crate::ifinfo::{if_info, IfInfo};
use crate::name::{parse_port, PortSpec};
use crate::queue::{PortStats, QueueCtx, QueueKey, SyncStatus};
use crate::region::{Region, GLOBAL_MEM_ID};
use crate::ring::Ring;

/// Naps after a receive before poll() sleeps on the sockets again.
const RX_NAPS: u8 = 4;

/// Events for [`Port::poll`], with poll(2)'s meaning.
pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;
pub const POLLERR: i16 = libc::POLLERR;

/// An open netmap port over AF_XDP.
///
/// ```no_run
/// use nmxdp::Port;
/// # fn main() -> nmxdp::Result<()> {
/// let mut port = Port::open("netmap:veth0")?;
/// // Send one frame on the first TX ring.
/// let frame = [0xffu8; 60];
/// let mut tx = port.tx_ring(0);
/// if tx.space() > 0 {
///     let i = tx.head();
///     tx.buf_mut(i)[..frame.len()].copy_from_slice(&frame);
///     tx.set_len(i, frame.len() as u16);
///     tx.advance(1);
/// }
/// port.sync_tx()?;
/// // Receive whatever arrives within a second.
/// port.poll(nmxdp::POLLIN, Some(std::time::Duration::from_secs(1)))?;
/// let mut rx = port.rx_ring(0);
/// for pkt in rx.packets() {
///     println!("{} bytes", pkt.len());
/// }
/// rx.release_all();
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
    /// Naps left before waiting on the sockets again (see `Config::rx_nap_us`).
    rx_naps_left: u8,
    rx_nap: Duration,
}

/// What a port registered, as `nmreq_register` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registration {
    pub nr_offset: u64,
    pub nr_memsize: u64,
    pub nr_tx_slots: u32,
    pub nr_rx_slots: u32,
    pub nr_tx_rings: u16,
    pub nr_rx_rings: u16,
    pub nr_host_tx_rings: u16,
    pub nr_host_rx_rings: u16,
    pub nr_mem_id: u16,
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
        check_privileges()?;
        let info = if_info(&spec.name)?;
        check_mode(&spec)?;
        let mut eng = engine()?;
        let cfg = eng.cfg.clone();
        let region = eng.region;
        let max_frame = region.layout.max_frame();
        if info.mtu + 14 > max_frame {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "{}: MTU {} needs frames of {} bytes but one netmap buffer carries {max_frame}: lower the MTU (ip link set dev {} mtu {}) or set NMXDP_BUF_SIZE=4096",
                    spec.name,
                    info.mtu,
                    info.mtu + 14,
                    spec.name,
                    max_frame - 14
                ),
            ));
        }
        let nq = info.rx_queues.max(info.tx_queues);
        let (ntx, nrx) = (info.tx_queues, info.rx_queues);
        let (mut txq, mut rxq): (Vec<u32>, Vec<u32>) = match spec.mode {
            NR_REG_ALL_NIC => ((0..ntx).collect(), (0..nrx).collect()),
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
                (
                    if q < ntx { vec![q] } else { vec![] },
                    if q < nrx { vec![q] } else { vec![] },
                )
            }
            _ => unreachable!("checked by check_supported"),
        };
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
                });
            }
        }
        let (ctxs, modes) = eng.acquire(&info, &reqs)?;
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
        let nifp_off = match region.alloc_if() {
            Ok(o) => o,
            Err(e) => {
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
            rx_naps_left: 0,
            rx_nap: Duration::from_micros(cfg.rx_nap_us as u64),
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
        port.write_nifp();
        port.extra_bufs = port.give_extra_bufs(extra_bufs);
        Ok(port)
    }

    /// Fills this port's `netmap_if`: unbound rings have offset 0 (netmap-abi.md pitfall 1).
    fn write_nifp(&mut self) {
        let nifp = self.nifp();
        let name = self.info.name.as_bytes();
        // SAFETY: the netmap_if object is ours (allocated for this port, zeroed, if_size bytes,
        // enough for ntx + nrx + 2 ring offsets since if_size bounds the queue count).
        unsafe {
            let n = &mut *nifp;
            let len = name.len().min(15);
            for (d, s) in n.ni_name.iter_mut().zip(&name[..len]) {
                *d = *s as _;
            }
            n.ni_tx_rings = self.ntx;
            n.ni_rx_rings = self.nrx;
            n.ni_host_tx_rings = 1;
            n.ni_host_rx_rings = 1;
            let ofs = crate::abi::ring_ofs_ptr(nifp);
            for c in &self.tx {
                *ofs.add(c.key.queue as usize) = (c.tx_ring_off - self.nifp_off) as isize;
            }
            let rx_base = (self.ntx + 1) as usize;
            for c in &self.rx {
                *ofs.add(rx_base + c.key.queue as usize) = (c.rx_ring_off - self.nifp_off) as isize;
            }
        }
    }

    /// Links up to `n` extra buffers from `ni_bufs_head` through their first 4 bytes.
    fn give_extra_bufs(&mut self, n: u32) -> u32 {
        let bufs = self.region.alloc_bufs_upto(n as usize);
        let mut head = 0u32;
        for &b in &bufs {
            // SAFETY: b < buf_num; the buffer is ours now.
            unsafe { self.region.buf(b).cast::<u32>().write_unaligned(head) };
            head = b;
        }
        // SAFETY: our netmap_if.
        unsafe { (*self.nifp()).ni_bufs_head = head };
        bufs.len() as u32
    }

    /// Frees the chain `ni_bufs_head` points to now (the app may have rearranged it).
    fn free_extra_bufs(&mut self) {
        // SAFETY: our netmap_if.
        let mut b = unsafe { (*self.nifp()).ni_bufs_head };
        let mut chain = Vec::new();
        let limit = self.region.layout.buf_num;
        while b >= 2 && b < limit && chain.len() < limit as usize {
            chain.push(b);
            // SAFETY: b < buf_num.
            b = unsafe { self.region.buf(b).cast::<u32>().read_unaligned() };
        }
        self.region.free_bufs(chain);
    }

    fn nifp(&self) -> *mut netmap_if {
        self.region.at(self.nifp_off).cast()
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

    /// Registration results, as NIOCCTRL/REGISTER writes them back.
    pub fn registration(&self) -> Registration {
        Registration {
            nr_offset: self.nifp_off,
            nr_memsize: self.region.layout.memsize,
            nr_tx_slots: self.tx_slots,
            nr_rx_slots: self.rx_slots,
            nr_tx_rings: self.ntx as u16,
            nr_rx_rings: self.nrx as u16,
            nr_host_tx_rings: 1,
            nr_host_rx_rings: 1,
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
        self.nifp()
    }

    /// Netmap indices of the bound TX rings (first..=last); empty when none.
    pub fn tx_rings(&self) -> std::ops::Range<u32> {
        self.first_tx..self.first_tx + self.tx.len() as u32
    }

    pub fn rx_rings(&self) -> std::ops::Range<u32> {
        self.first_rx..self.first_rx + self.rx.len() as u32
    }

    /// TX ring `i` (a netmap ring index in [`Port::tx_rings`]).
    ///
    /// # Panics
    /// If ring `i` is not bound to this port.
    pub fn tx_ring(&mut self, i: u32) -> Ring<'_> {
        let c = self.tx_ctx(i);
        Ring::new(self.region.at(c.tx_ring_off).cast(), self.region)
    }

    /// RX ring `i` (a netmap ring index in [`Port::rx_rings`]).
    ///
    /// # Panics
    /// If ring `i` is not bound to this port.
    pub fn rx_ring(&mut self, i: u32) -> Ring<'_> {
        let c = self.rx_ctx(i);
        Ring::new(self.region.at(c.rx_ring_off).cast(), self.region)
    }

    /// TX ring `t` and RX ring `r` at once, e.g. to swap buffers between them.
    pub fn tx_rx_rings(&mut self, t: u32, r: u32) -> (Ring<'_>, Ring<'_>) {
        let tc = self.tx_ctx(t).tx_ring_off;
        let rc = self.rx_ctx(r).rx_ring_off;
        (
            Ring::new(self.region.at(tc).cast(), self.region),
            Ring::new(self.region.at(rc).cast(), self.region),
        )
    }

    fn tx_ctx(&self, i: u32) -> &Arc<QueueCtx> {
        i.checked_sub(self.first_tx)
            .and_then(|k| self.tx.get(k as usize))
            .unwrap_or_else(|| {
                panic!(
                    "TX ring {i} is not bound to this port (bound: {:?})",
                    self.tx_rings()
                )
            })
    }

    fn rx_ctx(&self, i: u32) -> &Arc<QueueCtx> {
        i.checked_sub(self.first_rx)
            .and_then(|k| self.rx.get(k as usize))
            .unwrap_or_else(|| {
                panic!(
                    "RX ring {i} is not bound to this port (bound: {:?})",
                    self.rx_rings()
                )
            })
    }

    /// NIOCTXSYNC: transmit `[hwcur, head)` of every bound TX ring and reclaim completed slots.
    /// Like netmap, a ring with bad head/cur is re-initialised and the call still succeeds.
    pub fn sync_tx(&mut self) -> Result<()> {
        for c in &self.tx {
            c.txsync();
        }
        Ok(())
    }

    /// NIOCRXSYNC: return released slots to the kernel and pick up received packets.
    pub fn sync_rx(&mut self) -> Result<()> {
        for c in &self.rx {
            c.rxsync();
        }
        Ok(())
    }

    /// netmap's poll(): flush TX (unless `NR_NO_TX_POLL` and no `POLLOUT`), sync RX if `POLLIN`
    /// is asked, and report `POLLOUT`/`POLLIN` where `cur != tail`, `POLLERR` on a broken ring.
    /// Sleeps on the AF_XDP sockets until something is ready or `timeout` (None = forever) passes.
    pub fn poll(&mut self, events: i16, timeout: Option<Duration>) -> Result<i16> {
        // The clock is read only when the call has to wait.
        let mut deadline: Option<Instant> = None;
        let want_tx = events & POLLOUT != 0;
        let want_rx = events & POLLIN != 0;
        loop {
            let mut revents = 0i16;
            if want_tx || !self.no_tx_poll {
                for c in &self.tx {
                    let (status, ready) = c.tx_poll_step(!want_tx);
                    if status.is_some_and(|s| s != SyncStatus::Ok) {
                        revents |= POLLERR;
                    }
                    if want_tx && ready {
                        revents |= POLLOUT;
                    }
                }
            }
            if want_rx {
                for c in &self.rx {
                    let (status, ready) = c.rx_poll_step();
                    if status != SyncStatus::Ok {
                        revents |= POLLERR;
                    }
                    if ready {
                        revents |= POLLIN;
                    }
                }
            }
            if self.tx.is_empty() && self.rx.is_empty() {
                revents |= POLLERR;
            }
            if revents & POLLIN != 0 && !self.rx_nap.is_zero() {
                self.rx_naps_left = RX_NAPS;
            }
            if revents != 0 || timeout == Some(Duration::ZERO) {
                return Ok(revents);
            }
            let left = match timeout {
                None => None,
                Some(t) => {
                    let now = Instant::now();
                    let d = *deadline.get_or_insert(now + t);
                    if now >= d {
                        return Ok(revents);
                    }
                    Some(d - now)
                }
            };
            self.wait(want_tx, want_rx, left);
        }
    }

    /// Sleeps on the sockets: RX readability, or TX progress when TX room is wanted.
    /// Right after packets arrived, RX waits are short naps instead (interrupt mitigation):
    /// the next burst is likely microseconds away, and a sleeper on the socket costs the
    /// sending CPU a wakeup per burst.
    fn wait(&mut self, want_tx: bool, want_rx: bool, left: Option<Duration>) {
        if want_rx && !want_tx && self.rx_naps_left > 0 {
            self.rx_naps_left -= 1;
            let nap = left.map_or(self.rx_nap, |l| l.min(self.rx_nap));
            std::thread::sleep(nap);
            return;
        }
        let tx_pending = want_tx && self.tx.iter().any(|c| c.tx_inflight());
        // AF_XDP reports POLLOUT whenever its TX ring is half empty, which says nothing about
        // completions; waiting for TX room is therefore a short sleep and a resync.
        let mut ms: i32 = match left {
            None => -1,
            Some(d) => d.as_millis().min(i32::MAX as u128) as i32,
        };
        if want_tx {
            ms = if ms < 0 { 1 } else { ms.min(1) };
            if tx_pending {
                for c in &self.tx {
                    c.kick();
                }
            }
        }
        if ms == 0 {
            ms = 1;
        }
        let n = if want_rx { self.rx_pollfds.len() } else { 0 };
        for p in &mut self.rx_pollfds {
            p.revents = 0;
        }
        // SAFETY: rx_pollfds holds n valid pollfd entries (n = 0 is a plain sleep).
        unsafe { libc::poll(self.rx_pollfds.as_mut_ptr(), n as libc::nfds_t, ms) };
    }

    /// For callers that sleep themselves (the C poll emulation): right after packets arrived,
    /// how long to nap instead of sleeping on the sockets (see `NMXDP_RX_NAP_US`).
    pub fn take_rx_nap(&mut self) -> Option<Duration> {
        if self.rx_naps_left == 0 || self.rx_nap.is_zero() {
            return None;
        }
        self.rx_naps_left -= 1;
        Some(self.rx_nap)
    }

    /// Counters summed over this port's queues.
    pub fn stats(&self) -> PortStats {
        let mut s = PortStats::default();
        let mut seen: Vec<QueueKey> = Vec::new();
        for c in self.tx.iter().chain(self.rx.iter()) {
            if !seen.contains(&c.key) {
                seen.push(c.key);
                s.add(&c.counters);
            }
        }
        s
    }

    /// Kernel counters (XDP_STATISTICS) summed over this port's sockets: RX drops for lack of
    /// fill buffers or ring room, invalid descriptors.
    pub fn xdp_statistics(&self) -> crate::sys::xdp_statistics {
        let mut sum = crate::sys::xdp_statistics::default();
        for fd in self.socket_fds() {
            if let Ok(s) = crate::xsk::statistics(fd) {
                sum.rx_dropped += s.rx_dropped;
                sum.rx_invalid_descs += s.rx_invalid_descs;
                sum.tx_invalid_descs += s.tx_invalid_descs;
                sum.rx_ring_full += s.rx_ring_full;
                sum.rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
                sum.tx_ring_empty_descs += s.tx_ring_empty_descs;
            }
        }
        sum
    }

    /// AF_XDP socket fds, for callers that build their own event loops.
    pub fn socket_fds(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .tx
            .iter()
            .chain(self.rx.iter())
            .map(|c| c.fd())
            .collect();
        v.dedup();
        v
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.free_extra_bufs();
        let keys: Vec<(QueueKey, bool, bool)> = {
            let mut v: Vec<(QueueKey, bool, bool)> = Vec::new();
            for c in &self.tx {
                v.push((c.key, true, false));
            }
            for c in &self.rx {
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
        if let Ok(mut eng) = engine() {
            for (k, t, r) in keys {
                eng.release(k, t, r);
            }
            eng.region.free_if(self.nifp_off);
            eng.port_closed();
        }
    }
}

/// What PORT_INFO_GET reports for `spec` without registering it (rings, slots, memory).
pub fn port_info(spec: &PortSpec) -> Result<Registration> {
    check_supported(spec)?;
    let info = if_info(&spec.name)?;
    check_mode(spec)?;
    let eng = engine()?;
    let slots = |v: Option<u32>| {
        v.unwrap_or(eng.cfg.slots)
            .clamp(crate::config::MIN_SLOTS, crate::config::MAX_SLOTS)
    };
    Ok(Registration {
        nr_offset: 0,
        nr_memsize: eng.region.layout.memsize,
        nr_tx_slots: slots(spec.conf.tx_slots),
        nr_rx_slots: slots(spec.conf.rx_slots),
        nr_tx_rings: info.tx_queues as u16,
        nr_rx_rings: info.rx_queues as u16,
        nr_host_tx_rings: 1,
        nr_host_rx_rings: 1,
        nr_mem_id: GLOBAL_MEM_ID,
        nr_extra_bufs: 0,
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

/// Effective capabilities of this process (CapEff in /proc/self/status).
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// AF_XDP and XDP need CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN): say so up
/// front rather than failing half-way through with a bare EPERM.
fn check_privileges() -> Result<()> {
    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;
    const SYS_ADMIN: u64 = 1 << 21;
    const BPF: u64 = 1 << 39;
    let caps = effective_caps();
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
    if spec.name.starts_with("vale") && spec.name.contains(':') {
        return Err(unsupported(&format!(
            "{}: VALE switch ports need the netmap kernel module; nmxdp serves NIC ports only (use netmap:IFACE)",
            spec.name
        )));
    }
    if spec.name.contains('{') || spec.name.contains('}') {
        return Err(unsupported(&format!(
            "{}: netmap pipes are not available in nmxdp yet (use a veth pair instead)",
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
        NR_REG_ALL_NIC | NR_REG_ONE_NIC => Ok(()),
        NR_REG_SW | NR_REG_NIC_SW | NR_REG_ONE_SW => Err(unsupported(&format!(
            "{}: host rings (^, *) have no AF_XDP counterpart in nmxdp yet: bind NIC rings only (netmap:IFACE or netmap:IFACE-N)",
            spec.name
        ))),
        NR_REG_NULL => Err(unsupported(&format!("{}: null ports are not available in nmxdp", spec.name))),
        m => Err(Error::new(
            libc::EINVAL,
            format!("{}: invalid register mode {m}", spec.name),
        )),
    }
}
