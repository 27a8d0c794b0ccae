//! User-space instructions per packet of each row's sender, run alone: `perf stat -e
//! instructions:u` where the CPU counters work, otherwise valgrind's cachegrind (virtual machines
//! without a PMU).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use nmxdp_bench::parse::{cachegrind_ir, parse_count_line, perf_instructions};
use pkt_gen::summary::{parse_summary, Dir};

use crate::bins::path_arg;
use crate::cell::Cell;
use crate::cli::Plan;
use crate::netns::Topo;
use crate::proc::{cpus, spawn};
use crate::rows::{plain_pair, Report};
use crate::run::tail;
use crate::stopped;

/// How user-space instructions are counted.
#[derive(Debug, Clone)]
pub enum InstrMethod {
    Perf,
    Valgrind,
    /// Not counted, and why.
    None(String),
}

impl InstrMethod {
    /// perf if it counts `instructions:u` here, else valgrind if installed.
    pub fn detect() -> InstrMethod {
        let perf = std::process::Command::new("perf")
            .args(["stat", "-x,", "-e", "instructions:u", "--", "true"])
            .output();
        let perf_note = match perf {
            Ok(o) => {
                if perf_instructions(&String::from_utf8_lossy(&o.stderr)).is_some_and(|n| n > 0) {
                    return InstrMethod::Perf;
                }
                "perf stat -e instructions:u: <not supported> (no PMU in this VM)"
            }
            Err(_) => "perf is not installed",
        };
        let vg = std::process::Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if vg {
            InstrMethod::Valgrind
        } else {
            InstrMethod::None(format!("{perf_note}, and valgrind is not installed"))
        }
    }

    /// The command that runs a program under the counter, writing the count to `file`.
    fn wrapper(&self, file: &Path) -> Vec<String> {
        match self {
            InstrMethod::Perf => ["perf", "stat", "-x,", "-e", "instructions:u", "-o"]
                .iter()
                .map(|s| s.to_string())
                .chain([path_arg(file), "--".into()])
                .collect(),
            InstrMethod::Valgrind => vec![
                "valgrind".into(),
                "--tool=cachegrind".into(),
                "--cache-sim=no".into(),
                format!("--cachegrind-out-file={}", path_arg(file)),
            ],
            InstrMethod::None(_) => Vec::new(),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            InstrMethod::Perf => "perf stat -e instructions:u",
            InstrMethod::Valgrind => "valgrind --tool=cachegrind (Ir)",
            InstrMethod::None(_) => "none",
        }
    }

    /// The count the wrapper wrote to `file`.
    fn read(&self, file: &Path) -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        match self {
            InstrMethod::Perf => perf_instructions(&text),
            InstrMethod::Valgrind => cachegrind_ir(&text),
            InstrMethod::None(_) => None,
        }
    }

    /// How the figures were obtained, for the report's notes.
    fn note(&self) -> String {
        match self {
            InstrMethod::Perf => PERF_NOTE.into(),
            InstrMethod::Valgrind => VALGRIND_NOTE.into(),
            InstrMethod::None(why) => why.clone(),
        }
    }
}

const PERF_NOTE: &str = "perf stat -e instructions:u of the sender alone, difference of two \
    runs (N/10 and N packets) divided by the packets; rx: the receiver, stopped (SIGSTOP) once \
    ready while xdp-raw sends 2048 or 8192 frames into its rings, then draining them in \
    batches of 256 (every batch full), difference of the two runs divided by 6144";

const VALGRIND_NOTE: &str = "perf stat -e instructions:u is <not supported> here (no PMU in the \
    VM): user-space instructions counted by valgrind --tool=cachegrind (Ir), sender alone, \
    difference of two runs (N/4 and N packets) divided by the packets; rx: the receiver, \
    stopped (SIGSTOP) once ready while xdp-raw sends 2048 or 8192 frames into its rings, then \
    draining them in batches of 256 (every batch full), difference of the two runs divided by \
    6144";

/// Measures every cell that runs (unless interrupted); returns the report's note on the method.
pub fn measure(plan: &Plan, t: &Topo, cells: &mut [Cell]) -> String {
    if !matches!(plan.instr, InstrMethod::None(_)) {
        for cell in cells.iter_mut() {
            if cell.skipped.is_some() || stopped() {
                continue;
            }
            measure_cell(plan, t, cell);
        }
    }
    plan.instr.note()
}

/// One cell's instructions per packet, or why not, into the cell.
fn measure_cell(plan: &Plan, t: &Topo, cell: &mut Cell) {
    let n = plan.count_for(cell.len);
    let counts = match plan.instr {
        // Valgrind runs the sender's user code ~50x slower: fewer packets (fewer still at
        // 1514 B, whose count per packet is the 60 B one but for the copy into the buffer).
        InstrMethod::Valgrind => {
            let n2 = n.min(if cell.len <= 60 { 200_000 } else { 40_000 });
            (n2 / 4, n2)
        }
        _ => (n / 10, n),
    };
    match instr_per_packet(plan, t, cell, counts) {
        Ok(v) => cell.instr = Some(v),
        Err(e) => cell.instr_note = Some(format!("{e:#}")),
    }
    match rx_instr_per_packet(plan, t, cell) {
        Ok(v) => cell.instr_rx = Some(v),
        Err(e) => cell.instr_rx_note = Some(format!("{e:#}")),
    }
    let show = |v: Option<f64>, note: &Option<String>| {
        v.map_or_else(
            || note.clone().unwrap_or_default(),
            |v| format!("{v:.0}/pkt"),
        )
    };
    eprintln!(
        "bench: instr {:<16} {:>4} B: tx {}, rx {}",
        cell.row.name(),
        cell.len,
        show(cell.instr, &cell.instr_note),
        show(cell.instr_rx, &cell.instr_rx_note),
    );
}

/// Frames of the two receiver runs: both fit the receivers' AF_XDP RX and fill rings (8192
/// entries), so none is dropped while the receiver is stopped.
const RX_FRAMES: (u64, u64) = (2048, 8192);

/// Batch of the receivers: their rings hold every frame when they continue, so every batch is
/// full and the per-batch cost is the same share of each packet in every row.
const RX_BATCH: &str = "256";

/// User-space instructions per packet of `cell`'s receiver, with the batch size fixed: the
/// receiver opens its port under the counter and is stopped (SIGSTOP) once ready; xdp-raw sends
/// exactly `n` frames into its rings; then it continues and drains them in batches of
/// [`RX_BATCH`]. Two runs (`RX_FRAMES`), difference divided by the packets, as for senders.
fn rx_instr_per_packet(plan: &Plan, t: &Topo, cell: &Cell) -> Result<f64> {
    let (row, len) = (cell.row, cell.len);
    let mut pts = Vec::new();
    for n in [RX_FRAMES.0, RX_FRAMES.1] {
        let pair = row
            .pair(&plan.bins, t, n, len)
            .ok_or_else(|| anyhow!("row not available"))?;
        let file = plan
            .out_dir
            .join(format!("instr-rx-{}-{len}-{n}.out", row.name()));
        let _ = std::fs::remove_file(&file);
        let mut rx = pair.rx.clone();
        rx.argv.extend(["-b".to_string(), RX_BATCH.to_string()]);
        let spec = rx.wrapped(&plan.instr.wrapper(&file));
        if plan.verbose {
            eprintln!("  instr: {}", spec.display());
        }
        let child = spawn(&spec, t.fd_b())?;
        if !child.wait_for_line(pair.ready, Duration::from_secs(60)) {
            let e = child.wait(Duration::ZERO);
            bail!("receiver not ready: {}", tail(&e.stderr, 3));
        }
        // Let the port settle (XDP program and socket map in place), then freeze it.
        std::thread::sleep(Duration::from_millis(500));
        child.signal(libc::SIGSTOP);
        let sender = plain_pair(&plan.bins.xdp_raw, t, n, len).tx;
        let s = spawn(&sender.on_cpu(cpus().tx), t.fd_a())?.wait(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(200));
        child.signal(libc::SIGCONT);
        if s.code != 0 {
            child.wait(Duration::ZERO);
            bail!("sender exit {}: {}", s.code, tail(&s.stderr, 3));
        }
        let e = child.wait(Duration::from_secs(120));
        let got = match pair.report {
            Report::Summary => parse_summary(&e.stdout, Dir::Received).map(|s| s.packets),
            Report::Counts => parse_count_line(&e.stdout, Dir::Received),
        };
        if got != Some(n) {
            bail!("receiver got {got:?} of {n} frames");
        }
        let ins = plan
            .instr
            .read(&file)
            .ok_or_else(|| anyhow!("no instruction count in {}", file.display()))?;
        pts.push((n, ins));
    }
    let (s1, i1) = pts[0];
    let (s2, i2) = pts[1];
    if i2 <= i1 {
        bail!("counts do not grow with packets ({s1}: {i1}, {s2}: {i2})");
    }
    Ok((i2 - i1) as f64 / (s2 - s1) as f64)
}

/// User-space instructions per packet of `cell`'s sender: two runs of the sender alone
/// (`counts.0` and `counts.1` frames) under the counter, so start-up and teardown cancel out.
fn instr_per_packet(plan: &Plan, t: &Topo, cell: &Cell, counts: (u64, u64)) -> Result<f64> {
    let (row, len) = (cell.row, cell.len);
    let mut pts = Vec::new();
    for n in [counts.0, counts.1] {
        let pair = row
            .pair(&plan.bins, t, n, len)
            .ok_or_else(|| anyhow!("row not available"))?;
        let file = plan
            .out_dir
            .join(format!("instr-{}-{len}-{n}.out", row.name()));
        let _ = std::fs::remove_file(&file);
        let spec = pair.tx.wrapped(&plan.instr.wrapper(&file));
        if plan.verbose {
            eprintln!("  instr: {}", spec.display());
        }
        let e = spawn(&spec, t.fd_a())?.wait(Duration::from_secs(300));
        if e.code != 0 {
            bail!("exit {}: {}", e.code, tail(&e.stderr, 3));
        }
        let sent = match pair.report {
            Report::Summary => parse_summary(&e.stdout, Dir::Sent).map(|s| s.packets),
            Report::Counts => parse_count_line(&e.stdout, Dir::Sent),
        }
        .ok_or_else(|| anyhow!("no sender summary"))?;
        let ins = plan
            .instr
            .read(&file)
            .ok_or_else(|| anyhow!("no instruction count in {}", file.display()))?;
        pts.push((sent, ins));
    }
    let (s1, i1) = pts[0];
    let (s2, i2) = pts[1];
    if s2 <= s1 || i2 <= i1 {
        bail!("counts do not grow with packets ({s1}: {i1}, {s2}: {i2})");
    }
    Ok((i2 - i1) as f64 / (s2 - s1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_single_spaced_lines() {
        assert_eq!(
            PERF_NOTE,
            "perf stat -e instructions:u of the sender alone, difference of two runs (N/10 and N \
             packets) divided by the packets; rx: the receiver, stopped (SIGSTOP) once ready \
             while xdp-raw sends 2048 or 8192 frames into its rings, then draining them in \
             batches of 256 (every batch full), difference of the two runs divided by 6144"
        );
        for n in [PERF_NOTE, VALGRIND_NOTE] {
            assert!(!n.contains("  ") && !n.contains('\n'), "{n}");
        }
        assert_eq!(InstrMethod::None("why".into()).note(), "why");
    }
}
