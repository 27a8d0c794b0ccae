//! The pipe section: pkt-gen to pkt-gen across a netmap pipe between two processes, busy-wait
//! and poll(): the median rates, the busy-wait rate's 95% interval over the repetitions judged
//! against its target, and busy-wait / poll as a [`Comparison`] (no target).

use std::fmt::Write as _;

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{median_ci, Comparison, Goal};

use super::runs::{self, Dir};
use super::{ci_json, compare, f3, with_ci, Doc};
use crate::pipes::{PipeRuns, TARGET_MPPS};

pub fn pipes(doc: &mut Doc, p: Option<&PipeRuns>) -> Json {
    let Some(p) = p else {
        return Json::Null;
    };
    let _ = writeln!(
        doc.md,
        "Pipes between two processes (`pkt-gen -i netmap:pp{{0 -f tx -l 60` / `pkt-gen -i netmap:pp}}0 -f rx`, region `{}` of this run; no kernel in the path; {} repetition(s) of {} frames, each running both rows, rotated; reader on the receivers' CPU, writer on the senders'):\n",
        p.region, p.reps, p.frames
    );
    let _ = writeln!(
        doc.md,
        "| pipe | tx Mpps | rx Mpps | rx Mpps median [95% CI] | loss % |"
    );
    let _ = writeln!(doc.md, "|---|---|---|---|---|");
    let goal = Goal::AtLeast(TARGET_MPPS);
    let mut out = Vec::new();
    let mut verdict_line = None;
    for (busy, r) in &p.rows {
        let name = if *busy { "busy-wait" } else { "poll" };
        runs::note_failures(doc, &format!("pipe {name} run"), r);
        let rx = runs::rates(r, Dir::Rx);
        let ci = median_ci(&runs::values(&rx));
        let _ = writeln!(
            doc.md,
            "| {name} | {} | {} | {} | {} |",
            f3(runs::med(r, Dir::Tx)),
            f3(runs::med(r, Dir::Rx)),
            with_ci(ci.as_ref(), 3),
            runs::loss(r).map_or("n/a".into(), |l| format!("{l:.2}"))
        );
        let verdict = busy.then(|| ci.map_or("n/a", |c| goal.judge(&c).as_str()));
        if let Some(v) = verdict {
            verdict_line = Some(format!(
                "- busy-wait rx rate: {} Mpps (target {} Mpps): **{v}**",
                with_ci(ci.as_ref(), 3),
                goal.label()
            ));
        }
        out.push(Json::obj([
            ("busy_wait", Json::Bool(*busy)),
            ("tx_mpps_median", Json::num(runs::med(r, Dir::Tx))),
            ("rx_mpps", ci_json(ci.as_ref())),
            ("loss_pct_median", Json::num(runs::loss(r))),
            (
                "target_mpps",
                if *busy {
                    Json::Num(TARGET_MPPS)
                } else {
                    Json::Null
                },
            ),
            ("verdict", verdict.map_or(Json::Null, Json::str)),
            ("runs", runs::json(r)),
        ]));
    }
    doc.md.push('\n');
    let busy = p.rows.iter().find(|(b, _)| *b).map(|(_, r)| r);
    let poll = p.rows.iter().find(|(b, _)| !*b).map(|(_, r)| r);
    let cmp = busy
        .zip(poll)
        .map(|(b, q)| Comparison::new(&runs::rates(b, Dir::Rx), &runs::rates(q, Dir::Rx), None));
    if let Some(l) = verdict_line {
        let _ = writeln!(doc.md, "{l}");
    }
    if let Some(c) = &cmp {
        let _ = writeln!(
            doc.md,
            "- busy-wait / poll rx: {} (no target)",
            compare::summary(c, 3)
        );
    }
    doc.md.push('\n');
    Json::obj([
        ("frames_per_run", Json::Int(p.frames as i64)),
        ("repetitions", Json::Int(p.reps as i64)),
        ("region", Json::str(p.region.clone())),
        ("rows", Json::Arr(out)),
        (
            "busy_vs_poll_rx",
            cmp.as_ref().map_or(Json::Null, |c| {
                compare::json(
                    vec![("row", Json::str("busy-wait")), ("vs", Json::str("poll"))],
                    c,
                )
            }),
        ),
    ])
}
