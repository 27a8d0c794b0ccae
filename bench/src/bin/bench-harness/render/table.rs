//! The table: one line per row and frame size.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;

use super::{f3, Doc};
use crate::cell::Cell;
use crate::rows::Row;
use crate::run::Run;

/// The table's lines into `doc` (failures and skips into its notes); the rows of results.json.
pub fn table(doc: &mut Doc, cells: &[Cell]) -> Vec<Json> {
    cells
        .iter()
        .map(|c| {
            line(doc, c);
            json(c)
        })
        .collect()
}

fn line(doc: &mut Doc, c: &Cell) {
    let name = if c.row == Row::NmxdpC && c.skipped.is_none() {
        format!("{} †", c.row.name())
    } else {
        c.row.name().to_string()
    };
    if let Some(why) = &c.skipped {
        let _ = writeln!(doc.md, "| {name} | {} | skipped | | | | |", c.len);
        let note = format!("{} skipped: {why}", c.row.name());
        if !doc.notes.contains(&note) {
            doc.notes.push(note);
        }
        return;
    }
    let fails = c.failed();
    let instr_s = c.instr.map_or("n/a".into(), |v| format!("{v:.0}"));
    let instr_rx = c.instr_rx.map_or("n/a".into(), |v| format!("{v:.0}"));
    let status = if fails.is_empty() {
        String::new()
    } else {
        doc.all_ok = false;
        format!(" ({} of {} runs FAILED)", fails.len(), c.runs.len())
    };
    let _ = writeln!(
        doc.md,
        "| {name}{status} | {} | {} | {} | {} | {instr_s} | {instr_rx} |",
        c.len,
        f3(c.tx()),
        f3(c.rx()),
        c.loss().map_or("n/a".into(), |l| format!("{l:.2}")),
    );
    for f in &fails {
        doc.notes
            .push(format!("{} {} B failed: {f}", c.row.name(), c.len));
    }
    if let Some(n) = &c.instr_note {
        doc.notes
            .push(format!("{} {} B instr/pkt: {n}", c.row.name(), c.len));
    }
    if let Some(n) = &c.instr_rx_note {
        doc.notes
            .push(format!("{} {} B rx instr/pkt: {n}", c.row.name(), c.len));
    }
}

fn json(c: &Cell) -> Json {
    let status = if c.skipped.is_some() {
        "skipped"
    } else if c.failed().is_empty() {
        "ok"
    } else {
        "failed"
    };
    Json::obj([
        ("row", Json::str(c.row.name())),
        ("frame", Json::Int(c.len as i64)),
        ("status", Json::str(status)),
        ("note", c.skipped.clone().map_or(Json::Null, Json::Str)),
        ("tx_mpps", Json::num(c.tx())),
        ("rx_mpps", Json::num(c.rx())),
        ("loss_pct", Json::num(c.loss())),
        ("instr_per_pkt", Json::num(c.instr)),
        ("rx_instr_per_pkt", Json::num(c.instr_rx)),
        ("rx_maxrss_kib", Json::num(c.rx_rss_kib())),
        ("runs", Json::Arr(c.runs.iter().map(Run::json).collect())),
    ])
}
