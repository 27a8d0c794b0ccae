//! poll() wakes when a frame arrives (docs/architecture.md, "Poll"): a ping-pong through
//! `Port::poll` is answered faster than one RX nap, streams still nap, and TX waits back off
//! from a short first wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nmxdp::port_poll::{DENSE_SLOTS, TX_WAIT, TX_WAIT_FIRST};
use nmxdp::{Events, Port, WaitPlan};
use nmxdp_tests::{frame, recv_upto, send_all, seq_of, VethPair};

const ROUNDS: usize = 300;
const WARMUP: usize = 20;

/// The RX nap of the default configuration (`NMXDP_RX_NAP_US`).
fn nap() -> Duration {
    Duration::from_micros(nmxdp::Config::from_env().unwrap().rx_nap_us as u64)
}

/// The look-again time before a sleep on sparse traffic (`NMXDP_RX_SPIN_US`).
fn spin() -> Duration {
    Duration::from_micros(nmxdp::Config::from_env().unwrap().rx_spin_us as u64)
}

/// Echoes every frame it receives until `stop`; returns how many it echoed.
fn pong(port: &mut Port, stop: &AtomicBool) -> usize {
    let mut echoed = 0;
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let ev = port
            .poll(Events::IN, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(!ev.contains(Events::ERR), "POLLERR on the pong side");
        loop {
            let len = {
                let mut rx = port.rx_ring(0);
                let mut batch = rx.packets();
                match batch.next() {
                    Some(p) => {
                        let d = p.data();
                        buf[..d.len()].copy_from_slice(d);
                        d.len()
                    }
                    None => break,
                }
            };
            assert!(port.tx_ring(0).push(&buf[..len]), "pong TX ring full");
            port.sync_tx().unwrap();
            echoed += 1;
        }
    }
    echoed
}

#[test]
fn ping_pong_through_poll_is_faster_than_one_nap() {
    let pair = VethPair::new("wake", 1);
    let stop = Arc::new(AtomicBool::new(false));
    let (rtts, echoed, plan_after) = std::thread::scope(|s| {
        let st = stop.clone();
        let b = &pair.b;
        let ponger = s.spawn(move || {
            b.run(|| {
                let mut port = Port::open("netmap:vb").unwrap();
                let n = pong(&mut port, &st);
                // After a ping-pong (one frame per wake-up) a wait for input sleeps on the
                // sockets, with no cap: the next frame ends it.
                (n, port.wait_plan(Events::IN))
            })
        });
        // Let the pong side open its port and arm its poll first.
        std::thread::sleep(Duration::from_millis(300));
        let rtts = pair.a.run(|| {
            let mut port = Port::open("netmap:va").unwrap();
            let mut rtts = Vec::with_capacity(ROUNDS);
            for seq in 0..(ROUNDS + WARMUP) as u64 {
                let f = frame(seq, 60);
                let t0 = Instant::now();
                assert!(port.tx_ring(0).push(&f));
                port.sync_tx().unwrap();
                let got = recv_upto(&mut port, 1, Duration::from_secs(2));
                assert_eq!(got.len(), 1, "no echo for ping {seq}");
                assert_eq!(seq_of(&got[0].1), Some(seq), "echo of another ping");
                if seq as usize >= WARMUP {
                    rtts.push(t0.elapsed());
                }
            }
            rtts
        });
        stop.store(true, Ordering::Relaxed);
        let (echoed, plan) = ponger.join().unwrap();
        (rtts, echoed, plan)
    });
    assert_eq!(echoed, ROUNDS + WARMUP, "pong echoed every ping once");
    // (Whether it looks again first depends on whether looking again paid off here.)
    assert!(
        plan_after.watch_rx && plan_after.cap.is_none(),
        "{plan_after:?}"
    );
    let mut sorted = rtts.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    // With blind naps after each receive, both sides nap and a round trip cannot beat two naps
    // (about 100 us); waking on the socket takes tens of microseconds. The bound is one nap.
    eprintln!(
        "ping-pong over {} rounds: min {:?} median {:?} p99 {:?}",
        sorted.len(),
        sorted[0],
        median,
        sorted[sorted.len() * 99 / 100]
    );
    assert!(
        median < nap().max(Duration::from_micros(50)),
        "median RTT {median:?} is not below one RX nap ({:?}): poll() did not wake on arrival",
        nap()
    );
}

#[test]
fn streams_nap_and_lone_frames_wake() {
    let pair = VethPair::new("nap", 1);
    let n = DENSE_SLOTS as usize * 4;
    let frames: Vec<Vec<u8>> = (0..n as u64).map(|s| frame(s, 60)).collect();
    // The steps are sequenced through channels, so which plan each wait gets does not depend
    // on how the two threads happen to be scheduled.
    let (burst_sent, burst_arrived) = mpsc::channel::<()>();
    let (lone_wanted, lone_go) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let b = &pair.b;
        let receiver = s.spawn(move || {
            b.run(move || {
                let mut port = Port::open("netmap:vb").unwrap();
                port.sync_rx().unwrap();
                lone_wanted.send(()).unwrap();
                // The whole burst is in the kernel's RX ring before the first poll, so one
                // pass takes it all and no wait happens in between.
                burst_arrived.recv().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                let got = recv_upto(&mut port, n, Duration::from_secs(2));
                let mut plans = vec![port.wait_plan(Events::IN)];
                // Nothing came during the nap: the next wait sleeps on the sockets.
                plans.push(port.wait_plan(Events::IN));
                // A lone frame: still a sleep on the sockets afterwards.
                lone_wanted.send(()).unwrap();
                let lone = recv_upto(&mut port, 1, Duration::from_secs(2));
                plans.push(port.wait_plan(Events::IN));
                (got.len(), lone.len(), plans)
            })
        });
        pair.a.run(move || {
            let mut port = Port::open("netmap:va").unwrap();
            lone_go.recv().unwrap();
            send_all(&mut port, 0, &frames);
            burst_sent.send(()).unwrap();
            lone_go.recv().unwrap();
            send_all(&mut port, 0, &[frame(n as u64, 60)]);
        });
        let (got, lone, plans) = receiver.join().unwrap();
        assert_eq!((got, lone), (n, 1));
        let socket = WaitPlan {
            watch_rx: true,
            cap: None,
            spin: spin(),
        };
        let nap = WaitPlan {
            watch_rx: false,
            cap: Some(nap()),
            spin: Duration::ZERO,
        };
        assert_eq!(plans, vec![nap, socket, socket]);
    });
}

#[test]
fn tx_waits_back_off_and_reset() {
    let pair = VethPair::new("txw", 1);
    pair.a.run(|| {
        let mut port = Port::open("netmap:va").unwrap();
        let caps: Vec<Option<Duration>> = (0..8).map(|_| port.wait_plan(Events::OUT).cap).collect();
        let mut want = TX_WAIT_FIRST;
        for c in &caps {
            assert_eq!(*c, Some(want));
            want = (want * 2).min(TX_WAIT);
        }
        assert_eq!(caps[7], Some(TX_WAIT));
        // Room found: the next wait is short again.
        assert!(port
            .poll(Events::OUT, Some(Duration::ZERO))
            .unwrap()
            .contains(Events::OUT));
        assert_eq!(port.wait_plan(Events::OUT).cap, Some(TX_WAIT_FIRST));
        // Waiting for input and room together watches the sockets with the TX cap.
        let p = port.wait_plan(Events::IN | Events::OUT);
        assert!(p.watch_rx);
        assert_eq!(p.cap, Some(TX_WAIT_FIRST * 2));
        // A sender does not look again: its TX waits are short already.
        assert_eq!(p.spin, Duration::ZERO);
    });
}
