//! State in SQLite (rusqlite, bundled, WAL): revisions, inventory per revision, sync state
//! (suspension, highest verified revision, source cursor), stored manifests, events.
//!
//! Every state change is one transaction, so a power cut leaves the old or the new state.
//! Durability: WAL with `synchronous=FULL`, so a committed record survives power loss
//! (the write volume is a handful of small transactions per sync). The connection's pragmas
//! are set in [`Store::open`].
//!
//! The tables are read and written by topic: [`syncs`] (per-sync state), [`attempts`]
//! (history, inventory), [`bundles`] (kept manifests, retention), [`events`], [`outbox`] (outbox, counters,
//! key-value), [`live`] (what the server said of applied objects, held revisions), [`jobs`]
//! (Jobs that finished, per object and content),
//! [`host_journal`] and [`blobs`] (the content-addressed file cache).

pub mod attempts;
pub mod blobs;
pub mod bundles;
pub mod events;
pub mod host_journal;
pub mod jobs;
pub mod live;
mod migrations;
pub mod outbox;
pub mod syncs;

pub use attempts::{AttemptKind, AttemptState, RevisionRecord};
pub use bundles::StoredBundle;
pub use events::Event;
pub use syncs::{GoodAttempt, SyncState};

use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why the store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database has schema version {found}, newer than this agent's {supported}")]
    TooNew { found: i64, supported: i64 },
    #[error("state database: corrupt record: {0}")]
    Corrupt(String),
}

/// Longest text from outside (errors, messages, source references) kept in one column.
pub const MAX_TEXT: usize = 8 * 1024;

/// Outside text as stored: control characters escaped, cut to [`MAX_TEXT`].
fn kept(text: &str) -> String {
    ferry_bundle::text::bounded(text, MAX_TEXT)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long a statement waits for another process's lock on the database before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Switches the database to WAL (a no-op once it is: the mode is kept in the file). The
/// switch needs the database to itself for a moment and SQLite does not wait for that in the
/// busy handler, so while another process holds a lock it is tried again, within
/// [`BUSY_TIMEOUT`].
fn wal(conn: &Connection) -> Result<(), rusqlite::Error> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Whether `e` says another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The agent's state database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`. Safe for any number of
    /// processes at once (the daemon, `serve`, `status`...), on a fresh database too: each waits
    /// up to [`BUSY_TIMEOUT`] for another's lock instead of failing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open {
            path: path.into(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open)?;
        // Before any statement reads the file: wait for other processes' locks.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open)?;
        // Every transaction takes the write lock when it begins (waiting for it), so none
        // fails at once when it would upgrade a read to a write after another process wrote.
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        wal(&conn).map_err(open)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open)?;
        // At most 128 KiB of page cache (SQLite's default is 2 MB; 512 KiB before issue 21):
        // a 1000-object sync filled 512 KiB, 0.35 MiB of its peak; the pages it reads again
        // come from the kernel's page cache. See `release_memory`.
        conn.pragma_update(None, "cache_size", -128).map_err(open)?;
        migrations::migrate(&conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frees SQLite's page cache and other memory the connection does not need now (the
    /// daemon calls it after each pass; the next pass reads pages again as needed).
    pub fn release_memory(&self) -> Result<(), StoreError> {
        Ok(self.conn().release_memory()?)
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Store::open(&path).unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
        s.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
