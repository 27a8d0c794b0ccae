//! The report: results.md (also printed on stdout) and results.json, from the runs.
//!
//! Sections, in this order: the table of rows ([`table`]), the ratios at 60 B ([`ratios`]), the
//! 2-queue scaling ([`scaling`]), open latency ([`open`](mod@open)), memory and receiver sleeps
//! ([`resources`]), then notes (among them each row's XDP and bind modes, [`modes`]).

mod modes;
mod open;
mod ratios;
mod resources;
mod scaling;
mod table;

use std::fmt::Write as _;

use nmxdp_bench::json::Json;

use crate::cell::Cell;
use crate::cli::Plan;
use crate::open::OpenRun;
use crate::reps::MqRuns;
use crate::rows::Row;

/// What the bench measured.
pub struct Results {
    pub cells: Vec<Cell>,
    pub mq: Vec<MqRuns>,
    /// The open-latency runs (none when skipped).
    pub open: Vec<OpenRun>,
    /// How instructions per packet were counted, or why not.
    pub instr_note: String,
    pub layout: Option<nmxdp::region::Layout>,
    pub elapsed: f64,
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
    memory: Vec<(String, Json)>,
    modes: Vec<(String, Json)>,
    sleeps: Vec<(&'static str, Json)>,
}

/// A rate or ratio with three decimals, or "n/a".
pub fn f3(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
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
    let memory = resources::memory(&mut doc.md, &res.cells, res.layout);
    let sleeps = resources::sleeps(&mut doc.md, &res.cells);
    let modes = modes::modes(&mut doc.notes, &res.cells);
    footer(&mut doc, res);
    let s = Sections {
        rows,
        ratios,
        multiqueue,
        open_latency,
        memory,
        modes,
        sleeps,
    };
    let json = json(plan, res, &doc, s);
    (doc.md, json, doc.all_ok)
}

/// Title, setup and the table's head.
fn header(plan: &Plan) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# nmxdp bench{}\n\nveth pair between two network namespaces, {} vCPU(s), kernel {}; {} packets per run at 60 B, {} at 1514 B; {} repetition(s), medians.\n",
        if plan.smoke {
            " (smoke: a functional check; counts this small give no meaningful rates)"
        } else {
            ""
        },
        cpus(),
        kernel(),
        plan.n60,
        plan.n1514,
        plan.reps
    );
    let _ = writeln!(
        md,
        "| row | frame | tx Mpps | rx Mpps | loss % | instr/pkt |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    md
}

/// The notes every report carries, the list of notes and the total time.
fn footer(doc: &mut Doc, res: &Results) {
    if res
        .cells
        .iter()
        .any(|c| c.row == Row::NmxdpC && c.skipped.is_none())
    {
        doc.notes.push(
            "† nm_lib prints only packet counts: its tx Mpps is the rate at which frames reached the receiving veth (its counters sampled every 5 ms), its rx Mpps that rate times received/arrived"
                .into(),
        );
    }
    doc.notes.push(format!("instr/pkt: {}", res.instr_note));
    doc.notes.push("af-packet rx consumes whole TPACKET_V3 blocks (-b does not apply); every other row moves batches of 512".into());
    let _ = writeln!(doc.md, "Notes:\n");
    for n in &doc.notes {
        let _ = writeln!(doc.md, "- {n}");
    }
    let _ = writeln!(doc.md, "\nTotal time {:.0} s.", res.elapsed);
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
        ("instr_method", Json::str(plan.instr.label())),
        ("rows", Json::Arr(s.rows)),
        ("ratios_60", Json::Arr(s.ratios)),
        ("multiqueue", s.multiqueue),
        ("open_latency", s.open_latency),
        ("memory", Json::Obj(s.memory)),
        ("modes", Json::Obj(s.modes)),
        ("rx_sleeps_per_kpkt_60", Json::obj(s.sleeps)),
        (
            "notes",
            Json::Arr(doc.notes.iter().map(|n| Json::str(n.clone())).collect()),
        ),
        ("ok", Json::Bool(doc.all_ok)),
        ("elapsed_s", Json::num(Some(res.elapsed))),
    ])
}
