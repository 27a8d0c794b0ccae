//! The few bpf(2) and rtnetlink calls the cross-process sharing needs, as thin raw syscalls:
//! pins, map updates by fd, and finding which program and link sit on an interface.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_UPDATE_ELEM: i64 = 2;
const BPF_MAP_DELETE_ELEM: i64 = 3;
const BPF_OBJ_PIN: i64 = 6;
const BPF_OBJ_GET: i64 = 7;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_MAP_GET_FD_BY_ID: i64 = 14;
const BPF_OBJ_GET_INFO_BY_FD: i64 = 15;
const BPF_LINK_GET_FD_BY_ID: i64 = 30;
const BPF_LINK_GET_NEXT_ID: i64 = 31;
const BPF_LINK_DETACH: i64 = 34;
const BPF_LINK_TYPE_XDP: u32 = 6;

/// A zeroed bpf_attr, large enough for every command used here.
#[repr(C, align(8))]
struct Attr([u8; 64]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 64])
    }
    fn put_u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn put_u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
}

fn bpf(cmd: i64, attr: &mut Attr) -> std::io::Result<i64> {
    // SAFETY: attr is a zero-padded bpf_attr of the size we pass; the kernel reads/writes within it.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len() as u32) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel returned a new fd that nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Pins `fd` at `path` in bpffs.
pub fn obj_pin(fd: RawFd, path: &str) -> std::io::Result<()> {
    let c = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    bpf(
        BPF_OBJ_PIN,
        Attr::new()
            .put_u64(0, c.as_ptr() as u64)
            .put_u32(8, fd as u32),
    )
    .map(|_| ())
}

/// Opens the object pinned at `path`.
pub fn obj_get(path: &str) -> std::io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    bpf(BPF_OBJ_GET, Attr::new().put_u64(0, c.as_ptr() as u64)).map(owned)
}

/// XSK map: key `queue` → socket `sock`.
pub fn xskmap_set(map: RawFd, queue: u32, sock: RawFd) -> std::io::Result<()> {
    let key = queue;
    let val = sock as u32;
    let mut a = Attr::new();
    a.put_u32(0, map as u32)
        .put_u64(8, &key as *const u32 as u64)
        .put_u64(16, &val as *const u32 as u64);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

pub fn xskmap_delete(map: RawFd, queue: u32) {
    let key = queue;
    let mut a = Attr::new();
    a.put_u32(0, map as u32)
        .put_u64(8, &key as *const u32 as u64);
    let _ = bpf(BPF_MAP_DELETE_ELEM, &mut a);
}

/// Identity of a program: id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    pub name: String,
}

fn info_by_fd(fd: RawFd, buf: &mut [u8]) -> std::io::Result<()> {
    let mut a = Attr::new();
    a.put_u32(0, fd as u32)
        .put_u32(4, buf.len() as u32)
        .put_u64(8, buf.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).map(|_| ())
}

/// Id and name of a program fd.
pub fn prog_info(fd: RawFd) -> std::io::Result<ProgInfo> {
    let mut b = [0u8; 256];
    info_by_fd(fd, &mut b)?;
    let id = u32::from_ne_bytes(b[4..8].try_into().expect("4 bytes"));
    let name = b[64..80]
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as char)
        .collect();
    Ok(ProgInfo { id, name })
}

/// Opens program `id` and its first map (our program has exactly one: the XSK map).
pub fn prog_and_map_by_id(id: u32) -> std::io::Result<(OwnedFd, ProgInfo, OwnedFd)> {
    let prog = bpf(BPF_PROG_GET_FD_BY_ID, Attr::new().put_u32(0, id)).map(owned)?;
    let mut b = [0u8; 256];
    let mut map_id = 0u32;
    b[52..56].copy_from_slice(&1u32.to_ne_bytes());
    b[56..64].copy_from_slice(&(&mut map_id as *mut u32 as u64).to_ne_bytes());
    info_by_fd(prog.as_raw_fd(), &mut b)?;
    let info = ProgInfo {
        id: u32::from_ne_bytes(b[4..8].try_into().expect("4 bytes")),
        name: b[64..80]
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as char)
            .collect(),
    };
    if map_id == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
    }
    let map = bpf(BPF_MAP_GET_FD_BY_ID, Attr::new().put_u32(0, map_id)).map(owned)?;
    Ok((prog, info, map))
}

/// Program `id`'s name, if it can be read.
pub fn prog_info_by_id(id: u32) -> Option<ProgInfo> {
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, Attr::new().put_u32(0, id))
        .ok()
        .map(owned)?;
    prog_info(fd.as_raw_fd()).ok()
}

/// The XDP bpf_link whose program is `prog_id` on `ifindex`, opened (a new reference).
pub fn find_xdp_link(prog_id: u32, ifindex: u32) -> Option<OwnedFd> {
    let mut id = 0u32;
    loop {
        let mut a = Attr::new();
        a.put_u32(0, id);
        bpf(BPF_LINK_GET_NEXT_ID, &mut a).ok()?;
        id = a.get_u32(4);
        let Ok(fd) = bpf(BPF_LINK_GET_FD_BY_ID, Attr::new().put_u32(0, id)).map(owned) else {
            continue;
        };
        let mut b = [0u8; 64];
        if info_by_fd(fd.as_raw_fd(), &mut b).is_err() {
            continue;
        }
        let ty = u32::from_ne_bytes(b[0..4].try_into().expect("4 bytes"));
        let pid = u32::from_ne_bytes(b[8..12].try_into().expect("4 bytes"));
        let ifi = u32::from_ne_bytes(b[16..20].try_into().expect("4 bytes"));
        if ty == BPF_LINK_TYPE_XDP && pid == prog_id && ifi == ifindex {
            return Some(fd);
        }
    }
}

/// Detaches a bpf_link (the program leaves the interface; holders keep a defunct link).
pub fn link_detach(fd: RawFd) -> std::io::Result<()> {
    bpf(BPF_LINK_DETACH, Attr::new().put_u32(0, fd as u32)).map(|_| ())
}

/// The XDP program attached to `ifindex` in the caller's network namespace, if any, and how
/// (`IFLA_XDP_ATTACHED`: 1 driver, 2 generic, 3 offload, 4 several), from RTM_GETLINK.
pub fn attached_xdp_prog(ifindex: u32) -> std::io::Result<Option<(u32, u8)>> {
    const RTM_GETLINK: u16 = 18;
    const IFLA_XDP: u16 = 43;
    const IFLA_XDP_PROG_ID: u16 = 4;
    const IFLA_XDP_ATTACHED: u16 = 2;
    const NLMSG_ERROR: u16 = 2;
    // SAFETY: plain socket(2).
    let s = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if s < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sock = owned(s as i64);
    // nlmsghdr (16) + ifinfomsg (16)
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&32u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[16] = libc::AF_UNSPEC as u8;
    req[20..24].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    // SAFETY: sending our request buffer on our socket.
    if unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32768];
    // SAFETY: receiving into our buffer.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let msg = &buf[..n as usize];
    if msg.len() < 16 {
        return Ok(None);
    }
    let ty = u16::from_ne_bytes([msg[4], msg[5]]);
    if ty == NLMSG_ERROR {
        let err = i32::from_ne_bytes(msg[16..20].try_into().expect("4 bytes"));
        return Err(std::io::Error::from_raw_os_error(-err));
    }
    let len = (u32::from_ne_bytes(msg[0..4].try_into().expect("4 bytes")) as usize).min(msg.len());
    let mut off = 32;
    while off + 4 <= len {
        let alen = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
        let aty = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
        if alen < 4 || off + alen > len {
            break;
        }
        if aty == IFLA_XDP {
            let mut o = off + 4;
            let (mut id, mut how) = (0u32, 0u8);
            while o + 4 <= off + alen {
                let l = u16::from_ne_bytes([msg[o], msg[o + 1]]) as usize;
                let t = u16::from_ne_bytes([msg[o + 2], msg[o + 3]]) & 0x3fff;
                if l < 4 {
                    break;
                }
                if t == IFLA_XDP_PROG_ID && l >= 8 {
                    id = u32::from_ne_bytes(msg[o + 4..o + 8].try_into().expect("4 bytes"));
                }
                if t == IFLA_XDP_ATTACHED && l >= 5 {
                    how = msg[o + 4];
                }
                o += (l + 3) & !3;
            }
            return Ok((id != 0).then_some((id, how)));
        }
        off += (alen + 3) & !3;
    }
    Ok(None)
}
