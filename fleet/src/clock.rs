//! Where the receiver's "now" comes from: the system clock, or a file the tests move
//! (a leaf module: the shared state in `app` and sign-in's housekeeping both read it).

use std::path::PathBuf;

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Unix seconds read from a file on every call (tests move time with it).
    File(PathBuf),
}

impl Clock {
    pub fn now(&self) -> i64 {
        let system = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        };
        match self {
            Clock::System => system(),
            Clock::File(p) => std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(system),
        }
    }
}
