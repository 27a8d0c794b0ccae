//! One cell of the table: a row at one frame size, its runs and their medians.

use nmxdp_bench::stats::{median, Sample};

use crate::cli::Plan;
use crate::rows::Row;
use crate::run::Run;

pub struct Cell {
    pub row: Row,
    pub len: u32,
    pub runs: Vec<Run>,
    /// Why the row does not run at all.
    pub skipped: Option<String>,
    pub instr: Option<f64>,
    /// Why `instr` is missing.
    pub instr_note: Option<String>,
    /// User-space instructions per packet of the receiver.
    pub instr_rx: Option<f64>,
    /// Why `instr_rx` is missing.
    pub instr_rx_note: Option<String>,
}

/// Every frame size of the plan times every row, in the order the repetitions go through them.
pub fn cells(plan: &Plan) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &len in &plan.frames {
        for &row in &plan.rows {
            cells.push(Cell {
                row,
                len,
                runs: Vec::new(),
                skipped: (row == Row::NmxdpC)
                    .then(|| plan.bins.c_missing.clone())
                    .flatten(),
                instr: None,
                instr_note: None,
                instr_rx: None,
                instr_rx_note: None,
            });
        }
    }
    cells
}

/// The frame size the throughput targets are about.
pub const TARGET_LEN: u32 = 60;

/// The cell of `row` at 60-byte frames.
pub fn at60(cells: &[Cell], row: Row) -> Option<&Cell> {
    cells.iter().find(|c| c.row == row && c.len == 60)
}

impl Cell {
    pub fn ok_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.error.is_none())
    }

    /// Every run's sender (`tx`) or receiver rate in Mpps with its place in the run order,
    /// `None` for a failed run.
    pub fn rates(&self, dir: &str) -> Vec<Sample> {
        self.runs
            .iter()
            .map(|r| {
                let pps = if dir == "tx" { r.tx_pps } else { r.rx_pps };
                r.sample(pps.map(|p| p / 1e6))
            })
            .collect()
    }

    /// Median sender rate in Mpps.
    pub fn tx(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(|r| r.tx_pps).collect::<Vec<_>>()).map(|p| p / 1e6)
    }

    /// Median receiver rate in Mpps.
    pub fn rx(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(|r| r.rx_pps).collect::<Vec<_>>()).map(|p| p / 1e6)
    }

    pub fn loss(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(Run::loss_pct).collect::<Vec<_>>())
    }

    pub fn rx_rss_kib(&self) -> Option<f64> {
        median(
            &self
                .ok_runs()
                .map(|r| r.rx.maxrss_kb as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// The errors of the failed runs.
    pub fn failed(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter_map(|r| r.error.as_deref())
            .collect()
    }
}
