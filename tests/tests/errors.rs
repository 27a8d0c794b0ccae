//! Bad input gets netmap's errno and a message naming the cause.

use nmxdp::Port;
use nmxdp_tests::VethPair;

fn open_err(name: &str) -> nmxdp::Error {
    match Port::open(name) {
        Ok(_) => panic!("{name} opened but should not"),
        Err(e) => e,
    }
}

#[test]
fn unknown_interface_is_enxio() {
    let pair = VethPair::new("err", 2);
    pair.a.run(|| {
        let e = open_err("netmap:nosuchif0");
        assert_eq!(e.errno(), libc::ENXIO, "{e}");
        assert!(e.message().contains("nosuchif0"), "{e}");
    });
}

#[test]
fn bad_names_are_einval() {
    let pair = VethPair::new("name", 1);
    pair.a.run(|| {
        for name in [
            "netmap:va-",
            "netmap:va-x",
            "netmap:",
            "va",
            "netmap:va@0",
            "netmap:va@conf=4",
            "netmap:va-4096",
        ] {
            let e = open_err(name);
            assert_eq!(e.errno(), libc::EINVAL, "{name}: {e}");
            assert!(!e.message().is_empty(), "{name}: empty message");
        }
    });
    pair.assert_no_xdp();
}

#[test]
fn ring_out_of_range_is_einval() {
    let pair = VethPair::new("range", 2);
    pair.a.run(|| {
        let e = open_err("netmap:va-2");
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
        assert!(e.message().contains("ring 2"), "{e}");
        assert!(Port::open("netmap:va-1").is_ok());
    });
    pair.assert_no_xdp();
}

#[test]
fn unsupported_modes_say_so() {
    let pair = VethPair::new("unsup", 1);
    pair.a.run(|| {
        // Host rings (^, *) are served now: tests/tests/host.rs.
        for name in ["vale0:p", "netmap:va/t"] {
            let e = open_err(name);
            assert_eq!(e.errno(), libc::EOPNOTSUPP, "{name}: {e}");
        }
        let e = open_err("netmap:va@2");
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
    });
}

#[test]
fn namespaces_of_a_test_are_removed() {
    let name = {
        let pair = VethPair::new("gone", 1);
        pair.a.name.clone()
    };
    assert!(!nmxdp_tests::Netns::exists(&name), "{name} left behind");
}

#[test]
fn mtu_larger_than_a_buffer_chain_is_einval_at_open() {
    // Multi-buffer sockets carry a frame in up to 18 buffers of 1,792 bytes (32,256 bytes):
    // MTU 3000 opens, MTU 40000 does not, and the refusal leaves nothing attached.
    let pair = VethPair::new("mtu", 1);
    pair.a.run(|| {
        let set_mtu = |mtu: &str| {
            let ok = std::process::Command::new("ip")
                .args(["link", "set", "va", "mtu", mtu])
                .status()
                .unwrap()
                .success();
            assert!(ok, "ip link set va mtu {mtu}");
        };
        set_mtu("3000");
        let port = nmxdp::Port::open("netmap:va").expect("MTU 3000 fits a chain of buffers");
        assert!(port.modes().multi_buffer, "veth binds multi-buffer");
        assert!(port.max_frame_slots() >= 2);
        drop(port);
        set_mtu("40000");
        let e = open_err("netmap:va");
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
        assert!(e.message().contains("MTU 40000"), "{e}");
        assert!(
            e.message().contains("NMXDP_BUF_SIZE"),
            "the message says how to fix it: {e}"
        );
    });
    pair.assert_no_xdp();
}
