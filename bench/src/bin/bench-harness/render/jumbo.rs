//! The 9,000-byte section: per buffer size, nmxdp and raw AF_XDP multi-buffer in Mpps and
//! Gbit/s, and nmxdp / raw (tx and rx) as [`Comparison`]s against the target.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{Comparison, Goal};

use super::runs::{self, Dir};
use super::{compare, f3, Doc};
use crate::jumbo::{JumboRow, JumboRuns, LEN, TARGET};

/// Gbit/s of `mpps` frames of [`LEN`] bytes (without CRC, as pkt-gen's "Bandwidth").
fn gbps(mpps: Option<f64>) -> Option<f64> {
    mpps.map(|m| m * LEN as f64 * 8.0 / 1000.0)
}

pub fn jumbo(doc: &mut Doc, j: Option<&JumboRuns>) -> Json {
    let Some(j) = j else {
        return Json::Null;
    };
    let reps: Vec<String> = j
        .blocks
        .iter()
        .map(|b| format!("{} with {}-byte buffers", b.reps, b.buf_size))
        .collect();
    let _ = writeln!(
        doc.md,
        "{LEN}-byte frames on a veth pair with MTU 9000 (nmxdp: `pkt-gen -f tx -l {LEN}` on `netmap:va` / `pkt-gen -f rx` on `netmap:vb@conf:rx-slots=4096`, NS_MOREFRAG chains over AF_XDP multi-buffer; raw: `xdp-raw -l {LEN} --chunk N`, multi-buffer descriptors); repetitions of {} frames: {}; each nmxdp run between two raw runs, pinned as the throughput rows:\n",
        j.frames,
        reps.join(", ")
    );
    let _ = writeln!(
        doc.md,
        "| buffers | row | tx Mpps | rx Mpps | rx Gbit/s | loss % |"
    );
    let _ = writeln!(doc.md, "|---|---|---|---|---|---|");
    let goal = Goal::AtLeast(TARGET);
    let mut lines = Vec::new();
    let mut out = Vec::new();
    for b in &j.blocks {
        let mut rows = Vec::new();
        for (row, r) in &b.rows {
            runs::note_failures(
                doc,
                &format!("{LEN} B {} B-buffer {} run", b.buf_size, row.name()),
                r,
            );
            let rx = runs::med(r, Dir::Rx);
            let _ = writeln!(
                doc.md,
                "| {} | {} | {} | {} | {} | {} |",
                b.buf_size,
                row.name(),
                f3(runs::med(r, Dir::Tx)),
                f3(rx),
                gbps(rx).map_or("n/a".into(), |g| format!("{g:.2}")),
                runs::loss(r).map_or("n/a".into(), |l| format!("{l:.2}"))
            );
            rows.push(Json::obj([
                ("row", Json::str(row.name())),
                ("tx_mpps_median", Json::num(runs::med(r, Dir::Tx))),
                ("rx_mpps_median", Json::num(rx)),
                ("rx_gbps_median", Json::num(gbps(rx))),
                ("loss_pct_median", Json::num(runs::loss(r))),
                ("runs", runs::json(r)),
            ]));
        }
        let of = |want: JumboRow| b.rows.iter().find(|(r, _)| *r == want).map(|(_, v)| v);
        let mut ratios = Vec::new();
        if let (Some(n), Some(raw)) = (of(JumboRow::Nmxdp), of(JumboRow::Raw)) {
            for (dir, name) in [(Dir::Tx, "tx"), (Dir::Rx, "rx")] {
                let c = Comparison::new(&runs::rates(n, dir), &runs::rates(raw, dir), Some(goal));
                lines.push(format!(
                    "- {LEN} B, {} B buffers, nmxdp-rust/raw {name}: {}",
                    b.buf_size,
                    compare::summary(&c, 3)
                ));
                ratios.push(compare::json(
                    vec![
                        ("row", Json::str(JumboRow::Nmxdp.name())),
                        ("vs", Json::str(JumboRow::Raw.name())),
                        ("dir", Json::str(name)),
                    ],
                    &c,
                ));
            }
        }
        out.push(Json::obj([
            ("buf_size", Json::Int(i64::from(b.buf_size))),
            ("repetitions", Json::Int(i64::from(b.reps))),
            ("rows", Json::Arr(rows)),
            ("ratios", Json::Arr(ratios)),
        ]));
    }
    doc.md.push('\n');
    for l in &lines {
        let _ = writeln!(doc.md, "{l}");
    }
    doc.md.push('\n');
    Json::obj([
        ("frame", Json::Int(i64::from(LEN))),
        ("frames_per_run", Json::Int(j.frames as i64)),
        ("buffers", Json::Arr(out)),
    ])
}
