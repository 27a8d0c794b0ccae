//! pkt-gen's command line: upstream's option letters with upstream's meanings and defaults
//! (getopt string `46a:f:F:Nn:i:Il:d:s:D:S:b:c:o:p:T:w:WvR:XC:H:rP:zZAhBM:`), plus nmxdp's long
//! options `--verify`, `--stats` and `--busy-wait`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Function {
    /// Send frames.
    Tx,
    /// Receive and count frames.
    Rx,
    /// Send one frame at a time, wait for its echo and measure the round trip.
    Ping,
    /// Echo every frame received (source and destination swapped).
    Pong,
    /// Send frames numbered 0, 1, 2, ... (32-bit, big-endian, first bytes of the UDP payload).
    Txseq,
    /// Receive and check txseq's numbers: gaps (loss) and reordering are reported.
    Rxseq,
}

impl Function {
    pub fn is_pingpong(self) -> bool {
        matches!(self, Function::Ping | Function::Pong)
    }

    /// Upstream's TD_TYPE_SENDER.
    pub fn sends(self) -> bool {
        matches!(self, Function::Tx | Function::Txseq)
    }

    /// Whether it sends frames of `-l` bytes it builds itself.
    pub fn builds_frames(self) -> bool {
        matches!(self, Function::Tx | Function::Txseq | Function::Ping)
    }

    /// `-b` when not given (upstream's per-function default).
    pub fn default_burst(self) -> u32 {
        if self.is_pingpong() {
            1
        } else {
            512
        }
    }

    /// The banner's first words.
    pub fn banner_verb(self) -> &'static str {
        if self.sends() || self == Function::Ping {
            "Sending on"
        } else {
            "Receiving from"
        }
    }
}

/// A MAC address `xx:xx:xx:xx:xx:xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': bad MAC address (expected xx:xx:xx:xx:xx:xx)");
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for b in m.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(m))
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// netmap's pkt-gen over nmxdp: sends (-f tx, txseq) or receives (-f rx, rxseq) test traffic,
/// or measures round trips (-f ping against -f pong).
#[derive(Debug, Parser)]
#[command(name = "pkt-gen", disable_version_flag = true)]
pub struct Args {
    /// Port: netmap:IFNAME[-RING] (a name without netmap: or vale gets netmap: prepended).
    #[arg(short = 'i', value_name = "IFNAME")]
    pub iface: String,
    /// Function.
    #[arg(short = 'f', value_enum, default_value_t = Function::Rx)]
    pub function: Function,
    /// Packets to send or receive, round trips to measure (ping) or frames to echo (pong)
    /// (0 = forever).
    #[arg(short = 'n', value_name = "COUNT", default_value_t = 0)]
    pub count: u64,
    /// Frame size in bytes, without CRC (default 60). Given a second time: the smallest size,
    /// and frames get random sizes from it up to (not including) the first.
    #[arg(short = 'l', value_name = "LEN", action = ArgAction::Append,
          value_parser = clap::value_parser!(u32).range(16..=65536))]
    pub len: Vec<u32>,
    /// Burst: slots filled or consumed per ring per round (0 = the function's default: 512,
    /// 1 for ping and pong).
    #[arg(short = 'b', value_name = "BURST", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub burst: u32,
    /// IPv4 addresses (the default).
    #[arg(short = '4', overrides_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 addresses.
    #[arg(short = '6', overrides_with = "ipv4")]
    pub ipv6: bool,
    /// Pin the first thread to this CPU, the next threads to the following CPUs.
    #[arg(short = 'a', value_name = "CPU")]
    pub affinity: Option<u32>,
    /// Most CPUs to use (0 = all of them).
    #[arg(short = 'c', value_name = "CPUS", default_value_t = 1)]
    pub cpus: u32,
    /// Seconds to wait for the link before starting (default 2, 0 for vale ports).
    #[arg(short = 'w', value_name = "WAIT_LINK")]
    pub wait_link: Option<u64>,
    /// rx: exit when a 1 s poll sees no traffic (once traffic started).
    #[arg(short = 'W')]
    pub exit_on_idle: bool,
    /// Rate limit in packets per second (0 = none).
    #[arg(short = 'R', value_name = "RATE", default_value_t = 0)]
    pub rate: u64,
    /// Report interval in milliseconds.
    #[arg(short = 'T', value_name = "REPORT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub report_ms: u64,
    /// Threads; with N > 1 thread i opens ring i (IFNAME-i).
    #[arg(short = 'p', value_name = "THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: u32,
    /// Source IP[:PORT][-IP[:PORT]] (a range: frames walk through it).
    #[arg(short = 's', value_name = "SRC", default_value = "10.0.0.1")]
    pub src: String,
    /// Destination IP[:PORT][-IP[:PORT]].
    #[arg(short = 'd', value_name = "DST", default_value = "10.1.0.1")]
    pub dst: String,
    /// Source MAC (default: the interface's MAC).
    #[arg(short = 'S', value_name = "SRC_MAC")]
    pub src_mac: Option<Mac>,
    /// Destination MAC.
    #[arg(
        short = 'D',
        value_name = "DST_MAC",
        default_value = "ff:ff:ff:ff:ff:ff"
    )]
    pub dst_mac: Mac,
    /// Random source address and port for every frame.
    #[arg(short = 'z')]
    pub random_src: bool,
    /// Random destination address and port for every frame.
    #[arg(short = 'Z')]
    pub random_dst: bool,
    /// Hex dump of every frame sent or received (stdout).
    #[arg(short = 'X')]
    pub dump: bool,
    /// Send the first packet of this pcap file instead of a built frame.
    #[arg(short = 'P', value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Do not normalise units in reports (print plain numbers).
    #[arg(short = 'N')]
    pub no_normalize: bool,
    /// Mean and standard deviation of the rate over the last 15 reports.
    #[arg(short = 'A')]
    pub pps_stats: bool,
    /// Count Ethernet framing and CRC (24 bytes per frame) in the reports' bps.
    #[arg(short = 'B')]
    pub framing: bool,
    /// Deprecated ring configuration TX_SLOTS[,RX_SLOTS[,TX_RINGS[,RX_RINGS]]] (becomes
    /// @conf: of the port name).
    #[arg(short = 'C', value_name = "CONF")]
    pub ring_conf: Option<String>,
    /// tx: send the buffers' contents as they are (rubbish).
    #[arg(short = 'r')]
    pub rubbish: bool,
    /// Data options, OR-ed bits: PREFETCH 1, ACCESS 2, COPY 4, MEMCPY 8, TS 16, INDIRECT 32,
    /// DUMP 64, RUBBISH 256, RANDOM_SRC 512, RANDOM_DST 1024, PPS_STATS 2048, UPDATE_CSUM 4096.
    #[arg(short = 'o', value_name = "OPTIONS", action = ArgAction::Append)]
    pub options: Vec<u32>,
    /// Fragments (slots) per packet, 1..63: frames go as NS_MOREFRAG chains of N equal pieces
    /// (frames longer than one buffer are chains anyway).
    #[arg(short = 'F', value_name = "FRAGS", default_value_t = 1)]
    pub frags: u32,
    /// Largest fragment in bytes (default and cap: what one buffer carries): longer frames
    /// become NS_MOREFRAG chains.
    #[arg(short = 'M', value_name = "FRAG_SIZE")]
    pub frag_size: Option<u32>,
    /// Indirect buffers (NS_INDIRECT): VALE ports only; a NIC ignores the flag.
    #[arg(short = 'I')]
    pub indirect: bool,
    /// virtio-net header length (0, 10 or 12): VALE ports only.
    #[arg(short = 'H', value_name = "LEN", default_value_t = 0)]
    pub virt_header: u32,
    /// More messages.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// At the end, print nmxdp's and the AF_XDP sockets' counters on stderr, and (rx) the
    /// receiver's pauses between passes (`Receiver gaps:`) on stdout.
    #[arg(long)]
    pub stats: bool,
    /// rx: check every frame's headers, pattern and per-sender sequence order and print
    /// "Verify: N ok, M bad"; exit 2 on any bad frame (non-IPv4/UDP frames are ignored).
    #[arg(long)]
    pub verify: bool,
    /// ping, pong, tx and rx: spin on NIOCTXSYNC/NIOCRXSYNC instead of sleeping in poll()
    /// (upstream's -DBUSYWAIT build; rx waits for the first frame in poll() still).
    #[arg(long)]
    pub busy_wait: bool,
}

/// Upstream's `-o` bits.
pub mod bits {
    pub const PREFETCH: u32 = 1;
    pub const ACCESS: u32 = 2;
    pub const COPY: u32 = 4;
    pub const MEMCPY: u32 = 8;
    pub const TS: u32 = 16;
    pub const INDIRECT: u32 = 32;
    pub const DUMP: u32 = 64;
    pub const RUBBISH: u32 = 256;
    pub const RANDOM_SRC: u32 = 512;
    pub const RANDOM_DST: u32 = 1024;
    pub const PPS_STATS: u32 = 2048;
    pub const UPDATE_CSUM: u32 = 4096;
    /// Every bit upstream defines. PREFETCH, ACCESS and TS change nothing here (upstream's
    /// sender does not read them either); UPDATE_CSUM is always in effect (random sizes
    /// always get correct length fields and checksums).
    pub const ALL: u32 = PREFETCH
        | ACCESS
        | COPY
        | MEMCPY
        | TS
        | INDIRECT
        | DUMP
        | RUBBISH
        | RANDOM_SRC
        | RANDOM_DST
        | PPS_STATS
        | UPDATE_CSUM;
}

/// The data options in effect: `-o` bits OR-ed with the letters that set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataOpts(pub u32);

impl DataOpts {
    pub fn of(a: &Args) -> DataOpts {
        let mut o = a.options.iter().fold(0, |acc, v| acc | v);
        for (set, bit) in [
            (a.dump, bits::DUMP),
            (a.rubbish, bits::RUBBISH),
            (a.random_src, bits::RANDOM_SRC),
            (a.random_dst, bits::RANDOM_DST),
            (a.pps_stats, bits::PPS_STATS),
            (a.indirect, bits::INDIRECT),
        ] {
            if set {
                o |= bit;
            }
        }
        DataOpts(o)
    }

    /// Bits upstream does not define (ignored).
    pub fn unknown(self) -> u32 {
        self.0 & !bits::ALL
    }

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// Upstream's `--- SPECIAL OPTIONS:` line (None without options).
    pub fn special_line(self) -> Option<String> {
        if self.0 == 0 {
            return None;
        }
        let mut l = String::from("--- SPECIAL OPTIONS:");
        for (bit, name) in [
            (bits::PREFETCH, " prefetch"),
            (bits::ACCESS, " access"),
            (bits::MEMCPY, " memcpy"),
            (bits::INDIRECT, " indirect"),
            (bits::COPY, " copy"),
            (bits::RUBBISH, " rubbish "),
        ] {
            if self.has(bit) {
                l.push_str(name);
            }
        }
        Some(l)
    }
}

/// `-l`: the frame size and, with a second `-l`, the smallest random size.
pub fn sizes(a: &Args) -> Result<(u32, Option<u32>), String> {
    match a.len.as_slice() {
        [] => Ok((60, None)),
        [l] => Ok((*l, None)),
        [l, min] => {
            if min > l {
                Err(format!("bad pktminsize {min} [16..{l}]"))
            } else {
                Ok((*l, Some(*min)))
            }
        }
        _ => Err("-l given more than twice (size, then the smallest random size)".into()),
    }
}

/// `-C a[,b[,c[,d]]]` as the `@conf:` option of libnetmap's port names: TX and RX slots (one
/// number sets both), TX and RX rings (a third number alone sets both). Zeroes and missing
/// numbers keep the defaults. Returns `(tx_slots, rx_slots, tx_rings, rx_rings)`.
pub fn ring_conf(conf: &str) -> Result<[u32; 4], String> {
    let mut v = [0u32; 4];
    for (i, tok) in conf.split(',').enumerate() {
        let n: u32 = tok
            .trim()
            .parse()
            .map_err(|_| format!("-C {conf}: '{tok}' is not a number"))?;
        match i {
            0 => (v[0], v[1]) = (n, n),
            1 => v[1] = n,
            2 => (v[2], v[3]) = (n, n),
            3 => v[3] = n,
            _ => eprintln!("pkt-gen: ignored config: {tok}"),
        }
    }
    Ok(v)
}

/// The `@conf:` suffix for `-C`'s numbers (None when all are defaults).
pub fn conf_suffix(v: [u32; 4]) -> Option<String> {
    let keys = ["tx-slots", "rx-slots", "tx-rings", "rx-rings"];
    let parts: Vec<String> = keys
        .iter()
        .zip(v)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    (!parts.is_empty()).then(|| format!("@conf:{}", parts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Args {
        let mut all = vec!["pkt-gen", "-i", "va"];
        all.extend_from_slice(v);
        Args::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(a.function, Function::Rx);
        assert_eq!(
            (
                a.count,
                a.burst,
                a.wait_link,
                a.report_ms,
                a.threads,
                a.cpus
            ),
            (0, 0, None, 1000, 1, 1)
        );
        assert_eq!(sizes(&a), Ok((60, None)));
        assert_eq!(a.dst_mac, Mac([0xff; 6]));
        assert_eq!((a.src.as_str(), a.dst.as_str()), ("10.0.0.1", "10.1.0.1"));
        assert_eq!(DataOpts::of(&a), DataOpts(0));
        assert_eq!(Function::Rx.default_burst(), 512);
        assert_eq!(Function::Ping.default_burst(), 1);
        assert!(!a.ipv6 && a.frags == 1 && a.virt_header == 0);
    }

    #[test]
    fn functions() {
        for (s, f) in [
            ("tx", Function::Tx),
            ("rx", Function::Rx),
            ("ping", Function::Ping),
            ("pong", Function::Pong),
            ("txseq", Function::Txseq),
            ("rxseq", Function::Rxseq),
        ] {
            assert_eq!(parse(&["-f", s]).function, f);
        }
        assert!(Function::Txseq.sends() && !Function::Rxseq.sends());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-f", "bounce"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-f", "tx"]).is_err());
    }

    #[test]
    fn lengths_given_twice() {
        assert_eq!(sizes(&parse(&["-l", "1000"])), Ok((1000, None)));
        assert_eq!(
            sizes(&parse(&["-l", "1000", "-l", "64"])),
            Ok((1000, Some(64)))
        );
        assert!(sizes(&parse(&["-l", "64", "-l", "1000"])).is_err());
        assert!(sizes(&parse(&["-l", "64", "-l", "60", "-l", "61"])).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-l", "15"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-l", "65537"]).is_err());
    }

    #[test]
    fn address_family_last_wins() {
        let a = parse(&["-6"]);
        assert!(a.ipv6);
        let a = parse(&["-6", "-4"]);
        assert!(!a.ipv6);
        let a = parse(&["-4", "-6"]);
        assert!(a.ipv6);
    }

    #[test]
    fn letters_and_bits() {
        let a = parse(&["-X", "-z", "-o", "4", "-o", "8", "-A", "-r"]);
        let o = DataOpts::of(&a);
        for b in [
            bits::DUMP,
            bits::RANDOM_SRC,
            bits::COPY,
            bits::MEMCPY,
            bits::PPS_STATS,
            bits::RUBBISH,
        ] {
            assert!(o.has(b), "bit {b}");
        }
        assert!(!o.has(bits::RANDOM_DST));
        assert_eq!(
            o.special_line().unwrap(),
            "--- SPECIAL OPTIONS: memcpy copy rubbish "
        );
        assert_eq!(DataOpts(128 | 4).unknown(), 128);
        let a = parse(&["-o", "1024"]);
        assert!(DataOpts::of(&a).has(bits::RANDOM_DST));
        let a = parse(&[
            "-a", "1", "-c", "0", "-w", "0", "-W", "-N", "-B", "-b", "64", "-R", "1000", "-T",
            "100", "-H", "10", "-I", "-F", "1", "-M", "2048", "-v", "-v",
        ]);
        assert_eq!((a.affinity, a.cpus, a.wait_link), (Some(1), 0, Some(0)));
        assert!(a.exit_on_idle && a.no_normalize && a.framing && a.indirect);
        assert_eq!((a.burst, a.rate, a.report_ms), (64, 1000, 100));
        assert_eq!((a.virt_header, a.frags, a.frag_size), (10, 1, Some(2048)));
        assert_eq!(a.verbose, 2);
        assert!(DataOpts::of(&a).has(bits::INDIRECT));
        let a = parse(&[
            "-P",
            "/tmp/x.pcap",
            "-S",
            "02:00:00:00:00:01",
            "-D",
            "02:0a:0b:0c:0d:0e",
        ]);
        assert_eq!(a.pcap.as_deref(), Some(std::path::Path::new("/tmp/x.pcap")));
        assert_eq!(a.src_mac, Some(Mac([2, 0, 0, 0, 0, 1])));
        assert_eq!(a.dst_mac, Mac([2, 10, 11, 12, 13, 14]));
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-b", "65537"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-D", "zz"]).is_err());
    }

    #[test]
    fn macs() {
        let m: Mac = "02:0A:0b:00:ff:1".parse().unwrap();
        assert_eq!(m.0, [2, 10, 11, 0, 255, 1]);
        assert_eq!(m.to_string(), "02:0a:0b:00:ff:01");
        assert!("02:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:zz".parse::<Mac>().is_err());
    }

    #[test]
    fn ring_configuration() {
        assert_eq!(ring_conf("512"), Ok([512, 512, 0, 0]));
        assert_eq!(ring_conf("512,1024"), Ok([512, 1024, 0, 0]));
        assert_eq!(ring_conf("512,1024,2"), Ok([512, 1024, 2, 2]));
        assert_eq!(ring_conf("0,0,2,4"), Ok([0, 0, 2, 4]));
        assert!(ring_conf("x").is_err());
        assert_eq!(
            conf_suffix([512, 1024, 2, 2]).unwrap(),
            "@conf:tx-slots=512,rx-slots=1024,tx-rings=2,rx-rings=2"
        );
        assert_eq!(conf_suffix([0, 0, 0, 4]).unwrap(), "@conf:rx-rings=4");
        assert_eq!(conf_suffix([0; 4]), None);
    }
}
