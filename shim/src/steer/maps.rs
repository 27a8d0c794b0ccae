//! The steering maps of an interface's program, the rule evaluator loaded on demand, and the
//! updates that install, clear and read a queue's rule set.
//!
//! - `steer_sel` (array, [`crate::xdp::MAX_QUEUES`] u32): per queue, 0 = no rule (every frame
//!   to the socket, netmap's behaviour), 1 or 2 = the rule set in slot 0 or 1;
//! - `steer_progs` (program array, one slot): the rule evaluator the attached program
//!   tail-calls for a queue with a rule, put there by the first install on the interface;
//! - `steer_rules` (hash, key `queue * 2 + slot`): the rule sets;
//! - `steer_stats` (per-CPU array, per queue): per-term hit counters, frames passed to the
//!   stack, and the program's scratch key.
//!
//! The first open creates only `steer_sel` and `steer_progs` (with the XSK map): the
//! evaluator and the two maps only it uses come with the first rule ([`SteerMaps::ensure_evaluator`]),
//! so an interface nobody steers never pays for them. Every process finds them through the
//! interface: the attached program's maps, then the program in the slot and its maps.
//!
//! A program of an nmxdp whose evaluator was inline (one program with all of `steer_sel`,
//! `steer_rules` and `steer_stats`, no `steer_progs`) is recognised and steered the same way.
//!
//! Installing writes the slot the selector does not name, then switches the selector with one
//! 32-bit store: a frame in flight uses the old rule set or the new one, never a mix. (The
//! slot written was last selected one update ago; a program run lasts microseconds.)

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

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
/// See [`SEL_MAP`].
pub const PROGS_MAP: &str = "steer_progs";
/// The rule evaluator's program name, as in bpf/xsk_redirect.c.
pub const EVAL_NAME: &str = "nmxdp_steer";
/// The evaluator's pin, next to the maps' pins (`/sys/fs/bpf/nmxdp/<key>/`).
pub const EVAL_PIN: &str = "steer_prog";
/// The XSK map, which the evaluator redirects to as the attached program does.
const XSK_MAP: &str = "xsks_map";

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
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

/// The maps only the rule evaluator uses.
struct RuleMaps {
    rules: OwnedFd,
    stats: OwnedFd,
}

/// The steering maps of an interface's program.
pub struct SteerMaps {
    sel: OwnedFd,
    /// The XSK map and the evaluator's slot; None for a program whose evaluator is inline.
    split: Option<(OwnedFd, OwnedFd)>,
    /// Once an evaluator is in the slot (at once for an inline evaluator).
    rule_maps: OnceLock<RuleMaps>,
}

fn map_err(what: String, e: &bpfsys::SysError) -> Error {
    Error::new(e.errno(), format!("{what}: {e}"))
}

/// The steering maps among `maps` (by name), those with the layout this nmxdp writes.
#[derive(Default)]
struct Picked {
    sel: Option<OwnedFd>,
    rules: Option<OwnedFd>,
    stats: Option<OwnedFd>,
    progs: Option<OwnedFd>,
    xsks: Option<OwnedFd>,
}

impl Picked {
    fn of(maps: Vec<(String, OwnedFd)>) -> Picked {
        let mut p = Picked::default();
        for (name, fd) in maps {
            let Ok(info) = bpfsys::map_info(fd.as_fd()) else {
                continue;
            };
            let want = match name.as_str() {
                SEL_MAP => (BPF_MAP_TYPE_ARRAY, 4, &mut p.sel),
                RULES_MAP => (BPF_MAP_TYPE_HASH, RULESET_BYTES as u32, &mut p.rules),
                STATS_MAP => (BPF_MAP_TYPE_PERCPU_ARRAY, STATS_BYTES as u32, &mut p.stats),
                PROGS_MAP => (BPF_MAP_TYPE_PROG_ARRAY, 4, &mut p.progs),
                XSK_MAP => (BPF_MAP_TYPE_XSKMAP, 4, &mut p.xsks),
                _ => continue,
            };
            if info.map_type == want.0 && info.value_size == want.1 && info.key_size == 4 {
                *want.2 = Some(fd);
            }
        }
        p
    }

    fn rule_maps(&mut self) -> Option<RuleMaps> {
        Some(RuleMaps {
            rules: self.rules.take()?,
            stats: self.stats.take()?,
        })
    }
}

/// Maps by name from kernel map ids (what the kernel lists for a loaded program).
fn maps_of_ids(ids: &[u32]) -> Vec<(String, OwnedFd)> {
    ids.iter()
        .filter_map(|&id| {
            let fd = bpfsys::map_fd_by_id(id).ok()?;
            let name = bpfsys::map_info(fd.as_fd()).ok()?.name;
            Some((name, fd))
        })
        .collect()
}

/// The maps of the evaluator in slot 0 of `progs`, if one is there. (A program array's
/// lookup from user space answers the program's id.)
fn evaluator_maps(progs: &OwnedFd) -> Option<RuleMaps> {
    let mut id = [0u8; 4];
    bpfsys::map_lookup(progs.as_fd(), &0u32.to_ne_bytes(), &mut id).ok()?;
    let ids = crate::xdp::program_map_ids(u32::from_ne_bytes(id))?;
    Picked::of(maps_of_ids(&ids)).rule_maps()
}

impl SteerMaps {
    /// The maps among `maps` (by name: those a program uses), if they are the steering maps
    /// of this nmxdp's split program or of an inline evaluator; None for a program of an
    /// nmxdp without steering, or with another layout.
    pub fn from_fds(maps: Vec<(String, OwnedFd)>) -> Option<SteerMaps> {
        let mut p = Picked::of(maps);
        let sel = p.sel.take()?;
        let rule_maps = OnceLock::new();
        let split = match (p.progs.take(), p.xsks.take()) {
            (Some(progs), Some(xsks)) => {
                if let Some(r) = evaluator_maps(&progs) {
                    let _ = rule_maps.set(r);
                }
                Some((xsks, progs))
            }
            _ => {
                let _ = rule_maps.set(p.rule_maps()?);
                None
            }
        };
        Some(SteerMaps {
            sel,
            split,
            rule_maps,
        })
    }

    /// The maps of program-map ids `ids` (what the kernel lists for a loaded program).
    pub fn of_ids(ids: &[u32]) -> Option<SteerMaps> {
        Self::from_fds(maps_of_ids(ids))
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

    /// The rule maps, if an evaluator is loaded (by this process or, since this process
    /// looked, by another).
    fn rule_maps(&self) -> Option<&RuleMaps> {
        if let Some(r) = self.rule_maps.get() {
            return Some(r);
        }
        let r = evaluator_maps(&self.split.as_ref()?.1)?;
        Some(self.rule_maps.get_or_init(|| r))
    }

    /// Whether the rule evaluator is loaded; when it is not, [`Self::install`] needs
    /// [`Self::ensure_evaluator`] first.
    pub fn has_evaluator(&self) -> bool {
        self.rule_maps().is_some()
    }

    /// Loads the rule evaluator and its maps into the slot of the interface's program, unless
    /// one is there already, and pins them in `pin_dir` if given and present. The caller
    /// holds the interface's lock, so two first rules do not load two evaluators.
    pub fn ensure_evaluator(&self, ifname: &str, pin_dir: Option<&Path>) -> Result<()> {
        if self.has_evaluator() {
            return Ok(());
        }
        let Some((xsks, progs)) = &self.split else {
            unreachable!("an inline evaluator's maps are there from the start");
        };
        let (prog, created) = crate::xdpload::load_program(
            crate::xdp::XDP_OBJECT,
            EVAL_NAME,
            &[(SEL_MAP, self.sel.as_fd()), (XSK_MAP, xsks.as_fd())],
            ifname,
        )?;
        let r = Picked::of(created).rule_maps().ok_or_else(|| {
            Error::new(
                libc::EINVAL,
                format!("bpf/xsk_redirect.o: {EVAL_NAME} lacks {RULES_MAP} or {STATS_MAP}: rebuild it with `make bpf`"),
            )
        })?;
        if let Some(dir) = pin_dir.filter(|d| d.is_dir()) {
            for (name, fd) in [
                (EVAL_PIN, &prog),
                (RULES_MAP, &r.rules),
                (STATS_MAP, &r.stats),
            ] {
                // A pin left from an evaluator whose slot was emptied (all users gone).
                let _ = std::fs::remove_file(dir.join(name));
                crate::xdpload::pin(fd, &dir.join(name))?;
            }
        }
        let fd = u32::try_from(prog.as_raw_fd()).expect("fds are not negative");
        bpfsys::map_update(progs.as_fd(), &0u32.to_ne_bytes(), &fd.to_ne_bytes(), 0)
            .map_err(|e| map_err(format!("{ifname}: installing the rule evaluator"), &e))?;
        let _ = self.rule_maps.set(r);
        Ok(())
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

    /// Makes `rule` the rule of `queue`: its counters start from zero. ENOENT without an
    /// evaluator ([`Self::ensure_evaluator`]).
    pub fn install(&self, queue: u32, rule: &Rule) -> Result<()> {
        let Some(RuleMaps { rules, stats }) = self.rule_maps() else {
            return Err(Error::new(
                libc::ENOENT,
                format!("queue {queue}: no rule evaluator loaded"),
            ));
        };
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
        bpfsys::map_update(rules.as_fd(), &k.to_ne_bytes(), &value, 0)
            .map_err(|e| map_err(format!("writing the rule set of queue {queue}"), &e))?;
        let zeros = vec![
            0u8;
            bpfsys::map_value_bytes(stats.as_fd())
                .map_err(|e| map_err("sizing the steering counters".into(), &e))?
        ];
        bpfsys::map_update(stats.as_fd(), &queue.to_ne_bytes(), &zeros, 0)
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
        bpfsys::map_lookup(
            self.rule_maps()?.rules.as_fd(),
            &k.to_ne_bytes(),
            &mut value,
        )
        .ok()?;
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
        let Some(RuleMaps { stats, .. }) = self.rule_maps() else {
            return (hits, passed);
        };
        let Ok(n) = bpfsys::map_value_bytes(stats.as_fd()) else {
            return (hits, passed);
        };
        let mut all = vec![0u8; n];
        if bpfsys::map_lookup(stats.as_fd(), &queue.to_ne_bytes(), &mut all).is_err() {
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
