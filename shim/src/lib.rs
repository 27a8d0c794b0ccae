#![deny(missing_docs)]
//! nmxdp: netmap's API and ABI over AF_XDP, on stock Linux kernels.
//!
//! An XDP program steers each NIC queue into an AF_XDP socket; all sockets of a process share one
//! UMEM, which is also the buffer pool of a netmap-layout region. A [`Port`] is what a netmap
//! file descriptor registers: rings of slots whose buffers live in that region, moved by
//! [`Port::sync_tx`], [`Port::sync_rx`] and [`Port::poll`] with netmap's semantics. The
//! vocabulary is netmap's: a ring's slots `[head, tail)` belong to the application, which moves
//! `head` (and `cur`) forward to hand them back (docs/netmap-compat.md).
//!
//! Ring views ([`TxRing`], [`RxRing`]) borrow the port, so the borrow checker keeps a packet
//! from being read after the sync that gives its buffer back to the kernel. Opening a port
//! needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (root).
//!
//! Count what arrives:
//!
//! ```no_run
//! use nmxdp::{Events, Port};
//! let mut port = Port::open("netmap:eth0")?;
//! let mut count = 0u64;
//! while count < 1000 {
//!     port.poll(Events::IN, None)?;
//!     for r in port.rx_rings() {
//!         count += port.rx_ring(r).packets().count() as u64; // released when the batch drops
//!     }
//! }
//! # Ok::<(), nmxdp::Error>(())
//! ```
//!
//! Send frames:
//!
//! ```no_run
//! use nmxdp::{Events, Port};
//! let mut port = Port::open("netmap:eth0-0")?;
//! let frame = [0xffu8; 60];
//! let mut sent = 0;
//! while sent < 1000 {
//!     port.poll(Events::OUT, None)?; // txsync, wait for room
//!     let mut tx = port.tx_ring(0);
//!     let mut batch = tx.batch();
//!     while sent < 1000 && batch.push(&frame) {
//!         sent += 1;
//!     } // head advances here; the next sync sends
//! }
//! port.sync_tx()?;
//! # Ok::<(), nmxdp::Error>(())
//! ```
//!
//! Forward from one interface to another without copying (both ports share the region, so
//! buffers change hands by index):
//!
//! ```no_run
//! use nmxdp::{Events, Port};
//! let mut a = Port::open("netmap:eth0-0")?;
//! let mut b = Port::open("netmap:eth1-0")?;
//! loop {
//!     a.poll(Events::IN, None)?;
//!     let moved = a.rx_ring(0).forward_to(&mut b.tx_ring(0), 512);
//!     if moved > 0 {
//!         b.sync_tx()?;
//!     }
//! }
//! # Ok::<(), nmxdp::Error>(())
//! ```
pub mod abi;
pub mod bpfsys;
mod caps;
pub mod config;
mod engine;
pub mod error;
pub mod host;
pub mod ifinfo;
pub mod name;
pub mod netdev;
mod pipe;
mod port;
mod prefetch;
pub mod probe;
pub mod queue;
pub mod region;
mod ring;
pub mod shared;
pub mod shm;
pub mod status;
pub mod steer;
pub mod sys;
pub mod xdp;
mod xdpload;
pub mod xsk;

pub use config::Config;
pub use engine::{configure, Modes};
pub use error::{Error, Result};
pub use port::poll as port_poll;
pub use port::{
    check_registration, pool_audit, port_info, region_base, region_layout, Events, ExtraBuf, Port,
    PortBuilder, RegFlags, RegMode, Registration, WaitPlan,
};
pub use queue::PortStats;
pub use ring::{
    swap_buffers, Direction, Packet, Ring, Rx, RxBatch, RxRing, SwapError, Tx, TxBatch, TxRing,
    TxSlot,
};
pub use xdp::{AttachMethod, AttachMode};
pub use xsk::BindMode;

// The C library keeps ports behind a lock shared between threads.
const _: () = {
    const fn send<T: Send>() {}
    send::<Port>();
};
