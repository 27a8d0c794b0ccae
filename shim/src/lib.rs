//! nmxdp: netmap's API and ABI over AF_XDP, on stock Linux kernels.
//!
//! An XDP program steers each NIC queue into an AF_XDP socket; all sockets of a process share one
//! UMEM, which is also the buffer pool of a netmap-layout region. A [`Port`] is what a netmap
//! file descriptor registers: rings of slots whose buffers live in that region, moved by
//! [`Port::sync_tx`], [`Port::sync_rx`] and [`Port::poll`] with netmap's semantics.
//!
//! ```no_run
//! let mut port = nmxdp::Port::open("netmap:eth0-0")?;
//! loop {
//!     port.poll(nmxdp::POLLIN, None)?;
//!     for r in port.rx_rings() {
//!         let mut ring = port.rx_ring(r);
//!         for pkt in ring.packets() {
//!             let _ = pkt.len();
//!         }
//!         ring.release_all();
//!     }
//! }
//! # Ok::<(), nmxdp::Error>(())
//! ```
pub mod abi;
pub mod bpfsys;
pub mod config;
mod engine;
pub mod error;
pub mod ifinfo;
pub mod name;
mod port;
pub mod probe;
pub mod queue;
pub mod region;
mod ring;
pub mod shared;
pub mod status;
pub mod sys;
pub mod xdp;
pub mod xsk;

pub use engine::Modes;
pub use error::{Error, Result};
pub use port::{
    pool_audit, port_info, region_base, region_layout, Port, Registration, POLLERR, POLLIN, POLLOUT,
};
pub use queue::PortStats;
pub use ring::{swap_buffers, Ring};
pub use xdp::{AttachMethod, AttachMode};
pub use xsk::BindMode;

// The C library keeps ports behind a lock shared between threads.
const _: () = {
    const fn send<T: Send>() {}
    send::<Port>();
};
