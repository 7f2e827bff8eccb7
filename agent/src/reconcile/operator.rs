//! Operator verbs on a sync (IO steps): diff, rollback to a revision in history, retry of a
//! held revision, and history/cache retention.

use super::{Agent, SyncError};
use crate::engine::changeset::{Action, ChangeSet};
use crate::engine::object::ObjectId;
use crate::engine::plan;
use crate::source::Poll;
use crate::store::AttemptKind;
use ferry_bundle::manifest::Manifest;
use ferry_bundle::verify;
use std::collections::BTreeSet;

impl Agent {
    /// What a sync would change now, without writing: the source's newest bundle (or the
    /// applied one) against the inventory and the live objects (server-side dry runs).
    pub fn diff(&self, name: &str) -> Result<(Option<u64>, ChangeSet), SyncError> {
        let sync = self
            .config
            .sync(name)
            .ok_or_else(|| SyncError::UnknownSync(name.into()))?;
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let policy = self.policy(sync)?;
        let polled = self.sources[name]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .poll(None, &policy);
        let manifest = match polled {
            Ok(Poll::Found(mut f)) => {
                let vm = verify::verify_manifest(&f.manifest, f.signature.as_deref(), &policy)
                    .map_err(|source| SyncError::Refused {
                        sync: name.into(),
                        origin: f.origin.clone(),
                        source,
                    })?;
                let manifest = &vm.manifest().manifest;
                self.fetch_files(name, f.files.as_mut(), manifest, &f.origin)?;
                manifest.clone()
            }
            Ok(Poll::Unchanged) | Err(_) => match self.store.sync_state(name).map_err(st)?.good {
                Some(good) => self.cached_manifest(name, good.revision, &good.digest)?,
                None => return Ok((None, ChangeSet::default())),
            },
        };
        let desired = self.desired(sync, &manifest)?;
        let inventory = self.store.effective_inventory(name).map_err(st)?;
        let drifted: BTreeSet<ObjectId> = self
            .check_all(sync, &desired, true)?
            .into_iter()
            .filter(|(_, c)| c.finding.needs_apply())
            .map(|(id, _)| id)
            .collect();
        let plan = plan::plan(desired, &inventory);
        let in_inventory: BTreeSet<_> = inventory.iter().map(|e| e.id.clone()).collect();
        let mut cs = ChangeSet::default();
        for (_, objs) in &plan.stages {
            for d in objs {
                let action = if !in_inventory.contains(&d.id) {
                    Action::Created
                } else if drifted.contains(&d.id) || !plan.same_as_inventory.contains(&d.id) {
                    Action::Configured
                } else {
                    Action::Unchanged
                };
                cs.push(d.id.clone(), action);
            }
        }
        if sync.prune {
            for e in &plan.prune {
                cs.push(e.id.clone(), Action::Deleted);
            }
        }
        Ok((Some(manifest.revision), cs))
    }

    /// An operator's rollback to a revision in local history.
    pub fn rollback(&self, name: &str, revision: u64) -> Result<ChangeSet, SyncError> {
        let sync = self
            .config
            .sync(name)
            .ok_or_else(|| SyncError::UnknownSync(name.into()))?;
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let (_, digest) = self
            .store
            .applied_revision(name, revision)
            .map_err(st)?
            .ok_or(SyncError::NotInHistory {
                sync: name.into(),
                revision,
            })?;
        let manifest = self.cached_manifest(name, revision, &digest)?;
        for f in &manifest.files {
            if !self.blobs.has(&f.sha256) {
                return Err(SyncError::CacheMiss {
                    sync: name.into(),
                    revision,
                    reason: format!("blob {} ({}) missing", f.sha256, f.path),
                });
            }
        }
        let changes =
            self.apply_revision(sync, &manifest, &digest, AttemptKind::ManualRollback, None)?;
        self.event(
            name,
            crate::events::EventKind::RolledBack,
            &format!("operator rollback to revision {revision}: {changes}"),
        );
        Ok(changes)
    }

    /// Applies history retention and removes blobs no kept bundle references.
    pub fn gc(&self) {
        crate::events::prune(&self.store, &self.config, crate::store::now());
        let digests = match self.store.apply_retention(self.config.history) {
            Ok(d) => d,
            Err(e) => return tracing::warn!("retention: {e}"),
        };
        let mut keep = BTreeSet::new();
        for d in digests {
            if let Ok(Some((bytes, _))) = self.store.bundle(&d) {
                if let Ok(m) = Manifest::parse(&bytes) {
                    keep.extend(crate::images::referenced(&m));
                    keep.extend(m.files.into_iter().map(|f| f.sha256));
                }
            }
        }
        if let Err(e) = self.blobs.gc(&keep) {
            tracing::warn!("blob cache gc: {e}");
        }
    }

    /// Lifts the hold on a failed revision (and on a failed host update) so the next pass
    /// applies it again; returns the revision that was held, if any.
    pub fn retry(&self, name: &str) -> Result<Option<u64>, SyncError> {
        self.config
            .sync(name)
            .ok_or_else(|| SyncError::UnknownSync(name.into()))?;
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let held = self.store.held(name).map_err(st)?;
        self.store.release_hold(name).map_err(st)?;
        if let Some(h) = &held {
            self.event(
                name,
                crate::events::EventKind::Retry,
                &format!("operator lifted the hold on revision {}", h.revision),
            );
        }
        let host_held = self.store.release_host_hold(name).map_err(st)?;
        if let Some(h) = &host_held {
            self.event(
                name,
                crate::events::EventKind::Retry,
                &format!(
                    "operator lifted the hold on the host update of revision {}",
                    h.revision
                ),
            );
        }
        Ok(held.map(|h| h.revision).or(host_held.map(|h| h.revision)))
    }

    pub fn scratch_dir(&self) -> &std::path::Path {
        &self.scratch
    }
}
