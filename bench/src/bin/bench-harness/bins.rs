//! Where the rows' programs are: next to this program (the workspace's release build) unless
//! the command line says otherwise.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::cli::Cli;

pub struct Bins {
    pub pktgen: PathBuf,
    /// netmap's load balancer (examples/lb), for the lb section.
    pub lb: PathBuf,
    pub xdp_raw: PathBuf,
    pub af_packet: PathBuf,
    /// The latency section's raw AF_XDP and kernel UDP ping-pong programs.
    pub xdp_pingpong: PathBuf,
    pub udp_pingpong: PathBuf,
    /// The open-latency program of the Rust API and the raw AF_XDP baseline.
    pub open_close: PathBuf,
    /// The legacy C open-latency program and the library it preloads, when both exist.
    pub c_openclose: Option<(PathBuf, PathBuf)>,
    /// Why the C open-latency program cannot run.
    pub c_openclose_missing: Option<String>,
    /// The C app and the library it preloads, when both exist.
    pub c_app: Option<(PathBuf, PathBuf)>,
    /// Why the C row cannot run.
    pub c_missing: Option<String>,
}

/// A path as a command-line argument.
pub fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

impl Bins {
    /// Finds the programs; fails if a Rust one is missing, or the C row's with `--require-c`.
    pub fn locate(cli: &Cli) -> Result<Bins> {
        let bin_dir = bin_dir(cli)?;
        let need = |name: &str| -> Result<PathBuf> {
            let p = bin_dir.join(name);
            if !p.is_file() {
                bail!(
                    "{} missing: build the workspace in release mode first (make release)",
                    p.display()
                );
            }
            Ok(p)
        };
        let (c_app, c_missing) = c_programs(cli, &bin_dir);
        let (c_openclose, c_openclose_missing) = c_openclose(cli, &bin_dir);
        let bins = Bins {
            pktgen: need("pkt-gen")?,
            lb: need("lb")?,
            xdp_raw: need("xdp-raw")?,
            af_packet: need("af-packet")?,
            xdp_pingpong: need("xdp-pingpong")?,
            udp_pingpong: need("udp-pingpong")?,
            open_close: need("open-close")?,
            c_openclose,
            c_openclose_missing,
            c_app,
            c_missing,
        };
        if cli.require_c {
            if let Some(m) = &bins.c_missing {
                bail!("nmxdp-c-preload: {m}");
            }
            if let (Some(m), false) = (&bins.c_openclose_missing, cli.no_open) {
                bail!("open latency through the C API: {m}");
            }
        }
        Ok(bins)
    }
}

/// `--bin-dir`, or the directory of this program (its siblings of the same build).
fn bin_dir(cli: &Cli) -> Result<PathBuf> {
    let dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow!("no directory for this program"))?,
    };
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// The C row's app and preloaded library, or why it cannot run.
fn c_programs(cli: &Cli, bin_dir: &Path) -> (Option<(PathBuf, PathBuf)>, Option<String>) {
    let app = cli
        .c_bin
        .clone()
        .unwrap_or_else(|| bin_dir.join("../c/nm_lib-plain"));
    with_preload(cli, bin_dir, app, "nm_lib-plain")
}

/// The C open-latency program and the preloaded library, or why it cannot run.
fn c_openclose(cli: &Cli, bin_dir: &Path) -> (Option<(PathBuf, PathBuf)>, Option<String>) {
    let app = bin_dir.join("../c/nm_openclose-plain");
    with_preload(cli, bin_dir, app, "nm_openclose-plain")
}

/// `app` and the library it preloads, or why they cannot run (`target`: its make target).
fn with_preload(
    cli: &Cli,
    bin_dir: &Path,
    app: PathBuf,
    target: &str,
) -> (Option<(PathBuf, PathBuf)>, Option<String>) {
    let lib = cli
        .preload
        .clone()
        .unwrap_or_else(|| bin_dir.join("libnetmap.so"));
    if !app.is_file() {
        let why = format!(
            "{} not built (make -f mk/c.mk target/c/{target})",
            app.display()
        );
        return (None, Some(why));
    }
    if !lib.is_file() {
        return (None, Some(format!("{} not built", lib.display())));
    }
    let canon = |p: PathBuf| p.canonicalize().unwrap_or(p);
    (Some((canon(app), canon(lib))), None)
}
