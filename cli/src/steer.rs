//! `nmxdp steer IFACE`: the steering rules in force on an interface, queue by queue, with the
//! frames each alternative of a rule sent to the rings and the frames left to the stack (see
//! `nmxdp::steer::status`, which also clears the rules of queues whose holder died).

use nmxdp::steer::QueueRules;
use serde_json::{json, Value};

pub fn text(ifname: &str, all: &[QueueRules]) -> String {
    if all.is_empty() {
        return format!(
            "{ifname}: no steering rule in force (a netmap queue gets every frame of its queue)\n"
        );
    }
    let mut s = format!("{ifname}: {} queue(s) with a steering rule\n", all.len());
    for q in all {
        s.push_str(&format!(
            "  queue {} (pid {}): {}\n",
            q.queue, q.pid, q.text
        ));
        for (i, t) in q.terms.iter().enumerate() {
            s.push_str(&format!("    term {i}: {}: {} frames\n", t.term, t.hits));
        }
        if q.terms.is_empty() {
            s.push_str("    (the rule matches nothing)\n");
        }
        s.push_str(&format!("    to the stack: {} frames\n", q.passed));
    }
    s
}

pub fn json(ifname: &str, all: &[QueueRules]) -> Value {
    let queues: Vec<Value> = all
        .iter()
        .map(|q| {
            let terms: Vec<Value> = q
                .terms
                .iter()
                .map(|t| json!({"term": t.term, "hits": t.hits}))
                .collect();
            json!({"queue": q.queue, "pid": q.pid, "rule": q.text, "terms": terms, "passed": q.passed})
        })
        .collect();
    json!({"interface": ifname, "queues": queues})
}
