//! pkt-gen `-p 1` against `-p 2` on the 2-queue pair: the median rates, and the gain as a
//! [`Comparison`] (median of the per-pair ratios with its 95% interval, no target).

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, Comparison};

use super::{ci_json, compare, f3, Doc};
use crate::reps::MqRuns;
use crate::run::Run;

/// Median over the successful runs of a rate, in Mpps.
fn med(runs: &[Run], f: fn(&Run) -> Option<f64>) -> Option<f64> {
    median(
        &runs
            .iter()
            .filter(|r| r.error.is_none())
            .filter_map(f)
            .collect::<Vec<_>>(),
    )
    .map(|p| p / 1e6)
}

/// Median tx and rx Mpps of one thread count.
struct Rates {
    threads: u32,
    tx: Option<f64>,
    rx: Option<f64>,
}

/// `b`'s rate over `a`'s, run by run.
fn gain(b: &[Run], a: &[Run], f: fn(&Run) -> Option<f64>) -> Comparison {
    let samples = |v: &[Run]| v.iter().map(|r| r.sample(f(r))).collect::<Vec<_>>();
    Comparison::new(&samples(b), &samples(a), None)
}

/// The scaling paragraph into `doc` (failures into its notes); `multiqueue` of results.json
/// (null when the 2-queue runs did not happen).
pub fn scaling(doc: &mut Doc, mq: &[MqRuns]) -> Json {
    if mq.is_empty() {
        return Json::Null;
    }
    let mut rates = Vec::new();
    let mut jm = Vec::new();
    for m in mq {
        let p = m.threads;
        let fails: Vec<&str> = m.runs.iter().filter_map(|r| r.error.as_deref()).collect();
        if !fails.is_empty() {
            doc.all_ok = false;
            for f in &fails {
                doc.notes.push(format!("2-queue -p {p} failed: {f}"));
            }
        }
        let (tx, rx) = (med(&m.runs, |r| r.tx_pps), med(&m.runs, |r| r.rx_pps));
        rates.push(Rates { threads: p, tx, rx });
        jm.push(Json::obj([
            ("threads", Json::Int(p as i64)),
            ("tx_mpps", Json::num(tx)),
            ("rx_mpps", Json::num(rx)),
            ("runs", Json::Arr(m.runs.iter().map(Run::json).collect())),
        ]));
    }
    let p1 = rates.iter().find(|x| x.threads == 1);
    let p2 = rates.iter().find(|x| x.threads == 2);
    let runs = |p: u32| mq.iter().find(|m| m.threads == p).map(|m| &m.runs[..]);
    let (stx, srx) = match (runs(1), runs(2)) {
        (Some(a), Some(b)) => (
            Some(gain(b, a, |r| r.tx_pps)),
            Some(gain(b, a, |r| r.rx_pps)),
        ),
        _ => (None, None),
    };
    let ci = |c: &Option<Comparison>| c.as_ref().and_then(|c| c.ci);
    let _ = writeln!(
        doc.md,
        "Scaling (2-queue veth, 60 B, pkt-gen, one thread per ring with -p 2, not pinned to CPUs; -p 1 and -p 2 alternate which runs first): -p 1: tx {} / rx {} Mpps; -p 2: tx {} / rx {} Mpps; -p 2 / -p 1, median of the per-pair ratios [95% interval]: tx ×{} rx ×{} (no target)\n",
        f3(p1.and_then(|x| x.tx)),
        f3(p1.and_then(|x| x.rx)),
        f3(p2.and_then(|x| x.tx)),
        f3(p2.and_then(|x| x.rx)),
        stx.as_ref().map_or("n/a".into(), |c| compare::summary(c, 2)),
        srx.as_ref().map_or("n/a".into(), |c| compare::summary(c, 2)),
    );
    Json::obj([
        ("frame", Json::Int(60)),
        ("queues", Json::Int(2)),
        ("pinned", Json::Bool(false)),
        ("results", Json::Arr(jm)),
        ("scaling_tx", Json::num(ci(&stx).map(|c| c.median))),
        ("scaling_rx", Json::num(ci(&srx).map(|c| c.median))),
        ("scaling_tx_ci", ci_json(ci(&stx).as_ref())),
        ("scaling_rx_ci", ci_json(ci(&srx).as_ref())),
        (
            "comparisons",
            Json::Arr(
                [("tx", &stx), ("rx", &srx)]
                    .into_iter()
                    .filter_map(|(d, c)| {
                        Some(compare::json(
                            vec![
                                ("row", Json::str("-p 2")),
                                ("vs", Json::str("-p 1")),
                                ("dir", Json::str(d)),
                            ],
                            c.as_ref()?,
                        ))
                    })
                    .collect(),
            ),
        ),
    ])
}
