//! The open-latency table, with the targets next to the medians: each median comes with
//! its 95% interval (bootstrap over the cycles), and a target is met when the whole interval is
//! at or under it, missed when the whole interval is over it, undecided otherwise.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median_ci, quantile, MedianCi, Verdict};

use super::{ci_json, with_ci, Doc};
use crate::open::{Api, Case, OpenRun, PAUSE_MS};

/// Median (with its interval) and p90 of some cycle times.
#[derive(Clone, Copy)]
struct Stat {
    median: Option<MedianCi>,
    p90: Option<f64>,
}

impl Stat {
    fn of(v: &[f64]) -> Stat {
        Stat {
            median: median_ci(v),
            p90: quantile(v, 0.9),
        }
    }

    fn json(self) -> Json {
        Json::obj([
            ("median", Json::num(self.median.map(|c| c.median))),
            ("median_ci95", ci_json(self.median.as_ref())),
            ("p90", Json::num(self.p90)),
        ])
    }
}

/// What one run's figures are.
struct Figures {
    cycle: Stat,
    open: Stat,
    cold: Option<f64>,
}

fn figures(r: &OpenRun) -> Figures {
    let totals: Vec<f64> = r.cycles.iter().map(|c| c.total).collect();
    let opens: Vec<f64> = r.cycles.iter().filter_map(|c| c.open).collect();
    Figures {
        cycle: Stat::of(&totals),
        open: Stat::of(&opens),
        cold: totals.first().copied(),
    }
}

/// `met` / `missed` / `undecided` of a median's interval against "at most `target` ms"; `n/a`
/// without a median.
fn verdict(median: Option<MedianCi>, target: f64) -> &'static str {
    median.map_or("n/a", |c| Verdict::at_most(&c, target).as_str())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.2}"))
}

fn case_label(c: Case) -> &'static str {
    match c {
        Case::First => "first open (1-queue veth)",
        Case::OtherQueue => "another queue (2-queue veth, queue 0 held open)",
    }
}

fn api_label(a: Api) -> &'static str {
    match a {
        Api::Rust => "nmxdp, Rust API",
        Api::C => "nmxdp, C `nm_open` under LD_PRELOAD",
        Api::Raw => "raw AF_XDP socket (baseline)",
    }
}

/// The open-latency table into `doc` (failures and skips into its notes); `open_latency` of
/// results.json (null when the section did not run). Targets are reported, never failed on.
pub fn open_latency(doc: &mut Doc, runs: &[OpenRun], umem_mib: Option<u64>) -> Json {
    if runs.is_empty() {
        return Json::Null;
    }
    let cycles = runs.iter().map(|r| r.cycles.len()).max().unwrap_or(0);
    let _ = writeln!(
        doc.md,
        "Open latency (ms; {cycles} open+close cycles of one port per program, one process each, pinned to CPU {}; medians [95% interval over the cycles]; targets from issue 16 judged on the intervals):\n",
        crate::proc::cpus().tx
    );
    let _ = writeln!(
        doc.md,
        "| case | through | open+close median [95%] | p90 | open median [95%] | p90 | cycle 1 | target | open | open+close |"
    );
    let _ = writeln!(doc.md, "|---|---|---:|---:|---:|---:|---:|---|---|---|");
    let mut json = Vec::new();
    let mut last_case = None;
    for r in runs {
        let case = if last_case == Some(r.case) {
            ""
        } else {
            case_label(r.case)
        };
        last_case = Some(r.case);
        if let Some(why) = &r.skipped {
            let _ = writeln!(
                doc.md,
                "| {case} | {} | skipped | | | | | | | |",
                api_label(r.api)
            );
            doc.notes.push(format!(
                "open latency, {} through {}: skipped: {why}",
                r.case.key(),
                r.api.key()
            ));
            json.push(entry(r, None));
            continue;
        }
        if let Some(e) = &r.error {
            doc.all_ok = false;
            doc.notes.push(format!(
                "open latency, {} through {} failed: {e}",
                r.case.key(),
                r.api.key()
            ));
        }
        let f = figures(r);
        let target = r.case.target_ms();
        let (t, vo, vc) = if r.api == Api::Raw {
            ("—".to_string(), "—".to_string(), "—".to_string())
        } else {
            (
                format!("≤ {target:.0} ms"),
                format!("**{}**", verdict(f.open.median, target)),
                format!("**{}**", verdict(f.cycle.median, target)),
            )
        };
        let _ = writeln!(
            doc.md,
            "| {case} | {} | {} | {} | {} | {} | {} | {t} | {vo} | {vc} |",
            api_label(r.api),
            with_ci(f.cycle.median.as_ref(), 2),
            ms(f.cycle.p90),
            with_ci(f.open.median.as_ref(), 2),
            ms(f.open.p90),
            ms(f.cold),
        );
        json.push(entry(r, Some(&f)));
    }
    doc.md.push('\n');
    doc.notes.push(format!(
        "open latency: `open` is the open call alone (`nmxdp::Port::open`, `nm_open`), `open+close` adds the drop / `nm_close`; p90 by nearest rank; cycles {PAUSE_MS} ms apart; `cycle 1` is a process's first cycle, which also pays what a process pays once: the first registration of a UMEM faults in all its pages (see the raw row), and nmxdp maps its region then; the targets (first open ≤ 5 ms, another queue ≤ 1 ms) are judged on the median's 95% interval (met: its upper bound is within the target; missed: its lower bound is over it; undecided otherwise), reported, never failed on"
    ));
    doc.notes.push(format!(
        "open latency baseline: a bare AF_XDP socket (socket, UMEM registration, rings and their mappings, bind) with nmxdp's default UMEM ({}) and ring sizes and no XDP program; in the second case it shares the UMEM a socket on queue 0 registered, as nmxdp's later queues do. Closing a bound AF_XDP socket costs milliseconds in the kernel itself: compare its two columns",
        umem_mib.map_or("size n/a".into(), |m| format!("{m} MiB"))
    ));
    Json::obj([
        ("cycles", Json::Int(cycles as i64)),
        ("pause_ms", Json::Int(PAUSE_MS as i64)),
        (
            "targets_ms",
            Json::obj([Case::First, Case::OtherQueue].map(|c| (c.key(), Json::Num(c.target_ms())))),
        ),
        ("results", Json::Arr(json)),
    ])
}

/// One run's entry in results.json.
fn entry(r: &OpenRun, f: Option<&Figures>) -> Json {
    let target = (r.api != Api::Raw).then(|| r.case.target_ms());
    let v = |m: Option<MedianCi>| match (f, target) {
        (Some(_), Some(t)) => Json::str(verdict(m, t)),
        _ => Json::Null,
    };
    Json::obj([
        ("case", Json::str(r.case.key())),
        ("api", Json::str(r.api.key())),
        ("opens", Json::str(r.what.clone())),
        ("ok", Json::Bool(r.error.is_none() && r.skipped.is_none())),
        ("error", r.error.clone().map_or(Json::Null, Json::Str)),
        ("skipped", r.skipped.clone().map_or(Json::Null, Json::Str)),
        ("cycle_ms", f.map_or(Json::Null, |f| f.cycle.json())),
        ("open_ms", f.map_or(Json::Null, |f| f.open.json())),
        ("cycle1_ms", Json::num(f.and_then(|f| f.cold))),
        ("target_ms", Json::num(target)),
        ("verdict_open", v(f.and_then(|f| f.open.median))),
        ("verdict_cycle", v(f.and_then(|f| f.cycle.median))),
        (
            "cycles_ms",
            Json::Arr(r.cycles.iter().map(|c| Json::num(Some(c.total))).collect()),
        ),
        (
            "open_cycles_ms",
            Json::Arr(r.cycles.iter().map(|c| Json::num(c.open)).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let ci = |lo, hi| {
            Some(MedianCi {
                median: (lo + hi) / 2.0,
                lo,
                hi,
                n: 50,
            })
        };
        assert_eq!(verdict(ci(0.8, 0.9), 1.0), "met");
        assert_eq!(verdict(ci(0.9, 1.0), 1.0), "met");
        assert_eq!(verdict(ci(0.9, 1.1), 1.0), "undecided");
        assert_eq!(verdict(ci(48.0, 52.0), 5.0), "missed");
        assert_eq!(verdict(None, 5.0), "n/a");
        let s = Stat::of(&[3.0, 1.0, 2.0]);
        assert_eq!(s.median.map(|c| c.median), Some(2.0));
        assert_eq!(s.p90, Some(3.0));
    }
}
