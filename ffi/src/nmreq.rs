//! libnetmap's request helpers: `nmreq_header_init`, the port-name decoders
//! (`nmreq_header_decode`, `nmreq_register_decode`, `nmreq_options_decode`, `nmreq_get_mem_id`)
//! and the option-list functions (`nmreq_push_option`, `nmreq_remove_option`,
//! `nmreq_find_option`, `nmreq_free_options`, `nmreq_option_name`).
//!
//! The grammar itself is nmxdp's (`nmxdp::name::parse_port_with`, netmap-abi.md §8.1); the
//! decoders here only cut the spec into the pieces each C entry point consumes and advance the
//! caller's `const char **` the way libnetmap does: the header decoder consumes `prefix:name`, the
//! register decoder the mode, `/flags` and `@N` that follow, leaving `*p` at the first `@option`.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::ptr;
use std::sync::Mutex;

use nmxdp::abi::{
    nmreq_header, nmreq_option, nmreq_port_info_get, nmreq_register, NETMAP_API,
    NETMAP_REQ_OPT_CSB, NETMAP_REQ_OPT_EXTMEM, NETMAP_REQ_OPT_OFFSETS,
    NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, NETMAP_REQ_OPT_SYNC_KLOOP_MODE, NETMAP_REQ_PORT_INFO_GET,
    NIOCCTRL,
};
use nmxdp::name::{parse_port_with, PortSpec};
use nmxdp::Error;

use crate::nmctx::{ctx_free, ctx_malloc, errno, fail, guard, nmctx, set_errno, strerror};

/// Path libnetmap opens (hard-coded upstream too).
pub(crate) const NETMAP_DEVICE: &CStr = c"/dev/netmap";

/// Longest option list walked before giving up (a looping list would otherwise hang).
const MAX_OPTIONS: usize = 1 << 16;

// ------------------------------------------------------------------------------------------------
// Option parser tables (nmreq_options_decode)
// ------------------------------------------------------------------------------------------------

pub const NMREQ_OPT_MAXKEYS: usize = 16;
/// The key may have an empty value.
pub const NMREQ_OPTK_ALLOWEMPTY: c_uint = 1 << 0;
/// The key must be given.
pub const NMREQ_OPTK_MUSTSET: c_uint = 1 << 1;
/// The key is the one `@option=value` sets.
pub const NMREQ_OPTK_DEFAULT: c_uint = 1 << 2;
/// The option is recognised but refused with `EOPNOTSUPP`.
pub const NMREQ_OPTF_DISABLED: c_uint = 1 << 0;
/// The option may be given without any key (`@option`).
pub const NMREQ_OPTF_ALLOWEMPTY: c_uint = 1 << 1;

/// One key of an option (`struct nmreq_opt_key`, 16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nmreq_opt_key {
    pub key: *const c_char,
    pub id: c_int,
    pub flags: c_uint,
}

/// What the parse callback receives: the caller's token and each key's value (NULL = not given),
/// indexed like the parser's `keys[]`.
#[repr(C)]
#[derive(Debug)]
pub struct nmreq_parse_ctx {
    pub ctx: *mut nmctx,
    pub token: *mut c_void,
    pub keys: [*const c_char; NMREQ_OPT_MAXKEYS],
}

/// One `@prefix` option and its keys (`struct nmreq_opt_parser`); parsers form a list via `next`.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct nmreq_opt_parser {
    pub prefix: *const c_char,
    pub parse: Option<unsafe extern "C" fn(*mut nmreq_parse_ctx) -> c_int>,
    /// Index in `keys` of the key `@prefix=value` sets; -1 = none.
    pub default_key: c_int,
    pub nr_keys: c_int,
    pub flags: c_uint,
    pub next: *mut nmreq_opt_parser,
    pub keys: [nmreq_opt_key; NMREQ_OPT_MAXKEYS],
}

const _: () = {
    use std::mem::offset_of;
    assert!(size_of::<nmreq_opt_key>() == 16);
    assert!(size_of::<nmreq_parse_ctx>() == 144);
    assert!(offset_of!(nmreq_parse_ctx, keys) == 16);
    assert!(offset_of!(nmreq_opt_parser, prefix) == 0);
    assert!(offset_of!(nmreq_opt_parser, parse) == 8);
    assert!(offset_of!(nmreq_opt_parser, default_key) == 16);
    assert!(offset_of!(nmreq_opt_parser, nr_keys) == 20);
    assert!(offset_of!(nmreq_opt_parser, flags) == 24);
    assert!(offset_of!(nmreq_opt_parser, next) == 32);
    assert!(offset_of!(nmreq_opt_parser, keys) == 40);
    assert!(size_of::<nmreq_opt_parser>() == 304);
};

// ------------------------------------------------------------------------------------------------
// Options allocated by the library
// ------------------------------------------------------------------------------------------------

/// Options this library allocated (address, context used), so that `nmreq_free_options` frees
/// exactly those: an option the application put on the list itself (often on its stack) is
/// unlinked but never passed to free().
static LIB_OPTIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn lib_options() -> std::sync::MutexGuard<'static, Vec<(usize, usize)>> {
    LIB_OPTIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Allocates a zeroed option of `size` bytes with `ctx`'s allocator and sets its type.
pub(crate) unsafe fn alloc_option(ctx: *mut nmctx, size: usize, reqtype: u32) -> *mut nmreq_option {
    let p = ctx_malloc(ctx, size).cast::<u8>();
    if p.is_null() {
        return ptr::null_mut();
    }
    ptr::write_bytes(p, 0, size);
    let o = p.cast::<nmreq_option>();
    (*o).nro_reqtype = reqtype;
    lib_options().push((o as usize, ctx as usize));
    o
}

/// Frees `o` if this library allocated it; returns whether it did.
unsafe fn release_option(o: *mut nmreq_option) -> bool {
    let owner = {
        let mut list = lib_options();
        list.iter()
            .position(|&(a, _)| a == o as usize)
            .map(|i| list.swap_remove(i).1)
    };
    match owner {
        Some(ctx) => {
            ctx_free(ctx as *mut nmctx, o.cast());
            true
        }
        None => false,
    }
}

/// Empties `h`'s option list, freeing the options this library allocated.
pub(crate) unsafe fn free_options(h: *mut nmreq_header) {
    let mut o = (*h).nr_options as *mut nmreq_option;
    (*h).nr_options = 0;
    let mut n = 0;
    while !o.is_null() && n < MAX_OPTIONS {
        let next = (*o).nro_next as *mut nmreq_option;
        (*o).nro_next = 0;
        release_option(o);
        o = next;
        n += 1;
    }
}

/// Iterates over `h`'s option list (bounded, so that a looping list cannot hang).
pub(crate) unsafe fn options(h: *const nmreq_header) -> impl Iterator<Item = *mut nmreq_option> {
    let mut o = (*h).nr_options as *mut nmreq_option;
    let mut n = 0;
    std::iter::from_fn(move || {
        if o.is_null() || n >= MAX_OPTIONS {
            return None;
        }
        let cur = o;
        // SAFETY: the list consists of valid options (caller's contract).
        o = unsafe { (*cur).nro_next } as *mut nmreq_option;
        n += 1;
        Some(cur)
    })
}

/// Option name for messages.
pub(crate) fn option_name(reqtype: u32) -> &'static CStr {
    match reqtype {
        NETMAP_REQ_OPT_EXTMEM => c"extmem",
        NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS => c"sync-kloop-eventfds",
        NETMAP_REQ_OPT_CSB => c"csb",
        NETMAP_REQ_OPT_SYNC_KLOOP_MODE => c"sync-kloop-mode",
        NETMAP_REQ_OPT_OFFSETS => c"offsets",
        _ => c"unknown",
    }
}

// ------------------------------------------------------------------------------------------------
// Decoding the port spec
// ------------------------------------------------------------------------------------------------

/// Reads a C string as UTF-8, or an `EINVAL` error naming what it is.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::new(libc::EINVAL, format!("{what} is NULL")));
    }
    CStr::from_ptr(p).to_str().map_err(|_| {
        Error::new(
            libc::EINVAL,
            format!(
                "{}: {what} is not valid UTF-8 (netmap port names are ASCII)",
                CStr::from_ptr(p).to_string_lossy()
            ),
        )
    })
}

/// Byte offset where the `prefix:name` part of `spec` ends: the first of `- * ^ / @` after the
/// prefix's ':' (or the end).
fn header_end(b: &[u8]) -> usize {
    let port_start = if b.starts_with(b"netmap") {
        6
    } else if b.starts_with(b"vale") {
        b.iter().position(|&c| c == b':').map_or(4, |i| i + 1)
    } else {
        0
    };
    b[port_start..]
        .iter()
        .position(|c| b"-*^/@".contains(c))
        .map_or(b.len(), |i| port_start + i)
}

/// Decodes `prefix:name` at the start of `spec`: returns the name for `nr_name` and the number of
/// bytes consumed.
pub(crate) fn decode_header(spec: &str) -> Result<(String, usize), Error> {
    let end = header_end(spec.as_bytes());
    // `end` is at an ASCII delimiter or the end, so slicing is on a char boundary.
    let p = parse_port_with(&spec[..end], true)?;
    Ok((p.name, end))
}

/// Length of the mode part at the start of `s`: up to the first `@` not followed by a digit
/// (`@N` selects an allocator and belongs to the mode part, `@name` starts the options).
fn mode_end(b: &[u8]) -> usize {
    (0..b.len())
        .find(|&i| b[i] == b'@' && !b.get(i + 1).is_some_and(u8::is_ascii_digit))
        .unwrap_or(b.len())
}

/// Prefix put in front of a bare mode part so that nmxdp's parser accepts it.
const MODE_PREFIX: &str = "netmap:x";

/// Decodes the mode, `/flags` and `@N` part at the start of `mode`: returns the parsed values
/// (mode, ringid, flags, mem_id) and the number of bytes consumed.
pub(crate) fn decode_register(mode: &str) -> Result<(PortSpec, usize), Error> {
    let end = mode_end(mode.as_bytes());
    let part = &mode[..end];
    if let Some(c) = part.chars().next() {
        if !"-*^/@".contains(c) {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "{}: unexpected '{}' where a ring suffix (-N, ^, ^N, *), /FLAGS or @N \
                     was expected",
                    mode.escape_debug(),
                    c.escape_debug()
                ),
            ));
        }
    }
    let synthetic = format!("{MODE_PREFIX}{part}");
    match parse_port_with(&synthetic, true) {
        Ok(p) => Ok((p, end)),
        Err(e) => Err(reframe(e, &synthetic, part)),
    }
}

/// Rewrites an error about `synthetic` (= MODE_PREFIX + `real`) so that it quotes `real` and
/// counts characters from its start.
fn reframe(e: Error, synthetic: &str, real: &str) -> Error {
    let shown = format!("{}: ", synthetic.escape_debug());
    let Some(rest) = e.message().strip_prefix(&shown) else {
        return e;
    };
    const AT: &str = " at character ";
    let mut rest = rest.to_string();
    if let Some(i) = rest.find(AT) {
        let from = i + AT.len();
        let len = rest[from..].bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(col) = rest[from..from + len].parse::<usize>() {
            if col > MODE_PREFIX.len() {
                rest.replace_range(from..from + len, &(col - MODE_PREFIX.len()).to_string());
            }
        }
    }
    Error::new(e.errno(), format!("{}: {rest}", real.escape_debug()))
}

/// Resolves the allocator (mem id) of the port named by `spec` (`prefix:name`, optionally with a
/// ring suffix / flags / `@N`, no options) with PORT_INFO_GET on a temporary `/dev/netmap` fd.
/// Returns the mem id and the number of bytes of `spec` consumed.
pub(crate) fn mem_id_of(spec: &str) -> Result<(u16, usize), Error> {
    let (name, n1) = decode_header(spec)?;
    let (reg, n2) = decode_register(&spec[n1..])?;
    let used = n1 + n2;
    if used < spec.len() {
        return Err(Error::new(
            libc::EINVAL,
            format!(
                "{}: unexpected '{}' after the port name (give just the port, without @options)",
                spec.escape_debug(),
                spec[used..].escape_debug()
            ),
        ));
    }
    let mut info = nmreq_port_info_get {
        nr_mem_id: reg.mem_id,
        ..Default::default()
    };
    let mut hdr = nmreq_header::init(
        NETMAP_REQ_PORT_INFO_GET,
        &mut info as *mut nmreq_port_info_get as u64,
    );
    hdr.set_name(&name)?;
    // SAFETY: plain libc calls on a path literal and a valid request; inside libnetmap.so these
    // names resolve to the interposer, which answers /dev/netmap.
    unsafe {
        let fd = libc::open(NETMAP_DEVICE.as_ptr(), libc::O_RDWR);
        if fd < 0 {
            let e = errno();
            return Err(Error::new(
                e,
                format!("cannot open /dev/netmap: {}", strerror(e)),
            ));
        }
        let rc = libc::ioctl(fd, NIOCCTRL, &mut hdr as *mut nmreq_header);
        let e = errno();
        libc::close(fd);
        if rc < 0 {
            return Err(Error::new(
                e,
                format!(
                    "{}: cannot get the port's memory allocator: {}",
                    spec.escape_debug(),
                    strerror(e)
                ),
            ));
        }
    }
    Ok((info.nr_mem_id, used))
}

/// Reports `e` through `ctx` (unless its message is empty: already reported) and sets errno.
pub(crate) fn report_error(ctx: *mut nmctx, e: &Error) {
    if e.message().is_empty() {
        set_errno(e.errno());
    } else {
        fail(ctx, e.errno(), e.message());
    }
}

// ------------------------------------------------------------------------------------------------
// nmreq_options_decode
// ------------------------------------------------------------------------------------------------

/// Key slot used for each entry of a parser's `keys[]`: the entries' `id`s when they form a valid
/// assignment (distinct, in range), else the array index.
unsafe fn key_slots(p: *const nmreq_opt_parser) -> [usize; NMREQ_OPT_MAXKEYS] {
    let keys = &(*p).keys;
    let mut by_index = [0usize; NMREQ_OPT_MAXKEYS];
    let mut used = [false; NMREQ_OPT_MAXKEYS];
    let mut ids_ok = true;
    for (j, k) in keys.iter().enumerate() {
        by_index[j] = j;
        if k.key.is_null() {
            continue;
        }
        match usize::try_from(k.id) {
            Ok(id) if id < NMREQ_OPT_MAXKEYS && !used[id] => used[id] = true,
            _ => ids_ok = false,
        }
    }
    if !ids_ok {
        return by_index;
    }
    let mut by_id = by_index;
    for (j, k) in keys.iter().enumerate() {
        if !k.key.is_null() {
            by_id[j] = k.id as usize;
        }
    }
    by_id
}

fn norm_key(k: &[u8]) -> Vec<u8> {
    k.iter()
        .map(|&c| if c == b'-' { b'_' } else { c })
        .collect()
}

/// First index ≥ `from` and < `end` holding one of `stops`, or `end`.
fn scan(b: &[u8], from: usize, end: usize, stops: &[u8]) -> usize {
    (from..end).find(|&i| stops.contains(&b[i])).unwrap_or(end)
}

/// Decodes `@name[=value][,key=value...]` / `@name:key=value,...` options, each handled by the
/// parser of `parsers` whose prefix is `name`.
unsafe fn options_decode(
    opt: &[u8],
    parsers: *mut nmreq_opt_parser,
    token: *mut c_void,
    ctx: *mut nmctx,
) -> Result<(), Error> {
    let shown = String::from_utf8_lossy(opt).into_owned();
    let err = |e: c_int, what: String| Error::new(e, format!("{}: {what}", shown.escape_debug()));
    if opt.is_empty() {
        return Ok(());
    }
    if opt[0] != b'@' {
        return Err(err(
            libc::EINVAL,
            "options must start with '@' (e.g. @conf:rings=2)".into(),
        ));
    }
    // Values are handed to the callbacks as NUL-terminated strings cut out of this copy.
    let mut buf = opt.to_vec();
    buf.push(0);
    let mut seen: Vec<*mut nmreq_opt_parser> = Vec::new();
    let mut i = 0;
    while i < opt.len() {
        let start = i + 1;
        let end = scan(opt, start, opt.len(), b"@");
        let name_end = scan(opt, start, end, b"=:");
        let name = &opt[start..name_end];
        let name_s = String::from_utf8_lossy(name);
        if name.is_empty() {
            return Err(err(libc::EINVAL, "option name expected after '@'".into()));
        }
        let mut p = parsers;
        let mut walked = 0;
        while !p.is_null() && walked < MAX_OPTIONS {
            if !(*p).prefix.is_null() && CStr::from_ptr((*p).prefix).to_bytes() == name {
                break;
            }
            p = (*p).next;
            walked += 1;
        }
        if p.is_null() || walked >= MAX_OPTIONS {
            return Err(err(libc::EINVAL, format!("unknown option '@{name_s}'")));
        }
        if (*p).flags & NMREQ_OPTF_DISABLED != 0 {
            return Err(err(
                libc::EOPNOTSUPP,
                format!("option '@{name_s}' is disabled"),
            ));
        }
        if seen.contains(&p) {
            return Err(err(libc::EINVAL, format!("option '@{name_s}' given twice")));
        }
        seen.push(p);

        let slots = key_slots(p);
        let keys = &(*p).keys;
        let mut pctx = nmreq_parse_ctx {
            ctx,
            token,
            keys: [ptr::null(); NMREQ_OPT_MAXKEYS],
        };
        let mut any = false;
        // (key index, value start, value end)
        let mut set = |j: usize, vs: usize, ve: usize, buf: &mut Vec<u8>| -> Result<(), Error> {
            let slot = slots[j];
            let kname = CStr::from_ptr(keys[j].key).to_string_lossy();
            if !pctx.keys[slot].is_null() {
                return Err(err(
                    libc::EINVAL,
                    format!("key '{kname}' of option '@{name_s}' given twice"),
                ));
            }
            if vs == ve && keys[j].flags & NMREQ_OPTK_ALLOWEMPTY == 0 {
                return Err(err(
                    libc::EINVAL,
                    format!("value expected for key '{kname}' of option '@{name_s}'"),
                ));
            }
            buf[ve] = 0;
            pctx.keys[slot] = buf.as_ptr().add(vs).cast();
            any = true;
            Ok(())
        };

        let mut k = name_end;
        if k < end && opt[k] == b'=' {
            // `default_key` is a key id (a slot of nmreq_parse_ctx.keys); failing that, the key
            // flagged NMREQ_OPTK_DEFAULT.
            let dk = usize::try_from((*p).default_key)
                .ok()
                .and_then(|id| {
                    (0..NMREQ_OPT_MAXKEYS).find(|&j| !keys[j].key.is_null() && slots[j] == id)
                })
                .or_else(|| {
                    keys.iter()
                        .position(|kk| !kk.key.is_null() && kk.flags & NMREQ_OPTK_DEFAULT != 0)
                });
            let Some(dk) = dk else {
                return Err(err(
                    libc::EINVAL,
                    format!("option '@{name_s}' has no default key: use @{name_s}:KEY=VALUE"),
                ));
            };
            let ve = scan(opt, k + 1, end, b",");
            set(dk, k + 1, ve, &mut buf)?;
            k = ve;
        } else if k < end && opt[k] == b':' {
            k += 1;
            if k == end {
                return Err(err(
                    libc::EINVAL,
                    format!("key expected after '@{name_s}:'"),
                ));
            }
        }
        if k < end && opt[k] == b',' {
            k += 1;
        }
        while k < end {
            let ke = scan(opt, k, end, b"=,");
            let key = norm_key(&opt[k..ke]);
            let key_s = String::from_utf8_lossy(&opt[k..ke]).into_owned();
            if key.is_empty() {
                return Err(err(
                    libc::EINVAL,
                    format!("key expected in option '@{name_s}'"),
                ));
            }
            let j = keys
                .iter()
                .position(|kk| {
                    !kk.key.is_null() && norm_key(CStr::from_ptr(kk.key).to_bytes()) == key
                })
                .ok_or_else(|| {
                    err(
                        libc::EINVAL,
                        format!("unknown key '{key_s}' for option '@{name_s}'"),
                    )
                })?;
            let (vs, ve) = if ke < end && opt[ke] == b'=' {
                (ke + 1, scan(opt, ke + 1, end, b","))
            } else {
                (ke, ke)
            };
            set(j, vs, ve, &mut buf)?;
            k = if ve < end { ve + 1 } else { ve };
            if ve < end && k == end {
                return Err(err(
                    libc::EINVAL,
                    format!("key expected after ',' in option '@{name_s}'"),
                ));
            }
        }
        if !any && (*p).flags & NMREQ_OPTF_ALLOWEMPTY == 0 {
            return Err(err(
                libc::EINVAL,
                format!(
                    "option '@{name_s}' needs a value (@{name_s}=VALUE or @{name_s}:KEY=VALUE)"
                ),
            ));
        }
        for (j, kk) in keys.iter().enumerate() {
            if !kk.key.is_null()
                && kk.flags & NMREQ_OPTK_MUSTSET != 0
                && pctx.keys[slots[j]].is_null()
            {
                return Err(err(
                    libc::EINVAL,
                    format!(
                        "option '@{name_s}' needs key '{}'",
                        CStr::from_ptr(kk.key).to_string_lossy()
                    ),
                ));
            }
        }
        if let Some(cb) = (*p).parse {
            set_errno(0);
            if cb(&mut pctx) < 0 {
                let e = match errno() {
                    0 => libc::EINVAL,
                    e => e,
                };
                // The callback reports its own errors.
                return Err(Error::new(e, ""));
            }
        }
        i = end;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Exported functions
// ------------------------------------------------------------------------------------------------

/// Zeroes `h` and sets the API version, the request type and the body pointer.
#[no_mangle]
pub unsafe extern "C" fn nmreq_header_init(h: *mut nmreq_header, reqtype: u16, body: *mut c_void) {
    guard((), || {
        if h.is_null() {
            return;
        }
        ptr::write(h, nmreq_header::default());
        (*h).nr_version = NETMAP_API as u16;
        (*h).nr_reqtype = reqtype;
        (*h).nr_body = body as u64;
    })
}

/// Decodes `prefix:name` from `*pspec` into `h->nr_name` and advances `*pspec` past it.
/// 0, or -1 with errno (EINVAL) and a message through `ctx`.
#[no_mangle]
pub unsafe extern "C" fn nmreq_header_decode(
    pspec: *mut *const c_char,
    h: *mut nmreq_header,
    ctx: *mut nmctx,
) -> c_int {
    guard(-1, || {
        if pspec.is_null() || h.is_null() {
            fail(ctx, libc::EINVAL, "nmreq_header_decode: NULL argument");
            return -1;
        }
        let r = c_str(*pspec, "port name").and_then(|spec| {
            let (name, used) = decode_header(spec)?;
            (*h).set_name(&name)?;
            Ok(used)
        });
        match r {
            Ok(used) => {
                *pspec = (*pspec).add(used);
                0
            }
            Err(e) => {
                report_error(ctx, &e);
                -1
            }
        }
    })
}

/// Decodes the ring suffix, `/flags` and `@N` at `*pmode` into `reg` (`nr_mode`, `nr_ringid`,
/// `nr_flags`, and `nr_mem_id` when `@N` is given) and advances `*pmode` to the first `@option`
/// (or the end). 0, or -1 with errno and a message.
#[no_mangle]
pub unsafe extern "C" fn nmreq_register_decode(
    pmode: *mut *const c_char,
    reg: *mut nmreq_register,
    ctx: *mut nmctx,
) -> c_int {
    guard(-1, || {
        if pmode.is_null() || reg.is_null() {
            fail(ctx, libc::EINVAL, "nmreq_register_decode: NULL argument");
            return -1;
        }
        let r = c_str(*pmode, "port mode").and_then(decode_register);
        match r {
            Ok((p, used)) => {
                (*reg).nr_mode = p.mode;
                (*reg).nr_ringid = p.ringid;
                (*reg).nr_flags = p.flags;
                if p.mem_id != 0 {
                    (*reg).nr_mem_id = p.mem_id;
                }
                *pmode = (*pmode).add(used);
                0
            }
            Err(e) => {
                report_error(ctx, &e);
                -1
            }
        }
    })
}

/// Decodes the `@option...` list `opt` with the parser table `parsers` (a list linked by
/// `next`), calling each option's `parse` callback with `token`. 0, or -1 with errno.
#[no_mangle]
pub unsafe extern "C" fn nmreq_options_decode(
    opt: *const c_char,
    parsers: *mut nmreq_opt_parser,
    token: *mut c_void,
    ctx: *mut nmctx,
) -> c_int {
    guard(-1, || {
        if opt.is_null() {
            return 0;
        }
        match options_decode(CStr::from_ptr(opt).to_bytes(), parsers, token, ctx) {
            Ok(()) => 0,
            Err(e) => {
                report_error(ctx, &e);
                -1
            }
        }
    })
}

/// What `nmreq_get_mem_id` accepts at `spec`; returns the mem id (0 = none given) and the bytes
/// consumed.
///
/// - a port name (`netmap:eth0`, `vale0:p`, optionally with a ring suffix/flags): that port's
///   allocator, asked with PORT_INFO_GET (libnetmap's use for `@share=PORT`);
/// - `@N`: N;
/// - `@share=PORT` / `@share:port=PORT`: PORT's allocator, as above;
/// - anything else starting with `@`, or the empty string: 0, nothing consumed.
pub(crate) fn get_mem_id(spec: &str) -> Result<(u16, usize), Error> {
    let b = spec.as_bytes();
    if b.is_empty() {
        return Ok((0, 0));
    }
    if b[0] != b'@' {
        return mem_id_of(spec);
    }
    if b.get(1).is_some_and(u8::is_ascii_digit) {
        let end = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        return match spec[1..end].parse::<u16>() {
            Ok(n) if n > 0 => Ok((n, end)),
            _ => Err(Error::new(
                libc::EINVAL,
                format!(
                    "{}: allocator id must be between 1 and 65535",
                    spec.escape_debug()
                ),
            )),
        };
    }
    for prefix in ["@share=", "@share:port="] {
        if let Some(rest) = spec.strip_prefix(prefix) {
            let end = rest.find(['@', ',']).unwrap_or(rest.len());
            let port = &rest[..end];
            let target = if port.starts_with("netmap") || port.starts_with("vale") {
                port.to_string()
            } else {
                format!("netmap:{port}")
            };
            let (id, _) = mem_id_of(&target)?;
            return Ok((id, prefix.len() + end));
        }
    }
    Ok((0, 0))
}

/// Returns the mem id named at `*pspec` (see [`get_mem_id`]: a port name, `@N` or
/// `@share=PORT`) and advances `*pspec` past what it used; 0 if `*pspec` selects none; -1 with
/// errno on error.
#[no_mangle]
pub unsafe extern "C" fn nmreq_get_mem_id(pspec: *mut *const c_char, ctx: *mut nmctx) -> c_int {
    guard(-1, || {
        if pspec.is_null() {
            fail(ctx, libc::EINVAL, "nmreq_get_mem_id: NULL argument");
            return -1;
        }
        match c_str(*pspec, "port name").and_then(get_mem_id) {
            Ok((id, used)) => {
                *pspec = (*pspec).add(used);
                c_int::from(id)
            }
            Err(e) => {
                report_error(ctx, &e);
                -1
            }
        }
    })
}

/// Name of option type `reqtype` ("unknown" if not a known type).
#[no_mangle]
pub unsafe extern "C" fn nmreq_option_name(reqtype: u32) -> *const c_char {
    guard(ptr::null(), || option_name(reqtype).as_ptr())
}

/// Puts `o` at the front of `h`'s option list.
#[no_mangle]
pub unsafe extern "C" fn nmreq_push_option(h: *mut nmreq_header, o: *mut nmreq_option) {
    guard((), || {
        if h.is_null() || o.is_null() {
            return;
        }
        (*o).nro_next = (*h).nr_options;
        (*h).nr_options = o as u64;
    })
}

/// Unlinks `o` from `h`'s option list (nothing happens if it is not on it).
#[no_mangle]
pub unsafe extern "C" fn nmreq_remove_option(h: *mut nmreq_header, o: *mut nmreq_option) {
    guard((), || {
        if h.is_null() || o.is_null() {
            return;
        }
        let mut link: *mut u64 = ptr::addr_of_mut!((*h).nr_options);
        let mut n = 0;
        while *link != 0 && n < MAX_OPTIONS {
            let cur = *link as *mut nmreq_option;
            if cur == o {
                *link = (*o).nro_next;
                (*o).nro_next = 0;
                return;
            }
            link = ptr::addr_of_mut!((*cur).nro_next);
            n += 1;
        }
    })
}

/// First option of type `reqtype` on `h`'s list, or NULL.
#[no_mangle]
pub unsafe extern "C" fn nmreq_find_option(
    h: *mut nmreq_header,
    reqtype: u32,
) -> *mut nmreq_option {
    guard(ptr::null_mut(), || {
        if h.is_null() {
            return ptr::null_mut();
        }
        options(h)
            .find(|&o| (*o).nro_reqtype == reqtype)
            .unwrap_or(ptr::null_mut())
    })
}

/// Empties `h`'s option list. Options allocated by this library (`nmport_offset`, `@offset`) are
/// freed with the allocator of the context that allocated them; options the application linked
/// itself are only unlinked (they may live on its stack).
#[no_mangle]
pub unsafe extern "C" fn nmreq_free_options(h: *mut nmreq_header) {
    guard((), || {
        if !h.is_null() {
            free_options(h)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmxdp::abi::{
        nmreq_opt_offsets, NETMAP_REQ_REGISTER, NR_EXCLUSIVE, NR_REG_ALL_NIC, NR_REG_NIC_SW,
        NR_REG_ONE_NIC, NR_REG_ONE_SW, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY,
    };
    use std::ffi::CString;

    fn quiet() -> nmctx {
        nmctx {
            verbose: 0,
            error: None,
            malloc: None,
            free: None,
            lock: None,
            mem_descs: ptr::null_mut(),
        }
    }

    #[test]
    fn header_init_zeroes_and_sets() {
        let mut h = nmreq_header::default();
        h.nr_name[0] = b'x' as c_char;
        h.nr_options = 5;
        h.nr_reserved = 9;
        let mut body = 0u64;
        unsafe { nmreq_header_init(&mut h, NETMAP_REQ_REGISTER, ptr::addr_of_mut!(body).cast()) };
        assert_eq!(h.nr_version, 14);
        assert_eq!(h.nr_reqtype, NETMAP_REQ_REGISTER);
        assert_eq!(h.nr_reserved, 0);
        assert_eq!(h.nr_options, 0);
        assert_eq!(h.nr_name[0], 0);
        assert_eq!(h.nr_body, ptr::addr_of_mut!(body) as u64);
    }

    #[test]
    fn push_find_remove_free() {
        let mut h = nmreq_header::default();
        let mut a = nmreq_option {
            nro_reqtype: NETMAP_REQ_OPT_CSB,
            ..Default::default()
        };
        let mut b = nmreq_option {
            nro_reqtype: NETMAP_REQ_OPT_EXTMEM,
            ..Default::default()
        };
        unsafe {
            nmreq_push_option(&mut h, &mut a);
            nmreq_push_option(&mut h, &mut b);
            assert_eq!(h.nr_options, &mut b as *mut _ as u64);
            assert_eq!(b.nro_next, &mut a as *mut _ as u64);
            assert_eq!(
                nmreq_find_option(&mut h, NETMAP_REQ_OPT_CSB),
                &mut a as *mut _
            );
            assert_eq!(
                nmreq_find_option(&mut h, NETMAP_REQ_OPT_EXTMEM),
                &mut b as *mut _
            );
            assert!(nmreq_find_option(&mut h, NETMAP_REQ_OPT_OFFSETS).is_null());
            // Remove from the front, then re-add and remove from the back.
            nmreq_remove_option(&mut h, &mut b);
            assert_eq!(h.nr_options, &mut a as *mut _ as u64);
            nmreq_push_option(&mut h, &mut b);
            nmreq_remove_option(&mut h, &mut a);
            assert_eq!(h.nr_options, &mut b as *mut _ as u64);
            assert_eq!(b.nro_next, 0);
            // Not on the list: nothing happens.
            nmreq_remove_option(&mut h, &mut a);
            assert_eq!(h.nr_options, &mut b as *mut _ as u64);

            // A library-allocated option is freed, the stack one only unlinked.
            let lib = alloc_option(ptr::null_mut(), size_of::<nmreq_opt_offsets>(), 5);
            assert!(!lib.is_null());
            nmreq_push_option(&mut h, lib);
            nmreq_free_options(&mut h);
            assert_eq!(h.nr_options, 0);
            assert!(!lib_options().iter().any(|&(p, _)| p == lib as usize));
            assert_eq!(b.nro_reqtype, NETMAP_REQ_OPT_EXTMEM);
        }
    }

    #[test]
    fn option_names() {
        let name = |t| unsafe { CStr::from_ptr(nmreq_option_name(t)).to_str().unwrap() };
        assert_eq!(name(1), "extmem");
        assert_eq!(name(2), "sync-kloop-eventfds");
        assert_eq!(name(3), "csb");
        assert_eq!(name(4), "sync-kloop-mode");
        assert_eq!(name(5), "offsets");
        assert_eq!(name(0), "unknown");
        assert_eq!(name(99), "unknown");
    }

    /// Runs header + register decode on `spec` through the C entry points.
    fn decode(spec: &str) -> (c_int, c_int, nmreq_header, nmreq_register, usize, usize) {
        let c = CString::new(spec).unwrap();
        let mut ctx = quiet();
        let mut h = nmreq_header::default();
        let mut reg = nmreq_register::default();
        let mut p = c.as_ptr();
        let r1 = unsafe { nmreq_header_decode(&mut p, &mut h, &mut ctx) };
        let after_hdr = p as usize - c.as_ptr() as usize;
        let r2 = if r1 == 0 {
            unsafe { nmreq_register_decode(&mut p, &mut reg, &mut ctx) }
        } else {
            -2
        };
        let after_reg = p as usize - c.as_ptr() as usize;
        (r1, r2, h, reg, after_hdr, after_reg)
    }

    /// spec, nr_name, nr_mode, nr_ringid, nr_flags, nr_mem_id, offset after the header decode,
    /// offset after the register decode.
    type DecodeCase = (&'static str, &'static str, u32, u16, u64, u16, usize, usize);

    #[test]
    fn decode_advances_and_fills() {
        let cases: &[DecodeCase] = &[
            ("netmap:eth0", "eth0", NR_REG_ALL_NIC, 0, 0, 0, 11, 11),
            ("netmap:eth0-3", "eth0", NR_REG_ONE_NIC, 3, 0, 0, 11, 13),
            ("netmap:eth0*", "eth0", NR_REG_NIC_SW, 0, 0, 0, 11, 12),
            ("netmap:eth0^2", "eth0", NR_REG_ONE_SW, 2, 0, 0, 11, 13),
            (
                "netmap:eth0-1/Rx",
                "eth0",
                NR_REG_ONE_NIC,
                1,
                NR_RX_RINGS_ONLY | NR_EXCLUSIVE,
                0,
                11,
                16,
            ),
            (
                "netmap:eth0/T@3",
                "eth0",
                NR_REG_ALL_NIC,
                0,
                NR_TX_RINGS_ONLY,
                3,
                11,
                15,
            ),
            (
                "netmap:eth0-2@3@conf:rings=2",
                "eth0",
                NR_REG_ONE_NIC,
                2,
                0,
                3,
                11,
                15,
            ),
            ("netmap:eth0{1-0", "eth0{1", NR_REG_ONE_NIC, 0, 0, 0, 13, 15),
            (
                "valeA_1:port2{3",
                "valeA_1:port2{3",
                NR_REG_ALL_NIC,
                0,
                0,
                0,
                15,
                15,
            ),
            (
                "vale0:p@conf:rings=4",
                "vale0:p",
                NR_REG_ALL_NIC,
                0,
                0,
                0,
                7,
                7,
            ),
        ];
        for &(spec, name, mode, ringid, flags, mem, ah, ar) in cases {
            let (r1, r2, h, reg, after_hdr, after_reg) = decode(spec);
            assert_eq!((r1, r2), (0, 0), "{spec}");
            assert_eq!(h.name(), name, "{spec}");
            assert_eq!(reg.nr_mode, mode, "{spec}");
            assert_eq!(reg.nr_ringid, ringid, "{spec}");
            assert_eq!(reg.nr_flags, flags, "{spec}");
            assert_eq!(reg.nr_mem_id, mem, "{spec}");
            assert_eq!((after_hdr, after_reg), (ah, ar), "{spec}");
        }
    }

    #[test]
    fn decode_errors() {
        for spec in ["netmap:", "eth0", "vale0p", "netmap:eth0#x", "bad"] {
            let (r1, ..) = decode(spec);
            if spec == "netmap:eth0#x" {
                // No identifier check on NIC names.
                assert_eq!(r1, 0);
                continue;
            }
            assert_eq!(r1, -1, "{spec}");
            assert_eq!(errno(), libc::EINVAL, "{spec}");
        }
        for spec in [
            "netmap:eth0-",
            "netmap:eth0-x",
            "netmap:eth0-4096",
            "netmap:eth0^x",
        ] {
            let (r1, r2, _, _, ah, ar) = decode(spec);
            assert_eq!((r1, r2), (0, -1), "{spec}");
            assert_eq!(errno(), libc::EINVAL, "{spec}");
            assert_eq!(ah, ar, "{spec}: pointer must not move on error");
        }
        // A register part that does not start with a mode character.
        let c = CString::new("foo").unwrap();
        let mut p = c.as_ptr();
        let mut reg = nmreq_register::default();
        let mut ctx = quiet();
        assert_eq!(
            unsafe { nmreq_register_decode(&mut p, &mut reg, &mut ctx) },
            -1
        );
        assert_eq!(p, c.as_ptr());
    }

    #[test]
    fn get_mem_id_forms() {
        assert_eq!(get_mem_id("").unwrap(), (0, 0));
        assert_eq!(get_mem_id("@3").unwrap(), (3, 2));
        assert_eq!(get_mem_id("@12@conf:rings=1").unwrap(), (12, 3));
        assert_eq!(get_mem_id("@conf:rings=1").unwrap(), (0, 0));
        assert_eq!(get_mem_id("@0").unwrap_err().errno(), libc::EINVAL);
        assert_eq!(get_mem_id("@70000").unwrap_err().errno(), libc::EINVAL);
        // Names that cannot be parsed fail before any /dev/netmap access.
        assert_eq!(get_mem_id("eth0").unwrap_err().errno(), libc::EINVAL);
        assert_eq!(
            get_mem_id("netmap:eth0@conf:rings=1").unwrap_err().errno(),
            libc::EINVAL
        );
        let c = CString::new("@7x").unwrap();
        let mut p = c.as_ptr();
        let mut ctx = quiet();
        assert_eq!(unsafe { nmreq_get_mem_id(&mut p, &mut ctx) }, 7);
        assert_eq!(p as usize - c.as_ptr() as usize, 2);
    }

    #[test]
    fn register_decode_messages_quote_the_mode_part() {
        let e = decode_register("-x").unwrap_err();
        assert!(e.message().starts_with("-x: "), "{}", e.message());
        assert!(!e.message().contains("netmap:x"), "{}", e.message());
    }

    // --- nmreq_options_decode with a caller-given parser table ---

    #[derive(Default, Debug)]
    struct Seen {
        calls: Vec<(String, Vec<Option<String>>)>,
    }

    unsafe extern "C" fn record(p: *mut nmreq_parse_ctx) -> c_int {
        let seen = &mut *((*p).token as *mut Seen);
        let vals = (*p)
            .keys
            .iter()
            .take(3)
            .map(|&k| (!k.is_null()).then(|| CStr::from_ptr(k).to_string_lossy().into_owned()))
            .collect();
        seen.calls.push(("called".into(), vals));
        0
    }

    unsafe extern "C" fn refuse(_p: *mut nmreq_parse_ctx) -> c_int {
        set_errno(libc::ERANGE);
        -1
    }

    fn key(k: &'static CStr, id: c_int, flags: c_uint) -> nmreq_opt_key {
        nmreq_opt_key {
            key: k.as_ptr(),
            id,
            flags,
        }
    }

    fn parser(prefix: &'static CStr) -> nmreq_opt_parser {
        nmreq_opt_parser {
            prefix: prefix.as_ptr(),
            parse: Some(record),
            default_key: -1,
            nr_keys: 0,
            flags: 0,
            next: ptr::null_mut(),
            keys: [nmreq_opt_key {
                key: ptr::null(),
                id: 0,
                flags: 0,
            }; NMREQ_OPT_MAXKEYS],
        }
    }

    #[test]
    fn options_decode_generic() {
        let mut conf = parser(c"conf");
        conf.keys[0] = key(c"rings", 0, 0);
        conf.keys[1] = key(c"tx_slots", 1, 0);
        conf.keys[2] = key(c"host_rings", 2, NMREQ_OPTK_ALLOWEMPTY);
        conf.nr_keys = 3;
        let mut share = parser(c"share");
        share.keys[0] = key(c"port", 0, NMREQ_OPTK_DEFAULT | NMREQ_OPTK_MUSTSET);
        share.default_key = 0;
        share.nr_keys = 1;
        let mut off = parser(c"offset");
        off.flags = NMREQ_OPTF_DISABLED;
        let mut bad = parser(c"bad");
        bad.parse = Some(refuse);
        bad.flags = NMREQ_OPTF_ALLOWEMPTY;
        let mut table = [share, conf, off, bad];
        let list: *mut nmreq_opt_parser = table.as_mut_ptr();
        for i in 0..table.len() - 1 {
            // SAFETY: indices within the array.
            unsafe { (*list.add(i)).next = list.add(i + 1) };
        }

        let run = |s: &str, seen: &mut Seen| -> c_int {
            let c = CString::new(s).unwrap();
            let mut ctx = quiet();
            unsafe { nmreq_options_decode(c.as_ptr(), list, (seen as *mut Seen).cast(), &mut ctx) }
        };
        let mut seen = Seen::default();
        assert_eq!(run("", &mut seen), 0);
        assert_eq!(
            run("@conf:rings=4,tx-slots=512@share=vale0:p", &mut seen),
            0
        );
        assert_eq!(seen.calls.len(), 2);
        assert_eq!(
            seen.calls[0].1,
            vec![Some("4".into()), Some("512".into()), None]
        );
        assert_eq!(seen.calls[1].1[0].as_deref(), Some("vale0:p"));

        let mut seen = Seen::default();
        assert_eq!(run("@conf:host-rings=", &mut seen), 0);
        assert_eq!(seen.calls[0].1[2].as_deref(), Some(""));

        for (s, e) in [
            ("conf:rings=4", libc::EINVAL),
            ("@foo", libc::EINVAL),
            ("@conf=4", libc::EINVAL),
            ("@conf:slots=4", libc::EINVAL),
            ("@conf:rings=", libc::EINVAL),
            ("@conf:rings=1,rings=2", libc::EINVAL),
            ("@conf:rings=1,", libc::EINVAL),
            ("@conf", libc::EINVAL),
            ("@conf:rings=1@conf:rings=2", libc::EINVAL),
            ("@share", libc::EINVAL),
            ("@offset=8", libc::EOPNOTSUPP),
            ("@bad", libc::ERANGE),
            ("@", libc::EINVAL),
        ] {
            let mut seen = Seen::default();
            assert_eq!(run(s, &mut seen), -1, "{s}");
            assert_eq!(errno(), e, "{s}");
        }
    }
}
