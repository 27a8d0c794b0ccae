//! The netmap ioctls on a `/dev/netmap` fd, answered as the netmap kernel module answers them
//! (docs/netmap-compat.md).
//!
//! | request | answer | module |
//! |---|---|---|
//! | `NIOCCTRL` | header checks, option list walk, then the request type | `niocctrl`, `options` |
//! | `REGISTER` (also legacy) | opens the port and attaches it to the file | `register` |
//! | `PORT_INFO_GET`, `POOLS_INFO_GET`, `PORT_HDR_*` | what the port or the region is like | `info` |
//! | `NIOCREGIF` / `NIOCGINFO` | legacy `struct nmreq`, translated to NIOCCTRL (API >= 11) | `legacy` |
//! | `NIOCTXSYNC` / `NIOCRXSYNC` | `Port::sync_tx` / `sync_rx`; `ENXIO` when not registered | `sync` |
//! | `NIOCCONFIG` | `EOPNOTSUPP` (VALE external modules) | here |
//! | anything else | `EOPNOTSUPP`, Linux netmap's answer | here |
//!
//! The argument is the application's memory, read and written like the kernel's copyin/copyout
//! (`usermem`). A failure carries its errno and, when the application can act upon it, a message
//! naming the cause and the fix (`error`). Nothing is printed where a request fails: [`ioctl`],
//! the C boundary, reports the message once through libnetmap's error context
//! ([`crate::nmctx::report_device`]), so the application can redirect or silence it.

mod error;
mod info;
mod legacy;
mod niocctrl;
mod options;
mod register;
mod sync;
mod usermem;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use libc::{c_int, c_ulong, c_void, EINVAL, EOPNOTSUPP};
use nmxdp::abi::{NIOCCONFIG, NIOCCTRL, NIOCGINFO, NIOCREGIF, NIOCRXSYNC, NIOCTXSYNC};

use self::error::{Fail, Res};
use crate::fdtable::NmFile;
use crate::{nmctx, real};

pub(crate) use register::region;
pub(crate) use sync::warn_forked;
pub(crate) use usermem::copy_in;

#[cfg(test)]
pub(crate) use legacy::legacy_spec;
#[cfg(test)]
pub(crate) use usermem::{Pod, NO_VM_RW};

/// Answers `ioctl(fd, request, arg)` on a netmap fd: 0, or -1 with errno set. What there is to
/// say about a failure is reported here, once.
pub fn ioctl(file: &Arc<NmFile>, request: c_ulong, arg: *mut c_void) -> c_int {
    match answer(file, request, arg as u64) {
        Ok(()) => {
            nmctx::report_device(None);
            0
        }
        Err(Fail { errno, message }) => {
            nmctx::report_device(message.as_deref());
            real::fail(errno)
        }
    }
}

fn answer(file: &NmFile, request: c_ulong, arg: u64) -> Res {
    match request {
        NIOCCTRL => niocctrl::niocctrl(file, arg),
        NIOCREGIF => legacy::legacy(file, arg, true),
        NIOCGINFO => legacy::legacy(file, arg, false),
        NIOCTXSYNC => sync::sync(file, true),
        NIOCRXSYNC => sync::sync(file, false),
        NIOCCONFIG if arg == 0 => Err(EINVAL.into()),
        NIOCCONFIG => Err(Fail::new(
            EOPNOTSUPP,
            "NIOCCONFIG configures VALE switch modules: nmxdp serves NIC ports only",
        )),
        _ => Err(EOPNOTSUPP.into()),
    }
}
