//! Jobs that finished, one row per sync and object: the content hash that ran, the revision
//! whose pass saw it end, and how (see `engine::jobs`). Pruning the object forgets the row.

use super::live::object_key;
use super::{now, Store, StoreError};
use crate::engine::jobs::{FinishedJob, JobEnd};
use crate::engine::object::ObjectId;
use rusqlite::params;
use std::collections::BTreeMap;

impl Store {
    /// Records Jobs that finished (replacing what an earlier content of each recorded), in
    /// one transaction.
    pub fn record_finished_jobs(&self, sync: &str, jobs: &[FinishedJob]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO finished_jobs(sync, object, applied_hash, revision, ended, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(sync, object) DO UPDATE SET applied_hash=excluded.applied_hash, revision=excluded.revision, ended=excluded.ended, time=excluded.time",
            )?;
            for j in jobs {
                st.execute(params![
                    sync,
                    object_key(&j.id)?,
                    j.applied_hash,
                    j.revision as i64,
                    j.end.as_str(),
                    now()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The Jobs of `sync` that finished, by object.
    pub fn finished_jobs(&self, sync: &str) -> Result<BTreeMap<ObjectId, FinishedJob>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT object, applied_hash, revision, ended FROM finished_jobs WHERE sync=?1",
        )?;
        let rows = st.query_map([sync], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|r| {
            let (object, applied_hash, revision, ended) = r?;
            let corrupt =
                |why: String| StoreError::Corrupt(format!("finished job {object}: {why}"));
            let id: ObjectId = serde_json::from_str(&object).map_err(|e| corrupt(e.to_string()))?;
            let end = JobEnd::parse(&ended).ok_or_else(|| corrupt(format!("end {ended:?}")))?;
            Ok((
                id.clone(),
                FinishedJob {
                    id,
                    applied_hash,
                    revision: revision as u64,
                    end,
                },
            ))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_round_trip_replace_and_are_forgotten_with_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let id = ObjectId {
            group: "batch".into(),
            kind: "Job".into(),
            namespace: "ingress-nginx".into(),
            name: "ingress-nginx-admission-create".into(),
        };
        let job = |hash: &str, revision, end| FinishedJob {
            id: id.clone(),
            applied_hash: hash.into(),
            revision,
            end,
        };
        store
            .record_finished_jobs("s", &[job("h1", 1, JobEnd::Complete)])
            .unwrap();
        assert_eq!(
            store.finished_jobs("s").unwrap()[&id],
            job("h1", 1, JobEnd::Complete)
        );
        store
            .record_finished_jobs("s", &[job("h2", 2, JobEnd::DeletedAfterFinish)])
            .unwrap();
        assert_eq!(
            store.finished_jobs("s").unwrap()[&id],
            job("h2", 2, JobEnd::DeletedAfterFinish)
        );
        assert!(store.finished_jobs("other").unwrap().is_empty());
        store.forget_live("s", &[id]).unwrap();
        assert!(store.finished_jobs("s").unwrap().is_empty());
    }
}
