//! libnetmap.so: netmap's C API and ABI over nmxdp.
//!
//! Two faces in one library, so it works both linked (`-lnetmap`) and under `LD_PRELOAD`:
//! - an interposer of the libc calls that reach `/dev/netmap` (open, ioctl, mmap, poll, ...),
//!   answering them as the netmap kernel module would;
//! - libnetmap's `nmport_*`, `nmreq_*` and `nmctx_*` functions, built on those calls.
//!
//! No Rust panic ever crosses the C boundary: every exported function catches it and reports
//! an errno instead.

// The interposer: real libc entry points, the netmap fd table,
// NIOCCTRL / legacy request handling, and poll/select/epoll emulation.
mod ctl;
mod fdtable;
mod interpose;
mod pollemu;
mod real;

// libnetmap's C functions (`nmport_*`, `nmctx_*`, `nmreq_*`).
mod libnetmap;
mod nmctx;
mod nmreq;

#[cfg(test)]
mod tests;
