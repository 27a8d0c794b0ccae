//! The bytes the XDP program reads, exactly as `bpf/xsk_redirect.c` declares them, and a Rust
//! mirror of what the program does with them: the frame's key ([`frame_key`]) and the
//! evaluation of a rule set over it ([`eval`]). The mirror is what the unit tests check the
//! compiler against; the C code follows it line for line.
//!
//! Bounds (the verifier needs every loop bounded; they are the C constants too):
//! - a rule set is at most [`MAX_TERMS`] alternatives (terms of the compiled disjunctive normal
//!   form) of at most [`MAX_PREDS`] conditions each, every condition negatable;
//! - a frame is parsed through at most [`MAX_VLAN`] VLAN tags and, in IPv6, at most
//!   [`MAX_EXT`] extension headers (hop-by-hop, routing, fragment, destination options); a
//!   packet with more has the last header type reached as its protocol and no ports.

/// Alternatives (terms) a rule set holds at most.
pub const MAX_TERMS: usize = 32;
/// Conditions (predicates) one term holds at most.
pub const MAX_PREDS: usize = 8;
/// 32-bit words of a frame's key.
pub const KEY_WORDS: usize = 16;
/// VLAN tags (802.1Q or 802.1ad) skipped at most.
pub const MAX_VLAN: usize = 2;
/// IPv6 extension headers walked at most.
pub const MAX_EXT: usize = 4;
/// Bytes of a rule's source text kept in the map, for `nmxdp steer` (with its NUL).
pub const TEXT_BYTES: usize = 256;

/// Key word: flags (`F_*`).
pub const W_FLAGS: usize = 0;
/// Key word: EtherType after the VLAN tags (host order).
pub const W_ETYPE: usize = 1;
/// Key word: VLAN id of the outer tag.
pub const W_VLAN: usize = 2;
/// Key word: IP protocol (IPv6: after the extension headers).
pub const W_PROTO: usize = 3;
/// Key word: source port (host order).
pub const W_SPORT: usize = 4;
/// Key word: destination port (host order).
pub const W_DPORT: usize = 5;
/// Key words: source address (4 words; IPv4 in the first, in network order as loaded).
pub const W_SRC: usize = 8;
/// Key words: destination address.
pub const W_DST: usize = 12;

/// Flag: the frame had a VLAN tag.
pub const F_VLAN: u32 = 1;
/// Flag: a complete IPv4 header.
pub const F_IP4: u32 = 2;
/// Flag: a complete IPv6 header.
pub const F_IP6: u32 = 4;
/// Flag: either.
pub const F_IP: u32 = 8;
/// Flag: TCP, UDP or SCTP ports were read (first fragment, header complete).
pub const F_PORTS: u32 = 16;

/// Predicate: `(key[word + i] & mask[i]) == val[i]` for i in 0..4.
pub const OP_MASKED: u8 = 1;
/// Predicate: `val[0] <= key[word] <= val[1]`.
pub const OP_RANGE: u8 = 2;

/// Bytes of one predicate: op, word, neg, pad, `mask[4]`, `val[4]`.
pub const PRED_BYTES: usize = 4 + 16 + 16;
/// Bytes of one term: npreds, preds.
pub const TERM_BYTES: usize = 4 + MAX_PREDS * PRED_BYTES;
/// Offset of the terms in a rule set (after nterms, pid and the text).
pub const TERMS_OFF: usize = 8 + TEXT_BYTES;
/// Bytes of a rule set (the value of `steer_rules`).
pub const RULESET_BYTES: usize = TERMS_OFF + MAX_TERMS * TERM_BYTES;
/// Bytes of a queue's per-CPU state (the value of `steer_stats`): hits per term, frames
/// passed to the stack, the key scratch.
pub const STATS_BYTES: usize = 8 * MAX_TERMS + 8 + 4 * KEY_WORDS;

/// A frame's key: the fields rules look at.
pub type Key = [u32; KEY_WORDS];

/// One condition, as the program reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pred {
    /// `OP_MASKED` or `OP_RANGE`.
    pub op: u8,
    /// First key word looked at.
    pub word: u8,
    /// Masks (OP_MASKED).
    pub mask: [u32; 4],
    /// Values (OP_MASKED), or lo and hi (OP_RANGE).
    pub val: [u32; 4],
}

/// A condition or its negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lit {
    /// The condition.
    pub pred: Pred,
    /// Holds when the condition does not.
    pub neg: bool,
}

/// A compiled rule: matching frames are those for which some term has all its literals true.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    /// The terms (at most [`MAX_TERMS`], each at most [`MAX_PREDS`] literals).
    pub terms: Vec<Vec<Lit>>,
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// A u64 of a stats value.
pub fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

impl RuleSet {
    /// The map value: the terms, who set them and the rule's text (truncated to fit).
    pub fn to_bytes(&self, pid: u32, text: &str) -> Vec<u8> {
        assert!(self.terms.len() <= MAX_TERMS);
        let mut b = vec![0u8; RULESET_BYTES];
        put32(&mut b, 0, self.terms.len() as u32);
        put32(&mut b, 4, pid);
        let t = text.as_bytes();
        let n = t.len().min(TEXT_BYTES - 1);
        b[8..8 + n].copy_from_slice(&t[..n]);
        for (i, term) in self.terms.iter().enumerate() {
            assert!(term.len() <= MAX_PREDS);
            let at = TERMS_OFF + i * TERM_BYTES;
            put32(&mut b, at, term.len() as u32);
            for (j, l) in term.iter().enumerate() {
                let p = at + 4 + j * PRED_BYTES;
                b[p] = l.pred.op;
                b[p + 1] = l.pred.word;
                b[p + 2] = l.neg as u8;
                for k in 0..4 {
                    put32(&mut b, p + 4 + 4 * k, l.pred.mask[k]);
                    put32(&mut b, p + 20 + 4 * k, l.pred.val[k]);
                }
            }
        }
        b
    }

    /// Reads a map value back: the rule set, the pid that set it and its text.
    pub fn from_bytes(b: &[u8]) -> Option<(RuleSet, u32, String)> {
        if b.len() != RULESET_BYTES {
            return None;
        }
        let n = (get32(b, 0) as usize).min(MAX_TERMS);
        let pid = get32(b, 4);
        let text = &b[8..8 + TEXT_BYTES];
        let text_len = text.iter().position(|&c| c == 0).unwrap_or(TEXT_BYTES);
        let text = String::from_utf8_lossy(&text[..text_len]).into_owned();
        let terms = (0..n)
            .map(|i| {
                let at = TERMS_OFF + i * TERM_BYTES;
                let np = (get32(b, at) as usize).min(MAX_PREDS);
                (0..np)
                    .map(|j| {
                        let p = at + 4 + j * PRED_BYTES;
                        let mut mask = [0u32; 4];
                        let mut val = [0u32; 4];
                        for k in 0..4 {
                            mask[k] = get32(b, p + 4 + 4 * k);
                            val[k] = get32(b, p + 20 + 4 * k);
                        }
                        Lit {
                            pred: Pred {
                                op: b[p],
                                word: b[p + 1],
                                mask,
                                val,
                            },
                            neg: b[p + 2] != 0,
                        }
                    })
                    .collect()
            })
            .collect();
        Some((RuleSet { terms }, pid, text))
    }
}

/// What the program does with one predicate of the map value at `p` (`pred_match`).
fn pred_match(b: &[u8], p: usize, key: &Key) -> bool {
    let w = b[p + 1] as usize;
    if w > KEY_WORDS - 4 {
        return false;
    }
    match b[p] {
        OP_MASKED => {
            (0..4).all(|k| key[w + k] & get32(b, p + 4 + 4 * k) == get32(b, p + 20 + 4 * k))
        }
        OP_RANGE => get32(b, p + 20) <= key[w] && key[w] <= get32(b, p + 24),
        _ => false,
    }
}

/// The program's evaluation of the rule set in map value `b` over `key`: the first term whose
/// literals all hold (the frame goes to the socket, that term's counter counts it), or None
/// (the frame goes to the stack).
pub fn eval(b: &[u8], key: &Key) -> Option<usize> {
    let n = get32(b, 0) as usize;
    (0..MAX_TERMS).take_while(|&i| i < n).find(|&i| {
        let at = TERMS_OFF + i * TERM_BYTES;
        let np = get32(b, at) as usize;
        (0..MAX_PREDS).take_while(|&j| j < np).all(|j| {
            let p = at + 4 + j * PRED_BYTES;
            pred_match(b, p, key) != (b[p + 2] != 0)
        })
    })
}

fn be16(f: &[u8], off: usize) -> Option<u32> {
    Some(u16::from_be_bytes(f.get(off..off + 2)?.try_into().ok()?) as u32)
}

fn raw32(f: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(f[off..off + 4].try_into().expect("4 bytes"))
}

/// The key the program builds for `frame` (`parse_key`).
pub fn frame_key(f: &[u8]) -> Key {
    let mut k = [0u32; KEY_WORDS];
    let Some(mut etype) = be16(f, 12) else {
        return k;
    };
    let mut off = 14;
    for i in 0..MAX_VLAN {
        if etype != 0x8100 && etype != 0x88a8 {
            break;
        }
        let (Some(tci), Some(inner)) = (be16(f, off), be16(f, off + 2)) else {
            break;
        };
        if i == 0 {
            k[W_FLAGS] |= F_VLAN;
            k[W_VLAN] = tci & 0xfff;
        }
        etype = inner;
        off += 4;
    }
    k[W_ETYPE] = etype;
    let (proto, l4, first) = match etype {
        0x0800 => {
            if f.len() < off + 20 || f[off] >> 4 != 4 || f[off] & 0xf < 5 {
                return k;
            }
            k[W_FLAGS] |= F_IP4 | F_IP;
            k[W_PROTO] = f[off + 9] as u32;
            k[W_SRC] = raw32(f, off + 12);
            k[W_DST] = raw32(f, off + 16);
            let frag = be16(f, off + 6).unwrap_or(0) & 0x1fff;
            (f[off + 9], off + (f[off] & 0xf) as usize * 4, frag == 0)
        }
        0x86dd => {
            if f.len() < off + 40 || f[off] >> 4 != 6 {
                return k;
            }
            k[W_FLAGS] |= F_IP6 | F_IP;
            for i in 0..4 {
                k[W_SRC + i] = raw32(f, off + 8 + 4 * i);
                k[W_DST + i] = raw32(f, off + 24 + 4 * i);
            }
            let mut nh = f[off + 6];
            let mut at = off + 40;
            let mut first = true;
            for _ in 0..MAX_EXT {
                match nh {
                    0 | 43 | 60 => {
                        let Some(h) = f.get(at..at + 2) else { break };
                        nh = h[0];
                        at += (h[1] as usize + 1) * 8;
                    }
                    44 => {
                        let Some(h) = f.get(at..at + 8) else { break };
                        nh = h[0];
                        first &= u16::from_be_bytes([h[2], h[3]]) & 0xfff8 == 0;
                        at += 8;
                    }
                    _ => break,
                }
            }
            k[W_PROTO] = nh as u32;
            (nh, at, first)
        }
        _ => return k,
    };
    if first && matches!(proto, 6 | 17 | 132) {
        if let (Some(s), Some(d)) = (be16(f, l4), be16(f, l4 + 2)) {
            k[W_FLAGS] |= F_PORTS;
            k[W_SPORT] = s;
            k[W_DPORT] = d;
        }
    }
    k
}
