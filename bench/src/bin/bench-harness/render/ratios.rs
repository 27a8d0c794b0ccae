//! nmxdp's rates against the raw AF_XDP and AF_PACKET rows at 60-byte frames, and the targets.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::ratio;

use crate::cell::{at60, Cell};
use crate::rows::Row;

/// A goal: the nmxdp row's rate in direction `dir` is at least `target` times `base`'s.
struct Target {
    base: Row,
    dir: &'static str,
    target: f64,
    what: &'static str,
}

const TARGETS: [Target; 4] = [
    Target {
        base: Row::XdpRaw,
        dir: "tx",
        target: 0.95,
        what: "≥ 0.95",
    },
    Target {
        base: Row::XdpRaw,
        dir: "rx",
        target: 0.95,
        what: "≥ 0.95",
    },
    Target {
        base: Row::AfPacket,
        dir: "tx",
        target: 1.0,
        what: "≥ 1.00, not behind",
    },
    Target {
        base: Row::AfPacket,
        dir: "rx",
        target: 1.0,
        what: "≥ 1.00",
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
        let _ = writeln!(md, "Ratios at 60-byte frames (medians):\n");
        for l in &lines {
            let _ = writeln!(md, "{l}");
        }
        md.push('\n');
    }
    json
}

/// Cell `a` (an nmxdp row) against cell `b` (`t.base`): the Markdown line and the JSON entry.
fn compare(a: &Cell, b: &Cell, t: &Target) -> (String, Json) {
    let (x, y) = if t.dir == "tx" {
        (a.tx(), b.tx())
    } else {
        (a.rx(), b.rx())
    };
    let r = ratio(x, y);
    let verdict = match r {
        Some(v) if v >= t.target => "met",
        Some(_) => "missed",
        None => "n/a",
    };
    let base_name = if t.base == Row::XdpRaw {
        "raw"
    } else {
        "af_packet"
    };
    let line = format!(
        "- {}/{base_name} {}: {} (target {}): **{verdict}**",
        a.row.name(),
        t.dir,
        r.map_or("n/a".into(), |v| format!("{v:.3}")),
        t.what
    );
    let json = Json::obj([
        ("row", Json::str(a.row.name())),
        ("vs", Json::str(t.base.name())),
        ("dir", Json::str(t.dir)),
        ("ratio", Json::num(r)),
        ("target", Json::Num(t.target)),
        ("verdict", Json::str(verdict)),
    ]);
    (line, json)
}
