//! xdp-pingpong: the raw AF_XDP round trip of `make bench`'s latency section. One socket on the
//! rings nmxdp uses (set up by [`nmxdp_bench::afxdp`] as `xdp-raw` sets up its own: same chunks,
//! bind, XDP program, `XDP_USE_NEED_WAKEUP`), with the ring sizes of an nmxdp port of 1024 slots
//! (1024 TX/completion entries, 2048 RX/fill entries).
//!
//! ```text
//! xdp-pingpong -i vb -f pong [--busy-wait]          # in one namespace
//! xdp-pingpong -i va -f ping -n 10000 -l 60 [--busy-wait]   # in the other
//! ```
//!
//! ping sends pkt-gen's frame with a sequence number, one at a time, and prints the `latency:`
//! line; pong sends each frame back from the chunk it arrived in, Ethernet addresses swapped.
//! Without `--busy-wait` both sleep in `poll(2)` on the socket; with it they spin on the RX ring.
//! TX is kicked with `sendto` when the kernel asks for it (always in copy mode).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use nmxdp::sys::{xdp_desc, XDP_PACKET_HEADROOM};
use nmxdp::xsk::{kick_rx, RingSizes};
use nmxdp_bench::afxdp::{FreeFrames, SockArgs, Xsk, CHUNK};
use nmxdp_bench::app::{poll_one, start};
use nmxdp_bench::pingpong::{run_ping, run_pong, until, Echoer, PingPongArgs, Pinger, Role};
use pkt_gen::frame::{self, FrameSpec, SEQ_END, SEQ_OFF};

/// nmxdp's default slots per ring: its TX ring, and half its RX/fill rings.
const SLOTS: u32 = 1024;
/// Frames the pong side sends back per round at most.
const BATCH: u32 = 64;
/// Spins between two looks at the clock while waiting for an echo.
const SPINS_PER_CLOCK: u32 = 64;

/// Raw AF_XDP ping-pong (the latency section's baseline).
#[derive(Debug, Parser)]
#[command(name = "xdp-pingpong")]
struct Args {
    /// Interface (a `netmap:` prefix is accepted and ignored).
    #[arg(short = 'i', value_name = "IFNAME")]
    iface: String,
    #[command(flatten)]
    pp: PingPongArgs,
    #[command(flatten)]
    sock: SockArgs,
    /// Print the socket's XDP_STATISTICS on stderr at the end.
    #[arg(long)]
    stats: bool,
}

fn main() {
    let args: Args = start();
    if let Err(e) = run(&args) {
        eprintln!("xdp-pingpong: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let ifname = args.iface.strip_prefix("netmap:").unwrap_or(&args.iface);
    let ifname = ifname.split(['@', '/']).next().unwrap_or(ifname);
    let (rx_n, tx_n) = (2 * SLOTS, SLOTS);
    let sizes = RingSizes {
        rx: rx_n,
        tx: tx_n,
        fill: rx_n,
        comp: tx_n,
    };
    // Chunks 0..rx_n go to the fill ring, the others are ping's TX frames.
    let mut x = Xsk::open(ifname, &args.sock, sizes, rx_n + tx_n)?;
    x.fill_first(rx_n);
    let mut xdp = x.steer(args.sock.xdp_mode)?;
    eprintln!(
        "xdp-pingpong: {ifname} xdp={} bind={}",
        xdp.mode.as_str(),
        x.sock.mode.as_str()
    );
    let busy = args.pp.busy_wait;
    args.pp.ready(ifname);
    match args.pp.role {
        Role::Ping => {
            let len = args.pp.len;
            let free = tx_frames(&mut x, rx_n, tx_n, len as usize);
            run_ping(
                &args.pp,
                &mut Ping {
                    x: &mut x,
                    free,
                    len,
                    busy,
                },
            )?;
        }
        Role::Pong => run_pong(&args.pp, &mut Pong { x: &mut x, busy })?,
    }
    xdp.remove(x.queue);
    if args.stats {
        x.print_stats("xdp-pingpong");
    }
    Ok(())
}

/// Writes pkt-gen's frame into chunks `first..first + n` (afterwards only the sequence number
/// changes) and lists them as free TX frames.
fn tx_frames(x: &mut Xsk, first: u32, n: u32, len: usize) -> FreeFrames {
    let tmpl = frame::build(&FrameSpec::defaults(x.mac, len));
    let mut free = FreeFrames::new(n);
    for i in first..first + n {
        let addr = i as u64 * CHUNK + XDP_PACKET_HEADROOM;
        // SAFETY: the frame lies within chunk i of the UMEM, which the kernel does not own (it is
        // in neither the fill nor the TX ring).
        unsafe { x.umem.slice_mut(addr as usize, len) }.copy_from_slice(&tmpl);
        free.push(addr);
    }
    free
}

/// Gives a received chunk back to the fill ring (as large as the RX chunks, so never full).
#[inline]
fn refill(x: &mut Xsk, addr: u64) {
    let room = x.sock.fill.free(1);
    debug_assert!(room >= 1);
    x.sock.fill.write(0, addr & !(CHUNK - 1));
    x.sock.fill.submit(1);
}

/// Kicks the fill ring when the kernel asks (zero-copy drivers; never in copy mode).
#[inline]
fn kick_fill(x: &Xsk) {
    if x.sock.fill.needs_wakeup() {
        kick_rx(x.sock.fd());
    }
}

/// Sleeps in poll(2) until the RX ring has something or `wait` passed.
#[inline]
fn sleep_rx(x: &Xsk, wait: Duration) {
    kick_fill(x);
    poll_one(x.sock.fd(), libc::POLLIN, wait);
}

struct Ping<'a> {
    x: &'a mut Xsk,
    free: FreeFrames,
    len: u32,
    busy: bool,
}

impl Pinger for Ping<'_> {
    fn send(&mut self, seq: u64) -> Result<()> {
        // On veth a copy-mode send completes within the sendto; elsewhere wait a little.
        let give_up = Instant::now() + Duration::from_secs(1);
        while self.x.reap(&mut self.free) == 0 && self.free.is_empty() {
            if Instant::now() >= give_up {
                bail!("no TX frame completed within 1 s");
            }
            self.x.kick()?;
            poll_one(self.x.sock.fd(), libc::POLLOUT, Duration::from_millis(1));
        }
        let addr = self.free.pop();
        // SAFETY: the sequence number lies within a free TX frame of the UMEM; the kernel does
        // not read it before it is posted below.
        unsafe {
            self.x
                .umem
                .slice_mut(addr as usize + SEQ_OFF, SEQ_END - SEQ_OFF)
        }
        .copy_from_slice(&seq.to_le_bytes());
        // The TX ring holds as many entries as there are TX frames: one is free.
        let room = self.x.sock.tx.free(1);
        debug_assert!(room >= 1);
        self.x.sock.tx.write(
            0,
            xdp_desc {
                addr,
                len: self.len,
                options: 0,
            },
        );
        self.x.sock.tx.submit(1);
        self.x.kick()
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<u64>> {
        let mut spins = 0u32;
        while self.x.sock.rx.available(1) == 0 {
            if self.busy {
                spins += 1;
                if spins.is_multiple_of(SPINS_PER_CLOCK) {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    kick_fill(self.x);
                }
                std::hint::spin_loop();
            } else {
                let Some(wait) = until(deadline) else {
                    return Ok(None);
                };
                sleep_rx(self.x, wait);
            }
        }
        let d = self.x.sock.rx.read(0);
        let seq = if d.len as usize >= SEQ_END {
            let mut b = [0u8; 8];
            // SAFETY: the kernel handed this frame over in the RX ring; it lies within the UMEM.
            b.copy_from_slice(unsafe { self.x.umem.slice_mut(d.addr as usize + SEQ_OFF, 8) });
            u64::from_le_bytes(b)
        } else {
            u64::MAX
        };
        self.x.sock.rx.release(1);
        refill(self.x, d.addr);
        Ok(Some(seq))
    }
}

struct Pong<'a> {
    x: &'a mut Xsk,
    busy: bool,
}

impl Pong<'_> {
    /// Sent chunks go back to the fill ring.
    #[inline]
    fn recycle(&mut self) {
        let s = &mut self.x.sock;
        let n = s.comp.available(u32::MAX);
        if n == 0 {
            return;
        }
        let room = s.fill.free(n);
        debug_assert!(room >= n);
        for k in 0..n {
            s.fill.write(k, s.comp.read(k) & !(CHUNK - 1));
        }
        s.fill.submit(n);
        s.comp.release(n);
    }
}

impl Echoer for Pong<'_> {
    fn echo(&mut self, wait: Duration) -> Result<u64> {
        self.recycle();
        let mut n = self.x.sock.rx.available(BATCH);
        if n == 0 {
            if self.busy {
                kick_fill(self.x);
                std::hint::spin_loop();
                return Ok(0);
            }
            sleep_rx(self.x, wait);
            n = self.x.sock.rx.available(BATCH);
            if n == 0 {
                return Ok(0);
            }
        }
        let k = self.x.sock.tx.free(n).min(n);
        for i in 0..k {
            let d = self.x.sock.rx.read(i);
            if d.len >= 12 {
                // SAFETY: the frame came in the RX ring, lies within the UMEM, and is the only
                // reference to those bytes until it is posted for TX below.
                let mac = unsafe { self.x.umem.slice_mut(d.addr as usize, 12) };
                let (dst, src) = mac.split_at_mut(6);
                dst.swap_with_slice(src);
            }
            self.x.sock.tx.write(
                i,
                xdp_desc {
                    addr: d.addr,
                    len: d.len,
                    options: 0,
                },
            );
        }
        self.x.sock.tx.submit(k);
        self.x.sock.rx.release(k);
        self.x.kick()?;
        self.recycle();
        Ok(k as u64)
    }
}
