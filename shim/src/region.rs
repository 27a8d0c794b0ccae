//! The process's one shared region (netmap's global allocator, mem id 1).
//!
//! Layout, in the order netmap apps expect: the `netmap_if` pool at offset 0, the ring pool, then
//! the buffer pool, which *is* the UMEM shifted by 256 bytes: buffer `i` starts at
//! `umem + i * buf_size + 256`, exactly where AF_XDP puts received data in chunk `i`, so neither
//! RX nor TX copies. One trailing page keeps the last buffer's full stride inside the mapping.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sys::XDP_PACKET_HEADROOM;

const PAGE: u64 = 4096;

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

/// A copy of what finding an application's buffer takes (the ownership table and the pool's
/// address and stride), held in locals by a loop so that the compiler need not reload them
/// from the [`Region`] after every store to shared memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppBufs<'a> {
    owner: &'a [AtomicU8],
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
        if o.load(Relaxed) != Owner::App as u8 {
            return None;
        }
        // SAFETY: the table has an entry for idx, so idx < buf_num: the buffer and its full
        // stride lie inside the pool, whose address is not null.
        Some(unsafe { NonNull::new_unchecked(self.pool.add(idx as usize * self.stride)) })
    }
}

/// The ownership table, one entry per buffer (see [`Region::owners`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owners<'a>(&'a [AtomicU8]);

impl Owners<'_> {
    /// Moves buffer `idx` from `from` to `to`; false (and no change) if it is not `from`'s.
    #[inline]
    pub(crate) fn transfer(self, idx: u32, from: Owner, to: Owner) -> bool {
        // The reserved buffers 0 and 1 are never allocated, so their entries stay Free for
        // ever: only a move out of Free has to refuse them by index (the test folds away
        // where `from` is a constant, as on the data path).
        if from == Owner::Free && idx < 2 {
            return false;
        }
        match self.0.get(idx as usize) {
            Some(o) => o
                .compare_exchange(from as u8, to as u8, Relaxed, Relaxed)
                .is_ok(),
            None => false,
        }
    }

    /// Hands buffer `idx`, which the kernel just gave back, to the application: a plain store
    /// where [`Owners::transfer`] compares and swaps. Only for an entry the calling ring moved
    /// to `KernelTx` or `KernelRx` itself (a TX ring's posted buffer named by its completion,
    /// an RX ring's fill buffer named by its RX descriptor): nothing else moves an entry out of
    /// a kernel state, and every move into `App` or out of it compares first, so no other ring
    /// can hold or take the buffer meanwhile. Indices outside the pool are ignored.
    #[inline]
    pub(crate) fn kernel_to_app(self, idx: u32) {
        if let Some(o) = self.0.get(idx as usize) {
            o.store(Owner::App as u8, Relaxed);
        }
    }
}

/// Which pool objects are in use. Only touched when ports open and close, never per packet.
struct Alloc {
    free_bufs: Vec<u32>,
    if_used: Vec<bool>,
    ring_pages_used: Vec<bool>,
}

/// The mapped region and its allocators.
pub struct Region {
    base: *mut u8,
    /// Where the pools lie in the mapping; fixed for the region's life.
    pub layout: Layout,
    alloc: Mutex<Alloc>,
    owner: Box<[AtomicU8]>,
}

// SAFETY: the mapping lives as long as the Region; the allocator is behind a Mutex and the shared
// memory itself is accessed through raw pointers by owners that serialise their own rings.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Maps a fresh region for `cfg` (anonymous and shared, so a forked child sees the same
    /// bytes) with every buffer free. `ENOMEM` if it would reach 4 GiB; `mmap`'s errno if the
    /// mapping fails.
    pub(crate) fn new(cfg: &Config) -> Result<Region> {
        let layout = Layout::new(cfg)?;
        // SAFETY: a fresh anonymous shared mapping; MAP_SHARED keeps it shared with forked children.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.memsize as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os(format!(
                "reserving the {} byte netmap region (lower NMXDP_BUF_NUM)",
                layout.memsize
            )));
        }
        // Buffers 0 and 1 are reserved (docs/architecture.md, "Region layout"). Popped from the end, so the
        // lowest indices go out first, which keeps small pools dense.
        let free_bufs = (2..layout.buf_num).rev().collect();
        Ok(Region {
            base: ptr.cast(),
            owner: (0..layout.buf_num)
                .map(|_| AtomicU8::new(Owner::Free as u8))
                .collect(),
            layout,
            alloc: Mutex::new(Alloc {
                free_bufs,
                if_used: vec![false; layout.if_num as usize],
                ring_pages_used: vec![false; (layout.ring_pool_size / PAGE) as usize],
            }),
        })
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
            owner: &self.owner,
            // SAFETY: the buffer pool lies inside the mapping.
            pool: unsafe { self.base.add(self.layout.buf_pool_offset as usize) },
            stride: self.layout.buf_size as usize,
        }
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

    /// Current owner of buffer `idx` (None outside the pool or for reserved 0/1).
    #[inline]
    pub fn owner(&self, idx: u32) -> Option<Owner> {
        if idx < 2 {
            return None;
        }
        self.owner.get(idx as usize).map(|o| match o.load(Relaxed) {
            0 => Owner::Free,
            1 => Owner::App,
            2 => Owner::KernelRx,
            _ => Owner::KernelTx,
        })
    }

    /// Is buffer `idx` the application's? (What [`Region::owner`] says, in one load and one
    /// compare: the reserved 0 and 1 are never the application's.)
    #[inline]
    pub fn is_app(&self, idx: u32) -> bool {
        self.owner
            .get(idx as usize)
            .is_some_and(|o| o.load(Relaxed) == Owner::App as u8)
    }

    /// Moves buffer `idx` from `from` to `to`; false (and no change) if it is not `from`'s.
    #[inline]
    pub(crate) fn transfer(&self, idx: u32, from: Owner, to: Owner) -> bool {
        self.owners().transfer(idx, from, to)
    }

    /// The ownership table as a plain slice, for a loop to hold in locals: an atomic
    /// compare-and-swap counts as a store to any memory, so the table's address and length
    /// would otherwise be reloaded from the region after every one.
    #[inline]
    pub(crate) fn owners(&self) -> Owners<'_> {
        Owners(&self.owner)
    }

    /// Buffers per owner, the pool audit: they always add up to the pool (minus 0 and 1).
    pub fn audit(&self) -> [usize; 4] {
        let mut n = [0usize; 4];
        for o in self.owner.iter().skip(2) {
            n[o.load(Relaxed).min(3) as usize] += 1;
        }
        n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Alloc> {
        self.alloc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `n` buffers, all or none.
    pub(crate) fn alloc_bufs(&self, n: usize, what: &str) -> Result<Vec<u32>> {
        let mut a = self.lock();
        if a.free_bufs.len() < n {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "{what} needs {n} buffers but only {} of {} are free: raise NMXDP_BUF_NUM or use fewer slots (@conf:slots=N)",
                    a.free_bufs.len(),
                    self.layout.buf_num
                ),
            ));
        }
        let at = a.free_bufs.len() - n;
        let out = a.free_bufs.split_off(at);
        out.iter()
            .for_each(|&b| self.owner[b as usize].store(Owner::App as u8, Relaxed));
        Ok(out)
    }

    /// Takes up to `n` buffers (extra buffers never fail a registration).
    pub(crate) fn alloc_bufs_upto(&self, n: usize) -> Vec<u32> {
        let mut a = self.lock();
        let at = a.free_bufs.len().saturating_sub(n);
        let out = a.free_bufs.split_off(at);
        out.iter()
            .for_each(|&b| self.owner[b as usize].store(Owner::App as u8, Relaxed));
        out
    }

    /// Gives back buffers that `from` owns; anything else (reserved, out of range, already
    /// free, someone else's) is ignored, so a corrupted list can never free a buffer twice.
    pub(crate) fn free_bufs_from(&self, bufs: impl IntoIterator<Item = u32>, from: Owner) {
        let mut a = self.lock();
        for b in bufs {
            if self.transfer(b, from, Owner::Free) {
                a.free_bufs.push(b);
            }
        }
    }

    /// Gives back the app's buffers (see [`Region::free_bufs_from`]).
    pub(crate) fn free_bufs(&self, bufs: impl IntoIterator<Item = u32>) {
        self.free_bufs_from(bufs, Owner::App)
    }

    /// With no port open, every buffer not free was lost by an app (it overwrote the only
    /// reference): take them all back. Returns how many were recovered.
    pub(crate) fn recover_all(&self) -> usize {
        let mut a = self.lock();
        let mut n = 0;
        for (i, o) in self.owner.iter().enumerate().skip(2) {
            if o.swap(Owner::Free as u8, Relaxed) != Owner::Free as u8 {
                a.free_bufs.push(i as u32);
                n += 1;
            }
        }
        n
    }

    /// Buffers currently in the free list.
    pub fn free_buf_count(&self) -> usize {
        self.lock().free_bufs.len()
    }

    /// Allocates one `netmap_if`; returns its offset in the region.
    pub(crate) fn alloc_if(&self) -> Result<u64> {
        let mut a = self.lock();
        let Some(i) = a.if_used.iter().position(|u| !u) else {
            return Err(Error::new(
                libc::ENOMEM,
                format!(
                    "all {} netmap_if objects are in use (one per open port): raise NMXDP_IF_NUM",
                    self.layout.if_num
                ),
            ));
        };
        a.if_used[i] = true;
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
        if let Some(u) = self.lock().if_used.get_mut(i) {
            *u = false;
        }
    }

    /// Allocates a ring object of `bytes` bytes (page-aligned); returns its region offset.
    pub(crate) fn alloc_ring(&self, bytes: u64) -> Result<u64> {
        let pages = (round_up(bytes, PAGE) / PAGE) as usize;
        let mut a = self.lock();
        let used = &mut a.ring_pages_used;
        let mut run = 0;
        for i in 0..used.len() {
            run = if used[i] { 0 } else { run + 1 };
            if run == pages {
                let first = i + 1 - pages;
                used[first..=i].iter_mut().for_each(|u| *u = true);
                let off = self.layout.ring_pool_offset + first as u64 * PAGE;
                // SAFETY: the pages lie in the ring pool; zero them for the new ring.
                unsafe {
                    std::ptr::write_bytes(self.base.add(off as usize), 0, pages * PAGE as usize)
                };
                return Ok(off);
            }
        }
        Err(Error::new(
            libc::ENOMEM,
            format!(
                "the ring pool ({} bytes) has no room for a ring of {bytes} bytes: raise NMXDP_RING_NUM or use fewer slots",
                self.layout.ring_pool_size
            ),
        ))
    }

    /// Returns the pages of a ring object of `bytes` bytes at region offset `off` (from
    /// [`Region::alloc_ring`]) to the ring pool.
    pub(crate) fn free_ring(&self, off: u64, bytes: u64) {
        let first = ((off - self.layout.ring_pool_offset) / PAGE) as usize;
        let pages = (round_up(bytes, PAGE) / PAGE) as usize;
        let mut a = self.lock();
        if let Some(r) = a.ring_pages_used.get_mut(first..first + pages) {
            r.iter_mut().for_each(|u| *u = false);
        }
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
        // SAFETY: base/memsize are our mapping.
        unsafe { libc::munmap(self.base.cast(), self.layout.memsize as usize) };
    }
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
    }
}
