//! libnetmap's option grammar: `@name`, `@name=VALUE` (the value of the option's default key)
//! and `@name:KEY=VALUE,KEY=VALUE...`, one option after the other.
//!
//! This is the one reading of option strings, whoever defines the options: the built-in ones of
//! port names (`@share`, `@conf`, `@extmem`, `@offset`, see `port_options`) and the C parser
//! tables handed to `nmreq_options_decode`. An [`OptionTable`] says which options and keys
//! exist; [`parse_options`] checks everything the table allows to check (names, keys, `-` and
//! `_` being the same in keys, repetitions, empty values, mandatory keys) and hands each option's
//! values to the caller, with byte positions for its own messages.
//!
//! Two readings of the same strings are in use and stay as they are (see docs/netmap-compat.md):
//! [`Dialect::PortName`] lets `@name=VALUE` run to the next `@`, commas included, so that a file
//! or port name may contain ','; [`Dialect::ParserTable`] ends VALUE at ',' and lets `KEY=VALUE`
//! pairs follow, and skips one ',' right after `name:` or `name=VALUE`.

use super::error::ParseError;
use super::text::Text;

/// How `@name=VALUE` is delimited (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Options of port names (`nmport_prepare`).
    PortName,
    /// Options read with a caller's parser table (`nmreq_options_decode`).
    ParserTable,
}

/// One key of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec<'t> {
    /// The key; `-` and `_` match each other.
    pub name: &'t [u8],
    /// Where the caller wants the value (an index into its own array, say).
    pub slot: usize,
    /// `KEY=` and a bare `KEY` (both: an empty value) are accepted.
    pub allow_empty: bool,
    /// The option is refused without this key.
    pub must_set: bool,
}

/// One option of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSpec<'t> {
    /// Tells the table's options apart (an option may be given once); the caller may use it to
    /// find its own record of the option.
    pub id: usize,
    /// What follows the `@`.
    pub name: &'t [u8],
    /// The keys, in the order they are matched.
    pub keys: Vec<KeySpec<'t>>,
    /// Index in `keys` of the key `@name=VALUE` sets; None: `@name=VALUE` is refused.
    pub default_key: Option<usize>,
    /// `@name` without any key is accepted.
    pub allow_bare: bool,
    /// Some(fix): the option is known but refused with `EOPNOTSUPP`; the fix says how to enable
    /// it.
    pub disabled: Option<String>,
    /// What errors inside this option suggest (its syntax and keys).
    pub fix: String,
}

/// The options a caller knows.
pub trait OptionTable<'t> {
    /// How `@name=VALUE` is delimited.
    fn dialect(&self) -> Dialect;
    /// The option called `name`, if there is one.
    fn find(&self, name: &[u8]) -> Option<OptionSpec<'t>>;
    /// What an unknown option's error suggests: the options there are.
    fn known(&self) -> String;
}

/// One value given for an option: which key (index in [`OptionSpec::keys`]) and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value {
    /// Index in [`OptionSpec::keys`].
    pub key: usize,
    /// Byte offset of the key (of the `=` for `@name=VALUE`).
    pub key_at: usize,
    /// The value is bytes `[at, end)` of the text.
    pub at: usize,
    /// See `at`.
    pub end: usize,
}

/// One option as given: where its name starts and its values in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionFound {
    /// Byte offset of the name (after the `@`).
    pub name_at: usize,
    /// The values, in the order given.
    pub values: Vec<Value>,
}

fn norm(c: u8) -> u8 {
    if c == b'-' {
        b'_'
    } else {
        c
    }
}

fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}

/// Reads the options of `text` from byte `from` (which must be `@`, or the end) with `table`,
/// calling `apply` for each option once it is read and checked; stops at the first error,
/// `apply`'s included. Positions are byte offsets in `text`.
pub fn parse_options<'t, E: From<ParseError>>(
    text: &[u8],
    from: usize,
    table: &impl OptionTable<'t>,
    mut apply: impl FnMut(&OptionSpec<'t>, &OptionFound) -> Result<(), E>,
) -> Result<(), E> {
    let t = Text::new(text);
    let b = t.b;
    let dialect = table.dialect();
    let mut i = from;
    if i < b.len() && b[i] != b'@' {
        return Err(t
            .err(
                i,
                format!("options must start with '@', {}", t.found(i)),
                "write options as @NAME, @NAME=VALUE or @NAME:KEY=VALUE,...",
            )
            .into());
    }
    let mut seen: Vec<usize> = Vec::new();
    while i < b.len() {
        // b[i] == b'@'
        let name_at = i + 1;
        let end = t.scan_until(name_at, b"@");
        let name_end = t.scan_within(name_at, end, b"=:");
        let oname = t.show(name_at, name_end);
        if name_end == name_at {
            return Err(t
                .err(
                    name_at,
                    format!("option name expected after '@', {}", t.found(name_at)),
                    table.known(),
                )
                .into());
        }
        let Some(opt) = table.find(&b[name_at..name_end]) else {
            return Err(t
                .err(name_at, format!("unknown option '@{oname}'"), table.known())
                .into());
        };
        if let Some(fix) = &opt.disabled {
            return Err(t
                .err_code(
                    libc::EOPNOTSUPP,
                    name_at,
                    format!("option '@{oname}' is disabled"),
                    fix.as_str(),
                )
                .into());
        }
        if seen.contains(&opt.id) {
            return Err(t
                .err(
                    name_at,
                    format!("option '@{oname}' given twice"),
                    "give each option once, with all its keys",
                )
                .into());
        }
        seen.push(opt.id);

        let mut values: Vec<Value> = Vec::new();
        // Records one value after checking it; `kname` is the key as given, `bare` when it came
        // without '='.
        let mut put = |v: Value, kname: String, bare: bool| -> Result<(), ParseError> {
            if values.iter().any(|w| w.key == v.key) {
                return Err(t.err(
                    v.key_at,
                    format!("key '{kname}' of option '@{oname}' given twice"),
                    "give each key once",
                ));
            }
            if v.at == v.end && !opt.keys[v.key].allow_empty {
                let what = if bare {
                    format!("'=' and a value expected after key '{kname}'")
                } else {
                    format!("value expected for key '{kname}' of option '@{oname}'")
                };
                return Err(t.err(v.at, what, opt.fix.as_str()));
            }
            values.push(v);
            Ok(())
        };

        let mut k = name_end;
        if b.get(k) == Some(&b'=') {
            let Some(dk) = opt.default_key else {
                return Err(t
                    .err(
                        k,
                        format!("option '@{oname}' has no default key"),
                        opt.fix.as_str(),
                    )
                    .into());
            };
            let at = k + 1;
            let value_end = match dialect {
                Dialect::PortName => end,
                Dialect::ParserTable => t.scan_within(at, end, b","),
            };
            put(
                Value {
                    key: dk,
                    key_at: k,
                    at,
                    end: value_end,
                },
                String::from_utf8_lossy(opt.keys[dk].name).into_owned(),
                false,
            )?;
            k = value_end;
            if dialect == Dialect::ParserTable && k < end {
                // b[k] == b','
                k += 1;
            }
        } else if b.get(k) == Some(&b':') {
            k += 1;
            if k == end {
                return Err(t
                    .err(
                        k,
                        format!("key expected for option '@{oname}', {}", t.found(k)),
                        opt.fix.as_str(),
                    )
                    .into());
            }
            if dialect == Dialect::ParserTable && b[k] == b',' {
                k += 1;
            }
        }
        while k < end {
            let key_at = k;
            let key_end = t.scan_within(k, end, b"=,");
            if key_end == key_at {
                return Err(t
                    .err(
                        key_at,
                        format!("key expected for option '@{oname}', {}", t.found(key_at)),
                        opt.fix.as_str(),
                    )
                    .into());
            }
            let key = &b[key_at..key_end];
            let Some(j) = opt.keys.iter().position(|kk| same_key(kk.name, key)) else {
                return Err(t
                    .err(
                        key_at,
                        format!(
                            "unknown key '{}' for option '@{oname}'",
                            t.show(key_at, key_end)
                        ),
                        opt.fix.as_str(),
                    )
                    .into());
            };
            let bare = key_end == end || b[key_end] != b'=';
            let (at, value_end) = if bare {
                (key_end, key_end)
            } else {
                (key_end + 1, t.scan_within(key_end + 1, end, b","))
            };
            put(
                Value {
                    key: j,
                    key_at,
                    at,
                    end: value_end,
                },
                t.show(key_at, key_end),
                bare,
            )?;
            if value_end < end {
                // b[value_end] == b','
                k = value_end + 1;
                if k == end {
                    return Err(t
                        .err(
                            k,
                            format!("key expected for option '@{oname}', {}", t.found(k)),
                            opt.fix.as_str(),
                        )
                        .into());
                }
            } else {
                k = value_end;
            }
        }

        if values.is_empty() && !opt.allow_bare {
            return Err(t
                .err(
                    name_at,
                    format!("option '@{oname}' needs a value"),
                    opt.fix.as_str(),
                )
                .into());
        }
        if let Some(missing) = opt
            .keys
            .iter()
            .enumerate()
            .find(|&(j, kk)| kk.must_set && !values.iter().any(|v| v.key == j))
        {
            return Err(t
                .err(
                    name_at,
                    format!(
                        "option '@{oname}' needs key '{}'",
                        String::from_utf8_lossy(missing.1.name)
                    ),
                    opt.fix.as_str(),
                )
                .into());
        }
        apply(&opt, &OptionFound { name_at, values })?;
        i = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `@a` (keys k, e: may be empty; default k), `@b` (key m: must be set; bare allowed),
    /// `@off` (disabled).
    struct Table(Dialect);

    impl OptionTable<'static> for Table {
        fn dialect(&self) -> Dialect {
            self.0
        }

        fn find(&self, name: &[u8]) -> Option<OptionSpec<'static>> {
            let key = |name, allow_empty, must_set| KeySpec {
                name,
                slot: 0,
                allow_empty,
                must_set,
            };
            let spec = |id, name, keys, default_key, allow_bare| OptionSpec {
                id,
                name,
                keys,
                default_key,
                allow_bare,
                disabled: None,
                fix: "fix".into(),
            };
            match name {
                b"a" => Some(spec(
                    0,
                    b"a",
                    vec![key(b"k", false, false), key(b"e_x", true, false)],
                    Some(0),
                    false,
                )),
                b"b" => Some(spec(1, b"b", vec![key(b"m", false, true)], None, true)),
                b"off" => Some(OptionSpec {
                    disabled: Some("enable it".into()),
                    ..spec(2, b"off", vec![], None, true)
                }),
                _ => None,
            }
        }

        fn known(&self) -> String {
            "options are @a, @b".into()
        }
    }

    /// (option id, [(key, value)]) per option.
    type Options = Vec<(usize, Vec<(usize, String)>)>;

    fn run(d: Dialect, s: &str) -> Result<Options, ParseError> {
        let mut out = Vec::new();
        parse_options(s.as_bytes(), 0, &Table(d), |o, f| {
            let vals = f
                .values
                .iter()
                .map(|v| (v.key, s[v.at..v.end].to_string()))
                .collect();
            out.push((o.id, vals));
            Ok::<(), ParseError>(())
        })?;
        Ok(out)
    }

    fn kv(k: usize, v: &str) -> (usize, String) {
        (k, v.to_string())
    }

    #[test]
    fn shared_rules() {
        for d in [Dialect::PortName, Dialect::ParserTable] {
            assert_eq!(run(d, ""), Ok(vec![]));
            assert_eq!(
                run(d, "@a:k=1,e-x=@b:m=2"),
                Ok(vec![
                    (0, vec![kv(0, "1"), kv(1, "")]),
                    (1, vec![kv(0, "2")])
                ])
            );
            // A key that may be empty may also come without '='.
            assert_eq!(run(d, "@a:e_x"), Ok(vec![(0, vec![kv(1, "")])]));
            for (s, errno, col) in [
                ("a", libc::EINVAL, 1),
                ("@", libc::EINVAL, 2),
                ("@z", libc::EINVAL, 2),
                ("@off", libc::EOPNOTSUPP, 2),
                ("@a=1@a=2", libc::EINVAL, 6),
                ("@b=1", libc::EINVAL, 3),
                ("@a:", libc::EINVAL, 4),
                ("@a:q=1", libc::EINVAL, 4),
                ("@a:k=1,k=2", libc::EINVAL, 8),
                ("@a:k=", libc::EINVAL, 6),
                ("@a:k", libc::EINVAL, 5),
                ("@a:k=1,", libc::EINVAL, 8),
                ("@a:k=1,,e_x=", libc::EINVAL, 8),
                ("@a", libc::EINVAL, 2),
                ("@b", libc::EINVAL, 2),
            ] {
                let e = run(d, s).expect_err(s);
                assert_eq!((e.errno, e.column()), (errno, col), "{d:?} {s}: {e}");
                assert_eq!(e.spec, s);
            }
        }
    }

    #[test]
    fn dialects() {
        use Dialect::*;
        // The default value: to the next '@', or to ',' with keys after it.
        assert_eq!(
            run(PortName, "@a=x,y@b:m=1"),
            Ok(vec![(0, vec![kv(0, "x,y")]), (1, vec![kv(0, "1")])])
        );
        assert_eq!(
            run(ParserTable, "@a=x,e_x=y"),
            Ok(vec![(0, vec![kv(0, "x"), kv(1, "y")])])
        );
        assert!(run(ParserTable, "@a=x,y").is_err());
        assert_eq!(run(ParserTable, "@a=x,"), Ok(vec![(0, vec![kv(0, "x")])]));
        assert_eq!(run(PortName, "@a=x,"), Ok(vec![(0, vec![kv(0, "x,")])]));
        // One ',' right after ':' is skipped by parser tables only.
        assert_eq!(run(ParserTable, "@a:,k=1"), Ok(vec![(0, vec![kv(0, "1")])]));
        assert!(run(PortName, "@a:,k=1").is_err());
    }
}
