//! History of attempts (apply, rollback, drift correction) with the inventory each planned;
//! an attempt that succeeds becomes its sync's good revision in the same transaction.

use super::{kept, now, Store, StoreError};
use crate::engine::changeset::ChangeSet;
use crate::engine::object::InventoryEntry;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

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

impl Store {
    /// Marks attempts left `applying` by a crash as `interrupted`; returns how many.
    pub fn recover_interrupted(&self) -> Result<usize, StoreError> {
        let c = self.conn();
        Ok(c.execute("UPDATE revisions SET state='interrupted', finished=?1, error='agent stopped during this attempt' WHERE state='applying'", [now()])?)
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
        let good = self.sync_state(sync)?.good.map(|g| g.attempt);
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
            Some(crate::store::GoodAttempt {
                attempt: a1,
                revision: 1,
                digest: "d1".into()
            })
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
        assert_eq!(st.good.unwrap().revision, 1);
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
