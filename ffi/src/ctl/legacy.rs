//! Legacy NIOCREGIF / NIOCGINFO (`struct nmreq`), answered as the kernel does: translated to the
//! NIOCCTRL request each stands for.

use std::mem::offset_of;

use libc::{EBUSY, EINVAL, EOPNOTSUPP};
use nmxdp::abi::*;
use nmxdp::name::{PortSpec, RingConf};

use super::error::{Fail, Res};
use super::info::{hdr_len, hdr_set, port_info};
use super::register::{register, unregister};
use super::usermem::{copy_in, copy_out};
use crate::fdtable::NmFile;

/// Lowest legacy API accepted. Real netmap wants 14; nmxdp also serves API 11-13 binaries,
/// whose `struct nmreq` and shared-memory layouts are the same.
const LEGACY_MIN_API: u32 = 11;

/// The NIOCCTRL REGISTER a legacy NIOCREGIF stands for.
pub(crate) fn legacy_spec(n: &nmreq) -> PortSpec {
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

pub(super) fn legacy(file: &NmFile, arg: u64, regif: bool) -> Res {
    if arg == 0 {
        return Err(EINVAL.into());
    }
    let n: nmreq = copy_in(arg)?;
    if n.nr_version < LEGACY_MIN_API {
        return Err(Fail::new(
            EINVAL,
            format!(
                "netmap API {} is too old: nmxdp accepts legacy requests from API \
                 {LEGACY_MIN_API} on",
                n.nr_version
            ),
        ));
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
        (_, cmd) => Err(Fail::new(
            EOPNOTSUPP,
            format!(
                "{}: legacy nr_cmd {cmd} (VALE switch or passthrough command) is not supported: \
                 nmxdp serves NIC ports only",
                if name.is_empty() { "netmap" } else { &name }
            ),
        )),
    }
}

fn legacy_register(file: &NmFile, arg: u64, n: &nmreq) -> Res {
    if file.memsize() != 0 {
        return Err(EBUSY.into());
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
