//! Test bed: network namespaces and veth pairs made by the test itself, always removed, and
//! helpers to run code inside a namespace and to build and check numbered frames.

pub mod bins;
pub mod icmp;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Fails (never skips) when the test cannot create namespaces: not root, or root without the
/// capabilities it needs (e.g. under `setpriv --bounding-set=-all`).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let need = "this test creates network namespaces, veth pairs and attaches XDP";
    assert_eq!(uid, 0, "{need}: run it as root (sudo make test)");
    const NET_ADMIN: u64 = 1 << 12;
    const SYS_ADMIN: u64 = 1 << 21;
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    assert!(
        caps & (NET_ADMIN | SYS_ADMIN) == NET_ADMIN | SYS_ADMIN,
        "{need}: it needs CAP_SYS_ADMIN and CAP_NET_ADMIN, which this root process lacks (CapEff {caps:#x}): run it as root with full capabilities (sudo make test)"
    );
    // A shared region of this test process and those it starts, not the machine's global one:
    // test runs side by side neither see each other's buffers nor refuse each other's sizes.
    if std::env::var_os("NMXDP_REGION").is_none() {
        std::env::set_var(
            "NMXDP_REGION",
            format!("shared:test-{}", std::process::id()),
        );
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip(8): install iproute2");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace named after the test process, deleted on drop (also when a test fails).
pub struct Netns {
    pub name: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        require_root();
        let name = format!(
            "nmxdp-t{}-{}-{}",
            std::process::id(),
            tag,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        // No IPv6 in test namespaces: interfaces coming up send router and multicast listener
        // solicitations, which would land in the rings next to the frames a test counts.
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            let ok = Command::new("ip")
                .args(["netns", "exec", &name, "sysctl", "-qw", &format!("{key}=1")])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "sysctl {key} in {name} failed");
        }
        Netns { name }
    }

    /// Runs `f` on a thread that lives in this namespace (setns affects only that thread).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&path);
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Does `ifname` in this namespace have an XDP program attached?
    pub fn xdp_attached(&self, ifname: &str) -> bool {
        let out = ip(&["-n", &self.name, "-d", "link", "show", "dev", ifname]);
        out.contains(" xdp") || out.contains("prog/xdp")
    }

    /// Sets `ifname`'s MTU (jumbo frames: 9000).
    pub fn set_mtu(&self, ifname: &str, mtu: u32) {
        ip(&[
            "-n",
            &self.name,
            "link",
            "set",
            ifname,
            "mtu",
            &mtu.to_string(),
        ]);
    }

    /// Deletes `ifname` (and its veth peer) now: unlike deleting a namespace, whose devices go
    /// away later on a kernel worker, the kernel unbinds the sockets on it before this returns.
    pub fn del_link(&self, ifname: &str) {
        ip(&["-n", &self.name, "link", "del", ifname]);
    }

    pub fn exists(name: &str) -> bool {
        ip(&["netns", "list"])
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    }
}

/// Waits for another thread's "ready" (typically: its port is open). A thread that panics
/// before saying so still holds the sender it borrowed, so a plain `recv` would wait forever
/// and hang the whole test run: fail after a minute instead, pointing at that panic.
pub fn await_ready<T>(ready: &std::sync::mpsc::Receiver<T>) -> T {
    ready
        .recv_timeout(Duration::from_secs(60))
        .expect("the other thread never said it was ready: see its panic above")
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &str) {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: setns on a namespace fd we hold open; affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair: `va` in `a`, `vb` in `b`, both up.
pub struct VethPair {
    pub a: Netns,
    pub b: Netns,
}

impl VethPair {
    pub fn new(tag: &str, queues: u32) -> VethPair {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        let q = queues.to_string();
        ip(&[
            "link",
            "add",
            "va",
            "netns",
            &a.name,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "vb",
            "netns",
            &b.name,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]);
        ip(&["-n", &a.name, "link", "set", "va", "up"]);
        ip(&["-n", &b.name, "link", "set", "vb", "up"]);
        VethPair { a, b }
    }

    /// Asserts neither end has an XDP program left.
    pub fn assert_no_xdp(&self) {
        assert!(!self.a.xdp_attached("va"), "an XDP program was left on va");
        assert!(!self.b.xdp_attached("vb"), "an XDP program was left on vb");
    }
}

/// Builds frame `seq` of `len` bytes: Ethernet broadcast, IPv4/UDP 10.0.0.1 -> 10.1.0.1, the
/// sequence number at bytes 42..50 and the rest a pattern derived from `seq` and the offset, so
/// the receiver can compare every byte.
pub fn frame(seq: u64, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 1, 0, 1]);
    let sum = pkt_gen::frame::inet_checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&1234u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..50].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(50) {
        *b = (i as u64).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f
}

/// The sequence number a frame built by [`frame`] carries.
pub fn seq_of(f: &[u8]) -> Option<u64> {
    f.get(42..50)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

impl Netns {
    /// Path for [`enter`].
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// The namespace's inode number, the first part of nmxdp's interface keys.
    pub fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(self.path()).unwrap().ino()
    }

    /// The files nmxdp keeps in `/run/nmxdp` for interfaces of this namespace (named
    /// `<netns inode>-<ifindex>...`; files of other namespaces are not listed), sorted.
    pub fn run_files(&self) -> Vec<String> {
        let prefix = format!("{}-", self.inode());
        let mut out: Vec<String> = std::fs::read_dir("/run/nmxdp")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// [`Netns::run_files`] once it equals `want`, or after 2 s whatever it is then: an `nmxdp
    /// status` running elsewhere on the machine holds each interface's `.lock` for an instant.
    pub fn run_files_settled(&self, want: &[String]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let now = self.run_files();
            if now == want || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

use nmxdp::{Events, Port};
use std::time::{Duration, Instant};

/// Sends `frames` on TX ring `ring`, waiting for room with poll(POLLOUT), then drains.
pub fn send_all(port: &mut Port, ring: u32, frames: &[Vec<u8>]) {
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while next < frames.len() {
        {
            let mut tx = port.tx_ring(ring);
            while next < frames.len() && tx.push(&frames[next]) {
                next += 1;
            }
            if next < frames.len() {
                let t = tx.tail();
                tx.set_cur(t);
            }
        }
        let ev = port
            .poll(Events::OUT, Some(Duration::from_millis(500)))
            .expect("poll");
        assert!(!ev.contains(Events::ERR), "POLLERR while sending");
        assert!(
            Instant::now() < deadline,
            "sending {} frames timed out at {next}",
            frames.len()
        );
    }
    drain(port, ring);
}

/// Syncs until every transmission on `ring` completed (tail == head - 1).
pub fn drain(port: &mut Port, ring: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        port.sync_tx().unwrap();
        if !port.tx_ring(ring).tx_pending() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "TX never completed (nm_tx_pending stays true)"
        );
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Receives until `count` frames arrived on any bound RX ring or `idle` passes without traffic.
/// Returns (ring, frame) pairs in arrival order.
pub fn recv_upto(port: &mut Port, count: usize, idle: Duration) -> Vec<(u32, Vec<u8>)> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let ev = port.poll(Events::IN, Some(idle)).expect("poll");
        assert!(!ev.contains(Events::ERR), "POLLERR while receiving");
        if !ev.contains(Events::IN) {
            break;
        }
        for r in port.rx_rings() {
            for p in port.rx_ring(r).packets() {
                got.push((r, p.to_vec()));
            }
        }
    }
    got
}

use std::sync::atomic::AtomicUsize;

/// Like [`send_all`], but never more than `window` frames ahead of what the receiver reported in
/// `received`: exact-count tests then hold on a loaded machine, where an unthrottled sender
/// outruns the receiver and the kernel drops (as with netmap).
pub fn send_paced(
    port: &mut Port,
    ring: u32,
    frames: &[Vec<u8>],
    received: &AtomicUsize,
    window: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0;
    while next < frames.len() {
        let allowed = (received.load(Ordering::Acquire) + window).min(frames.len());
        if next >= allowed {
            port.sync_tx().unwrap();
            std::thread::sleep(Duration::from_micros(100));
            assert!(
                Instant::now() < deadline,
                "receiver stalled at {}",
                received.load(Ordering::Relaxed)
            );
            continue;
        }
        send_all(port, ring, &frames[next..allowed]);
        next = allowed;
    }
}

/// [`recv_upto`] that publishes its progress in `received` for [`send_paced`].
pub fn recv_counting(
    port: &mut Port,
    count: usize,
    idle: Duration,
    received: &AtomicUsize,
) -> Vec<(u32, Vec<u8>)> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let ev = port.poll(Events::IN, Some(idle)).expect("poll");
        assert!(!ev.contains(Events::ERR), "POLLERR while receiving");
        if !ev.contains(Events::IN) {
            break;
        }
        for r in port.rx_rings() {
            for p in port.rx_ring(r).packets() {
                got.push((r, p.to_vec()));
            }
        }
        received.store(got.len(), Ordering::Release);
    }
    got
}

/// The number after the first `key` in a program's output, e.g. `Received 300 packets` with
/// key `"Received "`, or `rx_dropped 12,` with `"rx_dropped "` (trailing punctuation ignored);
/// None when the key is missing or no number follows it (`Received nothing.`).
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    text[at..]
        .split_whitespace()
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// The `Received N packets` count of a pkt-gen receiver's summary.
///
/// # Panics
/// If `out` has no such line (the message shows the output).
pub fn pktgen_received(out: &str) -> u64 {
    number_after(out, "Received ").unwrap_or_else(|| panic!("no summary in:\n{out}"))
}
