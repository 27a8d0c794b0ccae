//! The queries: PORT_INFO_GET, POOLS_INFO_GET, PORT_HDR_GET / PORT_HDR_SET (also for the legacy
//! NIOCGINFO and virtio-net header commands). None of them registers anything.

use std::mem::offset_of;

use libc::EINVAL;
use nmxdp::abi::{nmreq_pools_info, nmreq_port_hdr, nmreq_port_info_get};
use nmxdp::Registration;

use super::error::{Fail, Res};
use super::register::query_spec;
use super::usermem::{copy_in, copy_out};
use crate::fdtable::{self, NmFile};

/// Memory size of allocator `mem_id` (0 = the default, 1): the only one nmxdp has.
fn mem_info(mem_id: u16) -> Res<u64> {
    if mem_id > 1 {
        return Err(Fail::new(
            EINVAL,
            format!("memory allocator {mem_id} does not exist: nmxdp has one region, mem id 1"),
        ));
    }
    fdtable::mark_engine_used();
    Ok(nmxdp::region_layout()?.memsize)
}

/// What PORT_INFO_GET reports for `name` (empty: memory info only, rings/slots left as given).
pub(super) fn port_info(name: String, mem_id: u16) -> Res<Registration> {
    if name.is_empty() {
        return Ok(Registration {
            nr_memsize: mem_info(mem_id)?,
            nr_mem_id: 1,
            ..Registration::default()
        });
    }
    fdtable::mark_engine_used();
    Ok(nmxdp::port_info(&query_spec(name, mem_id))?)
}

pub(super) fn req_port_info(name: String, body: u64) -> Res {
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
pub(super) fn hdr_len(name: String) -> Res<u32> {
    fdtable::mark_engine_used();
    nmxdp::port_info(&query_spec(name, 0))?;
    Ok(0)
}

pub(super) fn req_hdr_get(name: String, body: u64) -> Res {
    // Read before anything is written, as the kernel copies every body in first: a body that is
    // not (wholly) mapped gives EFAULT and stays untouched.
    let _: nmreq_port_hdr = copy_in(body)?;
    let len = hdr_len(name)?;
    Ok(copy_out(
        body + offset_of!(nmreq_port_hdr, nr_hdr_len) as u64,
        len,
    )?)
}

pub(super) fn req_hdr_set(name: String, body: u64) -> Res {
    let b: nmreq_port_hdr = copy_in(body)?;
    hdr_set(name, b.nr_hdr_len)
}

pub(super) fn hdr_set(name: String, len: u32) -> Res {
    let label = name.clone();
    hdr_len(name)?;
    if len != 0 {
        return Err(Fail::new(
            EINVAL,
            format!(
                "{label}: virtio-net header length {len} refused: NIC ports carry no virtio-net \
                 header (only VALE ports do; use length 0)"
            ),
        ));
    }
    Ok(())
}

pub(super) fn req_pools_info(file: &NmFile, name: String, body: u64) -> Res {
    let b: nmreq_pools_info = copy_in(body)?;
    if file.memsize() == 0 {
        if name.is_empty() {
            mem_info(b.nr_mem_id)?;
        } else {
            port_info(name, b.nr_mem_id)?;
        }
    }
    fdtable::mark_engine_used();
    let l = nmxdp::region_layout()?;
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
    Ok(copy_out(body, out)?)
}
