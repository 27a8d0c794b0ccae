//! pkt-gen: netmap's traffic generator and sink, on nmxdp (netmap over AF_XDP).
//!
//! Upstream's functions (`tx`, `rx`, `ping`, `pong`, `txseq`, `rxseq`), option letters and
//! output lines, see [`opts`]:
//!
//! ```text
//! pkt-gen -i netmap:eth0 -f rx -n 1000000 --verify
//! pkt-gen -i netmap:eth0 -f tx -n 1000000 -l 60
//! pkt-gen -i netmap:eth0 -f txseq -n 1000000      # then, on the other end:
//! pkt-gen -i netmap:eth1 -f rxseq -W              # "Sequence GAP: exp 5 found 6" on loss
//! pkt-gen -i netmap:eth1 -f pong              # then, on the other end:
//! pkt-gen -i netmap:eth0 -f ping -n 100000 -l 60 [--busy-wait]
//! ```
//!
//! Frames are Ethernet/IPv4/UDP carrying a per-thread sequence number and a byte pattern, see
//! [`frame`]. Periodic reports go to stderr, the start banner and the final summary to stdout.
//! The plain sender and receiver (`tx.rs`, `rx.rs`) serve `-f tx` / `-f rx`; options that work
//! on every packet (ranges, random addresses or sizes, IPv6, pcap, dumps, txseq / rxseq) are
//! served by [`vary`] and [`rxcheck`].

mod addr;
mod chain;
mod cpu;
mod dump;
mod errtext;
mod gen;
mod opts;
mod pcap;
mod pieces;
mod ping;
mod report;
mod rx;
mod rxcheck;
mod seq;
mod stats;
mod tx;
mod vary;

use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use nmxdp::Port;
use pkt_gen::frame;

use addr::IpRange;
use opts::{bits, Args, DataOpts, Function, Mac};
use report::{Counters, Snapshot};

/// Set by SIGINT: every loop checks it and winds down.
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed.
#[inline]
pub fn stopped() -> bool {
    STOP.load(Relaxed)
}

extern "C" fn on_sigint(_sig: libc::c_int) {
    // Every signal only asks to stop: a second one (`timeout -s INT` sends two) must not kill
    // the process before it prints its summary. Only async-signal-safe calls here.
    if !STOP.swap(true, Relaxed) {
        const MSG: &[u8] = b"pkt-gen: received control-C\n";
        // SAFETY: write(2) is async-signal-safe; MSG is a static buffer of MSG.len() bytes.
        unsafe { libc::write(2, MSG.as_ptr().cast(), MSG.len()) };
    }
}

/// Ctrl-C (and with `term`, SIGTERM too) winds the workers down instead of killing them.
fn install_sigint(term: bool) {
    let h: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only touches an atomic and calls write(2); glibc's signal() keeps it
    // installed (BSD semantics), so later signals land in it too.
    unsafe { libc::signal(libc::SIGINT, h as libc::sighandler_t) };
    if term {
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGTERM, h as libc::sighandler_t) };
    }
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
    Port::open(name).map_err(|e| anyhow!("{}", errtext::open_error(name, e.errno(), e.message())))
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

/// How the periodic report lines are made.
struct ReportStyle {
    normalize: bool,
    /// `-B`: 24 bytes of framing and CRC per frame in the bps.
    framing: bool,
    /// `-A`: mean and deviation of the rate.
    pps_stats: bool,
}

/// Prints a report every `-T` ms until every worker is done.
fn report_loop(ctrs: &[Arc<Counters>], every: Duration, style: &ReportStyle) {
    let mut prev = Snapshot::default();
    let mut prev_t = Instant::now();
    let mut next = prev_t + every;
    let mut window = stats::PpsWindow::default();
    loop {
        let all_done = ctrs.iter().all(|c| c.done.load(Acquire));
        let now = Instant::now();
        let due = now >= next;
        if due || all_done {
            let cur = Snapshot::take(ctrs);
            // At the end, report the partial interval only if something happened in it.
            if due || cur != prev {
                let pkts = cur.pkts - prev.pkts;
                let framing = if style.framing { pkts * 24 } else { 0 };
                let delta = Snapshot {
                    pkts,
                    bytes: cur.bytes - prev.bytes + framing,
                    events: cur.events - prev.events,
                };
                let usec = (now - prev_t).as_micros() as u64;
                let min_space = report::take_min_space(ctrs);
                let mut line =
                    report::report_line(SystemTime::now(), delta, usec, min_space, style.normalize);
                if style.pps_stats {
                    let pps = (pkts as f64 * 1e6 / usec.max(1) as f64).round();
                    let (avg, dev) = window.push(pps);
                    line = stats::splice(&line, avg, dev, style.normalize);
                }
                eprintln!("{line}");
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

/// `-F` as upstream takes it: outside 1..=63 it says so and sends one fragment per frame.
fn frags_arg(args: &Args) -> u32 {
    if (1..=63).contains(&args.frags) {
        args.frags
    } else {
        eprintln!("pkt-gen: invalid frags {} [1..63], ignore", args.frags);
        1
    }
}

/// How the sender cuts frames of up to `len` bytes into slots, given the bytes one buffer
/// carries (`room`) and the most slots a frame may take on the port; None when every frame
/// fits one slot. Errors name the limit a frame would break (the sync would drop it whole).
fn cut_for(
    frags: u32,
    frag_size: Option<u32>,
    len: usize,
    room: usize,
    max_slots: u32,
) -> Result<Option<chain::Cut>> {
    if frag_size == Some(0) {
        bail!("-M 0: fragments need at least one byte");
    }
    let cap = frag_size.map_or(room, |m| (m as usize).min(room));
    let cut = chain::Cut { frags, cap };
    let slots = cut.slots(len);
    if slots == 1 {
        return Ok(None);
    }
    if slots > max_slots {
        if max_slots == 1 {
            bail!(
                "packet size {len} in {slots} slots ({} bytes each at most): this port carries one buffer per frame (its sockets are not multi-buffer: the kernel or driver lacks AF_XDP multi-buffer); use -l {room} at most, or NMXDP_BUF_SIZE=4096 for frames up to 3840 bytes",
                cut.piece(len)
            );
        }
        bail!(
            "packet size {len} in {slots} slots ({} bytes each at most): a frame takes at most {max_slots} slots on this port (-F, -M, -l)",
            cut.piece(len)
        );
    }
    Ok(Some(cut))
}

/// What the options ask of every packet, resolved once.
struct Plan {
    len: usize,
    min_len: Option<usize>,
    v6: bool,
    src: IpRange,
    dst: IpRange,
    opts: DataOpts,
    /// `-P`: the packet to send.
    raw: Option<Vec<u8>>,
}

impl Plan {
    /// The sender must build or look at every frame ([`vary`] instead of `tx.rs`).
    fn per_packet_tx(&self, f: Function) -> bool {
        let o = self.opts;
        f == Function::Txseq
            || self.v6
            || self.raw.is_some()
            || self.src.is_range()
            || self.dst.is_range()
            || self.min_len.is_some()
            || [
                bits::RANDOM_SRC,
                bits::RANDOM_DST,
                bits::DUMP,
                bits::RUBBISH,
                bits::INDIRECT,
                bits::COPY,
                bits::MEMCPY,
            ]
            .iter()
            .any(|&b| o.has(b))
    }

    /// The receiver must look at every frame ([`rxcheck`] instead of `rx.rs`).
    fn per_packet_rx(&self, f: Function) -> bool {
        f == Function::Rxseq || self.opts.has(bits::DUMP)
    }

    fn maker_spec(&self, f: Function, src_mac: Mac, dst_mac: Mac, thread: u32) -> gen::MakerSpec {
        gen::MakerSpec {
            l3: if self.raw.is_some() {
                gen::L3::Raw
            } else if self.v6 {
                gen::L3::V6
            } else {
                gen::L3::V4
            },
            src_mac: src_mac.0,
            dst_mac: dst_mac.0,
            src: self.src,
            dst: self.dst,
            random_src: self.opts.has(bits::RANDOM_SRC),
            random_dst: self.opts.has(bits::RANDOM_DST),
            len: self.len,
            min_len: self.min_len,
            numbering: match (f, self.v6) {
                (Function::Txseq, _) => gen::Numbering::Txseq,
                (_, false) => gen::Numbering::Thread(thread),
                (_, true) => gen::Numbering::None,
            },
            raw: self.raw.clone(),
        }
    }
}

fn plan(args: &Args) -> Result<Plan> {
    let f = args.function;
    let (len, min_len) = opts::sizes(args).map_err(|e| anyhow!(e))?;
    let v6 = args.ipv6;
    // Upstream's IPv4 defaults do not parse as IPv6 there and leave the address all-zero.
    let v6_default = |s: &str| {
        if v6 && (s == "10.0.0.1" || s == "10.1.0.1") {
            "::".to_string()
        } else {
            s.to_string()
        }
    };
    let src = IpRange::parse(&v6_default(&args.src), v6).map_err(|e| anyhow!(e))?;
    let dst = IpRange::parse(&v6_default(&args.dst), v6).map_err(|e| anyhow!(e))?;
    let raw = match &args.pcap {
        Some(p) if f.sends() => Some(pcap::first_packet(p)?),
        Some(_) => {
            eprintln!("pkt-gen: -P only applies to -f tx and txseq, ignored");
            None
        }
        None => None,
    };
    let len = raw.as_ref().map_or(len as usize, Vec::len);
    let min_len = min_len.filter(|_| raw.is_none()).map(|m| m as usize);
    if v6 && raw.is_none() && f.builds_frames() {
        let least = min_len.unwrap_or(len);
        if least < 62 {
            bail!("packet size {least} too small for IPv6/UDP frames: -l 62 at least");
        }
        if f.is_pingpong() {
            eprintln!("pkt-gen: Warning: ping-pong with IPv6 not supported");
        }
    }
    Ok(Plan {
        len,
        min_len,
        v6,
        src,
        dst,
        opts: DataOpts::of(args),
        raw,
    })
}

fn run(args: Args) -> Result<i32> {
    let f = args.function;
    let plan = plan(&args)?;
    if ![0, 10, 12].contains(&args.virt_header) {
        bail!(
            "bad virtio-net-header length {} (0, 10 or 12)",
            args.virt_header
        );
    }
    let cpus = cpu::resolve(args.cpus, cpu::online())?;
    let burst = if args.burst == 0 {
        f.default_burst()
    } else {
        args.burst
    };
    let mut name = port_name(&args.iface);
    if let Some(c) = &args.ring_conf {
        eprintln!(
            "pkt-gen: WARNING: the 'C' option is deprecated, use the '+conf:' libnetmap option instead"
        );
        let v = opts::ring_conf(c).map_err(|e| anyhow!(e))?;
        eprintln!(
            "pkt-gen: txr {} txd {} rxr {} rxd {}",
            v[2], v[0], v[3], v[1]
        );
        if let Some(sfx) = opts::conf_suffix(v) {
            name.push_str(&sfx);
        }
    }
    let wait = args
        .wait_link
        .unwrap_or(if name.starts_with("vale") { 0 } else { 2 });
    install_sigint(f.is_pingpong());
    let p = args.threads;
    if p > 1 && f.is_pingpong() {
        bail!("can only ping or pong with 1 thread (-p 1)");
    }
    if p > 1 && f == Function::Txseq {
        bail!("can only txseq with 1 thread (-p 1)");
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
    if args.virt_header != 0 {
        // netmap answers PORT_HDR_SET with EINVAL on a NIC; upstream logs it and goes on.
        eprintln!(
            "pkt-gen: Unable to set virtio-net header length {}: {} (virtio-net headers exist on VALE ports only; {} is a NIC and takes none, frames go without one)",
            args.virt_header,
            errtext::strerror(libc::EINVAL),
            info.name
        );
    }
    if plan.opts.has(bits::INDIRECT) && f.sends() {
        eprintln!(
            "pkt-gen: -I: indirect buffers (NS_INDIRECT) exist on VALE ports only; a NIC ignores the flag and sends each slot's own buffer as it is (as -r does)"
        );
    }
    let reg = ports[0].registration();
    let len = plan.len;
    let queues = if f.sends() || f == Function::Ping {
        reg.nr_tx_rings
    } else {
        reg.nr_rx_rings
    };
    if f == Function::Ping && len < frame::SEQ_END {
        bail!(
            "packet size {len} too small: ping frames carry a sequence number, -l {} at least",
            frame::SEQ_END
        );
    }
    let frags = frags_arg(&args);
    let mut cut = None;
    if f.builds_frames() {
        let first = ports[0].tx_rings().start;
        if !ports[0].tx_rings().is_empty() {
            let room = ports[0].tx_ring(first).max_frame();
            let slots = ports[0].tx_ring(first).num_slots() - 1;
            let max_slots = ports[0].max_frame_slots().min(slots);
            cut = cut_for(frags, args.frag_size, len, room, max_slots)?;
            if cut.is_some() && f == Function::Ping {
                bail!(
                    "packet size {len} too big for ping: one netmap buffer carries at most {room} bytes (-l)"
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
    if f == Function::Pong {
        wait_link(wait);
    }
    println!(
        "{} {name}: {queues} queues, {p} threads and {cpus} cpus.",
        f.banner_verb()
    );
    let src_mac = args.src_mac.unwrap_or(Mac(info.mac));
    if f.builds_frames() {
        println!(
            "{} -> {} ({} -> {})",
            args.src, args.dst, src_mac, args.dst_mac
        );
    }
    if plan.opts.unknown() != 0 {
        eprintln!(
            "pkt-gen: -o: unknown option bits {:#x} ignored",
            plan.opts.unknown()
        );
    }
    if let Some(l) = plan.opts.special_line() {
        eprintln!("pkt-gen: {l}");
    }
    let checks_rx = plan.per_packet_rx(f);
    if args.verify && (f != Function::Rx || checks_rx) {
        eprintln!("pkt-gen: --verify only applies to -f rx without -X, ignored");
    }
    let plain_tx = f == Function::Tx && !plan.per_packet_tx(f);
    let plain_rx = f == Function::Rx && !checks_rx;
    if args.busy_wait && !(f.is_pingpong() || plain_tx || plain_rx) {
        eprintln!("pkt-gen: --busy-wait only applies to -f ping, pong, tx and rx (without per-packet options), ignored");
    }
    // Pong waited before its banner: once it prints, it echoes.
    if f != Function::Pong {
        wait_link(wait);
    }

    let (src0, dst0) = match (plan.src, plan.dst) {
        (IpRange::V4 { start: s, .. }, IpRange::V4 { start: d, .. }) => (s.into(), d.into()),
        _ => (
            std::net::Ipv4Addr::new(10, 0, 0, 1),
            std::net::Ipv4Addr::new(10, 1, 0, 1),
        ),
    };
    let frame = frame::build(&frame::FrameSpec {
        src_mac: src_mac.0,
        dst_mac: args.dst_mac.0,
        src_ip: src0,
        dst_ip: dst0,
        src_port: plan.src.first_port(),
        dst_port: plan.dst.first_port(),
        len,
    });
    if f.is_pingpong() {
        return run_pingpong(&args, ports.pop(), frame);
    }
    let per_packet_tx = plan.per_packet_tx(f);
    let ctrs: Vec<Arc<Counters>> = (0..p).map(|_| Arc::default()).collect();
    let quota = Arc::new(rx::Quota::new(args.count));
    let seq_totals = Arc::new(Mutex::new(seq::SeqTotals::default()));
    let mut handles = Vec::with_capacity(p as usize);
    for (i, port) in ports.into_iter().enumerate() {
        let i = i as u32;
        let c = ctrs[i as usize].clone();
        let pin = args.affinity.map(|a| cpu::of_thread(a, i, cpus));
        let share = |total: u64| total / p as u64 + u64::from((i as u64) < total % p as u64);
        let rate = if args.rate > 0 {
            share(args.rate).max(1)
        } else {
            0
        };
        let body: Box<dyn FnOnce() -> Result<report::Diag> + Send> = match f {
            Function::Tx | Function::Txseq if per_packet_tx => {
                let job = vary::VaryJob {
                    index: i,
                    quota: share(args.count),
                    burst,
                    rate,
                    maker: gen::FrameMaker::new(
                        &plan.maker_spec(f, src_mac, args.dst_mac, i),
                        i as u64,
                    ),
                    dump: plan.opts.has(bits::DUMP),
                    rubbish: plan.opts.has(bits::RUBBISH) || plan.opts.has(bits::INDIRECT),
                    first_ring_only: f == Function::Txseq,
                    cut,
                };
                Box::new(move || vary::run(port, job, &c))
            }
            Function::Tx | Function::Txseq => {
                let job = tx::TxJob {
                    index: i,
                    quota: share(args.count),
                    burst,
                    rate,
                    frame: frame.clone(),
                    cut,
                    busy_wait: args.busy_wait,
                };
                Box::new(move || tx::run(port, job, &c))
            }
            Function::Rx | Function::Rxseq if checks_rx => {
                let job = rxcheck::CheckJob {
                    index: i,
                    burst,
                    exit_on_idle: args.exit_on_idle,
                    dump: plan.opts.has(bits::DUMP),
                    seq: f == Function::Rxseq,
                };
                let (q, t) = (quota.clone(), seq_totals.clone());
                Box::new(move || rxcheck::run(port, job, &q, &c, &t))
            }
            Function::Rx | Function::Rxseq => {
                let job = rx::RxJob {
                    index: i,
                    burst,
                    exit_on_idle: args.exit_on_idle,
                    verify: args.verify,
                    busy_wait: args.busy_wait,
                };
                let q = quota.clone();
                Box::new(move || rx::run(port, job, &q, &c))
            }
            Function::Ping | Function::Pong => unreachable!("ping and pong run on this thread"),
        };
        let h = std::thread::Builder::new()
            .name(format!("{}{i}", if f.sends() { "tx" } else { "rx" }))
            .spawn(move || {
                if let Some(cpu) = pin {
                    cpu::pin(cpu)?;
                }
                body()
            });
        handles.push(h.context("cannot start a thread")?);
    }

    let style = ReportStyle {
        normalize: !args.no_normalize,
        framing: args.framing,
        pps_stats: plan.opts.has(bits::PPS_STATS),
    };
    report_loop(&ctrs, Duration::from_millis(args.report_ms), &style);
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
    let msg = if f.sends() { "Sent" } else { "Received" };
    println!("{}", report::summary(msg, total, secs, style.normalize));
    if f == Function::Rxseq {
        println!(
            "{}",
            seq_totals.lock().unwrap_or_else(|p| p.into_inner()).line()
        );
    }
    let dropped = kernel_drops(&diag.xsk);
    if let Some(l) = &dropped {
        println!("{l}");
    }
    // After a drop, whether the receiver ran (pkt_gen::gaps).
    if let Some(g) = diag.gaps.filter(|_| args.stats || dropped.is_some()) {
        println!("{}", g.line());
    }
    let mut code = i32::from(failed);
    if args.verify && f == Function::Rx && !checks_rx {
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
            ". The receiver fell behind by more than its ring holds: give it a CPU of its own, larger rings (netmap:IFACE@conf:rx-slots=4096) or --busy-wait",
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

    fn args(v: &[&str]) -> Args {
        let mut all = vec!["pkt-gen", "-i", "va"];
        all.extend_from_slice(v);
        Args::try_parse_from(all).unwrap()
    }

    #[test]
    fn plans() {
        let p = plan(&args(&["-f", "tx"])).unwrap();
        assert_eq!((p.len, p.min_len, p.v6), (60, None, false));
        assert!(!p.per_packet_tx(Function::Tx));
        assert!(p.per_packet_tx(Function::Txseq));
        assert!(!p.per_packet_rx(Function::Rx));
        assert!(p.per_packet_rx(Function::Rxseq));
        for v in [
            &["-f", "tx", "-l", "100", "-l", "64"][..],
            &["-f", "tx", "-s", "10.0.0.1-10.0.0.5"],
            &["-f", "tx", "-d", "10.1.0.1:1-10.1.0.1:9"],
            &["-f", "tx", "-z"],
            &["-f", "tx", "-Z"],
            &["-f", "tx", "-X"],
            &["-f", "tx", "-r"],
            &["-f", "tx", "-o", "4"],
            &["-f", "tx", "-6", "-l", "64"],
        ] {
            assert!(plan(&args(v)).unwrap().per_packet_tx(Function::Tx), "{v:?}");
        }
        assert!(plan(&args(&["-X"])).unwrap().per_packet_rx(Function::Rx));
        let p = plan(&args(&["-f", "tx", "-l", "100", "-l", "64"])).unwrap();
        assert_eq!((p.len, p.min_len), (100, Some(64)));
        // IPv6 frames need room for their headers.
        assert!(plan(&args(&["-f", "tx", "-6"])).is_err());
        assert!(plan(&args(&["-f", "tx", "-6", "-l", "100", "-l", "61"])).is_err());
        assert!(plan(&args(&["-f", "tx", "-s", "10.0.0"])).is_err());
        assert!(plan(&args(&["-f", "tx", "-P", "/nonexistent.pcap"])).is_err());
    }

    #[test]
    fn fragment_options_cut_frames() {
        assert_eq!(frags_arg(&args(&["-F", "64"])), 1);
        assert_eq!(frags_arg(&args(&["-F", "4"])), 4);
        // Fits one buffer, no option: no chains.
        assert_eq!(cut_for(1, None, 1514, 1792, 18).unwrap(), None);
        // Jumbo frames: as many slots as the buffer's room needs.
        let c = cut_for(1, None, 9000, 1792, 18).unwrap().unwrap();
        assert_eq!((c.slots(9000), c.piece(9000)), (6, 1792));
        // -F and -M ask for chains of short frames too.
        assert_eq!(
            cut_for(3, None, 60, 1792, 18).unwrap().unwrap().slots(60),
            3
        );
        assert_eq!(
            cut_for(1, Some(30), 60, 1792, 18)
                .unwrap()
                .unwrap()
                .slots(60),
            2
        );
        // A -M above the buffer's room is capped by it.
        let c = cut_for(1, Some(9000), 9000, 3840, 18).unwrap().unwrap();
        assert_eq!(c.slots(9000), 3);
        // Longer than the port allows, or chains on a single-buffer port: refused up front.
        let e = cut_for(1, None, 9000, 1792, 1).unwrap_err().to_string();
        assert!(e.contains("not multi-buffer"), "{e}");
        let e = cut_for(1, Some(64), 9000, 1792, 18)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 18 slots"), "{e}");
        assert!(cut_for(1, Some(0), 60, 1792, 18).is_err());
        assert!(plan(&args(&["-f", "tx", "-F", "2", "-M", "30"])).is_ok());
    }
}
