//! The region (netmap's global allocator, mem id 1), shared by every process that uses it
//! unless `NMXDP_REGION=private` (docs/architecture.md, "Shared region").
//!
//! Layout, in the order netmap apps expect: the `netmap_if` pool at offset 0, the ring pool, then
//! the buffer pool, which *is* the UMEM shifted by 256 bytes: buffer `i` starts at
//! `umem + i * buf_size + 256`, exactly where AF_XDP puts received data in chunk `i`, so neither
//! RX nor TX copies. One trailing page keeps the last buffer's full stride inside the mapping.
//! After `nr_memsize` comes the control area (module `ctl`): allocators, users and ownership
//! table.

mod alive;
mod ctl;
mod file;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, Ordering::Relaxed};

use std::os::fd::AsRawFd;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sys::XDP_PACKET_HEADROOM;

const PAGE: u64 = 4096;

pub(crate) use ctl::{app_entry, give_app, Ctl, Guard, PIPE_PAGES};
pub use file::valid_name as valid_region_name;

/// The memory id every nmxdp port reports, like netmap's global allocator.
pub const GLOBAL_MEM_ID: u16 = 1;

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Offsets and sizes of the three pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the `netmap_if` pool, which starts at offset 0 (`if_num * if_size`, rounded up
    /// to a page).
    pub if_pool_size: u64,
    /// Bytes of one `netmap_if` object (`nr_if_pool_objsize`).
    pub if_size: u32,
    /// `netmap_if` objects in the pool, one per open port (`nr_if_pool_objtotal`).
    pub if_num: u32,
    /// Region offset of the ring pool, right after the `netmap_if` pool
    /// (`nr_ring_pool_offset`).
    pub ring_pool_offset: u64,
    /// Bytes of the ring pool (`ring_num * ring_size`, rounded up to a page). Rings are carved
    /// from it in whole pages.
    pub ring_pool_size: u64,
    /// Ring objects of `ring_size` bytes the pool was sized for (`nr_ring_pool_objtotal`).
    pub ring_num: u32,
    /// Budgeted bytes per ring object (`nr_ring_pool_objsize`). An actual ring takes
    /// `256 + 16 * slots` bytes rounded up to pages, which may be more or less.
    pub ring_size: u32,
    /// Region offset of the UMEM (chunk 0), page-aligned, right after the ring pool.
    pub umem_offset: u64,
    /// Region offset of buffer 0: `umem_offset` plus the kernel's 256-byte RX headroom
    /// (`nr_buf_pool_offset`).
    pub buf_pool_offset: u64,
    /// Buffer stride and UMEM chunk size in bytes, 2048 or 4096 (`nr_buf_size`). A frame may
    /// use only [`Layout::max_frame`] bytes of it.
    pub buf_size: u32,
    /// Buffers in the pool, reserved buffers 0 and 1 included (`nr_buf_pool_objtotal`).
    pub buf_num: u32,
    /// Total bytes of the region, trailing page included (`nr_memsize`); always below 4 GiB.
    pub memsize: u64,
}

impl Layout {
    /// Computes the layout for `cfg`. `ENOMEM` if the region would reach 4 GiB, which legacy
    /// netmap applications cannot describe in their 32-bit size fields.
    pub fn new(cfg: &Config) -> Result<Layout> {
        let if_pool_size = round_up(cfg.if_num as u64 * cfg.if_size as u64, PAGE);
        let ring_pool_size = round_up(cfg.ring_num as u64 * cfg.ring_size as u64, PAGE);
        let umem_offset = if_pool_size + ring_pool_size;
        let umem_len = cfg.buf_num as u64 * cfg.buf_size as u64;
        let memsize = umem_offset + umem_len + PAGE;
        if memsize >= 1u64 << 32 {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "region of {memsize} bytes would not fit the 32-bit sizes legacy netmap apps use: lower NMXDP_BUF_NUM ({})",
                    cfg.buf_num
                ),
            ));
        }
        Ok(Layout {
            if_pool_size,
            if_size: cfg.if_size,
            if_num: cfg.if_num,
            ring_pool_offset: if_pool_size,
            ring_pool_size,
            ring_num: cfg.ring_num,
            ring_size: cfg.ring_size,
            umem_offset,
            buf_pool_offset: umem_offset + XDP_PACKET_HEADROOM,
            buf_size: cfg.buf_size,
            buf_num: cfg.buf_num,
            memsize,
        })
    }

    /// Longest frame one buffer carries: the chunk minus the kernel's RX headroom.
    pub fn max_frame(&self) -> u32 {
        self.buf_size - XDP_PACKET_HEADROOM as u32
    }

    /// UMEM address (offset from the UMEM start) of buffer `idx`'s first byte.
    #[inline]
    pub fn buf_addr(&self, idx: u32) -> u64 {
        idx as u64 * self.buf_size as u64 + XDP_PACKET_HEADROOM
    }

    /// Bytes of the UMEM registered with the sockets: `buf_num` chunks of `buf_size`.
    pub fn umem_len(&self) -> u64 {
        self.buf_num as u64 * self.buf_size as u64
    }

    /// What a port on `queues` queues with rings of `slots` slots costs in this region, and how
    /// many such queues the pool holds (what `nmxdp info` prints to help size the region).
    pub fn footprint(&self, queues: u32, slots: u32) -> Footprint {
        let per_queue = crate::queue::queue_buffers(slots, slots);
        let usable = self.buf_num.saturating_sub(2);
        Footprint {
            region_bytes: self.memsize,
            umem_bytes: self.umem_len(),
            buffers_per_queue: per_queue,
            port_buffers: per_queue.saturating_mul(queues),
            queues_that_fit: usable / per_queue.max(1),
            queues_in_ring_pool: (self.ring_pool_size
                / crate::queue::ring_bytes(slots).next_multiple_of(PAGE))
                as u32
                / 2,
        }
    }
}

/// What a configuration costs (see [`Layout::footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// The whole region every process maps (the UMEM is pinned by the kernel at registration,
    /// so this much memory is resident for as long as a port is open).
    pub region_bytes: u64,
    /// Of which the buffer pool (UMEM).
    pub umem_bytes: u64,
    /// Buffers one queue takes (TX slots plus twice the RX slots).
    pub buffers_per_queue: u32,
    /// Buffers a port on the given queues takes.
    pub port_buffers: u32,
    /// Queues of this ring size the buffer pool holds in all (every process together).
    pub queues_that_fit: u32,
    /// Queues of this ring size the ring pool holds (a TX and an RX ring object each).
    pub queues_in_ring_pool: u32,
}

/// Who owns a buffer. Checked on every slot the app hands over, so a hostile or buggy app can
/// never make nmxdp send, or give to the kernel, a buffer the app does not own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Owner {
    /// In the region's free list.
    Free = 0,
    /// The app's: in a slot it owns, or in an extra-buffer list.
    App = 1,
    /// The kernel's, for receiving: in a fill ring or an AF_XDP RX ring.
    KernelRx = 2,
    /// The kernel's, being transmitted.
    KernelTx = 3,
}

/// A copy of what finding an application's buffer takes (the ownership table, the entry that
/// means "this process's application", and the pool's address and stride), held in locals by a
/// loop so that the compiler need not reload them from the [`Region`] after every store to
/// shared memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppBufs<'a> {
    owner: &'a [AtomicU8],
    app: u8,
    pool: *mut u8,
    stride: usize,
}

impl AppBufs<'_> {
    /// Address of buffer `idx` if the application owns it: the ownership check covers the
    /// index check (the table has an entry per buffer). Reading or writing through it is sound
    /// only while the caller keeps the buffer the application's (as for [`Region::buf_ptr`]).
    #[inline]
    pub(crate) fn ptr(self, idx: u32) -> Option<NonNull<u8>> {
        let o = self.owner.get(idx as usize)?;
        if o.load(Relaxed) != self.app {
            return None;
        }
        // SAFETY: the table has an entry for idx, so idx < buf_num: the buffer and its full
        // stride lie inside the pool, whose address is not null.
        Some(unsafe { NonNull::new_unchecked(self.pool.add(idx as usize * self.stride)) })
    }
}

/// The ownership table, one entry per buffer, seen by one user of the region (see
/// [`Region::owners`]): an entry holds the owner state and, unless Free, the user's slot, so
/// one process can never move another's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owners<'a> {
    table: &'a [AtomicU8],
    /// The user's slot, already in place in an entry (`slot << 2`).
    tag: u8,
}

impl Owners<'_> {
    /// Moves buffer `idx` from `from` to `to`; false (and no change) if it is not `from`'s.
    /// Not for moves out of `App`: those go through [`AppMoves`].
    #[inline]
    pub(crate) fn transfer(self, idx: u32, from: Owner, to: Owner) -> bool {
        debug_assert!(from != Owner::App, "a move out of App without AppMoves");
        // The reserved buffers 0 and 1 are never allocated, so their entries stay Free for
        // ever: only a move out of Free has to refuse them by index (the test folds away
        // where `from` is a constant, as on the data path).
        if from == Owner::Free && idx < 2 {
            return false;
        }
        match self.table.get(idx as usize) {
            Some(o) => o
                .compare_exchange(
                    ctl::tagged(self.tag, from),
                    ctl::tagged(self.tag, to),
                    Relaxed,
                    Relaxed,
                )
                .is_ok(),
            None => false,
        }
    }

    /// Hands buffer `idx`, which the kernel just gave back, to the application: a plain store
    /// where [`Owners::transfer`] compares and swaps. Only for an entry the calling ring moved
    /// to `KernelTx` or `KernelRx` itself (a TX ring's posted buffer named by its completion,
    /// an RX ring's fill buffer named by its RX descriptor): nothing else moves an entry out of
    /// a kernel state, and every move out of `App` checks first (under [`AppMoves`]), so no
    /// other ring can hold or take the buffer meanwhile. Indices outside the pool are ignored.
    #[inline]
    pub(crate) fn kernel_to_app(self, idx: u32) {
        if let Some(o) = self.table.get(idx as usize) {
            o.store(ctl::tagged(self.tag, Owner::App), Relaxed);
        }
    }
}

/// This process's licence to move its buffers out of `App`, held for a whole sync: every such
/// move in the process happens under it, and other processes move an entry that is this
/// process's application's only when a pipe end they open takes the closed end's buffers (a
/// compare-and-swap, bounded in docs/architecture.md), so between a move's check and its store
/// nothing else changes the entry. The moves are then a plain load and
/// a plain store, where a compare-and-swap per buffer cost a locked instruction each
/// (docs/architecture.md, "Buffer ownership").
pub(crate) struct AppMoves<'a> {
    owners: Owners<'a>,
    _held: Held<'a>,
}

/// The lock behind [`AppMoves`]: held for one sync's walk over its slots, so rarely contended
/// (two threads syncing at the same instant). Released with a plain store, where a mutex's
/// unlock is a second locked instruction: a sync of one frame (a ping-pong) takes it once.
#[derive(Default)]
struct MoveLock(AtomicBool);

/// [`MoveLock`] held; released on drop.
struct Held<'a>(&'a AtomicBool);

impl MoveLock {
    fn lock(&self) -> Held<'_> {
        let mut spins = 0u32;
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Relaxed)
            .is_err()
        {
            while self.0.load(Relaxed) {
                // The holder may have lost its CPU: after a short spin, let it run.
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        Held(&self.0)
    }
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl AppMoves<'_> {
    /// The moves themselves, as a value a loop keeps in registers (a reference to the licence
    /// would be reloaded after every store); it cannot outlive the licence it borrows.
    #[inline]
    pub(crate) fn mover(&self) -> Mover<'_> {
        Mover {
            owners: self.owners,
        }
    }

    /// [`Mover::take`].
    #[inline]
    pub(crate) fn take(&self, idx: u32, to: Owner) -> bool {
        self.mover().take(idx, to)
    }

    /// [`Mover::give`].
    #[inline]
    pub(crate) fn give(&self, idx: u32, to: u8) -> bool {
        self.mover().give(idx, to)
    }
}

/// The moves out of `App` that an [`AppMoves`] licence allows, while it is held.
#[derive(Clone, Copy)]
pub(crate) struct Mover<'a> {
    owners: Owners<'a>,
}

impl<'a> Mover<'a> {
    /// Moves buffer `idx` from this process's application to `to`; false (and no change) if it
    /// is not the application's. `to` is never `App` (see [`Mover::give`]).
    #[inline]
    pub(crate) fn take(self, idx: u32, to: Owner) -> bool {
        self.swap_app(idx, ctl::tagged(self.owners.tag, to))
    }

    /// Hands buffer `idx` from this process's application to that of user slot `to` (a pipe's
    /// peer); false (and no change) if it is not this process's application's.
    #[inline]
    pub(crate) fn give(self, idx: u32, to: u8) -> bool {
        self.swap_app(idx, ctl::app_entry(to))
    }

    #[inline]
    fn swap_app(self, idx: u32, new: u8) -> bool {
        match self.owners.table.get(idx as usize) {
            Some(o) if o.load(Relaxed) == ctl::tagged(self.owners.tag, Owner::App) => {
                o.store(new, Relaxed);
                true
            }
            _ => false,
        }
    }

    /// The table, for the moves that need no licence (out of a kernel state).
    #[inline]
    pub(crate) fn owners(self) -> Owners<'a> {
        self.owners
    }
}

/// An `mmap`ed range, unmapped on drop.
pub(crate) struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` from `offset` (anonymous memory for fd -1), shared.
    fn new(fd: i32, len: usize, offset: i64) -> Result<Mapping> {
        let flags =
            libc::MAP_SHARED | libc::MAP_NORESERVE | if fd < 0 { libc::MAP_ANONYMOUS } else { 0 };
        // SAFETY: a fresh mapping of an fd the caller holds (or anonymous memory).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os(format!(
                "mapping the {len} byte netmap region (lower NMXDP_BUF_NUM)"
            )));
        }
        Ok(Mapping {
            base: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are our mapping.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// A user of a region and what it holds (see [`Region::users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionUser {
    /// Process id (in the pid namespace of the process that joined).
    pub pid: u32,
    /// Buffers it holds: [free (always 0), app, kernel RX, kernel TX].
    pub buffers: [usize; 4],
}

/// The mapped region and its allocators.
pub struct Region {
    base: *mut u8,
    /// Where the pools lie in the mapping; fixed for the region's life.
    pub layout: Layout,
    ctl: ctl::Ctl,
    /// This process's user slot.
    slot: u8,
    /// Held by every move of this process's buffers out of `App` ([`AppMoves`]).
    app_moves: MoveLock,
    /// The file of a shared region; None for a private one.
    file: Option<file::RegionFile>,
    map: Mapping,
}

// SAFETY: the mapping lives as long as the Region; the allocators are behind the region's
// process-shared mutex and the shared memory itself is accessed through raw pointers by owners
// that serialise their own rings.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

fn ftruncate(f: &std::fs::File, len: usize) -> Result<()> {
    f.set_len(len as u64)
        .map_err(|e| Error::from_io("sizing the shared netmap region", &e))
}

impl Region {
    /// Maps a fresh private region for `cfg` (anonymous and shared, so a forked child sees the
    /// same bytes) with every buffer free and this process its only user. `ENOMEM` if it would
    /// reach 4 GiB; `mmap`'s errno if the mapping fails.
    pub(crate) fn new(cfg: &Config) -> Result<Region> {
        let layout = Layout::new(cfg)?;
        let cl = ctl::CtlLayout::new(&layout);
        let map = Mapping::new(-1, cl.map_len, 0)?;
        // SAFETY: the mapping is cl.map_len bytes and lives in the Region with the Ctl.
        let ctl = unsafe { ctl::Ctl::at(map.base, &layout, &cl) };
        ctl.init(ctl::Sizing::of(&layout))?;
        let slot = ctl.join(&ctl.lock(), alive::Ident::me())?;
        Ok(Region {
            base: map.base,
            layout,
            ctl,
            slot,
            app_moves: MoveLock::default(),
            file: None,
            map,
        })
    }

    /// The region `cfg` asks for: the shared one named by `NMXDP_REGION` (the global one by
    /// default for root), or a private one.
    pub(crate) fn open(cfg: &Config) -> Result<Region> {
        match cfg.region_name() {
            Some(name) => Region::open_shared(cfg, &name),
            None => Region::new(cfg),
        }
    }

    /// Maps the shared region `name`, creating it for `cfg` if there is none (or only one whose
    /// users all died), and joins it as a user. `EEXIST` naming the knob if it exists with other
    /// sizes.
    pub(crate) fn open_shared(cfg: &Config, name: &str) -> Result<Region> {
        let layout = Layout::new(cfg)?;
        let cl = ctl::CtlLayout::new(&layout);
        let want = ctl::Sizing::of(&layout);
        let path = file::path_of(name);
        let opened = file::open_or_create(&path, |f| {
            ftruncate(f, cl.map_len)?;
            let map = Mapping::new(f.as_raw_fd(), cl.map_len, 0)?;
            // SAFETY: the mapping is cl.map_len bytes; the Ctl is dropped before it.
            let ctl = unsafe { ctl::Ctl::at(map.base, &layout, &cl) };
            ctl.init(want)?;
            Ok(map)
        })?;
        let (rf, map) = match opened {
            file::Opened::Created(rf, map) => (rf, map),
            file::Opened::Existing(rf) => {
                let have = Region::peek(&rf)?;
                if let Some((knob, has, asks)) = have.difference(&want) {
                    return Err(Error::new(
                        libc::EEXIST,
                        format!(
                            "the shared netmap region {} exists with {knob}={has}, this process asks for {knob}={asks}: use the same value, wait until its users exit, or give this process a region of its own (NMXDP_REGION=private or NMXDP_REGION=shared:NAME)",
                            path.display()
                        ),
                    ));
                }
                let map = Mapping::new(rf.file.as_raw_fd(), cl.map_len, 0)?;
                (rf, map)
            }
        };
        // SAFETY: the mapping is cl.map_len bytes and lives in the Region with the Ctl.
        let ctl = unsafe { ctl::Ctl::at(map.base, &layout, &cl) };
        let slot = ctl.join(&ctl.lock(), alive::Ident::me())?;
        file::leave_at_exit(&rf);
        Ok(Region {
            base: map.base,
            layout,
            ctl,
            slot,
            app_moves: MoveLock::default(),
            file: Some(rf),
            map,
        })
    }

    /// The sizes of the existing region in `rf`, from the header in its last page.
    fn peek(rf: &file::RegionFile) -> Result<ctl::Sizing> {
        let bad = || {
            Error::new(
                libc::EINVAL,
                format!(
                    "{} is not a netmap region of this nmxdp version: stop the processes using it, or use another region (NMXDP_REGION=shared:NAME)",
                    rf.path.display()
                ),
            )
        };
        let size = rf
            .file
            .metadata()
            .map_err(|e| Error::from_io(format!("stat {}", rf.path.display()), &e))?
            .len();
        if size < PAGE || !size.is_multiple_of(PAGE) {
            return Err(bad());
        }
        let page = Mapping::new(rf.file.as_raw_fd(), PAGE as usize, (size - PAGE) as i64)?;
        // SAFETY: a mapped page; the header is read, not trusted beyond its magic and sizes.
        let have = unsafe { ctl::Ctl::peek(page.base.cast()) }.ok_or_else(bad)?;
        let l = Layout::new(&Config {
            buf_size: have.buf_size,
            buf_num: have.buf_num,
            if_num: have.if_num,
            if_size: have.if_size,
            ring_num: have.ring_num,
            ring_size: have.ring_size,
            ..Config::default()
        })
        .map_err(|_| bad())?;
        if ctl::CtlLayout::new(&l).map_len as u64 != size {
            return Err(bad());
        }
        Ok(have)
    }

    /// The control area (pipes keep their table there).
    pub(crate) fn ctl(&self) -> &ctl::Ctl {
        &self.ctl
    }

    /// This process's user slot.
    pub(crate) fn user_slot(&self) -> u8 {
        self.slot
    }

    /// Another user slot for tests: this process again (alive), or a process that has exited.
    #[cfg(test)]
    pub(crate) fn join_test_user(&self, dead: bool) -> u8 {
        let mut who = alive::Ident::me();
        if dead {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            who.pid = c.id();
            c.wait().unwrap();
        }
        self.ctl.join(&self.ctl.lock(), who).unwrap()
    }

    /// The file of a shared region; None for a private one.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Address of the region's first byte (what `mmap` of a netmap fd returns).
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Address of the UMEM (chunk 0).
    pub fn umem(&self) -> *mut u8 {
        // SAFETY: umem_offset is inside the mapping.
        unsafe { self.base.add(self.layout.umem_offset as usize) }
    }

    /// The UMEM spec sockets register: the buffer pool of this region, which lives for the
    /// whole process (the engine's region is never unmapped).
    pub(crate) fn umem_spec(&'static self) -> crate::xsk::UmemSpec {
        // SAFETY: the UMEM lies inside this 'static mapping; its chunks are only read or
        // written by whoever owns them in the ownership table (docs/architecture.md,
        // "Buffer ownership").
        unsafe {
            crate::xsk::UmemSpec::new(self.umem(), self.layout.umem_len(), self.layout.buf_size)
        }
    }

    /// Address of buffer `idx`'s first byte; None outside the pool. Reading or writing through
    /// it is only sound for a buffer the caller owns (docs/architecture.md, "Buffer ownership").
    #[inline]
    pub fn buf_ptr(&self, idx: u32) -> Option<*mut u8> {
        if idx >= self.layout.buf_num {
            return None;
        }
        // SAFETY: idx < buf_num keeps the buffer and its full stride inside the mapping
        // (the trailing page covers the last one).
        Some(unsafe {
            self.base.add(
                self.layout.buf_pool_offset as usize + idx as usize * self.layout.buf_size as usize,
            )
        })
    }

    /// The ownership table and the buffer pool, to find the application's buffers in a loop
    /// (see [`AppBufs`]).
    #[inline]
    pub(crate) fn app_bufs(&self) -> AppBufs<'_> {
        AppBufs {
            owner: self.table(),
            app: ctl::entry(self.slot, Owner::App),
            // SAFETY: the buffer pool lies inside the mapping.
            pool: unsafe { self.base.add(self.layout.buf_pool_offset as usize) },
            stride: self.layout.buf_size as usize,
        }
    }

    #[inline]
    fn table(&self) -> &[AtomicU8] {
        // SAFETY: buf_num entries in the mapping, which lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ctl.owner_ptr(), self.layout.buf_num as usize) }
    }

    /// `len` bytes of buffer `idx` (None if `idx` is outside the pool or `len` exceeds a buffer).
    ///
    /// # Safety
    /// Nobody may write the buffer while the slice lives: the caller owns the buffer (it is
    /// [`Owner::App`] and reachable only through the borrow that bounds `'a`).
    #[inline]
    pub(crate) unsafe fn bytes(&self, idx: u32, len: usize) -> Option<&[u8]> {
        if len > self.layout.max_frame() as usize {
            return None;
        }
        let p = self.buf_ptr(idx)?;
        // SAFETY: the range lies in the mapping (len <= max_frame < stride); the caller
        // guarantees that nothing writes it while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Buffer `idx` whole ([`Layout::max_frame`] bytes), to write a frame into.
    ///
    /// # Safety
    /// Nobody else may read or write the buffer while the slice lives (as for
    /// [`Region::bytes`], and exclusively).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, idx: u32) -> Option<&mut [u8]> {
        let p = self.buf_ptr(idx)?;
        // SAFETY: in the mapping as above; exclusivity is the caller's contract.
        Some(unsafe { std::slice::from_raw_parts_mut(p, self.layout.max_frame() as usize) })
    }

    /// Reads the first 4 bytes of buffer `idx` (the link of an extra-buffer list).
    pub(crate) fn buf_word(&self, idx: u32) -> Option<u32> {
        let p = self.buf_ptr(idx)?;
        // SAFETY: in the mapping; buffers are 256-byte aligned so the u32 is aligned; volatile
        // because the app may rewrite the list at any time.
        Some(unsafe { p.cast::<u32>().read_volatile() })
    }

    /// Writes the first 4 bytes of buffer `idx` (see [`Region::buf_word`]).
    pub(crate) fn set_buf_word(&self, idx: u32, v: u32) {
        if let Some(p) = self.buf_ptr(idx) {
            // SAFETY: as for buf_word.
            unsafe { p.cast::<u32>().write_volatile(v) }
        }
    }

    /// Moves a received frame that an XDP head adjustment placed at UMEM address `addr` to the
    /// start of its buffer, where netmap apps expect it. False if the frame does not lie within
    /// one chunk (a descriptor no kernel produces; the frame is then left alone).
    pub(crate) fn pull_to_buf_start(&self, addr: u64, len: u32) -> bool {
        let bs = self.layout.buf_size as u64;
        let chunk = addr & !(bs - 1);
        let start = chunk + crate::sys::XDP_PACKET_HEADROOM;
        if chunk >= self.layout.umem_len() || addr < start || addr + len as u64 > chunk + bs {
            return false;
        }
        let base = self.umem();
        // SAFETY: both ranges lie within chunk `chunk` of the UMEM (checked above), which the
        // kernel just handed over; `copy` allows overlap.
        unsafe {
            std::ptr::copy(
                base.add(addr as usize),
                base.add(start as usize),
                len as usize,
            )
        };
        true
    }

    /// Current owner of buffer `idx` as this process sees it: None outside the pool, for the
    /// reserved 0/1, and for a buffer another process of a shared region holds.
    #[inline]
    pub fn owner(&self, idx: u32) -> Option<Owner> {
        if idx < 2 {
            return None;
        }
        let (o, slot) = ctl::decode(self.table().get(idx as usize)?.load(Relaxed));
        (o == Owner::Free || slot == self.slot).then_some(o)
    }

    /// Is buffer `idx` this process's application's? (What [`Region::owner`] says, in one load
    /// and one compare: the reserved 0 and 1 are never the application's.)
    #[inline]
    pub fn is_app(&self, idx: u32) -> bool {
        self.table()
            .get(idx as usize)
            .is_some_and(|o| o.load(Relaxed) == ctl::entry(self.slot, Owner::App))
    }

    /// Moves buffer `idx` from `from` to `to`; false (and no change) if it is not `from`'s.
    /// Not for moves out of `App`: those go through [`Region::app_moves`].
    #[inline]
    pub(crate) fn transfer(&self, idx: u32, from: Owner, to: Owner) -> bool {
        self.owners().transfer(idx, from, to)
    }

    /// The licence to move this process's buffers out of `App` ([`AppMoves`]). Taken after a
    /// ring's lock and before the allocator's, never the other way round.
    #[inline]
    pub(crate) fn app_moves(&self) -> AppMoves<'_> {
        AppMoves {
            owners: self.owners(),
            _held: self.app_moves.lock(),
        }
    }

    /// The ownership table as this process sees it, for a loop to hold in locals: an atomic
    /// compare-and-swap counts as a store to any memory, so the table's address and length
    /// would otherwise be reloaded from the region after every one.
    #[inline]
    pub(crate) fn owners(&self) -> Owners<'_> {
        Owners {
            table: self.table(),
            tag: self.slot << 2,
        }
    }

    /// Buffers per owner state, every user of the region together, the pool audit: they always
    /// add up to the pool (minus 0 and 1).
    pub fn audit(&self) -> [usize; 4] {
        let mut n = [0usize; 4];
        for o in self.table().iter().skip(2) {
            n[(o.load(Relaxed) & 3) as usize] += 1;
        }
        n
    }

    /// The region's users (after taking back what dead ones held) and the buffers each holds,
    /// by slot order. Every buffer not free is held by one of them.
    pub fn users(&self) -> Vec<RegionUser> {
        let g = self.ctl.lock();
        self.ctl.reclaim_dead(&g, Some(self.slot));
        self.ctl.census(&g).0
    }

    /// Takes back what users that died (SIGKILL included) held: buffers in any state, their
    /// `netmap_if` objects and ring pages. Returns how many buffers came back.
    pub fn reclaim_dead(&self) -> usize {
        self.ctl.reclaim_dead(&self.ctl.lock(), Some(self.slot))
    }

    /// Buffers and users taken back from dead users over the region's life.
    pub fn reclaimed(&self) -> (u64, u64) {
        self.ctl.reclaimed(&self.ctl.lock())
    }

    /// Takes `n` buffers, all or none.
    pub(crate) fn alloc_bufs(&self, n: usize, what: &str) -> Result<Vec<u32>> {
        let g = self.ctl.lock();
        let free = self.ctl.free_count(&g);
        if free < n {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "{what} needs {n} buffers but only {free} of {} are free: raise NMXDP_BUF_NUM or use fewer slots (@conf:slots=N)",
                    self.layout.buf_num
                ),
            ));
        }
        Ok(self.ctl.take_bufs(&g, self.slot, n))
    }

    /// Takes up to `n` buffers (extra buffers never fail a registration).
    pub(crate) fn alloc_bufs_upto(&self, n: usize) -> Vec<u32> {
        self.ctl.take_bufs(&self.ctl.lock(), self.slot, n)
    }

    /// Gives back buffers that `from` owns; anything else (reserved, out of range, already
    /// free, someone else's) is ignored, so a corrupted list can never free a buffer twice.
    pub(crate) fn free_bufs_from(&self, bufs: impl IntoIterator<Item = u32>, from: Owner) {
        let moves = (from == Owner::App).then(|| self.app_moves());
        let g = self.ctl.lock();
        for b in bufs {
            let freed = match &moves {
                Some(m) => m.take(b, Owner::Free),
                None => self.transfer(b, from, Owner::Free),
            };
            if freed {
                self.ctl.push_free(&g, b);
            }
        }
    }

    /// Gives back the app's buffers (see [`Region::free_bufs_from`]).
    pub(crate) fn free_bufs(&self, bufs: impl IntoIterator<Item = u32>) {
        self.free_bufs_from(bufs, Owner::App)
    }

    /// With no port open in this process, every buffer it still holds was lost by an app (it
    /// overwrote the only reference): take them all back. Returns how many were recovered.
    pub(crate) fn recover_all(&self) -> usize {
        let _moves = self.app_moves();
        self.ctl.take_back(&self.ctl.lock(), self.slot, |_| true)
    }

    /// Buffers currently in the free list.
    pub fn free_buf_count(&self) -> usize {
        self.ctl.free_count(&self.ctl.lock())
    }

    /// Allocates one `netmap_if`; returns its offset in the region.
    pub(crate) fn alloc_if(&self) -> Result<u64> {
        let Some(i) = self.ctl.take_if(&self.ctl.lock(), self.slot) else {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "all {} netmap_if objects are in use (one per open port): raise NMXDP_IF_NUM",
                    self.layout.if_num
                ),
            ));
        };
        let off = i as u64 * self.layout.if_size as u64;
        // SAFETY: the object lies in the if pool; zero it for the new owner.
        unsafe {
            std::ptr::write_bytes(self.base.add(off as usize), 0, self.layout.if_size as usize)
        };
        Ok(off)
    }

    /// Returns the `netmap_if` at region offset `off` (from [`Region::alloc_if`]) to the pool.
    pub(crate) fn free_if(&self, off: u64) {
        let i = (off / self.layout.if_size as u64) as usize;
        self.ctl.put_if(&self.ctl.lock(), self.slot, i);
    }

    /// Allocates a ring object of `bytes` bytes (page-aligned); returns its region offset.
    pub(crate) fn alloc_ring(&self, bytes: u64) -> Result<u64> {
        let pages = (round_up(bytes, PAGE) / PAGE) as usize;
        let Some(first) = self.ctl.take_pages(&self.ctl.lock(), self.slot, pages) else {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "the ring pool ({} bytes) has no room for a ring of {bytes} bytes: raise NMXDP_RING_NUM or use fewer slots",
                    self.layout.ring_pool_size
                ),
            ));
        };
        let off = self.layout.ring_pool_offset + first as u64 * PAGE;
        // SAFETY: the pages lie in the ring pool; zero them for the new ring.
        unsafe { std::ptr::write_bytes(self.base.add(off as usize), 0, pages * PAGE as usize) };
        Ok(off)
    }

    /// Returns the pages of a ring object of `bytes` bytes at region offset `off` (from
    /// [`Region::alloc_ring`]) to the ring pool.
    pub(crate) fn free_ring(&self, off: u64, bytes: u64) {
        let Some(rel) = off.checked_sub(self.layout.ring_pool_offset) else {
            return;
        };
        let pages = (round_up(bytes, PAGE) / PAGE) as usize;
        self.ctl
            .put_pages(&self.ctl.lock(), self.slot, (rel / PAGE) as usize, pages);
    }

    /// The ring object of `slots` slots at region offset `off`; None unless it lies wholly in
    /// the ring pool.
    pub(crate) fn ring_at(&self, off: u64, slots: u32) -> Option<crate::shm::SharedRing> {
        let l = &self.layout;
        let end = off.checked_add(crate::queue::ring_bytes(slots))?;
        if off < l.ring_pool_offset || end > l.ring_pool_offset + l.ring_pool_size {
            return None;
        }
        // SAFETY: the object lies in the ring pool of this mapping (checked above), which stays
        // mapped while the region lives and whose handles never outlive it (the engine's region
        // is 'static).
        Some(unsafe { crate::shm::SharedRing::new(self.base.add(off as usize).cast(), slots) })
    }

    /// The `netmap_if` at region offset `off`, with room for `ring_ofs` entries of ring
    /// offsets; None unless it lies wholly in the interface pool.
    pub(crate) fn nifp_at(&self, off: u64, ring_ofs: usize) -> Option<crate::shm::SharedIf> {
        let bytes = std::mem::size_of::<crate::abi::netmap_if>() + ring_ofs * 8;
        if !off.is_multiple_of(self.layout.if_size as u64) || bytes > self.layout.if_size as usize {
            return None;
        }
        if off + self.layout.if_size as u64 > self.layout.if_pool_size {
            return None;
        }
        // SAFETY: inside the interface pool of this mapping (checked above), which outlives
        // every handle (the engine's region is 'static).
        Some(unsafe { crate::shm::SharedIf::new(self.base.add(off as usize).cast(), ring_ofs) })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // A region is dropped only once nothing uses it (the engine's never is): give back what
        // this process holds and, for a shared region, leave it (the last user removes the file).
        let g = self.ctl.lock();
        self.ctl.reclaim_slot(&g, self.slot);
        drop(g);
        if let Some(rf) = &self.file {
            file::forget_at_exit(rf);
            file::leave(&rf.path, rf.file.as_raw_fd());
        }
        let _ = &self.map; // unmapped after this body, with the other fields
    }
}

/// A shared region as `nmxdp status` reports it.
#[derive(Debug, Clone)]
pub struct SharedStatus {
    /// The region's file.
    pub path: std::path::PathBuf,
    /// Bytes of the pools (`nr_memsize`).
    pub memsize: u64,
    /// Buffers in the pool, reserved 0 and 1 included.
    pub buf_num: u32,
    /// Live users and what each holds.
    pub users: Vec<RegionUser>,
    /// The pool audit: [free, app, kernel RX, kernel TX], all users together.
    pub audit: [usize; 4],
    /// Buffers and users taken back from dead users over the region's life.
    pub reclaimed: (u64, u64),
}

/// Every shared region in `/dev/shm`, after taking back what dead users held; a region whose
/// users all died is removed, not listed. Looking takes the region's lock shared for a moment,
/// as a user would, but joins no user slot.
pub fn shared_status() -> Vec<SharedStatus> {
    let mut out = Vec::new();
    for path in file::list() {
        if file::remove_if_unused(&path) {
            continue;
        }
        if let Some(s) = look(&path) {
            out.push(s);
        }
    }
    out
}

/// Maps the shared region at `path` (if it is one), reclaims what its dead users held and
/// reports it.
fn look(path: &std::path::Path) -> Option<SharedStatus> {
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock on an fd we hold; shared, like a user's, so no remover unlinks it meanwhile.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
        return None;
    }
    let rf = file::RegionFile {
        path: path.to_path_buf(),
        file: f,
    };
    let s = Region::peek(&rf).ok()?;
    let cfg = Config {
        buf_size: s.buf_size,
        buf_num: s.buf_num,
        if_num: s.if_num,
        if_size: s.if_size,
        ring_num: s.ring_num,
        ring_size: s.ring_size,
        ..Config::default()
    };
    let layout = Layout::new(&cfg).ok()?;
    let cl = ctl::CtlLayout::new(&layout);
    let map = Mapping::new(rf.file.as_raw_fd(), cl.map_len, 0).ok()?;
    // SAFETY: the mapping is cl.map_len bytes and outlives the Ctl (dropped first, below).
    let ctl = unsafe { ctl::Ctl::at(map.base, &layout, &cl) };
    let g = ctl.lock();
    ctl.reclaim_dead(&g, None);
    let (users, audit) = ctl.census(&g);
    let reclaimed = ctl.reclaimed(&g);
    drop(g);
    Some(SharedStatus {
        path: path.to_path_buf(),
        memsize: layout.memsize,
        buf_num: layout.buf_num,
        users,
        audit,
        reclaimed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_i_is_chunk_i_plus_headroom() {
        let cfg = Config::default();
        let r = Region::new(&cfg).unwrap();
        let l = r.layout;
        assert_eq!(l.umem_offset % PAGE, 0);
        assert_eq!(
            r.buf_ptr(5).unwrap() as usize - r.umem() as usize,
            5 * 2048 + 256
        );
        assert!(r.buf_ptr(l.buf_num).is_none());
        assert!(r.ring_at(0, 16).is_none(), "offset 0 is the interface pool");
        assert!(r.ring_at(l.ring_pool_offset, 16).is_some());
        assert!(r
            .ring_at(l.ring_pool_offset + l.ring_pool_size - 4096, 1024)
            .is_none());
        assert_eq!(l.buf_addr(5), 5 * 2048 + 256);
        assert!(l.memsize < 1 << 32);
        assert_eq!(r.free_buf_count(), cfg.buf_num as usize - 2);
    }

    #[test]
    fn allocators_give_back_what_they_took() {
        let r = Region::new(&Config::default()).unwrap();
        let b = r.alloc_bufs(100, "test").unwrap();
        assert!(b.iter().all(|&i| i >= 2));
        let before = r.free_buf_count();
        r.free_bufs(b);
        assert_eq!(r.free_buf_count(), before + 100);
        let e = r.alloc_bufs(1 << 20, "test").unwrap_err();
        assert_eq!(e.errno(), libc::ENOMEM);
        assert!(e.message().contains("NMXDP_BUF_NUM"));
        let a = r.alloc_ring(20000).unwrap();
        let b = r.alloc_ring(20000).unwrap();
        assert_eq!(b - a, 20480);
        r.free_ring(a, 20000);
        assert_eq!(r.alloc_ring(4096).unwrap(), a);
        let i0 = r.alloc_if().unwrap();
        let i1 = r.alloc_if().unwrap();
        assert_eq!((i0, i1), (0, 1024));
        r.free_if(i0);
        assert_eq!(r.alloc_if().unwrap(), 0);
    }

    fn small() -> Config {
        Config::default().buf_num(1024)
    }

    /// A user slot for a process that has already exited.
    fn dead_user(r: &Region) -> u8 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        let who = alive::Ident {
            pid,
            ..alive::Ident::me()
        };
        r.ctl.join(&r.ctl.lock(), who).unwrap()
    }

    /// Threads of one process racing to move the same buffers out of App (an application that
    /// put one buffer in slots of two rings synced at once): each buffer moves exactly once.
    #[test]
    fn each_buffer_leaves_app_once_however_many_threads_race() {
        let r: &'static Region = Box::leak(Box::new(Region::new(&small()).unwrap()));
        let bufs = r.alloc_bufs(200, "test").unwrap();
        let moved: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = [
                Owner::KernelTx,
                Owner::KernelRx,
                Owner::Free,
                Owner::KernelTx,
            ]
            .into_iter()
            .map(|to| {
                let bufs = &bufs;
                s.spawn(move || {
                    let mut n = 0;
                    for chunk in bufs.chunks(10) {
                        let m = r.app_moves();
                        n += chunk.iter().filter(|&&b| m.take(b, to)).count();
                    }
                    n
                })
            })
            .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(moved.iter().sum::<usize>(), bufs.len(), "{moved:?}");
        let a = r.audit();
        assert_eq!(a[1], 0, "none left the application's");
        assert_eq!(a[2] + a[3], bufs.len() - moved[2]);
        assert!(
            !r.app_moves().take(bufs[0], Owner::KernelTx),
            "a second move fails"
        );
    }

    /// What another process's own moves do to its entries (a compare-and-swap on its tag).
    fn move_as(o: Owners<'_>, b: u32, from: Owner, to: Owner) -> bool {
        o.table[b as usize]
            .compare_exchange(
                ctl::tagged(o.tag, from),
                ctl::tagged(o.tag, to),
                Relaxed,
                Relaxed,
            )
            .is_ok()
    }

    #[test]
    fn a_dead_users_buffers_rings_and_interfaces_are_reclaimed() {
        let r = Region::new(&small()).unwrap();
        let total = r.layout.buf_num as usize - 2;
        let mine = r.alloc_bufs(10, "test").unwrap();
        let dead = dead_user(&r);
        let theirs = r.ctl.take_bufs(&r.ctl.lock(), dead, 300);
        let as_dead = Owners {
            table: r.table(),
            tag: dead << 2,
        };
        // In every state: some in its fill ring, some being sent, the rest its app's.
        assert!(theirs[..100]
            .iter()
            .all(|&b| move_as(as_dead, b, Owner::App, Owner::KernelRx)));
        assert!(theirs[100..150]
            .iter()
            .all(|&b| move_as(as_dead, b, Owner::App, Owner::KernelTx)));
        let if_i = r.ctl.take_if(&r.ctl.lock(), dead).unwrap();
        let page = r.ctl.take_pages(&r.ctl.lock(), dead, 3).unwrap();
        assert_eq!(r.audit(), [total - 310, 160, 100, 50]);
        assert_eq!(
            r.users().len(),
            1,
            "the dead user is gone once anyone looks"
        );
        assert_eq!(r.audit(), [total - 10, 10, 0, 0]);
        assert_eq!(r.free_buf_count(), total - 10);
        assert_eq!(r.reclaimed(), (300, 1));
        // Its interface and ring pages are free again: the next allocations get them.
        assert_eq!(r.alloc_if().unwrap(), if_i as u64 * r.layout.if_size as u64);
        let off = r.alloc_ring(3 * PAGE).unwrap();
        assert_eq!(off, r.layout.ring_pool_offset + page as u64 * PAGE);
        assert_eq!(r.reclaim_dead(), 0, "nothing twice");
        assert_eq!(r.users()[0].buffers, [0, 10, 0, 0]);
        r.free_bufs(mine);
        assert_eq!(r.audit()[0], total);
    }

    #[test]
    fn another_users_buffers_are_not_ours() {
        let r = Region::new(&small()).unwrap();
        let dead = dead_user(&r);
        let theirs = r.ctl.take_bufs(&r.ctl.lock(), dead, 4);
        let b = theirs[0];
        assert_eq!(r.owner(b), None);
        assert!(!r.is_app(b));
        assert!(r.app_bufs().ptr(b).is_none());
        assert!(!r.app_moves().take(b, Owner::KernelTx));
        r.free_bufs(theirs.iter().copied());
        r.owners().kernel_to_app(r.layout.buf_num); // outside the pool: ignored
        assert_eq!(
            r.audit()[1],
            4,
            "freeing another user's buffers does nothing"
        );
    }

    #[test]
    fn a_holder_that_died_with_the_lock_leaves_a_consistent_free_list() {
        let r = Region::new(&small()).unwrap();
        let taken = r.alloc_bufs(7, "test").unwrap();
        // SAFETY: the child only locks, scribbles on the free count as a holder killed
        // half-way through an allocation would, and exits without unlocking or allocating.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                let g = r.ctl.lock();
                std::mem::forget(g);
                r.ctl.scribble_free_count(0);
                libc::_exit(0);
            }
            assert!(pid > 0);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        assert_eq!(r.free_buf_count(), r.layout.buf_num as usize - 9);
        r.free_bufs(taken);
        // The freed buffers are on top again, in a consistent list: the next five are five
        // of them.
        let mut again = r.alloc_bufs(5, "test").unwrap();
        again.sort_unstable();
        assert_eq!(again, [4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_shared_region_is_one_memory_and_refuses_other_sizes() {
        let name = format!("unit-{}", std::process::id());
        let path = file::path_of(&name);
        // A stale file (its users died) is replaced.
        std::fs::write(&path, b"left by a dead process").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let a = Region::open_shared(&small(), &name).unwrap();
        let b = Region::open_shared(&small(), &name).unwrap();
        assert_ne!(a.base(), b.base(), "two mappings");
        let got = a.alloc_bufs(1, "test").unwrap()[0];
        // SAFETY: a owns the buffer; b only reads it after a wrote.
        unsafe {
            a.bytes_mut(got).unwrap()[..5].copy_from_slice(b"hello");
            assert_eq!(b.bytes(got, 5).unwrap(), b"hello");
        }
        assert_eq!(b.owner(got), None, "a's buffer, not b's");
        assert_eq!(b.audit()[1], 1);
        assert_eq!(b.users().len(), 2);
        let e = Region::open_shared(&small().buf_num(2048), &name)
            .err()
            .unwrap();
        assert_eq!(e.errno(), libc::EEXIST);
        for s in [
            "NMXDP_BUF_NUM=1024",
            "NMXDP_BUF_NUM=2048",
            "NMXDP_REGION=private",
        ] {
            assert!(e.message().contains(s), "{e}");
        }
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        let st = shared_status();
        let me = st.iter().find(|s| s.path == path).unwrap();
        assert_eq!((me.users.len(), me.audit[1]), (2, 1));
        drop(a);
        assert_eq!(b.users().len(), 1);
        assert_eq!(
            b.audit()[0],
            b.layout.buf_num as usize - 2,
            "a gave back on leaving"
        );
        assert!(path.exists());
        drop(b);
        assert!(!path.exists(), "the last user removes the file");
    }
}
