//! NMXDP_XDP_MODE / NMXDP_BIND select the attach and bind modes, and the API reports them.
//! A test binary of its own: the engine reads the environment once per process.

use std::sync::mpsc;
use std::time::Duration;

use nmxdp::{AttachMethod, AttachMode, BindMode, Port};
use nmxdp_tests::{await_ready, enter, frame, recv_upto, send_all, VethPair};

#[test]
fn skb_mode_and_copy_bind_are_honoured_and_reported() {
    std::env::set_var("NMXDP_XDP_MODE", "skb");
    std::env::set_var("NMXDP_BIND", "copy");
    let pair = VethPair::new("mode", 1);
    let frames: Vec<Vec<u8>> = (0..1000).map(|s| frame(s, 60)).collect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (got, modes) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            enter(&pair.b.path());
            let mut port = Port::open("netmap:vb").unwrap();
            let modes = port.modes();
            let out = std::process::Command::new("ip")
                .args(["-n", &pair.b.name, "-d", "link", "show", "vb"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                text.contains("xdpgeneric"),
                "generic XDP expected on vb: {text}"
            );
            ready_tx.send(()).unwrap();
            (
                recv_upto(&mut port, frames.len(), Duration::from_secs(3)),
                modes,
            )
        });
        await_ready(&ready_rx);
        s.spawn(|| {
            enter(&pair.a.path());
            let mut port = Port::open("netmap:va/T").unwrap();
            assert_eq!(
                port.modes().xdp,
                None,
                "a TX-only port attaches no XDP program"
            );
            send_all(&mut port, 0, &frames);
        })
        .join()
        .unwrap();
        rx.join().unwrap()
    });
    assert_eq!(modes.xdp, Some(AttachMode::Skb));
    assert_eq!(modes.method, Some(AttachMethod::BpfLink));
    assert_eq!(modes.bind, BindMode::Copy);
    assert_eq!(got.len(), frames.len());
    pair.assert_no_xdp();
}
