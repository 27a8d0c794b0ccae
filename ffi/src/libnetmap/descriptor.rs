//! The C structs of a port descriptor (`struct nmport_d`, its regions and cleanup records), their
//! layout as `libnetmap.h` declares it, and the few operations that touch a descriptor's raw
//! pointers: its context, its allocation and its cleanup list.

use std::ffi::{c_int, c_void};
use std::mem::offset_of;
use std::ptr::{self, NonNull};

use nmxdp::abi::{netmap_if, nmreq_header, nmreq_opt_extmem, nmreq_register, NETMAP_REQ_REGISTER};

use crate::nmctx::{nmctx, Ctx, Failure};

/// A mapped region shared by the ports of one context with the same mem id (48 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct nmem_d {
    pub mem_id: u16,
    pub refcount: c_int,
    pub mem: *mut c_void,
    pub size: usize,
    pub is_extmem: c_int,
    pub next: *mut nmem_d,
    pub prev: *mut nmem_d,
}

/// Cleanup record run by `nmport_do_cleanup` (the callback releases the record itself).
#[repr(C)]
#[derive(Debug)]
pub struct nmport_cleanup_d {
    pub next: *mut nmport_cleanup_d,
    pub cleanup: Option<unsafe extern "C" fn(*mut nmport_cleanup_d, *mut nmport_d)>,
}

/// libnetmap's port descriptor (216 bytes; docs/architecture.md, "C ABI").
///
/// Invariant relied on by the methods below: `ctx` is NULL or a live context, `clist` NULL or a
/// list of valid cleanup records, and `mem`/`nifp` NULL or what `nmport_mmap` set. Descriptors
/// come from this library, and C callers promise to pass them back as such.
#[repr(C)]
#[derive(Debug)]
pub struct nmport_d {
    pub hdr: nmreq_header,
    pub reg: nmreq_register,
    pub mem: *mut nmem_d,
    pub ctx: *mut nmctx,
    pub register_done: c_int,
    pub mmap_done: c_int,
    pub extmem: *mut nmreq_opt_extmem,
    pub fd: c_int,
    pub nifp: *mut netmap_if,
    pub first_tx_ring: u16,
    pub last_tx_ring: u16,
    pub first_rx_ring: u16,
    pub last_rx_ring: u16,
    pub cur_tx_ring: u16,
    pub cur_rx_ring: u16,
    pub clist: *mut nmport_cleanup_d,
}

const _: () = {
    assert!(size_of::<nmem_d>() == 48);
    assert!(offset_of!(nmem_d, mem_id) == 0);
    assert!(offset_of!(nmem_d, refcount) == 4);
    assert!(offset_of!(nmem_d, mem) == 8);
    assert!(offset_of!(nmem_d, size) == 16);
    assert!(offset_of!(nmem_d, is_extmem) == 24);
    assert!(offset_of!(nmem_d, next) == 32);
    assert!(offset_of!(nmem_d, prev) == 40);

    assert!(size_of::<nmport_cleanup_d>() == 16);

    assert!(size_of::<nmport_d>() == 216);
    assert!(align_of::<nmport_d>() == 8);
    assert!(offset_of!(nmport_d, hdr) == 0);
    assert!(offset_of!(nmport_d, reg) == 88);
    assert!(offset_of!(nmport_d, mem) == 144);
    assert!(offset_of!(nmport_d, ctx) == 152);
    assert!(offset_of!(nmport_d, register_done) == 160);
    assert!(offset_of!(nmport_d, mmap_done) == 164);
    assert!(offset_of!(nmport_d, extmem) == 168);
    assert!(offset_of!(nmport_d, fd) == 176);
    assert!(offset_of!(nmport_d, nifp) == 184);
    assert!(offset_of!(nmport_d, first_tx_ring) == 192);
    assert!(offset_of!(nmport_d, last_tx_ring) == 194);
    assert!(offset_of!(nmport_d, first_rx_ring) == 196);
    assert!(offset_of!(nmport_d, last_rx_ring) == 198);
    assert!(offset_of!(nmport_d, cur_tx_ring) == 200);
    assert!(offset_of!(nmport_d, cur_rx_ring) == 202);
    assert!(offset_of!(nmport_d, clist) == 208);
};

/// Longest cleanup list run (a looping list would otherwise hang).
const MAX_CLEANUPS: usize = 1 << 16;

impl nmport_d {
    /// A fresh, empty descriptor in `ctx`'s memory; the C caller owns it from then on.
    pub(crate) fn alloc(ctx: Ctx) -> Result<&'static mut nmport_d, Failure> {
        let d = ctx.malloc(size_of::<nmport_d>()).cast::<nmport_d>();
        if d.is_null() {
            return Err(Failure::new(
                libc::ENOMEM,
                "cannot allocate a port descriptor: out of memory",
            ));
        }
        // SAFETY: a fresh, malloc-aligned block of the descriptor's size, zeroed (padding too,
        // as upstream's calloc-like allocation leaves it) and then initialised; nothing else
        // refers to it yet.
        let d = unsafe {
            ptr::write_bytes(d.cast::<u8>(), 0, size_of::<nmport_d>());
            d.write(nmport_d {
                hdr: nmreq_header::default(),
                reg: nmreq_register::default(),
                mem: ptr::null_mut(),
                ctx: ctx.as_ptr(),
                register_done: 0,
                mmap_done: 0,
                extmem: ptr::null_mut(),
                fd: -1,
                nifp: ptr::null_mut(),
                first_tx_ring: 0,
                last_tx_ring: 0,
                first_rx_ring: 0,
                last_rx_ring: 0,
                cur_tx_ring: 0,
                cur_rx_ring: 0,
                clist: ptr::null_mut(),
            });
            &mut *d
        };
        d.init_hdr();
        Ok(d)
    }

    /// Runs the cleanups and gives the descriptor's memory back to its context.
    ///
    /// # Safety
    /// `d` came from [`nmport_d::alloc`] and is not used afterwards.
    pub(crate) unsafe fn free(d: &mut nmport_d) {
        d.do_cleanup();
        let ctx = d.ctx();
        // SAFETY: the context's own block (the caller's contract), freed once.
        unsafe { ctx.free(ptr::from_mut(d).cast()) };
    }

    /// The descriptor's context (the default one when NULL).
    pub(crate) fn ctx(&self) -> Ctx {
        // SAFETY: NULL or a live context (type invariant).
        unsafe { Ctx::from_raw(self.ctx) }
    }

    /// Port name for messages.
    pub(crate) fn name(&self) -> String {
        self.hdr.name()
    }

    /// (Re)initialises the header for a REGISTER request with `reg` as body.
    pub(crate) fn init_hdr(&mut self) {
        self.hdr = nmreq_header::init(NETMAP_REQ_REGISTER, ptr::addr_of_mut!(self.reg) as u64);
    }

    /// Runs (and unlinks) the cleanup records.
    pub(crate) fn do_cleanup(&mut self) {
        let mut n = 0;
        while let Some(c) = NonNull::new(self.clist).filter(|_| n < MAX_CLEANUPS) {
            // SAFETY: a valid cleanup record (type invariant).
            let (next, cb) = unsafe { ((*c.as_ptr()).next, (*c.as_ptr()).cleanup) };
            self.clist = next;
            if let Some(cb) = cb {
                // SAFETY: the callback the application linked with the record, called with the
                // record and its descriptor as libnetmap does; it may release the record.
                unsafe { cb(c.as_ptr(), ptr::from_mut(self)) };
            }
            n += 1;
        }
    }
}
