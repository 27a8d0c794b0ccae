//! The region's pipe table (docs/architecture.md, "Pipes"): one entry per pipe, in the control
//! area, so that the processes of both ends see one pipe. An entry holds the name, each end's
//! holder (a user slot) and both channels; its ring objects and buffers are the region's.
//!
//! Everything here runs under the region's mutex ([`Guard`]); the syncs never take it.
//!
//! Ownership rule: the buffers of an end's side of both channels (see [`Channel::on_reader`])
//! belong to the end's holder, or to the other end's holder while the end is closed. A pipe
//! exists while at least one end is open: an end that closes (or whose process died) hands its
//! buffers to the peer's holder, and the last one gives them back to the pool.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use super::chan::{fresh_slot, Channel, Hold};
use super::name::{PipeName, Role};
use super::wake;
use crate::error::{Error, Result};
use crate::queue::ring_bytes;
use crate::region::{app_entry, give_app, Ctl, Guard, Layout, PIPE_PAGES};
use crate::shm::SharedRing;

/// Pipes one region holds at a time.
pub(crate) const MAX_PIPES: usize = 64;
const PARENT_MAX: usize = 64;
const ID_MAX: usize = 32;

/// One pipe of the table.
#[repr(C)]
pub(crate) struct Entry {
    pub chan: [Channel; 2],
    /// 1 while the pipe exists.
    used: AtomicU32,
    parent_len: u32,
    id_len: u32,
    parent: [u8; PARENT_MAX],
    id: [u8; ID_MAX],
    /// Per end (by [`Role`]), its holder's user slot + 1; 0: the end is closed.
    pub holder: [AtomicU8; 2],
}

/// Bytes of the table in the control area.
pub(crate) const TABLE_BYTES: usize = MAX_PIPES * std::mem::size_of::<Entry>();

/// Entry `i` of the table.
pub(crate) fn entry(ctl: &Ctl, i: usize) -> &Entry {
    assert!(i < MAX_PIPES);
    // SAFETY: the table holds MAX_PIPES entries (TABLE_BYTES) at a page-aligned offset of the
    // mapping, which lives as long as the Ctl; its fields are atomics or written only under the
    // mutex while no end is open.
    unsafe { &*ctl.pipe_table().cast::<Entry>().add(i) }
}

impl Entry {
    fn used(&self) -> bool {
        self.used.load(Ordering::Acquire) != 0
    }

    fn is(&self, name: &PipeName) -> bool {
        self.used()
            && self.parent[..self.parent_len as usize] == *name.parent.as_bytes()
            && self.id[..self.id_len as usize] == *name.id.as_bytes()
    }

    /// The holder of end `role`, as a user slot.
    pub(crate) fn holder_of(&self, role: Role) -> Option<u8> {
        match self.holder[role as usize].load(Ordering::Acquire) {
            0 => None,
            m => Some(m - 1),
        }
    }

    /// The twin rings of channel `c` (TX ring, RX ring).
    pub(crate) fn rings(&self, ctl: &Ctl, c: usize) -> (SharedRing, SharedRing) {
        let ch = &self.chan[c];
        // SAFETY: the offsets are ring objects of ch.slots slots this table allocated in the
        // ring pool when the pipe was created; the pages stay the pipe's while it exists.
        unsafe {
            (
                SharedRing::new(ctl.at_offset(ch.tx_ring_off).cast(), ch.slots),
                SharedRing::new(ctl.at_offset(ch.rx_ring_off).cast(), ch.slots),
            )
        }
    }

    /// Per slot of end `role`'s side of both channels: (channel, slot, on the reader side?,
    /// its current buffer).
    fn side_of(&self, ctl: &Ctl, role: Role) -> Vec<(usize, u32, bool, u32)> {
        let mut out = Vec::new();
        for c in 0..2 {
            let ch = &self.chan[c];
            let (t, r) = self.rings(ctl, c);
            let reader = c == role.rx_channel();
            for k in 0..ch.slots {
                if ch.on_reader(k) == reader {
                    out.push((
                        c,
                        k,
                        reader,
                        if reader { r.buf_idx(k) } else { t.buf_idx(k) },
                    ));
                }
            }
        }
        out
    }
}

/// A slot whose buffer could not be handed over: it gets a fresh buffer of `to` once buffers
/// are free.
pub(crate) struct Repair {
    pipe: usize,
    chan: usize,
    slot: u32,
    reader: bool,
    to: u8,
}

/// The pipe called `name`, if it exists.
pub(crate) fn find(ctl: &Ctl, _g: &Guard, name: &PipeName) -> Option<usize> {
    (0..MAX_PIPES).find(|&i| entry(ctl, i).is(name))
}

/// The FIFO paths of entry `i`'s ends.
pub(crate) fn fifo_paths(ctl: &Ctl, i: usize) -> [std::ffi::CString; 2] {
    [
        wake::path(ctl.id(), i, Role::Master),
        wake::path(ctl.id(), i, Role::Slave),
    ]
}

/// Creates pipe `name` with `slots[c]` slots in channel `c`, end `name.role` held by user
/// `me`; its index.
pub(crate) fn create(
    ctl: &Ctl,
    g: &Guard,
    l: &Layout,
    me: u8,
    name: &PipeName,
    slots: [u32; 2],
) -> Result<usize> {
    if name.parent.len() > PARENT_MAX || name.id.len() > ID_MAX {
        return Err(Error::new(
            libc::ENAMETOOLONG,
            format!(
                "{}: pipe names take at most {PARENT_MAX} bytes before the brace and {ID_MAX} after",
                name.end_name(name.role)
            ),
        ));
    }
    let Some(i) = (0..MAX_PIPES).find(|&i| !entry(ctl, i).used()) else {
        return Err(Error::new(
            libc::ENOMEM,
            format!("all {MAX_PIPES} pipes of the netmap region are in use: close some"),
        ));
    };
    let need: usize = slots.iter().map(|&n| n as usize).sum();
    let free = ctl.free_count(g);
    if free < need {
        return Err(Error::new(
            libc::ENOMEM,
            format!(
                "pipe {} needs {need} buffers but only {free} of {} are free: raise NMXDP_BUF_NUM or use fewer slots (@conf:slots=N)",
                name.end_name(name.role),
                l.buf_num
            ),
        ));
    }
    let mut pages: Vec<(usize, usize)> = Vec::new();
    let mut offs = [[0u64; 2]; 2];
    for c in 0..2 {
        for o in offs[c].iter_mut() {
            let n = (ring_bytes(slots[c]).div_ceil(4096)) as usize;
            let Some(first) = ctl.take_pages_marked(g, PIPE_PAGES, n) else {
                for &(f, n) in &pages {
                    ctl.put_pages_marked(g, PIPE_PAGES, f, n);
                }
                return Err(Error::new(
                    libc::ENOMEM,
                    format!(
                        "the ring pool ({} bytes) has no room for the rings of pipe {}: raise NMXDP_RING_NUM or use fewer slots",
                        l.ring_pool_size,
                        name.end_name(name.role)
                    ),
                ));
            };
            pages.push((first, n));
            *o = l.ring_pool_offset + first as u64 * 4096;
            // SAFETY: the pages lie in the ring pool and are this pipe's now; zero them.
            unsafe { std::ptr::write_bytes(ctl.at_offset(*o), 0, n * 4096) };
        }
    }
    let bufs = ctl.take_bufs(g, me, need);
    let e = ctl.pipe_table().cast::<Entry>();
    // SAFETY: entry i is unused, so no process reads it but under this mutex; writing it whole
    // (atomics included) is the creation.
    unsafe {
        let mut ent = Entry {
            chan: [
                Channel::new(slots[0], offs[0][0], offs[0][1]),
                Channel::new(slots[1], offs[1][0], offs[1][1]),
            ],
            used: AtomicU32::new(0),
            parent_len: name.parent.len() as u32,
            id_len: name.id.len() as u32,
            parent: [0; PARENT_MAX],
            id: [0; ID_MAX],
            holder: [AtomicU8::new(0), AtomicU8::new(0)],
        };
        ent.parent[..name.parent.len()].copy_from_slice(name.parent.as_bytes());
        ent.id[..name.id.len()].copy_from_slice(name.id.as_bytes());
        e.add(i).write(ent);
    }
    let ent = entry(ctl, i);
    let mut b = bufs.into_iter();
    for c in 0..2 {
        let (t, r) = ent.rings(ctl, c);
        let n = slots[c];
        let ring = |ring: SharedRing, off: u64, dir: u16, tail: u32| {
            ring.init_header(
                l.buf_pool_offset as i64 - off as i64,
                l.buf_size,
                0,
                dir,
                tail,
            )
        };
        ring(t, offs[c][0], 0, n - 1);
        ring(r, offs[c][1], 1, 0);
        for k in 0..n {
            // Twin slots start equal, as netmap copies the TX ring into its twin.
            let s = fresh_slot(b.next().expect("need buffers taken"), l.buf_size);
            t.set_slot(k, s);
            r.set_slot(k, s);
        }
    }
    ent.holder[name.role as usize].store(me + 1, Ordering::Release);
    ent.used.store(1, Ordering::Release);
    Ok(i)
}

/// Hands the buffers of end `role`'s side from user `from` to user `to` (or to the pool, for
/// None) and makes `holder` (user slot + 1, or 0) the end's holder, while the other end's
/// syncs are held off; slots whose buffer `from` did not own are returned for repair when they
/// go to a user.
fn hand_side(
    ctl: &Ctl,
    g: &Guard,
    i: usize,
    role: Role,
    (from, to): (u8, Option<u8>),
    holder: u8,
    mark: u8,
) -> Vec<Repair> {
    let ent = entry(ctl, i);
    // The peer reads the holder of this end at each sync and hands buffers to it: hold its
    // syncs off while both change (its reader side of our TX channel, its writer side of our
    // RX channel). A sync lets go within microseconds; a ring view may be held longer, and by
    // the very thread that is here (a view kept while opening another port): after a while,
    // go on without the hold rather than wait for ever with the region locked.
    let patience = std::time::Duration::from_secs(2);
    let _h1 = Hold::take_within(&ent.chan[role.tx_channel()].r.own.busy, mark, patience);
    let _h2 = Hold::take_within(&ent.chan[role.rx_channel()].w.own.busy, mark, patience);
    let owners = ctl.owners();
    let mut repairs = Vec::new();
    for (c, k, reader, b) in ent.side_of(ctl, role) {
        let ok = match to {
            Some(to) => {
                give_app(owners, b, from, to)
                    || owners
                        .get(b as usize)
                        .is_some_and(|o| o.load(Ordering::Relaxed) == app_entry(to))
            }
            None => {
                let v = app_entry(from);
                let freed = b >= 2
                    && owners.get(b as usize).is_some_and(|o| {
                        o.compare_exchange(v, 0, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                    });
                if freed {
                    ctl.push_free(g, b);
                }
                true
            }
        };
        if !ok {
            if let Some(to) = to {
                repairs.push(Repair {
                    pipe: i,
                    chan: c,
                    slot: k,
                    reader,
                    to,
                });
            }
        }
    }
    ent.holder[role as usize].store(holder, Ordering::Release);
    repairs
}

/// User `me` takes end `role` of pipe `i` (closed, its buffers held by the peer's holder).
pub(crate) fn attach(ctl: &Ctl, g: &Guard, i: usize, role: Role, me: u8) {
    let ent = entry(ctl, i);
    match ent.holder_of(role.peer()) {
        Some(p) if p != me => {
            let repairs = hand_side(ctl, g, i, role, (p, Some(me)), me + 1, me + 1);
            repair(ctl, g, repairs);
        }
        _ => ent.holder[role as usize].store(me + 1, Ordering::Release),
    }
}

/// User `me` leaves end `role` of pipe `i`: its buffers go to the peer's holder, or, with the
/// peer closed too, the pipe goes away.
pub(crate) fn detach(ctl: &Ctl, g: &Guard, i: usize, role: Role, me: u8) {
    let ent = entry(ctl, i);
    match ent.holder_of(role.peer()) {
        Some(p) if p != me => {
            let repairs = hand_side(ctl, g, i, role, (me, Some(p)), 0, me + 1);
            repair(ctl, g, repairs);
        }
        Some(_) => ent.holder[role as usize].store(0, Ordering::Release),
        None => {
            // Both sides are this user's: every buffer of the pipe goes back.
            hand_side(ctl, g, i, role, (me, None), 0, me + 1);
            hand_side(ctl, g, i, role.peer(), (me, None), 0, me + 1);
            destroy(ctl, g, i);
        }
    }
}

/// Frees pipe `i`'s rings, FIFOs and entry (its buffers are given back by the caller).
fn destroy(ctl: &Ctl, g: &Guard, i: usize) {
    let ent = entry(ctl, i);
    for ch in &ent.chan {
        let n = ring_bytes(ch.slots).div_ceil(4096) as usize;
        for off in [ch.tx_ring_off, ch.rx_ring_off] {
            let first = ctl.ring_page_of(off);
            ctl.put_pages_marked(g, PIPE_PAGES, first, n);
        }
    }
    for p in fifo_paths(ctl, i) {
        wake::unlink(&p);
    }
    for h in &ent.holder {
        h.store(0, Ordering::Relaxed);
    }
    ent.used.store(0, Ordering::Release);
}

/// Before the region takes back what the `dead` users held: their pipe ends are closed, their
/// holds on syncs broken, and their side's buffers handed to a live peer (the slots whose
/// buffer was not theirs are returned, to get a fresh buffer once the dead users' buffers are
/// free); a pipe with no live end left goes away (its buffers are all the dead users', which
/// the caller frees).
pub(crate) fn reclaim_dead(ctl: &Ctl, g: &Guard, dead: &[u8]) -> Vec<Repair> {
    let mut repairs = Vec::new();
    for i in 0..MAX_PIPES {
        let ent = entry(ctl, i);
        if !ent.used() {
            continue;
        }
        for ch in &ent.chan {
            for w in ch.busy_words() {
                let v = w.load(Ordering::Relaxed);
                if v != 0 && dead.contains(&((v - 1) as u8)) {
                    w.store(0, Ordering::Release);
                }
            }
        }
        let is_dead = |r: Role| ent.holder_of(r).is_some_and(|s| dead.contains(&s));
        let live = |r: Role| ent.holder_of(r).filter(|s| !dead.contains(s));
        for role in [Role::Master, Role::Slave] {
            if !is_dead(role) {
                continue;
            }
            let from = ent.holder_of(role).expect("dead holder");
            match live(role.peer()) {
                Some(p) => {
                    repairs.extend(hand_side(ctl, g, i, role, (from, Some(p)), 0, from + 1));
                }
                None => ent.holder[role as usize].store(0, Ordering::Release),
            }
        }
        if ent.holder_of(Role::Master).is_none() && ent.holder_of(Role::Slave).is_none() {
            destroy(ctl, g, i);
        }
    }
    repairs
}

/// Gives each slot of `repairs` a fresh buffer of its user (as far as buffers are free).
pub(crate) fn repair(ctl: &Ctl, g: &Guard, repairs: Vec<Repair>) {
    for rp in repairs {
        let ent = entry(ctl, rp.pipe);
        if !ent.used() {
            continue;
        }
        let Some(&b) = ctl.take_bufs(g, rp.to, 1).first() else {
            continue;
        };
        let (t, r) = ent.rings(ctl, rp.chan);
        let ring = if rp.reader { r } else { t };
        ring.set_slot(rp.slot, fresh_slot(b, ctl.buf_size()));
    }
}

/// Slots of each channel of pipe `i`.
pub(crate) fn slots(ctl: &Ctl, i: usize) -> [u32; 2] {
    let e = entry(ctl, i);
    [e.chan[0].slots, e.chan[1].slots]
}

/// The pid of end `role`'s holder, for EBUSY messages.
pub(crate) fn holder_pid(ctl: &Ctl, g: &Guard, i: usize, role: Role) -> Option<u32> {
    entry(ctl, i).holder_of(role).map(|s| ctl.pid_of(g, s))
}

#[cfg(test)]
mod tests {
    use super::super::chan::{rxsync, txsync, SyncCtx};
    use super::*;
    use crate::config::Config;
    use crate::queue::SyncStatus;
    use crate::region::Region;

    fn name(role: Role) -> PipeName {
        PipeName {
            parent: "t".into(),
            id: "1".into(),
            role,
        }
    }

    /// Channel 0 (master to slave) as user `me` syncs it.
    fn ctx<'a>(ctl: &'a Ctl, me: u8, peer: Role) -> SyncCtx<'a> {
        let (t, r) = entry(ctl, 0).rings(ctl, 0);
        SyncCtx {
            t,
            r,
            owners: ctl.owners(),
            me,
            peer: &entry(ctl, 0).holder[peer as usize],
            region: None,
        }
    }

    fn owner(ctl: &Ctl, b: u32) -> u8 {
        ctl.owners()[b as usize].load(Ordering::Relaxed)
    }

    #[test]
    fn buffers_change_hands_with_the_slots_and_a_dead_end_is_reclaimed() {
        let r = Region::new(&Config::default().buf_num(1024).slots(64)).unwrap();
        let ctl = r.ctl();
        let (a, b) = (r.user_slot(), r.join_test_user(false));
        let free = r.free_buf_count();
        let g = ctl.lock();
        let i = create(ctl, &g, &r.layout, a, &name(Role::Master), [64, 64]).unwrap();
        assert_eq!(find(ctl, &g, &name(Role::Slave)), Some(i));
        attach(ctl, &g, i, Role::Slave, b);
        drop(g);
        assert_eq!(r.free_buf_count(), free - 128);
        // The master sends 10 slots: their buffers become the slave's.
        let w = ctx(ctl, a, Role::Slave);
        let sent: Vec<u32> = (0..10).map(|k| w.t.buf_idx(k)).collect();
        w.t.set_head_cur(10);
        assert_eq!(txsync(&entry(ctl, i).chan[0], &w, || ()).0, SyncStatus::Ok);
        assert!(sent.iter().all(|&x| owner(ctl, x) == app_entry(b)));
        // The slave reads them and releases 4: those go back to the master.
        let rd = ctx(ctl, b, Role::Master);
        rxsync(&entry(ctl, i).chan[0], &rd, || ());
        assert_eq!(rd.r.tail(), 10);
        rd.r.set_head_cur(4);
        rxsync(&entry(ctl, i).chan[0], &rd, || ());
        assert!(sent[..4].iter().all(|&x| owner(ctl, x) == app_entry(a)));
        assert!(sent[4..].iter().all(|&x| owner(ctl, x) == app_entry(b)));
        // A master slot naming a buffer it does not own stops the sync there.
        let orig = w.t.buf_idx(11);
        w.t.set_buf_idx(11, sent[5]);
        w.t.set_head_cur(13);
        assert_eq!(
            txsync(&entry(ctl, i).chan[0], &w, || ()).0,
            SyncStatus::Reinit
        );
        assert_eq!(w.t.head(), 11, "slot 10 went, 11 stays the master's");
        assert_eq!(owner(ctl, sent[5]), app_entry(b));
        w.t.set_buf_idx(11, orig);
        // The slave closes: its side (6 unreleased + 1 just sent) goes to the master.
        let g = ctl.lock();
        detach(ctl, &g, i, Role::Slave, b);
        assert_eq!(entry(ctl, i).holder_of(Role::Slave), None);
        assert!(sent.iter().all(|&x| owner(ctl, x) == app_entry(a)));
        // A user that dies holding the slave end: its side goes back to the master's user.
        let d = {
            drop(g);
            r.join_test_user(true)
        };
        let g = ctl.lock();
        attach(ctl, &g, i, Role::Slave, d);
        assert!(sent[4..].iter().all(|&x| owner(ctl, x) == app_entry(d)));
        let slave_busy = &entry(ctl, i).chan[0].r.own.busy;
        slave_busy.store(d as u32 + 1, Ordering::Relaxed); // killed in the middle of a sync
        ctl.reclaim_dead(&g, Some(a));
        assert_eq!(entry(ctl, i).holder_of(Role::Slave), None);
        assert_eq!(slave_busy.load(Ordering::Relaxed), 0, "its hold is broken");
        assert!(sent.iter().all(|&x| owner(ctl, x) == app_entry(a)));
        assert_eq!(ctl.free_count(&g), free - 128, "no pipe buffer freed");
        // The master's close is the last: the pipe, its buffers and rings are gone.
        detach(ctl, &g, i, Role::Master, a);
        assert_eq!(find(ctl, &g, &name(Role::Master)), None);
        drop(g);
        assert_eq!(r.free_buf_count(), free);
        assert_eq!(r.audit()[0], free);
    }
}
