//! Ping-pong (`-f ping` / `-f pong`), one frame in flight, on one thread.
//!
//! The ping side sends a frame numbered `n` on the first bound TX ring, waits for the echo
//! carrying `n` on any bound RX ring and records the round trip; an echo missing after
//! [`RESEND_TIMEOUT_NS`] counts as lost and the next ping goes out. The first
//! [`warmup`] round trips are not recorded. Like upstream pkt-gen it prints
//! `count N RTT: min X av Y ns` and the power-of-two histogram each second (stderr), then
//! `RTT over N packets: min X av Y ns` and the shared `latency:` line (stdout).
//!
//! The pong side copies every frame it receives into the first TX ring with the Ethernet (and
//! IPv4) source and destination swapped, and sends it at once.
//!
//! Waiting is netmap's poll() ([`Port::poll`], whose pass also flushes queued TX slots), or with
//! `--busy-wait` NIOCTXSYNC/NIOCRXSYNC in a loop (upstream's `-DBUSYWAIT` build).
//! Nothing is allocated or formatted per round trip: the sample vector is sized for `-n` up
//! front, the per-second lines are the only output while running.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nmxdp::{Events, Port};
use pkt_gen::frame::{self, SEQ_END, SEQ_OFF};
use pkt_gen::latency::{format_latency, warmup, Latency, Pow2Histogram, RESEND_TIMEOUT_NS};

use crate::stopped;

/// How pong waits for frames when it has none: short, so SIGINT/SIGTERM end it promptly.
const PONG_POLL: Duration = Duration::from_millis(100);
/// How long the last echoes may take to leave before the port closes.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);
/// Busy-wait spins between two looks at the clock (or at the stop flag): the loop itself only
/// reads the RX rings' indices, as a raw AF_XDP spin does.
const SPINS_PER_CLOCK: u32 = 1024;
/// Samples preallocated when ping runs forever (`-n 0`); the vector doubles past that.
const FOREVER_SAMPLES: usize = 1 << 20;

/// How a ping-pong side waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// netmap's poll() on the port.
    Poll,
    /// NIOCTXSYNC / NIOCRXSYNC in a loop.
    Busy,
}

/// The ping side's job.
pub struct PingJob {
    /// Round trips to measure (after warm-up); 0 = until stopped.
    pub count: u64,
    /// The frame (sequence number 0), at least [`SEQ_END`] bytes.
    pub frame: Vec<u8>,
    pub wait: Wait,
}

/// The pong side's job.
pub struct PongJob {
    /// Frames to echo; 0 = until stopped.
    pub count: u64,
    pub wait: Wait,
}

/// Is `p` the echo of ping `seq` (an IPv4/UDP frame carrying it)?
#[inline]
fn is_echo(p: &[u8], seq: u64) -> bool {
    p.len() >= SEQ_END
        && p[12..14] == [0x08, 0x00]
        && p[23] == 17
        && p[SEQ_OFF..SEQ_END] == seq.to_le_bytes()
}

/// Swaps the Ethernet source and destination of `f`, and its IPv4 addresses if it is IPv4 (as
/// upstream's pong; the IPv4 checksum does not change).
#[inline]
fn swap_addresses(f: &mut [u8]) {
    if f.len() < 14 {
        return;
    }
    let (dst, rest) = f.split_at_mut(6);
    dst.swap_with_slice(&mut rest[..6]);
    if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
        let (src, dst) = f[26..34].split_at_mut(4);
        src.swap_with_slice(dst);
    }
}

/// Upstream's per-second figures: count, min and average of the RTTs since the last line.
struct Window {
    count: u64,
    min: u64,
    sum: u64,
    hist: Pow2Histogram,
}

impl Window {
    fn new() -> Window {
        Window {
            count: 0,
            min: u64::MAX,
            sum: 0,
            hist: Pow2Histogram::default(),
        }
    }

    #[inline]
    fn add(&mut self, ns: u64) {
        self.count += 1;
        self.min = self.min.min(ns);
        self.sum += ns;
        self.hist.add(ns);
    }

    /// Prints the window's lines (stderr) if it saw a round trip, and starts a new one.
    fn print_and_reset(&mut self) {
        if self.count > 0 {
            eprintln!(
                "count {} RTT: min {} av {} ns",
                self.count,
                self.min,
                self.sum / self.count
            );
            if let Some(h) = self.hist.format() {
                eprintln!("{h}");
            }
        }
        *self = Window::new();
    }
}

/// Queues ping `seq` in the first free slot of TX ring `ring`; false if the ring is full.
#[inline]
fn queue_ping(port: &mut Port, ring: u32, frame: &[u8], seq: u64) -> bool {
    let mut tx = port.tx_ring(ring);
    let mut batch = tx.batch();
    let Some(mut slot) = batch.slot() else {
        return false;
    };
    let len = frame.len();
    match slot.buf_mut().get_mut(..len) {
        Some(buf) => {
            buf.copy_from_slice(frame);
            frame::write_seq(buf, seq);
            slot.send(len);
            true
        }
        // A broken slot (never expected): nothing queued, the caller retries after a sync.
        None => false,
    }
}

/// Consumes everything the RX rings hold; the time the echo of `seq` was seen, if it was.
#[inline]
fn take_echo(port: &mut Port, seq: u64) -> Option<Instant> {
    let mut seen = None;
    for r in port.rx_rings() {
        let mut rx = port.rx_ring(r);
        for p in rx.packets() {
            if seen.is_none() && is_echo(p.data(), seq) {
                seen = Some(Instant::now());
            }
        }
    }
    seen
}

/// Sends the queued ping and waits for the echo of `seq` until `deadline`.
#[inline]
fn await_echo(port: &mut Port, seq: u64, deadline: Instant, wait: Wait) -> Result<Option<Instant>> {
    if wait == Wait::Busy {
        port.sync_tx()?;
    }
    let mut spins = 0u32;
    loop {
        match wait {
            Wait::Busy => {
                // A sync only once the kernel has delivered something.
                if !port.rx_waiting() {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(SPINS_PER_CLOCK) && Instant::now() >= deadline {
                        return Ok(None);
                    }
                    std::hint::spin_loop();
                    continue;
                }
                port.sync_rx()?
            }
            Wait::Poll => {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                // The pass before any sleep flushes the queued ping (txsync), as netmap's does.
                let rev = port.poll(Events::IN, Some(deadline - now))?;
                if rev.contains(Events::ERR) {
                    bail!("poll reported POLLERR on the port's rings");
                }
                if !rev.contains(Events::IN) {
                    continue;
                }
            }
        }
        if let Some(t) = take_echo(port, seq) {
            return Ok(Some(t));
        }
        if wait == Wait::Busy && Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

/// Runs the ping side; prints the per-second lines, the final `RTT over` line and the
/// `latency:` line. Returns the statistics.
pub fn ping(port: &mut Port, job: &PingJob) -> Result<Latency> {
    let Some(tx_ring) = port.tx_rings().next() else {
        bail!("the port has no TX rings bound");
    };
    if port.rx_rings().is_empty() {
        bail!("the port has no RX rings bound");
    }
    if job.frame.len() < SEQ_END {
        bail!("ping needs frames of at least {SEQ_END} bytes to carry the sequence number (-l)");
    }
    let warm = warmup(job.count);
    let mut samples: Vec<u64> = Vec::with_capacity(match job.count {
        0 => FOREVER_SAMPLES,
        n => usize::try_from(n).unwrap_or(FOREVER_SAMPLES),
    });
    let timeout = Duration::from_nanos(RESEND_TIMEOUT_NS);
    let mut window = Window::new();
    let mut last_print = Instant::now();
    let (mut next_seq, mut answered, mut lost) = (0u64, 0u64, 0u64);
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);

    while !stopped() && (job.count == 0 || (samples.len() as u64) < job.count) {
        let seq = frame::seq(0, next_seq);
        if !queue_ping(port, tx_ring, &job.frame, seq) {
            // No free slot: completions come back with a sync.
            let rev = port.poll(Events::OUT, Some(timeout))?;
            if rev.contains(Events::ERR) {
                bail!("poll reported POLLERR on the port's rings");
            }
            continue;
        }
        next_seq += 1;
        let measured = answered >= warm;
        let t0 = Instant::now();
        match await_echo(port, seq, t0 + timeout, job.wait)? {
            Some(t1) => {
                answered += 1;
                if measured {
                    let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX);
                    samples.push(ns);
                    window.add(ns);
                    first.get_or_insert(t0);
                    last = Some(t1);
                }
                if t1 - last_print >= Duration::from_secs(1) {
                    window.print_and_reset();
                    last_print = t1;
                }
            }
            None => lost += 1,
        }
    }

    let secs = match (first, last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let l = Latency::from_samples(&mut samples, lost, secs);
    if l.rtts > 0 {
        println!(
            "RTT over {} packets: min {} av {} ns",
            l.rtts, l.min_ns, l.avg_ns
        );
    }
    println!("{}", format_latency(&l));
    Ok(l)
}

/// Copies what the RX rings hold into the first TX ring, addresses swapped, at most `limit`
/// frames. Returns (echoed, dropped for want of TX room).
#[inline]
fn echo_batch(port: &mut Port, tx_ring: u32, limit: u64) -> (u64, u64) {
    let (mut echoed, mut dropped) = (0u64, 0u64);
    for r in port.rx_rings() {
        let (mut tx, mut rx) = port.tx_rx_rings(tx_ring, r);
        let mut batch = tx.batch();
        for p in rx.packets() {
            let n = p.len();
            match batch.slot() {
                Some(mut slot) => match slot.buf_mut().get_mut(..n) {
                    Some(buf) => {
                        buf.copy_from_slice(p.data());
                        swap_addresses(buf);
                        slot.send(n);
                        echoed += 1;
                    }
                    None => dropped += 1,
                },
                None => dropped += 1,
            }
            if echoed >= limit {
                return (echoed, dropped);
            }
        }
    }
    (echoed, dropped)
}

/// Syncs TX until every queued echo left (at most [`FLUSH_LIMIT`]).
fn flush(port: &mut Port) -> Result<()> {
    let start = Instant::now();
    loop {
        port.sync_tx()?;
        let pending = port.tx_rings().any(|r| port.tx_ring(r).tx_pending());
        if !pending || start.elapsed() >= FLUSH_LIMIT {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(10));
    }
}

/// Runs the pong side until `count` frames are echoed or a signal; prints
/// `pong: echoed N frames, D dropped` (stdout). Returns the frames echoed.
pub fn pong(port: &mut Port, job: &PongJob) -> Result<u64> {
    let Some(tx_ring) = port.tx_rings().next() else {
        bail!("the port has no TX rings bound");
    };
    if port.rx_rings().is_empty() {
        bail!("the port has no RX rings bound");
    }
    let (mut echoed, mut dropped) = (0u64, 0u64);
    let mut spins = 0u32;
    while job.count == 0 || echoed < job.count {
        match job.wait {
            Wait::Busy => {
                // A sync only once the kernel has delivered something.
                if !port.rx_waiting() {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(SPINS_PER_CLOCK) && stopped() {
                        break;
                    }
                    std::hint::spin_loop();
                    continue;
                }
                if stopped() {
                    break;
                }
                port.sync_rx()?
            }
            Wait::Poll => {
                if stopped() {
                    break;
                }
                let rev = port.poll(Events::IN, Some(PONG_POLL))?;
                if rev.contains(Events::ERR) {
                    bail!("poll reported POLLERR on the port's rings");
                }
                if !rev.contains(Events::IN) {
                    continue;
                }
            }
        }
        let limit = match job.count {
            0 => u64::MAX,
            n => n - echoed,
        };
        let (e, d) = echo_batch(port, tx_ring, limit);
        echoed += e;
        dropped += d;
        // With poll() the next pass sends them; busy-waiting sends now.
        if e > 0 && job.wait == Wait::Busy {
            port.sync_tx()?;
        }
    }
    flush(port)?;
    println!("pong: echoed {echoed} frames, {dropped} dropped");
    Ok(echoed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkt_gen::frame::{build, FrameSpec};

    #[test]
    fn echo_matching() {
        let mut f = build(&FrameSpec::defaults([2, 0, 0, 0, 0, 1], 60));
        frame::write_seq(&mut f, 7);
        assert!(is_echo(&f, 7));
        assert!(!is_echo(&f, 8));
        assert!(!is_echo(&f[..49], 7), "too short for the sequence number");
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!is_echo(&arp, 7));
        let mut tcp = f.clone();
        tcp[23] = 6;
        assert!(!is_echo(&tcp, 7));
    }

    #[test]
    fn pong_swaps_macs_and_ipv4_addresses() {
        let f = build(&FrameSpec::defaults([2, 0, 0, 0, 0, 1], 60));
        let mut e = f.clone();
        swap_addresses(&mut e);
        assert_eq!(&e[0..6], &f[6..12]);
        assert_eq!(&e[6..12], &f[0..6]);
        assert_eq!(&e[26..30], &f[30..34]);
        assert_eq!(&e[30..34], &f[26..30]);
        assert_eq!(&e[12..26], &f[12..26]);
        assert_eq!(&e[34..], &f[34..]);
        // The IPv4 header checksum still holds.
        assert_eq!(frame::inet_checksum(&e[14..34]), 0);
        // Not IPv4: only the MACs move.
        let mut other = f.clone();
        other[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut o = other.clone();
        swap_addresses(&mut o);
        assert_eq!(&o[12..], &other[12..]);
        let mut tiny = [1u8; 10];
        swap_addresses(&mut tiny);
        assert_eq!(tiny, [1u8; 10]);
    }

    #[test]
    fn window_counts_and_resets() {
        let mut w = Window::new();
        for ns in [5000, 7000, 9000] {
            w.add(ns);
        }
        assert_eq!((w.count, w.min, w.sum / w.count), (3, 5000, 7000));
        assert_eq!(w.hist.span(), Some((12, 13)));
        w.print_and_reset();
        assert_eq!((w.count, w.min, w.sum), (0, u64::MAX, 0));
        assert_eq!(w.hist.span(), None);
    }
}
