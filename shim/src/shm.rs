//! The one place that touches the netmap objects applications may write at any time: ring
//! headers and slots in the region (docs/architecture.md, "Shared memory access").
//!
//! C applications (and raw Rust users) write `head`, `cur` and every slot whenever they like,
//! also while nmxdp reads them. Creating `&`/`&mut` references to that memory would let the
//! compiler assume it does not change underneath, so every access here is a volatile load or
//! store of one field, and slot indices are checked against the ring size nmxdp recorded when it
//! built the ring (an application may overwrite `num_slots` too).

use std::ptr::{addr_of, addr_of_mut, NonNull};

use crate::abi::{netmap_ring, netmap_slot};

/// A netmap ring object in the region, with the slot count nmxdp gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRing {
    ptr: NonNull<netmap_ring>,
    n: u32,
}

// SAFETY: the handle is an address plus a count; every access through it is a volatile access
// of memory that stays mapped for as long as the handle is usable (contract of `new`).
unsafe impl Send for SharedRing {}
// SAFETY: as above: shared handles only perform volatile single-field accesses.
unsafe impl Sync for SharedRing {}

macro_rules! header_field {
    ($get:ident, $set:ident, $field:ident, $ty:ty) => {
        #[doc = concat!("Reads `", stringify!($field), "` (written by the application at any time).")]
        #[inline]
        pub fn $get(self) -> $ty {
            // SAFETY: `ptr` is a live ring header (contract of `new`); a volatile read of one
            // aligned field never creates a reference.
            unsafe { addr_of!((*self.ptr.as_ptr()).$field).read_volatile() }
        }
        #[doc = concat!("Writes `", stringify!($field), "`.")]
        #[inline]
        pub fn $set(self, v: $ty) {
            // SAFETY: as for the read; the header is writable shared memory.
            unsafe { addr_of_mut!((*self.ptr.as_ptr()).$field).write_volatile(v) }
        }
    };
}

/// The panic of a slot index outside its ring, out of line: formatting the message needs the
/// values in memory, which would otherwise cost a loop over slots stores on every iteration.
#[cold]
#[inline(never)]
#[track_caller]
fn slot_out_of_range(i: u32, n: u32) -> ! {
    panic!("slot {i} outside a ring of {n} slots")
}

impl SharedRing {
    /// A handle on the ring object at `ptr`, which has (at least) `n` slots.
    ///
    /// # Safety
    /// `ptr` must point to a ring header followed by `n` slots, in memory that stays mapped and
    /// writable for as long as this handle or any copy of it is used.
    pub unsafe fn new(ptr: *mut netmap_ring, n: u32) -> SharedRing {
        SharedRing {
            ptr: NonNull::new(ptr).expect("ring object address is not null"),
            n,
        }
    }

    /// Address of the ring header (what `NETMAP_TXRING()`/`NETMAP_RXRING()` return).
    pub fn as_ptr(self) -> *mut netmap_ring {
        self.ptr.as_ptr()
    }

    /// Slot count nmxdp built the ring with (not the header's copy, which apps can overwrite).
    #[inline]
    pub fn num_slots(self) -> u32 {
        self.n
    }

    header_field!(head, set_head, head, u32);
    header_field!(cur, set_cur, cur, u32);
    header_field!(tail, set_tail, tail, u32);
    header_field!(ring_flags, set_ring_flags, flags, u32);
    header_field!(ts, set_ts, ts, libc::timeval);

    /// Sets `head` and `cur` to the same slot.
    #[inline]
    pub fn set_head_cur(self, v: u32) {
        self.set_head(v);
        self.set_cur(v);
    }

    #[inline]
    fn slot_ptr(self, i: u32) -> *mut netmap_slot {
        if i >= self.n {
            slot_out_of_range(i, self.n);
        }
        // SAFETY: i < n, and the ring object has n slots after its header (contract of `new`).
        unsafe { crate::abi::slot_ptr(self.ptr.as_ptr(), i) }
    }

    /// Reads slot `i` whole.
    ///
    /// # Panics
    /// If `i` is not below [`SharedRing::num_slots`].
    #[inline]
    pub fn slot(self, i: u32) -> netmap_slot {
        // SAFETY: slot_ptr checked the index; a volatile read copies the slot out.
        unsafe { self.slot_ptr(i).read_volatile() }
    }

    /// Writes slot `i` whole.
    ///
    /// # Panics
    /// If `i` is not below [`SharedRing::num_slots`].
    #[inline]
    pub fn set_slot(self, i: u32, s: netmap_slot) {
        // SAFETY: slot_ptr checked the index.
        unsafe { self.slot_ptr(i).write_volatile(s) }
    }

    /// Reads slot `i`'s `buf_idx`.
    #[inline]
    pub fn buf_idx(self, i: u32) -> u32 {
        self.slot_ref(i).buf_idx()
    }

    /// Writes slot `i`'s `buf_idx`.
    #[inline]
    pub fn set_buf_idx(self, i: u32, v: u32) {
        self.slot_ref(i).set_buf_idx(v)
    }

    /// Reads slot `i`'s `len`.
    #[inline]
    pub fn len(self, i: u32) -> u16 {
        self.slot_ref(i).len()
    }

    /// Writes slot `i`'s `len`.
    #[inline]
    pub fn set_len(self, i: u32, v: u16) {
        self.slot_ref(i).set_len(v)
    }

    /// Reads slot `i`'s `flags`.
    #[inline]
    pub fn flags(self, i: u32) -> u16 {
        self.slot_ref(i).flags()
    }

    /// Writes slot `i`'s `flags`.
    #[inline]
    pub fn set_flags(self, i: u32, v: u16) {
        self.slot_ref(i).set_flags(v)
    }

    /// Slot `i`, its index checked once here rather than at every field access.
    ///
    /// # Panics
    /// If `i` is not below [`SharedRing::num_slots`].
    #[inline]
    pub fn slot_ref(self, i: u32) -> SlotRef {
        SlotRef(self.slot_ptr(i))
    }

    /// Calls `f(i, slot)` for the `count` slots from `from` in ring order, wrapping once: the
    /// indices are checked once per call (at most two contiguous runs), not once per slot, and
    /// the loops carry no modulo.
    ///
    /// # Panics
    /// If `from` is not below [`SharedRing::num_slots`] or `count` exceeds it.
    #[inline]
    pub fn for_each_slot(self, from: u32, count: u32, mut f: impl FnMut(u32, SlotRef)) {
        let n = self.n;
        if from >= n || count > n {
            slot_out_of_range(from, n);
        }
        let first = count.min(n - from);
        // SAFETY: slot 0 lies in the object (n > from >= 0 slots follow the header).
        let base = unsafe { crate::abi::slot_ptr(self.ptr.as_ptr(), 0) };
        for i in from..from + first {
            // SAFETY: i < from + first <= n.
            f(i, SlotRef(unsafe { base.add(i as usize) }));
        }
        for i in 0..count - first {
            // SAFETY: i < count - first <= from < n.
            f(i, SlotRef(unsafe { base.add(i as usize) }));
        }
    }

    /// The `count` slots from `from`, a run that does not pass the ring's end: a loop over it
    /// reaches each slot from one base address, and its per-slot check (`j < len`) folds away
    /// when the loop is bounded by the run's length.
    ///
    /// # Panics
    /// If `from` is not a slot of the ring or the run would pass its end
    /// (`from + count > num_slots`).
    #[inline]
    pub fn run(self, from: u32, count: usize) -> SlotRun {
        let n = self.n;
        if from >= n || count > (n - from) as usize {
            slot_out_of_range(from, n);
        }
        // SAFETY: from < n, a slot of the object.
        let base = unsafe { crate::abi::slot_ptr(self.ptr.as_ptr(), from) };
        SlotRun { base, len: count }
    }

    /// Writes the header fields nmxdp owns when it builds a ring (all other bytes must be zero).
    pub fn init_header(self, buf_ofs: i64, buf_size: u32, ringid: u16, dir: u16, tail: u32) {
        let p = self.ptr.as_ptr();
        // SAFETY: `p` is a live ring header (contract of `new`); one-field volatile writes.
        unsafe {
            addr_of_mut!((*p).buf_ofs).write_volatile(buf_ofs);
            addr_of_mut!((*p).num_slots).write_volatile(self.n);
            addr_of_mut!((*p).nr_buf_size).write_volatile(buf_size);
            addr_of_mut!((*p).ringid).write_volatile(ringid);
            addr_of_mut!((*p).dir).write_volatile(dir);
        }
        self.set_head_cur(0);
        self.set_tail(tail);
    }

    /// Reads `ringid` (index among the rings of its direction).
    pub fn ringid(self) -> u16 {
        // SAFETY: as for the header fields above.
        unsafe { addr_of!((*self.ptr.as_ptr()).ringid).read_volatile() }
    }
}

/// One slot of a ring, made by [`SharedRing::slot_ref`] or [`SharedRing::for_each_slot`] with
/// its index checked: its accessors are one volatile load or store of one field each. Valid
/// under the same contract as the ring handle it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRef(*mut netmap_slot);

macro_rules! slot_field {
    ($get:ident, $set:ident, $field:ident, $ty:ty) => {
        #[doc = concat!("Reads the slot's `", stringify!($field), "`.")]
        #[inline]
        pub fn $get(self) -> $ty {
            // SAFETY: the pointer is a slot of a live ring (checked when the handle was made);
            // a volatile read of one aligned field never creates a reference.
            unsafe { addr_of!((*self.0).$field).read_volatile() }
        }
        #[doc = concat!("Writes the slot's `", stringify!($field), "`.")]
        #[inline]
        pub fn $set(self, v: $ty) {
            // SAFETY: as for the read; slots are writable shared memory.
            unsafe { addr_of_mut!((*self.0).$field).write_volatile(v) }
        }
    };
}

// `len` is the slot's field, not a length of the handle.
#[allow(clippy::len_without_is_empty)]
impl SlotRef {
    slot_field!(buf_idx, set_buf_idx, buf_idx, u32);
    slot_field!(len, set_len, len, u16);
    slot_field!(flags, set_flags, flags, u16);
}

/// Slots `from..from + len` of a ring, made by [`SharedRing::run`]; valid under the same
/// contract as the ring handle it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRun {
    base: *mut netmap_slot,
    len: usize,
}

// `len` counts the run's slots; an empty run is never asked for an element.
#[allow(clippy::len_without_is_empty)]
impl SlotRun {
    /// Slots in the run.
    #[inline]
    pub fn len(self) -> usize {
        self.len
    }

    /// The run's `j`-th slot.
    ///
    /// # Panics
    /// If `j` is not below [`SlotRun::len`].
    #[inline]
    pub fn get(self, j: usize) -> SlotRef {
        if j >= self.len {
            slot_out_of_range(j as u32, self.len as u32);
        }
        // SAFETY: j < len, and the run's len slots from base lie in the ring (checked by `run`).
        SlotRef(unsafe { self.base.add(j) })
    }
}

/// A `netmap_if` in the region, with the number of ring offsets it has room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedIf {
    ptr: NonNull<crate::abi::netmap_if>,
    ring_ofs: usize,
}

// SAFETY: as for SharedRing: an address plus a count, used only for volatile accesses.
unsafe impl Send for SharedIf {}
// SAFETY: as above.
unsafe impl Sync for SharedIf {}

impl SharedIf {
    /// A handle on the `netmap_if` at `ptr`, followed by room for `ring_ofs` ring offsets.
    ///
    /// # Safety
    /// `ptr` must point to such an object, in memory that stays mapped and writable for as long
    /// as this handle or any copy of it is used.
    pub unsafe fn new(ptr: *mut crate::abi::netmap_if, ring_ofs: usize) -> SharedIf {
        SharedIf {
            ptr: NonNull::new(ptr).expect("netmap_if address is not null"),
            ring_ofs,
        }
    }

    /// Address of the object (what `NETMAP_IF()` returns).
    pub fn as_ptr(self) -> *mut crate::abi::netmap_if {
        self.ptr.as_ptr()
    }

    /// Writes the header and the ring offsets (`ofs.len()` must fit the object).
    pub fn write(self, hdr: crate::abi::netmap_if, ofs: &[isize]) {
        assert!(
            ofs.len() <= self.ring_ofs,
            "more ring offsets than the object holds"
        );
        // SAFETY: a live object with room for `ring_ofs` offsets (contract of `new`); volatile
        // writes because the application maps this memory.
        unsafe {
            self.ptr.as_ptr().write_volatile(hdr);
            let base = crate::abi::ring_ofs_ptr(self.ptr.as_ptr());
            for (k, v) in ofs.iter().enumerate() {
                base.add(k).write_volatile(*v);
            }
        }
    }

    /// Reads `ni_bufs_head` (the application may relink its extra buffers at any time).
    pub fn bufs_head(self) -> u32 {
        // SAFETY: a live object (contract of `new`); one-field volatile read.
        unsafe { addr_of!((*self.ptr.as_ptr()).ni_bufs_head).read_volatile() }
    }

    /// Writes `ni_bufs_head`.
    pub fn set_bufs_head(self, v: u32) {
        // SAFETY: as for bufs_head.
        unsafe { addr_of_mut!((*self.ptr.as_ptr()).ni_bufs_head).write_volatile(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(128))]
    struct Obj {
        hdr: netmap_ring,
        slots: [netmap_slot; 4],
    }

    #[test]
    fn accessors_read_what_was_written_and_check_indices() {
        let mut obj = Obj {
            hdr: netmap_ring::default(),
            slots: [netmap_slot::default(); 4],
        };
        // SAFETY: obj is a header followed by 4 slots and outlives the handle.
        let r = unsafe { SharedRing::new(&mut obj.hdr, 4) };
        r.init_header(4096, 2048, 1, 0, 3);
        r.set_slot(
            2,
            netmap_slot {
                buf_idx: 7,
                len: 60,
                flags: 1,
                ptr: 0,
            },
        );
        r.set_len(3, 9);
        assert_eq!((r.head(), r.cur(), r.tail(), r.ringid()), (0, 0, 3, 1));
        assert_eq!((r.buf_idx(2), r.len(2), r.flags(2)), (7, 60, 1));
        assert_eq!(r.len(3), 9);
        assert!(std::panic::catch_unwind(|| r.slot(4)).is_err());
        assert_eq!(obj.slots[2].buf_idx, 7);
        assert_eq!(obj.hdr.num_slots, 4);
    }
}
