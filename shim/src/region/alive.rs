//! Who a region user is, and whether it is still alive.
//!
//! A user is recorded as its pid, its start time (so a reused pid is not mistaken for it) and
//! its pid namespace (a pid means nothing in another one). A user is dead once its process is
//! gone or a zombie: by then the kernel has closed every file of the process, its AF_XDP
//! sockets included, so no fill, RX or TX ring of it names any buffer any more.

/// A process that uses a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ident {
    /// Process id, in the namespace `pidns`.
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start: u64,
    /// Inode of the pid namespace the pid was read in.
    pub pidns: u64,
}

/// Inode of the calling process's pid namespace (0 if unknown).
fn pidns() -> u64 {
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or(0)
}

/// State letter and start time of `pid`, from `/proc/PID/stat`. `Err(true)` if there is no such
/// process, `Err(false)` if it could not be read for another reason.
fn stat(pid: u32) -> Result<(u8, u64), bool> {
    let s = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) => {
            return Err(
                e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
            )
        }
    };
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = s.rsplit_once(')').ok_or(false)?.1;
    let mut f = rest.split_whitespace();
    let state = f.next().and_then(|v| v.bytes().next()).ok_or(false)?;
    // Field 3 was the state; the start time is field 22, 19 fields further.
    let start = f.nth(18).and_then(|v| v.parse().ok()).ok_or(false)?;
    Ok((state, start))
}

impl Ident {
    /// The calling process.
    pub fn me() -> Ident {
        let pid = std::process::id();
        Ident {
            pid,
            start: stat(pid).map(|s| s.1).unwrap_or(0),
            pidns: pidns(),
        }
    }

    /// Is this user certainly dead? Anything uncertain (another pid namespace, an unreadable
    /// `/proc`) answers no: a dead user's buffers are only reclaimed later, while a live user's
    /// reclaimed under it would be handed to two owners.
    pub fn is_dead(&self) -> bool {
        // A user that could not read its own start time (or namespace) cannot be told from a
        // later process with its pid.
        if self.start == 0 || self.pidns == 0 || self.pidns != pidns() {
            return false;
        }
        match stat(self.pid) {
            Ok((state, start)) => start != self.start || state == b'Z' || state == b'X',
            Err(gone) => gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn me_is_alive_and_a_reaped_child_is_dead() {
        let me = Ident::me();
        assert!(me.start > 0);
        assert!(!me.is_dead());
        assert!(
            Ident {
                start: me.start + 1,
                ..me
            }
            .is_dead(),
            "a reused pid is not the user"
        );
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert!(Ident { pid, ..me }.is_dead());
        assert!(
            !Ident {
                pid,
                pidns: me.pidns + 1,
                ..me
            }
            .is_dead(),
            "another namespace: unknown"
        );
    }
}
