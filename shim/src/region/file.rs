//! The file a shared region lives in: `/dev/shm/nmxdp-region-<name>` (tmpfs: a `MAP_SHARED`
//! file on a disk file system fails `XDP_UMEM_REG`), mode 0600, owned by the user that made it.
//!
//! Every process using the region holds a shared `flock` on it for its whole life; a file that
//! nobody holds so is stale (its users died) and is replaced. The creator builds the file
//! unnamed (`O_TMPFILE`), initialises it, locks it and only then links it under its name, so a
//! process that finds the name finds a region ready to use, and a creator killed half-way
//! leaves nothing behind. Only a process holding the file's lock exclusively unlinks its name,
//! and only while the name still is that file.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Where shared regions live.
pub const DIR: &str = "/dev/shm";
/// File name prefix of a shared region.
pub const PREFIX: &str = "nmxdp-region-";

/// The path of the shared region `name`.
pub fn path_of(name: &str) -> PathBuf {
    Path::new(DIR).join(format!("{PREFIX}{name}"))
}

/// Is `name` usable in a file name (`NMXDP_REGION=shared:NAME`)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// flock(2), retried on EINTR; false on failure (errno set).
fn flock(fd: RawFd, op: i32) -> bool {
    loop {
        // SAFETY: flock on an fd the caller holds open.
        if unsafe { libc::flock(fd, op) } == 0 {
            return true;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

fn same_inode(path: &Path, f: &File) -> bool {
    match (std::fs::metadata(path), f.metadata()) {
        (Ok(p), Ok(o)) => p.dev() == o.dev() && p.ino() == o.ino(),
        _ => false,
    }
}

/// Unlinks `path` if it still names `f`, whose lock the caller holds exclusively (module doc).
fn unlink_held(path: &Path, f: &File) -> bool {
    same_inode(path, f) && std::fs::remove_file(path).is_ok()
}

/// A region file this process uses, share-locked.
pub struct RegionFile {
    /// Its name in `/dev/shm`.
    pub path: PathBuf,
    /// Open, holding the shared lock.
    pub file: File,
}

/// What [`open_or_create`] found.
pub enum Opened {
    /// An existing region, share-locked; the caller checks and maps it.
    Existing(RegionFile),
    /// A new region, made, initialised and mapped by `make`, now visible under its name.
    Created(RegionFile, super::Mapping),
}

/// Refuses a file another user could have made or can read: only processes allowed to open
/// ports may see the buffers.
fn check_owner(path: &Path, f: &File) -> Result<()> {
    let m = f
        .metadata()
        .map_err(|e| Error::from_io(format!("stat {}", path.display()), &e))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me || m.mode() & 0o077 != 0 {
        return Err(Error::new(
            libc::EPERM,
            format!(
                "{} belongs to uid {} with mode {:o}, not to this user (uid {me}) with mode 600: remove it, or use another region (NMXDP_REGION=shared:NAME)",
                path.display(),
                m.uid(),
                m.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens the shared region at `path`, or creates it with `make` (which sizes, maps and
/// initialises the unnamed file it is given) when there is none or when the one there has no
/// live user.
pub fn open_or_create(
    path: &Path,
    make: impl Fn(&File) -> Result<super::Mapping>,
) -> Result<Opened> {
    loop {
        match File::options().read(true).write(true).open(path) {
            Ok(f) => {
                check_owner(path, &f)?;
                if flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
                    // Nobody holds it: every user died. Replace it.
                    unlink_held(path, &f);
                    continue;
                }
                if !flock(f.as_raw_fd(), libc::LOCK_SH) {
                    return Err(Error::last_os(format!("locking {}", path.display())));
                }
                if !same_inode(path, &f) {
                    continue; // its last user removed it while we waited
                }
                return Ok(Opened::Existing(RegionFile {
                    path: path.to_path_buf(),
                    file: f,
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = tmpfile()?;
                let map = make(&f)?;
                if !flock(f.as_raw_fd(), libc::LOCK_SH) {
                    return Err(Error::last_os(format!("locking {}", path.display())));
                }
                let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))
                    .expect("no NUL in a number");
                let to = CString::new(path.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::new(libc::EINVAL, "region path with a NUL byte"))?;
                // SAFETY: two valid C strings; links the unnamed file under its name.
                let rc = unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from.as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                };
                if rc == 0 {
                    return Ok(Opened::Created(
                        RegionFile {
                            path: path.to_path_buf(),
                            file: f,
                        },
                        map,
                    ));
                }
                if std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    return Err(Error::last_os(format!("creating {}", path.display())));
                }
                // Another process made it first: use theirs (ours unmaps as `map` drops).
            }
            Err(e) => return Err(Error::from_io(format!("opening {}", path.display()), &e)),
        }
    }
}

/// An unnamed file in `/dev/shm`, mode 0600.
fn tmpfile() -> Result<File> {
    let dir = CString::new(DIR).expect("no NUL");
    // SAFETY: a valid path; O_TMPFILE creates an unnamed regular file we own.
    let fd = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(Error::last_os(format!(
            "creating the shared netmap region in {DIR} (a tmpfs is needed; NMXDP_REGION=private keeps a region per process)"
        )));
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Gives up this process's share of `rf`; removes the file if nobody else holds one. The
/// mapping stays valid (tmpfs keeps the memory while it is mapped).
pub fn leave(path: &Path, fd: RawFd) -> bool {
    flock(fd, libc::LOCK_UN);
    remove_if_unused(path)
}

/// Removes the region file at `path` if no process holds it (its users all left or died).
/// True if it was removed.
pub fn remove_if_unused(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) && unlink_held(path, &f)
}

/// Shared regions this process uses, left at exit.
static AT_EXIT: Mutex<Vec<(PathBuf, RawFd, u32)>> = Mutex::new(Vec::new());

extern "C" fn leave_all() {
    let list = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|p| p.into_inner()));
    // A forked child shares the parent's lock (one open file description): only the process
    // that joined leaves.
    let me = std::process::id();
    for (path, fd, _) in list.into_iter().filter(|e| e.2 == me) {
        leave(&path, fd);
    }
}

/// Arranges for this process to leave `rf` when it exits normally (the file stays open and
/// locked until then, so the process counts as a user for its whole life). A process that is
/// killed leaves it by dying: the next opener or `nmxdp status` finds it unheld.
pub fn leave_at_exit(rf: &RegionFile) {
    let mut l = AT_EXIT.lock().unwrap_or_else(|p| p.into_inner());
    if l.is_empty() {
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(leave_all) };
    }
    l.push((rf.path.clone(), rf.file.as_raw_fd(), std::process::id()));
}

/// Stops leaving `rf` at exit (the region is being dropped, which leaves it itself).
pub fn forget_at_exit(rf: &RegionFile) {
    let fd = rf.file.as_raw_fd();
    AT_EXIT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|e| e.1 != fd);
}

/// Every shared region file in `/dev/shm`.
pub fn list() -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(DIR) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = dir
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}
