//! The steps of `nmport_open` and their undo functions, on a descriptor the C entry point has
//! already checked: parse (the port spec into `hdr`/`reg`/options), register (`/dev/netmap` +
//! NIOCCTRL REGISTER), mmap (the region and the ring ranges). Each returns a [`Failure`] that the
//! entry point reports.
//!
//! Kernel-facing calls go through `libc::open/ioctl/mmap/munmap/close`: inside libnetmap.so these
//! symbols resolve to the interposer, which emulates `/dev/netmap`.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

use nmxdp::abi::{
    netmap_if, nmreq_opt_offsets, nmreq_register, ring_ofs_ptr, NETMAP_API, NETMAP_REQ_OPT_OFFSETS,
    NETMAP_REQ_REGISTER, NIOCCTRL,
};
use nmxdp::name::parse_port_with;
use nmxdp::Error;

use super::descriptor::nmport_d;
use super::region;
use crate::nmctx::{errno, strerror, Failure};
use crate::nmreq::{alloc_option, mem_id_of, option_name, OptionList, NETMAP_DEVICE};

/// `@offset` (and nothing else) can be enabled with `nmport_enable_option("offset")`.
pub(super) static OFFSET_ENABLED: AtomicBool = AtomicBool::new(false);

/// The fix shown whenever external memory is asked for.
pub(super) const EXTMEM_UNSUPPORTED: &str =
    "external memory is not supported: nmxdp's netmap region is its AF_XDP UMEM, which the \
     library allocates itself (remove @extmem / the nmport_extmem call)";

/// The descriptor's option list.
fn options(d: &mut nmport_d) -> OptionList<'_> {
    // SAFETY: the options linked from a descriptor's header are the library's own (`@offset`,
    // `nmport_offset`) or ones the application linked, valid while linked (libnetmap's
    // contract); the descriptor is ours during the call.
    unsafe { OptionList::new(&mut d.hdr) }
}

/// Pushes an OFFSETS option allocated by the library.
pub(super) fn push_offsets(
    d: &mut nmport_d,
    initial: u64,
    maxoff: u64,
    bits: u64,
    mingap: u64,
) -> Result<(), Failure> {
    let Some(o) = alloc_option(
        d.ctx(),
        size_of::<nmreq_opt_offsets>(),
        NETMAP_REQ_OPT_OFFSETS,
    ) else {
        return Err(Failure::new(
            libc::ENOMEM,
            format!("{}: cannot allocate the offsets option", d.name()),
        ));
    };
    let o = o.cast::<nmreq_opt_offsets>();
    // SAFETY: a fresh option of the offsets option's size, not yet linked anywhere.
    unsafe {
        let o = &mut *o.as_ptr();
        o.nro_initial_offset = initial;
        o.nro_max_offset = maxoff;
        o.nro_offset_bits = bits.min(u64::from(u32::MAX)) as u32;
        o.nro_min_gap = mingap;
    }
    // SAFETY: the library's option, valid until nmreq_free_options / undo_parse frees it.
    unsafe { options(d).push(o.cast()) };
    Ok(())
}

/// Fills `d` from `spec`; on error `d` may be half filled (see [`undo_parse`]).
pub(super) fn parse(d: &mut nmport_d, spec: &str) -> Result<(), Failure> {
    let p = parse_port_with(spec, OFFSET_ENABLED.load(Ordering::Relaxed)).map_err(Error::from)?;
    if let Some(x) = &p.extmem {
        return Err(Failure::new(
            libc::EOPNOTSUPP,
            format!(
                "{}: option @extmem (file '{}'): {EXTMEM_UNSUPPORTED}",
                spec.escape_debug(),
                x.file.escape_debug()
            ),
        ));
    }
    d.hdr.set_name(&p.name)?;
    let reg = &mut d.reg;
    reg.nr_mode = p.mode;
    reg.nr_ringid = p.ringid;
    reg.nr_flags = p.flags;
    if p.mem_id != 0 {
        reg.nr_mem_id = p.mem_id;
    }
    let c = p.conf;
    if let Some(v) = c.tx_rings {
        reg.nr_tx_rings = v;
    }
    if let Some(v) = c.rx_rings {
        reg.nr_rx_rings = v;
    }
    if let Some(v) = c.host_tx_rings {
        reg.nr_host_tx_rings = v;
    }
    if let Some(v) = c.host_rx_rings {
        reg.nr_host_rx_rings = v;
    }
    if let Some(v) = c.tx_slots {
        reg.nr_tx_slots = v;
    }
    if let Some(v) = c.rx_slots {
        reg.nr_rx_slots = v;
    }
    if let Some(share) = &p.share {
        // libnetmap wants a full port spec here; a bare interface name is taken as netmap:NAME.
        let target = if share.starts_with("netmap") || share.starts_with("vale") {
            share.clone()
        } else {
            format!("netmap:{share}")
        };
        let (id, _) = mem_id_of(&target)
            .map_err(|e| e.context(format!("{}: option @share", spec.escape_debug())))?;
        if reg.nr_mem_id != 0 && reg.nr_mem_id != id {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "{}: @share={share} selects allocator {id} but allocator {} was already \
                     selected (give either @N or @share)",
                    spec.escape_debug(),
                    reg.nr_mem_id
                ),
            )
            .into());
        }
        reg.nr_mem_id = id;
    }
    if let Some(o) = p.offset {
        push_offsets(d, o.initial, o.initial, u64::from(o.bits), 0)?;
    }
    Ok(())
}

/// Forgets what `parse` set (runs the cleanups, frees the library's options, clears hdr and reg).
pub(super) fn undo_parse(d: &mut nmport_d) {
    d.do_cleanup();
    options(d).free_all();
    d.reg = nmreq_register::default();
    d.extmem = ptr::null_mut();
    d.init_hdr();
}

/// Opens `/dev/netmap` and registers the port (NIOCCTRL REGISTER).
pub(super) fn register(d: &mut nmport_d) -> Result<(), Failure> {
    if d.register_done != 0 {
        return Err(Failure::new(
            libc::EINVAL,
            format!("{}: port already registered", d.name()),
        ));
    }
    if d.hdr.nr_version == 0 {
        d.hdr.nr_version = NETMAP_API as u16;
    }
    d.hdr.nr_reqtype = NETMAP_REQ_REGISTER;
    d.hdr.nr_body = ptr::addr_of_mut!(d.reg) as u64;
    // SAFETY: a constant path.
    let fd = unsafe { libc::open(NETMAP_DEVICE.as_ptr(), libc::O_RDWR) };
    if fd < 0 {
        let e = errno();
        return Err(Failure::new(
            e,
            format!("cannot open /dev/netmap: {}", strerror(e)),
        ));
    }
    // SAFETY: the descriptor's header, whose body is its `reg` and whose options are valid
    // (see `options`).
    if unsafe { libc::ioctl(fd, NIOCCTRL, ptr::addr_of_mut!(d.hdr)) } < 0 {
        let e = errno();
        let name = d.name();
        // One message per refused option, as upstream reports them; else the errno's.
        let mut messages: Vec<String> = options(d)
            .statuses()
            .into_iter()
            .filter(|&(_, status)| status != 0)
            .map(|(reqtype, status)| {
                format!(
                    "{name}: option {}: {}",
                    option_name(reqtype).to_string_lossy(),
                    strerror(status as i32)
                )
            })
            .collect();
        if messages.is_empty() {
            messages.push(format!("{name}: {}", strerror(e)));
        }
        // SAFETY: our fd, not kept.
        unsafe { libc::close(fd) };
        return Err(Failure::with_messages(e, messages));
    }
    d.fd = fd;
    d.register_done = 1;
    Ok(())
}

pub(super) fn undo_register(d: &mut nmport_d) {
    if d.fd >= 0 {
        // SAFETY: the descriptor's own fd, opened by `register`.
        unsafe { libc::close(d.fd) };
    }
    d.fd = -1;
    d.register_done = 0;
}

/// `first` = first i < ofs.len() with `ofs[i] != 0`, `last` = the first zero after it, minus 1;
/// no such ring: first = len, last = len - 1 (as 16-bit values, like libnetmap).
pub(super) fn ring_range(ofs: &[isize]) -> (u16, u16) {
    let first = ofs.iter().position(|&o| o != 0).unwrap_or(ofs.len());
    let end = ofs[first..]
        .iter()
        .position(|&o| o == 0)
        .map_or(ofs.len(), |n| first + n);
    (first as u16, (end as u16).wrapping_sub(1))
}

/// Maps the port's region (or reuses this context's mapping of the same mem id) and computes the
/// ring ranges.
pub(super) fn mmap(d: &mut nmport_d) -> Result<(), Failure> {
    if d.mmap_done != 0 {
        return Err(Failure::new(
            libc::EINVAL,
            format!("{}: port already mapped", d.name()),
        ));
    }
    if d.register_done == 0 {
        return Err(Failure::new(
            libc::EINVAL,
            format!(
                "{}: cannot map a port that is not registered (call nmport_register first)",
                d.name()
            ),
        ));
    }
    let m = region::acquire(d.ctx(), d.fd, &d.reg, &d.name())?;
    let nifp = region::base(m)
        .wrapping_add(d.reg.nr_offset as usize)
        .cast::<netmap_if>();
    d.mem = m.as_ptr();
    d.nifp = nifp;
    d.mmap_done = 1;
    // SAFETY: `acquire` checked that the netmap_if lies inside the mapped region; the ring
    // offsets follow it there, one per TX then RX ring (kernel and host), as the region's
    // layout has them; the application does not write them.
    let ofs = unsafe {
        let num_tx = usize::from(d.reg.nr_tx_rings) + (*nifp).ni_host_tx_rings as usize;
        let num_rx = usize::from(d.reg.nr_rx_rings) + (*nifp).ni_host_rx_rings as usize;
        let all = std::slice::from_raw_parts(ring_ofs_ptr(nifp).cast_const(), num_tx + num_rx);
        (&all[..num_tx], &all[num_tx..])
    };
    let (ft, lt) = ring_range(ofs.0);
    let (fr, lr) = ring_range(ofs.1);
    d.first_tx_ring = ft;
    d.last_tx_ring = lt;
    d.first_rx_ring = fr;
    d.last_rx_ring = lr;
    d.cur_tx_ring = ft;
    d.cur_rx_ring = fr;
    Ok(())
}

pub(super) fn undo_mmap(d: &mut nmport_d) {
    if d.mmap_done != 0 {
        if let Some(m) = NonNull::new(d.mem) {
            region::release(d.ctx(), m);
        }
    }
    d.mem = ptr::null_mut();
    d.nifp = ptr::null_mut();
    d.mmap_done = 0;
    d.first_tx_ring = 0;
    d.last_tx_ring = 0;
    d.first_rx_ring = 0;
    d.last_rx_ring = 0;
    d.cur_tx_ring = 0;
    d.cur_rx_ring = 0;
}

/// `undo_mmap` + `undo_register`.
pub(super) fn undo_open_desc(d: &mut nmport_d) {
    undo_mmap(d);
    undo_register(d);
}

/// A new unregistered descriptor with copies of `d`'s header and register body (no options),
/// same context.
pub(super) fn clone(d: &nmport_d) -> Result<&'static mut nmport_d, Failure> {
    let c = nmport_d::alloc(d.ctx())?;
    c.hdr = d.hdr;
    c.hdr.nr_options = 0;
    c.hdr.nr_body = ptr::addr_of_mut!(c.reg) as u64;
    c.reg = d.reg;
    Ok(c)
}
