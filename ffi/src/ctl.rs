//! The netmap ioctls on a `/dev/netmap` fd, answered as the netmap kernel module answers them
//! (netmap-abi.md sections 4, 5 and 7).
//!
//! | request | answer |
//! |---|---|
//! | `NIOCCTRL` | header checks, option list walk, then the request type (`niocctrl` below) |
//! | `NIOCREGIF` / `NIOCGINFO` | legacy `struct nmreq`, translated as §4.4 (API >= 11 accepted) |
//! | `NIOCTXSYNC` / `NIOCRXSYNC` | `Port::sync_tx` / `sync_rx`; `ENXIO` when not registered |
//! | `NIOCCONFIG` | `EOPNOTSUPP` (VALE external modules) |
//! | anything else | `EOPNOTSUPP`, Linux netmap's answer |
//!
//! The argument is the application's memory. It is read and written like the kernel's
//! copyin/copyout, through `process_vm_readv`/`process_vm_writev` on the own process, so that a
//! bad pointer (a stale option list, a body that was never set) gives `EFAULT` instead of a crash;
//! where those calls are not allowed (a seccomp filter), plain unaligned reads and writes are used.
//! Errors that the application can act upon are explained on stderr with the prefix `nmxdp: `.

use std::mem::{offset_of, size_of, MaybeUninit};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use libc::{c_int, c_ulong, c_void, EBUSY, EFAULT, EINVAL, EMSGSIZE, ENXIO, EOPNOTSUPP};
use nmxdp::abi::*;
use nmxdp::name::{PortSpec, RingConf};
use nmxdp::{Port, Registration};

use crate::fdtable::{self, NmFile};
use crate::real;

/// An errno.
type Errno = c_int;
type Res<T = ()> = Result<T, Errno>;

/// Lowest legacy API accepted. Real netmap wants 14; nmxdp also serves API 11-13 binaries,
/// whose `struct nmreq` and shared-memory layouts are the same.
const LEGACY_MIN_API: u32 = 11;

/// Prints a message for the user, netmap-library style.
pub fn warn(msg: std::fmt::Arguments<'_>) {
    eprintln!("nmxdp: {msg}");
}

/// The errno of an nmxdp error, after printing its message (which names the cause and the fix).
fn report(e: nmxdp::Error) -> Errno {
    warn(format_args!("{}", e.message()));
    e.errno()
}

/// Answers `ioctl(fd, request, arg)` on a netmap fd: 0, or -1 with errno set.
pub fn ioctl(file: &Arc<NmFile>, request: c_ulong, arg: *mut c_void) -> c_int {
    let arg = arg as u64;
    let r = match request {
        NIOCCTRL => niocctrl(file, arg),
        NIOCREGIF => legacy(file, arg, true),
        NIOCGINFO => legacy(file, arg, false),
        NIOCTXSYNC => sync(file, true),
        NIOCRXSYNC => sync(file, false),
        NIOCCONFIG if arg == 0 => Err(EINVAL),
        NIOCCONFIG => {
            warn(format_args!(
                "NIOCCONFIG configures VALE switch modules: nmxdp serves NIC ports only"
            ));
            Err(EOPNOTSUPP)
        }
        _ => Err(EOPNOTSUPP),
    };
    match r {
        Ok(()) => 0,
        Err(e) => real::fail(e),
    }
}

// ------------------------------------------------------------------------------------------------
// The application's memory
// ------------------------------------------------------------------------------------------------

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
static NO_VM_RW: AtomicBool = AtomicBool::new(false);

/// Copies `len` bytes between our buffer `local` and the application address `remote`.
fn user_copy(remote: u64, local: *mut u8, len: usize, write: bool) -> Res {
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

/// Reads a `T` at application address `addr` (any alignment).
pub(crate) fn copy_in<T: Pod>(addr: u64) -> Res<T> {
    let mut v = MaybeUninit::<T>::uninit();
    user_copy(addr, v.as_mut_ptr().cast(), size_of::<T>(), false)?;
    // SAFETY: all size_of::<T>() bytes were written, and any bytes are a valid T (Pod).
    Ok(unsafe { v.assume_init() })
}

/// Writes `v` at application address `addr` (any alignment).
fn copy_out<T: Pod>(addr: u64, v: T) -> Res {
    let mut v = v;
    user_copy(addr, (&mut v as *mut T).cast(), size_of::<T>(), true)
}

// ------------------------------------------------------------------------------------------------
// The region, for mmap/munmap
// ------------------------------------------------------------------------------------------------

static REGION_BASE: AtomicUsize = AtomicUsize::new(0);
static REGION_LEN: AtomicUsize = AtomicUsize::new(0);

/// Base and length of the shared region once a port was registered in this process.
pub fn region() -> Option<(usize, usize)> {
    match REGION_BASE.load(Ordering::Acquire) {
        0 => None,
        b => Some((b, REGION_LEN.load(Ordering::Acquire))),
    }
}

fn remember_region(port: &Port) {
    REGION_LEN.store(port.registration().nr_memsize as usize, Ordering::Release);
    REGION_BASE.store(port.region_base() as usize, Ordering::Release);
}

// ------------------------------------------------------------------------------------------------
// NIOCTXSYNC / NIOCRXSYNC
// ------------------------------------------------------------------------------------------------

static FORK_WARNED: AtomicBool = AtomicBool::new(false);

/// Explains, once, why an inherited port does nothing in a forked child.
pub fn warn_forked() {
    if !FORK_WARNED.swap(true, Ordering::Relaxed) {
        warn(format_args!(
            "netmap ports opened before fork() cannot be used by the child: the parent drives \
             their AF_XDP rings and buffer pool (syncs fail with ENXIO, poll reports POLLERR); \
             open ports in a child that was forked before the parent used netmap, or after exec"
        ));
    }
}

fn sync(file: &NmFile, tx: bool) -> Res {
    if fdtable::forked() {
        warn_forked();
        return Err(ENXIO);
    }
    let mut st = file.lock();
    let port = st.port.as_mut().ok_or(ENXIO)?;
    let r = if tx { port.sync_tx() } else { port.sync_rx() };
    r.map_err(report)
}

// ------------------------------------------------------------------------------------------------
// Registration (shared by NIOCCTRL and NIOCREGIF)
// ------------------------------------------------------------------------------------------------

/// Opens the port and attaches it to the file.
fn register(file: &NmFile, spec: PortSpec, extra_bufs: u32) -> Res<Registration> {
    let mut st = file.lock();
    if st.port.is_some() {
        return Err(EBUSY);
    }
    if fdtable::forked() {
        warn(format_args!(
            "{}: cannot register a netmap port in a forked child of a process that used netmap \
             (the parent owns the region): exec, or fork before opening ports",
            spec.name
        ));
        return Err(EBUSY);
    }
    fdtable::mark_engine_used();
    let port = Port::open_spec(spec, extra_bufs).map_err(report)?;
    let reg = port.registration();
    remember_region(&port);
    file.set_registered(&mut st, port);
    Ok(reg)
}

/// Undoes [`register`] (the result could not be written back).
fn unregister(file: &NmFile) {
    let port = file.clear_registration();
    drop(port);
}

/// Checks what registering `spec` would check, without opening anything: used when the request
/// will fail anyway because of an unsupported option. (Attaching an XDP program only to detach
/// it again can reset a NIC's queues; a dry run gives the same errno for bad names and rings.)
fn dry_run(spec: &PortSpec) -> Res {
    if fdtable::forked() {
        return Err(EBUSY);
    }
    fdtable::mark_engine_used();
    let info = nmxdp::port_info(spec).map_err(report)?;
    let rings = info.nr_tx_rings.max(info.nr_rx_rings);
    if spec.mode == NR_REG_ONE_NIC && spec.ringid >= rings {
        warn(format_args!(
            "{}: ring {} does not exist, the interface has {rings} queue(s)",
            spec.name, spec.ringid
        ));
        return Err(EINVAL);
    }
    Ok(())
}

fn nonzero16(v: u16) -> Option<u16> {
    (v != 0).then_some(v)
}

fn nonzero32(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

/// The port a NIOCCTRL REGISTER asks for: name from the header, the rest from the body.
fn spec_of(name: String, r: &nmreq_register) -> PortSpec {
    PortSpec {
        name,
        mode: r.nr_mode,
        ringid: r.nr_ringid,
        // Unknown bits are ignored, not rejected (pkt-gen ORs the legacy 0x1000 in).
        flags: r.nr_flags,
        mem_id: r.nr_mem_id,
        conf: RingConf {
            tx_rings: nonzero16(r.nr_tx_rings),
            rx_rings: nonzero16(r.nr_rx_rings),
            host_tx_rings: nonzero16(r.nr_host_tx_rings),
            host_rx_rings: nonzero16(r.nr_host_rx_rings),
            tx_slots: nonzero32(r.nr_tx_slots),
            rx_slots: nonzero32(r.nr_rx_slots),
        },
        share: None,
        extmem: None,
        offset: None,
    }
}

/// A port name for a query (PORT_INFO_GET and the like): all NIC rings.
fn query_spec(name: String, mem_id: u16) -> PortSpec {
    spec_of(
        name,
        &nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            nr_mem_id: mem_id,
            ..Default::default()
        },
    )
}

// ------------------------------------------------------------------------------------------------
// NIOCCTRL
// ------------------------------------------------------------------------------------------------

/// Body size of each request type; None for an unknown type.
fn body_size(reqtype: u16) -> Option<usize> {
    Some(match reqtype {
        NETMAP_REQ_REGISTER => size_of::<nmreq_register>(),
        NETMAP_REQ_PORT_INFO_GET => size_of::<nmreq_port_info_get>(),
        NETMAP_REQ_VALE_ATTACH => size_of::<nmreq_vale_attach>(),
        NETMAP_REQ_VALE_DETACH => size_of::<nmreq_vale_detach>(),
        NETMAP_REQ_VALE_LIST => size_of::<nmreq_vale_list>(),
        NETMAP_REQ_PORT_HDR_SET | NETMAP_REQ_PORT_HDR_GET => size_of::<nmreq_port_hdr>(),
        NETMAP_REQ_VALE_NEWIF => size_of::<nmreq_vale_newif>(),
        NETMAP_REQ_VALE_POLLING_ENABLE | NETMAP_REQ_VALE_POLLING_DISABLE => {
            size_of::<nmreq_vale_polling>()
        }
        NETMAP_REQ_POOLS_INFO_GET => size_of::<nmreq_pools_info>(),
        NETMAP_REQ_SYNC_KLOOP_START => size_of::<nmreq_sync_kloop_start>(),
        NETMAP_REQ_VALE_DELIF | NETMAP_REQ_SYNC_KLOOP_STOP | NETMAP_REQ_CSB_ENABLE => 0,
        _ => return None,
    })
}

fn reqtype_name(t: u16) -> &'static str {
    match t {
        NETMAP_REQ_VALE_ATTACH => "NETMAP_REQ_VALE_ATTACH",
        NETMAP_REQ_VALE_DETACH => "NETMAP_REQ_VALE_DETACH",
        NETMAP_REQ_VALE_LIST => "NETMAP_REQ_VALE_LIST",
        NETMAP_REQ_VALE_NEWIF => "NETMAP_REQ_VALE_NEWIF",
        NETMAP_REQ_VALE_DELIF => "NETMAP_REQ_VALE_DELIF",
        NETMAP_REQ_VALE_POLLING_ENABLE => "NETMAP_REQ_VALE_POLLING_ENABLE",
        NETMAP_REQ_VALE_POLLING_DISABLE => "NETMAP_REQ_VALE_POLLING_DISABLE",
        NETMAP_REQ_SYNC_KLOOP_START => "NETMAP_REQ_SYNC_KLOOP_START",
        NETMAP_REQ_SYNC_KLOOP_STOP => "NETMAP_REQ_SYNC_KLOOP_STOP",
        NETMAP_REQ_CSB_ENABLE => "NETMAP_REQ_CSB_ENABLE",
        _ => "request",
    }
}

/// Size of an option's body (what follows its 24-byte header), as the kernel accounts it.
fn opt_body_size(t: u32, nro_size: u64) -> u64 {
    let hdr = size_of::<nmreq_option>() as u64;
    let total = match t {
        NETMAP_REQ_OPT_EXTMEM => size_of::<nmreq_opt_extmem>() as u64,
        NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS => nro_size.max(hdr),
        NETMAP_REQ_OPT_CSB => size_of::<nmreq_opt_csb>() as u64,
        NETMAP_REQ_OPT_SYNC_KLOOP_MODE => size_of::<nmreq_opt_sync_kloop_mode>() as u64,
        NETMAP_REQ_OPT_OFFSETS => size_of::<nmreq_opt_offsets>() as u64,
        _ => hdr,
    };
    total - hdr
}

fn option_name(t: u32) -> String {
    match t {
        NETMAP_REQ_OPT_EXTMEM => "extmem".into(),
        NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS => "sync-kloop-eventfds".into(),
        NETMAP_REQ_OPT_CSB => "csb".into(),
        NETMAP_REQ_OPT_SYNC_KLOOP_MODE => "sync-kloop-mode".into(),
        NETMAP_REQ_OPT_OFFSETS => "offset".into(),
        t => format!("type {t}"),
    }
}

/// One option of the list: where it is, its type, and the status to write back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opt {
    addr: u64,
    reqtype: u32,
    status: u32,
}

/// The option list as the kernel's copyin walks it: every status preset to `EOPNOTSUPP`; type 0
/// and second options of one type get `EINVAL` (both) and fail the request, but the walk goes
/// on; the list (headers, pointers and bodies) must fit in `NETMAP_REQ_MAXSIZE` together with
/// the request body, which also ends loops (`EMSGSIZE`). An unreadable option gives `EFAULT`.
fn walk_options(first: u64, body: usize) -> (Vec<Opt>, Res) {
    let mut list: Vec<Opt> = Vec::new();
    let mut by_type = [usize::MAX; NETMAP_REQ_OPT_MAX as usize];
    let mut used = body as u64;
    let mut result = Ok(());
    let mut addr = first;
    while addr != 0 {
        used += (size_of::<u64>() + size_of::<nmreq_option>()) as u64;
        if used > NETMAP_REQ_MAXSIZE as u64 {
            return (list, Err(EMSGSIZE));
        }
        let o: nmreq_option = match copy_in(addr) {
            Ok(o) => o,
            Err(e) => return (list, Err(e)),
        };
        let i = list.len();
        list.push(Opt {
            addr,
            reqtype: o.nro_reqtype,
            status: EOPNOTSUPP as u32,
        });
        match o.nro_reqtype {
            0 => {
                list[i].status = EINVAL as u32;
                result = Err(EINVAL);
            }
            t if t < NETMAP_REQ_OPT_MAX => {
                let first_of_type = by_type[t as usize];
                if first_of_type != usize::MAX {
                    list[i].status = EINVAL as u32;
                    list[first_of_type].status = EINVAL as u32;
                    result = Err(EINVAL);
                } else {
                    by_type[t as usize] = i;
                    used = used.saturating_add(opt_body_size(t, o.nro_size));
                    if used > NETMAP_REQ_MAXSIZE as u64 {
                        return (list, Err(EMSGSIZE));
                    }
                }
            }
            // Types beyond the known ones are kept, not interpreted: EOPNOTSUPP.
            _ => {}
        }
        addr = o.nro_next;
    }
    (list, result)
}

/// Writes every option's status back (always, also on failure).
fn write_statuses(list: &[Opt]) {
    for o in list {
        let _ = copy_out(
            o.addr + offset_of!(nmreq_option, nro_status) as u64,
            o.status,
        );
    }
}

/// NIOCCTRL: checks the header, walks the options, answers the request, writes the option
/// statuses back.
fn niocctrl(file: &NmFile, arg: u64) -> Res {
    if arg == 0 {
        return Err(EINVAL);
    }
    let mut hdr: nmreq_header = copy_in(arg)?;
    let version = hdr.nr_version as u32;
    if !(NETMAP_MIN_API..=NETMAP_MAX_API).contains(&version) {
        warn(format_args!(
            "NIOCCTRL with nr_version {version}: nmxdp speaks netmap API {NETMAP_MIN_API}..{NETMAP_MAX_API} \
             (rebuild the application against current netmap headers)"
        ));
        return Err(EINVAL);
    }
    if hdr.nr_reserved != 0 {
        return Err(EINVAL);
    }
    // The kernel forces the name's last byte to NUL, in its copy and in the one it writes back.
    if hdr.nr_name[NETMAP_REQ_IFNAMSIZ - 1] != 0 {
        hdr.nr_name[NETMAP_REQ_IFNAMSIZ - 1] = 0;
        copy_out(
            arg + (offset_of!(nmreq_header, nr_name) + NETMAP_REQ_IFNAMSIZ - 1) as u64,
            0i8,
        )?;
    }
    let body = body_size(hdr.nr_reqtype).unwrap_or(0);
    if (body != 0) != (hdr.nr_body != 0) {
        return Err(EINVAL);
    }
    let (mut opts, walked) = walk_options(hdr.nr_options, body);
    let r = walked.and_then(|()| request(file, &hdr, &mut opts));
    write_statuses(&opts);
    r
}

/// Dispatches a NIOCCTRL request whose header and options passed the checks.
fn request(file: &NmFile, hdr: &nmreq_header, opts: &mut [Opt]) -> Res {
    let name = c_name(&hdr.nr_name);
    match hdr.nr_reqtype {
        NETMAP_REQ_REGISTER => req_register(file, name, hdr.nr_body, opts),
        NETMAP_REQ_PORT_INFO_GET => req_port_info(name, hdr.nr_body),
        NETMAP_REQ_PORT_HDR_GET => req_hdr_get(name, hdr.nr_body),
        NETMAP_REQ_PORT_HDR_SET => req_hdr_set(name, hdr.nr_body),
        NETMAP_REQ_POOLS_INFO_GET => req_pools_info(file, name, hdr.nr_body),
        t if body_size(t).is_some() => {
            warn(format_args!(
                "{}: {} is not supported: nmxdp serves NIC ports only (VALE switches, sync \
                 kloops and CSB mode need the netmap kernel module)",
                if name.is_empty() { "netmap" } else { &name },
                reqtype_name(t)
            ));
            Err(EOPNOTSUPP)
        }
        _ => Err(EINVAL),
    }
}

fn req_register(file: &NmFile, name: String, body: u64, opts: &[Opt]) -> Res {
    if file.memsize() != 0 {
        return Err(EBUSY);
    }
    let reg: nmreq_register = copy_in(body)?;
    let spec = spec_of(name, &reg);
    // No option is supported for REGISTER, so any option leaves EOPNOTSUPP behind, which fails
    // the registration; errors of the registration itself come first.
    if let Some(o) = opts.iter().find(|o| o.status == EOPNOTSUPP as u32) {
        dry_run(&spec)?;
        warn(format_args!(
            "{}: option {} is not supported by nmxdp",
            spec.name,
            option_name(o.reqtype)
        ));
        return Err(EOPNOTSUPP);
    }
    let r = register(file, spec, reg.nr_extra_bufs)?;
    if let Err(e) = write_register(body, &r) {
        unregister(file);
        return Err(e);
    }
    Ok(())
}

/// Writes back exactly the fields §5.3 lists (nr_mode, nr_ringid, nr_flags stay as passed).
fn write_register(body: u64, r: &Registration) -> Res {
    macro_rules! put {
        ($field:ident, $v:expr) => {
            copy_out(body + offset_of!(nmreq_register, $field) as u64, $v)?
        };
    }
    put!(nr_offset, r.nr_offset);
    put!(nr_memsize, r.nr_memsize);
    put!(nr_tx_slots, r.nr_tx_slots);
    put!(nr_rx_slots, r.nr_rx_slots);
    put!(nr_tx_rings, r.nr_tx_rings);
    put!(nr_rx_rings, r.nr_rx_rings);
    put!(nr_host_tx_rings, r.nr_host_tx_rings);
    put!(nr_host_rx_rings, r.nr_host_rx_rings);
    put!(nr_mem_id, r.nr_mem_id);
    put!(nr_extra_bufs, r.nr_extra_bufs);
    Ok(())
}

/// Memory size of allocator `mem_id` (0 = the default, 1): the only one nmxdp has.
fn mem_info(mem_id: u16) -> Res<u64> {
    if mem_id > 1 {
        warn(format_args!(
            "memory allocator {mem_id} does not exist: nmxdp has one region, mem id 1"
        ));
        return Err(EINVAL);
    }
    fdtable::mark_engine_used();
    Ok(nmxdp::region_layout().map_err(report)?.memsize)
}

/// What PORT_INFO_GET reports for `name` (empty: memory info only, rings/slots left as given).
fn port_info(name: String, mem_id: u16) -> Res<Registration> {
    if name.is_empty() {
        return Ok(Registration {
            nr_memsize: mem_info(mem_id)?,
            nr_mem_id: 1,
            ..Registration::default()
        });
    }
    fdtable::mark_engine_used();
    nmxdp::port_info(&query_spec(name, mem_id)).map_err(report)
}

fn req_port_info(name: String, body: u64) -> Res {
    let b: nmreq_port_info_get = copy_in(body)?;
    let memory_only = name.is_empty();
    let r = port_info(name, b.nr_mem_id)?;
    macro_rules! put {
        ($field:ident, $v:expr) => {
            copy_out(body + offset_of!(nmreq_port_info_get, $field) as u64, $v)?
        };
    }
    put!(nr_memsize, r.nr_memsize);
    put!(nr_mem_id, r.nr_mem_id);
    if !memory_only {
        put!(nr_tx_slots, r.nr_tx_slots);
        put!(nr_rx_slots, r.nr_rx_slots);
        put!(nr_tx_rings, r.nr_tx_rings);
        put!(nr_rx_rings, r.nr_rx_rings);
        put!(nr_host_tx_rings, r.nr_host_tx_rings);
        put!(nr_host_rx_rings, r.nr_host_rx_rings);
    }
    Ok(())
}

/// The virtio-net header length of a port: 0 for every NIC port.
fn hdr_len(name: String) -> Res<u32> {
    fdtable::mark_engine_used();
    nmxdp::port_info(&query_spec(name, 0)).map_err(report)?;
    Ok(0)
}

fn req_hdr_get(name: String, body: u64) -> Res {
    // Read before anything is written, as the kernel copies every body in first: a body that is
    // not (wholly) mapped gives EFAULT and stays untouched.
    let _: nmreq_port_hdr = copy_in(body)?;
    let len = hdr_len(name)?;
    copy_out(body + offset_of!(nmreq_port_hdr, nr_hdr_len) as u64, len)
}

fn req_hdr_set(name: String, body: u64) -> Res {
    let b: nmreq_port_hdr = copy_in(body)?;
    hdr_set(name, b.nr_hdr_len)
}

fn hdr_set(name: String, len: u32) -> Res {
    let label = name.clone();
    hdr_len(name)?;
    if len != 0 {
        warn(format_args!(
            "{label}: virtio-net header length {len} refused: NIC ports carry no virtio-net header \
             (only VALE ports do; use length 0)"
        ));
        return Err(EINVAL);
    }
    Ok(())
}

fn req_pools_info(file: &NmFile, name: String, body: u64) -> Res {
    let b: nmreq_pools_info = copy_in(body)?;
    if file.memsize() == 0 {
        if name.is_empty() {
            mem_info(b.nr_mem_id)?;
        } else {
            port_info(name, b.nr_mem_id)?;
        }
    }
    fdtable::mark_engine_used();
    let l = nmxdp::region_layout().map_err(report)?;
    let out = nmreq_pools_info {
        nr_memsize: l.memsize,
        nr_mem_id: 1,
        pad1: [0; 3],
        nr_if_pool_offset: 0,
        nr_if_pool_objtotal: l.if_num,
        nr_if_pool_objsize: l.if_size,
        nr_ring_pool_offset: l.ring_pool_offset,
        nr_ring_pool_objtotal: l.ring_num,
        nr_ring_pool_objsize: l.ring_size,
        nr_buf_pool_offset: l.buf_pool_offset,
        nr_buf_pool_objtotal: l.buf_num,
        nr_buf_pool_objsize: l.buf_size,
    };
    copy_out(body, out)
}

// ------------------------------------------------------------------------------------------------
// Legacy NIOCREGIF / NIOCGINFO (struct nmreq)
// ------------------------------------------------------------------------------------------------

/// The NIOCCTRL REGISTER a legacy NIOCREGIF stands for (netmap-abi.md §4.4).
fn legacy_spec(n: &nmreq) -> PortSpec {
    let mut name = c_name(&n.nr_name[..IFNAMSIZ - 1]);
    let ringid = n.nr_ringid & NETMAP_RING_MASK;
    let mut mode = n.nr_flags & NR_REG_MASK;
    if mode == NR_REG_DEFAULT {
        mode = if n.nr_ringid & NETMAP_SW_RING != 0 {
            NR_REG_SW
        } else if n.nr_ringid & NETMAP_HW_RING != 0 {
            NR_REG_ONE_NIC
        } else {
            NR_REG_ALL_NIC
        };
    }
    let mut ring = ringid;
    if mode == NR_REG_PIPE_MASTER || mode == NR_REG_PIPE_SLAVE {
        let sep = if mode == NR_REG_PIPE_MASTER { '{' } else { '}' };
        name = format!("{name}{sep}{ringid}");
        mode = NR_REG_ALL_NIC;
        ring = 0;
    }
    let mut flags = (n.nr_flags & !NR_REG_MASK) as u64;
    if n.nr_ringid & NETMAP_NO_TX_POLL != 0 {
        flags |= NR_NO_TX_POLL;
    }
    if n.nr_ringid & NETMAP_DO_RX_POLL != 0 {
        flags |= NR_DO_RX_POLL;
    }
    PortSpec {
        name,
        mode,
        ringid: ring,
        flags,
        mem_id: n.nr_arg2,
        conf: RingConf::default(),
        share: None,
        extmem: None,
        offset: None,
    }
}

macro_rules! put_nmreq {
    ($arg:expr, $field:ident, $v:expr) => {
        copy_out($arg + offset_of!(nmreq, $field) as u64, $v)?
    };
}

fn legacy(file: &NmFile, arg: u64, regif: bool) -> Res {
    if arg == 0 {
        return Err(EINVAL);
    }
    let n: nmreq = copy_in(arg)?;
    if n.nr_version < LEGACY_MIN_API {
        warn(format_args!(
            "netmap API {} is too old: nmxdp accepts legacy requests from API {LEGACY_MIN_API} on",
            n.nr_version
        ));
        return Err(EINVAL);
    }
    let name = c_name(&n.nr_name[..IFNAMSIZ - 1]);
    match (regif, n.nr_cmd) {
        (true, 0) => legacy_register(file, arg, &n),
        (true, NETMAP_VNET_HDR_GET) => {
            let len = hdr_len(name)?;
            put_nmreq!(arg, nr_arg1, len as u16);
            Ok(())
        }
        (true, NETMAP_BDG_VNET_HDR) => hdr_set(name, n.nr_arg1 as u32),
        (false, cmd) if cmd != NETMAP_BDG_LIST => legacy_info(arg, name, n.nr_arg2),
        (_, cmd) => {
            warn(format_args!(
                "{}: legacy nr_cmd {cmd} (VALE switch or passthrough command) is not supported: \
                 nmxdp serves NIC ports only",
                if name.is_empty() { "netmap" } else { &name }
            ));
            Err(EOPNOTSUPP)
        }
    }
}

fn legacy_register(file: &NmFile, arg: u64, n: &nmreq) -> Res {
    if file.memsize() != 0 {
        return Err(EBUSY);
    }
    let r = register(file, legacy_spec(n), n.nr_arg3)?;
    let written = (|| -> Res {
        put_nmreq!(arg, nr_offset, r.nr_offset as u32);
        put_nmreq!(arg, nr_memsize, r.nr_memsize as u32);
        put_nmreq!(arg, nr_tx_slots, r.nr_tx_slots);
        put_nmreq!(arg, nr_rx_slots, r.nr_rx_slots);
        put_nmreq!(arg, nr_tx_rings, r.nr_tx_rings);
        put_nmreq!(arg, nr_rx_rings, r.nr_rx_rings);
        put_nmreq!(arg, nr_arg2, r.nr_mem_id);
        put_nmreq!(arg, nr_arg3, r.nr_extra_bufs);
        Ok(())
    })();
    if written.is_err() {
        unregister(file);
    }
    written
}

fn legacy_info(arg: u64, name: String, mem_id: u16) -> Res {
    let memory_only = name.is_empty();
    let r = port_info(name, mem_id)?;
    put_nmreq!(arg, nr_memsize, r.nr_memsize as u32);
    put_nmreq!(arg, nr_arg2, r.nr_mem_id);
    if !memory_only {
        put_nmreq!(arg, nr_tx_slots, r.nr_tx_slots);
        put_nmreq!(arg, nr_rx_slots, r.nr_rx_slots);
        put_nmreq!(arg, nr_tx_rings, r.nr_tx_rings);
        put_nmreq!(arg, nr_rx_rings, r.nr_rx_rings);
    }
    Ok(())
}

#[cfg(test)]
#[path = "ctl_fuzz.rs"]
mod ctl_fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    /// An interface name that does not exist, so REGISTER fails with ENXIO after the header
    /// and option checks, without touching any interface.
    const NOIF: &str = "nmxdp-noif0";

    fn hdr(reqtype: u16, body: u64) -> nmreq_header {
        let mut h = nmreq_header::init(reqtype, body);
        h.set_name(NOIF).unwrap();
        h
    }

    fn opt(t: u32) -> nmreq_option {
        nmreq_option {
            nro_reqtype: t,
            ..Default::default()
        }
    }

    /// The address the "application" passes (derived from a unique borrow: the ioctl writes).
    fn addr<T>(x: &mut T) -> u64 {
        x as *mut T as u64
    }

    fn link(a: &mut nmreq_option, b: &mut nmreq_option) {
        a.nro_next = addr(b);
    }

    /// Runs one ioctl on a fresh netmap file; returns 0 or the errno.
    fn call<T>(file: &Arc<NmFile>, req: c_ulong, arg: &mut T) -> c_int {
        match ioctl(file, req, (arg as *mut T).cast()) {
            0 => 0,
            _ => real::errno(),
        }
    }

    fn ctrl(h: &mut nmreq_header) -> c_int {
        call(&NmFile::new(), NIOCCTRL, h)
    }

    #[test]
    fn null_and_bad_arguments() {
        let f = NmFile::new();
        for req in [NIOCCTRL, NIOCREGIF, NIOCGINFO, NIOCCONFIG] {
            assert_eq!(ioctl(&f, req, std::ptr::null_mut()), -1);
            assert_eq!(real::errno(), EINVAL, "{req:#x}");
        }
        // An unmapped header address: EFAULT, not a crash.
        assert_eq!(ioctl(&f, NIOCCTRL, 8 as *mut c_void), -1);
        assert_eq!(real::errno(), EFAULT);
        assert_eq!(ioctl(&f, 0x1234, std::ptr::null_mut()), -1);
        assert_eq!(real::errno(), EOPNOTSUPP);
    }

    #[test]
    fn version_and_reserved() {
        let mut reg = nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            ..Default::default()
        };
        let body = addr(&mut reg);
        for v in [0u16, 11, 12, 13, 16] {
            let mut h = hdr(NETMAP_REQ_REGISTER, body);
            h.nr_version = v;
            assert_eq!(ctrl(&mut h), EINVAL, "version {v}");
        }
        for v in [14u16, 15] {
            let mut h = hdr(NETMAP_REQ_REGISTER, body);
            h.nr_version = v;
            assert_eq!(ctrl(&mut h), ENXIO, "version {v}");
        }
        let mut h = hdr(NETMAP_REQ_REGISTER, body);
        h.nr_reserved = 1;
        assert_eq!(ctrl(&mut h), EINVAL);
    }

    #[test]
    fn body_presence() {
        let mut reg = nmreq_register::default();
        let body = addr(&mut reg);
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_REGISTER, 0)), EINVAL);
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_PORT_INFO_GET, 0)), EINVAL);
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_VALE_DELIF, body)), EINVAL);
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_CSB_ENABLE, body)), EINVAL);
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_VALE_DELIF, 0)), EOPNOTSUPP);
        // Unknown types: EINVAL with or without a body.
        assert_eq!(ctrl(&mut hdr(99, 0)), EINVAL);
        assert_eq!(ctrl(&mut hdr(99, body)), EINVAL);
        assert_eq!(ctrl(&mut hdr(0, 0)), EINVAL);
        // A body pointer that is not readable.
        assert_eq!(ctrl(&mut hdr(NETMAP_REQ_REGISTER, 16)), EFAULT);
    }

    #[test]
    fn unsupported_request_types() {
        let mut buf = [0u64; 8];
        let body = buf.as_mut_ptr() as u64;
        for t in [
            NETMAP_REQ_VALE_ATTACH,
            NETMAP_REQ_VALE_DETACH,
            NETMAP_REQ_VALE_LIST,
            NETMAP_REQ_VALE_NEWIF,
            NETMAP_REQ_VALE_POLLING_ENABLE,
            NETMAP_REQ_VALE_POLLING_DISABLE,
            NETMAP_REQ_SYNC_KLOOP_START,
        ] {
            assert_eq!(ctrl(&mut hdr(t, body)), EOPNOTSUPP, "type {t}");
        }
        for t in [NETMAP_REQ_SYNC_KLOOP_STOP, NETMAP_REQ_CSB_ENABLE] {
            assert_eq!(ctrl(&mut hdr(t, 0)), EOPNOTSUPP, "type {t}");
        }
    }

    #[test]
    fn unknown_interface_is_enxio_and_body_untouched() {
        let mut reg = nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            nr_flags: 0x1000,
            nr_tx_slots: 7,
            ..Default::default()
        };
        let before = reg;
        let mut h = hdr(NETMAP_REQ_REGISTER, addr(&mut reg));
        assert_eq!(ctrl(&mut h), ENXIO);
        assert_eq!(reg, before);
    }

    #[test]
    fn name_is_nul_terminated() {
        let mut reg = nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            ..Default::default()
        };
        let mut h = hdr(NETMAP_REQ_REGISTER, addr(&mut reg));
        h.nr_name = [b'a' as i8; 64];
        assert_eq!(ctrl(&mut h), ENXIO);
        assert_eq!(h.nr_name[63], 0);
        assert_eq!(h.nr_name[62], b'a' as i8);
    }

    #[test]
    fn unknown_options_are_eopnotsupp_after_the_registration_errors() {
        let mut reg = nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            ..Default::default()
        };
        let body = addr(&mut reg);
        let mut a = opt(NETMAP_REQ_OPT_OFFSETS);
        let mut b = opt(77);
        link(&mut a, &mut b);
        let mut h = hdr(NETMAP_REQ_REGISTER, body);
        h.nr_options = addr(&mut a);
        // The interface does not exist: that error wins; both statuses say EOPNOTSUPP.
        assert_eq!(ctrl(&mut h), ENXIO);
        assert_eq!(a.nro_status, EOPNOTSUPP as u32);
        assert_eq!(b.nro_status, EOPNOTSUPP as u32);
        // "lo" exists (any network namespace has it): the option itself fails the request.
        h.set_name("lo").unwrap();
        a.nro_status = 0;
        h.nr_options = addr(&mut a);
        assert_eq!(ctrl(&mut h), EOPNOTSUPP);
        assert_eq!(a.nro_status, EOPNOTSUPP as u32);
        // Options on other requests are reported, but do not fail them.
        let mut pi = nmreq_port_info_get::default();
        let mut h = hdr(NETMAP_REQ_PORT_INFO_GET, addr(&mut pi));
        h.set_name("").unwrap();
        let mut c = opt(NETMAP_REQ_OPT_CSB);
        h.nr_options = addr(&mut c);
        assert_eq!(ctrl(&mut h), 0);
        assert_eq!(c.nro_status, EOPNOTSUPP as u32);
        assert_eq!(pi.nr_mem_id, 1);
        assert!(pi.nr_memsize > 0);
    }

    #[test]
    fn zero_type_and_duplicate_options() {
        let mut reg = nmreq_register::default();
        let body = addr(&mut reg);
        let mut a = opt(NETMAP_REQ_OPT_EXTMEM);
        let mut b = opt(0);
        let mut c = opt(NETMAP_REQ_OPT_EXTMEM);
        let mut d = opt(NETMAP_REQ_OPT_CSB);
        link(&mut a, &mut b);
        link(&mut b, &mut c);
        link(&mut c, &mut d);
        let mut h = hdr(NETMAP_REQ_REGISTER, body);
        h.nr_options = addr(&mut a);
        assert_eq!(ctrl(&mut h), EINVAL);
        assert_eq!(
            [a.nro_status, b.nro_status, c.nro_status, d.nro_status],
            [
                EINVAL as u32,
                EINVAL as u32,
                EINVAL as u32,
                EOPNOTSUPP as u32
            ]
        );
    }

    #[test]
    fn option_loops_and_long_lists_are_emsgsize() {
        let mut reg = nmreq_register::default();
        let body = addr(&mut reg);
        // A one-element loop.
        let mut a = opt(NETMAP_REQ_OPT_OFFSETS);
        a.nro_next = addr(&mut a);
        let mut h = hdr(NETMAP_REQ_REGISTER, body);
        h.nr_options = addr(&mut a);
        assert_eq!(ctrl(&mut h), EMSGSIZE);
        // A two-element loop of unknown types.
        let mut x = opt(100);
        let mut y = opt(101);
        link(&mut x, &mut y);
        link(&mut y, &mut x);
        h.nr_options = addr(&mut x);
        assert_eq!(ctrl(&mut h), EMSGSIZE);
        // A long, finite list of unknown options: 200 * 32 bytes > 4096.
        let mut v = vec![opt(100); 200];
        let base = v.as_mut_ptr() as u64;
        for (i, o) in v.iter_mut().enumerate().take(199) {
            o.nro_next = base + (i as u64 + 1) * size_of::<nmreq_option>() as u64;
        }
        h.nr_options = base;
        assert_eq!(ctrl(&mut h), EMSGSIZE);
        assert_eq!(v[0].nro_status, EOPNOTSUPP as u32);
        // A huge variable-size option.
        let mut e = opt(NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS);
        e.nro_size = u64::MAX;
        h.nr_options = addr(&mut e);
        assert_eq!(ctrl(&mut h), EMSGSIZE);
        // An unreadable option.
        h.nr_options = 24;
        assert_eq!(ctrl(&mut h), EFAULT);
    }

    #[test]
    fn queries_without_registration() {
        let f = NmFile::new();
        let mut hg = nmreq_port_hdr {
            nr_hdr_len: 99,
            pad1: 0,
        };
        let mut h = hdr(NETMAP_REQ_PORT_HDR_GET, addr(&mut hg));
        h.set_name("lo").unwrap();
        assert_eq!(call(&f, NIOCCTRL, &mut h), 0);
        assert_eq!(hg.nr_hdr_len, 0);
        h.nr_reqtype = NETMAP_REQ_PORT_HDR_SET;
        assert_eq!(call(&f, NIOCCTRL, &mut h), 0);
        hg.nr_hdr_len = 12;
        h.nr_body = addr(&mut hg);
        assert_eq!(call(&f, NIOCCTRL, &mut h), EINVAL);
        h.set_name(NOIF).unwrap();
        assert_eq!(call(&f, NIOCCTRL, &mut h), ENXIO);

        let mut pi = nmreq_port_info_get::default();
        let mut h = hdr(NETMAP_REQ_PORT_INFO_GET, addr(&mut pi));
        h.set_name("lo").unwrap();
        assert_eq!(call(&f, NIOCCTRL, &mut h), 0);
        assert_eq!((pi.nr_mem_id, pi.nr_host_tx_rings), (1, 1));
        assert!(pi.nr_tx_rings >= 1 && pi.nr_tx_slots >= 64);
        h.set_name("").unwrap();
        pi.nr_mem_id = 2;
        h.nr_body = addr(&mut pi);
        assert_eq!(call(&f, NIOCCTRL, &mut h), EINVAL);

        let mut pools = nmreq_pools_info::default();
        let mut h = hdr(NETMAP_REQ_POOLS_INFO_GET, addr(&mut pools));
        h.set_name("").unwrap();
        assert_eq!(call(&f, NIOCCTRL, &mut h), 0);
        let l = nmxdp::region_layout().unwrap();
        assert_eq!(pools.nr_memsize, l.memsize);
        assert_eq!(pools.nr_mem_id, 1);
        assert_eq!(pools.nr_if_pool_offset, 0);
        assert_eq!(pools.nr_buf_pool_offset, l.buf_pool_offset);
        assert_eq!(pools.nr_buf_pool_objsize, l.buf_size);
        assert_eq!(
            pools.nr_ring_pool_offset
                + pools.nr_ring_pool_objtotal as u64 * pools.nr_ring_pool_objsize as u64,
            l.umem_offset
        );
        // The file is still unregistered.
        assert_eq!(f.memsize(), 0);
        assert_eq!(ioctl(&f, NIOCTXSYNC, std::ptr::null_mut()), -1);
        assert_eq!(real::errno(), ENXIO);
        assert_eq!(ioctl(&f, NIOCRXSYNC, std::ptr::null_mut()), -1);
        assert_eq!(real::errno(), ENXIO);
    }

    fn legacy_req(name: &str, flags: u32, ringid: u16) -> nmreq {
        let mut n = nmreq {
            nr_version: 14,
            nr_flags: flags,
            nr_ringid: ringid,
            ..Default::default()
        };
        n.set_name(name).unwrap();
        n
    }

    #[test]
    fn legacy_translation() {
        let s = legacy_spec(&legacy_req("eth0", 0, 0));
        assert_eq!((s.mode, s.ringid, s.flags), (NR_REG_ALL_NIC, 0, 0));
        let s = legacy_spec(&legacy_req("eth0", 0, NETMAP_HW_RING | 3));
        assert_eq!((s.mode, s.ringid), (NR_REG_ONE_NIC, 3));
        let s = legacy_spec(&legacy_req("eth0", 0, NETMAP_SW_RING));
        assert_eq!(s.mode, NR_REG_SW);
        let s = legacy_spec(&legacy_req("eth0", NR_REG_PIPE_MASTER, 5));
        assert_eq!(
            (s.name.as_str(), s.mode, s.ringid),
            ("eth0{5", NR_REG_ALL_NIC, 0)
        );
        let s = legacy_spec(&legacy_req("eth0", NR_REG_PIPE_SLAVE, 2));
        assert_eq!(s.name, "eth0}2");
        let s = legacy_spec(&legacy_req(
            "eth0",
            NR_REG_ONE_NIC | 0x2000,
            NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL | 1,
        ));
        assert_eq!(s.mode, NR_REG_ONE_NIC);
        assert_eq!(s.ringid, 1);
        assert_eq!(s.flags, 0x2000 | NR_NO_TX_POLL | NR_DO_RX_POLL);
        let mut n = legacy_req("eth0", 1, 0);
        n.nr_arg2 = 1;
        assert_eq!(legacy_spec(&n).mem_id, 1);
    }

    #[test]
    fn legacy_requests() {
        let f = NmFile::new();
        let mut n = legacy_req(NOIF, NR_REG_ALL_NIC, 0);
        n.nr_version = 10;
        assert_eq!(call(&f, NIOCREGIF, &mut n), EINVAL);
        n.nr_version = 11;
        let before = n;
        assert_eq!(call(&f, NIOCREGIF, &mut n), ENXIO);
        assert_eq!(n, before);
        // Pipes are names; nmxdp has none.
        let mut n = legacy_req("lo", NR_REG_PIPE_MASTER, 1);
        assert_eq!(call(&f, NIOCREGIF, &mut n), EOPNOTSUPP);
        // NIOCGINFO with and without a name.
        let mut n = legacy_req("lo", 0, 0);
        assert_eq!(call(&f, NIOCGINFO, &mut n), 0);
        assert_eq!(n.nr_arg2, 1);
        assert!(n.nr_memsize > 0 && n.nr_tx_rings >= 1);
        let mut n = legacy_req("", 0, 0);
        assert_eq!(call(&f, NIOCGINFO, &mut n), 0);
        assert!(n.nr_memsize > 0 && n.nr_tx_rings == 0);
        n.nr_cmd = NETMAP_BDG_LIST;
        assert_eq!(call(&f, NIOCGINFO, &mut n), EOPNOTSUPP);
        // nr_cmd on NIOCREGIF.
        let mut n = legacy_req("lo", 0, 0);
        n.nr_cmd = NETMAP_VNET_HDR_GET;
        n.nr_arg1 = 7;
        assert_eq!(call(&f, NIOCREGIF, &mut n), 0);
        assert_eq!(n.nr_arg1, 0);
        n.nr_cmd = NETMAP_BDG_VNET_HDR;
        n.nr_arg1 = 10;
        assert_eq!(call(&f, NIOCREGIF, &mut n), EINVAL);
        for cmd in [NETMAP_BDG_ATTACH, NETMAP_BDG_LIST, NETMAP_PT_HOST_CREATE] {
            n.nr_cmd = cmd;
            assert_eq!(call(&f, NIOCREGIF, &mut n), EOPNOTSUPP, "cmd {cmd}");
        }
        assert_eq!(f.memsize(), 0);
    }
}
