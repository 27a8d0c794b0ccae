//! The steering section: receive rate per number of rule alternatives, the per-packet filter
//! cost against no steering (difference of the median per-packet times) and the rate ratio (a
//! [`Comparison`]: median of the per-pair ratios, each run paired with the no-rule runs right
//! before and after it, with its 95% interval).

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, Comparison, Sample};

use super::{ci_json, compare, f3, with_ci, Doc};
use crate::steer::SteerRuns;

pub fn steer(doc: &mut Doc, s: Option<&SteerRuns>) -> Json {
    let Some(s) = s else {
        return Json::Null;
    };
    let rx = |runs: &[crate::run::Run]| -> Vec<Sample> {
        runs.iter().map(|r| r.sample(r.rx_pps)).collect()
    };
    let med = |v: &[Sample]| median(&v.iter().filter_map(|s| s.value).collect::<Vec<_>>());
    let base = s.rows.iter().find(|(k, _)| *k == 0).map(|(_, r)| rx(r));
    let base_med = base.as_deref().and_then(med);
    let _ = writeln!(
        doc.md,
        "Steering (NMXDP_STEER; pkt-gen -f rx on one queue, 60 B UDP to port 1234 matching the last alternative of `udp and dst port P or ...`, so every frame is checked against all; {} repetition(s) of {} frames, every rule's run between two runs without one, pinned as above):\n",
        s.reps, s.frames
    );
    let _ = writeln!(
        doc.md,
        "| steering | alternatives checked per frame | rx Mpps (median) | filter cost per packet | rx rate / no steering [95% CI] |"
    );
    let _ = writeln!(doc.md, "|---|---|---|---|---|");
    let mut out = Vec::new();
    for (k, runs) in &s.rows {
        for e in runs.iter().filter_map(|r| r.error.as_deref()) {
            doc.notes
                .push(format!("steer run ({k} alternatives) failed: {e}"));
            doc.all_ok = false;
        }
        let rates = rx(runs);
        let m = med(&rates);
        let cost_ns = match (m, base_med) {
            (Some(m), Some(b)) if *k > 0 => Some(1e9 / m - 1e9 / b),
            _ => None,
        };
        let cmp = base
            .as_ref()
            .filter(|_| *k > 0)
            .map(|b| Comparison::new(&rates, b, None));
        let ci = cmp.as_ref().and_then(|c| c.ci);
        let name = if *k == 0 {
            "none (no NMXDP_STEER)".to_string()
        } else {
            format!("{k} rule alternative(s)")
        };
        let _ = writeln!(
            doc.md,
            "| {name} | {k} | {} | {} | {} |",
            f3(m.map(|p| p / 1e6)),
            cost_ns.map_or("—".into(), |c| format!("{c:.1} ns")),
            if *k == 0 {
                "1".into()
            } else {
                with_ci(ci.as_ref(), 3)
            }
        );
        out.push(Json::obj([
            ("alternatives", Json::Int(*k as i64)),
            ("rx_mpps_median", Json::num(m.map(|p| p / 1e6))),
            ("filter_ns_per_packet", Json::num(cost_ns)),
            ("rx_ratio_to_none", ci_json(ci.as_ref())),
            (
                "comparison",
                cmp.as_ref().map_or(Json::Null, |c| {
                    compare::json(vec![("row", Json::Int(*k as i64)), ("vs", Json::Int(0))], c)
                }),
            ),
            ("runs", Json::Arr(runs.iter().map(|r| r.json()).collect())),
        ]));
    }
    doc.md.push('\n');
    Json::obj([
        ("frames_per_run", Json::Int(s.frames as i64)),
        ("repetitions", Json::Int(s.reps as i64)),
        ("rows", Json::Arr(out)),
    ])
}
