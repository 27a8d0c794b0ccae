//! Packets through nmxdp on one end of a veth pair arrive through nmxdp on the other, intact.

use std::sync::mpsc;
use std::time::Duration;

use nmxdp::Port;
use std::sync::atomic::AtomicUsize;

use nmxdp_tests::{
    await_ready, enter, frame, recv_counting, recv_upto, send_all, send_paced, seq_of, VethPair,
};

/// Sends `n` numbered frames of `len` bytes from va (ring 0) to vb and compares every byte.
fn roundtrip(len: usize, n: u64) {
    let pair = VethPair::new("rt", 1);
    let frames: Vec<Vec<u8>> = (0..n).map(|s| frame(s, len)).collect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let progress = AtomicUsize::new(0);
    let received = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").expect("open vb");
            assert_eq!(
                port.modes().xdp,
                Some(nmxdp::AttachMode::Native),
                "veth supports native XDP"
            );
            ready_tx.send(()).unwrap();
            let got = recv_counting(&mut port, n as usize, Duration::from_secs(3), &progress);
            (got, port.stats())
        });
        await_ready(&ready_rx);
        let tx = s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va/T").expect("open va");
            send_paced(&mut port, 0, &frames, &progress, 1024);
            port.stats()
        });
        let txs = tx.join().unwrap();
        assert_eq!(txs.tx_packets, n, "packets handed to the kernel");
        assert_eq!(txs.tx_bad_slots, 0);
        rx.join().unwrap()
    });
    let (got, rxs) = received;
    assert_eq!(
        got.len() as u64,
        n,
        "received {} of {n} frames of {len} bytes",
        got.len()
    );
    for (i, (_, f)) in got.iter().enumerate() {
        let seq = seq_of(f).expect("frame too short");
        assert_eq!(seq, i as u64, "frames out of order");
        assert_eq!(f, &frames[i], "frame {i} differs");
    }
    assert_eq!(rxs.rx_packets, n);
    assert_eq!(rxs.copied_bytes, 0, "the RX path copied bytes");
    pair.assert_no_xdp();
}

#[test]
fn roundtrip_60_byte_frames() {
    roundtrip(60, 20_000);
}

#[test]
fn roundtrip_1514_byte_frames() {
    roundtrip(1514, 5_000);
}

/// A 2-queue veth: ALL_NIC receives on both rings; ONE_NIC -0 and -1 each bind only their ring.
#[test]
fn two_queues_all_nic_and_one_nic() {
    let pair = VethPair::new("mq", 2);
    // veth delivers on the peer's RX queue matching the TX queue used, so ring i -> ring i.
    let per_ring = 500u64;
    let frames0: Vec<Vec<u8>> = (0..per_ring).map(|s| frame(s, 60)).collect();
    let frames1: Vec<Vec<u8>> = (0..per_ring).map(|s| frame(1_000_000 + s, 60)).collect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let got = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").expect("open vb");
            assert_eq!(port.rx_rings(), 0..2);
            assert_eq!(port.tx_rings(), 0..2);
            // One socket per queue, however many directions bind it (each counted once by
            // stats and polled once by the C poll emulation).
            let fds = port.socket_fds();
            assert_eq!(fds.len(), 2, "socket fds {fds:?}");
            assert_ne!(fds[0], fds[1]);
            ready_tx.send(()).unwrap();
            recv_upto(&mut port, 2 * per_ring as usize, Duration::from_secs(3))
        });
        await_ready(&ready_rx);
        s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va").expect("open va");
            send_all(&mut port, 0, &frames0);
            send_all(&mut port, 1, &frames1);
        })
        .join()
        .unwrap();
        rx.join().unwrap()
    });
    let on0 = got.iter().filter(|(r, _)| *r == 0).count() as u64;
    let on1 = got.iter().filter(|(r, _)| *r == 1).count() as u64;
    assert_eq!(
        (on0, on1),
        (per_ring, per_ring),
        "ALL_NIC must receive on both rings"
    );
    assert!(got
        .iter()
        .filter(|(r, _)| *r == 1)
        .all(|(_, f)| seq_of(f).unwrap() >= 1_000_000));

    // ONE_NIC: each port binds exactly its ring pair, and netmap_if shows only that one.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (got0, got1) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut p0 = Port::open("netmap:vb-0").expect("open vb-0");
            let mut p1 = Port::open("netmap:vb-1").expect("open vb-1");
            assert_eq!((p0.rx_rings(), p0.tx_rings()), (0..1, 0..1));
            assert_eq!((p1.rx_rings(), p1.tx_rings()), (1..2, 1..2));
            for (p, bound) in [(&p0, 0usize), (&p1, 1usize)] {
                // ring_ofs: tx0 tx1 host-tx rx0 rx1 host-rx; only the bound pair is non-zero.
                // SAFETY: the netmap_if is valid while the port is open; 6 entries for 2 queues.
                let ofs: Vec<isize> = (0..6)
                    .map(|k| unsafe { *nmxdp::abi::ring_ofs_ptr(p.netmap_if()).add(k) })
                    .collect();
                for (k, o) in ofs.iter().enumerate() {
                    let expect_bound = k == bound || k == 3 + bound;
                    assert_eq!(
                        *o != 0,
                        expect_bound,
                        "ring_ofs[{k}] = {o} for ONE_NIC -{bound}"
                    );
                }
            }
            ready_tx.send(()).unwrap();
            let g1 = recv_upto(&mut p1, per_ring as usize, Duration::from_secs(3));
            let g0 = recv_upto(&mut p0, 1, Duration::from_millis(300));
            (g0, g1)
        });
        await_ready(&ready_rx);
        s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va-1/T").expect("open va-1");
            send_all(&mut port, 1, &frames1);
        })
        .join()
        .unwrap();
        rx.join().unwrap()
    });
    assert_eq!(
        got1.len() as u64,
        per_ring,
        "ONE_NIC -1 receives what was sent to queue 1"
    );
    assert!(got1.iter().all(|(r, _)| *r == 1));
    assert!(got0.is_empty(), "ONE_NIC -0 must not see queue 1's packets");
    pair.assert_no_xdp();
}
