//! Loading the programs of the committed XDP object into the kernel without reading the
//! kernel's BTF (docs/architecture.md, "XDP attach").
//!
//! aya's `EbpfLoader` parses all of `/sys/kernel/btf/vmlinux` on every load, for CO-RE
//! relocations this program does not have: tens of milliseconds and megabytes at every first
//! open of an interface. Here aya-obj (aya's own ELF parser and relocator) reads the object and
//! patches the map references, and bpf(2) calls create the maps and load the program;
//! attaching stays aya's (see [`crate::xdp`]).
//!
//! The object holds two programs (bpf/xsk_redirect.c): the redirect that is attached at the
//! first open, and the rule evaluator it tail-calls, loaded only when a rule is installed
//! ([`crate::steer::maps`]). Each is loaded alone, with only the maps its own instructions use:
//! those another program already has are passed in, the others are created.

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::bpfsys;
use crate::error::{Error, Result};

/// `BPF_MAP_TYPE_XSKMAP`.
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_PROG_TYPE_XDP`.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_XDP`, the attach type of XDP programs.
const BPF_XDP: u32 = 37;
/// `prog_flags` bit: the program handles multi-buffer frames (it only reads the first
/// buffer's headers, which is all the redirect and the rule evaluator look at). A program and
/// the programs it tail-calls must agree on it, so both are loaded with it.
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `BPF_LD | BPF_IMM | BPF_DW`: the two-slot instruction that loads a map reference.
const LD_IMM64: u8 = 0x18;
/// `BPF_PSEUDO_MAP_FD`: its source register when the immediate is a map fd.
const PSEUDO_MAP_FD: u8 = 1;
/// Map references are first relocated to `TOKEN + index of the map` (above any fd), so that the
/// maps a program uses can be read from its instructions before any map is created.
const TOKEN: RawFd = 1 << 30;

/// The attached program and its maps, loaded.
pub(crate) struct Loaded {
    pub prog: OwnedFd,
    /// The XSK map.
    pub map: OwnedFd,
    /// The other maps of the program (the steering maps it uses), by name.
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

/// Loads the attached program `prog_name` of `object` with the maps it uses, all created here;
/// `map_name` is the XSK map.
pub(crate) fn load(object: &[u8], prog_name: &str, map_name: &str, ifname: &str) -> Result<Loaded> {
    let (prog, created) = load_program(object, prog_name, &[], ifname)?;
    let mut map = None;
    let mut others = Vec::new();
    for (name, fd) in created {
        if name == map_name {
            map = Some(fd);
        } else {
            others.push((name, fd));
        }
    }
    let map = map.ok_or_else(|| rebuild(format!("{prog_name} uses no map {map_name}")))?;
    match bpfsys::map_info(map.as_fd()) {
        Ok(info) if info.map_type == BPF_MAP_TYPE_XSKMAP => {}
        _ => return Err(rebuild(format!("{map_name} is not an XSK map"))),
    }
    Ok(Loaded { prog, map, others })
}

/// Program `prog_name` of `object`, relocated, with its map references still tokens.
struct Relocated {
    insns: Vec<aya_obj::generated::bpf_insn>,
    license: std::ffi::CString,
    /// The maps it uses, by name, in the order of their tokens (`TOKEN + index`).
    maps: Vec<(String, aya_obj::Map)>,
}

/// The instructions that load a map reference, with their tokens.
fn map_refs(insns: &[aya_obj::generated::bpf_insn]) -> impl Iterator<Item = (usize, RawFd)> + '_ {
    insns
        .iter()
        .enumerate()
        .filter(|(_, i)| i.code == LD_IMM64 && i.src_reg() == PSEUDO_MAP_FD)
        .map(|(n, i)| (n, i.imm))
}

fn relocate(object: &[u8], prog_name: &str) -> Result<Relocated> {
    let mut obj = aya_obj::Object::parse(object).map_err(rebuild)?;
    let mut maps: Vec<(String, aya_obj::Map)> = std::mem::take(&mut obj.maps).into_iter().collect();
    maps.sort_by(|a, b| a.0.cmp(&b.0));
    let text: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    // Every map of the object gets its token, so every reference resolves by its own symbol.
    obj.relocate_maps(
        maps.iter()
            .enumerate()
            .map(|(i, (name, m))| (name.as_str(), TOKEN + i as RawFd, m)),
        &text,
    )
    .map_err(rebuild)?;
    obj.relocate_calls(&text).map_err(rebuild)?;
    let prog = obj
        .programs
        .get(prog_name)
        .ok_or_else(|| rebuild(format!("no program {prog_name}")))?;
    let mut insns = obj
        .functions
        .remove(&prog.function_key())
        .ok_or_else(|| rebuild(format!("no code for {prog_name}")))?
        .instructions;
    // Renumber the tokens over the maps this program uses.
    let mut used: Vec<usize> = Vec::new();
    for (n, token) in map_refs(&insns).collect::<Vec<_>>() {
        let i = usize::try_from(token - TOKEN)
            .ok()
            .filter(|&i| i < maps.len())
            .ok_or_else(|| rebuild(format!("{prog_name}: a map reference left unrelocated")))?;
        let k = used.iter().position(|&u| u == i).unwrap_or_else(|| {
            used.push(i);
            used.len() - 1
        });
        insns[n].imm = TOKEN + k as RawFd;
    }
    let mut all: Vec<Option<(String, aya_obj::Map)>> = maps.into_iter().map(Some).collect();
    Ok(Relocated {
        insns,
        license: prog.license.clone(),
        maps: used.iter().filter_map(|&i| all[i].take()).collect(),
    })
}

/// Loads program `prog_name` of `object`. The maps it uses that are named in `existing` are
/// those (shared with the programs that already use them); the others are created and
/// returned, by name.
pub(crate) fn load_program(
    object: &[u8],
    prog_name: &str,
    existing: &[(&str, BorrowedFd<'_>)],
    ifname: &str,
) -> Result<(OwnedFd, Vec<(String, OwnedFd)>)> {
    let Relocated {
        mut insns,
        license,
        maps,
    } = relocate(object, prog_name)?;
    let mut created = Vec::new();
    let mut fds = Vec::with_capacity(maps.len());
    for (name, m) in &maps {
        if let Some((_, fd)) = existing.iter().find(|(n, _)| n == name) {
            fds.push(fd.as_raw_fd());
            continue;
        }
        let fd = bpfsys::map_create(
            m.map_type(),
            m.key_size(),
            m.value_size(),
            m.max_entries(),
            m.map_flags(),
            name,
        )
        .map_err(|e| kernel_refused(ifname, &format!("creating map {name}"), &e))?;
        fds.push(fd.as_raw_fd());
        created.push((name.clone(), fd));
    }
    for (n, token) in map_refs(&insns).collect::<Vec<_>>() {
        insns[n].imm = fds[(token - TOKEN) as usize];
    }
    let insns: Vec<u64> = insns.iter().map(encode).collect();
    // Frags-aware, so that frames longer than a page reach multi-buffer sockets (and a veth
    // accepts an MTU above a page); kernels before 5.18 do not know the flag (EINVAL), and
    // there the program is loaded plain: such kernels have no multi-buffer sockets either.
    let load = |flags| {
        bpfsys::prog_load(
            BPF_PROG_TYPE_XDP,
            BPF_XDP,
            &insns,
            &license,
            prog_name,
            flags,
        )
    };
    let prog = match load(BPF_F_XDP_HAS_FRAGS) {
        Err(e) if e.errno() == libc::EINVAL => load(0),
        r => r,
    }
    .map_err(|e| kernel_refused(ifname, &format!("loading the XDP program {prog_name}"), &e))?;
    Ok((prog, created))
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
        let obj = aya_obj::Object::parse(crate::xdp::XDP_OBJECT).unwrap();
        let words: Vec<u64> = obj
            .functions
            .values()
            .flat_map(|f| f.instructions.iter().map(encode))
            .collect();
        // `exit` is opcode 0x95 and nothing else.
        assert!(words.contains(&0x95));
        // `r1 = *(u32 *)(r6 + 16)` (ctx->rx_queue_index, ctx kept in r6 across the helper
        // call): ldx w, dst 1, src 6, off 16.
        assert!(words.contains(&0x0010_6161));
    }

    fn maps_of(prog: &str) -> Vec<String> {
        let mut names: Vec<String> = relocate(crate::xdp::XDP_OBJECT, prog)
            .unwrap()
            .maps
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_attached_program_leaves_the_rule_maps_to_the_evaluator() {
        // What the first open creates: no rule set, no counters.
        assert_eq!(
            maps_of(crate::xdp::PROG_NAME),
            ["steer_progs", "steer_sel", "xsks_map"]
        );
        assert_eq!(
            maps_of(crate::steer::maps::EVAL_NAME),
            ["steer_rules", "steer_sel", "steer_stats", "xsks_map"]
        );
    }

    #[test]
    fn the_attached_program_stays_small() {
        // Verified at every first open of an interface: a few instructions, no rule walk.
        let r = relocate(crate::xdp::XDP_OBJECT, crate::xdp::PROG_NAME).unwrap();
        assert!(r.insns.len() < 40, "{} instructions", r.insns.len());
        // Every map reference is a token of a map it uses.
        assert!(map_refs(&r.insns).all(|(_, t)| ((t - TOKEN) as usize) < r.maps.len()));
    }
}
