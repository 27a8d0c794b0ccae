//! Coordination between processes using the same interface, as netmap lets process A own queue 0
//! and process B queue 1 of one NIC.
//!
//! - One XDP program and XSK map per interface, pinned in bpffs under `nmxdp/<netns>-<ifindex>/`
//!   so later processes find and share them. The program is held on the interface by a bpf_link
//!   that every user process keeps open (not pinned): when the last user exits, even by SIGKILL,
//!   the kernel detaches it. The last user leaving normally also removes the pins; pins left by a
//!   killed last user are recognised as stale (their program is not attached) and replaced.
//! - Lock files in `/run/nmxdp/` (flock, so a dead process never holds them): `<key>.lock`
//!   serialises joining and leaving, `<key>.users` is share-locked by every user, and
//!   `<key>-q<N>.holder` is held by the process that owns queue N and names its pid.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const RUN_DIR: &str = "/run/nmxdp";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// The key naming an interface across processes.
pub fn iface_key(netns: u64, ifindex: u32) -> String {
    format!("{netns}-{ifindex}")
}

fn run_dir() -> Result<&'static Path> {
    std::fs::create_dir_all(RUN_DIR)
        .map_err(|e| Error::from_io(format!("creating {RUN_DIR} (needs root)"), &e))?;
    Ok(Path::new(RUN_DIR))
}

fn open_lockfile(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::from_io(format!("opening {}", path.display()), &e))
}

fn flock(f: &File, op: i32) -> bool {
    // SAFETY: flock on a file we hold open.
    unsafe { libc::flock(f.as_raw_fd(), op) == 0 }
}

/// Held while joining or leaving an interface; released on drop.
pub struct IfaceMutex(#[allow(dead_code)] File, PathBuf);

/// Takes the interface's exclusive lock file `/run/nmxdp/<key>.lock`, waiting for it if another
/// process holds it. If the file was removed by a last user while we waited, the lock is retaken
/// on the new file. Fails when `/run/nmxdp` cannot be created (needs root) or `flock` fails.
pub fn lock_iface(key: &str) -> Result<IfaceMutex> {
    let path = run_dir()?.join(format!("{key}.lock"));
    loop {
        let f = open_lockfile(&path)?;
        while !flock(&f, libc::LOCK_EX) {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(Error::last_os("locking /run/nmxdp"));
            }
        }
        // The last user removes the file; a waiter that locked the removed inode starts over.
        let same = std::fs::metadata(&path).is_ok_and(|m| {
            f.metadata().is_ok_and(|n| {
                std::os::unix::fs::MetadataExt::ino(&m) == std::os::unix::fs::MetadataExt::ino(&n)
            })
        });
        if same {
            return Ok(IfaceMutex(f, path));
        }
    }
}

impl IfaceMutex {
    /// Removes the lock file (the last user, while holding it).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.1);
    }
}

/// This process's share of an interface; the last one to drop it is told so by [`Users::leave`].
pub struct Users {
    path: PathBuf,
    file: File,
}

impl Users {
    /// Registers this process as a user of the interface: a shared lock on
    /// `/run/nmxdp/<key>.users`, held until [`Users::leave`] or until the process dies.
    pub fn join(key: &str) -> Result<Users> {
        let path = run_dir()?.join(format!("{key}.users"));
        let file = open_lockfile(&path)?;
        if !flock(&file, libc::LOCK_SH) {
            return Err(Error::last_os("locking /run/nmxdp users file"));
        }
        Ok(Users { path, file })
    }

    /// Gives up the share; true when no other process holds one (call under the IfaceMutex).
    pub fn leave(self) -> bool {
        drop(self.file);
        match open_lockfile(&self.path) {
            Ok(f) => {
                let last = flock(&f, libc::LOCK_EX | libc::LOCK_NB);
                if last {
                    let _ = std::fs::remove_file(&self.path);
                }
                last
            }
            Err(_) => false,
        }
    }
}

/// Ownership of one queue by this process; released on drop (and by the kernel on death).
pub struct QueueHold {
    path: PathBuf,
    file: File,
}

impl Drop for QueueHold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Claims queue `q` of `ifname` or answers EBUSY naming the holder's pid.
pub fn hold_queue(key: &str, ifname: &str, q: u32) -> Result<QueueHold> {
    let path = run_dir()?.join(format!("{key}-q{q}.holder"));
    let mut f = open_lockfile(&path)?;
    if !flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
        let mut rec = String::new();
        let _ = f.read_to_string(&mut rec);
        let pid = rec.split_whitespace().next().unwrap_or("");
        return Err(Error::new(
            libc::EBUSY,
            format!(
                "{ifname}: queue {q} is held by another nmxdp process (pid {}): stop it, or open another ring (netmap:{ifname}-N)",
                if pid.is_empty() { "unknown" } else { pid }
            ),
        ));
    }
    let mut hold = QueueHold { path, file: f };
    hold.record(-1, ifname);
    Ok(hold)
}

impl QueueHold {
    /// Records "pid socket-fd ifname" so `nmxdp status` can find the holder and its socket.
    pub fn record(&mut self, sock_fd: i32, ifname: &str) {
        let f = &mut self.file;
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = write!(f, "{} {sock_fd} {ifname}", std::process::id());
    }
}

/// A live queue holder as `nmxdp status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `<netns inode>-<ifindex>` of the interface, from the holder file's name.
    pub key: String,
    /// NIC queue number (netmap ring number) held.
    pub queue: u32,
    /// Process id of the holder.
    pub pid: u32,
    /// The holder's AF_XDP socket fd, a number in the holder's fd table; -1 while the queue is
    /// still being set up and has no socket yet.
    pub sock_fd: i32,
    /// Interface name, as the holder opened it.
    pub ifname: String,
}

/// Every queue held by a live process.
pub fn holders() -> Vec<Holder> {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".holder") else {
            continue;
        };
        let Some((key, q)) = stem.rsplit_once("-q") else {
            continue;
        };
        let Ok(mut f) = File::open(e.path()) else {
            continue;
        };
        if flock(&f, libc::LOCK_SH | libc::LOCK_NB) {
            continue; // nobody holds it
        }
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        let mut it = s.split_whitespace();
        let (Some(pid), Some(fd), Some(ifname)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if let (Ok(pid), Ok(fd), Ok(queue)) = (pid.parse(), fd.parse(), q.parse()) {
            out.push(Holder {
                key: key.to_string(),
                queue,
                pid,
                sock_fd: fd,
                ifname: ifname.to_string(),
            });
        }
    }
    out.sort_by(|a, b| (&a.key, a.queue).cmp(&(&b.key, b.queue)));
    out
}

fn is_bpffs(p: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(p) else {
        return false;
    };
    // SAFETY: statfs into a zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path, st a valid out pointer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// The bpffs directory nmxdp pins under (/sys/fs/bpf/nmxdp), mounting bpffs if it is missing.
/// `ip netns exec` gives each process a private /sys, so pins are visible only to processes that
/// share the mount; sharing itself does not depend on them (see [`crate::xdp`]).
pub fn bpffs_root() -> Result<PathBuf> {
    if is_bpffs("/sys/fs/bpf") {
        return Ok(PathBuf::from("/sys/fs/bpf/nmxdp"));
    }
    let _ = std::fs::create_dir_all("/sys/fs/bpf");
    // SAFETY: mount(2) with constant strings.
    let ok = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            c"/sys/fs/bpf".as_ptr(),
            c"bpf".as_ptr(),
            0,
            c"mode=0700".as_ptr().cast(),
        ) == 0
    };
    if ok || is_bpffs("/sys/fs/bpf") {
        return Ok(PathBuf::from("/sys/fs/bpf/nmxdp"));
    }
    Err(Error::last_os(
        "no bpffs at /sys/fs/bpf and mounting one failed (needs CAP_SYS_ADMIN: run as root, or `mount -t bpf bpf /sys/fs/bpf`)",
    ))
}
