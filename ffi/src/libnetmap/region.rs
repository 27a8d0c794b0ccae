//! The regions mapped by a context's ports (`nmctx.mem_descs`, one `nmem_d` per mem id,
//! refcounted). A second port with the same `nr_mem_id` reuses the first mapping (no second
//! mmap): that is what makes zero-copy between ports work (docs/netmap-compat.md, "Memory region
//! and mem id").
//!
//! Region records are allocated here with the context's allocator and only read or changed here,
//! with the context locked.

use std::ffi::c_int;
use std::ptr::{self, NonNull};

use nmxdp::abi::{netmap_if, nmreq_register};

use super::descriptor::nmem_d;
use crate::nmctx::{errno, strerror, Ctx, Failure, Locked};

/// Unlinks `m` from the context's list.
fn unlink(l: &mut Locked, m: NonNull<nmem_d>) {
    // SAFETY: `m` and its neighbours are records of this list, made by `acquire`, and the list
    // is ours while the context is locked.
    unsafe {
        let (prev, next) = ((*m.as_ptr()).prev, (*m.as_ptr()).next);
        if prev.is_null() {
            l.set_mem_descs(next);
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
    }
}

/// Unmaps (unless external) and frees a record no port uses any more.
fn destroy(l: &mut Locked, m: NonNull<nmem_d>) {
    unlink(l, m);
    // SAFETY: a record of this list, unlinked above: nobody else reaches it; its mapping was
    // made by `acquire` with its size.
    unsafe {
        let (mem, size, ext) = (
            (*m.as_ptr()).mem,
            (*m.as_ptr()).size,
            (*m.as_ptr()).is_extmem,
        );
        if ext == 0 {
            libc::munmap(mem, size);
        }
        l.ctx().free(m.as_ptr().cast());
    }
}

/// Finds (refcount + 1) or maps the region of the port registered on `fd` with `reg`.
pub(super) fn acquire(
    ctx: Ctx,
    fd: c_int,
    reg: &nmreq_register,
    name: &str,
) -> Result<NonNull<nmem_d>, Failure> {
    let mem_id = reg.nr_mem_id;
    let mut l = ctx.lock();
    let mut cur = l.mem_descs();
    // SAFETY: `cur` walks the records of this list (see `unlink`).
    while !cur.is_null() && unsafe { (*cur).mem_id != mem_id || (*cur).is_extmem != 0 } {
        // SAFETY: as above.
        cur = unsafe { (*cur).next };
    }
    let m = match NonNull::new(cur) {
        Some(m) => m,
        None => map(&mut l, fd, reg, name)?,
    };
    // SAFETY: a record of this list (see `unlink`).
    let (size, refcount) = unsafe { ((*m.as_ptr()).size, (*m.as_ptr()).refcount) };
    // The port's netmap_if must lie inside the mapping it reuses (the region may not grow).
    let end = reg.nr_offset.checked_add(size_of::<netmap_if>() as u64);
    if end.is_none_or(|e| e > size as u64) {
        if refcount == 0 {
            destroy(&mut l, m);
        }
        return Err(Failure::new(
            libc::EINVAL,
            format!(
                "{name}: the port's netmap_if (offset {}) lies outside the {size}-byte region \
                 mapped for allocator {mem_id}",
                reg.nr_offset
            ),
        ));
    }
    // SAFETY: as above.
    unsafe { (*m.as_ptr()).refcount += 1 };
    Ok(m)
}

/// Maps the region of `fd` and puts a record of it (refcount 0) at the head of the list.
fn map(
    l: &mut Locked,
    fd: c_int,
    reg: &nmreq_register,
    name: &str,
) -> Result<NonNull<nmem_d>, Failure> {
    let (size, mem_id) = (reg.nr_memsize as usize, reg.nr_mem_id);
    // SAFETY: a new shared mapping of the registered fd (inside libnetmap.so, the interposer
    // answers it with the port's region); nothing is overwritten.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = errno();
        return Err(Failure::new(
            e,
            format!(
                "{name}: cannot map the netmap region ({size} bytes, allocator {mem_id}): {}",
                strerror(e)
            ),
        ));
    }
    let Some(m) = NonNull::new(l.ctx().malloc(size_of::<nmem_d>()).cast::<nmem_d>()) else {
        // SAFETY: the mapping made above, used by nobody.
        unsafe { libc::munmap(p, size) };
        return Err(Failure::new(
            libc::ENOMEM,
            format!("{name}: cannot allocate a region descriptor"),
        ));
    };
    let head = l.mem_descs();
    // SAFETY: `m` is a fresh block of a record's size; `head` a record of the list (see
    // `unlink`).
    unsafe {
        m.as_ptr().write(nmem_d {
            mem_id,
            refcount: 0,
            mem: p,
            size,
            is_extmem: 0,
            next: head,
            prev: ptr::null_mut(),
        });
        if !head.is_null() {
            (*head).prev = m.as_ptr();
        }
    }
    l.set_mem_descs(m.as_ptr());
    Ok(m)
}

/// The base address of region `m`, taken by `acquire`.
pub(super) fn base(m: NonNull<nmem_d>) -> *mut u8 {
    // SAFETY: a live record (the caller holds a reference taken by `acquire`); `mem` never
    // changes after `map`.
    unsafe { (*m.as_ptr()).mem.cast() }
}

/// Drops a reference taken by `acquire`; the last one unmaps the region.
pub(super) fn release(ctx: Ctx, m: NonNull<nmem_d>) {
    let mut l = ctx.lock();
    // SAFETY: a record of this list (see `unlink`), counted by the caller's reference.
    let left = unsafe {
        (*m.as_ptr()).refcount -= 1;
        (*m.as_ptr()).refcount
    };
    if left <= 0 {
        destroy(&mut l, m);
    }
}
