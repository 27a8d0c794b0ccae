//! pkt-gen `-p 1` against `-p 2` on the 2-queue pair.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, ratio};

use super::{f3, Doc};
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
    let (stx, srx) = match (p1, p2) {
        (Some(a), Some(b)) => (ratio(b.tx, a.tx), ratio(b.rx, a.rx)),
        _ => (None, None),
    };
    let _ = writeln!(
        doc.md,
        "Scaling (2-queue veth, 60 B, pkt-gen, one thread per ring with -p 2): -p 1: tx {} / rx {} Mpps; -p 2: tx {} / rx {} Mpps; -p 2 / -p 1: tx ×{} rx ×{}\n",
        f3(p1.and_then(|x| x.tx)),
        f3(p1.and_then(|x| x.rx)),
        f3(p2.and_then(|x| x.tx)),
        f3(p2.and_then(|x| x.rx)),
        stx.map_or("n/a".into(), |v| format!("{v:.2}")),
        srx.map_or("n/a".into(), |v| format!("{v:.2}")),
    );
    Json::obj([
        ("frame", Json::Int(60)),
        ("queues", Json::Int(2)),
        ("results", Json::Arr(jm)),
        ("scaling_tx", Json::num(stx)),
        ("scaling_rx", Json::num(srx)),
    ])
}
