//! Drift correction of the applied revision (IO steps over `engine::check`): one
//! metadata-only LIST per kind and namespace; objects the server changed are re-applied in a
//! drift-correction attempt, naming the differing path. A full dry-run sweep runs on daemon
//! start and every `driftSweepInterval`.

use super::{Agent, SyncError};
use crate::config::SyncConfig;
use crate::engine::apply::{ObjectYield, Recorded, StageOutcome};
use crate::engine::changeset::ChangeSet;
use crate::engine::check::{Checked, Checker, Finding};
use crate::engine::object::{DesiredObject, ObjectId};
use crate::store::{AttemptKind, GoodAttempt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

impl Agent {
    /// Whether this pass of `sync` is a full dry-run sweep (and remembers it ran).
    fn sweep_due(&self, sync: &SyncConfig) -> Result<bool, SyncError> {
        let st = |source| SyncError::Store {
            sync: sync.name.clone(),
            source,
        };
        let now = crate::store::now();
        if self.sweep_on_start.load(Ordering::SeqCst) {
            let mut done = self.sweep_pending.lock().unwrap_or_else(|e| e.into_inner());
            if done.insert(sync.name.clone(), true).is_none() {
                return Ok(true);
            }
        }
        match self.store.last_sweep(&sync.name).map_err(st)? {
            // The interval counts from the first check.
            None => {
                self.store.set_last_sweep(&sync.name, now).map_err(st)?;
                Ok(false)
            }
            Some(t) => Ok(now.saturating_sub(t) >= sync.drift_sweep_interval.as_secs() as i64),
        }
    }

    /// Checks `desired` against the server (no writes).
    pub(super) fn check_all(
        &self,
        sync: &SyncConfig,
        desired: &[DesiredObject],
        sweep: bool,
    ) -> Result<BTreeMap<ObjectId, Checked>, SyncError> {
        let name = sync.name.as_str();
        let recorded = self
            .store
            .live_records(name)
            .map_err(|source| SyncError::Store {
                sync: name.into(),
                source,
            })?;
        let refs: Vec<&DesiredObject> = desired.iter().collect();
        let finished = self.finished_hashes(name)?;
        Checker {
            client: &self.client_for(sync),
            discovery: &self.discovery,
            sync: name,
            policy: &self.write_policy(sync),
            recorded: &recorded,
            sweep,
            changed: &BTreeSet::new(),
            finished: &finished,
            concurrency: self.config.concurrency,
        }
        .check(&refs)
        .map_err(|source| SyncError::Apply {
            sync: name.into(),
            source,
        })
    }

    /// Drift correction: asks the server which objects of the last good revision changed and
    /// re-applies only those. No writes (and no history entry) when nothing drifted.
    pub fn enforce(&self, sync: &SyncConfig) -> Result<ChangeSet, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let Some(GoodAttempt {
            revision, digest, ..
        }) = self.store.sync_state(name).map_err(st)?.good
        else {
            return Ok(ChangeSet::default());
        };
        if self.behind_site(name, Some(revision)) {
            // Enforcing this node's older copy would take the site back.
            tracing::warn!(
                sync = name,
                "the site is past revision {revision}; not enforcing it"
            );
            return Ok(ChangeSet::default());
        }
        let manifest = self.cached_manifest(name, revision, &digest)?;
        let (checked, sweep) = {
            // The desired set lives only for the check; a correction renders it again.
            let desired = self.desired(sync, &manifest)?;
            let sweep = self.sweep_due(sync)?;
            let checked = self.check_all(sync, &desired, sweep)?;
            self.note_gone_jobs(sync, revision, &desired, &checked)?;
            (checked, sweep)
        };
        if sweep {
            self.store
                .set_last_sweep(name, crate::store::now())
                .map_err(st)?;
        }
        // Record new versions of clean objects; report fields left to other managers.
        let mut noted = StageOutcome::default();
        let mut drifted = Vec::new();
        for (id, c) in &checked {
            match &c.finding {
                Finding::Moved(record) => noted.records.push(Recorded {
                    id: id.clone(),
                    record: record.clone(),
                }),
                Finding::Clean | Finding::Changed | Finding::Finished => {}
                Finding::Drifted {
                    path,
                    changed_by: Some(m),
                } => drifted.push(format!("{id} ({path}, now owned by manager {m:?})")),
                Finding::Drifted { path, .. } => drifted.push(format!("{id} ({path})")),
                Finding::Missing => drifted.push(format!("{id} (missing)")),
                Finding::Replaced => drifted.push(format!("{id} (re-created by someone else)")),
            }
            noted.yielded.extend(c.yielded.iter().map(|y| ObjectYield {
                id: id.clone(),
                yielded: y.clone(),
            }));
        }
        self.note_stage(sync, &noted)?;
        if drifted.is_empty() {
            return Ok(ChangeSet::default());
        }
        self.event(
            name,
            crate::events::EventKind::DriftDetected,
            &format!("revision {revision}: {}", drifted.join(", ")),
        );
        let changes =
            self.apply_revision(sync, &manifest, &digest, AttemptKind::DriftCorrection, None)?;
        self.event(
            name,
            crate::events::EventKind::DriftCorrected,
            &format!("revision {revision}: {changes}"),
        );
        Ok(changes)
    }
}
