//! Selective steering (`NMXDP_STEER`): only the frames a rule matches go to the netmap rings
//! of their queue; the others reach the kernel stack (`XDP_PASS`) untouched.
//!
//! A rule in the tcpdump/pcap vocabulary ([`parse`]) is compiled ([`compile`]) into a bounded
//! disjunctive normal form that the one XDP program evaluates from map entries ([`layout`]):
//! no recompiling, no program swap. A queue's rule set is written into a spare slot of the
//! rules map and then selected with one 32-bit store ([`maps`]), so a frame in flight sees
//! either the old rule set or the new one, whole.

pub mod compile;
pub mod layout;
pub mod maps;
pub mod parse;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};

pub use maps::{QueueRules, TermCount};

/// A rule ready to be installed: its text and its compiled rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule as written.
    pub text: String,
    /// What the program evaluates.
    pub set: layout::RuleSet,
}

impl Rule {
    /// Parses and compiles `text`. EINVAL with the column for anything outside the vocabulary,
    /// and with the bound for a rule that does not fit the program
    /// ([`layout::MAX_TERMS`] alternatives of [`layout::MAX_PREDS`] conditions).
    pub fn parse(text: &str) -> Result<Rule> {
        let e = parse::parse(text)
            .map_err(|e| Error::new(libc::EINVAL, format!("steering rule '{text}': {e}")))?;
        let set = compile::compile(&e).map_err(|e| {
            Error::new(
                libc::EINVAL,
                format!(
                    "steering rule '{text}': too large for the XDP program: {}",
                    e.0
                ),
            )
        })?;
        Ok(Rule {
            text: text.to_string(),
            set,
        })
    }
}

/// The rules in force on interface `ifname` (in the calling thread's network namespace), queue
/// by queue, with their counters summed over the CPUs. Rules of queues whose holder died
/// (SIGKILL) are cleared on the way: the program outlives a killed user when others remain,
/// and the selector it left would otherwise show until the queue's next user.
pub fn status(ifname: &str) -> Result<Vec<QueueRules>> {
    let info = crate::ifinfo::if_info(ifname)?;
    let Some(maps) = maps::SteerMaps::of_interface(info.ifindex)? else {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            // Unprivileged, the program's maps cannot be opened: say so rather than "no rule".
            return Err(Error::new(
                libc::EPERM,
                format!("{ifname}: reading the steering maps needs CAP_BPF and CAP_SYS_ADMIN (run as root)"),
            ));
        }
        return Ok(Vec::new());
    };
    let key = crate::shared::iface_key(crate::engine::current_netns(), info.ifindex);
    let live = live_queues(&key, &crate::shared::holders());
    Ok(sweep_with(&maps, &live)
        .into_iter()
        .filter_map(|q| maps.read(q))
        .collect())
}

/// Queues of interface `key` that a live process holds.
fn live_queues(key: &str, holders: &[crate::shared::Holder]) -> Vec<u32> {
    holders
        .iter()
        .filter(|h| h.key == key)
        .map(|h| h.queue)
        .collect()
}

/// Clears the rules of queues not in `live`; returns the queues whose rules stay.
fn sweep_with(maps: &maps::SteerMaps, live: &[u32]) -> Vec<u32> {
    let mut kept = Vec::new();
    for q in maps.steered_queues() {
        if live.contains(&q) {
            kept.push(q);
        } else {
            maps.clear(q);
        }
    }
    kept
}

/// For `nmxdp status`: clears the rules that processes which died left on interface `ifindex`
/// (key `key`, in the calling thread's namespace), given the live holders it found.
pub fn sweep(ifindex: u32, key: &str, holders: &[crate::shared::Holder]) {
    if let Ok(Some(maps)) = maps::SteerMaps::of_interface(ifindex) {
        sweep_with(&maps, &live_queues(key, holders));
    }
}
