//! The ioctls through [`super::ioctl`], on files that never register an existing interface
//! (except "lo" for the queries), and what the application is told about failures.

use std::mem::size_of;
use std::sync::Arc;

use libc::{c_int, c_ulong, c_void, EFAULT, EINVAL, EMSGSIZE, ENXIO, EOPNOTSUPP};
use nmxdp::abi::*;

use super::{ioctl, legacy_spec};
use crate::fdtable::NmFile;
use crate::nmctx::tests::{captured, capturing_ctx, CTX_TEST};
use crate::nmctx::{guard, nmctx, nmctx_set_default, report, Ctx};
use crate::real;

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
    // The legacy pipe modes open pipe lo{1 (the kernel appends {N to the name): one ring pair.
    let p = NmFile::new();
    let mut n = legacy_req("lo", NR_REG_PIPE_MASTER, 1);
    assert_eq!(call(&p, NIOCREGIF, &mut n), 0);
    assert_eq!((n.nr_tx_rings, n.nr_rx_rings, n.nr_arg2), (1, 1, 1));
    assert!(n.nr_tx_slots > 0 && n.nr_tx_slots == n.nr_rx_slots);
    drop(p.clear_registration());
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

#[test]
fn failures_are_reported_once_through_the_context() {
    let _g = CTX_TEST.lock().unwrap_or_else(|e| e.into_inner());
    let ctx: *mut nmctx = capturing_ctx();
    // SAFETY: a leaked context, live for the whole process.
    let cx = unsafe { Ctx::from_raw(ctx) };
    let f = NmFile::new();
    let mut reg = nmreq_register::default();
    let mut h = hdr(NETMAP_REQ_REGISTER, addr(&mut reg));
    // A version no other test uses: other tests may report through the default context
    // meanwhile, only this test's messages are counted.
    h.nr_version = 54321;
    // SAFETY: a live context, restored before the lock is released.
    let prev = unsafe { nmctx_set_default(ctx) };
    // From the application: once, to the default context, prefixed with who speaks.
    assert_eq!(call(&f, NIOCCTRL, &mut h), EINVAL);
    // From inside a libnetmap function: carried by that function's own report.
    guard((), || {
        assert_eq!(call(&f, NIOCCTRL, &mut h), EINVAL);
        assert_eq!(real::errno(), EINVAL);
        report(cx, "nmport_register: Invalid argument");
    });
    // Errors that the errno says all about are not explained.
    h.nr_version = 14;
    h.nr_reserved = 1;
    guard((), || {
        assert_eq!(call(&f, NIOCCTRL, &mut h), EINVAL);
        report(cx, "nmport_register: reserved");
    });
    // SAFETY: as above.
    unsafe { nmctx_set_default(prev) };
    let version = "NIOCCTRL with nr_version 54321: nmxdp speaks netmap API";
    let got: Vec<String> = captured(ctx)
        .into_iter()
        .filter(|m| m.contains("54321") || m.starts_with("nmport_register"))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with(&format!("nmxdp: {version}")), "{got:?}");
    assert!(
        got[1].starts_with(&format!(
            "nmport_register: Invalid argument (nmxdp: {version}"
        )),
        "{got:?}"
    );
    assert_eq!(got[2], "nmport_register: reserved");
}
