//! Rule → rule set: each primitive becomes a conjunction of predicates over the frame's key,
//! `not` is pushed down to the predicates, and the expression is expanded into a disjunction
//! of conjunctions (DNF) of at most [`MAX_TERMS`] terms of at most [`MAX_PREDS`] literals: the
//! bounded shape the XDP program's two nested loops evaluate.

use std::collections::BTreeSet;
use std::fmt;

use super::layout::*;
use super::parse::{Atom, Dir, Expr, Fam};

/// Terms an intermediate expansion may reach before the rule is refused (the final bound is
/// [`MAX_TERMS`]; this only stops a pathological rule from taking memory and time).
const EXPANSION_LIMIT: usize = 4096;

/// Why a rule does not fit the program's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooBig(pub String);

fn masked(word: usize, mask: [u32; 4], val: [u32; 4]) -> Pred {
    Pred {
        op: OP_MASKED,
        word: word as u8,
        mask,
        val,
    }
}

fn flag(f: u32) -> Pred {
    masked(W_FLAGS, [f, 0, 0, 0], [f, 0, 0, 0])
}

fn words(bytes: &[u8; 16]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (i, c) in bytes.chunks_exact(4).enumerate() {
        w[i] = u32::from_ne_bytes(c.try_into().expect("4 bytes"));
    }
    w
}

/// The predicates that must all hold for `atom`.
fn lower(atom: &Atom) -> Vec<Pred> {
    match *atom {
        Atom::EtherType(t) => vec![masked(W_ETYPE, [0xffff, 0, 0, 0], [t as u32, 0, 0, 0])],
        Atom::Vlan(None) => vec![flag(F_VLAN)],
        Atom::Vlan(Some(id)) => vec![masked(
            W_FLAGS,
            [F_VLAN, 0, 0xfff, 0],
            [F_VLAN, 0, id as u32, 0],
        )],
        Atom::Proto { fam, proto } => {
            let f = match fam {
                Fam::V4 => F_IP4,
                Fam::V6 => F_IP6,
                Fam::Any => F_IP,
            };
            let (m, v) = proto.map_or((0, 0), |p| (0xff, p as u32));
            vec![masked(W_FLAGS, [f, 0, 0, m], [f, 0, 0, v])]
        }
        Atom::Net {
            dir,
            v6,
            addr,
            prefix,
        } => {
            let word = if dir == Dir::Src { W_SRC } else { W_DST };
            let mut ones = [0xffu8; 16];
            if !v6 {
                ones[4..].fill(0);
            }
            let mask = super::parse::mask_bytes(&ones, prefix);
            vec![
                flag(if v6 { F_IP6 } else { F_IP4 }),
                masked(word, words(&mask), words(&addr)),
            ]
        }
        Atom::Port { dir, lo, hi } => {
            let word = if dir == Dir::Src { W_SPORT } else { W_DPORT };
            vec![
                flag(F_PORTS),
                Pred {
                    op: OP_RANGE,
                    word: word as u8,
                    mask: [0; 4],
                    val: [lo as u32, hi as u32, 0, 0],
                },
            ]
        }
    }
}

/// A term as a set of literals (ordered, so equal terms compare equal).
type Term = BTreeSet<Lit>;

fn contradictory(t: &Term) -> bool {
    t.iter().any(|l| {
        l.neg
            && t.contains(&Lit {
                pred: l.pred,
                neg: false,
            })
    })
}

fn limit(n: usize) -> Result<(), TooBig> {
    if n > EXPANSION_LIMIT {
        return Err(TooBig(format!(
            "the rule expands to more than {EXPANSION_LIMIT} alternatives while being compiled (the program takes at most {MAX_TERMS} of at most {MAX_PREDS} conditions each)"
        )));
    }
    Ok(())
}

/// The DNF of `e` (negated when `neg`): a list of terms, contradictory terms dropped.
fn dnf(e: &Expr, neg: bool) -> Result<Vec<Term>, TooBig> {
    Ok(match (e, neg) {
        (Expr::Atom(a), false) => vec![lower(a)
            .into_iter()
            .map(|pred| Lit { pred, neg: false })
            .collect()],
        (Expr::Atom(a), true) => lower(a)
            .into_iter()
            .map(|pred| Term::from([Lit { pred, neg: true }]))
            .collect(),
        (Expr::Not(x), n) => dnf(x, !n)?,
        (Expr::Or(a, b), false) | (Expr::And(a, b), true) => {
            let mut out = dnf(a, neg)?;
            out.extend(dnf(b, neg)?);
            limit(out.len())?;
            out
        }
        (Expr::And(a, b), false) | (Expr::Or(a, b), true) => {
            let (x, y) = (dnf(a, neg)?, dnf(b, neg)?);
            limit(x.len() * y.len())?;
            let mut out = Vec::new();
            for s in &x {
                for t in &y {
                    let u: Term = s.union(t).copied().collect();
                    if !contradictory(&u) {
                        out.push(u);
                    }
                }
            }
            out
        }
    })
}

/// Compiles a parsed rule into the program's bounded form.
pub fn compile(e: &Expr) -> Result<RuleSet, TooBig> {
    let mut terms = dnf(e, false)?;
    // Drop repeated terms and terms implied by a smaller one (t ⊇ s: t matches less).
    terms.sort_by_key(|t| t.len());
    let mut kept: Vec<Term> = Vec::new();
    for t in terms {
        if !kept.iter().any(|s| s.is_subset(&t)) {
            kept.push(t);
        }
    }
    if kept.len() > MAX_TERMS {
        return Err(TooBig(format!(
            "the rule needs {} alternatives once expanded (and/or/not distributed); the bound is {MAX_TERMS}",
            kept.len()
        )));
    }
    if let Some(t) = kept.iter().find(|t| t.len() > MAX_PREDS) {
        return Err(TooBig(format!(
            "one alternative of the rule needs {} conditions; the bound is {MAX_PREDS} per alternative",
            t.len()
        )));
    }
    Ok(RuleSet {
        terms: kept.into_iter().map(|t| t.into_iter().collect()).collect(),
    })
}

fn addr_text(w: &[u32], m: &[u32], v6: bool) -> String {
    let mut bytes = [0u8; 16];
    let mut bits = 0;
    for i in 0..4 {
        bytes[4 * i..4 * i + 4].copy_from_slice(&w[i].to_ne_bytes());
        bits += m[i].count_ones();
    }
    if v6 {
        format!("{}/{bits}", std::net::Ipv6Addr::from(bytes))
    } else {
        let a: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
        format!("{}/{bits}", std::net::Ipv4Addr::from(a))
    }
}

impl fmt::Display for Lit {
    /// A compact reading of the condition, for `nmxdp steer`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.neg {
            write!(f, "!")?;
        }
        let p = &self.pred;
        let w = p.word as usize;
        if p.op == OP_RANGE {
            let name = match w {
                W_SPORT => "sport",
                W_DPORT => "dport",
                _ => "word",
            };
            return if p.val[0] == p.val[1] {
                write!(f, "{name} {}", p.val[0])
            } else {
                write!(f, "{name} {}-{}", p.val[0], p.val[1])
            };
        }
        let mut parts = Vec::new();
        match w {
            W_SRC | W_DST => {
                let dir = if w == W_SRC { "src" } else { "dst" };
                let v6 = p.mask[1..].iter().any(|&m| m != 0) || p.mask[0] == 0;
                parts.push(format!("{dir} {}", addr_text(&p.val, &p.mask, v6)));
            }
            _ => {
                for i in 0..4 {
                    if p.mask[i] == 0 {
                        continue;
                    }
                    let v = p.val[i];
                    parts.push(match w + i {
                        W_FLAGS => {
                            let names = [
                                (F_VLAN, "vlan"),
                                (F_IP4, "ip"),
                                (F_IP6, "ip6"),
                                (F_IP, "ip|ip6"),
                                (F_PORTS, "ports"),
                            ];
                            names
                                .iter()
                                .filter(|(b, _)| v & b != 0)
                                .map(|(_, n)| *n)
                                .collect::<Vec<_>>()
                                .join("+")
                        }
                        W_ETYPE => format!("ethertype 0x{v:04x}"),
                        W_VLAN => format!("vlan id {v}"),
                        W_PROTO => format!("proto {v}"),
                        n => format!("word{n}&{:#x}=={v:#x}", p.mask[i]),
                    });
                }
            }
        }
        write!(f, "{}", parts.join(" "))
    }
}

/// A term as text: its literals joined with "and" ("any frame" for an empty term).
pub fn term_text(t: &[Lit]) -> String {
    if t.is_empty() {
        return "any frame".into();
    }
    t.iter()
        .map(Lit::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}
