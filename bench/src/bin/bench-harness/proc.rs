//! Child processes started inside a network namespace, with their output, exit status and
//! resource usage (`wait4`), and the interface-counter sampler.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::stopped;

/// What to run: argv, extra environment, the CPU to pin it to.
#[derive(Debug, Clone)]
pub struct Spec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Pinned to this CPU (sched_setaffinity before exec), or free to run anywhere.
    pub cpu: Option<usize>,
}

/// Where the bench's processes run: the receivers on one CPU, the senders on another, the same
/// two for every row, so no row gains from where the scheduler happened to put it.
#[derive(Clone, Copy)]
pub struct Cpus {
    pub rx: usize,
    pub tx: usize,
    /// The CPUs the harness was allowed to use at start.
    pub allowed: usize,
    /// Those CPUs as a set: where unpinned children run (not the harness's narrower own).
    all: libc::cpu_set_t,
}

static CPUS: OnceLock<Cpus> = OnceLock::new();

/// The first two CPUs the harness may use at start: the receiver on the first, the sender on
/// the second (the same one for both on a single CPU). On veth the receiving side's softirq
/// runs on the sender's CPU, so the sender's CPU is the busier one; the harness keeps to the
/// receiver's, see [`pin_self`].
pub fn cpus() -> Cpus {
    *CPUS.get_or_init(|| {
        let allowed = allowed_cpus();
        let rx = allowed.first().copied().unwrap_or(0);
        let tx = allowed.get(1).copied().unwrap_or(rx);
        // SAFETY: cpu_set_t is plain data.
        let mut all: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in &allowed {
            // SAFETY: c came from CPU_ISSET below CPU_SETSIZE.
            unsafe { libc::CPU_SET(c, &mut all) };
        }
        Cpus {
            rx,
            tx,
            allowed: allowed.len(),
            all,
        }
    })
}

/// The CPUs this thread may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// A set holding `cpu` alone.
fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET ignores CPUs beyond the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin_self(cpu: usize) -> Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: a valid set of the size given.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
        return Err(std::io::Error::last_os_error()).context("sched_setaffinity");
    }
    Ok(())
}

impl Spec {
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Spec {
        Spec {
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            env: Vec::new(),
            cpu: None,
        }
    }

    /// Runs on `cpu` alone.
    pub fn on_cpu(mut self, cpu: usize) -> Spec {
        self.cpu = Some(cpu);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Spec {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// The same command behind a wrapper (`perf stat ... --`, `valgrind ...`).
    pub fn wrapped(&self, wrapper: &[String]) -> Spec {
        let mut argv = wrapper.to_vec();
        argv.extend(self.argv.iter().cloned());
        Spec {
            argv,
            env: self.env.clone(),
            cpu: self.cpu,
        }
    }

    /// The command as a shell would run it (`taskset -c N` for the pinning).
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .cpu
            .map(|c| format!("taskset -c {c}"))
            .into_iter()
            .collect();
        parts.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        parts.extend(self.argv.iter().cloned());
        parts.join(" ")
    }
}

/// How a child ended.
#[derive(Debug, Clone, Default)]
pub struct Exit {
    /// Exit code, or `128 + signal`.
    pub code: i32,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub user_s: f64,
    pub sys_s: f64,
    pub maxrss_kb: u64,
    pub wall_s: f64,
    /// Voluntary context switches (sleeps in poll and the like) and involuntary ones.
    pub vcsw: u64,
    pub ivcsw: u64,
}

pub struct Child {
    pub pid: i32,
    started: Instant,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// Starts `spec` in the network namespace `nsfd`, on its CPU if it has one, else on every CPU
/// the harness had at start (it would otherwise inherit the harness's own pinning).
pub fn spawn(spec: &Spec, nsfd: RawFd) -> Result<Child> {
    // Built before the fork: between fork and exec only async-signal-safe calls belong.
    let affinity = spec.cpu.map_or(cpus().all, cpu_set);
    let mut cmd = Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setns(2) and sched_setaffinity(2) are async-signal-safe system calls; nsfd stays
    // open until exec and the set was built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::sched_setaffinity(0, std::mem::size_of_val(&affinity), &affinity) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", spec.argv[0]))?;
    let pid = child.id() as i32;
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, lines) = channel();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let buf = stdout.clone();
        readers.push(std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                buf.lock().unwrap().push_str(&line);
                let _ = tx.send(line.trim_end().to_string());
                line.clear();
            }
        }));
    }
    if let Some(mut err) = child.stderr.take() {
        let buf = stderr.clone();
        readers.push(std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }));
    }
    // `child` is dropped without waiting: the pid is reaped by `wait` below with wait4.
    Ok(Child {
        pid,
        started: Instant::now(),
        lines,
        stdout,
        stderr,
        readers,
    })
}

impl Child {
    /// Waits until a stdout line contains `marker`; false on timeout, exit or Ctrl-C.
    pub fn wait_for_line(&self, marker: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if stopped() {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(l) if l.contains(marker) => return true,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Waits until the child's stderr contains `marker` (for programs that report there, as
    /// lb does); false on timeout, Ctrl-C, or once its stderr closed without it.
    pub fn wait_for_stderr(&self, marker: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            // Checked before the text: whatever was written before the end is in it.
            let closed = self.readers.last().is_none_or(|r| r.is_finished());
            if self.stderr.lock().unwrap().contains(marker) {
                return true;
            }
            if closed || stopped() || Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(self.pid, sig) };
    }

    /// Waits for the child to exit; after `timeout` sends SIGINT, then SIGKILL 3 s later.
    pub fn wait(self, timeout: Duration) -> Exit {
        let mut status = 0i32;
        // SAFETY: rusage is plain data.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let mut timed_out = false;
        let mut interrupted_at: Option<Instant> = None;
        loop {
            // SAFETY: wait4 on our own child with valid out-pointers.
            let rc = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut ru) };
            if rc == self.pid || rc < 0 {
                break;
            }
            let over = self.started.elapsed() >= timeout || stopped();
            match interrupted_at {
                None if over => {
                    timed_out = !stopped();
                    self.signal(libc::SIGINT);
                    interrupted_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() >= Duration::from_secs(3) => {
                    self.signal(libc::SIGKILL);
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let wall_s = self.started.elapsed().as_secs_f64();
        for r in self.readers {
            let _ = r.join();
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            -1
        };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        Exit {
            code,
            timed_out,
            stdout,
            stderr,
            user_s: tv(ru.ru_utime),
            sys_s: tv(ru.ru_stime),
            maxrss_kb: ru.ru_maxrss.max(0) as u64,
            wall_s,
            vcsw: ru.ru_nvcsw.max(0) as u64,
            ivcsw: ru.ru_nivcsw.max(0) as u64,
        }
    }
}

/// Samples one interface's packet counters in a namespace every few milliseconds.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(Instant, u64, u64)>>,
}

/// What the samples say about the traffic that crossed the interface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wire {
    /// Packets counted from the first sample to the last.
    pub packets: u64,
    /// Packets per second between the first sample that saw traffic and the last increase.
    pub pps: Option<f64>,
}

impl Sampler {
    /// Samples `(rx_packets, tx_packets)` of `ifname` in namespace `nsfd` every `every`.
    pub fn start(nsfd: RawFd, ifname: &str, every: Duration) -> Result<Sampler> {
        // SAFETY: dup of an fd we hold open; the thread owns the copy.
        let fd = unsafe { libc::dup(nsfd) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("dup of a netns fd");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let ifname = ifname.to_string();
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            // SAFETY: this thread alone moves into the namespace (setns is per thread).
            let ok = unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0;
            // SAFETY: closing our dup.
            unsafe { libc::close(fd) };
            if !ok {
                return v;
            }
            let mut text = String::new();
            loop {
                let done = s.load(Relaxed);
                text.clear();
                if let Ok(mut f) = std::fs::File::open("/proc/thread-self/net/dev") {
                    let _ = f.read_to_string(&mut text);
                }
                if let Some((rx, tx)) = nmxdp_bench::parse::net_dev_packets(&text, &ifname) {
                    v.push((Instant::now(), rx, tx));
                }
                if done {
                    return v;
                }
                std::thread::sleep(every);
            }
        });
        Ok(Sampler { stop, handle })
    }

    /// Stops sampling and summarises the receive counter.
    pub fn finish(self) -> Wire {
        self.stop.store(true, Relaxed);
        let v = self.handle.join().unwrap_or_default();
        wire_of(&v.iter().map(|&(t, rx, _)| (t, rx)).collect::<Vec<_>>())
    }
}

/// Rate of a counter from its samples, between two samples taken while traffic flowed: the
/// first above the starting value and the last below the final one. Both ends inside the
/// traffic, so the rate counts no idle time: measured to the sample where the counter reached
/// its final value, it took in up to one sampling interval (5 ms, more when the sampler
/// wakes late) after the last frame, which made the rate about 1% lower than the programs'
/// own (first send to last receive) on the rows that have both. With fewer than two such
/// samples (a very short run), it falls back to the sample that saw the final value.
pub fn wire_of(samples: &[(Instant, u64)]) -> Wire {
    let Some(&(_, base)) = samples.first() else {
        return Wire {
            packets: 0,
            pps: None,
        };
    };
    let max = samples.iter().map(|s| s.1).max().unwrap_or(base);
    let first = samples.iter().find(|s| s.1 > base);
    let inside = samples.iter().rev().find(|s| s.1 < max);
    let end = match (first, inside) {
        (Some(f), Some(i)) if i.0 > f.0 && i.1 > f.1 => Some(i),
        _ => samples.iter().find(|s| s.1 == max),
    };
    let pps = match (first, end) {
        (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 && c1 > c0 => {
            Some((c1 - c0) as f64 / (t1 - t0).as_secs_f64())
        }
        _ => None,
    };
    Wire {
        packets: max - base,
        pps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_rate() {
        let t = Instant::now();
        let ms = |m: u64| t + Duration::from_millis(m);
        let s = [
            (ms(0), 100),
            (ms(5), 100),
            (ms(10), 600),
            (ms(15), 1100),
            (ms(20), 1600),
            (ms(25), 1600),
        ];
        let w = wire_of(&s);
        assert_eq!(w.packets, 1500);
        let pps = w.pps.unwrap();
        assert!((pps - 100_000.0).abs() < 1.0, "{pps}");
        // Traffic at 100 kpps that ends 1 ms after the sample at 20 ms, seen 4 ms later: the
        // idle tail does not lower the rate.
        let s = [
            (ms(0), 0),
            (ms(5), 300),
            (ms(10), 800),
            (ms(15), 1300),
            (ms(20), 1800),
            (ms(25), 1900),
            (ms(30), 1900),
        ];
        let pps = wire_of(&s).pps.unwrap();
        assert!((pps - 100_000.0).abs() < 1.0, "{pps}");
        // Two samples inside the traffic are needed for that; with one, the final value's.
        let s = [(ms(0), 0), (ms(5), 300), (ms(10), 700), (ms(15), 700)];
        let pps = wire_of(&s).pps.unwrap();
        assert!((pps - 80_000.0).abs() < 1.0, "{pps}");
        assert_eq!(wire_of(&[]).pps, None);
        assert_eq!(wire_of(&[(ms(0), 5), (ms(5), 5)]).packets, 0);
        // One sample with traffic: no rate.
        assert_eq!(wire_of(&[(ms(0), 5), (ms(5), 9)]).pps, None);
    }
}
