//! xdp-raw: the AF_XDP baseline of `make bench`. Sends or receives straight on one socket's
//! rings (nmxdp's thin ring wrappers in `nmxdp::xsk`), without the netmap layer, with what nmxdp
//! uses on the same interface: 2048-byte UMEM chunks with data at offset 256, zero-copy bind
//! falling back to copy, `XDP_USE_NEED_WAKEUP`, the same XDP program (native first) for RX, the
//! same ring sizes (1024 TX entries; 8192 RX/fill entries = nmxdp's `rx-slots=4096` port, whose
//! fill ring holds twice the slots) and pkt-gen's batch (`-b 512`).
//!
//! Frames longer than a chunk's room (chunk - 256) are multi-buffer: on a socket bound with
//! `XDP_USE_SG` (veth, copy mode) a frame is a chain of descriptors, `XDP_PKT_CONTD` on all but
//! the last, one chunk each. The sender writes each frame's pieces once into a fixed group of
//! chunks and afterwards only its sequence number; the receiver counts frames (descriptors
//! without `XDP_PKT_CONTD`) and bytes. `--chunk 4096` is nmxdp's `NMXDP_BUF_SIZE=4096`.
//!
//! ```text
//! xdp-raw -i vb -f rx -n 1000000
//! xdp-raw -i va -f tx -n 1000000 -l 60
//! xdp-raw -i va -f tx -n 1000000 -l 9000 [--chunk 4096]   # MTU 9000 on both ends
//! ```
//! Prints pkt-gen's banner and final summary.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use nmxdp::port_poll::DENSE_SLOTS;
use nmxdp::sys::{xdp_desc, XDP_PACKET_HEADROOM, XDP_PKT_CONTD};
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
    /// RX wakeup policy, the same as nmxdp's (NMXDP_RX_NAP_US): when at least `DENSE_SLOTS`
    /// descriptors arrived since the last wait, nap this many microseconds instead of sleeping on the
    /// socket; 0 always sleeps on the socket.
    #[arg(long, default_value_t = 50)]
    nap_us: u64,
    /// UMEM chunk size (nmxdp's NMXDP_BUF_SIZE): 2048 or 4096.
    #[arg(long, default_value_t = CHUNK, value_parser = parse_chunk)]
    chunk: u64,
}

fn parse_chunk(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(v @ (2048 | 4096)) => Ok(v),
        _ => Err(format!("{s}: 2048 or 4096")),
    }
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
    let mut x = Xsk::open_chunked(ifname, &args.sock, sizes, frames, args.chunk)?;
    let mb = if x.sock.multi_buffer {
        " multi-buffer"
    } else {
        ""
    };
    let tally = match c.function {
        Function::Tx => {
            eprintln!("xdp-raw: {ifname} bind={}{mb}", x.sock.mode.as_str());
            c.banner(1);
            tx(c, &mut x, tx_n)?
        }
        Function::Rx => {
            // The fill ring gets every frame before traffic is steered to the socket.
            x.fill_first(rx_n);
            let mut xdp = x.steer(args.sock.xdp_mode)?;
            eprintln!(
                "xdp-raw: {ifname} xdp={} bind={}{mb}",
                xdp.mode.as_str(),
                x.sock.mode.as_str()
            );
            c.banner(1);
            let t = rx(c, &mut x.sock, args.nap_us, x.chunk)?;
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

/// How a sender's frames lie in the UMEM: frame group `g` takes chunks `g * frags ..
/// (g + 1) * frags`, piece `p` of the frame at chunk `g * frags + p`, the last piece `last`
/// bytes long and the others `room`.
struct Groups {
    chunk: u64,
    room: u64,
    frags: u32,
    last: u32,
}

impl Groups {
    fn new(len: usize, chunk: u64) -> Groups {
        let room = chunk - XDP_PACKET_HEADROOM;
        let frags = (len as u64).div_ceil(room) as u32;
        Groups {
            chunk,
            room,
            frags,
            last: (len as u64 - (frags as u64 - 1) * room) as u32,
        }
    }

    /// UMEM address of piece `p` of group `base` (the group's first chunk's address).
    #[inline]
    fn piece(&self, base: u64, p: u32) -> u64 {
        base + p as u64 * self.chunk
    }

    /// The group whose last piece is at `addr`, if it is one (completions come per
    /// descriptor, in order; a group is free again once its last piece completed).
    #[inline]
    fn freed_by(&self, addr: u64) -> Option<u64> {
        let c = (addr - XDP_PACKET_HEADROOM) / self.chunk;
        let f = self.frags as u64;
        (c % f == f - 1).then(|| (c - (f - 1)) * self.chunk + XDP_PACKET_HEADROOM)
    }
}

fn tx(c: &Common, x: &mut Xsk, frames: u32) -> Result<Tally> {
    let len = c.len as usize;
    let g = Groups::new(len, x.chunk);
    if g.frags > 1 && !x.sock.multi_buffer {
        bail!(
            "frame length {len} exceeds the {} bytes of a chunk and the socket is not multi-buffer (XDP_USE_SG)",
            g.room
        );
    }
    // Every frame is written once into its group; afterwards only its sequence number changes
    // (as pkt-gen).
    let tmpl = frame::build(&FrameSpec::defaults(x.mac, len));
    // The free list wants a power of two: the most groups the chunks hold, rounded down.
    let fit = (frames / g.frags).max(1);
    let groups = if fit.is_power_of_two() {
        fit
    } else {
        fit.next_power_of_two() / 2
    };
    let mut free = FreeFrames::new(groups);
    for k in 0..groups as u64 {
        let base = k * g.frags as u64 * g.chunk + XDP_PACKET_HEADROOM;
        for (p, piece) in tmpl.chunks(g.room as usize).enumerate() {
            let addr = g.piece(base, p as u32);
            // SAFETY: the piece lies within its own chunk of the UMEM; nothing else references it.
            unsafe { x.umem.slice_mut(addr as usize, piece.len()) }.copy_from_slice(piece);
        }
        free.push(base);
    }
    let quota = c.count;
    let mut t = Tally {
        tic: Some(Instant::now()),
        ..Default::default()
    };
    while !stopped() && (quota == 0 || t.pkts < quota) {
        reap(x, &g, &mut free);
        let mut want = (c.batch as u64).min(free.len() as u64);
        if quota > 0 {
            want = want.min(quota - t.pkts);
        }
        let want = want as u32;
        // Whole frames only: descriptors for `k` frames.
        let k = if want > 0 {
            x.sock.tx.free(want * g.frags).min(want * g.frags) / g.frags
        } else {
            0
        };
        for i in 0..k {
            let base = free.pop();
            if len >= frame::SEQ_OFF + 8 {
                // SAFETY: the sequence number lies within the first piece, inside the UMEM; the
                // kernel does not read a frame until it is posted.
                unsafe {
                    x.umem
                        .ptr
                        .add(base as usize + frame::SEQ_OFF)
                        .cast::<u64>()
                        .write_unaligned((t.pkts + i as u64).to_le())
                };
            }
            for p in 0..g.frags {
                let more = p + 1 < g.frags;
                x.sock.tx.write(
                    i * g.frags + p,
                    xdp_desc {
                        addr: g.piece(base, p),
                        len: if more { g.room as u32 } else { g.last },
                        options: if more { XDP_PKT_CONTD } else { 0 },
                    },
                );
            }
        }
        if k > 0 {
            x.sock.tx.submit(k * g.frags);
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
        reap(x, &g, &mut free);
        if free.len() == groups {
            break;
        }
        if start.elapsed() >= DRAIN_LIMIT {
            eprintln!(
                "xdp-raw: warning: {} frame(s) still in flight after {} s",
                groups - free.len(),
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

/// Returns the groups whose frames completed to `free`.
#[inline]
fn reap(x: &mut Xsk, g: &Groups, free: &mut FreeFrames) {
    if g.frags == 1 {
        x.reap(free);
        return;
    }
    let comp = &mut x.sock.comp;
    let n = comp.available(u32::MAX);
    for k in 0..n {
        if let Some(base) = g.freed_by(comp.read(k)) {
            free.push(base);
        }
    }
    if n > 0 {
        comp.release(n);
    }
}

fn rx(c: &Common, sock: &mut XskSocket, nap_us: u64, chunk: u64) -> Result<Tally> {
    let nap = Duration::from_micros(nap_us);
    // Descriptors since the last wait: a nap only in a stream, as nmxdp's poll decides.
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
            let dense = since_wait >= DENSE_SLOTS;
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
        let (mut bytes, mut frames) = (0u64, 0u64);
        for k in 0..n {
            let d = sock.rx.read(k);
            bytes += d.len as u64;
            // A frame ends at its descriptor without XDP_PKT_CONTD.
            frames += u64::from(d.options & XDP_PKT_CONTD == 0);
            sock.fill.write(k, d.addr & !(chunk - 1));
        }
        sock.fill.submit(n);
        sock.rx.release(n);
        t.pkts += frames;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cut_frames_and_free_on_the_last_piece() {
        let g = Groups::new(9000, 2048);
        assert_eq!((g.room, g.frags, g.last), (1792, 6, 40));
        let base = 6 * 2048 + XDP_PACKET_HEADROOM; // group 1
        assert_eq!(g.piece(base, 5), 11 * 2048 + XDP_PACKET_HEADROOM);
        assert_eq!(g.freed_by(g.piece(base, 4)), None);
        assert_eq!(g.freed_by(g.piece(base, 5)), Some(base));
        let one = Groups::new(60, 2048);
        assert_eq!((one.frags, one.last), (1, 60));
        assert_eq!(one.freed_by(2048 + 256), Some(2048 + 256));
        assert_eq!(Groups::new(9000, 4096).frags, 3);
    }
}
