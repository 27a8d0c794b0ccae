//! A comparison's line in results.md and its entry in results.json, the same for every section
//! (throughput, latency, scaling, steering, host path): the median of the per-pair ratios, its
//! 95% interval, the number of pairs and, when there is a target, the verdict.

use nmxdp_bench::json::Json;
use nmxdp_bench::stats::{Comparison, Goal};

use super::with_ci;

/// "0.981 [0.950, 1.010] over 15 pair(s)", then " (target ≥ 0.95): **met**" with a goal.
pub fn summary(c: &Comparison, digits: usize) -> String {
    let mut s = format!(
        "{} over {} pair(s)",
        with_ci(c.ci.as_ref(), digits),
        c.pairs.len()
    );
    if let Some(g) = c.goal {
        s.push_str(&format!(" (target {}): **{}**", g.label(), c.verdict_str()));
    }
    s
}

/// `head` (what is compared with what), then `ratio`, `ci95_lo`, `ci95_hi`, `pairs`,
/// `pair_ratios`, `goal` ("at_least" / "at_most" / null), `target` and `verdict` (null without a
/// goal).
pub fn json(head: Vec<(&str, Json)>, c: &Comparison) -> Json {
    let mut kv: Vec<(String, Json)> = head.into_iter().map(|(k, v)| (k.into(), v)).collect();
    let (goal, target) = match c.goal {
        Some(Goal::AtLeast(t)) => (Json::str("at_least"), Json::Num(t)),
        Some(Goal::AtMost(t)) => (Json::str("at_most"), Json::Num(t)),
        None => (Json::Null, Json::Null),
    };
    kv.extend(
        [
            ("ratio", Json::num(c.ci.map(|x| x.median))),
            ("ci95_lo", Json::num(c.ci.map(|x| x.lo))),
            ("ci95_hi", Json::num(c.ci.map(|x| x.hi))),
            ("pairs", Json::Int(c.pairs.len() as i64)),
            (
                "pair_ratios",
                Json::Arr(c.pairs.iter().map(|&r| Json::Num(r)).collect()),
            ),
            ("goal", goal),
            ("target", target),
            (
                "verdict",
                if c.goal.is_some() {
                    Json::str(c.verdict_str())
                } else {
                    Json::Null
                },
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    Json::Obj(kv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmxdp_bench::stats::Sample;

    #[test]
    fn line_and_entry() {
        let s = |seq, v| Sample {
            rep: 0,
            seq,
            value: Some(v),
        };
        let c = Comparison::new(
            &[s(1, 2.0)],
            &[s(0, 2.0), s(2, 2.0)],
            Some(Goal::AtMost(1.1)),
        );
        assert_eq!(
            summary(&c, 2),
            "1.00 [1.00, 1.00] over 1 pair(s) (target ≤ 1.10): **met**"
        );
        let plain = Comparison::new(&[s(1, 3.0)], &[s(0, 2.0)], None);
        assert_eq!(summary(&plain, 1), "1.5 [1.5, 1.5] over 1 pair(s)");
        let Json::Obj(kv) = json(vec![("row", Json::str("a"))], &c) else {
            panic!()
        };
        assert_eq!(kv[0], ("row".to_string(), Json::str("a")));
        assert!(kv.contains(&("goal".to_string(), Json::str("at_most"))));
        assert!(kv.contains(&("verdict".to_string(), Json::str("met"))));
    }
}
