//! The text being parsed: scanning by bytes, numbers, and errors that quote the text.
//!
//! The grammars only cut the text at ASCII delimiters, so they work on bytes and never panic on
//! arbitrary input; option strings handed over from C need not even be UTF-8.

use super::error::ParseError;

/// The text being parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a> {
    pub b: &'a [u8],
}

impl<'a> Text<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Text { b }
    }

    /// "found 'c'", "but it ends there" or "found a broken character", for byte offset `at`.
    pub fn found(&self, at: usize) -> String {
        if at >= self.b.len() {
            return "but it ends there".to_string();
        }
        let rest = &self.b[at..];
        let valid = match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
        };
        match valid.chars().next() {
            Some(c) => format!("found '{}'", c.escape_debug()),
            None => "found a broken character".to_string(),
        }
    }

    /// An error at byte offset `at` with netmap's errno `errno`.
    pub fn err_code(
        &self,
        errno: i32,
        at: usize,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> ParseError {
        let at = at.min(self.b.len());
        let (spec, pos) = match std::str::from_utf8(self.b) {
            Ok(s) => (s.to_string(), at),
            // The quote is decoded lossily; the position moves with it.
            Err(_) => (
                String::from_utf8_lossy(self.b).into_owned(),
                String::from_utf8_lossy(&self.b[..at]).len(),
            ),
        };
        ParseError {
            spec,
            pos,
            what: what.into(),
            fix: fix.into(),
            errno,
        }
    }

    /// An `EINVAL` error at byte offset `at`.
    pub fn err(&self, at: usize, what: impl Into<String>, fix: impl Into<String>) -> ParseError {
        self.err_code(libc::EINVAL, at, what, fix)
    }

    /// First byte offset ≥ `from` and < `end` holding one of `stops`, or `end`.
    pub fn scan_within(&self, from: usize, end: usize, stops: &[u8]) -> usize {
        let end = end.min(self.b.len());
        let from = from.min(end);
        self.b[from..end]
            .iter()
            .position(|c| stops.contains(c))
            .map_or(end, |k| from + k)
    }

    /// First byte offset ≥ `from` holding one of `stops`, or the end.
    pub fn scan_until(&self, from: usize, stops: &[u8]) -> usize {
        self.scan_within(from, self.b.len(), stops)
    }

    /// The text of bytes `[from, to)`, lossily decoded (for messages).
    pub fn show(&self, from: usize, to: usize) -> String {
        let to = to.min(self.b.len());
        String::from_utf8_lossy(&self.b[from.min(to)..to]).into_owned()
    }

    /// The run of ASCII digits at `at`, and the offset after it.
    pub fn digits(&self, at: usize) -> (&'a [u8], usize) {
        let at = at.min(self.b.len());
        let len = self.b[at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (&self.b[at..at + len], at + len)
    }

    /// The value in bytes `[at, end)` as a decimal number ≤ `max`.
    pub fn number(&self, at: usize, end: usize, max: u64, fix: &str) -> Result<u64, ParseError> {
        let value = &self.b[at.min(end)..end.min(self.b.len())];
        let shown = self.show(at, end);
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(self.err(
                at,
                format!("decimal number expected, found '{}'", shown.escape_debug()),
                fix,
            ));
        }
        match parse_decimal(value) {
            Some(n) if n <= max => Ok(n),
            _ => Err(self.err(
                at,
                format!("number {shown} out of range (at most {max})"),
                fix,
            )),
        }
    }
}

/// Decimal digits to u64; None on overflow (the caller guarantees digits only).
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Letters, digits and '_': what VALE switch, VALE port and pipe names are made of.
pub(crate) fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_text_that_is_not_utf8() {
        let t = Text::new(b"\xff@x");
        let e = t.err(1, "bad", "fix");
        assert_eq!(e.spec, "\u{fffd}@x");
        assert_eq!(e.pos, 3);
        assert_eq!(e.column(), 2);
        assert_eq!(t.found(0), "found a broken character");
        assert_eq!(t.found(1), "found '@'");
        assert_eq!(t.found(3), "but it ends there");
    }

    #[test]
    fn numbers() {
        let t = Text::new(b"k=12,v=x,w=99999999999999999999999");
        assert_eq!(t.number(2, 4, 100, "f"), Ok(12));
        assert!(t.number(2, 4, 11, "f").is_err());
        assert!(t.number(7, 8, 100, "f").is_err());
        assert!(t.number(11, t.b.len(), u64::MAX, "f").is_err());
        assert!(t.number(4, 4, 100, "f").is_err());
    }
}
