//! af-packet: the stock-kernel comparison of `make bench`, with the fastest AF_PACKET setup:
//!
//! * rx: a `TPACKET_V3` ring (`PACKET_RX_RING`, 16 blocks of 1 MiB = the 16 MiB an nmxdp
//!   `rx-slots=4096` receiver has in flight, 4 ms block retire timeout), `poll()` on the socket
//!   when the current block is still the kernel's; every packet of a block is counted;
//! * tx: a `TPACKET_V2` ring (`PACKET_TX_RING`, 1024 frames of 2048 bytes like nmxdp's TX ring),
//!   frames written once, then per packet only the sequence number, `tp_len` and the status;
//!   one `sendto(fd, NULL, 0, 0, NULL, 0)` per batch (`-b`, default 512), `PACKET_QDISC_BYPASS`.
//!
//! The socket is bound to the interface. Prints pkt-gen's banner and final summary.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use nmxdp::ifinfo::if_info;
use nmxdp_bench::app::{poll_one, start, stopped, Common, Function, Mapping, Tally};
use pkt_gen::frame::{self, FrameSpec};

const SOL_PACKET: i32 = 263;
const PACKET_RX_RING: i32 = 5;
const PACKET_STATISTICS: i32 = 6;
const PACKET_VERSION: i32 = 10;
const PACKET_TX_RING: i32 = 13;
const PACKET_QDISC_BYPASS: i32 = 20;
const TPACKET_V2: i32 = 1;
const TPACKET_V3: i32 = 2;
const ETH_P_ALL: u16 = 0x0003;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 4;

/// `struct tpacket_req`.
#[repr(C)]
#[derive(Default)]
struct TpacketReq {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
}

/// `struct tpacket_req3`.
#[repr(C)]
#[derive(Default)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// `struct tpacket2_hdr` (32 bytes).
#[repr(C)]
#[allow(dead_code)]
struct Tpacket2Hdr {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_sec: u32,
    tp_nsec: u32,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
    tp_padding: [u8; 4],
}

/// `struct tpacket3_hdr` (48 bytes).
#[repr(C)]
#[allow(dead_code)]
struct Tpacket3Hdr {
    tp_next_offset: u32,
    tp_sec: u32,
    tp_nsec: u32,
    tp_snaplen: u32,
    tp_len: u32,
    tp_status: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_rxhash: u32,
    tp_vlan_tci: u32,
    tp_vlan_tpid: u16,
    tp_padding: u16,
    tp_padding2: [u8; 8],
}

/// `struct tpacket_block_desc` with its `tpacket_hdr_v1` (48 bytes).
#[repr(C)]
#[allow(dead_code)]
struct BlockDesc {
    version: u32,
    offset_to_priv: u32,
    block_status: u32,
    num_pkts: u32,
    offset_to_first_pkt: u32,
    blk_len: u32,
    seq_num: u64,
    ts_first: [u32; 2],
    ts_last: [u32; 2],
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

const _: () = assert!(std::mem::size_of::<Tpacket2Hdr>() == 32);
const _: () = assert!(std::mem::size_of::<Tpacket3Hdr>() == 48);
const _: () = assert!(std::mem::size_of::<BlockDesc>() == 48);

/// Where a TPACKET_V2 TX frame's data starts: `TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`.
const TX_DATA_OFF: usize = 32;

/// AF_PACKET (TPACKET_V3 rx ring / TPACKET_V2 tx ring) tx/rx (the bench's stock-kernel point).
#[derive(Debug, Parser)]
#[command(name = "af-packet")]
struct Args {
    #[command(flatten)]
    common: Common,
    /// tx: frames in the TX ring.
    #[arg(long, default_value_t = 1024)]
    tx_frames: u32,
    /// rx: blocks of 1 MiB in the RX ring.
    #[arg(long, default_value_t = 16)]
    rx_blocks: u32,
    /// rx: block retire timeout in milliseconds.
    #[arg(long, default_value_t = 4)]
    retire_ms: u32,
    /// tx: do not set PACKET_QDISC_BYPASS.
    #[arg(long)]
    no_bypass: bool,
}

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn setopt<T>(fd: i32, name: i32, v: &T, what: &str) -> Result<()> {
    // SAFETY: v points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_PACKET,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context(what.to_string());
    }
    Ok(())
}

fn packet_socket() -> Result<Fd> {
    // Protocol 0: nothing is received until bind() names the interface and protocol.
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket(AF_PACKET) (needs root)");
    }
    Ok(Fd(fd))
}

fn bind(fd: i32, ifindex: u32, proto: u16) -> Result<()> {
    // SAFETY: sockaddr_ll is plain data.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: a valid sockaddr_ll of the right size.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("bind(AF_PACKET)");
    }
    Ok(())
}

/// The ring word at `p`, accessed as the kernel does (it updates it concurrently).
#[inline]
fn status<'a>(p: *mut u32) -> &'a AtomicU32 {
    // SAFETY: p points to an aligned u32 inside a live ring mapping.
    unsafe { &*(p as *const AtomicU32) }
}

fn main() {
    let args: Args = start();
    let r = match args.common.function {
        Function::Tx => tx(&args),
        Function::Rx => rx(&args),
    };
    match r {
        Ok(t) => t.print(args.common.function),
        Err(e) => {
            eprintln!("af-packet: {e:#}");
            std::process::exit(1);
        }
    }
}

fn tx(args: &Args) -> Result<Tally> {
    let c = &args.common;
    let ifname = c.ifname();
    let info = if_info(ifname).with_context(|| format!("interface {ifname}"))?;
    let len = c.len as usize;
    if len > info.mtu as usize + 14 {
        bail!(
            "frame length {len} exceeds {ifname}'s MTU {} + 14",
            info.mtu
        );
    }
    const FRAME: u32 = 2048;
    const BLOCK: u32 = 1 << 16;
    let per_block = BLOCK / FRAME;
    let nframes = args.tx_frames.div_ceil(per_block) * per_block;
    let fd = packet_socket()?;
    setopt(
        fd.0,
        PACKET_VERSION,
        &TPACKET_V2,
        "PACKET_VERSION TPACKET_V2",
    )?;
    if !args.no_bypass {
        setopt(fd.0, PACKET_QDISC_BYPASS, &1i32, "PACKET_QDISC_BYPASS")?;
    }
    let req = TpacketReq {
        block_size: BLOCK,
        block_nr: nframes / per_block,
        frame_size: FRAME,
        frame_nr: nframes,
    };
    setopt(fd.0, PACKET_TX_RING, &req, "PACKET_TX_RING")?;
    let ring =
        Mapping::of_fd(fd.0, (BLOCK * req.block_nr) as usize).context("mmap of the TX ring")?;
    bind(fd.0, info.ifindex, 0)?;
    if len > FRAME as usize - TX_DATA_OFF {
        bail!(
            "frame length {len} exceeds the {} bytes of a TX ring frame",
            FRAME as usize - TX_DATA_OFF
        );
    }
    let tmpl = frame::build(&FrameSpec::defaults(info.mac, len));
    for i in 0..nframes as usize {
        // SAFETY: frame i lies within the mapping; the kernel owns none of them yet.
        unsafe { ring.slice_mut(i * FRAME as usize + TX_DATA_OFF, len) }.copy_from_slice(&tmpl);
    }
    eprintln!(
        "af-packet: {ifname} TPACKET_V2 tx ring {nframes} x {FRAME} qdisc_bypass={}",
        !args.no_bypass
    );
    c.banner(1);
    let hdr = |i: u32| -> *mut Tpacket2Hdr {
        // SAFETY: i < nframes, so the header lies in the mapping.
        unsafe { ring.ptr.add(i as usize * FRAME as usize).cast() }
    };
    let kick = |errors: &mut u64| -> Result<()> {
        // SAFETY: a zero-length send of what the ring holds (blocking: waits for completion).
        let rc = unsafe { libc::sendto(fd.0, std::ptr::null(), 0, 0, std::ptr::null(), 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
                    return Err(e).context("sendto")
                }
                _ => *errors += 1,
            }
        }
        Ok(())
    };
    let quota = c.count;
    let (mut idx, mut errors, mut bad) = (0u32, 0u64, 0u64);
    let mut t = Tally {
        tic: Some(Instant::now()),
        ..Default::default()
    };
    while !stopped() && (quota == 0 || t.pkts < quota) {
        let mut want = c.batch as u64;
        if quota > 0 {
            want = want.min(quota - t.pkts);
        }
        let mut n = 0u64;
        while n < want {
            let h = hdr(idx);
            // SAFETY: h points to a frame header in the mapping.
            let st = status(unsafe { std::ptr::addr_of_mut!((*h).tp_status) });
            let s = st.load(Ordering::Acquire);
            if s & TP_STATUS_WRONG_FORMAT != 0 {
                bad += 1;
                st.store(TP_STATUS_AVAILABLE, Ordering::Release);
            } else if s != TP_STATUS_AVAILABLE {
                break;
            }
            // SAFETY: the frame is ours while its status is AVAILABLE.
            let buf = unsafe { ring.slice_mut(idx as usize * FRAME as usize + TX_DATA_OFF, len) };
            frame::write_seq(buf, t.pkts + n);
            // SAFETY: as above.
            unsafe { (*h).tp_len = len as u32 };
            st.store(TP_STATUS_SEND_REQUEST, Ordering::Release);
            idx = if idx + 1 == nframes { 0 } else { idx + 1 };
            n += 1;
        }
        if n > 0 {
            t.pkts += n;
            t.events += 1;
        }
        kick(&mut errors)?;
    }
    // Drain: every frame back to AVAILABLE (sendto above blocks until sent; this is a guard).
    let start = Instant::now();
    while (0..nframes).any(|i| {
        // SAFETY: header i is in the mapping.
        let s =
            status(unsafe { std::ptr::addr_of_mut!((*hdr(i)).tp_status) }).load(Ordering::Acquire);
        s != TP_STATUS_AVAILABLE && s & TP_STATUS_WRONG_FORMAT == 0
    }) {
        if start.elapsed() > Duration::from_secs(5) {
            eprintln!("af-packet: warning: TX ring did not drain in 5 s");
            break;
        }
        kick(&mut errors)?;
        std::thread::sleep(Duration::from_micros(10));
    }
    t.toc = Some(Instant::now());
    t.bytes = t.pkts * len as u64;
    if errors > 0 || bad > 0 {
        eprintln!("af-packet: {errors} sendto error(s), {bad} frame(s) of wrong format");
    }
    Ok(t)
}

fn rx(args: &Args) -> Result<Tally> {
    let c = &args.common;
    let ifname = c.ifname();
    let info = if_info(ifname).with_context(|| format!("interface {ifname}"))?;
    const BLOCK: u32 = 1 << 20;
    const FRAME: u32 = 2048;
    let nblocks = args.rx_blocks.max(2);
    let fd = packet_socket()?;
    setopt(
        fd.0,
        PACKET_VERSION,
        &TPACKET_V3,
        "PACKET_VERSION TPACKET_V3",
    )?;
    let req = TpacketReq3 {
        block_size: BLOCK,
        block_nr: nblocks,
        frame_size: FRAME,
        frame_nr: BLOCK / FRAME * nblocks,
        retire_blk_tov: args.retire_ms.max(1),
        sizeof_priv: 0,
        feature_req_word: 0,
    };
    setopt(fd.0, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
    let ring = Mapping::of_fd(fd.0, (BLOCK * nblocks) as usize).context("mmap of the RX ring")?;
    bind(fd.0, info.ifindex, ETH_P_ALL)?;
    eprintln!(
        "af-packet: {ifname} TPACKET_V3 rx ring {nblocks} x {} KiB",
        BLOCK / 1024
    );
    c.banner(1);

    let quota = c.count;
    let idle = Duration::from_millis(c.idle_ms.max(1));
    let mut t = Tally::default();
    let mut blk = 0u32;
    let mut last = Instant::now();
    while !stopped() && (quota == 0 || t.pkts < quota) {
        // SAFETY: block blk's descriptor lies at its start, inside the mapping.
        let bd: *mut BlockDesc = unsafe { ring.ptr.add((blk * BLOCK) as usize).cast() };
        // SAFETY: as above.
        let st = status(unsafe { std::ptr::addr_of_mut!((*bd).block_status) });
        if st.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            let timeout = if t.tic.is_some() {
                idle
            } else {
                Duration::from_millis(1000)
            };
            if poll_one(fd.0, libc::POLLIN | libc::POLLERR, timeout) == 0
                && st.load(Ordering::Acquire) & TP_STATUS_USER == 0
            {
                if t.tic.is_some() {
                    break;
                }
                eprintln!("af-packet: waiting for initial packets");
            }
            continue;
        }
        if t.tic.is_none() {
            t.tic = Some(Instant::now());
        }
        // SAFETY: the block is ours while its status says TP_STATUS_USER.
        let (num, first) = unsafe { ((*bd).num_pkts, (*bd).offset_to_first_pkt) };
        let mut off = first as usize;
        let mut bytes = 0u64;
        let mut counted = 0u64;
        for _ in 0..num {
            // SAFETY: the kernel laid out `num` packets from offset_to_first_pkt in this block.
            let h: &Tpacket3Hdr = unsafe { &*ring.ptr.add((blk * BLOCK) as usize + off).cast() };
            if quota == 0 || t.pkts + counted < quota {
                bytes += h.tp_len as u64;
                counted += 1;
            }
            off += h.tp_next_offset as usize;
        }
        st.store(TP_STATUS_KERNEL, Ordering::Release);
        t.pkts += counted;
        t.bytes += bytes;
        t.events += 1;
        last = Instant::now();
        blk = (blk + 1) % nblocks;
    }
    t.toc = Some(if quota > 0 && t.pkts >= quota {
        Instant::now()
    } else {
        last
    });
    let mut s = TpacketStatsV3::default();
    let mut l = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
    // SAFETY: s is a writable tpacket_stats_v3 of length l.
    if unsafe {
        libc::getsockopt(
            fd.0,
            SOL_PACKET,
            PACKET_STATISTICS,
            (&mut s as *mut TpacketStatsV3).cast(),
            &mut l,
        )
    } == 0
    {
        eprintln!(
            "af-packet stats: packets={} drops={} freeze_q={}",
            s.tp_packets, s.tp_drops, s.tp_freeze_q_cnt
        );
    }
    Ok(t)
}
