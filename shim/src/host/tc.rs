//! The two tc programs of a host path, attached through tcx bpf_links (Linux 6.6+).
//!
//! Each is a handful of instructions ending in `return bpf_redirect(IFINDEX, FLAGS)`, with the
//! target interface as an immediate: one program per interface and direction, loaded when the
//! host rings are bound, so it needs no map, no object file and no relocation.
//! - egress of the interface: whatever the stack transmits goes to the outer veth end instead
//!   of the wire (`TC_ACT_REDIRECT`), and from there to the host RX ring;
//! - ingress of the outer veth end: whatever the host TX ring sends arrives there and is
//!   redirected into the interface's receive path (`BPF_F_INGRESS`), as if received on the
//!   interface. It enters after the driver, so the interface's own (native) XDP program does
//!   not see it again. Its checksums count as verified (`bpf_csum_level(INC)`: CHECKSUM_NONE
//!   becomes CHECKSUM_UNNECESSARY), as a NIC that checked them would say: frames from a veth
//!   peer or a local sender with checksum offload carry only the pseudo-header sum in their
//!   L4 checksum (the kernel never completes it on such paths, and AF_XDP hands the frame on
//!   as is), and the stack would drop every such TCP/UDP frame. The price: the stack no longer
//!   catches an L4 checksum that was corrupted on the wire (the NIC's FCS check still does).

use std::os::fd::{AsFd, OwnedFd};

use crate::bpfsys::{
    prog_load, tcx_link_create, BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS, BPF_TCX_INGRESS,
};
use crate::error::{Error, Result};

/// `BPF_F_INGRESS`: bpf_redirect into the target's receive path instead of its transmit path.
const BPF_F_INGRESS: i32 = 1;
/// The `bpf_redirect` helper's number.
const BPF_FUNC_REDIRECT: i32 = 23;
/// The `bpf_csum_level` helper's number.
const BPF_FUNC_CSUM_LEVEL: i32 = 135;
/// `BPF_CSUM_LEVEL_INC`: one more checksum level verified (NONE becomes UNNECESSARY).
const BPF_CSUM_LEVEL_INC: i32 = 1;

/// One eBPF instruction: opcode, registers, offset, immediate (little-endian, as loaded).
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | ((src << 4 | dst) as u64) << 8
        | (off as u16 as u64) << 16
        | (imm as u32 as u64) << 32
}

const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `return bpf_redirect(ifindex, 0)`: the egress capture.
fn redirect_program(ifindex: u32) -> Vec<u64> {
    vec![
        insn(MOV64_IMM, 1, 0, 0, ifindex as i32),
        insn(MOV64_IMM, 2, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

/// `bpf_csum_level(skb, INC); return bpf_redirect(ifindex, BPF_F_INGRESS)`: the injection.
/// `bpf_csum_level` takes the context in r1, where the program gets it, and the redirect
/// does not need it, so nothing is saved across the first call.
fn inject_program(ifindex: u32) -> Vec<u64> {
    vec![
        insn(MOV64_IMM, 2, 0, 0, BPF_CSUM_LEVEL_INC),
        insn(CALL, 0, 0, 0, BPF_FUNC_CSUM_LEVEL),
        insn(MOV64_IMM, 1, 0, 0, ifindex as i32),
        insn(MOV64_IMM, 2, 0, 0, BPF_F_INGRESS),
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

/// The kernel version host rings need, for the EOPNOTSUPP message.
pub(crate) const NEEDS: &str = "Linux 6.6 (tcx bpf_links)";

fn attach(ifname: &str, ifindex: u32, at: u32, insns: &[u64], name: &str) -> Result<OwnedFd> {
    let prog = prog_load(BPF_PROG_TYPE_SCHED_CLS, at, insns, c"GPL", name, 0)
        .map_err(|e| Error::new(e.errno(), format!("host path: loading {name}: {e}")))?;
    tcx_link_create(prog.as_fd(), ifindex, at).map_err(|e| {
        let errno = e.errno();
        if errno == libc::EINVAL {
            // Kernels before 6.6 know neither the attach type nor the link.
            return Error::new(
                libc::EOPNOTSUPP,
                format!("{ifname}: host rings need {NEEDS}; this kernel refused a tcx link: {e}"),
            );
        }
        Error::new(errno, format!("{ifname}: attaching {name}: {e}"))
    })
}

/// The two links; dropping them detaches both programs.
pub(crate) struct TcLinks {
    _egress: OwnedFd,
    _ingress: OwnedFd,
}

impl TcLinks {
    /// Redirects `ifindex`'s egress to `outer`'s egress, and `outer`'s ingress into
    /// `ifindex`'s ingress (both interfaces in the calling thread's namespace).
    pub(crate) fn attach(
        ifname: &str,
        ifindex: u32,
        outer: &str,
        outer_ifindex: u32,
    ) -> Result<TcLinks> {
        // The ingress side first: nothing is captured before frames can also be injected.
        let ingress = attach(
            outer,
            outer_ifindex,
            BPF_TCX_INGRESS,
            &inject_program(ifindex),
            "nmxdp_host_in",
        )?;
        let egress = attach(
            ifname,
            ifindex,
            BPF_TCX_EGRESS,
            &redirect_program(outer_ifindex),
            "nmxdp_host_out",
        )?;
        Ok(TcLinks {
            _egress: egress,
            _ingress: ingress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_encodes_as_the_kernel_reads_it() {
        let p = redirect_program(7);
        assert_eq!(p[0], 0x0000_0007_0000_01b7);
        assert_eq!(p[1], 0x0000_0000_0000_02b7);
        assert_eq!(p[2], 0x0000_0017_0000_0085);
        assert_eq!(p[3], 0x95);
        let p = inject_program(7);
        assert_eq!(p[0], 0x0000_0001_0000_02b7);
        assert_eq!(p[1], 0x0000_0087_0000_0085);
        assert_eq!(p[3], 0x0000_0001_0000_02b7);
    }
}
