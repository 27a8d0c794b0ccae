//! The process's one shared region (netmap's global allocator, mem id 1).
//!
//! Layout, in the order netmap apps expect: the `netmap_if` pool at offset 0, the ring pool, then
//! the buffer pool, which *is* the UMEM shifted by 256 bytes: buffer `i` starts at
//! `umem + i * buf_size + 256`, exactly where AF_XDP puts received data in chunk `i`, so neither
//! RX nor TX copies. One trailing page keeps the last buffer's full stride inside the mapping.

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
    pub if_pool_size: u64,
    pub if_size: u32,
    pub if_num: u32,
    pub ring_pool_offset: u64,
    pub ring_pool_size: u64,
    /// Ring objects the pool was sized for, and their budgeted size (POOLS_INFO_GET).
    pub ring_num: u32,
    pub ring_size: u32,
    pub umem_offset: u64,
    pub buf_pool_offset: u64,
    pub buf_size: u32,
    pub buf_num: u32,
    pub memsize: u64,
}

impl Layout {
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

    pub fn umem_len(&self) -> u64 {
        self.buf_num as u64 * self.buf_size as u64
    }
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

/// Which pool objects are in use. Only touched when ports open and close, never per packet.
struct Alloc {
    free_bufs: Vec<u32>,
    if_used: Vec<bool>,
    ring_pages_used: Vec<bool>,
}

/// The mapped region and its allocators.
pub struct Region {
    base: *mut u8,
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
    pub fn new(cfg: &Config) -> Result<Region> {
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
        // Buffers 0 and 1 are reserved (netmap-abi.md pitfall 13). Popped from the end, so the
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

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Address of the UMEM (chunk 0).
    pub fn umem(&self) -> *mut u8 {
        // SAFETY: umem_offset is inside the mapping.
        unsafe { self.base.add(self.layout.umem_offset as usize) }
    }

    /// Address of buffer `idx` (which must be < buf_num).
    #[inline]
    pub fn buf(&self, idx: u32) -> *mut u8 {
        debug_assert!(idx < self.layout.buf_num);
        // SAFETY: idx < buf_num keeps the buffer and its full stride inside the mapping
        // (the trailing page covers the last one).
        unsafe {
            self.base.add(
                self.layout.buf_pool_offset as usize + idx as usize * self.layout.buf_size as usize,
            )
        }
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

    /// Moves buffer `idx` from `from` to `to`; false (and no change) if it is not `from`'s.
    #[inline]
    pub fn transfer(&self, idx: u32, from: Owner, to: Owner) -> bool {
        if idx < 2 {
            return false;
        }
        match self.owner.get(idx as usize) {
            Some(o) => o
                .compare_exchange(from as u8, to as u8, Relaxed, Relaxed)
                .is_ok(),
            None => false,
        }
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
    pub fn alloc_bufs(&self, n: usize, what: &str) -> Result<Vec<u32>> {
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
    pub fn alloc_bufs_upto(&self, n: usize) -> Vec<u32> {
        let mut a = self.lock();
        let at = a.free_bufs.len().saturating_sub(n);
        let out = a.free_bufs.split_off(at);
        out.iter()
            .for_each(|&b| self.owner[b as usize].store(Owner::App as u8, Relaxed));
        out
    }

    /// Gives back buffers that `from` owns; anything else (reserved, out of range, already
    /// free, someone else's) is ignored, so a corrupted list can never free a buffer twice.
    pub fn free_bufs_from(&self, bufs: impl IntoIterator<Item = u32>, from: Owner) {
        let mut a = self.lock();
        for b in bufs {
            if self.transfer(b, from, Owner::Free) {
                a.free_bufs.push(b);
            }
        }
    }

    /// Gives back the app's buffers (see [`Region::free_bufs_from`]).
    pub fn free_bufs(&self, bufs: impl IntoIterator<Item = u32>) {
        self.free_bufs_from(bufs, Owner::App)
    }

    /// With no port open, every buffer not free was lost by an app (it overwrote the only
    /// reference): take them all back. Returns how many were recovered.
    pub fn recover_all(&self) -> usize {
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

    pub fn free_buf_count(&self) -> usize {
        self.lock().free_bufs.len()
    }

    /// Allocates one `netmap_if`; returns its offset in the region.
    pub fn alloc_if(&self) -> Result<u64> {
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

    pub fn free_if(&self, off: u64) {
        let i = (off / self.layout.if_size as u64) as usize;
        if let Some(u) = self.lock().if_used.get_mut(i) {
            *u = false;
        }
    }

    /// Allocates a ring object of `bytes` bytes (page-aligned); returns its region offset.
    pub fn alloc_ring(&self, bytes: u64) -> Result<u64> {
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

    pub fn free_ring(&self, off: u64, bytes: u64) {
        let first = ((off - self.layout.ring_pool_offset) / PAGE) as usize;
        let pages = (round_up(bytes, PAGE) / PAGE) as usize;
        let mut a = self.lock();
        if let Some(r) = a.ring_pages_used.get_mut(first..first + pages) {
            r.iter_mut().for_each(|u| *u = false);
        }
    }

    /// Address at a region offset.
    pub fn at(&self, off: u64) -> *mut u8 {
        debug_assert!(off < self.layout.memsize);
        // SAFETY: off < memsize.
        unsafe { self.base.add(off as usize) }
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
        assert_eq!(r.buf(5) as usize - r.umem() as usize, 5 * 2048 + 256);
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
