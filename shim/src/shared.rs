//! Coordination between processes using the same interface, as netmap lets process A own queue 0
//! and process B queue 1 of one NIC.
//!
//! - One XDP program and XSK map per interface, pinned in bpffs under `nmxdp/<netns>-<ifindex>/`
//!   so later processes find and share them. The program is held on the interface by a bpf_link
//!   that every user process keeps open (not pinned): when the last user exits, even by SIGKILL,
//!   the kernel detaches it. The last user leaving normally also removes the pins; pins left by a
//!   killed last user are recognised as stale (their program is not attached) and replaced.
//! - Lock files in `/run/nmxdp/` (flock, so a dead process never holds them): `<key>.lock`
//!   serialises joining, leaving and taking a queue, `<key>.users` is share-locked by every user,
//!   and `<key>-q<N>.holder` is held by the process that owns queue N and names its pid. Each file
//!   exists only while some process uses it; the files a killed process leaves are removed by the
//!   next process taking the interface's `.lock`, and by `nmxdp status` ([`holders`]).
//!
//! Removal rule: a file is unlinked only by a process that holds its flock exclusively and has
//! checked that the path still names the inode it locked, and every process that locks one of
//! these files checks the same after locking and starts over when the path moved on. A live
//! process's lock therefore always sits on the inode its path names, nobody else can take that
//! lock exclusively, and so nobody else can unlink it.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
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

/// flock(2); false on failure, with errno set.
fn flock(f: &File, op: i32) -> bool {
    // SAFETY: flock on a file we hold open.
    unsafe { libc::flock(f.as_raw_fd(), op) == 0 }
}

/// Does `path` still name the inode `f` has open?
fn same_inode(path: &Path, f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), f.metadata()) {
        (Ok(p), Ok(o)) => p.dev() == o.dev() && p.ino() == o.ino(),
        _ => false,
    }
}

/// Unlinks `path` if it names `f`'s inode. The caller holds `f`'s flock exclusively: nobody else
/// may unlink that inode's path (module doc), so it cannot change between the check and the
/// unlink, and a path already removed or re-created by someone else is left alone.
fn unlink_held(path: &Path, f: &File) {
    if same_inode(path, f) {
        let _ = std::fs::remove_file(path);
    }
}

/// A lock file locked with `op`, or the file somebody else holds (only with `LOCK_NB`).
enum Taken {
    Locked(File),
    Busy(File),
}

/// Opens (creating) and flocks `path` with `op`. A lock taken on an inode that is no longer the
/// one at `path` (its holder removed it while we opened or waited) is dropped and taken again on
/// the current file, so a lock never lands on an unlinked inode.
fn take(path: &Path, op: i32) -> Result<Taken> {
    loop {
        let f = open_lockfile(path)?;
        if !flock(&f, op) {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if same_inode(path, &f) => return Ok(Taken::Busy(f)),
                Some(libc::EWOULDBLOCK) => continue,
                _ => return Err(Error::last_os(format!("locking {}", path.display()))),
            }
        }
        if same_inode(path, &f) {
            return Ok(Taken::Locked(f));
        }
    }
}

/// Removes `path` if no process holds its flock: the file of a process that died. Opens without
/// creating, so a file that is already gone stays gone.
fn remove_if_unheld(path: &Path) {
    let Ok(f) = File::open(path) else {
        return;
    };
    if flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
        unlink_held(path, &f);
    }
}

/// The queue number of `name` if it is `<key>-q<N>.holder`.
fn holder_queue(name: &str, key: &str) -> Option<u32> {
    name.strip_prefix(key)?
        .strip_prefix("-q")?
        .strip_suffix(".holder")?
        .parse()
        .ok()
}

/// Removes the files of `key` that no live process uses: queue holders whose process died, and
/// the users file when nobody shares it. Run under the interface's mutex, which every process
/// joining, leaving or taking a queue holds, so nobody is between opening and locking these.
fn sweep(key: &str) {
    if let Ok(dir) = std::fs::read_dir(RUN_DIR) {
        for e in dir.flatten() {
            if holder_queue(&e.file_name().to_string_lossy(), key).is_some() {
                remove_if_unheld(&e.path());
            }
        }
    }
    remove_if_unheld(&Path::new(RUN_DIR).join(format!("{key}.users")));
}

/// Held while joining, leaving or taking a queue of an interface. Dropping it removes the lock
/// file (so it exists only while some process holds or waits for it) and then unlocks.
pub struct IfaceMutex {
    file: File,
    path: PathBuf,
}

impl IfaceMutex {
    fn new(file: File, path: PathBuf, key: &str) -> IfaceMutex {
        // Whoever takes the interface first clears what killed processes left on it.
        sweep(key);
        IfaceMutex { file, path }
    }

    /// Removes the lock file now, still holding it (dropping the mutex does the same).
    pub fn remove(&self) {
        unlink_held(&self.path, &self.file);
    }
}

impl Drop for IfaceMutex {
    fn drop(&mut self) {
        // Unlinked before the file (and so the lock) is closed: waiters on this inode find the
        // path gone or re-created and start over on the current file.
        self.remove();
    }
}

/// Takes the interface's exclusive lock file `/run/nmxdp/<key>.lock`, waiting for it if another
/// process holds it, then removes the files dead processes left for `key`. Fails when
/// `/run/nmxdp` cannot be created (needs root) or `flock` fails.
pub fn lock_iface(key: &str) -> Result<IfaceMutex> {
    let path = run_dir()?.join(format!("{key}.lock"));
    match take(&path, libc::LOCK_EX)? {
        Taken::Locked(f) => Ok(IfaceMutex::new(f, path, key)),
        Taken::Busy(_) => unreachable!("a blocking flock never answers EWOULDBLOCK"),
    }
}

/// [`lock_iface`] that gives up after `patience` (a process stopped while holding the lock must
/// not hang `nmxdp status`). None when the lock was not free in time or cannot be taken at all.
fn try_lock_iface(key: &str, patience: std::time::Duration) -> Option<IfaceMutex> {
    let path = Path::new(RUN_DIR).join(format!("{key}.lock"));
    let deadline = std::time::Instant::now() + patience;
    loop {
        match take(&path, libc::LOCK_EX | libc::LOCK_NB).ok()? {
            Taken::Locked(f) => return Some(IfaceMutex::new(f, path, key)),
            Taken::Busy(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Taken::Busy(_) => return None,
        }
    }
}

/// This process's share of an interface; the last one to drop it is told so by [`Users::leave`].
pub struct Users {
    path: PathBuf,
    file: File,
}

impl Users {
    /// Registers this process as a user of the interface: a shared lock on
    /// `/run/nmxdp/<key>.users`, held until [`Users::leave`] or until the process dies. Call
    /// under the [`IfaceMutex`].
    pub fn join(key: &str) -> Result<Users> {
        let path = run_dir()?.join(format!("{key}.users"));
        match take(&path, libc::LOCK_SH)? {
            Taken::Locked(file) => Ok(Users { path, file }),
            Taken::Busy(_) => unreachable!("a blocking flock never answers EWOULDBLOCK"),
        }
    }

    /// Gives up the share; true when no other process holds one, and then the users file is
    /// removed (call under the [`IfaceMutex`]).
    pub fn leave(self) -> bool {
        drop(self.file);
        // A user always holds its share on the file at the path, so a missing file means none.
        let Ok(f) = File::open(&self.path) else {
            return true;
        };
        let last = flock(&f, libc::LOCK_EX | libc::LOCK_NB);
        if last {
            unlink_held(&self.path, &f);
        }
        last
    }
}

/// Ownership of one queue by this process; released on drop (and by the kernel on death).
pub struct QueueHold {
    path: PathBuf,
    file: File,
}

impl Drop for QueueHold {
    fn drop(&mut self) {
        // Still locked here: the file closes after this body.
        unlink_held(&self.path, &self.file);
    }
}

/// Claims queue `q` of `ifname` or answers EBUSY naming the holder's pid.
pub fn hold_queue(key: &str, ifname: &str, q: u32) -> Result<QueueHold> {
    // Under the mutex, so that no sweep holds a dead holder's file locked for an instant just as
    // this looks at it, which would read as a live holder.
    let _mutex = lock_iface(key)?;
    let path = run_dir()?.join(format!("{key}-q{q}.holder"));
    let file = match take(&path, libc::LOCK_EX | libc::LOCK_NB)? {
        Taken::Locked(f) => f,
        Taken::Busy(mut f) => {
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
    };
    let mut hold = QueueHold { path, file };
    hold.record(-1, ifname);
    Ok(hold)
}

impl QueueHold {
    /// Records "pid socket-fd ifname" so `nmxdp status` can find the holder and its socket.
    pub fn record(&mut self, sock_fd: i32, ifname: &str) {
        // Two system calls (a formatted write! would issue one per piece): opens stay short.
        let line = format!("{} {sock_fd} {ifname}", std::process::id());
        let _ = self.file.set_len(0);
        let _ = self.file.write_all_at(line.as_bytes(), 0);
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

/// The interface key a file in `/run/nmxdp` belongs to, if it is one of ours.
fn key_of(name: &str) -> Option<&str> {
    let key = match name.strip_suffix(".holder") {
        Some(stem) => stem.rsplit_once("-q")?.0,
        None => name
            .strip_suffix(".lock")
            .or_else(|| name.strip_suffix(".users"))?,
    };
    let (ns, ifindex) = key.split_once('-')?;
    (ns.parse::<u64>().is_ok() && ifindex.parse::<u32>().is_ok()).then_some(key)
}

/// The live holder recorded in `path`. With `probe` (only under the interface's mutex), "live"
/// means a process holds the file's lock; otherwise that the recorded pid exists, which never
/// touches the lock but may name a reused pid.
fn read_holder(path: &Path, key: &str, queue: u32, probe: bool) -> Option<Holder> {
    let mut f = File::open(path).ok()?;
    if probe && flock(&f, libc::LOCK_SH | libc::LOCK_NB) {
        return None; // nobody holds it
    }
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    let mut it = s.split_whitespace();
    let h = Holder {
        key: key.to_string(),
        queue,
        pid: it.next()?.parse().ok()?,
        sock_fd: it.next()?.parse().ok()?,
        ifname: it.next()?.to_string(),
    };
    (probe || Path::new(&format!("/proc/{}", h.pid)).exists()).then_some(h)
}

/// Every queue held by a live process. On the way, removes the files that processes which died
/// (SIGKILL included) left in `/run/nmxdp`, interface by interface under its mutex; an interface
/// whose mutex stays busy is only listed.
pub fn holders() -> Vec<Holder> {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let names: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut keys: Vec<&str> = names.iter().filter_map(|n| key_of(n)).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        // Probed only under the mutex: probing share-locks each holder file for an instant, which
        // a process taking that queue at the same moment would see as a live holder. A holder
        // file created after the listing above (a queue taken just now) is not listed.
        let mutex = try_lock_iface(key, std::time::Duration::from_secs(1));
        for name in &names {
            if let Some(q) = holder_queue(name, key) {
                let path = Path::new(RUN_DIR).join(name);
                out.extend(read_holder(&path, key, q, mutex.is_some()));
            }
        }
    }
    out.sort_by(|a, b| (&a.key, a.queue).cmp(&(&b.key, b.queue)));
    out
}

/// Removes the bpffs pins (`/sys/fs/bpf/nmxdp/<key>/`) of interfaces no nmxdp process uses:
/// left by a last user that was killed, or by an interface whose namespace is gone. Checked
/// under each interface's mutex, whose sweep removes a users file nobody holds; every user
/// holds its share from before it pins until after it unpins, so a key without a users file
/// has no user. Returns how many directories went.
pub fn sweep_pins() -> usize {
    let Ok(root) = bpffs_root() else {
        return 0;
    };
    let Ok(dir) = std::fs::read_dir(&root) else {
        return 0;
    };
    let mut removed = 0;
    for e in dir.flatten() {
        let key = e.file_name().to_string_lossy().into_owned();
        let Some(_mutex) = try_lock_iface(&key, std::time::Duration::from_secs(1)) else {
            continue;
        };
        if Path::new(RUN_DIR).join(format!("{key}.users")).exists() {
            continue;
        }
        for f in crate::xdp::PIN_FILES {
            let _ = std::fs::remove_file(e.path().join(f));
        }
        if std::fs::remove_dir(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
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
