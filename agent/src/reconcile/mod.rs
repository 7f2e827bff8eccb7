//! One sync, step by step: gate -> poll -> verify -> decide -> store -> apply (render, plan,
//! check, write, wait, prune, record), with rollback to the last good revision when a rollout
//! fails, a hold on the failed revision, and drift correction of the applied revision when
//! nothing new arrived. The decisions are pure ([`decide`]); the steps are small modules.

pub mod decide;
mod enforce;
mod operator;
mod revision;

use crate::config::{AgentConfig, SyncConfig};
use crate::engine::apply::ApplyError;
use crate::engine::changeset::ChangeSet;
use crate::engine::prune::PruneError;
use crate::engine::render::RenderError;
use crate::engine::wait::WaitError;
use crate::engine::write::WritePolicy;
use crate::kube::{Discovery, KubeClient};
use crate::source::{self, Poll, Source, SourceError};
use crate::store::blobs::{BlobCache, BlobError};
use crate::store::live::Hold;
use crate::store::{AttemptKind, Store, StoreError};
use decide::{AfterFailure, Dependency, FailureClass, Gate, GoodRevision, Offer, OfferDecision};
use ferry_bundle::manifest::Timestamp;
use ferry_bundle::verify::{self, SignaturePolicy, Verdict, VerifyError, VerifyPolicy};
use ferry_bundle::{Device, TrustedKeys};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// Why a sync did not reach its goal.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("sync {sync}: {source}")]
    Source { sync: String, source: SourceError },
    #[error("sync {sync}: bundle from {origin} refused: {source}")]
    Refused {
        sync: String,
        origin: String,
        source: VerifyError,
    },
    #[error("sync {sync}: revision {revision} was already applied with different content (digest {applied}, offered {offered}): replay refused")]
    Replay {
        sync: String,
        revision: u64,
        applied: String,
        offered: String,
    },
    #[error("sync {sync}: {source}")]
    Render { sync: String, source: RenderError },
    #[error("sync {sync}: {source}")]
    Apply { sync: String, source: ApplyError },
    #[error("sync {sync}: {source}")]
    Wait { sync: String, source: WaitError },
    #[error("sync {sync}: {source}")]
    Prune { sync: String, source: PruneError },
    #[error("sync {sync}: {source}")]
    Store { sync: String, source: StoreError },
    #[error("sync {sync}: {source}")]
    Blob { sync: String, source: BlobError },
    #[error("sync {sync}: trusted keys: {reason}")]
    Keys { sync: String, reason: String },
    #[error("sync {sync}: revision {revision} is not in local history (only applied revisions still cached can be rolled back to)")]
    NotInHistory { sync: String, revision: u64 },
    #[error("sync {sync}: the bundle of revision {revision} is no longer in the cache: {reason}")]
    CacheMiss {
        sync: String,
        revision: u64,
        reason: String,
    },
    #[error("unknown sync {0}")]
    UnknownSync(String),
    #[error("sync {sync}: {origin}: {object} is outside the sync's namespace fence ({allowed}); refused before any write")]
    Fence {
        sync: String,
        origin: String,
        object: String,
        allowed: String,
    },
}

/// What one pass of a sync did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Suspended,
    /// Nothing new; live objects match (drift corrected if `changes` has writes).
    UpToDate {
        revision: Option<u64>,
        changes: ChangeSet,
    },
    Applied {
        revision: u64,
        changes: ChangeSet,
    },
    /// The new revision failed and the last good one was re-applied.
    RolledBack {
        failed_revision: u64,
        error: String,
        revision: u64,
    },
    /// This device is outside the bundle's rollout wave.
    Waiting {
        revision: u64,
        percent: u8,
    },
    /// A sync this one depends on is not applied and healthy.
    Blocked {
        dependency: String,
        reason: String,
    },
    /// The offered revision failed and was rolled back before; it waits for a newer
    /// revision, the end of its hold, or `ferry-agent retry`.
    Held {
        revision: u64,
        until: i64,
        error: String,
    },
}

/// The agent: configuration, state, cluster access and sources.
pub struct Agent {
    pub config: AgentConfig,
    pub store: Store,
    pub blobs: BlobCache,
    pub client: KubeClient,
    pub discovery: Discovery,
    sources: BTreeMap<String, Mutex<Box<dyn Source>>>,
    scratch: PathBuf,
    /// How often health is polled while waiting.
    pub poll_interval: Duration,
    pub(crate) started: std::time::Instant,
    /// Set by the daemon: the next drift check of every sync is a full dry-run sweep.
    sweep_pending: Mutex<BTreeMap<String, bool>>,
    /// A full sweep on the next pass of every sync (daemon start).
    pub sweep_on_start: AtomicBool,
}

impl Agent {
    pub fn new(config: AgentConfig, store: Store, blobs: BlobCache, client: KubeClient) -> Self {
        let client = client.with_retry(config.api_retry);
        let scratch = config.state_dir.join("tmp");
        let _ = std::fs::remove_dir_all(&scratch);
        let _ = std::fs::create_dir_all(&scratch);
        let sources = config
            .syncs
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    Mutex::new(source::from_config(
                        &s.source,
                        &scratch,
                        &config.state_dir.join("sources").join(&s.name),
                    )),
                )
            })
            .collect();
        Agent {
            config,
            store,
            blobs,
            client,
            discovery: Discovery::new(),
            sources,
            scratch,
            poll_interval: Duration::from_millis(250),
            started: std::time::Instant::now(),
            sweep_pending: Mutex::new(BTreeMap::new()),
            sweep_on_start: AtomicBool::new(false),
        }
    }

    fn policy(&self, sync: &SyncConfig) -> Result<VerifyPolicy, SyncError> {
        let signatures = if sync.insecure_skip_signature {
            SignaturePolicy::Skip
        } else {
            let path = sync.keys.as_ref().unwrap_or(&self.config.keys);
            let keys = TrustedKeys::load(path).map_err(|e| SyncError::Keys {
                sync: sync.name.clone(),
                reason: e.to_string(),
            })?;
            SignaturePolicy::Required(keys)
        };
        let highest = self
            .store
            .sync_state(&sync.name)
            .map_err(|source| SyncError::Store {
                sync: sync.name.clone(),
                source,
            })?
            .highest_revision;
        Ok(VerifyPolicy {
            signatures,
            name: sync.bundle_name().to_string(),
            now: Timestamp::now(),
            highest_applied: highest,
            device: Device {
                id: self.config.device_id(),
                labels: self.config.device.labels.clone(),
            },
            limits: self.config.limits,
        })
    }

    fn event(&self, sync: &str, kind: &str, message: &str) {
        match kind {
            "failed" | "refused" | "rolled-back" | "source-unreachable" | "conflict" => {
                tracing::warn!(sync, kind, "{message}")
            }
            _ => tracing::info!(sync, kind, "{message}"),
        }
        if let Err(e) = self.store.add_event(sync, kind, message) {
            tracing::error!(sync, "cannot record event: {e}");
        }
        let device = self.config.device_id();
        for n in self
            .config
            .notifications
            .iter()
            .filter(|n| n.events.is_empty() || n.events.iter().any(|k| k == kind))
        {
            let body = crate::fleet::event_payload(
                n.format,
                &device,
                sync,
                kind,
                message,
                crate::store::now(),
            );
            if let Err(e) = self.store.enqueue(
                &format!("webhook:{}", n.name),
                &body.to_string(),
                self.config.outbox_limit,
            ) {
                tracing::error!(sync, "cannot queue notification: {e}");
            }
        }
    }

    /// How a sync writes.
    fn write_policy(&self, sync: &SyncConfig) -> WritePolicy {
        WritePolicy {
            force: sync.force,
            recreate: sync.recreate,
            timeout: sync.timeout,
            poll: self.poll_interval,
        }
    }

    /// The client a sync acts through (impersonating its tenant identity if configured).
    fn client_for(&self, sync: &SyncConfig) -> KubeClient {
        match &sync.impersonate {
            Some(i) => self.client.impersonating(&i.user, &i.groups),
            None => self.client.clone(),
        }
    }

    /// One pass of the named sync.
    pub fn sync_once(&self, name: &str) -> Result<Outcome, SyncError> {
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
            let last = self.store.history(Some(dep), 1).map_err(st)?.into_iter().next();
            deps.push(Dependency {
                name: dep.clone(),
                applied: ds.good.is_some(),
                last_attempt: last.map(|l| decide::AttemptState::parse(&l.state)),
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
        let good = state.good.as_ref().map(|g| GoodRevision {
            revision: g.1,
            digest: g.2.clone(),
        });
        let policy = self.policy(sync)?;
        crate::fault::point("poll");
        let polled = {
            let mut src = self.sources[name].lock().unwrap_or_else(|e| e.into_inner());
            src.poll(state.cursor.as_deref(), &policy)
        };
        let found = match polled {
            Err(e) => {
                let unreachable = matches!(e, SourceError::Unreachable { .. });
                self.store.set_source_reachable(name, !unreachable).map_err(st)?;
                self.event(name, if unreachable { "source-unreachable" } else { "refused" }, &e.to_string());
                self.store.set_error(name, Some(&e.to_string())).map_err(st)?;
                // Keep enforcing the last good revision while the source is away or bad.
                if let Err(drift_err) = self.enforce(sync) {
                    tracing::warn!(sync = name, "drift correction failed: {drift_err}");
                }
                return Err(SyncError::Source { sync: name.into(), source: e });
            }
            Ok(Poll::Unchanged) => {
                self.store.set_source_reachable(name, true).map_err(st)?;
                let changes = self.enforce(sync)?;
                return Ok(Outcome::UpToDate { revision: good.map(|g| g.revision), changes });
            }
            Ok(Poll::Found(f)) => f,
        };
        self.store.set_source_reachable(name, true).map_err(st)?;
        for r in &found.refused {
            self.event(name, "refused", r);
        }
        let verdict = match verify::verify_manifest(&found.manifest, found.signature.as_deref(), &policy) {
            Ok(v) => v,
            Err(source) => {
                self.event(name, "refused", &format!("{}: {source}", found.origin));
                self.store.set_error(name, Some(&source.to_string())).map_err(st)?;
                return Err(SyncError::Refused { sync: name.into(), origin: found.origin, source });
            }
        };
        crate::fault::point("after-verify");
        let vm = verdict.manifest().clone();
        let revision = vm.manifest.revision;
        self.store.raise_highest(name, revision).map_err(st)?;
        let percent = vm.manifest.rollout.as_ref().and_then(|r| r.percent);
        let offer = Offer {
            revision,
            digest: vm.digest.clone(),
            not_newer: matches!(verdict, Verdict::UpToDate(_)),
            in_wave: ferry_bundle::targets::in_wave(&self.config.device_id(), &vm.manifest.name, percent),
        };
        let held = self.store.held(name).map_err(st)?;
        match decide::on_offer(&offer, good.as_ref(), held.as_ref(), crate::store::now()) {
            OfferDecision::Replay { applied } => {
                let e = SyncError::Replay { sync: name.into(), revision, applied, offered: vm.digest.clone() };
                self.event(name, "refused", &e.to_string());
                Err(e)
            }
            OfferDecision::UpToDate => {
                self.store.set_cursor(name, Some(&found.cursor)).map_err(st)?;
                let changes = self.enforce(sync)?;
                Ok(Outcome::UpToDate { revision: Some(revision), changes })
            }
            OfferDecision::Held { hold } => {
                let changes = self.enforce(sync)?;
                tracing::debug!(sync = name, %changes, "revision {revision} held back");
                Ok(Outcome::Held { revision: hold.revision, until: hold.until, error: hold.error })
            }
            OfferDecision::WaitForWave => {
                let msg = format!(
                    "waiting for wave: revision {revision} is rolling out to {}% of devices",
                    percent.unwrap_or(100)
                );
                self.store.set_waiting(name, Some(&msg)).map_err(st)?;
                self.store.set_cursor(name, Some(&found.cursor)).map_err(st)?;
                Ok(Outcome::Waiting { revision, percent: percent.unwrap_or(100) })
            }
            OfferDecision::Apply => {
                self.store.set_waiting(name, None).map_err(st)?;
                self.store_bundle(sync, found.files, &found.manifest, found.signature.as_deref(), &vm)?;
                let result = self.apply_revision(sync, &vm.manifest, &vm.digest, AttemptKind::Apply, Some(&found.origin));
                self.after_attempt(sync, revision, &vm.digest, &found.cursor, good.as_ref(), result)
            }
        }
    }

    /// Records the outcome of an attempt: success moves the cursor; failure rolls back (and
    /// holds the revision) or keeps state for the next pass, as [`decide::after_failure`] says.
    fn after_attempt(
        &self,
        sync: &SyncConfig,
        revision: u64,
        digest: &str,
        cursor: &str,
        good: Option<&GoodRevision>,
        result: Result<ChangeSet, SyncError>,
    ) -> Result<Outcome, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store { sync: name.into(), source };
        let e = match result {
            Ok(changes) => {
                // The cursor moves only on success: a failed or interrupted revision is
                // offered again by the next poll.
                self.store.set_cursor(name, Some(cursor)).map_err(st)?;
                self.store.release_hold(name).map_err(st)?;
                self.event(name, "applied", &format!("revision {revision} applied: {changes}"));
                self.gc();
                return Ok(Outcome::Applied { revision, changes });
            }
            Err(e) => e,
        };
        self.event(name, "failed", &e.to_string());
        match decide::after_failure(e.failure_class(), digest, good) {
            AfterFailure::Retry => Err(e),
            AfterFailure::RollBack { to } => {
                let manifest = self.cached_manifest(name, to.revision, &to.digest)?;
                match self.apply_revision(sync, &manifest, &to.digest, AttemptKind::Rollback, None) {
                    Ok(_) => {
                        let hold: Hold = self
                            .store
                            .hold_revision(name, revision, digest, &e.to_string(), sync.failed_revision_backoff)
                            .map_err(st)?;
                        self.event(
                            name,
                            "rolled-back",
                            &format!(
                                "revision {revision} failed; revision {} re-applied; revision {revision} held until {} (failure {}), or `ferry-agent retry`",
                                to.revision,
                                crate::fleet::rfc3339(hold.until),
                                hold.failures
                            ),
                        );
                        self.store.set_error(name, Some(&e.to_string())).map_err(st)?;
                        Ok(Outcome::RolledBack { failed_revision: revision, error: e.to_string(), revision: to.revision })
                    }
                    Err(rb) => {
                        self.event(name, "failed", &format!("rollback to revision {} failed: {rb}", to.revision));
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
            SyncError::Apply { source: ApplyError::Write(w), .. } => match w {
                WriteError::Kube { source, .. } if transient(source) => FailureClass::Environmental,
                w if w.is_environmental() => FailureClass::Environmental,
                _ => FailureClass::Deterministic,
            },
            SyncError::Apply { source: ApplyError::Kube { source, .. }, .. }
            | SyncError::Apply { source: ApplyError::Discovery { source, .. }, .. }
            | SyncError::Wait { source: WaitError::Kube { source, .. }, .. }
            | SyncError::Prune { source: PruneError { source, .. }, .. }
                if transient(source) =>
            {
                FailureClass::Environmental
            }
            SyncError::Store { .. } | SyncError::Blob { .. } | SyncError::Source { .. } => {
                FailureClass::Environmental
            }
            _ => FailureClass::Deterministic,
        }
    }
}
