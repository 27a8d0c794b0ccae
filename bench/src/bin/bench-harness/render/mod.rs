//! The report: results.md (also printed on stdout) and results.json, from the runs.
//!
//! Sections, in this order: the table of rows ([`table`]), the ratios at 60 B ([`ratios`]), the
//! 2-queue scaling ([`scaling`]), open latency ([`open`](mod@open)), round-trip latency
//! ([`latency`](mod@latency)), paced loss ([`paced`]), steering ([`steer`]), host rings
//! ([`host`]), 9,000-byte frames ([`jumbo`]), pipes ([`pipes`]), lb ([`lb`]; these three on
//! plain lists of runs, [`runs`]), memory and receiver sleeps ([`resources`]), then notes (among
//! them each row's XDP and bind modes, [`modes`]).

mod compare;
mod host;
mod jumbo;
mod latency;
mod lb;
mod modes;
mod open;
mod paced;
mod pipes;
mod ratios;
mod resources;
mod runs;
mod scaling;
mod steer;
mod table;

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{MedianCi, RESAMPLES, SEED};

use crate::cell::Cell;
use crate::cli::Plan;
use crate::latency::LatencyRuns;
use crate::open::OpenRun;
use crate::reps::MqRuns;
use crate::rows::Row;

/// What the bench measured.
pub struct Results {
    pub cells: Vec<Cell>,
    pub mq: Vec<MqRuns>,
    /// The open-latency runs (none when skipped).
    pub open: Vec<OpenRun>,
    /// The ping-pong rows (none when skipped).
    pub latency: Option<LatencyRuns>,
    /// The paced-loss runs (none when skipped).
    pub paced: Option<crate::paced::PacedRuns>,
    /// The steering rows (none when skipped).
    pub steer: Option<crate::steer::SteerRuns>,
    /// The host-rings section (none when skipped).
    pub host: Option<crate::host::HostRuns>,
    /// The pipe rows (none when skipped).
    pub pipes: Option<crate::pipes::PipeRuns>,
    /// The lb rows (none when skipped).
    pub lb: Option<crate::lb::LbRuns>,
    /// The 9,000-byte rows (none when skipped).
    pub jumbo: Option<crate::jumbo::JumboRuns>,
    /// How instructions per packet were counted, or why not.
    pub instr_note: String,
    pub layout: Option<nmxdp::region::Layout>,
    pub elapsed: f64,
    pub others: Others,
}

/// Other processes' user-space CPU, in CPUs ([`crate::busy`]): while the throughput rows ran,
/// and over the whole bench; and the throughput repetitions run again because of it.
pub struct Others {
    pub throughput: Option<f64>,
    pub total: Option<f64>,
    pub redone: Vec<(u32, crate::reps::Redone)>,
}

/// The Markdown so far, the notes that end it, and whether every run succeeded.
struct Doc {
    md: String,
    notes: Vec<String>,
    all_ok: bool,
}

/// The JSON of each section, in the order results.json lists them.
struct Sections {
    rows: Vec<Json>,
    ratios: Vec<Json>,
    multiqueue: Json,
    open_latency: Json,
    latency: Json,
    paced: Json,
    steer: Json,
    host: Json,
    pipes: Json,
    lb: Json,
    jumbo: Json,
    memory: Vec<(String, Json)>,
    modes: Vec<(String, Json)>,
    sleeps: Vec<(&'static str, Json)>,
}

/// A rate or ratio with three decimals, or "n/a".
pub fn f3(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

/// "1.012 [0.985, 1.030]": a median and its 95% interval with `digits` decimals, or "n/a".
pub fn with_ci(ci: Option<&MedianCi>, digits: usize) -> String {
    ci.map_or("n/a".into(), |c| {
        format!("{:.d$} [{:.d$}, {:.d$}]", c.median, c.lo, c.hi, d = digits)
    })
}

/// `{"median", "ci95_lo", "ci95_hi", "n"}` of results.json, null without data.
pub fn ci_json(ci: Option<&MedianCi>) -> Json {
    ci.map_or(Json::Null, |c| {
        Json::obj([
            ("median", Json::Num(c.median)),
            ("ci95_lo", Json::Num(c.lo)),
            ("ci95_hi", Json::Num(c.hi)),
            ("n", Json::Int(c.n as i64)),
        ])
    })
}

/// How every interval of the report is computed, for its notes and results.json.
pub fn ci_method() -> String {
    format!("95% percentile bootstrap of the median: {RESAMPLES} resamples with replacement, fixed seed {SEED:#x} (the same runs always give the same interval)")
}

/// The CPUs the bench could use (the harness's own affinity is narrower once it pinned itself).
fn cpus() -> usize {
    crate::proc::cpus().allowed
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

/// results.md, results.json, and whether every run succeeded.
pub fn render(plan: &Plan, res: &Results) -> (String, Json, bool) {
    let mut doc = Doc {
        md: header(plan),
        notes: Vec::new(),
        all_ok: true,
    };
    let rows = table::table(&mut doc, &res.cells);
    doc.md.push('\n');
    let ratios = ratios::ratios(&mut doc.md, &res.cells);
    let multiqueue = scaling::scaling(&mut doc, &res.mq);
    let umem_mib = res.layout.map(|l| l.umem_len() >> 20);
    let open_latency = open::open_latency(&mut doc, &res.open, umem_mib);
    let latency = latency::latency(&mut doc, res.latency.as_ref());
    let paced = paced::paced(&mut doc, res.paced.as_ref());
    let steer = steer::steer(&mut doc, res.steer.as_ref());
    let host = host::host(&mut doc, res.host.as_ref());
    let jumbo = jumbo::jumbo(&mut doc, res.jumbo.as_ref());
    let pipes = pipes::pipes(&mut doc, res.pipes.as_ref());
    let lb = lb::lb(&mut doc, res.lb.as_ref());
    let memory = resources::memory(&mut doc.md, &res.cells, res.layout);
    let sleeps = resources::sleeps(&mut doc.md, &res.cells);
    let modes = modes::modes(&mut doc.notes, &res.cells);
    footer(&mut doc, res);
    let s = Sections {
        rows,
        ratios,
        multiqueue,
        open_latency,
        latency,
        paced,
        steer,
        host,
        pipes,
        lb,
        jumbo,
        memory,
        modes,
        sleeps,
    };
    let json = json(plan, res, &doc, s);
    (doc.md, json, doc.all_ok)
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "n/a".into())
}

/// Where the processes ran, for the report's head.
fn pinning() -> String {
    let c = crate::proc::cpus();
    if c.rx == c.tx {
        return format!(
            "Only one CPU ({}) is available: every sender and receiver, and the harness, share it.",
            c.rx
        );
    }
    format!(
        "CPUs: every row's receiver is pinned to CPU {rx} and its sender to CPU {tx} (sched_setaffinity before exec), the same for every row; the open-latency programs run on CPU {tx}; the 2-queue scaling runs are not pinned. Also on CPU {rx}: the harness itself (progress, a thread reading the receiving veth's counters every 5 ms, the children's output readers; all mostly asleep). Also on CPU {tx}: the kernel's receive work for the veth pair (veth runs the peer's NAPI on the transmitting CPU), so the sender's CPU carries both sides' kernel work. Nothing else of the bench runs during a measurement; other processes of the machine are not excluded (load average {} at the end of the run).\n",
        loadavg(),
        rx = c.rx,
        tx = c.tx,
    )
}

/// Title, setup and the table's head.
fn header(plan: &Plan) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# nmxdp bench{}\n\nveth pair between two network namespaces, {} vCPU(s), kernel {}; {} packets per run at 60 B, {} at 1514 B; at 60 B {} repetition(s), in each of which every other row runs once between two runs of xdp-raw (rows rotated from one repetition to the next); at 1514 B {} repetition(s), each running every row once, starting one row later than the one before; medians over the runs.\n",
        if plan.smoke {
            " (smoke: a functional check; counts this small give no meaningful rates)"
        } else {
            ""
        },
        cpus(),
        kernel(),
        plan.n60,
        plan.n1514,
        plan.reps,
        plan.reps_other
    );
    let _ = writeln!(md, "{}", pinning());
    // No throughput rows (`--only latency`): no table.
    if !plan.rows.is_empty() {
        let _ = writeln!(
            md,
            "| row | frame | tx Mpps | rx Mpps | loss % | tx instr/pkt | rx instr/pkt |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    }
    md
}

/// How the wire rate (what the rows without rates of their own get) compares with the rate a
/// program measures itself, over the runs that have both: the median of wire / own receive
/// rate, and how many runs. A check of the wire rate's method, in every run.
fn wire_over_own(cells: &[Cell]) -> Option<(f64, usize)> {
    let r: Vec<f64> = cells
        .iter()
        .flat_map(|c| &c.runs)
        .filter(|r| !r.from_counters)
        .filter_map(|r| Some(r.wire_pps? / r.rx_pps?))
        .collect();
    Some((nmxdp_bench::stats::median(&r)?, r.len()))
}

/// The notes every report carries, the list of notes and the total time.
fn footer(doc: &mut Doc, res: &Results) {
    if res
        .cells
        .iter()
        .any(|c| c.row == Row::NmxdpC && c.skipped.is_none())
    {
        let check = match wire_over_own(&res.cells) {
            Some((r, n)) => format!("; on the rows that print their own rate, this wire rate is {r:.4} of theirs (median over {n} runs)"),
            None => String::new(),
        };
        doc.notes.push(format!(
            "† nm_lib prints only packet counts: its tx Mpps is the rate at which frames reached the receiving veth (its counter sampled every 5 ms, the rate between the first and the last sample taken while traffic flowed), its rx Mpps that rate times received/arrived{check}"
        ));
    }
    doc.notes.push(format!("instr/pkt: {}", res.instr_note));
    doc.notes.push(format!("intervals: {}", ci_method()));
    doc.notes.push("af-packet rx consumes whole TPACKET_V3 blocks (-b does not apply); every other row moves batches of 512".into());
    let _ = writeln!(doc.md, "Notes:\n");
    for n in &doc.notes {
        let _ = writeln!(doc.md, "- {n}");
    }
    let _ = writeln!(
        doc.md,
        "\nTotal time {:.0} s. Other processes' user-space CPU (the machine's minus the bench's own): {} CPU while the throughput rows ran, {} over the whole bench; more than a few hundredths means other work shared the machine and the figures are noisier than they need be.",
        res.elapsed,
        f3(res.others.throughput),
        f3(res.others.total)
    );
    if !res.others.redone.is_empty() {
        let list: Vec<String> = res
            .others
            .redone
            .iter()
            .map(|(len, r)| format!("{len} B rep {} ({:.2} CPU)", r.rep + 1, r.others_cpus))
            .collect();
        let _ = writeln!(
            doc.md,
            "Throughput repetitions run again because other processes used more than {} CPU during them (their runs dropped): {}.",
            crate::reps::DISTURBED_CPUS,
            list.join(", ")
        );
    }
}

/// How the runs were ordered and placed and how intervals and verdicts are made.
fn method() -> Json {
    let c = crate::proc::cpus();
    Json::obj([
        (
            "order",
            Json::str("60 B: every other row runs once per repetition between two runs of xdp-raw (the rows rotated per repetition, the xdp-raw run between two rows shared); other sizes and sections: every row once per repetition, starting one row later than the repetition before; all 60 B repetitions first; a repetition during which other processes used more than 0.1 CPU is run again"),
        ),
        (
            "cpus",
            Json::obj([
                ("receiver", Json::Int(c.rx as i64)),
                ("sender", Json::Int(c.tx as i64)),
                ("harness", Json::Int(c.rx as i64)),
                ("open_latency", Json::Int(c.tx as i64)),
                ("allowed", Json::Int(c.allowed as i64)),
            ]),
        ),
        ("loadavg_end", Json::str(loadavg())),
        ("ratios", Json::str("median of the per-pair ratios: each run over the geometric mean of the other row's runs right before and after it, or of its repetition's runs when none is adjacent")),
        ("ci", Json::str(ci_method())),
        (
            "verdicts",
            Json::str("at least a target: met when the interval's lower bound is >= target, missed when its upper bound is below it; at most a target: met when the upper bound is <= target, missed when the lower bound is above it; undecided otherwise"),
        ),
    ])
}

/// results.json.
fn json(plan: &Plan, res: &Results, doc: &Doc, s: Sections) -> Json {
    Json::obj([
        ("smoke", Json::Bool(plan.smoke)),
        ("kernel", Json::str(kernel())),
        ("cpus", Json::Int(cpus() as i64)),
        ("packets_60", Json::Int(plan.n60 as i64)),
        ("packets_1514", Json::Int(plan.n1514 as i64)),
        ("repetitions", Json::Int(plan.reps as i64)),
        ("repetitions_other", Json::Int(plan.reps_other as i64)),
        ("method", method()),
        ("instr_method", Json::str(plan.instr.label())),
        ("rows", Json::Arr(s.rows)),
        ("ratios_60", Json::Arr(s.ratios)),
        ("multiqueue", s.multiqueue),
        ("open_latency", s.open_latency),
        ("latency", s.latency),
        ("paced", s.paced),
        ("steer", s.steer),
        ("host", s.host),
        ("jumbo", s.jumbo),
        ("pipes", s.pipes),
        ("lb", s.lb),
        ("memory", Json::Obj(s.memory)),
        ("modes", Json::Obj(s.modes)),
        ("rx_sleeps_per_kpkt_60", Json::obj(s.sleeps)),
        (
            "wire_over_own_rate",
            Json::num(wire_over_own(&res.cells).map(|(r, _)| r)),
        ),
        (
            "notes",
            Json::Arr(doc.notes.iter().map(|n| Json::str(n.clone())).collect()),
        ),
        ("ok", Json::Bool(doc.all_ok)),
        ("elapsed_s", Json::num(Some(res.elapsed))),
        (
            "others_user_cpus",
            Json::obj([
                ("throughput", Json::num(res.others.throughput)),
                ("total", Json::num(res.others.total)),
                ("disturbed_above", Json::Num(crate::reps::DISTURBED_CPUS)),
                (
                    "throughput_reps_redone",
                    Json::Arr(
                        res.others
                            .redone
                            .iter()
                            .map(|(len, r)| {
                                Json::obj([
                                    ("frame", Json::Int(i64::from(*len))),
                                    ("rep", Json::Int(r.rep as i64)),
                                    ("others_cpus", Json::Num(r.others_cpus)),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ]),
        ),
    ])
}
