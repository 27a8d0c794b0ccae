//! The latency table (one frame in flight, round-trip times) and the targets, as ratios
//! of median round trips, each a [`Comparison`] (median of the per-pair ratios, each run paired
//! with the baseline's runs next to it, with its 95% interval); lower is better, so a target is
//! met when the interval's upper bound is within it, missed when its lower bound is over it,
//! undecided otherwise.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, median_ci, Comparison, Goal, Sample};
use pkt_gen::latency::Latency;

use super::{ci_json, compare, with_ci, Doc};
use crate::latency::{LatCell, LatRow, LatRun, LatencyRuns, Via, Wait, ADDR_A, ADDR_B, LEN};

/// A goal: `a`'s median round trip is at most `target` times `b`'s.
struct Target {
    a: LatRow,
    b: LatRow,
    target: f64,
}

/// The targets for one nmxdp row family.
fn targets(via: Via) -> [Target; 3] {
    [
        Target {
            a: LatRow::new(via, Wait::Poll),
            b: LatRow::new(Via::XdpRaw, Wait::Poll),
            target: 1.2,
        },
        Target {
            a: LatRow::new(via, Wait::Poll),
            b: LatRow::new(Via::Udp, Wait::Poll),
            target: 1.0,
        },
        Target {
            a: LatRow::new(via, Wait::Busy),
            b: LatRow::new(Via::XdpRaw, Wait::Busy),
            target: 1.1,
        },
    ]
}

/// One figure of every successful run, in nanoseconds (or round trips/s for the rate).
fn figures(c: &LatCell, f: fn(&Latency) -> f64) -> Vec<f64> {
    c.runs.iter().filter_map(LatRun::ok).map(f).collect()
}

/// Every run's median round trip in ns with its place in the run order, `None` for a failed run.
fn p50s(c: &LatCell) -> Vec<Sample> {
    c.runs
        .iter()
        .map(|r| Sample {
            rep: r.rep,
            seq: r.seq,
            value: r.ok().map(|l| l.p50_ns as f64),
        })
        .collect()
}

fn us(ns: Option<f64>) -> String {
    ns.map_or("n/a".into(), |v| format!("{:.2}", v / 1e3))
}

/// The latency section into `doc` (failures and skips into its notes); `latency` of
/// results.json (null when the section did not run).
pub fn latency(doc: &mut Doc, runs: Option<&LatencyRuns>) -> Json {
    let Some(lr) = runs else {
        return Json::Null;
    };
    let c = crate::proc::cpus();
    let _ = writeln!(
        doc.md,
        "Latency (one {LEN}-byte frame in flight between a ping in namespace A, pinned to CPU {}, and a pong in B, pinned to CPU {}, on a 1-queue veth pair of its own; {} round trips measured per run after a warm-up; µs, medians over the repetitions of each run's figure, the median with its 95% interval):\n",
        c.tx, c.rx, lr.rtts
    );
    let _ = writeln!(
        doc.md,
        "| row | min µs | median µs [95%] | p99 µs | avg µs | round trips/s | lost |"
    );
    let _ = writeln!(doc.md, "|---|---:|---:|---:|---:|---:|---:|");
    let rows: Vec<Json> = lr.cells.iter().map(|c| row(doc, c)).collect();
    doc.md.push('\n');
    let mut lines = Vec::new();
    let mut ratios = Vec::new();
    for via in [Via::NmxdpRust, Via::NmxdpC] {
        for t in targets(via) {
            let (Some(a), Some(b)) = (ran(lr, t.a), ran(lr, t.b)) else {
                continue;
            };
            let (l, j) = compare(a, b, &t);
            lines.push(l);
            ratios.push(j);
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(
            doc.md,
            "Latency ratios: median round trip over the baseline's, median of the per-pair ratios [95% interval], each run paired with the baseline's runs right before and after it, or of its repetition when not adjacent; a target is met when the interval's upper bound is within it, missed when its lower bound is over it, undecided otherwise:\n"
        );
        for l in &lines {
            let _ = writeln!(doc.md, "{l}");
        }
        doc.md.push('\n');
    }
    doc.notes.push(format!(
        "latency: `poll` sleeps in poll() on both sides (nmxdp: netmap's poll on the port; xdp-raw: poll(2) on the AF_XDP socket), `busy` spins on NIOCTXSYNC/NIOCRXSYNC, `spin` on the AF_XDP RX ring (TX kicked with sendto when the kernel asks), `udp` blocks in recv on kernel UDP sockets ({ADDR_A} to {ADDR_B}); the first 1% of round trips (at least 10) are warm-up; p50/p99 by nearest rank on each run's exact samples; a ping without an echo within 100 ms is lost and another sent; the XDP program is on the pair only while an AF_XDP row's programs run (they hold its bpf_link), and the udp row starts only once none is attached"
    ));
    Json::obj([
        ("rtts_per_run", Json::Int(lr.rtts as i64)),
        ("frame", Json::Int(LEN as i64)),
        (
            "addresses",
            Json::obj([("a", Json::str(ADDR_A)), ("b", Json::str(ADDR_B))]),
        ),
        ("rows", Json::Arr(rows)),
        ("ratios", Json::Arr(ratios)),
    ])
}

/// The cell of `row` when it ran.
fn ran(lr: &LatencyRuns, row: LatRow) -> Option<&LatCell> {
    lr.cells
        .iter()
        .find(|c| c.row == row && c.skipped.is_none())
}

/// One table line and its results.json entry.
fn row(doc: &mut Doc, c: &LatCell) -> Json {
    let name = c.row.name();
    if let Some(why) = &c.skipped {
        let _ = writeln!(doc.md, "| {name} | skipped | | | | | |");
        doc.notes.push(format!("latency {name} skipped: {why}"));
        return entry(c, "skipped");
    }
    let fails: Vec<&str> = c.runs.iter().filter_map(|r| r.error.as_deref()).collect();
    let status = if fails.is_empty() {
        String::new()
    } else {
        doc.all_ok = false;
        format!(" ({} of {} runs FAILED)", fails.len(), c.runs.len())
    };
    for f in &fails {
        doc.notes.push(format!("latency {name} failed: {f}"));
    }
    let med = |f: fn(&Latency) -> f64| median(&figures(c, f));
    let p50 = median_ci(&figures(c, |l| l.p50_ns as f64 / 1e3));
    let lost: u64 = c.runs.iter().filter_map(LatRun::ok).map(|l| l.lost).sum();
    let _ = writeln!(
        doc.md,
        "| {name}{status} | {} | {} | {} | {} | {} | {lost} |",
        us(med(|l| l.min_ns as f64)),
        with_ci(p50.as_ref(), 2),
        us(med(|l| l.p99_ns as f64)),
        us(med(|l| l.avg_ns as f64)),
        med(|l| l.rate).map_or("n/a".into(), |r| format!("{r:.0}")),
    );
    entry(c, if fails.is_empty() { "ok" } else { "failed" })
}

/// A row's entry in results.json: medians over the runs (ns, round trips/s) and every run.
fn entry(c: &LatCell, status: &str) -> Json {
    let med = |f: fn(&Latency) -> f64| Json::num(median(&figures(c, f)));
    Json::obj([
        ("row", Json::str(c.row.name())),
        ("via", Json::str(c.row.via.key())),
        ("wait", Json::str(c.row.wait_key())),
        ("status", Json::str(status)),
        ("note", c.skipped.clone().map_or(Json::Null, Json::Str)),
        ("min_ns", med(|l| l.min_ns as f64)),
        ("p50_ns", med(|l| l.p50_ns as f64)),
        (
            "p50_ns_ci95",
            ci_json(median_ci(&figures(c, |l| l.p50_ns as f64)).as_ref()),
        ),
        ("p99_ns", med(|l| l.p99_ns as f64)),
        ("avg_ns", med(|l| l.avg_ns as f64)),
        ("rate", med(|l| l.rate)),
        (
            "lost",
            Json::int(Some(
                c.runs.iter().filter_map(LatRun::ok).map(|l| l.lost).sum(),
            )),
        ),
        ("runs", Json::Arr(c.runs.iter().map(LatRun::json).collect())),
    ])
}

/// Cell `a` against cell `b`: their median round trips compared run by run, judged against
/// "at most `t.target`".
fn compare(a: &LatCell, b: &LatCell, t: &Target) -> (String, Json) {
    let c = Comparison::new(&p50s(a), &p50s(b), Some(Goal::AtMost(t.target)));
    let line = format!(
        "- {} / {}: {}",
        a.row.name(),
        b.row.name(),
        compare::summary(&c, 3)
    );
    let json = compare::json(
        vec![
            ("row", Json::str(a.row.name())),
            ("vs", Json::str(b.row.name())),
            ("of", Json::str("p50_ns")),
        ],
        &c,
    );
    (line, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p50: u64) -> LatRun {
        LatRun {
            lat: Some(Latency {
                rtts: 100,
                lost: 1,
                min_ns: p50 / 2,
                p50_ns: p50,
                p99_ns: 2 * p50,
                avg_ns: p50,
                max_ns: 3 * p50,
                rate: 1e9 / p50 as f64,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn paired_ratio_verdicts() {
        // Repetition i: a's run at place 2i, b's at 2i + 1 (neighbours).
        let cell = |row, v: &[u64], first: usize| LatCell {
            row,
            runs: v
                .iter()
                .enumerate()
                .map(|(i, &p)| LatRun {
                    rep: i,
                    seq: 2 * i + first,
                    ..run(p)
                })
                .collect(),
            skipped: None,
        };
        let [poll, _, spin] = targets(Via::NmxdpRust);
        let a = cell(poll.a, &[10_000, 11_000, 12_000, 10_500, 11_500], 0);
        let b = cell(poll.b, &[10_000, 10_000, 10_000, 10_000, 10_000], 1);
        let (line, json) = compare(&a, &b, &poll);
        assert!(line.contains("**met**"), "{line}");
        assert!(
            line.starts_with("- nmxdp-rust poll / xdp-raw poll: 1.100"),
            "{line}"
        );
        let Json::Obj(kv) = json else { panic!() };
        assert!(kv.contains(&("pairs".into(), Json::Int(5))));
        // A failed run drops its repetition's pair.
        let mut a2 = cell(spin.a, &[20_000; 5], 0);
        a2.runs[0].error = Some("x".into());
        let b2 = cell(spin.b, &[10_000; 5], 1);
        let (line, _) = compare(&a2, &b2, &spin);
        assert!(
            line.contains("2.000 [2.000, 2.000] over 4 pair(s)"),
            "{line}"
        );
        assert!(line.contains("**missed**"), "{line}");
    }
}
