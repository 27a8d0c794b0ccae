//! The steering section: receive rate per number of rule alternatives, the per-packet filter
//! cost against no steering (difference of the median per-packet times) and the rate ratio (the
//! median of per-repetition ratios, with its 95% interval).

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, median_ci, paired_ratios};

use super::{ci_json, f3, with_ci, Doc};
use crate::steer::SteerRuns;

pub fn steer(doc: &mut Doc, s: Option<&SteerRuns>) -> Json {
    let Some(s) = s else {
        return Json::Null;
    };
    let rx = |runs: &[crate::run::Run]| -> Vec<Option<f64>> {
        runs.iter()
            .map(|r| r.error.is_none().then_some(r.rx_pps).flatten())
            .collect()
    };
    let med = |v: &[Option<f64>]| median(&v.iter().flatten().copied().collect::<Vec<_>>());
    let base = s.rows.iter().find(|(k, _)| *k == 0).map(|(_, r)| rx(r));
    let base_med = base.as_deref().and_then(med);
    let _ = writeln!(
        doc.md,
        "Steering (NMXDP_STEER; pkt-gen -f rx on one queue, 60 B UDP to port 1234 matching the last alternative of `udp and dst port P or ...`, so every frame is checked against all; {} repetition(s) of {} frames, rows rotated, pinned as above):\n",
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
        let ratios = base.as_ref().map_or(Vec::new(), |b| {
            paired_ratios(rates.iter().copied().zip(b.iter().copied()))
        });
        let ci = if *k > 0 { median_ci(&ratios) } else { None };
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
