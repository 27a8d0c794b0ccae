//! The application's memory, read and written like the kernel's copyin/copyout: through
//! `process_vm_readv`/`process_vm_writev` on the own process, so that a bad pointer (a stale
//! option list, a body that was never set) gives `EFAULT` instead of a crash; where those calls
//! are not allowed (a seccomp filter), plain unaligned reads and writes are used.

use std::mem::{size_of, MaybeUninit};
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, c_void, EFAULT};
use nmxdp::abi::{
    nmreq, nmreq_header, nmreq_option, nmreq_pools_info, nmreq_port_hdr, nmreq_port_info_get,
    nmreq_register,
};

use crate::real;

/// Plain C structs that may be filled from any bytes.
///
/// # Safety
/// Every bit pattern must be a valid value of the type.
pub(crate) unsafe trait Pod: Copy {}
// SAFETY: integers and structs made only of integers / integer arrays.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for nmreq_header {}
// SAFETY: as above.
unsafe impl Pod for nmreq_register {}
// SAFETY: as above.
unsafe impl Pod for nmreq_port_info_get {}
// SAFETY: as above.
unsafe impl Pod for nmreq_port_hdr {}
// SAFETY: as above.
unsafe impl Pod for nmreq_pools_info {}
// SAFETY: as above.
unsafe impl Pod for nmreq_option {}
// SAFETY: as above.
unsafe impl Pod for nmreq {}
// SAFETY: as above.
unsafe impl Pod for libc::epoll_event {}

/// Set when process_vm_readv/writev turned out to be forbidden here.
pub(crate) static NO_VM_RW: AtomicBool = AtomicBool::new(false);

/// Copies `len` bytes between our buffer `local` and the application address `remote`; the
/// error is an errno (`EFAULT`).
fn user_copy(remote: u64, local: *mut u8, len: usize, write: bool) -> Result<(), c_int> {
    if remote == 0 {
        return Err(EFAULT);
    }
    if !NO_VM_RW.load(Ordering::Relaxed) {
        let l = libc::iovec {
            iov_base: local.cast(),
            iov_len: len,
        };
        let r = libc::iovec {
            iov_base: remote as *mut c_void,
            iov_len: len,
        };
        // SAFETY: both iovecs describe one buffer each; the kernel checks the remote one and
        // fails with EFAULT instead of faulting, our local one is valid for len bytes.
        let n = unsafe {
            let pid = libc::getpid();
            if write {
                libc::process_vm_writev(pid, &l, 1, &r, 1, 0)
            } else {
                libc::process_vm_readv(pid, &l, 1, &r, 1, 0)
            }
        };
        if n == len as isize {
            return Ok(());
        }
        let e = real::errno();
        if n >= 0 || !(e == libc::ENOSYS || e == libc::EPERM) {
            return Err(EFAULT);
        }
        NO_VM_RW.store(true, Ordering::Relaxed);
    }
    // SAFETY: fallback where the kernel will not check for us: the application passed this
    // address for this structure, as it would to the netmap module. Byte copies need no
    // alignment.
    unsafe {
        if write {
            std::ptr::copy_nonoverlapping(local, remote as *mut u8, len);
        } else {
            std::ptr::copy_nonoverlapping(remote as *const u8, local, len);
        }
    }
    Ok(())
}

/// Reads a `T` at application address `addr` (any alignment); the error is an errno.
pub(crate) fn copy_in<T: Pod>(addr: u64) -> Result<T, c_int> {
    let mut v = MaybeUninit::<T>::uninit();
    user_copy(addr, v.as_mut_ptr().cast(), size_of::<T>(), false)?;
    // SAFETY: all size_of::<T>() bytes were written, and any bytes are a valid T (Pod).
    Ok(unsafe { v.assume_init() })
}

/// Writes `v` at application address `addr` (any alignment); the error is an errno.
pub(crate) fn copy_out<T: Pod>(addr: u64, v: T) -> Result<(), c_int> {
    let mut v = v;
    user_copy(addr, (&mut v as *mut T).cast(), size_of::<T>(), true)
}
