//! What an interface offers, found by trying it: used by `nmxdp info`.

use crate::config::XdpModeChoice;
use crate::error::Result;
use crate::ifinfo::{if_info, IfInfo};
use crate::xdp::XdpAttachment;
use crate::xsk::{BindAs, BindMode, RingSizes, UmemSpec, XskSocket};

/// Result of one capability probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The attach or bind succeeded (and was undone right away).
    Yes,
    /// The kernel or driver refused; the text is the reason, as nmxdp's error message gives it.
    No(String),
    /// Could not be tried (e.g. not privileged, queue busy).
    Unknown(String),
}

impl Probe {
    /// One-line form for `nmxdp info`: `yes`, `no (reason)` or `unknown (reason)`.
    pub fn describe(&self) -> String {
        match self {
            Probe::Yes => "yes".into(),
            Probe::No(why) => format!("no ({why})"),
            Probe::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

/// Interface facts plus what nmxdp could use on it.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// What the interface reports about itself (index, MTU, queues, ring sizes, driver).
    pub info: IfInfo,
    /// Whether nmxdp's XDP program attaches in native (driver) mode.
    pub native_xdp: Probe,
    /// Whether nmxdp's XDP program attaches in generic (SKB) mode.
    pub skb_xdp: Probe,
    /// Whether an AF_XDP socket binds to queue 0 in zero-copy mode; `No` means sockets on this
    /// interface run in copy mode.
    pub zero_copy: Probe,
}

fn attach_probe(info: &IfInfo, mode: XdpModeChoice) -> Probe {
    match XdpAttachment::attach(&info.name, info.ifindex, mode) {
        Ok(_) => Probe::Yes,
        Err(e) if e.errno() == libc::EPERM || e.errno() == libc::EBUSY => {
            Probe::Unknown(e.message().to_string())
        }
        Err(e) => Probe::No(e.message().to_string()),
    }
}

fn zero_copy_probe(info: &IfInfo) -> Probe {
    const CHUNKS: usize = 64;
    let len = CHUNKS * 2048;
    // SAFETY: a private anonymous mapping only this function uses and unmaps.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Probe::Unknown("no memory for a probe UMEM".into());
    }
    let how = BindAs::Owner {
        // SAFETY: the mapping is ours, outlives the socket (dropped below before the unmap) and
        // nothing else touches it.
        umem: unsafe { UmemSpec::new(mem.cast(), len as u64, 2048) },
        mode: Some(BindMode::ZeroCopy),
    };
    let sizes = RingSizes {
        rx: 32,
        tx: 32,
        fill: 32,
        comp: 32,
    };
    let r = XskSocket::open(info.ifindex, 0, sizes, &how);
    let res = match r {
        Ok(_) => Probe::Yes,
        Err(e) if e.errno() == libc::EOPNOTSUPP => {
            Probe::No("driver has no AF_XDP zero-copy; copy mode is used".into())
        }
        Err(e) => Probe::Unknown(e.message().to_string()),
    };
    // SAFETY: unmapping our own probe mapping after the socket is gone.
    unsafe { libc::munmap(mem, len) };
    res
}

/// Reads the interface and tries native XDP, generic XDP and a zero-copy bind on queue 0.
/// Without privileges the probes report `Unknown`; the interface facts still come back.
pub fn capabilities(ifname: &str) -> Result<Capabilities> {
    let info = if_info(ifname)?;
    Ok(Capabilities {
        native_xdp: attach_probe(&info, XdpModeChoice::Native),
        skb_xdp: attach_probe(&info, XdpModeChoice::Skb),
        zero_copy: zero_copy_probe(&info),
        info,
    })
}
