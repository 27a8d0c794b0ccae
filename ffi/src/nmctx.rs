//! libnetmap contexts (`struct nmctx`): where errors are reported, how memory is allocated and
//! how the per-context list of mapped regions is locked. Also the helpers every exported function
//! of the libnetmap part uses: panic guard, errno access, error reporting.
//!
//! Every message of the library goes through a context, so an application can redirect or
//! silence all of them (`nmctx_set_default`, `verbose = 0`). That includes what the emulated
//! `/dev/netmap` has to say about a failed ioctl or poll ([`report_device`]): when a libnetmap
//! function made that call, the explanation is joined to the function's own report (one message
//! per failure); when the application made it, it goes to the default context at once.
//!
//! The default context prints errors to stderr (one line each), allocates with libc and locks
//! with a process-wide pthread mutex. Upstream installs that lock from a constructor pulled in by
//! every program that includes `libnetmap.h` (the `nmctx_threadsafe` trick), so in practice the
//! default context is always thread-safe; here it simply starts out that way.
//!
//! `nmctx_ferror(ctx, fmt, ...)` is a C variadic function, which stable Rust cannot define. It is
//! a naked x86_64 trampoline that builds a genuine System V `va_list` from the argument registers
//! and the caller's stack, exactly as a C compiler's variadic prologue does, and passes it to
//! libc's `vsnprintf`: every printf conversion works (integers, pointers, strings, doubles, any
//! number of arguments). See [`nmctx_ferror`].

#![allow(non_camel_case_types)]

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use nmxdp::Error;

use crate::libnetmap::nmem_d;

/// `error(ctx, msg)`: reports one message (no trailing newline).
pub type nmctx_error_cb = unsafe extern "C" fn(*mut nmctx, *const c_char);
/// `malloc(ctx, size)`.
pub type nmctx_malloc_cb = unsafe extern "C" fn(*mut nmctx, usize) -> *mut c_void;
/// `free(ctx, p)`.
pub type nmctx_free_cb = unsafe extern "C" fn(*mut nmctx, *mut c_void);
/// `lock(ctx, 1)` locks, `lock(ctx, 0)` unlocks.
pub type nmctx_lock_cb = unsafe extern "C" fn(*mut nmctx, c_int);

/// libnetmap's `struct nmctx` (48 bytes). Callbacks left NULL fall back to the defaults.
#[repr(C)]
#[derive(Debug)]
pub struct nmctx {
    pub verbose: c_int,
    pub error: Option<nmctx_error_cb>,
    pub malloc: Option<nmctx_malloc_cb>,
    pub free: Option<nmctx_free_cb>,
    pub lock: Option<nmctx_lock_cb>,
    /// Regions mapped by ports of this context (`nmport_mmap`), protected by `lock`.
    pub mem_descs: *mut nmem_d,
}

const _: () = {
    assert!(size_of::<nmctx>() == 48);
    assert!(std::mem::offset_of!(nmctx, verbose) == 0);
    assert!(std::mem::offset_of!(nmctx, error) == 8);
    assert!(std::mem::offset_of!(nmctx, malloc) == 16);
    assert!(std::mem::offset_of!(nmctx, free) == 24);
    assert!(std::mem::offset_of!(nmctx, lock) == 32);
    assert!(std::mem::offset_of!(nmctx, mem_descs) == 40);
};

/// Exported so that the `libnetmap.h` thread-safety trick links (upstream: referencing it pulls
/// in the pthread lock). Non-zero: the default context locks from the start. It must be writable
/// (the header's never-called `libnetmap_init` assigns it), hence an atomic (interior mutability
/// keeps it out of read-only memory).
#[no_mangle]
pub static nmctx_threadsafe: AtomicI32 = AtomicI32::new(1);

// ------------------------------------------------------------------------------------------------
// The default context
// ------------------------------------------------------------------------------------------------

struct CtxCell(UnsafeCell<nmctx>);
// SAFETY: the context is only mutated through raw pointers by C callers and by
// `nmctx_set_threadsafe`, as upstream's global context is; the region list inside is protected by
// the context's lock.
unsafe impl Sync for CtxCell {}

static DEFAULT_CTX: CtxCell = CtxCell(UnsafeCell::new(nmctx {
    verbose: 1,
    error: Some(default_error),
    malloc: Some(default_malloc),
    free: Some(default_free),
    lock: Some(default_lock),
    mem_descs: ptr::null_mut(),
}));

/// Context returned by `nmctx_get`; NULL = the built-in default.
static CURRENT: AtomicPtr<nmctx> = AtomicPtr::new(ptr::null_mut());

struct PMutex(UnsafeCell<libc::pthread_mutex_t>);
// SAFETY: a pthread mutex is made to be shared between threads; it is only used via pthread calls.
unsafe impl Sync for PMutex {}

/// The one lock of the default locking callback (upstream also uses a single global mutex).
static LOCK: PMutex = PMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));

fn builtin_default() -> *mut nmctx {
    DEFAULT_CTX.0.get()
}

/// A context the library may use: one a C caller passed, or the current default.
///
/// A handle is only made from a pointer the C API promises is a live context (`from_raw`), or
/// from the current default, which `nmctx_set_default`'s caller promised keeps living. Every
/// access to the C struct behind it is in this impl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx(ptr::NonNull<nmctx>);

impl Ctx {
    /// `ctx`, or the current default when NULL.
    ///
    /// # Safety
    /// `ctx` is NULL or a live context that stays valid while the handle is used (libnetmap's
    /// contract for every context given to it, and for the one kept in a port descriptor).
    pub(crate) unsafe fn from_raw(ctx: *mut nmctx) -> Ctx {
        match ptr::NonNull::new(ctx) {
            Some(c) => Ctx(c),
            None => Ctx::current(),
        }
    }

    /// The current default context (`nmctx_get`).
    pub(crate) fn current() -> Ctx {
        let c = CURRENT.load(Ordering::Acquire);
        let c = if c.is_null() { builtin_default() } else { c };
        // SAFETY: never NULL: the application's non-NULL default or the static one.
        Ctx(unsafe { ptr::NonNull::new_unchecked(c) })
    }

    pub(crate) fn as_ptr(self) -> *mut nmctx {
        self.0.as_ptr()
    }

    /// Reads the context struct.
    fn get(
        self,
    ) -> (
        bool,
        Option<nmctx_error_cb>,
        Option<nmctx_malloc_cb>,
        Option<nmctx_free_cb>,
    ) {
        // SAFETY: a live context (type invariant); the application may change its fields
        // between calls, not during one, so a copy of the fields is what upstream would use.
        let c = unsafe { &*self.0.as_ptr() };
        (c.verbose != 0, c.error, c.malloc, c.free)
    }

    fn lock_cb(self) -> Option<nmctx_lock_cb> {
        // SAFETY: a live context (type invariant).
        unsafe { (*self.0.as_ptr()).lock }
    }

    fn verbose(self) -> bool {
        self.get().0
    }

    /// Hands `msg` to the context's error callback (the default one when none is set).
    fn deliver(self, msg: &CStr) {
        match self.get().1 {
            // SAFETY: the application installed the callback for this context: it takes the
            // context and a NUL-terminated message valid during the call.
            Some(cb) => unsafe { cb(self.as_ptr(), msg.as_ptr()) },
            None => write_line(msg),
        }
    }

    /// `size` bytes from the context's allocator; NULL on failure.
    pub(crate) fn malloc(self, size: usize) -> *mut c_void {
        match self.get().2 {
            // SAFETY: the application's allocator for this context, called as libnetmap does.
            Some(cb) => unsafe { cb(self.as_ptr(), size) },
            // SAFETY: plain malloc.
            None => unsafe { libc::malloc(size) },
        }
    }

    /// Gives `p` back to the context's allocator (NULL: nothing).
    ///
    /// # Safety
    /// `p` is NULL or came from [`Ctx::malloc`] of this context and is not used afterwards.
    pub(crate) unsafe fn free(self, p: *mut c_void) {
        if p.is_null() {
            return;
        }
        match self.get().3 {
            // SAFETY: the allocator's own block (the caller's contract), freed once.
            Some(cb) => unsafe { cb(self.as_ptr(), p) },
            // SAFETY: as above, with libc's allocator.
            None => unsafe { libc::free(p) },
        }
    }

    /// Calls the context's lock callback (`on`: lock, else unlock); no callback, no locking.
    pub(crate) fn set_locked(self, on: bool) {
        if let Some(cb) = self.lock_cb() {
            // SAFETY: the application's (or the default) lock callback for this context.
            unsafe { cb(self.as_ptr(), c_int::from(on)) }
        }
    }

    /// Locks the context until the returned guard is dropped.
    pub(crate) fn lock(self) -> Locked {
        self.set_locked(true);
        Locked(self)
    }

    /// Installs the pthread-mutex lock callback if the context has none.
    fn make_threadsafe(self) {
        if self.lock_cb().is_none() {
            // SAFETY: a live context (type invariant); upstream writes the field the same way.
            unsafe { (*self.0.as_ptr()).lock = Some(default_lock) };
        }
    }
}

/// A locked context: the only way to reach its list of mapped regions.
#[derive(Debug)]
pub(crate) struct Locked(Ctx);

impl Locked {
    pub(crate) fn ctx(&self) -> Ctx {
        self.0
    }

    /// Head of the context's region list.
    pub(crate) fn mem_descs(&self) -> *mut nmem_d {
        // SAFETY: a live context (Ctx invariant); the list is ours while the lock is held.
        unsafe { (*self.0.as_ptr()).mem_descs }
    }

    pub(crate) fn set_mem_descs(&mut self, m: *mut nmem_d) {
        // SAFETY: as in mem_descs.
        unsafe { (*self.0.as_ptr()).mem_descs = m }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.set_locked(false);
    }
}

unsafe extern "C" fn default_error(_ctx: *mut nmctx, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the message is NUL-terminated (the callback's contract).
    write_line(unsafe { CStr::from_ptr(msg) });
}

unsafe extern "C" fn default_malloc(_ctx: *mut nmctx, size: usize) -> *mut c_void {
    // SAFETY: plain malloc.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn default_free(_ctx: *mut nmctx, p: *mut c_void) {
    // SAFETY: p came from default_malloc (the callback's contract).
    unsafe { libc::free(p) }
}

unsafe extern "C" fn default_lock(_ctx: *mut nmctx, lock: c_int) {
    // SAFETY: LOCK is a statically initialised mutex that lives forever.
    unsafe {
        if lock != 0 {
            libc::pthread_mutex_lock(LOCK.0.get());
        } else {
            libc::pthread_mutex_unlock(LOCK.0.get());
        }
    }
}

/// `msg` and a newline to stderr, as the default error callback prints.
fn write_line(msg: &CStr) {
    let mut line = msg.to_bytes().to_vec();
    line.push(b'\n');
    write_stderr(&line);
}

/// Writes all of `bytes` to fd 2, ignoring errors (there is nowhere else to report them).
fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: valid buffer of rest.len() bytes.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers shared by the libnetmap modules
// ------------------------------------------------------------------------------------------------

/// The calling thread's errno.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location always returns the thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e }
}

thread_local! {
    /// How many libnetmap entry points ([`guard`]) this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the emulated device said about the last failed call made inside a libnetmap entry
    /// point, waiting to be joined to that entry point's report.
    static PENDING: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn inside_libnetmap() -> bool {
    DEPTH.try_with(Cell::get).unwrap_or(0) > 0
}

fn set_pending(msg: Option<String>) {
    let _ = PENDING.try_with(|p| *p.borrow_mut() = msg);
}

fn take_pending() -> Option<String> {
    PENDING.try_with(|p| p.borrow_mut().take()).ok().flatten()
}

/// Runs `f`, a libnetmap entry point; a panic becomes errno `EIO` and the return value `err`
/// (never unwinds into C). A device explanation that no report of `f` used is dropped when the
/// outermost entry point returns: `f` handled that failure itself.
pub(crate) fn guard<R>(err: R, f: impl FnOnce() -> R) -> R {
    let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    let saved = errno();
    let depth = DEPTH.try_with(|d| {
        d.set(d.get().saturating_sub(1));
        d.get()
    });
    if depth == Ok(0) {
        set_pending(None);
    }
    set_errno(saved);
    match r {
        Ok(r) => r,
        Err(_) => {
            set_errno(libc::EIO);
            err
        }
    }
}

/// Reports what the emulated `/dev/netmap` says about the call it just answered: `Some(msg)`
/// for a failure it can explain, None otherwise (which also forgets an older, unused
/// explanation). Inside a libnetmap entry point the message waits for that entry point's next
/// report, which carries it; otherwise it goes to the current default context now. Either way
/// it is reported once, and errno is preserved.
pub(crate) fn report_device(msg: Option<&str>) {
    if inside_libnetmap() {
        set_pending(msg.map(str::to_string));
    } else if let Some(msg) = msg {
        report(Ctx::current(), &format!("nmxdp: {msg}"));
    }
}

/// `strerror(e)` without the "(os error N)" suffix Rust adds.
pub(crate) fn strerror(e: c_int) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the buffer and its length are valid; the XSI variant always NUL-terminates.
    let rc = unsafe { libc::strerror_r(e, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {e}");
    }
    // SAFETY: NUL-terminated by strerror_r.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Reports `msg` through `ctx` if the context is verbose, followed by the device's explanation
/// of the failure that led here, if one is waiting ([`report_device`]). errno is preserved.
pub(crate) fn report(ctx: Ctx, msg: &str) {
    let saved = errno();
    let msg = match take_pending() {
        Some(detail) => format!("{msg} (nmxdp: {detail})"),
        None => msg.to_string(),
    };
    if ctx.verbose() {
        let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
        ctx.deliver(&c);
    }
    set_errno(saved);
}

/// Reports `msg` with errno `e` set afterwards.
pub(crate) fn fail(ctx: Ctx, e: c_int, msg: &str) {
    report(ctx, msg);
    set_errno(e);
}

/// Why a libnetmap function failed: the errno its C caller sees and the messages to report, one
/// per call of the context's error callback (none when a callback of the application already
/// reported it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    errno: c_int,
    messages: Vec<String>,
}

impl Failure {
    pub(crate) fn new(errno: c_int, message: impl Into<String>) -> Failure {
        Failure {
            errno,
            messages: vec![message.into()],
        }
    }

    /// Several messages for one failure (e.g. one per refused option).
    pub(crate) fn with_messages(errno: c_int, messages: Vec<String>) -> Failure {
        Failure { errno, messages }
    }

    pub(crate) fn errno(&self) -> c_int {
        self.errno
    }

    /// Reports the failure through `ctx` and sets errno: done once, by the C entry point.
    pub(crate) fn report(&self, ctx: Ctx) {
        for m in &self.messages {
            report(ctx, m);
        }
        set_errno(self.errno);
    }
}

impl From<Error> for Failure {
    /// An empty message means the error was already reported (by an application callback).
    fn from(e: Error) -> Failure {
        let messages = if e.message().is_empty() {
            Vec::new()
        } else {
            vec![e.message().to_string()]
        };
        Failure {
            errno: e.errno(),
            messages,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Exported functions
// ------------------------------------------------------------------------------------------------

/// The current default context.
#[no_mangle]
pub extern "C" fn nmctx_get() -> *mut nmctx {
    guard(ptr::null_mut(), || Ctx::current().as_ptr())
}

/// Makes `ctx` the default context (NULL = the built-in one) and returns the previous default.
///
/// # Safety
/// `ctx` is NULL or a context that stays valid as long as it is the default.
#[no_mangle]
pub unsafe extern "C" fn nmctx_set_default(ctx: *mut nmctx) -> *mut nmctx {
    guard(ptr::null_mut(), || {
        let old = CURRENT.swap(ctx, Ordering::AcqRel);
        if old.is_null() {
            builtin_default()
        } else {
            old
        }
    })
}

/// Installs the pthread-mutex locking callback in the current default context (if it has none).
#[no_mangle]
pub extern "C" fn nmctx_set_threadsafe() {
    guard((), || {
        Ctx::current().make_threadsafe();
        nmctx_threadsafe.store(1, Ordering::Relaxed);
    })
}

/// # Safety
/// `ctx` is NULL (the default) or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmctx_malloc(ctx: *mut nmctx, size: usize) -> *mut c_void {
    // SAFETY: the C caller passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    guard(ptr::null_mut(), || ctx.malloc(size))
}

/// # Safety
/// `ctx` is NULL (the default) or a live context; `p` NULL or from `nmctx_malloc(ctx)`.
#[no_mangle]
pub unsafe extern "C" fn nmctx_free(ctx: *mut nmctx, p: *mut c_void) {
    // SAFETY: the C caller passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    // SAFETY: p is NULL or the context's block, freed once (the C caller's contract).
    guard((), || unsafe { ctx.free(p) })
}

/// # Safety
/// `ctx` is NULL (the default) or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmctx_lock(ctx: *mut nmctx) {
    // SAFETY: the C caller passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    guard((), || ctx.set_locked(true))
}

/// # Safety
/// `ctx` is NULL (the default) or a live context.
#[no_mangle]
pub unsafe extern "C" fn nmctx_unlock(ctx: *mut nmctx) {
    // SAFETY: the C caller passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    guard((), || ctx.set_locked(false))
}

// ------------------------------------------------------------------------------------------------
// nmctx_ferror(ctx, fmt, ...)
// ------------------------------------------------------------------------------------------------

extern "C" {
    /// `ap` is a `va_list`, which on x86_64 is passed as a pointer to its 24-byte tag.
    fn vsnprintf(s: *mut c_char, n: usize, fmt: *const c_char, ap: *mut c_void) -> c_int;
}

/// Size of the message buffer tried first; longer messages get a heap buffer of the exact size.
const MSG_BUF: usize = 1024;

/// Formats `fmt` with the `va_list` at `ap` and reports it through `ctx`.
///
/// Called only by the [`nmctx_ferror`] trampoline.
unsafe extern "C" fn vferror(ctx: *mut nmctx, fmt: *const c_char, ap: *mut c_void) {
    // SAFETY: the C caller of nmctx_ferror passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    guard((), || {
        if !ctx.verbose() || fmt.is_null() {
            return;
        }
        // va_copy of the x86_64 va_list: the 24-byte tag is copied; the register save area it
        // points to stays valid until the trampoline returns.
        let mut copy = [0u64; 3];
        // SAFETY: ap is the trampoline's 24-byte va_list tag.
        unsafe { ptr::copy_nonoverlapping(ap.cast::<u64>(), copy.as_mut_ptr(), 3) };
        let mut buf = [0 as c_char; MSG_BUF];
        // SAFETY: a buffer of its length; fmt is a NUL-terminated format whose arguments the C
        // caller passed after it (printf's contract), read through ap.
        let n = unsafe { vsnprintf(buf.as_mut_ptr(), buf.len(), fmt, ap) };
        if n < 0 {
            // SAFETY: fmt is NUL-terminated (as above).
            let raw = unsafe { CStr::from_ptr(fmt) }
                .to_string_lossy()
                .into_owned();
            report(ctx, &format!("{raw} (the message could not be formatted)"));
        } else if (n as usize) < MSG_BUF {
            // SAFETY: vsnprintf NUL-terminated the n < MSG_BUF bytes it wrote.
            ctx.deliver(unsafe { CStr::from_ptr(buf.as_ptr()) });
        } else {
            let mut big = vec![0 as c_char; n as usize + 1];
            // SAFETY: a buffer of its length and the untouched copy of the va_list.
            unsafe { vsnprintf(big.as_mut_ptr(), big.len(), fmt, copy.as_mut_ptr().cast()) };
            // SAFETY: NUL-terminated by vsnprintf (the buffer has room for all n bytes).
            ctx.deliver(unsafe { CStr::from_ptr(big.as_ptr()) });
        }
    })
}

/// `void nmctx_ferror(struct nmctx *ctx, const char *fmt, ...)`: printf-style error report.
///
/// Stable Rust cannot define C-variadic functions (`c_variadic` is unstable), and adding a C
/// compiler to the build was ruled out. Forwarding a fixed number of integer "arguments" to
/// `snprintf` would silently print garbage for doubles and for arguments passed on the stack.
/// Instead this is a naked function doing exactly what a C compiler emits for a variadic
/// prologue on x86_64 System V: it spills the six integer argument registers and the eight SSE
/// argument registers into a register save area on its stack, builds a `va_list`
/// (`gp_offset` = 16 because two named integer arguments precede the `...`, `fp_offset` = 48,
/// `overflow_arg_area` = the caller's stack arguments right above the return address,
/// `reg_save_area`), and calls [`vferror`], which hands that `va_list` to libc's `vsnprintf`.
/// Result: every conversion works, with any number of arguments, like upstream's.
/// Frame: 0..48 GPRs, 48..176 XMM0-7 (16-byte aligned: rsp is 8 mod 16 on entry, 216 = 13*16+8),
/// 176..200 the va_list; the call happens with rsp 16-byte aligned.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn nmctx_ferror(_ctx: *mut nmctx, _fmt: *const c_char) {
    core::arch::naked_asm!(
        "sub rsp, 216",
        "mov [rsp], rdi",
        "mov [rsp + 8], rsi",
        "mov [rsp + 16], rdx",
        "mov [rsp + 24], rcx",
        "mov [rsp + 32], r8",
        "mov [rsp + 40], r9",
        // Saved unconditionally (a C prologue skips this when %al == 0; saving is always safe).
        "movaps [rsp + 48], xmm0",
        "movaps [rsp + 64], xmm1",
        "movaps [rsp + 80], xmm2",
        "movaps [rsp + 96], xmm3",
        "movaps [rsp + 112], xmm4",
        "movaps [rsp + 128], xmm5",
        "movaps [rsp + 144], xmm6",
        "movaps [rsp + 160], xmm7",
        "mov dword ptr [rsp + 176], 16",
        "mov dword ptr [rsp + 180], 48",
        "lea rax, [rsp + 224]",
        "mov [rsp + 184], rax",
        "mov [rsp + 192], rsp",
        "lea rdx, [rsp + 176]",
        "call {vferror}",
        "add rsp, 216",
        "ret",
        vferror = sym vferror,
    )
}

/// Fallback for other architectures: the format string is reported verbatim (arguments unused).
///
/// # Safety
/// `ctx` is NULL or a live context; `fmt` NULL or NUL-terminated.
#[cfg(not(target_arch = "x86_64"))]
#[no_mangle]
pub unsafe extern "C" fn nmctx_ferror(ctx: *mut nmctx, fmt: *const c_char) {
    // SAFETY: the C caller passes NULL or a live context.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    guard((), || {
        if !fmt.is_null() && ctx.verbose() {
            // SAFETY: NUL-terminated (the C caller's contract).
            ctx.deliver(unsafe { CStr::from_ptr(fmt) });
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Serialises the tests that change the default context.
    pub(crate) static CTX_TEST: Mutex<()> = Mutex::new(());

    /// Messages delivered to capturing contexts, with the context's address: other tests may
    /// report through the default context meanwhile, so each test looks at its own context only.
    static CAPTURED: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

    pub(crate) fn captured(ctx: *const nmctx) -> Vec<String> {
        CAPTURED
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == ctx as usize)
            .map(|(_, m)| m.clone())
            .collect()
    }

    extern "C" {
        /// The exported symbol seen through its C (variadic) prototype, as C callers use it.
        #[link_name = "nmctx_ferror"]
        fn ferror_variadic(ctx: *mut nmctx, fmt: *const c_char, ...);
    }

    unsafe extern "C" fn capture(ctx: *mut nmctx, msg: *const c_char) {
        // SAFETY: a NUL-terminated message, valid during the call.
        let s = unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned();
        CAPTURED.lock().unwrap().push((ctx as usize, s));
    }

    /// A capturing context that lives as long as the process: once made the default, other
    /// threads may still use it after the test is done.
    pub(crate) fn capturing_ctx() -> &'static mut nmctx {
        Box::leak(Box::new(nmctx {
            verbose: 1,
            error: Some(capture),
            malloc: None,
            free: None,
            lock: None,
            mem_descs: ptr::null_mut(),
        }))
    }

    #[test]
    fn ferror_formats_all_argument_kinds() {
        let _g = CTX_TEST.lock().unwrap_or_else(|e| e.into_inner());
        let ctx = capturing_ctx();
        let s = c"eth0";
        // SAFETY: a live context, valid C strings and arguments matching the formats.
        unsafe {
            nmctx_ferror(ctx, c"plain".as_ptr());
            let f = ferror_variadic;
            f(
                ctx,
                c"%s: %d %ld %u".as_ptr(),
                s.as_ptr(),
                -5_i32,
                1i64 << 40,
                7u32,
            );
            // More integer arguments than registers (stack-passed), then doubles.
            f(
                ctx,
                c"%d %d %d %d %d %d %d %d %s %.2f %.1f".as_ptr(),
                1_i32,
                2_i32,
                3_i32,
                4_i32,
                5_i32,
                6_i32,
                7_i32,
                8_i32,
                s.as_ptr(),
                3.25f64,
                -0.5f64,
            );
            let long = "x".repeat(3000);
            let long_c = CString::new(long.clone()).unwrap();
            f(ctx, c"<%s>".as_ptr(), long_c.as_ptr());
            ctx.verbose = 0;
            f(ctx, c"silent %d".as_ptr(), 1_i32);
            let got = captured(ctx);
            assert_eq!(got.len(), 4);
            assert_eq!(got[0], "plain");
            assert_eq!(got[1], format!("eth0: -5 {} 7", 1i64 << 40));
            assert_eq!(got[2], "1 2 3 4 5 6 7 8 eth0 3.25 -0.5");
            assert_eq!(got[3], format!("<{long}>"));
        }
    }

    #[test]
    fn default_context_and_set_default() {
        let _g = CTX_TEST.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: live contexts, restored before the lock is released; NULL means the default.
        unsafe {
            let def = nmctx_get();
            assert!(!def.is_null());
            assert_eq!((*def).verbose, 1);
            assert!((*def).lock.is_some());
            let mine = capturing_ctx();
            let prev = nmctx_set_default(mine);
            assert_eq!(prev, def);
            assert_eq!(nmctx_get(), mine as *mut nmctx);
            // NULL callbacks fall back to libc / no locking.
            let p = nmctx_malloc(ptr::null_mut(), 64);
            assert!(!p.is_null());
            nmctx_free(ptr::null_mut(), p);
            nmctx_lock(ptr::null_mut());
            nmctx_unlock(ptr::null_mut());
            nmctx_set_threadsafe();
            assert!(mine.lock.is_some());
            nmctx_lock(mine);
            nmctx_unlock(mine);
            let back = nmctx_set_default(ptr::null_mut());
            assert_eq!(back, mine as *mut nmctx);
            assert_eq!(nmctx_get(), def);
        }
    }

    #[test]
    fn device_explanations_are_reported_once() {
        let _g = CTX_TEST.lock().unwrap_or_else(|e| e.into_inner());
        let ctx: *mut nmctx = capturing_ctx();
        // SAFETY: a leaked context, live for the whole process.
        let cx = unsafe { Ctx::from_raw(ctx) };
        // Inside an entry point: carried by the entry point's next report.
        guard((), || {
            report_device(Some("ring 5 does not exist"));
            report(cx, "eth0: Invalid argument");
            report(cx, "second");
        });
        // Not used by the entry point (it handled the failure): dropped when it returns.
        guard((), || report_device(Some("handled")));
        guard((), || report(cx, "later"));
        // A later call with nothing to say forgets an older explanation.
        guard((), || {
            report_device(Some("old"));
            report_device(None);
            report(cx, "plain");
        });
        // A silenced context takes the explanation along.
        guard((), || {
            report_device(Some("quiet"));
            // SAFETY: the leaked context is ours.
            unsafe { (*ctx).verbose = 0 };
            report(cx, "unseen");
            // SAFETY: as above.
            unsafe { (*ctx).verbose = 1 };
            report(cx, "after");
        });
        assert_eq!(
            captured(ctx),
            [
                "eth0: Invalid argument (nmxdp: ring 5 does not exist)",
                "second",
                "later",
                "plain",
                "after"
            ]
        );
        // Outside any entry point: to the default context at once.
        // SAFETY: a live context, restored before the lock is released.
        unsafe {
            let prev = nmctx_set_default(ctx);
            set_errno(libc::ENXIO);
            report_device(Some("direct"));
            assert_eq!(errno(), libc::ENXIO);
            nmctx_set_default(prev);
        }
        assert!(captured(ctx).contains(&"nmxdp: direct".to_string()));
    }

    #[test]
    fn guard_turns_panics_into_eio() {
        set_errno(0);
        let r = guard(-1, || -> i32 { panic!("boom") });
        assert_eq!(r, -1);
        assert_eq!(errno(), libc::EIO);
    }
}
