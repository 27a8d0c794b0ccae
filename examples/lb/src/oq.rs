//! Overflow queues, as upstream lb keeps them: a frame whose pipe is full waits in the pipe's
//! queue, in an extra buffer swapped with the NIC slot (so the NIC ring gets a free buffer
//! back and the frame is still not copied). The free extra buffers wait in the free queue; when
//! it runs dry, the oldest frames of the longest queue are dropped to refill it.

use std::collections::VecDeque;

use nmxdp::abi::NS_MOREFRAG;
use nmxdp::ExtraBuf;

/// Frames revoked from the longest queue when the free queue is empty (upstream's
/// `BUF_REVOKE`).
pub const BUF_REVOKE: usize = 100;

/// One queued slot: its buffer, length and flags (`NS_MOREFRAG` chains stay together).
#[derive(Debug)]
pub struct Pending {
    pub buf: ExtraBuf,
    pub len: u16,
    pub flags: u16,
}

/// One pipe's queue.
#[derive(Debug, Default)]
pub struct Queue {
    q: VecDeque<Pending>,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    pub fn push(&mut self, p: Pending) {
        self.q.push_back(p);
    }

    /// Slots of the frame at the front (1 + its `NS_MOREFRAG` continuations); 0 when empty.
    pub fn front_frame(&self) -> usize {
        let mut k = 0;
        for p in &self.q {
            k += 1;
            if p.flags & NS_MOREFRAG == 0 {
                return k;
            }
        }
        0
    }

    pub fn pop(&mut self) -> Option<Pending> {
        self.q.pop_front()
    }
}

/// The free extra buffers.
#[derive(Debug, Default)]
pub struct FreeQueue {
    pub bufs: Vec<ExtraBuf>,
}

impl FreeQueue {
    /// Refills the free queue from the longest of `queues`, dropping its oldest whole frames
    /// (at most [`BUF_REVOKE`] slots' worth). Returns (frames, bytes) dropped and the queue's
    /// index.
    pub fn revoke(&mut self, queues: &mut [&mut Queue]) -> Option<(usize, u64, u64)> {
        let (i, _) = queues
            .iter()
            .enumerate()
            .max_by_key(|(_, q)| q.len())
            .filter(|(_, q)| !q.is_empty())?;
        let (mut frames, mut bytes, mut slots) = (0u64, 0u64, 0usize);
        while slots < BUF_REVOKE {
            let k = queues[i].front_frame();
            if k == 0 {
                break;
            }
            for _ in 0..k {
                let p = queues[i].pop().expect("a whole frame is queued");
                bytes += p.len as u64;
                self.bufs.push(p.buf);
            }
            slots += k;
            frames += 1;
        }
        Some((i, frames, bytes))
    }
}
