//! `nmxdp exec -- APP ARGS...`: runs a netmap binary with nmxdp's libnetmap.so preloaded, so
//! users need not spell `LD_PRELOAD` (README, "Unmodified binaries").

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The library name the loader looks for, as `make install` installs it.
const LIB: &str = "libnetmap.so";

/// Where libnetmap.so may be, in order: `NMXDP_LIB`, next to this binary (a cargo build
/// directory: target/release/nmxdp and target/release/libnetmap.so), then the install prefix
/// this binary sits under (PREFIX/bin/nmxdp and PREFIX/lib/libnetmap.so).
pub fn candidates(exe: &Path, env: Option<OsString>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = env {
        c.push(PathBuf::from(p));
        return c;
    }
    if let Some(dir) = exe.parent() {
        c.push(dir.join(LIB));
        if let Some(prefix) = dir.parent() {
            c.push(prefix.join("lib").join(LIB));
        }
    }
    c
}

/// `LD_PRELOAD` with `lib` first, keeping what the caller already preloads.
pub fn preload_value(lib: &Path, existing: Option<OsString>) -> OsString {
    let mut v = OsString::from(lib);
    if let Some(e) = existing.filter(|e| !e.is_empty()) {
        v.push(":");
        v.push(e);
    }
    v
}

/// Replaces this process with `app` (never returns on success).
pub fn exec(app: &[OsString]) -> Result<()> {
    let Some((prog, args)) = app.split_first() else {
        bail!("nmxdp exec: name the program to run, e.g. `nmxdp exec -- pkt-gen -i netmap:eth0 -f rx`");
    };
    let exe = std::env::current_exe()?;
    let tried = candidates(&exe, std::env::var_os("NMXDP_LIB"));
    let Some(lib) = tried.iter().find(|p| p.is_file()) else {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "nmxdp exec: {LIB} not found (looked at {}): build it with `make release`, install it with `make install`, or set NMXDP_LIB to its path",
            list.join(", ")
        );
    };
    let lib = lib.canonicalize()?;
    let err = std::process::Command::new(prog)
        .args(args)
        .env(
            "LD_PRELOAD",
            preload_value(&lib, std::env::var_os("LD_PRELOAD")),
        )
        .exec();
    bail!("nmxdp exec: {}: {err}", prog.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_locations() {
        let c = candidates(Path::new("/usr/local/bin/nmxdp"), None);
        assert_eq!(
            c,
            vec![
                PathBuf::from("/usr/local/bin/libnetmap.so"),
                PathBuf::from("/usr/local/lib/libnetmap.so")
            ]
        );
        let c = candidates(Path::new("/x/nmxdp"), Some("/opt/l.so".into()));
        assert_eq!(c, vec![PathBuf::from("/opt/l.so")]);
    }

    #[test]
    fn preload_keeps_existing() {
        let p = Path::new("/l/libnetmap.so");
        assert_eq!(preload_value(p, None), "/l/libnetmap.so");
        assert_eq!(preload_value(p, Some("".into())), "/l/libnetmap.so");
        assert_eq!(
            preload_value(p, Some("/a.so".into())),
            "/l/libnetmap.so:/a.so"
        );
    }
}
