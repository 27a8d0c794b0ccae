//! What the receivers cost besides CPU time: peak RSS against nmxdp's region, and sleeps.

use std::fmt::Write as _;

use nmxdp::region::Layout;
use nmxdp_bench::json::Json;
use nmxdp_bench::stats::median;

use crate::cell::{at60, Cell};
use crate::rows::{Row, ROWS};

const MIB: f64 = 1048576.0;

/// The memory paragraph into `md`; `memory` of results.json.
pub fn memory(md: &mut String, cells: &[Cell], layout: Option<Layout>) -> Vec<(String, Json)> {
    let rss = |row: Row| at60(cells, row).and_then(Cell::rx_rss_kib);
    let mut mem = String::from("Memory (peak RSS of the receiver, 60 B):");
    for row in ROWS {
        if let Some(k) = rss(row) {
            let _ = write!(mem, " {} {:.1} MiB;", row.name(), k / 1024.0);
        }
    }
    let mut json = vec![(
        "rx_maxrss_kib".to_string(),
        Json::obj(ROWS.iter().map(|r| (r.name(), Json::num(rss(*r))))),
    )];
    if let Some(l) = layout {
        let umem = l.umem_len();
        let pools = l.if_pool_size + l.ring_pool_size;
        let _ = write!(
            mem,
            " nmxdp region {:.1} MiB (UMEM {} buffers × {} B = {:.1} MiB, pinned by the kernel at registration, + netmap_if/ring pools {:.1} MiB); xdp-raw UMEM 16 MiB; af-packet RX ring 16 MiB.",
            l.memsize as f64 / MIB,
            l.buf_num,
            l.buf_size,
            umem as f64 / MIB,
            pools as f64 / MIB
        );
        json.push(("nmxdp_region_bytes".into(), Json::Int(l.memsize as i64)));
        json.push(("nmxdp_umem_bytes".into(), Json::Int(umem as i64)));
        json.push(("nmxdp_pools_bytes".into(), Json::Int(pools as i64)));
    }
    let _ = writeln!(md, "{mem}\n");
    json
}

/// Median receiver sleeps per 1000 packets of `row` at 60 B.
fn wakeups(cells: &[Cell], row: Row) -> Option<f64> {
    at60(cells, row).and_then(|c| {
        median(
            &c.ok_runs()
                .filter_map(|r| {
                    let n = r.received.filter(|&n| n > 0)?;
                    Some(r.rx.vcsw as f64 * 1000.0 / n as f64)
                })
                .collect::<Vec<_>>(),
        )
    })
}

/// Receiver sleeps: each one costs the sending side a wakeup (the veth softirq that delivers the
/// frames runs on the sender's CPU). The paragraph into `md` when any row has a figure;
/// `rx_sleeps_per_kpkt_60` of results.json.
pub fn sleeps(md: &mut String, cells: &[Cell]) -> Vec<(&'static str, Json)> {
    let mut wl = String::from(
        "Receiver sleeps per 1000 packets (voluntary context switches, 60 B; each is a wakeup the sender's CPU pays for):",
    );
    let mut json = Vec::new();
    for row in ROWS {
        let w = wakeups(cells, row);
        if let Some(w) = w {
            let _ = write!(wl, " {} {w:.0};", row.name());
        }
        json.push((row.name(), Json::num(w)));
    }
    if json.iter().any(|(_, v)| *v != Json::Null) {
        let _ = writeln!(md, "{}\n", wl.trim_end_matches(';'));
    }
    json
}
