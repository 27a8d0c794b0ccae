//! Registration, shared by NIOCCTRL REGISTER and legacy NIOCREGIF: the port a request asks for,
//! opening it on the file, and the region it lives in (for mmap/munmap).

use std::sync::atomic::{AtomicUsize, Ordering};

use libc::EBUSY;
use nmxdp::abi::{nmreq_register, NR_REG_ALL_NIC};
use nmxdp::name::{PortSpec, RingConf};
use nmxdp::{Port, Registration};

use super::error::{Fail, Res};
use crate::fdtable::{self, NmFile};

static REGION_BASE: AtomicUsize = AtomicUsize::new(0);
static REGION_LEN: AtomicUsize = AtomicUsize::new(0);

/// Base and length of the shared region once a port was registered in this process.
pub(crate) fn region() -> Option<(usize, usize)> {
    match REGION_BASE.load(Ordering::Acquire) {
        0 => None,
        b => Some((b, REGION_LEN.load(Ordering::Acquire))),
    }
}

fn remember_region(port: &Port) {
    REGION_LEN.store(port.registration().nr_memsize as usize, Ordering::Release);
    REGION_BASE.store(port.region_base() as usize, Ordering::Release);
}

/// Opens the port and attaches it to the file.
pub(super) fn register(file: &NmFile, spec: PortSpec, extra_bufs: u32) -> Res<Registration> {
    let mut st = file.lock();
    if st.port.is_some() {
        return Err(EBUSY.into());
    }
    if fdtable::forked() {
        return Err(Fail::new(
            EBUSY,
            format!(
                "{}: cannot register a netmap port in a forked child of a process that used \
                 netmap (the parent owns the region): exec, or fork before opening ports",
                spec.name
            ),
        ));
    }
    fdtable::mark_engine_used();
    let port = Port::open_spec(spec, extra_bufs)?;
    let reg = port.registration();
    remember_region(&port);
    file.set_registered(&mut st, port);
    Ok(reg)
}

/// Undoes [`register`] (the result could not be written back).
pub(super) fn unregister(file: &NmFile) {
    let port = file.clear_registration();
    drop(port);
}

/// Checks what registering `spec` would check, without opening anything: used when the request
/// will fail anyway because of an unsupported option. (Attaching an XDP program only to detach
/// it again can reset a NIC's queues; a dry run gives the same errno for bad names and rings.)
pub(super) fn dry_run(spec: &PortSpec) -> Res {
    if fdtable::forked() {
        return Err(EBUSY.into());
    }
    fdtable::mark_engine_used();
    nmxdp::check_registration(spec)?;
    Ok(())
}

fn nonzero16(v: u16) -> Option<u16> {
    (v != 0).then_some(v)
}

fn nonzero32(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

/// The port a NIOCCTRL REGISTER asks for: name from the header, the rest from the body.
pub(super) fn spec_of(name: String, r: &nmreq_register) -> PortSpec {
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
pub(super) fn query_spec(name: String, mem_id: u16) -> PortSpec {
    spec_of(
        name,
        &nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            nr_mem_id: mem_id,
            ..Default::default()
        },
    )
}
