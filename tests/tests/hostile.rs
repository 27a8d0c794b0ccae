//! A hostile app scribbling over its rings between syncs: random head/cur/tail, buf_idx and len.
//! nmxdp must never crash, never send or refill with a buffer the app does not own, and never
//! lose a buffer from the pool (the audit counts every buffer once no port is open).
//! `NMXDP_FUZZ_STEPS` sets the number of random steps (`make fuzz` runs many more).

use std::time::Duration;

use nmxdp::{Events, Port};
use nmxdp_tests::{await_ready, frame, VethPair};

/// xorshift64*: deterministic, so a failing seed can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn scribble<D: nmxdp::Direction>(
    rng: &mut Rng,
    ring: &mut nmxdp::Ring<'_, D>,
    buf_num: u32,
    foreign: &[u32],
) -> bool {
    let n = ring.num_slots();
    let i = rng.below(n as u64) as u32;
    let mut s = ring.slot(i);
    match rng.below(8) {
        0 => ring.set_head(rng.below(n as u64 * 2) as u32),
        1 => ring.set_cur(rng.below(n as u64 * 2) as u32),
        2 => ring.advance(rng.below(n as u64 + 3) as u32),
        3 | 4 => {
            s.buf_idx = match rng.below(5) {
                0 => rng.below(2) as u32,
                1 => buf_num + rng.below(100) as u32,
                2 => u32::MAX,
                3 => foreign[rng.below(foreign.len() as u64) as usize],
                _ => rng.below(buf_num as u64) as u32,
            };
            // SAFETY: hostile on purpose; the slot goes to a sync before any safe view reads
            // it, and nmxdp must refuse what it does not own.
            unsafe { ring.set_slot(i, s) };
        }
        5 => {
            s.len = rng.below(4000) as u16;
            // SAFETY: as above.
            unsafe { ring.set_slot(i, s) };
        }
        6 => {
            s.flags = rng.next() as u16;
            // SAFETY: as above.
            unsafe { ring.set_slot(i, s) };
        }
        _ => return true,
    }
    false
}

/// A well-behaved burst, so traffic keeps flowing through the chaos.
fn burst(rng: &mut Rng, ring: &mut nmxdp::TxRing<'_>) {
    for k in 0..rng.below(64) {
        if !ring.push(&frame(k, 60)) {
            break;
        }
    }
}

#[test]
fn hostile_rings_never_crash_never_send_foreign_buffers_never_lose_buffers() {
    let steps: u64 = std::env::var("NMXDP_FUZZ_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let pair = VethPair::new("hostile", 1);
    let buf_num = nmxdp::region_layout().unwrap().buf_num;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let pb = pair.b.path();
        let pa = pair.a.path();
        let rx = s.spawn(move || {
            nmxdp_tests::enter(&pb);
            let mut port = Port::open("netmap:vb@conf:slots=128").unwrap();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            // Indices of buffers the kernel owns right now (posted for RX at open).
            let foreign: Vec<u32> = (0..64).map(|i| port.rx_ring(0).slot(i).buf_idx).collect();
            ready_tx.send(()).unwrap();
            let mut got = 0usize;
            for _ in 0..steps {
                {
                    let mut r = port.rx_ring(0);
                    if scribble(&mut rng, &mut r, buf_num, &foreign) {
                        let k = rng.below(8) as u32;
                        r.advance(k);
                    }
                }
                let ev = port
                    .poll(Events::IN, Some(Duration::from_millis(1)))
                    .unwrap();
                if ev.contains(Events::IN) {
                    got += port.rx_ring(0).packets().count();
                }
            }
            (got, port.stats())
        });
        await_ready(&ready_rx);
        let tx = s.spawn(move || {
            nmxdp_tests::enter(&pa);
            let mut port = Port::open("netmap:va@conf:slots=128").unwrap();
            let mut rng = Rng(0xd1b5_4a32_d192_ed03);
            let foreign: Vec<u32> = (0..64).map(|i| port.rx_ring(0).slot(i).buf_idx).collect();
            // A TX slot pointing at a buffer the kernel holds for RX is never sent.
            {
                let mut t = port.tx_ring(0);
                let h = t.head();
                let mut sl = t.slot(h);
                sl.buf_idx = foreign[3];
                sl.len = 60;
                // SAFETY: hostile on purpose: the next sync must refuse the kernel's buffer.
                unsafe { t.set_slot(h, sl) };
                t.advance(1);
            }
            port.sync_tx().unwrap();
            assert_eq!(
                port.stats().tx_bad_slots,
                1,
                "a kernel-owned buffer was accepted for TX"
            );
            assert_eq!(port.stats().tx_packets, 0);
            for _ in 0..steps {
                {
                    let mut t = port.tx_ring(0);
                    if scribble(&mut rng, &mut t, buf_num, &foreign) {
                        burst(&mut rng, &mut t);
                    }
                }
                let _ = port
                    .poll(Events::OUT, Some(Duration::from_millis(1)))
                    .unwrap();
            }
            port.stats()
        });
        let txs = tx.join().unwrap();
        let (got, rxs) = rx.join().unwrap();
        eprintln!("hostile: {steps} steps, tx {txs:?}, rx {got} packets {rxs:?}");
        assert!(
            rxs.rx_packets > 0,
            "nothing was received: the test is not testing the RX side"
        );
        assert!(
            txs.tx_bad_slots > 1,
            "the scribbles produced no bad slot: the test is not testing"
        );
        assert!(
            txs.ring_reinits + rxs.ring_reinits > 0,
            "no ring was ever broken"
        );
    });
    // Every buffer is accounted for once the ports are closed.
    let (after, recovered) = nmxdp::pool_audit().unwrap();
    assert_eq!(
        after[0],
        buf_num as usize - 2,
        "free buffers after the run: {after:?}"
    );
    assert_eq!(after[1] + after[2] + after[3], 0);
    eprintln!("hostile: buffers the app lost and nmxdp took back: {recovered}");
    pair.assert_no_xdp();
}
