//! Jobs that finished (IO steps over `engine::jobs`): which Jobs are done once the server no
//! longer has them, and recording the Jobs a wait or a drift check saw end, so a Job deleted
//! after it finished (TTL) is neither waited for nor created again for the same content.

use super::{Agent, SyncError};
use crate::config::SyncConfig;
use crate::engine::check::{Checked, Finding};
use crate::engine::jobs::{self, FinishedJob, JobEnd};
use crate::engine::object::{DesiredObject, ObjectId};
use std::collections::{BTreeMap, BTreeSet};

impl Agent {
    fn store_err(sync: &str) -> impl Fn(crate::store::StoreError) -> SyncError + '_ {
        move |source| SyncError::Store {
            sync: sync.into(),
            source,
        }
    }

    /// The content hash that ran, of every Job of `sync` that finished.
    pub(super) fn finished_hashes(
        &self,
        sync: &str,
    ) -> Result<BTreeMap<ObjectId, String>, SyncError> {
        Ok(self
            .store
            .finished_jobs(sync)
            .map_err(Self::store_err(sync))?
            .into_iter()
            .map(|(id, j)| (id, j.applied_hash))
            .collect())
    }

    /// The Jobs among `objects` that are done once the server no longer has them.
    pub(super) fn done_when_gone(
        &self,
        sync: &str,
        objects: &[&DesiredObject],
    ) -> Result<BTreeSet<ObjectId>, SyncError> {
        if !objects.iter().any(|d| jobs::is_job(&d.id)) {
            return Ok(BTreeSet::new());
        }
        let recorded = self
            .store
            .live_records(sync)
            .map_err(Self::store_err(sync))?;
        let finished = self.finished_hashes(sync)?;
        Ok(objects
            .iter()
            .filter(|d| {
                let hash = finished.get(&d.id).map(String::as_str);
                jobs::done_when_gone(d, hash, recorded.get(&d.id))
            })
            .map(|d| d.id.clone())
            .collect())
    }

    /// Records the Jobs a drift check found gone after they ran (e.g. a sync that does not
    /// wait, whose Job finished and was deleted between passes).
    pub(super) fn note_gone_jobs(
        &self,
        sync: &SyncConfig,
        revision: u64,
        desired: &[DesiredObject],
        checked: &BTreeMap<ObjectId, Checked>,
    ) -> Result<(), SyncError> {
        let objects: Vec<&DesiredObject> = desired
            .iter()
            .filter(|d| {
                checked
                    .get(&d.id)
                    .is_some_and(|c| c.finding == Finding::Finished)
            })
            .collect();
        let ended: Vec<_> = objects
            .iter()
            .map(|d| (d.id.clone(), JobEnd::DeletedAfterFinish))
            .collect();
        self.record_job_ends(&sync.name, revision, &objects, &ended)
    }

    /// Records the Jobs among `objects` that `ended` names, for `revision`; a Job already
    /// recorded for its content keeps the revision that saw it end first.
    pub(super) fn record_job_ends(
        &self,
        sync: &str,
        revision: u64,
        objects: &[&DesiredObject],
        ended: &[(ObjectId, JobEnd)],
    ) -> Result<(), SyncError> {
        if ended.is_empty() {
            return Ok(());
        }
        let known = self.finished_hashes(sync)?;
        let finished: Vec<FinishedJob> = ended
            .iter()
            .filter_map(|(id, end)| {
                let d = objects
                    .iter()
                    .find(|d| &d.id == id && known.get(id) != Some(&d.hash))?;
                Some(FinishedJob {
                    id: id.clone(),
                    applied_hash: d.hash.clone(),
                    revision,
                    end: *end,
                })
            })
            .collect();
        self.store
            .record_finished_jobs(sync, &finished)
            .map_err(Self::store_err(sync))
    }
}
