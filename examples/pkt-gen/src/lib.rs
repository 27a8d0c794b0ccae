//! What pkt-gen shares with the programs that send or count the same traffic (the bench's
//! comparison programs) and with the harness that reads its output:
//!
//! * [`frame`]: the test frame (Ethernet / IPv4 / UDP, sequence number, byte pattern) and its
//!   verification;
//! * [`summary`]: the final two-line summary (`Sent N packets ...` / `Speed: X Mpps ...`), its
//!   formatter and its parser;
//! * [`latency`]: the ping-pong programs' round-trip statistics and their `latency:` line, its
//!   formatter and its parser;
//! * [`gaps`]: the receiver's longest pause between passes over its rings, its `Receiver gaps:`
//!   line and that line's parser.
//!
//! One definition of each, so every sender of the bench moves the same bytes and every summary
//! the harness parses is printed by the same code.

pub mod frame;
pub mod gaps;
pub mod latency;
pub mod summary;
