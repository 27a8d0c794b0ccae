//! `nmxdp info` reports queues and the XDP/bind modes an open would use.

use std::path::PathBuf;
use std::process::Command;

use nmxdp_tests::bins::{c_app, nmxdp};
use nmxdp_tests::{Netns, VethPair};

#[test]
fn info_reports_queues_and_modes() {
    let pair = VethPair::new("cli", 2);
    let out = Command::new("ip")
        .args(["netns", "exec", &pair.a.name])
        .arg(nmxdp())
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
        .arg(nmxdp())
        .args(["info", "nosuch0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nosuch0"));
}

/// `nmxdp status` removes the files nobody holds (what a killed process leaves) and keeps the
/// ones a live process holds, whatever their content says. Here the test process itself plays
/// the live user and holder, with the same flocks nmxdp takes.
#[test]
fn status_removes_dead_files_and_keeps_held_ones() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let ns = Netns::new("clean");
    let key = format!("{}-7", ns.inode());
    let dir = std::path::Path::new("/run/nmxdp");
    std::fs::create_dir_all(dir).unwrap();
    let file = |name: String, content: &str, lock: i32| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: flock on a file we hold open.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), lock) }, 0);
        (f, path)
    };
    let me = std::process::id();
    let dead = [
        format!("{key}.lock"),
        format!("{key}-q0.holder"),
        format!("{key}-q2.holder"),
    ];
    for name in &dead {
        std::fs::write(dir.join(name), "1 3 gone0").unwrap();
    }
    let live = [
        file(format!("{key}.users"), "", libc::LOCK_SH),
        file(
            format!("{key}-q1.holder"),
            &format!("{me} -1 fake0"),
            libc::LOCK_EX,
        ),
    ];
    let inodes = |l: &[(std::fs::File, PathBuf)]| -> Vec<u64> {
        l.iter()
            .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.ino()))
            .collect()
    };
    let before = inodes(&live);

    let status = || {
        let out = Command::new(nmxdp()).arg("status").output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = status();
    assert!(
        text.contains(&format!("fake0 [netns-ifindex {key}]"))
            && text.contains(&format!("queue 1 pid {me}:")),
        "{text}"
    );
    assert!(!text.contains("gone0"), "{text}");
    let want = vec![format!("{key}-q1.holder"), format!("{key}.users")];
    assert_eq!(
        ns.run_files_settled(&want),
        want,
        "only the held files stay"
    );
    assert_eq!(inodes(&live), before, "held files were replaced");

    // Once their holder is gone, the next status removes them too.
    drop(live);
    let text = status();
    assert!(!text.contains(&key), "{text}");
    assert_eq!(
        ns.run_files_settled(&[]),
        Vec::<String>::new(),
        "files left behind"
    );
}

/// `nmxdp status` removes the bpffs pins of an interface nobody uses (a real pinned map under a
/// key no process holds, as a killed last user or a deleted namespace leaves) and keeps the pins
/// of an interface in use.
#[test]
fn status_removes_stale_pins_and_keeps_live_ones() {
    nmxdp_tests::require_root();
    let root = nmxdp::shared::bpffs_root().unwrap();
    let stale = root.join(format!(
        "{}-7",
        4_000_000_000u64 + std::process::id() as u64
    ));
    std::fs::create_dir_all(&stale).unwrap();
    let map = nmxdp::bpfsys::map_create(2, 4, 4, 1, 0, "nmxdp_stale").unwrap();
    nmxdp::bpfsys::obj_pin(std::os::fd::AsFd::as_fd(&map), &stale.join("map")).unwrap();
    drop(map);
    let pair = VethPair::new("pins", 1);
    pair.a.run(|| {
        let _port = nmxdp::Port::open("netmap:va").unwrap();
        let live = root.join(format!(
            "{}-{}",
            pair.a.inode(),
            nmxdp::ifinfo::if_info("va").unwrap().ifindex
        ));
        assert!(
            live.join("prog").exists(),
            "the open port's program is pinned"
        );
        let out = Command::new(nmxdp()).arg("status").output().unwrap();
        assert!(out.status.success());
        assert!(!stale.exists(), "stale pins left: {}", stale.display());
        assert!(
            live.join("prog").exists(),
            "a live interface's pins were removed"
        );
        assert!(
            live.join("map").exists(),
            "a live interface's pins were removed"
        );
    });
    pair.assert_no_xdp();
}

#[test]
fn info_and_status_print_json() {
    let pair = VethPair::new("clij", 1);
    let run = |args: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &pair.a.name])
            .arg(nmxdp())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let info = run(&["info", "va", "--json"]);
    for key in [
        "\"interface\": \"va\"",
        "\"rx_queues\": 1",
        "\"driver\": \"veth\"",
        "\"buffers_per_queue\": 3072",
        "\"open_would_use\"",
        "\"bind\": \"copy\"",
    ] {
        assert!(info.contains(key), "{key} missing from {info}");
    }
    assert!(info.trim_start().starts_with('{') && info.trim_end().ends_with('}'));
    // A port open in this process shows up, with its queue and pid.
    pair.a.run(|| {
        let _port = nmxdp::Port::open("netmap:va").unwrap();
        let out = Command::new(nmxdp())
            .args(["status", "--json"])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("\"interface\": \"va\""), "{s}");
        assert!(
            s.contains(&format!("\"pid\": {}", std::process::id())),
            "{s}"
        );
        assert!(s.contains("\"rx_fill_ring_empty_descs\": 0"), "{s}");
    });
}

#[test]
fn exec_preloads_libnetmap() {
    let pair = VethPair::new("exec", 1);
    let app = c_app("nm_lib-plain", "nm_lib");
    // 1000 frames fit the receiver's ring and fill ring, so none is lost however the two
    // processes are scheduled.
    let rx = Command::new("ip")
        .args(["netns", "exec", &pair.b.name])
        .arg(nmxdp())
        .args(["exec", "--"])
        .arg(&app)
        .args(["-i", "netmap:vb", "-f", "rx", "-n", "1000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let tx = Command::new("ip")
        .args(["netns", "exec", &pair.a.name])
        .arg(nmxdp())
        .args(["exec", "--"])
        .arg(&app)
        .args(["-i", "netmap:va", "-f", "tx", "-n", "1000", "-l", "60"])
        .output()
        .unwrap();
    let txo = String::from_utf8_lossy(&tx.stdout);
    assert!(
        tx.status.success(),
        "{txo}{}",
        String::from_utf8_lossy(&tx.stderr)
    );
    assert!(txo.contains("sent 1000"), "{txo}");
    let rx = rx.wait_with_output().unwrap();
    let rxo = String::from_utf8_lossy(&rx.stdout);
    assert!(
        rx.status.success(),
        "{rxo}{}",
        String::from_utf8_lossy(&rx.stderr)
    );
    assert!(rxo.contains("received 1000"), "{rxo}");

    // Without the library nothing runs, and the message says where it looked and what to do.
    let out = Command::new(nmxdp())
        .env("NMXDP_LIB", "/nonexistent/libnetmap.so")
        .args(["exec", "--"])
        .arg(&app)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/nonexistent/libnetmap.so") && err.contains("NMXDP_LIB"),
        "{err}"
    );
    // A program that does not exist: the system's reason.
    let out = Command::new(nmxdp())
        .args(["exec", "--", "/nonexistent/app"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("No such file or directory"), "{err}");
}

/// On an MTU-9000 veth, `info` says an open binds multi-buffer (copy mode, Linux 6.6+) and how
/// many buffers a frame of the MTU takes; `status` says the sockets of a port there are
/// multi-buffer.
#[test]
fn info_and_status_report_multi_buffer() {
    let pair = VethPair::new("clim", 1);
    pair.a.set_mtu("va", 9000);
    pair.b.set_mtu("vb", 9000);
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &pair.a.name])
            .arg(nmxdp())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let text = run(&[], &["info", "va"]);
    assert!(
        text.contains("multi-buffer:   yes (copy bind with XDP_USE_SG, Linux 6."),
        "{text}"
    );
    assert!(
        text.contains("buffer(s) of 1792); MTU 9000 takes 6\n"),
        "{text}"
    );
    let text = run(&[("NMXDP_BUF_SIZE", "4096")], &["info", "va"]);
    assert!(
        text.contains("buffer(s) of 3840); MTU 9000 takes 3\n"),
        "{text}"
    );
    let json = run(&[], &["info", "va", "--json"]);
    for key in [
        "\"multi_buffer\"",
        "\"supported\": true",
        "\"mtu_slots\": 6",
        "\"slot_bytes\": 1792",
    ] {
        assert!(json.contains(key), "{key} missing from {json}");
    }
    // The probes leave nothing attached.
    pair.assert_no_xdp();
    pair.a.run(|| {
        let _port = nmxdp::Port::open("netmap:va").unwrap();
        let out = Command::new(nmxdp()).arg("status").output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("mtu 9000: frames of 9014 bytes are longer than any buffer: its sockets are multi-buffer"),
            "{s}"
        );
        let out = Command::new(nmxdp())
            .args(["status", "--json"])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("\"multi_buffer\": \"always\""), "{s}");
    });
}
