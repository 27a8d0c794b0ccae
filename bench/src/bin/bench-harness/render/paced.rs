//! The paced-loss section: every run must deliver every frame; where the kernel dropped.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;

use super::Doc;
use pkt_gen::gaps::Pause;

use crate::paced::{Drops, PacedRuns};

pub fn paced(doc: &mut Doc, p: Option<&PacedRuns>) -> Json {
    let Some(p) = p else {
        return Json::Null;
    };
    let lost = p.lost();
    let failed: Vec<&str> = p
        .runs
        .iter()
        .filter_map(|r| r.run.error.as_deref())
        .collect();
    for f in &failed {
        doc.notes.push(format!("paced run failed: {f}"));
    }
    if !failed.is_empty() {
        doc.all_ok = false;
    }
    let mut drops = Drops::default();
    for r in &p.runs {
        drops.add(r.drops);
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
    let raw_md = raw_text(p);
    if !raw_md.is_empty() {
        let _ = writeln!(doc.md, "{raw_md}\n");
    }
    let gaps_md = gaps_text(p);
    if !gaps_md.is_empty() {
        let _ = writeln!(doc.md, "{gaps_md}\n");
    }
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
        (
            "receiver_gaps",
            Json::Arr(
                p.runs
                    .iter()
                    .map(|r| match (r.lost(), r.gaps) {
                        (Some(lost), Some(g)) => Json::obj([
                            ("lost", Json::Int(lost as i64)),
                            ("longest", pause_json(&g.longest)),
                            ("fullest", pause_json(&g.fullest)),
                            ("preemptions", Json::Int(g.preemptions as i64)),
                        ]),
                        _ => Json::Null,
                    })
                    .collect(),
            ),
        ),
        ("raw_baseline", raw_json(p)),
        ("verdict", Json::str(verdict)),
    ])
}

/// Frames lost per successful raw run, and the kernel's drops summed over them.
fn raw_losses(p: &PacedRuns) -> (Vec<u64>, Drops) {
    let mut drops = Drops::default();
    for r in &p.raw {
        drops.add(r.drops);
    }
    (p.raw.iter().filter_map(|r| r.lost()).collect(), drops)
}

/// The raw AF_XDP receiver's runs, interleaved with nmxdp's: how often the machine
/// made a receiver with no netmap layer lose.
fn raw_text(p: &PacedRuns) -> String {
    if p.raw.is_empty() {
        return String::new();
    }
    let (lost, drops) = raw_losses(p);
    let failed = p.raw.len() - lost.len();
    format!(
        "Baseline, interleaved with these runs: the raw AF_XDP receiver (xdp-raw, {} RX and fill entries = the default port's 2048 RX buffers, the same nap and socket-sleep policy), same sender and rate: {} of {} runs lost frames, {} lost in all (worst run {}), fill ring empty {}{}.",
        crate::paced::RAW_RX_RING,
        lost.iter().filter(|&&l| l > 0).count(),
        lost.len(),
        lost.iter().sum::<u64>(),
        lost.iter().copied().max().unwrap_or(0),
        drops.fill_empty,
        if failed > 0 {
            format!("; {failed} raw runs failed")
        } else {
            String::new()
        }
    )
}

fn raw_json(p: &PacedRuns) -> Json {
    if p.raw.is_empty() {
        return Json::Null;
    }
    let (lost, drops) = raw_losses(p);
    Json::obj([
        ("rx_ring", Json::Int(crate::paced::RAW_RX_RING as i64)),
        ("runs", Json::Int(p.raw.len() as i64)),
        (
            "runs_with_loss",
            Json::Int(lost.iter().filter(|&&l| l > 0).count() as i64),
        ),
        (
            "lost_per_run",
            Json::Arr(lost.iter().map(|&l| Json::Int(l as i64)).collect()),
        ),
        ("fill_ring_empty", Json::Int(drops.fill_empty as i64)),
    ])
}

fn pause_json(p: &Pause) -> Json {
    Json::obj([
        ("gap_us", Json::Int(p.gap.as_micros() as i64)),
        ("in_poll_us", Json::Int(p.in_wait.as_micros() as i64)),
        ("slots", Json::Int(p.slots as i64)),
    ])
}

/// The receivers' pauses between passes over their rings (pkt_gen::gaps): the longest per run
/// over all runs, and for each run that lost frames its longest and fullest pass, so a loss
/// shows whether its receiver ran.
fn gaps_text(p: &PacedRuns) -> String {
    let mut us: Vec<u128> = p
        .runs
        .iter()
        .filter_map(|r| r.gaps.map(|g| g.longest.gap.as_micros()))
        .collect();
    if us.is_empty() {
        return String::new();
    }
    us.sort_unstable();
    let mut t = format!(
        "Receiver's longest pause between passes over its ring, per run: median {} µs, range {}–{} µs",
        us[us.len() / 2],
        us[0],
        us[us.len() - 1]
    );
    let pause = |p: &Pause| {
        format!(
            "{} µs ({} µs waiting in poll) then {} slots waiting",
            p.gap.as_micros(),
            p.in_wait.as_micros(),
            p.slots
        )
    };
    for (i, r) in p.runs.iter().enumerate() {
        if let (Some(lost @ 1..), Some(g)) = (r.lost(), r.gaps) {
            let _ = write!(
                t,
                "; run {} lost {lost}: longest {}, fullest {}, {} preemptions",
                i + 1,
                pause(&g.longest),
                pause(&g.fullest),
                g.preemptions
            );
        }
    }
    t.push_str(" (pkt_gen::gaps: a pause longer than the receiver's 2048 buffers last at the arrival rate loses frames).");
    t
}
