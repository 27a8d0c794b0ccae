//! What a driver says it can do with XDP, from the `netdev` generic netlink family (Linux 6.3+):
//! whether its AF_XDP sockets can run zero-copy, and with how many buffers per frame. Asking
//! costs two netlink round trips; binding a socket in a mode the driver lacks costs a buffer
//! pool built and torn down in the kernel, milliseconds at every first open.

use crate::bpfsys::netlink_message;

/// `GENL_ID_CTRL`: the generic netlink controller, which maps family names to ids.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
/// `NETDEV_XDP_ACT_XSK_ZEROCOPY`: the driver binds AF_XDP sockets in zero-copy mode.
const XDP_ACT_XSK_ZEROCOPY: u64 = 8;
/// `NETDEV_XDP_ACT_RX_SG`: the driver's native XDP takes frames of several buffers.
const XDP_ACT_RX_SG: u64 = 0x20;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// A driver's AF_XDP abilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpFeatures {
    /// Sockets can bind zero-copy (`NETDEV_XDP_ACT_XSK_ZEROCOPY`).
    pub zero_copy: bool,
    /// Most buffers of one frame a zero-copy socket takes (`NETDEV_A_DEV_XDP_ZC_MAX_SEGS`;
    /// 1: no zero-copy multi-buffer).
    pub zc_max_segs: u32,
    /// Native XDP programs see frames of several buffers (`NETDEV_XDP_ACT_RX_SG`): without it,
    /// a native-mode program gets no frame longer than one page.
    pub rx_sg: bool,
}

/// One generic netlink request: header, `genlmsghdr`, attributes.
fn request(family: u16, cmd: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
    m.extend_from_slice(&family.to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[cmd, 1, 0, 0]); // cmd, version, reserved
    for (ty, payload) in attrs {
        m.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(payload);
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
    }
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

/// The attributes of a generic netlink answer, as (type, payload).
fn attrs(answer: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = NLMSG_HDRLEN + GENL_HDRLEN;
    std::iter::from_fn(move || {
        let hdr = answer.get(at..at + 4)?;
        let len = u16::from_ne_bytes([hdr[0], hdr[1]]) as usize;
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff;
        let payload = answer.get(at + 4..at + len.max(4))?;
        at += len.max(4).next_multiple_of(4);
        Some((ty, payload))
    })
}

fn attr_u64(answer: &[u8], want: u16) -> Option<u64> {
    attrs(answer)
        .find(|(t, _)| *t == want)
        .and_then(|(_, p)| match p.len() {
            8 => Some(u64::from_ne_bytes(p.try_into().ok()?)),
            4 => Some(u32::from_ne_bytes(p.try_into().ok()?) as u64),
            2 => Some(u16::from_ne_bytes(p.try_into().ok()?) as u64),
            _ => None,
        })
}

/// The XDP features of interface `ifindex` (in the calling thread's namespace); None when the
/// kernel has no `netdev` family (before 6.3) or does not answer.
pub fn xdp_features(ifindex: u32) -> Option<XdpFeatures> {
    let ask = request(
        GENL_ID_CTRL,
        CTRL_CMD_GETFAMILY,
        &[(CTRL_ATTR_FAMILY_NAME, b"netdev\0")],
    );
    let answer = netlink_message(libc::NETLINK_GENERIC, "netdev family id", &ask).ok()?;
    let family = attr_u64(&answer, CTRL_ATTR_FAMILY_ID)? as u16;
    let ask = request(
        family,
        NETDEV_CMD_DEV_GET,
        &[(NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes())],
    );
    let answer = netlink_message(libc::NETLINK_GENERIC, "netdev dev-get", &ask).ok()?;
    let features = attr_u64(&answer, NETDEV_A_DEV_XDP_FEATURES)?;
    Some(XdpFeatures {
        zero_copy: features & XDP_ACT_XSK_ZEROCOPY != 0,
        zc_max_segs: attr_u64(&answer, NETDEV_A_DEV_XDP_ZC_MAX_SEGS).unwrap_or(1) as u32,
        rx_sg: features & XDP_ACT_RX_SG != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_padded_and_answers_parsed() {
        let m = request(0x10, 3, &[(2, b"netdev\0")]);
        assert_eq!(
            m.len(),
            16 + 4 + 12,
            "7-byte name padded to 8 after its 4-byte header"
        );
        assert_eq!(
            u32::from_ne_bytes(m[..4].try_into().unwrap()),
            m.len() as u32
        );
        // An answer: header, genl header, a u16 id (padded) and a u64.
        let mut a = vec![0u8; 20];
        a.extend_from_slice(&6u16.to_ne_bytes());
        a.extend_from_slice(&1u16.to_ne_bytes());
        a.extend_from_slice(&[0x22, 0, 0, 0]);
        a.extend_from_slice(&12u16.to_ne_bytes());
        a.extend_from_slice(&3u16.to_ne_bytes());
        a.extend_from_slice(&9u64.to_ne_bytes());
        assert_eq!(attr_u64(&a, 1), Some(0x22));
        assert_eq!(attr_u64(&a, 3), Some(9));
        assert_eq!(attr_u64(&a, 4), None);
    }
}
