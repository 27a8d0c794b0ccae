//! The programs the root-tier tests run, as built (`make test` builds them all first): each
//! path is checked to exist and to be newer than its sources, since a stale binary would test
//! old code.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// `target/<profile>`, the parent of the running test's `deps/` directory.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// `bin`, asserting it exists and is newer than every file of `sources` (directories are read
/// one level deep); `how` says how to build it.
pub fn fresh(bin: PathBuf, sources: &[PathBuf], how: &str) -> PathBuf {
    assert!(
        bin.exists(),
        "{} missing: build it first ({how})",
        bin.display()
    );
    let newest = sources
        .iter()
        .flat_map(|s| {
            if s.is_dir() {
                std::fs::read_dir(s)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .collect()
            } else {
                vec![s.clone()]
            }
        })
        .filter_map(|p| mtime(&p))
        .max();
    if let (Some(src), Some(b)) = (newest, mtime(&bin)) {
        assert!(
            b >= src,
            "{} is older than its sources: rebuild it ({how})",
            bin.display()
        );
    }
    bin
}

/// A binary of the workspace in `target/<profile>`, built from the source directory `src`.
fn cargo_bin(name: &str, src: &str, package: &str) -> PathBuf {
    fresh(
        profile_dir().join(name),
        &[repo_root().join(src)],
        &format!("cargo build --release -p {package}, or make test"),
    )
}

/// Our Rust pkt-gen.
pub fn pkt_gen() -> PathBuf {
    cargo_bin("pkt-gen", "examples/pkt-gen/src", "pkt-gen")
}

/// Our Rust bridge.
pub fn bridge() -> PathBuf {
    cargo_bin("bridge", "examples/bridge/src", "bridge")
}

/// The `nmxdp` command.
pub fn nmxdp() -> PathBuf {
    cargo_bin("nmxdp", "cli/src", "nmxdp-cli")
}

/// nmxdp's `libnetmap.so`.
pub fn libnetmap() -> PathBuf {
    cargo_bin("libnetmap.so", "ffi/src", "netmap-ffi")
}

/// A C example of `examples/c` as mk/c.mk builds it into `target/c` (`nm_lib-plain`,
/// `nm_legacy-linked`, ...), built from `examples/c/<source>.c` and the frame helpers.
pub fn c_app(name: &str, source: &str) -> PathBuf {
    let root = repo_root();
    fresh(
        profile_dir()
            .parent()
            .expect("target dir")
            .join("c")
            .join(name),
        &[
            root.join(format!("examples/c/{source}.c")),
            root.join("examples/c/nm_frame.h"),
        ],
        &format!("make target/c/{name}, or make test"),
    )
}
