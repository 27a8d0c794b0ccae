//! netmap pipes (docs/architecture.md, "Pipes"): `netmap:NAME{ID` (master) and
//! `netmap:NAME}ID` (slave), zero-copy, no kernel in the path, within one process or across
//! the processes of one region.
//!
//! A pipe has two channels, master to slave and slave to master, each netmap's pair of twin
//! rings (module `chan`). The pipe itself lives in the region's pipe table (module `shared`):
//! name, holders of both ends, channel state, ring offsets; ring objects and buffers are the
//! region's, so buffer indices move between processes and bytes do not. What is process-local
//! (the rings' addresses in this mapping, the wake-up FIFOs' fds, how many ports of this
//! process use each end) lives in [`Pipe`] and [`PipeTable`].
//!
//! Life cycle, as netmap's: the first open of either end creates the pipe, its rings and
//! buffers; an end closed while the other stays open keeps its rings and whatever is queued in
//! them (reopening it, from any process, finds everything as it was); the last close destroys
//! the pipe. An end is held by one process at a time: another process's open is `EBUSY`.

mod chan;
mod name;
mod shared;
mod wake;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

pub(crate) use name::{parse_pipe_name, PipeName, Role};
pub(crate) use shared::{reclaim_dead, repair, TABLE_BYTES};

use crate::error::{Error, Result};
use crate::queue::SyncStatus;
use crate::region::Region;
use crate::shm::SharedRing;
use chan::{Hold, SyncCtx};

/// A pipe this process holds an end of: its table entry, its rings in this mapping, and its
/// ends' wake-up FIFOs.
pub(crate) struct Pipe {
    idx: usize,
    pub(crate) name: PipeName,
    /// Per channel, (TX ring, RX ring) in this process's mapping.
    rings: [(SharedRing, SharedRing); 2],
    /// Per end (by [`Role`]), its FIFO: the end's sleeper waits on it, the peer signals it.
    wake: [OwnedFd; 2],
    region: &'static Region,
}

impl Pipe {
    fn attach(region: &'static Region, idx: usize, name: PipeName) -> Result<Pipe> {
        let ctl = region.ctl();
        let ent = shared::entry(ctl, idx);
        let [m, s] = shared::fifo_paths(ctl, idx);
        Ok(Pipe {
            idx,
            name,
            rings: [ent.rings(ctl, 0), ent.rings(ctl, 1)],
            wake: [wake::open(&m)?, wake::open(&s)?],
            region,
        })
    }

    fn entry(&self) -> &shared::Entry {
        shared::entry(self.region.ctl(), self.idx)
    }

    /// `NAME{ID` or `NAME}ID`.
    pub(crate) fn end_name(&self, role: Role) -> String {
        self.name.end_name(role)
    }

    fn ctx(&self, c: usize, peer: Role) -> SyncCtx<'_> {
        let (t, r) = self.rings[c];
        SyncCtx {
            t,
            r,
            owners: self.region.ctl().owners(),
            me: self.region.user_slot(),
            peer: &self.entry().holder[peer as usize],
            region: Some(self.region),
        }
    }
}

/// The slots pipes support: netmap's `NM_PIPE_MAXSLOTS` is 4096, nmxdp's rings' range applies.
fn pipe_slots(v: Option<u32>, default: u32) -> u32 {
    v.unwrap_or(default)
        .clamp(crate::config::MIN_SLOTS, crate::config::MAX_SLOTS)
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
    fn chan(&self, c: usize) -> &chan::Channel {
        &self.pipe.entry().chan[c]
    }

    /// Slots of this end's TX and RX rings.
    pub(crate) fn slots(&self) -> (u32, u32) {
        (
            self.chan(self.role.tx_channel()).slots,
            self.chan(self.role.rx_channel()).slots,
        )
    }

    /// Region offsets of this end's TX and RX ring objects.
    pub(crate) fn ring_offsets(&self) -> (u64, u64) {
        (
            self.chan(self.role.tx_channel()).tx_ring_off,
            self.chan(self.role.rx_channel()).rx_ring_off,
        )
    }

    /// NIOCTXSYNC on this end (a no-op without a TX ring).
    pub(crate) fn txsync(&self) -> (SyncStatus, bool) {
        if !self.tx {
            return (SyncStatus::Ok, false);
        }
        let c = self.role.tx_channel();
        let p = &self.pipe;
        let peer = self.role.peer();
        chan::txsync(self.chan(c), &p.ctx(c, peer), || {
            wake::signal(p.wake[peer as usize].as_raw_fd())
        })
    }

    /// NIOCRXSYNC on this end (a no-op without an RX ring).
    pub(crate) fn rxsync(&self) -> (SyncStatus, bool) {
        if !self.rx {
            return (SyncStatus::Ok, false);
        }
        let c = self.role.rx_channel();
        let p = &self.pipe;
        let peer = self.role.peer();
        chan::rxsync(self.chan(c), &p.ctx(c, peer), || {
            wake::signal(p.wake[peer as usize].as_raw_fd())
        })
    }

    /// The fd a sleeper on this end waits on (for frames and for room): its FIFO.
    pub(crate) fn wake_fds(&self) -> Vec<RawFd> {
        vec![self.pipe.wake[self.role as usize].as_raw_fd()]
    }

    /// Before sleeping: tells the peer to signal (frames if `rx`, room if `tx`), then looks once
    /// more. Returns true when something changed since the last syncs, so there is no need to
    /// sleep.
    pub(crate) fn arm(&mut self, rx: bool, tx: bool) -> bool {
        let (rc, tc) = (
            self.chan(self.role.rx_channel()),
            self.chan(self.role.tx_channel()),
        );
        let (rx, tx) = (rx && self.rx, tx && self.tx);
        if rx {
            rc.r.sleeping.store(1, Ordering::Relaxed);
        }
        if tx {
            tc.w.sleeping.store(1, Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
        let changed = (rx
            && rc.w.published.load(Ordering::Relaxed)
                != rc.r.own.tail_seen.load(Ordering::Relaxed))
            || (tx
                && tc.r.released.load(Ordering::Relaxed)
                    != tc.w.own.tail_seen.load(Ordering::Relaxed));
        self.armed_rx |= rx;
        self.armed_tx |= tx;
        changed
    }

    /// After a sleep: withdraws the requests and empties the FIFO, so the next sleep waits for
    /// a new signal. Free when the end did not arm (the data path never pays a syscall).
    #[inline]
    pub(crate) fn disarm(&mut self) {
        if !(self.armed_rx || self.armed_tx) {
            return;
        }
        self.disarm_slow();
    }

    #[cold]
    fn disarm_slow(&mut self) {
        if self.armed_rx {
            self.chan(self.role.rx_channel())
                .r
                .sleeping
                .store(0, Ordering::Relaxed);
        }
        if self.armed_tx {
            self.chan(self.role.tx_channel())
                .w
                .sleeping
                .store(0, Ordering::Relaxed);
        }
        wake::drain(self.pipe.wake[self.role as usize].as_raw_fd());
        self.armed_rx = false;
        self.armed_tx = false;
    }

    /// Frames and bytes this end sent (handed over) and received (handed to it).
    pub(crate) fn counts(&self) -> [u64; 4] {
        let (t, r) = (
            &self.chan(self.role.tx_channel()).w.own,
            &self.chan(self.role.rx_channel()).w.own,
        );
        [
            t.frames.load(Ordering::Relaxed),
            t.bytes.load(Ordering::Relaxed),
            r.frames.load(Ordering::Relaxed),
            r.bytes.load(Ordering::Relaxed),
        ]
    }

    /// Holds this end's TX ring (`tx`) or RX ring against syncs, for a Rust ring view, waiting
    /// a moment for a sync or another process's open or close of the other end to finish; None
    /// when it does not (another view holds the ring). Gives the ring and `[hwcur, tail)`, the slots the
    /// application owns.
    pub(crate) fn view(&self, tx: bool) -> Option<PipeView<'_>> {
        if (tx && !self.tx) || (!tx && !self.rx) {
            return None;
        }
        let mark = self.pipe.region.user_slot() + 1;
        let (c, ring) = if tx {
            let c = self.role.tx_channel();
            (c, self.pipe.rings[c].0)
        } else {
            let c = self.role.rx_channel();
            (c, self.pipe.rings[c].1)
        };
        let ch = self.chan(c);
        let side = if tx { &ch.w.own } else { &ch.r.own };
        let hold = Hold::take_within(&side.busy, mark, std::time::Duration::from_millis(100))?;
        Some(PipeView {
            _hold: hold,
            ring,
            span: (
                side.hwcur.load(Ordering::Relaxed),
                side.tail_seen.load(Ordering::Relaxed),
            ),
        })
    }
}

/// A pipe ring held for a Rust ring view (see [`PipeEnd::view`]).
pub(crate) struct PipeView<'a> {
    _hold: Hold<'a>,
    pub(crate) ring: SharedRing,
    span: (u32, u32),
}

impl PipeView<'_> {
    /// `[hwcur, tail)`: the slots the application owns.
    #[inline]
    pub(crate) fn app_span(&self) -> (u32, u32) {
        self.span
    }
}

// ------------------------------------------------------------------------------------------------
// The process's ends
// ------------------------------------------------------------------------------------------------

struct LocalEntry {
    pipe: Arc<Pipe>,
    /// Ports of this process open on each end.
    users: [u32; 2],
    /// An end opened with `/x`.
    exclusive: [bool; 2],
}

/// The pipes this process holds ends of, by table index; only opens and closes touch it, under
/// the engine's lock.
#[derive(Default)]
pub(crate) struct PipeTable {
    pipes: HashMap<usize, LocalEntry>,
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
    /// Opens an end, creating the pipe on the first open of either end. EBUSY when another
    /// process holds the end (naming its pid), when the end is held with `/x`, or `/x` is
    /// asked while it is in use (netmap's rule for any ring).
    pub(crate) fn open(
        &mut self,
        region: &'static Region,
        default_slots: u32,
        req: PipeRequest,
    ) -> Result<PipeEnd> {
        let role = req.name.role;
        let e = role as usize;
        let me = region.user_slot();
        let ctl = region.ctl();
        // An open that fails hands this process's buffers back (detach): moves out of App.
        let _moves = region.app_moves();
        let g = ctl.lock();
        ctl.reclaim_dead(&g, Some(me));
        let idx = match shared::find(ctl, &g, &req.name) {
            Some(i) => {
                if let Some(h) = shared::entry(ctl, i).holder_of(role) {
                    if h != me {
                        let pid = shared::holder_pid(ctl, &g, i, role).unwrap_or(0);
                        return Err(Error::new(
                            libc::EBUSY,
                            format!(
                                "{}: this pipe end is open in process {pid}: a pipe end is held by one process at a time, close it there first",
                                req.name.end_name(role)
                            ),
                        ));
                    }
                    let local = self.pipes.get(&i).expect("an end this process holds");
                    if local.exclusive[e] || (req.exclusive && local.users[e] > 0) {
                        return Err(Error::new(
                            libc::EBUSY,
                            format!(
                                "{}: this pipe end is already open in this process{}: close the other port first",
                                req.name.end_name(role),
                                if local.exclusive[e] {
                                    " with /x (exclusive)"
                                } else {
                                    ", so /x cannot be granted"
                                }
                            ),
                        ));
                    }
                } else {
                    shared::attach(ctl, &g, i, role, me);
                }
                i
            }
            None => {
                // The requester's own TX ring gets its tx-slots, its RX ring its rx-slots.
                let (t, r) = (
                    pipe_slots(req.tx_slots, default_slots),
                    pipe_slots(req.rx_slots, default_slots),
                );
                let slots = if role == Role::Master { [t, r] } else { [r, t] };
                shared::create(ctl, &g, &region.layout, me, &req.name, slots)?
            }
        };
        let local = match self.pipes.entry(idx) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                match Pipe::attach(region, idx, req.name.clone()) {
                    Ok(p) => v.insert(LocalEntry {
                        pipe: Arc::new(p),
                        users: [0, 0],
                        exclusive: [false, false],
                    }),
                    Err(err) => {
                        shared::detach(ctl, &g, idx, role, me);
                        return Err(err);
                    }
                }
            }
        };
        local.users[e] += 1;
        local.exclusive[e] |= req.exclusive;
        Ok(PipeEnd {
            pipe: local.pipe.clone(),
            role,
            tx: req.tx,
            rx: req.rx,
            exclusive: req.exclusive,
            armed_rx: false,
            armed_tx: false,
        })
    }

    /// Closes an end; the last close of the end in this process hands it back (its buffers to
    /// the peer's holder, or to the pool with the pipe when the peer is closed too).
    pub(crate) fn close(&mut self, end: PipeEnd) {
        let idx = end.pipe.idx;
        let region = end.pipe.region;
        let (role, exclusive) = (end.role, end.exclusive);
        drop(end);
        let Some(local) = self.pipes.get_mut(&idx) else {
            return;
        };
        let e = role as usize;
        local.users[e] = local.users[e].saturating_sub(1);
        if exclusive {
            local.exclusive[e] = false;
        }
        if local.users[e] == 0 {
            let ctl = region.ctl();
            // Detaching moves this process's buffers out of App.
            let _moves = region.app_moves();
            let g = ctl.lock();
            // A peer that died is closed first, so this end's side is not handed to it.
            ctl.reclaim_dead(&g, Some(region.user_slot()));
            shared::detach(ctl, &g, idx, role, region.user_slot());
        }
        if local.users == [0, 0] {
            self.pipes.remove(&idx);
        }
    }

    /// The pid of the process holding end `name.role` of pipe `name`, if the pipe exists and
    /// that end is open (after taking back what dead processes held).
    pub(crate) fn holder(region: &Region, name: &PipeName) -> Option<u32> {
        let ctl = region.ctl();
        let g = ctl.lock();
        ctl.reclaim_dead(&g, Some(region.user_slot()));
        let i = shared::find(ctl, &g, name)?;
        shared::holder_pid(ctl, &g, i, name.role)
    }

    /// Slots an open of `name` would get, without creating anything: the existing pipe's, or
    /// what the request would create.
    pub(crate) fn slots_for(
        &self,
        region: &Region,
        name: &PipeName,
        default_slots: u32,
        tx_slots: Option<u32>,
        rx_slots: Option<u32>,
    ) -> (u32, u32) {
        let ctl = region.ctl();
        let g = ctl.lock();
        match shared::find(ctl, &g, name) {
            Some(i) => {
                let s = shared::slots(ctl, i);
                (s[name.role.tx_channel()], s[name.role.rx_channel()])
            }
            None => (
                pipe_slots(tx_slots, default_slots),
                pipe_slots(rx_slots, default_slots),
            ),
        }
    }
}
