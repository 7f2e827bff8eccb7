//! One pass of a sync (IO steps around the pure decisions of [`super::decide`]): gate,
//! poll, verify, decide about the offer, store, apply, and after a failure roll back and
//! hold the failed revision.

use super::decide::{
    self, AfterFailure, Dependency, FailureClass, Gate, GoodRevision, Offer, OfferDecision,
};
use super::refuse::Offered;
use super::{Agent, Outcome, SyncError};
use crate::config::SyncConfig;
use crate::engine::apply::ApplyError;
use crate::engine::changeset::ChangeSet;
use crate::engine::prune::PruneError;
use crate::engine::wait::WaitError;
use crate::source::{Poll, SourceError};
use crate::store::live::Hold;
use crate::store::AttemptKind;
use ferry_bundle::verify::{self, Verdict};

impl Agent {
    /// One pass of the named sync, before the host rollout's turn (`rollout.rs`).
    pub(super) fn sync_pass(&self, name: &str) -> Result<Outcome, SyncError> {
        let sync = self
            .config
            .sync(name)
            .ok_or_else(|| SyncError::UnknownSync(name.into()))?;
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let state = self.store.sync_state(name).map_err(st)?;
        let mut deps = Vec::new();
        for dep in &sync.depends_on {
            let ds = self.store.sync_state(dep).map_err(st)?;
            let last = self
                .store
                .history(Some(dep), 1)
                .map_err(st)?
                .into_iter()
                .next();
            deps.push(Dependency {
                name: dep.clone(),
                applied: ds.good.is_some(),
                last_attempt: last.map(|l| l.state),
                last_error: ds.last_error,
            });
        }
        match decide::gate(state.suspended || sync.suspend, &deps) {
            Gate::Suspended => return Ok(Outcome::Suspended),
            Gate::Blocked { dependency, reason } => {
                return Ok(Outcome::Blocked { dependency, reason })
            }
            Gate::Open => {}
        }
        if let Some(holder) = self.site_follower() {
            return self.follow(sync, holder);
        }
        let good = state.good.as_ref().map(|g| GoodRevision {
            revision: g.revision,
            digest: g.digest.clone(),
        });
        if let Some(done) = self.take_over_from_cache(sync, good.as_ref()) {
            return done;
        }
        let policy = self.policy(sync)?;
        crate::fault::point("poll");
        let polled = {
            let mut src = self.sources[name].lock().unwrap_or_else(|e| e.into_inner());
            src.poll(state.cursor.as_deref(), &policy)
        };
        let found = match polled {
            Err(e) => {
                let unreachable = matches!(e, SourceError::Unreachable { .. });
                self.store
                    .set_source_reachable(name, !unreachable)
                    .map_err(st)?;
                if unreachable {
                    // Keep enforcing the last good revision while the source is away.
                    self.keep_last_good(
                        sync,
                        crate::events::EventKind::SourceUnreachable,
                        &e.to_string(),
                    );
                    return Err(SyncError::Source {
                        sync: name.into(),
                        source: e,
                    });
                }
                let e = SyncError::Source {
                    sync: name.into(),
                    source: e,
                };
                return Err(self.refuse(sync, None, e));
            }
            Ok(Poll::Unchanged) => {
                self.store.set_source_reachable(name, true).map_err(st)?;
                let changes = self.enforce(sync)?;
                return Ok(Outcome::UpToDate {
                    revision: good.map(|g| g.revision),
                    changes,
                });
            }
            Ok(Poll::Found(f)) => f,
        };
        self.store.set_source_reachable(name, true).map_err(st)?;
        let (origin, cursor) = (found.origin.clone(), found.cursor.clone());
        let offered = || Offered {
            origin: &origin,
            cursor: &cursor,
        };
        for r in &found.refused {
            self.event(name, crate::events::EventKind::Refused, r);
        }
        let verdict =
            match verify::verify_manifest(&found.manifest, found.signature.as_deref(), &policy) {
                Ok(v) => v,
                Err(source) => {
                    let e = SyncError::Refused {
                        sync: name.into(),
                        origin: origin.clone(),
                        source,
                    };
                    return Err(self.refuse(sync, Some(offered()), e));
                }
            };
        crate::fault::point("after-verify");
        let vm = verdict.manifest().clone();
        if let Err(source) = crate::host::admit(sync, &vm.manifest) {
            // A host section on a sync that may not carry one: the revision is refused whole.
            let e = SyncError::HostRefused {
                sync: name.into(),
                origin: origin.clone(),
                source,
            };
            return Err(self.refuse(sync, Some(offered()), e));
        }
        let revision = vm.manifest.revision;
        let percent = vm.manifest.rollout.as_ref().and_then(|r| r.percent);
        let offer = Offer {
            revision,
            digest: vm.digest.clone(),
            not_newer: matches!(verdict, Verdict::UpToDate(_)),
            in_wave: ferry_bundle::targets::in_wave(
                &self.config.device_id(),
                &vm.manifest.name,
                percent,
            ),
        };
        let held = self.store.held(name).map_err(st)?;
        match decide::on_offer(&offer, good.as_ref(), held.as_ref(), crate::store::now()) {
            OfferDecision::Replay { applied } => {
                let e = SyncError::Replay {
                    sync: name.into(),
                    revision,
                    applied,
                    offered: vm.digest.clone(),
                };
                Err(self.refuse(sync, Some(offered()), e))
            }
            OfferDecision::UpToDate => {
                self.store
                    .set_cursor(name, Some(&found.cursor))
                    .map_err(st)?;
                let changes = self.enforce(sync)?;
                Ok(Outcome::UpToDate {
                    revision: Some(revision),
                    changes,
                })
            }
            OfferDecision::Held { hold } => {
                let changes = self.enforce(sync)?;
                tracing::debug!(sync = name, %changes, "revision {revision} held back");
                Ok(Outcome::Held {
                    revision: hold.revision,
                    until: hold.until,
                    error: hold.error,
                })
            }
            OfferDecision::WaitForWave => {
                let msg = format!(
                    "waiting for wave: revision {revision} is rolling out to {}% of devices",
                    percent.unwrap_or(100)
                );
                self.store.set_waiting(name, Some(&msg)).map_err(st)?;
                self.store
                    .set_cursor(name, Some(&found.cursor))
                    .map_err(st)?;
                Ok(Outcome::Waiting {
                    revision,
                    percent: percent.unwrap_or(100),
                })
            }
            OfferDecision::Apply => {
                self.store.set_waiting(name, None).map_err(st)?;
                let stored = self.store_bundle(
                    sync,
                    found.files,
                    &found.manifest,
                    found.signature.as_deref(),
                    &vm,
                    &found.origin,
                );
                match stored {
                    Ok(()) => {}
                    Err(e @ SyncError::Content { .. }) => {
                        return Err(self.refuse(sync, Some(offered()), e))
                    }
                    Err(e) => return Err(e),
                }
                // Everything the revision carries verified: only now it counts as verified.
                self.store.raise_highest(name, revision).map_err(st)?;
                let result = self.apply_revision(
                    sync,
                    &vm.manifest,
                    &vm.digest,
                    AttemptKind::Apply,
                    Some(&found.origin),
                );
                self.after_attempt(
                    sync,
                    revision,
                    &vm.digest,
                    &found.cursor,
                    good.as_ref(),
                    result,
                )
            }
        }
    }

    /// Records the outcome of an attempt: success moves the cursor; failure rolls back (and
    /// holds the revision) or keeps state for the next pass, as [`decide::after_failure`] says.
    pub(super) fn after_attempt(
        &self,
        sync: &SyncConfig,
        revision: u64,
        digest: &str,
        cursor: &str,
        good: Option<&GoodRevision>,
        result: Result<ChangeSet, SyncError>,
    ) -> Result<Outcome, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let e = match result {
            Ok(changes) => {
                // The cursor moves only on success: a failed or interrupted revision is
                // offered again by the next poll.
                self.store.set_cursor(name, Some(cursor)).map_err(st)?;
                self.store.release_hold(name).map_err(st)?;
                self.site_done(name, revision, digest);
                self.event(
                    name,
                    crate::events::EventKind::Applied,
                    &format!("revision {revision} applied: {changes}"),
                );
                self.gc();
                return Ok(Outcome::Applied { revision, changes });
            }
            Err(e) => e,
        };
        if e.is_fenced() {
            // Not the revision's fault: this node stopped leading mid-pass. No rollback.
            self.event(name, crate::events::EventKind::SiteFenced, &e.to_string());
            return Err(e);
        }
        if matches!(e, SyncError::MassPrune { .. } | SyncError::BelowSite { .. }) {
            // Refused before any write: nothing to roll back, nothing held; the next pass
            // meets the same refusal until the publisher or the sync's config confirms it.
            self.event(name, crate::events::EventKind::Refused, &e.to_string());
            self.store
                .set_error(name, Some(&e.to_string()))
                .map_err(st)?;
            return Err(e);
        }
        self.event(name, crate::events::EventKind::Failed, &e.to_string());
        match decide::after_failure(e.failure_class(), digest, good) {
            AfterFailure::Retry => {
                // A failure before the attempt was recorded (the host step) shows in `status`
                // too.
                self.store
                    .set_error(name, Some(&e.to_string()))
                    .map_err(st)?;
                Err(e)
            }
            AfterFailure::RollBack { to } if self.behind_site(name, Some(to.revision)) => {
                // The site is past this node's last good revision: never roll it back there.
                self.store
                    .set_error(name, Some(&e.to_string()))
                    .map_err(st)?;
                Err(e)
            }
            AfterFailure::RollBack { to } => {
                let manifest = self.cached_manifest(name, to.revision, &to.digest)?;
                match self.apply_revision(sync, &manifest, &to.digest, AttemptKind::Rollback, None)
                {
                    Ok(_) => {
                        let hold: Hold = self
                            .store
                            .hold_revision(
                                name,
                                revision,
                                digest,
                                &e.to_string(),
                                sync.failed_revision_backoff,
                            )
                            .map_err(st)?;
                        self.event(
                            name,
                            crate::events::EventKind::RolledBack,
                            &format!(
                                "revision {revision} failed; revision {} re-applied; revision {revision} held until {} (failure {}), or `ferry-agent retry`",
                                to.revision,
                                crate::fleet::rfc3339(hold.until),
                                hold.failures
                            ),
                        );
                        self.store
                            .set_error(name, Some(&e.to_string()))
                            .map_err(st)?;
                        Ok(Outcome::RolledBack {
                            failed_revision: revision,
                            error: e.to_string(),
                            revision: to.revision,
                        })
                    }
                    Err(rb) => {
                        self.event(
                            name,
                            crate::events::EventKind::Failed,
                            &format!("rollback to revision {} failed: {rb}", to.revision),
                        );
                        Err(e)
                    }
                }
            }
        }
    }
}

impl SyncError {
    /// Whether the revision or the cluster is at fault.
    pub fn failure_class(&self) -> FailureClass {
        use crate::engine::write::WriteError;
        let transient = |e: &crate::kube::KubeError| e.is_transient();
        match self {
            SyncError::Apply {
                source: ApplyError::Write(w),
                ..
            } => match w {
                WriteError::Kube { source, .. } if transient(source) => FailureClass::Environmental,
                w if w.is_environmental() => FailureClass::Environmental,
                _ => FailureClass::Deterministic,
            },
            SyncError::Apply {
                source: ApplyError::Kube { source, .. },
                ..
            }
            | SyncError::Apply {
                source: ApplyError::Discovery { source, .. },
                ..
            }
            | SyncError::Wait {
                source: WaitError::Kube { source, .. },
                ..
            }
            | SyncError::Prune {
                source: PruneError { source, .. },
                ..
            } if transient(source) => FailureClass::Environmental,
            SyncError::Host { source, .. } if source.is_environmental() => {
                FailureClass::Environmental
            }
            SyncError::Store { .. } | SyncError::Blob { .. } | SyncError::Source { .. } => {
                FailureClass::Environmental
            }
            _ => FailureClass::Deterministic,
        }
    }
}
