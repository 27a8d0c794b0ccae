//! One run: a receiver in namespace B, then a sender in namespace A, and what they reported.

use std::time::Duration;

use nmxdp_bench::json::Json;
use nmxdp_bench::parse::parse_count_line;
use nmxdp_bench::stats::Sample;
use pkt_gen::summary::{parse_summary, Dir};

use crate::netns::Topo;
use crate::proc::{spawn, Exit, Sampler, Wire};
use crate::rows::{Pair, Report};

impl crate::reps::Stamp for Run {
    fn stamp(&mut self, rep: usize, seq: usize) {
        (self.rep, self.seq) = (rep, seq);
    }
}

/// One sender/receiver run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The repetition it belongs to and its place in its section's run order.
    pub rep: usize,
    pub seq: usize,
    pub error: Option<String>,
    pub sent: Option<u64>,
    pub received: Option<u64>,
    pub tx_pps: Option<f64>,
    pub rx_pps: Option<f64>,
    pub wire_packets: u64,
    pub wire_pps: Option<f64>,
    pub from_counters: bool,
    pub tx: Exit,
    pub rx: Exit,
}

impl Run {
    pub fn loss_pct(&self) -> Option<f64> {
        match (self.sent, self.received) {
            (Some(s), Some(r)) if s > 0 => Some(100.0 * (s as f64 - r as f64) / s as f64),
            _ => None,
        }
    }

    /// `value` (a figure of this run) as a sample of a comparison: `None` for a failed run.
    pub fn sample(&self, value: Option<f64>) -> Sample {
        Sample {
            rep: self.rep,
            seq: self.seq,
            value: value.filter(|_| self.error.is_none()),
        }
    }

    /// The run's entry in results.json.
    pub fn json(&self) -> Json {
        Json::obj([
            ("rep", Json::Int(self.rep as i64)),
            ("seq", Json::Int(self.seq as i64)),
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

/// The last `lines` non-empty lines of `s`, on one line.
pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

/// Runs `pair.rx` in B, waits for its ready line, runs `pair.tx` in A, waits for both.
pub fn run_pair(t: &Topo, pair: &Pair, n: u64, verbose: bool) -> Run {
    let mut run = Run::default();
    if verbose {
        eprintln!("  rx: {}\n  tx: {}", pair.rx.display(), pair.tx.display());
    }
    let wire = match execute(t, pair, n, &mut run) {
        Ok(w) => w,
        Err(e) => {
            run.error = Some(e);
            return run;
        }
    };
    run.wire_packets = wire.packets;
    run.wire_pps = wire.pps;
    if verbose {
        eprint!("{}{}", run.tx.stderr, run.rx.stderr);
    }
    read_reports(&mut run, pair.report, wire);
    run.error = errors(&run, pair.report);
    run
}

/// Starts both programs and waits for them, their exits into `run`; returns what crossed the
/// receiving interface, or why the run could not happen.
fn execute(t: &Topo, pair: &Pair, n: u64, run: &mut Run) -> Result<Wire, String> {
    let rxc = spawn(&pair.rx, t.fd_b()).map_err(|e| format!("{e:#}"))?;
    if !rxc.wait_for_line(pair.ready, Duration::from_secs(20)) {
        rxc.signal(libc::SIGINT);
        run.rx = rxc.wait(Duration::ZERO);
        return Err(format!(
            "receiver not ready (exit {}): {}",
            run.rx.code,
            tail(&run.rx.stderr, 3)
        ));
    }
    std::thread::sleep(Duration::from_millis(50));
    let sampler = Sampler::start(t.fd_b(), t.if_b, Duration::from_millis(5)).ok();
    let tx_timeout = Duration::from_secs(30 + n / 20_000);
    run.tx = match spawn(&pair.tx, t.fd_a()) {
        Ok(c) => c.wait(tx_timeout),
        Err(e) => {
            rxc.signal(libc::SIGINT);
            run.rx = rxc.wait(Duration::ZERO);
            if let Some(s) = sampler {
                s.finish();
            }
            return Err(format!("{e:#}"));
        }
    };
    // The receiver leaves at its quota or after 1 s without traffic.
    run.rx = rxc.wait(tx_timeout + Duration::from_secs(15));
    Ok(sampler.map(Sampler::finish).unwrap_or(Wire {
        packets: 0,
        pps: None,
    }))
}

/// Counts and rates from the programs' output (and from `wire` for programs without rates).
fn read_reports(run: &mut Run, report: Report, wire: Wire) {
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
}

/// "sender exit 1 (timed out): ..." when a program failed or was stopped.
fn exit_error(who: &str, e: &Exit) -> Option<String> {
    (e.code != 0 || e.timed_out).then(|| {
        format!(
            "{who} exit {}{}: {}",
            e.code,
            if e.timed_out { " (timed out)" } else { "" },
            tail(&e.stderr, 3)
        )
    })
}

/// Everything wrong with a finished run, or `None`.
fn errors(run: &Run, report: Report) -> Option<String> {
    let mut errs: Vec<String> = [
        exit_error("sender", &run.tx),
        exit_error("receiver", &run.rx),
    ]
    .into_iter()
    .flatten()
    .collect();
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
    (!errs.is_empty()).then(|| errs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_errors() {
        assert_eq!(tail("a\n\nb\nc\n  \nd\n", 3), "b | c | d");
        assert_eq!(tail("", 3), "");
        let mut run = Run {
            sent: Some(10),
            received: Some(0),
            tx_pps: Some(1.0),
            ..Default::default()
        };
        run.tx.code = 1;
        run.tx.stderr = "boom\n".into();
        run.rx.timed_out = true;
        assert_eq!(
            errors(&run, Report::Summary).as_deref(),
            Some("sender exit 1: boom; receiver exit 0 (timed out): ; received nothing")
        );
        let ok = Run {
            sent: Some(10),
            received: Some(10),
            tx_pps: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            errors(&ok, Report::Summary).as_deref(),
            Some("no rate in the summaries")
        );
        assert_eq!(errors(&ok, Report::Counts), None);
    }
}
