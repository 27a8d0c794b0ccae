//! How busy the machine was with other work while the bench ran: the machine's user-space CPU
//! time (`/proc/stat`, every CPU) minus the bench's own (the harness and every child it waited
//! for), per second. The bench's programs spend nearly all their time in the kernel and their
//! user time is subtracted, so what remains is other processes: a build next to the bench shows
//! up as one CPU or more, an idle machine as a few hundredths.

use std::time::Instant;

/// A point in time with the CPU time counters read there.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    machine_user_s: Option<f64>,
    own_user_s: f64,
    at: Instant,
}

impl Mark {
    pub fn now() -> Mark {
        Mark {
            machine_user_s: machine_user_s(),
            own_user_s: own_user_s(),
            at: Instant::now(),
        }
    }
}

/// Other processes' user-space CPU from `a` to `b`, in CPUs (1.0: one CPU busy all along);
/// `None` without `/proc/stat` or without time in between.
pub fn others(a: &Mark, b: &Mark) -> Option<f64> {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let machine = b.machine_user_s? - a.machine_user_s?;
    (secs > 0.0).then(|| ((machine - (b.own_user_s - a.own_user_s)) / secs).max(0.0))
}

/// user + nice of the `cpu` line of `/proc/stat`, in seconds.
fn machine_user_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = parse_user_ticks(&stat)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// user + nice ticks of the all-CPU line.
fn parse_user_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let mut f = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse::<u64>().ok());
    Some(f.next()?? + f.next()??)
}

/// User time of the harness and of its waited-for children, in seconds.
fn own_user_s() -> f64 {
    [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN]
        .into_iter()
        .map(|who| {
            // SAFETY: rusage is plain data filled by getrusage.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointer.
            if unsafe { libc::getrusage(who, &mut ru) } != 0 {
                return 0.0;
            }
            ru.ru_utime.tv_sec as f64 + ru.ru_utime.tv_usec as f64 / 1e6
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ticks() {
        let stat = "cpu  100 5 30 900 0 0 7 0 0 0\ncpu0 50 5 15 450 0 0 3 0 0 0\n";
        assert_eq!(parse_user_ticks(stat), Some(105));
        assert_eq!(parse_user_ticks("intr 1 2\n"), None);
        let m = Mark::now();
        assert!(others(&m, &m).is_none());
    }
}
