//! `nmxdp status`: interfaces in use, their program, queue holders and socket counters (after
//! sweeping what dead processes left behind, see `nmxdp::status`).

use nmxdp::status::{IfaceStatus, SharedStatus};
use serde_json::{json, Value};

use crate::multibuf;

/// The interface's MTU, when it is in this namespace.
fn mtu(i: &IfaceStatus) -> Option<u32> {
    i.program.as_ref()?;
    nmxdp::ifinfo::if_info(&i.ifname).ok().map(|f| f.mtu)
}

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
        if let Some(mtu) = mtu(i) {
            s.push_str(&format!("  {}\n", multibuf::status_line(mtu)));
        }
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

/// The shared regions: size, pool audit (free, app, kernel RX, kernel TX) and users.
pub fn regions_text(regions: &[SharedStatus]) -> String {
    let mut s = String::new();
    for r in regions {
        let [free, app, krx, ktx] = r.audit;
        s.push_str(&format!(
            "region {} ({} bytes, {} buffers): free {free} app {app} kernel-rx {krx} kernel-tx {ktx}; reclaimed {} buffers of {} dead users\n",
            r.path.display(),
            r.memsize,
            r.buf_num,
            r.reclaimed.0,
            r.reclaimed.1
        ));
        for u in &r.users {
            let [_, app, krx, ktx] = u.buffers;
            s.push_str(&format!(
                "  user pid {}: app {app} kernel-rx {krx} kernel-tx {ktx}\n",
                u.pid
            ));
        }
    }
    s
}

pub fn json(all: &[IfaceStatus], regions: &[SharedStatus]) -> Value {
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
            let m = mtu(i);
            json!({
                "interface": i.ifname,
                "key": i.key,
                "program": program,
                "mtu": m,
                "multi_buffer": m.map(multibuf::chains_at),
                "queues": queues,
            })
        })
        .collect();
    let regions: Vec<Value> = regions
        .iter()
        .map(|r| {
            let users: Vec<Value> = r
                .users
                .iter()
                .map(|u| json!({"pid": u.pid, "app": u.buffers[1], "kernel_rx": u.buffers[2], "kernel_tx": u.buffers[3]}))
                .collect();
            json!({
                "path": r.path.display().to_string(),
                "memsize": r.memsize,
                "buf_num": r.buf_num,
                "audit": {"free": r.audit[0], "app": r.audit[1], "kernel_rx": r.audit[2], "kernel_tx": r.audit[3]},
                "reclaimed_buffers": r.reclaimed.0,
                "reclaimed_users": r.reclaimed.1,
                "users": users,
            })
        })
        .collect();
    json!({ "interfaces": ifaces, "regions": regions })
}
