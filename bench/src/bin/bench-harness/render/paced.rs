//! The paced-loss section: every run must deliver every frame; where the kernel dropped.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;

use super::Doc;
use crate::paced::{Drops, PacedRuns};

pub fn paced(doc: &mut Doc, p: Option<&PacedRuns>) -> Json {
    let Some(p) = p else {
        return Json::Null;
    };
    let lost = p.lost();
    let failed: Vec<&str> = p
        .runs
        .iter()
        .filter_map(|(r, _)| r.error.as_deref())
        .collect();
    for f in &failed {
        doc.notes.push(format!("paced run failed: {f}"));
    }
    if !failed.is_empty() {
        doc.all_ok = false;
    }
    let mut drops = Drops::default();
    for (_, d) in &p.runs {
        drops.add(*d);
    }
    let with_loss = lost.iter().filter(|&&l| l > 0).count();
    let total: u64 = lost.iter().sum();
    let worst = lost.iter().copied().max().unwrap_or(0);
    let verdict = if !failed.is_empty() || lost.is_empty() {
        "n/a"
    } else if with_loss == 0 {
        "met"
    } else {
        "missed"
    };
    let _ = writeln!(
        doc.md,
        "Paced (pkt-gen -R {} to a default 1024-slot port, {}; {} runs of {} frames of 60 B, sender and receiver pinned as above): {} of {} runs lost frames, {} lost in all (worst run {}); kernel drops (receiver's XDP_STATISTICS, summed): rx dropped {}, fill ring empty {}, RX ring full {}, invalid descriptors {}. Target: no loss in any run: **{verdict}**.\n",
        p.pps,
        p.rate_from,
        p.runs.len(),
        p.frames,
        with_loss,
        lost.len(),
        total,
        worst,
        drops.rx_dropped,
        drops.fill_empty,
        drops.ring_full,
        drops.invalid
    );
    Json::obj([
        ("pps", Json::Int(p.pps as i64)),
        ("rate_from", Json::str(p.rate_from.clone())),
        ("frames_per_run", Json::Int(p.frames as i64)),
        ("runs", Json::Int(p.runs.len() as i64)),
        ("failed_runs", Json::Int(failed.len() as i64)),
        ("runs_with_loss", Json::Int(with_loss as i64)),
        (
            "lost_per_run",
            Json::Arr(lost.iter().map(|&l| Json::Int(l as i64)).collect()),
        ),
        (
            "kernel_drops",
            Json::obj([
                ("rx_dropped", Json::Int(drops.rx_dropped as i64)),
                ("fill_ring_empty", Json::Int(drops.fill_empty as i64)),
                ("rx_ring_full", Json::Int(drops.ring_full as i64)),
                ("invalid_descs", Json::Int(drops.invalid as i64)),
            ]),
        ),
        ("verdict", Json::str(verdict)),
    ])
}
