//! Errors carry the errno netmap would give, plus a message naming the cause and the fix.

use std::fmt;

/// An nmxdp error: the errno a netmap application would see, and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    errno: i32,
    message: String,
}

impl Error {
    /// Builds an error from an errno value and a message that names the cause and the fix.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        Error {
            errno,
            message: message.into(),
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

    /// Returns the same error with `context` put in front of the message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(std::io::Error::from_raw_os_error(e.errno).kind(), e.message)
    }
}

/// Result type of the nmxdp crate.
pub type Result<T> = std::result::Result<T, Error>;
