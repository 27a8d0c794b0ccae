//! An in-memory model of the kernel side of one AF_XDP socket, for unit tests of txsync and
//! rxsync without privileges (docs/architecture.md, "Testing").
//!
//! The four rings live in ordinary memory with the kernel's producer/consumer protocol, and the
//! engine drives them through the very same `ProdRing`/`ConsRing` code it uses on a real socket.
//! The model plays the kernel: it takes TX descriptors when kicked (copying frames out of the
//! UMEM), posts completions (in order, reversed, or held back), and delivers frames into fill
//! buffers. It can be told to fail kicks with EAGAIN/ENOBUFS or to behave as a vanished device.
//! It adds cases a real kernel cannot be made to produce on demand; it never replaces the veth
//! tests.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::region::Region;
use crate::sys::{xdp_desc, XDP_PACKET_HEADROOM, XDP_PKT_CONTD, XDP_RING_NEED_WAKEUP};
use crate::xsk::{ConsRing, ProdRing, RingPtrs};

/// One ring's memory: indices, flags and descriptors, as the kernel lays them out.
pub(crate) struct MemRing<T> {
    producer: AtomicU32,
    consumer: AtomicU32,
    flags: AtomicU32,
    desc: Box<[UnsafeCell<T>]>,
}

// SAFETY: descriptors are written by exactly one side (the producer) before it publishes them
// with a release store of `producer`, and read by the other after an acquire load, as in the
// kernel's protocol; indices and flags are atomics.
unsafe impl<T: Send> Sync for MemRing<T> {}

impl<T: Copy + Default + Send + 'static> MemRing<T> {
    fn new(entries: u32) -> Arc<MemRing<T>> {
        Arc::new(MemRing {
            producer: AtomicU32::new(0),
            consumer: AtomicU32::new(0),
            flags: AtomicU32::new(0),
            desc: (0..entries)
                .map(|_| UnsafeCell::new(T::default()))
                .collect(),
        })
    }

    fn ptrs(self: &Arc<Self>) -> RingPtrs<T> {
        let keep: Arc<dyn std::any::Any + Send + Sync> = self.clone();
        // SAFETY: the pointers point into `self`, which `keep` keeps alive; `UnsafeCell<T>` has
        // `T`'s layout; the entry count is the allocation's.
        unsafe {
            RingPtrs::from_model(
                &self.producer,
                &self.consumer,
                &self.flags,
                self.desc.as_ptr() as *mut T,
                self.desc.len() as u32,
                keep,
            )
        }
    }

    fn size(&self) -> u32 {
        self.desc.len() as u32
    }

    fn entry(&self, pos: u32) -> T {
        let i = (pos & (self.size() - 1)) as usize;
        // SAFETY: the caller reads only entries published to it (see the Sync impl).
        unsafe { *self.desc[i].get() }
    }

    fn set_entry(&self, pos: u32, v: T) {
        let i = (pos & (self.size() - 1)) as usize;
        // SAFETY: the caller writes only entries it produces and has not published yet.
        unsafe { *self.desc[i].get() = v }
    }

    /// Entries published by the producer and not yet consumed, oldest first.
    pub(crate) fn pending(&self) -> Vec<T> {
        let cons = self.consumer.load(Ordering::Acquire);
        let prod = self.producer.load(Ordering::Acquire);
        (0..prod.wrapping_sub(cons))
            .map(|k| self.entry(cons.wrapping_add(k)))
            .collect()
    }

    /// Kernel as consumer: takes the oldest published entry.
    fn pop(&self) -> Option<T> {
        let cons = self.consumer.load(Ordering::Relaxed);
        if self.producer.load(Ordering::Acquire) == cons {
            return None;
        }
        let v = self.entry(cons);
        self.consumer.store(cons.wrapping_add(1), Ordering::Release);
        Some(v)
    }

    /// Kernel as producer: room left in the ring.
    fn room(&self) -> u32 {
        let prod = self.producer.load(Ordering::Relaxed);
        self.size() - prod.wrapping_sub(self.consumer.load(Ordering::Acquire))
    }

    /// Kernel as producer: publishes one entry; false when the ring is full.
    fn push(&self, v: T) -> bool {
        if self.room() == 0 {
            return false;
        }
        let prod = self.producer.load(Ordering::Relaxed);
        self.set_entry(prod, v);
        self.producer.store(prod.wrapping_add(1), Ordering::Release);
        true
    }
}

/// How completions come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completions {
    /// At once, in submission order (veth in practice, zero-copy always).
    InOrder,
    /// At once, each kick's batch reversed (copy mode on some NICs).
    Reversed,
    /// Held until [`Kernel::complete_held`].
    Held,
}

/// What the model kernel has done and will do.
pub(crate) struct KernelState {
    /// Frames transmitted, in order.
    pub sent: Vec<Vec<u8>>,
    /// Completions not yet posted (Held mode, or the completion ring was full).
    pub held: VecDeque<u64>,
    pub completions: Completions,
    /// Errnos the next kicks return before doing anything.
    pub kick_errors: VecDeque<i32>,
    /// The device is gone: kicks fail with ENETDOWN and nothing moves.
    pub gone: bool,
    /// Frames dropped for lack of a fill buffer or of RX ring room.
    pub rx_dropped: u64,
    /// Extra bytes an "XDP program" pushed in front of the next delivered frames.
    pub head_adjust: u64,
    /// The socket is multi-buffer: a frame longer than a chunk's room arrives as a chain of
    /// descriptors, and TX chains (`XDP_PKT_CONTD`) go out as one frame. Without it such a
    /// frame is dropped on receive.
    pub sg: bool,
}

/// The kernel side of one socket: its four rings and the UMEM they refer to.
pub(crate) struct Kernel {
    pub tx: Arc<MemRing<xdp_desc>>,
    pub comp: Arc<MemRing<u64>>,
    pub rx: Arc<MemRing<xdp_desc>>,
    pub fill: Arc<MemRing<u64>>,
    pub state: Mutex<KernelState>,
    region: &'static Region,
}

/// The user-space halves of a model socket, as `XskParts` carries them for a real one.
pub(crate) struct ModelParts {
    pub kernel: Arc<Kernel>,
    pub tx: ProdRing<xdp_desc>,
    pub comp: ConsRing<u64>,
    pub rx: ConsRing<xdp_desc>,
    pub fill: ProdRing<u64>,
}

impl Kernel {
    /// A socket with rings of `entries` (a power of two) over `region`'s UMEM.
    pub(crate) fn socket(region: &'static Region, entries: u32) -> ModelParts {
        let k = Arc::new(Kernel {
            tx: MemRing::new(entries),
            comp: MemRing::new(entries),
            rx: MemRing::new(entries),
            fill: MemRing::new(entries * 2),
            state: Mutex::new(KernelState {
                sent: Vec::new(),
                held: VecDeque::new(),
                completions: Completions::InOrder,
                kick_errors: VecDeque::new(),
                gone: false,
                rx_dropped: 0,
                head_adjust: 0,
                sg: false,
            }),
            region,
        });
        // Copy mode always asks for a TX kick.
        k.tx.flags.store(XDP_RING_NEED_WAKEUP, Ordering::Relaxed);
        ModelParts {
            tx: ProdRing::new(k.tx.ptrs()),
            comp: ConsRing::new(k.comp.ptrs()),
            rx: ConsRing::new(k.rx.ptrs()),
            fill: ProdRing::new(k.fill.ptrs()),
            kernel: k,
        }
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, KernelState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn chunk_of(&self, addr: u64) -> u64 {
        addr & !(self.region.layout.buf_size as u64 - 1)
    }

    /// `sendto`: transmits every TX descriptor there is completion room for.
    pub(crate) fn kick_tx(&self) -> i32 {
        let mut st = self.state();
        if let Some(e) = st.kick_errors.pop_front() {
            if e == libc::EAGAIN || e == libc::ENOBUFS {
                // The kernel sends part of the batch before running out of budget.
                self.transmit(&mut st, 1);
            }
            return e;
        }
        if st.gone {
            return libc::ENETDOWN;
        }
        self.transmit(&mut st, u32::MAX);
        0
    }

    fn transmit(&self, st: &mut KernelState, budget: u32) {
        let mut batch = Vec::new();
        let limit = budget.min(self.comp.size().saturating_sub(st.held.len() as u32));
        let mut frame = Vec::new();
        // A chain is taken whole (the engine publishes chains whole), even past the limit.
        while (batch.len() as u32) < limit || !frame.is_empty() {
            let Some(d) = self.tx.pop() else { break };
            let chunk = self.chunk_of(d.addr);
            let umem = self.region.layout.umem_len();
            assert!(
                chunk < umem && d.addr + d.len as u64 <= chunk + self.region.layout.buf_size as u64,
                "the engine posted a descriptor outside the UMEM: {d:?}"
            );
            let at = frame.len();
            frame.resize(at + d.len as usize, 0);
            // SAFETY: the range lies in the UMEM (asserted above), a buffer the engine handed
            // to the kernel, so nothing else writes it now.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.region.umem().add(d.addr as usize),
                    frame[at..].as_mut_ptr(),
                    d.len as usize,
                )
            };
            batch.push(d.addr);
            if d.options & XDP_PKT_CONTD == 0 {
                st.sent.push(std::mem::take(&mut frame));
            } else {
                assert!(
                    st.sg,
                    "a chained descriptor on a single-buffer socket: {d:?}"
                );
            }
        }
        assert!(frame.is_empty(), "the engine published part of a chain");
        if st.completions == Completions::Reversed {
            batch.reverse();
        }
        st.held.extend(batch);
        if st.completions != Completions::Held {
            self.post_completions(st);
        }
    }

    fn post_completions(&self, st: &mut KernelState) {
        while let Some(&a) = st.held.front() {
            if !self.comp.push(a) {
                break;
            }
            st.held.pop_front();
        }
    }

    /// Posts completions held back so far.
    pub(crate) fn complete_held(&self) {
        let mut st = self.state();
        self.post_completions(&mut st);
    }

    /// `recvfrom` kick: nothing to do, the model never sleeps on the fill ring.
    pub(crate) fn kick_rx(&self) {}

    /// A frame arrives: into the oldest fill buffers (several, chained, on a multi-buffer
    /// socket when it is longer than one buffer's room), then the RX ring. False if dropped:
    /// no room for the whole chain, or too long for a single-buffer socket.
    pub(crate) fn deliver(&self, frame: &[u8]) -> bool {
        let mut st = self.state();
        let bs = self.region.layout.buf_size as u64;
        let room = (bs - XDP_PACKET_HEADROOM - st.head_adjust) as usize;
        let frags = frame.len().div_ceil(room).max(1) as u32;
        if st.gone
            || self.rx.room() < frags
            || self.fill.pending().len() < frags as usize
            || (frags > 1 && !st.sg)
        {
            st.rx_dropped += 1;
            return false;
        }
        for (j, piece) in frame.chunks(room).enumerate() {
            let addr = self.fill.pop().expect("counted above");
            assert_eq!(addr % bs, 0, "fill entries are chunk addresses");
            assert!(
                addr < self.region.layout.umem_len(),
                "fill entry outside the UMEM"
            );
            let at = addr + XDP_PACKET_HEADROOM + st.head_adjust;
            // SAFETY: the range lies in a chunk the engine gave the kernel through the fill ring.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    piece.as_ptr(),
                    self.region.umem().add(at as usize),
                    piece.len(),
                )
            };
            let last = j as u32 + 1 == frags;
            assert!(self.rx.push(xdp_desc {
                addr: at,
                len: piece.len() as u32,
                options: if last { 0 } else { XDP_PKT_CONTD },
            }));
        }
        true
    }

    /// Buffer indices the kernel holds for transmitting: in the TX ring, in flight, or
    /// completed and not yet reaped.
    pub(crate) fn tx_held(&self) -> Vec<u32> {
        let shift = self.region.layout.buf_size.trailing_zeros();
        let st = self.state();
        let mut v: Vec<u32> = self
            .tx
            .pending()
            .iter()
            .map(|d| (d.addr >> shift) as u32)
            .collect();
        v.extend(st.held.iter().map(|a| (a >> shift) as u32));
        v.extend(self.comp.pending().iter().map(|a| (a >> shift) as u32));
        v
    }

    /// Buffer indices the kernel holds for receiving: in the fill ring or the RX ring.
    pub(crate) fn rx_held(&self) -> Vec<u32> {
        let shift = self.region.layout.buf_size.trailing_zeros();
        let mut v: Vec<u32> = self
            .fill
            .pending()
            .iter()
            .map(|a| (a >> shift) as u32)
            .collect();
        v.extend(self.rx.pending().iter().map(|d| (d.addr >> shift) as u32));
        v
    }
}
