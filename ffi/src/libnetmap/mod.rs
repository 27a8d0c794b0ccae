//! libnetmap's port descriptors (`struct nmport_d`): `nmport_open` and its pieces (prepare =
//! new + parse, open_desc = register + mmap), their undo functions, `nmport_clone`,
//! `nmport_inject`, and the option/extmem entry points.
//!
//! This file holds only the `extern "C"` shells. Each checks the pointers it receives (NULL is
//! `EINVAL`, as in libnetmap), turns them once into references, calls the safe steps
//! (`steps`, `region`, `inject`) and reports their [`Failure`] once, through the descriptor's
//! context. The raw C memory is touched in `descriptor` and `region` only.

#![allow(non_camel_case_types)]

mod descriptor;
mod inject;
mod region;
mod steps;
#[cfg(test)]
mod tests;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::Ordering;

use nmxdp::abi::nmreq_pools_info;

pub use descriptor::{nmem_d, nmport_cleanup_d, nmport_d};
use steps::{EXTMEM_UNSUPPORTED, OFFSET_ENABLED};

use crate::nmctx::{errno, guard, set_errno, Ctx, Failure};
use crate::nmreq::{opt_cstr, utf8};

/// Reports `f` through `ctx`, runs `undo`, and leaves errno as `f` says: the rollback of a
/// composite call happens after the failing step's report, as upstream orders them.
fn fail_then(ctx: Ctx, f: &Failure, undo: impl FnOnce()) {
    f.report(ctx);
    undo();
    set_errno(f.errno());
}

/// The descriptor behind `d`, None if NULL.
///
/// # Safety
/// `d` is NULL or a descriptor of this library (`nmport_new`, `nmport_prepare`, `nmport_open`,
/// `nmport_clone`) not yet freed, and nobody else uses it during the call: the contract of every
/// libnetmap function taking a `struct nmport_d *`.
unsafe fn port<'a>(d: *mut nmport_d) -> Option<&'a mut nmport_d> {
    // SAFETY: the caller's contract.
    unsafe { d.as_mut() }
}

/// The C entry pattern for descriptor calls: a NULL descriptor is EINVAL, a failure is reported
/// through the descriptor's context, a panic is EIO.
fn on_port(d: Option<&mut nmport_d>, f: fn(&mut nmport_d) -> Result<(), Failure>) -> c_int {
    guard(-1, || {
        let Some(d) = d else {
            set_errno(libc::EINVAL);
            return -1;
        };
        match f(d) {
            Ok(()) => 0,
            Err(e) => {
                e.report(d.ctx());
                -1
            }
        }
    })
}

/// The same for the undo calls, which do nothing on NULL.
fn on_port_undo(d: Option<&mut nmport_d>, f: fn(&mut nmport_d)) {
    guard((), || {
        if let Some(d) = d {
            f(d)
        }
    })
}

/// `nmport_new` + `nmport_parse`: a parsed descriptor of the current context.
fn prepare(spec: Option<&CStr>) -> Option<&'static mut nmport_d> {
    let ctx = Ctx::current();
    let d = match nmport_d::alloc(ctx) {
        Ok(d) => d,
        Err(f) => {
            f.report(ctx);
            return None;
        }
    };
    if let Err(f) = utf8(spec, "port name")
        .map_err(Failure::from)
        .and_then(|s| steps::parse(d, s))
    {
        fail_then(ctx, &f, || {
            steps::undo_parse(d);
            // SAFETY: allocated above, not used afterwards.
            unsafe { nmport_d::free(d) };
        });
        return None;
    }
    Some(d)
}

/// `nmport_undo_parse` + `nmport_delete`.
fn undo_prepare(d: &'static mut nmport_d) {
    steps::undo_parse(d);
    // SAFETY: a descriptor of this library (the entry's contract), not used afterwards.
    unsafe { nmport_d::free(d) };
}

/// `nmport_register` + `nmport_mmap`; on failure nothing is left open.
fn open_desc(d: &mut nmport_d) -> Result<(), ()> {
    let ctx = d.ctx();
    if let Err(f) = steps::register(d) {
        f.report(ctx);
        return Err(());
    }
    if let Err(f) = steps::mmap(d) {
        fail_then(ctx, &f, || steps::undo_register(d));
        return Err(());
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Exported functions
// ------------------------------------------------------------------------------------------------

/// A new, empty descriptor using the default context; NULL with errno on failure.
#[no_mangle]
pub extern "C" fn nmport_new() -> *mut nmport_d {
    guard(ptr::null_mut(), || {
        let ctx = Ctx::current();
        match nmport_d::alloc(ctx) {
            Ok(d) => d,
            Err(f) => {
                f.report(ctx);
                ptr::null_mut()
            }
        }
    })
}

/// Frees a descriptor (after running its cleanups); does not close anything.
///
/// # Safety
/// As for [`port`]; `d` is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nmport_delete(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    let d = unsafe { port(d) };
    // SAFETY: as above: a descriptor of this library, freed once.
    on_port_undo(d, |d| unsafe { nmport_d::free(d) })
}

/// Parses `spec` into `d` (name, mode, flags, mem id, `@conf`, `@share`, `@offset`).
/// 0, or -1 with errno and a message (the descriptor is then reset to empty).
///
/// # Safety
/// `d` as for [`port`]; `spec` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_parse(d: *mut nmport_d, spec: *const c_char) -> c_int {
    // SAFETY: the C caller's contract above, for the duration of the call.
    let (d, spec) = unsafe { (port(d), opt_cstr(spec)) };
    guard(-1, || {
        let Some(d) = d else {
            set_errno(libc::EINVAL);
            return -1;
        };
        let r = utf8(spec, "port name")
            .map_err(Failure::from)
            .and_then(|s| steps::parse(d, s));
        match r {
            Ok(()) => 0,
            Err(f) => {
                fail_then(d.ctx(), &f, || steps::undo_parse(d));
                -1
            }
        }
    })
}

/// Forgets what `nmport_parse` set (frees the library's options, clears hdr and reg).
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_parse(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, steps::undo_parse)
}

/// `nmport_new` + `nmport_parse`; NULL with errno on failure.
///
/// # Safety
/// `spec` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_prepare(spec: *const c_char) -> *mut nmport_d {
    // SAFETY: the C caller's contract above.
    let spec = unsafe { opt_cstr(spec) };
    guard(ptr::null_mut(), || {
        prepare(spec).map_or(ptr::null_mut(), ptr::from_mut)
    })
}

/// # Safety
/// As for [`port`]; `d` is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_prepare(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, |d| {
        steps::undo_parse(d);
        // SAFETY: a descriptor of this library, not used afterwards (the C caller's contract).
        unsafe { nmport_d::free(d) };
    })
}

/// Opens `/dev/netmap` and registers the port (NIOCCTRL REGISTER). 0, or -1 with errno.
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_register(d: *mut nmport_d) -> c_int {
    // SAFETY: the C caller's contract above.
    on_port(unsafe { port(d) }, steps::register)
}

/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_register(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, steps::undo_register)
}

/// Maps the port's region (or reuses this context's mapping of the same mem id) and computes the
/// ring ranges. 0, or -1 with errno.
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_mmap(d: *mut nmport_d) -> c_int {
    // SAFETY: the C caller's contract above.
    on_port(unsafe { port(d) }, steps::mmap)
}

/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_mmap(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, steps::undo_mmap)
}

/// `nmport_register` + `nmport_mmap`. 0, or -1 with errno (nothing left open).
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_open_desc(d: *mut nmport_d) -> c_int {
    // SAFETY: the C caller's contract above.
    let d = unsafe { port(d) };
    guard(-1, || {
        let Some(d) = d else {
            set_errno(libc::EINVAL);
            return -1;
        };
        match open_desc(d) {
            Ok(()) => 0,
            Err(()) => -1,
        }
    })
}

/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_undo_open_desc(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, steps::undo_open_desc)
}

/// `nmport_prepare` + `nmport_open_desc`: a registered, mapped port, or NULL with errno (after a
/// message).
///
/// # Safety
/// `spec` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_open(spec: *const c_char) -> *mut nmport_d {
    // SAFETY: the C caller's contract above.
    let spec = unsafe { opt_cstr(spec) };
    guard(ptr::null_mut(), || {
        let Some(d) = prepare(spec) else {
            return ptr::null_mut();
        };
        if open_desc(d).is_err() {
            let e = errno();
            undo_prepare(d);
            set_errno(e);
            return ptr::null_mut();
        }
        d
    })
}

/// Undoes everything `nmport_open` did and frees `d`.
///
/// # Safety
/// As for [`port`]; `d` is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nmport_close(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, |d| {
        steps::undo_open_desc(d);
        steps::undo_parse(d);
        // SAFETY: a descriptor of this library, not used afterwards (the C caller's contract).
        unsafe { nmport_d::free(d) };
    })
}

/// A new unregistered descriptor with copies of `d`'s header and register body (no options),
/// same context. Callers typically change `reg.nr_mode`/`nr_ringid` and call `nmport_open_desc`;
/// the clone then shares `d`'s mapping (same mem id).
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_clone(d: *mut nmport_d) -> *mut nmport_d {
    // SAFETY: the C caller's contract above.
    let d = unsafe { port(d) };
    guard(ptr::null_mut(), || {
        let Some(d) = d else {
            set_errno(libc::EINVAL);
            return ptr::null_mut();
        };
        match steps::clone(d) {
            Ok(c) => c,
            Err(f) => {
                f.report(d.ctx());
                ptr::null_mut()
            }
        }
    })
}

/// Copies one packet into the first TX ring with room, from `cur_tx_ring` on (NS_MOREFRAG chain
/// when larger than a buffer), advancing head = cur. Returns `size`, or 0 if no ring has room.
/// No sync is issued.
///
/// # Safety
/// `d` as for [`port`], its TX rings as `nmport_mmap` left them; `buf` NULL or `size` readable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn nmport_inject(d: *mut nmport_d, buf: *const c_void, size: usize) -> c_int {
    // SAFETY: the C caller's contract above; an empty packet needs no memory.
    let (d, buf) = unsafe {
        let buf = match (buf.is_null(), size) {
            (_, 0) => Some(&[][..]),
            (true, _) => None,
            (false, n) => Some(std::slice::from_raw_parts(buf.cast::<u8>(), n)),
        };
        (port(d), buf)
    };
    guard(0, || match (d, buf) {
        (Some(d), Some(buf)) if !d.nifp.is_null() => inject::inject(d, buf),
        _ => {
            set_errno(libc::EINVAL);
            0
        }
    })
}

/// Not supported: -1 with errno EOPNOTSUPP (nmxdp's region is its AF_XDP UMEM).
///
/// # Safety
/// `d` as for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem(
    d: *mut nmport_d,
    _base: *mut c_void,
    _size: usize,
) -> c_int {
    // SAFETY: the C caller's contract above.
    let d = unsafe { port(d) };
    guard(-1, || {
        let (ctx, name) = match d {
            None => (Ctx::current(), String::from("nmport_extmem")),
            Some(d) => (d.ctx(), d.name()),
        };
        Failure::new(libc::EOPNOTSUPP, format!("{name}: {EXTMEM_UNSUPPORTED}")).report(ctx);
        -1
    })
}

/// Not supported: -1 with errno EOPNOTSUPP.
///
/// # Safety
/// `d` as for [`port`]; `fname` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_extmem_from_file(d: *mut nmport_d, fname: *const c_char) -> c_int {
    // SAFETY: the C caller's contract above.
    let (d, fname) = unsafe { (port(d), opt_cstr(fname)) };
    guard(-1, || {
        let file = fname.map_or(String::new(), |f| f.to_string_lossy().into_owned());
        let (ctx, name) = match d {
            None => (Ctx::current(), String::from("nmport_extmem_from_file")),
            Some(d) => (d.ctx(), d.name()),
        };
        Failure::new(
            libc::EOPNOTSUPP,
            format!("{name}: file '{file}': {EXTMEM_UNSUPPORTED}"),
        )
        .report(ctx);
        -1
    })
}

/// Always NULL: no port uses external memory.
#[no_mangle]
pub extern "C" fn nmport_extmem_getinfo(_d: *mut nmport_d) -> *mut nmreq_pools_info {
    ptr::null_mut()
}

/// Asks for per-slot offsets by pushing an OFFSETS option. nmxdp ports do not support offsets,
/// so the registration then fails with EOPNOTSUPP, as netmap does for such ports.
///
/// # Safety
/// `d` as for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_offset(
    d: *mut nmport_d,
    initial: u64,
    maxoff: u64,
    bits: u64,
    mingap: u64,
) -> c_int {
    // SAFETY: the C caller's contract above.
    let d = unsafe { port(d) };
    guard(-1, || {
        let Some(d) = d else {
            set_errno(libc::EINVAL);
            return -1;
        };
        match steps::push_offsets(d, initial, maxoff, bits, mingap) {
            Ok(()) => 0,
            Err(f) => {
                f.report(d.ctx());
                -1
            }
        }
    })
}

/// Turns a libnetmap option on or off ("offset" is the only one).
fn set_option(opt: Option<&CStr>, on: bool) -> Result<(), Failure> {
    let name = opt.map_or(String::from("(null)"), |o| o.to_string_lossy().into_owned());
    if name == "offset" {
        OFFSET_ENABLED.store(on, Ordering::Relaxed);
        return Ok(());
    }
    Err(Failure::new(
        libc::EOPNOTSUPP,
        format!(
            "unknown option '{name}' (the only option that can be enabled or disabled is 'offset')"
        ),
    ))
}

/// The entry pattern of the option switches: failures go to the current default context.
fn on_option(opt: Option<&CStr>, on: bool) -> c_int {
    guard(-1, || match set_option(opt, on) {
        Ok(()) => 0,
        Err(f) => {
            f.report(Ctx::current());
            -1
        }
    })
}

/// Enables a libnetmap option that is off by default ("offset" is the only one).
///
/// # Safety
/// `opt` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_enable_option(opt: *const c_char) -> c_int {
    // SAFETY: the C caller's contract above.
    on_option(unsafe { opt_cstr(opt) }, true)
}

/// Disables a libnetmap option. Returns nothing, as upstream declares it: a name that is not
/// an option this library can switch off ("offset") is ignored, as upstream ignores names it
/// has no parser for.
///
/// # Safety
/// `opt` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn nmport_disable_option(opt: *const c_char) {
    // SAFETY: the C caller's contract above.
    let opt = unsafe { opt_cstr(opt) };
    guard((), || {
        let _ = set_option(opt, false);
    })
}

/// Runs (and unlinks) the cleanup records of `d`.
///
/// # Safety
/// As for [`port`].
#[no_mangle]
pub unsafe extern "C" fn nmport_do_cleanup(d: *mut nmport_d) {
    // SAFETY: the C caller's contract above.
    on_port_undo(unsafe { port(d) }, nmport_d::do_cleanup)
}

/// Cleanup callback of upstream's extmem support; this library never installs it and has
/// nothing to release, so it does nothing.
#[no_mangle]
pub extern "C" fn nmport_extmem_cleanup(_c: *mut nmport_cleanup_d, _d: *mut nmport_d) {}

/// Same as [`nmport_extmem_cleanup`], for `nmport_extmem_from_file`.
#[no_mangle]
pub extern "C" fn nmport_extmem_from_file_cleanup(_c: *mut nmport_cleanup_d, _d: *mut nmport_d) {}
