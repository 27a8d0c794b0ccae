//! `nmxdp info` reports queues and the XDP/bind modes an open would use.

use std::path::PathBuf;
use std::process::Command;

use nmxdp_tests::VethPair;

/// target/<profile>/nmxdp, next to this test's deps/ directory.
fn nmxdp_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("nmxdp");
    assert!(
        bin.exists(),
        "{} missing: build the workspace first (make test does)",
        bin.display()
    );
    bin
}

#[test]
fn info_reports_queues_and_modes() {
    let pair = VethPair::new("cli", 2);
    let out = Command::new("ip")
        .args(["netns", "exec", &pair.a.name])
        .arg(nmxdp_bin())
        .args(["info", "va"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("queues:         2 rx, 2 tx"), "{text}");
    assert!(text.contains("driver veth"), "{text}");
    // Default configuration: 32768 buffers of 2048 bytes, 1024-slot rings.
    assert!(text.contains("UMEM 64.0 MiB"), "{text}");
    assert!(
        text.contains("a port on all 2 queue(s) takes 6144 of 32766 buffers (3072 per queue)"),
        "{text}"
    );
    assert!(text.contains("xdp native:     yes"), "{text}");
    assert!(text.contains("af_xdp zc:      no"), "{text}");
    assert!(
        text.contains("open would use: xdp native, bind copy"),
        "{text}"
    );
    // The probes leave nothing attached.
    pair.assert_no_xdp();

    let bad = Command::new("ip")
        .args(["netns", "exec", &pair.a.name])
        .arg(nmxdp_bin())
        .args(["info", "nosuch0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nosuch0"));
}
