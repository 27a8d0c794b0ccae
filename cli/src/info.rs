//! `nmxdp info IFACE`: what the interface offers and how an open would run there, with the
//! footprint of the configuration in the environment.

use anyhow::{anyhow, Result};
use nmxdp::config::{BindChoice, Config, XdpModeChoice};
use nmxdp::probe::{capabilities, Capabilities, Probe};
use nmxdp::region::{Footprint, Layout};
use serde_json::{json, Value};

use crate::multibuf::MultiBuffer;

/// Everything `info` reports, gathered once and rendered as text or JSON.
pub struct Info {
    caps: Capabilities,
    cfg: Config,
    footprint: std::result::Result<(Layout, Footprint), String>,
    xdp: String,
    bind: String,
    multi: MultiBuffer,
    /// The open would attach the program in native mode.
    native: bool,
}

/// The XDP mode and bind mode an open would use, with the reason when the environment forces it.
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

/// Bytes one buffer carries: the kernel keeps the first 256 for its headroom.
fn room(cfg: &Config) -> u32 {
    cfg.buf_size - nmxdp::sys::XDP_PACKET_HEADROOM as u32
}

impl Info {
    pub fn gather(iface: &str) -> Result<Info> {
        let caps = capabilities(iface).map_err(|e| anyhow!("{e}"))?;
        let cfg = Config::from_env().map_err(|e| anyhow!("{e}"))?;
        let queues = caps.info.rx_queues.max(caps.info.tx_queues);
        let footprint = Layout::new(&cfg)
            .map(|l| (l, l.footprint(queues, cfg.slots)))
            .map_err(|e| e.to_string());
        let (xdp, bind) = would_use(&cfg, &caps.native_xdp, &caps.skb_xdp, &caps.zero_copy);
        let zero_copy = bind.starts_with("zero-copy");
        let native = xdp.starts_with("native");
        let features = nmxdp::netdev::xdp_features(caps.info.ifindex);
        let multi = MultiBuffer::decide(features, caps.info.mtu, room(&cfg), zero_copy);
        Ok(Info {
            caps,
            cfg,
            footprint,
            xdp,
            bind,
            multi,
            native,
        })
    }

    fn mac(&self) -> String {
        let m = self.caps.info.mac;
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn text(&self) -> String {
        let i = &self.caps.info;
        let cfg = &self.cfg;
        let opt = |v: Option<u32>| v.map_or("n/a".to_string(), |n| n.to_string());
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "interface:      {} (ifindex {}, driver {})",
            i.name,
            i.ifindex,
            i.driver.as_deref().unwrap_or("unknown")
        ));
        line(format!(
            "state:          {}, mtu {}, mac {}",
            if i.is_up { "up" } else { "down" },
            i.mtu,
            self.mac()
        ));
        line(format!(
            "queues:         {} rx, {} tx",
            i.rx_queues, i.tx_queues
        ));
        line(format!(
            "nic rings:      rx {} tx {} descriptors",
            opt(i.rx_ring_size),
            opt(i.tx_ring_size)
        ));
        line(format!(
            "netmap rings:   {} slots per ring (NMXDP_SLOTS or @conf:slots=)",
            cfg.slots
        ));
        line(format!(
            "buffers:        {} of {} bytes (max frame {}), NMXDP_BUF_NUM / NMXDP_BUF_SIZE",
            cfg.buf_num,
            cfg.buf_size,
            room(cfg)
        ));
        match &self.footprint {
            Ok((layout, f)) => {
                let queues = i.rx_queues.max(i.tx_queues);
                line(format!(
                    "footprint:      region {:.1} MiB per process (UMEM {:.1} MiB, pinned while a port is open)",
                    mib(f.region_bytes),
                    mib(f.umem_bytes)
                ));
                line(format!(
                    "                a port on all {queues} queue(s) takes {} of {} buffers ({} per queue); the pools hold {} such queues (buffers), {} (rings)",
                    f.port_buffers,
                    layout.buf_num - 2,
                    f.buffers_per_queue,
                    f.queues_that_fit,
                    f.queues_in_ring_pool
                ));
            }
            Err(e) => line(format!("footprint:      {e}")),
        }
        line(format!(
            "xdp native:     {}",
            self.caps.native_xdp.describe()
        ));
        line(format!("xdp generic:    {}", self.caps.skb_xdp.describe()));
        line(format!(
            "af_xdp zc:      {}",
            self.caps.zero_copy.describe()
        ));
        line(format!(
            "open would use: xdp {}, bind {}",
            self.xdp, self.bind
        ));
        line(self.multi.text(i.mtu, self.native));
        s
    }

    pub fn json(&self) -> Value {
        let i = &self.caps.info;
        let probe = |p: &Probe| match p {
            Probe::Yes => json!({"supported": true}),
            Probe::No(why) => json!({"supported": false, "why": why}),
            Probe::Unknown(why) => json!({"supported": null, "why": why}),
        };
        let footprint = match &self.footprint {
            Ok((layout, f)) => json!({
                "region_bytes": f.region_bytes,
                "umem_bytes": f.umem_bytes,
                "buffers_per_queue": f.buffers_per_queue,
                "port_buffers": f.port_buffers,
                "usable_buffers": layout.buf_num - 2,
                "queues_that_fit": f.queues_that_fit,
                "queues_in_ring_pool": f.queues_in_ring_pool,
            }),
            Err(e) => json!({"error": e}),
        };
        json!({
            "interface": i.name,
            "ifindex": i.ifindex,
            "driver": i.driver,
            "up": i.is_up,
            "mtu": i.mtu,
            "mac": self.mac(),
            "rx_queues": i.rx_queues,
            "tx_queues": i.tx_queues,
            "nic_rx_ring_size": i.rx_ring_size,
            "nic_tx_ring_size": i.tx_ring_size,
            "slots": self.cfg.slots,
            "buf_num": self.cfg.buf_num,
            "buf_size": self.cfg.buf_size,
            "max_frame": room(&self.cfg),
            "footprint": footprint,
            "xdp_native": probe(&self.caps.native_xdp),
            "xdp_generic": probe(&self.caps.skb_xdp),
            "af_xdp_zero_copy": probe(&self.caps.zero_copy),
            "open_would_use": {"xdp": self.xdp, "bind": self.bind},
            "multi_buffer": self.multi.json(),
        })
    }
}
