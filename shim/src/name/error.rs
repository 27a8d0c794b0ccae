//! The one error of the name grammars: which text, where in it, what is wrong, how to fix it.

use std::fmt;

/// A port name or option string that does not parse.
///
/// `Display` renders it once, for every caller: `SPEC: WHAT at character N (FIX)`, where `N`
/// counts characters of `spec` from 1. A caller that parsed a piece of a longer string passes
/// that piece as the text, so positions and the quote always refer to the same text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The text that was parsed, as quoted in the message (lossily decoded if it was not UTF-8).
    pub spec: String,
    /// Byte offset in `spec` of the problem; `spec.len()` when the text ended too early.
    pub pos: usize,
    /// What is wrong, e.g. "ring number expected after '-', found 'x'".
    pub what: String,
    /// How to fix it, e.g. "use netmap:IFACE-N with 0 <= N < 4095".
    pub fix: String,
    /// The errno netmap gives for it: `EINVAL`, or `EOPNOTSUPP` for a disabled option.
    pub errno: i32,
}

impl ParseError {
    /// The same error seen in the longer `text`, of which the parsed `spec` is the piece starting
    /// at byte `offset`: quotes `text` and counts positions from its start.
    pub fn within(self, text: &str, offset: usize) -> ParseError {
        ParseError {
            spec: text.to_string(),
            pos: offset + self.pos,
            ..self
        }
    }

    /// 1-based character position of `pos` in `spec`.
    pub fn column(&self) -> usize {
        let mut pos = self.pos.min(self.spec.len());
        while !self.spec.is_char_boundary(pos) {
            pos -= 1;
        }
        self.spec[..pos].chars().count() + 1
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.spec.is_empty() {
            f.write_str("\"\"")?;
        } else {
            write!(f, "{}", self.spec.escape_debug())?;
        }
        write!(
            f,
            ": {} at character {} ({})",
            self.what,
            self.column(),
            self.fix
        )
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str, pos: usize) -> ParseError {
        ParseError {
            spec: spec.into(),
            pos,
            what: "bad".into(),
            fix: "fix it".into(),
            errno: libc::EINVAL,
        }
    }

    #[test]
    fn rendering() {
        assert_eq!(err("ab", 1).to_string(), "ab: bad at character 2 (fix it)");
        assert_eq!(err("ab", 2).column(), 3);
        assert_eq!(err("", 0).to_string(), "\"\": bad at character 1 (fix it)");
        // Characters, not bytes; control characters are escaped in the quote.
        assert_eq!(err("é-x", 3).column(), 3);
        assert_eq!(err("é-x", 1).column(), 1);
        assert!(err("a\nb", 2).to_string().starts_with("a\\nb: "));
    }

    #[test]
    fn within_a_longer_text() {
        let e = err("-x", 1).within("netmap:eth0-x", 11);
        assert_eq!(
            (e.spec.as_str(), e.pos, e.column()),
            ("netmap:eth0-x", 12, 13)
        );
        assert_eq!(e.to_string(), "netmap:eth0-x: bad at character 13 (fix it)");
    }
}
