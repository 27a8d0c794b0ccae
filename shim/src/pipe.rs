//! netmap pipes within one process (docs/architecture.md, "Pipes"): `netmap:NAME{ID` (master)
//! and `netmap:NAME}ID` (slave), zero-copy, no kernel in the path.
//!
//! A pipe has two channels, master to slave and slave to master. A channel is netmap's pair of
//! twin rings: the writer's TX ring and the reader's RX ring have the same slots, and slot `k`
//! of one is slot `k` of the other. A txsync copies the writer's new slots (buffer index, length,
//! flags) into the reader's ring and publishes them; an rxsync copies back the slots the reader
//! released with a buffer it swapped, and gives the slots back to the writer. Buffers never
//! move; their indices do. A channel owns exactly one buffer per slot, taken when the pipe is
//! created and given back when it goes away.
//!
//! The channel state ([`Channel`]) is plain data: integers and atomics, no pointers, so that it
//! can later live in memory shared between processes. What is process-local (ring addresses in
//! this mapping, the wake-up eventfds) lives beside it in [`Pipe`].
//!
//! Life cycle, as netmap's: the first open of either end creates the pipe, its rings and
//! buffers; an end closed while the other stays open keeps its rings and whatever is queued in
//! them (reopening it finds everything as it was); the last close destroys the pipe.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::abi::{
    netmap_slot, nm_ring_dist, nm_ring_next, nm_ring_prev, nm_ring_within, NS_BUF_CHANGED,
    NS_MOREFRAG,
};
use crate::error::{Error, Result};
use crate::queue::{ring_bytes, SyncStatus};
use crate::region::Region;
use crate::shm::SharedRing;

/// The pipe ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// `NAME{ID`: writes channel 0, reads channel 1.
    Master = 0,
    /// `NAME}ID`: writes channel 1, reads channel 0.
    Slave = 1,
}

impl Role {
    /// The channel this end writes (its TX ring's).
    fn tx_channel(self) -> usize {
        self as usize
    }

    /// The channel this end reads (its RX ring's).
    fn rx_channel(self) -> usize {
        1 - self as usize
    }
}

/// What a pipe name says: the parent port, the pipe id, the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PipeName {
    /// `NAME` (netmap's parent port).
    pub parent: String,
    /// `ID`: whatever follows the brace (netmap compares it as a string).
    pub id: String,
    /// `{` or `}`.
    pub role: Role,
}

/// Splits a port name as netmap does: the last `{` makes a master, else the last `}` a slave;
/// None for a name without either. EINVAL for an empty parent or an empty id.
pub(crate) fn parse_pipe_name(name: &str) -> Option<Result<PipeName>> {
    let (at, role) = match name.rfind('{') {
        Some(i) => (i, Role::Master),
        None => (name.rfind('}')?, Role::Slave),
    };
    let (parent, id) = (&name[..at], &name[at + 1..]);
    if parent.is_empty() || id.is_empty() {
        return Some(Err(Error::new(
            libc::EINVAL,
            format!("{name}: a pipe name needs a port and an id, as in netmap:NAME{{1 or netmap:NAME}}1"),
        )));
    }
    Some(Ok(PipeName {
        parent: parent.to_string(),
        id: id.to_string(),
        role,
    }))
}

/// A try-lock that skips instead of waiting: netmap skips a ring another thread is syncing.
/// One atomic word, so that it can live in shared memory.
struct Hold<'a>(&'a AtomicU32);

impl<'a> Hold<'a> {
    #[inline]
    fn try_take(w: &'a AtomicU32) -> Option<Hold<'a>> {
        w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Hold(w))
    }
}

impl Drop for Hold<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// A value alone on its cache line: each side writes its own lines only, and the lines one
/// side reads are written only when something changes, so idle syncs move no line between CPUs.
#[repr(C, align(64))]
#[derive(Default)]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One side's private state (the writer's or the reader's), written only by its syncs.
#[repr(C)]
#[derive(Default)]
struct Side {
    /// Held during a sync of this side.
    busy: AtomicU32,
    /// netmap's `nr_hwcur`: the writer's next slot to hand over, the reader's first slot not
    /// released.
    hwcur: AtomicU32,
    /// The ring's tail as the last sync exposed it.
    tail_seen: AtomicU32,
    /// Frames and bytes handed over (writer only).
    frames: AtomicU64,
    bytes: AtomicU64,
}

/// The writer's lines of a channel.
#[repr(C)]
#[derive(Default)]
struct WriterSide {
    own: Line<Side>,
    /// Slots before this one hold complete frames for the reader (netmap's RX `pipe_tail`).
    published: Line<AtomicU32>,
    /// The writer sleeps for room: the reader's next release must signal it.
    sleeping: Line<AtomicU32>,
}

/// The reader's lines of a channel.
#[repr(C)]
#[derive(Default)]
struct ReaderSide {
    own: Line<Side>,
    /// Where the writer's tail may go: the slot before the first unreleased one (netmap's TX
    /// `pipe_tail`).
    released: Line<AtomicU32>,
    /// The reader sleeps for frames: the writer's next publication must signal it.
    sleeping: Line<AtomicU32>,
}

/// One direction of a pipe, as plain data (see the module documentation).
#[repr(C)]
pub(crate) struct Channel {
    /// Slots of both twin rings.
    slots: u32,
    /// Region offsets of the writer's TX ring and the reader's RX ring objects.
    tx_ring_off: u64,
    rx_ring_off: u64,
    w: WriterSide,
    r: ReaderSide,
}

/// A pipe of this process: both channels, their rings, and the wake-up eventfds.
pub(crate) struct Pipe {
    /// `NAME{ID` of the master end (for messages and `netmap_if.ni_name`).
    pub(crate) name: PipeName,
    chan: [Channel; 2],
    /// Per channel, (TX ring, RX ring) in this process's mapping.
    rings: [(SharedRing, SharedRing); 2],
    /// Per channel, (frames ready: the reader sleeps on it, room: the writer sleeps on it).
    wake: [(OwnedFd, OwnedFd); 2],
    region: &'static Region,
}

fn eventfd() -> Result<OwnedFd> {
    // SAFETY: plain syscall; on success the fd is ours.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("eventfd for a pipe's wake-ups"));
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Wakes a sleeper on eventfd `fd` (counter +1).
fn signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd; a full counter (EAGAIN) already
    // wakes the sleeper.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Empties eventfd `fd`, so that the next sleep on it waits for a new signal.
fn drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64; a non-blocking eventfd that is empty
    // answers EAGAIN.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

/// The slots pipes support: netmap's `NM_PIPE_MAXSLOTS` is 4096, nmxdp's rings' range applies.
fn pipe_slots(v: Option<u32>, default: u32) -> u32 {
    v.unwrap_or(default)
        .clamp(crate::config::MIN_SLOTS, crate::config::MAX_SLOTS)
}

/// Frees what [`Pipe::create`] allocated so far.
struct Undo<'a> {
    region: &'a Region,
    rings: Vec<(u64, u64)>,
    bufs: Vec<u32>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        for &(off, bytes) in &self.rings {
            self.region.free_ring(off, bytes);
        }
        self.region.free_bufs(std::mem::take(&mut self.bufs));
    }
}

impl Pipe {
    /// Creates a pipe: channel 0 with `slots[0]` slots, channel 1 with `slots[1]`.
    fn create(region: &'static Region, name: PipeName, slots: [u32; 2]) -> Result<Pipe> {
        let mut undo = Undo {
            region,
            rings: Vec::new(),
            bufs: Vec::new(),
        };
        let mut rings = Vec::new();
        let mut chans = Vec::new();
        for (c, &n) in slots.iter().enumerate() {
            let bytes = ring_bytes(n);
            let tx_off = region.alloc_ring(bytes)?;
            undo.rings.push((tx_off, bytes));
            let rx_off = region.alloc_ring(bytes)?;
            undo.rings.push((rx_off, bytes));
            let what = format!("pipe {}{{{} channel {c} ({n} slots)", name.parent, name.id);
            let bufs = region.alloc_bufs(n as usize, &what)?;
            undo.bufs.extend_from_slice(&bufs);
            let l = &region.layout;
            let ring = |off: u64, dir: u16, tail: u32| {
                let r = region
                    .ring_at(off, n)
                    .expect("alloc_ring gives ring objects in the ring pool");
                r.init_header(
                    l.buf_pool_offset as i64 - off as i64,
                    l.buf_size,
                    0,
                    dir,
                    tail,
                );
                r
            };
            let (t, r) = (ring(tx_off, 0, n - 1), ring(rx_off, 1, 0));
            for (k, &b) in bufs.iter().enumerate() {
                let s = netmap_slot {
                    buf_idx: b,
                    len: l.buf_size.min(u16::MAX as u32) as u16,
                    flags: 0,
                    ptr: 0,
                };
                // Twin slots start equal, as netmap copies the TX ring into its twin.
                t.set_slot(k as u32, s);
                r.set_slot(k as u32, s);
            }
            rings.push((t, r));
            let ch = Channel {
                slots: n,
                tx_ring_off: tx_off,
                rx_ring_off: rx_off,
                w: WriterSide::default(),
                r: ReaderSide::default(),
            };
            ch.w.own.tail_seen.store(n - 1, Ordering::Relaxed);
            ch.r.released.store(n - 1, Ordering::Relaxed);
            chans.push(ch);
        }
        let wake = [(eventfd()?, eventfd()?), (eventfd()?, eventfd()?)];
        undo.rings.clear();
        undo.bufs.clear();
        let mut chans = chans.into_iter();
        let mut rings = rings.into_iter();
        Ok(Pipe {
            name,
            chan: [chans.next().unwrap(), chans.next().unwrap()],
            rings: [rings.next().unwrap(), rings.next().unwrap()],
            wake,
            region,
        })
    }

    /// `NAME{ID` or `NAME}ID`.
    pub(crate) fn end_name(&self, role: Role) -> String {
        let b = if role == Role::Master { '{' } else { '}' };
        format!("{}{b}{}", self.name.parent, self.name.id)
    }

    /// The buffers the pipe holds: per slot, the twin whose copy is current (the reader's for
    /// slots between its hwcur and the writer's hwcur, the writer's elsewhere).
    fn held_buffers(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (c, &(t, r)) in self.chan.iter().zip(&self.rings) {
            let n = c.slots;
            let from = c.r.own.hwcur.load(Ordering::Acquire);
            let upto = c.w.own.hwcur.load(Ordering::Acquire);
            let reader_has = nm_ring_dist(n, from, upto);
            for k in 0..n {
                let on_reader = nm_ring_dist(n, from, k) < reader_has;
                out.push(if on_reader {
                    r.buf_idx(k)
                } else {
                    t.buf_idx(k)
                });
            }
        }
        out
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.region.free_bufs(self.held_buffers());
        for c in &self.chan {
            let bytes = ring_bytes(c.slots);
            self.region.free_ring(c.tx_ring_off, bytes);
            self.region.free_ring(c.rx_ring_off, bytes);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Syncs
// ------------------------------------------------------------------------------------------------

impl Pipe {
    /// NIOCTXSYNC of channel `c`'s TX ring: hands `[hwcur, head)` to the reader (slot copies,
    /// `NS_BUF_CHANGED` set on the reader's side), publishes complete frames, and exposes the
    /// room the reader gave back. Returns the status and whether `cur != tail` after it.
    fn txsync(&self, c: usize) -> (SyncStatus, bool) {
        let ch = &self.chan[c];
        let Some(_hold) = Hold::try_take(&ch.w.own.busy) else {
            return (SyncStatus::Busy, false);
        };
        let (t, r) = self.rings[c];
        let n = ch.slots;
        let hwcur = ch.w.own.hwcur.load(Ordering::Relaxed);
        let seen = ch.w.own.tail_seen.load(Ordering::Relaxed);
        let (mut head, cur) = (t.head(), t.cur());
        let mut status = SyncStatus::Ok;
        if !(nm_ring_within(n, hwcur, head, seen) && nm_ring_within(n, head, cur, seen)) {
            // netmap re-initialises a ring whose head/cur left [hwcur, tail].
            t.set_head_cur(hwcur);
            head = hwcur;
            status = SyncStatus::Reinit;
        }
        let m = nm_ring_dist(n, hwcur, head);
        if m > 0 {
            let (mut k, mut complete_upto, mut frames, mut bytes) = (hwcur, None, 0u64, 0u64);
            for _ in 0..m {
                let mut s = t.slot(k);
                if s.flags & NS_BUF_CHANGED != 0 {
                    t.set_flags(k, s.flags & !NS_BUF_CHANGED);
                }
                bytes += s.len as u64;
                let last = s.flags & NS_MOREFRAG == 0;
                s.flags |= NS_BUF_CHANGED;
                r.set_slot(k, s);
                k = nm_ring_next(n, k);
                if last {
                    complete_upto = Some(k);
                    frames += 1;
                }
            }
            ch.w.own.hwcur.store(head, Ordering::Relaxed);
            ch.w.own.frames.fetch_add(frames, Ordering::Relaxed);
            ch.w.own.bytes.fetch_add(bytes, Ordering::Relaxed);
            if let Some(p) = complete_upto {
                // Release: the slot copies (and the frames' bytes) before the new tail.
                ch.w.published.store(p, Ordering::Release);
                wake_if_sleeping(&ch.r.sleeping, self.wake[c].0.as_raw_fd());
            }
        }
        let tail = ch.r.released.load(Ordering::Acquire);
        t.set_tail(tail);
        ch.w.own.tail_seen.store(tail, Ordering::Relaxed);
        (status, t.cur() != tail)
    }

    /// NIOCRXSYNC of channel `c`'s RX ring: gives `[hwcur, head)` back to the writer (copying
    /// back the slots whose buffer the reader swapped) and exposes what the writer published.
    /// Returns the status and whether `cur != tail` after it.
    fn rxsync(&self, c: usize) -> (SyncStatus, bool) {
        let ch = &self.chan[c];
        let Some(_hold) = Hold::try_take(&ch.r.own.busy) else {
            return (SyncStatus::Busy, false);
        };
        let (t, r) = self.rings[c];
        let n = ch.slots;
        let hwcur = ch.r.own.hwcur.load(Ordering::Relaxed);
        let seen = ch.r.own.tail_seen.load(Ordering::Relaxed);
        let (mut head, cur) = (r.head(), r.cur());
        let mut status = SyncStatus::Ok;
        if !(nm_ring_within(n, hwcur, head, seen) && nm_ring_within(n, head, cur, seen)) {
            r.set_head_cur(hwcur);
            head = hwcur;
            status = SyncStatus::Reinit;
        }
        if head != hwcur {
            let mut k = hwcur;
            while k != head {
                // A swapped buffer goes back to the writer's twin slot (with or without
                // NS_BUF_CHANGED: an index that differs is a swap either way).
                let b = r.buf_idx(k);
                if b != t.buf_idx(k) {
                    let mut s = r.slot(k);
                    s.flags |= NS_BUF_CHANGED;
                    t.set_slot(k, s);
                }
                k = nm_ring_next(n, k);
            }
            ch.r.own.hwcur.store(head, Ordering::Relaxed);
            // Release: the copied-back slots before the room they free.
            ch.r.released
                .store(nm_ring_prev(n, head), Ordering::Release);
            wake_if_sleeping(&ch.w.sleeping, self.wake[c].1.as_raw_fd());
        }
        let tail = ch.w.published.load(Ordering::Acquire);
        r.set_tail(tail);
        ch.r.own.tail_seen.store(tail, Ordering::Relaxed);
        (status, r.cur() != tail)
    }
}

/// Signals `fd` if the other side said it sleeps. The fence pairs with the one in
/// [`PipeEnd::arm`]: either the sleeper sees what was just published, or this sees its flag.
#[inline]
fn wake_if_sleeping(sleeping: &AtomicU32, fd: RawFd) {
    fence(Ordering::SeqCst);
    if sleeping.load(Ordering::Relaxed) != 0 && sleeping.swap(0, Ordering::AcqRel) != 0 {
        signal(fd);
    }
}

// ------------------------------------------------------------------------------------------------
// Ends
// ------------------------------------------------------------------------------------------------

/// What a port holds of a pipe: one end, its TX ring, its RX ring (or either, with `/T`, `/R`).
pub(crate) struct PipeEnd {
    pub(crate) pipe: Arc<Pipe>,
    pub(crate) role: Role,
    pub(crate) tx: bool,
    pub(crate) rx: bool,
    pub(crate) exclusive: bool,
    /// This end said it sleeps for frames / for room (see [`PipeEnd::arm`]).
    armed_rx: bool,
    armed_tx: bool,
}

impl PipeEnd {
    /// Slots of this end's TX and RX rings.
    pub(crate) fn slots(&self) -> (u32, u32) {
        let p = &self.pipe;
        (
            p.chan[self.role.tx_channel()].slots,
            p.chan[self.role.rx_channel()].slots,
        )
    }

    /// Region offsets of this end's TX and RX ring objects.
    pub(crate) fn ring_offsets(&self) -> (u64, u64) {
        let p = &self.pipe;
        (
            p.chan[self.role.tx_channel()].tx_ring_off,
            p.chan[self.role.rx_channel()].rx_ring_off,
        )
    }

    /// NIOCTXSYNC on this end (a no-op without a TX ring).
    pub(crate) fn txsync(&self) -> (SyncStatus, bool) {
        if !self.tx {
            return (SyncStatus::Ok, false);
        }
        self.pipe.txsync(self.role.tx_channel())
    }

    /// NIOCRXSYNC on this end (a no-op without an RX ring).
    pub(crate) fn rxsync(&self) -> (SyncStatus, bool) {
        if !self.rx {
            return (SyncStatus::Ok, false);
        }
        self.pipe.rxsync(self.role.rx_channel())
    }

    /// The eventfds a sleeper on this end waits on: frames for its RX ring, room for its TX ring.
    pub(crate) fn wake_fds(&self) -> Vec<RawFd> {
        let p = &self.pipe;
        let mut v = Vec::new();
        if self.rx {
            v.push(p.wake[self.role.rx_channel()].0.as_raw_fd());
        }
        if self.tx {
            v.push(p.wake[self.role.tx_channel()].1.as_raw_fd());
        }
        v
    }

    /// Before sleeping: tells the peer to signal (frames if `rx`, room if `tx`), then looks once
    /// more. Returns true when something changed since the last syncs, so there is no need to
    /// sleep.
    pub(crate) fn arm(&mut self, rx: bool, tx: bool) -> bool {
        let p = &self.pipe;
        let (rc, tc) = (
            &p.chan[self.role.rx_channel()],
            &p.chan[self.role.tx_channel()],
        );
        let (rx, tx) = (rx && self.rx, tx && self.tx);
        if rx {
            rc.r.sleeping.store(1, Ordering::Relaxed);
            self.armed_rx = true;
        }
        if tx {
            tc.w.sleeping.store(1, Ordering::Relaxed);
            self.armed_tx = true;
        }
        fence(Ordering::SeqCst);
        (rx && rc.w.published.load(Ordering::Relaxed) != rc.r.own.tail_seen.load(Ordering::Relaxed))
            || (tx
                && tc.r.released.load(Ordering::Relaxed)
                    != tc.w.own.tail_seen.load(Ordering::Relaxed))
    }

    /// After a sleep: withdraws the requests and empties the eventfds, so the next sleep waits
    /// for a new signal. Free when the end did not arm (the data path never pays a syscall).
    #[inline]
    pub(crate) fn disarm(&mut self) {
        if !(self.armed_rx || self.armed_tx) {
            return;
        }
        self.disarm_slow();
    }

    #[cold]
    fn disarm_slow(&mut self) {
        let p = &self.pipe;
        if self.armed_rx {
            let c = self.role.rx_channel();
            p.chan[c].r.sleeping.store(0, Ordering::Relaxed);
            drain(p.wake[c].0.as_raw_fd());
        }
        if self.armed_tx {
            let c = self.role.tx_channel();
            p.chan[c].w.sleeping.store(0, Ordering::Relaxed);
            drain(p.wake[c].1.as_raw_fd());
        }
        self.armed_rx = false;
        self.armed_tx = false;
    }

    /// Frames and bytes this end sent (handed over) and received (handed to it).
    pub(crate) fn counts(&self) -> [u64; 4] {
        let p = &self.pipe;
        let (t, r) = (
            &p.chan[self.role.tx_channel()].w.own,
            &p.chan[self.role.rx_channel()].w.own,
        );
        [
            t.frames.load(Ordering::Relaxed),
            t.bytes.load(Ordering::Relaxed),
            r.frames.load(Ordering::Relaxed),
            r.bytes.load(Ordering::Relaxed),
        ]
    }
}

// ------------------------------------------------------------------------------------------------
// Registry
// ------------------------------------------------------------------------------------------------

struct PipeEntry {
    pipe: Arc<Pipe>,
    /// Ports open on each end.
    users: [u32; 2],
    /// An end opened with `/x`.
    exclusive: [bool; 2],
}

/// The pipes of the process, by (parent, id); only opens and closes touch it, under the
/// engine's lock.
#[derive(Default)]
pub(crate) struct PipeTable {
    pipes: HashMap<(String, String), PipeEntry>,
}

/// What an open asks of a pipe end.
pub(crate) struct PipeRequest {
    pub name: PipeName,
    pub tx: bool,
    pub rx: bool,
    pub exclusive: bool,
    /// `@conf:tx-slots`, `rx-slots` of the request (used when the open creates the pipe).
    pub tx_slots: Option<u32>,
    pub rx_slots: Option<u32>,
}

impl PipeTable {
    /// Opens an end, creating the pipe on the first open of either end. EBUSY when the end is
    /// held with `/x`, or `/x` is asked while it is in use (netmap's rule for any ring).
    pub(crate) fn open(
        &mut self,
        region: &'static Region,
        default_slots: u32,
        req: PipeRequest,
    ) -> Result<PipeEnd> {
        let key = (req.name.parent.clone(), req.name.id.clone());
        let role = req.name.role;
        let e = req.name.role as usize;
        if let Some(entry) = self.pipes.get(&key) {
            if entry.exclusive[e] || (req.exclusive && entry.users[e] > 0) {
                return Err(Error::new(
                    libc::EBUSY,
                    format!(
                        "{}: this pipe end is already open in this process{}: close the other port first",
                        entry.pipe.end_name(role),
                        if entry.exclusive[e] {
                            " with /x (exclusive)"
                        } else {
                            ", so /x cannot be granted"
                        }
                    ),
                ));
            }
        } else {
            // The requester's own TX ring gets its tx-slots, its RX ring its rx-slots.
            let (t, r) = (
                pipe_slots(req.tx_slots, default_slots),
                pipe_slots(req.rx_slots, default_slots),
            );
            let slots = if role == Role::Master { [t, r] } else { [r, t] };
            let pipe = Pipe::create(region, req.name.clone(), slots)?;
            self.pipes.insert(
                key.clone(),
                PipeEntry {
                    pipe: Arc::new(pipe),
                    users: [0, 0],
                    exclusive: [false, false],
                },
            );
        }
        let entry = self.pipes.get_mut(&key).expect("found or inserted above");
        entry.users[e] += 1;
        entry.exclusive[e] |= req.exclusive;
        Ok(PipeEnd {
            pipe: entry.pipe.clone(),
            role,
            tx: req.tx,
            rx: req.rx,
            exclusive: req.exclusive,
            armed_rx: false,
            armed_tx: false,
        })
    }

    /// Closes an end; the last close of the pipe gives its rings and buffers back.
    pub(crate) fn close(&mut self, end: PipeEnd) {
        let key = (end.pipe.name.parent.clone(), end.pipe.name.id.clone());
        let e = end.role as usize;
        let exclusive = end.exclusive;
        drop(end);
        let Some(entry) = self.pipes.get_mut(&key) else {
            return;
        };
        entry.users[e] = entry.users[e].saturating_sub(1);
        if exclusive {
            entry.exclusive[e] = false;
        }
        if entry.users == [0, 0] {
            // The table held the last reference: dropping the entry drops the pipe.
            self.pipes.remove(&key);
        }
    }

    /// Slots an open of `name` would get, without creating anything: the existing pipe's, or
    /// what the request would create.
    pub(crate) fn slots_for(
        &self,
        name: &PipeName,
        default_slots: u32,
        tx_slots: Option<u32>,
        rx_slots: Option<u32>,
    ) -> (u32, u32) {
        match self.pipes.get(&(name.parent.clone(), name.id.clone())) {
            Some(e) => {
                let p = &e.pipe;
                (
                    p.chan[name.role.tx_channel()].slots,
                    p.chan[name.role.rx_channel()].slots,
                )
            }
            None => (
                pipe_slots(tx_slots, default_slots),
                pipe_slots(rx_slots, default_slots),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_netmap_does() {
        let p = parse_pipe_name("x{1").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("x", "1", Role::Master)
        );
        let p = parse_pipe_name("eth0}pipe_7").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("eth0", "pipe_7", Role::Slave)
        );
        // The last '{' wins over any '}'.
        let p = parse_pipe_name("a}b{c").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("a}b", "c", Role::Master)
        );
        assert!(parse_pipe_name("eth0").is_none());
        for bad in ["x{", "{1", "}"] {
            assert_eq!(
                parse_pipe_name(bad).unwrap().unwrap_err().errno(),
                libc::EINVAL
            );
        }
    }
}
