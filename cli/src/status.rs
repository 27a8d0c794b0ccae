//! `nmxdp status`: interfaces in use, their program, queue holders and socket counters (after
//! sweeping what dead processes left behind, see `nmxdp::status`).

use nmxdp::status::IfaceStatus;
use serde_json::{json, Value};

pub fn text(all: &[IfaceStatus]) -> String {
    if all.is_empty() {
        return "no interface is in use by nmxdp\n".to_string();
    }
    let mut s = String::new();
    for i in all {
        let prog = match &i.program {
            Some((id, name, mode)) => format!("program {name} (id {id}) {mode}"),
            None => "program: (interface in another network namespace)".to_string(),
        };
        s.push_str(&format!("{} [netns-ifindex {}]: {prog}\n", i.ifname, i.key));
        for q in &i.queues {
            let c = match q.stats {
                Some(s) => format!(
                    "rx_dropped {} rx_invalid {} tx_invalid {} rx_ring_full {} fill_empty {} tx_ring_empty {}",
                    s.rx_dropped,
                    s.rx_invalid_descs,
                    s.tx_invalid_descs,
                    s.rx_ring_full,
                    s.rx_fill_ring_empty_descs,
                    s.tx_ring_empty_descs
                ),
                None => "counters unavailable (needs root)".to_string(),
            };
            s.push_str(&format!(
                "  queue {} pid {}: {c}\n",
                q.holder.queue, q.holder.pid
            ));
            if let Some(h) = q.host {
                let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
                s.push_str(&format!(
                    "  host rings: stack sent {} (dropped, host RX ring full: {}), to stack {}\n",
                    n(h.stack_sent),
                    n(h.dropped),
                    n(h.to_stack)
                ));
            }
        }
    }
    s
}

pub fn json(all: &[IfaceStatus]) -> Value {
    let ifaces: Vec<Value> = all
        .iter()
        .map(|i| {
            let queues: Vec<Value> = i
                .queues
                .iter()
                .map(|q| {
                    let stats = q.stats.map(|s| {
                        json!({
                            "rx_dropped": s.rx_dropped,
                            "rx_invalid_descs": s.rx_invalid_descs,
                            "tx_invalid_descs": s.tx_invalid_descs,
                            "rx_ring_full": s.rx_ring_full,
                            "rx_fill_ring_empty_descs": s.rx_fill_ring_empty_descs,
                            "tx_ring_empty_descs": s.tx_ring_empty_descs,
                        })
                    });
                    let host = q.host.map(|h| {
                        json!({
                            "stack_sent": h.stack_sent,
                            "dropped": h.dropped,
                            "to_stack": h.to_stack,
                        })
                    });
                    json!({"queue": q.holder.queue, "pid": q.holder.pid, "xdp_statistics": stats, "host": host})
                })
                .collect();
            let program = i
                .program
                .as_ref()
                .map(|(id, name, mode)| json!({"id": id, "name": name, "mode": mode}));
            json!({"interface": i.ifname, "key": i.key, "program": program, "queues": queues})
        })
        .collect();
    json!({ "interfaces": ifaces })
}
