//! Round-trip statistics of the ping-pong programs, and the `latency:` line every one of them
//! prints as the ping side finishes:
//!
//! ```text
//! latency: rtts=2000 lost=0 min_ns=5120 p50_ns=6400 p99_ns=9100 avg_ns=6550 max_ns=40960 rate=151234.5
//! ```
//!
//! `rtts` round trips measured (warm-up excluded, see [`warmup`]), `lost` pings that got no echo
//! within the resend timeout, nanosecond integers over the measured RTTs (p50/p99 by nearest
//! rank on the exact sorted samples), `rate` round trips per second over the measured interval.
//! pkt-gen's `-f ping` and the bench's comparison programs print it through [`format_latency`];
//! the bench harness reads it with [`parse_latency`]. Also upstream pkt-gen's power-of-two RTT
//! histogram ([`Pow2Histogram`]).

/// Resend timeout of the ping side: a ping with no echo after this long is lost.
pub const RESEND_TIMEOUT_NS: u64 = 100_000_000;

/// Round trips done before measuring: the first 1% of `n`, at least 10.
pub fn warmup(n: u64) -> u64 {
    (n / 100).max(10)
}

/// The `pct`-th percentile (1..=100) of ascending `sorted` by nearest rank: the smallest sample
/// with at least `pct`% of the samples at or below it, rank `ceil(n * pct / 100)` in integers
/// (p99 of 2000 samples is the 1980th smallest). 0 when empty.
pub fn nearest_rank(sorted: &[u64], pct: u32) -> u64 {
    let n = sorted.len() as u128;
    if n == 0 {
        return 0;
    }
    let rank = (n * pct.min(100) as u128).div_ceil(100).max(1);
    sorted[rank as usize - 1]
}

/// What the `latency:` line says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub rtts: u64,
    pub lost: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub avg_ns: u64,
    pub max_ns: u64,
    /// Round trips per second over the measured interval.
    pub rate: f64,
}

impl Latency {
    /// The statistics of `samples` (RTTs in ns, any order: sorted in place), `lost` pings and
    /// `secs` of measuring (0 or less: rate 0).
    pub fn from_samples(samples: &mut [u64], lost: u64, secs: f64) -> Latency {
        samples.sort_unstable();
        let n = samples.len() as u64;
        let sum: u128 = samples.iter().map(|&s| s as u128).sum();
        Latency {
            rtts: n,
            lost,
            min_ns: samples.first().copied().unwrap_or(0),
            p50_ns: nearest_rank(samples, 50),
            p99_ns: nearest_rank(samples, 99),
            avg_ns: if n == 0 { 0 } else { (sum / n as u128) as u64 },
            max_ns: samples.last().copied().unwrap_or(0),
            rate: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        }
    }
}

/// The `latency:` line (no newline).
pub fn format_latency(l: &Latency) -> String {
    format!(
        "latency: rtts={} lost={} min_ns={} p50_ns={} p99_ns={} avg_ns={} max_ns={} rate={:.1}",
        l.rtts, l.lost, l.min_ns, l.p50_ns, l.p99_ns, l.avg_ns, l.max_ns, l.rate
    )
}

/// The first `latency:` line of `text` (a program's whole stdout), or None if there is none or
/// it lacks a field.
pub fn parse_latency(text: &str) -> Option<Latency> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("latency:"))?;
    let mut out = Latency {
        rtts: 0,
        lost: 0,
        min_ns: 0,
        p50_ns: 0,
        p99_ns: 0,
        avg_ns: 0,
        max_ns: 0,
        rate: 0.0,
    };
    let mut seen = 0u8;
    for field in line.split_whitespace() {
        let (k, v) = field.split_once('=')?;
        let (slot, bit) = match k {
            "rtts" => (&mut out.rtts, 0),
            "lost" => (&mut out.lost, 1),
            "min_ns" => (&mut out.min_ns, 2),
            "p50_ns" => (&mut out.p50_ns, 3),
            "p99_ns" => (&mut out.p99_ns, 4),
            "avg_ns" => (&mut out.avg_ns, 5),
            "max_ns" => (&mut out.max_ns, 6),
            "rate" => {
                out.rate = v.parse().ok()?;
                seen |= 1 << 7;
                continue;
            }
            _ => continue,
        };
        *slot = v.parse().ok()?;
        seen |= 1 << bit;
    }
    (seen == u8::MAX).then_some(out)
}

/// Upstream pkt-gen's RTT histogram: bucket `k` counts the RTTs whose highest set bit is bit
/// `k`, i.e. in `[2^k, 2^(k+1))` ns (0 ns lands in bucket 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pow2Histogram {
    buckets: [u64; 64],
}

impl Default for Pow2Histogram {
    fn default() -> Self {
        Pow2Histogram { buckets: [0; 64] }
    }
}

impl Pow2Histogram {
    /// The bucket of `ns`.
    #[inline]
    pub fn bucket(ns: u64) -> usize {
        63 - (ns | 1).leading_zeros() as usize
    }

    #[inline]
    pub fn add(&mut self, ns: u64) {
        self.buckets[Self::bucket(ns)] += 1;
    }

    pub fn count(&self, k: usize) -> u64 {
        self.buckets[k]
    }

    pub fn clear(&mut self) {
        self.buckets = [0; 64];
    }

    /// Lowest and highest non-empty bucket; None when empty.
    pub fn span(&self) -> Option<(usize, usize)> {
        let lo = self.buckets.iter().position(|&c| c > 0)?;
        let hi = self.buckets.iter().rposition(|&c| c > 0)?;
        Some((lo, hi))
    }

    /// Upstream's two lines: `k: 2^lo .. 2^hi`, then a tab and each count from bucket `lo` to
    /// `hi` right-aligned in 6 columns (" %5d"). None when empty.
    pub fn format(&self) -> Option<String> {
        use std::fmt::Write;
        let (lo, hi) = self.span()?;
        let mut s = format!("k: {} .. {}\n\t", 1u64 << lo, 1u64 << hi);
        for c in &self.buckets[lo..=hi] {
            let _ = write!(s, " {c:5}");
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_one_percent_at_least_ten() {
        assert_eq!(warmup(0), 10);
        assert_eq!(warmup(500), 10);
        assert_eq!(warmup(2000), 20);
        assert_eq!(warmup(100_000), 1000);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=2000).collect();
        assert_eq!(nearest_rank(&v, 50), 1000);
        assert_eq!(nearest_rank(&v, 99), 1980);
        assert_eq!(nearest_rank(&v, 100), 2000);
        assert_eq!(nearest_rank(&v, 0), 1, "rank at least 1");
        assert_eq!(nearest_rank(&[7], 50), 7);
        assert_eq!(nearest_rank(&[7], 99), 7);
        assert_eq!(nearest_rank(&[], 50), 0);
        // 3 samples: p50 is the 2nd, p99 the 3rd.
        assert_eq!(nearest_rank(&[1, 2, 3], 50), 2);
        assert_eq!(nearest_rank(&[1, 2, 3], 99), 3);
        // 10 samples: the median is the 5th smallest (no interpolation).
        let t: Vec<u64> = (10..20).collect();
        assert_eq!(nearest_rank(&t, 50), 14);
        // Integer ranks: 101 samples, p99 is rank ceil(99.99) = 100.
        let u: Vec<u64> = (1..=101).collect();
        assert_eq!(nearest_rank(&u, 99), 100);
    }

    #[test]
    fn statistics_of_unsorted_samples() {
        // 100 samples: 98 of 1000 ns, one of 5000, one of 90000 (out of order).
        let mut s = vec![1000u64; 100];
        s[3] = 90_000;
        s[50] = 5000;
        let l = Latency::from_samples(&mut s, 2, 0.5);
        assert_eq!(l.rtts, 100);
        assert_eq!(l.lost, 2);
        assert_eq!((l.min_ns, l.p50_ns, l.max_ns), (1000, 1000, 90_000));
        // p99 of 100 is the 99th smallest: the 5000.
        assert_eq!(l.p99_ns, 5000);
        assert_eq!(l.avg_ns, (98 * 1000 + 5000 + 90_000) / 100);
        assert_eq!(l.rate, 200.0);
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "sorted in place");
        let empty = Latency::from_samples(&mut [], 1, 0.0);
        assert_eq!(
            (empty.rtts, empty.min_ns, empty.avg_ns, empty.rate),
            (0, 0, 0, 0.0)
        );
    }

    #[test]
    fn line_round_trip() {
        let l = Latency {
            rtts: 2000,
            lost: 1,
            min_ns: 5120,
            p50_ns: 6400,
            p99_ns: 9100,
            avg_ns: 6550,
            max_ns: 40960,
            rate: 151_234.46,
        };
        let s = format_latency(&l);
        assert_eq!(
            s,
            "latency: rtts=2000 lost=1 min_ns=5120 p50_ns=6400 p99_ns=9100 avg_ns=6550 max_ns=40960 rate=151234.5"
        );
        let p = parse_latency(&format!(
            "RTT over 2000 packets: min 5120 av 6550 ns\n{s}\n"
        ))
        .unwrap();
        assert_eq!(
            p,
            Latency {
                rate: 151_234.5,
                ..l
            }
        );
        assert_eq!(parse_latency("nothing here"), None);
        assert_eq!(parse_latency("latency: rtts=1 lost=0"), None);
        assert_eq!(
            parse_latency(&s.replace("p99_ns=9100", "p99_ns=x")),
            None,
            "a bad number"
        );
    }

    #[test]
    fn histogram_buckets_are_powers_of_two() {
        assert_eq!(Pow2Histogram::bucket(0), 0);
        assert_eq!(Pow2Histogram::bucket(1), 0);
        assert_eq!(Pow2Histogram::bucket(2), 1);
        assert_eq!(Pow2Histogram::bucket(3), 1);
        assert_eq!(Pow2Histogram::bucket(4096), 12);
        assert_eq!(Pow2Histogram::bucket(8191), 12);
        assert_eq!(Pow2Histogram::bucket(8192), 13);
        assert_eq!(Pow2Histogram::bucket(u64::MAX), 63);
        let mut h = Pow2Histogram::default();
        assert_eq!(h.format(), None);
        for ns in [5000, 6000, 7000, 9000, 40_000] {
            h.add(ns);
        }
        assert_eq!(h.span(), Some((12, 15)));
        assert_eq!(
            (h.count(12), h.count(13), h.count(14), h.count(15)),
            (3, 1, 0, 1)
        );
        assert_eq!(
            h.format().unwrap(),
            "k: 4096 .. 32768\n\t     3     1     0     1"
        );
        h.clear();
        assert_eq!(h.span(), None);
    }
}
