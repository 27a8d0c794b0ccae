//! poll(), select() and epoll on netmap fds, with netmap's semantics (docs/netmap-compat.md,
//! "Poll").
//!
//! A netmap fd is an eventfd standing in for the device; its readiness is computed by a
//! non-blocking netmap poll step ([`Port::poll`](nmxdp::Port::poll) with a zero timeout: txsync
//! unless `NR_NO_TX_POLL`, rxsync if POLLIN is wanted, readiness is `cur != tail`, `POLLERR` for
//! an unregistered fd). When nothing is ready the caller sleeps in the real call on the other fds
//! plus the AF_XDP sockets of the ports that want to receive, so that a packet's arrival wakes it.
//! AF_XDP has no useful wakeup for TX completions, so a sleep is cut to 1 ms while a netmap fd
//! waits for POLLOUT. No port lock is held while sleeping.
//!
//! epoll: a netmap fd added to an epoll set is recorded here (events, data) and registered in the
//! kernel's set with no events (so the kernel validates the call and reports EEXIST/ENOENT as
//! usual). Duplicates of its AF_XDP sockets are added to the kernel's set, edge-triggered, with a
//! private data value ([`WAKE_DATA`]): the kernel's epoll (and anything nested on it) wakes when
//! packets arrive, and epoll_wait drops those wakeups after re-running the netmap step. Netmap
//! members are level-triggered (`EPOLLET` is accepted and treated as level-triggered, which only
//! adds wakeups); `EPOLLONESHOT` is honoured.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use libc::{c_int, epoll_event, fd_set, pollfd, sigset_t, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT};
use libc::{POLLERR, POLLIN, POLLOUT, POLLPRI, POLLRDBAND, POLLRDNORM, POLLWRBAND, POLLWRNORM};

use nmxdp::{Events, WaitPlan};

use crate::fdtable::{self, Entry, NmFile};
use crate::real;

use nmxdp::port_poll::{SPIN_CLOCK_TURNS, TX_WAIT, TX_WAIT_FIRST};

/// `epoll_event.data` of the socket duplicates nmxdp adds to an epoll set ("nmxdp_wk").
pub const WAKE_DATA: u64 = 0x6e6d_7864_705f_776b;

/// When a wait ends: never, or at an instant.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn never() -> Deadline {
        Deadline(None)
    }

    /// `d` from now (a duration too long to represent is "never").
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
    }

    /// poll(2)/epoll_wait(2) milliseconds: negative = never.
    pub fn from_ms(ms: c_int) -> Deadline {
        if ms < 0 {
            Deadline::never()
        } else {
            Deadline::after(Duration::from_millis(ms as u64))
        }
    }

    /// Time left; None = unbounded.
    pub fn left(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn expired(&self) -> bool {
        self.left() == Some(Duration::ZERO)
    }

    /// The next sleep: what is left, at most `cap` when given.
    fn sleep(&self, cap: Option<Duration>) -> Option<Duration> {
        match (self.left(), cap) {
            (Some(l), Some(c)) => Some(l.min(c)),
            (l, None) => l,
            (None, c) => c,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The netmap poll step
// ------------------------------------------------------------------------------------------------

fn wants_in(events: i16) -> bool {
    events & (POLLIN | POLLRDNORM) != 0
}

fn wants_out(events: i16) -> bool {
    events & (POLLOUT | POLLWRNORM) != 0
}

/// One non-blocking netmap poll on `file` for poll(2) `events`; returns poll(2) revents.
pub fn step(file: &NmFile, events: i16) -> i16 {
    if fdtable::forked() {
        crate::ctl::warn_forked();
        return POLLERR;
    }
    let want = netmap_events(events);
    let mut st = file.lock();
    let Some(port) = st.port.as_mut() else {
        return POLLERR;
    };
    let r = port.poll(want, Some(Duration::ZERO)).unwrap_or(Events::ERR);
    let mut rev = if r.contains(Events::ERR) { POLLERR } else { 0 };
    if r.contains(Events::IN) {
        rev |= events & (POLLIN | POLLRDNORM);
    }
    if r.contains(Events::OUT) {
        rev |= events & (POLLOUT | POLLWRNORM);
    }
    rev
}

// ------------------------------------------------------------------------------------------------
// poll / ppoll
// ------------------------------------------------------------------------------------------------

const INLINE: usize = 64;
const NO_FD: pollfd = pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

/// A pollfd array on the stack, spilling to the heap beyond [`INLINE`] entries.
struct PollBuf {
    inline: [pollfd; INLINE],
    heap: Vec<pollfd>,
    len: usize,
}

impl PollBuf {
    fn new() -> PollBuf {
        PollBuf {
            inline: [NO_FD; INLINE],
            heap: Vec::new(),
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.heap.clear();
    }

    fn push(&mut self, p: pollfd) {
        if self.heap.is_empty() && self.len < INLINE {
            self.inline[self.len] = p;
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.inline[..self.len]);
            }
            self.heap.push(p);
        }
        self.len += 1;
    }

    fn slice(&mut self) -> &mut [pollfd] {
        if self.heap.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.heap[..]
        }
    }
}

/// The real ppoll on `fds`, for at most `wait` (None = forever), with `sigmask` if given (a null
/// one leaves the mask alone, as poll(2)). ppoll even for poll(2): wait plans have caps below
/// poll's millisecond (TX waits start at 20 µs).
fn real_poll(fds: &mut [pollfd], wait: Option<Duration>, sigmask: *const sigset_t) -> c_int {
    let ts = wait.map(real::timespec_of);
    let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    // SAFETY: fds is a valid pollfd array of fds.len() entries; tp is null or a live timespec;
    // sigmask is null or the caller's, as ppoll(2) requires.
    unsafe { real::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tp, sigmask) }
}

/// One non-blocking pass: netmap steps for netmap fds, a real zero-timeout poll for the others.
/// Fills revents; returns the number of ready entries.
fn poll_pass(fds: &mut [pollfd], buf: &mut PollBuf) -> Result<c_int, c_int> {
    buf.clear();
    let mut others = false;
    for p in fds.iter() {
        let netmap = fdtable::is_netmap(p.fd);
        others |= !netmap && p.fd >= 0;
        buf.push(pollfd {
            fd: if netmap { -1 } else { p.fd },
            events: p.events,
            revents: 0,
        });
    }
    if others && real_poll(buf.slice(), Some(Duration::ZERO), std::ptr::null()) < 0 {
        return Err(real::errno());
    }
    let mut ready = 0;
    for (p, b) in fds.iter_mut().zip(buf.slice().iter()) {
        p.revents = match fdtable::netmap(p.fd) {
            Some(f) => step(&f, p.events),
            None => b.revents,
        };
        ready += (p.revents != 0) as c_int;
    }
    Ok(ready)
}

/// The netmap events a poll(2) event mask asks for.
fn netmap_events(events: i16) -> Events {
    let mut want = Events::empty();
    if wants_in(events) {
        want |= Events::IN;
    }
    if wants_out(events) {
        want |= Events::OUT;
    }
    want
}

/// Builds the sleep set from the wait plan of each netmap fd ([`nmxdp::Port::wait_plan`], the
/// same plan `Port::poll` follows): the other fds, plus the AF_XDP sockets of the netmap fds
/// whose plan watches them (unless `quiet`). Returns the longest the sleep may last, and how
/// long to look again before sleeping (the shortest look-again time of the netmap fds' plans).
fn sleep_set(fds: &[pollfd], buf: &mut PollBuf, quiet: bool) -> (Option<Duration>, Duration) {
    buf.clear();
    let mut cap = quiet.then_some(TX_WAIT);
    let mut spin: Option<Duration> = None;
    for p in fds {
        let Some(f) = fdtable::netmap(p.fd) else {
            buf.push(pollfd {
                fd: p.fd,
                events: p.events,
                revents: 0,
            });
            continue;
        };
        buf.push(NO_FD);
        let mut st = f.lock();
        let Some(plan) = st
            .port
            .as_mut()
            .map(|port| port.wait_plan(netmap_events(p.events)))
        else {
            continue;
        };
        cap = WaitPlan::min_cap(cap, plan.cap);
        spin = Some(spin.map_or(plan.spin, |s| WaitPlan::min_spin(s, plan.spin)));
        if plan.watch_rx && !quiet {
            for &s in st.sock_fds.iter() {
                buf.push(pollfd {
                    fd: s,
                    events: POLLIN,
                    revents: 0,
                });
            }
        }
    }
    (
        cap,
        if quiet {
            Duration::ZERO
        } else {
            spin.unwrap_or_default()
        },
    )
}

/// Might a pass find input on a netmap fd of `fds`? The look-again's cheap test between
/// passes: the AF_XDP RX rings' indices, no sync, no clock, no syscall (`Port::rx_waiting`).
fn rx_waiting(fds: &[pollfd]) -> bool {
    fds.iter().any(|p| {
        fdtable::netmap(p.fd)
            .is_some_and(|f| f.lock().port.as_ref().is_some_and(|port| port.rx_waiting()))
    })
}

/// Tells the ports of the netmap fds in `fds` what their planned look-again found.
fn spin_result(fds: &[pollfd], found: bool) {
    for p in fds {
        if let Some(f) = fdtable::netmap(p.fd) {
            if let Some(port) = f.lock().port.as_mut() {
                port.spin_result(found);
            }
        }
    }
}

/// poll(2)/ppoll(2) over `fds`, some of which are netmap fds.
pub fn poll(fds: &mut [pollfd], deadline: Deadline, sigmask: *const sigset_t) -> c_int {
    let mut buf = PollBuf::new();
    // After a wakeup by AF_XDP sockets alone that made nothing ready (packets the netmap rings
    // have no room for), the next sleep leaves the sockets out, so that it does not spin.
    let mut quiet = false;
    loop {
        match poll_pass(fds, &mut buf) {
            Ok(0) => {}
            Ok(n) => return n,
            Err(e) => return real::fail(e),
        }
        if deadline.expired() {
            return 0;
        }
        let (cap, spin) = sleep_set(fds, &mut buf, quiet);
        if !spin.is_zero() {
            // Look again before sleeping, as Port::poll does (a pass of its own buffer: `buf`
            // holds the sleep set).
            let spin = deadline.sleep(Some(spin)).unwrap_or(spin);
            // Between passes only the rings' indices are read; the clock every few turns.
            let t0 = Instant::now();
            let mut again = PollBuf::new();
            let mut turns = 0u32;
            let found = loop {
                if turns == 0 || rx_waiting(fds) {
                    match poll_pass(fds, &mut again) {
                        Ok(0) => {}
                        Ok(n) => break Some(n),
                        Err(e) => return real::fail(e),
                    }
                }
                turns = turns.wrapping_add(1);
                if turns.is_multiple_of(SPIN_CLOCK_TURNS) && t0.elapsed() >= spin {
                    break None;
                }
                std::hint::spin_loop();
            };
            spin_result(fds, found.is_some());
            if let Some(n) = found {
                return n;
            }
        }
        let r = real_poll(buf.slice(), deadline.sleep(cap), sigmask);
        if r < 0 {
            return -1;
        }
        quiet = r > 0 && buf.slice()[..fds.len()].iter().all(|p| p.revents == 0);
    }
}

// ------------------------------------------------------------------------------------------------
// select / pselect
// ------------------------------------------------------------------------------------------------

const WORD_BITS: usize = 64;

/// Word `i` of an fd_set (0 for a null set).
///
/// # Safety
/// `set` is null or valid for at least `i + 1` words.
unsafe fn word(set: *const fd_set, i: usize) -> u64 {
    if set.is_null() {
        0
    } else {
        // SAFETY: per the contract; fd_set is an array of 64-bit words on Linux x86_64.
        unsafe { set.cast::<u64>().add(i).read() }
    }
}

/// Mask of the fds below `nfds` in word `i`.
fn live_bits(nfds: usize, i: usize) -> u64 {
    let rest = nfds - i * WORD_BITS;
    if rest >= WORD_BITS {
        u64::MAX
    } else {
        (1u64 << rest) - 1
    }
}

/// True when one of the sets holds a netmap fd (one table load per fd set in them).
///
/// # Safety
/// The non-null sets are valid for `nfds` bits, as select(2) requires.
pub unsafe fn sets_have_netmap(
    nfds: c_int,
    r: *const fd_set,
    w: *const fd_set,
    e: *const fd_set,
) -> bool {
    let nfds = nfds.max(0) as usize;
    for i in 0..nfds.div_ceil(WORD_BITS) {
        // SAFETY: i < ceil(nfds / 64), per the contract.
        let mut bits = unsafe { word(r, i) | word(w, i) | word(e, i) } & live_bits(nfds, i);
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if fdtable::is_netmap((i * WORD_BITS + b) as c_int) {
                return true;
            }
        }
    }
    false
}

/// select(2)/pselect(2) with netmap fds among the sets: the same logic as [`poll`], readfds
/// asking POLLIN, writefds POLLOUT, exceptfds POLLPRI; the sets are rewritten and the number of
/// set bits returned, as select does.
///
/// # Safety
/// As [`sets_have_netmap`]; the non-null sets are writable.
pub unsafe fn select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    deadline: Deadline,
    sigmask: *const sigset_t,
) -> c_int {
    let n = nfds.max(0) as usize;
    let words = n.div_ceil(WORD_BITS);
    let mut fds = PollBuf::new();
    for i in 0..words {
        // SAFETY: i < words, per the contract.
        let (rw, ww, ew) = unsafe { (word(r, i), word(w, i), word(e, i)) };
        let mut bits = (rw | ww | ew) & live_bits(n, i);
        while bits != 0 {
            let b = bits.trailing_zeros();
            bits &= bits - 1;
            let m = 1u64 << b;
            let mut events = 0;
            if rw & m != 0 {
                events |= POLLIN;
            }
            if ww & m != 0 {
                events |= POLLOUT;
            }
            if ew & m != 0 {
                events |= POLLPRI;
            }
            fds.push(pollfd {
                fd: (i * WORD_BITS) as c_int + b as c_int,
                events,
                revents: 0,
            });
        }
    }
    let fds = fds.slice();
    if poll(fds, deadline, sigmask) < 0 {
        return -1;
    }
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return real::fail(libc::EBADF);
    }
    for set in [r, w, e] {
        if !set.is_null() {
            // SAFETY: the set is valid and writable for `words` words.
            unsafe { std::ptr::write_bytes(set.cast::<u64>(), 0, words) };
        }
    }
    let mut count = 0;
    for p in fds.iter() {
        let readable = POLLIN | POLLRDNORM | POLLRDBAND | libc::POLLHUP | POLLERR;
        let writable = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
        for (set, mask, asked) in [
            (r, readable, POLLIN),
            (w, writable, POLLOUT),
            (e, POLLPRI, POLLPRI),
        ] {
            if p.events & asked != 0 && p.revents & mask != 0 {
                // SAFETY: the fd was taken from this set, so the set is non-null and holds it.
                unsafe { libc::FD_SET(p.fd, set) };
                count += 1;
            }
        }
    }
    count
}

// ------------------------------------------------------------------------------------------------
// epoll
// ------------------------------------------------------------------------------------------------

/// A netmap fd in an epoll set.
struct Member {
    fd: c_int,
    /// The netmap file (not kept alive by the set: closing its last fd removes the member).
    file: Weak<NmFile>,
    key: usize,
    events: u32,
    data: u64,
    /// Our duplicates of the port's AF_XDP sockets, in the kernel's set.
    dups: Vec<c_int>,
    /// Sockets were added (or there were none to add) once the port was registered.
    armed: bool,
    /// EPOLLONESHOT member that has fired and waits for EPOLL_CTL_MOD.
    fired: bool,
}

/// The netmap members of one epoll instance.
pub struct EpSet {
    members: Mutex<Vec<Member>>,
    /// An fd of this epoll instance, for removing socket duplicates when a member goes away.
    epfd: AtomicI32,
}

impl EpSet {
    fn new(epfd: c_int) -> EpSet {
        EpSet {
            members: Mutex::new(Vec::new()),
            epfd: AtomicI32::new(epfd),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Member>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records another fd of this epoll instance (its first one was closed).
    pub fn set_epfd(&self, epfd: c_int) {
        self.epfd.store(epfd, Ordering::Relaxed);
    }

    fn wants_out(&self) -> bool {
        self.lock()
            .iter()
            .any(|m| !m.fired && m.events & EPOLLOUT as u32 != 0)
    }

    /// Before sleeping: the pipe ends among the members ask their peers to signal the eventfds
    /// whose duplicates are in the kernel's set ([`nmxdp::Port::arm_wakeup`]). True when a peer
    /// moved meanwhile (look again instead of sleeping).
    fn arm_pipes(&self) -> bool {
        let mut gone: Vec<NmFile> = Vec::new();
        let mut moved = false;
        for m in self.lock().iter().filter(|m| !m.fired) {
            let Some(file) = m.file.upgrade() else {
                continue;
            };
            if let Some(port) = file.lock().port.as_mut() {
                moved |= port.arm_wakeup(netmap_events(poll_of_epoll(m.events)));
            }
            if let Some(last) = Arc::into_inner(file) {
                gone.push(last);
            }
        }
        drop(gone);
        moved
    }

    /// Netmap steps on the members; fills `out` with the ready ones. Returns how many.
    fn step(&self, epfd: c_int, out: &mut [epoll_event]) -> usize {
        // A file whose last fd another thread closed meanwhile is dropped here, after the set's
        // lock is released (its drop removes it from this very set).
        let mut gone: Vec<NmFile> = Vec::new();
        let n = self.step_locked(epfd, out, &mut gone);
        drop(gone);
        n
    }

    fn step_locked(&self, epfd: c_int, out: &mut [epoll_event], gone: &mut Vec<NmFile>) -> usize {
        let mut n = 0;
        for m in self.lock().iter_mut() {
            if n == out.len() {
                break;
            }
            if m.fired {
                continue;
            }
            let Some(file) = m.file.upgrade() else {
                continue;
            };
            arm(epfd, m, &file);
            let rev = epoll_of_poll(step(&file, poll_of_epoll(m.events)));
            let rev = rev & (m.events | (EPOLLERR | EPOLLHUP) as u32);
            if rev != 0 {
                out[n] = epoll_event {
                    events: rev,
                    u64: m.data,
                };
                n += 1;
                m.fired = m.events & libc::EPOLLONESHOT as u32 != 0;
            }
            if let Some(last) = Arc::into_inner(file) {
                gone.push(last);
            }
        }
        n
    }
}

impl Drop for EpSet {
    fn drop(&mut self) {
        let epfd = *self.epfd.get_mut();
        let members = self.members.get_mut().unwrap_or_else(|p| p.into_inner());
        for m in members.iter_mut() {
            disarm(epfd, m);
        }
    }
}

fn poll_of_epoll(ev: u32) -> i16 {
    let mut p = 0;
    if ev & (EPOLLIN | libc::EPOLLRDNORM) as u32 != 0 {
        p |= POLLIN;
    }
    if ev & (EPOLLOUT | libc::EPOLLWRNORM) as u32 != 0 {
        p |= POLLOUT;
    }
    p
}

fn epoll_of_poll(rev: i16) -> u32 {
    let mut e = 0;
    if rev & POLLIN != 0 {
        e |= (EPOLLIN | libc::EPOLLRDNORM) as u32;
    }
    if rev & POLLOUT != 0 {
        e |= (EPOLLOUT | libc::EPOLLWRNORM) as u32;
    }
    if rev & POLLERR != 0 {
        e |= EPOLLERR as u32;
    }
    e
}

/// Adds duplicates of the member's AF_XDP sockets to the kernel's set, once the port exists,
/// if the member wants to receive.
fn arm(epfd: c_int, m: &mut Member, file: &NmFile) {
    if m.armed || m.events & (EPOLLIN | libc::EPOLLRDNORM) as u32 == 0 || fdtable::forked() {
        return;
    }
    let st = file.lock();
    if st.port.is_none() {
        return;
    }
    m.armed = true;
    for &s in &st.sock_fds {
        // SAFETY: duplicating a socket fd the port owns.
        let d = unsafe { real::fcntl(s, libc::F_DUPFD_CLOEXEC, 0) };
        if d < 0 {
            continue;
        }
        let mut ev = epoll_event {
            events: (EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE_DATA,
        };
        // SAFETY: ev is a valid epoll_event; d is our fd.
        if unsafe { real::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, d, &mut ev) } == 0 {
            m.dups.push(d);
        } else {
            // SAFETY: d is our fd.
            unsafe { real::close(d) };
        }
    }
}

/// Removes the member's socket duplicates from the kernel's set and closes them.
///
/// In a forked child the epoll instance is shared with the parent and the duplicates' entries
/// are the parent's too: they are only closed there (the sockets stay open in the parent, so
/// the kernel keeps the entries).
fn disarm(epfd: c_int, m: &mut Member) {
    let shared = fdtable::forked();
    for d in m.dups.drain(..) {
        // SAFETY: d is our duplicate; a failing DEL (the epoll fd is gone) is harmless.
        unsafe {
            if !shared {
                real::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, d, std::ptr::null_mut());
            }
            real::close(d);
        }
    }
    m.armed = false;
}

/// The epoll set of `epfd`, created on its first netmap member.
fn set_of(epfd: c_int) -> Arc<EpSet> {
    let mut t = fdtable::lock();
    if let Some(Entry::Epoll(s)) = t.get(epfd) {
        return s.clone();
    }
    let s = Arc::new(EpSet::new(epfd));
    let old = t.insert(epfd, Entry::Epoll(s.clone()));
    drop(t);
    drop(old);
    s
}

/// epoll_ctl(2) with a netmap fd as the target.
///
/// # Safety
/// `ev` is null or the caller's epoll_event pointer (read like the kernel reads it).
pub unsafe fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut epoll_event,
    file: &Arc<NmFile>,
) -> c_int {
    // The kernel validates epfd, op and membership on the eventfd itself, registered for no
    // events: it never reports any.
    let wanted = if op == libc::EPOLL_CTL_DEL || ev.is_null() {
        None
    } else {
        match crate::ctl::copy_in::<epoll_event>(ev as u64) {
            Ok(e) => Some(e),
            Err(e) => return real::fail(e),
        }
    };
    let mut quiet = epoll_event {
        events: 0,
        u64: WAKE_DATA,
    };
    let arg = if wanted.is_some() { &mut quiet } else { ev };
    // SAFETY: arg is null (the kernel reports it), the caller's event for DEL (ignored), or ours.
    let r = unsafe { real::epoll_ctl(epfd, op, fd, arg) };
    if r < 0 {
        return r;
    }
    let Some(e) = wanted else {
        if let Some(set) = fdtable::epoll(epfd) {
            set.set_epfd(epfd);
            let mut ms = set.lock();
            if let Some(i) = ms.iter().position(|m| m.fd == fd) {
                let mut m = ms.remove(i);
                disarm(epfd, &mut m);
            }
        }
        return 0;
    };
    let set = set_of(epfd);
    set.set_epfd(epfd);
    let mut ms = set.lock();
    let i = match ms.iter().position(|m| m.fd == fd) {
        Some(i) => i,
        None => {
            ms.push(Member {
                fd,
                file: Weak::new(),
                key: 0,
                events: 0,
                data: 0,
                dups: Vec::new(),
                armed: false,
                fired: false,
            });
            ms.len() - 1
        }
    };
    let m = &mut ms[i];
    disarm(epfd, m);
    m.file = Arc::downgrade(file);
    m.key = file.key();
    m.events = e.events;
    m.data = e.u64;
    m.fired = false;
    arm(epfd, m, file);
    0
}

/// Drops the members that refer to a netmap file whose last fd was closed.
pub fn file_gone(key: usize) {
    for set in fdtable::epoll_sets() {
        let epfd = set.epfd.load(Ordering::Relaxed);
        let mut ms = set.lock();
        ms.retain_mut(|m| {
            if m.key != key {
                return true;
            }
            disarm(epfd, m);
            false
        });
    }
}

/// Keeps the events that are not our socket wakeups, compacted at the front of `ev`.
/// Returns (kept, whether a wakeup was seen).
fn drop_wakeups(ev: &mut [epoll_event]) -> (usize, bool) {
    let mut kept = 0;
    let mut woke = false;
    for i in 0..ev.len() {
        let e = ev[i];
        if e.u64 == WAKE_DATA {
            woke = true;
        } else {
            ev[kept] = e;
            kept += 1;
        }
    }
    (kept, woke)
}

/// The real epoll_pwait2 on a part of the output (nanosecond timeout: TX waits are shorter than
/// a millisecond), or epoll_pwait where the kernel lacks it (before 5.11).
fn real_wait(
    epfd: c_int,
    out: &mut [epoll_event],
    wait: Option<Duration>,
    sigmask: *const sigset_t,
) -> c_int {
    static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
    if !NO_PWAIT2.load(Ordering::Relaxed) {
        let ts = wait.map(real::timespec_of);
        let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // SAFETY: out is a valid, writable array of out.len() (> 0) events; tp is null or a
        // live timespec; sigmask is null or the caller's.
        let r =
            unsafe { real::epoll_pwait2(epfd, out.as_mut_ptr(), out.len() as c_int, tp, sigmask) };
        if r >= 0 || real::errno() != libc::ENOSYS {
            return r;
        }
        NO_PWAIT2.store(true, Ordering::Relaxed);
    }
    let ms = wait.map_or(-1, real::millis_ceil);
    // SAFETY: as above.
    unsafe { real::epoll_pwait(epfd, out.as_mut_ptr(), out.len() as c_int, ms, sigmask) }
}

/// epoll_wait(2)/epoll_pwait(2) on an epoll fd with netmap members.
///
/// # Safety
/// `events` is valid for `max` entries, as epoll_wait(2) requires.
pub unsafe fn epoll_wait(
    epfd: c_int,
    set: &EpSet,
    events: *mut epoll_event,
    max: c_int,
    deadline: Deadline,
    sigmask: *const sigset_t,
) -> c_int {
    if max <= 0 || events.is_null() {
        // SAFETY: the kernel reports EINVAL/EFAULT without touching anything.
        return unsafe { real::epoll_wait(epfd, events, max, 0) };
    }
    // SAFETY: per the contract.
    let out = unsafe { std::slice::from_raw_parts_mut(events, max as usize) };
    set.set_epfd(epfd);
    // Waits for TX room back off as Port::wait_plan's do.
    let mut tx_wait = TX_WAIT_FIRST;
    loop {
        let mut n = set.step(epfd, out);
        let mut woke = false;
        if n < out.len() {
            let r = real_wait(epfd, &mut out[n..], Some(Duration::ZERO), std::ptr::null());
            if r < 0 {
                return if n > 0 { n as c_int } else { -1 };
            }
            let (k, w) = drop_wakeups(&mut out[n..n + r as usize]);
            n += k;
            woke = w;
        }
        if n > 0 {
            return n as c_int;
        }
        if woke {
            // A packet arrived after the step: look again before sleeping.
            continue;
        }
        if deadline.expired() {
            return 0;
        }
        if set.arm_pipes() {
            continue;
        }
        let cap = set.wants_out().then_some(tx_wait);
        tx_wait = (tx_wait * 2).min(TX_WAIT);
        let r = real_wait(epfd, out, deadline.sleep(cap), sigmask);
        if r < 0 {
            return -1;
        }
        let (k, _) = drop_wakeups(&mut out[..r as usize]);
        if k > 0 {
            return (k + set.step(epfd, &mut out[k..])) as c_int;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollbuf_spills() {
        let mut b = PollBuf::new();
        for i in 0..200 {
            b.push(pollfd {
                fd: i,
                events: 0,
                revents: 0,
            });
        }
        assert_eq!(b.slice().len(), 200);
        assert_eq!(b.slice()[150].fd, 150);
        b.clear();
        b.push(NO_FD);
        assert_eq!(b.slice().len(), 1);
    }

    #[test]
    fn deadlines() {
        assert_eq!(Deadline::never().left(), None);
        assert!(Deadline::from_ms(0).expired());
        assert_eq!(Deadline::from_ms(-1).left(), None);
        let d = Deadline::from_ms(1000);
        assert!(d.sleep(Some(TX_WAIT)).unwrap() <= TX_WAIT);
        assert_eq!(Deadline::never().sleep(Some(TX_WAIT)), Some(TX_WAIT));
        assert_eq!(Deadline::after(Duration::MAX).left(), None);
    }

    #[test]
    fn wakeups_are_dropped() {
        let mk = |d| epoll_event { events: 1, u64: d };
        let mut v = [mk(1), mk(WAKE_DATA), mk(3), mk(WAKE_DATA)];
        let (k, w) = drop_wakeups(&mut v);
        assert_eq!((k, w), (2, true));
        assert_eq!((v[0].u64, v[1].u64), (1, 3));
    }

    #[test]
    fn live_bit_masks() {
        assert_eq!(live_bits(1, 0), 1);
        assert_eq!(live_bits(64, 0), u64::MAX);
        assert_eq!(live_bits(65, 1), 1);
    }
}
