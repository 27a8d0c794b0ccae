//! xdp-raw: the AF_XDP baseline of `make bench`. Sends or receives straight on one socket's
//! rings (nmxdp's thin ring wrappers in `nmxdp::xsk`), without the netmap layer, with what nmxdp
//! uses on the same interface: 2048-byte UMEM chunks with data at offset 256, zero-copy bind
//! falling back to copy, `XDP_USE_NEED_WAKEUP`, the same XDP program (native first) for RX, the
//! same ring sizes (1024 TX entries; 8192 RX/fill entries = nmxdp's `rx-slots=4096` port, whose
//! fill ring holds twice the slots) and pkt-gen's batch (`-b 512`).
//!
//! ```text
//! xdp-raw -i vb -f rx -n 1000000
//! xdp-raw -i va -f tx -n 1000000 -l 60
//! ```
//! Prints pkt-gen's banner and final summary.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use nmxdp::port_poll::DENSE_FRAMES;
use nmxdp::sys::{xdp_desc, XDP_PACKET_HEADROOM};
use nmxdp::xsk::{kick_rx, RingSizes, XskSocket};
use nmxdp_bench::afxdp::{FreeFrames, SockArgs, Xsk, CHUNK};
use nmxdp_bench::app::{poll_one, start, stopped, Common, Function, Tally};
use pkt_gen::frame::{self, FrameSpec};

/// How long the TX drain waits for completions.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// AF_XDP tx/rx without the netmap layer (the bench's baseline).
#[derive(Debug, Parser)]
#[command(name = "xdp-raw")]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    sock: SockArgs,
    /// TX and completion ring entries (= UMEM frames of a sender); nmxdp's default slots.
    #[arg(long, default_value_t = 1024)]
    tx_ring: u32,
    /// RX and fill ring entries (= UMEM frames of a receiver).
    #[arg(long, default_value_t = 8192)]
    rx_ring: u32,
    /// Print the socket's XDP_STATISTICS on stderr at the end.
    #[arg(long)]
    stats: bool,
    /// RX wakeup policy, the same as nmxdp's (NMXDP_RX_NAP_US): when at least `DENSE_FRAMES`
    /// frames arrived since the last wait, nap this many microseconds instead of sleeping on the
    /// socket; 0 always sleeps on the socket.
    #[arg(long, default_value_t = 50)]
    nap_us: u64,
}

fn main() {
    let args: Args = start();
    match run(&args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("xdp-raw: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let c = &args.common;
    let ifname = c.ifname();
    let (tx_n, rx_n) = (
        args.tx_ring.next_power_of_two(),
        args.rx_ring.next_power_of_two(),
    );
    let frames = match c.function {
        Function::Tx => tx_n,
        Function::Rx => rx_n,
    };
    let sizes = RingSizes {
        rx: rx_n,
        tx: tx_n,
        fill: rx_n,
        comp: tx_n,
    };
    let mut x = Xsk::open(ifname, &args.sock, sizes, frames)?;
    let tally = match c.function {
        Function::Tx => {
            eprintln!("xdp-raw: {ifname} bind={}", x.sock.mode.as_str());
            c.banner(1);
            tx(c, &mut x, tx_n)?
        }
        Function::Rx => {
            // The fill ring gets every frame before traffic is steered to the socket.
            x.fill_first(rx_n);
            let mut xdp = x.steer(args.sock.xdp_mode)?;
            eprintln!(
                "xdp-raw: {ifname} xdp={} bind={}",
                xdp.mode.as_str(),
                x.sock.mode.as_str()
            );
            c.banner(1);
            let t = rx(c, &mut x.sock, args.nap_us)?;
            xdp.remove(x.queue);
            t
        }
    };
    if args.stats {
        x.print_stats("xdp-raw");
    }
    tally.print(c.function);
    Ok(())
}

fn tx(c: &Common, x: &mut Xsk, frames: u32) -> Result<Tally> {
    let len = c.len as usize;
    if len as u64 > CHUNK - XDP_PACKET_HEADROOM {
        bail!(
            "frame length {len} exceeds the {} bytes of a chunk",
            CHUNK - XDP_PACKET_HEADROOM
        );
    }
    // Every frame is written once; afterwards only its sequence number changes (as pkt-gen).
    let tmpl = frame::build(&FrameSpec::defaults(x.mac, len));
    let mut free = FreeFrames::new(frames);
    for i in 0..frames as u64 {
        let addr = i * CHUNK + XDP_PACKET_HEADROOM;
        // SAFETY: the frame lies within chunk i of the UMEM; nothing else references it.
        unsafe { x.umem.slice_mut(addr as usize, len) }.copy_from_slice(&tmpl);
        free.push(addr);
    }
    let quota = c.count;
    let mut t = Tally {
        tic: Some(Instant::now()),
        ..Default::default()
    };
    while !stopped() && (quota == 0 || t.pkts < quota) {
        x.reap(&mut free);
        let mut want = (c.batch as u64).min(free.len() as u64);
        if quota > 0 {
            want = want.min(quota - t.pkts);
        }
        let want = want as u32;
        let k = if want > 0 {
            x.sock.tx.free(want).min(want)
        } else {
            0
        };
        for i in 0..k {
            let addr = free.pop();
            if len >= frame::SEQ_OFF + 8 {
                // SAFETY: the sequence number lies within the frame, inside the UMEM; the kernel
                // does not read a frame until it is posted.
                unsafe {
                    x.umem
                        .ptr
                        .add(addr as usize + frame::SEQ_OFF)
                        .cast::<u64>()
                        .write_unaligned((t.pkts + i as u64).to_le())
                };
            }
            x.sock.tx.write(
                i,
                xdp_desc {
                    addr,
                    len: len as u32,
                    options: 0,
                },
            );
        }
        if k > 0 {
            x.sock.tx.submit(k);
            t.pkts += k as u64;
            t.events += 1;
        }
        if x.sock.tx.outstanding() > 0 {
            x.kick()?;
        } else if k == 0 && free.is_empty() {
            // Completions are asynchronous here (not veth): wait a little for them.
            poll_one(x.sock.fd(), libc::POLLOUT, Duration::from_millis(1));
        }
    }
    // Drain: every posted frame completes.
    let start = Instant::now();
    loop {
        x.reap(&mut free);
        if free.len() == frames {
            break;
        }
        if start.elapsed() >= DRAIN_LIMIT {
            eprintln!(
                "xdp-raw: warning: {} frame(s) still in flight after {} s",
                frames - free.len(),
                DRAIN_LIMIT.as_secs()
            );
            break;
        }
        if x.sock.tx.outstanding() > 0 {
            x.kick()?;
        } else {
            std::thread::sleep(Duration::from_micros(1));
        }
    }
    t.toc = Some(Instant::now());
    t.bytes = t.pkts * len as u64;
    Ok(t)
}

fn rx(c: &Common, sock: &mut XskSocket, nap_us: u64) -> Result<Tally> {
    let nap = Duration::from_micros(nap_us);
    // Frames since the last wait: a nap only in a stream, as nmxdp's poll decides.
    let mut since_wait = 0u64;
    let quota = c.count;
    let idle = Duration::from_millis(c.idle_ms.max(1));
    let mut t = Tally::default();
    // Unbounded wait for the first packet.
    while sock.rx.available(1) == 0 {
        if stopped() {
            return Ok(t);
        }
        if poll_one(sock.fd(), libc::POLLIN, Duration::from_millis(1000)) == 0 {
            eprintln!("xdp-raw: waiting for initial packets");
        }
    }
    t.tic = Some(Instant::now());
    let mut last = Instant::now();
    while !stopped() && (quota == 0 || t.pkts < quota) {
        let mut max = c.batch;
        if quota > 0 {
            max = max.min((quota - t.pkts).min(u32::MAX as u64) as u32);
        }
        let n = sock.rx.available(max);
        if n == 0 {
            if sock.fill.needs_wakeup() {
                kick_rx(sock.fd());
            }
            let dense = since_wait >= DENSE_FRAMES;
            since_wait = 0;
            if dense && !nap.is_zero() {
                std::thread::sleep(nap);
                continue;
            }
            if poll_one(sock.fd(), libc::POLLIN, idle) == 0 && sock.rx.available(1) == 0 {
                break;
            }
            continue;
        }
        // The fill ring is as large as the UMEM, so it always has room for what came back.
        let room = sock.fill.free(n);
        debug_assert!(room >= n);
        let mut bytes = 0u64;
        for k in 0..n {
            let d = sock.rx.read(k);
            bytes += d.len as u64;
            sock.fill.write(k, d.addr & !(CHUNK - 1));
        }
        sock.fill.submit(n);
        sock.rx.release(n);
        t.pkts += n as u64;
        t.bytes += bytes;
        t.events += 1;
        last = Instant::now();
        since_wait += n as u64;
    }
    t.toc = Some(if quota > 0 && t.pkts >= quota {
        Instant::now()
    } else {
        last
    });
    Ok(t)
}
