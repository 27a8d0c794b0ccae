//! The system's text for an errno, as upstream prints it (`strerror`): "Device or resource busy".

/// `strerror(errno)` without Rust's " (os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An open error as upstream's libnetmap prints it (`NAME: strerror`), then nmxdp's own
/// message, which names the cause and the fix.
pub fn open_error(name: &str, errno: i32, hint: &str) -> String {
    format!("{name}: {} [errno {errno}]: {hint}", strerror(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_text() {
        assert_eq!(strerror(libc::EBUSY), "Device or resource busy");
        assert_eq!(strerror(libc::ENXIO), "No such device or address");
        assert_eq!(
            open_error("netmap:vb", libc::EBUSY, "queue 0 is held"),
            "netmap:vb: Device or resource busy [errno 16]: queue 0 is held"
        );
    }
}
