//! One sync, step by step: fetch -> verify -> store -> render -> plan -> apply -> wait ->
//! prune -> record, with rollback to the last good revision when a rollout fails, and drift
//! correction of the applied revision when nothing new arrived.

use crate::config::{AgentConfig, SyncConfig};
use crate::engine::apply::{self, ApplyError, Known};
use crate::engine::changeset::{Action, ChangeSet};
use crate::engine::drift;
use crate::engine::object::{DesiredObject, InventoryEntry};
use crate::engine::plan::{self, Stage};
use crate::engine::prune::{self, PruneError};
use crate::engine::render::{self, RenderError};
use crate::engine::wait::{self, WaitError};
use crate::kube::{Discovery, KubeClient};
use crate::source::{self, Poll, Source, SourceError};
use crate::store::blobs::{BlobCache, BlobError};
use crate::store::{AttemptKind, Store, StoreError};
use ferry_bundle::manifest::{Manifest, Timestamp};
use ferry_bundle::verify::{self, SignaturePolicy, Verdict, VerifyError, VerifyPolicy};
use ferry_bundle::{Device, TrustedKeys};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// Why a sync did not reach its goal.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("sync {sync}: {source}")]
    Host {
        sync: String,
        source: crate::host::HostApplyError,
    },
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
}

impl Agent {
    pub fn new(config: AgentConfig, store: Store, blobs: BlobCache, client: KubeClient) -> Self {
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
            "failed" | "refused" | "rolled-back" | "source-unreachable" => {
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
        if state.suspended || sync.suspend {
            return Ok(Outcome::Suspended);
        }
        for dep in &sync.depends_on {
            let ds = self.store.sync_state(dep).map_err(st)?;
            let last = self
                .store
                .history(Some(dep), 1)
                .map_err(st)?
                .into_iter()
                .next();
            let reason = match (
                &ds.good,
                last.as_ref().map(|l| l.state.as_str()),
                &ds.last_error,
            ) {
                (None, _, _) => Some("not applied yet".to_string()),
                (_, Some(s), _) if s != "applied" => Some(format!("last attempt {s}")),
                (_, _, Some(e)) => Some(format!("last error: {e}")),
                _ => None,
            };
            if let Some(reason) = reason {
                return Ok(Outcome::Blocked {
                    dependency: dep.clone(),
                    reason,
                });
            }
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
                self.event(
                    name,
                    if unreachable {
                        "source-unreachable"
                    } else {
                        "refused"
                    },
                    &e.to_string(),
                );
                self.store
                    .set_error(name, Some(&e.to_string()))
                    .map_err(st)?;
                // Keep enforcing the last good revision while the source is away or bad.
                if let Err(drift_err) = self.enforce(sync) {
                    tracing::warn!(sync = name, "drift correction failed: {drift_err}");
                }
                return Err(SyncError::Source {
                    sync: name.into(),
                    source: e,
                });
            }
            Ok(Poll::Unchanged) => {
                self.store.set_source_reachable(name, true).map_err(st)?;
                let changes = self.enforce(sync)?;
                return Ok(Outcome::UpToDate {
                    revision: state.good.map(|g| g.1),
                    changes,
                });
            }
            Ok(Poll::Found(f)) => f,
        };
        self.store.set_source_reachable(name, true).map_err(st)?;
        for r in &found.refused {
            self.event(name, "refused", r);
        }
        let verdict =
            match verify::verify_manifest(&found.manifest, found.signature.as_deref(), &policy) {
                Ok(v) => v,
                Err(source) => {
                    self.event(name, "refused", &format!("{}: {source}", found.origin));
                    self.store
                        .set_error(name, Some(&source.to_string()))
                        .map_err(st)?;
                    return Err(SyncError::Refused {
                        sync: name.into(),
                        origin: found.origin,
                        source,
                    });
                }
            };
        crate::fault::point("after-verify");
        let vm = verdict.manifest().clone();
        let revision = vm.manifest.revision;
        self.store.raise_highest(name, revision).map_err(st)?;
        if let Verdict::UpToDate(_) = verdict {
            if let Some((_, good_rev, good_digest)) = &state.good {
                if *good_rev == revision && *good_digest != vm.digest {
                    let e = SyncError::Replay {
                        sync: name.into(),
                        revision,
                        applied: good_digest.clone(),
                        offered: vm.digest.clone(),
                    };
                    self.event(name, "refused", &e.to_string());
                    return Err(e);
                }
                if *good_rev == revision {
                    self.store
                        .set_cursor(name, Some(&found.cursor))
                        .map_err(st)?;
                    let changes = self.enforce(sync)?;
                    return Ok(Outcome::UpToDate {
                        revision: Some(revision),
                        changes,
                    });
                }
            }
        }
        let percent = vm.manifest.rollout.as_ref().and_then(|r| r.percent);
        if !ferry_bundle::targets::in_wave(&self.config.device_id(), &vm.manifest.name, percent) {
            let msg = format!(
                "waiting for wave: revision {revision} is rolling out to {}% of devices",
                percent.unwrap_or(100)
            );
            self.store.set_waiting(name, Some(&msg)).map_err(st)?;
            self.store
                .set_cursor(name, Some(&found.cursor))
                .map_err(st)?;
            return Ok(Outcome::Waiting {
                revision,
                percent: percent.unwrap_or(100),
            });
        }
        self.store.set_waiting(name, None).map_err(st)?;
        // Store: only files the cache lacks are fetched; each is verified before it is kept.
        let mut files = found.files;
        for entry in &vm.manifest.files {
            if !self.blobs.has(&entry.sha256) {
                let data = files.fetch(entry).map_err(|source| SyncError::Source {
                    sync: name.into(),
                    source,
                })?;
                self.blobs
                    .put(&entry.sha256, &data)
                    .map_err(|source| SyncError::Blob {
                        sync: name.into(),
                        source,
                    })?;
            }
        }
        crate::fault::point("after-fetch");
        self.store
            .put_bundle(
                &vm.digest,
                name,
                revision,
                &found.manifest,
                found.signature.as_deref(),
            )
            .map_err(st)?;
        let result = self.apply_revision(
            sync,
            &vm.manifest,
            &vm.digest,
            AttemptKind::Apply,
            Some(&found.origin),
        );
        match result {
            Ok(changes) => {
                // The cursor moves only on success: a failed or interrupted revision is
                // offered again by the next poll and retried (with backoff in the daemon).
                self.store
                    .set_cursor(name, Some(&found.cursor))
                    .map_err(st)?;
                self.event(
                    name,
                    "applied",
                    &format!("revision {revision} applied: {changes}"),
                );
                self.gc();
                Ok(Outcome::Applied { revision, changes })
            }
            Err(e) => {
                self.event(name, "failed", &e.to_string());
                let Some((_, good_rev, good_digest)) =
                    state.good.clone().filter(|g| g.2 != vm.digest)
                else {
                    return Err(e);
                };
                let good = self.cached_manifest(name, good_rev, &good_digest)?;
                match self.apply_revision(sync, &good, &good_digest, AttemptKind::Rollback, None) {
                    Ok(_) => {
                        self.event(
                            name,
                            "rolled-back",
                            &format!("revision {revision} failed; revision {good_rev} re-applied"),
                        );
                        self.store
                            .set_error(name, Some(&e.to_string()))
                            .map_err(st)?;
                        Ok(Outcome::RolledBack {
                            failed_revision: revision,
                            error: e.to_string(),
                            revision: good_rev,
                        })
                    }
                    Err(rb) => {
                        self.event(
                            name,
                            "failed",
                            &format!("rollback to revision {good_rev} failed: {rb}"),
                        );
                        Err(e)
                    }
                }
            }
        }
    }

    fn cached_manifest(
        &self,
        sync: &str,
        revision: u64,
        digest: &str,
    ) -> Result<Manifest, SyncError> {
        let miss = |reason: String| SyncError::CacheMiss {
            sync: sync.into(),
            revision,
            reason,
        };
        let (bytes, _) = self
            .store
            .bundle(digest)
            .map_err(|source| SyncError::Store {
                sync: sync.into(),
                source,
            })?
            .ok_or_else(|| miss("manifest not stored".into()))?;
        Manifest::parse(&bytes).map_err(|e| miss(e.to_string()))
    }

    /// Renders a manifest's files from the blob cache into resolved desired objects.
    fn desired(
        &self,
        sync: &SyncConfig,
        manifest: &Manifest,
    ) -> Result<Vec<DesiredObject>, SyncError> {
        let vars = self.config.vars();
        let mut rendered = Vec::new();
        for f in manifest
            .files
            .iter()
            .filter(|f| render::is_manifest_file(&f.path))
            .filter(|f| !manifest.host.as_ref().is_some_and(|h| h.is_source(&f.path)))
        {
            let data = self
                .blobs
                .read(&f.sha256)
                .map_err(|source| SyncError::Blob {
                    sync: sync.name.clone(),
                    source,
                })?;
            rendered.extend(
                render::render_file(&f.path, &data, &vars).map_err(|source| SyncError::Render {
                    sync: sync.name.clone(),
                    source,
                })?,
            );
        }
        let desired = apply::resolve(
            &self.client_for(sync),
            &self.discovery,
            rendered,
            &sync.namespace,
            &sync.name,
        )
        .map_err(|source| SyncError::Apply {
            sync: sync.name.clone(),
            source,
        })?;
        if !sync.namespaces.is_empty() {
            if let Some(d) = desired
                .iter()
                .find(|d| d.id.namespace.is_empty() || !sync.namespaces.contains(&d.id.namespace))
            {
                return Err(SyncError::Fence {
                    sync: sync.name.clone(),
                    origin: d.origin.clone(),
                    object: d.id.to_string(),
                    allowed: sync.namespaces.join(", "),
                });
            }
        }
        Ok(desired)
    }

    /// Applies a revision whose files are in the cache, recording the attempt.
    pub fn apply_revision(
        &self,
        sync: &SyncConfig,
        manifest: &Manifest,
        digest: &str,
        kind: AttemptKind,
        source_ref: Option<&str>,
    ) -> Result<ChangeSet, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        crate::host::apply_for_sync(&self.config, &self.store, &self.blobs, name, manifest)
            .map_err(|source| SyncError::Host {
                sync: name.into(),
                source,
            })?;
        let desired = match self.desired(sync, manifest) {
            Ok(d) => d,
            Err(e) => {
                // Nothing was written; the attempt is still part of history.
                let id = self
                    .store
                    .begin_attempt(name, manifest.revision, digest, kind, source_ref, &[])
                    .map_err(st)?;
                self.store
                    .finish_attempt(id, Err(&e.to_string()))
                    .map_err(st)?;
                return Err(e);
            }
        };
        let inventory = self.store.effective_inventory(name).map_err(st)?;
        let plan = plan::plan(&desired, &inventory);
        let planned: Vec<InventoryEntry> = desired.iter().map(InventoryEntry::from).collect();
        let attempt = self
            .store
            .begin_attempt(name, manifest.revision, digest, kind, source_ref, &planned)
            .map_err(st)?;
        crate::fault::point("after-begin");
        let result = self.execute(sync, &desired, &inventory, &plan);
        match &result {
            Ok(cs) => self.store.finish_attempt(attempt, Ok(cs)).map_err(st)?,
            Err(e) => self
                .store
                .finish_attempt(attempt, Err(&e.to_string()))
                .map_err(st)?,
        }
        result
    }

    fn execute(
        &self,
        sync: &SyncConfig,
        desired: &[DesiredObject],
        inventory: &[InventoryEntry],
        plan: &plan::Plan,
    ) -> Result<ChangeSet, SyncError> {
        let name = sync.name.as_str();
        let client = self.client_for(sync);
        let in_inventory: BTreeSet<_> = inventory.iter().map(|e| e.id.clone()).collect();
        let known = Known {
            in_inventory: &in_inventory,
            same_content: &plan.same_as_inventory,
        };
        let mut changes = ChangeSet::default();
        for (stage, objects) in &plan.stages {
            let cs = apply::apply_stage(
                &client,
                &self.discovery,
                objects,
                &known,
                self.config.concurrency,
            )
            .map_err(|source| SyncError::Apply {
                sync: name.into(),
                source,
            })?;
            crate::fault::point("after-stage");
            changes.extend(cs);
            if matches!(stage, Stage::Crds | Stage::Namespaces) {
                self.wait(&client, sync, &objects.iter().collect::<Vec<_>>())?;
                if *stage == Stage::Crds {
                    let versions: BTreeSet<String> = objects
                        .iter()
                        .flat_map(|crd| {
                            let group = crd.manifest["spec"]["group"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string();
                            crd.manifest["spec"]["versions"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .filter_map(move |v| {
                                    v["name"].as_str().map(|n| format!("{group}/{n}"))
                                })
                        })
                        .collect();
                    self.discovery.invalidate(&versions);
                }
            }
        }
        if sync.wait {
            let refs: Vec<&DesiredObject> = desired
                .iter()
                .filter(|d| plan::stage_of(&d.id) >= Stage::ClusterScoped)
                .collect();
            self.wait(&client, sync, &refs)?;
        }
        if sync.prune {
            crate::fault::point("before-prune");
            let cs =
                prune::prune(&client, &self.discovery, name, &plan.prune).map_err(|source| {
                    SyncError::Prune {
                        sync: name.into(),
                        source,
                    }
                })?;
            changes.extend(cs);
        }
        crate::fault::point("before-record");
        Ok(changes)
    }

    /// Waits until `objects` are healthy, within the sync's timeout.
    fn wait(
        &self,
        client: &KubeClient,
        sync: &SyncConfig,
        objects: &[&DesiredObject],
    ) -> Result<(), SyncError> {
        wait::wait_for(
            client,
            &self.discovery,
            objects,
            sync.timeout,
            self.poll_interval,
        )
        .map_err(|source| SyncError::Wait {
            sync: sync.name.clone(),
            source,
        })
    }

    /// Drift correction: compares live objects with the last good revision and re-applies
    /// only what changed or vanished. No writes (and no history entry) when nothing drifted.
    pub fn enforce(&self, sync: &SyncConfig) -> Result<ChangeSet, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let Some((_, revision, digest)) = self.store.sync_state(name).map_err(st)?.good else {
            return Ok(ChangeSet::default());
        };
        let manifest = self.cached_manifest(name, revision, &digest)?;
        let desired = self.desired(sync, &manifest)?;
        let drifted = self
            .drifted(&self.client_for(sync), &desired)
            .map_err(|source| SyncError::Apply {
                sync: name.into(),
                source,
            })?;
        if drifted.is_empty() {
            return Ok(ChangeSet::default());
        }
        let list: Vec<String> = drifted.iter().map(|id| id.to_string()).collect();
        self.event(
            name,
            "drift-detected",
            &format!("revision {revision}: {}", list.join(", ")),
        );
        let changes =
            self.apply_revision(sync, &manifest, &digest, AttemptKind::DriftCorrection, None)?;
        self.event(
            name,
            "drift-corrected",
            &format!("revision {revision}: {changes}"),
        );
        Ok(changes)
    }

    /// Objects whose live state differs from what ferry applied (or that are gone).
    pub fn drifted(
        &self,
        client: &KubeClient,
        desired: &[DesiredObject],
    ) -> Result<Vec<crate::engine::object::ObjectId>, ApplyError> {
        let mut out = Vec::new();
        for d in desired {
            let info = apply::info_for(client, &self.discovery, d)?;
            let live =
                apply::get_live(client, &info, &d.id.namespace, &d.id.name).map_err(|source| {
                    ApplyError::Kube {
                        id: d.id.clone(),
                        origin: d.origin.clone(),
                        source,
                    }
                })?;
            if live.is_none_or(|l| drift::first_difference(&d.manifest, &l).is_some()) {
                out.push(d.id.clone());
            }
        }
        Ok(out)
    }

    /// What a sync would change now, without writing: the source's newest bundle (or the
    /// applied one) against the inventory and the live objects.
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
                for entry in &vm.manifest().manifest.files {
                    if !self.blobs.has(&entry.sha256) {
                        let data = f.files.fetch(entry).map_err(|source| SyncError::Source {
                            sync: name.into(),
                            source,
                        })?;
                        self.blobs
                            .put(&entry.sha256, &data)
                            .map_err(|source| SyncError::Blob {
                                sync: name.into(),
                                source,
                            })?;
                    }
                }
                vm.manifest().manifest.clone()
            }
            Ok(Poll::Unchanged) | Err(_) => match self.store.sync_state(name).map_err(st)?.good {
                Some((_, rev, digest)) => self.cached_manifest(name, rev, &digest)?,
                None => return Ok((None, ChangeSet::default())),
            },
        };
        let desired = self.desired(sync, &manifest)?;
        let inventory = self.store.effective_inventory(name).map_err(st)?;
        let plan = plan::plan(&desired, &inventory);
        let drifted: BTreeSet<_> = self
            .drifted(&self.client_for(sync), &desired)
            .map_err(|source| SyncError::Apply {
                sync: name.into(),
                source,
            })?
            .into_iter()
            .collect();
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
            "rolled-back",
            &format!("operator rollback to revision {revision}: {changes}"),
        );
        Ok(changes)
    }

    /// Applies history retention and removes blobs no kept bundle references.
    pub fn gc(&self) {
        let digests = match self.store.apply_retention(self.config.history) {
            Ok(d) => d,
            Err(e) => return tracing::warn!("retention: {e}"),
        };
        let mut keep = BTreeSet::new();
        for d in digests {
            if let Ok(Some((bytes, _))) = self.store.bundle(&d) {
                if let Ok(m) = Manifest::parse(&bytes) {
                    keep.extend(m.files.into_iter().map(|f| f.sha256));
                }
            }
        }
        if let Err(e) = self.blobs.gc(&keep) {
            tracing::warn!("blob cache gc: {e}");
        }
    }

    pub fn scratch_dir(&self) -> &std::path::Path {
        &self.scratch
    }
}
