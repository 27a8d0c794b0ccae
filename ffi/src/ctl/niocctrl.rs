//! NIOCCTRL: the header checks, the dispatch on the request type, and REGISTER.

use std::mem::{offset_of, size_of};

use libc::{EBUSY, EINVAL, EOPNOTSUPP};
use nmxdp::abi::*;
use nmxdp::Registration;

use super::error::{Fail, Res};
use super::info;
use super::options::{option_name, walk_options, write_statuses, Opt};
use super::register::{dry_run, register, spec_of, unregister};
use super::usermem::{copy_in, copy_out};
use crate::fdtable::NmFile;

/// Body size of each request type; None for an unknown type.
pub(super) fn body_size(reqtype: u16) -> Option<usize> {
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

/// NIOCCTRL: checks the header, walks the options, answers the request, writes the option
/// statuses back.
pub(super) fn niocctrl(file: &NmFile, arg: u64) -> Res {
    if arg == 0 {
        return Err(EINVAL.into());
    }
    let mut hdr: nmreq_header = copy_in(arg)?;
    let version = hdr.nr_version as u32;
    if !(NETMAP_MIN_API..=NETMAP_MAX_API).contains(&version) {
        return Err(Fail::new(
            EINVAL,
            format!(
                "NIOCCTRL with nr_version {version}: nmxdp speaks netmap API \
                 {NETMAP_MIN_API}..{NETMAP_MAX_API} (rebuild the application against current \
                 netmap headers)"
            ),
        ));
    }
    if hdr.nr_reserved != 0 {
        return Err(EINVAL.into());
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
        return Err(EINVAL.into());
    }
    let (mut opts, walked) = walk_options(hdr.nr_options, body);
    let r = walked
        .map_err(Fail::from)
        .and_then(|()| request(file, &hdr, &mut opts));
    write_statuses(&opts);
    r
}

/// Dispatches a NIOCCTRL request whose header and options passed the checks.
fn request(file: &NmFile, hdr: &nmreq_header, opts: &mut [Opt]) -> Res {
    let name = c_name(&hdr.nr_name);
    match hdr.nr_reqtype {
        NETMAP_REQ_REGISTER => req_register(file, name, hdr.nr_body, opts),
        NETMAP_REQ_PORT_INFO_GET => info::req_port_info(name, hdr.nr_body),
        NETMAP_REQ_PORT_HDR_GET => info::req_hdr_get(name, hdr.nr_body),
        NETMAP_REQ_PORT_HDR_SET => info::req_hdr_set(name, hdr.nr_body),
        NETMAP_REQ_POOLS_INFO_GET => info::req_pools_info(file, name, hdr.nr_body),
        t if body_size(t).is_some() => Err(Fail::new(
            EOPNOTSUPP,
            format!(
                "{}: {} is not supported: nmxdp serves NIC ports only (VALE switches, sync \
                 kloops and CSB mode need the netmap kernel module)",
                if name.is_empty() { "netmap" } else { &name },
                reqtype_name(t)
            ),
        )),
        _ => Err(EINVAL.into()),
    }
}

fn req_register(file: &NmFile, name: String, body: u64, opts: &[Opt]) -> Res {
    if file.memsize() != 0 {
        return Err(EBUSY.into());
    }
    let reg: nmreq_register = copy_in(body)?;
    let spec = spec_of(name, &reg);
    // No option is supported for REGISTER, so any option leaves EOPNOTSUPP behind, which fails
    // the registration; errors of the registration itself come first.
    if let Some(o) = opts.iter().find(|o| o.status == EOPNOTSUPP as u32) {
        dry_run(&spec)?;
        return Err(Fail::new(
            EOPNOTSUPP,
            format!(
                "{}: option {} is not supported by nmxdp",
                spec.name,
                option_name(o.reqtype)
            ),
        ));
    }
    let r = register(file, spec, reg.nr_extra_bufs)?;
    if let Err(e) = write_register(body, &r) {
        unregister(file);
        return Err(e);
    }
    Ok(())
}

/// Writes back exactly the fields the kernel writes (nr_mode, nr_ringid, nr_flags stay as
/// passed).
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
