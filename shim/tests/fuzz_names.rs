//! Hostile port names: every parser answers every input with a result or netmap's errno and a
//! message giving a position inside the text, never a panic. `make fuzz` raises the case count
//! (PROPTEST_CASES).

use nmxdp::name::{parse_header, parse_legacy, parse_port_with, parse_register, ParseError};
use proptest::prelude::*;

fn check(r: Result<(), ParseError>) {
    if let Err(e) = r {
        assert!(
            [libc::EINVAL, libc::EOPNOTSUPP].contains(&e.errno),
            "errno {} for {e}",
            e.errno
        );
        assert!(!e.what.is_empty() && !e.fix.is_empty(), "{e:?}");
        assert!(e.pos <= e.spec.len(), "{e:?}");
        assert!(!e.to_string().is_empty());
        // The nmxdp error made from it says the same.
        let wrapped = nmxdp::Error::from(e.clone());
        assert_eq!(
            (wrapped.errno(), wrapped.message()),
            (e.errno, e.to_string().as_str())
        );
    }
}

fn check_all(s: &str) {
    check(parse_port_with(s, false).map(|_| ()));
    check(parse_port_with(s, true).map(|_| ()));
    check(parse_legacy(s).map(|_| ()));
    check(parse_header(s).map(|_| ()));
    check(parse_register(s).map(|_| ()));
}

/// Names built from the grammar's own pieces reach deep into the parsers.
fn grammar_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("netmap:".to_string()),
        Just("vale".to_string()),
        Just(":".to_string()),
        Just("eth0".to_string()),
        "[-*^{}/@=,:]".prop_map(|s| s.to_string()),
        "[0-9]{1,6}".prop_map(|s| s.to_string()),
        "[a-zA-Z_]{1,8}".prop_map(|s| s.to_string()),
        Just("conf:".to_string()),
        Just("share=".to_string()),
        Just("offset:initial=".to_string()),
        Just("extmem:file=".to_string()),
        Just("rings=".to_string()),
        Just("tx-slots=".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

proptest! {
    #[test]
    fn any_string_is_answered(s in ".{0,80}") {
        check_all(&s);
    }

    #[test]
    fn grammar_soup_is_answered(parts in prop::collection::vec(grammar_piece(), 0..14)) {
        let s: String = parts.concat();
        check_all(&s);
        if let Ok(p) = parse_port_with(&s, true) {
            prop_assert!(!p.name.is_empty() && p.name.len() < 64);
            prop_assert!(p.ringid < 4095);
        }
    }
}
