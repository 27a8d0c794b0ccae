//! nmxdp-bench: the comparison points of `make bench` and the parsers the harness reads them with.
//!
//! * `xdp-raw`: tx/rx straight on the AF_XDP rings (nmxdp's thin ring wrappers, no netmap layer),
//!   with the same UMEM chunk size, bind mode, XDP program and batch size as nmxdp;
//! * `af-packet`: the stock-kernel alternative, a TPACKET_V3 RX ring and a TPACKET_V2 TX ring;
//! * `open-close`: the time to open and close a port (or a bare AF_XDP socket), cycle by cycle;
//! * `xdp-pingpong` / `udp-pingpong`: the latency section's baselines, one frame in flight on raw
//!   AF_XDP (the rings and setup of `xdp-raw`, [`afxdp`]) and on kernel UDP sockets, both on the
//!   ping and pong loops of [`pingpong`] and printing pkt-gen's `latency:` line;
//! * `bench-harness`: runs those, the Rust pkt-gen and the C `nm_lib` under `LD_PRELOAD` on a veth
//!   pair between two private network namespaces and reports one table (Markdown and JSON).
//!
//! All senders build pkt-gen's frame and all senders and receivers print pkt-gen's final summary
//! (`Sent N packets ...` / `Speed: X Mpps ...`), both from pkt-gen's library ([`pkt_gen::frame`],
//! [`pkt_gen::summary`]), so every row moves the same bytes and
//! [`pkt_gen::summary::parse_summary`] reads every row.

pub mod afxdp;
pub mod app;
pub mod json;
pub mod parse;
pub mod pingpong;
pub mod stats;
