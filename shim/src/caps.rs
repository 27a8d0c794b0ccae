//! The process's effective capabilities, which AF_XDP sockets and XDP attachment need.

/// CAP_NET_ADMIN: attaching XDP programs, netlink changes to interfaces.
pub(crate) const NET_ADMIN: u64 = 1 << 12;
/// CAP_NET_RAW: AF_XDP sockets.
pub(crate) const NET_RAW: u64 = 1 << 13;
/// CAP_SYS_ADMIN: stands in for CAP_BPF.
pub(crate) const SYS_ADMIN: u64 = 1 << 21;
/// CAP_BPF: loading programs and creating maps.
pub(crate) const BPF: u64 = 1 << 39;

/// The effective capability set (`CapEff` in /proc/self/status); 0 when it cannot be read.
pub(crate) fn effective() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}
