//! What the raw AF_XDP programs (`xdp-raw`, `xdp-pingpong`) share: one socket on nmxdp's thin
//! ring wrappers (`nmxdp::xsk`) over a UMEM of their own, set up as nmxdp sets up a port
//! (2048-byte chunks, or `--chunk 4096`, with data at offset 256, zero-copy bind falling back
//! to copy,
//! `XDP_USE_NEED_WAKEUP`, nmxdp's XDP program attached through `nmxdp::xdp::XdpAttachment`,
//! native first), the TX kick, and the free list of TX frames.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use nmxdp::config::XdpModeChoice;
use nmxdp::ifinfo::if_info;
use nmxdp::xdp::XdpAttachment;
use nmxdp::xsk::{kick_tx, BindAs, BindMode, RingSizes, UmemSpec, XskSocket};

use crate::app::Mapping;

/// UMEM chunk size, nmxdp's default `NMXDP_BUF_SIZE`.
pub const CHUNK: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bind {
    Auto,
    Copy,
    Zc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XdpMode {
    Auto,
    Native,
    Skb,
}

/// The socket options the raw programs share (`--bind`, `--xdp-mode`, `-q`).
#[derive(Debug, Clone, Args)]
pub struct SockArgs {
    /// Queue to bind.
    #[arg(short = 'q', value_name = "QUEUE", default_value_t = 0)]
    pub queue: u32,
    #[arg(long, value_enum, default_value_t = Bind::Auto)]
    pub bind: Bind,
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub xdp_mode: XdpMode,
}

/// One AF_XDP socket, its UMEM and the interface it is bound to. The socket is declared (and so
/// dropped) before the UMEM it registered.
pub struct Xsk {
    pub sock: XskSocket,
    pub umem: Mapping,
    pub ifname: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub queue: u32,
    /// UMEM chunk size (`--chunk`).
    pub chunk: u64,
}

impl Xsk {
    /// A socket on `ifname` queue `args.queue` with ring sizes `sizes` (each rounded up to a
    /// power of two) over a fresh UMEM of `frames` chunks of [`CHUNK`] bytes.
    pub fn open(ifname: &str, args: &SockArgs, sizes: RingSizes, frames: u32) -> Result<Xsk> {
        Xsk::open_chunked(ifname, args, sizes, frames, CHUNK)
    }

    /// [`Xsk::open`] with chunks of `chunk` bytes (a power of two, nmxdp's `NMXDP_BUF_SIZE`).
    pub fn open_chunked(
        ifname: &str,
        args: &SockArgs,
        sizes: RingSizes,
        frames: u32,
        chunk: u64,
    ) -> Result<Xsk> {
        let info = if_info(ifname).with_context(|| format!("interface {ifname}"))?;
        if args.queue >= info.rx_queues.max(info.tx_queues) {
            bail!("{ifname} has no queue {}", args.queue);
        }
        let umem = Mapping::anonymous((frames as u64 * chunk) as usize).context("UMEM mmap")?;
        let mode = match args.bind {
            Bind::Auto => None,
            Bind::Copy => Some(BindMode::Copy),
            Bind::Zc => Some(BindMode::ZeroCopy),
        };
        let p2 = |n: u32| n.next_power_of_two();
        let sock = XskSocket::open(
            info.ifindex,
            args.queue,
            RingSizes {
                rx: p2(sizes.rx),
                tx: p2(sizes.tx),
                fill: p2(sizes.fill),
                comp: p2(sizes.comp),
            },
            &BindAs::Owner {
                // SAFETY: the mapping outlives the socket (`Xsk` drops the socket first) and only
                // the ring protocol touches its chunks.
                umem: unsafe { UmemSpec::new(umem.ptr, umem.len as u64, chunk as u32) },
                mode,
            },
        )
        .with_context(|| format!("AF_XDP socket on {ifname} queue {}", args.queue))?;
        Ok(Xsk {
            sock,
            umem,
            ifname: ifname.to_string(),
            ifindex: info.ifindex,
            mac: info.mac,
            queue: args.queue,
            chunk,
        })
    }

    /// Gives chunks `0..n` to the fill ring (it must have room for them).
    pub fn fill_first(&mut self, n: u32) {
        for i in 0..n {
            self.sock.fill.write(i, i as u64 * self.chunk);
        }
        self.sock.fill.submit(n);
    }

    /// Attaches nmxdp's XDP program to the interface and steers this socket's queue to it; the
    /// queue goes back to the kernel when the attachment is dropped (or [`XdpAttachment::remove`]).
    pub fn steer(&self, mode: XdpMode) -> Result<XdpAttachment> {
        let choice = match mode {
            XdpMode::Auto => XdpModeChoice::Auto,
            XdpMode::Native => XdpModeChoice::Native,
            XdpMode::Skb => XdpModeChoice::Skb,
        };
        let mut xdp = XdpAttachment::attach(&self.ifname, self.ifindex, choice)
            .context("attaching the XDP program")?;
        xdp.insert(self.queue, self.sock.fd())
            .context("steering the queue to the socket")?;
        Ok(xdp)
    }

    /// Kicks the TX ring when the kernel asks (always in copy mode). Fails only if the device is
    /// gone.
    #[inline]
    pub fn kick(&mut self) -> Result<()> {
        if self.sock.tx.needs_wakeup() {
            match kick_tx(self.sock.fd()) {
                libc::ENETDOWN | libc::ENXIO | libc::ENODEV => bail!("the interface went down"),
                _ => {} // 0, EAGAIN (budget), EBUSY (dropped frame), ENOBUFS: carry on
            }
        }
        Ok(())
    }

    /// Returns completed TX frames to `free`; how many.
    #[inline]
    pub fn reap(&mut self, free: &mut FreeFrames) -> u32 {
        let comp = &mut self.sock.comp;
        let n = comp.available(u32::MAX);
        for k in 0..n {
            free.push(comp.read(k));
        }
        if n > 0 {
            comp.release(n);
        }
        n
    }

    /// The socket's XDP_STATISTICS on stderr, prefixed with `who`.
    pub fn print_stats(&self, who: &str) {
        if let Ok(s) = self.sock.statistics() {
            eprintln!(
                "{who} stats: rx_dropped={} rx_ring_full={} rx_fill_ring_empty={} rx_invalid={} tx_invalid={} tx_ring_empty={}",
                s.rx_dropped, s.rx_ring_full, s.rx_fill_ring_empty_descs, s.rx_invalid_descs,
                s.tx_invalid_descs, s.tx_ring_empty_descs
            );
        }
    }
}

/// Free UMEM frames, oldest first (so a sender cycles through all of them, as nmxdp's ring
/// does).
pub struct FreeFrames {
    addr: Vec<u64>,
    head: u32,
    tail: u32,
    mask: u32,
}

impl FreeFrames {
    /// Room for `frames` addresses (a power of two), empty.
    pub fn new(frames: u32) -> FreeFrames {
        assert!(frames.is_power_of_two());
        FreeFrames {
            addr: vec![0; frames as usize],
            head: 0,
            tail: 0,
            mask: frames - 1,
        }
    }
    #[inline]
    pub fn len(&self) -> u32 {
        self.tail.wrapping_sub(self.head)
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline]
    pub fn push(&mut self, a: u64) {
        self.addr[(self.tail & self.mask) as usize] = a;
        self.tail = self.tail.wrapping_add(1);
    }
    /// The oldest free frame (the list must not be empty).
    #[inline]
    pub fn pop(&mut self) -> u64 {
        debug_assert!(!self.is_empty());
        let a = self.addr[(self.head & self.mask) as usize];
        self.head = self.head.wrapping_add(1);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_frames_fifo() {
        let mut f = FreeFrames::new(4);
        assert!(f.is_empty());
        for a in [10, 20, 30, 40] {
            f.push(a);
        }
        assert_eq!(f.len(), 4);
        assert_eq!((f.pop(), f.pop()), (10, 20));
        f.push(50);
        assert_eq!((f.pop(), f.pop(), f.pop()), (30, 40, 50));
        assert!(f.is_empty());
    }
}
