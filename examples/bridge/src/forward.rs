//! Moving packets from one port's RX rings to another port's TX rings: by swapping buffer
//! indices (zero-copy, both ports in one memory region) or by copying the bytes.
//!
//! Nothing here allocates or makes a system call: the caller syncs the rings (poll/sync_tx).

use nmxdp::abi::NS_MOREFRAG;
use nmxdp::{swap_buffers, Port, RxRing, TxRing};

/// How packets are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mover {
    /// Swap buffers between the RX and the TX slot instead of copying.
    pub zerocopy: bool,
    /// Buffers in the region: indices at or above are invalid (as are 0 and 1).
    pub buf_num: u32,
}

/// Counters of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirStats {
    /// Frames handed to the TX side (a chain of `NS_MOREFRAG` slots is one).
    pub packets: u64,
    /// Bytes the bridge copied (0 on the zero-copy path).
    pub copied_bytes: u64,
    /// Slots skipped because their buffer index was invalid (< 2 or past the pool).
    pub bad_bufs: u64,
    /// Slots whose length exceeded what a buffer carries: forwarded with length 0.
    pub bad_lens: u64,
}

/// Slots a port has received and not yet released, over all its RX rings.
pub fn rx_queued(port: &mut Port) -> u32 {
    port.rx_rings().map(|r| port.rx_ring(r).available()).sum()
}

/// Free TX slots of a port, over all its TX rings.
pub fn tx_room(port: &mut Port) -> u32 {
    port.tx_rings().map(|r| port.tx_ring(r).available()).sum()
}

/// Are transmissions still pending completion on any TX ring of `port`?
pub fn tx_pending(port: &mut Port) -> bool {
    port.tx_rings().any(|r| port.tx_ring(r).tx_pending())
}

impl Mover {
    /// Moves up to `limit` packets from `src`'s RX rings to `dst`'s TX rings, ring by ring as
    /// upstream does: an empty RX ring moves on to the next RX ring, a full TX ring to the next
    /// TX ring. Returns the frames forwarded (`limit` counts slots, as upstream's burst).
    pub fn move_packets(
        &self,
        src: &mut Port,
        dst: &mut Port,
        limit: u32,
        st: &mut DirStats,
    ) -> u32 {
        let (rxs, txs) = (src.rx_rings(), dst.tx_rings());
        let (mut si, mut di) = (rxs.start, txs.start);
        let mut budget = limit;
        let mut forwarded = 0;
        while si < rxs.end && di < txs.end && budget > 0 {
            let mut rx = src.rx_ring(si);
            if rx.is_empty() {
                si += 1;
                continue;
            }
            let mut tx = dst.tx_ring(di);
            if tx.is_full() {
                di += 1;
                continue;
            }
            let m = self.move_ring(&mut rx, &mut tx, budget, st);
            if m.steps == 0 {
                // The chain at the RX head needs more slots than this TX ring has free.
                di += 1;
                continue;
            }
            forwarded += m.forwarded;
            budget -= m.steps;
        }
        forwarded
    }

    /// Moves up to `limit` slots from `rx` (at head) to `tx` (at head) and advances both rings
    /// past what was used. A frame that is an `NS_MOREFRAG` chain moves whole, flags included
    /// (the burst limit only stops at a frame's end), or not at all when `tx` lacks the slots
    /// for it: a chain split between two calls could end on another TX ring, which would send
    /// its two parts as two broken frames.
    ///
    /// A slot whose buffer is not the application's is counted and skipped (an RX slot is
    /// consumed without sending; a TX slot is consumed with length 0, which nmxdp drops)
    /// instead of upstream's warning and two-second sleep. A length above
    /// [`nmxdp::Ring::max_frame`] is zeroed.
    pub fn move_ring(
        &self,
        rx: &mut RxRing<'_>,
        tx: &mut TxRing<'_>,
        limit: u32,
        st: &mut DirStats,
    ) -> Moved {
        let max_frame = rx.max_frame().min(tx.max_frame());
        let (mut rx_left, mut tx_left) = (rx.available(), tx.available());
        let (mut j, mut k) = (rx.head(), tx.head());
        let (mut rx_used, mut tx_used) = (0u32, 0u32);
        let mut m = Moved::default();
        // RX slots of the current frame not moved yet (0: at a frame's start).
        let mut frame_left = 0u32;
        while rx_left > 0 && tx_left > 0 {
            if frame_left == 0 {
                if m.steps >= limit {
                    break;
                }
                frame_left = frame_slots(rx, j, rx_left);
                if frame_left > tx_left {
                    break;
                }
            }
            m.steps += 1;
            let rs = rx.slot(j);
            if rs.len as usize > max_frame {
                st.bad_lens += 1;
                rx.set_len(j, 0);
            }
            if rx.packet(j).is_none() {
                st.bad_bufs += 1;
                j = rx.next(j);
                rx_left -= 1;
                rx_used += 1;
                frame_left -= 1;
                continue;
            }
            if tx.buf_mut(k).is_none() {
                st.bad_bufs += 1;
                tx.set_len(k, 0);
                tx.set_flags(k, tx.slot(k).flags & !NS_MOREFRAG);
                k = tx.next(k);
                tx_left -= 1;
                tx_used += 1;
                continue;
            }
            if self.zerocopy {
                // Lengths travel with the buffers; both slots get NS_BUF_CHANGED.
                if swap_buffers(rx, j, tx, k).is_err() {
                    st.bad_bufs += 1;
                }
            } else if let (Some(src), Some(dst)) = (rx.packet(j), tx.buf_mut(k)) {
                let n = src.len();
                dst[..n].copy_from_slice(src);
                tx.set_len(k, n);
                st.copied_bytes += n as u64;
            }
            tx.set_flags(
                k,
                (tx.slot(k).flags & !NS_MOREFRAG) | (rs.flags & NS_MOREFRAG),
            );
            // A frame counts once, at its last slot.
            let ends = u32::from(rs.flags & NS_MOREFRAG == 0);
            st.packets += ends as u64;
            m.forwarded += ends;
            j = rx.next(j);
            k = tx.next(k);
            rx_left -= 1;
            tx_left -= 1;
            rx_used += 1;
            tx_used += 1;
            frame_left -= 1;
        }
        rx.advance(rx_used);
        tx.advance(tx_used);
        m
    }
}

/// Slots of the frame starting at RX slot `j`: up to its first slot without `NS_MOREFRAG`,
/// within the `avail` slots the application holds.
#[inline]
fn frame_slots(rx: &RxRing<'_>, mut j: u32, avail: u32) -> u32 {
    let mut n = 1;
    while n < avail && rx.slot(j).flags & NS_MOREFRAG != 0 {
        j = rx.next(j);
        n += 1;
    }
    n
}

/// What one [`Mover::move_ring`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Frames handed to the TX ring.
    pub forwarded: u32,
    /// Slots looked at (forwarded or skipped): what the burst limit counts.
    pub steps: u32,
}
