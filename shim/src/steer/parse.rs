//! Steering rules in the tcpdump/pcap filter vocabulary (the subset nmxdp compiles), parsed to
//! an expression tree. Anything outside the subset is an error naming its column.
//!
//! ```text
//! expr      := and ( ("or" | "||") and )*
//! and       := unary ( ("and" | "&&") unary )*
//! unary     := ("not" | "!") unary | "(" expr ")" | primitive
//! primitive := "ip" ["proto" P] | "ip6" ["proto" P] | "arp"
//!            | "ether" ("proto" | "type") E | "vlan" [N] | "proto" P
//!            | "tcp" | "udp" | "sctp" | "icmp" | "icmp6"
//!            | ["src" | "dst"] ("net" PREFIX | "host" ADDR)
//!            | ["src" | "dst"] ("port" N["-"M] | "portrange" N"-"M)
//! ```
//! Without `src`/`dst`, `net`, `host` and `port` match either direction, as in pcap.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Which address or port of a packet a primitive looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The source.
    Src,
    /// The destination.
    Dst,
}

/// Which IP version a protocol primitive accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    /// IPv4 only (`ip proto`, `icmp`).
    V4,
    /// IPv6 only (`ip6 proto`, `icmp6`).
    V6,
    /// Either (`proto`, `tcp`, `udp`, `sctp`).
    Any,
}

/// One primitive of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// The frame's EtherType, after at most two VLAN tags (`ip`, `ip6`, `arp`, `ether proto`).
    EtherType(u16),
    /// The frame carries a VLAN tag; with an id, the outer tag has that VLAN id.
    Vlan(Option<u16>),
    /// An IP packet of family `fam`; with `proto`, its (upper-layer) protocol is that number.
    Proto {
        /// IP versions accepted.
        fam: Fam,
        /// Protocol number wanted, if any.
        proto: Option<u8>,
    },
    /// An IP packet whose source or destination address lies in a prefix.
    Net {
        /// Address looked at.
        dir: Dir,
        /// IPv6 (else IPv4, in the first 4 bytes of `addr`).
        v6: bool,
        /// The prefix's address (bits past `prefix` are zero).
        addr: [u8; 16],
        /// Prefix length in bits.
        prefix: u8,
    },
    /// A TCP, UDP or SCTP packet (first fragment) whose source or destination port is in
    /// `lo..=hi`.
    Port {
        /// Port looked at.
        dir: Dir,
        /// Lowest port matched.
        lo: u16,
        /// Highest port matched.
        hi: u16,
    },
}

/// A rule: primitives combined with and, or, not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
    /// A primitive.
    Atom(Atom),
}

impl Expr {
    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }
    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }
}

/// What is wrong with a rule, and where (1-based column, in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Column of the offending token (1 = first character; one past the end for "unexpected
    /// end").
    pub column: usize,
    /// What was expected or found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    column: usize,
}

fn is_punct(c: char) -> bool {
    matches!(c, '(' | ')' | '!' | '&' | '|')
}

fn tokenize(src: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let end = match c {
            '(' | ')' | '!' => i + 1,
            '&' | '|' => {
                if src[i + 1..].starts_with(c) {
                    i + 2
                } else {
                    return Err(ParseError {
                        column: i + 1,
                        message: format!("'{c}': expected '{c}{c}'"),
                    });
                }
            }
            _ => src[i..]
                .find(|c: char| c.is_whitespace() || is_punct(c))
                .map_or(src.len(), |n| i + n),
        };
        out.push(Token {
            text: &src[i..end],
            column: i + 1,
        });
        while chars.peek().is_some_and(|&(j, _)| j < end) {
            chars.next();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Token<'a>>,
    at: usize,
    end_column: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.toks.get(self.at).copied()
    }

    fn peek_is(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| words.contains(&t.text))
    }

    fn next(&mut self, what: &str) -> Result<Token<'a>, ParseError> {
        let t = self.peek().ok_or_else(|| ParseError {
            column: self.end_column,
            message: format!("unexpected end of the rule: expected {what}"),
        })?;
        self.at += 1;
        Ok(t)
    }

    fn err<T>(t: Token<'_>, message: String) -> Result<T, ParseError> {
        Err(ParseError {
            column: t.column,
            message,
        })
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.and()?;
        while self.peek_is(&["or", "||"]) {
            self.at += 1;
            e = Expr::or(e, self.and()?);
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        while self.peek_is(&["and", "&&"]) {
            self.at += 1;
            e = Expr::and(e, self.unary()?);
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.next("a primitive, 'not' or '('")?;
        match t.text {
            "not" | "!" => Ok(Expr::Not(Box::new(self.unary()?))),
            "(" => {
                let e = self.expr()?;
                let close = self.next("')'")?;
                if close.text != ")" {
                    return Self::err(close, format!("'{}': expected ')'", close.text));
                }
                Ok(e)
            }
            _ => self.primitive(t),
        }
    }

    fn primitive(&mut self, t: Token<'a>) -> Result<Expr, ParseError> {
        let atom = |a| Ok(Expr::Atom(a));
        let proto = |fam, p| {
            Expr::Atom(Atom::Proto {
                fam,
                proto: Some(p),
            })
        };
        match t.text {
            "ip" | "ip6" => {
                let fam = if t.text == "ip" { Fam::V4 } else { Fam::V6 };
                if self.peek_is(&["proto"]) {
                    self.at += 1;
                    let p = self.next("a protocol")?;
                    return atom(Atom::Proto {
                        fam,
                        proto: Some(proto_number(p)?),
                    });
                }
                atom(Atom::EtherType(if fam == Fam::V4 { 0x0800 } else { 0x86dd }))
            }
            "arp" => atom(Atom::EtherType(0x0806)),
            "ether" => {
                let kw = self.next("'proto' or 'type'")?;
                if kw.text != "proto" && kw.text != "type" {
                    return Self::err(kw, format!("'{}': expected 'proto' or 'type'", kw.text));
                }
                let v = self.next("an EtherType")?;
                let n = match v.text {
                    "ip" => 0x0800,
                    "ip6" => 0x86dd,
                    "arp" => 0x0806,
                    _ => number(v, 0xffff, "an EtherType (0 to 0xffff, ip, ip6 or arp)")? as u16,
                };
                atom(Atom::EtherType(n))
            }
            "vlan" => {
                let id = match self.peek() {
                    Some(n) if n.text.starts_with(|c: char| c.is_ascii_digit()) => {
                        self.at += 1;
                        Some(number(n, 4095, "a VLAN id (0 to 4095)")? as u16)
                    }
                    _ => None,
                };
                atom(Atom::Vlan(id))
            }
            "proto" => {
                let p = self.next("a protocol")?;
                atom(Atom::Proto {
                    fam: Fam::Any,
                    proto: Some(proto_number(p)?),
                })
            }
            "tcp" => Ok(proto(Fam::Any, 6)),
            "udp" => Ok(proto(Fam::Any, 17)),
            "sctp" => Ok(proto(Fam::Any, 132)),
            "icmp" => Ok(proto(Fam::V4, 1)),
            "icmp6" => Ok(proto(Fam::V6, 58)),
            "src" | "dst" => {
                let dir = if t.text == "src" { Dir::Src } else { Dir::Dst };
                let kw = self.next("'net', 'host', 'port' or 'portrange'")?;
                self.directed(kw, Some(dir))
            }
            "net" | "host" | "port" | "portrange" => self.directed(t, None),
            ")" => Self::err(t, "')' without '('".into()),
            "and" | "or" | "&&" | "||" => Self::err(
                t,
                format!("'{}' needs a primitive before it", t.text),
            ),
            _ => Self::err(
                t,
                format!("'{}' is not part of the rule vocabulary (ip, ip6, arp, ether proto, vlan, proto, tcp, udp, sctp, icmp, icmp6, [src|dst] net/host/port/portrange, and, or, not, parentheses)", t.text),
            ),
        }
    }

    /// `net`, `host`, `port` or `portrange` (at `kw`), for `dir` or, without one, either.
    fn directed(&mut self, kw: Token<'a>, dir: Option<Dir>) -> Result<Expr, ParseError> {
        let make: Box<dyn Fn(Dir) -> Atom> = match kw.text {
            "net" | "host" => {
                let v = self.next("an address")?;
                let (v6, addr, prefix) = prefix(v, kw.text == "host")?;
                Box::new(move |dir| Atom::Net {
                    dir,
                    v6,
                    addr,
                    prefix,
                })
            }
            "port" | "portrange" => {
                let v = self.next("a port")?;
                let (lo, hi) = port_range(v, kw.text == "portrange")?;
                Box::new(move |dir| Atom::Port { dir, lo, hi })
            }
            _ => {
                return Self::err(
                    kw,
                    format!(
                        "'{}': expected 'net', 'host', 'port' or 'portrange'",
                        kw.text
                    ),
                )
            }
        };
        Ok(match dir {
            Some(d) => Expr::Atom(make(d)),
            None => Expr::or(Expr::Atom(make(Dir::Src)), Expr::Atom(make(Dir::Dst))),
        })
    }
}

fn number(t: Token<'_>, max: u32, what: &str) -> Result<u32, ParseError> {
    let s = t.text;
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse::<u32>().ok(),
    };
    match n {
        Some(n) if n <= max => Ok(n),
        _ => Parser::err(t, format!("'{s}': expected {what}")),
    }
}

fn proto_number(t: Token<'_>) -> Result<u8, ParseError> {
    Ok(match t.text {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "icmp6" => 58,
        _ => number(
            t,
            255,
            "a protocol (0 to 255, tcp, udp, sctp, icmp or icmp6)",
        )? as u8,
    })
}

/// `ADDR[/LEN]` (IPv4 or IPv6). A host is a full-length prefix; a net without a length too.
fn prefix(t: Token<'_>, host: bool) -> Result<(bool, [u8; 16], u8), ParseError> {
    let (a, len) = match t.text.split_once('/') {
        Some(_) if host => {
            return Parser::err(t, format!("'{}': a host takes no prefix length", t.text))
        }
        Some((a, l)) => (a, Some(l)),
        None => (t.text, None),
    };
    let mut addr = [0u8; 16];
    let (v6, max) = if let Ok(v4) = a.parse::<Ipv4Addr>() {
        addr[..4].copy_from_slice(&v4.octets());
        (false, 32)
    } else if let Ok(v6) = a.parse::<Ipv6Addr>() {
        addr = v6.octets();
        (true, 128)
    } else {
        return Parser::err(t, format!("'{a}': expected an IPv4 or IPv6 address"));
    };
    let bits = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Parser::err(
                    t,
                    format!("'/{l}': expected a prefix length from 0 to {max}"),
                )
            }
        },
    };
    let masked = mask_bytes(&addr, bits);
    if masked != addr {
        return Parser::err(
            t,
            format!("'{}': address bits set past the prefix length", t.text),
        );
    }
    Ok((v6, addr, bits))
}

/// `addr` with the bits past the first `bits` cleared.
pub(crate) fn mask_bytes(addr: &[u8; 16], bits: u8) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, (o, a)) in out.iter_mut().zip(addr).enumerate() {
        let keep = (bits as usize).saturating_sub(i * 8).min(8);
        *o = a & !(0xffu16 >> keep) as u8;
    }
    out
}

fn port_range(t: Token<'_>, range: bool) -> Result<(u16, u16), ParseError> {
    let what = "a port (0 to 65535) or a range N-M";
    fn sub<'s>(s: &'s str, column: usize) -> Token<'s> {
        Token { text: s, column }
    }
    let (lo, hi) = match t.text.split_once('-') {
        Some((a, b)) => (
            number(sub(a, t.column), 65535, what)? as u16,
            number(sub(b, t.column), 65535, what)? as u16,
        ),
        None if range => return Parser::err(t, format!("'{}': expected a range N-M", t.text)),
        None => {
            let p = number(t, 65535, what)? as u16;
            (p, p)
        }
    };
    if lo > hi {
        return Parser::err(t, format!("'{}': the range is empty", t.text));
    }
    Ok((lo, hi))
}

/// Parses a rule.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        end_column: src.len() + 1,
    };
    if p.toks.is_empty() {
        return Err(ParseError {
            column: 1,
            message: "empty rule".into(),
        });
    }
    let e = p.expr()?;
    if let Some(t) = p.peek() {
        return Parser::err(
            t,
            format!("'{}': expected 'and', 'or' or the end of the rule", t.text),
        );
    }
    Ok(e)
}
