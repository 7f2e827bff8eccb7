//! Where the receiver's "now" comes from: the system clock, or a file the tests move
//! (a leaf module: the shared state in `app` and sign-in's housekeeping both read it).

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Unix seconds read from a file on every call (tests move time with it). The file is also
    /// kept open, so "now" can still be read when the process is out of file descriptors
    /// (the accept loop's log bound is measured on this clock).
    File(PathBuf, Option<Arc<std::fs::File>>),
}

impl Clock {
    /// A clock read from `path` (opened now and kept open).
    pub fn file(path: PathBuf) -> Clock {
        let kept = std::fs::File::open(&path).ok().map(Arc::new);
        Clock::File(path, kept)
    }

    pub fn now(&self) -> i64 {
        let system = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        };
        match self {
            Clock::System => system(),
            Clock::File(p, kept) => std::fs::read_to_string(p)
                .ok()
                .or_else(|| {
                    // Written in place (the tests do): the kept descriptor sees the new text.
                    let mut buf = [0u8; 32];
                    let n = kept.as_ref()?.read_at(&mut buf, 0).ok()?;
                    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
                })
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(system),
        }
    }
}
