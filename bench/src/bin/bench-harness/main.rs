//! bench-harness: `make bench` / `make bench-smoke`.
//!
//! Builds two private network namespaces joined by a veth pair (1 queue), then runs, one after
//! the other on that pair, a sender in A and a receiver in B for each row:
//!
//! | row              | sender / receiver                                                    |
//! |------------------|----------------------------------------------------------------------|
//! | nmxdp-rust       | `pkt-gen -f tx` / `pkt-gen -f rx` on `netmap:vb@conf:rx-slots=4096`   |
//! | nmxdp-c-preload  | `nm_lib-plain` under `LD_PRELOAD=libnetmap.so` (same port names)      |
//! | xdp-raw          | AF_XDP without the netmap layer                                      |
//! | af-packet        | TPACKET_V2 TX ring / TPACKET_V3 RX ring                              |
//!
//! for 60- and 1514-byte frames, repeated (repetitions interleaved across rows), and reports
//! medians of the sender's and the receiver's own rates, the loss, and user-space instructions per
//! packet of the sender (perf, or valgrind where the machine has no PMU). Then a 2-queue pair:
//! pkt-gen `-p 1` vs `-p 2`. And the receivers' peak RSS against nmxdp's region size.
//!
//! Output: a Markdown report on stdout, also written to `<out>/results.md`, and `<out>/results.json`.
//! Exit status 1 if any run failed or received nothing.

mod netns;
mod proc;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, ratio};
use nmxdp_bench::summary::{parse_count_line, parse_summary, Dir};

use netns::Topo;
use proc::{spawn, Exit, Sampler, Spec, Wire};

/// Set by SIGINT/SIGTERM: the harness stops its children, cleans up and exits.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Relaxed);
}

/// Benchmarks nmxdp against raw AF_XDP and AF_PACKET on a veth pair (needs root).
#[derive(Debug, Parser)]
#[command(name = "bench-harness")]
struct Cli {
    /// Tiny counts, one repetition, no instruction counting: checks that every row runs.
    #[arg(long)]
    smoke: bool,
    /// Packets per run: N (every frame size) or N60,N1514. Default 1000000,500000 (smoke 2000);
    /// env BENCH_PACKETS.
    #[arg(long, value_name = "N[,N]")]
    packets: Option<String>,
    /// Repetitions (medians are reported). Default 3 (smoke 1); env BENCH_REPS.
    #[arg(long)]
    reps: Option<u32>,
    /// Frame sizes.
    #[arg(long, value_delimiter = ',', default_value = "60,1514")]
    frames: Vec<u32>,
    /// Only these rows (nmxdp-rust, nmxdp-c-preload, xdp-raw, af-packet).
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Skip the instructions-per-packet measurement.
    #[arg(long)]
    no_instr: bool,
    /// Measure instructions per packet even with --smoke.
    #[arg(long)]
    instr: bool,
    /// Skip the 2-queue (-p 1 vs -p 2) runs.
    #[arg(long)]
    no_mq: bool,
    /// Where results.md and results.json go (default target/bench, with --smoke target/bench/smoke).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory of pkt-gen, xdp-raw, af-packet and libnetmap.so (default: this program's).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The C libnetmap-style app (default: <bin-dir>/../c/nm_lib-plain).
    #[arg(long)]
    c_bin: Option<PathBuf>,
    /// The library the C row preloads (default: <bin-dir>/libnetmap.so).
    #[arg(long)]
    preload: Option<PathBuf>,
    /// Fail instead of skipping the C row when its binary or library is missing.
    #[arg(long)]
    require_c: bool,
    /// Print every command and the programs' stderr.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    NmxdpRust,
    NmxdpC,
    XdpRaw,
    AfPacket,
}

const ROWS: [Row; 4] = [Row::NmxdpRust, Row::NmxdpC, Row::XdpRaw, Row::AfPacket];

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::NmxdpRust => "nmxdp-rust",
            Row::NmxdpC => "nmxdp-c-preload",
            Row::XdpRaw => "xdp-raw",
            Row::AfPacket => "af-packet",
        }
    }
}

/// How a program reports what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// pkt-gen's summary (rates measured by the program).
    Summary,
    /// `sent N` / `received N` only: rates come from the interface counters.
    Counts,
}

struct Bins {
    pktgen: PathBuf,
    xdp_raw: PathBuf,
    af_packet: PathBuf,
    c_app: Option<(PathBuf, PathBuf)>,
    c_missing: Option<String>,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Bins {
    /// Sender and receiver of `row` for `n` frames of `len` bytes, and the receiver's ready line.
    fn pair(
        &self,
        row: Row,
        t: &Topo,
        n: u64,
        len: u32,
    ) -> Option<(Spec, Spec, &'static str, Report)> {
        let (n, l) = (n.to_string(), len.to_string());
        let rx_port = format!("netmap:{}@conf:rx-slots=4096", t.if_b);
        let tx_port = format!("netmap:{}", t.if_a);
        Some(match row {
            Row::NmxdpRust => (
                Spec::new(&[
                    &s(&self.pktgen),
                    "-i",
                    &tx_port,
                    "-f",
                    "tx",
                    "-n",
                    &n,
                    "-l",
                    &l,
                    "-w",
                    "0",
                ]),
                Spec::new(&[
                    &s(&self.pktgen),
                    "-i",
                    &rx_port,
                    "-f",
                    "rx",
                    "-n",
                    &n,
                    "-W",
                    "-w",
                    "0",
                ]),
                "Receiving from",
                Report::Summary,
            ),
            Row::NmxdpC => {
                let (app, lib) = self.c_app.as_ref()?;
                (
                    Spec::new(&[&s(app), "-i", &tx_port, "-f", "tx", "-n", &n, "-l", &l])
                        .env("LD_PRELOAD", &s(lib)),
                    Spec::new(&[&s(app), "-i", &rx_port, "-f", "rx", "-n", &n, "-W", "3000"])
                        .env("LD_PRELOAD", &s(lib)),
                    "ready:",
                    Report::Counts,
                )
            }
            Row::XdpRaw => (
                Spec::new(&[
                    &s(&self.xdp_raw),
                    "-i",
                    t.if_a,
                    "-f",
                    "tx",
                    "-n",
                    &n,
                    "-l",
                    &l,
                ]),
                Spec::new(&[&s(&self.xdp_raw), "-i", t.if_b, "-f", "rx", "-n", &n]),
                "Receiving from",
                Report::Summary,
            ),
            Row::AfPacket => (
                Spec::new(&[
                    &s(&self.af_packet),
                    "-i",
                    t.if_a,
                    "-f",
                    "tx",
                    "-n",
                    &n,
                    "-l",
                    &l,
                ]),
                Spec::new(&[&s(&self.af_packet), "-i", t.if_b, "-f", "rx", "-n", &n]),
                "Receiving from",
                Report::Summary,
            ),
        })
    }
}

/// One sender/receiver run.
#[derive(Debug, Clone, Default)]
struct Run {
    error: Option<String>,
    sent: Option<u64>,
    received: Option<u64>,
    tx_pps: Option<f64>,
    rx_pps: Option<f64>,
    wire_packets: u64,
    wire_pps: Option<f64>,
    from_counters: bool,
    tx: Exit,
    rx: Exit,
}

impl Run {
    fn loss_pct(&self) -> Option<f64> {
        match (self.sent, self.received) {
            (Some(s), Some(r)) if s > 0 => Some(100.0 * (s as f64 - r as f64) / s as f64),
            _ => None,
        }
    }

    fn json(&self) -> Json {
        Json::obj([
            ("ok", Json::Bool(self.error.is_none())),
            ("error", self.error.clone().map_or(Json::Null, Json::Str)),
            ("sent", Json::int(self.sent)),
            ("received", Json::int(self.received)),
            ("tx_mpps", Json::num(self.tx_pps.map(|p| p / 1e6))),
            ("rx_mpps", Json::num(self.rx_pps.map(|p| p / 1e6))),
            ("loss_pct", Json::num(self.loss_pct())),
            ("wire_packets", Json::int(Some(self.wire_packets))),
            ("wire_mpps", Json::num(self.wire_pps.map(|p| p / 1e6))),
            ("rates_from_counters", Json::Bool(self.from_counters)),
            ("tx_cpu_user_s", Json::num(Some(self.tx.user_s))),
            ("tx_cpu_sys_s", Json::num(Some(self.tx.sys_s))),
            ("tx_wall_s", Json::num(Some(self.tx.wall_s))),
            ("tx_maxrss_kib", Json::int(Some(self.tx.maxrss_kb))),
            ("rx_cpu_user_s", Json::num(Some(self.rx.user_s))),
            ("rx_cpu_sys_s", Json::num(Some(self.rx.sys_s))),
            ("rx_maxrss_kib", Json::int(Some(self.rx.maxrss_kb))),
            ("tx_ctxsw_voluntary", Json::int(Some(self.tx.vcsw))),
            ("tx_ctxsw_involuntary", Json::int(Some(self.tx.ivcsw))),
            ("rx_ctxsw_voluntary", Json::int(Some(self.rx.vcsw))),
            ("rx_ctxsw_involuntary", Json::int(Some(self.rx.ivcsw))),
        ])
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

/// Runs `rx` in B, waits for `ready`, runs `tx` in A, waits for both.
fn run_pair(
    t: &Topo,
    tx: &Spec,
    rx: &Spec,
    ready: &str,
    report: Report,
    n: u64,
    verbose: bool,
) -> Run {
    let mut run = Run::default();
    if verbose {
        eprintln!("  rx: {}\n  tx: {}", rx.display(), tx.display());
    }
    let rxc = match spawn(rx, t.fd_b()) {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("{e:#}"));
            return run;
        }
    };
    if !rxc.wait_for_line(ready, Duration::from_secs(20)) {
        rxc.signal(libc::SIGINT);
        run.rx = rxc.wait(Duration::ZERO);
        run.error = Some(format!(
            "receiver not ready (exit {}): {}",
            run.rx.code,
            tail(&run.rx.stderr, 3)
        ));
        return run;
    }
    std::thread::sleep(Duration::from_millis(50));
    let sampler = Sampler::start(t.fd_b(), t.if_b, Duration::from_millis(5)).ok();
    let tx_timeout = Duration::from_secs(30 + n / 20_000);
    run.tx = match spawn(tx, t.fd_a()) {
        Ok(c) => c.wait(tx_timeout),
        Err(e) => {
            rxc.signal(libc::SIGINT);
            run.rx = rxc.wait(Duration::ZERO);
            run.error = Some(format!("{e:#}"));
            return run;
        }
    };
    // The receiver leaves at its quota or after 1 s without traffic.
    run.rx = rxc.wait(tx_timeout + Duration::from_secs(15));
    let wire = sampler.map(Sampler::finish).unwrap_or(Wire {
        packets: 0,
        pps: None,
    });
    run.wire_packets = wire.packets;
    run.wire_pps = wire.pps;
    if verbose {
        eprint!("{}{}", run.tx.stderr, run.rx.stderr);
    }
    match report {
        Report::Summary => {
            if let Some(sm) = parse_summary(&run.tx.stdout, Dir::Sent) {
                run.sent = Some(sm.packets);
                run.tx_pps = (sm.packets > 0).then_some(sm.pps);
            }
            if let Some(sm) = parse_summary(&run.rx.stdout, Dir::Received) {
                run.received = Some(sm.packets);
                run.rx_pps = (sm.packets > 0).then_some(sm.pps);
            }
        }
        Report::Counts => {
            run.from_counters = true;
            run.sent = parse_count_line(&run.tx.stdout, Dir::Sent);
            run.received = parse_count_line(&run.rx.stdout, Dir::Received);
            // The rates the program does not print: the wire rate seen on the receiving
            // interface, and the receiver's share of it.
            run.tx_pps = wire.pps;
            run.rx_pps = match (wire.pps, run.received) {
                (Some(p), Some(r)) if wire.packets > 0 && r > 0 => {
                    Some(p * (r as f64 / wire.packets as f64).min(1.0))
                }
                _ => None,
            };
        }
    }
    let mut errs = Vec::new();
    if run.tx.code != 0 || run.tx.timed_out {
        errs.push(format!(
            "sender exit {}{}: {}",
            run.tx.code,
            if run.tx.timed_out { " (timed out)" } else { "" },
            tail(&run.tx.stderr, 3)
        ));
    }
    if run.rx.code != 0 || run.rx.timed_out {
        errs.push(format!(
            "receiver exit {}{}: {}",
            run.rx.code,
            if run.rx.timed_out { " (timed out)" } else { "" },
            tail(&run.rx.stderr, 3)
        ));
    }
    match run.sent {
        None => errs.push("no sender summary".into()),
        Some(0) => errs.push("sent nothing".into()),
        _ => {}
    }
    match run.received {
        None => errs.push("no receiver summary".into()),
        Some(0) => errs.push("received nothing".into()),
        _ => {}
    }
    if errs.is_empty()
        && report == Report::Summary
        && (run.tx_pps.is_none() || run.rx_pps.is_none())
    {
        errs.push("no rate in the summaries".into());
    }
    if !errs.is_empty() {
        run.error = Some(errs.join("; "));
    }
    run
}

/// How user-space instructions are counted.
#[derive(Debug, Clone)]
enum InstrMethod {
    Perf,
    Valgrind,
    None(String),
}

impl InstrMethod {
    fn detect() -> InstrMethod {
        let perf = std::process::Command::new("perf")
            .args(["stat", "-x,", "-e", "instructions:u", "--", "true"])
            .output();
        let perf_note = match perf {
            Ok(o) => {
                if nmxdp_bench::parse::perf_instructions(&String::from_utf8_lossy(&o.stderr))
                    .is_some_and(|n| n > 0)
                {
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

    fn wrapper(&self, file: &Path) -> Vec<String> {
        match self {
            InstrMethod::Perf => ["perf", "stat", "-x,", "-e", "instructions:u", "-o"]
                .iter()
                .map(|s| s.to_string())
                .chain([s(file), "--".into()])
                .collect(),
            InstrMethod::Valgrind => vec![
                "valgrind".into(),
                "--tool=cachegrind".into(),
                "--cache-sim=no".into(),
                format!("--cachegrind-out-file={}", s(file)),
            ],
            InstrMethod::None(_) => Vec::new(),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            InstrMethod::Perf => "perf stat -e instructions:u",
            InstrMethod::Valgrind => "valgrind --tool=cachegrind (Ir)",
            InstrMethod::None(_) => "none",
        }
    }

    fn read(&self, file: &Path) -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        match self {
            InstrMethod::Perf => nmxdp_bench::parse::perf_instructions(&text),
            InstrMethod::Valgrind => nmxdp_bench::parse::cachegrind_ir(&text),
            InstrMethod::None(_) => None,
        }
    }
}

/// User-space instructions per packet of `row`'s sender: two runs of the sender alone (`n1` and
/// `n2` frames) under the counter, so start-up and teardown cancel out.
#[allow(clippy::too_many_arguments)]
fn instr_per_packet(
    m: &InstrMethod,
    bins: &Bins,
    t: &Topo,
    row: Row,
    len: u32,
    counts: (u64, u64),
    dir: &Path,
    verbose: bool,
) -> Result<f64> {
    let mut pts = Vec::new();
    for n in [counts.0, counts.1] {
        let (tx, _, _, report) = bins
            .pair(row, t, n, len)
            .ok_or_else(|| anyhow!("row not available"))?;
        let file = dir.join(format!("instr-{}-{len}-{n}.out", row.name()));
        let _ = std::fs::remove_file(&file);
        let spec = tx.wrapped(&m.wrapper(&file));
        if verbose {
            eprintln!("  instr: {}", spec.display());
        }
        let e = spawn(&spec, t.fd_a())?.wait(Duration::from_secs(300));
        if e.code != 0 {
            bail!("exit {}: {}", e.code, tail(&e.stderr, 3));
        }
        let sent = match report {
            Report::Summary => parse_summary(&e.stdout, Dir::Sent).map(|s| s.packets),
            Report::Counts => parse_count_line(&e.stdout, Dir::Sent),
        }
        .ok_or_else(|| anyhow!("no sender summary"))?;
        let ins = m
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

struct Cell {
    row: Row,
    len: u32,
    runs: Vec<Run>,
    skipped: Option<String>,
    instr: Option<f64>,
    instr_note: Option<String>,
}

impl Cell {
    fn ok_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.error.is_none())
    }
    fn tx(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(|r| r.tx_pps).collect::<Vec<_>>()).map(|p| p / 1e6)
    }
    fn rx(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(|r| r.rx_pps).collect::<Vec<_>>()).map(|p| p / 1e6)
    }
    fn loss(&self) -> Option<f64> {
        median(&self.ok_runs().filter_map(Run::loss_pct).collect::<Vec<_>>())
    }
    fn rx_rss_kib(&self) -> Option<f64> {
        median(
            &self
                .ok_runs()
                .map(|r| r.rx.maxrss_kb as f64)
                .collect::<Vec<_>>(),
        )
    }
    fn failed(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter_map(|r| r.error.as_deref())
            .collect()
    }
}

fn f3(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

fn main() {
    let cli = Cli::parse();
    let h: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores into an atomic.
    unsafe {
        libc::signal(libc::SIGINT, h as libc::sighandler_t);
        libc::signal(libc::SIGTERM, h as libc::sighandler_t);
    }
    match run(&cli) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench-harness: {e:#}");
            std::process::exit(1);
        }
    }
}

fn packets(cli: &Cli) -> Result<(u64, u64)> {
    let spec = cli.packets.clone().or_else(|| {
        std::env::var("BENCH_PACKETS")
            .ok()
            .filter(|v| !v.trim().is_empty())
    });
    let def = if cli.smoke {
        (2000, 2000)
    } else {
        (1_000_000, 500_000)
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

fn kernel() -> String {
    // SAFETY: utsname is plain data filled by uname(2).
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "?".into();
    }
    // SAFETY: uname NUL-terminates the field.
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn run(cli: &Cli) -> Result<bool> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root: it creates network namespaces and veth pairs and attaches XDP");
    }
    let (n60, n1514) = packets(cli)?;
    let reps = match cli.reps {
        Some(r) => r,
        None => match std::env::var("BENCH_REPS") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().context("BENCH_REPS")?,
            _ => {
                if cli.smoke {
                    1
                } else {
                    3
                }
            }
        },
    }
    .max(1);
    let count_for = |len: u32| if len <= 60 { n60 } else { n1514 };

    let bin_dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow!("no directory for this program"))?,
    };
    let bin_dir = bin_dir.canonicalize().unwrap_or(bin_dir);
    let need = |name: &str| -> Result<PathBuf> {
        let p = bin_dir.join(name);
        if !p.is_file() {
            bail!(
                "{} missing: build the workspace in release mode first (make release)",
                p.display()
            );
        }
        Ok(p)
    };
    let c_app = cli
        .c_bin
        .clone()
        .unwrap_or_else(|| bin_dir.join("../c/nm_lib-plain"));
    let preload = cli
        .preload
        .clone()
        .unwrap_or_else(|| bin_dir.join("libnetmap.so"));
    let c_missing = if !c_app.is_file() {
        Some(format!(
            "{} not built (make -f mk/c.mk target/c/nm_lib-plain)",
            c_app.display()
        ))
    } else if !preload.is_file() {
        Some(format!("{} not built", preload.display()))
    } else {
        None
    };
    let bins = Bins {
        pktgen: need("pkt-gen")?,
        xdp_raw: need("xdp-raw")?,
        af_packet: need("af-packet")?,
        c_app: c_missing.is_none().then(|| {
            (
                c_app.canonicalize().unwrap_or(c_app.clone()),
                preload.canonicalize().unwrap_or(preload.clone()),
            )
        }),
        c_missing: c_missing.clone(),
    };
    if cli.require_c {
        if let Some(m) = &bins.c_missing {
            bail!("nmxdp-c-preload: {m}");
        }
    }
    let rows: Vec<Row> = if cli.rows.is_empty() {
        ROWS.to_vec()
    } else {
        let mut v = Vec::new();
        for r in &cli.rows {
            match ROWS.iter().find(|x| x.name() == r) {
                Some(x) => v.push(*x),
                None => bail!("unknown row {r} (nmxdp-rust, nmxdp-c-preload, xdp-raw, af-packet)"),
            }
        }
        v
    };
    let out = cli.out.clone().unwrap_or_else(|| {
        PathBuf::from(if cli.smoke {
            "target/bench/smoke"
        } else {
            "target/bench"
        })
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out_dir = out.canonicalize().unwrap_or(out.clone());
    let want_instr = !cli.no_instr && (!cli.smoke || cli.instr);
    let instr = if want_instr {
        InstrMethod::detect()
    } else {
        InstrMethod::None("not measured (--no-instr / smoke)".into())
    };
    let started = std::time::Instant::now();
    eprintln!(
        "bench: {} rows x frames {:?} x {reps} repetition(s); {n60} packets at 60 B, {n1514} at 1514 B",
        rows.len(),
        cli.frames
    );

    let mut cells: Vec<Cell> = Vec::new();
    for &len in &cli.frames {
        for &row in &rows {
            cells.push(Cell {
                row,
                len,
                runs: Vec::new(),
                skipped: (row == Row::NmxdpC)
                    .then(|| bins.c_missing.clone())
                    .flatten(),
                instr: None,
                instr_note: None,
            });
        }
    }

    let topo = Topo::new("", 1).context("creating the veth pair")?;
    for rep in 0..reps {
        for cell in cells.iter_mut() {
            if STOP.load(Relaxed) {
                bail!("interrupted");
            }
            if cell.skipped.is_some() {
                continue;
            }
            let n = count_for(cell.len);
            let (tx, rx, ready, report) = bins
                .pair(cell.row, &topo, n, cell.len)
                .expect("not skipped");
            let r = run_pair(&topo, &tx, &rx, ready, report, n, cli.verbose);
            eprintln!(
                "bench: rep {}/{reps} {:<16} {:>4} B: tx {} rx {} Mpps, sent {} received {}{}",
                rep + 1,
                cell.row.name(),
                cell.len,
                f3(r.tx_pps.map(|p| p / 1e6)),
                f3(r.rx_pps.map(|p| p / 1e6)),
                r.sent.map_or("?".into(), |v| v.to_string()),
                r.received.map_or("?".into(), |v| v.to_string()),
                r.error
                    .as_ref()
                    .map_or(String::new(), |e| format!("  FAILED: {e}"))
            );
            cell.runs.push(r);
        }
    }

    let mut instr_note = match &instr {
        InstrMethod::None(why) => Some(why.clone()),
        _ => None,
    };
    if !matches!(instr, InstrMethod::None(_)) {
        for cell in cells.iter_mut() {
            if cell.skipped.is_some() || STOP.load(Relaxed) {
                continue;
            }
            let n = count_for(cell.len);
            let counts = match instr {
                // Valgrind runs the sender's user code ~50x slower: fewer packets.
                InstrMethod::Valgrind => {
                    let n2 = n.min(if cell.len <= 60 { 200_000 } else { 100_000 });
                    (n2 / 4, n2)
                }
                _ => (n / 10, n),
            };
            match instr_per_packet(
                &instr,
                &bins,
                &topo,
                cell.row,
                cell.len,
                counts,
                &out_dir,
                cli.verbose,
            ) {
                Ok(v) => cell.instr = Some(v),
                Err(e) => cell.instr_note = Some(format!("{e:#}")),
            }
            eprintln!(
                "bench: instr {:<16} {:>4} B: {}",
                cell.row.name(),
                cell.len,
                cell.instr.map_or_else(
                    || cell.instr_note.clone().unwrap_or_default(),
                    |v| format!("{v:.0}/pkt")
                )
            );
        }
        if let InstrMethod::Valgrind = instr {
            instr_note = Some(
                "perf stat -e instructions:u is <not supported> here (no PMU in the VM): user-space \
                 instructions counted by valgrind --tool=cachegrind (Ir), sender alone, \
                 difference of two runs (N/4 and N packets) divided by the packets"
                    .into(),
            );
        } else if let InstrMethod::Perf = instr {
            instr_note = Some(
                "perf stat -e instructions:u of the sender alone, difference of two runs (N/10 and N packets) divided by the packets".into(),
            );
        }
    }
    drop(topo);

    // Multi-queue: pkt-gen -p 1 vs -p 2 on a 2-queue pair.
    let mut mq: Vec<(u32, Vec<Run>)> = Vec::new();
    if !cli.no_mq && rows.contains(&Row::NmxdpRust) && !STOP.load(Relaxed) {
        let t2 = Topo::new("mq", 2).context("creating the 2-queue veth pair")?;
        mq = vec![(1, Vec::new()), (2, Vec::new())];
        let n = n60;
        for rep in 0..reps {
            for (p, runs) in mq.iter_mut() {
                if STOP.load(Relaxed) {
                    bail!("interrupted");
                }
                let (ns, ps) = (n.to_string(), p.to_string());
                let pg = s(&bins.pktgen);
                let tx = Spec::new(&[
                    &pg,
                    "-i",
                    "netmap:va",
                    "-f",
                    "tx",
                    "-n",
                    &ns,
                    "-l",
                    "60",
                    "-w",
                    "0",
                    "-p",
                    &ps,
                ]);
                let rx = Spec::new(&[
                    &pg,
                    "-i",
                    "netmap:vb@conf:rx-slots=4096",
                    "-f",
                    "rx",
                    "-n",
                    &ns,
                    "-W",
                    "-w",
                    "0",
                    "-p",
                    &ps,
                ]);
                let r = run_pair(
                    &t2,
                    &tx,
                    &rx,
                    "Receiving from",
                    Report::Summary,
                    n,
                    cli.verbose,
                );
                eprintln!(
                    "bench: rep {}/{reps} 2-queue pkt-gen -p {p}: tx {} rx {} Mpps{}",
                    rep + 1,
                    f3(r.tx_pps.map(|x| x / 1e6)),
                    f3(r.rx_pps.map(|x| x / 1e6)),
                    r.error
                        .as_ref()
                        .map_or(String::new(), |e| format!("  FAILED: {e}"))
                );
                runs.push(r);
            }
        }
    }

    let layout = nmxdp::config::Config::from_env()
        .ok()
        .and_then(|c| nmxdp::region::Layout::new(&c).ok());
    let elapsed = started.elapsed().as_secs_f64();
    let (md, json, all_ok) = render(
        cli,
        &cells,
        &mq,
        layout,
        &instr,
        instr_note,
        reps,
        (n60, n1514),
        elapsed,
    );
    print!("{md}");
    std::fs::write(out_dir.join("results.md"), &md).context("writing results.md")?;
    std::fs::write(out_dir.join("results.json"), json.pretty()).context("writing results.json")?;
    eprintln!(
        "bench: wrote {} and {}",
        out_dir.join("results.md").display(),
        out_dir.join("results.json").display()
    );
    Ok(all_ok)
}

#[allow(clippy::too_many_arguments)]
fn render(
    cli: &Cli,
    cells: &[Cell],
    mq: &[(u32, Vec<Run>)],
    layout: Option<nmxdp::region::Layout>,
    instr: &InstrMethod,
    instr_note: Option<String>,
    reps: u32,
    (n60, n1514): (u64, u64),
    elapsed: f64,
) -> (String, Json, bool) {
    let mut md = String::new();
    let mut all_ok = true;
    let mut notes: Vec<String> = Vec::new();
    let _ = writeln!(
        md,
        "# nmxdp bench{}\n\nveth pair between two network namespaces, {} vCPU(s), kernel {}; {} packets per run at 60 B, {} at 1514 B; {} repetition(s), medians.\n",
        if cli.smoke {
            " (smoke: a functional check; counts this small give no meaningful rates)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel(),
        n60,
        n1514,
        reps
    );
    let _ = writeln!(
        md,
        "| row | frame | tx Mpps | rx Mpps | loss % | instr/pkt |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    let mut jrows = Vec::new();
    for c in cells {
        let fails = c.failed();
        let name = if c.row == Row::NmxdpC && c.skipped.is_none() {
            format!("{} †", c.row.name())
        } else {
            c.row.name().to_string()
        };
        if let Some(why) = &c.skipped {
            let _ = writeln!(md, "| {name} | {} | skipped | | | |", c.len);
            let note = format!("{} skipped: {why}", c.row.name());
            if !notes.contains(&note) {
                notes.push(note);
            }
        } else {
            let instr_s = c.instr.map_or("n/a".into(), |v| format!("{v:.0}"));
            let status = if fails.is_empty() {
                String::new()
            } else {
                all_ok = false;
                format!(" ({} of {} runs FAILED)", fails.len(), c.runs.len())
            };
            let _ = writeln!(
                md,
                "| {name}{status} | {} | {} | {} | {} | {instr_s} |",
                c.len,
                f3(c.tx()),
                f3(c.rx()),
                c.loss().map_or("n/a".into(), |l| format!("{l:.2}")),
            );
            for f in &fails {
                notes.push(format!("{} {} B failed: {f}", c.row.name(), c.len));
            }
            if let Some(n) = &c.instr_note {
                notes.push(format!("{} {} B instr/pkt: {n}", c.row.name(), c.len));
            }
        }
        jrows.push(Json::obj([
            ("row", Json::str(c.row.name())),
            ("frame", Json::Int(c.len as i64)),
            (
                "status",
                Json::str(if c.skipped.is_some() {
                    "skipped"
                } else if fails.is_empty() {
                    "ok"
                } else {
                    "failed"
                }),
            ),
            ("note", c.skipped.clone().map_or(Json::Null, Json::Str)),
            ("tx_mpps", Json::num(c.tx())),
            ("rx_mpps", Json::num(c.rx())),
            ("loss_pct", Json::num(c.loss())),
            ("instr_per_pkt", Json::num(c.instr)),
            ("rx_maxrss_kib", Json::num(c.rx_rss_kib())),
            ("runs", Json::Arr(c.runs.iter().map(Run::json).collect())),
        ]));
    }
    md.push('\n');

    // Ratios at 60 B.
    let get = |row: Row| cells.iter().find(|c| c.row == row && c.len == 60);
    let mut jratios = Vec::new();
    let mut ratio_lines = Vec::new();
    for nm in [Row::NmxdpRust, Row::NmxdpC] {
        let Some(a) = get(nm).filter(|c| c.skipped.is_none()) else {
            continue;
        };
        for (base, dir, target, what) in [
            (Row::XdpRaw, "tx", 0.95, "≥ 0.95"),
            (Row::XdpRaw, "rx", 0.95, "≥ 0.95"),
            (Row::AfPacket, "tx", 1.0, "≥ 1.00, not behind"),
            (Row::AfPacket, "rx", 1.0, "≥ 1.00"),
        ] {
            let Some(b) = get(base).filter(|c| c.skipped.is_none()) else {
                continue;
            };
            let (x, y) = if dir == "tx" {
                (a.tx(), b.tx())
            } else {
                (a.rx(), b.rx())
            };
            let r = ratio(x, y);
            let verdict = match r {
                Some(v) if v >= target => "met",
                Some(_) => "missed",
                None => "n/a",
            };
            let base_name = if base == Row::XdpRaw {
                "raw"
            } else {
                "af_packet"
            };
            ratio_lines.push(format!(
                "- {}/{base_name} {dir}: {} (target {what}): **{verdict}**",
                nm.name(),
                r.map_or("n/a".into(), |v| format!("{v:.3}"))
            ));
            jratios.push(Json::obj([
                ("row", Json::str(nm.name())),
                ("vs", Json::str(base.name())),
                ("dir", Json::str(dir)),
                ("ratio", Json::num(r)),
                ("target", Json::Num(target)),
                ("verdict", Json::str(verdict)),
            ]));
        }
    }
    if !ratio_lines.is_empty() {
        let _ = writeln!(md, "Ratios at 60-byte frames (medians):\n");
        for l in &ratio_lines {
            let _ = writeln!(md, "{l}");
        }
        md.push('\n');
    }

    // Scaling.
    let mut jmq = Json::Null;
    if !mq.is_empty() {
        let med = |runs: &[Run], f: fn(&Run) -> Option<f64>| {
            median(
                &runs
                    .iter()
                    .filter(|r| r.error.is_none())
                    .filter_map(f)
                    .collect::<Vec<_>>(),
            )
            .map(|p| p / 1e6)
        };
        let mut parts = Vec::new();
        let mut jm = Vec::new();
        for (p, runs) in mq {
            let fails: Vec<&str> = runs.iter().filter_map(|r| r.error.as_deref()).collect();
            if !fails.is_empty() {
                all_ok = false;
                for f in &fails {
                    notes.push(format!("2-queue -p {p} failed: {f}"));
                }
            }
            let (tx, rx) = (med(runs, |r| r.tx_pps), med(runs, |r| r.rx_pps));
            parts.push((*p, tx, rx));
            jm.push(Json::obj([
                ("threads", Json::Int(*p as i64)),
                ("tx_mpps", Json::num(tx)),
                ("rx_mpps", Json::num(rx)),
                ("runs", Json::Arr(runs.iter().map(Run::json).collect())),
            ]));
        }
        let p1 = parts.iter().find(|x| x.0 == 1);
        let p2 = parts.iter().find(|x| x.0 == 2);
        let (stx, srx) = match (p1, p2) {
            (Some(a), Some(b)) => (ratio(b.1, a.1), ratio(b.2, a.2)),
            _ => (None, None),
        };
        let _ = writeln!(
            md,
            "Scaling (2-queue veth, 60 B, pkt-gen, one thread per ring with -p 2): -p 1: tx {} / rx {} Mpps; -p 2: tx {} / rx {} Mpps; -p 2 / -p 1: tx ×{} rx ×{}\n",
            f3(p1.and_then(|x| x.1)),
            f3(p1.and_then(|x| x.2)),
            f3(p2.and_then(|x| x.1)),
            f3(p2.and_then(|x| x.2)),
            stx.map_or("n/a".into(), |v| format!("{v:.2}")),
            srx.map_or("n/a".into(), |v| format!("{v:.2}")),
        );
        jmq = Json::obj([
            ("frame", Json::Int(60)),
            ("queues", Json::Int(2)),
            ("results", Json::Arr(jm)),
            ("scaling_tx", Json::num(stx)),
            ("scaling_rx", Json::num(srx)),
        ]);
    }

    // Memory.
    let mib = |kib: f64| kib / 1024.0;
    let rss = |row: Row| get(row).and_then(Cell::rx_rss_kib);
    let mut mem = String::from("Memory (peak RSS of the receiver, 60 B):");
    for row in ROWS {
        if let Some(k) = rss(row) {
            let _ = write!(mem, " {} {:.1} MiB;", row.name(), mib(k));
        }
    }
    let mut jmem = vec![(
        "rx_maxrss_kib".to_string(),
        Json::obj(ROWS.iter().map(|r| (r.name(), Json::num(rss(*r))))),
    )];
    if let Some(l) = layout {
        let umem = l.umem_len();
        let _ = write!(
            mem,
            " nmxdp region {:.1} MiB (UMEM {} buffers × {} B = {:.1} MiB, pinned by the kernel at registration, + netmap_if/ring pools {:.1} MiB); xdp-raw UMEM 16 MiB; af-packet RX ring 16 MiB.",
            l.memsize as f64 / 1048576.0,
            l.buf_num,
            l.buf_size,
            umem as f64 / 1048576.0,
            (l.if_pool_size + l.ring_pool_size) as f64 / 1048576.0
        );
        jmem.push(("nmxdp_region_bytes".into(), Json::Int(l.memsize as i64)));
        jmem.push(("nmxdp_umem_bytes".into(), Json::Int(umem as i64)));
        jmem.push((
            "nmxdp_pools_bytes".into(),
            Json::Int((l.if_pool_size + l.ring_pool_size) as i64),
        ));
    }
    let _ = writeln!(md, "{mem}\n");

    // Receiver sleeps: each one costs the sending side a wakeup (the veth softirq that delivers
    // the frames runs on the sender's CPU).
    let wakeups = |row: Row| {
        get(row).and_then(|c| {
            median(
                &c.ok_runs()
                    .filter_map(|r| {
                        let n = r.received.filter(|&n| n > 0)?;
                        Some(r.rx.vcsw as f64 * 1000.0 / n as f64)
                    })
                    .collect::<Vec<_>>(),
            )
        })
    };
    let mut wl = String::from(
        "Receiver sleeps per 1000 packets (voluntary context switches, 60 B; each is a wakeup the sender's CPU pays for):",
    );
    let mut jw = Vec::new();
    for row in ROWS {
        if let Some(w) = wakeups(row) {
            let _ = write!(wl, " {} {w:.0};", row.name());
        }
        jw.push((row.name(), Json::num(wakeups(row))));
    }
    if jw.iter().any(|(_, v)| *v != Json::Null) {
        let _ = writeln!(md, "{}\n", wl.trim_end_matches(';'));
    }

    // What each program reported about its XDP attach and bind modes (first good run).
    let mode_of = |text: &str| {
        text.lines()
            .find(|l| l.contains("bind=") || l.contains("TPACKET"))
            .map(|l| l.trim().to_string())
    };
    let mut jmodes = Vec::new();
    for row in ROWS {
        let Some(run) = cells
            .iter()
            .filter(|c| c.row == row)
            .flat_map(|c| c.ok_runs())
            .next()
        else {
            continue;
        };
        let (rx, tx) = (mode_of(&run.rx.stderr), mode_of(&run.tx.stderr));
        if rx.is_some() || tx.is_some() {
            notes.push(format!(
                "modes of {}: receiver `{}`, sender `{}`",
                row.name(),
                rx.clone().unwrap_or_else(|| "?".into()),
                tx.clone().unwrap_or_else(|| "?".into())
            ));
        }
        jmodes.push((
            row.name().to_string(),
            Json::obj([
                ("rx", rx.map_or(Json::Null, Json::Str)),
                ("tx", tx.map_or(Json::Null, Json::Str)),
            ]),
        ));
    }
    if cells
        .iter()
        .any(|c| c.row == Row::NmxdpC && c.skipped.is_none())
    {
        notes.push(
            "† nm_lib prints only packet counts: its tx Mpps is the rate at which frames reached the receiving veth (its counters sampled every 5 ms), its rx Mpps that rate times received/arrived"
                .into(),
        );
    }
    notes.push(format!(
        "instr/pkt: {}",
        instr_note.clone().unwrap_or_else(|| instr.label().into())
    ));
    notes.push("af-packet rx consumes whole TPACKET_V3 blocks (-b does not apply); every other row moves batches of 512".into());
    let _ = writeln!(md, "Notes:\n");
    for n in &notes {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(md, "\nTotal time {elapsed:.0} s.");

    let json = Json::obj([
        ("smoke", Json::Bool(cli.smoke)),
        ("kernel", Json::str(kernel())),
        (
            "cpus",
            Json::Int(std::thread::available_parallelism().map_or(0, |n| n.get()) as i64),
        ),
        ("packets_60", Json::Int(n60 as i64)),
        ("packets_1514", Json::Int(n1514 as i64)),
        ("repetitions", Json::Int(reps as i64)),
        ("instr_method", Json::str(instr.label())),
        ("rows", Json::Arr(jrows)),
        ("ratios_60", Json::Arr(jratios)),
        ("multiqueue", jmq),
        ("memory", Json::Obj(jmem)),
        ("modes", Json::Obj(jmodes)),
        ("rx_sleeps_per_kpkt_60", Json::obj(jw)),
        (
            "notes",
            Json::Arr(notes.iter().map(|n| Json::str(n.clone())).collect()),
        ),
        ("ok", Json::Bool(all_ok)),
        ("elapsed_s", Json::num(Some(elapsed))),
    ]);
    (md, json, all_ok)
}
