//! netmap ring semantics over AF_XDP: idle TX tail, cur-based readiness, broken head/cur,
//! broken slots, RX refill, and zero-copy buffer swapping.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nmxdp::{Events, Port};
use nmxdp_tests::{await_ready, drain, enter, frame, recv_upto, send_all, seq_of, VethPair};

const T: Option<Duration> = Some(Duration::from_millis(300));

#[test]
fn idle_tx_ring_has_tail_one_before_head() {
    let pair = VethPair::new("idle", 1);
    pair.a.run(|| {
        let mut port = Port::open("netmap:va").unwrap();
        {
            let tx = port.tx_ring(0);
            assert_eq!((tx.head(), tx.cur(), tx.tail()), (0, 0, tx.num_slots() - 1));
            assert!(!tx.tx_pending());
        }
        assert!(port.rx_ring(0).num_slots() >= 64);
        // Send more than a ring's worth so head wraps, then check the idle rule again.
        let n = port.tx_ring(0).num_slots() as u64 + 77;
        let frames: Vec<Vec<u8>> = (0..n).map(|s| frame(s, 60)).collect();
        send_all(&mut port, 0, &frames);
        {
            let tx = port.tx_ring(0);
            assert_eq!(
                tx.next(tx.tail()),
                tx.head(),
                "idle TX ring: tail == head - 1"
            );
            assert_eq!(tx.available(), tx.num_slots() - 1);
        }
        // A user-overwritten tail is restored by the next sync.
        let good_tail = port.tx_ring(0).tail();
        unsafe_set_tail(&mut port, 0, 3);
        port.sync_tx().unwrap();
        assert_eq!(port.tx_ring(0).tail(), good_tail);
    });
    pair.assert_no_xdp();
}

/// Overwrites tail as a careless app might (the ring API has no setter on purpose).
fn unsafe_set_tail(port: &mut Port, ring: u32, v: u32) {
    let nifp = port.netmap_if();
    // SAFETY: TX ring 0's offset is non-zero while the port is open; tail is a plain u32.
    unsafe {
        let off = *nmxdp::abi::ring_ofs_ptr(nifp).add(ring as usize);
        let r = (nifp as *mut u8)
            .offset(off)
            .cast::<nmxdp::abi::netmap_ring>();
        (*r).tail = v;
    }
}

#[test]
fn readiness_follows_cur_not_head() {
    let pair = VethPair::new("cur", 1);
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").unwrap();
            ready_tx.send(()).unwrap();
            // Wait for the 10 packets. poll() returns as soon as the first one is in, and the
            // rest may trail it, so the wait is bounded by time, not by a count of polls.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut seen = 0;
            while Instant::now() < deadline {
                port.poll(Events::IN, T).unwrap();
                seen = port.rx_ring(0).available();
                if seen >= 10 {
                    break;
                }
            }
            assert_eq!(seen, 10);
            // Packets are there (head != tail) but cur == tail: not readable.
            {
                let mut rx = port.rx_ring(0);
                let t = rx.tail();
                rx.set_cur(t);
                assert_ne!(rx.head(), rx.tail());
                // A batch that yields nothing leaves head and cur as the app set them.
                drop(rx.packets());
                assert_eq!(rx.cur(), t, "an untouched RX batch moved cur");
                assert_ne!(rx.head(), t, "an untouched RX batch moved head");
            }
            assert!(!port
                .poll(Events::IN, Some(Duration::from_millis(100)))
                .unwrap()
                .contains(Events::IN));
            // cur back at head: readable again without any new packet.
            {
                let mut rx = port.rx_ring(0);
                let h = rx.head();
                rx.set_cur(h);
            }
            assert!(port.poll(Events::IN, T).unwrap().contains(Events::IN));
        });
        await_ready(&ready_rx);
        s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va").unwrap();
            // TX: free slots and cur != tail → writable; cur moved to tail → waits for room.
            assert!(port.poll(Events::OUT, T).unwrap().contains(Events::OUT));
            let frames: Vec<Vec<u8>> = (0..10).map(|s| frame(s, 60)).collect();
            send_all(&mut port, 0, &frames);
            {
                let mut tx = port.tx_ring(0);
                let t = tx.tail();
                tx.set_cur(t);
                drop(tx.batch());
                assert_eq!(tx.cur(), t, "an untouched TX batch moved cur");
            }
            assert!(!port
                .poll(Events::OUT, Some(Duration::from_millis(100)))
                .unwrap()
                .contains(Events::OUT));
        })
        .join()
        .unwrap();
        rx.join().unwrap();
    });
    pair.assert_no_xdp();
}

#[test]
fn bad_head_or_cur_gives_pollerr_and_the_ring_recovers() {
    let pair = VethPair::new("bad", 1);
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").unwrap();
            ready_tx.send(()).unwrap();
            // RX: head beyond tail.
            let n = port.rx_ring(0).num_slots();
            port.rx_ring(0).set_head(n + 3);
            assert!(
                (port.poll(Events::IN, T).unwrap()).contains(Events::ERR),
                "RX head out of range → POLLERR"
            );
            {
                let rx = port.rx_ring(0);
                assert!(
                    rx.head() < n && rx.cur() < n,
                    "reinit resets out-of-range head/cur"
                );
            }
            recv_upto(&mut port, 20, Duration::from_secs(3))
        });
        await_ready(&ready_rx);
        s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va").unwrap();
            let n = port.tx_ring(0).num_slots();
            port.tx_ring(0).set_head(n + 5);
            assert!(
                (port.poll(Events::OUT, T).unwrap()).contains(Events::ERR),
                "TX head out of range → POLLERR"
            );
            // ioctl-style sync still succeeds (netmap returns 0), and the ring is usable again.
            port.sync_tx().unwrap();
            {
                let tx = port.tx_ring(0);
                assert_eq!((tx.head(), tx.cur()), (0, 0));
            }
            // cur behind head is also a violation.
            {
                let mut tx = port.tx_ring(0);
                tx.set_head(5);
                tx.set_cur(2);
            }
            assert!(
                (port.poll(Events::OUT, T).unwrap()).contains(Events::ERR),
                "cur before head → POLLERR"
            );
            {
                let mut tx = port.tx_ring(0);
                tx.set_head(0);
                tx.set_cur(0);
            }
            assert_eq!(port.poll(Events::OUT, T).unwrap(), Events::OUT, "recovered");
            std::thread::sleep(Duration::from_millis(100));
            let frames: Vec<Vec<u8>> = (0..20).map(|s| frame(s, 60)).collect();
            send_all(&mut port, 0, &frames);
            assert!(port.stats().ring_reinits >= 2);
        })
        .join()
        .unwrap();
        let got = rx.join().unwrap();
        assert_eq!(got.len(), 20, "traffic flows after the re-initialisations");
    });
    pair.assert_no_xdp();
}

#[test]
fn bad_buf_idx_or_len_is_skipped_and_counted() {
    let pair = VethPair::new("slot", 1);
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").unwrap();
            ready_tx.send(()).unwrap();
            recv_upto(&mut port, 10, Duration::from_secs(1))
        });
        await_ready(&ready_rx);
        let stats = s
            .spawn(|| {
                enter(&pair.a.path());
                let mut port = Port::open("netmap:va").unwrap();
                let bad = [
                    (0u32, 60u16),
                    (1, 60),
                    (u32::MAX, 60),
                    (99_999_999, 60),
                    (7, 0),
                    (7, 1900),
                    (7, 2048),
                ];
                {
                    let mut tx = port.tx_ring(0);
                    // good frames at slots 0 and 8 around seven broken slots
                    let f0 = frame(0, 60);
                    assert!(tx.push(&f0));
                    for (k, (idx, len)) in bad.iter().enumerate() {
                        let i = tx.head();
                        let mut s = tx.slot(i);
                        s.buf_idx = if *idx == 7 { s.buf_idx } else { *idx };
                        s.len = *len;
                        let _ = k;
                        // SAFETY: the slot is handed to the next sync without being read
                        // through a safe view first (the broken slots are the test).
                        unsafe { tx.set_slot(i, s) };
                        tx.advance(1);
                    }
                    assert!(tx.push(&frame(1, 60)));
                }
                drain(&mut port, 0);
                port.stats()
            })
            .join()
            .unwrap();
        assert_eq!(stats.tx_bad_slots, 7, "every broken slot is counted");
        assert_eq!(stats.tx_packets, 2, "only the good slots are sent");
        let got = rx.join().unwrap();
        let seqs: Vec<u64> = got.iter().map(|(_, f)| seq_of(f).unwrap()).collect();
        assert_eq!(seqs, vec![0, 1], "nothing but the app's two frames arrives");
    });
    pair.assert_no_xdp();
}

#[test]
fn rx_refill_keeps_receiving_past_ten_rings() {
    let pair = VethPair::new("refill", 1);
    let slots = 64u64;
    let rounds = 25u64; // 25 * 32 = 800 packets = 12.5 rings of 64 slots
    let burst = 32u64;
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<u64>();
    let (ack_tx, ack_rx) = mpsc::channel::<usize>();
    std::thread::scope(|s| {
        let pb = pair.b.path();
        let ready_tx = ready_tx.clone();
        s.spawn(move || {
            enter(&pb);
            let mut port = Port::open("netmap:vb@conf:slots=64").unwrap();
            assert_eq!(port.rx_ring(0).num_slots() as u64, slots);
            ready_tx.send(()).unwrap();
            let mut expect = 0u64;
            while let Ok(round) = go_rx.recv() {
                let got = recv_upto(&mut port, burst as usize, Duration::from_secs(2));
                for (_, f) in &got {
                    assert_eq!(seq_of(f).unwrap(), expect, "round {round}");
                    expect += 1;
                }
                ack_tx.send(got.len()).unwrap();
            }
        });
        await_ready(&ready_rx);
        let pa = pair.a.path();
        s.spawn(move || {
            enter(&pa);
            let mut port = Port::open("netmap:va@conf:slots=64").unwrap();
            let mut total = 0;
            for r in 0..rounds {
                let frames: Vec<Vec<u8>> =
                    (r * burst..(r + 1) * burst).map(|s| frame(s, 60)).collect();
                go_tx.send(r).unwrap();
                send_all(&mut port, 0, &frames);
                let n = ack_rx.recv().unwrap();
                assert_eq!(n as u64, burst, "round {r}: RX ring stopped refilling");
                total += n as u64;
            }
            drop(go_tx);
            assert!(total >= 10 * slots);
        })
        .join()
        .unwrap();
    });
    pair.assert_no_xdp();
}

#[test]
fn swapping_an_rx_buffer_into_a_tx_slot_forwards_without_copy() {
    let pair = VethPair::new("swap", 1);
    let n = 200u64;
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let frames: Vec<Vec<u8>> = (0..n).map(|s| frame(s, 128)).collect();
    std::thread::scope(|s| {
        // vb reflects every packet back by swapping buffers between its RX and TX rings.
        let pb = pair.b.path();
        let reflector = s.spawn(move || {
            enter(&pb);
            let mut port = Port::open("netmap:vb").unwrap();
            ready_tx.send(()).unwrap();
            let mut forwarded = 0u64;
            let mut swapped_idx_ok = true;
            while forwarded < n {
                let ev = port.poll(Events::IN, Some(Duration::from_secs(3))).unwrap();
                assert!(
                    (ev).contains(Events::IN),
                    "reflector starved at {forwarded}"
                );
                {
                    let (mut tx, mut rx) = port.tx_rx_rings(0, 0);
                    while !rx.is_empty() && tx.available() > 0 {
                        let (ri, ti) = (rx.head(), tx.head());
                        let rx_buf = rx.slot(ri).buf_idx;
                        nmxdp::swap_buffers(&mut rx, ri, &mut tx, ti).expect("owned slots");
                        swapped_idx_ok &= tx.slot(ti).buf_idx == rx_buf;
                        rx.advance(1);
                        tx.advance(1);
                        forwarded += 1;
                    }
                }
                port.sync_tx().unwrap();
            }
            drain(&mut port, 0);
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
            assert!(swapped_idx_ok);
            port.stats()
        });
        await_ready(&ready_rx);
        let frames = &frames;
        let pa = pair.a.path();
        let back = s
            .spawn(move || {
                enter(&pa);
                let mut port = Port::open("netmap:va").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                send_all(&mut port, 0, frames);
                let got = recv_upto(&mut port, n as usize, Duration::from_secs(3));
                done_tx.send(()).unwrap();
                got
            })
            .join()
            .unwrap();
        let stats = reflector.join().unwrap();
        assert_eq!(back.len() as u64, n, "every packet came back");
        for (i, (_, f)) in back.iter().enumerate() {
            assert_eq!(f, &frames[i]);
        }
        assert_eq!(stats.copied_bytes, 0, "forwarding copied bytes");
        assert_eq!(stats.tx_packets, n);
    });
    pair.assert_no_xdp();
}
