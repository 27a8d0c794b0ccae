//! The private network namespace that holds the inner end of a host path's veth pair.
//!
//! The namespace lives exactly as long as its file descriptor, which only this process holds:
//! when the process exits, even by SIGKILL, the kernel destroys the namespace, and with it the
//! inner veth end, and deleting one end of a veth pair deletes the other. Nothing the host path
//! creates can outlive its last user.
//!
//! Namespaces are per thread: each call below runs on a short-lived thread of its own, so the
//! caller's thread never changes namespace.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// Runs `f` on a new thread, returning what it returns (a panic in `f` is an EIO error).
fn on_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|_| {
        Err(Error::new(
            libc::EIO,
            "host path: a namespace helper thread panicked",
        ))
    })
}

/// Opens the calling thread's network namespace.
fn own_netns() -> Result<OwnedFd> {
    // SAFETY: open(2) on a constant NUL-terminated path; returns a new fd or -1.
    let fd = unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("opening /proc/thread-self/ns/net"));
    }
    // SAFETY: open(2) returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new, empty network namespace, alive while the returned fd is open.
pub(crate) fn create() -> Result<OwnedFd> {
    on_thread(|| {
        // SAFETY: unshare(2) with a constant flag; it only changes this (helper) thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(Error::last_os(
                "host path: creating a private network namespace (needs CAP_SYS_ADMIN)",
            ));
        }
        own_netns()
    })
}

/// Runs `f` in network namespace `ns`, on a helper thread.
pub(crate) fn run_in<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let raw = ns.as_raw_fd();
    on_thread(move || {
        // SAFETY: setns(2) on an fd the caller's borrow keeps open; it only changes this thread.
        if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
            return Err(Error::last_os("host path: entering a network namespace"));
        }
        f()
    })
}
