//! Parsers for what the harness reads besides pkt-gen's summaries: the C examples' counts,
//! `perf stat -x,` output, valgrind/cachegrind instruction counts and `/proc/net/dev`.

use pkt_gen::summary::Dir;

/// `sent N` / `received N` (the C examples' final line); the last one wins.
pub fn parse_count_line(out: &str, dir: Dir) -> Option<u64> {
    let word = match dir {
        Dir::Sent => "sent",
        Dir::Received => "received",
    };
    out.lines().rev().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == word).then_some(())?;
        w.next()?.parse::<u64>().ok()
    })
}

/// One open/close cycle's times, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleMs {
    /// Open and close together.
    pub total: f64,
    /// The open alone, when the program split it out.
    pub open: Option<f64>,
}

/// The cycles the open/close programs (`open-close`, `nm_openclose`) report, in order: their
/// `cycle <i> <total ms> [open <ms> close <ms>]` lines.
pub fn parse_cycles(out: &str) -> Vec<CycleMs> {
    let num = |w: Option<&str>| w?.parse::<f64>().ok().filter(|x| x.is_finite());
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "cycle").then_some(())?;
            let _index = w.next()?.parse::<u64>().ok()?;
            let total = num(w.next())?;
            let open = (w.next() == Some("open")).then(|| num(w.next())).flatten();
            Some(CycleMs { total, open })
        })
        .collect()
}

/// The `instructions` count from `perf stat -x, -e instructions:u` output (the first CSV field
/// of the line naming the event). `None` for `<not supported>` / `<not counted>`.
pub fn perf_instructions(out: &str) -> Option<u64> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut f = l.split(',');
            let value = f.next()?.trim();
            let _unit = f.next()?;
            let event = f.next()?.trim();
            if !event.starts_with("instructions") {
                return None;
            }
            Some(value.parse::<u64>().ok())
        })
        .flatten()
}

/// Instructions executed in user space as cachegrind counts them (`Ir`): the `summary:` line of
/// its output file, or the `I refs:` line of its stderr.
pub fn cachegrind_ir(text: &str) -> Option<u64> {
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("summary:") {
            if let Some(n) = v.split_whitespace().next().and_then(|s| s.parse().ok()) {
                return Some(n);
            }
        }
    }
    for l in text.lines() {
        // "==123== I   refs:      1,234,567" (or "I refs:" in newer versions)
        let body = match l.find("== ") {
            Some(p) if l.starts_with("==") => &l[p + 3..],
            _ => l,
        };
        let mut w = body.split_whitespace();
        if w.next() == Some("I") && w.next() == Some("refs:") {
            let n: String = w.next()?.chars().filter(|c| *c != ',').collect();
            return n.parse().ok();
        }
    }
    None
}

/// Packet counters of one interface in `/proc/net/dev` text: `(rx_packets, tx_packets)`.
pub fn net_dev_packets(text: &str, ifname: &str) -> Option<(u64, u64)> {
    text.lines().find_map(|l| {
        let (name, rest) = l.split_once(':')?;
        if name.trim() != ifname {
            return None;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        (f.len() >= 16).then(|| (f[1], f[9]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles() {
        let out = "cycle 1 104.250 open 80.5 close 23.750\ncycle 2 3.5\ncycle x 1\n\
                   cycle 3 nan open 1 close 1\nopen-close: 2 cycles, median 53.875 ms\n";
        assert_eq!(
            parse_cycles(out),
            vec![
                CycleMs {
                    total: 104.25,
                    open: Some(80.5)
                },
                CycleMs {
                    total: 3.5,
                    open: None
                }
            ]
        );
        assert!(parse_cycles("").is_empty());
    }

    #[test]
    fn nm_lib_counts() {
        assert_eq!(
            parse_count_line("sent 1000000\n", Dir::Sent),
            Some(1_000_000)
        );
        let rx = "ready: receiving on netmap:vb with 1 thread(s), 4096 slots per ring\n\
                  received 999424\nbytes 59965440 bad 0 other 0 reordered 0\n";
        assert_eq!(parse_count_line(rx, Dir::Received), Some(999_424));
        assert_eq!(parse_count_line(rx, Dir::Sent), None);
        assert_eq!(parse_count_line("received x\n", Dir::Received), None);
        // nm_raw's form carries the byte count after the number.
        assert_eq!(
            parse_count_line("received 12 bytes 720\n", Dir::Received),
            Some(12)
        );
    }

    #[test]
    fn perf_csv() {
        assert_eq!(
            perf_instructions("123456789,,instructions:u,2001234,100.00,,\n"),
            Some(123_456_789)
        );
        assert_eq!(
            perf_instructions("# started on x\n\n42,,instructions:u,1,100.00,,\n"),
            Some(42)
        );
        assert_eq!(
            perf_instructions("<not supported>,,instructions:u,0,100.00,,\n"),
            None
        );
        assert_eq!(
            perf_instructions("<not counted>,,instructions:u,0,0.00,,\n"),
            None
        );
        assert_eq!(perf_instructions("5,,cycles:u,1,100.00,,\n"), None);
        assert_eq!(perf_instructions(""), None);
    }

    #[test]
    fn cachegrind() {
        let file =
            "desc: I1 cache: none\ncmd: pkt-gen -f tx\nevents: Ir\nfl=x\n1 2\nsummary: 987654321\n";
        assert_eq!(cachegrind_ir(file), Some(987_654_321));
        let stderr = "==4242== Cachegrind, a high-precision tracing profiler\n\
                      ==4242== \n==4242== I   refs:      12,345,678\n";
        assert_eq!(cachegrind_ir(stderr), Some(12_345_678));
        assert_eq!(cachegrind_ir("==1== I refs: 1,000\n"), Some(1000));
        assert_eq!(cachegrind_ir("nothing here\n"), None);
    }

    #[test]
    fn proc_net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n \
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                 lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n    \
                 vb: 60000000 1000000    0    0    0     0          0         0      840      12    0    0    0     0       0          0\n";
        assert_eq!(net_dev_packets(t, "vb"), Some((1_000_000, 12)));
        assert_eq!(net_dev_packets(t, "lo"), Some((0, 0)));
        assert_eq!(net_dev_packets(t, "va"), None);
        assert_eq!(net_dev_packets("vb: 1 2 3\n", "vb"), None);
    }
}
