//! What the bench's own ping-pong programs (`xdp-pingpong`, `udp-pingpong`) share: their options,
//! the ping loop that times round trips, the pong loop, and the lines they print (the
//! `latency:` line through pkt-gen's [`pkt_gen::latency`], as pkt-gen prints it).
//!
//! The ping side sends one frame, waits for its echo, records the round-trip time, repeats; a ping
//! without an echo within [`RESEND`] is lost and a new one is sent. The first
//! [`warmup`] round trips are not recorded. The pong side sends back each frame it receives at
//! once. Both sides either sleep in the kernel until a frame arrives (`poll(2)`, a blocking
//! `recv`) or, with `--busy-wait`, spin on the receive ring.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, ValueEnum};

use pkt_gen::latency::{format_latency, warmup, Latency, RESEND_TIMEOUT_NS};

use crate::app::stopped;

/// A ping without an echo after this long is lost; a new one is sent.
pub const RESEND: Duration = Duration::from_nanos(RESEND_TIMEOUT_NS);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Ping,
    Pong,
}

/// The options of both sides (pkt-gen's letters where pkt-gen has one).
#[derive(Debug, Clone, Args)]
pub struct PingPongArgs {
    /// Side.
    #[arg(short = 'f', value_enum)]
    pub role: Role,
    /// ping: round trips to measure (after the warm-up); pong: frames to echo before leaving
    /// (0 = until SIGINT/SIGTERM).
    #[arg(short = 'n', value_name = "COUNT")]
    pub count: Option<u64>,
    /// Frame length in bytes without CRC (the sequence number needs 50).
    #[arg(short = 'l', value_name = "LEN", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(50..=1792))]
    pub len: u32,
    /// Spin on the receive ring instead of sleeping in poll(2).
    #[arg(long)]
    pub busy_wait: bool,
}

/// Ping's round trips without `-n`.
pub const DEFAULT_RTTS: u64 = 10_000;

impl PingPongArgs {
    /// "poll" or "busy-wait".
    pub fn wait_word(&self) -> &'static str {
        if self.busy_wait {
            "busy-wait"
        } else {
            "poll"
        }
    }

    /// The line the harness waits for before starting the other side: `ready: <role> on <what>
    /// (<wait>)`, flushed.
    pub fn ready(&self, what: &str) {
        let role = match self.role {
            Role::Ping => "ping",
            Role::Pong => "pong",
        };
        println!("ready: {role} on {what} ({})", self.wait_word());
        let _ = std::io::stdout().flush();
    }
}

/// The ping side's transport.
pub trait Pinger {
    /// Sends the ping numbered `seq`.
    fn send(&mut self, seq: u64) -> Result<()>;
    /// The sequence number carried by the next frame that arrives before `deadline` (a frame
    /// without one gives `u64::MAX`); `None` once the deadline passed.
    fn recv(&mut self, deadline: Instant) -> Result<Option<u64>>;
}

/// The pong side's transport.
pub trait Echoer {
    /// Sends back what arrived, waiting up to `wait` for something (or not at all when
    /// spinning); how many frames it echoed.
    fn echo(&mut self, wait: Duration) -> Result<u64>;
}

/// [`warmup`]`(measured)` round trips, then `measured` timed ones (fewer if SIGINT/SIGTERM
/// arrives); lost pings are counted during the timed part only.
pub fn ping<P: Pinger>(p: &mut P, measured: u64) -> Result<Latency> {
    let warm = warmup(measured);
    let mut samples: Vec<u64> = Vec::with_capacity(measured as usize);
    let (mut done, mut lost, mut seq) = (0u64, 0u64, 0u64);
    let mut started: Option<Instant> = None;
    let mut last = Instant::now();
    while (samples.len() as u64) < measured && !stopped() {
        if done == warm && started.is_none() {
            started = Some(Instant::now());
        }
        seq += 1;
        let t0 = Instant::now();
        p.send(seq)?;
        let deadline = t0 + RESEND;
        loop {
            match p.recv(deadline)? {
                Some(s) if s == seq => {
                    last = Instant::now();
                    if started.is_some() {
                        samples.push((last - t0).as_nanos() as u64);
                    }
                    done += 1;
                    break;
                }
                // The late echo of a ping already counted lost.
                Some(_) => {}
                None => {
                    lost += u64::from(started.is_some());
                    break;
                }
            }
        }
    }
    let secs = started.map_or(0.0, |s| last.saturating_duration_since(s).as_secs_f64());
    Ok(Latency::from_samples(&mut samples, lost, secs))
}

/// Echoes until `quota` frames (0: no quota) or SIGINT/SIGTERM; how many were echoed.
pub fn pong<E: Echoer>(e: &mut E, quota: u64) -> Result<u64> {
    let mut n = 0;
    while !stopped() && (quota == 0 || n < quota) {
        n += e.echo(Duration::from_millis(100))?;
    }
    Ok(n)
}

/// The ping side of `args`: prints the `latency:` line on stdout.
pub fn run_ping<P: Pinger>(args: &PingPongArgs, p: &mut P) -> Result<()> {
    let l = ping(p, args.count.unwrap_or(DEFAULT_RTTS))?;
    println!("{}", format_latency(&l));
    Ok(())
}

/// The pong side of `args`: prints `pong: echoed N` on stdout.
pub fn run_pong<E: Echoer>(args: &PingPongArgs, e: &mut E) -> Result<()> {
    let n = pong(e, args.count.unwrap_or(0))?;
    println!("pong: echoed {n}");
    Ok(())
}

/// A poll(2) timeout that does not end before `deadline` (rounded up to whole milliseconds);
/// `None` once it passed.
pub fn until(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    Some(Duration::from_millis(left.as_micros().div_ceil(1000) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes every ping except those in `drop`, and slips in a stray frame before the echo of
    /// those in `stray`.
    struct Fake {
        pending: Vec<u64>,
        drop: Vec<u64>,
        stray: Vec<u64>,
        sent: u64,
    }

    impl Pinger for Fake {
        fn send(&mut self, seq: u64) -> Result<()> {
            self.sent += 1;
            if !self.drop.contains(&seq) {
                self.pending.push(seq);
                if self.stray.contains(&seq) {
                    self.pending.push(u64::MAX);
                }
            }
            Ok(())
        }
        fn recv(&mut self, _deadline: Instant) -> Result<Option<u64>> {
            Ok(self.pending.pop())
        }
    }

    #[test]
    fn ping_counts_and_losses() {
        // Warm-up: 10 round trips. Ping 3 (warm-up) and ping 15 (measured) get no echo.
        let mut f = Fake {
            pending: Vec::new(),
            drop: vec![3, 15],
            stray: vec![20],
            sent: 0,
        };
        let l = ping(&mut f, 20).unwrap();
        assert_eq!(l.rtts, 20);
        assert_eq!(l.lost, 1);
        assert_eq!(f.sent, 10 + 20 + 2);
        assert!(l.min_ns <= l.p50_ns && l.p50_ns <= l.p99_ns && l.p99_ns <= l.max_ns);
    }

    #[test]
    fn options() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            p: PingPongArgs,
        }
        use clap::Parser;
        let t = T::try_parse_from(["x", "-f", "ping", "-n", "5", "--busy-wait"]).unwrap();
        assert_eq!((t.p.role, t.p.count, t.p.len), (Role::Ping, Some(5), 60));
        assert_eq!(t.p.wait_word(), "busy-wait");
        assert!(T::try_parse_from(["x", "-f", "pong", "-l", "49"]).is_err());
        assert!(T::try_parse_from(["x"]).is_err());
    }

    #[test]
    fn deadlines() {
        assert_eq!(until(Instant::now()), None);
        let d = until(Instant::now() + Duration::from_micros(1500)).unwrap();
        assert!(d == Duration::from_millis(2) || d == Duration::from_millis(1));
    }
}
