//! The steering maps of an interface's program, and the updates that install, clear and read
//! a queue's rule set.
//!
//! - `steer_sel` (array, [`crate::xdp::MAX_QUEUES`] u32): per queue, 0 = no rule (every frame
//!   to the socket, netmap's behaviour), 1 or 2 = the rule set in slot 0 or 1;
//! - `steer_rules` (hash, key `queue * 2 + slot`): the rule sets;
//! - `steer_stats` (per-CPU array, per queue): per-term hit counters, frames passed to the
//!   stack, and the program's scratch key.
//!
//! Installing writes the slot the selector does not name, then switches the selector with one
//! 32-bit store: a frame in flight uses the old rule set or the new one, never a mix. (The
//! slot written was last selected one update ago; a program run lasts microseconds.)

use std::os::fd::{AsFd, OwnedFd};

use super::layout::{self, RuleSet, MAX_TERMS, RULESET_BYTES, STATS_BYTES};
use super::Rule;
use crate::bpfsys;
use crate::error::{Error, Result};

/// Map names, as in bpf/xsk_redirect.c.
pub const SEL_MAP: &str = "steer_sel";
/// See [`SEL_MAP`].
pub const RULES_MAP: &str = "steer_rules";
/// See [`SEL_MAP`].
pub const STATS_MAP: &str = "steer_stats";

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;

/// One term's counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermCount {
    /// The term's conditions, as text.
    pub term: String,
    /// Frames it sent to the socket, summed over the CPUs.
    pub hits: u64,
}

/// A queue's rule in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRules {
    /// The queue (netmap ring).
    pub queue: u32,
    /// The process that installed it.
    pub pid: u32,
    /// The rule as written (truncated to [`layout::TEXT_BYTES`] - 1 bytes).
    pub text: String,
    /// Its terms, in evaluation order, with their counters.
    pub terms: Vec<TermCount>,
    /// Frames of the queue no term matched (given to the kernel stack).
    pub passed: u64,
}

/// The three steering maps of one program.
pub struct SteerMaps {
    sel: OwnedFd,
    rules: OwnedFd,
    stats: OwnedFd,
}

fn map_err(what: String, e: &bpfsys::SysError) -> Error {
    Error::new(e.errno(), format!("{what}: {e}"))
}

impl SteerMaps {
    /// The maps among `maps` (by name), if all three are there with the layout this nmxdp
    /// writes; None for a program of an nmxdp without steering, or with another layout.
    pub fn from_fds(maps: Vec<(String, OwnedFd)>) -> Option<SteerMaps> {
        let mut sel = None;
        let mut rules = None;
        let mut stats = None;
        for (name, fd) in maps {
            let Ok(info) = bpfsys::map_info(fd.as_fd()) else {
                continue;
            };
            let want = match name.as_str() {
                SEL_MAP => (BPF_MAP_TYPE_ARRAY, 4, &mut sel),
                RULES_MAP => (BPF_MAP_TYPE_HASH, RULESET_BYTES as u32, &mut rules),
                STATS_MAP => (BPF_MAP_TYPE_PERCPU_ARRAY, STATS_BYTES as u32, &mut stats),
                _ => continue,
            };
            if info.map_type == want.0 && info.value_size == want.1 && info.key_size == 4 {
                *want.2 = Some(fd);
            }
        }
        Some(SteerMaps {
            sel: sel?,
            rules: rules?,
            stats: stats?,
        })
    }

    /// The maps of program-map ids `ids` (what the kernel lists for a loaded program).
    pub fn of_ids(ids: &[u32]) -> Option<SteerMaps> {
        let maps = ids
            .iter()
            .filter_map(|&id| {
                let fd = bpfsys::map_fd_by_id(id).ok()?;
                let name = bpfsys::map_info(fd.as_fd()).ok()?.name;
                Some((name, fd))
            })
            .collect();
        Self::from_fds(maps)
    }

    /// The maps of the program attached to `ifindex`, if it has them.
    pub fn of_interface(ifindex: u32) -> Result<Option<SteerMaps>> {
        let attached = bpfsys::attached_xdp(ifindex)
            .map_err(|e| map_err(format!("reading the XDP state of ifindex {ifindex}"), &e))?;
        let Some(a) = attached else {
            return Ok(None);
        };
        Ok(crate::xdp::program_map_ids(a.prog_id).and_then(|ids| Self::of_ids(&ids)))
    }

    fn selector(&self, queue: u32) -> u32 {
        let mut v = [0u8; 4];
        match bpfsys::map_lookup(self.sel.as_fd(), &queue.to_ne_bytes(), &mut v) {
            Ok(()) => u32::from_ne_bytes(v),
            Err(_) => 0,
        }
    }

    fn set_selector(&self, queue: u32, v: u32) -> Result<()> {
        bpfsys::map_update(self.sel.as_fd(), &queue.to_ne_bytes(), &v.to_ne_bytes(), 0)
            .map_err(|e| map_err(format!("selecting the rule set of queue {queue}"), &e))
    }

    /// Makes `rule` the rule of `queue`: its counters start from zero.
    pub fn install(&self, queue: u32, rule: &Rule) -> Result<()> {
        if queue >= crate::xdp::MAX_QUEUES {
            return Err(Error::new(
                libc::E2BIG,
                format!(
                    "queue {queue}: steering covers queues 0 to {}",
                    crate::xdp::MAX_QUEUES - 1
                ),
            ));
        }
        let slot = if self.selector(queue) == 1 { 1 } else { 0 };
        let value = rule.set.to_bytes(std::process::id(), &rule.text);
        let k = queue * 2 + slot;
        bpfsys::map_update(self.rules.as_fd(), &k.to_ne_bytes(), &value, 0)
            .map_err(|e| map_err(format!("writing the rule set of queue {queue}"), &e))?;
        let zeros = vec![
            0u8;
            bpfsys::map_value_bytes(self.stats.as_fd())
                .map_err(|e| map_err("sizing the steering counters".into(), &e))?
        ];
        bpfsys::map_update(self.stats.as_fd(), &queue.to_ne_bytes(), &zeros, 0)
            .map_err(|e| map_err(format!("zeroing the counters of queue {queue}"), &e))?;
        self.set_selector(queue, slot + 1)
    }

    /// `queue` goes back to no rule: every frame to its socket (if it has one).
    pub fn clear(&self, queue: u32) {
        if self.selector(queue) != 0 {
            let _ = self.set_selector(queue, 0);
        }
    }

    /// Queues with a rule.
    pub fn steered_queues(&self) -> Vec<u32> {
        (0..crate::xdp::MAX_QUEUES)
            .filter(|&q| self.selector(q) != 0)
            .collect()
    }

    /// The rule of `queue` and its counters summed over the CPUs, if it has one.
    pub fn read(&self, queue: u32) -> Option<QueueRules> {
        let sel = self.selector(queue);
        if sel == 0 {
            return None;
        }
        let k = queue * 2 + (sel - 1);
        let mut value = vec![0u8; RULESET_BYTES];
        bpfsys::map_lookup(self.rules.as_fd(), &k.to_ne_bytes(), &mut value).ok()?;
        let (set, pid, text) = RuleSet::from_bytes(&value)?;
        let (hits, passed) = self.counters(queue);
        Some(QueueRules {
            queue,
            pid,
            text,
            terms: set
                .terms
                .iter()
                .zip(hits)
                .map(|(t, hits)| TermCount {
                    term: super::compile::term_text(t),
                    hits,
                })
                .collect(),
            passed,
        })
    }

    /// Per-term hits and frames passed, summed over the CPUs.
    pub(crate) fn counters(&self, queue: u32) -> ([u64; MAX_TERMS], u64) {
        let mut hits = [0u64; MAX_TERMS];
        let mut passed = 0;
        let Ok(n) = bpfsys::map_value_bytes(self.stats.as_fd()) else {
            return (hits, passed);
        };
        let mut all = vec![0u8; n];
        if bpfsys::map_lookup(self.stats.as_fd(), &queue.to_ne_bytes(), &mut all).is_err() {
            return (hits, passed);
        }
        for cpu in all.chunks_exact(STATS_BYTES.next_multiple_of(8)) {
            for (i, h) in hits.iter_mut().enumerate() {
                *h += layout::get64(cpu, 8 * i);
            }
            passed += layout::get64(cpu, 8 * MAX_TERMS);
        }
        (hits, passed)
    }
}
