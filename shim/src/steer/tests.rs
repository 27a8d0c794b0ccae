//! The compiler checked against the rules' meaning: random rules, printed and parsed back,
//! compiled to map bytes and evaluated by the program's mirror on frames built from random
//! packet descriptions, must agree with a direct reading of the rule on the description.

use proptest::prelude::*;

use super::compile::compile;
use super::layout::{eval, frame_key, RuleSet, MAX_EXT, MAX_PREDS, MAX_TERMS};
use super::parse::{parse, Atom, Dir, Expr, Fam};
use super::Rule;

/// What a test packet is, as its builder knows it.
#[derive(Debug, Clone)]
struct Pkt {
    vlan: Option<u16>,
    l3: L3,
}

#[derive(Debug, Clone)]
enum L3 {
    Arp,
    Other(u16),
    Ip {
        v6: bool,
        proto: u8,
        src: [u8; 16],
        dst: [u8; 16],
        ports: (u16, u16),
        /// A fragment other than the first: no ports.
        later_fragment: bool,
        /// IPv4: header options (IHL 6); IPv6: hop-by-hop headers before the protocol.
        extra: usize,
    },
}

const V4: [[u8; 4]; 4] = [
    [10, 0, 0, 1],
    [10, 0, 1, 2],
    [192, 168, 1, 1],
    [10, 255, 0, 1],
];
const V6: [&str; 3] = ["2001:db8::1", "2001:db8:1::2", "fe80::1"];
const PORTS: [u16; 6] = [0, 53, 80, 1234, 4789, 65535];
const PROTOS: [u8; 6] = [1, 6, 17, 58, 132, 47];

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..4].copy_from_slice(&a);
    o
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn addr_strategy(is_v6: bool) -> BoxedStrategy<[u8; 16]> {
    if is_v6 {
        (0..V6.len()).prop_map(|i| v6(V6[i])).boxed()
    } else {
        (0..V4.len()).prop_map(|i| v4(V4[i])).boxed()
    }
}

fn pkt_strategy() -> impl Strategy<Value = Pkt> {
    let vlan = prop_oneof![Just(None), Just(Some(5u16)), Just(Some(100u16))];
    let ip = any::<bool>().prop_flat_map(|is_v6| {
        (
            addr_strategy(is_v6),
            addr_strategy(is_v6),
            prop::sample::select(&PROTOS[..]),
            prop::sample::select(&PORTS[..]),
            prop::sample::select(&PORTS[..]),
            prop::bool::weighted(0.1),
            0..=if is_v6 { MAX_EXT } else { 1 },
        )
            .prop_map(
                move |(src, dst, proto, sp, dp, later_fragment, extra)| L3::Ip {
                    v6: is_v6,
                    proto,
                    src,
                    dst,
                    ports: (sp, dp),
                    later_fragment,
                    extra,
                },
            )
    });
    let l3 = prop_oneof![
        1 => Just(L3::Arp),
        1 => Just(L3::Other(0x88cc)),
        8 => ip,
    ];
    (vlan, l3).prop_map(|(vlan, l3)| Pkt { vlan, l3 })
}

impl Pkt {
    fn frame(&self) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        if let Some(id) = self.vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&(0x2000 | id).to_be_bytes());
        }
        match &self.l3 {
            L3::Arp => {
                f.extend_from_slice(&[0x08, 0x06]);
                f.extend_from_slice(&[0u8; 28]);
            }
            L3::Other(t) => {
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(&[0u8; 46]);
            }
            L3::Ip {
                v6: false,
                proto,
                src,
                dst,
                ports,
                later_fragment,
                extra,
            } => {
                f.extend_from_slice(&[0x08, 0x00]);
                let ihl = 5 + *extra as u8;
                let frag: u16 = if *later_fragment {
                    0x2000 | 185
                } else {
                    0x4000
                };
                f.extend_from_slice(&[0x40 | ihl, 0, 0, 60, 0, 1]);
                f.extend_from_slice(&frag.to_be_bytes());
                f.extend_from_slice(&[64, *proto, 0, 0]);
                f.extend_from_slice(&src[..4]);
                f.extend_from_slice(&dst[..4]);
                f.extend(std::iter::repeat_n(1u8, *extra * 4));
                f.extend_from_slice(&ports.0.to_be_bytes());
                f.extend_from_slice(&ports.1.to_be_bytes());
                f.extend_from_slice(&[0u8; 20]);
            }
            L3::Ip {
                v6: true,
                proto,
                src,
                dst,
                ports,
                later_fragment,
                extra,
            } => {
                f.extend_from_slice(&[0x86, 0xdd]);
                let hops = *extra;
                let first = if hops > 0 {
                    0
                } else if *later_fragment {
                    44
                } else {
                    *proto
                };
                f.extend_from_slice(&[0x60, 0, 0, 0, 0, 40, first, 64]);
                f.extend_from_slice(src);
                f.extend_from_slice(dst);
                for i in 0..hops {
                    let next = if i + 1 < hops {
                        0
                    } else if *later_fragment {
                        44
                    } else {
                        *proto
                    };
                    f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
                }
                if *later_fragment {
                    // Fragment offset 8 (x 8 bytes): not the first fragment.
                    f.extend_from_slice(&[*proto, 0, 0, 64, 0, 0, 0, 1]);
                }
                f.extend_from_slice(&ports.0.to_be_bytes());
                f.extend_from_slice(&ports.1.to_be_bytes());
                f.extend_from_slice(&[0u8; 20]);
            }
        }
        f
    }

    fn ethertype(&self) -> u16 {
        match self.l3 {
            L3::Arp => 0x0806,
            L3::Other(t) => t,
            L3::Ip { v6, .. } => {
                if v6 {
                    0x86dd
                } else {
                    0x0800
                }
            }
        }
    }

    /// What the rule means for this packet, read directly.
    fn matches(&self, e: &Expr) -> bool {
        match e {
            Expr::And(a, b) => self.matches(a) && self.matches(b),
            Expr::Or(a, b) => self.matches(a) || self.matches(b),
            Expr::Not(a) => !self.matches(a),
            Expr::Atom(a) => self.atom(a),
        }
    }

    fn atom(&self, a: &Atom) -> bool {
        let ip = match &self.l3 {
            L3::Ip {
                v6,
                proto,
                src,
                dst,
                ports,
                later_fragment,
                extra,
            } => {
                // More IPv6 extension headers than the bound leave the last header type as
                // the protocol (MAX_EXT hop-by-hop headers fit exactly, plus the fragment
                // header when there is one).
                let walked = *v6 && *extra + *later_fragment as usize > MAX_EXT;
                Some((
                    *v6,
                    if walked { 44 } else { *proto },
                    src,
                    dst,
                    ports,
                    *later_fragment || walked,
                ))
            }
            _ => None,
        };
        match *a {
            Atom::EtherType(t) => self.ethertype() == t,
            Atom::Vlan(id) => self.vlan.is_some() && (id.is_none() || self.vlan == id),
            Atom::Proto { fam, proto } => ip.is_some_and(|(v6, p, ..)| {
                let fam_ok = match fam {
                    Fam::V4 => !v6,
                    Fam::V6 => v6,
                    Fam::Any => true,
                };
                fam_ok && proto.is_none_or(|want| want == p)
            }),
            Atom::Net {
                dir,
                v6: want_v6,
                addr,
                prefix,
            } => ip.is_some_and(|(v6, _, src, dst, ..)| {
                let a = if dir == Dir::Src { src } else { dst };
                v6 == want_v6 && super::parse::mask_bytes(a, prefix) == addr
            }),
            Atom::Port { dir, lo, hi } => ip.is_some_and(|(_, p, _, _, ports, no_ports)| {
                let port = if dir == Dir::Src { ports.0 } else { ports.1 };
                !no_ports && matches!(p, 6 | 17 | 132) && (lo..=hi).contains(&port)
            }),
        }
    }
}

fn atom_strategy() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "ip",
        "ip6",
        "arp",
        "tcp",
        "udp",
        "icmp",
        "icmp6",
        "sctp",
        "vlan",
        "vlan 5",
        "vlan 7",
        "ether proto 0x88cc",
        "ip proto 47",
        "ip6 proto udp",
        "proto 58",
    ])
    .prop_map(str::to_string);
    let dir = prop::sample::select(vec!["src ", "dst ", ""]);
    let net = prop::sample::select(vec![
        "net 10.0.0.0/8",
        "net 10.0.0.0/24",
        "host 192.168.1.1",
        "net 2001:db8::/32",
        "host fe80::1",
        "net 0.0.0.0/0",
    ]);
    let port = prop::sample::select(vec![
        "port 53",
        "port 1234",
        "port 0-80",
        "portrange 1000-5000",
        "port 65535",
    ]);
    prop_oneof![
        3 => fixed,
        1 => (dir.clone(), net).prop_map(|(d, n)| format!("{d}{n}")),
        2 => (dir, port).prop_map(|(d, p)| format!("{d}{p}")),
    ]
}

fn rule_strategy() -> impl Strategy<Value = String> {
    atom_strategy().prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("!{a}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_rules_agree_with_their_meaning(rule in rule_strategy(), pkts in prop::collection::vec(pkt_strategy(), 16)) {
        let e = parse(&rule).unwrap();
        let Ok(set) = compile(&e) else {
            // Too large for the bounds: refused, which the size tests cover.
            return Ok(());
        };
        prop_assert!(set.terms.len() <= MAX_TERMS && set.terms.iter().all(|t| t.len() <= MAX_PREDS));
        let bytes = set.to_bytes(1, &rule);
        prop_assert_eq!(RuleSet::from_bytes(&bytes).map(|(s, ..)| s), Some(set.clone()));
        for p in &pkts {
            let want = p.matches(&e);
            let got = eval(&bytes, &frame_key(&p.frame())).is_some();
            prop_assert_eq!(got, want, "rule {} on {:?} ({:?})", rule, p, frame_key(&p.frame()));
        }
    }

    #[test]
    fn truncated_frames_parse_without_panicking(pkt in pkt_strategy(), cut in 0usize..100) {
        let f = pkt.frame();
        let _ = frame_key(&f[..cut.min(f.len())]);
    }
}

fn column(rule: &str) -> usize {
    parse(rule).unwrap_err().column
}

#[test]
fn errors_name_the_column() {
    assert_eq!(column("udp and dst prot 4789"), 13);
    assert_eq!(column("udp and"), 8);
    assert_eq!(column("(udp"), 5);
    assert_eq!(column("udp )"), 5);
    assert_eq!(column("tcp or greater 100"), 8);
    assert_eq!(column("port 70000"), 6);
    assert_eq!(column("net 10.0.0.1/8"), 5);
    assert_eq!(column("host 10.0.0.0/8"), 6);
    assert_eq!(column("udp & tcp"), 5);
    assert_eq!(column(""), 1);
    assert_eq!(column("port 90-80"), 6);
    let e = Rule::parse("udp and dst prot 4789").unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
    assert!(e.to_string().contains("at column 13"), "{e}");
}

#[test]
fn the_bounds_are_errors_that_name_them() {
    let ok: Vec<String> = (1..=MAX_TERMS)
        .map(|p| format!("udp dst port {p}"))
        .collect();
    let ok = ok.join(" or ").replace("udp dst", "udp and dst");
    assert_eq!(Rule::parse(&ok).unwrap().set.terms.len(), MAX_TERMS);
    let over = format!("{ok} or udp and dst port 9999");
    let e = Rule::parse(&over).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
    assert!(
        e.to_string().contains(&format!("the bound is {MAX_TERMS}")),
        "{e}"
    );
    // Nine distinct conditions in one alternative.
    let wide = "vlan 5 and ip and src net 10.0.0.0/8 and dst net 10.1.0.0/16 and udp and src port 1-9 and dst port 2-8 and ip proto 17 and not ether proto 0x88cc";
    let e = Rule::parse(wide).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("the bound is {MAX_PREDS} per alternative")),
        "{e}"
    );
}

#[test]
fn the_documented_example_compiles_small() {
    let r = Rule::parse("udp and dst port 4789").unwrap();
    assert_eq!(r.set.terms.len(), 1);
    assert_eq!(r.set.terms[0].len(), 3);
    // Contradictions vanish.
    assert!(Rule::parse("tcp and not tcp").unwrap().set.terms.is_empty());
    let all = Rule::parse("tcp or not tcp").unwrap();
    assert_eq!(all.set.terms.len(), 2);
}

/// The kernel's verdict per frame, from the real program run by `BPF_PROG_TEST_RUN` on queue 0
/// with `rule` installed (loaded, never attached): which term counted each frame.
fn kernel_verdicts(rule: &Rule, frames: &[Vec<u8>]) -> Vec<Option<usize>> {
    use std::os::fd::AsFd;
    let loaded =
        crate::xdpload::load(crate::xdp::XDP_OBJECT, "nmxdp_redirect", "xsks_map", "test").unwrap();
    let mut all = loaded.others;
    all.push(("xsks_map".into(), loaded.map));
    let maps = super::maps::SteerMaps::from_fds(all).expect("the object's steering maps");
    // The tail call's target, as the first rule on an interface loads it.
    assert!(!maps.has_evaluator());
    maps.ensure_evaluator("test", None).unwrap();
    maps.install(0, rule).unwrap();
    let mut before = maps.counters(0);
    frames
        .iter()
        .map(|f| {
            // XDP_PASS either way: the XSK map is empty. The counters tell the verdict.
            assert_eq!(
                crate::bpfsys::prog_test_run(loaded.prog.as_fd(), f).unwrap(),
                2
            );
            let after = maps.counters(0);
            let hit = (0..MAX_TERMS).find(|&i| after.0[i] != before.0[i]);
            assert!(
                hit.is_some() || after.1 == before.1 + 1,
                "frame counted nowhere"
            );
            before = after;
            hit
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The C program and its Rust mirror agree on every frame (VLAN tags, IPv4 options and
    /// fragments, IPv6 extension headers, truncation), for random rules.
    #[test]
    #[ignore = "needs root (BPF_PROG_TEST_RUN): cargo test -p nmxdp --lib steer -- --ignored"]
    fn the_kernel_program_agrees_with_the_mirror(
        rule in rule_strategy(),
        pkts in prop::collection::vec((pkt_strategy(), 0usize..100), 24),
    ) {
        let Ok(r) = Rule::parse(&rule) else { return Ok(()); };
        let frames: Vec<Vec<u8>> = pkts
            .iter()
            .map(|(p, cut)| {
                let f = p.frame();
                // Every third frame cut short (at least an Ethernet header, as XDP needs).
                if cut % 3 == 0 { f[..(14 + cut).min(f.len())].to_vec() } else { f }
            })
            .collect();
        let bytes = r.set.to_bytes(0, &rule);
        let want: Vec<Option<usize>> = frames.iter().map(|f| eval(&bytes, &frame_key(f))).collect();
        prop_assert_eq!(kernel_verdicts(&r, &frames), want, "rule {}", rule);
    }
}

/// A program of an nmxdp whose evaluator was inline (its three steering maps, no program
/// array) is still steered through its own maps, with no evaluator to load.
#[test]
#[ignore = "needs root (BPF_MAP_CREATE): cargo test -p nmxdp --lib steer -- --ignored"]
fn an_inline_evaluator_program_is_still_recognised() {
    use super::layout::{RULESET_BYTES, STATS_BYTES};
    use super::maps::{RULES_MAP, SEL_MAP, STATS_MAP};
    let create = |name: &str, ty: u32, value: usize, flags: u32| {
        let fd = crate::bpfsys::map_create(ty, 4, value as u32, 256, flags, name).unwrap();
        (name.to_string(), fd)
    };
    let maps = vec![
        create(SEL_MAP, 2, 4, 0),
        // BPF_F_NO_PREALLOC, as the object declares it.
        create(RULES_MAP, 1, RULESET_BYTES, 1),
        create(STATS_MAP, 6, STATS_BYTES, 0),
    ];
    let maps = super::maps::SteerMaps::from_fds(maps).expect("the inline layout");
    assert!(maps.has_evaluator());
    maps.install(3, &Rule::parse("udp").unwrap()).unwrap();
    assert_eq!(maps.steered_queues(), [3]);
    assert_eq!(maps.read(3).unwrap().text, "udp");
}
