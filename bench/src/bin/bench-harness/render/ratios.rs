//! nmxdp's rates against the raw AF_XDP and AF_PACKET rows at 60-byte frames, and the targets:
//! each ratio is a [`Comparison`] (median of the per-pair ratios with its 95% interval); a
//! target is met when the whole interval clears it, missed when the whole interval falls short,
//! undecided otherwise.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{Comparison, Goal};

use super::compare;
use crate::cell::{at60, Cell};
use crate::rows::Row;

/// A goal: the nmxdp row's rate in direction `dir` is at least `target` times `base`'s.
struct Target {
    base: Row,
    dir: &'static str,
    target: f64,
}

const TARGETS: [Target; 4] = [
    Target {
        base: Row::XdpRaw,
        dir: "tx",
        target: 0.95,
    },
    Target {
        base: Row::XdpRaw,
        dir: "rx",
        target: 0.95,
    },
    Target {
        base: Row::AfPacket,
        dir: "tx",
        target: 1.0,
    },
    Target {
        base: Row::AfPacket,
        dir: "rx",
        target: 1.0,
    },
];

/// The ratios' paragraph into `md` (when any row pair ran); their entries of results.json.
pub fn ratios(md: &mut String, cells: &[Cell]) -> Vec<Json> {
    let mut lines = Vec::new();
    let mut json = Vec::new();
    for nm in [Row::NmxdpRust, Row::NmxdpC] {
        let Some(a) = at60(cells, nm).filter(|c| c.skipped.is_none()) else {
            continue;
        };
        for t in &TARGETS {
            let Some(b) = at60(cells, t.base).filter(|c| c.skipped.is_none()) else {
                continue;
            };
            let (l, j) = compare(a, b, t);
            lines.push(l);
            json.push(j);
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(
            md,
            "Ratios at 60-byte frames: median of the per-pair ratios [95% interval], each run paired with the baseline's runs right before and after it (xdp-raw runs between every two other rows; af-packet, not adjacent, pairs within the repetition); a target is met when the interval's lower bound reaches it, missed when its upper bound is below it, undecided otherwise:\n"
        );
        for l in &lines {
            let _ = writeln!(md, "{l}");
        }
        md.push('\n');
    }
    json
}

/// Cell `a` (an nmxdp row) against cell `b` (`t.base`), judged against the target; the
/// Markdown line and the JSON entry.
fn compare(a: &Cell, b: &Cell, t: &Target) -> (String, Json) {
    let c = Comparison::new(
        &a.rates(t.dir),
        &b.rates(t.dir),
        Some(Goal::AtLeast(t.target)),
    );
    let base_name = if t.base == Row::XdpRaw {
        "raw"
    } else {
        "af_packet"
    };
    let line = format!(
        "- {}/{base_name} {}: {}",
        a.row.name(),
        t.dir,
        compare::summary(&c, 3)
    );
    let json = compare::json(
        vec![
            ("row", Json::str(a.row.name())),
            ("vs", Json::str(t.base.name())),
            ("dir", Json::str(t.dir)),
        ],
        &c,
    );
    (line, json)
}
