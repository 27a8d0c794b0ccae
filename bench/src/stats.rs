//! Small statistics helpers, and the confidence intervals the report's verdicts rest on.
//!
//! Every comparison of the report (throughput, latency, scaling, steering, host path) is made
//! the same way, by [`Comparison`]: each run of one row is paired with the other row's run(s)
//! next to it in time ([`paired_ratios`]), and the ratio is the median of those per-pair ratios
//! with a percentile-bootstrap 95% interval of that median, judged against its target (if any)
//! as met, missed or undecided ([`Verdict`]). The bootstrap draws from a fixed seed, so analysing
//! the same runs again gives the same interval.

/// Median of the values (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The `q`-quantile (0 < q ≤ 1) by nearest rank: the smallest value with at least `q` of the
/// values at or below it, so p90 of 50 samples is the 45th smallest. `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `a / b` when both exist and `b` is positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Resamples of the bootstrap; 2000 puts the 2.5% and 97.5% points on stable ranks.
pub const RESAMPLES: usize = 2000;

/// The bootstrap's seed: fixed, so the same data always gives the same interval.
pub const SEED: u64 = 0x6e6d_7864_7031_3730;

/// A median and a confidence interval for it, from `n` values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianCi {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

/// The median of `values` with its 95% percentile-bootstrap interval ([`RESAMPLES`] resamples,
/// seed [`SEED`]); `None` without finite values.
pub fn median_ci(values: &[f64]) -> Option<MedianCi> {
    bootstrap_median_ci(values, RESAMPLES, SEED, 0.95)
}

/// The median of the finite `values` and the `level` percentile-bootstrap interval of it:
/// `resamples` samples of the same size drawn with replacement (splitmix64 from `seed`), the
/// interval between the (1 - level)/2 and (1 + level)/2 points of their medians.
pub fn bootstrap_median_ci(
    values: &[f64],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<MedianCi> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let med = median(&v)?;
    let n = v.len();
    let mut rng = SplitMix64(seed);
    let mut sample = vec![0.0; n];
    let mut medians: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            for x in sample.iter_mut() {
                *x = v[(rng.next() % n as u64) as usize];
            }
            median(&sample).unwrap_or(med)
        })
        .collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    let b = medians.len();
    let lo_i = ((tail * b as f64).floor() as usize).min(b - 1);
    let hi_i = (((1.0 - tail) * b as f64).ceil() as usize).clamp(1, b) - 1;
    Some(MedianCi {
        median: med,
        lo: medians[lo_i].min(med),
        hi: medians[hi_i].max(med),
        n,
    })
}

/// One run's figure in a comparison: the repetition it belongs to, its place in the section's
/// run order (`seq`, consecutive runs differ by 1), and its value (`None` for a failed run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub rep: usize,
    pub seq: usize,
    pub value: Option<f64>,
}

/// The per-pair ratios `a / b`, one per run of `a` with a positive value: the run is divided by
/// the geometric mean of `b`'s runs right before and right after it in the run order (both
/// orders, so a drift of the machine across the three runs cancels); when the order put no run
/// of `b` next to it, by the geometric mean of `b`'s runs of the same repetition; skipped when
/// neither exists. Consecutive runs share a slow or fast phase of the machine far more than
/// runs two or more places apart, which is why the neighbours come first.
pub fn paired_ratios(a: &[Sample], b: &[Sample]) -> Vec<f64> {
    let ok = |s: &&Sample| s.value.is_some_and(|v| v > 0.0 && v.is_finite());
    a.iter()
        .filter(ok)
        .filter_map(|x| {
            let near: Vec<f64> = b
                .iter()
                .filter(ok)
                .filter(|y| y.seq + 1 == x.seq || x.seq + 1 == y.seq)
                .filter_map(|y| y.value)
                .collect();
            let base = if near.is_empty() {
                b.iter()
                    .filter(ok)
                    .filter(|y| y.rep == x.rep)
                    .filter_map(|y| y.value)
                    .collect()
            } else {
                near
            };
            let g = geomean(&base)?;
            Some(x.value? / g)
        })
        .collect()
}

/// Geometric mean of positive values; `None` when empty.
fn geomean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// What a ratio is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// Higher is better: at least this.
    AtLeast(f64),
    /// Lower is better: at most this.
    AtMost(f64),
}

impl Goal {
    /// "≥ 0.95" / "≤ 1.20".
    pub fn label(self) -> String {
        match self {
            Goal::AtLeast(t) => format!("≥ {t:.2}"),
            Goal::AtMost(t) => format!("≤ {t:.2}"),
        }
    }

    pub fn target(self) -> f64 {
        match self {
            Goal::AtLeast(t) | Goal::AtMost(t) => t,
        }
    }

    /// The verdict of an interval against this goal.
    pub fn judge(self, ci: &MedianCi) -> Verdict {
        match self {
            Goal::AtLeast(t) => Verdict::at_least(ci, t),
            Goal::AtMost(t) => Verdict::at_most(ci, t),
        }
    }
}

/// One row against another: the per-pair ratios, their median with its interval, and the
/// verdict when there is a goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub pairs: Vec<f64>,
    pub ci: Option<MedianCi>,
    pub goal: Option<Goal>,
    pub verdict: Option<Verdict>,
}

impl Comparison {
    /// `a` against `b` ([`paired_ratios`], [`median_ci`]), judged against `goal`.
    pub fn new(a: &[Sample], b: &[Sample], goal: Option<Goal>) -> Comparison {
        let pairs = paired_ratios(a, b);
        let ci = median_ci(&pairs);
        let verdict = goal.zip(ci).map(|(g, c)| g.judge(&c));
        Comparison {
            pairs,
            ci,
            goal,
            verdict,
        }
    }

    /// "met" / "missed" / "undecided", "n/a" without data, "" without a goal.
    pub fn verdict_str(&self) -> &'static str {
        match (self.goal, self.verdict) {
            (None, _) => "",
            (Some(_), None) => "n/a",
            (Some(_), Some(v)) => v.as_str(),
        }
    }
}

/// splitmix64: a tiny generator, good enough to pick resampling indices.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A target judged on an interval rather than on a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is on the good side of the target.
    Met,
    /// The whole interval is on the bad side.
    Missed,
    /// The target lies inside the interval: these runs cannot tell.
    Undecided,
}

impl Verdict {
    /// A goal "at least `target`" (higher is better): met when the lower bound is ≥ target,
    /// missed when the upper bound is below it.
    pub fn at_least(ci: &MedianCi, target: f64) -> Verdict {
        if ci.lo >= target {
            Verdict::Met
        } else if ci.hi < target {
            Verdict::Missed
        } else {
            Verdict::Undecided
        }
    }

    /// A goal "at most `target`" (lower is better): met when the upper bound is ≤ target,
    /// missed when the lower bound is above it.
    pub fn at_most(ci: &MedianCi, target: f64) -> Verdict {
        if ci.hi <= target {
            Verdict::Met
        } else if ci.lo > target {
            Verdict::Missed
        } else {
            Verdict::Undecided
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::Undecided => "undecided",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
        assert_eq!(quantile(&[], 0.9), None);
        let fifty: Vec<f64> = (1..=50).rev().map(f64::from).collect();
        assert_eq!(quantile(&fifty, 0.9), Some(45.0));
        assert_eq!(quantile(&[2.0, 1.0, 3.0], 0.9), Some(3.0));
        assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
        assert_eq!(ratio(Some(1.0), Some(2.0)), Some(0.5));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }

    #[test]
    fn bootstrap_on_known_data() {
        // Seven distinct values: a resample's median falls at or below the smallest value only
        // when 4 of its 7 draws are that value (about 1%), at or below the second smallest with
        // about 10%: the 2.5% and 97.5% points are the 2nd and the 6th order statistics.
        let v = [5.0, 1.0, 7.0, 3.0, 2.0, 6.0, 4.0];
        let ci = median_ci(&v).unwrap();
        assert_eq!(
            ci,
            MedianCi {
                median: 4.0,
                lo: 2.0,
                hi: 6.0,
                n: 7
            }
        );
        // Reproducible: the same data gives the same interval.
        assert_eq!(median_ci(&v), Some(ci));
        // Constant data, a single value, nothing.
        let c = median_ci(&[2.5; 9]).unwrap();
        assert_eq!((c.median, c.lo, c.hi, c.n), (2.5, 2.5, 2.5, 9));
        let one = median_ci(&[f64::NAN, 3.0]).unwrap();
        assert_eq!((one.median, one.lo, one.hi, one.n), (3.0, 3.0, 3.0, 1));
        assert_eq!(median_ci(&[]), None);
        // 101 evenly spread values: the median's standard error is about 1.25 σ / √n ≈ 3.6, so
        // the interval is about 50 ± 7, well inside the range.
        let many: Vec<f64> = (0..=100).map(f64::from).collect();
        let m = median_ci(&many).unwrap();
        assert_eq!(m.median, 50.0);
        assert!((38.0..=46.0).contains(&m.lo), "{m:?}");
        assert!((54.0..=62.0).contains(&m.hi), "{m:?}");
        // Another seed gives a close, not necessarily equal, interval.
        let other = bootstrap_median_ci(&many, RESAMPLES, 1, 0.95).unwrap();
        assert!((other.lo - m.lo).abs() <= 3.0 && (other.hi - m.hi).abs() <= 3.0);
    }

    #[test]
    fn pairs_and_verdicts() {
        let s = |rep, seq, v: Option<f64>| Sample { rep, seq, value: v };
        // Run order: b a b | a b (rep 0), then a alone in rep 2 with b of rep 2 far away.
        let a = [
            s(0, 1, Some(2.0)),
            s(1, 3, Some(3.0)),
            s(2, 10, Some(8.0)),
            s(2, 12, None),
            s(3, 20, Some(1.0)),
        ];
        let b = [
            s(0, 0, Some(1.0)),
            s(0, 2, Some(4.0)),
            s(1, 4, Some(3.0)),
            s(2, 15, Some(2.0)),
            s(2, 17, Some(8.0)),
            s(3, 21, Some(0.0)),
        ];
        // 2 / sqrt(1 * 4); 3 / 3 (b at seq 2 is next to it too: sqrt(4 * 3)); 8 / sqrt(2 * 8)
        // (no neighbour: same repetition); the failed run and the one whose only partner is 0
        // drop out.
        let r = paired_ratios(&a, &b);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!((r[0] - 1.0).abs() < 1e-12);
        assert!((r[1] - 3.0 / 12f64.sqrt()).abs() < 1e-12);
        assert!((r[2] - 2.0).abs() < 1e-12);
        let c = Comparison::new(&a, &b, Some(Goal::AtLeast(0.5)));
        assert_eq!(c.pairs.len(), 3);
        assert_eq!(c.verdict, Some(Verdict::Met));
        assert_eq!(c.verdict_str(), "met");
        let none = Comparison::new(&a, &b, None);
        assert_eq!((none.verdict, none.verdict_str()), (None, ""));
        let empty = Comparison::new(&[], &b, Some(Goal::AtMost(1.0)));
        assert_eq!((empty.ci, empty.verdict_str()), (None, "n/a"));
        assert_eq!(Goal::AtMost(1.2).label(), "≤ 1.20");
        let ci = |lo, hi| MedianCi {
            median: (lo + hi) / 2.0,
            lo,
            hi,
            n: 7,
        };
        assert_eq!(Verdict::at_least(&ci(0.95, 1.1), 0.95), Verdict::Met);
        assert_eq!(Verdict::at_least(&ci(0.96, 1.1), 0.95), Verdict::Met);
        assert_eq!(Verdict::at_least(&ci(0.90, 0.97), 0.95), Verdict::Undecided);
        assert_eq!(Verdict::at_least(&ci(0.90, 0.95), 0.95), Verdict::Undecided);
        assert_eq!(Verdict::at_least(&ci(0.80, 0.94), 0.95), Verdict::Missed);
        assert_eq!(Verdict::at_most(&ci(0.5, 1.0), 1.0), Verdict::Met);
        assert_eq!(Verdict::at_most(&ci(0.5, 1.2), 1.0), Verdict::Undecided);
        assert_eq!(Verdict::at_most(&ci(1.0, 1.2), 1.0), Verdict::Undecided);
        assert_eq!(Verdict::at_most(&ci(1.1, 1.2), 1.0), Verdict::Missed);
        assert_eq!(Verdict::Undecided.as_str(), "undecided");
    }
}
