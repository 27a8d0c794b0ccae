//! The real libc functions behind the interposed symbols.
//!
//! Each one is looked up once with `dlsym(RTLD_NEXT, name)` (the next definition after this
//! library, i.e. libc's) and cached in an atomic. `RTLD_NEXT` never returns our own definitions,
//! so calling these never recurses into the interposer.
//!
//! Works before `main` and from other constructors: the cache is a plain static, and a call
//! made while this thread is already inside `dlsym` (an allocator that maps memory while the
//! loader resolves a symbol, say) does not re-enter `dlsym` but issues the system call directly.
//! The same raw system call is the fallback should `dlsym` ever find nothing.

use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    c_char, c_int, c_long, c_uint, c_ulong, c_void, epoll_event, fd_set, nfds_t, off_t, pid_t,
    pollfd, sigset_t, size_t, timespec, timeval,
};

/// Size of the kernel's signal set, as the `*_pwait`/`ppoll`/`pselect6` system calls want it.
const KERNEL_SIGSET_SIZE: usize = 8;

thread_local! {
    /// True while this thread is inside `dlsym`.
    static RESOLVING: Cell<bool> = const { Cell::new(false) };
}

/// One cached symbol: 0 = not looked up yet.
struct Sym {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Sym {
    const fn new(name: &'static CStr) -> Sym {
        Sym {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The real function's address, or 0 when it cannot be looked up now.
    #[inline]
    fn get(&self) -> usize {
        match self.addr.load(Ordering::Acquire) {
            0 => self.resolve(),
            a => a,
        }
    }

    #[cold]
    fn resolve(&self) -> usize {
        // `try_with` fails only while the thread is being torn down; look up anyway then.
        let reentered = RESOLVING.try_with(|r| r.replace(true)).unwrap_or(false);
        if reentered {
            return 0;
        }
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other preconditions.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        let _ = RESOLVING.try_with(|r| r.set(false));
        if p != 0 {
            self.addr.store(p, Ordering::Release);
        }
        p
    }
}

/// Defines `pub unsafe fn $name(args) -> ret` calling the real `$sym`, or `$fallback` (a raw
/// system call) when it cannot be resolved.
macro_rules! real {
    ($(#[$m:meta])* $name:ident = $sym:literal, fn($($a:ident: $t:ty),* $(,)?) -> $r:ty, $fallback:expr $(,)?) => {
        $(#[$m])*
        /// # Safety
        /// Same contract as the libc function of that name.
        pub unsafe fn $name($($a: $t),*) -> $r {
            static SYM: Sym = Sym::new($sym);
            match SYM.get() {
                0 => $fallback,
                p => {
                    // SAFETY: p is libc's definition of this symbol, which has this signature.
                    let f: unsafe extern "C" fn($($t),*) -> $r = unsafe { std::mem::transmute(p) };
                    // SAFETY: the caller upholds the libc contract.
                    unsafe { f($($a),*) }
                }
            }
        }
    };
}

/// Defines a real function whose libc prototype ends in `...`: the optional argument is passed
/// on as one variadic argument (what the C caller passed, or an ignored value).
macro_rules! real_variadic {
    ($name:ident = $sym:literal, fn($($a:ident: $t:ty),*; $v:ident: $vt:ty $(,)?) -> $r:ty, $fallback:expr $(,)?) => {
        /// # Safety
        /// Same contract as the libc function of that name.
        pub unsafe fn $name($($a: $t,)* $v: $vt) -> $r {
            static SYM: Sym = Sym::new($sym);
            match SYM.get() {
                0 => $fallback,
                p => {
                    // SAFETY: p is libc's definition of this variadic symbol.
                    let f: unsafe extern "C" fn($($t,)* ...) -> $r = unsafe { std::mem::transmute(p) };
                    // SAFETY: the caller upholds the libc contract.
                    unsafe { f($($a,)* $v) }
                }
            }
        }
    };
}

/// A raw system call returning an int.
macro_rules! sys {
    ($nr:expr $(, $a:expr)*) => {
        // SAFETY: the arguments are passed through unchanged from a caller that upholds the
        // contract of the corresponding libc function, which this system call implements.
        (unsafe { libc::syscall($nr $(, $a)*) }) as c_int
    };
}

real_variadic!(open = c"open", fn(path: *const c_char, flags: c_int; mode: c_uint) -> c_int,
    sys!(libc::SYS_open, path, flags, mode));
real_variadic!(open64 = c"open64", fn(path: *const c_char, flags: c_int; mode: c_uint) -> c_int,
    sys!(libc::SYS_open, path, flags, mode));
real_variadic!(openat = c"openat", fn(dirfd: c_int, path: *const c_char, flags: c_int; mode: c_uint) -> c_int,
    sys!(libc::SYS_openat, dirfd, path, flags, mode));
real_variadic!(openat64 = c"openat64", fn(dirfd: c_int, path: *const c_char, flags: c_int; mode: c_uint) -> c_int,
    sys!(libc::SYS_openat, dirfd, path, flags, mode));
real!(
    close = c"close",
    fn(fd: c_int) -> c_int,
    sys!(libc::SYS_close, fd)
);
real!(
    close_range = c"close_range",
    fn(first: c_uint, last: c_uint, flags: c_int) -> c_int,
    sys!(libc::SYS_close_range, first, last, flags)
);
real!(closefrom = c"closefrom", fn(lowfd: c_int) -> (), {
    let _ = sys!(libc::SYS_close_range, lowfd as c_uint, c_uint::MAX, 0);
});
real_variadic!(ioctl = c"ioctl", fn(fd: c_int, request: c_ulong; arg: *mut c_void) -> c_int,
    sys!(libc::SYS_ioctl, fd, request, arg));
real!(
    mmap = c"mmap",
    fn(
        addr: *mut c_void,
        len: size_t,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: off_t,
    ) -> *mut c_void,
    // SAFETY: as in sys!; mmap returns an address (or -1 = MAP_FAILED), not an int.
    (unsafe { libc::syscall(libc::SYS_mmap, addr, len, prot, flags, fd, off) }) as *mut c_void
);
real!(
    munmap = c"munmap",
    fn(addr: *mut c_void, len: size_t) -> c_int,
    sys!(libc::SYS_munmap, addr, len)
);
real!(
    poll = c"poll",
    fn(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int,
    sys!(libc::SYS_poll, fds, nfds, timeout)
);
real!(
    ppoll = c"ppoll",
    fn(fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, sigmask: *const sigset_t) -> c_int,
    {
        // The system call writes the remaining time back; the libc function does not.
        let mut t = if tmo.is_null() {
            None
        } else {
            // SAFETY: non-null timeout pointer from the caller.
            Some(unsafe { *tmo })
        };
        let tp = t
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut timespec);
        sys!(libc::SYS_ppoll, fds, nfds, tp, sigmask, KERNEL_SIGSET_SIZE)
    }
);
real!(
    select = c"select",
    fn(nfds: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int,
    sys!(libc::SYS_select, nfds, r, w, e, tv)
);
real!(
    pselect = c"pselect",
    fn(
        nfds: c_int,
        r: *mut fd_set,
        w: *mut fd_set,
        e: *mut fd_set,
        ts: *const timespec,
        sigmask: *const sigset_t,
    ) -> c_int,
    {
        let mut t = if ts.is_null() {
            None
        } else {
            // SAFETY: non-null timeout pointer from the caller.
            Some(unsafe { *ts })
        };
        let tp = t
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut timespec);
        let data: [usize; 2] = [sigmask as usize, KERNEL_SIGSET_SIZE];
        sys!(libc::SYS_pselect6, nfds, r, w, e, tp, data.as_ptr())
    }
);
real!(
    epoll_ctl = c"epoll_ctl",
    fn(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int,
    sys!(libc::SYS_epoll_ctl, epfd, op, fd, ev)
);
real!(
    epoll_wait = c"epoll_wait",
    fn(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int,
    sys!(libc::SYS_epoll_wait, epfd, ev, max, timeout)
);
real!(
    epoll_pwait = c"epoll_pwait",
    fn(
        epfd: c_int,
        ev: *mut epoll_event,
        max: c_int,
        timeout: c_int,
        sigmask: *const sigset_t,
    ) -> c_int,
    sys!(
        libc::SYS_epoll_pwait,
        epfd,
        ev,
        max,
        timeout,
        sigmask,
        KERNEL_SIGSET_SIZE
    )
);
real!(
    epoll_pwait2 = c"epoll_pwait2",
    fn(
        epfd: c_int,
        ev: *mut epoll_event,
        max: c_int,
        tmo: *const timespec,
        sigmask: *const sigset_t,
    ) -> c_int,
    sys!(
        libc::SYS_epoll_pwait2,
        epfd,
        ev,
        max,
        tmo,
        sigmask,
        KERNEL_SIGSET_SIZE
    )
);
real!(
    dup = c"dup",
    fn(fd: c_int) -> c_int,
    sys!(libc::SYS_dup, fd)
);
real!(
    dup2 = c"dup2",
    fn(old: c_int, new: c_int) -> c_int,
    sys!(libc::SYS_dup2, old, new)
);
real!(
    dup3 = c"dup3",
    fn(old: c_int, new: c_int, flags: c_int) -> c_int,
    sys!(libc::SYS_dup3, old, new, flags)
);
real_variadic!(fcntl = c"fcntl", fn(fd: c_int, cmd: c_int; arg: c_ulong) -> c_int,
    sys!(libc::SYS_fcntl, fd, cmd, arg));
real_variadic!(fcntl64 = c"fcntl64", fn(fd: c_int, cmd: c_int; arg: c_ulong) -> c_int,
    sys!(libc::SYS_fcntl, fd, cmd, arg));
real!(fork = c"fork", fn() -> pid_t, sys!(libc::SYS_fork));

/// `eventfd(0, flags)` as a system call: the file nmxdp hands out for `/dev/netmap`.
pub fn eventfd(flags: c_int) -> c_int {
    sys!(libc::SYS_eventfd2, 0 as c_uint, flags)
}

/// Sets the calling thread's errno.
pub fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// -1 with errno set, the C convention for failed calls.
pub fn fail(e: c_int) -> c_int {
    set_errno(e);
    -1
}

/// Milliseconds for poll(2)-style timeouts: rounded up, so a sub-millisecond rest still sleeps.
pub fn millis_ceil(d: std::time::Duration) -> c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(c_int::MAX as u128) as c_int
}

/// A `timespec` for a duration.
pub fn timespec_of(d: std::time::Duration) -> timespec {
    timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_libc_and_not_us() {
        // SAFETY: closing an fd that is not open only sets EBADF.
        let r = unsafe { close(-1) };
        assert_eq!((r, errno()), (-1, libc::EBADF));
        let fd = eventfd(libc::EFD_CLOEXEC);
        assert!(fd >= 0);
        // SAFETY: plain fcntl on our own fd.
        let fl = unsafe { fcntl(fd, libc::F_GETFD, 0) };
        assert_eq!(fl, libc::FD_CLOEXEC);
        // SAFETY: fd is ours.
        assert_eq!(unsafe { close(fd) }, 0);
    }

    #[test]
    fn rounding() {
        use std::time::Duration;
        assert_eq!(millis_ceil(Duration::from_micros(1)), 1);
        assert_eq!(millis_ceil(Duration::ZERO), 0);
        assert_eq!(millis_ceil(Duration::from_millis(1500)), 1500);
        let t = timespec_of(Duration::from_millis(1500));
        assert_eq!((t.tv_sec, t.tv_nsec), (1, 500_000_000));
    }
}
