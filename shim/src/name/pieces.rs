//! The pieces both port-name grammars are made of: VALE switch and port names, ring numbers,
//! flag letters and allocator ids, with the fixes their errors suggest.

use super::error::ParseError;
use super::text::{is_ident, parse_decimal, Text};
use crate::abi::{
    NR_EXCLUSIVE, NR_MONITOR_RX, NR_MONITOR_TX, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, NR_ZCOPY_MON,
};

/// Ring numbers must stay below `NETMAP_RING_MASK` (4095).
pub(crate) const RING_LIMIT: u64 = 4095;

pub(crate) const RING_FIX: &str = "use netmap:IFACE-N with 0 <= N < 4095";
pub(crate) const FLAG_FIX: &str = "flags are x (exclusive), z (zero-copy monitor), \
                                   t (monitor TX), r (monitor RX), R (RX rings only), \
                                   T (TX rings only)";
pub(crate) const MEMID_FIX: &str = "use @N with 1 <= N <= 65535 to select an allocator";
pub(crate) const VALE_FIX: &str = "use valeSWITCH:PORT, e.g. vale0:p";
const PIPE_FIX: &str =
    "use PORT{ID (master) or PORT}ID (slave), ID made of letters, digits and '_'";

/// Where the mode/flags state machine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Right after the name: any suffix, `/` or `@` may come.
    Start,
    /// After a ring suffix or `@N`: only `/` or `@`.
    Suffix,
    /// After `/`; `any` once at least one flag letter was seen.
    Flags { any: bool },
}

impl Text<'_> {
    pub fn check_nul(&self) -> Result<(), ParseError> {
        match self.b.iter().position(|&c| c == 0) {
            Some(i) => Err(self.err(i, "NUL byte inside the port name", "remove it")),
            None => Ok(()),
        }
    }

    /// Checks `valeSWITCH:` from byte `i` (after "vale"); returns the offset of the ':'.
    pub fn vale_colon(&self, mut i: usize) -> Result<usize, ParseError> {
        while self.b.get(i).is_some_and(|&c| is_ident(c)) {
            i += 1;
        }
        match self.b.get(i) {
            Some(b':') => Ok(i),
            None => Err(self.err(i, "':' missing after the VALE switch name", VALE_FIX)),
            Some(_) => Err(self.err(
                i,
                format!(
                    "VALE switch names may only contain letters, digits and '_', {}",
                    self.found(i)
                ),
                VALE_FIX,
            )),
        }
    }

    /// Checks the port part `[from, end)`: VALE ports are identifiers; with `pipes`, whatever
    /// follows the first `{`/`}` must be a non-empty identifier.
    pub fn check_port(
        &self,
        from: usize,
        end: usize,
        vale: bool,
        pipes: bool,
    ) -> Result<(), ParseError> {
        let port = &self.b[from..end];
        let pipe = if pipes {
            port.iter().position(|&c| c == b'{' || c == b'}')
        } else {
            None
        };
        let base_len = pipe.unwrap_or(port.len());
        if vale {
            if base_len == 0 {
                return Err(self.err(from, "VALE port name missing", VALE_FIX));
            }
            if let Some(k) = port[..base_len].iter().position(|&c| !is_ident(c)) {
                return Err(self.err(
                    from + k,
                    format!(
                        "VALE port names may only contain letters, digits and '_', {}",
                        self.found(from + k)
                    ),
                    "use valeSWITCH:PORT, e.g. vale0:p or vale0:p{1 for a pipe",
                ));
            }
        }
        if let Some(k) = pipe {
            let id_from = from + k + 1;
            let brace = port[k] as char;
            let id = &self.b[id_from..end];
            if id.is_empty() {
                return Err(self.err(
                    id_from,
                    format!("pipe id missing after '{brace}'"),
                    PIPE_FIX,
                ));
            }
            if let Some(k) = id.iter().position(|&c| !is_ident(c)) {
                return Err(self.err(
                    id_from + k,
                    format!(
                        "pipe ids may only contain letters, digits and '_', {}",
                        self.found(id_from + k)
                    ),
                    PIPE_FIX,
                ));
            }
        }
        Ok(())
    }

    /// Parses the digit run at `at` as a ring (or legacy pipe) number after `after`.
    pub fn ring_number(&self, at: usize, after: char) -> Result<(u16, usize), ParseError> {
        let what = if after == '{' || after == '}' {
            "pipe"
        } else {
            "ring"
        };
        let fix = match after {
            '^' => "use netmap:IFACE^N with 0 <= N < 4095",
            '{' => "use netmap:IFACE{N with 0 <= N < 4095",
            '}' => "use netmap:IFACE}N with 0 <= N < 4095",
            _ => RING_FIX,
        };
        let (digits, next) = self.digits(at);
        if digits.is_empty() {
            return Err(self.err(
                at,
                format!("{what} number expected after '{after}', {}", self.found(at)),
                fix,
            ));
        }
        match parse_decimal(digits) {
            Some(n) if n < RING_LIMIT => Ok((n as u16, next)),
            _ => Err(self.err(
                at,
                format!(
                    "{what} number {} out of range",
                    String::from_utf8_lossy(digits)
                ),
                fix,
            )),
        }
    }

    /// Parses `N` of `@N` at `at` into `mem_id` (0 = none given before); returns the offset
    /// after the digits.
    pub fn mem_id(&self, at: usize, mem_id: &mut u16) -> Result<usize, ParseError> {
        let (digits, next) = self.digits(at);
        let n = match parse_decimal(digits) {
            Some(n) if (1..=u64::from(u16::MAX)).contains(&n) => n as u16,
            Some(0) => {
                return Err(self.err(at, "allocator id 0 is not valid", MEMID_FIX));
            }
            _ => {
                return Err(self.err(
                    at,
                    format!(
                        "allocator id {} out of range",
                        String::from_utf8_lossy(digits)
                    ),
                    MEMID_FIX,
                ));
            }
        };
        if *mem_id != 0 && *mem_id != n {
            return Err(self.err(
                at,
                format!("allocator id {n} conflicts with @{} given before", *mem_id),
                "give @N only once",
            ));
        }
        *mem_id = n;
        Ok(next)
    }

    /// The `NR_*` flag for the letter at `at`.
    pub fn flag(&self, at: usize) -> Result<u64, ParseError> {
        match self.b[at] {
            b'x' => Ok(NR_EXCLUSIVE),
            b'z' => Ok(NR_ZCOPY_MON),
            b't' => Ok(NR_MONITOR_TX),
            b'r' => Ok(NR_MONITOR_RX),
            b'R' => Ok(NR_RX_RINGS_ONLY),
            b'T' => Ok(NR_TX_RINGS_ONLY),
            _ => Err(self.err(at, format!("unknown flag, {}", self.found(at)), FLAG_FIX)),
        }
    }

    /// The mode part must not stop right after a `/` (at byte `at`).
    pub fn check_end(&self, at: usize, st: State) -> Result<(), ParseError> {
        if st == (State::Flags { any: false }) {
            return Err(self.err(
                at,
                format!("flag letters expected after '/', {}", self.found(at)),
                FLAG_FIX,
            ));
        }
        Ok(())
    }
}
