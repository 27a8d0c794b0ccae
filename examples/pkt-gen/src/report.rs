//! Counters shared between worker threads and the reporter, and pkt-gen's periodic report line.
//! The final summary's format is [`pkt_gen::summary`], shared with the bench.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::Release};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pkt_gen::gaps::Gaps;
use pkt_gen::summary::{format_summary, norm};

/// `min_space` after the reporter has reset it (upstream's "nothing seen" value).
pub const MIN_SPACE_RESET: u64 = 99999;

/// One worker thread's counters. Only the worker writes `pkts`/`bytes`/`events` (plain stores);
/// the reporter reads them and resets `min_space`.
#[derive(Debug)]
pub struct Counters {
    pub pkts: AtomicU64,
    pub bytes: AtomicU64,
    pub events: AtomicU64,
    /// Lowest free RX space seen since the last report (starts at 0, like upstream).
    pub min_space: AtomicU64,
    pub verify_ok: AtomicU64,
    pub verify_bad: AtomicU64,
    pub done: AtomicBool,
    /// When traffic started / ended for this thread.
    pub tic: Mutex<Option<Instant>>,
    pub toc: Mutex<Option<Instant>>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            pkts: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            events: AtomicU64::new(0),
            min_space: AtomicU64::new(0),
            verify_ok: AtomicU64::new(0),
            verify_bad: AtomicU64::new(0),
            done: AtomicBool::new(false),
            tic: Mutex::new(None),
            toc: Mutex::new(None),
        }
    }
}

impl Counters {
    /// Publishes the worker's running totals.
    #[inline]
    pub fn publish(&self, pkts: u64, bytes: u64, events: u64) {
        self.pkts.store(pkts, Relaxed);
        self.bytes.store(bytes, Relaxed);
        self.events.store(events, Relaxed);
    }

    pub fn set_tic(&self, t: Instant) {
        *self.tic.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }

    pub fn set_toc(&self, t: Instant) {
        *self.toc.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }

    pub fn tic(&self) -> Option<Instant> {
        *self.tic.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn toc(&self) -> Option<Instant> {
        *self.toc.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets `done` when dropped, so the reporter sees a worker finish even if it panicked.
pub struct DoneGuard<'a>(pub &'a Counters);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.done.store(true, Release);
    }
}

/// Totals over all threads at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub pkts: u64,
    pub bytes: u64,
    pub events: u64,
}

impl Snapshot {
    pub fn take(ctrs: &[std::sync::Arc<Counters>]) -> Snapshot {
        let mut s = Snapshot::default();
        for c in ctrs {
            s.pkts += c.pkts.load(Relaxed);
            s.bytes += c.bytes.load(Relaxed);
            s.events += c.events.load(Relaxed);
        }
        s
    }
}

/// What nmxdp and the kernel counted for one port, for `--stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Diag {
    pub port: nmxdp::PortStats,
    pub xsk: nmxdp::sys::xdp_statistics,
    /// The receiving threads' pauses (None when no thread measured them).
    pub gaps: Option<Gaps>,
}

impl Diag {
    /// Reads the port's counters and its sockets' `XDP_STATISTICS`.
    pub fn of(port: &nmxdp::Port) -> Diag {
        Diag {
            port: port.stats(),
            xsk: port.xdp_statistics(),
            gaps: None,
        }
    }

    pub fn add(&mut self, o: &Diag) {
        self.port += o.port;
        self.xsk += o.xsk;
        if let Some(g) = &o.gaps {
            self.gaps.get_or_insert_with(Gaps::default).merge(g);
        }
    }

    /// One stderr line.
    pub fn line(&self) -> String {
        let (p, x) = (&self.port, &self.xsk);
        format!(
            "nmxdp stats: tx_packets={} rx_packets={} tx_bad_slots={} rx_bad_slots={} copied_bytes={} \
             ring_reinits={} tx_kicks={}; xsk: rx_dropped={} rx_ring_full={} rx_fill_ring_empty={} \
             rx_invalid={} tx_invalid={} tx_ring_empty={}",
            p.tx_packets,
            p.rx_packets,
            p.tx_bad_slots,
            p.rx_bad_slots,
            p.copied_bytes,
            p.ring_reinits,
            p.tx_kicks,
            x.rx_dropped,
            x.rx_ring_full,
            x.rx_fill_ring_empty_descs,
            x.rx_invalid_descs,
            x.tx_invalid_descs,
            x.tx_ring_empty_descs
        )
    }
}

/// Lowest `min_space` over the threads, resetting each to [`MIN_SPACE_RESET`].
pub fn take_min_space(ctrs: &[std::sync::Arc<Counters>]) -> u64 {
    ctrs.iter()
        .map(|c| c.min_space.swap(MIN_SPACE_RESET, Relaxed))
        .fold(MIN_SPACE_RESET, u64::min)
}

/// The `D()` prefix: `SSS.UUUUUU` (seconds modulo 1000 and microseconds of the wall clock).
pub fn timestamp(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!("{:03}.{:06}", d.as_secs() % 1000, d.subsec_micros())
}

/// One periodic report line (stderr), for the interval `usec` long in which `delta` happened.
pub fn report_line(
    now: SystemTime,
    delta: Snapshot,
    usec: u64,
    min_space: u64,
    normalize: bool,
) -> String {
    let usec_f = usec.max(1) as f64;
    let pps = (delta.pkts as f64 * 1e6) / usec_f;
    let bps = (delta.bytes as f64 * 8.0 * 1e6) / usec_f;
    let avg = if delta.events > 0 {
        delta.pkts as f64 / delta.events as f64
    } else {
        0.0
    };
    format!(
        "{} main_thread [2781] {}pps ({}pkts {}bps in {} usec) {:.2} avg_batch {} min_space",
        timestamp(now),
        norm(pps, normalize),
        norm(delta.pkts as f64, normalize),
        norm(bps, normalize),
        usec,
        avg,
        min_space
    )
}

/// The final summary (stdout): `msg` is "Sent" or "Received". Two lines, or "<msg> nothing.".
pub fn summary(msg: &str, total: Snapshot, secs: f64, normalize: bool) -> String {
    format_summary(msg, total.pkts, total.bytes, total.events, secs, normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_format() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_123, 456_789_000);
        assert_eq!(timestamp(t), "123.456789");
        let t = UNIX_EPOCH + Duration::new(1_700_000_005, 7_000);
        assert_eq!(timestamp(t), "005.000007");
    }

    #[test]
    fn report_line_format() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_123, 456_789_000);
        let d = Snapshot {
            pkts: 1_234_000,
            bytes: 1_234_000 * 60,
            events: 2410,
        };
        assert_eq!(
            report_line(t, d, 1_000_000, 99999, true),
            "123.456789 main_thread [2781] 1.234 Mpps (1.234 Mpkts 592.320 Mbps in 1000000 usec) 512.03 avg_batch 99999 min_space"
        );
        let zero = Snapshot::default();
        assert_eq!(
            report_line(t, zero, 1_000_042, 0, true),
            "123.456789 main_thread [2781] 0.000 pps (0.000 pkts 0.000 bps in 1000042 usec) 0.00 avg_batch 0 min_space"
        );
    }

    #[test]
    fn summary_format() {
        let s = Snapshot {
            pkts: 1_234_000,
            bytes: 1_234_000 * 60,
            events: 2410,
        };
        assert_eq!(
            summary("Sent", s, 1.0, true),
            "Sent 1234000 packets 74040000 bytes 2410 events 60 bytes each in 1.00 seconds.\n\
             Speed: 1.234 Mpps Bandwidth: 592.320 Mbps (raw 829.248 Mbps). Average batch: 512.03 pkts"
        );
        assert_eq!(
            summary("Sent", Snapshot::default(), 1.0, true),
            "Sent nothing."
        );
        assert_eq!(
            summary("Received", Snapshot::default(), 0.0, true),
            "Received nothing."
        );
    }

    #[test]
    fn min_space_reset() {
        let ctrs: Vec<std::sync::Arc<Counters>> = (0..2).map(|_| Default::default()).collect();
        // First report: the initial 0 (upstream's TX prints 0 first, then 99999).
        assert_eq!(take_min_space(&ctrs), 0);
        assert_eq!(take_min_space(&ctrs), MIN_SPACE_RESET);
        ctrs[1].min_space.fetch_min(17, Relaxed);
        assert_eq!(take_min_space(&ctrs), 17);
    }
}
