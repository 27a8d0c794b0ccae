//! udp-pingpong: the kernel's UDP sockets round trip of `make bench`'s latency section, between two
//! processes, each blocked in `recv` until the datagram arrives.
//!
//! ```text
//! udp-pingpong -f pong --local 192.168.77.2:7777                                 # one namespace
//! udp-pingpong -f ping -n 10000 -l 60 --local 192.168.77.1:7777 --peer 192.168.77.2:7777
//! ```
//!
//! `-l` is the Ethernet frame's length, as for the other rows: the datagram carries `LEN - 42`
//! bytes (Ethernet, IPv4 and UDP headers off), the sequence number in its first 8 (little-endian,
//! as in pkt-gen's frame). ping prints the `latency:` line; pong sends each datagram back to where
//! it came from.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use nmxdp_bench::app::start;
use nmxdp_bench::pingpong::{run_ping, run_pong, Echoer, PingPongArgs, Pinger, Role, RESEND};
use pkt_gen::frame::HEADERS;

/// Kernel UDP sockets ping-pong (the latency section's kernel baseline).
#[derive(Debug, Parser)]
#[command(name = "udp-pingpong")]
struct Args {
    #[command(flatten)]
    pp: PingPongArgs,
    /// Address to bind.
    #[arg(long, value_name = "IP:PORT")]
    local: SocketAddr,
    /// ping: where pong listens.
    #[arg(long, value_name = "IP:PORT", required_if_eq("role", "ping"))]
    peer: Option<SocketAddr>,
}

fn main() {
    let args: Args = start();
    if let Err(e) = run(&args) {
        eprintln!("udp-pingpong: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    if args.pp.busy_wait {
        bail!("--busy-wait: this program only blocks in recv");
    }
    let sock = UdpSocket::bind(args.local).with_context(|| format!("binding {}", args.local))?;
    // Also how often a blocked side looks at SIGINT/SIGTERM (recv restarts after a signal).
    sock.set_read_timeout(Some(RESEND)).context("SO_RCVTIMEO")?;
    let payload = args.pp.len as usize - HEADERS;
    args.pp.ready(&args.local.to_string());
    match args.pp.role {
        Role::Ping => {
            let peer = args.peer.context("ping needs --peer")?;
            sock.connect(peer)
                .with_context(|| format!("connecting to {peer}"))?;
            let mut p = Ping {
                sock,
                buf: vec![0; payload],
                timeout: RESEND,
            };
            run_ping(&args.pp, &mut p)
        }
        Role::Pong => run_pong(
            &args.pp,
            &mut Pong {
                sock,
                // Room for a datagram longer than ours (it comes back cut to our size).
                buf: vec![0; 2048],
            },
        ),
    }
}

/// Is this error a receive timeout (or a signal)?
fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

struct Ping {
    sock: UdpSocket,
    buf: Vec<u8>,
    /// The receive timeout set on the socket.
    timeout: Duration,
}

impl Pinger for Ping {
    fn send(&mut self, seq: u64) -> Result<()> {
        self.buf[..8].copy_from_slice(&seq.to_le_bytes());
        match self.sock.send(&self.buf) {
            Ok(_) => Ok(()),
            // ICMP port unreachable from a pong not there yet, or a full queue: a lost ping.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::WouldBlock
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("send"),
        }
    }

    fn recv(&mut self, deadline: Instant) -> Result<Option<u64>> {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Ok(None);
        };
        // Right after a send the socket's timeout is the right one; after a stray datagram it is
        // cut to what is left (a rare extra system call).
        if left.is_zero() {
            return Ok(None);
        }
        if self.timeout.abs_diff(left) > Duration::from_millis(1) {
            self.sock
                .set_read_timeout(Some(left))
                .context("SO_RCVTIMEO")?;
            self.timeout = left;
        }
        match self.sock.recv(&mut self.buf) {
            Ok(n) if n >= 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[..8]);
                Ok(Some(u64::from_le_bytes(b)))
            }
            Ok(_) => Ok(Some(u64::MAX)),
            Err(e) if timed_out(&e) => Ok(None),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(None),
            Err(e) => Err(e).context("recv"),
        }
    }
}

struct Pong {
    sock: UdpSocket,
    buf: Vec<u8>,
}

impl Echoer for Pong {
    fn echo(&mut self, _wait: Duration) -> Result<u64> {
        // Blocks up to the socket's timeout (RESEND).
        match self.sock.recv_from(&mut self.buf) {
            Ok((n, from)) => match self.sock.send_to(&self.buf[..n], from) {
                Ok(_) => Ok(1),
                Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e).context("send_to"),
            },
            Err(e) if timed_out(&e) => Ok(0),
            Err(e) => Err(e).context("recv_from"),
        }
    }
}
