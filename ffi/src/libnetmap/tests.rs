//! Unit tests of the descriptor entry points, with a fake region for the ring code.

use super::steps::ring_range;
use super::*;
use crate::nmctx::tests::CTX_TEST;
use crate::nmctx::{nmctx, set_errno, Ctx};
use nmxdp::abi::{
    netmap_if, netmap_ring, netmap_slot, nmreq_opt_offsets, ring_ofs_ptr, slot_ptr,
    NETMAP_REQ_OPT_OFFSETS, NETMAP_REQ_REGISTER, NR_REG_ONE_NIC, NR_TX_RINGS_ONLY, NS_MOREFRAG,
};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::CString;
use std::sync::MutexGuard;

/// Serialises with the other context tests and silences the default context meanwhile.
struct Quiet {
    prev: *mut nmctx,
    _g: MutexGuard<'static, ()>,
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: the previous default, live for the whole process.
        unsafe { crate::nmctx::nmctx_set_default(self.prev) };
    }
}

fn lock() -> Quiet {
    let g = CTX_TEST.lock().unwrap_or_else(|e| e.into_inner());
    let quiet = Box::leak(Box::new(nmctx {
        verbose: 0,
        error: None,
        malloc: None,
        free: None,
        lock: None,
        mem_descs: ptr::null_mut(),
    }));
    // SAFETY: a leaked context, live for the whole process.
    let prev = unsafe { crate::nmctx::nmctx_set_default(quiet) };
    Quiet { prev, _g: g }
}

fn prep(spec: &str) -> *mut nmport_d {
    let c = CString::new(spec).unwrap();
    // SAFETY: a valid C string.
    unsafe { nmport_prepare(c.as_ptr()) }
}

#[test]
fn prepare_fills_descriptor() {
    let _g = lock();
    let d = prep("netmap:eth0-1/T@conf:slots=256");
    assert!(!d.is_null());
    // SAFETY: descriptors from nmport_prepare/nmport_clone, closed once, fields read while alive.
    unsafe {
        assert_eq!((*d).hdr.name(), "eth0");
        assert_eq!((*d).hdr.nr_version, 14);
        assert_eq!((*d).hdr.nr_reqtype, NETMAP_REQ_REGISTER);
        assert_eq!((*d).hdr.nr_body, ptr::addr_of_mut!((*d).reg) as u64);
        assert_eq!((*d).hdr.nr_options, 0);
        assert_eq!((*d).reg.nr_mode, NR_REG_ONE_NIC);
        assert_eq!((*d).reg.nr_ringid, 1);
        assert_eq!((*d).reg.nr_flags, NR_TX_RINGS_ONLY);
        assert_eq!((*d).reg.nr_tx_slots, 256);
        assert_eq!((*d).reg.nr_rx_slots, 256);
        assert_eq!((*d).reg.nr_tx_rings, 0);
        assert_eq!((*d).fd, -1);
        assert_eq!((*d).register_done, 0);
        assert_eq!((*d).mmap_done, 0);
        assert_eq!((*d).ctx, Ctx::current().as_ptr());

        let c = nmport_clone(d);
        assert!(!c.is_null());
        assert_eq!((*c).hdr.name(), "eth0");
        assert_eq!((*c).hdr.nr_body, ptr::addr_of_mut!((*c).reg) as u64);
        assert_eq!((*c).reg, (*d).reg);
        assert_eq!((*c).fd, -1);
        assert_eq!((*c).ctx, (*d).ctx);
        nmport_close(c);
        nmport_close(d);
    }
    let d = prep("vale0:p@conf:rings=4,slots=512@7");
    // `@7` after options is not a mem id: the whole thing must fail cleanly.
    assert!(d.is_null());
    let d = prep("vale0:p@3@conf:tx-rings=2,rx-rings=3,host-rings=2");
    assert!(!d.is_null());
    // SAFETY: as above.
    unsafe {
        assert_eq!((*d).hdr.name(), "vale0:p");
        assert_eq!((*d).reg.nr_mem_id, 3);
        assert_eq!(
            (
                (*d).reg.nr_tx_rings,
                (*d).reg.nr_rx_rings,
                (*d).reg.nr_host_tx_rings,
                (*d).reg.nr_host_rx_rings
            ),
            (2, 3, 2, 2)
        );
        nmport_close(d);
    }
}

#[test]
fn prepare_errors() {
    let _g = lock();
    for (spec, e) in [
        ("bad", libc::EINVAL),
        ("netmap:", libc::EINVAL),
        ("netmap:eth0@conf=4", libc::EINVAL),
        ("netmap:eth0@offset=64", libc::EOPNOTSUPP),
        ("netmap:eth0@extmem=/tmp/x", libc::EOPNOTSUPP),
    ] {
        set_errno(0);
        assert!(prep(spec).is_null(), "{spec}");
        assert_eq!(errno(), e, "{spec}");
    }
    // SAFETY: valid C strings; descriptors closed once and read while alive.
    unsafe {
        assert!(nmport_prepare(ptr::null()).is_null());
        assert_eq!(errno(), libc::EINVAL);
    }
}

#[test]
fn offset_option_enable() {
    let _g = lock();
    // SAFETY: a prepared descriptor, closed last; NULL is allowed by every call.
    unsafe {
        assert_eq!(nmport_enable_option(c"bogus".as_ptr()), -1);
        assert_eq!(errno(), libc::EOPNOTSUPP);
        assert_eq!(nmport_enable_option(c"offset".as_ptr()), 0);
        let d = prep("netmap:eth0@offset:initial=64,bits=16");
        nmport_disable_option(c"offset".as_ptr());
        // Unknown names are ignored, as upstream's void function does.
        nmport_disable_option(c"bogus".as_ptr());
        assert!(!d.is_null());
        let o = (*d).hdr.nr_options as *mut nmreq_opt_offsets;
        assert!(!o.is_null());
        assert_eq!((*o).nro_opt.nro_reqtype, NETMAP_REQ_OPT_OFFSETS);
        assert_eq!((*o).nro_initial_offset, 64);
        assert_eq!((*o).nro_max_offset, 64);
        assert_eq!((*o).nro_offset_bits, 16);
        assert_eq!(nmport_offset(d, 1, 2, 3, 4), 0);
        let o2 = (*d).hdr.nr_options as *mut nmreq_opt_offsets;
        assert_eq!((*o2).nro_opt.nro_next, o as u64);
        assert_eq!((*o2).nro_min_gap, 4);
        nmport_close(d);
        assert!(prep("netmap:eth0@offset=64").is_null());
    }
}

#[test]
fn extmem_is_refused() {
    let _g = lock();
    let d = prep("netmap:eth0");
    // SAFETY: a prepared descriptor, closed once.
    unsafe {
        set_errno(0);
        assert_eq!(nmport_extmem(d, ptr::null_mut(), 4096), -1);
        assert_eq!(errno(), libc::EOPNOTSUPP);
        assert_eq!(nmport_extmem_from_file(d, c"/tmp/x".as_ptr()), -1);
        assert_eq!(errno(), libc::EOPNOTSUPP);
        assert!(nmport_extmem_getinfo(d).is_null());
        nmport_do_cleanup(d);
        nmport_extmem_cleanup(ptr::null_mut(), d);
        nmport_extmem_from_file_cleanup(ptr::null_mut(), d);
        nmport_close(d);
        nmport_close(ptr::null_mut());
    }
}

#[test]
fn open_of_a_missing_port_fails() {
    let _g = lock();
    set_errno(0);
    // SAFETY: a valid C string.
    let d = unsafe { nmport_open(c"netmap:nmxdp_nope0".as_ptr()) };
    assert!(d.is_null());
    // ENOENT without the interposer (no /dev/netmap), ENXIO (no such interface) with it.
    assert!(
        [libc::ENOENT, libc::ENXIO].contains(&errno()),
        "{}",
        errno()
    );
}

#[test]
fn mmap_without_register_fails() {
    let _g = lock();
    let d = prep("netmap:eth0");
    // SAFETY: a prepared descriptor, closed once.
    unsafe {
        assert_eq!(nmport_mmap(d), -1);
        assert_eq!(errno(), libc::EINVAL);
        nmport_close(d);
    }
}

/// A fake region: netmap_if at 0, `rings` TX rings (plus one host TX and one RX with
/// ring_ofs 0 / bound as asked), slots and a buffer pool, all in one page-aligned allocation.
struct Fake {
    mem: *mut u8,
    layout: Layout,
    nifp: *mut netmap_if,
    rings: Vec<*mut netmap_ring>,
}

const SLOTS: u32 = 8;
/// Buffer stride of the fake region: a slot carries `BUF - 256` = 64 bytes (the kernel's
/// headroom takes the rest).
const BUF: u32 = 320;

impl Fake {
    fn new(rings: usize) -> Fake {
        let ring_size = 256 + 16 * SLOTS as usize;
        let ring_area = 4096;
        let pool = ring_area + rings * ring_size.next_multiple_of(128);
        let nbufs = rings * SLOTS as usize + 2;
        let layout = Layout::from_size_align(pool + nbufs * BUF as usize, 4096).unwrap();
        // SAFETY: a fresh zeroed page-aligned block holding the netmap_if, rings and buffers written here.
        unsafe {
            let mem = alloc_zeroed(layout);
            let nifp = mem.cast::<netmap_if>();
            (*nifp).ni_tx_rings = rings as u32;
            (*nifp).ni_rx_rings = rings as u32;
            (*nifp).ni_host_tx_rings = 1;
            (*nifp).ni_host_rx_rings = 1;
            let ofs = ring_ofs_ptr(nifp);
            let mut v = Vec::new();
            for r in 0..rings {
                let off = ring_area + r * ring_size.next_multiple_of(128);
                let ring = mem.add(off).cast::<netmap_ring>();
                *ofs.add(r) = off as isize;
                (*ring).num_slots = SLOTS;
                (*ring).nr_buf_size = BUF;
                (*ring).buf_ofs = pool as i64 - off as i64;
                (*ring).tail = SLOTS - 1;
                for s in 0..SLOTS {
                    let slot: *mut netmap_slot = slot_ptr(ring, s);
                    (*slot).buf_idx = 2 + r as u32 * SLOTS + s;
                    (*slot).len = BUF as u16;
                    (*slot).flags = 0x1;
                }
                v.push(ring);
            }
            Fake {
                mem,
                layout,
                nifp,
                rings: v,
            }
        }
    }

    fn port(&self) -> nmport_d {
        // SAFETY: nmport_d is plain data: all zeroes is a valid (empty) value.
        let mut d: nmport_d = unsafe { std::mem::zeroed() };
        d.nifp = self.nifp;
        d.fd = -1;
        d.first_tx_ring = 0;
        d.last_tx_ring = self.rings.len() as u16 - 1;
        d.cur_tx_ring = 0;
        d
    }

    unsafe fn slot(&self, r: usize, i: u32) -> netmap_slot {
        // SAFETY: slot i < SLOTS of a ring of the fake region (the caller's contract).
        unsafe { *slot_ptr(self.rings[r], i) }
    }

    unsafe fn data(&self, r: usize, i: u32, len: usize) -> Vec<u8> {
        let ring = self.rings[r];
        // SAFETY: the slot's buffer lies in the fake region's pool, `len` <= BUF bytes of it.
        unsafe {
            let s = self.slot(r, i);
            let p = ring
                .cast::<u8>()
                .offset((*ring).buf_ofs as isize)
                .add(s.buf_idx as usize * BUF as usize);
            std::slice::from_raw_parts(p, len).to_vec()
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.mem, self.layout) }
    }
}

#[test]
fn ring_ranges() {
    let f = Fake::new(2);
    // SAFETY: six ring offsets follow the fake netmap_if.
    unsafe {
        let ofs = std::slice::from_raw_parts_mut(ring_ofs_ptr(f.nifp), 6);
        // TX: rings 0,1 bound, host TX (index 2) not; RX (3..6) unbound.
        assert_eq!(ring_range(&ofs[..3]), (0, 1));
        assert_eq!(ring_range(&ofs[3..]), (3, 2));
        ofs[0] = 0;
        assert_eq!(ring_range(&ofs[..3]), (1, 1));
        assert_eq!(ring_range(&[]), (0, u16::MAX));
    }
}

#[test]
fn inject_fills_slots_and_splits() {
    let f = Fake::new(1);
    let mut d = f.port();
    let pkt: Vec<u8> = (0..=255u8).collect();
    // SAFETY: `d` describes the fake region, whose rings outlive the calls; the packet is 256 bytes.
    unsafe {
        // 10 bytes: one slot.
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 10), 10);
        let r = f.rings[0];
        assert_eq!(((*r).head, (*r).cur), (1, 1));
        assert_eq!(f.slot(0, 0).len, 10);
        assert_eq!(f.slot(0, 0).flags, 0);
        assert_eq!(f.data(0, 0, 10), pkt[..10]);
        // 150 bytes: 64 + 64 + 22 with NS_MOREFRAG on all but the last.
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 150), 150);
        assert_eq!(((*r).head, (*r).cur), (4, 4));
        let lens: Vec<u16> = (1..4).map(|i| f.slot(0, i).len).collect();
        let flags: Vec<u16> = (1..4).map(|i| f.slot(0, i).flags).collect();
        assert_eq!(lens, [64, 64, 22]);
        assert_eq!(flags, [NS_MOREFRAG, NS_MOREFRAG, 0]);
        assert_eq!(f.data(0, 1, 64), pkt[..64]);
        assert_eq!(f.data(0, 2, 64), pkt[64..128]);
        assert_eq!(f.data(0, 3, 22), pkt[128..150]);
        // 3 slots left (4, 5, 6; tail = 7): 193 bytes need 4 -> no room, nothing changes.
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 193), 0);
        assert_eq!(((*r).head, (*r).cur), (4, 4));
        assert_eq!(f.slot(0, 4).flags, 0x1);
        // Exactly 3 slots fit.
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 192), 192);
        assert_eq!(((*r).head, (*r).cur), (7, 7));
        // Full now.
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 1), 0);
        // The "kernel" frees everything: tail = head - 1, wrapping injections.
        (*r).tail = 6;
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 100), 100);
        assert_eq!(((*r).head, (*r).cur), (1, 1));
        assert_eq!((f.slot(0, 7).len, f.slot(0, 7).flags), (64, NS_MOREFRAG));
        assert_eq!((f.slot(0, 0).len, f.slot(0, 0).flags), (36, 0));
        assert_eq!(f.data(0, 0, 36), pkt[64..100]);
    }
}

#[test]
fn inject_moves_to_the_next_ring() {
    let f = Fake::new(2);
    let mut d = f.port();
    let pkt = [0xabu8; 60];
    // SAFETY: as above; the packet is 60 bytes.
    unsafe {
        // Ring 0 holds 7 frames, then injection continues on ring 1 and stays there.
        for _ in 0..7 {
            assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 60), 60);
        }
        assert_eq!(d.cur_tx_ring, 0);
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 60), 60);
        assert_eq!(d.cur_tx_ring, 1);
        assert_eq!((*f.rings[1]).head, 1);
        for _ in 0..6 {
            assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 60), 60);
        }
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 60), 0);
        // Room again on ring 0 only: found by wrapping around.
        let r0 = f.rings[0];
        (*r0).tail = 6;
        assert_eq!(nmport_inject(&mut d, pkt.as_ptr().cast(), 60), 60);
        assert_eq!(d.cur_tx_ring, 0);
        // No rings / not mapped.
        let mut empty = f.port();
        empty.first_tx_ring = 2;
        empty.last_tx_ring = 1;
        assert_eq!(nmport_inject(&mut empty, pkt.as_ptr().cast(), 60), 0);
        empty.nifp = ptr::null_mut();
        assert_eq!(nmport_inject(&mut empty, pkt.as_ptr().cast(), 60), 0);
    }
}
