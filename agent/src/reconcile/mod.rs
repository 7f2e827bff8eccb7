//! One sync, step by step: gate -> poll -> verify -> decide -> store -> apply (render, plan,
//! check, write, wait, prune, record), with rollback to the last good revision when a rollout
//! fails, a hold on the failed revision, and drift correction of the applied revision when
//! nothing new arrived. The decisions are pure ([`decide`]); the steps are small modules;
//! every refusal takes one path ([`refuse`]).

pub mod decide;
mod enforce;
mod fetch;
mod jobs;
mod operator;
mod pass;
mod refuse;
mod revision;
mod rollout;
mod site;

pub use refuse::ContentRefusal;

use crate::config::{AgentConfig, SyncConfig};
use crate::engine::apply::ApplyError;
use crate::engine::changeset::ChangeSet;
use crate::engine::prune::PruneError;
use crate::engine::render::RenderError;
use crate::engine::wait::WaitError;
use crate::engine::write::WritePolicy;
use crate::kube::{Discovery, KubeClient};
use crate::source::{self, Source, SourceError};
use crate::store::blobs::{BlobCache, BlobError};
use crate::store::{Store, StoreError};
use ferry_bundle::manifest::Timestamp;
use ferry_bundle::verify::{SignaturePolicy, VerifyError, VerifyPolicy};
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
    /// A host section on a sync that may not carry one (`host::admit`).
    #[error("sync {sync}: bundle from {origin} refused: {source}")]
    HostRefused {
        sync: String,
        origin: String,
        source: crate::host::plan::PlanError,
    },
    #[error("sync {sync}: bundle from {origin} refused: {what}")]
    Content {
        sync: String,
        origin: String,
        what: ContentRefusal,
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
    Secrets {
        sync: String,
        source: crate::secrets::SecretsError,
    },
    #[error("sync {sync}: {source}")]
    Budget {
        sync: String,
        source: crate::budget::BudgetError,
    },
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
    #[error("sync {sync}: revision {revision} refused before any write: {prune}; the last good revision stays applied. If this is intended, publish it with `allowMassPrune: true` (`ferry-bundle build --allow-mass-prune`) or set `allowMassPrune: true` on the sync")]
    MassPrune {
        sync: String,
        revision: u64,
        prune: crate::engine::plan::MassPrune,
    },
    #[error("sync {sync}: {source}")]
    Site {
        sync: String,
        source: crate::site::elector::ElectError,
    },
    #[error("sync {sync}: revision {revision} is below the site's applied revision {site} (recorded on the site Lease): refused, the site is never rolled back")]
    BelowSite {
        sync: String,
        revision: u64,
        site: u64,
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
    /// Another node of the site leads (holds the site Lease): this one polled, verified and
    /// cached `cached` (if anything) for a takeover, and wrote nothing.
    Following {
        holder: String,
        cached: Option<u64>,
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
    /// The site election, when `site:` is configured (its fence is in `client`).
    pub site: Option<std::sync::Arc<crate::site::elector::Elector>>,
    /// The host rollout of a site node (host payloads one node at a time).
    pub rollout: Option<std::sync::Arc<crate::site::host_lease::HostRollout>>,
}

impl Agent {
    pub fn new(config: AgentConfig, store: Store, blobs: BlobCache, client: KubeClient) -> Self {
        let client = client.with_retry(config.api_retry);
        let (client, wired) = crate::site::wire(&config, client);
        let (site, rollout) = match wired {
            Some(w) => (Some(w.elector), Some(w.rollout)),
            None => (None, None),
        };
        let scratch = config.state_dir.join("tmp");
        let _ = std::fs::remove_dir_all(&scratch);
        let _ = std::fs::create_dir_all(&scratch);
        let sources = config
            .syncs
            .iter()
            .map(|s| {
                let own = source::from_config(
                    &s.source,
                    &scratch,
                    &config.state_dir.join("sources").join(&s.name),
                );
                (
                    s.name.clone(),
                    Mutex::new(crate::site::with_peers(&config, &s.name, own, &scratch)),
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
            site,
            rollout,
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
        let highest = self.site_floor(&sync.name, highest);
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
            images: crate::images::policy_for(&self.config, &sync.name),
        })
    }

    fn event(&self, sync: &str, kind: crate::events::EventKind, message: &str) {
        let message = &ferry_bundle::text::bounded(message, crate::store::MAX_TEXT); // outside text
        crate::events::record(
            &self.store,
            &self.config,
            sync,
            kind,
            message,
            crate::store::now(),
        );
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
}
