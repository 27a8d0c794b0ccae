//! open-close: how long opening a port takes, for the open-latency section of `make bench`.
//!
//! Opens and closes one port `-n` times and prints each cycle's time:
//!
//! ```text
//! open-close -i netmap:va-0 -n 50                        # first open of the interface
//! open-close -i netmap:va-1 --hold netmap:va-0 -n 50     # another queue of a set-up interface
//! open-close --raw -i va -q 0 -n 50                      # raw AF_XDP socket, UMEM registered
//! open-close --raw -i va -q 1 --hold-queue 0 -n 50       # raw AF_XDP socket sharing a UMEM
//! ```
//!
//! A cycle is `nmxdp::Port::open` then drop. With `--hold`, that port is opened first and stays
//! open, so the cycles find the interface set up (XDP program attached, UMEM registered) and
//! only add a queue. `--raw` is the baseline: what the kernel alone charges for an AF_XDP socket
//! (socket, UMEM registration, the four rings and their mappings, bind) with nmxdp's default UMEM
//! (`NMXDP_BUF_NUM` × `NMXDP_BUF_SIZE`, one mapping made once, as nmxdp's region is) and ring
//! sizes, and no XDP program. With `--hold-queue`, a socket on that queue registers the UMEM once
//! and the cycles' sockets share it (`XDP_SHARED_UMEM`), as nmxdp's later queues do.
//!
//! Output, one line per cycle (open and close split out for diagnosis), then a summary:
//!
//! ```text
//! cycle 1 104.812 open 103.950 close 0.862
//! open-close: 50 cycles of netmap:va-0, median 98.114 ms, p90 110.530 ms
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use nmxdp::config::Config;
use nmxdp::ifinfo::if_info;
use nmxdp::region::Layout;
use nmxdp::xsk::{BindAs, BindMode, RingSizes, UmemSpec, XskSocket};
use nmxdp::Port;
use nmxdp_bench::app::{start, stopped, Mapping};
use nmxdp_bench::stats::{median, quantile};

/// Times the open and close of a port (or of a raw AF_XDP socket).
#[derive(Debug, Parser)]
#[command(name = "open-close")]
struct Args {
    /// The port to open and close (`netmap:IF-N`); with --raw, the interface.
    #[arg(short = 'i', value_name = "PORT|IFNAME")]
    port: String,
    /// Open and close cycles.
    #[arg(short = 'n', value_name = "CYCLES", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    cycles: u32,
    /// Pause between cycles, in milliseconds: lets the kernel's deferred teardown of the last
    /// close (RCU callbacks, UMEM release) finish instead of landing on the next open.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pause_ms: u64,
    /// A port opened before the cycles and kept open through them.
    #[arg(long, value_name = "PORT", conflicts_with = "raw")]
    hold: Option<String>,
    /// A raw AF_XDP socket instead of an nmxdp port: no netmap layer, no XDP program.
    #[arg(long)]
    raw: bool,
    /// With --raw: the queue to bind.
    #[arg(
        short = 'q',
        value_name = "QUEUE",
        default_value_t = 0,
        requires = "raw"
    )]
    queue: u32,
    /// With --raw: a queue whose socket registers the UMEM before the cycles and stays open;
    /// the cycles' sockets share that UMEM.
    #[arg(long, value_name = "QUEUE", requires = "raw")]
    hold_queue: Option<u32>,
}

/// One cycle's open and close times.
struct Cycle {
    open: Duration,
    close: Duration,
}

fn main() {
    let args: Args = start();
    if let Err(e) = run(&args) {
        eprintln!("open-close: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let mut ms = Vec::with_capacity(args.cycles as usize);
    let what = if args.raw {
        raw(args, &mut ms)?
    } else {
        ports(args, &mut ms)?
    };
    let ms: Vec<f64> = ms.iter().map(|c| ms_of(c.open + c.close)).collect();
    println!(
        "open-close: {} cycles of {what}, median {:.3} ms, p90 {:.3} ms",
        ms.len(),
        median(&ms).unwrap_or(f64::NAN),
        quantile(&ms, 0.9).unwrap_or(f64::NAN)
    );
    Ok(())
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints cycle `i` (from 1) and keeps it.
fn record(cycles: &mut Vec<Cycle>, c: Cycle) {
    println!(
        "cycle {} {:.3} open {:.3} close {:.3}",
        cycles.len() + 1,
        ms_of(c.open + c.close),
        ms_of(c.open),
        ms_of(c.close)
    );
    cycles.push(c);
}

/// The cycles on nmxdp ports; returns what was cycled, for the summary.
fn ports(args: &Args, out: &mut Vec<Cycle>) -> Result<String> {
    let _held = match &args.hold {
        Some(h) => {
            let p = Port::open(h).with_context(|| format!("opening {h} (--hold)"))?;
            let m = p.modes();
            eprintln!(
                "open-close: holding {h}: xdp={} bind={}",
                m.xdp.map_or("none", |x| x.as_str()),
                m.bind.as_str()
            );
            Some(p)
        }
        None => None,
    };
    for i in 0..args.cycles {
        if stopped() {
            bail!("interrupted");
        }
        let t0 = Instant::now();
        let port = Port::open(&args.port)
            .with_context(|| format!("cycle {}: opening {}", i + 1, args.port))?;
        let open = t0.elapsed();
        if i == 0 {
            let m = port.modes();
            eprintln!(
                "open-close: {}: xdp={} bind={}",
                args.port,
                m.xdp.map_or("none", |x| x.as_str()),
                m.bind.as_str()
            );
        }
        let t1 = Instant::now();
        drop(port);
        record(
            out,
            Cycle {
                open,
                close: t1.elapsed(),
            },
        );
        std::thread::sleep(Duration::from_millis(args.pause_ms));
    }
    Ok(args.port.clone())
}

/// The cycles on raw AF_XDP sockets; returns what was cycled, for the summary.
fn raw(args: &Args, out: &mut Vec<Cycle>) -> Result<String> {
    let ifname = args.port.strip_prefix("netmap:").unwrap_or(&args.port);
    let info = if_info(ifname).with_context(|| format!("interface {ifname}"))?;
    let cfg = Config::from_env().context("NMXDP_* settings")?;
    let layout = Layout::new(&cfg).context("nmxdp's region layout")?;
    // A default port's queue: its slots for TX, twice as many for RX and fill (nmxdp keeps the
    // second half of the RX buffers waiting in the fill ring).
    let (tx_n, rx_n) = (
        cfg.slots.next_power_of_two(),
        (2 * cfg.slots).next_power_of_two(),
    );
    let sizes = RingSizes {
        rx: rx_n,
        tx: tx_n,
        fill: rx_n,
        comp: tx_n,
    };
    let umem = Mapping::anonymous(layout.umem_len() as usize).context("UMEM mmap")?;
    // SAFETY: the mapping outlives every socket (they are all dropped inside this function,
    // before `umem`), and nothing reads or writes it: no frame is ever posted.
    let spec = unsafe { UmemSpec::new(umem.ptr, umem.len as u64, layout.buf_size) };
    // Zero-copy first, then copy, resolved once: nmxdp also remembers the mode the first socket
    // got instead of retrying zero-copy at every open.
    let mut mode: Option<BindMode> = None;
    let owner = match args.hold_queue {
        Some(q) => {
            let s = XskSocket::open(info.ifindex, q, sizes, &BindAs::Owner { umem: spec, mode })
                .with_context(|| format!("AF_XDP socket on {ifname} queue {q} (--hold-queue)"))?;
            mode = Some(s.mode);
            Some(s)
        }
        None => None,
    };
    for i in 0..args.cycles {
        if stopped() {
            bail!("interrupted");
        }
        let how = match &owner {
            Some(o) => BindAs::Shared { owner_fd: o.fd() },
            None => BindAs::Owner { umem: spec, mode },
        };
        let t0 = Instant::now();
        let sock = XskSocket::open(info.ifindex, args.queue, sizes, &how).with_context(|| {
            format!(
                "cycle {}: AF_XDP socket on {ifname} queue {}",
                i + 1,
                args.queue
            )
        })?;
        let open = t0.elapsed();
        if i == 0 {
            eprintln!(
                "open-close: raw {ifname} queue {}: bind={} umem={} MiB rings rx/fill {rx_n} tx/comp {tx_n}{}",
                args.queue,
                sock.mode.as_str(),
                layout.umem_len() >> 20,
                if owner.is_some() { " (shared UMEM)" } else { "" }
            );
        }
        mode = Some(sock.mode);
        let t1 = Instant::now();
        drop(sock);
        record(
            out,
            Cycle {
                open,
                close: t1.elapsed(),
            },
        );
        std::thread::sleep(Duration::from_millis(args.pause_ms));
    }
    drop(owner);
    Ok(format!(
        "a raw AF_XDP socket on {ifname} queue {}{}",
        args.queue,
        if args.hold_queue.is_some() {
            " (shared UMEM)"
        } else {
            ""
        }
    ))
}
