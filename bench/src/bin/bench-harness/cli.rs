//! The command line, and the plan it resolves to (with `BENCH_PACKETS` / `BENCH_REPS` from the
//! environment).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;

use crate::bins::Bins;
use crate::instr::InstrMethod;
use crate::rows::{Row, ROWS};

/// Benchmarks nmxdp against raw AF_XDP and AF_PACKET on a veth pair (needs root).
#[derive(Debug, Parser)]
#[command(name = "bench-harness")]
pub struct Cli {
    /// Tiny counts, one repetition, no instruction counting: checks that every row runs.
    #[arg(long)]
    pub smoke: bool,
    /// Packets per run: N (every frame size) or N60,N1514. Default 300000,150000 (smoke 2000);
    /// env BENCH_PACKETS.
    #[arg(long, value_name = "N[,N]")]
    pub packets: Option<String>,
    /// Repetitions of what carries a target (60 B throughput, latency); a third as many for the
    /// rest (1514 B, scaling). Default 15 (smoke 1); env BENCH_REPS.
    #[arg(long)]
    pub reps: Option<u32>,
    /// Frame sizes.
    #[arg(long, value_delimiter = ',', default_value = "60,1514")]
    pub frames: Vec<u32>,
    /// Only these rows (nmxdp-rust, nmxdp-c-preload, xdp-raw, af-packet).
    #[arg(long, value_delimiter = ',')]
    pub rows: Vec<String>,
    /// Skip the instructions-per-packet measurement.
    #[arg(long)]
    pub no_instr: bool,
    /// Measure instructions per packet even with --smoke.
    #[arg(long)]
    pub instr: bool,
    /// Skip the 2-queue (-p 1 vs -p 2) runs.
    #[arg(long)]
    pub no_mq: bool,
    /// Skip the open-latency measurement.
    #[arg(long)]
    pub no_open: bool,
    /// Open/close cycles per open-latency measurement. Default 50 (smoke 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub open_cycles: Option<u32>,
    /// Skip the latency (ping-pong) section.
    #[arg(long)]
    pub no_latency: bool,
    /// Round trips measured per latency run. Default 10000 (smoke 300); env BENCH_RTTS.
    #[arg(long, value_name = "N")]
    pub rtts: Option<u64>,
    /// Skip the paced-loss runs.
    #[arg(long)]
    pub no_paced: bool,
    /// Paced-loss runs. Default 20 (smoke 1); env BENCH_PACED_RUNS.
    #[arg(long, value_name = "N")]
    pub paced_runs: Option<u32>,
    /// Skip the steering (NMXDP_STEER rule cost) section.
    #[arg(long)]
    pub no_steer: bool,
    /// Skip the host-rings section (host path rates and RTT through an in-line forwarder).
    #[arg(long)]
    pub no_host: bool,
    /// Skip the pipe section (pkt-gen tx to rx across a netmap pipe, busy-wait and poll).
    #[arg(long)]
    pub no_pipes: bool,
    /// Skip the lb section (lb -p 2 to two pkt-gen workers next to a plain NIC receiver).
    #[arg(long)]
    pub no_lb: bool,
    /// Skip the 9,000-byte section (pkt-gen vs xdp-raw multi-buffer on an MTU-9000 pair).
    #[arg(long)]
    pub no_jumbo: bool,
    /// Run only this section (the others are skipped).
    #[arg(long, value_enum, value_name = "SECTION")]
    pub only: Option<Section>,
    /// Where results.md and results.json go (default target/bench, with --smoke target/bench/smoke).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory of pkt-gen, lb, xdp-raw, af-packet and libnetmap.so (default: this program's).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// The C libnetmap-style app (default: `<bin-dir>/../c/nm_lib-plain`).
    #[arg(long)]
    pub c_bin: Option<PathBuf>,
    /// The library the C row preloads (default: `<bin-dir>/libnetmap.so`).
    #[arg(long)]
    pub preload: Option<PathBuf>,
    /// Fail instead of skipping the C row when its binary or library is missing.
    #[arg(long)]
    pub require_c: bool,
    /// Print every command and the programs' stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

/// A section `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// The ping-pong rows.
    Latency,
    /// The steering rows (receive rate with NMXDP_STEER rules).
    Steer,
    /// The host-rings section.
    Host,
    /// The pipe section (busy-wait and poll).
    Pipes,
    /// The lb section (lb to two workers next to a plain NIC receiver).
    Lb,
    /// The 9,000-byte section (nmxdp vs raw AF_XDP multi-buffer).
    Jumbo,
}

/// What the bench will do, with every default and environment variable applied.
pub struct Plan {
    /// Packets per run at 60 bytes and at 1514 bytes.
    pub n60: u64,
    pub n1514: u64,
    /// Repetitions of what carries a target: the 60-byte throughput rows, the latency rows.
    pub reps: u32,
    /// Repetitions of throughput runs without a target (other frame sizes, the 2-queue scaling):
    /// [`other_reps`] of `reps`.
    pub reps_other: u32,
    pub frames: Vec<u32>,
    pub rows: Vec<Row>,
    pub bins: Bins,
    /// Where results.md, results.json and the instruction counters' files go (exists).
    pub out_dir: PathBuf,
    pub instr: InstrMethod,
    pub smoke: bool,
    pub mq: bool,
    /// Open/close cycles per open-latency measurement; `None` skips the section.
    pub open_cycles: Option<u32>,
    /// Round trips per latency run; `None` skips the section.
    pub latency_rtts: Option<u64>,
    /// Paced-loss runs; `None` skips the section.
    pub paced_runs: Option<u32>,
    /// Repetitions of the steering rows; `None` skips the section.
    pub steer_reps: Option<u32>,
    /// Repetitions of the host-rings rows; `None` skips the section.
    pub host_reps: Option<u32>,
    /// Repetitions of the pipe rows (they carry a target: `reps`); `None` skips the section.
    pub pipe_reps: Option<u32>,
    /// Repetitions of the lb rows (no target: `reps_other`); `None` skips the section (and
    /// with `--smoke`: tests/tests/lb.rs checks lb's function).
    pub lb_reps: Option<u32>,
    /// Repetitions of the 9,000-byte rows (a target: `reps`); `None` skips the section (and
    /// with `--smoke`: tests/tests/jumbo.rs checks the function).
    pub jumbo_reps: Option<u32>,
    pub verbose: bool,
}

impl Plan {
    /// Resolves `cli`; creates the output directory.
    pub fn new(cli: &Cli) -> Result<Plan> {
        let (n60, n1514) = packets(cli)?;
        let reps = reps(cli)?;
        let bins = Bins::locate(cli)?;
        // `--only SECTION` skips every other section.
        let only_one = cli.only.is_some();
        let rows = if only_one { Vec::new() } else { rows(cli)? };
        let out_dir = out_dir(cli)?;
        let want_instr = !only_one && !cli.no_instr && (!cli.smoke || cli.instr);
        let instr = if want_instr {
            InstrMethod::detect()
        } else {
            InstrMethod::None("not measured (--no-instr / smoke)".into())
        };
        Ok(Plan {
            n60,
            n1514,
            reps,
            reps_other: other_reps(reps),
            frames: cli.frames.clone(),
            rows,
            bins,
            out_dir,
            instr,
            smoke: cli.smoke,
            mq: !cli.no_mq && !only_one,
            open_cycles: (!cli.no_open && !only_one)
                .then(|| cli.open_cycles.unwrap_or(if cli.smoke { 3 } else { 50 })),
            latency_rtts: if cli.no_latency || cli.only.is_some_and(|o| o != Section::Latency) {
                None
            } else {
                Some(rtts(cli)?)
            },
            paced_runs: if cli.no_paced || only_one {
                None
            } else {
                Some(paced_runs(cli)?)
            },
            steer_reps: (!cli.no_steer && matches!(cli.only, None | Some(Section::Steer)))
                .then_some(if cli.smoke { 1 } else { crate::steer::REPS }),
            host_reps: (!cli.no_host && matches!(cli.only, None | Some(Section::Host)))
                .then_some(if cli.smoke { 1 } else { crate::host::REPS }),
            pipe_reps: (!cli.no_pipes && matches!(cli.only, None | Some(Section::Pipes)))
                .then_some(reps),
            lb_reps: (!cli.no_lb && !cli.smoke && matches!(cli.only, None | Some(Section::Lb)))
                .then_some(other_reps(reps)),
            jumbo_reps: (!cli.no_jumbo
                && !cli.smoke
                && matches!(cli.only, None | Some(Section::Jumbo)))
            .then_some(reps),
            verbose: cli.verbose,
        })
    }

    /// Repetitions of the throughput cells of `len`-byte frames.
    pub fn reps_for(&self, len: u32) -> u32 {
        if len == crate::cell::TARGET_LEN {
            self.reps
        } else {
            self.reps_other
        }
    }

    /// How many repetitions of an order of `reps` may be run again because other processes
    /// were busy ([`crate::reps::run_order`]): a third of them (rounded up), so a burst of
    /// other work is run around while a machine busy all along costs at most a third more time;
    /// none for a smoke run (a functional check).
    pub fn redo_budget(&self, reps: usize) -> usize {
        if self.smoke {
            0
        } else {
            reps.div_ceil(3)
        }
    }

    /// Packets per run for `len`-byte frames.
    pub fn count_for(&self, len: u32) -> u64 {
        if len <= 60 {
            self.n60
        } else {
            self.n1514
        }
    }
}

/// `--packets` or `BENCH_PACKETS`: N, or N60,N1514.
fn packets(cli: &Cli) -> Result<(u64, u64)> {
    let spec = cli.packets.clone().or_else(|| {
        std::env::var("BENCH_PACKETS")
            .ok()
            .filter(|v| !v.trim().is_empty())
    });
    // Seven repetitions of every row in well under 5 minutes on 2 vCPUs; a run of 300k frames
    // still lasts a few tenths of a second, far longer than a port's setup.
    let def = if cli.smoke {
        (2000, 2000)
    } else {
        (300_000, 150_000)
    };
    let Some(spec) = spec else { return Ok(def) };
    let v: Vec<u64> = spec
        .split(',')
        .map(|x| x.trim().replace('_', "").parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("packets '{spec}': expected N or N60,N1514"))?;
    match v.as_slice() {
        [n] if *n > 0 => Ok((*n, *n)),
        [a, b] if *a > 0 && *b > 0 => Ok((*a, *b)),
        _ => bail!("packets '{spec}': expected N or N60,N1514 (positive)"),
    }
}

/// Repetitions of the runs with targets. A run's rate on this VM lands in a fast or a slow state
/// for the whole run (bench/README.md, "Method"); with 15 pairs the interval of the median
/// ratio spans about the 4th to the 12th smallest pair, about ±0.14 around a ratio near 1; 7
/// pairs (the 2nd to the 6th) left most ratios undecided. At 60 B a repetition is 6 runs (xdp-raw
/// three times), about 4 s, and the default make bench stays under 4 minutes.
pub const DEFAULT_REPS: u32 = 15;

/// Repetitions of the runs no target depends on: a third of `reps` (rounded up), enough for
/// medians; the time goes to the runs the verdicts rest on.
pub fn other_reps(reps: u32) -> u32 {
    reps.div_ceil(3).max(1)
}

/// `--reps` or `BENCH_REPS`, at least 1.
fn reps(cli: &Cli) -> Result<u32> {
    let reps = match cli.reps {
        Some(r) => r,
        None => match std::env::var("BENCH_REPS") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().context("BENCH_REPS")?,
            _ => {
                if cli.smoke {
                    1
                } else {
                    DEFAULT_REPS
                }
            }
        },
    };
    Ok(reps.max(1))
}

/// Round trips per latency run. A run costs about 0.15 s of start and stop (two processes, the
/// XDP program attached and detached) plus its round trips: 10,000 of them take 0.1-0.5 s in the
/// poll rows (10-50 µs each on this VM's veth) and 0.05 s spinning, so 15 repetitions of the 7
/// rows stay within about a minute, and each run's p99 rests on its 100 slowest samples.
pub const DEFAULT_RTTS: u64 = 10_000;

/// `--rtts` or `BENCH_RTTS`, at least 1.
fn rtts(cli: &Cli) -> Result<u64> {
    let n = match cli.rtts {
        Some(n) => n,
        None => match std::env::var("BENCH_RTTS") {
            Ok(v) if !v.trim().is_empty() => {
                v.trim().replace('_', "").parse().context("BENCH_RTTS")?
            }
            _ => {
                if cli.smoke {
                    300
                } else {
                    DEFAULT_RTTS
                }
            }
        },
    };
    Ok(n.max(1))
}

/// Paced-loss runs: 20 runs of 200,000 frames (about 1.5 s each) show a loss that one run in a
/// few would have.
pub const DEFAULT_PACED_RUNS: u32 = 20;

/// `--paced-runs` or `BENCH_PACED_RUNS`, at least 1.
fn paced_runs(cli: &Cli) -> Result<u32> {
    let n = match cli.paced_runs {
        Some(n) => n,
        None => match std::env::var("BENCH_PACED_RUNS") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().context("BENCH_PACED_RUNS")?,
            _ => {
                if cli.smoke {
                    1
                } else {
                    DEFAULT_PACED_RUNS
                }
            }
        },
    };
    Ok(n.max(1))
}

/// `--rows`, in the order given; every row without it.
fn rows(cli: &Cli) -> Result<Vec<Row>> {
    if cli.rows.is_empty() {
        return Ok(ROWS.to_vec());
    }
    let mut v = Vec::new();
    for r in &cli.rows {
        match ROWS.iter().find(|x| x.name() == r) {
            Some(x) => v.push(*x),
            None => bail!("unknown row {r} (nmxdp-rust, nmxdp-c-preload, xdp-raw, af-packet)"),
        }
    }
    Ok(v)
}

/// `--out` (default relative to the current directory), created and made absolute.
fn out_dir(cli: &Cli) -> Result<PathBuf> {
    let out = cli.out.clone().unwrap_or_else(|| {
        PathBuf::from(if cli.smoke {
            "target/bench/smoke"
        } else {
            "target/bench"
        })
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    Ok(out.canonicalize().unwrap_or(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from([&["bench-harness"], args].concat()).unwrap()
    }

    #[test]
    fn packets_and_rows() {
        assert_eq!(
            packets(&cli(&["--packets", "1_000,20"])).unwrap(),
            (1000, 20)
        );
        assert_eq!(packets(&cli(&["--packets", "7"])).unwrap(), (7, 7));
        assert!(packets(&cli(&["--packets", "0"])).is_err());
        assert!(packets(&cli(&["--packets", "1,2,3"])).is_err());
        assert_eq!(reps(&cli(&["--reps", "0"])).unwrap(), 1);
        assert_eq!(reps(&cli(&["--reps", "9"])).unwrap(), 9);
        assert_eq!((other_reps(1), other_reps(15), other_reps(16)), (1, 5, 6));
        assert_eq!(rows(&cli(&[])).unwrap(), ROWS.to_vec());
        assert_eq!(
            rows(&cli(&["--rows", "af-packet,nmxdp-rust"])).unwrap(),
            vec![Row::AfPacket, Row::NmxdpRust]
        );
        assert!(rows(&cli(&["--rows", "nope"])).is_err());
        assert!(Cli::try_parse_from(["bench-harness", "--open-cycles", "0"]).is_err());
        assert_eq!(cli(&["--open-cycles", "7"]).open_cycles, Some(7));
        assert_eq!(rtts(&cli(&["--rtts", "0"])).unwrap(), 1);
        assert_eq!(rtts(&cli(&["--rtts", "500"])).unwrap(), 500);
        assert_eq!(cli(&["--only", "latency"]).only, Some(Section::Latency));
        assert_eq!(cli(&["--only", "steer"]).only, Some(Section::Steer));
        assert!(cli(&["--no-steer"]).no_steer);
        assert!(cli(&["--no-host"]).no_host);
        assert_eq!(cli(&["--only", "host"]).only, Some(Section::Host));
        assert_eq!(cli(&["--only", "pipes"]).only, Some(Section::Pipes));
        assert_eq!(cli(&["--only", "jumbo"]).only, Some(Section::Jumbo));
        assert!(cli(&["--no-pipes", "--no-lb", "--no-jumbo"]).no_jumbo);
        assert!(Cli::try_parse_from(["bench-harness", "--only", "nope"]).is_err());
    }
}
