//! The host-rings section: host path rate per direction and frame size next to the kernel
//! alone (the ratio a [`Comparison`]: median of the per-pair ratios, each run paired with the
//! kernel's runs next to it, with its 95% interval), and the ICMP round trip through an in-line
//! forwarder next to the direct one.

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median, quantile, Comparison, Sample};

use super::{compare, f3, Doc};
use crate::host::{HostRuns, Rate, Rtts};

fn samples(v: &[Rate]) -> Vec<Sample> {
    v.iter()
        .map(|r| Sample {
            rep: r.rep,
            seq: r.seq,
            value: r.pps,
        })
        .collect()
}

fn med_pps(v: &[Rate]) -> Option<f64> {
    median(&v.iter().filter_map(|r| r.pps).collect::<Vec<_>>())
}

/// "received/sent" summed over the runs.
fn delivered(v: &[Rate]) -> String {
    let (r, s) = v
        .iter()
        .fold((0, 0), |(r, s), x| (r + x.received, s + x.sent));
    format!("{r}/{s}")
}

fn rates_json(v: &[Rate]) -> Json {
    Json::obj([
        ("median_pps", Json::num(med_pps(v))),
        (
            "runs",
            Json::Arr(
                v.iter()
                    .map(|r| {
                        Json::obj([
                            ("rep", Json::Int(r.rep as i64)),
                            ("seq", Json::Int(r.seq as i64)),
                            ("sent", Json::Int(r.sent as i64)),
                            ("received", Json::Int(r.received as i64)),
                            ("pps", Json::num(r.pps)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn rtt_cells(r: &Rtts) -> (Option<f64>, Option<f64>) {
    (median(&r.us), quantile(&r.us, 0.99))
}

fn rtt_json(r: &Rtts) -> Json {
    let (m, p99) = rtt_cells(r);
    Json::obj([
        ("sent", Json::Int(i64::from(r.sent))),
        ("replies", Json::Int(r.us.len() as i64)),
        ("median_us", Json::num(m)),
        ("p99_us", Json::num(p99)),
    ])
}

pub fn host(doc: &mut Doc, h: Option<&HostRuns>) -> Json {
    let Some(h) = h else {
        return Json::Null;
    };
    for e in &h.errors {
        doc.notes.push(format!("host rings: {e}"));
        doc.all_ok = false;
    }
    let _ = writeln!(
        doc.md,
        "\nHost rings (netmap:vb^; {} repetition(s) of {} frames per cell; rates are frames received over first send to last receive, medians; nmxdp / kernel is the median of the per-pair ratios [95% interval], nmxdp and kernel alternating which runs first; \"kernel\" is the same traffic with no nmxdp in the path: B's UDP socket to A's, or an AF_PACKET socket on va to B's UDP socket):\n",
        h.reps, h.frames
    );
    let _ = writeln!(
        doc.md,
        "| direction | frame | nmxdp kpps | kernel kpps | nmxdp / kernel | received/sent nmxdp | received/sent kernel |"
    );
    let _ = writeln!(doc.md, "|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for r in &h.rows {
        let (n, k) = (med_pps(&r.nmxdp), med_pps(&r.kernel));
        let cmp = Comparison::new(&samples(&r.nmxdp), &samples(&r.kernel), None);
        let _ = writeln!(
            doc.md,
            "| {} | {} B | {} | {} | {} | {} | {} |",
            r.dir.label(),
            r.len,
            f3(n.map(|p| p / 1e3)),
            f3(k.map(|p| p / 1e3)),
            compare::summary(&cmp, 3),
            delivered(&r.nmxdp),
            delivered(&r.kernel)
        );
        if r.nmxdp.iter().all(|x| x.received == 0) {
            doc.notes.push(format!(
                "host rings: {} {} B: nothing received through nmxdp",
                r.dir.label(),
                r.len
            ));
            doc.all_ok = false;
        }
        rows.push(Json::obj([
            ("direction", Json::str(r.dir.label())),
            ("frame_bytes", Json::Int(r.len as i64)),
            ("nmxdp", rates_json(&r.nmxdp)),
            ("kernel", rates_json(&r.kernel)),
            (
                "nmxdp_to_kernel",
                compare::json(vec![("of", Json::str("pps"))], &cmp),
            ),
        ]));
    }
    let (bm, bp) = rtt_cells(&h.bridge);
    let (dm, dp) = rtt_cells(&h.direct);
    let _ = writeln!(
        doc.md,
        "\nICMP round trip from A to B's stack, one echo request in flight (raw socket), through a busy-waiting forwarder netmap:vb <-> netmap:vb^ in B and directly:\n"
    );
    let _ = writeln!(doc.md, "| path | median µs | p99 µs | replies/requests |");
    let _ = writeln!(doc.md, "|---|---|---|---|");
    for (name, r, m, p) in [
        ("through the forwarder", &h.bridge, bm, bp),
        ("direct (no nmxdp)", &h.direct, dm, dp),
    ] {
        let _ = writeln!(
            doc.md,
            "| {name} | {} | {} | {}/{} |",
            f3(m),
            f3(p),
            r.us.len(),
            r.sent
        );
    }
    doc.md.push('\n');
    Json::obj([
        ("frames", Json::Int(h.frames as i64)),
        ("repetitions", Json::Int(i64::from(h.reps))),
        ("rates", Json::Arr(rows)),
        ("rtt_bridge", rtt_json(&h.bridge)),
        ("rtt_direct", rtt_json(&h.direct)),
    ])
}
