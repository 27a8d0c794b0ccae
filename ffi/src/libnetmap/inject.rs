//! `nmport_inject`: one packet copied into the first TX ring with room.

use std::ffi::c_int;
use std::ptr;

use nmxdp::abi::{netmap_ring, ring_ofs_ptr, slot_ptr, NS_MOREFRAG};

use super::descriptor::nmport_d;

/// Copies `size` bytes into the TX ring `ring` at `cur` (NS_MOREFRAG chain of pieces of what
/// a slot carries, `nr_buf_size` less the kernel's headroom, when larger) and advances
/// head = cur; false if the ring lacks room.
///
/// # Safety
/// `ring` points to a mapped netmap ring whose buffers lie at `buf_ofs` from it.
unsafe fn inject_ring(ring: *mut netmap_ring, buf: &[u8]) -> bool {
    let size = buf.len();
    // SAFETY: the ring header is mapped (the caller's contract); the kernel side may change the
    // fields at any time, hence volatile reads.
    let (num, bs, cur, tail, buf_ofs) = unsafe {
        (
            ptr::read_volatile(ptr::addr_of!((*ring).num_slots)),
            ptr::read_volatile(ptr::addr_of!((*ring).nr_buf_size)) as usize,
            ptr::read_volatile(ptr::addr_of!((*ring).cur)),
            ptr::read_volatile(ptr::addr_of!((*ring).tail)),
            ptr::read_volatile(ptr::addr_of!((*ring).buf_ofs)),
        )
    };
    // A slot carries a buffer less its first XDP_PACKET_HEADROOM bytes (docs/netmap-compat.md,
    // "A buffer holds less than nr_buf_size"): longer slots would be refused by the sync.
    let piece = bs.saturating_sub(nmxdp::sys::XDP_PACKET_HEADROOM as usize);
    if num == 0 || piece == 0 || cur >= num || tail >= num {
        return false;
    }
    // The slots from cur up to tail are the application's to fill.
    let room = nmxdp::abi::nm_ring_space(num, cur, tail) as usize;
    let need = size.div_ceil(piece).max(1);
    if need > room {
        return false;
    }
    // SAFETY: buf_ofs leads from the ring to its buffer pool, inside the same mapping.
    let pool = unsafe { ring.cast::<u8>().offset(buf_ofs as isize) };
    let mut i = cur;
    let mut done = 0;
    for k in 0..need {
        let len = piece.min(size - done);
        // SAFETY: i < num_slots (it starts at cur < num and nm_ring_next wraps), so the slot
        // exists; its buffer index names a buffer of bs bytes in the pool, and len <= piece < bs.
        unsafe {
            let slot = slot_ptr(ring, i);
            let dst = pool.add((*slot).buf_idx as usize * bs);
            if len > 0 {
                ptr::copy_nonoverlapping(buf[done..done + len].as_ptr(), dst, len);
            }
            (*slot).len = len as u16;
            (*slot).flags = if k + 1 < need { NS_MOREFRAG } else { 0 };
        }
        done += len;
        i = nmxdp::abi::nm_ring_next(num, i);
    }
    // SAFETY: the ring header is mapped and writable by the application.
    unsafe {
        ptr::write_volatile(ptr::addr_of_mut!((*ring).head), i);
        ptr::write_volatile(ptr::addr_of_mut!((*ring).cur), i);
    }
    true
}

/// Copies `buf` into the first TX ring with room, from `cur_tx_ring` on; returns its length, or
/// 0 if no ring has room.
pub(super) fn inject(d: &mut nmport_d, buf: &[u8]) -> c_int {
    let first = d.first_tx_ring;
    let last = d.last_tx_ring;
    if last < first || last == u16::MAX || d.nifp.is_null() {
        return 0;
    }
    let nifp = d.nifp;
    let mut ri = d.cur_tx_ring;
    if ri < first || ri > last {
        ri = first;
    }
    for _ in first..=last {
        // SAFETY: `nifp` is the port's mapped netmap_if (set by nmport_mmap) and rings
        // first..=last are bound TX rings, whose offsets lead to rings of the same mapping.
        let sent = unsafe {
            let ofs = *ring_ofs_ptr(nifp).add(usize::from(ri));
            let ring = nifp.cast::<u8>().offset(ofs).cast::<netmap_ring>();
            inject_ring(ring, buf)
        };
        if sent {
            d.cur_tx_ring = ri;
            return c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
        }
        ri = if ri >= last { first } else { ri + 1 };
    }
    0
}
