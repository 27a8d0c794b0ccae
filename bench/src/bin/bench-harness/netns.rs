//! Two private network namespaces joined by a veth pair, removed on drop.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Namespace A holds `va` (the sender's side), namespace B holds `vb` (the receiver's).
pub struct Topo {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: &'static str,
    pub if_b: &'static str,
    fd_a: Option<File>,
    fd_b: Option<File>,
}

/// Runs `ip ARGS`; its stderr in the error.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Topo {
    /// Creates `nmxb-<pid>-<tag>a` / `...b` and a veth pair with `queues` queues per side.
    pub fn new(tag: &str, queues: u32) -> Result<Topo> {
        let pid = std::process::id();
        let mut t = Topo {
            ns_a: format!("nmxb-{pid}-{tag}a"),
            ns_b: format!("nmxb-{pid}-{tag}b"),
            if_a: "va",
            if_b: "vb",
            fd_a: None,
            fd_b: None,
        };
        // From here on, Drop removes whatever was created.
        ip(&["netns", "add", &t.ns_a])?;
        ip(&["netns", "add", &t.ns_b])?;
        for ns in [&t.ns_a, &t.ns_b] {
            ip(&[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
        }
        let q = queues.to_string();
        ip(&[
            "link",
            "add",
            t.if_a,
            "netns",
            &t.ns_a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            t.if_b,
            "netns",
            &t.ns_b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ])?;
        ip(&["-n", &t.ns_a, "link", "set", t.if_a, "up"])?;
        ip(&["-n", &t.ns_b, "link", "set", t.if_b, "up"])?;
        t.fd_a = Some(
            File::open(format!("/run/netns/{}", t.ns_a))
                .with_context(|| format!("opening /run/netns/{}", t.ns_a))?,
        );
        t.fd_b = Some(
            File::open(format!("/run/netns/{}", t.ns_b))
                .with_context(|| format!("opening /run/netns/{}", t.ns_b))?,
        );
        // Let the carrier come up on both ends.
        std::thread::sleep(std::time::Duration::from_millis(200));
        Ok(t)
    }

    /// Sets the MTU of both ends (jumbo frames need it on both).
    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        let m = mtu.to_string();
        ip(&["-n", &self.ns_a, "link", "set", self.if_a, "mtu", &m])?;
        ip(&["-n", &self.ns_b, "link", "set", self.if_b, "mtu", &m])
    }

    pub fn fd_a(&self) -> RawFd {
        self.fd_a.as_ref().expect("created").as_raw_fd()
    }

    pub fn fd_b(&self) -> RawFd {
        self.fd_b.as_ref().expect("created").as_raw_fd()
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        self.fd_a = None;
        self.fd_b = None;
        // Deleting a namespace destroys the veth end in it, and with it the pair.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
