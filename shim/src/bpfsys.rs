//! The few kernel calls nmxdp makes itself because aya 0.14 has no API for them:
//! - opening a bpf_link by id (aya's `loaded_links` only describes links, it never opens one),
//! - reading which interface an XDP bpf_link sits on (aya's `LinkInfo` hides the XDP ifindex),
//! - forcefully detaching a bpf_link that another process holds (`BPF_LINK_DETACH`),
//! - reading, and clearing, the XDP program of an interface over rtnetlink (aya's netlink
//!   helpers are private),
//! - creating the XSK map, loading the program and pinning both, which aya only does through
//!   `EbpfLoader`, and that parses the kernel's whole BTF on every load (tens of milliseconds
//!   and megabytes the program, which has no CO-RE relocation, never needs).
//!
//! Every bpf(2) call goes through `bpf` with one `#[repr(C)]` struct per command, laid out like
//! the command's member of the kernel's `union bpf_attr` (checked at compile time); every
//! rtnetlink request goes through `rtnl`. Loading, attaching, pinning and the XSK map are
//! aya's (see [`crate::xdp`]).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The bpf(2) commands nmxdp issues itself (values of the kernel's `enum bpf_cmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// `BPF_MAP_CREATE`: creates a map.
    MapCreate = 0,
    /// `BPF_MAP_LOOKUP_ELEM`: reads a map element (every CPU's copy for per-CPU maps).
    MapLookupElem = 1,
    /// `BPF_MAP_UPDATE_ELEM`: writes a map element.
    MapUpdateElem = 2,
    /// `BPF_PROG_LOAD`: verifies and loads a program.
    ProgLoad = 5,
    /// `BPF_OBJ_PIN`: pins a map or program in bpffs.
    ObjPin = 6,
    /// `BPF_PROG_TEST_RUN`: runs a program once on a given packet.
    ProgTestRun = 10,
    /// `BPF_MAP_GET_FD_BY_ID`: opens a map by id.
    MapGetFdById = 14,
    /// `BPF_OBJ_GET_INFO_BY_FD`: what the kernel knows about an object.
    ObjGetInfoByFd = 15,
    /// `BPF_LINK_CREATE`: attaches a program to a hook through a new bpf_link.
    LinkCreate = 28,
    /// `BPF_LINK_GET_FD_BY_ID`: opens a bpf_link by id.
    LinkGetFdById = 30,
    /// `BPF_LINK_DETACH`: detaches a bpf_link from its hook.
    LinkDetach = 34,
}

impl Cmd {
    /// The kernel's name for the command.
    pub const fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ObjPin => "BPF_OBJ_PIN",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::LinkCreate => "BPF_LINK_CREATE",
            Cmd::LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            Cmd::LinkDetach => "BPF_LINK_DETACH",
        }
    }

    /// Whether a successful call returns a new file descriptor.
    const fn returns_fd(self) -> bool {
        matches!(
            self,
            Cmd::LinkGetFdById
                | Cmd::MapGetFdById
                | Cmd::MapCreate
                | Cmd::ProgLoad
                | Cmd::LinkCreate
        )
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed kernel request: which one, and the kernel's errno.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// bpf(2) failed.
    #[error("bpf({cmd}): {source}")]
    Bpf {
        /// The command.
        cmd: Cmd,
        /// The kernel's answer.
        source: io::Error,
    },
    /// An rtnetlink request failed, or its answer could not be read.
    #[error("rtnetlink {request}: {source}")]
    Rtnetlink {
        /// The request, e.g. `RTM_GETLINK`.
        request: &'static str,
        /// The kernel's answer (`EBADMSG` for an answer that could not be parsed).
        source: io::Error,
    },
}

impl SysError {
    /// The errno the kernel answered (EIO when the failure was not the kernel's).
    pub fn errno(&self) -> i32 {
        let (SysError::Bpf { source, .. } | SysError::Rtnetlink { source, .. }) = self;
        source.raw_os_error().unwrap_or(libc::EIO)
    }
}

// ---------------------------------------------------------------------------------------------
// bpf(2)

/// A member of the kernel's `union bpf_attr`, for one command.
///
/// # Safety
///
/// The implementor is `#[repr(C)]`, has no implicit padding, and lays out the fields the kernel
/// reads and writes for [`Attr::CMD`] at the kernel's offsets, so the kernel touches only its
/// bytes (it zero-fills the rest of its own copy of the union). A pointer it carries is valid,
/// for the access the command makes through it, for as long as the value lives.
unsafe trait Attr {
    const CMD: Cmd;
}

/// `BPF_LINK_GET_FD_BY_ID`: the `BPF_*_GET_*_ID` member (`link_id` is the first union field).
#[repr(C)]
struct LinkGetFdByIdAttr {
    link_id: u32,
    next_id: u32,
    open_flags: u32,
}

const _: () = {
    assert!(size_of::<LinkGetFdByIdAttr>() == 12);
    assert!(offset_of!(LinkGetFdByIdAttr, link_id) == 0);
    assert!(offset_of!(LinkGetFdByIdAttr, next_id) == 4);
    assert!(offset_of!(LinkGetFdByIdAttr, open_flags) == 8);
};

// SAFETY: repr(C), three u32 at the kernel's offsets (asserted above), no pointers.
unsafe impl Attr for LinkGetFdByIdAttr {
    const CMD: Cmd = Cmd::LinkGetFdById;
}

/// `BPF_MAP_CREATE`: the map-create member, up to `map_ifindex`.
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
}

const _: () = {
    assert!(size_of::<MapCreateAttr>() == 48);
    assert!(offset_of!(MapCreateAttr, map_flags) == 16);
    assert!(offset_of!(MapCreateAttr, map_name) == 28);
    assert!(offset_of!(MapCreateAttr, map_ifindex) == 44);
};

// SAFETY: repr(C), u32 fields and a byte array at the kernel's offsets (asserted above), no
// padding, no pointers.
unsafe impl Attr for MapCreateAttr {
    const CMD: Cmd = Cmd::MapCreate;
}

/// `BPF_PROG_LOAD`: the program-load member, up to `expected_attach_type`. The pointers borrow
/// the instructions and the license for as long as the attr lives.
#[repr(C, align(8))]
struct ProgLoadAttr<'a> {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _borrows: PhantomData<(&'a [u64], &'a std::ffi::CStr)>,
}

const _: () = {
    assert!(size_of::<ProgLoadAttr<'static>>() == 72);
    assert!(offset_of!(ProgLoadAttr<'static>, insns) == 8);
    assert!(offset_of!(ProgLoadAttr<'static>, license) == 16);
    assert!(offset_of!(ProgLoadAttr<'static>, log_buf) == 32);
    assert!(offset_of!(ProgLoadAttr<'static>, kern_version) == 40);
    assert!(offset_of!(ProgLoadAttr<'static>, prog_name) == 48);
    assert!(offset_of!(ProgLoadAttr<'static>, expected_attach_type) == 68);
};

// SAFETY: repr(C) at the kernel's offsets (asserted above), no padding; `insns` and `license`
// point to data the `'a` borrows keep alive (`insn_cnt` 8-byte instructions, a NUL-terminated
// string), `log_buf` is null with `log_size` 0.
unsafe impl Attr for ProgLoadAttr<'_> {
    const CMD: Cmd = Cmd::ProgLoad;
}

/// `BPF_OBJ_PIN`: the pin member, up to `file_flags`. `pathname` borrows a NUL-terminated path.
#[repr(C, align(8))]
struct ObjPinAttr<'a> {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    _path: PhantomData<&'a std::ffi::CStr>,
}

const _: () = {
    assert!(size_of::<ObjPinAttr<'static>>() == 16);
    assert!(offset_of!(ObjPinAttr<'static>, bpf_fd) == 8);
};

// SAFETY: repr(C) at the kernel's offsets (asserted above), no padding; `pathname` points to a
// NUL-terminated string the `'a` borrow keeps alive.
unsafe impl Attr for ObjPinAttr<'_> {
    const CMD: Cmd = Cmd::ObjPin;
}

/// A kernel object name (`BPF_OBJ_NAME_LEN`: 15 bytes and a NUL).
fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (d, s) in out.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    out
}

/// Creates a map; returns its fd.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: &str,
) -> Result<OwnedFd, SysError> {
    bpf_fd(&mut MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: obj_name(name),
        map_ifindex: 0,
    })
}

/// Loads a program of `prog_type` from raw 8-byte instructions; returns its fd.
pub fn prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[u64],
    license: &std::ffi::CStr,
    name: &str,
    prog_flags: u32,
) -> Result<OwnedFd, SysError> {
    bpf_fd(&mut ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags,
        prog_name: obj_name(name),
        prog_ifindex: 0,
        expected_attach_type,
        _borrows: PhantomData,
    })
}

/// Pins the map or program `fd` at `path` in bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &std::path::Path) -> Result<(), SysError> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError::Bpf {
        cmd: Cmd::ObjPin,
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    bpf(&mut ObjPinAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd_u32(fd),
        file_flags: 0,
        _path: PhantomData,
    })
    .map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` / `BPF_MAP_UPDATE_ELEM`: the element member. `key` and `value` borrow
/// the caller's buffers (the value mutably for a lookup) for as long as the attr lives.
#[repr(C, align(8))]
struct MapElemAttr<'a, const CMD: u32> {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
    _bufs: PhantomData<(&'a [u8], &'a mut [u8])>,
}

const _: () = {
    assert!(size_of::<MapElemAttr<'static, 0>>() == 32);
    assert!(offset_of!(MapElemAttr<'static, 0>, key) == 8);
    assert!(offset_of!(MapElemAttr<'static, 0>, value) == 16);
    assert!(offset_of!(MapElemAttr<'static, 0>, flags) == 24);
};

// SAFETY: repr(C, align(8)) at the kernel's offsets (asserted above), no padding the kernel
// reads (`_pad` is the union's alignment hole, zero). `key` points at the map's key size of
// readable bytes and `value` at its value size (times the CPUs for a per-CPU map) of bytes,
// writable for a lookup: `map_lookup` and `map_update`, the only constructors, check the
// lengths against the kernel's map info before building it.
unsafe impl Attr for MapElemAttr<'_, 1> {
    const CMD: Cmd = Cmd::MapLookupElem;
}

// SAFETY: as above; the kernel only reads `value` for an update.
unsafe impl Attr for MapElemAttr<'_, 2> {
    const CMD: Cmd = Cmd::MapUpdateElem;
}

/// `BPF_MAP_GET_FD_BY_ID`: the `BPF_*_GET_*_ID` member (`map_id` is the first union field).
#[repr(C)]
struct MapGetFdByIdAttr {
    map_id: u32,
    next_id: u32,
    open_flags: u32,
}

const _: () = assert!(size_of::<MapGetFdByIdAttr>() == 12);

// SAFETY: repr(C), three u32 at the kernel's offsets (the same member as links'), no pointers.
unsafe impl Attr for MapGetFdByIdAttr {
    const CMD: Cmd = Cmd::MapGetFdById;
}

/// Opens map `id` (a new reference).
pub fn map_fd_by_id(id: u32) -> Result<OwnedFd, SysError> {
    bpf_fd(&mut MapGetFdByIdAttr {
        map_id: id,
        next_id: 0,
        open_flags: 0,
    })
}

/// The start of the kernel's `struct bpf_map_info`, up to the name.
#[repr(C, align(8))]
#[derive(Default)]
struct BpfMapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

const _: () = {
    assert!(size_of::<BpfMapInfo>() == 40);
    assert!(offset_of!(BpfMapInfo, value_size) == 12);
    assert!(offset_of!(BpfMapInfo, name) == 24);
};

/// `BPF_OBJ_GET_INFO_BY_FD` on a map: the `info` member, pointing at a [`BpfMapInfo`] that
/// stays mutably borrowed while the attr lives.
#[repr(C, align(8))]
struct MapInfoAttr<'a> {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
    _info: PhantomData<&'a mut BpfMapInfo>,
}

const _: () = assert!(size_of::<MapInfoAttr<'static>>() == 16);

// SAFETY: repr(C, align(8)) with the kernel's offsets (as `LinkInfoAttr`); `info` points at a
// `BpfMapInfo` of `info_len` bytes, mutably borrowed for the attr's whole life.
unsafe impl Attr for MapInfoAttr<'_> {
    const CMD: Cmd = Cmd::ObjGetInfoByFd;
}

/// What the kernel says about a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// `enum bpf_map_type`.
    pub map_type: u32,
    /// The map's id.
    pub id: u32,
    /// Bytes of a key.
    pub key_size: u32,
    /// Bytes of a value (of one CPU's copy, for per-CPU maps).
    pub value_size: u32,
    /// Entries at most.
    pub max_entries: u32,
    /// The map's name (at most 15 bytes).
    pub name: String,
}

/// Type, sizes and name of a map.
pub fn map_info(map: BorrowedFd<'_>) -> Result<MapInfo, SysError> {
    let mut info = BpfMapInfo::default();
    bpf(&mut MapInfoAttr {
        bpf_fd: fd_u32(map),
        info_len: size_of::<BpfMapInfo>() as u32,
        info: std::ptr::from_mut(&mut info) as u64,
        _info: PhantomData,
    })?;
    let len = info.name.iter().position(|&c| c == 0).unwrap_or(16);
    Ok(MapInfo {
        map_type: info.map_type,
        id: info.id,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        name: String::from_utf8_lossy(&info.name[..len]).into_owned(),
    })
}

/// Possible CPUs, as the kernel sizes per-CPU map values.
pub fn possible_cpus() -> Result<usize, SysError> {
    aya::util::nr_cpus().map_err(|(_, e)| SysError::Bpf {
        cmd: Cmd::MapLookupElem,
        source: e,
    })
}

/// Bytes a lookup or update of `map` moves: the value size, or for a per-CPU map each CPU's
/// value rounded up to 8 bytes.
fn value_bytes(info: &MapInfo) -> Result<usize, SysError> {
    const PERCPU: [u32; 3] = [5, 6, 10]; // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH
    let v = info.value_size as usize;
    if PERCPU.contains(&info.map_type) {
        Ok(v.next_multiple_of(8) * possible_cpus()?)
    } else {
        Ok(v)
    }
}

/// Checks `key` and `value` against the map's sizes, so the kernel never reads or writes past
/// them.
fn check_sizes(cmd: Cmd, map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> Result<(), SysError> {
    let info = map_info(map)?;
    if key.len() != info.key_size as usize || value.len() != value_bytes(&info)? {
        return Err(SysError::Bpf {
            cmd,
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    Ok(())
}

/// Bytes to pass as the value of a lookup or update of `map` (see [`map_lookup`]).
pub fn map_value_bytes(map: BorrowedFd<'_>) -> Result<usize, SysError> {
    value_bytes(&map_info(map)?)
}

/// Reads element `key` of `map` into `value`, which must be exactly [`map_value_bytes`] long
/// (checked: EINVAL otherwise). ENOENT: no such element.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> Result<(), SysError> {
    check_sizes(Cmd::MapLookupElem, map, key, value)?;
    bpf(&mut MapElemAttr::<1> {
        map_fd: fd_u32(map),
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
        _bufs: PhantomData,
    })
    .map(drop)
}

/// Writes element `key` of `map` (`flags`: `BPF_ANY` 0), sized as for [`map_lookup`].
pub fn map_update(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> Result<(), SysError> {
    check_sizes(Cmd::MapUpdateElem, map, key, value)?;
    bpf(&mut MapElemAttr::<2> {
        map_fd: fd_u32(map),
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        _bufs: PhantomData,
    })
    .map(drop)
}

/// `BPF_LINK_CREATE`: the link-create member with its `tcx` part (`relative_fd`,
/// `expected_revision`), which is 0 for "append, whatever is there".
#[repr(C, align(8))]
struct TcxLinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative_fd: u32,
    _pad: u32,
    expected_revision: u64,
}

const _: () = {
    assert!(size_of::<TcxLinkCreateAttr>() == 32);
    assert!(offset_of!(TcxLinkCreateAttr, attach_type) == 8);
    assert!(offset_of!(TcxLinkCreateAttr, relative_fd) == 16);
    assert!(offset_of!(TcxLinkCreateAttr, expected_revision) == 24);
};

// SAFETY: repr(C) at the kernel's offsets (asserted above), the padding is an explicit field,
// no pointers.
unsafe impl Attr for TcxLinkCreateAttr {
    const CMD: Cmd = Cmd::LinkCreate;
}

/// The kernel's `BPF_PROG_TYPE_SCHED_CLS` (tc programs).
pub const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// The kernel's `BPF_TCX_INGRESS` attach type (Linux 6.6+).
pub const BPF_TCX_INGRESS: u32 = 46;
/// The kernel's `BPF_TCX_EGRESS` attach type (Linux 6.6+).
pub const BPF_TCX_EGRESS: u32 = 47;

/// Attaches tc program `prog` to `ifindex` (in the calling thread's network namespace) at
/// `attach_type` ([`BPF_TCX_INGRESS`] or [`BPF_TCX_EGRESS`]), after the programs already there.
/// The program stays attached while the returned link is open, by this process or a dup: the
/// kernel detaches it when the last fd closes, also when the process is killed.
pub fn tcx_link_create(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
) -> Result<OwnedFd, SysError> {
    bpf_fd(&mut TcxLinkCreateAttr {
        prog_fd: fd_u32(prog),
        target_ifindex: ifindex,
        attach_type,
        flags: 0,
        relative_fd: 0,
        _pad: 0,
        expected_revision: 0,
    })
}

/// `BPF_PROG_TEST_RUN`: the `test` member, up to `batch_size`. `data_in` borrows the packet;
/// no output buffer and no context are passed (the kernel then copies nothing back but the
/// return value and the duration).
#[repr(C, align(8))]
struct TestRunAttr<'a> {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
    _data: PhantomData<&'a [u8]>,
}

const _: () = {
    assert!(size_of::<TestRunAttr<'static>>() == 80);
    assert!(offset_of!(TestRunAttr<'static>, data_in) == 16);
    assert!(offset_of!(TestRunAttr<'static>, repeat) == 32);
    assert!(offset_of!(TestRunAttr<'static>, ctx_in) == 48);
    assert!(offset_of!(TestRunAttr<'static>, flags) == 64);
};

// SAFETY: repr(C, align(8)) at the kernel's offsets (asserted above), no implicit padding;
// `data_in` points at `data_size_in` readable bytes the `'a` borrow keeps alive, the output
// and context pointers are null with sizes 0.
unsafe impl Attr for TestRunAttr<'_> {
    const CMD: Cmd = Cmd::ProgTestRun;
}

/// Runs program `prog` once on `data` (a copy; the packet is not sent anywhere); returns its
/// return value (for XDP, the action).
pub fn prog_test_run(prog: BorrowedFd<'_>, data: &[u8]) -> Result<u32, SysError> {
    let mut attr = TestRunAttr {
        prog_fd: fd_u32(prog),
        retval: 0,
        data_size_in: data.len() as u32,
        data_size_out: 0,
        data_in: data.as_ptr() as u64,
        data_out: 0,
        repeat: 1,
        duration: 0,
        ctx_size_in: 0,
        ctx_size_out: 0,
        ctx_in: 0,
        ctx_out: 0,
        flags: 0,
        cpu: 0,
        batch_size: 0,
        _pad: 0,
        _data: PhantomData,
    };
    bpf(&mut attr)?;
    Ok(attr.retval)
}

/// `BPF_LINK_DETACH`: the `link_detach` member.
#[repr(C)]
struct LinkDetachAttr {
    link_fd: u32,
}

const _: () = {
    assert!(size_of::<LinkDetachAttr>() == 4);
    assert!(offset_of!(LinkDetachAttr, link_fd) == 0);
};

// SAFETY: repr(C), one u32 at offset 0 (asserted above), no pointers.
unsafe impl Attr for LinkDetachAttr {
    const CMD: Cmd = Cmd::LinkDetach;
}

/// The start of the kernel's `struct bpf_link_info`, up to the XDP member of its union (which
/// starts at 16: the union holds `__aligned_u64` fields).
#[repr(C, align(8))]
#[derive(Default)]
struct BpfLinkInfoXdp {
    link_type: u32,
    id: u32,
    prog_id: u32,
    _union_align: u32,
    ifindex: u32,
    _tail: u32,
}

const _: () = {
    assert!(size_of::<BpfLinkInfoXdp>() == 24);
    assert!(align_of::<BpfLinkInfoXdp>() == 8);
    assert!(offset_of!(BpfLinkInfoXdp, link_type) == 0);
    assert!(offset_of!(BpfLinkInfoXdp, id) == 4);
    assert!(offset_of!(BpfLinkInfoXdp, prog_id) == 8);
    assert!(offset_of!(BpfLinkInfoXdp, ifindex) == 16);
};

/// `BPF_OBJ_GET_INFO_BY_FD` on a link: the `info` member, pointing at a [`BpfLinkInfoXdp`]
/// that stays mutably borrowed while the attr lives.
#[repr(C, align(8))]
struct LinkInfoAttr<'a> {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
    _info: PhantomData<&'a mut BpfLinkInfoXdp>,
}

const _: () = {
    assert!(size_of::<LinkInfoAttr<'static>>() == 16);
    assert!(align_of::<LinkInfoAttr<'static>>() == 8);
    assert!(offset_of!(LinkInfoAttr<'static>, bpf_fd) == 0);
    assert!(offset_of!(LinkInfoAttr<'static>, info_len) == 4);
    assert!(offset_of!(LinkInfoAttr<'static>, info) == 8);
};

impl<'a> LinkInfoAttr<'a> {
    fn new(link: BorrowedFd<'_>, info: &'a mut BpfLinkInfoXdp) -> Self {
        LinkInfoAttr {
            bpf_fd: fd_u32(link),
            info_len: size_of::<BpfLinkInfoXdp>() as u32,
            info: std::ptr::from_mut(info) as u64,
            _info: PhantomData,
        }
    }
}

// SAFETY: repr(C, align(8)) with the kernel's offsets (asserted above; the PhantomData takes no
// space). `info` points at a `BpfLinkInfoXdp` of `info_len` bytes, mutably borrowed for 'a, the
// attr's whole life (`LinkInfoAttr::new` is the only constructor).
unsafe impl Attr for LinkInfoAttr<'_> {
    const CMD: Cmd = Cmd::ObjGetInfoByFd;
}

/// The one bpf(2) call site.
fn bpf<A: Attr>(attr: &mut A) -> Result<libc::c_long, SysError> {
    let size = size_of::<A>() as libc::c_uint;
    // SAFETY: `A: Attr` is the `union bpf_attr` member of `A::CMD`, so the kernel reads and
    // writes only within the `size` bytes of `*attr`, which is exclusively borrowed for the
    // call, and follows only pointers that `A`'s contract keeps valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            A::CMD as libc::c_long,
            std::ptr::from_mut(attr),
            size,
        )
    };
    if rc < 0 {
        Err(SysError::Bpf {
            cmd: A::CMD,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(rc)
    }
}

/// [`bpf`] for a command that answers a new file descriptor.
fn bpf_fd<A: Attr>(attr: &mut A) -> Result<OwnedFd, SysError> {
    const { assert!(A::CMD.returns_fd()) };
    let rc = bpf(attr)?;
    let fd = RawFd::try_from(rc).map_err(|_| SysError::Bpf {
        cmd: A::CMD,
        source: io::Error::from_raw_os_error(libc::EBADF),
    })?;
    // SAFETY: on success `A::CMD` returns a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // An open file descriptor is never negative.
    fd.as_raw_fd() as u32
}

/// The kernel's `BPF_LINK_TYPE_XDP`.
pub const BPF_LINK_TYPE_XDP: u32 = 6;

/// What the kernel says about a bpf_link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// `enum bpf_link_type`.
    pub link_type: u32,
    /// The link's id.
    pub id: u32,
    /// The id of the program the link holds on its hook.
    pub prog_id: u32,
    /// The interface, for an XDP link.
    pub xdp_ifindex: Option<u32>,
}

/// Opens bpf_link `id`: a new reference, which keeps the link (and its program on its hook)
/// for as long as it is open.
pub fn link_fd_by_id(id: u32) -> Result<OwnedFd, SysError> {
    bpf_fd(&mut LinkGetFdByIdAttr {
        link_id: id,
        next_id: 0,
        open_flags: 0,
    })
}

/// Type, id, program and (for XDP) interface of a bpf_link.
pub fn link_info(link: BorrowedFd<'_>) -> Result<LinkInfo, SysError> {
    let mut info = BpfLinkInfoXdp::default();
    bpf(&mut LinkInfoAttr::new(link, &mut info))?;
    Ok(LinkInfo {
        link_type: info.link_type,
        id: info.id,
        prog_id: info.prog_id,
        xdp_ifindex: (info.link_type == BPF_LINK_TYPE_XDP).then_some(info.ifindex),
    })
}

/// Detaches a bpf_link from its hook whoever holds it: the program leaves the interface, and
/// the holders keep a defunct link.
pub fn link_detach(link: BorrowedFd<'_>) -> Result<(), SysError> {
    bpf(&mut LinkDetachAttr {
        link_fd: fd_u32(link),
    })
    .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// rtnetlink

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_HW_MODE: u32 = 1 << 3;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The kernel's `struct nlmsghdr`.
#[repr(C)]
struct NlMsgHdr {
    len: u32,
    ty: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// The kernel's `struct ifinfomsg`.
#[repr(C)]
struct IfInfoMsg {
    family: u8,
    _pad: u8,
    ty: u16,
    index: i32,
    flags: u32,
    change: u32,
}

/// The kernel's `struct nlattr`.
#[repr(C)]
struct NlAttr {
    len: u16,
    ty: u16,
}

const NLMSG_HDRLEN: usize = size_of::<NlMsgHdr>();
const IFINFOMSG_LEN: usize = size_of::<IfInfoMsg>();

const _: () = {
    assert!(size_of::<NlMsgHdr>() == 16);
    assert!(offset_of!(NlMsgHdr, ty) == 4);
    assert!(offset_of!(NlMsgHdr, flags) == 6);
    assert!(offset_of!(NlMsgHdr, seq) == 8);
    assert!(offset_of!(NlMsgHdr, pid) == 12);
    assert!(size_of::<IfInfoMsg>() == 16);
    assert!(offset_of!(IfInfoMsg, ty) == 2);
    assert!(offset_of!(IfInfoMsg, index) == 4);
    assert!(offset_of!(IfInfoMsg, flags) == 8);
    assert!(offset_of!(IfInfoMsg, change) == 12);
    assert!(size_of::<NlAttr>() == 4);
    assert!(offset_of!(NlAttr, ty) == 2);
};

impl NlMsgHdr {
    fn request<R>(ty: u16, flags: u16) -> Self {
        NlMsgHdr {
            len: size_of::<R>() as u32,
            ty,
            flags: libc::NLM_F_REQUEST as u16 | flags,
            seq: 1,
            pid: 0,
        }
    }
}

impl IfInfoMsg {
    fn of(ifindex: u32) -> Self {
        IfInfoMsg {
            family: libc::AF_UNSPEC as u8,
            _pad: 0,
            ty: 0,
            index: ifindex as i32,
            flags: 0,
            change: 0,
        }
    }
}

/// An rtnetlink request message.
///
/// # Safety
///
/// The implementor is `#[repr(C)]`, has no implicit padding (so all its bytes are initialised),
/// holds no pointers, and starts with an [`NlMsgHdr`] whose `len` is its size.
unsafe trait NlRequest {
    /// What the request does, for error messages.
    const NAME: &'static str;
}

/// RTM_GETLINK for one interface.
#[repr(C)]
struct GetLinkRequest {
    hdr: NlMsgHdr,
    ifi: IfInfoMsg,
}

const _: () = {
    assert!(size_of::<GetLinkRequest>() == 32);
    assert!(offset_of!(GetLinkRequest, ifi) == 16);
};

// SAFETY: repr(C), two padding-free structs back to back (asserted above), no pointers, and
// `GetLinkRequest::new` sets `hdr.len` to its size.
unsafe impl NlRequest for GetLinkRequest {
    const NAME: &'static str = "RTM_GETLINK";
}

/// RTM_SETLINK with `IFLA_XDP { IFLA_XDP_FD = -1, IFLA_XDP_FLAGS = mode }`: removes the program
/// attached through netlink in that mode.
#[repr(C)]
struct ClearXdpRequest {
    hdr: NlMsgHdr,
    ifi: IfInfoMsg,
    xdp: NlAttr,
    fd: NlAttr,
    fd_value: i32,
    flags: NlAttr,
    flags_value: u32,
}

const _: () = {
    assert!(size_of::<ClearXdpRequest>() == 52);
    assert!(offset_of!(ClearXdpRequest, xdp) == 32);
    assert!(offset_of!(ClearXdpRequest, fd) == 36);
    assert!(offset_of!(ClearXdpRequest, fd_value) == 40);
    assert!(offset_of!(ClearXdpRequest, flags) == 44);
    assert!(offset_of!(ClearXdpRequest, flags_value) == 48);
};

// SAFETY: repr(C), fields of sizes 16+16+4+4+4+4+4 at those offsets (asserted above, so no
// padding), no pointers, and `ClearXdpRequest::new` sets `hdr.len` to its size.
unsafe impl NlRequest for ClearXdpRequest {
    const NAME: &'static str = "RTM_SETLINK IFLA_XDP";
}

impl GetLinkRequest {
    fn new(ifindex: u32) -> Self {
        GetLinkRequest {
            hdr: NlMsgHdr::request::<Self>(libc::RTM_GETLINK, 0),
            ifi: IfInfoMsg::of(ifindex),
        }
    }
}

impl ClearXdpRequest {
    fn new(ifindex: u32, mode_flags: u32) -> Self {
        let attr = |ty, payload: usize| NlAttr {
            len: (size_of::<NlAttr>() + payload) as u16,
            ty,
        };
        ClearXdpRequest {
            hdr: NlMsgHdr::request::<Self>(libc::RTM_SETLINK, libc::NLM_F_ACK as u16),
            ifi: IfInfoMsg::of(ifindex),
            xdp: attr(
                IFLA_XDP | NLA_F_NESTED,
                size_of::<Self>() - offset_of!(Self, fd),
            ),
            fd: attr(IFLA_XDP_FD, 4),
            fd_value: -1,
            flags: attr(IFLA_XDP_FLAGS, 4),
            flags_value: mode_flags,
        }
    }
}

/// A fixed-layout rtnetlink request, through [`rtnl_message`].
fn rtnl<R: NlRequest>(req: &R) -> Result<Vec<u8>, SysError> {
    // SAFETY: `R: NlRequest` is `size_of::<R>()` initialised bytes without pointers, borrowed
    // for as long as the slice.
    let bytes =
        unsafe { std::slice::from_raw_parts(std::ptr::from_ref(req).cast::<u8>(), size_of::<R>()) };
    rtnl_message(R::NAME, bytes)
}

/// Sends one complete rtnetlink message (see [`netlink_message`]).
pub(crate) fn rtnl_message(name: &'static str, msg: &[u8]) -> Result<Vec<u8>, SysError> {
    netlink_message(libc::NETLINK_ROUTE, name, msg)
}

/// The one netlink call site: sends one complete message (header included, `len` set) on a
/// fresh netlink socket of `protocol` (rtnetlink, generic netlink) in the calling thread's
/// network namespace, and returns the kernel's first answer, or the errno an NLMSG_ERROR answer
/// carries. `name` says what the request does, for errors.
pub(crate) fn netlink_message(
    protocol: i32,
    name: &'static str,
    msg: &[u8],
) -> Result<Vec<u8>, SysError> {
    let fail = |source| SysError::Rtnetlink {
        request: name,
        source,
    };
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: socket(2) returned a new file descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `msg` is `msg.len()` initialised bytes, borrowed for the call; send(2) only reads
    // them.
    let sent = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if sent < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; 32 * 1024];
    let n = loop {
        // SAFETY: recv(2) writes at most `buf.len()` bytes into `buf`, exclusively borrowed.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(fail(e));
        }
    };
    buf.truncate(n);
    let malformed = || fail(io::Error::from_raw_os_error(libc::EBADMSG));
    let len = (read_u32(&buf, 0).ok_or_else(malformed)? as usize).min(buf.len());
    buf.truncate(len);
    if read_u16(&buf, 4).ok_or_else(malformed)? == libc::NLMSG_ERROR as u16 {
        // struct nlmsgerr: a negative errno, or 0 for an acknowledgement.
        let err = read_u32(&buf, NLMSG_HDRLEN).ok_or_else(malformed)? as i32;
        if err != 0 {
            return Err(fail(io::Error::from_raw_os_error(-err)));
        }
    }
    Ok(buf)
}

fn read_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// (type, payload) of each netlink attribute in `buf`.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(read_u16(buf, 0)?);
        let ty = read_u16(buf, 2)? & NLA_TYPE_MASK;
        let payload = buf.get(size_of::<NlAttr>()..len)?;
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// How a program is attached to an interface (`IFLA_XDP_ATTACHED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttachedMode {
    /// In the driver (native).
    Driver,
    /// In the generic path (SKB mode).
    Generic,
    /// Offloaded to the device.
    Hardware,
    /// Several programs, in different modes.
    Multiple,
}

impl XdpAttachedMode {
    /// The XDP_FLAGS_*_MODE bits that name the mode(s).
    fn flags(self) -> &'static [u32] {
        match self {
            XdpAttachedMode::Driver => &[XDP_FLAGS_DRV_MODE],
            XdpAttachedMode::Generic => &[XDP_FLAGS_SKB_MODE],
            XdpAttachedMode::Hardware => &[XDP_FLAGS_HW_MODE],
            XdpAttachedMode::Multiple => {
                &[XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_HW_MODE]
            }
        }
    }
}

/// The XDP program on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachedXdp {
    /// The program's id.
    pub prog_id: u32,
    /// How it runs.
    pub mode: XdpAttachedMode,
}

/// The XDP program attached to `ifindex` in the calling thread's network namespace, if any.
pub fn attached_xdp(ifindex: u32) -> Result<Option<AttachedXdp>, SysError> {
    let reply = rtnl(&GetLinkRequest::new(ifindex))?;
    let body = reply.get(NLMSG_HDRLEN + IFINFOMSG_LEN..).unwrap_or(&[]);
    let Some((_, xdp)) = attrs(body).find(|&(ty, _)| ty == IFLA_XDP) else {
        return Ok(None);
    };
    let (mut attached, mut id, mut mode_ids) = (0u8, 0u32, [0u32; 3]);
    for (ty, payload) in attrs(xdp) {
        match ty {
            IFLA_XDP_ATTACHED => attached = payload.first().copied().unwrap_or(0),
            IFLA_XDP_PROG_ID => id = read_u32(payload, 0).unwrap_or(0),
            IFLA_XDP_DRV_PROG_ID => mode_ids[0] = read_u32(payload, 0).unwrap_or(0),
            IFLA_XDP_SKB_PROG_ID => mode_ids[1] = read_u32(payload, 0).unwrap_or(0),
            IFLA_XDP_HW_PROG_ID => mode_ids[2] = read_u32(payload, 0).unwrap_or(0),
            _ => {}
        }
    }
    let mode = match attached {
        1 => XdpAttachedMode::Driver,
        2 => XdpAttachedMode::Generic,
        3 => XdpAttachedMode::Hardware,
        4 => XdpAttachedMode::Multiple,
        _ => return Ok(None),
    };
    // With several programs the kernel reports one id per mode instead of IFLA_XDP_PROG_ID.
    if id == 0 {
        id = mode_ids.into_iter().find(|&i| i != 0).unwrap_or(0);
    }
    Ok((id != 0).then_some(AttachedXdp { prog_id: id, mode }))
}

/// Removes the program attached to `ifindex` through netlink (not through a bpf_link: the kernel
/// refuses that with EBUSY) in `mode`.
pub fn clear_netlink_xdp(ifindex: u32, mode: XdpAttachedMode) -> Result<(), SysError> {
    for &flags in mode.flags() {
        rtnl(&ClearXdpRequest::new(ifindex, flags))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_walked_aligned_and_truncation_stops_the_walk() {
        let mut b = Vec::new();
        b.extend_from_slice(&5u16.to_ne_bytes()); // 1-byte payload, padded to 8
        b.extend_from_slice(&IFLA_XDP_ATTACHED.to_ne_bytes());
        b.extend_from_slice(&[2, 0, 0, 0]);
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&(IFLA_XDP_PROG_ID | NLA_F_NESTED).to_ne_bytes());
        b.extend_from_slice(&42u32.to_ne_bytes());
        b.extend_from_slice(&64u16.to_ne_bytes()); // claims more than is there
        b.extend_from_slice(&IFLA_XDP_FLAGS.to_ne_bytes());
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (IFLA_XDP_ATTACHED, vec![2]),
                (IFLA_XDP_PROG_ID, 42u32.to_ne_bytes().to_vec()),
            ]
        );
    }

    #[test]
    fn the_clear_request_nests_fd_and_flags_under_ifla_xdp() {
        let r = ClearXdpRequest::new(7, XDP_FLAGS_SKB_MODE);
        assert_eq!(r.hdr.len as usize, size_of::<ClearXdpRequest>());
        assert_eq!(r.ifi.index, 7);
        assert_eq!(r.xdp.len, 20);
        assert_eq!((r.fd.len, r.fd_value), (8, -1));
        assert_eq!((r.flags.len, r.flags_value), (8, XDP_FLAGS_SKB_MODE));
    }

    #[test]
    fn rtnetlink_answers_loopback_and_reports_a_missing_interface() {
        assert_eq!(attached_xdp(1).unwrap(), None, "no XDP program on lo");
        let e = attached_xdp(i32::MAX as u32).unwrap_err();
        assert_eq!(e.errno(), libc::ENODEV, "{e}");
    }
}
