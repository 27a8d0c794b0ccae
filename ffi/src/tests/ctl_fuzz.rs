//! Property-based fuzzing of the `/dev/netmap` control requests (`crate::ctl`; the netmap
//! behaviour they check is described in docs/netmap-compat.md).
//!
//! | property | input | answer |
//! |---|---|---|
//! | `niocctrl_random_headers` | `nmreq_header`: version, type (also unknown), reserved, name (also without NUL), body and option pointers | 0 or a netmap errno; only `nr_name[63]` is written in the header |
//! | `niocctrl_random_option_chains` | 0-40 or 100-170 options: types 0 / known / unknown, sizes, loops, pointers into and past the memory | the kernel's option walk: `EMSGSIZE`, `EFAULT`, `EINVAL` for duplicates, every status written |
//! | `legacy_random_nmreq` | `struct nmreq` for NIOCREGIF / NIOCGINFO (version 0-20, any command, flags, ring id, name) | 0 or a netmap errno, `EINVAL` below API 11, nothing written on failure |
//! | `other_ioctls_on_an_unregistered_file` | sync and unknown ioctl numbers with any argument, direct and through an fd | `ENXIO` / `EOPNOTSUPP` |
//!
//! Each runs `PROPTEST_CASES` cases (default 256, well under a second in all); longer runs:
//! `PROPTEST_CASES=100000 cargo test --release -p netmap-ffi ctl_fuzz`.
//!
//! The application's memory is simulated with [`Pages`]: one read-write page followed by an
//! unmapped page (mmap'ed, then munmap'ed) and an inaccessible guard page. Objects are placed
//! inside the read-write page, across its end, in the unmapped page, or at addresses no user
//! mapping can have (page 0, the kernel half). No other address is ever handed over: a wrong
//! read or write by the code under test cannot reach memory the test does not own.
//!
//! No traffic and no XDP: a request that registers never carries the name of an existing
//! interface (names are mostly random `nmxf...` ones; any name that happens to exist is
//! replaced), so REGISTER fails before an interface is touched. Each case checks that its file
//! stays unregistered, and each property checks at its end that `ip -d link` shows no
//! `nmxdp_redirect` program.

use std::ffi::CString;
use std::mem::{offset_of, size_of};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::Arc;

use libc::{
    c_char, c_int, c_ulong, c_void, EBUSY, EFAULT, EINVAL, EMSGSIZE, ENOMEM, ENXIO, EOPNOTSUPP,
    EPERM,
};
use nmxdp::abi::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestCaseError;

use crate::ctl::{copy_in, ioctl, legacy_spec, Pod, NO_VM_RW};
use crate::fdtable::{self, NmFile};
use crate::{interpose, real};

type Check = Result<(), TestCaseError>;

/// Every errno the netmap module gives for a control request.
const NETMAP_ERRNOS: [c_int; 8] = [
    EINVAL, ENXIO, EOPNOTSUPP, EMSGSIZE, EFAULT, EBUSY, ENOMEM, EPERM,
];

const HDR_LEN: usize = size_of::<nmreq_header>();
const OPT_LEN: usize = size_of::<nmreq_option>();
const NMREQ_LEN: usize = size_of::<nmreq>();
const NAME_LAST: usize = offset_of!(nmreq_header, nr_name) + NETMAP_REQ_IFNAMSIZ - 1;
const STATUS_OFF: usize = offset_of!(nmreq_option, nro_status);

/// The case count comes from `PROPTEST_CASES` (Config::default reads it); failures are printed
/// with their minimal input, not written to regression files.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        max_global_rejects: 1 << 20,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------------------------------------
// The application's memory
// ------------------------------------------------------------------------------------------------

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Addresses no user mapping can have: page 0 (below `vm.mmap_min_addr`) and the kernel half.
fn wild() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..4096, (1u64 << 63)..=u64::MAX]
}

fn never_mapped(a: u64) -> bool {
    (1..4096).contains(&a) || a >= 1 << 63
}

/// One read-write page, then an unmapped page (mapped, then unmapped), then an inaccessible
/// guard page that keeps the hole exactly one page wide, so that no other mapping of this process
/// is likely to land in it ([`Pages::check_hole`] makes sure before every case).
struct Pages {
    base: usize,
    page: usize,
}

impl Pages {
    fn new() -> Pages {
        let page = page_size();
        // SAFETY: a fresh private anonymous mapping, owned by the returned value.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                3 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let base = p as usize;
        // SAFETY: pages of the mapping just made.
        unsafe {
            assert_eq!(
                libc::mprotect((base + 2 * page) as *mut c_void, page, libc::PROT_NONE),
                0
            );
            assert_eq!(libc::munmap((base + page) as *mut c_void, page), 0);
        }
        let pages = Pages { base, page };
        pages.check_hole();
        pages
    }

    /// Start of the read-write page.
    fn rw(&self) -> u64 {
        self.base as u64
    }

    /// End of the read-write page (the start of the unmapped one).
    fn end(&self) -> u64 {
        (self.base + self.page) as u64
    }

    fn unmapped(&self, off: usize) -> u64 {
        self.end() + (off % self.page) as u64
    }

    /// True when `len` bytes at `addr` are all in the read-write page.
    fn readable(&self, addr: u64, len: usize) -> bool {
        addr >= self.rw()
            && addr
                .checked_add(len as u64)
                .is_some_and(|e| e <= self.end())
    }

    /// True for addresses of these three pages.
    fn owns(&self, addr: u64) -> bool {
        addr >= self.rw() && addr < self.rw() + 3 * self.page as u64
    }

    /// The unmapped page must still be unmapped (msync fails with ENOMEM there).
    fn check_hole(&self) {
        // SAFETY: msync only inspects the range.
        let r = unsafe { libc::msync(self.end() as *mut c_void, self.page, libc::MS_ASYNC) };
        assert!(
            r == -1 && real::errno() == libc::ENOMEM,
            "the unmapped test page {:#x} has been mapped again by something else in this process",
            self.end()
        );
    }

    fn clear(&self) {
        // SAFETY: the read-write page is ours.
        unsafe { std::ptr::write_bytes(self.base as *mut u8, 0, self.page) };
    }

    /// Writes `bytes` at `addr`, cut at the end of the read-write page (the rest would lie in
    /// the unmapped page); nothing when `addr` is not in the page.
    fn put(&self, addr: u64, bytes: &[u8]) {
        if addr < self.rw() || addr >= self.end() {
            return;
        }
        let n = bytes.len().min((self.end() - addr) as usize);
        // SAFETY: n bytes at addr are inside the read-write page.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n) };
    }

    fn snapshot(&self) -> Vec<u8> {
        // SAFETY: the read-write page is ours; the copy is taken while no ioctl runs.
        unsafe { std::slice::from_raw_parts(self.base as *const u8, self.page) }.to_vec()
    }

    /// Offset of `addr` in a snapshot, when `len` bytes there are readable.
    fn off(&self, addr: u64, len: usize) -> Option<usize> {
        self.readable(addr, len)
            .then(|| (addr - self.rw()) as usize)
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the two pages still ours; the hole in between is not unmapped again (it may
        // belong to someone else by now).
        unsafe {
            libc::munmap(self.base as *mut c_void, self.page);
            libc::munmap((self.base + 2 * self.page) as *mut c_void, self.page);
        }
    }
}

/// The checks below hand over unmapped and wild addresses: that needs the kernel-checked copies
/// (process_vm_readv); with the fallback of plain copies those would crash the test.
fn kernel_checked_copies() -> bool {
    let probe = 7u64;
    let _ = copy_in::<u64>(&probe as *const u64 as u64);
    !NO_VM_RW.load(std::sync::atomic::Ordering::Relaxed)
}

fn bytes_of<T: Pod>(v: &T) -> Vec<u8> {
    // SAFETY: T is a plain C struct; the structs used here have no padding.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn from_bytes<T: Pod>(b: &[u8]) -> T {
    assert!(b.len() >= size_of::<T>());
    // SAFETY: enough bytes, any bytes are a valid T (Pod), unaligned read.
    unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// Where the application's object is.
#[derive(Debug, Clone)]
enum Place {
    /// Inside the read-write page, this many bytes after the object's usual spot.
    Inside(usize),
    /// Ending exactly at the end of the read-write page.
    AtEnd,
    /// Starting a few bytes before the end of the page, the rest in the unmapped page.
    Across(Index),
    /// In the unmapped page.
    Unmapped(usize),
    /// An address no user mapping can have.
    Wild(u64),
    Null,
}

impl Place {
    /// The address of an object of `len` bytes whose usual spot is at offset `spot`.
    fn addr(&self, m: &Pages, spot: usize, len: usize) -> u64 {
        match self {
            Place::Inside(a) => m.rw() + (spot + a) as u64,
            Place::AtEnd => m.end() - len as u64,
            Place::Across(i) => m.end() - 1 - i.index(len.max(2) - 1) as u64,
            Place::Unmapped(off) => m.unmapped(*off),
            Place::Wild(a) => *a,
            Place::Null => 0,
        }
    }
}

fn place(inside_weight: u32, null_weight: u32) -> impl Strategy<Value = Place> {
    prop_oneof![
        inside_weight => (0usize..16).prop_map(Place::Inside),
        1 => Just(Place::AtEnd),
        1 => any::<Index>().prop_map(Place::Across),
        1 => (0usize..4096).prop_map(Place::Unmapped),
        1 => wild().prop_map(Place::Wild),
        null_weight => Just(Place::Null),
    ]
}

// ------------------------------------------------------------------------------------------------
// Names
// ------------------------------------------------------------------------------------------------

/// `s` NUL-terminated at the start of `tail` (garbage stays after the NUL).
fn with_name(s: &str, mut tail: Vec<u8>) -> Vec<u8> {
    let n = s.len().min(tail.len() - 1);
    tail[..n].copy_from_slice(&s.as_bytes()[..n]);
    tail[n] = 0;
    tail
}

/// Name bytes of `len` (64 or 16): mostly interfaces that do not exist, also names without a
/// NUL, empty names, raw bytes, names the port checks reject, and "lo" (for the queries: requests
/// that register never keep the name of an existing interface, see [`keep_off_interfaces`]).
fn name_bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    let tail = vec(any::<u8>(), len);
    prop_oneof![
        5 => ("nmxf[a-z0-9]{0,10}", tail.clone()).prop_map(|(s, t)| with_name(&s, t)),
        2 => vec(1u8..=255, len),
        1 => tail.clone(),
        1 => tail.clone().prop_map(|t| with_name("", t)),
        1 => ("(vale[0-9]{1,2}:|nmxf)[a-z0-9{}:^*/@. -]{0,10}", tail.clone())
            .prop_map(|(s, t)| with_name(&s, t)),
        1 => tail.prop_map(|t| with_name("lo", t)),
    ]
}

/// `bytes` up to the first NUL, as `crate::ctl` reads names.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// True when `name` is an existing interface of this network namespace.
fn is_interface(name: &str) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated string.
    !name.is_empty() && unsafe { libc::if_nametoindex(c.as_ptr()) } != 0
}

/// True when registering `name` would succeed: an interface, or a pipe (`NAME{ID`, `NAME}ID`:
/// pipes need no interface).
fn registers(name: &str) -> bool {
    let pipe = name
        .rfind('{')
        .or_else(|| name.rfind('}'))
        .is_some_and(|i| i > 0 && i + 1 < name.len());
    pipe || is_interface(name)
}

const GUARD_NAME: &str = "nmxf-guard";

/// Replaces a NIOCCTRL name that would register an existing interface.
fn keep_off_interfaces(name: &mut [c_char; NETMAP_REQ_IFNAMSIZ]) {
    let bytes: Vec<u8> = name[..NETMAP_REQ_IFNAMSIZ - 1]
        .iter()
        .map(|&c| c as u8)
        .collect();
    if registers(&c_string(&bytes)) {
        set_c_name(name, GUARD_NAME).unwrap();
    }
}

// ------------------------------------------------------------------------------------------------
// Calls and the final XDP check
// ------------------------------------------------------------------------------------------------

/// One ioctl on `file`: 0 or the errno.
fn call(file: &Arc<NmFile>, req: c_ulong, arg: u64) -> c_int {
    real::set_errno(0);
    match ioctl(file, req, arg as *mut c_void) {
        0 => 0,
        -1 => real::errno(),
        r => panic!("ioctl returned {r}"),
    }
}

fn check_errno(r: c_int) -> Check {
    prop_assert!(
        r == 0 || NETMAP_ERRNOS.contains(&r),
        "errno {r} is not one netmap gives ({NETMAP_ERRNOS:?})"
    );
    Ok(())
}

/// `got` must equal `want`; else names the first differing byte.
fn same(what: &str, got: &[u8], want: &[u8]) -> Check {
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        let n = (0..got.len()).filter(|&i| got[i] != want[i]).count();
        return Err(TestCaseError::fail(format!(
            "{what}: {n} byte(s) differ, the first at offset {i}: {:#04x}, expected {:#04x}",
            got[i], want[i]
        )));
    }
    Ok(())
}

fn check_unregistered(file: &NmFile) -> Check {
    prop_assert_eq!(file.memsize(), 0, "the file got registered");
    prop_assert!(file.lock().port.is_none(), "the file holds a port");
    Ok(())
}

/// Lines of `ip -d link` naming nmxdp's XDP program; None when `ip` cannot be run.
fn nmxdp_xdp_lines() -> Option<Vec<String>> {
    let out = Command::new("ip")
        .args(["-d", "link", "show"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("nmxdp_redirect"))
            .map(str::to_owned)
            .collect(),
    )
}

/// Runs a property, then asserts that no nmxdp XDP program is attached to any interface.
fn run_then_check_no_xdp(name: &str, property: impl FnOnce()) {
    let before = nmxdp_xdp_lines();
    let r = catch_unwind(AssertUnwindSafe(property));
    let after = nmxdp_xdp_lines();
    if let Err(panic) = r {
        if let Some(lines) = after.filter(|l| !l.is_empty()) {
            eprintln!(
                "{name}: nmxdp_redirect attached after the run:\n{}",
                lines.join("\n")
            );
        }
        resume_unwind(panic);
    }
    match after {
        None => eprintln!("{name}: `ip -d link` could not be run, XDP check skipped"),
        Some(lines) => assert!(
            lines.is_empty(),
            "{name}: nmxdp_redirect is attached after the run ({}):\n{}",
            if before.is_some_and(|b| !b.is_empty()) {
                "it already was before"
            } else {
                "it was not before"
            },
            lines.join("\n")
        ),
    }
}

// ------------------------------------------------------------------------------------------------
// The option walk
// ------------------------------------------------------------------------------------------------

/// Body size of each request type, as the netmap headers define them; None for an unknown
/// type.
fn doc_body_size(t: u16) -> Option<usize> {
    Some(match t {
        1 => 56,
        2 => 32,
        3 => 64,
        4..=7 => 8,
        8 | 10 | 11 => 16,
        12 => 64,
        13 => 8,
        9 | 14 | 15 => 0,
        _ => return None,
    })
}

/// Body size of a first option of a known type (its struct minus the 24-byte header).
fn doc_opt_body(t: u32, nro_size: u64) -> u64 {
    match t {
        NETMAP_REQ_OPT_EXTMEM => 96 - 24,
        NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS => nro_size.max(24) - 24,
        NETMAP_REQ_OPT_CSB => 40 - 24,
        NETMAP_REQ_OPT_SYNC_KLOOP_MODE => 32 - 24,
        NETMAP_REQ_OPT_OFFSETS => 56 - 24,
        _ => 0,
    }
}

/// What the walk of an option list must do.
#[derive(Debug, Default)]
struct Walk {
    /// Every address an option header is read from, in order.
    reads: Vec<u64>,
    /// Status written back per walked option, in order (an address may repeat: loops).
    statuses: Vec<(u64, u32)>,
    result: Option<c_int>,
}

impl Walk {
    fn brief(&self) -> String {
        let shown: Vec<String> = self
            .statuses
            .iter()
            .take(6)
            .map(|(a, st)| format!("{a:#x}:{st}"))
            .collect();
        format!(
            "result {:?} after {} option(s), statuses [{}{}]",
            self.result,
            self.statuses.len(),
            shown.join(", "),
            if self.statuses.len() > 6 { ", ..." } else { "" }
        )
    }
}

/// The kernel's list walk with the accounting `crate::ctl` documents: each option costs its
/// header and a pointer (24 + 8 bytes), a first option of a known type also its body, and
/// together with the request body they must fit in NETMAP_REQ_MAXSIZE (which also ends loops:
/// EMSGSIZE). Statuses start as EOPNOTSUPP; type 0 and every option of a repeated known type get
/// EINVAL and fail the request, but the walk goes on; an unreadable option ends it with EFAULT.
fn model_walk(first: u64, body: usize, read: impl Fn(u64) -> Option<nmreq_option>) -> Walk {
    let mut w = Walk::default();
    let mut first_of = [None::<usize>; NETMAP_REQ_OPT_MAX as usize];
    let mut used = body as u64;
    let mut addr = first;
    while addr != 0 {
        used += (OPT_LEN + 8) as u64;
        if used > NETMAP_REQ_MAXSIZE as u64 {
            w.result = Some(EMSGSIZE);
            return w;
        }
        w.reads.push(addr);
        let Some(o) = read(addr) else {
            w.result = Some(EFAULT);
            return w;
        };
        let i = w.statuses.len();
        w.statuses.push((addr, EOPNOTSUPP as u32));
        match o.nro_reqtype {
            0 => {
                w.statuses[i].1 = EINVAL as u32;
                w.result = Some(EINVAL);
            }
            t if t < NETMAP_REQ_OPT_MAX => match first_of[t as usize] {
                Some(j) => {
                    w.statuses[i].1 = EINVAL as u32;
                    w.statuses[j].1 = EINVAL as u32;
                    w.result = Some(EINVAL);
                }
                None => {
                    first_of[t as usize] = Some(i);
                    used = used.saturating_add(doc_opt_body(t, o.nro_size));
                    if used > NETMAP_REQ_MAXSIZE as u64 {
                        w.result = Some(EMSGSIZE);
                        return w;
                    }
                }
            },
            _ => {}
        }
        addr = o.nro_next;
    }
    w
}

/// Reads an option header from a snapshot of `m`, if all of it is in the read-write page.
fn option_in(m: &Pages, snap: &[u8], addr: u64) -> Option<nmreq_option> {
    m.off(addr, OPT_LEN).map(|o| from_bytes(&snap[o..]))
}

/// `snap` with the walk's status writes applied, in order.
fn with_statuses(m: &Pages, snap: &[u8], w: &Walk) -> Vec<u8> {
    let mut out = snap.to_vec();
    for &(addr, st) in &w.statuses {
        let o = m.off(addr, OPT_LEN).expect("walked options are readable") + STATUS_OFF;
        out[o..o + 4].copy_from_slice(&st.to_ne_bytes());
    }
    out
}

/// Every address the walk reads must be one the test owns or one nobody can map: otherwise a
/// garbage pointer (an option read at an odd offset) could make the code under test write a
/// status into unrelated memory. Such cases are skipped.
fn walk_is_contained(m: &Pages, w: &Walk) -> bool {
    w.reads.iter().all(|&a| m.owns(a) || never_mapped(a))
}

// ------------------------------------------------------------------------------------------------
// 1. NIOCCTRL with random headers
// ------------------------------------------------------------------------------------------------

/// A single option for property 1 (chains are property 2's).
#[derive(Debug, Clone)]
struct OneOption {
    reqtype: u32,
    status: u32,
    size: u64,
    /// 0: last; 1: points to itself (a loop); 2: into the unmapped page; 3: a wild address.
    next: u8,
}

#[derive(Debug, Clone)]
struct CtrlCase {
    hdr_at: Place,
    version: u16,
    reqtype: u16,
    reserved: u32,
    name: Vec<u8>,
    /// Usually nr_body is set exactly when the type has a body (`body_at` then only says where).
    body_as_typed: bool,
    body_at: Place,
    body: Vec<u8>,
    opt_at: Place,
    opt: OneOption,
}

fn opt_type() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => Just(0u32),
        6 => 1u32..NETMAP_REQ_OPT_MAX,
        2 => NETMAP_REQ_OPT_MAX..64,
        1 => any::<u32>(),
    ]
}

fn opt_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => Just(0u64),
        2 => 0u64..=256,
        1 => 0u64..=8192,
        1 => any::<u64>(),
    ]
}

fn ctrl_case() -> impl Strategy<Value = CtrlCase> {
    let version = prop_oneof![12 => 14u16..=15, 1 => 0u16..=20, 1 => any::<u16>()];
    let reqtype = prop_oneof![
        4 => select(vec![
            NETMAP_REQ_REGISTER,
            NETMAP_REQ_PORT_INFO_GET,
            NETMAP_REQ_PORT_HDR_SET,
            NETMAP_REQ_PORT_HDR_GET,
            NETMAP_REQ_POOLS_INFO_GET,
        ]),
        4 => 0u16..=16,
        1 => any::<u16>(),
    ];
    let reserved = prop_oneof![12 => Just(0u32), 1 => any::<u32>()];
    // Mostly zero bytes with a few random ones: small mem ids, modes and lengths.
    let body = vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 136);
    let opt =
        (opt_type(), any::<u32>(), opt_size(), 0u8..4).prop_map(|(reqtype, status, size, next)| {
            OneOption {
                reqtype,
                status,
                size,
                next,
            }
        });
    (
        place(32, 1),
        version,
        reqtype,
        reserved,
        name_bytes(NETMAP_REQ_IFNAMSIZ),
        prop::bool::weighted(0.8),
        place(8, 3),
        body,
        place(8, 20),
        opt,
    )
        .prop_map(
            |(
                hdr_at,
                version,
                reqtype,
                reserved,
                name,
                body_as_typed,
                body_at,
                body,
                opt_at,
                opt,
            )| {
                CtrlCase {
                    hdr_at,
                    version,
                    reqtype,
                    reserved,
                    name,
                    body_as_typed,
                    body_at,
                    body,
                    opt_at,
                    opt,
                }
            },
        )
}

/// Request types whose handler reads the body before anything else can fail.
fn reads_body_first(t: u16) -> bool {
    matches!(
        t,
        NETMAP_REQ_REGISTER
            | NETMAP_REQ_PORT_INFO_GET
            | NETMAP_REQ_PORT_HDR_SET
            | NETMAP_REQ_PORT_HDR_GET
            | NETMAP_REQ_POOLS_INFO_GET
    )
}

/// Known request types nmxdp does not serve (VALE, kloop, CSB).
fn unsupported_type(t: u16) -> bool {
    matches!(t, 3..=5 | 8..=11 | 13..=15)
}

fn check_ctrl(hm: &Pages, bm: &Pages, om: &Pages, c: &CtrlCase) -> Check {
    for m in [hm, bm, om] {
        m.check_hole();
        m.clear();
    }
    // The header, the body and the option each in their own page.
    let size = doc_body_size(c.reqtype);
    let body_len = size.unwrap_or(64).max(1);
    let hdr_addr = c.hdr_at.addr(hm, 0, HDR_LEN);
    let body_at = match (c.body_as_typed, size, &c.body_at) {
        (true, None | Some(0), _) => Place::Null,
        (true, Some(_), Place::Null) => Place::Inside(0),
        (_, _, p) => p.clone(),
    };
    let body_addr = body_at.addr(bm, 0, body_len);
    let opt_addr = c.opt_at.addr(om, 0, OPT_LEN);
    let next = match c.opt.next {
        0 => 0,
        1 => opt_addr,
        2 => om.unmapped(64),
        _ => u64::MAX - 7,
    };
    let mut h = nmreq_header {
        nr_version: c.version,
        nr_reqtype: c.reqtype,
        nr_reserved: c.reserved,
        nr_name: [0; NETMAP_REQ_IFNAMSIZ],
        nr_options: opt_addr,
        nr_body: body_addr,
    };
    for (d, &s) in h.nr_name.iter_mut().zip(&c.name) {
        *d = s as c_char;
    }
    if c.reqtype == NETMAP_REQ_REGISTER {
        keep_off_interfaces(&mut h.nr_name);
    }
    let o = nmreq_option {
        nro_next: next,
        nro_reqtype: c.opt.reqtype,
        nro_status: c.opt.status,
        nro_size: c.opt.size,
    };
    hm.put(hdr_addr, &bytes_of(&h));
    om.put(opt_addr, &bytes_of(&o));
    bm.put(body_addr, &c.body);
    let hdr_before = hm.snapshot();
    let body_before = bm.snapshot();
    let opts_before = om.snapshot();
    // What the option walk must do, if the header gets that far.
    let w = model_walk(opt_addr, size.unwrap_or(0), |a| {
        option_in(om, &opts_before, a)
    });
    prop_assert!(walk_is_contained(om, &w));

    let file = NmFile::new();
    let r = call(&file, NIOCCTRL, hdr_addr);

    let hdr_after = hm.snapshot();
    let body_after = bm.snapshot();
    let opts_after = om.snapshot();
    check_errno(r)?;
    check_unregistered(&file)?;

    // An unreadable header: EFAULT (NULL: EINVAL), nothing written anywhere.
    let Some(ho) = hm.off(hdr_addr, HDR_LEN) else {
        prop_assert_eq!(r, if hdr_addr == 0 { EINVAL } else { EFAULT });
        same("header page", &hdr_after, &hdr_before)?;
        same("body page", &body_after, &body_before)?;
        same("option page", &opts_after, &opts_before)?;
        return Ok(());
    };
    // Version and nr_reserved are checked first; after that the kernel forces nr_name[63] to
    // NUL, in its copy and in the one it writes back. Nothing else of the header is written.
    let accepted =
        (NETMAP_MIN_API..=NETMAP_MAX_API).contains(&(c.version as u32)) && c.reserved == 0;
    let mut want_hdr = hdr_before.clone();
    if accepted {
        want_hdr[ho + NAME_LAST] = 0;
    }
    same(
        "header (only nr_name[63] may change)",
        &hdr_after,
        &want_hdr,
    )?;
    // Body presence against the type: EINVAL, nothing else looked at.
    let presence_ok = match size {
        Some(n) => (n != 0) == (body_addr != 0),
        None => body_addr == 0,
    };
    if !accepted || !presence_ok {
        prop_assert_eq!(r, EINVAL);
        same("body page", &body_after, &body_before)?;
        same("option page", &opts_after, &opts_before)?;
        return Ok(());
    }
    prop_assert_eq!(hdr_after[ho + NAME_LAST], 0);

    // The option statuses are written back whatever the outcome.
    same(
        "option page (only the statuses are written)",
        &opts_after,
        &with_statuses(om, &opts_before, &w),
    )?;
    for &(a, _) in &w.statuses {
        let st = u32_at(&opts_after, om.off(a, OPT_LEN).unwrap() + STATUS_OFF);
        prop_assert!(
            st == EINVAL as u32 || st == EOPNOTSUPP as u32,
            "status {}",
            st
        );
    }
    if let Some(e) = w.result {
        prop_assert_eq!(r, e, "option walk: {}", w.brief());
    } else {
        let body_ok = bm.readable(body_addr, size.unwrap_or(0));
        if size.is_none() {
            prop_assert_eq!(r, EINVAL, "unknown request type");
        } else if reads_body_first(c.reqtype) && !body_ok {
            prop_assert_eq!(r, EFAULT, "unreadable body");
        } else if unsupported_type(c.reqtype) {
            // nmxdp answers before looking at the body (the kernel copies it in first and
            // would say EFAULT for an unreadable one).
            if body_ok || body_addr == 0 {
                prop_assert_eq!(r, EOPNOTSUPP);
            } else {
                prop_assert!(r == EOPNOTSUPP || r == EFAULT);
            }
        }
        if c.reqtype == NETMAP_REQ_REGISTER {
            prop_assert_ne!(r, 0, "REGISTER of a name that is no interface succeeded");
        }
    }
    // The body is written on success only (a query's results).
    let mut want_body = body_before.clone();
    if r == 0 {
        if let (Some(n), Some(bo)) = (size, bm.off(body_addr, size.unwrap_or(0))) {
            want_body[bo..bo + n].copy_from_slice(&body_after[bo..bo + n]);
        }
    }
    same(&format!("body page (result {r})"), &body_after, &want_body)?;
    Ok(())
}

#[test]
fn niocctrl_random_headers() {
    assert!(
        kernel_checked_copies(),
        "process_vm_readv is not usable here"
    );
    let (hm, bm, om) = (Pages::new(), Pages::new(), Pages::new());
    run_then_check_no_xdp("niocctrl_random_headers", || {
        proptest!(config(), |(c in ctrl_case())| {
            check_ctrl(&hm, &bm, &om, &c)?;
        });
    });
}

// ------------------------------------------------------------------------------------------------
// 2. NIOCCTRL with random option chains
// ------------------------------------------------------------------------------------------------

/// Where an option's `nro_next` points.
#[derive(Debug, Clone)]
enum Link {
    End,
    /// The following option (the end after the last one).
    Next,
    /// Any option of the chain, also itself or an earlier one (loops).
    Node(Index),
    /// Any byte offset of the read-write page (options read at odd offsets, across its end).
    Interior(usize),
    /// 1-23 bytes before the end of the page: the header runs into the unmapped page.
    Across(usize),
    Unmapped(usize),
    Wild(u64),
}

fn link() -> impl Strategy<Value = Link> {
    prop_oneof![
        3 => Just(Link::End),
        24 => Just(Link::Next),
        3 => any::<Index>().prop_map(Link::Node),
        1 => (0usize..4096).prop_map(Link::Interior),
        1 => (1usize..OPT_LEN).prop_map(Link::Across),
        1 => (0usize..4096).prop_map(Link::Unmapped),
        1 => wild().prop_map(Link::Wild),
    ]
}

#[derive(Debug, Clone)]
struct Node {
    reqtype: u32,
    status: u32,
    size: u64,
    next: Link,
}

/// The request the options come with, and its answer once the options passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// REGISTER of a name that is no interface: ENXIO.
    Register,
    /// PORT_INFO_GET with an empty name (memory info): 0.
    PortInfo,
    /// VALE_LIST (with a body): EOPNOTSUPP.
    ValeList,
    /// VALE_DELIF (no body): EOPNOTSUPP.
    ValeDelif,
    /// An unknown type (no body): EINVAL.
    Unknown,
}

#[derive(Debug, Clone)]
struct ChainCase {
    target: Target,
    version: u16,
    nodes: Vec<Node>,
    /// Every option points to the following one (only the last one's link is random).
    linear: bool,
    /// Types 0-5 are moved up by 6 (unknown types: no EINVAL from the walk).
    unknown_only: bool,
    /// Where the options start in the page.
    base: Index,
    first: Link,
}

fn node() -> impl Strategy<Value = Node> {
    (opt_type(), any::<u32>(), opt_size(), link()).prop_map(|(reqtype, status, size, next)| Node {
        reqtype,
        status,
        size,
        next,
    })
}

fn chain_case() -> impl Strategy<Value = ChainCase> {
    let target = select(vec![
        Target::Register,
        Target::PortInfo,
        Target::ValeList,
        Target::ValeDelif,
        Target::Unknown,
    ]);
    let nodes = prop_oneof![3 => vec(node(), 0..=40), 1 => vec(node(), 100..=170)];
    let first = prop_oneof![
        8 => Just(Link::Next),
        2 => any::<Index>().prop_map(Link::Node),
        1 => (1usize..OPT_LEN).prop_map(Link::Across),
        1 => (0usize..4096).prop_map(Link::Unmapped),
        1 => wild().prop_map(Link::Wild),
    ];
    (
        target,
        14u16..=15,
        nodes,
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.3),
        any::<Index>(),
        first,
    )
        .prop_map(
            |(target, version, nodes, linear, unknown_only, base, first)| ChainCase {
                target,
                version,
                nodes,
                linear,
                unknown_only,
                base,
                first,
            },
        )
}

fn check_chain(hm: &Pages, dm: &Pages, c: &ChainCase) -> Check {
    hm.check_hole();
    dm.check_hole();
    hm.clear();
    dm.clear();
    let n = c.nodes.len();
    let room = dm.page - n * OPT_LEN;
    let base = dm.rw() + c.base.index(room + 1) as u64;
    let node_addr = |i: usize| base + (i * OPT_LEN) as u64;
    // `from` is the index of the option holding the link (None: the header's nr_options).
    let resolve = |l: &Link, from: Option<usize>| -> u64 {
        match l {
            Link::End => 0,
            Link::Next => {
                let i = from.map_or(0, |f| f + 1);
                if i < n {
                    node_addr(i)
                } else {
                    0
                }
            }
            Link::Node(ix) if n > 0 => node_addr(ix.index(n)),
            Link::Node(_) => 0,
            Link::Interior(off) => dm.rw() + (off % dm.page) as u64,
            Link::Across(k) => dm.end() - *k as u64,
            Link::Unmapped(off) => dm.unmapped(*off),
            Link::Wild(a) => *a,
        }
    };
    for (i, nd) in c.nodes.iter().enumerate() {
        let next = if c.linear && i + 1 < n {
            &Link::Next
        } else {
            &nd.next
        };
        let o = nmreq_option {
            nro_next: resolve(next, Some(i)),
            nro_reqtype: if c.unknown_only && nd.reqtype < NETMAP_REQ_OPT_MAX {
                nd.reqtype + NETMAP_REQ_OPT_MAX
            } else {
                nd.reqtype
            },
            nro_status: nd.status,
            nro_size: nd.size,
        };
        dm.put(node_addr(i), &bytes_of(&o));
    }
    let first = resolve(&c.first, None);

    // The header and the body in the other page.
    let (reqtype, name, want) = match c.target {
        Target::Register => (NETMAP_REQ_REGISTER, "nmxf-chain", ENXIO),
        Target::PortInfo => (NETMAP_REQ_PORT_INFO_GET, "", 0),
        Target::ValeList => (NETMAP_REQ_VALE_LIST, "nmxf-chain", EOPNOTSUPP),
        Target::ValeDelif => (NETMAP_REQ_VALE_DELIF, "nmxf-chain", EOPNOTSUPP),
        Target::Unknown => (99, "nmxf-chain", EINVAL),
    };
    let body_len = doc_body_size(reqtype).unwrap_or(0);
    let body_addr = if body_len == 0 { 0 } else { hm.rw() + 512 };
    if c.target == Target::Register {
        let reg = nmreq_register {
            nr_mode: NR_REG_ALL_NIC,
            ..Default::default()
        };
        hm.put(body_addr, &bytes_of(&reg));
    }
    let mut h = nmreq_header::init(reqtype, body_addr);
    h.nr_version = c.version;
    h.set_name(name).unwrap();
    h.nr_options = first;
    hm.put(hm.rw(), &bytes_of(&h));

    let data_before = dm.snapshot();
    let w = model_walk(first, body_len, |a| option_in(dm, &data_before, a));
    // Options read at odd offsets may hold any pointer: skip the cases whose walk would leave
    // the test's memory.
    prop_assume!(walk_is_contained(dm, &w));

    let hdr_before = hm.snapshot();
    let file = NmFile::new();
    let r = call(&file, NIOCCTRL, hm.rw());
    let hdr_after = hm.snapshot();
    let data_after = dm.snapshot();
    check_errno(r)?;
    check_unregistered(&file)?;

    // The walk decides, else the request does.
    prop_assert_eq!(r, w.result.unwrap_or(want), "option walk: {}", w.brief());
    same(
        &format!("option page (only the statuses are written; {})", w.brief()),
        &data_after,
        &with_statuses(dm, &data_before, &w),
    )?;

    // The same, stated on its own.
    let distinct: Vec<u64> = {
        let mut v: Vec<u64> = w.statuses.iter().map(|s| s.0).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let overlap = distinct.windows(2).any(|p| p[1] - p[0] < OPT_LEN as u64);
    if !overlap {
        // Every reachable option's status is written, and never 0 (none is accepted).
        for &a in &distinct {
            let st = u32_at(&data_after, dm.off(a, OPT_LEN).unwrap() + STATUS_OFF);
            prop_assert!(
                st == EINVAL as u32 || st == EOPNOTSUPP as u32,
                "status {}",
                st
            );
        }
    }
    // A loop of readable options ends in EMSGSIZE.
    let mut seen = std::collections::HashSet::new();
    let mut a = first;
    let mut looped = false;
    while a != 0 {
        if !seen.insert(a) {
            looped = true;
            break;
        }
        match option_in(dm, &data_before, a) {
            Some(o) => a = o.nro_next,
            None => break,
        }
    }
    if looped {
        prop_assert_eq!(r, EMSGSIZE, "a loop");
    } else if a == 0 && body_len + seen.len() * OPT_LEN > NETMAP_REQ_MAXSIZE {
        // A finite list whose headers alone exceed NETMAP_REQ_MAXSIZE.
        prop_assert_eq!(r, EMSGSIZE, "{} options", seen.len());
    }
    // A repeated known type fails the request with EINVAL, both options marked so.
    if r != EMSGSIZE && r != EFAULT && !overlap {
        let typ = |a: u64| option_in(dm, &data_before, a).unwrap().nro_reqtype;
        for (i, &x) in distinct.iter().enumerate() {
            for &y in &distinct[i + 1..] {
                let t = typ(x);
                if t != 0 && t < NETMAP_REQ_OPT_MAX && t == typ(y) {
                    prop_assert_eq!(r, EINVAL, "type {} twice", t);
                    for z in [x, y] {
                        let st = u32_at(&data_after, dm.off(z, OPT_LEN).unwrap() + STATUS_OFF);
                        prop_assert_eq!(st, EINVAL as u32);
                    }
                }
            }
        }
    }

    // The header comes back as it was (its name is NUL-terminated); a body only on success.
    let mut want_hdr = hdr_before.clone();
    if r == 0 {
        let b = (body_addr - hm.rw()) as usize;
        want_hdr[b..b + body_len].copy_from_slice(&hdr_after[b..b + body_len]);
        let pi: nmreq_port_info_get = from_bytes(&hdr_after[b..]);
        prop_assert!(pi.nr_mem_id == 1 && pi.nr_memsize > 0, "{:?}", pi);
    }
    same("header and body page", &hdr_after, &want_hdr)?;
    Ok(())
}

#[test]
fn niocctrl_random_option_chains() {
    assert!(
        kernel_checked_copies(),
        "process_vm_readv is not usable here"
    );
    let (hm, dm) = (Pages::new(), Pages::new());
    assert!(dm.page >= 170 * OPT_LEN);
    run_then_check_no_xdp("niocctrl_random_option_chains", || {
        proptest!(config(), |(c in chain_case())| {
            check_chain(&hm, &dm, &c)?;
        });
    });
}

// ------------------------------------------------------------------------------------------------
// 3. Legacy NIOCREGIF / NIOCGINFO
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct LegacyCase {
    regif: bool,
    at: Place,
    name: Vec<u8>,
    /// The other fields (offsets, sizes, nr_arg3, spare).
    raw: Vec<u8>,
    version: u32,
    cmd: u16,
    flags: u32,
    ringid: u16,
    arg1: u16,
    arg2: u16,
}

fn legacy_case() -> impl Strategy<Value = LegacyCase> {
    let version = prop_oneof![3 => 11u32..=20, 3 => 0u32..=20, 1 => any::<u32>()];
    let cmd = prop_oneof![3 => Just(0u16), 4 => 0u16..=15, 1 => any::<u16>()];
    let flags = prop_oneof![
        3 => 0u32..=15,
        2 => (0u32..=15, any::<u32>()).prop_map(|(m, hi)| m | (hi & !NR_REG_MASK)),
        1 => any::<u32>(),
    ];
    let ringid = prop_oneof![
        2 => 0u16..4,
        2 => (0u16..4, select(vec![NETMAP_HW_RING, NETMAP_SW_RING, NETMAP_NO_TX_POLL, NETMAP_DO_RX_POLL]))
            .prop_map(|(r, f)| r | f),
        1 => any::<u16>(),
    ];
    let arg = prop_oneof![2 => Just(0u16), 1 => 0u16..=12, 1 => any::<u16>()];
    let arg2 = prop_oneof![2 => Just(0u16), 1 => Just(1u16), 1 => Just(2u16), 1 => any::<u16>()];
    (
        any::<bool>(),
        place(24, 1),
        name_bytes(IFNAMSIZ),
        vec(any::<u8>(), NMREQ_LEN),
        version,
        cmd,
        flags,
        ringid,
        arg,
        arg2,
    )
        .prop_map(
            |(regif, at, name, raw, version, cmd, flags, ringid, arg1, arg2)| LegacyCase {
                regif,
                at,
                name,
                raw,
                version,
                cmd,
                flags,
                ringid,
                arg1,
                arg2,
            },
        )
}

fn check_legacy(dm: &Pages, c: &LegacyCase) -> Check {
    dm.check_hole();
    dm.clear();
    let mut n: nmreq = from_bytes(&c.raw);
    for (d, &s) in n.nr_name.iter_mut().zip(&c.name) {
        *d = s as c_char;
    }
    n.nr_version = c.version;
    n.nr_cmd = c.cmd;
    n.nr_flags = c.flags;
    n.nr_ringid = c.ringid;
    n.nr_arg1 = c.arg1;
    n.nr_arg2 = c.arg2;
    // NIOCREGIF with nr_cmd 0 registers: never an existing interface.
    if c.regif && c.cmd == 0 && registers(&legacy_spec(&n).name) {
        n.set_name(GUARD_NAME).unwrap();
        // The legacy pipe modes would make GUARD_NAME a pipe name.
        let mode = n.nr_flags & NR_REG_MASK;
        if mode == NR_REG_PIPE_MASTER || mode == NR_REG_PIPE_SLAVE {
            n.nr_flags = (n.nr_flags & !NR_REG_MASK) | NR_REG_ALL_NIC;
        }
    }
    let addr = c.at.addr(dm, 0, NMREQ_LEN);
    dm.put(addr, &bytes_of(&n));
    let before = dm.snapshot();

    let file = NmFile::new();
    let req = if c.regif { NIOCREGIF } else { NIOCGINFO };
    let r = call(&file, req, addr);
    let after = dm.snapshot();
    check_errno(r)?;
    check_unregistered(&file)?;

    let Some(off) = dm.off(addr, NMREQ_LEN) else {
        prop_assert_eq!(r, if addr == 0 { EINVAL } else { EFAULT });
        same("argument page", &after, &before)?;
        return Ok(());
    };
    if c.version < 11 {
        prop_assert_eq!(r, EINVAL, "API {}", c.version);
    } else if c.cmd == NETMAP_BDG_LIST
        || (c.regif && ![0, NETMAP_BDG_VNET_HDR, NETMAP_VNET_HDR_GET].contains(&c.cmd))
    {
        prop_assert_eq!(r, EOPNOTSUPP, "nr_cmd {}", c.cmd);
    }
    if c.regif && c.cmd == 0 {
        prop_assert_ne!(r, 0, "NIOCREGIF of a name that is no interface succeeded");
    }
    if r != 0 {
        same("struct nmreq after a failure", &after, &before)?;
        return Ok(());
    }
    // Success writes exactly the fields the kernel writes for a legacy registration.
    macro_rules! fields {
        ($($f:ident),*) => {
            vec![$((offset_of!(nmreq, $f), std::mem::size_of_val(&n.$f))),*]
        };
    }
    let written = if !c.regif {
        fields!(
            nr_memsize,
            nr_tx_slots,
            nr_rx_slots,
            nr_tx_rings,
            nr_rx_rings,
            nr_arg2
        )
    } else if c.cmd == NETMAP_VNET_HDR_GET {
        fields!(nr_arg1)
    } else {
        vec![]
    };
    let mut want = before.clone();
    for (f, len) in written {
        want[off + f..off + f + len].copy_from_slice(&after[off + f..off + f + len]);
    }
    same(
        "struct nmreq (only the fields of a legacy registration are written)",
        &after,
        &want,
    )?;
    let out: nmreq = from_bytes(&after[off..]);
    if !c.regif {
        prop_assert!(out.nr_arg2 == 1 && out.nr_memsize > 0, "{:?}", out);
    } else if c.cmd == NETMAP_VNET_HDR_GET {
        prop_assert_eq!(out.nr_arg1, 0);
    }
    Ok(())
}

#[test]
fn legacy_random_nmreq() {
    assert!(
        kernel_checked_copies(),
        "process_vm_readv is not usable here"
    );
    let dm = Pages::new();
    run_then_check_no_xdp("legacy_random_nmreq", || {
        proptest!(config(), |(c in legacy_case())| {
            check_legacy(&dm, &c)?;
        });
    });
}

// ------------------------------------------------------------------------------------------------
// 4. Sync and unknown ioctls on an unregistered file
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Arg {
    Null,
    /// A zeroed page (a version-0 request for the control ioctls).
    Zeroes,
    Unmapped(usize),
    Wild(u64),
}

#[derive(Debug, Clone)]
struct OtherCase {
    request: c_ulong,
    arg: Arg,
    /// Through open("/dev/netmap") and the interposed ioctl, else on the file directly.
    via_fd: bool,
}

const CONTROL: [c_ulong; 3] = [NIOCCTRL, NIOCREGIF, NIOCGINFO];

fn other_case() -> impl Strategy<Value = OtherCase> {
    let known = vec![
        NIOCCTRL, NIOCREGIF, NIOCGINFO, NIOCTXSYNC, NIOCRXSYNC, NIOCCONFIG,
    ];
    let request = prop_oneof![
        3 => Just(NIOCTXSYNC),
        3 => Just(NIOCRXSYNC),
        1 => Just(NIOCCONFIG),
        1 => select(CONTROL.to_vec()),
        4 => any::<c_ulong>(),
        3 => (0u32..4, any::<u8>(), 0usize..0x4000).prop_map(|(d, nr, size)| _IOC(d, b'i', nr, size)),
        2 => (select(known), 0u32..32).prop_map(|(k, bit)| k ^ (1 << bit)),
    ];
    let arg = prop_oneof![
        2 => Just(Arg::Null),
        2 => Just(Arg::Zeroes),
        1 => (0usize..4096).prop_map(Arg::Unmapped),
        1 => wild().prop_map(Arg::Wild),
    ];
    (request, arg, any::<bool>()).prop_map(|(request, arg, via_fd)| OtherCase {
        request,
        arg,
        via_fd,
    })
}

/// ioctls the kernel answers for any file: the interposer passes them on.
fn generic(req: c_ulong) -> bool {
    matches!(
        req,
        libc::FIOCLEX | libc::FIONCLEX | libc::FIONBIO | libc::FIOASYNC
    )
}

fn check_other(dm: &Pages, fd: c_int, c: &OtherCase) -> Check {
    dm.check_hole();
    dm.clear();
    let arg = match c.arg {
        Arg::Null => 0,
        Arg::Zeroes => dm.rw(),
        Arg::Unmapped(off) => dm.unmapped(off),
        Arg::Wild(a) => a,
    };
    let file = NmFile::new();
    let r = if c.via_fd {
        if generic(c.request) {
            // The real eventfd answers; not netmap's business.
            return Ok(());
        }
        real::set_errno(0);
        // SAFETY: our fd; the argument is never dereferenced outside the test's pages, page 0
        // and the kernel half (the control ioctls read it through process_vm_readv).
        match unsafe { interpose::ioctl(fd, c.request, arg as *mut c_void) } {
            0 => 0,
            -1 => real::errno(),
            r => panic!("ioctl returned {r}"),
        }
    } else {
        call(&file, c.request, arg)
    };
    check_errno(r)?;
    check_unregistered(&file)?;
    let via = fdtable::netmap(fd).expect("the fd is still a netmap fd");
    check_unregistered(&via)?;

    let want = match c.request {
        NIOCTXSYNC | NIOCRXSYNC => ENXIO,
        NIOCCONFIG if arg == 0 => EINVAL,
        NIOCCONFIG => EOPNOTSUPP,
        q if CONTROL.contains(&q) => match c.arg {
            Arg::Null | Arg::Zeroes => EINVAL,
            _ => EFAULT,
        },
        _ => EOPNOTSUPP,
    };
    prop_assert_eq!(r, want, "request {:#x}", c.request);
    prop_assert!(
        dm.snapshot().iter().all(|&b| b == 0),
        "the argument was written"
    );
    Ok(())
}

#[test]
fn other_ioctls_on_an_unregistered_file() {
    assert!(
        kernel_checked_copies(),
        "process_vm_readv is not usable here"
    );
    let dm = Pages::new();
    // SAFETY: a constant path.
    let fd = unsafe { interpose::open(c"/dev/netmap".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
    assert!(fd >= 0 && fdtable::is_netmap(fd));
    run_then_check_no_xdp("other_ioctls_on_an_unregistered_file", || {
        proptest!(config(), |(c in other_case())| {
            check_other(&dm, fd, &c)?;
        });
    });
    // SAFETY: our fd.
    assert_eq!(unsafe { interpose::close(fd) }, 0);
}
