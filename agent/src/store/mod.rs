//! State in SQLite (rusqlite, bundled, WAL): revisions, inventory per revision, sync state
//! (suspension, highest verified revision, source cursor), stored manifests, events.
//!
//! Every state change is one transaction, so a power cut leaves the old or the new state.
//! Durability: WAL with `synchronous=FULL`, so a committed record survives power loss
//! (the write volume is a handful of small transactions per sync).

pub mod blobs;
pub mod events;
pub mod host_journal;
pub mod live;
mod migrations;

use crate::engine::changeset::ChangeSet;
use crate::engine::object::InventoryEntry;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
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

/// The kinds of attempts history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptKind {
    Apply,
    /// Automatic: re-applying the last good revision after a failure.
    Rollback,
    /// An operator's `ferry-agent rollback`.
    ManualRollback,
    /// Drift correction of the current revision.
    DriftCorrection,
}

impl AttemptKind {
    fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Apply => "apply",
            AttemptKind::Rollback => "rollback",
            AttemptKind::ManualRollback => "manual-rollback",
            AttemptKind::DriftCorrection => "drift-correction",
        }
    }
}

/// The state of an attempt in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptState {
    Applying,
    Applied,
    Failed,
    Interrupted,
}

impl AttemptState {
    /// Parses the stored word; unknown words read as `Failed` (never as success).
    pub fn parse(s: &str) -> AttemptState {
        match s {
            "applying" => AttemptState::Applying,
            "applied" => AttemptState::Applied,
            "interrupted" => AttemptState::Interrupted,
            _ => AttemptState::Failed,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Applying => "applying",
            AttemptState::Applied => "applied",
            AttemptState::Failed => "failed",
            AttemptState::Interrupted => "interrupted",
        }
    }
}

impl From<&str> for AttemptState {
    fn from(s: &str) -> Self {
        AttemptState::parse(s)
    }
}

impl std::fmt::Display for AttemptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of history.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionRecord {
    pub id: i64,
    pub sync: String,
    pub revision: u64,
    pub digest: String,
    pub kind: String,
    pub state: AttemptState,
    pub started: i64,
    pub finished: Option<i64>,
    pub error: Option<String>,
    pub changes: Option<String>,
    pub source_ref: Option<String>,
}

/// What the store knows about one sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    pub suspended: bool,
    /// Highest revision that passed verification (anything lower is a rollback attack).
    pub highest_revision: Option<u64>,
    /// The attempt id, revision and digest of the last good (applied and healthy) revision.
    pub good: Option<(i64, u64, String)>,
    pub last_error: Option<String>,
    pub cursor: Option<String>,
    pub source_unreachable_since: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub waiting: Option<String>,
}

/// One event (also the outbox for notifications and heartbeats).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub time: i64,
    pub sync: String,
    pub kind: String,
    pub message: String,
}

/// A stored manifest and its signature.
pub type StoredBundle = (Vec<u8>, Option<String>);

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

/// The agent's state database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open {
            path: path.into(),
            source,
        };
        let conn = Connection::open(path).map_err(open)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open)?;
        // At most 512 KiB of page cache (SQLite's default is 2 MB); see `release_memory`.
        conn.pragma_update(None, "cache_size", -512).map_err(open)?;
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

    /// Marks attempts left `applying` by a crash as `interrupted`; returns how many.
    pub fn recover_interrupted(&self) -> Result<usize, StoreError> {
        let c = self.conn();
        Ok(c.execute("UPDATE revisions SET state='interrupted', finished=?1, error='agent stopped during this attempt' WHERE state='applying'", [now()])?)
    }

    fn ensure_sync(c: &Connection, sync: &str) -> Result<(), StoreError> {
        c.execute("INSERT OR IGNORE INTO syncs(name) VALUES (?1)", [sync])?;
        Ok(())
    }

    pub fn sync_state(&self, sync: &str) -> Result<SyncState, StoreError> {
        let c = self.conn();
        let row = c
            .query_row(
                "SELECT suspended, highest_revision, good_attempt, last_error, cursor, unreachable_since, last_attempt, last_success, waiting FROM syncs WHERE name=?1",
                [sync],
                |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            suspended,
            highest,
            good_attempt,
            last_error,
            cursor,
            unreachable,
            last_attempt,
            last_success,
            waiting,
        )) = row
        else {
            return Ok(SyncState::default());
        };
        let good = match good_attempt {
            Some(id) => c
                .query_row(
                    "SELECT id, revision, digest FROM revisions WHERE id=?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)),
                )
                .optional()?,
            None => None,
        };
        Ok(SyncState {
            suspended,
            highest_revision: highest.map(|h| h as u64),
            good,
            last_error,
            cursor,
            source_unreachable_since: unreachable,
            last_attempt,
            last_success,
            waiting,
        })
    }

    /// Every sync the store has seen.
    pub fn sync_names(&self) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name FROM syncs ORDER BY name")?;
        let names = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    pub fn set_suspended(&self, sync: &str, suspended: bool) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET suspended=?2 WHERE name=?1",
            params![sync, suspended],
        )?;
        Ok(())
    }

    pub fn set_cursor(&self, sync: &str, cursor: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET cursor=?2 WHERE name=?1",
            params![sync, cursor],
        )?;
        Ok(())
    }

    /// Records whether the source answered; keeps the first failure time while it stays down.
    pub fn set_source_reachable(&self, sync: &str, reachable: bool) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        if reachable {
            c.execute(
                "UPDATE syncs SET unreachable_since=NULL WHERE name=?1",
                [sync],
            )?;
        } else {
            c.execute(
                "UPDATE syncs SET unreachable_since=COALESCE(unreachable_since, ?2) WHERE name=?1",
                params![sync, now()],
            )?;
        }
        Ok(())
    }

    pub fn set_error(&self, sync: &str, error: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET last_error=?2 WHERE name=?1",
            params![sync, error.map(kept)],
        )?;
        Ok(())
    }

    pub fn set_waiting(&self, sync: &str, waiting: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET waiting=?2 WHERE name=?1",
            params![sync, waiting.map(kept)],
        )?;
        Ok(())
    }

    /// Raises the highest verified revision (never lowers it).
    pub fn raise_highest(&self, sync: &str, revision: u64) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute("UPDATE syncs SET highest_revision=MAX(COALESCE(highest_revision, 0), ?2) WHERE name=?1", params![sync, revision as i64])?;
        Ok(())
    }

    /// Keeps a verified manifest (and signature) so rollbacks can re-render from the cache.
    pub fn put_bundle(
        &self,
        digest: &str,
        sync: &str,
        revision: u64,
        manifest: &[u8],
        signature: Option<&str>,
    ) -> Result<(), StoreError> {
        let c = self.conn();
        c.execute(
            "INSERT OR IGNORE INTO bundles(digest, sync, revision, manifest, signature, stored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![digest, sync, revision as i64, manifest, signature, now()],
        )?;
        Ok(())
    }

    pub fn bundle(&self, digest: &str) -> Result<Option<StoredBundle>, StoreError> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT manifest, signature FROM bundles WHERE digest=?1",
            [digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    }

    /// Starts an attempt: its row (state `applying`) and its planned inventory, in one
    /// transaction, before any object is written. A crash leaves the attempt visible and every
    /// object it may have written recorded.
    pub fn begin_attempt(
        &self,
        sync: &str,
        revision: u64,
        digest: &str,
        kind: AttemptKind,
        source_ref: Option<&str>,
        inventory: &[InventoryEntry],
    ) -> Result<i64, StoreError> {
        let mut c = self.conn();
        Self::ensure_sync(&c, sync)?;
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO revisions(sync, revision, digest, kind, state, started, source_ref) VALUES (?1, ?2, ?3, ?4, 'applying', ?5, ?6)",
            params![sync, revision as i64, digest, kind.as_str(), now(), source_ref.map(kept)],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare(
                "INSERT INTO inventory(attempt, object, api_version, hash) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in inventory {
                let object =
                    serde_json::to_string(&e.id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                st.execute(params![id, object, e.api_version, e.hash])?;
            }
        }
        tx.execute(
            "UPDATE syncs SET last_attempt=?2 WHERE name=?1",
            params![sync, now()],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Ends an attempt. On success it becomes the sync's good revision, in the same transaction.
    pub fn finish_attempt(
        &self,
        id: i64,
        result: Result<&ChangeSet, &str>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let sync: String =
            tx.query_row("SELECT sync FROM revisions WHERE id=?1", [id], |r| r.get(0))?;
        match result {
            Ok(changes) => {
                let json = serde_json::to_string(changes)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    "UPDATE revisions SET state='applied', finished=?2, changes=?3 WHERE id=?1",
                    params![id, now(), json],
                )?;
                // A crash here (power loss mid-transaction) must leave the attempt unfinished.
                crate::fault::point("mid-record");
                tx.execute("UPDATE syncs SET good_attempt=?2, last_error=NULL, last_success=?3 WHERE name=?1", params![sync, id, now()])?;
                for c in &changes.changes {
                    let name = format!("apply_objects_total|{sync}|{}", c.action.as_str());
                    tx.execute("INSERT INTO counters(name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", [name])?;
                }
            }
            Err(error) => {
                let error = kept(error);
                tx.execute(
                    "UPDATE revisions SET state='failed', finished=?2, error=?3 WHERE id=?1",
                    params![id, now(), error],
                )?;
                tx.execute(
                    "UPDATE syncs SET last_error=?2 WHERE name=?1",
                    params![sync, error],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The inventory recorded with one attempt.
    pub fn inventory(&self, attempt: i64) -> Result<Vec<InventoryEntry>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT object, api_version, hash FROM inventory WHERE attempt=?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([attempt], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.map(|r| {
            let (object, api_version, hash) = r?;
            let id = serde_json::from_str(&object)
                .map_err(|e| StoreError::Corrupt(format!("inventory object {object}: {e}")))?;
            Ok(InventoryEntry {
                id,
                api_version,
                hash,
            })
        })
        .collect()
    }

    /// What ferry may have applied for `sync`: the good revision's inventory plus every later
    /// attempt that did not finish cleanly (its objects may be live). Entries of the good
    /// revision win on duplicates (their hash is what is known to be applied).
    pub fn effective_inventory(&self, sync: &str) -> Result<Vec<InventoryEntry>, StoreError> {
        let good = self.sync_state(sync)?.good.map(|g| g.0);
        let later: Vec<i64> = {
            let c = self.conn();
            let mut st = c.prepare("SELECT id FROM revisions WHERE sync=?1 AND id > ?2 AND state IN ('failed', 'interrupted', 'applying') ORDER BY id")?;
            let ids = st
                .query_map(params![sync, good.unwrap_or(0)], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids
        };
        let mut out: Vec<InventoryEntry> = match good {
            Some(g) => self.inventory(g)?,
            None => Vec::new(),
        };
        for id in later {
            for e in self.inventory(id)? {
                if !out.iter().any(|o| o.id == e.id) {
                    // Unknown hash: forces a re-apply instead of trusting an unfinished write.
                    out.push(InventoryEntry {
                        hash: String::new(),
                        ..e
                    });
                }
            }
        }
        Ok(out)
    }

    /// History of one sync (or all), newest first.
    pub fn history(
        &self,
        sync: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RevisionRecord>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, sync, revision, digest, kind, state, started, finished, error, changes, source_ref FROM revisions
             WHERE (?1 IS NULL OR sync=?1) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![sync, limit as i64], |r| {
            Ok(RevisionRecord {
                id: r.get(0)?,
                sync: r.get(1)?,
                revision: r.get::<_, i64>(2)? as u64,
                digest: r.get(3)?,
                kind: r.get(4)?,
                state: AttemptState::parse(&r.get::<_, String>(5)?),
                started: r.get(6)?,
                finished: r.get(7)?,
                error: r.get(8)?,
                changes: r.get(9)?,
                source_ref: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest applied attempt of `revision` (for an operator's rollback).
    pub fn applied_revision(
        &self,
        sync: &str,
        revision: u64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT id, digest FROM revisions WHERE sync=?1 AND revision=?2 AND state='applied' ORDER BY id DESC LIMIT 1",
            params![sync, revision as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    }

    pub fn add_event(&self, sync: &str, kind: &str, message: &str) -> Result<(), StoreError> {
        let c = self.conn();
        let tx = c.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO events(time, sync, kind, message) VALUES (?1, ?2, ?3, ?4)",
            params![now(), sync, kind, kept(message)],
        )?;
        tx.execute("INSERT INTO counters(name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", [format!("events_total|{sync}|{kind}")])?;
        tx.commit()?;
        Ok(())
    }

    pub fn events(&self, sync: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, time, sync, kind, message FROM events WHERE (?1 IS NULL OR sync=?1) ORDER BY id DESC LIMIT ?2")?;
        let rows = st.query_map(params![sync, limit as i64], |r| {
            Ok(Event {
                id: r.get(0)?,
                time: r.get(1)?,
                sync: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps the newest `keep` attempts per sync (and always the good one); returns the bundle
    /// digests still referenced, for the blob cache's garbage collection.
    pub fn apply_retention(&self, keep: usize) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "DELETE FROM revisions WHERE id IN (
               SELECT id FROM (SELECT id, sync, ROW_NUMBER() OVER (PARTITION BY sync ORDER BY id DESC) AS n FROM revisions) WHERE n > ?1)
             AND id NOT IN (SELECT good_attempt FROM syncs WHERE good_attempt IS NOT NULL)
             AND state != 'applying'",
            [keep as i64],
        )?;
        tx.execute(
            "DELETE FROM bundles WHERE digest NOT IN (SELECT digest FROM revisions)",
            [],
        )?;
        let digests: Vec<String> = {
            let mut st = tx.prepare("SELECT digest FROM bundles")?;
            let d = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            d
        };
        tx.commit()?;
        Ok(digests)
    }

    /// Queues a message for `target`; beyond `limit` entries the oldest are dropped and
    /// counted in `outbox_dropped`. One transaction.
    pub fn enqueue(&self, target: &str, body: &str, limit: usize) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO outbox(target, body, created) VALUES (?1, ?2, ?3)",
            params![target, body, now()],
        )?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        let excess = count - limit as i64;
        if excess > 0 {
            tx.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?1)",
                [excess],
            )?;
            tx.execute("INSERT INTO counters(name, value) VALUES ('outbox_dropped', ?1) ON CONFLICT(name) DO UPDATE SET value = value + ?1", [excess])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Queued messages, oldest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(i64, String, String)>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, target, body FROM outbox ORDER BY id LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn outbox_done(&self, id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM outbox WHERE id=?1", [id])?;
        Ok(())
    }

    pub fn outbox_failed(&self, id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id=?1",
            [id],
        )?;
        Ok(())
    }

    pub fn outbox_len(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?)
    }

    pub fn add_counter(&self, name: &str, by: i64) -> Result<(), StoreError> {
        self.conn().execute("INSERT INTO counters(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + ?2", params![name, by])?;
        Ok(())
    }

    /// Every counter, by name.
    pub fn counters(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name, value FROM counters ORDER BY name")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM kv WHERE key=?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO kv(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value=?2",
            params![key, value],
        )?;
        Ok(())
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
    use crate::engine::changeset::Action;
    use crate::engine::object::ObjectId;

    fn entry(name: &str, hash: &str) -> InventoryEntry {
        InventoryEntry {
            id: ObjectId {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: "d".into(),
                name: name.into(),
            },
            api_version: "v1".into(),
            hash: hash.into(),
        }
    }

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

    #[test]
    fn attempts_good_revision_and_effective_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        let a1 = s
            .begin_attempt(
                "app",
                1,
                "d1",
                AttemptKind::Apply,
                None,
                &[entry("a", "h1")],
            )
            .unwrap();
        let mut cs = ChangeSet::default();
        cs.push(entry("a", "h1").id, Action::Created);
        s.finish_attempt(a1, Ok(&cs)).unwrap();
        assert_eq!(
            s.sync_state("app").unwrap().good,
            Some((a1, 1, "d1".into()))
        );
        // An attempt that crashed: its objects count as possibly applied, with unknown hash.
        s.begin_attempt(
            "app",
            2,
            "d2",
            AttemptKind::Apply,
            None,
            &[entry("a", "h2"), entry("b", "h2")],
        )
        .unwrap();
        assert_eq!(s.recover_interrupted().unwrap(), 1);
        let inv = s.effective_inventory("app").unwrap();
        assert_eq!(inv, vec![entry("a", "h1"), entry("b", "")]);
        let hist = s.history(Some("app"), 10).unwrap();
        assert_eq!(
            hist.iter().map(|h| h.state.as_str()).collect::<Vec<_>>(),
            ["interrupted", "applied"]
        );
        // A failed attempt keeps the good revision.
        let a3 = s
            .begin_attempt("app", 3, "d3", AttemptKind::Apply, None, &[])
            .unwrap();
        s.finish_attempt(a3, Err("boom")).unwrap();
        let st = s.sync_state("app").unwrap();
        assert_eq!(st.good.unwrap().1, 1);
        assert_eq!(st.last_error.as_deref(), Some("boom"));
    }

    #[test]
    fn highest_revision_only_rises_and_retention_keeps_the_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        s.raise_highest("app", 5).unwrap();
        s.raise_highest("app", 3).unwrap();
        assert_eq!(s.sync_state("app").unwrap().highest_revision, Some(5));
        let good = s
            .begin_attempt("app", 1, "d1", AttemptKind::Apply, None, &[])
            .unwrap();
        s.finish_attempt(good, Ok(&ChangeSet::default())).unwrap();
        s.put_bundle("d1", "app", 1, b"m", None).unwrap();
        for i in 2..6 {
            let id = s
                .begin_attempt("app", i, &format!("d{i}"), AttemptKind::Apply, None, &[])
                .unwrap();
            s.finish_attempt(id, Err("x")).unwrap();
            s.put_bundle(&format!("d{i}"), "app", i, b"m", None)
                .unwrap();
        }
        let kept = s.apply_retention(2).unwrap();
        assert_eq!(kept, ["d1", "d4", "d5"]);
        assert_eq!(s.history(Some("app"), 10).unwrap().len(), 3);
    }
}
