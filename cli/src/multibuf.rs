//! Whether an open would bind multi-buffer sockets (AF_XDP's `XDP_USE_SG`, frames as chains of
//! buffers: netmap's `NS_MOREFRAG` slot chains), and the largest frame it would carry.
//!
//! Decided as the open decides, without binding: Linux 6.6 or later; in copy mode every driver
//! takes it; a zero-copy socket needs the driver's `NETDEV_A_DEV_XDP_ZC_MAX_SEGS` above 1 (the
//! open binds zero-copy single-buffer otherwise). A native-mode XDP program sees frames longer
//! than a page only on drivers announcing `NETDEV_XDP_ACT_RX_SG`.

use nmxdp::netdev::XdpFeatures;
use serde_json::{json, Value};

/// The kernel release multi-buffer AF_XDP sockets need.
const SINCE: (u32, u32) = (6, 6);

/// What `info` says about frames longer than a buffer.
pub struct MultiBuffer {
    /// Sockets would be bound multi-buffer.
    pub yes: bool,
    /// Why (or why not), for the text line.
    pub why: String,
    /// Bytes one buffer carries.
    pub room: u32,
    /// Most buffers one frame may take.
    pub max_slots: u32,
    /// Buffers a frame of the interface's MTU takes.
    pub mtu_slots: u32,
    /// The driver's native XDP takes multi-buffer frames (None: not known).
    pub rx_sg: Option<bool>,
}

/// The running kernel's (major, minor), from its release string.
fn kernel() -> Option<(u32, u32)> {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_release(&r)
}

fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

impl MultiBuffer {
    /// For an interface of `mtu` with these XDP features, `room` bytes per buffer, bound
    /// zero-copy or not.
    pub fn decide(
        features: Option<XdpFeatures>,
        mtu: u32,
        room: u32,
        zero_copy: bool,
    ) -> MultiBuffer {
        MultiBuffer::from_facts(
            kernel(),
            features,
            nmxdp::queue::max_frags(),
            mtu,
            room,
            zero_copy,
        )
    }

    fn from_facts(
        kernel: Option<(u32, u32)>,
        features: Option<XdpFeatures>,
        max_frags: u32,
        mtu: u32,
        room: u32,
        zero_copy: bool,
    ) -> MultiBuffer {
        let release = kernel.map_or("an unknown kernel".to_string(), |(a, b)| {
            format!("Linux {a}.{b}")
        });
        let (yes, why, max_slots) = if kernel.is_some_and(|k| k < SINCE) {
            (
                false,
                format!("{release} lacks AF_XDP multi-buffer, 6.6 or later has it"),
                1,
            )
        } else if zero_copy {
            match features.map(|f| f.zc_max_segs) {
                Some(segs) if segs > 1 => (
                    true,
                    format!("zero-copy bind with XDP_USE_SG, {release}, the driver takes {segs} buffers per frame"),
                    segs.min(max_frags),
                ),
                _ => (
                    false,
                    "the driver's zero-copy sockets take one buffer per frame; NMXDP_BIND=copy binds multi-buffer".to_string(),
                    1,
                ),
            }
        } else {
            (
                true,
                format!("copy bind with XDP_USE_SG, {release}"),
                max_frags,
            )
        };
        MultiBuffer {
            yes,
            why,
            room,
            max_slots,
            mtu_slots: (mtu + 14).div_ceil(room.max(1)),
            rx_sg: features.map(|f| f.rx_sg),
        }
    }

    /// The largest frame an open carries.
    pub fn max_frame(&self) -> u64 {
        self.max_slots as u64 * self.room as u64
    }

    /// The `multi-buffer:` line of `nmxdp info` (and a second line when the MTU does not fit or
    /// native XDP drops long frames).
    pub fn text(&self, mtu: u32, native: bool) -> String {
        let mut s = format!(
            "multi-buffer:   {} ({}): frames up to {} bytes ({} buffer(s) of {}); MTU {mtu} takes {}",
            if self.yes { "yes" } else { "no" },
            self.why,
            self.max_frame(),
            self.max_slots,
            self.room,
            self.mtu_slots
        );
        if self.mtu_slots > self.max_slots {
            s.push_str(&format!(
                "\n                an open refuses MTU {mtu}: lower it to {} or set NMXDP_BUF_SIZE=4096",
                self.max_frame().saturating_sub(14)
            ));
        } else if native && self.mtu_slots > 1 && self.rx_sg == Some(false) {
            s.push_str(
                "\n                the driver's native XDP lacks multi-buffer frames (NETDEV_XDP_ACT_RX_SG): receive them with NMXDP_XDP_MODE=skb",
            );
        }
        s
    }

    pub fn json(&self) -> Value {
        json!({
            "supported": self.yes,
            "why": self.why,
            "max_frame": self.max_frame(),
            "max_slots": self.max_slots,
            "slot_bytes": self.room,
            "mtu_slots": self.mtu_slots,
            "xdp_rx_sg": self.rx_sg,
        })
    }
}

/// What an interface's MTU says of the sockets bound on it, for `nmxdp status` (an open refuses
/// an MTU whose frames take more than one buffer unless its sockets are multi-buffer): `always`
/// when a frame is longer than the largest buffer's room, `buf2048` when only 2048-byte buffers
/// are too short for it, `never`.
pub fn chains_at(mtu: u32) -> &'static str {
    let frame = mtu + 14;
    let room = |buf: u32| buf - nmxdp::sys::XDP_PACKET_HEADROOM as u32;
    if frame > room(4096) {
        "always"
    } else if frame > room(2048) {
        "buf2048"
    } else {
        "never"
    }
}

/// The status line for an interface of `mtu`.
pub fn status_line(mtu: u32) -> String {
    let frame = mtu + 14;
    match chains_at(mtu) {
        "always" => format!("mtu {mtu}: frames of {frame} bytes are longer than any buffer: its sockets are multi-buffer"),
        "buf2048" => format!("mtu {mtu}: frames of {frame} bytes: sockets of 2048-byte buffers are multi-buffer, of 4096-byte ones single-buffer"),
        _ => format!("mtu {mtu}: frames of {frame} bytes fit one buffer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(zc_max_segs: u32, rx_sg: bool) -> Option<XdpFeatures> {
        Some(XdpFeatures {
            zero_copy: true,
            zc_max_segs,
            rx_sg,
        })
    }

    #[test]
    fn mtus() {
        assert_eq!(chains_at(1500), "never");
        assert_eq!(chains_at(1778), "never");
        assert_eq!(chains_at(1779), "buf2048");
        assert_eq!(chains_at(3826), "buf2048");
        assert_eq!(chains_at(9000), "always");
    }

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.18.0-1-amd64\n"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0"), Some((5, 15)));
        assert_eq!(parse_release("x"), None);
    }

    #[test]
    fn decides_as_the_open_binds() {
        // Copy mode on 6.6+: 18 buffers of 1792 bytes, MTU 9000 in 6.
        let m = MultiBuffer::from_facts(Some((6, 18)), f(1, true), 18, 9000, 1792, false);
        assert!(m.yes);
        assert_eq!((m.max_frame(), m.mtu_slots), (32256, 6));
        assert!(m.text(9000, true).starts_with("multi-buffer:   yes (copy bind with XDP_USE_SG, Linux 6.18): frames up to 32256 bytes (18 buffer(s) of 1792); MTU 9000 takes 6"));
        // Zero-copy without zero-copy multi-buffer, and an old kernel: one buffer.
        let m = MultiBuffer::from_facts(Some((6, 18)), f(1, true), 18, 9000, 1792, true);
        assert!(
            !m.yes
                && m.text(9000, true)
                    .contains("an open refuses MTU 9000: lower it to 1778")
        );
        let m = MultiBuffer::from_facts(Some((6, 18)), f(5, true), 18, 1500, 3840, true);
        assert_eq!((m.yes, m.max_slots, m.mtu_slots), (true, 5, 1));
        let m = MultiBuffer::from_facts(Some((6, 1)), None, 18, 1500, 1792, false);
        assert!(!m.yes && m.why.contains("Linux 6.1 lacks"));
        // Native XDP without RX_SG drops what takes more than a buffer.
        let m = MultiBuffer::from_facts(Some((6, 18)), f(1, false), 18, 9000, 1792, false);
        assert!(m.text(9000, true).contains("NMXDP_XDP_MODE=skb"));
        assert!(!m.text(9000, false).contains("NMXDP_XDP_MODE=skb"));
    }
}
