//! libnetmap's request helpers: `nmreq_header_init`, the port-name decoders
//! (`nmreq_header_decode`, `nmreq_register_decode`, `nmreq_options_decode`, `nmreq_get_mem_id`)
//! and the option-list functions (`nmreq_push_option`, `nmreq_remove_option`,
//! `nmreq_find_option`, `nmreq_free_options`, `nmreq_option_name`).
//!
//! The grammars are nmxdp's (`nmxdp::name`, docs/netmap-compat.md): the header decoder parses
//! `prefix:name` with `parse_header`, the register decoder the mode, `/flags` and `@N` that
//! follow with `parse_register` (leaving `*p` at the first `@option`), and the options decoder
//! reads the caller's parser table with the one option grammar (`nmxdp::name::options`). Each
//! is handed exactly the string its C caller passed, so an error's position counts from the
//! start of that string; errors are rendered once (`ParseError`'s Display) and reported through
//! the caller's context.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use nmxdp::abi::{
    nmreq_header, nmreq_option, nmreq_port_info_get, nmreq_register, NETMAP_REQ_OPT_CSB,
    NETMAP_REQ_OPT_EXTMEM, NETMAP_REQ_OPT_OFFSETS, NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS,
    NETMAP_REQ_OPT_SYNC_KLOOP_MODE, NETMAP_REQ_PORT_INFO_GET, NIOCCTRL,
};
use nmxdp::name::options::{parse_options, Dialect, KeySpec, OptionSpec, OptionTable};
use nmxdp::name::{parse_header, parse_mem_id, parse_register, ParseError, Register};
use nmxdp::Error;

use crate::nmctx::{errno, fail, guard, nmctx, set_errno, strerror, Ctx, Failure};

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

/// Allocates a zeroed option of `size` bytes with `ctx`'s allocator and sets its type; None
/// when out of memory.
pub(crate) fn alloc_option(ctx: Ctx, size: usize, reqtype: u32) -> Option<NonNull<nmreq_option>> {
    assert!(size >= size_of::<nmreq_option>());
    let o = NonNull::new(ctx.malloc(size).cast::<nmreq_option>())?;
    // SAFETY: a fresh block of `size` bytes, at least an nmreq_option, malloc-aligned.
    unsafe {
        ptr::write_bytes(o.as_ptr().cast::<u8>(), 0, size);
        (*o.as_ptr()).nro_reqtype = reqtype;
    }
    lib_options().push((o.as_ptr() as usize, ctx.as_ptr() as usize));
    Some(o)
}

/// Frees `o` if this library allocated it; returns whether it did.
fn release_option(o: NonNull<nmreq_option>) -> bool {
    let owner = {
        let mut list = lib_options();
        list.iter()
            .position(|&(a, _)| a == o.as_ptr() as usize)
            .map(|i| list.swap_remove(i).1)
    };
    match owner {
        Some(ctx) => {
            // SAFETY: the context that allocated the option: the application keeps it alive
            // while objects it allocated exist; the option came from its malloc and has just
            // left the list of library options, so it is freed once.
            unsafe { Ctx::from_raw(ctx as *mut nmctx).free(o.as_ptr().cast()) };
            true
        }
        None => false,
    }
}

/// A request header with its option list (`nr_options`, linked by `nro_next`).
pub(crate) struct OptionList<'h> {
    hdr: &'h mut nmreq_header,
}

impl<'h> OptionList<'h> {
    /// # Safety
    /// Every option linked from `hdr` is a valid `nmreq_option` that nothing else accesses while
    /// the list is used (libnetmap's contract for the headers given to its option functions).
    pub(crate) unsafe fn new(hdr: &'h mut nmreq_header) -> Self {
        OptionList { hdr }
    }

    /// The options in list order (bounded, so that a looping list cannot hang).
    fn iter(&self) -> impl Iterator<Item = NonNull<nmreq_option>> + '_ {
        let mut o = NonNull::new(self.hdr.nr_options as *mut nmreq_option);
        let mut n = 0;
        std::iter::from_fn(move || {
            let cur = o.filter(|_| n < MAX_OPTIONS)?;
            // SAFETY: an option of the list (`new`'s contract).
            o = NonNull::new(unsafe { (*cur.as_ptr()).nro_next } as *mut nmreq_option);
            n += 1;
            Some(cur)
        })
    }

    /// Type and status of each option, in list order.
    pub(crate) fn statuses(&self) -> Vec<(u32, u32)> {
        self.iter()
            // SAFETY: an option of the list (`new`'s contract).
            .map(|o| unsafe { ((*o.as_ptr()).nro_reqtype, (*o.as_ptr()).nro_status) })
            .collect()
    }

    /// First option of type `reqtype`.
    pub(crate) fn find(&self, reqtype: u32) -> Option<NonNull<nmreq_option>> {
        // SAFETY: an option of the list (`new`'s contract).
        self.iter()
            .find(|o| unsafe { (*o.as_ptr()).nro_reqtype } == reqtype)
    }

    /// Puts `o` at the front.
    ///
    /// # Safety
    /// `o` is a valid option, not on the list, that stays valid while it is linked.
    pub(crate) unsafe fn push(&mut self, o: NonNull<nmreq_option>) {
        // SAFETY: the caller's contract.
        unsafe { (*o.as_ptr()).nro_next = self.hdr.nr_options };
        self.hdr.nr_options = o.as_ptr() as u64;
    }

    /// Unlinks `o` if it is on the list (nothing happens otherwise, and `o` is not touched).
    pub(crate) fn remove(&mut self, o: NonNull<nmreq_option>) {
        let all: Vec<NonNull<nmreq_option>> = self.iter().collect();
        let Some(i) = all.iter().position(|&cur| cur == o) else {
            return;
        };
        // SAFETY: `o` and the one before it are options of the list (`new`'s contract).
        unsafe {
            let next = (*o.as_ptr()).nro_next;
            match i.checked_sub(1) {
                None => self.hdr.nr_options = next,
                Some(p) => (*all[p].as_ptr()).nro_next = next,
            }
            (*o.as_ptr()).nro_next = 0;
        }
    }

    /// Empties the list, freeing the options this library allocated.
    pub(crate) fn free_all(&mut self) {
        let all: Vec<NonNull<nmreq_option>> = self.iter().collect();
        self.hdr.nr_options = 0;
        for o in all {
            // SAFETY: an option that was on the list (`new`'s contract), unlinked before a
            // possible free.
            unsafe { (*o.as_ptr()).nro_next = 0 };
            release_option(o);
        }
    }
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

/// A C string as UTF-8 (None: NULL), or an `EINVAL` error naming what it is.
pub(crate) fn utf8<'a>(s: Option<&'a CStr>, what: &str) -> Result<&'a str, Error> {
    let s = s.ok_or_else(|| Error::new(libc::EINVAL, format!("{what} is NULL")))?;
    s.to_str().map_err(|_| {
        Error::new(
            libc::EINVAL,
            format!(
                "{}: {what} is not valid UTF-8 (netmap port names are ASCII)",
                s.to_string_lossy()
            ),
        )
    })
}

/// The C string at `p`, None when NULL.
///
/// # Safety
/// `p` is NULL or NUL-terminated, unchanged while the result is used.
pub(crate) unsafe fn opt_cstr<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

/// Decodes `prefix:name` at the start of `spec`: returns the name for `nr_name` and the number of
/// bytes consumed.
pub(crate) fn decode_header(spec: &str) -> Result<(String, usize), Error> {
    let h = parse_header(spec)?;
    Ok((h.name, h.end))
}

/// Decodes the mode, `/flags` and `@N` part at the start of `mode`: returns the parsed values
/// and the number of bytes consumed (up to the first `@option`, or all).
pub(crate) fn decode_register(mode: &str) -> Result<(Register, usize), Error> {
    let r = parse_register(mode)?;
    Ok((r, r.end))
}

/// Resolves the allocator (mem id) of the port named by `spec` (`prefix:name`, optionally with a
/// ring suffix / flags / `@N`, no options) with PORT_INFO_GET on a temporary `/dev/netmap` fd.
/// Returns the mem id and the number of bytes of `spec` consumed.
pub(crate) fn mem_id_of(spec: &str) -> Result<(u16, usize), Error> {
    let (name, n1) = decode_header(spec)?;
    // Errors quote the whole spec, positions counted from its start.
    let reg = parse_register(&spec[n1..]).map_err(|e| e.within(spec, n1))?;
    let used = n1 + reg.end;
    if used < spec.len() {
        return Err(ParseError {
            spec: spec.to_string(),
            pos: used,
            what: format!(
                "unexpected '{}' after the port name",
                spec[used..].escape_debug()
            ),
            fix: "give just the port, without @options".to_string(),
            errno: libc::EINVAL,
        }
        .into());
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

// ------------------------------------------------------------------------------------------------
// nmreq_options_decode
// ------------------------------------------------------------------------------------------------

/// Key slot used for each entry of a parser's `keys[]`: the entries' `id`s when they form a valid
/// assignment (distinct, in range), else the array index.
fn key_slots(keys: &[nmreq_opt_key; NMREQ_OPT_MAXKEYS]) -> [usize; NMREQ_OPT_MAXKEYS] {
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

/// A caller's parser list, read as an option table of nmxdp's option grammar. An option's `id`
/// is its parser's address.
struct ParserList<'t> {
    first: *mut nmreq_opt_parser,
    _parsers: PhantomData<&'t nmreq_opt_parser>,
}

impl<'t> ParserList<'t> {
    /// # Safety
    /// `first` is NULL or the head of a list of valid parsers linked by `next` (prefixes and key
    /// names NULL or NUL-terminated), unchanged for `'t`, whose `parse` callbacks may be called
    /// with a `nmreq_parse_ctx` (libnetmap's contract for `nmreq_options_decode`).
    unsafe fn new(first: *mut nmreq_opt_parser) -> Self {
        ParserList {
            first,
            _parsers: PhantomData,
        }
    }

    /// The parsers in list order; a looping list ends after `MAX_OPTIONS`.
    fn iter(&self) -> impl Iterator<Item = *mut nmreq_opt_parser> + '_ {
        let mut p = self.first;
        let mut n = 0;
        std::iter::from_fn(move || {
            if p.is_null() || n >= MAX_OPTIONS {
                return None;
            }
            let cur = p;
            // SAFETY: a parser of the list (`new`'s contract).
            p = unsafe { (*cur).next };
            n += 1;
            Some(cur)
        })
    }

    /// The prefix of parser `p`, one of [`Self::iter`]'s (None for a NULL prefix).
    fn prefix(&self, p: *mut nmreq_opt_parser) -> Option<&'t [u8]> {
        // SAFETY: a parser of the list, its prefix NULL or NUL-terminated (`new`'s contract).
        unsafe {
            let prefix = (*p).prefix;
            (!prefix.is_null()).then(|| CStr::from_ptr(prefix).to_bytes())
        }
    }

    /// Calls the `parse` callback of the parser whose address is `id` (an [`OptionSpec`] id of
    /// this list) with `pctx`; None if it has none (or `id` is not one of the list's parsers).
    fn call(&self, id: usize, pctx: &mut nmreq_parse_ctx) -> Option<c_int> {
        let p = self.iter().find(|&p| p as usize == id)?;
        // SAFETY: a parser of the list (`new`'s contract).
        let cb = unsafe { (*p).parse }?;
        // A callback that fails without setting errno gets EINVAL.
        set_errno(0);
        // SAFETY: the table's callback, called as libnetmap calls it (`new`'s contract); the
        // key values in pctx are NUL-terminated and live during the call.
        Some(unsafe { cb(pctx) })
    }

    /// Parser `p`, one of [`Self::iter`]'s, as the grammar's option.
    fn spec(&self, p: *mut nmreq_opt_parser, name: &'t [u8]) -> OptionSpec<'t> {
        // SAFETY: a parser of the list (`new`'s contract).
        let (raw_keys, default_id, flags) = unsafe { (&(*p).keys, (*p).default_key, (*p).flags) };
        let slots = key_slots(raw_keys);
        let mut keys: Vec<KeySpec<'t>> = Vec::new();
        // Index in `keys` of each entry of `raw_keys`.
        let mut index = [None; NMREQ_OPT_MAXKEYS];
        for (j, k) in raw_keys.iter().enumerate() {
            if k.key.is_null() {
                continue;
            }
            index[j] = Some(keys.len());
            keys.push(KeySpec {
                // SAFETY: non-NULL key names are NUL-terminated (`new`'s contract).
                name: unsafe { CStr::from_ptr(k.key) }.to_bytes(),
                slot: slots[j],
                allow_empty: k.flags & NMREQ_OPTK_ALLOWEMPTY != 0,
                must_set: k.flags & NMREQ_OPTK_MUSTSET != 0,
            });
        }
        // `default_key` is a key id (a slot of nmreq_parse_ctx.keys); failing that, the key
        // flagged NMREQ_OPTK_DEFAULT.
        let default_j = usize::try_from(default_id)
            .ok()
            .and_then(|id| (0..NMREQ_OPT_MAXKEYS).find(|&j| index[j].is_some() && slots[j] == id))
            .or_else(|| {
                (0..NMREQ_OPT_MAXKEYS)
                    .find(|&j| index[j].is_some() && raw_keys[j].flags & NMREQ_OPTK_DEFAULT != 0)
            });
        let default_key = default_j.and_then(|j| index[j]);
        let shown = String::from_utf8_lossy(name);
        let list = keys
            .iter()
            .map(|k| String::from_utf8_lossy(k.name))
            .collect::<Vec<_>>()
            .join(", ");
        let fix = match default_key {
            _ if keys.is_empty() => format!("use @{shown} alone: the option has no keys"),
            Some(d) => format!(
                "use @{shown}=VALUE (for key {}) or @{shown}:KEY=VALUE,... with keys {list}",
                String::from_utf8_lossy(keys[d].name)
            ),
            None => format!("use @{shown}:KEY=VALUE,... with keys {list}"),
        };
        OptionSpec {
            id: p as usize,
            name,
            keys,
            default_key,
            allow_bare: flags & NMREQ_OPTF_ALLOWEMPTY != 0,
            disabled: (flags & NMREQ_OPTF_DISABLED != 0).then(|| {
                "remove it: the parser table disables it (NMREQ_OPTF_DISABLED)".to_string()
            }),
            fix,
        }
    }
}

impl<'t> OptionTable<'t> for ParserList<'t> {
    fn dialect(&self) -> Dialect {
        Dialect::ParserTable
    }

    fn find(&self, name: &[u8]) -> Option<OptionSpec<'t>> {
        self.iter().find_map(|p| {
            let prefix = self.prefix(p)?;
            (prefix == name).then(|| self.spec(p, prefix))
        })
    }

    fn known(&self) -> String {
        let names: Vec<String> = self
            .iter()
            .filter_map(|p| self.prefix(p))
            .map(|n| format!("@{}", String::from_utf8_lossy(n)))
            .collect();
        if names.is_empty() {
            "the parser table defines no options".to_string()
        } else {
            format!("options are {}", names.join(", "))
        }
    }
}

/// Decodes the options in `opt` with the parser list `table`, calling each option's `parse`
/// callback with `token` and `ctx` (handed over as given) and the values of its keys.
fn options_decode(
    opt: &[u8],
    table: &ParserList<'_>,
    token: *mut c_void,
    ctx: *mut nmctx,
) -> Result<(), Error> {
    // Values are handed to the callbacks as NUL-terminated strings cut out of this copy.
    let mut buf = opt.to_vec();
    buf.push(0);
    parse_options(opt, 0, table, |o, found| {
        let mut pctx = nmreq_parse_ctx {
            ctx,
            token,
            keys: [ptr::null(); NMREQ_OPT_MAXKEYS],
        };
        for v in &found.values {
            buf[v.end] = 0;
        }
        for v in &found.values {
            pctx.keys[o.keys[v.key].slot] = buf[v.at..].as_ptr().cast();
        }
        if table.call(o.id, &mut pctx).is_some_and(|r| r < 0) {
            let e = match errno() {
                0 => libc::EINVAL,
                e => e,
            };
            // The callback reports its own errors.
            return Err(Error::new(e, ""));
        }
        Ok(())
    })
}

// ------------------------------------------------------------------------------------------------
// Exported functions
// ------------------------------------------------------------------------------------------------

/// Zeroes `h` and sets the API version, the request type and the body pointer.
///
/// # Safety
/// `h` is NULL or a writable header.
#[no_mangle]
pub unsafe extern "C" fn nmreq_header_init(h: *mut nmreq_header, reqtype: u16, body: *mut c_void) {
    // SAFETY: NULL or a writable header (the C caller's contract).
    let h = unsafe { h.as_mut() };
    guard((), || {
        if let Some(h) = h {
            *h = nmreq_header::init(reqtype, body as u64);
        }
    })
}

/// Decodes `prefix:name` at the start of `spec` into `h.nr_name`; returns the bytes used.
fn header_decode(spec: Option<&CStr>, h: &mut nmreq_header) -> Result<usize, Error> {
    let (name, used) = decode_header(utf8(spec, "port name")?)?;
    h.set_name(&name)?;
    Ok(used)
}

/// Decodes `prefix:name` from `*pspec` into `h->nr_name` and advances `*pspec` past it.
/// 0, or -1 with errno (EINVAL) and a message through `ctx`.
///
/// # Safety
/// `pspec` NULL or pointing to NULL or a NUL-terminated string; `h` NULL or a writable header;
/// `ctx` NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmreq_header_decode(
    pspec: *mut *const c_char,
    h: *mut nmreq_header,
    ctx: *mut nmctx,
) -> c_int {
    // SAFETY: the C caller's contract above; the references live for this call only.
    let (ctx, pspec, h) = unsafe { (Ctx::from_raw(ctx), pspec.as_mut(), h.as_mut()) };
    guard(-1, || {
        let (Some(pspec), Some(h)) = (pspec, h) else {
            fail(ctx, libc::EINVAL, "nmreq_header_decode: NULL argument");
            return -1;
        };
        // SAFETY: NULL or NUL-terminated (the C caller's contract).
        let spec = unsafe { opt_cstr(*pspec) };
        match header_decode(spec, h) {
            Ok(used) => {
                // `used` bytes of the string were parsed, so this stays inside it.
                *pspec = pspec.wrapping_add(used);
                0
            }
            Err(e) => {
                Failure::from(e).report(ctx);
                -1
            }
        }
    })
}

/// Decodes the mode part at the start of `mode` into `reg`; returns the bytes used.
fn register_decode(mode: Option<&CStr>, reg: &mut nmreq_register) -> Result<usize, Error> {
    let (p, used) = decode_register(utf8(mode, "port mode")?)?;
    reg.nr_mode = p.mode;
    reg.nr_ringid = p.ringid;
    reg.nr_flags = p.flags;
    if p.mem_id != 0 {
        reg.nr_mem_id = p.mem_id;
    }
    Ok(used)
}

/// Decodes the ring suffix, `/flags` and `@N` at `*pmode` into `reg` (`nr_mode`, `nr_ringid`,
/// `nr_flags`, and `nr_mem_id` when `@N` is given) and advances `*pmode` to the first `@option`
/// (or the end). 0, or -1 with errno and a message.
///
/// # Safety
/// `pmode` NULL or pointing to NULL or a NUL-terminated string; `reg` NULL or a writable
/// register body; `ctx` NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmreq_register_decode(
    pmode: *mut *const c_char,
    reg: *mut nmreq_register,
    ctx: *mut nmctx,
) -> c_int {
    // SAFETY: the C caller's contract above; the references live for this call only.
    let (ctx, pmode, reg) = unsafe { (Ctx::from_raw(ctx), pmode.as_mut(), reg.as_mut()) };
    guard(-1, || {
        let (Some(pmode), Some(reg)) = (pmode, reg) else {
            fail(ctx, libc::EINVAL, "nmreq_register_decode: NULL argument");
            return -1;
        };
        // SAFETY: NULL or NUL-terminated (the C caller's contract).
        let mode = unsafe { opt_cstr(*pmode) };
        match register_decode(mode, reg) {
            Ok(used) => {
                // `used` bytes of the string were parsed, so this stays inside it.
                *pmode = pmode.wrapping_add(used);
                0
            }
            Err(e) => {
                Failure::from(e).report(ctx);
                -1
            }
        }
    })
}

/// Decodes the `@option...` list `opt` with the parser table `parsers` (a list linked by
/// `next`), calling each option's `parse` callback with `token`. 0, or -1 with errno.
///
/// # Safety
/// `opt` NULL or NUL-terminated; `parsers` as for [`ParserList::new`]; `ctx` NULL or a live
/// context.
#[no_mangle]
pub unsafe extern "C" fn nmreq_options_decode(
    opt: *const c_char,
    parsers: *mut nmreq_opt_parser,
    token: *mut c_void,
    ctx: *mut nmctx,
) -> c_int {
    // SAFETY: the C caller's contract above, for the duration of this call.
    let (report_to, opt, table) =
        unsafe { (Ctx::from_raw(ctx), opt_cstr(opt), ParserList::new(parsers)) };
    guard(-1, || {
        let Some(opt) = opt else {
            return 0;
        };
        match options_decode(opt.to_bytes(), &table, token, ctx) {
            Ok(()) => 0,
            Err(e) => {
                Failure::from(e).report(report_to);
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
        return Ok(parse_mem_id(spec, 1)?);
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
///
/// # Safety
/// `pspec` NULL or pointing to NULL or a NUL-terminated string; `ctx` NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmreq_get_mem_id(pspec: *mut *const c_char, ctx: *mut nmctx) -> c_int {
    // SAFETY: the C caller's contract above; the reference lives for this call only.
    let (ctx, pspec) = unsafe { (Ctx::from_raw(ctx), pspec.as_mut()) };
    guard(-1, || {
        let Some(pspec) = pspec else {
            fail(ctx, libc::EINVAL, "nmreq_get_mem_id: NULL argument");
            return -1;
        };
        // SAFETY: NULL or NUL-terminated (the C caller's contract).
        let spec = unsafe { opt_cstr(*pspec) };
        match utf8(spec, "port name").and_then(get_mem_id) {
            Ok((id, used)) => {
                // `used` bytes of the string were parsed, so this stays inside it.
                *pspec = pspec.wrapping_add(used);
                c_int::from(id)
            }
            Err(e) => {
                Failure::from(e).report(ctx);
                -1
            }
        }
    })
}

/// Name of option type `reqtype` ("unknown" if not a known type).
#[no_mangle]
pub extern "C" fn nmreq_option_name(reqtype: u32) -> *const c_char {
    guard(ptr::null(), || option_name(reqtype).as_ptr())
}

/// `h`'s option list, or None if `h` is NULL.
///
/// # Safety
/// `h` NULL or a header whose linked options are valid and ours during the call (libnetmap's
/// contract for its option functions).
unsafe fn option_list<'h>(h: *mut nmreq_header) -> Option<OptionList<'h>> {
    // SAFETY: the caller's contract.
    unsafe { h.as_mut().map(|h| OptionList::new(h)) }
}

/// Puts `o` at the front of `h`'s option list.
///
/// # Safety
/// `h` as for [`option_list`]; `o` NULL or a valid option that stays valid while linked.
#[no_mangle]
pub unsafe extern "C" fn nmreq_push_option(h: *mut nmreq_header, o: *mut nmreq_option) {
    // SAFETY: the C caller's contract above.
    let list = unsafe { option_list(h) };
    guard((), || {
        if let (Some(mut list), Some(o)) = (list, NonNull::new(o)) {
            // SAFETY: o is valid and stays so while linked (the C caller's contract).
            unsafe { list.push(o) }
        }
    })
}

/// Unlinks `o` from `h`'s option list (nothing happens if it is not on it).
///
/// # Safety
/// `h` as for [`option_list`]; `o` is only compared with the list's options.
#[no_mangle]
pub unsafe extern "C" fn nmreq_remove_option(h: *mut nmreq_header, o: *mut nmreq_option) {
    // SAFETY: the C caller's contract above.
    let list = unsafe { option_list(h) };
    guard((), || {
        if let (Some(mut list), Some(o)) = (list, NonNull::new(o)) {
            list.remove(o)
        }
    })
}

/// First option of type `reqtype` on `h`'s list, or NULL.
///
/// # Safety
/// `h` as for [`option_list`].
#[no_mangle]
pub unsafe extern "C" fn nmreq_find_option(
    h: *mut nmreq_header,
    reqtype: u32,
) -> *mut nmreq_option {
    // SAFETY: the C caller's contract above.
    let list = unsafe { option_list(h) };
    guard(ptr::null_mut(), || {
        list.and_then(|l| l.find(reqtype))
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    })
}

/// Empties `h`'s option list. Options allocated by this library (`nmport_offset`, `@offset`) are
/// freed with the allocator of the context that allocated them; options the application linked
/// itself are only unlinked (they may live on its stack).
///
/// # Safety
/// `h` as for [`option_list`].
#[no_mangle]
pub unsafe extern "C" fn nmreq_free_options(h: *mut nmreq_header) {
    // SAFETY: the C caller's contract above.
    let list = unsafe { option_list(h) };
    guard((), || {
        if let Some(mut list) = list {
            list.free_all()
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
        // SAFETY: a valid header and body address.
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
        // SAFETY: valid header and options, alive for the whole block.
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
            let lib = alloc_option(Ctx::current(), size_of::<nmreq_opt_offsets>(), 5)
                .unwrap()
                .as_ptr();
            nmreq_push_option(&mut h, lib);
            nmreq_free_options(&mut h);
            assert_eq!(h.nr_options, 0);
            assert!(!lib_options().iter().any(|&(p, _)| p == lib as usize));
            assert_eq!(b.nro_reqtype, NETMAP_REQ_OPT_EXTMEM);
        }
    }

    #[test]
    fn option_names() {
        // SAFETY: option names are static C strings.
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
        // SAFETY: a valid C string, header and context.
        let r1 = unsafe { nmreq_header_decode(&mut p, &mut h, &mut ctx) };
        let after_hdr = p as usize - c.as_ptr() as usize;
        let r2 = if r1 == 0 {
            // SAFETY: p points into `c`, reg and ctx are valid.
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
            // SAFETY: valid C string, register and context.
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
        // SAFETY: a valid C string and context.
        assert_eq!(unsafe { nmreq_get_mem_id(&mut p, &mut ctx) }, 7);
        assert_eq!(p as usize - c.as_ptr() as usize, 2);
        // A bad register part is quoted within the whole name.
        let e = get_mem_id("netmap:eth0-x").unwrap_err();
        assert!(
            e.message().starts_with(
                "netmap:eth0-x: ring number expected after '-', found 'x' at character 13"
            ),
            "{}",
            e.message()
        );
        let e = get_mem_id("netmap:eth0@conf:rings=1").unwrap_err();
        assert!(e.message().contains("at character 12"), "{}", e.message());
    }

    #[test]
    fn register_decode_messages_quote_the_mode_part() {
        let e = decode_register("-x").unwrap_err();
        assert!(e.message().starts_with("-x: "), "{}", e.message());
        assert!(!e.message().contains("netmap:x"), "{}", e.message());
        // Positions count from the start of the part the C caller passed.
        let p = e.parse_error().expect("a parse error");
        assert_eq!((p.pos, p.column()), (1, 2));
        assert!(e.message().contains("at character 2"), "{}", e.message());
    }

    // --- nmreq_options_decode with a caller-given parser table ---

    #[derive(Default, Debug)]
    struct Seen {
        calls: Vec<(String, Vec<Option<String>>)>,
    }

    unsafe extern "C" fn record(p: *mut nmreq_parse_ctx) -> c_int {
        // SAFETY: called by nmreq_options_decode with a live parse context whose token is the
        // test's `Seen` and whose key values are NULL or NUL-terminated.
        let (seen, vals) = unsafe {
            let seen = &mut *((*p).token as *mut Seen);
            let vals = (*p)
                .keys
                .iter()
                .take(3)
                .map(|&k| (!k.is_null()).then(|| CStr::from_ptr(k).to_string_lossy().into_owned()))
                .collect();
            (seen, vals)
        };
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
            // SAFETY: the parser table and `seen` outlive the call.
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

        // Errors name the option, the position in the string passed, and the fix.
        let msg = |s: &str| {
            // SAFETY: the table above is alive and linked.
            let table = unsafe { ParserList::new(list) };
            options_decode(s.as_bytes(), &table, ptr::null_mut(), ptr::null_mut())
                .unwrap_err()
                .message()
                .to_string()
        };
        assert_eq!(
            msg("@conf:slots=4"),
            "@conf:slots=4: unknown key 'slots' for option '@conf' at character 7 \
             (use @conf:KEY=VALUE,... with keys rings, tx_slots, host_rings)"
        );
        assert!(msg("@foo").contains("options are @share, @conf, @offset, @bad"));
        assert!(msg("@share").contains("needs a value"));
        assert!(msg("@offset=8").contains("is disabled"));

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
