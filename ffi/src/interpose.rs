//! The libc symbols this library interposes, so that `/dev/netmap` exists without the netmap
//! kernel module (under `LD_PRELOAD`, or linked with `-lnetmap`).
//!
//! | call | on a netmap fd (or `/dev/netmap`) | otherwise |
//! |---|---|---|
//! | `open`, `open64`, `openat`, `openat64`, `__open_2`, ... | path exactly `/dev/netmap`: an eventfd owned by nmxdp | real |
//! | `ioctl` | [`crate::ctl`] (`FIOCLEX`, `FIONCLEX`, `FIONBIO`, `FIOASYNC` stay real, as in the kernel) | real |
//! | `mmap`, `mmap64` | the already mapped region at `off` | real |
//! | `munmap` | inside the region: nothing is unmapped, 0 | real |
//! | `close`, `close_range`, `closefrom` | entry dropped (last fd: port released), then real | real |
//! | `dup`, `dup2`, `dup3`, `fcntl(F_DUPFD*)` | real, new fd shares the netmap file | real |
//! | `poll`, `ppoll`, `select`, `pselect`, `epoll_*` | [`crate::pollemu`] | real |
//! | `fork` | real; the child is marked as described in [`crate::fdtable`] | |
//!
//! The C prototypes of `open`, `openat`, `ioctl` and `fcntl` end in `...`. Stable Rust cannot
//! define variadic functions, so the optional argument is declared as a fixed one: on x86_64 the
//! caller passes it in the same register either way (and leaves garbage there when absent, which
//! the real function then ignores just as it would).
//!
//! Every function catches panics: a panic sets errno to `EIO` and returns -1 (`MAP_FAILED` for
//! mmap) instead of unwinding into C.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use libc::{
    c_char, c_int, c_uint, c_ulong, c_void, epoll_event, fd_set, nfds_t, off_t, pid_t, pollfd,
    sigset_t, size_t, timespec, timeval, EINVAL,
};

use crate::fdtable::{self, Entry, NmFile, EPOLL};
use crate::pollemu::{self, Deadline};
use crate::{ctl, real};

/// Runs `f`; a panic becomes errno `EIO` and the return value `fail`.
#[inline]
fn guard<R>(fail: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            real::set_errno(libc::EIO);
            fail
        }
    }
}

const PAGE: u64 = 4096;

// ------------------------------------------------------------------------------------------------
// open
// ------------------------------------------------------------------------------------------------

/// True when `path` is exactly `/dev/netmap` (reads at most 12 bytes).
///
/// # Safety
/// `path` is null or a NUL-terminated string.
unsafe fn is_netmap_path(path: *const c_char) -> bool {
    const DEV: &[u8] = b"/dev/netmap\0";
    if path.is_null() {
        return false;
    }
    for (i, &c) in DEV.iter().enumerate() {
        // SAFETY: every byte before a mismatch or the NUL belongs to the string.
        if unsafe { *path.add(i) } as u8 != c {
            return false;
        }
    }
    true
}

/// A new netmap fd: an eventfd (so the number is a real, unique fd) entered in the table.
fn open_netmap(flags: c_int) -> c_int {
    fdtable::ensure_atfork();
    let efd_flags = if flags & libc::O_CLOEXEC != 0 {
        libc::EFD_CLOEXEC
    } else {
        0
    };
    let fd = real::eventfd(efd_flags);
    if fd >= 0 {
        // A stale entry (an fd closed behind our back) is replaced.
        let stale = fdtable::insert(fd, Entry::Netmap(NmFile::new()));
        drop(stale);
    }
    fd
}

/// # Safety
/// As libc's `open`.
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a path, as open(2) requires.
        if unsafe { is_netmap_path(path) } {
            return open_netmap(flags);
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::open(path, flags, mode) }
    })
}

/// # Safety
/// As libc's `open64`.
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    guard(-1, || {
        // SAFETY: as in open.
        if unsafe { is_netmap_path(path) } {
            return open_netmap(flags);
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::open64(path, flags, mode) }
    })
}

/// # Safety
/// As libc's `openat`.
#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    guard(-1, || {
        // SAFETY: as in open; an absolute path ignores dirfd.
        if unsafe { is_netmap_path(path) } {
            return open_netmap(flags);
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::openat(dirfd, path, flags, mode) }
    })
}

/// # Safety
/// As libc's `openat64`.
#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    guard(-1, || {
        // SAFETY: as in openat.
        if unsafe { is_netmap_path(path) } {
            return open_netmap(flags);
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::openat64(dirfd, path, flags, mode) }
    })
}

/// `open` as `_FORTIFY_SOURCE` builds call it (no mode: O_CREAT is not allowed here).
///
/// # Safety
/// As libc's `__open_2`.
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: forwarded with a mode that is ignored without O_CREAT/O_TMPFILE.
    unsafe { open(path, flags, 0) }
}

/// # Safety
/// As libc's `__open64_2`.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in __open_2.
    unsafe { open64(path, flags, 0) }
}

/// # Safety
/// As libc's `__openat_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in __open_2.
    unsafe { openat(dirfd, path, flags, 0) }
}

/// # Safety
/// As libc's `__openat64_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in __open_2.
    unsafe { openat64(dirfd, path, flags, 0) }
}

// ------------------------------------------------------------------------------------------------
// close
// ------------------------------------------------------------------------------------------------

/// Drops the table entry of `fd` (before the real close, so that a dropped port releases its
/// sockets while the numbers are still ours).
fn forget(fd: c_int) {
    let Some(e) = fdtable::remove(fd) else {
        return;
    };
    if let Entry::Epoll(set) = e.entry() {
        if let Some(alias) = fdtable::epoll_aliases(set, fd) {
            set.set_epfd(alias);
        }
    }
    drop(e);
}

/// Drops the entries of `first..=last`.
fn forget_range(first: c_uint, last: c_uint) {
    if first > last || fdtable::is_empty() {
        return;
    }
    let first = first.min(c_int::MAX as c_uint) as c_int;
    let last = last.min(c_int::MAX as c_uint) as c_int;
    let gone = fdtable::lock().remove_range(first, last);
    drop(gone);
}

/// # Safety
/// As libc's `close`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    guard(-1, || {
        if fdtable::class(fd) != 0 {
            forget(fd);
        }
        // SAFETY: the caller's fd, passed through.
        unsafe { real::close(fd) }
    })
}

/// # Safety
/// As libc's `close_range`.
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    guard(-1, || {
        if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
            forget_range(first, last);
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::close_range(first, last, flags) }
    })
}

/// # Safety
/// As libc's `closefrom`.
#[no_mangle]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    guard((), || {
        forget_range(lowfd.max(0) as c_uint, c_uint::MAX);
        // SAFETY: the caller's argument, passed through.
        unsafe { real::closefrom(lowfd) }
    })
}

// ------------------------------------------------------------------------------------------------
// ioctl, mmap, munmap
// ------------------------------------------------------------------------------------------------

/// ioctls the kernel answers for every file before the driver sees them.
fn generic_ioctl(request: c_ulong) -> bool {
    matches!(
        request,
        libc::FIOCLEX | libc::FIONCLEX | libc::FIONBIO | libc::FIOASYNC
    )
}

/// # Safety
/// As libc's `ioctl`.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    guard(-1, || {
        if fdtable::is_netmap(fd) && !generic_ioctl(request) {
            if let Some(rc) = fdtable::with_netmap(fd, |f| ctl::ioctl(f, request, arg)) {
                return rc;
            }
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::ioctl(fd, request, arg) }
    })
}

/// mmap of a netmap fd: the region nmxdp already mapped, at `off` (never mapped twice).
fn mmap_netmap(
    file: &NmFile,
    addr: *mut c_void,
    len: size_t,
    flags: c_int,
    off: off_t,
) -> *mut c_void {
    let fail = |e| {
        real::set_errno(e);
        libc::MAP_FAILED
    };
    let memsize = file.memsize();
    if memsize == 0 || len == 0 || off < 0 || !(off as u64).is_multiple_of(PAGE) {
        return fail(EINVAL);
    }
    if (off as u64)
        .checked_add(len as u64)
        .is_none_or(|end| end > memsize)
    {
        return fail(EINVAL);
    }
    let Some((base, _)) = ctl::region() else {
        return fail(EINVAL);
    };
    let p = base + off as usize;
    let fixed = libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE;
    if flags & fixed != 0 && addr as usize != p {
        return fail(EINVAL);
    }
    file.set_mapped();
    p as *mut c_void
}

/// # Safety
/// As libc's `mmap`.
#[no_mangle]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    guard(libc::MAP_FAILED, || {
        if fdtable::is_netmap(fd) {
            if let Some(f) = fdtable::netmap(fd) {
                return mmap_netmap(&f, addr, len, flags, off);
            }
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::mmap(addr, len, prot, flags, fd, off) }
    })
}

/// # Safety
/// As libc's `mmap64`.
#[no_mangle]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: on x86_64 mmap64 is mmap.
    unsafe { mmap(addr, len, prot, flags, fd, off) }
}

/// munmap of a range touching the region: the region stays (it lives as long as the process);
/// parts of the range outside it are really unmapped.
fn munmap_region(a: usize, len: size_t, base: usize, rlen: usize) -> c_int {
    if !(a as u64).is_multiple_of(PAGE) || len == 0 {
        return real::fail(EINVAL);
    }
    let end = a.saturating_add(len);
    let rend = base + rlen;
    if a < base {
        // SAFETY: the caller asked for this range to be unmapped; it lies before the region.
        let r = unsafe { real::munmap(a as *mut c_void, base - a) };
        if r < 0 {
            return r;
        }
    }
    if end > rend {
        // SAFETY: as above, after the region.
        let r = unsafe { real::munmap(rend as *mut c_void, end - rend) };
        if r < 0 {
            return r;
        }
    }
    0
}

/// # Safety
/// As libc's `munmap`.
#[no_mangle]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    guard(-1, || {
        if let Some((base, rlen)) = ctl::region() {
            let a = addr as usize;
            if a < base + rlen && a.saturating_add(len) > base {
                return munmap_region(a, len, base, rlen);
            }
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::munmap(addr, len) }
    })
}

// ------------------------------------------------------------------------------------------------
// poll, ppoll, select, pselect
// ------------------------------------------------------------------------------------------------

/// The caller's pollfd array when it holds a netmap fd (one table load per entry).
///
/// # Safety
/// `fds` is null or valid for `nfds` entries, as poll(2) requires.
unsafe fn netmap_pollfds<'a>(fds: *mut pollfd, nfds: nfds_t) -> Option<&'a mut [pollfd]> {
    // Larger counts exceed any fd limit: the real call reports EINVAL.
    if fds.is_null() || nfds == 0 || nfds > 1 << 20 {
        return None;
    }
    // SAFETY: per the contract.
    let s = unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) };
    s.iter().any(|p| fdtable::is_netmap(p.fd)).then_some(s)
}

/// A timespec timeout as a deadline; Err(EINVAL) when malformed; null = never.
///
/// # Safety
/// `ts` is null or points to a timespec.
unsafe fn deadline_of_timespec(ts: *const timespec) -> Result<Deadline, c_int> {
    if ts.is_null() {
        return Ok(Deadline::never());
    }
    // SAFETY: per the contract.
    let t = unsafe { ts.read() };
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    Ok(Deadline::after(
        Duration::from_secs(t.tv_sec as u64) + Duration::from_nanos(t.tv_nsec as u64),
    ))
}

/// # Safety
/// As libc's `poll`.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's array, as poll(2) requires.
        if let Some(s) = unsafe { netmap_pollfds(fds, nfds) } {
            return pollemu::poll(s, Deadline::from_ms(timeout), std::ptr::null());
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::poll(fds, nfds, timeout) }
    })
}

/// # Safety
/// As libc's `ppoll`.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    tmo: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's array, as ppoll(2) requires.
        if let Some(s) = unsafe { netmap_pollfds(fds, nfds) } {
            // SAFETY: the caller's timeout, as ppoll(2) requires.
            return match unsafe { deadline_of_timespec(tmo) } {
                Ok(d) => pollemu::poll(s, d, sigmask),
                Err(e) => real::fail(e),
            };
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::ppoll(fds, nfds, tmo, sigmask) }
    })
}

/// Fails like glibc's fortify checks.
fn chk_fail() -> ! {
    eprintln!("*** buffer overflow detected ***: terminated");
    std::process::abort()
}

/// `poll` as `_FORTIFY_SOURCE` builds call it.
///
/// # Safety
/// As libc's `__poll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        chk_fail();
    }
    // SAFETY: the caller's arguments, checked as glibc does.
    unsafe { poll(fds, nfds, timeout) }
}

/// `ppoll` as `_FORTIFY_SOURCE` builds call it.
///
/// # Safety
/// As libc's `__ppoll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    tmo: *const timespec,
    sigmask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        chk_fail();
    }
    // SAFETY: the caller's arguments, checked as glibc does.
    unsafe { ppoll(fds, nfds, tmo, sigmask) }
}

/// # Safety
/// As libc's `select`.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    tv: *mut timeval,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's sets, valid for nfds bits as select(2) requires.
        if nfds > 0 && unsafe { pollemu::sets_have_netmap(nfds, r, w, e) } {
            // SAFETY: the caller's sets and timeout.
            return unsafe { select_netmap(nfds, r, w, e, tv) };
        }
        // SAFETY: the caller's arguments, passed through (select(0, 0, 0, 0, &tv) sleeps).
        unsafe { real::select(nfds, r, w, e, tv) }
    })
}

/// select with netmap fds; like Linux, writes the time left back into `tv`.
///
/// # Safety
/// As select(2).
unsafe fn select_netmap(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    tv: *mut timeval,
) -> c_int {
    let deadline = if tv.is_null() {
        Deadline::never()
    } else {
        // SAFETY: non-null timeout from the caller.
        let t = unsafe { tv.read() };
        if t.tv_sec < 0 || !(0..1_000_000).contains(&t.tv_usec) {
            return real::fail(EINVAL);
        }
        Deadline::after(
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64),
        )
    };
    // SAFETY: per the contract.
    let n = unsafe { pollemu::select(nfds, r, w, e, deadline, std::ptr::null()) };
    if let (false, Some(left)) = (tv.is_null(), deadline.left()) {
        let left = timeval {
            tv_sec: left.as_secs() as libc::time_t,
            tv_usec: left.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: the caller's (writable) timeout.
        unsafe { tv.write(left) };
    }
    n
}

/// # Safety
/// As libc's `pselect`.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    ts: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: as in select.
        if nfds > 0 && unsafe { pollemu::sets_have_netmap(nfds, r, w, e) } {
            // SAFETY: the caller's timeout, sets and mask.
            return match unsafe { deadline_of_timespec(ts) } {
                // SAFETY: the caller's fd sets (nfds bits each, or NULL) and signal mask (NULL
                // or valid), as pselect requires of them.
                Ok(d) => unsafe { pollemu::select(nfds, r, w, e, d, sigmask) },
                Err(err) => real::fail(err),
            };
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::pselect(nfds, r, w, e, ts, sigmask) }
    })
}

// ------------------------------------------------------------------------------------------------
// epoll
// ------------------------------------------------------------------------------------------------

/// # Safety
/// As libc's `epoll_ctl`.
#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut epoll_event,
) -> c_int {
    guard(-1, || {
        if fdtable::is_netmap(fd) {
            if let Some(f) = fdtable::netmap(fd) {
                // SAFETY: the caller's event pointer, read like the kernel reads it.
                return unsafe { pollemu::epoll_ctl(epfd, op, fd, ev, &f) };
            }
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::epoll_ctl(epfd, op, fd, ev) }
    })
}

/// The netmap members of `epfd`, if it has any (one table load otherwise).
fn netmap_epoll(epfd: c_int) -> Option<std::sync::Arc<pollemu::EpSet>> {
    if fdtable::class(epfd) & EPOLL == 0 {
        return None;
    }
    fdtable::epoll(epfd)
}

/// # Safety
/// As libc's `epoll_wait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        if let Some(set) = netmap_epoll(epfd) {
            let d = Deadline::from_ms(timeout);
            // SAFETY: the caller's event array, as epoll_wait(2) requires.
            return unsafe { pollemu::epoll_wait(epfd, &set, ev, max, d, std::ptr::null()) };
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::epoll_wait(epfd, ev, max, timeout) }
    })
}

/// # Safety
/// As libc's `epoll_pwait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    sigmask: *const sigset_t,
) -> c_int {
    guard(-1, || {
        if let Some(set) = netmap_epoll(epfd) {
            let d = Deadline::from_ms(timeout);
            // SAFETY: as in epoll_wait.
            return unsafe { pollemu::epoll_wait(epfd, &set, ev, max, d, sigmask) };
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::epoll_pwait(epfd, ev, max, timeout, sigmask) }
    })
}

/// # Safety
/// As libc's `epoll_pwait2`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    tmo: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    guard(-1, || {
        if let Some(set) = netmap_epoll(epfd) {
            // SAFETY: the caller's timeout and event array.
            return match unsafe { deadline_of_timespec(tmo) } {
                // SAFETY: the caller's array of `max` events and signal mask (NULL or valid), as
                // epoll_pwait2 requires of them.
                Ok(d) => unsafe { pollemu::epoll_wait(epfd, &set, ev, max, d, sigmask) },
                Err(e) => real::fail(e),
            };
        }
        // SAFETY: the caller's arguments, passed through.
        unsafe { real::epoll_pwait2(epfd, ev, max, tmo, sigmask) }
    })
}

// ------------------------------------------------------------------------------------------------
// dup, fcntl, fork
// ------------------------------------------------------------------------------------------------

/// Runs a real dup-like call `f` returning the new fd, and gives the new fd the entry of `old`
/// (or none: a netmap fd that dup2 replaced is gone), in one step with respect to the table.
fn dup_with(old: c_int, f: impl FnOnce() -> c_int) -> c_int {
    let mut t = fdtable::lock();
    let new = f();
    if new < 0 {
        return new;
    }
    let replaced = match t.get(old).cloned() {
        Some(e) => t.insert(new, e),
        None => t.remove(new),
    };
    drop(t);
    drop(replaced);
    new
}

/// # Safety
/// As libc's `dup`.
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's fd, passed through.
        let call = || unsafe { real::dup(fd) };
        if fdtable::class(fd) == 0 {
            return call();
        }
        dup_with(fd, call)
    })
}

/// # Safety
/// As libc's `dup2`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's fds, passed through.
        let call = || unsafe { real::dup2(old, new) };
        if fdtable::class(old) | fdtable::class(new) == 0 || old == new {
            return call();
        }
        dup_with(old, call)
    })
}

/// # Safety
/// As libc's `dup3`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's arguments, passed through.
        let call = || unsafe { real::dup3(old, new, flags) };
        if fdtable::class(old) | fdtable::class(new) == 0 || old == new {
            return call();
        }
        dup_with(old, call)
    })
}

fn is_dupfd(cmd: c_int) -> bool {
    cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC
}

/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's arguments, passed through.
        let call = || unsafe { real::fcntl(fd, cmd, arg) };
        if is_dupfd(cmd) && fdtable::class(fd) != 0 {
            return dup_with(fd, call);
        }
        call()
    })
}

/// # Safety
/// As libc's `fcntl64`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's arguments, passed through.
        let call = || unsafe { real::fcntl64(fd, cmd, arg) };
        if is_dupfd(cmd) && fdtable::class(fd) != 0 {
            return dup_with(fd, call);
        }
        call()
    })
}

/// fork(): the real one; the child is marked as [`crate::fdtable`] describes (the
/// `pthread_atfork` handler does the same for forks that do not come through here).
///
/// # Safety
/// As libc's `fork`.
#[no_mangle]
pub unsafe extern "C" fn fork() -> pid_t {
    guard(-1, || {
        // SAFETY: plain fork.
        let pid = unsafe { real::fork() };
        if pid == 0 {
            fdtable::after_fork_child();
        }
        pid
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmxdp::abi::{NIOCCTRL, NIOCTXSYNC};

    fn open_dev(flags: c_int) -> c_int {
        // SAFETY: a constant path.
        unsafe { open(c"/dev/netmap".as_ptr(), flags, 0) }
    }

    #[test]
    fn open_gives_a_netmap_fd() {
        let fd = open_dev(libc::O_RDWR | libc::O_CLOEXEC);
        assert!(fd >= 0);
        assert!(fdtable::is_netmap(fd));
        // SAFETY: our fd.
        assert_eq!(unsafe { fcntl(fd, libc::F_GETFD, 0) }, libc::FD_CLOEXEC);
        // SAFETY: our fd.
        assert_eq!(unsafe { close(fd) }, 0);
        assert!(!fdtable::is_netmap(fd));
        let fd = open_dev(libc::O_RDWR);
        // SAFETY: our fd.
        assert_eq!(unsafe { fcntl(fd, libc::F_GETFD, 0) }, 0);
        // SAFETY: our fd.
        unsafe { close(fd) };
        // Other paths are real (and /dev/netmap itself need not exist).
        // SAFETY: constant paths.
        let fd = unsafe { openat(libc::AT_FDCWD, c"/dev/null".as_ptr(), libc::O_RDONLY, 0) };
        assert!(fd >= 0 && !fdtable::is_netmap(fd));
        // SAFETY: our fd.
        unsafe { close(fd) };
        // SAFETY: constant path.
        let fd = unsafe { open(c"/dev/netmapx".as_ptr(), libc::O_RDONLY, 0) };
        assert_eq!(fd, -1);
        // SAFETY: constant path.
        let fd = unsafe { __open_2(c"/dev/netmap".as_ptr(), libc::O_RDWR) };
        assert!(fdtable::is_netmap(fd));
        // SAFETY: our fd.
        unsafe { close(fd) };
    }

    #[test]
    fn ioctl_mmap_on_unregistered_fd() {
        let fd = open_dev(libc::O_RDWR);
        // SAFETY: sync ioctls ignore the argument.
        assert_eq!(unsafe { ioctl(fd, NIOCTXSYNC, std::ptr::null_mut()) }, -1);
        assert_eq!(real::errno(), libc::ENXIO);
        // SAFETY: a NULL argument is reported.
        assert_eq!(unsafe { ioctl(fd, NIOCCTRL, std::ptr::null_mut()) }, -1);
        assert_eq!(real::errno(), libc::EINVAL);
        // FIOCLEX is the kernel's, for any file.
        // SAFETY: FIOCLEX takes no argument.
        assert_eq!(unsafe { ioctl(fd, libc::FIOCLEX, std::ptr::null_mut()) }, 0);
        // SAFETY: mmap of an unregistered netmap fd fails.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        assert_eq!((p, real::errno()), (libc::MAP_FAILED, libc::EINVAL));
        let mut p = pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { poll(&mut p, 1, 1000) }, 1);
        assert_eq!(p.revents, libc::POLLERR);
        // SAFETY: our fd.
        unsafe { close(fd) };
    }

    #[test]
    fn dup_shares_the_file() {
        let fd = open_dev(libc::O_RDWR);
        let f = fdtable::netmap(fd).unwrap();
        // SAFETY: our fd.
        let d = unsafe { dup(fd) };
        assert!(std::sync::Arc::ptr_eq(&fdtable::netmap(d).unwrap(), &f));
        // SAFETY: our fd.
        let d2 = unsafe { fcntl(fd, libc::F_DUPFD_CLOEXEC, 500) };
        assert!(d2 >= 500);
        assert!(std::sync::Arc::ptr_eq(&fdtable::netmap(d2).unwrap(), &f));
        // dup2 of an ordinary fd onto a netmap fd: the netmap entry goes.
        // SAFETY: constant path.
        let null = unsafe { open(c"/dev/null".as_ptr(), libc::O_RDONLY, 0) };
        // SAFETY: our fds.
        assert_eq!(unsafe { dup2(null, d2) }, d2);
        assert!(!fdtable::is_netmap(d2));
        // dup3 of a netmap fd onto an ordinary one.
        // SAFETY: our fds.
        assert_eq!(unsafe { dup3(d, null, libc::O_CLOEXEC) }, null);
        assert!(std::sync::Arc::ptr_eq(&fdtable::netmap(null).unwrap(), &f));
        for x in [fd, d, d2, null] {
            // SAFETY: our fds.
            unsafe { close(x) };
        }
        assert_eq!(std::sync::Arc::strong_count(&f), 1);
    }

    #[test]
    fn close_range_forgets() {
        let fd = open_dev(libc::O_RDWR);
        // SAFETY: our fd.
        let d = unsafe { fcntl(fd, libc::F_DUPFD, 900) };
        // SAFETY: closing only our own fd range.
        assert_eq!(unsafe { close_range(d as c_uint, d as c_uint, 0) }, 0);
        assert!(!fdtable::is_netmap(d));
        assert!(fdtable::is_netmap(fd));
        // SAFETY: our fd.
        unsafe { close(fd) };
    }

    #[test]
    fn munmap_outside_the_region_is_real() {
        // SAFETY: a fresh anonymous mapping, then its removal.
        unsafe {
            let p = mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            assert_eq!(munmap(p, 8192), 0);
        }
    }

    #[test]
    fn select_as_sleep_stays_real() {
        let mut tv = timeval {
            tv_sec: 0,
            tv_usec: 1000,
        };
        let t = std::time::Instant::now();
        // SAFETY: select without sets, a plain sleep.
        let r = unsafe {
            select(
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        };
        assert_eq!(r, 0);
        assert!(t.elapsed() >= Duration::from_micros(900));
    }

    #[test]
    fn select_reports_unregistered_netmap_fd() {
        let fd = open_dev(libc::O_RDWR);
        // SAFETY: fd_set manipulation on a local set; fd < FD_SETSIZE in a test process.
        unsafe {
            let mut r: fd_set = std::mem::zeroed();
            libc::FD_SET(fd, &mut r);
            let mut tv = timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            let n = select(
                fd + 1,
                &mut r,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            );
            assert_eq!(n, 1);
            assert!(libc::FD_ISSET(fd, &r));
            close(fd);
        }
    }

    #[test]
    fn epoll_with_unregistered_netmap_fd() {
        let fd = open_dev(libc::O_RDWR);
        // SAFETY: epoll calls on our own fds and a local event array.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            assert!(ep >= 0);
            let mut ev = epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 42,
            };
            assert_eq!(epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), 0);
            assert_eq!(epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), -1);
            assert_eq!(real::errno(), libc::EEXIST);
            assert_eq!(fdtable::class(ep), EPOLL);
            let mut out = [epoll_event { events: 0, u64: 0 }; 4];
            assert_eq!(epoll_wait(ep, out.as_mut_ptr(), 4, 1000), 1);
            let (e, d) = (out[0].events, out[0].u64);
            assert_eq!((e, d), (libc::EPOLLERR as u32, 42));
            assert_eq!(
                epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()),
                0
            );
            assert_eq!(epoll_wait(ep, out.as_mut_ptr(), 4, 0), 0);
            assert_eq!(epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev), -1);
            assert_eq!(real::errno(), libc::ENOENT);
            close(ep);
            assert_eq!(fdtable::class(ep), 0);
            close(fd);
        }
    }

    #[test]
    fn panics_do_not_unwind_into_c() {
        let r = guard(-1, || -> c_int { panic!("boom") });
        assert_eq!((r, real::errno()), (-1, libc::EIO));
    }
}
