//! What `xdp-raw` and `af-packet` share: options (pkt-gen's names), Ctrl-C, banners, timing.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use pkt_gen::summary::{format_summary, Dir};

static STOP: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT/SIGTERM arrived.
#[inline]
pub fn stopped() -> bool {
    STOP.load(Relaxed)
}

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Relaxed);
}

/// SIGINT and SIGTERM make the loops finish and print their summary.
pub fn install_signals() {
    let h: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores into an atomic.
    unsafe {
        libc::signal(libc::SIGINT, h as libc::sighandler_t);
        libc::signal(libc::SIGTERM, h as libc::sighandler_t);
    }
}

/// A bench program's start: its arguments (clap's help and errors, exit 0 or 2 as clap says),
/// then Ctrl-C handling.
pub fn start<A: clap::Parser>() -> A {
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = i32::from(e.use_stderr());
            let _ = e.print();
            std::process::exit(code);
        }
    };
    install_signals();
    args
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Function {
    Tx,
    Rx,
}

/// Options common to the comparison programs (pkt-gen's letters).
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Interface (a `netmap:` prefix is accepted and ignored).
    #[arg(short = 'i', value_name = "IFNAME")]
    pub iface: String,
    /// Function.
    #[arg(short = 'f', value_enum, default_value_t = Function::Rx)]
    pub function: Function,
    /// Packets to send or receive (0 = until Ctrl-C).
    #[arg(short = 'n', value_name = "COUNT", default_value_t = 0)]
    pub count: u64,
    /// Frame length in bytes, without CRC (longer than one buffer: xdp-raw's multi-buffer
    /// chains; each program refuses what it cannot carry).
    #[arg(short = 'l', value_name = "LEN", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(42..=65535))]
    pub len: u32,
    /// Batch: descriptors posted (tx) or consumed (rx) per round.
    #[arg(short = 'b', value_name = "BATCH", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch: u32,
    /// rx: leave after this many milliseconds without traffic, once traffic started.
    #[arg(long = "idle-ms", value_name = "MS", default_value_t = 1000)]
    pub idle_ms: u64,
}

impl Common {
    /// The interface name without a `netmap:` prefix or ring suffix options.
    pub fn ifname(&self) -> &str {
        let s = self.iface.strip_prefix("netmap:").unwrap_or(&self.iface);
        s.split(['@', '/']).next().unwrap_or(s)
    }

    /// pkt-gen's banner on stdout (the harness waits for the receiver's before sending).
    pub fn banner(&self, queues: u32) {
        let what = match self.function {
            Function::Tx => "Sending on",
            Function::Rx => "Receiving from",
        };
        println!(
            "{what} {}: {queues} queues, 1 threads and 1 cpus.",
            self.ifname()
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
}

/// What a loop counted, and when traffic started and ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub pkts: u64,
    pub bytes: u64,
    pub events: u64,
    pub tic: Option<Instant>,
    pub toc: Option<Instant>,
}

impl Tally {
    pub fn secs(&self) -> f64 {
        match (self.tic, self.toc) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// Prints pkt-gen's final summary on stdout.
    pub fn print(&self, f: Function) {
        let dir = match f {
            Function::Tx => Dir::Sent,
            Function::Rx => Dir::Received,
        };
        println!(
            "{}",
            format_summary(
                dir.word(),
                self.pkts,
                self.bytes,
                self.events,
                self.secs(),
                true
            )
        );
    }
}

/// `poll(2)` on one descriptor; returns its revents (0 on timeout or EINTR).
pub fn poll_one(fd: i32, events: i16, timeout: Duration) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut p, 1, ms) };
    if rc > 0 {
        p.revents
    } else {
        0
    }
}

/// An anonymous shared mapping (as nmxdp maps its region), unmapped on drop.
pub struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    pub fn anonymous(len: usize) -> std::io::Result<Mapping> {
        // SAFETY: a fresh anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// A mapping of `fd` (packet rings).
    pub fn of_fd(fd: i32, len: usize) -> std::io::Result<Mapping> {
        // SAFETY: mapping a socket's ring; the kernel checks the length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// `len` bytes at `off`.
    ///
    /// # Safety
    /// `off + len` must lie within the mapping and no other live reference may alias the range.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, off: usize, len: usize) -> &mut [u8] {
        debug_assert!(off + len <= self.len);
        // SAFETY: the caller keeps the range inside the mapping and unaliased.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len come from a successful mmap.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        c: Common,
    }

    #[test]
    fn options() {
        let t = T::try_parse_from(["x", "-i", "netmap:vb@conf:rx-slots=4096", "-f", "tx"]).unwrap();
        assert_eq!(t.c.ifname(), "vb");
        assert_eq!((t.c.count, t.c.len, t.c.batch), (0, 60, 512));
        assert_eq!(t.c.function, Function::Tx);
        assert!(T::try_parse_from(["x", "-i", "va", "-l", "30"]).is_err());
        let t = T::try_parse_from(["x", "-i", "va", "-n", "5", "-l", "1514", "-b", "64"]).unwrap();
        assert_eq!((t.c.count, t.c.len, t.c.batch), (5, 1514, 64));
        assert_eq!(t.c.ifname(), "va");
    }
}
