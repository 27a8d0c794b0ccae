//! Pipe names: `NAME{ID` (master) and `NAME}ID` (slave), split as netmap splits them.

use crate::error::{Error, Result};

/// The pipe ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// `NAME{ID`: writes channel 0, reads channel 1.
    Master = 0,
    /// `NAME}ID`: writes channel 1, reads channel 0.
    Slave = 1,
}

impl Role {
    /// The channel this end writes (its TX ring's).
    pub(crate) fn tx_channel(self) -> usize {
        self as usize
    }

    /// The channel this end reads (its RX ring's).
    pub(crate) fn rx_channel(self) -> usize {
        1 - self as usize
    }

    /// The other end.
    pub(crate) fn peer(self) -> Role {
        match self {
            Role::Master => Role::Slave,
            Role::Slave => Role::Master,
        }
    }

    /// `{` or `}`.
    pub(crate) fn brace(self) -> char {
        match self {
            Role::Master => '{',
            Role::Slave => '}',
        }
    }
}

/// What a pipe name says: the parent port, the pipe id, the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PipeName {
    /// `NAME` (netmap's parent port).
    pub parent: String,
    /// `ID`: whatever follows the brace (netmap compares it as a string).
    pub id: String,
    /// `{` or `}`.
    pub role: Role,
}

impl PipeName {
    /// `NAME{ID` or `NAME}ID` for end `role`.
    pub(crate) fn end_name(&self, role: Role) -> String {
        format!("{}{}{}", self.parent, role.brace(), self.id)
    }
}

/// Splits a port name as netmap does: the last `{` makes a master, else the last `}` a slave;
/// None for a name without either. EINVAL for an empty parent or an empty id.
pub(crate) fn parse_pipe_name(name: &str) -> Option<Result<PipeName>> {
    let (at, role) = match name.rfind('{') {
        Some(i) => (i, Role::Master),
        None => (name.rfind('}')?, Role::Slave),
    };
    let (parent, id) = (&name[..at], &name[at + 1..]);
    if parent.is_empty() || id.is_empty() {
        return Some(Err(Error::new(
            libc::EINVAL,
            format!("{name}: a pipe name needs a port and an id, as in netmap:NAME{{1 or netmap:NAME}}1"),
        )));
    }
    Some(Ok(PipeName {
        parent: parent.to_string(),
        id: id.to_string(),
        role,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_netmap_does() {
        let p = parse_pipe_name("x{1").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("x", "1", Role::Master)
        );
        let p = parse_pipe_name("eth0}pipe_7").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("eth0", "pipe_7", Role::Slave)
        );
        // The last '{' wins over any '}'.
        let p = parse_pipe_name("a}b{c").unwrap().unwrap();
        assert_eq!(
            (p.parent.as_str(), p.id.as_str(), p.role),
            ("a}b", "c", Role::Master)
        );
        assert!(parse_pipe_name("eth0").is_none());
        for bad in ["x{", "{1", "}"] {
            assert_eq!(
                parse_pipe_name(bad).unwrap().unwrap_err().errno(),
                libc::EINVAL
            );
        }
    }
}
