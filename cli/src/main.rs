//! `nmxdp`: what nmxdp sees on an interface, and how an open would run there.

use anyhow::Result;
use clap::{Parser, Subcommand};
use nmxdp::config::{BindChoice, Config, XdpModeChoice};
use nmxdp::probe::{capabilities, Probe};

#[derive(Parser)]
#[command(
    name = "nmxdp",
    version,
    about = "netmap over AF_XDP: interface information"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Queues, ring sizes, XDP modes available and the mode an open would use.
    Info {
        /// Interface name (e.g. eth0), in the current network namespace.
        iface: String,
    },
    /// Interfaces in use: attached program and mode, queue holders (pid), socket counters.
    Status,
}

fn would_use(cfg: &Config, native: &Probe, skb: &Probe, zc: &Probe) -> (String, String) {
    let xdp = match cfg.xdp_mode {
        XdpModeChoice::Native => "native (NMXDP_XDP_MODE=native)".to_string(),
        XdpModeChoice::Skb => "skb (NMXDP_XDP_MODE=skb)".to_string(),
        XdpModeChoice::Auto => match (native, skb) {
            (Probe::Yes, _) => "native".into(),
            (_, Probe::Yes) => "skb".into(),
            _ => "native, else skb (could not probe)".into(),
        },
    };
    let bind = match cfg.bind {
        BindChoice::ZeroCopy => "zero-copy (NMXDP_BIND=zc)".to_string(),
        BindChoice::Copy => "copy (NMXDP_BIND=copy)".to_string(),
        BindChoice::Auto => match zc {
            Probe::Yes => "zero-copy".into(),
            Probe::No(_) => "copy".into(),
            Probe::Unknown(_) => "zero-copy, else copy (could not probe)".into(),
        },
    };
    (xdp, bind)
}

fn info(iface: &str) -> Result<()> {
    let caps = capabilities(iface).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = Config::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let i = &caps.info;
    let mac = i
        .mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let opt = |v: Option<u32>| v.map_or("n/a".to_string(), |n| n.to_string());
    println!(
        "interface:      {} (ifindex {}, driver {})",
        i.name,
        i.ifindex,
        i.driver.as_deref().unwrap_or("unknown")
    );
    println!(
        "state:          {}, mtu {}, mac {mac}",
        if i.is_up { "up" } else { "down" },
        i.mtu
    );
    println!("queues:         {} rx, {} tx", i.rx_queues, i.tx_queues);
    println!(
        "nic rings:      rx {} tx {} descriptors",
        opt(i.rx_ring_size),
        opt(i.tx_ring_size)
    );
    println!(
        "netmap rings:   {} slots per ring (NMXDP_SLOTS or @conf:slots=)",
        cfg.slots
    );
    println!(
        "buffers:        {} of {} bytes (max frame {}), NMXDP_BUF_NUM / NMXDP_BUF_SIZE",
        cfg.buf_num,
        cfg.buf_size,
        cfg.buf_size - 256
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    match nmxdp::region::Layout::new(&cfg) {
        Ok(layout) => {
            let queues = i.rx_queues.max(i.tx_queues);
            let f = layout.footprint(queues, cfg.slots);
            println!(
                "footprint:      region {:.1} MiB per process (UMEM {:.1} MiB, pinned while a port is open)",
                mib(f.region_bytes),
                mib(f.umem_bytes)
            );
            println!(
                "                a port on all {queues} queue(s) takes {} of {} buffers ({} per queue); the pools hold {} such queues (buffers), {} (rings)",
                f.port_buffers,
                layout.buf_num - 2,
                f.buffers_per_queue,
                f.queues_that_fit,
                f.queues_in_ring_pool
            );
        }
        Err(e) => println!("footprint:      {e}"),
    }
    println!("xdp native:     {}", caps.native_xdp.describe());
    println!("xdp generic:    {}", caps.skb_xdp.describe());
    println!("af_xdp zc:      {}", caps.zero_copy.describe());
    let (xdp, bind) = would_use(&cfg, &caps.native_xdp, &caps.skb_xdp, &caps.zero_copy);
    println!("open would use: xdp {xdp}, bind {bind}");
    Ok(())
}

fn status() -> Result<()> {
    let all = nmxdp::status::status();
    if all.is_empty() {
        println!("no interface is in use by nmxdp");
        return Ok(());
    }
    for i in all {
        let prog = match &i.program {
            Some((id, name, mode)) => format!("program {name} (id {id}) {mode}"),
            None => "program: (interface in another network namespace)".to_string(),
        };
        println!("{} [netns-ifindex {}]: {prog}", i.ifname, i.key);
        for q in i.queues {
            let s = match q.stats {
                Some(s) => format!(
                    "rx_dropped {} rx_invalid {} tx_invalid {} rx_ring_full {} fill_empty {} tx_ring_empty {}",
                    s.rx_dropped,
                    s.rx_invalid_descs,
                    s.tx_invalid_descs,
                    s.rx_ring_full,
                    s.rx_fill_ring_empty_descs,
                    s.tx_ring_empty_descs
                ),
                None => "counters unavailable (needs root)".to_string(),
            };
            println!("  queue {} pid {}: {s}", q.holder.queue, q.holder.pid);
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Info { iface } => info(&iface),
        Cmd::Status => status(),
    }
}
