//! Errors carry the errno netmap would give, plus a message naming the cause and the fix.

use std::fmt;

use crate::name::ParseError;

/// An nmxdp error: the errno a netmap application would see, and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    errno: i32,
    message: String,
    /// Kept when the error is a port name or option string that does not parse.
    parse: Option<Box<ParseError>>,
}

impl Error {
    /// Builds an error from an errno value and a message that names the cause and the fix.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        Error {
            errno,
            message: message.into(),
            parse: None,
        }
    }

    /// Builds an error from the calling thread's current `errno`, prefixed by `what`.
    pub fn last_os(what: impl fmt::Display) -> Self {
        let os = std::io::Error::last_os_error();
        Self::from_io(what, &os)
    }

    /// Builds an error from an `io::Error`, prefixed by `what`.
    pub fn from_io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        Error {
            errno: err.raw_os_error().unwrap_or(libc::EIO),
            message: format!("{what}: {err}"),
            parse: None,
        }
    }

    /// The errno a netmap application would see for this failure.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The message, without the errno.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The parse error this error was made from, if any (for callers that render positions
    /// themselves).
    pub fn parse_error(&self) -> Option<&ParseError> {
        self.parse.as_deref()
    }

    /// Returns the same error with `context` put in front of the message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<ParseError> for Error {
    /// The message is the parse error's rendering.
    fn from(e: ParseError) -> Self {
        Error {
            errno: e.errno,
            message: e.to_string(),
            parse: Some(Box::new(e)),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(std::io::Error::from_raw_os_error(e.errno).kind(), e.message)
    }
}

/// Result type of the nmxdp crate.
pub type Result<T> = std::result::Result<T, Error>;
