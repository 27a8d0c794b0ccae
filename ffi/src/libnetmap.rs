//! libnetmap's port descriptors (`struct nmport_d`): `nmport_open` and its pieces (prepare =
//! new + parse, open_desc = register + mmap), their undo functions, `nmport_clone`,
//! `nmport_inject`, and the option/extmem entry points.
//!
//! Kernel-facing calls go through `libc::open/ioctl/mmap/munmap/close`: inside libnetmap.so these
//! symbols resolve to the interposer, which emulates `/dev/netmap`.
//!
//! Regions are tracked per context (`nmctx.mem_descs`, one `nmem_d` per mem id, refcounted): a
//! second port with the same `nr_mem_id` reuses the first mapping (no second mmap), which is what
//! makes zero-copy between ports work (netmap-abi.md §6, §9.1, pitfall 6).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::offset_of;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use nmxdp::abi::{
    netmap_if, netmap_ring, nmreq_header, nmreq_opt_extmem, nmreq_opt_offsets, nmreq_pools_info,
    nmreq_register, ring_ofs_ptr, slot_ptr, NETMAP_API, NETMAP_REQ_OPT_OFFSETS,
    NETMAP_REQ_REGISTER, NIOCCTRL, NS_MOREFRAG,
};
use nmxdp::name::parse_port_with;
use nmxdp::Error;

use crate::nmctx::{
    ctx_free, ctx_lock, ctx_malloc, ctx_unlock, current, errno, fail, guard, nmctx, report,
    set_errno, strerror,
};
use crate::nmreq::{
    alloc_option, c_str, free_options, mem_id_of, option_name, options, report_error, NETMAP_DEVICE,
};

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

/// libnetmap's port descriptor (216 bytes, netmap-abi.md §9.2).
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

/// `@offset` (and nothing else) can be enabled with `nmport_enable_option("offset")`.
static OFFSET_ENABLED: AtomicBool = AtomicBool::new(false);

/// The fix shown whenever external memory is asked for.
const EXTMEM_UNSUPPORTED: &str = "external memory is not supported: nmxdp's netmap region is its \
                                  AF_XDP UMEM, which the library allocates itself (remove \
                                  @extmem / the nmport_extmem call)";

// ------------------------------------------------------------------------------------------------
// Internal helpers
// ------------------------------------------------------------------------------------------------

/// Port name of `d` for messages.
unsafe fn name_of(d: *const nmport_d) -> String {
    (*d).hdr.name()
}

/// (Re)initialises the header of `d` for a REGISTER request with `d->reg` as body.
unsafe fn init_hdr(d: *mut nmport_d) {
    (*d).hdr = nmreq_header::init(NETMAP_REQ_REGISTER, ptr::addr_of_mut!((*d).reg) as u64);
}

/// A fresh, zeroed descriptor of context `ctx`; NULL with errno ENOMEM (and a message).
unsafe fn new_with_ctx(ctx: *mut nmctx) -> *mut nmport_d {
    let d = ctx_malloc(ctx, size_of::<nmport_d>()).cast::<nmport_d>();
    if d.is_null() {
        fail(
            ctx,
            libc::ENOMEM,
            "cannot allocate a port descriptor: out of memory",
        );
        return ptr::null_mut();
    }
    ptr::write_bytes(d.cast::<u8>(), 0, size_of::<nmport_d>());
    (*d).ctx = ctx;
    (*d).fd = -1;
    init_hdr(d);
    d
}

unsafe fn delete(d: *mut nmport_d) {
    do_cleanup(d);
    ctx_free((*d).ctx, d.cast());
}

unsafe fn do_cleanup(d: *mut nmport_d) {
    let mut n = 0;
    while !(*d).clist.is_null() && n < 1 << 16 {
        let c = (*d).clist;
        (*d).clist = (*c).next;
        if let Some(cb) = (*c).cleanup {
            cb(c, d);
        }
        n += 1;
    }
}

/// Pushes an OFFSETS option allocated by the library.
unsafe fn push_offsets(
    d: *mut nmport_d,
    initial: u64,
    maxoff: u64,
    bits: u64,
    mingap: u64,
) -> c_int {
    let ctx = (*d).ctx;
    let o = alloc_option(ctx, size_of::<nmreq_opt_offsets>(), NETMAP_REQ_OPT_OFFSETS)
        .cast::<nmreq_opt_offsets>();
    if o.is_null() {
        fail(
            ctx,
            libc::ENOMEM,
            &format!("{}: cannot allocate the offsets option", name_of(d)),
        );
        return -1;
    }
    (*o).nro_initial_offset = initial;
    (*o).nro_max_offset = maxoff;
    (*o).nro_offset_bits = bits.min(u64::from(u32::MAX)) as u32;
    (*o).nro_min_gap = mingap;
    (*o).nro_opt.nro_next = (*d).hdr.nr_options;
    (*d).hdr.nr_options = o as u64;
    0
}

/// Fills `d` from `spec`; on error nothing is reported yet and `d` may be half filled.
unsafe fn parse_into(d: *mut nmport_d, spec: &str) -> Result<(), Error> {
    let p = parse_port_with(spec, OFFSET_ENABLED.load(Ordering::Relaxed))?;
    if let Some(x) = &p.extmem {
        return Err(Error::new(
            libc::EOPNOTSUPP,
            format!(
                "{}: option @extmem (file '{}'): {EXTMEM_UNSUPPORTED}",
                spec.escape_debug(),
                x.file.escape_debug()
            ),
        ));
    }
    (*d).hdr.set_name(&p.name)?;
    let reg = &mut (*d).reg;
    reg.nr_mode = p.mode;
    reg.nr_ringid = p.ringid;
    reg.nr_flags = p.flags;
    if p.mem_id != 0 {
        reg.nr_mem_id = p.mem_id;
    }
    let c = p.conf;
    if let Some(v) = c.tx_rings {
        reg.nr_tx_rings = v;
    }
    if let Some(v) = c.rx_rings {
        reg.nr_rx_rings = v;
    }
    if let Some(v) = c.host_tx_rings {
        reg.nr_host_tx_rings = v;
    }
    if let Some(v) = c.host_rx_rings {
        reg.nr_host_rx_rings = v;
    }
    if let Some(v) = c.tx_slots {
        reg.nr_tx_slots = v;
    }
    if let Some(v) = c.rx_slots {
        reg.nr_rx_slots = v;
    }
    if let Some(share) = &p.share {
        // libnetmap wants a full port spec here; a bare interface name is taken as netmap:NAME.
        let target = if share.starts_with("netmap") || share.starts_with("vale") {
            share.clone()
        } else {
            format!("netmap:{share}")
        };
        let (id, _) = mem_id_of(&target)
            .map_err(|e| e.context(format!("{}: option @share", spec.escape_debug())))?;
        if reg.nr_mem_id != 0 && reg.nr_mem_id != id {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "{}: @share={share} selects allocator {id} but allocator {} was already \
                     selected (give either @N or @share)",
                    spec.escape_debug(),
                    reg.nr_mem_id
                ),
            ));
        }
        reg.nr_mem_id = id;
    }
    if let Some(o) = p.offset {
        if push_offsets(d, o.initial, o.initial, u64::from(o.bits), 0) < 0 {
            return Err(Error::new(libc::ENOMEM, ""));
        }
    }
    Ok(())
}

unsafe fn undo_parse(d: *mut nmport_d) {
    do_cleanup(d);
    free_options(ptr::addr_of_mut!((*d).hdr));
    (*d).reg = nmreq_register::default();
    (*d).extmem = ptr::null_mut();
    init_hdr(d);
}

unsafe fn parse(d: *mut nmport_d, spec: *const c_char) -> c_int {
    let r = c_str(spec, "port name").and_then(|s| parse_into(d, s));
    match r {
        Ok(()) => 0,
        Err(e) => {
            report_error((*d).ctx, &e);
            let saved = errno();
            undo_parse(d);
            set_errno(saved);
            -1
        }
    }
}

unsafe fn register(d: *mut nmport_d) -> c_int {
    let ctx = (*d).ctx;
    if (*d).register_done != 0 {
        fail(
            ctx,
            libc::EINVAL,
            &format!("{}: port already registered", name_of(d)),
        );
        return -1;
    }
    if (*d).hdr.nr_version == 0 {
        (*d).hdr.nr_version = NETMAP_API as u16;
    }
    (*d).hdr.nr_reqtype = NETMAP_REQ_REGISTER;
    (*d).hdr.nr_body = ptr::addr_of_mut!((*d).reg) as u64;
    let fd = libc::open(NETMAP_DEVICE.as_ptr(), libc::O_RDWR);
    if fd < 0 {
        let e = errno();
        fail(ctx, e, &format!("cannot open /dev/netmap: {}", strerror(e)));
        return -1;
    }
    if libc::ioctl(fd, NIOCCTRL, ptr::addr_of_mut!((*d).hdr)) < 0 {
        let e = errno();
        let name = name_of(d);
        let mut any = false;
        for o in options(ptr::addr_of!((*d).hdr)) {
            let status = (*o).nro_status;
            if status != 0 {
                any = true;
                report(
                    ctx,
                    &format!(
                        "{name}: option {}: {}",
                        option_name((*o).nro_reqtype).to_string_lossy(),
                        strerror(status as c_int)
                    ),
                );
            }
        }
        if !any {
            report(ctx, &format!("{name}: {}", strerror(e)));
        }
        libc::close(fd);
        set_errno(e);
        return -1;
    }
    (*d).fd = fd;
    (*d).register_done = 1;
    0
}

unsafe fn undo_register(d: *mut nmport_d) {
    if (*d).fd >= 0 {
        libc::close((*d).fd);
    }
    (*d).fd = -1;
    (*d).register_done = 0;
}

/// `first` = first i < num with `ofs[base + i] != 0`, `last` = the first zero after it, minus 1;
/// no such ring: first = num, last = num - 1 (as 16-bit values, like libnetmap).
unsafe fn ring_range(ofs: *const isize, base: usize, num: usize) -> (u16, u16) {
    let mut first = 0;
    while first < num && *ofs.add(base + first) == 0 {
        first += 1;
    }
    let mut end = first;
    while end < num && *ofs.add(base + end) != 0 {
        end += 1;
    }
    (first as u16, (end as u16).wrapping_sub(1))
}

/// Unlinks `m` from `ctx`'s region list (lock held).
unsafe fn unlink_mem(ctx: *mut nmctx, m: *mut nmem_d) {
    if (*m).prev.is_null() {
        (*ctx).mem_descs = (*m).next;
    } else {
        (*(*m).prev).next = (*m).next;
    }
    if !(*m).next.is_null() {
        (*(*m).next).prev = (*m).prev;
    }
}

/// Finds (refcount + 1) or maps the region of `d`'s mem id. Returns it or an error (lock taken
/// and released here).
unsafe fn get_region(d: *mut nmport_d) -> Result<*mut nmem_d, Error> {
    let ctx = crate::nmctx::or_default((*d).ctx);
    let reg = &(*d).reg;
    let mem_id = reg.nr_mem_id;
    ctx_lock(ctx);
    let mut m = (*ctx).mem_descs;
    while !m.is_null() && ((*m).mem_id != mem_id || (*m).is_extmem != 0) {
        m = (*m).next;
    }
    let fresh = m.is_null();
    if fresh {
        let size = reg.nr_memsize as usize;
        let p = libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            (*d).fd,
            0,
        );
        if p == libc::MAP_FAILED {
            let e = errno();
            ctx_unlock(ctx);
            return Err(Error::new(
                e,
                format!(
                    "{}: cannot map the netmap region ({size} bytes, allocator {mem_id}): {}",
                    name_of(d),
                    strerror(e)
                ),
            ));
        }
        m = ctx_malloc(ctx, size_of::<nmem_d>()).cast();
        if m.is_null() {
            libc::munmap(p, size);
            ctx_unlock(ctx);
            return Err(Error::new(
                libc::ENOMEM,
                format!("{}: cannot allocate a region descriptor", name_of(d)),
            ));
        }
        ptr::write(
            m,
            nmem_d {
                mem_id,
                refcount: 0,
                mem: p,
                size,
                is_extmem: 0,
                next: (*ctx).mem_descs,
                prev: ptr::null_mut(),
            },
        );
        if !(*ctx).mem_descs.is_null() {
            (*(*ctx).mem_descs).prev = m;
        }
        (*ctx).mem_descs = m;
    }
    // The port's netmap_if must lie inside the mapping it reuses (the region may not grow).
    let end = reg.nr_offset.checked_add(size_of::<netmap_if>() as u64);
    if end.is_none_or(|e| e > (*m).size as u64) {
        let size = (*m).size;
        if (*m).refcount == 0 {
            unlink_mem(ctx, m);
            libc::munmap((*m).mem, size);
            ctx_free(ctx, m.cast());
        }
        ctx_unlock(ctx);
        return Err(Error::new(
            libc::EINVAL,
            format!(
                "{}: the port's netmap_if (offset {}) lies outside the {size}-byte region \
                 mapped for allocator {mem_id}",
                name_of(d),
                reg.nr_offset
            ),
        ));
    }
    (*m).refcount += 1;
    ctx_unlock(ctx);
    Ok(m)
}

unsafe fn mmap_port(d: *mut nmport_d) -> c_int {
    let ctx = (*d).ctx;
    if (*d).mmap_done != 0 {
        fail(
            ctx,
            libc::EINVAL,
            &format!("{}: port already mapped", name_of(d)),
        );
        return -1;
    }
    if (*d).register_done == 0 {
        fail(
            ctx,
            libc::EINVAL,
            &format!(
                "{}: cannot map a port that is not registered (call nmport_register first)",
                name_of(d)
            ),
        );
        return -1;
    }
    let m = match get_region(d) {
        Ok(m) => m,
        Err(e) => {
            report_error(ctx, &e);
            return -1;
        }
    };
    let nifp = (*m)
        .mem
        .cast::<u8>()
        .add((*d).reg.nr_offset as usize)
        .cast::<netmap_if>();
    (*d).mem = m;
    (*d).nifp = nifp;
    (*d).mmap_done = 1;
    let ofs = ring_ofs_ptr(nifp);
    let num_tx = usize::from((*d).reg.nr_tx_rings) + (*nifp).ni_host_tx_rings as usize;
    let num_rx = usize::from((*d).reg.nr_rx_rings) + (*nifp).ni_host_rx_rings as usize;
    let (ft, lt) = ring_range(ofs, 0, num_tx);
    let (fr, lr) = ring_range(ofs, num_tx, num_rx);
    (*d).first_tx_ring = ft;
    (*d).last_tx_ring = lt;
    (*d).first_rx_ring = fr;
    (*d).last_rx_ring = lr;
    (*d).cur_tx_ring = ft;
    (*d).cur_rx_ring = fr;
    0
}

unsafe fn undo_mmap(d: *mut nmport_d) {
    let m = (*d).mem;
    if (*d).mmap_done != 0 && !m.is_null() {
        let ctx = crate::nmctx::or_default((*d).ctx);
        ctx_lock(ctx);
        (*m).refcount -= 1;
        if (*m).refcount <= 0 {
            unlink_mem(ctx, m);
            if (*m).is_extmem == 0 {
                libc::munmap((*m).mem, (*m).size);
            }
            ctx_free(ctx, m.cast());
        }
        ctx_unlock(ctx);
    }
    (*d).mem = ptr::null_mut();
    (*d).nifp = ptr::null_mut();
    (*d).mmap_done = 0;
    (*d).first_tx_ring = 0;
    (*d).last_tx_ring = 0;
    (*d).first_rx_ring = 0;
    (*d).last_rx_ring = 0;
    (*d).cur_tx_ring = 0;
    (*d).cur_rx_ring = 0;
}

unsafe fn open_desc(d: *mut nmport_d) -> c_int {
    if register(d) < 0 {
        return -1;
    }
    if mmap_port(d) < 0 {
        let e = errno();
        undo_register(d);
        set_errno(e);
        return -1;
    }
    0
}

unsafe fn undo_open_desc(d: *mut nmport_d) {
    undo_mmap(d);
    undo_register(d);
}

unsafe fn prepare(spec: *const c_char) -> *mut nmport_d {
    let d = new_with_ctx(current());
    if d.is_null() {
        return d;
    }
    if parse(d, spec) < 0 {
        let e = errno();
        delete(d);
        set_errno(e);
        return ptr::null_mut();
    }
    d
}

unsafe fn undo_prepare(d: *mut nmport_d) {
    undo_parse(d);
    delete(d);
}

/// Copies `size` bytes into the TX ring `ring` at `cur` (NS_MOREFRAG chain of `nr_buf_size`
/// pieces when larger) and advances head = cur; false if the ring lacks room.
///
/// # Safety
/// `ring` points to a mapped netmap ring whose buffers lie at `buf_ofs` from it, and `buf` to
/// `size` readable bytes.
unsafe fn inject_ring(ring: *mut netmap_ring, buf: *const u8, size: usize) -> bool {
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
    if num == 0 || bs == 0 || cur >= num || tail >= num {
        return false;
    }
    // The slots from cur up to tail are the application's to fill.
    let room = nmxdp::abi::nm_ring_space(num, cur, tail) as usize;
    let need = size.div_ceil(bs).max(1);
    if need > room {
        return false;
    }
    // SAFETY: buf_ofs leads from the ring to its buffer pool, inside the same mapping.
    let pool = unsafe { ring.cast::<u8>().offset(buf_ofs as isize) };
    let mut i = cur;
    let mut done = 0;
    for k in 0..need {
        let len = bs.min(size - done);
        // SAFETY: i < num_slots (it starts at cur < num and nm_ring_next wraps), so the slot
        // exists; its buffer index names a buffer of bs bytes in the pool; len <= bs and
        // done + len <= size bytes of buf are read.
        unsafe {
            let slot = slot_ptr(ring, i);
            let dst = pool.add((*slot).buf_idx as usize * bs);
            if len > 0 {
                ptr::copy_nonoverlapping(buf.add(done), dst, len);
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

unsafe fn inject(d: *mut nmport_d, buf: *const c_void, size: usize) -> c_int {
    if d.is_null() || (*d).nifp.is_null() || (buf.is_null() && size > 0) {
        set_errno(libc::EINVAL);
        return 0;
    }
    let first = (*d).first_tx_ring;
    let last = (*d).last_tx_ring;
    if last < first || last == u16::MAX {
        return 0;
    }
    let nifp = (*d).nifp;
    let ofs = ring_ofs_ptr(nifp);
    let mut ri = (*d).cur_tx_ring;
    if ri < first || ri > last {
        ri = first;
    }
    for _ in first..=last {
        let ring = nifp
            .cast::<u8>()
            .offset(*ofs.add(usize::from(ri)))
            .cast::<netmap_ring>();
        if inject_ring(ring, buf.cast(), size) {
            (*d).cur_tx_ring = ri;
            return c_int::try_from(size).unwrap_or(c_int::MAX);
        }
        ri = if ri >= last { first } else { ri + 1 };
    }
    0
}

// ------------------------------------------------------------------------------------------------
// Exported functions
// ------------------------------------------------------------------------------------------------

/// A new, empty descriptor using the default context; NULL with errno on failure.
#[no_mangle]
pub unsafe extern "C" fn nmport_new() -> *mut nmport_d {
    guard(ptr::null_mut(), || new_with_ctx(current()))
}

/// Frees a descriptor (after running its cleanups); does not close anything.
#[no_mangle]
pub unsafe extern "C" fn nmport_delete(d: *mut nmport_d) {
    on_port_undo(d, delete)
}

/// Parses `spec` into `d` (name, mode, flags, mem id, `@conf`, `@share`, `@offset`).
/// 0, or -1 with errno and a message (the descriptor is then reset to empty).
#[no_mangle]
pub unsafe extern "C" fn nmport_parse(d: *mut nmport_d, spec: *const c_char) -> c_int {
    guard(-1, || {
        if d.is_null() {
            set_errno(libc::EINVAL);
            return -1;
        }
        parse(d, spec)
    })
}

/// Forgets what `nmport_parse` set (frees the library's options, clears hdr and reg).
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_parse(d: *mut nmport_d) {
    on_port_undo(d, undo_parse)
}

/// The C entry pattern for descriptor calls: a NULL descriptor is EINVAL, a panic is EIO.
fn on_port(d: *mut nmport_d, f: unsafe fn(*mut nmport_d) -> c_int) -> c_int {
    guard(-1, || {
        if d.is_null() {
            set_errno(libc::EINVAL);
            return -1;
        }
        // SAFETY: d is non-NULL and, by the C API's contract, a descriptor from this library.
        unsafe { f(d) }
    })
}

/// The same for the undo calls, which do nothing on NULL.
fn on_port_undo(d: *mut nmport_d, f: unsafe fn(*mut nmport_d)) {
    guard((), || {
        if !d.is_null() {
            // SAFETY: as in on_port.
            unsafe { f(d) }
        }
    })
}

/// `nmport_new` + `nmport_parse`; NULL with errno on failure.
#[no_mangle]
pub unsafe extern "C" fn nmport_prepare(spec: *const c_char) -> *mut nmport_d {
    guard(ptr::null_mut(), || prepare(spec))
}

#[no_mangle]
pub unsafe extern "C" fn nmport_undo_prepare(d: *mut nmport_d) {
    on_port_undo(d, undo_prepare)
}

/// Opens `/dev/netmap` and registers the port (NIOCCTRL REGISTER). 0, or -1 with errno.
#[no_mangle]
pub unsafe extern "C" fn nmport_register(d: *mut nmport_d) -> c_int {
    on_port(d, register)
}

#[no_mangle]
pub unsafe extern "C" fn nmport_undo_register(d: *mut nmport_d) {
    on_port_undo(d, undo_register)
}

/// Maps the port's region (or reuses this context's mapping of the same mem id) and computes the
/// ring ranges. 0, or -1 with errno.
#[no_mangle]
pub unsafe extern "C" fn nmport_mmap(d: *mut nmport_d) -> c_int {
    on_port(d, mmap_port)
}

#[no_mangle]
pub unsafe extern "C" fn nmport_undo_mmap(d: *mut nmport_d) {
    on_port_undo(d, undo_mmap)
}

/// `nmport_register` + `nmport_mmap`. 0, or -1 with errno (nothing left open).
#[no_mangle]
pub unsafe extern "C" fn nmport_open_desc(d: *mut nmport_d) -> c_int {
    on_port(d, open_desc)
}

#[no_mangle]
pub unsafe extern "C" fn nmport_undo_open_desc(d: *mut nmport_d) {
    on_port_undo(d, undo_open_desc)
}

/// `nmport_prepare` + `nmport_open_desc`: a registered, mapped port, or NULL with errno (after a
/// message).
#[no_mangle]
pub unsafe extern "C" fn nmport_open(spec: *const c_char) -> *mut nmport_d {
    guard(ptr::null_mut(), || {
        let d = prepare(spec);
        if d.is_null() {
            return d;
        }
        if open_desc(d) < 0 {
            let e = errno();
            undo_prepare(d);
            set_errno(e);
            return ptr::null_mut();
        }
        d
    })
}

/// Undoes everything `nmport_open` did and frees `d`.
#[no_mangle]
pub unsafe extern "C" fn nmport_close(d: *mut nmport_d) {
    guard((), || {
        if d.is_null() {
            return;
        }
        undo_open_desc(d);
        undo_prepare(d);
    })
}

/// A new unregistered descriptor with copies of `d`'s header and register body (no options),
/// same context. Callers typically change `reg.nr_mode`/`nr_ringid` and call `nmport_open_desc`;
/// the clone then shares `d`'s mapping (same mem id).
#[no_mangle]
pub unsafe extern "C" fn nmport_clone(d: *mut nmport_d) -> *mut nmport_d {
    guard(ptr::null_mut(), || {
        if d.is_null() {
            set_errno(libc::EINVAL);
            return ptr::null_mut();
        }
        let c = new_with_ctx((*d).ctx);
        if c.is_null() {
            return c;
        }
        (*c).hdr = (*d).hdr;
        (*c).hdr.nr_options = 0;
        (*c).hdr.nr_body = ptr::addr_of_mut!((*c).reg) as u64;
        (*c).reg = (*d).reg;
        c
    })
}

/// Copies one packet into the first TX ring with room, from `cur_tx_ring` on (NS_MOREFRAG chain
/// when larger than a buffer), advancing head = cur. Returns `size`, or 0 if no ring has room.
/// No sync is issued.
#[no_mangle]
pub unsafe extern "C" fn nmport_inject(d: *mut nmport_d, buf: *const c_void, size: usize) -> c_int {
    guard(0, || inject(d, buf, size))
}

/// Not supported: -1 with errno EOPNOTSUPP (nmxdp's region is its AF_XDP UMEM).
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem(
    d: *mut nmport_d,
    _base: *mut c_void,
    _size: usize,
) -> c_int {
    guard(-1, || {
        let (ctx, name) = if d.is_null() {
            (ptr::null_mut(), String::from("nmport_extmem"))
        } else {
            ((*d).ctx, name_of(d))
        };
        fail(
            ctx,
            libc::EOPNOTSUPP,
            &format!("{name}: {EXTMEM_UNSUPPORTED}"),
        );
        -1
    })
}

/// Not supported: -1 with errno EOPNOTSUPP.
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem_from_file(d: *mut nmport_d, fname: *const c_char) -> c_int {
    guard(-1, || {
        let file = if fname.is_null() {
            String::new()
        } else {
            CStr::from_ptr(fname).to_string_lossy().into_owned()
        };
        let (ctx, name) = if d.is_null() {
            (ptr::null_mut(), String::from("nmport_extmem_from_file"))
        } else {
            ((*d).ctx, name_of(d))
        };
        fail(
            ctx,
            libc::EOPNOTSUPP,
            &format!("{name}: file '{file}': {EXTMEM_UNSUPPORTED}"),
        );
        -1
    })
}

/// Always NULL: no port uses external memory.
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem_getinfo(_d: *mut nmport_d) -> *mut nmreq_pools_info {
    ptr::null_mut()
}

/// Asks for per-slot offsets by pushing an OFFSETS option. nmxdp ports do not support offsets,
/// so the registration then fails with EOPNOTSUPP, as netmap does for such ports.
#[no_mangle]
pub unsafe extern "C" fn nmport_offset(
    d: *mut nmport_d,
    initial: u64,
    maxoff: u64,
    bits: u64,
    mingap: u64,
) -> c_int {
    guard(-1, || {
        if d.is_null() {
            set_errno(libc::EINVAL);
            return -1;
        }
        push_offsets(d, initial, maxoff, bits, mingap)
    })
}

unsafe fn set_option(opt: *const c_char, on: bool) -> c_int {
    let name = if opt.is_null() {
        String::from("(null)")
    } else {
        CStr::from_ptr(opt).to_string_lossy().into_owned()
    };
    if name == "offset" {
        OFFSET_ENABLED.store(on, Ordering::Relaxed);
        return 0;
    }
    fail(
        ptr::null_mut(),
        libc::EOPNOTSUPP,
        &format!(
            "unknown option '{name}' (the only option that can be enabled or disabled is 'offset')"
        ),
    );
    -1
}

/// Enables a libnetmap option that is off by default ("offset" is the only one).
#[no_mangle]
pub unsafe extern "C" fn nmport_enable_option(opt: *const c_char) -> c_int {
    guard(-1, || set_option(opt, true))
}

#[no_mangle]
pub unsafe extern "C" fn nmport_disable_option(opt: *const c_char) -> c_int {
    guard(-1, || set_option(opt, false))
}

/// Runs (and unlinks) the cleanup records of `d`.
#[no_mangle]
pub unsafe extern "C" fn nmport_do_cleanup(d: *mut nmport_d) {
    on_port_undo(d, do_cleanup)
}

/// Cleanup callback of upstream's extmem support; this library never installs it and has
/// nothing to release, so it does nothing.
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem_cleanup(_c: *mut nmport_cleanup_d, _d: *mut nmport_d) {}

/// Same as [`nmport_extmem_cleanup`], for `nmport_extmem_from_file`.
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem_from_file_cleanup(
    _c: *mut nmport_cleanup_d,
    _d: *mut nmport_d,
) {
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmctx::tests::CTX_TEST;
    use nmxdp::abi::{netmap_slot, NR_REG_ONE_NIC, NR_TX_RINGS_ONLY};
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
        let prev = unsafe { crate::nmctx::nmctx_set_default(quiet) };
        Quiet { prev, _g: g }
    }

    fn prep(spec: &str) -> *mut nmport_d {
        let c = CString::new(spec).unwrap();
        unsafe { nmport_prepare(c.as_ptr()) }
    }

    #[test]
    fn prepare_fills_descriptor() {
        let _g = lock();
        let d = prep("netmap:eth0-1/T@conf:slots=256");
        assert!(!d.is_null());
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
            assert_eq!((*d).ctx, current());

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
        unsafe {
            assert!(nmport_prepare(ptr::null()).is_null());
            assert_eq!(errno(), libc::EINVAL);
        }
    }

    #[test]
    fn offset_option_enable() {
        let _g = lock();
        unsafe {
            assert_eq!(nmport_enable_option(c"bogus".as_ptr()), -1);
            assert_eq!(errno(), libc::EOPNOTSUPP);
            assert_eq!(nmport_enable_option(c"offset".as_ptr()), 0);
            let d = prep("netmap:eth0@offset:initial=64,bits=16");
            assert_eq!(nmport_disable_option(c"offset".as_ptr()), 0);
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
    const BUF: u32 = 64;

    impl Fake {
        fn new(rings: usize) -> Fake {
            let ring_size = 256 + 16 * SLOTS as usize;
            let ring_area = 4096;
            let pool = ring_area + rings * ring_size.next_multiple_of(128);
            let nbufs = rings * SLOTS as usize + 2;
            let layout = Layout::from_size_align(pool + nbufs * BUF as usize, 4096).unwrap();
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
            let mut d: nmport_d = unsafe { std::mem::zeroed() };
            d.nifp = self.nifp;
            d.fd = -1;
            d.first_tx_ring = 0;
            d.last_tx_ring = self.rings.len() as u16 - 1;
            d.cur_tx_ring = 0;
            d
        }

        unsafe fn slot(&self, r: usize, i: u32) -> netmap_slot {
            *slot_ptr(self.rings[r], i)
        }

        unsafe fn data(&self, r: usize, i: u32, len: usize) -> Vec<u8> {
            let ring = self.rings[r];
            let s = self.slot(r, i);
            let p = ring
                .cast::<u8>()
                .offset((*ring).buf_ofs as isize)
                .add(s.buf_idx as usize * BUF as usize);
            std::slice::from_raw_parts(p, len).to_vec()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            unsafe { dealloc(self.mem, self.layout) }
        }
    }

    #[test]
    fn ring_ranges() {
        let f = Fake::new(2);
        unsafe {
            let ofs = ring_ofs_ptr(f.nifp);
            // TX: rings 0,1 bound, host TX (index 2) not; RX (3..6) unbound.
            assert_eq!(ring_range(ofs, 0, 3), (0, 1));
            assert_eq!(ring_range(ofs, 3, 3), (3, 2));
            *ofs.add(0) = 0;
            assert_eq!(ring_range(ofs, 0, 3), (1, 1));
            assert_eq!(ring_range(ofs, 0, 0), (0, u16::MAX));
        }
    }

    #[test]
    fn inject_fills_slots_and_splits() {
        let f = Fake::new(1);
        let mut d = f.port();
        let pkt: Vec<u8> = (0..=255u8).collect();
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
}
