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

/// Naps after a receive before poll() sleeps on the sockets again.
const RX_NAPS: u8 = 4;

/// Longest sleep while waiting for TX room: AF_XDP reports POLLOUT whenever its TX ring is half
/// empty, which says nothing about completions, so room is found by re-syncing.
pub const TX_WAIT: Duration = Duration::from_millis(1);

/// How to sleep until a port may become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPlan {
    /// Sleep on the port's RX sockets ([`Port::socket_fds`]): a packet's arrival ends the sleep.
    pub watch_rx: bool,
    /// Sleep at most this long (None: until a watched socket or the caller's timeout).
    pub cap: Option<Duration>,
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
}

impl Port {
    /// One non-blocking pass of netmap's poll: txsync (unless `NR_NO_TX_POLL` and no
    /// [`Events::OUT`]), rxsync if [`Events::IN`] is asked, readiness where `cur != tail`,
    /// [`Events::ERR`] on a broken ring or a device gone.
    fn ready(&mut self, events: Events) -> Events {
        let want_tx = events.contains(Events::OUT);
        let want_rx = events.contains(Events::IN);
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
        if revents.contains(Events::IN) && !self.rx_nap.is_zero() {
            self.rx_naps_left = RX_NAPS;
        }
        revents
    }

    /// How to sleep after a pass that found nothing ready for `events`. Right after packets
    /// arrived, RX waits are short naps instead of sleeps on the sockets (interrupt
    /// mitigation: the next burst is likely microseconds away, and a sleeper on the socket costs
    /// the sending CPU a wakeup per burst; `NMXDP_RX_NAP_US` sets the nap, 0 disables it).
    /// Waiting for TX room kicks transmissions still queued and is a short sleep.
    pub fn wait_plan(&mut self, events: Events) -> WaitPlan {
        let want_tx = events.contains(Events::OUT);
        let want_rx = events.contains(Events::IN);
        if want_rx && !want_tx && self.rx_naps_left > 0 && !self.rx_nap.is_zero() {
            self.rx_naps_left -= 1;
            return WaitPlan {
                watch_rx: false,
                cap: Some(self.rx_nap),
            };
        }
        if want_tx {
            for c in &self.tx {
                if c.tx_inflight() {
                    c.kick();
                }
            }
        }
        WaitPlan {
            watch_rx: want_rx,
            cap: want_tx.then_some(TX_WAIT),
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
        // poll(2) counts milliseconds: round a sub-millisecond cap up so it does not spin.
        let ms = cap.map_or(-1, |d| {
            d.as_micros().div_ceil(1000).clamp(1, i32::MAX as u128) as i32
        });
        for p in &mut self.rx_pollfds {
            p.revents = 0;
        }
        // SAFETY: rx_pollfds holds that many valid pollfd entries, owned by this port.
        unsafe {
            libc::poll(
                self.rx_pollfds.as_mut_ptr(),
                self.rx_pollfds.len() as libc::nfds_t,
                ms,
            )
        };
    }
}
