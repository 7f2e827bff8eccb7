//! What the server said of each applied object (uid, resourceVersion, digest of ferry's
//! `managedFields` entry), and revisions held back after a failure and rollback.

use super::{now, Store, StoreError};
use crate::engine::apply::Recorded;
use crate::engine::drift::LiveRecord;
use crate::engine::object::ObjectId;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// A revision that failed and was rolled back: not applied again before `until` (seconds
/// since the epoch) unless an operator runs `ferry-agent retry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub revision: u64,
    pub digest: String,
    /// Consecutive failures of this revision.
    pub failures: u32,
    pub until: i64,
    pub error: String,
}

/// The longest a failed revision is held before it is tried again.
pub const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);

pub(super) fn object_key(id: &ObjectId) -> Result<String, StoreError> {
    serde_json::to_string(id).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Every object recorded for `sync`.
    pub fn live_records(&self, sync: &str) -> Result<BTreeMap<ObjectId, LiveRecord>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT object, uid, resource_version, fields_digest, applied_hash FROM live_objects WHERE sync=?1",
        )?;
        let rows = st.query_map([sync], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LiveRecord {
                    uid: r.get(1)?,
                    resource_version: r.get(2)?,
                    fields_digest: r.get(3)?,
                    applied_hash: r.get(4)?,
                },
            ))
        })?;
        rows.map(|r| {
            let (object, rec) = r?;
            let id = serde_json::from_str(&object)
                .map_err(|e| StoreError::Corrupt(format!("live object {object}: {e}")))?;
            Ok((id, rec))
        })
        .collect()
    }

    /// Records (or replaces) what the server returned for objects, in one transaction.
    pub fn record_live(&self, sync: &str, records: &[Recorded]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO live_objects(sync, object, uid, resource_version, fields_digest, applied_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(sync, object) DO UPDATE SET uid=excluded.uid, resource_version=excluded.resource_version, fields_digest=excluded.fields_digest, applied_hash=excluded.applied_hash",
            )?;
            for Recorded { id, record: r } in records {
                st.execute(params![
                    sync,
                    object_key(id)?,
                    r.uid,
                    r.resource_version,
                    r.fields_digest,
                    r.applied_hash
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets objects (pruned, or their kind is gone), and that they finished (Jobs).
    pub fn forget_live(&self, sync: &str, ids: &[ObjectId]) -> Result<(), StoreError> {
        let c = self.conn();
        for id in ids {
            let key = object_key(id)?;
            c.execute(
                "DELETE FROM live_objects WHERE sync=?1 AND object=?2",
                params![sync, key],
            )?;
            c.execute(
                "DELETE FROM finished_jobs WHERE sync=?1 AND object=?2",
                params![sync, key],
            )?;
        }
        Ok(())
    }

    /// Holds `revision` back after it failed: the first hold lasts `base`, each further
    /// failure of the same content doubles it (at most [`MAX_HOLD`]).
    pub fn hold_revision(
        &self,
        sync: &str,
        revision: u64,
        digest: &str,
        error: &str,
        base: Duration,
    ) -> Result<Hold, StoreError> {
        let failures = match self.held(sync)? {
            Some(h) if h.digest == digest => h.failures.saturating_add(1),
            _ => 1,
        };
        let wait = base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(MAX_HOLD);
        let hold = Hold {
            revision,
            digest: digest.to_string(),
            failures,
            until: now().saturating_add(wait.as_secs() as i64),
            error: error.chars().take(2000).collect(),
        };
        self.conn().execute(
            "INSERT INTO held_revisions(sync, revision, digest, failures, until, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(sync) DO UPDATE SET revision=excluded.revision, digest=excluded.digest, failures=excluded.failures, until=excluded.until, error=excluded.error",
            params![sync, revision as i64, hold.digest, hold.failures, hold.until, hold.error],
        )?;
        Ok(hold)
    }

    /// The revision held back for `sync`, if any.
    pub fn held(&self, sync: &str) -> Result<Option<Hold>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT revision, digest, failures, until, error FROM held_revisions WHERE sync=?1",
                [sync],
                |r| {
                    Ok(Hold {
                        revision: r.get::<_, i64>(0)? as u64,
                        digest: r.get(1)?,
                        failures: r.get(2)?,
                        until: r.get(3)?,
                        error: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Lifts the hold (`ferry-agent retry`, or a revision applied); true if there was one.
    pub fn release_hold(&self, sync: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM held_revisions WHERE sync=?1", [sync])?
            > 0)
    }

    /// When the last full dry-run drift sweep of `sync` ran (seconds since the epoch).
    pub fn last_sweep(&self, sync: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .kv_get(&format!("drift-sweep:{sync}"))?
            .and_then(|v| v.parse().ok()))
    }

    pub fn set_last_sweep(&self, sync: &str, at: i64) -> Result<(), StoreError> {
        self.kv_set(&format!("drift-sweep:{sync}"), &at.to_string())
    }

    /// Records that a message was reported once; false if it already was.
    pub fn report_once(&self, key: &str) -> Result<bool, StoreError> {
        let key = format!("reported:{key}");
        if self.kv_get(&key)?.is_some() {
            return Ok(false);
        }
        self.kv_set(&key, &now().to_string())?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_double_per_failure_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let base = Duration::from_secs(60);
        let h1 = store.hold_revision("a", 2, "d2", "boom", base).unwrap();
        assert_eq!(h1.failures, 1);
        let h2 = store.hold_revision("a", 2, "d2", "boom", base).unwrap();
        assert_eq!(h2.failures, 2);
        assert!(h2.until - now() > 100);
        let h3 = store.hold_revision("a", 3, "d3", "boom", base).unwrap();
        assert_eq!(h3.failures, 1);
        assert!(store.release_hold("a").unwrap());
        assert_eq!(store.held("a").unwrap(), None);
        assert!(store.report_once("x").unwrap());
        assert!(!store.report_once("x").unwrap());
    }

    #[test]
    fn live_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let id = ObjectId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "d".into(),
            name: "a".into(),
        };
        let r = LiveRecord {
            uid: "u".into(),
            resource_version: "1".into(),
            fields_digest: "f".into(),
            applied_hash: "h".into(),
        };
        store
            .record_live(
                "s",
                &[Recorded {
                    id: id.clone(),
                    record: r.clone(),
                }],
            )
            .unwrap();
        assert_eq!(store.live_records("s").unwrap()[&id], r);
        store.forget_live("s", &[id]).unwrap();
        assert!(store.live_records("s").unwrap().is_empty());
    }
}
