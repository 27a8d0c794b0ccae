//! A failed request: the errno the application gets and, when there is more to say, the message
//! that explains it. Nothing is printed where a request fails: [`super::ioctl`] reports the
//! message once, at the C boundary.

use libc::c_int;

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub errno: c_int,
    /// Names the cause and the fix; None when the errno says it all (the kernel's own checks).
    pub message: Option<String>,
}

/// What a request gives.
pub(crate) type Res<T = ()> = Result<T, Fail>;

impl Fail {
    /// `errno`, explained by `message`.
    pub fn new(errno: c_int, message: impl Into<String>) -> Self {
        Fail {
            errno,
            message: Some(message.into()),
        }
    }
}

impl From<c_int> for Fail {
    /// An errno that needs no explanation (bad pointers, sizes, versions the kernel rejects
    /// silently too).
    fn from(errno: c_int) -> Self {
        Fail {
            errno,
            message: None,
        }
    }
}

impl From<nmxdp::Error> for Fail {
    fn from(e: nmxdp::Error) -> Self {
        let message = (!e.message().is_empty()).then(|| e.message().to_string());
        Fail {
            errno: e.errno(),
            message,
        }
    }
}
