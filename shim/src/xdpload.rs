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

/// The program and its XSK map, loaded.
pub(crate) struct Loaded {
    pub prog: OwnedFd,
    pub map: OwnedFd,
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

/// Loads program `prog_name` of `object` with its map `map_name` (which must be an XSK map).
pub(crate) fn load(object: &[u8], prog_name: &str, map_name: &str, ifname: &str) -> Result<Loaded> {
    let mut obj = aya_obj::Object::parse(object).map_err(rebuild)?;
    let map_obj = obj
        .maps
        .remove(map_name)
        .ok_or_else(|| rebuild(format!("no map {map_name}")))?;
    if map_obj.map_type() != BPF_MAP_TYPE_XSKMAP {
        return Err(rebuild(format!("{map_name} is not an XSK map")));
    }
    let map = bpfsys::map_create(
        map_obj.map_type(),
        map_obj.key_size(),
        map_obj.value_size(),
        map_obj.max_entries(),
        map_obj.map_flags(),
        map_name,
    )
    .map_err(|e| kernel_refused(ifname, "creating the XSK map", &e))?;
    let text: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    obj.relocate_maps(
        std::iter::once((map_name, map.as_raw_fd(), &map_obj)),
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
    Ok(Loaded { prog, map })
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
        // The last instruction of the program is `exit` (opcode 0x95, nothing else).
        assert_eq!(encode(f.instructions.last().unwrap()), 0x95);
        // `r2 = *(u32 *)(r1 + 16)` (ctx->rx_queue_index): ldx w, dst 2, src 1, off 16.
        assert!(f.instructions.iter().map(encode).any(|w| w == 0x0010_1261));
    }
}
