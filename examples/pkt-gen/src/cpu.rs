//! `-c` and `-a`: how many CPUs pkt-gen may use, and pinning thread i to CPU `(a + i) % cpus`.

use anyhow::{bail, Result};

/// CPUs online (upstream's `system_ncpus`).
pub fn online() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// `-c`: 0 means all; more than the system has is an error (upstream's message).
pub fn resolve(cpus: u32, online: u32) -> Result<u32> {
    if cpus > online {
        bail!("{cpus} cpus is too high, have only {online} cpus");
    }
    Ok(if cpus == 0 { online } else { cpus })
}

/// The CPU of thread `i` with `-a first`.
pub fn of_thread(first: u32, i: u32, cpus: u32) -> u32 {
    (first + i) % cpus.max(1)
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: u32) -> Result<()> {
    if cpu as usize >= libc::CPU_SETSIZE as usize {
        bail!("Unable to set affinity: CPU {cpu} out of range");
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu is below CPU_SETSIZE (checked above); sched_setaffinity(0) acts on this thread
    // and reads only `set`.
    let rc = unsafe {
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        bail!(
            "Unable to set affinity: {}",
            crate::errtext::strerror(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_and_affinity() {
        assert_eq!(resolve(0, 8).unwrap(), 8);
        assert_eq!(resolve(2, 8).unwrap(), 2);
        assert_eq!(
            resolve(9, 8).unwrap_err().to_string(),
            "9 cpus is too high, have only 8 cpus"
        );
        assert_eq!(of_thread(1, 0, 2), 1);
        assert_eq!(of_thread(1, 1, 2), 0);
        assert_eq!(of_thread(3, 2, 4), 1);
    }
}
