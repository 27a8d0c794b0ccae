//! pkt-gen's final summary on stdout, and its parser.
//!
//! ```text
//! Sent 1234000 packets 74040000 bytes 2410 events 60 bytes each in 1.00 seconds.
//! Speed: 1.234 Mpps Bandwidth: 592.320 Mbps (raw 829.248 Mbps). Average batch: 512.03 pkts
//! ```
//! or `Sent nothing.` / `Received nothing.`. The bench's comparison programs print the same
//! lines through [`format_summary`], and its harness reads every program's with
//! [`parse_summary`].

/// Bytes of Ethernet framing per packet on the wire (preamble 8 + CRC 4 + gap 12) for raw bps.
pub const FRAMING: u64 = 24;

/// Direction of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Sent,
    Received,
}

impl Dir {
    /// The summary's first word.
    pub fn word(self) -> &'static str {
        match self {
            Dir::Sent => "Sent",
            Dir::Received => "Received",
        }
    }
}

/// What a summary says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub dir: Dir,
    pub packets: u64,
    pub bytes: u64,
    pub events: u64,
    /// Seconds as printed (two decimals).
    pub secs: f64,
    /// Packets per second from the `Speed:` line (0 for "nothing").
    pub pps: f64,
}

/// Upstream's `norm()`: `"%.3f %s"` with unit prefixes "", K, M, G, T (steps of 1000);
/// without normalisation (`-N`) `"%.0f "`.
pub fn norm(val: f64, normalize: bool) -> String {
    if !normalize {
        return format!("{val:.0} ");
    }
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let mut v = val;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.3} {}", UNITS[i])
}

/// The final summary: `msg` is "Sent" or "Received" ([`Dir::word`]). Two lines, or
/// "`<msg>` nothing.".
pub fn format_summary(
    msg: &str,
    packets: u64,
    bytes: u64,
    events: u64,
    secs: f64,
    normalize: bool,
) -> String {
    if packets == 0 {
        return format!("{msg} nothing.");
    }
    let size = bytes / packets;
    let first = format!(
        "{msg} {packets} packets {bytes} bytes {events} events {size} bytes each in {secs:.2} seconds."
    );
    let d = if secs <= 0.0 { 1e-6 } else { secs };
    let pps = packets as f64 / d;
    let bw = 8.0 * bytes as f64 / d;
    let raw = 8.0 * (bytes + packets * FRAMING) as f64 / d;
    let abs = if events > 0 {
        packets as f64 / events as f64
    } else {
        0.0
    };
    format!(
        "{first}\nSpeed: {}pps Bandwidth: {}bps (raw {}bps). Average batch: {abs:.2} pkts",
        norm(pps, normalize),
        norm(bw, normalize),
        norm(raw, normalize),
    )
}

/// A number followed by an optional unit prefix and a unit: `"1.234 Mpps"`, `"950 pps"`,
/// `"12345 pps"` (`-N`). Returns the value in base units.
fn parse_scaled(s: &str, unit: &str) -> Option<f64> {
    let s = s.trim_start();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let v: f64 = s[..num_end].parse().ok()?;
    let rest = s[num_end..].trim_start();
    let (mult, rest) = match rest.chars().next()? {
        'K' => (1e3, &rest[1..]),
        'M' => (1e6, &rest[1..]),
        'G' => (1e9, &rest[1..]),
        'T' => (1e12, &rest[1..]),
        _ => (1.0, rest),
    };
    rest.starts_with(unit).then_some(v * mult)
}

/// The counters of a first summary line after its word:
/// `"N packets B bytes E events S bytes each in T seconds."` -> (N, B, E, T).
fn parse_first_line(rest: &str) -> Option<(u64, u64, u64, f64)> {
    let w: Vec<&str> = rest.split_whitespace().collect();
    if w.len() < 11
        || w[1] != "packets"
        || w[3] != "bytes"
        || w[5] != "events"
        || w[7] != "bytes"
        || w[8] != "each"
        || w[9] != "in"
    {
        return None;
    }
    Some((
        w[0].parse().ok()?,
        w[2].parse().ok()?,
        w[4].parse().ok()?,
        w[10].parse().ok()?,
    ))
}

/// Finds the last pkt-gen summary for `dir` in a program's stdout.
pub fn parse_summary(out: &str, dir: Dir) -> Option<Summary> {
    let word = dir.word();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let mut found = None;
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix(word).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        if rest == "nothing." {
            found = Some(Summary {
                dir,
                packets: 0,
                bytes: 0,
                events: 0,
                secs: 0.0,
                pps: 0.0,
            });
            continue;
        }
        let Some((packets, bytes, events, secs)) = parse_first_line(rest) else {
            continue;
        };
        let pps = lines
            .get(i + 1)
            .and_then(|s| s.strip_prefix("Speed:"))
            .and_then(|s| parse_scaled(s, "pps"));
        let Some(pps) = pps else { continue };
        found = Some(Summary {
            dir,
            packets,
            bytes,
            events,
            secs,
            pps,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKTGEN_TX: &str = "Sending on netmap:va: 1 queues, 1 threads and 1 cpus.\n\
        10.0.0.1 -> 10.1.0.1 (02:00:00:00:00:01 -> ff:ff:ff:ff:ff:ff)\n\
        Sent 1000000 packets 60000000 bytes 1954 events 60 bytes each in 1.79 seconds.\n\
        Speed: 558.315 Kpps Bandwidth: 267.991 Mbps (raw 375.188 Mbps). Average batch: 511.77 pkts\n";

    #[test]
    fn norm_units() {
        assert_eq!(norm(0.0, true), "0.000 ");
        assert_eq!(norm(999.0, true), "999.000 ");
        assert_eq!(norm(1000.0, true), "1.000 K");
        assert_eq!(norm(1_234_000.0, true), "1.234 M");
        assert_eq!(norm(592_320_000.0, true), "592.320 M");
        assert_eq!(norm(7.143e9, true), "7.143 G");
        assert_eq!(norm(2.5e12, true), "2.500 T");
        // Nothing above T.
        assert_eq!(norm(3e15, true), "3000.000 T");
        assert_eq!(norm(14_881_000.4, false), "14881000 ");
    }

    #[test]
    fn summary_format() {
        assert_eq!(
            format_summary("Sent", 1_234_000, 1_234_000 * 60, 2410, 1.0, true),
            "Sent 1234000 packets 74040000 bytes 2410 events 60 bytes each in 1.00 seconds.\n\
             Speed: 1.234 Mpps Bandwidth: 592.320 Mbps (raw 829.248 Mbps). Average batch: 512.03 pkts"
        );
        assert_eq!(
            format_summary("Sent", 1_234_000, 1_234_000 * 60, 2410, 1.0, false),
            "Sent 1234000 packets 74040000 bytes 2410 events 60 bytes each in 1.00 seconds.\n\
             Speed: 1234000 pps Bandwidth: 592320000 bps (raw 829248000 bps). Average batch: 512.03 pkts"
        );
        assert_eq!(format_summary("Sent", 0, 0, 0, 1.0, true), "Sent nothing.");
        assert_eq!(
            format_summary("Received", 0, 0, 0, 0.0, true),
            "Received nothing."
        );
    }

    #[test]
    fn pktgen_tx_summary() {
        let s = parse_summary(PKTGEN_TX, Dir::Sent).unwrap();
        assert_eq!(s.packets, 1_000_000);
        assert_eq!(s.bytes, 60_000_000);
        assert_eq!(s.events, 1954);
        assert!((s.secs - 1.79).abs() < 1e-9);
        assert!((s.pps - 558_315.0).abs() < 1e-6);
        assert!(parse_summary(PKTGEN_TX, Dir::Received).is_none());
    }

    #[test]
    fn units_and_plain_numbers() {
        let out = "Received 5 packets 300 bytes 1 events 60 bytes each in 0.00 seconds.\n\
                   Speed: 1.234 Mpps Bandwidth: 1.000 Gbps (raw 1.000 Gbps). Average batch: 5.00 pkts";
        assert!((parse_summary(out, Dir::Received).unwrap().pps - 1.234e6).abs() < 1e-3);
        let out = "Received 5 packets 300 bytes 1 events 60 bytes each in 0.01 seconds.\n\
                   Speed: 500 pps Bandwidth: 240000 bps (raw 0 bps). Average batch: 5.00 pkts";
        assert_eq!(parse_summary(out, Dir::Received).unwrap().pps, 500.0);
        let out = "Sent 5 packets 300 bytes 1 events 60 bytes each in 0.01 seconds.\n\
                   Speed: 2.000 Gpps Bandwidth: x";
        assert_eq!(parse_summary(out, Dir::Sent).unwrap().pps, 2e9);
    }

    #[test]
    fn nothing_and_garbage() {
        let s = parse_summary("Received nothing.\n", Dir::Received).unwrap();
        assert_eq!((s.packets, s.pps), (0, 0.0));
        assert!(parse_summary("", Dir::Sent).is_none());
        // A first line without its Speed line is not a summary.
        assert!(parse_summary(
            "Sent 5 packets 300 bytes 1 events 60 bytes each in 0.01 seconds.\n",
            Dir::Sent
        )
        .is_none());
        assert!(parse_summary(
            "Sent five packets 300 bytes 1 events 60 bytes each in 0.01 seconds.\nSpeed: 1 pps",
            Dir::Sent
        )
        .is_none());
        assert!(parse_summary("Sent 5 packets\nSpeed: 1.000 Mpps", Dir::Sent).is_none());
        assert!(parse_summary(
            "Sent 5 packets 300 bytes 1 events 60 bytes each in 0.01 seconds.\nSpeed: fast",
            Dir::Sent
        )
        .is_none());
    }

    #[test]
    fn format_then_parse_round_trip() {
        for normalize in [true, false] {
            let text = format_summary("Sent", 1_234_000, 1_234_000 * 60, 2410, 1.0, normalize);
            let s = parse_summary(&text, Dir::Sent).unwrap();
            assert_eq!(
                (s.packets, s.bytes, s.events),
                (1_234_000, 74_040_000, 2410)
            );
            assert!((s.pps - 1.234e6).abs() < 1.0);
        }
    }

    #[test]
    fn last_summary_wins() {
        let out = "Received nothing.\nReceived 7 packets 420 bytes 1 events 60 bytes each in 1.00 seconds.\nSpeed: 7.000 pps Bandwidth";
        assert_eq!(parse_summary(out, Dir::Received).unwrap().packets, 7);
    }
}
