//! The lb section: lb -p 2 to two workers next to a plain NIC receiver, the median rates and
//! lb / plain as a [`Comparison`] (no target).

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::Comparison;

use super::runs::{self, Dir};
use super::{compare, f3, Doc};
use crate::lb::{LbRow, LbRuns};

pub fn lb(doc: &mut Doc, l: Option<&LbRuns>) -> Json {
    let Some(l) = l else {
        return Json::Null;
    };
    let _ = writeln!(
        doc.md,
        "lb to worker processes (`lb -i netmap:vb -p 2 -B {}`, workers `pkt-gen -i netmap:vb}}0 -f rx` and `}}1`) next to `pkt-gen -i netmap:vb -f rx`, the same sender (`pkt-gen -f tx`, 60 B, 8 UDP flows) on the senders' CPU, lb, its workers and the plain receiver on the receivers' CPU; {} repetition(s) of {} frames, each running both rows, rotated. lb's rate: the workers' frames over the longer of their two receiving times:\n",
        crate::lb::EXTRA_BUFS, l.reps, l.frames
    );
    let _ = writeln!(doc.md, "| receiver | tx Mpps | rx Mpps | loss % |");
    let _ = writeln!(doc.md, "|---|---|---|---|");
    let mut out = Vec::new();
    for (row, r) in &l.rows {
        runs::note_failures(doc, &format!("lb section {} run", row.name()), r);
        let _ = writeln!(
            doc.md,
            "| {} | {} | {} | {} |",
            row.name(),
            f3(runs::med(r, Dir::Tx)),
            f3(runs::med(r, Dir::Rx)),
            runs::loss(r).map_or("n/a".into(), |l| format!("{l:.2}"))
        );
        out.push(Json::obj([
            ("row", Json::str(row.name())),
            ("tx_mpps_median", Json::num(runs::med(r, Dir::Tx))),
            ("rx_mpps_median", Json::num(runs::med(r, Dir::Rx))),
            ("loss_pct_median", Json::num(runs::loss(r))),
            ("runs", runs::json(r)),
        ]));
    }
    let of = |want: LbRow| l.rows.iter().find(|(r, _)| *r == want).map(|(_, v)| v);
    let cmp = of(LbRow::Lb)
        .zip(of(LbRow::Nic))
        .map(|(a, b)| Comparison::new(&runs::rates(a, Dir::Rx), &runs::rates(b, Dir::Rx), None));
    doc.md.push('\n');
    if let Some(c) = &cmp {
        let _ = writeln!(
            doc.md,
            "- lb forwarding / plain NIC receive rate: {} (no target: what the hop through lb and a pipe costs here)",
            compare::summary(c, 3)
        );
    }
    if let Some(s) = &l.lb_summary {
        let _ = writeln!(doc.md, "- lb's last summary: `{}`", s.trim());
    }
    doc.md.push('\n');
    Json::obj([
        ("frames_per_run", Json::Int(l.frames as i64)),
        ("repetitions", Json::Int(l.reps as i64)),
        ("rows", Json::Arr(out)),
        (
            "lb_vs_nic_rx",
            cmp.as_ref().map_or(Json::Null, |c| {
                compare::json(
                    vec![
                        ("row", Json::str(LbRow::Lb.name())),
                        ("vs", Json::str(LbRow::Nic.name())),
                    ],
                    c,
                )
            }),
        ),
        (
            "lb_summary",
            l.lb_summary.clone().map_or(Json::Null, Json::Str),
        ),
    ])
}
