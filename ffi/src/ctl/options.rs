//! The option list of a NIOCCTRL request, walked as the kernel's copyin walks it.

use std::mem::{offset_of, size_of};

use libc::{c_int, EINVAL, EMSGSIZE, EOPNOTSUPP};
use nmxdp::abi::{
    nmreq_opt_csb, nmreq_opt_extmem, nmreq_opt_offsets, nmreq_opt_sync_kloop_mode, nmreq_option,
    NETMAP_REQ_MAXSIZE, NETMAP_REQ_OPT_CSB, NETMAP_REQ_OPT_EXTMEM, NETMAP_REQ_OPT_MAX,
    NETMAP_REQ_OPT_OFFSETS, NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, NETMAP_REQ_OPT_SYNC_KLOOP_MODE,
};

use super::usermem::{copy_in, copy_out};

/// One option of the list: where it is, its type, and the status to write back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Opt {
    pub addr: u64,
    pub reqtype: u32,
    pub status: u32,
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

/// Option name for messages.
pub(super) fn option_name(t: u32) -> String {
    match t {
        NETMAP_REQ_OPT_EXTMEM => "extmem".into(),
        NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS => "sync-kloop-eventfds".into(),
        NETMAP_REQ_OPT_CSB => "csb".into(),
        NETMAP_REQ_OPT_SYNC_KLOOP_MODE => "sync-kloop-mode".into(),
        NETMAP_REQ_OPT_OFFSETS => "offset".into(),
        t => format!("type {t}"),
    }
}

/// The option list as the kernel's copyin walks it: every status preset to `EOPNOTSUPP`; type 0
/// and second options of one type get `EINVAL` (both) and fail the request, but the walk goes
/// on; the list (headers, pointers and bodies) must fit in `NETMAP_REQ_MAXSIZE` together with
/// the request body, which also ends loops (`EMSGSIZE`). An unreadable option gives `EFAULT`.
/// Errors are plain errnos, as the kernel gives them.
pub(super) fn walk_options(first: u64, body: usize) -> (Vec<Opt>, Result<(), c_int>) {
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
pub(super) fn write_statuses(list: &[Opt]) {
    for o in list {
        let _ = copy_out(
            o.addr + offset_of!(nmreq_option, nro_status) as u64,
            o.status,
        );
    }
}
