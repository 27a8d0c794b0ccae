//! The socket that registered the process's UMEM outlives its interface: later ports still open
//! and move packets (docs/architecture.md, "Engine"). Alone in its binary so that the first
//! socket this process binds, and so the UMEM's owner, is the one the test deletes.

use std::time::Duration;

use nmxdp::Port;
use nmxdp_tests::{enter, frame, recv_upto, send_all, seq_of, VethPair};

#[test]
fn ports_open_after_the_umem_owners_interface_is_deleted() {
    let first = VethPair::new("owna", 1);
    let second = VethPair::new("ownb", 1);
    let buf_num = nmxdp::region_layout().unwrap().buf_num;
    let frames: Vec<Vec<u8>> = (0..200).map(|s| frame(s, 60)).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&first.a.path());
            let owner = Port::open("netmap:va").expect("open the first port");
            enter(&second.a.path());
            let mut tx = Port::open("netmap:va/T").expect("open a port sharing the UMEM");
            drop(owner);
            // The kernel unbinds the owner's socket with its interface; the socket stays open
            // because another queue still shares its UMEM.
            first.a.del_link("va");
            enter(&second.b.path());
            let mut rx = Port::open("netmap:vb").expect("open after the owner's interface went");
            send_all(&mut tx, 0, &frames);
            let got = recv_upto(&mut rx, frames.len(), Duration::from_secs(2));
            assert_eq!(got.len(), frames.len(), "frames received");
            for (k, (_, f)) in got.iter().enumerate() {
                assert_eq!(seq_of(f), Some(k as u64));
                assert_eq!(f, &frames[k], "frame {k} differs");
            }
            assert_eq!(rx.stats().rx_packets, frames.len() as u64);
        })
        .join()
        .unwrap();
    });
    let (after, recovered) = nmxdp::pool_audit().unwrap();
    assert_eq!(after[0], buf_num as usize - 2, "free buffers: {after:?}");
    assert_eq!(after[1] + after[2] + after[3], 0);
    assert_eq!(recovered, 0, "no buffer was lost");
    second.assert_no_xdp();
}
