//! pkt-gen: netmap's traffic generator and sink, on nmxdp (netmap over AF_XDP).
//!
//! Same options and output as upstream's `apps/pkt-gen` for the `tx` and `rx` functions:
//!
//! ```text
//! pkt-gen -i netmap:eth0 -f rx -n 1000000 --verify
//! pkt-gen -i netmap:eth0 -f tx -n 1000000 -l 60
//! pkt-gen -i netmap:eth1 -f pong              # then, on the other end:
//! pkt-gen -i netmap:eth0 -f ping -n 100000 -l 60 [--busy-wait]
//! ```
//!
//! Frames are Ethernet/IPv4/UDP carrying a per-thread sequence number and a byte pattern, see
//! [`frame`]. Periodic reports go to stderr, the start banner and the final summary to stdout.

mod ping;
mod report;
mod rx;
mod tx;

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};
use nmxdp::Port;
use pkt_gen::frame;

use report::{Counters, Snapshot};

/// Set by SIGINT: every loop checks it and winds down.
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed.
#[inline]
pub fn stopped() -> bool {
    STOP.load(Relaxed)
}

extern "C" fn on_sigint(sig: libc::c_int) {
    STOP.store(true, Relaxed);
    // A second signal kills the process (only async-signal-safe calls here).
    // SAFETY: signal(2) is async-signal-safe.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Ctrl-C (and with `term`, SIGTERM too) winds the workers down instead of killing them.
fn install_sigint(term: bool) {
    let h: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only stores into an atomic and calls signal(2).
    unsafe { libc::signal(libc::SIGINT, h as libc::sighandler_t) };
    if term {
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGTERM, h as libc::sighandler_t) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Function {
    /// Send frames.
    Tx,
    /// Receive and count frames.
    Rx,
    /// Send one frame at a time, wait for its echo and measure the round trip.
    Ping,
    /// Echo every frame received (source and destination swapped).
    Pong,
}

impl Function {
    fn is_pingpong(self) -> bool {
        matches!(self, Function::Ping | Function::Pong)
    }

    /// Whether it sends frames of `-l` bytes it builds itself.
    fn builds_frames(self) -> bool {
        matches!(self, Function::Tx | Function::Ping)
    }
}

/// `IP[:PORT]`, remembering how it was written (the banner echoes it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    name: String,
    ip: Ipv4Addr,
    port: u16,
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('-') {
            return Err(format!(
                "'{s}': address ranges (IP-IP) are not supported, give one IP[:PORT]"
            ));
        }
        let (ip, port) = match s.split_once(':') {
            Some((ip, p)) => (
                ip,
                p.parse::<u16>()
                    .map_err(|_| format!("'{s}': bad UDP port '{p}' (0..65535)"))?,
            ),
            None => (s, 1234),
        };
        let ip = ip
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("'{s}': bad IPv4 address '{ip}' (expected IP[:PORT])"))?;
        Ok(Endpoint {
            name: s.to_string(),
            ip,
            port,
        })
    }
}

/// A MAC address `xx:xx:xx:xx:xx:xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mac([u8; 6]);

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': bad MAC address (expected xx:xx:xx:xx:xx:xx)");
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for b in m.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(m))
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// netmap's pkt-gen over nmxdp: sends (-f tx) or receives (-f rx) test traffic, or measures
/// round trips (-f ping against -f pong).
#[derive(Debug, Parser)]
#[command(name = "pkt-gen", disable_version_flag = true)]
struct Args {
    /// Port: netmap:IFNAME[-RING] (a name without netmap: or vale gets netmap: prepended).
    #[arg(short = 'i', value_name = "IFNAME")]
    iface: String,
    /// Function.
    #[arg(short = 'f', value_enum, default_value_t = Function::Rx)]
    function: Function,
    /// Packets to send or receive, round trips to measure (ping) or frames to echo (pong)
    /// (0 = forever).
    #[arg(short = 'n', value_name = "COUNT", default_value_t = 0)]
    count: u64,
    /// Frame size in bytes, without CRC.
    #[arg(short = 'l', value_name = "LEN", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(16..=65536))]
    len: u32,
    /// Burst: slots filled or consumed per ring per round.
    #[arg(short = 'b', value_name = "BURST", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    burst: u32,
    /// Seconds to wait for the link before starting.
    #[arg(short = 'w', value_name = "WAIT_LINK", default_value_t = 2)]
    wait_link: u64,
    /// rx: exit when a 1 s poll sees no traffic (once traffic started).
    #[arg(short = 'W')]
    exit_on_idle: bool,
    /// tx: rate limit in packets per second (0 = none).
    #[arg(short = 'R', value_name = "RATE", default_value_t = 0)]
    rate: u64,
    /// Report interval in milliseconds.
    #[arg(short = 'T', value_name = "REPORT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    report_ms: u64,
    /// Threads; with N > 1 thread i opens ring i (IFNAME-i).
    #[arg(short = 'p', value_name = "THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: u32,
    /// Source IP[:PORT].
    #[arg(short = 's', value_name = "SRC_IP[:PORT]", default_value = "10.0.0.1")]
    src: Endpoint,
    /// Destination IP[:PORT].
    #[arg(short = 'd', value_name = "DST_IP[:PORT]", default_value = "10.1.0.1")]
    dst: Endpoint,
    /// Source MAC (default: the interface's MAC).
    #[arg(short = 'S', value_name = "SRC_MAC")]
    src_mac: Option<Mac>,
    /// Destination MAC.
    #[arg(
        short = 'D',
        value_name = "DST_MAC",
        default_value = "ff:ff:ff:ff:ff:ff"
    )]
    dst_mac: Mac,
    /// Do not normalise units in reports (print plain numbers).
    #[arg(short = 'N')]
    no_normalize: bool,
    /// At the end, print nmxdp's and the AF_XDP sockets' counters on stderr.
    #[arg(long)]
    stats: bool,
    /// rx: check every frame's headers, pattern and per-sender sequence order and print
    /// "Verify: N ok, M bad"; exit 2 on any bad frame (non-IPv4/UDP frames are ignored).
    #[arg(long)]
    verify: bool,
    /// ping/pong: spin on NIOCTXSYNC/NIOCRXSYNC instead of sleeping in poll() (upstream's
    /// -DBUSYWAIT build).
    #[arg(long)]
    busy_wait: bool,
}

/// `-i` as upstream takes it: `netmap:...` and `vale...` as is, anything else gets `netmap:`.
fn port_name(arg: &str) -> String {
    if arg.starts_with("netmap:") || arg.starts_with("vale") {
        arg.to_string()
    } else {
        format!("netmap:{arg}")
    }
}

/// The name thread `i` opens with `-p N > 1`: ring `i` of the port (`NR_REG_ONE_NIC`). A ring
/// suffix already in `name` is replaced; flags (`/...`) and options (`@...`) are kept.
fn thread_port_name(name: &str, i: u32) -> Result<String> {
    let prefix_len = if let Some(rest) = name.strip_prefix("netmap:") {
        name.len() - rest.len()
    } else {
        name.find(':')
            .map(|c| c + 1)
            .ok_or_else(|| anyhow!("{name}: port name without ':'"))?
    };
    let (prefix, rest) = name.split_at(prefix_len);
    let end = rest.find(['-', '*', '^', '/', '@']).unwrap_or(rest.len());
    let (vpname, mut suffix) = rest.split_at(end);
    if vpname.is_empty() {
        bail!("{name}: empty interface name");
    }
    match suffix.as_bytes().first() {
        Some(b'-') => {
            let digits = suffix[1..].bytes().take_while(u8::is_ascii_digit).count();
            suffix = &suffix[1 + digits..];
        }
        Some(b'*') | Some(b'^') => {
            bail!(
                "{name}: -p needs NIC rings (one per thread): drop the host-ring suffix '{}'",
                &suffix[..1]
            )
        }
        _ => {}
    }
    Ok(format!("{prefix}{vpname}-{i}{suffix}"))
}

fn open(name: &str) -> Result<Port> {
    Port::open(name).map_err(|e| anyhow!("cannot open {name}: {e} (errno {})", e.errno()))
}

/// Sleeps `d`, returning early on Ctrl-C.
fn sleep_interruptible(d: Duration) {
    let end = Instant::now() + d;
    while !stopped() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// `-w`: gives the link time to come up (upstream's "phy reset" wait).
fn wait_link(secs: u64) {
    if secs > 0 {
        eprintln!("pkt-gen: Wait {secs} secs for phy reset");
        sleep_interruptible(Duration::from_secs(secs));
    }
}

fn modes_line(port: &Port) -> String {
    let m = port.modes();
    let xdp = match (m.xdp, m.method) {
        (Some(x), Some(meth)) => format!("{} ({meth:?})", x.as_str()),
        (Some(x), None) => x.as_str().to_string(),
        (None, _) => "none".to_string(),
    };
    format!(
        "nmxdp: {} xdp={xdp} bind={}",
        port.if_info().name,
        m.bind.as_str()
    )
}

/// Prints a report every `-T` ms until every worker is done.
fn report_loop(ctrs: &[Arc<Counters>], every: Duration, normalize: bool) {
    let mut prev = Snapshot::default();
    let mut prev_t = Instant::now();
    let mut next = prev_t + every;
    loop {
        let all_done = ctrs.iter().all(|c| c.done.load(Acquire));
        let now = Instant::now();
        let due = now >= next;
        if due || all_done {
            let cur = Snapshot::take(ctrs);
            // At the end, report the partial interval only if something happened in it.
            if due || cur != prev {
                let delta = Snapshot {
                    pkts: cur.pkts - prev.pkts,
                    bytes: cur.bytes - prev.bytes,
                    events: cur.events - prev.events,
                };
                let usec = (now - prev_t).as_micros() as u64;
                let min_space = report::take_min_space(ctrs);
                eprintln!(
                    "{}",
                    report::report_line(SystemTime::now(), delta, usec, min_space, normalize)
                );
                prev = cur;
                prev_t = now;
            }
            if all_done {
                return;
            }
            next += every;
            if next <= now {
                next = now + every;
            }
        }
        let wait = next.saturating_duration_since(Instant::now());
        std::thread::sleep(wait.min(Duration::from_millis(10)));
    }
}

fn run(args: Args) -> Result<i32> {
    let name = port_name(&args.iface);
    install_sigint(args.function.is_pingpong());
    let p = args.threads;
    if p > 1 && args.function.is_pingpong() {
        bail!("can only ping or pong with 1 thread (-p 1)");
    }
    let mut ports = Vec::with_capacity(p as usize);
    if p == 1 {
        ports.push(open(&name)?);
    } else {
        ports.push(open(&thread_port_name(&name, 0)?)?);
        let q = {
            let i = ports[0].if_info();
            i.rx_queues.max(i.tx_queues)
        };
        if p > q {
            bail!(
                "bad nthreads {p}, {} has only {q} queues",
                ports[0].if_info().name
            );
        }
        for i in 1..p {
            ports.push(open(&thread_port_name(&name, i)?)?);
        }
    }
    eprintln!("{}", modes_line(&ports[0]));
    let info = ports[0].if_info().clone();
    let reg = ports[0].registration();
    let len = args.len as usize;
    let queues = match args.function {
        Function::Tx | Function::Ping => reg.nr_tx_rings,
        Function::Rx | Function::Pong => reg.nr_rx_rings,
    };
    if args.function == Function::Ping && len < frame::SEQ_END {
        bail!(
            "packet size {len} too small: ping frames carry a sequence number, -l {} at least",
            frame::SEQ_END
        );
    }
    if args.function.builds_frames() {
        let first = ports[0].tx_rings().start;
        if !ports[0].tx_rings().is_empty() {
            let max = ports[0].tx_ring(first).max_frame();
            if len > max {
                bail!(
                    "packet size {len} too big: one netmap buffer carries at most {max} bytes (-l)"
                );
            }
        }
        let mtu_max = info.mtu as usize + 14;
        if len > mtu_max {
            bail!(
                "packet size {len} too big for {}: MTU {} allows frames up to {mtu_max} bytes (-l)",
                info.name,
                info.mtu
            );
        }
    }
    if args.function == Function::Pong {
        wait_link(args.wait_link);
    }
    println!(
        "{} {name}: {queues} queues, {p} threads and 1 cpus.",
        match args.function {
            Function::Tx | Function::Ping => "Sending on",
            Function::Rx | Function::Pong => "Receiving from",
        }
    );
    let src_mac = args.src_mac.unwrap_or(Mac(info.mac));
    if args.function.builds_frames() {
        println!(
            "{} -> {} ({} -> {})",
            args.src.name, args.dst.name, src_mac, args.dst_mac
        );
    }
    if args.verify && args.function != Function::Rx {
        eprintln!("pkt-gen: --verify only applies to -f rx, ignored");
    }
    if args.busy_wait && !args.function.is_pingpong() {
        eprintln!("pkt-gen: --busy-wait only applies to -f ping and -f pong, ignored");
    }
    // Pong waited before its banner: once it prints, it echoes.
    if args.function != Function::Pong {
        wait_link(args.wait_link);
    }

    let frame = frame::build(&frame::FrameSpec {
        src_mac: src_mac.0,
        dst_mac: args.dst_mac.0,
        src_ip: args.src.ip,
        dst_ip: args.dst.ip,
        src_port: args.src.port,
        dst_port: args.dst.port,
        len,
    });
    if args.function.is_pingpong() {
        return run_pingpong(&args, ports.pop(), frame);
    }
    let ctrs: Vec<Arc<Counters>> = (0..p).map(|_| Arc::default()).collect();
    let quota = Arc::new(rx::Quota::new(args.count));
    let mut handles = Vec::with_capacity(p as usize);
    for (i, port) in ports.into_iter().enumerate() {
        let i = i as u32;
        let c = ctrs[i as usize].clone();
        let h = match args.function {
            Function::Tx => {
                let share =
                    |total: u64| total / p as u64 + u64::from((i as u64) < total % p as u64);
                let job = tx::TxJob {
                    index: i,
                    quota: share(args.count),
                    burst: args.burst,
                    rate: if args.rate > 0 {
                        share(args.rate).max(1)
                    } else {
                        0
                    },
                    frame: frame.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("tx{i}"))
                    .spawn(move || tx::run(port, job, &c))
            }
            Function::Ping | Function::Pong => unreachable!("ping and pong run on this thread"),
            Function::Rx => {
                let job = rx::RxJob {
                    index: i,
                    burst: args.burst,
                    exit_on_idle: args.exit_on_idle,
                    verify: args.verify,
                };
                let q = quota.clone();
                std::thread::Builder::new()
                    .name(format!("rx{i}"))
                    .spawn(move || rx::run(port, job, &q, &c))
            }
        };
        handles.push(h.context("cannot start a thread")?);
    }

    let normalize = !args.no_normalize;
    report_loop(&ctrs, Duration::from_millis(args.report_ms), normalize);
    let mut failed = false;
    let mut diag = report::Diag::default();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(d)) => diag.add(&d),
            Ok(Err(e)) => {
                eprintln!("pkt-gen: thread {i}: {e:#}");
                failed = true;
            }
            Err(_) => {
                eprintln!("pkt-gen: thread {i} panicked");
                failed = true;
            }
        }
    }

    if args.stats {
        eprintln!("{}", diag.line());
    }
    // After join: every worker's last counters are visible.
    let total = Snapshot::take(&ctrs);
    let tic = ctrs.iter().filter_map(|c| c.tic()).min();
    let toc = ctrs.iter().filter_map(|c| c.toc()).max();
    let secs = match (tic, toc) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let msg = match args.function {
        Function::Tx | Function::Ping => "Sent",
        Function::Rx | Function::Pong => "Received",
    };
    println!("{}", report::summary(msg, total, secs, normalize));
    if let Some(l) = kernel_drops(&diag.xsk) {
        println!("{l}");
    }
    let mut code = i32::from(failed);
    if args.verify && args.function == Function::Rx {
        let ok: u64 = ctrs.iter().map(|c| c.verify_ok.load(Relaxed)).sum();
        let bad: u64 = ctrs.iter().map(|c| c.verify_bad.load(Relaxed)).sum();
        println!("Verify: {ok} ok, {bad} bad");
        if bad > 0 {
            code = 2;
        }
    }
    Ok(code)
}

/// Ping or pong on this thread (one port, one frame in flight: no reporter thread).
fn run_pingpong(args: &Args, port: Option<Port>, frame: Vec<u8>) -> Result<i32> {
    let mut port = port.context("no port opened")?;
    let wait = if args.busy_wait {
        ping::Wait::Busy
    } else {
        ping::Wait::Poll
    };
    if args.function == Function::Ping {
        let job = ping::PingJob {
            count: args.count,
            frame,
            wait,
        };
        ping::ping(&mut port, &job)?;
    } else {
        let job = ping::PongJob {
            count: args.count,
            wait,
        };
        ping::pong(&mut port, &job)?;
    }
    if args.stats {
        eprintln!("{}", report::Diag::of(&port).line());
    }
    Ok(0)
}

/// Where the kernel dropped frames of this run, from the sockets' `XDP_STATISTICS` (None when it
/// dropped nothing): printed after the summary, so a loss is never silent.
fn kernel_drops(x: &nmxdp::sys::xdp_statistics) -> Option<String> {
    let total = x.rx_dropped + x.rx_ring_full + x.rx_invalid_descs + x.tx_invalid_descs;
    if total == 0 {
        return None;
    }
    let mut l = format!(
        "Kernel drops: rx_dropped {} (fill ring empty {}), rx ring full {}, invalid descriptors rx {} tx {}",
        x.rx_dropped,
        x.rx_fill_ring_empty_descs,
        x.rx_ring_full,
        x.rx_invalid_descs,
        x.tx_invalid_descs
    );
    if x.rx_fill_ring_empty_descs > 0 || x.rx_ring_full > 0 {
        l.push_str(
            ". The receiver fell behind by more than its ring holds: give it a CPU of its own, or larger rings (netmap:IFACE@conf:rx-slots=4096)",
        );
    }
    Some(l)
}

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    match run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("pkt-gen: {e:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(port_name("eth0"), "netmap:eth0");
        assert_eq!(port_name("netmap:eth0-1"), "netmap:eth0-1");
        assert_eq!(port_name("vale0:p"), "vale0:p");
        assert_eq!(thread_port_name("netmap:eth0", 3).unwrap(), "netmap:eth0-3");
        assert_eq!(
            thread_port_name("netmap:eth0-1", 0).unwrap(),
            "netmap:eth0-0"
        );
        assert_eq!(
            thread_port_name("netmap:eth0-12/R@conf:slots=512", 2).unwrap(),
            "netmap:eth0-2/R@conf:slots=512"
        );
        assert_eq!(
            thread_port_name("netmap:eth0/T", 1).unwrap(),
            "netmap:eth0-1/T"
        );
        assert_eq!(thread_port_name("vale0:p", 1).unwrap(), "vale0:p-1");
        assert!(thread_port_name("netmap:eth0*", 1).is_err());
        assert!(thread_port_name("netmap:eth0^", 1).is_err());
    }

    #[test]
    fn endpoints_and_macs() {
        let e: Endpoint = "10.0.0.1".parse().unwrap();
        assert_eq!(
            (e.ip, e.port, e.name.as_str()),
            (Ipv4Addr::new(10, 0, 0, 1), 1234, "10.0.0.1")
        );
        let e: Endpoint = "192.168.1.2:99".parse().unwrap();
        assert_eq!((e.ip, e.port), (Ipv4Addr::new(192, 168, 1, 2), 99));
        assert!("10.0.0.1-10.0.0.9".parse::<Endpoint>().is_err());
        assert!("10.0.0.1:x".parse::<Endpoint>().is_err());
        assert!("10.0.0:1".parse::<Endpoint>().is_err());
        let m: Mac = "02:0A:0b:00:ff:1".parse().unwrap();
        assert_eq!(m.0, [2, 10, 11, 0, 255, 1]);
        assert_eq!(m.to_string(), "02:0a:0b:00:ff:01");
        assert!("02:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:zz".parse::<Mac>().is_err());
    }

    #[test]
    fn kernel_drops_line() {
        let mut x = nmxdp::sys::xdp_statistics::default();
        assert_eq!(kernel_drops(&x), None);
        x.rx_dropped = 952;
        x.rx_fill_ring_empty_descs = 952;
        let l = kernel_drops(&x).unwrap();
        assert!(l.starts_with("Kernel drops: rx_dropped 952 (fill ring empty 952), rx ring full 0"));
        assert!(l.contains("rx-slots=4096"));
        let x = nmxdp::sys::xdp_statistics {
            tx_invalid_descs: 3,
            ..Default::default()
        };
        assert!(!kernel_drops(&x).unwrap().contains("rx-slots"));
    }

    #[test]
    fn args_defaults_and_errors() {
        let a = Args::try_parse_from(["pkt-gen", "-i", "va"]).unwrap();
        assert_eq!(a.function, Function::Rx);
        assert_eq!(
            (a.count, a.len, a.burst, a.wait_link, a.report_ms, a.threads),
            (0, 60, 512, 2, 1000, 1)
        );
        assert_eq!(a.dst_mac, Mac([0xff; 6]));
        assert_eq!((a.src.port, a.dst.port), (1234, 1234));
        assert!(!a.busy_wait);
        let a = Args::try_parse_from(["pkt-gen", "-i", "va", "-f", "ping", "--busy-wait"]).unwrap();
        assert_eq!((a.function, a.busy_wait), (Function::Ping, true));
        let a = Args::try_parse_from(["pkt-gen", "-i", "vb", "-f", "pong", "-n", "5"]).unwrap();
        assert_eq!((a.function, a.count), (Function::Pong, 5));
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-f", "bounce"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-l", "15"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-i", "va", "-b", "0"]).is_err());
        assert!(Args::try_parse_from(["pkt-gen", "-f", "tx"]).is_err());
    }
}
