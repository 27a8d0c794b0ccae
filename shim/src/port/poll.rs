//! netmap's poll() on a port: one readiness pass, then a wait plan (docs/architecture.md,
//! "Poll"). [`Port::poll`] and the C library's poll/select/epoll emulation share both halves:
//! the emulation runs the pass with a zero timeout and sleeps as the plans of its ports say.

use std::time::{Duration, Instant};

use super::Port;
use crate::error::Result;
use crate::queue::SyncStatus;

bitflags::bitflags! {
    /// Events of [`Port::poll`], with poll(2)'s values and meaning.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Events: i16 {
        /// An RX ring has packets (`cur != tail`).
        const IN = libc::POLLIN;
        /// A TX ring has free slots (`cur != tail`).
        const OUT = libc::POLLOUT;
        /// A ring was re-initialised after bad `head`/`cur`, or the device went away.
        const ERR = libc::POLLERR;
    }
}

/// Slots that must have been filled between two waits for the next RX wait to be a nap instead
/// of a sleep on the sockets (docs/architecture.md, "Poll"). A ping-pong or a trickle brings one
/// or two frames per wake-up and sleeps on the sockets, so a frame wakes it the moment it
/// arrives; a stream brings tens (a nap of 50 µs at 200 kpps holds about 10, at full rate on
/// veth 25-50). Slots, not frames: a 9,000-byte stream on 2048-byte buffers brings about 9
/// frames of 6 slots per nap, right at a frame threshold, so the receiver flipped between
/// napping and a wake-up per frame from one run to the next; in slots it is clearly a stream,
/// while a jumbo ping-pong (6 slots per wake-up) still sleeps on the socket.
pub const DENSE_SLOTS: u64 = 8;

/// First wait for TX room. AF_XDP reports POLLOUT whenever its TX ring is half empty, which says
/// nothing about completions, so room is found by re-syncing: soon at first (in copy mode a kick
/// transmits and completes synchronously, so room is usually back at once), then less often.
pub const TX_WAIT_FIRST: Duration = Duration::from_micros(20);

/// Longest wait for TX room between two syncs (the waits double from [`TX_WAIT_FIRST`]).
pub const TX_WAIT: Duration = Duration::from_millis(1);

/// Looks-again in a row that found nothing before poll() stops looking again: where the peer
/// shares our CPU (or the answer is slow), spinning only delays it.
pub const SPIN_MISSES: u8 = 4;

/// While looking again does not pay, one wait in this many tries it again, so a change (the
/// peer moved to a CPU of its own) is noticed.
pub const SPIN_RETRY: u16 = 64;
/// Turns of a look-again between two readings of the clock: a turn reads the RX rings'
/// indices only, tens of nanoseconds, so the spin overshoots its time by well under a
/// microsecond.
pub const SPIN_CLOCK_TURNS: u32 = 16;

/// How to sleep until a port may become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPlan {
    /// Sleep on the port's RX sockets ([`Port::socket_fds`]): a packet's arrival ends the sleep.
    /// For a pipe end, its eventfds: the peer's publication or release ends the sleep.
    pub watch_rx: bool,
    /// Sleep at most this long (None: until a watched socket or the caller's timeout).
    pub cap: Option<Duration>,
    /// Before sleeping, run the readiness pass again for up to this long (zero: sleep at
    /// once): on sparse traffic an answer often comes within microseconds, and finding it
    /// without sleeping saves the sleep, the wake-up and the sender's cost of waking us.
    pub spin: Duration,
}

impl WaitPlan {
    /// The plan for several ports waited on together: the shortest cap.
    pub fn min_cap(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        }
    }

    /// The look-again time of several ports waited on together: the shortest.
    pub fn min_spin(a: Duration, b: Duration) -> Duration {
        a.min(b)
    }
}

impl Port {
    /// One non-blocking pass of netmap's poll: txsync (unless `NR_NO_TX_POLL` and no
    /// [`Events::OUT`]), rxsync if [`Events::IN`] is asked, readiness where `cur != tail`,
    /// [`Events::ERR`] on a broken ring or a device gone.
    fn ready(&mut self, events: Events) -> Events {
        let want_tx = events.contains(Events::OUT);
        let want_rx = events.contains(Events::IN);
        if self.pipe.is_some() {
            return self.pipe_ready(want_tx, want_rx);
        }
        let mut revents = Events::empty();
        if want_tx || !self.no_tx_poll {
            for c in &self.tx {
                let (status, ready) = c.tx_poll_step(!want_tx);
                if status.is_some_and(|s| s == SyncStatus::Reinit || s == SyncStatus::DeviceError) {
                    revents |= Events::ERR;
                }
                if want_tx && ready {
                    revents |= Events::OUT;
                }
            }
        }
        if want_rx {
            for c in &self.rx {
                let (status, ready) = c.rx_poll_step();
                if status == SyncStatus::Reinit || status == SyncStatus::DeviceError {
                    revents |= Events::ERR;
                }
                if ready {
                    revents |= Events::IN;
                }
            }
        }
        if self.tx.is_empty() && self.rx.is_empty() {
            revents |= Events::ERR;
        }
        if revents.contains(Events::OUT) {
            self.tx_wait = TX_WAIT_FIRST;
        }
        revents
    }

    /// [`Port::ready`] of a pipe end: the same steps, over the pipe's rings.
    fn pipe_ready(&mut self, want_tx: bool, want_rx: bool) -> Events {
        let no_tx_poll = self.no_tx_poll;
        let Some(end) = self.pipe.as_mut() else {
            return Events::empty();
        };
        end.disarm();
        let mut revents = Events::empty();
        let bad = |s: SyncStatus| s == SyncStatus::Reinit;
        if end.tx && (want_tx || !no_tx_poll) {
            let (status, ready) = end.txsync();
            if bad(status) {
                revents |= Events::ERR;
            }
            if want_tx && ready {
                revents |= Events::OUT;
            }
        }
        if end.rx && want_rx {
            let (status, ready) = end.rxsync();
            if bad(status) {
                revents |= Events::ERR;
            }
            if ready {
                revents |= Events::IN;
            }
        }
        if !end.tx && !end.rx {
            revents |= Events::ERR;
        }
        revents
    }

    /// Slots filled on this port's RX queues so far, by any sync (poll, ioctl, Rust API).
    pub(super) fn rx_slots(&self) -> u64 {
        self.rx
            .iter()
            .map(|c| {
                c.counters
                    .rx_slots
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// How to sleep after a pass that found nothing ready for `events`.
    ///
    /// A wait for input sleeps on the RX sockets, so the next frame ends it at once, unless at
    /// least [`DENSE_SLOTS`] slots were filled since the previous wait: then it is a short nap
    /// (`NMXDP_RX_NAP_US`, 0 disables naps) that leaves the sockets alone. That is interrupt
    /// mitigation: in a stream the next frames are microseconds away, and on veth a receiver
    /// sleeping on its socket makes the sender's CPU pay a wake-up for every burst. The first
    /// nap that finds fewer frames ends it.
    ///
    /// A wait for TX room kicks transmissions still queued and sleeps [`TX_WAIT_FIRST`], twice
    /// as long each time no room appeared, up to [`TX_WAIT`].
    ///
    /// A wait for input on sparse traffic (the socket sleep) first looks again for
    /// `NMXDP_RX_SPIN_US` (20 µs): in a request/response exchange the answer often comes
    /// within that, and catching it awake saves a sleep and the peer's wake-up of us. After
    /// [`SPIN_MISSES`] looks-again in a row that found nothing it stops (one wait in
    /// [`SPIN_RETRY`] tries again): then the peer likely shares our CPU, and spinning would
    /// only hold it back.
    ///
    /// A pipe end asks its peer to signal its eventfds ([`Port::socket_fds`]) at the next
    /// publication (for input) or release (for room), then sleeps on them with no cap; if the
    /// peer moved in between, the plan is a zero-length sleep.
    pub fn wait_plan(&mut self, events: Events) -> WaitPlan {
        let want_tx = events.contains(Events::OUT);
        let want_rx = events.contains(Events::IN);
        if self.pipe.is_some() {
            let moved = self.arm_wakeup(events);
            return WaitPlan {
                watch_rx: !moved,
                cap: moved.then_some(Duration::ZERO),
                spin: Duration::ZERO,
            };
        }
        if want_rx {
            let slots = self.rx_slots();
            let since = slots.wrapping_sub(self.rx_slots_seen);
            self.rx_slots_seen = slots;
            if !want_tx && since >= DENSE_SLOTS && !self.rx_nap.is_zero() {
                return WaitPlan {
                    watch_rx: false,
                    cap: Some(self.rx_nap),
                    spin: Duration::ZERO,
                };
            }
        }
        let mut cap = None;
        if want_tx {
            for c in &self.tx {
                if c.tx_inflight() {
                    c.kick();
                }
            }
            cap = Some(self.tx_wait);
            self.tx_wait = (self.tx_wait * 2).min(TX_WAIT);
        }
        WaitPlan {
            watch_rx: want_rx,
            cap,
            // Only a wait for input alone looks again: a sender waiting for room has its own
            // short waits.
            spin: if want_rx && !want_tx {
                self.spin_for()
            } else {
                Duration::ZERO
            },
        }
    }

    /// The look-again time of the next sparse wait: `NMXDP_RX_SPIN_US` while it pays, else
    /// zero except one wait in [`SPIN_RETRY`].
    fn spin_for(&mut self) -> Duration {
        if self.rx_spin.is_zero() || self.spin_misses < SPIN_MISSES {
            return self.rx_spin;
        }
        self.spin_retry += 1;
        if self.spin_retry < SPIN_RETRY {
            return Duration::ZERO;
        }
        self.spin_retry = 0;
        self.rx_spin
    }

    /// What a look-again that [`Port::wait_plan`] planned found: traffic (`found`), or nothing
    /// before it went to sleep. Callers that spin themselves (the C library's poll) report it.
    pub fn spin_result(&mut self, found: bool) {
        self.spin_misses = if found {
            0
        } else {
            self.spin_misses.saturating_add(1)
        };
    }

    /// For event loops that sleep on [`Port::socket_fds`] themselves (the C library's epoll): a
    /// pipe end asks its peer to signal them at its next publication or release, as
    /// [`Port::wait_plan`] does; true when the peer moved meanwhile, so the caller should look
    /// again instead of sleeping. A NIC port's sockets need no asking: false.
    pub fn arm_wakeup(&mut self, events: Events) -> bool {
        match self.pipe.as_mut() {
            Some(end) => end.arm(events.contains(Events::IN), events.contains(Events::OUT)),
            None => false,
        }
    }

    /// netmap's poll(): a readiness pass, then sleeps (as [`Port::wait_plan`] says) and passes
    /// again until something is ready or `timeout` (None = forever) passes.
    pub fn poll(&mut self, events: Events, timeout: Option<Duration>) -> Result<Events> {
        // The clock is read only when the call has to wait.
        let mut deadline: Option<Instant> = None;
        loop {
            let revents = self.ready(events);
            if !revents.is_empty() || timeout == Some(Duration::ZERO) {
                return Ok(revents);
            }
            let left = match timeout {
                None => None,
                Some(t) => {
                    let now = Instant::now();
                    let d = *deadline.get_or_insert(now + t);
                    if now >= d {
                        return Ok(revents);
                    }
                    Some(d - now)
                }
            };
            let plan = self.wait_plan(events);
            if !plan.spin.is_zero() {
                let spin = left.map_or(plan.spin, |l| l.min(plan.spin));
                // Only a wait for input spins: between passes it reads the RX rings' indices
                // alone, and the clock every few turns, as a raw AF_XDP spin would.
                let t0 = Instant::now();
                let mut turns = 0u32;
                loop {
                    if self.rx_waiting() {
                        let revents = self.ready(events);
                        if !revents.is_empty() {
                            self.spin_result(true);
                            return Ok(revents);
                        }
                    }
                    turns = turns.wrapping_add(1);
                    if turns.is_multiple_of(SPIN_CLOCK_TURNS) && t0.elapsed() >= spin {
                        self.spin_result(false);
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            self.sleep(plan, left);
        }
    }

    /// Sleeps as `plan` says, at most `left`.
    fn sleep(&mut self, plan: WaitPlan, left: Option<Duration>) {
        let cap = WaitPlan::min_cap(plan.cap, left);
        if !plan.watch_rx {
            std::thread::sleep(cap.unwrap_or(TX_WAIT));
            return;
        }
        // ppoll, not poll: caps are often below poll(2)'s millisecond.
        let ts = cap.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        for p in &mut self.rx_pollfds {
            p.revents = 0;
        }
        // SAFETY: rx_pollfds holds that many valid pollfd entries, owned by this port; tp is
        // null or points to a live timespec; a null sigmask leaves the signal mask alone.
        unsafe {
            libc::ppoll(
                self.rx_pollfds.as_mut_ptr(),
                self.rx_pollfds.len() as libc::nfds_t,
                tp,
                std::ptr::null(),
            )
        };
    }
}
