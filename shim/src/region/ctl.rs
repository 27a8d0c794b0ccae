//! The region's control area: the allocators, the user table and the ownership table, in the
//! same mapping as the pools (after `nr_memsize`, so no netmap application is told about it), so
//! that every process mapping the region shares them (docs/architecture.md, "Shared region").
//!
//! Only opens, closes and reclaims change it, under a process-shared robust mutex; the data path
//! touches nothing here but the ownership table's entries, one compare-and-swap each.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

use super::alive::Ident;
use super::{round_up, Layout, Owner, RegionUser, PAGE};
use crate::error::{Error, Result};

/// Processes that can use one region at a time: an ownership entry keeps its owner's slot in
/// its upper 6 bits.
pub const MAX_USERS: usize = 64;

const MAGIC: u64 = u64::from_le_bytes(*b"NMXDPRG1");
/// Bumped whenever the control area's layout changes.
const VERSION: u32 = 2;

/// The owner mark of ring pages a pipe holds (user slots mark theirs with slot + 1 <= 64): a
/// pipe's rings outlive the process that created them, so a dead user's reclaim leaves them.
pub(crate) const PIPE_PAGES: u8 = 0xff;

/// The sizes a region was made with; a process asking for others cannot share it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizing {
    pub buf_size: u32,
    pub buf_num: u32,
    pub if_num: u32,
    pub if_size: u32,
    pub ring_num: u32,
    pub ring_size: u32,
}

impl Sizing {
    pub fn of(l: &Layout) -> Sizing {
        Sizing {
            buf_size: l.buf_size,
            buf_num: l.buf_num,
            if_num: l.if_num,
            if_size: l.if_size,
            ring_num: l.ring_num,
            ring_size: l.ring_size,
        }
    }

    /// The first difference from `want`, as "KNOB: region has A, this process asks for B".
    pub fn difference(&self, want: &Sizing) -> Option<(&'static str, u32, u32)> {
        [
            ("NMXDP_BUF_SIZE", self.buf_size, want.buf_size),
            ("NMXDP_BUF_NUM", self.buf_num, want.buf_num),
            ("NMXDP_IF_NUM", self.if_num, want.if_num),
            ("NMXDP_RING_NUM", self.ring_num, want.ring_num),
            ("netmap_if size", self.if_size, want.if_size),
            ("ring object size", self.ring_size, want.ring_size),
        ]
        .into_iter()
        .find(|(_, have, want)| have != want)
    }
}

/// One user slot; `pid == 0` is a free slot.
#[repr(C)]
#[derive(Clone, Copy)]
struct User {
    pid: u32,
    _pad: u32,
    start: u64,
    pidns: u64,
}

/// The first page of the control area.
#[repr(C)]
pub(crate) struct Header {
    magic: u64,
    version: u32,
    /// Set last when the creator has initialised everything.
    ready: AtomicU32,
    pub sizing: Sizing,
    free_count: u32,
    mutex: libc::pthread_mutex_t,
    /// Buffers taken back from users that died, over the region's life.
    reclaimed_bufs: u64,
    /// Users that died and were cleared.
    reclaimed_users: u64,
    /// Names this region's pipe wake-up FIFOs (docs/architecture.md, "Pipes"): set at creation,
    /// unique per region.
    id: u64,
    users: [User; MAX_USERS],
}

const _: () = assert!(std::mem::size_of::<Header>() <= PAGE as usize);

/// Where the control area's parts lie, as offsets from the region's base.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CtlLayout {
    hdr: usize,
    free: usize,
    owner: usize,
    ifs: usize,
    pages: usize,
    n_pages: usize,
    pipes: usize,
    /// Bytes to map: the pools and the control area.
    pub map_len: usize,
}

impl CtlLayout {
    /// The control area of a region laid out as `l`: the tables right after the pools, the
    /// header in the last page, where a process that does not know the region's sizes finds it
    /// from the file's size.
    pub fn new(l: &Layout) -> CtlLayout {
        let free = round_up(l.memsize, PAGE) as usize;
        let owner = round_up((free + 4 * l.buf_num as usize) as u64, 64) as usize;
        let ifs = round_up((owner + l.buf_num as usize) as u64, 64) as usize;
        let pages = ifs + l.if_num as usize;
        let n_pages = (l.ring_pool_size / PAGE) as usize;
        let pipes = round_up((pages + n_pages) as u64, PAGE) as usize;
        let hdr = pipes + round_up(crate::pipe::TABLE_BYTES as u64, PAGE) as usize;
        let map_len = hdr + PAGE as usize;
        CtlLayout {
            hdr,
            free,
            owner,
            ifs,
            pages,
            n_pages,
            pipes,
            map_len,
        }
    }
}

/// Pointers to the control area of one mapping.
pub(crate) struct Ctl {
    base: *mut u8,
    hdr: *mut Header,
    pipes: *mut u8,
    free: *mut u32,
    owner: *const AtomicU8,
    ifs: *mut u8,
    pages: *mut u8,
    n_pages: usize,
    buf_num: u32,
    if_num: u32,
    ring_pool_offset: u64,
    buf_size: u32,
}

/// The ownership entry of a buffer `o` owns in user slot `slot`: Free is 0 whoever freed it.
#[inline]
pub(crate) fn entry(slot: u8, o: Owner) -> u8 {
    tagged(slot << 2, o)
}

/// [`entry`] with the slot already shifted into place (`tag = slot << 2`), as the data path
/// keeps it: one OR with a constant state, folded away for Free.
#[inline]
pub(crate) fn tagged(tag: u8, o: Owner) -> u8 {
    if o == Owner::Free {
        0
    } else {
        tag | o as u8
    }
}

/// The entry of a buffer the application of user slot `slot` owns.
#[inline]
pub(crate) fn app_entry(slot: u8) -> u8 {
    entry(slot, Owner::App)
}

/// Hands buffer `idx` from the application of user slot `from` to that of `to`: one
/// compare-and-swap, false (and no change) unless it was `from`'s application's.
#[inline]
pub(crate) fn give_app(table: &[AtomicU8], idx: u32, from: u8, to: u8) -> bool {
    table.get(idx as usize).is_some_and(|o| {
        o.compare_exchange(app_entry(from), app_entry(to), Relaxed, Relaxed)
            .is_ok()
    })
}

/// The owner state and user slot of an ownership entry.
#[inline]
pub(crate) fn decode(v: u8) -> (Owner, u8) {
    let o = match v & 3 {
        0 => Owner::Free,
        1 => Owner::App,
        2 => Owner::KernelRx,
        _ => Owner::KernelTx,
    };
    (o, v >> 2)
}

/// A region id unique enough to name files after: the creator's pid and the clock.
fn region_id() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (u64::from(std::process::id()) << 40) ^ now
}

/// Holds the control area's mutex; unlocks on drop.
pub(crate) struct Guard<'a>(&'a Ctl);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: the mutex lies in the mapped header and this guard locked it.
        unsafe { libc::pthread_mutex_unlock(std::ptr::addr_of_mut!((*self.0.hdr).mutex)) };
    }
}

impl Ctl {
    /// Pointers into the mapping at `base` laid out by `cl` for `l`.
    ///
    /// # Safety
    /// `base` must map at least `cl.map_len` writable bytes for as long as the `Ctl` is used.
    pub unsafe fn at(base: *mut u8, l: &Layout, cl: &CtlLayout) -> Ctl {
        // SAFETY: every offset lies within map_len (CtlLayout::new), per the contract.
        unsafe {
            Ctl {
                base,
                hdr: base.add(cl.hdr).cast(),
                pipes: base.add(cl.pipes),
                free: base.add(cl.free).cast(),
                owner: base.add(cl.owner).cast(),
                ifs: base.add(cl.ifs),
                pages: base.add(cl.pages),
                n_pages: cl.n_pages,
                buf_num: l.buf_num,
                if_num: l.if_num,
                ring_pool_offset: l.ring_pool_offset,
                buf_size: l.buf_size,
            }
        }
    }

    /// The header of an existing region, to check it before mapping the rest.
    ///
    /// # Safety
    /// `hdr` must point to a mapped page.
    pub unsafe fn peek(hdr: *const Header) -> Option<Sizing> {
        // SAFETY: per the contract; plain reads of a header the creator finished before linking.
        unsafe {
            let h = &*hdr;
            (h.magic == MAGIC && h.version == VERSION && h.ready.load(Relaxed) == 1)
                .then_some(h.sizing)
        }
    }

    /// Initialises a zeroed control area: every buffer but 0 and 1 free, no user.
    pub fn init(&self, sizing: Sizing) -> Result<()> {
        // SAFETY: the area is mapped (contract of `at`) and not yet visible to anyone else.
        unsafe {
            let h = &mut *self.hdr;
            h.magic = MAGIC;
            h.version = VERSION;
            h.sizing = sizing;
            h.id = region_id();
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            let m = std::ptr::addr_of_mut!(h.mutex);
            let ok = libc::pthread_mutexattr_init(&mut attr) == 0
                && libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED) == 0
                && libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST) == 0
                && libc::pthread_mutex_init(m, &attr) == 0;
            libc::pthread_mutexattr_destroy(&mut attr);
            if !ok {
                return Err(Error::new(libc::ENOMEM, "initialising the region's mutex"));
            }
        }
        self.rebuild_free_list();
        // SAFETY: as above.
        unsafe { (*self.hdr).ready.store(1, Relaxed) };
        Ok(())
    }

    /// The ownership table, one entry per buffer.
    #[inline]
    pub fn owners(&self) -> &[AtomicU8] {
        // SAFETY: buf_num atomics in the mapping (contract of `at`), which outlives &self.
        unsafe { std::slice::from_raw_parts(self.owner, self.buf_num as usize) }
    }

    /// Address of the first ownership entry.
    #[inline]
    pub fn owner_ptr(&self) -> *const AtomicU8 {
        self.owner
    }

    /// Locks the mutex. A holder that died with it (`EOWNERDEAD`) may have left the free list
    /// half-updated: it is rebuilt from the ownership table, which every change writes first.
    pub fn lock(&self) -> Guard<'_> {
        // SAFETY: the mutex lies in the mapped header and was initialised by the creator.
        let m = unsafe { std::ptr::addr_of_mut!((*self.hdr).mutex) };
        // SAFETY: as above.
        let rc = unsafe { libc::pthread_mutex_lock(m) };
        if rc == libc::EOWNERDEAD {
            self.rebuild_free_list();
            // SAFETY: we hold the mutex (EOWNERDEAD grants it).
            unsafe { libc::pthread_mutex_consistent(m) };
        }
        Guard(self)
    }

    /// Free list = every buffer whose entry is Free, lowest popped first (small pools stay
    /// dense). Only under the mutex or before the region is visible: moves into or out of Free
    /// happen only under it, so the set of free entries cannot change meanwhile.
    fn rebuild_free_list(&self) {
        let t = self.owners();
        let mut n = 0usize;
        for i in (2..self.buf_num).rev() {
            if t[i as usize].load(Relaxed) == 0 {
                // SAFETY: n < buf_num entries of the free list.
                unsafe { self.free.add(n).write(i) };
                n += 1;
            }
        }
        // SAFETY: the header is mapped.
        unsafe { (*self.hdr).free_count = n as u32 };
    }

    /// Buffers in the free list.
    pub fn free_count(&self, _g: &Guard) -> usize {
        // SAFETY: under the mutex.
        unsafe { (*self.hdr).free_count as usize }
    }

    /// Takes `n` buffers for `slot` (fewer if fewer are free), as the application's.
    pub fn take_bufs(&self, g: &Guard, slot: u8, n: usize) -> Vec<u32> {
        let fc = self.free_count(g);
        let n = n.min(fc);
        let at = fc - n;
        // SAFETY: entries at..fc of the free list are initialised.
        let mut out = unsafe { std::slice::from_raw_parts(self.free.add(at), n) }.to_vec();
        // The top of the stack is the lowest index: popped in order, a fresh pool's buffers come
        // out ascending, so consecutive slots (a jumbo chain, the fill ring) walk memory forward.
        out.reverse();
        let t = self.owners();
        for &b in &out {
            t[b as usize].store(entry(slot, Owner::App), Relaxed);
        }
        // SAFETY: under the mutex.
        unsafe { (*self.hdr).free_count = at as u32 };
        out
    }

    /// Pushes buffer `b`, whose entry the caller just set to Free, on the free list.
    pub fn push_free(&self, _g: &Guard, b: u32) {
        // SAFETY: under the mutex; a buffer is pushed only after its entry moved to Free, once,
        // so the list never holds more than buf_num entries.
        unsafe {
            let h = &mut *self.hdr;
            self.free.add(h.free_count as usize).write(b);
            h.free_count += 1;
        }
    }

    /// Marks a free `netmap_if` as `slot`'s; its index, or None when all are taken.
    pub fn take_if(&self, _g: &Guard, slot: u8) -> Option<usize> {
        // SAFETY: if_num bytes of the mapping, under the mutex.
        let t = unsafe { std::slice::from_raw_parts_mut(self.ifs, self.if_num as usize) };
        let i = t.iter().position(|&u| u == 0)?;
        t[i] = slot + 1;
        Some(i)
    }

    /// Frees `netmap_if` `i` if `slot` holds it.
    pub fn put_if(&self, _g: &Guard, slot: u8, i: usize) {
        // SAFETY: as for take_if.
        let t = unsafe { std::slice::from_raw_parts_mut(self.ifs, self.if_num as usize) };
        if let Some(u) = t.get_mut(i).filter(|u| **u == slot + 1) {
            *u = 0;
        }
    }

    /// Marks the first run of `n` free ring pages as `slot`'s; its first page.
    pub fn take_pages(&self, g: &Guard, slot: u8, n: usize) -> Option<usize> {
        self.take_pages_marked(g, slot + 1, n)
    }

    /// Marks the first run of `n` free ring pages with `mark` (slot + 1, or [`PIPE_PAGES`]).
    pub fn take_pages_marked(&self, _g: &Guard, mark: u8, n: usize) -> Option<usize> {
        // SAFETY: n_pages bytes of the mapping, under the mutex.
        let t = unsafe { std::slice::from_raw_parts_mut(self.pages, self.n_pages) };
        let mut run = 0;
        for i in 0..t.len() {
            run = if t[i] != 0 { 0 } else { run + 1 };
            if run == n {
                let first = i + 1 - n;
                t[first..=i].iter_mut().for_each(|u| *u = mark);
                return Some(first);
            }
        }
        None
    }

    /// Frees ring pages `first..first + n` that `slot` holds.
    pub fn put_pages(&self, g: &Guard, slot: u8, first: usize, n: usize) {
        self.put_pages_marked(g, slot + 1, first, n)
    }

    /// Frees ring pages `first..first + n` marked `mark`.
    pub fn put_pages_marked(&self, _g: &Guard, mark: u8, first: usize, n: usize) {
        // SAFETY: as for take_pages.
        let t = unsafe { std::slice::from_raw_parts_mut(self.pages, self.n_pages) };
        if let Some(r) = t.get_mut(first..first.saturating_add(n)) {
            r.iter_mut().filter(|u| **u == mark).for_each(|u| *u = 0);
        }
    }

    /// The pid of the user in slot `s` (0: a free slot).
    pub fn pid_of(&self, _g: &Guard, s: u8) -> u32 {
        self.users().get(s as usize).map_or(0, |u| u.pid)
    }

    /// The region's id (see [`Header`]).
    pub fn id(&self) -> u64 {
        // SAFETY: the header is mapped; the id is written once, before the region is visible.
        unsafe { (*self.hdr).id }
    }

    /// Address of region offset `off` in this mapping (ring objects of pipes).
    pub fn at_offset(&self, off: u64) -> *mut u8 {
        // SAFETY: callers pass offsets of objects inside the pools, within the mapping.
        unsafe { self.base.add(off as usize) }
    }

    /// The ring page of the ring object at region offset `off`.
    pub fn ring_page_of(&self, off: u64) -> usize {
        (off.saturating_sub(self.ring_pool_offset) / PAGE) as usize
    }

    /// Bytes of one buffer.
    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// The pipe table's first byte (`crate::pipe::TABLE_BYTES` bytes, page-aligned).
    pub fn pipe_table(&self) -> *mut u8 {
        self.pipes
    }

    /// The user table; only under the mutex (callers hold a [`Guard`]), which makes the
    /// mutable borrow exclusive.
    #[allow(clippy::mut_from_ref)]
    fn users(&self) -> &mut [User; MAX_USERS] {
        // SAFETY: the header is mapped; only called under the mutex.
        unsafe { &mut (*self.hdr).users }
    }

    /// Records `who` in a free user slot; EBUSY when all are taken by live processes.
    pub fn join(&self, g: &Guard, who: Ident) -> Result<u8> {
        self.reclaim_dead(g, None);
        let Some(s) = self.users().iter().position(|u| u.pid == 0) else {
            return Err(Error::new(
                libc::EBUSY,
                format!("all {MAX_USERS} user slots of the shared netmap region are taken by live processes: stop one, or give this one a region of its own (NMXDP_REGION=private or shared:NAME)"),
            ));
        };
        self.users()[s] = User {
            pid: who.pid,
            _pad: 0,
            start: who.start,
            pidns: who.pidns,
        };
        Ok(s as u8)
    }

    /// The live users, by slot.
    pub fn user_list(&self, _g: &Guard) -> Vec<(u8, Ident)> {
        self.users()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.pid != 0)
            .map(|(s, u)| {
                let id = Ident {
                    pid: u.pid,
                    start: u.start,
                    pidns: u.pidns,
                };
                (s as u8, id)
            })
            .collect()
    }

    /// Takes back everything held by users that died (all but `keep`): buffers in any state
    /// (their sockets are closed, so the kernel holds none), `netmap_if` objects and ring pages.
    /// Their pipe ends are detached first (their buffers go to the live peer, or the pipe goes
    /// away), and slots whose buffer could not be handed over get a fresh one after.
    /// Returns how many buffers came back.
    pub fn reclaim_dead(&self, g: &Guard, keep: Option<u8>) -> usize {
        let dead: Vec<u8> = self
            .user_list(g)
            .into_iter()
            .filter(|&(s, id)| Some(s) != keep && id.is_dead())
            .map(|(s, _)| s)
            .collect();
        if dead.is_empty() {
            return 0;
        }
        let repairs = crate::pipe::reclaim_dead(self, g, &dead);
        let n = dead.iter().map(|&s| self.reclaim_slot(g, s)).sum();
        crate::pipe::repair(self, g, repairs);
        n
    }

    /// Takes back everything slot `s` holds and frees the slot.
    pub fn reclaim_slot(&self, g: &Guard, s: u8) -> usize {
        let n = self.take_back(g, s, |_| true);
        // SAFETY: if_num and n_pages bytes of the mapping, under the mutex.
        let (ifs, pages) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.ifs, self.if_num as usize),
                std::slice::from_raw_parts_mut(self.pages, self.n_pages),
            )
        };
        ifs.iter_mut()
            .chain(pages.iter_mut())
            .filter(|u| **u == s + 1)
            .for_each(|u| *u = 0);
        self.users()[s as usize].pid = 0;
        // SAFETY: under the mutex.
        unsafe {
            (*self.hdr).reclaimed_bufs += n as u64;
            (*self.hdr).reclaimed_users += 1;
        }
        n
    }

    /// Frees every buffer slot `s` holds in a state `which` accepts; how many.
    pub fn take_back(&self, g: &Guard, s: u8, which: impl Fn(Owner) -> bool) -> usize {
        let mut n = 0;
        for (i, e) in self.owners().iter().enumerate().skip(2) {
            let v = e.load(Relaxed);
            let (o, slot) = decode(v);
            if o != Owner::Free
                && slot == s
                && which(o)
                && e.compare_exchange(v, 0, Relaxed, Relaxed).is_ok()
            {
                self.push_free(g, i as u32);
                n += 1;
            }
        }
        n
    }

    /// The users with the buffers each holds, and the pool audit (buffers per owner state,
    /// everyone together).
    pub fn census(&self, g: &Guard) -> (Vec<RegionUser>, [usize; 4]) {
        let mut held = [[0usize; 4]; MAX_USERS];
        let mut audit = [0usize; 4];
        for e in self.owners().iter().skip(2) {
            let (o, slot) = decode(e.load(Relaxed));
            audit[o as usize] += 1;
            if o != Owner::Free {
                held[slot as usize][o as usize] += 1;
            }
        }
        let users = self
            .user_list(g)
            .into_iter()
            .map(|(s, id)| RegionUser {
                pid: id.pid,
                buffers: held[s as usize],
            })
            .collect();
        (users, audit)
    }

    /// Overwrites the free count, as a holder killed in the middle of an update leaves it.
    #[cfg(test)]
    pub fn scribble_free_count(&self, v: u32) {
        // SAFETY: the header is mapped.
        unsafe { (*self.hdr).free_count = v };
    }

    /// Buffers and users taken back from dead users over the region's life.
    pub fn reclaimed(&self, _g: &Guard) -> (u64, u64) {
        // SAFETY: under the mutex.
        unsafe { ((*self.hdr).reclaimed_bufs, (*self.hdr).reclaimed_users) }
    }
}
