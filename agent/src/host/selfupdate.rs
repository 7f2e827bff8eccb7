//! Self-update: the rule that decides whether a freshly installed ferry-agent binary keeps its
//! place. Before the switch a pending marker is written; at every start the previous binary's
//! guard (`ferry-agent host guard`, systemd `ExecStartPre`) counts the start and restores the
//! previous binary when the deadline passed or the starts ran out, and the new binary confirms
//! itself (self-check, then clears the marker). The rule is pure; the marker IO is at the end.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the pending marker in the state directory.
pub const MARKER_FILE: &str = "self-update.pending";

/// The pending marker, written (fsynced) before the new binary is renamed into place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The host path of the agent binary (`/usr/bin/ferry-agent`).
    pub target: String,
    /// sha256 of the new binary.
    pub new_sha256: String,
    /// sha256 of the binary it replaces (kept as `<target>.ferry-prev`).
    pub previous_sha256: String,
    /// Unix seconds after which the new binary has had its chance.
    pub deadline: u64,
    /// Starts of the new binary counted so far.
    pub starts: u32,
    /// The host journal row to settle.
    pub journal: i64,
}

/// Why the previous binary is put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreReason {
    DeadlinePassed,
    TooManyStarts,
}

/// What the guard does before a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardDecision {
    /// No update pending.
    Nothing,
    /// Let the new binary start; this is its `starts`-th start.
    Start { starts: u32 },
    /// Put the previous binary back and clear the marker.
    Restore(RestoreReason),
}

/// The guard's rule: a pending update gets `max_starts` starts before `deadline`.
pub fn guard(marker: Option<&Marker>, now: u64, max_starts: u32) -> GuardDecision {
    let Some(m) = marker else {
        return GuardDecision::Nothing;
    };
    if now >= m.deadline {
        return GuardDecision::Restore(RestoreReason::DeadlinePassed);
    }
    match m.starts.checked_add(1).filter(|s| *s <= max_starts) {
        Some(starts) => GuardDecision::Start { starts },
        None => GuardDecision::Restore(RestoreReason::TooManyStarts),
    }
}

/// What a starting binary does about a pending marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    Nothing,
    /// This is the new binary and its self-check passed: clear the marker, record success.
    Confirm,
    /// This is the new binary and its self-check failed: exit non-zero (the guard counts it).
    FailStart(String),
    /// Another binary runs (the old one, restored): the update is over, clear the marker.
    Abandon,
}

/// The new binary's rule at start.
pub fn on_start(
    marker: Option<&Marker>,
    running_sha256: &str,
    now: u64,
    self_check: Result<(), String>,
) -> StartDecision {
    let Some(m) = marker else {
        return StartDecision::Nothing;
    };
    if m.new_sha256 != running_sha256 {
        return StartDecision::Abandon;
    }
    if now >= m.deadline {
        return StartDecision::FailStart("self-update deadline passed before confirmation".into());
    }
    match self_check {
        Ok(()) => StartDecision::Confirm,
        Err(e) => StartDecision::FailStart(e),
    }
}

/// The marker's path in `state_dir`.
pub fn marker_path(state_dir: &Path) -> PathBuf {
    state_dir.join(MARKER_FILE)
}

/// Reads the marker (a missing or unreadable one is no marker; a corrupt one is reported).
pub fn read_marker(state_dir: &Path) -> Result<Option<Marker>, String> {
    match std::fs::read(marker_path(state_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", MARKER_FILE)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{MARKER_FILE}: {e}")),
    }
}

/// Writes the marker durably (temp file, fsync, rename, fsync the directory).
pub fn write_marker(state_dir: &Path, m: &Marker) -> std::io::Result<()> {
    let tmp = state_dir.join(format!("{MARKER_FILE}.tmp"));
    let body = serde_json::to_vec(m).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, marker_path(state_dir))?;
    std::fs::File::open(state_dir)?.sync_all()
}

/// Removes the marker durably.
pub fn clear_marker(state_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(marker_path(state_dir)) {
        Ok(()) => std::fs::File::open(state_dir)?.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(starts: u32) -> Marker {
        Marker {
            target: "/usr/bin/ferry-agent".into(),
            new_sha256: "new".into(),
            previous_sha256: "old".into(),
            deadline: 1000,
            starts,
            journal: 1,
        }
    }

    #[test]
    fn guard_counts_starts_then_restores() {
        assert_eq!(guard(None, 0, 3), GuardDecision::Nothing);
        assert_eq!(
            guard(Some(&marker(0)), 10, 3),
            GuardDecision::Start { starts: 1 }
        );
        assert_eq!(
            guard(Some(&marker(2)), 10, 3),
            GuardDecision::Start { starts: 3 }
        );
        assert_eq!(
            guard(Some(&marker(3)), 10, 3),
            GuardDecision::Restore(RestoreReason::TooManyStarts)
        );
        assert_eq!(
            guard(Some(&marker(u32::MAX)), 10, u32::MAX),
            GuardDecision::Restore(RestoreReason::TooManyStarts)
        );
    }

    #[test]
    fn guard_restores_at_the_deadline_whatever_the_count() {
        assert_eq!(
            guard(Some(&marker(0)), 1000, 3),
            GuardDecision::Restore(RestoreReason::DeadlinePassed)
        );
        assert_eq!(
            guard(Some(&marker(0)), 999, 3),
            GuardDecision::Start { starts: 1 }
        );
    }

    #[test]
    fn only_the_new_binary_confirms_and_only_when_healthy() {
        let m = marker(1);
        assert_eq!(on_start(None, "new", 10, Ok(())), StartDecision::Nothing);
        assert_eq!(
            on_start(Some(&m), "new", 10, Ok(())),
            StartDecision::Confirm
        );
        assert_eq!(
            on_start(Some(&m), "new", 10, Err("keys".into())),
            StartDecision::FailStart("keys".into())
        );
        assert_eq!(
            on_start(Some(&m), "old", 10, Ok(())),
            StartDecision::Abandon
        );
        assert!(matches!(
            on_start(Some(&m), "new", 1000, Ok(())),
            StartDecision::FailStart(_)
        ));
    }

    #[test]
    fn marker_round_trips_durably() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_marker(d.path()), Ok(None));
        write_marker(d.path(), &marker(2)).unwrap();
        assert_eq!(read_marker(d.path()), Ok(Some(marker(2))));
        clear_marker(d.path()).unwrap();
        clear_marker(d.path()).unwrap();
        assert_eq!(read_marker(d.path()), Ok(None));
        std::fs::write(marker_path(d.path()), b"{").unwrap();
        assert!(read_marker(d.path()).is_err());
    }
}
