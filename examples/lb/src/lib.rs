//! `lb`: netmap's load balancer over nmxdp. It reads a NIC port and hands each frame, by a
//! symmetric hash of its flow, to one pipe of each group (`netmap:NAME{K`), where worker
//! processes read it (`netmap:NAME}K`). Frames move by buffer index, never by copy; a pipe
//! that is full gets an overflow queue of extra buffers, as upstream's lb does.

pub mod args;
pub mod hash;
pub mod oq;
pub mod run;
pub mod stats;
