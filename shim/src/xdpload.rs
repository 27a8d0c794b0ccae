//! Loading the committed XDP object into the kernel without reading the kernel's BTF
//! (docs/architecture.md, "XDP attach").
//!
//! aya's `EbpfLoader` parses all of `/sys/kernel/btf/vmlinux` on every load, for CO-RE
//! relocations this program does not have: tens of milliseconds and megabytes at every first
//! open of an interface. Here aya-obj (aya's own ELF parser and relocator) reads the object and
//! patches the map reference, and two bpf(2) calls create the XSK map and load the program;
//! attaching stays aya's (see [`crate::xdp`]).

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::bpfsys;
use crate::error::{Error, Result};

/// `BPF_MAP_TYPE_XSKMAP`.
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_PROG_TYPE_XDP`.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_XDP`, the attach type of XDP programs.
const BPF_XDP: u32 = 37;

/// The program and its maps, loaded.
pub(crate) struct Loaded {
    pub prog: OwnedFd,
    /// The XSK map.
    pub map: OwnedFd,
    /// The other maps of the object (the steering maps), by name.
    pub others: Vec<(String, OwnedFd)>,
}

fn rebuild(what: impl std::fmt::Display) -> Error {
    Error::new(
        libc::EINVAL,
        format!("bpf/xsk_redirect.o: {what}: rebuild it with `make bpf`"),
    )
}

/// One instruction as the kernel reads it: opcode, registers (destination in the low nibble),
/// offset, immediate, little-endian.
fn encode(i: &aya_obj::generated::bpf_insn) -> u64 {
    let regs = (i.src_reg() << 4) | (i.dst_reg() & 0xf);
    i.code as u64 | (regs as u64) << 8 | (i.off as u16 as u64) << 16 | (i.imm as u32 as u64) << 32
}

/// Loads program `prog_name` of `object` with every map the object declares, created here;
/// `map_name` is the XSK map.
pub(crate) fn load(object: &[u8], prog_name: &str, map_name: &str, ifname: &str) -> Result<Loaded> {
    let mut obj = aya_obj::Object::parse(object).map_err(rebuild)?;
    match obj.maps.get(map_name) {
        None => return Err(rebuild(format!("no map {map_name}"))),
        Some(m) if m.map_type() != BPF_MAP_TYPE_XSKMAP => {
            return Err(rebuild(format!("{map_name} is not an XSK map")))
        }
        Some(_) => {}
    }
    let maps = std::mem::take(&mut obj.maps);
    let mut created = Vec::new();
    for (name, m) in &maps {
        let fd = bpfsys::map_create(
            m.map_type(),
            m.key_size(),
            m.value_size(),
            m.max_entries(),
            m.map_flags(),
            name,
        )
        .map_err(|e| kernel_refused(ifname, &format!("creating map {name}"), &e))?;
        created.push((name.clone(), fd, m));
    }
    let text: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    obj.relocate_maps(
        created
            .iter()
            .map(|(name, fd, m)| (name.as_str(), fd.as_raw_fd(), *m)),
        &text,
    )
    .map_err(rebuild)?;
    obj.relocate_calls(&text).map_err(rebuild)?;
    let prog = obj
        .programs
        .get(prog_name)
        .ok_or_else(|| rebuild(format!("no program {prog_name}")))?;
    let function = obj
        .functions
        .get(&prog.function_key())
        .ok_or_else(|| rebuild(format!("no code for {prog_name}")))?;
    let insns: Vec<u64> = function.instructions.iter().map(encode).collect();
    let prog = bpfsys::prog_load(BPF_PROG_TYPE_XDP, BPF_XDP, &insns, &prog.license, prog_name)
        .map_err(|e| kernel_refused(ifname, "loading the XDP program", &e))?;
    let mut map = None;
    let mut others = Vec::new();
    for (name, fd, _) in created {
        if name == map_name {
            map = Some(fd);
        } else {
            others.push((name, fd));
        }
    }
    Ok(Loaded {
        prog,
        map: map.expect("checked above"),
        others,
    })
}

fn kernel_refused(ifname: &str, what: &str, e: &bpfsys::SysError) -> Error {
    let errno = e.errno();
    let fix = if errno == libc::EPERM || errno == libc::EACCES {
        "needs CAP_BPF and CAP_NET_ADMIN (run as root)"
    } else {
        "the kernel needs BPF and XDP support"
    };
    Error::new(errno, format!("{ifname}: {what} failed ({e}): {fix}"))
}

/// Pins a loaded object at `path` (bpffs).
pub(crate) fn pin(fd: &OwnedFd, path: &std::path::Path) -> Result<()> {
    bpfsys::obj_pin(fd.as_fd(), path)
        .map_err(|e| Error::new(e.errno(), format!("pinning {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_as_the_kernel_reads_them() {
        let mut obj = aya_obj::Object::parse(crate::xdp::XDP_OBJECT).unwrap();
        let f = obj.functions.values_mut().next().unwrap();
        // `exit` is opcode 0x95 and nothing else.
        assert!(f.instructions.iter().map(encode).any(|w| w == 0x95));
        // `r1 = *(u32 *)(r7 + 16)` (ctx->rx_queue_index, ctx kept in r7 across the helper
        // calls): ldx w, dst 1, src 7, off 16.
        assert!(f.instructions.iter().map(encode).any(|w| w == 0x0010_7161));
    }
}
