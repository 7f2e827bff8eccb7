//! Applying one revision (IO steps): render, plan, then per stage check
//! drift on the server, write, record what the server returned, wait, prune.

use super::{Agent, SyncError};
use crate::config::SyncConfig;
use crate::engine::apply::{self, StageContext, StageOutcome};
use crate::engine::changeset::ChangeSet;
use crate::engine::check::Checker;
use crate::engine::object::{DesiredObject, InventoryEntry, ObjectId};
use crate::engine::plan::{self, Stage};
use crate::engine::prune::{self, NotDeleted};
use crate::engine::render;
use crate::engine::resolve::Resolver;
use crate::engine::wait;
use crate::kube::KubeClient;
use crate::store::AttemptKind;
use ferry_bundle::manifest::Manifest;
use std::collections::BTreeSet;

impl Agent {
    pub(super) fn cached_manifest(
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

    /// Renders a manifest's files from the blob cache into resolved desired objects, one file
    /// at a time (a file's JSON trees are dropped once its objects are resolved).
    pub(super) fn desired(
        &self,
        sync: &SyncConfig,
        manifest: &Manifest,
    ) -> Result<Vec<DesiredObject>, SyncError> {
        let vars = self.config.vars();
        let mut budget = crate::budget::RenderBudget::new(&self.config.limits);
        let client = self.client_for(sync);
        let mut resolver = Resolver::new(&client, &self.discovery, &sync.namespace, &sync.name);
        let mut keyring = crate::secrets::Keyring::new(self.config.decryption.as_ref());
        let mut hash_keys = Vec::new();
        let apply_err = |source| SyncError::Apply {
            sync: sync.name.clone(),
            source,
        };
        for f in manifest
            .files
            .iter()
            .filter(|f| render::is_manifest_file(&f.path))
            // Host sources are installed on the host, never parsed as cluster manifests.
            .filter(|f| !manifest.host.as_ref().is_some_and(|h| h.is_source(&f.path)))
        {
            let data = self
                .blobs
                .read(&f.sha256)
                .map_err(|source| SyncError::Blob {
                    sync: sync.name.clone(),
                    source,
                })?;
            let render_err = |source| SyncError::Render {
                sync: sync.name.clone(),
                source,
            };
            let declared = manifest.sops.iter().any(|s| s.path == f.path);
            let opened = crate::secrets::open_if_sops(&mut keyring, &f.path, &data, declared);
            let mut objects = match opened {
                Some(opened) => {
                    let opened = opened.map_err(|source| SyncError::Secrets {
                        sync: sync.name.clone(),
                        source,
                    })?;
                    hash_keys.push((f.path.clone(), opened.hash_key()));
                    render::render_documents(&f.path, opened.documents()).map_err(render_err)?
                }
                None => render::render_file_with(
                    &f.path,
                    &data,
                    &render::Substitution {
                        vars: &vars,
                        strict: sync.strict_substitution,
                    },
                )
                .map_err(render_err)?,
            };
            drop(data);
            let generated = crate::secrets::complete_generated(
                &mut keyring,
                &manifest.generated_secrets,
                &f.path,
                &mut objects,
                |path| {
                    let entry = manifest.file(path).ok_or("not listed in files")?;
                    self.blobs.read(&entry.sha256).map_err(|e| e.to_string())
                },
            )
            .map_err(|source| SyncError::Secrets {
                sync: sync.name.clone(),
                source,
            })?;
            hash_keys.extend(generated);
            budget
                .admit(&f.path, objects.iter().map(|o| &o.value))
                .map_err(|source| SyncError::Budget {
                    sync: sync.name.clone(),
                    source,
                })?;
            resolver.add(objects).map_err(apply_err)?;
        }
        let mut desired = resolver.finish().map_err(apply_err)?;
        crate::secrets::key_hashes(&mut desired, &hash_keys);
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
        if kind == AttemptKind::Apply {
            // A site records the revision as its highest before any write of it.
            self.site_intent(name, manifest.revision)?;
        }
        // The host section only after the whole revision rendered and passed the fence; on a
        // site, each node in its turn once the site applied the revision (`rollout.rs`).
        if self.rollout.is_none() {
            self.apply_host(name, manifest)?;
        }
        let inventory = self.store.effective_inventory(name).map_err(st)?;
        let planned: Vec<InventoryEntry> = desired.iter().map(InventoryEntry::from).collect();
        let plan = plan::plan(desired, &inventory);
        let confirmed = sync.allow_mass_prune || manifest.allow_mass_prune;
        if kind == AttemptKind::Apply && sync.prune && !confirmed {
            if let Some(prune) = plan.mass_prune(inventory.len()) {
                return Err(SyncError::MassPrune {
                    sync: name.into(),
                    revision: manifest.revision,
                    prune,
                });
            }
        }
        let attempt = self
            .store
            .begin_attempt(name, manifest.revision, digest, kind, source_ref, &planned)
            .map_err(st)?;
        drop(planned);
        crate::fault::point("after-begin");
        let result = self.execute(sync, manifest.revision, &inventory, &plan);
        match &result {
            Ok(cs) => self.store.finish_attempt(attempt, Ok(cs)).map_err(st)?,
            Err(e) => self
                .store
                .finish_attempt(attempt, Err(&e.to_string()))
                .map_err(st)?,
        }
        result
    }

    /// Records what a stage's writes returned and reports fields left to other managers.
    pub(super) fn note_stage(
        &self,
        sync: &SyncConfig,
        out: &StageOutcome,
    ) -> Result<(), SyncError> {
        let name = sync.name.as_str();
        self.store
            .record_live(name, &out.records)
            .map_err(|source| SyncError::Store {
                sync: name.into(),
                source,
            })?;
        for y in &out.yielded {
            let key = format!("{name}:{}:{}:{}", y.id, y.yielded.path, y.yielded.manager);
            if self.store.report_once(&key).unwrap_or(true) {
                self.event(
                    name,
                    crate::events::EventKind::Conflict,
                    &format!(
                        "{}: field {} is owned by manager {:?} ({}); ferry leaves it alone",
                        y.id, y.yielded.path, y.yielded.manager, y.yielded.reason
                    ),
                );
            }
        }
        Ok(())
    }

    fn execute(
        &self,
        sync: &SyncConfig,
        revision: u64,
        inventory: &[InventoryEntry],
        plan: &plan::Plan,
    ) -> Result<ChangeSet, SyncError> {
        let name = sync.name.as_str();
        let client = self.client_for(sync);
        let policy = self.write_policy(sync);
        let in_inventory: BTreeSet<_> = inventory.iter().map(|e| e.id.clone()).collect();
        let changed: BTreeSet<&ObjectId> = plan
            .objects()
            .filter(|d| !plan.same_as_inventory.contains(&d.id))
            .map(|d| &d.id)
            .collect();
        let recorded = self
            .store
            .live_records(name)
            .map_err(|source| SyncError::Store {
                sync: name.into(),
                source,
            })?;
        let finished = self.finished_hashes(name)?;
        let apply_err = |source| SyncError::Apply {
            sync: name.into(),
            source,
        };
        let mut changes = ChangeSet::default();
        // Objects whose write answered for their health: not polled (health::settled_by_write).
        let mut settled: BTreeSet<&ObjectId> = BTreeSet::new();
        for (stage, objects) in &plan.stages {
            // A few whole namespaces at a time (plan::parts): the check's verdicts and the
            // writes' records are held for one part's objects, not the whole stage's.
            for part in plan::parts(objects) {
                let refs: Vec<&DesiredObject> = part.iter().collect();
                let checked = Checker {
                    client: &client,
                    discovery: &self.discovery,
                    sync: name,
                    policy: &policy,
                    recorded: &recorded,
                    sweep: false,
                    changed: &changed,
                    finished: &finished,
                    concurrency: self.config.concurrency,
                }
                .check(&refs)
                .map_err(apply_err)?;
                let ctx = StageContext {
                    client: &client,
                    discovery: &self.discovery,
                    policy: &policy,
                    in_inventory: &in_inventory,
                    same_content: &plan.same_as_inventory,
                    checked: &checked,
                    // One write at a time on a site node: the fence's check-to-send window
                    // then covers at most one request when the process is paused
                    // (docs/security.md).
                    concurrency: if self.config.site.is_some() {
                        1
                    } else {
                        self.config.concurrency
                    },
                };
                let out = apply::apply_stage(&ctx, part).map_err(apply_err)?;
                self.note_stage(sync, &out)?;
                crate::fault::point("after-stage");
                changes.extend(out.changes);
                settled.extend(
                    part.iter()
                        .map(|d| &d.id)
                        .filter(|id| out.settled.contains(*id)),
                );
            }
            let refs: Vec<&DesiredObject> = objects.iter().collect();
            if matches!(stage, Stage::Crds | Stage::Namespaces) {
                let polled: Vec<&DesiredObject> = refs
                    .iter()
                    .copied()
                    .filter(|d| !settled.contains(&d.id))
                    .collect();
                self.wait(&client, sync, revision, &polled)?;
                if *stage == Stage::Crds {
                    self.discovery.invalidate(&crd_versions(objects));
                }
            }
        }
        if sync.wait {
            let refs: Vec<&DesiredObject> = plan
                .objects()
                .filter(|d| plan::stage_of(&d.id) >= Stage::ClusterScoped)
                .filter(|d| !settled.contains(&d.id))
                .collect();
            self.wait(&client, sync, revision, &refs)?;
        }
        if sync.prune {
            crate::fault::point("before-prune");
            let out = prune::prune(
                &client,
                &self.discovery,
                name,
                &plan.prune,
                sync.timeout,
                self.poll_interval,
            )
            .map_err(|source| SyncError::Prune {
                sync: name.into(),
                source,
            })?;
            let gone: Vec<ObjectId> = plan.prune.iter().map(|e| e.id.clone()).collect();
            let _ = self.store.forget_live(name, &gone);
            for n in &out.notes {
                let msg = match &n.why {
                    NotDeleted::KindNotServed { api_version } => format!(
                        "{}: not pruned: the cluster no longer serves {api_version} {}; not counted as deleted",
                        n.id, n.id.kind
                    ),
                    NotDeleted::StillTerminating { finalizers } => format!(
                        "{}: deleted but still terminating after {:?} (finalizers {finalizers})",
                        n.id, sync.timeout
                    ),
                };
                self.event(name, crate::events::EventKind::PruneIncomplete, &msg);
            }
            changes.extend(out.changes);
        }
        crate::fault::point("before-record");
        Ok(changes)
    }

    /// Waits until `objects` are healthy, within the sync's timeout, and records the Jobs
    /// seen ending (a Job that ran for its content and is gone counts as healthy).
    pub(super) fn wait(
        &self,
        client: &KubeClient,
        sync: &SyncConfig,
        revision: u64,
        objects: &[&DesiredObject],
    ) -> Result<(), SyncError> {
        let done_when_gone = self.done_when_gone(&sync.name, objects)?;
        let ended = wait::wait_for(
            client,
            &self.discovery,
            objects,
            &wait::WaitOptions {
                timeout: sync.timeout,
                interval: self.poll_interval,
                job_health: sync.job_health,
                concurrency: self.config.concurrency,
            },
            &done_when_gone,
        )
        .map_err(|source| SyncError::Wait {
            sync: sync.name.clone(),
            source,
        })?;
        self.record_job_ends(&sync.name, revision, objects, &ended)
    }
}

/// The group/versions a stage of CRDs defines.
fn crd_versions(objects: &[DesiredObject]) -> BTreeSet<String> {
    objects
        .iter()
        .filter_map(|crd| crd.manifest().ok())
        .flat_map(|crd| {
            let group = crd["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            crd["spec"]["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |v| v["name"].as_str().map(|n| format!("{group}/{n}")))
        })
        .collect()
}
