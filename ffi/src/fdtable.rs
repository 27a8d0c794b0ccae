//! Which file descriptors are netmap fds (and which epoll fds watch netmap fds).
//!
//! Every interposed call asks [`class`] first. For an ordinary fd that costs one atomic load: two
//! bits per fd in a static bitmap for fds below 65536 (16 KiB), and for larger fds a count of such
//! entries, which is normally zero. The entries themselves (an `Arc` per fd) live in an ordered
//! map behind a read-write lock, only consulted when the bits say so.
//!
//! dup'ed fds share one [`NmFile`], as they share one open file description in the kernel: one
//! registration per file, released when its last fd is closed (by the table, see [`Gone`], not
//! by the last reference: a thread's lookup cache may hold one longer).
//!
//! A busy-wait loop asks for its file on every NIOCRXSYNC. [`with_netmap`] answers a thread's
//! repeated question from a per-thread cache, valid while the table's generation is unchanged:
//! no lock and no reference count is touched on that path (docs/architecture.md, "C ABI").
//!
//! # fork()
//!
//! A child process inherits the netmap fds, the shared region and the AF_XDP sockets, but not
//! the engine's bookkeeping (ring indices, buffer allocator), which stays a private copy in each
//! process. Two processes driving the same AF_XDP rings, or allocating from two copies of one
//! buffer pool, would corrupt each other. So once a process that has used nmxdp forks, the
//! child is marked *forked* and:
//! - inherited fds stay in the table and their region stays mapped: the child can read it, mmap
//!   it again (same address) and close the fds;
//! - NIOCTXSYNC/NIOCRXSYNC fail with `ENXIO` (a message on stderr says why), poll/select/epoll
//!   report `POLLERR` for them;
//! - NIOCCTRL REGISTER (on any fd) fails with `EBUSY`: the parent owns the region;
//! - closing them releases nothing the parent uses (the child's copies of the sockets and the
//!   XDP link are closed at exit; queues, XSKMAP entries and buffers stay the parent's).
//!
//! A child that wants to do I/O of its own execs (the table and the engine start afresh), or is
//! forked before the parent first touches nmxdp. Both `fork()` and every other path into the
//! kernel's fork that runs `pthread_atfork` handlers (`daemon()`, for instance) are covered.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, RwLock, RwLockReadGuard, RwLockWriteGuard};

use libc::c_int;
use nmxdp::Port;

use crate::pollemu::EpSet;

/// Class bit: a netmap fd.
pub const NETMAP: u8 = 1;
/// Class bit: an epoll fd with netmap fds among its members.
pub const EPOLL: u8 = 2;

/// fds below this are classified by the bitmap alone.
const LOW_FDS: usize = 65536;
const FDS_PER_WORD: usize = 32;
static BITS: [AtomicU64; LOW_FDS / FDS_PER_WORD] =
    [const { AtomicU64::new(0) }; LOW_FDS / FDS_PER_WORD];
/// Entries with fd >= LOW_FDS.
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// All entries.
static TABLE: RwLock<BTreeMap<c_int, Entry>> = RwLock::new(BTreeMap::new());
/// Bumped, under the write lock, by every change to the table: a cached lookup made at another
/// generation may be stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// What an fd in the table is.
#[derive(Clone)]
pub enum Entry {
    Netmap(Arc<NmFile>),
    Epoll(Arc<EpSet>),
}

impl Entry {
    fn class(&self) -> u8 {
        match self {
            Entry::Netmap(_) => NETMAP,
            Entry::Epoll(_) => EPOLL,
        }
    }
}

/// `NETMAP`, `EPOLL` or 0 for an ordinary fd. One atomic load for an ordinary fd.
#[inline]
pub fn class(fd: c_int) -> u8 {
    if fd < 0 {
        return 0;
    }
    let fd = fd as usize;
    if fd < LOW_FDS {
        let w = BITS[fd / FDS_PER_WORD].load(Ordering::Acquire);
        ((w >> ((fd % FDS_PER_WORD) * 2)) & 3) as u8
    } else if HIGH.load(Ordering::Acquire) == 0 {
        0
    } else {
        high_class(fd as c_int)
    }
}

#[cold]
fn high_class(fd: c_int) -> u8 {
    read().get(&fd).map_or(0, Entry::class)
}

/// True when `fd` is a netmap fd.
#[inline]
pub fn is_netmap(fd: c_int) -> bool {
    class(fd) & NETMAP != 0
}

fn read() -> RwLockReadGuard<'static, BTreeMap<c_int, Entry>> {
    TABLE.read().unwrap_or_else(|p| p.into_inner())
}

/// The entry of `fd`, if any.
pub fn get(fd: c_int) -> Option<Entry> {
    if class(fd) == 0 {
        return None;
    }
    read().get(&fd).cloned()
}

/// The netmap file behind `fd`, if it is a netmap fd.
pub fn netmap(fd: c_int) -> Option<Arc<NmFile>> {
    match get(fd) {
        Some(Entry::Netmap(f)) => Some(f),
        _ => None,
    }
}

/// A thread's last answer of [`with_netmap`].
struct Cached {
    fd: c_int,
    generation: u64,
    file: Arc<NmFile>,
}

thread_local! {
    static LAST: Cell<Option<Cached>> = const { Cell::new(None) };
}

/// Runs `f` on the netmap file behind `fd`, if it is a netmap fd. Like [`netmap`], but a thread
/// asking again for the same fd, with the table unchanged since, gets its cached answer: a
/// generation load and no atomic read-modify-write, where the table costs a lock and a
/// reference count. Nested calls (from inside `f`) find the cache empty and look up.
pub fn with_netmap<R>(fd: c_int, f: impl FnOnce(&Arc<NmFile>) -> R) -> Option<R> {
    if class(fd) & NETMAP == 0 {
        return None;
    }
    // Read before the lookup: a change after it then always invalidates what was cached.
    let generation = GENERATION.load(Ordering::Acquire);
    let hit = LAST
        .try_with(Cell::take)
        .ok()
        .flatten()
        .filter(|c| c.fd == fd && c.generation == generation);
    let c = match hit {
        Some(c) => c,
        None => Cached {
            fd,
            generation,
            file: netmap(fd)?,
        },
    };
    let r = f(&c.file);
    // During thread exit the cache is gone and the file reference is dropped here.
    let _ = LAST.try_with(|l| l.set(Some(c)));
    Some(r)
}

/// The epoll bookkeeping of `fd`, if it is an epoll fd with netmap members.
pub fn epoll(fd: c_int) -> Option<Arc<EpSet>> {
    match get(fd) {
        Some(Entry::Epoll(s)) => Some(s),
        _ => None,
    }
}

/// Every epoll set in the table (each once, even when its epoll fd was dup'ed).
pub fn epoll_sets() -> Vec<Arc<EpSet>> {
    let mut v: Vec<Arc<EpSet>> = Vec::new();
    for e in read().values() {
        if let Entry::Epoll(s) = e {
            if !v.iter().any(|x| Arc::ptr_eq(x, s)) {
                v.push(s.clone());
            }
        }
    }
    v
}

/// Other fds (than `fd`) that name the same epoll set.
pub fn epoll_aliases(set: &Arc<EpSet>, fd: c_int) -> Option<c_int> {
    read().iter().find_map(|(&k, e)| match e {
        Entry::Epoll(s) if k != fd && Arc::ptr_eq(s, set) => Some(k),
        _ => None,
    })
}

/// An entry taken out of the table (removed or replaced). Dropping the last one naming a
/// netmap file releases the file's registration. Drop it after the table's guard: the release
/// consults the table (epoll sets).
pub struct Gone(Entry);

impl Gone {
    fn new(e: Entry) -> Gone {
        if let Entry::Netmap(f) = &e {
            f.fds.fetch_sub(1, Ordering::AcqRel);
        }
        Gone(e)
    }

    pub fn entry(&self) -> &Entry {
        &self.0
    }
}

impl Drop for Gone {
    fn drop(&mut self) {
        if let Entry::Netmap(f) = &self.0 {
            if f.fds.load(Ordering::Acquire) == 0 {
                f.release();
            }
        }
    }
}

/// Exclusive access to the table, to make a real fd operation and its table update one step
/// (dup2 onto a netmap fd, for instance).
pub struct Table {
    map: RwLockWriteGuard<'static, BTreeMap<c_int, Entry>>,
}

/// Locks the table for writing.
pub fn lock() -> Table {
    Table {
        map: TABLE.write().unwrap_or_else(|p| p.into_inner()),
    }
}

impl Table {
    /// Adds or replaces the entry of `fd`; returns the replaced one.
    pub fn insert(&mut self, fd: c_int, e: Entry) -> Option<Gone> {
        debug_assert!(fd >= 0);
        let class = e.class();
        if let Entry::Netmap(f) = &e {
            f.fds.fetch_add(1, Ordering::AcqRel);
        }
        let old = self.map.insert(fd, e);
        if old.is_none() && fd as usize >= LOW_FDS {
            HIGH.fetch_add(1, Ordering::AcqRel);
        }
        set_bits(fd, class);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        old.map(Gone::new)
    }

    /// Removes the entry of `fd`.
    pub fn remove(&mut self, fd: c_int) -> Option<Gone> {
        let old = self.map.remove(&fd)?;
        set_bits(fd, 0);
        if fd as usize >= LOW_FDS {
            HIGH.fetch_sub(1, Ordering::AcqRel);
        }
        GENERATION.fetch_add(1, Ordering::AcqRel);
        Some(Gone::new(old))
    }

    /// Removes every entry with `first <= fd <= last`.
    pub fn remove_range(&mut self, first: c_int, last: c_int) -> Vec<Gone> {
        let fds: Vec<c_int> = self.map.range(first..=last).map(|(&k, _)| k).collect();
        fds.into_iter().filter_map(|fd| self.remove(fd)).collect()
    }

    /// The entry of `fd`.
    pub fn get(&self, fd: c_int) -> Option<&Entry> {
        self.map.get(&fd)
    }
}

fn set_bits(fd: c_int, class: u8) {
    let fd = fd as usize;
    if fd >= LOW_FDS {
        return;
    }
    let shift = (fd % FDS_PER_WORD) * 2;
    let w = &BITS[fd / FDS_PER_WORD];
    w.fetch_and(!(3u64 << shift), Ordering::AcqRel);
    w.fetch_or((class as u64) << shift, Ordering::AcqRel);
}

/// Adds one entry.
pub fn insert(fd: c_int, e: Entry) -> Option<Gone> {
    lock().insert(fd, e)
}

/// Removes one entry (the caller drops it).
pub fn remove(fd: c_int) -> Option<Gone> {
    if class(fd) == 0 {
        return None;
    }
    lock().remove(fd)
}

/// True when no netmap or epoll entry exists at all (`close_range` and `closefrom` check this
/// before scanning).
pub fn is_empty() -> bool {
    read().is_empty()
}

/// One open `/dev/netmap` file: shared by all fds dup'ed from the one `open` returned.
pub struct NmFile {
    state: Mutex<NmState>,
    /// `nr_memsize` once registered, 0 before: mmap checks it without taking the lock.
    memsize: AtomicU64,
    /// The app has mmap'ed the region through this file.
    mapped: AtomicBool,
    /// Table entries (fds) naming this file.
    fds: AtomicUsize,
    /// The registration was released (the last fd closed, or the file dropped).
    released: AtomicBool,
}

/// What a netmap file holds; the lock is taken once per ioctl or poll step.
#[derive(Default)]
pub struct NmState {
    /// The registered port (None until NIOCCTRL/NIOCREGIF REGISTER succeeds).
    pub port: Option<Port>,
    /// The port's AF_XDP socket fds, kept so that waiting needs no allocation.
    pub sock_fds: Vec<c_int>,
}

impl NmFile {
    pub fn new() -> Arc<NmFile> {
        Arc::new(NmFile {
            state: Mutex::new(NmState::default()),
            memsize: AtomicU64::new(0),
            mapped: AtomicBool::new(false),
            fds: AtomicUsize::new(0),
            released: AtomicBool::new(false),
        })
    }

    /// The state; a panic in another thread while holding it does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, NmState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The registered region size, 0 when not registered.
    pub fn memsize(&self) -> u64 {
        self.memsize.load(Ordering::Acquire)
    }

    /// Records a registration (call with the state lock held).
    pub fn set_registered(&self, st: &mut NmState, port: Port) {
        self.memsize
            .store(port.registration().nr_memsize, Ordering::Release);
        st.sock_fds = port.socket_fds();
        st.port = Some(port);
    }

    /// Forgets the registration; returns the port for the caller to drop.
    pub fn clear_registration(&self) -> Option<Port> {
        let mut st = self.lock();
        self.memsize.store(0, Ordering::Release);
        st.sock_fds.clear();
        st.port.take()
    }

    /// Records that the app mapped the region through this file.
    pub fn set_mapped(&self) {
        self.mapped.store(true, Ordering::Relaxed);
    }

    /// Identity used by epoll sets to refer to this file without keeping it alive.
    pub fn key(&self) -> usize {
        self as *const NmFile as usize
    }
}

impl NmFile {
    /// What closing the file's last fd does: the registration ends (once), whoever still holds
    /// a reference to the file.
    fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        // Epoll sets hold duplicates of the port's sockets: close them first, or the sockets
        // outlive the port (and keep their queues busy).
        crate::pollemu::file_gone(self.key());
        let port = self.clear_registration();
        if forked() {
            // The queues, XSKMAP entries and buffers are the parent's: release nothing.
            std::mem::forget(port);
        }
    }
}

impl Drop for NmFile {
    fn drop(&mut self) {
        self.release();
    }
}

/// Set when this process has called into the engine (region, queues): from then on, a forked
/// child must not.
static ENGINE_USED: AtomicBool = AtomicBool::new(false);
/// Set in the child of a fork of a process that had used the engine.
static FORKED: AtomicBool = AtomicBool::new(false);
static ATFORK: Once = Once::new();

/// Call before anything that may create or use the engine.
pub fn mark_engine_used() {
    ENGINE_USED.store(true, Ordering::Release);
}

/// True in a forked child of a process that had used the engine (see the module docs).
pub fn forked() -> bool {
    FORKED.load(Ordering::Acquire)
}

/// Marks this process as a forked child if the engine had been used (idempotent).
pub fn after_fork_child() {
    if ENGINE_USED.load(Ordering::Acquire) {
        FORKED.store(true, Ordering::Release);
    }
}

/// Registers the fork handlers, once, when the first netmap fd is opened.
pub fn ensure_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: the handlers are plain extern "C" functions valid for the process lifetime
        // (this library is never unloaded while netmap fds exist).
        unsafe {
            libc::pthread_atfork(
                Some(atfork_prepare),
                Some(atfork_parent),
                Some(atfork_child),
            )
        };
    });
}

/// The table's write guard, held across fork() so that the child never inherits it locked by a
/// thread that does not exist there.
struct HeldGuard(std::cell::UnsafeCell<Option<RwLockWriteGuard<'static, BTreeMap<c_int, Entry>>>>);
// SAFETY: only touched by the forking thread between prepare and parent/child, which
// pthread_atfork runs in sequence on that one thread.
unsafe impl Sync for HeldGuard {}
static HELD: HeldGuard = HeldGuard(std::cell::UnsafeCell::new(None));

extern "C" fn atfork_prepare() {
    let g = TABLE.write().unwrap_or_else(|p| p.into_inner());
    // SAFETY: see HeldGuard.
    unsafe { *HELD.0.get() = Some(g) };
}

extern "C" fn atfork_parent() {
    // SAFETY: see HeldGuard.
    unsafe { (*HELD.0.get()).take() };
}

extern "C" fn atfork_child() {
    after_fork_child();
    // SAFETY: see HeldGuard. The child's copy of the lock is held by this (its only) thread.
    unsafe { (*HELD.0.get()).take() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_entries() {
        let fd = 40_001;
        assert_eq!(class(fd), 0);
        let f = NmFile::new();
        assert!(insert(fd, Entry::Netmap(f.clone())).is_none());
        assert_eq!(class(fd), NETMAP);
        assert_eq!((class(fd - 1), class(fd + 1)), (0, 0));
        assert!(Arc::ptr_eq(&netmap(fd).unwrap(), &f));
        assert!(epoll(fd).is_none());
        assert!(remove(fd).is_some());
        assert_eq!(class(fd), 0);
        assert!(netmap(fd).is_none());
    }

    #[test]
    fn high_fds_use_the_map() {
        let fd = 1 << 20;
        assert_eq!(class(fd), 0);
        insert(fd, Entry::Netmap(NmFile::new()));
        assert_eq!(class(fd), NETMAP);
        assert_eq!(class(fd + 1), 0);
        let removed = lock().remove_range(fd, fd + 10);
        assert_eq!(removed.len(), 1);
        assert_eq!(class(fd), 0);
        assert_eq!(class(-1), 0);
    }

    #[test]
    fn a_cached_lookup_never_outlives_a_table_change() {
        let fd = 40_101;
        let a = NmFile::new();
        insert(fd, Entry::Netmap(a.clone()));
        let first = with_netmap(fd, Arc::as_ptr).unwrap();
        assert_eq!(first, Arc::as_ptr(&a));
        // The fd number reused for another file: the cache must not answer the old one.
        drop(remove(fd));
        assert!(with_netmap(fd, |_| ()).is_none());
        let b = NmFile::new();
        insert(fd, Entry::Netmap(b.clone()));
        assert_eq!(with_netmap(fd, Arc::as_ptr), Some(Arc::as_ptr(&b)));
        // Nested lookups (a call from inside `f`) see the same file.
        let nested = with_netmap(fd, |_| with_netmap(fd, Arc::as_ptr)).flatten();
        assert_eq!(nested, Some(Arc::as_ptr(&b)));
        drop(remove(fd));
    }

    #[test]
    fn the_last_fd_releases_the_file_while_a_cache_still_holds_it() {
        let (fd, dup) = (40_201, 40_202);
        let f = NmFile::new();
        insert(fd, Entry::Netmap(f.clone()));
        insert(dup, Entry::Netmap(f.clone()));
        // This thread's cache now holds a reference too.
        with_netmap(fd, |_| ()).unwrap();
        drop(remove(fd));
        assert!(
            !f.released.load(Ordering::Acquire),
            "a dup'ed fd still names the file"
        );
        drop(remove(dup));
        assert!(
            f.released.load(Ordering::Acquire),
            "the last fd's close released it"
        );
        assert!(Arc::strong_count(&f) > 1, "the cache still holds the file");
    }
}
