//! Wake-ups between pipe ends, also across processes: one named FIFO per end
//! (`/dev/shm/nmxdp-pipe-<region id>-<entry>-<m|s>`, mode 0600). The end's sleeper polls it for
//! `POLLIN`; the peer writes one byte to it when the end said it sleeps.
//!
//! Why a FIFO: an fd every existing sleep path already polls (`Port::poll`, the C poll, select
//! and epoll emulations), which any process allowed into the region opens by its path. An
//! eventfd cannot be reached from an unrelated process without `pidfd_getfd` (ptrace rights) or
//! a listener passing it over a unix socket. Both sides open it `O_RDWR`, so an open never
//! waits for or fails without a reader, and a writer gone never makes it report `POLLHUP`.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::name::Role;
use crate::error::{Error, Result};

/// The FIFO of end `role` of pipe entry `idx` in region `region_id`.
pub(crate) fn path(region_id: u64, idx: usize, role: Role) -> CString {
    let e = if role == Role::Master { 'm' } else { 's' };
    CString::new(format!("/dev/shm/nmxdp-pipe-{region_id:x}-{idx}-{e}"))
        .expect("no NUL in a formatted path")
}

/// Creates the FIFO if missing and opens it non-blocking for reading and writing.
pub(crate) fn open(path: &CString) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; EEXIST (made by the peer or a predecessor) is fine.
    let rc = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
        return Err(Error::last_os(format!(
            "creating the pipe wake-up FIFO {}",
            path.to_string_lossy()
        )));
    }
    // SAFETY: as above; on success the fd is ours.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os(format!(
            "opening the pipe wake-up FIFO {}",
            path.to_string_lossy()
        )));
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Removes the FIFO (processes that have it open keep their fds).
pub(crate) fn unlink(path: &CString) {
    // SAFETY: a NUL-terminated path; a missing file is fine.
    unsafe { libc::unlink(path.as_ptr()) };
}

/// Wakes the sleeper on FIFO `fd`. A full FIFO (EAGAIN) already wakes it.
pub(crate) fn signal(fd: RawFd) {
    let one = 1u8;
    // SAFETY: writes 1 byte from a live u8 to a non-blocking FIFO.
    unsafe { libc::write(fd, (&one as *const u8).cast(), 1) };
}

/// Empties FIFO `fd`, so that the next sleep on it waits for a new signal.
pub(crate) fn drain(fd: RawFd) {
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: reads at most 256 bytes into a live buffer; an empty non-blocking FIFO
        // answers EAGAIN.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < buf.len() as isize {
            break;
        }
    }
}
