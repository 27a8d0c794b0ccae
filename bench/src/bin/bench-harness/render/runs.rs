//! What the sections built of plain lists of runs (pipes, lb, 9,000 B) need: their rates as
//! samples, medians, loss, and failures into the report's notes.

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, Sample};

use super::Doc;
use crate::run::Run;

/// Which program's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Tx,
    Rx,
}

/// Every run's rate in Mpps with its place in the run order (`None` for a failed run).
pub fn rates(runs: &[Run], dir: Dir) -> Vec<Sample> {
    runs.iter()
        .map(|r| {
            let pps = if dir == Dir::Tx { r.tx_pps } else { r.rx_pps };
            r.sample(pps.map(|p| p / 1e6))
        })
        .collect()
}

/// The median rate in Mpps over the successful runs.
pub fn med(runs: &[Run], dir: Dir) -> Option<f64> {
    median(&values(&rates(runs, dir)))
}

/// The values of the samples that have one.
pub fn values(s: &[Sample]) -> Vec<f64> {
    s.iter().filter_map(|s| s.value).collect()
}

/// The median loss in percent over the successful runs.
pub fn loss(runs: &[Run]) -> Option<f64> {
    median(
        &runs
            .iter()
            .filter(|r| r.error.is_none())
            .filter_map(Run::loss_pct)
            .collect::<Vec<_>>(),
    )
}

/// Each failed run into the notes as "`what` failed: ..."; marks the report failed.
pub fn note_failures(doc: &mut Doc, what: &str, runs: &[Run]) {
    for e in runs.iter().filter_map(|r| r.error.as_deref()) {
        doc.notes.push(format!("{what} failed: {e}"));
        doc.all_ok = false;
    }
}

/// Every run's entry of results.json.
pub fn json(runs: &[Run]) -> Json {
    Json::Arr(runs.iter().map(Run::json).collect())
}
