//! Counters and the periodic lines upstream lb prints with `-o` (one JSON object per pipe and
//! one for the input port), and the final summary.

use std::time::Instant;

/// One output pipe's counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ctr {
    pub pkts: u64,
    pub bytes: u64,
    pub drop: u64,
    pub drop_bytes: u64,
}

/// Totals of the input side.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub received_pkts: u64,
    pub received_bytes: u64,
    pub non_ip: u64,
    /// Buffer indices moved into pipe slots (every forwarded slot is one).
    pub swaps: u64,
}

/// The state of the periodic report.
pub struct Reporter {
    last: Instant,
    prev: Vec<Ctr>,
    every: u64,
}

fn rate(d: u64, usec: u64) -> f64 {
    (d as f64) * 1e6 / usec.max(1) as f64
}

impl Reporter {
    pub fn new(pipes: usize, every: u64) -> Reporter {
        Reporter {
            last: Instant::now(),
            prev: vec![Ctr::default(); pipes],
            every,
        }
    }

    /// Prints the lines if `-o` seconds passed since the last ones.
    pub fn tick(
        &mut self,
        iface: &str,
        names: &[String],
        ctrs: &[Ctr],
        oq: &[usize],
        t: &Totals,
        freeq: usize,
    ) {
        if self.every == 0 || self.last.elapsed().as_secs() < self.every {
            return;
        }
        let usec = self.last.elapsed().as_micros() as u64;
        self.last = Instant::now();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut sum = Ctr::default();
        let mut dsum = Ctr::default();
        for (j, c) in ctrs.iter().enumerate() {
            let p = self.prev[j];
            let d = Ctr {
                pkts: c.pkts - p.pkts,
                bytes: c.bytes - p.bytes,
                drop: c.drop - p.drop,
                drop_bytes: c.drop_bytes - p.drop_bytes,
            };
            println!(
                "{{\"ts\":{ts:.6},\"interface\":\"{}\",\"output_ring\":{j},\"packets_forwarded\":{},\"packets_dropped\":{},\"data_forward_rate_Mbps\":{:.4},\"data_drop_rate_Mbps\":{:.4},\"packet_forward_rate_kpps\":{:.4},\"packet_drop_rate_kpps\":{:.4},\"overflow_queue_size\":{}}}",
                names[j],
                c.pkts,
                c.drop,
                rate(d.bytes * 8, usec) / 1024.0 / 1024.0,
                rate(d.drop_bytes * 8, usec) / 1024.0 / 1024.0,
                rate(d.pkts, usec) / 1000.0,
                rate(d.drop, usec) / 1000.0,
                oq[j]
            );
            for (s, x) in [(&mut sum, c), (&mut dsum, &d)] {
                s.pkts += x.pkts;
                s.bytes += x.bytes;
                s.drop += x.drop;
                s.drop_bytes += x.drop_bytes;
            }
            self.prev[j] = *c;
        }
        println!(
            "{{\"ts\":{ts:.6},\"interface\":\"{iface}\",\"output_ring\":null,\"packets_received\":{},\"packets_forwarded\":{},\"packets_dropped\":{},\"non_ip_packets\":{},\"data_forward_rate_Mbps\":{:.4},\"data_drop_rate_Mbps\":{:.4},\"packet_forward_rate_kpps\":{:.4},\"packet_drop_rate_kpps\":{:.4},\"free_buffer_slots\":{freeq}}}",
            t.received_pkts,
            sum.pkts,
            sum.drop,
            t.non_ip,
            rate(dsum.bytes * 8, usec) / 1024.0 / 1024.0,
            rate(dsum.drop_bytes * 8, usec) / 1024.0 / 1024.0,
            rate(dsum.pkts, usec) / 1000.0,
            rate(dsum.drop, usec) / 1000.0,
        );
    }
}
