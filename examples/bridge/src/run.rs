//! The bridge's main loop: both directions at once, woken by traffic, until stopped or a packet
//! count is reached.
//!
//! Waiting. A netmap app polls one file descriptor per port; an nmxdp [`Port`] has no single fd
//! (one AF_XDP socket per queue) and [`Port::poll`] sleeps on one port only. So each round:
//!
//! 1. polls both ports without sleeping (`poll(events, Some(Duration::ZERO))`): `POLLOUT` on a
//!    port whose peer has packets waiting, as upstream, and `POLLIN` on both. This is netmap's
//!    poll: it flushes TX (txpoll), reclaims completions, hands consumed RX slots back and picks
//!    up received packets. Upstream asks `POLLIN` only on a port whose RX rings are empty (its
//!    poll would otherwise return at once); that also returns consumed RX buffers only once a
//!    ring is drained. On nmxdp those buffers refill the AF_XDP fill ring, whose other half is
//!    all the kernel has to absorb a burst meanwhile, so this loop returns them every round
//!    (nmxdp's RX sync makes no system call for this);
//! 2. moves what it can in both directions ([`Mover::move_packets`]);
//! 3. when nothing moved, flushes TX (`sync_tx`) so no frame sits unsent, then sleeps in
//!    `libc::poll` on the union of both ports' AF_XDP sockets, `POLLIN` on those whose RX rings
//!    are empty. If packets are waiting for TX room instead, it sleeps 1 ms (AF_XDP has no
//!    useful "TX completed" wakeup), as `Port::poll` itself does.
//!
//! Nothing in the loop allocates: the pollfd array is sized before it starts.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nmxdp::{Events, Port};

use crate::forward::{rx_queued, tx_pending, tx_room, DirStats, Mover};

/// Longest sleep while waiting for traffic, so a stop request is seen promptly.
const IDLE_SLICE_MS: i32 = 100;
/// Silence after which `-v` prints the ring state (upstream's poll timeout).
const IDLE_REPORT: Duration = Duration::from_millis(2500);
/// How long the final flush waits for transmissions to complete.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Settings of a [`Bridge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Packets moved per direction per round (upstream's `-b`).
    pub burst: u32,
    /// Copy even when zero-copy is possible (`-c`).
    pub force_copy: bool,
    /// Stop after this many packets forwarded in total.
    pub count: Option<u64>,
    /// `-v` level.
    pub verbose: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            burst: 1024,
            force_copy: false,
            count: None,
            verbose: 0,
        }
    }
}

/// Counters of a bridge run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub a_to_b: DirStats,
    pub b_to_a: DirStats,
    /// Rounds in which a poll reported POLLERR.
    pub poll_errors: u64,
}

impl Stats {
    pub fn forwarded(&self) -> u64 {
        self.a_to_b.packets + self.b_to_a.packets
    }
    /// Bytes the bridge itself copied, both directions.
    pub fn copied_bytes(&self) -> u64 {
        self.a_to_b.copied_bytes + self.b_to_a.copied_bytes
    }
    /// The counters of things that went wrong (bad slots, POLLERR).
    fn problems(&self) -> [u64; 5] {
        [
            self.a_to_b.bad_bufs,
            self.a_to_b.bad_lens,
            self.b_to_a.bad_bufs,
            self.b_to_a.bad_lens,
            self.poll_errors,
        ]
    }
}

/// Two open ports and the forwarding state between them.
pub struct Bridge {
    a: Port,
    b: Port,
    opts: Options,
    mover: Mover,
    stats: Stats,
    /// AF_XDP sockets of each port, and the pollfd array for sleeping on both.
    fds_a: Vec<i32>,
    fds_b: Vec<i32>,
    pfds: Vec<libc::pollfd>,
}

impl Bridge {
    /// Bridges `a` and `b`. Zero-copy when both report the same `nr_mem_id` and
    /// `opts.force_copy` is off.
    pub fn new(a: Port, b: Port, opts: Options) -> Result<Bridge> {
        for (p, what) in [(&a, "A"), (&b, "B")] {
            let name = &p.if_info().name;
            if p.rx_rings().is_empty() || p.tx_rings().is_empty() {
                bail!(
                    "port {what} ({name}) must bind RX and TX rings (opened with /R or /T?): \
                     it has RX {:?}, TX {:?}",
                    p.rx_rings(),
                    p.tx_rings()
                );
            }
        }
        if opts.burst == 0 {
            bail!("burst must be at least 1");
        }
        let zerocopy = !opts.force_copy && a.registration().nr_mem_id == b.registration().nr_mem_id;
        let buf_num = nmxdp::region_layout()
            .context("nmxdp region layout")?
            .buf_num;
        let (fds_a, fds_b) = (unique(a.socket_fds()), unique(b.socket_fds()));
        let pfds = Vec::with_capacity(fds_a.len() + fds_b.len());
        Ok(Bridge {
            a,
            b,
            opts,
            mover: Mover { zerocopy, buf_num },
            stats: Stats::default(),
            fds_a,
            fds_b,
            pfds,
        })
    }

    /// Whether packets move by buffer swapping.
    pub fn zerocopy(&self) -> bool {
        self.mover.zerocopy
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn ports(&self) -> (&Port, &Port) {
        (&self.a, &self.b)
    }

    pub fn into_ports(self) -> (Port, Port) {
        (self.a, self.b)
    }

    /// Bytes nmxdp itself copied on both ports (its `copied_bytes` counters).
    pub fn nmxdp_copied_bytes(&self) -> u64 {
        self.a.stats().copied_bytes + self.b.stats().copied_bytes
    }

    /// The final line: `forwarded A->B N packets, B->A M packets, copied X bytes (bridge) Y
    /// bytes (nmxdp)`.
    pub fn summary(&self) -> String {
        format!(
            "forwarded A->B {} packets, B->A {} packets, copied {} bytes (bridge) {} bytes (nmxdp)",
            self.stats.a_to_b.packets,
            self.stats.b_to_a.packets,
            self.stats.copied_bytes(),
            self.nmxdp_copied_bytes()
        )
    }

    /// Upstream's "Ready to go" line: `nr_name first_rx_ring/nr_rx_rings` of each port.
    pub fn ready_line(&self) -> String {
        let d = |p: &Port| {
            format!(
                "{} 0x{:x}/{}",
                p.if_info().name,
                p.rx_rings().start,
                p.registration().nr_rx_rings
            )
        };
        format!("Ready to go, {} <-> {}.", d(&self.a), d(&self.b))
    }

    /// Forwards until `stop` is set or the packet count is reached, then flushes TX and
    /// returns the RX slots. Errors only when a sync fails.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        let r = self.main_loop(stop);
        self.flush();
        r
    }

    fn remaining(&self) -> u64 {
        match self.opts.count {
            Some(c) => c.saturating_sub(self.stats.forwarded()),
            None => u64::MAX,
        }
    }

    fn main_loop(&mut self, stop: &AtomicBool) -> Result<()> {
        let verbose = self.opts.verbose;
        let mut idle_since = Instant::now();
        let mut next_rate = Instant::now() + Duration::from_secs(1);
        let mut rate_base = self.stats;
        let mut warned = Stats::default();
        let mut next_warn = Instant::now();
        loop {
            if stop.load(Relaxed) || self.remaining() == 0 {
                return Ok(());
            }
            let (na, nb) = (rx_queued(&mut self.a), rx_queued(&mut self.b));
            let out = |n: u32| if n > 0 { Events::OUT } else { Events::empty() };
            let (ev_a, ev_b) = (Events::IN | out(nb), Events::IN | out(na));
            let ra = self.a.poll(ev_a, Some(Duration::ZERO)).context("poll A")?;
            let rb = self.b.poll(ev_b, Some(Duration::ZERO)).context("poll B")?;
            if (ra | rb).contains(Events::ERR) {
                self.stats.poll_errors += 1;
            }

            let mut moved = 0;
            let lim = self.remaining().min(self.opts.burst as u64) as u32;
            let n = self
                .mover
                .move_packets(&mut self.a, &mut self.b, lim, &mut self.stats.a_to_b);
            if n > 0 && tx_room(&mut self.b) == 0 {
                // TX full: hand it to the kernel now, completions make room.
                self.b.sync_tx().context("sync_tx B")?;
            }
            moved += n;
            let lim = self.remaining().min(self.opts.burst as u64) as u32;
            let n = self
                .mover
                .move_packets(&mut self.b, &mut self.a, lim, &mut self.stats.b_to_a);
            if n > 0 && tx_room(&mut self.a) == 0 {
                self.a.sync_tx().context("sync_tx A")?;
            }
            moved += n;

            let now = Instant::now();
            if verbose > 0 && now >= next_rate {
                let s = self.stats;
                eprintln!(
                    "bridge: A->B {} pps, B->A {} pps",
                    s.a_to_b.packets - rate_base.a_to_b.packets,
                    s.b_to_a.packets - rate_base.b_to_a.packets
                );
                rate_base = s;
                next_rate = now + Duration::from_secs(1);
            }
            if self.stats.problems() != warned.problems() && now >= next_warn {
                self.warn(&warned);
                warned = self.stats;
                next_warn = now + Duration::from_secs(1);
            }
            if moved > 0 {
                idle_since = now;
                continue;
            }

            // Nothing to move: make sure nothing waits in TX, then sleep.
            self.a.sync_tx().context("sync_tx A")?;
            self.b.sync_tx().context("sync_tx B")?;
            let (na, nb) = (rx_queued(&mut self.a), rx_queued(&mut self.b));
            self.pfds.clear();
            for (fds, queued) in [(&self.fds_a, na), (&self.fds_b, nb)] {
                if queued == 0 {
                    for &fd in fds {
                        self.pfds.push(libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        });
                    }
                }
            }
            let ms = if na > 0 || nb > 0 { 1 } else { IDLE_SLICE_MS };
            // SAFETY: pfds is a valid array of pollfd of the given length.
            let ret =
                unsafe { libc::poll(self.pfds.as_mut_ptr(), self.pfds.len() as libc::nfds_t, ms) };
            if ret > 0 {
                idle_since = Instant::now();
            } else if verbose > 0 && idle_since.elapsed() >= IDLE_REPORT {
                self.print_state();
                idle_since = Instant::now();
            }
        }
    }

    /// Reports bad slots and POLLERR seen since `before` (at most once a second).
    fn warn(&self, before: &Stats) {
        let s = &self.stats;
        for (dir, now, then) in [
            ("A->B", &s.a_to_b, &before.a_to_b),
            ("B->A", &s.b_to_a, &before.b_to_a),
        ] {
            if now.bad_bufs > then.bad_bufs {
                eprintln!(
                    "bridge: {dir}: {} slot(s) with a buffer index < 2 or past the pool skipped",
                    now.bad_bufs - then.bad_bufs
                );
            }
            if now.bad_lens > then.bad_lens {
                eprintln!(
                    "bridge: {dir}: {} slot(s) longer than a buffer forwarded with length 0",
                    now.bad_lens - then.bad_lens
                );
            }
        }
        if s.poll_errors > before.poll_errors {
            eprintln!(
                "bridge: poll reported POLLERR {} time(s) (a ring was re-initialised or a device went down)",
                s.poll_errors - before.poll_errors
            );
        }
    }

    /// Upstream's "poll timeout" line: RX queued @ RX cur and TX room of each port.
    fn print_state(&mut self) {
        let (qa, qb) = (rx_queued(&mut self.a), rx_queued(&mut self.b));
        let (ta, tb) = (tx_room(&mut self.a), tx_room(&mut self.b));
        let ca = self.a.rx_ring(self.a.rx_rings().start).cur();
        let cb = self.b.rx_ring(self.b.rx_rings().start).cur();
        eprintln!("bridge: poll timeout [A] rx {qa}@{ca} tx {ta}, [B] rx {qb}@{cb} tx {tb}");
    }

    /// Sends what is still in the TX rings, waits (bounded) for completion and hands the
    /// consumed RX slots back.
    fn flush(&mut self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        loop {
            let _ = self.a.sync_tx();
            let _ = self.b.sync_tx();
            if !tx_pending(&mut self.a) && !tx_pending(&mut self.b) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        let _ = self.a.sync_rx();
        let _ = self.b.sync_rx();
    }
}

fn unique(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v.dedup();
    v
}
