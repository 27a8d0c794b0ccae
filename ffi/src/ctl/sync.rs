//! NIOCTXSYNC / NIOCRXSYNC, and what a forked child is told about the ports it inherited.

use std::sync::atomic::{AtomicBool, Ordering};

use libc::ENXIO;

use super::error::{Fail, Res};
use crate::fdtable::{self, NmFile};
use crate::nmctx;

static FORK_EXPLAINED: AtomicBool = AtomicBool::new(false);

const FORK_MESSAGE: &str = "netmap ports opened before fork() cannot be used by the child: the \
                            parent drives their AF_XDP rings and buffer pool (syncs fail with \
                            ENXIO, poll reports POLLERR); open ports in a child that was forked \
                            before the parent used netmap, or after exec";

/// The explanation of why an inherited port does nothing in a forked child, the first time it
/// is asked for in this process (it would only repeat itself on every sync or poll).
fn fork_message_once() -> Option<&'static str> {
    (!FORK_EXPLAINED.swap(true, Ordering::Relaxed)).then_some(FORK_MESSAGE)
}

/// Reports, once per process, why an inherited port does nothing in a forked child (for poll,
/// which has no request error to carry the message).
pub(crate) fn warn_forked() {
    if let Some(m) = fork_message_once() {
        nmctx::report_device(Some(m));
    }
}

pub(super) fn sync(file: &NmFile, tx: bool) -> Res {
    if fdtable::forked() {
        return Err(Fail {
            errno: ENXIO,
            message: fork_message_once().map(str::to_string),
        });
    }
    let mut st = file.lock();
    let port = st.port.as_mut().ok_or(ENXIO)?;
    // A busy-wait loop's NIOCRXSYNC with nothing released and nothing arrived: the sync would
    // change nothing, so it is skipped (docs/architecture.md, "Poll").
    if !tx && port.rx_idle() {
        return Ok(());
    }
    let r = if tx { port.sync_tx() } else { port.sync_rx() };
    Ok(r?)
}
