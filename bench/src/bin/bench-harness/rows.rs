//! The rows of the table, and the sender and receiver each one runs.

use std::path::{Path, PathBuf};

use crate::bins::{path_arg, Bins};
use crate::netns::Topo;
use crate::proc::{cpus, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    NmxdpRust,
    NmxdpC,
    XdpRaw,
    AfPacket,
}

pub const ROWS: [Row; 4] = [Row::NmxdpRust, Row::NmxdpC, Row::XdpRaw, Row::AfPacket];

impl Row {
    pub fn name(self) -> &'static str {
        match self {
            Row::NmxdpRust => "nmxdp-rust",
            Row::NmxdpC => "nmxdp-c-preload",
            Row::XdpRaw => "xdp-raw",
            Row::AfPacket => "af-packet",
        }
    }

    /// Sender and receiver of this row for `n` frames of `len` bytes, each pinned to its CPU
    /// ([`cpus`]); `None` when the row's programs are missing.
    pub fn pair(self, bins: &Bins, t: &Topo, n: u64, len: u32) -> Option<Pair> {
        let mut pair = match self {
            Row::NmxdpRust => pktgen_pair(bins, t, n, len, None),
            Row::NmxdpC => c_pair(bins.c_app.as_ref()?, t, n, len),
            Row::XdpRaw => plain_pair(&bins.xdp_raw, t, n, len),
            Row::AfPacket => plain_pair(&bins.af_packet, t, n, len),
        };
        let c = cpus();
        pair.tx.cpu = Some(c.tx);
        pair.rx.cpu = Some(c.rx);
        Some(pair)
    }
}

/// How a program reports what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// pkt-gen's summary (rates measured by the program).
    Summary,
    /// `sent N` / `received N` only: rates come from the interface counters.
    Counts,
}

/// The two programs of one run.
pub struct Pair {
    pub tx: Spec,
    pub rx: Spec,
    /// What the receiver prints on stdout once it is ready for traffic.
    pub ready: &'static str,
    pub report: Report,
}

/// The receiving port of the netmap rows: RX ring as large as the other rows' receivers.
fn rx_port(t: &Topo) -> String {
    format!("netmap:{}@conf:rx-slots=4096", t.if_b)
}

fn tx_port(t: &Topo) -> String {
    format!("netmap:{}", t.if_a)
}

/// pkt-gen on both ends, not pinned; with `threads`, `-p threads` (one thread per ring).
pub fn pktgen_pair(bins: &Bins, t: &Topo, n: u64, len: u32, threads: Option<u32>) -> Pair {
    let pg = path_arg(&bins.pktgen);
    let (n, l) = (n.to_string(), len.to_string());
    let (txp, rxp) = (tx_port(t), rx_port(t));
    let mut tx = vec![&*pg, "-i", &txp, "-f", "tx", "-n", &n, "-l", &l, "-w", "0"];
    let mut rx = vec![&*pg, "-i", &rxp, "-f", "rx", "-n", &n, "-W", "-w", "0"];
    let p = threads.map(|p| p.to_string());
    if let Some(p) = &p {
        tx.extend(["-p", p]);
        rx.extend(["-p", p]);
    }
    Pair {
        tx: Spec::new(&tx),
        rx: Spec::new(&rx),
        ready: "Receiving from",
        report: Report::Summary,
    }
}

/// The C app under `LD_PRELOAD` of nmxdp's libnetmap, same ports as pkt-gen.
fn c_pair((app, lib): &(PathBuf, PathBuf), t: &Topo, n: u64, len: u32) -> Pair {
    let (app, lib) = (path_arg(app), path_arg(lib));
    let (n, l) = (n.to_string(), len.to_string());
    let (txp, rxp) = (tx_port(t), rx_port(t));
    Pair {
        tx: Spec::new(&[&*app, "-i", &txp, "-f", "tx", "-n", &n, "-l", &l]).env("LD_PRELOAD", &lib),
        rx: Spec::new(&[&*app, "-i", &rxp, "-f", "rx", "-n", &n, "-W", "3000"])
            .env("LD_PRELOAD", &lib),
        ready: "ready:",
        report: Report::Counts,
    }
}

/// A comparison program (xdp-raw, af-packet) on both ends, by interface name.
pub fn plain_pair(bin: &Path, t: &Topo, n: u64, len: u32) -> Pair {
    let bin = path_arg(bin);
    let (n, l) = (n.to_string(), len.to_string());
    Pair {
        tx: Spec::new(&[&*bin, "-i", t.if_a, "-f", "tx", "-n", &n, "-l", &l]),
        rx: Spec::new(&[&*bin, "-i", t.if_b, "-f", "rx", "-n", &n]),
        ready: "Receiving from",
        report: Report::Summary,
    }
}
