//! Pool sizing and extra buffers (netmap's nr_extra_bufs): a test binary of its own, because the
//! region is sized once per process from NMXDP_BUF_NUM.

use std::collections::HashSet;

use nmxdp::name::parse_port;
use nmxdp::Port;
use nmxdp_tests::VethPair;

const BUF_NUM: u32 = 8192;

/// Walks the chain at ni_bufs_head (next index in each buffer's first 4 bytes, 0 ends).
fn chain(port: &Port) -> Vec<u32> {
    let nifp = port.netmap_if();
    // SAFETY: the netmap_if and the region stay mapped while the port is open.
    let mut b = unsafe { (*nifp).ni_bufs_head };
    let layout = nmxdp::region_layout().unwrap();
    let base = port.region_base();
    let mut out = Vec::new();
    while b != 0 {
        assert!(
            b >= 2 && b < layout.buf_num,
            "bad index {b} in the extra-buffer chain"
        );
        out.push(b);
        assert!(out.len() <= layout.buf_num as usize, "loop in the chain");
        let off = layout.buf_pool_offset as usize + b as usize * layout.buf_size as usize;
        // SAFETY: buffer b lies inside the region.
        b = unsafe { base.add(off).cast::<u32>().read_unaligned() };
    }
    out
}

fn open_with_extra(name: &str, n: u32) -> Port {
    Port::open_spec(parse_port(name).unwrap(), n).unwrap()
}

#[test]
fn extra_buffers_and_pool_limits() {
    std::env::set_var("NMXDP_BUF_NUM", BUF_NUM.to_string());
    let pair = VethPair::new("pool", 2);
    pair.a.run(|| {
        // 0, 1 and 1000 extra buffers: exactly that many, linked, distinct.
        for n in [0u32, 1, 1000] {
            let port = open_with_extra("netmap:va-0@conf:slots=512", n);
            assert_eq!(port.registration().nr_extra_bufs, n);
            let c = chain(&port);
            assert_eq!(c.len() as u32, n);
            assert_eq!(
                c.iter().collect::<HashSet<_>>().len(),
                c.len(),
                "a buffer appears twice"
            );
        }
        // More than the pool has: the registration still succeeds with what is left.
        let (before, _) = nmxdp::pool_audit().unwrap();
        assert_eq!(
            before[0],
            BUF_NUM as usize - 2,
            "all buffers back after the closes"
        );
        let port = open_with_extra("netmap:va-0@conf:slots=512", 1_000_000);
        let given = port.registration().nr_extra_bufs;
        let queue_bufs = 512 + 2 * 512; // tx slots + rx slots and their fill-ring twins
        assert_eq!(given as usize, BUF_NUM as usize - 2 - queue_bufs);
        assert_eq!(chain(&port).len() as u32, given);
        // The pool is empty now: another queue cannot be opened.
        let e = Port::open("netmap:va-1@conf:slots=512")
            .err()
            .expect("no buffers left");
        assert_eq!(e.errno(), libc::ENOMEM, "{e}");
        assert!(
            e.message().contains("NMXDP_BUF_NUM"),
            "the message names the knob: {e}"
        );
        drop(port);
        // The app may rearrange its chain; whatever ni_bufs_head points to at close is freed.
        let port = open_with_extra("netmap:va-0@conf:slots=512", 10);
        let c = chain(&port);
        // SAFETY: the netmap_if is ours while the port is open; keep only the last 3 buffers.
        unsafe { (*port.netmap_if()).ni_bufs_head = c[7] };
        drop(port);
        let (after, recovered) = nmxdp::pool_audit().unwrap();
        assert_eq!(
            after[0],
            BUF_NUM as usize - 2,
            "pool audit after close: {after:?}"
        );
        assert_eq!(
            recovered, 7,
            "the 7 unlinked buffers are taken back once no port is open"
        );
        // Extra buffers as Rust values: taken off the list, given back, swapped into a slot;
        // every one comes back to the pool.
        {
            let mut port = Port::builder("va-0")
                .slots(512)
                .extra_bufs(3)
                .open()
                .unwrap();
            let mut bufs: Vec<nmxdp::ExtraBuf> =
                std::iter::from_fn(|| port.take_extra_buf()).collect();
            assert_eq!(bufs.len(), 3);
            assert!(port.take_extra_buf().is_none(), "the list is empty");
            let ids: HashSet<u32> = bufs.iter().map(|b| b.index()).collect();
            assert_eq!(ids.len(), 3, "distinct buffers");
            port.give_extra_buf(bufs.pop().unwrap());
            assert_eq!(chain(&port).len(), 1);
            let mut b = bufs.pop().unwrap();
            b.bytes_mut()[..4].copy_from_slice(b"nmxd");
            let given = b.index();
            let mut tx = port.tx_ring(0);
            let h = tx.head();
            let old = tx.slot(h).buf_idx;
            tx.swap_extra(h, &mut b).unwrap();
            assert_eq!((tx.slot(h).buf_idx, b.index()), (given, old));
            assert_eq!(&tx.buf_mut(h).unwrap()[..4], b"nmxd");
            let t = tx.tail();
            assert_eq!(
                tx.swap_extra(t, &mut b),
                Err(nmxdp::SwapError::NotOwned(t)),
                "the slot at tail is not the application's"
            );
        }
        let (after, recovered) = nmxdp::pool_audit().unwrap();
        assert_eq!(after[0], BUF_NUM as usize - 2, "{after:?}");
        assert_eq!(recovered, 7, "nothing lost by the extra-buffer values");
        // A ring that does not fit the pool is ENOMEM at open.
        let e = Port::open("netmap:va-0@conf:slots=4096")
            .err()
            .expect("too big for 8192 buffers");
        assert_eq!(e.errno(), libc::ENOMEM, "{e}");
    });
    pair.assert_no_xdp();
}
