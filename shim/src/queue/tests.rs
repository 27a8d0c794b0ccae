//! txsync/rxsync against the in-memory kernel model, without privileges: fixed cases for each
//! kernel behaviour, and property tests that drive both rings with arbitrary (also hostile)
//! application behaviour and audit buffer ownership after every step.

use std::collections::VecDeque;
use std::sync::Arc;

use proptest::prelude::*;

use super::model::{Completions, Kernel};
use super::*;
use crate::abi::{nm_ring_dist, nm_ring_next, nm_ring_prev, NS_BUF_CHANGED, NS_MOREFRAG};
use crate::config::Config;
use crate::region::Owner;
use crate::ring::{Held, TxRing};

const SLOTS: u32 = 16;
/// Most slots per frame the multi-buffer rigs allow (below the ring, to test the limit).
const MAX_FRAGS: u32 = 5;

/// One queue over the model kernel, and what the application has sent and received.
struct Rig {
    region: &'static Region,
    kernel: Arc<Kernel>,
    tx: TxState,
    rx: RxState,
    c: QueueCounters,
    /// Frames the app handed to txsync, in order, not yet matched to what the kernel sent.
    expect_sent: Vec<Vec<u8>>,
    /// Frames delivered and not yet read by the app.
    expect_rx: VecDeque<Vec<u8>>,
    seq: u32,
}

fn region(buf_num: u32) -> &'static Region {
    let cfg = Config {
        buf_num,
        if_num: 4,
        ring_num: 4,
        ..Config::default()
    };
    Box::leak(Box::new(
        Region::new(&cfg).expect("an anonymous mapping needs no privileges"),
    ))
}

impl Rig {
    fn new() -> Rig {
        Self::with_pool(512)
    }

    fn with_pool(buf_num: u32) -> Rig {
        Self::with(buf_num, false)
    }

    /// A multi-buffer queue: frames may span slot chains.
    fn chained() -> Rig {
        Self::with(512, true)
    }

    fn with(buf_num: u32, chains: bool) -> Rig {
        let region = region(buf_num);
        let m = Kernel::socket(region, 32);
        m.kernel.state().sg = chains;
        let tx_off = region.alloc_ring(ring_bytes(SLOTS)).unwrap();
        let rx_off = region.alloc_ring(ring_bytes(SLOTS)).unwrap();
        let tx_bufs = region.alloc_bufs(SLOTS as usize, "tx").unwrap();
        let rx_bufs = region.alloc_bufs(2 * SLOTS as usize, "rx").unwrap();
        let txr = init_ring(region, tx_off, SLOTS, 0, 0, &tx_bufs);
        let rxr = init_ring(region, rx_off, SLOTS, 0, 1, &rx_bufs[..SLOTS as usize]);
        let bell = || Doorbell::Model(m.kernel.clone());
        Rig {
            region,
            tx: TxState::new(
                txr,
                m.tx,
                m.comp,
                bell(),
                region,
                if chains { MAX_FRAGS } else { 1 },
            ),
            rx: RxState::new(rxr, m.rx, m.fill, bell(), region, &rx_bufs, chains),
            kernel: m.kernel,
            c: QueueCounters::default(),
            expect_sent: Vec::new(),
            expect_rx: VecDeque::new(),
            seq: 0,
        }
    }

    fn frame(&mut self) -> Vec<u8> {
        self.seq += 1;
        let len = 60 + (self.seq % 40) as usize;
        let mut f = vec![(self.seq % 251) as u8; len];
        f[..4].copy_from_slice(&self.seq.to_be_bytes());
        f
    }

    /// The app writes up to `k` frames at `head` and advances head and cur past them.
    fn app_send(&mut self, k: u32) -> u32 {
        let r = self.tx.ring;
        let n = r.num_slots();
        if r.head() >= n || r.tail() >= n {
            return 0; // a hostile step broke the ring; the next sync repairs it
        }
        let k = k.min(nm_ring_dist(n, r.head(), r.tail()));
        let mut i = r.head();
        for _ in 0..k {
            let f = self.frame();
            // SAFETY: slot i is in [head, tail): its buffer is the app's.
            let buf = unsafe { self.region.bytes_mut(r.buf_idx(i)) }.unwrap();
            buf[..f.len()].copy_from_slice(&f);
            r.set_len(i, f.len() as u16);
            // A slot keeps its flags: a frame of one slot must clear an old NS_MOREFRAG.
            r.set_flags(i, 0);
            self.expect_sent.push(f);
            i = nm_ring_next(n, i);
        }
        r.set_head_cur(i);
        k
    }

    /// The app writes one frame of `frags.len()` slots at `head` (`NS_MOREFRAG` on all but
    /// the last, each slot `frags[j]` bytes) and advances head and cur past those of its slots
    /// it releases: all when `release_end`, else all but the last. False if the ring lacks
    /// room.
    fn app_send_chain(&mut self, frags: &[usize], release_end: bool) -> bool {
        let r = self.tx.ring;
        let n = r.num_slots();
        if r.head() >= n
            || r.tail() >= n
            || nm_ring_dist(n, r.head(), r.tail()) < frags.len() as u32
        {
            return false;
        }
        self.seq += 1;
        let total: usize = frags.iter().sum();
        let frame: Vec<u8> = (0..total).map(|b| (b as u32 ^ self.seq) as u8).collect();
        let (mut i, mut at) = (r.head(), 0);
        for (j, &len) in frags.iter().enumerate() {
            // SAFETY: slot i is in [head, tail): its buffer is the app's.
            let buf = unsafe { self.region.bytes_mut(r.buf_idx(i)) }.unwrap();
            buf[..len].copy_from_slice(&frame[at..at + len]);
            at += len;
            r.set_len(i, len as u16);
            r.set_flags(i, if j + 1 < frags.len() { NS_MOREFRAG } else { 0 });
            if j + 1 < frags.len() || release_end {
                i = nm_ring_next(n, i);
            }
        }
        self.expect_sent.push(frame);
        r.set_head_cur(i);
        true
    }

    /// The app reads up to `k` slots at `head` (and the rest of a chain the k-th slot is in),
    /// reassembling chains, checks the frames, and releases them; returns the slots read.
    fn app_receive(&mut self, k: u32) -> u32 {
        let r = self.rx.ring;
        let n = r.num_slots();
        let avail = nm_ring_dist(n, r.head(), r.tail());
        let mut i = r.head();
        let mut read = 0;
        let mut frame = Vec::new();
        while read < avail && (read < k || !frame.is_empty()) {
            // SAFETY: slot i is in [head, tail): its buffer is the app's.
            let got = unsafe { self.region.bytes(r.buf_idx(i), r.len(i) as usize) }.unwrap();
            frame.extend_from_slice(got);
            read += 1;
            let more = r.flags(i) & NS_MOREFRAG != 0;
            i = nm_ring_next(n, i);
            if more {
                continue;
            }
            let want = self
                .expect_rx
                .pop_front()
                .expect("the app reads only delivered frames");
            assert_eq!(frame, want, "RX slots up to {i} carry another frame");
            frame.clear();
        }
        assert!(frame.is_empty(), "a chain was visible without its end");
        r.set_head_cur(i);
        read
    }

    /// Zero-copy forwarding: the RX frame at head (all its slots) goes out in the TX slots at
    /// head, `NS_MOREFRAG` kept. False if there is none or the TX ring lacks room.
    fn app_forward(&mut self) -> bool {
        let (rx, tx) = (self.rx.ring, self.tx.ring);
        let broken = [rx.head(), rx.tail(), tx.head(), tx.tail()]
            .iter()
            .any(|&v| v >= SLOTS);
        if broken || rx.head() == rx.tail() {
            return false;
        }
        let mut slots = 1;
        let mut ri = rx.head();
        while rx.flags(ri) & NS_MOREFRAG != 0 && nm_ring_next(SLOTS, ri) != rx.tail() {
            ri = nm_ring_next(SLOTS, ri);
            slots += 1;
        }
        if nm_ring_dist(SLOTS, tx.head(), tx.tail()) < slots {
            return false;
        }
        let (mut ri, mut ti) = (rx.head(), tx.head());
        for _ in 0..slots {
            let (rb, tb) = (rx.buf_idx(ri), tx.buf_idx(ti));
            tx.set_buf_idx(ti, rb);
            tx.set_len(ti, rx.len(ri));
            tx.set_flags(ti, NS_BUF_CHANGED | (rx.flags(ri) & NS_MOREFRAG));
            rx.set_buf_idx(ri, tb);
            rx.set_flags(ri, NS_BUF_CHANGED);
            ri = nm_ring_next(SLOTS, ri);
            ti = nm_ring_next(SLOTS, ti);
        }
        let f = self.expect_rx.pop_front().unwrap_or_default();
        self.expect_sent.push(f);
        rx.set_head_cur(ri);
        tx.set_head_cur(ti);
        true
    }

    fn deliver(&mut self, k: u32) -> u32 {
        self.deliver_sized(k, 0)
    }

    /// Delivers `k` frames, each `extra` bytes longer than usual (beyond a buffer: a chain).
    fn deliver_sized(&mut self, k: u32, extra: usize) -> u32 {
        let mut got = 0;
        for _ in 0..k {
            let mut f = self.frame();
            f.extend((0..extra).map(|b| b as u8));
            if self.kernel.deliver(&f) {
                self.expect_rx.push_back(f);
                got += 1;
            }
        }
        got
    }

    /// What the kernel sent must be what the app queued, in order.
    fn check_sent(&mut self) {
        let sent = std::mem::take(&mut self.kernel.state().sent);
        assert!(
            sent.len() <= self.expect_sent.len(),
            "the kernel sent frames nobody queued"
        );
        let queued: Vec<Vec<u8>> = self.expect_sent.drain(..sent.len()).collect();
        assert_eq!(sent, queued, "frames went out changed or out of order");
    }

    /// Every buffer has exactly one owner, and the kernel holds exactly the buffers the
    /// ownership table says it does. `strict`: the app behaved, so every buffer the table
    /// gives the app sits in one app-owned slot.
    fn audit(&self, strict: bool) {
        let owners = |o: Owner| -> Vec<u32> {
            let mut v: Vec<u32> = (2..self.region.layout.buf_num)
                .filter(|&b| self.region.owner(b) == Some(o))
                .collect();
            v.sort_unstable();
            v
        };
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v
        };
        assert_eq!(
            owners(Owner::KernelTx),
            sorted(self.kernel.tx_held()),
            "TX ownership"
        );
        assert_eq!(
            owners(Owner::KernelRx),
            sorted(self.kernel.rx_held()),
            "RX ownership"
        );
        let counts = self.region.audit();
        assert_eq!(
            self.region.free_buf_count(),
            counts[0],
            "free list vs table"
        );
        if strict {
            let (t, r) = (&self.tx, &self.rx);
            let mut app = Vec::new();
            let flying = nm_ring_dist(t.n, t.done_upto, t.hwcur);
            for s in 0..t.n {
                // A slot skipped as bad waits for the slots before it to complete, but its
                // buffer stays the app's.
                let posted = t.posted[s as usize] != u32::MAX;
                let in_flight = nm_ring_dist(t.n, t.done_upto, s) < flying && posted;
                if !in_flight {
                    app.push(t.ring.buf_idx(s));
                }
            }
            let mut i = r.hwcur;
            while i != r.hwtail {
                app.push(r.ring.buf_idx(i));
                i = nm_ring_next(r.n, i);
            }
            assert_eq!(sorted(app), owners(Owner::App), "app slots vs table");
        }
    }

    /// Lends the TX ring to `f` as the application's view through the public API
    /// ([`TxRing`]), then takes its state back.
    fn tx_view(self, f: impl FnOnce(&mut TxRing<'_>)) -> Rig {
        let Rig {
            region,
            kernel,
            tx,
            rx,
            c,
            expect_sent,
            expect_rx,
            seq,
        } = self;
        let half = Half::new(tx);
        {
            let g = half.lock_view().expect("no view held");
            f(&mut TxRing::new(g.ring, region, Held::Tx(g)));
        }
        Rig {
            region,
            kernel,
            tx: half.into_inner(),
            rx,
            c,
            expect_sent,
            expect_rx,
            seq,
        }
    }

    /// Closing the queue: everything goes back to the pool; returns what the app lost.
    fn close(mut self) -> usize {
        {
            let mut st = self.kernel.state();
            st.gone = false;
            st.kick_errors.clear();
            st.completions = Completions::InOrder;
        }
        self.kernel.complete_held();
        self.tx.reclaim(&self.c);
        self.rx.reclaim();
        let lost = self.region.recover_all();
        assert_eq!(
            self.region.free_buf_count(),
            self.region.layout.buf_num as usize - 2
        );
        lost
    }
}

#[test]
fn frames_go_out_in_order_and_tail_follows_completions() {
    let mut r = Rig::new();
    assert_eq!(r.app_send(10), 10);
    assert_eq!(r.tx.sync(&r.c), SyncStatus::Ok);
    r.check_sent();
    assert_eq!(
        r.tx.ring.tail(),
        9,
        "idle ring: tail is the slot before head"
    );
    assert_eq!(r.c.tx_packets.load(Relaxed), 10);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn out_of_order_completions_retire_slots_in_order() {
    let mut r = Rig::new();
    r.kernel.state().completions = Completions::Reversed;
    r.app_send(7);
    r.tx.sync(&r.c);
    r.check_sent();
    assert!(!r.tx.inflight());
    assert_eq!(r.tx.ring.tail(), 6);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn held_completions_keep_slots_in_flight() {
    let mut r = Rig::new();
    r.kernel.state().completions = Completions::Held;
    r.app_send(5);
    r.tx.sync(&r.c);
    assert!(r.tx.inflight());
    assert_eq!(
        r.tx.ring.tail(),
        SLOTS - 1,
        "no room comes back before completions"
    );
    r.audit(true);
    r.kernel.complete_held();
    r.tx.sync(&r.c);
    assert!(!r.tx.inflight());
    assert_eq!(r.tx.ring.tail(), 4);
    r.check_sent();
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn eagain_and_enobufs_on_kick_are_retried() {
    let mut r = Rig::new();
    r.kernel
        .state()
        .kick_errors
        .extend([libc::EAGAIN, libc::ENOBUFS, libc::EAGAIN]);
    r.app_send(12);
    assert_eq!(r.tx.sync(&r.c), SyncStatus::Ok);
    r.check_sent();
    assert!(
        r.expect_sent.is_empty(),
        "every frame went out within one sync"
    );
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn a_vanished_device_is_a_device_error() {
    let mut r = Rig::new();
    r.kernel.state().gone = true;
    r.app_send(3);
    assert_eq!(r.tx.sync(&r.c), SyncStatus::DeviceError);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn an_empty_fill_ring_drops_until_the_app_releases() {
    let mut r = Rig::new();
    // 2 * SLOTS buffers sit in the fill ring; the RX ring shows at most SLOTS - 1 at a time.
    assert_eq!(r.deliver(2 * SLOTS + 5), 2 * SLOTS);
    assert_eq!(r.kernel.state().rx_dropped, 5);
    r.rx.sync(&r.c);
    assert_eq!(r.rx.ring.tail(), SLOTS - 1);
    r.audit(true);
    assert_eq!(r.app_receive(SLOTS), SLOTS - 1);
    r.rx.sync(&r.c);
    assert_eq!(
        r.deliver(3),
        3,
        "released buffers went back to the fill ring"
    );
    while !r.expect_rx.is_empty() {
        r.rx.sync(&r.c);
        r.app_receive(SLOTS);
        r.audit(true);
    }
    assert_eq!(r.close(), 0);
}

#[test]
fn a_moved_frame_is_pulled_to_the_buffer_start() {
    let mut r = Rig::new();
    r.kernel.state().head_adjust = 14;
    r.deliver(2);
    r.rx.sync(&r.c);
    assert_eq!(r.app_receive(2), 2);
    assert!(r.c.copied_bytes.load(Relaxed) > 0);
    assert_eq!(r.close(), 0);
}

#[test]
fn bad_tx_slots_are_skipped_counted_and_lose_nothing() {
    let mut r = Rig::new();
    let t = r.tx.ring;
    r.app_send(5);
    t.set_buf_idx(0, 1); // reserved
    t.set_len(1, 0);
    t.set_len(2, 4000);
    t.set_flags(3, NS_MOREFRAG);
    // Slot 3 starts a chain that slot 4 ends: a single-buffer socket drops the whole frame
    // rather than send slot 4 alone as a truncated one.
    r.expect_sent.clear();
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_bad_slots.load(Relaxed), 5);
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 1);
    assert_eq!(r.c.tx_packets.load(Relaxed), 0);
    assert_eq!(
        r.close(),
        1,
        "only the buffer the app overwrote is lost, and recovered"
    );
}

#[test]
fn a_head_out_of_range_reinitialises_the_ring() {
    let mut r = Rig::new();
    r.tx.ring.set_head(SLOTS + 3);
    assert_eq!(r.tx.sync(&r.c), SyncStatus::Reinit);
    assert_eq!((r.tx.ring.head(), r.tx.ring.tail()), (0, SLOTS - 1));
    r.rx.ring.set_cur(SLOTS);
    assert_eq!(r.rx.sync(&r.c), SyncStatus::Reinit);
    assert_eq!(r.c.ring_reinits.load(Relaxed), 2);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn tx_chains_go_out_as_one_frame() {
    let mut r = Rig::chained();
    assert!(r.app_send_chain(&[1000, 1792, 7], true));
    assert_eq!(r.app_send(1), 1);
    assert!(r.app_send_chain(&[60, 60], true));
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_packets.load(Relaxed), 3);
    assert_eq!(
        r.tx.ring.tail(),
        nm_ring_prev(SLOTS, r.tx.hwcur),
        "all completed"
    );
    r.audit(true);
    assert_eq!(r.close(), 0);
}

/// The public jumbo sender, `TxRing::send_each_chained`: whole frames only, each over
/// `len.div_ceil(piece)` slots with `NS_MOREFRAG` on all but its last and the flags `f` adds;
/// the sync sends each as one frame of the bytes `f` wrote. A broken buffer in a frame sends
/// its slot empty, so the sync drops that frame whole and the next one still goes.
#[test]
fn send_each_chained_queues_whole_chains() {
    let (len, piece) = (700usize, 256usize);
    let byte = |k: u32, at: usize| (k as usize * 7 + at) as u8;
    let write = |k: u32, p: u32, buf: &mut [u8]| {
        let at = p as usize * piece;
        for (i, b) in buf[..piece.min(len - at)].iter_mut().enumerate() {
            *b = byte(k, at + i);
        }
    };
    let mut calls = vec![0u32; SLOTS as usize];
    let mut r = Rig::chained().tx_view(|ring| {
        // 15 free slots: 5 frames of 3, though 10 were asked for.
        let n = ring.send_each_chained(10, len, piece, &mut calls, |k, p, _, buf, st| {
            write(k, p, buf);
            *st += 1;
            if (k, p) == (4, 2) {
                crate::abi::NS_REPORT
            } else {
                0
            }
        });
        assert_eq!((n, ring.head(), ring.cur()), (5, 15, 15));
        for i in 0..15 {
            let (s, end) = (ring.slot(i), i % 3 == 2);
            assert_eq!(s.len, if end { 188 } else { 256 }, "slot {i}");
            assert_eq!(s.flags & NS_MOREFRAG == 0, end, "slot {i}");
        }
        assert_ne!(ring.slot(14).flags & crate::abi::NS_REPORT, 0);
        assert_eq!(
            ring.send_each_chained(1, len, piece, &mut calls, |_, _, _, _, _| 0),
            0,
            "no room left"
        );
    });
    assert!(calls[..15].iter().all(|&n| n == 1) && calls[15] == 0);
    for k in 0..5 {
        r.expect_sent.push((0..len).map(|at| byte(k, at)).collect());
    }
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_packets.load(Relaxed), 5);
    r.audit(true);

    // Two more frames from slot 15 (the ring wraps within the first); the first one's middle
    // slot names a buffer the application does not own.
    let mut r = r.tx_view(|ring| {
        // A frame as long as the ring, or pieces no buffer holds: nothing.
        let room = ring.max_frame();
        assert_eq!(
            ring.send_each_chained(1, 16 * 256, 256, &mut calls, |_, _, _, _, _| 0),
            0
        );
        assert_eq!(
            ring.send_each_chained(1, len, room + 1, &mut calls, |_, _, _, _, _| 0),
            0
        );
        let mut bad = ring.slot(0);
        bad.buf_idx = 0;
        // SAFETY: index 0 is never a buffer of the application: no safe view can alias it.
        unsafe { ring.set_slot(0, bad) };
        let n = ring.send_each_chained(2, len, piece, &mut calls, |k, p, _, buf, _| {
            write(k, p, buf);
            0
        });
        assert_eq!((n, ring.head()), (2, 5));
        assert_eq!(ring.slot(0).len, 0, "a broken buffer goes out empty");
    });
    r.expect_sent.push((0..len).map(|at| byte(1, at)).collect());
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_packets.load(Relaxed), 6);
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 1);
    r.audit(false);
    // The buffer the app dropped from slot 0 is the one the pool gets back at close.
    assert_eq!(r.close(), 1);
}

#[test]
fn a_chain_across_the_rings_end_goes_out_whole() {
    let mut r = Rig::chained();
    // Bring head to two slots before the ring's end, everything sent and completed.
    assert_eq!(r.app_send(SLOTS - 2), SLOTS - 2);
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.tx.ring.head(), SLOTS - 2);
    // A chain of four wraps (the careful path), the chains after it do not (the in-run one).
    assert!(r.app_send_chain(&[300, 400, 500, 600], true));
    assert!(r.app_send_chain(&[60, 70, 80], true));
    assert_eq!(r.app_send(1), 1);
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_packets.load(Relaxed), u64::from(SLOTS - 2) + 3);
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 0);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn an_unterminated_chain_waits_for_its_end() {
    let mut r = Rig::chained();
    assert!(r.app_send_chain(&[500, 500, 500], false));
    r.tx.sync(&r.c);
    assert!(r.kernel.state().sent.is_empty(), "part of a frame went out");
    assert_eq!(r.tx.hwcur, 0);
    r.audit(true);
    // The app releases the last slot.
    r.tx.ring.set_head_cur(3);
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_packets.load(Relaxed), 1);
    assert_eq!(r.close(), 0);
}

#[test]
fn a_bad_slot_drops_the_whole_chain() {
    for (what, idx, len) in [
        ("index", Some(1u32), None),
        ("length", None, Some(0u16)),
        ("length", None, Some(3000)),
    ] {
        let mut r = Rig::chained();
        assert!(r.app_send_chain(&[500, 500, 500], true));
        if let Some(b) = idx {
            r.tx.ring.set_buf_idx(1, b);
        }
        if let Some(l) = len {
            r.tx.ring.set_len(1, l);
        }
        r.expect_sent.clear();
        assert_eq!(r.app_send(1), 1);
        r.tx.sync(&r.c);
        r.check_sent();
        assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 1, "bad {what}");
        assert_eq!(r.c.tx_bad_slots.load(Relaxed), 3, "bad {what}");
        assert_eq!(r.c.tx_packets.load(Relaxed), 1, "bad {what}");
        r.audit(false);
        // Only a buffer whose index the app overwrote is lost (and recovered at close).
        assert_eq!(r.close(), idx.is_some() as usize, "bad {what}");
    }
}

#[test]
fn a_chain_longer_than_a_frame_may_be_is_dropped() {
    let mut r = Rig::chained();
    assert!(r.app_send_chain(&[100; MAX_FRAGS as usize + 1], true));
    r.expect_sent.clear();
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 1);
    // One whose end comes later: dropped up to its end, across syncs.
    assert!(r.app_send_chain(&[100; MAX_FRAGS as usize + 2], false));
    r.expect_sent.clear();
    r.tx.sync(&r.c);
    assert!(r.tx.dropping);
    let end = nm_ring_next(SLOTS, r.tx.ring.head());
    r.tx.ring.set_head_cur(end);
    assert!(r.app_send_chain(&[700, 800], true));
    r.tx.sync(&r.c);
    r.check_sent();
    assert!(!r.tx.dropping);
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 2);
    assert_eq!(r.c.tx_packets.load(Relaxed), 1);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn a_single_buffer_socket_drops_chains_whole() {
    let mut r = Rig::new();
    assert!(r.app_send_chain(&[100, 100], true));
    r.expect_sent.clear();
    assert_eq!(r.app_send(1), 1);
    r.tx.sync(&r.c);
    r.check_sent();
    assert_eq!(r.c.tx_dropped_chains.load(Relaxed), 1);
    // And a frame longer than a buffer is not received at all.
    r.deliver_sized(1, 3000);
    assert_eq!(r.kernel.state().rx_dropped, 1);
    assert_eq!(r.close(), 0);
}

#[test]
fn rx_chains_arrive_whole() {
    let mut r = Rig::chained();
    assert_eq!(r.deliver_sized(2, 3000), 2);
    assert_eq!(r.deliver(1), 1);
    assert_eq!(r.deliver_sized(1, 5000), 1);
    r.rx.sync(&r.c);
    let (n, ring) = (SLOTS, r.rx.ring);
    let chains = (0..nm_ring_dist(n, ring.head(), ring.tail()))
        .filter(|&i| ring.flags(i) & NS_MOREFRAG != 0)
        .count();
    // Frames of about 3,080 bytes take two buffers, the one of about 5,080 three.
    assert_eq!(chains, 1 + 1 + 2, "fragments with NS_MOREFRAG");
    assert_eq!(r.app_receive(1), 2, "the first frame's two slots");
    r.app_receive(SLOTS);
    assert_eq!(r.c.rx_packets.load(Relaxed), 4);
    // poll's stream density counts slots: 2 + 2 + 1 + 3.
    assert_eq!(r.c.rx_slots.load(Relaxed), 8);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn a_chain_the_ring_cannot_take_yet_waits() {
    let mut r = Rig::chained();
    assert_eq!(r.deliver(14), 14);
    r.rx.sync(&r.c);
    // 14 of the 15 usable slots are the app's: a 2-slot chain must wait, not come in part.
    assert_eq!(r.deliver_sized(1, 3000), 1);
    r.rx.sync(&r.c);
    assert_eq!(r.rx.ring.tail(), 14);
    assert_eq!(r.app_receive(14), 14);
    r.rx.sync(&r.c);
    assert_eq!(nm_ring_dist(SLOTS, r.rx.ring.head(), r.rx.ring.tail()), 2);
    assert_eq!(r.app_receive(1), 2);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

#[test]
fn a_chain_longer_than_the_rx_ring_is_dropped() {
    let mut r = Rig::chained();
    // 17 buffers: more than the 15 slots a 16-slot ring can ever hand over.
    let room = r.region.layout.max_frame() as usize;
    r.seq += 1;
    assert!(r.kernel.deliver(&vec![7u8; 16 * room + 1]));
    assert_eq!(r.deliver(2), 2);
    r.rx.sync(&r.c);
    assert_eq!(r.c.rx_dropped_chains.load(Relaxed), 1);
    r.rx.sync(&r.c);
    assert_eq!(r.app_receive(SLOTS), 2);
    r.audit(true);
    assert_eq!(r.close(), 0);
}

/// One step of an application and its kernel.
#[derive(Debug, Clone)]
enum Op {
    Send(u32),
    /// A frame of slot chains: fragment lengths, and whether its last slot is released.
    SendChain(Vec<u16>, bool),
    Receive(u32),
    Forward(u32),
    Deliver(u32),
    /// Frames longer than a buffer.
    DeliverJumbo(u32, u16),
    TxSync,
    RxSync,
    Completions(u8),
    CompleteHeld,
    KickError(u8),
    // Hostile steps.
    SetHead(bool, u32),
    SetCur(bool, u32),
    Scribble(bool, u32, u32, u16, u16),
}

fn op(hostile: bool) -> BoxedStrategy<Op> {
    let good = prop_oneof![
        (0..20u32).prop_map(Op::Send),
        (0..20u32).prop_map(Op::Receive),
        (0..8u32).prop_map(Op::Forward),
        (0..40u32).prop_map(Op::Deliver),
        (
            proptest::collection::vec(1..1793u16, 1..(MAX_FRAGS as usize + 2)),
            prop_oneof![4 => Just(true), 1 => Just(false)]
        )
            .prop_map(|(f, e)| Op::SendChain(f, e)),
        // Up to MAX_FRAGS buffers, so that forwarding them never makes a chain too long.
        (0..4u32, 1800..8800u16).prop_map(|(k, l)| Op::DeliverJumbo(k, l)),
        Just(Op::TxSync),
        Just(Op::RxSync),
        (0..3u8).prop_map(Op::Completions),
        Just(Op::CompleteHeld),
        (0..3u8).prop_map(Op::KickError),
    ];
    if !hostile {
        return good.boxed();
    }
    prop_oneof![
        6 => good,
        1 => (any::<bool>(), 0..SLOTS + 4).prop_map(|(t, v)| Op::SetHead(t, v)),
        1 => (any::<bool>(), 0..SLOTS + 4).prop_map(|(t, v)| Op::SetCur(t, v)),
        1 => (any::<bool>(), 0..SLOTS, 0..80u32, 0..3000u16, any::<u16>())
            .prop_map(|(t, i, b, l, f)| Op::Scribble(t, i, b, l, f)),
    ]
    .boxed()
}

fn run(ops: Vec<Op>, hostile: bool, chains: bool) {
    // A small pool so that scribbled indices often hit buffers someone else owns.
    let mut r = Rig::with(if hostile { 80 } else { 512 }, chains);
    for o in ops {
        match o {
            Op::Send(k) => {
                r.app_send(k);
            }
            Op::SendChain(frags, release_end) => {
                // A well-behaved app finishes the frame it started before another.
                let unfinished = !r.expect_sent.is_empty() && r.tx.ring.head() < SLOTS && {
                    let t = r.tx.ring;
                    t.head() != r.tx.hwcur
                        && t.flags(nm_ring_prev(SLOTS, t.head())) & NS_MOREFRAG != 0
                };
                if unfinished && !hostile {
                    continue;
                }
                let frags: Vec<usize> = frags.iter().map(|&l| l as usize).collect();
                let dropped = !chains && frags.len() > 1 || frags.len() > MAX_FRAGS as usize;
                let before = r.expect_sent.len();
                let written = r.app_send_chain(&frags, release_end || dropped);
                if written && dropped {
                    // Never sent: the app must not expect it.
                    r.expect_sent.truncate(before);
                }
                if written && !release_end && !dropped && !hostile {
                    // Release the end now: the model app never leaves a frame half given.
                    let t = r.tx.ring;
                    if t.head() < SLOTS {
                        t.set_head_cur(nm_ring_next(SLOTS, t.head()));
                    }
                }
            }
            Op::Receive(k) => {
                let ring = r.rx.ring;
                if ring.head() >= SLOTS || ring.tail() >= SLOTS {
                    continue;
                }
                if hostile {
                    // Contents are not checked once the app may have scribbled on its slots.
                    let ring = r.rx.ring;
                    let k = k.min(nm_ring_dist(ring.num_slots(), ring.head(), ring.tail()));
                    let mut h = ring.head();
                    for _ in 0..k {
                        h = nm_ring_next(ring.num_slots(), h);
                    }
                    ring.set_head_cur(h);
                } else {
                    r.app_receive(k);
                }
            }
            Op::Forward(k) => {
                for _ in 0..k {
                    if !r.app_forward() {
                        break;
                    }
                }
            }
            Op::Deliver(k) => {
                r.deliver(k);
            }
            Op::DeliverJumbo(k, extra) => {
                r.deliver_sized(k, extra as usize);
            }
            Op::TxSync => {
                r.tx.sync(&r.c);
            }
            Op::RxSync => {
                r.rx.sync(&r.c);
            }
            Op::Completions(m) => {
                r.kernel.state().completions = match m {
                    0 => Completions::InOrder,
                    1 => Completions::Reversed,
                    _ => Completions::Held,
                };
            }
            Op::CompleteHeld => r.kernel.complete_held(),
            Op::KickError(e) => r.kernel.state().kick_errors.push_back(match e {
                0 => libc::EAGAIN,
                1 => libc::ENOBUFS,
                _ => libc::EBUSY,
            }),
            Op::SetHead(t, v) => (if t { r.tx.ring } else { r.rx.ring }).set_head(v),
            Op::SetCur(t, v) => (if t { r.tx.ring } else { r.rx.ring }).set_cur(v),
            Op::Scribble(t, i, b, l, f) => {
                let ring = if t { r.tx.ring } else { r.rx.ring };
                ring.set_buf_idx(i, b);
                ring.set_len(i, l);
                ring.set_flags(i, f);
            }
        }
        if !hostile {
            r.check_sent();
        }
        r.audit(!hostile);
    }
    let lost = r.close();
    if !hostile {
        assert_eq!(lost, 0, "a well-behaved app lost buffers");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// A well-behaved app: every frame goes out unchanged and in order, every delivered frame
    /// is read in order, buffers never change hands except as the table says, none is lost.
    #[test]
    fn well_behaved_apps_lose_nothing(
        ops in proptest::collection::vec(op(false), 1..120),
        chains in any::<bool>(),
    ) {
        run(ops, false, chains);
    }

    /// A hostile app (head/cur/buf_idx/len/flags rewritten at random): the kernel is never
    /// handed a buffer twice or a buffer it does not own, and closing returns every buffer.
    #[test]
    fn hostile_apps_never_break_ownership(
        ops in proptest::collection::vec(op(true), 1..160),
        chains in any::<bool>(),
    ) {
        run(ops, true, chains);
    }
}
