//! netmap's `bridge` over nmxdp: forwards every packet between two ports, both ways.
//!
//! When both ports live in the same memory region (same `nr_mem_id`, always the case for the
//! ports of one nmxdp process) packets move by swapping buffer indices between the RX slot and
//! the TX slot, so no byte is copied; with `-c` (or different regions) they are copied.
//!
//! The library holds the forwarding logic so tests can run a bridge in-process:
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use bridge::{Bridge, Options};
//! # fn main() -> anyhow::Result<()> {
//! let a = nmxdp::Port::open("netmap:veth1")?;
//! let b = nmxdp::Port::open("netmap:veth2")?;
//! let mut br = Bridge::new(a, b, Options { count: Some(1000), ..Options::default() })?;
//! br.run(&AtomicBool::new(false))?;
//! println!("{}", br.summary());
//! # Ok(()) }
//! ```
//!
//! Modules: [`args`] (command line), [`forward`] (moving slots between rings), [`run`] (the
//! loop); `main.rs` is the CLI.

pub mod args;
pub mod forward;
pub mod run;

pub use forward::{DirStats, Mover};
pub use run::{Bridge, Options, Stats};

/// The line pkt-gen prints for a port: interface, XDP attach mode, AF_XDP bind mode.
pub fn modes_line(port: &nmxdp::Port) -> String {
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

/// Upstream's zero-copy banner.
pub fn zerocopy_line(zerocopy: bool) -> &'static str {
    if zerocopy {
        "------- zerocopy supported"
    } else {
        "------- zerocopy NOT supported"
    }
}
